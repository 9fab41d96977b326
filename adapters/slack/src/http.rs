//! Events API over HTTP (axum): `/slack/events`, `/slack/commands`, `/slack/interactivity`.
//!
//! Every request is verified on its raw bytes before anything is parsed (401 otherwise), then
//! acknowledged at once — Slack's deadline is 3 seconds — and the work continues in a task.
//!
//! Replays: a signed request is only accepted within `max_request_age_secs` (five minutes, as
//! "Verifying requests from Slack" recommends) of its `X-Slack-Request-Timestamp`, and inside
//! that window each delivery runs once. Events are deduplicated by `event_id`; slash commands
//! and interactivity payloads by their `trigger_id` and by the request signature (a replay must
//! carry the same timestamp, body and therefore signature). A replayed command gets an
//! ephemeral "already received" answer, a replayed click a bare 200; neither runs anything.

use crate::bot::{CommandForm, SlackBot};
use crate::verify::{verify, VerifyError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// Seconds since the Unix epoch; injectable so tests can verify Slack's 2018 signing example.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

#[derive(Clone)]
struct AppState {
    bot: SlackBot,
    clock: Clock,
}

/// The three Slack endpoints, verifying with the wall clock.
pub fn router(bot: SlackBot) -> Router {
    router_with_clock(
        bot,
        Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }),
    )
}

/// As [`router`], with an explicit clock.
pub fn router_with_clock(bot: SlackBot, clock: Clock) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/commands", post(commands))
        .route("/slack/interactivity", post(interactivity))
        .with_state(AppState { bot, clock })
}

fn reject(e: VerifyError) -> Response {
    tracing::warn!(reason = %e, "rejected unsigned or badly signed Slack request");
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"ok": false, "error": format!("invalid request signature: {e}")})),
    )
        .into_response()
}

fn bad_request(what: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ok": false, "error": what})),
    )
        .into_response()
}

fn check(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<(), VerifyError> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let secret = state
        .bot
        .config()
        .signing_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or("");
    if secret.is_empty() {
        return Err(VerifyError::BadSignature);
    }
    verify(
        secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        (state.clock)(),
        state.bot.config().max_request_age_secs,
    )
}

/// What a replayed slash command is told.
const REPLAYED: &str =
    "This request was already received; it is not run again (replayed or duplicate delivery).";

/// Records the delivery keys of a verified command or interactivity request; false (and a
/// warning) for a replay.
fn first_request(state: &AppState, headers: &HeaderMap, trigger_id: Option<&str>) -> bool {
    let sig = headers
        .get("x-slack-signature")
        .and_then(|v| v.to_str().ok())
        .map(|s| format!("sig:{}", s.trim()))
        .unwrap_or_default();
    let trigger = trigger_id
        .filter(|t| !t.is_empty())
        .map(|t| format!("trigger:{t}"))
        .unwrap_or_default();
    let first = state.bot.first_request(&[&sig, &trigger]);
    if !first {
        tracing::warn!(
            trigger_id = trigger_id.unwrap_or("-"),
            "replayed Slack request acknowledged, not processed"
        );
    }
    first
}

async fn events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = check(&state, &headers, &body) {
        return reject(e);
    }
    let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body is not JSON");
    };
    match envelope.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = envelope
                .get("challenge")
                .and_then(Value::as_str)
                .unwrap_or("");
            Json(json!({"challenge": challenge})).into_response()
        }
        Some("event_callback") => {
            let event_id = envelope
                .get("event_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let retry = headers
                .get("x-slack-retry-num")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if !event_id.is_empty() && !state.bot.first_delivery(&event_id) {
                tracing::info!(%event_id, retry = retry.as_deref().unwrap_or("-"), "duplicate delivery acknowledged, not processed");
                return StatusCode::OK.into_response();
            }
            let bot = state.bot.clone();
            tokio::spawn(async move {
                // Another replica may have received the same delivery (Slack retries to any
                // instance behind the load balancer): the shared store decides, after the ack.
                if !event_id.is_empty()
                    && !bot.claim_delivery(&format!("slack:event:{event_id}")).await
                {
                    tracing::info!(%event_id, "delivery already claimed by another replica, not processed");
                    return;
                }
                bot.on_event(envelope).await
            });
            StatusCode::OK.into_response()
        }
        Some("app_rate_limited") => {
            tracing::warn!("Slack reports this app is rate limited for events");
            StatusCode::OK.into_response()
        }
        _ => bad_request("unknown envelope type"),
    }
}

async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = check(&state, &headers, &body) {
        return reject(e);
    }
    let Ok(cmd) = serde_urlencoded::from_bytes::<CommandForm>(&body) else {
        return bad_request("not a slash command form");
    };
    if !first_request(&state, &headers, cmd.trigger_id.as_deref()) {
        return Json(json!({"response_type": "ephemeral", "text": REPLAYED})).into_response();
    }
    let text = crate::convert::command_text(&cmd.text);
    let bot = state.bot.clone();
    tokio::spawn(async move { bot.on_command(cmd).await });
    Json(json!({"response_type": "ephemeral", "text": format!("Working on `/dba {text}`…")}))
        .into_response()
}

#[derive(serde::Deserialize)]
struct InteractionForm {
    payload: String,
}

async fn interactivity(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = check(&state, &headers, &body) {
        return reject(e);
    }
    let Ok(form) = serde_urlencoded::from_bytes::<InteractionForm>(&body) else {
        return bad_request("missing payload");
    };
    let Ok(payload) = serde_json::from_str::<Value>(&form.payload) else {
        return bad_request("payload is not JSON");
    };
    let trigger = payload.get("trigger_id").and_then(Value::as_str);
    if !first_request(&state, &headers, trigger) {
        return StatusCode::OK.into_response();
    }
    if payload.get("type").and_then(Value::as_str) == Some("block_actions") {
        let bot = state.bot.clone();
        tokio::spawn(async move { bot.on_block_actions(payload).await });
    }
    StatusCode::OK.into_response()
}
