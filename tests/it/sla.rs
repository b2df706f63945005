//! SLA timers end to end on a real SQLite file with a manual clock: each timer fires at its
//! time and once, survives a restart, is never fired twice by racing workers, is cancelled
//! by the flows that make it moot, and auto-close closes and tells the customer.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use frontdesk::desk::{AgentProfile, Staff};
use frontdesk::domain::{ChatAddress, OutboundBody, Platform, TicketNo, TicketState, Timestamp};
use frontdesk::outbox::OutboxWorker;
use frontdesk::ports::{Clock, ManualClock};
use frontdesk::replies::ButtonAction;
use frontdesk::service::{
    Agent, DeskInbound, DeskRoute, Handled, Inbound, InboundContent, Service, TimerOutcome,
};
use frontdesk::sla_worker::{SlaRound, SlaWorker, SlaWorkerConfig};
use frontdesk::store::{Store, TicketDetails};
use frontdesk::supervisors::Supervisors;

use crate::support::{console_stack, customer, RecordingTransport, Stack};

const DESK_CHAT: &str = "desk";
/// The supervisors' chat of [`with_supervisors`].
const SUPERVISORS: &str = "supervisors";

fn with_supervisors(service: Service) -> Service {
    deadlines_only(service).with_supervisors(Supervisors::new(
        vec![ChatAddress::new(Platform::Console, SUPERVISORS)],
        vec!["maria".into()],
    ))
}
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

/// How a test configures the service beyond the desk (supervisors, agents, …).
type Configure = fn(Service) -> Service;

async fn node(dir: &tempfile::TempDir, clock: &ManualClock) -> Node {
    node_with(dir, clock, deadlines_only).await
}

