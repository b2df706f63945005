//! The operators' console pages: overview (the figures of `/stats` and `frontdesk report`
//! from [`crate::metrics`]), the ticket list with filters, and a ticket page whose actions
//! are desk commands handed to [`crate::service::Service::handle_desk`] — the same commands the chat desks
//! send, so every desk stays in sync.
//!
//! Reads the store for display; every change goes through the service.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::{ChatAddress, Direction, Platform, Priority, TicketNo, Timestamp};
use crate::metrics::render::{durations, percent};
use crate::metrics::{GroupBy, Metrics, Period};
use crate::service::{Agent, DeskInbound};
use crate::store::TicketFilter;

use super::auth::{self, Operator};
use super::charts;
use super::page::layout;
use super::{random_token, Web};

/// The console's chat id for desk answers (`web:desk`, thread = ticket number).
pub const DESK_CHAT_ID: &str = "desk";
/// Rows shown by the ticket list.
const LIST_LIMIT: usize = 200;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/console/login", get(auth::login_form).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console", get(overview))
        .route("/console/tickets", get(tickets))
        .route("/console/faq", get(faq_insights))
        .route("/console/tickets/{no}", get(ticket_page))
        .route("/console/tickets/{no}/act", post(act))
}

fn fmt_time(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn store_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!("console: store error: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is not answering; try again shortly.",
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    #[serde(default)]
    period: Option<String>,
}

/// The three periods offered by the switch.
const PERIODS: [&str; 3] = ["today", "7d", "30d"];

async fn overview(
    State(web): State<Web>,
    operator: Operator,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let period: Period = match q.period.as_deref().unwrap_or("today").parse() {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let window = period.window(web.clock.now());
    let reports = match crate::metrics_worker::gather_split(
        web.service.store().as_ref(),
        &window,
        &[GroupBy::Platform, GroupBy::Priority],
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let [report, by_priority] = reports.as_slice() else {
        return store_error("the overview's reports are missing");
    };
    // Every priority has a row, with or without tickets in the period.
    let priorities: Vec<(Priority, Metrics)> = [Priority::P1, Priority::P2, Priority::P3]
        .into_iter()
        .map(|p| {
            let slice = by_priority
                .groups
                .iter()
                .find(|(name, _)| name == p.as_str())
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            (p, slice)
        })
        .collect();
    let sla = web.service.sla();
    let m = &report.total;
    let b = &m.backlog;
    let deflection = m.deflection.unwrap_or_default();
    let body = html! {
        div.titlebar {
            h1 { "Overview, " (period.describe()) }
            nav.periods {
                @for p in PERIODS {
                    @if p == period.to_string() { strong { (p) } } @else { a href={"/console?period=" (p)} { (p) } }
                }
            }
        }
        p.muted { (fmt_time(window.since)) " – " (fmt_time(window.now)) " · backlog as of now" }
        div.cards {
            div.card { div.muted { "Created" } div.figure #created { (m.created) } div.muted { "tickets in the period" } }
            div.card { div.muted { "Backlog" } div.figure #backlog { (b.total) } div.muted { "P1 " (b.p1) " · P2 " (b.p2) " · P3 " (b.p3) } }
            div.card.ringed {
                (charts::ring(m.sla_compliance(), charts::health(m.sla_compliance(), 0.95, 0.8)))
                div.muted { "SLA compliance" } div.figure #sla { (percent(m.sla_compliance())) }
                div.muted { (m.sla_first_response.met + m.sla_resolution.met) "/" (m.sla_first_response.due + m.sla_resolution.due) " kept" }
            }
            div.card.ringed {
                (charts::ring(m.csat.satisfied_rate(), charts::health(m.csat.satisfied_rate(), 0.8, 0.6)))
                div.muted { "CSAT" } div.figure #csat {
                    @match m.csat.average() { Some(a) => { (format!("{a:.1}/5")) }, None => { "–" } }
                }
                div.muted { (plural(m.csat.count, "rating", "ratings")) ", " (percent(m.csat.satisfied_rate())) " 4–5" }
            }
            div.card.ringed {
                (charts::ring(m.reopen_rate(), "#e89b2c"))
                div.muted { "Reopen rate" } div.figure #reopen { (percent(m.reopen_rate())) }
                div.muted { (m.reopened) "/" (m.resolved) " resolved" }
            }
            div.card.ringed {
                (charts::ring(deflection.rate(), "#2f6db5"))
                div.muted { "Bot deflection" } div.figure #deflection { (percent(deflection.rate())) }
                div.muted { (deflection.deflected) "/" (deflection.answered) " FAQ answers" }
            }
        }
        div.panels {
            section.panel {
                h2 { "Backlog by priority and state" }
                (charts::backlog(m))
            }
            section.panel {
                h2 { "SLA compliance" }
                (charts::sla(m))
                p.note { "Promises settled in the period: kept by the deadline, or broken when it passed." }
            }
            section.panel {
                h2 { "First response time vs SLA" }
                (charts::response_times(charts::Promise::FirstResponse, &priorities, sla))
                p.note #first-response { "All priorities: " (durations(&m.first_response)) }
            }
            section.panel {
                h2 { "Resolution time vs SLA" }
                (charts::response_times(charts::Promise::Resolution, &priorities, sla))
                p.note #resolution { "All priorities: " (durations(&m.resolution)) }
            }
            section.panel {
                h2 { "Customer satisfaction" }
                (charts::csat(m))
                p.note { @match m.csat.average() {
                    Some(a) => { (format!("Average {a:.1}/5 from {}, {} rated 4–5.", plural(m.csat.count, "rating", "ratings"), percent(m.csat.satisfied_rate()))) },
                    None => { "No ratings in this period." }
                } }
            }
            section.panel {
                h2 { "Reopens, first contact, bot deflection" }
                (charts::rates(m))
                p.note { "Reopen and first-contact rates of the tickets resolved in the period; deflection: FAQ answers not followed by a ticket within 24 h." }
            }
            section.panel.wide {
                h2 { "Volume by hour of the day" }
                (charts::by_hour_of_day(m))
                p.note { "Tickets created and FAQ answers shown in the period, by hour (UTC), summed over its days." }
            }
            section.panel {
                h2 { "Volume by platform" }
                (charts::by_platform(&report.groups))
            }
            section.panel {
                h2 { "FAQ entries" }
                (faq_table(&report.faq))
                p { a href={"/console/faq?period=" (period)} { "FAQ insights: unanswered questions" } }
            }
        }
        @if sla.business_hours.is_some() {
            p.note { "P3 limits count business hours only; the times shown are elapsed time." }
        }
    };
    layout("Overview", Some(&operator), body).into_response()
}

/// `1 rating`, `3 ratings`.
fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Per FAQ entry: answers shown, "That helped" and "Talk to a person" afterwards.
fn faq_table(rows: &[crate::metrics::FaqRow]) -> Markup {
    html! {
        table #faq {
            tr { th { "Entry" } th { "Shown" } th { "Helped" } th { "Escalated" } }
            @for row in rows {
                tr {
                    td { (row.entry_id) } td { (row.shown) }
                    td { (row.helped) " (" (percent(row.helped_rate())) ")" }
                    td { (row.escalated) " (" (percent(row.escalated_rate())) ")" }
                }
            }
        }
    }
}

/// Unanswered questions read for the insights page (the most recent ones).
const UNANSWERED_READ: u32 = 2000;
/// Groups shown on the insights page.
const GROUPS_SHOWN: usize = 30;

const COPY_SCRIPT: &str = "document.querySelectorAll('button.copy').forEach(b => b.addEventListener('click', () => navigator.clipboard.writeText(document.getElementById(b.dataset.target).textContent)));";

async fn faq_insights(
    State(web): State<Web>,
    operator: Operator,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let period: Period = match q.period.as_deref().unwrap_or("7d").parse() {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let window = period.window(web.clock.now());
    let store = web.service.store();
    let report = match crate::metrics_worker::gather(store.as_ref(), &window, None).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let questions = match store
        .unanswered_questions(window.since, UNANSWERED_READ)
        .await
    {
        Ok(q) => q,
        Err(e) => return store_error(e),
    };
    let pairs: Vec<(String, crate::domain::Language)> = questions
        .into_iter()
        .map(|u| (u.text, u.language))
        .collect();
    let groups = crate::faq::insights::group_questions(&pairs);
    let body = html! {
        h1 { "FAQ insights, " (period.describe()) }
        p {
            @for p in PERIODS {
                @if p == period.to_string() { strong { (p) } } @else { a href={"/console/faq?period=" (p)} { (p) } }
                " "
            }
        }
        h2 { "Entries" }
        (faq_table(&report.faq))
        h2 { "Most frequent unanswered questions" }
        @if groups.is_empty() { p.muted { "None in this period." } }
        @for (i, g) in groups.iter().take(GROUPS_SHOWN).enumerate() {
            div.card.group {
                strong { (g.count) "×" } " " (g.examples.first().map(String::as_str).unwrap_or(""))
                ul { @for e in g.examples.iter().skip(1) { li { (e) } } }
                pre id={"snippet-" (i)} { (g.toml_snippet()) }
                button.copy type="button" data-target={"snippet-" (i)} { "Copy as new FAQ entry" }
            }
        }
        script { (maud::PreEscaped(COPY_SCRIPT)) }
    };
    layout("FAQ insights", Some(&operator), body).into_response()
}

/// The ticket list's filters, all optional (empty fields from the form mean "any").
#[derive(Deserialize, Default, Debug)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    q: String,
}

async fn tickets(
    State(web): State<Web>,
    operator: Operator,
    Query(q): Query<ListQuery>,
) -> Response {
    let filters = (|| {
        Ok::<_, String>((
            match q.state.trim() {
                "" => None,
                v => Some(
                    crate::domain::TicketState::parse(v)
                        .ok_or_else(|| format!("unknown state `{v}`"))?,
                ),
            },
            parse_opt::<crate::domain::Priority>("priority", &q.priority)?,
            parse_opt::<crate::domain::Category>("category", &q.category)?,
            parse_opt::<Platform>("platform", &q.platform)?,
        ))
    })();
    let (state, priority, category, platform) = match filters {
        Ok(f) => f,
        Err(bad) => return (StatusCode::BAD_REQUEST, bad).into_response(),
    };
    let text_filter = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let filter = TicketFilter {
        state,
        priority,
        category,
        platform,
        department: text_filter(&q.department),
        assignee: text_filter(&q.assignee),
        text: text_filter(&q.q),
        limit: Some(LIST_LIMIT as u32),
        ..TicketFilter::default()
    };
    let shown = match web.service.store().ticket_list(&filter).await {
        Ok(t) => t,
        Err(e) => return store_error(e),
    };
    let body = html! {
        h1 { "Tickets" }
        form method="get" action="/console/tickets" {
            (select("state", &q.state, &["new", "open", "waiting_on_customer", "resolved", "closed"]))
            (select("priority", &q.priority, &["P1", "P2", "P3"]))
            (select("category", &q.category, &["inquiry", "problem", "complaint", "after_sales"]))
            (select("platform", &q.platform, &["telegram", "discord", "web", "console"]))
            input name="department" placeholder="department" value=(q.department);
            input name="assignee" placeholder="assignee" value=(q.assignee);
            input name="q" placeholder="text or #number" value=(q.q);
            button type="submit" { "Filter" }
        }
        table #tickets {
            tr { th { "#" } th { "Subject" } th { "State" } th { "Priority" } th { "Category" } th { "Department" } th { "Assignee" } th { "Platform" } th { "Created" } }
            @for listed in &shown {
                @let t = &listed.ticket;
                tr {
                    td { a href={"/console/tickets/" (t.no.0)} { "#" (t.no.0) } }
                    td { (t.subject) }
                    td { (t.state.as_str()) } td { (t.priority) } td { (t.category) } td { (t.department) }
                    td { (t.assignee.as_deref().unwrap_or("–")) } td { (listed.platform) } td { (fmt_time(t.created_at)) }
                }
            }
        }
        @if shown.len() >= LIST_LIMIT { p.muted { "First " (LIST_LIMIT) " shown: narrow the filters." } }
    };
    layout("Tickets", Some(&operator), body).into_response()
}

/// An optional filter field: empty means any; anything else must parse.
fn parse_opt<T: std::str::FromStr>(field: &str, value: &str) -> Result<Option<T>, String> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| format!("unknown {field} `{v}`")),
    }
}

