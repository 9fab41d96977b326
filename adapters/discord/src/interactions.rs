//! Interactions, from either transport: the immediate response (PONG, deferral, UPDATE_MESSAGE,
//! autocomplete, a polite ephemeral refusal) and the work after it (run the engine, edit the
//! original response, post follow-ups). The HTTP endpoint lives here too.

use crate::commands;
use crate::config::{DiscordConfig, Mode};
use crate::convert::{components_showing_choice, parse_interaction, Incoming};
use crate::limits::Limiter;
use crate::render::{render, RenderOptions};
use crate::rest::Rest;
use crate::verify::{now_secs, Verifier, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::wire::{AllowedMentions, OutMessage, FLAG_EPHEMERAL};
use crate::DiscordError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dbabot_chat::replay::{ReplayGuard, DEFAULT_CAPACITY};
use dbabot_chat::{InboundMessage, MessageHandler, Reply};
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::Instrument;

/// Interaction callback types (Discord's "Interaction Callback Type").
pub(crate) mod callback {
    pub const PONG: u8 = 1;
    pub const CHANNEL_MESSAGE: u8 = 4;
    pub const DEFERRED_CHANNEL_MESSAGE: u8 = 5;
    pub const UPDATE_MESSAGE: u8 = 7;
}

/// What both transports share.
pub(crate) struct Core {
    pub handler: Arc<dyn MessageHandler>,
    pub config: DiscordConfig,
    pub rest: Rest,
    pub limiter: Limiter,
    pub verifier: Verifier,
    /// Interaction ids and signatures accepted on the HTTP endpoint (replay protection).
    pub replays: ReplayGuard,
}

/// How long accepted interaction ids are remembered on the HTTP endpoint.
///
/// Discord signs `X-Signature-Timestamp` together with the body (developer docs, "Interactions ›
/// Receiving and Responding › Security and Authorization") but documents no maximum age, so the
/// window is the configured `signature_max_age_secs` (default 300 s, the five minutes Slack
/// documents for the same scheme) either side of now: ids are kept for twice that. With the age
/// check disabled (0) they are kept for 15 minutes, the lifetime of an interaction token (same
/// docs), after which a replay could no longer post an answer.
pub(crate) fn replay_ttl(signature_max_age_secs: u64) -> std::time::Duration {
    let secs = if signature_max_age_secs == 0 {
        15 * 60
    } else {
        signature_max_age_secs.saturating_mul(2).max(60)
    };
    std::time::Duration::from_secs(secs)
}

/// What a replayed interaction is answered with (nothing runs).
pub(crate) const REPLAYED: &str =
    "This interaction was already received; it is not run again (replayed or duplicate delivery).";

/// Work left after the immediate response: answer `message` through the interaction's webhook.
pub(crate) struct Job {
    pub message: InboundMessage,
    pub interaction_id: String,
    pub token: String,
    /// Replace the deferred response (commands) rather than only posting follow-ups (clicks).
    pub edit_original: bool,
    /// The interaction's upload limit in bytes, when Discord sent one.
    pub attachment_size_limit: Option<u64>,
    pub kind: &'static str,
}

fn ephemeral(text: &str) -> Value {
    json!({
        "type": callback::CHANNEL_MESSAGE,
        "data": {
            "content": crate::wire::truncate(text, crate::wire::CONTENT_MAX),
            "flags": FLAG_EPHEMERAL,
            "allowed_mentions": AllowedMentions::default(),
        }
    })
}

impl Core {
    pub fn new(
        handler: Arc<dyn MessageHandler>,
        config: DiscordConfig,
    ) -> Result<Arc<Self>, DiscordError> {
        Ok(Arc::new(Core {
            rest: Rest::new(&config)?,
            limiter: Limiter::new(&config.rate_limits),
            verifier: Verifier::new(config.public_key, config.signature_max_age_secs),
            replays: ReplayGuard::new(replay_ttl(config.signature_max_age_secs), DEFAULT_CAPACITY),
            handler,
            config,
        }))
    }

    /// The immediate callback body for `incoming` (sent within Discord's 3-second deadline) and
    /// the work to do afterwards.
    pub fn respond(&self, incoming: Incoming) -> (Value, Option<Job>) {
        match incoming {
            Incoming::Ping => (json!({ "type": callback::PONG }), None),
            Incoming::Autocomplete(q) => {
                let choices = commands::autocomplete(
                    &q.option,
                    &q.partial,
                    &self.config.targets,
                    &self.config.reports,
                );
                (commands::autocomplete_response(&choices), None)
            }
            Incoming::Unsupported { what, .. } => {
                tracing::debug!(what, "unsupported interaction");
                (
                    ephemeral("I only know `/dba` and the buttons I post. Try `/dba help`."),
                    None,
                )
            }
            Incoming::Command(c) => {
                if let Err(ex) = self.limiter.check(&c.message.user.id, &c.message.workspace) {
                    tracing::info!(user = %c.message.user.id, "rate limit reached");
                    return (ephemeral(&ex.message()), None);
                }
                (
                    json!({ "type": callback::DEFERRED_CHANNEL_MESSAGE }),
                    Some(Job {
                        message: c.message,
                        interaction_id: c.meta.id,
                        token: c.meta.token,
                        edit_original: true,
                        attachment_size_limit: c.meta.attachment_size_limit,
                        kind: "command",
                    }),
                )
            }
            Incoming::Component(c) => {
                if let Err(ex) = self.limiter.check(&c.message.user.id, &c.message.workspace) {
                    tracing::info!(user = %c.message.user.id, "rate limit reached");
                    return (ephemeral(&ex.message()), None);
                }
                let value = c
                    .message
                    .choice
                    .as_ref()
                    .map(|s| s.value.clone())
                    .unwrap_or_default();
                let components =
                    components_showing_choice(&c.message_components, &c.custom_id, &value);
                (
                    json!({
                        "type": callback::UPDATE_MESSAGE,
                        "data": { "components": components }
                    }),
                    Some(Job {
                        message: c.message,
                        interaction_id: c.meta.id,
                        token: c.meta.token,
                        edit_original: false,
                        attachment_size_limit: c.meta.attachment_size_limit,
                        kind: "component",
                    }),
                )
            }
        }
    }

    /// Runs the engine for `job` and posts the answer (progress hint first, when there is one).
    pub async fn run(self: Arc<Self>, job: Job) {
        let span = tracing::info_span!(
            "discord_interaction",
            thread = %job.message.thread_key(),
            interaction = %job.interaction_id,
            kind = job.kind,
            user = %job.message.user.id,
        );
        async move {
            if job.edit_original {
                if let Some(hint) = self.handler.progress_hint(&job.message).await {
                    if let Err(e) = self
                        .rest
                        .edit_original(&job.token, &OutMessage::text(hint))
                        .await
                    {
                        tracing::warn!(error = %e, "posting the progress hint failed");
                    }
                }
            }
            let started = std::time::Instant::now();
            let reply = match self.handler.handle(job.message).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "engine turn failed");
                    Reply::text(format!("Sorry, that failed: {e}"))
                }
            };
            let opts = RenderOptions {
                max_file_bytes: self
                    .config
                    .max_file_bytes
                    .min(job.attachment_size_limit.unwrap_or(u64::MAX)),
            };
            let mut messages = render(&reply, &opts);
            crate::files::load(&mut messages, opts.max_file_bytes).await;
            let n = messages.len();
            deliver(&self.rest, &job.token, messages, job.edit_original).await;
            tracing::info!(
                messages = n,
                ms = started.elapsed().as_millis() as u64,
                "interaction answered"
            );
        }
        .instrument(span)
        .await
    }
}