async fn node_with(dir: &tempfile::TempDir, clock: &ManualClock, configure: Configure) -> Node {
    let Stack {
        store,
        service,
        outbox,
        transport,
    } = console_stack(dir.path(), Arc::new(clock.clone()), &[]).await;
    let service = configure(service.with_desk(DeskRoute::new(Platform::Console, DESK_CHAT)));
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

/// The deadline timers alone: the unassigned reminder and the progress cadence (tested on
/// their own below) are pushed out of the way.
async fn rig() -> Rig {
    rig_with(deadlines_only).await
}

fn deadlines_only(service: Service) -> Service {
    let mut sla = *service.sla();
    sla.unassigned_reminder = 1000 * HOUR;
    for limits in [&mut sla.p1, &mut sla.p2, &mut sla.p3] {
        limits.progress = 1000 * HOUR;
    }
    service.with_sla(sla)
}

async fn rig_with(configure: Configure) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let node = node_with(&dir, &clock, configure).await;
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

    async fn press(&self, user: &str, action: ButtonAction) -> Handled {
        let inbound = Inbound {
            key: self.key(),
            from: customer(user),
            content: InboundContent::Button {
                data: action.encode(),
            },
        };
        self.node.service.handle(inbound).await.unwrap()
    }

    /// The ticket resolved by sam and confirmed by its customer; what was sent is cleared.
    async fn solved(&self, user: &str, text: &str) -> TicketNo {
        let no = self.ticket_for(user, text).await;
        self.agent("sam", no, "/resolve Done on our side.").await;
        self.press(user, ButtonAction::Solved(no)).await;
        self.sent().await;
        no
    }

    async fn rating(&self, no: TicketNo) -> Option<u8> {
        let mut tx = self.node.store.begin().await.unwrap();
        tx.rating(no).await.unwrap().map(|r| r.score)
    }

    async fn ticket_for(&self, user: &str, text: &str) -> TicketNo {
        let no = self.ticket_for_keeping(user, text).await;
        self.sent().await;
        no
    }

    /// Opens a ticket and leaves what it caused undelivered.
    async fn ticket_for_keeping(&self, user: &str, text: &str) -> TicketNo {
        let handled = self.customer_says(user, &format!("/human {text}")).await;
        let Handled::Done { ticket: Some(no) } = handled else {
            panic!("expected a ticket, got {handled:?}");
        };
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

    /// (desk texts, customer texts with their button counts) delivered since the last call;
    /// supervisor notices are in `desk` when they went to the desk chat and are dropped
    /// when they went to [`SUPERVISORS`] (see [`Rig::sent_to`]).
    async fn sent(&self) -> (Vec<String>, Vec<(String, usize)>) {
        let mut desk = Vec::new();
        let mut customer = Vec::new();
        for (chat, text, buttons) in self.sent_all().await {
            if chat == DESK_CHAT {
                desk.push(text);
            } else if chat != SUPERVISORS {
                customer.push((text, buttons));
            }
        }
        (desk, customer)
    }

    /// (chat, text, button count) of every text delivered since the last call.
    async fn sent_all(&self) -> Vec<(String, String, usize)> {
        self.node.outbox.drain().await.unwrap();
        self.node
            .transport
            .take()
            .into_iter()
            .filter_map(|m| match &m.body {
                OutboundBody::Text { text, buttons } => {
                    Some((m.to.chat_id.clone(), text.clone(), buttons.len()))
                }
                _ => None,
            })
            .collect()
    }

    /// Texts delivered to `chat` since the last call (everything else is dropped).
    async fn sent_to(&self, chat: &str) -> Vec<String> {
        self.sent_all()
            .await
            .into_iter()
            .filter(|(c, _, _)| c == chat)
            .map(|(_, text, _)| text)
            .collect()
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
        customer[0].0.contains("rate us"),
        "a timeout closing asks: {customer:?}"
    );
    assert!(customer[0].1 > 0, "with the rating buttons: {customer:?}");
    assert!(
        desk.iter().any(|l| l.contains("closed automatically")),
        "{desk:?}"
    );
    r.clock.advance(100 * HOUR);
    assert_eq!(
        r.run(&w).await.claimed,
        1,
        "closing cancelled everything but the survey's own timer"
    );
    assert_eq!(events(&r.details(no).await, "csat_closed", ""), 1);
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

#[tokio::test]
async fn complaints_and_p1_tickets_notify_the_supervisors_at_creation() {
    let r = rig_with(with_supervisors).await;
    let complaint = r
        .ticket_for_keeping("ana", "Your agent was extremely rude to me on the phone")
        .await;
    let p1 = r
        .ticket_for_keeping("bo", "I CAN'T LOG IN!!! it says wrong password")
        .await;
    let ordinary = r
        .ticket_for_keeping("cy", "my invoice total is wrong")
        .await;
    let notices = r.sent_to(SUPERVISORS).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        notices[0].starts_with("📣 Supervisors (@maria): new complaint: "),
        "{notices:?}"
    );
    assert!(notices[0].contains(&complaint.to_string()), "{notices:?}");
    assert!(
        notices[1].contains(&format!("new P1: {p1} P1 problem")),
        "{notices:?}"
    );
    assert!(!notices.iter().any(|n| n.contains(&ordinary.to_string())));
    let d = r.details(complaint).await;
    assert_eq!(events(&d, "supervisors_notified", "complaint"), 1);
    assert_eq!(
        events(&r.details(ordinary).await, "supervisors_notified", ""),
        0
    );
}

#[tokio::test]
async fn breaches_alert_the_thread_and_the_supervisors() {
    let r = rig_with(with_supervisors).await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    r.set(t.first_response_due);
    r.run(&w).await;
    let sent = r.sent_all().await;
    let thread: Vec<_> = sent.iter().filter(|(c, _, _)| c == DESK_CHAT).collect();
    let sup: Vec<_> = sent.iter().filter(|(c, _, _)| c == SUPERVISORS).collect();
    assert!(
        thread
            .iter()
            .any(|(_, l, _)| l.contains("first-response deadline missed")),
        "{sent:?}"
    );
    assert_eq!(sup.len(), 1, "{sent:?}");
    assert!(sup[0].1.contains(&format!("SLA breach: {no} P")), "{sup:?}");
    assert!(sup[0].1.contains("first-response deadline"), "{sup:?}");
    r.set(t.resolution_due + chrono::Duration::minutes(5));
    r.run(&w).await;
    let sup = r.sent_to(SUPERVISORS).await;
    assert_eq!(sup.len(), 1, "{sup:?}");
    assert!(
        sup[0].contains("resolution deadline (overdue by 5 min)"),
        "{sup:?}"
    );
}

#[tokio::test]
async fn supervisor_notices_fall_back_to_the_desk_chat_and_can_be_sent_on_their_own() {
    let r = rig().await;
    let queued = r
        .node
        .service
        .notify_supervisors("average first response 31 min (threshold 25 min)")
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let (desk, customer) = r.sent().await;
    assert_eq!(
        desk,
        vec!["📣 Supervisors: average first response 31 min (threshold 25 min)".to_string()]
    );
    assert!(customer.is_empty());
    let notice = r.node.service.supervisor_notice(Some(TicketNo(3)), "x");
    assert_eq!(
        notice[0].to,
        DeskRoute::new(Platform::Console, DESK_CHAT).chat()
    );
    assert_eq!(notice[0].ticket, Some(TicketNo(3)));
}

/// Only the unassigned reminder (every 30 min) besides the deadline timers pushed away.
fn unassigned_reminders(service: Service) -> Service {
    let service = deadlines_only(service);
    let mut sla = *service.sla();
    sla.unassigned_reminder = Duration::from_secs(30 * 60);
    service.with_sla(sla)
}

#[tokio::test]
async fn unassigned_tickets_are_announced_and_reminded_until_claimed() {
    let r = rig_with(unassigned_reminders).await;
    let w = r.node.worker("w1", &r.clock);
    let no = r
        .ticket_for_keeping("ana", "my invoice total is wrong")
        .await;
    let general = |sent: Vec<(String, String, usize)>| -> Vec<String> {
        sent.into_iter()
            .filter(|(c, _, _)| c == DESK_CHAT)
            .map(|(_, t, _)| t)
            .collect()
    };
    let desk = general(r.sent_all().await);
    assert!(
        desk.iter()
            .any(|l| l.starts_with(&format!("🆕 {no} ")) && l.contains("unassigned (new)")),
        "{desk:?}"
    );
    let start = r.clock.now();
    for (minutes, expected) in [(29, 0), (30, 1), (59, 0), (60, 1)] {
        r.set(start + chrono::Duration::minutes(minutes));
        r.run(&w).await;
        let desk = general(r.sent_all().await);
        let reminders = desk
            .iter()
            .filter(|l| l.contains("still unassigned"))
            .count();
        assert_eq!(reminders, expected, "at +{minutes} min: {desk:?}");
    }
    r.agent("sam", no, "/claim").await;
    r.sent().await;
    r.set(start + chrono::Duration::hours(10));
    r.run(&w).await;
    assert!(!general(r.sent_all().await)
        .iter()
        .any(|l| l.contains("still unassigned")));
    assert_eq!(events(&r.details(no).await, "unassigned_reminder", ""), 2);
    // A transfer leaves it without anyone: announced and reminded again.
    r.agent("sam", no, "/transfer product").await;
    let desk = general(r.sent_all().await);
    assert!(
        desk.iter()
            .any(|l| l.starts_with(&format!("🆕 {no} ")) && l.contains("(transferred)")),
        "{desk:?}"
    );
    r.clock.advance(Duration::from_secs(30 * 60));
    r.run(&w).await;
    assert!(general(r.sent_all().await)
        .iter()
        .any(|l| l.contains("still unassigned")));
}

fn auto_assigning(service: Service) -> Service {
    let agent = |name: &str, skills: &[&str], capacity| AgentProfile {
        name: name.into(),
        ids: vec![format!("console:{name}")],
        skills: skills.iter().map(|s| s.to_string()).collect(),
        capacity,
    };
    unassigned_reminders(service).with_staff(Staff {
        agents: vec![
            agent("sam", &["tech"], None),
            agent("li", &["tech", "support"], Some(1)),
        ],
        auto_assign: true,
    })
}

#[tokio::test]
async fn auto_assignment_gives_tickets_to_the_least_loaded_agent_with_the_skill() {
    let r = rig_with(auto_assigning).await;
    let w = r.node.worker("w1", &r.clock);
    let login = "I CAN'T LOG IN!!! it says wrong password";
    let first = r.ticket_for_keeping("u1", login).await;
    let (desk, _) = r.sent().await;
    assert!(
        desk.iter()
            .any(|l| l.contains(&format!("{first} auto-assigned to sam"))),
        "{desk:?}"
    );
    let second = r.ticket_for("u2", login).await;
    let third = r.ticket_for("u3", login).await;
    let r = &r;
    let assignee = |no| async move { r.details(no).await.ticket.assignee };
    // Tie at zero → the one listed first; then the less loaded; li is full (capacity 1).
    assert_eq!(assignee(first).await.as_deref(), Some("sam"));
    assert_eq!(assignee(second).await.as_deref(), Some("li"));
    assert_eq!(assignee(third).await.as_deref(), Some("sam"));
    let d = r.details(first).await;
    assert_eq!(events(&d, "assigned", "auto"), 1);
    assert_eq!(
        d.ticket.state,
        TicketState::New,
        "assigned, not yet claimed"
    );
    // Nobody free with the skill for a complaint: it waits, announced and reminded.
    let complaint = r
        .ticket_for_keeping("u4", "Your agent was extremely rude to me on the phone")
        .await;
    assert_eq!(assignee(complaint).await, None);
    let (desk, _) = r.sent().await;
    assert!(
        desk.iter()
            .any(|l| l.starts_with(&format!("🆕 {complaint} "))),
        "{desk:?}"
    );
    r.clock.advance(Duration::from_secs(30 * 60));
    r.run(&w).await;
    let (desk, _) = r.sent().await;
    assert_eq!(
        desk.iter()
            .filter(|l| l.contains("still unassigned"))
            .count(),
        1,
        "{desk:?}"
    );
}

/// Only the progress cadence besides the deadline timers (P3: every 4 h).
fn progress_only(service: Service) -> Service {
    let service = deadlines_only(service);
    let mut sla = *service.sla();
    let defaults = frontdesk::sla::SlaPolicy::default();
    sla.p1.progress = defaults.p1.progress;
    sla.p2.progress = defaults.p2.progress;
    sla.p3.progress = defaults.p3.progress;
    service.with_sla(sla)
}

#[tokio::test]
async fn progress_sync_reminds_the_assignee_and_updates_a_customer_nobody_wrote_to() {
    let r = rig_with(progress_only).await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t = r.details(no).await.ticket;
    let cadence = r.node.service.sla().limits(t.priority).progress;
    let every = chrono::Duration::from_std(cadence).unwrap();
    r.agent("sam", no, "/claim").await;
    r.sent().await;
    // First sync: only the claim so far (not a word to the customer) → automatic update.
    r.set(t.created_at + every - chrono::Duration::seconds(1));
    assert_eq!(r.run(&w).await.claimed, 0);
    r.set(t.created_at + every);
    assert_eq!(r.run(&w).await.fired, 1);
    let (desk, customer) = r.sent().await;
    assert!(
        desk.iter().any(|l| l.contains("progress sync for sam")),
        "{desk:?}"
    );
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(
        customer[0].0.contains("still working on it"),
        "{customer:?}"
    );
    // The agent writes before the next one: reminder only.
    r.clock.advance(HOUR);
    r.agent("sam", no, "Checking with the billing team now.")
        .await;
    r.sent().await;
    r.set(t.created_at + every * 2);
    assert_eq!(r.run(&w).await.fired, 1);
    let (desk, customer) = r.sent().await;
    assert!(
        desk.iter().any(|l| l.contains("progress sync for sam")),
        "{desk:?}"
    );
    assert!(customer.is_empty(), "the agent wrote since: {customer:?}");
    // Silent again: the cadence continues with another update.
    r.set(t.created_at + every * 3);
    assert_eq!(r.run(&w).await.fired, 1);
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    let d = r.details(no).await;
    assert_eq!(events(&d, "progress_sync", ""), 3);
    assert_eq!(events(&d, "progress_update", ""), 2);
    // Resolved: the cadence stops.
    r.agent("sam", no, "/resolve Corrected invoice sent.").await;
    r.sent().await;
    r.set(t.created_at + every * 10);
    r.run(&w).await;
    assert_eq!(events(&r.details(no).await, "progress_sync", ""), 3);
}

#[tokio::test]
async fn progress_sync_for_p1_runs_hourly_in_chinese_for_chinese_customers() {
    let r = rig_with(progress_only).await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("wei", "我登录不了，一直提示密码错误").await;
    let t = r.details(no).await.ticket;
    assert_eq!(t.priority, frontdesk::domain::Priority::P1);
    r.agent("sam", no, "/claim").await;
    r.sent().await;
    r.set(t.created_at + chrono::Duration::hours(1));
    assert_eq!(r.run(&w).await.fired, 1);
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(customer[0].0.contains("仍在处理中"), "{customer:?}");
}

#[tokio::test]
async fn waiting_on_the_customer_pauses_the_deadlines_and_the_answer_moves_them() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    let t0 = r.details(no).await.ticket;
    r.agent("sam", no, "/ask Which invoice number?").await;
    let asked = r.clock.now();
    assert_eq!(r.details(no).await.ticket.waiting_since, Some(asked));
    r.sent().await;
    // The original resolution deadline passes while waiting: no breach (paused).
    let paused_for = t0.resolution_due - asked + chrono::Duration::hours(1);
    r.set(asked + paused_for - chrono::Duration::seconds(1));
    r.run(&w).await;
    assert_eq!(
        events(&r.details(no).await, "sla_breached", "resolution"),
        0
    );
    r.set(asked + paused_for);
    r.customer_says("ana", "It is INV-42").await;
    r.sent().await;
    let t1 = r.details(no).await.ticket;
    assert_eq!(t1.state, TicketState::Open);
    assert_eq!(t1.waiting_since, None);
    assert_eq!(t1.resolution_due, t0.resolution_due + paused_for);
    // The breach timer moved with the deadline.
    r.set(t1.resolution_due - chrono::Duration::seconds(1));
    r.run(&w).await;
    assert_eq!(
        events(&r.details(no).await, "sla_breached", "resolution"),
        0
    );
    // A priority change keeps the pause: P1 limits from creation, plus the time waited.
    r.agent("sam", no, "/priority P1").await;
    let t2 = r.details(no).await.ticket;
    assert_eq!(
        t2.resolution_due,
        t0.created_at + chrono::Duration::hours(2) + paused_for
    );
    r.set(t2.resolution_due.max(r.clock.now()));
    r.run(&w).await;
    assert_eq!(
        events(&r.details(no).await, "sla_breached", "resolution"),
        1
    );
}

