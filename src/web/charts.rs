//! The overview's charts: inline SVG drawn on the server from the figures of
//! [`crate::metrics`] (no script, no external files, works offline).
//!
//! Draws only: every number comes from a [`Metrics`] computed by the metrics core, so the
//! charts show what `/stats` and `frontdesk report` print. Each chart carries its figures
//! as its accessible name (`aria-label`), read by screen readers and by the browser test.

use maud::{html, Markup};

use crate::domain::Priority;
use crate::metrics::render::{by_hour, human_secs, percent};
use crate::metrics::{Compliance, DurationStats, Metrics};
use crate::sla::SlaPolicy;

/// Width of a half-page chart's coordinate system (it scales to its panel).
const W: f64 = 520.0;
/// Width of a full-page chart.
const WIDE: f64 = 1040.0;

const BLUE: &str = "#2f6db5";
const LIGHT_BLUE: &str = "#9cc0e8";
const GREEN: &str = "#2e9e6a";
const LIGHT_GREEN: &str = "#7cc5a0";
const RED: &str = "#d64545";
const LIGHT_RED: &str = "#efa3a3";
const AMBER: &str = "#e89b2c";
const GREY: &str = "#9aa3ae";
const TRACK: &str = "#eef1f5";
const GRID: &str = "#e3e6ea";

/// One decimal: SVG coordinates.
fn n(x: f64) -> String {
    format!("{x:.1}")
}

/// A round top for a count axis and its step: at most five steps of 1, 2 or 5 × 10ᵏ.
fn count_axis(max: u64) -> (u64, u64) {
    let mut scale = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = scale.saturating_mul(m);
            if max.div_ceil(step) <= 5 {
                return (max.div_ceil(step).max(1) * step, step);
            }
        }
        scale = scale.saturating_mul(10);
    }
}

/// An SVG frame with its accessible name.
fn frame(id: &str, width: f64, height: f64, label: &str, body: Markup) -> Markup {
    html! {
        svg id=(id) class="chart" viewBox={"0 0 " (n(width)) " " (n(height))}
            preserveAspectRatio="xMinYMin meet" role="img" aria-label=(label) {
            (body)
        }
    }
}

/// Coloured squares with names, in a row starting at `(x, y)`.
fn legend(x: f64, y: f64, items: &[(&str, &str)]) -> Markup {
    let mut at = x;
    let mut placed = Vec::new();
    for (name, colour) in items {
        placed.push((at, *name, *colour));
        at += 26.0 + name.chars().count() as f64 * 6.6;
    }
    html! {
        @for (x, name, colour) in placed {
            rect x=(n(x)) y=(n(y - 9.0)) width="10" height="10" rx="2" fill=(colour) {}
            text.legend x=(n(x + 14.0)) y=(n(y)) { (name) }
        }
    }
}

/// Vertical grid lines and labels under a horizontal count axis.
fn count_grid(x0: f64, x1: f64, top: f64, bottom: f64, axis: (u64, u64)) -> Markup {
    let (max, step) = axis;
    let ticks: Vec<u64> = (0..=max / step).map(|i| i * step).collect();
    html! {
        @for t in ticks {
            @let x = x0 + (x1 - x0) * t as f64 / max as f64;
            line x1=(n(x)) x2=(n(x)) y1=(n(top)) y2=(n(bottom)) stroke=(GRID) {}
            text.tick x=(n(x)) y=(n(bottom + 14.0)) text-anchor="middle" { (t) }
        }
    }
}

/// A piece of a stacked bar: x, width, state, colour, count.
type Segment = (f64, f64, &'static str, &'static str, u64);

