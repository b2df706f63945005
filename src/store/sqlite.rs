//! SQLite implementation of the store (embedded, WAL).
//!
//! Owns the connection pool, the embedded migrations (`migrations/sqlite`) and every SQL
//! statement for SQLite. Timestamps are stored as INTEGER unix milliseconds, so values
//! read back are truncated to the millisecond. Never calls a platform and never logs
//! message text.
//!
//! Writers: every unit of work (and every outbox update) starts with `BEGIN IMMEDIATE`,
//! so it holds SQLite's write lock from its first statement and never fails on a lock
//! upgrade. Inside one process writers also queue on an async mutex first: waiting there
//! is fair and wakes at once, instead of SQLite's sleeping busy handler. Other processes
//! (a second replica, the CLI) are kept apart by SQLite itself within `busy_timeout`.
//!
//! WAL checkpoints of a file database run in a background task of the store, so no unit
//! of work pays for one while it holds the writer turn.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::erase::{self, Erased, Erasure};
use super::rows::{
    self, corrupt, feedback_counts, from_ms, ms, Cols, CUSTOMER_COLUMNS, TICKET_COLUMNS, URGENCY,
};
use super::REPLICA_FORGOTTEN_AFTER_MS;
use super::{
    AlertState, ConsoleSession, DueTimer, FaqFeedback, ListedTicket, NewTicket, OutboxClaim,
    OutboxItem, OutboxStats, OutboxUpdate, PastFaqEvent, PastTicket, PruneBefore, Pruned,
    QueryPlan, Rating, Settled, Store, StoreError, TicketDetails, TicketEvent, TicketFilter,
    TicketMessage, Tx, Unanswered, WebMessage,
};
use crate::domain::{
    ChatAddress, Customer, CustomerId, CustomerIdentity, Language, Outbound, Platform, Ticket,
    TicketNo, TicketState, Timestamp,
};
use crate::metrics::{FaqTally, TicketFact};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub use super::rows::UNREACHABLE_REASON;

/// Tuning for [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a writer waits for the write lock held by another connection or process
    /// before giving up with [`StoreError::ReadOnly`].
    pub busy_timeout: Duration,
    /// Pool size for file databases (readers run in parallel under WAL). In-memory
    /// databases always use one connection: each connection would otherwise be a
    /// separate database or fight over shared-cache table locks.
    pub max_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
        }
    }
}

/// What error messages need to know about the database.
#[derive(Debug)]
struct Ctx {
    /// The database as the operator named it (path, or `:memory:`).
    name: String,
    busy_timeout: Duration,
}

/// The SQLite store. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Mutex<()>>,
    ctx: Arc<Ctx>,
    /// The checkpointer stops once every clone of the store is gone.
    _alive: Arc<()>,
}

/// How often the background task checkpoints the WAL of a file database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the WAL back into the database every `every`, off the write path. PASSIVE never
/// waits for (or blocks) writers and readers; what it cannot copy now is copied next time.
/// Ends when the store is dropped or closed.
fn spawn_checkpointer(pool: SqlitePool, alive: std::sync::Weak<()>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if alive.strong_count() == 0 || pool.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "sqlite: background checkpoint failed; will retry");
            }
        }
    });
}

impl SqliteStore {
    /// Opens (creating the file if missing) and migrates `sqlite://path` or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit tuning.
    pub async fn open_with(url: &str, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let connect = SqliteConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!("invalid SQLite database URL `{url}`: {e}"))
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let name = if in_memory {
            ":memory:".to_string()
        } else {
            connect.get_filename().display().to_string()
        };
        let ctx = Arc::new(Ctx {
            name,
            busy_timeout: options.busy_timeout,
        });
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        // File databases: WAL checkpoints run in a background task (below), not inside
        // whichever unit of work happens to cross the threshold while holding the writer
        // turn. Other processes opening the file keep SQLite's automatic checkpoints.
        let connect = if in_memory {
            connect
        } else {
            connect.pragma("wal_autocheckpoint", "0")
        };
        let pool_options = if in_memory {
            // One connection that must never be recycled: closing it loses the database.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
        };
        let pool = pool_options
            // The default ping before every checkout costs a round trip to the connection's
            // thread per unit of work; a broken local connection fails its first statement
            // instead, which rolls the unit back just the same.
            .test_before_acquire(false)
            .acquire_timeout(options.busy_timeout.max(Duration::from_secs(1)) * 2)
            .connect_with(connect)
            .await
            .map_err(|e| open_error(&ctx, e))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(&ctx, e),
            other => StoreError::Migration(format!("{}: {other}", ctx.name)),
        })?;
        let alive = Arc::new(());
        if !in_memory {
            spawn_checkpointer(pool.clone(), Arc::downgrade(&alive), CHECKPOINT_EVERY);
        }
        Ok(SqliteStore {
            pool,
            writer: Arc::new(Mutex::new(())),
            ctx,
            _alive: alive,
        })
    }

    /// For tests of rolled-back units: every later insert into `table` fails (a trigger
    /// aborts it), so the unit writing it rolls back.
    #[cfg(test)]
    pub(crate) async fn fail_inserts_into(&self, table: &str) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'refused for a test'); END"
        ))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    /// SQLite's plan (`EXPLAIN QUERY PLAN`, one detail line each) of the console's ticket
    /// list with `filter`, for tests that check the filters use their indexes.
    pub async fn ticket_list_plan(&self, filter: &TicketFilter) -> Result<String, StoreError> {
        let (sql, binds) = rows::ticket_list_query(filter, rows::Dialect::Sqlite);
        self.query_plan(&sql, binds).await
    }

    /// SQLite's plans (`EXPLAIN QUERY PLAN`, one detail line each) of the housekeeper's
    /// deletes ([`Store::prune`]), for the test that checks they use their indexes.
    pub async fn prune_plans(&self) -> Result<Vec<String>, StoreError> {
        let mut plans = Vec::new();
        for sql in PRUNE_SQL {
            let binds = vec![rows::Bind::Int(0), rows::Bind::Int(1)];
            plans.push(self.query_plan(sql, binds).await?);
        }
        Ok(plans)
    }

    /// `EXPLAIN QUERY PLAN` of `sql` with `binds`: the detail lines.
    async fn query_plan(&self, sql: &str, binds: Vec<rows::Bind>) -> Result<String, StoreError> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query(&explain);
        for bind in binds {
            query = match bind {
                rows::Bind::Int(v) => query.bind(v),
                rows::Bind::Text(v) => query.bind(v),
            };
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        let details: Vec<String> = rows
            .iter()
            .map(|r| get::<String>(r, &self.ctx, "detail"))
            .collect::<Result<_, _>>()?;
        Ok(details.join("\n"))
    }

    /// Erases the texts of up to `limit` tickets closed before `closed` (oldest first) in
    /// one unit of work; returns how many ([`Store::prune`]).
    async fn erase_closed_tickets(
        &self,
        closed: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut w = self.write_tx().await?;
        let ctx = Arc::clone(&w.ctx);
        let numbers: Vec<i64> = sqlx::query_scalar(
            "SELECT number FROM tickets INDEXED BY tickets_erasable \
             WHERE state = 'closed' AND erased_at IS NULL AND closed_at < ?1 \
             ORDER BY closed_at LIMIT ?2",
        )
        .bind(ms(closed))
        .bind(i64::from(limit))
        .fetch_all(&mut *w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        if numbers.is_empty() {
            return Ok(0);
        }
        erase_tickets_in(&mut w, &numbers, None, now, &mut Erased::new(0)).await?;
        w.commit().await?;
        Ok(numbers.len() as u64)
    }

    /// Closes the pool; pending units finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for the whole-database copy in [`super::transfer`].
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// This store's error for a failed statement (names the database).
    pub(super) fn error(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.ctx, e)
    }

    /// Takes the process-local writer turn, then SQLite's write lock.
    async fn write_tx(&self) -> Result<WriteTx, StoreError> {
        let guard =
            tokio::time::timeout(self.ctx.busy_timeout, Arc::clone(&self.writer).lock_owned())
                .await
                .map_err(|_| {
                    StoreError::ReadOnly(format!(
                        "database {} is locked: another unit of work in this process held the \
                 write lock for more than {:?}",
                        self.ctx.name, self.ctx.busy_timeout
                    ))
                })?;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        Ok(WriteTx {
            tx,
            _turn: guard,
            ctx: Arc::clone(&self.ctx),
        })
    }
}

