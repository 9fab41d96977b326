//! `[discord]` in `dbabot.toml`: ids, which secrets to read from the environment, mode, limits.
//!
//! ```toml
//! [discord]
//! mode = "gateway"                       # gateway | interactions | both
//! token_env = "DISCORD_TOKEN"            # bot token (gateway, command registration)
//! application_id_env = "DISCORD_APPLICATION_ID"   # or application_id = "1234567890"
//! public_key_env = "DISCORD_PUBLIC_KEY"  # or public_key = "<64 hex chars>" (interactions)
//! dev_guild_id = "987654321"             # register /dba in this guild only (instant); else global
//! allow_bots = false
//! thread_auto_archive_minutes = 1440     # 60 | 1440 | 4320 | 10080
//! signature_max_age_secs = 300           # 0 = do not check the timestamp's age
//! [discord.rate_limits]
//! user_per_minute = 6
//! guild_per_minute = 30
//! ```

use crate::DiscordError;
use serde::Deserialize;
use std::fmt;

/// The Discord REST origin; requests go to `{api_base}/api/v10/…`.
pub const DEFAULT_API_BASE: &str = "https://discord.com";

/// The report names the engine ships (`intents/reports.toml`), offered as choices of
/// `/dba report name` until the caller sets [`DiscordConfig::reports`] from the engine's catalog.
pub const DEFAULT_REPORTS: &[&str] = &[
    "health",
    "space",
    "schema",
    "locks",
    "slow-queries",
    "connections",
    "index-usage",
    "security",
];

/// A secret string that never prints (`***` in `Debug` and `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is sent (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the adapter receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A gateway connection (mentions, DMs, threads, and interactions over the socket).
    #[default]
    Gateway,
    /// Only the HTTP interactions endpoint (slash commands and clicks; no mentions).
    Interactions,
    /// Both: the gateway for messages and the endpoint set as the app's Interactions URL.
    Both,
}

/// Per-user and per-guild request budgets (governor GCRA: the budget refills evenly over a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests one user may make per minute (burst of the same size); 0 = unlimited.
    pub user_per_minute: u32,
    /// Requests one guild (or all DMs together) may make per minute; 0 = unlimited.
    pub guild_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            user_per_minute: 6,
            guild_per_minute: 30,
        }
    }
}

/// Everything the Discord adapter needs. Secrets are read once, here, and never logged.
#[derive(Clone)]
pub struct DiscordConfig {
    /// Bot token (without the `Bot ` prefix). Needed for the gateway and to register `/dba`.
    pub token: Option<Secret>,
    /// The application's id (a snowflake), used in webhook and command routes.
    pub application_id: u64,
    /// The application's Ed25519 public key (32 bytes), required by the HTTP endpoint.
    pub public_key: Option<[u8; 32]>,
    /// Register `/dba` in this guild only (changes appear at once); otherwise globally.
    pub dev_guild_id: Option<u64>,
    pub mode: Mode,
    /// REST origin without the `/api/v10` path, e.g. `https://discord.com` or a local stand-in.
    pub api_base: String,
    /// Answer messages written by other bots (never the bot's own).
    pub allow_bots: bool,
    pub rate_limits: RateLimits,
    /// Target aliases offered by autocomplete (`report target`, `status target`); the caller fills
    /// them from the engine's configuration.
    pub targets: Vec<String>,
    /// Report names offered as choices of `/dba report name` (autocomplete above 25).
    pub reports: Vec<String>,
    /// Register the `/dba` command on startup (gateway: on ready; interactions: when the router is built).
    pub register_commands: bool,
    /// Auto-archive of threads the bot starts, in minutes (60, 1440, 4320 or 10080).
    pub thread_auto_archive_minutes: u16,
    /// Reject signed requests whose `X-Signature-Timestamp` is more than this many seconds
    /// from now (replay protection, with the per-interaction-id dedupe of the HTTP endpoint);
    /// 0 disables the check and leaves only the 15-minute dedupe. Default 300 s.
    pub signature_max_age_secs: u64,
    /// Timeout of one REST request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest file the adapter attaches, in bytes (Discord's default upload limit is 10 MiB;
    /// an interaction's own `attachment_size_limit` lowers it further).
    pub max_file_bytes: u64,
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("application_id", &self.application_id)
            .field("public_key", &self.public_key.map(hex::encode))
            .field("dev_guild_id", &self.dev_guild_id)
            .field("mode", &self.mode)
            .field("api_base", &self.api_base)
            .field("allow_bots", &self.allow_bots)
            .field("rate_limits", &self.rate_limits)
            .field("targets", &self.targets)
            .field("reports", &self.reports)
            .field("register_commands", &self.register_commands)
            .finish_non_exhaustive()
    }
}

/// A snowflake written as a TOML string (`"123"`, the safe form) or integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Int(i64),
}

