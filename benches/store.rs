//! Store throughput on a temp-file SQLite database (WAL, synchronous=NORMAL):
//! * `ticket_unit`: one inbound unit — dedup key + upsert customer + create ticket +
//!   message + event + enqueue reply, committed;
//! * `ticket_unit_8_tasks`: the same from 8 concurrent tasks (per unit);
//! * `outbox_claim_sent`: claim a batch of lane heads, mark each sent (per item);
//! * `outbox_settle`: the worker's way — record a batch's outcomes and claim the next
//!   batch in one write transaction (per item).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use frontdesk::domain::{
    Category, ChatAddress, CustomerIdentity, Direction, Outbound, Platform, Priority, Timestamp,
};
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::{NewTicket, OutboxClaim, OutboxUpdate, Store, TicketEvent, TicketMessage};

fn now() -> Timestamp {
    chrono::Utc::now()
}

async fn one_unit(store: &dyn Store, n: u64) {
    let t = now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .record_inbound(&format!("bench:update:{n}"), t)
        .await
        .unwrap());
    let who = CustomerIdentity {
        platform: Platform::Telegram,
        user_id: format!("u{}", n % 1000),
        chat_id: format!("c{}", n % 1000),
        display_name: "Bench User".into(),
        language: None,
    };
    let customer = tx.upsert_customer(&who, false, t).await.unwrap();
    let ticket = tx
        .create_ticket(&NewTicket {
            customer: customer.id,
            category: Category::Problem,
            priority: Priority::P2,
            department: "tech".into(),
            subject: "payment failed twice".into(),
            now: t,
            first_response_due: t,
            resolution_due: t,
        })
        .await
        .unwrap();
    tx.add_message(&TicketMessage {
        ticket: ticket.no,
        direction: Direction::Inbound,
        author: "customer".into(),
        text: "my payment failed twice, please help".into(),
        attachments: vec![],
        at: t,
    })
    .await
    .unwrap();
    tx.add_event(&TicketEvent {
        ticket: ticket.no,
        kind: "created".into(),
        actor: "customer".into(),
        detail: "problem/P2".into(),
        at: t,
    })
    .await
    .unwrap();
    tx.enqueue(
        &Outbound::text(customer.chat(), "We opened ticket for you.").for_ticket(ticket.no),
        t,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(rt.block_on(SqliteStore::open(&url)).unwrap());
    let counter = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ticket_unit", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            rt.block_on(one_unit(&*store, n));
        })
    });

    group.bench_function("ticket_unit_8_tasks", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            rt.block_on(async {
                let mut handles = Vec::new();
                for task in 0..8u64 {
                    let store = Arc::clone(&store);
                    let counter = Arc::clone(&counter);
                    let share = iters / 8 + u64::from(task < iters % 8);
                    handles.push(tokio::spawn(async move {
                        for _ in 0..share {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            one_unit(&*store, n).await;
                        }
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            });
            start.elapsed()
        })
    });

    // Drain what the unit benches queued so the outbox bench starts clean.
    rt.block_on(async {
        loop {
            let items = store
                .claim_outbox(
                    "bench",
                    now(),
                    Duration::from_secs(30),
                    1000,
                    frontdesk::domain::Platform::ALL,
                )
                .await
                .unwrap();
            if items.is_empty() {
                break;
            }
            for item in items {
                store.outbox_sent(item.id, now(), None).await.unwrap();
            }
        }
    });

    group.bench_function("outbox_claim_sent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                enqueue_lanes(&*store, &counter, iters).await;
                let start = Instant::now();
                let mut done = 0;
                while done < iters {
                    let items = store
                        .claim_outbox(
                            "bench",
                            now(),
                            Duration::from_secs(30),
                            32,
                            frontdesk::domain::Platform::ALL,
                        )
                        .await
                        .unwrap();
                    assert!(!items.is_empty());
                    for item in items {
                        store.outbox_sent(item.id, now(), Some("m")).await.unwrap();
                        done += 1;
                    }
                }
                start.elapsed()
            })
        })
    });

    group.bench_function("outbox_settle", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                enqueue_lanes(&*store, &counter, iters).await;
                let start = Instant::now();
                let mut done: Vec<OutboxUpdate> = Vec::new();
                let mut recorded = 0;
                while recorded < iters {
                    let claim = OutboxClaim {
                        worker: "bench",
                        lease: Duration::from_secs(30),
                        limit: 32,
                        platforms: frontdesk::domain::Platform::ALL,
                    };
                    recorded += done.len() as u64;
                    let settled = store
                        .outbox_settle(&done, now(), Some(claim))
                        .await
                        .unwrap();
                    done = settled
                        .claimed
                        .iter()
                        .map(|item| OutboxUpdate::Sent {
                            id: item.id,
                            platform_message_id: Some("m".into()),
                        })
                        .collect();
                    assert!(!done.is_empty() || recorded >= iters, "ran out of items");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// Bench setup (not timed): `n` pending items, one per new lane, 64 lanes per commit.
async fn enqueue_lanes(store: &dyn Store, counter: &AtomicU64, n: u64) {
    let mut left = n;
    while left > 0 {
        let mut tx = store.begin().await.unwrap();
        for _ in 0..left.min(64) {
            let lane = counter.fetch_add(1, Ordering::Relaxed);
            let to = ChatAddress::new(Platform::Telegram, format!("lane{lane}"));
            tx.enqueue(&Outbound::text(to, "reply"), now())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        left = left.saturating_sub(64);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_store
}
criterion_main!(benches);
