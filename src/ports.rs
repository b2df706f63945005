//! Ports owned by the core: how it reaches a chat platform and what time it is.
//!
//! Adapters implement [`ChatTransport`]; the outbox worker is its only caller. A
//! transport translates and delivers; it decides nothing about tickets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Outbound, Platform, Timestamp};

/// Why a delivery did not happen. The outbox worker decides what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform asked us to slow down (HTTP 429 `retry_after`).
    #[error("rate limited, retry after {0:?}")]
    RetryAfter(Duration),
    /// Network error, 5xx, timeout: try again with backoff.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// The customer blocked the bot / cannot receive messages: stop trying this chat.
    #[error("recipient unreachable: {0}")]
    Unreachable(String),
    /// The platform rejected this message for good (bad request): dead-letter it.
    #[error("rejected by platform: {0}")]
    Rejected(String),
}

/// Delivered: the platform's id of the (last) message it created, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    pub platform_message_id: Option<String>,
}

/// Sends outbound messages to one platform.
#[async_trait]
pub trait ChatTransport: Send + Sync {
    fn platform(&self) -> Platform;
    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError>;

    /// Delivers outbox item `id`. The id is the same on every attempt of the item, so a
    /// platform that can drop a repeat (Discord's enforced message nonce) is given it: a
    /// message re-sent after a crash between sending and recording (SPEC §9) then appears
    /// once. By default just [`ChatTransport::deliver`].
    async fn deliver_item(&self, id: i64, message: &Outbound) -> Result<Delivered, DeliveryError> {
        let _ = id;
        self.deliver(message).await
    }
}

/// Source of the current time; tests use a controllable one.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves time forward by `by` (saturating at the clock's range).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let step = chrono::Duration::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        *now = now.checked_add_signed(step).unwrap_or(*now);
    }

    pub fn set(&self, to: Timestamp) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
