//! The agents' desk end to end on a real SQLite file: every command (success, usage hint,
//! refused transition), what reaches the customer and what never does, the customer's
//! "Solved" / "Not solved" / rating buttons, ownership checks, dedup, and the whole
//! journey in order.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use frontdesk::desk::{AgentProfile, Staff};
use frontdesk::domain::{
    Category, ChatAddress, Direction, Outbound, OutboundBody, Platform, Priority, TicketNo,
    TicketState,
};
use frontdesk::outbox::OutboxWorker;
use frontdesk::ports::{Clock, ManualClock};
use frontdesk::replies::ButtonAction;
use frontdesk::service::{
    Agent, DeskHandled, DeskInbound, DeskOutcome, Handled, Inbound, InboundContent, Service,
};
use frontdesk::sla::SlaPolicy;
use frontdesk::store::{Store, TicketDetails};
use frontdesk::triage::TriageRules;

use crate::support::{console_stack, customer, RecordingTransport, Stack};

pub(crate) struct Desk {
    _dir: tempfile::TempDir,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) service: Service,
    pub(crate) outbox: OutboxWorker,
    pub(crate) transport: Arc<RecordingTransport>,
    pub(crate) clock: ManualClock,
    seq: std::sync::atomic::AtomicU64,
}

pub(crate) const DESK_CHAT: &str = "desk";

pub(crate) async fn desk() -> Desk {
    desk_with(|s| s).await
}

/// Configured agents: sam (tech), li (any, at most one ticket). Console user ids = names.
fn with_agents(service: Service) -> Service {
    let agent = |name: &str, skills: &[&str], capacity| AgentProfile {
        name: name.into(),
        ids: vec![format!("console:{name}")],
        skills: skills.iter().map(|s| s.to_string()).collect(),
        capacity,
    };
    service.with_staff(Staff {
        agents: vec![agent("sam", &["tech"], None), agent("li", &[], Some(1))],
        auto_assign: false,
    })
}

async fn desk_with(configure: fn(Service) -> Service) -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let Stack {
        store,
        service,
        outbox,
        transport,
    } = console_stack(dir.path(), Arc::new(clock.clone()), &[]).await;
    Desk {
        _dir: dir,
        store,
        service: configure(service),
        outbox,
        transport,
        clock,
        seq: Default::default(),
    }
}

fn thread(no: TicketNo) -> ChatAddress {
    ChatAddress {
        platform: Platform::Console,
        chat_id: DESK_CHAT.into(),
        thread_id: Some(no.0.to_string()),
    }
}

fn chat_of(user: &str) -> String {
    format!("chat-{user}")
}

fn text_of(m: &Outbound) -> &str {
    let OutboundBody::Text { text, .. } = &m.body else {
        panic!("a text message expected")
    };
    text
}

fn buttons_of(m: &Outbound) -> Vec<Vec<(String, String)>> {
    let OutboundBody::Text { buttons, .. } = &m.body else {
        panic!("a text message expected")
    };
    buttons
        .iter()
        .map(|row| {
            row.iter()
                .map(|b| (b.label.clone(), b.data.clone()))
                .collect()
        })
        .collect()
}

/// Everything delivered since the last call, split by where it went.
pub(crate) struct Sent {
    pub(crate) all: Vec<Outbound>,
}

impl Sent {
    fn to_customer(&self, user: &str) -> Vec<&Outbound> {
        let chat = chat_of(user);
        self.all.iter().filter(|m| m.to.chat_id == chat).collect()
    }

    fn customer_texts(&self, user: &str) -> Vec<String> {
        self.to_customer(user)
            .into_iter()
            .map(|m| text_of(m).to_string())
            .collect()
    }

    pub(crate) fn desk_texts(&self) -> Vec<String> {
        self.all
            .iter()
            .filter(|m| m.to.chat_id == DESK_CHAT)
            .map(|m| text_of(m).to_string())
            .collect()
    }
}

