//! SLA timers end to end on a real SQLite file with a manual clock: each timer fires at its
//! time and once, survives a restart, is never fired twice by racing workers, is cancelled
//! by the flows that make it moot, and auto-close closes and tells the customer.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use frontdesk::domain::{OutboundBody, Platform, TicketNo, TicketState, Timestamp};
use frontdesk::outbox::OutboxWorker;
use frontdesk::ports::{Clock, ManualClock};
use frontdesk::service::{
    Agent, DeskInbound, DeskRoute, Handled, Inbound, InboundContent, Service, TimerOutcome,
};
use frontdesk::sla_worker::{SlaRound, SlaWorker, SlaWorkerConfig};
use frontdesk::store::{Store, TicketDetails};

use crate::support::{console_stack, customer, RecordingTransport, Stack};

const DESK_CHAT: &str = "desk";
const HOUR: Duration = Duration::from_secs(3600);

/// One process: store, service, outbox and an SLA worker on a shared database file.
struct Node {
    store: Arc<dyn Store>,
    service: Arc<Service>,
    outbox: OutboxWorker,
    transport: Arc<RecordingTransport>,
}

struct Rig {
    dir: tempfile::TempDir,
    clock: ManualClock,
    node: Node,
    seq: std::sync::atomic::AtomicU64,
}

async fn node(dir: &tempfile::TempDir, clock: &ManualClock) -> Node {
    let Stack {
        store,
        service,
        outbox,
        transport,
    } = console_stack(dir.path(), Arc::new(clock.clone()), &[]).await;
    let service = service.with_desk(DeskRoute::new(Platform::Console, DESK_CHAT));
    Node {
        store,
        service: Arc::new(service),
        outbox,
        transport,
    }
}

impl Node {
    fn worker(&self, name: &str, clock: &ManualClock) -> SlaWorker {
        SlaWorker::new(
            self.store.clone(),
            self.service.clone(),
            Arc::new(clock.clone()),
            SlaWorkerConfig {
                worker: name.into(),
                lease: Duration::from_secs(60),
                batch: 50,
                max_idle: Duration::from_secs(1),
            },
        )
    }
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let node = node(&dir, &clock).await;
    Rig {
        dir,
        clock,
        node,
        seq: Default::default(),
    }
}

impl Rig {
    fn key(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("sla-test:{n}")
    }

    async fn customer_says(&self, user: &str, text: &str) -> Handled {
        let inbound = Inbound {
            key: self.key(),
            from: customer(user),
            content: InboundContent::Message {
                text: text.into(),
                attachments: Vec::new(),
            },
        };
        self.node.service.handle(inbound).await.unwrap()
    }

    async fn ticket_for(&self, user: &str, text: &str) -> TicketNo {
        let handled = self.customer_says(user, &format!("/human {text}")).await;
        let Handled::Done { ticket: Some(no) } = handled else {
            panic!("expected a ticket, got {handled:?}");
        };
        self.sent().await;
        no
    }

    async fn agent(&self, agent: &str, no: TicketNo, text: &str) {
        let inbound = DeskInbound {
            key: self.key(),
            agent: Agent {
                platform: Platform::Console,
                user_id: agent.into(),
                name: agent.into(),
            },
            ticket: Some(no),
            reply_to: DeskRoute::new(Platform::Console, DESK_CHAT).thread(no),
            text: text.into(),
        };
        self.node.service.handle_desk(inbound).await.unwrap();
    }

    /// (desk texts, customer texts with their button counts) delivered since the last call.
    async fn sent(&self) -> (Vec<String>, Vec<(String, usize)>) {
        self.node.outbox.drain().await.unwrap();
        let mut desk = Vec::new();
        let mut customer = Vec::new();
        for m in self.node.transport.take() {
            let OutboundBody::Text { text, buttons, .. } = &m.body else {
                continue;
            };
            if m.to.chat_id == DESK_CHAT {
                desk.push(text.clone());
            } else {
                customer.push((text.clone(), buttons.len()));
            }
        }
        (desk, customer)
    }

