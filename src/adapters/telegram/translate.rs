//! Telegram update → [`Inbound`]: the only place that reads Telegram's update shapes.
//!
//! Decides nothing about tickets: it names the customer, picks the text and the files
//! (by `file_id`, never downloaded) and says what to ignore. Private chats only — groups,
//! channels and the agents' desk are not customer conversations.

use teloxide::types::{
    CallbackQuery, CallbackQueryId, MediaKind, Message, MessageKind, Update, UpdateKind, User,
};

use crate::domain::{Attachment, CustomerIdentity, Language, Platform};
use crate::service::{Inbound, InboundContent};

/// What to do with one update.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// A customer action for the service. `callback` is set for a button press: it must be
    /// answered (answerCallbackQuery) once the press is stored.
    Inbound {
        inbound: Inbound,
        callback: Option<CallbackQueryId>,
    },
    /// Not a customer action: acknowledged and dropped. A button press that is ignored
    /// still has its callback answered, so the customer's spinner stops.
    Ignore {
        reason: &'static str,
        callback: Option<CallbackQueryId>,
    },
}

impl Translation {
    fn ignore(reason: &'static str) -> Translation {
        Translation::Ignore {
            reason,
            callback: None,
        }
    }
}

/// Dedup key of a message. Telegram message ids are unique within a chat for good, while
/// update ids may restart at a random value after a week without updates — so the key is
/// the chat and message, which a re-delivered update repeats exactly.
pub fn message_key(chat_id: i64, message_id: i32) -> String {
    format!("telegram:message:{chat_id}:{message_id}")
}

/// Dedup key of a button press (callback query ids are globally unique strings).
pub fn callback_key(id: &str) -> String {
    format!("telegram:callback:{id}")
}

pub fn translate(update: &Update) -> Translation {
    match &update.kind {
        UpdateKind::Message(message) => translate_message(message),
        UpdateKind::CallbackQuery(query) => translate_callback(query),
        UpdateKind::EditedMessage(_) => Translation::ignore("edited message"),
        UpdateKind::Error(_) => Translation::ignore("update not understood"),
        _ => Translation::ignore("update kind not used"),
    }
}

fn identity(user: &User, chat_id: i64) -> CustomerIdentity {
    CustomerIdentity {
        platform: Platform::Telegram,
        user_id: user.id.0.to_string(),
        chat_id: chat_id.to_string(),
        display_name: user.full_name(),
        language: user.language_code.as_deref().map(Language::from_locale),
    }
}

fn translate_message(message: &Message) -> Translation {
    if !message.chat.is_private() {
        return Translation::ignore("not a private chat");
    }
    let Some(user) = message.from.as_ref() else {
        return Translation::ignore("message without sender");
    };
    if user.is_bot {
        return Translation::ignore("message from a bot");
    }
    let MessageKind::Common(common) = &message.kind else {
        return Translation::ignore("service message");
    };
    let content = match content_of(message, &common.media_kind) {
        Some(content) => content,
        None => return Translation::ignore("chat migration"),
    };
    Translation::Inbound {
        inbound: Inbound {
            key: message_key(message.chat.id.0, message.id.0),
            from: identity(user, message.chat.id.0),
            content,
        },
        callback: None,
    }
}

fn attachment(kind: &str, file_id: &str, name: Option<&String>) -> Attachment {
    Attachment {
        kind: kind.into(),
        reference: file_id.to_string(),
        name: name.cloned(),
    }
}

