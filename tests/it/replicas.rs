//! Several stores on one database, as several replicas would have: ticket numbers stay
//! gap-free, every outbox item is delivered once in its chat's order, a crashed
//! replica's claims are taken over, timers fire once, commits wake other replicas'
//! workers (PostgreSQL LISTEN/NOTIFY), and exactly one replica leads a role.
//!
//! The shared tests run on SQLite (several stores on one file: several processes) and
//! on PostgreSQL (several stores on one fresh schema).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontdesk::domain::{ChatAddress, Platform, TicketNo};
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::{OutboxClaim, OutboxUpdate, Store, TicketFilter, WorkKind};
use tokio::sync::Notify;

use crate::pg::PgSchema;
use crate::store_suite::{at, enqueue, identity, new_ticket, t0};

/// One database that several stores open.
pub enum Shared {
    Sqlite(tempfile::TempDir),
    Pg(PgSchema),
}

impl Shared {
    pub fn sqlite() -> Shared {
        Shared::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn pg() -> Shared {
        Shared::Pg(PgSchema::new())
    }

    /// Another replica's store.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Shared::Sqlite(dir) => {
                let url = format!("sqlite://{}", dir.path().join("shared.db").display());
                Arc::new(SqliteStore::open(&url).await.unwrap())
            }
            Shared::Pg(schema) => schema.open().await,
        }
    }

    async fn replicas(&self, n: usize) -> Vec<Arc<dyn Store>> {
        let mut stores = Vec::new();
        for _ in 0..n {
            stores.push(self.open().await);
        }
        stores
    }
}

async fn replicas_share_one_gap_free_sequence(db: Shared) {
    let stores = db.replicas(3).await;
    let mut handles = Vec::new();
    for task in 0..9 {
        let store = Arc::clone(&stores[task % stores.len()]);
        handles.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..12 {
                let mut tx = store.begin().await.unwrap();
                let c = tx
                    .upsert_customer(&identity(&format!("r{task}")), false, t0())
                    .await
                    .unwrap();
                let t = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
                if i % 5 == 4 {
                    drop(tx); // rolled back: its number is handed out again
                    continue;
                }
                tx.commit().await.unwrap();
                numbers.push(t.no.0);
            }
            numbers
        }));
    }
    let mut numbers = Vec::new();
    for h in handles {
        numbers.extend(h.await.unwrap());
    }
    numbers.sort_unstable();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(numbers, expected);
    let stored = stores[1]
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), expected.len());
}

