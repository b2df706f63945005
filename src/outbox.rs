//! Outbox delivery worker: claims due items per chat in order, sends them through a
//! [`crate::ports::ChatTransport`], retries with backoff, honours retry-after, and
//! dead-letters after N failures (visible, never silently dropped).
//!
//! Owns delivery policy only. It never changes tickets, never decides what to say and
//! never logs message text (ids, lanes and error kinds only).
//!
//! Outcome policy:
//! * `Ok` → `sent`, with the platform's message id.
//! * `RetryAfter(d)` → deferred to `now + d` (at least [`MIN_RETRY_AFTER`]); it does **not**
//!   count toward `max_attempts`: the platform told us when it will accept the message,
//!   so giving up on it would drop a deliverable message. The lane waits meanwhile.
//! * `Transient` → retried after an exponential backoff with jitter; the attempt that
//!   reaches `max_attempts` dead-letters the item.
//! * `Rejected` → dead at once (retrying cannot help).
//! * `Unreachable` → the customer is marked unreachable and every pending item of that
//!   chat is dead-lettered by the store.
//! * A worker claims only the platforms it has a transport for; messages for a channel
//!   that is disabled here stay pending (never dead) until a worker that has it runs.
//! * A delivery that takes longer than `delivery_timeout` counts as `Transient`, so that
//!   the lease (and with it exclusive ownership of the lane) cannot run out mid-delivery.
//!
//! Recording: an outcome is written as soon as its delivery returns, in one store write
//! ([`Store::outbox_settle`]) together with whatever else finished meanwhile and the
//! claim of the next items (group commit: under load the writes carry several outcomes
//! each, so SQLite's single writer is taken about once per write, not twice per message).
//! Only writes that merely look for new work are spaced `gather` apart. On PostgreSQL the
//! worker writes on connections of its own, so inbound units queued on the ticket counter
//! cannot hold an outcome back. A lane stays leased until its outcome is recorded, so
//! per-chat order is unaffected.
//!
//! Crash window (SPEC §9): a message the platform accepted whose outcome was not yet
//! committed is delivered again after its lease. Each of the `batch_size` concurrent lanes
//! counts as one "delivery worker" in SPEC §9's sense — it is a sequential per-chat
//! delivery with one message in flight — so a crashed replica may repeat at most one
//! message per lane (at most `batch_size`, each in a different chat). The window of each
//! is one short write after the send returns: measured 0–1 repeats per SIGKILL of a loaded
//! replica (was 32, when outcomes waited seconds for a pool connection). Discord messages
//! carry the item's id as an enforced nonce, so Discord itself drops such a repeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::domain::{Platform, Timestamp};
use crate::ports::{ChatTransport, Clock, DeliveryError};
use crate::store::{OutboxClaim, OutboxItem, OutboxUpdate, Store, StoreError};

/// Smallest wait honoured for a retry-after hint, so a `0` hint cannot spin the worker.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Delivery tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Failed (transient) deliveries before an item is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Upper bound for one retry delay.
    pub backoff_cap: Duration,
    /// How long a claim is exclusive; a crashed worker's claims are taken over after it.
    pub lease: Duration,
    /// Lanes claimed (and delivered concurrently) per round.
    pub batch_size: u32,
    /// Longest idle sleep between rounds, so work from other replicas is noticed.
    pub max_idle: Duration,
    /// Longest time one delivery may take; must stay below `lease`.
    pub delivery_timeout: Duration,
    /// Shortest gap between two of the worker's write transactions. Under load, the
    /// outcomes and new items of this window share one transaction instead of each
    /// taking SQLite's single writer away from inbound messages; when idle, the first
    /// item after a quiet spell goes at once.
    pub gather: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            batch_size: 32,
            max_idle: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(20),
            gather: Duration::from_millis(5),
        }
    }
}

impl OutboxConfig {
    /// Delay before the next try after `failed` counted failures (1 for the first):
    /// `base * 2^(failed-1)`, capped, then "equal jitter" — uniformly in `[d/2, d]` — so
    /// that lanes failing together do not retry in lockstep.
    pub fn backoff(&self, failed: u32) -> Duration {
        let exp = failed.saturating_sub(1).min(30);
        let full = self
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_cap);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=spread))
    }
}

/// What happened to one claimed item (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Deferred,
    Retried,
    Dead,
    Unreachable,
}

