//! Outbox items → Discord REST calls: messages with escaped markdown, split at 2,000
//! characters, buttons as message components, the ticket card as an embed; one public
//! thread per ticket in the desk channel (create, rename, archive, unarchive); send limits
//! and the mapping of Discord's answers onto [`DeliveryError`].
//!
//! A ticket's desk thread is addressed symbolically (`ticket:N`) in the outbox; this module
//! records the real thread id in the store when the thread is created and resolves the
//! symbol on every later delivery.
//!
//! Requests are built with serenity's routes and builders but sent here, so that a 429's
//! `retry_after` (which serenity's error type drops) reaches the outbox: a per-route 429
//! defers that item, a global one pauses every delivery until it has passed. Called only by
//! the outbox worker, which owns retries and ordering; never logs message text.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use serenity::all::{
    AutoArchiveDuration, ButtonStyle, ChannelId, ChannelType, CreateActionRow,
    CreateAllowedMentions, CreateButton, CreateEmbed, CreateMessage, CreateThread, EditThread,
    Http, LightMethod, Nonce, Request, Route,
};
use tokio::time::Instant;

use super::format::{discord_len, escape_markdown, split_escaped, EMBED_LIMIT, MESSAGE_LIMIT};
use crate::domain::{Button, Outbound, OutboundBody, Platform, TicketNo};
use crate::ports::{ChatTransport, Delivered, DeliveryError};
use crate::replicas::SendShare;
use crate::store::Store;

/// Send limits. Discord allows about 5 messages per 5 s in one channel and 50 requests/s
/// overall; going over them earns 429s.
#[derive(Debug, Clone, Copy)]
pub struct DiscordLimits {
    pub per_channel_per_second: NonZeroU32,
    pub per_channel_burst: NonZeroU32,
    pub global_per_second: NonZeroU32,
    /// Longest a delivery waits for the limiter before handing the item back to the outbox
    /// as "retry after" (see the Telegram transport: a waiting item must not hold a round).
    pub max_wait: Duration,
}

impl Default for DiscordLimits {
    fn default() -> Self {
        DiscordLimits {
            per_channel_per_second: NonZeroU32::MIN,
            per_channel_burst: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            global_per_second: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            max_wait: Duration::from_secs(1),
        }
    }
}

/// Longest button label and payload Discord accepts; at most 5 buttons a row, 5 rows.
const LABEL_LIMIT: usize = 80;
const CUSTOM_ID_LIMIT: usize = 100;
const ROW_LIMIT: usize = 5;
/// Longest thread name.
const THREAD_NAME_LIMIT: usize = 100;
/// Discord's JSON error codes the transport acts on.
const CANNOT_MESSAGE_USER: i64 = 50007;
const UNKNOWN_CHANNEL: i64 = 10003;
const THREAD_ARCHIVED: i64 = 50083;

/// Delivers outbound messages to Discord channels, DMs and desk threads.
pub struct DiscordTransport {
    http: Arc<Http>,
    client: reqwest::Client,
    channels: DefaultKeyedRateLimiter<u64>,
    global: DefaultDirectRateLimiter,
    /// The overall limit's rate per second (its burst).
    global_burst: NonZeroU32,
    /// This replica's part of the overall limit; the whole of it until attached.
    share: OnceLock<Arc<SendShare>>,
    clock: DefaultClock,
    max_wait: Duration,
    /// Until when Discord asked for a global pause (a 429 with `global: true`).
    paused_until: Mutex<Option<Instant>>,
    /// Where desk thread ids are kept; attached once the store is open.
    store: OnceLock<Arc<dyn Store>>,
    /// The desk channel: every other channel without a thread is a customer's DM.
    desk: Option<ChannelId>,
}

impl std::fmt::Debug for DiscordTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordTransport")
            .field("proxy", &self.http.proxy)
            .finish_non_exhaustive()
    }
}

/// What Discord answered to a refused request.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: i64,
    pub message: String,
    pub retry_after: Option<f64>,
    pub global: bool,
}

