//! SLA policy: response, resolution and progress limits per priority (SPEC §2).
//!
//! Pure: deadlines are computed from a `now` passed in, and [`timer_plan`] says which
//! persistent timers (SPEC §4) a ticket change schedules or cancels. Storing and firing
//! them is the store's and `sla_worker`'s job, never this module's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{Priority, Ticket, TicketState, Timestamp};

/// Limits for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaLimits {
    #[serde(with = "humantime_secs")]
    pub first_response: Duration,
    #[serde(with = "humantime_secs")]
    pub resolution: Duration,
    #[serde(with = "humantime_secs")]
    pub progress: Duration,
}

/// The priority table and the desk's other clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaPolicy {
    pub p1: SlaLimits,
    pub p2: SlaLimits,
    pub p3: SlaLimits,
    /// How often the desk is reminded of a ticket nobody has claimed.
    #[serde(with = "humantime_secs")]
    pub unassigned_reminder: Duration,
    /// A customer who has not answered an agent's question this long gets a nudge.
    #[serde(with = "humantime_secs")]
    pub nudge_after: Duration,
    /// Waiting on the customer (or on their confirmation) this long closes the ticket.
    #[serde(with = "humantime_secs")]
    pub auto_close_after: Duration,
    /// Working hours: P3 deadlines count only these (SPEC §4), and so do the business days
    /// of the satisfaction survey. `None`: around the clock.
    pub business_hours: Option<BusinessHours>,
    pub csat: CsatPolicy,
}

/// The satisfaction survey (SPEC §1.6): asked once, right away at closing, open until an
/// outer limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsatPolicy {
    /// Ask for a 1–5 rating when a ticket closes.
    pub enabled: bool,
    /// How long the survey of a P1 ticket stays open.
    #[serde(with = "humantime_secs")]
    pub window_p1: Duration,
    /// Business days the survey of any other ticket stays open (calendar days without
    /// business hours).
    pub business_days: u32,
    /// After rating, the customer's next words within this time are the rating's comment.
    #[serde(with = "humantime_secs")]
    pub comment_window: Duration,
}

impl Default for CsatPolicy {
    fn default() -> Self {
        CsatPolicy {
            enabled: true,
            window_p1: Duration::from_secs(24 * HOUR),
            business_days: 2,
            comment_window: Duration::from_secs(10 * MIN),
        }
    }
}

/// Working days and hours in a fixed UTC offset, e.g. Monday–Friday 09:00–18:00 at +08:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Working days (`["mon", "tue", "wed", "thu", "fri"]`), Monday first inside.
    #[serde(with = "weekdays")]
    pub days: [bool; 7],
    /// Opening time of day, `"09:00"`.
    #[serde(with = "clock_time")]
    pub start: u32,
    /// Closing time of day (exclusive), `"18:00"`; after `start`.
    #[serde(with = "clock_time")]
    pub end: u32,
    /// Local time's offset from UTC, `"+08:00"` / `"-05:00"` / `"Z"`.
    #[serde(with = "utc_offset", default)]
    pub utc_offset: i32,
}

impl BusinessHours {
    /// Monday–Friday 09:00–18:00 UTC.
    pub fn weekdays_nine_to_six() -> BusinessHours {
        BusinessHours {
            days: [true, true, true, true, true, false, false],
            start: 9 * 60,
            end: 18 * 60,
            utc_offset: 0,
        }
    }