#[tokio::test]
async fn the_survey_closes_at_its_outer_limit_and_a_late_rating_changes_nothing() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    // P3/P2: two days (no business hours configured); P1: 24 h.
    let ordinary = r.solved("ana", "my invoice total is wrong").await;
    let urgent = r
        .solved("bo", "I CAN'T LOG IN!!! it says wrong password")
        .await;
    let closed = r.clock.now();
    let d = r.details(ordinary).await;
    assert_eq!(events(&d, "rating_asked", "open until"), 1);

    r.set(closed + chrono::Duration::hours(24) - chrono::Duration::seconds(1));
    r.run(&w).await;
    r.set(closed + chrono::Duration::hours(24));
    assert_eq!(r.run(&w).await.fired, 1, "the P1 survey closes");
    assert_eq!(
        events(&r.details(urgent).await, "csat_closed", "no rating"),
        1
    );
    r.press("bo", ButtonAction::Rate(urgent, 5)).await;
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1);
    assert!(customer[0].0.contains("survey for ticket"), "{customer:?}");
    assert_eq!(r.rating(urgent).await, None, "not recorded");

    // Still open for the other one, until two days.
    r.press("ana", ButtonAction::Rate(ordinary, 4)).await;
    assert_eq!(r.rating(ordinary).await, Some(4));
    r.set(closed + chrono::Duration::days(2));
    assert_eq!(r.run(&w).await.fired, 1);
    assert_eq!(
        events(&r.details(ordinary).await, "csat_closed", "rated"),
        1
    );
    r.sent().await;
    // A double click after closing: the polite line, the first rating kept.
    r.press("ana", ButtonAction::Rate(ordinary, 1)).await;
    assert!(r.sent().await.1[0].0.contains("has closed"));
    assert_eq!(r.rating(ordinary).await, Some(4));
}

