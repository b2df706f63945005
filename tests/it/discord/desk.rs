//! The agents' desk on Discord: a public thread per ticket with the card, customer words
//! mirrored (escaped), agents' replies relayed, /note kept internal, desk commands as text
//! and as slash commands, card buttons, archive on close and unarchive on reopen, the
//! customer's Solved / Not solved and rating buttons, and what the desk must ignore.

use frontdesk::domain::{TicketNo, TicketState};
use frontdesk::store::TicketFilter;

use super::fake::{custom_ids, dm_channel, text_of, APP_ID, DESK, GUILD, OTHER_GUILD};
use super::Rig;

const AGENT: u64 = 77;

/// A customer escalates; returns the ticket's thread id once its card is posted.
async fn escalate(rig: &Rig, customer: u64, text: &str) -> u64 {
    rig.fake.dm(customer, text);
    rig.fake
        .wait_for("a ticket thread", |f| !f.threads().is_empty())
        .await;
    let thread = rig.fake.threads().last().unwrap().0;
    rig.fake.wait_posts(thread, 1).await;
    thread
}

#[tokio::test]
async fn escalation_opens_a_public_thread_with_the_card_and_the_customers_words() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new my **invoice** is wrong").await;
    let create = rig
        .fake
        .calls_to("POST", &format!("/channels/{DESK}/threads"));
    assert_eq!(create.len(), 1);
    assert_eq!(create[0].body["type"], 11, "a public thread");
    let name = create[0].body["name"].as_str().unwrap();
    assert!(name.starts_with("#1 P"), "{name}");
    let posts = rig.fake.wait_posts(thread, 2).await;
    let card = &posts[0];
    let embed = card.body["embeds"][0]["description"].as_str().unwrap();
    assert!(embed.contains("Ticket #1"), "{embed}");
    let ids = custom_ids(card);
    for id in ["claim:1", "resolve:1", "prio:1:P1"] {
        assert!(ids.contains(&id.to_string()), "{ids:?}");
    }
    // The customer's words, markdown escaped so they show as written.
    let mirrored = text_of(&posts[1]);
    assert!(mirrored.contains("\\*\\*invoice\\*\\*"), "{mirrored}");
    // Desk slash commands registered in the desk's server.
    rig.fake
        .wait_for("guild slash commands", |f| {
            !f.calls_to(
                "PUT",
                &format!("/applications/{APP_ID}/guilds/{GUILD}/commands"),
            )
            .is_empty()
        })
        .await;
    let put = rig.fake.calls_to(
        "PUT",
        &format!("/applications/{APP_ID}/guilds/{GUILD}/commands"),
    );
    let names = put[0].body.to_string();
    for name in [
        "claim", "note", "resolve", "queue", "find", "priority", "assign",
    ] {
        assert!(names.contains(&format!("\"{name}\"")), "{names}");
    }
    rig.shutdown().await;
}

#[tokio::test]
async fn agent_replies_relay_and_notes_stay_internal() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new the app crashes on start").await;
    let customer = dm_channel(1001);
    rig.fake.wait_posts(customer, 1).await;
    rig.fake
        .agent_says(thread, AGENT, "/note customer is on android 9");
    rig.fake
        .agent_says(thread, AGENT, "Please reinstall the app");
    let sent = rig.fake.wait_posts(customer, 2).await;
    let all: Vec<String> = sent.iter().map(text_of).collect();
    assert!(
        all.iter().any(|t| t.contains("Please reinstall the app")),
        "{all:?}"
    );
    assert!(
        !all.iter().any(|t| t.contains("android")),
        "a note never reaches the customer: {all:?}"
    );
    // The customer's follow-up is mirrored into the thread.
    rig.fake.dm(1001, "still crashing_after_reinstall");
    rig.fake
        .wait_for("the follow-up in the thread", |f| {
            f.texts(thread)
                .iter()
                .any(|t| t.contains("still crashing\\_after\\_reinstall"))
        })
        .await;
    let details = rig
        .store
        .ticket_details(TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert!(details
        .messages
        .iter()
        .any(|m| m.text.contains("android 9")));
    rig.shutdown().await;
}

#[tokio::test]
async fn slash_commands_and_card_buttons_work_like_typed_commands() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new refund for order 12").await;
    let customer = dm_channel(1001);
    rig.fake.wait_posts(customer, 1).await;
    let claim = rig
        .fake
        .command(AGENT, Some(GUILD), thread, "claim", None, "en-US");
    let sent = rig.fake.wait_posts(customer, 2).await;
    assert!(
        text_of(&sent[1]).contains("agent is now working"),
        "{}",
        text_of(&sent[1])
    );
    rig.fake
        .wait_for("the command answered", |f| {
            f.callbacks()
                .iter()
                .any(|c| c.path.starts_with(&format!("/interactions/{claim}/")))
        })
        .await;
    let press = rig.fake.agent_press(AGENT, thread, "prio:1:P1");
    rig.fake
        .wait_for("the thread renamed to P1", |f| {
            f.threads()
                .iter()
                .any(|(id, name, _)| *id == thread && name.contains("P1"))
        })
        .await;
    assert!(rig
        .fake
        .callbacks()
        .iter()
        .any(|c| c.path.starts_with(&format!("/interactions/{press}/"))));
    let ticket = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(ticket.priority, frontdesk::domain::Priority::P1);
    // Desk-wide commands in the desk channel itself.
    rig.fake.agent_says(DESK, AGENT, "/queue");
    rig.fake
        .wait_for("the queue in the desk channel", |f| {
            f.texts(DESK)
                .iter()
                .any(|t| t.contains("#1") && !t.starts_with("🆕"))
        })
        .await;
    rig.shutdown().await;
}

