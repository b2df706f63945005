//! An in-process fake of the Telegram Bot API (axum) for the real teloxide client.
//!
//! Records every request (method lower-cased, JSON body, time), serves queued updates
//! through getUpdates honouring `offset` like Telegram (an update is dropped once a later
//! call asks for a higher offset), and can be scripted to fail sendMessage calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:TEST-fake-token";
pub const BOT_ID: i64 = 999;
/// The agents' forum supergroup.
pub const DESK: i64 = -100_777;
/// First id createForumTopic hands out.
const FIRST_THREAD: i64 = 500;

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

/// A scripted answer for the next sendMessage call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// HTTP 429 with `parameters.retry_after`.
    RetryAfter(u64),
    /// Any error status with a description.
    Error(u16, &'static str),
}

#[derive(Default)]
struct State_ {
    calls: Vec<Call>,
    /// Unconfirmed updates, in order.
    pending: Vec<Value>,
    /// Every update ever queued (for re-serving after a simulated crash).
    history: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    send_script: VecDeque<Reply>,
    /// Topics created so far: (message_thread_id, name).
    topics: Vec<(i64, String)>,
    /// The desk is a plain supergroup and the bot a plain member (misconfigured).
    desk_misconfigured: bool,
    /// getUpdates calls in progress, and how many began while another was (Telegram
    /// refuses those with 409 "terminated by other getUpdates request").
    polls_active: usize,
    poll_conflicts: usize,
    /// Bumped by `replay_all`: a long poll begun before it (by a process that has since
    /// crashed) ends empty instead of confirming the replayed updates.
    epoch: u64,
}

struct Inner {
    state: Mutex<State_>,
    changed: Notify,
}

