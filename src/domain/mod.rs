//! Domain vocabulary: the value types every other module speaks in.
//!
//! Owns platforms, languages, categories, priorities, ticket numbers and the ticket
//! state machine. Pure data and rules — no I/O, no clock reads, no platform types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod ticket;

pub use ticket::{Ticket, TicketAction, TicketState, TransitionError};

/// Point in time used throughout the core; always passed in, never read from a clock here.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Error for parsing one of the domain's textual names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}` (expected one of: {expected})")]
pub struct ParseNameError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name used in storage, CLI output and commands.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseNameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                $(
                    if wanted.eq_ignore_ascii_case($text) $(|| wanted.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                Err(ParseNameError { kind: $kind, value: s.to_string(), expected: concat!($($text, " "),+) })
            }
        }
    };
}

named_enum!(
    /// Chat platform a customer or desk lives on.
    Platform, "platform", {
        Telegram => "telegram",
        Discord => "discord",
        Console => "console",
        Web => "web",
    }
);

named_enum!(
    /// Language the customer is answered in.
    Language, "language", {
        En => "en" | "english",
        Zh => "zh" | "chinese" | "zh-cn" | "zh-hans" | "zh-tw" | "zh-hant",
    }
);

named_enum!(
    /// Ticket category (SPEC §2).
    Category, "category", {
        Inquiry => "inquiry",
        Problem => "problem",
        Complaint => "complaint",
        AfterSales => "after_sales" | "after-sales" | "aftersales",
    }
);

named_enum!(
    /// What a triage rule says about a message beyond its category and priority: the
    /// signals that decide whether a person must see it at once (SPEC §1.2).
    /// `own_reference` (an order number) marks a specific order of the customer's own.
    Signal, "signal", {
        Security => "security",
        Privacy => "privacy",
        Safety => "safety",
        Legal => "legal",
        Press => "press",
        Complaint => "complaint",
        Person => "person" | "human",
        RepeatContact => "repeat_contact",
        BrokenPromise => "broken_promise",
        ProblemReport => "problem_report",
        Anger => "anger",
        Urgency => "urgency",
        OwnReference => "own_reference",
    }
);

named_enum!(
    /// Ticket priority; P1 is the most urgent.
    Priority, "priority", {
        P1 => "P1" | "1" | "urgent",
        P2 => "P2" | "2" | "important",
        P3 => "P3" | "3" | "general",
    }
);

impl Priority {
    /// One level more urgent (P1 stays P1) — used for VIP customers.
    pub fn raised(self) -> Priority {
        match self {
            Priority::P1 | Priority::P2 => Priority::P1,
            Priority::P3 => Priority::P2,
        }
    }

    /// Label shown to people (`P1`); the same as [`Priority::as_str`].
    pub fn label(self) -> &'static str {
        self.as_str()
    }
}

impl Language {
    /// Guess from a platform locale tag such as Telegram's `language_code` (`zh-hans`, `en-US`).
    pub fn from_locale(tag: &str) -> Language {
        if tag.trim().to_ascii_lowercase().starts_with("zh") {
            Language::Zh
        } else {
            Language::En
        }
    }

    /// Guess from the text itself: any Han character means Chinese.
    pub fn detect(text: &str) -> Option<Language> {
        let mut latin = false;
        for c in text.chars() {
            if is_han(c) {
                return Some(Language::Zh);
            }
            latin |= c.is_ascii_alphabetic();
        }
        latin.then_some(Language::En)
    }
}

/// True for CJK unified ideographs (the ranges customers actually type).
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// Human ticket number, written `#N`. Unique and gap-free, allocated by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNo(pub i64);

impl fmt::Display for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl FromStr for TicketNo {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .trim_start_matches('#')
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(TicketNo)
            .ok_or_else(|| ParseNameError {
                kind: "ticket number",
                value: s.to_string(),
                expected: "#N with N > 0",
            })
    }
}

/// Store-assigned customer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub i64);

/// Marks a symbolic thread id (`ticket:N`) that a transport resolves.
pub const TICKET_THREAD_PREFIX: &str = "ticket:";

/// Where a message goes or comes from: a chat on a platform, optionally a thread in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatAddress {
    pub platform: Platform,
    pub chat_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

impl ChatAddress {
    pub fn new(platform: Platform, chat_id: impl Into<String>) -> Self {
        ChatAddress {
            platform,
            chat_id: chat_id.into(),
            thread_id: None,
        }
    }

