//! PostgreSQL implementation of the store, for one or several replicas on one database.
//!
//! Owns the connection pool, the embedded migrations (`migrations/postgres`, applied on
//! open under an advisory lock so replicas starting together do not race), every SQL
//! statement for PostgreSQL, the LISTEN connection that wakes idle workers, and the
//! advisory-lock leadership used for connections only one replica may hold. Timestamps
//! are BIGINT unix milliseconds, as in SQLite. Never calls a platform and never logs
//! message text.
//!
//! Concurrency (READ COMMITTED, one transaction per unit of work):
//! * Units that touch the same customer or ticket are serialized by row locks: the
//!   customer upsert locks the customer row, [`Tx::ticket`] and [`Tx::active_ticket`] read
//!   with `FOR UPDATE`, and [`Tx::fire_timer`] locks the ticket before the timer, so every
//!   flow takes ticket before timer (no lock-order deadlock between SLA and messages).
//! * Ticket numbers come from the `ticket_counter` row, incremented inside the unit: the
//!   row lock is held until commit, and a rollback gives the number back (gap-free).
//! * Outbox rows are written under a per-lane transaction advisory lock, so ids within a
//!   lane are allocated in commit order and a lane's head is always its oldest message.
//! * Workers claim outbox lane heads and due timers with `FOR UPDATE SKIP LOCKED` plus a
//!   lease: replicas never wait for each other's claims, and a crashed replica's leases
//!   expire and are claimed again.
//! * Commits that create work `NOTIFY` (`frontdesk_outbox`, `frontdesk_timers`, payload:
//!   the schema); [`Store::watch_work`] turns those into wake-ups of local workers.

use std::str::FromStr;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres, Row, Transaction};
use tokio::sync::Notify;

use super::erase::{self, Erased, Erasure};
use super::rows::{
    self, corrupt, feedback_counts, from_ms, lease_ms, ms, Cols, CUSTOMER_COLUMNS, TICKET_COLUMNS,
    UNREACHABLE_REASON, URGENCY,
};
use super::REPLICA_FORGOTTEN_AFTER_MS;
use super::{
    AlertState, ConsoleSession, DueTimer, FaqFeedback, Leadership, ListedTicket, NewTicket,
    OutboxClaim, OutboxItem, OutboxStats, OutboxUpdate, PastFaqEvent, PastTicket, PruneBefore,
    Pruned, QueryPlan, Rating, Settled, Store, StoreError, TicketDetails, TicketEvent,
    TicketFilter, TicketMessage, Tx, Unanswered, WebMessage, WebMessageWatcher, WorkKind,
};
use crate::domain::{
    ChatAddress, Customer, CustomerId, CustomerIdentity, Language, Outbound, Platform, Ticket,
    TicketNo, TicketState, Timestamp,
};
use crate::metrics::{FaqTally, TicketFact};

/// First key of every advisory lock frontdesk takes (the second is a hash of what is
/// locked), so they cannot collide with another application's single-key locks.
const LOCK_SPACE: i32 = 0x0F_DE5C;
/// Second-key prefixes hashed with the schema (migrations, leadership) or lane.
const MIGRATE_LOCK: &str = "migrate:";
const LEADER_LOCK: &str = "leader:";

/// NOTIFY channels; the payload is the schema, so replicas on other schemas of the same
/// database ignore each other.
const OUTBOX_CHANNEL: &str = "frontdesk_outbox";
const TIMERS_CHANNEL: &str = "frontdesk_timers";
/// A web chat message was recorded; payload `schema` + newline + the chat.
const WEB_CHANNEL: &str = "frontdesk_web";

/// Connections reserved for the outbox worker (see [`PgStore`]'s `delivery`): one writes
/// while the other reads the next due time.
const DELIVERY_CONNECTIONS: u32 = 2;

/// Tuning for [`PgStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Pool size of this process. Several replicas share the server's `max_connections`.
    pub max_connections: u32,
    /// How long a unit waits for a free connection (or for a new one to be made) before
    /// failing with [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// What error messages need to know about the database.
#[derive(Debug)]
struct Ctx {
    /// The database as `host:port/name` (no password).
    name: String,
}

/// Wakers registered through [`Store::watch_work`].
#[derive(Default)]
struct Wakers {
    outbox: Vec<Arc<Notify>>,
    timers: Vec<Arc<Notify>>,
    /// From [`Store::watch_web_messages`].
    web: Vec<WebMessageWatcher>,
    listening: bool,
}

impl Wakers {
    fn wake_all(&self) {
        for w in self.outbox.iter().chain(&self.timers) {
            w.notify_one();
        }
        for watcher in &self.web {
            watcher(None);
        }
    }
}

/// The PostgreSQL store. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The outbox worker's own connections (claims and delivery outcomes), so that an
    /// outcome is never queued behind inbound units waiting on the ticket counter: the
    /// time between a platform accepting a message and its `sent` row committing is
    /// SPEC §9's duplicate window, and it must stay one short write long.
    delivery: PgPool,
    connect: PgConnectOptions,
    ctx: Arc<Ctx>,
    /// The schema this store works in (the first of the connection's `search_path`).
    schema: Arc<str>,
    wakers: Arc<StdMutex<Wakers>>,
    /// Background tasks (the listener) stop once every clone of the store is gone.
    alive: Arc<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.ctx.name)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `postgres://…` and applies migrations. The schema is the first entry of
    /// the connection's `search_path` (set it with `?options[search_path]=name`); it is
    /// created when missing.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        Self::open_with(url, PgOptions::default()).await
    }

    /// [`PgStore::open`] with explicit tuning.
    pub async fn open_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "invalid PostgreSQL database URL `{}`: {e}",
                crate::config::redact_url(url)
            ))
        })?;
        Self::open_options(connect, options).await
    }

    /// [`PgStore::open`] with parsed connect options (tests set the schema here).
    pub async fn open_options(
        connect: PgConnectOptions,
        options: PgOptions,
    ) -> Result<PgStore, StoreError> {
        let ctx = Arc::new(Ctx {
            name: format!(
                "postgres://{}:{}/{}",
                connect.get_host(),
                connect.get_port(),
                connect.get_database().unwrap_or("")
            ),
        });
        // One plain connection first: when the server is down or refuses us, its error
        // ("connection refused", "password authentication failed") is what the operator
        // needs to read, not the pool's time-out.
        let probe = tokio::time::timeout(options.acquire_timeout, connect.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "database {}: no answer within {:?}",
                    ctx.name, options.acquire_timeout
                ))
            })?
            .map_err(|e| map_err(&ctx, e))?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // A connection broken by a server restart is noticed here, not by a unit.
            .test_before_acquire(true)
            .connect_with(connect.clone())
            .await
            .map_err(|e| map_err(&ctx, e))?;
        let schema = migrate(&pool, &ctx).await?;
        // Connected when the outbox first needs it; the schema is set by the URL options.
        let delivery = PgPoolOptions::new()
            .max_connections(DELIVERY_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(true)
            .connect_lazy_with(connect.clone());
        Ok(PgStore {
            pool,
            delivery,
            connect,
            ctx,
            schema: schema.into(),
            wakers: Arc::default(),
            alive: Arc::new(()),
        })
    }

    /// The schema this store works in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Closes the pool; pending units finish first.
    pub async fn close(&self) {
        self.delivery.close().await;
        self.pool.close().await;
    }

    /// Erases the texts of up to `limit` tickets closed before `closed` (oldest first, skipping
    /// those another replica's housekeeper holds) in one unit of work; returns how many.
    async fn erase_closed_tickets(
        &self,
        closed: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let numbers: Vec<i64> = sqlx::query_scalar(
            "SELECT number FROM tickets \
             WHERE state = 'closed' AND erased_at IS NULL AND closed_at < $1 \
             ORDER BY closed_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(ms(closed))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if numbers.is_empty() {
            return Ok(0);
        }
        let mut erased = Erased::new(0);
        erase_tickets_in(&mut tx, &self.ctx, &numbers, None, now, &mut erased).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(numbers.len() as u64)
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.ctx, e)
    }

    /// The pool, for the whole-database copy in [`super::transfer`].
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This store's error for a failed statement (names the database).
    pub(super) fn error(&self, e: sqlx::Error) -> StoreError {
        self.err(e)
    }

    /// Starts the LISTEN task once; it wakes registered workers on notifications of this
    /// schema, and wakes all of them after (re)connecting, since notifications sent while
    /// it was disconnected are lost.
    fn start_listener(&self) {
        {
            let mut wakers = lock(&self.wakers);
            if wakers.listening {
                return;
            }
            wakers.listening = true;
        }
        let connect = self.connect.clone();
        let schema = Arc::clone(&self.schema);
        let wakers = Arc::clone(&self.wakers);
        let alive = Arc::downgrade(&self.alive);
        let name = self.ctx.name.clone();
        tokio::spawn(listen(connect, schema, wakers, alive, name));
    }
}

fn lock(wakers: &StdMutex<Wakers>) -> std::sync::MutexGuard<'_, Wakers> {
    // A panic while holding this lock cannot leave the lists half-changed.
    wakers.lock().unwrap_or_else(|e| e.into_inner())
}