/// A write transaction plus this process's writer turn. Field order matters: the
/// transaction is dropped (rolled back) before the turn is handed to the next writer.
struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
    ctx: Arc<Ctx>,
}

impl WriteTx {
    async fn commit(self) -> Result<(), StoreError> {
        let WriteTx { tx, _turn, ctx } = self;
        tx.commit().await.map_err(|e| map_err(&ctx, e))
    }
}

// ---------------------------------------------------------------------------------------
// Error mapping

/// SQLite primary result codes we tell apart (extended codes carry them in the low byte).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;
const SQLITE_BUSY_SNAPSHOT: i64 = 517;

fn map_err(ctx: &Ctx, e: sqlx::Error) -> StoreError {
    let name = &ctx.name;
    match e {
        sqlx::Error::Database(db) => {
            let extended = db.code().and_then(|c| c.parse::<i64>().ok());
            let msg = db.message().to_string();
            if extended == Some(SQLITE_BUSY_SNAPSHOT) {
                // Not a timeout: a read snapshot went stale before its first write. Units
                // start with BEGIN IMMEDIATE precisely so this cannot happen to them.
                return StoreError::ReadOnly(format!(
                    "database {name}: write conflict with another writer: {msg}"
                ));
            }
            match extended.map(|c| c & 0xff) {
                Some(SQLITE_READONLY) => StoreError::ReadOnly(format!(
                    "database {name} is read-only (check file and directory permissions and \
                     the `mode` in the URL): {msg}"
                )),
                Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::ReadOnly(format!(
                    "database {name} is locked by another connection or process; gave up \
                     after the busy timeout of {:?}: {msg}",
                    ctx.busy_timeout
                )),
                Some(SQLITE_CANTOPEN) => {
                    StoreError::Unavailable(format!("cannot open database {name}: {msg}"))
                }
                Some(SQLITE_IOERR | SQLITE_FULL) => {
                    StoreError::Unavailable(format!("database {name}: {msg}"))
                }
                Some(SQLITE_CORRUPT | SQLITE_NOTADB) => {
                    StoreError::Corrupt(format!("database {name}: {msg}"))
                }
                _ => StoreError::Other(format!("database {name}: {msg}")),
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
            "database {name}: timed out waiting for a free connection"
        )),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(format!("database {name} is closed"))
        }
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database {name}: {e}")),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(format!("database {name}: {e}"))
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(format!("database {name}: row")),
        other => StoreError::Other(format!("database {name}: {other}")),
    }
}

/// Opening is where a missing directory or unreadable file shows up.
fn open_error(ctx: &Ctx, e: sqlx::Error) -> StoreError {
    match map_err(ctx, e) {
        StoreError::Other(msg) => StoreError::Unavailable(format!("cannot open: {msg}")),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// Value conversion

fn get<'r, T>(row: &'r SqliteRow, ctx: &Ctx, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get::<T, _>(column).map_err(|e| map_err(ctx, e))
}

fn get_ts(row: &SqliteRow, ctx: &Ctx, column: &str) -> Result<Timestamp, StoreError> {
    from_ms(get::<i64>(row, ctx, column)?, column)
}

/// A non-negative counter column.
/// Column access with this database's name in decoding errors, for the shared decoders.
struct Named<'a>(&'a SqliteRow, &'a Ctx);

impl Cols for Named<'_> {
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        get(self.0, self.1, column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        get(self.0, self.1, column)
    }
    fn text(&self, column: &str) -> Result<String, StoreError> {
        get(self.0, self.1, column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        get(self.0, self.1, column)
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        get(self.0, self.1, column)
    }
}

fn ticket_from(row: &SqliteRow, ctx: &Ctx) -> Result<Ticket, StoreError> {
    rows::ticket_from(&Named(row, ctx))
}

fn customer_from(row: &SqliteRow, ctx: &Ctx) -> Result<Customer, StoreError> {
    rows::customer_from(&Named(row, ctx))
}

fn message_from(row: &SqliteRow, ctx: &Ctx) -> Result<TicketMessage, StoreError> {
    rows::message_from(&Named(row, ctx))
}

fn event_from(row: &SqliteRow, ctx: &Ctx) -> Result<TicketEvent, StoreError> {
    rows::event_from(&Named(row, ctx))
}

/// The desk's `/queue`. Served in order by the partial index `tickets_queue` (same
/// expression, same WHERE), so its cost does not grow with the number of active tickets.
/// Named explicitly: without statistics the planner prefers `tickets_state` and then sorts
/// every active ticket.
fn queue_sql() -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets INDEXED BY tickets_queue \
         WHERE state IN ('new', 'open', 'waiting_on_customer') \
         ORDER BY {URGENCY}, number LIMIT ?1"
    )
}

/// Rows asked of the queue in [`Store::query_plans`] (the desk lists 20).
const PLAN_QUEUE_LIMIT: u32 = 20;

/// Rows per multi-row INSERT of [`Tx::import_history`]: 18 values each, below SQLite's
/// limit of 32 766 bound values per statement.
const IMPORT_ROWS: usize = 1000;

/// Metric facts of the tickets a period may count (see [`Store::ticket_facts`]): every
/// moment of a closed ticket's life but its rating is at or before its closing, so the
/// active tickets, those closed in the period and those rated in it are all there is; each
/// part comes from an index (`tickets_state`, `tickets_closed_at`, `ratings_at`). One row
/// per platform, department, assignee, priority and state with a JSON array of numbers per
/// other column (no text per ticket; `super::facts` reads them): a report reads every
/// ticket of its period, and a few values are many times cheaper to hand over than
/// 100 000 rows. The ratings come separately.
const TICKET_GROUPS_SQL: &str = "SELECT c.platform AS platform, t.department AS department, \
            t.assignee AS assignee, t.priority AS priority, t.state AS state, \
            json_group_array(t.number) AS number, \
            json_group_array(t.created_at) AS created_at, \
            json_group_array(t.first_response_due) AS first_response_due, \
            json_group_array(t.first_response_at) AS first_response_at, \
            json_group_array(t.resolution_due) AS resolution_due, \
            json_group_array(t.resolved_at) AS resolved_at, \
            json_group_array(t.closed_at) AS closed_at, \
            json_group_array(t.reopens) AS reopens, \
            json_group_array(t.agent_replies) AS agent_replies \
     FROM tickets t \
     JOIN customers c ON c.id = t.customer \
     WHERE t.number IN ( \
         SELECT number FROM tickets \
         WHERE state IN ('new', 'open', 'waiting_on_customer', 'resolved') \
         UNION SELECT number FROM tickets WHERE closed_at >= ?1 \
         UNION SELECT ticket FROM ratings WHERE at >= ?1) \
     GROUP BY 1, 2, 3, 4, 5";

/// Ratings given in the period (`ratings_at`); earlier ones count for nothing.
const RATINGS_SQL: &str = "SELECT json_group_array(ticket) AS ticket, \
     json_group_array(score) AS score, json_group_array(at) AS at \
     FROM ratings WHERE at >= ?1";

/// FAQ interactions of a period (`?1`) per entry, platform, kind and hour of the day: the
/// hourly tallies from the first whole hour (`?2`) on, the interactions before it
/// (`faq_events_at`).
const FAQ_TALLIES_SQL: &str = "SELECT entry_id, platform, kind, \
            hour % 86400000 / 3600000 AS hour, SUM(count) AS count, SUM(followed) AS followed \
     FROM ( \
         SELECT entry_id, platform, kind, hour, count, followed \
         FROM faq_tallies WHERE hour >= ?2 \
         UNION ALL \
         SELECT e.entry_id, c.platform, e.kind, e.at, 1, e.followed \
         FROM faq_events e JOIN customers c ON c.id = e.customer \
         WHERE e.at >= ?1 AND e.at < ?2) \
     GROUP BY 1, 2, 3, 4";

/// A JSON array column of [`TICKET_GROUPS_SQL`] and its kin.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    ctx: &Ctx,
    column: &str,
) -> Result<T, StoreError> {
    let text = get::<String>(row, ctx, column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("metric facts, {column}: {e}")))
}

