//! Telegram channel, customer side: private chats with the bot, through teloxide's Bot
//! API client.
//!
//! Owns the Telegram specifics: reading updates (long polling with explicit offsets, or
//! a webhook), translating them ([`translate()`]), answering button presses, and sending
//! outbox items ([`TelegramTransport`]) with Telegram's formatting, length and rate rules.
//! It decides nothing about tickets — every customer action goes to
//! [`Service::handle`], and an update counts as received only after that committed.
//! The agents' desk — a forum supergroup with one topic per ticket — is read in `desk`
//! and written by the transport (topics, cards, mirrored messages).

pub mod desk;
pub mod format;
mod inbound;
pub mod translate;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    AllowedUpdate, BotCommand, ChatFullInfo, ChatFullInfoKind, ChatFullInfoPublicKind, ChatId,
    ChatMember, ChatMemberKind, UserId,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::watch;
use url::Url;

pub use inbound::{TelegramInbound, WebhookHandler, WEBHOOK_SECRET_HEADER};
pub use translate::{translate, Translation};
pub use transport::{TelegramLimits, TelegramTransport};

use crate::config::TelegramSettings;
use crate::domain::Platform;
use crate::service::Service;

/// A configuration that cannot work; each is logged as one line at start.
#[derive(Debug, thiserror::Error)]
pub enum TelegramConfigError {
    #[error("TELEGRAM_API_URL `{0}` is not a usable http(s) URL")]
    BadApiUrl(String),
    #[error("TELEGRAM_WEBHOOK_URL `{0}` is not a usable http(s) URL")]
    BadWebhookUrl(String),
    #[error("TELEGRAM_WEBHOOK_URL path `{0}` cannot be served: use letters, digits and `/ _ - . ~` only, not `/healthz`")]
    BadWebhookPath(String),
    #[error("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: webhook mode without a secret would accept updates from anyone")]
    MissingWebhookSecret,
    #[error("TELEGRAM_WEBHOOK_SECRET must be 1–256 characters of A–Z, a–z, 0–9, `_` and `-` (Telegram's rule)")]
    BadWebhookSecret,
}

/// How updates arrive.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `getUpdates` long polling (the default).
    Polling,
    /// Telegram POSTs updates to `url`; this process serves `url`'s path.
    Webhook { url: Url, secret: SecretString },
}

/// Validated Telegram settings.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub api_url: Url,
    pub mode: Mode,
    pub limits: TelegramLimits,
    /// Long-polling timeout; must stay below the client's 17 s request timeout.
    pub poll_timeout: Duration,
    /// Longest pause between retries when the Bot API or the store is unwell.
    pub max_backoff: Duration,
}

impl TelegramConfig {
    /// Checks the settings; returns the config and warnings worth a log line each.
    pub fn from_settings(
        settings: &TelegramSettings,
        webhook_secret: Option<&SecretString>,
    ) -> Result<(TelegramConfig, Vec<String>), TelegramConfigError> {
        let mut warnings = Vec::new();
        let api_url = parse_http_url(&settings.api_url)
            .ok_or_else(|| TelegramConfigError::BadApiUrl(settings.api_url.clone()))?;
        let mode = match (&settings.webhook_url, webhook_secret) {
            (None, None) => Mode::Polling,
            (None, Some(_)) => {
                warnings.push("TELEGRAM_WEBHOOK_SECRET is set but TELEGRAM_WEBHOOK_URL is not: using long polling".into());
                Mode::Polling
            }
            (Some(_), None) => return Err(TelegramConfigError::MissingWebhookSecret),
            (Some(raw), Some(secret)) => {
                let url = parse_http_url(raw)
                    .ok_or_else(|| TelegramConfigError::BadWebhookUrl(raw.clone()))?;
                if !valid_webhook_path(url.path()) {
                    return Err(TelegramConfigError::BadWebhookPath(url.path().to_string()));
                }
                if !valid_secret(secret.expose_secret()) {
                    return Err(TelegramConfigError::BadWebhookSecret);
                }
                if url.scheme() != "https" {
                    warnings.push(format!(
                        "TELEGRAM_WEBHOOK_URL {url} is not https: api.telegram.org only delivers to https URLs"
                    ));
                }
                Mode::Webhook {
                    url,
                    secret: secret.clone(),
                }
            }
        };
        Ok((
            TelegramConfig {
                api_url,
                mode,
                limits: TelegramLimits::default(),
                poll_timeout: Duration::from_secs(10),
                max_backoff: Duration::from_secs(30),
            },
            warnings,
        ))
    }
}

