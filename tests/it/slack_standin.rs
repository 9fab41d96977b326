//! A local stand-in of the Slack Web API (the parts dbabot uses), speaking the documented
//! request and response JSON (<https://api.slack.com/methods>): `auth.test`, `chat.postMessage`,
//! `chat.update`, `chat.postEphemeral`, `reactions.add`, `files.getUploadURLExternal`, the upload
//! URL, `files.completeUploadExternal`, and slash-command `response_url`s.
//!
//! Like Slack it answers HTTP 200 with `{"ok": false, "error": …}` for API errors: missing or
//! wrong token (`not_authed`, `invalid_auth`), unknown channel (`channel_not_found`), unknown
//! message (`message_not_found`), invalid blocks (`invalid_blocks`), missing arguments
//! (`no_text`, `invalid_arguments`), duplicate reactions (`already_reacted`), a completed upload
//! whose bytes never arrived (`file_not_found`) — and HTTP 429 with `Retry-After` on demand.
//!
//! On request ([`SlackStandIn::enforce_channel_limit`]) it enforces Slack's documented
//! `chat.postMessage` limit of one message per second per channel: a faster post is answered
//! HTTP 429 with `Retry-After: 1` and `{"ok": false, "error": "ratelimited"}`, as Slack does. It
//! can also fail ([`SlackStandIn::fail_next`]) or stall ([`SlackStandIn::stall_next`]) the next
//! calls of one method.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One recorded API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// Answered with HTTP 429.
    pub throttled: bool,
}

/// A message as the stand-in stores it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Vec<Value>,
    /// When it was posted or last updated.
    pub at: std::time::Instant,
}

/// Injected failures for one method, `left` more times: HTTP `status`; 200 answers
/// `{"ok": false, "error": code}`; 0 stalls for `stall`, then answers normally.
#[derive(Debug, Clone)]
struct Fault {
    method: String,
    left: usize,
    status: u16,
    code: String,
    stall: std::time::Duration,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    messages: Vec<Stored>,
    ephemerals: Vec<Value>,
    reactions: Vec<(String, String, String)>,
    /// file id → (declared length, uploaded bytes)
    uploads: HashMap<String, (usize, Option<Vec<u8>>)>,
    completed: Vec<Value>,
    responses: Vec<Value>,
    /// Socket Mode: envelopes to push on the next connection, and the acks received.
    socket_queue: Vec<Value>,
    socket_acks: Vec<String>,
    /// Per-channel limit: when each channel last accepted a `chat.postMessage`.
    enforce_channel_limit: bool,
    last_post: HashMap<String, std::time::Instant>,
    faults: Vec<Fault>,
}

#[derive(Clone)]
pub struct SlackStandIn {
    inner: Arc<Mutex<Inner>>,
    seq: Arc<AtomicU64>,
    throttle: Arc<AtomicUsize>,
    token: String,
    channels: Vec<String>,
    pub base: String,
}

