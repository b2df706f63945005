//! `frontdesk export` / `frontdesk import`: a deployment moves from SQLite to PostgreSQL
//! (and back) with every ticket, message, rating, outbox item and timer, and keeps
//! numbering where it stopped; a bad or mismatched file, or a database already in use,
//! is refused with nothing written.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use frontdesk::domain::TicketNo;
use frontdesk::ports::SystemClock;
use frontdesk::service::{Inbound, InboundContent};
use frontdesk::store::transfer::Transfer;
use frontdesk::store::{Store, TicketFilter};

use crate::cli::frontdesk;
use crate::pg::PgSchema;
use crate::support::{console_stack, customer};

fn run(dir: &Path, db: &str, args: &[&str]) -> Output {
    frontdesk(dir)
        .env("FRONTDESK_DATABASE_URL", db)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The output as JSON without a report's `since`/`until`: both runs end their period
/// "now", which may be a second apart on a slow machine.
fn without_period(json: &str) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    if let Some(rows) = value.as_array_mut() {
        for row in rows.iter_mut().filter_map(|r| r.as_object_mut()) {
            row.remove("since");
            row.remove("until");
        }
    }
    value
}

#[tokio::test]
async fn a_seeded_sqlite_deployment_moves_to_postgresql_with_identical_tickets_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("fd.db").display());
    ok(run(
        dir.path(),
        &sqlite,
        &["seed", "--tickets", "400", "--days", "20"],
    ));
    // Live traffic too: an escalation with its outbox row, timers and history.
    ok(frontdesk(dir.path())
        .env("FRONTDESK_DATABASE_URL", &sqlite)
        .args(["chat", "--user", "ana"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"my parcel arrived broken, I want a refund\n/human\n")?;
            child.wait_with_output()
        })
        .unwrap());

    let file = dir.path().join("export.jsonl");
    let file_arg = file.display().to_string();
    let exported = run(dir.path(), &sqlite, &["export", "--out", &file_arg]);
    let note = String::from_utf8_lossy(&exported.stderr).to_string();
    ok(exported);
    assert!(
        note.contains("exported") && note.contains("tables"),
        "{note}"
    );

    let schema = PgSchema::new();
    let pg = schema.url();
    let imported = ok(run(dir.path(), &pg, &["import", &file_arg]));
    assert!(imported.contains("tickets: 401"), "{imported}");
    assert!(imported.contains("imported"), "{imported}");

    for args in [
        &["tickets", "list", "--json", "--all", "--limit", "1000"][..],
        &["tickets", "show", "401", "--json"][..],
        &["tickets", "show", "17", "--json"][..],
        &["report", "--since", "365d", "--json"][..],
        &["report", "--since", "365d", "--faq", "--json"][..],
        &["report", "--since", "365d", "--by", "agent", "--json"][..],
    ] {
        assert_eq!(
            without_period(&ok(run(dir.path(), &sqlite, args))),
            without_period(&ok(run(dir.path(), &pg, args))),
            "`frontdesk {}` differs after the move",
            args.join(" ")
        );
    }

    // A second import into the now-used database is refused and changes nothing.
    let again = run(dir.path(), &pg, &["import", &file_arg]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already holds") && err.contains("nothing was written"),
        "{err}"
    );
    let list = ok(run(
        dir.path(),
        &pg,
        &["tickets", "list", "--json", "--all", "--limit", "1000"],
    ));
    let tickets: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(tickets.len(), 401);
}

/// A customer asks for a person: a new ticket, whose number is returned.
async fn escalate(stack: &crate::support::Stack, user: &str) -> TicketNo {
    stack
        .service
        .handle(Inbound {
            key: format!("console:{user}:1"),
            from: customer(user),
            content: InboundContent::Message {
                text: "/human".into(),
                attachments: Vec::new(),
            },
        })
        .await
        .unwrap();
    let tickets = stack
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    tickets.iter().map(|t| t.no).max().unwrap()
}