    /// Why these hours cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !self.days.iter().any(|d| *d) {
            return Err("business_hours.days must name at least one day".into());
        }
        if self.start >= self.end || self.end > 24 * 60 {
            return Err(
                "business_hours: start must be before end (e.g. \"09:00\" and \"18:00\")".into(),
            );
        }
        if self.utc_offset.abs() >= 24 * 60 {
            return Err("business_hours.utc_offset must be within ±23:59".into());
        }
        Ok(())
    }

    fn offset(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.utc_offset))
    }

    fn open_on(&self, date: chrono::NaiveDate) -> bool {
        use chrono::Datelike;
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    fn at(date: chrono::NaiveDate, minutes: u32) -> chrono::NaiveDateTime {
        date.and_time(chrono::NaiveTime::MIN) + chrono::Duration::minutes(i64::from(minutes))
    }

    /// `from` plus `work` of working time: the clock only runs on working days between
    /// start and end (Friday 17:30 + 2 h with 09:00–18:00 → Monday 10:30).
    pub fn add(&self, from: Timestamp, work: Duration) -> Timestamp {
        if self.check().is_err() {
            return from + to_chrono(work);
        }
        let mut left = to_chrono(work);
        let mut local = from.naive_utc() + self.offset();
        // Each pass consumes one day; a year of days covers any sane limit, and the
        // fallback keeps a pathological one from looping.
        for _ in 0..(366 * 30) {
            let date = local.date();
            let (open, close) = (Self::at(date, self.start), Self::at(date, self.end));
            if self.open_on(date) && local < close {
                let begin = local.max(open);
                let room = close - begin;
                if left <= room {
                    return (begin + left - self.offset()).and_utc();
                }
                left -= room;
            }
            local = Self::at(date, 0) + chrono::Duration::days(1);
        }
        from + to_chrono(work)
    }

    /// The same time of day `days` working days after `from`'s day.
    pub fn add_days(&self, from: Timestamp, days: u32) -> Timestamp {
        if self.check().is_err() {
            return from + chrono::Duration::days(i64::from(days));
        }
        let mut local = from.naive_utc() + self.offset();
        let mut counted = 0;
        while counted < days {
            local += chrono::Duration::days(1);
            if self.open_on(local.date()) {
                counted += 1;
            }
        }
        (local - self.offset()).and_utc()
    }
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;

impl Default for SlaPolicy {
    fn default() -> Self {
        let limits = |fr, res, prog| SlaLimits {
            first_response: Duration::from_secs(fr),
            resolution: Duration::from_secs(res),
            progress: Duration::from_secs(prog),
        };
        SlaPolicy {
            p1: limits(10 * MIN, 2 * HOUR, HOUR),
            p2: limits(30 * MIN, 24 * HOUR, 4 * HOUR),
            p3: limits(2 * HOUR, 48 * HOUR, 4 * HOUR),
            unassigned_reminder: Duration::from_secs(30 * MIN),
            nudge_after: NUDGE_AFTER,
            auto_close_after: AUTO_CLOSE_AFTER,
            business_hours: None,
            csat: CsatPolicy::default(),
        }
    }
}

/// When a ticket created at some moment must be answered and solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub first_response: Timestamp,
    pub resolution: Timestamp,
}

impl SlaPolicy {
    pub fn limits(&self, priority: Priority) -> SlaLimits {
        match priority {
            Priority::P1 => self.p1,
            Priority::P2 => self.p2,
            Priority::P3 => self.p3,
        }
    }

    /// The deadlines of a ticket of `priority` opened at `from`; P3 limits count working
    /// time only when business hours are configured.
    pub fn deadlines(&self, priority: Priority, from: Timestamp) -> Deadlines {
        let limits = self.limits(priority);
        match (&self.business_hours, priority) {
            (Some(hours), Priority::P3) => Deadlines {
                first_response: hours.add(from, limits.first_response),
                resolution: hours.add(from, limits.resolution),
            },
            _ => Deadlines {
                first_response: from + to_chrono(limits.first_response),
                resolution: from + to_chrono(limits.resolution),
            },
        }
    }

    /// When the satisfaction survey of a ticket of `priority` closed at `closed_at` closes:
    /// 24 h for P1, two business days otherwise (configurable).
    pub fn csat_closes_at(&self, priority: Priority, closed_at: Timestamp) -> Timestamp {
        match (priority, &self.business_hours) {
            (Priority::P1, _) => closed_at + to_chrono(self.csat.window_p1),
            (_, Some(hours)) => hours.add_days(closed_at, self.csat.business_days),
            (_, None) => closed_at + chrono::Duration::days(i64::from(self.csat.business_days)),
        }
    }

    /// When the first-response reminder is due: at 80 % of the limit, counted like the
    /// deadline itself (working time for P3 when business hours are set).
    pub fn first_response_reminder_at(&self, t: &Ticket) -> Timestamp {
        match (&self.business_hours, t.priority) {
            (Some(hours), Priority::P3) => hours
                .add(
                    t.created_at,
                    self.limits(Priority::P3).first_response * 4 / 5,
                )
                .min(t.first_response_due),
            _ => t.created_at + (t.first_response_due - t.created_at) * 4 / 5,
        }
    }

    /// Why this policy cannot work, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        match &self.business_hours {
            Some(hours) => hours.check(),
            None => Ok(()),
        }
    }
}