fn select(name: &str, current: &str, options: &[&str]) -> Markup {
    html! {
        select name=(name) {
            option value="" { (name) ": any" }
            @for o in options {
                option value=(o) selected[current.eq_ignore_ascii_case(o)] { (o) }
            }
        }
    }
}

async fn ticket_page(State(web): State<Web>, operator: Operator, Path(no): Path<i64>) -> Response {
    let details = match web.service.store().ticket_details(TicketNo(no)).await {
        Ok(Some(d)) => d,
        Ok(None) => return (StatusCode::NOT_FOUND, format!("No ticket #{no}.")).into_response(),
        Err(e) => return store_error(e),
    };
    let t = &details.ticket;
    let c = &details.customer;
    let notices = match web.chat.desk_notices(TicketNo(no)).await {
        Ok(n) => n,
        Err(e) => return store_error(e),
    };
    let body = html! {
        h1 { "#" (t.no.0) " " (t.subject) }
        p {
            "State " strong #state { (t.state.as_str()) } " · " (t.priority) " · " (t.category) " · department " (t.department)
            " · assignee " (t.assignee.as_deref().unwrap_or("nobody"))
        }
        p { "Customer " (c.display_name) " (" (c.platform) ")" @if c.vip { " · VIP" } }
        table {
            tr { th { "Deadline" } th { "Due" } th { "Done" } }
            tr { td { "First response" } td { (fmt_time(t.first_response_due)) } td { (t.first_response_at.map(fmt_time).unwrap_or_else(|| "–".into())) } }
            tr { td { "Resolution" } td { (fmt_time(t.resolution_due)) } td { (t.resolved_at.map(fmt_time).unwrap_or_else(|| "–".into())) } }
        }
        h2 { "Conversation" }
        div #messages {
            @for m in &details.messages {
                @let class = match m.direction { Direction::Inbound => "inbound", Direction::Outbound => "outbound", Direction::Internal => "internal" };
                div class={"msg " (class)} {
                    span.muted { (m.author) ", " (fmt_time(m.at)) @if m.direction == Direction::Internal { " (note)" } }
                    "\n" (m.text)
                }
            }
        }
        @if !notices.is_empty() {
            h2 { "Desk answers" }
            @for n in &notices { div.msg.internal { (n) } }
        }
        h2 { "Actions" }
        (action(&operator, no, "reply", Some("Reply to the customer"), true))
        (action(&operator, no, "note", Some("Internal note"), true))
        (action(&operator, no, "claim", None, false))
        (action(&operator, no, "priority", Some("P1, P2 or P3"), false))
        (action(&operator, no, "category", Some("inquiry, problem, complaint, after_sales"), false))
        (action(&operator, no, "transfer", Some("department"), false))
        (action(&operator, no, "resolve", Some("Solution for the customer"), true))
        h2 { "History" }
        table #events {
            tr { th { "When" } th { "What" } th { "Who" } th { "Detail" } }
            @for e in &details.events {
                tr { td { (fmt_time(e.at)) } td { (e.kind) } td { (e.actor) } td { (e.detail) } }
            }
        }
    };
    layout(&format!("#{no}"), Some(&operator), body).into_response()
}

