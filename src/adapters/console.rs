//! Console channel: a customer session in the terminal (`frontdesk chat`) and an agent's
//! desk in the terminal (`frontdesk desk`).
//!
//! Reads standard input line by line (works piped, without a terminal), sends each line
//! through the same pipeline as every other channel, and prints what the outbox
//! delivers. Buttons are shown numbered; typing the number presses the button. The
//! console desk addresses a ticket by a `#N` prefix (`#12 /claim`), standing in for the
//! thread a real desk platform would give; its answers go to the `desk` console chat.
//! Translation only: the service decides.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::domain::{
    Button, ChatAddress, CustomerIdentity, Language, Outbound, OutboundBody, Platform, TicketNo,
};
use crate::ports::{ChatTransport, Delivered, DeliveryError};
use crate::service::{Agent, DeskInbound, Inbound, InboundContent, Service, ServiceError};

/// Console chat id of the agents' desk; a ticket's "thread" is its number.
pub const DESK_CHAT_ID: &str = "desk";

/// Prints outbound messages for console chats; remembers the last buttons shown.
pub struct ConsoleTransport {
    out: Mutex<Box<dyn Write + Send>>,
    last_buttons: Arc<Mutex<Vec<Button>>>,
    /// Desk mode: messages to customers are labelled with their chat.
    show_recipients: bool,
}

impl ConsoleTransport {
    pub fn new(out: Box<dyn Write + Send>) -> ConsoleTransport {
        ConsoleTransport {
            out: Mutex::new(out),
            last_buttons: Arc::new(Mutex::new(Vec::new())),
            show_recipients: false,
        }
    }

    /// For `frontdesk desk`: shows who each customer message went to.
    pub fn for_desk(out: Box<dyn Write + Send>) -> ConsoleTransport {
        ConsoleTransport {
            show_recipients: true,
            ..ConsoleTransport::new(out)
        }
    }

    /// The buttons of the last message printed, in the order they were numbered.
    pub fn last_buttons(&self) -> Vec<Button> {
        self.last_buttons
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }
}

/// Renders one message for the terminal: text, then numbered buttons.
pub fn render(message: &Outbound) -> (String, Vec<Button>) {
    render_with(message, false)
}

/// Like [`render`]; `show_recipients` labels messages to customers with their chat.
pub fn render_with(message: &Outbound, show_recipients: bool) -> (String, Vec<Button>) {
    let (text, buttons) = match &message.body {
        OutboundBody::Text { text, buttons } => (text.clone(), buttons.as_slice()),
        // Desk thread operations and files have no terminal form beyond a note.
        other => (other.summary(), &[][..]),
    };
    let text = &text;
    let to = &message.to;
    let head = if to.platform == Platform::Console && to.chat_id == DESK_CHAT_ID {
        match &to.thread_id {
            Some(thread) => format!("desk #{thread}> "),
            None => "desk> ".to_string(),
        }
    } else if show_recipients {
        format!("to {}:{}> ", to.platform, to.chat_id)
    } else {
        "bot> ".to_string()
    };
    let indent = " ".repeat(head.chars().count());
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { &head } else { &indent });
        out.push_str(line);
        out.push('\n');
    }
    let flat: Vec<Button> = buttons.iter().flatten().cloned().collect();
    for (i, b) in flat.iter().enumerate() {
        out.push_str(&format!("     [{}] {}\n", i + 1, b.label));
    }
    (out, flat)
}

#[async_trait]
impl ChatTransport for ConsoleTransport {
    fn platform(&self) -> Platform {
        Platform::Console
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        let (text, buttons) = render_with(message, self.show_recipients);
        let mut out = self
            .out
            .lock()
            .map_err(|_| DeliveryError::Transient("console output poisoned".into()))?;
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| DeliveryError::Transient(format!("console output: {e}")))?;
        if let Ok(mut last) = self.last_buttons.lock() {
            *last = buttons;
        }
        Ok(Delivered::default())
    }
}

/// A scripted or interactive console session for one customer.
pub struct ConsoleSession {
    pub user: String,
    pub language: Option<Language>,
    /// Makes dedup keys unique per session, so the same line typed twice is two messages.
    pub session_id: String,
}

impl ConsoleSession {
    pub fn identity(&self) -> CustomerIdentity {
        CustomerIdentity {
            platform: Platform::Console,
            user_id: self.user.clone(),
            chat_id: self.user.clone(),
            display_name: self.user.clone(),
            language: self.language,
        }
    }

    /// Turns one input line into an inbound item (a number presses a shown button).
    pub fn inbound(&self, line_no: u64, line: &str, shown: &[Button]) -> Inbound {
        let trimmed = line.trim();
        let content = match trimmed
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| shown.get(i))
        {
            Some(button) => InboundContent::Button {
                data: button.data.clone(),
            },
            None => InboundContent::Message {
                text: trimmed.to_string(),
                attachments: Vec::new(),
            },
        };
        Inbound {
            key: format!("console:{}:{}:{line_no}", self.user, self.session_id),
            from: self.identity(),
            content,
        }
    }

    /// Runs until end of input. After each line, `deliver` is awaited so replies are printed
    /// before the next line is read.
    pub async fn run<R, F, Fut>(
        &self,
        service: &Service,
        transport: &ConsoleTransport,
        input: R,
        deliver: F,
    ) -> Result<(), ServiceError>
    where
        R: AsyncBufRead + Unpin,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        drive_lines(input, deliver, |line_no, line| {
            let inbound = self.inbound(line_no, &line, &transport.last_buttons());
            async move { service.handle(inbound).await.map(drop) }
        })
        .await
    }
}

