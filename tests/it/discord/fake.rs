//! An in-process fake of Discord for the real serenity client: REST under `/api/v10`
//! (axum) and a gateway websocket (tokio-tungstenite, the version serenity uses).
//!
//! Records every REST call (method, path after `/api/v10`, JSON body, time), hands out
//! increasing snowflakes, keeps the desk's threads, can be scripted to refuse message
//! posts (429, 403 …). The gateway speaks HELLO → IDENTIFY → READY, heartbeats, RESUME
//! (replaying what the session missed, or refusing with op 9), and can drop the
//! connection or replay every dispatch to a new session (a platform re-delivery).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const TOKEN: &str = "fake-discord-token";
pub const BOT_ID: u64 = 900;
pub const APP_ID: u64 = 901;
pub const GUILD: u64 = 600;
pub const DESK: u64 = 700;
/// Another server the bot is in (its messages must be ignored).
pub const OTHER_GUILD: u64 = 650;

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

/// A scripted answer for the next message post.
#[derive(Debug, Clone)]
pub enum Reply {
    /// HTTP 429 with `retry_after` seconds; `global` as Discord marks it.
    RateLimited { retry_after: f64, global: bool },
    /// Any error status with Discord's JSON error code.
    Error(u16, i64, &'static str),
}

#[derive(Default)]
struct Gateway {
    /// The live connection's outgoing frames.
    live: Option<mpsc::UnboundedSender<WsMessage>>,
    seq: u64,
    /// Every dispatch sent: (seq, type, data).
    log: Vec<(u64, String, Value)>,
    sessions: u64,
    identifies: u64,
    resumes: u64,
    /// Answer the next RESUME with op 9 (not resumable), forcing a new IDENTIFY.
    refuse_resume: bool,
    /// Replay every logged MESSAGE_CREATE / INTERACTION_CREATE after the next READY.
    replay_on_ready: bool,
    /// The intents of the last IDENTIFY.
    intents: u64,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    next_id: u64,
    script: VecDeque<Reply>,
    /// (thread id, name, archived)
    threads: Vec<(u64, String, bool)>,
    gateway: Gateway,
    /// The bot's role lacks thread permissions (a misconfigured server).
    weak_role: bool,
    /// The application has no message content intent enabled.
    no_content_intent: bool,
    /// Messages created with `enforce_nonce`, by nonce: a repeat gets this one back.
    nonces: std::collections::HashMap<String, Value>,
}

struct Inner {
    state: Mutex<FakeState>,
    changed: Notify,
    ws_url: Mutex<String>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    /// Base URL for `DISCORD_API_URL` (no `/api`).
    pub url: String,
    inner: Arc<Inner>,
}

fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0",
           "global_name": name, "avatar": null, "bot": bot})
}

/// A DM channel id per customer (what the gateway's messages carry).
pub fn dm_channel(user_id: u64) -> u64 {
    user_id + 50_000
}