impl Desk {
    fn key(&self) -> String {
        format!(
            "test:{}",
            self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }

    pub(crate) async fn customer_says(&self, user: &str, text: &str) -> Handled {
        let inbound = Inbound {
            key: self.key(),
            from: customer(user),
            content: InboundContent::Message {
                text: text.into(),
                attachments: Vec::new(),
            },
        };
        self.service.handle(inbound).await.unwrap()
    }

    pub(crate) async fn press(&self, user: &str, action: ButtonAction) -> Handled {
        let inbound = Inbound {
            key: self.key(),
            from: customer(user),
            content: InboundContent::Button {
                data: action.encode(),
            },
        };
        self.service.handle(inbound).await.unwrap()
    }

    /// Opens a ticket for `user` and clears what was sent.
    pub(crate) async fn ticket_for(&self, user: &str, text: &str) -> TicketNo {
        let handled = self.customer_says(user, &format!("/human {text}")).await;
        let Handled::Done { ticket: Some(no) } = handled else {
            panic!("expected a ticket, got {handled:?}");
        };
        self.sent().await;
        no
    }

    async fn agent_keyed(
        &self,
        key: &str,
        agent: &str,
        ticket: Option<TicketNo>,
        text: &str,
    ) -> DeskHandled {
        let inbound = DeskInbound {
            key: key.into(),
            agent: Agent {
                platform: Platform::Console,
                user_id: agent.into(),
                name: agent.into(),
            },
            ticket,
            reply_to: ticket.map(thread).unwrap_or_else(|| ChatAddress {
                platform: Platform::Console,
                chat_id: DESK_CHAT.into(),
                thread_id: None,
            }),
            text: text.into(),
        };
        self.service.handle_desk(inbound).await.unwrap()
    }

    /// An agent posts `text` in the thread of `ticket` (or the desk chat); returns the outcome.
    pub(crate) async fn agent(
        &self,
        agent: &str,
        ticket: Option<TicketNo>,
        text: &str,
    ) -> DeskOutcome {
        let key = self.key();
        match self.agent_keyed(&key, agent, ticket, text).await {
            DeskHandled::Done { outcome, .. } => outcome,
            DeskHandled::Duplicate => panic!("fresh key reported as duplicate"),
        }
    }

    pub(crate) async fn sent(&self) -> Sent {
        self.outbox.drain().await.unwrap();
        Sent {
            all: self.transport.take(),
        }
    }

    async fn details(&self, no: TicketNo) -> TicketDetails {
        self.store.ticket_details(no).await.unwrap().unwrap()
    }

    async fn rating(&self, no: TicketNo) -> Option<u8> {
        let mut tx = self.store.begin().await.unwrap();
        tx.rating(no).await.unwrap().map(|r| r.score)
    }
}

fn has_event(d: &TicketDetails, kind: &str, actor: &str) -> bool {
    d.events.iter().any(|e| e.kind == kind && e.actor == actor)
}

/// Exactly one desk line, containing every fragment.
fn assert_one_desk_line(sent: &Sent, fragments: &[&str]) {
    let desk = sent.desk_texts();
    assert_eq!(desk.len(), 1, "{desk:?}");
    for f in fragments {
        assert!(desk[0].contains(f), "{f:?} not in {:?}", desk[0]);
    }
    assert!(!desk[0].contains('\n'), "one line: {:?}", desk[0]);
}

#[tokio::test]
async fn claim_assigns_tells_the_customer_and_is_refused_when_resolved() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my invoice total is wrong").await;
    assert_eq!(
        d.agent("sam", Some(no), "/claim@frontdesk_bot").await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_one_desk_line(&sent, &["claimed by sam", "open"]);
    assert_eq!(sent.customer_texts("ana").len(), 1);
    assert!(sent.customer_texts("ana")[0].contains("an agent is now working"));
    assert!(sent.customer_texts("ana")[0].contains(&no.to_string()));
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Open);
    assert_eq!(t.ticket.assignee.as_deref(), Some("sam"));
    assert!(has_event(&t, "claimed", "sam"));

    // Claiming again changes nothing and does not bother the customer.
    assert_eq!(
        d.agent("sam", Some(no), "/claim").await,
        DeskOutcome::Answered
    );
    let sent = d.sent().await;
    assert!(sent.customer_texts("ana").is_empty());
    assert_one_desk_line(&sent, &["already yours"]);