#[tokio::test]
async fn resolve_solved_rating_archive_and_reopen_unarchive() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new cannot log in").await;
    let customer = dm_channel(1001);
    rig.fake.wait_posts(customer, 1).await;
    rig.fake.command(
        AGENT,
        Some(GUILD),
        thread,
        "resolve",
        Some(("solution", "Reset your password from the app")),
        "en-US",
    );
    let sent = rig.fake.wait_posts(customer, 2).await;
    let solution = sent.last().unwrap();
    assert!(text_of(solution).contains("Reset your password from the app"));
    assert_eq!(
        custom_ids(solution),
        vec!["solved:1".to_string(), "notsolved:1".to_string()]
    );
    rig.fake.press(1001, "solved:1");
    rig.fake
        .wait_for("the thread archived", |f| {
            f.threads()
                .iter()
                .any(|(id, _, archived)| *id == thread && *archived)
        })
        .await;
    let sent = rig.fake.wait_posts(customer, 3).await;
    let rating = sent
        .iter()
        .find(|c| custom_ids(c).iter().any(|d| d.starts_with("rate:1:")))
        .expect("rating buttons");
    assert_eq!(custom_ids(rating).len(), 5);
    rig.fake.press(1001, "rate:1:5");
    rig.fake.agent_says(thread, AGENT, "/reopen");
    rig.fake
        .wait_for("the thread unarchived", |f| {
            f.calls_to("PATCH", &format!("/channels/{thread}"))
                .iter()
                .any(|c| c.body["archived"] == false)
        })
        .await;
    let ticket = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(ticket.state, TicketState::Open);
    rig.shutdown().await;
}

#[tokio::test]
async fn other_servers_channels_and_bots_are_ignored() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new broken charger").await;
    let customer = dm_channel(1001);
    rig.fake.wait_posts(customer, 1).await;
    rig.fake
        .guild_message(OTHER_GUILD, thread, AGENT, "relay me from elsewhere");
    rig.fake.agent_says(12345, AGENT, "/queue");
    rig.fake
        .agent_says(12345, AGENT, "chatter in another channel");
    rig.fake.agent_says(DESK, AGENT, "good morning team");
    rig.fake.dispatch("MESSAGE_CREATE", {
        let id = rig.fake.next_id();
        serde_json::json!({
            "id": id.to_string(), "channel_id": thread.to_string(), "guild_id": GUILD.to_string(),
            "author": {"id": "900", "username": "frontdesk", "discriminator": "0", "global_name": null, "avatar": null, "bot": true},
            "content": "echo of the bot's own message", "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0
        })
    });
    // A real agent message afterwards is relayed; nothing before it was.
    rig.fake.agent_says(thread, AGENT, "the real answer");
    let sent = rig.fake.wait_posts(customer, 2).await;
    let all: Vec<String> = sent.iter().map(text_of).collect();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].contains("the real answer"), "{all:?}");
    assert!(rig.fake.posts(12345).is_empty());
    assert!(
        !rig.fake
            .texts(DESK)
            .iter()
            .any(|t| t.contains("#1") && !t.starts_with("🆕")),
        "no /queue answer for other channels"
    );
    rig.shutdown().await;
}

#[tokio::test]
async fn ask_waits_on_the_customer_and_their_answer_reaches_the_thread() {
    let rig = Rig::start_with_desk().await;
    let thread = escalate(&rig, 1001, "/new my refund is late").await;
    let customer = dm_channel(1001);
    rig.fake.wait_posts(customer, 1).await;
    rig.fake.command(
        AGENT,
        Some(GUILD),
        thread,
        "ask",
        Some(("text", "Which order number?")),
        "en-US",
    );
    let sent = rig.fake.wait_posts(customer, 2).await;
    assert!(
        text_of(&sent[1]).contains("Which order number?"),
        "{}",
        text_of(&sent[1])
    );
    let ticket = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(ticket.state, TicketState::WaitingOnCustomer);
    rig.fake.dm(1001, "order 4711");
    rig.fake
        .wait_for("the answer in the thread", |f| {
            f.texts(thread).iter().any(|t| t.contains("order 4711"))
        })
        .await;
    let ticket = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(ticket.state, TicketState::Open);
    rig.shutdown().await;
}
