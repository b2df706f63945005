//! The housekeeper over a real store: a pass deletes everything retention calls old, in
//! batches, on SQLite and PostgreSQL; the worker runs a pass at start and stops on
//! shutdown; turned off, it deletes nothing.

use std::sync::Arc;
use std::time::Duration;

use frontdesk::housekeeping::{Housekeeper, RetentionSettings};
use frontdesk::ports::ManualClock;
use frontdesk::store::Store;
use tokio::sync::watch;

use crate::store_suite::{sqlite_store, t0};

const DAY: i64 = 24 * 3600;

/// `old` keys recorded at `t0`, `new` ones a week later.
async fn record_keys(store: &dyn Store, old: usize, new: usize) {
    let mut tx = store.begin().await.unwrap();
    for i in 0..old {
        tx.record_inbound(&format!("old:{i}"), t0()).await.unwrap();
    }
    for i in 0..new {
        tx.record_inbound(
            &format!("new:{i}"),
            t0() + chrono::Duration::seconds(7 * DAY),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// A week and a day after `t0`: the old keys are past the default 7 days, the new not.
fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0() + chrono::Duration::seconds(8 * DAY)))
}

async fn is_known(store: &dyn Store, key: &str) -> bool {
    let mut tx = store.begin().await.unwrap();
    !tx.record_inbound(key, t0()).await.unwrap()
}

async fn a_pass_deletes_all_that_is_old_in_batches(store: Arc<dyn Store>) {
    record_keys(store.as_ref(), 2_500, 10).await;
    let keeper = Housekeeper::new(store.clone(), clock(), RetentionSettings::default());
    let pruned = keeper.run_once().await.unwrap();
    assert_eq!(pruned.inbound_keys, 2_500, "three batches of at most 1,000");
    assert_eq!(keeper.run_once().await.unwrap().total(), 0);
    assert!(!is_known(store.as_ref(), "old:0").await);
    assert!(!is_known(store.as_ref(), "old:2499").await);
    assert!(is_known(store.as_ref(), "new:9").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_deletes_all_that_is_old_in_batches_sqlite() {
    let (_dir, store) = sqlite_store().await;
    a_pass_deletes_all_that_is_old_in_batches(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_deletes_all_that_is_old_in_batches_postgres() {
    let schema = crate::pg::PgSchema::new();
    a_pass_deletes_all_that_is_old_in_batches(schema.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_prunes_at_start_and_stops_on_shutdown() {
    let (_dir, store) = sqlite_store().await;
    record_keys(store.as_ref(), 3, 1).await;
    let (stop, shutdown) = watch::channel(false);
    let keeper = Housekeeper::new(store.clone(), clock(), RetentionSettings::default());
    let task = tokio::spawn(keeper.run(shutdown));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while is_known(store.as_ref(), "old:2").await {
        assert!(tokio::time::Instant::now() < deadline, "nothing pruned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(is_known(store.as_ref(), "new:0").await);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the housekeeper stops on shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_it_deletes_nothing() {
    let (_dir, store) = sqlite_store().await;
    record_keys(store.as_ref(), 3, 0).await;
    let (_stop, shutdown) = watch::channel(false);
    let off = RetentionSettings {
        enabled: false,
        ..RetentionSettings::default()
    };
    tokio::time::timeout(
        Duration::from_secs(5),
        Housekeeper::new(store.clone(), clock(), off).run(shutdown),
    )
    .await
    .expect("returns at once when off");
    assert!(is_known(store.as_ref(), "old:0").await);
}
