//! Service metrics (SPEC §6): from compact ticket facts and FAQ tallies to the figures of `/stats`,
//! `frontdesk report` and the threshold alerts.
//!
//! Pure: the facts and `now` are passed in; no I/O, no clock reads, no SQL (the store
//! gathers the facts, `metrics_worker` schedules the alerts). Every figure is defined once
//! here, so the desk, the CLI and the alerts can never disagree.
//!
//! Which tickets count for a period `[since, now]` (each fact belongs to one moment, so
//! groupings always add up to the total):
//! - **created**: tickets created in the period.
//! - **first response time**: tickets whose first agent response (claim, reply, question or
//!   solution) happened in the period; time from creation.
//! - **resolution time, reopen rate, first-contact resolution**: tickets resolved in the
//!   period (their latest solution); resolution time from creation.
//! - **SLA compliance**: a ticket's first-response (resolution) promise is *settled* when it
//!   is kept (answered / resolved by the deadline) or when the deadline passes; tickets
//!   settled in the period are *due*, those kept are *met*. A ticket closed without a
//!   response (solution) counts its closing as the response (resolution).
//! - **reopened**: resolved tickets that had been reopened at least once (resolved or closed
//!   → open: "Not solved", `/reopen`).
//! - **first-contact resolution**: resolved, never reopened, and at most one agent message
//!   to the customer before the solution (a reply, question or quoted FAQ answer).
//! - **CSAT**: ratings given in the period: average, count, share of 4–5.
//! - **bot deflection**: FAQ answers shown in the period after which the same customer
//!   opened no ticket within 24 h (provisional for answers younger than 24 h).
//! - **per-FAQ helped rate**: shown / "helped" / "talk to a person" presses in the period.
//! - **backlog**: a snapshot at `now` of the tickets agents must act on (new, open,
//!   waiting on the customer), by priority and state.
//! - **volume by hour**: tickets created and FAQ answers shown in the period, by hour of
//!   the day (UTC, 0–23), summed over the period's days.
//! - **by priority** (`--by priority`): each slice holds its tickets' figures, so the first
//!   response and resolution times of one priority can be read against its SLA limits.
//!
//! Percentiles use the nearest-rank method (p90 of 10 values is the 9th smallest).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::domain::{Platform, Priority, TicketNo, TicketState, Timestamp};
use crate::store::FaqFeedback;

pub mod alerts;
pub mod render;

pub use alerts::{AlertChange, AlertCheck, AlertSettings};

/// How long after an FAQ answer a ticket of the same customer means the bot did not help.
pub const DEFLECTION_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// What the store keeps about one ticket that metrics need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFact {
    pub no: TicketNo,
    /// The customer's platform.
    pub platform: Platform,
    pub department: String,
    pub assignee: Option<String>,
    pub priority: Priority,
    pub state: TicketState,
    pub created_at: Timestamp,
    pub first_response_due: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub resolution_due: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub reopens: u32,
    pub agent_replies: u32,
    /// The customer's rating (1–5) and when it was given.
    pub rating: Option<(u8, Timestamp)>,
}

/// FAQ interactions of a period with one entry, customer platform, kind and hour of the
/// day: the store keeps them counted per hour (a year of a large desk is millions of
/// interactions), so a report reads a few hundred tallies instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqTally {
    pub entry_id: String,
    pub platform: Platform,
    pub kind: FaqFeedback,
    /// 0–23, UTC.
    pub hour: u8,
    pub count: u64,
    /// Of the answers (`Shown`): how many the same customer followed with a ticket within
    /// [`DEFLECTION_WINDOW`]; 0 for the other kinds.
    pub followed: u64,
}

/// A reporting period as people write it: `today`, `7d`, `30d`, `12h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Since midnight UTC.
    Today,
    Days(u32),
    Hours(u32),
}

/// A period that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown period `{0}` (expected today, Nd or Nh, e.g. 7d, 30d, 12h)")]
pub struct PeriodError(pub String);