impl SlackStandIn {
    /// Starts on 127.0.0.1:<random>; `token` is the only bot token it accepts.
    pub async fn start(token: &str, channels: &[&str]) -> SlackStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let s = SlackStandIn {
            inner: Arc::default(),
            seq: Arc::new(AtomicU64::new(1)),
            throttle: Arc::new(AtomicUsize::new(0)),
            token: token.to_string(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            base: format!("http://{addr}"),
        };
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/upload/{file_id}", post(upload))
            .route("/response/{id}", post(response_url))
            .route("/socket", axum::routing::get(socket))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    /// Socket Mode: queue an `events_api` envelope carrying `event_callback` for the next
    /// WebSocket connection.
    pub fn queue_socket_event(&self, envelope_id: &str, event_callback: Value) {
        self.lock().socket_queue.push(serde_json::json!({
            "envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": false,
            "retry_attempt": 0, "retry_reason": "", "payload": event_callback
        }));
    }

    /// Envelope ids the client acknowledged over the WebSocket.
    pub fn socket_acks(&self) -> Vec<String> {
        self.lock().socket_acks.clone()
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// From now on a second `chat.postMessage` in one channel within a second (less 100 ms of
    /// loopback jitter) is refused with HTTP 429, `Retry-After: 1`, as Slack documents.
    pub fn enforce_channel_limit(&self) {
        self.lock().enforce_channel_limit = true;
    }

    /// The next `n` calls of `method` are answered with HTTP `status` (e.g. 503).
    pub fn fail_next(&self, method: &str, n: usize, status: u16) {
        self.lock().faults.push(Fault {
            method: method.into(),
            left: n,
            status,
            code: String::new(),
            stall: std::time::Duration::ZERO,
        });
    }

    /// The next `n` calls of `method` are refused as Slack refuses them: HTTP 200 with
    /// `{"ok": false, "error": code}` (`invalid_blocks`, `msg_too_long`).
    pub fn refuse_next(&self, method: &str, n: usize, code: &str) {
        self.lock().faults.push(Fault {
            method: method.into(),
            left: n,
            status: 200,
            code: code.into(),
            stall: std::time::Duration::ZERO,
        });
    }

    /// Removes every injected failure not used yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The next `n` calls of `method` get no answer for `stall` (a hanging Slack).
    pub fn stall_next(&self, method: &str, n: usize, stall: std::time::Duration) {
        self.lock().faults.push(Fault {
            method: method.into(),
            left: n,
            status: 0,
            code: String::new(),
            stall,
        });
    }

    /// The next `n` API calls get HTTP 429 with `Retry-After: 1`.
    pub fn throttle_next(&self, n: usize) {
        self.throttle.store(n, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    pub fn messages(&self) -> Vec<Stored> {
        self.lock().messages.clone()
    }

    pub fn thread(&self, ts: &str) -> Vec<Stored> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts) || m.ts == ts)
            .cloned()
            .collect()
    }

    pub fn ephemerals(&self) -> Vec<Value> {
        self.lock().ephemerals.clone()
    }

    pub fn reactions(&self) -> Vec<(String, String, String)> {
        self.lock().reactions.clone()
    }

    /// Completed uploads: (title, channel, thread_ts, bytes).
    pub fn files(&self) -> Vec<(String, String, Option<String>, Vec<u8>)> {
        let g = self.lock();
        g.completed
            .iter()
            .filter_map(|c| {
                let id = c.pointer("/files/0/id")?.as_str()?;
                let bytes = g.uploads.get(id)?.1.clone()?;
                Some((
                    c.pointer("/files/0/title")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    c.get("channel_id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    c.get("thread_ts")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    bytes,
                ))
            })
            .collect()
    }

    fn next_ts(&self) -> String {
        format!("1700000000.{:06}", self.seq.fetch_add(1, Ordering::SeqCst))
    }
}

fn err(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

/// Parameters from the query string, a JSON body or a form body, as Slack accepts all three.
fn params(query: HashMap<String, String>, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut map = Map::new();
    for (k, v) in query {
        map.insert(k, Value::String(v));
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
            map.extend(o);
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
    }
    // `blocks` and `files` may arrive JSON-encoded inside a string.
    for k in ["blocks", "files"] {
        if let Some(Value::String(s)) = map.get(k) {
            if let Ok(v) = serde_json::from_str::<Value>(s) {
                map.insert(k.to_string(), v);
            }
        }
    }
    Value::Object(map)
}

/// Block Kit limits Slack enforces on `chat.postMessage`/`chat.update`.
fn blocks_ok(blocks: &[Value]) -> bool {
    blocks.len() <= 50
        && blocks
            .iter()
            .all(|b| match b.get("type").and_then(Value::as_str) {
                Some("section") => {
                    let text_ok = b
                        .pointer("/text/text")
                        .and_then(Value::as_str)
                        .is_none_or(|t| !t.is_empty() && t.chars().count() <= 3000);
                    let fields_ok = b.get("fields").and_then(Value::as_array).is_none_or(|f| {
                        f.len() <= 10
                            && f.iter().all(|x| {
                                x.get("text")
                                    .and_then(Value::as_str)
                                    .is_some_and(|t| t.chars().count() <= 2000)
                            })
                    });
                    text_ok && fields_ok && (b.get("text").is_some() || b.get("fields").is_some())
                }
                Some("header") => {
                    b.pointer("/text/type").and_then(Value::as_str) == Some("plain_text")
                        && b.pointer("/text/text")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.chars().count() <= 150)
                }
                Some("context") => b
                    .get("elements")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty() && e.len() <= 10),
                Some("actions") => b
                    .get("elements")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty() && e.len() <= 25),
                Some("divider") => true,
                _ => false,
            })
}