/// Three writers (one per replica, each owning some chats) enqueue while three workers
/// (one per replica) claim and settle concurrently: every item is delivered exactly once
/// and each chat gets its items in the order they were written.
async fn replicas_deliver_each_item_once_in_chat_order(db: Shared) {
    const LANES: usize = 24;
    const EACH: usize = 12;
    let stores = db.replicas(3).await;
    let delivered: Arc<Mutex<BTreeMap<String, Vec<usize>>>> = Arc::default();
    let written = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        writers.push(tokio::spawn(async move {
            for seq in 0..EACH {
                for lane in (w..LANES).step_by(3) {
                    let to = ChatAddress::new(Platform::Telegram, format!("lane{lane}"));
                    enqueue(&*store, &to, &seq.to_string(), t0()).await;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut workers = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        let delivered = Arc::clone(&delivered);
        let written = Arc::clone(&written);
        workers.push(tokio::spawn(async move {
            let name = format!("worker{w}");
            let claim = OutboxClaim {
                worker: &name,
                lease: Duration::from_secs(600),
                limit: 5,
                platforms: Platform::ALL,
            };
            let mut done = Vec::new();
            let mut idle_rounds = 0;
            while idle_rounds < 20 {
                let settled = store.outbox_settle(&done, t0(), Some(claim)).await.unwrap();
                done.clear();
                if settled.claimed.is_empty() {
                    if written.load(std::sync::atomic::Ordering::SeqCst) {
                        idle_rounds += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle_rounds = 0;
                for item in settled.claimed {
                    let seq: usize = item.message.text_body().unwrap().parse().unwrap();
                    delivered
                        .lock()
                        .unwrap()
                        .entry(item.message.to.lane())
                        .or_default()
                        .push(seq);
                    done.push(OutboxUpdate::Sent {
                        id: item.id,
                        platform_message_id: None,
                    });
                }
            }
            store.outbox_settle(&done, t0(), None).await.unwrap();
        }));
    }
    for h in writers {
        h.await.unwrap();
    }
    written.store(true, std::sync::atomic::Ordering::SeqCst);
    for h in workers {
        h.await.unwrap();
    }
    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), LANES);
    for (lane, seqs) in &delivered {
        assert_eq!(seqs, &(0..EACH).collect::<Vec<_>>(), "{lane}");
    }
    let stats = stores[0].outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent), (0, (LANES * EACH) as u64));
}

/// Replica A claims and dies without settling; B gets nothing while A's lease runs and
/// everything after it expired, in order.
async fn a_dead_replicas_claims_expire_and_are_taken_over(db: Shared) {
    let stores = db.replicas(2).await;
    let to = ChatAddress::new(Platform::Telegram, "c");
    for text in ["1", "2"] {
        enqueue(&*stores[0], &to, text, t0()).await;
    }
    let lease = Duration::from_secs(30);
    let a = stores[0]
        .claim_outbox("a", t0(), lease, 10, Platform::ALL)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    drop(stores.into_iter().next());
    let b = db.open().await;
    assert!(b
        .claim_outbox("b", at(29), lease, 10, Platform::ALL)
        .await
        .unwrap()
        .is_empty());
    let taken = b
        .claim_outbox("b", at(31), lease, 10, Platform::ALL)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, a[0].id);
    assert_eq!(taken[0].message.text_body(), Some("1"));
}

/// Workers of three replicas race for 60 due timers: each fires exactly once.
async fn racing_replicas_fire_each_timer_once(db: Shared) {
    let stores = db.replicas(3).await;
    let mut tx = stores[0].begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("timers"), false, t0())
        .await
        .unwrap();
    let mut tickets = Vec::new();
    for _ in 0..20 {
        let no = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap().no;
        for kind in ["a", "b", "c"] {
            tx.schedule_timer(no, kind, at(1), t0()).await.unwrap();
        }
        tickets.push(no);
    }
    tx.commit().await.unwrap();
    let fired: Arc<Mutex<Vec<(TicketNo, String)>>> = Arc::default();
    let mut handles = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let store = Arc::clone(store);
        let fired = Arc::clone(&fired);
        handles.push(tokio::spawn(async move {
            let name = format!("w{w}");
            loop {
                let due = store
                    .claim_due_timers(&name, at(2), Duration::from_secs(60), 4)
                    .await
                    .unwrap();
                if due.is_empty() {
                    break;
                }
                for timer in due {
                    let mut tx = store.begin().await.unwrap();
                    if tx.fire_timer(timer.id, &name, at(2)).await.unwrap() {
                        tx.commit().await.unwrap();
                        fired.lock().unwrap().push((timer.ticket, timer.kind));
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut fired = fired.lock().unwrap().clone();
    fired.sort();
    let mut expected: Vec<(TicketNo, String)> = tickets
        .iter()
        .flat_map(|no| ["a", "b", "c"].map(|k| (*no, k.to_string())))
        .collect();
    expected.sort();
    assert_eq!(fired, expected);
}

macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Shared::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Shared::pg()).await;
                }
            )+
        }
    };
}

on_both!(
    replicas_share_one_gap_free_sequence,
    replicas_deliver_each_item_once_in_chat_order,
    a_dead_replicas_claims_expire_and_are_taken_over,
    racing_replicas_fire_each_timer_once,
);

// ---------------------------------------------------------------------------------------
// PostgreSQL only: notifications and leadership between processes

