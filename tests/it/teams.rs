//! Microsoft Teams adapter over the wire: the real router on loopback, HMAC-signed outgoing
//! webhook Activities as Teams sends them, a real engine (SQLite demo or a throwaway PostgreSQL
//! database), and a local stand-in for the Workflows incoming webhook. Every card that reaches a
//! client or the stand-in is validated against the Adaptive Card 1.4 JSON schema in tests/fixtures.

use crate::support::{wait_until, TestBot, TestDb};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dbabot_chat::{
    Attachment, AttachmentBody, HandlerError, InboundMessage, MessageHandler, Part, Platform,
    Reply, Severity, Table, ThreadKey,
};
use dbabot_teams::card::{message_bytes, CONTENT_TYPE};
use dbabot_teams::{CardOptions, SecurityToken, TeamsConfig};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The security token Teams shows once when the outgoing webhook is created (base64, 32 bytes).
pub(crate) const TOKEN: &str = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA=";
const OTHER_TOKEN: &str = "q2lHnWn2yEoVhn0ydSXOYIzZKx3MI7eK9mYtTVY1nbQ=";
pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub(crate) const CHANNEL: &str = "19:c3b9a2e4f1d64b8c9e0f7a6b5c4d3e2f@thread.tacv2";
const TEAM: &str = "19:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e@thread.tacv2";
const DANA_AAD: &str = "6f0c2a1e-4b7d-4e2a-9c3f-8d1e5b7a9c20";

// ---------------------------------------------------------------------------------------------
// wire helpers

fn schema() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/adaptive-card-1.4.schema.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    // The file declares draft-06 (`$schema`) and uses the draft-04 style `id`; pin the draft.
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft6)
        .build(&schema)
        .expect("schema compiles")
}

fn card_errors(v: &jsonschema::Validator, card: &Value) -> Vec<String> {
    v.iter_errors(card)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `message` envelope problems (shape, content type, schema, size); empty when valid.
fn envelope_problems(v: &jsonschema::Validator, body: &Value, limit: usize) -> Vec<String> {
    let mut p = Vec::new();
    let size = serde_json::to_vec(body)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > limit {
        p.push(format!("payload of {size} bytes exceeds {limit}"));
    }
    if body["type"] != "message" {
        p.push(format!("type is {}", body["type"]));
    }
    match body["attachments"].as_array() {
        Some(atts) if !atts.is_empty() => {
            for (i, a) in atts.iter().enumerate() {
                if a["contentType"] != CONTENT_TYPE {
                    p.push(format!("attachment {i}: contentType {}", a["contentType"]));
                }
                let c = &a["content"];
                if c["type"] != "AdaptiveCard" || c["version"] != "1.4" {
                    p.push(format!("attachment {i}: not an AdaptiveCard 1.4"));
                }
                for e in card_errors(v, c) {
                    p.push(format!("attachment {i}: {e}"));
                }
                // Outgoing-webhook replies may only carry openURL actions.
                let s = c.to_string();
                for action in ["Action.Submit", "Action.Execute", "Action.ShowCard"] {
                    if s.contains(action) {
                        p.push(format!("attachment {i}: uses {action}"));
                    }
                }
            }
        }
        _ => p.push("no attachments".into()),
    }
    p
}

fn token() -> SecurityToken {
    SecurityToken::from_base64(TOKEN).expect("token")
}

/// `yyyy-mm-ddThh:mm:ss.mmmZ` for a Unix time (civil-from-days).
fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

pub(crate) fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    rfc3339(d.as_secs() as i64, d.subsec_millis())
}

