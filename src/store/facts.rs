//! Metric facts as the stores hand them over: one JSON array of compact rows per query
//! (SQLite `json_group_array`, PostgreSQL `json_agg`), decoded and checked here once for
//! every backend. A report reads every ticket of its period; a single value avoids the
//! per-row cost of the driver, which dominates at 100 000 rows.

use crate::domain::{Platform, Priority, TicketNo, TicketState, Timestamp};
use crate::metrics::{FaqFact, TicketFact};

use super::{FaqFeedback, StoreError};

/// `[number, platform, department, assignee, priority, state, created_at,
/// first_response_due, first_response_at, resolution_due, resolved_at, closed_at, reopens,
/// agent_replies, rating score, rated at]`, times in unix milliseconds.
type TicketRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

/// `[entry_id, platform, kind, at, next ticket's created_at]`.
type FaqRow = (String, String, String, i64, Option<i64>);

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

/// Checks and converts one ticket row.
fn ticket_fact(r: TicketRow) -> Result<TicketFact, StoreError> {
    let no = TicketNo(r.0);
    let state = TicketState::parse(&r.5)
        .ok_or_else(|| corrupt(format!("ticket {no}: unknown state `{}`", r.5)))?;
    let rating = match (r.14, r.15) {
        (Some(score), Some(at)) => Some((
            u8::try_from(score)
                .ok()
                .filter(|s| (1..=5).contains(s))
                .ok_or_else(|| corrupt(format!("ratings.score: {score} out of range")))?,
            time(at, "ratings.at")?,
        )),
        _ => None,
    };
    Ok(TicketFact {
        no,
        platform: named::<Platform>(&r.1, "customers.platform")?,
        department: r.2,
        assignee: r.3,
        priority: named::<Priority>(&r.4, "tickets.priority")?,
        state,
        created_at: time(r.6, "tickets.created_at")?,
        first_response_due: time(r.7, "tickets.first_response_due")?,
        first_response_at: opt_time(r.8, "tickets.first_response_at")?,
        resolution_due: time(r.9, "tickets.resolution_due")?,
        resolved_at: opt_time(r.10, "tickets.resolved_at")?,
        closed_at: opt_time(r.11, "tickets.closed_at")?,
        reopens: count(r.12, "tickets.reopens")?,
        agent_replies: count(r.13, "tickets.agent_replies")?,
        rating,
    })
}

/// Decodes the ticket facts array.
pub(crate) fn tickets_from_json(json: &str) -> Result<Vec<TicketFact>, StoreError> {
    let rows: Vec<TicketRow> =
        serde_json::from_str(json).map_err(|e| corrupt(format!("ticket facts: {e}")))?;
    rows.into_iter().map(ticket_fact).collect()
}