    async fn details(&self, no: TicketNo) -> TicketDetails {
        self.node.store.ticket_details(no).await.unwrap().unwrap()
    }

    async fn run(&self, worker: &SlaWorker) -> SlaRound {
        worker.run_once().await.unwrap()
    }

    fn set(&self, at: Timestamp) {
        self.clock.set(at);
    }
}

fn events(d: &TicketDetails, kind: &str, detail: &str) -> usize {
    d.events
        .iter()
        .filter(|e| e.kind == kind && e.detail.contains(detail))
        .count()
}

#[tokio::test]
async fn first_response_reminder_and_breach_fire_at_their_time_and_once() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    let limit = (t.first_response_due - t.created_at).to_std().unwrap();
    let reminder_at = t.created_at + chrono::Duration::from_std(limit * 4 / 5).unwrap();

    assert_eq!(r.run(&w).await.claimed, 0);
    r.set(reminder_at - chrono::Duration::seconds(1));
    assert_eq!(r.run(&w).await.claimed, 0, "not yet due");
    r.set(reminder_at);
    let round = r.run(&w).await;
    assert_eq!((round.claimed, round.fired), (1, 1));
    let (desk, customer) = r.sent().await;
    assert_eq!(desk.len(), 1, "{desk:?}");
    assert!(desk[0].contains("first response due"), "{desk:?}");
    assert!(
        customer.is_empty(),
        "the customer hears nothing: {customer:?}"
    );
    assert_eq!(r.run(&w).await.claimed, 0, "fired once");

    r.set(t.first_response_due);
    let round = r.run(&w).await;
    assert_eq!((round.claimed, round.fired), (1, 1));
    let (desk, _) = r.sent().await;
    assert!(
        desk[0].contains("first-response deadline missed"),
        "{desk:?}"
    );
    assert_eq!(r.run(&w).await.claimed, 0);

    r.set(t.resolution_due);
    assert_eq!(r.run(&w).await.fired, 1);
    r.clock.advance(100 * HOUR);
    assert_eq!(r.run(&w).await.claimed, 0);

    let d = r.details(no).await;
    assert_eq!(events(&d, "sla_reminder", ""), 1);
    assert_eq!(events(&d, "sla_breached", "first response"), 1);
    assert_eq!(events(&d, "sla_breached", "resolution"), 1);
}

#[tokio::test]
async fn claim_cancels_first_response_timers_but_not_resolution() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    r.agent("sam", no, "/claim").await;
    r.set(t.first_response_due + chrono::Duration::seconds(1));
    assert_eq!(
        r.run(&w).await.claimed,
        0,
        "first-response timers cancelled"
    );
    r.set(t.resolution_due);
    assert_eq!(r.run(&w).await.fired, 1);
    let d = r.details(no).await;
    assert_eq!(events(&d, "sla_reminder", ""), 0);
    assert_eq!(events(&d, "sla_breached", "first response"), 0);
    assert_eq!(events(&d, "sla_breached", "resolution"), 1);
}

#[tokio::test]
async fn resolving_cancels_the_resolution_breach() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    r.agent("sam", no, "/resolve fixed the total").await;
    assert_eq!(r.details(no).await.ticket.state, TicketState::Resolved);
    // Resolved with no confirmation: only auto-close (72 h) is left, after the deadline.
    r.set(t.resolution_due + chrono::Duration::seconds(1));
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(events(&d, "sla_breached", ""), 0);
    assert_eq!(events(&d, "sla_reminder", ""), 0);
}

#[tokio::test]
async fn timer_due_while_down_fires_once_after_start() {
    let r = rig().await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    let Rig {
        dir, clock, node, ..
    } = r;
    drop(node);
    // Down past both first-response timers; a fresh process on the same file.
    clock.set(t.first_response_due + chrono::Duration::minutes(5));
    let node = node_restarted(&dir, &clock).await;
    let w = node.worker("after-restart", &clock);
    let round = w.run_once().await.unwrap();
    assert_eq!((round.claimed, round.fired), (2, 2));
    assert_eq!(w.run_once().await.unwrap().claimed, 0);
    let d = node.store.ticket_details(no).await.unwrap().unwrap();
    assert_eq!(events(&d, "sla_reminder", ""), 1);
    assert_eq!(events(&d, "sla_breached", "first response"), 1);
}

