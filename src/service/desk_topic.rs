//! A ticket's thread in the agents' desk (a Telegram forum topic): opening it with the
//! ticket card when the ticket is created, mirroring the customer's words and files into
//! it, and keeping its title and open/closed state in step with the ticket.
//!
//! Platform-neutral: everything is an outbox item to the symbolic address
//! [`ChatAddress::ticket_thread`] (`ticket:N`), so the topic's creation, its card and every
//! later message share one ordered lane; the transport resolves the address to the
//! platform's thread id once the thread exists. Card buttons come back as
//! [`DeskButton`]s, which adapters turn into the equivalent desk command. Nothing is sent
//! from here and no platform type is used.

use crate::domain::{
    Attachment, Button, ChatAddress, Customer, Outbound, OutboundBody, Platform, Priority, Ticket,
    TicketNo, TicketState, Timestamp,
};
use crate::store::{StoreError, Tx};

/// Longest thread title (Telegram's topic name limit).
pub const TITLE_CHARS: usize = 128;

/// Where the agents' desk is: the chat in which every ticket gets its own thread.
/// Configured from the platform settings (e.g. `TELEGRAM_DESK_CHAT_ID`); the core only
/// knows it as an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskRoute {
    pub platform: Platform,
    pub chat_id: String,
}

impl DeskRoute {
    pub fn new(platform: Platform, chat_id: impl Into<String>) -> DeskRoute {
        DeskRoute {
            platform,
            chat_id: chat_id.into(),
        }
    }

    /// The ticket's thread (symbolic until the platform created it).
    pub fn thread(&self, no: TicketNo) -> ChatAddress {
        ChatAddress::ticket_thread(self.platform, self.chat_id.clone(), no)
    }

    /// The desk chat itself (a forum's General topic).
    pub fn chat(&self) -> ChatAddress {
        ChatAddress::new(self.platform, self.chat_id.clone())
    }
}

/// A press of a ticket card button; `data` is what the platform hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskButton {
    Claim(TicketNo),
    Priority(TicketNo, Priority),
    /// Resolving needs a solution text: the press only asks for it.
    Resolve(TicketNo),
}

impl DeskButton {
    pub fn encode(&self) -> String {
        match self {
            DeskButton::Claim(no) => format!("claim:{}", no.0),
            DeskButton::Priority(no, p) => format!("prio:{}:{}", no.0, p.as_str()),
            DeskButton::Resolve(no) => format!("resolve:{}", no.0),
        }
    }

    pub fn decode(data: &str) -> Option<DeskButton> {
        let mut parts = data.split(':');
        let kind = parts.next()?;
        let no = parts.next()?.parse::<TicketNo>().ok()?;
        let button = match (kind, parts.next()) {
            ("claim", None) => DeskButton::Claim(no),
            ("resolve", None) => DeskButton::Resolve(no),
            ("prio", Some(p)) => DeskButton::Priority(no, p.parse().ok()?),
            _ => return None,
        };
        parts.next().is_none().then_some(button)
    }

    pub fn ticket(&self) -> TicketNo {
        match self {
            DeskButton::Claim(no) | DeskButton::Priority(no, _) | DeskButton::Resolve(no) => *no,
        }
    }

    /// The desk command the press stands for (handled like a typed one). `/resolve` without
    /// a solution answers with its usage line: the agent then types the solution.
    pub fn command(&self) -> String {
        match self {
            DeskButton::Claim(_) => "/claim".into(),
            DeskButton::Priority(_, p) => format!("/priority {}", p.as_str()),
            DeskButton::Resolve(_) => "/resolve".into(),
        }
    }

    fn button(self, label: &str) -> Button {
        Button {
            label: label.into(),
            data: self.encode(),
        }
    }
}

/// The card's buttons: Claim and Resolve, then the three priorities.
pub fn card_buttons(no: TicketNo) -> Vec<Vec<Button>> {
    vec![
        vec![
            DeskButton::Claim(no).button("Claim"),
            DeskButton::Resolve(no).button("Resolve"),
        ],
        Priority::ALL
            .iter()
            .map(|p| DeskButton::Priority(no, *p).button(p.label()))
            .collect(),
    ]
}

/// `#N P2 category — customer`, with a mark for resolved tickets; at most
/// [`TITLE_CHARS`] characters (the customer's name is shortened first).
pub fn topic_title(t: &Ticket, customer_name: &str) -> String {
    let mark = match t.state {
        TicketState::Resolved => "✅ ",
        _ => "",
    };
    let head = format!(
        "{mark}{} {} {} — ",
        t.no,
        t.priority.label(),
        t.category.as_str()
    );
    let name: String = customer_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let room = TITLE_CHARS.saturating_sub(head.chars().count());
    let name = if name.chars().count() <= room {
        name
    } else {
        let mut short: String = name.chars().take(room.saturating_sub(1)).collect();
        short.push('…');
        short
    };
    let title = format!("{head}{name}");
    title.chars().take(TITLE_CHARS).collect()
}

