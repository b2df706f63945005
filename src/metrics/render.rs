//! Metrics as people and tools read them: the desk's `/stats` text, the report's table,
//! and flat rows with stable field names for CSV and JSON.
//!
//! Pure formatting of a [`Report`]; computes nothing new, so `/stats` and `frontdesk
//! report` show the same numbers for the same period.

use serde::Serialize;

use super::{DurationStats, FaqRow, Metrics, Report};

/// Minutes with one decimal, as CSV and JSON carry durations.
fn minutes(secs: f64) -> f64 {
    (secs / 6.0).round() / 10.0
}

/// Rates as fractions with four decimals (0.9231).
fn fraction(rate: Option<f64>) -> Option<f64> {
    rate.map(|r| (r * 10_000.0).round() / 10_000.0)
}

/// `42 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn human_secs(secs: f64) -> String {
    let s = secs.round() as i64;
    if s < 60 {
        return format!("{s} s");
    }
    let m = s / 60;
    if m < 60 {
        return format!("{m} min");
    }
    let (h, m) = (m / 60, m % 60);
    if h < 48 {
        return if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        };
    }
    let (d, h) = (h / 24, h % 24);
    if h == 0 {
        format!("{d} d")
    } else {
        format!("{d} d {h} h")
    }
}

pub fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.0}%", r * 100.0),
        None => "–".into(),
    }
}

pub fn durations(d: &DurationStats) -> String {
    match (d.avg_secs, d.p50_secs, d.p90_secs) {
        (Some(avg), Some(p50), Some(p90)) => format!(
            "avg {} · p50 {} · p90 {} ({})",
            human_secs(avg),
            human_secs(p50 as f64),
            human_secs(p90 as f64),
            d.count
        ),
        _ => "none".into(),
    }
}

/// The desk's `/stats` answer: a few short lines.
pub fn stats_text(report: &Report) -> String {
    let m = &report.total;
    let w = &report.window;
    let b = &m.backlog;
    let mut out = format!(
        "Stats, {} (since {}):\n",
        w.period.describe(),
        w.since.format("%Y-%m-%d %H:%M UTC")
    );
    out.push_str(&format!(
        "Tickets: {} created · backlog {} (P1 {} · P2 {} · P3 {})\n",
        m.created, b.total, b.p1, b.p2, b.p3
    ));
    out.push_str(&format!(
        "First response: {}\n",
        durations(&m.first_response)
    ));
    out.push_str(&format!("Resolution: {}\n", durations(&m.resolution)));
    out.push_str(&format!(
        "SLA met: first response {} ({}/{}) · resolution {} ({}/{})\n",
        percent(m.sla_first_response.rate()),
        m.sla_first_response.met,
        m.sla_first_response.due,
        percent(m.sla_resolution.rate()),
        m.sla_resolution.met,
        m.sla_resolution.due
    ));
    out.push_str(&format!(
        "Reopened {} ({}/{}) · first-contact resolution {} ({}/{})\n",
        percent(m.reopen_rate()),
        m.reopened,
        m.resolved,
        percent(m.first_contact_rate()),
        m.first_contact,
        m.resolved
    ));
    let csat = match m.csat.average() {
        Some(avg) => format!(
            "CSAT {avg:.1}/5 · {} rated 4–5 ({} ratings)",
            percent(m.csat.satisfied_rate()),
            m.csat.count
        ),
        None => "CSAT: no ratings".into(),
    };
    out.push_str(&csat);
    if let Some(d) = &m.deflection {
        out.push_str(&format!(
            "\nBot: {} FAQ answers · deflection {} ({}/{})",
            d.answered,
            percent(d.rate()),
            d.deflected,
            d.answered
        ));
    }
    out
}

/// One report line with stable field names: the CSV header and the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// `all` for the whole desk, else `department`, `agent` or `platform`.
    pub group_by: String,
    pub group: String,
    pub since: String,
    pub until: String,
    pub tickets_created: u64,
    pub first_response_count: u64,
    pub first_response_avg_min: Option<f64>,
    pub first_response_p50_min: Option<f64>,
    pub first_response_p90_min: Option<f64>,
    pub resolved: u64,
    pub resolution_avg_min: Option<f64>,
    pub resolution_p50_min: Option<f64>,
    pub resolution_p90_min: Option<f64>,
    pub sla_first_response_due: u64,
    pub sla_first_response_met: u64,
    pub sla_first_response_rate: Option<f64>,
    pub sla_resolution_due: u64,
    pub sla_resolution_met: u64,
    pub sla_resolution_rate: Option<f64>,
    pub reopened: u64,
    pub reopen_rate: Option<f64>,
    pub first_contact_resolved: u64,
    pub first_contact_rate: Option<f64>,
    pub csat_count: u64,
    pub csat_avg: Option<f64>,
    pub csat_satisfied_rate: Option<f64>,
    pub backlog: u64,
    pub backlog_p1: u64,
    pub backlog_p2: u64,
    pub backlog_p3: u64,
    pub backlog_new: u64,
    pub backlog_open: u64,
    pub backlog_waiting: u64,
    pub faq_answers: Option<u64>,
    pub faq_deflected: Option<u64>,
    pub deflection_rate: Option<f64>,
}

