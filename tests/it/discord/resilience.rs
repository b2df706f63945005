//! The gateway connection under stress: a dropped connection resumes and gets what it
//! missed, a refused resume re-identifies and the platform's re-delivery creates nothing
//! twice, and bad input leaves the channel running.

use frontdesk::store::TicketFilter;
use serde_json::json;

use super::fake::{dm_channel, text_of, OTHER_GUILD};
use super::Rig;

#[tokio::test]
async fn a_dropped_connection_resumes_and_gets_the_missed_message() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    rig.fake.drop_connection();
    // Sent while the bot is away: Discord replays it on RESUME.
    rig.fake.dm(1001, "Where is my order?");
    let sent = rig.fake.wait_posts(dm_channel(1001), 2).await;
    assert!(text_of(&sent[1]).contains("Track"), "{}", text_of(&sent[1]));
    assert!(rig.fake.resumes() >= 1, "the session was resumed");
    assert_eq!(rig.fake.identifies(), 1, "no new session needed");
    rig.shutdown().await;
}

#[tokio::test]
async fn a_replayed_message_after_re_identify_creates_nothing_twice() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "/new my parcel never arrived");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    rig.fake.dm(2002, "Where is my order?");
    rig.fake.wait_posts(dm_channel(2002), 1).await;
    rig.fake.press(2002, "human");
    rig.fake.wait_posts(dm_channel(2002), 2).await;
    // The session cannot be resumed: serenity identifies again and Discord delivers every
    // event once more.
    rig.fake.refuse_resume_and_replay();
    rig.fake.drop_connection();
    rig.fake
        .wait_for("a second session", |f| f.identifies() >= 2 && f.connected())
        .await;
    // Events are handled in order: once this one is answered the replays are behind us.
    rig.fake.dm(3003, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(3003), 1).await;
    assert_eq!(
        rig.fake.posts(dm_channel(1001)).len(),
        1,
        "no second reply to a replay"
    );
    assert_eq!(
        rig.fake.posts(dm_channel(2002)).len(),
        2,
        "no second escalation from a replayed press"
    );
    let tickets = rig
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 2, "one ticket per customer");
    rig.shutdown().await;
}

#[tokio::test]
async fn bad_input_leaves_the_channel_running() {
    let rig = Rig::start().await;
    // Empty content with an attachment: a customer message all the same.
    rig.fake.dm_with(
        1001,
        "",
        json!({"attachments": [{"id": "5", "filename": "log.txt", "size": 10,
            "url": "https://cdn.discordapp.com/attachments/1/5/log.txt",
            "proxy_url": "https://media.discordapp.net/attachments/1/5/log.txt"}]}),
    );
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    // A bot, an unknown event, a message missing required fields, junk frames, another
    // server, a 4,000-character message.
    rig.fake.dm_with(2002, "How do I reset my password?", json!({"author": {
        "id": "2002", "username": "bot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true}}));
    rig.fake
        .dispatch("BRAND_NEW_EVENT", json!({"anything": [1, 2, 3]}));
    rig.fake.dispatch(
        "MESSAGE_CREATE",
        json!({"id": "1", "content": "no channel, no author"}),
    );
    rig.fake
        .send_raw(json!({"op": 0, "s": null, "t": null, "d": "not an object"}));
    rig.fake.guild_message(OTHER_GUILD, 4242, 7, "/queue");
    rig.fake
        .dm(3003, &"long question about my order ".repeat(140));
    let long = rig.fake.wait_posts(dm_channel(3003), 1).await;
    assert!(!text_of(&long[0]).is_empty());
    // Still answering.
    rig.fake.dm(4004, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(4004), 1).await;
    assert!(rig.fake.posts(dm_channel(2002)).is_empty());
    assert!(rig.alive());
    rig.shutdown().await;
}

#[tokio::test]
async fn a_press_is_not_answered_while_the_store_fails_and_shutdown_still_ends() {
    let rig = Rig::start().await;
    rig.fake.dm(1001, "How do I reset my password?");
    rig.fake.wait_posts(dm_channel(1001), 1).await;
    rig.sqlite.close().await;
    rig.fake.press(1001, "helped:account.reset-password");
    // The worker retries with backoff (0.5 s, 0.5 s …); none of the attempts stored it, so
    // the interaction stays unanswered.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        rig.fake.callbacks().is_empty(),
        "answered without being stored"
    );
    assert!(rig.alive());
    rig.shutdown().await;
}
