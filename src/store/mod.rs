//! Persistence port: the `Store` trait and its implementations.
//!
//! One [`Tx`] per inbound message or timer: dedup key, state change, history and the
//! outbox rows it causes commit together or not at all. SQL lives here and in
//! `migrations/<dialect>/` only. Never calls a platform.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Attachment, Category, ChatAddress, Customer, CustomerId, CustomerIdentity, Direction, Outbound,
    Priority, Ticket, TicketNo, TicketState, Timestamp,
};

pub mod erase;
mod facts;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;
pub mod transfer;

pub use erase::{Erased, Erasure};

/// A replica not seen for this long is removed from `replicas` (milliseconds).
const REPLICA_FORGOTTEN_AFTER_MS: i64 = 3_600_000;

/// Failure of the store. Adapters must not acknowledge inbound work when they see one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database is read-only or locked: {0}")]
    ReadOnly(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Other(String),
}

/// What a new ticket starts with; the store allocates its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub customer: CustomerId,
    pub category: Category,
    pub priority: Priority,
    pub department: String,
    pub subject: String,
    pub now: Timestamp,
    pub first_response_due: Timestamp,
    pub resolution_due: Timestamp,
}

/// A message in a ticket's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    pub ticket: TicketNo,
    pub direction: Direction,
    /// `customer`, an agent name, or `bot`.
    pub author: String,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub at: Timestamp,
}

/// One entry of a ticket's history: who did what and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub ticket: TicketNo,
    /// `created`, `claimed`, `priority_changed`, `customer_message`, …
    pub kind: String,
    /// `customer`, an agent name, `bot` or `system`.
    pub actor: String,
    /// Free-form detail (old → new values, reasons). Never message text.
    pub detail: String,
    pub at: Timestamp,
}

/// A ticket with its conversation and history, for `tickets show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetails {
    pub ticket: Ticket,
    pub customer: Customer,
    pub messages: Vec<TicketMessage>,
    pub events: Vec<TicketEvent>,
}

/// A customer question the FAQ did not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unanswered {
    pub text: String,
    pub language: crate::domain::Language,
    pub at: Timestamp,
}

/// Which tickets to list (newest first). Every filter is applied by the store's query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub state: Option<TicketState>,
    pub customer: Option<CustomerId>,
    /// Only tickets that are not closed.
    pub active_only: bool,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    /// The department, case-insensitive (ASCII).
    pub department: Option<String>,
    /// The assignee, case-insensitive (ASCII).
    pub assignee: Option<String>,
    /// The customer's platform.
    pub platform: Option<crate::domain::Platform>,
    /// Subject contains it (case-insensitive for ASCII), or it is the ticket's number
    /// (`12` or `#12`).
    pub text: Option<String>,
    pub limit: Option<u32>,
}

/// A ticket of a list with its customer's platform (the console's ticket list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTicket {
    pub ticket: Ticket,
    pub platform: crate::domain::Platform,
}

/// A message delivered to a web chat (or to the web console's desk), as the browser
/// replays it. `id` grows with every message of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebMessage {
    pub id: i64,
    pub chat: String,
    pub text: String,
    pub buttons: Vec<Vec<crate::domain::Button>>,
    pub at: Timestamp,
}

/// A logged-in console operator's session. The store keeps only a hash of the session id
/// (the cookie's value), so a copy of the table cannot be used to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session id, as hex.
    pub id_hash: String,
    pub operator: String,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Called with the chat of a web message recorded by any process (`None`: notifications
/// may have been lost, look at every chat), see [`Store::watch_web_messages`].
pub type WebMessageWatcher = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// A customer's satisfaction rating of a closed ticket (one per ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub ticket: TicketNo,
    pub customer: CustomerId,
    /// 1 (poor) … 5 (excellent).
    pub score: u8,
    pub comment: Option<String>,
    pub at: Timestamp,
}

/// FAQ interaction counted per entry (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaqFeedback {
    Shown,
    Helped,
    Escalated,
}

