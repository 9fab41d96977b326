//! `dbabot check-config`: every section parsed by the same functions `serve` uses (so a file
//! that passes here is one `serve` accepts), one small request to the LLM endpoint when
//! `[llm]` is configured, and a connection to every target, whose failures are reported by
//! cause with the SQLSTATE or server error number.

use crate::config::{Config, Engine, Target};
use std::time::{Duration, Instant};

/// Why a connection to a target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectCause {
    /// Nothing listens on the address (TCP connection refused).
    Refused,
    /// No answer within `limits.connect_timeout_ms` (a firewall dropping packets, a silent
    /// listener, an overloaded server).
    TimedOut,
    /// The server refused the login: wrong password, unknown user, `pg_hba.conf` rule.
    Authentication,
    /// The server or the login has no connection slot left.
    TooManyConnections,
    /// Anything else (DNS, TLS, unknown database…).
    Other,
}

impl ConnectCause {
    /// A short name for the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectCause::Refused => "connection refused",
            ConnectCause::TimedOut => "timed out",
            ConnectCause::Authentication => "authentication failed",
            ConnectCause::TooManyConnections => "too many connections",
            ConnectCause::Other => "connection failed",
        }
    }
}

/// A classified connection failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    pub cause: ConnectCause,
    /// `SQLSTATE 28P01` (PostgreSQL) or `MySQL error 1045 (SQLSTATE 28000)`, when the server
    /// answered with one.
    pub code: Option<String>,
    /// The driver's message, redacted.
    pub message: String,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{} [{c}]: {}", self.cause.as_str(), self.message),
            None => write!(f, "{}: {}", self.cause.as_str(), self.message),
        }
    }
}

/// PostgreSQL SQLSTATEs ("Appendix A. PostgreSQL Error Codes"): class 28 is
/// invalid_authorization_specification (28000) and invalid_password (28P01); 53300 is
/// too_many_connections (also for a role's or database's CONNECTION LIMIT).
fn pg_cause(sqlstate: &str) -> ConnectCause {
    match sqlstate {
        s if s.starts_with("28") => ConnectCause::Authentication,
        "53300" => ConnectCause::TooManyConnections,
        _ => ConnectCause::Other,
    }
}

/// MySQL/MariaDB server error numbers ("Server Error Message Reference"): 1045
/// ER_ACCESS_DENIED_ERROR, 1044 ER_DBACCESS_DENIED_ERROR, 1698 ER_ACCESS_DENIED_NO_PASSWORD_ERROR;
/// 1040 ER_CON_COUNT_ERROR, 1203 ER_TOO_MANY_USER_CONNECTIONS, 1226 ER_USER_LIMIT_REACHED.
fn mysql_cause(number: u16) -> ConnectCause {
    match number {
        1045 | 1044 | 1698 => ConnectCause::Authentication,
        1040 | 1203 | 1226 => ConnectCause::TooManyConnections,
        _ => ConnectCause::Other,
    }
}

fn classify(e: &sqlx::Error) -> ConnectFailure {
    let message = crate::redact::redact(&e.to_string());
    let (cause, code) = match e {
        sqlx::Error::Io(io) => (
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => ConnectCause::Refused,
                std::io::ErrorKind::TimedOut => ConnectCause::TimedOut,
                _ => ConnectCause::Other,
            },
            None,
        ),
        sqlx::Error::PoolTimedOut => (ConnectCause::TimedOut, None),
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                let state = my
                    .code()
                    .map(|s| format!(" (SQLSTATE {s})"))
                    .unwrap_or_default();
                (
                    mysql_cause(my.number()),
                    Some(format!("MySQL error {}{state}", my.number())),
                )
            } else {
                let state = db.code().map(|c| c.to_string()).unwrap_or_default();
                (pg_cause(&state), Some(format!("SQLSTATE {state}")))
            }
        }
        _ => (ConnectCause::Other, None),
    };
    ConnectFailure {
        cause,
        code,
        message,
    }
}

