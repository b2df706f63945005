//! The agents' desk language: what an agent typed → a [`DeskCommand`], and the desk's
//! one-line answers and lists.
//!
//! Pure and platform-neutral: no I/O, no store, no clock reads, no platform types. The
//! Telegram forum desk, the Discord desk and the console desk all parse with [`parse`];
//! the workflow that applies a command to a ticket lives in `service::desk_flow`.
//! Desk texts are for agents and in English; customer texts live in `replies`.

use std::fmt;

use crate::domain::{Category, Platform, Priority, Ticket, TicketNo, TicketState, Timestamp};
use crate::metrics::Period;
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
    /// Desk metrics of a period (default: today).
    Stats(Period),
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
            DeskCommand::Queue | DeskCommand::Mine | DeskCommand::Stats(_) | DeskCommand::Find(_)
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
            DeskCommand::Stats(_) => "/stats",
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
     /resolve <solution>, /reopen, /faq <id>, /info, /queue, /mine, /stats [today|7d|30d], /find <text|#id>";

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
        "stats" => match args {
            "" => Ok(DeskCommand::Stats(Period::Today)),
            period => period
                .parse::<Period>()
                .map(DeskCommand::Stats)
                .map_err(|_| usage("/stats [today|7d|30d|Nd|Nh]")),
        },
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

/// A configured agent (SPEC §3): how the desk recognises them and what they can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// Shown to colleagues, stored as assignee; what `/assign` takes.
    pub name: String,
    /// Platform user ids as `platform:user_id` (`telegram:12345`, `discord:987`).
    pub ids: Vec<String>,
    /// Departments and/or categories the agent handles; empty: any.
    pub skills: Vec<String>,
    /// Most open tickets auto-assignment gives the agent; `None`: no limit.
    pub capacity: Option<u32>,
}

impl AgentProfile {
    pub fn has_id(&self, platform: Platform, user_id: &str) -> bool {
        self.ids.iter().any(|id| {
            id.split_once(':')
                .is_some_and(|(p, u)| p.eq_ignore_ascii_case(platform.as_str()) && u == user_id)
        })
    }

    /// Whether the agent has the skill a ticket needs: its department or its category.
    pub fn can_take(&self, department: &str, category: Category) -> bool {
        self.skills.is_empty()
            || self.skills.iter().any(|s| {
                s.eq_ignore_ascii_case(department) || s.eq_ignore_ascii_case(category.as_str())
            })
    }
}

/// The desk's agents and how tickets reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staff {
    /// Empty: anyone posting in the desk is an agent (SPEC §3) and `/assign` takes any name.
    pub agents: Vec<AgentProfile>,
    /// Give each new (or transferred) ticket to the least-loaded agent with the skill.
    pub auto_assign: bool,
}

/// Who posted in the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskMember<'a> {
    /// No agents are configured: everybody in the desk is one, under their display name.
    Anyone,
    /// A configured agent, known under their configured name.
    Agent(&'a AgentProfile),
    /// Agents are configured and this is none of them: no command is theirs.
    Stranger,
}

impl Staff {
    pub fn who(&self, platform: Platform, user_id: &str) -> DeskMember<'_> {
        if self.agents.is_empty() {
            return DeskMember::Anyone;
        }
        self.agents
            .iter()
            .find(|a| a.has_id(platform, user_id))
            .map_or(DeskMember::Stranger, DeskMember::Agent)
    }

    /// The configured agent of this name (case-insensitive, a leading `@` ignored).
    pub fn agent(&self, name: &str) -> Option<&AgentProfile> {
        let name = name.trim_start_matches('@');
        self.agents
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn names(&self) -> Vec<&str> {
        self.agents.iter().map(|a| a.name.as_str()).collect()
    }
}

/// An agent's current workload, for auto-assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad {
    pub name: String,
    /// Tickets assigned and not closed.
    pub active: u32,
    /// Of those, the ones opened recently (the last day): spreads fresh work on ties.
    pub recent: u32,
}