/// Marks the answers of customer `?1` in the `?3` ms before a new ticket at `?2` as
/// followed by it; returns their hour and entry, for their tallies ([`FOLLOWED_TALLY_SQL`]).
const MARK_FOLLOWED_SQL: &str = "UPDATE faq_events SET followed = 1 \
     WHERE customer = ?1 AND kind = 'shown' AND followed = 0 \
       AND at >= ?2 - ?3 AND at <= ?2 \
     RETURNING at - at % 3600000 AS hour, entry_id";

/// Adds `?4` followed answers to the tally of hour `?1`, entry `?2`, customer `?3`.
const FOLLOWED_TALLY_SQL: &str = "UPDATE faq_tallies SET followed = followed + ?4 \
     WHERE hour = ?1 AND entry_id = ?2 AND kind = 'shown' \
       AND platform = (SELECT platform FROM customers WHERE id = ?3)";

/// Recomputes, after a bulk import, what the imported tickets and interactions change in
/// the hours `[?1, ?2)`: which answers a ticket followed within `?3` ms (a ticket is never
/// removed, so answers only become followed), then those hours' tallies.
const REFRESH_TALLIES_SQL: [&str; 3] = [
    "UPDATE faq_events SET followed = 1 \
     WHERE at >= ?1 AND at < ?2 AND kind = 'shown' AND followed = 0 AND EXISTS ( \
         SELECT 1 FROM tickets t WHERE t.customer = faq_events.customer \
           AND t.created_at >= faq_events.at AND t.created_at <= faq_events.at + ?3)",
    "DELETE FROM faq_tallies WHERE hour >= ?1 AND hour < ?2",
    "INSERT INTO faq_tallies (hour, entry_id, platform, kind, count, followed) \
     SELECT e.at - e.at % 3600000, e.entry_id, c.platform, e.kind, COUNT(*), SUM(e.followed) \
     FROM faq_events e JOIN customers c ON c.id = e.customer \
     WHERE e.at >= ?1 AND e.at < ?2 \
     GROUP BY 1, 2, 3, 4",
];

/// [`Store::prune`]'s deletes, in the order of [`Pruned::from_counts`]: `?1` the cut-off,
/// `?2` the batch size. Each finds its rows through an index (migration 0011).
const PRUNE_SQL: [&str; 5] = [
    "DELETE FROM inbound_keys WHERE key IN \
     (SELECT key FROM inbound_keys WHERE at < ?1 LIMIT ?2)",
    "DELETE FROM outbox WHERE id IN \
     (SELECT id FROM outbox INDEXED BY outbox_sent_at WHERE state = 'sent' AND sent_at < ?1 \
      AND id < (SELECT MAX(id) FROM outbox) LIMIT ?2)",
    "DELETE FROM timers WHERE id IN \
     (SELECT id FROM timers WHERE state <> 'pending' AND due_at < ?1 LIMIT ?2)",
    "DELETE FROM web_messages WHERE id IN \
     (SELECT id FROM web_messages WHERE at < ?1 LIMIT ?2)",
    "DELETE FROM console_sessions WHERE id_hash IN \
     (SELECT id_hash FROM console_sessions WHERE expires_at <= ?1 LIMIT ?2)",
];

/// The FAQ tallies of a period starting at `since` ([`FAQ_TALLIES_SQL`]).
async fn read_faq_tallies(
    conn: &mut sqlx::SqliteConnection,
    ctx: &Ctx,
    since: i64,
) -> Result<Vec<FaqTally>, StoreError> {
    sqlx::query(FAQ_TALLIES_SQL)
        .bind(since)
        .bind(super::facts::whole_hours_from(since))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| map_err(ctx, e))?
        .iter()
        .map(|r| {
            super::facts::faq_tally(
                get(r, ctx, "entry_id")?,
                &get::<String>(r, ctx, "platform")?,
                &get::<String>(r, ctx, "kind")?,
                get(r, ctx, "hour")?,
                get(r, ctx, "count")?,
                get(r, ctx, "followed")?,
            )
        })
        .collect()
}

