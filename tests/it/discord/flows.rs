//! Customer flows over Discord DMs: intents and commands at start, FAQ answers and clicks,
//! escalation, /status (text and slash command), attachments by URL, locale, and dedup.

use frontdesk::domain::{Language, TicketNo};
use frontdesk::store::TicketFilter;
use serde_json::json;

use super::fake::{custom_ids, dm_channel, text_of, APP_ID};
use super::Rig;

#[tokio::test]
async fn connects_with_the_four_intents_and_registers_customer_commands() {
    let rig = Rig::start().await;
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    assert_eq!(rig.fake.intents(), 1 | (1 << 9) | (1 << 12) | (1 << 15));
    rig.fake
        .wait_for("global slash commands", |f| {
            !f.calls_to("PUT", &format!("/applications/{APP_ID}/commands"))
                .is_empty()
        })
        .await;
    let put = rig
        .fake
        .calls_to("PUT", &format!("/applications/{APP_ID}/commands"));
    let names: Vec<&str> = put[0]
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"status") && names.contains(&"human"),
        "{names:?}"
    );
    assert!(
        !rig.fake.calls_to("GET", "/gateway").is_empty(),
        "gateway URL asked from the fake"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn faq_answer_has_buttons_and_the_press_is_answered_after_it_is_stored() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "How do I reset my password?");
    let sent = rig.fake.wait_posts(dm_channel(1001), 1).await;
    assert!(
        text_of(&sent[0]).contains("Forgot password"),
        "{}",
        text_of(&sent[0])
    );
    let ids = custom_ids(&sent[0]);
    assert!(
        ids.contains(&"helped:account.reset-password".to_string()),
        "{ids:?}"
    );
    assert!(ids.iter().any(|d| d.starts_with("human")), "{ids:?}");
    // Labels are the customer-facing words.
    let labels = sent[0].body["components"].to_string();
    assert!(
        labels.contains("That helped") && labels.contains("Talk to a person"),
        "{labels}"
    );
    // Nobody gets pinged by what the bot writes.
    assert_eq!(sent[0].body["allowed_mentions"]["parse"], json!([]));

    let press = rig.fake.press(1001, "helped:account.reset-password");
    rig.fake
        .wait_for("the interaction callback", |f| {
            f.callbacks()
                .iter()
                .any(|c| c.path == format!("/interactions/{press}/tok-{press}/callback"))
        })
        .await;
    let callback = rig.fake.callbacks().pop().unwrap();
    assert_eq!(
        callback.body["type"], 6,
        "a button press is acknowledged without a message"
    );
    let sent = rig.fake.wait_posts(dm_channel(1001), 2).await;
    assert_eq!(
        text_of(&sent[1]),
        frontdesk::replies::glad_it_helped(Language::En)
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn escalation_replies_with_number_priority_and_promise() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "/new the app crashes when I pay");
    let sent = rig.fake.wait_posts(dm_channel(1001), 1).await;
    let text = text_of(&sent[0]);
    assert!(text.contains("#1"), "{text}");
    assert!(text.contains("priority P"), "{text}");
    assert!(text.contains("within"), "{text}");
    let tickets = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 1);
    // "Talk to a person" on an FAQ answer escalates too.
    rig.fake.dm(2002, "Where is my order?");
    rig.fake.wait_posts(dm_channel(2002), 1).await;
    rig.fake.press(2002, "human");
    let sent = rig.fake.wait_posts(dm_channel(2002), 2).await;
    assert!(text_of(&sent[1]).contains("#2"), "{}", text_of(&sent[1]));
    rig.shutdown().await;
}

#[tokio::test]
async fn status_as_text_and_as_slash_command_lists_only_own_tickets() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "/new printer on fire");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    rig.fake.dm(2002, "/new refund for order 7");
    rig.fake.wait_posts(dm_channel(2002), 1).await;
    rig.fake.dm(1001, "/status");
    let command = rig
        .fake
        .command(2002, None, dm_channel(2002), "status", None, "en-US");
    let a = rig.fake.wait_posts(dm_channel(1001), 2).await;
    let b = rig.fake.wait_posts(dm_channel(2002), 2).await;
    let (a, b) = (text_of(&a[1]), text_of(&b[1]));
    assert!(a.contains("#1") && !a.contains("#2"), "{a}");
    assert!(b.contains("#2") && !b.contains("#1"), "{b}");
    rig.fake
        .wait_for("the slash command answered", |f| {
            f.callbacks()
                .iter()
                .any(|c| c.path.starts_with(&format!("/interactions/{command}/")))
        })
        .await;
    let callback = rig
        .fake
        .callbacks()
        .into_iter()
        .find(|c| c.path.starts_with(&format!("/interactions/{command}/")))
        .unwrap();
    assert_eq!(callback.body["type"], 4);
    assert_eq!(
        callback.body["data"]["flags"], 64,
        "private to the customer"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn attachments_go_to_the_same_ticket_by_url() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "/new the screen is cracked");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    rig.fake.dm_with(
        1001,
        "",
        json!({"attachments": [{"id": "77", "filename": "crack.png", "size": 1000,
            "url": "https://cdn.discordapp.com/attachments/1/77/crack.png",
            "proxy_url": "https://media.discordapp.net/attachments/1/77/crack.png",
            "content_type": "image/png"}]}),
    );
    let sent = rig.fake.wait_posts(dm_channel(1001), 2).await;
    assert!(text_of(&sent[1]).contains("#1"), "{}", text_of(&sent[1]));
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
        vec![(
            "photo".to_string(),
            "https://cdn.discordapp.com/attachments/1/77/crack.png".to_string()
        )]
    );
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
async fn the_interaction_locale_sets_the_language_of_a_slash_command_answer() {
    let rig = Rig::start().await;
    rig.fake
        .command(3003, None, dm_channel(3003), "status", None, "zh-CN");
    let sent = rig.fake.wait_posts(dm_channel(3003), 1).await;
    let text = text_of(&sent[0]);
    assert!(
        text.chars().any(frontdesk::domain::is_han),
        "a Chinese answer: {text}"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn bots_and_empty_messages_are_ignored() {
    let rig = Rig::start().await;
    rig.fake.dm_with(
        4004,
        "How do I reset my password?",
        json!({"author": {
        "id": "4004", "username": "otherbot", "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true}}),
    );
    rig.fake.dm(5005, "");
    // A later message from a real customer is answered; the two before it were not.
    rig.fake.dm(1001, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    assert!(rig.fake.posts(dm_channel(4004)).is_empty());
    assert!(rig.fake.posts(dm_channel(5005)).is_empty());
    rig.shutdown().await;
}

#[tokio::test]
async fn unsure_matches_offer_did_you_mean_buttons_and_a_press_shows_the_answer() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "order");
    let sent = rig.fake.wait_posts(dm_channel(1001), 1).await;
    assert!(
        text_of(&sent[0]).contains("Did you mean"),
        "{}",
        text_of(&sent[0])
    );
    let ids = custom_ids(&sent[0]);
    let pick = ids
        .iter()
        .find(|d| d.starts_with("faq:orders."))
        .expect("a suggestion button")
        .clone();
    assert_eq!(ids.last().map(String::as_str), Some("human"), "{ids:?}");
    rig.fake.press(1001, &pick);
    let sent = rig.fake.wait_posts(dm_channel(1001), 2).await;
    let answer = text_of(&sent[1]);
    assert!(
        answer.contains("Track") || answer.contains("Cancel"),
        "{answer}"
    );
    rig.shutdown().await;
}
