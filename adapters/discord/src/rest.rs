//! A small client for the REST routes interactions use: the interaction callback, "Edit Original
//! Interaction Response", "Create Followup Message" and the bulk command overwrite, plus "Create
//! Message" for messages nobody asked for in that place ([`ChannelOutbox`]: escalation handoffs in
//! the DBA channel, case updates in the requester's thread).
//!
//! Its base URL is configurable (`[discord] api_base`), so tests point it at a local stand-in.
//! Retries (`backon`, at most [`Rest::max_retries`]): on HTTP 429 it waits for Discord's
//! `retry_after` (JSON body, seconds; else the `Retry-After` header; longer than 60 s fails the
//! call); on HTTP 5xx it backs off exponentially (250 ms doubling, up to 8 s, with jitter). Routes in logs and errors show
//! `***` instead of interaction tokens.

use crate::config::{DiscordConfig, Secret};
use crate::wire::OutMessage;
use crate::DiscordError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Longest wait honoured for one 429, in seconds; a longer `retry_after` fails the call.
const MAX_RETRY_AFTER_SECS: f64 = 60.0;

/// The interaction-side REST client.
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    /// `{api_base}/api/v10`.
    root: String,
    application_id: u64,
    token: Option<Secret>,
    /// Retries after a 429 or 5xx before giving up.
    pub max_retries: u32,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("root", &self.root)
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

enum Body<'a> {
    Json(Vec<u8>),
    /// `payload_json` plus one file as `files[0]`.
    Multipart {
        payload_json: String,
        file: &'a crate::wire::OutFile,
    },
}

