//! Delivery through the Telegram transport: escaping, splitting, retry-after, the plain
//! text fallback, unreachable customers and the send limits.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use frontdesk::adapters::telegram::{TelegramLimits, TelegramTransport};
use frontdesk::domain::{Button, ChatAddress, CustomerId, Outbound, OutboundBody, Platform};
use frontdesk::ports::{ChatTransport, DeliveryError};
use secrecy::{ExposeSecret, SecretString};
use teloxide::Bot;

use super::fake::{FakeBotApi, Reply, TOKEN};
use super::{fast_limits, Rig};

fn transport(fake: &FakeBotApi, limits: TelegramLimits) -> TelegramTransport {
    let token = SecretString::from(TOKEN);
    let bot = Bot::new(token.expose_secret()).set_api_url(fake.url.parse().unwrap());
    TelegramTransport::new(bot, limits)
}

fn to(chat: i64, text: &str, buttons: Vec<Vec<Button>>) -> Outbound {
    Outbound {
        to: ChatAddress::new(Platform::Telegram, chat.to_string()),
        ticket: None,
        body: OutboundBody::Text {
            text: text.into(),
            buttons,
        },
    }
}

fn button(label: &str, data: &str) -> Button {
    Button {
        label: label.into(),
        data: data.into(),
    }
}

#[tokio::test]
async fn text_is_html_escaped_and_buttons_become_an_inline_keyboard() {
    let fake = FakeBotApi::start().await;
    let t = transport(&fake, fast_limits());
    let delivered = t
        .deliver(&to(
            7,
            "Use <b>tags</b> & \"quotes\"",
            vec![vec![button("Yes", "helped:x"), button("No", "human:x")]],
        ))
        .await
        .unwrap();
    assert!(delivered.platform_message_id.is_some());
    let sent = fake.sends_to(7);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    assert_eq!(
        sent[0].body["text"],
        "Use &lt;b&gt;tags&lt;/b&gt; &amp; \"quotes\""
    );
    let row = &sent[0].body["reply_markup"]["inline_keyboard"][0];
    assert_eq!(row[0]["text"], "Yes");
    assert_eq!(row[0]["callback_data"], "helped:x");
    assert_eq!(row[1]["callback_data"], "human:x");
}

