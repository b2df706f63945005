//! The store contract, written once against `Arc<dyn Store>` so every backend runs the
//! same suite (SQLite file, SQLite in memory, PostgreSQL in a fresh schema), plus
//! SQLite-specific failure modes.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use frontdesk::domain::{
    Attachment, Category, ChatAddress, CustomerId, CustomerIdentity, Direction, Language, Outbound,
    Platform, Priority, TicketAction, TicketNo, TicketState, Timestamp,
};
use frontdesk::store::sqlite::{SqliteOptions, SqliteStore};
use frontdesk::store::{
    FaqFeedback, NewTicket, OutboxClaim, OutboxUpdate, Rating, Store, StoreError, TicketEvent,
    TicketFilter, TicketMessage,
};

// ---------------------------------------------------------------------------------------
// Helpers shared with other test modules

/// A fixed start time with millisecond precision (what the store keeps).
pub fn t0() -> Timestamp {
    chrono::Utc
        .timestamp_millis_opt(1_700_000_000_000)
        .single()
        .unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    t0() + chrono::Duration::seconds(secs)
}

pub fn identity(user: &str) -> CustomerIdentity {
    CustomerIdentity {
        platform: Platform::Telegram,
        user_id: user.to_string(),
        chat_id: format!("chat-{user}"),
        display_name: format!("User {user}"),
        language: None,
    }
}

pub fn new_ticket(customer: CustomerId, now: Timestamp) -> NewTicket {
    NewTicket {
        customer,
        category: Category::Problem,
        priority: Priority::P2,
        department: "tech".into(),
        subject: "cannot log in".into(),
        now,
        first_response_due: now + chrono::Duration::minutes(30),
        resolution_due: now + chrono::Duration::hours(24),
    }
}

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    (dir, Arc::new(store))
}

pub async fn enqueue(store: &dyn Store, to: &ChatAddress, text: &str, now: Timestamp) {
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&Outbound::text(to.clone(), text), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn text_of(item: &frontdesk::store::OutboxItem) -> &str {
    item.message.text_body().expect("a text message")
}

// ---------------------------------------------------------------------------------------
// The suite

pub async fn customer_upsert_is_idempotent(store: Arc<dyn Store>) {
    let who = identity("42");
    let mut tx = store.begin().await.unwrap();
    let first = tx.upsert_customer(&who, false, t0()).await.unwrap();
    let again = tx.upsert_customer(&who, false, at(1)).await.unwrap();
    assert_eq!(first, again, "same identity, same customer");
    assert_eq!(first.language, Language::En, "default language");

    // Refreshes name, chat and language; keeps the id.
    let moved = CustomerIdentity {
        chat_id: "new-chat".into(),
        display_name: "Renamed".into(),
        language: Some(Language::Zh),
        ..who.clone()
    };
    let refreshed = tx.upsert_customer(&moved, true, at(2)).await.unwrap();
    assert_eq!(refreshed.id, first.id);
    assert_eq!(refreshed.chat_id, "new-chat");
    assert_eq!(refreshed.display_name, "Renamed");
    assert_eq!(refreshed.language, Language::Zh);
    assert!(refreshed.vip);
    // No hint this time: the known language is kept.
    let kept = tx.upsert_customer(&who, true, at(3)).await.unwrap();
    assert_eq!(kept.language, Language::Zh);

    // Same user id on another platform is another customer.
    let other = CustomerIdentity {
        platform: Platform::Discord,
        ..who.clone()
    };
    let discord = tx.upsert_customer(&other, false, at(4)).await.unwrap();
    assert_ne!(discord.id, first.id);
    tx.commit().await.unwrap();

    assert_eq!(store.customer(first.id).await.unwrap(), Some(kept));
    assert_eq!(store.customer(CustomerId(999_999)).await.unwrap(), None);
}

pub async fn dedup_key_is_recorded_once(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_inbound("telegram:update:1", t0()).await.unwrap());
    assert!(!tx.record_inbound("telegram:update:1", t0()).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(!tx.record_inbound("telegram:update:1", at(1)).await.unwrap());
    // Rolled back: the key must not count as processed.
    assert!(tx.record_inbound("telegram:update:2", at(1)).await.unwrap());
    drop(tx);

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.record_inbound("telegram:update:2", at(2)).await.unwrap(),
        "a rolled-back unit must not record its dedup key"
    );
    tx.commit().await.unwrap();
}

