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

    pub fn deadlines(&self, priority: Priority, from: Timestamp) -> Deadlines {
        let limits = self.limits(priority);
        Deadlines {
            first_response: from + to_chrono(limits.first_response),
            resolution: from + to_chrono(limits.resolution),
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

/// A day without the customer's answer earns a nudge (SPEC §4).
pub const NUDGE_AFTER: Duration = Duration::from_secs(24 * HOUR);
/// Waiting on the customer or on their confirmation this long closes the ticket.
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
        // 80 % of the limit, measured from creation like the deadline itself.
        let limit = after.first_response_due - after.created_at;
        plan.schedule
            .push((FirstResponseReminder, after.created_at + limit * 4 / 5));
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
            .push((CustomerNudge, now + to_chrono(NUDGE_AFTER)));
    } else if !waiting && was_waiting {
        plan.cancel.push(CustomerNudge);
    }
    let resolved = after.state == S::Resolved;
    let was_resolved = before.is_some_and(|b| b.state == S::Resolved);
    if (waiting && !was_waiting) || (resolved && !was_resolved) {
        plan.schedule
            .push((AutoClose, now + to_chrono(AUTO_CLOSE_AFTER)));
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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => super::parse_duration(&t).map_err(de::Error::custom),
        }
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
