//! Threshold alerts reach the supervisors: each change is recorded and its message queued
//! in one unit of work, so an alert is announced once even with several workers.

use crate::domain::Timestamp;
use crate::metrics::AlertChange;
use crate::store::AlertState;

use super::{Service, ServiceError};

impl Service {
    /// Records each change and tells the supervisors (their chats, else the desk chat) about
    /// the ones this call recorded; returns those. With nowhere to tell, the state is still
    /// recorded (and logged), so the alert is not repeated once a chat is configured.
    pub async fn announce_alerts(
        &self,
        changes: &[AlertChange],
        now: Timestamp,
    ) -> Result<Vec<AlertChange>, ServiceError> {
        let mut tx = self.store.begin().await?;
        let mut announced = Vec::new();
        for change in changes {
            let state = AlertState {
                key: change.key.to_string(),
                firing: change.firing,
                value: change.value,
                changed_at: now,
            };
            if !tx.set_alert_state(&state).await? {
                continue;
            }
            let queued = self
                .enqueue_supervisor_notice(&mut tx, None, &change.message(), now)
                .await?;
            if queued == 0 {
                tracing::warn!(
                    alert = change.key,
                    firing = change.firing,
                    "metric alert changed but neither a supervisors' chat nor a desk is configured"
                );
            }
            announced.push(change.clone());
        }
        tx.commit().await?;
        self.outbox_waker.notify_one();
        Ok(announced)
    }
}
