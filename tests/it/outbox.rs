//! Escalation delivery in `serve` to Discord and Teams: the app is built in-process by
//! [`dbabot::app::App::build`] from a configuration naming a Discord or Teams DBA destination, a
//! requester asks to escalate from a Discord thread or a Teams channel, a DBA takes the case, and
//! the handoff and the requester's update arrive at local stand-ins speaking the platforms' wire
//! formats (Discord "Create Message" checked against Discord's OpenAPI description; the Workflows
//! trigger checking every card against the Adaptive Card 1.4 schema).

use crate::discord::{request_schema, spec_check};
use crate::teams::{workflows, CHANNEL as TEAMS_CHANNEL, TENANT};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dbabot::app::{App, ServeOptions};
use dbabot_chat::{InboundMessage, MessageHandler, Platform, User};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const ACCESS: &str = "default_role = \"viewer\"\nusers = [{ id = \"U1\", role = \"requester\" }, { id = \"UDBA\", role = \"dba\" }]\n";
const GUILD: &str = "290926798626357999";
const DBA_CHANNEL: &str = "645027906669510999";
/// A thread the requester's question was asked in (Discord threads are channels).
const THREAD: &str = "1250000000000000042";
const TEAMS_DBA_CHANNEL: &str = "19:dba0a1b2c3d4e5f6a7b8c9d0e1f2a3b4@thread.tacv2";

/// One `POST /api/v10/channels/{id}/messages` as the stand-in received it.
#[derive(Debug, Clone)]
struct Created {
    channel: String,
    body: Value,
    authorization: Option<String>,
}

/// A Discord REST stand-in for "Create Message": checks the bot token and the body against
/// the spec, answers with a message object carrying a fresh snowflake.
#[derive(Clone, Default)]
struct DiscordApi {
    created: Arc<Mutex<Vec<Created>>>,
    errors: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
    /// Answer this many of the next requests with HTTP 502 (a Discord outage).
    fail_next: Arc<AtomicU64>,
    attempts: Arc<AtomicU64>,
}

async fn create_message(
    State(s): State<DiscordApi>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    if s.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::BAD_GATEWAY, "upstream connect error").into_response();
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if authorization.as_deref() != Some("Bot outbox-bot-token") {
        s.errors
            .lock()
            .expect("lock")
            .push(format!("authorization {authorization:?}"));
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 0, "message": "401: Unauthorized"})),
        )
            .into_response();
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            s.errors
                .lock()
                .expect("lock")
                .push(format!("bad JSON: {e}"));
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"code": 50109, "message": "The request body contains invalid JSON."}),
                ),
            )
                .into_response();
        }
    };
    if let Err(e) = spec_check(
        &request_schema("/channels/{channel_id}/messages", "post"),
        &parsed,
    ) {
        s.errors
            .lock()
            .expect("lock")
            .push(format!("off-spec: {e}"));
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": 50035, "message": "Invalid Form Body"})),
        )
            .into_response();
    }
    let id = 1_300_000_000_000_000_000u64 + s.next.fetch_add(1, Ordering::SeqCst);
    s.created.lock().expect("lock").push(Created {
        channel: channel.clone(),
        body: parsed.clone(),
        authorization,
    });
    axum::Json(json!({
        "id": id.to_string(), "type": 0, "channel_id": channel,
        "content": parsed["content"].as_str().unwrap_or(""),
        "embeds": parsed["embeds"].clone(), "attachments": [], "mentions": [],
        "timestamp": "2026-12-02T06:00:00.000000+00:00"
    }))
    .into_response()
}

impl DiscordApi {
    async fn start() -> (DiscordApi, String) {
        let s = DiscordApi::default();
        let app = axum::Router::new()
            .route(
                "/api/v10/channels/{channel}/messages",
                axum::routing::post(create_message),
            )
            .with_state(s.clone());
        let base = crate::teams::serve(app).await;
        (s, base)
    }

    fn created(&self) -> Vec<Created> {
        self.created.lock().expect("lock").clone()
    }
}

fn user(id: &str) -> User {
    User {
        id: id.into(),
        display_name: format!("{id}-name"),
        groups: vec![],
    }
}

/// A `serve` configuration with `sections` (TOML text per section) on a fresh data directory.
async fn app(dir: &std::path::Path, sections: &[(&str, String)]) -> App {
    let mut cfg = dbabot::config::Config::embedded(dir.to_path_buf());
    for (name, text) in sections {
        cfg.sections.insert(
            name.to_string(),
            toml::from_str(text).expect("section toml"),
        );
    }
    App::build(cfg, ServeOptions::default())
        .await
        .expect("app builds")
}