impl SlaPolicy {
    /// The deadlines of `t` under `priority` (a priority change): the table's limits from
    /// creation, plus the time the ticket has spent waiting on the customer so far, which
    /// `Ticket::apply` added to its current deadlines and a recomputation must keep.
    pub fn rebased_deadlines(&self, t: &Ticket, priority: Priority) -> Deadlines {
        let zero = chrono::Duration::zero();
        let base = self.deadlines(t.priority, t.created_at);
        let paused_first = (t.first_response_due - base.first_response).max(zero);
        let paused = (t.resolution_due - base.resolution).max(zero);
        let new = self.deadlines(priority, t.created_at);
        Deadlines {
            first_response: new.first_response + paused_first,
            resolution: new.resolution + paused,
        }
    }
}

/// What a persistent timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// 80 % of the first-response limit passed: remind the desk.
    FirstResponseReminder,
    /// The first-response deadline passed unanswered.
    FirstResponseBreach,
    /// The resolution deadline passed unresolved.
    ResolutionBreach,
    /// The customer has not answered an agent's question for a day.
    CustomerNudge,
    /// Waiting on the customer, or resolved without confirmation, for 72 h: close.
    AutoClose,
    /// Nobody has the ticket: remind the desk (again every interval until claimed).
    UnassignedReminder,
    /// The progress cadence (1 h P1, 4 h otherwise) came round: remind the assignee and,
    /// if nobody told the customer anything since the last one, tell them it is in hand.
    ProgressSync,
    /// The satisfaction survey of a closed ticket reached its outer limit: it closes.
    CsatClose,
}

impl TimerKind {
    pub const ALL: &'static [TimerKind] = &[
        TimerKind::FirstResponseReminder,
        TimerKind::FirstResponseBreach,
        TimerKind::ResolutionBreach,
        TimerKind::CustomerNudge,
        TimerKind::AutoClose,
        TimerKind::UnassignedReminder,
        TimerKind::ProgressSync,
        TimerKind::CsatClose,
    ];

    /// Timers that only matter while a ticket is open: closing cancels them.
    pub const WHILE_OPEN: &'static [TimerKind] = &[
        TimerKind::FirstResponseReminder,
        TimerKind::FirstResponseBreach,
        TimerKind::ResolutionBreach,
        TimerKind::CustomerNudge,
        TimerKind::AutoClose,
        TimerKind::UnassignedReminder,
        TimerKind::ProgressSync,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::FirstResponseReminder => "first_response_reminder",
            TimerKind::FirstResponseBreach => "first_response_breach",
            TimerKind::ResolutionBreach => "resolution_breach",
            TimerKind::CustomerNudge => "customer_nudge",
            TimerKind::AutoClose => "auto_close",
            TimerKind::UnassignedReminder => "unassigned_reminder",
            TimerKind::ProgressSync => "progress_sync",
            TimerKind::CsatClose => "csat_close",
        }
    }

    pub fn parse(text: &str) -> Option<TimerKind> {
        TimerKind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// A day without the customer's answer earns a nudge (SPEC §4; the default of
/// [`SlaPolicy::nudge_after`]).
pub const NUDGE_AFTER: Duration = Duration::from_secs(24 * HOUR);
/// Waiting on the customer or on their confirmation this long closes the ticket (the
/// default of [`SlaPolicy::auto_close_after`]).
pub const AUTO_CLOSE_AFTER: Duration = Duration::from_secs(72 * HOUR);

/// Timers a ticket change schedules (replacing pending ones of the same kind) and cancels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerPlan {
    pub cancel: Vec<TimerKind>,
    pub schedule: Vec<(TimerKind, Timestamp)>,
}

impl TimerPlan {
    pub fn is_empty(&self) -> bool {
        self.cancel.is_empty() && self.schedule.is_empty()
    }
}

