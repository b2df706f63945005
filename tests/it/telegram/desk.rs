//! The agents' desk on Telegram: a forum supergroup with one topic per ticket, driven
//! through the fake Bot API with the real teloxide client.

use frontdesk::domain::{TicketNo, TicketState};
use serde_json::json;

use super::fake::{private_message, Call, DESK};
use super::Rig;

const CUSTOMER: i64 = 1001;
const AGENT: i64 = 42;

/// All callback payloads of the inline keyboard of a request.
fn button_data(call: &Call) -> Vec<String> {
    call.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Position of the first request matching `pred` among all recorded requests.
fn position(rig: &Rig, what: &str, pred: impl Fn(&Call) -> bool) -> usize {
    let all: Vec<Call> = ["createforumtopic", "sendmessage", "sendphoto"]
        .iter()
        .flat_map(|m| rig.fake.calls(m))
        .collect();
    let mut sorted = all;
    sorted.sort_by_key(|c| c.at);
    sorted
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no request for {what}"))
}

/// The customer escalates; returns the ticket's topic id once its card is there.
async fn escalate(rig: &Rig, text: &str) -> i64 {
    rig.fake.text(CUSTOMER, &format!("/human {text}"));
    let topics = rig.fake.wait_topics(1).await;
    let thread = topics[0].0;
    rig.fake.wait_thread_text(DESK, thread, "Ticket #1").await;
    thread
}

#[tokio::test]
async fn escalation_opens_a_topic_with_the_card_then_the_customer_message() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "My printer is on fire & <smoking>").await;
    let (_, name) = &rig.fake.topics()[0];
    assert!(name.starts_with("#1 P"), "{name}");
    assert!(name.ends_with("— Customer1001"), "{name}");
    assert!(name.chars().count() <= 128);
    let create = &rig.fake.calls("createforumtopic")[0];
    assert_eq!(create.body["chat_id"].as_i64(), Some(DESK));

    let mirror = rig
        .fake
        .wait_thread_text(DESK, thread, "Customer1001 (#1): My printer is on fire")
        .await;
    // Escaped for HTML like every message.
    assert!(
        mirror.body["text"]
            .as_str()
            .unwrap()
            .contains("&amp; &lt;smoking&gt;"),
        "{}",
        mirror.body["text"]
    );
    let card = rig.fake.sends_to_thread(DESK, thread)[0].clone();
    let text = card.body["text"].as_str().unwrap();
    for needle in [
        "Ticket #1",
        "Customer1001",
        "telegram",
        "en",
        "First response due",
        "Resolution due",
    ] {
        assert!(text.contains(needle), "card lacks {needle}: {text}");
    }
    assert_eq!(
        button_data(&card),
        [
            "claim:1",
            "resolve:1",
            "prio:1:P1",
            "prio:1:P2",
            "prio:1:P3"
        ]
    );
    // In order: the topic, its card, the customer's words.
    let created = position(&rig, "topic", |c| c.method == "createforumtopic");
    let carded = position(&rig, "card", |c| {
        c.body["text"]
            .as_str()
            .is_some_and(|t| t.contains("Ticket #1"))
    });
    let mirrored = position(&rig, "mirror", |c| {
        c.body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Customer1001 (#1): My printer is on fire"))
    });
    assert!(
        created < carded && carded < mirrored,
        "{created} {carded} {mirrored}"
    );
    // The customer got the ticket number, and nothing from the desk side.
    rig.fake.wait_text(CUSTOMER, "#1").await;
    assert!(rig
        .fake
        .texts_to(CUSTOMER)
        .iter()
        .all(|t| !t.contains("First response due")));
    rig.shutdown().await;
}