/// Text and files of a message, or the kind the bot cannot handle.
fn content_of(message: &Message, media: &MediaKind) -> Option<InboundContent> {
    let file = match media {
        MediaKind::Text(_) => None,
        MediaKind::Photo(p) => p
            .photo
            .iter()
            .max_by_key(|size| u64::from(size.width) * u64::from(size.height))
            .map(|size| attachment("photo", &size.file.id.0, None)),
        MediaKind::Document(d) => Some(attachment(
            "document",
            &d.document.file.id.0,
            d.document.file_name.as_ref(),
        )),
        MediaKind::Voice(v) => Some(attachment("voice", &v.voice.file.id.0, None)),
        MediaKind::Video(v) => Some(attachment(
            "video",
            &v.video.file.id.0,
            v.video.file_name.as_ref(),
        )),
        MediaKind::Audio(a) => Some(attachment(
            "audio",
            &a.audio.file.id.0,
            a.audio.file_name.as_ref(),
        )),
        MediaKind::Animation(a) => Some(attachment(
            "animation",
            &a.animation.file.id.0,
            a.animation.file_name.as_ref(),
        )),
        MediaKind::VideoNote(v) => Some(attachment("video_note", &v.video_note.file.id.0, None)),
        MediaKind::Migration(_) => return None,
        other => {
            return Some(InboundContent::Unsupported {
                kind: unsupported_kind(other).into(),
            })
        }
    };
    let text = message
        .text()
        .or_else(|| message.caption())
        .unwrap_or_default()
        .to_string();
    Some(InboundContent::Message {
        text,
        attachments: file.into_iter().collect(),
    })
}

fn unsupported_kind(media: &MediaKind) -> &'static str {
    match media {
        MediaKind::Sticker(_) => "sticker",
        MediaKind::Location(_) => "location",
        MediaKind::Venue(_) => "venue",
        MediaKind::Contact(_) => "contact",
        MediaKind::Poll(_) => "poll",
        MediaKind::Game(_) => "game",
        MediaKind::Story(_) => "story",
        MediaKind::Checklist(_) => "checklist",
        MediaKind::PaidMedia(_) => "paid_media",
        _ => "other",
    }
}