/// The longest period accepted (ten years): keeps date arithmetic in range.
const MAX_DAYS: u32 = 3660;

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().to_ascii_lowercase();
        let bad = || PeriodError(s.to_string());
        if text == "today" {
            return Ok(Period::Today);
        }
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        let n: u32 = number.parse().map_err(|_| bad())?;
        match unit {
            "d" if (1..=MAX_DAYS).contains(&n) => Ok(Period::Days(n)),
            "h" if (1..=MAX_DAYS * 24).contains(&n) => Ok(Period::Hours(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Today => f.write_str("today"),
            Period::Days(n) => write!(f, "{n}d"),
            Period::Hours(n) => write!(f, "{n}h"),
        }
    }
}

impl Period {
    /// The window this period covers, ending at `now`.
    pub fn window(self, now: Timestamp) -> Window {
        let since = match self {
            Period::Today => now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|midnight| midnight.and_utc())
                .unwrap_or(now),
            Period::Days(n) => now - chrono::Duration::days(i64::from(n)),
            Period::Hours(n) => now - chrono::Duration::hours(i64::from(n)),
        };
        Window {
            period: self,
            since,
            now,
        }
    }

    /// How people read it: `today`, `last 7 days`, `last 12 hours`.
    pub fn describe(self) -> String {
        match self {
            Period::Today => "today".into(),
            Period::Days(1) => "last 24 hours".into(),
            Period::Days(n) => format!("last {n} days"),
            Period::Hours(1) => "last hour".into(),
            Period::Hours(n) => format!("last {n} hours"),
        }
    }
}

/// `[since, now]`, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub period: Period,
    pub since: Timestamp,
    pub now: Timestamp,
}

impl Window {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.since <= t && t <= self.now
    }
}

/// How a report is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Department,
    Agent,
    Platform,
    Priority,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Department => "department",
            GroupBy::Agent => "agent",
            GroupBy::Platform => "platform",
            GroupBy::Priority => "priority",
        }
    }

    /// The group of a ticket; unassigned tickets form the group `unassigned`.
    fn ticket_key(self, t: &TicketFact) -> &str {
        match self {
            GroupBy::Department => &t.department,
            GroupBy::Agent => t.assignee.as_deref().unwrap_or("unassigned"),
            GroupBy::Platform => t.platform.as_str(),
            GroupBy::Priority => t.priority.as_str(),
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "department" => Ok(GroupBy::Department),
            "agent" => Ok(GroupBy::Agent),
            "platform" => Ok(GroupBy::Platform),
            "priority" => Ok(GroupBy::Priority),
            other => Err(format!(
                "unknown grouping `{other}` (expected department, agent, platform or priority)"
            )),
        }
    }
}

/// Count, average and percentiles of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DurationStats {
    pub count: u64,
    pub avg_secs: Option<f64>,
    pub p50_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

impl DurationStats {
    /// From durations in seconds (any order).
    pub fn of(mut samples: Vec<i64>) -> DurationStats {
        if samples.is_empty() {
            return DurationStats::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let sum: i128 = samples.iter().map(|&s| i128::from(s)).sum();
        let rank = |p: usize| samples[(n * p).div_ceil(100).clamp(1, n) - 1];
        DurationStats {
            count: n as u64,
            avg_secs: Some(sum as f64 / n as f64),
            p50_secs: Some(rank(50)),
            p90_secs: Some(rank(90)),
        }
    }
}

/// Kept promises out of settled ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compliance {
    pub due: u64,
    pub met: u64,
}

impl Compliance {
    pub fn rate(&self) -> Option<f64> {
        ratio(self.met, self.due)
    }
}

/// Tickets agents must act on, at `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    pub total: u64,
    pub p1: u64,
    pub p2: u64,
    pub p3: u64,
    pub new: u64,
    pub open: u64,
    pub waiting: u64,
    /// The same tickets crossed: `[priority P1..P3][state new, open, waiting]`.
    pub by_priority_state: [[u64; 3]; 3],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Csat {
    pub count: u64,
    /// Sum of the scores (average = sum / count).
    pub sum: u64,
    /// Ratings of 4 or 5.
    pub satisfied: u64,
    /// How many ratings gave each score: `[ones, twos, threes, fours, fives]`.
    pub by_score: [u64; 5],
}

