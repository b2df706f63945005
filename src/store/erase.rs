//! Erasing a customer's personal data on request (SPEC §7, `frontdesk customer purge`):
//! the statements both dialects run in one unit of work, once the customer is found and
//! has no open ticket.
//!
//! What stays is what the service's figures need and nothing that names or quotes the
//! customer: the customer row (its platform ids become `erased:<id>`, its name
//! [`ERASED`]), their tickets (subject erased; numbers, states, times and ratings'
//! scores kept, so reports do not change), the messages' direction, author and time (the
//! text erased), FAQ interactions (an entry id and a time). The web chat's log, their
//! unanswered questions and rating comments are deleted; outbox items to them or about
//! their tickets are erased, and those still pending are dead-lettered.

use serde::Serialize;

use super::rows::{Bind, Dialect};
use crate::domain::{ChatAddress, Outbound, Platform, TicketNo, ERASED};

/// What erasing one customer changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The customer's number in the store (kept; their platform ids are gone).
    pub customer: i64,
    pub tickets: u64,
    pub messages: u64,
    pub rating_comments: u64,
    pub unanswered: u64,
    pub web_messages: u64,
    pub outbox: u64,
}

/// The result of [`super::Store::erase_customer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    Erased(Erased),
    /// No customer has these platform ids (or they were erased before).
    NoSuchCustomer,
    /// Refused: these tickets are not closed yet (resolve or close them first, so no
    /// agent is left answering a customer who is gone).
    OpenTickets(Vec<TicketNo>),
}

impl Erased {
    pub(crate) fn new(customer: i64) -> Erased {
        Erased {
            customer,
            tickets: 0,
            messages: 0,
            rating_comments: 0,
            unanswered: 0,
            web_messages: 0,
            outbox: 0,
        }
    }

    pub(crate) fn count(&mut self, counted: Counted, rows: u64) {
        let field = match counted {
            Counted::Tickets => &mut self.tickets,
            Counted::Messages => &mut self.messages,
            Counted::RatingComments => &mut self.rating_comments,
            Counted::Unanswered => &mut self.unanswered,
            Counted::WebMessages => &mut self.web_messages,
            Counted::Nothing => return,
        };
        *field += rows;
    }
}

/// What a statement's row count is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Tickets,
    Messages,
    RatingComments,
    Unanswered,
    WebMessages,
    Nothing,
}

/// One statement of the erasure.
pub(crate) struct Step {
    pub counted: Counted,
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// The customer's platform ids after erasure.
pub(crate) fn erased_id(customer: i64) -> String {
    format!("erased:{customer}")
}

/// The statements that erase customer `customer` (of `platform`, chat `chat_id`) at `now`
/// (unix ms), outbox rows aside ([`rewrite_outbox`]).
pub(crate) fn steps(
    dialect: Dialect,
    customer: i64,
    platform: Platform,
    chat_id: &str,
    now: i64,
) -> Vec<Step> {
    const OF_CUSTOMER: &str = "SELECT number FROM tickets WHERE customer = $1";
    let web_chat = if platform == Platform::Web {
        chat_id
    } else {
        // Only a web customer's chat id names a web chat log.
        ""
    };
    let step = |counted, sql: String, binds: Vec<Bind>| Step {
        counted,
        sql: match dialect {
            Dialect::Postgres => sql,
            Dialect::Sqlite => sql.replace('$', "?"),
        },
        binds,
    };
    let id = Bind::Int(customer);
    vec![
        step(
            Counted::Tickets,
            "UPDATE tickets SET subject = $2 WHERE customer = $1 AND subject <> $2".into(),
            vec![id.clone(), Bind::Text(ERASED.into())],
        ),
        step(
            Counted::Messages,
            format!(
                "UPDATE ticket_messages SET text = $2, attachments = '[]' \
                 WHERE ticket IN ({OF_CUSTOMER}) AND (text <> $2 OR attachments <> '[]')"
            ),
            vec![id.clone(), Bind::Text(ERASED.into())],
        ),
        step(
            Counted::RatingComments,
            "UPDATE ratings SET comment = NULL WHERE customer = $1 AND comment IS NOT NULL".into(),
            vec![id.clone()],
        ),
        step(
            Counted::Unanswered,
            "DELETE FROM unanswered WHERE customer = $1".into(),
            vec![id.clone()],
        ),
        step(
            Counted::WebMessages,
            "DELETE FROM web_messages WHERE chat = $2 \
                 OR chat IN (SELECT 'desk:' || number FROM tickets WHERE customer = $1)"
                .into(),
            vec![id.clone(), Bind::Text(web_chat.into())],
        ),
        step(
            Counted::Nothing,
            format!(
                "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
                 WHERE state = 'pending' AND ticket IN ({OF_CUSTOMER})"
            ),
            vec![id.clone()],
        ),
        step(
            Counted::Nothing,
            "UPDATE customers SET user_id = $2, chat_id = $2, display_name = $3, \
             last_question = NULL, last_question_at = NULL, unreachable = TRUE, updated_at = $4 \
             WHERE id = $1"
                .into(),
            vec![
                id,
                Bind::Text(erased_id(customer)),
                Bind::Text(ERASED.into()),
                Bind::Int(now),
            ],
        ),
    ]
}

/// The outbox rows of an erasure: to the customer's chat, or about their tickets.
pub(crate) fn outbox_rows_sql(dialect: Dialect) -> String {
    let sql = "SELECT id, platform, chat_id, payload, state FROM outbox \
               WHERE (platform = $1 AND chat_id = $2) \
               OR ticket IN (SELECT number FROM tickets WHERE customer = $3)";
    match dialect {
        Dialect::Postgres => sql.into(),
        Dialect::Sqlite => sql.replace('$', "?"),
    }
}

/// Writes an [`OutboxRewrite`]: `$1` payload, `$2` lane, `$3` chat id, `$4` 1 when the
/// item goes dead, `$5` now, `$6` [`ERASED_ERROR`], `$7` the row's id.
pub(crate) fn outbox_update_sql(dialect: Dialect) -> String {
    let sql = "UPDATE outbox SET payload = $1, lane = $2, chat_id = $3, \
               state = CASE WHEN $4 = 1 THEN 'dead' ELSE state END, \
               dead_at = CASE WHEN $4 = 1 THEN $5 ELSE dead_at END, \
               last_error = CASE WHEN $4 = 1 THEN $6 ELSE last_error END \
               WHERE id = $7";
    match dialect {
        Dialect::Postgres => sql.into(),
        Dialect::Sqlite => sql.replace('$', "?"),
    }
}

/// An outbox row as an erasure leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxRewrite {
    pub payload: String,
    pub lane: String,
    pub chat_id: String,
    /// A pending item that carried content: dead-lettered with [`ERASED_ERROR`].
    pub dead: bool,
}