impl Rest {
    /// A client for `config`'s API base, application and (optional) bot token.
    ///
    /// # Errors
    /// [`DiscordError::Transport`] when the HTTP client cannot be built (TLS backend).
    pub fn new(config: &DiscordConfig) -> Result<Self, DiscordError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .user_agent(concat!(
                "DiscordBot (dbabot, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()
            .map_err(|e| DiscordError::Transport {
                route: "client".into(),
                message: e.without_url().to_string(),
            })?;
        Ok(Rest {
            client,
            root: config.api_root(),
            application_id: config.application_id,
            token: config.token.clone(),
            max_retries: 3,
        })
    }

    /// `POST /interactions/{id}/{token}/callback` — the initial response (gateway mode; the HTTP
    /// endpoint answers in its response body instead).
    ///
    /// # Errors
    /// [`DiscordError::Api`] / [`DiscordError::Transport`].
    pub async fn interaction_callback(
        &self,
        interaction_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), DiscordError> {
        self.send(
            Method::POST,
            &format!("/interactions/{interaction_id}/{token}/callback"),
            &format!("/interactions/{interaction_id}/***/callback"),
            Body::Json(serde_json::to_vec(body)?),
            false,
        )
        .await
        .map(|_| ())
    }

    /// `PATCH /webhooks/{application_id}/{token}/messages/@original` — replaces the deferred
    /// "thinking…" response. Returns Discord's message object.
    ///
    /// # Errors
    /// [`DiscordError::Api`] / [`DiscordError::Transport`].
    pub async fn edit_original(
        &self,
        token: &str,
        msg: &OutMessage,
    ) -> Result<Value, DiscordError> {
        let app = self.application_id;
        self.send(
            Method::PATCH,
            &format!("/webhooks/{app}/{token}/messages/@original"),
            &format!("/webhooks/{app}/***/messages/@original"),
            message_body(msg)?,
            false,
        )
        .await
    }

    /// `POST /webhooks/{application_id}/{token}` — one follow-up message. Returns Discord's
    /// message object.
    ///
    /// # Errors
    /// [`DiscordError::Api`] / [`DiscordError::Transport`].
    pub async fn followup(&self, token: &str, msg: &OutMessage) -> Result<Value, DiscordError> {
        let app = self.application_id;
        self.send(
            Method::POST,
            &format!("/webhooks/{app}/{token}"),
            &format!("/webhooks/{app}/***"),
            message_body(msg)?,
            false,
        )
        .await
    }

    /// `PUT /applications/{id}/guilds/{guild}/commands` (with a guild) or
    /// `PUT /applications/{id}/commands` (global): replaces the app's commands with `commands`.
    /// Needs the bot token.
    ///
    /// # Errors
    /// [`DiscordError::Config`] without a token; [`DiscordError::Api`] / [`DiscordError::Transport`].
    pub async fn overwrite_commands(
        &self,
        guild_id: Option<u64>,
        commands: &Value,
    ) -> Result<Value, DiscordError> {
        if self.token.is_none() {
            return Err(DiscordError::Config(
                "registering /dba needs the bot token (discord.token_env)".into(),
            ));
        }
        let app = self.application_id;
        let path = match guild_id {
            Some(g) => format!("/applications/{app}/guilds/{g}/commands"),
            None => format!("/applications/{app}/commands"),
        };
        self.send(
            Method::PUT,
            &path,
            &path,
            Body::Json(serde_json::to_vec(commands)?),
            true,
        )
        .await
    }

    /// `POST /channels/{channel_id}/messages` — a new message in a channel or thread (Discord
    /// threads are channels), e.g. an escalation handoff or a case update. Needs the bot token.
    /// Returns Discord's message object.
    ///
    /// # Errors
    /// [`DiscordError::Config`] without a token or when `channel_id` is not a snowflake;
    /// [`DiscordError::Api`] / [`DiscordError::Transport`].
    pub async fn create_message(
        &self,
        channel_id: &str,
        msg: &OutMessage,
    ) -> Result<Value, DiscordError> {
        if self.token.is_none() {
            return Err(DiscordError::Config(
                "posting to a channel needs the bot token (discord.token_env)".into(),
            ));
        }
        let id = channel_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DiscordError::Config(format!(
                "a Discord channel id is a number, not {:?}",
                crate::wire::truncate(id, 40)
            )));
        }
        let path = format!("/channels/{id}/messages");
        self.send(Method::POST, &path, &path, message_body(msg)?, true)
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        route: &str,
        body: Body<'_>,
        auth: bool,
    ) -> Result<Value, DiscordError> {
        use backon::{ExponentialBuilder, Retryable};
        let url = format!("{}{path}", self.root);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(8))
            .with_max_times(self.max_retries as usize)
            .with_jitter();
        let result = (|| self.attempt(&method, &url, route, &body, auth))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| f.retryable)
            .adjust(|f: &Failure, planned| planned.map(|d| f.retry_after.unwrap_or(d)))
            .notify(|f: &Failure, wait| {
                tracing::warn!(
                    route,
                    error = %f.error,
                    wait_ms = wait.as_millis() as u64,
                    "Discord API call failed; retrying"
                );
            })
            .await;
        match result {
            Ok(v) => {
                tracing::debug!(route, "Discord API call done");
                Ok(v)
            }
            Err(f) => Err(f.error),
        }
    }

    /// One request. 429 (honouring Discord's `retry_after`, at most [`MAX_RETRY_AFTER_SECS`])
    /// and 5xx are retryable; a transport error is not (the request may have been acted on).
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        route: &str,
        body: &Body<'_>,
        auth: bool,
    ) -> Result<Value, Failure> {
        let transport = |e: reqwest::Error| DiscordError::Transport {
            route: route.to_string(),
            message: e.without_url().to_string(),
        };
        let fail = |error: DiscordError| Failure {
            error,
            retryable: false,
            retry_after: None,
        };
        let mut rb = self.client.request(method.clone(), url);
        if auth {
            if let Some(t) = &self.token {
                rb = rb.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bot {}", t.expose()),
                );
            }
        }
        rb = match body {
            Body::Json(bytes) => rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Multipart { payload_json, file } => {
                let part = reqwest::multipart::Part::bytes(file.data.clone())
                    .file_name(file.name.clone())
                    .mime_str(&file.content_type)
                    .or_else(|_| {
                        reqwest::multipart::Part::bytes(file.data.clone())
                            .file_name(file.name.clone())
                            .mime_str("application/octet-stream")
                    })
                    .map_err(|e| fail(transport(e)))?;
                let json_part = reqwest::multipart::Part::text(payload_json.clone())
                    .mime_str("application/json")
                    .map_err(|e| fail(transport(e)))?;
                rb.multipart(
                    reqwest::multipart::Form::new()
                        .part("payload_json", json_part)
                        .part("files[0]", part),
                )
            }
        };
        let resp = rb.send().await.map_err(|e| fail(transport(e)))?;
        let status = resp.status();
        let retry_header = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let json = serde_json::from_str::<Value>(&text).ok();
        let message = json
            .as_ref()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| crate::wire::truncate(&text, 300));
        let error = DiscordError::Api {
            method: method.to_string(),
            route: route.to_string(),
            status: status.as_u16(),
            message,
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = json
                .as_ref()
                .and_then(|v| v.get("retry_after").and_then(Value::as_f64))
                .or(retry_header)
                .unwrap_or(1.0)
                .max(0.0);
            return Err(Failure {
                error,
                retryable: wait <= MAX_RETRY_AFTER_SECS,
                retry_after: Some(Duration::from_secs_f64(wait)),
            });
        }
        Err(Failure {
            error,
            retryable: status.is_server_error(),
            retry_after: None,
        })
    }
}