/// Delivers the outbox. Several workers (one per replica) may run against one store.
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    transports: HashMap<Platform, Arc<dyn ChatTransport>>,
    clock: Arc<dyn Clock>,
    config: OutboxConfig,
    worker_id: String,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker")
            .field("worker_id", &self.worker_id)
            .field("platforms", &self.transports.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish()
    }
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn Store>,
        transports: HashMap<Platform, Arc<dyn ChatTransport>>,
        clock: Arc<dyn Clock>,
        config: OutboxConfig,
    ) -> Self {
        OutboxWorker {
            store,
            transports,
            clock,
            config,
            worker_id: format!("outbox-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// [`OutboxWorker::new`] with transports keyed by their own [`ChatTransport::platform`]
    /// (a later transport for the same platform replaces an earlier one).
    pub fn with_transports(
        store: Arc<dyn Store>,
        transports: impl IntoIterator<Item = Arc<dyn ChatTransport>>,
        clock: Arc<dyn Clock>,
        config: OutboxConfig,
    ) -> Self {
        let by_platform = transports.into_iter().map(|t| (t.platform(), t)).collect();
        Self::new(store, by_platform, clock, config)
    }

    /// Lease owner name written to claimed rows.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Call `notify_one()` on it after committing outbox rows to deliver them at once.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// One round: claims a batch (heads of different lanes), delivers them concurrently
    /// and records the outcomes (those that finish together in one write). Returns how
    /// many items were processed. Every delivery started here has finished and been
    /// recorded when it returns.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let mut flight = InFlight::default();
        let items = match self.claim(&mut flight, self.config.batch_size).await? {
            Some(items) => items,
            None => return Ok(0),
        };
        let count = items.len();
        self.spawn(&mut flight, items);
        // A failed write keeps its outcomes for the next one; deliveries in flight are
        // never abandoned because of it.
        while flight.wait_any().await {
            if let Err(e) = self.record(&mut flight).await {
                tracing::warn!(error = %e, "outbox: could not record delivery outcomes yet");
            }
        }
        if !flight.done.is_empty() {
            if let Err(e) = self.record(&mut flight).await {
                tracing::error!(
                    error = %e,
                    unrecorded = flight.done.len(),
                    "outbox: outcomes not recorded; those items are delivered again after their lease"
                );
                return Err(e);
            }
        }
        Ok(count)
    }

    /// Runs rounds until nothing is due now; returns the number of items processed.
    /// For tests and the console adapter.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.run_once().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Delivers until `shutdown` turns true (or its sender is dropped). Deliveries in
    /// flight are finished and recorded before it returns. Store errors are logged and
    /// retried with a growing pause; they never end the loop.
    ///
    /// Pipelined: up to `batch_size` deliveries are in flight; whenever some finish,
    /// their outcomes are recorded and free slots are refilled in the same write
    /// transaction, so the worker takes SQLite's single writer about once per round
    /// however many items the round carries.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        const ERROR_PAUSE_MAX: Duration = Duration::from_secs(30);
        let mut error_pause = Duration::from_secs(1);
        let mut flight = InFlight::default();
        let mut stopping = false;
        // Set by a wake-up or a finished delivery: look for work before sleeping again.
        let mut look = true;
        let mut last_write: Option<tokio::time::Instant> = None;
        tracing::info!(worker = %self.worker_id, "outbox worker started");
        loop {
            stopping = stopping || *shutdown.borrow();
            let room = |flight: &InFlight| {
                if stopping {
                    0
                } else {
                    self.config.batch_size.saturating_sub(flight.len())
                }
            };
            if !flight.done.is_empty() || (look && room(&flight) > 0) {
                // An outcome is written at once: until its row says `sent`, a crash
                // would send the message again (SPEC §9's window). Only a write that
                // merely looks for new work waits for `gather` after the last one.
                if let Some(last) = last_write.filter(|_| !stopping && flight.done.is_empty()) {
                    // Deliveries go on meanwhile; one that finishes ends the wait.
                    tokio::select! {
                        _ = tokio::time::sleep_until(last + self.config.gather) => {}
                        _ = flight.wait_any(), if !flight.is_empty() => {}
                    }
                }
                flight.collect();
                let room = room(&flight);
                last_write = Some(tokio::time::Instant::now());
                match self.settle(&mut flight, room).await {
                    Ok(()) => error_pause = Duration::from_secs(1),
                    Err(e) if stopping && flight.is_empty() => {
                        // Shutting down must not hang on a broken store.
                        tracing::error!(
                            error = %e,
                            unrecorded = flight.done.len(),
                            "outbox: stopping with outcomes not recorded; those items are delivered again after their lease"
                        );
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, pause = ?error_pause, "outbox: store error, pausing");
                        let pause = error_pause;
                        error_pause = (error_pause * 2).min(ERROR_PAUSE_MAX);
                        // Deliveries in flight go on meanwhile; their outcomes wait in `done`.
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            changed = shutdown.changed(), if !stopping => {
                                stopping = stopping || changed.is_err();
                            }
                        }
                        continue;
                    }
                }
            }
            if stopping && flight.is_empty() && flight.done.is_empty() {
                break;
            }
            look = false;
            let idle = if flight.is_empty() {
                Some(self.idle_pause().await)
            } else {
                None
            };
            tokio::select! {
                finished = flight.wait_any(), if !flight.is_empty() => {
                    // A freed lane may have a next item: look again.
                    look = finished;
                }
                _ = tokio::time::sleep(idle.unwrap_or(Duration::MAX)), if idle.is_some() => look = true,
                _ = self.wake.notified(), if !stopping => look = true,
                changed = shutdown.changed(), if !stopping => {
                    stopping = stopping || changed.is_err();
                }
            }
        }
        tracing::info!(worker = %self.worker_id, "outbox worker stopped");
    }

    /// Platforms this worker has transports for.
    fn platforms(&self) -> Vec<Platform> {
        self.transports.keys().copied().collect()
    }

    /// Records finished outcomes and claims up to `room` new items in one write; the
    /// claimed items are started. On error the outcomes stay in `flight` for next time.
    async fn settle(&self, flight: &mut InFlight, room: u32) -> Result<(), StoreError> {
        if let Some(items) = self.claim(flight, room).await? {
            self.spawn(flight, items);
        }
        Ok(())
    }

    /// Records `flight.done` (kept on error) and claims up to `room` items; `None` when
    /// nothing was claimed.
    async fn claim(
        &self,
        flight: &mut InFlight,
        room: u32,
    ) -> Result<Option<Vec<OutboxItem>>, StoreError> {
        // Only what this worker can deliver: another process may own the other platforms.
        let platforms = self.platforms();
        let claim = (!platforms.is_empty() && room > 0).then_some(OutboxClaim {
            worker: &self.worker_id,
            lease: self.config.lease,
            limit: room,
            platforms: &platforms,
        });
        let settled = self
            .store
            .outbox_settle(&flight.done, self.clock.now(), claim)
            .await?;
        flight.done.clear();
        for id in settled.missing {
            tracing::warn!(
                outbox_id = id,
                "outbox: delivered item no longer in the store"
            );
        }
        Ok((!settled.claimed.is_empty()).then_some(settled.claimed))
    }

    /// Records what has finished (one write); used by `run_once`.
    async fn record(&self, flight: &mut InFlight) -> Result<(), StoreError> {
        self.claim(flight, 0).await.map(|_| ())
    }

    fn spawn(&self, flight: &mut InFlight, items: Vec<OutboxItem>) {
        for item in items {
            // Claimed by platform, so the transport is there; the lease covers the impossible.
            let Some(transport) = self.transports.get(&item.message.to.platform).cloned() else {
                continue;
            };
            let job = Delivery {
                clock: Arc::clone(&self.clock),
                config: self.config.clone(),
                transport,
            };
            flight.tasks.spawn(async move { job.deliver(item).await });
        }
    }

    /// How long to sleep when nothing was claimable: until the next item is due, at most
    /// `max_idle` (other replicas may enqueue without waking us).
    async fn idle_pause(&self) -> Duration {
        // A small floor so a head that is due but leased elsewhere cannot spin the loop.
        const FLOOR: Duration = Duration::from_millis(10);
        let platforms = self.platforms();
        match self.store.next_outbox_due(&platforms).await {
            Ok(Some(due)) => (due - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(FLOOR, self.config.max_idle.max(FLOOR)),
            Ok(None) => self.config.max_idle,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read next due time");
                self.config.max_idle
            }
        }
    }
}

