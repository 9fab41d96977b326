//! Configuration: `dbabot.toml` plus `DBABOT_*` environment overrides.
//!
//! Secrets (DSNs) are never inline in the file: a target names an environment variable
//! (`dsn_env`) or a secret file (`dsn_file`), and the resolved value lives in a [`Secret`] whose
//! `Debug`/`Display` print `***`, so it cannot reach logs, replies, memory or prompts by accident.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Errors loading or validating the configuration. Parse errors carry the TOML line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Includes `line N, column M` and the offending key, as reported by the TOML parser.
    #[error("invalid configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("target `{alias}`: {message}")]
    Secret { alias: String, message: String },
}

/// Database engine of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Sqlite,
    Mssql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
            Engine::Mssql => "mssql",
        }
    }
    /// Name for humans ("PostgreSQL").
    pub fn display(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL/MariaDB",
            Engine::Sqlite => "SQLite",
            Engine::Mssql => "SQL Server",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string (DSN, token). Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value; call only where it is handed to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One database the bot may diagnose.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name users type: `orders-prod`.
    pub alias: String,
    /// Other names users use for it (`orders-db`).
    pub aliases: Vec<String>,
    pub engine: Engine,
    /// `prod`, `staging` or `dev`.
    pub environment: String,
    /// `aws`, `azure`, `gcp` or `on-prem`.
    pub cloud: String,
    /// Where the DSN came from, for `check-config` (`env ORDERS_PROD_DSN`), never the value.
    pub dsn_source: String,
    pub dsn: Secret,
}

/// Which recommender writes answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecommenderKind {
    Rules,
    Llm,
}

/// Limits applied to every diagnostic.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Server-side statement timeout per diagnostic, in milliseconds (default 5000).
    pub statement_timeout_ms: u64,
    /// Maximum rows read from one diagnostic (default 200).
    pub row_cap: usize,
    /// Connections per target pool (default 2).
    pub pool_size: u32,
    /// Connect timeout in milliseconds (default 5000).
    pub connect_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement_timeout_ms: 5_000,
            row_cap: 200,
            pool_size: 2,
            connect_timeout_ms: 5_000,
        }
    }
}

/// Thread memory settings.
#[derive(Debug, Clone, Copy)]
pub struct MemorySettings {
    /// Threads untouched for longer than this are deleted (default 30 days), in seconds.
    pub retention_secs: u64,
    /// Turns kept per thread (default 20).
    pub max_turns: usize,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            retention_secs: 30 * 24 * 3600,
            max_turns: 20,
        }
    }
}

/// The resolved configuration the engine runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Read the intent catalog from this folder instead of the copy built into the binary.
    pub intents_dir: Option<PathBuf>,
    pub recommender: RecommenderKind,
    pub limits: Limits,
    pub memory: MemorySettings,
    pub targets: Vec<Target>,
    /// Classifier confidence under which the bot asks which intent was meant (0..1, default 0.45).
    pub min_confidence: f64,
    /// Where the configuration came from (`embedded default` or a path).
    pub source: String,
    /// The `[store]` section: where memory, cases and the audit log live.
    pub store: crate::store::StoreSettings,
    /// Sections owned by other components (`[slack]`, `[discord]`, `[teams]`, `[llm]`,
    /// `[escalation]`, `[access]`), passed to them unparsed; each validates its own.
    pub sections: std::collections::BTreeMap<String, toml::Value>,
    /// Per target (alias, lower case): the server log the bot may read for "what happened on
    /// orders-prod last night?" (`log_path` in the target's table). Validated to be an absolute
    /// path under one of [`LOG_DIRS`]; opened read-only.
    pub log_paths: std::collections::BTreeMap<String, PathBuf>,
}

/// The only directories a target's `log_path` may point into: where PostgreSQL, MySQL and
/// MariaDB packages write their logs (Debian/Ubuntu, RHEL, the official images) and `/var/log`.
/// A log elsewhere can be symlinked or copied into one of them.
pub const LOG_DIRS: &[&str] = &[
    "/var/log",
    "/var/lib/postgresql",
    "/var/lib/pgsql",
    "/var/lib/mysql",
    "/var/lib/mariadb",
];