pub async fn ticket_with_history_round_trips(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let customer = tx
        .upsert_customer(&identity("7"), false, t0())
        .await
        .unwrap();
    let mut ticket = tx
        .create_ticket(&new_ticket(customer.id, t0()))
        .await
        .unwrap();
    assert_eq!(ticket.no, TicketNo(1));
    assert_eq!(ticket.state, TicketState::New);
    let message = TicketMessage {
        ticket: ticket.no,
        direction: Direction::Inbound,
        author: "customer".into(),
        text: "我无法登录 — login fails".into(),
        attachments: vec![Attachment {
            kind: "photo".into(),
            reference: "file-123".into(),
            name: None,
        }],
        at: t0(),
    };
    tx.add_message(&message).await.unwrap();
    let created = TicketEvent {
        ticket: ticket.no,
        kind: "created".into(),
        actor: "customer".into(),
        detail: "problem/P2".into(),
        at: t0(),
    };
    tx.add_event(&created).await.unwrap();
    tx.record_faq_feedback(customer.id, "login", FaqFeedback::Escalated, t0())
        .await
        .unwrap();
    tx.record_unanswered(customer.id, "我无法登录", Language::Zh, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Change through the state machine, write back.
    let mut tx = store.begin().await.unwrap();
    ticket.apply(TicketAction::Claim, at(60)).unwrap();
    ticket.assignee = Some("alice".into());
    ticket.priority = Priority::P1;
    tx.save_ticket(&ticket).await.unwrap();
    let reply = TicketMessage {
        ticket: ticket.no,
        direction: Direction::Outbound,
        author: "alice".into(),
        text: "Looking into it".into(),
        attachments: vec![],
        at: at(61),
    };
    tx.add_message(&reply).await.unwrap();
    let claimed = TicketEvent {
        ticket: ticket.no,
        kind: "claimed".into(),
        actor: "alice".into(),
        detail: String::new(),
        at: at(60),
    };
    tx.add_event(&claimed).await.unwrap();
    assert_eq!(tx.ticket(ticket.no).await.unwrap().as_ref(), Some(&ticket));
    tx.commit().await.unwrap();

    let details = store.ticket_details(ticket.no).await.unwrap().unwrap();
    assert_eq!(details.ticket, ticket);
    assert_eq!(details.ticket.first_response_at, Some(at(60)));
    assert_eq!(details.customer, customer);
    assert_eq!(details.messages, vec![message, reply]);
    assert_eq!(details.events, vec![created, claimed]);
    assert!(store.ticket_details(TicketNo(99)).await.unwrap().is_none());

    // Waiting on the customer is remembered (the deadlines are paused meanwhile).
    let mut waiting = ticket.clone();
    waiting.apply(TicketAction::AskCustomer, at(70)).unwrap();
    assert_eq!(waiting.waiting_since, Some(at(70)));
    let mut tx = store.begin().await.unwrap();
    tx.save_ticket(&waiting).await.unwrap();
    assert_eq!(tx.ticket(ticket.no).await.unwrap(), Some(waiting.clone()));
    drop(tx);

    // Saving a ticket that does not exist is an error, not a silent no-op.
    let mut ghost = ticket.clone();
    ghost.no = TicketNo(99);
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.save_ticket(&ghost).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn active_ticket_and_list_filters(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let ann = tx
        .upsert_customer(&identity("ann"), false, t0())
        .await
        .unwrap();
    let bob = tx
        .upsert_customer(&identity("bob"), false, t0())
        .await
        .unwrap();
    assert!(tx.active_ticket(ann.id).await.unwrap().is_none());
    let mut first = tx.create_ticket(&new_ticket(ann.id, t0())).await.unwrap();
    let bobs = tx.create_ticket(&new_ticket(bob.id, at(1))).await.unwrap();
    first.apply(TicketAction::Close, at(2)).unwrap();
    tx.save_ticket(&first).await.unwrap();
    let second = tx.create_ticket(&new_ticket(ann.id, at(3))).await.unwrap();
    assert_eq!(
        tx.active_ticket(ann.id).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(tx.active_ticket(bob.id).await.unwrap(), Some(bobs.clone()));
    let anns = tx.customer_tickets(ann.id, 10).await.unwrap();
    assert_eq!(anns, vec![second.clone(), first.clone()], "newest first");
    assert_eq!(
        tx.customer_tickets(ann.id, 1).await.unwrap(),
        vec![second.clone()]
    );
    tx.commit().await.unwrap();

    let numbers = |v: Vec<frontdesk::domain::Ticket>| v.iter().map(|t| t.no.0).collect::<Vec<_>>();
    let all = store.list_tickets(&TicketFilter::default()).await.unwrap();
    assert_eq!(numbers(all), vec![3, 2, 1]);
    let active = store
        .list_tickets(&TicketFilter {
            active_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(numbers(active), vec![3, 2]);
    let closed = store
        .list_tickets(&TicketFilter {
            state: Some(TicketState::Closed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(closed, vec![first]);
    let of_ann = store
        .list_tickets(&TicketFilter {
            customer: Some(ann.id),
            active_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_ann, vec![second]);
    let limited = store
        .list_tickets(&TicketFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(numbers(limited), vec![3]);
}

/// 8 tasks × 25 units create tickets concurrently; one extra unit in the middle creates a
/// ticket and rolls back. Numbers must be exactly 1..=200.
pub async fn ticket_numbers_are_gap_free_under_concurrency(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..EACH {
                if task == 3 && i == EACH / 2 {
                    let mut tx = store.begin().await.unwrap();
                    let c = tx
                        .upsert_customer(&identity("rollback"), false, t0())
                        .await
                        .unwrap();
                    tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
                    assert!(tx.record_inbound("rolled-back", t0()).await.unwrap());
                    drop(tx);
                }
                let mut tx = store.begin().await.unwrap();
                let c = tx
                    .upsert_customer(&identity(&format!("u{task}")), false, t0())
                    .await
                    .unwrap();
                let t = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
                tx.add_event(&TicketEvent {
                    ticket: t.no,
                    kind: "created".into(),
                    actor: "customer".into(),
                    detail: String::new(),
                    at: t0(),
                })
                .await
                .unwrap();
                tx.commit().await.unwrap();
                numbers.push(t.no.0);
            }
            numbers
        }));
    }
    let mut returned = Vec::new();
    for h in handles {
        returned.extend(h.await.unwrap());
    }
    returned.sort_unstable();
    let expected: Vec<i64> = (1..=(TASKS * EACH) as i64).collect();
    assert_eq!(returned, expected, "numbers handed out");

    let stored: BTreeSet<i64> = store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|t| t.no.0)
        .collect();
    assert_eq!(
        stored.into_iter().collect::<Vec<_>>(),
        expected,
        "numbers stored"
    );
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_inbound("rolled-back", t0()).await.unwrap());
}

pub async fn outbox_keeps_lane_order_and_expires_leases(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(30);
    let a = ChatAddress::new(Platform::Telegram, "A");
    let mut a_thread = ChatAddress::new(Platform::Telegram, "A");
    a_thread.thread_id = Some("7".into());
    let b = ChatAddress::new(Platform::Telegram, "B");
    for (to, text) in [
        (&a, "a1"),
        (&a, "a2"),
        (&b, "b1"),
        (&a, "a3"),
        (&a_thread, "t1"),
    ] {
        enqueue(&*store, to, text, t0()).await;
    }
    assert_eq!(
        store
            .next_outbox_due(frontdesk::domain::Platform::ALL)
            .await
            .unwrap(),
        Some(t0())
    );

    let texts = |items: &[frontdesk::store::OutboxItem]| {
        items
            .iter()
            .map(|i| text_of(i).to_string())
            .collect::<Vec<_>>()
    };
    let claimed = store
        .claim_outbox("w1", t0(), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(
        texts(&claimed),
        ["a1", "b1", "t1"],
        "one head per lane (thread = own lane)"
    );
    assert!(claimed.iter().all(|i| i.attempts == 0));
    assert_eq!(claimed[0].message, Outbound::text(a.clone(), "a1"));
    // Leased heads block their lanes for everybody.
    assert!(store
        .claim_outbox("w2", at(10), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap()
        .is_empty());
    // The lease of a crashed worker expires.
    let again = store
        .claim_outbox("w2", at(31), lease, 2, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(texts(&again), ["a1", "b1"], "limit respected, oldest first");

    store
        .outbox_sent(claimed[0].id, at(32), Some("m-1"))
        .await
        .unwrap();
    let next = store
        .claim_outbox("w2", at(32), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(texts(&next), ["a2", "t1"]);

    // A retry keeps the lane waiting (a3 must not overtake a2) and counts an attempt.
    store
        .outbox_retry(next[0].id, at(100), "HTTP 502")
        .await
        .unwrap();
    store.outbox_sent(next[1].id, at(33), None).await.unwrap();
    assert!(store
        .claim_outbox("w2", at(50), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap()
        .is_empty());
    // b1 leased by w2 until 61 s; a2 due at 100 s.
    assert_eq!(
        store
            .next_outbox_due(frontdesk::domain::Platform::ALL)
            .await
            .unwrap(),
        Some(at(61) + chrono::Duration::milliseconds(1))
    );
    let later = store
        .claim_outbox("w3", at(100), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(texts(&later), ["a2", "b1"]);
    assert_eq!(later[0].attempts, 1);
    assert_eq!(later[1].attempts, 0);

    // A deferral (rate limit) does not count an attempt.
    store
        .outbox_defer(later[0].id, at(110), "429")
        .await
        .unwrap();
    let deferred = store
        .claim_outbox("w3", at(110), lease, 1, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(texts(&deferred), ["a2"]);
    assert_eq!(deferred[0].attempts, 1);
    store
        .outbox_sent(deferred[0].id, at(111), None)
        .await
        .unwrap();
    store.outbox_sent(later[1].id, at(111), None).await.unwrap();
    let last = store
        .claim_outbox("w3", at(111), lease, 10, frontdesk::domain::Platform::ALL)
        .await
        .unwrap();
    assert_eq!(texts(&last), ["a3"]);
    store.outbox_sent(last[0].id, at(112), None).await.unwrap();
    assert_eq!(
        store
            .next_outbox_due(frontdesk::domain::Platform::ALL)
            .await
            .unwrap(),
        None
    );
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (0, 5, 0));
    assert!(matches!(
        store.outbox_sent(987_654, at(1), None).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn dead_letters_are_visible_and_free_the_lane(store: Arc<dyn Store>) {
    let a = ChatAddress::new(Platform::Discord, "A");
    enqueue(&*store, &a, "first", t0()).await;
    enqueue(&*store, &a, "second", t0()).await;
    let head = store
        .claim_outbox(
            "w",
            t0(),
            Duration::from_secs(30),
            10,
            frontdesk::domain::Platform::ALL,
        )
        .await
        .unwrap();
    assert_eq!(head.len(), 1);
    store
        .outbox_dead(head[0].id, t0(), "400 bad request")
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (1, 0, 1));
    // A retry on a dead item does not bring it back.
    store.outbox_retry(head[0].id, t0(), "late").await.unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().dead, 1);
    let next = store
        .claim_outbox(
            "w",
            t0(),
            Duration::from_secs(30),
            10,
            frontdesk::domain::Platform::ALL,
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(text_of(&next[0]), "second");
}

pub async fn unreachable_customer_dead_letters_their_chat(store: Arc<dyn Store>) {
    let who = identity("gone");
    let mut tx = store.begin().await.unwrap();
    let customer = tx.upsert_customer(&who, false, t0()).await.unwrap();
    assert!(!customer.unreachable);
    tx.commit().await.unwrap();
    let chat = customer.chat();
    let mut threaded = chat.clone();
    threaded.thread_id = Some("1".into());
    enqueue(&*store, &chat, "one", t0()).await;
    enqueue(&*store, &threaded, "two", t0()).await;
    enqueue(
        &*store,
        &ChatAddress::new(Platform::Telegram, "other"),
        "three",
        t0(),
    )
    .await;
    // Same chat id on another platform is another chat.
    enqueue(
        &*store,
        &ChatAddress::new(Platform::Discord, &customer.chat_id),
        "four",
        t0(),
    )
    .await;

    store
        .mark_unreachable(Platform::Telegram, &customer.chat_id, at(1))
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (2, 2));
    assert!(
        store
            .customer(customer.id)
            .await
            .unwrap()
            .unwrap()
            .unreachable
    );

    // Writing to us again makes them reachable again.
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.upsert_customer(&who, false, at(2))
            .await
            .unwrap()
            .unreachable
    );
    tx.commit().await.unwrap();
}

pub async fn outbox_settle_records_a_batch_then_claims(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(30);
    let all = frontdesk::domain::Platform::ALL;
    let who = identity("blocked");
    let mut tx = store.begin().await.unwrap();
    let gone = tx.upsert_customer(&who, false, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let lane = |name: &str| ChatAddress::new(Platform::Telegram, name);
    enqueue(&*store, &lane("A"), "a1", t0()).await;
    enqueue(&*store, &lane("A"), "a2", t0()).await;
    enqueue(&*store, &lane("B"), "b1", t0()).await;
    enqueue(&*store, &lane("C"), "c1", t0()).await;
    enqueue(&*store, &lane("D"), "d1", t0()).await;
    enqueue(&*store, &gone.chat(), "e1", t0()).await;
    enqueue(&*store, &gone.chat(), "e2", t0()).await;
    let heads = store.claim_outbox("w", t0(), lease, 10, all).await.unwrap();
    let id_of = |text: &str| heads.iter().find(|i| text_of(i) == text).unwrap().id;
    assert_eq!(heads.len(), 5);

    let done = vec![
        OutboxUpdate::Sent {
            id: id_of("a1"),
            platform_message_id: Some("m1".into()),
        },
        OutboxUpdate::Retry {
            id: id_of("b1"),
            next_attempt_at: at(10),
            error: "502".into(),
        },
        OutboxUpdate::Defer {
            id: id_of("c1"),
            next_attempt_at: at(10),
            reason: "429".into(),
        },
        OutboxUpdate::Dead {
            id: id_of("d1"),
            error: "400".into(),
        },
        OutboxUpdate::Unreachable {
            id: id_of("e1"),
            platform: Platform::Telegram,
            chat_id: gone.chat_id.clone(),
        },
        OutboxUpdate::Sent {
            id: 999_999,
            platform_message_id: None,
        },
    ];
    let claim = OutboxClaim {
        worker: "w",
        lease,
        limit: 10,
        platforms: all,
    };
    let settled = store
        .outbox_settle(&done, at(1), Some(claim))
        .await
        .unwrap();
    assert_eq!(
        settled.missing,
        vec![999_999],
        "a vanished row is reported, not fatal"
    );
    // Recorded before claiming: lane A's next item is claimable in the same call; the
    // retried and deferred heads wait for their time; D and the blocked chat are dead.
    let claimed: Vec<&str> = settled.claimed.iter().map(text_of).collect();
    assert_eq!(claimed, ["a2"]);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (3, 1, 3));
    assert!(store.customer(gone.id).await.unwrap().unwrap().unreachable);

    // Nothing to record, only a claim: the retry counted an attempt, the deferral did not.
    let later = store.outbox_settle(&[], at(10), Some(claim)).await.unwrap();
    let attempts: Vec<(&str, u32)> = later
        .claimed
        .iter()
        .map(|i| (text_of(i), i.attempts))
        .collect();
    assert_eq!(attempts, [("b1", 1), ("c1", 0)], "a2 is still leased");

    // Recording only (no claim) leaves other heads alone; a late retry of a sent item
    // does not bring it back.
    let only = store
        .outbox_settle(
            &[
                OutboxUpdate::Sent {
                    id: later.claimed[0].id,
                    platform_message_id: None,
                },
                OutboxUpdate::Retry {
                    id: id_of("a1"),
                    next_attempt_at: at(10),
                    error: "late".into(),
                },
            ],
            at(11),
            None,
        )
        .await
        .unwrap();
    assert!(only.claimed.is_empty() && only.missing.is_empty());
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (2, 2, 3));
}

/// Metric facts: which tickets a period sees, every field and counter, ratings, FAQ events
/// with the customer's next ticket.
pub async fn metric_facts_cover_the_period(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let tg = tx
        .upsert_customer(&identity("1"), false, t0())
        .await
        .unwrap();
    let mut discord_who = identity("2");
    discord_who.platform = Platform::Discord;
    let dc = tx.upsert_customer(&discord_who, false, t0()).await.unwrap();
    // #1: old, closed long before the period: never seen.
    let mut old = tx.create_ticket(&new_ticket(tg.id, t0())).await.unwrap();
    old.apply(TicketAction::Resolve, at(60)).unwrap();
    old.apply(TicketAction::Confirm, at(120)).unwrap();
    tx.save_ticket(&old).await.unwrap();
    // #2: old but still open: the backlog needs it.
    let waiting = tx.create_ticket(&new_ticket(dc.id, t0())).await.unwrap();
    // #3: created before the period, reopened, resolved again and rated in it.
    let mut busy = tx.create_ticket(&new_ticket(tg.id, t0())).await.unwrap();
    busy.assignee = Some("ana".into());
    busy.apply(TicketAction::Claim, at(100)).unwrap();
    busy.apply(TicketAction::AgentReply, at(200)).unwrap();
    busy.apply(TicketAction::Resolve, at(300)).unwrap();
    busy.apply(TicketAction::Reopen, at(400)).unwrap();
    busy.apply(TicketAction::Resolve, at(200_000)).unwrap();
    busy.apply(TicketAction::Confirm, at(200_100)).unwrap();
    tx.save_ticket(&busy).await.unwrap();
    let rating = frontdesk::store::Rating {
        ticket: busy.no,
        customer: tg.id,
        score: 4,
        comment: None,
        at: at(200_200),
    };
    assert!(tx.record_rating(&rating).await.unwrap());
    // FAQ: an answer to tg followed by ticket #4 ten minutes later; one to dc never followed.
    tx.record_faq_feedback(tg.id, "orders.track", FaqFeedback::Shown, at(199_000))
        .await
        .unwrap();
    tx.record_faq_feedback(tg.id, "orders.track", FaqFeedback::Escalated, at(199_100))
        .await
        .unwrap();
    tx.record_faq_feedback(dc.id, "orders.track", FaqFeedback::Shown, at(199_500))
        .await
        .unwrap();
    tx.record_faq_feedback(dc.id, "orders.track", FaqFeedback::Helped, at(199_600))
        .await
        .unwrap();
    tx.record_faq_feedback(dc.id, "old.entry", FaqFeedback::Shown, at(10))
        .await
        .unwrap();
    let fresh = tx
        .create_ticket(&new_ticket(tg.id, at(199_600)))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let since = at(190_000);
    let mut facts = store.ticket_facts(since).await.unwrap();
    facts.sort_by_key(|f| f.no);
    let numbers: Vec<_> = facts.iter().map(|f| f.no).collect();
    assert_eq!(numbers, vec![waiting.no, busy.no, fresh.no]);
    let b = &facts[1];
    assert_eq!(b.platform, Platform::Telegram);
    assert_eq!(facts[0].platform, Platform::Discord);
    assert_eq!(b.assignee.as_deref(), Some("ana"));
    assert_eq!(b.department, "tech");
    assert_eq!(b.priority, Priority::P2);
    assert_eq!(b.state, TicketState::Closed);
    assert_eq!(b.created_at, t0());
    assert_eq!(b.first_response_at, Some(at(100)));
    assert_eq!(b.first_response_due, busy.first_response_due);
    assert_eq!(b.resolution_due, busy.resolution_due);
    assert_eq!(b.resolved_at, Some(at(200_000)));
    assert_eq!(b.closed_at, Some(at(200_100)));
    assert_eq!((b.reopens, b.agent_replies), (1, 1));
    assert_eq!(b.rating, Some((4, at(200_200))));
    assert_eq!(facts[0].rating, None);
    // The counters are part of the ticket itself too.
    let back = store.ticket_details(busy.no).await.unwrap().unwrap().ticket;
    assert_eq!((back.reopens, back.agent_replies), (1, 1));

    // Answers counted per hour of the day; the first one followed by ticket #4.
    let hour = |t: Timestamp| u8::try_from(chrono::Timelike::hour(&t)).unwrap();
    let tallies = |since| {
        let store = Arc::clone(&store);
        async move {
            let mut t: Vec<_> = store
                .faq_tallies(since)
                .await
                .unwrap()
                .into_iter()
                .map(|f| (f.entry_id, f.platform, f.kind, f.hour, f.count, f.followed))
                .collect();
            t.sort();
            t
        }
    };
    let track = || "orders.track".to_string();
    assert_eq!(
        tallies(since).await,
        vec![
            (
                track(),
                Platform::Telegram,
                FaqFeedback::Shown,
                hour(at(199_000)),
                1,
                1
            ),
            (
                track(),
                Platform::Telegram,
                FaqFeedback::Escalated,
                hour(at(199_100)),
                1,
                0
            ),
            (
                track(),
                Platform::Discord,
                FaqFeedback::Shown,
                hour(at(199_500)),
                1,
                0
            ),
            (
                track(),
                Platform::Discord,
                FaqFeedback::Helped,
                hour(at(199_600)),
                1,
                0
            ),
        ]
    );
    // A period starting within that hour counts only the interactions after its start.
    let within = at(199_050);
    assert_eq!(hour(within), hour(at(199_600)));
    assert_eq!(
        tallies(within).await,
        vec![
            (
                track(),
                Platform::Telegram,
                FaqFeedback::Escalated,
                hour(at(199_100)),
                1,
                0
            ),
            (
                track(),
                Platform::Discord,
                FaqFeedback::Shown,
                hour(at(199_500)),
                1,
                0
            ),
            (
                track(),
                Platform::Discord,
                FaqFeedback::Helped,
                hour(at(199_600)),
                1,
                0
            ),
        ]
    );
    assert!(tallies(at(300_000)).await.is_empty());
}

/// FAQ interactions and tickets written one unit at a time by [`write_faq_history`]:
/// `(customer, platform, entry, kind, seconds after t0)` and `(customer, seconds)`.
pub struct FaqHistory {
    events: Vec<(CustomerId, Platform, &'static str, FaqFeedback, i64)>,
    tickets: Vec<(CustomerId, i64)>,
    end: i64,
}

/// Three customers on two platforms over several days: answers, presses and tickets, often
/// at the same moment and in either order within one unit.
pub async fn write_faq_history(store: &dyn Store) -> FaqHistory {
    let mut tx = store.begin().await.unwrap();
    let mut customers = Vec::new();
    for (user, platform) in [
        ("1", Platform::Telegram),
        ("2", Platform::Discord),
        ("3", Platform::Telegram),
    ] {
        let mut who = identity(user);
        who.platform = platform;
        let c = tx.upsert_customer(&who, false, t0()).await.unwrap();
        customers.push((c.id, platform));
    }
    tx.commit().await.unwrap();
    let kinds = [
        FaqFeedback::Shown,
        FaqFeedback::Shown,
        FaqFeedback::Helped,
        FaqFeedback::Escalated,
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut h = FaqHistory {
        events: Vec::new(),
        tickets: Vec::new(),
        end: 0,
    };
    for _ in 0..120 {
        // Often the same moment; sometimes more than a day later.
        h.end += [0, 1, 600, 5_000, 20_000, 90_000][rng.usize(..6)];
        let now = h.end;
        let (customer, platform) = customers[rng.usize(..customers.len())];
        let entry = ["a", "b"][rng.usize(..2)];
        let kind = kinds[rng.usize(..kinds.len())];
        let mut tx = store.begin().await.unwrap();
        match rng.usize(..4) {
            0 => {
                tx.create_ticket(&new_ticket(customer, at(now)))
                    .await
                    .unwrap();
                h.tickets.push((customer, now));
            }
            1 => {
                // An answer and a ticket of the same moment, in either order.
                let ticket_first = rng.bool();
                if ticket_first {
                    tx.create_ticket(&new_ticket(customer, at(now)))
                        .await
                        .unwrap();
                }
                tx.record_faq_feedback(customer, entry, FaqFeedback::Shown, at(now))
                    .await
                    .unwrap();
                if !ticket_first {
                    tx.create_ticket(&new_ticket(customer, at(now)))
                        .await
                        .unwrap();
                }
                h.tickets.push((customer, now));
                h.events
                    .push((customer, platform, entry, FaqFeedback::Shown, now));
            }
            _ => {
                tx.record_faq_feedback(customer, entry, kind, at(now))
                    .await
                    .unwrap();
                h.events.push((customer, platform, entry, kind, now));
            }
        }
        tx.commit().await.unwrap();
    }
    h
}

type TallyRow = (String, Platform, FaqFeedback, u8, u64, u64);

impl FaqHistory {
    /// Period starts that cut the history at, between and within hours.
    pub fn starts(&self) -> [i64; 5] {
        [0, 1_799, self.end / 3, self.end / 2 + 7, self.end - 3_000]
    }

    /// The tallies of the period starting `since` seconds after t0, by definition: an
    /// answer is followed when its customer created a ticket within 24 h after it.
    pub fn expected(&self, since: i64) -> Vec<TallyRow> {
        let hour = |secs: i64| u8::try_from(chrono::Timelike::hour(&at(secs))).unwrap();
        let mut expected: std::collections::BTreeMap<_, (u64, u64)> = Default::default();
        for &(customer, platform, entry, kind, t) in self.events.iter().filter(|e| e.4 >= since) {
            let followed = kind == FaqFeedback::Shown
                && self
                    .tickets
                    .iter()
                    .any(|&(c, created)| c == customer && created >= t && created <= t + 86_400);
            let e = expected
                .entry((entry.to_string(), platform, kind, hour(t)))
                .or_default();
            e.0 += 1;
            e.1 += u64::from(followed);
        }
        expected
            .into_iter()
            .map(|((entry, platform, kind, h), (n, f))| (entry, platform, kind, h, n, f))
            .collect()
    }
}

/// The store's tallies of the period starting `since` seconds after t0, in order.
pub async fn tallies_since(store: &dyn Store, since: i64) -> Vec<TallyRow> {
    let mut got: Vec<_> = store
        .faq_tallies(at(since))
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.entry_id, f.platform, f.kind, f.hour, f.count, f.followed))
        .collect();
    got.sort();
    got
}

/// The hourly FAQ tallies kept one interaction and one ticket at a time give what the
/// interactions give by definition, whichever comes first: an answer is followed by a
/// ticket of its customer created within 24 h after it (recorded later, or in the same unit
/// at the same moment, before or after the answer); other customers' tickets and later
/// ones do not count; a period starting mid-hour counts the interactions after its start.
pub async fn faq_tallies_follow_tickets_within_a_day(store: Arc<dyn Store>) {
    let history = write_faq_history(store.as_ref()).await;
    for since in history.starts() {
        assert_eq!(
            tallies_since(store.as_ref(), since).await,
            history.expected(since),
            "since {since}"
        );
    }
    let followed: u64 = history.expected(0).iter().map(|t| t.5).sum();
    assert!(followed > 0, "the history has followed answers");
}

/// A bulk import numbers its tickets after the existing ones and before the next new one
/// (gap-free), keeps every field, the ratings and the FAQ interactions.
pub async fn history_is_imported_in_bulk(store: Arc<dyn Store>) {
    use frontdesk::store::{PastFaqEvent, PastTicket};
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("1"), false, t0())
        .await
        .unwrap();
    let first = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
    let mut solved = first.clone();
    solved.assignee = Some("ana".into());
    solved.apply(TicketAction::Claim, at(100)).unwrap();
    solved.apply(TicketAction::AgentReply, at(200)).unwrap();
    solved.apply(TicketAction::Resolve, at(300)).unwrap();
    solved.apply(TicketAction::Reopen, at(400)).unwrap();
    solved.apply(TicketAction::Resolve, at(500)).unwrap();
    solved.apply(TicketAction::Confirm, at(600)).unwrap();
    let mut waiting = first.clone();
    waiting.apply(TicketAction::Claim, at(50)).unwrap();
    waiting.apply(TicketAction::AskCustomer, at(60)).unwrap();
    let past = vec![
        PastTicket {
            ticket: solved.clone(),
            rating: Some((5, at(700))),
        },
        PastTicket {
            ticket: waiting.clone(),
            rating: None,
        },
    ];
    let faq = vec![
        PastFaqEvent {
            customer: c.id,
            entry_id: "orders.track".into(),
            kind: FaqFeedback::Shown,
            at: at(1_000),
        },
        PastFaqEvent {
            customer: c.id,
            entry_id: "orders.track".into(),
            kind: FaqFeedback::Helped,
            at: at(1_001),
        },
    ];
    let numbers = tx.import_history(&past, &faq).await.unwrap();
    assert_eq!(numbers, vec![TicketNo(2), TicketNo(3)]);
    assert!(tx.import_history(&[], &[]).await.unwrap().is_empty());
    let next = tx
        .create_ticket(&new_ticket(c.id, at(2_000)))
        .await
        .unwrap();
    assert_eq!(next.no, TicketNo(4));
    tx.commit().await.unwrap();

    for (no, expected) in [(2, &solved), (3, &waiting)] {
        let back = store
            .ticket_details(TicketNo(no))
            .await
            .unwrap()
            .unwrap()
            .ticket;
        let mut expected = expected.clone();
        expected.no = TicketNo(no);
        assert_eq!(back, expected);
    }
    let mut tx = store.begin().await.unwrap();
    let rating = tx.rating(TicketNo(2)).await.unwrap().unwrap();
    assert_eq!(
        (rating.score, rating.at, rating.customer),
        (5, at(700), c.id)
    );
    assert_eq!(tx.rating(TicketNo(3)).await.unwrap(), None);
    drop(tx);
    // The imported answer is followed by ticket #4, created after the import.
    let mut tallies: Vec<_> = store
        .faq_tallies(at(900))
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.kind, f.count, f.followed))
        .collect();
    tallies.sort();
    assert_eq!(
        tallies,
        vec![(FaqFeedback::Shown, 1, 1), (FaqFeedback::Helped, 1, 0)]
    );
}

/// Alert states: a change is recorded once; clearing needs a firing state.
pub async fn alert_state_changes_are_recorded_once(store: Arc<dyn Store>) {
    use frontdesk::store::AlertState;
    let state = |firing: bool, value: f64, secs: i64| AlertState {
        key: "csat".into(),
        firing,
        value: Some(value),
        changed_at: at(secs),
    };
    assert!(store.alert_states().await.unwrap().is_empty());
    let mut tx = store.begin().await.unwrap();
    // Never stored means "not firing": clearing it is no change.
    assert!(!tx.set_alert_state(&state(false, 4.5, 1)).await.unwrap());
    assert!(tx.set_alert_state(&state(true, 3.5, 2)).await.unwrap());
    assert!(!tx.set_alert_state(&state(true, 3.0, 3)).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store.alert_states().await.unwrap(),
        vec![state(true, 3.5, 2)]
    );
    let mut tx = store.begin().await.unwrap();
    assert!(tx.set_alert_state(&state(false, 4.2, 4)).await.unwrap());
    assert!(!tx.set_alert_state(&state(false, 4.3, 5)).await.unwrap());
    // Rolled back: nothing of this unit stays.
    drop(tx);
    assert_eq!(
        store.alert_states().await.unwrap(),
        vec![state(true, 3.5, 2)]
    );
}

pub async fn ratings_are_kept_once_and_take_one_comment(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let customer = tx
        .upsert_customer(&identity("rater"), false, t0())
        .await
        .unwrap();
    let other = tx
        .upsert_customer(&identity("other"), false, t0())
        .await
        .unwrap();
    let first = tx
        .create_ticket(&new_ticket(customer.id, t0()))
        .await
        .unwrap();
    let second = tx
        .create_ticket(&new_ticket(customer.id, t0()))
        .await
        .unwrap();
    let rating = |no, score, secs| Rating {
        ticket: no,
        customer: customer.id,
        score,
        comment: None,
        at: at(secs),
    };
    assert!(tx.record_rating(&rating(first.no, 4, 10)).await.unwrap());
    assert!(
        !tx.record_rating(&rating(first.no, 1, 11)).await.unwrap(),
        "one per ticket"
    );
    assert!(tx.record_rating(&rating(second.no, 5, 20)).await.unwrap());
    // Too old, or someone else's: nothing to comment.
    assert_eq!(
        tx.comment_rating(customer.id, at(21), "late")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.comment_rating(other.id, at(0), "not mine")
            .await
            .unwrap(),
        None
    );
    // The latest uncommented one takes it, then the one before.
    assert_eq!(
        tx.comment_rating(customer.id, at(0), "great help")
            .await
            .unwrap(),
        Some(second.no)
    );
    assert_eq!(
        tx.comment_rating(customer.id, at(0), "ok").await.unwrap(),
        Some(first.no)
    );
    assert_eq!(
        tx.comment_rating(customer.id, at(0), "more").await.unwrap(),
        None
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let kept = tx.rating(second.no).await.unwrap().unwrap();
    assert_eq!(
        (kept.score, kept.comment.as_deref()),
        (5, Some("great help"))
    );
    assert_eq!(tx.rating(first.no).await.unwrap().unwrap().score, 4);
}

pub async fn timers_are_leased_fired_once_and_replaced(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("t"), false, t0())
        .await
        .unwrap();
    let one = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap().no;
    let two = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap().no;
    tx.schedule_timer(one, "reminder", at(10), t0())
        .await
        .unwrap();
    tx.schedule_timer(one, "breach", at(20), t0())
        .await
        .unwrap();
    tx.schedule_timer(two, "reminder", at(5), t0())
        .await
        .unwrap();
    // Scheduling the same kind again replaces the pending one.
    tx.schedule_timer(two, "reminder", at(15), t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(at(10)));
    assert!(store
        .claim_due_timers("a", at(9), lease, 10)
        .await
        .unwrap()
        .is_empty());

    let a = store
        .claim_due_timers("a", at(15), lease, 10)
        .await
        .unwrap();
    let claimed: Vec<(TicketNo, &str)> = a.iter().map(|t| (t.ticket, t.kind.as_str())).collect();
    assert_eq!(claimed, [(one, "reminder"), (two, "reminder")], "due first");
    assert_eq!(a[0].due_at, at(10));
    // Leased to `a`: `b` gets only what is not leased; `a` may claim its own again.
    let b = store
        .claim_due_timers("b", at(20), lease, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].kind, "breach");
    assert_eq!(
        store
            .claim_due_timers("a", at(16), lease, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // Firing: once, by the lease holder (or anyone after the lease ran out).
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.fire_timer(a[0].id, "b", at(21)).await.unwrap(),
        "leased to a"
    );
    assert!(tx.fire_timer(a[0].id, "a", at(21)).await.unwrap());
    assert!(
        !tx.fire_timer(a[0].id, "a", at(21)).await.unwrap(),
        "fired already"
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.fire_timer(a[1].id, "c", at(200)).await.unwrap(),
        "lease expired"
    );
    drop(tx);
    // Rolled back: still pending, and cancellable.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.cancel_timers(two, &["reminder", "breach"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.cancel_timers(one, &["reminder"]).await.unwrap(),
        0,
        "fired"
    );
    tx.commit().await.unwrap();
    // Only `one`'s breach is left (leased by b until 80 s).
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(at(80) + chrono::Duration::milliseconds(1))
    );
    let late = store
        .claim_due_timers("c", at(81), lease, 10)
        .await
        .unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].ticket, late[0].kind.as_str()), (one, "breach"));
}

pub async fn schema_version_is_the_newest_migration(store: Arc<dyn Store>) {
    let version = store.schema_version().await.unwrap();
    assert!(version.is_some_and(|v| v >= 4), "{version:?}");
}

// ---------------------------------------------------------------------------------------
// Runs of the suite: SQLite (file and memory) and PostgreSQL (a fresh schema per test)

pub async fn unanswered_questions_newest_first_since(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("u"), false, t0())
        .await
        .unwrap();
    tx.record_unanswered(c.id, "old question", Language::En, at(0))
        .await
        .unwrap();
    tx.record_unanswered(c.id, "我无法登录", Language::Zh, at(60))
        .await
        .unwrap();
    tx.record_unanswered(c.id, "do you ship to iceland", Language::En, at(120))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let got = store.unanswered_questions(at(60), 10).await.unwrap();
    let texts: Vec<&str> = got.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(texts, ["do you ship to iceland", "我无法登录"]);
    assert_eq!(got[1].language, Language::Zh);
    assert_eq!(got[0].at, at(120));
    let one = store.unanswered_questions(at(0), 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].text, "do you ship to iceland");
}