/// The LISTEN loop (see [`PgStore::start_listener`]). Ends when the store is dropped.
async fn listen(
    connect: PgConnectOptions,
    schema: Arc<str>,
    wakers: Arc<StdMutex<Wakers>>,
    alive: Weak<()>,
    name: String,
) {
    const CHECK_ALIVE: Duration = Duration::from_secs(2);
    let mut pause = Duration::from_millis(500);
    while alive.strong_count() > 0 {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(connect.clone());
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(database = %name, error = %e, "postgres: LISTEN connection failed; workers poll meanwhile");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([OUTBOX_CHANNEL, TIMERS_CHANNEL, WEB_CHANNEL])
            .await
        {
            tracing::debug!(database = %name, error = %e, "postgres: LISTEN failed; retrying");
            tokio::time::sleep(pause).await;
            continue;
        }
        pause = Duration::from_millis(500);
        lock(&wakers).wake_all();
        loop {
            if alive.strong_count() == 0 {
                return;
            }
            match tokio::time::timeout(CHECK_ALIVE, listener.try_recv()).await {
                Err(_) => {}
                Ok(Ok(Some(n))) => {
                    if n.channel() == WEB_CHANNEL {
                        if let Some((_, chat)) =
                            n.payload().split_once('\n').filter(|(s, _)| *s == &*schema)
                        {
                            for watcher in &lock(&wakers).web {
                                watcher(Some(chat));
                            }
                        }
                        continue;
                    }
                    if n.payload() != &*schema {
                        continue;
                    }
                    let wakers = lock(&wakers);
                    let list = if n.channel() == OUTBOX_CHANNEL {
                        &wakers.outbox
                    } else {
                        &wakers.timers
                    };
                    for w in list {
                        w.notify_one();
                    }
                }
                // Reconnected: what was sent meanwhile is lost, so look for work now.
                Ok(Ok(None)) => lock(&wakers).wake_all(),
                Ok(Err(e)) => {
                    tracing::debug!(database = %name, error = %e, "postgres: LISTEN connection lost; reconnecting");
                    lock(&wakers).wake_all();
                    break;
                }
            }
        }
    }
}

/// Applies the migrations under an advisory lock keyed by the schema, so replicas on one
/// schema migrate one after the other (and create a missing schema once) while tests on
/// separate schemas do not wait for each other. Returns the schema.
async fn migrate(pool: &PgPool, ctx: &Ctx) -> Result<String, StoreError> {
    let mut conn = pool.acquire().await.map_err(|e| map_err(ctx, e))?;
    let (schema, exists) = target_schema(&mut conn, ctx).await?;
    let key = format!("{MIGRATE_LOCK}{schema}");
    sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
        .bind(LOCK_SPACE)
        .bind(&key)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_err(ctx, e))?;
    let result = async {
        if !exists {
            sqlx::query(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "\"\"")
            ))
            .execute(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?;
        }
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // Our own lock above is per schema; sqlx's would be per database.
        migrator.set_locking(false);
        migrator.run(&mut *conn).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(ctx, e),
            other => StoreError::Migration(format!("{} (schema {schema}): {other}", ctx.name)),
        })
    }
    .await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
        .bind(LOCK_SPACE)
        .bind(&key)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // The lock goes with the session: close it rather than hand it back to the pool.
        drop(conn.detach());
    }
    result?;
    Ok(schema)
}

/// The schema new tables go into and whether it exists: the first existing entry of
/// `search_path`, or else its first entry (a fresh deployment or test schema).
async fn target_schema(conn: &mut PgConnection, ctx: &Ctx) -> Result<(String, bool), StoreError> {
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_err(ctx, e))?;
    if let Some(schema) = current {
        return Ok((schema, true));
    }
    let path: String = sqlx::query_scalar("SHOW search_path")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_err(ctx, e))?;
    let first = path
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .find(|s| !s.is_empty() && *s != "$user")
        .ok_or_else(|| {
            StoreError::Migration(format!(
                "{}: search_path `{path}` names no schema to create the tables in",
                ctx.name
            ))
        })?;
    Ok((first.to_string(), false))
}

// ---------------------------------------------------------------------------------------
// Error mapping

fn map_err(ctx: &Ctx, e: sqlx::Error) -> StoreError {
    let name = &ctx.name;
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let msg = db.message().to_string();
            match code.as_str() {
                // Serialization failure, deadlock: the unit rolled back and can be retried.
                "40001" | "40P01" => StoreError::Unavailable(format!(
                    "database {name}: conflict with a concurrent unit of work, rolled back: {msg}"
                )),
                "25006" => StoreError::ReadOnly(format!("database {name} is read-only: {msg}")),
                // Too many connections, shutting down, cannot connect, auth, no database.
                c if c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || c.starts_with("28")
                    || c == "3D000" =>
                {
                    StoreError::Unavailable(format!("database {name}: {msg}"))
                }
                _ => StoreError::Other(format!("database {name}: {msg} (SQLSTATE {code})")),
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "database {name}: no connection (server down or all connections busy)"
        )),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(format!("database {name} is closed"))
        }
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database {name}: {e}")),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("database {name}: TLS: {e}")),
        sqlx::Error::Protocol(e) => StoreError::Unavailable(format!("database {name}: {e}")),
        sqlx::Error::Configuration(e) => {
            StoreError::Unavailable(format!("database {name}: configuration: {e}"))
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(format!("database {name}: {e}"))
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(format!("database {name}: row")),
        other => StoreError::Other(format!("database {name}: {other}")),
    }
}

// ---------------------------------------------------------------------------------------
// Rows

struct Named<'a>(&'a PgRow, &'a Ctx);

impl Named<'_> {
    fn get<'r, T>(&'r self, column: &str) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        self.0
            .try_get::<T, _>(column)
            .map_err(|e| map_err(self.1, e))
    }
}

impl Cols for Named<'_> {
    // BIGINT mostly; a few counters are INTEGER.
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.get::<i64>(column)
            .or_else(|_| self.get::<i32>(column).map(i64::from))
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get::<Option<i64>>(column)
            .or_else(|_| self.get::<Option<i32>>(column).map(|v| v.map(i64::from)))
    }
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.get(column)
    }
}

fn tickets(rows: &[PgRow], ctx: &Ctx) -> Result<Vec<Ticket>, StoreError> {
    rows.iter()
        .map(|r| rows::ticket_from(&Named(r, ctx)))
        .collect()
}

/// Column `i` of a row read by position.
fn column<'r, T>(row: &'r PgRow, i: usize, ctx: &Ctx) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(i).map_err(|e| map_err(ctx, e))
}

fn platform_names(platforms: &[Platform]) -> Vec<&'static str> {
    platforms.iter().map(|p| p.as_str()).collect()
}

/// The desk's `/queue`: same expression and predicate as the `tickets_queue` index, an
/// ordered index scan that stops after `$1` rows, however many tickets there are.
fn queue_sql() -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets \
         WHERE state IN ('new', 'open', 'waiting_on_customer') \
         ORDER BY {URGENCY}, number LIMIT $1"
    )
}

/// Rows asked of the queue in [`Store::query_plans`] (the desk lists 20).
const PLAN_QUEUE_LIMIT: u32 = 20;

/// The metric facts of the tickets `t` (joined with their customer `c`), one row per
/// platform, department, assignee, priority and state with an array per other column
/// (decoded in binary by `super::facts::TicketColumns`): a year of a large desk is a
/// million tickets, and text per ticket (JSON, text arrays) cost more than the query.
const FACT_GROUPS: &str = "c.platform, t.department, t.assignee, t.priority, t.state, \
     array_agg(t.number), array_agg(t.created_at), \
     array_agg(t.first_response_due), array_agg(t.first_response_at), \
     array_agg(t.resolution_due), array_agg(t.resolved_at), array_agg(t.closed_at), \
     array_agg(t.reopens::BIGINT), array_agg(t.agent_replies::BIGINT)";

/// Metric facts of the tickets a period may count (see [`Store::ticket_facts`]): every
/// moment of a closed ticket's life but its rating is at or before its closing, so the
/// active tickets, those closed in the period and those rated in it are all there is. The
/// first two are read here (two disjoint conditions, one `BitmapOr` of `tickets_state` and
/// `tickets_closed_at`; a sequential read when the period covers nearly every ticket),
/// grouped in a hash table (one scan keeps the column statistics that tell the planner
/// there are few groups; a UNION ALL hid them and made it sort a million rows); the few
/// tickets rated in the period but closed before it by [`rated_tickets_sql`].
fn ticket_facts_sql() -> String {
    format!(
        "SELECT {FACT_GROUPS} FROM tickets t JOIN customers c ON c.id = t.customer \
         WHERE t.state IN ('new', 'open', 'waiting_on_customer', 'resolved') \
            OR (t.closed_at >= $1 AND t.state = 'closed') \
         GROUP BY 1, 2, 3, 4, 5"
    )
}

/// Tickets by number (`tickets_pkey`): those rated in the period that
/// [`ticket_facts_sql`] did not return.
fn rated_tickets_sql() -> String {
    format!(
        "SELECT {FACT_GROUPS} FROM tickets t JOIN customers c ON c.id = t.customer \
         WHERE t.number = ANY($1) GROUP BY 1, 2, 3, 4, 5"
    )
}

/// Ratings given in the period (`ratings_at`); earlier ones count for nothing.
const RATINGS_SQL: &str = "SELECT COALESCE(array_agg(ticket), '{}'), \
     COALESCE(array_agg(score::BIGINT), '{}'), COALESCE(array_agg(at), '{}') \
     FROM ratings WHERE at >= $1";

