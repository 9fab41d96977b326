//! Discord adapter end to end: Ed25519-signed requests into the HTTP interactions endpoint
//! (`dbabot_discord::router` on 127.0.0.1:0) over a real engine (the bundled SQLite demo), and the
//! answers arriving at a local stand-in of Discord's REST API. The stand-in implements the routes
//! the adapter calls (edit original response, follow-up webhook, command overwrite, interaction
//! callback), accepts JSON and multipart bodies, checks every body against Discord's own OpenAPI
//! description (`tests/fixtures/specs/discord-api.openapi.json`), answers with documented
//! message objects (also checked) and records what it received.

use crate::support::{wait_until, TestBot};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dbabot_discord::{register_commands, router, DiscordConfig};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const APP: &str = "1100000000000000001";
const GUILD: &str = "290926798626357999";
const CHANNEL: &str = "645027906669510667";

// ------------------------------------------------------------------------------------------------
// Discord's OpenAPI description

fn spec() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/specs/discord-api.openapi.json"
        );
        let text = std::fs::read_to_string(path).expect("Discord OpenAPI spec in tests/fixtures");
        serde_json::from_str(&text).expect("spec is JSON")
    })
}

pub(crate) fn request_schema(path: &str, method: &str) -> Value {
    let s = spec()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        .clone();
    assert!(!s.is_null(), "spec has no JSON body for {method} {path}");
    s
}

pub(crate) fn component_schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Validates `instance` against `schema` (which may `$ref` the spec's components).
pub(crate) fn spec_check(schema: &Value, instance: &Value) -> Result<(), String> {
    type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache.lock().expect("cache").get(&key).cloned();
    let validator = match cached {
        Some(v) => v,
        None => {
            let mut root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": { "schemas": spec()["components"]["schemas"].clone() },
            });
            for (k, v) in schema.as_object().expect("schema object") {
                root[k] = v.clone();
            }
            let v = Arc::new(jsonschema::draft202012::new(&root).map_err(|e| e.to_string())?);
            cache.lock().expect("cache").insert(key, v.clone());
            v
        }
    };
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

// ------------------------------------------------------------------------------------------------
// The stand-in

#[derive(Debug, Clone)]
struct RecFile {
    field: String,
    filename: String,
    content_type: String,
    data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// The JSON body, or `payload_json` of a multipart body.
    json: Value,
    multipart: bool,
    files: Vec<RecFile>,
    authorization: Option<String>,
    /// The message object the stand-in answered with (webhook routes).
    answer: Value,
    at: Instant,
}

#[derive(Clone, Default)]
struct StandIn {
    base: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Answer this many of the next webhook calls with HTTP 429.
    rate_limit_next: Arc<AtomicU32>,
    /// `retry_after` of those 429s, in milliseconds.
    retry_after_ms: Arc<AtomicU64>,
    limited: Arc<Mutex<Vec<Instant>>>,
    next_id: Arc<AtomicU64>,
    /// `ws://…` of the fake gateway, for `GET /gateway` and `GET /gateway/bot`.
    gateway_url: Arc<Mutex<String>>,
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let addr = listener.local_addr().expect("addr");
        let s = StandIn {
            base: format!("http://{addr}"),
            retry_after_ms: Arc::new(AtomicU64::new(300)),
            next_id: Arc::new(AtomicU64::new(1_300_000_000_000_000_000)),
            ..StandIn::default()
        };
        let app = axum::Router::new()
            .fallback(standin_route)
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("lock").clone()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("lock").clone()
    }

    fn error(&self, e: String) {
        self.errors.lock().expect("lock").push(e);
    }

    fn snowflake(&self) -> String {
        self.next_id.fetch_add(1, Ordering::SeqCst).to_string()
    }
}

/// Which documented route a request is, and the spec path it is checked against.
fn classify(method: &Method, path: &str) -> Option<(&'static str, &'static str)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("PATCH", ["api", "v10", "webhooks", app, _token, "messages", "@original"])
            if *app == APP =>
        {
            Some((
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                "patch",
            ))
        }
        ("POST", ["api", "v10", "webhooks", app, _token]) if *app == APP => {
            Some(("/webhooks/{webhook_id}/{webhook_token}", "post"))
        }
        ("PUT", ["api", "v10", "applications", app, "guilds", _g, "commands"]) if *app == APP => {
            Some((
                "/applications/{application_id}/guilds/{guild_id}/commands",
                "put",
            ))
        }
        ("PUT", ["api", "v10", "applications", app, "commands"]) if *app == APP => {
            Some(("/applications/{application_id}/commands", "put"))
        }
        ("POST", ["api", "v10", "interactions", _id, _token, "callback"]) => Some((
            "/interactions/{interaction_id}/{interaction_token}/callback",
            "post",
        )),
        // Gateway mode (serenity's Http).
        ("GET", ["api", "v10", "gateway"]) => Some(("/gateway", "get")),
        ("GET", ["api", "v10", "gateway", "bot"]) => Some(("/gateway/bot", "get")),
        ("GET", ["api", "v10", "channels", _c]) => Some(("/channels/{channel_id}", "get")),
        ("POST", ["api", "v10", "channels", _c, "typing"]) => {
            Some(("/channels/{channel_id}/typing", "post"))
        }
        ("POST", ["api", "v10", "channels", _c, "messages"]) => {
            Some(("/channels/{channel_id}/messages", "post"))
        }
        ("PUT", ["api", "v10", "channels", _c, "messages", _m, "reactions", _e, "@me"]) => Some((
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me",
            "put",
        )),
        ("POST", ["api", "v10", "channels", _c, "messages", _m, "threads"]) => Some((
            "/channels/{channel_id}/messages/{message_id}/threads",
            "post",
        )),
        _ => None,
    }
}

fn discord_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

/// Parses a multipart body: `payload_json` and `files[n]` parts.
async fn parse_multipart(content_type: &str, body: Bytes) -> Result<(Value, Vec<RecFile>), String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut payload = None;
    let mut files = Vec::new();
    while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let ct = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let data = field.bytes().await.map_err(|e| e.to_string())?.to_vec();
        if name == "payload_json" {
            payload = Some(serde_json::from_slice::<Value>(&data).map_err(|e| e.to_string())?);
        } else if name.starts_with("files[") && name.ends_with(']') {
            files.push(RecFile {
                field: name,
                filename: filename.ok_or("file part without a filename")?,
                content_type: ct,
                data,
            });
        } else {
            return Err(format!("unexpected multipart field {name}"));
        }
    }
    Ok((payload.ok_or("multipart body without payload_json")?, files))
}

