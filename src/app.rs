//! Wiring: builds the store, knowledge base, service and workers from [`Settings`] and
//! runs them until SIGINT/SIGTERM (`frontdesk run`), or for one console session.
//!
//! Edge code: errors carry context for the person starting the service (anyhow).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::adapters::discord::{DiscordChannel, DiscordConfig};
use crate::adapters::telegram::{TelegramChannel, TelegramConfig};
use crate::config::{redact_url, Settings};
use crate::domain::Platform;
use crate::faq::KnowledgeBase;
use crate::housekeeping::Housekeeper;
use crate::leader::{Leader, LeaderConfig};
use crate::metrics_worker::AlertWorker;
use crate::outbox::{OutboxConfig, OutboxWorker};
use crate::ports::{ChatTransport, Clock, SystemClock};
use crate::replicas::{Heartbeat, HeartbeatConfig, SendShare};
use crate::service::{DeskRoute, Knowledge, Service};
use crate::sla_worker::{SlaWorker, SlaWorkerConfig};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::transfer::Transfer;
use crate::store::{Store, StoreError, WorkKind};
use crate::triage::TriageRules;

/// How often the knowledge base directory is checked for edits.
const KB_POLL: Duration = Duration::from_secs(2);

/// Everything a running frontdesk is made of.
pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub service: Arc<Service>,
    pub outbox: Arc<OutboxWorker>,
}

/// Opens the database named by `url` (`sqlite:…` or `postgres://…`) and applies
/// migrations (on PostgreSQL under an advisory lock, so replicas starting together take
/// turns).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_store_typed(url).await?)
}

/// [`open_store`] keeping the store's error, to tell "try again later" from "fix this".
async fn open_store_typed(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match open_backend(url).await? {
        Backend::Sqlite(store) => Arc::new(store),
        Backend::Postgres(store) => Arc::new(*store),
    })
}

/// Opens the database named by `url` for a whole-deployment copy (`frontdesk export` /
/// `frontdesk import`), migrated like [`open_store`].
pub async fn open_transfer(url: &str) -> anyhow::Result<Box<dyn Transfer>> {
    Ok(match open_backend(url).await? {
        Backend::Sqlite(store) => Box::new(store),
        Backend::Postgres(store) => store,
    })
}

/// The store implementations, chosen by the URL's scheme.
enum Backend {
    Sqlite(SqliteStore),
    Postgres(Box<PgStore>),
}

async fn open_backend(url: &str) -> Result<Backend, OpenError> {
    let failed = |error| OpenError {
        url: redact_url(url),
        error,
    };
    if url.starts_with("sqlite:") {
        return SqliteStore::open(url)
            .await
            .map(Backend::Sqlite)
            .map_err(failed);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return PgStore::open(url)
            .await
            .map(|store| Backend::Postgres(Box::new(store)))
            .map_err(failed);
    }
    Err(failed(StoreError::Other(
        "unknown database kind: use sqlite://PATH or postgres://USER@HOST/DB".into(),
    )))
}

/// Why a database could not be opened, naming it without its password.
#[derive(Debug, thiserror::Error)]
#[error("opening database {url}: {error}")]
pub struct OpenError {
    url: String,
    error: StoreError,
}

/// Longest pause between two attempts to reach the database at start.
const OPEN_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Opens the store for a long-running process: while the database is unreachable
/// (PostgreSQL down or still starting) each attempt is logged as one clear error line and
/// retried with a growing pause (1 s doubling up to 30 s), until `stop` completes
/// (`Ok(None)`). A database that answers but cannot be used (bad URL, failed migration,
/// corrupt file) is not retried.
pub async fn open_store_retrying(
    url: &str,
    stop: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let mut pause = Duration::from_secs(1);
    loop {
        match open_store_typed(url).await {
            Ok(store) => return Ok(Some(store)),
            Err(e) if matches!(e.error, StoreError::Unavailable(_)) => {
                tracing::error!("{e}; retrying in {}s", pause.as_secs());
            }
            Err(e) => return Err(e.into()),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut *stop => return Ok(None),
        }
        pause = (pause * 2).min(OPEN_BACKOFF_MAX);
    }
}