/// The timer changes caused by a ticket going from `before` (`None`: just created) to
/// `after` at `now`. Derived from state and timestamps, so every flow that saves a ticket
/// gets the same rules. The CSAT timer is not planned here: it belongs to the survey, which
/// the flows that ask for a rating schedule.
pub fn timer_plan(
    policy: &SlaPolicy,
    before: Option<&Ticket>,
    after: &Ticket,
    now: Timestamp,
) -> TimerPlan {
    use TicketState as S;
    use TimerKind::*;
    let mut plan = TimerPlan::default();
    if after.state == S::Closed {
        if before.is_none_or(|b| b.state != S::Closed) {
            plan.cancel = TimerKind::WHILE_OPEN.to_vec();
        }
        return plan;
    }
    let reopened = before.is_some_and(|b| b.state == S::Closed);
    if reopened {
        // A survey of the earlier closing ends with the reopening.
        plan.cancel.push(CsatClose);
    }
    let answered_of = |t: &Ticket| t.first_response_at.is_some();
    let answered = answered_of(after);
    let deadlines_moved = before.is_none_or(|b| {
        b.first_response_due != after.first_response_due || b.resolution_due != after.resolution_due
    });
    if !answered && (deadlines_moved || reopened) {
        plan.schedule.push((
            FirstResponseReminder,
            policy.first_response_reminder_at(after),
        ));
        plan.schedule
            .push((FirstResponseBreach, after.first_response_due));
    }
    if answered && before.is_some_and(|b| !answered_of(b)) {
        plan.cancel
            .extend([FirstResponseReminder, FirstResponseBreach]);
    }
    // The resolution clock runs while agents have the ticket: it stops at a solution and is
    // paused while waiting on the customer (the deadline moves by the wait, see
    // `Ticket::apply`).
    let counting_of = |t: &Ticket| matches!(t.state, S::New | S::Open);
    let counting = counting_of(after);
    let was_counting = before.is_some_and(counting_of);
    if counting && (!was_counting || deadlines_moved) {
        plan.schedule.push((ResolutionBreach, after.resolution_due));
    } else if !counting && was_counting {
        plan.cancel.push(ResolutionBreach);
    }
    // The progress cadence runs on the same clock, restarting when agents get it back.
    let cadence = to_chrono(policy.limits(after.priority).progress);
    let priority_changed = before.is_some_and(|b| b.priority != after.priority);
    if counting && (!was_counting || priority_changed) {
        plan.schedule.push((ProgressSync, now + cadence));
    } else if !counting && was_counting {
        plan.cancel.push(ProgressSync);
    }
    let waiting = after.state == S::WaitingOnCustomer;
    let was_waiting = before.is_some_and(|b| b.state == S::WaitingOnCustomer);
    if waiting && !was_waiting {
        plan.schedule
            .push((CustomerNudge, now + to_chrono(policy.nudge_after)));
    } else if !waiting && was_waiting {
        plan.cancel.push(CustomerNudge);
    }
    let resolved = after.state == S::Resolved;
    let was_resolved = before.is_some_and(|b| b.state == S::Resolved);
    if (waiting && !was_waiting) || (resolved && !was_resolved) {
        plan.schedule
            .push((AutoClose, now + to_chrono(policy.auto_close_after)));
    } else if (was_waiting && !waiting) || (was_resolved && !resolved) {
        plan.cancel.push(AutoClose);
    }
    let unassigned = after.assignee.is_none();
    let was_unassigned = before.is_some_and(|b| b.assignee.is_none() && b.state != S::Closed);
    if unassigned && !was_unassigned {
        plan.schedule.push((
            UnassignedReminder,
            now + to_chrono(policy.unassigned_reminder),
        ));
    } else if !unassigned && was_unassigned {
        plan.cancel.push(UnassignedReminder);
    }
    plan
}

/// A std duration as chrono's (saturating).
pub fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Human duration in a customer message: `10 min`, `2 h`, `1 h 30 min`.
pub fn human_duration(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60);
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Settings files write durations as seconds or as `"30m"`, `"2h"`, `"1h30m"`.
pub(crate) mod humantime_secs {
    use std::time::Duration;

    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    /// A period as written: seconds or text.
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(crate) enum Raw {
        Secs(u64),
        Text(String),
    }

