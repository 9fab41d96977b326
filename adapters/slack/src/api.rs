//! The Slack Web API calls the adapter makes, through slack-morphism's request and response
//! models, with the adapter's own delivery policy around every call:
//!
//! * **Rate limits as Slack documents them** ([`Limits`]): `chat.postMessage` at most one
//!   message per second *per channel* ("Special" rate limit,
//!   <https://api.slack.com/methods/chat.postMessage>), the other methods per workspace by
//!   their tier (<https://api.slack.com/apis/rate-limits>: Tier 3 ≈ 50/min for `chat.update`
//!   and `reactions.add`, Tier 4 ≈ 100/min for `chat.postEphemeral`, `auth.test` and the file
//!   upload methods). slack-morphism's own throttle is not used: it keeps one bucket for the
//!   whole bot when the token carries no team id, which serialised answers in different
//!   channels at one per second.
//! * **A timeout on every request** (`[slack] request_timeout_ms`, default 10 s).
//! * **Retries with backoff** (`backon`, exponential from 250 ms with jitter, at most
//!   `[slack] max_retries`): after HTTP 429 the wait is Slack's `Retry-After` (capped at
//!   [`MAX_RETRY_AFTER`]); HTTP 5xx is retried for every method; a timeout or a connection
//!   error only for methods that are safe to repeat (not `chat.postMessage`, which might have
//!   posted already, and not the file upload steps).
//!
//! Failures are logged with Slack's error code and returned, never panicked on.

use crate::blocks::SlackMessage;
use crate::config::SlackConfig;
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Longest `Retry-After` honoured; a longer one fails the call (the turn should not hang on it).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Channels whose `chat.postMessage` pacing is remembered before idle entries are dropped.
const MAX_TRACKED_CHANNELS: usize = 10_000;

/// A Web API call failed (after the retries).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Slack API {method} failed: {message}")]
    Call {
        method: &'static str,
        message: String,
    },
    #[error("cannot build the Slack HTTP client: {0}")]
    Client(String),
    #[error("a block did not match Slack's Block Kit model: {0}")]
    Block(String),
}

impl ApiError {
    /// Slack's error code when Slack answered and refused (`invalid_blocks`, `msg_too_long`…).
    pub fn slack_code(&self) -> Option<&str> {
        match self {
            ApiError::Call { message, .. } => message
                .strip_prefix("error code `")
                .and_then(|m| m.split('`').next()),
            _ => None,
        }
    }
}

type Connector = SlackClientHyperHttpsConnector;

/// Slack's documented per-method rate limits, enforced before each call (see the module docs).
pub struct Limits {
    /// `chat.postMessage`: one per second per channel.
    per_channel: DefaultKeyedRateLimiter<String>,
    /// Workspace-wide limits of the other methods, by tier.
    per_method: HashMap<&'static str, DefaultDirectRateLimiter>,
}

/// Requests per minute of Slack's tiers 3 and 4 ("Rate limits", api.slack.com).
const TIER3_PER_MINUTE: u32 = 50;
const TIER4_PER_MINUTE: u32 = 100;

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    /// The documented limits.
    pub fn slack() -> Self {
        let tiers: [(&'static str, u32); 6] = [
            ("chat.update", TIER3_PER_MINUTE),
            ("reactions.add", TIER3_PER_MINUTE),
            ("chat.postEphemeral", TIER4_PER_MINUTE),
            ("auth.test", TIER4_PER_MINUTE),
            ("files.getUploadURLExternal", TIER4_PER_MINUTE),
            ("files.completeUploadExternal", TIER4_PER_MINUTE),
        ];
        Limits {
            per_channel: RateLimiter::keyed(Quota::per_second(NonZeroU32::MIN)),
            per_method: tiers
                .into_iter()
                .map(|(m, n)| (m, RateLimiter::direct(per_minute(n))))
                .collect(),
        }
    }

    /// Waits until `method` may be called (in `channel`, for per-channel methods).
    pub async fn wait(&self, method: &'static str, channel: Option<&str>) {
        if method == "chat.postMessage" {
            if let Some(c) = channel {
                let key = c.to_string();
                self.per_channel.until_key_ready(&key).await;
                if self.per_channel.len() > MAX_TRACKED_CHANNELS {
                    self.per_channel.retain_recent();
                }
            }
        } else if let Some(l) = self.per_method.get(method) {
            l.until_ready().await;
        }
    }
}

