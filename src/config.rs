//! Settings (SPEC §8): defaults < `frontdesk.toml` < environment.
//!
//! Owns parsing and validating configuration. Secrets (bot tokens, webhook secret) are
//! read from the environment only and wrapped in [`SecretString`], whose `Debug` prints
//! `[REDACTED]`; they never appear in logs or in `--json` output.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::sla::SlaPolicy;

/// Environment variables that map onto settings (and the key each one sets).
const ENV_KEYS: &[(&str, &str)] = &[
    ("FRONTDESK_DATABASE_URL", "database_url"),
    ("FRONTDESK_FAQ_DIR", "faq_dir"),
    ("FRONTDESK_HTTP_ADDR", "http_addr"),
    ("FRONTDESK_TRIAGE_RULES", "triage_rules"),
    ("FRONTDESK_LOG", "log"),
    ("TELEGRAM_API_URL", "telegram.api_url"),
    ("TELEGRAM_DESK_CHAT_ID", "telegram.desk_chat_id"),
    ("TELEGRAM_WEBHOOK_URL", "telegram.webhook_url"),
    ("DISCORD_API_URL", "discord.api_url"),
    ("DISCORD_DESK_CHANNEL_ID", "discord.desk_channel_id"),
    (
        "TELEGRAM_SUPERVISORS_CHAT_ID",
        "supervisors.telegram_chat_id",
    ),
    (
        "DISCORD_SUPERVISORS_CHANNEL_ID",
        "supervisors.discord_channel_id",
    ),
    ("FRONTDESK_DESK_PLATFORM", "desk_platform"),
];

/// Secrets: environment only.
const SECRET_ENV: &[&str] = &[
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "DISCORD_BOT_TOKEN",
    "FRONTDESK_ADMIN_TOKEN",
];

/// A configuration problem, phrased for the person starting the service.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// All settings of one frontdesk process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://path` or `postgres://…`.
    pub database_url: String,
    pub faq_dir: PathBuf,
    pub http_addr: SocketAddr,
    /// Optional triage rules file replacing the shipped rules.
    #[serde(default)]
    pub triage_rules: Option<PathBuf>,
    /// tracing filter, e.g. `info` or `frontdesk=debug`.
    pub log: String,
    /// Customers with priority support: `platform:user_id` (e.g. `telegram:12345`).
    #[serde(default)]
    pub vip: BTreeSet<String>,
    #[serde(default)]
    pub sla: SlaPolicy,
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// Threshold alerts to the supervisors (SPEC §6).
    #[serde(default)]
    pub alerts: crate::metrics::AlertSettings,
    /// How long processed records are kept (dedup keys, delivered messages, web chats).
    #[serde(default)]
    pub retention: crate::housekeeping::RetentionSettings,
    #[serde(default)]
    pub telegram: TelegramSettings,
    #[serde(default)]
    pub discord: DiscordSettings,
    #[serde(default)]
    pub supervisors: SupervisorSettings,
    /// The desk's agents; empty: anyone posting in the desk is an agent (SPEC §3).
    #[serde(default)]
    pub agents: Vec<AgentSettings>,
    #[serde(default)]
    pub assignment: AssignmentSettings,
    /// With desks on both platforms: the one that works every ticket (`telegram` or
    /// `discord`). Unset: each ticket lives in the desk of the customer's own platform.
    #[serde(default)]
    pub desk_platform: Option<crate::domain::Platform>,
    /// Secrets, filled from the environment only.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Delivery tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Failed attempts after which an item is dead-lettered.
    pub max_attempts: u32,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings { max_attempts: 8 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    pub api_url: String,
    pub desk_chat_id: Option<i64>,
    pub webhook_url: Option<String>,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            api_url: "https://api.telegram.org".into(),
            desk_chat_id: None,
            webhook_url: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordSettings {
    pub api_url: String,
    pub desk_channel_id: Option<u64>,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        DiscordSettings {
            api_url: "https://discord.com".into(),
            desk_channel_id: None,
        }
    }
}