/// Sends `messages` through the interaction webhook: the first replaces the original response
/// when `edit_original`, the rest are follow-ups. Stops at the first failure (later parts would
/// be out of context) and tells the user when even the first could not be posted.
pub(crate) async fn deliver(
    rest: &Rest,
    token: &str,
    messages: Vec<OutMessage>,
    edit_original: bool,
) {
    for (i, mut m) in messages.into_iter().enumerate() {
        let result = if i == 0 && edit_original {
            // Clears a progress hint left in the content.
            if m.content.is_none() {
                m.content = Some(String::new());
            }
            rest.edit_original(token, &m).await
        } else {
            rest.followup(token, &m).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, part = i, "posting the answer to Discord failed");
            let note = OutMessage::text(
                "Sorry, Discord did not accept my answer; the error is in the bot's log.",
            );
            let _ = if i == 0 && edit_original {
                rest.edit_original(token, &note).await
            } else {
                rest.followup(token, &note).await
            };
            break;
        }
    }
}

/// Registers `/dba` (bulk overwrite): in `dev_guild_id` when set, globally otherwise.
///
/// # Errors
/// [`DiscordError`] when there is no token or Discord refuses the definition.
pub async fn register_commands(config: &DiscordConfig) -> Result<(), DiscordError> {
    let rest = Rest::new(config)?;
    register_with(&rest, config).await
}

