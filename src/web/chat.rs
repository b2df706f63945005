//! The web chat: a third customer channel. A visitor is known by a random cookie; their
//! messages and button presses become [`Inbound`] items for [`Service::handle`]; what the
//! outbox delivers to `web` chats is kept in a short per-chat log and pushed to the
//! browser by server-sent events (a reload replays the log). Desk answers to the web
//! console (`web:desk`) are kept the same way and shown on the ticket page.
//!
//! Translation only: the service decides what to answer.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use maud::{html, PreEscaped};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::{CustomerIdentity, Language, Outbound, OutboundBody, Platform, TicketNo};
use crate::ports::{ChatTransport, Delivered, DeliveryError};
use crate::service::{Inbound, InboundContent};

use super::console::DESK_CHAT_ID;
use super::{cookie, is_https, random_token, set_cookie, Web};

/// Cookie naming the visitor's chat.
pub const CHAT_COOKIE: &str = "fd_chat";
/// Messages kept per chat for replay after a reload.
const LOG_LEN: usize = 100;
/// How long the visitor's cookie lasts (30 days).
const CHAT_COOKIE_AGE: u64 = 30 * 24 * 3600;
/// Longest message accepted from the browser (characters).
const MAX_TEXT: usize = 4000;

/// One message as the browser gets it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebMessage {
    /// Position in the chat's log (the SSE event id).
    pub id: u64,
    pub text: String,
    pub buttons: Vec<Vec<WebButton>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebButton {
    pub label: String,
    pub data: String,
}

struct ChatLog {
    next: u64,
    items: VecDeque<WebMessage>,
    live: broadcast::Sender<WebMessage>,
}

impl ChatLog {
    fn new() -> ChatLog {
        ChatLog {
            next: 1,
            items: VecDeque::new(),
            live: broadcast::channel(64).0,
        }
    }
}

/// Delivers to web chats (and the web console's desk answers): appends to the chat's log
/// and wakes its open event streams. Delivery never waits for a browser.
#[derive(Default)]
pub struct WebTransport {
    chats: Mutex<HashMap<String, ChatLog>>,
}

fn desk_key(no: TicketNo) -> String {
    format!("{DESK_CHAT_ID}:{}", no.0)
}

impl WebTransport {
    pub fn new() -> WebTransport {
        WebTransport::default()
    }

    fn push(&self, key: String, text: String, buttons: Vec<Vec<WebButton>>) -> bool {
        let Ok(mut chats) = self.chats.lock() else {
            return false;
        };
        let log = chats.entry(key).or_insert_with(ChatLog::new);
        let message = WebMessage {
            id: log.next,
            text,
            buttons,
        };
        log.next += 1;
        log.items.push_back(message.clone());
        while log.items.len() > LOG_LEN {
            log.items.pop_front();
        }
        // No open stream is fine: the log replays it when the visitor comes back.
        let _ = log.live.send(message);
        true
    }

    /// The chat's messages after `after`, and a receiver for the ones still to come (taken
    /// under one lock, so nothing falls between the two).
    pub fn subscribe(
        &self,
        chat: &str,
        after: u64,
    ) -> Option<(Vec<WebMessage>, broadcast::Receiver<WebMessage>)> {
        let mut chats = self.chats.lock().ok()?;
        let log = chats.entry(chat.to_string()).or_insert_with(ChatLog::new);
        let past = log.items.iter().filter(|m| m.id > after).cloned().collect();
        Some((past, log.live.subscribe()))
    }

    /// The messages of a web chat kept for replay.
    pub fn history(&self, chat: &str) -> Vec<WebMessage> {
        self.subscribe(chat, 0)
            .map(|(past, _)| past)
            .unwrap_or_default()
    }

    /// What the desk answered the web console about a ticket (claims, refusals, …).
    pub fn desk_notices(&self, no: TicketNo) -> Vec<String> {
        self.history(&desk_key(no))
            .into_iter()
            .map(|m| m.text)
            .collect()
    }
}

#[async_trait]
impl ChatTransport for WebTransport {
    fn platform(&self) -> Platform {
        Platform::Web
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        let key = if message.to.chat_id == DESK_CHAT_ID {
            match message.to.thread_id.as_deref().and_then(|t| t.parse().ok()) {
                Some(no) => desk_key(TicketNo(no)),
                None => DESK_CHAT_ID.to_string(),
            }
        } else {
            message.to.chat_id.clone()
        };
        let (text, buttons) = match &message.body {
            OutboundBody::Text { text, buttons } => (
                text.clone(),
                buttons
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|b| WebButton {
                                label: b.label.clone(),
                                data: b.data.clone(),
                            })
                            .collect()
                    })
                    .collect(),
            ),
            OutboundBody::File {
                attachment,
                caption,
            } => (
                format!(
                    "{caption}\n[file: {}]",
                    attachment.name.as_deref().unwrap_or("attachment")
                )
                .trim()
                .to_string(),
                Vec::new(),
            ),
            // Thread operations mean nothing in a web chat.
            _ => return Ok(Delivered::default()),
        };
        if self.push(key, text, buttons) {
            Ok(Delivered::default())
        } else {
            Err(DeliveryError::Transient("web chat log poisoned".into()))
        }
    }
}

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/chat", get(chat_page))
        .route("/chat/send", post(send))
        .route("/chat/button", post(button))
        .route("/chat/events", get(events))
}