impl Csat {
    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }
    pub fn satisfied_rate(&self) -> Option<f64> {
        ratio(self.satisfied, self.count)
    }
}

/// FAQ answers and those not followed by a ticket within 24 h.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Deflection {
    pub answered: u64,
    pub deflected: u64,
}

impl Deflection {
    pub fn rate(&self) -> Option<f64> {
        ratio(self.deflected, self.answered)
    }
}

/// Every figure for one slice (the whole desk, a department, an agent, a platform).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub created: u64,
    pub first_response: DurationStats,
    pub resolution: DurationStats,
    /// Tickets resolved in the period (the population of the next three).
    pub resolved: u64,
    pub reopened: u64,
    pub first_contact: u64,
    pub sla_first_response: Compliance,
    pub sla_resolution: Compliance,
    pub csat: Csat,
    pub backlog: Backlog,
    /// FAQ answers belong to customers, not to departments or agents: only the whole desk
    /// and platform slices have them.
    pub deflection: Option<Deflection>,
    /// Tickets created in the period by hour of the day (UTC).
    pub created_by_hour: [u64; 24],
    /// FAQ answers shown in the period by hour of the day (UTC); like `deflection`, only
    /// the whole desk and platform slices count them.
    pub answers_by_hour: [u64; 24],
}

impl Metrics {
    pub fn reopen_rate(&self) -> Option<f64> {
        ratio(self.reopened, self.resolved)
    }
    pub fn first_contact_rate(&self) -> Option<f64> {
        ratio(self.first_contact, self.resolved)
    }
    /// Both promises together: kept ones out of all settled ones.
    pub fn sla_compliance(&self) -> Option<f64> {
        ratio(
            self.sla_first_response.met + self.sla_resolution.met,
            self.sla_first_response.due + self.sla_resolution.due,
        )
    }
}

/// One FAQ entry's interactions in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FaqRow {
    pub entry_id: String,
    pub shown: u64,
    pub helped: u64,
    pub escalated: u64,
}

impl FaqRow {
    /// "That helped" presses per answer shown.
    pub fn helped_rate(&self) -> Option<f64> {
        ratio(self.helped, self.shown)
    }
    pub fn escalated_rate(&self) -> Option<f64> {
        ratio(self.escalated, self.shown)
    }
}

/// Metrics of a period: the whole desk, optionally split, and the FAQ entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub window: Window,
    pub total: Metrics,
    pub by: Option<GroupBy>,
    /// Groups in name order.
    pub groups: Vec<(String, Metrics)>,
    /// FAQ entries, most shown first.
    pub faq: Vec<FaqRow>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// 0–23, UTC.
fn hour_of_day(t: Timestamp) -> usize {
    use chrono::Timelike;
    (t.hour() as usize).min(23)
}

fn secs(from: Timestamp, to: Timestamp) -> i64 {
    (to - from).num_seconds()
}

/// Raw samples of one slice before they become [`Metrics`].
#[derive(Default)]
struct Acc {
    metrics: Metrics,
    first_response: Vec<i64>,
    resolution: Vec<i64>,
}

