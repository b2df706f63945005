//! `frontdesk doctor`: checks a deployment before (or while) it runs — database, settings,
//! knowledge base, platform reachability and the desk's permissions — and says what is
//! wrong, one line per problem.
//!
//! Edge code: reads settings, opens the store (applying migrations, as `run` would) and
//! asks the platforms read-only questions (Telegram `getMe`, `getChat`,
//! `getChatMember`; Discord `GET /users/@me`, the desk channel, the bot's member entry and
//! the server's roles). Changes nothing on a platform and decides nothing about tickets.

use crate::adapters::discord::{DiscordChannel, DiscordConfig};
use crate::adapters::telegram::{TelegramChannel, TelegramConfig};
use crate::config::{redact_url, Settings};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Works; the text says what was found.
    Ok(String),
    /// Does not work, or will not work as configured; one sentence.
    Problem(String),
}

impl Check {
    pub fn is_problem(&self) -> bool {
        matches!(self, Check::Problem(_))
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line each, whatever the underlying error printed.
        let (tag, text) = match self {
            Check::Ok(t) => ("ok     ", t),
            Check::Problem(t) => ("PROBLEM", t),
        };
        write!(f, "{tag} {}", text.replace(['\n', '\r'], " "))
    }
}

/// Runs every check that applies to these settings.
pub async fn check(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    database(settings, &mut checks).await;
    knowledge(settings, &mut checks);
    match crate::app::load_triage(settings) {
        Ok(_) => checks.push(Check::Ok("triage rules load".into())),
        Err(e) => checks.push(Check::Problem(format!("triage rules: {e:#}"))),
    }
    telegram(settings, &mut checks).await;
    discord(settings, &mut checks).await;
    for channel in settings.channels() {
        if !channel.enabled || channel.hint.is_empty() || channel.name == "console" {
            continue;
        }
        // An enabled channel with something still missing (e.g. no desk).
        checks.push(Check::Problem(format!(
            "{}: {}",
            channel.name, channel.hint
        )));
    }
    checks
}

async fn database(settings: &Settings, checks: &mut Vec<Check>) {
    let url = redact_url(&settings.database_url);
    let store = match crate::app::open_store(&settings.database_url).await {
        Ok(store) => store,
        Err(e) => {
            checks.push(Check::Problem(format!("database: {e:#}")));
            return;
        }
    };
    let version = store.schema_version().await;
    let outbox = store.outbox_stats().await;
    match (version, outbox) {
        (Ok(version), Ok(outbox)) => {
            checks.push(Check::Ok(format!(
                "database {url}: reachable, schema version {}, outbox {} pending",
                version.unwrap_or(0),
                outbox.pending
            )));
            if outbox.dead > 0 {
                checks.push(Check::Problem(format!(
                    "database {url}: {} outbox message(s) dead-lettered (never delivered; see `frontdesk tickets show`)",
                    outbox.dead
                )));
            }
        }
        (Err(e), _) | (_, Err(e)) => checks.push(Check::Problem(format!("database {url}: {e}"))),
    }
}

fn knowledge(settings: &Settings, checks: &mut Vec<Check>) {
    let dir = &settings.faq_dir;
    match crate::faq::kb::load_dir(dir) {
        Ok(kb) => checks.push(Check::Ok(format!(
            "knowledge base {}: {} entries",
            dir.display(),
            kb.entries.len()
        ))),
        Err(problems) => {
            for p in problems.iter().filter(|p| p.is_error()) {
                checks.push(Check::Problem(format!("knowledge base: {p}")));
            }
        }
    }
}

async fn telegram(settings: &Settings, checks: &mut Vec<Check>) {
    let Some(token) = &settings.secrets.telegram_bot_token else {
        return;
    };
    let config = match TelegramConfig::from_settings(
        &settings.telegram,
        settings.secrets.telegram_webhook_secret.as_ref(),
    ) {
        Ok((config, warnings)) => {
            for w in warnings {
                checks.push(Check::Problem(format!("telegram: {w}")));
            }
            config
        }
        Err(e) => {
            checks.push(Check::Problem(format!("telegram: {e}")));
            return;
        }
    };
    let api = config.api_url.clone();
    let channel = TelegramChannel::new(token, config);
    let desk = settings.telegram.desk_chat_id.map(|id| id.to_string());
    let problems = channel.doctor(desk.as_deref()).await;
    if problems.is_empty() {
        checks.push(Check::Ok(format!(
            "telegram: Bot API {api} accepts the token{}",
            if desk.is_some() {
                "; the desk chat is a forum where the bot manages topics"
            } else {
                ""
            }
        )));
    }
    checks.extend(problems.into_iter().map(Check::Problem));
}

async fn discord(settings: &Settings, checks: &mut Vec<Check>) {
    let Some(token) = &settings.secrets.discord_bot_token else {
        return;
    };
    let config = match DiscordConfig::from_settings(&settings.discord) {
        Ok(config) => config,
        Err(e) => {
            checks.push(Check::Problem(format!("discord: {e}")));
            return;
        }
    };
    let api = config.api_url.clone();
    let desk = settings.discord.desk_channel_id.map(|id| id.to_string());
    let problems = DiscordChannel::new(token, config)
        .doctor(desk.as_deref())
        .await;
    if problems.is_empty() {
        checks.push(Check::Ok(format!(
            "discord: REST API {api} accepts the token{}",
            if desk.is_some() {
                "; the desk channel is a text channel where the bot may post and manage threads"
            } else {
                ""
            }
        )));
    }
    checks.extend(problems.into_iter().map(Check::Problem));
}