/// An outgoing-webhook Activity as Teams posts it for "@dbabot <html>" in reply chain `root`.
fn activity(id: &str, root: &str, html: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "timestamp": now_rfc3339(),
        "localTimestamp": now_rfc3339().replace('Z', "+00:00"),
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": {
            "id": "29:1Xbq3yQJvU2QlH7hD4bT6a1nV8yS0kZrXc5PwLmN2oEiRtUyHgFdSaQwErTyUi",
            "name": "Dana Dev",
            "aadObjectId": DANA_AAD
        },
        "conversation": {
            "isGroup": true,
            "id": format!("{CHANNEL};messageid={root}"),
            "name": null,
            "conversationType": "channel",
            "tenantId": TENANT
        },
        "recipient": null,
        "textFormat": "plain",
        "attachmentLayout": null,
        "membersAdded": [],
        "membersRemoved": [],
        "topicName": null,
        "historyDisclosed": null,
        "locale": "en-US",
        "text": format!("<at>dbabot</at>&nbsp;{html}\n"),
        "speak": null,
        "inputHint": null,
        "summary": null,
        "suggestedActions": null,
        "attachments": [{
            "contentType": "text/html",
            "content": format!("<div><div><span itemscope=\"\" itemtype=\"http://schema.skype.com/Mention\" itemid=\"0\">dbabot</span>&nbsp;{html}</div>\n</div>")
        }],
        "entities": [
            {
                "type": "mention",
                "mentioned": { "id": "28:5d8f3a0b-7c61-4e2f-9a4d-1b2c3d4e5f60", "name": "dbabot" },
                "text": "<at>dbabot</at>"
            },
            { "type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/Berlin" }
        ],
        "channelData": {
            "teamsChannelId": CHANNEL,
            "teamsTeamId": TEAM,
            "channel": { "id": CHANNEL },
            "team": { "id": TEAM },
            "tenant": { "id": TENANT }
        },
        "action": null,
        "replyToId": null,
        "value": null,
        "name": null,
        "relatesTo": null,
        "code": null
    })
}

fn thread_key(root: &str) -> ThreadKey {
    ThreadKey::new(Platform::Teams, TENANT, CHANNEL, root)
}

fn config(deadline_ms: u64, webhook: Option<&str>) -> TeamsConfig {
    let mut t = format!(
        "security_token_env = \"TEAMS_SECURITY_TOKEN\"\nsync_deadline_ms = {deadline_ms}\n"
    );
    if webhook.is_some() {
        t.push_str("incoming_webhook_url_env = \"TEAMS_WEBHOOK_URL\"\n");
        t.push_str("[retry]\nmax_attempts = 4\ninitial_backoff_ms = 100\n");
    }
    let section: toml::Value = toml::from_str(&t).expect("toml");
    let hook = webhook.map(str::to_string);
    TeamsConfig::from_toml(&section, &move |k| match k {
        "TEAMS_SECURITY_TOKEN" => Some(TOKEN.to_string()),
        "TEAMS_WEBHOOK_URL" => hook.clone(),
        _ => None,
    })
    .expect("teams config")
}

/// Serves `app` on a random loopback port; returns its base URL.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn teams(handler: Arc<dyn MessageHandler>, cfg: TeamsConfig) -> String {
    serve(dbabot_teams::router(handler, cfg)).await
}

/// POSTs `body` to the Teams endpoint with `authorization`, returning status and JSON body.
async fn post(base: &str, body: &[u8], authorization: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/teams/messages"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_vec());
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
    let v = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

async fn post_signed(base: &str, activity: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(activity).expect("json");
    let sig = dbabot_teams::auth::sign(&token(), &body);
    post(base, &body, Some(&sig)).await
}

// ---------------------------------------------------------------------------------------------
// a local stand-in for the Workflows "When a Teams webhook request is received" trigger

pub(crate) struct Workflows {
    schema: jsonschema::Validator,
    posts: Mutex<Vec<Value>>,
    problems: Mutex<Vec<String>>,
    attempts: AtomicU32,
    throttle_once: AtomicBool,
    /// Answer this many of the next POSTs with HTTP 503 (an outage of the flow).
    fail_next: AtomicU32,
}

impl Workflows {
    pub(crate) fn posts(&self) -> Vec<Value> {
        self.posts.lock().expect("lock").clone()
    }
    pub(crate) fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("lock").clone()
    }
}