#[tokio::test]
async fn the_survey_is_asked_once_even_when_reopened_and_closed_again() {
    let r = rig().await;
    let no = r.solved("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/reopen").await;
    r.agent("sam", no, "/resolve Fixed again.").await;
    r.sent().await;
    r.press("ana", ButtonAction::Solved(no)).await;
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(customer[0].0.contains("is now closed"), "{customer:?}");
    assert_eq!(
        customer[0].1, 0,
        "no rating buttons the second time: {customer:?}"
    );
    assert_eq!(events(&r.details(no).await, "rating_asked", ""), 1);
}

#[tokio::test]
async fn a_customer_unreachable_at_closing_is_not_asked_then_or_later() {
    let r = rig().await;
    let w = r.node.worker("w1", &r.clock);
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/resolve Corrected invoice sent.").await;
    r.sent().await;
    let resolved = r.clock.now();
    r.node
        .store
        .mark_unreachable(Platform::Console, "chat-ana", resolved)
        .await
        .unwrap();
    r.set(resolved + chrono::Duration::hours(72));
    r.run(&w).await;
    let d = r.details(no).await;
    assert_eq!(d.ticket.state, TicketState::Closed);
    assert_eq!(events(&d, "rating_not_asked", "unreachable"), 1);
    assert_eq!(events(&d, "rating_asked", ""), 0);
    let asks = |sent: Vec<(String, usize)>| -> Vec<(String, usize)> {
        sent.into_iter()
            .filter(|(t, _)| t.contains("rate"))
            .collect()
    };
    let rated = asks(r.sent().await.1);
    assert!(rated.is_empty(), "{rated:?}");
    // The customer is back: nothing is re-asked, and no survey timer ever fires.
    r.clock.advance(HOUR);
    r.customer_says("ana", "hello again").await;
    r.set(resolved + chrono::Duration::days(30));
    r.run(&w).await;
    let rated = asks(r.sent().await.1);
    assert!(rated.is_empty(), "{rated:?}");
    let d = r.details(no).await;
    assert_eq!(events(&d, "rating_asked", ""), 0);
    assert_eq!(events(&d, "csat_closed", ""), 0);
}