/// Who hears about complaints, P1 tickets, SLA breaches and metric alerts (SPEC §2, §4, §6).
/// With no chat set, notices go to the agents' desk chat (the forum's General topic).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// Telegram chat for supervisor notices (`TELEGRAM_SUPERVISORS_CHAT_ID`).
    pub telegram_chat_id: Option<i64>,
    /// Discord channel for supervisor notices (`DISCORD_SUPERVISORS_CHANNEL_ID`).
    pub discord_channel_id: Option<u64>,
    /// Supervisors by agent name (the "role"): named in every notice.
    pub names: Vec<String>,
}

/// One agent of the desk (`[[agents]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Name shown to colleagues and used by `/assign`.
    pub name: String,
    /// How the desk recognises the agent: `platform:user_id` (`telegram:12345`).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Departments and/or categories the agent handles; empty: any.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Most open tickets auto-assignment gives the agent.
    #[serde(default)]
    pub capacity: Option<u32>,
}

/// How tickets reach agents (`[assignment]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssignmentSettings {
    /// Give new and transferred tickets to the least-loaded agent with the skill (needs
    /// `[[agents]]`). Off: tickets wait in `/queue`, announced and reminded until claimed.
    pub auto: bool,
}

/// Tokens and secrets. `Debug` is redacted by `SecretString`.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub telegram_bot_token: Option<SecretString>,
    pub telegram_webhook_secret: Option<SecretString>,
    pub discord_bot_token: Option<SecretString>,
    /// Grants access to the web console; without it the console is off.
    pub admin_token: Option<SecretString>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://frontdesk.db".into(),
            faq_dir: PathBuf::from("faq"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            triage_rules: None,
            log: "info".into(),
            vip: BTreeSet::new(),
            sla: SlaPolicy::default(),
            outbox: OutboxSettings::default(),
            alerts: crate::metrics::AlertSettings::default(),
            retention: crate::housekeeping::RetentionSettings::default(),
            telegram: TelegramSettings::default(),
            discord: DiscordSettings::default(),
            supervisors: SupervisorSettings::default(),
            agents: Vec::new(),
            assignment: AssignmentSettings::default(),
            desk_platform: None,
            secrets: Secrets::default(),
        }
    }
}

/// A channel and whether this configuration turns it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelStatus {
    pub name: &'static str,
    pub enabled: bool,
    /// What to set to enable it (or what is still missing).
    pub hint: String,
}

