//! Telegram end to end against the in-process fake Bot API (the one the tests use):
//! an update is queued at the fake → long polling → service (matcher, triage, SQLite
//! transaction) → outbox → `TelegramTransport` → sendMessage arrives at the fake.
//!
//! * `telegram_e2e/burst_500`: 500 customers write at once; time until all 500 replies
//!   arrived (throughput, per message).
//! * A paced pass (printed, not timed by criterion): messages at a steady rate, each one's
//!   latency from queueing to its reply; p50/p99 printed.
//!
//! Telegram's own send limits are lifted here: they cap what may go to Telegram, not how
//! fast frontdesk can work, which is what this measures.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use frontdesk::adapters::telegram::{Mode, TelegramChannel, TelegramConfig, TelegramLimits};
use frontdesk::outbox::{OutboxConfig, OutboxWorker};
use frontdesk::ports::{ChatTransport, SystemClock};
use frontdesk::service::{Knowledge, Service};
use frontdesk::sla::SlaPolicy;
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::Store;
use frontdesk::triage::TriageRules;
use secrecy::SecretString;
use tokio::sync::watch;

#[allow(dead_code)]
#[path = "../tests/it/telegram/fake.rs"]
mod fake;

use fake::{FakeBotApi, TOKEN};

const QUESTIONS: &[&str] = &[
    "How do I reset my password?",
    "where is my parcel",
    "I want a refund for my order",
    "怎么修改收货地址",
    "the app crashes when I open it",
    "hello",
    "can I change the delivery address",
    "我的订单什么时候发货",
];

struct Bench {
    fake: FakeBotApi,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
    next_user: i64,
}

async fn setup() -> Bench {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let kb = frontdesk::app::load_knowledge(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/faq"
    )))
    .unwrap();
    let unlimited = NonZeroU32::new(1_000_000).unwrap();
    let limits = TelegramLimits {
        per_chat_per_second: unlimited,
        per_chat_burst: unlimited,
        per_group_per_minute: unlimited,
        global_per_second: unlimited,
        max_wait: Duration::from_secs(10),
    };
    let channel = TelegramChannel::new(
        &SecretString::from(TOKEN),
        TelegramConfig {
            api_url: fake.url.parse().unwrap(),
            mode: Mode::Polling,
            limits,
            poll_timeout: Duration::from_secs(1),
            max_backoff: Duration::from_millis(200),
        },
    );
    let outbox = Arc::new(OutboxWorker::with_transports(
        store.clone(),
        [channel.transport() as Arc<dyn ChatTransport>],
        Arc::new(SystemClock),
        OutboxConfig {
            // For tuning runs: BENCH_OUTBOX_GATHER_MS=2 cargo bench --bench telegram
            gather: std::env::var("BENCH_OUTBOX_GATHER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(OutboxConfig::default().gather),
            ..OutboxConfig::default()
        },
    ));
    let service = Arc::new(
        Service::new(
            store,
            Knowledge::new(kb),
            Arc::new(TriageRules::builtin()),
            SlaPolicy::default(),
            Default::default(),
            Arc::new(SystemClock),
        )
        .with_outbox_waker(outbox.waker()),
    );
    let (stop, rx) = watch::channel(false);
    tokio::spawn(outbox.run(rx.clone()));
    channel.spawn(service, rx);
    fake.wait_for("polling", |f| !f.calls("getupdates").is_empty())
        .await;
    Bench {
        fake,
        _stop: stop,
        _dir: dir,
        next_user: 1,
    }
}

impl Bench {
    /// `n` new customers write one message each; returns when every reply arrived.
    async fn burst(&mut self, n: usize) -> Duration {
        let first = self.next_user;
        self.next_user += n as i64;
        let before = self.fake.count("sendmessage");
        let started = Instant::now();
        for i in 0..n {
            self.fake
                .text(first + i as i64, QUESTIONS[i % QUESTIONS.len()]);
        }
        self.fake
            // `count`, not `calls`: cloning every recorded call on each check made the
            // harness itself the bottleneck as calls pile up over the iterations.
            .wait_for("all replies", |f| f.count("sendmessage") >= before + n)
            .await;
        started.elapsed()
    }

    /// A burst of `n`: (time until the poller confirmed the last update, i.e. every
    /// update is stored; time until every reply arrived).
    async fn burst_breakdown(&mut self, n: usize) -> (Duration, Duration) {
        let first = self.next_user;
        self.next_user += n as i64;
        let before = self.fake.count("sendmessage");
        let started = Instant::now();
        let mut last = 0;
        for i in 0..n {
            last = self
                .fake
                .text(first + i as i64, QUESTIONS[i % QUESTIONS.len()]);
        }
        self.fake
            .wait_for("the last update to be confirmed", |f| {
                f.calls("getupdates")
                    .last()
                    .is_some_and(|c| c.body["offset"].as_i64().unwrap_or(0) > last)
            })
            .await;
        let inbound = started.elapsed();
        self.fake
            .wait_for("all replies", |f| f.count("sendmessage") >= before + n)
            .await;
        (inbound, started.elapsed())
    }

    /// Messages at `rate` per second; latency of each from queueing to its first reply.
    async fn paced(&mut self, n: usize, rate: f64) -> Vec<Duration> {
        let first = self.next_user;
        self.next_user += n as i64;
        let gap = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now();
        let mut queued = Vec::with_capacity(n);
        for i in 0..n {
            let at = start + gap * i as u32;
            tokio::time::sleep_until(at.into()).await;
            queued.push(Instant::now());
            self.fake
                .text(first + i as i64, QUESTIONS[i % QUESTIONS.len()]);
        }
        let last = first + n as i64 - 1;
        self.fake
            .wait_for("the last reply", |f| !f.sends_to(last).is_empty())
            .await;
        (0..n)
            .map(|i| {
                let reply = self.fake.sends_to(first + i as i64)[0].at;
                reply.saturating_duration_since(queued[i])
            })
            .collect()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn telegram_e2e(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut bench = rt.block_on(setup());

    rt.block_on(async {
        let _ = bench.paced(100, 200.0).await; // warm up
        for rate in [500.0, 1000.0] {
            let mut latencies = bench.paced(3000, rate).await;
            latencies.sort();
            eprintln!(
                "telegram e2e paced {rate} msg/s, 3000 msgs: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                latencies[latencies.len() - 1]
            );
        }
    });

    rt.block_on(async {
        let (inbound, total) = bench.burst_breakdown(1000).await;
        eprintln!(
            "telegram e2e burst of 1000: all stored (offset confirmed) after {inbound:.2?} \
             ({:.0} msg/s), all replies sent after {total:.2?} ({:.0} msg/s)",
            1000.0 / inbound.as_secs_f64(),
            1000.0 / total.as_secs_f64()
        );
    });

    const N: usize = 500;
    let mut group = c.benchmark_group("telegram_e2e");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("burst_500", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += bench.burst(N).await;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, telegram_e2e);
criterion_main!(benches);