/// The console's ticket list as it was filtered in memory before the store did it: the
/// reference the store's query must agree with.
fn filtered_in_memory(
    all: &[(frontdesk::domain::Ticket, Platform)],
    filter: &TicketFilter,
) -> Vec<i64> {
    let text = filter.text.as_deref().map(str::to_lowercase);
    let department = filter.department.as_deref().map(str::to_lowercase);
    let assignee = filter
        .assignee
        .as_deref()
        .map(|a| a.trim_start_matches('@').to_lowercase());
    let mut shown: Vec<i64> = all
        .iter()
        .filter(|(t, p)| {
            filter.state.is_none_or(|s| s == t.state)
                && filter.priority.is_none_or(|x| x == t.priority)
                && filter.category.is_none_or(|c| c == t.category)
                && filter.platform.is_none_or(|x| x == *p)
                && department
                    .as_deref()
                    .is_none_or(|d| t.department.to_lowercase() == d)
                && assignee.as_deref().is_none_or(|a| {
                    t.assignee.as_deref().map(str::to_lowercase).as_deref() == Some(a)
                })
                && text.as_deref().is_none_or(|x| {
                    t.subject.to_lowercase().contains(x)
                        || t.no.0.to_string() == x.trim_start_matches('#')
                })
        })
        .map(|(t, _)| t.no.0)
        .collect();
    shown.sort_unstable_by(|a, b| b.cmp(a));
    shown.truncate(filter.limit.map_or(usize::MAX, |l| l as usize));
    shown
}