impl FaqFeedback {
    /// The stable name kept in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            FaqFeedback::Shown => "shown",
            FaqFeedback::Helped => "helped",
            FaqFeedback::Escalated => "escalated",
        }
    }

    pub fn parse(s: &str) -> Option<FaqFeedback> {
        [
            FaqFeedback::Shown,
            FaqFeedback::Helped,
            FaqFeedback::Escalated,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// A ticket that already lived (a benchmark history, an import), written at once with its
/// final state, counters and rating by [`Tx::import_history`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastTicket {
    /// As the state machine left it; `no` is ignored (the store allocates the number).
    pub ticket: Ticket,
    /// The customer's rating (1–5) and when it was given.
    pub rating: Option<(u8, Timestamp)>,
}

/// An FAQ interaction written by [`Tx::import_history`], as [`Tx::record_faq_feedback`]
/// would have recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastFaqEvent {
    pub customer: CustomerId,
    pub entry_id: String,
    pub kind: FaqFeedback,
    pub at: Timestamp,
}

/// What [`Store::prune`] deletes: records older than these moments (see
/// [`crate::housekeeping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneBefore {
    /// Inbound dedup keys recorded before it.
    pub inbound_keys: Timestamp,
    /// Outbox items delivered before it, and SLA timers fired or cancelled that were due
    /// before it. Dead-lettered items are kept.
    pub delivered: Timestamp,
    /// Web chat messages recorded before it.
    pub web_messages: Timestamp,
    /// Console sessions expired at it.
    pub now: Timestamp,
    /// The texts of tickets closed before it (subject, messages, rating comment) are
    /// erased; `None`: kept for ever.
    pub closed_tickets: Option<Timestamp>,
}

/// Rows deleted by [`Store::prune`], per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub inbound_keys: u64,
    pub outbox: u64,
    pub timers: u64,
    pub web_messages: u64,
    pub console_sessions: u64,
    /// Closed tickets whose texts were erased.
    pub ticket_texts: u64,
}

impl PruneBefore {
    /// The cut-offs in unix milliseconds, in the order of [`Pruned::from_counts`].
    pub(crate) fn cutoffs_ms(&self) -> [i64; 5] {
        [
            rows::ms(self.inbound_keys),
            rows::ms(self.delivered),
            rows::ms(self.delivered),
            rows::ms(self.web_messages),
            rows::ms(self.now),
        ]
    }
}

impl Pruned {
    /// Counts in the order inbound keys, outbox, timers, web messages, console sessions.
    pub(crate) fn from_counts(c: [u64; 5]) -> Pruned {
        Pruned {
            inbound_keys: c[0],
            outbox: c[1],
            timers: c[2],
            web_messages: c[3],
            console_sessions: c[4],
            ticket_texts: 0,
        }
    }

    fn counts(&self) -> [u64; 6] {
        [
            self.inbound_keys,
            self.outbox,
            self.timers,
            self.web_messages,
            self.console_sessions,
            self.ticket_texts,
        ]
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.counts().iter().sum()
    }

    /// The largest count of one table (a batch that reached its limit may have left more).
    pub fn most(&self) -> u64 {
        self.counts().into_iter().max().unwrap_or(0)
    }
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.inbound_keys += other.inbound_keys;
        self.outbox += other.outbox;
        self.timers += other.timers;
        self.web_messages += other.web_messages;
        self.console_sessions += other.console_sessions;
        self.ticket_texts += other.ticket_texts;
    }
}

/// The plan of one of the large reads, as the database prints it (`frontdesk explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// `queue`, `ticket_facts`, `faq_tallies`.
    pub name: &'static str,
    /// The plan, one line per node.
    pub plan: String,
}

/// Delivery state of an outbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Sent,
    /// Gave up after the configured number of attempts, or permanently undeliverable.
    /// Visible in `tickets show`, `/healthz` and metrics; never silently dropped.
    Dead,
}

