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

use crate::support::small_kb;

const TOKEN: &str = "test-admin-token";

struct Site {
    base: String,
    http: reqwest::Client,
    outbox: frontdesk::outbox::OutboxWorker,
    store: Arc<dyn frontdesk::store::Store>,
    service: Arc<frontdesk::service::Service>,
    chat: Arc<WebTransport>,
    /// The clock of a site made by [`site`], to move time.
    clock: Option<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn start_clock() -> ManualClock {
    ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())
}

async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn frontdesk::store::Store> {
    let url = format!("sqlite://{}", dir.join("fd.db").display());
    Arc::new(
        frontdesk::store::sqlite::SqliteStore::open(&url)
            .await
            .unwrap(),
    )
}

async fn site(admin_token: Option<&str>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let clock = start_clock();
    let mut site = site_on(store, Arc::new(clock.clone()), admin_token).await;
    site._dir = Some(dir);
    site.clock = Some(clock);
    site
}

/// A web server (chat, console, outbox worker) over `store`: one replica of frontdesk.
async fn site_on(
    store: Arc<dyn frontdesk::store::Store>,
    clock: Arc<dyn Clock>,
    admin_token: Option<&str>,
) -> Site {
    let chat = Arc::new(WebTransport::new(store.clone(), clock.clone()));
    let outbox = frontdesk::outbox::OutboxWorker::with_transports(
        store.clone(),
        [chat.clone() as Arc<dyn ChatTransport>],
        clock.clone(),
        frontdesk::outbox::OutboxConfig::default(),
    );
    let service = Arc::new(frontdesk::service::Service::new(
        store.clone(),
        frontdesk::service::Knowledge::new(small_kb()),
        Arc::new(frontdesk::triage::TriageRules::builtin()),
        frontdesk::sla::SlaPolicy::default(),
        Default::default(),
        clock.clone(),
    ));
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
        clock: None,
        _dir: None,
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
    fn clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("a site made by site() has a manual clock")
    }

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

    /// The same visitor (cookie) opening the event stream at `site`, as a reloaded page
    /// or a reconnecting `EventSource` (which sends the last id it saw).
    async fn resume(site: &Site, cookie: &str, last_event_id: Option<&str>) -> Visitor {
        let mut request = site
            .http
            .get(site.url("/chat/events"))
            .header(COOKIE, cookie);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let events = request.send().await.unwrap();
        assert_eq!(events.status(), StatusCode::OK);
        Visitor {
            cookie: cookie.to_string(),
            events,
            buffer: String::new(),
        }
    }

    async fn say(&self, site: &Site, text: &str) {
        let key: String = text
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        let res = site
            .http
            .post(site.url("/chat/send"))
            .header(COOKIE, &self.cookie)
            .json(&serde_json::json!({ "id": format!("m{}-{key}", text.len()), "text": text }))
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
                    let message: serde_json::Value = serde_json::from_str(data).unwrap();
                    let id = event.lines().find_map(|l| l.strip_prefix("id: "));
                    assert_eq!(id, Some(message["id"].to_string().as_str()), "{event}");
                    return message;
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

    /// Delivers the agent's solution (the pushed message containing `solution`), presses
    /// "Solved" under it and answers the survey with `score`; everything delivered.
    async fn solved_and_rated(&mut self, site: &Site, solution: &str, score: &str) {
        site.outbox.drain().await.unwrap();
        let message = next_with(self, solution).await;
        self.press(site, &Visitor::button(&message, "Solved")).await;
        site.outbox.drain().await.unwrap();
        let survey = loop {
            let m = self.next().await;
            if !m["buttons"].as_array().unwrap().is_empty() {
                break m;
            }
        };
        self.press(site, &Visitor::button(&survey, score)).await;
        site.outbox.drain().await.unwrap();
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

    // Customer text with markup reporting a lost parcel: a ticket at once.
    let evil = "<script>alert('x')</script> my parcel never arrived";
    visitor.say(&site, evil).await;
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
    visitor
        .solved_and_rated(&site, "Delivered today", "5")
        .await;
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
    let earlier = tx
        .upsert_customer(
            &frontdesk::domain::CustomerIdentity {
                platform: frontdesk::domain::Platform::Telegram,
                user_id: "earlier".into(),
                chat_id: "earlier".into(),
                display_name: "Earlier".into(),
                language: None,
            },
            false,
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    tx.record_unanswered(
        earlier.id,
        "Student discount for the premium plan?",
        frontdesk::domain::Language::En,
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut visitor = Visitor::open(&site).await;
    visitor
        .say(&site, "<b>student discount</b> for the premium plan?")
        .await;
    site.outbox.drain().await.unwrap();

    let (session, csrf) = site.login().await;
    let insights = site.get(&session, "/console/faq?period=7d").await;
    assert!(insights.contains("<strong>2×</strong>"), "{insights}");
    assert!(
        insights.contains("&lt;b&gt;student discount&lt;/b&gt;"),
        "{insights}"
    );
    assert!(!insights.contains("<b>student"));
    assert!(insights.contains("[[entries]]") && insights.contains("Copy as new FAQ entry"));

    // Time passes while #1 is worked: claimed after 12 minutes, resolved 50 minutes later;
    // the customer confirms and rates 4. Another visitor is answered by the FAQ.
    let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
    site.clock().advance(minutes(12));
    assert_eq!(
        site.act(&session, &csrf, 1, "claim", "").await,
        StatusCode::SEE_OTHER
    );
    site.clock().advance(minutes(50));
    assert_eq!(
        site.act(
            &session,
            &csrf,
            1,
            "resolve",
            "Students get 30 % off: STUDENT30."
        )
        .await,
        StatusCode::SEE_OTHER
    );
    visitor.solved_and_rated(&site, "STUDENT30", "4").await;
    let mut other = Visitor::open(&site).await;
    other.say(&site, "How do I reset my password?").await;
    site.outbox.drain().await.unwrap();
    assert!(other.next().await["text"]
        .as_str()
        .unwrap()
        .contains("Forgot password"));

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
        let stats = site.chat.history("desk").await.unwrap().pop().unwrap().text;
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

        // The charts say the /stats figures: SLA kept, reopens, first contact, deflection,
        // CSAT. "SLA met: first response 100% (1/1) · resolution 100% (1/1)"
        let sla = line("SLA met: ").replace(" · ", ", ");
        assert!(
            chart_label(&overview, "sla-chart").starts_with(&sla),
            "{period}: {stats}"
        );
        // "Reopened 0% (0/1) · first-contact resolution 100% (1/1)", "Bot: 1 FAQ answers ·
        // deflection 100% (1/1)"
        let reopened = line("Reopened ");
        let (reopen, first_contact) = reopened.split_once(" · first-contact resolution ").unwrap();
        let bot = line("Bot: ");
        let deflection = bot.split("deflection ").nth(1).unwrap();
        assert_eq!(
            chart_label(&overview, "rates-chart"),
            format!("reopened {reopen}, first-contact {first_contact}, deflection {deflection}"),
            "{period}: {stats}"
        );
        let csat = line("CSAT ");
        assert!(
            overview.contains(&format!("id=\"csat\">{}<", csat.split(' ').next().unwrap())),
            "{period}: {stats}"
        );

        // And the figures of `frontdesk report --since PERIOD --by priority`: the same
        // library call and text. CSAT scores, volume by hour, times per priority.
        let window = period
            .parse::<frontdesk::metrics::Period>()
            .unwrap()
            .window(site.clock().now());
        let report = frontdesk::metrics_worker::gather(
            site.store.as_ref(),
            &window,
            Some(frontdesk::metrics::GroupBy::Priority),
        )
        .await
        .unwrap();
        let human = frontdesk::metrics::render::human(&report);
        let report_line = |prefix: &str| {
            human
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {human}"))
                .to_string()
        };
        let scores: Vec<String> = report_line("CSAT scores 1–5: ")
            .split(" · ")
            .enumerate()
            .map(|(i, n)| format!("{} {n}", i + 1))
            .collect();
        assert_eq!(chart_label(&overview, "csat-chart"), scores.join(", "));
        assert_eq!(scores.join(", "), "1 0, 2 0, 3 0, 4 1, 5 0");
        assert_eq!(
            chart_label(&overview, "hour-chart"),
            format!(
                "tickets created: {}; FAQ answers: {}",
                report_line("Created by hour (UTC): "),
                report_line("FAQ answers by hour (UTC): ")
            )
        );
        assert_eq!(
            chart_label(&overview, "hour-chart"),
            "tickets created: 09h 1; FAQ answers: 10h 1"
        );
        let sla_policy = site.service.sla();
        for (id, resolution) in [("first-response-chart", false), ("resolution-chart", true)] {
            let t = |v: Option<i64>| {
                v.map_or("–".into(), |s| {
                    frontdesk::metrics::render::human_secs(s as f64)
                })
            };
            let expected: Vec<String> = [
                frontdesk::domain::Priority::P1,
                frontdesk::domain::Priority::P2,
                frontdesk::domain::Priority::P3,
            ]
            .into_iter()
            .map(|p| {
                let m = report
                    .groups
                    .iter()
                    .find(|(name, _)| name == p.as_str())
                    .map(|(_, m)| m.clone())
                    .unwrap_or_default();
                let limits = sla_policy.limits(p);
                let (d, limit) = if resolution {
                    (m.resolution, limits.resolution)
                } else {
                    (m.first_response, limits.first_response)
                };
                format!(
                    "{p} p50 {}, p90 {}, limit {} ({})",
                    t(d.p50_secs),
                    t(d.p90_secs),
                    frontdesk::metrics::render::human_secs(limit.as_secs_f64()),
                    d.count
                )
            })
            .collect();
            let label = chart_label(&overview, id);
            assert_eq!(label, expected.join("; "), "{period}");
            let worked = if resolution {
                "p50 1 h 2 min"
            } else {
                "p50 12 min"
            };
            assert!(label.contains(worked), "{period}: {label}");
        }
    }
}

/// The accessible name (`aria-label`) of the SVG chart `id` in a page.
fn chart_label(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let tag = &page[start..start + page[start..].find('>').unwrap()];
    let value = tag.split("aria-label=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
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

/// Waits for the pushed message whose text contains `needle` (earlier ones are skipped).
async fn next_with(visitor: &mut Visitor, needle: &str) -> serde_json::Value {
    loop {
        let m = visitor.next().await;
        if m["text"].as_str().unwrap().contains(needle) {
            return m;
        }
    }
}

#[tokio::test]
async fn web_chat_history_is_kept_in_the_store_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = site_on(
        sqlite_store(dir.path()).await,
        Arc::new(start_clock()),
        None,
    )
    .await;
    let mut visitor = Visitor::open(&first).await;
    visitor.say(&first, "How do I reset my password?").await;
    first.outbox.drain().await.unwrap();
    let answer = visitor.next().await;
    assert!(answer["text"].as_str().unwrap().contains("Forgot password"));
    let cookie = visitor.cookie.clone();
    drop(visitor);
    drop(first);

    // A new process on the same database: the reloaded page replays what was said.
    let second = site_on(
        sqlite_store(dir.path()).await,
        Arc::new(start_clock()),
        None,
    )
    .await;
    let mut reloaded = Visitor::resume(&second, &cookie, None).await;
    assert_eq!(reloaded.next().await, answer);
    // A reconnecting stream gets only what came after its last event.
    let id = answer["id"].to_string();
    let mut reconnected = Visitor::resume(&second, &cookie, Some(&id)).await;
    reconnected.say(&second, "/status").await;
    second.outbox.drain().await.unwrap();
    let status = reconnected.next().await;
    assert_ne!(status, answer);
    assert!(status["id"].as_i64().unwrap() > answer["id"].as_i64().unwrap());
    assert_eq!(reloaded.next().await, status, "both open streams get it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_chat_message_delivered_by_one_replica_reaches_the_stream_served_by_another() {
    let schema = crate::pg::PgSchema::new();
    let a = site_on(schema.open().await, Arc::new(start_clock()), None).await;
    let b = site_on(schema.open().await, Arc::new(start_clock()), None).await;
    // The page came from replica A; the event stream lands on replica B.
    let page = a.http.get(a.url("/chat")).send().await.unwrap();
    let (cookie, _) = cookie_of(&page, "fd_chat").unwrap();
    let mut on_b = Visitor::resume(&b, &cookie, None).await;
    // Let B's stream find the chat empty and wait, so the answer must wake it.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    on_b.say(&a, "How do I reset my password?").await;
    // Only A's outbox worker runs: it delivers, B's stream shows it.
    assert_eq!(a.outbox.drain().await.unwrap(), 1);
    let answer = on_b.next().await;
    assert!(
        answer["text"].as_str().unwrap().contains("Forgot password"),
        "{answer}"
    );
    // And the other way round: a button pressed at B, delivered by B, seen at A.
    let mut on_a = Visitor::resume(&a, &cookie, Some(&answer["id"].to_string())).await;
    on_a.press(&b, &Visitor::button(&answer, "That helped"))
        .await;
    b.outbox.drain().await.unwrap();
    assert!(on_a.next().await["text"].as_str().unwrap().contains("glad"));
}

#[tokio::test]
async fn console_sessions_survive_a_restart_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = start_clock();
    let first = site_on(
        sqlite_store(dir.path()).await,
        Arc::new(clock.clone()),
        Some(TOKEN),
    )
    .await;
    let (session, csrf) = first.login().await;
    drop(first);
    let second = site_on(
        sqlite_store(dir.path()).await,
        Arc::new(clock.clone()),
        Some(TOKEN),
    )
    .await;
    // Still logged in after the restart, with the same CSRF token.
    let page = second.get(&session, "/console").await;
    assert_eq!(field(&page, "csrf"), csrf);
    // The store keeps a hash, not the cookie's value.
    let raw = session.trim_start_matches("fd_session=");
    assert_eq!(
        second
            .store
            .console_session(raw, clock.now())
            .await
            .unwrap(),
        None
    );
    // Twelve hours after login the session is over.
    clock.advance(frontdesk::web::auth::SESSION_LIFETIME);
    let res = second
        .http
        .get(second.url("/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console/login");
    let res = second
        .http
        .post(second.url("/console/tickets/1/act"))
        .header(COOKIE, &session)
        .form(&[("csrf", csrf.as_str()), ("command", "claim")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_logins_are_shared_by_replicas_and_a_logout_ends_them_everywhere() {
    let schema = crate::pg::PgSchema::new();
    let a = site_on(schema.open().await, Arc::new(start_clock()), Some(TOKEN)).await;
    let b = site_on(schema.open().await, Arc::new(start_clock()), Some(TOKEN)).await;
    let (session, csrf) = a.login().await;
    let page = b.get(&session, "/console/tickets").await;
    assert_eq!(field(&page, "csrf"), csrf);
    // A forged logout at B changes nothing; a real one ends the session at A too.
    let logout = |site: &Site, csrf: &str| {
        site.http
            .post(site.url("/console/logout"))
            .header(COOKIE, &session)
            .form(&[("csrf", csrf.to_string())])
            .send()
    };
    assert_eq!(
        logout(&b, "forged").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    a.get(&session, "/console").await;
    assert_eq!(
        logout(&b, &csrf).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    for site in [&a, &b] {
        let res = site
            .http
            .get(site.url("/console"))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

/// A web chat visitor with a ticket (#1) and a logged-in operator.
async fn ticket_from_the_web_chat(site: &Site) -> (Visitor, String, String) {
    let mut visitor = Visitor::open(site).await;
    visitor
        .say(site, "/human my parcel never arrived, order 5512")
        .await;
    site.outbox.drain().await.unwrap();
    next_with(&mut visitor, "#1").await;
    let (session, csrf) = site.login().await;
    (visitor, session, csrf)
}

#[tokio::test]
async fn console_category_transfer_and_priority_forms_change_the_ticket() {
    let site = site(Some(TOKEN)).await;
    let (_visitor, session, csrf) = ticket_from_the_web_chat(&site).await;
    let page = site.get(&session, "/console/tickets/1").await;
    for form in ["act-category", "act-transfer", "act-priority"] {
        assert!(page.contains(&format!("id=\"{form}\"")), "{form}");
    }
    for (command, arg) in [
        ("category", "complaint"),
        ("transfer", "product"),
        ("priority", "P1"),
    ] {
        assert_eq!(
            site.act(&session, &csrf, 1, command, arg).await,
            StatusCode::SEE_OTHER,
            "{command}"
        );
    }
    site.outbox.drain().await.unwrap();
    let details = site
        .store
        .ticket_details(frontdesk::domain::TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        details.ticket.category,
        frontdesk::domain::Category::Complaint
    );
    assert_eq!(details.ticket.department, "product");
    assert_eq!(details.ticket.priority, frontdesk::domain::Priority::P1);
    let kinds: Vec<&str> = details.events.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["category_changed", "transferred", "priority_changed"] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    // The list finds it by its new values.
    let list = site
        .get(
            &session,
            "/console/tickets?category=complaint&department=Product&priority=P1",
        )
        .await;
    assert!(list.contains("/console/tickets/1\""), "{list}");
    // A value the desk does not know is refused, and the refusal is shown on the page.
    assert_eq!(
        site.act(&session, &csrf, 1, "category", "gossip").await,
        StatusCode::SEE_OTHER
    );
    site.outbox.drain().await.unwrap();
    let notices = site
        .chat
        .desk_notices(frontdesk::domain::TicketNo(1))
        .await
        .unwrap();
    let refusal = notices.last().expect("the desk answered the console");
    let page = site.get(&session, "/console/tickets/1").await;
    assert!(page.contains("Desk answers"), "{page}");
    assert!(
        page.contains(&maud::html! { (refusal) }.into_string()),
        "{refusal}"
    );
    let after = site
        .store
        .ticket_details(frontdesk::domain::TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.ticket.category,
        frontdesk::domain::Category::Complaint
    );
}

#[tokio::test]
async fn web_chat_not_solved_reopens_the_ticket_back_to_its_agent() {
    let site = site(Some(TOKEN)).await;
    let (mut visitor, session, csrf) = ticket_from_the_web_chat(&site).await;
    for (command, arg) in [("claim", ""), ("resolve", "Re-sent with express delivery.")] {
        assert_eq!(
            site.act(&session, &csrf, 1, command, arg).await,
            StatusCode::SEE_OTHER
        );
    }
    site.outbox.drain().await.unwrap();
    let solution = next_with(&mut visitor, "express delivery").await;
    visitor
        .press(&site, &Visitor::button(&solution, "Not solved"))
        .await;
    site.outbox.drain().await.unwrap();
    let followup = visitor.next().await;
    assert!(
        followup["text"].as_str().unwrap().contains("reopened"),
        "{followup}"
    );
    let details = site
        .store
        .ticket_details(frontdesk::domain::TicketNo(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.ticket.state, frontdesk::domain::TicketState::Open);
    assert_eq!(details.ticket.assignee.as_deref(), Some("ana"));
    assert!(details.events.iter().any(|e| e.kind == "reopened"));
    // The ticket page shows it open again, back with its agent.
    let page = site.get(&session, "/console/tickets/1").await;
    assert!(page.contains("back to ana"), "{page}");
    assert!(page.contains("id=\"state\">open<"), "{page}");
}

#[tokio::test]
async fn web_chat_did_you_mean_buttons_show_the_picked_answer() {
    let site = site(None).await;
    let mut visitor = Visitor::open(&site).await;
    // Shares words with several entries but is none of them exactly.
    visitor.say(&site, "order").await;
    site.outbox.drain().await.unwrap();
    let offer = visitor.next().await;
    assert!(
        offer["text"].as_str().unwrap().contains("Did you mean"),
        "{offer}"
    );
    let buttons: Vec<(String, String)> = offer["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|b| {
            (
                b["label"].as_str().unwrap().to_string(),
                b["data"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(buttons.len() >= 3, "{buttons:?}");
    assert_eq!(buttons.last().unwrap().1, "human");
    let (label, data) = buttons
        .iter()
        .find(|(_, d)| d.starts_with("faq:orders."))
        .unwrap()
        .clone();
    visitor.press(&site, &data).await;
    site.outbox.drain().await.unwrap();
    let answer = visitor.next().await;
    let text = answer["text"].as_str().unwrap();
    assert!(
        text.contains("Track") || text.contains("Cancel"),
        "{label}: {text}"
    );
    // The answer carries its own buttons ("That helped" / "Talk to a person").
    Visitor::button(&answer, "That helped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tells_other_replicas_which_web_chat_has_news() {
    let schema = crate::pg::PgSchema::new();
    let writer = schema.open().await;
    let watcher = schema.open().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    watcher.watch_web_messages(Arc::new(move |chat: Option<&str>| {
        let _ = tx.send(chat.map(str::to_string));
    }));
    let deadline = std::time::Duration::from_secs(10);
    // Once listening, the store wakes every chat (what was sent before is unknown) ...
    let first = tokio::time::timeout(deadline, rx.recv()).await.unwrap();
    assert_eq!(first, Some(None));
    // ... then names the chat of each message recorded by another process.
    writer
        .append_web_message("chat-x", "hello", &[], None, None, start_clock().now())
        .await
        .unwrap();
    let named = tokio::time::timeout(deadline, rx.recv())
        .await
        .expect("notified within 10 s");
    assert_eq!(named, Some(Some("chat-x".to_string())));
}

#[tokio::test]
async fn a_web_message_delivered_again_after_a_crash_is_shown_once() {
    let site = site(None).await;
    let chat = "0123456789abcdef0123456789abcdef";
    let message = frontdesk::domain::Outbound::text(
        frontdesk::domain::ChatAddress::new(frontdesk::domain::Platform::Web, chat),
        "Your parcel left the warehouse.",
    );
    // The outbox worker delivered item 42, then died before recording it: item 42 is
    // delivered again after its lease.
    let first = site.chat.deliver_item(42, &message).await.unwrap();
    let again = site.chat.deliver_item(42, &message).await.unwrap();
    assert_eq!(first, again);
    site.chat.deliver_item(43, &message).await.unwrap();
    let history = site.chat.history(chat).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    let mut visitor = Visitor::resume(&site, &format!("fd_chat={chat}"), None).await;
    assert_eq!(visitor.next().await["id"], history[0].id);
    assert_eq!(visitor.next().await["id"], history[1].id);
}

#[tokio::test]
async fn the_chat_can_be_embedded_with_one_script_tag_and_the_console_cannot_be_framed() {
    let site = site(Some(TOKEN)).await;
    // The widget script: a launcher that opens this server's /chat in a frame.
    let res = site
        .http
        .get(site.url("/chat/widget.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let script = res.text().await.unwrap();
    assert!(script.contains("document.currentScript"), "{script}");
    assert!(script.contains("origin + '/chat'"), "{script}");
    assert!(frontdesk::web::widget::SNIPPET.contains("/chat/widget.js"));

    // Over plain http the visitor's cookie is Lax; behind https it survives in a frame on
    // another site (SameSite=None, Secure, partitioned per embedding site).
    let res = site.http.get(site.url("/chat")).send().await.unwrap();
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(!res.headers().contains_key("x-frame-options"));
    let res = site
        .http
        .get(site.url("/chat"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=None", "Secure", "Partitioned"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }

    // Every console answer, logged in or not, forbids framing.
    for path in ["/console/login", "/console", "/console/tickets/1"] {
        let res = site.http.get(site.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            res.headers()["content-security-policy"],
            "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}
