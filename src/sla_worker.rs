//! The SLA worker: claims due timers with a lease and has the service apply each one in its
//! own unit of work (SPEC §4). Several workers (or replicas) may run on one database: the
//! lease keeps them off each other's timers and [`crate::store::Tx::fire_timer`] inside the
//! effect's unit makes a timer fire once even when a lease expired mid-way.
//!
//! Owns no SQL and no ticket rules: claiming is the store's, effects are the service's.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::ports::Clock;
use crate::service::{Service, ServiceError, TimerOutcome};
use crate::store::Store;

/// Tuning of the SLA worker.
#[derive(Debug, Clone)]
pub struct SlaWorkerConfig {
    /// Worker name recorded in leases; unique per process.
    pub worker: String,
    /// How long a claim keeps other workers off a timer.
    pub lease: Duration,
    /// Timers claimed per round.
    pub batch: u32,
    /// Longest sleep between rounds, so timers scheduled by other processes are noticed.
    pub max_idle: Duration,
}

impl Default for SlaWorkerConfig {
    fn default() -> Self {
        SlaWorkerConfig {
            worker: format!("sla-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            lease: Duration::from_secs(60),
            batch: 50,
            max_idle: Duration::from_secs(5),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaRound {
    pub claimed: usize,
    pub fired: usize,
    pub moot: usize,
    pub skipped: usize,
}

pub struct SlaWorker {
    store: Arc<dyn Store>,
    service: Arc<Service>,
    clock: Arc<dyn Clock>,
    config: SlaWorkerConfig,
    wake: Arc<Notify>,
}

impl SlaWorker {
    pub fn new(
        store: Arc<dyn Store>,
        service: Arc<Service>,
        clock: Arc<dyn Clock>,
        config: SlaWorkerConfig,
    ) -> SlaWorker {
        SlaWorker {
            store,
            service,
            clock,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Call `notify_one()` on it when timers were scheduled elsewhere (another replica):
    /// an idle worker then re-reads when the next one is due instead of waiting out
    /// `max_idle`.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    pub fn name(&self) -> &str {
        &self.config.worker
    }

    /// Claims and applies the timers due now (one batch).
    pub async fn run_once(&self) -> Result<SlaRound, ServiceError> {
        let now = self.clock.now();
        let due = self
            .store
            .claim_due_timers(
                &self.config.worker,
                now,
                self.config.lease,
                self.config.batch,
            )
            .await?;
        let mut round = SlaRound {
            claimed: due.len(),
            ..SlaRound::default()
        };
        for timer in &due {
            match self.service.fire_timer(timer, &self.config.worker).await? {
                TimerOutcome::Fired => round.fired += 1,
                TimerOutcome::Moot => round.moot += 1,
                TimerOutcome::Skipped => round.skipped += 1,
            }
        }
        Ok(round)
    }

    /// Fires timers until `shutdown` turns true (or its sender is dropped). A store error
    /// is logged and retried next round: the timers stay pending.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let full = match self.run_once().await {
                Ok(round) => round.claimed as u32 >= self.config.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "SLA worker round failed; retrying");
                    false
                }
            };
            let pause = if full {
                Duration::ZERO
            } else {
                self.idle().await
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Until the next timer is due, at most `max_idle`.
    async fn idle(&self) -> Duration {
        match self.store.next_timer_due().await {
            Ok(Some(due)) => (due - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.config.max_idle),
            _ => self.config.max_idle,
        }
    }
}