fn message_object(
    id: u64,
    channel: u64,
    guild: Option<u64>,
    author: Value,
    content: &str,
) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
        "content": content, "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "flags": 0, "components": []
    });
    if let Some(g) = guild {
        m["guild_id"] = json!(g.to_string());
    }
    m
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let inner = Arc::new(Inner {
            state: Mutex::new(FakeState {
                next_id: 1_000_000,
                ..FakeState::default()
            }),
            changed: Notify::new(),
            ws_url: Mutex::new(String::new()),
        });
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *inner.ws_url.lock().unwrap() = format!("ws://{}", ws.local_addr().unwrap());
        let gateway_inner = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                tokio::spawn(serve_gateway(gateway_inner.clone(), stream));
            }
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord {
            url: format!("http://{addr}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.state.lock().unwrap()
    }

    pub fn next_id(&self) -> u64 {
        let mut s = self.lock();
        s.next_id += 1;
        s.next_id
    }

    /// Sends a dispatch on the live gateway connection (logged for replays); its seq.
    pub fn dispatch(&self, kind: &str, data: Value) -> u64 {
        let seq = {
            let mut s = self.lock();
            s.gateway.seq += 1;
            let seq = s.gateway.seq;
            s.gateway.log.push((seq, kind.to_string(), data.clone()));
            if let Some(live) = &s.gateway.live {
                let _ = live.send(dispatch_frame(seq, kind, &data));
            }
            seq
        };
        self.inner.changed.notify_waiters();
        seq
    }

    /// A raw frame on the live connection (unknown events, junk).
    pub fn send_raw(&self, frame: Value) {
        if let Some(live) = &self.lock().gateway.live {
            let _ = live.send(WsMessage::Text(frame.to_string()));
        }
    }

    /// A customer's DM; returns the message id.
    pub fn dm(&self, user_id: u64, text: &str) -> u64 {
        self.dm_with(user_id, text, json!({}))
    }

    /// A DM with extra message fields (attachments, author …).
    pub fn dm_with(&self, user_id: u64, text: &str, extra: Value) -> u64 {
        let id = self.next_id();
        let mut m = message_object(
            id,
            dm_channel(user_id),
            None,
            user(user_id, &format!("customer{user_id}"), false),
            text,
        );
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        self.dispatch("MESSAGE_CREATE", m);
        id
    }

    /// An agent's message in `channel` (the desk or a thread) of `guild`.
    pub fn guild_message(&self, guild: u64, channel: u64, agent_id: u64, text: &str) -> u64 {
        let id = self.next_id();
        let mut m = message_object(
            id,
            channel,
            Some(guild),
            user(agent_id, &format!("agent{agent_id}"), false),
            text,
        );
        m["member"] = json!({"roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": false, "mute": false, "flags": 0});
        self.dispatch("MESSAGE_CREATE", m);
        id
    }

    /// An agent's message in a desk thread or the desk channel.
    pub fn agent_says(&self, channel: u64, agent_id: u64, text: &str) -> u64 {
        self.guild_message(GUILD, channel, agent_id, text)
    }

    fn interaction(
        &self,
        kind: u8,
        user_id: u64,
        channel: u64,
        guild: Option<u64>,
        data: Value,
    ) -> u64 {
        let id = self.next_id();
        let mut i = json!({
            "id": id.to_string(), "application_id": APP_ID.to_string(), "type": kind,
            "data": data, "channel_id": channel.to_string(), "token": format!("tok-{id}"),
            "version": 1, "locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {}, "attachment_size_limit": 0,
        });
        let who = user(user_id, &format!("user{user_id}"), false);
        match guild {
            None => i["user"] = who,
            Some(g) => {
                i["guild_id"] = json!(g.to_string());
                i["member"] = json!({"user": who, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                                     "deaf": false, "mute": false, "flags": 0});
            }
        }
        if kind == 3 {
            i["message"] =
                message_object(id - 1, channel, guild, user(BOT_ID, "frontdesk", true), "…");
        }
        self.dispatch("INTERACTION_CREATE", i);
        id
    }

    /// A customer presses a button in their DM; returns the interaction id.
    pub fn press(&self, user_id: u64, custom_id: &str) -> u64 {
        self.interaction(
            3,
            user_id,
            dm_channel(user_id),
            None,
            json!({"custom_id": custom_id, "component_type": 2}),
        )
    }

    /// An agent presses a card button in a desk thread.
    pub fn agent_press(&self, agent_id: u64, thread: u64, custom_id: &str) -> u64 {
        self.interaction(
            3,
            agent_id,
            thread,
            Some(GUILD),
            json!({"custom_id": custom_id, "component_type": 2}),
        )
    }

    /// A slash command: in a DM (`guild` None, channel = the user's DM) or in the desk.
    pub fn command(
        &self,
        user_id: u64,
        guild: Option<u64>,
        channel: u64,
        name: &str,
        arg: Option<(&str, &str)>,
        locale: &str,
    ) -> u64 {
        let options = match arg {
            Some((n, v)) => json!([{"name": n, "type": 3, "value": v}]),
            None => json!([]),
        };
        let id = self.next_id();
        let mut i = json!({
            "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 2,
            "data": {"id": "1", "name": name, "type": 1, "options": options},
            "channel_id": channel.to_string(), "token": format!("tok-{id}"),
            "version": 1, "locale": locale, "entitlements": [],
            "authorizing_integration_owners": {}, "attachment_size_limit": 0,
        });
        let who = user(user_id, &format!("user{user_id}"), false);
        match guild {
            None => i["user"] = who,
            Some(g) => {
                i["guild_id"] = json!(g.to_string());
                i["member"] = json!({"user": who, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                                     "deaf": false, "mute": false, "flags": 0});
            }
        }
        self.dispatch("INTERACTION_CREATE", i);
        id
    }

    pub fn script(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }

    pub fn weaken_role(&self) {
        self.lock().weak_role = true;
    }

    pub fn without_content_intent(&self) {
        self.lock().no_content_intent = true;
    }

    /// Closes the live gateway connection (a network drop); serenity resumes.
    pub fn drop_connection(&self) {
        let live = self.lock().gateway.live.take();
        if let Some(live) = live {
            // 4000 "unknown error": Discord's resumable close.
            let _ = live.send(WsMessage::Close(Some(CloseFrame {
                code: CloseCode::from(4000u16),
                reason: "dropped by the fake".into(),
            })));
        }
    }

    /// Next RESUME is refused (op 9) and every logged dispatch is replayed after the
    /// new READY: what a platform re-delivering events looks like.
    pub fn refuse_resume_and_replay(&self) {
        let mut s = self.lock();
        s.gateway.refuse_resume = true;
        s.gateway.replay_on_ready = true;
    }

    /// Every logged dispatch is sent again after the next READY (a new process's
    /// session getting what Discord believes it has not seen).
    pub fn replay_on_next_ready(&self) {
        self.lock().gateway.replay_on_ready = true;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls whose method and path match (path may end with `*`).
    pub fn calls_to(&self, method: &str, path: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method && path_matches(&c.path, path))
            .cloned()
            .collect()
    }

    /// Messages posted to `channel`, in order.
    pub fn posts(&self, channel: u64) -> Vec<Call> {
        self.calls_to("POST", &format!("/channels/{channel}/messages"))
    }

    /// Messages that exist in `channel` (posts minus repeats Discord dropped by nonce).
    pub fn created(&self, channel: u64) -> usize {
        let posts = self.posts(channel);
        let mut seen = std::collections::HashSet::new();
        posts
            .iter()
            .filter(|p| match p.body["nonce"].as_str() {
                Some(n) if p.body["enforce_nonce"] == true => seen.insert(n.to_string()),
                _ => true,
            })
            .count()
    }

    /// All text a channel received: contents and embed descriptions.
    pub fn texts(&self, channel: u64) -> Vec<String> {
        self.posts(channel).iter().map(text_of).collect()
    }

    pub fn callbacks(&self) -> Vec<Call> {
        self.calls_to("POST", "/interactions/*")
    }

    pub fn threads(&self) -> Vec<(u64, String, bool)> {
        self.lock().threads.clone()
    }

    pub fn identifies(&self) -> u64 {
        self.lock().gateway.identifies
    }

    pub fn resumes(&self) -> u64 {
        self.lock().gateway.resumes
    }

    pub fn intents(&self) -> u64 {
        self.lock().gateway.intents
    }

    pub fn connected(&self) -> bool {
        self.lock().gateway.live.is_some()
    }

    /// Waits (up to 20 s) until `ready` holds; panics with `what` otherwise.
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.inner.changed.notified();
            if ready(self) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {what}; calls: {:#?}",
                    self.calls()
                        .iter()
                        .map(|c| format!("{} {} {}", c.method, c.path, c.body))
                        .collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), changed).await;
        }
    }

    /// Waits until `channel` received at least `n` messages; returns them.
    pub async fn wait_posts(&self, channel: u64, n: usize) -> Vec<Call> {
        self.wait_for(&format!("{n} message(s) in channel {channel}"), |f| {
            f.posts(channel).len() >= n
        })
        .await;
        self.posts(channel)
    }

    /// Waits until the gateway session is up (READY sent).
    pub async fn wait_ready(&self) {
        self.wait_for("gateway READY", |f| {
            f.lock().gateway.sessions > 0 && f.connected()
        })
        .await;
    }
}