#[tokio::test]
async fn agent_words_in_the_topic_reach_the_customer_and_notes_do_not() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "router broken").await;
    rig.fake
        .desk_text(DESK, Some(thread), AGENT, "/note customer sounds angry");
    rig.fake
        .wait_thread_text(DESK, thread, "Note added to #1")
        .await;
    rig.fake
        .desk_text(DESK, Some(thread), AGENT, "Unplug it <now> & wait");
    let sent = rig.fake.wait_text(CUSTOMER, "Unplug it").await;
    assert_eq!(sent.body["text"], "Unplug it &lt;now&gt; &amp; wait");
    rig.fake
        .wait_thread_text(DESK, thread, "Sent to the customer of #1")
        .await;
    assert!(
        rig.fake
            .texts_to(CUSTOMER)
            .iter()
            .all(|t| !t.contains("angry")),
        "a note reached the customer"
    );
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.assignee.as_deref(), Some("Agent 42"));

    // The customer's follow-up lands in the same topic.
    rig.fake.text(CUSTOMER, "it is unplugged now");
    rig.fake
        .wait_thread_text(DESK, thread, "it is unplugged now")
        .await;
    rig.shutdown().await;
}

#[tokio::test]
async fn ask_and_resolve_from_the_topic_then_solved_closes_the_topic() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "cannot log in").await;
    rig.fake
        .desk_text(DESK, Some(thread), AGENT, "/ask Which browser do you use?");
    let asked = rig.fake.wait_text(CUSTOMER, "Which browser").await;
    assert_eq!(asked.body["text"], "Which browser do you use?");

    rig.fake
        .desk_text(DESK, Some(thread), AGENT, "/resolve Clear the cookies.");
    let solution = rig.fake.wait_text(CUSTOMER, "Clear the cookies").await;
    assert_eq!(solution.body["text"], "Clear the cookies.");
    let data = button_data(&solution);
    assert_eq!(data.len(), 2, "{data:?}");
    // Resolved shows in the topic's name.
    rig.fake
        .wait_for("rename to resolved", |f| {
            f.calls("editforumtopic")
                .iter()
                .any(|c| c.body["name"].as_str().unwrap_or("").starts_with("✅ #1"))
        })
        .await;

    rig.fake.press(CUSTOMER, &data[0], 1);
    rig.fake
        .wait_for("closeForumTopic", |f| f.count("closeforumtopic") == 1)
        .await;
    let close = &rig.fake.calls("closeforumtopic")[0];
    assert_eq!(close.body["message_thread_id"].as_i64(), Some(thread));
    assert_eq!(close.body["chat_id"].as_i64(), Some(DESK));
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.state, TicketState::Closed);

    // Reopened from the (closed) topic: the topic opens again.
    rig.fake.desk_text(DESK, Some(thread), AGENT, "/reopen");
    rig.fake
        .wait_for("reopenForumTopic", |f| f.count("reopenforumtopic") == 1)
        .await;
    rig.shutdown().await;
}

#[tokio::test]
async fn card_buttons_claim_and_change_priority_and_are_answered() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "refund for order 7").await;
    let card_id = 1;
    let claim = rig.fake.desk_press(DESK, AGENT, "claim:1", card_id);
    rig.fake
        .wait_thread_text(DESK, thread, "#1 claimed by Agent 42")
        .await;
    rig.fake
        .wait_for("the claim press answered", |f| {
            f.calls("answercallbackquery")
                .iter()
                .any(|c| c.body["callback_query_id"] == claim.as_str())
        })
        .await;
    rig.fake.wait_text(CUSTOMER, "#1").await;
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.assignee.as_deref(), Some("Agent 42"));
    assert_eq!(t.state, TicketState::Open);

    let target = if t.priority.label() == "P1" {
        "P3"
    } else {
        "P1"
    };
    let press = rig
        .fake
        .desk_press(DESK, AGENT, &format!("prio:1:{target}"), card_id);
    rig.fake
        .wait_for("topic renamed", |f| {
            f.calls("editforumtopic").iter().any(|c| {
                c.body["name"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("#1 {target}"))
            })
        })
        .await;
    let rename = &rig.fake.calls("editforumtopic")[0];
    assert_eq!(rename.body["message_thread_id"].as_i64(), Some(thread));
    rig.fake
        .wait_for("the priority press answered", |f| {
            f.calls("answercallbackquery")
                .iter()
                .any(|c| c.body["callback_query_id"] == press.as_str())
        })
        .await;

    // Resolve only asks for the solution.
    rig.fake.desk_press(DESK, AGENT, "resolve:1", card_id);
    rig.fake.wait_thread_text(DESK, thread, "/resolve").await;
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.state, TicketState::Open);
    rig.shutdown().await;
}

