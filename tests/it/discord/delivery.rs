//! Delivery through the Discord transport: markdown escaping, the 2,000-character split,
//! empty messages, 429 `retry_after` (per route and global), unreachable customers (50007)
//! and per-channel order.

use std::sync::Arc;
use std::time::Duration;

use frontdesk::adapters::discord::DiscordChannel;
use frontdesk::domain::{Button, ChatAddress, CustomerId, Outbound, OutboundBody, Platform};
use frontdesk::ports::{ChatTransport, DeliveryError};
use secrecy::SecretString;

use super::fake::{custom_ids, dm_channel, text_of, FakeDiscord, Reply, TOKEN};
use super::{config, Rig};

fn transport(fake: &FakeDiscord) -> Arc<frontdesk::adapters::discord::DiscordTransport> {
    DiscordChannel::new(&SecretString::from(TOKEN), config(fake, false)).transport()
}

fn to(channel: u64, text: &str, buttons: Vec<Vec<Button>>) -> Outbound {
    Outbound {
        to: ChatAddress::new(Platform::Discord, channel.to_string()),
        ticket: None,
        body: OutboundBody::Text {
            text: text.into(),
            buttons,
        },
    }
}

#[tokio::test]
async fn markdown_is_escaped_and_long_text_split_with_buttons_on_the_last_part() {
    let fake = FakeDiscord::start().await;
    let t = transport(&fake);
    let channel = dm_channel(1);
    t.deliver(&to(channel, "**not bold** @everyone", vec![]))
        .await
        .unwrap();
    assert_eq!(
        text_of(&fake.posts(channel)[0]),
        "\\*\\*not bold\\*\\* @everyone"
    );
    let long = format!("{}\n\n{}", "a ".repeat(900), "b ".repeat(900));
    let buttons = vec![vec![Button {
        label: "Yes".into(),
        data: "helped:x".into(),
    }]];
    let delivered = t.deliver(&to(channel, &long, buttons)).await.unwrap();
    assert!(delivered.platform_message_id.is_some());
    let posts = fake.posts(channel);
    assert_eq!(posts.len(), 3, "a 3,600-character text goes in two parts");
    assert!(posts[1..]
        .iter()
        .all(|p| text_of(p).chars().count() <= 2000));
    assert!(custom_ids(&posts[1]).is_empty());
    assert_eq!(custom_ids(&posts[2]), vec!["helped:x".to_string()]);
    // A 4,000-character word without spaces is cut hard, never refused.
    t.deliver(&to(channel, &"x".repeat(4000), vec![]))
        .await
        .unwrap();
    assert_eq!(fake.posts(channel).len(), 5);
    assert!(matches!(
        t.deliver(&to(channel, "  \n ", vec![])).await,
        Err(DeliveryError::Rejected(_))
    ));
}

#[tokio::test]
async fn refusals_map_to_outbox_outcomes() {
    let fake = FakeDiscord::start().await;
    let t = transport(&fake);
    let channel = dm_channel(2);
    fake.script(Reply::RateLimited {
        retry_after: 2.5,
        global: false,
    });
    assert_eq!(
        t.deliver(&to(channel, "hi", vec![])).await,
        Err(DeliveryError::RetryAfter(Duration::from_millis(2500)))
    );
    fake.script(Reply::Error(
        403,
        50007,
        "Cannot send messages to this user",
    ));
    assert!(matches!(
        t.deliver(&to(channel, "hi", vec![])).await,
        Err(DeliveryError::Unreachable(_))
    ));
    fake.script(Reply::Error(400, 50035, "Invalid Form Body"));
    assert!(matches!(
        t.deliver(&to(channel, "hi", vec![])).await,
        Err(DeliveryError::Rejected(_))
    ));
    fake.script(Reply::Error(502, 0, "Bad Gateway"));
    assert!(matches!(
        t.deliver(&to(channel, "hi", vec![])).await,
        Err(DeliveryError::Transient(_))
    ));
    // A global 429 pauses every channel, without asking Discord again meanwhile.
    fake.script(Reply::RateLimited {
        retry_after: 30.0,
        global: true,
    });
    assert!(matches!(
        t.deliver(&to(channel, "hi", vec![])).await,
        Err(DeliveryError::RetryAfter(_))
    ));
    let before = fake.posts(dm_channel(3)).len();
    match t.deliver(&to(dm_channel(3), "other", vec![])).await {
        Err(DeliveryError::RetryAfter(wait)) => assert!(wait > Duration::from_secs(20), "{wait:?}"),
        other => panic!("expected the global pause, got {other:?}"),
    }
    assert_eq!(
        fake.posts(dm_channel(3)).len(),
        before,
        "nothing sent during a global pause"
    );
}