/// An outbox row claimed by a delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub message: Outbound,
    /// Deliveries tried so far (before this one).
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// The recorded result of one delivery, for [`Store::outbox_settle`]. Each variant has
/// the effect of the matching single-item method (`outbox_sent`, `outbox_retry`,
/// `outbox_defer`, `outbox_dead`, `mark_unreachable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxUpdate {
    /// Delivered (recorded even if the row was dead-lettered meanwhile).
    Sent {
        id: i64,
        platform_message_id: Option<String>,
    },
    /// Failed; try again at `next_attempt_at`, counting an attempt.
    Retry {
        id: i64,
        next_attempt_at: Timestamp,
        error: String,
    },
    /// Rate limited; try again at `next_attempt_at` without counting an attempt.
    Defer {
        id: i64,
        next_attempt_at: Timestamp,
        reason: String,
    },
    /// Given up: dead-lettered with `error`.
    Dead { id: i64, error: String },
    /// The recipient blocked the bot: the customer is marked unreachable and every
    /// pending item of the chat (including `id`) is dead-lettered.
    Unreachable {
        id: i64,
        platform: crate::domain::Platform,
        chat_id: String,
    },
}

impl OutboxUpdate {
    /// The outbox row this outcome belongs to.
    pub fn id(&self) -> i64 {
        match self {
            OutboxUpdate::Sent { id, .. }
            | OutboxUpdate::Retry { id, .. }
            | OutboxUpdate::Defer { id, .. }
            | OutboxUpdate::Dead { id, .. }
            | OutboxUpdate::Unreachable { id, .. } => *id,
        }
    }
}

/// What [`Store::outbox_settle`] should claim after recording (see [`Store::claim_outbox`]).
#[derive(Debug, Clone, Copy)]
pub struct OutboxClaim<'a> {
    pub worker: &'a str,
    pub lease: Duration,
    pub limit: u32,
    pub platforms: &'a [crate::domain::Platform],
}

/// Result of [`Store::outbox_settle`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Items claimed after recording, oldest first.
    pub claimed: Vec<OutboxItem>,
    /// Ids of recorded outcomes whose rows no longer exist.
    pub missing: Vec<i64>,
}

/// Outbox depth for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub sent: u64,
}

/// A persistent SLA timer claimed by a worker (SPEC §4). `kind` names what it does
/// (see [`crate::sla::TimerKind`]); the store keeps it as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: i64,
    pub ticket: TicketNo,
    pub kind: String,
    pub due_at: Timestamp,
}

/// The last known state of one threshold-alert condition (see `metrics::alerts`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub key: String,
    pub firing: bool,
    /// The value measured when the state last changed.
    pub value: Option<f64>,
    pub changed_at: Timestamp,
}

/// Work that a commit in any process can create, for [`Store::watch_work`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// Outbox rows to deliver.
    Outbox,
    /// SLA timers scheduled (the next one may be due sooner than a worker thinks).
    Timers,
}

/// A role only one process may hold at a time (a platform connection such as Telegram
/// long polling or a Discord gateway), from [`Store::try_lead`]. Dropping it gives the
/// role up.
#[async_trait]
pub trait Leadership: Send {
    /// Whether the role is still held. The holder checks every few seconds and stops
    /// its work when this turns false (e.g. its database session was lost, so another
    /// process may hold the role now).
    async fn still_held(&mut self) -> bool;
    /// Gives the role up at once, so another process can take it without waiting.
    async fn release(self: Box<Self>);
    /// Whether a previous holder may still be running the work when this one gets the
    /// role (so the new holder waits [`crate::leader::LeaderConfig::grace`] first).
    fn shared(&self) -> bool {
        true
    }
}

/// Leadership in a store that one process owns: always held.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleProcess;

#[async_trait]
impl Leadership for SoleProcess {
    async fn still_held(&mut self) -> bool {
        true
    }
    async fn release(self: Box<Self>) {}
    fn shared(&self) -> bool {
        false
    }
}

/// The persistence port. Implementations: SQLite (embedded, one process) and PostgreSQL
/// (several replicas on one database).
#[async_trait]
pub trait Store: Send + Sync {
    /// Starts a unit of work. On SQLite it takes the write lock at once so that
    /// concurrent units never deadlock on upgrade.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;

