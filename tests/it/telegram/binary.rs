//! From outside: the real `frontdesk run` binary talks to the fake Bot API, answers a
//! customer, and exits cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fake::{FakeBotApi, DESK, TOKEN};

/// `frontdesk run` against the fake with the desk configured; stderr goes to the log file.
fn start_with_desk(fake: &FakeBotApi, dir: &std::path::Path) -> std::process::Child {
    let log = std::fs::File::create(dir.join("frontdesk.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .arg("run")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "FRONTDESK_DATABASE_URL",
            format!("sqlite://{}", dir.join("fd.db").display()),
        )
        .env(
            "FRONTDESK_FAQ_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/faq"),
        )
        .env("FRONTDESK_HTTP_ADDR", "127.0.0.1:0")
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", &fake.url)
        .env("TELEGRAM_DESK_CHAT_ID", DESK.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start frontdesk")
}

/// Waits until the log holds `needle`; returns the log.
async fn wait_log(child: &mut std::process::Child, dir: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(dir.join("frontdesk.log")).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no {needle:?} in the log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn binary_with_a_desk_opens_a_topic_per_ticket() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_with_desk(&fake, dir.path());
    wait_log(&mut child, dir.path(), "desk chat ready").await;
    fake.wait_for("the binary to poll", |f| !f.calls("getupdates").is_empty())
        .await;
    fake.text(4242, "/human my order never arrived");
    let topics = fake.wait_topics(1).await;
    assert!(topics[0].1.starts_with("#1 "), "{topics:?}");
    fake.wait_thread_text(DESK, topics[0].0, "Ticket #1").await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn binary_names_desk_problems_in_one_line_each() {
    let fake = FakeBotApi::start().await;
    fake.misconfigure_desk();
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_with_desk(&fake, dir.path());
    wait_log(&mut child, dir.path(), "Manage topics").await;
    let log = wait_log(&mut child, dir.path(), "not a forum").await;
    assert_eq!(
        log.lines().filter(|l| l.contains("not a forum")).count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("Manage topics")).count(),
        1,
        "{log}"
    );
    assert!(!log.contains("desk chat ready"), "{log}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn binary_answers_over_telegram_and_stops_on_sigterm() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let faq = concat!(env!("CARGO_MANIFEST_DIR"), "/faq");
    let log_path = dir.path().join("frontdesk.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .arg("run")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "FRONTDESK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("fd.db").display()),
        )
        .env("FRONTDESK_FAQ_DIR", faq)
        .env("FRONTDESK_HTTP_ADDR", "127.0.0.1:0")
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", &fake.url)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start frontdesk");

    fake.wait_for("the binary to poll", |f| !f.calls("getupdates").is_empty())
        .await;
    fake.text(4242, "/start");
    let sent = fake.wait_sends(4242, 1).await;
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    assert!(!sent[0].body["text"].as_str().unwrap().is_empty());

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("frontdesk did not stop after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "exit {status:?}; log:\n{stderr}");
    assert!(
        !stderr.contains(TOKEN),
        "the bot token must never be logged"
    );
    assert!(stderr.contains("telegram: connected"), "{stderr}");
}

#[tokio::test]
async fn binary_with_a_refused_token_says_so_in_one_line_and_keeps_running() {
    let fake = FakeBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("frontdesk.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .arg("run")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "FRONTDESK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("fd.db").display()),
        )
        .env(
            "FRONTDESK_FAQ_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/faq"),
        )
        .env("FRONTDESK_HTTP_ADDR", "127.0.0.1:0")
        .env("TELEGRAM_BOT_TOKEN", "42:refused-secret-token")
        .env("TELEGRAM_API_URL", &fake.url)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start frontdesk");
    let deadline = Instant::now() + Duration::from_secs(15);
    let stderr = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("token was refused") {
            break text;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no refused-token line; log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("token was refused"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains("refused-secret-token"),
        "token printed: {stderr}"
    );
    assert!(
        fake.calls("getupdates").is_empty(),
        "no polling with a refused token"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process keeps running"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("frontdesk did not stop after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