#[tokio::test]
async fn other_groups_bots_and_general_chatter_are_ignored_desk_commands_answered() {
    let rig = Rig::start_with_desk().await;
    let _thread = escalate(&rig, "screen flickers").await;
    let other = -100_555;
    rig.fake.desk_text(other, None, AGENT, "/queue");
    rig.fake.desk_text(other, Some(500), AGENT, "/claim");
    rig.fake.desk_text(DESK, None, AGENT, "good morning team");
    // /queue in the General topic is answered there.
    rig.fake.desk_text(DESK, None, AGENT, "/queue");
    rig.fake
        .wait_for("queue answer in General", |f| {
            f.sends_to(DESK).iter().any(|c| {
                c.body.get("message_thread_id").is_none()
                    && c.body["text"].as_str().unwrap_or("").contains("#1")
            })
        })
        .await;
    rig.fake.settle().await;
    assert!(rig.fake.sends_to(other).is_empty());
    let general: Vec<Call> = rig
        .fake
        .sends_to(DESK)
        .into_iter()
        .filter(|c| c.body.get("message_thread_id").is_none())
        .filter(|c| !c.body["text"].as_str().unwrap_or("").starts_with("🆕"))
        .collect();
    assert_eq!(
        general.len(),
        1,
        "only /queue is answered in General (besides the new-ticket announcement)"
    );
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        t.state,
        TicketState::New,
        "the other group's /claim did nothing"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn a_topic_without_a_ticket_gets_a_hint_and_nothing_breaks() {
    let rig = Rig::start_with_desk().await;
    rig.fake.desk_text(DESK, Some(7777), AGENT, "hello?");
    rig.fake
        .wait_for("a hint in the unknown topic", |f| {
            !f.sends_to_thread(DESK, 7777).is_empty()
        })
        .await;
    let hint = rig.fake.texts_to_thread(DESK, 7777)[0].clone();
    assert!(hint.contains("ticket"), "{hint}");
    // Still working afterwards.
    let thread = escalate(&rig, "still there?").await;
    assert_eq!(thread, rig.fake.topics()[0].0);
    assert!(rig.polling_alive());
    rig.shutdown().await;
}

#[tokio::test]
async fn customer_photos_are_mirrored_into_the_topic_by_file_id() {
    let rig = Rig::start_with_desk().await;
    let photo = private_message(
        &rig.fake,
        CUSTOMER,
        json!({
            "caption": "the error screen",
            "photo": [
                {"file_id": "photo-small", "file_unique_id": "a", "width": 90, "height": 60},
                {"file_id": "photo-large", "file_unique_id": "b", "width": 1280, "height": 853}
            ]
        }),
    );
    rig.fake.push("message", photo);
    let thread = rig.fake.wait_topics(1).await[0].0;
    rig.fake
        .wait_for("sendPhoto to the topic", |f| f.count("sendphoto") == 1)
        .await;
    let sent = &rig.fake.calls("sendphoto")[0];
    assert_eq!(sent.body["photo"], "photo-large");
    assert_eq!(
        sent.body["message_thread_id"].as_str(),
        Some(thread.to_string().as_str())
    );
    let line = rig
        .fake
        .wait_thread_text(DESK, thread, "Customer1001 (#1): the error screen")
        .await;
    assert!(line.body["text"].as_str().unwrap().ends_with("[1 file]"));
    // The line comes before the file.
    let line_at = line.at;
    assert!(line_at < rig.fake.calls("sendphoto")[0].at);
    rig.shutdown().await;
}

#[tokio::test]
async fn topics_are_opened_once_and_items_without_a_topic_fall_back_to_the_desk() {
    use frontdesk::domain::{ChatAddress, Outbound, OutboundBody, Platform};
    use frontdesk::ports::ChatTransport;

    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "the app crashes").await;
    // A retried createForumTopic (answer lost, store slow) must not open a second topic.
    let open = Outbound {
        to: ChatAddress::ticket_thread(Platform::Telegram, DESK.to_string(), TicketNo(1)),
        ticket: Some(TicketNo(1)),
        body: OutboundBody::OpenThread {
            title: "#1 again".into(),
        },
    };
    let delivered = rig.transport.deliver(&open).await.unwrap();
    assert_eq!(delivered.platform_message_id, Some(thread.to_string()));
    assert_eq!(rig.fake.count("createforumtopic"), 1);

    // A ticket whose topic never came to be: its messages reach the desk's General topic,
    // topic operations are skipped.
    let orphan = ChatAddress::ticket_thread(Platform::Telegram, DESK.to_string(), TicketNo(99));
    rig.transport
        .deliver(&Outbound::text(orphan.clone(), "#99 news"))
        .await
        .unwrap();
    let general = rig
        .fake
        .sends_to(DESK)
        .into_iter()
        .find(|c| c.body["text"] == "#99 news")
        .expect("sent to the desk");
    assert!(general.body.get("message_thread_id").is_none());
    let close = Outbound {
        to: orphan,
        ticket: Some(TicketNo(99)),
        body: OutboundBody::CloseThread,
    };
    rig.transport.deliver(&close).await.unwrap();
    assert_eq!(rig.fake.count("closeforumtopic"), 0);
    rig.shutdown().await;
}