/// Why an erasure dead-lettered an item.
pub(crate) const ERASED_ERROR: &str = "erased on request";

/// The row `payload` (to `row_platform`/`row_chat`, `pending` or not) with the customer's
/// content erased; `None` when it says nothing about them. A payload that does not decode
/// is replaced whole.
pub(crate) fn rewrite_outbox(
    payload: &str,
    row_platform: Platform,
    row_chat: &str,
    pending: bool,
    chat: &ChatAddress,
    erased_chat: &str,
) -> Option<OutboxRewrite> {
    let (message, changed) = match serde_json::from_str::<Outbound>(payload) {
        Ok(mut message) => {
            let before = message.to.clone();
            let content = message.erase(chat, erased_chat);
            let moved = message.to != before;
            (message, content || moved)
        }
        Err(_) => {
            let mut message = Outbound::text(ChatAddress::new(row_platform, row_chat), ERASED);
            message.erase(chat, erased_chat);
            (message, true)
        }
    };
    if !changed {
        return None;
    }
    // Every message serialises (plain data); a failure would be a bug, not bad input.
    let payload = serde_json::to_string(&message).unwrap_or_else(|_| "{}".into());
    Some(OutboxRewrite {
        lane: message.to.lane(),
        chat_id: message.to.chat_id.clone(),
        payload,
        dead: pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_use_numbered_question_marks() {
        for step in steps(Dialect::Sqlite, 7, Platform::Web, "v1", 0) {
            assert!(!step.sql.contains('$'), "{}", step.sql);
            let highest = (1..=9)
                .rev()
                .find(|n| step.sql.contains(&format!("?{n}")))
                .unwrap_or(0);
            assert_eq!(highest, step.binds.len(), "{}", step.sql);
        }
        assert!(outbox_rows_sql(Dialect::Sqlite).contains("?3"));
    }

    #[test]
    fn only_a_web_customer_has_a_web_chat_log() {
        let web = |platform| {
            steps(Dialect::Postgres, 7, platform, "c1", 0)
                .into_iter()
                .find(|s| s.counted == Counted::WebMessages)
                .map(|s| s.binds[1].clone())
        };
        assert_eq!(web(Platform::Web), Some(Bind::Text("c1".into())));
        assert_eq!(web(Platform::Telegram), Some(Bind::Text(String::new())));
    }

    #[test]
    fn outbox_rows_are_erased_readdressed_and_pending_ones_dead() {
        let chat = ChatAddress::new(Platform::Telegram, "42");
        let to_them = serde_json::to_string(&Outbound::text(chat.clone(), "hello Ana")).unwrap();
        let row = rewrite_outbox(&to_them, Platform::Telegram, "42", true, &chat, "erased:7")
            .expect("erased");
        assert!(row.dead);
        assert_eq!(row.chat_id, "erased:7");
        assert_eq!(row.lane, "telegram:erased:7");
        let back: Outbound = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(back.text_body(), Some(ERASED));
        // Erased already: nothing to change.
        assert_eq!(
            rewrite_outbox(
                &row.payload,
                Platform::Telegram,
                "erased:7",
                false,
                &chat,
                "erased:7"
            ),
            None
        );
        let broken = rewrite_outbox("{", Platform::Telegram, "42", false, &chat, "erased:7")
            .expect("replaced whole");
        assert!(!broken.dead);
        assert_eq!(broken.chat_id, "erased:7");
    }
}