/// [`Store::prune`]'s deletes, in the order of [`Pruned::from_counts`]: `$1` the cut-off,
/// `$2` the batch size. Each finds its rows through an index (migration 0011) and skips
/// rows another replica's housekeeper is deleting.
const PRUNE_SQL: [&str; 5] = [
    "DELETE FROM inbound_keys WHERE key IN \
     (SELECT key FROM inbound_keys WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM outbox WHERE id IN \
     (SELECT id FROM outbox WHERE state = 'sent' AND sent_at < $1 \
      AND id < (SELECT MAX(id) FROM outbox) LIMIT $2 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM timers WHERE id IN \
     (SELECT id FROM timers WHERE state <> 'pending' AND due_at < $1 \
      LIMIT $2 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM web_messages WHERE id IN \
     (SELECT id FROM web_messages WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    "DELETE FROM console_sessions WHERE id_hash IN \
     (SELECT id_hash FROM console_sessions WHERE expires_at <= $1 \
      LIMIT $2 FOR UPDATE SKIP LOCKED)",
];

/// FAQ interactions of a period (`$1`) per entry, platform, kind and hour of the day: the
/// hourly tallies from the first whole hour (`$2`) on, the interactions before it
/// (`faq_events_at`).
const FAQ_TALLIES_SQL: &str = "SELECT entry_id, platform, kind, \
            hour % 86400000 / 3600000, SUM(count)::BIGINT, SUM(followed)::BIGINT \
     FROM ( \
         SELECT entry_id, platform, kind, hour, count, followed \
         FROM faq_tallies WHERE hour >= $2 \
         UNION ALL \
         SELECT e.entry_id, c.platform, e.kind, e.at, 1, e.followed \
         FROM faq_events e JOIN customers c ON c.id = e.customer \
         WHERE e.at >= $1 AND e.at < $2) AS f \
     GROUP BY 1, 2, 3, 4";

/// Marks the answers of customer `$1` in the `$3` ms before a new ticket at `$2` as
/// followed by it; returns their hour and entry, for their tallies ([`FOLLOWED_TALLY_SQL`]).
/// A concurrent unit marking the same answers waits for their row locks, then finds them
/// marked: each answer is counted once.
const MARK_FOLLOWED_SQL: &str = "UPDATE faq_events SET followed = 1 \
     WHERE customer = $1 AND kind = 'shown' AND followed = 0 \
       AND at >= $2 - $3 AND at <= $2 \
     RETURNING at - at % 3600000, entry_id";

/// Adds `$4` followed answers to the tally of hour `$1`, entry `$2`, customer `$3`.
const FOLLOWED_TALLY_SQL: &str = "UPDATE faq_tallies SET followed = followed + $4 \
     WHERE hour = $1 AND entry_id = $2 AND kind = 'shown' \
       AND platform = (SELECT platform FROM customers WHERE id = $3)";

/// Recomputes, after a bulk import, what the imported tickets and interactions change in
/// the hours `[$1, $2)`: which answers a ticket followed within `$3` ms (a ticket is never
/// removed, so answers only become followed), then those hours' tallies.
const REFRESH_TALLIES_SQL: [&str; 3] = [
    "UPDATE faq_events SET followed = 1 \
     WHERE at >= $1 AND at < $2 AND kind = 'shown' AND followed = 0 AND EXISTS ( \
         SELECT 1 FROM tickets t WHERE t.customer = faq_events.customer \
           AND t.created_at >= faq_events.at AND t.created_at <= faq_events.at + $3)",
    "DELETE FROM faq_tallies WHERE hour >= $1 AND hour < $2",
    "INSERT INTO faq_tallies (hour, entry_id, platform, kind, count, followed) \
     SELECT e.at - e.at % 3600000, e.entry_id, c.platform, e.kind, COUNT(*), SUM(e.followed) \
     FROM faq_events e JOIN customers c ON c.id = e.customer \
     WHERE e.at >= $1 AND e.at < $2 \
     GROUP BY 1, 2, 3, 4",
];

fn ticket_columns(row: &PgRow, ctx: &Ctx) -> Result<super::facts::TicketColumns, StoreError> {
    Ok(super::facts::TicketColumns {
        platform: column(row, 0, ctx)?,
        department: column(row, 1, ctx)?,
        assignee: column(row, 2, ctx)?,
        priority: column(row, 3, ctx)?,
        state: column(row, 4, ctx)?,
        number: column(row, 5, ctx)?,
        created_at: column(row, 6, ctx)?,
        first_response_due: column(row, 7, ctx)?,
        first_response_at: column(row, 8, ctx)?,
        resolution_due: column(row, 9, ctx)?,
        resolved_at: column(row, 10, ctx)?,
        closed_at: column(row, 11, ctx)?,
        reopens: column(row, 12, ctx)?,
        agent_replies: column(row, 13, ctx)?,
    })
}

impl PgStore {
    /// A read-only snapshot for the metric facts. Without JIT: compiling these plans took
    /// 0.3–1.2 s, more than running them; with room to group a year of tickets in memory.
    async fn facts_tx(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| self.err(e))?;
        for setting in ["SET LOCAL jit = off", "SET LOCAL work_mem = '256MB'"] {
            sqlx::query(setting)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(tx)
    }

    /// The ticket facts of a period starting at `since` and, with `faq`, its FAQ tallies,
    /// from one snapshot.
    async fn read_facts(
        &self,
        since: Timestamp,
        faq: bool,
    ) -> Result<(Vec<TicketFact>, Vec<FaqTally>), StoreError> {
        use super::facts::RatingColumns;
        let ctx = &*self.ctx;
        let err = |e| map_err(ctx, e);
        let since = ms(since);
        let mut tx = self.facts_tx().await?;
        let row = sqlx::query(RATINGS_SQL)
            .bind(since)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        let ratings = RatingColumns {
            ticket: column(&row, 0, ctx)?,
            score: column(&row, 1, ctx)?,
            at: column(&row, 2, ctx)?,
        };
        let mut groups = sqlx::query(&ticket_facts_sql())
            .bind(since)
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?
            .iter()
            .map(|row| ticket_columns(row, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        let present: std::collections::HashSet<i64> = groups
            .iter()
            .flat_map(|g| g.number.iter().copied())
            .collect();
        let missing: Vec<i64> = ratings
            .ticket
            .iter()
            .copied()
            .filter(|t| !present.contains(t))
            .collect();
        if !missing.is_empty() {
            for row in sqlx::query(&rated_tickets_sql())
                .bind(&missing)
                .fetch_all(&mut *tx)
                .await
                .map_err(err)?
            {
                groups.push(ticket_columns(&row, ctx)?);
            }
        }
        let tallies = if faq {
            sqlx::query(FAQ_TALLIES_SQL)
                .bind(since)
                .bind(super::facts::whole_hours_from(since))
                .fetch_all(&mut *tx)
                .await
                .map_err(err)?
                .iter()
                .map(|row| {
                    super::facts::faq_tally(
                        column(row, 0, ctx)?,
                        &column::<String>(row, 1, ctx)?,
                        &column::<String>(row, 2, ctx)?,
                        column(row, 3, ctx)?,
                        column(row, 4, ctx)?,
                        column(row, 5, ctx)?,
                    )
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        } else {
            Vec::new()
        };
        tx.commit().await.map_err(err)?;
        Ok((super::facts::assemble(groups, ratings)?, tallies))
    }
}

// ---------------------------------------------------------------------------------------
// Store

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        Ok(Box::new(PgTx {
            tx,
            ctx: Arc::clone(&self.ctx),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn ticket_details(&self, no: TicketNo) -> Result<Option<TicketDetails>, StoreError> {
        let ctx = &*self.ctx;
        // One snapshot for ticket, customer, messages and events.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| map_err(ctx, e))?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1"
        ))
        .bind(no.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| map_err(ctx, e))?
        else {
            return Ok(None);
        };
        let ticket = rows::ticket_from(&Named(&row, ctx))?;
        let customer_row = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(ticket.customer.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| map_err(ctx, e))?
        .ok_or_else(|| corrupt(format!("ticket {no}: its customer is missing")))?;
        let customer = rows::customer_from(&Named(&customer_row, ctx))?;
        let messages = sqlx::query(
            "SELECT ticket, direction, author, text, attachments, at \
             FROM ticket_messages WHERE ticket = $1 ORDER BY id",
        )
        .bind(no.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| map_err(ctx, e))?
        .iter()
        .map(|r| rows::message_from(&Named(r, ctx)))
        .collect::<Result<Vec<_>, _>>()?;
        let events = sqlx::query(
            "SELECT ticket, kind, actor, detail, at FROM ticket_events \
             WHERE ticket = $1 ORDER BY id",
        )
        .bind(no.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| map_err(ctx, e))?
        .iter()
        .map(|r| rows::event_from(&Named(r, ctx)))
        .collect::<Result<Vec<_>, _>>()?;
        // Read-only: ending it cannot lose anything.
        let _ = tx.rollback().await;
        Ok(Some(TicketDetails {
            ticket,
            customer,
            messages,
            events,
        }))
    }

    async fn ticket_list(&self, filter: &TicketFilter) -> Result<Vec<ListedTicket>, StoreError> {
        let (sql, binds) = rows::ticket_list_query(filter, rows::Dialect::Postgres);
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                rows::Bind::Int(v) => query.bind(v),
                rows::Bind::Text(v) => query.bind(v),
            };
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| rows::listed_ticket_from(&Named(r, &self.ctx)))
            .collect()
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| rows::customer_from(&Named(&r, &self.ctx)))
        .transpose()
    }

    async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
        platforms: &[Platform],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.delivery.begin().await.map_err(|e| self.err(e))?;
        let items = claim_in(&mut tx, &self.ctx, worker, now, lease, limit, platforms).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(items)
    }