async fn node_restarted(dir: &tempfile::TempDir, clock: &ManualClock) -> Node {
    node(dir, clock).await
}

#[tokio::test]
async fn racing_workers_never_fire_a_timer_twice() {
    let r = rig().await;
    let mut tickets = Vec::new();
    for i in 0..8 {
        tickets.push(
            r.ticket_for(&format!("user{i}"), "my invoice total is wrong")
                .await,
        );
    }
    let t = r.details(tickets[0]).await.ticket;
    r.clock.advance(HOUR * 3);
    assert!(r.clock.now() > t.first_response_due);
    // A second process on the same file, plus two workers in this one.
    let other = node(&r.dir, &r.clock).await;
    let workers = [
        r.node.worker("a", &r.clock),
        r.node.worker("b", &r.clock),
        other.worker("c", &r.clock),
    ];
    let mut fired = 0;
    for _ in 0..3 {
        let (x, y, z) = tokio::join!(
            workers[0].run_once(),
            workers[1].run_once(),
            workers[2].run_once()
        );
        fired += x.unwrap().fired + y.unwrap().fired + z.unwrap().fired;
    }
    assert_eq!(fired, tickets.len() * 2, "reminder + breach per ticket");
    for no in tickets {
        let d = r.details(no).await;
        assert_eq!(events(&d, "sla_reminder", ""), 1, "{no}");
        assert_eq!(events(&d, "sla_breached", "first response"), 1, "{no}");
    }
}

#[tokio::test]
async fn expired_lease_is_taken_over_and_the_first_holder_cannot_fire_it_again() {
    let r = rig().await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    r.set(t.first_response_due);
    let store = &r.node.store;
    let lease = Duration::from_secs(60);
    let a = store
        .claim_due_timers("a", r.clock.now(), lease, 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    let b = store
        .claim_due_timers("b", r.clock.now(), lease, 10)
        .await
        .unwrap();
    assert!(b.is_empty(), "leased to a");
    // `a` stalls past its lease; `b` takes the timers over and fires them.
    r.clock.advance(Duration::from_secs(61));
    let b = store
        .claim_due_timers("b", r.clock.now(), lease, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 2);
    for timer in &b {
        assert_eq!(
            r.node.service.fire_timer(timer, "b").await.unwrap(),
            TimerOutcome::Fired
        );
    }
    for timer in &a {
        assert_eq!(
            r.node.service.fire_timer(timer, "a").await.unwrap(),
            TimerOutcome::Skipped
        );
    }
    let d = r.details(no).await;
    assert_eq!(events(&d, "sla_reminder", ""), 1);
    assert_eq!(events(&d, "sla_breached", "first response"), 1);
}

#[tokio::test]
async fn ask_nudges_after_a_day_and_auto_closes_after_three_days() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/ask Which invoice number?").await;
    let asked = r.clock.now();
    r.sent().await;

    r.set(asked + chrono::Duration::hours(24) - chrono::Duration::seconds(1));
    r.run(&w).await;
    assert!(r.sent().await.1.is_empty(), "no nudge before 24 h");
    r.set(asked + chrono::Duration::hours(24));
    r.run(&w).await;
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(
        customer[0].0.contains("waiting for your answer"),
        "{customer:?}"
    );
    assert_eq!(
        r.details(no).await.ticket.state,
        TicketState::WaitingOnCustomer
    );

    r.set(asked + chrono::Duration::hours(72));
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(d.ticket.state, TicketState::Closed);
    assert_eq!(events(&d, "auto_closed", "no answer"), 1);
    let (desk, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(customer[0].0.contains("was closed"), "{customer:?}");
    assert!(
        desk.iter().any(|l| l.contains("closed automatically")),
        "{desk:?}"
    );
    r.clock.advance(100 * HOUR);
    assert_eq!(r.run(&w).await.claimed, 0, "closing cancelled everything");
}

#[tokio::test]
async fn customer_answer_cancels_nudge_and_auto_close() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/ask Which invoice number?").await;
    let asked = r.clock.now();
    r.clock.advance(HOUR);
    r.customer_says("ana", "It is INV-42").await;
    assert_eq!(r.details(no).await.ticket.state, TicketState::Open);
    r.sent().await;
    r.set(asked + chrono::Duration::hours(73));
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(d.ticket.state, TicketState::Open);
    assert_eq!(events(&d, "customer_nudged", ""), 0);
    assert_eq!(events(&d, "auto_closed", ""), 0);
    assert!(r.sent().await.1.is_empty());
}

