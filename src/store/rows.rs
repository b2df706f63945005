//! Row decoding and SQL fragments shared by the SQL stores (SQLite, PostgreSQL).
//!
//! Both dialects keep the same columns with the same meaning (timestamps as unix
//! milliseconds, enumerations by their stable names, JSON as text), so turning a row into
//! a domain value is written once here against [`Cols`]. Owns no connection and runs no
//! statement; a value that cannot be read is [`StoreError::Corrupt`], never a panic.

use std::str::FromStr;

use super::{
    ConsoleSession, FaqFeedback, ListedTicket, StoreError, TicketEvent, TicketFilter,
    TicketMessage, WebMessage,
};
use crate::domain::{
    Attachment, Category, Customer, CustomerId, Direction, Language, Platform, Priority, Ticket,
    TicketNo, TicketState, Timestamp,
};

/// Reason written to outbox rows dead-lettered by [`super::Store::mark_unreachable`].
pub const UNREACHABLE_REASON: &str =
    "recipient unreachable: the customer blocked the bot or left the chat";

pub(crate) const TICKET_COLUMNS: &str = "number, customer, state, category, priority, department, \
     assignee, subject, created_at, updated_at, first_response_due, resolution_due, \
     first_response_at, resolved_at, closed_at, waiting_since, reopens, agent_replies";

/// Most urgent first: the first-response deadline until someone answered, then the
/// resolution deadline (SPEC §3 `/queue`).
pub(crate) const URGENCY: &str =
    "CASE WHEN first_response_at IS NULL THEN first_response_due ELSE resolution_due END";

pub(crate) const CUSTOMER_COLUMNS: &str =
    "id, platform, user_id, chat_id, display_name, language, vip, unreachable";

/// Typed column access of one row; implemented by each SQL store for its row type.
pub(crate) trait Cols {
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;

    fn ts(&self, column: &str) -> Result<Timestamp, StoreError> {
        from_ms(self.int(column)?, column)
    }
    fn opt_ts(&self, column: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_int(column)?
            .map(|v| from_ms(v, column))
            .transpose()
    }
    /// A non-negative counter.
    fn count(&self, column: &str) -> Result<u32, StoreError> {
        let v = self.int(column)?;
        u32::try_from(v).map_err(|_| corrupt(format!("{column}: count {v} out of range")))
    }
    fn named<T: FromStr>(&self, column: &str) -> Result<T, StoreError>
    where
        Self: Sized,
    {
        let text = self.text(column)?;
        text.parse::<T>()
            .map_err(|_| corrupt(format!("{column}: unknown value `{text}`")))
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64, column: &str) -> Result<Timestamp, StoreError> {
    chrono::DateTime::from_timestamp_millis(v)
        .ok_or_else(|| corrupt(format!("{column}: timestamp {v} out of range")))
}

/// A lease length in milliseconds (saturating: a huge lease is "forever", not an error).
pub(crate) fn lease_ms(lease: std::time::Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4)
}

fn direction_from(s: &str) -> Option<Direction> {
    match s {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        "internal" => Some(Direction::Internal),
        _ => None,
    }
}

/// (shown, helped, escalated) increments for one feedback.
pub(crate) fn feedback_counts(feedback: FaqFeedback) -> (i64, i64, i64) {
    match feedback {
        FaqFeedback::Shown => (1, 0, 0),
        FaqFeedback::Helped => (0, 1, 0),
        FaqFeedback::Escalated => (0, 0, 1),
    }
}

/// Per-entry totals of imported FAQ interactions: `(entry, shown, helped, escalated,
/// latest at in ms)`, in entry order, for one upsert of `faq_stats`.
pub(crate) fn faq_totals(faq: &[super::PastFaqEvent]) -> Vec<(String, i64, i64, i64, i64)> {
    let mut totals: std::collections::BTreeMap<&str, (i64, i64, i64, i64)> =
        std::collections::BTreeMap::new();
    for e in faq {
        let (shown, helped, escalated) = feedback_counts(e.kind);
        let t = totals.entry(&e.entry_id).or_insert((0, 0, 0, i64::MIN));
        t.0 += shown;
        t.1 += helped;
        t.2 += escalated;
        t.3 = t.3.max(ms(e.at));
    }
    totals
        .into_iter()
        .map(|(entry, (s, h, e, at))| (entry.to_string(), s, h, e, at))
        .collect()
}

