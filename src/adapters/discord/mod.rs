//! Discord channel, through serenity: customers in DMs with the bot, agents in a desk
//! channel (`DISCORD_DESK_CHANNEL_ID`) with one public thread per ticket.
//!
//! Owns the Discord specifics: the gateway connection (serenity's client, intents GUILDS,
//! GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT), translating gateway events
//! ([`translate`]), answering interactions, registering slash commands, start-up checks,
//! and sending outbox items ([`DiscordTransport`]) with Discord's markdown, length and
//! rate rules. It decides nothing about tickets: customers' actions go to
//! [`Service::handle`], agents' to [`Service::handle_desk`]; an interaction is answered
//! only after the service committed it.

pub mod format;
mod inbound;
pub mod translate;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{
    ApplicationFlags, ChannelId, ChannelType, ClientBuilder, CommandOptionType, CreateCommand,
    CreateCommandOption, GatewayIntents, GuildId, Http, HttpBuilder, Permissions, UserId,
};
use tokio::sync::watch;
use url::Url;

pub use transport::{DiscordLimits, DiscordTransport};

use crate::config::DiscordSettings;
use crate::domain::Platform;
use crate::service::Service;

/// The public Discord API base; any other `DISCORD_API_URL` is reached as a proxy.
pub const DISCORD_URL: &str = "https://discord.com";

/// A configuration that cannot work; logged as one line at start.
#[derive(Debug, thiserror::Error)]
pub enum DiscordConfigError {
    #[error("DISCORD_API_URL `{0}` is not a usable http(s) URL")]
    BadApiUrl(String),
}

/// Validated Discord settings.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `https://discord.com`, or a stand-in (tests, a proxy) serving `/api/v10/…`.
    pub api_url: Url,
    pub desk_channel: Option<ChannelId>,
    pub limits: DiscordLimits,
    /// Longest pause between retries when Discord or the store is unwell.
    pub max_backoff: Duration,
}

impl DiscordConfig {
    pub fn from_settings(settings: &DiscordSettings) -> Result<DiscordConfig, DiscordConfigError> {
        let raw = settings.api_url.trim().trim_end_matches('/');
        let api_url = Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| DiscordConfigError::BadApiUrl(settings.api_url.clone()))?;
        Ok(DiscordConfig {
            api_url,
            desk_channel: settings
                .desk_channel_id
                .filter(|id| *id != 0)
                .map(ChannelId::new),
            limits: DiscordLimits::default(),
            max_backoff: Duration::from_secs(30),
        })
    }

    /// The base URL serenity substitutes for `https://discord.com`, if not Discord itself.
    fn proxy(&self) -> Option<String> {
        let base = self.api_url.as_str().trim_end_matches('/').to_string();
        (base != DISCORD_URL).then_some(base)
    }
}

/// Intents the channel needs: guild channels and threads, guild and DM messages, and the
/// privileged message content (without it agents' messages arrive empty).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// Serenity's REST client for this configuration. Serenity's own rate limiter does not
/// follow a proxy, so it is off then and 429s are handled by the outbox.
fn http_client(token: &SecretString, config: &DiscordConfig, client: reqwest::Client) -> Http {
    let mut builder = HttpBuilder::new(token.expose_secret()).client(client);
    if let Some(proxy) = config.proxy() {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}

/// An error from serenity described without request URLs or tokens.
pub fn describe(error: &serenity::Error) -> String {
    use serenity::http::HttpError;
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(e)) => format!(
            "HTTP {} ({}{})",
            e.status_code.as_u16(),
            e.error.message,
            if e.error.code != 0 {
                format!(", code {}", e.error.code)
            } else {
                String::new()
            }
        ),
        serenity::Error::Http(HttpError::Request(e)) => {
            let mut parts = vec![if e.is_timeout() {
                "timed out".to_string()
            } else {
                "request failed".to_string()
            }];
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                parts.push(s.to_string());
                source = s.source();
            }
            format!("network: {}", parts.join(": "))
        }
        serenity::Error::Json(e) => format!("unreadable answer: {:?}", e.classify()),
        other => other.to_string(),
    }
}

fn status_of(error: &serenity::Error) -> Option<u16> {
    match error {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e)) => {
            Some(e.status_code.as_u16())
        }
        _ => None,
    }
}

