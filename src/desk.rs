//! The agents' desk language: what an agent typed → a [`DeskCommand`], and the desk's
//! one-line answers and lists.
//!
//! Pure and platform-neutral: no I/O, no store, no clock reads, no platform types. The
//! Telegram forum desk, the Discord desk and the console desk all parse with [`parse`];
//! the workflow that applies a command to a ticket lives in `service::desk_flow`.
//! Desk texts are for agents and in English; customer texts live in `replies`.

use std::fmt;

use crate::domain::{Category, Priority, Ticket, TicketNo, TicketState, Timestamp};
use crate::store::{TicketEvent, TicketMessage};

/// What an agent asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskCommand {
    /// Plain text in a ticket thread: relayed to the customer word for word.
    Reply(String),
    Claim,
    /// Make another agent (by name, a leading `@` dropped) responsible.
    Assign(String),
    /// Move the ticket to another department (checked against the configured list later).
    Transfer(String),
    Priority(Priority),
    Category(Category),
    /// Internal note, never relayed.
    Note(String),
    /// Ask the customer for information: the text is relayed word for word.
    Ask(String),
    /// Send the solution (word for word) with "Solved" / "Not solved".
    Resolve(String),
    Reopen,
    /// Quote an FAQ entry's answer to the customer.
    Faq(String),
    Info,
    Queue,
    Mine,
    Find(FindQuery),
}

/// What `/find` looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindQuery {
    Ticket(TicketNo),
    Text(String),
}

impl DeskCommand {
    /// Desk-wide commands work anywhere; all others need a ticket (its thread).
    pub fn needs_ticket(&self) -> bool {
        !matches!(
            self,
            DeskCommand::Queue | DeskCommand::Mine | DeskCommand::Find(_)
        )
    }

    /// The command word as agents type it (`/claim`), or `reply`.
    pub fn name(&self) -> &'static str {
        match self {
            DeskCommand::Reply(_) => "reply",
            DeskCommand::Claim => "/claim",
            DeskCommand::Assign(_) => "/assign",
            DeskCommand::Transfer(_) => "/transfer",
            DeskCommand::Priority(_) => "/priority",
            DeskCommand::Category(_) => "/category",
            DeskCommand::Note(_) => "/note",
            DeskCommand::Ask(_) => "/ask",
            DeskCommand::Resolve(_) => "/resolve",
            DeskCommand::Reopen => "/reopen",
            DeskCommand::Faq(_) => "/faq",
            DeskCommand::Info => "/info",
            DeskCommand::Queue => "/queue",
            DeskCommand::Mine => "/mine",
            DeskCommand::Find(_) => "/find",
        }
    }
}

/// Wrong use of a command: a one-line hint to show the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Every command with its arguments, for hints.
pub const COMMANDS: &str = "/claim, /assign <agent>, /transfer <department>, /priority P1|P2|P3, \
     /category inquiry|problem|complaint|after_sales, /note <text>, /ask <text>, \
     /resolve <solution>, /reopen, /faq <id>, /info, /queue, /mine, /find <text|#id>";

fn usage(text: &str) -> Usage {
    Usage(format!("Usage: {text}"))
}