fn without_survey(service: Service) -> Service {
    let service = deadlines_only(service);
    let mut sla = *service.sla();
    sla.csat.enabled = false;
    service.with_sla(sla)
}

#[tokio::test]
async fn surveys_can_be_turned_off() {
    let r = rig_with(without_survey).await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/resolve Done.").await;
    r.sent().await;
    r.press("ana", ButtonAction::Solved(no)).await;
    let (_, customer) = r.sent().await;
    assert_eq!(customer.len(), 1);
    assert_eq!(customer[0].1, 0, "{customer:?}");
    assert_eq!(events(&r.details(no).await, "rating_asked", ""), 0);
}

fn business_hours(service: Service) -> Service {
    let service = deadlines_only(service);
    let mut sla = *service.sla();
    sla.business_hours = Some(frontdesk::sla::BusinessHours::weekdays_nine_to_six());
    service.with_sla(sla)
}

#[tokio::test]
async fn p3_deadlines_count_business_hours_only() {
    let r = rig_with(business_hours).await;
    let w = r.node.worker("w1", &r.clock);
    // Friday 17:30 UTC (the rig starts Monday 2026-03-02).
    let friday = chrono::Utc.with_ymd_and_hms(2026, 3, 6, 17, 30, 0).unwrap();
    r.set(friday);
    let no = r
        .ticket_for("ana", "how do I change the language of the app?")
        .await;
    let t = r.details(no).await.ticket;
    assert_eq!(t.priority, frontdesk::domain::Priority::P3);
    let monday = chrono::Utc.with_ymd_and_hms(2026, 3, 9, 10, 30, 0).unwrap();
    assert_eq!(
        t.first_response_due, monday,
        "2 h of business time: 30 min Friday, 1 h 30 Monday"
    );
    // Nothing breaches over the weekend.
    r.set(friday + chrono::Duration::hours(40));
    r.run(&w).await;
    assert_eq!(events(&r.details(no).await, "sla_breached", ""), 0);
    r.set(monday);
    r.run(&w).await;
    assert_eq!(
        events(&r.details(no).await, "sla_breached", "first response"),
        1
    );
}