/// The Discord channel of one process: REST client, outbox transport, gateway task.
pub struct DiscordChannel {
    token: SecretString,
    config: DiscordConfig,
    http: Arc<Http>,
    transport: Arc<DiscordTransport>,
    /// The gateway connection only on the replica holding this role (one connection per
    /// bot is enough, and two would see every event twice); `None`: always connect.
    leader: Option<crate::leader::Leader>,
}

impl DiscordChannel {
    pub fn new(token: &SecretString, config: DiscordConfig) -> DiscordChannel {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        let http = Arc::new(http_client(token, &config, client.clone()));
        let transport = Arc::new(DiscordTransport::new(
            http.clone(),
            client,
            config.limits,
            config.desk_channel,
        ));
        DiscordChannel {
            token: token.clone(),
            config,
            http,
            transport,
            leader: None,
        }
    }

    /// Holds the gateway connection only while this replica holds `leader`'s role.
    pub fn with_leader(mut self, leader: crate::leader::Leader) -> DiscordChannel {
        self.leader = Some(leader);
        self
    }

    /// `frontdesk doctor`: does the REST API accept the token (GET /users/@me), and can the
    /// desk (`desk`, the configured channel id) work — a text channel the bot reads, in a
    /// server where its roles allow posting and managing threads? One sentence per
    /// problem; empty when all is well. Changes nothing on Discord's side.
    pub async fn doctor(&self, desk: Option<&str>) -> Vec<String> {
        const PATIENCE: Duration = Duration::from_secs(10);
        let token = match tokio::time::timeout(PATIENCE, self.http.get_current_user()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) if status_of(&e) == Some(401) => Some(
                "discord: the bot token was refused (GET /users/@me: 401 Unauthorized) — check DISCORD_BOT_TOKEN".into(),
            ),
            Ok(Err(e)) => Some(format!(
                "discord: GET /users/@me at {} failed ({})",
                self.config.api_url,
                describe(&e)
            )),
            Err(_) => Some(format!(
                "discord: GET /users/@me at {} did not answer within {}s",
                self.config.api_url,
                PATIENCE.as_secs()
            )),
        };
        if let Some(problem) = token {
            // Nothing else can be asked without a working token.
            return vec![problem];
        }
        match desk {
            Some(desk) => match tokio::time::timeout(PATIENCE, self.inspect_desk(desk)).await {
                Ok((_, problems)) => problems,
                Err(_) => vec![format!(
                    "discord: the desk channel {desk} could not be checked within {}s",
                    PATIENCE.as_secs()
                )],
            },
            None => Vec::new(),
        }
    }

    pub fn transport(&self) -> Arc<DiscordTransport> {
        self.transport.clone()
    }

    /// Checks the token, then keeps a gateway connection until shutdown. A refused token
    /// or disallowed intents end the task with one error line; the rest of frontdesk runs.
    pub fn spawn(
        self,
        service: Arc<Service>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(service, shutdown).await })
    }

    async fn run(self, service: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
        self.transport.attach_store(service.store().clone());
        let Some(bot) = self.connect(&mut shutdown).await else {
            return;
        };
        let desk = match service.desk_on(Platform::Discord) {
            Some(route) => self.check_desk(&route.chat_id, bot).await,
            None => None,
        };
        let context = inbound::Worker {
            http: self.http.clone(),
            service,
            desk,
            max_backoff: self.config.max_backoff,
            shutdown: shutdown.clone(),
        };
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let worker = tokio::spawn(inbound::process_events(context, receiver, shutdown.clone()));
        match &self.leader {
            Some(leader) => {
                leader
                    .run(shutdown, |stop| self.gateway(events.clone(), stop))
                    .await
            }
            None => self.gateway(events.clone(), shutdown).await,
        }
        drop(events);
        let _ = worker.await;
        tracing::info!("discord: gateway stopped");
    }

    /// Keeps a gateway connection, forwarding events to the worker, until `shutdown`.
    async fn gateway(
        &self,
        events: tokio::sync::mpsc::UnboundedSender<inbound::GatewayEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut delay = Duration::from_secs(1);
        loop {
            let http = http_client(&self.token, &self.config, self.transport.client());
            let handler = inbound::Forwarder::new(events.clone());
            let client = ClientBuilder::new_with_http(http, intents())
                .event_handler(handler)
                .await;
            let mut client = match client {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!("discord: client not built ({})", describe(&e));
                    if sleep_or_stop(delay, &mut shutdown).await {
                        break;
                    }
                    delay = (delay * 2).min(self.config.max_backoff);
                    continue;
                }
            };
            let shards = client.shard_manager.clone();
            let outcome = tokio::select! {
                result = client.start() => Some(result),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            match outcome {
                None => {
                    // Bounded: a shard being restarted must not hold up the shutdown.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), shards.shutdown_all()).await;
                    break;
                }
                Some(Ok(())) => {
                    tracing::warn!("discord: gateway connection ended; reconnecting");
                }
                Some(Err(e)) => {
                    if let Some(line) = fatal_gateway_error(&e) {
                        tracing::error!("discord: {line}; Discord stays off until restart");
                        break;
                    }
                    tracing::warn!("discord: gateway failed ({}); reconnecting", describe(&e));
                }
            }
            if sleep_or_stop(delay, &mut shutdown).await {
                break;
            }
            delay = (delay * 2).min(self.config.max_backoff);
        }
    }

    /// GET /users/@me until it answers: the bot's user id. `None` when the token is
    /// refused (401) or on shutdown.
    async fn connect(&self, shutdown: &mut watch::Receiver<bool>) -> Option<UserId> {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.http.get_current_user().await {
                Ok(me) => {
                    tracing::info!(bot = %me.name, api = %self.config.api_url, "discord: connected");
                    return Some(me.id);
                }
                Err(e) if status_of(&e) == Some(401) => {
                    tracing::error!(
                        api = %self.config.api_url,
                        "discord: the bot token was refused (GET /users/@me: 401 Unauthorized) — check DISCORD_BOT_TOKEN; Discord stays off until restart"
                    );
                    return None;
                }
                Err(e) => tracing::warn!(
                    api = %self.config.api_url,
                    "discord: GET /users/@me failed ({}); retrying in {}s",
                    describe(&e),
                    delay.as_secs()
                ),
            }
            if sleep_or_stop(delay, shutdown).await {
                return None;
            }
            delay = (delay * 2).min(self.config.max_backoff);
        }
    }

    /// Checks once that the desk can work: a text channel the bot sees, in a guild where it
    /// may post, open threads and manage them. Each problem is one log line; nothing stops.
    /// Returns where the desk is (its guild is learnt here).
    async fn check_desk(&self, channel_id: &str, bot: UserId) -> Option<inbound::DeskPlace> {
        let (place, problems) = self.inspect_desk(channel_id).await;
        for problem in &problems {
            tracing::warn!(bot = %bot, "{problem}");
        }
        if problems.is_empty() && place.as_ref().is_some_and(|p| p.guild.is_some()) {
            tracing::info!(
                channel = channel_id,
                "discord: desk channel ready (bot may post and manage threads)"
            );
        }
        place
    }

    /// The desk's problems, one sentence each (empty when it can work), and where it is.
    /// Read-only: GET the channel, the bot's member entry and the guild's roles.
    async fn inspect_desk(&self, channel_id: &str) -> (Option<inbound::DeskPlace>, Vec<String>) {
        let Some(channel) = channel_id
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id != 0)
            .map(ChannelId::new)
        else {
            return (
                None,
                vec![format!(
                    "discord: DISCORD_DESK_CHANNEL_ID `{channel_id}` is not a channel id; the desk cannot work"
                )],
            );
        };
        let mut problems = Vec::new();
        let guild = match self.http.get_channel(channel).await {
            Ok(serenity::all::Channel::Guild(c)) => {
                if c.kind != ChannelType::Text {
                    problems.push(format!(
                        "discord: the desk channel {channel} is not a text channel ({:?}): ticket threads need a text channel",
                        c.kind
                    ));
                }
                Some(c.guild_id)
            }
            Ok(_) => {
                problems.push(format!("discord: the desk channel {channel} is not a server channel (a DM?); the desk cannot work"));
                None
            }
            Err(e) => {
                problems.push(format!(
                    "discord: the desk channel cannot be read (channel {channel}: {}): check DISCORD_DESK_CHANNEL_ID and that the bot was invited to its server",
                    describe(&e)
                ));
                None
            }
        };
        if let Some(guild) = guild {
            problems.extend(self.permission_problems(guild).await);
        }
        (Some(inbound::DeskPlace { channel, guild }), problems)
    }

    /// The bot's server-wide permissions (roles, not per-channel overwrites) against what
    /// the desk needs: one sentence naming everything missing, or none.
    async fn permission_problems(&self, guild: GuildId) -> Option<String> {
        let (member, roles) = match tokio::join!(
            self.http.get_current_user_guild_member(guild),
            self.http.get_guild_roles(guild)
        ) {
            (Ok(member), Ok(roles)) => (member, roles),
            (Err(e), _) | (_, Err(e)) => {
                return Some(format!(
                    "discord: the bot's permissions in the desk's server {guild} could not be read ({})",
                    describe(&e)
                ));
            }
        };
        let granted = roles
            .iter()
            .filter(|r| r.id.get() == guild.get() || member.roles.contains(&r.id))
            .fold(Permissions::empty(), |acc, r| acc | r.permissions);
        let missing = missing_permissions(granted);
        (!missing.is_empty()).then(|| {
            format!(
                "discord: the bot lacks permissions in the desk's server: {} — re-invite it with them or grant them to its role",
                missing.join(", ")
            )
        })
    }
}