/// Backlog now: one stacked bar per priority, split by state.
pub fn backlog(m: &Metrics) -> Markup {
    let b = &m.backlog;
    let label = format!(
        "P1 {}, P2 {}, P3 {}, new {}, open {}, waiting {}",
        b.p1, b.p2, b.p3, b.new, b.open, b.waiting
    );
    let states = [
        ("new", BLUE),
        ("open", AMBER),
        ("waiting on customer", GREY),
    ];
    let (x0, x1) = (40.0, W - 50.0);
    let (top, row) = (28.0, 34.0);
    let bottom = top + row * 3.0;
    let axis = count_axis([b.p1, b.p2, b.p3].into_iter().max().unwrap_or(0));
    let scale = (x1 - x0) / axis.0 as f64;
    // Per priority: its segments and where the bar ends.
    let bars: Vec<(&str, u64, Vec<Segment>, f64)> = [("P1", b.p1), ("P2", b.p2), ("P3", b.p3)]
        .into_iter()
        .zip(b.by_priority_state)
        .map(|((priority, total), counts)| {
            let mut at = x0;
            let mut segments = Vec::new();
            for (count, (state, colour)) in counts.into_iter().zip(states) {
                let w = count as f64 * scale;
                if count > 0 {
                    segments.push((at, w, state, colour, count));
                }
                at += w;
            }
            (priority, total, segments, at)
        })
        .collect();
    let body = html! {
        (legend(x0, 12.0, &states))
        (count_grid(x0, x1, top - 4.0, bottom, axis))
        @for (i, (priority, total, segments, end)) in bars.iter().enumerate() {
            @let y = top + row * i as f64 + 6.0;
            text.label x="0" y=(n(y + 15.0)) { (priority) }
            @for (x, w, state, colour, count) in segments {
                rect.bar x=(n(*x)) y=(n(y)) width=(n(*w)) height="20" fill=(colour) {
                    title { (priority) " " (state) ": " (count) }
                }
            }
            text.value x=(n(end + 6.0)) y=(n(y + 15.0)) { (total) }
        }
        line x1=(n(x0)) x2=(n(x0)) y1=(n(top - 4.0)) y2=(n(bottom)) stroke="#999" {}
        text.axis x=(n((x0 + x1) / 2.0)) y=(n(bottom + 30.0)) text-anchor="middle" { "tickets" }
    };
    frame("backlog-chart", W, bottom + 36.0, &label, body)
}

/// Which of the two promises a response-time chart shows.
#[derive(Clone, Copy)]
pub enum Promise {
    FirstResponse,
    Resolution,
}