async fn workflows_trigger(
    State(w): State<Arc<Workflows>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    w.attempts.fetch_add(1, Ordering::SeqCst);
    if w.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": { "code": "ServiceUnavailable", "message": "The service is unavailable." } })),
        )
            .into_response();
    }
    if w.throttle_once.swap(false, Ordering::SeqCst) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({ "error": { "code": "TooManyRequests", "message": "Rate limit is exceeded. Try again in 1 seconds." } })),
        )
            .into_response();
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let mut problems = Vec::new();
    if !ct.starts_with("application/json") {
        problems.push(format!("content-type {ct}"));
    }
    match &parsed {
        Ok(v) => problems.extend(envelope_problems(&w.schema, v, 28 * 1024)),
        Err(e) => problems.push(format!("not JSON: {e}")),
    }
    if problems.is_empty() {
        if let Ok(v) = parsed {
            w.posts.lock().expect("lock").push(v);
        }
        StatusCode::ACCEPTED.into_response()
    } else {
        w.problems.lock().expect("lock").extend(problems.clone());
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": { "code": "InvalidRequestContent", "message": problems.join("; ") } })),
        )
            .into_response()
    }
}

/// Starts the stand-in; returns it and its trigger URL (shaped like the real one, `sig` and all).
pub(crate) async fn workflows(throttle_once: bool) -> (Arc<Workflows>, String) {
    let w = Arc::new(Workflows {
        schema: schema(),
        posts: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
        attempts: AtomicU32::new(0),
        throttle_once: AtomicBool::new(throttle_once),
        fail_next: AtomicU32::new(0),
    });
    let app = axum::Router::new()
        .route(
            "/workflows/{flow}/triggers/manual/paths/invoke",
            axum::routing::post(workflows_trigger),
        )
        .with_state(w.clone());
    let base = serve(app).await;
    let url = format!(
        "{base}/workflows/6a1b2c3d4e5f/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=c2lnbmF0dXJlLW5vdC1hLXNlY3JldA"
    );
    (w, url)
}

// ---------------------------------------------------------------------------------------------
// tests