/// What the desk needs the bot to be allowed; the names as the server settings show them.
fn missing_permissions(granted: Permissions) -> Vec<&'static str> {
    if granted.contains(Permissions::ADMINISTRATOR) {
        return Vec::new();
    }
    [
        (Permissions::VIEW_CHANNEL, "View Channels"),
        (Permissions::SEND_MESSAGES, "Send Messages"),
        (
            Permissions::SEND_MESSAGES_IN_THREADS,
            "Send Messages in Threads",
        ),
        (Permissions::CREATE_PUBLIC_THREADS, "Create Public Threads"),
        (Permissions::MANAGE_THREADS, "Manage Threads"),
        (Permissions::EMBED_LINKS, "Embed Links"),
        (Permissions::READ_MESSAGE_HISTORY, "Read Message History"),
    ]
    .into_iter()
    .filter(|(p, _)| !granted.contains(*p))
    .map(|(_, name)| name)
    .collect()
}

/// The application's flags lack the message content intent: agents' words arrive empty.
pub fn message_content_hint(flags: Option<ApplicationFlags>) -> Option<&'static str> {
    let flags = flags?;
    let allowed = flags.contains(ApplicationFlags::GATEWAY_MESSAGE_CONTENT)
        || flags.contains(ApplicationFlags::GATEWAY_MESSAGE_CONTENT_LIMITED);
    (!allowed).then_some(
        "the privileged MESSAGE CONTENT intent is not enabled for this application (Developer Portal → Bot → Privileged Gateway Intents): customers' and agents' words will arrive empty",
    )
}