    /// Cheap liveness probe for `/healthz`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn ticket_details(&self, no: TicketNo) -> Result<Option<TicketDetails>, StoreError>;
    async fn list_tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        Ok(self
            .ticket_list(filter)
            .await?
            .into_iter()
            .map(|l| l.ticket)
            .collect())
    }
    /// [`Store::list_tickets`] with each ticket's customer platform, all filters in the
    /// query (the console's ticket list).
    async fn ticket_list(&self, filter: &TicketFilter) -> Result<Vec<ListedTicket>, StoreError>;
    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError>;

    /// Claims up to `limit` deliverable items: for each lane (chat) only its oldest pending
    /// item, and only when it is due (`next_attempt_at <= now`) and not leased by another
    /// worker. A claim is a lease until `now + lease`; an expired lease is claimable again.
    /// Only lanes of `platforms` are claimed: a worker never holds messages it has no
    /// transport for (e.g. `frontdesk chat` next to a running service).
    async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
        platforms: &[crate::domain::Platform],
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Delivered: remember the platform's message id (for edits) and free the lane.
    async fn outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Not delivered this time: try again at `next_attempt_at` (the lane waits, order is kept).
    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Not delivered because the platform asked us to wait (rate limit) or the platform is
    /// not configured here: try again at `next_attempt_at` without counting an attempt
    /// (the lane waits, order is kept). Defaults to [`Store::outbox_retry`] for stores
    /// that cannot tell the two apart.
    async fn outbox_defer(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.outbox_retry(id, next_attempt_at, reason).await
    }
    /// Give up: state `dead`, kept with its error for people to see. Frees the lane.
    async fn outbox_dead(&self, id: i64, now: Timestamp, error: &str) -> Result<(), StoreError>;
    /// Records a batch of delivery outcomes, then (if `claim` is given) claims as
    /// [`Store::claim_outbox`] does. SQLite does it all in one write transaction (all
    /// outcomes or none), so that a busy worker takes the single writer once per round
    /// instead of twice per item; this default is item by item. An outcome whose row no longer exists is skipped
    /// (it cannot be delivered again either); its id is returned in `missing`.
    async fn outbox_settle(
        &self,
        done: &[OutboxUpdate],
        now: Timestamp,
        claim: Option<OutboxClaim<'_>>,
    ) -> Result<Settled, StoreError> {
        let mut missing = Vec::new();
        for update in done {
            let result = match update {
                OutboxUpdate::Sent {
                    id,
                    platform_message_id,
                } => {
                    self.outbox_sent(*id, now, platform_message_id.as_deref())
                        .await
                }
                OutboxUpdate::Retry {
                    id,
                    next_attempt_at,
                    error,
                } => self.outbox_retry(*id, *next_attempt_at, error).await,
                OutboxUpdate::Defer {
                    id,
                    next_attempt_at,
                    reason,
                } => self.outbox_defer(*id, *next_attempt_at, reason).await,
                OutboxUpdate::Dead { id, error } => self.outbox_dead(*id, now, error).await,
                OutboxUpdate::Unreachable {
                    platform, chat_id, ..
                } => self.mark_unreachable(*platform, chat_id, now).await,
            };
            match result {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => missing.push(update.id()),
                Err(e) => return Err(e),
            }
        }
        let claimed = match claim {
            Some(c) if c.limit > 0 => {
                self.claim_outbox(c.worker, now, c.lease, c.limit, c.platforms)
                    .await?
            }
            _ => Vec::new(),
        };
        Ok(Settled { claimed, missing })
    }
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
    /// Earliest `next_attempt_at` of a pending item, so idle workers know how long to sleep.
    async fn next_outbox_due(
        &self,
        platforms: &[crate::domain::Platform],
    ) -> Result<Option<Timestamp>, StoreError>;
    /// Records the platform's id of a ticket's desk thread in `chat_id` (a forum topic),
    /// once the platform created it; replaces an older one.
    async fn set_thread_ref(
        &self,
        ticket: TicketNo,
        platform: crate::domain::Platform,
        chat_id: &str,
        thread_id: &str,
    ) -> Result<(), StoreError>;
    /// The platform's id of a ticket's desk thread in `chat_id`, if it was created.
    async fn thread_ref(
        &self,
        ticket: TicketNo,
        platform: crate::domain::Platform,
        chat_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// The ticket whose desk thread has the platform id `thread_id` in `chat_id`.
    async fn thread_ticket(
        &self,
        platform: crate::domain::Platform,
        chat_id: &str,
        thread_id: &str,
    ) -> Result<Option<TicketNo>, StoreError>;
    /// Marks a customer as unreachable (blocked the bot): their pending items go dead.
    async fn mark_unreachable(
        &self,
        platform: crate::domain::Platform,
        chat_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Leases up to `limit` pending timers due at `now` (earliest first) to `worker` until
    /// `now + lease`; a timer leased by another worker is skipped until its lease ends.
    /// Claiming does not fire: [`Tx::fire_timer`] does, with the timer's effects.
    async fn claim_due_timers(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueTimer>, StoreError>;
    /// Earliest `due_at` of a pending timer, so an idle worker knows how long to sleep.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Metric facts of every ticket that may count for a period starting at `since`: not
    /// closed, closed at or after `since`, or rated at or after `since` (a closed ticket's
    /// other moments are all at or before its closing). Read outside any unit of work, so a
    /// large report never holds the write lock. Order unspecified.
    async fn ticket_facts(
        &self,
        since: Timestamp,
    ) -> Result<Vec<crate::metrics::TicketFact>, StoreError>;
    /// FAQ interactions at or after `since`, counted per entry, customer platform, kind and
    /// hour of the day: the whole hours from the per-hour tallies kept with every
    /// interaction, the first partial hour from the interactions themselves.
    async fn faq_tallies(
        &self,
        since: Timestamp,
    ) -> Result<Vec<crate::metrics::FaqTally>, StoreError>;
    /// The database's plans of the large reads (`/queue`, the ticket facts and FAQ tallies of a
    /// period starting at `since`); with `analyze`, the queries run and the plans carry
    /// their timings. Shows which indexes they use (`frontdesk explain`).
    async fn query_plans(
        &self,
        since: Timestamp,
        analyze: bool,
    ) -> Result<Vec<QueryPlan>, StoreError>;
    /// After a bulk load ([`Tx::import_history`]): brings the planner's statistics up to
    /// date (and, on PostgreSQL, the visibility map that index-only scans rely on), as
    /// autovacuum would eventually, so the next queries get the plans they will have.
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
    /// [`Store::ticket_facts`] and [`Store::faq_tallies`] together, for one report.
    async fn metric_facts(
        &self,
        since: Timestamp,
    ) -> Result<
        (
            Vec<crate::metrics::TicketFact>,
            Vec<crate::metrics::FaqTally>,
        ),
        StoreError,
    > {
        Ok((
            self.ticket_facts(since).await?,
            self.faq_tallies(since).await?,
        ))
    }
    /// The stored state of every threshold-alert condition.
    async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError>;
    /// Customer questions the FAQ could not answer, asked at or after `since`, newest
    /// first, at most `limit` (the console's FAQ insights).
    async fn unanswered_questions(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Unanswered>, StoreError>;

    /// Wakes `waker` (`notify_one`) when a commit in any process creates work of `kind`,
    /// so idle workers need not poll tightly. Best effort: workers keep a fallback poll.
    /// The default does nothing — a store only one process uses has no other writers,
    /// and that process wakes its workers itself.
    fn watch_work(&self, kind: WorkKind, waker: Arc<tokio::sync::Notify>) {
        let _ = (kind, waker);
    }

    /// Tries to take the single-holder `role` (e.g. `telegram-polling`) among all
    /// processes on this database; `None` while another process holds it. The default —
    /// for a store one process owns — always succeeds.
    async fn try_lead(&self, role: &str) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        let _ = role;
        Ok(Some(Box::new(SoleProcess)))
    }

    /// Records a message delivered to a web chat (`chat`: the visitor's chat id, or
    /// `desk:N` for the web console's desk answers about ticket N) and tells every
    /// process watching ([`Store::watch_web_messages`]). Returns the message's id. A
    /// message of an `outbox_id` already recorded (a repeated delivery) is not added
    /// again: its id is returned. `ticket`: the ticket the message is about, so that
    /// erasing its customer finds it.
    async fn append_web_message(
        &self,
        chat: &str,
        text: &str,
        buttons: &[Vec<crate::domain::Button>],
        outbox_id: Option<i64>,
        ticket: Option<TicketNo>,
        now: Timestamp,
    ) -> Result<i64, StoreError>;
    /// A web chat's messages, oldest first: the first `limit` after the message `after`,
    /// or (`after` = `None`) the latest `limit`.
    async fn web_messages(
        &self,
        chat: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebMessage>, StoreError>;
    /// Calls `watcher` when another process records a web message, so its open event
    /// streams are woken. Best effort (streams keep a fallback poll). The default does
    /// nothing: a store one process owns has no other writers.
    fn watch_web_messages(&self, watcher: WebMessageWatcher) {
        let _ = watcher;
    }

    /// Stores a new console session and forgets the ones expired at its start.
    async fn start_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;
    /// The session whose id hashes to `id_hash`, unless it has expired at `now`.
    async fn console_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a session (logout); nothing happens when there is none.
    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError>;

    /// The version of the newest migration applied to the database (`None`: none).
    async fn schema_version(&self) -> Result<Option<i64>, StoreError>;

    /// Deletes up to `limit` rows of each kind that `before` calls old (a short unit of
    /// work per table) and returns how many; call again while a count reaches `limit`.
    /// Never deletes the newest outbox row, so SQLite never hands out an outbox id again
    /// (web messages remember the id they delivered).
    async fn prune(&self, before: &PruneBefore, limit: u32) -> Result<Pruned, StoreError>;

    /// Erases the personal data of the customer with these platform ids on request
    /// (SPEC §7), in one unit of work: see [`erase`] for what goes and what stays.
    /// Refused while one of their tickets is not closed.
    async fn erase_customer(
        &self,
        platform: crate::domain::Platform,
        user_id: &str,
        now: Timestamp,
    ) -> Result<Erasure, StoreError>;

    /// Records that replica `id` is alive at `now` and returns how many replicas (this one
    /// included) were seen since `alive_since`. Rows of replicas gone long ago are removed.
    async fn replica_heartbeat(
        &self,
        id: &str,
        now: Timestamp,
        alive_since: Timestamp,
    ) -> Result<u32, StoreError>;
}

/// One unit of work. Dropping it without `commit` rolls everything back.
#[async_trait]
pub trait Tx: Send {
    /// Records an inbound dedup key (`telegram:update:123`, …). Returns `false` when it
    /// was already recorded: the caller acknowledges and stops.
    async fn record_inbound(&mut self, key: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Finds or creates the customer; refreshes name, chat and language hint.
    async fn upsert_customer(
        &mut self,
        who: &CustomerIdentity,
        vip: bool,
        now: Timestamp,
    ) -> Result<Customer, StoreError>;

    /// The customer's most recent ticket that is not closed.
    async fn active_ticket(&mut self, customer: CustomerId) -> Result<Option<Ticket>, StoreError>;
    /// The customer's tickets, newest first.
    async fn customer_tickets(
        &mut self,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError>;
    async fn ticket(&mut self, no: TicketNo) -> Result<Option<Ticket>, StoreError>;

    /// Creates a ticket with the next number (unique and gap-free: allocated in this unit),
    /// and counts the customer's FAQ answers of the last 24 h as followed by a ticket.
    async fn create_ticket(&mut self, new: &NewTicket) -> Result<Ticket, StoreError>;
    /// Writes back a ticket changed through the state machine.
    async fn save_ticket(&mut self, ticket: &Ticket) -> Result<(), StoreError>;

    /// Writes many finished or ongoing tickets (numbers allocated in order, unique and
    /// gap-free, as by [`Tx::create_ticket`]) with their ratings, and FAQ interactions with
    /// their per-entry totals and hourly tallies, in a few statements. Returns the numbers given, in order.
    /// For synthetic histories (`frontdesk seed`) and imports; writes no messages or events.
    async fn import_history(
        &mut self,
        tickets: &[PastTicket],
        faq: &[PastFaqEvent],
    ) -> Result<Vec<TicketNo>, StoreError>;
    async fn add_message(&mut self, message: &TicketMessage) -> Result<(), StoreError>;
    async fn add_event(&mut self, event: &TicketEvent) -> Result<(), StoreError>;

    /// Queues an outbound message; delivered after commit by the outbox worker.
    async fn enqueue(&mut self, message: &Outbound, now: Timestamp) -> Result<(), StoreError>;

    /// Counts an FAQ interaction in the entry's totals and in its hour's tally, and keeps it,
    /// with the customer and time, for per-period figures and bot deflection.
    async fn record_faq_feedback(
        &mut self,
        customer: CustomerId,
        entry_id: &str,
        feedback: FaqFeedback,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Keeps a customer question the FAQ could not answer, for improving the knowledge base.
    /// Remembers the customer's latest question, so "talk to a person" can carry it.
    async fn remember_question(
        &mut self,
        customer: CustomerId,
        text: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn last_question(&mut self, customer: CustomerId) -> Result<Option<String>, StoreError>;

    /// Keeps a question the FAQ did not answer, with who asked it (so that erasing the
    /// customer's data deletes it too).
    async fn record_unanswered(
        &mut self,
        customer: CustomerId,
        text: &str,
        language: crate::domain::Language,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>, StoreError>;
    /// The last `limit` messages of a ticket (internal notes included), oldest first.
    async fn recent_messages(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketMessage>, StoreError>;
    /// The last `limit` history entries of a ticket, oldest first.
    async fn recent_events(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketEvent>, StoreError>;

    /// The desk's `/queue`: tickets agents must act on (new, open, waiting on the customer),
    /// most urgent first — by first-response deadline until answered, then by resolution
    /// deadline.
    async fn queue(&mut self, limit: u32) -> Result<Vec<Ticket>, StoreError>;
    /// The desk's `/mine`: an agent's tickets that are not closed, most urgent first.
    async fn tickets_assigned_to(
        &mut self,
        assignee: &str,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError>;
    /// The desk's `/find`: tickets whose subject or any message contains `text`
    /// (case-insensitive for ASCII), newest first.
    async fn find_tickets(&mut self, text: &str, limit: u32) -> Result<Vec<Ticket>, StoreError>;

    /// Stores a rating. Returns `false` (and changes nothing) when the ticket already has one.
    async fn record_rating(&mut self, rating: &Rating) -> Result<bool, StoreError>;
    async fn rating(&mut self, ticket: TicketNo) -> Result<Option<Rating>, StoreError>;
    /// Adds `comment` to the customer's latest rating given at or after `since` that has no
    /// comment yet; returns its ticket, or `None` (nothing changed) when there is none.
    async fn comment_rating(
        &mut self,
        customer: CustomerId,
        since: Timestamp,
        comment: &str,
    ) -> Result<Option<TicketNo>, StoreError>;

    /// Remembers where the desk discusses a ticket (its thread), replacing an older address.
    async fn set_desk_thread(
        &mut self,
        ticket: TicketNo,
        address: &ChatAddress,
    ) -> Result<(), StoreError>;
    async fn desk_thread(&mut self, ticket: TicketNo) -> Result<Option<ChatAddress>, StoreError>;

    /// Schedules a timer of `kind` for a ticket at `due_at`, replacing (cancelling) a
    /// pending one of the same kind.
    async fn schedule_timer(
        &mut self,
        ticket: TicketNo,
        kind: &str,
        due_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Cancels the ticket's pending timers of these kinds; returns how many.
    async fn cancel_timers(&mut self, ticket: TicketNo, kinds: &[&str]) -> Result<u64, StoreError>;
    /// Marks a pending timer fired, if it still is pending and not leased by another worker
    /// (`worker`'s own lease or an expired one). `false`: it was fired, cancelled or taken
    /// meanwhile — the caller applies no effect. Committing this unit is what makes the
    /// timer fire exactly once.
    async fn fire_timer(
        &mut self,
        id: i64,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records a threshold-alert condition's new state. Returns `false` (and changes
    /// nothing) when the stored state already is `state.firing` — another worker said it —
    /// so that a change is announced once; a condition never stored counts as not firing.
    async fn set_alert_state(&mut self, state: &AlertState) -> Result<bool, StoreError>;

    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
