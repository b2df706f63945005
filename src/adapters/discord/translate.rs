//! Discord gateway event → customer [`Inbound`] or desk action: the only place that reads
//! Discord's message and interaction shapes.
//!
//! Decides nothing about tickets: it names the customer or agent, picks the text and the
//! files (by URL, never downloaded), tells DMs (customers) from the desk's server (agents)
//! and says what to ignore: bots, service messages, other servers, empty messages.

use serenity::all::{
    ChannelId, CommandDataOptionValue, CommandInteraction, ComponentInteraction, GuildId,
    Interaction, InteractionId, Message, MessageType, User,
};

use crate::domain::{Attachment, CustomerIdentity, Language, Platform};
use crate::service::{Agent, DeskButton, Inbound, InboundContent};

/// Where the agents' desk is: its channel and, once learnt at start, its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskPlace {
    pub channel: ChannelId,
    pub guild: Option<GuildId>,
}

/// An interaction to answer once the action is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub id: InteractionId,
    pub token: String,
    /// `Some(line)` for a slash command (answered with a short private line),
    /// `None` for a button (acknowledged without a message).
    pub command: Option<String>,
}

/// What to do with one gateway event.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// A customer's message, button press or slash command.
    Customer { inbound: Inbound, ack: Option<Ack> },
    /// An agent wrote (or ran a slash command) in the desk's server, in `channel`: the
    /// desk channel itself or a ticket's thread (resolved against the store).
    DeskText {
        key: String,
        agent: Agent,
        channel: ChannelId,
        text: String,
        ack: Option<Ack>,
    },
    /// An agent pressed a ticket card button (`None`: one this bot does not know).
    DeskPress {
        key: String,
        agent: Agent,
        button: Option<DeskButton>,
        ack: Ack,
    },
    /// Nothing to do; an interaction is still answered so the client stops waiting.
    Ignore {
        reason: &'static str,
        ack: Option<Ack>,
    },
}

impl Translation {
    fn ignore(reason: &'static str) -> Translation {
        Translation::Ignore { reason, ack: None }
    }
}

/// Dedup key of a message: Discord ids (snowflakes) are unique for good, and a replayed
/// MESSAGE_CREATE repeats its id exactly.
pub fn message_key(id: impl std::fmt::Display) -> String {
    format!("discord:message:{id}")
}

/// Dedup key of an interaction (button press, slash command).
pub fn interaction_key(id: impl std::fmt::Display) -> String {
    format!("discord:interaction:{id}")
}

fn display_name(user: &User) -> String {
    user.global_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.name.clone())
}

fn identity(user: &User, channel: ChannelId, locale: Option<&str>) -> CustomerIdentity {
    CustomerIdentity {
        platform: Platform::Discord,
        user_id: user.id.to_string(),
        chat_id: channel.to_string(),
        display_name: display_name(user),
        language: locale.filter(|l| !l.is_empty()).map(Language::from_locale),
    }
}

fn agent(user: &User) -> Agent {
    Agent {
        platform: Platform::Discord,
        user_id: user.id.to_string(),
        name: display_name(user),
    }
}

/// True when `guild` is not the desk's server (or there is no desk).
fn foreign(guild: GuildId, desk: Option<&DeskPlace>) -> bool {
    match desk {
        None => true,
        Some(DeskPlace {
            guild: Some(desk), ..
        }) => *desk != guild,
        // The server was not learnt at start: only the channel check (and the thread
        // lookup) decide.
        Some(_) => false,
    }
}

pub fn translate_message(message: &Message, desk: Option<&DeskPlace>) -> Translation {
    if message.author.bot {
        return Translation::ignore("message from a bot");
    }
    if !matches!(
        message.kind,
        MessageType::Regular | MessageType::InlineReply
    ) {
        return Translation::ignore("service message");
    }
    match message.guild_id {
        None => customer_message(message),
        Some(guild) if foreign(guild, desk) => Translation::ignore("message from another server"),
        Some(_) => desk_message(message, desk),
    }
}

fn customer_message(message: &Message) -> Translation {
    let attachments: Vec<Attachment> = message
        .attachments
        .iter()
        .map(|a| Attachment {
            kind: attachment_kind(a.content_type.as_deref()).into(),
            reference: a.url.clone(),
            name: Some(a.filename.clone()).filter(|n| !n.is_empty()),
        })
        .collect();
    let text = message.content.clone();
    let content = if text.trim().is_empty() && attachments.is_empty() {
        if !message.sticker_items.is_empty() {
            InboundContent::Unsupported {
                kind: "sticker".into(),
            }
        } else {
            // Without the message content intent every message looks like this.
            return Translation::ignore("message without text or files");
        }
    } else {
        InboundContent::Message { text, attachments }
    };
    Translation::Customer {
        inbound: Inbound {
            key: message_key(message.id),
            from: identity(&message.author, message.channel_id, None),
            content,
        },
        ack: None,
    }
}