/// Gateway errors that reconnecting cannot cure, as the line to log.
fn fatal_gateway_error(error: &serenity::Error) -> Option<&'static str> {
    use serenity::gateway::GatewayError;
    match error {
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
            Some("the gateway refused the bot token (4004) — check DISCORD_BOT_TOKEN")
        }
        serenity::Error::Gateway(GatewayError::DisallowedGatewayIntents) => Some(
            "the gateway refused the intents (4014): enable the privileged MESSAGE CONTENT intent in the Developer Portal (Bot → Privileged Gateway Intents)",
        ),
        serenity::Error::Gateway(GatewayError::InvalidGatewayIntents) => {
            Some("the gateway refused the intents as invalid (4013)")
        }
        _ => None,
    }
}

/// The slash commands customers use in DMs (registered globally).
pub fn customer_commands() -> Vec<CreateCommand> {
    vec![
        CreateCommand::new("status").description("My tickets"),
        CreateCommand::new("human").description("Talk to a person"),
        CreateCommand::new("new").description("Open a separate ticket"),
        CreateCommand::new("start").description("Menu and help topics"),
    ]
}

/// One desk command: name, description and its text argument, if it takes one.
struct DeskCommandSpec {
    name: &'static str,
    description: &'static str,
    /// Name, description and whether it must be given.
    argument: Option<(&'static str, &'static str, bool)>,
}