/// The hours whose FAQ tallies an import of `tickets` and `faq` can change, as
/// `[from, to)` in unix milliseconds: those of the interactions, and those of the answers
/// a ticket can follow (up to the followed window before its creation).
pub(crate) fn tally_hours(
    tickets: &[super::PastTicket],
    faq: &[super::PastFaqEvent],
) -> Option<(i64, i64)> {
    use super::facts::{followed_window_ms, HOUR_MS};
    let moments = faq.iter().map(|e| (ms(e.at), ms(e.at))).chain(
        tickets
            .iter()
            .map(|t| ms(t.ticket.created_at))
            .map(|at| (at.saturating_sub(followed_window_ms()), at)),
    );
    let (from, to) = moments.reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))?;
    let hour = |v: i64| v - v.rem_euclid(HOUR_MS);
    Some((hour(from), hour(to).saturating_add(HOUR_MS)))
}

/// How many times each value occurs, in order (answers marked followed, per hour and
/// entry: their tallies are then updated in one order, so concurrent units cannot
/// deadlock).
pub(crate) fn count_each<K: Ord>(values: Vec<K>) -> std::collections::BTreeMap<K, i64> {
    let mut counts = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

pub(crate) fn ticket_from(row: &impl Cols) -> Result<Ticket, StoreError> {
    let number = row.int("number")?;
    let state_text = row.text("state")?;
    let state = TicketState::parse(&state_text)
        .ok_or_else(|| corrupt(format!("ticket #{number}: unknown state `{state_text}`")))?;
    Ok(Ticket {
        no: TicketNo(number),
        customer: CustomerId(row.int("customer")?),
        state,
        category: row.named::<Category>("category")?,
        priority: row.named::<Priority>("priority")?,
        department: row.text("department")?,
        assignee: row.opt_text("assignee")?,
        subject: row.text("subject")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        first_response_due: row.ts("first_response_due")?,
        resolution_due: row.ts("resolution_due")?,
        first_response_at: row.opt_ts("first_response_at")?,
        resolved_at: row.opt_ts("resolved_at")?,
        closed_at: row.opt_ts("closed_at")?,
        waiting_since: row.opt_ts("waiting_since")?,
        reopens: row.count("reopens")?,
        agent_replies: row.count("agent_replies")?,
    })
}

pub(crate) fn customer_from(row: &impl Cols) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: CustomerId(row.int("id")?),
        platform: row.named::<Platform>("platform")?,
        user_id: row.text("user_id")?,
        chat_id: row.text("chat_id")?,
        display_name: row.text("display_name")?,
        language: row.named::<Language>("language")?,
        vip: row.flag("vip")?,
        unreachable: row.flag("unreachable")?,
    })
}

pub(crate) fn message_from(row: &impl Cols) -> Result<TicketMessage, StoreError> {
    let ticket = row.int("ticket")?;
    let direction_text = row.text("direction")?;
    let direction = direction_from(&direction_text).ok_or_else(|| {
        corrupt(format!(
            "message of ticket #{ticket}: unknown direction `{direction_text}`"
        ))
    })?;
    let attachments_json = row.text("attachments")?;
    let attachments: Vec<Attachment> = serde_json::from_str(&attachments_json).map_err(|e| {
        corrupt(format!(
            "message of ticket #{ticket}: attachments are not valid JSON: {e}"
        ))
    })?;
    Ok(TicketMessage {
        ticket: TicketNo(ticket),
        direction,
        author: row.text("author")?,
        text: row.text("text")?,
        attachments,
        at: row.ts("at")?,
    })
}

pub(crate) fn event_from(row: &impl Cols) -> Result<TicketEvent, StoreError> {
    Ok(TicketEvent {
        ticket: TicketNo(row.int("ticket")?),
        kind: row.text("kind")?,
        actor: row.text("actor")?,
        detail: row.text("detail")?,
        at: row.ts("at")?,
    })
}

