//! Console channel: a customer session in the terminal (`frontdesk chat`).
//!
//! Reads standard input line by line (works piped, without a terminal), sends each line
//! through the same pipeline as every other channel, and prints what the outbox
//! delivers. Buttons are shown numbered; typing the number presses the button.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::domain::{Button, CustomerIdentity, Language, Outbound, OutboundBody, Platform};
use crate::ports::{ChatTransport, Delivered, DeliveryError};
use crate::service::{Inbound, InboundContent, Service, ServiceError};

/// Prints outbound messages for console chats; remembers the last buttons shown.
pub struct ConsoleTransport {
    out: Mutex<Box<dyn Write + Send>>,
    last_buttons: Arc<Mutex<Vec<Button>>>,
}

impl ConsoleTransport {
    pub fn new(out: Box<dyn Write + Send>) -> ConsoleTransport {
        ConsoleTransport {
            out: Mutex::new(out),
            last_buttons: Arc::new(Mutex::new(Vec::new())),
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
    let OutboundBody::Text { text, buttons } = &message.body;
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { "bot> " } else { "     " });
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
        let (text, buttons) = render(message);
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
        mut deliver: F,
    ) -> Result<(), ServiceError>
    where
        R: AsyncBufRead + Unpin,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
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
            let inbound = self.inbound(line_no, &line, &transport.last_buttons());
            service.handle(inbound).await?;
            deliver().await;
        }
        Ok(())
    }
}
