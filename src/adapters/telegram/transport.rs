//! Outbox items → Bot API calls: `sendMessage` with HTML formatting and splitting, files
//! re-sent by file id, forum topics for the agents' desk (create, rename, close, reopen),
//! send limits and the mapping of Telegram's errors onto [`DeliveryError`].
//!
//! A ticket's desk topic is addressed symbolically (`ticket:N`) in the outbox; this module
//! records the real `message_thread_id` in the store when createForumTopic succeeds and
//! resolves the symbol on every later delivery.
//!
//! Called only by the outbox worker, which owns retries and ordering; this module never
//! retries on its own except for the one documented case (a formatting error is resent
//! once as plain text) and never logs message text.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use teloxide::payloads::{
    EditForumTopicSetters, SendAnimationSetters, SendAudioSetters, SendDocumentSetters,
    SendMessageSetters, SendPhotoSetters, SendVideoNoteSetters, SendVideoSetters, SendVoiceSetters,
};
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    ChatId, FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ParseMode,
    ThreadId,
};
use teloxide::{ApiError, Bot, RequestError};

use super::format::{escape_html, split_text, MESSAGE_LIMIT};
use crate::domain::{Attachment, Button, Outbound, OutboundBody, Platform, TicketNo};
use crate::ports::{ChatTransport, Delivered, DeliveryError};
use crate::replicas::SendShare;
use crate::store::Store;

/// Send limits. Telegram's published limits are about 1 message/s in one chat,
/// 20/minute in a group and 30/s overall; going over them earns 429s.
#[derive(Debug, Clone, Copy)]
pub struct TelegramLimits {
    /// Messages per second to one private chat, and how many may go at once.
    pub per_chat_per_second: NonZeroU32,
    pub per_chat_burst: NonZeroU32,
    /// Messages per minute to one group chat.
    pub per_group_per_minute: NonZeroU32,
    /// Messages per second overall.
    pub global_per_second: NonZeroU32,
    /// Longest a delivery waits for the limiter before it hands the item back to the
    /// outbox as "retry after" — it must stay well below the outbox delivery timeout
    /// (20 s), so that waiting can never outlive the lease on the chat's lane. Short,
    /// because the outbox delivers a round of lanes together: a desk message waiting
    /// 3 s for its group slot inside a round would hold back every customer's reply
    /// claimed with it; handed back, it waits in the store instead.
    pub max_wait: Duration,
}

impl Default for TelegramLimits {
    fn default() -> Self {
        TelegramLimits {
            per_chat_per_second: NonZeroU32::MIN,
            per_chat_burst: NonZeroU32::MIN,
            per_group_per_minute: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            global_per_second: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            max_wait: Duration::from_secs(1),
        }
    }
}

/// How many deliveries between sweeps of idle per-chat limiter state.
const SWEEP_EVERY: u64 = 4096;

/// Delivers outbound messages to Telegram chats.
pub struct TelegramTransport {
    bot: Bot,
    private_chats: DefaultKeyedRateLimiter<i64>,
    groups: DefaultKeyedRateLimiter<i64>,
    global: DefaultDirectRateLimiter,
    /// The overall limit's rate per second (its burst).
    global_burst: NonZeroU32,
    /// This replica's part of the overall limit; the whole of it until attached.
    share: OnceLock<Arc<SendShare>>,
    clock: DefaultClock,
    max_wait: Duration,
    deliveries: AtomicU64,
    /// Where desk topic ids are kept; attached once the store is open.
    store: OnceLock<Arc<dyn Store>>,
}

impl std::fmt::Debug for TelegramTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramTransport")
            .field("api_url", &self.bot.api_url().as_str())
            .finish_non_exhaustive()
    }
}

impl TelegramTransport {
    pub fn new(bot: Bot, limits: TelegramLimits) -> TelegramTransport {
        let per_chat =
            Quota::per_second(limits.per_chat_per_second).allow_burst(limits.per_chat_burst);
        TelegramTransport {
            bot,
            private_chats: RateLimiter::keyed(per_chat),
            // Evenly spaced (no burst): a burst of 20 followed by the steady rate would put
            // up to 40 messages into one minute.
            groups: RateLimiter::keyed(
                Quota::per_minute(limits.per_group_per_minute).allow_burst(NonZeroU32::MIN),
            ),
            global: RateLimiter::direct(Quota::per_second(limits.global_per_second)),
            global_burst: limits.global_per_second,
            share: OnceLock::new(),
            clock: DefaultClock::default(),
            max_wait: limits.max_wait,
            deliveries: AtomicU64::new(0),
            store: OnceLock::new(),
        }
    }