/// A posted message's visible text: its content, or its embed's description.
pub fn text_of(call: &Call) -> String {
    call.body["content"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            call.body["embeds"][0]["description"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Every button payload of a posted message.
pub fn custom_ids(call: &Call) -> Vec<String> {
    call.body["components"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn path_matches(path: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

fn dispatch_frame(seq: u64, kind: &str, data: &Value) -> WsMessage {
    WsMessage::Text(json!({"op": 0, "s": seq, "t": kind, "d": data}).to_string())
}

fn discord_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(uri.path())
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut s = inner.state.lock().unwrap();
        s.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
    }
    inner.changed.notify_waiters();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bot {TOKEN}") {
        return discord_error(401, 0, "401: Unauthorized");
    }
    let ws_url = inner.ws_url.lock().unwrap().clone();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut s = inner.state.lock().unwrap();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => Json(json!({"url": ws_url})).into_response(),
        ("GET", ["gateway", "bot"]) => Json(json!({"url": ws_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})).into_response(),
        ("GET", ["users", "@me"]) => Json(json!({"id": BOT_ID.to_string(), "username": "frontdesk",
            "discriminator": "0", "global_name": null, "avatar": null, "bot": true,
            "verified": true, "mfa_enabled": false, "flags": 0, "public_flags": 0})).into_response(),
        ("GET", ["users", "@me", "guilds", _, "member"]) => Json(json!({
            "user": user(BOT_ID, "frontdesk", true), "roles": ["610"],
            "joined_at": "2026-01-01T00:00:00+00:00", "deaf": false, "mute": false, "flags": 0
        })).into_response(),
        ("GET", ["guilds", g, "roles"]) => {
            let role = |id: &str, name: &str, permissions: u64| json!({
                "id": id, "name": name, "color": 0, "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
                "hoist": false, "managed": false, "mentionable": false, "position": 0,
                "permissions": permissions.to_string(), "icon": null, "unicode_emoji": null, "flags": 0
            });
            // View, send, embed links, history; the bot role adds the thread rights.
            let everyone: u64 = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16);
            let threads: u64 = (1 << 34) | (1 << 35) | (1 << 38);
            let bot = if s.weak_role { 0 } else { threads };
            Json(json!([role(g, "@everyone", everyone), role("610", "frontdesk", bot)])).into_response()
        }
        ("GET", ["channels", id]) => {
            if *id == DESK.to_string() {
                Json(json!({"id": id, "type": 0, "guild_id": GUILD.to_string(), "name": "desk",
                            "position": 0, "permission_overwrites": [], "nsfw": false})).into_response()
            } else {
                discord_error(404, 10003, "Unknown Channel")
            }
        }
        ("POST", ["channels", channel, "messages"]) => {
            if let Some(reply) = s.script.pop_front() {
                return match reply {
                    Reply::RateLimited { retry_after, global } => (
                        StatusCode::TOO_MANY_REQUESTS,
                        Json(json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global})),
                    ).into_response(),
                    Reply::Error(status, code, message) => discord_error(status, code, message),
                };
            }
            // Like Discord: the same nonce again (within minutes) creates nothing new.
            let nonce = body["nonce"].as_str().filter(|_| body["enforce_nonce"] == true);
            if let Some(existing) = nonce.and_then(|n| s.nonces.get(n)) {
                return Json(existing.clone()).into_response();
            }
            let content = body["content"].as_str().unwrap_or("");
            let embeds = body["embeds"].as_array().map(|e| e.len()).unwrap_or(0);
            if content.is_empty() && embeds == 0 {
                return discord_error(400, 50006, "Cannot send an empty message");
            }
            if content.chars().count() > 2000 {
                return discord_error(400, 50035, "Invalid Form Body");
            }
            let channel: u64 = channel.parse().unwrap_or(0);
            let known = channel == DESK || s.threads.iter().any(|t| t.0 == channel) || channel > 50_000;
            if !known {
                return discord_error(404, 10003, "Unknown Channel");
            }
            // Posting in an archived thread unarchives it, as Discord does.
            if let Some(t) = s.threads.iter_mut().find(|t| t.0 == channel) {
                t.2 = false;
            }
            s.next_id += 1;
            let id = s.next_id;
            let mut m = message_object(id, channel, None, user(BOT_ID, "frontdesk", true), content);
            m["embeds"] = body["embeds"].clone();
            if let Some(nonce) = nonce {
                m["nonce"] = json!(nonce);
                s.nonces.insert(nonce.to_string(), m.clone());
            }
            Json(m).into_response()
        }
        ("POST", ["channels", channel, "threads"]) => {
            if *channel != DESK.to_string() {
                return discord_error(404, 10003, "Unknown Channel");
            }
            s.next_id += 1;
            let id = s.next_id;
            let name = body["name"].as_str().unwrap_or("").to_string();
            s.threads.push((id, name.clone(), false));
            Json(json!({"id": id.to_string(), "type": body["type"].clone(), "guild_id": GUILD.to_string(),
                        "parent_id": DESK.to_string(), "name": name})).into_response()
        }
        ("PATCH", ["channels", channel]) => {
            let id: u64 = channel.parse().unwrap_or(0);
            let Some(t) = s.threads.iter_mut().find(|t| t.0 == id) else {
                return discord_error(404, 10003, "Unknown Channel");
            };
            if let Some(name) = body["name"].as_str() {
                t.1 = name.to_string();
            }
            if let Some(archived) = body["archived"].as_bool() {
                t.2 = archived;
            }
            Json(json!({"id": channel, "type": 11, "name": t.1})).into_response()
        }
        ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        ("PUT", ["applications", _, "commands"]) | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            Json(json!([])).into_response()
        }
        _ => discord_error(404, 0, "404: Not Found"),
    }
}