    // Usage hint.
    assert_eq!(
        d.agent("sam", Some(no), "/claim it").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Usage: /claim"]);

    // Refused on a resolved ticket: one line, nothing changes.
    d.agent("sam", Some(no), "/resolve Fixed the total.").await;
    d.sent().await;
    let before = d.details(no).await;
    assert_eq!(
        d.agent("kim", Some(no), "/claim").await,
        DeskOutcome::Refused
    );
    let sent = d.sent().await;
    assert_one_desk_line(&sent, &["resolved", "/claim is not possible"]);
    assert!(sent.customer_texts("ana").is_empty());
    let after = d.details(no).await;
    assert_eq!(before.ticket, after.ticket);
    assert_eq!(before.events.len(), after.events.len());
}

#[tokio::test]
async fn assign_and_transfer() {
    let d = desk().await;
    let no = d
        .ticket_for("ana", "the app shows error 500 at checkout")
        .await;
    assert_eq!(
        d.agent("sam", Some(no), "/assign @kim").await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_one_desk_line(&sent, &["assigned to kim", "was unassigned"]);
    assert!(
        sent.customer_texts("ana").is_empty(),
        "told when the assignee claims"
    );
    let t = d.details(no).await;
    assert_eq!(t.ticket.assignee.as_deref(), Some("kim"));
    assert!(t
        .events
        .iter()
        .any(|e| e.kind == "assigned" && e.actor == "sam" && e.detail.contains("kim")));
    assert_eq!(t.ticket.state, TicketState::New);
    // The assignee claims: now the customer hears about it.
    assert_eq!(
        d.agent("kim", Some(no), "/claim").await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert!(sent.customer_texts("ana")[0].contains("an agent is now working"));
    let t = d.details(no).await;
    assert_eq!(
        d.agent("sam", Some(no), "/assign").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Usage: /assign <agent>"]);

    // Transfer: known department, unassigned again; unknown → list of departments.
    let from = t.ticket.department.clone();
    let to = if from == "tech" { "product" } else { "tech" };
    assert_eq!(
        d.agent("sam", Some(no), &format!("/transfer {to}")).await,
        DeskOutcome::Applied
    );
    assert_one_desk_line(
        &d.sent().await,
        &[&format!("from {from} to {to}"), "was kim"],
    );
    let t = d.details(no).await;
    assert_eq!(t.ticket.department, to);
    assert_eq!(t.ticket.assignee, None);
    assert!(has_event(&t, "transferred", "sam"));
    assert_eq!(
        d.agent("sam", Some(no), "/transfer marketing").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(
        &d.sent().await,
        &["Unknown department", "support", "complaints"],
    );
    assert_eq!(
        d.agent("sam", Some(no), "/transfer").await,
        DeskOutcome::Usage
    );
    d.sent().await;

    // On a closed ticket both are refused.
    d.agent("sam", Some(no), "/resolve done").await;
    d.press("ana", ButtonAction::Solved(no)).await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/assign kim").await,
        DeskOutcome::Refused
    );
    assert_one_desk_line(&d.sent().await, &["closed", "/reopen it first"]);
    assert_eq!(
        d.agent("sam", Some(no), "/transfer support").await,
        DeskOutcome::Refused
    );
    d.sent().await;
    assert_eq!(d.details(no).await.ticket.department, to);
}

#[tokio::test]
async fn priority_change_recomputes_deadlines_from_creation() {
    let d = desk().await;
    let created = d.clock.now();
    let no = d
        .ticket_for("ana", "I have a suggestion for the app colours")
        .await;
    d.clock.advance(Duration::from_secs(20 * 60));
    let policy = SlaPolicy::default();
    let current = d.details(no).await.ticket.priority;
    let target = if current == Priority::P1 {
        Priority::P3
    } else {
        Priority::P1
    };
    assert_eq!(
        d.agent(
            "sam",
            Some(no),
            &format!("/priority {}", target.as_str().to_lowercase())
        )
        .await,
        DeskOutcome::Applied
    );
    assert_one_desk_line(
        &d.sent().await,
        &[&format!("{current} → {target}"), "first response due"],
    );
    let t = d.details(no).await;
    let due = policy.deadlines(target, created);
    assert_eq!(t.ticket.priority, target);
    assert_eq!(t.ticket.first_response_due, due.first_response);
    assert_eq!(t.ticket.resolution_due, due.resolution);
    assert!(t
        .events
        .iter()
        .any(|e| e.kind == "priority_changed" && e.actor == "sam"));

    assert_eq!(
        d.agent("sam", Some(no), "/priority P4").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Usage: /priority P1|P2|P3"]);
    assert_eq!(
        d.agent("sam", Some(no), &format!("/priority {target}"))
            .await,
        DeskOutcome::Answered
    );
    d.sent().await;
    d.agent("sam", Some(no), "/resolve ok").await;
    d.press("ana", ButtonAction::Solved(no)).await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/priority P2").await,
        DeskOutcome::Refused
    );
    assert_eq!(d.details(no).await.ticket.priority, target);
}

#[tokio::test]
async fn category_change_moves_the_ticket_to_the_owning_department() {
    let d = desk().await;
    let no = d
        .ticket_for("ana", "how do I export my data to a spreadsheet")
        .await;
    let before = d.details(no).await.ticket;
    let target = if before.category == Category::Complaint {
        Category::Problem
    } else {
        Category::Complaint
    };
    assert_eq!(
        d.agent("sam", Some(no), &format!("/category {target}"))
            .await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_one_desk_line(&sent, &[&format!("{} → {target}", before.category)]);
    assert!(sent.customer_texts("ana").is_empty());
    let t = d.details(no).await;
    assert_eq!(t.ticket.category, target);
    let owner = TriageRules::builtin().department_for(target).to_string();
    assert_eq!(t.ticket.department, owner);
    assert!(has_event(&t, "category_changed", "sam"));
    assert_eq!(
        d.agent("sam", Some(no), "/category bug").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Usage: /category"]);
}

#[tokio::test]
async fn notes_never_reach_the_customer() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my refund never arrived").await;
    let secret = "customer sounds angry, check the payment gateway logs";
    assert_eq!(
        d.agent("sam", Some(no), &format!("/note {secret}")).await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert!(
        sent.customer_texts("ana").is_empty(),
        "{:?}",
        sent.customer_texts("ana")
    );
    assert!(sent.all.iter().all(|m| !text_of(m).contains("gateway")));
    assert_one_desk_line(&sent, &["Note added", "not sent to the customer"]);
    let t = d.details(no).await;
    let note = t.messages.iter().find(|m| m.text == secret).unwrap();
    assert_eq!(note.direction, Direction::Internal);
    assert_eq!(note.author, "sam");
    assert!(t
        .events
        .iter()
        .any(|e| e.kind == "note" && !e.detail.contains("gateway")));
    assert_eq!(t.ticket.state, TicketState::New, "a note is not a response");
    assert_eq!(t.ticket.first_response_at, None);
    assert_eq!(d.agent("sam", Some(no), "/note").await, DeskOutcome::Usage);
    assert_one_desk_line(&d.sent().await, &["Usage: /note <text>"]);
}

#[tokio::test]
async fn plain_text_is_relayed_word_for_word_and_counts_as_first_response() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my invoice total is wrong").await;
    d.clock.advance(Duration::from_secs(5 * 60));
    let reply = "Hi Ana — I see it.\nThe VAT line was doubled; I'm fixing it now.";
    assert_eq!(d.agent("sam", Some(no), reply).await, DeskOutcome::Applied);
    let sent = d.sent().await;
    assert_eq!(sent.customer_texts("ana"), vec![reply.to_string()]);
    assert_eq!(sent.to_customer("ana")[0].ticket, Some(no));
    let t = d.details(no).await;
    assert_eq!(t.ticket.first_response_at, Some(d.clock.now()));
    assert_eq!(
        t.ticket.assignee.as_deref(),
        Some("sam"),
        "answering takes the ticket"
    );
    let m = t.messages.iter().find(|m| m.text == reply).unwrap();
    assert_eq!(
        (m.direction, m.author.as_str()),
        (Direction::Outbound, "sam")
    );
    assert!(has_event(&t, "agent_reply", "sam"));
    // A closed ticket takes no replies.
    d.agent("sam", Some(no), "/resolve fixed").await;
    d.press("ana", ButtonAction::Solved(no)).await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "one more thing").await,
        DeskOutcome::Refused
    );
    let sent = d.sent().await;
    assert!(sent.customer_texts("ana").is_empty());
    assert_one_desk_line(&sent, &["closed", "reply is not possible"]);
}

#[tokio::test]
async fn ask_waits_on_the_customer_and_their_answer_reopens() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my order arrived broken").await;
    d.agent("sam", Some(no), "/claim").await;
    d.sent().await;
    let question = "Could you send a photo of the damage and the order number?";
    assert_eq!(
        d.agent("sam", Some(no), &format!("/ask {question}")).await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_eq!(sent.customer_texts("ana"), vec![question.to_string()]);
    assert_one_desk_line(&sent, &["waiting on the customer"]);
    assert_eq!(
        d.details(no).await.ticket.state,
        TicketState::WaitingOnCustomer
    );
    assert!(has_event(&d.details(no).await, "asked", "sam"));

    d.customer_says("ana", "Order 5531, photo coming").await;
    let sent = d.sent().await;
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Open);
    // The answer is relayed into the ticket's desk thread.
    assert!(
        sent.desk_texts().iter().any(|t| t.contains("Order 5531")),
        "{:?}",
        sent.desk_texts()
    );

    assert_eq!(d.agent("sam", Some(no), "/ask").await, DeskOutcome::Usage);
    d.sent().await;
    d.agent("sam", Some(no), "/resolve replaced").await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/ask anything else?").await,
        DeskOutcome::Refused
    );
    assert!(d.sent().await.customer_texts("ana").is_empty());
}

#[tokio::test]
async fn resolve_sends_one_message_with_solved_then_not_solved() {
    let d = desk().await;
    let no = d.ticket_for("ana", "cannot download my invoice").await;
    let solution = "Open Billing → Invoices and press the download arrow.";
    assert_eq!(
        d.agent("sam", Some(no), &format!("/resolve {solution}"))
            .await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    let to_ana = sent.to_customer("ana");
    assert_eq!(to_ana.len(), 1, "one message");
    assert_eq!(text_of(to_ana[0]), solution);
    assert_eq!(
        buttons_of(to_ana[0]),
        vec![vec![
            ("Solved".to_string(), ButtonAction::Solved(no).encode()),
            (
                "Not solved".to_string(),
                ButtonAction::NotSolved(no).encode()
            ),
        ]]
    );
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Resolved);
    assert!(t.ticket.resolved_at.is_some());
    assert!(has_event(&t, "resolved", "sam"));
    assert_eq!(
        d.agent("sam", Some(no), "/resolve").await,
        DeskOutcome::Usage
    );
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/resolve again").await,
        DeskOutcome::Refused
    );
    assert_one_desk_line(&d.sent().await, &["resolved", "/resolve is not possible"]);
}

