//! `POST /teams/messages`: the outgoing-webhook endpoint.
//!
//! ```text
//! request ─► HMAC check on raw bytes (401) ─► parse Activity (400) ─► timestamp window (401)
//!         ─► Activity id seen? (200 "duplicate ignored") ─► InboundMessage
//!         ─► engine turn in its own task ─┬─ done before the deadline: 200 + card
//!                                         └─ not yet: 200 "working on it"; when done, the
//!                                            cards go to the channel's incoming webhook
//! ```

use crate::activity::{self, Activity};
use crate::auth;
use crate::card::{self, CardOptions, Requester};
use crate::config::TeamsConfig;
use crate::webhook::IncomingWebhook;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dbabot_chat::{HandlerError, InboundMessage, MessageHandler, Reply};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The path Teams posts to; the outgoing webhook's callback URL is `https://<host>` + this.
pub const PATH: &str = "/teams/messages";

/// Most Activity ids remembered at once.
const SEEN_CAPACITY: usize = 100_000;

/// Activity ids seen recently (bounded by age and count).
struct Seen {
    ids: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    ttl: Duration,
}

impl Seen {
    fn new(ttl: Duration) -> Self {
        Seen {
            ids: HashMap::new(),
            order: VecDeque::new(),
            ttl,
        }
    }

    /// Records `id`; `false` when it was already seen within the ttl.
    fn first_time(&mut self, id: &str, now: Instant) -> bool {
        while let Some((t, old)) = self.order.front() {
            let expired = now.duration_since(*t) > self.ttl;
            if expired || self.order.len() > SEEN_CAPACITY {
                if self.ids.get(old) == Some(t) {
                    self.ids.remove(old);
                }
                self.order.pop_front();
            } else {
                break;
            }
        }
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_string(), now);
        self.order.push_back((now, id.to_string()));
        true
    }
}

struct AppState {
    handler: Arc<dyn MessageHandler>,
    config: TeamsConfig,
    seen: Mutex<Seen>,
    default_hook: Option<IncomingWebhook>,
    channel_hooks: BTreeMap<String, IncomingWebhook>,
}

impl AppState {
    fn hook_for(&self, channel: &str) -> Option<&IncomingWebhook> {
        self.channel_hooks
            .get(channel)
            .or(self.default_hook.as_ref())
    }

    fn card_options(&self, bot_name: String, requester: Option<Requester>) -> CardOptions {
        CardOptions {
            max_card_bytes: self.config.max_card_bytes,
            csv_preview_rows: self.config.csv_preview_rows,
            bot_name,
            requester,
        }
    }
}

fn client(config: &TeamsConfig, url: &crate::config::WebhookUrl) -> Option<IncomingWebhook> {
    match IncomingWebhook::new(
        url.clone(),
        config.retry,
        config.webhook_timeout,
        config.max_card_bytes.saturating_add(1_024),
    ) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!(error = %e, webhook = %url.redacted(), "incoming webhook disabled");
            None
        }
    }
}

