//! The inbound pipeline end to end on a real SQLite file: FAQ answers, escalation,
//! follow-ups, dedup, `/status` isolation, buttons, bad input.

use std::sync::Arc;

use frontdesk::domain::{Attachment, Direction, OutboundBody, Priority, TicketNo, TicketState};
use frontdesk::outbox::OutboxWorker;
use frontdesk::ports::SystemClock;
use frontdesk::replies::ButtonAction;
use frontdesk::service::{Handled, Inbound, InboundContent, Service};
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::{Store, TicketFilter};

use crate::support::{console_stack, customer, RecordingTransport, Stack};

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub service: Service,
    pub outbox: OutboxWorker,
    pub transport: Arc<RecordingTransport>,
    seq: std::sync::atomic::AtomicU64,
}

pub async fn harness_with_vip(vip: &[&str]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let Stack {
        store,
        service,
        outbox,
        transport,
    } = console_stack(dir.path(), Arc::new(SystemClock), vip).await;
    Harness {
        dir,
        store,
        service,
        outbox,
        transport,
        seq: Default::default(),
    }
}

pub async fn harness() -> Harness {
    harness_with_vip(&[]).await
}

impl Harness {
    fn next_key(&self) -> String {
        format!(
            "test:{}",
            self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }

    pub async fn say(&self, user: &str, text: &str) -> Handled {
        let inbound = Inbound {
            key: self.next_key(),
            from: customer(user),
            content: InboundContent::Message {
                text: text.into(),
                attachments: Vec::new(),
            },
        };
        self.service.handle(inbound).await.unwrap()
    }

    pub async fn press(&self, user: &str, data: &str) -> Handled {
        let inbound = Inbound {
            key: self.next_key(),
            from: customer(user),
            content: InboundContent::Button { data: data.into() },
        };
        self.service.handle(inbound).await.unwrap()
    }

    /// Delivers everything due and returns the texts sent.
    pub async fn replies(&self) -> Vec<String> {
        self.outbox.drain().await.unwrap();
        let sent = self.transport.take();
        sent.into_iter().map(|m| m.body.summary()).collect()
    }
}

fn ticket_of(handled: &Handled) -> TicketNo {
    match handled {
        Handled::Done { ticket: Some(no) } => *no,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

#[tokio::test]
async fn confident_faq_question_is_answered_with_buttons_and_no_ticket() {
    let h = harness().await;
    let handled = h.say("ana", "how do i reset my password").await;
    assert_eq!(handled, Handled::Done { ticket: None });
    h.outbox.drain().await.unwrap();
    let sent = h.transport.take();
    assert_eq!(sent.len(), 1);
    let OutboundBody::Text { text, buttons } = &sent[0].body else {
        panic!("a text message expected")
    };
    assert!(text.contains("Forgot password"), "{text}");
    let data: Vec<_> = buttons.iter().flatten().map(|b| b.data.clone()).collect();
    assert_eq!(
        data,
        vec![
            "helped:account.reset-password",
            "human:account.reset-password"
        ]
    );
    assert!(h
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn chinese_question_gets_the_chinese_answer() {
    let h = harness().await;
    h.say("li", "我忘记密码了怎么办").await;
    let replies = h.replies().await;
    assert!(replies[0].contains("忘记密码"), "{replies:?}");
}

#[tokio::test]
async fn unanswered_question_becomes_one_ticket_and_follow_ups_join_it() {
    let h = harness().await;
    let first = ticket_of(
        &h.say("ana", "Quarterly VAT statement shows wrong company name")
            .await,
    );
    let replies = h.replies().await;
    assert_eq!(replies.len(), 1);
    assert!(replies[0].contains(&first.to_string()), "{replies:?}");
    assert!(
        replies[0].contains("P3") || replies[0].contains("P2"),
        "{replies:?}"
    );
    assert!(replies[0].contains("within"), "{replies:?}");

    // Follow-ups (even ones the FAQ could answer) go to the same ticket.
    let second = ticket_of(&h.say("ana", "how do i reset my password").await);
    assert_eq!(first, second);
    let photo = Inbound {
        key: "photo-1".into(),
        from: customer("ana"),
        content: InboundContent::Message {
            text: String::new(),
            attachments: vec![Attachment {
                kind: "photo".into(),
                reference: "file-123".into(),
                name: None,
            }],
        },
    };
    assert_eq!(ticket_of(&h.service.handle(photo).await.unwrap()), first);
    let details = h.store.ticket_details(first).await.unwrap().unwrap();
    let inbound: Vec<_> = details
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 3);
    assert_eq!(inbound[2].attachments[0].reference, "file-123");
    assert!(details.events.iter().any(|e| e.kind == "created"));

    // /new asks for a separate ticket explicitly.
    let separate = ticket_of(
        &h.say("ana", "/new A different problem with the mobile app")
            .await,
    );
    assert_ne!(separate, first);
}

#[tokio::test]
async fn the_same_inbound_key_is_processed_once() {
    let h = harness().await;
    let inbound = Inbound {
        key: "telegram:update:42".into(),
        from: customer("ana"),
        content: InboundContent::Message {
            text: "Washing machine dented badly".into(),
            attachments: vec![],
        },
    };
    let first = h.service.handle(inbound.clone()).await.unwrap();
    let again = h.service.handle(inbound).await.unwrap();
    assert!(matches!(first, Handled::Done { ticket: Some(_) }));
    assert_eq!(again, Handled::Duplicate);
    assert_eq!(
        h.replies().await.len(),
        1,
        "the duplicate must not reply again"
    );
    assert_eq!(
        h.store
            .list_tickets(&TicketFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn status_lists_only_the_customers_own_tickets() {
    let h = harness().await;
    let ana = ticket_of(&h.say("ana", "/human my account was charged twice").await);
    let bob = ticket_of(&h.say("bob", "/human the app crashes on start").await);
    h.replies().await;
    h.say("ana", "/status").await;
    let status = h.replies().await.pop().unwrap();
    assert!(status.contains(&ana.to_string()), "{status}");
    assert!(!status.contains(&bob.to_string()), "{status}");
    h.say("carol", "/status").await;
    let empty = h.replies().await.pop().unwrap();
    assert!(empty.contains("no tickets"), "{empty}");
}

#[tokio::test]
async fn talk_to_a_person_after_an_answer_carries_the_question() {
    let h = harness().await;
    h.say("ana", "where is my parcel").await;
    h.replies().await;
    let no = ticket_of(
        &h.press(
            "ana",
            &ButtonAction::Human(Some("orders.track".into())).encode(),
        )
        .await,
    );
    let details = h.store.ticket_details(no).await.unwrap().unwrap();
    assert_eq!(details.messages[0].text, "where is my parcel");
    assert_eq!(details.ticket.state, TicketState::New);
}

#[tokio::test]
async fn greetings_get_the_menu_not_a_ticket() {
    let h = harness().await;
    for hello in ["hi", "Hello!", "你好"] {
        assert_eq!(h.say("ana", hello).await, Handled::Done { ticket: None });
    }
    h.outbox.drain().await.unwrap();
    let sent = h.transport.take();
    assert_eq!(sent.len(), 3);
    let OutboundBody::Text { buttons, .. } = &sent[0].body else {
        panic!("a text message expected")
    };
    assert!(
        buttons.iter().flatten().any(|b| b.data == "topic:orders"),
        "{buttons:?}"
    );
    assert!(
        buttons.iter().flatten().any(|b| b.data == "human"),
        "{buttons:?}"
    );
    assert!(h
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn complaints_get_an_apology_and_vips_a_higher_priority() {
    let h = harness_with_vip(&["console:vip"]).await;
    h.say(
        "ana",
        "Unacceptable behaviour: staff were rude, filing a formal complaint",
    )
    .await;
    let ack = h.replies().await.pop().unwrap();
    assert!(ack.starts_with("We're sorry"), "{ack}");

    let plain = ticket_of(
        &h.say("joe", "/human I have a suggestion for the app colours")
            .await,
    );
    let vip = ticket_of(
        &h.say("vip", "/human I have a suggestion for the app colours")
            .await,
    );
    let p = |no| {
        let store = h.store.clone();
        async move {
            store
                .ticket_details(no)
                .await
                .unwrap()
                .unwrap()
                .ticket
                .priority
        }
    };
    let (plain, vip) = (p(plain).await, p(vip).await);
    assert!(
        vip < plain || vip == Priority::P1,
        "vip {vip:?} plain {plain:?}"
    );
}

#[tokio::test]
async fn bad_input_is_handled_without_losing_anything() {
    let h = harness().await;
    // Empty message: a hint, no ticket.
    assert_eq!(h.say("ana", "   ").await, Handled::Done { ticket: None });
    assert!(h.replies().await[0].contains("empty"));
    // Control characters and 100 KB of text: a ticket keeps the whole text.
    let huge = format!(
        "\u{0}\u{7}help\u{1b}[31m {}",
        "lorem ipsum dolor ".repeat(6_000)
    );
    let no = ticket_of(&h.say("ana", &format!("/human {huge}")).await);
    let details = h.store.ticket_details(no).await.unwrap().unwrap();
    let stored = &details.messages[0].text;
    assert!(
        stored == huge.trim_end(),
        "stored {} bytes of {}",
        stored.len(),
        huge.len()
    );
    assert!(details.ticket.subject.chars().count() <= 80);
    // Unknown button payloads and unsupported kinds get a polite answer.
    h.press("ana", "garbage:::").await;
    let sticker = Inbound {
        key: "s1".into(),
        from: customer("bob"),
        content: InboundContent::Unsupported {
            kind: "sticker".into(),
        },
    };
    assert_eq!(
        h.service.handle(sticker).await.unwrap(),
        Handled::Done { ticket: None }
    );
    assert_eq!(h.replies().await.len(), 3);
}

#[tokio::test]
async fn tickets_survive_a_restart() {
    let h = harness().await;
    let no = ticket_of(&h.say("ana", "/human my order arrived broken").await);
    let url = format!("sqlite://{}", h.dir.path().join("fd.db").display());
    drop(h.service);
    drop(h.outbox);
    drop(h.store);
    let reopened = SqliteStore::open(&url).await.unwrap();
    let details = reopened.ticket_details(no).await.unwrap().unwrap();
    assert_eq!(details.messages[0].text, "my order arrived broken");
    assert_eq!(details.customer.user_id, "ana");
}

#[tokio::test]
async fn unsure_matches_offer_did_you_mean_buttons_and_a_person() {
    let h = harness().await;
    // Shares words with several entries but is none of them exactly.
    assert_eq!(h.say("ana", "order").await, Handled::Done { ticket: None });
    h.outbox.drain().await.unwrap();
    let sent = h.transport.take();
    let OutboundBody::Text { text, buttons } = &sent[0].body else {
        panic!("a text message expected")
    };
    assert!(text.contains("Did you mean"), "{text}");
    let data: Vec<_> = buttons.iter().flatten().map(|b| b.data.as_str()).collect();
    assert!(data.len() >= 2 && data.len() <= 4, "{data:?}");
    assert!(
        data.iter().any(|d| d.starts_with("faq:orders.")),
        "{data:?}"
    );
    assert_eq!(data.last(), Some(&"human"), "{data:?}");
    // Pressing a suggestion shows that answer.
    let pick = data
        .iter()
        .find(|d| d.starts_with("faq:"))
        .unwrap()
        .to_string();
    h.press("ana", &pick).await;
    let answer = h.replies().await.pop().unwrap();
    assert!(
        answer.contains("Track") || answer.contains("Cancel"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_language_a_customer_writes_in_is_kept_for_buttons_and_commands() {
    let h = harness().await;
    h.say("li", "我的订单到哪了").await;
    h.replies().await;
    h.press("li", &ButtonAction::Helped("orders.track".into()).encode())
        .await;
    h.say("li", "/status").await;
    let replies = h.replies().await;
    assert!(replies[0].contains("很高兴"), "{replies:?}");
    assert!(replies[1].contains("工单"), "{replies:?}");
}
