//! The agents' desk on Telegram: a forum supergroup (`TELEGRAM_DESK_CHAT_ID`) with one
//! topic per ticket. Reads the desk's updates — agents' messages in ticket topics and in
//! the General topic, presses of ticket card buttons — and turns them into
//! [`DeskInbound`]s; resolving topic → ticket through the store.
//!
//! Only the configured chat counts (its id comes from the settings, never from a message);
//! bots, service messages and other groups are ignored. Decides nothing about tickets:
//! every desk action goes to [`crate::service::Service::handle_desk`].

use teloxide::types::{
    CallbackQuery, CallbackQueryId, Message, MessageKind, Update, UpdateKind, User,
};

use super::translate::{callback_key, message_key};
use crate::domain::{ChatAddress, Platform, TicketNo};
use crate::service::{Agent, DeskButton, DeskInbound, DeskRoute};
use crate::store::{Store, StoreError};

/// A desk update, translated up to the topic → ticket lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskUpdate {
    /// An agent wrote in the desk: in a topic (`thread`) or in the General topic.
    Message {
        key: String,
        agent: Agent,
        thread: Option<i32>,
        text: String,
    },
    /// An agent pressed a ticket card button (`None`: a button this bot does not know).
    Button {
        key: String,
        agent: Agent,
        button: Option<DeskButton>,
        callback: CallbackQueryId,
    },
    /// From the desk but nothing to do (bots, service messages, chatter in General).
    /// A button press still has its callback answered.
    Ignore {
        reason: &'static str,
        callback: Option<CallbackQueryId>,
    },
}

/// The chat an update comes from, for telling desk updates from customer ones.
pub fn chat_of(update: &Update) -> Option<i64> {
    match &update.kind {
        UpdateKind::Message(m) | UpdateKind::EditedMessage(m) => Some(m.chat.id.0),
        UpdateKind::CallbackQuery(q) => q.message.as_ref().map(|m| m.chat().id.0),
        _ => None,
    }
}

fn agent(user: &User) -> Agent {
    Agent {
        platform: Platform::Telegram,
        user_id: user.id.0.to_string(),
        name: user.full_name(),
    }
}

/// Translates an update from the desk chat (the caller checked [`chat_of`]).
pub fn translate_desk(update: &Update) -> DeskUpdate {
    let ignore = |reason| DeskUpdate::Ignore {
        reason,
        callback: None,
    };
    match &update.kind {
        UpdateKind::Message(message) => translate_message(message),
        UpdateKind::CallbackQuery(query) => translate_callback(query),
        UpdateKind::EditedMessage(_) => ignore("edited desk message"),
        _ => ignore("desk update kind not used"),
    }
}

fn translate_message(message: &Message) -> DeskUpdate {
    let ignore = |reason| DeskUpdate::Ignore {
        reason,
        callback: None,
    };
    let Some(user) = message.from.as_ref() else {
        return ignore("desk message without sender");
    };
    if user.is_bot {
        return ignore("desk message from a bot");
    }
    // Topic creation, renames, joins …: not something an agent said.
    if !matches!(message.kind, MessageKind::Common(_)) {
        return ignore("desk service message");
    }
    let text = message
        .text()
        .or_else(|| message.caption())
        .unwrap_or_default()
        .trim()
        .to_string();
    if text.is_empty() {
        return ignore("desk message without text");
    }
    // In a forum, a topic message names its topic; `reply_to_message` then points at the
    // topic's creation message and is not a reply to anything the customer said.
    let thread = if message.is_topic_message {
        message.thread_id.map(|t| t.0 .0)
    } else {
        None
    };
    if thread.is_none() && !text.starts_with('/') {
        return ignore("conversation in the desk's General topic");
    }
    DeskUpdate::Message {
        key: message_key(message.chat.id.0, message.id.0),
        agent: agent(user),
        thread,
        text,
    }
}

fn translate_callback(query: &CallbackQuery) -> DeskUpdate {
    if query.from.is_bot {
        return DeskUpdate::Ignore {
            reason: "desk button press by a bot",
            callback: Some(query.id.clone()),
        };
    }
    DeskUpdate::Button {
        key: callback_key(&query.id.0),
        agent: agent(&query.from),
        button: query.data.as_deref().and_then(DeskButton::decode),
        callback: query.id.clone(),
    }
}

