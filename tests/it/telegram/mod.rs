//! Telegram channel against an in-process fake Bot API, with the real teloxide client:
//! customer flows, delivery robustness, webhook mode, and the real binary.

mod binary;
pub mod binary_door;
mod delivery;
mod desk;
pub mod fake;
mod flows;
mod pg_door;
mod replicas_door;
mod webhook;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use frontdesk::adapters::telegram::{
    Mode, TelegramChannel, TelegramConfig, TelegramLimits, TelegramTransport, WebhookHandler,
};
use frontdesk::domain::Platform;
use frontdesk::outbox::{OutboxConfig, OutboxWorker};
use frontdesk::ports::{ChatTransport, SystemClock};
use frontdesk::service::{DeskRoute, Knowledge, Service};
use frontdesk::sla::SlaPolicy;
use frontdesk::store::sqlite::SqliteStore;
use frontdesk::store::Store;
use frontdesk::triage::TriageRules;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::small_kb;
use fake::{FakeBotApi, TOKEN};
use frontdesk::desk::Staff;

/// Limits loose enough not to slow the flow tests down (pacing has its own tests).
pub fn fast_limits() -> TelegramLimits {
    TelegramLimits {
        per_chat_per_second: NonZeroU32::new(50).unwrap(),
        per_chat_burst: NonZeroU32::new(50).unwrap(),
        ..TelegramLimits::default()
    }
}

pub fn config(fake: &FakeBotApi, limits: TelegramLimits, mode: Mode) -> TelegramConfig {
    TelegramConfig {
        api_url: fake.url.parse().unwrap(),
        mode,
        limits,
        poll_timeout: Duration::from_secs(1),
        max_backoff: Duration::from_millis(500),
    }
}

/// Store, service, outbox worker and the Telegram channel (polling) against a fake.
pub struct Rig {
    pub fake: FakeBotApi,
    pub store: Arc<dyn Store>,
    /// The same store, for failure tests (closing it).
    pub sqlite: Arc<SqliteStore>,
    pub service: Arc<Service>,
    pub transport: Arc<TelegramTransport>,
    stop_outbox: watch::Sender<bool>,
    stop_channel: watch::Sender<bool>,
    channel_task: Option<JoinHandle<()>>,
    outbox_task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Rig {
    pub async fn start() -> Rig {
        Rig::start_with(fast_limits()).await
    }

    pub async fn start_with(limits: TelegramLimits) -> Rig {
        Rig::start_mode(limits, |_| Mode::Polling).await.0
    }

    /// Polling, with the agents' forum desk in [`fake::DESK`].
    pub async fn start_with_desk() -> Rig {
        // The desk is one group: Telegram's 20/minute would make these tests slow.
        let limits = TelegramLimits {
            per_group_per_minute: NonZeroU32::new(6000).unwrap(),
            ..fast_limits()
        };
        Rig::start_full(limits, |_| Mode::Polling, Some(Staff::default()))
            .await
            .0
    }

    /// Like [`Rig::start_with_desk`], with these agents configured.
    pub async fn start_with_staffed_desk(staff: Staff) -> Rig {
        let limits = TelegramLimits {
            per_group_per_minute: NonZeroU32::new(6000).unwrap(),
            ..fast_limits()
        };
        Rig::start_full(limits, |_| Mode::Polling, Some(staff))
            .await
            .0
    }

    /// Starts with the mode built from the fake's URL; returns the webhook endpoint too.
    pub async fn start_mode(
        limits: TelegramLimits,
        mode: impl FnOnce(&FakeBotApi) -> Mode,
    ) -> (Rig, Option<WebhookHandler>) {
        Rig::start_full(limits, mode, None).await
    }

    async fn start_full(
        limits: TelegramLimits,
        mode: impl FnOnce(&FakeBotApi) -> Mode,
        desk: Option<Staff>,
    ) -> (Rig, Option<WebhookHandler>) {
        let fake = FakeBotApi::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fd.db").display());
        let sqlite = Arc::new(SqliteStore::open(&url).await.unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let channel = TelegramChannel::new(
            &SecretString::from(TOKEN),
            config(&fake, limits, mode(&fake)),
        );
        let transport = channel.transport();
        let outbox = Arc::new(OutboxWorker::with_transports(
            store.clone(),
            [transport.clone() as Arc<dyn ChatTransport>],
            Arc::new(SystemClock),
            OutboxConfig {
                max_idle: Duration::from_millis(100),
                ..OutboxConfig::default()
            },
        ));
        let mut service = Service::new(
            store.clone(),
            Knowledge::new(small_kb()),
            Arc::new(TriageRules::builtin()),
            SlaPolicy::default(),
            BTreeSet::new(),
            Arc::new(SystemClock),
        )
        .with_outbox_waker(outbox.waker());
        if let Some(staff) = desk {
            service = service
                .with_desk(DeskRoute::new(Platform::Telegram, fake::DESK.to_string()))
                .with_staff(staff);
        }
        let service = Arc::new(service);
        let (stop_outbox, outbox_rx) = watch::channel(false);
        let (stop_channel, channel_rx) = watch::channel(false);
        let outbox_task = tokio::spawn(outbox.run(outbox_rx));
        let webhook = channel.webhook(service.clone());
        let channel_task = channel.spawn(service.clone(), channel_rx);
        let rig = Rig {
            fake,
            store,
            sqlite,
            service,
            transport,
            stop_outbox,
            stop_channel,
            channel_task: Some(channel_task),
            outbox_task: Some(outbox_task),
            _dir: dir,
        };
        (rig, webhook)
    }

    /// Stops the polling task (as a crash or a restart would) and waits for it.
    pub async fn stop_polling(&mut self) {
        let _ = self.stop_channel.send(true);
        if let Some(task) = self.channel_task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("polling stops promptly")
                .expect("polling task does not panic");
        }
    }

    /// Starts a fresh polling task (a restarted process) on the same store.
    pub fn restart_polling(&mut self) {
        let (stop_channel, channel_rx) = watch::channel(false);
        let channel = TelegramChannel::new(
            &SecretString::from(TOKEN),
            config(&self.fake, fast_limits(), Mode::Polling),
        );
        self.channel_task = Some(channel.spawn(self.service.clone(), channel_rx));
        self.stop_channel = stop_channel;
    }

    /// A channel with a token the Bot API refuses, on this rig's fake and service.
    pub fn spawn_with_token(&self, token: &str) -> JoinHandle<()> {
        let (_keep, rx) = watch::channel(false);
        std::mem::forget(_keep);
        let channel = TelegramChannel::new(
            &SecretString::from(token.to_string()),
            config(&self.fake, fast_limits(), Mode::Polling),
        );
        channel.spawn(self.service.clone(), rx)
    }

    /// True while the polling task has neither ended nor panicked.
    pub fn polling_alive(&self) -> bool {
        self.channel_task.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub async fn shutdown(mut self) {
        self.stop_polling().await;
        let _ = self.stop_outbox.send(true);
        if let Some(task) = self.outbox_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}