    /// Gives the transport the store in which desk topic ids are recorded. Until then,
    /// items for a ticket's topic are deferred. Later calls keep the first store.
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

    /// Waits for a send slot in `chat` and overall. If the wait would take the delivery
    /// past `max_wait`, gives up with `RetryAfter` so the outbox reschedules the item
    /// instead of this call holding the lane.
    async fn wait_turn(&self, chat: i64, waited: &mut Duration) -> Result<(), DeliveryError> {
        // Group chat ids are negative; private chats (user ids) are positive.
        let limiter = if chat < 0 {
            &self.groups
        } else {
            &self.private_chats
        };
        loop {
            match limiter.check_key(&chat) {
                Ok(()) => break,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if *waited + wait > self.max_wait {
                        return Err(DeliveryError::RetryAfter(wait));
                    }
                    tokio::time::sleep(wait).await;
                    *waited += wait;
                }
            }
        }
        // The global limiter refills 30 times a second: its waits are short.
        let started = tokio::time::Instant::now();
        let budget = self.max_wait.saturating_sub(*waited);
        if tokio::time::timeout(budget, self.overall_turn())
            .await
            .is_err()
        {
            return Err(DeliveryError::RetryAfter(Duration::from_secs(1)));
        }
        *waited += started.elapsed();
        Ok(())
    }

    fn sweep_limiters(&self) {
        if self.deliveries.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.private_chats.retain_recent();
            self.private_chats.shrink_to_fit();
            self.groups.retain_recent();
            self.groups.shrink_to_fit();
        }
    }

    /// Sends one part as HTML; a formatting error is answered by sending the same text
    /// once more as plain text (no parse mode), so the customer still gets it.
    async fn send_part(
        &self,
        chat: ChatId,
        thread: Option<ThreadId>,
        text: &str,
        markup: Option<&InlineKeyboardMarkup>,
    ) -> Result<MessageId, DeliveryError> {
        let mut request = self
            .bot
            .send_message(chat, escape_html(text))
            .parse_mode(ParseMode::Html);
        if let Some(thread) = thread {
            request = request.message_thread_id(thread);
        }
        if let Some(markup) = markup {
            request = request.reply_markup(markup.clone());
        }
        match request.send().await {
            Ok(message) => Ok(message.id),
            Err(RequestError::Api(ApiError::CantParseEntities(_))) => {
                tracing::warn!(
                    chat = chat.0,
                    "telegram refused the HTML formatting; resending as plain text"
                );
                let mut plain = self.bot.send_message(chat, text);
                if let Some(thread) = thread {
                    plain = plain.message_thread_id(thread);
                }
                if let Some(markup) = markup {
                    plain = plain.reply_markup(markup.clone());
                }
                plain.send().await.map(|m| m.id).map_err(map_error)
            }
            Err(e) => Err(map_error(e)),
        }
    }
}

/// Inline keyboard: one callback button per [`Button`], rows kept.
pub fn keyboard(buttons: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    let rows: Vec<Vec<InlineKeyboardButton>> = buttons
        .iter()
        .filter(|row| !row.is_empty())
        .map(|row| {
            row.iter()
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
                .collect()
        })
        .collect();
    (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows))
}

/// Telegram's answer → what the outbox should do about it.
pub fn map_error(error: RequestError) -> DeliveryError {
    match error {
        RequestError::RetryAfter(seconds) => DeliveryError::RetryAfter(seconds.duration()),
        RequestError::Api(api) => map_api_error(api),
        RequestError::MigrateToChatId(to) => {
            DeliveryError::Rejected(format!("group moved to supergroup {}", to.0))
        }
        // Network trouble, timeouts, a proxy's HTML error page: try again later. Described
        // without the request URL, which holds the bot token.
        e @ (RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_)) => {
            DeliveryError::Transient(super::describe(&e))
        }
    }
}