/// Auto-assignment: among the agents with the skill the ticket needs and room under their
/// capacity, the least loaded; a tie goes to the one with the fewest recent tickets, then
/// to the one listed first. `None` when nobody fits (the ticket waits in `/queue`).
pub fn pick_agent<'a>(
    agents: &'a [AgentProfile],
    department: &str,
    category: Category,
    loads: &[AgentLoad],
) -> Option<&'a AgentProfile> {
    let load_of = |name: &str| {
        loads
            .iter()
            .find(|l| l.name == name)
            .map_or((0, 0), |l| (l.active, l.recent))
    };
    agents
        .iter()
        .enumerate()
        .filter(|(_, a)| a.can_take(department, category))
        .filter(|(_, a)| a.capacity.is_none_or(|cap| load_of(&a.name).0 < cap))
        .min_by_key(|(i, a)| {
            let (active, recent) = load_of(&a.name);
            (active, recent, *i)
        })
        .map(|(_, a)| a)
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
            ("/stats", DeskCommand::Stats(Period::Today)),
            ("/stats 7d", DeskCommand::Stats(Period::Days(7))),
            ("/stats@bot 30d", DeskCommand::Stats(Period::Days(30))),
            ("/stats 12h", DeskCommand::Stats(Period::Hours(12))),
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
            ("/stats week", "/stats [today|7d|30d"),
            ("/stats 7d 30d", "/stats [today|7d|30d"),
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
        assert!(!DeskCommand::Stats(Period::Today).needs_ticket());
        assert!(!DeskCommand::Find(FindQuery::Text("x".into())).needs_ticket());
        assert!(DeskCommand::Claim.needs_ticket());
        assert!(DeskCommand::Reply("x".into()).needs_ticket());
    }

    fn profile(name: &str, skills: &[&str], capacity: Option<u32>) -> AgentProfile {
        AgentProfile {
            name: name.into(),
            ids: vec![format!("telegram:{name}")],
            skills: skills.iter().map(|s| s.to_string()).collect(),
            capacity,
        }
    }

    fn load(name: &str, active: u32, recent: u32) -> AgentLoad {
        AgentLoad {
            name: name.into(),
            active,
            recent,
        }
    }

    #[test]
    fn auto_assignment_picks_the_least_loaded_agent_with_the_skill() {
        let agents = vec![
            profile("ann", &["tech"], None),
            profile("bob", &["after_sales", "complaint"], Some(2)),
            profile("cat", &[], None),
        ];
        let pick = |dept, cat, loads: &[AgentLoad]| {
            pick_agent(&agents, dept, cat, loads).map(|a| a.name.as_str())
        };
        // Skill by department: ann and cat (any) can take tech; ann has less.
        let loads = [load("ann", 1, 0), load("cat", 2, 0)];
        assert_eq!(pick("tech", Category::Problem, &loads), Some("ann"));
        // Skill by category: a complaint in the support department suits bob and cat.
        let loads = [load("bob", 0, 0), load("cat", 0, 0)];
        assert_eq!(pick("support", Category::Complaint, &loads), Some("bob"));
        // Tie on load → fewest recent; then the one listed first.
        let loads = [load("ann", 1, 1), load("cat", 1, 0)];
        assert_eq!(pick("tech", Category::Problem, &loads), Some("cat"));
        let loads = [load("ann", 1, 0), load("cat", 1, 0)];
        assert_eq!(pick("tech", Category::Problem, &loads), Some("ann"));
        // bob is at capacity: the after-sales ticket goes to cat.
        let loads = [load("bob", 2, 0), load("cat", 5, 5)];
        assert_eq!(
            pick("after_sales", Category::AfterSales, &loads),
            Some("cat")
        );
        // Nobody fits.
        let only_bob = &agents[1..2];
        assert_eq!(
            pick_agent(only_bob, "tech", Category::Problem, &[]).map(|a| a.name.as_str()),
            None
        );
    }

    #[test]
    fn desk_members_are_anyone_until_agents_are_configured() {
        let open = Staff::default();
        assert_eq!(open.who(Platform::Telegram, "1"), DeskMember::Anyone);
        let staff = Staff {
            agents: vec![profile("ann", &[], None)],
            auto_assign: false,
        };
        assert!(matches!(
            staff.who(Platform::Telegram, "ann"),
            DeskMember::Agent(a) if a.name == "ann"
        ));
        assert_eq!(staff.who(Platform::Discord, "ann"), DeskMember::Stranger);
        assert_eq!(staff.who(Platform::Telegram, "bob"), DeskMember::Stranger);
        assert_eq!(staff.agent("@ANN").map(|a| a.name.as_str()), Some("ann"));
        assert!(staff.agent("bob").is_none());
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
