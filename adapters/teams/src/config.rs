//! The `[teams]` section of `dbabot.toml`, resolved against the environment.
//!
//! ```toml
//! [teams]
//! security_token_env = "TEAMS_SECURITY_TOKEN"        # or a list, one per team's outgoing webhook
//! incoming_webhook_url_env = "TEAMS_WEBHOOK_URL"     # Workflows URL for late answers (optional)
//! sync_deadline_ms = 3500
//! max_card_bytes = 28000
//!
//! [teams.channel_webhooks]                           # optional: per-channel Workflows URLs
//! "19:abc…@thread.tacv2" = "TEAMS_WEBHOOK_URL_DBA"
//!
//! [teams.retry]
//! max_attempts = 4
//! initial_backoff_ms = 500
//! max_backoff_ms = 8000
//! max_retry_after_ms = 30000
//! ```
//!
//! Secrets (the security token, webhook URLs) never appear in the file: it names environment
//! variables and [`TeamsConfig::from_toml`] reads them through the `env` function it is given.

use crate::error::TeamsError;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Default of `sync_deadline_ms`, in milliseconds (see [`TeamsConfig::sync_deadline`]).
pub const DEFAULT_SYNC_DEADLINE_MS: u64 = 3_500;

/// A decoded outgoing-webhook security token (the HMAC key). Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecurityToken(Vec<u8>);

impl SecurityToken {
    /// Decodes the base64 token Teams shows when the outgoing webhook is created.
    ///
    /// # Errors
    /// [`TeamsError::Config`] when the value is empty or not standard base64 (the value itself
    /// is never part of the message).
    pub fn from_base64(token: &str) -> Result<Self, TeamsError> {
        let t = token.trim();
        if t.is_empty() {
            return Err(TeamsError::Config("the security token is empty".into()));
        }
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map(SecurityToken)
            .map_err(|_| {
                TeamsError::Config(
                    "the security token is not base64 (paste it exactly as Teams shows it)".into(),
                )
            })
    }

    /// The raw key bytes.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecurityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecurityToken(***)")
    }
}

