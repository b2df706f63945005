//! Every Discord behaviour through the real `frontdesk run` binary, configured only with
//! the SPEC §8 settings (DISCORD_BOT_TOKEN, DISCORD_API_URL, DISCORD_DESK_CHANNEL_ID),
//! against the fake Discord: FAQ answer and click, escalation with a desk thread and the
//! relay both ways, 429 with retry_after, a replay after kill -9, and the start-up lines
//! that say what is missing or wrong. Expected FAQ answers come from
//! `frontdesk faq list --json`, never from hard-coded text.

use std::path::Path;
use std::time::Duration;

use super::fake::{custom_ids, dm_channel, text_of, FakeDiscord, Reply, DESK, TOKEN};
use crate::telegram::binary_door::{cli_json, faq_entry, free_port, wait_delivered, Bin};

const AGENT: u64 = 77;

fn discord_env(fake: &FakeDiscord, desk: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DISCORD_BOT_TOKEN", TOKEN.to_string()),
        ("DISCORD_API_URL", fake.url.clone()),
    ];
    if desk {
        env.push(("DISCORD_DESK_CHANNEL_ID", DESK.to_string()));
    }
    env
}

/// `frontdesk run` with Discord only; waits until its gateway session is up.
async fn start(
    fake: &FakeDiscord,
    dir: &Path,
    desk: bool,
    extra: &[(&'static str, String)],
) -> Bin {
    let mut env = discord_env(fake, desk);
    env.extend(extra.iter().cloned());
    let mut bin = Bin::run(dir, &env);
    bin.wait_log("discord: gateway ready").await;
    bin
}

/// The start of an FAQ answer up to the first character markdown escaping would change.
fn plain_prefix(answer: &str) -> String {
    answer
        .chars()
        .take_while(|c| !matches!(c, '*' | '_' | '~' | '`' | '|' | '[' | ']' | '\\' | '\n'))
        .collect()
}

#[tokio::test]
async fn door_discord_faq_answer_buttons_and_helped_click() {
    let (id, question, answer) = faq_entry();
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = start(&fake, dir.path(), false, &[]).await;
    fake.dm(1001, &question);
    let sent = fake.wait_posts(dm_channel(1001), 1).await;
    let prefix = plain_prefix(&answer);
    assert!(
        text_of(&sent[0]).starts_with(&prefix),
        "{} vs {prefix}",
        text_of(&sent[0])
    );
    assert!(
        custom_ids(&sent[0]).contains(&format!("helped:{id}")),
        "{:?}",
        custom_ids(&sent[0])
    );
    let press = fake.press(1001, &format!("helped:{id}"));
    fake.wait_for("the press answered", |f| {
        f.callbacks()
            .iter()
            .any(|c| c.path.starts_with(&format!("/interactions/{press}/")))
    })
    .await;
    let sent = fake.wait_posts(dm_channel(1001), 2).await;
    assert_eq!(
        text_of(&sent[1]),
        frontdesk::replies::glad_it_helped(frontdesk::domain::Language::En)
    );
    let log = bin.log();
    assert!(!log.contains(TOKEN), "the Discord token is never logged");
    bin.stop().await;
}

#[tokio::test]
async fn door_discord_escalation_thread_and_relay_both_ways() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = start(&fake, dir.path(), true, &[]).await;
    let customer = dm_channel(1001);
    fake.dm(1001, "/new my order arrived broken");
    let sent = fake.wait_posts(customer, 1).await;
    assert!(text_of(&sent[0]).contains("#1"), "{}", text_of(&sent[0]));
    fake.wait_for("a ticket thread", |f| !f.threads().is_empty())
        .await;
    let thread = fake.threads()[0].0;
    let posts = fake.wait_posts(thread, 2).await;
    assert!(posts[0].body["embeds"][0]["description"]
        .as_str()
        .unwrap_or("")
        .contains("#1"));
    assert!(custom_ids(&posts[0]).contains(&"claim:1".to_string()));
    assert!(text_of(&posts[1]).contains("arrived broken"));
    fake.agent_says(thread, AGENT, "/note photos needed");
    fake.agent_says(thread, AGENT, "We will send a replacement");
    let sent = fake.wait_posts(customer, 2).await;
    let texts: Vec<String> = sent.iter().map(text_of).collect();
    assert!(texts.iter().any(|t| t.contains("replacement")), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("photos needed")),
        "{texts:?}"
    );
    fake.dm(1001, "thank you");
    fake.wait_for("the follow-up in the thread", |f| {
        f.texts(thread).iter().any(|t| t.contains("thank you"))
    })
    .await;
    bin.stop().await;
}

#[tokio::test]
async fn door_discord_429_then_success_after_retry_after() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = start(&fake, dir.path(), false, &[]).await;
    fake.script(Reply::RateLimited {
        retry_after: 1.0,
        global: false,
    });
    fake.dm(1001, "/new please call me back");
    let sent = fake.wait_posts(dm_channel(1001), 2).await;
    let gap = sent[1].at - sent[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retry_after honoured: {gap:?}"
    );
    assert!(text_of(&sent[1]).contains("#1"));
    bin.stop().await;
}