#[tokio::test]
async fn a_progress_sync_due_many_times_while_down_fires_once_after_start_then_keeps_its_cadence() {
    let r = rig_with(progress_only).await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    r.agent("sam", no, "/claim").await;
    r.sent().await;
    let t = r.details(no).await.ticket;
    let every =
        chrono::Duration::from_std(r.node.service.sla().limits(t.priority).progress).unwrap();
    let Rig {
        dir, clock, node, ..
    } = r;
    drop(node);
    // Down for three cadences.
    let back = t.created_at + every * 3 + chrono::Duration::minutes(10);
    clock.set(back);
    let node = node_with(&dir, &clock, progress_only).await;
    let w = node.worker("after-restart", &clock);
    let round = w.run_once().await.unwrap();
    assert_eq!((round.claimed, round.fired), (1, 1));
    assert_eq!(
        w.run_once().await.unwrap().claimed,
        0,
        "once, not once per missed cadence"
    );
    clock.set(back + every - chrono::Duration::seconds(1));
    assert_eq!(w.run_once().await.unwrap().claimed, 0);
    clock.set(back + every);
    assert_eq!(
        w.run_once().await.unwrap().fired,
        1,
        "the cadence continues from the restart"
    );
    let d = node.store.ticket_details(no).await.unwrap().unwrap();
    assert_eq!(events(&d, "progress_sync", ""), 2);
}