#[tokio::test]
async fn formatting_error_is_resent_once_as_plain_text() {
    let fake = FakeBotApi::start().await;
    let t = transport(&fake, fast_limits());
    fake.script_send(Reply::Error(
        400,
        "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3",
    ));
    t.deliver(&to(7, "a <x> & b", vec![vec![button("Ok", "status")]]))
        .await
        .unwrap();
    let sent = fake.sends_to(7);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    assert!(sent[1].body.get("parse_mode").is_none(), "{}", sent[1].body);
    assert_eq!(
        sent[1].body["text"], "a <x> & b",
        "the plain resend is not escaped"
    );
    assert_eq!(
        sent[1].body["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "status"
    );
}

#[tokio::test]
async fn long_text_is_split_at_paragraphs_with_buttons_on_the_last_part() {
    let fake = FakeBotApi::start().await;
    let t = transport(&fake, fast_limits());
    let paragraph = "word ".repeat(600); // 3,000 characters
    let text = format!(
        "{}\n\n{}\n\n{}",
        paragraph.trim(),
        paragraph.trim(),
        "the end"
    );
    t.deliver(&to(7, &text, vec![vec![button("Ok", "status")]]))
        .await
        .unwrap();
    let sent = fake.sends_to(7);
    assert_eq!(
        sent.len(),
        2,
        "two 3,000-char paragraphs do not fit in one message"
    );
    for call in &sent {
        assert!(call.body["text"].as_str().unwrap().chars().count() <= 4096);
    }
    assert_eq!(sent[0].body["text"].as_str().unwrap(), paragraph.trim());
    assert!(sent[1].body["text"].as_str().unwrap().ends_with("the end"));
    assert!(sent[0].body.get("reply_markup").is_none());
    assert!(sent[1].body.get("reply_markup").is_some());
}

#[tokio::test]
async fn errors_map_to_outbox_outcomes() {
    let fake = FakeBotApi::start().await;
    let t = transport(&fake, fast_limits());
    fake.script_send(Reply::RetryAfter(3));
    assert_eq!(
        t.deliver(&to(7, "hi", vec![])).await,
        Err(DeliveryError::RetryAfter(Duration::from_secs(3)))
    );
    fake.script_send(Reply::Error(403, "Forbidden: bot was blocked by the user"));
    assert!(matches!(
        t.deliver(&to(7, "hi", vec![])).await,
        Err(DeliveryError::Unreachable(_))
    ));
    fake.script_send(Reply::Error(403, "Forbidden: user is deactivated"));
    assert!(matches!(
        t.deliver(&to(7, "hi", vec![])).await,
        Err(DeliveryError::Unreachable(_))
    ));
    fake.script_send(Reply::Error(400, "Bad Request: chat not found"));
    assert!(matches!(
        t.deliver(&to(7, "hi", vec![])).await,
        Err(DeliveryError::Unreachable(_))
    ));
    fake.script_send(Reply::Error(400, "Bad Request: BUTTON_DATA_INVALID"));
    assert!(matches!(
        t.deliver(&to(7, "hi", vec![])).await,
        Err(DeliveryError::Rejected(_))
    ));
    assert!(matches!(
        t.deliver(&to(7, "", vec![])).await,
        Err(DeliveryError::Rejected(_))
    ));
    let mut bad_chat = to(7, "hi", vec![]);
    bad_chat.to.chat_id = "not-a-number".into();
    assert!(matches!(
        t.deliver(&bad_chat).await,
        Err(DeliveryError::Rejected(_))
    ));

    // Nobody listening: a network error, retried later, and the token is not in it.
    let gone = {
        let bot = Bot::new(TOKEN).set_api_url("http://127.0.0.1:9".parse().unwrap());
        TelegramTransport::new(bot, fast_limits())
    };
    match gone.deliver(&to(7, "hi", vec![])).await {
        Err(DeliveryError::Transient(reason)) => {
            assert!(!reason.contains("TEST-fake-token"), "{reason}")
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn one_message_per_second_per_chat_and_others_are_not_held_up() {
    let fake = FakeBotApi::start().await;
    let t = transport(&fake, TelegramLimits::default());
    t.deliver(&to(7, "one", vec![])).await.unwrap();
    t.deliver(&to(8, "other chat", vec![])).await.unwrap();
    t.deliver(&to(7, "two", vec![])).await.unwrap();
    let sent = fake.sends_to(7);
    let gap = sent[1].at - sent[0].at;
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    let other = fake.sends_to(8);
    assert!(
        other[0].at - sent[0].at < Duration::from_millis(900),
        "another chat is not paced by chat 7"
    );
}

#[tokio::test]
async fn a_long_limiter_wait_is_handed_back_to_the_outbox() {
    let fake = FakeBotApi::start().await;
    let limits = TelegramLimits {
        per_chat_per_second: NonZeroU32::MIN,
        per_chat_burst: NonZeroU32::MIN,
        max_wait: Duration::from_millis(100),
        ..TelegramLimits::default()
    };
    let t = transport(&fake, limits);
    t.deliver(&to(7, "one", vec![])).await.unwrap();
    let started = std::time::Instant::now();
    match t.deliver(&to(7, "two", vec![])).await {
        Err(DeliveryError::RetryAfter(wait)) => assert!(wait <= Duration::from_secs(1)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "did not sit on the lease"
    );
    assert_eq!(fake.sends_to(7).len(), 1);
}

#[tokio::test]
async fn rate_limited_reply_waits_retry_after_then_arrives() {
    let rig = Rig::start().await;
    rig.fake.script_send(Reply::RetryAfter(1));
    rig.fake.text(1001, "/start");
    let sent = rig.fake.wait_sends(1001, 2).await;
    let gap = sent[1].at - sent[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retry_after honoured: {gap:?}"
    );
    assert_eq!(sent[0].body["text"], sent[1].body["text"]);
    rig.fake.settle().await;
    assert_eq!(rig.fake.sends_to(1001).len(), 2);
    rig.shutdown().await;
}

#[tokio::test]
async fn blocked_customer_is_marked_unreachable_not_retried() {
    let rig = Rig::start().await;
    rig.fake
        .script_send(Reply::Error(403, "Forbidden: bot was blocked by the user"));
    rig.fake.text(1001, "/start");
    rig.fake.wait_sends(1001, 1).await;
    let store = rig.store.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let customer = store.customer(CustomerId(1)).await.unwrap().unwrap();
        if customer.unreachable {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "customer never marked unreachable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rig.fake.settle().await;
    assert_eq!(
        rig.fake.sends_to(1001).len(),
        1,
        "no retries to a blocked chat"
    );
    let _: Arc<dyn ChatTransport> = rig.transport.clone();
    rig.shutdown().await;
}

#[tokio::test]
async fn groups_get_twenty_messages_a_minute() {
    let fake = FakeBotApi::start().await;
    let limits = TelegramLimits {
        max_wait: Duration::from_millis(200),
        ..TelegramLimits::default()
    };
    let t = transport(&fake, limits);
    t.deliver(&to(-100_555, "first", vec![])).await.unwrap();
    // The next slot in a group is 3 s away (60 s / 20): handed back, not waited for.
    match t.deliver(&to(-100_555, "second", vec![])).await {
        Err(DeliveryError::RetryAfter(wait)) => {
            assert!(
                wait > Duration::from_secs(2) && wait <= Duration::from_secs(3),
                "{wait:?}"
            )
        }
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    // A private chat is not affected by the group's pace.
    t.deliver(&to(7, "private", vec![])).await.unwrap();
    assert_eq!(fake.sends_to(-100_555).len(), 1);
}
