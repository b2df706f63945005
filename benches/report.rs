//! Reports and the desk's queue on a large store (issue 5 acceptance: `report --csv` on
//! 100 000 tickets under 2 s, `/queue` under 50 ms). One SQLite file is seeded once with
//! `frontdesk::seed` (100 000 tickets over 90 days; `FRONTDESK_BENCH_TICKETS` to change):
//! * `report_csv_30d`: gather the facts of the last 30 days, compute, render the CSV;
//! * `report_csv_all_by_agent`: every ticket of the store (365 days), split by agent;
//! * `stats_today`: the desk's `/stats` figures of today;
//! * `queue_desk`: the desk's `/queue` through the service — dedup key, query, answer in
//!   the outbox, commit;
//! * `queue_store`: the queue query alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use frontdesk::domain::{ChatAddress, Platform};
use frontdesk::metrics::{render, GroupBy, Period};
use frontdesk::metrics_worker::gather;
use frontdesk::ports::SystemClock;
use frontdesk::seed::{seed, SeedPlan};
use frontdesk::service::{Agent, DeskInbound, Knowledge, Service};
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::Store;

fn bench_report(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tickets: u32 = std::env::var("FRONTDESK_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = rt.block_on(async {
        let store = SqliteStore::open(&url).await.unwrap();
        let started = Instant::now();
        let plan = SeedPlan::new(tickets, 90, chrono::Utc::now());
        let done = seed(&store, &plan).await.unwrap();
        eprintln!(
            "seeded {} tickets ({} in the queue) in {:.1} s",
            done.tickets,
            done.active,
            started.elapsed().as_secs_f64()
        );
        Arc::new(store)
    });
    let kb = frontdesk::faq::KnowledgeBase {
        topics: Vec::new(),
        entries: Vec::new(),
        synonyms: Vec::new(),
    };
    let service = Service::new(
        store.clone(),
        Knowledge::new(kb),
        Arc::new(frontdesk::triage::TriageRules::builtin()),
        frontdesk::sla::SlaPolicy::default(),
        Default::default(),
        Arc::new(SystemClock),
    );

    let mut group = c.benchmark_group(format!("report_{tickets}"));
    group.sample_size(10);
    let report_csv = |period: Period, by: Option<GroupBy>| {
        let store = store.clone();
        async move {
            let window = period.window(chrono::Utc::now());
            let report = gather(store.as_ref(), &window, by).await.unwrap();
            render::csv(render::CSV_HEADER, &render::rows(&report))
                .unwrap()
                .len()
        }
    };
    group.bench_function("report_csv_30d", |b| {
        b.iter(|| rt.block_on(report_csv(Period::Days(30), None)))
    });
    group.bench_function("report_csv_all_by_agent", |b| {
        b.iter(|| rt.block_on(report_csv(Period::Days(365), Some(GroupBy::Agent))))
    });
    group.bench_function("stats_today", |b| {
        b.iter(|| {
            rt.block_on(async {
                let window = Period::Today.window(chrono::Utc::now());
                let report = gather(store.as_ref(), &window, None).await.unwrap();
                render::stats_text(&report).len()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("queue_{tickets}"));
    let seq = AtomicU64::new(0);
    group.bench_function("queue_desk", |b| {
        b.iter(|| {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            let inbound = DeskInbound {
                key: format!("bench:queue:{n}"),
                agent: Agent {
                    platform: Platform::Console,
                    user_id: "ana".into(),
                    name: "ana".into(),
                },
                ticket: None,
                reply_to: ChatAddress::new(Platform::Console, "desk"),
                text: "/queue".into(),
            };
            rt.block_on(service.handle_desk(inbound)).unwrap()
        })
    });
    group.bench_function("queue_store", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tx = store.begin().await.unwrap();
                tx.queue(20).await.unwrap().len()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_report);
criterion_main!(benches);
