//! The web chat: a third customer channel. A visitor is known by a random cookie; their
//! messages and button presses become [`Inbound`] items for
//! [`crate::service::Service::handle`]. The web transport delivers by recording the
//! message in the store ([`Store::append_web_message`]),
//! so the store is the chat's log: a browser's event stream (server-sent events) replays it
//! after its `Last-Event-ID`, a restart keeps it, and a replica serves a message another
//! replica's outbox worker delivered. Open streams are woken at once by deliveries in this
//! process and by the store's notifications from other processes
//! ([`Store::watch_web_messages`]), with a short poll as the fallback. Desk answers to the
//! web console (`web:desk`) are kept the same way (chat `desk:N`) and shown on the ticket
//! page.
//!
//! Translation only: the service decides what to answer.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
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
use tokio::sync::watch;

use crate::domain::{CustomerIdentity, Language, Outbound, OutboundBody, Platform, TicketNo};
use crate::ports::{ChatTransport, Clock, Delivered, DeliveryError};
use crate::service::{Inbound, InboundContent};
use crate::store::{Store, StoreError};

use super::console::DESK_CHAT_ID;
use super::{cookie, is_https, random_token, set_cookie, Web};

/// Cookie naming the visitor's chat.
pub const CHAT_COOKIE: &str = "fd_chat";
/// Messages replayed to a browser that has seen none, and read per store query.
const REPLAY_LEN: u32 = 100;
/// How long a stream waits for a wake-up before it looks at the store anyway (a lost
/// notification, a replica whose LISTEN connection is reconnecting).
const POLL: Duration = Duration::from_secs(5);
/// How long the visitor's cookie lasts (30 days).
const CHAT_COOKIE_AGE: u64 = 30 * 24 * 3600;
/// Longest message accepted from the browser (characters).
const MAX_TEXT: usize = 4000;

/// One message as the browser gets it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebMessage {
    /// The message's id in the store (the SSE event id).
    pub id: i64,
    pub text: String,
    pub buttons: Vec<Vec<WebButton>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebButton {
    pub label: String,
    pub data: String,
}