impl IdValue {
    fn parse(&self, key: &str) -> Result<u64, DiscordError> {
        let n = match self {
            IdValue::Text(s) => s.trim().parse::<u64>().ok(),
            IdValue::Int(i) => u64::try_from(*i).ok(),
        };
        n.filter(|n| *n > 0).ok_or_else(|| {
            DiscordError::Config(format!(
                "discord.{key} must be a Discord id (a positive number)"
            ))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default)]
    mode: Mode,
    token_env: Option<String>,
    /// Rejected with a clear message: tokens belong in the environment.
    token: Option<toml::Value>,
    application_id: Option<IdValue>,
    application_id_env: Option<String>,
    public_key: Option<String>,
    public_key_env: Option<String>,
    dev_guild_id: Option<IdValue>,
    #[serde(default)]
    allow_bots: bool,
    api_base: Option<String>,
    #[serde(default)]
    rate_limits: RateLimits,
    #[serde(default)]
    targets: Vec<String>,
    reports: Option<Vec<String>>,
    register_commands: Option<bool>,
    thread_auto_archive_minutes: Option<u16>,
    signature_max_age_secs: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_file_bytes: Option<u64>,
}

impl DiscordConfig {
    /// A configuration with defaults for everything but the application id (tests, embedding).
    pub fn new(application_id: u64) -> Self {
        DiscordConfig {
            token: None,
            application_id,
            public_key: None,
            dev_guild_id: None,
            mode: Mode::Gateway,
            api_base: DEFAULT_API_BASE.into(),
            allow_bots: false,
            rate_limits: RateLimits::default(),
            targets: Vec::new(),
            reports: DEFAULT_REPORTS.iter().map(|s| s.to_string()).collect(),
            register_commands: true,
            thread_auto_archive_minutes: 1440,
            signature_max_age_secs: 300,
            request_timeout_ms: 10_000,
            max_file_bytes: 10 * 1024 * 1024,
        }
    }

