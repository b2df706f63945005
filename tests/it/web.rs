//! Web chat and console over real HTTP: access (login, sessions, CSRF), the customer's
//! web chat through the pipeline with server-sent events, desk actions from the ticket
//! page, and customer text shown escaped.

use std::sync::Arc;

use chrono::TimeZone;
use frontdesk::http::{router, HttpState};
use frontdesk::ports::{ChatTransport, Clock, ManualClock};
use frontdesk::web::{Web, WebTransport};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::support::{service_stack, small_kb};

const TOKEN: &str = "test-admin-token";

struct Site {
    base: String,
    http: reqwest::Client,
    outbox: frontdesk::outbox::OutboxWorker,
    store: Arc<dyn frontdesk::store::Store>,
    service: Arc<frontdesk::service::Service>,
    chat: Arc<WebTransport>,
    _dir: tempfile::TempDir,
}

async fn site(admin_token: Option<&str>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let chat = Arc::new(WebTransport::new());
    let (store, service, outbox) = service_stack(
        dir.path(),
        clock.clone(),
        &[],
        vec![chat.clone() as Arc<dyn ChatTransport>],
    )
    .await;
    let service = Arc::new(service);
    let web = Web::new(
        service.clone(),
        clock,
        chat.clone(),
        admin_token.map(|t| SecretString::from(t.to_string())),
    );
    let state = HttpState {
        store: store.clone(),
        knowledge: frontdesk::service::Knowledge::new(small_kb()),
        channels: vec!["web".into()],
        telegram_webhook: None,
        web: Some(web),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Site {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        outbox,
        store,
        service,
        chat,
        _dir: dir,
    }
}

/// `name=value` of a response's cookie, and the whole `Set-Cookie` line.
fn cookie_of(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_string(), v.to_string()))
}