pub(crate) async fn register_with(rest: &Rest, config: &DiscordConfig) -> Result<(), DiscordError> {
    let body = Value::Array(vec![commands::definition(&config.reports)]);
    rest.overwrite_commands(config.dev_guild_id, &body).await?;
    match config.dev_guild_id {
        Some(g) => tracing::info!(guild = g, "registered /dba in the development guild"),
        None => tracing::info!("registered /dba globally (may take up to an hour to appear)"),
    }
    Ok(())
}

/// The HTTP interactions endpoint: `POST /discord/interactions`.
///
/// Each request's Ed25519 signature (`X-Signature-Ed25519` over `X-Signature-Timestamp` ‖ body,
/// with the configured public key) is checked before the body is parsed; a missing or wrong
/// signature gets 401 and nothing else happens. PING gets PONG; `/dba` is deferred (type 5) and
/// answered by editing the original response and posting follow-ups; a click updates its message
/// (type 7) and the answer follows.
///
/// In `interactions` mode with a token and `register_commands`, building the router also starts
/// the `/dba` registration in the background (gateway modes register on READY).
pub fn router(handler: Arc<dyn MessageHandler>, config: DiscordConfig) -> Router {
    let register =
        config.mode == Mode::Interactions && config.register_commands && config.token.is_some();
    let core = match Core::new(handler, config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Discord interactions endpoint disabled");
            return Router::new().route(
                "/discord/interactions",
                post(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            );
        }
    };
    if core.verifier_is_unconfigured() {
        tracing::error!(
            "no Discord public key configured: every interaction will be refused (401)"
        );
    }
    if register {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let c = core.clone();
            rt.spawn(async move {
                if let Err(e) = register_with(&c.rest, &c.config).await {
                    tracing::warn!(error = %e, "registering /dba failed");
                }
            });
        }
    }
    Router::new()
        .route("/discord/interactions", post(endpoint))
        .with_state(core)
}

impl Core {
    fn verifier_is_unconfigured(&self) -> bool {
        self.config.public_key.is_none()
    }
}

async fn endpoint(State(core): State<Arc<Core>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = core.verifier.verify(
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        &body,
        now_secs(),
    ) {
        tracing::debug!(reason = %e, "refused an interaction request");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "body is not JSON").into_response(),
    };
    let incoming = match parse_interaction(&json) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "signed interaction with an unexpected shape");
            return (StatusCode::BAD_REQUEST, "unsupported interaction payload").into_response();
        }
    };
    // A captured request sent again verifies too: each interaction id (and signature) is
    // accepted once inside the timestamp window. Pings run nothing and are always answered.
    if let Some(meta) = incoming.meta() {
        let id = format!("interaction:{}", meta.id);
        let sig = header(SIGNATURE_HEADER)
            .map(|s| format!("sig:{}", s.trim().to_ascii_lowercase()))
            .unwrap_or_default();
        if !core.replays.first_delivery(&[&id, &sig]) {
            tracing::warn!(interaction = %meta.id, "replayed interaction refused, nothing run");
            return Json(ephemeral(REPLAYED)).into_response();
        }
        // Another replica sharing the store may have been sent it (or a replay) already.
        if !core
            .handler
            .claim_delivery(&delivery_key("interaction", &meta.id))
            .await
        {
            tracing::warn!(interaction = %meta.id, "interaction claimed by another replica, nothing run");
            return Json(ephemeral(REPLAYED)).into_response();
        }
    }
    let span = tracing::info_span!(
        "discord_interaction",
        thread = incoming.thread_key().as_deref().unwrap_or("-"),
        transport = "http",
    );
    let _enter = span.enter();
    let (ack, job) = core.respond(incoming);
    if let Some(job) = job {
        tokio::spawn(core.clone().run(job));
    }
    tracing::debug!(
        callback = ack["type"].as_u64().unwrap_or(0),
        "interaction acknowledged"
    );
    Json(ack).into_response()
}