/// A console desk session for one agent: `#12 /claim`, `#12 text for the customer`, `/queue`.
pub struct ConsoleDesk {
    pub agent: String,
    /// Makes dedup keys unique per session.
    pub session_id: String,
}

impl ConsoleDesk {
    /// Turns one input line into a desk message: a leading `#N` names the ticket (its
    /// "thread"); without it only desk-wide commands work.
    pub fn inbound(&self, line_no: u64, line: &str) -> DeskInbound {
        let trimmed = line.trim();
        let (ticket, text) = match trimmed.split_once(char::is_whitespace) {
            Some((first, rest)) if first.starts_with('#') => match first.parse::<TicketNo>() {
                Ok(no) => (Some(no), rest.trim()),
                Err(_) => (None, trimmed),
            },
            None if trimmed.starts_with('#') => match trimmed.parse::<TicketNo>() {
                Ok(no) => (Some(no), ""),
                Err(_) => (None, trimmed),
            },
            _ => (None, trimmed),
        };
        DeskInbound {
            key: format!("console-desk:{}:{}:{line_no}", self.agent, self.session_id),
            agent: Agent {
                platform: Platform::Console,
                user_id: self.agent.clone(),
                name: self.agent.clone(),
            },
            ticket,
            reply_to: ChatAddress {
                platform: Platform::Console,
                chat_id: DESK_CHAT_ID.into(),
                thread_id: ticket.map(|no| no.0.to_string()),
            },
            text: text.to_string(),
        }
    }

    /// Runs until end of input; `deliver` is awaited after each line so answers are
    /// printed before the next line is read.
    pub async fn run<R, F, Fut>(
        &self,
        service: &Service,
        input: R,
        deliver: F,
    ) -> Result<(), ServiceError>
    where
        R: AsyncBufRead + Unpin,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        drive_lines(input, deliver, |line_no, line| {
            let inbound = self.inbound(line_no, &line);
            async move { service.handle_desk(inbound).await.map(drop) }
        })
        .await
    }
}

/// The console loop shared by customer and agent sessions: delivers what is pending, then
/// for each non-empty line calls `handle` and delivers its replies before reading on.
/// Stops at end of input, `/quit`, `/exit`, or unreadable input (said on stderr).
async fn drive_lines<R, F, Fut, H, HFut>(
    input: R,
    mut deliver: F,
    mut handle: H,
) -> Result<(), ServiceError>
where
    R: AsyncBufRead + Unpin,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
    H: FnMut(u64, String) -> HFut,
    HFut: std::future::Future<Output = Result<(), ServiceError>>,
{
    deliver().await; // anything left from an earlier session
    let mut lines = input.lines();
    let mut line_no = 0u64;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                // Invalid UTF-8 or a broken pipe: say so and stop reading, nothing half-done.
                tracing::warn!("console input unreadable: {e}");
                eprintln!("frontdesk: input is not valid UTF-8 text ({e}); stopping");
                break;
            }
        };
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        if matches!(line.trim(), "/quit" | "/exit") {
            break;
        }
        handle(line_no, line).await?;
        deliver().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk() -> ConsoleDesk {
        ConsoleDesk {
            agent: "sam".into(),
            session_id: "s1".into(),
        }
    }

    #[test]
    fn a_ticket_prefix_names_the_thread() {
        let i = desk().inbound(3, "#12 /claim");
        assert_eq!(i.ticket, Some(TicketNo(12)));
        assert_eq!(i.text, "/claim");
        assert_eq!(i.reply_to.thread_id.as_deref(), Some("12"));
        assert_eq!(i.reply_to.chat_id, DESK_CHAT_ID);
        assert_eq!(i.key, "console-desk:sam:s1:3");
        let i = desk().inbound(4, "  #7   Hello there, try now ");
        assert_eq!(
            (i.ticket, i.text.as_str()),
            (Some(TicketNo(7)), "Hello there, try now")
        );
        let i = desk().inbound(5, "/queue");
        assert_eq!((i.ticket, i.reply_to.thread_id), (None, None));
        let i = desk().inbound(6, "#x hello");
        assert_eq!((i.ticket, i.text.as_str()), (None, "#x hello"));
    }

    #[test]
    fn desk_lines_are_labelled() {
        let mut to = ChatAddress::new(Platform::Console, DESK_CHAT_ID);
        to.thread_id = Some("4".into());
        let (text, _) = render(&Outbound::text(to, "claimed\nsecond"));
        assert_eq!(text, "desk #4> claimed\n         second\n");
        let customer = Outbound::text(ChatAddress::new(Platform::Console, "ana"), "hi");
        assert_eq!(render(&customer).0, "bot> hi\n");
        assert_eq!(render_with(&customer, true).0, "to console:ana> hi\n");
    }
}