async fn ticket_list_filters_in_the_query(store: Arc<dyn Store>) {
    let plan = frontdesk::seed::SeedPlan::new(400, 10, t0());
    frontdesk::seed::seed(store.as_ref(), &plan).await.unwrap();
    // A few of mixed case and on the web, to show the case rules.
    let mut tx = store.begin().await.unwrap();
    let web = tx
        .upsert_customer(
            &CustomerIdentity {
                platform: Platform::Web,
                ..identity("visitor")
            },
            false,
            t0(),
        )
        .await
        .unwrap();
    for (subject, department) in [
        ("Parcel LOST in transit", "Billing"),
        ("where is my parcel", "billing"),
    ] {
        let mut ticket = tx
            .create_ticket(&NewTicket {
                subject: subject.into(),
                department: department.into(),
                ..new_ticket(web.id, t0())
            })
            .await
            .unwrap();
        ticket.assignee = Some("Ana".into());
        tx.save_ticket(&ticket).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut all = Vec::new();
    for t in store.list_tickets(&TicketFilter::default()).await.unwrap() {
        let platform = store.customer(t.customer).await.unwrap().unwrap().platform;
        all.push((t, platform));
    }
    assert!(all.len() > 400);
    let some = |s: &str| Some(s.to_string());
    let filters = [
        TicketFilter::default(),
        TicketFilter {
            state: Some(TicketState::Open),
            ..Default::default()
        },
        TicketFilter {
            priority: Some(Priority::P1),
            category: Some(Category::Problem),
            ..Default::default()
        },
        TicketFilter {
            department: some("BILLING"),
            ..Default::default()
        },
        TicketFilter {
            department: some("tech"),
            state: Some(TicketState::Closed),
            ..Default::default()
        },
        TicketFilter {
            assignee: some("@ana"),
            ..Default::default()
        },
        TicketFilter {
            assignee: some("bo"),
            priority: Some(Priority::P3),
            ..Default::default()
        },
        TicketFilter {
            platform: Some(Platform::Discord),
            ..Default::default()
        },
        TicketFilter {
            platform: Some(Platform::Web),
            text: some("parcel lost"),
            ..Default::default()
        },
        TicketFilter {
            text: some("question 1"),
            category: Some(Category::Inquiry),
            ..Default::default()
        },
        TicketFilter {
            text: some("#7"),
            ..Default::default()
        },
        TicketFilter {
            text: some("nothing like this"),
            ..Default::default()
        },
    ];
    for limit in [None, Some(20)] {
        for filter in &filters {
            let filter = TicketFilter {
                limit,
                ..filter.clone()
            };
            let listed = store.ticket_list(&filter).await.unwrap();
            let got: Vec<i64> = listed.iter().map(|l| l.ticket.no.0).collect();
            assert_eq!(got, filtered_in_memory(&all, &filter), "{filter:?}");
            for l in &listed {
                let (t, p) = all.iter().find(|(t, _)| t.no == l.ticket.no).unwrap();
                assert_eq!((&l.ticket, l.platform), (t, *p));
            }
        }
    }
    // The shape of the seeded data makes every filter above mean something.
    let count = |f: TicketFilter| filtered_in_memory(&all, &f).len();
    assert_eq!(count(filters[8].clone()), 1);
    assert_eq!(count(filters[3].clone()), 2);
    assert!(count(filters[5].clone()) > 2);
    assert!(count(filters[2].clone()) > 0 && count(filters[9].clone()) > 0);
}

async fn web_messages_replay_in_order_after_an_id(store: Arc<dyn Store>) {
    let button = frontdesk::domain::Button {
        label: "Solved".into(),
        data: "solved:1".into(),
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let buttons = if i == 4 {
            vec![vec![button.clone()]]
        } else {
            Vec::new()
        };
        ids.push(
            store
                .append_web_message(
                    "chat-a",
                    &format!("a{i}"),
                    &buttons,
                    Some(100 + i),
                    None,
                    at(i),
                )
                .await
                .unwrap(),
        );
        store
            .append_web_message("chat-b", &format!("b{i}"), &[], None, None, at(i))
            .await
            .unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The same outbox item delivered again: the message it already made, nothing added.
    let again = store
        .append_web_message("chat-a", "a1", &[], Some(101), None, at(9))
        .await
        .unwrap();
    assert_eq!(again, ids[1]);
    let texts =
        |v: Vec<frontdesk::store::WebMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
    // The latest ones, oldest first; then only what came after an id.
    assert_eq!(
        texts(store.web_messages("chat-a", None, 3).await.unwrap()),
        ["a2", "a3", "a4"]
    );
    assert_eq!(
        texts(store.web_messages("chat-a", Some(ids[1]), 2).await.unwrap()),
        ["a2", "a3"]
    );
    let last = store
        .web_messages("chat-a", Some(ids[3]), 10)
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].buttons, vec![vec![button]]);
    assert_eq!(last[0].at, at(4));
    assert_eq!(last[0].chat, "chat-a");
    assert_eq!(
        store.web_messages("chat-a", None, 100).await.unwrap().len(),
        5
    );
    assert!(store
        .web_messages("chat-a", Some(ids[4]), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .web_messages("nobody", None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn console_sessions_expire_and_end(store: Arc<dyn Store>) {
    let session = |hash: &str, start: i64| frontdesk::store::ConsoleSession {
        id_hash: hash.into(),
        operator: "ana".into(),
        csrf: format!("csrf-{hash}"),
        created_at: at(start),
        expires_at: at(start + 100),
    };
    store
        .start_console_session(&session("s1", 0))
        .await
        .unwrap();
    store
        .start_console_session(&session("s2", 10))
        .await
        .unwrap();
    assert_eq!(
        store.console_session("s1", at(99)).await.unwrap(),
        Some(session("s1", 0))
    );
    assert_eq!(store.console_session("s1", at(100)).await.unwrap(), None);
    assert_eq!(store.console_session("nope", at(1)).await.unwrap(), None);
    store.end_console_session("s2").await.unwrap();
    assert_eq!(store.console_session("s2", at(11)).await.unwrap(), None);
    // A login forgets the sessions expired by then; the live ones stay.
    store
        .start_console_session(&session("s3", 50))
        .await
        .unwrap();
    store
        .start_console_session(&session("s4", 120))
        .await
        .unwrap();
    assert_eq!(store.console_session("s1", at(0)).await.unwrap(), None);
    assert!(store
        .console_session("s3", at(149))
        .await
        .unwrap()
        .is_some());
}

async fn live_replicas_are_counted_and_the_gone_forgotten(store: Arc<dyn Store>) {
    // Alive = seen in the last 15 s.
    let beat = |id: &'static str, now: i64| {
        let store = store.clone();
        async move {
            store
                .replica_heartbeat(id, at(now), at(now - 15))
                .await
                .unwrap()
        }
    };
    assert_eq!(beat("a", 100).await, 1);
    assert_eq!(beat("b", 102).await, 2);
    assert_eq!(beat("a", 105).await, 2, "a beat again: still two");
    assert_eq!(beat("c", 110).await, 3);
    // b stopped at 102: gone from the count after 117.
    assert_eq!(beat("a", 118).await, 2);
    // Long gone replicas are removed; the next to come makes two again.
    assert_eq!(beat("a", 10_000).await, 1);
    assert_eq!(beat("d", 10_001).await, 2);
}

/// Retention deletes what is old and nothing else: processed dedup keys, delivered
/// messages, fired and cancelled timers, web chat messages, expired console sessions —
/// never a pending or dead outbox item, a pending timer, or the newest outbox row (SQLite
/// would hand its id out again). Batches stop at the limit.
async fn prune_deletes_only_what_retention_calls_old(store: Arc<dyn Store>) {
    use frontdesk::store::{PruneBefore, Pruned};
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_inbound("k-old", at(0)).await.unwrap());
    assert!(tx.record_inbound("k-new", at(1000)).await.unwrap());
    let c = tx
        .upsert_customer(&identity("p"), false, t0())
        .await
        .unwrap();
    let ticket = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap().no;
    tx.schedule_timer(ticket, "reminder", at(10), t0())
        .await
        .unwrap();
    // Replaces (cancels) the first reminder.
    tx.schedule_timer(ticket, "reminder", at(20), t0())
        .await
        .unwrap();
    tx.schedule_timer(ticket, "breach", at(30), t0())
        .await
        .unwrap();
    tx.schedule_timer(ticket, "progress", at(900), t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let fire = |kind: &'static str, now: i64| {
        let store = store.clone();
        async move {
            let due = store
                .claim_due_timers("w", at(now), Duration::from_secs(60), 10)
                .await
                .unwrap();
            let timer = due.iter().find(|t| t.kind == kind).expect("due");
            let mut tx = store.begin().await.unwrap();
            assert!(tx.fire_timer(timer.id, "w", at(now)).await.unwrap());
            tx.commit().await.unwrap();
        }
    };
    fire("reminder", 20).await;
    fire("progress", 900).await; // `breach` stays pending although it is long due
    for chat in ["w1", "w2", "w3", "w4"] {
        enqueue(
            store.as_ref(),
            &ChatAddress::new(Platform::Web, chat),
            chat,
            at(0),
        )
        .await;
    }
    let items = store
        .claim_outbox("w", at(0), Duration::from_secs(60), 10, &[Platform::Web])
        .await
        .unwrap();
    let id = |chat: &str| items.iter().find(|i| text_of(i) == chat).unwrap().id;
    store.outbox_sent(id("w1"), at(10), None).await.unwrap();
    store.outbox_sent(id("w2"), at(900), None).await.unwrap();
    store.outbox_dead(id("w3"), at(10), "gone").await.unwrap();
    for (text, t) in [("old", 10), ("new", 900)] {
        store
            .append_web_message("chat-p", text, &[], None, None, at(t))
            .await
            .unwrap();
    }
    let session = |hash: &str, start: i64, end: i64| frontdesk::store::ConsoleSession {
        id_hash: hash.into(),
        operator: "ana".into(),
        csrf: "x".into(),
        created_at: at(start),
        expires_at: at(end),
    };
    store
        .start_console_session(&session("s-old", 0, 100))
        .await
        .unwrap();
    store
        .start_console_session(&session("s-new", 50, 2000))
        .await
        .unwrap();

    let before = PruneBefore {
        inbound_keys: at(500),
        delivered: at(500),
        web_messages: at(500),
        now: at(1000),
        closed_tickets: None,
    };
    let mut total = Pruned::default();
    loop {
        let batch = store.prune(&before, 1).await.unwrap();
        assert!(batch.most() <= 1, "{batch:?}");
        if batch.total() == 0 {
            break;
        }
        total += batch;
    }
    assert_eq!(
        total,
        Pruned {
            inbound_keys: 1,
            outbox: 1,
            timers: 2,
            web_messages: 1,
            console_sessions: 1,
            ticket_texts: 0,
        }
    );

    // What stayed is intact.
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.record_inbound("k-old", at(1001)).await.unwrap(),
        "forgotten"
    );
    assert!(!tx.record_inbound("k-new", at(1001)).await.unwrap(), "kept");
    drop(tx);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (1, 1, 1));
    // `breach` is still pending (leased by the claim that fired `progress`).
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(at(960) + chrono::Duration::milliseconds(1))
    );
    let chat = store.web_messages("chat-p", None, 10).await.unwrap();
    assert_eq!(
        chat.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["new"]
    );
    assert!(store
        .console_session("s-new", at(1000))
        .await
        .unwrap()
        .is_some());

    // The newest outbox row stays even when it is old, so ids keep growing.
    store.outbox_sent(id("w4"), at(10), None).await.unwrap();
    let later = PruneBefore {
        delivered: at(5000),
        ..before
    };
    let pruned = store.prune(&later, 100).await.unwrap();
    assert_eq!((pruned.outbox, pruned.timers), (1, 1), "w2 and progress");
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (0, 1, 1));
    enqueue(
        store.as_ref(),
        &ChatAddress::new(Platform::Web, "w5"),
        "w5",
        at(6000),
    )
    .await;
    let next = store
        .claim_outbox("w", at(6000), Duration::from_secs(60), 10, &[Platform::Web])
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert!(
        items.iter().all(|i| i.id < next[0].id),
        "a new outbox id is never one handed out before"
    );
}