fn map_api_error(api: ApiError) -> DeliveryError {
    match api {
        ApiError::BotBlocked
        | ApiError::UserDeactivated
        | ApiError::ChatNotFound
        | ApiError::UserNotFound
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots
        | ApiError::GroupDeactivated => DeliveryError::Unreachable(api.to_string()),
        // A configuration problem, not this message's fault: keep it, without spending
        // its attempts, until the token is fixed (like a platform without a transport).
        ApiError::InvalidToken => DeliveryError::RetryAfter(Duration::from_secs(60)),
        ApiError::Unknown(description) => {
            let lower = description.to_ascii_lowercase();
            if lower.starts_with("forbidden") {
                DeliveryError::Unreachable(description)
            } else if lower.starts_with("bad request") {
                DeliveryError::Rejected(description)
            } else if lower.starts_with("too many requests") {
                // A 429 without retry_after: wait a little rather than count an attempt.
                DeliveryError::RetryAfter(Duration::from_secs(5))
            } else {
                // 5xx ("Internal Server Error", "Bad Gateway") and anything unexpected.
                DeliveryError::Transient(description)
            }
        }
        other => DeliveryError::Rejected(other.to_string()),
    }
}

fn parse_chat_id(message: &Outbound) -> Result<ChatId, DeliveryError> {
    message
        .to
        .chat_id
        .trim()
        .parse::<i64>()
        .map(ChatId)
        .map_err(|_| DeliveryError::Rejected("telegram chat id is not a number".into()))
}

fn parse_thread(message: &Outbound) -> Result<Option<ThreadId>, DeliveryError> {
    match &message.to.thread_id {
        None => Ok(None),
        Some(t) => t
            .trim()
            .parse::<i32>()
            .map(|t| Some(ThreadId(MessageId(t))))
            .map_err(|_| DeliveryError::Rejected("telegram thread id is not a number".into())),
    }
}

#[async_trait]
impl ChatTransport for TelegramTransport {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.sweep_limiters();
        let chat = parse_chat_id(message)?;
        let thread = match message.to.ticket_of_thread() {
            Some(no) => {
                if let OutboundBody::OpenThread { title } = &message.body {
                    return self.open_topic(chat, no, title).await;
                }
                match self.topic_of(chat, no).await? {
                    Some(thread) => Some(thread),
                    // The topic could not be created (the group has no topics, the bot
                    // may not manage them): topic operations have nothing to act on and
                    // messages go to the desk's main chat, which still reaches agents.
                    None if is_topic_operation(&message.body) => {
                        tracing::debug!(ticket = %no, "telegram: no topic for this ticket; topic operation skipped");
                        return Ok(Delivered::default());
                    }
                    None => None,
                }
            }
            None => parse_thread(message)?,
        };
        let mut waited = Duration::ZERO;
        match &message.body {
            OutboundBody::Text { text, buttons } => {
                self.send_text(chat, thread, text, buttons, &mut waited)
                    .await
            }
            OutboundBody::File {
                attachment,
                caption,
            } => {
                self.wait_turn(chat.0, &mut waited).await?;
                match self.send_file(chat, thread, attachment, caption).await {
                    Err(DeliveryError::Rejected(reason)) => {
                        // Telegram will not re-send this file id (another bot's, wrong
                        // type): name the file instead, so the agent still knows of it.
                        tracing::info!(chat = chat.0, %reason, "telegram: file not re-sent by id; sending its reference");
                        let text = format!(
                            "[{}] {}{}",
                            attachment.kind,
                            attachment
                                .name
                                .as_deref()
                                .map(|n| format!("{n} "))
                                .unwrap_or_default(),
                            format_args!("(file id {})", attachment.reference)
                        );
                        self.send_text(chat, thread, &text, &[], &mut waited).await
                    }
                    other => other,
                }
            }
            OutboundBody::OpenThread { .. } => Err(DeliveryError::Rejected(
                "a topic can only be opened for a ticket's thread address".into(),
            )),
            OutboundBody::RenameThread { title } => {
                let thread = need_thread(thread)?;
                self.wait_turn(chat.0, &mut waited).await?;
                let result = self
                    .bot
                    .edit_forum_topic(chat, thread)
                    .name(title.clone())
                    .send()
                    .await
                    .map(|_| ());
                topic_result(result)
            }
            OutboundBody::CloseThread => {
                let thread = need_thread(thread)?;
                self.wait_turn(chat.0, &mut waited).await?;
                topic_result(
                    self.bot
                        .close_forum_topic(chat, thread)
                        .send()
                        .await
                        .map(|_| ()),
                )
            }
            OutboundBody::ReopenThread => {
                let thread = need_thread(thread)?;
                self.wait_turn(chat.0, &mut waited).await?;
                topic_result(
                    self.bot
                        .reopen_forum_topic(chat, thread)
                        .send()
                        .await
                        .map(|_| ()),
                )
            }
        }
    }
}