    async fn outbox_settle(
        &self,
        done: &[OutboxUpdate],
        now: Timestamp,
        claim: Option<OutboxClaim<'_>>,
    ) -> Result<Settled, StoreError> {
        let claim = claim.filter(|c| c.limit > 0);
        if done.is_empty() && claim.is_none() {
            return Ok(Settled::default());
        }
        let mut tx = self.delivery.begin().await.map_err(|e| self.err(e))?;
        let mut missing = Vec::new();
        for update in done {
            if !record_in(&mut tx, &self.ctx, update, now).await? {
                missing.push(update.id());
            }
        }
        let claimed = match claim {
            Some(c) => {
                claim_in(
                    &mut tx,
                    &self.ctx,
                    c.worker,
                    now,
                    c.lease,
                    c.limit,
                    c.platforms,
                )
                .await?
            }
            None => Vec::new(),
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Settled { claimed, missing })
    }

    async fn outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.record_one(
            OutboxUpdate::Sent {
                id,
                platform_message_id: platform_message_id.map(str::to_string),
            },
            now,
        )
        .await
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        self.record_one(
            OutboxUpdate::Retry {
                id,
                next_attempt_at,
                error: error.to_string(),
            },
            next_attempt_at,
        )
        .await
    }

    async fn outbox_defer(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.record_one(
            OutboxUpdate::Defer {
                id,
                next_attempt_at,
                reason: reason.to_string(),
            },
            next_attempt_at,
        )
        .await
    }

    async fn outbox_dead(&self, id: i64, now: Timestamp, error: &str) -> Result<(), StoreError> {
        self.record_one(
            OutboxUpdate::Dead {
                id,
                error: error.to_string(),
            },
            now,
        )
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut stats = OutboxStats::default();
        for row in &rows {
            let row = Named(row, &self.ctx);
            let state = row.text("state")?;
            let n = u64::try_from(row.int("n")?).unwrap_or(0);
            match state.as_str() {
                "pending" => stats.pending = n,
                "sent" => stats.sent = n,
                "dead" => stats.dead = n,
                other => return Err(corrupt(format!("outbox: unknown state `{other}`"))),
            }
        }
        Ok(stats)
    }

    async fn next_outbox_due(
        &self,
        platforms: &[Platform],
    ) -> Result<Option<Timestamp>, StoreError> {
        // Only lane heads can be delivered next; a leased head is due when its lease ends.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(GREATEST(o.next_attempt_at, COALESCE(o.lease_until + 1, 0))) \
             FROM outbox o \
             JOIN (SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' GROUP BY lane) h \
               ON h.id = o.id \
             WHERE o.platform = ANY($1)",
        )
        .bind(platform_names(platforms))
        .fetch_one(&self.delivery)
        .await
        .map_err(|e| self.err(e))?;
        due.map(|v| from_ms(v, "outbox.next_attempt_at"))
            .transpose()
    }

    async fn set_thread_ref(
        &self,
        ticket: TicketNo,
        platform: Platform,
        chat_id: &str,
        thread_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO thread_refs (ticket, platform, chat_id, thread_id) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ticket, platform, chat_id) DO UPDATE SET thread_id = excluded.thread_id",
        )
        .bind(ticket.0)
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(thread_id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn thread_ref(
        &self,
        ticket: TicketNo,
        platform: Platform,
        chat_id: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT thread_id FROM thread_refs \
             WHERE ticket = $1 AND platform = $2 AND chat_id = $3",
        )
        .bind(ticket.0)
        .bind(platform.as_str())
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn thread_ticket(
        &self,
        platform: Platform,
        chat_id: &str,
        thread_id: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        let no: Option<i64> = sqlx::query_scalar(
            "SELECT ticket FROM thread_refs \
             WHERE platform = $1 AND chat_id = $2 AND thread_id = $3",
        )
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(no.map(TicketNo))
    }

    async fn mark_unreachable(
        &self,
        platform: Platform,
        chat_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        unreachable_in(&mut tx, &self.ctx, platform, chat_id, now).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn claim_due_timers(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueTimer>, StoreError> {
        let rows = sqlx::query(
            "WITH due AS ( \
                 SELECT id FROM timers \
                 WHERE state = 'pending' AND due_at <= $2 \
                   AND (lease_until IS NULL OR lease_until < $2 OR lease_owner = $1) \
                 ORDER BY due_at, id LIMIT $4 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE timers t SET lease_owner = $1, lease_until = $2 + $3 \
             FROM due WHERE t.id = due.id \
             RETURNING t.id, t.ticket, t.kind, t.due_at",
        )
        .bind(worker)
        .bind(ms(now))
        .bind(lease_ms(lease))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut timers = rows
            .iter()
            .map(|row| {
                let row = Named(row, &self.ctx);
                Ok(DueTimer {
                    id: row.int("id")?,
                    ticket: TicketNo(row.int("ticket")?),
                    kind: row.text("kind")?,
                    due_at: row.ts("due_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING gives no order guarantee.
        timers.sort_by_key(|t| (t.due_at, t.id));
        Ok(timers)
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(GREATEST(due_at, COALESCE(lease_until + 1, 0))) FROM timers \
             WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        due.map(|v| from_ms(v, "timers.due_at")).transpose()
    }

    async fn query_plans(
        &self,
        since: Timestamp,
        analyze: bool,
    ) -> Result<Vec<QueryPlan>, StoreError> {
        let explain = if analyze {
            "EXPLAIN (ANALYZE, BUFFERS)"
        } else {
            "EXPLAIN"
        };
        let since = ms(since);
        // The rated tickets' plan with a few numbers (the usual case: a handful of tickets
        // rated in the period but closed before it).
        let few: Vec<i64> = (1..=20).collect();
        let mut tx = self.facts_tx().await?;
        let mut out = Vec::new();
        for (name, sql) in [
            ("queue", queue_sql()),
            ("ratings", RATINGS_SQL.to_string()),
            ("ticket_facts", ticket_facts_sql()),
            ("rated_tickets", rated_tickets_sql()),
            ("faq_tallies", FAQ_TALLIES_SQL.to_string()),
        ] {
            let text = format!("{explain} {sql}");
            let query = sqlx::query_scalar(&text);
            let query = match name {
                "queue" => query.bind(i64::from(PLAN_QUEUE_LIMIT)),
                "rated_tickets" => query.bind(&few),
                "faq_tallies" => query
                    .bind(since)
                    .bind(super::facts::whole_hours_from(since)),
                _ => query.bind(since),
            };
            let lines: Vec<String> = query.fetch_all(&mut *tx).await.map_err(|e| self.err(e))?;
            out.push(QueryPlan {
                name,
                plan: lines.join("\n"),
            });
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        // Not in a transaction: VACUUM cannot run in one.
        sqlx::query(
            "VACUUM (ANALYZE) customers, tickets, ratings, faq_events, faq_stats, faq_tallies",
        )
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn ticket_facts(&self, since: Timestamp) -> Result<Vec<TicketFact>, StoreError> {
        Ok(self.read_facts(since, false).await?.0)
    }

    async fn faq_tallies(&self, since: Timestamp) -> Result<Vec<FaqTally>, StoreError> {
        Ok(self.read_facts(since, true).await?.1)
    }

    async fn metric_facts(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<TicketFact>, Vec<FaqTally>), StoreError> {
        self.read_facts(since, true).await
    }

    async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        let rows = sqlx::query("SELECT key, firing, value, changed_at FROM alert_states")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let named = Named(row, &self.ctx);
                Ok(AlertState {
                    key: named.text("key")?,
                    firing: named.flag("firing")?,
                    value: named.get("value")?,
                    changed_at: named.ts("changed_at")?,
                })
            })
            .collect()
    }

    async fn unanswered_questions(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Unanswered>, StoreError> {
        let rows = sqlx::query(
            "SELECT text, language, at FROM unanswered WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let named = Named(row, &self.ctx);
                Ok(Unanswered {
                    text: named.text("text")?,
                    language: named
                        .text("language")?
                        .parse()
                        .map_err(|e| corrupt(format!("unanswered: {e}")))?,
                    at: named.ts("at")?,
                })
            })
            .collect()
    }

    fn watch_work(&self, kind: WorkKind, waker: Arc<Notify>) {
        {
            let mut wakers = lock(&self.wakers);
            match kind {
                WorkKind::Outbox => wakers.outbox.push(waker),
                WorkKind::Timers => wakers.timers.push(waker),
            }
        }
        self.start_listener();
    }

    async fn try_lead(&self, role: &str) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        // A connection of its own, outside the pool: the session lock lives exactly as
        // long as it does, and a process that dies takes it with it.
        let mut conn = self.connect.connect().await.map_err(|e| self.err(e))?;
        // A holder cut off by the network must not keep the lock for the kernel's default
        // two hours: the server drops a silent session after about 6 s (3 s idle, then 3
        // probes 1 s apart; unsent data after 5 s). No effect on a Unix socket.
        for setting in [
            "SET tcp_keepalives_idle = 3",
            "SET tcp_keepalives_interval = 1",
            "SET tcp_keepalives_count = 3",
            "SET tcp_user_timeout = 5000",
        ] {
            if let Err(e) = sqlx::query(setting).execute(&mut conn).await {
                tracing::debug!(error = %e, setting, "postgres: leadership session setting refused");
            }
        }
        let key = format!("{LEADER_LOCK}{}:{role}", self.schema);
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LOCK_SPACE)
            .bind(&key)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        if !got {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Box::new(PgLeadership {
            conn: Some(conn),
            ctx: Arc::clone(&self.ctx),
        })))
    }

    async fn append_web_message(
        &self,
        chat: &str,
        text: &str,
        buttons: &[Vec<crate::domain::Button>],
        outbox_id: Option<i64>,
        ticket: Option<TicketNo>,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let buttons = serde_json::to_string(buttons)
            .map_err(|e| StoreError::Other(format!("web message buttons: {e}")))?;
        // One statement, so one transaction: the notification goes out at its commit.
        let added: Option<i64> = sqlx::query_scalar(
            "INSERT INTO web_messages (chat, text, buttons, outbox_id, ticket, at) \
             SELECT $1, $2, $3, $4, $5, $6 FROM (SELECT pg_notify($7, current_schema() || chr(10) || $1)) n \
             ON CONFLICT (outbox_id) DO NOTHING RETURNING id",
        )
        .bind(chat)
        .bind(text)
        .bind(buttons)
        .bind(outbox_id)
        .bind(ticket.map(|t| t.0))
        .bind(ms(now))
        .bind(WEB_CHANNEL)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        match added {
            Some(id) => Ok(id),
            None => sqlx::query_scalar("SELECT id FROM web_messages WHERE outbox_id = $1")
                .bind(outbox_id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e)),
        }
    }

    async fn web_messages(
        &self,
        chat: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebMessage>, StoreError> {
        let limit = i64::from(limit);
        let query = match after {
            Some(after) => sqlx::query(
                "SELECT id, chat, text, buttons, at FROM web_messages \
                 WHERE chat = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(chat)
            .bind(after)
            .bind(limit),
            // The latest ones, turned back into oldest first.
            None => sqlx::query(
                "SELECT id, chat, text, buttons, at FROM (SELECT id, chat, text, buttons, at \
                 FROM web_messages WHERE chat = $1 ORDER BY id DESC LIMIT $2) latest ORDER BY id",
            )
            .bind(chat)
            .bind(limit),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| rows::web_message_from(&Named(r, &self.ctx)))
            .collect()
    }

    fn watch_web_messages(&self, watcher: WebMessageWatcher) {
        lock(&self.wakers).web.push(watcher);
        self.start_listener();
    }

    async fn start_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(ms(session.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, operator, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(&session.operator)
        .bind(&session.csrf)
        .bind(ms(session.created_at))
        .bind(ms(session.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn console_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        sqlx::query(
            "SELECT id_hash, operator, csrf, created_at, expires_at FROM console_sessions \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| rows::console_session_from(&Named(&r, &self.ctx)))
        .transpose()
    }

    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn prune(&self, before: &PruneBefore, limit: u32) -> Result<Pruned, StoreError> {
        let mut counts = [0u64; 5];
        for ((count, sql), cutoff) in counts.iter_mut().zip(PRUNE_SQL).zip(before.cutoffs_ms()) {
            *count = sqlx::query(sql)
                .bind(cutoff)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .rows_affected();
        }
        let mut pruned = Pruned::from_counts(counts);
        if let Some(closed) = before.closed_tickets {
            pruned.ticket_texts = self.erase_closed_tickets(closed, before.now, limit).await?;
        }
        Ok(pruned)
    }

    async fn erase_customer(
        &self,
        platform: Platform,
        user_id: &str,
        now: Timestamp,
    ) -> Result<Erasure, StoreError> {
        let ctx = &self.ctx;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let found = sqlx::query(
            "SELECT id, chat_id FROM customers WHERE platform = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(platform.as_str())
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = found else {
            return Ok(Erasure::NoSuchCustomer);
        };
        let id: i64 = Named(&row, ctx).get("id")?;
        let chat_id: String = Named(&row, ctx).get("chat_id")?;
        // Locked, so that no agent reopens one while it is erased.
        let tickets: Vec<(i64, String)> = sqlx::query_as(
            "SELECT number, state FROM tickets WHERE customer = $1 ORDER BY number FOR UPDATE",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let numbers = match erase::closed_only(tickets) {
            Ok(numbers) => numbers,
            Err(open) => return Ok(Erasure::OpenTickets(open)),
        };
        let mut erased = Erased::new(id);
        let chat = ChatAddress::new(platform, chat_id.clone());
        let erased_chat = erase::erased_id(id);
        let readdress = Some((&chat, erased_chat.as_str()));
        erase_tickets_in(&mut tx, ctx, &numbers, readdress, now, &mut erased).await?;
        for step in erase::customer_steps(rows::Dialect::Postgres, id, platform, &chat_id, ms(now))
        {
            run_erase_step(&mut tx, ctx, step, &[], &mut erased).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Erasure::Erased(erased))
    }

    async fn replica_heartbeat(
        &self,
        id: &str,
        now: Timestamp,
        alive_since: Timestamp,
    ) -> Result<u32, StoreError> {
        let forgotten = ms(alive_since) - REPLICA_FORGOTTEN_AFTER_MS;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query(
            "INSERT INTO replicas (id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(forgotten)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE seen_at >= $1")
            .bind(ms(alive_since))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(u32::try_from(alive).unwrap_or(u32::MAX).max(1))
    }

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }
}

/// How long a holder's check of its session may take before it counts the role as lost
/// (see [`crate::leader::LeaderConfig`]'s grace).
const LEADERSHIP_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Leadership held through a session advisory lock on a dedicated connection.
struct PgLeadership {
    conn: Option<PgConnection>,
    ctx: Arc<Ctx>,
}

#[async_trait]
impl Leadership for PgLeadership {
    async fn still_held(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        // The lock lives as long as the session: a session that still answers holds it.
        let alive = tokio::time::timeout(LEADERSHIP_CHECK_TIMEOUT, conn.ping()).await;
        match alive {
            Ok(Ok(())) => true,
            other => {
                tracing::warn!(database = %self.ctx.name, ?other, "postgres: leadership connection lost");
                self.conn = None;
                false
            }
        }
    }

    async fn release(mut self: Box<Self>) {
        if let Some(conn) = self.conn.take() {
            // Closing the session releases the lock.
            let _ = tokio::time::timeout(Duration::from_secs(3), conn.close()).await;
        }
    }
}

impl PgStore {
    async fn record_one(&self, update: OutboxUpdate, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.delivery.begin().await.map_err(|e| self.err(e))?;
        if !record_in(&mut tx, &self.ctx, &update, now).await? {
            return Err(StoreError::NotFound(format!("outbox item {}", update.id())));
        }
        tx.commit().await.map_err(|e| self.err(e))
    }
}

/// Erases the texts of tickets `numbers` in `tx` ([`erase::ticket_steps`]) and rewrites
/// their outbox items, readdressing those to the customer's chat with `readdress`.
async fn erase_tickets_in(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &Ctx,
    numbers: &[i64],
    readdress: Option<(&ChatAddress, &str)>,
    now: Timestamp,
    erased: &mut Erased,
) -> Result<(), StoreError> {
    let (platform, chat) = readdress.map_or((String::new(), String::new()), |(c, _)| {
        (c.platform.as_str().to_string(), c.chat_id.clone())
    });
    let items: Vec<erase::OutboxRow> =
        sqlx::query_as(&erase::outbox_rows_sql(rows::Dialect::Postgres))
            .bind(numbers)
            .bind(platform)
            .bind(chat)
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| map_err(ctx, e))?;
    let update = erase::outbox_update_sql(rows::Dialect::Postgres);
    for (id, new) in erase::rewrite_rows(items, readdress) {
        sqlx::query(&update)
            .bind(new.payload)
            .bind(new.lane)
            .bind(new.chat_id)
            .bind(i64::from(new.dead))
            .bind(ms(now))
            .bind(erase::ERASED_ERROR)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|e| map_err(ctx, e))?;
        erased.outbox += 1;
    }
    for step in erase::ticket_steps(rows::Dialect::Postgres, ms(now)) {
        run_erase_step(tx, ctx, step, numbers, erased).await?;
    }
    Ok(())
}

/// Runs one statement of an erasure (`list`: the ticket numbers) and counts it.
async fn run_erase_step(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &Ctx,
    step: erase::Step,
    list: &[i64],
    erased: &mut Erased,
) -> Result<(), StoreError> {
    let mut query = sqlx::query(&step.sql);
    if step.list {
        query = query.bind(list);
    }
    for bind in step.binds {
        query = match bind {
            rows::Bind::Int(v) => query.bind(v),
            rows::Bind::Text(v) => query.bind(v),
        };
    }
    let rows = query
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(ctx, e))?
        .rows_affected();
    erased.count(step.counted, rows);
    Ok(())
}

async fn unreachable_in(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &Ctx,
    platform: Platform,
    chat_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE customers SET unreachable = TRUE, updated_at = $3 \
         WHERE platform = $1 AND chat_id = $2",
    )
    .bind(platform.as_str())
    .bind(chat_id)
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(ctx, e))?;
    sqlx::query(
        "UPDATE outbox SET state = 'dead', dead_at = $3, last_error = $4, \
         lease_owner = NULL, lease_until = NULL \
         WHERE state = 'pending' AND platform = $1 AND chat_id = $2",
    )
    .bind(platform.as_str())
    .bind(chat_id)
    .bind(ms(now))
    .bind(UNREACHABLE_REASON)
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(ctx, e))?;
    Ok(())
}

/// Claims lane heads inside `tx` (see [`Store::claim_outbox`]). `SKIP LOCKED`: a head
/// another replica is claiming or settling right now is left to it, never waited for;
/// the row's own conditions are re-checked on the latest version once locked, so a head
/// settled meanwhile is not claimed again.
async fn claim_in(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &Ctx,
    worker: &str,
    now: Timestamp,
    lease: Duration,
    limit: u32,
    platforms: &[Platform],
) -> Result<Vec<OutboxItem>, StoreError> {
    let rows = sqlx::query(
        "WITH heads AS ( \
             SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' GROUP BY lane), \
         picked AS ( \
             SELECT o.id FROM outbox o JOIN heads h ON h.id = o.id \
             WHERE o.state = 'pending' AND o.next_attempt_at <= $2 \
               AND (o.lease_until IS NULL OR o.lease_until < $2) \
               AND o.platform = ANY($5) \
             ORDER BY o.next_attempt_at, o.id \
             LIMIT $4 \
             FOR UPDATE OF o SKIP LOCKED) \
         UPDATE outbox SET lease_owner = $1, lease_until = $2 + $3 \
         FROM picked WHERE outbox.id = picked.id \
         RETURNING outbox.id, outbox.payload, outbox.attempts, outbox.created_at",
    )
    .bind(worker)
    .bind(ms(now))
    .bind(lease_ms(lease))
    .bind(i64::from(limit))
    .bind(platform_names(platforms))
    .fetch_all(&mut **tx)
    .await
    .map_err(|e| map_err(ctx, e))?;

    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let row = Named(row, ctx);
        let id = row.int("id")?;
        let parsed = row
            .text("payload")
            .map_err(|e| e.to_string())
            .and_then(|payload| {
                serde_json::from_str::<Outbound>(&payload).map_err(|e| e.to_string())
            })
            .and_then(|message| {
                let attempts = row.int("attempts").map_err(|e| e.to_string())?;
                let created_at = row.ts("created_at").map_err(|e| e.to_string())?;
                Ok(OutboxItem {
                    id,
                    message,
                    attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
                    created_at,
                })
            });
        match parsed {
            Ok(item) => items.push(item),
            Err(e) => {
                // A row nobody can deliver must not block its lane (or the worker)
                // forever: dead-letter it where people will see it.
                tracing::error!(outbox_id = id, error = %e, "corrupt outbox row dead-lettered");
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', dead_at = $2, last_error = $3, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(ms(now))
                .bind(format!("corrupt payload: {e}"))
                .execute(&mut **tx)
                .await
                .map_err(|e| map_err(ctx, e))?;
            }
        }
    }
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Applies one delivery outcome inside `tx`; false when the row does not exist.
async fn record_in(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &Ctx,
    update: &OutboxUpdate,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let query = match update {
        // Unconditional: even a row dead-lettered meanwhile was in fact delivered.
        OutboxUpdate::Sent {
            id,
            platform_message_id,
        } => sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $2, platform_message_id = $3, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1",
        )
        .bind(*id)
        .bind(ms(now))
        .bind(platform_message_id.as_deref()),
        // Only a pending row: one dead-lettered meanwhile (mark_unreachable) stays dead.
        OutboxUpdate::Retry {
            id,
            next_attempt_at,
            error: text,
        }
        | OutboxUpdate::Defer {
            id,
            next_attempt_at,
            reason: text,
        } => sqlx::query(
            "UPDATE outbox SET attempts = attempts + $2, next_attempt_at = $3, last_error = $4, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(*id)
        .bind(i64::from(matches!(update, OutboxUpdate::Retry { .. })))
        .bind(ms(*next_attempt_at))
        .bind(text.as_str()),
        OutboxUpdate::Dead { id, error } => sqlx::query(
            "UPDATE outbox SET state = 'dead', dead_at = $2, last_error = $3, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1 AND state <> 'sent'",
        )
        .bind(*id)
        .bind(ms(now))
        .bind(error.as_str()),
        OutboxUpdate::Unreachable {
            platform, chat_id, ..
        } => {
            unreachable_in(tx, ctx, *platform, chat_id, now).await?;
            return Ok(true);
        }
    };
    let done = query
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(ctx, e))?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    // Nothing changed: a row in another state (kept as it is) or no row at all.
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE id = $1")
        .bind(update.id())
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| map_err(ctx, e))?;
    Ok(exists.is_some())
}

// ---------------------------------------------------------------------------------------
// Tx

/// A unit of work: one PostgreSQL transaction; dropped without commit, it rolls back.
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
    ctx: Arc<Ctx>,
}

