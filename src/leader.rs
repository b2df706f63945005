//! Single-holder roles across replicas: runs work that only one process may do at a time
//! (Telegram long polling; a Discord gateway connection) on whichever replica holds the
//! role, and hands the role over when its holder dies.
//!
//! Owns the waiting, checking and stopping; the lock itself is the store's
//! ([`Store::try_lead`]: a PostgreSQL advisory lock on a dedicated session, or "always"
//! for SQLite, which one process owns). Decides nothing about the work it runs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{Leadership, Store};

/// How a replica competes for a role.
///
/// No two holders at once: the lock can outlive a holder's knowledge of it (its session
/// was ended by the server or an administrator, or the network between them was cut)
/// while its work still runs. The holder finds out at its next check, at most
/// `check_every` + the store's check time-out (2 s) later, and then stops its work; a
/// new holder waits `grace` — longer than that plus the work's stopping time — before
/// starting, so the old work has ended (e.g. Telegram never sees two long polls, which it
/// would refuse with 409). Take-over after a holder dies: about `check_every` + `grace`.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// How often a replica that does not hold the role tries to take it, and how often
    /// the holder checks that it still does.
    pub check_every: Duration,
    /// How long a new holder waits before starting the work.
    pub grace: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            check_every: Duration::from_secs(1),
            // 1 s between checks + 2 s check time-out + 2 s for the work to stop (a long
            // poll's last confirmation is bounded to 2 s).
            grace: Duration::from_secs(5) + Duration::from_millis(500),
        }
    }
}

/// One role (e.g. `telegram-polling`) that this process competes for.
#[derive(Clone)]
pub struct Leader {
    store: Arc<dyn Store>,
    role: String,
    config: LeaderConfig,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader")
            .field("role", &self.role)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Leader {
    pub fn new(store: Arc<dyn Store>, role: impl Into<String>, config: LeaderConfig) -> Leader {
        Leader {
            store,
            role: role.into(),
            config,
        }
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// Runs `work` whenever this process holds the role, until `shutdown` turns true.
    /// `work` gets a stop signal that turns true when the role is lost or on shutdown; it
    /// must then finish. Work that ends by itself (e.g. a token the platform refused)
    /// ends `run` too: the role is given up and this process stops competing for it.
    pub async fn run<F, Fut>(&self, mut shutdown: watch::Receiver<bool>, mut work: F)
    where
        F: FnMut(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut waiting_logged = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let lease = match self.store.try_lead(&self.role).await {
                Ok(Some(lease)) => Some(lease),
                Ok(None) => {
                    if !waiting_logged {
                        tracing::info!(role = %self.role, "another replica holds this role; standing by");
                        waiting_logged = true;
                    }
                    None
                }
                Err(e) => {
                    tracing::warn!(role = %self.role, error = %e, "cannot compete for the role yet");
                    None
                }
            };
            if let Some(lease) = lease {
                waiting_logged = false;
                tracing::info!(role = %self.role, "this replica now holds the role");
                if self.hold(lease, &mut shutdown, &mut work).await {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.check_every) => {}
                changed = shutdown.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Runs the work while `lease` holds. True when this process is done with the role
    /// (shutdown, or the work ended by itself); false when the role was lost.
    async fn hold<F, Fut>(
        &self,
        mut lease: Box<dyn Leadership>,
        shutdown: &mut watch::Receiver<bool>,
        work: &mut F,
    ) -> bool
    where
        F: FnMut(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()>,
    {
        // Whoever held the role before may not have noticed yet that it lost it.
        if lease.shared() && !self.config.grace.is_zero() {
            tracing::info!(role = %self.role, grace = ?self.config.grace, "waiting for a previous holder to stop");
            tokio::select! {
                _ = tokio::time::sleep(self.config.grace) => {}
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() {
                    lease.release().await;
                    return true;
                },
            }
            if !lease.still_held().await {
                tracing::warn!(role = %self.role, "role lost before its work started");
                return false;
            }
        }
        tracing::info!(role = %self.role, "this replica now runs the role's work");
        let (stop_tx, stop_rx) = watch::channel(false);
        let running = work(stop_rx);
        tokio::pin!(running);
        let mut shutting_down = false;
        loop {
            tokio::select! {
                _ = &mut running => break,
                _ = tokio::time::sleep(self.config.check_every) => {
                    if !lease.still_held().await {
                        tracing::warn!(role = %self.role, "role lost; stopping its work");
                        let _ = stop_tx.send(true);
                        running.as_mut().await;
                        return false;
                    }
                }
                changed = shutdown.changed(), if !shutting_down => {
                    if changed.is_err() || *shutdown.borrow() {
                        shutting_down = true;
                        let _ = stop_tx.send(true);
                    }
                }
            }
        }
        lease.release().await;
        tracing::info!(role = %self.role, "role released");
        true
    }
}
