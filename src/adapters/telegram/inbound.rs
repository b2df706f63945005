//! Receiving updates: the long-polling loop with explicit offsets and the webhook
//! endpoint. Both hand each update to [`TelegramInbound::process`] and confirm it to
//! Telegram (next offset / 2xx) only after the service committed it — a crash in
//! between means Telegram delivers it again and the store's dedup key drops the repeat.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, CallbackQueryId, Update, UpdateKind};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::watch;

use super::desk::{button_inbound, chat_of, desk_inbound, translate_desk, DeskUpdate};
use super::translate::{translate, Translation};
use super::{describe, json_error, sleep_or_stop, TelegramConfig};
use crate::domain::Platform;
use crate::service::DeskRoute;
use crate::service::{Service, ServiceError};

/// Header in which Telegram repeats the webhook's `secret_token`.
pub const WEBHOOK_SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Updates fetched per getUpdates call.
const BATCH: u8 = 100;

/// Turns updates into service calls and answers button presses.
pub struct TelegramInbound {
    bot: Bot,
    service: Arc<Service>,
}

impl TelegramInbound {
    pub fn new(bot: Bot, service: Arc<Service>) -> TelegramInbound {
        TelegramInbound { bot, service }
    }

    /// Processes one update. `Err` means nothing was stored: do not confirm the update.
    pub async fn process(&self, update: &Update) -> Result<(), ServiceError> {
        if let Some(route) = self.desk_route() {
            if chat_of(update).map(|c| c.to_string()).as_deref() == Some(route.chat_id.as_str()) {
                return self.process_desk(update, &route).await;
            }
        }
        match translate(update) {
            Translation::Inbound { inbound, callback } => {
                let handled = self.service.handle(inbound).await?;
                tracing::debug!(update = update.id.0, ?handled, "telegram update processed");
                if let Some(id) = callback {
                    self.answer_callback(id);
                }
            }
            Translation::Ignore { reason, callback } => {
                if let UpdateKind::Error(raw) = &update.kind {
                    // Only the field names: the values may hold customer text.
                    let fields: Vec<&str> = raw
                        .as_object()
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    tracing::warn!(
                        update = update.id.0,
                        ?fields,
                        "telegram: update not understood, skipped"
                    );
                } else {
                    tracing::debug!(update = update.id.0, reason, "telegram update ignored");
                }
                if let Some(id) = callback {
                    self.answer_callback(id);
                }
            }
        }
        Ok(())
    }

    /// The Telegram desk, when the service has one.
    fn desk_route(&self) -> Option<DeskRoute> {
        self.service.desk_on(Platform::Telegram).cloned()
    }

    /// An update from the agents' desk chat.
    async fn process_desk(&self, update: &Update, route: &DeskRoute) -> Result<(), ServiceError> {
        match translate_desk(update) {
            DeskUpdate::Message {
                key,
                agent,
                thread,
                text,
            } => {
                let inbound = desk_inbound(
                    self.service.store().as_ref(),
                    route,
                    key,
                    agent,
                    thread,
                    text,
                )
                .await?;
                let handled = self.service.handle_desk(inbound).await?;
                tracing::debug!(
                    update = update.id.0,
                    ?handled,
                    "telegram desk message processed"
                );
            }
            DeskUpdate::Button {
                key,
                agent,
                button,
                callback,
            } => {
                match button {
                    Some(button) => {
                        let handled = self
                            .service
                            .handle_desk(button_inbound(route, key, agent, button))
                            .await?;
                        tracing::debug!(
                            update = update.id.0,
                            ?handled,
                            "telegram desk button processed"
                        );
                    }
                    None => tracing::debug!(
                        update = update.id.0,
                        "telegram: unknown desk button ignored"
                    ),
                }
                self.answer_callback(callback);
            }
            DeskUpdate::Ignore { reason, callback } => {
                tracing::debug!(update = update.id.0, reason, "telegram desk update ignored");
                if let Some(id) = callback {
                    self.answer_callback(id);
                }
            }
        }
        Ok(())
    }

