//! Customer flows over Telegram: FAQ answers and clicks, escalation, /status, files,
//! commands, dedup after a crash, and updates the bot must shrug off.

use frontdesk::domain::{CustomerId, TicketNo};
use frontdesk::store::TicketFilter;
use serde_json::{json, Value};

use super::fake::{private_message, Call};
use super::Rig;

/// All callback payloads of the inline keyboard of a sendMessage request.
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

fn message_id_of(_call: &Call, index: usize) -> i64 {
    // The fake numbers sent messages itself; the id only has to name a message.
    100 + index as i64
}

#[tokio::test]
async fn start_menu_and_bot_commands_in_both_languages() {
    let rig = Rig::start().await;
    rig.fake
        .wait_for("setMyCommands twice", |f| f.count("setmycommands") >= 2)
        .await;
    let sets = rig.fake.calls("setmycommands");
    assert!(sets.iter().any(|c| c.body.get("language_code").is_none()
        && c.body["commands"].to_string().contains("status")));
    let zh = sets
        .iter()
        .find(|c| c.body["language_code"] == "zh")
        .expect("Chinese command list");
    assert!(zh.body["commands"].to_string().contains("我的工单"));
    rig.fake
        .wait_for("polling to clear any webhook", |f| {
            !f.calls("deletewebhook").is_empty()
        })
        .await;

    rig.fake.text(1001, "/start");
    let sent = rig.fake.wait_sends(1001, 1).await;
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    let data = button_data(&sent[0]);
    assert!(data.iter().any(|d| d.starts_with("topic:")), "{data:?}");
    assert!(data.iter().any(|d| d == "human"), "{data:?}");
    rig.shutdown().await;
}

#[tokio::test]
async fn faq_answer_carries_buttons_and_the_click_is_answered_and_recorded() {
    let rig = Rig::start().await;
    rig.fake.text(1001, "How do I reset my password?");
    let sent = rig.fake.wait_sends(1001, 1).await;
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("Forgot password"), "{text}");
    let data = button_data(&sent[0]);
    assert!(
        data.contains(&"helped:account.reset-password".to_string()),
        "{data:?}"
    );
    assert!(data.iter().any(|d| d.starts_with("human")), "{data:?}");

    let callback = rig.fake.press(
        1001,
        "helped:account.reset-password",
        message_id_of(&sent[0], 0),
    );
    rig.fake
        .wait_for("answerCallbackQuery", |f| {
            f.calls("answercallbackquery")
                .iter()
                .any(|c| c.body["callback_query_id"] == callback.as_str())
        })
        .await;
    let sent = rig.fake.wait_sends(1001, 2).await;
    assert_eq!(
        sent[1].body["text"].as_str().unwrap(),
        frontdesk::replies::glad_it_helped(frontdesk::domain::Language::En)
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn escalation_replies_with_ticket_number_priority_and_first_response() {
    let rig = Rig::start().await;
    rig.fake.text(1001, "/new the app crashes when I pay");
    let sent = rig.fake.wait_sends(1001, 1).await;
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("#1"), "{text}");
    assert!(text.contains("priority P"), "{text}");
    assert!(text.contains("within"), "{text}");
    let tickets = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 1);
    rig.shutdown().await;
}

#[tokio::test]
async fn status_lists_only_the_customers_own_tickets() {
    let rig = Rig::start().await;
    rig.fake.text(1001, "/new printer on fire");
    rig.fake.wait_sends(1001, 1).await;
    rig.fake.text(2002, "/new refund for order 7");
    rig.fake.wait_sends(2002, 1).await;
    rig.fake.text(1001, "/status");
    rig.fake.text(2002, "/status");
    let a = rig.fake.wait_sends(1001, 2).await;
    let b = rig.fake.wait_sends(2002, 2).await;
    let a = a[1].body["text"].as_str().unwrap();
    let b = b[1].body["text"].as_str().unwrap();
    assert!(a.contains("#1") && !a.contains("#2"), "{a}");
    assert!(b.contains("#2") && !b.contains("#1"), "{b}");
    rig.shutdown().await;
}