#[tokio::test]
async fn reopen_by_an_agent() {
    let d = desk().await;
    let no = d.ticket_for("ana", "cannot download my invoice").await;
    assert_eq!(
        d.agent("sam", Some(no), "/reopen").await,
        DeskOutcome::Refused
    );
    assert_one_desk_line(
        &d.sent().await,
        &["new", "only resolved or closed tickets reopen"],
    );
    d.agent("sam", Some(no), "/resolve try again now").await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/reopen").await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_eq!(sent.customer_texts("ana").len(), 1);
    assert!(sent.customer_texts("ana")[0].contains("reopened"));
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Open);
    assert_eq!(t.ticket.assignee.as_deref(), Some("sam"));
    assert!(has_event(&t, "reopened", "sam"));
    assert_eq!(
        d.agent("sam", Some(no), "/reopen now").await,
        DeskOutcome::Usage
    );
}

#[tokio::test]
async fn faq_quotes_the_answer_in_the_customers_language() {
    let d = desk().await;
    let no = d.ticket_for("li", "我的账户被锁定了，登录不了").await;
    assert_eq!(
        d.agent("sam", Some(no), "/faq account.reset-password")
            .await,
        DeskOutcome::Applied
    );
    let sent = d.sent().await;
    assert_eq!(
        sent.customer_texts("li"),
        vec!["在登录页点击“忘记密码”。".to_string()]
    );
    assert_one_desk_line(&sent, &["account.reset-password"]);
    assert!(has_event(&d.details(no).await, "faq_quoted", "sam"));
    assert_eq!(
        d.agent("sam", Some(no), "/faq no.such.entry").await,
        DeskOutcome::Usage
    );
    let sent = d.sent().await;
    assert_one_desk_line(&sent, &["No FAQ entry"]);
    assert!(sent.customer_texts("li").is_empty());
    assert_eq!(d.agent("sam", Some(no), "/faq").await, DeskOutcome::Usage);
}

#[tokio::test]
async fn info_shows_customer_ticket_and_history() {
    let d = desk().await;
    let no = d.ticket_for("ana", "the export button does nothing").await;
    d.agent("sam", Some(no), "/claim").await;
    d.agent("sam", Some(no), "/note checked logs").await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/info").await,
        DeskOutcome::Answered
    );
    let sent = d.sent().await;
    assert!(sent.customer_texts("ana").is_empty());
    let desk = sent.desk_texts();
    assert_eq!(desk.len(), 1);
    for want in [
        "ana",
        "console",
        "the export button does nothing",
        "claimed by sam",
        "checked logs",
        &no.to_string(),
    ] {
        assert!(desk[0].contains(want), "{want:?} not in {}", desk[0]);
    }
    assert_eq!(
        d.agent("sam", Some(no), "/info please").await,
        DeskOutcome::Usage
    );
}