impl TelegramTransport {
    async fn send_text(
        &self,
        chat: ChatId,
        thread: Option<ThreadId>,
        text: &str,
        buttons: &[Vec<Button>],
        waited: &mut Duration,
    ) -> Result<Delivered, DeliveryError> {
        let parts = split_text(text, MESSAGE_LIMIT);
        if parts.is_empty() {
            return Err(DeliveryError::Rejected("empty message".into()));
        }
        let markup = keyboard(buttons);
        let mut last = None;
        // If a later part fails, the outbox retries the whole item and the earlier parts
        // are sent again: rare (long texts only) and better than losing the rest.
        for (i, part) in parts.iter().enumerate() {
            self.wait_turn(chat.0, waited).await?;
            let buttons = if i + 1 == parts.len() {
                markup.as_ref()
            } else {
                None
            };
            last = Some(self.send_part(chat, thread, part, buttons).await?);
        }
        Ok(Delivered {
            platform_message_id: last.map(|id| id.0.to_string()),
        })
    }

    /// Re-sends a file Telegram already holds, by its file id (nothing is downloaded).
    async fn send_file(
        &self,
        chat: ChatId,
        thread: Option<ThreadId>,
        attachment: &Attachment,
        caption: &str,
    ) -> Result<Delivered, DeliveryError> {
        let file = InputFile::file_id(FileId(attachment.reference.clone()));
        let caption: String = caption.chars().take(CAPTION_LIMIT).collect();
        macro_rules! send {
            ($method:ident) => {{
                let mut request = self.bot.$method(chat, file);
                if let Some(thread) = thread {
                    request = request.message_thread_id(thread);
                }
                if !caption.is_empty() {
                    request = request.caption(caption);
                }
                request.send().await
            }};
        }
        let sent = match attachment.kind.as_str() {
            "photo" => send!(send_photo),
            "video" => send!(send_video),
            "voice" => send!(send_voice),
            "audio" => send!(send_audio),
            "animation" => send!(send_animation),
            "video_note" => {
                let mut request = self.bot.send_video_note(chat, file);
                if let Some(thread) = thread {
                    request = request.message_thread_id(thread);
                }
                request.send().await
            }
            _ => send!(send_document),
        };
        sent.map(|m| Delivered {
            platform_message_id: Some(m.id.0.to_string()),
        })
        .map_err(map_error)
    }

    /// The topic id recorded for the ticket in `chat`, if its topic was created.
    async fn topic_of(
        &self,
        chat: ChatId,
        no: TicketNo,
    ) -> Result<Option<ThreadId>, DeliveryError> {
        let recorded = self
            .store()?
            .thread_ref(no, Platform::Telegram, &chat.0.to_string())
            .await
            .map_err(|e| DeliveryError::Transient(format!("topic of {no} not readable: {e}")))?;
        Ok(recorded
            .and_then(|t| t.trim().parse::<i32>().ok())
            .map(|t| ThreadId(MessageId(t))))
    }