/// The Teams routes: `POST /teams/messages` (see the module docs). Mount it next to the other
/// platforms' routes; TLS must be terminated in front of it.
pub fn router(handler: Arc<dyn MessageHandler>, config: TeamsConfig) -> Router {
    let default_hook = config
        .incoming_webhook
        .as_ref()
        .and_then(|u| client(&config, u));
    let channel_hooks = config
        .channel_webhooks
        .iter()
        .filter_map(|(ch, u)| client(&config, u).map(|h| (ch.clone(), h)))
        .collect();
    if default_hook.is_none() && config.channel_webhooks.is_empty() {
        tracing::warn!(
            "[teams] has no incoming webhook: answers slower than the sync deadline cannot be delivered"
        );
    }
    let limit = config.max_body_bytes;
    let state = Arc::new(AppState {
        handler,
        seen: Mutex::new(Seen::new(config.dedupe_ttl())),
        config,
        default_hook,
        channel_hooks,
    });
    Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

async fn receive(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let span = tracing::info_span!(
        "teams_request",
        activity = tracing::field::Empty,
        thread = tracing::field::Empty,
    );
    handle(st, headers, body).instrument(span).await
}

async fn handle(st: Arc<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    // 1. Authenticity first: nothing is parsed before the signature matches.
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if let Err(e) = auth::verify(&st.config.security_tokens, auth, &body) {
        tracing::warn!(reason = %e, bytes = body.len(), "teams request refused");
        return error(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string());
    }
    // 2. The Activity.
    let activity: Activity = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "signed body is not an Activity");
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("body is not a Bot Framework Activity: {e}"),
            );
        }
    };
    // 3. Replay window on the signed timestamp.
    if !st.config.replay_window.is_zero() {
        if let Some(ts) = activity
            .timestamp
            .as_deref()
            .and_then(activity::parse_rfc3339)
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let skew = (now - ts).unsigned_abs();
            if skew > st.config.replay_window.as_secs() {
                tracing::warn!(skew_secs = skew, "teams activity outside the replay window");
                return error(
                    StatusCode::UNAUTHORIZED,
                    "replayed",
                    format!(
                        "activity timestamp is {skew} s away from now (window {} s)",
                        st.config.replay_window.as_secs()
                    ),
                );
            }
        }
    }
    let msg = match activity::to_inbound(&activity) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "teams activity not handled");
            return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string());
        }
    };
    let span = tracing::Span::current();
    let id = msg.message_id.clone().unwrap_or_default();
    span.record("activity", id.as_str());
    span.record("thread", tracing::field::display(msg.thread_key()));
    // 4. Each Activity is answered once.
    let first = match st.seen.lock() {
        Ok(mut s) => s.first_time(&id, Instant::now()),
        Err(poisoned) => poisoned.into_inner().first_time(&id, Instant::now()),
    };
    // ... on every replica sharing the bot's store, too.
    let first = first
        && (id.is_empty()
            || st
                .handler
                .claim_delivery(&format!("teams:activity:{id}"))
                .await);
    if !first {
        tracing::info!("duplicate teams activity ignored");
        return Json(card::text_message(
            "Already answered this message (duplicate delivery ignored).",
        ))
        .into_response();
    }
    let bot_name = activity
        .bot_name()
        .unwrap_or_else(|| st.config.bot_name.clone());
    answer(st, msg, bot_name, started).await
}

fn reply_of(result: Result<Result<Reply, HandlerError>, tokio::task::JoinError>) -> Reply {
    match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "turn failed");
            Reply::text(format!("Sorry, that failed: {e}"))
        }
        Err(e) => {
            tracing::error!(error = %e, "turn task ended abnormally");
            Reply::text("Sorry, that failed: internal error.")
        }
    }
}

