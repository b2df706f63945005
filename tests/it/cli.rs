//! The `frontdesk` binary from the outside: `run` + `/healthz` + clean shutdown, scripted
//! `chat`, `tickets`, and the `faq` commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_faq() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("faq")
}

/// The binary with a clean environment: no tokens, a temp working directory.
pub fn frontdesk(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
    cmd.current_dir(dir)
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_BOT_TOKEN")
        .env_remove("FRONTDESK_DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("FRONTDESK_FAQ_DIR", repo_faq());
    cmd
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn chat(dir: &Path, user: &str, script: &str) -> String {
    let mut child = frontdesk(dir)
        .args(["chat", "--user", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "chat failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn run_serves_healthz_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = frontdesk(dir.path())
        .arg("run")
        .env("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    let health: serde_json::Value = loop {
        if let Ok(resp) = reqwest::get(&url).await {
            assert_eq!(resp.status(), 200);
            break resp.json().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "healthz never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["database"]["ok"], true);
    assert!(
        health["knowledge_base_entries"].as_u64().unwrap() >= 40,
        "{health}"
    );
    assert_eq!(health["channels"], serde_json::json!(["console"]));
    assert!(
        dir.path().join("frontdesk.db").exists(),
        "database file created in the working directory"
    );
    assert!(
        dir.path().join("frontdesk.db-wal").exists(),
        "WAL journal mode"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {:?}\n{log}", out.status);
    assert!(
        log.contains("TELEGRAM_BOT_TOKEN") && log.contains("DISCORD_BOT_TOKEN"),
        "says what to set: {log}"
    );
    assert!(log.contains("stopped cleanly"), "{log}");
}

#[test]
fn run_refuses_a_broken_knowledge_base_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[topic]\ntitle = { en = \"x\", zh = \"y\" }\n[[entry]\nid = 1\n",
    )
    .unwrap();
    let out = frontdesk(dir.path())
        .arg("run")
        .env("FRONTDESK_FAQ_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3"), "{err}");
}

#[test]
fn scripted_chat_escalates_and_status_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = chat(
        dir.path(),
        "ana",
        "hello\nMy order arrived with a cracked screen and the box was crushed, what now?\nHere is a second detail\n",
    );
    // A report that the customer's own order went wrong goes to a person at once.
    assert!(
        first.contains("ticket #1 (priority P2)"),
        "a ticket, no canned answer first: {first}"
    );
    assert!(first.contains("bot> "), "{first}");
    assert!(first.contains("#1"), "ticket number told: {first}");
    assert!(first.contains("Added to your ticket #1"), "{first}");

    // A new process, same database: the ticket is still there.
    let second = chat(dir.path(), "ana", "/status\n");
    assert!(second.contains("#1"), "{second}");
    let other = chat(dir.path(), "bob", "/status\n");
    assert!(
        !other.contains("#1"),
        "another customer never sees it: {other}"
    );

    let list = frontdesk(dir.path())
        .args(["tickets", "list", "--json"])
        .output()
        .unwrap();
    assert!(list.status.success());
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    let show = frontdesk(dir.path())
        .args(["tickets", "show", "1", "--json"])
        .output()
        .unwrap();
    let details: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        details["messages"].as_array().unwrap().len(),
        2,
        "{details}"
    );
    let missing = frontdesk(dir.path())
        .args(["tickets", "show", "99"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[test]
fn chat_buttons_are_pressed_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let out = chat(dir.path(), "ana", "How do I reset my password?\n1\n");
    assert!(out.contains("[1] That helped"), "{out}");
    assert!(out.contains("glad"), "{out}");
}

#[test]
fn faq_check_passes_on_the_shipped_kb_and_fails_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let ok = frontdesk(dir.path())
        .args(["faq", "check"])
        .arg(repo_faq())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    std::fs::write(dir.path().join("broken.toml"), "[topic\n").unwrap();
    let bad = frontdesk(dir.path())
        .args(["faq", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("broken.toml:1: "), "{out}");
}

#[test]
fn faq_list_and_match_speak_the_spec_json() {
    let dir = tempfile::tempdir().unwrap();
    let list = frontdesk(dir.path())
        .args(["faq", "list", "--json"])
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let first = &entries[0];
    for field in ["id", "category", "questions", "answer"] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    let out = frontdesk(dir.path())
        .args([
            "faq",
            "match",
            "--json",
            "I was hacked and someone changed my password",
        ])
        .output()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "decision",
        "faq_id",
        "score",
        "answer",
        "suggestions",
        "triage",
    ] {
        assert!(m.get(field).is_some(), "missing {field}: {m}");
    }
    assert_eq!(m["triage"]["priority"], "P1", "{m}");
}

/// `frontdesk prune` deletes what `[retention]` calls old, says how much, and refuses a
/// period short enough to let a redelivered update through twice.
#[tokio::test]
async fn prune_deletes_old_records_and_refuses_unsafe_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    let store = frontdesk::store::sqlite::SqliteStore::open(&url)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let mut tx = frontdesk::store::Store::begin(&store).await.unwrap();
    tx.record_inbound("telegram:update:1", now - chrono::Duration::days(4))
        .await
        .unwrap();
    tx.record_inbound("telegram:update:2", now - chrono::Duration::hours(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;

    let prune = || frontdesk(dir.path()).arg("prune").output().unwrap();
    std::fs::write(
        dir.path().join("frontdesk.toml"),
        "[retention]\ninbound_keys = \"1d\"\n",
    )
    .unwrap();
    let refused = prune();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("retention.inbound_keys"), "{stderr}");

    std::fs::write(
        dir.path().join("frontdesk.toml"),
        "[retention]\ninbound_keys = \"3d\"\n",
    )
    .unwrap();
    let out = prune();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("deleted 1 inbound keys"), "{stdout}");
    let again = String::from_utf8_lossy(&prune().stdout).to_string();
    assert!(again.contains("deleted 0 inbound keys"), "{again}");

    // The newer key still stops its duplicate.
    let store = frontdesk::store::sqlite::SqliteStore::open(&url)
        .await
        .unwrap();
    let mut tx = frontdesk::store::Store::begin(&store).await.unwrap();
    assert!(!tx.record_inbound("telegram:update:2", now).await.unwrap());
    assert!(tx.record_inbound("telegram:update:1", now).await.unwrap());
}

/// `frontdesk customer purge` erases a customer on request (SPEC §7), refuses while one of
/// their tickets is open, and says so when there is nobody to erase.
#[test]
fn customer_purge_erases_on_request_and_refuses_with_an_open_ticket() {
    let dir = tempfile::tempdir().unwrap();
    chat(dir.path(), "bob", "How do I reset my password?\n");
    chat(
        dir.path(),
        "ana",
        "My order arrived with a cracked screen and the box was crushed, what now?\n2\n",
    );
    let purge = |who: &str| {
        frontdesk(dir.path())
            .args(["customer", "purge", who])
            .output()
            .unwrap()
    };

    let refused = purge("console:ana");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("open tickets #1"), "{stderr}");
    assert!(stderr.contains("nothing was erased"), "{stderr}");

    let done = purge("console:bob");
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(stdout.contains("erased customer console:bob"), "{stdout}");
    assert!(stdout.contains("0 tickets"), "{stdout}");
    assert!(
        !stdout.contains("0 outbox items"),
        "the FAQ answer sent to bob is erased: {stdout}"
    );

    let again = purge("console:bob");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no customer console:bob"));
    let malformed = purge("bob");
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("platform:user_id"));

    // Ana's ticket is untouched.
    let show = frontdesk(dir.path())
        .args(["tickets", "show", "1", "--json"])
        .output()
        .unwrap();
    let details: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(details["customer"]["display_name"], "ana");
}