impl Refusal {
    /// Reads an error answer; a body that is not Discord's JSON still gives the status.
    pub fn read(status: u16, retry_header: Option<&str>, body: &[u8]) -> Refusal {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let retry_after = json
            .get("retry_after")
            .and_then(|v| v.as_f64())
            .or_else(|| retry_header.and_then(|h| h.trim().parse::<f64>().ok()))
            .filter(|s| s.is_finite() && *s >= 0.0);
        Refusal {
            status,
            code: json.get("code").and_then(|v| v.as_i64()).unwrap_or(0),
            message: json
                .get("message")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
            retry_after,
            global: json
                .get("global")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        }
    }

    fn describe(&self) -> String {
        format!("HTTP {} code {}: {}", self.status, self.code, self.message)
    }

    /// What the outbox should do about it. `dm`: the target is a customer's DM channel.
    pub fn outcome(&self, dm: bool) -> DeliveryError {
        match (self.status, self.code) {
            (429, _) => DeliveryError::RetryAfter(retry_duration(self.retry_after)),
            (_, CANNOT_MESSAGE_USER) => DeliveryError::Unreachable(self.describe()),
            (403 | 404, UNKNOWN_CHANNEL) | (403, _) if dm => {
                DeliveryError::Unreachable(self.describe())
            }
            // A configuration problem, not this message's fault: keep it until fixed.
            (401, _) => DeliveryError::RetryAfter(Duration::from_secs(60)),
            (403, _) => DeliveryError::Transient(self.describe()),
            (400..=499, _) => DeliveryError::Rejected(self.describe()),
            _ => DeliveryError::Transient(self.describe()),
        }
    }
}

/// `retry_after` seconds as a wait; a 429 without one waits a little.
fn retry_duration(seconds: Option<f64>) -> Duration {
    match seconds {
        Some(s) => Duration::from_secs_f64(s.min(3600.0)),
        None => Duration::from_secs(5),
    }
}

impl DiscordTransport {
    pub fn new(
        http: Arc<Http>,
        client: reqwest::Client,
        limits: DiscordLimits,
        desk: Option<ChannelId>,
    ) -> DiscordTransport {
        DiscordTransport {
            http,
            client,
            channels: RateLimiter::keyed(
                Quota::per_second(limits.per_channel_per_second)
                    .allow_burst(limits.per_channel_burst),
            ),
            global: RateLimiter::direct(Quota::per_second(limits.global_per_second)),
            global_burst: limits.global_per_second,
            share: OnceLock::new(),
            clock: DefaultClock::default(),
            max_wait: limits.max_wait,
            paused_until: Mutex::new(None),
            store: OnceLock::new(),
            desk,
        }
    }

    /// The HTTP client (shared with the gateway client's REST calls).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// Gives the transport the store in which desk thread ids are recorded. Until then,
    /// items for a ticket's thread are deferred. Later calls keep the first store.
    pub fn attach_store(&self, store: Arc<dyn Store>) {
        let _ = self.store.set(store);
    }

    /// Gives the transport this replica's share of the bot's overall send limit (see
    /// [`crate::replicas`]). Later calls keep the first share.
    pub fn attach_share(&self, share: Arc<SendShare>) {
        let _ = self.share.set(share);
    }

    /// One slot of the overall limit, taking this replica's share into account.
    async fn overall_turn(&self) {
        match self.share.get() {
            Some(share) => share.until_ready(&self.global, self.global_burst).await,
            None => self.global.until_ready().await,
        }
    }

    fn store(&self) -> Result<&Arc<dyn Store>, DeliveryError> {
        self.store
            .get()
            .ok_or(DeliveryError::RetryAfter(Duration::from_secs(1)))
    }