/// One gateway connection: HELLO, then IDENTIFY/RESUME/HEARTBEAT as Discord answers them.
async fn serve_gateway(inner: Arc<Inner>, stream: tokio::net::TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let close = matches!(frame, WsMessage::Close(_));
            if sink.send(frame).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let _ = tx.send(WsMessage::Text(
        json!({"op": 10, "d": {"heartbeat_interval": 41250}}).to_string(),
    ));
    while let Some(Ok(frame)) = source.next().await {
        let WsMessage::Text(text) = frame else {
            if matches!(frame, WsMessage::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(payload) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match payload["op"].as_u64() {
            Some(1) => {
                let _ = tx.send(WsMessage::Text(json!({"op": 11}).to_string()));
            }
            Some(2) => {
                let mut s = inner.state.lock().unwrap();
                s.gateway.identifies += 1;
                s.gateway.sessions += 1;
                s.gateway.intents = payload["d"]["intents"].as_u64().unwrap_or(0);
                s.gateway.live = Some(tx.clone());
                s.gateway.seq += 1;
                let seq = s.gateway.seq;
                let flags: u64 = if s.no_content_intent { 0 } else { 1 << 19 };
                let ready = json!({
                    "v": 10, "user": user(BOT_ID, "frontdesk", true),
                    "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
                    "session_id": format!("session-{}", s.gateway.sessions),
                    "resume_gateway_url": inner.ws_url.lock().unwrap().clone(),
                    "application": {"id": APP_ID.to_string(), "flags": flags}
                });
                let _ = tx.send(dispatch_frame(seq, "READY", &ready));
                if std::mem::take(&mut s.gateway.replay_on_ready) {
                    let replays: Vec<(String, Value)> = s
                        .gateway
                        .log
                        .iter()
                        .filter(|(_, t, _)| t != "READY")
                        .map(|(_, t, d)| (t.clone(), d.clone()))
                        .collect();
                    for (t, d) in replays {
                        s.gateway.seq += 1;
                        let seq = s.gateway.seq;
                        let _ = tx.send(dispatch_frame(seq, &t, &d));
                    }
                }
            }
            Some(6) => {
                let mut s = inner.state.lock().unwrap();
                s.gateway.resumes += 1;
                if std::mem::take(&mut s.gateway.refuse_resume) {
                    let _ = tx.send(WsMessage::Text(json!({"op": 9, "d": false}).to_string()));
                    continue;
                }
                s.gateway.live = Some(tx.clone());
                let from = payload["d"]["seq"].as_u64().unwrap_or(0);
                let missed: Vec<(u64, String, Value)> = s
                    .gateway
                    .log
                    .iter()
                    .filter(|(seq, t, _)| *seq > from && t != "READY")
                    .cloned()
                    .collect();
                for (seq, t, d) in missed {
                    let _ = tx.send(dispatch_frame(seq, &t, &d));
                }
                s.gateway.seq += 1;
                let seq = s.gateway.seq;
                let _ = tx.send(dispatch_frame(seq, "RESUMED", &json!({})));
            }
            _ => {}
        }
        inner.changed.notify_waiters();
    }
    {
        let mut s = inner.state.lock().unwrap();
        if s.gateway
            .live
            .as_ref()
            .is_some_and(|live| live.same_channel(&tx))
        {
            s.gateway.live = None;
        }
    }
    drop(tx);
    let _ = writer.await;
}