async fn api(
    State(s): State<SlackStandIn>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(query, &headers, &body);
    let throttled = s
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let fault = {
        let mut g = s.lock();
        let f = g
            .faults
            .iter_mut()
            .find(|f| f.method == method && f.left > 0)
            .map(|f| {
                f.left -= 1;
                f.clone()
            });
        f
    };
    let channel_limited = method == "chat.postMessage" && fault.is_none() && {
        let mut g = s.lock();
        let channel = p
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let now = std::time::Instant::now();
        let too_soon = g.enforce_channel_limit
            && g.last_post
                .get(&channel)
                .is_some_and(|t| now.duration_since(*t) < std::time::Duration::from_millis(900));
        if !too_soon {
            g.last_post.insert(channel, now);
        }
        too_soon
    };
    let throttled = throttled || channel_limited;
    s.lock().calls.push(Call {
        method: method.clone(),
        params: p.clone(),
        throttled,
    });
    if let Some(f) = fault {
        if f.status == 0 {
            tokio::time::sleep(f.stall).await;
        } else if f.status == 200 {
            return err(&f.code);
        } else {
            return (
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [("content-type", "text/plain")],
                "upstream failure",
            )
                .into_response();
        }
    }
    if throttled {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("content-type", "application/json")],
            r#"{"ok":false,"error":"ratelimited"}"#,
        )
            .into_response();
    }
    // apps.connections.open takes the app-level token (xapp-…), every other method the bot token.
    let expected = if method == "apps.connections.open" {
        "xapp-test-app-token".to_string()
    } else {
        s.token.clone()
    };
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => return err("not_authed"),
        Some(a) if a != format!("Bearer {expected}") => return err("invalid_auth"),
        _ => {}
    }
    let str_param = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let channel_ok = |c: &Option<String>| c.as_ref().is_some_and(|c| s.channels.contains(c));
    match method.as_str() {
        "apps.connections.open" => Json(json!({"ok": true, "url": format!("{}/socket", s.base.replace("http://", "ws://"))})).into_response(),
        "auth.test" => Json(json!({"ok": true, "url": "https://dbabot-test.slack.com/", "team": "Test Team", "user": "dbabot", "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": false})).into_response(),
        "chat.postMessage" | "chat.update" => {
            let channel = str_param("channel");
            if !channel_ok(&channel) {
                return err("channel_not_found");
            }
            let blocks = p.get("blocks").and_then(Value::as_array).cloned().unwrap_or_default();
            let text = str_param("text").unwrap_or_default();
            if text.is_empty() && blocks.is_empty() {
                return err("no_text");
            }
            if !blocks_ok(&blocks) {
                return err("invalid_blocks");
            }
            let channel = channel.unwrap_or_default();
            if method == "chat.update" {
                let Some(ts) = str_param("ts") else { return err("invalid_arguments") };
                let mut g = s.lock();
                let Some(m) = g.messages.iter_mut().find(|m| m.ts == ts && m.channel == channel) else {
                    return err("message_not_found");
                };
                m.text = text.clone();
                m.blocks = blocks.clone();
                m.at = std::time::Instant::now();
                return Json(json!({"ok": true, "channel": channel, "ts": ts, "text": text, "message": {"text": text, "blocks": blocks}})).into_response();
            }
            let ts = s.next_ts();
            let thread_ts = str_param("thread_ts");
            if let Some(t) = &thread_ts {
                if !s.lock().messages.iter().any(|m| &m.ts == t) && !t.starts_with("1699") {
                    // Replies to messages Slack never saw (the user's own message) are fine in
                    // Slack too; only malformed timestamps are errors.
                    if !t.contains('.') {
                        return err("invalid_thread_ts");
                    }
                }
            }
            s.lock().messages.push(Stored { channel: channel.clone(), ts: ts.clone(), thread_ts: thread_ts.clone(), text: text.clone(), blocks: blocks.clone(), at: std::time::Instant::now() });
            Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"type": "message", "user": "UBOT", "bot_id": "BBOT", "text": text, "ts": ts, "thread_ts": thread_ts, "blocks": blocks}})).into_response()
        }
        "chat.postEphemeral" => {
            let channel = str_param("channel");
            if !channel_ok(&channel) {
                return err("channel_not_found");
            }
            if str_param("user").is_none() {
                return err("user_not_in_channel");
            }
            s.lock().ephemerals.push(p.clone());
            Json(json!({"ok": true, "message_ts": s.next_ts()})).into_response()
        }
        "reactions.add" => {
            let (Some(c), Some(ts), Some(name)) = (str_param("channel"), str_param("timestamp"), str_param("name")) else { return err("invalid_arguments") };
            let mut g = s.lock();
            if g.reactions.iter().any(|r| r == &(c.clone(), ts.clone(), name.clone())) {
                return err("already_reacted");
            }
            g.reactions.push((c, ts, name));
            Json(json!({"ok": true})).into_response()
        }
        "files.getUploadURLExternal" => {
            let (Some(filename), Some(length)) = (str_param("filename"), p.get("length").and_then(|l| l.as_u64().or_else(|| l.as_str().and_then(|x| x.parse().ok())))) else {
                return err("invalid_arguments");
            };
            let id = format!("F{:08}", s.seq.fetch_add(1, Ordering::SeqCst));
            s.lock().uploads.insert(id.clone(), (length as usize, None));
            let _ = filename;
            Json(json!({"ok": true, "upload_url": format!("{}/upload/{id}", s.base), "file_id": id})).into_response()
        }
        "files.completeUploadExternal" => {
            let Some(files) = p.get("files").and_then(Value::as_array) else { return err("invalid_arguments") };
            let mut g = s.lock();
            for f in files {
                let id = f.get("id").and_then(Value::as_str).unwrap_or("");
                match g.uploads.get(id) {
                    Some((len, Some(bytes))) if *len == bytes.len() => {}
                    _ => return err("file_not_found"),
                }
            }
            if let Some(c) = p.get("channel_id").and_then(Value::as_str) {
                if !s.channels.iter().any(|x| x == c) {
                    return err("channel_not_found");
                }
            }
            g.completed.push(p.clone());
            Json(json!({"ok": true, "files": files})).into_response()
        }
        _ => err("unknown_method"),
    }
}