impl SqliteStore {
    /// The ticket facts of a period starting at `since` and, with `faq`, its FAQ tallies,
    /// from one read transaction (one snapshot).
    async fn read_facts(
        &self,
        since: Timestamp,
        faq: bool,
    ) -> Result<(Vec<TicketFact>, Vec<FaqTally>), StoreError> {
        use super::facts::{RatingColumns, TicketColumns};
        let ctx = &*self.ctx;
        let err = |e| map_err(ctx, e);
        let since = ms(since);
        let mut conn = self.pool.acquire().await.map_err(err)?;
        sqlx::query("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        let result: Result<_, StoreError> = async {
            let row = sqlx::query(RATINGS_SQL)
                .bind(since)
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
            let ratings = RatingColumns {
                ticket: json_column(&row, ctx, "ticket")?,
                score: json_column(&row, ctx, "score")?,
                at: json_column(&row, ctx, "at")?,
            };
            let groups = sqlx::query(TICKET_GROUPS_SQL)
                .bind(since)
                .fetch_all(&mut *conn)
                .await
                .map_err(err)?
                .iter()
                .map(|r| {
                    Ok(TicketColumns {
                        platform: get(r, ctx, "platform")?,
                        department: get(r, ctx, "department")?,
                        assignee: get(r, ctx, "assignee")?,
                        priority: get(r, ctx, "priority")?,
                        state: get(r, ctx, "state")?,
                        number: json_column(r, ctx, "number")?,
                        created_at: json_column(r, ctx, "created_at")?,
                        first_response_due: json_column(r, ctx, "first_response_due")?,
                        first_response_at: json_column(r, ctx, "first_response_at")?,
                        resolution_due: json_column(r, ctx, "resolution_due")?,
                        resolved_at: json_column(r, ctx, "resolved_at")?,
                        closed_at: json_column(r, ctx, "closed_at")?,
                        reopens: json_column(r, ctx, "reopens")?,
                        agent_replies: json_column(r, ctx, "agent_replies")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let tallies = if faq {
                read_faq_tallies(&mut conn, ctx, since).await?
            } else {
                Vec::new()
            };
            Ok((super::facts::assemble(groups, ratings)?, tallies))
        }
        .await;
        // Read-only transaction: ending it cannot lose anything.
        let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
        result
    }
}

// ---------------------------------------------------------------------------------------
// Store

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(SqliteTx {
            w: self.write_tx().await?,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn ticket_details(&self, no: TicketNo) -> Result<Option<TicketDetails>, StoreError> {
        let ctx = &*self.ctx;
        let mut conn = self.pool.acquire().await.map_err(|e| map_err(ctx, e))?;
        // One read transaction so ticket, messages and events are one snapshot.
        sqlx::query("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?;
        let result: Result<Option<TicketDetails>, StoreError> = async {
            let Some(row) = sqlx::query(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE number = ?1"
            ))
            .bind(no.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?
            else {
                return Ok(None);
            };
            let ticket = ticket_from(&row, ctx)?;
            let customer_row = sqlx::query(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
            ))
            .bind(ticket.customer.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?
            .ok_or_else(|| corrupt(format!("ticket {no}: its customer is missing")))?;
            let customer = customer_from(&customer_row, ctx)?;
            let messages = sqlx::query(
                "SELECT ticket, direction, author, text, attachments, at \
                 FROM ticket_messages WHERE ticket = ?1 ORDER BY id",
            )
            .bind(no.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?
            .iter()
            .map(|r| message_from(r, ctx))
            .collect::<Result<Vec<_>, _>>()?;
            let events = sqlx::query(
                "SELECT ticket, kind, actor, detail, at FROM ticket_events \
                 WHERE ticket = ?1 ORDER BY id",
            )
            .bind(no.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| map_err(ctx, e))?
            .iter()
            .map(|r| event_from(r, ctx))
            .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(TicketDetails {
                ticket,
                customer,
                messages,
                events,
            }))
        }
        .await;
        // Read-only transaction: ending it cannot lose anything.
        let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
        result
    }

    async fn ticket_list(&self, filter: &TicketFilter) -> Result<Vec<ListedTicket>, StoreError> {
        let (sql, binds) = rows::ticket_list_query(filter, rows::Dialect::Sqlite);
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
            .map_err(|e| map_err(&self.ctx, e))?
            .iter()
            .map(|r| rows::listed_ticket_from(&Named(r, &self.ctx)))
            .collect()
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        .map(|r| customer_from(&r, &self.ctx))
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
        let mut w = self.write_tx().await?;
        let items = claim_in(&mut w, worker, now, lease, limit, platforms).await?;
        w.commit().await?;
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
        let mut w = self.write_tx().await?;
        let mut missing = Vec::new();
        for update in done {
            if !record_in(&mut w, update, now).await? {
                missing.push(update.id());
            }
        }
        let claimed = match claim {
            Some(c) => claim_in(&mut w, c.worker, now, c.lease, c.limit, c.platforms).await?,
            None => Vec::new(),
        };
        w.commit().await?;
        Ok(Settled { claimed, missing })
    }

    async fn outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        // Unconditional: even a row dead-lettered meanwhile was in fact delivered.
        let done = sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, platform_message_id = ?3, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1",
        )
        .bind(id)
        .bind(ms(now))
        .bind(platform_message_id)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("outbox item {id}")));
        }
        w.commit().await
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(id, next_attempt_at, error, true).await
    }

    async fn outbox_defer(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(id, next_attempt_at, reason, false).await
    }

    async fn outbox_dead(&self, id: i64, now: Timestamp, error: &str) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE outbox SET state = 'dead', dead_at = ?2, last_error = ?3, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state <> 'sent'",
        )
        .bind(id)
        .bind(ms(now))
        .bind(error)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        if done.rows_affected() == 0 {
            self.ensure_outbox_row(&mut w, id).await?;
        }
        w.commit().await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        let mut stats = OutboxStats::default();
        for row in &rows {
            let state: String = get(row, &self.ctx, "state")?;
            let n = u64::try_from(get::<i64>(row, &self.ctx, "n")?).unwrap_or(0);
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
        let platforms = platform_list(platforms)?;
        // Only lane heads can be delivered next; a leased head is due when its lease ends.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(MAX(o.next_attempt_at, COALESCE(o.lease_until + 1, 0))) FROM outbox o \
             JOIN (SELECT MIN(id) AS id FROM outbox INDEXED BY outbox_pending_lane \
                   WHERE state = 'pending' GROUP BY lane) h \
               ON h.id = o.id \
             WHERE o.platform IN (SELECT value FROM json_each(?1))",
        )
        .bind(platforms)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
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
        let mut w = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO thread_refs (ticket, platform, chat_id, thread_id) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (ticket, platform, chat_id) DO UPDATE SET thread_id = excluded.thread_id",
        )
        .bind(ticket.0)
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(thread_id)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        w.commit().await
    }

    async fn thread_ref(
        &self,
        ticket: TicketNo,
        platform: Platform,
        chat_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT thread_id FROM thread_refs WHERE ticket = ?1 AND platform = ?2 AND chat_id = ?3",
        )
        .bind(ticket.0)
        .bind(platform.as_str())
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(row.map(|(thread,)| thread))
    }

    async fn thread_ticket(
        &self,
        platform: Platform,
        chat_id: &str,
        thread_id: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ticket FROM thread_refs WHERE platform = ?1 AND chat_id = ?2 AND thread_id = ?3",
        )
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        Ok(row.map(|(no,)| TicketNo(no)))
    }

    async fn mark_unreachable(
        &self,
        platform: Platform,
        chat_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        sqlx::query(
            "UPDATE customers SET unreachable = 1, updated_at = ?3 \
             WHERE platform = ?1 AND chat_id = ?2",
        )
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(ms(now))
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        sqlx::query(
            "UPDATE outbox SET state = 'dead', dead_at = ?3, last_error = ?4, \
             lease_owner = NULL, lease_until = NULL \
             WHERE state = 'pending' AND platform = ?1 AND chat_id = ?2",
        )
        .bind(platform.as_str())
        .bind(chat_id)
        .bind(ms(now))
        .bind(UNREACHABLE_REASON)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        w.commit().await
    }

    async fn claim_due_timers(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueTimer>, StoreError> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
        let mut w = self.write_tx().await?;
        let rows = sqlx::query(
            "UPDATE timers SET lease_owner = ?1, lease_until = ?2 + ?3 \
             WHERE id IN ( \
                 SELECT id FROM timers \
                 WHERE state = 'pending' AND due_at <= ?2 \
                   AND (lease_until IS NULL OR lease_until < ?2 OR lease_owner = ?1) \
                 ORDER BY due_at, id LIMIT ?4) \
             RETURNING id, ticket, kind, due_at",
        )
        .bind(worker)
        .bind(ms(now))
        .bind(lease_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        let ctx = Arc::clone(&w.ctx);
        let mut timers = rows
            .iter()
            .map(|row| {
                Ok(DueTimer {
                    id: get(row, &ctx, "id")?,
                    ticket: TicketNo(get(row, &ctx, "ticket")?),
                    kind: get(row, &ctx, "kind")?,
                    due_at: get_ts(row, &ctx, "due_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        w.commit().await?;
        // RETURNING gives no order guarantee.
        timers.sort_by_key(|t| (t.due_at, t.id));
        Ok(timers)
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(MAX(due_at, COALESCE(lease_until + 1, 0))) FROM timers \
             WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?;
        due.map(|v| from_ms(v, "timers.due_at")).transpose()
    }

    async fn query_plans(
        &self,
        since: Timestamp,
        analyze: bool,
    ) -> Result<Vec<QueryPlan>, StoreError> {
        let mut out = Vec::new();
        let since = ms(since);
        let hours = super::facts::whole_hours_from(since);
        for (name, sql, params) in [
            ("queue", queue_sql(), vec![i64::from(PLAN_QUEUE_LIMIT)]),
            ("ratings", RATINGS_SQL.to_string(), vec![since]),
            ("ticket_facts", TICKET_GROUPS_SQL.to_string(), vec![since]),
            (
                "faq_tallies",
                FAQ_TALLIES_SQL.to_string(),
                vec![since, hours],
            ),
        ] {
            let bind = |sql| {
                params
                    .iter()
                    .fold(sqlx::query(sql), |query, param| query.bind(*param))
            };
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let rows = bind(&explain)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_err(&self.ctx, e))?;
            let mut lines: Vec<String> = rows
                .iter()
                .map(|r| get::<String>(r, &self.ctx, "detail"))
                .collect::<Result<_, _>>()?;
            // SQLite has no EXPLAIN ANALYZE: run the query and say how long it took.
            if analyze {
                let started = std::time::Instant::now();
                let rows = bind(&sql)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| map_err(&self.ctx, e))?;
                lines.push(format!(
                    "ran in {:.1} ms ({} rows)",
                    started.elapsed().as_secs_f64() * 1000.0,
                    rows.len()
                ));
            }
            out.push(QueryPlan {
                name,
                plan: lines.join("\n"),
            });
        }
        Ok(out)
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE")
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        Ok(())
    }

    async fn ticket_facts(&self, since: Timestamp) -> Result<Vec<TicketFact>, StoreError> {
        Ok(self.read_facts(since, false).await?.0)
    }

    async fn faq_tallies(&self, since: Timestamp) -> Result<Vec<FaqTally>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| map_err(&self.ctx, e))?;
        read_faq_tallies(&mut conn, &self.ctx, ms(since)).await
    }

    async fn metric_facts(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<TicketFact>, Vec<FaqTally>), StoreError> {
        self.read_facts(since, true).await
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
        let mut w = self.write_tx().await?;
        let added: Option<i64> = sqlx::query_scalar(
            "INSERT INTO web_messages (chat, text, buttons, outbox_id, ticket, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (outbox_id) DO NOTHING RETURNING id",
        )
        .bind(chat)
        .bind(text)
        .bind(buttons)
        .bind(outbox_id)
        .bind(ticket.map(|t| t.0))
        .bind(ms(now))
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        let id = match added {
            Some(id) => id,
            None => sqlx::query_scalar("SELECT id FROM web_messages WHERE outbox_id = ?1")
                .bind(outbox_id)
                .fetch_one(&mut *w.tx)
                .await
                .map_err(|e| map_err(&w.ctx, e))?,
        };
        w.commit().await?;
        Ok(id)
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
                 WHERE chat = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .bind(chat)
            .bind(after)
            .bind(limit),
            // The latest ones, turned back into oldest first.
            None => sqlx::query(
                "SELECT id, chat, text, buttons, at FROM (SELECT id, chat, text, buttons, at \
                 FROM web_messages WHERE chat = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
            )
            .bind(chat)
            .bind(limit),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))?
            .iter()
            .map(|r| rows::web_message_from(&Named(r, &self.ctx)))
            .collect()
    }

    async fn start_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= ?1")
            .bind(ms(session.created_at))
            .execute(&mut *w.tx)
            .await
            .map_err(|e| map_err(&w.ctx, e))?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, operator, csrf, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&session.id_hash)
        .bind(&session.operator)
        .bind(&session.csrf)
        .bind(ms(session.created_at))
        .bind(ms(session.expires_at))
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        w.commit().await
    }

    async fn console_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        sqlx::query(
            "SELECT id_hash, operator, csrf, created_at, expires_at FROM console_sessions \
             WHERE id_hash = ?1 AND expires_at > ?2",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(&self.ctx, e))?
        .map(|r| rows::console_session_from(&Named(&r, &self.ctx)))
        .transpose()
    }

    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?1")
            .bind(id_hash)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| map_err(&w.ctx, e))?;
        w.commit().await
    }

    async fn prune(&self, before: &PruneBefore, limit: u32) -> Result<Pruned, StoreError> {
        let mut counts = [0u64; 5];
        for ((count, sql), cutoff) in counts.iter_mut().zip(PRUNE_SQL).zip(before.cutoffs_ms()) {
            let mut w = self.write_tx().await?;
            *count = sqlx::query(sql)
                .bind(cutoff)
                .bind(i64::from(limit))
                .execute(&mut *w.tx)
                .await
                .map_err(|e| map_err(&w.ctx, e))?
                .rows_affected();
            w.commit().await?;
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
        let mut w = self.write_tx().await?;
        let ctx = Arc::clone(&w.ctx);
        let found =
            sqlx::query("SELECT id, chat_id FROM customers WHERE platform = ?1 AND user_id = ?2")
                .bind(platform.as_str())
                .bind(user_id)
                .fetch_optional(&mut *w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        let Some(row) = found else {
            return Ok(Erasure::NoSuchCustomer);
        };
        let id: i64 = get(&row, &ctx, "id")?;
        let chat_id: String = get(&row, &ctx, "chat_id")?;
        let tickets: Vec<(i64, String)> =
            sqlx::query_as("SELECT number, state FROM tickets WHERE customer = ?1 ORDER BY number")
                .bind(id)
                .fetch_all(&mut *w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        let numbers = match erase::closed_only(tickets) {
            Ok(numbers) => numbers,
            Err(open) => return Ok(Erasure::OpenTickets(open)),
        };
        let mut erased = Erased::new(id);
        let chat = ChatAddress::new(platform, chat_id.clone());
        let erased_chat = erase::erased_id(id);
        erase_tickets_in(
            &mut w,
            &numbers,
            Some((&chat, &erased_chat)),
            now,
            &mut erased,
        )
        .await?;
        for step in erase::customer_steps(rows::Dialect::Sqlite, id, platform, &chat_id, ms(now)) {
            run_erase_step(&mut w, step, "", &mut erased).await?;
        }
        w.commit().await?;
        Ok(Erasure::Erased(erased))
    }

    async fn replica_heartbeat(
        &self,
        id: &str,
        now: Timestamp,
        alive_since: Timestamp,
    ) -> Result<u32, StoreError> {
        let ctx = Arc::clone(&self.ctx);
        let forgotten = ms(alive_since) - REPLICA_FORGOTTEN_AFTER_MS;
        let mut w = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO replicas (id, seen_at) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        sqlx::query("DELETE FROM replicas WHERE seen_at < ?")
            .bind(forgotten)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE seen_at >= ?")
            .bind(ms(alive_since))
            .fetch_one(&mut *w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
        w.commit().await?;
        Ok(u32::try_from(alive).unwrap_or(u32::MAX).max(1))
    }

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(&self.ctx, e))
    }

    async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        let ctx = &self.ctx;
        let rows = sqlx::query("SELECT key, firing, value, changed_at FROM alert_states")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(ctx, e))?;
        rows.iter()
            .map(|row| {
                Ok(AlertState {
                    key: get(row, ctx, "key")?,
                    firing: get(row, ctx, "firing")?,
                    value: get(row, ctx, "value")?,
                    changed_at: get_ts(row, ctx, "changed_at")?,
                })
            })
            .collect()
    }

    async fn unanswered_questions(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Unanswered>, StoreError> {
        let ctx = &self.ctx;
        let rows = sqlx::query(
            "SELECT text, language, at FROM unanswered WHERE at >= ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err(ctx, e))?;
        rows.iter()
            .map(|row| {
                let language: String = get(row, ctx, "language")?;
                Ok(Unanswered {
                    text: get(row, ctx, "text")?,
                    language: language
                        .parse()
                        .map_err(|e| crate::store::rows::corrupt(format!("unanswered: {e}")))?,
                    at: get_ts(row, ctx, "at")?,
                })
            })
            .collect()
    }
}

impl SqliteStore {
    async fn reschedule(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        error: &str,
        count_attempt: bool,
    ) -> Result<(), StoreError> {
        let mut w = self.write_tx().await?;
        // Only a pending row: one dead-lettered meanwhile (mark_unreachable) stays dead.
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + ?2, next_attempt_at = ?3, last_error = ?4, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id)
        .bind(i64::from(count_attempt))
        .bind(ms(next_attempt_at))
        .bind(error)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?;
        if done.rows_affected() == 0 {
            self.ensure_outbox_row(&mut w, id).await?;
        }
        w.commit().await
    }

    async fn ensure_outbox_row(&self, w: &mut WriteTx, id: i64) -> Result<(), StoreError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(|e| map_err(&w.ctx, e))?;
        match exists {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("outbox item {id}"))),
        }
    }
}