impl ReportRow {
    fn of(report: &Report, group_by: &str, group: &str, m: &Metrics) -> ReportRow {
        let min = |v: Option<f64>| v.map(minutes);
        let min_i = |v: Option<i64>| v.map(|s| minutes(s as f64));
        let stamp = |t: crate::domain::Timestamp| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        ReportRow {
            group_by: group_by.into(),
            group: group.into(),
            since: stamp(report.window.since),
            until: stamp(report.window.now),
            tickets_created: m.created,
            first_response_count: m.first_response.count,
            first_response_avg_min: min(m.first_response.avg_secs),
            first_response_p50_min: min_i(m.first_response.p50_secs),
            first_response_p90_min: min_i(m.first_response.p90_secs),
            resolved: m.resolved,
            resolution_avg_min: min(m.resolution.avg_secs),
            resolution_p50_min: min_i(m.resolution.p50_secs),
            resolution_p90_min: min_i(m.resolution.p90_secs),
            sla_first_response_due: m.sla_first_response.due,
            sla_first_response_met: m.sla_first_response.met,
            sla_first_response_rate: fraction(m.sla_first_response.rate()),
            sla_resolution_due: m.sla_resolution.due,
            sla_resolution_met: m.sla_resolution.met,
            sla_resolution_rate: fraction(m.sla_resolution.rate()),
            reopened: m.reopened,
            reopen_rate: fraction(m.reopen_rate()),
            first_contact_resolved: m.first_contact,
            first_contact_rate: fraction(m.first_contact_rate()),
            csat_count: m.csat.count,
            csat_avg: m.csat.average().map(|a| (a * 100.0).round() / 100.0),
            csat_satisfied_rate: fraction(m.csat.satisfied_rate()),
            backlog: m.backlog.total,
            backlog_p1: m.backlog.p1,
            backlog_p2: m.backlog.p2,
            backlog_p3: m.backlog.p3,
            backlog_new: m.backlog.new,
            backlog_open: m.backlog.open,
            backlog_waiting: m.backlog.waiting,
            faq_answers: m.deflection.map(|d| d.answered),
            faq_deflected: m.deflection.map(|d| d.deflected),
            deflection_rate: fraction(m.deflection.and_then(|d| d.rate())),
        }
    }
}

/// The whole desk first, then one row per group.
pub fn rows(report: &Report) -> Vec<ReportRow> {
    let mut out = vec![ReportRow::of(report, "all", "all", &report.total)];
    if let Some(by) = report.by {
        for (name, m) in &report.groups {
            out.push(ReportRow::of(report, by.as_str(), name, m));
        }
    }
    out
}

/// One FAQ entry with stable field names (`report --faq`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqReportRow {
    pub entry_id: String,
    pub shown: u64,
    pub helped: u64,
    pub escalated: u64,
    pub helped_rate: Option<f64>,
    pub escalated_rate: Option<f64>,
}

pub fn faq_rows(report: &Report) -> Vec<FaqReportRow> {
    report
        .faq
        .iter()
        .map(|r: &FaqRow| FaqReportRow {
            entry_id: r.entry_id.clone(),
            shown: r.shown,
            helped: r.helped,
            escalated: r.escalated,
            helped_rate: fraction(r.helped_rate()),
            escalated_rate: fraction(r.escalated_rate()),
        })
        .collect()
}

/// The header of `report --csv`: the field names of [`ReportRow`], in order.
pub const CSV_HEADER: &str = "group_by,group,since,until,tickets_created,first_response_count,\
first_response_avg_min,first_response_p50_min,first_response_p90_min,resolved,\
resolution_avg_min,resolution_p50_min,resolution_p90_min,sla_first_response_due,\
sla_first_response_met,sla_first_response_rate,sla_resolution_due,sla_resolution_met,\
sla_resolution_rate,reopened,reopen_rate,first_contact_resolved,first_contact_rate,csat_count,\
csat_avg,csat_satisfied_rate,backlog,backlog_p1,backlog_p2,backlog_p3,backlog_new,backlog_open,\
backlog_waiting,faq_answers,faq_deflected,deflection_rate";

/// The header of `report --faq --csv`: the field names of [`FaqReportRow`].
pub const FAQ_CSV_HEADER: &str = "entry_id,shown,helped,escalated,helped_rate,escalated_rate";