/// Erasing a customer on request (SPEC §7) forgets the person — name, platform ids, what
/// they wrote and what was written to them — and keeps the figures: ticket numbers,
/// states, times, scores, FAQ interactions. Refused while a ticket of theirs is open.
async fn erase_customer_forgets_the_person_and_keeps_the_figures(store: Arc<dyn Store>) {
    use frontdesk::domain::{OutboundBody, ERASED};
    use frontdesk::store::Erasure;
    let web_identity = CustomerIdentity {
        platform: Platform::Web,
        user_id: "v-123".into(),
        chat_id: "v-123".into(),
        display_name: "Visitor".into(),
        language: None,
    };
    let mut tx = store.begin().await.unwrap();
    let ana = tx
        .upsert_customer(&identity("ana"), false, t0())
        .await
        .unwrap();
    let bob = tx
        .upsert_customer(&identity("bob"), false, t0())
        .await
        .unwrap();
    let web = tx
        .upsert_customer(&web_identity, false, t0())
        .await
        .unwrap();
    let mut closed = tx.create_ticket(&new_ticket(ana.id, t0())).await.unwrap();
    let open = tx.create_ticket(&new_ticket(bob.id, t0())).await.unwrap();
    let mut web_ticket = tx.create_ticket(&new_ticket(web.id, t0())).await.unwrap();
    for (ticket, direction, author, text) in [
        (
            closed.no,
            Direction::Inbound,
            "customer",
            "call me on +49 170 1234567",
        ),
        (closed.no, Direction::Outbound, "sam", "Ana, we called you"),
        (open.no, Direction::Inbound, "customer", "bob's words"),
    ] {
        tx.add_message(&TicketMessage {
            ticket,
            direction,
            author: author.into(),
            text: text.into(),
            attachments: Vec::new(),
            at: at(1),
        })
        .await
        .unwrap();
    }
    for t in [&mut closed, &mut web_ticket] {
        t.state = TicketState::Closed;
        t.closed_at = Some(at(100));
        tx.save_ticket(t).await.unwrap();
    }
    tx.record_rating(&Rating {
        ticket: closed.no,
        customer: ana.id,
        score: 4,
        comment: Some("Sam was kind to me, Ana".into()),
        at: at(101),
    })
    .await
    .unwrap();
    tx.record_unanswered(ana.id, "ana@example.com cannot log in", Language::En, at(0))
        .await
        .unwrap();
    tx.record_unanswered(bob.id, "bob's question", Language::En, at(0))
        .await
        .unwrap();
    tx.remember_question(ana.id, "where is my parcel", at(0))
        .await
        .unwrap();
    tx.record_faq_feedback(ana.id, "login", FaqFeedback::Shown, at(0))
        .await
        .unwrap();
    let desk = ChatAddress::ticket_thread(Platform::Telegram, "-100", closed.no);
    tx.enqueue(&Outbound::text(ana.chat(), "Hi Ana, an answer"), at(0))
        .await
        .unwrap();
    tx.enqueue(
        &Outbound::text(desk.clone(), "Ana: call me on +49 170 1234567").for_ticket(closed.no),
        at(0),
    )
    .await
    .unwrap();
    tx.enqueue(
        &Outbound {
            to: desk.clone(),
            ticket: Some(closed.no),
            body: OutboundBody::CloseThread,
        },
        at(0),
    )
    .await
    .unwrap();
    tx.enqueue(&Outbound::text(bob.chat(), "Hi Bob"), at(0))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The answer to Ana was delivered; the desk's copy and thread closing are pending.
    let claimed = store
        .claim_outbox(
            "w",
            at(1),
            Duration::from_secs(60),
            10,
            &[Platform::Telegram],
        )
        .await
        .unwrap();
    let to_ana = claimed
        .iter()
        .find(|i| i.message.to == ana.chat())
        .expect("claimed");
    store.outbox_sent(to_ana.id, at(2), None).await.unwrap();
    for (chat, text) in [("v-123", "Hello Visitor"), ("desk:3", "claimed by sam")] {
        store
            .append_web_message(chat, text, &[], None, None, at(3))
            .await
            .unwrap();
    }
    // The web console's desk log announcing Ana's ticket (it quotes her subject).
    store
        .append_web_message(
            "desk",
            "#1 new: cannot log in",
            &[],
            None,
            Some(closed.no),
            at(3),
        )
        .await
        .unwrap();
    let before = store.metric_facts(t0()).await.unwrap();

    // Refused while a ticket is open; unknown customers are said so.
    assert_eq!(
        store
            .erase_customer(Platform::Telegram, "bob", at(200))
            .await
            .unwrap(),
        Erasure::OpenTickets(vec![open.no])
    );
    assert_eq!(
        store
            .erase_customer(Platform::Telegram, "nobody", at(200))
            .await
            .unwrap(),
        Erasure::NoSuchCustomer
    );

    let Erasure::Erased(erased) = store
        .erase_customer(Platform::Telegram, "ana", at(200))
        .await
        .unwrap()
    else {
        panic!("ana is erased")
    };
    assert_eq!(erased.customer, ana.id.0);
    assert_eq!(
        (
            erased.tickets,
            erased.messages,
            erased.rating_comments,
            erased.unanswered,
            erased.outbox,
            erased.web_messages
        ),
        (1, 2, 1, 1, 2, 1),
        "the CloseThread item carries nothing personal"
    );
    let web_erased = match store
        .erase_customer(Platform::Web, "v-123", at(200))
        .await
        .unwrap()
    {
        Erasure::Erased(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        web_erased.web_messages, 2,
        "the chat log and the desk notices"
    );

    // The person is gone …
    let customer = store.customer(ana.id).await.unwrap().unwrap();
    assert_eq!(customer.display_name, ERASED);
    assert_eq!(customer.user_id, format!("erased:{}", ana.id.0));
    assert_eq!(customer.chat_id, customer.user_id);
    assert!(customer.unreachable);
    let details = store.ticket_details(closed.no).await.unwrap().unwrap();
    assert_eq!(details.ticket.subject, ERASED);
    assert!(details.messages.iter().all(|m| m.text == ERASED));
    assert_eq!(details.messages.len(), 2, "who wrote when stays");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.last_question(ana.id).await.unwrap(), None);
    let rating = tx.rating(closed.no).await.unwrap().unwrap();
    assert_eq!((rating.score, rating.comment), (4, None));
    drop(tx);
    let questions = store.unanswered_questions(t0(), 10).await.unwrap();
    assert_eq!(
        questions
            .iter()
            .map(|q| q.text.as_str())
            .collect::<Vec<_>>(),
        ["bob's question"]
    );
    assert!(store
        .web_messages("v-123", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .web_messages("desk", None, 10)
        .await
        .unwrap()
        .is_empty());
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.sent, stats.dead),
        (2, 1, 1),
        "the desk's copy is dead; the thread closing and Bob's message still go"
    );
    // … what is still to be delivered names nobody.
    let left = store
        .claim_outbox(
            "w2",
            at(300),
            Duration::from_secs(60),
            10,
            &[Platform::Telegram],
        )
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert!(left
        .iter()
        .any(|i| i.message.body == OutboundBody::CloseThread));
    assert!(left.iter().any(|i| i.message.text_body() == Some("Hi Bob")));

    // … and the figures stay: same ticket facts, FAQ tallies, scores.
    let sorted = |(tickets, faq): (Vec<_>, Vec<_>)| {
        let mut rows: Vec<String> = tickets.iter().map(|t| format!("{t:?}")).collect();
        rows.extend(faq.iter().map(|f| format!("{f:?}")));
        rows.sort();
        rows
    };
    let after = store.metric_facts(t0()).await.unwrap();
    assert_eq!(sorted(before), sorted(after));
    // Bob is untouched; Ana writing again is a new customer.
    let details = store.ticket_details(open.no).await.unwrap().unwrap();
    assert_eq!(details.messages[0].text, "bob's words");
    let mut tx = store.begin().await.unwrap();
    let again = tx
        .upsert_customer(&identity("ana"), false, at(400))
        .await
        .unwrap();
    assert_ne!(again.id, ana.id);
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .erase_customer(Platform::Telegram, &customer.user_id, at(500))
            .await
            .unwrap(),
        Erasure::Erased(frontdesk::store::Erased {
            customer: ana.id.0,
            tickets: 0,
            messages: 0,
            rating_comments: 0,
            unanswered: 0,
            web_messages: 0,
            outbox: 0,
        }),
        "erasing again finds nothing more to erase"
    );
}