/// `http(s)://host[/path]` without a trailing slash (the client appends `/bot<token>/…`).
fn parse_http_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw.trim().trim_end_matches('/')).ok()?;
    (matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base() && url.has_host())
        .then_some(url)
}

/// A path the HTTP router takes literally (no `{param}` or `*` syntax) and that does not
/// clash with the health endpoint.
fn valid_webhook_path(path: &str) -> bool {
    path.starts_with('/')
        && path != "/healthz"
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.~%".contains(&b))
}

fn valid_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An error from the Bot API client, described without the request URL (which holds the
/// bot token) so that it can be logged and stored.
pub fn describe(error: &RequestError) -> String {
    match error {
        RequestError::Network(e) => {
            let mut parts = Vec::new();
            if e.is_timeout() {
                parts.push("timed out".to_string());
            }
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(s) = source {
                parts.push(s.to_string());
                source = s.source();
            }
            if parts.is_empty() {
                parts.push("request failed".into());
            }
            format!("network: {}", parts.join(": "))
        }
        RequestError::InvalidJson { source, .. } => {
            format!("unreadable answer from the Bot API: {}", json_error(source))
        }
        other => other.to_string(),
    }
}

/// Where and why JSON did not parse — without serde's message, which can quote values
/// (customer text) from the document.
pub fn json_error(error: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

/// The Telegram channel of one process: the client, the transport for the outbox and
/// the task that receives updates.
pub struct TelegramChannel {
    bot: Bot,
    config: TelegramConfig,
    transport: Arc<TelegramTransport>,
    /// Long polling only on the replica holding this role (Telegram allows one poller
    /// per bot); `None`: this process always polls.
    leader: Option<crate::leader::Leader>,
}

impl TelegramChannel {
    pub fn new(token: &SecretString, config: TelegramConfig) -> TelegramChannel {
        let bot = Bot::new(token.expose_secret()).set_api_url(config.api_url.clone());
        let transport = Arc::new(TelegramTransport::new(bot.clone(), config.limits));
        TelegramChannel {
            bot,
            config,
            transport,
            leader: None,
        }
    }

    /// Polls only while this replica holds `leader`'s role (webhook mode ignores it: any
    /// replica may receive a webhook call).
    pub fn with_leader(mut self, leader: crate::leader::Leader) -> TelegramChannel {
        self.leader = Some(leader);
        self
    }

    pub fn transport(&self) -> Arc<TelegramTransport> {
        self.transport.clone()
    }

    /// The webhook endpoint to mount on the HTTP server, in webhook mode.
    pub fn webhook(&self, service: Arc<Service>) -> Option<WebhookHandler> {
        self.transport.attach_store(service.store().clone());
        match &self.config.mode {
            Mode::Polling => None,
            Mode::Webhook { url, secret } => Some(WebhookHandler::new(
                Arc::new(TelegramInbound::new(self.bot.clone(), service)),
                url.path().to_string(),
                secret.clone(),
            )),
        }
    }

    /// Starts receiving: checks the token (getMe), registers the commands, then polls —
    /// or, in webhook mode, registers the webhook. Ends on shutdown, or at once when the
    /// token is refused (logged as an error: the rest of frontdesk keeps running).
    pub fn spawn(
        self,
        service: Arc<Service>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(service, shutdown).await })
    }

    async fn run(self, service: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
        self.transport.attach_store(service.store().clone());
        let Some(bot_id) = self.connect(&mut shutdown).await else {
            return;
        };
        self.register_commands().await;
        if let Some(desk) = service.desk_on(Platform::Telegram) {
            self.check_desk(&desk.chat_id, bot_id).await;
        }
        match &self.config.mode {
            Mode::Polling => {
                if let Err(e) = self.bot.delete_webhook().send().await {
                    tracing::warn!("telegram: deleteWebhook failed ({}); getUpdates may be refused while a webhook is set", describe(&e));
                }
                let inbound = Arc::new(TelegramInbound::new(self.bot.clone(), service));
                match &self.leader {
                    Some(leader) => {
                        leader
                            .run(shutdown, |stop| {
                                let inbound = inbound.clone();
                                let config = self.config.clone();
                                async move { inbound::poll(inbound, &config, stop).await }
                            })
                            .await
                    }
                    None => inbound::poll(inbound, &self.config, shutdown).await,
                }
            }
            Mode::Webhook { url, secret } => {
                self.set_webhook(url, secret, &mut shutdown).await;
                let _ = shutdown.wait_for(|stop| *stop).await;
            }
        }
    }

    /// getMe until it answers: the bot's user id. `None` when the token is refused or on
    /// shutdown.
    async fn connect(&self, shutdown: &mut watch::Receiver<bool>) -> Option<UserId> {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.bot.get_me().send().await {
                Ok(me) => {
                    tracing::info!(
                        bot = %me.user.username.as_deref().unwrap_or("?"),
                        mode = match self.config.mode { Mode::Polling => "long polling", Mode::Webhook { .. } => "webhook" },
                        "telegram: connected"
                    );
                    return Some(me.user.id);
                }
                Err(RequestError::Api(ApiError::InvalidToken)) => {
                    tracing::error!(
                        api = %self.config.api_url,
                        "telegram: the bot token was refused (getMe: Unauthorized) — check TELEGRAM_BOT_TOKEN; Telegram stays off until restart"
                    );
                    return None;
                }
                Err(e) => {
                    tracing::warn!(
                        api = %self.config.api_url,
                        "telegram: getMe failed ({}); retrying in {}s",
                        describe(&e),
                        delay.as_secs()
                    );
                }
            }
            if sleep_or_stop(delay, shutdown).await {
                return None;
            }
            delay = (delay * 2).min(self.config.max_backoff);
        }
    }

    /// Checks once that the desk can work: a forum (topics on) where the bot is an admin
    /// allowed to manage topics. Each problem is one log line; nothing stops.
    async fn check_desk(&self, chat_id: &str, bot: UserId) {
        let problems = self.desk_problems(chat_id, bot).await;
        for problem in &problems {
            tracing::warn!("telegram: {problem}");
        }
        if problems.is_empty() {
            tracing::info!(
                chat = chat_id,
                "telegram: desk chat ready (forum, bot manages topics)"
            );
        }
    }

    /// What keeps the desk chat from working, one sentence each (empty: ready).
    async fn desk_problems(&self, chat_id: &str, bot: UserId) -> Vec<String> {
        let Ok(chat) = chat_id.trim().parse::<i64>().map(ChatId) else {
            return vec!["TELEGRAM_DESK_CHAT_ID is not a number; the desk cannot work".into()];
        };
        let mut problems = Vec::new();
        match self.bot.get_chat(chat).send().await {
            Ok(info) if !is_forum(&info) => problems.push(format!(
                "the desk chat {} is not a forum (topics are off): enable Topics in the group's settings, or tickets get no topics",
                chat.0
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!(
                "getChat for the desk {} failed ({}); is the bot a member of TELEGRAM_DESK_CHAT_ID?",
                chat.0,
                describe(&e)
            )),
        }
        match self.bot.get_chat_member(chat, bot).send().await {
            Ok(member) if !can_manage_topics(&member) => problems.push(format!(
                "the bot is not an admin with \"Manage topics\" in the desk chat {}: ticket topics cannot be created",
                chat.0
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!(
                "getChatMember for the bot in the desk {} failed ({})",
                chat.0,
                describe(&e)
            )),
        }
        problems
    }

    /// `frontdesk doctor`: can the Bot API be reached with this token (getMe), and can
    /// the desk work (`desk_chat`)? One sentence per problem; empty when all is well.
    /// Nothing is changed on Telegram's side.
    pub async fn doctor(&self, desk_chat: Option<&str>) -> Vec<String> {
        const PATIENCE: Duration = Duration::from_secs(10);
        let me = match tokio::time::timeout(PATIENCE, self.bot.get_me().send()).await {
            Err(_) => {
                return vec![format!(
                    "telegram: getMe at {} did not answer within {}s",
                    self.config.api_url,
                    PATIENCE.as_secs()
                )]
            }
            Ok(Err(RequestError::Api(ApiError::InvalidToken))) => {
                return vec![
                    "telegram: the bot token was refused (getMe: Unauthorized) — check TELEGRAM_BOT_TOKEN".into(),
                ]
            }
            Ok(Err(e)) => {
                return vec![format!(
                    "telegram: getMe at {} failed ({})",
                    self.config.api_url,
                    describe(&e)
                )]
            }
            Ok(Ok(me)) => me,
        };
        let Some(desk) = desk_chat else {
            return Vec::new();
        };
        match tokio::time::timeout(PATIENCE * 2, self.desk_problems(desk, me.user.id)).await {
            Ok(problems) => problems
                .into_iter()
                .map(|p| format!("telegram: {p}"))
                .collect(),
            Err(_) => vec![format!(
                "telegram: checking the desk chat {desk} did not finish within {}s",
                (PATIENCE * 2).as_secs()
            )],
        }
    }

    async fn register_commands(&self) {
        let sets: [(Option<&str>, Vec<BotCommand>); 2] = [
            (
                None,
                vec![
                    BotCommand::new("start", "Menu and help topics"),
                    BotCommand::new("status", "My tickets"),
                    BotCommand::new("human", "Talk to a person"),
                    BotCommand::new("new", "Open a separate ticket"),
                ],
            ),
            (
                Some("zh"),
                vec![
                    BotCommand::new("start", "菜单和常见问题"),
                    BotCommand::new("status", "我的工单"),
                    BotCommand::new("human", "转人工"),
                    BotCommand::new("new", "新建一个工单"),
                ],
            ),
        ];
        for (language, commands) in sets {
            let mut request = self.bot.set_my_commands(commands);
            if let Some(language) = language {
                use teloxide::payloads::SetMyCommandsSetters;
                request = request.language_code(language);
            }
            if let Err(e) = request.send().await {
                tracing::warn!(
                    language = language.unwrap_or("default"),
                    "telegram: setMyCommands failed ({})",
                    describe(&e)
                );
            }
        }
    }

    async fn set_webhook(
        &self,
        url: &Url,
        secret: &SecretString,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        use teloxide::payloads::SetWebhookSetters;
        let mut delay = Duration::from_secs(1);
        loop {
            let result = self
                .bot
                .set_webhook(url.clone())
                .secret_token(secret.expose_secret())
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(%url, "telegram: webhook registered");
                    return;
                }
                Err(RequestError::Api(api)) => {
                    // Telegram refused the URL itself (not https, bad port, …): retrying
                    // cannot help.
                    tracing::error!(%url, "telegram: setWebhook refused ({api}); no updates will arrive");
                    return;
                }
                Err(e) => tracing::warn!(
                    "telegram: setWebhook failed ({}); retrying in {}s",
                    describe(&e),
                    delay.as_secs()
                ),
            }
            if sleep_or_stop(delay, shutdown).await {
                return;
            }
            delay = (delay * 2).min(self.config.max_backoff);
        }
    }
}