    /// Stops the button's loading spinner. Not a message to the customer (no outbox);
    /// sent in the background so the next update is not held up by it.
    fn answer_callback(&self, id: CallbackQueryId) {
        let bot = self.bot.clone();
        tokio::spawn(async move {
            if let Err(e) = bot.answer_callback_query(id).send().await {
                tracing::debug!("telegram: answerCallbackQuery failed ({})", describe(&e));
            }
        });
    }
}

/// Long polling until shutdown. The offset moves past an update only once it is
/// processed; a store failure keeps it, backs off and fetches the same updates again.
pub(super) async fn poll(
    inbound: Arc<TelegramInbound>,
    config: &TelegramConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = u32::try_from(config.poll_timeout.as_secs()).unwrap_or(10);
    let mut offset: i32 = 0;
    let mut failures: u32 = 0;
    let mut crashes = CrashGuard::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let request = inbound
            .bot
            .get_updates()
            .offset(offset)
            .timeout(timeout)
            .limit(BATCH)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .send();
        let fetched = tokio::select! {
            result = request => result,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let processed = match fetched {
            Ok(updates) => process_batch(&inbound, updates, &mut offset).await,
            Err(RequestError::InvalidJson { raw, source }) => {
                // One update the client cannot read must not block the queue: salvage
                // the batch update by update.
                tracing::warn!(
                    "telegram: getUpdates answer not understood ({}); reading it update by update",
                    json_error(&source)
                );
                salvage_batch(&inbound, &raw, &mut offset).await
            }
            Err(e) => {
                failures += 1;
                let delay = match e {
                    RequestError::RetryAfter(seconds) => seconds.duration(),
                    RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
                        tracing::warn!("telegram: another process is polling with this bot token; only one may (use webhook mode for several replicas)");
                        backoff(failures, config.max_backoff)
                    }
                    e => {
                        tracing::warn!("telegram: getUpdates failed ({})", describe(&e));
                        backoff(failures, config.max_backoff)
                    }
                };
                if sleep_or_stop(delay, &mut shutdown).await {
                    break;
                }
                continue;
            }
        };
        let pause = match processed {
            Ok(()) => None,
            Err(NotProcessed::Panicked(id)) if crashes.crashed(id) => {
                tracing::error!(
                    update = id,
                    "telegram: update crashed the handler {MAX_CRASHES} times; skipped so that the others get through (a bug: please report)"
                );
                offset = offset.max(id.saturating_add(1));
                None
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("telegram: {e}; will fetch it again");
                Some(backoff(failures, config.max_backoff))
            }
        };
        match pause {
            None => failures = 0,
            Some(delay) => {
                if sleep_or_stop(delay, &mut shutdown).await {
                    break;
                }
            }
        }
    }
    // Confirm what was processed so a restart does not fetch it again (the store would
    // drop the repeats anyway). Best effort: a short request, no waiting for updates.
    if offset != 0 {
        let confirm = inbound
            .bot
            .get_updates()
            .offset(offset)
            .timeout(0)
            .limit(1)
            .send();
        let _ = tokio::time::timeout(Duration::from_secs(2), confirm).await;
    }
    tracing::info!("telegram: polling stopped");
}

/// Updates that crash the handler this many times in a row are skipped.
const MAX_CRASHES: u32 = 3;

/// Why an update was not processed (it stays unconfirmed).
#[derive(Debug, thiserror::Error)]
enum NotProcessed {
    #[error("update not stored ({0})")]
    Store(#[from] ServiceError),
    #[error("processing update {0} panicked")]
    Panicked(i32),
    #[error("the getUpdates answer is not a list of updates")]
    Unreadable,
}

/// Keeps one update that always crashes the handler (a bug) from blocking every customer
/// behind it forever: it is retried, and skipped after [`MAX_CRASHES`] crashes in a row.
#[derive(Debug, Default)]
struct CrashGuard {
    update: Option<i32>,
    crashes: u32,
}

impl CrashGuard {
    /// Records a crash on `update`; true when it is time to give up on it.
    fn crashed(&mut self, update: i32) -> bool {
        if self.update == Some(update) {
            self.crashes += 1;
        } else {
            self.update = Some(update);
            self.crashes = 1;
        }
        self.crashes >= MAX_CRASHES
    }
}

/// Processes one update in its own task, so that a panic is contained and reported
/// instead of ending the polling loop.
async fn process_one(inbound: &Arc<TelegramInbound>, update: Update) -> Result<(), NotProcessed> {
    let id = i32::try_from(update.id.0).unwrap_or(i32::MAX);
    let worker = inbound.clone();
    match tokio::spawn(async move { worker.process(&update).await }).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(NotProcessed::Panicked(id)),
    }
}