/// With a retention period for closed tickets, the housekeeper erases the texts of those
/// closed longer ago — subject, messages, rating comment — once each, oldest first, and
/// leaves the figures, newer tickets and open ones alone.
async fn closed_tickets_texts_are_erased_after_their_period(store: Arc<dyn Store>) {
    use frontdesk::domain::ERASED;
    use frontdesk::store::PruneBefore;
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("old"), false, t0())
        .await
        .unwrap();
    let mut tickets = Vec::new();
    for closed_at in [Some(10), Some(20), Some(1000), None] {
        let mut t = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
        tx.add_message(&TicketMessage {
            ticket: t.no,
            direction: Direction::Inbound,
            author: "customer".into(),
            text: format!("words of #{}", t.no.0),
            attachments: Vec::new(),
            at: at(1),
        })
        .await
        .unwrap();
        if let Some(closed_at) = closed_at {
            t.state = TicketState::Closed;
            t.closed_at = Some(at(closed_at));
            tx.save_ticket(&t).await.unwrap();
            tx.record_rating(&Rating {
                ticket: t.no,
                customer: c.id,
                score: 5,
                comment: Some("thanks".into()),
                at: at(closed_at),
            })
            .await
            .unwrap();
        }
        tickets.push(t.no);
    }
    tx.commit().await.unwrap();
    let figures = |store: Arc<dyn Store>| async move {
        let (tickets, _) = store.metric_facts(t0()).await.unwrap();
        let mut rows: Vec<String> = tickets.iter().map(|t| format!("{t:?}")).collect();
        rows.sort();
        rows
    };
    let before_figures = figures(store.clone()).await;
    let keep_all = PruneBefore {
        inbound_keys: t0(),
        delivered: t0(),
        web_messages: t0(),
        now: at(2000),
        closed_tickets: None,
    };
    assert_eq!(store.prune(&keep_all, 10).await.unwrap().ticket_texts, 0);
    let erase_old = PruneBefore {
        closed_tickets: Some(at(500)),
        ..keep_all
    };
    let first = store.prune(&erase_old, 1).await.unwrap();
    assert_eq!(first.ticket_texts, 1, "one batch of one");
    let oldest = store.ticket_details(tickets[0]).await.unwrap().unwrap();
    assert_eq!(oldest.ticket.subject, ERASED, "oldest first");
    assert_eq!(
        store
            .ticket_details(tickets[1])
            .await
            .unwrap()
            .unwrap()
            .messages[0]
            .text,
        "words of #2"
    );
    assert_eq!(store.prune(&erase_old, 10).await.unwrap().ticket_texts, 1);
    assert_eq!(
        store.prune(&erase_old, 10).await.unwrap().ticket_texts,
        0,
        "each is erased once"
    );
    for (no, erased) in tickets.iter().zip([true, true, false, false]) {
        let details = store.ticket_details(*no).await.unwrap().unwrap();
        let texts_erased = details.ticket.subject == ERASED && details.messages[0].text == ERASED;
        assert_eq!(texts_erased, erased, "#{}", no.0);
        let mut tx = store.begin().await.unwrap();
        if let Some(rating) = tx.rating(*no).await.unwrap() {
            assert_eq!(rating.score, 5);
            assert_eq!(rating.comment.is_none(), erased, "#{}", no.0);
        }
    }
    assert_eq!(figures(store.clone()).await, before_figures);

    // Reopened and closed again, a ticket's new words are erased in their turn.
    let mut tx = store.begin().await.unwrap();
    let mut reopened = tx.ticket(tickets[0]).await.unwrap().unwrap();
    reopened.state = TicketState::Open;
    tx.save_ticket(&reopened).await.unwrap();
    tx.add_message(&TicketMessage {
        ticket: reopened.no,
        direction: Direction::Inbound,
        author: "customer".into(),
        text: "it broke again".into(),
        attachments: Vec::new(),
        at: at(30),
    })
    .await
    .unwrap();
    reopened.state = TicketState::Closed;
    reopened.closed_at = Some(at(40));
    tx.save_ticket(&reopened).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.prune(&erase_old, 10).await.unwrap().ticket_texts, 1);
    let details = store.ticket_details(tickets[0]).await.unwrap().unwrap();
    assert!(details.messages.iter().all(|m| m.text == ERASED));
}