/// The ticket card: who, what, how urgent, until when.
pub fn card_text(t: &Ticket, customer: &Customer, notes: &Opening<'_>) -> String {
    let due = |at: Timestamp| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut extra = format!("\nWhy a person: {}", notes.why);
    if let Some(id) = notes.meanwhile {
        extra.push_str(&format!(
            "\nThe bot sent the FAQ answer {id} meanwhile (\"That helped\" lets the customer close the ticket)."
        ));
    }
    format!(
        "Ticket {no} — {priority}, {category}, {department}\n\
         Customer: {name} ({platform}, {language}){vip}\n\
         First response due: {first}\n\
         Resolution due: {resolution}\n\
         Subject: {subject}{extra}\n\
         Write here to answer the customer; /note for internal notes, /info for history.",
        no = t.no,
        priority = t.priority.label(),
        category = t.category.as_str(),
        department = t.department,
        name = customer.display_name,
        platform = customer.platform.as_str(),
        language = customer.language.as_str(),
        vip = if customer.vip { ", VIP" } else { "" },
        first = due(t.first_response_due),
        resolution = due(t.resolution_due),
        subject = t.subject,
    )
}

/// What opened a ticket: the customer's first message and files, why a person is needed
/// and the FAQ entry sent meanwhile (the card shows the last two; `why` quotes rule names
/// and entry ids, never the customer's words).
#[derive(Clone, Copy)]
pub struct Opening<'a> {
    pub text: &'a str,
    pub attachments: &'a [Attachment],
    pub why: &'a str,
    pub meanwhile: Option<&'a str>,
}

/// How a customer's words appear in the desk thread.
pub fn customer_line(name: &str, no: TicketNo, text: &str, files: usize) -> String {
    let files = match files {
        0 => String::new(),
        1 => "[1 file]".into(),
        n => format!("[{n} files]"),
    };
    let said = [text.trim(), files.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    format!("{name} ({no}): {said}")
}

/// How a customer's words appear in a desk on another platform: file ids mean nothing
/// there, so files are counted — except files kept by URL (Discord's), whose links work
/// everywhere and follow the line.
pub fn foreign_line(name: &str, no: TicketNo, text: &str, attachments: &[Attachment]) -> String {
    let mut line = customer_line(name, no, text, attachments.len());
    for link in attachments
        .iter()
        .map(|a| a.reference.trim())
        .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
    {
        line.push('\n');
        line.push_str(link);
    }
    line
}

/// Opens the ticket's desk thread: the thread, the card, the customer's first message and
/// files — in that order, in the caller's transaction — and records the thread as the
/// ticket's desk address.
pub(super) async fn open(
    tx: &mut Box<dyn Tx>,
    route: &DeskRoute,
    t: &Ticket,
    customer: &Customer,
    opening: &Opening<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Opening {
        text, attachments, ..
    } = *opening;
    let thread = route.thread(t.no);
    let title = topic_title(t, &customer.display_name);
    let items = [
        Outbound {
            to: thread.clone(),
            ticket: Some(t.no),
            body: OutboundBody::OpenThread { title },
        },
        Outbound::text(thread.clone(), card_text(t, customer, opening))
            .with_buttons(card_buttons(t.no))
            .for_ticket(t.no),
    ];
    for item in &items {
        tx.enqueue(item, now).await?;
    }
    tx.set_desk_thread(t.no, &thread).await?;
    // A file id means something only on its own platform; elsewhere the line counts them.
    if customer.platform == route.platform {
        mirror(
            tx,
            &thread,
            t.no,
            &customer.display_name,
            text,
            attachments,
            now,
        )
        .await
    } else {
        if text.trim().is_empty() && attachments.is_empty() {
            return Ok(());
        }
        let line = foreign_line(&customer.display_name, t.no, text, attachments);
        tx.enqueue(&Outbound::text(thread, line).for_ticket(t.no), now)
            .await
    }
}

/// Mirrors a customer message into a desk thread: the text line, then each file by its
/// platform id. Files only go to threads of the customer's own platform (a file id means
/// nothing elsewhere); otherwise the line names how many there were.
pub(super) async fn mirror(
    tx: &mut Box<dyn Tx>,
    thread: &ChatAddress,
    no: TicketNo,
    name: &str,
    text: &str,
    attachments: &[Attachment],
    now: Timestamp,
) -> Result<(), StoreError> {
    if text.trim().is_empty() && attachments.is_empty() {
        return Ok(());
    }
    let line = customer_line(name, no, text, attachments.len());
    tx.enqueue(&Outbound::text(thread.clone(), line).for_ticket(no), now)
        .await?;
    for attachment in attachments {
        let item = Outbound {
            to: thread.clone(),
            ticket: Some(no),
            body: OutboundBody::File {
                attachment: attachment.clone(),
                caption: String::new(),
            },
        };
        tx.enqueue(&item, now).await?;
    }
    Ok(())
}

/// What a ticket's thread shows, taken before a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ThreadLook {
    title: String,
    closed: bool,
}