    /// Waits for a send slot in `channel` and overall, or hands the item back with
    /// `RetryAfter` when that would take longer than `max_wait` or Discord asked for a
    /// global pause.
    async fn wait_turn(&self, channel: u64) -> Result<(), DeliveryError> {
        let paused = *self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = paused {
            let now = Instant::now();
            if until > now {
                return Err(DeliveryError::RetryAfter(until - now));
            }
        }
        let mut waited = Duration::ZERO;
        loop {
            match self.channels.check_key(&channel) {
                Ok(()) => break,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if waited + wait > self.max_wait {
                        return Err(DeliveryError::RetryAfter(wait));
                    }
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
        let budget = self.max_wait.saturating_sub(waited);
        if tokio::time::timeout(budget, self.overall_turn())
            .await
            .is_err()
        {
            return Err(DeliveryError::RetryAfter(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// One REST call with a JSON body; the answer's JSON (`Null` for 204).
    async fn call(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: &impl Serialize,
        dm: bool,
    ) -> Result<serde_json::Value, DeliveryError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| DeliveryError::Rejected(format!("request not encodable: {e}")))?;
        let request = Request::new(route, method)
            .body(Some(bytes))
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .map_err(|e| DeliveryError::Rejected(super::describe(&e)))?;
        let response = request
            .send()
            .await
            .map_err(|e| DeliveryError::Transient(network_error(&e)))?;
        let status = response.status().as_u16();
        let retry_header = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|e| DeliveryError::Transient(network_error(&e)))?;
        if (200..300).contains(&status) {
            return Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
        }
        let refusal = Refusal::read(status, retry_header.as_deref(), &body);
        if status == 429 && refusal.global {
            let until = Instant::now() + retry_duration(refusal.retry_after);
            *self
                .paused_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(until);
            tracing::warn!(retry_after = ?refusal.retry_after, "discord: global rate limit; every delivery waits");
        }
        Err(refusal.outcome(dm))
    }

    /// Sends text in parts of at most 2,000 characters, buttons on the last one. A card
    /// (text with buttons in a desk thread) goes as one embed when it fits.
    async fn send_text(
        &self,
        channel: ChannelId,
        text: &str,
        buttons: &[Vec<Button>],
        card: bool,
        dm: bool,
        item: Option<i64>,
    ) -> Result<Delivered, DeliveryError> {
        if text.trim().is_empty() {
            return Err(DeliveryError::Rejected("empty message".into()));
        }
        let components = components(buttons);
        if card && !buttons.is_empty() {
            let escaped = escape_markdown(text.trim());
            if !escaped.is_empty() && discord_len(&escaped) <= EMBED_LIMIT {
                let mut message =
                    base_message(item, 0).embed(CreateEmbed::new().description(escaped));
                if let Some(rows) = components.clone() {
                    message = message.components(rows);
                }
                return self.post(channel, &message, dm).await;
            }
        }
        let parts = split_escaped(text, MESSAGE_LIMIT);
        if parts.is_empty() {
            return Err(DeliveryError::Rejected("empty message".into()));
        }
        let mut last = Delivered::default();
        // If a later part fails, the outbox retries the whole item and the earlier parts
        // are sent again: rare (long texts only) and better than losing the rest.
        for (i, part) in parts.iter().enumerate() {
            let mut message = base_message(item, i).content(part.clone());
            if i + 1 == parts.len() {
                if let Some(rows) = components.clone() {
                    message = message.components(rows);
                }
            }
            last = self.post(channel, &message, dm).await?;
        }
        Ok(last)
    }

    async fn post(
        &self,
        channel: ChannelId,
        message: &CreateMessage,
        dm: bool,
    ) -> Result<Delivered, DeliveryError> {
        self.wait_turn(channel.get()).await?;
        let sent = self
            .call(
                Route::ChannelMessages {
                    channel_id: channel,
                },
                LightMethod::Post,
                message,
                dm,
            )
            .await?;
        Ok(Delivered {
            platform_message_id: sent.get("id").and_then(|v| v.as_str()).map(str::to_string),
        })
    }

    /// The thread id recorded for the ticket in the desk `channel`, if it was created.
    async fn thread_of(
        &self,
        channel: ChannelId,
        no: TicketNo,
    ) -> Result<Option<ChannelId>, DeliveryError> {
        let recorded = self
            .store()?
            .thread_ref(no, Platform::Discord, &channel.to_string())
            .await
            .map_err(|e| DeliveryError::Transient(format!("thread of {no} not readable: {e}")))?;
        Ok(recorded.and_then(|t| parse_id(&t)))
    }

    /// Creates the ticket's public thread and records its id — unless an earlier attempt
    /// already did (a retry after the answer was lost must not open a second thread).
    async fn open_thread(
        &self,
        channel: ChannelId,
        no: TicketNo,
        title: &str,
    ) -> Result<Delivered, DeliveryError> {
        if let Some(thread) = self.thread_of(channel, no).await? {
            return Ok(Delivered {
                platform_message_id: Some(thread.to_string()),
            });
        }
        self.wait_turn(channel.get()).await?;
        let name: String = title.chars().take(THREAD_NAME_LIMIT).collect();
        let body = CreateThread::new(name)
            .kind(ChannelType::PublicThread)
            .auto_archive_duration(AutoArchiveDuration::OneWeek);
        let created = self
            .call(
                Route::ChannelThreads {
                    channel_id: channel,
                },
                LightMethod::Post,
                &body,
                false,
            )
            .await?;
        let thread = created
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|id| parse_id(id).is_some())
            .ok_or_else(|| DeliveryError::Transient("thread created without an id".into()))?
            .to_string();
        self.store()?
            .set_thread_ref(no, Platform::Discord, &channel.to_string(), &thread)
            .await
            .map_err(|e| DeliveryError::Transient(format!("thread of {no} not recorded: {e}")))?;
        tracing::info!(ticket = %no, thread = %thread, "discord: desk thread opened");
        Ok(Delivered {
            platform_message_id: Some(thread),
        })
    }

    /// Renames, archives or unarchives a thread. Archiving a thread that is already
    /// archived (or renaming one) is done, not an error.
    async fn edit_thread(
        &self,
        thread: ChannelId,
        edit: &EditThread<'_>,
    ) -> Result<Delivered, DeliveryError> {
        self.wait_turn(thread.get()).await?;
        let result = self
            .call(
                Route::Channel { channel_id: thread },
                LightMethod::Patch,
                edit,
                false,
            )
            .await;
        match result {
            Ok(_) => Ok(Delivered::default()),
            Err(DeliveryError::Rejected(reason))
                if reason.contains(&THREAD_ARCHIVED.to_string()) =>
            {
                Ok(Delivered::default())
            }
            Err(e) => Err(e),
        }
    }
}

fn parse_id(raw: &str) -> Option<ChannelId> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id != 0)
        .map(ChannelId::new)
}

