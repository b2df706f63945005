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
    /// Refused: these tickets are not closed yet (so no agent is left answering a
    /// customer who is gone).
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

/// One statement of an erasure.
pub(crate) struct Step {
    pub counted: Counted,
    pub sql: String,
    /// Whether the first parameter is the list of ticket numbers (bound by the dialect:
    /// JSON text on SQLite, `BIGINT[]` on PostgreSQL); `binds` follow it.
    pub list: bool,
    pub binds: Vec<Bind>,
}

/// The customer's platform ids after erasure.
pub(crate) fn erased_id(customer: i64) -> String {
    format!("erased:{customer}")
}

/// `sql` in `dialect`: `$n` placeholders, `{LIST}` the ticket numbers bound as `$1` and
/// `{DESK}` their web console desk chats (`desk:N`).
fn dialect_sql(dialect: Dialect, sql: &str) -> String {
    match dialect {
        Dialect::Postgres => sql
            .replace("{LIST}", "(SELECT unnest($1::BIGINT[]))")
            .replace(
                "{DESK}",
                "(SELECT 'desk:' || n FROM unnest($1::BIGINT[]) AS n)",
            ),
        Dialect::Sqlite => sql
            .replace("{LIST}", "(SELECT value FROM json_each($1))")
            .replace("{DESK}", "(SELECT 'desk:' || value FROM json_each($1))")
            .replace('$', "?"),
    }
}

/// Erases the texts of the tickets in the list at `now` (unix ms): messages, rating
/// comments, what the web chat and the web console's desk showed of them, the subject
/// (marking them erased). Outbox items aside ([`rewrite_outbox`]).
pub(crate) fn ticket_steps(dialect: Dialect, now: i64) -> Vec<Step> {
    let step = |counted, sql: &str, binds: Vec<Bind>| Step {
        counted,
        sql: dialect_sql(dialect, sql),
        list: true,
        binds,
    };
    let erased = || Bind::Text(ERASED.into());
    vec![
        step(
            Counted::Messages,
            "UPDATE ticket_messages SET text = $2, attachments = '[]' \
             WHERE ticket IN {LIST} AND (text <> $2 OR attachments <> '[]')",
            vec![erased()],
        ),
        step(
            Counted::RatingComments,
            "UPDATE ratings SET comment = NULL WHERE ticket IN {LIST} AND comment IS NOT NULL",
            Vec::new(),
        ),
        step(
            Counted::WebMessages,
            "DELETE FROM web_messages WHERE ticket IN {LIST} OR chat IN {DESK} \
             OR outbox_id IN (SELECT id FROM outbox WHERE ticket IN {LIST})",
            Vec::new(),
        ),
        step(
            Counted::Tickets,
            "UPDATE tickets SET subject = $2, erased_at = $3 \
             WHERE number IN {LIST} AND (subject <> $2 OR erased_at IS NULL)",
            vec![erased(), Bind::Int(now)],
        ),
    ]
}

/// Forgets customer `customer` (of `platform`, chat `chat_id`) at `now` (unix ms), once
/// their tickets' texts are erased: their unanswered questions, their web chat log, the
/// timers of their tickets, their name and platform ids.
pub(crate) fn customer_steps(
    dialect: Dialect,
    customer: i64,
    platform: Platform,
    chat_id: &str,
    now: i64,
) -> Vec<Step> {
    let web_chat = if platform == Platform::Web {
        chat_id
    } else {
        // Only a web customer's chat id names a web chat log.
        ""
    };
    let step = |counted, sql: &str, binds: Vec<Bind>| Step {
        counted,
        sql: dialect_sql(dialect, sql),
        list: false,
        binds,
    };
    let id = Bind::Int(customer);
    vec![
        step(
            Counted::Unanswered,
            "DELETE FROM unanswered WHERE customer = $1",
            vec![id.clone()],
        ),
        step(
            Counted::WebMessages,
            "DELETE FROM web_messages WHERE chat = $1",
            vec![Bind::Text(web_chat.into())],
        ),
        step(
            Counted::Nothing,
            "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE state = 'pending' AND ticket IN (SELECT number FROM tickets WHERE customer = $1)",
            vec![id.clone()],
        ),
        step(
            Counted::Nothing,
            "UPDATE customers SET user_id = $2, chat_id = $2, display_name = $3, \
             last_question = NULL, last_question_at = NULL, unreachable = TRUE, updated_at = $4 \
             WHERE id = $1",
            vec![
                id,
                Bind::Text(erased_id(customer)),
                Bind::Text(ERASED.into()),
                Bind::Int(now),
            ],
        ),
    ]
}

/// The outbox rows of an erasure: about the tickets in the list (`$1`), or to the chat
/// `$2`/`$3` (the customer's; empty strings for none).
pub(crate) fn outbox_rows_sql(dialect: Dialect) -> String {
    dialect_sql(
        dialect,
        "SELECT id, platform, chat_id, payload, state FROM outbox \
         WHERE ticket IN {LIST} OR (platform = $2 AND chat_id = $3)",
    )
}

