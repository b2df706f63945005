//! The web console on a large store (issue 8 acceptance: overview and ticket list under
//! 200 ms on 100 000 tickets). One SQLite file is seeded once with `frontdesk::seed`
//! (100 000 tickets over 90 days; `FRONTDESK_BENCH_TICKETS` to change), the real router
//! serves it on a loopback port, and each iteration is one logged-in HTTP GET:
//! * `overview_today`, `overview_7d`, `overview_30d`: `/console?period=…`;
//! * `tickets`: `/console/tickets` (the newest 200);
//! * `tickets_new_p1`: `/console/tickets?state=new&priority=P1`;
//! * `tickets_tech_ana`: `/console/tickets?department=Tech&assignee=ana&platform=discord`;
//! * `tickets_text`: `/console/tickets?q=question+99999` (a subject search with few matches).

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use frontdesk::http::{router, HttpState};
use frontdesk::ports::SystemClock;
use frontdesk::seed::{seed, SeedPlan};
use frontdesk::service::{Knowledge, Service};
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::Store;
use frontdesk::web::{Web, WebTransport};

fn bench_web(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tickets: u32 = std::env::var("FRONTDESK_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (base, session) = rt.block_on(async {
        let store = SqliteStore::open(&url).await.unwrap();
        let started = Instant::now();
        let done = seed(&store, &SeedPlan::new(tickets, 90, chrono::Utc::now()))
            .await
            .unwrap();
        eprintln!(
            "seeded {} tickets in {:.1} s",
            done.tickets,
            started.elapsed().as_secs_f64()
        );
        let store: Arc<dyn Store> = Arc::new(store);
        let kb = frontdesk::faq::KnowledgeBase {
            topics: Vec::new(),
            entries: Vec::new(),
            synonyms: Vec::new(),
        };
        let service = Arc::new(Service::new(
            store.clone(),
            Knowledge::new(kb.clone()),
            Arc::new(frontdesk::triage::TriageRules::builtin()),
            frontdesk::sla::SlaPolicy::default(),
            Default::default(),
            Arc::new(SystemClock),
        ));
        let web = Web::new(
            service,
            Arc::new(SystemClock),
            Arc::new(WebTransport::new(store.clone(), Arc::new(SystemClock))),
            Some("bench".to_string().into()),
        );
        let state = HttpState {
            store,
            knowledge: Knowledge::new(kb),
            channels: Vec::new(),
            telegram_webhook: None,
            web: Some(web),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        (base.clone(), login(&base).await)
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| {
        let request = http
            .get(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, &session);
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), reqwest::StatusCode::OK);
            res.bytes().await.unwrap().len()
        }
    };
    let mut group = c.benchmark_group(format!("console_{tickets}"));
    group.sample_size(10);
    for (name, path) in [
        ("overview_today", "/console?period=today"),
        ("overview_7d", "/console?period=7d"),
        ("overview_30d", "/console?period=30d"),
        ("tickets", "/console/tickets"),
        ("tickets_new_p1", "/console/tickets?state=new&priority=P1"),
        (
            "tickets_tech_ana",
            "/console/tickets?department=Tech&assignee=ana&platform=discord",
        ),
        ("tickets_text", "/console/tickets?q=question+99999"),
    ] {
        group.bench_function(name, |b| b.iter(|| rt.block_on(get(path))));
    }
    group.finish();
}

/// Logs in as an operator; returns the session cookie.
async fn login(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(format!("{base}/console/login"))
        .send()
        .await
        .unwrap();
    let cookie = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string()
    };
    let login_cookie = cookie(&form, "fd_login=");
    let page = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + 32];
    let res = http
        .post(format!("{base}/console/login"))
        .header(reqwest::header::COOKIE, login_cookie)
        .form(&[("csrf", csrf), ("name", "bench"), ("token", "bench")])
        .send()
        .await
        .unwrap();
    cookie(&res, "fd_session=")
}

criterion_group!(benches, bench_web);
criterion_main!(benches);