/// Checks a `log_path`: absolute, no `..`, inside one of [`LOG_DIRS`].
///
/// # Errors
/// [`ConfigError::Invalid`] naming the target and the rule broken.
pub fn validate_log_path(alias: &str, p: &Path) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        ConfigError::Invalid(format!("targets.{alias}.log_path `{}` {why}", p.display()))
    };
    if !p.is_absolute() {
        return Err(bad("must be an absolute path"));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(bad("must not contain `..`"));
    }
    if !LOG_DIRS.iter().any(|d| p.starts_with(d)) {
        return Err(bad(&format!(
            "must be inside one of {}",
            LOG_DIRS.join(", ")
        )));
    }
    Ok(())
}

impl Config {
    /// The embedded default: no targets yet (the demo target is added by `demo::ensure`), rules
    /// recommender, data under `data_dir`.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            intents_dir: None,
            recommender: RecommenderKind::Rules,
            limits: Limits::default(),
            memory: MemorySettings::default(),
            targets: Vec::new(),
            min_confidence: 0.45,
            source: "embedded default".into(),
            store: Default::default(),
            sections: Default::default(),
            log_paths: Default::default(),
        }
    }

    /// Looks a target up by alias (exact, case-insensitive).
    pub fn target(&self, alias: &str) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| t.alias.eq_ignore_ascii_case(alias))
    }

    /// Loads and validates `path`, then applies environment overrides from `env`.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] names the line and key for syntax and schema errors;
    /// [`ConfigError::Secret`] when a target's DSN variable or file is missing.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path, env)
    }

    /// Parses configuration text; `origin` is only used in messages and to resolve relative paths.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_toml(
        text: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: describe_toml_error(text, &e),
        })?;
        let base = origin.parent().unwrap_or(Path::new("."));
        let mut cfg = Config::embedded(default_data_dir(env));
        cfg.source = origin.display().to_string();
        if let Some(d) = file.data_dir {
            cfg.data_dir = base.join(d);
        }
        cfg.intents_dir = file.intents_dir.map(|d| base.join(d));
        if let Some(r) = file.recommender {
            cfg.recommender = r;
        }
        if let Some(l) = file.limits {
            if let Some(v) = l.statement_timeout_ms {
                cfg.limits.statement_timeout_ms = v;
            }
            if let Some(v) = l.row_cap {
                cfg.limits.row_cap = v;
            }
            if let Some(v) = l.pool_size {
                cfg.limits.pool_size = v;
            }
            if let Some(v) = l.connect_timeout_ms {
                cfg.limits.connect_timeout_ms = v;
            }
        }
        if let Some(m) = file.memory {
            if let Some(days) = m.retention_days {
                cfg.memory.retention_secs = days * 24 * 3600;
            }
            if let Some(t) = m.max_turns {
                cfg.memory.max_turns = t;
            }
        }
        if let Some(st) = file.store {
            cfg.store = resolve_store(st, base, env)?;
        }
        if let Some(c) = file.classifier.and_then(|c| c.min_confidence) {
            cfg.min_confidence = c;
        }
        for (name, section) in [
            ("slack", file.slack),
            ("discord", file.discord),
            ("teams", file.teams),
            ("llm", file.llm),
            ("escalation", file.escalation),
            ("access", file.access),
            ("server", file.server),
        ] {
            if let Some(v) = section {
                cfg.sections.insert(name.to_string(), v);
            }
        }
        for mut t in file.targets {
            if let Some(p) = t.log_path.take() {
                validate_log_path(&t.alias, &p)?;
                cfg.log_paths.insert(t.alias.to_lowercase(), p);
            }
            cfg.targets.push(resolve_target(t, base, env)?);
        }
        cfg.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies `DBABOT_DATA_DIR`, `DBABOT_RECOMMENDER`, `DBABOT_STATEMENT_TIMEOUT_MS`,
    /// `DBABOT_ROW_CAP`, `DBABOT_INTENTS_DIR`, `DBABOT_STORE_BACKEND` (`sled`/`postgres`) and
    /// `DBABOT_STORE_DSN` (the PostgreSQL store's DSN when `[store]` names none).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when a variable does not parse.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(d) = env("DBABOT_DATA_DIR") {
            self.data_dir = PathBuf::from(d);
        }
        if let Some(d) = env("DBABOT_INTENTS_DIR") {
            self.intents_dir = Some(PathBuf::from(d));
        }
        if let Some(r) = env("DBABOT_RECOMMENDER") {
            self.recommender = match r.as_str() {
                "rules" => RecommenderKind::Rules,
                "llm" => RecommenderKind::Llm,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "DBABOT_RECOMMENDER must be `rules` or `llm`, not `{other}`"
                    )))
                }
            };
        }
        if let Some(b) = env("DBABOT_STORE_BACKEND") {
            self.store.backend = match b.as_str() {
                "sled" => crate::store::BackendKind::Sled,
                "postgres" => crate::store::BackendKind::Postgres,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "DBABOT_STORE_BACKEND must be `sled` or `postgres`, not `{other}`"
                    )))
                }
            };
        }
        if self.store.dsn.is_none() {
            self.store.dsn = env("DBABOT_STORE_DSN").map(Secret::new);
        }
        if let Some(v) = env("DBABOT_STATEMENT_TIMEOUT_MS") {
            self.limits.statement_timeout_ms = v.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "DBABOT_STATEMENT_TIMEOUT_MS is not a number: `{v}`"
                ))
            })?;
        }
        if let Some(v) = env("DBABOT_ROW_CAP") {
            self.limits.row_cap = v.parse().map_err(|_| {
                ConfigError::Invalid(format!("DBABOT_ROW_CAP is not a number: `{v}`"))
            })?;
        }
        Ok(())
    }

    /// Checks cross-field rules: unique aliases, sane limits.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for t in &self.targets {
            for name in std::iter::once(&t.alias).chain(t.aliases.iter()) {
                if !seen.insert(name.to_lowercase()) {
                    return Err(ConfigError::Invalid(format!(
                        "targets: the name `{name}` is used twice"
                    )));
                }
            }
        }
        if self.limits.statement_timeout_ms == 0 || self.limits.statement_timeout_ms > 300_000 {
            return Err(ConfigError::Invalid(
                "limits.statement_timeout_ms must be between 1 and 300000".into(),
            ));
        }
        if self.limits.row_cap == 0 || self.limits.row_cap > 10_000 {
            return Err(ConfigError::Invalid(
                "limits.row_cap must be between 1 and 10000".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(ConfigError::Invalid(
                "classifier.min_confidence must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }
}

/// The data directory when none is configured: `$DBABOT_DATA_DIR`, else
/// `$XDG_DATA_HOME/dbabot`, else `$HOME/.local/share/dbabot`, else `./.dbabot`.
pub fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("DBABOT_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(x) = env("XDG_DATA_HOME") {
        return PathBuf::from(x).join("dbabot");
    }
    if let Some(h) = env("HOME") {
        return PathBuf::from(h).join(".local/share/dbabot");
    }
    PathBuf::from(".dbabot")
}

/// The process environment as a lookup function.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn resolve_target(
    t: FileTarget,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, ConfigError> {
    let secret_err = |message: String| ConfigError::Secret {
        alias: t.alias.clone(),
        message,
    };
    let (dsn, source) = match (&t.dsn_env, &t.dsn_file) {
        (Some(var), None) => {
            let v = env(var).ok_or_else(|| {
                secret_err(format!("environment variable {var} (dsn_env) is not set"))
            })?;
            (v, format!("env {var}"))
        }
        (None, Some(file)) => {
            let p = base.join(file);
            let v = std::fs::read_to_string(&p)
                .map_err(|e| secret_err(format!("dsn_file {}: {e}", p.display())))?;
            (v.trim().to_string(), format!("file {}", p.display()))
        }
        (Some(_), Some(_)) => {
            return Err(secret_err(
                "set either dsn_env or dsn_file, not both".into(),
            ))
        }
        (None, None) => return Err(secret_err("needs dsn_env or dsn_file".into())),
    };
    let environment = normalize_environment(&t.environment).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "targets.{}: environment `{}` is not prod, staging or dev",
            t.alias, t.environment
        ))
    })?;
    let cloud = normalize_cloud(t.cloud.as_deref().unwrap_or("on-prem")).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "targets.{}: cloud must be aws, azure, gcp or on-prem",
            t.alias
        ))
    })?;
    Ok(Target {
        alias: t.alias,
        aliases: t.aliases,
        engine: t.engine,
        environment: environment.into(),
        cloud: cloud.into(),
        dsn_source: source,
        dsn: Secret::new(dsn),
    })
}