/// `photo`, `video`, `audio` or `document` from the attachment's MIME type.
fn attachment_kind(content_type: Option<&str>) -> &'static str {
    match content_type.and_then(|t| t.split('/').next()) {
        Some("image") => "photo",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "document",
    }
}

fn desk_message(message: &Message, desk: Option<&DeskPlace>) -> Translation {
    let Some(desk) = desk else {
        return Translation::ignore("guild message without a desk");
    };
    let text = message.content.trim().to_string();
    if text.is_empty() {
        return Translation::ignore("desk message without text");
    }
    if message.channel_id == desk.channel && !text.starts_with('/') {
        return Translation::ignore("conversation in the desk channel");
    }
    Translation::DeskText {
        key: message_key(message.id),
        agent: agent(&message.author),
        channel: message.channel_id,
        text,
        ack: None,
    }
}

pub fn translate_interaction(interaction: &Interaction, desk: Option<&DeskPlace>) -> Translation {
    match interaction {
        Interaction::Component(press) => translate_press(press, desk),
        Interaction::Command(command) => translate_command(command, desk),
        _ => Translation::ignore("interaction kind not used"),
    }
}

fn translate_press(press: &ComponentInteraction, desk: Option<&DeskPlace>) -> Translation {
    let ack = Ack {
        id: press.id,
        token: press.token.clone(),
        command: None,
    };
    if press.user.bot {
        return Translation::Ignore {
            reason: "button press by a bot",
            ack: Some(ack),
        };
    }
    let data = press.data.custom_id.clone();
    match press.guild_id {
        None => Translation::Customer {
            inbound: Inbound {
                key: interaction_key(press.id),
                from: identity(&press.user, press.channel_id, Some(&press.locale)),
                content: InboundContent::Button { data },
            },
            ack: Some(ack),
        },
        Some(guild) if foreign(guild, desk) => Translation::Ignore {
            reason: "button press in another server",
            ack: Some(ack),
        },
        Some(_) => Translation::DeskPress {
            key: interaction_key(press.id),
            agent: agent(&press.user),
            button: DeskButton::decode(&data),
            ack,
        },
    }
}

/// The command as the text an agent or customer would type: `/name argument`.
pub fn command_text(command: &CommandInteraction) -> String {
    let mut text = format!("/{}", command.data.name);
    for option in &command.data.options {
        let value = match &option.value {
            CommandDataOptionValue::String(s) => s.clone(),
            CommandDataOptionValue::Integer(n) => n.to_string(),
            CommandDataOptionValue::User(u) => u.to_string(),
            _ => continue,
        };
        text.push(' ');
        text.push_str(value.trim());
    }
    text
}

fn translate_command(command: &CommandInteraction, desk: Option<&DeskPlace>) -> Translation {
    let text = command_text(command);
    let ack = Ack {
        id: command.id,
        token: command.token.clone(),
        command: Some(format!("✓ {}", command.data.name)),
    };
    if command.user.bot {
        return Translation::Ignore {
            reason: "command from a bot",
            ack: Some(ack),
        };
    }
    match command.guild_id {
        None => Translation::Customer {
            inbound: Inbound {
                key: interaction_key(command.id),
                from: identity(&command.user, command.channel_id, Some(&command.locale)),
                content: InboundContent::Message {
                    text,
                    attachments: Vec::new(),
                },
            },
            ack: Some(ack),
        },
        Some(guild) if foreign(guild, desk) => Translation::Ignore {
            reason: "command in another server",
            ack: Some(ack),
        },
        Some(_) => Translation::DeskText {
            key: interaction_key(command.id),
            agent: agent(&command.user),
            channel: command.channel_id,
            text,
            ack: Some(ack),
        },
    }
}