fn network_error(error: &reqwest::Error) -> String {
    let mut parts = vec![if error.is_timeout() {
        "timed out".to_string()
    } else {
        "request failed".to_string()
    }];
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    format!("network: {}", parts.join(": "))
}

/// Every message: no mention pings (customer words may hold `@everyone`).
/// A message without mentions; for outbox item `item`, part `part` carries the nonce
/// `fd<item>.<part>` with `enforce_nonce`: Discord answers a repeat within a few minutes
/// with the message it already created instead of posting it again.
fn base_message(item: Option<i64>, part: usize) -> CreateMessage {
    let message = CreateMessage::new().allowed_mentions(CreateAllowedMentions::new());
    match item {
        // At most 25 characters: "fd" + 19 digits + "." + the part (a text has few).
        Some(id) => message
            .nonce(Nonce::String(format!("fd{id}.{part}")))
            .enforce_nonce(true),
        None => message,
    }
}

/// Message components: one button per [`Button`], rows kept, within Discord's limits.
pub fn components(buttons: &[Vec<Button>]) -> Option<Vec<CreateActionRow>> {
    let rows: Vec<CreateActionRow> = buttons
        .iter()
        .map(|row| {
            row.iter()
                .filter(|b| !b.data.is_empty() && b.data.len() <= CUSTOM_ID_LIMIT)
                .take(ROW_LIMIT)
                .map(|b| {
                    let label: String = b.label.chars().take(LABEL_LIMIT).collect();
                    CreateButton::new(b.data.clone())
                        .label(if label.trim().is_empty() {
                            "·".into()
                        } else {
                            label
                        })
                        .style(ButtonStyle::Secondary)
                })
                .collect::<Vec<_>>()
        })
        .filter(|row| !row.is_empty())
        .take(ROW_LIMIT)
        .map(CreateActionRow::Buttons)
        .collect();
    (!rows.is_empty()).then_some(rows)
}

fn is_thread_operation(body: &OutboundBody) -> bool {
    matches!(
        body,
        OutboundBody::RenameThread { .. } | OutboundBody::CloseThread | OutboundBody::ReopenThread
    )
}

#[async_trait]
impl ChatTransport for DiscordTransport {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.deliver_with(None, message).await
    }

    async fn deliver_item(&self, id: i64, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.deliver_with(Some(id), message).await
    }
}

