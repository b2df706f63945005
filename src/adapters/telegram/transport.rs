//! Outbox items → Bot API `sendMessage` calls: HTML formatting, splitting, send limits
//! and the mapping of Telegram's errors onto [`DeliveryError`].
//!
//! Called only by the outbox worker, which owns retries and ordering; this module never
//! retries on its own except for the one documented case (a formatting error is resent
//! once as plain text) and never logs message text.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ParseMode, ThreadId,
};
use teloxide::{ApiError, Bot, RequestError};

use super::format::{escape_html, split_text, MESSAGE_LIMIT};
use crate::domain::{Button, Outbound, OutboundBody, Platform};
use crate::ports::{ChatTransport, Delivered, DeliveryError};

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
    /// (20 s), so that waiting can never outlive the lease on the chat's lane.
    pub max_wait: Duration,
}

impl Default for TelegramLimits {
    fn default() -> Self {
        TelegramLimits {
            per_chat_per_second: NonZeroU32::MIN,
            per_chat_burst: NonZeroU32::MIN,
            per_group_per_minute: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            global_per_second: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            max_wait: Duration::from_secs(10),
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
    clock: DefaultClock,
    max_wait: Duration,
    deliveries: AtomicU64,
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
            clock: DefaultClock::default(),
            max_wait: limits.max_wait,
            deliveries: AtomicU64::new(0),
        }
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
        if tokio::time::timeout(budget, self.global.until_ready())
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

fn parse_chat(message: &Outbound) -> Result<(ChatId, Option<ThreadId>), DeliveryError> {
    let chat = message
        .to
        .chat_id
        .trim()
        .parse::<i64>()
        .map_err(|_| DeliveryError::Rejected("telegram chat id is not a number".into()))?;
    let thread = match &message.to.thread_id {
        None => None,
        Some(t) => Some(ThreadId(MessageId(t.trim().parse::<i32>().map_err(
            |_| DeliveryError::Rejected("telegram thread id is not a number".into()),
        )?))),
    };
    Ok((ChatId(chat), thread))
}

#[async_trait]
impl ChatTransport for TelegramTransport {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.sweep_limiters();
        let (chat, thread) = parse_chat(message)?;
        let OutboundBody::Text { text, buttons } = &message.body;
        let parts = split_text(text, MESSAGE_LIMIT);
        if parts.is_empty() {
            return Err(DeliveryError::Rejected("empty message".into()));
        }
        let markup = keyboard(buttons);
        let mut waited = Duration::ZERO;
        let mut last = None;
        // If a later part fails, the outbox retries the whole item and the earlier parts
        // are sent again: rare (long texts only) and better than losing the rest.
        for (i, part) in parts.iter().enumerate() {
            self.wait_turn(chat.0, &mut waited).await?;
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