/// The visitor's chat id from the cookie, if it is one we could have made.
fn visitor(headers: &HeaderMap) -> Option<String> {
    cookie(headers, CHAT_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn identity(chat: &str, headers: &HeaderMap) -> CustomerIdentity {
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Language::from_locale);
    CustomerIdentity {
        platform: Platform::Web,
        user_id: chat.to_string(),
        chat_id: chat.to_string(),
        display_name: format!("web visitor {}", &chat[..6.min(chat.len())]),
        language,
    }
}

const CHAT_SCRIPT: &str = r#"
const log = document.getElementById('log');
function bubble(text, mine, buttons) {
  const div = document.createElement('div');
  div.className = 'msg ' + (mine ? 'mine' : 'bot');
  div.textContent = text;
  (buttons || []).forEach(row => {
    const line = document.createElement('div');
    row.forEach(b => {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = b.label;
      btn.dataset.data = b.data;
      btn.addEventListener('click', () => press(b));
      line.appendChild(btn);
    });
    div.appendChild(line);
  });
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
}
function id() { return Date.now().toString(36) + Math.random().toString(36).slice(2); }
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  if (!r.ok) { bubble('Not sent: ' + (await r.text()), true, []); }
}
function press(b) { bubble(b.label, true, []); post('/chat/button', {id: id(), data: b.data}); }
document.getElementById('send').addEventListener('submit', e => {
  e.preventDefault();
  const input = document.getElementById('text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  bubble(text, true, []);
  post('/chat/send', {id: id(), text: text});
});
const events = new EventSource('/chat/events');
events.onmessage = e => { const m = JSON.parse(e.data); bubble(m.text, false, m.buttons); };
"#;

const CHAT_STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
#log{flex:1;overflow-y:auto;padding:.7em;background:#f6f7f9}
.msg{max-width:80%;margin:.3em 0;padding:.4em .6em;border-radius:.5em;white-space:pre-wrap}
.bot{background:#fff;border:1px solid #ddd}.mine{background:#dcf0ff;margin-left:auto}
.msg button{margin:.3em .3em 0 0}
form{display:flex;border-top:1px solid #ddd}#text{flex:1;padding:.6em;border:0}
";

/// The chat page; gives a new visitor their random id.
async fn chat_page(headers: HeaderMap) -> Response {
    let new_id = match visitor(&headers) {
        Some(_) => None,
        None => match random_token() {
            Some(id) => Some(id),
            None => {
                return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response()
            }
        },
    };
    let page = Html(html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Support chat" }
                style { (PreEscaped(CHAT_STYLE)) }
            }
            body {
                div #log aria-live="polite" {}
                form #send {
                    input #text name="text" autocomplete="off" placeholder="Type your question…" maxlength=(MAX_TEXT);
                    button type="submit" { "Send" }
                }
                script { (PreEscaped(CHAT_SCRIPT)) }
            }
        }
    }.into_string());
    match new_id {
        Some(id) => (
            [(
                header::SET_COOKIE,
                set_cookie(
                    CHAT_COOKIE,
                    &id,
                    "Lax",
                    is_https(&headers),
                    Some(CHAT_COOKIE_AGE),
                ),
            )],
            page,
        )
            .into_response(),
        None => page.into_response(),
    }
}

#[derive(Deserialize)]
pub struct SendBody {
    /// The browser's id for this message: a retried request is processed once.
    #[serde(default)]
    id: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
pub struct ButtonBody {
    #[serde(default)]
    id: String,
    data: String,
}

fn message_key(chat: &str, id: &str) -> Option<String> {
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let id = if id.is_empty() { random_token()? } else { id };
    Some(format!("web:{chat}:{id}"))
}

async fn handle(web: &Web, headers: &HeaderMap, id: &str, content: InboundContent) -> Response {
    let Some(chat) = visitor(headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            "Reload the chat page to start a chat.",
        )
            .into_response();
    };
    let Some(key) = message_key(&chat, id) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response();
    };
    let inbound = Inbound {
        key,
        from: identity(&chat, headers),
        content,
    };
    match web.service.handle(inbound).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::warn!("web chat: message not processed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Not received, please send it again in a moment.",
            )
                .into_response()
        }
    }
}

async fn send(State(web): State<Web>, headers: HeaderMap, Json(body): Json<SendBody>) -> Response {
    let text = body.text.trim();
    if text.is_empty() {
        return (StatusCode::BAD_REQUEST, "Empty message.").into_response();
    }
    if text.chars().count() > MAX_TEXT {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Message too long.").into_response();
    }
    let content = InboundContent::Message {
        text: text.to_string(),
        attachments: Vec::new(),
    };
    handle(&web, &headers, &body.id, content).await
}

async fn button(
    State(web): State<Web>,
    headers: HeaderMap,
    Json(body): Json<ButtonBody>,
) -> Response {
    if body.data.len() > 256 {
        return (StatusCode::BAD_REQUEST, "Unknown button.").into_response();
    }
    handle(
        &web,
        &headers,
        &body.id,
        InboundContent::Button { data: body.data },
    )
    .await
}

/// The visitor's messages as server-sent events: the log after `Last-Event-ID`, then live.
async fn events(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some(chat) = visitor(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            "Reload the chat page to start a chat.",
        )
            .into_response();
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let Some((past, live)) = web.chat.subscribe(&chat, after) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "chat unavailable").into_response();
    };
    Sse::new(message_stream(past, live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn message_stream(
    past: Vec<WebMessage>,
    live: broadcast::Receiver<WebMessage>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let last = past.last().map_or(0, |m| m.id);
    let live = stream::unfold((live, last), |(mut rx, last)| async move {
        loop {
            match rx.recv().await {
                Ok(m) if m.id <= last => continue,
                Ok(m) => return Some((m.clone(), (rx, m.id))),
                // A slow browser missed some: it gets the rest; a reload replays the log.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    stream::iter(past).chain(live).map(|m| {
        let data = serde_json::to_string(&m).unwrap_or_else(|_| "{}".into());
        Ok(Event::default().id(m.id.to_string()).data(data))
    })
}