/// A channel object: ids starting with 125 or 124 are threads (a thread started from a message
/// has the message's id), 127 is a DM, anything else a text channel.
fn channel_object(id: &str) -> Value {
    if id.starts_with("127") {
        return json!({ "id": id, "type": 1, "last_message_id": null, "flags": 0,
            "recipients": [{ "id": "53908232506183680", "username": "mason", "discriminator": "0", "avatar": null, "global_name": "Mason", "public_flags": 0 }] });
    }
    let thread = id.starts_with("125") || id.starts_with("124");
    let mut c = json!({
        "id": id, "type": if thread { 11 } else { 0 }, "guild_id": GUILD, "name": "db-help",
        "position": 3, "permission_overwrites": [], "nsfw": false, "parent_id": null,
        "last_message_id": null, "rate_limit_per_user": 0, "flags": 0, "topic": null
    });
    if thread {
        c["parent_id"] = json!(CHANNEL);
        c["owner_id"] = json!(APP);
        c["thread_metadata"] = json!({ "archived": false, "auto_archive_duration": 1440,
            "archive_timestamp": "2024-05-10T12:00:01.000000+00:00", "locked": false });
        c["message_count"] = json!(0);
        c["member_count"] = json!(1);
    }
    c
}

/// The message object Discord answers a webhook call with, built from the request.
fn message_answer(s: &StandIn, body: &Value, files: &[RecFile]) -> Value {
    let mut component_id = 0u64;
    let mut components = body["components"].as_array().cloned().unwrap_or_default();
    for row in components.iter_mut() {
        component_id += 1;
        row["id"] = json!(component_id);
        if let Some(items) = row["components"].as_array_mut() {
            for c in items {
                component_id += 1;
                c["id"] = json!(component_id);
            }
        }
    }
    let embeds: Vec<Value> = body["embeds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            e["type"] = json!("rich");
            e
        })
        .collect();
    let attachments: Vec<Value> = files
        .iter()
        .map(|f| {
            let id = s.snowflake();
            json!({
                "id": id,
                "filename": f.filename,
                "size": f.data.len(),
                "url": format!("https://cdn.discordapp.com/attachments/{CHANNEL}/{id}/{}", f.filename),
                "proxy_url": format!("https://media.discordapp.net/attachments/{CHANNEL}/{id}/{}", f.filename),
                "content_type": f.content_type,
            })
        })
        .collect();
    json!({
        "id": s.snowflake(),
        "type": 20,
        "content": body["content"].as_str().unwrap_or(""),
        "channel_id": CHANNEL,
        "author": {
            "id": APP, "username": "dbabot", "avatar": null, "discriminator": "0",
            "public_flags": 0, "flags": 0, "bot": true, "global_name": null, "primary_guild": null
        },
        "attachments": attachments,
        "embeds": embeds,
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": false,
        "tts": false,
        "timestamp": "2024-05-10T12:00:00.000000+00:00",
        "edited_timestamp": null,
        "flags": body["flags"].as_u64().unwrap_or(0),
        "components": components,
        "webhook_id": APP,
        "application_id": APP,
    })
}