/// The snowflake an event is ordered by (ids grow with creation time).
pub fn interaction_id(interaction: &Interaction) -> u64 {
    match interaction {
        Interaction::Component(c) => c.id.get(),
        Interaction::Command(c) => c.id.get(),
        Interaction::Autocomplete(c) => c.id.get(),
        Interaction::Modal(m) => m.id.get(),
        Interaction::Ping(p) => p.id.get(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const DESK_CHANNEL: u64 = 700;
    const GUILD: u64 = 600;

    fn desk() -> DeskPlace {
        DeskPlace {
            channel: ChannelId::new(DESK_CHANNEL),
            guild: Some(GuildId::new(GUILD)),
        }
    }

    fn user(id: u64, bot: bool) -> Value {
        json!({"id": id.to_string(), "username": "ana", "discriminator": "0",
               "global_name": "Ana Li", "avatar": null, "bot": bot})
    }

    fn message(extra: Value) -> Message {
        let mut m = json!({
            "id": "9001", "channel_id": "42", "author": user(5, false), "content": "hello",
            "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": false, "type": 0, "flags": 0
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn a_dm_is_a_customer_message_with_files_by_url() {
        let m = message(json!({"content": "broken", "attachments": [{
            "id": "1", "filename": "shot.png", "size": 10, "url": "https://cdn.example/shot.png",
            "proxy_url": "https://media.example/shot.png", "content_type": "image/png"
        }]}));
        let Translation::Customer { inbound, ack } = translate_message(&m, Some(&desk())) else {
            panic!("customer message expected")
        };
        assert!(ack.is_none());
        assert_eq!(inbound.key, "discord:message:9001");
        assert_eq!(inbound.from.chat_id, "42");
        assert_eq!(inbound.from.user_id, "5");
        assert_eq!(inbound.from.display_name, "Ana Li");
        let InboundContent::Message { text, attachments } = inbound.content else {
            panic!()
        };
        assert_eq!(text, "broken");
        assert_eq!(attachments[0].kind, "photo");
        assert_eq!(attachments[0].reference, "https://cdn.example/shot.png");
    }

    #[test]
    fn bots_other_servers_empty_and_desk_chatter_are_ignored() {
        let cases = [
            message(json!({"author": user(6, true)})),
            message(json!({"guild_id": "999", "channel_id": DESK_CHANNEL.to_string()})),
            message(json!({"content": ""})),
            message(
                json!({"guild_id": GUILD.to_string(), "channel_id": DESK_CHANNEL.to_string(), "content": "morning all"}),
            ),
            message(json!({"type": 18})),
        ];
        for m in cases {
            assert!(
                matches!(
                    translate_message(&m, Some(&desk())),
                    Translation::Ignore { .. }
                ),
                "{m:?}"
            );
        }
    }

    #[test]
    fn desk_messages_name_their_channel_and_agent() {
        let m = message(
            json!({"guild_id": GUILD.to_string(), "channel_id": "801", "content": " Try again "}),
        );
        let Translation::DeskText {
            key,
            agent,
            channel,
            text,
            ..
        } = translate_message(&m, Some(&desk()))
        else {
            panic!("desk text expected")
        };
        assert_eq!(key, "discord:message:9001");
        assert_eq!(agent.name, "Ana Li");
        assert_eq!(channel, ChannelId::new(801));
        assert_eq!(text, "Try again");
    }

    fn interaction(kind: u8, guild: Option<u64>, data: Value) -> Interaction {
        let mut i = json!({
            "id": "7001", "application_id": "1", "type": kind, "data": data,
            "channel_id": "42", "token": "tok", "version": 1, "locale": "zh-CN",
            "user": user(5, false), "entitlements": [], "authorizing_integration_owners": {},
            "attachment_size_limit": 0
        });
        if kind == 3 {
            i["message"] = serde_json::to_value(message(json!({}))).unwrap();
        }
        if let Some(g) = guild {
            i["guild_id"] = json!(g.to_string());
            i["member"] = json!({"user": user(5, false), "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                                 "deaf": false, "mute": false, "flags": 0});
            i.as_object_mut().unwrap().remove("user");
        }
        serde_json::from_value(i).unwrap()
    }

    #[test]
    fn a_dm_button_press_carries_its_data_locale_and_ack() {
        let i = interaction(
            3,
            None,
            json!({"custom_id": "helped:orders.track", "component_type": 2}),
        );
        let Translation::Customer { inbound, ack } = translate_interaction(&i, None) else {
            panic!("customer press expected")
        };
        assert_eq!(inbound.key, "discord:interaction:7001");
        assert_eq!(inbound.from.language, Some(Language::Zh));
        assert_eq!(
            inbound.content,
            InboundContent::Button {
                data: "helped:orders.track".into()
            }
        );
        let ack = ack.unwrap();
        assert_eq!(ack.token, "tok");
        assert_eq!(ack.command, None);
    }

    #[test]
    fn slash_commands_read_as_typed_commands() {
        let i = interaction(
            2,
            Some(GUILD),
            json!({"id": "3", "name": "resolve", "type": 1,
                   "options": [{"name": "solution", "type": 3, "value": "Restart the router"}]}),
        );
        let Translation::DeskText { text, ack, .. } = translate_interaction(&i, Some(&desk()))
        else {
            panic!("desk command expected")
        };
        assert_eq!(text, "/resolve Restart the router");
        assert!(ack.unwrap().command.is_some());
        let dm = interaction(2, None, json!({"id": "4", "name": "status", "type": 1}));
        let Translation::Customer { inbound, .. } = translate_interaction(&dm, None) else {
            panic!("customer command expected")
        };
        assert_eq!(
            inbound.content,
            InboundContent::Message {
                text: "/status".into(),
                attachments: vec![]
            }
        );
        let foreign = interaction(
            2,
            Some(1234),
            json!({"id": "5", "name": "claim", "type": 1}),
        );
        assert!(matches!(
            translate_interaction(&foreign, Some(&desk())),
            Translation::Ignore { ack: Some(_), .. }
        ));
    }
}