/// The value of the first hidden `name` field in a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_string()
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in; returns the session cookie and the session's CSRF token.
    async fn login(&self) -> (String, String) {
        let form = self
            .http
            .get(self.url("/console/login"))
            .send()
            .await
            .unwrap();
        let (login_cookie, _) = cookie_of(&form, "fd_login").unwrap();
        let csrf = field(&form.text().await.unwrap(), "csrf");
        let res = self
            .http
            .post(self.url("/console/login"))
            .header(COOKIE, login_cookie)
            .form(&[("csrf", csrf.as_str()), ("name", "ana"), ("token", TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (session, line) = cookie_of(&res, "fd_session").unwrap();
        assert!(
            line.contains("HttpOnly") && line.contains("SameSite=Strict"),
            "{line}"
        );
        let page = self.get(&session, "/console").await;
        (session.clone(), field(&page, "csrf"))
    }

    async fn get(&self, cookie: &str, path: &str) -> String {
        let res = self
            .http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.text().await.unwrap()
    }

    async fn act(
        &self,
        session: &str,
        csrf: &str,
        no: i64,
        command: &str,
        arg: &str,
    ) -> StatusCode {
        self.http
            .post(self.url(&format!("/console/tickets/{no}/act")))
            .header(COOKIE, session)
            .form(&[("csrf", csrf), ("command", command), ("arg", arg)])
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn every_console_route_needs_a_login() {
    let site = site(Some(TOKEN)).await;
    for path in [
        "/console",
        "/console/tickets",
        "/console/tickets/1",
        "/console?period=7d",
    ] {
        let res = site.http.get(site.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.headers()[LOCATION], "/console/login", "{path}");
        // A made-up session id is no better than none.
        let res = site
            .http
            .get(site.url(path))
            .header(COOKIE, "fd_session=0123456789abcdef0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
    }
    for path in ["/console/tickets/1/act", "/console/logout"] {
        let res = site
            .http
            .post(site.url(path))
            .form(&[("csrf", "x"), ("command", "claim")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn without_an_admin_token_the_console_is_off_and_the_chat_on() {
    let site = site(None).await;
    for path in ["/console", "/console/login", "/console/tickets"] {
        let res = site.http.get(site.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = site.http.get(site.url("/chat")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_needs_the_token_and_the_forms_csrf_token() {
    let site = site(Some(TOKEN)).await;
    let form = site
        .http
        .get(site.url("/console/login"))
        .send()
        .await
        .unwrap();
    let (login_cookie, _) = cookie_of(&form, "fd_login").unwrap();
    let csrf = field(&form.text().await.unwrap(), "csrf");
    // Wrong token: the form again, no session.
    let res = site
        .http
        .post(site.url("/console/login"))
        .header(COOKIE, &login_cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "ana"), ("token", "guess")])
        .send()
        .await
        .unwrap();
    assert!(cookie_of(&res, "fd_session").is_none());
    assert!(res.text().await.unwrap().contains("Wrong token"));
    // Right token without the form's CSRF token (a forged cross-site login): refused.
    let res = site
        .http
        .post(site.url("/console/login"))
        .form(&[("name", "ana"), ("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(cookie_of(&res, "fd_session").is_none());
    // Behind an https proxy the session cookie is Secure.
    let res = site
        .http
        .post(site.url("/console/login"))
        .header(COOKIE, &login_cookie)
        .header("x-forwarded-proto", "https")
        .form(&[("csrf", csrf.as_str()), ("name", "ana"), ("token", TOKEN)])
        .send()
        .await
        .unwrap();
    let (_, line) = cookie_of(&res, "fd_session").unwrap();
    assert!(line.contains("; Secure"), "{line}");

    let (session, csrf) = site.login().await;
    // Logout without the CSRF token is refused and the session lives on.
    let res = site
        .http
        .post(site.url("/console/logout"))
        .header(COOKIE, &session)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    site.get(&session, "/console").await;
    let res = site
        .http
        .post(site.url("/console/logout"))
        .header(COOKIE, &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = site
        .http
        .get(site.url("/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the session ended");
}

/// A web chat visitor: their cookie and an open event stream.
struct Visitor {
    cookie: String,
    events: reqwest::Response,
    buffer: String,
}

impl Visitor {
    async fn open(site: &Site) -> Visitor {
        let page = site.http.get(site.url("/chat")).send().await.unwrap();
        let (cookie, line) = cookie_of(&page, "fd_chat").unwrap();
        assert!(line.contains("HttpOnly"), "{line}");
        let events = site
            .http
            .get(site.url("/chat/events"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), StatusCode::OK);
        Visitor {
            cookie,
            events,
            buffer: String::new(),
        }
    }

    async fn say(&self, site: &Site, text: &str) {
        let res = site
            .http
            .post(site.url("/chat/send"))
            .header(COOKIE, &self.cookie)
            .json(&serde_json::json!({ "id": format!("m{}", text.len()), "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    async fn press(&self, site: &Site, data: &str) {
        let res = site
            .http
            .post(site.url("/chat/button"))
            .header(COOKIE, &self.cookie)
            .json(
                &serde_json::json!({ "id": format!("b-{}", data.replace(':', "-")), "data": data }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }

    /// The next message pushed to the browser.
    async fn next(&mut self) -> serde_json::Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return serde_json::from_str(data).unwrap();
                }
                continue;
            }
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.events.chunk())
                    .await
                    .expect("a message pushed within 10 s")
                    .unwrap()
                    .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The `data` of the button labelled `label` in a pushed message.
    fn button(message: &serde_json::Value, label: &str) -> String {
        message["buttons"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().into_iter().flatten())
            .find(|b| b["label"] == label)
            .unwrap_or_else(|| panic!("no {label} button in {message}"))["data"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[tokio::test]
async fn web_chat_customer_and_console_agent_work_a_ticket_both_ways() {
    let site = site(Some(TOKEN)).await;
    let mut visitor = Visitor::open(&site).await;

    // An FAQ answer with its buttons; "That helped" is answered.
    visitor.say(&site, "How do I reset my password?").await;
    site.outbox.drain().await.unwrap();
    let answer = visitor.next().await;
    assert!(
        answer["text"].as_str().unwrap().contains("Forgot password"),
        "{answer}"
    );
    visitor
        .press(&site, &Visitor::button(&answer, "That helped"))
        .await;
    site.outbox.drain().await.unwrap();
    assert!(visitor.next().await["text"]
        .as_str()
        .unwrap()
        .contains("glad"));

    // Customer text with markup, then "Talk to a person": a ticket.
    let evil = "<script>alert('x')</script> my parcel never arrived";
    visitor.say(&site, evil).await;
    site.outbox.drain().await.unwrap();
    let offer = visitor.next().await;
    visitor
        .press(&site, &Visitor::button(&offer, "Talk to a person"))
        .await;
    site.outbox.drain().await.unwrap();
    let created = visitor.next().await;
    assert!(
        created["text"].as_str().unwrap().contains("#1"),
        "{created}"
    );

    // /status in the web chat.
    visitor.say(&site, "/status").await;
    site.outbox.drain().await.unwrap();
    assert!(visitor.next().await["text"]
        .as_str()
        .unwrap()
        .contains("#1"));

    let (session, csrf) = site.login().await;
    for path in ["/console/tickets", "/console/tickets/1"] {
        let page = site.get(&session, path).await;
        assert!(
            !page.contains("<script>alert"),
            "{path} shows customer markup raw"
        );
        assert!(
            page.contains("&lt;script&gt;alert"),
            "{path} shows the customer's words"
        );
    }
    let list = site
        .get(&session, "/console/tickets?platform=web&state=new")
        .await;
    assert!(list.contains("/console/tickets/1\""), "{list}");
    let none = site
        .get(&session, "/console/tickets?platform=telegram")
        .await;
    assert!(!none.contains("/console/tickets/1\""));

    // A forged action without the CSRF token changes nothing.
    assert_eq!(
        site.act(&session, "", 1, "claim", "").await,
        StatusCode::FORBIDDEN
    );
    let ticket = site
        .store
        .ticket_details(frontdesk::domain::TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.ticket.assignee, None);

    // Claim, note, priority and a reply from the ticket page: desk commands.
    for (command, arg) in [
        ("claim", ""),
        ("note", "checked the carrier"),
        ("priority", "P1"),
        ("reply", "It is on its way, arriving tomorrow."),
    ] {
        assert_eq!(
            site.act(&session, &csrf, 1, command, arg).await,
            StatusCode::SEE_OTHER,
            "{command}"
        );
    }
    site.outbox.drain().await.unwrap();
    let mut pushed = Vec::new();
    loop {
        let m = visitor.next().await;
        let text = m["text"].as_str().unwrap().to_string();
        pushed.push(text.clone());
        if text.contains("arriving tomorrow") {
            break;
        }
    }
    assert!(
        pushed.iter().all(|t| !t.contains("checked the carrier")),
        "notes stay internal: {pushed:?}"
    );
    let details = site
        .store
        .ticket_details(frontdesk::domain::TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.ticket.assignee.as_deref(), Some("ana"));
    assert_eq!(details.ticket.priority, frontdesk::domain::Priority::P1);
    let page = site.get(&session, "/console/tickets/1").await;
    assert!(page.contains("checked the carrier") && page.contains("arriving tomorrow"));

    // Resolve; the customer presses Solved and rates 5; the overview shows it.
    assert_eq!(
        site.act(&session, &csrf, 1, "resolve", "Delivered today.")
            .await,
        StatusCode::SEE_OTHER
    );
    site.outbox.drain().await.unwrap();
    let solution = loop {
        let m = visitor.next().await;
        if m["text"].as_str().unwrap().contains("Delivered today") {
            break m;
        }
    };
    visitor
        .press(&site, &Visitor::button(&solution, "Solved"))
        .await;
    site.outbox.drain().await.unwrap();
    let survey = loop {
        let m = visitor.next().await;
        if !m["buttons"].as_array().unwrap().is_empty() {
            break m;
        }
    };
    visitor.press(&site, &Visitor::button(&survey, "5")).await;
    site.outbox.drain().await.unwrap();
    let overview = site.get(&session, "/console").await;
    assert!(overview.contains("id=\"csat\">5.0/5"), "{overview}");
    assert!(overview.contains("<svg id=\"backlog-chart\""));
}

#[tokio::test]
async fn overview_shows_the_stats_figures_and_faq_insights_group_unanswered_questions() {
    let site = site(Some(TOKEN)).await;
    // A question asked earlier that the FAQ could not answer, as the pipeline records it,
    // and a similar one asked now in the web chat: it becomes a ticket.
    let mut tx = site.store.begin().await.unwrap();
    tx.record_unanswered(
        "Student discount for the premium plan?",
        frontdesk::domain::Language::En,
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let visitor = Visitor::open(&site).await;
    visitor
        .say(&site, "<b>student discount</b> for the premium plan?")
        .await;
    site.outbox.drain().await.unwrap();

    let (session, _) = site.login().await;
    let insights = site.get(&session, "/console/faq?period=7d").await;
    assert!(insights.contains("<strong>2×</strong>"), "{insights}");
    assert!(
        insights.contains("&lt;b&gt;student discount&lt;/b&gt;"),
        "{insights}"
    );
    assert!(!insights.contains("<b>student"));
    assert!(insights.contains("[[entries]]") && insights.contains("Copy as new FAQ entry"));

    for period in ["today", "7d", "30d"] {
        // The desk's /stats, asked from the web desk, and the overview of the same period.
        site.service
            .handle_desk(frontdesk::service::DeskInbound {
                key: format!("stats-{period}"),
                agent: frontdesk::service::Agent {
                    platform: frontdesk::domain::Platform::Web,
                    user_id: "ana".into(),
                    name: "ana".into(),
                },
                ticket: None,
                reply_to: frontdesk::domain::ChatAddress::new(
                    frontdesk::domain::Platform::Web,
                    frontdesk::web::console::DESK_CHAT_ID,
                ),
                text: format!("/stats {period}"),
            })
            .await
            .unwrap();
        site.outbox.drain().await.unwrap();
        let stats = site.chat.history("desk").pop().unwrap().text;
        let overview = site
            .get(&session, &format!("/console?period={period}"))
            .await;
        let line = |prefix: &str| {
            stats
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {stats}"))
                .to_string()
        };
        // "Tickets: 1 created · backlog 1 (P1 0 · P2 0 · P3 1)"
        let tickets = line("Tickets: ");
        let created = tickets.split(' ').next().unwrap();
        assert!(
            overview.contains(&format!("id=\"created\">{created}<")),
            "{period}: {stats}"
        );
        let backlog = tickets
            .split("backlog ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(
            overview.contains(&format!("id=\"backlog\">{backlog}<")),
            "{period}: {stats}"
        );
        assert_eq!(created, "1", "{stats}");
        for prefix in ["First response: ", "Resolution: "] {
            assert!(
                overview.contains(&line(prefix)),
                "{period} {prefix}: {stats}\n{overview}"
            );
        }
    }
}

/// One sample's value from a parsed exposition (`None` when absent).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
}

#[tokio::test]
async fn metrics_endpoint_parses_as_prometheus_text() {
    let site = site(None).await;
    let mut visitor = Visitor::open(&site).await;
    visitor.say(&site, "How do I reset my password?").await;
    site.outbox.drain().await.unwrap();
    let answer = visitor.next().await;
    visitor
        .press(&site, &Visitor::button(&answer, "That helped"))
        .await;
    visitor.say(&site, "/human").await;
    site.outbox.drain().await.unwrap();

    let res = site.http.get(site.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"));
    // Counters are process-wide (other tests count too): at least this test's events.
    let at_least = |name: &str, labels: &[(&str, &str)], min: f64| {
        let v = sample(&scrape, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"));
        assert!(v >= min, "{name} {labels:?} = {v}\n{text}");
    };
    at_least(
        "frontdesk_inbound_messages_total",
        &[("platform", "web"), ("outcome", "bot")],
        2.0,
    );
    at_least(
        "frontdesk_inbound_messages_total",
        &[("platform", "web"), ("outcome", "ticket")],
        1.0,
    );
    at_least("frontdesk_tickets_created_total", &[], 1.0);
    at_least("frontdesk_faq_feedback_total", &[("kind", "shown")], 1.0);
    at_least("frontdesk_faq_feedback_total", &[("kind", "helped")], 1.0);
    at_least(
        "frontdesk_delivery_latency_seconds_count",
        &[("platform", "web")],
        3.0,
    );
    // Gauges come from this store: one new ticket, nothing left in the outbox.
    assert_eq!(
        sample(&scrape, "frontdesk_backlog_tickets", &[("state", "new")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&scrape, "frontdesk_outbox_depth", &[("status", "pending")]),
        Some(0.0),
        "{text}"
    );
    for family in [
        "frontdesk_sla_breaches",
        "frontdesk_deliveries_rate_limited",
        "frontdesk_delivery_retries",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} counter")),
            "{family}\n{text}"
        );
    }
}