    /// The desk thread of a ticket before the platform has given it an id: every item for
    /// that thread shares this address, hence one ordered lane, from the thread's creation
    /// on. Transports resolve it to the platform's thread id.
    pub fn ticket_thread(platform: Platform, chat_id: impl Into<String>, no: TicketNo) -> Self {
        ChatAddress {
            platform,
            chat_id: chat_id.into(),
            thread_id: Some(format!("{TICKET_THREAD_PREFIX}{}", no.0)),
        }
    }

    /// The ticket of a symbolic thread address made by [`ChatAddress::ticket_thread`].
    pub fn ticket_of_thread(&self) -> Option<TicketNo> {
        self.thread_id
            .as_deref()?
            .strip_prefix(TICKET_THREAD_PREFIX)?
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(TicketNo)
    }

    /// Key under which outbound order is kept: one ordered lane per chat (and thread).
    pub fn lane(&self) -> String {
        match &self.thread_id {
            Some(t) => format!("{}:{}:{}", self.platform, self.chat_id, t),
            None => format!("{}:{}", self.platform, self.chat_id),
        }
    }
}

/// The customer as the platform identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerIdentity {
    pub platform: Platform,
    /// Platform user id (stable across chats).
    pub user_id: String,
    /// Chat where the customer talks to the bot (private chat / DM channel).
    pub chat_id: String,
    pub display_name: String,
    /// Language hint from the platform (locale), if any.
    pub language: Option<Language>,
}

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub platform: Platform,
    pub user_id: String,
    pub chat_id: String,
    pub display_name: String,
    pub language: Language,
    pub vip: bool,
    pub unreachable: bool,
}

impl Customer {
    pub fn chat(&self) -> ChatAddress {
        ChatAddress::new(self.platform, self.chat_id.clone())
    }
}

/// Who wrote a ticket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer to the service.
    Inbound,
    /// From the service (bot or agent) to the customer.
    Outbound,
    /// Internal note, never shown to the customer.
    Internal,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }
}

/// A file or media item kept by reference (platform file id or URL), never re-uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// photo, document, voice, video, …
    pub kind: String,
    /// Platform file id or URL.
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An inline button; `data` is the opaque payload that comes back when it is pressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// What the service wants said in a chat. Written to the outbox, delivered by an adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    pub to: ChatAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketNo>,
    pub body: OutboundBody,
}

/// Plain text only: adapters own escaping, splitting and platform markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundBody {
    Text {
        text: String,
        /// Rows of buttons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Vec<Button>>,
    },
    /// A file the platform already holds, re-sent by its id (never downloaded): the desk's
    /// mirror of a customer's photo or document.
    File {
        attachment: Attachment,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        caption: String,
    },
    /// Opens the thread `to.thread_id` names (a forum topic per ticket). The address is
    /// symbolic ([`ChatAddress::ticket_thread`]): the platform's id is only known once the
    /// thread exists, and the transport records it.
    OpenThread { title: String },
    /// Renames the thread (a ticket's priority or state changed).
    RenameThread { title: String },
    /// Closes the thread (the ticket closed).
    CloseThread,
    /// Reopens a closed thread (the ticket reopened).
    ReopenThread,
}

impl OutboundBody {
    /// One line saying what a non-text body does (for the console and logs); the text
    /// itself for a text body.
    pub fn summary(&self) -> String {
        match self {
            OutboundBody::Text { text, .. } => text.clone(),
            OutboundBody::File {
                attachment,
                caption,
            } => {
                let name = attachment.name.as_deref().unwrap_or(&attachment.reference);
                if caption.is_empty() {
                    format!("[{}: {name}]", attachment.kind)
                } else {
                    format!("[{}: {name}] {caption}", attachment.kind)
                }
            }
            OutboundBody::OpenThread { title } => format!("[thread opened: {title}]"),
            OutboundBody::RenameThread { title } => format!("[thread renamed: {title}]"),
            OutboundBody::CloseThread => "[thread closed]".into(),
            OutboundBody::ReopenThread => "[thread reopened]".into(),
        }
    }
}

impl Outbound {
    pub fn text(to: ChatAddress, text: impl Into<String>) -> Self {
        Outbound {
            to,
            ticket: None,
            body: OutboundBody::Text {
                text: text.into(),
                buttons: Vec::new(),
            },
        }
    }

    /// Sets the buttons of a text message (other bodies have none and stay as they are).
    pub fn with_buttons(mut self, rows: Vec<Vec<Button>>) -> Self {
        if let OutboundBody::Text { buttons, .. } = &mut self.body {
            *buttons = rows;
        }
        self
    }