async fn answer(
    st: Arc<AppState>,
    msg: InboundMessage,
    bot_name: String,
    started: Instant,
) -> Response {
    let handler = st.handler.clone();
    let turn_msg = msg.clone();
    let mut task = tokio::spawn(
        async move { handler.handle(turn_msg).await }.instrument(tracing::Span::current()),
    );
    let remaining = st.config.sync_deadline.saturating_sub(started.elapsed());
    match tokio::time::timeout(remaining, &mut task).await {
        Ok(done) => {
            let reply = reply_of(done);
            let cards = card::render_cards(&reply, &st.card_options(bot_name, None));
            let (first, rest) = match cards.split_first() {
                Some((f, r)) => (vec![f.clone()], r.to_vec()),
                None => (vec![card::card(Vec::new())], Vec::new()),
            };
            let mut body = card::message(&first);
            if !rest.is_empty() {
                match st.hook_for(&msg.channel).cloned() {
                    Some(hook) => {
                        tokio::spawn(
                            deliver(hook, rest, "continuation", 2, cards.len())
                                .instrument(tracing::Span::current()),
                        );
                    }
                    None => {
                        tracing::warn!(
                            dropped = rest.len(),
                            "long answer truncated: no incoming webhook for this channel"
                        );
                        body["text"] = Value::String(format!(
                            "This answer has {} more part(s) that cannot be posted: no incoming webhook is configured for this channel.",
                            rest.len()
                        ));
                    }
                }
            }
            tracing::info!(
                mode = "sync",
                cards = cards.len(),
                ms = started.elapsed().as_millis() as u64,
                "teams request answered"
            );
            Json(body).into_response()
        }
        Err(_) => {
            let hint = st
                .handler
                .progress_hint(&msg)
                .await
                .unwrap_or_else(|| "Working on it…".to_string());
            let text = match st.hook_for(&msg.channel).cloned() {
                Some(hook) => {
                    let opts = st.card_options(
                        bot_name,
                        Some(Requester {
                            name: msg.user.display_name.clone(),
                            question: msg.text.clone(),
                        }),
                    );
                    tokio::spawn(
                        async move {
                            let reply = reply_of(task.await);
                            let cards = card::render_cards(&reply, &opts);
                            let total = cards.len();
                            deliver(hook, cards, "late answer", 1, total).await;
                        }
                        .instrument(tracing::Span::current()),
                    );
                    format!(
                        "{hint} This takes longer than Teams waits for a reply; I will post the full answer in this channel as soon as it is ready."
                    )
                }
                None => {
                    tokio::spawn(
                        async move {
                            let _ = reply_of(task.await);
                            tracing::warn!(
                                "late answer not delivered: no incoming webhook for this channel"
                            );
                        }
                        .instrument(tracing::Span::current()),
                    );
                    format!(
                        "{hint} This takes longer than Teams waits for a reply, and no incoming webhook is configured for this channel, so the answer cannot be posted here. Ask again in a minute: the checks are still running."
                    )
                }
            };
            tracing::info!(
                mode = "deferred",
                ms = started.elapsed().as_millis() as u64,
                "teams request acknowledged"
            );
            Json(card::text_message(&text)).into_response()
        }
    }
}

/// Posts `cards` one by one through `hook`. When one cannot be delivered (after the webhook's
/// retries), the rest are not tried and a short closing note says which parts are missing and
/// why, so the user does not take the first part for the whole answer. `first_part` is the
/// part number of `cards[0]` and `total` the number of parts of the whole answer.
async fn deliver(
    hook: IncomingWebhook,
    cards: Vec<Value>,
    what: &'static str,
    first_part: usize,
    total: usize,
) {
    let started = Instant::now();
    for (i, c) in cards.iter().enumerate() {
        let Err(e) = hook
            .post_message(&card::message(std::slice::from_ref(c)))
            .await
        else {
            continue;
        };
        tracing::error!(
            what,
            error = %e,
            part = first_part + i,
            total,
            webhook = %hook.host(),
            "delivery through the incoming webhook failed"
        );
        let why = match &e {
            crate::error::WebhookError::Status { status, .. } => {
                format!("the channel's workflow answered HTTP {status}")
            }
            crate::error::WebhookError::Transport { .. } => {
                "the channel's workflow could not be reached".to_string()
            }
            crate::error::WebhookError::TooLarge { .. } => {
                "a part is larger than Teams accepts".to_string()
            }
        };
        let missing = if first_part + i == total {
            format!("part {total} of {total}")
        } else {
            format!("parts {}–{total} of {total}", first_part + i)
        };
        let note = Reply::text(format!(
            "⚠️ This answer is incomplete: {missing} could not be posted ({why}). Ask again to get the whole answer."
        ));
        let note_cards = card::render_cards(&note, &CardOptions::default());
        if let Err(e) = hook.post_cards(&note_cards).await {
            tracing::error!(what, error = %e, "the closing note could not be posted either");
        }
        return;
    }
    tracing::info!(
        what,
        cards = cards.len(),
        ms = started.elapsed().as_millis() as u64,
        webhook = %hook.host(),
        "delivered through the incoming webhook"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_expire_and_are_bounded() {
        let mut s = Seen::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(s.first_time("a", t0));
        assert!(!s.first_time("a", t0 + Duration::from_secs(5)));
        assert!(s.first_time("a", t0 + Duration::from_secs(11)));
        assert!(s.first_time("b", t0 + Duration::from_secs(11)));
        assert_eq!(s.ids.len(), 2);
    }
}