/// Writes an [`OutboxRewrite`]: `$1` payload, `$2` lane, `$3` chat id, `$4` 1 when the
/// item goes dead, `$5` now, `$6` [`ERASED_ERROR`], `$7` the row's id. A recorded error
/// is replaced too (a platform's error may quote the message).
pub(crate) fn outbox_update_sql(dialect: Dialect) -> String {
    dialect_sql(
        dialect,
        "UPDATE outbox SET payload = $1, lane = $2, chat_id = $3, \
         state = CASE WHEN $4 = 1 THEN 'dead' ELSE state END, \
         dead_at = CASE WHEN $4 = 1 THEN $5 ELSE dead_at END, \
         last_error = CASE WHEN $4 = 1 OR last_error IS NOT NULL THEN $6 ELSE NULL END \
         WHERE id = $7",
    )
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

/// The customer's tickets (number, state) as the list to erase, or the ones not closed
/// yet (which refuse the erasure).
pub(crate) fn closed_only(tickets: Vec<(i64, String)>) -> Result<Vec<i64>, Vec<TicketNo>> {
    let open: Vec<TicketNo> = tickets
        .iter()
        .filter(|(_, state)| state != "closed")
        .map(|(n, _)| TicketNo(*n))
        .collect();
    if open.is_empty() {
        Ok(tickets.into_iter().map(|(n, _)| n).collect())
    } else {
        Err(open)
    }
}

/// An outbox row as [`outbox_rows_sql`] reads it: id, platform, chat id, payload, state.
pub(crate) type OutboxRow = (i64, String, String, String, String);

/// The rows that change ([`rewrite_outbox`]), with their ids.
pub(crate) fn rewrite_rows(
    rows: Vec<OutboxRow>,
    readdress: Option<(&ChatAddress, &str)>,
) -> Vec<(i64, OutboxRewrite)> {
    rows.into_iter()
        .filter_map(|(id, platform, chat, payload, state)| {
            let platform = platform.parse().unwrap_or(Platform::Console);
            rewrite_outbox(&payload, platform, &chat, state == "pending", readdress)
                .map(|new| (id, new))
        })
        .collect()
}

/// The row `payload` (to `row_platform`/`row_chat`, `pending` or not) with its content
/// erased and, with `readdress` (the customer's chat and what it becomes), no longer
/// naming the customer's chat; `None` when nothing changes. A payload that does not
/// decode is replaced whole.
pub(crate) fn rewrite_outbox(
    payload: &str,
    row_platform: Platform,
    row_chat: &str,
    pending: bool,
    readdress: Option<(&ChatAddress, &str)>,
) -> Option<OutboxRewrite> {
    let (message, changed) = match serde_json::from_str::<Outbound>(payload) {
        Ok(mut message) => {
            let before = message.to.clone();
            let content = message.erase(readdress);
            let moved = message.to != before;
            (message, content || moved)
        }
        Err(_) => {
            let mut message = Outbound::text(ChatAddress::new(row_platform, row_chat), ERASED);
            message.erase(readdress);
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
        let steps = ticket_steps(Dialect::Sqlite, 0)
            .into_iter()
            .chain(customer_steps(Dialect::Sqlite, 7, Platform::Web, "v1", 0));
        for step in steps {
            assert!(!step.sql.contains(['$', '{']), "{}", step.sql);
            let highest = (1..=9)
                .rev()
                .find(|n| step.sql.contains(&format!("?{n}")))
                .unwrap_or(0);
            assert_eq!(
                highest,
                step.binds.len() + usize::from(step.list),
                "{}",
                step.sql
            );
        }
        assert!(outbox_rows_sql(Dialect::Sqlite).contains("json_each(?1)"));
        assert!(outbox_update_sql(Dialect::Postgres).contains("$7"));
    }

    #[test]
    fn only_a_web_customer_has_a_web_chat_log() {
        let web = |platform| {
            customer_steps(Dialect::Postgres, 7, platform, "c1", 0)
                .into_iter()
                .find(|s| s.counted == Counted::WebMessages)
                .map(|s| s.binds[0].clone())
        };
        assert_eq!(web(Platform::Web), Some(Bind::Text("c1".into())));
        assert_eq!(web(Platform::Telegram), Some(Bind::Text(String::new())));
    }

    #[test]
    fn outbox_rows_are_erased_readdressed_and_pending_ones_dead() {
        let chat = ChatAddress::new(Platform::Telegram, "42");
        let to_them = serde_json::to_string(&Outbound::text(chat.clone(), "hello Ana")).unwrap();
        let them = Some((&chat, "erased:7"));
        let row = rewrite_outbox(&to_them, Platform::Telegram, "42", true, them).expect("erased");
        assert!(row.dead);
        assert_eq!(row.chat_id, "erased:7");
        assert_eq!(row.lane, "telegram:erased:7");
        let back: Outbound = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(back.text_body(), Some(ERASED));
        // Erased already: nothing to change.
        assert_eq!(
            rewrite_outbox(&row.payload, Platform::Telegram, "erased:7", false, them),
            None
        );
        let broken =
            rewrite_outbox("{", Platform::Telegram, "42", false, them).expect("replaced whole");
        assert!(!broken.dead);
        assert_eq!(broken.chat_id, "erased:7");
        // Retention: the text goes, the address stays.
        let kept = rewrite_outbox(&to_them, Platform::Telegram, "42", false, None).unwrap();
        assert_eq!(kept.chat_id, "42");
        assert!(kept.payload.contains(ERASED));
    }
}