macro_rules! suite {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (_dir, store) = super::sqlite_store().await;
                    super::$name(store).await;
                }
            )+
        }
        mod sqlite_memory {
            use std::sync::Arc;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = frontdesk::store::sqlite::SqliteStore::open("sqlite::memory:")
                        .await
                        .unwrap();
                    super::$name(Arc::new(store)).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let schema = crate::pg::PgSchema::new();
                    super::$name(schema.open().await).await;
                }
            )+
        }
    };
}

suite!(
    customer_upsert_is_idempotent,
    dedup_key_is_recorded_once,
    ticket_with_history_round_trips,
    active_ticket_and_list_filters,
    ticket_numbers_are_gap_free_under_concurrency,
    outbox_keeps_lane_order_and_expires_leases,
    dead_letters_are_visible_and_free_the_lane,
    unreachable_customer_dead_letters_their_chat,
    outbox_settle_records_a_batch_then_claims,
    metric_facts_cover_the_period,
    faq_tallies_follow_tickets_within_a_day,
    history_is_imported_in_bulk,
    alert_state_changes_are_recorded_once,
    ratings_are_kept_once_and_take_one_comment,
    timers_are_leased_fired_once_and_replaced,
    schema_version_is_the_newest_migration,
    unanswered_questions_newest_first_since,
    ticket_list_filters_in_the_query,
    web_messages_replay_in_order_after_an_id,
    console_sessions_expire_and_end,
    live_replicas_are_counted_and_the_gone_forgotten,
    prune_deletes_only_what_retention_calls_old,
    erase_customer_forgets_the_person_and_keeps_the_figures,
    closed_tickets_texts_are_erased_after_their_period,
);

// ---------------------------------------------------------------------------------------
// SQLite-specific failure modes