/// Waits for a wake-up; a missing one fails the test instead of hanging it.
async fn woken(n: &Notify, what: &str) {
    tokio::time::timeout(Duration::from_secs(20), n.notified())
        .await
        .unwrap_or_else(|_| panic!("{what}: no wake-up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commits_wake_idle_workers_of_other_replicas() {
    let db = PgSchema::new();
    let (a, b) = (db.open().await, db.open().await);
    let outbox = Arc::new(Notify::new());
    let timers = Arc::new(Notify::new());
    b.watch_work(WorkKind::Outbox, Arc::clone(&outbox));
    b.watch_work(WorkKind::Timers, Arc::clone(&timers));
    // The first wake-up comes when the LISTEN connection is up (work may have been
    // committed before it): from then on every commit is heard.
    woken(&outbox, "listening").await;
    woken(&timers, "listening").await;

    // A rolled-back unit notifies nobody.
    let mut tx = a.begin().await.unwrap();
    tx.enqueue(
        &frontdesk::domain::Outbound::text(ChatAddress::new(Platform::Telegram, "x"), "hi"),
        t0(),
    )
    .await
    .unwrap();
    drop(tx);
    enqueue(&*a, &ChatAddress::new(Platform::Telegram, "x"), "hi", t0()).await;
    woken(&outbox, "outbox row committed by another replica").await;

    let mut tx = a.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("n"), false, t0())
        .await
        .unwrap();
    let no = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap().no;
    tx.schedule_timer(no, "reminder", at(60), t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    woken(&timers, "timer scheduled by another replica").await;

    // Another schema's commits are not this replica's work.
    let other = PgSchema::new();
    let stranger = other.open().await;
    enqueue(
        &*stranger,
        &ChatAddress::new(Platform::Telegram, "x"),
        "hi",
        t0(),
    )
    .await;
    enqueue(&*a, &ChatAddress::new(Platform::Telegram, "y"), "hi", t0()).await;
    woken(&outbox, "second row").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_replica_leads_a_role_until_it_goes() {
    let db = PgSchema::new();
    let (a, b) = (db.open().await, db.open().await);
    let lead = a.try_lead("telegram-polling").await.unwrap();
    let mut lead = lead.expect("the first replica leads");
    assert!(lead.still_held().await);
    assert!(b.try_lead("telegram-polling").await.unwrap().is_none());
    // Roles are independent.
    let other = b.try_lead("discord-gateway").await.unwrap();
    assert!(other.is_some());
    // Released: another replica takes it at once.
    lead.release().await;
    let mut lead = b
        .try_lead("telegram-polling")
        .await
        .unwrap()
        .expect("released role taken over");
    assert!(a.try_lead("telegram-polling").await.unwrap().is_none());

    // A leader whose process dies (its session is killed) loses the role; the lock is
    // gone with the session, so another replica takes over.
    let mut conn = db.connect().await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() \
           AND objid = hashtext($1)::oid",
    )
    .bind(format!("leader:{}:telegram-polling", db.name()))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    assert!(!lead.still_held().await, "the holder notices");
    let mut taken = None;
    for _ in 0..50 {
        taken = a.try_lead("telegram-polling").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken.is_some(), "taken over after the holder died");
}

#[tokio::test]
async fn sqlite_process_always_leads() {
    let (_dir, store) = crate::store_suite::sqlite_store().await;
    let mut lead = store.try_lead("telegram-polling").await.unwrap().unwrap();
    assert!(lead.still_held().await);
}

/// The work of a role runs on one replica at a time; when the holder's session dies its
/// work stops and the role is taken again (by either replica: the one whose session was
/// cut is still alive here — a killed process is the door test's case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leader_runs_the_work_on_one_replica_and_again_after_its_session_dies() {
    use frontdesk::leader::{Leader, LeaderConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let db = PgSchema::new();
    let config = LeaderConfig {
        check_every: Duration::from_millis(100),
        // The check time-out (2 s) + the check interval: the old work has stopped.
        grace: Duration::from_millis(2200),
    };
    let running: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    // Holders running the work at once, at most (never 2).
    let overlap = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..2 {
        let leader = Leader::new(db.open().await, "gateway", config.clone());
        let running = Arc::clone(&running);
        let starts = Arc::clone(&starts);
        let (overlap, most) = (Arc::clone(&overlap), Arc::clone(&most));
        let shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            leader
                .run(shutdown, |mut stop| {
                    let running = Arc::clone(&running);
                    let (overlap, most) = (Arc::clone(&overlap), Arc::clone(&most));
                    starts.fetch_add(1, Ordering::SeqCst);
                    async move {
                        running[i].fetch_add(1, Ordering::SeqCst);
                        let now = overlap.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let _ = stop.wait_for(|s| *s).await;
                        // Like a long poll: stopping takes a moment.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        overlap.fetch_sub(1, Ordering::SeqCst);
                        running[i].fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .await
        }));
    }
    let holder = |r: &[AtomicUsize; 2]| -> Vec<usize> {
        (0..2)
            .filter(|i| r[*i].load(Ordering::SeqCst) > 0)
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while holder(&running).is_empty() {
        assert!(std::time::Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Several checks later, still exactly one.
    for _ in 0..10 {
        assert_eq!(holder(&running).len(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    let mut conn = db.connect().await;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() \
           AND objid = hashtext($1)::oid",
    )
    .bind(format!("leader:{}:gateway", db.name()))
    .execute(&mut conn)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while starts.load(Ordering::SeqCst) < 2 || holder(&running).len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "no hand-over: {:?}",
            holder(&running)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown_tx.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(holder(&running).is_empty(), "work stopped on shutdown");
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
}

/// Work that ends by itself (a refused token) ends the competition for the role.
#[tokio::test]
async fn leader_stops_competing_when_the_work_ends_by_itself() {
    use frontdesk::leader::{Leader, LeaderConfig};
    let (_dir, store) = crate::store_suite::sqlite_store().await;
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    Leader::new(store, "polling", LeaderConfig::default())
        .run(rx, |_stop| {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {}
        })
        .await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// SPEC §9's duplicate window is the time between the platform accepting a message and
/// its `sent` row committing. The outbox records on connections of its own, so inbound
/// units holding every connection of the pool (e.g. queued on the ticket counter) cannot
/// hold an outcome back; before, the outcome waited for a pool connection (seconds under
/// load: 32 messages sent twice after a SIGKILL in the door test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox_records_outcomes_while_inbound_units_hold_the_whole_pool() {
    use frontdesk::outbox::{OutboxConfig, OutboxWorker};
    use frontdesk::ports::SystemClock;
    use frontdesk::store::postgres::PgOptions;
    let db = PgSchema::new();
    let store = Arc::new(
        frontdesk::store::postgres::PgStore::open_options(
            db.connect_options(),
            PgOptions {
                max_connections: 2,
                acquire_timeout: Duration::from_secs(2),
            },
        )
        .await
        .unwrap(),
    );
    let to = ChatAddress::new(Platform::Telegram, "c");
    for text in ["1", "2", "3"] {
        enqueue(&*store, &to, text, chrono::Utc::now()).await;
    }
    // Every pool connection busy in an open unit of work.
    let held = (store.begin().await.unwrap(), store.begin().await.unwrap());
    let transport = crate::support::RecordingTransport::new(Platform::Telegram);
    let worker = OutboxWorker::with_transports(
        store.clone(),
        [transport.clone() as Arc<dyn frontdesk::ports::ChatTransport>],
        Arc::new(SystemClock),
        OutboxConfig::default(),
    );
    assert_eq!(worker.drain().await.unwrap(), 3);
    drop(held);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent), (0, 3));
    assert_eq!(transport.take().len(), 3);
}