#[tokio::test]
async fn queue_mine_and_find() {
    let d = desk().await;
    let slow = d
        .ticket_for("ana", "I have a suggestion for the app colours")
        .await;
    let urgent = d
        .ticket_for("bob", "the whole service is down, cannot log in")
        .await;
    let third = d
        .ticket_for("carol", "question about the loyalty points")
        .await;
    // Make the order independent of triage: set priorities explicitly.
    d.agent("sam", Some(slow), "/priority P3").await;
    d.agent("sam", Some(urgent), "/priority P1").await;
    d.agent("sam", Some(third), "/priority P2").await;
    d.agent("kim", Some(third), "/claim").await;
    d.sent().await;

    assert_eq!(d.agent("sam", None, "/queue").await, DeskOutcome::Answered);
    let sent = d.sent().await;
    let queue = &sent.desk_texts()[0];
    let pos = |no: TicketNo| {
        queue
            .find(&format!("{no} "))
            .unwrap_or_else(|| panic!("{no} in {queue}"))
    };
    // P1 (10 min) first; the claimed P2 ticket now runs on its 24 h resolution limit, after P3's 2 h.
    assert!(pos(urgent) < pos(slow) && pos(slow) < pos(third), "{queue}");

    assert_eq!(d.agent("kim", None, "/mine").await, DeskOutcome::Answered);
    let mine = d.sent().await.desk_texts()[0].clone();
    assert!(
        mine.contains(&third.to_string()) && !mine.contains(&urgent.to_string()),
        "{mine}"
    );
    d.agent("sam", None, "/mine").await;
    assert!(d.sent().await.desk_texts()[0].contains("none"));

    d.agent("sam", None, "/find LOYALTY").await;
    let found = d.sent().await.desk_texts()[0].clone();
    assert!(
        found.contains(&third.to_string()) && !found.contains(&slow.to_string()),
        "{found}"
    );
    d.agent("sam", None, &format!("/find {urgent}")).await;
    let found = d.sent().await.desk_texts()[0].clone();
    assert!(
        found.contains(&urgent.to_string()) && !found.contains(&third.to_string()),
        "{found}"
    );
    d.agent("sam", None, "/find #999").await;
    assert!(d.sent().await.desk_texts()[0].contains("no ticket #999"));
    assert_eq!(d.agent("sam", None, "/find").await, DeskOutcome::Usage);
    assert_eq!(d.agent("sam", None, "/queue all").await, DeskOutcome::Usage);
    assert_eq!(d.sent().await.desk_texts().len(), 2);

    // Ticket commands need a ticket; an unknown ticket is refused.
    assert_eq!(d.agent("sam", None, "/claim").await, DeskOutcome::Usage);
    assert_one_desk_line(&d.sent().await, &["works in a ticket's thread"]);
    assert_eq!(
        d.agent("sam", Some(TicketNo(999)), "/claim").await,
        DeskOutcome::Refused
    );
    assert_one_desk_line(&d.sent().await, &["There is no ticket #999"]);
    assert_eq!(
        d.agent("sam", None, "/frobnicate").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Unknown command /frobnicate"]);
}

#[tokio::test]
async fn not_solved_goes_back_to_the_same_agent() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my refund never arrived").await;
    d.agent("sam", Some(no), "/claim").await;
    d.agent("sam", Some(no), "/priority P2").await;
    d.agent("sam", Some(no), "/resolve The refund was sent today.")
        .await;
    d.sent().await;
    d.press("ana", ButtonAction::NotSolved(no)).await;
    let sent = d.sent().await;
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Open);
    assert_eq!(t.ticket.assignee.as_deref(), Some("sam"));
    assert_eq!(t.ticket.priority, Priority::P2, "priority kept");
    assert!(has_event(&t, "reopened", "customer"));
    assert_eq!(sent.customer_texts("ana").len(), 1);
    assert!(sent.customer_texts("ana")[0].contains("What is still missing"));
    assert_one_desk_line(&sent, &["NOT solved", "back to sam"]);
    // Pressing it again finds nothing to confirm.
    d.press("ana", ButtonAction::NotSolved(no)).await;
    let sent = d.sent().await;
    assert!(sent.customer_texts("ana")[0].contains("nothing to confirm"));
    assert!(sent.desk_texts().is_empty());
}

#[tokio::test]
async fn solved_closes_asks_for_a_rating_once_and_keeps_the_first_rating() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my refund never arrived").await;
    d.agent("sam", Some(no), "/resolve The refund was sent today.")
        .await;
    d.sent().await;
    d.press("ana", ButtonAction::Solved(no)).await;
    let sent = d.sent().await;
    let to_ana = sent.to_customer("ana");
    assert_eq!(to_ana.len(), 1);
    assert!(text_of(to_ana[0]).contains("closed"));
    let ratings: Vec<String> = buttons_of(to_ana[0])
        .concat()
        .into_iter()
        .map(|(_, data)| data)
        .collect();
    let want: Vec<String> = (1..=5)
        .map(|s| ButtonAction::Rate(no, s).encode())
        .collect();
    assert_eq!(ratings, want);
    assert_one_desk_line(&sent, &["confirmed", "closed"]);
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Closed);
    assert!(t.ticket.closed_at.is_some());

    // "Solved" again: nothing to confirm, no second rating request.
    d.press("ana", ButtonAction::Solved(no)).await;
    let sent = d.sent().await;
    assert!(buttons_of(sent.to_customer("ana")[0]).is_empty());
    assert_eq!(
        d.details(no)
            .await
            .events
            .iter()
            .filter(|e| e.kind == "rating_asked")
            .count(),
        1
    );

    d.press("ana", ButtonAction::Rate(no, 4)).await;
    assert!(d.sent().await.customer_texts("ana")[0].contains("4/5"));
    assert_eq!(d.rating(no).await, Some(4));
    d.press("ana", ButtonAction::Rate(no, 1)).await;
    assert!(d.sent().await.customer_texts("ana")[0].contains("already rated"));
    assert_eq!(d.rating(no).await, Some(4), "the first rating stays");
}