/// Parses what an agent typed. Text not starting with `/` is a reply to the customer;
/// anything starting with `/` must be a known command (so a mistyped command is never
/// relayed to a customer). `@botname` after the command word is accepted and dropped.
pub fn parse(text: &str) -> Result<DeskCommand, Usage> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix('/') else {
        if trimmed.is_empty() {
            return Err(Usage(
                "Nothing to send: write a reply for the customer, or a command.".into(),
            ));
        }
        return Ok(DeskCommand::Reply(trimmed.to_string()));
    };
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = word.split('@').next().unwrap_or("").to_ascii_lowercase();
    let args = args.trim();
    let no_args = |command: DeskCommand| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(usage(&format!("/{name} (no arguments)")))
        }
    };
    let text_arg = |make: fn(String) -> DeskCommand, hint: &str| {
        if args.is_empty() {
            Err(usage(hint))
        } else {
            Ok(make(args.to_string()))
        }
    };
    let one_word = |make: fn(String) -> DeskCommand, hint: &str| {
        let mut words = args.split_whitespace();
        match (words.next(), words.next()) {
            (Some(w), None) => Ok(make(w.to_string())),
            _ => Err(usage(hint)),
        }
    };
    match name.as_str() {
        "claim" => no_args(DeskCommand::Claim),
        "reopen" => no_args(DeskCommand::Reopen),
        "info" => no_args(DeskCommand::Info),
        "queue" => no_args(DeskCommand::Queue),
        "mine" => no_args(DeskCommand::Mine),
        "assign" => one_word(
            |w| DeskCommand::Assign(w.trim_start_matches('@').to_string()),
            "/assign <agent>",
        )
        .and_then(|c| match &c {
            DeskCommand::Assign(a) if a.is_empty() => Err(usage("/assign <agent>")),
            _ => Ok(c),
        }),
        "transfer" => one_word(
            |w| DeskCommand::Transfer(w.to_ascii_lowercase()),
            "/transfer <department>",
        ),
        "priority" => args
            .parse::<Priority>()
            .map(DeskCommand::Priority)
            .map_err(|_| usage("/priority P1|P2|P3")),
        "category" => args
            .parse::<Category>()
            .map(DeskCommand::Category)
            .map_err(|_| usage("/category inquiry|problem|complaint|after_sales")),
        "note" => text_arg(DeskCommand::Note, "/note <text> (internal, never sent)"),
        "ask" => text_arg(DeskCommand::Ask, "/ask <question for the customer>"),
        "resolve" => text_arg(DeskCommand::Resolve, "/resolve <solution for the customer>"),
        "faq" => one_word(DeskCommand::Faq, "/faq <id>"),
        "find" => {
            if args.is_empty() {
                Err(usage("/find <text|#id>"))
            } else if let Some(no) = args
                .strip_prefix('#')
                .and_then(|_| args.parse::<TicketNo>().ok())
            {
                Ok(DeskCommand::Find(FindQuery::Ticket(no)))
            } else {
                Ok(DeskCommand::Find(FindQuery::Text(args.to_string())))
            }
        }
        _ => Err(Usage(format!(
            "Unknown command /{name}. Commands: {COMMANDS}"
        ))),
    }
}

/// One line about a ticket for `/queue`, `/mine`, `/find`.
pub fn ticket_line(t: &Ticket, now: Timestamp) -> String {
    let (what, due) = if t.first_response_at.is_none() {
        ("first response", t.first_response_due)
    } else {
        ("resolution", t.resolution_due)
    };
    let when = if t.state == TicketState::Closed || t.state == TicketState::Resolved {
        String::new()
    } else {
        format!(" · {what} {}", relative(due, now))
    };
    format!(
        "{} {} · {} · {} · {} · {}{} · {}",
        t.no,
        t.priority.label(),
        t.state.as_str(),
        t.category,
        t.department,
        t.assignee.as_deref().unwrap_or("unassigned"),
        when,
        t.subject
    )
}

/// `in 25 min` / `overdue by 2 h 5 min`.
fn relative(due: Timestamp, now: Timestamp) -> String {
    let mins = (due - now).num_minutes();
    let span = |m: i64| {
        let (h, m) = (m / 60, m % 60);
        match (h, m) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        }
    };
    if mins >= 0 {
        format!("due in {}", span(mins))
    } else {
        format!("overdue by {}", span(-mins))
    }
}

/// A titled list of tickets, or a line saying there are none.
pub fn ticket_list(title: &str, tickets: &[Ticket], now: Timestamp) -> String {
    if tickets.is_empty() {
        return format!("{title}: none.");
    }
    let mut out = format!("{title} ({}):", tickets.len());
    for t in tickets {
        out.push('\n');
        out.push_str(&ticket_line(t, now));
    }
    out
}

/// What `/info` shows: customer, ticket summary, recent conversation and history.
pub struct InfoView<'a> {
    pub ticket: &'a Ticket,
    pub customer_name: &'a str,
    pub customer_platform: &'a str,
    pub customer_language: &'a str,
    pub vip: bool,
    pub messages: &'a [TicketMessage],
    pub events: &'a [TicketEvent],
}

/// Longest message excerpt shown by `/info`.
const EXCERPT_CHARS: usize = 120;

