//! The `[slack]` section of `dbabot.toml`. Secrets are named there and read from the
//! environment (or a file), never written in the file itself.

use serde::Deserialize;
use std::fmt;

/// Errors in the `[slack]` section.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[slack]: {0}")]
    Invalid(String),
    #[error("[slack]: environment variable {0} is not set")]
    MissingEnv(String),
}

/// How Slack delivers events to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Events API over HTTP: `/slack/events`, `/slack/commands`, `/slack/interactivity`.
    Http,
    /// Socket Mode over a WebSocket the bot opens (app-level `xapp-` token); no public URL.
    SocketMode,
}

/// Where `/dba` results go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandDelivery {
    /// A message in the channel (a thread starts there, so follow-ups keep the context).
    Channel,
    /// Through the command's `response_url`, visible only to the user who ran it.
    ResponseUrl,
}

/// A secret value that prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Secret(v.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Resolved Slack settings.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub transport: Transport,
    /// Bot token (`xoxb-…`) for the Web API.
    pub bot_token: Secret,
    /// Signing secret for the Events API (HTTP transport).
    pub signing_secret: Option<Secret>,
    /// App-level token (`xapp-…`) for Socket Mode.
    pub app_token: Option<Secret>,
    /// Web API base URL; `https://slack.com/api` unless a test stand-in is configured.
    pub api_url: String,
    pub command_delivery: CommandDelivery,
    /// Requests older than this are rejected (Slack's guidance: 5 minutes), in seconds.
    pub max_request_age_secs: u64,
    /// Answer messages from other bots (never from itself).
    pub allow_bots: bool,
    /// Diagnostic requests per user per minute (governor).
    pub per_user_per_minute: u32,
    /// Diagnostic requests per channel per minute (governor).
    pub per_channel_per_minute: u32,
    /// Upload report results as a CSV file into the thread.
    pub upload_csv: bool,
    /// Retries of one Web API call after HTTP 429 (each waits the `Retry-After` Slack sends),
    /// a 5xx, or (for calls that are safe to repeat) a timeout or connection error; default 3.
    pub max_retries: usize,
    /// Timeout of one Web API request, default 10 s: a local choice, well above Slack's usual
    /// sub-second answers and below the minutes a hanging connection would otherwise hold a
    /// turn.
    pub request_timeout: std::time::Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    transport: Option<Transport>,
    bot_token_env: Option<String>,
    signing_secret_env: Option<String>,
    app_token_env: Option<String>,
    api_url: Option<String>,
    command_delivery: Option<CommandDelivery>,
    allow_bots: Option<bool>,
    per_user_per_minute: Option<u32>,
    per_channel_per_minute: Option<u32>,
    upload_csv: Option<bool>,
    max_retries: Option<usize>,
    request_timeout_ms: Option<u64>,
}

impl SlackConfig {
    /// Reads the `[slack]` table; secrets come from the variables it names, through `env`.
    ///
    /// Defaults: transport `http`, `bot_token_env = "SLACK_BOT_TOKEN"`,
    /// `signing_secret_env = "SLACK_SIGNING_SECRET"`, `app_token_env = "SLACK_APP_TOKEN"`,
    /// delivery `channel`, 10 diagnostics per user and 30 per channel per minute, 3 retries,
    /// `request_timeout_ms = 10000`.
    ///
    /// # Errors
    /// [`ConfigError`] for unknown keys or missing secrets.
    pub fn from_toml(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let f: File = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        let transport = f.transport.unwrap_or(Transport::Http);
        let need = |var: Option<String>, default: &str| -> Result<Secret, ConfigError> {
            let name = var.unwrap_or_else(|| default.to_string());
            env(&name)
                .map(Secret::new)
                .ok_or(ConfigError::MissingEnv(name))
        };
        let bot_token = need(f.bot_token_env.clone(), "SLACK_BOT_TOKEN")?;
        let (signing_secret, app_token) = match transport {
            Transport::Http => (
                Some(need(f.signing_secret_env, "SLACK_SIGNING_SECRET")?),
                None,
            ),
            Transport::SocketMode => (None, Some(need(f.app_token_env, "SLACK_APP_TOKEN")?)),
        };
        Ok(SlackConfig {
            transport,
            bot_token,
            signing_secret,
            app_token,
            api_url: f.api_url.unwrap_or_else(|| "https://slack.com/api".into()),
            command_delivery: f.command_delivery.unwrap_or(CommandDelivery::Channel),
            max_request_age_secs: 300,
            allow_bots: f.allow_bots.unwrap_or(false),
            per_user_per_minute: f.per_user_per_minute.unwrap_or(10).max(1),
            per_channel_per_minute: f.per_channel_per_minute.unwrap_or(30).max(1),
            upload_csv: f.upload_csv.unwrap_or(true),
            max_retries: f.max_retries.unwrap_or(3),
            request_timeout: std::time::Duration::from_millis(
                f.request_timeout_ms.unwrap_or(10_000).max(100),
            ),
        })
    }

    /// Settings for tests and embedding: HTTP transport with the given secrets.
    pub fn http(bot_token: &str, signing_secret: &str, api_url: &str) -> Self {
        SlackConfig {
            transport: Transport::Http,
            bot_token: Secret::new(bot_token),
            signing_secret: Some(Secret::new(signing_secret)),
            app_token: None,
            api_url: api_url.trim_end_matches('/').to_string(),
            command_delivery: CommandDelivery::Channel,
            max_request_age_secs: 300,
            allow_bots: false,
            per_user_per_minute: 10,
            per_channel_per_minute: 30,
            upload_csv: true,
            max_retries: 3,
            request_timeout: std::time::Duration::from_secs(10),
        }
    }
}