    /// Reads the `[discord]` table of `dbabot.toml`. Secrets are named there
    /// (`token_env = "DISCORD_TOKEN"`, `public_key_env = "DISCORD_PUBLIC_KEY"`,
    /// `application_id_env = "DISCORD_APPLICATION_ID"`; those are also the defaults) and read
    /// through `env`.
    ///
    /// # Errors
    /// [`DiscordError::Config`] for unknown keys, wrong types, an inline token or a malformed
    /// public key; [`DiscordError::MissingEnv`] when the chosen mode needs a secret that is unset.
    pub fn from_toml(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DiscordError> {
        let raw: RawSection = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| DiscordError::Config(e.message().to_string()))?;
        if raw.token.is_some() {
            return Err(DiscordError::Config(
                "an inline `token` is not accepted; put it in an environment variable and name it with `token_env`".into(),
            ));
        }
        let read = |var: &str| -> Option<String> {
            env(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let application_id = match (&raw.application_id, &raw.application_id_env) {
            (Some(id), _) => id.parse("application_id")?,
            (None, var) => {
                let var = var.as_deref().unwrap_or("DISCORD_APPLICATION_ID");
                let v = read(var).ok_or_else(|| DiscordError::MissingEnv {
                    key: "application_id_env",
                    var: var.to_string(),
                })?;
                IdValue::Text(v).parse("application_id_env")?
            }
        };

        let token_var = raw.token_env.as_deref().unwrap_or("DISCORD_TOKEN");
        let token = read(token_var).map(|t| {
            Secret::new(
                t.strip_prefix("Bot ")
                    .map(str::to_string)
                    .unwrap_or_else(|| t.clone()),
            )
        });

        let key_hex = match (&raw.public_key, &raw.public_key_env) {
            (Some(k), _) => Some(k.trim().to_string()),
            (None, var) => read(var.as_deref().unwrap_or("DISCORD_PUBLIC_KEY")),
        };
        let public_key = key_hex.as_deref().map(parse_public_key).transpose()?;

        let needs_gateway = matches!(raw.mode, Mode::Gateway | Mode::Both);
        let needs_endpoint = matches!(raw.mode, Mode::Interactions | Mode::Both);
        if needs_gateway && token.is_none() {
            return Err(DiscordError::MissingEnv {
                key: "token_env",
                var: token_var.to_string(),
            });
        }
        if needs_endpoint && public_key.is_none() {
            return Err(DiscordError::MissingEnv {
                key: "public_key_env",
                var: raw
                    .public_key_env
                    .clone()
                    .unwrap_or_else(|| "DISCORD_PUBLIC_KEY".into()),
            });
        }

        let archive = raw.thread_auto_archive_minutes.unwrap_or(1440);
        if ![60, 1440, 4320, 10080].contains(&archive) {
            return Err(DiscordError::Config(
                "discord.thread_auto_archive_minutes must be 60, 1440, 4320 or 10080".into(),
            ));
        }
        let api_base = raw
            .api_base
            .unwrap_or_else(|| DEFAULT_API_BASE.into())
            .trim_end_matches('/')
            .to_string();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(DiscordError::Config(
                "discord.api_base must be an http(s) origin such as https://discord.com".into(),
            ));
        }

        let mut cfg = DiscordConfig::new(application_id);
        cfg.token = token;
        cfg.public_key = public_key;
        cfg.dev_guild_id = raw
            .dev_guild_id
            .as_ref()
            .map(|g| g.parse("dev_guild_id"))
            .transpose()?;
        cfg.mode = raw.mode;
        cfg.api_base = api_base;
        cfg.allow_bots = raw.allow_bots;
        cfg.rate_limits = raw.rate_limits;
        cfg.targets = raw.targets;
        if let Some(r) = raw.reports {
            cfg.reports = r;
        }
        cfg.register_commands = raw.register_commands.unwrap_or(true);
        cfg.thread_auto_archive_minutes = archive;
        if let Some(s) = raw.signature_max_age_secs {
            cfg.signature_max_age_secs = s;
        }
        if let Some(t) = raw.request_timeout_ms {
            cfg.request_timeout_ms = t.max(100);
        }
        if let Some(m) = raw.max_file_bytes {
            cfg.max_file_bytes = m;
        }
        Ok(cfg)
    }

    /// The REST API root, `{api_base}/api/v10`.
    pub fn api_root(&self) -> String {
        format!("{}/api/v10", self.api_base.trim_end_matches('/'))
    }
}

/// Parses the application's public key as shown in the developer portal (64 hex characters).
///
/// # Errors
/// [`DiscordError::Config`] when it is not 32 bytes of hex or not a valid Ed25519 point.
pub fn parse_public_key(hex_key: &str) -> Result<[u8; 32], DiscordError> {
    let bytes = hex::decode(hex_key.trim())
        .map_err(|_| DiscordError::Config("discord public key must be hex".into()))?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| {
        DiscordError::Config("discord public key must be 32 bytes (64 hex characters)".into())
    })?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| {
        DiscordError::Config("discord public key is not a valid Ed25519 key".into())
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn section(s: &str) -> toml::Value {
        toml::from_str::<toml::Value>(s).expect("toml")
    }

    #[test]
    fn reads_secrets_from_named_env_vars() {
        let cfg = DiscordConfig::from_toml(
            &section(
                r#"mode = "both"
                token_env = "MY_TOKEN"
                application_id = "1100000000000000001"
                public_key_env = "MY_KEY"
                dev_guild_id = 42
                [rate_limits]
                user_per_minute = 2"#,
            ),
            &env(&[("MY_TOKEN", "Bot abc.def"), ("MY_KEY", KEY)]),
        )
        .expect("config");
        assert_eq!(cfg.token.as_ref().map(Secret::expose), Some("abc.def"));
        assert_eq!(cfg.application_id, 1100000000000000001);
        assert_eq!(cfg.dev_guild_id, Some(42));
        assert_eq!(cfg.mode, Mode::Both);
        assert_eq!(cfg.rate_limits.user_per_minute, 2);
        assert_eq!(cfg.rate_limits.guild_per_minute, 30);
        assert_eq!(cfg.api_root(), "https://discord.com/api/v10");
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("abc.def"), "{dbg}");
    }

    #[test]
    fn default_env_names_and_requirements() {
        let cfg = DiscordConfig::from_toml(
            &section(r#"mode = "interactions""#),
            &env(&[
                ("DISCORD_APPLICATION_ID", "77"),
                ("DISCORD_PUBLIC_KEY", KEY),
            ]),
        )
        .expect("config");
        assert!(cfg.token.is_none());
        assert_eq!(cfg.application_id, 77);

        let err =
            DiscordConfig::from_toml(&section(r#"application_id = "1""#), &env(&[])).unwrap_err();
        assert!(matches!(err, DiscordError::MissingEnv { var, .. } if var == "DISCORD_TOKEN"));

        let err = DiscordConfig::from_toml(
            &section("mode = \"interactions\"\napplication_id = \"1\""),
            &env(&[]),
        )
        .unwrap_err();
        assert!(matches!(err, DiscordError::MissingEnv { var, .. } if var == "DISCORD_PUBLIC_KEY"));
    }

    #[test]
    fn rejects_inline_token_unknown_keys_and_bad_keys() {
        let e =
            DiscordConfig::from_toml(&section("token = \"x\"\napplication_id = \"1\""), &env(&[]))
                .unwrap_err();
        assert!(e.to_string().contains("token_env"), "{e}");
        let e = DiscordConfig::from_toml(
            &section("application_id = \"1\"\ntoken_envv = \"X\""),
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("token_envv"), "{e}");
        let e = DiscordConfig::from_toml(
            &section("mode = \"interactions\"\napplication_id = \"1\"\npublic_key = \"abcd\""),
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
    }
}