/// Canonical environment name for a word users type (`production` → `prod`).
pub fn normalize_environment(word: &str) -> Option<&'static str> {
    match word.to_ascii_lowercase().as_str() {
        "prod" | "production" | "live" | "prd" => Some("prod"),
        "staging" | "stage" | "stg" | "uat" | "preprod" | "pre-prod" => Some("staging"),
        "dev" | "development" | "test" | "testing" | "local" | "qa" => Some("dev"),
        _ => None,
    }
}

/// Canonical cloud name (`rds` → `aws`, `cloud sql` → `gcp`).
pub fn normalize_cloud(word: &str) -> Option<&'static str> {
    match word.to_ascii_lowercase().as_str() {
        "aws" | "rds" | "aurora" | "amazon" => Some("aws"),
        "azure" | "microsoft" => Some("azure"),
        "gcp" | "google" | "cloudsql" | "cloud-sql" | "cloud sql" => Some("gcp"),
        "on-prem" | "onprem" | "on-premises" | "on-premise" | "self-hosted" | "baremetal" => {
            Some("on-prem")
        }
        _ => None,
    }
}

/// Turns a toml error into "line N, column M: message (key `a.b`)".
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut msg = e.message().trim().to_string();
    if let Some(span) = e.span() {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.len(), |i| before.len() - i - 1)
            + 1;
        let key_line = text.lines().nth(line - 1).unwrap_or("").trim();
        let key = key_line.split('=').next().unwrap_or("").trim();
        msg = format!("line {line}, column {col}: {msg}");
        if !key.is_empty() {
            msg.push_str(&format!(" (at `{key}`)"));
        }
    }
    msg
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    intents_dir: Option<PathBuf>,
    recommender: Option<RecommenderKind>,
    limits: Option<FileLimits>,
    memory: Option<FileMemory>,
    classifier: Option<FileClassifier>,
    #[serde(default)]
    targets: Vec<FileTarget>,
    slack: Option<toml::Value>,
    discord: Option<toml::Value>,
    teams: Option<toml::Value>,
    llm: Option<toml::Value>,
    escalation: Option<toml::Value>,
    access: Option<toml::Value>,
    server: Option<toml::Value>,
    store: Option<FileStore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    backend: Option<crate::store::BackendKind>,
    cache_mb: Option<u64>,
    dsn_env: Option<String>,
    dsn_file: Option<PathBuf>,
    pool_size: Option<u32>,
}

