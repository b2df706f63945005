//! HTTP edge: `/healthz`, Telegram's webhook (in webhook mode), and the web chat and
//! console of [`crate::web`] when they are wired.
//!
//! Reads state for health, never decides anything about tickets.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::service::Knowledge;
use crate::store::Store;

/// What the HTTP handlers can see.
#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<dyn Store>,
    pub knowledge: Knowledge,
    /// Names of the enabled channels.
    pub channels: Vec<String>,
    /// Telegram's webhook endpoint, in webhook mode.
    pub telegram_webhook: Option<crate::adapters::telegram::WebhookHandler>,
    /// The web chat and (with an admin token) the console.
    pub web: Option<crate::web::Web>,
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    database: DatabaseHealth,
    knowledge_base_entries: usize,
    channels: Vec<String>,
    outbox: Option<crate::store::OutboxStats>,
    /// Resident memory of this process in bytes (Linux), to keep an eye on the footprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_rss_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct DatabaseHealth {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn router(state: HttpState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus));
    if let Some(hook) = &state.telegram_webhook {
        router = router.route(hook.path(), post(telegram_webhook));
    }
    let web = state.web.clone();
    let router = router.with_state(state);
    match web {
        Some(web) => router.merge(web.routes().with_state(web)),
        None => router,
    }
}

/// Telegram webhook: the adapter checks the secret header and answers only after storing.
async fn telegram_webhook(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    match &state.telegram_webhook {
        Some(hook) => {
            let secret = headers
                .get(crate::adapters::telegram::WEBHOOK_SECRET_HEADER)
                .map(|v| v.as_bytes());
            hook.receive(secret, &body).await
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// 200 when the database answers, 503 otherwise; the body says which part is unwell.
async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    let db = state.store.ping().await;
    let outbox = match &db {
        Ok(()) => state.store.outbox_stats().await.ok(),
        Err(_) => None,
    };
    let database = DatabaseHealth {
        ok: db.is_ok(),
        error: db.err().map(|e| e.to_string()),
    };
    let code = if database.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if database.ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        database,
        knowledge_base_entries: state.knowledge.matcher().kb().entries.len(),
        channels: state.channels.clone(),
        outbox,
        memory_rss_bytes: resident_memory(),
    };
    (code, Json(body))
}

/// Prometheus text exposition; 503 when the database does not answer (the backlog and
/// outbox gauges come from it).
async fn prometheus(State(state): State<HttpState>) -> axum::response::Response {
    let window = crate::metrics::Period::Today.window(chrono::Utc::now());
    let gathered = crate::metrics_worker::gather(state.store.as_ref(), &window, None).await;
    let outbox = state.store.outbox_stats().await;
    match (gathered, outbox) {
        (Ok(report), Ok(outbox)) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            crate::telemetry::render(&report.total.backlog, outbox.pending, outbox.dead),
        )
            .into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("/metrics: store error: {e}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Resident set size from `/proc/self/statm` (pages × 4 KiB); `None` where unavailable.
fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