#[tokio::test]
async fn door_discord_replay_after_kill_9_creates_nothing_twice() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = start(
        &fake,
        dir.path(),
        false,
        &[("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}"))],
    )
    .await;
    fake.dm(1001, "/new my parcel never arrived");
    fake.wait_posts(dm_channel(1001), 1).await;
    wait_delivered(port, 1).await;
    first.crash();
    // The next session gets every event again (Discord re-delivering what it believes
    // unseen); the database remembers.
    fake.replay_on_next_ready();
    let second = start(&fake, dir.path(), false, &[]).await;
    fake.dm(1001, "/status");
    let sent = fake.wait_posts(dm_channel(1001), 2).await;
    assert!(text_of(&sent[1]).contains("#1"), "{}", text_of(&sent[1]));
    assert_eq!(
        fake.posts(dm_channel(1001)).len(),
        2,
        "{:?}",
        fake.texts(dm_channel(1001))
    );
    let dir = second.stop().await;
    let tickets = cli_json(&dir, &["tickets", "list", "--all", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets}");
}

#[tokio::test]
async fn door_discord_start_up_names_what_is_wrong_in_one_line_each() {
    // A refused token: one line, and the rest of frontdesk keeps running.
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::run(
        dir.path(),
        &[
            ("DISCORD_BOT_TOKEN", "wrong-token".to_string()),
            ("DISCORD_API_URL", fake.url.clone()),
        ],
    );
    bin.wait_log("GET /users/@me: 401").await;
    bin.assert_running();
    assert!(!bin.log().contains("wrong-token"));
    bin.stop().await;

    // A desk channel the bot cannot see.
    let dir = tempfile::tempdir().unwrap();
    let mut bin = start(
        &fake,
        dir.path(),
        false,
        &[("DISCORD_DESK_CHANNEL_ID", "4242".to_string())],
    )
    .await;
    bin.wait_log("the desk channel cannot be read").await;
    bin.stop().await;

    // Missing thread permissions and the message content intent off.
    let fake = FakeDiscord::start().await;
    fake.weaken_role();
    fake.without_content_intent();
    let dir = tempfile::tempdir().unwrap();
    let mut bin = start(&fake, dir.path(), true, &[]).await;
    bin.wait_log("lacks permissions in the desk's server").await;
    bin.wait_log("MESSAGE CONTENT intent is not enabled").await;
    let log = bin.log();
    let line = log
        .lines()
        .find(|l| l.contains("lacks permissions"))
        .unwrap();
    assert!(
        line.contains("Create Public Threads") && line.contains("Manage Threads"),
        "{line}"
    );
    assert!(
        !log.contains("serenity::"),
        "serenity's own chatter stays out of the log"
    );
    bin.stop().await;
}

/// `frontdesk doctor` checks the Discord desk like the Telegram one: all well → an `ok`
/// line; a desk the bot cannot read, or a role without the thread rights → one PROBLEM
/// line each, exit code 1, the token never printed.
#[tokio::test]
async fn doctor_checks_the_discord_desk_permissions_one_line_per_problem() {
    let doctor = |fake: &FakeDiscord, desk: String| {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = crate::telegram::binary_door::frontdesk(dir.path());
        cmd.args(["doctor"])
            .env("DISCORD_BOT_TOKEN", TOKEN)
            .env("DISCORD_API_URL", &fake.url)
            .env("DISCORD_DESK_CHANNEL_ID", desk);
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            drop(dir);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(!text.contains(TOKEN), "the token is never printed");
            let problems: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("PROBLEM"))
                .map(str::to_string)
                .collect();
            (out.status.code(), text, problems)
        }
    };
    let fake = FakeDiscord::start().await;
    let (code, text, problems) = doctor(&fake, DESK.to_string()).await;
    assert_eq!((code, problems.len()), (Some(0), 0), "{text}");
    assert!(
        text.contains("ok      discord: REST API") && text.contains("manage threads"),
        "{text}"
    );
    // A channel the bot cannot read.
    let (code, text, problems) = doctor(&fake, "4242".into()).await;
    assert_eq!((code, problems.len()), (Some(1), 1), "{text}");
    assert!(
        problems[0].contains("the desk channel cannot be read"),
        "{text}"
    );
    // The bot's role lacks the thread permissions: one line naming them.
    fake.weaken_role();
    let (code, text, problems) = doctor(&fake, DESK.to_string()).await;
    assert_eq!((code, problems.len()), (Some(1), 1), "{text}");
    assert!(
        problems[0].contains("lacks permissions")
            && problems[0].contains("Create Public Threads")
            && problems[0].contains("Manage Threads"),
        "{text}"
    );
    assert!(
        !problems[0].contains("View Channels"),
        "only what is missing: {text}"
    );
}