impl PgTx {
    /// Counts the customer's answers of the last [`super::facts::followed_window_ms`]
    /// as followed by a ticket created `now` (each answer once), hour by hour in order.
    async fn mark_followed(
        &mut self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let marked: Vec<(i64, String)> = sqlx::query_as(MARK_FOLLOWED_SQL)
            .bind(customer.0)
            .bind(ms(now))
            .bind(super::facts::followed_window_ms())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        for ((hour, entry), n) in rows::count_each(marked) {
            sqlx::query(FOLLOWED_TALLY_SQL)
                .bind(hour)
                .bind(entry)
                .bind(customer.0)
                .bind(n)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| map_err(&self.ctx, e))?;
        }
        Ok(())
    }

    async fn fetch_tickets(
        &mut self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<Ticket>, StoreError> {
        let rows = query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        tickets(&rows, &self.ctx)
    }

    async fn fetch_ticket(
        &mut self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Option<Ticket>, StoreError> {
        Ok(self.fetch_tickets(query).await?.into_iter().next())
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn record_inbound(&mut self, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        // A concurrent unit with the same key waits here until that one ends: committed,
        // this one sees the conflict; rolled back, this one inserts.
        let done = sqlx::query(
            "INSERT INTO inbound_keys (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_customer(
        &mut self,
        who: &CustomerIdentity,
        vip: bool,
        now: Timestamp,
    ) -> Result<Customer, StoreError> {
        // Also locks the customer row until commit: a customer's units run one at a time
        // on every replica (no two "first" tickets for one customer).
        let row = sqlx::query(&format!(
            "INSERT INTO customers \
                 (platform, user_id, chat_id, display_name, language, vip, unreachable, \
                  created_at, updated_at) \
             VALUES ($1, $2, $3, $4, COALESCE($5, 'en'), $6, FALSE, $7, $7) \
             ON CONFLICT (platform, user_id) DO UPDATE SET \
                 chat_id = excluded.chat_id, \
                 display_name = excluded.display_name, \
                 language = COALESCE($5, customers.language), \
                 vip = excluded.vip, \
                 unreachable = FALSE, \
                 updated_at = excluded.updated_at \
             RETURNING {CUSTOMER_COLUMNS}"
        ))
        .bind(who.platform.as_str())
        .bind(&who.user_id)
        .bind(&who.chat_id)
        .bind(&who.display_name)
        .bind(who.language.map(Language::as_str))
        .bind(vip)
        .bind(ms(now))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        rows::customer_from(&Named(&row, &self.ctx))
    }

    async fn active_ticket(&mut self, customer: CustomerId) -> Result<Option<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets \
             WHERE customer = $1 AND state <> 'closed' ORDER BY number DESC LIMIT 1 FOR UPDATE"
        );
        self.fetch_ticket(sqlx::query(&sql).bind(customer.0)).await
    }

    async fn customer_tickets(
        &mut self,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE customer = $1 \
             ORDER BY number DESC LIMIT $2"
        );
        self.fetch_tickets(sqlx::query(&sql).bind(customer.0).bind(i64::from(limit)))
            .await
    }

    async fn ticket(&mut self, no: TicketNo) -> Result<Option<Ticket>, StoreError> {
        // Locked until commit: the unit that read it writes it back without a lost update.
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1 FOR UPDATE");
        self.fetch_ticket(sqlx::query(&sql).bind(no.0)).await
    }

    async fn create_ticket(&mut self, new: &NewTicket) -> Result<Ticket, StoreError> {
        // The counter row stays locked until this unit ends; a rollback undoes the
        // increment, so numbers are unique and gap-free across replicas.
        let number: i64 = sqlx::query_scalar(
            "WITH n AS (UPDATE ticket_counter SET last = last + 1 RETURNING last) \
             INSERT INTO tickets \
                 (number, customer, state, category, priority, department, assignee, subject, \
                  created_at, updated_at, first_response_due, resolution_due) \
             SELECT n.last, $1, 'new', $2, $3, $4, NULL, $5, $6, $6, $7, $8 FROM n \
             RETURNING number",
        )
        .bind(new.customer.0)
        .bind(new.category.as_str())
        .bind(new.priority.as_str())
        .bind(&new.department)
        .bind(&new.subject)
        .bind(ms(new.now))
        .bind(ms(new.first_response_due))
        .bind(ms(new.resolution_due))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        self.mark_followed(new.customer, new.now).await?;
        let at = |t: Timestamp| from_ms(ms(t), "tickets");
        Ok(Ticket {
            no: TicketNo(number),
            customer: new.customer,
            state: TicketState::New,
            category: new.category,
            priority: new.priority,
            department: new.department.clone(),
            assignee: None,
            subject: new.subject.clone(),
            // Returned as it will read back: millisecond precision.
            created_at: at(new.now)?,
            updated_at: at(new.now)?,
            first_response_due: at(new.first_response_due)?,
            resolution_due: at(new.resolution_due)?,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            waiting_since: None,
            reopens: 0,
            agent_replies: 0,
        })
    }

    async fn save_ticket(&mut self, ticket: &Ticket) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE tickets SET state = $2, category = $3, priority = $4, department = $5, \
                 assignee = $6, subject = $7, updated_at = $8, first_response_due = $9, \
                 resolution_due = $10, first_response_at = $11, resolved_at = $12, \
                 closed_at = $13, waiting_since = $14, reopens = $15, agent_replies = $16, \
                 erased_at = CASE WHEN $2 = 'closed' THEN erased_at ELSE NULL END \
             WHERE number = $1",
        )
        .bind(ticket.no.0)
        .bind(ticket.state.as_str())
        .bind(ticket.category.as_str())
        .bind(ticket.priority.as_str())
        .bind(&ticket.department)
        .bind(ticket.assignee.as_deref())
        .bind(&ticket.subject)
        .bind(ms(ticket.updated_at))
        .bind(ms(ticket.first_response_due))
        .bind(ms(ticket.resolution_due))
        .bind(ticket.first_response_at.map(ms))
        .bind(ticket.resolved_at.map(ms))
        .bind(ticket.closed_at.map(ms))
        .bind(ticket.waiting_since.map(ms))
        .bind(i64::from(ticket.reopens))
        .bind(i64::from(ticket.agent_replies))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("ticket {}", ticket.no)));
        }
        Ok(())
    }

    async fn import_history(
        &mut self,
        tickets: &[PastTicket],
        faq: &[PastFaqEvent],
    ) -> Result<Vec<TicketNo>, StoreError> {
        let ctx = Arc::clone(&self.ctx);
        let err = |e| map_err(&ctx, e);
        let n = i64::try_from(tickets.len())
            .map_err(|_| StoreError::Other("too many tickets in one import".into()))?;
        // The counter row is locked until commit, as by create_ticket: numbers stay
        // unique and gap-free across replicas.
        let last: i64 =
            sqlx::query_scalar("UPDATE ticket_counter SET last = last + $1 RETURNING last")
                .bind(n)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(err)?;
        let numbers: Vec<i64> = (last - n + 1..=last).collect();
        // Column arrays, one statement (UNNEST): a round trip per row would take hours for
        // a million tickets.
        let t: Vec<&Ticket> = tickets.iter().map(|p| &p.ticket).collect();
        let col_i = |f: &dyn Fn(&Ticket) -> i64| t.iter().map(|t| f(t)).collect::<Vec<i64>>();
        let col_o = |f: &dyn Fn(&Ticket) -> Option<i64>| {
            t.iter().map(|t| f(t)).collect::<Vec<Option<i64>>>()
        };
        sqlx::query(
            "INSERT INTO tickets \
                 (number, customer, state, category, priority, department, assignee, subject, \
                  created_at, updated_at, first_response_due, resolution_due, \
                  first_response_at, resolved_at, closed_at, waiting_since, reopens, \
                  agent_replies) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], \
                 $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], \
                 $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], \
                 $16::BIGINT[], $17::BIGINT[], $18::BIGINT[])",
        )
        .bind(&numbers)
        .bind(col_i(&|t| t.customer.0))
        .bind(t.iter().map(|t| t.state.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.category.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.priority.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.department.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.assignee.as_deref()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.subject.as_str()).collect::<Vec<_>>())
        .bind(col_i(&|t| ms(t.created_at)))
        .bind(col_i(&|t| ms(t.updated_at)))
        .bind(col_i(&|t| ms(t.first_response_due)))
        .bind(col_i(&|t| ms(t.resolution_due)))
        .bind(col_o(&|t| t.first_response_at.map(ms)))
        .bind(col_o(&|t| t.resolved_at.map(ms)))
        .bind(col_o(&|t| t.closed_at.map(ms)))
        .bind(col_o(&|t| t.waiting_since.map(ms)))
        .bind(col_i(&|t| i64::from(t.reopens)))
        .bind(col_i(&|t| i64::from(t.agent_replies)))
        .execute(&mut *self.tx)
        .await
        .map_err(err)?;
        let rated: Vec<(i64, &PastTicket)> = numbers
            .iter()
            .zip(tickets)
            .filter(|(_, p)| p.rating.is_some())
            .map(|(&no, p)| (no, p))
            .collect();
        if !rated.is_empty() {
            sqlx::query(
                "INSERT INTO ratings (ticket, customer, score, at) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::SMALLINT[], $4::BIGINT[])",
            )
            .bind(rated.iter().map(|(no, _)| *no).collect::<Vec<_>>())
            .bind(
                rated
                    .iter()
                    .map(|(_, p)| p.ticket.customer.0)
                    .collect::<Vec<_>>(),
            )
            .bind(
                rated
                    .iter()
                    .map(|(_, p)| p.rating.map_or(0, |r| i16::from(r.0)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rated
                    .iter()
                    .map(|(_, p)| p.rating.map_or(0, |r| ms(r.1)))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *self.tx)
            .await
            .map_err(err)?;
        }
        if !faq.is_empty() {
            sqlx::query(
                "INSERT INTO faq_events (customer, entry_id, kind, at) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[])",
            )
            .bind(faq.iter().map(|e| e.customer.0).collect::<Vec<_>>())
            .bind(faq.iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>())
            .bind(faq.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(faq.iter().map(|e| ms(e.at)).collect::<Vec<_>>())
            .execute(&mut *self.tx)
            .await
            .map_err(err)?;
            let totals = rows::faq_totals(faq);
            sqlx::query(
                "INSERT INTO faq_stats (entry_id, shown, helped, escalated, updated_at) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], \
                                      $5::BIGINT[]) \
                 ON CONFLICT (entry_id) DO UPDATE SET \
                     shown = faq_stats.shown + excluded.shown, \
                     helped = faq_stats.helped + excluded.helped, \
                     escalated = faq_stats.escalated + excluded.escalated, \
                     updated_at = GREATEST(faq_stats.updated_at, excluded.updated_at)",
            )
            .bind(totals.iter().map(|t| t.0.as_str()).collect::<Vec<_>>())
            .bind(totals.iter().map(|t| t.1).collect::<Vec<_>>())
            .bind(totals.iter().map(|t| t.2).collect::<Vec<_>>())
            .bind(totals.iter().map(|t| t.3).collect::<Vec<_>>())
            .bind(totals.iter().map(|t| t.4).collect::<Vec<_>>())
            .execute(&mut *self.tx)
            .await
            .map_err(err)?;
        }
        if let Some((from, to)) = rows::tally_hours(tickets, faq) {
            for (i, sql) in REFRESH_TALLIES_SQL.into_iter().enumerate() {
                let query = sqlx::query(sql).bind(from).bind(to);
                let query = match i {
                    0 => query.bind(super::facts::followed_window_ms()),
                    _ => query,
                };
                query.execute(&mut *self.tx).await.map_err(err)?;
            }
        }
        Ok(numbers.into_iter().map(TicketNo).collect())
    }

    async fn add_message(&mut self, message: &TicketMessage) -> Result<(), StoreError> {
        let attachments = serde_json::to_string(&message.attachments)
            .map_err(|e| StoreError::Other(format!("attachments cannot be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO ticket_messages (ticket, direction, author, text, attachments, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(message.ticket.0)
        .bind(message.direction.as_str())
        .bind(&message.author)
        .bind(&message.text)
        .bind(attachments)
        .bind(ms(message.at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn add_event(&mut self, event: &TicketEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ticket_events (ticket, kind, actor, detail, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(event.ticket.0)
        .bind(&event.kind)
        .bind(&event.actor)
        .bind(&event.detail)
        .bind(ms(event.at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn enqueue(&mut self, message: &Outbound, now: Timestamp) -> Result<(), StoreError> {
        let payload = serde_json::to_string(message)
            .map_err(|e| StoreError::Other(format!("outbound message cannot be encoded: {e}")))?;
        // The lane lock (held to commit) makes ids of one lane follow commit order, so a
        // later message can never become visible before an earlier one of its chat. The
        // notification is sent at commit, to every replica's LISTEN connection.
        sqlx::query(
            "INSERT INTO outbox (lane, platform, chat_id, payload, ticket, state, attempts, \
                                 next_attempt_at, created_at) \
             SELECT $1, $2, $3, $4, $5, 'pending', 0, $6, $6 \
             FROM (SELECT pg_advisory_xact_lock($7, hashtext($1)), \
                          pg_notify($8, current_schema())) AS turn",
        )
        .bind(message.to.lane())
        .bind(message.to.platform.as_str())
        .bind(&message.to.chat_id)
        .bind(payload)
        .bind(message.ticket.map(|t| t.0))
        .bind(ms(now))
        .bind(LOCK_SPACE)
        .bind(OUTBOX_CHANNEL)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn record_faq_feedback(
        &mut self,
        customer: CustomerId,
        entry_id: &str,
        feedback: FaqFeedback,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // An answer can follow its customer's ticket of the same moment.
        let followed: i16 = sqlx::query_scalar(
            "INSERT INTO faq_events (customer, entry_id, kind, at, followed) \
             VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'shown' AND EXISTS ( \
                 SELECT 1 FROM tickets WHERE customer = $1 \
                   AND created_at >= $4 AND created_at <= $4 + $5) THEN 1 ELSE 0 END) \
             RETURNING followed",
        )
        .bind(customer.0)
        .bind(entry_id)
        .bind(feedback.as_str())
        .bind(ms(now))
        .bind(super::facts::followed_window_ms())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        sqlx::query(
            "INSERT INTO faq_tallies (hour, entry_id, platform, kind, count, followed) \
             SELECT $1 - $1 % 3600000, $2, platform, $3, 1, $4 FROM customers WHERE id = $5 \
             ON CONFLICT (hour, entry_id, platform, kind) DO UPDATE SET \
                 count = faq_tallies.count + 1, \
                 followed = faq_tallies.followed + excluded.followed",
        )
        .bind(ms(now))
        .bind(entry_id)
        .bind(feedback.as_str())
        .bind(i64::from(followed))
        .bind(customer.0)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        let (shown, helped, escalated) = feedback_counts(feedback);
        sqlx::query(
            "INSERT INTO faq_stats (entry_id, shown, helped, escalated, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (entry_id) DO UPDATE SET \
                 shown = faq_stats.shown + excluded.shown, \
                 helped = faq_stats.helped + excluded.helped, \
                 escalated = faq_stats.escalated + excluded.escalated, \
                 updated_at = excluded.updated_at",
        )
        .bind(entry_id)
        .bind(shown)
        .bind(helped)
        .bind(escalated)
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn remember_question(
        &mut self,
        customer: CustomerId,
        text: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE customers SET last_question = $1, last_question_at = $2 WHERE id = $3")
            .bind(text)
            .bind(ms(now))
            .bind(customer.0)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn last_question(&mut self, customer: CustomerId) -> Result<Option<String>, StoreError> {
        let row: Option<Option<String>> =
            sqlx::query_scalar("SELECT last_question FROM customers WHERE id = $1")
                .bind(customer.0)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| map_err(&self.ctx, e))?;
        Ok(row.flatten())
    }

    async fn record_unanswered(
        &mut self,
        customer: CustomerId,
        text: &str,
        language: Language,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO unanswered (customer, text, language, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(customer.0)
        .bind(text)
        .bind(language.as_str())
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        .map(|r| rows::customer_from(&Named(&r, &self.ctx)))
        .transpose()
    }

    async fn recent_messages(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketMessage>, StoreError> {
        let mut messages = sqlx::query(
            "SELECT ticket, direction, author, text, attachments, at \
             FROM ticket_messages WHERE ticket = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(ticket.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        .iter()
        .map(|r| rows::message_from(&Named(r, &self.ctx)))
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    async fn recent_events(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        let mut events = sqlx::query(
            "SELECT ticket, kind, actor, detail, at FROM ticket_events \
             WHERE ticket = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(ticket.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        .iter()
        .map(|r| rows::event_from(&Named(r, &self.ctx)))
        .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    async fn queue(&mut self, limit: u32) -> Result<Vec<Ticket>, StoreError> {
        // Same expression and predicate as the `tickets_queue` index: an ordered index
        // scan that stops after `limit` rows, however many tickets there are.
        self.fetch_tickets(sqlx::query(&queue_sql()).bind(i64::from(limit)))
            .await
    }

    async fn tickets_assigned_to(
        &mut self,
        assignee: &str,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets \
             WHERE assignee = $1 AND state <> 'closed' \
             ORDER BY {URGENCY}, number LIMIT $2"
        );
        self.fetch_tickets(sqlx::query(&sql).bind(assignee).bind(i64::from(limit)))
            .await
    }

    async fn find_tickets(&mut self, text: &str, limit: u32) -> Result<Vec<Ticket>, StoreError> {
        // strpos() instead of LIKE: the agent's text is matched literally (no wildcards).
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t \
             WHERE strpos(lower(t.subject), lower($1)) > 0 \
                OR EXISTS (SELECT 1 FROM ticket_messages m \
                           WHERE m.ticket = t.number AND strpos(lower(m.text), lower($1)) > 0) \
             ORDER BY t.number DESC LIMIT $2"
        );
        self.fetch_tickets(sqlx::query(&sql).bind(text).bind(i64::from(limit)))
            .await
    }

    async fn record_rating(&mut self, rating: &Rating) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO ratings (ticket, customer, score, comment, at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket) DO NOTHING",
        )
        .bind(rating.ticket.0)
        .bind(rating.customer.0)
        .bind(i16::from(rating.score))
        .bind(rating.comment.as_deref())
        .bind(ms(rating.at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn comment_rating(
        &mut self,
        customer: CustomerId,
        since: Timestamp,
        comment: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        let ticket: Option<i64> = sqlx::query_scalar(
            "UPDATE ratings SET comment = $3 \
             WHERE ticket = (SELECT ticket FROM ratings \
                             WHERE customer = $1 AND at >= $2 AND comment IS NULL \
                             ORDER BY at DESC, ticket DESC LIMIT 1 FOR UPDATE) \
             RETURNING ticket",
        )
        .bind(customer.0)
        .bind(ms(since))
        .bind(comment)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        if let Some(no) = ticket {
            // Retention erases the ticket's texts again, this comment included.
            sqlx::query("UPDATE tickets SET erased_at = NULL WHERE number = $1")
                .bind(no)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| map_err(&self.ctx, e))?;
        }
        Ok(ticket.map(TicketNo))
    }

    async fn rating(&mut self, ticket: TicketNo) -> Result<Option<Rating>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT ticket, customer, score::BIGINT AS score, comment, at \
             FROM ratings WHERE ticket = $1",
        )
        .bind(ticket.0)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        else {
            return Ok(None);
        };
        let row = Named(&row, &self.ctx);
        Ok(Some(Rating {
            ticket: TicketNo(row.int("ticket")?),
            customer: CustomerId(row.int("customer")?),
            score: rows::score_from(ticket, row.int("score")?)?,
            comment: row.opt_text("comment")?,
            at: row.ts("at")?,
        }))
    }

    async fn set_desk_thread(
        &mut self,
        ticket: TicketNo,
        address: &ChatAddress,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(address)
            .map_err(|e| StoreError::Other(format!("desk address cannot be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO desk_threads (ticket, address) VALUES ($1, $2) \
             ON CONFLICT (ticket) DO UPDATE SET address = excluded.address",
        )
        .bind(ticket.0)
        .bind(json)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn desk_thread(&mut self, ticket: TicketNo) -> Result<Option<ChatAddress>, StoreError> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT address FROM desk_threads WHERE ticket = $1")
                .bind(ticket.0)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| map_err(&self.ctx, e))?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("desk thread of {ticket} is not valid JSON: {e}")))
        })
        .transpose()
    }

    async fn schedule_timer(
        &mut self,
        ticket: TicketNo,
        kind: &str,
        due_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE ticket = $1 AND kind = $2 AND state = 'pending'",
        )
        .bind(ticket.0)
        .bind(kind)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        // Idle SLA workers re-read when the next timer is due.
        sqlx::query(
            "INSERT INTO timers (ticket, kind, due_at, state, created_at) \
             SELECT $1, $2, $3, 'pending', $4 FROM (SELECT pg_notify($5, current_schema())) n",
        )
        .bind(ticket.0)
        .bind(kind)
        .bind(ms(due_at))
        .bind(ms(now))
        .bind(TIMERS_CHANNEL)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn cancel_timers(&mut self, ticket: TicketNo, kinds: &[&str]) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE ticket = $1 AND state = 'pending' AND kind = ANY($2)",
        )
        .bind(ticket.0)
        .bind(kinds)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(done.rows_affected())
    }

    async fn fire_timer(
        &mut self,
        id: i64,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        // Ticket first, then timer: the order every other unit locks them in.
        sqlx::query(
            "SELECT 1 FROM tickets WHERE number = (SELECT ticket FROM timers WHERE id = $1) \
             FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        let done = sqlx::query(
            "UPDATE timers SET state = 'fired', fired_at = $3, lease_owner = NULL, \
             lease_until = NULL \
             WHERE id = $1 AND state = 'pending' \
               AND (lease_owner = $2 OR lease_until IS NULL OR lease_until < $3)",
        )
        .bind(id)
        .bind(worker)
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_alert_state(&mut self, state: &AlertState) -> Result<bool, StoreError> {
        if !state.firing {
            // Nothing stored means "not firing": only an existing firing row can clear.
            let done = sqlx::query(
                "UPDATE alert_states SET firing = FALSE, value = $2, changed_at = $3 \
                 WHERE key = $1 AND firing",
            )
            .bind(&state.key)
            .bind(state.value)
            .bind(ms(state.changed_at))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
            return Ok(done.rows_affected() == 1);
        }
        let done = sqlx::query(
            "INSERT INTO alert_states (key, firing, value, changed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET firing = excluded.firing, value = excluded.value, \
                 changed_at = excluded.changed_at \
             WHERE alert_states.firing <> excluded.firing",
        )
        .bind(&state.key)
        .bind(state.firing)
        .bind(state.value)
        .bind(ms(state.changed_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let PgTx { tx, ctx } = *self;
        tx.commit().await.map_err(|e| map_err(&ctx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_are_unavailable_and_name_the_database() {
        let ctx = Ctx {
            name: "postgres://db:5432/x".into(),
        };
        let e = map_err(&ctx, sqlx::Error::PoolTimedOut);
        assert!(
            matches!(e, StoreError::Unavailable(ref m) if m.contains("db:5432")),
            "{e}"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            map_err(&ctx, sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map_err(&ctx, sqlx::Error::RowNotFound),
            StoreError::NotFound(_)
        ));
    }
}