/// Sends messages, updates, reactions and files for one workspace's bot token.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    limits: Arc<Limits>,
    timeout: Duration,
    max_retries: usize,
}

/// One failed attempt, before the retry decision.
#[derive(Debug)]
enum Attempt {
    Slack(SlackClientError),
    TimedOut(Duration),
}

impl Attempt {
    /// Whether another attempt may help; `repeatable` methods also retry timeouts and
    /// connection errors.
    fn retryable(&self, repeatable: bool) -> bool {
        match self {
            Attempt::Slack(SlackClientError::RateLimitError(r)) => {
                r.retry_after.is_none_or(|d| d <= MAX_RETRY_AFTER)
            }
            Attempt::Slack(SlackClientError::HttpError(h)) => h.status_code.is_server_error(),
            Attempt::Slack(
                SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_),
            ) => repeatable,
            Attempt::TimedOut(_) => repeatable,
            Attempt::Slack(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Attempt::Slack(SlackClientError::RateLimitError(r)) => r.retry_after,
            _ => None,
        }
    }
}

fn call_err(method: &'static str, e: Attempt) -> ApiError {
    let message = match &e {
        Attempt::Slack(SlackClientError::ApiError(api)) => format!("error code `{}`", api.code),
        Attempt::Slack(SlackClientError::RateLimitError(r)) => {
            format!("rate limited (retry after {:?})", r.retry_after)
        }
        Attempt::Slack(SlackClientError::HttpError(h)) => format!("HTTP {}", h.status_code),
        Attempt::Slack(other) => other.to_string(),
        Attempt::TimedOut(d) => format!("timed out after {} ms", d.as_millis()),
    };
    tracing::warn!(method, error = %message, "Slack Web API call failed");
    ApiError::Call { method, message }
}

fn typed_blocks(blocks: &[serde_json::Value]) -> Result<Vec<SlackBlock>, ApiError> {
    blocks
        .iter()
        .map(|b| {
            serde_json::from_value::<SlackBlock>(b.clone())
                .map_err(|e| ApiError::Block(e.to_string()))
        })
        .collect()
}

fn content(m: &SlackMessage) -> Result<SlackMessageContent, ApiError> {
    Ok(SlackMessageContent::new()
        .with_text(m.text.clone())
        .with_blocks(typed_blocks(&m.blocks)?))
}