/// p50 and p90 of each priority against its SLA limit: bars on a common scale of "share of
/// the limit", the limit a dashed line at 100 %; absolute times beside the bars.
pub fn response_times(
    promise: Promise,
    by_priority: &[(Priority, Metrics)],
    sla: &SlaPolicy,
) -> Markup {
    let (id, one, noun) = match promise {
        Promise::FirstResponse => ("first-response-chart", "response", "responses"),
        Promise::Resolution => ("resolution-chart", "resolution", "resolutions"),
    };
    let rows: Vec<(Priority, DurationStats, f64)> = by_priority
        .iter()
        .map(|(p, m)| {
            let limits = sla.limits(*p);
            let (stats, limit) = match promise {
                Promise::FirstResponse => (m.first_response, limits.first_response),
                Promise::Resolution => (m.resolution, limits.resolution),
            };
            (*p, stats, limit.as_secs_f64().max(1.0))
        })
        .collect();
    let label = rows
        .iter()
        .map(|(p, d, limit)| {
            let t = |v: Option<i64>| v.map_or("–".into(), |s| human_secs(s as f64));
            format!(
                "{p} p50 {}, p90 {}, limit {} ({})",
                t(d.p50_secs),
                t(d.p90_secs),
                human_secs(*limit),
                d.count
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    // The scale: at least 150 % of the limit, more when a p90 is further past it (at most
    // 400 %: beyond, the bar ends in an arrow and its text says the time).
    let worst = rows
        .iter()
        .filter_map(|(_, d, limit)| d.p90_secs.map(|s| s as f64 / limit))
        .fold(1.5f64, f64::max);
    let max = if worst > 2.0 {
        worst.ceil().min(4.0)
    } else {
        (worst * 2.0).ceil() / 2.0
    };
    let (x0, x1) = (78.0, W - 132.0);
    let x = |share: f64| x0 + (x1 - x0) * share.min(max) / max;
    let (top, row) = (44.0, 50.0);
    let bottom = top + row * rows.len() as f64;
    // Ticks every 50 % up to 200 %, every 100 % beyond.
    let per_tick = if max > 2.0 { 1.0 } else { 0.5 };
    let ticks: Vec<f64> = (0..=(max / per_tick) as u32)
        .map(|i| f64::from(i) * per_tick)
        .collect();
    let body = html! {
        (legend(x0, 12.0, &[("p50", LIGHT_BLUE), ("p90", BLUE), ("past the limit", RED)]))
        @for t in &ticks {
            line x1=(n(x(*t))) x2=(n(x(*t))) y1=(n(top - 6.0)) y2=(n(bottom)) stroke=(GRID) {}
            text.tick x=(n(x(*t))) y=(n(bottom + 14.0)) text-anchor="middle" { (format!("{:.0}%", t * 100.0)) }
        }
        @for (i, (p, d, limit)) in rows.iter().enumerate() {
            @let y = top + row * i as f64 + 4.0;
            text.label x="0" y=(n(y + 14.0)) { (p) }
            text.small x="0" y=(n(y + 28.0)) { "limit " (human_secs(*limit)) }
            text.small x="0" y=(n(y + 41.0)) { (d.count) " " (if d.count == 1 { one } else { noun }) }
            @match (d.p50_secs, d.p90_secs) {
                (Some(p50), Some(p90)) => {
                    @let (s50, s90) = (p50 as f64 / limit, p90 as f64 / limit);
                    rect.bar x=(n(x0)) y=(n(y + 2.0)) width=(n((x(s50) - x0).max(2.0))) height="14"
                        fill=(if s50 > 1.0 { LIGHT_RED } else { LIGHT_BLUE }) {
                        title { (p) " p50 " (human_secs(p50 as f64)) }
                    }
                    rect.bar x=(n(x0)) y=(n(y + 20.0)) width=(n((x(s90) - x0).max(2.0))) height="14"
                        fill=(if s90 > 1.0 { RED } else { BLUE }) {
                        title { (p) " p90 " (human_secs(p90 as f64)) }
                    }
                    @if s90 > max {
                        path d={"M" (n(x1)) " " (n(y + 18.0)) " l7 9 l-7 9 z"} fill=(RED) {}
                    }
                    text.value x=(n(x1 + 12.0)) y=(n(y + 14.0)) { "p50 " (human_secs(p50 as f64)) }
                    text.value x=(n(x1 + 12.0)) y=(n(y + 31.0)) { "p90 " (human_secs(p90 as f64)) }
                }
                _ => {
                    rect x=(n(x0)) y=(n(y + 2.0)) width=(n(x1 - x0)) height="32" fill=(TRACK) {}
                    text.small x=(n(x0 + 8.0)) y=(n(y + 22.0)) { "no " (noun) " in this period" }
                }
            }
        }
        line x1=(n(x(1.0))) x2=(n(x(1.0))) y1=(n(top - 9.0)) y2=(n(bottom + 2.0))
            stroke=(RED) stroke-width="2" stroke-dasharray="5 4" {}
        text.sla x=(n(x(1.0))) y=(n(top - 13.0)) text-anchor="middle" { "SLA limit" }
        text.axis x=(n((x0 + x1) / 2.0)) y=(n(bottom + 30.0)) text-anchor="middle" { "share of the priority's SLA limit" }
    };
    frame(id, W, bottom + 36.0, &label, body)
}

/// One 100 % bar of kept (green) and broken (red) promises, or an empty track.
fn kept_bar(x0: f64, x1: f64, y: f64, c: &Compliance) -> Markup {
    let w = x1 - x0;
    html! {
        @match c.rate() {
            Some(rate) => {
                rect.bar x=(n(x0)) y=(n(y)) width=(n(w * rate)) height="20" fill=(GREEN) {}
                rect x=(n(x0 + w * rate)) y=(n(y)) width=(n(w * (1.0 - rate))) height="20" fill=(RED) {}
            }
            None => {
                rect x=(n(x0)) y=(n(y)) width=(n(w)) height="20" fill=(TRACK) {}
                text.small x=(n(x0 + 8.0)) y=(n(y + 14.0)) { "nothing due" }
            }
        }
    }
}

/// SLA compliance: kept and broken promises, first response, resolution and both.
pub fn sla(m: &Metrics) -> Markup {
    let both = Compliance {
        due: m.sla_first_response.due + m.sla_resolution.due,
        met: m.sla_first_response.met + m.sla_resolution.met,
    };
    let rows = [
        ("First response", m.sla_first_response),
        ("Resolution", m.sla_resolution),
        ("Both", both),
    ];
    let label = rows
        .iter()
        .map(|(name, c)| {
            format!(
                "{} {} ({}/{})",
                name.to_lowercase(),
                percent(c.rate()),
                c.met,
                c.due
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (x0, x1) = (110.0, W - 140.0);
    let (top, row) = (28.0, 34.0);
    let bottom = top + row * rows.len() as f64;
    let body = html! {
        (legend(x0, 12.0, &[("kept", GREEN), ("broken", RED)]))
        @for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            @let x = x0 + (x1 - x0) * t;
            line x1=(n(x)) x2=(n(x)) y1=(n(top - 4.0)) y2=(n(bottom)) stroke=(GRID) {}
            text.tick x=(n(x)) y=(n(bottom + 14.0)) text-anchor="middle" { (format!("{:.0}%", t * 100.0)) }
        }
        @for (i, (name, c)) in rows.iter().enumerate() {
            @let y = top + row * i as f64 + 6.0;
            text.label x="0" y=(n(y + 15.0)) { (name) }
            (kept_bar(x0, x1, y, c))
            text.value x=(n(x1 + 12.0)) y=(n(y + 15.0)) { (percent(c.rate())) }
            text.small x=(n(x1 + 52.0)) y=(n(y + 15.0)) { (c.met) "/" (c.due) }
        }
    };
    frame("sla-chart", W, bottom + 22.0, &label, body)
}

/// CSAT: how many ratings gave each score, 1 to 5.
pub fn csat(m: &Metrics) -> Markup {
    let scores = m.csat.by_score;
    let label = scores
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} {c}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let colours = [RED, "#ec8a4f", "#e8c23a", LIGHT_GREEN, GREEN];
    let (x0, x1) = (40.0, W - 10.0);
    let (top, bottom) = (16.0, 150.0);
    let axis = count_axis(scores.iter().copied().max().unwrap_or(0));
    let slot = (x1 - x0) / 5.0;
    let (max, step) = axis;
    let body = html! {
        @for t in (0..=max / step).map(|i| i * step) {
            @let y = bottom - (bottom - top) * t as f64 / max as f64;
            line x1=(n(x0)) x2=(n(x1)) y1=(n(y)) y2=(n(y)) stroke=(GRID) {}
            text.tick x=(n(x0 - 8.0)) y=(n(y + 4.0)) text-anchor="end" { (t) }
        }
        @for (i, (count, colour)) in scores.iter().zip(colours).enumerate() {
            @let h = (bottom - top) * *count as f64 / max as f64;
            @let x = x0 + slot * i as f64 + slot * 0.2;
            @if *count > 0 {
                rect.bar x=(n(x)) y=(n(bottom - h)) width=(n(slot * 0.6)) height=(n(h)) rx="2" fill=(colour) {
                    title { "rated " (i + 1) ": " (count) }
                }
            }
            text.value x=(n(x + slot * 0.3)) y=(n(bottom - h - 5.0)) text-anchor="middle" { (count) }
            text.label x=(n(x + slot * 0.3)) y=(n(bottom + 18.0)) text-anchor="middle" { (i + 1) " ★" }
        }
        line x1=(n(x0)) x2=(n(x1)) y1=(n(bottom)) y2=(n(bottom)) stroke="#999" {}
    };
    frame("csat-chart", W, bottom + 26.0, &label, body)
}

/// Rates of the resolved tickets and of the bot: reopened, first-contact resolution,
/// deflection, each a share of its own population.
pub fn rates(m: &Metrics) -> Markup {
    let deflection = m.deflection.unwrap_or_default();
    let rows = [
        ("Reopen rate", "reopened", m.reopened, m.resolved, AMBER),
        (
            "First-contact res.",
            "first-contact",
            m.first_contact,
            m.resolved,
            BLUE,
        ),
        (
            "Bot deflection",
            "deflection",
            deflection.deflected,
            deflection.answered,
            GREEN,
        ),
    ];
    let label = rows
        .iter()
        .map(|(_, key, part, whole, _)| {
            let rate = (*whole > 0).then(|| *part as f64 / *whole as f64);
            format!("{key} {} ({part}/{whole})", percent(rate))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (x0, x1) = (130.0, W - 140.0);
    let (top, row) = (10.0, 34.0);
    let bottom = top + row * rows.len() as f64;
    let body = html! {
        @for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            @let x = x0 + (x1 - x0) * t;
            line x1=(n(x)) x2=(n(x)) y1=(n(top)) y2=(n(bottom)) stroke=(GRID) {}
            text.tick x=(n(x)) y=(n(bottom + 14.0)) text-anchor="middle" { (format!("{:.0}%", t * 100.0)) }
        }
        @for (i, (name, _, part, whole, colour)) in rows.iter().enumerate() {
            @let y = top + row * i as f64 + 6.0;
            @let rate = (*whole > 0).then(|| *part as f64 / *whole as f64);
            text.label x="0" y=(n(y + 15.0)) { (name) }
            rect x=(n(x0)) y=(n(y)) width=(n(x1 - x0)) height="20" fill=(TRACK) {}
            @if let Some(r) = rate {
                rect.bar x=(n(x0)) y=(n(y)) width=(n((x1 - x0) * r)) height="20" fill=(colour) {}
            }
            text.value x=(n(x1 + 12.0)) y=(n(y + 15.0)) { (percent(rate)) }
            text.small x=(n(x1 + 52.0)) y=(n(y + 15.0)) { (part) "/" (whole) }
        }
    };
    frame("rates-chart", W, bottom + 22.0, &label, body)
}

/// Tickets created and FAQ answers shown by hour of the day (UTC), stacked.
pub fn by_hour_of_day(m: &Metrics) -> Markup {
    let label = format!(
        "tickets created: {}; FAQ answers: {}",
        by_hour(&m.created_by_hour),
        by_hour(&m.answers_by_hour)
    );
    let totals: Vec<u64> = m
        .created_by_hour
        .iter()
        .zip(m.answers_by_hour)
        .map(|(t, a)| t + a)
        .collect();
    let axis = count_axis(totals.iter().copied().max().unwrap_or(0));
    let (max, step) = axis;
    let (x0, x1) = (44.0, WIDE - 10.0);
    let (top, bottom) = (30.0, 170.0);
    let slot = (x1 - x0) / 24.0;
    let y = |v: u64| bottom - (bottom - top) * v as f64 / max as f64;
    let created = format!(
        "tickets created ({})",
        m.created_by_hour.iter().sum::<u64>()
    );
    let answers = format!("FAQ answers ({})", m.answers_by_hour.iter().sum::<u64>());
    let body = html! {
        (legend(x0, 12.0, &[(created.as_str(), BLUE), (answers.as_str(), LIGHT_GREEN)]))
        @for t in (0..=max / step).map(|i| i * step) {
            line x1=(n(x0)) x2=(n(x1)) y1=(n(y(t))) y2=(n(y(t))) stroke=(GRID) {}
            text.tick x=(n(x0 - 8.0)) y=(n(y(t) + 4.0)) text-anchor="end" { (t) }
        }
        @for (hour, (tickets, faq)) in m.created_by_hour.iter().zip(m.answers_by_hour).enumerate() {
            @let x = x0 + slot * hour as f64 + slot * 0.15;
            @let w = slot * 0.7;
            @if *tickets > 0 {
                rect.bar x=(n(x)) y=(n(y(*tickets))) width=(n(w)) height=(n(bottom - y(*tickets))) fill=(BLUE) {
                    title { (format!("{hour:02}:00–{hour:02}:59 UTC")) ": " (tickets) " tickets created" }
                }
            }
            @if faq > 0 {
                rect.bar x=(n(x)) y=(n(y(tickets + faq))) width=(n(w)) height=(n(y(*tickets) - y(tickets + faq))) fill=(LIGHT_GREEN) {
                    title { (format!("{hour:02}:00–{hour:02}:59 UTC")) ": " (faq) " FAQ answers" }
                }
            }
            @if tickets + faq > 0 {
                text.value x=(n(x + w / 2.0)) y=(n(y(tickets + faq) - 4.0)) text-anchor="middle" { (tickets + faq) }
            }
            text.tick x=(n(x + w / 2.0)) y=(n(bottom + 14.0)) text-anchor="middle" { (format!("{hour:02}")) }
        }
        line x1=(n(x0)) x2=(n(x1)) y1=(n(bottom)) y2=(n(bottom)) stroke="#999" {}
        text.axis x=(n((x0 + x1) / 2.0)) y=(n(bottom + 32.0)) text-anchor="middle" { "hour of the day (UTC)" }
    };
    frame("hour-chart", WIDE, bottom + 38.0, &label, body)
}

/// Tickets created (and FAQ answers) by the customers' platform.
pub fn by_platform(groups: &[(String, Metrics)]) -> Markup {
    let label = groups
        .iter()
        .map(|(name, g)| format!("{name} {}", g.created))
        .collect::<Vec<_>>()
        .join(", ");
    let answers = |g: &Metrics| g.deflection.map_or(0, |d| d.answered);
    let axis = count_axis(
        groups
            .iter()
            .map(|(_, g)| g.created.max(answers(g)))
            .max()
            .unwrap_or(0),
    );
    let (x0, x1) = (80.0, W - 50.0);
    let (top, row) = (28.0, 40.0);
    let bottom = top + row * groups.len().max(1) as f64;
    let scale = (x1 - x0) / axis.0 as f64;
    let body = html! {
        (legend(x0, 12.0, &[("tickets created", BLUE), ("FAQ answers", LIGHT_GREEN)]))
        (count_grid(x0, x1, top - 4.0, bottom, axis))
        @if groups.is_empty() {
            text.small x=(n(x0 + 8.0)) y=(n(top + 22.0)) { "no tickets or FAQ answers in this period" }
        }
        @for (i, (name, g)) in groups.iter().enumerate() {
            @let y = top + row * i as f64 + 4.0;
            text.label x="0" y=(n(y + 20.0)) { (name) }
            rect.bar x=(n(x0)) y=(n(y)) width=(n(g.created as f64 * scale)) height="16" fill=(BLUE) {
                title { (name) ": " (g.created) " tickets created" }
            }
            text.value x=(n(x0 + g.created as f64 * scale + 6.0)) y=(n(y + 13.0)) { (g.created) }
            rect x=(n(x0)) y=(n(y + 18.0)) width=(n(answers(g) as f64 * scale)) height="10" fill=(LIGHT_GREEN) {
                title { (name) ": " (answers(g)) " FAQ answers" }
            }
            text.small x=(n(x0 + answers(g) as f64 * scale + 6.0)) y=(n(y + 27.0)) { (answers(g)) }
        }
        line x1=(n(x0)) x2=(n(x0)) y1=(n(top - 4.0)) y2=(n(bottom)) stroke="#999" {}
    };
    frame("platform-chart", W, bottom + 22.0, &label, body)
}

/// A rate's colour: green from `good` up, amber from `fair`, red below (grey without data).
pub fn health(rate: Option<f64>, good: f64, fair: f64) -> &'static str {
    match rate {
        Some(r) if r >= good => GREEN,
        Some(r) if r >= fair => AMBER,
        Some(_) => RED,
        None => GREY,
    }
}

/// A small ring for a headline card: `rate` of the circle in `colour`. Decoration only:
/// the card's text says the figure.
pub fn ring(rate: Option<f64>, colour: &str) -> Markup {
    let r = 18.0;
    let circumference = 2.0 * std::f64::consts::PI * r;
    let filled = rate.unwrap_or(0.0).clamp(0.0, 1.0) * circumference;
    html! {
        svg.ring viewBox="0 0 48 48" width="34" height="34" aria-hidden="true" {
            circle cx="24" cy="24" r=(n(r)) fill="none" stroke=(TRACK) stroke-width="7" {}
            @if rate.is_some() {
                circle cx="24" cy="24" r=(n(r)) fill="none" stroke=(colour) stroke-width="7"
                    stroke-dasharray={(n(filled)) " " (n(circumference))}
                    transform="rotate(-90 24 24)" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_axes_end_on_round_steps() {
        assert_eq!(count_axis(0), (1, 1));
        assert_eq!(count_axis(1), (1, 1));
        assert_eq!(count_axis(4), (4, 1));
        assert_eq!(count_axis(7), (8, 2));
        assert_eq!(count_axis(23), (25, 5));
        assert_eq!(count_axis(480), (500, 100));
        assert_eq!(count_axis(100_000), (100_000, 20_000));
    }

    #[test]
    fn response_times_mark_the_limit_and_name_the_figures() {
        let sla = SlaPolicy::default();
        let slice = |p50: i64, p90: i64| Metrics {
            first_response: DurationStats {
                count: 3,
                avg_secs: Some(p50 as f64),
                p50_secs: Some(p50),
                p90_secs: Some(p90),
            },
            ..Metrics::default()
        };
        let chart = response_times(
            Promise::FirstResponse,
            &[
                (Priority::P1, slice(300, 900)),
                (Priority::P2, slice(60, 120)),
                (Priority::P3, Metrics::default()),
            ],
            &sla,
        )
        .into_string();
        assert!(chart.contains(
            "aria-label=\"P1 p50 5 min, p90 15 min, limit 10 min (3); \
             P2 p50 1 min, p90 2 min, limit 30 min (3); \
             P3 p50 –, p90 –, limit 2 h (0)\""
        ));
        assert!(chart.contains("SLA limit") && chart.contains("stroke-dasharray"));
        // P1's p90 is past its limit: drawn red.
        assert!(chart.contains(&format!("fill=\"{RED}\"")));
        assert!(chart.contains("no responses in this period"));
    }
}