impl Acc {
    fn add_ticket(&mut self, t: &TicketFact, w: &Window) {
        let m = &mut self.metrics;
        if w.contains(t.created_at) {
            m.created += 1;
            m.created_by_hour[hour_of_day(t.created_at)] += 1;
        }
        if let Some(at) = t.first_response_at.filter(|&at| w.contains(at)) {
            self.first_response.push(secs(t.created_at, at));
        }
        if let Some(at) = t.resolved_at.filter(|&at| w.contains(at)) {
            self.resolution.push(secs(t.created_at, at));
            m.resolved += 1;
            if t.reopens > 0 {
                m.reopened += 1;
            } else if t.agent_replies <= 1 {
                m.first_contact += 1;
            }
        }
        // A ticket closed without any response owed nothing more after its closing.
        settle(
            &mut m.sla_first_response,
            t.first_response_at.or(t.closed_at),
            t.first_response_due,
            w,
        );
        settle(
            &mut m.sla_resolution,
            t.resolved_at.or(t.closed_at),
            t.resolution_due,
            w,
        );
        if let Some((score, _)) = t.rating.filter(|(_, at)| w.contains(*at)) {
            m.csat.count += 1;
            m.csat.sum += u64::from(score);
            if let Some(n) = m.csat.by_score.get_mut(usize::from(score.clamp(1, 5)) - 1) {
                *n += 1;
            }
            if score >= 4 {
                m.csat.satisfied += 1;
            }
        }
        let waiting_for_agents = matches!(
            t.state,
            TicketState::New | TicketState::Open | TicketState::WaitingOnCustomer
        );
        if waiting_for_agents && t.created_at <= w.now {
            let b = &mut m.backlog;
            b.total += 1;
            let priority = match t.priority {
                Priority::P1 => 0,
                Priority::P2 => 1,
                Priority::P3 => 2,
            };
            let state = match t.state {
                TicketState::New => 0,
                TicketState::Open => 1,
                _ => 2,
            };
            *[&mut b.p1, &mut b.p2, &mut b.p3][priority] += 1;
            *[&mut b.new, &mut b.open, &mut b.waiting][state] += 1;
            b.by_priority_state[priority][state] += 1;
        }
    }

    fn add_answers(&mut self, f: &FaqTally) {
        if f.kind != FaqFeedback::Shown {
            return;
        }
        let d = self
            .metrics
            .deflection
            .get_or_insert_with(Deflection::default);
        d.answered += f.count;
        d.deflected += f.count.saturating_sub(f.followed);
        if let Some(n) = self.metrics.answers_by_hour.get_mut(usize::from(f.hour)) {
            *n += f.count;
        }
    }

    fn finish(mut self) -> Metrics {
        self.metrics.first_response = DurationStats::of(self.first_response);
        self.metrics.resolution = DurationStats::of(self.resolution);
        self.metrics
    }
}

/// A promise is settled when kept (`done` by `due`) or when `due` passed without it.
fn settle(c: &mut Compliance, done: Option<Timestamp>, due: Timestamp, w: &Window) {
    let (settled_at, met) = match done {
        Some(at) if at <= due => (at, true),
        _ => (due, false),
    };
    if w.contains(settled_at) {
        c.due += 1;
        if met {
            c.met += 1;
        }
    }
}