impl SlackApi {
    /// Builds a client for `config.api_url` (HTTPS in production; plain HTTP is allowed only for
    /// a loopback stand-in in tests).
    ///
    /// # Errors
    /// [`ApiError::Client`] when TLS roots cannot be loaded.
    pub fn new(config: &SlackConfig) -> Result<Self, ApiError> {
        // An explicit crypto provider: several rustls providers may be compiled into one binary,
        // and then rustls cannot pick a process default by itself.
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ApiError::Client(e.to_string()))?;
        let https = if config.api_url.starts_with("http://") {
            builder.https_or_http().enable_http1().build()
        } else {
            builder.https_only().enable_http1().build()
        };
        // No slack-morphism rate control: [`Limits`] and [`SlackApi::call`] do it per channel.
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(config.api_url.trim_end_matches('/'));
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue::new(
                config.bot_token.expose().to_string(),
            )),
            limits: Arc::new(Limits::slack()),
            timeout: config.request_timeout,
            max_retries: config.max_retries,
        })
    }

    /// Runs one Web API call with the rate limit of `method` (in `channel`), the request
    /// timeout and the retry policy of the module docs. `repeatable`: the call may be sent
    /// again after a timeout or a connection error without doing anything twice.
    async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        channel: Option<&str>,
        repeatable: bool,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SlackClientError>>,
    {
        let timeout = self.timeout;
        let attempt = || async {
            self.limits.wait(method, channel).await;
            match tokio::time::timeout(timeout, f()).await {
                Ok(r) => r.map_err(Attempt::Slack),
                Err(_) => Err(Attempt::TimedOut(timeout)),
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(8))
            .with_max_times(self.max_retries)
            .with_jitter();
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| e.retryable(repeatable))
            .adjust(|e, planned| planned.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e, wait| {
                tracing::info!(method, error = ?e, wait_ms = wait.as_millis() as u64, "retrying a Slack Web API call");
            })
            .await
            .map_err(|e| call_err(method, e))
    }

    /// The underlying slack-morphism client (same API URL and TLS settings), for Socket Mode.
    pub fn client(&self) -> Arc<SlackClient<Connector>> {
        self.client.clone()
    }

    /// The bot's own user id (`auth.test`), used to strip and detect its mentions.
    ///
    /// # Errors
    /// [`ApiError`] when the call fails.
    pub async fn bot_user_id(&self) -> Result<String, ApiError> {
        let r = self
            .call("auth.test", None, true, || async {
                self.client.open_session(&self.token).auth_test().await
            })
            .await?;
        Ok(r.user_id.to_string())
    }

    /// `chat.postMessage` in `thread_ts` (or a new message); returns the new message's `ts`.
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the message.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        m: &SlackMessage,
    ) -> Result<String, ApiError> {
        let mut req = SlackApiChatPostMessageRequest::new(
            SlackChannelId::new(channel.to_string()),
            content(m)?,
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        let r = self
            .call("chat.postMessage", Some(channel), false, || async {
                self.client
                    .open_session(&self.token)
                    .chat_post_message(&req)
                    .await
            })
            .await?;
        Ok(r.ts.to_string())
    }

    /// `chat.update` of the message at `ts`.
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the update.
    pub async fn update(&self, channel: &str, ts: &str, m: &SlackMessage) -> Result<(), ApiError> {
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId::new(channel.to_string()),
            content(m)?,
            SlackTs::new(ts.to_string()),
        );
        self.call("chat.update", Some(channel), true, || async {
            self.client
                .open_session(&self.token)
                .chat_update(&req)
                .await
        })
        .await?;
        Ok(())
    }

    /// `chat.postEphemeral`: visible only to `user`.
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the message.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), ApiError> {
        let mut req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId::new(channel.to_string()),
            SlackUserId::new(user.to_string()),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        self.call("chat.postEphemeral", Some(channel), false, || async {
            self.client
                .open_session(&self.token)
                .chat_post_ephemeral(&req)
                .await
        })
        .await?;
        Ok(())
    }

    /// `reactions.add` (e.g. `hourglass_flowing_sand` while diagnostics run).
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the reaction.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), ApiError> {
        let req = SlackApiReactionsAddRequest::new(
            SlackChannelId::new(channel.to_string()),
            SlackReactionName::new(name.to_string()),
            SlackTs::new(ts.to_string()),
        );
        // Repeating it is harmless: a second one answers `already_reacted`.
        self.call("reactions.add", Some(channel), true, || async {
            self.client
                .open_session(&self.token)
                .reactions_add(&req)
                .await
        })
        .await?;
        Ok(())
    }

    /// Uploads a file into a thread with the external-upload flow:
    /// `files.getUploadURLExternal` → POST the bytes to the returned URL →
    /// `files.completeUploadExternal` with the channel and thread.
    ///
    /// # Errors
    /// [`ApiError`] naming the step that failed.
    pub async fn upload(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), ApiError> {
        let url = self
            .call("files.getUploadURLExternal", None, true, || async {
                self.client
                    .open_session(&self.token)
                    .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                        filename.to_string(),
                        bytes.len(),
                    ))
                    .await
            })
            .await?;
        let via = SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url.clone(),
            bytes,
            content_type.to_string(),
        );
        self.call("files.upload (upload URL)", None, false, || async {
            self.client
                .open_session(&self.token)
                .files_upload_via_url(&via)
                .await
        })
        .await?;
        let mut req =
            SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                url.file_id.clone(),
            )
            .with_title(filename.to_string())])
            .with_channel_id(SlackChannelId::new(channel.to_string()));
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        self.call(
            "files.completeUploadExternal",
            Some(channel),
            false,
            || async {
                self.client
                    .open_session(&self.token)
                    .files_complete_upload_external(&req)
                    .await
            },
        )
        .await?;
        Ok(())
    }

    /// Posts to a slash command's `response_url` (visible to the user who ran the command).
    ///
    /// # Errors
    /// [`ApiError`] when the URL is invalid or Slack refuses the message.
    pub async fn respond(&self, response_url: &str, m: &SlackMessage) -> Result<(), ApiError> {
        let url: url::Url = response_url
            .parse()
            .map_err(|e: url::ParseError| ApiError::Call {
                method: "response_url",
                message: e.to_string(),
            })?;
        let req = SlackApiPostWebhookMessageRequest::new(content(m)?);
        let target = SlackResponseUrl::new(url);
        self.call("response_url", None, false, || async {
            self.client.respond_to_event(&target, &req).await
        })
        .await?;
        Ok(())
    }
}
