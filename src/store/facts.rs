//! Metric facts as the stores hand them over, decoded and checked here once for every
//! backend: tickets as one array per column for each group of tickets that share their
//! labels (SQLite `json_group_array`, PostgreSQL `array_agg`; a report reads every ticket
//! of its period, and the driver's per-row cost dominates at 100 000 rows), FAQ
//! interactions as hourly tallies.

use crate::domain::{Platform, Priority, TicketNo, TicketState, Timestamp};
use crate::metrics::{FaqTally, TicketFact};

use super::{FaqFeedback, StoreError};

/// An hour in unix milliseconds: the FAQ tallies' unit.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// How long after an FAQ answer a ticket of the same customer counts as following it, in
/// the stores' unix milliseconds.
pub(crate) fn followed_window_ms() -> i64 {
    crate::metrics::DEFLECTION_WINDOW.num_milliseconds()
}

/// The start of the first whole hour at or after `since_ms`: a report's FAQ figures come
/// from the tallies from there on, and from the interactions themselves before it.
pub(crate) fn whole_hours_from(since_ms: i64) -> i64 {
    since_ms + (HOUR_MS - since_ms.rem_euclid(HOUR_MS)) % HOUR_MS
}

/// Checks and converts one row of FAQ tallies: entry, platform, kind, hour of the day,
/// count and answers followed by a ticket.
pub(crate) fn faq_tally(
    entry_id: String,
    platform: &str,
    kind: &str,
    hour: i64,
    count: i64,
    followed: i64,
) -> Result<FaqTally, StoreError> {
    let n = |v: i64, column: &str| {
        u64::try_from(v).map_err(|_| corrupt(format!("faq_tallies.{column}: {v} out of range")))
    };
    let (count, followed) = (n(count, "count")?, n(followed, "followed")?);
    if followed > count {
        return Err(corrupt(format!(
            "faq_tallies: {followed} of {count} answers followed"
        )));
    }
    Ok(FaqTally {
        entry_id,
        platform: named::<Platform>(platform, "faq_tallies.platform")?,
        kind: FaqFeedback::parse(kind)
            .ok_or_else(|| corrupt(format!("faq_tallies.kind: unknown `{kind}`")))?,
        hour: u8::try_from(hour)
            .ok()
            .filter(|h| *h < 24)
            .ok_or_else(|| corrupt(format!("faq_tallies: hour {hour} out of range")))?,
        count,
        followed,
    })
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn time(v: i64, column: &str) -> Result<Timestamp, StoreError> {
    chrono::DateTime::from_timestamp_millis(v)
        .ok_or_else(|| corrupt(format!("{column}: timestamp {v} out of range")))
}

fn opt_time(v: Option<i64>, column: &str) -> Result<Option<Timestamp>, StoreError> {
    v.map(|v| time(v, column)).transpose()
}

fn count(v: i64, column: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(format!("{column}: count {v} out of range")))
}

fn named<T: std::str::FromStr>(text: &str, column: &str) -> Result<T, StoreError> {
    text.parse::<T>()
        .map_err(|_| corrupt(format!("{column}: unknown value `{text}`")))
}

/// Ticket facts of one group of tickets that share platform, department, assignee,
/// priority and state, one array per remaining column (PostgreSQL `array_agg` ... `GROUP
/// BY`, decoded by the driver in binary): a year of a large desk is a million tickets, and
/// text per ticket (JSON, or text arrays) cost more than the query. The rating is read
/// separately (see [`RatingColumns`]).
#[derive(Debug, Default)]
pub(crate) struct TicketColumns {
    pub platform: String,
    pub department: String,
    pub assignee: Option<String>,
    pub priority: String,
    pub state: String,
    pub number: Vec<i64>,
    pub created_at: Vec<i64>,
    pub first_response_due: Vec<i64>,
    pub first_response_at: Vec<Option<i64>>,
    pub resolution_due: Vec<i64>,
    pub resolved_at: Vec<Option<i64>>,
    pub closed_at: Vec<Option<i64>>,
    pub reopens: Vec<i64>,
    pub agent_replies: Vec<i64>,
}

/// Ratings given in the period: ticket, score, at.
#[derive(Debug, Default)]
pub(crate) struct RatingColumns {
    pub ticket: Vec<i64>,
    pub score: Vec<i64>,
    pub at: Vec<i64>,
}

fn same_length(what: &str, n: usize, lengths: &[usize]) -> Result<(), StoreError> {
    if lengths.iter().any(|&l| l != n) {
        return Err(corrupt(format!(
            "{what}: columns of unequal length ({n} rows, {lengths:?})"
        )));
    }
    Ok(())
}