/// Deliveries in flight and the outcomes not yet recorded.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<(Outcome, OutboxUpdate)>,
    done: Vec<OutboxUpdate>,
}

impl InFlight {
    fn len(&self) -> u32 {
        u32::try_from(self.tasks.len()).unwrap_or(u32::MAX)
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for at least one delivery to finish, then takes every one that has finished
    /// by now (so that they are recorded together). False when nothing was in flight.
    async fn wait_any(&mut self) -> bool {
        let Some(first) = self.tasks.join_next().await else {
            return false;
        };
        self.take(first);
        self.collect();
        true
    }

    /// Takes every delivery that has finished by now, without waiting.
    fn collect(&mut self) {
        while let Some(next) = self.tasks.try_join_next() {
            self.take(next);
        }
    }

    fn take(&mut self, joined: Result<(Outcome, OutboxUpdate), tokio::task::JoinError>) {
        match joined {
            Ok((_, update)) => self.done.push(update),
            // A transport that panics is a bug; the lease expires and the item is tried
            // again, so nothing is lost.
            Err(e) => tracing::error!(error = %e, "outbox: delivery task failed"),
        }
    }
}

/// Everything one concurrent delivery needs (owned, so it can run as its own task).
struct Delivery {
    clock: Arc<dyn Clock>,
    config: OutboxConfig,
    transport: Arc<dyn ChatTransport>,
}

impl Delivery {
    /// Delivers one item and says what to record; the worker records outcomes in batches.
    async fn deliver(self, item: OutboxItem) -> (Outcome, OutboxUpdate) {
        let id = item.id;
        let lane = item.message.to.lane();
        let ticket = item.message.ticket.map(|t| t.0);
        let transport = self.transport;
        let result = tokio::time::timeout(
            self.config.delivery_timeout,
            transport.deliver_item(id, &item.message),
        )
        .await
        .unwrap_or_else(|_| {
            Err(DeliveryError::Transient(format!(
                "delivery timed out after {:?}",
                self.config.delivery_timeout
            )))
        });
        let now = self.clock.now();
        match result {
            Ok(delivered) => {
                let waited = (now - item.created_at).num_milliseconds() as f64 / 1000.0;
                crate::telemetry::delivered(item.message.to.platform, waited);
                tracing::info!(outbox_id = id, %lane, ?ticket, attempts = item.attempts, "outbox: delivered");
                (
                    Outcome::Sent,
                    OutboxUpdate::Sent {
                        id,
                        platform_message_id: delivered.platform_message_id,
                    },
                )
            }
            Err(DeliveryError::RetryAfter(wait)) => {
                let wait = wait.max(MIN_RETRY_AFTER);
                crate::telemetry::rate_limited(item.message.to.platform);
                tracing::info!(outbox_id = id, %lane, ?wait, "outbox: rate limited, deferred");
                (
                    Outcome::Deferred,
                    OutboxUpdate::Defer {
                        id,
                        next_attempt_at: later(now, wait),
                        reason: format!("rate limited, retry after {wait:?}"),
                    },
                )
            }
            Err(e @ DeliveryError::Transient(_)) => {
                let failed = item.attempts.saturating_add(1);
                if failed >= self.config.max_attempts {
                    tracing::warn!(outbox_id = id, %lane, ?ticket, attempts = failed, error = %e, "outbox: dead-lettered");
                    (
                        Outcome::Dead,
                        OutboxUpdate::Dead {
                            id,
                            error: format!("gave up after {failed} attempts: {e}"),
                        },
                    )
                } else {
                    let wait = self.config.backoff(failed);
                    crate::telemetry::retried(item.message.to.platform);
                    tracing::info!(outbox_id = id, %lane, attempts = failed, ?wait, error = %e, "outbox: will retry");
                    (
                        Outcome::Retried,
                        OutboxUpdate::Retry {
                            id,
                            next_attempt_at: later(now, wait),
                            error: e.to_string(),
                        },
                    )
                }
            }
            Err(e @ DeliveryError::Rejected(_)) => {
                tracing::warn!(outbox_id = id, %lane, ?ticket, error = %e, "outbox: rejected, dead-lettered");
                (
                    Outcome::Dead,
                    OutboxUpdate::Dead {
                        id,
                        error: e.to_string(),
                    },
                )
            }
            Err(e @ DeliveryError::Unreachable(_)) => {
                tracing::warn!(outbox_id = id, %lane, error = %e, "outbox: recipient unreachable, chat dead-lettered");
                let to = item.message.to;
                (
                    Outcome::Unreachable,
                    OutboxUpdate::Unreachable {
                        id,
                        platform: to.platform,
                        chat_id: to.chat_id,
                    },
                )
            }
        }
    }
}

fn later(now: Timestamp, by: Duration) -> Timestamp {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let config = OutboxConfig::default();
        for _ in 0..200 {
            let first = config.backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let fourth = config.backoff(4);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8));
            let late = config.backoff(40);
            assert!(late >= Duration::from_secs(150) && late <= Duration::from_secs(300));
        }
    }

    #[test]
    fn later_saturates_instead_of_panicking() {
        let now = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert_eq!(later(now, Duration::from_secs(10)), now);
    }
}
