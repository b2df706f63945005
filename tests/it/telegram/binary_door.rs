//! Every Telegram behaviour through the real `frontdesk run` binary, configured only with
//! the SPEC §8 settings, against the fake Bot API: FAQ answer and click, escalation and
//! `/status` isolation, photos by file id, 429 with retry_after, webhook mode, a
//! re-delivered update after a crash, the desk relay both ways, and bad input.
//! Expected FAQ answers come from `frontdesk faq list --json`, never from hard-coded text.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontdesk::adapters::telegram::WEBHOOK_SECRET_HEADER;
use serde_json::{json, Value};

use super::fake::{private_message, Call, FakeBotApi, Reply, DESK, TOKEN};

const FAQ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/faq");

/// One `frontdesk run` process in a temp working dir (its database lives there too).
/// Shared with the Discord door tests.
pub(crate) struct Bin {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

pub(crate) fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("fd.db").display())
}

/// A `frontdesk` command with only the SPEC §8 settings for `dir`.
pub(crate) fn frontdesk(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FRONTDESK_DATABASE_URL", database_url(dir))
        .env("FRONTDESK_FAQ_DIR", FAQ_DIR);
    cmd
}

impl Bin {
    /// Starts `frontdesk run` (Telegram polling unless `extra` says otherwise).
    pub(crate) fn start(fake: &FakeBotApi, dir: &Path, extra: &[(&str, String)]) -> Bin {
        let mut env = vec![
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
            ("TELEGRAM_API_URL", fake.url.clone()),
        ];
        env.extend(extra.iter().cloned());
        Bin::run(dir, &env)
    }

