//! Retention: the housekeeper deletes what the service no longer needs, so the store does
//! not grow with every message forever.
//!
//! Deleted, each after its own period (`[retention]` in `frontdesk.toml`):
//! * inbound dedup keys (`inbound_keys`, default 7 d) — platforms redeliver an update for
//!   a day at most, so an older key can never stop a duplicate;
//! * delivered outbox items and SLA timers that fired or were cancelled (`delivered`,
//!   default 30 d) — dead-lettered items are kept for people to see;
//! * web chat messages (`web_chat`, default 90 d; a visitor's cookie lasts 30 d);
//! * console sessions once they have expired;
//! * when `closed_tickets` is set (off by default), the texts of tickets closed longer ago:
//!   subject, messages, rating comment become `[erased]` (numbers, times, scores stay).
//!
//! Tickets, their events, ratings' scores, FAQ interactions and unanswered questions are
//! the service's history and are never deleted here. The store deletes in
//! small batches ([`Store::prune`]) so that a first run on a large database never holds
//! the single SQLite writer (or PostgreSQL row locks) for long; every replica may run a
//! housekeeper (PostgreSQL batches skip rows another replica is deleting).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::domain::Timestamp;
use crate::ports::Clock;
use crate::sla::humantime_secs;
use crate::store::{PruneBefore, Pruned, Store, StoreError};

/// Rows deleted per table and statement.
const BATCH: u32 = 1_000;
/// The shortest `inbound_keys` period accepted: Telegram keeps an unconfirmed update for
/// 24 hours, so a key must outlive that (with a day's margin).
const MIN_INBOUND_KEYS: Duration = Duration::from_secs(2 * 24 * 3600);
/// The shortest `delivered` and `web_chat` period accepted.
const MIN_KEEP: Duration = Duration::from_secs(24 * 3600);

/// How long processed records are kept (`[retention]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Off: nothing is ever deleted.
    pub enabled: bool,
    /// Inbound dedup keys.
    #[serde(with = "humantime_secs")]
    pub inbound_keys: Duration,
    /// Delivered outbox items and fired or cancelled SLA timers.
    #[serde(with = "humantime_secs")]
    pub delivered: Duration,
    /// Web chat messages (and the web console's desk notices).
    #[serde(with = "humantime_secs")]
    pub web_chat: Duration,
    /// The texts of closed tickets — subject, messages both ways, rating comment — are
    /// erased this long after closing (numbers, times, states and scores stay, so reports
    /// do not change). `"off"` (the default): kept for ever.
    #[serde(with = "optional_period")]
    pub closed_tickets: Option<Duration>,
    /// How often the housekeeper runs.
    #[serde(with = "humantime_secs")]
    pub every: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        RetentionSettings {
            enabled: true,
            inbound_keys: Duration::from_secs(7 * DAY),
            delivered: Duration::from_secs(30 * DAY),
            web_chat: Duration::from_secs(90 * DAY),
            closed_tickets: None,
            every: Duration::from_secs(3600),
        }
    }
}

impl RetentionSettings {
    /// Refuses periods short enough to let a duplicate through or to empty a chat a
    /// visitor is still reading.
    pub fn validate(&self) -> Result<(), String> {
        if self.inbound_keys < MIN_INBOUND_KEYS {
            return Err(
                "retention.inbound_keys must be at least 2d (platforms redeliver updates for a day)"
                    .into(),
            );
        }
        let closed = self.closed_tickets.unwrap_or(Duration::MAX);
        for (name, keep) in [
            ("delivered", self.delivered),
            ("web_chat", self.web_chat),
            ("closed_tickets", closed),
        ] {
            if keep < MIN_KEEP {
                return Err(format!("retention.{name} must be at least 1d"));
            }
        }
        if self.every < Duration::from_secs(60) {
            return Err("retention.every must be at least 1m".into());
        }
        Ok(())
    }

    /// What is old enough to delete at `now`.
    pub fn cutoffs(&self, now: Timestamp) -> PruneBefore {
        let before = |keep: Duration| {
            chrono::Duration::from_std(keep)
                .ok()
                .and_then(|keep| now.checked_sub_signed(keep))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        };
        PruneBefore {
            inbound_keys: before(self.inbound_keys),
            delivered: before(self.delivered),
            web_messages: before(self.web_chat),
            now,
            closed_tickets: self.closed_tickets.map(before),
        }
    }
}