#[tokio::test]
async fn an_agent_raising_to_p1_or_filing_a_complaint_tells_the_supervisors() {
    let r = rig_with(with_supervisors).await;
    let no = r.ticket_for("ana", "my invoice total is wrong").await;
    assert!(r.sent_to(SUPERVISORS).await.is_empty());
    r.agent("sam", no, "/priority P1").await;
    let notices = r.sent_to(SUPERVISORS).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains(&format!("{no} raised to P1 by sam")),
        "{notices:?}"
    );
    r.agent("sam", no, "/category complaint").await;
    let notices = r.sent_to(SUPERVISORS).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("filed as a complaint by sam"),
        "{notices:?}"
    );
    r.agent("sam", no, "/priority P2").await;
    assert!(
        r.sent_to(SUPERVISORS).await.is_empty(),
        "lowering is no news"
    );
}

#[tokio::test]
async fn a_rating_takes_an_optional_comment_from_the_next_words() {
    let r = rig().await;
    let no = r.solved("ana", "my invoice total is wrong").await;
    r.press("ana", ButtonAction::Rate(no, 5)).await;
    let (_, customer) = r.sent().await;
    assert!(customer[0].0.contains("add a comment"), "{customer:?}");
    // A question the FAQ answers is still a question.
    r.customer_says("ana", "How do I reset my password?").await;
    let (_, customer) = r.sent().await;
    assert!(customer[0].0.contains("Forgot password"), "{customer:?}");
    // Other words are the comment: kept, thanked, shown to the desk, no new ticket.
    let handled = r.customer_says("ana", "Sam was quick and very kind").await;
    assert_eq!(handled, Handled::Done { ticket: Some(no) });
    let (desk, customer) = r.sent().await;
    assert!(
        customer[0].0.contains("your comment on ticket"),
        "{customer:?}"
    );
    assert!(
        desk.iter()
            .any(|l| l.contains("Sam was quick and very kind")),
        "{desk:?}"
    );
    let mut tx = r.node.store.begin().await.unwrap();
    let rating = tx.rating(no).await.unwrap().unwrap();
    drop(tx);
    assert_eq!(
        rating.comment.as_deref(),
        Some("Sam was quick and very kind")
    );
    assert_eq!(events(&r.details(no).await, "rating_commented", ""), 1);
    // One comment: the next words are a new conversation.
    r.customer_says("ana", "also the screen flickers purple in settings")
        .await;
    let (_, customer) = r.sent().await;
    assert!(!customer[0].0.contains("your comment"), "{customer:?}");
}

#[tokio::test]
async fn a_new_problem_right_after_a_rating_is_a_ticket_not_the_comment() {
    let r = rig().await;
    let no = r.solved("ana", "my invoice total is wrong").await;
    r.press("ana", ButtonAction::Rate(no, 4)).await;
    r.sent().await;
    let handled = r
        .customer_says(
            "ana",
            "I was charged twice for order NB-55120, please fix it",
        )
        .await;
    let Handled::Done { ticket: Some(new) } = handled else {
        panic!("a ticket expected: {handled:?}")
    };
    assert_ne!(new, no, "a new ticket, not the rated one");
    let mut tx = r.node.store.begin().await.unwrap();
    let rating = tx.rating(no).await.unwrap().unwrap();
    drop(tx);
    assert_eq!(rating.comment, None);
}

#[tokio::test]
async fn words_after_the_comment_window_are_not_a_comment() {
    let r = rig().await;
    let no = r.solved("ana", "my invoice total is wrong").await;
    r.press("ana", ButtonAction::Rate(no, 3)).await;
    r.sent().await;
    r.clock.advance(Duration::from_secs(11 * 60));
    r.customer_says("ana", "also the screen flickers purple in settings")
        .await;
    let (_, customer) = r.sent().await;
    assert!(!customer[0].0.contains("your comment"), "{customer:?}");
    let mut tx = r.node.store.begin().await.unwrap();
    assert_eq!(tx.rating(no).await.unwrap().unwrap().comment, None);
}