/// Erases the texts of tickets `numbers` in `w` ([`erase::ticket_steps`]) and rewrites
/// their outbox items, readdressing those to the customer's chat with `readdress`.
async fn erase_tickets_in(
    w: &mut WriteTx,
    numbers: &[i64],
    readdress: Option<(&ChatAddress, &str)>,
    now: Timestamp,
    erased: &mut Erased,
) -> Result<(), StoreError> {
    let ctx = Arc::clone(&w.ctx);
    let list = serde_json::to_string(numbers)
        .map_err(|e| StoreError::Other(format!("ticket numbers: {e}")))?;
    let (platform, chat) = readdress.map_or((String::new(), String::new()), |(c, _)| {
        (c.platform.as_str().to_string(), c.chat_id.clone())
    });
    let items: Vec<erase::OutboxRow> =
        sqlx::query_as(&erase::outbox_rows_sql(rows::Dialect::Sqlite))
            .bind(&list)
            .bind(platform)
            .bind(chat)
            .fetch_all(&mut *w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
    let update = erase::outbox_update_sql(rows::Dialect::Sqlite);
    for (id, new) in erase::rewrite_rows(items, readdress) {
        sqlx::query(&update)
            .bind(new.payload)
            .bind(new.lane)
            .bind(new.chat_id)
            .bind(i64::from(new.dead))
            .bind(ms(now))
            .bind(erase::ERASED_ERROR)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
        erased.outbox += 1;
    }
    for step in erase::ticket_steps(rows::Dialect::Sqlite, ms(now)) {
        run_erase_step(w, step, &list, erased).await?;
    }
    Ok(())
}

/// Runs one statement of an erasure (`list`: the ticket numbers as JSON) and counts it.
async fn run_erase_step(
    w: &mut WriteTx,
    step: erase::Step,
    list: &str,
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
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&w.ctx, e))?
        .rows_affected();
    erased.count(step.counted, rows);
    Ok(())
}