/// One failed attempt and whether another may help.
struct Failure {
    error: DiscordError,
    retryable: bool,
    /// Discord's `retry_after` (429): the wait before the next attempt.
    retry_after: Option<Duration>,
}

fn message_body(msg: &OutMessage) -> Result<Body<'_>, DiscordError> {
    Ok(match &msg.file {
        Some(file) => Body::Multipart {
            payload_json: serde_json::to_string(msg)?,
            file,
        },
        None => Body::Json(serde_json::to_vec(msg)?),
    })
}

/// Posts escalation handoffs and case updates to Discord channels and threads through
/// `POST /channels/{channel_id}/messages` with the bot token.
///
/// A [`dbabot_chat::Destination`] names the channel (`channel`, a snowflake) and optionally a
/// thread (`thread`); Discord threads are channels, so the thread id, when set, is where the
/// message goes. A reply too long for one message is split by [`crate::render::render`]; every
/// part goes to the same place.
#[derive(Clone, Debug)]
pub struct ChannelOutbox {
    rest: Rest,
    opts: crate::render::RenderOptions,
}

impl ChannelOutbox {
    /// An outbox for `config`'s API base and bot token.
    ///
    /// # Errors
    /// [`DiscordError::Config`] without a bot token; [`DiscordError::Transport`] when the HTTP
    /// client cannot be built.
    pub fn new(config: &DiscordConfig) -> Result<Self, DiscordError> {
        if config.token.is_none() {
            return Err(DiscordError::Config(
                "escalation delivery to Discord needs the bot token (discord.token_env)".into(),
            ));
        }
        Ok(ChannelOutbox {
            rest: Rest::new(config)?,
            opts: crate::render::RenderOptions {
                max_file_bytes: config.max_file_bytes,
            },
        })
    }
}

#[async_trait::async_trait]
impl dbabot_chat::Outbox for ChannelOutbox {
    async fn post(
        &self,
        destination: &dbabot_chat::Destination,
        reply: &dbabot_chat::Reply,
    ) -> Result<Option<String>, dbabot_chat::OutboxError> {
        let channel = destination
            .thread
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&destination.channel);
        let mut first = None;
        for m in crate::render::render(reply, &self.opts) {
            let posted = self
                .rest
                .create_message(channel, &m)
                .await
                .map_err(|e| dbabot_chat::OutboxError::at(destination, e.to_string()))?;
            if first.is_none() {
                first = posted.get("id").and_then(Value::as_str).map(str::to_string);
            }
        }
        Ok(first)
    }
}