#[tokio::test]
async fn rating_an_open_ticket_waits_for_closing() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my refund never arrived").await;
    d.press("ana", ButtonAction::Rate(no, 5)).await;
    assert!(d.sent().await.customer_texts("ana")[0].contains("not closed yet"));
    assert_eq!(d.rating(no).await, None);
}

#[tokio::test]
async fn buttons_for_someone_elses_ticket_are_refused() {
    let d = desk().await;
    let ana = d.ticket_for("ana", "my refund never arrived").await;
    d.agent("sam", Some(ana), "/resolve sent").await;
    d.sent().await;
    let before = d.details(ana).await;
    for action in [
        ButtonAction::Solved(ana),
        ButtonAction::NotSolved(ana),
        ButtonAction::Rate(ana, 1),
        ButtonAction::Solved(TicketNo(4242)),
    ] {
        d.press("mallory", action.clone()).await;
        let sent = d.sent().await;
        assert_eq!(sent.customer_texts("mallory").len(), 1, "{action:?}");
        assert!(sent.customer_texts("mallory")[0].contains("not for one of your tickets"));
        assert!(sent.customer_texts("ana").is_empty() && sent.desk_texts().is_empty());
    }
    let after = d.details(ana).await;
    assert_eq!(before.ticket, after.ticket);
    assert_eq!(before.events, after.events);
    assert_eq!(d.rating(ana).await, None);
}

#[tokio::test]
async fn a_desk_message_is_processed_once() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my order arrived broken").await;
    let first = d
        .agent_keyed("tg:desk:7", "sam", Some(no), "We will replace it.")
        .await;
    assert!(matches!(
        first,
        DeskHandled::Done {
            outcome: DeskOutcome::Applied,
            ..
        }
    ));
    let again = d
        .agent_keyed("tg:desk:7", "sam", Some(no), "We will replace it.")
        .await;
    assert_eq!(again, DeskHandled::Duplicate);
    let sent = d.sent().await;
    assert_eq!(
        sent.customer_texts("ana"),
        vec!["We will replace it.".to_string()]
    );
    let t = d.details(no).await;
    assert_eq!(t.messages.iter().filter(|m| m.author == "sam").count(), 1);
}