#[tokio::test]
async fn the_desk_is_checked_at_start() {
    let rig = Rig::start_with_desk().await;
    rig.fake
        .wait_for("getChat and getChatMember for the desk", |f| {
            f.count("getchat") == 1 && f.count("getchatmember") == 1
        })
        .await;
    assert_eq!(
        rig.fake.calls("getchat")[0].body["chat_id"].as_i64(),
        Some(DESK)
    );
    let member = &rig.fake.calls("getchatmember")[0];
    assert_eq!(member.body["chat_id"].as_i64(), Some(DESK));
    assert_eq!(member.body["user_id"].as_i64(), Some(super::fake::BOT_ID));
    rig.shutdown().await;
}

#[tokio::test]
async fn the_store_maps_topics_to_tickets_both_ways() {
    use frontdesk::domain::Platform;

    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "where is my parcel").await;
    let desk = DESK.to_string();
    let s = &rig.store;
    assert_eq!(
        s.thread_ref(TicketNo(1), Platform::Telegram, &desk)
            .await
            .unwrap(),
        Some(thread.to_string())
    );
    assert_eq!(
        s.thread_ticket(Platform::Telegram, &desk, &thread.to_string())
            .await
            .unwrap(),
        Some(TicketNo(1))
    );
    assert_eq!(
        s.thread_ticket(Platform::Telegram, "-1", &thread.to_string())
            .await
            .unwrap(),
        None,
        "another chat's topic with the same id is not this ticket's"
    );
    s.set_thread_ref(TicketNo(1), Platform::Telegram, &desk, "9000")
        .await
        .unwrap();
    assert_eq!(
        s.thread_ref(TicketNo(1), Platform::Telegram, &desk)
            .await
            .unwrap(),
        Some("9000".into())
    );
    assert_eq!(
        s.thread_ticket(Platform::Telegram, &desk, &thread.to_string())
            .await
            .unwrap(),
        None
    );
    rig.shutdown().await;
}