    impl Raw {
        pub(crate) fn duration(self) -> Result<Duration, String> {
            match self {
                Raw::Secs(s) => Ok(Duration::from_secs(s)),
                Raw::Text(t) => super::parse_duration(&t),
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Raw::deserialize(d)?.duration().map_err(de::Error::custom)
    }
}

/// Working days as names: `["mon", "tue", …]` (full names and any case accepted).
mod weekdays {
    use serde::{de, Deserialize, Deserializer, Serializer};

    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    pub fn serialize<S: Serializer>(days: &[bool; 7], s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = NAMES
            .iter()
            .zip(days)
            .filter(|(_, on)| **on)
            .map(|(n, _)| *n)
            .collect();
        s.collect_seq(names)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[bool; 7], D::Error> {
        let mut days = [false; 7];
        for name in Vec::<String>::deserialize(d)? {
            let lower = name.trim().to_ascii_lowercase();
            let i = NAMES
                .iter()
                .position(|n| lower.starts_with(n))
                .ok_or_else(|| {
                    de::Error::custom(format!("unknown day `{name}` (use mon … sun)"))
                })?;
            days[i] = true;
        }
        Ok(days)
    }
}

/// Time of day as `"HH:MM"`, kept as minutes after midnight (`"24:00"` allowed as an end).
mod clock_time {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:02}:{:02}", m / 60, m % 60))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || de::Error::custom(format!("bad time of day `{text}` (use \"HH:MM\")"));
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h * 60 + m > 24 * 60 {
            return Err(bad());
        }
        Ok(h * 60 + m)
    }
}

/// UTC offset as `"+08:00"`, `"-05:30"` or `"Z"`, kept as minutes.
mod utc_offset {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &i32, s: S) -> Result<S::Ok, S::Error> {
        let sign = if *m < 0 { '-' } else { '+' };
        s.serialize_str(&format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let text = String::deserialize(d)?;
        let t = text.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(0);
        }
        let bad = || de::Error::custom(format!("bad UTC offset `{text}` (use \"+08:00\")"));
        let (sign, rest) = match t.chars().next() {
            Some('+') => (1, &t[1..]),
            Some('-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..60).contains(&m) || !(0..24).contains(&h) {
            return Err(bad());
        }
        Ok(sign * (h * 60 + m))
    }
}