fn translate_callback(query: &CallbackQuery) -> Translation {
    let callback = Some(query.id.clone());
    // The chat the button was shown in; a press on a message too old to be accessible
    // still names its chat.
    let chat = match &query.message {
        Some(message) => message.chat(),
        None => {
            return Translation::Ignore {
                reason: "button press without a chat (inline message)",
                callback,
            }
        }
    };
    if !chat.is_private() {
        return Translation::Ignore {
            reason: "button press outside a private chat",
            callback,
        };
    }
    if query.from.is_bot {
        return Translation::Ignore {
            reason: "button press by a bot",
            callback,
        };
    }
    let data = query.data.clone().unwrap_or_default();
    Translation::Inbound {
        inbound: Inbound {
            key: callback_key(&query.id.0),
            from: identity(&query.from, chat.id.0),
            content: InboundContent::Button { data },
        },
        callback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Like the client: from text (teloxide's update parser needs borrowable keys).
    fn parse(value: serde_json::Value) -> Result<Update, serde_json::Error> {
        serde_json::from_str(&value.to_string())
    }

    fn user() -> serde_json::Value {
        json!({"id": 42, "is_bot": false, "first_name": "Ana", "last_name": "Li", "language_code": "zh-hans"})
    }

    fn private_message(extra: serde_json::Value) -> Update {
        let mut message = json!({
            "message_id": 7, "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Ana"},
            "from": user(),
        });
        for (k, v) in extra.as_object().unwrap() {
            message[k] = v.clone();
        }
        parse(json!({"update_id": 1, "message": message})).unwrap()
    }

    fn expect_inbound(t: Translation) -> (Inbound, Option<CallbackQueryId>) {
        match t {
            Translation::Inbound { inbound, callback } => (inbound, callback),
            Translation::Ignore { reason, .. } => panic!("expected inbound, got ignore: {reason}"),
        }
    }

    #[test]
    fn private_text_is_a_customer_message_with_language_hint() {
        let (inbound, callback) =
            expect_inbound(translate(&private_message(json!({"text": "hi <b>"}))));
        assert!(callback.is_none());
        assert_eq!(inbound.key, "telegram:message:42:7");
        assert_eq!(inbound.from.user_id, "42");
        assert_eq!(inbound.from.chat_id, "42");
        assert_eq!(inbound.from.display_name, "Ana Li");
        assert_eq!(inbound.from.language, Some(Language::Zh));
        assert_eq!(
            inbound.content,
            InboundContent::Message {
                text: "hi <b>".into(),
                attachments: vec![]
            }
        );
    }

    #[test]
    fn photo_takes_the_largest_size_and_the_caption() {
        let update = private_message(json!({
            "caption": "broken screen",
            "photo": [
                {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
                {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960},
                {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 240}
            ]
        }));
        let (inbound, _) = expect_inbound(translate(&update));
        assert_eq!(
            inbound.content,
            InboundContent::Message {
                text: "broken screen".into(),
                attachments: vec![Attachment {
                    kind: "photo".into(),
                    reference: "big".into(),
                    name: None
                }]
            }
        );
    }

    #[test]
    fn document_and_voice_keep_their_file_ids() {
        let update = private_message(json!({
            "document": {"file_id": "doc-1", "file_unique_id": "d", "file_name": "invoice.pdf"}
        }));
        let (inbound, _) = expect_inbound(translate(&update));
        let InboundContent::Message { text, attachments } = inbound.content else {
            panic!()
        };
        assert_eq!(text, "");
        assert_eq!(attachments[0].kind, "document");
        assert_eq!(attachments[0].reference, "doc-1");
        assert_eq!(attachments[0].name.as_deref(), Some("invoice.pdf"));

        let update = private_message(json!({
            "voice": {"file_id": "voice-1", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}
        }));
        let (inbound, _) = expect_inbound(translate(&update));
        let InboundContent::Message { attachments, .. } = inbound.content else {
            panic!()
        };
        assert_eq!(
            (
                attachments[0].kind.as_str(),
                attachments[0].reference.as_str()
            ),
            ("voice", "voice-1")
        );
    }

    #[test]
    fn stickers_and_locations_are_unsupported() {
        let sticker = private_message(json!({"sticker": {
            "file_id": "st", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512,
            "is_animated": false, "is_video": false
        }}));
        let (inbound, _) = expect_inbound(translate(&sticker));
        assert_eq!(
            inbound.content,
            InboundContent::Unsupported {
                kind: "sticker".into()
            }
        );
        let location = private_message(json!({"location": {"latitude": 1.0, "longitude": 2.0}}));
        let (inbound, _) = expect_inbound(translate(&location));
        assert_eq!(
            inbound.content,
            InboundContent::Unsupported {
                kind: "location".into()
            }
        );
    }

    #[test]
    fn groups_edits_and_unknown_kinds_are_ignored() {
        let group: Update = parse(json!({"update_id": 2, "message": {
            "message_id": 1, "date": 1_700_000_000,
            "chat": {"id": -100, "type": "supergroup", "title": "desk"},
            "from": user(), "text": "hello"
        }}))
        .unwrap();
        assert!(matches!(translate(&group), Translation::Ignore { .. }));
        let edited: Update = parse(json!({"update_id": 3, "edited_message": {
            "message_id": 1, "date": 1_700_000_000, "edit_date": 1_700_000_001,
            "chat": {"id": 42, "type": "private", "first_name": "Ana"},
            "from": user(), "text": "hello again"
        }}))
        .unwrap();
        assert!(matches!(translate(&edited), Translation::Ignore { .. }));
        let unknown: Update = parse(json!({"update_id": 4, "brand_new_kind": {"x": 1}})).unwrap();
        assert!(matches!(translate(&unknown), Translation::Ignore { .. }));
        // A message missing required fields parses as an error kind, never a panic.
        let broken: Update =
            parse(json!({"update_id": 5, "message": {"text": "no chat"}})).unwrap();
        assert!(matches!(translate(&broken), Translation::Ignore { .. }));
    }

    #[test]
    fn button_press_becomes_a_button_inbound_with_its_callback() {
        let update: Update = parse(json!({"update_id": 9, "callback_query": {
            "id": "cb-1", "from": user(), "chat_instance": "ci", "data": "helped:orders.track",
            "message": {"message_id": 8, "date": 1_700_000_000,
                "chat": {"id": 42, "type": "private", "first_name": "Ana"},
                "from": {"id": 1, "is_bot": true, "first_name": "Bot"}, "text": "answer"}
        }}))
        .unwrap();
        let (inbound, callback) = expect_inbound(translate(&update));
        assert_eq!(callback.map(|c| c.0), Some("cb-1".to_string()));
        assert_eq!(inbound.key, "telegram:callback:cb-1");
        assert_eq!(
            inbound.content,
            InboundContent::Button {
                data: "helped:orders.track".into()
            }
        );
    }
}