/// CSV text: `header`, then one line per row (an empty cell for a missing value). The header
/// is written even without rows, so tools always see the same columns.
pub fn csv<T: Serialize>(header: &str, rows: &[T]) -> Result<String, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(header.split(','))?;
    for row in rows {
        writer.serialize(row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Left-aligned first column, right-aligned numbers.
fn table(header: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in body {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}

/// `1–5: 0 · 0 · 1 · 2 · 5` — how many ratings gave each score.
pub fn csat_scores(m: &Metrics) -> String {
    let counts: Vec<String> = m.csat.by_score.iter().map(u64::to_string).collect();
    format!("CSAT scores 1–5: {}", counts.join(" · "))
}

/// `09h 3 · 14h 1` — the hours of the day (UTC) with a non-zero count; `none` without any.
pub fn by_hour(counts: &[u64; 24]) -> String {
    let hours: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(h, n)| format!("{h:02}h {n}"))
        .collect();
    if hours.is_empty() {
        "none".into()
    } else {
        hours.join(" · ")
    }
}

/// The report for people: the `/stats` summary, the CSAT scores and the volume by hour, the
/// groups as a table, the FAQ entries.
pub fn human(report: &Report) -> String {
    let mut out = stats_text(report);
    let m = &report.total;
    out.push_str(&format!(
        "\n{}\nCreated by hour (UTC): {}\nFAQ answers by hour (UTC): {}",
        csat_scores(m),
        by_hour(&m.created_by_hour),
        by_hour(&m.answers_by_hour)
    ));
    if let Some(by) = report.by {
        let header = [
            by.as_str(),
            "created",
            "1st resp p50",
            "1st resp p90",
            "resolved",
            "resol. p50",
            "resol. p90",
            "SLA 1st",
            "SLA resol.",
            "reopen",
            "FCR",
            "CSAT",
            "backlog",
        ];
        let body: Vec<Vec<String>> = report
            .groups
            .iter()
            .map(|(name, m)| {
                let dur = |v: Option<f64>| v.map(human_secs).unwrap_or_else(|| "–".into());
                vec![
                    name.clone(),
                    m.created.to_string(),
                    dur(m.first_response.p50_secs.map(|s| s as f64)),
                    dur(m.first_response.p90_secs.map(|s| s as f64)),
                    m.resolved.to_string(),
                    dur(m.resolution.p50_secs.map(|s| s as f64)),
                    dur(m.resolution.p90_secs.map(|s| s as f64)),
                    percent(m.sla_first_response.rate()),
                    percent(m.sla_resolution.rate()),
                    percent(m.reopen_rate()),
                    percent(m.first_contact_rate()),
                    m.csat
                        .average()
                        .map(|a| format!("{a:.1}"))
                        .unwrap_or_else(|| "–".into()),
                    m.backlog.total.to_string(),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&table(&header, &body));
    }
    if !report.faq.is_empty() {
        let body: Vec<Vec<String>> = report
            .faq
            .iter()
            .map(|r| {
                vec![
                    r.entry_id.clone(),
                    r.shown.to_string(),
                    r.helped.to_string(),
                    r.escalated.to_string(),
                    percent(r.helped_rate()),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&table(
            &["FAQ entry", "shown", "helped", "escalated", "helped %"],
            &body,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_secs(42.0), "42 s");
        assert_eq!(human_secs(12.0 * 60.0 + 20.0), "12 min");
        assert_eq!(human_secs(3.0 * 3600.0 + 300.0), "3 h 5 min");
        assert_eq!(human_secs(2.0 * 3600.0), "2 h");
        assert_eq!(human_secs(52.0 * 3600.0), "2 d 4 h");
        assert_eq!(minutes(90.0), 1.5);
        assert_eq!(fraction(Some(12.0 / 13.0)), Some(0.9231));
    }

    /// The fixed headers are exactly the rows' field names (serde would write them so).
    #[test]
    fn csv_headers_are_the_field_names() {
        use crate::metrics::{compute, FaqRow, Period};
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut report = compute(&[], &[], &Period::Days(1).window(now), None);
        report.faq.push(FaqRow {
            entry_id: "a".into(),
            shown: 2,
            helped: 1,
            escalated: 0,
        });
        let derived = |rows: String| rows.lines().next().unwrap_or_default().to_string();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&rows(&report)[0]).unwrap();
        assert_eq!(
            derived(String::from_utf8(w.into_inner().unwrap()).unwrap()),
            CSV_HEADER
        );
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&faq_rows(&report)[0]).unwrap();
        assert_eq!(
            derived(String::from_utf8(w.into_inner().unwrap()).unwrap()),
            FAQ_CSV_HEADER
        );
        let text = csv(CSV_HEADER, &rows(&report)).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("all,all,2023-11-13T22:13:20Z,"));
        assert_eq!(
            csv(FAQ_CSV_HEADER, &Vec::<FaqReportRow>::new())
                .unwrap()
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn tables_align_numbers_right() {
        let t = table(
            &["agent", "n"],
            &[
                vec!["ana".into(), "7".into()],
                vec!["bo".into(), "12".into()],
            ],
        );
        assert_eq!(t, "agent   n\nana     7\nbo     12");
    }
}