#[tokio::test]
async fn unconfirmed_resolution_auto_closes_after_three_days_and_asks_for_a_rating() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/resolve Corrected invoice sent.").await;
    let resolved = r.clock.now();
    r.sent().await;
    r.set(resolved + chrono::Duration::hours(72) - chrono::Duration::seconds(1));
    r.run(&w).await;
    assert_eq!(r.details(no).await.ticket.state, TicketState::Resolved);
    r.set(resolved + chrono::Duration::hours(72));
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(d.ticket.state, TicketState::Closed);
    assert_eq!(events(&d, "auto_closed", "no confirmation"), 1);
    assert_eq!(events(&d, "rating_asked", ""), 1);
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(customer[0].0.contains("rate"), "{customer:?}");
    assert!(customer[0].1 > 0, "rating buttons: {customer:?}");
}

#[tokio::test]
async fn the_running_worker_fires_due_timers_and_stops_on_shutdown() {
    let r = rig().await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    r.set(t.first_response_due);
    let worker = Arc::new(r.node.worker("runner", &r.clock));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    let mut breached = 0;
    for _ in 0..100 {
        breached = events(&r.details(no).await, "sla_breached", "first response");
        if breached > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(breached, 1);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("worker stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn raising_the_priority_moves_the_breach_earlier() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let before = r.details(no).await.ticket;
    r.agent("sam", no, "/priority p1").await;
    let after = r.details(no).await.ticket;
    assert!(
        after.first_response_due < before.first_response_due,
        "{before:?} → {after:?}"
    );
    r.set(after.first_response_due);
    r.run(&w).await;
    assert_eq!(
        events(&r.details(no).await, "sla_breached", "first response"),
        1
    );
    // The old first-response timers were replaced, not kept next to the new ones.
    r.set(before.first_response_due);
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(events(&d, "sla_breached", "first response"), 1);
    assert_eq!(events(&d, "sla_reminder", ""), 1);
}

#[tokio::test]
async fn scheduling_again_replaces_and_cancel_counts_only_pending_timers() {
    let r = rig().await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let now = r.clock.now();
    let store = &r.node.store;
    let mut tx = store.begin().await.unwrap();
    tx.schedule_timer(no, "customer_nudge", now + chrono::Duration::hours(1), now)
        .await
        .unwrap();
    tx.schedule_timer(no, "customer_nudge", now + chrono::Duration::hours(2), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let at = |h| now + chrono::Duration::hours(h);
    let claimed = store
        .claim_due_timers("w", at(1), Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert!(
        claimed.iter().all(|t| t.kind != "customer_nudge"),
        "the first schedule was replaced: {claimed:?}"
    );
    assert!(store.next_timer_due().await.unwrap().is_some());
    let mut tx = store.begin().await.unwrap();
    let kinds = ["customer_nudge", "first_response_breach", "not_a_kind"];
    assert_eq!(tx.cancel_timers(no, &kinds).await.unwrap(), 2);
    assert_eq!(tx.cancel_timers(no, &kinds).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let claimed = store
        .claim_due_timers("w2", at(2), Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert!(
        claimed
            .iter()
            .all(|t| t.kind != "customer_nudge" && t.kind != "first_response_breach"),
        "{claimed:?}"
    );
}