/// The SQLite file of a [`console_stack`] in `dir`, opened as a store of its own.
async fn stack_file(dir: &Path) -> frontdesk::store::sqlite::SqliteStore {
    let url = format!("sqlite://{}", dir.join("fd.db").display());
    frontdesk::store::sqlite::SqliteStore::open(&url)
        .await
        .unwrap()
}

#[tokio::test]
async fn numbering_and_ids_continue_after_an_import_both_ways() {
    // SQLite with history → PostgreSQL.
    let dir = tempfile::tempdir().unwrap();
    let source = console_stack(dir.path(), Arc::new(SystemClock), &[]).await;
    let first = escalate(&source, "ana").await;
    let second = escalate(&source, "ben").await;
    assert_eq!((first.0, second.0), (1, 2));
    let sqlite = stack_file(dir.path()).await;
    let mut file = Vec::new();
    let exported = sqlite.export(&mut file).await.unwrap();
    assert!(exported.rows() > 0);

    let schema = PgSchema::new();
    let pg = schema.open_pg().await;
    let imported = pg.import(&mut file.as_slice()).await.unwrap();
    assert_eq!(imported.tables, exported.tables);

    // The next ticket on PostgreSQL is #3, by a new customer (a fresh identity id).
    let pg_store: Arc<dyn Store> = Arc::new(pg.clone());
    let details = pg_store.ticket_details(first).await.unwrap().unwrap();
    assert_eq!(details.ticket.no, first);
    let target = crate::support::Stack {
        service: frontdesk::service::Service::new(
            pg_store.clone(),
            frontdesk::service::Knowledge::new(crate::support::small_kb()),
            Arc::new(frontdesk::triage::TriageRules::builtin()),
            frontdesk::sla::SlaPolicy::default(),
            Default::default(),
            Arc::new(SystemClock),
        ),
        outbox: source.outbox,
        transport: source.transport,
        store: pg_store.clone(),
    };
    let third = escalate(&target, "cleo").await;
    assert_eq!(third.0, 3);

    // PostgreSQL → a new SQLite file: all three tickets, and #4 next.
    let mut file = Vec::new();
    pg.export(&mut file).await.unwrap();
    let back_dir = tempfile::tempdir().unwrap();
    let back = console_stack(back_dir.path(), Arc::new(SystemClock), &[]).await;
    let back_sqlite = stack_file(back_dir.path()).await;
    back_sqlite.import(&mut file.as_slice()).await.unwrap();
    let all = back
        .store
        .list_tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let fourth = escalate(&back, "dan").await;
    assert_eq!(fourth.0, 4);
}

#[tokio::test]
async fn a_cut_or_foreign_file_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let source = console_stack(dir.path(), Arc::new(SystemClock), &[]).await;
    escalate(&source, "ana").await;
    let sqlite = stack_file(dir.path()).await;
    let mut file = Vec::new();
    sqlite.export(&mut file).await.unwrap();
    let text = String::from_utf8(file).unwrap();

    let schema = PgSchema::new();
    let pg = schema.open_pg().await;
    let count = |pg: frontdesk::store::postgres::PgStore| async move {
        pg.list_tickets(&TicketFilter::default())
            .await
            .unwrap()
            .len()
    };

    // Cut off before its end line: refused after reading everything, nothing kept.
    let cut: String = text
        .lines()
        .take(text.lines().count() - 1)
        .collect::<Vec<_>>()
        .join("\n");
    let e = pg
        .import(&mut cut.as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("without its end line"), "{e}");
    assert_eq!(count(pg.clone()).await, 0);

    // Another schema version.
    let other = text.replacen("\"schema_version\":", "\"schema_version\":9", 1);
    let e = pg
        .import(&mut other.as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema version"), "{e}");

    // A table this database does not have.
    let foreign = text.replacen("{\"table\":\"customers\"", "{\"table\":\"clients\"", 1);
    let e = pg
        .import(&mut foreign.as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("`clients` does not exist"), "{e}");
    assert_eq!(count(pg.clone()).await, 0);

    // The whole file still goes in afterwards.
    pg.import(&mut text.as_bytes()).await.unwrap();
    assert_eq!(count(pg.clone()).await, 1);
}