/// SQL dialect of a query built here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a built query, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// The ticket list's query ([`super::Store::ticket_list`]): only the filters that are set
/// become conditions, so each one can use its index (`tickets_state`, `tickets_priority`,
/// `tickets_category`, `tickets_department`, …) instead of an `? IS NULL OR …` that no
/// planner can. Names compare lower-cased (ASCII, as SQL's `lower()` does in SQLite);
/// the text matches the subject or is the ticket's number.
pub(crate) fn ticket_list_query(filter: &TicketFilter, dialect: Dialect) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let param = |binds: &mut Vec<Bind>, value: Bind| {
        binds.push(value);
        match dialect {
            Dialect::Sqlite => format!("?{}", binds.len()),
            Dialect::Postgres => format!("${}", binds.len()),
        }
    };
    if let Some(state) = filter.state {
        let p = param(&mut binds, Bind::Text(state.as_str().into()));
        conditions.push(format!("state = {p}"));
    }
    if let Some(customer) = filter.customer {
        let p = param(&mut binds, Bind::Int(customer.0));
        conditions.push(format!("customer = {p}"));
    }
    if filter.active_only {
        conditions.push("state <> 'closed'".into());
    }
    if let Some(priority) = filter.priority {
        let p = param(&mut binds, Bind::Text(priority.as_str().into()));
        conditions.push(format!("priority = {p}"));
    }
    if let Some(category) = filter.category {
        let p = param(&mut binds, Bind::Text(category.as_str().into()));
        conditions.push(format!("category = {p}"));
    }
    if let Some(department) = &filter.department {
        let p = param(&mut binds, Bind::Text(department.to_ascii_lowercase()));
        conditions.push(format!("lower(department) = {p}"));
    }
    if let Some(assignee) = &filter.assignee {
        let name = assignee.trim_start_matches('@').to_ascii_lowercase();
        let p = param(&mut binds, Bind::Text(name));
        // `IS NOT NULL` lets the partial index `tickets_assignee_name` serve it.
        conditions.push(format!("assignee IS NOT NULL AND lower(assignee) = {p}"));
    }
    if let Some(platform) = filter.platform {
        let p = param(&mut binds, Bind::Text(platform.as_str().into()));
        conditions.push(format!(
            "customer IN (SELECT id FROM customers WHERE platform = {p})"
        ));
    }
    if let Some(text) = &filter.text {
        let needle = text.to_ascii_lowercase();
        let digits = needle.trim_start_matches('#');
        let number = digits
            .parse::<i64>()
            .ok()
            .filter(|n| n.to_string() == digits);
        let p = param(&mut binds, Bind::Text(needle.clone()));
        let contains = match dialect {
            Dialect::Sqlite => format!("instr(lower(subject), {p}) > 0"),
            Dialect::Postgres => format!("strpos(lower(subject), {p}) > 0"),
        };
        match number {
            Some(n) => {
                let q = param(&mut binds, Bind::Int(n));
                conditions.push(format!("({contains} OR number = {q})"));
            }
            None => conditions.push(contains),
        }
    }
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit = match filter.limit {
        Some(n) => {
            let p = param(&mut binds, Bind::Int(i64::from(n)));
            format!("LIMIT {p}")
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT {TICKET_COLUMNS}, \
         (SELECT c.platform FROM customers c WHERE c.id = tickets.customer) AS customer_platform \
         FROM tickets {filter_sql} ORDER BY number DESC {limit}"
    );
    (sql, binds)
}

pub(crate) fn listed_ticket_from(row: &impl Cols) -> Result<ListedTicket, StoreError> {
    Ok(ListedTicket {
        ticket: ticket_from(row)?,
        platform: row.named::<Platform>("customer_platform")?,
    })
}

pub(crate) fn web_message_from(row: &impl Cols) -> Result<WebMessage, StoreError> {
    let id = row.int("id")?;
    let buttons = serde_json::from_str(&row.text("buttons")?)
        .map_err(|e| corrupt(format!("web message {id}: buttons are not valid JSON: {e}")))?;
    Ok(WebMessage {
        id,
        chat: row.text("chat")?,
        text: row.text("text")?,
        buttons,
        at: row.ts("at")?,
    })
}

pub(crate) fn console_session_from(row: &impl Cols) -> Result<ConsoleSession, StoreError> {
    Ok(ConsoleSession {
        id_hash: row.text("id_hash")?,
        operator: row.text("operator")?,
        csrf: row.text("csrf")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
    })
}

/// A rating's score column, checked to be 1..=5.
pub(crate) fn score_from(ticket: TicketNo, score: i64) -> Result<u8, StoreError> {
    u8::try_from(score)
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| corrupt(format!("rating of {ticket}: score {score} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_timestamp_is_corrupt() {
        assert!(matches!(
            from_ms(i64::MAX, "t"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            from_ms(1_700_000_000_123, "t").map(ms).ok(),
            Some(1_700_000_000_123)
        );
    }

    #[test]
    fn scores_outside_one_to_five_are_corrupt() {
        assert_eq!(score_from(TicketNo(1), 5).ok(), Some(5));
        assert!(score_from(TicketNo(1), 0).is_err());
        assert!(score_from(TicketNo(1), 300).is_err());
    }
}
