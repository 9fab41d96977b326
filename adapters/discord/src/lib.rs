//! # dbabot-discord — the Discord adapter
//!
//! Two ways in, one engine:
//!
//! * **Gateway** ([`run_gateway`], serenity): the bot is @-mentioned in a channel → it answers in a
//!   thread started from that message (or in the thread the mention was in); follow-ups in that
//!   thread need no mention; DMs work; the `/dba` application command and button/select clicks
//!   arrive as interactions over the same connection.
//! * **HTTP interactions** ([`router`], axum): `POST /discord/interactions`, for deployments that
//!   want only slash commands and no gateway connection. Every request's Ed25519 signature is
//!   verified before anything is parsed.
//!
//! Either way a message becomes a [`dbabot_chat::InboundMessage`] whose thread key is
//! `(guild, channel-or-thread id, same id)` (`@me` instead of a guild in DMs), the engine answers
//! with a [`dbabot_chat::Reply`], and [`render`] turns it into embeds, code blocks, buttons or a
//! select menu and CSV files, split to stay inside every Discord limit.
//!
//! Interactions are deferred at once (type 5, or type 7 for a click) and answered by editing the
//! original response and posting follow-ups through [`rest::Rest`], a small client that honours
//! Discord's `retry_after` on HTTP 429. Gateway-mode channel messages go through serenity's
//! `Http`, whose ratelimiter handles 429s there.

pub mod commands;
pub mod config;
pub mod convert;
pub mod fetch;
pub mod files;
mod gateway;
mod interactions;
mod limits;
pub mod render;
pub mod rest;
pub mod verify;
pub mod wire;

pub use config::{DiscordConfig, Mode, RateLimits, Secret};
pub use gateway::run_gateway;
pub use interactions::{register_commands, router};

/// Everything that can go wrong in the Discord adapter.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// The `[discord]` section is invalid (unknown key, wrong type, missing requirement).
    #[error("invalid [discord] configuration: {0}")]
    Config(String),
    /// A secret the `[discord]` section names is not set in the environment.
    #[error("environment variable {var} (named by discord.{key}) is not set")]
    MissingEnv { key: &'static str, var: String },
    /// Discord answered a REST call with an error status. `route` never contains a token.
    #[error("Discord API {method} {route} answered HTTP {status}: {message}")]
    Api {
        method: String,
        route: String,
        status: u16,
        message: String,
    },
    /// The REST call did not get an answer (connection, timeout). The text never contains a URL.
    #[error("Discord API {route} unreachable: {message}")]
    Transport { route: String, message: String },
    /// The gateway client failed to start or stopped with an error.
    #[error("Discord gateway: {0}")]
    Gateway(String),
    /// A payload could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Test helper: validates JSON against Discord's OpenAPI description (`tests/fixtures/specs`).
#[cfg(test)]
pub(crate) mod spec {
    use serde_json::{json, Value};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    fn document() -> &'static Value {
        static DOC: OnceLock<Value> = OnceLock::new();
        DOC.get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/specs/discord-api.openapi.json"
            );
            let text =
                std::fs::read_to_string(path).expect("Discord OpenAPI spec in tests/fixtures");
            serde_json::from_str(&text).expect("spec is JSON")
        })
    }

    /// The request-body schema of `method path` for `content_type`, as the spec documents it.
    pub fn request_schema(path: &str, method: &str, content_type: &str) -> Value {
        let s = document()["paths"][path][method]["requestBody"]["content"][content_type]["schema"]
            .clone();
        assert!(!s.is_null(), "no {content_type} body for {method} {path}");
        s
    }

    /// `#/components/schemas/{name}`.
    pub fn component(name: &str) -> Value {
        assert!(
            !document()["components"]["schemas"][name].is_null(),
            "no schema {name}"
        );
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Validates `instance` against `schema` (which may `$ref` the spec's components).
    pub fn check(schema: &Value, instance: &Value) -> Result<(), String> {
        static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> =
            OnceLock::new();
        let key = schema.to_string();
        let cache = CACHE.get_or_init(Default::default);
        let cached = cache.lock().expect("cache").get(&key).cloned();
        let validator = match cached {
            Some(v) => v,
            None => {
                let mut root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": { "schemas": document()["components"]["schemas"].clone() },
                });
                if let (Some(r), Some(s)) = (root.as_object_mut(), schema.as_object()) {
                    for (k, v) in s {
                        r.insert(k.clone(), v.clone());
                    }
                }
                let v = std::sync::Arc::new(
                    jsonschema::draft202012::new(&root).map_err(|e| e.to_string())?,
                );
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
}
