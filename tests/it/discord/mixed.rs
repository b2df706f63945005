//! One desk for both platforms: a Telegram customer and a Discord customer escalate, both
//! tickets are worked in the Discord desk, each customer sees only their own updates; with
//! both desks configured each ticket lives in its customer's platform's desk, or in the
//! configured one.

use frontdesk::domain::Platform;

use super::fake::{dm_channel, text_of, DESK};
use super::{Rig, Setup};

const TG_CUSTOMER: i64 = 1001;
const DC_CUSTOMER: u64 = 2002;
const AGENT: u64 = 77;

/// The thread whose first customer line names `name`.
fn thread_of(rig: &Rig, needle: &str) -> u64 {
    rig.fake
        .threads()
        .iter()
        .map(|t| t.0)
        .find(|t| rig.fake.texts(*t).iter().any(|text| text.contains(needle)))
        .unwrap_or_else(|| panic!("no thread mentions {needle}"))
}

#[tokio::test]
async fn one_discord_desk_works_telegram_and_discord_tickets() {
    let rig = Rig::start_with(Setup {
        discord_desk: true,
        telegram: true,
        ..Setup::default()
    })
    .await;
    let tg = rig.telegram.clone().unwrap();
    tg.text(TG_CUSTOMER, "/new my telegram payment failed");
    rig.fake.dm(DC_CUSTOMER, "/new my discord order is missing");
    tg.wait_sends(TG_CUSTOMER, 1).await;
    rig.fake.wait_posts(dm_channel(DC_CUSTOMER), 1).await;
    rig.fake
        .wait_for("two ticket threads with their customers' words", |f| {
            f.threads().len() == 2 && f.threads().iter().all(|t| f.texts(t.0).len() >= 2)
        })
        .await;
    let tg_thread = thread_of(&rig, "telegram payment");
    let dc_thread = thread_of(&rig, "discord order");
    assert_ne!(tg_thread, dc_thread);
    assert!(
        tg.calls("createforumtopic").is_empty(),
        "no Telegram desk involved"
    );

    rig.fake
        .agent_says(tg_thread, AGENT, "Your payment is being refunded");
    rig.fake
        .agent_says(dc_thread, AGENT, "Your order ships tomorrow");
    let tg_sent = tg.wait_sends(TG_CUSTOMER, 2).await;
    let dc_sent = rig.fake.wait_posts(dm_channel(DC_CUSTOMER), 2).await;
    let tg_texts: Vec<String> = tg_sent
        .iter()
        .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
        .collect();
    let dc_texts: Vec<String> = dc_sent.iter().map(text_of).collect();
    assert!(
        tg_texts.iter().any(|t| t.contains("refunded")),
        "{tg_texts:?}"
    );
    assert!(
        !tg_texts.iter().any(|t| t.contains("ships tomorrow")),
        "{tg_texts:?}"
    );
    assert!(
        dc_texts.iter().any(|t| t.contains("ships tomorrow")),
        "{dc_texts:?}"
    );
    assert!(
        !dc_texts.iter().any(|t| t.contains("refunded")),
        "{dc_texts:?}"
    );

    // The Telegram customer's follow-up reaches their thread in the Discord desk only.
    tg.text(TG_CUSTOMER, "thanks, how long will it take?");
    rig.fake
        .wait_for("the Telegram follow-up in its Discord thread", |f| {
            f.texts(tg_thread).iter().any(|t| t.contains("how long"))
        })
        .await;
    assert!(!rig
        .fake
        .texts(dc_thread)
        .iter()
        .any(|t| t.contains("how long")));
    // /status on each side lists only that customer's ticket.
    rig.fake.dm(DC_CUSTOMER, "/status");
    let dc_sent = rig.fake.wait_posts(dm_channel(DC_CUSTOMER), 3).await;
    let status = text_of(dc_sent.last().unwrap());
    assert!(status.contains("#2") && !status.contains("#1"), "{status}");
    rig.shutdown().await;
}

#[tokio::test]
async fn with_both_desks_each_ticket_lives_in_its_customers_platform_desk() {
    let rig = Rig::start_with(Setup {
        discord_desk: true,
        telegram: true,
        telegram_desk: true,
        desk_platform: None,
    })
    .await;
    let tg = rig.telegram.clone().unwrap();
    tg.text(TG_CUSTOMER, "/new telegram side problem");
    rig.fake.dm(DC_CUSTOMER, "/new discord side problem");
    tg.wait_for("a forum topic", |f| f.calls("createforumtopic").len() == 1)
        .await;
    rig.fake
        .wait_for("a Discord thread", |f| f.threads().len() == 1)
        .await;
    let dc_thread = rig.fake.threads()[0].0;
    rig.fake.wait_posts(dc_thread, 2).await;
    assert!(rig
        .fake
        .texts(dc_thread)
        .iter()
        .any(|t| t.contains("discord side")));
    assert!(!rig
        .fake
        .texts(dc_thread)
        .iter()
        .any(|t| t.contains("telegram side")));
    assert!(
        rig.fake
            .calls_to("POST", &format!("/channels/{DESK}/threads"))
            .len()
            == 1
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn the_configured_desk_platform_works_every_ticket() {
    let rig = Rig::start_with(Setup {
        discord_desk: true,
        telegram: true,
        telegram_desk: true,
        desk_platform: Some(Platform::Discord),
    })
    .await;
    let tg = rig.telegram.clone().unwrap();
    tg.text(TG_CUSTOMER, "/new telegram side problem");
    tg.wait_sends(TG_CUSTOMER, 1).await;
    rig.fake
        .wait_for("a Discord thread for the Telegram ticket", |f| {
            f.threads().len() == 1
        })
        .await;
    let thread = rig.fake.threads()[0].0;
    rig.fake
        .wait_for("the Telegram customer's words in it", |f| {
            f.texts(thread).iter().any(|t| t.contains("telegram side"))
        })
        .await;
    assert!(tg.calls("createforumtopic").is_empty());
    rig.shutdown().await;
}

#[tokio::test]
async fn a_telegram_desk_works_discord_tickets_with_their_file_links() {
    let rig = Rig::start_with(Setup {
        telegram: true,
        telegram_desk: true,
        ..Setup::default()
    })
    .await;
    let tg = rig.telegram.clone().unwrap();
    let link = "https://cdn.discordapp.com/attachments/1/9/receipt.png";
    rig.fake.dm_with(
        DC_CUSTOMER,
        "/new charged twice, receipt attached",
        serde_json::json!({"attachments": [{"id": "9", "filename": "receipt.png", "size": 10,
            "url": link, "proxy_url": link, "content_type": "image/png"}]}),
    );
    rig.fake.wait_posts(dm_channel(DC_CUSTOMER), 1).await;
    let desk = crate::telegram::fake::DESK;
    tg.wait_for(
        "the Discord customer's words with the file link in the forum",
        |f| {
            f.sends_to(desk)
                .iter()
                .any(|c| c.body["text"].as_str().unwrap_or("").contains(link))
        },
    )
    .await;
    assert_eq!(tg.calls("createforumtopic").len(), 1);
    assert!(rig.fake.threads().is_empty(), "no Discord desk configured");
    // The agent's answer in the forum topic (the fake's first topic is 500) reaches the
    // Discord customer.
    tg.desk_text(
        desk,
        Some(500),
        42,
        "Refund of the double charge is on its way",
    );
    let sent = rig.fake.wait_posts(dm_channel(DC_CUSTOMER), 2).await;
    assert!(
        text_of(&sent[1]).contains("double charge"),
        "{}",
        text_of(&sent[1])
    );
    rig.shutdown().await;
}