    /// createForumTopic for the ticket and records its id — unless an earlier attempt
    /// already did (a retry after the answer was lost must not open a second topic).
    async fn open_topic(
        &self,
        chat: ChatId,
        no: TicketNo,
        title: &str,
    ) -> Result<Delivered, DeliveryError> {
        if let Some(thread) = self.topic_of(chat, no).await? {
            return Ok(Delivered {
                platform_message_id: Some(thread.0 .0.to_string()),
            });
        }
        let mut waited = Duration::ZERO;
        self.wait_turn(chat.0, &mut waited).await?;
        let title: String = title
            .chars()
            .take(crate::service::desk_topic::TITLE_CHARS)
            .collect();
        let topic = self
            .bot
            .create_forum_topic(chat, title)
            .send()
            .await
            .map_err(map_error)?;
        let thread = topic.thread_id.0 .0.to_string();
        self.store()?
            .set_thread_ref(no, Platform::Telegram, &chat.0.to_string(), &thread)
            .await
            .map_err(|e| DeliveryError::Transient(format!("topic of {no} not recorded: {e}")))?;
        tracing::info!(ticket = %no, thread = %thread, "telegram: desk topic opened");
        Ok(Delivered {
            platform_message_id: Some(thread),
        })
    }
}

/// Longest caption Telegram accepts.
const CAPTION_LIMIT: usize = 1024;

fn is_topic_operation(body: &OutboundBody) -> bool {
    matches!(
        body,
        OutboundBody::RenameThread { .. } | OutboundBody::CloseThread | OutboundBody::ReopenThread
    )
}

fn need_thread(thread: Option<ThreadId>) -> Result<ThreadId, DeliveryError> {
    thread.ok_or_else(|| DeliveryError::Rejected("topic operation without a topic".into()))
}

/// A topic already in the wanted state ("TOPIC_NOT_MODIFIED", "TOPIC_CLOSED") is done.
fn topic_result(result: Result<(), RequestError>) -> Result<Delivered, DeliveryError> {
    match result.map_err(map_error) {
        Ok(()) => Ok(Delivered::default()),
        Err(DeliveryError::Rejected(reason))
            if reason.contains("TOPIC_NOT_MODIFIED")
                || reason.contains("TOPIC_CLOSED")
                || reason.contains("TOPIC_NOT_CLOSED") =>
        {
            Ok(Delivered::default())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::Seconds;

    #[test]
    fn errors_map_onto_delivery_outcomes() {
        assert_eq!(
            map_error(RequestError::RetryAfter(Seconds::from_seconds(7))),
            DeliveryError::RetryAfter(Duration::from_secs(7))
        );
        assert!(matches!(
            map_error(RequestError::Api(ApiError::BotBlocked)),
            DeliveryError::Unreachable(_)
        ));
        assert!(matches!(
            map_error(RequestError::Api(ApiError::UserDeactivated)),
            DeliveryError::Unreachable(_)
        ));
        assert!(matches!(
            map_error(RequestError::Api(ApiError::ChatNotFound)),
            DeliveryError::Unreachable(_)
        ));
        assert_eq!(
            map_error(RequestError::Api(ApiError::InvalidToken)),
            DeliveryError::RetryAfter(Duration::from_secs(60)),
            "a refused token keeps messages instead of dead-lettering them"
        );
        assert!(matches!(
            map_error(RequestError::Api(ApiError::MessageIsTooLong)),
            DeliveryError::Rejected(_)
        ));
        assert!(matches!(
            map_error(RequestError::Api(ApiError::Unknown(
                "Bad Request: something new".into()
            ))),
            DeliveryError::Rejected(_)
        ));
        assert!(matches!(
            map_error(RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            DeliveryError::Transient(_)
        ));
        assert!(matches!(
            map_error(RequestError::Api(ApiError::Unknown(
                "Forbidden: bot can't send messages to this user".into()
            ))),
            DeliveryError::Unreachable(_)
        ));
    }

    #[test]
    fn keyboard_keeps_rows_and_payloads() {
        let b = |l: &str, d: &str| Button {
            label: l.into(),
            data: d.into(),
        };
        let markup = keyboard(&[vec![b("A", "a"), b("B", "b")], vec![], vec![b("C", "c")]])
            .expect("buttons");
        assert_eq!(markup.inline_keyboard.len(), 2);
        assert_eq!(markup.inline_keyboard[0].len(), 2);
        assert!(keyboard(&[]).is_none());
    }
}