async fn standin_route(
    State(s): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let Some((spec_path, spec_method)) = classify(&method, &path) else {
        s.error(format!("unexpected request {method} {path}"));
        return discord_error(StatusCode::NOT_FOUND, 0, "404: Not Found");
    };
    let is_webhook = spec_path.starts_with("/webhooks/");
    if is_webhook && s.rate_limit_next.load(Ordering::SeqCst) > 0 {
        s.rate_limit_next.fetch_sub(1, Ordering::SeqCst);
        s.limited.lock().expect("lock").push(Instant::now());
        let secs = s.retry_after_ms.load(Ordering::SeqCst) as f64 / 1000.0;
        let body = json!({ "message": "You are being rate limited.", "retry_after": secs, "global": false, "code": 0 });
        if let Err(e) = spec_check(&component_schema("RatelimitedResponse"), &body) {
            s.error(format!("stand-in 429 body off-spec: {e}"));
        }
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("retry-after", format!("{}", secs.ceil() as u64)),
                ("x-ratelimit-limit", "5".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset-after", format!("{secs}")),
                ("x-ratelimit-bucket", "standin".into()),
            ],
            axum::Json(body),
        )
            .into_response();
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bodiless = body.is_empty() && !content_type.starts_with("multipart/");
    let (json_body, files, multipart) = if bodiless {
        (Value::Null, vec![], false)
    } else if content_type.starts_with("multipart/form-data") {
        match parse_multipart(&content_type, body).await {
            Ok((j, f)) => (j, f, true),
            Err(e) => {
                s.error(format!("{method} {path}: bad multipart: {e}"));
                return discord_error(
                    StatusCode::BAD_REQUEST,
                    50109,
                    "The request body contains invalid JSON.",
                );
            }
        }
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&body) {
            Ok(j) => (j, vec![], false),
            Err(e) => {
                s.error(format!("{method} {path}: bad JSON: {e}"));
                return discord_error(
                    StatusCode::BAD_REQUEST,
                    50109,
                    "The request body contains invalid JSON.",
                );
            }
        }
    } else {
        s.error(format!("{method} {path}: content-type {content_type:?}"));
        return discord_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            0,
            "unsupported content type",
        );
    };
    let documented_body = !spec()["paths"][spec_path][spec_method]["requestBody"].is_null();
    if bodiless
        && documented_body
        && spec()["paths"][spec_path][spec_method]["requestBody"]["required"] == true
    {
        s.error(format!("{method} {spec_path}: required body missing"));
    }
    if documented_body && !bodiless {
        if let Err(e) = spec_check(&request_schema(spec_path, spec_method), &json_body) {
            s.error(format!(
                "{method} {spec_path}: body off-spec: {e}\n{json_body:#}"
            ));
            return discord_error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
        }
    }
    // Uploads: each attachments[].id names a files[id] part, each part is referenced.
    if multipart {
        let ids: Vec<String> = json_body["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for f in &files {
            let n = f.field.trim_start_matches("files[").trim_end_matches(']');
            if !ids.iter().any(|i| i == n) {
                s.error(format!("{} is not referenced in attachments[]", f.field));
            }
        }
        if ids.len() != files.len() || files.len() > 10 {
            s.error(format!(
                "{} attachments for {} files",
                ids.len(),
                files.len()
            ));
        }
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let channel_in_path = path.split('/').nth(4).unwrap_or("").to_string();
    let answer = if spec_path == "/gateway" {
        json!({ "url": s.gateway_url.lock().expect("lock").clone() })
    } else if spec_path == "/gateway/bot" {
        json!({
            "url": s.gateway_url.lock().expect("lock").clone(),
            "shards": 1,
            "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 }
        })
    } else if spec_path == "/channels/{channel_id}" {
        channel_object(&channel_in_path)
    } else if spec_path == "/channels/{channel_id}/typing"
        || spec_path.ends_with("/reactions/{emoji_name}/@me")
    {
        Value::Null
    } else if spec_path == "/channels/{channel_id}/messages/{message_id}/threads" {
        let message_id = path.split('/').nth(6).unwrap_or("").to_string();
        let mut t = channel_object(&message_id);
        t["type"] = json!(11);
        t["parent_id"] = json!(channel_in_path);
        t["name"] = json_body["name"].clone();
        t["owner_id"] = json!(APP);
        t
    } else if spec_path == "/channels/{channel_id}/messages" {
        let mut m = message_answer(&s, &json_body, &files);
        m["type"] = json!(0);
        m["channel_id"] = json!(channel_in_path);
        m.as_object_mut().map(|o| o.remove("webhook_id"));
        if let Err(e) = spec_check(&component_schema("MessageResponse"), &m) {
            s.error(format!("stand-in answer off-spec: {e}"));
        }
        m
    } else if is_webhook {
        let m = message_answer(&s, &json_body, &files);
        if let Err(e) = spec_check(&component_schema("MessageResponse"), &m) {
            s.error(format!("stand-in answer off-spec: {e}"));
        }
        m
    } else if spec_path.contains("commands") {
        if !authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bot "))
        {
            s.error("command overwrite without a bot token".into());
            return discord_error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
        }
        Value::Array(
            json_body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(s.snowflake());
                    c["application_id"] = json!(APP);
                    c["version"] = json!(s.snowflake());
                    c["default_member_permissions"] = Value::Null;
                    c
                })
                .collect(),
        )
    } else {
        Value::Null
    };
    s.recorded.lock().expect("lock").push(Recorded {
        method: method.to_string(),
        path,
        json: json_body,
        multipart,
        files,
        authorization,
        answer: answer.clone(),
        at: Instant::now(),
    });
    if answer.is_null() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        axum::Json(answer).into_response()
    }
}

// ------------------------------------------------------------------------------------------------
// The bot under test