/// Issue 5's journey through the real client and the fake Bot API: the question escalates,
/// an agent claims, asks, the customer answers, the agent resolves, the customer rejects,
/// the agent resolves again, the customer confirms and rates 5 — and the customer's chat
/// shows every step, in order.
#[tokio::test]
async fn the_whole_journey_through_telegram_in_the_customers_chat_in_order() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, "The invoice for March lists the VAT twice").await;
    rig.fake.wait_text(CUSTOMER, "#1").await;
    rig.fake.desk_text(DESK, Some(thread), AGENT, "/claim");
    rig.fake
        .wait_text(CUSTOMER, "an agent is now working")
        .await;
    rig.fake.desk_text(
        DESK,
        Some(thread),
        AGENT,
        "/ask Which invoice number is it?",
    );
    rig.fake.wait_text(CUSTOMER, "Which invoice number").await;
    rig.fake.text(CUSTOMER, "It is INV-2026-03");
    rig.fake.wait_thread_text(DESK, thread, "INV-2026-03").await;
    rig.fake.desk_text(
        DESK,
        Some(thread),
        AGENT,
        "/resolve I removed the second VAT line.",
    );
    let first = rig.fake.wait_text(CUSTOMER, "second VAT line").await;
    let data = button_data(&first);
    assert_eq!(data, ["solved:1", "notsolved:1"]);
    rig.fake.press(CUSTOMER, &data[1], 1);
    rig.fake.wait_text(CUSTOMER, "What is still missing").await;
    rig.fake.wait_thread_text(DESK, thread, "NOT solved").await;
    rig.fake.desk_text(
        DESK,
        Some(thread),
        AGENT,
        "/resolve The corrected invoice is in your account now.",
    );
    let second = rig.fake.wait_text(CUSTOMER, "corrected invoice").await;
    rig.fake.press(CUSTOMER, &button_data(&second)[0], 2);
    let ask = rig.fake.wait_text(CUSTOMER, "rate our help").await;
    let ratings = button_data(&ask);
    assert_eq!(ratings.len(), 5, "{ratings:?}");
    let five = ratings
        .iter()
        .find(|d| d.ends_with(":5"))
        .expect("a 5 button");
    rig.fake.press(CUSTOMER, five, 3);
    rig.fake.wait_text(CUSTOMER, "5/5").await;

    let chat = rig.fake.texts_to(CUSTOMER);
    let steps = [
        "#1",
        "an agent is now working",
        "Which invoice number is it?",
        "Added to your ticket",
        "I removed the second VAT line.",
        "What is still missing",
        "The corrected invoice is in your account now.",
        "rate our help",
        "5/5",
    ];
    let mut from = 0;
    for step in steps {
        let at = chat[from..]
            .iter()
            .position(|t| t.contains(step))
            .unwrap_or_else(|| panic!("{step:?} missing after step {from} in {chat:#?}"));
        from += at + 1;
    }
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.state, TicketState::Closed);
    let mut tx = rig.store.begin().await.unwrap();
    assert_eq!(
        tx.rating(TicketNo(1)).await.unwrap().map(|r| r.score),
        Some(5)
    );
    drop(tx);
    rig.shutdown().await;
}

#[tokio::test]
async fn with_agents_configured_a_stranger_in_the_desk_is_refused_by_typing_or_pressing() {
    let sam = frontdesk::desk::AgentProfile {
        name: "sam".into(),
        ids: vec![format!("telegram:{AGENT}")],
        skills: Vec::new(),
        capacity: None,
    };
    let rig = Rig::start_with_staffed_desk(frontdesk::desk::Staff {
        agents: vec![sam],
        auto_assign: false,
    })
    .await;
    let thread = escalate(&rig, "refund for order 7").await;
    rig.fake.wait_text(CUSTOMER, "#1").await;
    let stranger = 77;
    rig.fake.desk_text(
        DESK,
        Some(thread),
        stranger,
        "Hi, I am not staff but here is a tip",
    );
    rig.fake
        .wait_thread_text(
            DESK,
            thread,
            "Only the desk's agents can use it: telegram:77",
        )
        .await;
    let press = rig.fake.desk_press(DESK, stranger, "claim:1", 1);
    rig.fake
        .wait_for("the stranger's press answered", |f| {
            f.calls("answercallbackquery")
                .iter()
                .any(|c| c.body["callback_query_id"] == press.as_str())
        })
        .await;
    rig.fake
        .wait_for("two refusals", |f| {
            f.texts_to_thread(DESK, thread)
                .iter()
                .filter(|t| t.contains("Only the desk's agents"))
                .count()
                == 2
        })
        .await;
    let t = rig
        .store
        .begin()
        .await
        .unwrap()
        .ticket(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.state, t.assignee), (TicketState::New, None));
    // The configured agent works under the configured name.
    rig.fake.desk_text(DESK, Some(thread), AGENT, "/claim");
    rig.fake
        .wait_thread_text(DESK, thread, "#1 claimed by sam")
        .await;
    rig.fake
        .wait_text(CUSTOMER, "an agent is now working")
        .await;
    assert!(
        rig.fake
            .texts_to(CUSTOMER)
            .iter()
            .all(|t| !t.contains("tip")),
        "the stranger's words never reached the customer"
    );
    rig.shutdown().await;
}