#[tokio::test]
async fn photos_and_documents_go_to_the_ticket_by_file_id() {
    let rig = Rig::start().await;
    let photo = private_message(
        &rig.fake,
        1001,
        json!({
            "caption": "the screen is cracked",
            "photo": [
                {"file_id": "photo-small", "file_unique_id": "a", "width": 90, "height": 60},
                {"file_id": "photo-large", "file_unique_id": "b", "width": 1280, "height": 853}
            ]
        }),
    );
    rig.fake.push("message", photo);
    rig.fake.wait_sends(1001, 1).await;
    let document = private_message(
        &rig.fake,
        1001,
        json!({"document": {"file_id": "doc-42", "file_unique_id": "c", "file_name": "receipt.pdf"}}),
    );
    rig.fake.push("message", document);
    let sent = rig.fake.wait_sends(1001, 2).await;
    assert!(sent[1].body["text"].as_str().unwrap().contains("#1"));

    let details = rig
        .store
        .ticket_details(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    let files: Vec<(String, String)> = details
        .messages
        .iter()
        .flat_map(|m| m.attachments.iter())
        .map(|a| (a.kind.clone(), a.reference.clone()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("photo".to_string(), "photo-large".to_string()),
            ("document".to_string(), "doc-42".to_string())
        ]
    );
    assert!(details.messages.iter().any(|m| m.text.contains("cracked")));
    // Files are kept by reference: nothing was uploaded or downloaded.
    assert!(rig.fake.calls("sendphoto").is_empty() && rig.fake.calls("getfile").is_empty());
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

#[tokio::test]
async fn a_redelivered_update_after_a_crash_creates_nothing_twice() {
    let mut rig = Rig::start().await;
    let update = rig.fake.text(1001, "/new my parcel never arrived");
    rig.fake.wait_sends(1001, 1).await;
    rig.stop_polling().await;
    // Telegram re-serves everything it believes unconfirmed to the restarted process.
    rig.fake.replay_all();
    rig.restart_polling();
    rig.fake
        .wait_for("the replayed update to be confirmed", |f| {
            f.calls("getupdates")
                .iter()
                .rev()
                .take(1)
                .any(|c| c.body["offset"].as_i64().unwrap_or(0) > update)
                && f.count("getupdates") >= 3
        })
        .await;
    rig.fake.text(1001, "/status");
    let sent = rig.fake.wait_sends(1001, 2).await;
    rig.fake.settle().await;
    assert_eq!(
        rig.fake.sends_to(1001).len(),
        2,
        "{:?}",
        rig.fake.texts_to(1001)
    );
    assert!(sent[1].body["text"].as_str().unwrap().contains("#1"));
    let tickets = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 1);
    rig.shutdown().await;
}

#[tokio::test]
async fn odd_updates_leave_the_bot_running() {
    let rig = Rig::start().await;
    // An update the client cannot read at all (the whole batch fails to parse).
    rig.fake
        .push_raw(json!({"update_id": "not-a-number", "message": {"text": "?"}}));
    // An update kind the client does not know.
    rig.fake.push("brand_new_kind", json!({"x": 1}));
    // A message missing required fields (no chat): the client cannot read it.
    rig.fake.push(
        "message",
        json!({"message_id": 5, "text": "where is my chat?"}),
    );
    // A group message: the desk comes later, customers only talk in private chats.
    rig.fake.push(
        "message",
        json!({"message_id": 6, "date": 1_700_000_000,
               "chat": {"id": -100123, "type": "supergroup", "title": "Some group"},
               "from": super::fake::customer(3003, "en"), "text": "hello group"}),
    );
    // An edited message.
    let mut edited = private_message(&rig.fake, 1001, json!({"text": "edited text"}));
    edited["edit_date"] = json!(1_700_000_100);
    rig.fake.push("edited_message", edited);
    // A button whose payload means nothing.
    let callback = rig.fake.press(1001, "no-such-action:§", 1);
    // A sticker: a polite hint, not a ticket.
    let sticker = private_message(
        &rig.fake,
        1001,
        json!({"sticker": {"file_id": "st", "file_unique_id": "u", "type": "regular",
                "width": 512, "height": 512, "is_animated": false, "is_video": false}}),
    );
    rig.fake.push("sticker_holder", Value::Null); // not even an object
    rig.fake.push("message", sticker);
    // A very long message.
    rig.fake.text(1001, &"why is my order late ".repeat(250));
    // And finally something ordinary, which must still be answered.
    rig.fake.text(1001, "/status");

    rig.fake
        .wait_for("the unknown button to be answered", |f| {
            f.calls("answercallbackquery")
                .iter()
                .any(|c| c.body["callback_query_id"] == callback.as_str())
        })
        .await;
    let texts = {
        rig.fake.wait_sends(1001, 4).await;
        rig.fake.texts_to(1001)
    };
    // unknown button, sticker hint, long message reply, status.
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[0].contains("no longer available"), "{texts:?}");
    assert!(texts[1].contains("only read text"), "{texts:?}");
    assert!(
        texts[3].contains("Your tickets") || texts[3].contains("no tickets"),
        "{texts:?}"
    );
    assert!(
        rig.fake.sends_to(-100123).is_empty(),
        "no replies in groups"
    );
    assert!(rig.fake.sends_to(3003).is_empty());
    assert!(rig.polling_alive());
    assert!(rig.store.customer(CustomerId(1)).await.unwrap().is_some());
    rig.shutdown().await;
}

