//! Replicas of one deployment: every `frontdesk run` process says in the store that it is
//! alive ([`Heartbeat`]) and learns how many are. The platforms' overall send limits
//! belong to the bot, not to a process (Telegram about 30 messages/s, Discord 50
//! requests/s), so with N replicas each one sends at most 1/N of them: a send takes N
//! cells of the transport's overall limiter ([`SendShare::until_ready`]). On SQLite there
//! is one process and the share is the whole budget.
//!
//! Owns the counting and the share only; the limits themselves are the transports'.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::DefaultDirectRateLimiter;
use tokio::sync::watch;

use crate::ports::Clock;
use crate::store::Store;

/// How many replicas share the bot's overall send limits (at least 1).
#[derive(Debug)]
pub struct SendShare {
    replicas: AtomicU32,
}

impl Default for SendShare {
    fn default() -> Self {
        SendShare {
            replicas: AtomicU32::new(1),
        }
    }
}

impl SendShare {
    pub fn new() -> Arc<SendShare> {
        Arc::new(SendShare::default())
    }

    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed)
    }

    pub fn set_replicas(&self, n: u32) {
        self.replicas.store(n.max(1), Ordering::Relaxed);
    }

    /// Waits until `overall`, a limiter of the whole bot's rate with a burst of `burst`,
    /// lets this replica send one message: N cells for N replicas, so that the replicas
    /// together stay within the bot's limit. More replicas than the burst wait for the
    /// whole burst each.
    pub async fn until_ready(&self, overall: &DefaultDirectRateLimiter, burst: NonZeroU32) {
        let cells = NonZeroU32::new(self.replicas().min(burst.get())).unwrap_or(NonZeroU32::MIN);
        // Cannot fail: `cells` never exceeds the burst.
        let _ = overall.until_n_ready(cells).await;
    }
}

/// Heartbeat settings.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// How often a replica says it is alive.
    pub every: Duration,
    /// A replica not heard from for this long no longer counts.
    pub alive_for: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            every: Duration::from_secs(5),
            alive_for: Duration::from_secs(15),
        }
    }
}

/// Says "alive" for this replica and keeps its [`SendShare`] up to date.
pub struct Heartbeat {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    id: String,
    share: Arc<SendShare>,
    config: HeartbeatConfig,
}

impl Heartbeat {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        id: impl Into<String>,
        share: Arc<SendShare>,
        config: HeartbeatConfig,
    ) -> Heartbeat {
        Heartbeat {
            store,
            clock,
            id: id.into(),
            share,
            config,
        }
    }

    /// One heartbeat: records this replica and updates the share. On a store error the
    /// last known share is kept.
    pub async fn beat(&self) -> u32 {
        let now = self.clock.now();
        let since = now
            - chrono::Duration::from_std(self.config.alive_for)
                .unwrap_or(chrono::Duration::seconds(15));
        match self.store.replica_heartbeat(&self.id, now, since).await {
            Ok(n) => {
                if n != self.share.replicas() {
                    tracing::info!(replicas = n, "replicas sharing the send limits");
                }
                self.share.set_replicas(n);
            }
            Err(e) => tracing::warn!(error = %e, "replica heartbeat not recorded"),
        }
        self.share.replicas()
    }

    /// Beats every `every` until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.beat().await;
            tokio::select! {
                _ = tokio::time::sleep(self.config.every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::{Quota, RateLimiter};

    fn limiter() -> (DefaultDirectRateLimiter, NonZeroU32) {
        // 10 a minute: one cell comes back every 6 s, so nothing refills during the test.
        let rate = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        (RateLimiter::direct(Quota::per_minute(rate)), rate)
    }

    #[tokio::test]
    async fn each_of_n_replicas_takes_n_cells_of_the_overall_limit() {
        let share = SendShare::new();
        share.set_replicas(5);
        let (overall, burst) = limiter();
        share.until_ready(&overall, burst).await;
        share.until_ready(&overall, burst).await;
        // 2 sends × 5 replicas: the bot's whole burst of 10 is used up.
        assert!(overall.check().is_err());

        let alone = SendShare::new();
        let (overall, burst) = limiter();
        alone.until_ready(&overall, burst).await;
        alone.until_ready(&overall, burst).await;
        assert!(overall.check_n(NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN)) == Ok(Ok(())));
    }

    #[tokio::test]
    async fn more_replicas_than_the_burst_take_the_whole_burst_and_never_fail() {
        let share = SendShare::new();
        share.set_replicas(40);
        let (overall, burst) = limiter();
        share.until_ready(&overall, burst).await;
        assert!(overall.check().is_err());
        share.set_replicas(0);
        assert_eq!(share.replicas(), 1, "at least this replica");
    }
}
