//! The Slack Web API calls the adapter makes, through slack-morphism. 429s are retried by the
//! SDK's rate controller, honouring `Retry-After`; other failures are logged with Slack's error
//! code and returned, never panicked on.

use crate::blocks::SlackMessage;
use crate::config::SlackConfig;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;

/// A Web API call failed (after the SDK's retries).
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

type Connector = SlackClientHyperHttpsConnector;

/// Sends messages, updates, reactions and files for one workspace's bot token.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
}

fn call_err(method: &'static str, e: SlackClientError) -> ApiError {
    let message = match &e {
        SlackClientError::ApiError(api) => format!("error code `{}`", api.code),
        SlackClientError::RateLimitError(r) => {
            format!("rate limited (retry after {:?})", r.retry_after)
        }
        other => other.to_string(),
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
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(config.api_url.trim_end_matches('/'))
            .with_rate_control(
                SlackApiRateControlConfig::new().with_max_retries(config.max_retries),
            );
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue::new(
                config.bot_token.expose().to_string(),
            )),
        })
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
        let s = self.client.open_session(&self.token);
        let r = s.auth_test().await.map_err(|e| call_err("auth.test", e))?;
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
        let s = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostMessageRequest::new(
            SlackChannelId::new(channel.to_string()),
            content(m)?,
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        let r = s
            .chat_post_message(&req)
            .await
            .map_err(|e| call_err("chat.postMessage", e))?;
        Ok(r.ts.to_string())
    }

    /// `chat.update` of the message at `ts`.
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the update.
    pub async fn update(&self, channel: &str, ts: &str, m: &SlackMessage) -> Result<(), ApiError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId::new(channel.to_string()),
            content(m)?,
            SlackTs::new(ts.to_string()),
        );
        s.chat_update(&req)
            .await
            .map_err(|e| call_err("chat.update", e))?;
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
        let s = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId::new(channel.to_string()),
            SlackUserId::new(user.to_string()),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        s.chat_post_ephemeral(&req)
            .await
            .map_err(|e| call_err("chat.postEphemeral", e))?;
        Ok(())
    }

    /// `reactions.add` (e.g. `hourglass_flowing_sand` while diagnostics run).
    ///
    /// # Errors
    /// [`ApiError`] when Slack refuses the reaction.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), ApiError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiReactionsAddRequest::new(
            SlackChannelId::new(channel.to_string()),
            SlackReactionName::new(name.to_string()),
            SlackTs::new(ts.to_string()),
        );
        s.reactions_add(&req)
            .await
            .map_err(|e| call_err("reactions.add", e))?;
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
        let s = self.client.open_session(&self.token);
        let url = s
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                filename.to_string(),
                bytes.len(),
            ))
            .await
            .map_err(|e| call_err("files.getUploadURLExternal", e))?;
        s.files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url,
            bytes,
            content_type.to_string(),
        ))
        .await
        .map_err(|e| call_err("files.upload (upload URL)", e))?;
        let mut req =
            SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                url.file_id,
            )
            .with_title(filename.to_string())])
            .with_channel_id(SlackChannelId::new(channel.to_string()));
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs::new(ts.to_string()));
        }
        s.files_complete_upload_external(&req)
            .await
            .map_err(|e| call_err("files.completeUploadExternal", e))?;
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
        self.client
            .respond_to_event(&SlackResponseUrl::new(url), &req)
            .await
            .map_err(|e| call_err("response_url", e))?;
        Ok(())
    }
}