pub fn info_text(view: &InfoView<'_>, now: Timestamp) -> String {
    let t = view.ticket;
    let mut out = format!(
        "Ticket {} — {}\nCustomer: {} ({}, {}{})\n{}",
        t.no,
        t.subject,
        view.customer_name,
        view.customer_platform,
        view.customer_language,
        if view.vip { ", VIP" } else { "" },
        ticket_line(t, now),
    );
    if !view.messages.is_empty() {
        out.push_str("\nRecent messages:");
        for m in view.messages {
            let text: String = m.text.chars().take(EXCERPT_CHARS).collect();
            let cut = if m.text.chars().count() > EXCERPT_CHARS {
                "…"
            } else {
                ""
            };
            out.push_str(&format!(
                "\n  {} {} [{}]: {text}{cut}",
                m.at.format("%m-%d %H:%M"),
                m.author,
                m.direction.as_str()
            ));
        }
    }
    if !view.events.is_empty() {
        out.push_str("\nHistory:");
        for e in view.events {
            out.push_str(&format!(
                "\n  {} {} by {}: {}",
                e.at.format("%m-%d %H:%M"),
                e.kind,
                e.actor,
                e.detail
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> DeskCommand {
        parse(text).unwrap_or_else(|u| panic!("{text:?} → {u}"))
    }

    #[test]
    fn every_command_parses() {
        let table: Vec<(&str, DeskCommand)> = vec![
            ("/claim", DeskCommand::Claim),
            ("/claim@frontdesk_bot", DeskCommand::Claim),
            ("/CLAIM", DeskCommand::Claim),
            ("/assign @bob", DeskCommand::Assign("bob".into())),
            ("/assign@bot bob", DeskCommand::Assign("bob".into())),
            ("/transfer Tech", DeskCommand::Transfer("tech".into())),
            ("/priority P1", DeskCommand::Priority(Priority::P1)),
            ("/priority p3", DeskCommand::Priority(Priority::P3)),
            (
                "/category after_sales",
                DeskCommand::Category(Category::AfterSales),
            ),
            (
                "/category Complaint",
                DeskCommand::Category(Category::Complaint),
            ),
            ("/note called them", DeskCommand::Note("called them".into())),
            (
                "/ask  Which order number?\nAnd the date? ",
                DeskCommand::Ask("Which order number?\nAnd the date?".into()),
            ),
            (
                "/resolve@bot Restart the router.",
                DeskCommand::Resolve("Restart the router.".into()),
            ),
            ("/reopen", DeskCommand::Reopen),
            (
                "/faq billing.invoice",
                DeskCommand::Faq("billing.invoice".into()),
            ),
            ("/info", DeskCommand::Info),
            ("/queue", DeskCommand::Queue),
            ("/mine@bot", DeskCommand::Mine),
            (
                "/find #12",
                DeskCommand::Find(FindQuery::Ticket(TicketNo(12))),
            ),
            (
                "/find refund card",
                DeskCommand::Find(FindQuery::Text("refund card".into())),
            ),
            (
                "/find #abc",
                DeskCommand::Find(FindQuery::Text("#abc".into())),
            ),
            (
                "Hello, try again now",
                DeskCommand::Reply("Hello, try again now".into()),
            ),
            ("  spaced  ", DeskCommand::Reply("spaced".into())),
            ("您好，请稍等", DeskCommand::Reply("您好，请稍等".into())),
        ];
        for (text, want) in table {
            assert_eq!(ok(text), want, "{text:?}");
        }
    }

    #[test]
    fn wrong_use_gives_a_one_line_hint() {
        let table = [
            ("/claim now", "/claim"),
            ("/assign", "/assign <agent>"),
            ("/assign a b", "/assign <agent>"),
            ("/assign @", "/assign <agent>"),
            ("/transfer", "/transfer <department>"),
            ("/priority P4", "/priority P1|P2|P3"),
            ("/priority", "/priority P1|P2|P3"),
            ("/category bug", "/category inquiry"),
            ("/note", "/note <text>"),
            ("/ask", "/ask <"),
            ("/resolve   ", "/resolve <"),
            ("/faq", "/faq <id>"),
            ("/faq a b", "/faq <id>"),
            ("/find", "/find <text|#id>"),
            ("/reopen please", "/reopen"),
            ("/info x", "/info"),
            ("/queue x", "/queue"),
            ("/mine x", "/mine"),
            ("/close", "Unknown command /close"),
            ("/", "Unknown command"),
            ("", "Nothing to send"),
        ];
        for (text, hint) in table {
            let Err(Usage(u)) = parse(text) else {
                panic!("{text:?} should be a usage error");
            };
            assert!(u.contains(hint), "{text:?} → {u:?}");
            assert!(!u.contains('\n'), "one line: {u:?}");
        }
    }

    #[test]
    fn only_desk_wide_commands_work_without_a_ticket() {
        assert!(!DeskCommand::Queue.needs_ticket());
        assert!(!DeskCommand::Mine.needs_ticket());
        assert!(!DeskCommand::Find(FindQuery::Text("x".into())).needs_ticket());
        assert!(DeskCommand::Claim.needs_ticket());
        assert!(DeskCommand::Reply("x".into()).needs_ticket());
    }

    #[test]
    fn deadlines_read_as_due_or_overdue() {
        let now = chrono::Utc::now();
        assert_eq!(
            relative(now + chrono::Duration::minutes(25), now),
            "due in 25 min"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(125), now),
            "overdue by 2 h 5 min"
        );
        assert_eq!(
            relative(now + chrono::Duration::hours(2), now),
            "due in 2 h"
        );
    }
}