async fn upload(
    State(s): State<SlackStandIn>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut g = s.lock();
    match g.uploads.get_mut(&file_id) {
        Some(entry) => {
            entry.1 = Some(body.to_vec());
            (StatusCode::OK, format!("OK - {}", body.len())).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn response_url(State(s): State<SlackStandIn>, Json(body): Json<Value>) -> Response {
    s.lock().responses.push(body);
    (StatusCode::OK, "ok").into_response()
}

/// The Socket Mode WebSocket: `hello`, then the queued envelopes; records `{"envelope_id"}` acks.
async fn socket(
    State(s): State<SlackStandIn>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    use axum::extract::ws::Message;
    ws.on_upgrade(move |mut sock| async move {
        let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "standin", "build_number": 1, "approximate_connection_time": 18060}, "connection_info": {"app_id": "A1"}});
        if sock.send(Message::Text(hello.to_string().into())).await.is_err() {
            return;
        }
        let queued: Vec<Value> = std::mem::take(&mut s.lock().socket_queue);
        for env in queued {
            if sock.send(Message::Text(env.to_string().into())).await.is_err() {
                return;
            }
        }
        while let Some(Ok(msg)) = sock.recv().await {
            if let Message::Text(t) = msg {
                if let Some(id) = serde_json::from_str::<Value>(&t).ok().and_then(|v| v.get("envelope_id").and_then(Value::as_str).map(str::to_string)) {
                    s.lock().socket_acks.push(id);
                }
            }
        }
    })
}