struct Harness {
    bot: TestBot,
    config: DiscordConfig,
    standin: StandIn,
    endpoint: String,
    key: SigningKey,
    client: reqwest::Client,
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/adapters/discord/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Harness {
    async fn start(extra_toml: &str) -> Harness {
        let bot = TestBot::demo().await;
        let standin = StandIn::start().await;
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public_hex = hex::encode(key.verifying_key().to_bytes());
        let section: toml::Value = toml::from_str(&format!(
            "mode = \"interactions\"\napplication_id = \"{APP}\"\npublic_key_env = \"DBABOT_TEST_DISCORD_PUBLIC_KEY\"\napi_base = \"{}\"\ntargets = [\"demo\"]\n{extra_toml}",
            standin.base
        ))
        .expect("toml");
        let config = DiscordConfig::from_toml(&section, &|k: &str| {
            (k == "DBABOT_TEST_DISCORD_PUBLIC_KEY").then(|| public_hex.clone())
        })
        .expect("config");
        let app = router(Arc::new(bot.engine.clone()), config.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Harness {
            bot,
            config,
            standin,
            endpoint: format!("http://{addr}/discord/interactions"),
            key,
            client: reqwest::Client::new(),
        }
    }

    fn sign_with(key: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut m = ts.as_bytes().to_vec();
        m.extend_from_slice(body);
        hex::encode(key.sign(&m).to_bytes())
    }

    /// POSTs `body` with the given signature headers; returns status and body.
    async fn post_raw(
        &self,
        body: &[u8],
        sig: Option<String>,
        ts: Option<String>,
    ) -> (u16, String) {
        let mut rb = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = sig {
            rb = rb.header("X-Signature-Ed25519", s);
        }
        if let Some(t) = ts {
            rb = rb.header("X-Signature-Timestamp", t);
        }
        let resp = rb.send().await.expect("endpoint answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// POSTs a correctly signed interaction; returns status and the JSON answer.
    async fn post_signed(&self, interaction: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(interaction).expect("json");
        let ts = now().to_string();
        let sig = Self::sign_with(&self.key, &ts, &body);
        let (status, text) = self.post_raw(&body, Some(sig), Some(ts)).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Waits until a recorded request satisfies `f`.
    async fn wait_for(&self, secs: u64, f: impl Fn(&[Recorded]) -> bool) -> bool {
        let s = self.standin.clone();
        wait_until(secs, || {
            let r = s.requests();
            let ok = f(&r);
            async move { ok }
        })
        .await
    }
}

/// Checks the callback body our endpoint answered with against the documented callback shapes.
fn assert_callback_on_spec(ack: &Value) {
    spec_check(
        &request_schema(
            "/interactions/{interaction_id}/{interaction_token}/callback",
            "post",
        ),
        ack,
    )
    .unwrap_or_else(|e| panic!("callback off-spec: {e}\n{ack:#}"));
}

fn csv_file(r: &[Recorded]) -> Option<RecFile> {
    r.iter()
        .flat_map(|x| x.files.iter())
        .find(|f| f.filename.ends_with(".csv"))
        .cloned()
}

fn embed_titles(r: &[Recorded]) -> Vec<String> {
    r.iter()
        .flat_map(|x| x.json["embeds"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["title"].as_str().map(str::to_string))
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn discord_signed_report_is_deferred_then_answered_with_embeds_and_csv() {
    let h = Harness::start("").await;
    let interaction = fixture("interaction_command.json");
    assert_eq!(interaction["data"]["options"][0]["name"], "report");

    let started = Instant::now();
    let (status, ack) = h.post_signed(&interaction).await;
    let ack_ms = started.elapsed().as_millis();
    assert_eq!(status, 200);
    assert_eq!(ack, json!({ "type": 5 }), "deferred channel message");
    assert_callback_on_spec(&ack);
    assert!(ack_ms < 2500, "ack took {ack_ms} ms (Discord allows 3 s)");

    // The answer arrives at the stand-in: the original response edited with the report embed,
    // the CSV uploaded as files[0] with payload_json.
    let arrived = h
        .wait_for(60, |r| csv_file(r).is_some() && !embed_titles(r).is_empty())
        .await;
    let reqs = h.standin.requests();
    assert!(
        arrived,
        "answer did not arrive: {reqs:#?}\nerrors: {:?}",
        h.standin.errors()
    );
    assert!(h.standin.errors().is_empty(), "{:?}", h.standin.errors());

    let token = interaction["token"].as_str().expect("token");
    let original = format!("/api/v10/webhooks/{APP}/{token}/messages/@original");
    let followups = format!("/api/v10/webhooks/{APP}/{token}");
    assert!(
        reqs.iter()
            .all(|r| r.path == original || r.path == followups),
        "{reqs:#?}"
    );
    let first_answer = reqs
        .iter()
        .find(|r| r.method == "PATCH" && r.json["embeds"].is_array())
        .expect("edited original response with embeds");
    let embed = &first_answer.json["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .expect("title")
            .starts_with("Health report — demo"),
        "{embed:#}"
    );
    let fields: Vec<&str> = embed["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for f in ["Target", "Environment", "Severity"] {
        assert!(fields.contains(&f), "{fields:?}");
    }
    assert!(embed["color"].is_u64());
    // A progress hint, if any, came first and was replaced.
    if reqs[0].json["embeds"].is_null() {
        assert_eq!(reqs[0].method, "PATCH");
        assert!(
            reqs[0].json["content"]
                .as_str()
                .is_some_and(|c| c.ends_with('…')),
            "{:#}",
            reqs[0].json
        );
    }
    // Footer (checks and durations) on the last embed of the answer.
    let last_embed = reqs
        .iter()
        .flat_map(|r| r.json["embeds"].as_array().cloned().unwrap_or_default())
        .last()
        .expect("embeds");
    assert!(
        last_embed["footer"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("checks:") && t.contains(" ms")),
        "{last_embed:#}"
    );
    // The CSV: multipart files[0] + payload_json referencing it.
    let upload = reqs.iter().find(|r| r.multipart).expect("multipart upload");
    assert_eq!(upload.files.len(), 1);
    let csv = &upload.files[0];
    assert_eq!(csv.field, "files[0]");
    assert_eq!(csv.filename, "health-demo.csv");
    assert_eq!(csv.content_type, "text/csv");
    assert!(
        String::from_utf8_lossy(&csv.data).starts_with("check,"),
        "{}",
        String::from_utf8_lossy(&csv.data)
    );
    assert_eq!(upload.json["attachments"][0]["id"], "0");
    assert_eq!(upload.json["attachments"][0]["filename"], "health-demo.csv");
    assert!(upload.answer["attachments"][0]["url"].as_str().is_some());
    // Every message within Discord's limits (the stand-in checked the schema; re-check totals).
    for r in &reqs {
        let total: usize = r.json["embeds"]
            .as_array()
            .map(|es| {
                es.iter()
                    .map(|e| {
                        let s = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
                        s(&e["title"])
                            + s(&e["description"])
                            + s(&e["footer"]["text"])
                            + e["fields"].as_array().map_or(0, |fs| {
                                fs.iter().map(|f| s(&f["name"]) + s(&f["value"])).sum()
                            })
                    })
                    .sum()
            })
            .unwrap_or(0);
        assert!(total <= 6000, "{total}");
        assert_eq!(r.json["allowed_mentions"], json!({ "parse": [] }));
        assert!(r.authorization.is_none(), "webhook calls need no bot token");
    }
    if std::env::var("DBABOT_DISCORD_DUMP").is_ok() {
        for r in &reqs {
            eprintln!(
                "{} {} multipart={}\n{:#}",
                r.method, r.path, r.multipart, r.json
            );
        }
    }
    // The engine remembers the channel's thread.
    assert_eq!(h.bot.engine.memory().len().await, 1);
}

#[tokio::test]
async fn discord_bad_signatures_are_refused_and_nothing_happens() {
    let h = Harness::start("").await;
    let body = serde_json::to_vec(&fixture("interaction_command.json")).expect("json");
    let ts = now().to_string();
    let good = Harness::sign_with(&h.key, &ts, &body);
    let other = SigningKey::from_bytes(&[9u8; 32]);

    let mut tampered = body.clone();
    let at = tampered
        .windows(6)
        .position(|w| w == b"health")
        .expect("report name in body");
    tampered[at..at + 6].copy_from_slice(b"schema");

    let stale = (now() - 3600).to_string();
    type Case<'a> = (&'a str, Vec<u8>, Option<String>, Option<String>);
    let cases: Vec<Case> = vec![
        (
            "wrong key",
            body.clone(),
            Some(Harness::sign_with(&other, &ts, &body)),
            Some(ts.clone()),
        ),
        (
            "tampered body",
            tampered,
            Some(good.clone()),
            Some(ts.clone()),
        ),
        ("missing signature", body.clone(), None, Some(ts.clone())),
        ("missing timestamp", body.clone(), Some(good.clone()), None),
        (
            "other timestamp",
            body.clone(),
            Some(good.clone()),
            Some((now() + 1).to_string()),
        ),
        (
            "not hex",
            body.clone(),
            Some("zz".repeat(64)),
            Some(ts.clone()),
        ),
        (
            "stale but signed",
            body.clone(),
            Some(Harness::sign_with(&h.key, &stale, &body)),
            Some(stale),
        ),
    ];
    for (what, b, sig, t) in cases {
        let (status, _) = h.post_raw(&b, sig, t).await;
        assert_eq!(status, 401, "{what}");
    }
    // Give a wrongly accepted request time to reach the engine and the stand-in.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        h.bot.engine.memory().len().await,
        0,
        "the engine saw nothing"
    );
    assert!(
        h.standin.requests().is_empty(),
        "nothing was sent to Discord"
    );
    assert!(h.standin.errors().is_empty());

    // The same request correctly signed is accepted.
    let (status, text) = h.post_raw(&body, Some(good), Some(ts)).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn discord_ping_gets_pong() {
    let h = Harness::start("").await;
    let (status, ack) = h.post_signed(&fixture("interaction_ping.json")).await;
    assert_eq!(status, 200);
    assert_eq!(ack, json!({ "type": 1 }));
    assert_callback_on_spec(&ack);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.standin.requests().is_empty());
    assert_eq!(h.bot.engine.memory().len().await, 0);
}

#[tokio::test]
async fn discord_choice_click_updates_the_message_and_answers() {
    let h = Harness::start("").await;
    // `/dba report` without a name: the engine asks which report, with choices.
    let mut ask = fixture("interaction_command.json");
    ask["id"] = json!("786008729715212350");
    ask["token"] = json!("dG9rZW4tYXNr");
    ask["data"]["options"][0]["options"] = json!([]);
    let (status, ack) = h.post_signed(&ask).await;
    assert_eq!((status, ack), (200, json!({ "type": 5 })));
    let got_buttons = h
        .wait_for(30, |r| r.iter().any(|x| x.json["components"].is_array()))
        .await;
    assert!(
        got_buttons,
        "{:#?} {:?}",
        h.standin.requests(),
        h.standin.errors()
    );
    let question = h
        .standin
        .requests()
        .into_iter()
        .find(|x| x.json["components"].is_array())
        .expect("question");
    // Discord's copy of the message (with component ids), as a click would carry it.
    let components = question.answer["components"].clone();
    let (custom_id, values) = components
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .find_map(|c| match c["type"].as_u64() {
            Some(2)
                if c["custom_id"]
                    .as_str()
                    .is_some_and(|id| id.ends_with(":health")) =>
            {
                Some((c["custom_id"].clone(), None))
            }
            Some(3) => Some((c["custom_id"].clone(), Some(json!(["health"])))),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no health choice in {components:#}"));

    let mut click = fixture("interaction_button.json");
    click["channel_id"] = json!(CHANNEL);
    click["channel"] = json!({ "id": CHANNEL, "type": 0, "name": "db-help", "guild_id": GUILD });
    click["data"] = match &values {
        None => json!({ "custom_id": custom_id, "component_type": 2 }),
        Some(v) => json!({ "custom_id": custom_id, "component_type": 3, "values": v }),
    };
    click["message"] = question.answer.clone();
    click["token"] = json!("dG9rZW4tY2xpY2s=");
    let before = h.standin.requests().len();
    let (status, update) = h.post_signed(&click).await;
    assert_eq!(status, 200);
    assert_eq!(update["type"], 7, "UPDATE_MESSAGE: {update:#}");
    assert_callback_on_spec(&update);
    let shown = update["data"]["components"].to_string();
    assert!(shown.contains("✓"), "the choice is shown: {shown}");
    assert!(update["data"]["components"][0]["components"][0]["disabled"] == true);

    // The answer to the click arrives as a follow-up (the question message stays as updated).
    let answered = h
        .wait_for(60, |r| {
            r[before.min(r.len())..]
                .iter()
                .any(|x| x.files.iter().any(|f| f.filename == "health-demo.csv"))
        })
        .await;
    let reqs = h.standin.requests();
    assert!(
        answered,
        "{:#?} {:?}",
        &reqs[before.min(reqs.len())..],
        h.standin.errors()
    );
    let after = &reqs[before..];
    assert!(after.iter().all(
        |r| r.method == "POST" && r.path == format!("/api/v10/webhooks/{APP}/dG9rZW4tY2xpY2s=")
    ));
    assert!(embed_titles(after)
        .iter()
        .any(|t| t.starts_with("Health report")));
    assert!(h.standin.errors().is_empty(), "{:?}", h.standin.errors());
    assert_eq!(
        h.bot.engine.memory().len().await,
        1,
        "one thread: the channel"
    );
}

#[tokio::test]
async fn discord_rate_limit_answers_politely_and_ephemerally() {
    let h = Harness::start("[rate_limits]\nuser_per_minute = 1\nguild_per_minute = 100").await;
    let mut first = fixture("interaction_command.json");
    first["data"]["options"][0] = json!({ "name": "help", "type": 1 });
    let (_, ack) = h.post_signed(&first).await;
    assert_eq!(ack["type"], 5);
    let mut second = first.clone();
    second["id"] = json!("786008729715212351");
    second["token"] = json!("dG9rZW4tc2Vjb25k");
    let (status, ack) = h.post_signed(&second).await;
    assert_eq!(status, 200);
    assert_ephemeral_saying(&ack, "try again in");
    // The limited request never reaches Discord's webhook.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h
        .standin
        .requests()
        .iter()
        .all(|r| !r.path.contains("dG9rZW4tc2Vjb25k")));
}

#[tokio::test]
async fn discord_follow_up_client_honours_retry_after() {
    let h = Harness::start("").await;
    h.standin.rate_limit_next.store(2, Ordering::SeqCst);
    h.standin.retry_after_ms.store(400, Ordering::SeqCst);
    let mut help = fixture("interaction_command.json");
    help["data"]["options"][0] = json!({ "name": "help", "type": 1 });
    let (_, ack) = h.post_signed(&help).await;
    assert_eq!(ack["type"], 5);
    let arrived = h.wait_for(30, |r| !r.is_empty()).await;
    assert!(arrived, "{:?}", h.standin.errors());
    let limited = h.standin.limited.lock().expect("lock").clone();
    assert_eq!(limited.len(), 2, "two 429s were answered");
    let first_ok = h.standin.requests()[0].at;
    assert!(
        limited[1].duration_since(limited[0]) >= Duration::from_millis(390),
        "waited retry_after between attempts"
    );
    assert!(first_ok.duration_since(limited[1]) >= Duration::from_millis(390));
    assert!(h.standin.errors().is_empty(), "{:?}", h.standin.errors());
}

#[tokio::test]
async fn discord_autocomplete_offers_target_aliases() {
    let h = Harness::start("").await;
    let mut q = fixture("interaction_autocomplete.json");
    q["data"]["options"][0]["options"][0]["value"] = json!("de");
    let (status, ack) = h.post_signed(&q).await;
    assert_eq!(status, 200);
    assert_eq!(
        ack,
        json!({ "type": 8, "data": { "choices": [{ "name": "demo", "value": "demo" }] } })
    );
    assert_callback_on_spec(&ack);
}

#[tokio::test]
async fn discord_registers_dba_in_the_dev_guild_or_globally() {
    let standin = StandIn::start().await;
    let section: toml::Value = toml::from_str(&format!(
        "mode = \"gateway\"\napplication_id = \"{APP}\"\ntoken_env = \"T\"\napi_base = \"{}\"\ndev_guild_id = \"{GUILD}\"\nreports = [\"health\", \"locks\"]",
        standin.base
    ))
    .expect("toml");
    let config = DiscordConfig::from_toml(&section, &|k: &str| {
        (k == "T").then(|| "test-bot-token".to_string())
    })
    .expect("config");
    register_commands(&config).await.expect("registered");
    let mut global = config.clone();
    global.dev_guild_id = None;
    register_commands(&global)
        .await
        .expect("registered globally");

    let reqs = standin.requests();
    assert!(standin.errors().is_empty(), "{:?}", standin.errors());
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(
        reqs[0].path,
        format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands")
    );
    assert_eq!(
        reqs[1].path,
        format!("/api/v10/applications/{APP}/commands")
    );
    assert_eq!(reqs[0].authorization.as_deref(), Some("Bot test-bot-token"));
    let dba = &reqs[0].json[0];
    assert_eq!(dba["name"], "dba");
    let subs: Vec<&str> = dba["options"]
        .as_array()
        .expect("subcommands")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        subs,
        ["help", "targets", "report", "status", "ask", "explain", "escalate", "forget"]
    );
    assert_eq!(
        dba["options"][2]["options"][0]["choices"][1]["value"],
        "locks"
    );
    assert_eq!(dba["options"][2]["options"][1]["autocomplete"], true);
}

// ------------------------------------------------------------------------------------------------
// Gateway mode: serenity against a fake gateway (HELLO, IDENTIFY, READY, dispatches) on loopback

/// A one-connection Discord gateway: says HELLO, checks IDENTIFY, sends READY, acknowledges
/// heartbeats and dispatches whatever the test sends through `events`.
struct FakeGateway {
    url: String,
    identify: Arc<Mutex<Option<Value>>>,
    events: tokio::sync::mpsc::UnboundedSender<(String, Value)>,
}

impl FakeGateway {
    async fn start() -> FakeGateway {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as Ws;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let identify = Arc::new(Mutex::new(None));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
        let seen = identify.clone();
        let resume_url = url.clone();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let hello =
                json!({ "op": 10, "d": { "heartbeat_interval": 41250 }, "s": null, "t": null });
            if ws.send(Ws::Text(hello.to_string())).await.is_err() {
                return;
            }
            let mut seq = 0u64;
            loop {
                tokio::select! {
                    incoming = ws.next() => {
                        let Some(Ok(msg)) = incoming else { return };
                        let Ok(text) = msg.to_text() else { continue };
                        let Ok(v) = serde_json::from_str::<Value>(text) else { continue };
                        match v["op"].as_u64() {
                            Some(1) => {
                                let _ = ws.send(Ws::Text(json!({ "op": 11 }).to_string())).await;
                            }
                            Some(2) => {
                                *seen.lock().expect("lock") = Some(v["d"].clone());
                                seq += 1;
                                let ready = json!({
                                    "op": 0, "t": "READY", "s": seq,
                                    "d": {
                                        "v": 10,
                                        "user": { "id": APP, "username": "dbabot", "discriminator": "0",
                                                  "global_name": null, "avatar": null, "bot": true,
                                                  "verified": true, "mfa_enabled": false, "flags": 0 },
                                        "guilds": [{ "id": GUILD, "unavailable": true }],
                                        "session_id": "fake-session",
                                        "resume_gateway_url": resume_url,
                                        "shard": [0, 1],
                                        "application": { "id": APP, "flags": 0 }
                                    }
                                });
                                let _ = ws.send(Ws::Text(ready.to_string())).await;
                            }
                            _ => {}
                        }
                    }
                    out = rx.recv() => {
                        let Some((t, d)) = out else { return };
                        seq += 1;
                        let frame = json!({ "op": 0, "t": t, "s": seq, "d": d });
                        if ws.send(Ws::Text(frame.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        FakeGateway {
            url,
            identify,
            events: tx,
        }
    }

    fn dispatch(&self, t: &str, d: Value) {
        self.events
            .send((t.to_string(), d))
            .expect("gateway running");
    }
}

fn channel_messages(r: &[Recorded], channel: &str) -> Vec<Recorded> {
    let path = format!("/api/v10/channels/{channel}/messages");
    r.iter()
        .filter(|x| x.method == "POST" && x.path == path)
        .cloned()
        .collect()
}

#[tokio::test]
async fn discord_gateway_mention_thread_follow_up_dm_and_slash_command() {
    let bot = TestBot::demo().await;
    let standin = StandIn::start().await;
    let gateway = FakeGateway::start().await;
    *standin.gateway_url.lock().expect("lock") = gateway.url.clone();
    let section: toml::Value = toml::from_str(&format!(
        "mode = \"gateway\"\napplication_id = \"{APP}\"\ntoken_env = \"T\"\napi_base = \"{}\"\ndev_guild_id = \"{GUILD}\"\ntargets = [\"demo\"]",
        standin.base
    ))
    .expect("toml");
    let config = DiscordConfig::from_toml(&section, &|k: &str| {
        (k == "T").then(|| "gateway-test-token".to_string())
    })
    .expect("config");
    let engine = bot.engine.clone();
    let run =
        tokio::spawn(async move { dbabot_discord::run_gateway(Arc::new(engine), config).await });
    let s = standin.clone();
    type Check = Box<dyn Fn(&[Recorded]) -> bool + Send>;
    let wait = |secs: u64, f: Check| {
        let s = s.clone();
        async move {
            wait_until(secs, || {
                let ok = f(&s.requests());
                async move { ok }
            })
            .await
        }
    };

    // IDENTIFY with the bot token and the four intents; /dba registered in the dev guild on READY.
    assert!(
        wait(20, Box::new(|r| r.iter().any(|x| x.method == "PUT"))).await,
        "no command registration: {:#?} {:?}",
        standin.requests(),
        standin.errors()
    );
    let identify = gateway
        .identify
        .lock()
        .expect("lock")
        .clone()
        .expect("identified");
    assert!(identify["token"]
        .as_str()
        .is_some_and(|t| t.ends_with("gateway-test-token")));
    let intents = identify["intents"].as_u64().expect("intents");
    assert_eq!(
        intents,
        (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15),
        "GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT"
    );
    let put = standin
        .requests()
        .into_iter()
        .find(|x| x.method == "PUT")
        .expect("PUT");
    assert_eq!(
        put.path,
        format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands")
    );

    // 1. A mention in a channel: a thread from the message, the answer in it.
    let mut mention = fixture("message_create_channel.json");
    mention["content"] = json!(format!("<@{APP}> report health demo"));
    gateway.dispatch("MESSAGE_CREATE", mention);
    let thread = "1240000000000000001";
    let answered = wait(
        60,
        Box::new(move |r| {
            channel_messages(r, thread)
                .iter()
                .any(|m| m.files.iter().any(|f| f.filename == "health-demo.csv"))
        }),
    )
    .await;
    let reqs = standin.requests();
    assert!(answered, "{reqs:#?} {:?}", standin.errors());
    let created = reqs
        .iter()
        .find(|x| x.path == format!("/api/v10/channels/{CHANNEL}/messages/{thread}/threads"))
        .expect("thread started from the message");
    assert_eq!(created.json["name"], "report health demo");
    assert_eq!(created.json["auto_archive_duration"], 1440);
    assert!(reqs
        .iter()
        .any(|x| x.path == format!("/api/v10/channels/{thread}/typing")));
    let eyes = format!("/api/v10/channels/{CHANNEL}/messages/{thread}/reactions/%F0%9F%91%80/@me");
    assert!(
        reqs.iter().any(|x| x.method == "PUT" && x.path == eyes),
        "the mention is acknowledged with 👀"
    );
    let in_thread = channel_messages(&reqs, thread);
    assert!(embed_titles(&in_thread)
        .iter()
        .any(|t| t.starts_with("Health report — demo")));
    assert!(in_thread
        .iter()
        .all(|m| m.authorization.as_deref() == Some("Bot gateway-test-token")));
    assert!(
        channel_messages(&reqs, CHANNEL).is_empty(),
        "nothing posted in the channel itself"
    );
    assert_eq!(bot.engine.memory().len().await, 1);

    // 2. A follow-up in that thread without a mention is answered there.
    let before = channel_messages(&standin.requests(), thread).len();
    let mut follow = fixture("message_create_followup.json");
    follow["channel_id"] = json!(thread);
    follow["content"] = json!("targets");
    gateway.dispatch("MESSAGE_CREATE", follow);
    let got = wait(
        30,
        Box::new(move |r| channel_messages(r, thread).len() > before),
    )
    .await;
    assert!(got, "follow-up not answered: {:?}", standin.errors());
    assert_eq!(bot.engine.memory().len().await, 1, "same thread");

    // 2b. A mention inside an existing thread (looked up: type 11) is answered in that thread,
    // without starting another.
    gateway.dispatch("MESSAGE_CREATE", fixture("message_create_thread.json"));
    let existing = "1250000000000000001";
    let got = wait(
        30,
        Box::new(move |r| !channel_messages(r, existing).is_empty()),
    )
    .await;
    let reqs = standin.requests();
    assert!(
        got,
        "mention in a thread not answered: {:?}",
        standin.errors()
    );
    assert!(reqs
        .iter()
        .any(|x| x.method == "GET" && x.path == format!("/api/v10/channels/{existing}")));
    assert!(!reqs
        .iter()
        .any(|x| x.path.contains(&format!("{existing}/threads"))));
    // The progress line can arrive before the turn is stored; wait for the memory.
    let memory = bot.engine.clone();
    assert!(
        wait_until(30, || {
            let m = memory.clone();
            async move { m.memory().len().await == 2 }
        })
        .await
    );

    // 3. Not for the bot: a plain channel message without a mention, and another bot's mention.
    let mut chatter = fixture("message_create_followup.json");
    chatter["id"] = json!("1240000000000000050");
    chatter["channel_id"] = json!(CHANNEL);
    chatter["content"] = json!("lunch?");
    gateway.dispatch("MESSAGE_CREATE", chatter);
    gateway.dispatch("MESSAGE_CREATE", fixture("message_create_bot.json"));

    // 4. A DM is answered in the DM channel, without a thread.
    gateway.dispatch("MESSAGE_CREATE", fixture("message_create_dm.json"));
    let dm = "1270000000000000001";
    let got = wait(30, Box::new(move |r| !channel_messages(r, dm).is_empty())).await;
    assert!(
        got,
        "DM not answered: {:#?} {:?}",
        standin.requests(),
        standin.errors()
    );

    // 5. /dba over the gateway: callback type 5, then the original response is edited. This
    // payload leaves out the subcommand's empty `options`, which serenity's model rejects; the
    // adapter's fallback parser reads it.
    let mut cmd = fixture("interaction_command.json");
    cmd["data"]["options"][0] = json!({ "name": "help", "type": 1 });
    gateway.dispatch("INTERACTION_CREATE", cmd.clone());
    let token = cmd["token"].as_str().expect("token").to_string();
    let edited = format!("/api/v10/webhooks/{APP}/{token}/messages/@original");
    let got = wait(30, Box::new(move |r| r.iter().any(|x| x.path == edited))).await;
    let reqs = standin.requests();
    assert!(got, "{reqs:#?} {:?}", standin.errors());
    let callback = reqs
        .iter()
        .find(|x| x.path == format!("/api/v10/interactions/786008729715212338/{token}/callback"))
        .expect("interaction callback");
    assert_eq!(callback.json, json!({ "type": 5 }));

    // 6. Autocomplete over the gateway (read by serenity's model): type 8 with the aliases.
    let mut ac = fixture("interaction_autocomplete.json");
    ac["data"]["options"][0]["options"][0]["value"] = json!("dem");
    gateway.dispatch("INTERACTION_CREATE", ac);
    let ac_path =
        "/api/v10/interactions/786008729715212400/aW50ZXJhY3Rpb246YXV0b2NvbXBsZXRl/callback";
    let got = wait(30, Box::new(move |r| r.iter().any(|x| x.path == ac_path))).await;
    let reqs = standin.requests();
    assert!(got, "{:?}", standin.errors());
    let ac_answer = reqs
        .iter()
        .find(|x| x.path == ac_path)
        .expect("autocomplete callback");
    assert_eq!(
        ac_answer.json,
        json!({ "type": 8, "data": { "choices": [{ "name": "demo", "value": "demo" }] } })
    );

    // Nothing was said in the channel or to the other bot; no off-spec request anywhere.
    assert!(channel_messages(&reqs, CHANNEL).is_empty());
    assert!(!reqs.iter().any(|x| x.path.contains("1240000000000000030")));
    assert!(standin.errors().is_empty(), "{:?}", standin.errors());
    // Threads: the new thread, the existing thread, the DM, and the slash command's channel.
    let memory = bot.engine.clone();
    assert!(
        wait_until(30, || {
            let m = memory.clone();
            async move { m.memory().len().await == 4 }
        })
        .await,
        "{} threads",
        bot.engine.memory().len().await
    );
    run.abort();
}

#[tokio::test]
async fn discord_a_replayed_interaction_runs_its_diagnostics_once() {
    let h = Harness::start("").await;
    async fn diagnostics(h: &Harness) -> usize {
        h.bot
            .engine
            .audit()
            .records(None, None)
            .await
            .expect("audit")
            .iter()
            .filter(|r| r.action == "diagnostic")
            .count()
    }
    let interaction = fixture("interaction_command.json");
    // One validly signed request, captured and sent four times.
    let body = serde_json::to_vec(&interaction).expect("json");
    let ts = now().to_string();
    let sig = Harness::sign_with(&h.key, &ts, &body);
    let mut acks = Vec::new();
    for _ in 0..4 {
        let (status, text) = h.post_raw(&body, Some(sig.clone()), Some(ts.clone())).await;
        assert_eq!(status, 200, "{text}");
        acks.push(serde_json::from_str::<Value>(&text).expect("json ack"));
    }
    assert_eq!(
        acks[0],
        json!({ "type": 5 }),
        "the first delivery is deferred"
    );
    for ack in &acks[1..] {
        assert_eq!(ack["type"], 4, "{ack:#}");
        assert_eq!(ack["data"]["flags"], 64, "only the sender sees it");
        assert!(
            ack["data"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("already received")),
            "{ack:#}"
        );
        assert_callback_on_spec(ack);
    }
    let arrived = h
        .wait_for(60, |r| csv_file(r).is_some() && !embed_titles(r).is_empty())
        .await;
    assert!(arrived, "{:#?}", h.standin.requests());
    let ran = diagnostics(&h).await;
    assert!(ran > 0, "the first delivery ran the report's checks");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(diagnostics(&h).await, ran, "a replay ran diagnostics");
    let edits = h
        .standin
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.json["embeds"].is_array())
        .count();
    assert_eq!(edits, 1, "answered more than once");

    // The same id re-signed with a later timestamp (only Discord could) is still one delivery.
    let later = (now() + 2).to_string();
    let resigned = Harness::sign_with(&h.key, &later, &body);
    let (status, text) = h.post_raw(&body, Some(resigned), Some(later)).await;
    assert_eq!(status, 200);
    assert!(text.contains("already received"), "{text}");
    // Outside the window the signature alone is not enough.
    let stale = (now() - 301).to_string();
    let stale_sig = Harness::sign_with(&h.key, &stale, &body);
    let (status, _) = h.post_raw(&body, Some(stale_sig), Some(stale)).await;
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(diagnostics(&h).await, ran);
}

/// Two replicas (two interaction endpoints, their own in-process replay guards) on one store:
/// the same interaction delivered to both runs once; the other is told it was received.
#[tokio::test]
async fn discord_the_same_interaction_at_two_replicas_is_answered_once() {
    let h = Harness::start("").await;
    let second = router(Arc::new(h.bot.engine.clone()), h.config.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint2 = format!(
        "http://{}/discord/interactions",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, second).await;
    });
    let mut interaction = fixture("interaction_command.json");
    interaction["id"] = json!("1300000000000000777");
    let (status, ack) = h.post_signed(&interaction).await;
    assert_eq!((status, ack["type"].as_u64()), (200, Some(5)), "{ack:#}");
    // The same delivery, freshly signed, at the other replica.
    let body = serde_json::to_vec(&interaction).expect("json");
    let ts = now().to_string();
    let sig = Harness::sign_with(&h.key, &ts, &body);
    let resp = h
        .client
        .post(&endpoint2)
        .header("content-type", "application/json")
        .header("X-Signature-Ed25519", sig)
        .header("X-Signature-Timestamp", ts)
        .body(body)
        .send()
        .await
        .expect("second replica answers");
    assert_eq!(resp.status().as_u16(), 200);
    let ack2: Value = resp.json().await.expect("json");
    assert_ephemeral_saying(&ack2, "already received");
    assert!(h.wait_for(60, |r| !embed_titles(r).is_empty()).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(answer_edits(&h), 1, "answered by both replicas");
}

/// An immediate ephemeral callback (type 4, flags 64) whose content says `needle`.
fn assert_ephemeral_saying(ack: &Value, needle: &str) {
    assert_eq!(ack["type"], 4, "{ack:#}");
    assert_eq!(ack["data"]["flags"], 64, "only the user sees it");
    assert!(
        ack["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains(needle)),
        "{ack:#}"
    );
    assert_callback_on_spec(ack);
}

/// Edits of the original response that carry an answer's embeds.
fn answer_edits(h: &Harness) -> usize {
    h.standin
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.json["embeds"].is_array())
        .count()
}