    /// The text of a text message (`None` for files and thread operations).
    pub fn text_body(&self) -> Option<&str> {
        match &self.body {
            OutboundBody::Text { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn for_ticket(mut self, no: TicketNo) -> Self {
        self.ticket = Some(no);
        self
    }

    /// Erases what this message says (SPEC §7: a customer's data erased on request, or a
    /// closed ticket's texts after their retention period): a text, a file or a thread
    /// title becomes [`ERASED`] (buttons dropped); with `readdress` = (the customer's chat,
    /// what it becomes), a message to that chat is readdressed. Thread operations without
    /// content stay as they are. Returns whether the content changed.
    pub fn erase(&mut self, readdress: Option<(&ChatAddress, &str)>) -> bool {
        if let Some((chat, erased_chat)) = readdress {
            if self.to.platform == chat.platform && self.to.chat_id == chat.chat_id {
                self.to.chat_id = erased_chat.to_string();
            }
        }
        let erased = match &self.body {
            OutboundBody::Text { text, buttons } => text != ERASED || !buttons.is_empty(),
            OutboundBody::File { .. } => true,
            OutboundBody::OpenThread { title } | OutboundBody::RenameThread { title } => {
                title != ERASED
            }
            OutboundBody::CloseThread | OutboundBody::ReopenThread => false,
        };
        if erased {
            self.body = match &self.body {
                OutboundBody::OpenThread { .. } => OutboundBody::OpenThread {
                    title: ERASED.into(),
                },
                OutboundBody::RenameThread { .. } => OutboundBody::RenameThread {
                    title: ERASED.into(),
                },
                _ => OutboundBody::Text {
                    text: ERASED.into(),
                    buttons: Vec::new(),
                },
            };
        }
        erased
    }
}

/// What erased personal data reads as (SPEC §7, `frontdesk customer purge`).
pub const ERASED: &str = "[erased]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasing_a_message_keeps_only_what_carries_nothing_personal() {
        let chat = ChatAddress::new(Platform::Telegram, "42");
        let mut reply = Outbound::text(chat.clone(), "your order to 5 Main St").with_buttons(vec![
            vec![Button {
                label: "Solved".into(),
                data: "solved:1".into(),
            }],
        ]);
        assert!(reply.erase(Some((&chat, "erased:7"))));
        assert_eq!(reply.to, ChatAddress::new(Platform::Telegram, "erased:7"));
        assert_eq!(reply.text_body(), Some(ERASED));
        assert!(!reply.erase(Some((&chat, "erased:7"))), "erased already");

        let desk = ChatAddress::ticket_thread(Platform::Telegram, "-100", TicketNo(3));
        let mut title = Outbound {
            to: desk.clone(),
            ticket: Some(TicketNo(3)),
            body: OutboundBody::RenameThread {
                title: "#3 Ana: refund".into(),
            },
        };
        assert!(title.erase(Some((&chat, "erased:7"))));
        assert_eq!(title.to, desk, "the desk's address stays");
        assert_eq!(
            title.body,
            OutboundBody::RenameThread {
                title: ERASED.into()
            }
        );
        let mut close = Outbound {
            to: desk,
            ticket: Some(TicketNo(3)),
            body: OutboundBody::CloseThread,
        };
        assert!(!close.erase(None));
        assert_eq!(close.body, OutboundBody::CloseThread);
    }

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(*p));
            assert_eq!(p.as_str().to_lowercase().parse::<Priority>(), Ok(*p));
        }
        assert_eq!("After-Sales".parse::<Category>(), Ok(Category::AfterSales));
        assert_eq!(serde_json::to_string(&Priority::P1).unwrap(), "\"P1\"");
        assert_eq!(
            serde_json::to_string(&Category::AfterSales).unwrap(),
            "\"after_sales\""
        );
        assert!("p4".parse::<Priority>().is_err());
        assert_eq!("#12".parse::<TicketNo>(), Ok(TicketNo(12)));
        assert!("#0".parse::<TicketNo>().is_err());
    }

    #[test]
    fn language_from_text_and_locale() {
        assert_eq!(Language::detect("我要退款"), Some(Language::Zh));
        assert_eq!(Language::detect("refund please"), Some(Language::En));
        assert_eq!(Language::detect("👍 123"), None);
        assert_eq!(Language::from_locale("zh-hans"), Language::Zh);
        assert_eq!(Language::from_locale("en-US"), Language::En);
    }

    #[test]
    fn vip_raises_one_level() {
        assert_eq!(Priority::P3.raised(), Priority::P2);
        assert_eq!(Priority::P2.raised(), Priority::P1);
        assert_eq!(Priority::P1.raised(), Priority::P1);
    }
}