/// A period that may be `"off"` (`None`), else as [`humantime_secs`].
mod optional_period {
    use std::time::Duration;

    use serde::{de, Deserialize, Deserializer, Serializer};

    use crate::sla::humantime_secs::Raw;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Text(t) if t.trim().eq_ignore_ascii_case("off") => Ok(None),
            raw => raw.duration().map(Some).map_err(de::Error::custom),
        }
    }
}

/// Deletes old records periodically (see the module documentation).
pub struct Housekeeper {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: RetentionSettings,
}

impl Housekeeper {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: RetentionSettings,
    ) -> Housekeeper {
        Housekeeper {
            store,
            clock,
            settings,
        }
    }

    /// One pass: batches until nothing old is left. Returns what was deleted.
    pub async fn run_once(&self) -> Result<Pruned, StoreError> {
        self.pass(None).await
    }

    /// A pass that also stops between batches once `shutdown` turns true (a first pass over
    /// a large store must not outlast a container's stop timeout).
    async fn pass(&self, shutdown: Option<&watch::Receiver<bool>>) -> Result<Pruned, StoreError> {
        let before = self.settings.cutoffs(self.clock.now());
        let mut total = Pruned::default();
        loop {
            let pruned = self.store.prune(&before, BATCH).await?;
            total += pruned;
            if pruned.most() < u64::from(BATCH) || shutdown.is_some_and(|s| *s.borrow()) {
                return Ok(total);
            }
            // Let deliveries and inbound messages take the writer between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Runs a pass now and every `every` until `shutdown` turns true (or its sender is
    /// dropped). A failed pass is logged and tried again next time.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if !self.settings.enabled {
            return;
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.pass(Some(&shutdown)).await {
                Ok(p) if p.total() > 0 => tracing::info!(
                    inbound_keys = p.inbound_keys,
                    outbox = p.outbox,
                    timers = p.timers,
                    web_messages = p.web_messages,
                    console_sessions = p.console_sessions,
                    ticket_texts = p.ticket_texts,
                    "housekeeping deleted old records"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.every) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cutoffs_are_each_period_before_now() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let before = RetentionSettings::default().cutoffs(now);
        assert_eq!(before.inbound_keys, now - chrono::Duration::days(7));
        assert_eq!(before.delivered, now - chrono::Duration::days(30));
        assert_eq!(before.web_messages, now - chrono::Duration::days(90));
        assert_eq!(before.now, now);
    }

    #[test]
    fn periods_too_short_to_be_safe_are_refused() {
        assert_eq!(RetentionSettings::default().validate(), Ok(()));
        let short_keys = RetentionSettings {
            inbound_keys: Duration::from_secs(24 * 3600),
            ..RetentionSettings::default()
        };
        assert!(short_keys.validate().unwrap_err().contains("inbound_keys"));
        let short_chat = RetentionSettings {
            web_chat: Duration::from_secs(3600),
            ..RetentionSettings::default()
        };
        assert!(short_chat.validate().unwrap_err().contains("web_chat"));
        let busy = RetentionSettings {
            every: Duration::from_secs(1),
            ..RetentionSettings::default()
        };
        assert!(busy.validate().unwrap_err().contains("every"));
    }

    #[test]
    fn closed_tickets_keep_their_texts_unless_a_period_is_set() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        assert_eq!(
            RetentionSettings::default().cutoffs(now).closed_tickets,
            None
        );
        let parse = |toml: &str| toml::from_str::<RetentionSettings>(toml);
        let year = parse("closed_tickets = \"365d\"").unwrap();
        assert_eq!(
            year.cutoffs(now).closed_tickets,
            Some(now - chrono::Duration::days(365))
        );
        assert_eq!(
            parse("closed_tickets = \"off\"").unwrap().closed_tickets,
            None
        );
        assert!(parse("closed_tickets = \"soon\"").is_err());
        let hasty = parse("closed_tickets = \"1h\"").unwrap();
        assert!(hasty.validate().unwrap_err().contains("closed_tickets"));
    }

    #[test]
    fn a_huge_period_keeps_everything() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let forever = RetentionSettings {
            delivered: Duration::from_secs(u64::MAX / 2),
            ..RetentionSettings::default()
        };
        assert_eq!(
            forever.cutoffs(now).delivered,
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        );
    }
}