/// The ticket facts of a period from the groups the store read in one snapshot (each
/// ticket in one group) and the ratings given in the period.
pub(crate) fn assemble(
    groups: Vec<TicketColumns>,
    ratings: RatingColumns,
) -> Result<Vec<TicketFact>, StoreError> {
    same_length(
        "ratings",
        ratings.ticket.len(),
        &[ratings.score.len(), ratings.at.len()],
    )?;
    let rated: std::collections::HashMap<i64, (u8, Timestamp)> = ratings
        .ticket
        .iter()
        .zip(ratings.score.iter().zip(&ratings.at))
        .map(|(&t, (&score, &at))| {
            let score = u8::try_from(score)
                .ok()
                .filter(|s| (1..=5).contains(s))
                .ok_or_else(|| corrupt(format!("ratings.score: {score} out of range")))?;
            Ok((t, (score, time(at, "ratings.at")?)))
        })
        .collect::<Result<_, StoreError>>()?;
    let total: usize = groups.iter().map(|g| g.number.len()).sum();
    let mut tickets = Vec::with_capacity(total);
    for g in groups {
        let n = g.number.len();
        same_length(
            "ticket facts",
            n,
            &[
                g.created_at.len(),
                g.first_response_due.len(),
                g.first_response_at.len(),
                g.resolution_due.len(),
                g.resolved_at.len(),
                g.closed_at.len(),
                g.reopens.len(),
                g.agent_replies.len(),
            ],
        )?;
        let platform = named::<Platform>(&g.platform, "customers.platform")?;
        let priority = named::<Priority>(&g.priority, "tickets.priority")?;
        let state = TicketState::parse(&g.state)
            .ok_or_else(|| corrupt(format!("tickets.state: unknown `{}`", g.state)))?;
        for i in 0..n {
            tickets.push(TicketFact {
                no: TicketNo(g.number[i]),
                platform,
                department: g.department.clone(),
                assignee: g.assignee.clone(),
                priority,
                state,
                created_at: time(g.created_at[i], "tickets.created_at")?,
                first_response_due: time(g.first_response_due[i], "tickets.first_response_due")?,
                first_response_at: opt_time(g.first_response_at[i], "tickets.first_response_at")?,
                resolution_due: time(g.resolution_due[i], "tickets.resolution_due")?,
                resolved_at: opt_time(g.resolved_at[i], "tickets.resolved_at")?,
                closed_at: opt_time(g.closed_at[i], "tickets.closed_at")?,
                reopens: count(g.reopens[i], "tickets.reopens")?,
                agent_replies: count(g.agent_replies[i], "tickets.agent_replies")?,
                rating: rated.get(&g.number[i]).copied(),
            });
        }
    }
    Ok(tickets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(platform: &str, state: &str, reopens: i64) -> TicketColumns {
        TicketColumns {
            platform: platform.into(),
            department: "tech".into(),
            assignee: None,
            priority: "P1".into(),
            state: state.into(),
            number: vec![7],
            created_at: vec![1000],
            first_response_due: vec![2000],
            first_response_at: vec![None],
            resolution_due: vec![3000],
            resolved_at: vec![None],
            closed_at: vec![None],
            reopens: vec![reopens],
            agent_replies: vec![2],
        }
    }

    fn rated(score: i64) -> RatingColumns {
        RatingColumns {
            ticket: vec![7],
            score: vec![score],
            at: vec![4000],
        }
    }

    #[test]
    fn groups_assemble_and_bad_values_are_errors() {
        let facts = assemble(vec![group("discord", "open", 0)], rated(5)).unwrap();
        assert_eq!(facts[0].no, TicketNo(7));
        assert_eq!(facts[0].platform, Platform::Discord);
        assert_eq!(facts[0].agent_replies, 2);
        assert_eq!(facts[0].rating.map(|r| r.0), Some(5));
        assert!(assemble(Vec::new(), RatingColumns::default())
            .unwrap()
            .is_empty());
        let mut short = group("discord", "open", 0);
        short.closed_at.clear();
        for (i, (groups, ratings)) in [
            (group("fax", "open", 0), rated(5)),
            (group("discord", "lost", 0), rated(5)),
            (group("discord", "open", -1), rated(5)),
            (group("discord", "open", 0), rated(9)),
            (short, rated(5)),
        ]
        .into_iter()
        .enumerate()
        {
            assert!(
                matches!(assemble(vec![groups], ratings), Err(StoreError::Corrupt(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn tallies_decode_and_bad_ones_are_errors() {
        let t = faq_tally("a".into(), "discord", "shown", 23, 5, 2).unwrap();
        assert_eq!(
            (t.platform, t.kind, t.hour),
            (Platform::Discord, FaqFeedback::Shown, 23)
        );
        assert_eq!((t.count, t.followed), (5, 2));
        for (platform, kind, hour, count, followed) in [
            ("fax", "shown", 1, 1, 0),
            ("web", "liked", 1, 1, 0),
            ("web", "shown", 24, 1, 0),
            ("web", "shown", -1, 1, 0),
            ("web", "shown", 1, -1, 0),
            ("web", "shown", 1, 1, 2),
        ] {
            assert!(
                matches!(
                    faq_tally("a".into(), platform, kind, hour, count, followed),
                    Err(StoreError::Corrupt(_))
                ),
                "{platform} {kind} {hour} {count} {followed}"
            );
        }
    }

    #[test]
    fn whole_hours_start_at_or_after_since() {
        assert_eq!(whole_hours_from(0), 0);
        assert_eq!(whole_hours_from(1), HOUR_MS);
        assert_eq!(whole_hours_from(HOUR_MS), HOUR_MS);
        assert_eq!(whole_hours_from(5 * HOUR_MS - 1), 5 * HOUR_MS);
    }
}
