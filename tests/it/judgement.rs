//! The front door's judgement (issue 16): urgent and specific problems reach a person at
//! once, complaint and "person" entries open a ticket, a small knowledge base answers
//! only what it knows, routine questions are still answered — through `faq match`, the
//! console channel (`frontdesk chat`), the service and Telegram with the real client.

use std::path::Path;

use frontdesk::domain::{Priority, TicketState};
use frontdesk::service::Handled;
use frontdesk::store::TicketFilter;
use serde_json::Value;

use crate::cli::{chat, frontdesk};
use crate::service::harness;
use crate::telegram::Rig;

fn faq_match(dir: Option<&Path>, text: &str) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = frontdesk(tmp.path());
    cmd.args(["faq", "match", "--json"]);
    if let Some(dir) = dir {
        cmd.arg("--dir").arg(dir);
    }
    let out = cmd.arg(text).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a new user saw answered with a canned text before: each must reach a person,
/// with the rule that decided shown.
const PROBLEMS: &[(&str, &str)] = &[
    ("my account was hacked and someone changed my password", "P1"),
    ("我的账号被盗了，有人改了我的密码", "P1"),
    (
        "I was charged twice for order NB-55120 and the app now says my account is locked",
        "P1",
    ),
    (
        "My parcel for order NB-77031 never arrived and the tracking page shows an error since Monday",
        "P2",
    ),
    (
        "My order NB-48213 arrived with a cracked screen and the replacement you promised never came, this is the third time I write",
        "P2",
    ),
    ("I want to make a complaint", "P2"),
    ("I want to talk to a real person", "P3"),
];

#[test]
fn problem_reports_and_urgent_messages_escalate_with_the_reason_shown() {
    for (text, priority) in PROBLEMS {
        let out = faq_match(None, text);
        assert_eq!(out["decision"], "escalate", "{text}: {out:#}");
        assert!(out["faq_id"].is_null(), "{text}: no bare answer: {out:#}");
        let reason = out["reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{text}: a reason");
        assert_eq!(out["triage"]["priority"], *priority, "{text}: {out:#}");
        assert!(out["triage"]["escalate"].is_string(), "{text}: {out:#}");
    }
    let hacked = faq_match(None, PROBLEMS[0].0);
    assert!(
        hacked["reason"].as_str().unwrap().starts_with("P1"),
        "{hacked:#}"
    );
    assert_eq!(hacked["triage"]["notify_supervisors"], true);
    let repeat = faq_match(None, PROBLEMS[4].0);
    assert_eq!(repeat["triage"]["category"], "complaint", "{repeat:#}");
    let signals = repeat["triage"]["signals"].to_string();
    for s in ["repeat_contact", "broken_promise"] {
        assert!(signals.contains(s), "{signals}");
    }
    // A complaint gets no canned text "meanwhile"; a problem report may.
    assert!(repeat["meanwhile"].is_null(), "{repeat:#}");
}

#[test]
fn routine_questions_of_the_knowledge_base_are_still_answered() {
    for (text, entry) in [
        ("Where is my order?", "orders.track-order"),
        ("how do i reset my password", "account.reset-password"),
        ("我的订单到哪了？", "orders.track-order"),
        ("Do you offer free shipping?", "orders.shipping-options"),
    ] {
        let out = faq_match(None, text);
        assert_eq!(out["decision"], "answer", "{text}: {out:#}");
        assert_eq!(out["faq_id"], entry, "{text}");
        assert!(out["reason"].as_str().unwrap().starts_with("matcher sure"));
    }
}

#[test]
fn negation_and_conditions_are_read() {
    // "Not urgent" is no urgency; a question about a case reports none.
    let calm = faq_match(None, "not urgent at all, how long does delivery take?");
    assert!(
        !calm["triage"]["signals"].to_string().contains("urgency"),
        "{calm:#}"
    );
    let what_if = faq_match(None, "what happens if my parcel arrives damaged?");
    assert!(
        !what_if["triage"]["signals"]
            .to_string()
            .contains("problem_report"),
        "{what_if:#}"
    );
    let report = faq_match(None, "my parcel arrived damaged");
    assert!(
        report["triage"]["signals"]
            .to_string()
            .contains("problem_report"),
        "{report:#}"
    );
    assert_eq!(report["decision"], "escalate");
}

#[test]
fn a_small_knowledge_base_answers_only_what_it_knows() {
    let kb = tempfile::tempdir().unwrap();
    let faq = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    std::fs::copy(faq.join("privacy.toml"), kb.path().join("privacy.toml")).unwrap();
    for text in [
        "I was charged twice for order NB-55120 and the app now says my account is locked",
        "my parcel never arrived",
    ] {
        let out = faq_match(Some(kb.path()), text);
        assert_eq!(out["decision"], "escalate", "{text}: {out:#}");
        assert!(out["faq_id"].is_null(), "{text}: no answer: {out:#}");
    }
}