/// Opens one connection to `target` (PostgreSQL or MySQL/MariaDB) within `timeout` and closes
/// it; SQLite and SQL Server targets are not probed here (`Ok(false)`).
///
/// # Errors
/// [`ConnectFailure`] with the cause and the server's code.
pub async fn probe_connection(target: &Target, timeout: Duration) -> Result<bool, ConnectFailure> {
    use sqlx::Connection;
    let dsn = target.dsn.expose();
    let attempt = async {
        match target.engine {
            Engine::Postgres => sqlx::PgConnection::connect(dsn)
                .await
                .map(|c| drop(c.close())),
            Engine::Mysql => sqlx::MySqlConnection::connect(dsn)
                .await
                .map(|c| drop(c.close())),
            Engine::Sqlite | Engine::Mssql => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(matches!(target.engine, Engine::Postgres | Engine::Mysql)),
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(ConnectFailure {
            cause: ConnectCause::TimedOut,
            code: None,
            message: format!("no answer within {} ms", timeout.as_millis()),
        }),
    }
}

/// The verdict on one configuration section: what it configures, or why `serve` would refuse
/// it.
pub type Verdict = Result<String, String>;

/// Parses every configuration section exactly as `serve` does (the same `from_toml` functions
/// with the same environment lookup), without contacting anything.
pub fn sections(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, Verdict)> {
    let mut out = Vec::new();
    for (name, section) in &cfg.sections {
        let verdict: Verdict = match name.as_str() {
            "slack" => dbabot_slack::SlackConfig::from_toml(section, env)
                .map(|c| format!("{:?} transport, Web API {}", c.transport, c.api_url))
                .map_err(|e| e.to_string()),
            "discord" => dbabot_discord::DiscordConfig::from_toml(section, env)
                .map(|c| {
                    let token = if c.token.is_some() {
                        "bot token set"
                    } else {
                        "no bot token: escalations to Discord cannot be posted"
                    };
                    format!("{:?} mode, {token}", c.mode)
                })
                .map_err(|e| e.to_string()),
            "teams" => dbabot_teams::TeamsConfig::from_toml(section, env)
                .map(|c| {
                    format!(
                        "outgoing webhook, {} channel flow(s){}, answer deadline {} ms",
                        c.channel_webhooks.len(),
                        if c.incoming_webhook.is_some() {
                            " + default flow"
                        } else {
                            ""
                        },
                        c.sync_deadline.as_millis()
                    )
                })
                .map_err(|e| e.to_string()),
            "llm" => crate::recommend::llm::LlmConfig::from_section(section, env)
                .map(|c| format!("{} model {}", c.provider.kind(), c.model))
                .map_err(|e| e.to_string()),
            "escalation" => crate::escalation::EscalationConfig::from_toml(section, env)
                .map(|c| match &c.destination {
                    Some(d) => format!("handoffs to {:?} {}", d.platform, d.channel),
                    None => "no destination: cases are recorded only".into(),
                })
                .map_err(|e| e.to_string()),
            "access" => crate::policy::Policy::from_toml(section)
                .map(|_| "access policy".to_string())
                .map_err(|e| e.to_string()),
            _ => Ok("present (not read by serve)".to_string()),
        };
        out.push((name.clone(), verdict.map_err(|e| crate::redact::redact(&e))));
    }
    if cfg.recommender == crate::config::RecommenderKind::Llm && !cfg.sections.contains_key("llm") {
        out.push((
            "llm".into(),
            Err("recommender = \"llm\" needs an [llm] section".into()),
        ));
    }
    out
}

/// The whole `check-config` report: lines to print and whether everything passed.
pub struct Report {
    pub lines: Vec<String>,
    pub ok: bool,
}

/// Runs every check (see the module docs), printing nothing.
///
/// # Errors
/// [`super::AppError::Catalog`] when the intent catalog cannot be loaded.
pub async fn run(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Report, super::AppError> {
    let mut lines = Vec::new();
    let mut ok = true;
    lines.push(format!("configuration: {} (valid)", cfg.source));
    lines.push(format!("data directory: {}", cfg.data_dir.display()));
    lines.push(format!("recommender: {:?}", cfg.recommender));
    lines.push(format!(
        "limits: statement timeout {} ms, row cap {} rows, pool {} per target, connect timeout {} ms",
        cfg.limits.statement_timeout_ms, cfg.limits.row_cap, cfg.limits.pool_size, cfg.limits.connect_timeout_ms
    ));
    let cat = super::catalog(cfg)?;
    lines.push(format!(
        "intent catalog: {} intents, {} reports, {} error codes",
        cat.intents.len(),
        cat.reports.len(),
        cat.error_codes.len()
    ));
    for (name, verdict) in sections(cfg, env) {
        match verdict {
            Ok(v) => lines.push(format!("[{name}]: OK ({v})")),
            Err(e) => {
                ok = false;
                lines.push(format!("[{name}]: INVALID: {e}"));
            }
        }
    }
    // One small request to the LLM endpoint (a forced tool call), when one is configured.
    if let Some(section) = cfg.sections.get("llm") {
        if let Ok(rec) = crate::recommend::llm::LlmRecommender::from_config(section, env) {
            let health = rec.check().await;
            let reachable = health.reachable.is_ok();
            ok &= reachable;
            lines.push(format!(
                "{}: {}",
                if reachable { "OK" } else { "FAILED" },
                crate::redact::redact(&health.to_string())
            ));
        }
    }
    let timeout = Duration::from_millis(cfg.limits.connect_timeout_ms.max(100));
    let runner = crate::diagnostics::Runner::new(&cfg.targets, cfg.limits);
    lines.push("targets:".into());
    for t in &cfg.targets {
        let started = Instant::now();
        // A connection first: its failure has a cause and a code; the pool would only say
        // that it timed out waiting.
        let verdict = match probe_connection(t, timeout).await {
            Err(f) => {
                ok = false;
                format!("FAILED after {} ms: {f}", started.elapsed().as_millis())
            }
            Ok(_) => match runner.ping(&t.alias).await {
                Ok(v) => format!(
                    "OK ({}) in {} ms",
                    crate::diagnostics::finding::short_query(&v, 60),
                    started.elapsed().as_millis()
                ),
                Err(e) => {
                    ok = false;
                    format!(
                        "FAILED after {} ms: {}",
                        started.elapsed().as_millis(),
                        crate::redact::redact(&e.to_string())
                    )
                }
            },
        };
        lines.push(format!(
            "  {:<20} {:<9} {:<8} {:<8} dsn from {:<30} {verdict}",
            t.alias,
            t.engine.as_str(),
            t.environment,
            t.cloud,
            t.dsn_source
        ));
    }
    runner.close().await;
    Ok(Report { lines, ok })
}