#[test]
fn a_documented_outgoing_webhook_activity_becomes_the_engine_message() {
    let mut a = activity(
        "1700000123456",
        "1700000000000",
        "report <b>health</b> demo&nbsp;please &amp; thanks",
    );
    // Real activities sometimes carry the recipient too; the mention naming it is removed.
    a["recipient"] = json!({ "id": "28:5d8f3a0b-7c61-4e2f-9a4d-1b2c3d4e5f60", "name": "dbabot" });
    let activity: dbabot_teams::Activity = serde_json::from_value(a).expect("activity parses");
    let m = dbabot_teams::to_inbound(&activity).expect("maps");
    assert_eq!(m.platform, Platform::Teams);
    assert_eq!(m.workspace, TENANT);
    assert_eq!(m.channel, CHANNEL);
    assert_eq!(m.thread, "1700000000000");
    assert_eq!(m.message_id.as_deref(), Some("1700000123456"));
    assert_eq!(m.user.id, DANA_AAD);
    assert_eq!(m.user.display_name, "Dana Dev");
    assert_eq!(m.text, "report health demo please & thanks");
    assert!(m.mentioned);
    assert_eq!(
        m.thread_key().to_string(),
        format!("teams/{TENANT}/{CHANNEL}/1700000000000")
    );
    assert!(m
        .link
        .as_deref()
        .is_some_and(|l| l.starts_with("https://teams.microsoft.com/l/message/19%3Ac3b9")));
    assert_eq!(activity.bot_name().as_deref(), Some("dbabot"));

    // Without aadObjectId the Teams user id is used; without channelData the conversation id.
    let mut bare = activity.clone();
    if let Some(f) = bare.from.as_mut() {
        f.aad_object_id = None;
    }
    bare.channel_data = None;
    let m = dbabot_teams::to_inbound(&bare).expect("maps");
    assert!(m.user.id.starts_with("29:"));
    assert_eq!(m.channel, CHANNEL);
    assert_eq!(m.workspace, TENANT, "conversation.tenantId");

    // Only messages are handled.
    let mut update = activity;
    update.kind = Some("conversationUpdate".into());
    assert!(dbabot_teams::to_inbound(&update).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_badly_signed_requests_are_refused_before_anything_happens() {
    let bot = TestBot::demo().await;
    let handler: Arc<dyn MessageHandler> = Arc::new(bot.engine.clone());
    let base = teams(handler, config(4_500, None)).await;
    let body =
        serde_json::to_vec(&activity("1700000000001", "1700000000001", "help")).expect("json");
    let good = dbabot_teams::auth::sign(&token(), &body);
    let wrong = dbabot_teams::auth::sign(
        &SecurityToken::from_base64(OTHER_TOKEN).expect("token"),
        &body,
    );
    let mut tampered = body.clone();
    let at = tampered
        .windows(4)
        .position(|w| w == b"help")
        .expect("text in body");
    tampered[at..at + 4].copy_from_slice(b"forg");

    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing header", body.clone(), None),
        ("wrong token", body.clone(), Some(wrong)),
        ("tampered body", tampered, Some(good.clone())),
        ("malformed: bearer", body.clone(), Some("Bearer abc".into())),
        (
            "malformed: not base64",
            body.clone(),
            Some("HMAC ***".into()),
        ),
        (
            "malformed: short tag",
            body.clone(),
            Some("HMAC AAAA".into()),
        ),
        ("malformed: bare scheme", body.clone(), Some("HMAC".into())),
    ];
    for (what, b, auth) in cases {
        let (status, json) = post(&base, &b, auth.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {json}");
        assert_eq!(json["error"], "unauthorized", "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {json}"
        );
        assert_eq!(
            bot.engine.memory().len().await,
            0,
            "{what}: the engine was called"
        );
    }
    // A correctly signed but stale activity (outside the replay window) is refused too.
    let mut old = activity("1700000000002", "1700000000002", "help");
    old["timestamp"] = json!("2023-11-14T22:13:20.123Z");
    let (status, json) = post_signed(&base, &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert_eq!(json["error"], "replayed", "{json}");
    assert_eq!(bot.engine.memory().len().await, 0);

    // The same body with the right signature is answered and remembered.
    let (status, json) = post(&base, &body, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(bot.engine.memory().len().await, 1);
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_question_is_answered_synchronously_with_a_valid_card() {
    let bot = TestBot::demo().await;
    let handler: Arc<dyn MessageHandler> = Arc::new(bot.engine.clone());
    let (hook, url) = workflows(false).await;
    let base = teams(handler, config(4_500, Some(&url))).await;
    let v = schema();

    let started = Instant::now();
    let (status, json) =
        post_signed(&base, &activity("1700000000101", "1700000000100", "help")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        envelope_problems(&v, &json, 28_000),
        Vec::<String>::new(),
        "{json:#}"
    );
    let card = json["attachments"][0]["content"].to_string();
    assert!(card.contains("your read-only DBA assistant"), "{card}");
    assert!(card.contains("report <name> [target]"), "{card}");
    // Nothing needed the incoming webhook.
    assert!(hook.posts().is_empty());

    // A report on the demo (SQLite, fast) also comes back in the response, with its CSV shown
    // inline because webhooks cannot upload files.
    let (status, json) = post_signed(
        &base,
        &activity("1700000000102", "1700000000100", "report schema demo"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        envelope_problems(&v, &json, 28_000),
        Vec::<String>::new(),
        "{json:#}"
    );
    let card = json["attachments"][0]["content"].to_string();
    assert!(card.contains("Schema review — demo"), "{card}");
    assert!(card.contains("cannot upload files"), "{card}");
    assert!(card.contains("FactSet"), "{card}");
    assert!(card.contains("ColumnSet"), "{card}");
    // Both turns landed in the thread of the Teams reply chain.
    let state = bot
        .engine
        .memory()
        .load(&thread_key("1700000000100"))
        .await
        .expect("load")
        .expect("thread remembered");
    assert_eq!(state.turns.len(), 4);
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_choices_are_a_numbered_list_answered_by_number_in_the_reply_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let mut copy = demo.clone();
    copy.alias = "shop-copy".into();
    let bot = TestBot::in_dir(dir, vec![demo, copy]);
    let handler: Arc<dyn MessageHandler> = Arc::new(bot.engine.clone());
    let base = teams(handler, config(4_500, None)).await;
    let v = schema();

    let (status, json) = post_signed(
        &base,
        &activity("1700000000201", "1700000000200", "any duplicate indexes?"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(envelope_problems(&v, &json, 28_000), Vec::<String>::new());
    let card = json["attachments"][0]["content"].to_string();
    assert!(card.contains("**1.** demo"), "{card}");
    assert!(card.contains("**2.** shop-copy"), "{card}");
    assert!(card.contains("@dbabot 1"), "{card}");
    assert!(!card.contains("Action."), "{card}");

    // "@dbabot 2" in the same reply chain picks the second target.
    let (status, json) = post_signed(&base, &activity("1700000000202", "1700000000200", "2")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(envelope_problems(&v, &json, 28_000), Vec::<String>::new());
    let card = json["attachments"][0]["content"].to_string();
    assert!(card.contains("shop-copy"), "{card}");
    assert!(!card.contains("**1.** demo"), "asked again: {card}");
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_activity_is_answered_once() {
    let bot = TestBot::demo().await;
    let handler: Arc<dyn MessageHandler> = Arc::new(bot.engine.clone());
    let base = teams(handler, config(4_500, None)).await;
    let a = activity("1700000000301", "1700000000300", "targets");
    let body = serde_json::to_vec(&a).expect("json");
    let sig = dbabot_teams::auth::sign(&token(), &body);
    let (first, second) = tokio::join!(post(&base, &body, Some(&sig)), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        post(&base, &body, Some(&sig)).await
    });
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(second.0, StatusCode::OK);
    let texts = [first.1.to_string(), second.1.to_string()];
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("duplicate delivery ignored"))
            .count(),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("AdaptiveCard")).count(),
        1,
        "{texts:#?}"
    );
    // A third delivery later is still a duplicate.
    let (_, third) = post(&base, &body, Some(&sig)).await;
    assert!(third.to_string().contains("duplicate"), "{third}");
    let state = bot
        .engine
        .memory()
        .load(&thread_key("1700000000300"))
        .await
        .expect("load")
        .expect("thread");
    assert_eq!(state.turns.len(), 2, "one user turn and one bot turn");
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_diagnostics_answer_working_on_it_then_the_card_arrives_through_the_webhook() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE orders (id bigserial PRIMARY KEY, status text NOT NULL);
         INSERT INTO orders (status) SELECT 'new' FROM generate_series(1, 1000);",
    )
    .await
    .expect("schema");
    // Hold an exclusive lock so the size checks wait until their statement timeout.
    let mut locker = db.pg().await;
    locker
        .execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = dbabot::config::Config::embedded(dir.path().to_path_buf());
    cfg.limits.statement_timeout_ms = 2_000;
    cfg.targets = vec![db.target("ordersdb", "prod", "aws")];
    let engine = dbabot::Engine::new(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        dbabot::memory::Memory::open(&dir.path().join("memory")).expect("memory"),
        Arc::new(dbabot::recommend::RulesRecommender),
    )
    .expect("engine");
    let handler: Arc<dyn MessageHandler> = Arc::new(engine.clone());
    // The Workflows stand-in throttles the first delivery (429, Retry-After: 1).
    let (hook, url) = workflows(true).await;
    let base = teams(handler, config(300, Some(&url))).await;

    let started = Instant::now();
    let (status, json) = post_signed(
        &base,
        &activity("1700000000401", "1700000000400", "report space ordersdb"),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(took < Duration::from_millis(2_000), "took {took:?}");
    assert_eq!(json["type"], "message");
    let text = json["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("post the full answer in this channel"),
        "{json}"
    );
    assert!(json.get("attachments").is_none(), "{json}");
    // Not answered yet: the checks are still waiting on the lock.
    assert!(hook.posts().is_empty());

    assert!(
        wait_until(30, || async { !hook.posts().is_empty() }).await,
        "no card reached the incoming webhook; problems: {:?}",
        hook.problems()
    );
    assert!(hook.problems().is_empty(), "{:?}", hook.problems());
    assert!(
        hook.attempts.load(Ordering::SeqCst) >= 2,
        "the 429 was retried"
    );
    let posts = hook.posts();
    let first = posts[0]["attachments"][0]["content"].to_string();
    assert!(first.contains("**Dana Dev** asked:"), "{first}");
    assert!(first.contains("“report space ordersdb”"), "{first}");
    assert!(first.contains("Space report — ordersdb"), "{first}");
    assert!(first.contains("timed out after 2000 ms"), "{first}");
    // Every delivered card is within the limit (checked by the stand-in too).
    for p in &posts {
        let c = &p["attachments"][0]["content"];
        assert!(message_bytes(c) <= 28_000);
    }
    // The late answer is in the thread's memory like any other.
    let state = engine
        .memory()
        .load(&thread_key("1700000000400"))
        .await
        .expect("load")
        .expect("thread");
    assert_eq!(state.turns.len(), 2);

    locker.execute("ROLLBACK").await.expect("rollback");
    locker.close().await.ok();
    c.close().await.ok();
    engine.runner().close().await;
}

/// A handler that answers every message with a large report (200 rows plus a CSV).
struct BigReport;

fn big_report() -> Reply {
    let rows: Vec<Vec<String>> = (0..200)
        .map(|i| {
            vec![
                format!("public.events_{i:03}"),
                format!("{}", 1_000_000 + i * 7_919),
                format!("{} MB", 10 + i),
                format!(
                    "CREATE INDEX CONCURRENTLY ON public.events_{i:03} (customer_id, created_at)"
                ),
            ]
        })
        .collect();
    let csv: String = std::iter::once("check,tbl,rows,size,advice".to_string())
        .chain(
            rows.iter()
                .map(|r| format!("largest_tables,{}", r.join(","))),
        )
        .collect::<Vec<_>>()
        .join("\n");
    Reply {
        severity: Some(Severity::Critical),
        intent: Some("report_request".into()),
        ..Reply::default()
    }
    .with(Part::Heading {
        text: "Space report — warehouse".into(),
        level: 1,
    })
    .with(Part::Heading {
        text: "Largest tables (largest_tables)".into(),
        level: 2,
    })
    .with(Part::Bullets {
        items: vec!["[CRITICAL] public.events_000 is 90% of the database".into()],
    })
    .with(Part::Table(Table {
        title: Some("all 200 rows".into()),
        columns: vec!["tbl".into(), "rows".into(), "size".into(), "advice".into()],
        rows,
    }))
    .with(Part::Attachment(Attachment {
        name: "space-warehouse.csv".into(),
        content_type: "text/csv".into(),
        body: AttachmentBody::Text(csv),
    }))
}

#[async_trait]
impl MessageHandler for BigReport {
    async fn handle(&self, _message: InboundMessage) -> Result<Reply, HandlerError> {
        Ok(big_report())
    }
}

#[test]
fn a_200_row_report_splits_into_valid_cards_under_the_byte_limit() {
    let v = schema();
    let cards = dbabot_teams::render_cards(&big_report(), &CardOptions::default());
    assert!(cards.len() >= 3, "{} cards", cards.len());
    let all: String = cards.iter().map(|c| c.to_string()).collect();
    for (k, c) in cards.iter().enumerate() {
        assert!(
            message_bytes(c) <= 28_000,
            "card {k}: {} bytes",
            message_bytes(c)
        );
        assert_eq!(card_errors(&v, c), Vec::<String>::new(), "card {k}");
        if k > 0 {
            assert!(
                c.to_string()
                    .contains(&format!("part {} of {}", k + 1, cards.len())),
                "card {k}"
            );
        }
    }
    for i in [0, 100, 199] {
        assert!(
            all.contains(&format!("\"public.events_{i:03}\"")),
            "row {i}"
        );
    }
    // The headline carries the severity colour.
    assert_eq!(cards[0]["body"][0]["style"], "attention");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_long_for_one_card_continues_through_the_webhook() {
    let (hook, url) = workflows(false).await;
    let base = teams(Arc::new(BigReport), config(4_500, Some(&url))).await;
    let v = schema();
    let (status, json) = post_signed(
        &base,
        &activity("1700000000501", "1700000000500", "report space warehouse"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(envelope_problems(&v, &json, 28_000), Vec::<String>::new());
    assert_eq!(json["attachments"].as_array().map(Vec::len), Some(1));
    let expected = dbabot_teams::render_cards(&big_report(), &CardOptions::default()).len();
    assert!(
        wait_until(20, || async { hook.posts().len() == expected - 1 }).await,
        "posted {} of {}; problems {:?}",
        hook.posts().len(),
        expected - 1,
        hook.problems()
    );
    assert!(hook.problems().is_empty(), "{:?}", hook.problems());
    let second = hook.posts()[0]["attachments"][0]["content"].to_string();
    assert!(
        second.contains(&format!("part 2 of {expected}")),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_continuation_card_fails_a_closing_note_says_the_answer_is_incomplete() {
    let (hook, url) = workflows(false).await;
    // config() allows 4 attempts per POST: the first continuation card fails for good.
    hook.fail_next.store(4, Ordering::SeqCst);
    let base = teams(Arc::new(BigReport), config(4_500, Some(&url))).await;
    let (status, json) = post_signed(
        &base,
        &activity("1700000000601", "1700000000600", "report space warehouse"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let total = dbabot_teams::render_cards(&big_report(), &CardOptions::default()).len();
    assert!(total >= 3, "the report should need several cards: {total}");
    assert!(
        wait_until(20, || async { !hook.posts().is_empty() }).await,
        "no closing note; problems {:?}",
        hook.problems()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = hook.posts();
    assert_eq!(posts.len(), 1, "only the note after the failure: {posts:?}");
    let note = posts[0].to_string();
    assert!(
        note.contains(&format!(
            "This answer is incomplete: parts 2–{total} of {total} could not be posted (the channel's workflow answered HTTP 503)"
        )),
        "{note}"
    );
    assert!(!note.contains("sig="), "{note}");
    assert!(hook.problems().is_empty(), "{:?}", hook.problems());
}

/// Answers after `delay`.
struct Slow(Duration);

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(&self, _message: InboundMessage) -> Result<Reply, HandlerError> {
        tokio::time::sleep(self.0).await;
        Ok(Reply::text("done"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_deadline_leaves_at_least_one_and_a_half_seconds_of_teams_five() {
    let section: toml::Value =
        toml::from_str("security_token_env = \"TEAMS_SECURITY_TOKEN\"\n").expect("toml");
    let cfg = TeamsConfig::from_toml(&section, &|k| {
        (k == "TEAMS_SECURITY_TOKEN").then(|| TOKEN.to_string())
    })
    .expect("config");
    assert_eq!(cfg.sync_deadline, Duration::from_millis(3_500));
    assert_eq!(
        TeamsConfig::new(TOKEN).expect("config").sync_deadline,
        Duration::from_millis(3_500)
    );
    let base = teams(Arc::new(Slow(Duration::from_secs(6))), cfg).await;
    let started = Instant::now();
    let (status, json) = post_signed(
        &base,
        &activity("1700000000701", "1700000000700", "report health demo"),
    )
    .await;
    let took = started.elapsed();
    println!("Teams \"working on it\" after {took:?} (budget 5 s)");
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(
        json["text"]
            .as_str()
            .is_some_and(|t| t.contains("longer than Teams waits")),
        "{json}"
    );
    assert!(took >= Duration::from_millis(3_450), "{took:?}");
    assert!(
        took <= Duration::from_millis(3_500) + Duration::from_millis(150),
        "less than ~1.5 s of the 5 s left: {took:?}"
    );
}
