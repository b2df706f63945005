//! Gathers metric facts from the store into a [`Report`], and runs the threshold-alert
//! worker: every few minutes it evaluates the configured conditions over the alert window
//! and has the service tell the supervisors what started or stopped holding.
//!
//! Owns no SQL and no metric definitions (those are `metrics`'s); the alert state lives in
//! the store, so a restart or a second replica does not alert the same condition again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::{self, AlertChange, AlertSettings, GroupBy, Period, Report, Window};
use crate::ports::Clock;
use crate::service::{Service, ServiceError};
use crate::store::{Store, StoreError};

/// The report of `window`, from the store's facts.
pub async fn gather(
    store: &dyn Store,
    window: &Window,
    by: Option<GroupBy>,
) -> Result<Report, StoreError> {
    let (tickets, faq) = store.metric_facts(window.since).await?;
    Ok(metrics::compute(&tickets, &faq, window, by))
}

/// The reports of `window` split each way of `splits`, from one read of the facts (the
/// console's overview: by platform and by priority).
pub async fn gather_split(
    store: &dyn Store,
    window: &Window,
    splits: &[GroupBy],
) -> Result<Vec<Report>, StoreError> {
    let (tickets, faq) = store.metric_facts(window.since).await?;
    Ok(splits
        .iter()
        .map(|by| metrics::compute(&tickets, &faq, window, Some(*by)))
        .collect())
}

/// Evaluates the alert thresholds periodically.
pub struct AlertWorker {
    service: Arc<Service>,
    clock: Arc<dyn Clock>,
    settings: AlertSettings,
    period: Period,
}

impl AlertWorker {
    /// Fails when the settings do not validate.
    pub fn new(
        service: Arc<Service>,
        clock: Arc<dyn Clock>,
        settings: AlertSettings,
    ) -> Result<AlertWorker, String> {
        settings.validate()?;
        let period = settings.period()?;
        Ok(AlertWorker {
            service,
            clock,
            settings,
            period,
        })
    }

    /// One evaluation: the changes it announced (empty when nothing changed, or when another
    /// worker announced them first).
    pub async fn run_once(&self) -> Result<Vec<AlertChange>, ServiceError> {
        let now = self.clock.now();
        let store = self.service.store().clone();
        let window = self.period.window(now);
        let report = gather(store.as_ref(), &window, None).await?;
        let checks = metrics::alerts::evaluate(&self.settings, self.period, &report.total);
        let previous: BTreeMap<String, bool> = store
            .alert_states()
            .await?
            .into_iter()
            .map(|s| (s.key, s.firing))
            .collect();
        let changes = metrics::alerts::changes(&checks, &previous);
        if changes.is_empty() {
            return Ok(changes);
        }
        self.service.announce_alerts(&changes, now).await
    }

    /// Evaluates every `every_minutes` until `shutdown` turns true (or its sender is
    /// dropped). A failed round is logged and tried again next time.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.settings.every_minutes.saturating_mul(60));
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_once().await {
                Ok(changes) if !changes.is_empty() => {
                    tracing::info!(changes = changes.len(), "metric alerts changed");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "metric alert evaluation failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