fn is_forum(info: &ChatFullInfo) -> bool {
    match &info.kind {
        ChatFullInfoKind::Public(public) => matches!(
            &public.kind,
            ChatFullInfoPublicKind::Supergroup(s) if s.is_forum
        ),
        ChatFullInfoKind::Private(_) => false,
    }
}

/// The group's owner can do everything; an admin needs the "Manage topics" right.
fn can_manage_topics(member: &ChatMember) -> bool {
    match &member.kind {
        ChatMemberKind::Owner(_) => true,
        ChatMemberKind::Administrator(admin) => admin.can_manage_topics,
        _ => false,
    }
}

/// Sleeps `delay`; true if shutdown was asked for meanwhile.
async fn sleep_or_stop(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = shutdown.wait_for(|stop| *stop) => true,
    };
    stopped || *shutdown.borrow()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(webhook: Option<&str>) -> TelegramSettings {
        TelegramSettings {
            webhook_url: webhook.map(str::to_string),
            ..TelegramSettings::default()
        }
    }

    #[test]
    fn polling_unless_a_webhook_url_is_set() {
        let (config, warnings) = TelegramConfig::from_settings(&settings(None), None).unwrap();
        assert!(matches!(config.mode, Mode::Polling));
        assert!(warnings.is_empty());
        assert_eq!(config.api_url.as_str(), "https://api.telegram.org/");
        let secret = SecretString::from("s3cret_-X");
        let (config, warnings) = TelegramConfig::from_settings(
            &settings(Some("https://bot.example.com/tg/hook")),
            Some(&secret),
        )
        .unwrap();
        let Mode::Webhook { url, .. } = config.mode else {
            panic!("webhook expected")
        };
        assert_eq!(url.path(), "/tg/hook");
        assert!(warnings.is_empty());
    }

    #[test]
    fn webhook_problems_are_refused_with_a_reason() {
        let err = TelegramConfig::from_settings(&settings(Some("https://x.example/hook")), None)
            .unwrap_err();
        assert!(err.to_string().contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
        let bad = SecretString::from("has spaces");
        let err =
            TelegramConfig::from_settings(&settings(Some("https://x.example/hook")), Some(&bad))
                .unwrap_err();
        assert!(matches!(err, TelegramConfigError::BadWebhookSecret));
        let ok = SecretString::from("abc");
        let err =
            TelegramConfig::from_settings(&settings(Some("not a url")), Some(&ok)).unwrap_err();
        assert!(matches!(err, TelegramConfigError::BadWebhookUrl(_)));
        let mut s = settings(None);
        s.api_url = "mailto:bot@example.com".into();
        assert!(matches!(
            TelegramConfig::from_settings(&s, None).unwrap_err(),
            TelegramConfigError::BadApiUrl(_)
        ));
    }

    #[test]
    fn webhook_paths_the_router_cannot_serve_are_refused() {
        let ok = SecretString::from("abc");
        for url in ["https://x.example/healthz", "https://x.example/hook/*rest"] {
            let err = TelegramConfig::from_settings(&settings(Some(url)), Some(&ok)).unwrap_err();
            assert!(
                matches!(err, TelegramConfigError::BadWebhookPath(_)),
                "{url}: {err}"
            );
        }
        assert!(
            TelegramConfig::from_settings(&settings(Some("https://x.example")), Some(&ok)).is_ok()
        );
    }

    #[test]
    fn plain_http_webhook_is_a_warning() {
        let ok = SecretString::from("abc");
        let (_, warnings) =
            TelegramConfig::from_settings(&settings(Some("http://127.0.0.1:8080/hook")), Some(&ok))
                .unwrap();
        assert_eq!(warnings.len(), 1);
    }
}
