//! The `frontdesk` binary on PostgreSQL: `migrate`, `doctor` (database, settings, the Bot
//! API and the desk's permissions, one line per problem), and the database going away —
//! at start (clear error, retried with backoff until it answers) and mid-run (the webhook
//! is not acknowledged until the update is stored; it recovers by itself). The database
//! "goes away" through a proxy the test stops; the real server is never touched.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use frontdesk::adapters::telegram::WEBHOOK_SECRET_HEADER;
use serde_json::json;

use super::binary_door::{free_port, frontdesk, Bin};
use super::fake::{private_message, FakeBotApi, DESK, TOKEN};
use crate::pg::{PgProxy, PgSchema};

/// Runs `frontdesk args…` with `env` (off the async runtime: it may take a while).
async fn cli(dir: &Path, env: Vec<(&'static str, String)>, args: &[&str]) -> Output {
    let mut cmd = frontdesk(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn migrate_creates_the_schema_once_and_reports_its_version() {
    let schema = PgSchema::new();
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = cli(
            dir.path(),
            vec![("FRONTDESK_DATABASE_URL", schema.url())],
            &["migrate"],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(text.contains("migrated, schema version"), "{text}");
        assert!(!text.contains("version 0"), "{text}");
    }
    let out = cli(
        dir.path(),
        vec![("FRONTDESK_DATABASE_URL", schema.url())],
        &["tickets", "list", "--json"],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "[]");
}

#[tokio::test]
async fn doctor_passes_on_a_working_setup_and_names_each_desk_problem() {
    let fake = FakeBotApi::start().await;
    let schema = PgSchema::new();
    let dir = tempfile::tempdir().unwrap();
    let env = || {
        vec![
            ("FRONTDESK_DATABASE_URL", schema.url()),
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
            ("TELEGRAM_API_URL", fake.url.clone()),
            ("TELEGRAM_DESK_CHAT_ID", DESK.to_string()),
        ]
    };
    let out = cli(dir.path(), env(), &["doctor"]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok      database postgres://"), "{text}");
    assert!(text.contains("ok      telegram: Bot API"), "{text}");
    assert!(text.contains("checks passed"), "{text}");
    assert_eq!(fake.count("getme"), 1, "asked the Bot API");

    fake.misconfigure_desk();
    let out = cli(dir.path(), env(), &["doctor"]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("PROBLEM")).collect();
    assert_eq!(problems.len(), 2, "{text}");
    assert!(problems.iter().any(|l| l.contains("not a forum")), "{text}");
    assert!(
        problems.iter().any(|l| l.contains("Manage topics")),
        "{text}"
    );
    assert!(text.contains("2 problem(s) found"), "{text}");
    assert!(!text.contains(TOKEN), "the token is never printed");
}

#[tokio::test]
async fn doctor_reports_an_unreachable_database_and_bot_api_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let out = cli(
        dir.path(),
        vec![
            (
                "FRONTDESK_DATABASE_URL",
                format!("postgres://postgres:pw-secret@127.0.0.1:{closed}/test"),
            ),
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
            (
                "TELEGRAM_API_URL",
                format!("http://127.0.0.1:{}", free_port()),
            ),
        ],
        &["doctor"],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("PROBLEM")).collect();
    assert!(
        problems
            .iter()
            .any(|l| l.contains("database") && l.contains(&closed.to_string())),
        "{text}"
    );
    assert!(
        problems.iter().any(|l| l.contains("telegram: getMe")),
        "{text}"
    );
    assert!(text.contains("ok      knowledge base"), "{text}");
    assert!(
        !text.contains("pw-secret"),
        "the password is never printed: {text}"
    );
}

async fn wait_health(port: u16, want: u16, bin: &Bin) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = reqwest::get(&url).await.map(|r| r.status().as_u16()).ok();
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never answered {want} (last {got:?}); log:\n{}",
            bin.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start_then_mid_run_nothing_acknowledged_before_stored() {
    const SECRET: &str = "pg-down-secret";
    let fake = FakeBotApi::start().await;
    let schema = PgSchema::new();
    let proxy = PgProxy::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/tg/hook");
    // Down at start: a clear error per attempt, retried with a growing pause.
    let mut bin = Bin::start(
        &fake,
        dir.path(),
        &[
            ("FRONTDESK_DATABASE_URL", proxy.url(&schema)),
            ("FRONTDESK_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("TELEGRAM_WEBHOOK_URL", hook.clone()),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
        ],
    );
    bin.wait_log("retrying in 2s").await;
    let log = bin.log();
    assert!(log.contains("opening database postgres://"), "{log}");
    assert!(log.contains("retrying in 1s"), "{log}");
    bin.assert_running();
    // The database comes: it starts by itself.
    proxy.up().await;
    wait_health(port, 200, &bin).await;

    let client = reqwest::Client::new();
    let post = |id: i64, text: &str| {
        let body = json!({
            "update_id": id,
            "message": private_message(&fake, 4242, json!({"text": text})),
        });
        client
            .post(&hook)
            .header(WEBHOOK_SECRET_HEADER, SECRET)
            .timeout(Duration::from_secs(30))
            .json(&body)
            .send()
    };
    let first = post(9001, "/new first problem").await.unwrap();
    assert_eq!(first.status(), 200);
    fake.wait_sends(4242, 1).await;

    // Down mid-run: the update is refused (Telegram will send it again), health says so.
    proxy.down();
    let refused = post(9002, "/new second problem").await.unwrap();
    assert_eq!(
        refused.status(),
        500,
        "not acknowledged while the database is down"
    );
    wait_health(port, 503, &bin).await;
    bin.assert_running();

    // Back: the re-sent update is stored and answered, once.
    proxy.up().await;
    wait_health(port, 200, &bin).await;
    let again = post(9002, "/new second problem").await.unwrap();
    assert_eq!(again.status(), 200);
    let sent = fake.wait_sends(4242, 2).await;
    assert!(super::binary_door::text_of(&sent[1]).contains("#2"));
    fake.settle().await;
    assert_eq!(fake.sends_to(4242).len(), 2);
    bin.stop().await;
}
