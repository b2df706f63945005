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

/// Decodes the ticket facts array.
pub(crate) fn tickets_from_json(json: &str) -> Result<Vec<TicketFact>, StoreError> {
    let rows: Vec<TicketRow> =
        serde_json::from_str(json).map_err(|e| corrupt(format!("ticket facts: {e}")))?;
    rows.into_iter()
        .map(|r| {
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
        })
        .collect()
}

/// Decodes the FAQ facts array.
pub(crate) fn faq_from_json(json: &str) -> Result<Vec<FaqFact>, StoreError> {
    let rows: Vec<FaqRow> =
        serde_json::from_str(json).map_err(|e| corrupt(format!("FAQ facts: {e}")))?;
    rows.into_iter()
        .map(|(entry_id, platform, kind, at, next)| {
            Ok(FaqFact {
                entry_id,
                platform: named::<Platform>(&platform, "customers.platform")?,
                kind: FaqFeedback::parse(&kind)
                    .ok_or_else(|| corrupt(format!("faq_events.kind: unknown `{kind}`")))?,
                at: time(at, "faq_events.at")?,
                next_ticket_at: opt_time(next, "tickets.created_at")?,
            })
        })
        .collect()
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