/// `[store]`: the DSN comes from `dsn_env` or `dsn_file` (never inline), like a target's.
fn resolve_store(
    f: FileStore,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::store::StoreSettings, ConfigError> {
    let mut s = crate::store::StoreSettings::default();
    if let Some(b) = f.backend {
        s.backend = b;
    }
    if let Some(c) = f.cache_mb {
        if c == 0 || c > 65_536 {
            return Err(ConfigError::Invalid(
                "store.cache_mb must be between 1 and 65536".into(),
            ));
        }
        s.cache_mb = c;
    }
    if let Some(p) = f.pool_size {
        s.pool_size = p.clamp(1, 256);
    }
    let err = |m: String| ConfigError::Invalid(format!("store: {m}"));
    s.dsn = match (f.dsn_env, f.dsn_file) {
        (Some(var), None) => {
            Some(Secret::new(env(&var).ok_or_else(|| {
                err(format!("environment variable {var} (dsn_env) is not set"))
            })?))
        }
        (None, Some(file)) => {
            let p = base.join(file);
            let v = std::fs::read_to_string(&p)
                .map_err(|e| err(format!("dsn_file {}: {e}", p.display())))?;
            Some(Secret::new(v.trim()))
        }
        (Some(_), Some(_)) => return Err(err("set either dsn_env or dsn_file, not both".into())),
        (None, None) => None,
    };
    if s.backend == crate::store::BackendKind::Postgres && s.dsn.is_none() {
        // DBABOT_STORE_DSN (see `apply_env`) may still provide it.
        s.dsn = env("DBABOT_STORE_DSN").map(Secret::new);
    }
    Ok(s)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    statement_timeout_ms: Option<u64>,
    row_cap: Option<usize>,
    pool_size: Option<u32>,
    connect_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMemory {
    retention_days: Option<u64>,
    max_turns: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClassifier {
    min_confidence: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    alias: String,
    #[serde(default)]
    aliases: Vec<String>,
    engine: Engine,
    environment: String,
    cloud: Option<String>,
    dsn_env: Option<String>,
    dsn_file: Option<PathBuf>,
    /// The server's log, read-only (see [`LOG_DIRS`]).
    log_path: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "ORDERS_DSN" => Some("postgres://u:hunter2@db/orders".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_targets_and_hides_the_dsn() {
        let cfg = Config::from_toml(
            "[[targets]]\nalias = \"orders-prod\"\nengine = \"postgres\"\nenvironment = \"production\"\ncloud = \"rds\"\ndsn_env = \"ORDERS_DSN\"\n",
            Path::new("dbabot.toml"),
            &env,
        )
        .expect("valid config");
        let t = &cfg.targets[0];
        assert_eq!(t.environment, "prod");
        assert_eq!(t.cloud, "aws");
        assert_eq!(t.dsn.expose(), "postgres://u:hunter2@db/orders");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = Config::from_toml(
            "recommender = \"rules\"\n[limits]\nrow_cap = 10\nstatement_timout_ms = 5\n",
            Path::new("dbabot.toml"),
            &env,
        )
        .expect_err("typo must fail");
        let msg = err.to_string();
        assert!(msg.contains("line 4"), "{msg}");
        assert!(msg.contains("statement_timout_ms"), "{msg}");
    }

    #[test]
    fn log_path_must_be_absolute_and_allow_listed() {
        let toml = |p: &str| {
            format!("[[targets]]\nalias = \"orders-prod\"\nengine = \"postgres\"\nenvironment = \"prod\"\ndsn_env = \"ORDERS_DSN\"\nlog_path = \"{p}\"\n")
        };
        let cfg = Config::from_toml(
            &toml("/var/log/postgresql/postgresql-15-main.log"),
            Path::new("dbabot.toml"),
            &env,
        )
        .expect("valid log_path");
        assert_eq!(
            cfg.log_paths["orders-prod"],
            PathBuf::from("/var/log/postgresql/postgresql-15-main.log")
        );
        for bad in ["relative.log", "/etc/shadow", "/var/log/../../etc/shadow"] {
            let err = Config::from_toml(&toml(bad), Path::new("dbabot.toml"), &env).expect_err(bad);
            assert!(err.to_string().contains("log_path"), "{err}");
        }
    }

    #[test]
    fn inline_dsn_is_rejected() {
        let err = Config::from_toml(
            "[[targets]]\nalias = \"x\"\nengine = \"mysql\"\nenvironment = \"dev\"\ndsn = \"mysql://root@h/x\"\n",
            Path::new("dbabot.toml"),
            &env,
        )
        .expect_err("inline dsn must fail");
        assert!(err.to_string().contains("dsn"), "{err}");
        assert!(err.to_string().contains("line 5"), "{err}");
    }

    #[test]
    fn missing_dsn_variable_is_named() {
        let err = Config::from_toml(
            "[[targets]]\nalias = \"x\"\nengine = \"mysql\"\nenvironment = \"dev\"\ndsn_env = \"NOPE\"\n",
            Path::new("dbabot.toml"),
            &env,
        )
        .expect_err("missing env must fail");
        assert!(err.to_string().contains("NOPE"), "{err}");
    }
}