#[tokio::test]
async fn rate_limited_reply_waits_retry_after_then_arrives() {
    let rig = Rig::start().await;
    rig.fake.script(Reply::RateLimited {
        retry_after: 1.0,
        global: false,
    });
    rig.fake.dm(1001, "How do I reset my password?");
    let sent = rig.fake.wait_posts(dm_channel(1001), 2).await;
    let gap = sent[1].at - sent[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retry_after honoured: {gap:?}"
    );
    assert_eq!(sent[0].body["content"], sent[1].body["content"]);
    rig.shutdown().await;
}

#[tokio::test]
async fn a_customer_who_cannot_be_messaged_is_marked_unreachable() {
    let rig = Rig::start().await;
    rig.fake.script(Reply::Error(
        403,
        50007,
        "Cannot send messages to this user",
    ));
    rig.fake.dm(1001, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let customer = rig.store.customer(CustomerId(1)).await.unwrap().unwrap();
        if customer.unreachable {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "customer never marked unreachable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rig.fake.posts(dm_channel(1001)).len(),
        1,
        "no retries to that customer"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn replies_to_one_customer_keep_their_order_through_a_429() {
    let rig = Rig::start().await;
    rig.fake.script(Reply::RateLimited {
        retry_after: 0.5,
        global: false,
    });
    rig.fake.dm(1001, "/new first problem");
    rig.fake.dm(1001, "more details");
    rig.fake.dm(1001, "/status");
    let sent = rig.fake.wait_posts(dm_channel(1001), 4).await;
    let texts: Vec<String> = sent[1..].iter().map(text_of).collect();
    assert!(
        texts[0].contains("#1") && texts[0].contains("priority"),
        "{texts:?}"
    );
    assert!(texts[1].contains("Added to your ticket"), "{texts:?}");
    assert!(texts[2].contains("#1"), "{texts:?}");
    rig.shutdown().await;
}

/// Discord gets exactly once: the outbox hands the transport the item's id, which goes out
/// as an enforced nonce (`fd<id>.<part>`); the repeat SPEC §9 allows after a crash between
/// the send and its record (here: the same item delivered again) creates no second message.
#[tokio::test]
async fn an_outbox_item_sent_again_is_dropped_by_its_nonce() {
    use frontdesk::outbox::{OutboxConfig, OutboxWorker};
    let fake = FakeDiscord::start().await;
    let t = transport(&fake);
    let (_dir, store) = crate::store_suite::sqlite_store().await;
    let channel = dm_channel(7);
    let message = to(channel, "your ticket is #12", vec![]);
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&message, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let worker = OutboxWorker::with_transports(
        store.clone(),
        [t.clone() as Arc<dyn ChatTransport>],
        Arc::new(frontdesk::ports::SystemClock),
        OutboxConfig::default(),
    );
    assert_eq!(worker.drain().await.unwrap(), 1);
    let posts = fake.posts(channel);
    assert_eq!(posts.len(), 1);
    let nonce = posts[0].body["nonce"].as_str().unwrap().to_string();
    assert!(nonce.starts_with("fd") && nonce.ends_with(".0") && nonce.len() <= 25);
    assert_eq!(posts[0].body["enforce_nonce"], true);
    let id: i64 = nonce[2..nonce.len() - 2].parse().unwrap();
    // The crash window: the same item again, as another replica would after the lease.
    let first = t.deliver_item(id, &message).await.unwrap();
    let again = t.deliver_item(id, &message).await.unwrap();
    assert_eq!(first.platform_message_id, again.platform_message_id);
    assert_eq!(fake.posts(channel).len(), 3, "posted three times");
    assert_eq!(fake.created(channel), 1, "one message exists");
    // Without an item id (not from the outbox) nothing is deduplicated.
    t.deliver(&message).await.unwrap();
    assert_eq!(fake.created(channel), 2);
}