/// Ticket facts of one group of tickets that share platform, department, assignee,
/// priority and state, one array per remaining column (PostgreSQL `array_agg` ... `GROUP
/// BY`, decoded by the driver in binary): a year of a large desk is a million tickets, and
/// text per ticket (JSON, or text arrays) cost more than the query. The rating is read
/// separately (see [`RatingColumns`]); the customer links FAQ answers to the next ticket.
#[derive(Debug, Default)]
pub(crate) struct TicketColumns {
    pub platform: String,
    pub department: String,
    pub assignee: Option<String>,
    pub priority: String,
    pub state: String,
    pub number: Vec<i64>,
    pub customer: Vec<i64>,
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

/// FAQ interactions of the period with one entry, platform and kind: customer and time.
#[derive(Debug, Default)]
pub(crate) struct FaqColumns {
    pub entry_id: String,
    pub platform: String,
    pub kind: String,
    pub customer: Vec<i64>,
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

/// The metric facts of a period from the groups the store read in one snapshot (each
/// ticket in one group), the ratings given in the period and, when asked for, the FAQ
/// interactions.
///
/// An FAQ answer's next ticket is found here instead of by a lookup per answer in SQL:
/// the answers of a period starting at `since` are at or after `since`, and so are the
/// tickets that can follow them, and every ticket created at or after `since` is among the
/// ticket facts (it is active, or closed at or after its creation). One sort of the
/// tickets by customer and a binary search per answer replace a million index lookups.
pub(crate) fn assemble(
    groups: Vec<TicketColumns>,
    ratings: RatingColumns,
    faq: Option<Vec<FaqColumns>>,
) -> Result<(Vec<TicketFact>, Vec<FaqFact>), StoreError> {
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
    let mut created: Vec<(i64, i64)> = Vec::new();
    for g in groups {
        let n = g.number.len();
        same_length(
            "ticket facts",
            n,
            &[
                g.customer.len(),
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
        if faq.is_some() {
            created.extend(g.customer.iter().copied().zip(g.created_at.iter().copied()));
        }
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
    let Some(faq) = faq else {
        return Ok((tickets, Vec::new()));
    };
    created.sort_unstable();
    let next_ticket = |customer: i64, at: i64| {
        let i = created.partition_point(|&k| k < (customer, at));
        created
            .get(i)
            .filter(|(c, _)| *c == customer)
            .map(|&(_, created_at)| created_at)
    };
    let mut events = Vec::with_capacity(faq.iter().map(|g| g.at.len()).sum());
    for g in faq {
        same_length("FAQ facts", g.customer.len(), &[g.at.len()])?;
        let platform = named::<Platform>(&g.platform, "customers.platform")?;
        let kind = FaqFeedback::parse(&g.kind)
            .ok_or_else(|| corrupt(format!("faq_events.kind: unknown `{}`", g.kind)))?;
        for (&customer, &at) in g.customer.iter().zip(&g.at) {
            let next = match kind {
                FaqFeedback::Shown => next_ticket(customer, at),
                _ => None,
            };
            events.push(FaqFact {
                entry_id: g.entry_id.clone(),
                platform,
                kind,
                at: time(at, "faq_events.at")?,
                next_ticket_at: opt_time(next, "tickets.created_at")?,
            });
        }
    }
    Ok((tickets, events))
}

/// Checks and converts one FAQ row.
fn faq_fact((entry_id, platform, kind, at, next): FaqRow) -> Result<FaqFact, StoreError> {
    Ok(FaqFact {
        entry_id,
        platform: named::<Platform>(&platform, "customers.platform")?,
        kind: FaqFeedback::parse(&kind)
            .ok_or_else(|| corrupt(format!("faq_events.kind: unknown `{kind}`")))?,
        at: time(at, "faq_events.at")?,
        next_ticket_at: opt_time(next, "tickets.created_at")?,
    })
}

/// Decodes the FAQ facts array.
pub(crate) fn faq_from_json(json: &str) -> Result<Vec<FaqFact>, StoreError> {
    let rows: Vec<FaqRow> =
        serde_json::from_str(json).map_err(|e| corrupt(format!("FAQ facts: {e}")))?;
    rows.into_iter().map(faq_fact).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_and_bad_rows_are_errors() {
        let json =
            r#"[[7,"discord","tech",null,"P1","open",1000,2000,null,3000,null,null,0,2,5,4000]]"#;
        let facts = tickets_from_json(json).unwrap();
        assert_eq!(facts[0].no, TicketNo(7));
        assert_eq!(facts[0].platform, Platform::Discord);
        assert_eq!(facts[0].agent_replies, 2);
        assert_eq!(facts[0].rating.map(|r| r.0), Some(5));
        assert!(tickets_from_json("[]").unwrap().is_empty());
        for bad in [
            r#"[[7,"fax","tech",null,"P1","open",1000,2000,null,3000,null,null,0,2,null,null]]"#,
            r#"[[7,"discord","tech",null,"P1","lost",1000,2000,null,3000,null,null,0,2,null,null]]"#,
            r#"[[7,"discord","tech",null,"P1","open",1000,2000,null,3000,null,null,-1,2,null,null]]"#,
            r#"[[7,"discord","tech",null,"P1","open",1000,2000,null,3000,null,null,0,2,9,4000]]"#,
            r#"[[7]]"#,
            "not json",
        ] {
            assert!(
                matches!(tickets_from_json(bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
        let faq =
            faq_from_json(r#"[["a","telegram","shown",5,9],["a","telegram","helped",6,null]]"#)
                .unwrap();
        assert_eq!(faq[1].kind, FaqFeedback::Helped);
        assert!(faq_from_json(r#"[["a","telegram","liked",5,null]]"#).is_err());
    }
}