/// A desk message with its ticket looked up: the [`DeskInbound`] for the service. A topic
/// no ticket owns (made by hand, or the ticket's record lost) gets the desk's usage hints
/// there, like the General topic.
pub async fn desk_inbound(
    store: &dyn Store,
    route: &DeskRoute,
    key: String,
    agent: Agent,
    thread: Option<i32>,
    text: String,
) -> Result<DeskInbound, StoreError> {
    let (ticket, reply_to) = match thread {
        None => (None, route.chat()),
        Some(thread) => {
            let thread = thread.to_string();
            match store
                .thread_ticket(route.platform, &route.chat_id, &thread)
                .await?
            {
                Some(no) => (Some(no), route.thread(no)),
                None => (
                    None,
                    ChatAddress {
                        thread_id: Some(thread),
                        ..route.chat()
                    },
                ),
            }
        }
    };
    Ok(DeskInbound {
        key,
        agent,
        ticket,
        reply_to,
        text,
    })
}

/// A card button press as a desk command in the ticket's topic.
pub fn button_inbound(
    route: &DeskRoute,
    key: String,
    agent: Agent,
    button: DeskButton,
) -> DeskInbound {
    let no: TicketNo = button.ticket();
    DeskInbound {
        key,
        agent,
        ticket: Some(no),
        reply_to: route.thread(no),
        text: button.command(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DESK: i64 = -100_777;

    fn update(kind: &str, payload: serde_json::Value) -> Update {
        serde_json::from_str(&json!({"update_id": 1, kind: payload}).to_string()).unwrap()
    }

    fn message(from: serde_json::Value, extra: serde_json::Value) -> Update {
        let mut m = json!({
            "message_id": 9, "date": 1_700_000_000,
            "chat": {"id": DESK, "type": "supergroup", "title": "Desk", "is_forum": true},
            "from": from,
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        update("message", m)
    }

    fn agent_user() -> serde_json::Value {
        json!({"id": 42, "is_bot": false, "first_name": "Mia", "last_name": "Wu"})
    }

    #[test]
    fn topic_messages_name_their_topic_and_the_agent() {
        let u = message(
            agent_user(),
            json!({"text": " Try again ", "message_thread_id": 501, "is_topic_message": true}),
        );
        assert_eq!(chat_of(&u), Some(DESK));
        let DeskUpdate::Message {
            key,
            agent,
            thread,
            text,
        } = translate_desk(&u)
        else {
            panic!("a desk message expected")
        };
        assert_eq!(key, message_key(DESK, 9));
        assert_eq!(agent.name, "Mia Wu");
        assert_eq!(agent.user_id, "42");
        assert_eq!(thread, Some(501));
        assert_eq!(text, "Try again");
    }

    #[test]
    fn bots_chatter_in_general_and_service_messages_are_ignored() {
        let bot = json!({"id": 7, "is_bot": true, "first_name": "Other"});
        let cases = [
            message(bot, json!({"text": "/queue"})),
            message(agent_user(), json!({"text": "good morning"})),
            message(
                agent_user(),
                json!({"forum_topic_created": {"name": "x", "icon_color": 7_322_096},
                       "message_thread_id": 5, "is_topic_message": true}),
            ),
        ];
        for u in cases {
            assert!(
                matches!(
                    translate_desk(&u),
                    DeskUpdate::Ignore { callback: None, .. }
                ),
                "{u:?}"
            );
        }
        // A command in General counts (desk-wide commands).
        let queue = message(agent_user(), json!({"text": "/queue"}));
        assert!(matches!(
            translate_desk(&queue),
            DeskUpdate::Message { thread: None, .. }
        ));
    }

    #[test]
    fn card_presses_decode_and_unknown_ones_still_carry_their_callback() {
        let press = |data: &str| {
            update(
                "callback_query",
                json!({"id": "q1", "from": agent_user(), "chat_instance": "c", "data": data,
                       "message": {"message_id": 3, "date": 1_700_000_000,
                                   "chat": {"id": DESK, "type": "supergroup", "title": "Desk"},
                                   "from": {"id": 1, "is_bot": true, "first_name": "B"}, "text": "card"}}),
            )
        };
        let DeskUpdate::Button { button, .. } = translate_desk(&press("prio:4:P1")) else {
            panic!("a button expected")
        };
        assert_eq!(
            button,
            Some(DeskButton::Priority(
                TicketNo(4),
                crate::domain::Priority::P1
            ))
        );
        let DeskUpdate::Button {
            button, callback, ..
        } = translate_desk(&press("solved:4"))
        else {
            panic!("a button expected")
        };
        assert_eq!(button, None);
        assert_eq!(callback.0, "q1");
    }
}