/// U1 asks to escalate from `channel`/`thread`; returns the case that was opened.
async fn escalate_from(
    engine: &dbabot::Engine,
    platform: Platform,
    workspace: &str,
    channel: &str,
    thread: &str,
) -> dbabot::escalation::Case {
    let ask = InboundMessage::text(
        platform,
        workspace,
        channel,
        thread,
        user("U1"),
        "escalate the replica is 2 hours behind and I am stuck",
    );
    let r = engine.handle(ask).await.expect("turn");
    assert!(
        r.plain_text().contains("Escalated to the DBA team"),
        "{}",
        r.plain_text()
    );
    engine.cases().list(None).await.pop().expect("a case")
}

fn texts_of(v: &Value) -> String {
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_handoff_and_case_update_reach_discord_channels_and_threads() {
    let (api, base) = DiscordApi::start().await;
    // The bot token comes from the environment, as in production; a name no other test uses.
    std::env::set_var("DBABOT_OUTBOX_TEST_DISCORD_TOKEN", "outbox-bot-token");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let public_hex = hex::encode(key.verifying_key().to_bytes());
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(
        dir.path(),
        &[
            ("discord", format!("mode = \"interactions\"\napplication_id = \"1100000000000000001\"\npublic_key = \"{public_hex}\"\ntoken_env = \"DBABOT_OUTBOX_TEST_DISCORD_TOKEN\"\napi_base = \"{base}\"\nregister_commands = false\n")),
            ("escalation", format!("destination = {{ platform = \"discord\", workspace = \"{GUILD}\", channel = \"{DBA_CHANNEL}\" }}\n")),
            ("access", ACCESS.to_string()),
        ],
    )
    .await;
    let engine = app.engine().clone();
    let case = escalate_from(&engine, Platform::Discord, GUILD, THREAD, THREAD).await;
    let created = api.created();
    let handoff: Vec<&Created> = created
        .iter()
        .filter(|c| c.channel == DBA_CHANNEL)
        .collect();
    assert_eq!(handoff.len(), 1, "{created:?} / {:?}", api.errors.lock());
    let body = texts_of(&handoff[0].body);
    assert!(
        body.contains(&case.id) && body.contains("P4"),
        "handoff without the case: {body}"
    );
    assert_eq!(
        handoff[0].authorization.as_deref(),
        Some("Bot outbox-bot-token")
    );
    // The DBA takes it from the DBA channel; the requester's thread hears about it.
    let take = InboundMessage::text(
        Platform::Discord,
        GUILD,
        DBA_CHANNEL,
        DBA_CHANNEL,
        user("UDBA"),
        format!("case ack {}", case.id),
    );
    let r = engine.handle(take).await.expect("turn");
    assert!(r.plain_text().contains("You took"), "{}", r.plain_text());
    let update: Vec<Created> = api
        .created()
        .into_iter()
        .filter(|c| c.channel == THREAD)
        .collect();
    assert_eq!(update.len(), 1, "{:?}", api.created());
    assert!(
        texts_of(&update[0].body).contains("UDBA-name from the DBA team took"),
        "{:?}",
        update[0].body
    );
    assert!(
        api.errors.lock().expect("lock").is_empty(),
        "{:?}",
        api.errors.lock()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bot_token_discord_delivery_fails_with_the_reason() {
    let (api, base) = DiscordApi::start().await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let public_hex = hex::encode(key.verifying_key().to_bytes());
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(
        dir.path(),
        &[
            ("discord", format!("mode = \"interactions\"\napplication_id = \"1100000000000000001\"\npublic_key = \"{public_hex}\"\ntoken_env = \"DBABOT_OUTBOX_TEST_UNSET_TOKEN\"\napi_base = \"{base}\"\nregister_commands = false\n")),
            ("escalation", format!("destination = {{ platform = \"discord\", workspace = \"{GUILD}\", channel = \"{DBA_CHANNEL}\" }}\n")),
        ],
    )
    .await;
    let r = app
        .engine()
        .handle(InboundMessage::text(
            Platform::Discord,
            GUILD,
            THREAD,
            THREAD,
            user("U1"),
            "escalate the replica is 2 hours behind and I am stuck",
        ))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("Escalated"), "{}", r.plain_text());
    let case = app.engine().cases().list(None).await.pop().expect("case");
    assert_eq!(
        case.posted_to, None,
        "recorded as delivered without a token"
    );
    let e = dbabot_discord::rest::ChannelOutbox::new(&dbabot_discord::DiscordConfig::new(1))
        .expect_err("no token");
    assert!(e.to_string().contains("discord.token_env"), "{e}");
    assert!(api.created().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_handoff_and_case_update_reach_teams_channels_through_workflows() {
    // The DBA channel has its own flow; the requester's channel uses the default one.
    let (dba_flow, dba_url) = workflows(false).await;
    let (default_flow, default_url) = workflows(true).await;
    std::env::set_var("DBABOT_OUTBOX_TEST_TEAMS_TOKEN", crate::teams::TOKEN);
    std::env::set_var("DBABOT_OUTBOX_TEST_TEAMS_DBA_URL", &dba_url);
    std::env::set_var("DBABOT_OUTBOX_TEST_TEAMS_DEFAULT_URL", &default_url);
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(
        dir.path(),
        &[
            ("teams", format!("security_token_env = \"DBABOT_OUTBOX_TEST_TEAMS_TOKEN\"\nincoming_webhook_url_env = \"DBABOT_OUTBOX_TEST_TEAMS_DEFAULT_URL\"\n[channel_webhooks]\n\"{TEAMS_DBA_CHANNEL}\" = \"DBABOT_OUTBOX_TEST_TEAMS_DBA_URL\"\n[retry]\nmax_attempts = 3\ninitial_backoff_ms = 50\n")),
            ("escalation", format!("destination = {{ platform = \"teams\", workspace = \"{TENANT}\", channel = \"{TEAMS_DBA_CHANNEL}\" }}\n")),
            ("access", ACCESS.to_string()),
        ],
    )
    .await;
    let engine = app.engine().clone();
    let root = "1700000123456";
    let case = escalate_from(&engine, Platform::Teams, TENANT, TEAMS_CHANNEL, root).await;
    let handoff = dba_flow.posts();
    assert_eq!(handoff.len(), 1, "{:?}", dba_flow.problems());
    assert!(
        texts_of(&handoff[0]).contains(&case.id),
        "handoff without the case: {}",
        handoff[0]
    );
    assert!(
        default_flow.posts().is_empty(),
        "handoff went to the default flow"
    );

    let take = InboundMessage::text(
        Platform::Teams,
        TENANT,
        TEAMS_DBA_CHANNEL,
        "1700000999999",
        user("UDBA"),
        format!("case ack {}", case.id),
    );
    let r = engine.handle(take).await.expect("turn");
    assert!(r.plain_text().contains("You took"), "{}", r.plain_text());
    // The default flow answered the first attempt with 429 + Retry-After: 1; it was retried.
    let update = default_flow.posts();
    assert_eq!(update.len(), 1, "{:?}", default_flow.problems());
    let text = texts_of(&update[0]);
    assert!(text.contains("UDBA-name from the DBA team took"), "{text}");
    assert!(
        text.contains("https://teams.microsoft.com/l/message/")
            && text.contains("parentMessageId=1700000123456"),
        "the update does not link the requester's thread: {text}"
    );
    assert!(dba_flow.problems().is_empty() && default_flow.problems().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_5xx_is_retried_with_backoff_and_a_bad_channel_id_is_refused_locally() {
    let (api, base) = DiscordApi::start().await;
    let mut cfg = dbabot_discord::DiscordConfig::new(1_100_000_000_000_000_001);
    cfg.api_base = base;
    cfg.token = Some(dbabot_discord::Secret::new("outbox-bot-token"));
    let outbox = dbabot_discord::rest::ChannelOutbox::new(&cfg).expect("outbox");
    let d = dbabot_chat::Destination {
        platform: Platform::Discord,
        workspace: GUILD.into(),
        channel: DBA_CHANNEL.into(),
        thread: None,
    };
    api.fail_next.store(2, Ordering::SeqCst);
    let id = dbabot_chat::Outbox::post(&outbox, &d, &dbabot_chat::Reply::text("hello"))
        .await
        .expect("posted after two 502s");
    assert!(id.is_some());
    assert_eq!(api.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(api.created().len(), 1);
    // Not a snowflake: refused before any request.
    let bad = dbabot_chat::Destination {
        channel: "general".into(),
        ..d
    };
    let e = dbabot_chat::Outbox::post(&outbox, &bad, &dbabot_chat::Reply::text("hello"))
        .await
        .expect_err("not an id");
    assert!(e.to_string().contains("channel id is a number"), "{e}");
    assert_eq!(api.attempts.load(Ordering::SeqCst), 3);
}