#[derive(Clone)]
pub struct FakeBotApi {
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeBotApi {
    pub async fn start() -> FakeBotApi {
        let inner = Arc::new(Inner {
            state: Mutex::new(State_ {
                next_update_id: 1000,
                next_message_id: 1,
                topics: Vec::new(),
                ..State_::default()
            }),
            changed: Notify::new(),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeBotApi {
            url: format!("http://{addr}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.inner.state.lock().unwrap()
    }

    /// Queues an update (`kind` like "message", "callback_query"); returns its update_id.
    pub fn push(&self, kind: &str, payload: Value) -> i64 {
        let id = {
            let mut s = self.lock();
            s.next_update_id += 1;
            let id = s.next_update_id;
            let update = json!({"update_id": id, kind: payload});
            s.pending.push(update.clone());
            s.history.push(update);
            id
        };
        self.inner.changed.notify_waiters();
        id
    }

    /// Queues a raw update object as is (it must carry its own update_id).
    pub fn push_raw(&self, update: Value) {
        {
            let mut s = self.lock();
            s.pending.push(update.clone());
            s.history.push(update);
        }
        self.inner.changed.notify_waiters();
    }

    /// Serves every update ever queued again, as Telegram does after a crash before the
    /// confirmation reached it.
    pub fn replay_all(&self) {
        {
            let mut s = self.lock();
            s.pending = s.history.clone();
            s.epoch += 1;
        }
        self.inner.changed.notify_waiters();
    }

    /// getUpdates calls that began while another was still in progress: two pollers.
    pub fn poll_conflicts(&self) -> usize {
        self.lock().poll_conflicts
    }

    pub fn script_send(&self, reply: Reply) {
        self.lock().send_script.push_back(reply);
    }

    pub fn next_message_id(&self) -> i64 {
        let mut s = self.lock();
        s.next_message_id += 1;
        s.next_message_id
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let method = method.to_ascii_lowercase();
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// How many `method` requests arrived (cheap: nothing is cloned).
    pub fn count(&self, method: &str) -> usize {
        let method = method.to_ascii_lowercase();
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    /// Successful and failed sendMessage requests to `chat`, in order.
    pub fn sends_to(&self, chat: i64) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == "sendmessage" && c.body["chat_id"].as_i64() == Some(chat))
            .cloned()
            .collect()
    }

    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.sends_to(chat)
            .iter()
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (up to 15 s) until `check` holds; panics with `what` otherwise.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&FakeBotApi) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.inner.changed.notified();
            if check(self) {
                return;
            }
            if Instant::now() > deadline {
                let methods: Vec<String> =
                    self.lock().calls.iter().map(|c| c.method.clone()).collect();
                panic!("timed out waiting for {what}; calls so far: {methods:?}");
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// Waits until `chat` has received at least `n` sendMessage requests; returns them.
    pub async fn wait_sends(&self, chat: i64, n: usize) -> Vec<Call> {
        self.wait_for(&format!("{n} sendMessage to {chat}"), |f| {
            f.sends_to(chat).len() >= n
        })
        .await;
        self.sends_to(chat)
    }

    /// Lets a short quiet period pass, to check that nothing more is sent.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

fn ok(result: Value) -> axum::response::Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

fn error(code: u16, description: &str, parameters: Option<Value>) -> axum::response::Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        Json(body),
    )
        .into_response()
}

pub fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Desk", "username": "desk_bot"})
}

/// Fields of a multipart/form-data body as a JSON object of strings (methods that can
/// carry files, like setWebhook, are sent this way).
fn multipart_fields(content_type: &str, body: &[u8]) -> Value {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return Value::Null;
    };
    let boundary = format!("--{}", boundary.trim_matches('"'));
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(boundary.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        fields.insert(name.to_string(), Value::String(value.to_string()));
    }
    Value::Object(fields)
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().trim_start_matches('/');
    let Some((token, method)) = path
        .strip_prefix("bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return error(404, "Not Found", None);
    };
    let method = method.to_ascii_lowercase();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body: Value = if content_type.starts_with("multipart/form-data") {
        multipart_fields(content_type, &body)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    {
        let mut s = inner.state.lock().unwrap();
        s.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
    }
    inner.changed.notify_waiters();
    if token != TOKEN {
        return error(401, "Unauthorized", None);
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Desk", "username": "desk_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "getupdates" => get_updates(&inner, &body).await,
        "sendmessage" => send_message(&inner, &body),
        "sendphoto" | "senddocument" | "sendvideo" | "sendvoice" | "sendaudio"
        | "sendanimation" => send_file(&inner, &method, &body),
        "createforumtopic" => create_topic(&inner, &body),
        "getchat" if inner.state.lock().unwrap().desk_misconfigured => ok(json!({
            "id": body["chat_id"].clone(), "type": "supergroup", "title": "Desk",
            "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": false, "limited_gifts": false,
                "unique_gifts": false, "premium_subscription": false}
        })),
        "getchatmember" if inner.state.lock().unwrap().desk_misconfigured => {
            ok(json!({"user": bot_user(), "status": "member"}))
        }
        "getchat" => ok(json!({
            "id": body["chat_id"].clone(), "type": "supergroup", "title": "Desk",
            "is_forum": true, "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": false, "limited_gifts": false,
                "unique_gifts": false, "premium_subscription": false}
        })),
        "getchatmember" => ok(json!({
            "user": bot_user(), "status": "administrator", "can_be_edited": false,
            "is_anonymous": false, "can_manage_chat": true, "can_delete_messages": true,
            "can_manage_video_chats": true, "can_restrict_members": true,
            "can_promote_members": false, "can_change_info": true, "can_invite_users": true,
            "can_pin_messages": true, "can_manage_topics": true
        })),
        "getwebhookinfo" => {
            ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        _ => ok(json!(true)),
    }
}

/// Counts a getUpdates in progress; dropped with the request (also when the client
/// goes away mid-poll).
struct Polling<'a>(&'a Inner);

impl<'a> Polling<'a> {
    fn begin(inner: &'a Inner) -> Polling<'a> {
        let mut s = inner.state.lock().unwrap();
        if s.polls_active > 0 {
            s.poll_conflicts += 1;
        }
        s.polls_active += 1;
        Polling(inner)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.polls_active -= 1;
        }
    }
}

async fn get_updates(inner: &Inner, body: &Value) -> axum::response::Response {
    let _polling = Polling::begin(inner);
    let offset = body["offset"].as_i64().unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let deadline = Instant::now() + timeout;
    let epoch = inner.state.lock().unwrap().epoch;
    loop {
        let notified = inner.changed.notified();
        {
            let mut s = inner.state.lock().unwrap();
            if s.epoch != epoch {
                return ok(json!([]));
            }
            if offset > 0 {
                // Asking for a higher offset confirms everything below it.
                s.pending
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            }
            if !s.pending.is_empty() {
                let batch: Vec<Value> = s.pending.iter().take(limit).cloned().collect();
                return ok(Value::Array(batch));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return ok(json!([]));
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

fn send_message(inner: &Inner, body: &Value) -> axum::response::Response {
    let mut s = inner.state.lock().unwrap();
    if let Some(reply) = s.send_script.pop_front() {
        return match reply {
            Reply::RetryAfter(secs) => error(
                429,
                &format!("Too Many Requests: retry after {secs}"),
                Some(json!({"retry_after": secs})),
            ),
            Reply::Error(code, description) => error(code, description, None),
        };
    }
    s.next_message_id += 1;
    let chat_obj = chat_object(chat_id_of(body));
    ok(json!({
        "message_id": s.next_message_id,
        "date": 1_700_000_000,
        "chat": chat_obj,
        "from": bot_user(),
        "text": body["text"].clone(),
    }))
}

fn chat_object(chat: i64) -> Value {
    if chat == DESK {
        json!({"id": chat, "type": "supergroup", "title": "Desk", "is_forum": true})
    } else if chat < 0 {
        json!({"id": chat, "type": "supergroup", "title": "group"})
    } else {
        json!({"id": chat, "type": "private", "first_name": "Customer"})
    }
}

/// A chat id as sent: a JSON number, or a string in multipart bodies.
fn chat_id_of(body: &Value) -> i64 {
    body["chat_id"]
        .as_i64()
        .or_else(|| body["chat_id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

fn send_file(inner: &Inner, method: &str, body: &Value) -> axum::response::Response {
    let mut s = inner.state.lock().unwrap();
    s.next_message_id += 1;
    let kind = method.trim_start_matches("send");
    let file = body[kind].clone();
    let media = match kind {
        "photo" => {
            json!({"photo": [{"file_id": file, "file_unique_id": "u", "width": 10, "height": 10}]})
        }
        _ => json!({"document": {"file_id": file, "file_unique_id": "u"}}),
    };
    let mut message = json!({
        "message_id": s.next_message_id,
        "date": 1_700_000_000,
        "chat": chat_object(chat_id_of(body)),
        "from": bot_user(),
    });
    for (k, v) in media.as_object().unwrap() {
        message[k] = v.clone();
    }
    ok(message)
}

fn create_topic(inner: &Inner, body: &Value) -> axum::response::Response {
    let mut s = inner.state.lock().unwrap();
    let id = FIRST_THREAD + s.topics.len() as i64;
    let name = body["name"].as_str().unwrap_or_default().to_string();
    s.topics.push((id, name.clone()));
    ok(json!({"message_thread_id": id, "name": name, "icon_color": 7_322_096}))
}

/// A customer in a private chat (user id = chat id).
pub fn customer(id: i64, language: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("Customer{id}"), "language_code": language})
}

/// A private-chat message from `user`, with `extra` fields (text, photo, …).
pub fn private_message(fake: &FakeBotApi, user: i64, extra: Value) -> Value {
    let mut message = json!({
        "message_id": fake.next_message_id(),
        "date": 1_700_000_000,
        "chat": {"id": user, "type": "private", "first_name": format!("Customer{user}")},
        "from": customer(user, "en"),
    });
    for (k, v) in extra.as_object().unwrap() {
        message[k] = v.clone();
    }
    message
}

impl FakeBotApi {
    /// The customer `user` writes `text`; returns the update id.
    pub fn text(&self, user: i64, text: &str) -> i64 {
        let message = private_message(self, user, json!({"text": text}));
        self.push("message", message)
    }

    /// The customer presses a button with `data` under message `on_message`; returns the
    /// callback query id.
    pub fn press(&self, user: i64, data: &str, on_message: i64) -> String {
        let id = format!("cb-{user}-{}", self.next_message_id());
        self.push(
            "callback_query",
            json!({
                "id": id, "from": customer(user, "en"), "chat_instance": "ci", "data": data,
                "message": {
                    "message_id": on_message, "date": 1_700_000_000,
                    "chat": {"id": user, "type": "private", "first_name": "Customer"},
                    "from": bot_user(), "text": "…"
                }
            }),
        );
        id
    }
}

/// An agent in the desk.
pub fn agent(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": "Agent", "last_name": format!("{id}")})
}

impl FakeBotApi {
    /// Makes the desk a group without topics where the bot is no admin.
    pub fn misconfigure_desk(&self) {
        self.lock().desk_misconfigured = true;
    }

    /// Topics created so far: (message_thread_id, name).
    pub fn topics(&self) -> Vec<(i64, String)> {
        self.lock().topics.clone()
    }

    /// Waits until `n` topics exist; returns them.
    pub async fn wait_topics(&self, n: usize) -> Vec<(i64, String)> {
        self.wait_for(&format!("{n} createForumTopic"), |f| f.topics().len() >= n)
            .await;
        self.topics()
    }

    /// sendMessage requests to a topic of `chat`, in order.
    pub fn sends_to_thread(&self, chat: i64, thread: i64) -> Vec<Call> {
        self.sends_to(chat)
            .into_iter()
            .filter(|c| c.body["message_thread_id"].as_i64() == Some(thread))
            .collect()
    }

    pub fn texts_to_thread(&self, chat: i64, thread: i64) -> Vec<String> {
        self.sends_to_thread(chat, thread)
            .iter()
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until a message in the topic contains `needle`; returns that request.
    pub async fn wait_thread_text(&self, chat: i64, thread: i64, needle: &str) -> Call {
        self.wait_for(&format!("\"{needle}\" in topic {thread}"), |f| {
            f.texts_to_thread(chat, thread)
                .iter()
                .any(|t| t.contains(needle))
        })
        .await;
        self.sends_to_thread(chat, thread)
            .into_iter()
            .find(|c| c.body["text"].as_str().unwrap_or_default().contains(needle))
            .unwrap()
    }

    /// Waits until the customer's chat received a message containing `needle`.
    pub async fn wait_text(&self, chat: i64, needle: &str) -> Call {
        self.wait_for(&format!("\"{needle}\" to {chat}"), |f| {
            f.texts_to(chat).iter().any(|t| t.contains(needle))
        })
        .await;
        self.sends_to(chat)
            .into_iter()
            .find(|c| c.body["text"].as_str().unwrap_or_default().contains(needle))
            .unwrap()
    }

    /// Agent `user` writes `text` in `chat`: in forum topic `thread` (as Telegram sends it:
    /// `is_topic_message` and a `reply_to_message` that is the topic's creation message),
    /// or in the General topic when `thread` is `None`. Returns the update id.
    pub fn desk_text(&self, chat: i64, thread: Option<i64>, user: i64, text: &str) -> i64 {
        let mut message = json!({
            "message_id": self.next_message_id(),
            "date": 1_700_000_000,
            "chat": chat_object(chat),
            "from": agent(user),
            "text": text,
        });
        if let Some(thread) = thread {
            message["message_thread_id"] = json!(thread);
            message["is_topic_message"] = json!(true);
            message["reply_to_message"] = json!({
                "message_id": thread, "date": 1_700_000_000, "chat": chat_object(chat),
                "from": bot_user(), "message_thread_id": thread, "is_topic_message": true,
                "forum_topic_created": {"name": "topic", "icon_color": 7_322_096}
            });
        }
        self.push("message", message)
    }

    /// Agent `user` presses a button with `data` under message `on_message` in `chat`;
    /// returns the callback query id.
    pub fn desk_press(&self, chat: i64, user: i64, data: &str, on_message: i64) -> String {
        let id = format!("dcb-{user}-{}", self.next_message_id());
        self.push(
            "callback_query",
            json!({
                "id": id, "from": agent(user), "chat_instance": "ci", "data": data,
                "message": {
                    "message_id": on_message, "date": 1_700_000_000,
                    "chat": chat_object(chat), "from": bot_user(), "text": "card"
                }
            }),
        );
        id
    }
}