const DESK_COMMANDS: &[DeskCommandSpec] = &[
    DeskCommandSpec {
        name: "claim",
        description: "Take this ticket",
        argument: None,
    },
    DeskCommandSpec {
        name: "assign",
        description: "Assign this ticket to an agent",
        argument: Some(("agent", "Agent name", true)),
    },
    DeskCommandSpec {
        name: "transfer",
        description: "Move this ticket to a department",
        argument: Some(("department", "Department", true)),
    },
    DeskCommandSpec {
        name: "priority",
        description: "Set the priority",
        argument: Some(("priority", "P1, P2 or P3", true)),
    },
    DeskCommandSpec {
        name: "category",
        description: "Set the category",
        argument: Some((
            "category",
            "inquiry, problem, complaint or after_sales",
            true,
        )),
    },
    DeskCommandSpec {
        name: "note",
        description: "Internal note (never sent to the customer)",
        argument: Some(("text", "The note", true)),
    },
    DeskCommandSpec {
        name: "ask",
        description: "Ask the customer for information",
        argument: Some(("text", "The question", true)),
    },
    DeskCommandSpec {
        name: "resolve",
        description: "Send the solution",
        argument: Some(("solution", "The solution for the customer", true)),
    },
    DeskCommandSpec {
        name: "reopen",
        description: "Reopen this ticket",
        argument: None,
    },
    DeskCommandSpec {
        name: "faq",
        description: "Quote an FAQ answer to the customer",
        argument: Some(("id", "FAQ entry id", true)),
    },
    DeskCommandSpec {
        name: "info",
        description: "Customer and history",
        argument: None,
    },
    DeskCommandSpec {
        name: "queue",
        description: "Open tickets by SLA urgency",
        argument: None,
    },
    DeskCommandSpec {
        name: "mine",
        description: "My tickets",
        argument: None,
    },
    DeskCommandSpec {
        name: "find",
        description: "Find tickets",
        argument: Some(("query", "Text or #id", true)),
    },
    DeskCommandSpec {
        name: "stats",
        description: "Desk figures for a period",
        argument: Some(("period", "today, 7d, 30d, Nd or Nh (default today)", false)),
    },
];

/// The desk's slash commands (registered in the desk's server).
pub fn desk_commands() -> Vec<CreateCommand> {
    DESK_COMMANDS
        .iter()
        .map(|spec| {
            let command = CreateCommand::new(spec.name).description(spec.description);
            match spec.argument {
                Some((name, description, required)) => command.add_option(
                    CreateCommandOption::new(CommandOptionType::String, name, description)
                        .required(required),
                ),
                None => command,
            }
        })
        .collect()
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

    #[test]
    fn discord_itself_is_not_a_proxy() {
        let config = DiscordConfig::from_settings(&DiscordSettings::default()).unwrap();
        assert_eq!(config.proxy(), None);
        let local = DiscordSettings {
            api_url: "http://127.0.0.1:9000/".into(),
            desk_channel_id: Some(5),
        };
        let config = DiscordConfig::from_settings(&local).unwrap();
        assert_eq!(config.proxy().as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.desk_channel, Some(ChannelId::new(5)));
        let bad = DiscordSettings {
            api_url: "discord".into(),
            desk_channel_id: None,
        };
        assert!(DiscordConfig::from_settings(&bad).is_err());
    }

    #[test]
    fn permissions_name_what_is_missing() {
        assert!(missing_permissions(Permissions::ADMINISTRATOR).is_empty());
        let some = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        let missing = missing_permissions(some);
        assert!(missing.contains(&"Create Public Threads"));
        assert!(!missing.contains(&"Send Messages"));
    }

    #[test]
    fn message_content_intent_hint_only_without_the_flag() {
        assert!(message_content_hint(Some(ApplicationFlags::empty())).is_some());
        assert!(message_content_hint(Some(ApplicationFlags::GATEWAY_MESSAGE_CONTENT)).is_none());
        assert!(message_content_hint(None).is_none());
    }

    #[test]
    fn desk_commands_cover_the_desk_vocabulary() {
        let names: Vec<&str> = DESK_COMMANDS.iter().map(|c| c.name).collect();
        for name in [
            "claim", "note", "resolve", "queue", "find", "priority", "stats",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(desk_commands().len(), DESK_COMMANDS.len());
    }
}