/// One action form: the command, its argument (if any) and a fresh key so a resubmitted
/// form is processed once.
fn action(operator: &Operator, no: i64, command: &str, arg: Option<&str>, long: bool) -> Markup {
    let nonce = random_token().unwrap_or_default();
    html! {
        form.action method="post" action={"/console/tickets/" (no) "/act"} id={"act-" (command)} {
            input type="hidden" name="csrf" value=(operator.csrf);
            input type="hidden" name="nonce" value=(nonce);
            input type="hidden" name="command" value=(command);
            @if let Some(hint) = arg {
                @if long { textarea name="arg" placeholder=(hint) rows="2" cols="60" {} }
                @else { input name="arg" placeholder=(hint); }
            }
            " " button type="submit" { (command) }
        }
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    command: String,
    #[serde(default)]
    arg: String,
}

/// The desk command an action form stands for; `None` for an unknown action.
fn desk_text(command: &str, arg: &str) -> Option<String> {
    let arg = arg.trim();
    let text = match command {
        "reply" => arg.to_string(),
        "claim" => "/claim".to_string(),
        "note" | "priority" | "category" | "transfer" | "resolve" => format!("/{command} {arg}"),
        _ => return None,
    };
    Some(text)
}

async fn act(
    State(web): State<Web>,
    operator: Operator,
    Path(no): Path<i64>,
    Form(form): Form<ActForm>,
) -> Response {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let Some(text) = desk_text(&form.command, &form.arg) else {
        return (StatusCode::BAD_REQUEST, "unknown action").into_response();
    };
    let nonce = if form.nonce.is_empty() {
        random_token().unwrap_or_default()
    } else {
        form.nonce.chars().take(64).collect()
    };
    let inbound = DeskInbound {
        key: format!("web:desk:{nonce}"),
        agent: web_agent(&operator),
        ticket: Some(TicketNo(no)),
        reply_to: ChatAddress::ticket_thread(Platform::Web, DESK_CHAT_ID, TicketNo(no)),
        text,
    };
    match web.service.handle_desk(inbound).await {
        Ok(_) => Redirect::to(&format!("/console/tickets/{no}")).into_response(),
        Err(e) => store_error(e),
    }
}

/// The operator as a desk agent: `web:<name>` (configure it in `[[agents]] ids` when the
/// desk's agents are listed).
fn web_agent(operator: &Operator) -> Agent {
    Agent {
        platform: Platform::Web,
        user_id: operator.name.clone(),
        name: operator.name.clone(),
    }
}