impl Settings {
    /// Loads defaults < `config_file` (if given, or `frontdesk.toml` if present) < environment.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(config_file, &env)
    }

    /// Like [`Settings::load`] with an explicit environment (tests).
    pub fn load_from(
        config_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = match config_file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::File {
                    path: path.to_path_buf(),
                    message: "file not found".into(),
                })
            }
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from("frontdesk.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            reject_secrets_in_file(path, &text)?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(env_provider(env));
        let mut settings: Settings = figment.extract().map_err(|e| match &file {
            Some(path) => ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            },
            None => ConfigError::Invalid(e.to_string()),
        })?;
        settings.secrets = secrets_from(env);
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "FRONTDESK_DATABASE_URL must start with sqlite:// or postgres:// (got `{}`)",
                redact_url(db)
            )));
        }
        for vip in &self.vip {
            let ok = vip.split_once(':').is_some_and(|(p, id)| {
                p.parse::<crate::domain::Platform>().is_ok() && !id.is_empty()
            });
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "vip entry `{vip}` must look like `telegram:12345`"
                )));
            }
        }
        let mut names = BTreeSet::new();
        for agent in &self.agents {
            let name = agent.name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('@') {
                return Err(ConfigError::Invalid(format!(
                    "agent name `{}` must be one word without a leading @ (it is what /assign takes)",
                    agent.name
                )));
            }
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(ConfigError::Invalid(format!(
                    "agent `{name}` is listed twice"
                )));
            }
            for id in &agent.ids {
                let ok = id.split_once(':').is_some_and(|(p, u)| {
                    p.parse::<crate::domain::Platform>().is_ok() && !u.is_empty()
                });
                if !ok {
                    return Err(ConfigError::Invalid(format!(
                        "agent `{name}`: id `{id}` must look like `telegram:12345`"
                    )));
                }
            }
            if agent.capacity == Some(0) {
                return Err(ConfigError::Invalid(format!(
                    "agent `{name}`: capacity must be at least 1 (leave it out for no limit)"
                )));
            }
        }
        if self.assignment.auto && self.agents.is_empty() {
            return Err(ConfigError::Invalid(
                "assignment.auto needs the agents listed in [[agents]]".into(),
            ));
        }
        self.sla
            .check()
            .map_err(|e| ConfigError::Invalid(format!("sla.{e}")))?;
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "outbox.max_attempts must be at least 1".into(),
            ));
        }
        self.alerts.validate().map_err(ConfigError::Invalid)?;
        self.retention.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The desk's agents and the assignment mode.
    pub fn staff(&self) -> crate::desk::Staff {
        crate::desk::Staff {
            agents: self
                .agents
                .iter()
                .map(|a| crate::desk::AgentProfile {
                    name: a.name.trim().to_string(),
                    ids: a.ids.clone(),
                    skills: a.skills.clone(),
                    capacity: a.capacity,
                })
                .collect(),
            auto_assign: self.assignment.auto,
        }
    }

    /// The supervisors' chats on the platforms this configuration enables, and their names.
    pub fn supervisors(&self) -> crate::supervisors::Supervisors {
        use crate::domain::{ChatAddress, Platform};
        let mut chats = Vec::new();
        if let (Some(_), Some(id)) = (
            &self.secrets.telegram_bot_token,
            self.supervisors.telegram_chat_id,
        ) {
            chats.push(ChatAddress::new(Platform::Telegram, id.to_string()));
        }
        if let (Some(_), Some(id)) = (
            &self.secrets.discord_bot_token,
            self.supervisors.discord_channel_id,
        ) {
            chats.push(ChatAddress::new(Platform::Discord, id.to_string()));
        }
        crate::supervisors::Supervisors::new(chats, self.supervisors.names.clone())
    }

    /// Whether a customer (by platform and user id) is on the VIP list.
    pub fn is_vip(&self, platform: crate::domain::Platform, user_id: &str) -> bool {
        self.vip.contains(&format!("{platform}:{user_id}"))
    }

    /// Which channels this configuration enables, and what would enable the others.
    pub fn channels(&self) -> Vec<ChannelStatus> {
        let telegram = match (&self.secrets.telegram_bot_token, self.telegram.desk_chat_id) {
            (None, _) => ChannelStatus {
                name: "telegram",
                enabled: false,
                hint: "set TELEGRAM_BOT_TOKEN (and TELEGRAM_DESK_CHAT_ID for the agents' forum group) to enable".into(),
            },
            (Some(_), None) => ChannelStatus {
                name: "telegram",
                enabled: true,
                hint: "TELEGRAM_DESK_CHAT_ID is not set: tickets are created but no agents' desk receives them".into(),
            },
            (Some(_), Some(_)) => ChannelStatus { name: "telegram", enabled: true, hint: String::new() },
        };
        let discord = match (&self.secrets.discord_bot_token, self.discord.desk_channel_id) {
            (None, _) => ChannelStatus {
                name: "discord",
                enabled: false,
                hint: "set DISCORD_BOT_TOKEN (and DISCORD_DESK_CHANNEL_ID for the agents' channel) to enable".into(),
            },
            (Some(_), None) => ChannelStatus {
                name: "discord",
                enabled: true,
                hint: "DISCORD_DESK_CHANNEL_ID is not set: tickets are created but no agents' desk receives them".into(),
            },
            (Some(_), Some(_)) => ChannelStatus { name: "discord", enabled: true, hint: String::new() },
        };
        let console = ChannelStatus {
            name: "console",
            enabled: true,
            hint: "talk to the bot from a terminal with `frontdesk chat`".into(),
        };
        vec![console, telegram, discord]
    }
}

fn env_provider(env: &[(String, String)]) -> Serialized<figment::value::Dict> {
    let mut dict = figment::value::Dict::new();
    for (var, key) in ENV_KEYS {
        let Some((_, value)) = env.iter().find(|(k, _)| k == var) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        // Parse like TOML scalars so numbers stay numbers; anything else is a string.
        let parsed: figment::value::Value = value.parse().unwrap_or_else(|_| value.clone().into());
        let value = match *key {
            // Always strings even when they look like numbers.
            "database_url"
            | "faq_dir"
            | "http_addr"
            | "triage_rules"
            | "log"
            | "telegram.api_url"
            | "telegram.webhook_url"
            | "discord.api_url" => figment::value::Value::from(value.clone()),
            "desk_platform" => figment::value::Value::from(value.trim().to_ascii_lowercase()),
            _ => parsed,
        };
        insert_path(&mut dict, key, value);
    }
    Serialized::defaults(dict)
}