#[test]
fn the_console_channel_hands_urgent_problems_to_a_person_and_answers_questions() {
    let dir = tempfile::tempdir().unwrap();
    let out = chat(dir.path(), "ana", &format!("{}\n", PROBLEMS[0].0));
    assert!(out.contains("ticket #1 (priority P1)"), "{out}");
    let out = chat(dir.path(), "ben", "Where is my order?\n");
    assert!(out.contains("tracking number"), "{out}");
    assert!(!out.contains("ticket #"), "{out}");
    let out = chat(dir.path(), "cy", "I want to make a complaint\n");
    assert!(out.contains("ticket #2"), "{out}");
    assert!(out.contains("sorry"), "an apology for a complaint: {out}");
    let list = frontdesk(dir.path())
        .args(["tickets", "list", "--json"])
        .output()
        .unwrap();
    let tickets: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(tickets.as_array().map(Vec::len), Some(2), "{tickets:#}");
}

#[tokio::test]
async fn meanwhile_helped_offers_to_close_and_never_closes_by_itself() {
    let h = harness().await;
    // The small knowledge base knows how to reset a password; being locked out is P1.
    let handled = h
        .say(
            "ana",
            "I can't log in to my account, how do I reset my password?",
        )
        .await;
    let Handled::Done { ticket: Some(no) } = handled else {
        panic!("a ticket expected: {handled:?}");
    };
    h.outbox.drain().await.unwrap();
    let sent = h.transport.take();
    let ack = sent
        .iter()
        .find(|m| m.body.summary().contains("Meanwhile"))
        .unwrap_or_else(|| panic!("ack with a meanwhile answer: {sent:?}"));
    let summary = ack.body.summary();
    assert!(
        summary.contains(&format!("ticket {no} (priority P1)")),
        "{summary}"
    );
    assert!(summary.contains("Forgot password"), "{summary}");
    let frontdesk::domain::OutboundBody::Text { buttons, .. } = &ack.body else {
        panic!("text")
    };
    let data: Vec<String> = buttons.iter().flatten().map(|b| b.data.clone()).collect();
    assert_eq!(
        data,
        vec![format!("mhelped:{}:account.reset-password", no.0)]
    );

    h.press("ana", &data[0]).await;
    let replies = h.replies().await;
    assert!(
        replies.iter().any(|r| r.contains("Shall I close")),
        "{replies:?}"
    );
    let t = h.store.ticket_details(no).await.unwrap().unwrap().ticket;
    assert_ne!(t.state, TicketState::Closed, "a press alone never closes");

    h.press("ana", &format!("close:{}", no.0)).await;
    let replies = h.replies().await;
    assert!(
        replies.iter().any(|r| r.contains("is closed")),
        "{replies:?}"
    );
    let t = h.store.ticket_details(no).await.unwrap().unwrap().ticket;
    assert_eq!(t.state, TicketState::Closed);
    assert_eq!(t.priority, Priority::P1);
}

#[tokio::test]
async fn the_service_escalates_problem_reports_and_answers_the_question() {
    let h = harness().await;
    let handled = h
        .say(
            "ana",
            "my order NB-77031 never arrived and tracking shows an error since Monday",
        )
        .await;
    assert!(
        matches!(handled, Handled::Done { ticket: Some(_) }),
        "{handled:?}"
    );
    let handled = h.say("ben", "Where is my order?").await;
    assert_eq!(handled, Handled::Done { ticket: None });
    let tickets = h
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 1);
}

#[tokio::test]
async fn telegram_hacked_account_reaches_the_desk_with_the_reason_on_the_card() {
    let rig = Rig::start_with_desk().await;
    rig.fake
        .text(1001, "someone hacked my account and changed my password!");
    let topics = rig.fake.wait_topics(1).await;
    let card = rig
        .fake
        .wait_thread_text(crate::telegram::fake::DESK, topics[0].0, "Ticket #1")
        .await;
    let text = card.body["text"].as_str().unwrap();
    assert!(text.contains("Why a person: P1"), "{text}");
    let ack = rig.fake.wait_text(1001, "ticket #1").await;
    assert!(
        ack.body["text"].as_str().unwrap().contains("P1"),
        "{}",
        ack.body["text"]
    );
    // A routine question is still answered by the bot, no second ticket.
    rig.fake.text(1002, "Where is my order?");
    rig.fake.wait_text(1002, "Track").await;
    assert_eq!(
        rig.store
            .list_tickets(&TicketFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    rig.shutdown().await;
}