async fn raw_connection(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn read_only_database_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url).await.unwrap();
    enqueue(&store, &ChatAddress::new(Platform::Web, "x"), "hi", t0()).await;
    store.close().await;

    let ro_url = format!("{url}?mode=ro");
    let error = match SqliteStore::open(&ro_url).await {
        Err(e) => e,
        Ok(store) => {
            // Reading works; the first write says why it cannot.
            assert_eq!(store.outbox_stats().await.unwrap().pending, 1);
            match store.begin().await {
                Err(e) => e,
                Ok(mut tx) => match tx.record_inbound("k", t0()).await {
                    Err(e) => e,
                    Ok(_) => tx
                        .commit()
                        .await
                        .expect_err("write to a read-only database"),
                },
            }
        }
    };
    match error {
        StoreError::ReadOnly(message) => {
            assert!(message.contains("read-only"), "{message}");
            assert!(
                message.contains(&path.display().to_string()),
                "names the file: {message}"
            );
        }
        other => panic!("expected ReadOnly, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/no/such/dir/x.db", dir.path().display());
    match SqliteStore::open(&url).await {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("x.db"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn write_lock_held_elsewhere_times_out_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let store = SqliteStore::open_with(
        &format!("sqlite://{}", path.display()),
        SqliteOptions {
            busy_timeout: Duration::from_millis(200),
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();

    // Another process (here: a raw connection) holds the write lock.
    let mut other = raw_connection(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    match store.begin().await {
        Err(StoreError::ReadOnly(message)) => {
            assert!(message.contains("locked"), "{message}");
            assert!(message.contains("busy.db"), "{message}");
        }
        Err(other) => panic!("expected ReadOnly(locked), got {other:?}"),
        Ok(_) => panic!("expected ReadOnly(locked), got a unit of work"),
    }
    let claim = store
        .claim_outbox(
            "w",
            t0(),
            Duration::from_secs(30),
            1,
            frontdesk::domain::Platform::ALL,
        )
        .await;
    assert!(matches!(claim, Err(StoreError::ReadOnly(_))), "{claim:?}");
    // Reads are not blocked by a writer under WAL.
    store.ping().await.unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().pending, 0);

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let tx = store.begin().await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let (dir, store) = sqlite_store().await;
    let mut tx = store.begin().await.unwrap();
    let c = tx
        .upsert_customer(&identity("c"), false, t0())
        .await
        .unwrap();
    let t = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
    tx.add_message(&TicketMessage {
        ticket: t.no,
        direction: Direction::Inbound,
        author: "customer".into(),
        text: "hello".into(),
        attachments: vec![],
        at: t0(),
    })
    .await
    .unwrap();
    tx.enqueue(&Outbound::text(c.chat(), "broken"), t0())
        .await
        .unwrap();
    tx.enqueue(&Outbound::text(c.chat(), "fine"), t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut raw = raw_connection(&dir.path().join("frontdesk.db")).await;
    sqlx::query("UPDATE ticket_messages SET attachments = '{not json'")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET payload = '{\"to\":' WHERE id = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    drop(raw);

    assert!(matches!(
        store.ticket_details(t.no).await,
        Err(StoreError::Corrupt(_))
    ));
    // A corrupt outbox row is dead-lettered so it cannot block its lane forever.
    let first = store
        .claim_outbox(
            "w",
            t0(),
            Duration::from_secs(30),
            10,
            frontdesk::domain::Platform::ALL,
        )
        .await
        .unwrap();
    assert!(first.is_empty());
    assert_eq!(store.outbox_stats().await.unwrap().dead, 1);
    let next = store
        .claim_outbox(
            "w",
            t0(),
            Duration::from_secs(30),
            10,
            frontdesk::domain::Platform::ALL,
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(text_of(&next[0]), "fine");

    let mut raw = raw_connection(&dir.path().join("frontdesk.db")).await;
    sqlx::query("UPDATE tickets SET state = 'limbo'")
        .execute(&mut raw)
        .await
        .unwrap_err();
    // CHECK constraints keep states valid; a bad enum name elsewhere is Corrupt.
    sqlx::query("UPDATE tickets SET priority = 'p9'")
        .execute(&mut raw)
        .await
        .unwrap();
    drop(raw);
    assert!(matches!(
        store.list_tickets(&TicketFilter::default()).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// Two stores on one file behave like two processes: no shared in-process lock, only
/// SQLite's (BEGIN IMMEDIATE + busy timeout). Numbers must still be gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_gap_free_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let mut handles = Vec::new();
    for task in 0..8 {
        let store = Arc::clone(if task % 2 == 0 { &a } else { &b });
        handles.push(tokio::spawn(async move {
            for _ in 0..10 {
                let mut tx = store.begin().await.unwrap();
                // Read before writing: with a deferred BEGIN this is where two writers
                // would fail on lock upgrade (SQLITE_BUSY_SNAPSHOT, no busy wait).
                tx.active_ticket(frontdesk::domain::CustomerId(1))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
                let c = tx
                    .upsert_customer(&identity(&format!("p{task}")), false, t0())
                    .await
                    .unwrap();
                tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut numbers: Vec<i64> = a
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|t| t.no.0)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=80).collect::<Vec<_>>());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Any number of concurrent writers, any pattern of rolled-back units: the committed
    /// tickets are numbered exactly 1..=N, each once.
    #[test]
    fn ticket_numbers_stay_unique_and_gap_free(
        plan in proptest::collection::vec(proptest::collection::vec(proptest::bool::ANY, 1..12), 1..6)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (committed, numbers) = runtime.block_on(async {
            let (_dir, store) = sqlite_store().await;
            let mut handles = Vec::new();
            for (task, units) in plan.iter().cloned().enumerate() {
                let store = Arc::clone(&store);
                handles.push(tokio::spawn(async move {
                    let mut numbers = Vec::new();
                    for commit in units {
                        let mut tx = store.begin().await.unwrap();
                        let c = tx.upsert_customer(&identity(&format!("p{task}")), false, t0()).await.unwrap();
                        let t = tx.create_ticket(&new_ticket(c.id, t0())).await.unwrap();
                        if commit {
                            tx.commit().await.unwrap();
                            numbers.push(t.no.0);
                        }
                    }
                    numbers
                }));
            }
            let mut numbers = Vec::new();
            for h in handles {
                numbers.extend(h.await.unwrap());
            }
            let stored = store.list_tickets(&TicketFilter::default()).await.unwrap();
            let mut stored: Vec<i64> = stored.iter().map(|t| t.no.0).collect();
            stored.sort_unstable();
            numbers.sort_unstable();
            proptest::prop_assert_eq!(&stored, &numbers);
            Ok((plan.iter().flatten().filter(|c| **c).count(), numbers))
        })?;
        let expected: Vec<i64> = (1..=committed as i64).collect();
        proptest::prop_assert_eq!(numbers, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frontdesk.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    // Units of work never checkpoint themselves (wal_autocheckpoint = 0): about 2 MB goes
    // to the WAL only, until the background task copies it into the database file.
    let big = "x".repeat(20_000);
    for i in 0..100 {
        enqueue(
            &store,
            &ChatAddress::new(Platform::Telegram, format!("c{i}")),
            &big,
            t0(),
        )
        .await;
    }
    let size = || std::fs::metadata(&path).unwrap().len();
    tokio::time::timeout(Duration::from_secs(5), async {
        while size() < 2_000_000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the WAL was copied into the database file");
    store.close().await;
}

/// Undoes migration 0010 (FAQ tallies), as on a database from before it.
const UNDO_0010: [&str; 4] = [
    "DROP TABLE faq_tallies",
    "DROP INDEX faq_events_customer_at",
    "ALTER TABLE faq_events DROP COLUMN followed",
    "DELETE FROM _sqlx_migrations WHERE version = 10",
];

/// Migration 0010 tallies the FAQ interactions stored before it: undone on a store with a
/// history and applied again when the store opens, it gives the tallies the store keeps
/// one interaction at a time, by definition.
#[tokio::test]
async fn migration_0010_tallies_the_interactions_stored_before_it_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let history = write_faq_history(&store).await;
    store.close().await;
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in UNDO_0010 {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    raw.close().await;
    let store = SqliteStore::open(&url).await.unwrap();
    for since in history.starts() {
        assert_eq!(
            tallies_since(&store, since).await,
            history.expected(since),
            "since {since}"
        );
    }
}

#[tokio::test]
async fn migration_0010_tallies_the_interactions_stored_before_it_postgres() {
    let schema = crate::pg::PgSchema::new();
    let history = write_faq_history(schema.open().await.as_ref()).await;
    let raw = sqlx::PgPool::connect_with(schema.connect_options())
        .await
        .unwrap();
    for sql in UNDO_0010 {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    raw.close().await;
    let store = schema.open().await;
    for since in history.starts() {
        assert_eq!(
            tallies_since(store.as_ref(), since).await,
            history.expected(since),
            "since {since}"
        );
    }
}

/// The housekeeper's deletes find their rows through an index, never by reading a whole
/// table (a large store has millions of dedup keys and delivered messages).
#[tokio::test]
async fn prune_deletes_use_their_indexes() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let plans = store.prune_plans().await.unwrap();
    let expected = [
        "inbound_keys_at",
        "outbox_sent_at",
        "timers_settled_due",
        "web_messages_at",
        "console_sessions_expires",
    ];
    assert_eq!(plans.len(), expected.len());
    for (plan, index) in plans.iter().zip(expected) {
        assert!(plan.contains(index), "{index}:\n{plan}");
        for line in plan.lines() {
            assert!(
                !line.starts_with("SCAN") || line.contains("USING"),
                "a full scan:\n{plan}"
            );
        }
    }
}

/// The large reads use their indexes: `/queue` comes in order straight from
/// `tickets_queue` (no sort of all active tickets), the tickets, ratings and FAQ tallies of
/// a period come from their indexes.
#[tokio::test]
async fn queue_and_report_queries_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let plan = frontdesk::seed::SeedPlan::new(300, 10, t0());
    let seeded = frontdesk::seed::seed(&store, &plan).await.unwrap();
    assert_eq!(seeded.tickets, 300);
    assert!(seeded.active > 0 && seeded.ratings > 0 && seeded.faq_events > 0);
    let plans: std::collections::HashMap<_, _> = store
        .query_plans(t0() - chrono::Duration::days(1), false)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.plan))
        .collect();
    let queue = &plans["queue"];
    assert!(queue.contains("USING INDEX tickets_queue"), "{queue}");
    assert!(!queue.contains("TEMP B-TREE"), "{queue}");
    // FAQ figures: the whole hours' tallies and the first hour's interactions by index;
    // only the few tallies read are scanned again to add them up.
    let faq = &plans["faq_tallies"];
    assert!(
        faq.contains("SEARCH faq_tallies USING PRIMARY KEY (hour>?)"),
        "{faq}"
    );
    assert!(faq.contains("faq_events_at (at>? AND at<?)"), "{faq}");
    assert!(
        !faq.contains("SCAN faq_") && !faq.contains("SCAN e"),
        "{faq}"
    );
    let ratings = &plans["ratings"];
    assert!(ratings.contains("ratings_at"), "{ratings}");
    // Tickets of a period: the active, the closed and the rated ones, each from an index.
    let facts = &plans["ticket_facts"];
    for index in ["tickets_state", "tickets_closed_at", "ratings_at"] {
        assert!(facts.contains(index), "{index}: {facts}");
    }
    assert!(!facts.contains("SCAN "), "{facts}");
}

#[tokio::test]
async fn ticket_list_filters_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("list.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    frontdesk::seed::seed(&store, &frontdesk::seed::SeedPlan::new(300, 10, t0()))
        .await
        .unwrap();
    let some = |s: &str| Some(s.to_string());
    let cases = [
        (
            TicketFilter {
                priority: Some(Priority::P1),
                ..Default::default()
            },
            "tickets_priority",
        ),
        (
            TicketFilter {
                category: Some(Category::Complaint),
                ..Default::default()
            },
            "tickets_category",
        ),
        (
            TicketFilter {
                department: some("Tech"),
                ..Default::default()
            },
            "tickets_department",
        ),
        (
            TicketFilter {
                assignee: some("@Ana"),
                ..Default::default()
            },
            "tickets_assignee_name",
        ),
        (
            TicketFilter {
                state: Some(TicketState::New),
                ..Default::default()
            },
            "tickets_state",
        ),
        (
            TicketFilter {
                platform: Some(Platform::Discord),
                ..Default::default()
            },
            "customers_platform",
        ),
    ];
    for (filter, index) in cases {
        let filter = TicketFilter {
            limit: Some(200),
            ..filter
        };
        let plan = store.ticket_list_plan(&filter).await.unwrap();
        assert!(plan.contains(index), "{index}: {plan}");
    }
}