/// Loads and validates the knowledge base, listing every problem as `file:line: message`.
pub fn load_knowledge(dir: &std::path::Path) -> anyhow::Result<KnowledgeBase> {
    crate::faq::kb::load_dir(dir).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "knowledge base {} has {} problem(s):\n{}\n(run `frontdesk faq check {}`)",
            dir.display(),
            list.len(),
            list.join("\n"),
            dir.display()
        )
    })
}

/// The shipped triage rules, or the file named in the settings.
pub fn load_triage(settings: &Settings) -> anyhow::Result<TriageRules> {
    match &settings.triage_rules {
        None => Ok(TriageRules::builtin()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading triage rules {}", path.display()))?;
            TriageRules::from_toml_str(&text)
                .with_context(|| format!("triage rules {}", path.display()))
        }
    }
}

/// Builds the application with the given delivery transports.
pub async fn build(
    settings: Settings,
    transports: Vec<Arc<dyn ChatTransport>>,
) -> anyhow::Result<App> {
    let store = open_store(&settings.database_url).await?;
    assemble(settings, store, transports)
}

/// Builds the application on an open store.
pub fn assemble(
    settings: Settings,
    store: Arc<dyn Store>,
    transports: Vec<Arc<dyn ChatTransport>>,
) -> anyhow::Result<App> {
    let kb = load_knowledge(&settings.faq_dir)?;
    let triage = Arc::new(load_triage(&settings)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let transports: HashMap<Platform, Arc<dyn ChatTransport>> =
        transports.into_iter().map(|t| (t.platform(), t)).collect();
    let config = OutboxConfig {
        max_attempts: settings.outbox.max_attempts,
        ..OutboxConfig::default()
    };
    let outbox = Arc::new(OutboxWorker::new(
        store.clone(),
        transports,
        clock.clone(),
        config,
    ));
    // Other replicas' commits wake this one's idle worker (PostgreSQL LISTEN/NOTIFY).
    store.watch_work(WorkKind::Outbox, outbox.waker());
    let mut service = Service::new(
        store.clone(),
        Knowledge::new(kb),
        triage,
        settings.sla,
        settings.vip.clone(),
        clock,
    )
    .with_outbox_waker(outbox.waker())
    .with_supervisors(settings.supervisors())
    .with_staff(settings.staff());
    // The Telegram forum desk gets a topic per ticket. Without a bot token nothing could
    // deliver to it, so no desk items are queued then.
    if let (Some(_), Some(desk)) = (
        &settings.secrets.telegram_bot_token,
        settings.telegram.desk_chat_id,
    ) {
        service = service.with_desk(DeskRoute::new(Platform::Telegram, desk.to_string()));
    }
    // The Discord desk channel gets a public thread per ticket, likewise.
    if let (Some(_), Some(desk)) = (
        &settings.secrets.discord_bot_token,
        settings.discord.desk_channel_id,
    ) {
        service = service.with_desk(DeskRoute::new(Platform::Discord, desk.to_string()));
    }
    service = service.with_desk_platform(settings.desk_platform);
    Ok(App {
        settings,
        store,
        service: Arc::new(service),
        outbox,
    })
}

/// `frontdesk run`: serve until SIGINT/SIGTERM, then finish in-flight work and stop.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let stop_requested = shutdown_signal();
    tokio::pin!(stop_requested);
    let Some(store) = open_store_retrying(&settings.database_url, &mut stop_requested).await?
    else {
        tracing::info!("stopped before the database was reachable");
        return Ok(());
    };
    let addr = settings.http_addr;
    let channels = settings.channels();
    let telegram = telegram_channel(&settings);
    let discord = discord_channel(&settings);
    let mut transports: Vec<Arc<dyn ChatTransport>> = Vec::new();
    if let Some(channel) = &telegram {
        transports.push(channel.transport());
    }
    if let Some(channel) = &discord {
        transports.push(channel.transport());
    }
    // The web chat is always on: with no platform token it is the demo's customer side.
    let web_chat = Arc::new(crate::web::WebTransport::new(
        store.clone(),
        Arc::new(SystemClock),
    ));
    transports.push(web_chat.clone());
    let app = assemble(settings, store, transports)?;
    // Desk thread ids are recorded and looked up in the store by the transports, and the
    // bots' overall send limits are shared with the other replicas (SQLite: none).
    let share = SendShare::new();
    if let Some(channel) = &telegram {
        channel.transport().attach_store(app.store.clone());
        channel.transport().attach_share(share.clone());
    }
    if let Some(channel) = &discord {
        channel.transport().attach_store(app.store.clone());
        channel.transport().attach_share(share.clone());
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        database = %redact_url(&app.settings.database_url),
        entries = app.service.knowledge().matcher().kb().entries.len(),
        "frontdesk starting"
    );
    for channel in &channels {
        match (channel.enabled, channel.hint.is_empty()) {
            (true, true) => tracing::info!(channel = channel.name, "channel enabled"),
            (true, false) => {
                tracing::info!(channel = channel.name, "channel enabled; {}", channel.hint)
            }
            (false, _) => {
                tracing::info!(channel = channel.name, "channel disabled: {}", channel.hint)
            }
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let heartbeat = Heartbeat::new(
        app.store.clone(),
        Arc::new(SystemClock),
        format!("replica-{}-{:08x}", std::process::id(), fastrand::u32(..)),
        share,
        HeartbeatConfig::default(),
    );
    let heartbeat_task = tokio::spawn(heartbeat.run(shutdown_rx.clone()));
    let outbox_task = tokio::spawn(app.outbox.clone().run(shutdown_rx.clone()));
    let sla = Arc::new(SlaWorker::new(
        app.store.clone(),
        app.service.clone(),
        Arc::new(SystemClock),
        SlaWorkerConfig::default(),
    ));
    app.store.watch_work(WorkKind::Timers, sla.waker());
    let sla_task = tokio::spawn(sla.run(shutdown_rx.clone()));
    let alerts_task = if app.settings.alerts.enabled && !app.settings.alerts.is_empty() {
        let worker = AlertWorker::new(
            app.service.clone(),
            Arc::new(SystemClock),
            app.settings.alerts.clone(),
        )
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        Some(tokio::spawn(Arc::new(worker).run(shutdown_rx.clone())))
    } else {
        None
    };
    let housekeeping_task = tokio::spawn(
        Housekeeper::new(
            app.store.clone(),
            Arc::new(SystemClock),
            app.settings.retention.clone(),
        )
        .run(shutdown_rx.clone()),
    );
    let reload_task = tokio::spawn(watch_knowledge(
        app.settings.faq_dir.clone(),
        app.service.knowledge().clone(),
        shutdown_rx.clone(),
    ));

    let mut telegram_webhook = None;
    let telegram_task = telegram.map(|channel| {
        let channel = channel.with_leader(Leader::new(
            app.store.clone(),
            "telegram-polling",
            LeaderConfig::default(),
        ));
        telegram_webhook = channel.webhook(app.service.clone());
        channel.spawn(app.service.clone(), shutdown_rx.clone())
    });
    let discord_task = discord.map(|channel| {
        channel
            .with_leader(Leader::new(
                app.store.clone(),
                "discord-gateway",
                LeaderConfig::default(),
            ))
            .spawn(app.service.clone(), shutdown_rx.clone())
    });

    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (set FRONTDESK_HTTP_ADDR to a free address)")
    })?;
    let local = listener.local_addr().unwrap_or(addr);
    let state = crate::http::HttpState {
        store: app.store.clone(),
        knowledge: app.service.knowledge().clone(),
        channels: channels
            .iter()
            .filter(|c| c.enabled)
            .map(|c| c.name.to_string())
            .collect(),
        telegram_webhook,
        web: Some(crate::web::Web::new(
            app.service.clone(),
            Arc::new(SystemClock),
            web_chat,
            app.settings.secrets.admin_token.clone(),
        )),
    };
    if app.settings.secrets.admin_token.is_some() {
        tracing::info!("web console on http://{local}/console; web chat on http://{local}/chat");
    } else {
        tracing::info!("web console off: set FRONTDESK_ADMIN_TOKEN to enable it at http://{local}/console; web chat on http://{local}/chat");
    }
    tracing::info!("listening on http://{local} (health: http://{local}/healthz)");
    let mut http_shutdown = shutdown_rx.clone();
    let server =
        axum::serve(listener, crate::http::router(state)).with_graceful_shutdown(async move {
            let _ = http_shutdown.wait_for(|stop| *stop).await;
        });
    let http_task = tokio::spawn(async move { server.await });

    stop_requested.await;
    tracing::info!("shutting down: finishing in-flight work");
    let _ = shutdown_tx.send(true);
    let (outbox, reload, http, sla) = tokio::join!(outbox_task, reload_task, http_task, sla_task);
    sla.context("SLA worker crashed")?;
    heartbeat_task.await.context("replica heartbeat crashed")?;
    housekeeping_task.await.context("housekeeper crashed")?;
    if let Some(task) = alerts_task {
        task.await.context("metric alert worker crashed")?;
    }
    if let Some(task) = telegram_task {
        task.await.context("telegram channel crashed")?;
    }
    if let Some(task) = discord_task {
        task.await.context("discord channel crashed")?;
    }
    outbox.context("outbox worker crashed")?;
    reload.context("knowledge base watcher crashed")?;
    http.context("http server crashed")?
        .context("http server failed")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The Telegram channel when a bot token is set. A configuration that cannot work is
/// logged as one clear line and leaves Telegram off; the rest of frontdesk still runs.
fn telegram_channel(settings: &Settings) -> Option<TelegramChannel> {
    let token = settings.secrets.telegram_bot_token.as_ref()?;
    match TelegramConfig::from_settings(
        &settings.telegram,
        settings.secrets.telegram_webhook_secret.as_ref(),
    ) {
        Ok((config, warnings)) => {
            for warning in warnings {
                tracing::warn!("telegram: {warning}");
            }
            Some(TelegramChannel::new(token, config))
        }
        Err(e) => {
            tracing::error!("telegram: {e}; Telegram stays off");
            None
        }
    }
}

/// The Discord channel when a bot token is set; a configuration that cannot work is one
/// clear line and leaves Discord off.
fn discord_channel(settings: &Settings) -> Option<DiscordChannel> {
    let token = settings.secrets.discord_bot_token.as_ref()?;
    match DiscordConfig::from_settings(&settings.discord) {
        Ok(config) => Some(DiscordChannel::new(token, config)),
        Err(e) => {
            tracing::error!("discord: {e}; Discord stays off");
            None
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal(
    installed: std::io::Result<tokio::signal::unix::Signal>,
    name: &'static str,
) {
    match installed {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(e) => {
            tracing::warn!("cannot listen for {name}: {e}");
            std::future::pending::<()>().await;
        }
    }
}

/// Installs the SIGINT/SIGTERM handlers now — before any worker starts, so a signal that
/// arrives while starting up stops the process cleanly instead of killing it — and
/// returns a future that completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                _ = wait_for_signal(interrupt, "SIGINT") => {},
                _ = wait_for_signal(terminate, "SIGTERM") => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    }
}

/// Reloads the knowledge base when its files change; a bad edit keeps the previous one live.
async fn watch_knowledge(
    dir: std::path::PathBuf,
    knowledge: Knowledge,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut watcher = crate::faq::kb::KbWatcher::new(dir);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(KB_POLL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Reading a few small files: cheap enough for the runtime thread every 2 s.
        let Some(report) = watcher.poll() else {
            continue;
        };
        match report.kb {
            Some(kb) => {
                let entries = kb.entries.len();
                // Training the matcher takes a moment on large knowledge bases.
                let knowledge = knowledge.clone();
                match tokio::task::spawn_blocking(move || knowledge.replace(kb)).await {
                    Ok(()) => tracing::info!(entries, "knowledge base reloaded"),
                    Err(e) => tracing::warn!("knowledge base reload failed: {e}"),
                }
            }
            None => {
                tracing::warn!(
                    problems = report.problems.len(),
                    "knowledge base edit rejected, keeping the previous one"
                );
                for p in report.errors().take(20) {
                    tracing::warn!("{p}");
                }
            }
        }
    }
}