/// Computes the report of `window` from the facts (ticket facts outside it are ignored, so
/// the store may hand over more than needed) and the FAQ tallies of the window.
pub fn compute(
    tickets: &[TicketFact],
    faq: &[FaqTally],
    window: &Window,
    by: Option<GroupBy>,
) -> Report {
    let mut total = Acc::default();
    total.metrics.deflection = Some(Deflection::default());
    // Keys borrow from the facts: no string is copied per ticket.
    let mut groups: BTreeMap<&str, Acc> = BTreeMap::new();
    for t in tickets {
        total.add_ticket(t, window);
        if let Some(by) = by {
            groups
                .entry(by.ticket_key(t))
                .or_default()
                .add_ticket(t, window);
        }
    }
    let mut entries: BTreeMap<&str, FaqRow> = BTreeMap::new();
    for f in faq {
        total.add_answers(f);
        if by == Some(GroupBy::Platform) {
            let acc = groups.entry(f.platform.as_str()).or_default();
            acc.add_answers(f);
        }
        let row = entries.entry(&f.entry_id).or_insert_with(|| FaqRow {
            entry_id: f.entry_id.clone(),
            ..FaqRow::default()
        });
        match f.kind {
            FaqFeedback::Shown => row.shown += f.count,
            FaqFeedback::Helped => row.helped += f.count,
            FaqFeedback::Escalated => row.escalated += f.count,
        }
    }
    let mut faq_rows: Vec<FaqRow> = entries.into_values().collect();
    faq_rows.sort_by(|a, b| b.shown.cmp(&a.shown).then(a.entry_id.cmp(&b.entry_id)));
    let groups = groups
        .into_iter()
        .map(|(name, acc)| {
            let mut m = acc.finish();
            // Every platform slice has FAQ figures, even without answers.
            if by == Some(GroupBy::Platform) && m.deflection.is_none() {
                m.deflection = Some(Deflection::default());
            }
            (name.to_string(), m)
        })
        .collect();
    Report {
        window: *window,
        total: total.finish(),
        by,
        groups,
        faq: faq_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    #[test]
    fn periods_parse_and_cover_the_right_window() {
        assert_eq!("today".parse::<Period>(), Ok(Period::Today));
        assert_eq!("7d".parse::<Period>(), Ok(Period::Days(7)));
        assert_eq!("30D".parse::<Period>(), Ok(Period::Days(30)));
        assert_eq!("12h".parse::<Period>(), Ok(Period::Hours(12)));
        for bad in ["", "d", "0d", "7", "7w", "-3d", "x7d", "99999d"] {
            assert!(bad.parse::<Period>().is_err(), "{bad:?}");
        }
        let now = at(15);
        assert_eq!(Period::Today.window(now).since, at(0));
        assert_eq!(Period::Hours(12).window(now).since, at(3));
        assert_eq!(Period::Days(7).window(now).since, at(15 - 7 * 24));
    }

    #[test]
    fn a_ticket_closed_without_a_response_owed_nothing_after_closing() {
        let w = Period::Hours(10).window(at(10));
        let fact = TicketFact {
            no: TicketNo(1),
            platform: Platform::Telegram,
            department: "support".into(),
            assignee: None,
            priority: Priority::P2,
            state: TicketState::Closed,
            created_at: at(1),
            first_response_due: at(3),
            first_response_at: None,
            resolution_due: at(8),
            resolved_at: None,
            closed_at: Some(at(2)),
            reopens: 0,
            agent_replies: 0,
            rating: None,
        };
        let kept = compute(std::slice::from_ref(&fact), &[], &w, None).total;
        assert_eq!(kept.sla_first_response, Compliance { due: 1, met: 1 });
        assert_eq!(kept.sla_resolution, Compliance { due: 1, met: 1 });
        assert_eq!((kept.resolved, kept.backlog.total), (0, 0));
        let late = TicketFact {
            closed_at: Some(at(4)),
            ..fact
        };
        let broken = compute(&[late], &[], &w, None).total;
        assert_eq!(broken.sla_first_response, Compliance { due: 1, met: 0 });
    }

    fn fact(no: i64, priority: Priority, created: i64) -> TicketFact {
        TicketFact {
            no: TicketNo(no),
            platform: Platform::Web,
            department: "support".into(),
            assignee: None,
            priority,
            state: TicketState::New,
            created_at: at(created),
            first_response_due: at(created + 1),
            first_response_at: None,
            resolution_due: at(created + 8),
            resolved_at: None,
            closed_at: None,
            reopens: 0,
            agent_replies: 0,
            rating: None,
        }
    }

    #[test]
    fn priority_slices_hold_their_own_times_and_add_up() {
        let w = Period::Days(1).window(at(20));
        let minutes = |m: i64| chrono::Duration::minutes(m);
        let answered = |no, priority, created, after: i64| TicketFact {
            first_response_at: Some(at(created) + minutes(after)),
            state: TicketState::Open,
            ..fact(no, priority, created)
        };
        let facts = [
            answered(1, Priority::P1, 1, 5),
            answered(2, Priority::P1, 2, 15),
            answered(3, Priority::P2, 3, 40),
            fact(4, Priority::P3, 4),
        ];
        let report = compute(&facts, &[], &w, Some(GroupBy::Priority));
        let names: Vec<&str> = report.groups.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["P1", "P2", "P3"]);
        let p1 = &report.groups[0].1;
        assert_eq!(p1.first_response.count, 2);
        assert_eq!(
            (p1.first_response.p50_secs, p1.first_response.p90_secs),
            (Some(5 * 60), Some(15 * 60))
        );
        assert_eq!(report.groups[1].1.first_response.p50_secs, Some(40 * 60));
        assert_eq!(report.groups[2].1.first_response.count, 0);
        let created: u64 = report.groups.iter().map(|(_, m)| m.created).sum();
        assert_eq!(created, report.total.created);
        assert_eq!(
            report.groups[0].1.deflection, None,
            "answers have no priority"
        );
        assert_eq!("priority".parse::<GroupBy>(), Ok(GroupBy::Priority));
    }

    #[test]
    fn backlog_crosses_priority_and_state() {
        let w = Period::Days(1).window(at(20));
        let facts = [
            fact(1, Priority::P1, 1),
            TicketFact {
                state: TicketState::WaitingOnCustomer,
                ..fact(2, Priority::P1, 2)
            },
            TicketFact {
                state: TicketState::Open,
                ..fact(3, Priority::P3, 3)
            },
            TicketFact {
                state: TicketState::Resolved,
                ..fact(4, Priority::P2, 4)
            },
        ];
        let b = compute(&facts, &[], &w, None).total.backlog;
        assert_eq!((b.total, b.p1, b.p2, b.p3), (3, 2, 0, 1));
        assert_eq!((b.new, b.open, b.waiting), (1, 1, 1));
        assert_eq!(b.by_priority_state, [[1, 0, 1], [0, 0, 0], [0, 1, 0]]);
    }

    #[test]
    fn csat_counts_each_score() {
        let w = Period::Days(1).window(at(20));
        let rated = |no, score| TicketFact {
            rating: Some((score, at(10))),
            ..fact(no, Priority::P2, 1)
        };
        let csat = compute(&[rated(1, 5), rated(2, 5), rated(3, 2)], &[], &w, None)
            .total
            .csat;
        assert_eq!(csat.by_score, [0, 1, 0, 0, 2]);
        assert_eq!((csat.count, csat.sum, csat.satisfied), (3, 12, 2));
    }

    #[test]
    fn volume_by_hour_of_day_sums_over_the_period() {
        let w = Period::Days(2).window(at(40));
        // Hour 9 of two days, hour 23, and one before the period (hour 10 of day 0).
        let facts = [
            fact(1, Priority::P2, 9),
            fact(2, Priority::P2, 33),
            fact(3, Priority::P2, 23),
            fact(4, Priority::P2, -14),
        ];
        let tally = |hour, kind, count| FaqTally {
            entry_id: "orders.track".into(),
            platform: Platform::Web,
            kind,
            hour,
            count,
            followed: 0,
        };
        let faq = [
            tally(14, FaqFeedback::Shown, 2),
            tally(14, FaqFeedback::Helped, 1),
        ];
        let m = compute(&facts, &faq, &w, None).total;
        let mut created = [0; 24];
        created[9] = 2;
        created[23] = 1;
        assert_eq!(m.created_by_hour, created);
        assert_eq!(m.created_by_hour.iter().sum::<u64>(), m.created);
        let mut answers = [0; 24];
        answers[14] = 2;
        assert_eq!(m.answers_by_hour, answers);
        assert_eq!(render::by_hour(&m.created_by_hour), "09h 2 · 23h 1");
        assert_eq!(render::by_hour(&[0; 24]), "none");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = DurationStats::of((1..=10).rev().collect());
        assert_eq!(s.count, 10);
        assert_eq!(s.avg_secs, Some(5.5));
        assert_eq!(s.p50_secs, Some(5));
        assert_eq!(s.p90_secs, Some(9));
        let one = DurationStats::of(vec![42]);
        assert_eq!((one.p50_secs, one.p90_secs), (Some(42), Some(42)));
        assert_eq!(DurationStats::of(vec![]), DurationStats::default());
    }

    #[test]
    fn a_promise_settles_when_kept_or_when_its_deadline_passes() {
        let w = Period::Hours(10).window(at(10));
        let mut c = Compliance::default();
        settle(&mut c, Some(at(1)), at(2), &w); // kept
        settle(&mut c, Some(at(5)), at(2), &w); // late: settled (broken) at the deadline
        settle(&mut c, None, at(3), &w); // deadline passed unanswered
        settle(&mut c, None, at(11), &w); // still open, deadline ahead: not settled
        settle(&mut c, Some(at(1)), at(-1), &w); // late, but broken before the window
        assert_eq!(c, Compliance { due: 3, met: 1 });
    }
}