fn insert_path(dict: &mut figment::value::Dict, path: &str, value: figment::value::Value) {
    match path.split_once('.') {
        None => {
            dict.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn secrets_from(env: &[(String, String)]) -> Secrets {
    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    };
    Secrets {
        telegram_bot_token: get(SECRET_ENV[0]),
        telegram_webhook_secret: get(SECRET_ENV[1]),
        discord_bot_token: get(SECRET_ENV[2]),
        admin_token: get(SECRET_ENV[3]),
    }
}

/// Secrets in a file end up in backups and repositories: refuse them with a pointer to the
/// environment variable instead.
fn reject_secrets_in_file(path: &Path, text: &str) -> Result<(), ConfigError> {
    for line in text.lines() {
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if matches!(
            key.as_str(),
            "bot_token"
                | "token"
                | "webhook_secret"
                | "telegram_bot_token"
                | "discord_bot_token"
                | "admin_token"
        ) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: format!(
                    "`{key}` must not be in a file: set it in the environment ({})",
                    SECRET_ENV.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_spec() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.database_url, "sqlite://frontdesk.db");
        assert_eq!(s.faq_dir, PathBuf::from("faq"));
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.telegram.api_url, "https://api.telegram.org");
        assert_eq!(s.discord.api_url, "https://discord.com");
        assert!(s.secrets.telegram_bot_token.is_none());
    }

    #[test]
    fn environment_wins_over_file_which_wins_over_defaults() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "faq_dir = \"kb\"\nhttp_addr = \"127.0.0.1:9000\"\n[telegram]\ndesk_chat_id = -1001"
        )
        .unwrap();
        let s = Settings::load_from(
            Some(file.path()),
            &env(&[
                ("FRONTDESK_HTTP_ADDR", "0.0.0.0:7000"),
                ("TELEGRAM_DESK_CHAT_ID", "-1002"),
            ]),
        )
        .unwrap();
        assert_eq!(s.faq_dir, PathBuf::from("kb"), "file beats default");
        assert_eq!(s.http_addr.to_string(), "0.0.0.0:7000", "env beats file");
        assert_eq!(s.telegram.desk_chat_id, Some(-1002));
    }

    #[test]
    fn tokens_come_from_env_and_never_print() {
        let s =
            Settings::load_from(None, &env(&[("TELEGRAM_BOT_TOKEN", "123:very-secret")])).unwrap();
        let token = s.secrets.telegram_bot_token.as_ref().unwrap();
        assert_eq!(token.expose_secret(), "123:very-secret");
        let printed = format!("{s:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(s
            .channels()
            .iter()
            .any(|c| c.name == "telegram" && c.enabled));
    }

    #[test]
    fn tokens_in_the_file_are_refused() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[telegram]\nbot_token = \"123:abc\"").unwrap();
        let err = Settings::load_from(Some(file.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TELEGRAM_BOT_TOKEN"), "{err}");
        assert!(!err.contains("123:abc"), "{err}");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let err = Settings::load_from(None, &env(&[("FRONTDESK_HTTP_ADDR", "not an address")]))
            .unwrap_err();
        assert!(err.to_string().contains("http_addr"), "{err}");
        let err = Settings::load_from(
            None,
            &env(&[("FRONTDESK_DATABASE_URL", "mysql://u:pw@h/db")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("sqlite://"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "no_such_setting = 1").unwrap();
        let err = Settings::load_from(Some(file.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_setting"), "{err}");
    }

    #[test]
    fn sla_table_is_configurable() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[sla.p1]\nfirst_response = \"5m\"\nresolution = \"1h\"\nprogress = \"30m\"\n\
             [sla.p2]\nfirst_response = 1800\nresolution = \"24h\"\nprogress = \"4h\"\n\
             [sla.p3]\nfirst_response = \"2h\"\nresolution = \"48h\"\nprogress = \"4h\""
        )
        .unwrap();
        let s = Settings::load_from(Some(file.path()), &[]).unwrap();
        assert_eq!(s.sla.p1.first_response.as_secs(), 300);
        assert_eq!(s.sla.p2.first_response.as_secs(), 1800);
    }

    #[test]
    fn supervisors_chats_follow_the_enabled_platforms() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[supervisors]\ntelegram_chat_id = -1009\nnames = [\"maria\"]"
        )
        .unwrap();
        let s = Settings::load_from(Some(file.path()), &[]).unwrap();
        let sup = s.supervisors();
        assert!(sup.chats.is_empty(), "no Telegram token: nowhere to send");
        assert_eq!(sup.names, vec!["maria".to_string()]);
        let s = Settings::load_from(
            Some(file.path()),
            &env(&[
                ("TELEGRAM_BOT_TOKEN", "1:x"),
                ("TELEGRAM_SUPERVISORS_CHAT_ID", "-1007"),
            ]),
        )
        .unwrap();
        let sup = s.supervisors();
        assert_eq!(sup.chats.len(), 1);
        assert_eq!(sup.chats[0].chat_id, "-1007", "env wins");
    }

    #[test]
    fn agents_and_assignment_are_read_and_checked() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[assignment]\nauto = true\n\n[[agents]]\nname = \"sam\"\nids = [\"telegram:42\", \"console:sam\"]\n\
             skills = [\"tech\"]\ncapacity = 3\n\n[[agents]]\nname = \"li\"\nids = [\"discord:7\"]"
        )
        .unwrap();
        let s = Settings::load_from(Some(file.path()), &[]).unwrap();
        let staff = s.staff();
        assert!(staff.auto_assign);
        assert_eq!(staff.names(), vec!["sam", "li"]);
        assert_eq!(staff.agents[0].capacity, Some(3));
        assert!(staff.agents[0].has_id(crate::domain::Platform::Telegram, "42"));
        for bad in [
            "[[agents]]\nname = \"a b\"",
            "[[agents]]\nname = \"a\"\nids = [\"42\"]",
            "[[agents]]\nname = \"a\"\n[[agents]]\nname = \"A\"",
            "[[agents]]\nname = \"a\"\ncapacity = 0",
            "[assignment]\nauto = true",
        ] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            writeln!(file, "{bad}").unwrap();
            assert!(
                Settings::load_from(Some(file.path()), &[]).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn business_hours_and_the_survey_are_configurable() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[sla]\nunassigned_reminder = \"15m\"\nnudge_after = \"12h\"\nauto_close_after = \"5d\"\n[sla.business_hours]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
             start = \"09:00\"\nend = \"18:00\"\nutc_offset = \"+08:00\"\n[sla.csat]\nwindow_p1 = \"12h\"\nbusiness_days = 3"
        )
        .unwrap();
        let s = Settings::load_from(Some(file.path()), &[]).unwrap();
        assert_eq!(s.sla.unassigned_reminder.as_secs(), 900);
        assert_eq!(s.sla.nudge_after.as_secs(), 12 * 3600);
        assert_eq!(s.sla.auto_close_after.as_secs(), 5 * 86400);
        assert_eq!(s.sla.p1, crate::sla::SlaPolicy::default().p1, "table kept");
        let hours = s.sla.business_hours.unwrap();
        assert_eq!((hours.start, hours.end, hours.utc_offset), (540, 1080, 480));
        assert_eq!(s.sla.csat.window_p1.as_secs(), 12 * 3600);
        assert_eq!(s.sla.csat.business_days, 3);
        assert!(s.sla.csat.enabled);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[sla.business_hours]\ndays = []\nstart = \"09:00\"\nend = \"18:00\""
        )
        .unwrap();
        let err = Settings::load_from(Some(file.path()), &[]).unwrap_err();
        assert!(err.to_string().contains("at least one day"), "{err}");
    }

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            redact_url("postgres://me:secret@db/x"),
            "postgres://me:***@db/x"
        );
        assert_eq!(redact_url("sqlite://frontdesk.db"), "sqlite://frontdesk.db");
    }
}
