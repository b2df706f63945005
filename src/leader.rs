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
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// How often a replica that does not hold the role tries to take it, and how often
    /// the holder checks that it still does. A dead holder's role is taken over within
    /// about this long (its session lock goes with the process).
    pub check_every: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            check_every: Duration::from_secs(2),
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