async fn process_batch(
    inbound: &Arc<TelegramInbound>,
    updates: Vec<Update>,
    offset: &mut i32,
) -> Result<(), NotProcessed> {
    for update in updates {
        let next = update.id.as_offset();
        process_one(inbound, update).await?;
        *offset = (*offset).max(next);
    }
    Ok(())
}

/// Reads a getUpdates answer the client rejected, update by update; `Unreadable` when it
/// is not even a list of updates (nothing to confirm).
async fn salvage_batch(
    inbound: &Arc<TelegramInbound>,
    raw: &str,
    offset: &mut i32,
) -> Result<(), NotProcessed> {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(raw) else {
        return Err(NotProcessed::Unreadable);
    };
    let Some(items) = body.get("result").and_then(|r| r.as_array()) else {
        return Err(NotProcessed::Unreadable);
    };
    for item in items {
        let Some(id) = item
            .get("update_id")
            .and_then(|v| v.as_i64())
            .and_then(|v| i32::try_from(v).ok())
        else {
            tracing::warn!("telegram: update without an update_id skipped");
            continue;
        };
        match serde_json::from_str::<Update>(&item.to_string()) {
            Ok(update) => process_one(inbound, update).await?,
            Err(e) => tracing::warn!(
                update = id,
                "telegram: update not understood ({}), skipped",
                json_error(&e)
            ),
        }
        *offset = (*offset).max(id.saturating_add(1));
    }
    Ok(())
}

fn backoff(failures: u32, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(10);
    Duration::from_millis(500u64 << exp).min(max)
}

/// The webhook endpoint: checks the secret, stores the update, then answers 2xx.
#[derive(Clone)]
pub struct WebhookHandler {
    inbound: Arc<TelegramInbound>,
    path: String,
    secret: SecretString,
}

impl std::fmt::Debug for WebhookHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookHandler")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WebhookHandler {
    pub fn new(inbound: Arc<TelegramInbound>, path: String, secret: SecretString) -> Self {
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        WebhookHandler {
            inbound,
            path,
            secret,
        }
    }

    /// The URL path to serve.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// 401 without the right secret (nothing read); 200 once the update is stored or
    /// deliberately skipped (unreadable); 500 when the store failed, so Telegram retries.
    pub async fn receive(&self, secret: Option<&[u8]>, body: &[u8]) -> StatusCode {
        let expected = self.secret.expose_secret().as_bytes();
        if !secret.is_some_and(|given| constant_time_eq(given, expected)) {
            tracing::warn!("telegram webhook: request without the right secret token refused");
            return StatusCode::UNAUTHORIZED;
        }
        let update = match serde_json::from_slice::<Update>(body) {
            Ok(update) => update,
            Err(e) => {
                // Telegram would re-send it forever: acknowledge and move on.
                tracing::warn!(
                    "telegram webhook: update not understood ({}), skipped",
                    json_error(&e)
                );
                return StatusCode::OK;
            }
        };
        match self.inbound.process(&update).await {
            Ok(()) => StatusCode::OK,
            Err(e) => {
                tracing::warn!(
                    update = update.id.0,
                    "telegram webhook: update not stored ({e})"
                );
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// Compares secrets without leaking through timing where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn an_update_that_keeps_crashing_is_given_up_after_three_crashes_in_a_row() {
        let mut guard = CrashGuard::default();
        assert!(!guard.crashed(7));
        assert!(!guard.crashed(7));
        assert!(!guard.crashed(8), "another update starts its own count");
        assert!(!guard.crashed(7));
        assert!(!guard.crashed(7));
        assert!(guard.crashed(7));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let max = Duration::from_secs(30);
        assert_eq!(backoff(1, max), Duration::from_millis(500));
        assert_eq!(backoff(2, max), Duration::from_secs(1));
        assert_eq!(backoff(40, max), max);
    }
}