/// The key a Discord delivery is claimed under across replicas (`discord:message:<id>`,
/// `discord:interaction:<id>`), see [`MessageHandler::claim_delivery`].
pub(crate) fn delivery_key(kind: &str, id: &str) -> String {
    format!("discord:{kind}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimits;
    use async_trait::async_trait;
    use dbabot_chat::HandlerError;

    struct Echo;

    #[async_trait]
    impl MessageHandler for Echo {
        async fn handle(&self, m: InboundMessage) -> Result<Reply, HandlerError> {
            Ok(Reply::text(m.text))
        }
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    fn core(limits: RateLimits) -> Arc<Core> {
        let mut cfg = DiscordConfig::new(1100000000000000001);
        cfg.rate_limits = limits;
        cfg.targets = vec!["orders-prod".into(), "orders-staging".into()];
        Core::new(Arc::new(Echo), cfg).expect("core")
    }

    fn on_spec(ack: &Value, component: &str) {
        let route = crate::spec::request_schema(
            "/interactions/{interaction_id}/{interaction_token}/callback",
            "post",
            "application/json",
        );
        crate::spec::check(&route, ack).unwrap_or_else(|e| panic!("{e}: {ack:#}"));
        crate::spec::check(&crate::spec::component(component), ack)
            .unwrap_or_else(|e| panic!("{component}: {e}: {ack:#}"));
    }

    fn respond(core: &Core, name: &str) -> (Value, Option<Job>) {
        core.respond(parse_interaction(&fixture(name)).expect("parse"))
    }

    #[test]
    fn immediate_responses_are_documented_callbacks() {
        let c = core(RateLimits::default());
        let (ack, job) = respond(&c, "interaction_ping.json");
        assert_eq!(ack, json!({ "type": 1 }));
        assert!(job.is_none());
        on_spec(&ack, "PongInteractionCallbackRequest");

        let (ack, job) = respond(&c, "interaction_command.json");
        assert_eq!(ack, json!({ "type": 5 }));
        on_spec(&ack, "CreateMessageInteractionCallbackRequest");
        let job = job.expect("work after the deferral");
        assert!(job.edit_original);
        assert_eq!(job.message.text, "report health demo");
        assert_eq!(job.attachment_size_limit, Some(10485760));

        let (ack, job) = respond(&c, "interaction_button.json");
        assert_eq!(ack["type"], 7);
        on_spec(&ack, "UpdateMessageInteractionCallbackRequest");
        assert_eq!(
            ack["data"]["components"][0]["components"][0]["label"],
            "✓ orders-prod"
        );
        assert!(!job.expect("answer as follow-up").edit_original);

        let (ack, _) = respond(&c, "interaction_select.json");
        on_spec(&ack, "UpdateMessageInteractionCallbackRequest");

        let (ack, job) = respond(&c, "interaction_autocomplete.json");
        assert!(job.is_none());
        assert_eq!(
            ack["data"]["choices"],
            json!([{ "name": "orders-prod", "value": "orders-prod" }, { "name": "orders-staging", "value": "orders-staging" }])
        );
        on_spec(&ack, "ApplicationCommandAutocompleteCallbackRequest");

        let mut other = fixture("interaction_command.json");
        other["data"]["name"] = json!("weather");
        let (ack, job) = c.respond(parse_interaction(&other).expect("parse"));
        assert!(job.is_none());
        assert_eq!(
            (ack["type"].as_u64(), ack["data"]["flags"].as_u64()),
            (Some(4), Some(64))
        );
        on_spec(&ack, "CreateMessageInteractionCallbackRequest");
    }

    #[test]
    fn over_the_limit_is_a_polite_ephemeral_message() {
        let c = core(RateLimits {
            user_per_minute: 1,
            guild_per_minute: 10,
        });
        assert_eq!(respond(&c, "interaction_command.json").0["type"], 5);
        let (ack, job) = respond(&c, "interaction_command.json");
        assert!(job.is_none());
        assert_eq!(ack["type"], 4);
        assert_eq!(ack["data"]["flags"], 64);
        assert!(ack["data"]["content"]
            .as_str()
            .is_some_and(|t| t.starts_with("Easy there")));
        on_spec(&ack, "CreateMessageInteractionCallbackRequest");
        // Clicks count against the same budget.
        assert_eq!(respond(&c, "interaction_button.json").0["type"], 4);
        // Autocomplete is never limited.
        assert_eq!(respond(&c, "interaction_autocomplete.json").0["type"], 8);
    }
}