impl ThreadLook {
    pub(super) fn of(t: &Ticket, customer_name: &str) -> ThreadLook {
        ThreadLook {
            title: topic_title(t, customer_name),
            closed: t.state == TicketState::Closed,
        }
    }
}

/// Keeps the ticket's desk thread in step after a change: reopened when the ticket
/// reopened, renamed when its title changed, closed when the ticket closed. Only for
/// threads opened by [`open`] (symbolic addresses); other desks have nothing to follow.
pub(super) async fn follow(
    tx: &mut Box<dyn Tx>,
    before: &ThreadLook,
    t: &Ticket,
    customer_name: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(thread) = tx.desk_thread(t.no).await? else {
        return Ok(());
    };
    if thread.ticket_of_thread() != Some(t.no) {
        return Ok(());
    }
    let after = ThreadLook::of(t, customer_name);
    let mut bodies = Vec::new();
    if before.closed && !after.closed {
        bodies.push(OutboundBody::ReopenThread);
    }
    if before.title != after.title {
        bodies.push(OutboundBody::RenameThread {
            title: after.title.clone(),
        });
    }
    if !before.closed && after.closed {
        bodies.push(OutboundBody::CloseThread);
    }
    for body in bodies {
        let item = Outbound {
            to: thread.clone(),
            ticket: Some(t.no),
            body,
        };
        tx.enqueue(&item, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, CustomerId};

    fn ticket(state: TicketState) -> Ticket {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Ticket {
            no: TicketNo(12),
            customer: CustomerId(1),
            state,
            category: Category::AfterSales,
            priority: Priority::P2,
            department: "after_sales".into(),
            assignee: None,
            subject: "refund".into(),
            created_at: at,
            updated_at: at,
            first_response_due: at,
            resolution_due: at,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            waiting_since: None,
            reopens: 0,
            agent_replies: 0,
        }
    }

    #[test]
    fn titles_name_the_ticket_and_fit_telegrams_limit() {
        let t = ticket(TicketState::Open);
        assert_eq!(topic_title(&t, "Ana  Li"), "#12 P2 after_sales — Ana Li");
        assert_eq!(
            topic_title(&ticket(TicketState::Resolved), "Ana"),
            "✅ #12 P2 after_sales — Ana"
        );
        let long = topic_title(&t, &"名".repeat(300));
        assert_eq!(long.chars().count(), TITLE_CHARS);
        assert!(long.starts_with("#12 P2 after_sales — 名"));
        assert!(long.ends_with('…'));
    }

    #[test]
    fn lines_for_another_platforms_desk_keep_file_links() {
        let file = |reference: &str| Attachment {
            kind: "photo".into(),
            reference: reference.into(),
            name: None,
        };
        assert_eq!(
            foreign_line(
                "Ana",
                TicketNo(3),
                "see",
                &[file("AgAD-file-id"), file("https://cdn.example/x.png")]
            ),
            "Ana (#3): see [2 files]\nhttps://cdn.example/x.png"
        );
    }

    #[test]
    fn customer_lines_name_files() {
        assert_eq!(customer_line("Ana", TicketNo(3), " hi ", 0), "Ana (#3): hi");
        assert_eq!(
            customer_line("Ana", TicketNo(3), "", 1),
            "Ana (#3): [1 file]"
        );
        assert_eq!(
            customer_line("Ana", TicketNo(3), "see", 2),
            "Ana (#3): see [2 files]"
        );
    }

    #[test]
    fn the_thread_follows_state_and_priority() {
        let open = ThreadLook::of(&ticket(TicketState::Open), "Ana");
        let mut raised = ticket(TicketState::Open);
        raised.priority = Priority::P1;
        assert_ne!(open, ThreadLook::of(&raised, "Ana"));
        assert!(ThreadLook::of(&ticket(TicketState::Closed), "Ana").closed);
        assert_eq!(
            open,
            ThreadLook::of(&ticket(TicketState::WaitingOnCustomer), "Ana")
        );
    }

    #[test]
    fn buttons_round_trip_and_reject_junk() {
        for b in [
            DeskButton::Claim(TicketNo(7)),
            DeskButton::Resolve(TicketNo(7)),
            DeskButton::Priority(TicketNo(7), Priority::P1),
        ] {
            assert_eq!(DeskButton::decode(&b.encode()), Some(b));
        }
        assert_eq!(
            DeskButton::Priority(TicketNo(3), Priority::P3).command(),
            "/priority P3"
        );
        for junk in [
            "claim",
            "claim:x",
            "claim:0",
            "prio:3",
            "prio:3:P9",
            "claim:3:x",
            "solved:3",
        ] {
            assert_eq!(DeskButton::decode(junk), None, "{junk}");
        }
    }
}