#[tokio::test]
async fn the_whole_journey_in_order() {
    let d = desk().await;
    let mut ana_chat: Vec<String> = Vec::new();
    let mut take = |sent: &Sent| {
        let texts = sent.customer_texts("ana");
        ana_chat.extend(texts.iter().cloned());
        texts
    };

    // 1. The customer's question is not in the FAQ: a ticket.
    let Handled::Done { ticket: Some(no) } = d
        .customer_says(
            "ana",
            "Quarterly VAT statement lists a kettle we never bought",
        )
        .await
    else {
        panic!("expected escalation");
    };
    let got = take(&d.sent().await);
    assert!(got[0].contains(&no.to_string()), "{got:?}");

    // 2. An agent claims it.
    d.clock.advance(Duration::from_secs(60));
    assert_eq!(
        d.agent("sam", Some(no), "/claim").await,
        DeskOutcome::Applied
    );
    let got = take(&d.sent().await);
    assert!(got[0].contains("an agent is now working"));

    // 3. … asks for information; 4. the customer answers.
    assert_eq!(
        d.agent("sam", Some(no), "/ask Which product is it?").await,
        DeskOutcome::Applied
    );
    assert_eq!(
        take(&d.sent().await),
        vec!["Which product is it?".to_string()]
    );
    d.customer_says("ana", "The blue kettle").await;
    let sent = d.sent().await;
    take(&sent);
    assert!(sent
        .desk_texts()
        .iter()
        .any(|t| t.contains("The blue kettle")));
    assert_eq!(d.details(no).await.ticket.state, TicketState::Open);

    // 5. Resolves; 6. the customer says it is not solved.
    d.agent(
        "sam",
        Some(no),
        "/resolve I removed the kettle from the invoice.",
    )
    .await;
    let sent = d.sent().await;
    assert_eq!(
        take(&sent),
        vec!["I removed the kettle from the invoice.".to_string()]
    );
    assert_eq!(buttons_of(sent.to_customer("ana")[0])[0].len(), 2);
    d.press("ana", ButtonAction::NotSolved(no)).await;
    let sent = d.sent().await;
    take(&sent);
    assert!(sent.desk_texts().iter().any(|t| t.contains("NOT solved")));
    assert_eq!(d.details(no).await.ticket.assignee.as_deref(), Some("sam"));
    d.customer_says("ana", "The total is still wrong").await;
    take(&d.sent().await);

    // 7. Resolves again; 8. Solved; 9. rates 5.
    d.agent(
        "sam",
        Some(no),
        "/resolve The corrected invoice is in your account now.",
    )
    .await;
    take(&d.sent().await);
    d.press("ana", ButtonAction::Solved(no)).await;
    take(&d.sent().await);
    d.press("ana", ButtonAction::Rate(no, 5)).await;
    take(&d.sent().await);

    let expected: Vec<&dyn Fn(&str) -> bool> = vec![
        &|t| t.contains("ticket #1"),
        &|t| t.contains("an agent is now working"),
        &|t| t == "Which product is it?",
        &|t| t.contains("Added to your ticket"),
        &|t| t == "I removed the kettle from the invoice.",
        &|t| t.contains("What is still missing"),
        &|t| t.contains("Added to your ticket"),
        &|t| t == "The corrected invoice is in your account now.",
        &|t| t.contains("closed") && t.contains("1 (poor) to 5"),
        &|t| t.contains("5/5"),
    ];
    assert_eq!(ana_chat.len(), expected.len(), "{ana_chat:#?}");
    for (i, (text, ok)) in ana_chat.iter().zip(expected).enumerate() {
        assert!(ok(text), "step {i}: {text:?}\nwhole chat: {ana_chat:#?}");
    }
    let t = d.details(no).await;
    assert_eq!(t.ticket.state, TicketState::Closed);
    assert_eq!(d.rating(no).await, Some(5));
    let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "created",
        "claimed",
        "asked",
        "customer_replied",
        "resolved",
        "reopened",
        "confirmed",
        "rated",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

/// `frontdesk desk` from the outside: a ticket from `frontdesk chat`, worked in the console desk.
#[test]
fn console_desk_works_a_ticket_from_the_console_chat() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], script: &str| {
        let mut child = crate::cli::frontdesk(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let chat = run(
        &["chat", "--user", "ana"],
        "/human my invoice lists a kettle I never bought\n",
    );
    assert!(chat.contains("#1"), "{chat}");
    let desk = run(
        &["desk", "--agent", "sam"],
        "/queue\n#1 /claim\n#1 /note looks like a duplicate line\n#1 /priority P9\n/claim\n",
    );
    for want in [
        "desk> Queue, most urgent first (1):",
        "desk #1> #1 claimed by sam; it is open.",
        "to console:ana> Good news: an agent is now working on your ticket #1.",
        "desk #1> Note added to #1",
        "desk #1> Usage: /priority P1|P2|P3",
        "desk> /claim works in a ticket's thread",
    ] {
        assert!(desk.contains(want), "{want:?} missing in:\n{desk}");
    }
    assert!(!desk.contains("to console:ana> looks like"), "{desk}");
}

#[tokio::test]
async fn chinese_customers_get_chinese_resolution_buttons() {
    let d = desk().await;
    let no = d.ticket_for("li", "我的发票金额不对").await;
    d.agent("sam", Some(no), "/resolve 已为您更正发票。").await;
    let sent = d.sent().await;
    let labels: Vec<String> = buttons_of(sent.to_customer("li")[0])
        .concat()
        .into_iter()
        .map(|(label, _)| label)
        .collect();
    assert_eq!(labels, vec!["已解决".to_string(), "未解决".to_string()]);
    d.press("li", ButtonAction::Solved(no)).await;
    assert!(d.sent().await.customer_texts("li")[0].contains("已关闭"));
}

/// The store queries behind the desk, checked directly.
#[tokio::test]
async fn store_desk_queries() {
    let d = desk().await;
    let a = d.ticket_for("ana", "discount code 50%_OFF rejected").await;
    let b = d.ticket_for("bob", "discount code 50 OFF rejected").await;
    d.agent("sam", Some(a), "/note first").await;
    d.agent("sam", Some(a), "/note second").await;
    d.agent("sam", Some(a), "/note third").await;
    d.sent().await;
    let mut tx = d.store.begin().await.unwrap();

    // `%` and `_` are literal, not wildcards.
    let found: Vec<TicketNo> = tx
        .find_tickets("50%_off", 10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.no)
        .collect();
    assert_eq!(found, vec![a]);
    let found = tx.find_tickets("second", 10).await.unwrap();
    assert_eq!(found.len(), 1, "notes are searchable by agents");

    // The last messages, oldest first.
    let texts: Vec<String> = tx
        .recent_messages(a, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, vec!["second".to_string(), "third".to_string()]);

    // The desk thread is remembered and replaced.
    assert_eq!(tx.desk_thread(a).await.unwrap(), Some(thread(a)));
    assert_eq!(tx.desk_thread(b).await.unwrap(), None);
    let other = ChatAddress::new(Platform::Telegram, "-100123");
    tx.set_desk_thread(a, &other).await.unwrap();
    assert_eq!(tx.desk_thread(a).await.unwrap(), Some(other));

    // One rating per ticket.
    let rating = |score| frontdesk::store::Rating {
        ticket: b,
        customer: frontdesk::domain::CustomerId(2),
        score,
        comment: Some("quick".into()),
        at: d.clock.now(),
    };
    assert!(tx.record_rating(&rating(3)).await.unwrap());
    assert!(!tx.record_rating(&rating(5)).await.unwrap());
    let stored = tx.rating(b).await.unwrap().unwrap();
    assert_eq!(
        (stored.score, stored.comment.as_deref()),
        (3, Some("quick"))
    );

    assert!(tx.tickets_assigned_to("sam", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn with_agents_configured_someone_else_in_the_desk_gets_a_refusal_and_changes_nothing() {
    let d = desk_with(with_agents).await;
    let no = d
        .ticket_for("ana", "the app shows error 500 at checkout")
        .await;
    let before = d.details(no).await;
    for text in [
        "/claim",
        "Hi, I can help you",
        "/resolve done",
        "/priority P1",
        "/queue",
    ] {
        let ticket = if text == "/queue" { None } else { Some(no) };
        assert_eq!(
            d.agent("eve", ticket, text).await,
            DeskOutcome::Refused,
            "{text}"
        );
        let sent = d.sent().await;
        assert_one_desk_line(&sent, &["Only the desk's agents", "console:eve"]);
        assert!(
            sent.customer_texts("ana").is_empty(),
            "{text}: nothing reaches the customer"
        );
    }
    let after = d.details(no).await;
    assert_eq!(after.ticket, before.ticket);
    assert_eq!(after.events, before.events);
    assert_eq!(after.messages, before.messages);
    // A configured agent works as usual, under the configured name.
    assert_eq!(
        d.agent("sam", Some(no), "/claim").await,
        DeskOutcome::Applied
    );
    assert_eq!(d.details(no).await.ticket.assignee.as_deref(), Some("sam"));
}

#[tokio::test]
async fn without_configured_agents_anyone_posting_in_the_desk_is_an_agent() {
    let d = desk().await;
    let no = d
        .ticket_for("ana", "the app shows error 500 at checkout")
        .await;
    assert_eq!(
        d.agent("newcomer", Some(no), "/claim").await,
        DeskOutcome::Applied
    );
    assert_eq!(
        d.details(no).await.ticket.assignee.as_deref(),
        Some("newcomer")
    );
    // …and /assign takes any name.
    assert_eq!(
        d.agent("newcomer", Some(no), "/assign whoever").await,
        DeskOutcome::Applied
    );
    assert_eq!(
        d.details(no).await.ticket.assignee.as_deref(),
        Some("whoever")
    );
}

#[tokio::test]
async fn assign_is_checked_against_the_configured_agents() {
    let d = desk_with(with_agents).await;
    let no = d
        .ticket_for("ana", "the app shows error 500 at checkout")
        .await;
    d.sent().await;
    assert_eq!(
        d.agent("sam", Some(no), "/assign bob").await,
        DeskOutcome::Usage
    );
    assert_one_desk_line(&d.sent().await, &["Unknown agent `bob`", "Agents: sam, li"]);
    assert_eq!(d.details(no).await.ticket.assignee, None);
    assert_eq!(
        d.agent("sam", Some(no), "/assign @LI").await,
        DeskOutcome::Applied
    );
    assert_one_desk_line(&d.sent().await, &["assigned to li"]);
    assert_eq!(d.details(no).await.ticket.assignee.as_deref(), Some("li"));
}

/// Every ticket command of SPEC §3, as typed in a ticket's thread.
const TICKET_COMMANDS: &[&str] = &[
    "/claim",
    "Hello from the desk",
    "/assign kim",
    "/transfer tech",
    "/priority P1",
    "/category problem",
    "/note internal",
    "/ask Which order?",
    "/resolve Done.",
    "/reopen",
    "/faq orders.track",
    "/info",
];

#[tokio::test]
async fn ticket_commands_in_the_wrong_place_get_one_clear_line_and_change_nothing() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my invoice total is wrong").await;
    let closed = d.ticket_for("bo", "my refund never arrived").await;
    d.agent("sam", Some(closed), "/resolve Refund sent.").await;
    d.press("bo", ButtonAction::Solved(closed)).await;
    d.sent().await;
    let (open_before, closed_before) = (d.details(no).await, d.details(closed).await);
    for command in TICKET_COMMANDS {
        // In the desk chat, outside any ticket's thread.
        assert_eq!(
            d.agent("sam", None, command).await,
            DeskOutcome::Usage,
            "{command}"
        );
        assert_one_desk_line(&d.sent().await, &["works in a ticket's thread"]);
        // In the thread of a ticket that does not exist.
        assert_eq!(
            d.agent("sam", Some(TicketNo(999)), command).await,
            DeskOutcome::Refused,
            "{command}"
        );
        assert_one_desk_line(&d.sent().await, &["There is no ticket #999"]);
        // On a closed ticket everything but /reopen, /note and /info is refused.
        if ["/reopen", "/note internal", "/info"].contains(command) {
            continue;
        }
        assert_eq!(
            d.agent("sam", Some(closed), command).await,
            DeskOutcome::Refused,
            "{command}"
        );
        let sent = d.sent().await;
        assert_one_desk_line(&sent, &[&closed.to_string(), "closed", "/reopen it first"]);
        assert!(sent.customer_texts("bo").is_empty(), "{command}");
    }
    assert_eq!(
        d.details(no).await,
        open_before,
        "the open ticket is untouched"
    );
    let closed_after = d.details(closed).await;
    assert_eq!(closed_after.ticket, closed_before.ticket);
    assert_eq!(closed_after.events, closed_before.events);
    assert_eq!(closed_after.messages, closed_before.messages);
}

#[tokio::test]
async fn every_change_answers_in_the_thread_and_is_an_event_with_who_and_when() {
    let d = desk().await;
    let no = d.ticket_for("ana", "my invoice total is wrong").await;
    for command in TICKET_COMMANDS {
        d.clock.advance(Duration::from_secs(60));
        let now = d.clock.now();
        let before = d.details(no).await.events.len();
        let outcome = d.agent("sam", Some(no), command).await;
        let sent = d.sent().await;
        if *command == "/info" {
            assert_eq!(outcome, DeskOutcome::Answered);
            assert_eq!(sent.desk_texts().len(), 1);
            continue;
        }
        assert_eq!(outcome, DeskOutcome::Applied, "{command}");
        let desk = sent.desk_texts();
        assert!(!desk.is_empty(), "{command}: answered in the thread");
        assert!(
            desk[0].contains(&no.to_string()) || desk[0].contains("Sent to"),
            "{command}: {desk:?}"
        );
        let d2 = d.details(no).await;
        let new: Vec<_> = d2.events[before..].iter().collect();
        assert!(!new.is_empty(), "{command}: no history entry");
        assert!(
            new.iter().all(|e| e.actor == "sam" && e.at == now),
            "{command}: {new:?}"
        );
        if *command == "/ask Which order?" {
            // The customer's answer brings it back to the agent.
            d.customer_says("ana", "Order 1234").await;
            d.sent().await;
        }
        if *command == "/resolve Done." {
            assert_eq!(d2.ticket.state, TicketState::Resolved);
        }
    }
    // Double presses: Solved / Not solved on a ticket that is not waiting for them.
    for action in [ButtonAction::Solved(no), ButtonAction::NotSolved(no)] {
        let before = d.details(no).await;
        d.press("ana", action).await;
        let sent = d.sent().await;
        assert!(sent.customer_texts("ana")[0].contains("nothing to confirm"));
        assert_eq!(d.details(no).await.ticket, before.ticket);
    }
}
