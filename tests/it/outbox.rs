//! Outbox worker against a real (temp-file SQLite) store, a scripted fake transport and
//! a manual clock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use frontdesk::domain::{ChatAddress, Outbound, Platform, Timestamp};
use frontdesk::outbox::{OutboxConfig, OutboxWorker};
use frontdesk::ports::{ChatTransport, Clock, Delivered, DeliveryError, ManualClock};
use frontdesk::store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::store_suite::{enqueue, identity, sqlite_store, t0};

/// One call of `deliver`, successful or not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attempt {
    text: String,
    at: Timestamp,
    ok: bool,
}

/// Records every delivery attempt; answers from a per-text script (default: delivered).
struct FakeTransport {
    platform: Platform,
    clock: ManualClock,
    attempts: Mutex<Vec<Attempt>>,
    script: Mutex<HashMap<String, VecDeque<Result<Delivered, DeliveryError>>>>,
    /// When set, each delivery waits for a permit (to hold deliveries in flight).
    gate: Option<Semaphore>,
    started: AtomicUsize,
    started_signal: Notify,
}

impl FakeTransport {
    fn new(clock: &ManualClock) -> Self {
        FakeTransport {
            platform: Platform::Telegram,
            clock: clock.clone(),
            attempts: Mutex::new(Vec::new()),
            script: Mutex::new(HashMap::new()),
            gate: None,
            started: AtomicUsize::new(0),
            started_signal: Notify::new(),
        }
    }

    fn gated(clock: &ManualClock) -> Self {
        FakeTransport {
            gate: Some(Semaphore::new(0)),
            ..FakeTransport::new(clock)
        }
    }

    fn script(
        &self,
        text: &str,
        answers: impl IntoIterator<Item = Result<Delivered, DeliveryError>>,
    ) {
        self.script
            .lock()
            .unwrap()
            .entry(text.to_string())
            .or_default()
            .extend(answers);
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<String> {
        self.attempts()
            .into_iter()
            .filter(|a| a.ok)
            .map(|a| a.text)
            .collect()
    }

    fn attempt_times(&self, text: &str) -> Vec<Timestamp> {
        self.attempts()
            .into_iter()
            .filter(|a| a.text == text)
            .map(|a| a.at)
            .collect()
    }

    async fn wait_started(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.started.load(Ordering::SeqCst) < n {
                let notified = self.started_signal.notified();
                if self.started.load(Ordering::SeqCst) >= n {
                    break;
                }
                notified.await;
            }
        })
        .await
        .expect("deliveries did not start");
    }
}

#[async_trait]
impl ChatTransport for FakeTransport {
    fn platform(&self) -> Platform {
        self.platform
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        let text = &message.body.summary();
        let at = self.clock.now();
        self.started.fetch_add(1, Ordering::SeqCst);
        self.started_signal.notify_waiters();
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let answer = self
            .script
            .lock()
            .unwrap()
            .get_mut(text)
            .and_then(|q| q.pop_front())
            .unwrap_or_else(|| {
                Ok(Delivered {
                    platform_message_id: Some(format!("msg-{text}")),
                })
            });
        self.attempts.lock().unwrap().push(Attempt {
            text: text.clone(),
            at,
            ok: answer.is_ok(),
        });
        answer
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    clock: ManualClock,
    transport: Arc<FakeTransport>,
    worker: Arc<OutboxWorker>,
}

async fn rig_with(config: OutboxConfig, gated: bool) -> Rig {
    let (dir, store) = sqlite_store().await;
    let clock = ManualClock::new(t0());
    let transport = Arc::new(if gated {
        FakeTransport::gated(&clock)
    } else {
        FakeTransport::new(&clock)
    });
    let worker = Arc::new(OutboxWorker::with_transports(
        Arc::clone(&store),
        [transport.clone() as Arc<dyn ChatTransport>],
        Arc::new(clock.clone()),
        config,
    ));
    Rig {
        _dir: dir,
        store,
        clock,
        transport,
        worker,
    }
}

async fn rig() -> Rig {
    rig_with(OutboxConfig::default(), false).await
}

fn chat(id: &str) -> ChatAddress {
    ChatAddress::new(Platform::Telegram, id)
}

fn transient() -> Result<Delivered, DeliveryError> {
    Err(DeliveryError::Transient("HTTP 502".into()))
}

impl Rig {
    async fn send(&self, to: &str, text: &str) {
        enqueue(&*self.store, &chat(to), text, self.clock.now()).await;
    }