impl DiscordTransport {
    /// Delivers `message`; `item` (the outbox id) becomes the messages' nonce.
    async fn deliver_with(
        &self,
        item: Option<i64>,
        message: &Outbound,
    ) -> Result<Delivered, DeliveryError> {
        let chat = parse_id(&message.to.chat_id)
            .ok_or_else(|| DeliveryError::Rejected("discord channel id is not a number".into()))?;
        let ticket_thread = message.to.ticket_of_thread();
        let target = match ticket_thread {
            Some(no) => {
                if let OutboundBody::OpenThread { title } = &message.body {
                    return self.open_thread(chat, no, title).await;
                }
                match self.thread_of(chat, no).await? {
                    Some(thread) => thread,
                    // The thread could not be created (permissions): thread operations have
                    // nothing to act on and messages go to the desk channel itself.
                    None if is_thread_operation(&message.body) => {
                        tracing::debug!(ticket = %no, "discord: no thread for this ticket; thread operation skipped");
                        return Ok(Delivered::default());
                    }
                    None => chat,
                }
            }
            None => match &message.to.thread_id {
                Some(t) => parse_id(t).ok_or_else(|| {
                    DeliveryError::Rejected("discord thread id is not a number".into())
                })?,
                None => chat,
            },
        };
        // A customer's DM: the only place where "cannot send to this user" means the
        // customer is unreachable.
        let dm = message.to.thread_id.is_none() && self.desk != Some(chat);
        match &message.body {
            OutboundBody::Text { text, buttons } => {
                self.send_text(target, text, buttons, ticket_thread.is_some(), dm, item)
                    .await
            }
            OutboundBody::File {
                attachment,
                caption,
            } => {
                // Discord shows a file link as a preview: the file is never re-uploaded.
                let name = attachment.name.as_deref().unwrap_or("");
                let text = [
                    caption.trim(),
                    &format!("[{}] {name}", attachment.kind),
                    attachment.reference.as_str(),
                ]
                .iter()
                .filter(|s| !s.trim().is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
                self.send_text(target, &text, &[], false, dm, item).await
            }
            OutboundBody::OpenThread { .. } => Err(DeliveryError::Rejected(
                "a thread can only be opened for a ticket's thread address".into(),
            )),
            OutboundBody::RenameThread { title } => {
                let name: String = title.chars().take(THREAD_NAME_LIMIT).collect();
                self.edit_thread(target, &EditThread::new().name(name))
                    .await
            }
            OutboundBody::CloseThread => {
                self.edit_thread(target, &EditThread::new().archived(true))
                    .await
            }
            OutboundBody::ReopenThread => {
                self.edit_thread(target, &EditThread::new().archived(false))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_onto_delivery_outcomes() {
        let r = Refusal::read(
            429,
            None,
            br#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
        );
        assert_eq!(
            r.outcome(true),
            DeliveryError::RetryAfter(Duration::from_millis(1500))
        );
        let r = Refusal::read(429, Some("3"), b"not json");
        assert_eq!(
            r.outcome(false),
            DeliveryError::RetryAfter(Duration::from_secs(3))
        );
        let r = Refusal::read(
            403,
            None,
            br#"{"message":"Cannot send messages to this user","code":50007}"#,
        );
        assert!(matches!(r.outcome(true), DeliveryError::Unreachable(_)));
        let r = Refusal::read(
            400,
            None,
            br#"{"message":"Invalid Form Body","code":50035}"#,
        );
        assert!(matches!(r.outcome(true), DeliveryError::Rejected(_)));
        let r = Refusal::read(
            403,
            None,
            br#"{"message":"Missing Permissions","code":50013}"#,
        );
        assert!(matches!(r.outcome(false), DeliveryError::Transient(_)));
        let r = Refusal::read(502, None, b"<html>");
        assert!(matches!(r.outcome(true), DeliveryError::Transient(_)));
        assert_eq!(
            Refusal::read(401, None, b"{}").outcome(true),
            DeliveryError::RetryAfter(Duration::from_secs(60))
        );
    }

    #[test]
    fn components_keep_rows_within_limits() {
        let b = |l: &str, d: &str| Button {
            label: l.into(),
            data: d.into(),
        };
        let rows = components(&[
            vec![b("A", "a"), b("B", "b")],
            vec![],
            vec![b("C", &"x".repeat(101))],
        ])
        .expect("buttons");
        assert_eq!(rows.len(), 1);
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["components"][1]["custom_id"], "b");
        assert_eq!(json[0]["components"][0]["label"], "A");
        assert!(components(&[]).is_none());
    }
}
