//! Operational counters for Prometheus (`GET /metrics`): inbound messages by platform and
//! outcome, tickets created, deliveries (latency, 429s, retries), SLA breaches and FAQ
//! feedback; the open backlog and outbox depth are read from the store at scrape time.
//!
//! Process-wide, like the logger: the pipeline counts with one call and no plumbing. The
//! service metrics of SPEC §6 (`/stats`, `frontdesk report`) are [`crate::metrics`]; these
//! counters are for operations and reset when the process restarts, as Prometheus expects.

use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::{Category, Platform, Priority};
use crate::metrics::Backlog;
use crate::store::FaqFeedback;

type Labels = Vec<(&'static str, String)>;

struct Telemetry {
    registry: Registry,
    inbound: Family<Labels, Counter>,
    tickets_created: Family<Labels, Counter>,
    delivery_seconds: Family<Labels, Histogram>,
    rate_limited: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    sla_breaches: Family<Labels, Counter>,
    faq_feedback: Family<Labels, Counter>,
    backlog: Family<Labels, Gauge>,
    outbox_depth: Family<Labels, Gauge>,
}

fn delivery_histogram() -> Histogram {
    // 5 ms … ~80 s: a delivery is milliseconds when all is well, minutes when rate limited.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 15,
    ))
}

fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let mut t = Telemetry {
            inbound: Family::default(),
            tickets_created: Family::default(),
            delivery_seconds: Family::new_with_constructor(delivery_histogram),
            rate_limited: Family::default(),
            retries: Family::default(),
            sla_breaches: Family::default(),
            faq_feedback: Family::default(),
            backlog: Family::default(),
            outbox_depth: Family::default(),
            registry: Registry::with_prefix("frontdesk"),
        };
        let registry = &mut t.registry;
        registry.register(
            "inbound_messages",
            "Customer messages and button presses by platform and outcome (bot, ticket, duplicate)",
            t.inbound.clone(),
        );
        registry.register(
            "tickets_created",
            "Tickets created by category and priority",
            t.tickets_created.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from enqueueing an outbound message to its delivery, by platform",
            t.delivery_seconds.clone(),
        );
        registry.register(
            "deliveries_rate_limited",
            "Deliveries deferred by the platform's rate limit (HTTP 429), by platform",
            t.rate_limited.clone(),
        );
        registry.register(
            "delivery_retries",
            "Deliveries that failed transiently and will be retried, by platform",
            t.retries.clone(),
        );
        registry.register(
            "sla_breaches",
            "SLA deadlines missed, by deadline (first_response, resolution)",
            t.sla_breaches.clone(),
        );
        registry.register(
            "faq_feedback",
            "FAQ answers shown and what followed (shown, helped, escalated)",
            t.faq_feedback.clone(),
        );
        registry.register(
            "backlog_tickets",
            "Open tickets agents must act on, by priority and state",
            t.backlog.clone(),
        );
        registry.register(
            "outbox_depth",
            "Outbound messages by outbox status (pending, dead)",
            t.outbox_depth.clone(),
        );
        t
    })
}

/// One customer message or button press handled: `outcome` is `bot`, `ticket` or `duplicate`.
pub fn inbound(platform: Platform, outcome: &'static str) {
    telemetry()
        .inbound
        .get_or_create(&vec![
            ("platform", platform.as_str().to_string()),
            ("outcome", outcome.to_string()),
        ])
        .inc();
}

pub fn ticket_created(category: Category, priority: Priority) {
    telemetry()
        .tickets_created
        .get_or_create(&vec![
            ("category", category.as_str().to_string()),
            ("priority", priority.as_str().to_string()),
        ])
        .inc();
}

/// Tickets counted as created so far, over every category and priority (for tests).
#[cfg(test)]
pub(crate) fn tickets_created_total() -> u64 {
    let t = telemetry();
    let mut total = 0;
    for category in Category::ALL {
        for priority in Priority::ALL {
            total += t
                .tickets_created
                .get_or_create(&vec![
                    ("category", category.as_str().to_string()),
                    ("priority", priority.as_str().to_string()),
                ])
                .get();
        }
    }
    total
}

pub fn delivered(platform: Platform, seconds: f64) {
    telemetry()
        .delivery_seconds
        .get_or_create(&vec![("platform", platform.as_str().to_string())])
        .observe(seconds.max(0.0));
}

pub fn rate_limited(platform: Platform) {
    telemetry()
        .rate_limited
        .get_or_create(&vec![("platform", platform.as_str().to_string())])
        .inc();
}

pub fn retried(platform: Platform) {
    telemetry()
        .retries
        .get_or_create(&vec![("platform", platform.as_str().to_string())])
        .inc();
}

/// `deadline`: `first_response` or `resolution`.
pub fn sla_breach(deadline: &'static str) {
    telemetry()
        .sla_breaches
        .get_or_create(&vec![("deadline", deadline.to_string())])
        .inc();
}

pub fn faq_feedback(kind: FaqFeedback) {
    telemetry()
        .faq_feedback
        .get_or_create(&vec![("kind", kind.as_str().to_string())])
        .inc();
}

/// The text exposition, with the gauges set from the store's figures just read.
pub fn render(backlog: &Backlog, outbox_pending: u64, outbox_dead: u64) -> String {
    let t = telemetry();
    for (label, value) in [("P1", backlog.p1), ("P2", backlog.p2), ("P3", backlog.p3)] {
        t.backlog
            .get_or_create(&vec![("priority", label.to_string())])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
    for (label, value) in [
        ("new", backlog.new),
        ("open", backlog.open),
        ("waiting_on_customer", backlog.waiting),
    ] {
        t.backlog
            .get_or_create(&vec![("state", label.to_string())])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
    for (label, value) in [("pending", outbox_pending), ("dead", outbox_dead)] {
        t.outbox_depth
            .get_or_create(&vec![("status", label.to_string())])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
    // Scrapes may overlap; encoding one at a time keeps each exposition consistent.
    static ENCODING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = ENCODING.lock();
    let mut out = String::new();
    if encode(&mut out, &t.registry).is_err() {
        out.clear();
    }
    out
}