    /// Starts `frontdesk run` with only the SPEC §8 settings in `env` (later ones win).
    pub(crate) fn run(dir: &Path, env: &[(&str, String)]) -> Bin {
        let log = dir.join(format!("frontdesk-{}.log", fastrand::u32(..)));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = frontdesk(dir);
        cmd.arg("run")
            .env("FRONTDESK_HTTP_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start frontdesk");
        Bin {
            child,
            dir: dir.to_path_buf(),
            log,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle`.
    pub(crate) async fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.log();
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                let _ = self.child.kill();
                panic!("no {needle:?} in the log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 15 s) until `check` holds on the fake; panics with the log otherwise.
    async fn wait_fake(&self, fake: &FakeBotApi, what: &str, check: impl Fn(&FakeBotApi) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !check(fake) {
            if Instant::now() > deadline {
                let polls: Vec<String> = fake
                    .calls("getupdates")
                    .iter()
                    .map(|c| c.body.to_string())
                    .collect();
                panic!(
                    "timed out waiting for {what}; getUpdates {polls:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "frontdesk exited; log:\n{}",
            self.log()
        );
    }

    /// SIGTERM, then a clean exit within the deadline; the token never reached the log.
    pub(crate) async fn stop(mut self) -> PathBuf {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("frontdesk did not stop after SIGTERM; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = self.log();
        assert!(status.success(), "exit {status:?}; log:\n{log}");
        assert!(!log.contains(TOKEN), "the bot token must never be logged");
        assert!(!log.contains("panicked"), "{log}");
        self.dir
    }

    /// SIGKILL: a crash, nothing gets to finish.
    pub(crate) fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Runs a `frontdesk` CLI command on `dir`'s database; returns its JSON output.
pub(crate) fn cli_json(dir: &Path, args: &[&str]) -> Value {
    let out = frontdesk(dir).args(args).output().expect("run frontdesk");
    assert!(
        out.status.success(),
        "frontdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// The first knowledge-base entry as `frontdesk faq list --json` shows it: (id, a question,
/// the start of its answer up to the first character HTML escaping would change).
pub(crate) fn faq_entry() -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let list = cli_json(dir.path(), &["faq", "list", "--json"]);
    let entry = &list.as_array().expect("a list")[0];
    let id = entry["id"].as_str().unwrap().to_string();
    let question = entry["questions"][0].as_str().unwrap().to_string();
    let answer: String = entry["answer"]
        .as_str()
        .unwrap()
        .chars()
        .take_while(|c| !matches!(c, '<' | '>' | '&' | '"' | '\'' | '\n'))
        .take(40)
        .collect();
    assert!(answer.len() >= 10, "{entry}");
    (id, question, answer)
}

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

pub(crate) fn text_of(call: &Call) -> &str {
    call.body["text"].as_str().unwrap_or_default()
}

async fn polling(fake: &FakeBotApi) {
    fake.wait_for("the binary to poll", |f| f.count("getupdates") > 0)
        .await;
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// (1) FAQ answer with buttons; the click is answered and "glad it helped" follows.
#[tokio::test]
async fn door_faq_answer_buttons_and_helped_click() {
    let (id, question, answer) = faq_entry();
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(&fake, dir.path(), &[]);
    polling(&fake).await;
    fake.text(1001, &question);
    let sent = fake.wait_sends(1001, 1).await;
    assert!(text_of(&sent[0]).contains(&answer), "{}", text_of(&sent[0]));
    let data = button_data(&sent[0]);
    let helped = format!("helped:{id}");
    assert!(data.contains(&helped), "{data:?}");
    assert!(data.iter().any(|d| d.starts_with("human")), "{data:?}");

    let callback = fake.press(1001, &helped, 2);
    fake.wait_for("answerCallbackQuery", |f| {
        f.calls("answercallbackquery")
            .iter()
            .any(|c| c.body["callback_query_id"] == callback.as_str())
    })
    .await;
    let sent = fake.wait_sends(1001, 2).await;
    assert_eq!(
        text_of(&sent[1]),
        frontdesk::replies::glad_it_helped(frontdesk::domain::Language::En)
    );
    fake.settle().await;
    assert_eq!(fake.sends_to(1001).len(), 2, "{:?}", fake.texts_to(1001));
    bin.stop().await;
}

// (2) Escalation tells the ticket number; /status shows each customer only their own.
#[tokio::test]
async fn door_escalation_and_status_isolation() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(&fake, dir.path(), &[]);
    polling(&fake).await;
    fake.text(1001, "/human the app crashes when I pay");
    let a = fake.wait_sends(1001, 1).await;
    assert!(text_of(&a[0]).contains("#1"), "{}", text_of(&a[0]));
    assert!(text_of(&a[0]).contains("priority P"), "{}", text_of(&a[0]));
    fake.text(2002, "/human refund for order 7");
    let b = fake.wait_sends(2002, 1).await;
    assert!(text_of(&b[0]).contains("#2"), "{}", text_of(&b[0]));
    fake.text(1001, "/status");
    fake.text(2002, "/status");
    let a = fake.wait_sends(1001, 2).await;
    let b = fake.wait_sends(2002, 2).await;
    let (a, b) = (text_of(&a[1]), text_of(&b[1]));
    assert!(a.contains("#1") && !a.contains("#2"), "{a}");
    assert!(b.contains("#2") && !b.contains("#1"), "{b}");
    let dir = bin.stop().await;
    let tickets = cli_json(&dir, &["tickets", "list", "--all", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 2, "{tickets}");
}

// (3) A photo goes to the ticket by file id (the largest size), nothing is downloaded.
#[tokio::test]
async fn door_photo_goes_to_the_ticket_by_file_id() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(&fake, dir.path(), &[]);
    polling(&fake).await;
    fake.text(1001, "/human my screen is cracked");
    fake.wait_text(1001, "#1").await;
    let photo = private_message(
        &fake,
        1001,
        json!({
            "caption": "here is the screen",
            "photo": [
                {"file_id": "photo-small", "file_unique_id": "a", "width": 90, "height": 60},
                {"file_id": "photo-large", "file_unique_id": "b", "width": 1280, "height": 853}
            ]
        }),
    );
    fake.push("message", photo);
    fake.wait_sends(1001, 2).await;
    assert!(fake.calls("getfile").is_empty() && fake.calls("sendphoto").is_empty());
    let dir = bin.stop().await;
    let details = cli_json(&dir, &["tickets", "show", "1", "--json"]);
    let files: Vec<(String, String)> = details["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["kind"].as_str().unwrap_or_default().to_string(),
                a["reference"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![("photo".to_string(), "photo-large".to_string())],
        "{details}"
    );
    assert!(
        details.to_string().contains("here is the screen"),
        "{details}"
    );
}

// (4) 429 with retry_after: the reply arrives, and not before the wait.
#[tokio::test]
async fn door_429_then_success_after_retry_after() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(&fake, dir.path(), &[]);
    polling(&fake).await;
    fake.script_send(Reply::RetryAfter(2));
    fake.text(1001, "/start");
    let sent = fake.wait_sends(1001, 2).await;
    let gap = sent[1].at - sent[0].at;
    assert!(
        gap >= Duration::from_millis(1950),
        "retry_after honoured: {gap:?}"
    );
    assert_eq!(sent[0].body["text"], sent[1].body["text"]);
    fake.settle().await;
    assert_eq!(fake.sends_to(1001).len(), 2);
    bin.stop().await;
}

// (5) Webhook mode: setWebhook with url + secret; the secret is checked; a re-delivery
// is acknowledged and answered once.
#[tokio::test]
async fn door_webhook_mode() {
    const SECRET: &str = "hook-secret_42";
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/tg/hook");
    let bin = Bin::start(
        &fake,
        dir.path(),
        &[
            ("TELEGRAM_WEBHOOK_URL", hook.clone()),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
            ("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ],
    );
    fake.wait_for("setWebhook", |f| f.count("setwebhook") > 0)
        .await;
    let set = &fake.calls("setwebhook")[0].body;
    assert_eq!(set["url"], hook.as_str(), "{set}");
    assert_eq!(set["secret_token"], SECRET, "{set}");

    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.get(&health).send().await.is_err() {
        assert!(Instant::now() < deadline, "HTTP server never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let update = json!({
        "update_id": 5001,
        "message": private_message(&fake, 1001, json!({"text": "/human my card was charged twice"}))
    });
    let missing = client.post(&hook).json(&update).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = client
        .post(&hook)
        .header(WEBHOOK_SECRET_HEADER, "guess")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    fake.settle().await;
    assert!(fake.sends_to(1001).is_empty());

    for _ in 0..2 {
        let accepted = client
            .post(&hook)
            .header(WEBHOOK_SECRET_HEADER, SECRET)
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 200);
    }
    let sent = fake.wait_sends(1001, 1).await;
    assert!(text_of(&sent[0]).contains("#1"), "{}", text_of(&sent[0]));
    fake.settle().await;
    assert_eq!(fake.sends_to(1001).len(), 1, "{:?}", fake.texts_to(1001));
    assert_eq!(fake.count("getupdates"), 0, "no polling in webhook mode");
    let dir = bin.stop().await;
    let tickets = cli_json(&dir, &["tickets", "list", "--all", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets}");
}

// (5b) Refused webhook requests store nothing at all.
#[tokio::test]
async fn door_webhook_without_the_secret_stores_nothing() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/tg/hook");
    let bin = Bin::start(
        &fake,
        dir.path(),
        &[
            ("TELEGRAM_WEBHOOK_URL", hook.clone()),
            ("TELEGRAM_WEBHOOK_SECRET", "s3cret".to_string()),
            ("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ],
    );
    fake.wait_for("setWebhook", |f| f.count("setwebhook") > 0)
        .await;
    let client = reqwest::Client::new();
    let update = json!({
        "update_id": 6001,
        "message": private_message(&fake, 1001, json!({"text": "/human lost parcel"}))
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        match client.post(&hook).json(&update).send().await {
            Ok(response) => break response.status(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("webhook unreachable: {e}"),
        }
    };
    assert_eq!(status, 401);
    let wrong = client
        .post(&hook)
        .header(WEBHOOK_SECRET_HEADER, "S3CRET")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    fake.settle().await;
    let dir = bin.stop().await;
    assert!(fake.sends_to(1001).is_empty());
    let tickets = cli_json(&dir, &["tickets", "list", "--all", "--json"]);
    assert_eq!(tickets, json!([]));
}

// (6) A crash after processing; Telegram serves the same update to the next process on
// the same database: nothing happens twice.
#[tokio::test]
async fn door_redelivered_update_after_a_crash_is_ignored() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = Bin::start(
        &fake,
        dir.path(),
        &[("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}"))],
    );
    polling(&fake).await;
    let update = fake.text(1001, "/human my parcel never arrived");
    fake.wait_text(1001, "#1").await;
    // Crash once the reply is recorded as sent (a crash inside the delivery window may
    // legitimately send that one reply again, after the lease runs out: SPEC §9).
    wait_delivered(port, 1).await;
    first.crash();
    fake.replay_all();
    let polls = fake.count("getupdates");
    let second = Bin::start(&fake, dir.path(), &[]);
    second
        .wait_fake(&fake, "the replayed update to be confirmed", |f| {
            f.calls("getupdates")
                .iter()
                .skip(polls)
                .any(|c| c.body["offset"].as_i64().unwrap_or(0) > update)
        })
        .await;
    fake.text(1001, "/status");
    let sent = fake.wait_sends(1001, 2).await;
    assert!(text_of(&sent[1]).contains("#1"), "{}", text_of(&sent[1]));
    fake.settle().await;
    assert_eq!(fake.sends_to(1001).len(), 2, "{:?}", fake.texts_to(1001));
    let dir = second.stop().await;
    let tickets = cli_json(&dir, &["tickets", "list", "--all", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets}");
    let details = cli_json(&dir, &["tickets", "show", "1", "--json"]);
    let parcel = details["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.to_string().contains("parcel never arrived"))
        .count();
    assert_eq!(parcel, 1, "{details}");
}

// (7) The desk relay both ways: a topic per ticket with the customer's words; the agent's
// words reach the customer, a /note does not. Kept to few desk messages: the binary runs
// with Telegram's real group pace (one message every 3 s), and the in-process desk tests
// cover the rest (photos mirrored, confirmations, card buttons).
#[tokio::test]
async fn door_desk_relay_both_ways() {
    const AGENT: i64 = 42;
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::start(
        &fake,
        dir.path(),
        &[("TELEGRAM_DESK_CHAT_ID", DESK.to_string())],
    );
    bin.wait_log("desk chat ready").await;
    polling(&fake).await;
    fake.text(1001, "/human router broken");
    fake.wait_text(1001, "#1").await;
    let topics = fake.wait_topics(1).await;
    let thread = topics[0].0;
    // Opening the topic took the desk's slot: the card waits 3 s for the next one
    // (Telegram's 20 a minute in a group). Another customer must not wait with it.
    fake.text(2002, "/status");
    let card = fake.wait_thread_text(DESK, thread, "Ticket #1").await;
    assert!(
        text_of(&card).contains("router broken"),
        "{}",
        text_of(&card)
    );
    let status = fake.wait_sends(2002, 1).await;
    assert!(
        status[0].at < card.at,
        "a reply to another customer waited for the desk's pace"
    );
    // Meanwhile the customer's words wait for the desk's next slot (3 s after the card).
    // The agent answers in that time: the answer must not wait with them.
    fake.settle().await;
    // Updates are handled in order: once the agent's words reach the customer, the note
    // before them has been handled too.
    fake.desk_text(DESK, Some(thread), AGENT, "/note customer sounds angry");
    fake.desk_text(DESK, Some(thread), AGENT, "Unplug it <now> & wait");
    let sent = fake.wait_text(1001, "Unplug it").await;
    assert_eq!(sent.body["text"], "Unplug it &lt;now&gt; &amp; wait");
    let line = fake
        .wait_thread_text(DESK, thread, "Customer1001 (#1)")
        .await;
    assert!(
        sent.at < line.at,
        "the agent's answer waited for the desk's pace"
    );
    assert!(
        fake.texts_to(1001).iter().all(|t| !t.contains("angry")),
        "a note reached the customer: {:?}",
        fake.texts_to(1001)
    );
    assert_eq!(fake.topics().len(), 1);
    let dir = bin.stop().await;
    let details = cli_json(&dir, &["tickets", "show", "1", "--json"]);
    assert!(
        details.to_string().contains("customer sounds angry"),
        "{details}"
    );
}

// (8) Bad input leaves it running and a normal message still gets its reply.
#[tokio::test]
async fn door_bad_input_leaves_it_running() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::start(&fake, dir.path(), &[]);
    polling(&fake).await;
    fake.push("brand_new_kind", json!({"x": 1}));
    let long: String = "why is my order late "
        .repeat(250)
        .chars()
        .take(5000)
        .collect();
    assert_eq!(long.chars().count(), 5000);
    fake.text(1002, &long);
    let callback = fake.press(1003, "no-such-action:§", 1);
    fake.push(
        "message",
        json!({"message_id": 6, "date": 1_700_000_000,
               "chat": {"id": -100123, "type": "supergroup", "title": "Some group"},
               "from": super::fake::customer(3003, "en"), "text": "hello group"}),
    );
    fake.text(1001, "/status");

    let status = fake.wait_sends(1001, 1).await;
    assert!(
        text_of(&status[0]).contains("no tickets") || text_of(&status[0]).contains("tickets"),
        "{}",
        text_of(&status[0])
    );
    fake.wait_for("the unknown button to be answered", |f| {
        f.calls("answercallbackquery")
            .iter()
            .any(|c| c.body["callback_query_id"] == callback.as_str())
    })
    .await;
    // The pressed button that means nothing gets a polite word, not silence.
    fake.wait_sends(1003, 1).await;
    // The long message is a message like any other: it gets its reply.
    fake.wait_sends(1002, 1).await;
    fake.settle().await;
    assert_eq!(fake.sends_to(1003).len(), 1, "{:?}", fake.texts_to(1003));
    assert!(fake.sends_to(-100123).is_empty(), "no replies in groups");
    assert!(fake.sends_to(3003).is_empty());
    bin.assert_running();
    fake.text(1001, "/start");
    fake.wait_sends(1001, 2).await;
    bin.stop().await;
}

/// Waits until the process's outbox has sent `n` items and has none pending.
pub(crate) async fn wait_delivered(port: u16, n: u64) {
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body: Value = match reqwest::get(&health).await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if body["outbox"]["sent"].as_u64() >= Some(n) && body["outbox"]["pending"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "replies never recorded: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