impl From<crate::store::WebMessage> for WebMessage {
    fn from(m: crate::store::WebMessage) -> WebMessage {
        WebMessage {
            id: m.id,
            text: m.text,
            buttons: m
                .buttons
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|b| WebButton {
                            label: b.label,
                            data: b.data,
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

/// Open streams of this process by chat: a counter bumped when the chat may have news.
#[derive(Default)]
struct Streams {
    chats: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Streams {
    fn subscribe(&self, chat: &str) -> watch::Receiver<u64> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        // Chats whose streams all ended are forgotten here, so the map stays small.
        chats.retain(|_, tx| tx.receiver_count() > 0);
        chats
            .entry(chat.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes the streams of `chat`, or of every chat (`None`).
    fn wake(&self, chat: Option<&str>) {
        let chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        let bump = |tx: &watch::Sender<u64>| tx.send_modify(|n| *n = n.wrapping_add(1));
        match chat {
            Some(chat) => {
                if let Some(tx) = chats.get(chat) {
                    bump(tx);
                }
            }
            None => chats.values().for_each(bump),
        }
    }
}

/// Delivers to web chats (and the web console's desk answers) by recording them in the
/// store, then wakes this process's open streams of the chat. Delivery never waits for a
/// browser.
pub struct WebTransport {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    streams: Arc<Streams>,
}

fn desk_key(no: TicketNo) -> String {
    format!("{DESK_CHAT_ID}:{}", no.0)
}

impl WebTransport {
    /// A transport over `store`; streams are also woken by other processes' deliveries.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> WebTransport {
        let streams = Arc::new(Streams::default());
        let weak: Weak<Streams> = Arc::downgrade(&streams);
        store.watch_web_messages(Arc::new(move |chat| {
            if let Some(streams) = weak.upgrade() {
                streams.wake(chat);
            }
        }));
        WebTransport {
            store,
            clock,
            streams,
        }
    }

    /// The chat's messages after `after` (the latest 100 when `None`), then each new one
    /// as it is delivered. Ends only when the browser goes away.
    pub fn stream(&self, chat: &str, after: Option<i64>) -> impl Stream<Item = WebMessage> {
        struct State {
            store: Arc<dyn Store>,
            chat: String,
            after: Option<i64>,
            ready: VecDeque<WebMessage>,
            wake: watch::Receiver<u64>,
        }
        let state = State {
            store: Arc::clone(&self.store),
            chat: chat.to_string(),
            after,
            ready: VecDeque::new(),
            // Subscribed before the first read, so no delivery falls in between.
            wake: self.streams.subscribe(chat),
        };
        stream::unfold(state, |mut s| async move {
            loop {
                if let Some(m) = s.ready.pop_front() {
                    s.after = Some(m.id);
                    return Some((m, s));
                }
                s.wake.borrow_and_update();
                match s.store.web_messages(&s.chat, s.after, REPLAY_LEN).await {
                    Ok(found) if !found.is_empty() => {
                        s.ready.extend(found.into_iter().map(WebMessage::from));
                        continue;
                    }
                    // Nothing yet: from now on every message is new, however many come.
                    Ok(_) => {
                        s.after.get_or_insert(0);
                    }
                    Err(e) => tracing::debug!(error = %e, "web chat: store not readable; retrying"),
                }
                tokio::select! {
                    woken = s.wake.changed() => {
                        // The transport is gone (shutting down): poll until the browser goes.
                        if woken.is_err() {
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        })
    }

    /// The latest messages of a web chat (at most 100), oldest first.
    pub async fn history(&self, chat: &str) -> Result<Vec<WebMessage>, StoreError> {
        Ok(self
            .store
            .web_messages(chat, None, REPLAY_LEN)
            .await?
            .into_iter()
            .map(WebMessage::from)
            .collect())
    }

    /// What the desk answered the web console about a ticket (claims, refusals, …).
    pub async fn desk_notices(&self, no: TicketNo) -> Result<Vec<String>, StoreError> {
        Ok(self
            .history(&desk_key(no))
            .await?
            .into_iter()
            .map(|m| m.text)
            .collect())
    }
}

#[async_trait]
impl ChatTransport for WebTransport {
    fn platform(&self) -> Platform {
        Platform::Web
    }

    async fn deliver(&self, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.record(None, message).await
    }

    /// Keyed by the outbox item, so a repeated delivery shows the message once.
    async fn deliver_item(&self, id: i64, message: &Outbound) -> Result<Delivered, DeliveryError> {
        self.record(Some(id), message).await
    }
}

impl WebTransport {
    /// The delivery: the message recorded in the store, this process's streams woken.
    async fn record(
        &self,
        outbox_id: Option<i64>,
        message: &Outbound,
    ) -> Result<Delivered, DeliveryError> {
        let key = if message.to.chat_id == DESK_CHAT_ID {
            // The console addresses a ticket's answers to its symbolic thread (`ticket:N`).
            let no = message.to.ticket_of_thread().or_else(|| {
                message
                    .to
                    .thread_id
                    .as_deref()
                    .and_then(|t| t.parse().ok())
                    .map(TicketNo)
            });
            match no {
                Some(no) => desk_key(no),
                None => DESK_CHAT_ID.to_string(),
            }
        } else {
            message.to.chat_id.clone()
        };
        let (text, buttons) = match &message.body {
            OutboundBody::Text { text, buttons } => (text.clone(), buttons.clone()),
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
        let id = self
            .store
            .append_web_message(
                &key,
                &text,
                &buttons,
                outbox_id,
                message.ticket,
                self.clock.now(),
            )
            .await
            .map_err(|e| DeliveryError::Transient(format!("web chat not recorded: {e}")))?;
        self.streams.wake(Some(&key));
        Ok(Delivered {
            platform_message_id: Some(id.to_string()),
        })
    }
}

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/chat", get(chat_page))
        .route("/chat/send", post(send))
        .route("/chat/button", post(button))
        .route("/chat/events", get(events))
        .route("/chat/widget.js", get(super::widget::script))
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
            [(header::SET_COOKIE, chat_cookie(&id, is_https(&headers)))],
            page,
        )
            .into_response(),
        None => page.into_response(),
    }
}

/// The visitor's cookie. Behind https it also works in the widget's frame on another
/// site: `SameSite=None` (the chat's writes take JSON only, which another site cannot send
/// without CORS) and `Partitioned` (kept per embedding site, where browsers block
/// third-party cookies). Plain http keeps `Lax`, as browsers refuse `None` without `Secure`.
fn chat_cookie(id: &str, https: bool) -> String {
    if https {
        let mut cookie = set_cookie(CHAT_COOKIE, id, "None", true, Some(CHAT_COOKIE_AGE));
        cookie.push_str("; Partitioned");
        cookie
    } else {
        set_cookie(CHAT_COOKIE, id, "Lax", false, Some(CHAT_COOKIE_AGE))
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
        .and_then(|v| v.trim().parse::<i64>().ok());
    let events = web.chat.stream(&chat, after).map(|m| {
        let data = serde_json::to_string(&m).unwrap_or_else(|_| "{}".into());
        Ok::<_, Infallible>(Event::default().id(m.id.to_string()).data(data))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