#[tokio::test]
async fn chinese_customers_are_greeted_in_chinese() {
    let rig = Rig::start().await;
    let mut message = private_message(&rig.fake, 1001, json!({"text": "/start"}));
    message["from"]["language_code"] = json!("zh-hans");
    rig.fake.push("message", message);
    let sent = rig.fake.wait_sends(1001, 1).await;
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.chars().any(frontdesk::domain::is_han), "{text}");
    rig.shutdown().await;
}

#[tokio::test]
async fn an_update_is_not_confirmed_while_the_store_fails() {
    let rig = Rig::start().await;
    rig.fake.text(1001, "/start");
    rig.fake.wait_sends(1001, 1).await;
    rig.sqlite.close().await;
    let update = rig.fake.text(1001, "/status");
    // The poller keeps asking for the same update (offset not past it), backing off.
    rig.fake
        .wait_for("the failing update to be fetched again", |f| {
            f.calls("getupdates")
                .iter()
                .filter(|c| c.body["offset"].as_i64() == Some(update))
                .count()
                >= 2
        })
        .await;
    let before = rig.fake.count("getupdates");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let during = rig.fake.count("getupdates") - before;
    assert!(
        during <= 4,
        "backs off instead of spinning: {during} calls in 600 ms"
    );
    assert!(rig
        .fake
        .calls("getupdates")
        .iter()
        .all(|c| c.body["offset"].as_i64().unwrap_or(0) <= update));
    assert_eq!(rig.fake.sends_to(1001).len(), 1);
    assert!(rig.polling_alive());
}

#[tokio::test]
async fn a_refused_token_stops_the_channel_without_polling() {
    let rig = Rig::start().await;
    rig.fake
        .wait_for("the good channel to poll", |f| {
            !f.calls("getupdates").is_empty()
        })
        .await;
    let polls = rig.fake.count("getupdates");
    let task = rig.spawn_with_token("1:wrong");
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the channel gives up at once on a refused token")
        .expect("no panic");
    // Only the good channel polls (at most a couple more long polls meanwhile).
    assert!(rig.fake.count("getupdates") <= polls + 6);
    assert!(rig.fake.count("setmycommands") <= 2);
    rig.shutdown().await;
}
