//! Discord channel against an in-process fake Discord (REST + gateway), with the real
//! serenity client: customer flows, the desk, delivery, resilience, cross-platform desks
//! and the real binary.

mod binary_door;
mod delivery;
mod desk;
pub mod fake;
mod flows;
mod mixed;
mod resilience;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use frontdesk::adapters::discord::{DiscordChannel, DiscordConfig, DiscordLimits};
use frontdesk::adapters::telegram::{Mode, TelegramChannel};
use frontdesk::config::DiscordSettings;
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
use crate::telegram::fake::FakeBotApi;
use fake::{FakeDiscord, DESK, TOKEN};

/// Limits loose enough not to slow the flow tests down.
pub fn fast_limits() -> DiscordLimits {
    DiscordLimits {
        per_channel_per_second: NonZeroU32::new(100).unwrap(),
        per_channel_burst: NonZeroU32::new(100).unwrap(),
        ..DiscordLimits::default()
    }
}

pub fn config(fake: &FakeDiscord, desk: bool) -> DiscordConfig {
    let mut config = DiscordConfig::from_settings(&DiscordSettings {
        api_url: fake.url.clone(),
        desk_channel_id: desk.then_some(DESK),
    })
    .unwrap();
    config.limits = fast_limits();
    config.max_backoff = Duration::from_millis(500);
    config
}

/// Which desks and channels a rig runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    pub discord_desk: bool,
    /// A Telegram channel too (polling against a fake Bot API).
    pub telegram: bool,
    pub telegram_desk: bool,
    pub desk_platform: Option<Platform>,
}

/// Store, service, outbox worker and the Discord channel against a fake.
pub struct Rig {
    pub fake: FakeDiscord,
    pub telegram: Option<FakeBotApi>,
    pub store: Arc<dyn Store>,
    /// The same store, for failure tests (closing it).
    pub sqlite: Arc<SqliteStore>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    channel_task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Customers only (no desk).
    pub async fn start() -> Rig {
        Rig::start_with(Setup::default()).await
    }

    /// With the Discord desk channel.
    pub async fn start_with_desk() -> Rig {
        Rig::start_with(Setup {
            discord_desk: true,
            ..Setup::default()
        })
        .await
    }

    pub async fn start_with(setup: Setup) -> Rig {
        let fake = FakeDiscord::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fd.db").display());
        let sqlite = Arc::new(SqliteStore::open(&url).await.unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let channel = DiscordChannel::new(
            &SecretString::from(TOKEN),
            config(&fake, setup.discord_desk),
        );
        let mut transports: Vec<Arc<dyn ChatTransport>> = vec![channel.transport()];
        let telegram = if setup.telegram {
            let tg = FakeBotApi::start().await;
            let tg_channel = TelegramChannel::new(
                &SecretString::from(crate::telegram::fake::TOKEN),
                crate::telegram::config(&tg, crate::telegram::fast_limits(), Mode::Polling),
            );
            transports.push(tg_channel.transport());
            Some((tg, tg_channel))
        } else {
            None
        };
        let outbox = Arc::new(OutboxWorker::with_transports(
            store.clone(),
            transports,
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
        .with_outbox_waker(outbox.waker())
        .with_desk_platform(setup.desk_platform);
        if setup.discord_desk {
            service = service.with_desk(DeskRoute::new(Platform::Discord, DESK.to_string()));
        }
        if setup.telegram_desk {
            service = service.with_desk(DeskRoute::new(
                Platform::Telegram,
                crate::telegram::fake::DESK.to_string(),
            ));
        }
        let service = Arc::new(service);
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(outbox.run(rx.clone()))];
        let telegram = telegram.map(|(tg, tg_channel)| {
            let _ = tg_channel.webhook(service.clone());
            tasks.push(tg_channel.spawn(service.clone(), rx.clone()));
            tg
        });
        let channel_task = channel.spawn(service.clone(), rx);
        fake.wait_ready().await;
        Rig {
            fake,
            telegram,
            store,
            sqlite,
            stop,
            tasks,
            channel_task: Some(channel_task),
            _dir: dir,
        }
    }

    /// True while the Discord task has neither ended nor panicked.
    pub fn alive(&self) -> bool {
        self.channel_task.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.channel_task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("discord channel stops promptly")
                .expect("discord channel does not panic");
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}