/// A Workflows webhook URL. It embeds a signature (`sig=`), so it prints as scheme and host only.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    /// Parses and checks a webhook URL: `https://…`, or `http://` on a loopback host (tests,
    /// local proxies).
    ///
    /// # Errors
    /// [`TeamsError::Config`] for anything else (the URL is not echoed).
    pub fn parse(url: &str) -> Result<Self, TeamsError> {
        let u = reqwest::Url::parse(url.trim())
            .map_err(|e| TeamsError::Config(format!("the incoming webhook URL is invalid: {e}")))?;
        let loopback = u.host_str().map(is_loopback).unwrap_or(false);
        match u.scheme() {
            "https" => Ok(WebhookUrl(u)),
            "http" if loopback => Ok(WebhookUrl(u)),
            other => Err(TeamsError::Config(format!(
                "the incoming webhook URL must use https (got {other}://{})",
                u.host_str().unwrap_or("")
            ))),
        }
    }

    /// The full URL, secret signature included: only for sending the request.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    /// `https://host` without path or query, safe for logs.
    pub fn redacted(&self) -> String {
        format!("{}://{}", self.0.scheme(), self.0.host_str().unwrap_or("?"))
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({}/***)", self.redacted())
    }
}

/// Retries of the incoming webhook on 429 and 5xx (and transport errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total POST attempts including the first (default 4, at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time (default 500 ms).
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff (default 8 s).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the retries (default 30 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Resolved Teams adapter settings.
#[derive(Debug, Clone)]
pub struct TeamsConfig {
    /// Security tokens of the outgoing webhooks (one per team); a request signed with any of
    /// them is accepted.
    pub security_tokens: Vec<SecurityToken>,
    /// Default Workflows webhook for late answers and continuation cards.
    pub incoming_webhook: Option<WebhookUrl>,
    /// Per-channel Workflows webhooks (Teams channel id → URL), used before the default.
    pub channel_webhooks: BTreeMap<String, WebhookUrl>,
    /// How long a request waits for the engine before answering "working on it". Default
    /// 3500 ms: Teams gives an outgoing webhook 5 s for its response ("Create Outgoing Webhooks":
    /// the response must arrive within 5 seconds), and 1.5 s are left for rendering the
    /// card, TLS and the network between Teams and the bot (with 4500 ms the reply left the
    /// bot at 4504–4512 ms on loopback, under 0.5 s before Teams gives up).
    pub sync_deadline: Duration,
    /// Largest message (envelope with one card) in bytes, serialized (default 28 000; Teams'
    /// limit is about 28 KB).
    pub max_card_bytes: usize,
    /// Largest accepted request body in bytes (default 262 144).
    pub max_body_bytes: usize,
    /// Activities whose signed `timestamp` is further than this from now are refused as
    /// replays; seen Activity ids are remembered for twice this (default 900 s, at most one
    /// day). Zero disables the timestamp check (ids are then remembered for 900 s).
    pub replay_window: Duration,
    /// CSV lines shown in place of a file attachment (default 10).
    pub csv_preview_rows: usize,
    /// Timeout of one POST to the incoming webhook (default 10 s).
    pub webhook_timeout: Duration,
    /// Retry policy of the incoming webhook.
    pub retry: RetryPolicy,
    /// The name users @-mention, used in "answer with @name 2" hints when the Activity does not
    /// say (default `dbabot`).
    pub bot_name: String,
}

impl TeamsConfig {
    /// A configuration with one security token (base64, as Teams shows it) and defaults
    /// otherwise.
    ///
    /// # Errors
    /// [`TeamsError::Config`] when the token is not base64.
    pub fn new(security_token_base64: &str) -> Result<Self, TeamsError> {
        Ok(Self::with_tokens(vec![SecurityToken::from_base64(
            security_token_base64,
        )?]))
    }

    fn with_tokens(security_tokens: Vec<SecurityToken>) -> Self {
        TeamsConfig {
            security_tokens,
            incoming_webhook: None,
            channel_webhooks: BTreeMap::new(),
            sync_deadline: Duration::from_millis(DEFAULT_SYNC_DEADLINE_MS),
            max_card_bytes: 28_000,
            max_body_bytes: 262_144,
            replay_window: Duration::from_secs(900),
            csv_preview_rows: 10,
            webhook_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            bot_name: "dbabot".into(),
        }
    }

    /// Reads the `[teams]` table of `dbabot.toml`; secrets come from the environment variables
    /// it names, looked up through `env`.
    ///
    /// # Errors
    /// [`TeamsError::Config`] for unknown keys, missing or unset variables, a token that is not
    /// base64, a webhook URL that is not https, or out-of-range numbers. Messages name keys and
    /// variables, never their values.
    pub fn from_toml(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TeamsError> {
        let raw: RawTeams = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| TeamsError::Config(e.message().to_string()))?;
        let read = |key: &str, var: &str| -> Result<String, TeamsError> {
            match env(var) {
                Some(v) if !v.trim().is_empty() => Ok(v),
                _ => Err(TeamsError::Config(format!(
                    "environment variable {var} (named by {key}) is not set"
                ))),
            }
        };
        let token_vars = match raw.security_token_env {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        };
        if token_vars.is_empty() {
            return Err(TeamsError::Config(
                "security_token_env must name at least one environment variable".into(),
            ));
        }
        let mut tokens = Vec::new();
        for var in &token_vars {
            let value = read("security_token_env", var)?;
            tokens.push(SecurityToken::from_base64(&value).map_err(|e| match e {
                TeamsError::Config(m) => TeamsError::Config(format!("{var}: {m}")),
                other => other,
            })?);
        }
        let url = |key: &str, var: &str| -> Result<WebhookUrl, TeamsError> {
            WebhookUrl::parse(&read(key, var)?).map_err(|e| match e {
                TeamsError::Config(m) => TeamsError::Config(format!("{var}: {m}")),
                other => other,
            })
        };
        let incoming_webhook = match &raw.incoming_webhook_url_env {
            Some(var) => Some(url("incoming_webhook_url_env", var)?),
            None => None,
        };
        let mut channel_webhooks = BTreeMap::new();
        for (channel, var) in &raw.channel_webhooks {
            channel_webhooks.insert(channel.clone(), url("channel_webhooks", var)?);
        }
        let mut cfg = TeamsConfig::with_tokens(tokens);
        cfg.incoming_webhook = incoming_webhook;
        cfg.channel_webhooks = channel_webhooks;
        if let Some(ms) = raw.sync_deadline_ms {
            if !(50..=4_900).contains(&ms) {
                return Err(TeamsError::Config(format!(
                    "sync_deadline_ms = {ms} is outside 50..=4900 (Teams waits 5000 ms)"
                )));
            }
            cfg.sync_deadline = Duration::from_millis(ms);
        }
        if let Some(b) = raw.max_card_bytes {
            if !(4_000..=100_000).contains(&b) {
                return Err(TeamsError::Config(format!(
                    "max_card_bytes = {b} is outside 4000..=100000"
                )));
            }
            cfg.max_card_bytes = b;
        }
        if let Some(b) = raw.max_body_bytes {
            if b < 1_024 {
                return Err(TeamsError::Config(format!(
                    "max_body_bytes = {b} is below 1024"
                )));
            }
            cfg.max_body_bytes = b;
        }
        if let Some(s) = raw.replay_window_secs {
            // At most a day: ids are remembered for twice the window.
            cfg.replay_window = Duration::from_secs(s.min(86_400));
        }
        if let Some(n) = raw.csv_preview_rows {
            cfg.csv_preview_rows = n;
        }
        if let Some(ms) = raw.webhook_timeout_ms {
            cfg.webhook_timeout = Duration::from_millis(ms.clamp(100, 120_000));
        }
        if let Some(name) = raw.bot_name.filter(|n| !n.trim().is_empty()) {
            cfg.bot_name = name.trim().to_string();
        }
        if let Some(r) = raw.retry {
            let d = RetryPolicy::default();
            cfg.retry = RetryPolicy {
                max_attempts: r.max_attempts.unwrap_or(d.max_attempts).clamp(1, 10),
                initial_backoff: r
                    .initial_backoff_ms
                    .map(|ms| Duration::from_millis(ms.min(60_000)))
                    .unwrap_or(d.initial_backoff),
                max_backoff: r
                    .max_backoff_ms
                    .map(|ms| Duration::from_millis(ms.min(300_000)))
                    .unwrap_or(d.max_backoff),
                max_retry_after: r
                    .max_retry_after_ms
                    .map(|ms| Duration::from_millis(ms.min(600_000)))
                    .unwrap_or(d.max_retry_after),
            };
        }
        Ok(cfg)
    }

    /// The webhook that delivers to `channel`: its own, else the default.
    pub fn webhook_for(&self, channel: &str) -> Option<&WebhookUrl> {
        self.channel_webhooks
            .get(channel)
            .or(self.incoming_webhook.as_ref())
    }

    /// How long seen Activity ids are remembered.
    pub fn dedupe_ttl(&self) -> Duration {
        if self.replay_window.is_zero() {
            Duration::from_secs(900)
        } else {
            // Twice the window: an activity accepted at the window's edge stays known until its
            // timestamp check would refuse it anyway.
            self.replay_window
                .checked_mul(2)
                .unwrap_or(self.replay_window)
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    security_token_env: OneOrMany,
    incoming_webhook_url_env: Option<String>,
    #[serde(default)]
    channel_webhooks: BTreeMap<String, String>,
    sync_deadline_ms: Option<u64>,
    max_card_bytes: Option<usize>,
    max_body_bytes: Option<usize>,
    replay_window_secs: Option<u64>,
    csv_preview_rows: Option<usize>,
    webhook_timeout_ms: Option<u64>,
    bot_name: Option<String>,
    retry: Option<RawRetry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    max_retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_secrets_through_env_and_applies_defaults() {
        let section: toml::Value = toml::from_str(
            r#"
            security_token_env = "TEAMS_SECURITY_TOKEN"
            incoming_webhook_url_env = "TEAMS_WEBHOOK_URL"
            sync_deadline_ms = 300
            [channel_webhooks]
            "19:dba@thread.tacv2" = "DBA_HOOK"
            [retry]
            max_attempts = 2
            "#,
        )
        .expect("toml");
        let cfg = TeamsConfig::from_toml(
            &section,
            &env(&[
                ("TEAMS_SECURITY_TOKEN", "c2VjcmV0LWtleS1mb3ItdGVzdHM="),
                (
                    "TEAMS_WEBHOOK_URL",
                    "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SECRET",
                ),
                ("DBA_HOOK", "http://127.0.0.1:9/hook"),
            ]),
        )
        .expect("config");
        assert_eq!(cfg.security_tokens[0].key(), b"secret-key-for-tests");
        assert_eq!(cfg.sync_deadline, Duration::from_millis(300));
        assert_eq!(cfg.max_card_bytes, 28_000);
        assert_eq!(cfg.retry.max_attempts, 2);
        assert_eq!(
            cfg.webhook_for("19:dba@thread.tacv2")
                .map(WebhookUrl::redacted),
            Some("http://127.0.0.1".to_string())
        );
        assert_eq!(
            cfg.webhook_for("19:other@thread.tacv2")
                .map(WebhookUrl::redacted),
            Some("https://prod.westeurope.logic.azure.com".to_string())
        );
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }

    #[test]
    fn rejects_missing_variables_bad_tokens_plain_http_and_unknown_keys() {
        let s = |t: &str| -> toml::Value { toml::from_str(t).expect("toml") };
        let e = TeamsConfig::from_toml(&s(r#"security_token_env = "T""#), &env(&[]))
            .expect_err("unset");
        assert!(
            e.to_string().contains("T (named by security_token_env)"),
            "{e}"
        );
        let e = TeamsConfig::from_toml(&s(r#"security_token_env = "T""#), &env(&[("T", "%%%")]))
            .expect_err("not base64");
        assert!(e.to_string().contains("not base64"), "{e}");
        assert!(!e.to_string().contains("%%%"), "{e}");
        let e = TeamsConfig::from_toml(
            &s("security_token_env = \"T\"\nincoming_webhook_url_env = \"U\""),
            &env(&[("T", "AAAA"), ("U", "http://example.com/hook?sig=x")]),
        )
        .expect_err("plain http");
        assert!(e.to_string().contains("https"), "{e}");
        assert!(!e.to_string().contains("sig=x"), "{e}");
        let e = TeamsConfig::from_toml(
            &s("security_token_env = \"T\"\nsync_deadline = 3"),
            &env(&[("T", "AAAA")]),
        )
        .expect_err("unknown key");
        assert!(e.to_string().contains("sync_deadline"), "{e}");
        let e = TeamsConfig::from_toml(
            &s("security_token_env = \"T\"\nsync_deadline_ms = 6000"),
            &env(&[("T", "AAAA")]),
        )
        .expect_err("deadline past 5 s");
        assert!(e.to_string().contains("4900"), "{e}");
    }

    #[test]
    fn several_tokens_for_several_teams() {
        let section: toml::Value =
            toml::from_str(r#"security_token_env = ["TEAM_A", "TEAM_B"]"#).expect("toml");
        let cfg = TeamsConfig::from_toml(&section, &env(&[("TEAM_A", "AAAA"), ("TEAM_B", "AQID")]))
            .expect("config");
        assert_eq!(cfg.security_tokens.len(), 2);
        assert_eq!(cfg.security_tokens[1].key(), &[1, 2, 3]);
    }
}
