//! Supervisors (SPEC §2, §3, §4, §6): who hears about complaints, P1 tickets, SLA breaches
//! and metric threshold alerts, and the notice they get.
//!
//! Pure: builds the [`Outbound`] notices; the caller enqueues them in the same transaction
//! as the change that caused them (so a notice exists exactly when the change does).
//! Never sends, never reads a clock, knows no platform types.

use crate::domain::{ChatAddress, Outbound, TicketNo};

/// Where supervisor notices go and whom they name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervisors {
    /// Chats that receive every notice (a Telegram group, a Discord channel). Empty: the
    /// notice goes to the agents' desk chat itself (a forum's General topic).
    pub chats: Vec<ChatAddress>,
    /// Supervisors by agent name (the "role"): named in every notice so they are pinged
    /// where the notice lands.
    pub names: Vec<String>,
}

impl Supervisors {
    pub fn new(chats: Vec<ChatAddress>, names: Vec<String>) -> Supervisors {
        Supervisors { chats, names }
    }

    /// Whether the agent of this name is a supervisor.
    pub fn includes(&self, agent: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(agent))
    }

    /// The notices saying `text` (about `ticket`, if any): one per configured chat, or one
    /// in `desk_chat` when no chat is configured. Empty when there is nowhere to say it.
    pub fn notices(
        &self,
        desk_chat: Option<&ChatAddress>,
        ticket: Option<TicketNo>,
        text: &str,
    ) -> Vec<Outbound> {
        let mention = if self.names.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = self.names.iter().map(|n| format!("@{n}")).collect();
            format!(" ({})", names.join(" "))
        };
        let line = format!("📣 Supervisors{mention}: {text}");
        let targets: Vec<&ChatAddress> = if self.chats.is_empty() {
            desk_chat.into_iter().collect()
        } else {
            self.chats.iter().collect()
        };
        targets
            .into_iter()
            .map(|to| {
                let mut message = Outbound::text(to.clone(), line.clone());
                message.ticket = ticket;
                message
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;

    #[test]
    fn notices_go_to_each_configured_chat_and_name_the_supervisors() {
        let s = Supervisors::new(
            vec![
                ChatAddress::new(Platform::Telegram, "-100"),
                ChatAddress::new(Platform::Discord, "42"),
            ],
            vec!["maria".into(), "li".into()],
        );
        let desk = ChatAddress::new(Platform::Telegram, "-200");
        let out = s.notices(Some(&desk), Some(TicketNo(7)), "#7 P1 opened");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].to.chat_id, "-100");
        assert_eq!(out[1].to.platform, Platform::Discord);
        assert_eq!(out[0].ticket, Some(TicketNo(7)));
        assert_eq!(
            out[0].text_body(),
            Some("📣 Supervisors (@maria @li): #7 P1 opened")
        );
        assert!(s.includes("Maria"));
        assert!(!s.includes("sam"));
    }

    #[test]
    fn without_chats_the_desk_chat_gets_it_and_without_a_desk_nobody() {
        let s = Supervisors::default();
        let desk = ChatAddress::new(Platform::Console, "desk");
        let out = s.notices(Some(&desk), None, "average first response 31 min");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, desk);
        assert_eq!(
            out[0].text_body(),
            Some("📣 Supervisors: average first response 31 min")
        );
        assert!(s.notices(None, None, "x").is_empty());
    }
}