    async fn stats(&self) -> (u64, u64, u64) {
        let s = self.store.outbox_stats().await.unwrap();
        (s.pending, s.sent, s.dead)
    }
}

#[tokio::test]
async fn delivers_and_records_sent() {
    let rig = rig().await;
    rig.send("A", "hello").await;
    rig.send("B", "world").await;
    assert_eq!(rig.worker.drain().await.unwrap(), 2);
    let mut delivered = rig.transport.delivered();
    delivered.sort();
    assert_eq!(delivered, ["hello", "world"]);
    assert_eq!(rig.stats().await, (0, 2, 0));
    assert_eq!(
        rig.worker.drain().await.unwrap(),
        0,
        "nothing is sent twice"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_not_counted_as_failure() {
    let config = OutboxConfig {
        max_attempts: 2,
        ..OutboxConfig::default()
    };
    let rig = rig_with(config, false).await;
    rig.transport.script(
        "slow down",
        (0..4).map(|_| Err(DeliveryError::RetryAfter(Duration::from_secs(10)))),
    );
    rig.send("A", "slow down").await;
    rig.send("A", "after").await;

    for round in 0..4 {
        assert_eq!(rig.worker.drain().await.unwrap(), 1, "round {round}");
        rig.clock.advance(Duration::from_secs(9));
        assert_eq!(rig.worker.drain().await.unwrap(), 0, "not before the wait");
        rig.clock.advance(Duration::from_secs(1));
    }
    rig.worker.drain().await.unwrap();
    let times = rig.transport.attempt_times("slow down");
    assert_eq!(times.len(), 5);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::seconds(10),
            "{times:?}"
        );
    }
    // Four 429s with max_attempts = 2: still delivered, then the lane moves on.
    assert_eq!(rig.transport.delivered(), ["slow down", "after"]);
    assert_eq!(rig.stats().await, (0, 2, 0));
}

#[tokio::test]
async fn transient_failures_back_off_then_succeed() {
    let rig = rig().await;
    rig.transport.script("flaky", [transient(), transient()]);
    rig.send("A", "flaky").await;

    assert_eq!(rig.worker.drain().await.unwrap(), 1);
    assert_eq!(
        rig.worker.drain().await.unwrap(),
        0,
        "backoff: not due at once"
    );
    rig.clock.advance(Duration::from_secs(1));
    assert_eq!(rig.worker.drain().await.unwrap(), 1);
    rig.clock.advance(Duration::from_secs(2));
    assert_eq!(rig.worker.drain().await.unwrap(), 1);

    let times = rig.transport.attempt_times("flaky");
    assert_eq!(times.len(), 3);
    assert!(times[1] - times[0] >= chrono::Duration::milliseconds(500));
    assert!(times[2] - times[1] >= chrono::Duration::seconds(1));
    assert_eq!(rig.transport.delivered(), ["flaky"]);
    assert_eq!(rig.stats().await, (0, 1, 0));
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_the_lane_continues() {
    let config = OutboxConfig {
        max_attempts: 3,
        ..OutboxConfig::default()
    };
    let rig = rig_with(config, false).await;
    rig.transport.script("doomed", (0..10).map(|_| transient()));
    rig.send("A", "doomed").await;
    rig.send("A", "next").await;

    for _ in 0..6 {
        rig.worker.drain().await.unwrap();
        rig.clock.advance(Duration::from_secs(300));
    }
    assert_eq!(rig.transport.attempt_times("doomed").len(), 3);
    assert_eq!(rig.transport.delivered(), ["next"]);
    assert_eq!(rig.stats().await, (0, 1, 1), "dead item visible in stats");
}

#[tokio::test]
async fn per_lane_order_is_kept_across_retries() {
    let rig = rig().await;
    rig.transport
        .script("a1", [transient(), transient(), transient()]);
    for text in ["a1", "a2", "a3"] {
        rig.send("A", text).await;
    }
    rig.send("B", "b1").await;
    rig.send("B", "b2").await;

    for _ in 0..10 {
        rig.worker.drain().await.unwrap();
        rig.clock.advance(Duration::from_secs(20));
    }
    let delivered = rig.transport.delivered();
    let lane_a: Vec<_> = delivered.iter().filter(|t| t.starts_with('a')).collect();
    assert_eq!(lane_a, ["a1", "a2", "a3"]);
    // Lane B was not held up by lane A's retries.
    let pos = |t: &str| delivered.iter().position(|d| d == t).unwrap();
    assert!(pos("b2") < pos("a1"), "{delivered:?}");
    // a2 was never even attempted before a1 succeeded.
    let log = rig.transport.attempts();
    let first_a2 = log.iter().position(|a| a.text == "a2").unwrap();
    let a1_ok = log.iter().position(|a| a.text == "a1" && a.ok).unwrap();
    assert!(first_a2 > a1_ok, "{log:?}");
    assert_eq!(log.iter().filter(|a| a.text == "a1").count(), 4);
}

#[tokio::test]
async fn rejected_is_dead_at_once() {
    let rig = rig().await;
    rig.transport.script(
        "bad",
        [Err(DeliveryError::Rejected(
            "400 message is too long".into(),
        ))],
    );
    rig.send("A", "bad").await;
    rig.send("A", "good").await;
    rig.worker.drain().await.unwrap();
    assert_eq!(rig.transport.attempt_times("bad").len(), 1);
    assert_eq!(rig.transport.delivered(), ["good"]);
    assert_eq!(rig.stats().await, (0, 1, 1));
}

#[tokio::test]
async fn unreachable_customer_is_marked_and_their_chat_dead_lettered() {
    let rig = rig().await;
    let mut tx = rig.store.begin().await.unwrap();
    let customer = tx
        .upsert_customer(&identity("blocker"), false, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rig.transport.script(
        "first",
        [Err(DeliveryError::Unreachable(
            "403 bot was blocked by the user".into(),
        ))],
    );
    rig.send(&customer.chat_id, "first").await;
    rig.send(&customer.chat_id, "second").await;
    rig.send("other", "unaffected").await;
    rig.worker.drain().await.unwrap();

    assert_eq!(rig.transport.delivered(), ["unaffected"]);
    assert!(rig.transport.attempt_times("second").is_empty());
    assert_eq!(rig.stats().await, (0, 1, 2));
    assert!(
        rig.store
            .customer(customer.id)
            .await
            .unwrap()
            .unwrap()
            .unreachable
    );
}

#[tokio::test]
async fn platform_without_transport_is_left_for_a_worker_that_has_one() {
    let rig = rig().await;
    let discord = ChatAddress::new(Platform::Discord, "d1");
    enqueue(&*rig.store, &discord, "to discord", t0()).await;
    assert_eq!(
        rig.worker.drain().await.unwrap(),
        0,
        "not claimed, not leased"
    );
    rig.clock.advance(Duration::from_secs(3600));
    assert_eq!(rig.worker.drain().await.unwrap(), 0);
    assert_eq!(rig.stats().await, (1, 0, 0), "kept pending, never dead");
    // Another worker (another process) with a Discord transport takes it at once,
    // with no attempt counted.
    let item = rig
        .store
        .claim_outbox(
            "probe",
            rig.clock.now(),
            Duration::from_secs(1),
            1,
            &[Platform::Discord],
        )
        .await
        .unwrap();
    assert_eq!(item.len(), 1);
    assert_eq!(item[0].attempts, 0);
    assert_eq!(item[0].message.to, discord);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_of_different_lanes_are_delivered_concurrently() {
    let rig = rig_with(OutboxConfig::default(), true).await;
    rig.send("A", "a").await;
    rig.send("B", "b").await;
    let worker = Arc::clone(&rig.worker);
    let round = tokio::spawn(async move { worker.run_once().await });
    // Both deliveries are in flight before either is allowed to finish.
    rig.transport.wait_started(2).await;
    rig.transport.gate.as_ref().unwrap().add_permits(2);
    assert_eq!(round.await.unwrap().unwrap(), 2);
    assert_eq!(rig.stats().await, (0, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wakes_on_notify_and_finishes_in_flight_work_on_shutdown() {
    let rig = rig_with(OutboxConfig::default(), true).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&rig.worker).run(stopped));

    rig.send("A", "in flight").await;
    rig.worker.waker().notify_one();
    rig.transport.wait_started(1).await;

    stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !running.is_finished(),
        "must wait for the delivery in flight"
    );
    rig.transport.gate.as_ref().unwrap().add_permits(1);
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("worker stops after finishing")
        .unwrap();
    assert_eq!(rig.transport.delivered(), ["in flight"]);
    assert_eq!(
        rig.stats().await,
        (0, 1, 0),
        "outcome recorded before returning"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_keeps_delivering_until_stopped() {
    let rig = rig().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&rig.worker).run(stopped));
    for i in 0..5 {
        rig.send(&format!("c{i}"), &format!("m{i}")).await;
        rig.worker.waker().notify_one();
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while rig.stats().await.1 < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("all delivered");
    drop(stop);
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("dropping the sender stops the worker")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pipelines_many_lanes_keeping_each_lanes_order_exactly_once() {
    let config = OutboxConfig {
        batch_size: 4,
        gather: Duration::from_millis(1),
        ..OutboxConfig::default()
    };
    let rig = rig_with(config, false).await;
    for n in 0..5 {
        for lane in 0..12 {
            rig.send(&format!("c{lane}"), &format!("c{lane}-{n}")).await;
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&rig.worker).run(stopped));
    rig.worker.waker().notify_one();
    tokio::time::timeout(Duration::from_secs(10), async {
        while rig.stats().await.1 < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("all delivered");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("worker stops")
        .unwrap();
    let delivered = rig.transport.delivered();
    assert_eq!(delivered.len(), 60, "each item exactly once");
    for lane in 0..12 {
        let prefix = format!("c{lane}-");
        let order: Vec<&String> = delivered
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .collect();
        let expected: Vec<String> = (0..5).map(|n| format!("{prefix}{n}")).collect();
        assert_eq!(order, expected.iter().collect::<Vec<_>>(), "lane c{lane}");
    }
    assert_eq!(rig.stats().await, (0, 60, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_records_and_refills_while_other_deliveries_are_in_flight() {
    let rig = rig_with(OutboxConfig::default(), true).await;
    rig.send("A", "a").await;
    rig.send("B", "b").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&rig.worker).run(stopped));
    rig.worker.waker().notify_one();
    rig.transport.wait_started(2).await;
    let gate = rig.transport.gate.as_ref().unwrap();
    gate.add_permits(1);
    // One finished: recorded without waiting for the other, still in flight.
    tokio::time::timeout(Duration::from_secs(5), async {
        while rig.stats().await != (1, 1, 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("first outcome recorded while the other delivery is in flight");
    // New work starts at once, too.
    rig.send("C", "c").await;
    rig.worker.waker().notify_one();
    rig.transport.wait_started(3).await;
    gate.add_permits(2);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("worker stops")
        .unwrap();
    assert_eq!(rig.stats().await, (0, 3, 0));
}