/// Claims lane heads inside `w` (see [`Store::claim_outbox`]).
async fn claim_in(
    w: &mut WriteTx,
    worker: &str,
    now: Timestamp,
    lease: Duration,
    limit: u32,
    platforms: &[Platform],
) -> Result<Vec<OutboxItem>, StoreError> {
    let platforms = platform_list(platforms)?;
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
    let ctx = Arc::clone(&w.ctx);
    // Lane heads (oldest pending row of each lane) that are due and not leased.
    // INDEXED BY: without ANALYZE statistics SQLite picks `outbox_state` and sorts for the
    // GROUP BY; the partial (lane, id) index yields each lane's head in one covering scan.
    let rows = sqlx::query(
        "UPDATE outbox SET lease_owner = ?1, lease_until = ?2 + ?3 \
         WHERE id IN ( \
             SELECT o.id FROM outbox o \
             JOIN (SELECT MIN(id) AS id FROM outbox INDEXED BY outbox_pending_lane \
                   WHERE state = 'pending' GROUP BY lane) h \
               ON h.id = o.id \
             WHERE o.next_attempt_at <= ?2 \
               AND (o.lease_until IS NULL OR o.lease_until < ?2) \
               AND o.platform IN (SELECT value FROM json_each(?5)) \
             ORDER BY o.next_attempt_at, o.id \
             LIMIT ?4) \
         RETURNING id, payload, attempts, created_at",
    )
    .bind(worker)
    .bind(ms(now))
    .bind(lease_ms)
    .bind(i64::from(limit))
    .bind(platforms)
    .fetch_all(&mut *w.tx)
    .await
    .map_err(|e| map_err(&ctx, e))?;

    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = get(row, &ctx, "id")?;
        let payload: String = get(row, &ctx, "payload")?;
        let parsed = serde_json::from_str::<Outbound>(&payload)
            .map_err(|e| e.to_string())
            .and_then(|message| {
                let attempts = get::<i64>(row, &ctx, "attempts").map_err(|e| e.to_string())?;
                let created_at = get_ts(row, &ctx, "created_at").map_err(|e| e.to_string())?;
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
                    "UPDATE outbox SET state = 'dead', dead_at = ?2, last_error = ?3, \
                     lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                )
                .bind(id)
                .bind(ms(now))
                .bind(format!("corrupt payload: {e}"))
                .execute(&mut *w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
            }
        }
    }
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Applies one delivery outcome inside `w`; false when the row does not exist.
async fn record_in(
    w: &mut WriteTx,
    update: &OutboxUpdate,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let ctx = Arc::clone(&w.ctx);
    let query = match update {
        // Unconditional: even a row dead-lettered meanwhile was in fact delivered.
        OutboxUpdate::Sent {
            id,
            platform_message_id,
        } => sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, platform_message_id = ?3, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1",
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
            "UPDATE outbox SET attempts = attempts + ?2, next_attempt_at = ?3, last_error = ?4, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'pending'",
        )
        .bind(*id)
        .bind(i64::from(matches!(update, OutboxUpdate::Retry { .. })))
        .bind(ms(*next_attempt_at))
        .bind(text.as_str()),
        OutboxUpdate::Dead { id, error } => sqlx::query(
            "UPDATE outbox SET state = 'dead', dead_at = ?2, last_error = ?3, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state <> 'sent'",
        )
        .bind(*id)
        .bind(ms(now))
        .bind(error.as_str()),
        OutboxUpdate::Unreachable {
            platform, chat_id, ..
        } => {
            sqlx::query(
                "UPDATE customers SET unreachable = 1, updated_at = ?3 \
                 WHERE platform = ?1 AND chat_id = ?2",
            )
            .bind(platform.as_str())
            .bind(chat_id.as_str())
            .bind(ms(now))
            .execute(&mut *w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
            sqlx::query(
                "UPDATE outbox SET state = 'dead', dead_at = ?3, last_error = ?4, \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE state = 'pending' AND platform = ?1 AND chat_id = ?2",
            )
            .bind(platform.as_str())
            .bind(chat_id.as_str())
            .bind(ms(now))
            .bind(UNREACHABLE_REASON)
        }
    };
    let done = query
        .execute(&mut *w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
    if done.rows_affected() > 0 || matches!(update, OutboxUpdate::Unreachable { .. }) {
        return Ok(true);
    }
    // Nothing changed: a row in another state (kept as it is) or no row at all.
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE id = ?1")
        .bind(update.id())
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
    Ok(exists.is_some())
}

// ---------------------------------------------------------------------------------------
// Tx

/// A unit of work: holds the write lock from `begin` until commit or drop (rollback).
pub struct SqliteTx {
    w: WriteTx,
}

impl SqliteTx {
    /// Counts the customer's answers of the last [`super::facts::followed_window_ms`]
    /// as followed by a ticket created `now` (each answer once), hour by hour in order.
    async fn mark_followed(
        &mut self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = self.ctx();
        let marked: Vec<(i64, String)> = sqlx::query_as(MARK_FOLLOWED_SQL)
            .bind(customer.0)
            .bind(ms(now))
            .bind(super::facts::followed_window_ms())
            .fetch_all(&mut *self.w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
        for ((hour, entry), n) in rows::count_each(marked) {
            sqlx::query(FOLLOWED_TALLY_SQL)
                .bind(hour)
                .bind(entry)
                .bind(customer.0)
                .bind(n)
                .execute(&mut *self.w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        }
        Ok(())
    }

    fn ctx(&self) -> Arc<Ctx> {
        Arc::clone(&self.w.ctx)
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn record_inbound(&mut self, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        let ctx = self.ctx();
        let done = sqlx::query(
            "INSERT INTO inbound_keys (key, at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_customer(
        &mut self,
        who: &CustomerIdentity,
        vip: bool,
        now: Timestamp,
    ) -> Result<Customer, StoreError> {
        let ctx = self.ctx();
        // A customer who writes to us can be reached again: `unreachable` is cleared.
        // `vip` comes from configuration, which is the source of truth.
        let row = sqlx::query(&format!(
            "INSERT INTO customers \
                 (platform, user_id, chat_id, display_name, language, vip, unreachable, \
                  created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, COALESCE(?5, 'en'), ?6, 0, ?7, ?7) \
             ON CONFLICT (platform, user_id) DO UPDATE SET \
                 chat_id = excluded.chat_id, \
                 display_name = excluded.display_name, \
                 language = COALESCE(?5, customers.language), \
                 vip = excluded.vip, \
                 unreachable = 0, \
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
        .fetch_one(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        customer_from(&row, &ctx)
    }

    async fn active_ticket(&mut self, customer: CustomerId) -> Result<Option<Ticket>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets \
             WHERE customer = ?1 AND state <> 'closed' ORDER BY number DESC LIMIT 1"
        ))
        .bind(customer.0)
        .fetch_optional(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .map(|r| ticket_from(&r, &ctx))
        .transpose()
    }

    async fn customer_tickets(
        &mut self,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE customer = ?1 \
             ORDER BY number DESC LIMIT ?2"
        ))
        .bind(customer.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .iter()
        .map(|r| ticket_from(r, &ctx))
        .collect()
    }

    async fn ticket(&mut self, no: TicketNo) -> Result<Option<Ticket>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE number = ?1"
        ))
        .bind(no.0)
        .fetch_optional(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .map(|r| ticket_from(&r, &ctx))
        .transpose()
    }

    async fn create_ticket(&mut self, new: &NewTicket) -> Result<Ticket, StoreError> {
        let ctx = self.ctx();
        // MAX+1 under the write lock held since BEGIN IMMEDIATE: no other unit can
        // allocate concurrently, and a rollback returns the number.
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO tickets \
                 (number, customer, state, category, priority, department, assignee, subject, \
                  created_at, updated_at, first_response_due, resolution_due) \
             VALUES ((SELECT COALESCE(MAX(number), 0) + 1 FROM tickets), \
                     ?1, 'new', ?2, ?3, ?4, NULL, ?5, ?6, ?6, ?7, ?8) \
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
        .fetch_one(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
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
        let ctx = self.ctx();
        let done = sqlx::query(
            "UPDATE tickets SET state = ?2, category = ?3, priority = ?4, department = ?5, \
                 assignee = ?6, subject = ?7, updated_at = ?8, first_response_due = ?9, \
                 resolution_due = ?10, first_response_at = ?11, resolved_at = ?12, \
                 closed_at = ?13, waiting_since = ?14, reopens = ?15, agent_replies = ?16, \
                 erased_at = CASE WHEN ?2 = 'closed' THEN erased_at ELSE NULL END \
             WHERE number = ?1",
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
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
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
        let ctx = self.ctx();
        let err = |e| map_err(&ctx, e);
        // MAX+1 onwards under the write lock held since BEGIN IMMEDIATE, as create_ticket.
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) FROM tickets")
            .fetch_one(&mut *self.w.tx)
            .await
            .map_err(err)?;
        let numbers: Vec<i64> = (1..).map(|i| last + i).take(tickets.len()).collect();
        // Multi-row INSERTs within SQLite's limit of bound values per statement.
        let rows: Vec<(i64, &PastTicket)> = numbers.iter().copied().zip(tickets).collect();
        for chunk in rows.chunks(IMPORT_ROWS) {
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO tickets ({TICKET_COLUMNS}) "
            ));
            q.push_values(chunk, |mut b, (no, p)| {
                let t = &p.ticket;
                b.push_bind(*no)
                    .push_bind(t.customer.0)
                    .push_bind(t.state.as_str())
                    .push_bind(t.category.as_str())
                    .push_bind(t.priority.as_str())
                    .push_bind(t.department.as_str())
                    .push_bind(t.assignee.as_deref())
                    .push_bind(t.subject.as_str())
                    .push_bind(ms(t.created_at))
                    .push_bind(ms(t.updated_at))
                    .push_bind(ms(t.first_response_due))
                    .push_bind(ms(t.resolution_due))
                    .push_bind(t.first_response_at.map(ms))
                    .push_bind(t.resolved_at.map(ms))
                    .push_bind(t.closed_at.map(ms))
                    .push_bind(t.waiting_since.map(ms))
                    .push_bind(i64::from(t.reopens))
                    .push_bind(i64::from(t.agent_replies));
            });
            q.build().execute(&mut *self.w.tx).await.map_err(err)?;
            let rated: Vec<_> = chunk
                .iter()
                .filter_map(|(no, p)| p.rating.map(|r| (*no, p.ticket.customer.0, r)))
                .collect();
            if rated.is_empty() {
                continue;
            }
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO ratings (ticket, customer, score, at) ",
            );
            q.push_values(&rated, |mut b, (no, customer, (score, at))| {
                b.push_bind(*no)
                    .push_bind(*customer)
                    .push_bind(i64::from(*score))
                    .push_bind(ms(*at));
            });
            q.build().execute(&mut *self.w.tx).await.map_err(err)?;
        }
        for chunk in faq.chunks(IMPORT_ROWS) {
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO faq_events (customer, entry_id, kind, at) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.customer.0)
                    .push_bind(e.entry_id.as_str())
                    .push_bind(e.kind.as_str())
                    .push_bind(ms(e.at));
            });
            q.build().execute(&mut *self.w.tx).await.map_err(err)?;
        }
        for (entry, shown, helped, escalated, at) in rows::faq_totals(faq) {
            sqlx::query(
                "INSERT INTO faq_stats (entry_id, shown, helped, escalated, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (entry_id) DO UPDATE SET \
                     shown = shown + excluded.shown, \
                     helped = helped + excluded.helped, \
                     escalated = escalated + excluded.escalated, \
                     updated_at = MAX(updated_at, excluded.updated_at)",
            )
            .bind(entry)
            .bind(shown)
            .bind(helped)
            .bind(escalated)
            .bind(at)
            .execute(&mut *self.w.tx)
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
                query.execute(&mut *self.w.tx).await.map_err(err)?;
            }
        }
        Ok(numbers.into_iter().map(TicketNo).collect())
    }

    async fn add_message(&mut self, message: &TicketMessage) -> Result<(), StoreError> {
        let ctx = self.ctx();
        let attachments = serde_json::to_string(&message.attachments)
            .map_err(|e| StoreError::Other(format!("attachments cannot be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO ticket_messages (ticket, direction, author, text, attachments, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(message.ticket.0)
        .bind(message.direction.as_str())
        .bind(&message.author)
        .bind(&message.text)
        .bind(attachments)
        .bind(ms(message.at))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn add_event(&mut self, event: &TicketEvent) -> Result<(), StoreError> {
        let ctx = self.ctx();
        sqlx::query(
            "INSERT INTO ticket_events (ticket, kind, actor, detail, at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(event.ticket.0)
        .bind(&event.kind)
        .bind(&event.actor)
        .bind(&event.detail)
        .bind(ms(event.at))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn enqueue(&mut self, message: &Outbound, now: Timestamp) -> Result<(), StoreError> {
        let ctx = self.ctx();
        let payload = serde_json::to_string(message)
            .map_err(|e| StoreError::Other(format!("outbound message cannot be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO outbox (lane, platform, chat_id, payload, ticket, state, attempts, \
                                 next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
        )
        .bind(message.to.lane())
        .bind(message.to.platform.as_str())
        .bind(&message.to.chat_id)
        .bind(payload)
        .bind(message.ticket.map(|t| t.0))
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn record_faq_feedback(
        &mut self,
        customer: CustomerId,
        entry_id: &str,
        feedback: FaqFeedback,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = self.ctx();
        // An answer can follow its customer's ticket of the same moment.
        let followed: i64 = sqlx::query_scalar(
            "INSERT INTO faq_events (customer, entry_id, kind, at, followed) \
             VALUES (?1, ?2, ?3, ?4, CASE WHEN ?3 = 'shown' AND EXISTS ( \
                 SELECT 1 FROM tickets WHERE customer = ?1 \
                   AND created_at >= ?4 AND created_at <= ?4 + ?5) THEN 1 ELSE 0 END) \
             RETURNING followed",
        )
        .bind(customer.0)
        .bind(entry_id)
        .bind(feedback.as_str())
        .bind(ms(now))
        .bind(super::facts::followed_window_ms())
        .fetch_one(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        sqlx::query(
            "INSERT INTO faq_tallies (hour, entry_id, platform, kind, count, followed) \
             SELECT ?1 - ?1 % 3600000, ?2, platform, ?3, 1, ?4 FROM customers WHERE id = ?5 \
             ON CONFLICT (hour, entry_id, platform, kind) DO UPDATE SET \
                 count = count + 1, followed = followed + excluded.followed",
        )
        .bind(ms(now))
        .bind(entry_id)
        .bind(feedback.as_str())
        .bind(followed)
        .bind(customer.0)
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        let (shown, helped, escalated) = feedback_counts(feedback);
        sqlx::query(
            "INSERT INTO faq_stats (entry_id, shown, helped, escalated, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (entry_id) DO UPDATE SET \
                 shown = shown + excluded.shown, \
                 helped = helped + excluded.helped, \
                 escalated = escalated + excluded.escalated, \
                 updated_at = excluded.updated_at",
        )
        .bind(entry_id)
        .bind(shown)
        .bind(helped)
        .bind(escalated)
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn record_unanswered(
        &mut self,
        customer: CustomerId,
        text: &str,
        language: Language,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = self.ctx();
        sqlx::query(
            "INSERT INTO unanswered (customer, text, language, at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(customer.0)
        .bind(text)
        .bind(language.as_str())
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn remember_question(
        &mut self,
        customer: CustomerId,
        text: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = self.ctx();
        sqlx::query("UPDATE customers SET last_question = ?1, last_question_at = ?2 WHERE id = ?3")
            .bind(text)
            .bind(ms(now))
            .bind(customer.0)
            .execute(&mut *self.w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn last_question(&mut self, customer: CustomerId) -> Result<Option<String>, StoreError> {
        let ctx = self.ctx();
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT last_question FROM customers WHERE id = ?1")
                .bind(customer.0)
                .fetch_optional(&mut *self.w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        Ok(row.and_then(|(q,)| q))
    }

    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .map(|r| customer_from(&r, &ctx))
        .transpose()
    }

    async fn recent_messages(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketMessage>, StoreError> {
        let ctx = self.ctx();
        let mut messages = sqlx::query(
            "SELECT ticket, direction, author, text, attachments, at \
             FROM ticket_messages WHERE ticket = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(ticket.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .iter()
        .map(|r| message_from(r, &ctx))
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    async fn recent_events(
        &mut self,
        ticket: TicketNo,
        limit: u32,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        let ctx = self.ctx();
        let mut events = sqlx::query(
            "SELECT ticket, kind, actor, detail, at FROM ticket_events \
             WHERE ticket = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(ticket.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .iter()
        .map(|r| event_from(r, &ctx))
        .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    async fn queue(&mut self, limit: u32) -> Result<Vec<Ticket>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&queue_sql())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?
            .iter()
            .map(|r| ticket_from(r, &ctx))
            .collect()
    }

    async fn tickets_assigned_to(
        &mut self,
        assignee: &str,
        limit: u32,
    ) -> Result<Vec<Ticket>, StoreError> {
        let ctx = self.ctx();
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets \
             WHERE assignee = ?1 AND state <> 'closed' \
             ORDER BY {URGENCY}, number LIMIT ?2"
        ))
        .bind(assignee)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .iter()
        .map(|r| ticket_from(r, &ctx))
        .collect()
    }

    async fn find_tickets(&mut self, text: &str, limit: u32) -> Result<Vec<Ticket>, StoreError> {
        let ctx = self.ctx();
        // instr() instead of LIKE: the agent's text is matched literally (no wildcards).
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t \
             WHERE instr(lower(t.subject), lower(?1)) > 0 \
                OR EXISTS (SELECT 1 FROM ticket_messages m \
                           WHERE m.ticket = t.number AND instr(lower(m.text), lower(?1)) > 0) \
             ORDER BY t.number DESC LIMIT ?2"
        ))
        .bind(text)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        .iter()
        .map(|r| ticket_from(r, &ctx))
        .collect()
    }

    async fn record_rating(&mut self, rating: &Rating) -> Result<bool, StoreError> {
        let ctx = self.ctx();
        let done = sqlx::query(
            "INSERT INTO ratings (ticket, customer, score, comment, at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ticket) DO NOTHING",
        )
        .bind(rating.ticket.0)
        .bind(rating.customer.0)
        .bind(i64::from(rating.score))
        .bind(rating.comment.as_deref())
        .bind(ms(rating.at))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn comment_rating(
        &mut self,
        customer: CustomerId,
        since: Timestamp,
        comment: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        let ctx = self.ctx();
        let ticket: Option<i64> = sqlx::query_scalar(
            "UPDATE ratings SET comment = ?3 \
             WHERE ticket = (SELECT ticket FROM ratings \
                             WHERE customer = ?1 AND at >= ?2 AND comment IS NULL \
                             ORDER BY at DESC, ticket DESC LIMIT 1) \
             RETURNING ticket",
        )
        .bind(customer.0)
        .bind(ms(since))
        .bind(comment)
        .fetch_optional(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        if let Some(no) = ticket {
            // Retention erases the ticket's texts again, this comment included.
            sqlx::query("UPDATE tickets SET erased_at = NULL WHERE number = ?1")
                .bind(no)
                .execute(&mut *self.w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        }
        Ok(ticket.map(TicketNo))
    }

    async fn rating(&mut self, ticket: TicketNo) -> Result<Option<Rating>, StoreError> {
        let ctx = self.ctx();
        let Some(row) = sqlx::query(
            "SELECT ticket, customer, score, comment, at FROM ratings WHERE ticket = ?1",
        )
        .bind(ticket.0)
        .fetch_optional(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?
        else {
            return Ok(None);
        };
        let score: i64 = get(&row, &ctx, "score")?;
        let score = u8::try_from(score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| corrupt(format!("rating of {ticket}: score {score} out of range")))?;
        Ok(Some(Rating {
            ticket: TicketNo(get(&row, &ctx, "ticket")?),
            customer: CustomerId(get(&row, &ctx, "customer")?),
            score,
            comment: get(&row, &ctx, "comment")?,
            at: get_ts(&row, &ctx, "at")?,
        }))
    }

    async fn set_desk_thread(
        &mut self,
        ticket: TicketNo,
        address: &ChatAddress,
    ) -> Result<(), StoreError> {
        let ctx = self.ctx();
        let json = serde_json::to_string(address)
            .map_err(|e| StoreError::Other(format!("desk address cannot be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO desk_threads (ticket, address) VALUES (?1, ?2) \
             ON CONFLICT (ticket) DO UPDATE SET address = excluded.address",
        )
        .bind(ticket.0)
        .bind(json)
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn desk_thread(&mut self, ticket: TicketNo) -> Result<Option<ChatAddress>, StoreError> {
        let ctx = self.ctx();
        let row: Option<(String,)> =
            sqlx::query_as("SELECT address FROM desk_threads WHERE ticket = ?1")
                .bind(ticket.0)
                .fetch_optional(&mut *self.w.tx)
                .await
                .map_err(|e| map_err(&ctx, e))?;
        row.map(|(json,)| {
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
        let ctx = self.ctx();
        sqlx::query(
            "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE ticket = ?1 AND kind = ?2 AND state = 'pending'",
        )
        .bind(ticket.0)
        .bind(kind)
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        sqlx::query(
            "INSERT INTO timers (ticket, kind, due_at, state, created_at) \
             VALUES (?1, ?2, ?3, 'pending', ?4)",
        )
        .bind(ticket.0)
        .bind(kind)
        .bind(ms(due_at))
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(())
    }

    async fn cancel_timers(&mut self, ticket: TicketNo, kinds: &[&str]) -> Result<u64, StoreError> {
        let ctx = self.ctx();
        let kinds = serde_json::to_string(kinds)
            .map_err(|e| StoreError::Other(format!("timer kinds: {e}")))?;
        let done = sqlx::query(
            "UPDATE timers SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
             WHERE ticket = ?1 AND state = 'pending' \
               AND kind IN (SELECT value FROM json_each(?2))",
        )
        .bind(ticket.0)
        .bind(kinds)
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(done.rows_affected())
    }

    async fn fire_timer(
        &mut self,
        id: i64,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let ctx = self.ctx();
        let done = sqlx::query(
            "UPDATE timers SET state = 'fired', fired_at = ?3, lease_owner = NULL, \
             lease_until = NULL \
             WHERE id = ?1 AND state = 'pending' \
               AND (lease_owner = ?2 OR lease_until IS NULL OR lease_until < ?3)",
        )
        .bind(id)
        .bind(worker)
        .bind(ms(now))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_alert_state(&mut self, state: &AlertState) -> Result<bool, StoreError> {
        let ctx = self.ctx();
        if !state.firing {
            // Nothing stored means "not firing": only an existing firing row can clear.
            let done = sqlx::query(
                "UPDATE alert_states SET firing = 0, value = ?2, changed_at = ?3 \
                 WHERE key = ?1 AND firing <> 0",
            )
            .bind(&state.key)
            .bind(state.value)
            .bind(ms(state.changed_at))
            .execute(&mut *self.w.tx)
            .await
            .map_err(|e| map_err(&ctx, e))?;
            return Ok(done.rows_affected() == 1);
        }
        let done = sqlx::query(
            "INSERT INTO alert_states (key, firing, value, changed_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) DO UPDATE SET firing = excluded.firing, value = excluded.value, \
                 changed_at = excluded.changed_at \
             WHERE alert_states.firing <> excluded.firing",
        )
        .bind(&state.key)
        .bind(state.firing)
        .bind(state.value)
        .bind(ms(state.changed_at))
        .execute(&mut *self.w.tx)
        .await
        .map_err(|e| map_err(&ctx, e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.w.commit().await
    }
}

/// Platforms as a JSON array, bound once and read with `json_each` (SQLite has no arrays).
fn platform_list(platforms: &[Platform]) -> Result<String, StoreError> {
    let names: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
    serde_json::to_string(&names).map_err(|e| StoreError::Other(format!("platform list: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_codes_map_to_their_primary_kind() {
        let ctx = Ctx {
            name: "x.db".into(),
            busy_timeout: Duration::from_millis(10),
        };
        // Non-database errors never become a panic and name the database.
        let e = map_err(&ctx, sqlx::Error::PoolTimedOut);
        assert!(
            matches!(e, StoreError::Unavailable(ref m) if m.contains("x.db")),
            "{e}"
        );
        let e = map_err(&ctx, sqlx::Error::RowNotFound);
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    }
}