/// Parses `90s`, `30m`, `2h`, `1h30m`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => MIN,
            'h' => HOUR,
            'd' => 24 * HOUR,
            _ => {
                return Err(format!(
                    "bad duration `{text}`: unknown unit `{c}` (use s, m, h, d)"
                ))
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("bad duration `{text}`: number expected before `{c}`"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!(
            "bad duration `{text}`: unit missing after {number} (use s, m, h, d)"
        ));
    }
    if total == 0 {
        return Err(format!("bad duration `{text}`: must be more than zero"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, CustomerId, TicketAction, TicketNo};

    fn new_ticket(policy: &SlaPolicy) -> Ticket {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let d = policy.deadlines(Priority::P2, at);
        Ticket {
            no: TicketNo(7),
            customer: CustomerId(1),
            state: TicketState::New,
            category: Category::AfterSales,
            priority: Priority::P2,
            department: "after_sales".into(),
            assignee: None,
            subject: "refund".into(),
            created_at: at,
            updated_at: at,
            first_response_due: d.first_response,
            resolution_due: d.resolution,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            waiting_since: None,
            reopens: 0,
            agent_replies: 0,
        }
    }

    fn kinds(plan: &TimerPlan) -> Vec<TimerKind> {
        plan.schedule.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn timer_kinds_round_trip() {
        for k in TimerKind::ALL {
            assert_eq!(TimerKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(TimerKind::parse("nope"), None);
    }

    #[test]
    fn creation_schedules_reminder_at_80_percent_breach_resolution_progress_and_unassigned() {
        let policy = SlaPolicy::default();
        let t = new_ticket(&policy);
        let plan = timer_plan(&policy, None, &t, t.created_at);
        assert!(plan.cancel.is_empty());
        let at = |k| plan.schedule.iter().find(|(x, _)| *x == k).map(|(_, d)| *d);
        // P2: 30 min first response → reminder after 24 min.
        assert_eq!(
            at(TimerKind::FirstResponseReminder),
            Some(t.created_at + chrono::Duration::minutes(24))
        );
        assert_eq!(
            at(TimerKind::FirstResponseBreach),
            Some(t.first_response_due)
        );
        assert_eq!(at(TimerKind::ResolutionBreach), Some(t.resolution_due));
        // P2 progress cadence: every 4 h.
        assert_eq!(
            at(TimerKind::ProgressSync),
            Some(t.created_at + chrono::Duration::hours(4))
        );
        assert_eq!(
            at(TimerKind::UnassignedReminder),
            Some(t.created_at + chrono::Duration::minutes(30))
        );
        assert_eq!(plan.schedule.len(), 5);
    }

    #[test]
    fn transitions_schedule_and_cancel_the_right_timers() {
        use TimerKind::*;
        let policy = SlaPolicy::default();
        let plan_of = |b: &Ticket, a: &Ticket, now| timer_plan(&policy, Some(b), a, now);
        let t0 = new_ticket(&policy);
        let now = t0.created_at + chrono::Duration::minutes(5);
        let mut t1 = t0.clone();
        t1.apply(TicketAction::Claim, now).unwrap();
        t1.assignee = Some("sam".into());
        let plan = plan_of(&t0, &t1, now);
        assert_eq!(
            plan.cancel,
            vec![
                FirstResponseReminder,
                FirstResponseBreach,
                UnassignedReminder
            ]
        );
        assert!(plan.schedule.is_empty());

        // Waiting on the customer pauses the resolution clock and the progress cadence.
        let mut t2 = t1.clone();
        t2.apply(TicketAction::AskCustomer, now).unwrap();
        let plan = plan_of(&t1, &t2, now);
        assert_eq!(plan.cancel, vec![ResolutionBreach, ProgressSync]);
        assert_eq!(kinds(&plan), vec![CustomerNudge, AutoClose]);
        assert_eq!(plan.schedule[0].1, now + chrono::Duration::hours(24));
        assert_eq!(plan.schedule[1].1, now + chrono::Duration::hours(72));

        // The answer an hour later: deadline one hour later, clocks running again.
        let later = now + chrono::Duration::hours(1);
        let mut t3 = t2.clone();
        t3.apply(TicketAction::CustomerReply, later).unwrap();
        assert_eq!(
            t3.resolution_due,
            t2.resolution_due + chrono::Duration::hours(1)
        );
        let plan = plan_of(&t2, &t3, later);
        assert_eq!(plan.cancel, vec![CustomerNudge, AutoClose]);
        assert_eq!(
            plan.schedule,
            vec![
                (ResolutionBreach, t3.resolution_due),
                (ProgressSync, later + chrono::Duration::hours(4))
            ]
        );

        let mut t4 = t3.clone();
        t4.apply(TicketAction::Resolve, now).unwrap();
        let plan = plan_of(&t3, &t4, now);
        assert_eq!(plan.cancel, vec![ResolutionBreach, ProgressSync]);
        assert_eq!(kinds(&plan), vec![AutoClose]);

        let mut t5 = t4.clone();
        t5.apply(TicketAction::Confirm, now).unwrap();
        let plan = plan_of(&t4, &t5, now);
        assert_eq!(plan.cancel, TimerKind::WHILE_OPEN.to_vec());
        assert!(
            !plan.cancel.contains(&CsatClose),
            "the survey outlives the ticket"
        );

        // "Not solved": the resolution deadline counts again, auto-close is off.
        let mut t6 = t4.clone();
        t6.apply(TicketAction::Reopen, now).unwrap();
        let plan = plan_of(&t4, &t6, now);
        assert_eq!(plan.cancel, vec![AutoClose]);
        assert_eq!(kinds(&plan), vec![ResolutionBreach, ProgressSync]);

        // Reopening a closed ticket ends its survey.
        let mut t7 = t5.clone();
        t7.apply(TicketAction::Reopen, now).unwrap();
        let plan = plan_of(&t5, &t7, now);
        assert!(plan.cancel.contains(&CsatClose), "{plan:?}");

        // A transfer leaves it without an assignee: reminders start again.
        let mut t8 = t3.clone();
        t8.assignee = None;
        let plan = plan_of(&t3, &t8, now);
        assert_eq!(kinds(&plan), vec![UnassignedReminder]);
        assert_eq!(plan.schedule[0].1, now + chrono::Duration::minutes(30));
    }

    #[test]
    fn a_priority_change_moves_the_pending_deadline_timers_and_the_cadence() {
        let policy = SlaPolicy::default();
        let t0 = new_ticket(&policy);
        let mut t1 = t0.clone();
        let d = policy.deadlines(Priority::P1, t1.created_at);
        t1.priority = Priority::P1;
        t1.first_response_due = d.first_response;
        t1.resolution_due = d.resolution;
        let plan = timer_plan(&policy, Some(&t0), &t1, t0.created_at);
        assert_eq!(
            kinds(&plan),
            vec![
                TimerKind::FirstResponseReminder,
                TimerKind::FirstResponseBreach,
                TimerKind::ResolutionBreach,
                TimerKind::ProgressSync,
            ]
        );
        assert_eq!(plan.schedule[1].1, d.first_response);
        assert_eq!(
            plan.schedule[3].1,
            t0.created_at + chrono::Duration::hours(1)
        );
        // Nothing changed: nothing to do.
        assert!(timer_plan(&policy, Some(&t1), &t1, t1.created_at).is_empty());
    }

    #[test]
    fn nudge_and_auto_close_follow_the_policy() {
        let policy = SlaPolicy {
            nudge_after: Duration::from_secs(12 * HOUR),
            auto_close_after: Duration::from_secs(5 * 24 * HOUR),
            ..SlaPolicy::default()
        };
        let t0 = new_ticket(&policy);
        let mut t1 = t0.clone();
        t1.apply(TicketAction::AskCustomer, t0.created_at).unwrap();
        let plan = timer_plan(&policy, Some(&t0), &t1, t0.created_at);
        assert_eq!(
            plan.schedule,
            vec![
                (
                    TimerKind::CustomerNudge,
                    t0.created_at + chrono::Duration::hours(12)
                ),
                (
                    TimerKind::AutoClose,
                    t0.created_at + chrono::Duration::days(5)
                ),
            ]
        );
    }

    #[test]
    fn a_priority_change_keeps_the_time_paused_waiting_on_the_customer() {
        let policy = SlaPolicy::default();
        let mut t = new_ticket(&policy);
        let asked = t.created_at + chrono::Duration::minutes(10);
        t.apply(TicketAction::AskCustomer, asked).unwrap();
        let answered = asked + chrono::Duration::hours(5);
        t.apply(TicketAction::CustomerReply, answered).unwrap();
        assert_eq!(t.waiting_since, None);
        let p1 = policy.rebased_deadlines(&t, Priority::P1);
        assert_eq!(
            p1.resolution,
            t.created_at + chrono::Duration::hours(2) + chrono::Duration::hours(5)
        );
        // Answered before the wait: the first-response deadline never moved.
        assert_eq!(
            p1.first_response,
            t.created_at + chrono::Duration::minutes(10)
        );
        // Back to P2: the original deadline plus the pause.
        assert_eq!(
            policy.rebased_deadlines(&t, Priority::P2).resolution,
            t.resolution_due
        );
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        use chrono::TimeZone;
        chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn business_time_skips_nights_and_weekends() {
        let hours = BusinessHours::weekdays_nine_to_six();
        let h = |n| Duration::from_secs(n * HOUR);
        // 2026-03-06 is a Friday.
        assert_eq!(
            hours.add(utc(2026, 3, 6, 17, 30), h(2)),
            utc(2026, 3, 9, 10, 30)
        );
        // Within the day.
        assert_eq!(
            hours.add(utc(2026, 3, 4, 10, 0), h(2)),
            utc(2026, 3, 4, 12, 0)
        );
        // Before opening: the clock starts at 09:00.
        assert_eq!(
            hours.add(utc(2026, 3, 4, 6, 0), h(1)),
            utc(2026, 3, 4, 10, 0)
        );
        // Saturday: starts Monday morning.
        assert_eq!(
            hours.add(utc(2026, 3, 7, 12, 0), h(2)),
            utc(2026, 3, 9, 11, 0)
        );
        // Exactly the rest of the day ends at closing time.
        assert_eq!(
            hours.add(utc(2026, 3, 4, 16, 0), h(2)),
            utc(2026, 3, 4, 18, 0)
        );
        // 48 working hours from Monday 09:00 with 9 h days: 5 days and 3 h → next Monday 12:00.
        assert_eq!(
            hours.add(utc(2026, 3, 2, 9, 0), h(48)),
            utc(2026, 3, 9, 12, 0)
        );
        // Local hours at +08:00: Friday 17:30 local = 09:30 UTC.
        let shanghai = BusinessHours {
            utc_offset: 8 * 60,
            ..hours
        };
        assert_eq!(
            shanghai.add(utc(2026, 3, 6, 9, 30), h(2)),
            utc(2026, 3, 9, 2, 30)
        );
        // Two business days after a Friday afternoon: Tuesday, same time.
        assert_eq!(
            hours.add_days(utc(2026, 3, 6, 15, 0), 2),
            utc(2026, 3, 10, 15, 0)
        );
        assert_eq!(
            hours.add_days(utc(2026, 3, 2, 15, 0), 2),
            utc(2026, 3, 4, 15, 0)
        );
    }

    #[test]
    fn business_hours_apply_to_p3_and_to_the_survey_of_non_p1_tickets() {
        let policy = SlaPolicy {
            business_hours: Some(BusinessHours::weekdays_nine_to_six()),
            ..SlaPolicy::default()
        };
        let friday = utc(2026, 3, 6, 17, 30);
        assert_eq!(
            policy.deadlines(Priority::P3, friday).first_response,
            utc(2026, 3, 9, 10, 30)
        );
        assert_eq!(
            policy.deadlines(Priority::P2, friday).first_response,
            friday + chrono::Duration::minutes(30),
            "P1/P2 run around the clock"
        );
        // The reminder at 80 % of 2 working hours: 30 min Friday, 66 min Monday.
        let mut t = new_ticket(&policy);
        t.priority = Priority::P3;
        t.created_at = friday;
        t.first_response_due = policy.deadlines(Priority::P3, friday).first_response;
        assert_eq!(
            policy.first_response_reminder_at(&t),
            utc(2026, 3, 9, 10, 6)
        );
        assert_eq!(
            policy.csat_closes_at(Priority::P1, friday),
            friday + chrono::Duration::hours(24)
        );
        assert_eq!(
            policy.csat_closes_at(Priority::P2, friday),
            utc(2026, 3, 10, 17, 30)
        );
        assert_eq!(
            SlaPolicy::default().csat_closes_at(Priority::P3, friday),
            friday + chrono::Duration::days(2)
        );
    }

    #[test]
    fn business_hours_read_from_settings_text() {
        let hours: BusinessHours = toml::from_str(
            "days = [\"Mon\", \"tuesday\", \"wed\", \"thu\", \"fri\"]\nstart = \"09:00\"\nend = \"17:30\"\nutc_offset = \"-05:00\"",
        )
        .unwrap();
        assert_eq!(hours.days, [true, true, true, true, true, false, false]);
        assert_eq!(
            (hours.start, hours.end, hours.utc_offset),
            (540, 1050, -300)
        );
        assert!(hours.check().is_ok());
        assert!(toml::from_str::<BusinessHours>(
            "days = [\"moon\"]\nstart = \"09:00\"\nend = \"17:00\""
        )
        .is_err());
        assert!(toml::from_str::<BusinessHours>(
            "days = [\"mon\"]\nstart = \"9h\"\nend = \"17:00\""
        )
        .is_err());
        let backwards = BusinessHours {
            start: 18 * 60,
            end: 9 * 60,
            ..BusinessHours::weekdays_nine_to_six()
        };
        assert!(backwards.check().is_err());
    }

    proptest::proptest! {
        /// Working time added lands inside working hours (or at closing time), never before
        /// `from`, grows with the work, and adding in two steps equals adding at once.
        #[test]
        fn business_time_is_monotonic_and_additive(
            start_min in 0i64..(60 * 24 * 28),
            a in 0u64..(60 * 40),
            b in 0u64..(60 * 40),
            offset in -12i32..=12,
        ) {
            let hours = BusinessHours { utc_offset: offset * 60, ..BusinessHours::weekdays_nine_to_six() };
            let from = utc(2026, 3, 2, 0, 0) + chrono::Duration::minutes(start_min);
            let (da, db) = (Duration::from_secs(a * 60), Duration::from_secs(b * 60));
            let one = hours.add(from, da);
            proptest::prop_assert!(one >= from);
            proptest::prop_assert!(hours.add(from, da + db) >= one);
            if a > 0 && b > 0 {
                // Splitting at a point that is inside working time is exact.
                proptest::prop_assert_eq!(hours.add(one, db), hours.add(from, da + db));
            }
            if a > 0 {
                use chrono::{Datelike, Timelike};
                let local = one.naive_utc() + chrono::Duration::minutes(i64::from(hours.utc_offset));
                let minute = local.hour() * 60 + local.minute();
                proptest::prop_assert!(local.weekday().num_days_from_monday() < 5);
                proptest::prop_assert!(minute > hours.start && minute <= hours.end);
            }
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0m").is_err());
    }

    #[test]
    fn default_table_matches_spec() {
        let p = SlaPolicy::default();
        assert_eq!(
            human_duration(p.limits(Priority::P1).first_response),
            "10 min"
        );
        assert_eq!(
            human_duration(p.limits(Priority::P2).first_response),
            "30 min"
        );
        assert_eq!(human_duration(p.limits(Priority::P3).first_response), "2 h");
        assert_eq!(human_duration(p.limits(Priority::P2).resolution), "24 h");
    }
}
