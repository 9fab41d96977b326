//! Runs catalog checks against a target: read-only, time-boxed, row-capped.
//!
//! Every statement runs inside a read-only transaction:
//! * PostgreSQL: connections default to `default_transaction_read_only = on`, and each check
//!   runs in `BEGIN; SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = …; … ROLLBACK`.
//! * MySQL/MariaDB: sessions are `SET SESSION TRANSACTION READ ONLY` on connect, and each check
//!   runs in `START TRANSACTION READ ONLY … ROLLBACK` under `max_execution_time` (MySQL, ms) or
//!   `max_statement_time` (MariaDB, s).
//! * SQLite: the file is opened read-only with `PRAGMA query_only = ON`.
//! * SQL Server: SELECT-only catalog under `READ UNCOMMITTED`, `LOCK_TIMEOUT` and
//!   `DEADLOCK_PRIORITY LOW`, `ApplicationIntent=ReadOnly`; the statement timeout is enforced by
//!   the client and cancels on the server with a TDS Attention (see [`super::mssql`]).
//!
//! A client-side timeout (statement timeout + 1 s) backs up the server-side one. A check that
//! fails or times out becomes a `check_failed` finding, never an error for the turn.

use super::catalog::{self, Check};
use super::{Finding, ResultSet, Value};
use crate::config::{Engine, Limits, Target};
use dbabot_chat::Severity;
use futures::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Executor, Row, TypeInfo, ValueRef};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tracing::Instrument;

/// Why a statement could not be run. Messages never contain the DSN.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown target `{0}`")]
    UnknownTarget(String),
    #[error("{0} targets are not supported yet")]
    Unsupported(&'static str),
    #[error("invalid connection settings for `{0}` (check the DSN format)")]
    BadDsn(String),
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The database rejected the statement or the connection failed; includes SQLSTATE when known.
    #[error("{0}")]
    Database(String),
    /// The statement was not sent: a last check before it found a reason to refuse it.
    #[error("not planned: {0}")]
    Refused(String),
    /// The bot's login lacks a privilege the statement needs; `grant` is what to grant, read
    /// from the server's error (see [`super::privilege`]).
    #[error("{message}; the bot's login needs: {grant}")]
    Privilege { message: String, grant: String },
}

impl RunError {
    fn from_sqlx(e: sqlx::Error, timeout_ms: u64) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // PostgreSQL 57014 query_canceled (statement_timeout); MySQL 3024
                // ER_QUERY_TIMEOUT; MariaDB 1969 ER_STATEMENT_TIMEOUT.
                if matches!(code.as_str(), "57014" | "3024" | "1969" | "70100") {
                    return RunError::Timeout(timeout_ms);
                }
                let msg = db.message().to_string();
                // MySQL/MariaDB: the server error number, not the SQLSTATE, names the error.
                let code = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|m| m.number().to_string())
                    .unwrap_or(code);
                if super::privilege::is_privilege_error(&code) {
                    return RunError::Privilege {
                        grant: super::privilege::grant_template(&code, &msg).unwrap_or_default(),
                        message: format!("{msg} (SQLSTATE/code {code})"),
                    };
                }
                if code.is_empty() {
                    RunError::Database(msg)
                } else {
                    RunError::Database(format!("{msg} (SQLSTATE/code {code})"))
                }
            }
            sqlx::Error::PoolTimedOut => RunError::Database(POOL_TIMED_OUT.into()),
            sqlx::Error::Io(io) => RunError::Database(format!("connection failed: {io}")),
            sqlx::Error::Tls(t) => RunError::Database(format!("TLS error: {t}")),
            other => RunError::Database(crate::redact::redact(&other.to_string())),
        }
    }
}

/// The login as GRANT spells it, from what the server reports as the current user:
/// PostgreSQL `current_user` (quoted when not a plain lower-case identifier), MySQL/MariaDB
/// `CURRENT_USER()` as `'user'@'host'` (the account's host pattern), SQL Server `[login]`.
fn grant_login(engine: Engine, user: &str) -> String {
    match engine {
        Engine::Mysql => {
            let (u, h) = user.rsplit_once('@').unwrap_or((user, "%"));
            format!("'{u}'@'{h}'")
        }
        Engine::Mssql => format!("[{}]", user.replace(']', "]]")),
        _ if user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !user.is_empty() =>
        {
            user.to_string()
        }
        _ => format!("\"{}\"", user.replace('"', "\"\"")),
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Failed,
    Timeout,
    /// No variant applies to this server (extension missing, feature off).
    Unavailable,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Failed => "failed",
            CheckStatus::Timeout => "timeout",
            CheckStatus::Unavailable => "unavailable",
        }
    }
}

/// The result of one check on one target.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub name: String,
    pub title: String,
    pub status: CheckStatus,
    /// Wall time in milliseconds, preconditions included.
    pub duration_ms: u64,
    pub rows: ResultSet,
    pub findings: Vec<Finding>,
}

enum Pool {
    Postgres(PgPool),
    Mysql {
        pool: MySqlPool,
        mariadb: OnceCell<bool>,
    },
    Sqlite(SqlitePool),
    Mssql(super::mssql::MssqlPool),
    Invalid,
}

/// Connection pools per target and the execution rules. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    pools: HashMap<String, (Target, Pool)>,
    limits: Limits,
    thresholds: super::Thresholds,
}

impl Runner {
    /// Builds lazy pools (no connection is made until a check runs).
    pub fn new(targets: &[Target], limits: Limits) -> Self {
        Self::with_thresholds(targets, limits, super::Thresholds::embedded())
    }

    /// Like [`Runner::new`], grading findings by `thresholds` (the catalog's, which may be an
    /// edited `intents/thresholds.toml`).
    pub fn with_thresholds(
        targets: &[Target],
        limits: Limits,
        thresholds: super::Thresholds,
    ) -> Self {
        let mut pools = HashMap::new();
        for t in targets {
            let pool = build_pool(t, &limits);
            pools.insert(t.alias.to_lowercase(), (t.clone(), pool));
        }
        Runner {
            inner: Arc::new(Inner {
                pools,
                limits,
                thresholds,
            }),
        }
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    fn pool(&self, alias: &str) -> Result<(&Target, &Pool), RunError> {
        self.inner
            .pools
            .get(&alias.to_lowercase())
            .map(|(t, p)| (t, p))
            .ok_or_else(|| RunError::UnknownTarget(alias.to_string()))
    }

    /// Names the bot's login in a [`RunError::Privilege`] grant (asks the server who it is, so
    /// the account's host pattern on MySQL is exact); other errors pass through.
    async fn name_login(&self, alias: &str, engine: Engine, e: RunError) -> RunError {
        let RunError::Privilege { message, grant } = e else {
            return e;
        };
        let sql = match engine {
            Engine::Postgres => "SELECT current_user::text AS u",
            Engine::Mysql => "SELECT CURRENT_USER() AS u",
            Engine::Mssql => "SELECT SUSER_SNAME() AS u",
            Engine::Sqlite => "SELECT 'main' AS u",
        };
        let user = match self.query(alias, sql).await {
            Ok(rs) => rs.first().map(|r| r.str("u")).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let login = if user.is_empty() {
            "the bot's login".to_string()
        } else {
            grant_login(engine, &user)
        };
        let grant = if grant.is_empty() {
            "the privilege the server names above".to_string()
        } else {
            super::privilege::name_login(&grant, &login)
        };
        RunError::Privilege { message, grant }
    }

    /// Runs the named checks on `alias` concurrently (bounded by the pool size), in the given
    /// order. Checks the target's engine does not have are skipped.
    pub async fn run_checks(&self, alias: &str, names: &[String]) -> Vec<CheckOutcome> {
        let names = self.runnable(alias, names);
        futures::future::join_all(names.into_iter().map(|n| self.run_check(alias, n))).await
    }

    /// `names` without repeats and without the checks `alias`'s engine does not have, in order
    /// (an unknown alias keeps them all, so each then fails as a finding).
    pub fn runnable<'n>(&self, alias: &str, names: &'n [String]) -> Vec<&'n String> {
        let engine = self.pool(alias).ok().map(|(t, _)| t.engine);
        let mut seen = std::collections::HashSet::new();
        names
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .filter(|n| engine.is_none_or(|e| !catalog::variants(e, n).is_empty()))
            .collect()
    }

    /// Runs one named check; never fails (failures become findings).
    pub async fn run_check(&self, alias: &str, name: &str) -> CheckOutcome {
        let span = tracing::info_span!("diagnostic", target = %alias, check = %name);
        async move {
            let started = Instant::now();
            let mut out = self.run_check_inner(alias, name).await;
            for f in &mut out.findings {
                full_server_refused(f);
            }
            out.duration_ms = started.elapsed().as_millis() as u64;
            tracing::info!(
                status = out.status.as_str(),
                rows = out.rows.len(),
                ms = out.duration_ms,
                findings = out.findings.len(),
                "diagnostic done"
            );
            out
        }
        .instrument(span)
        .await
    }

    async fn run_check_inner(&self, alias: &str, name: &str) -> CheckOutcome {
        let failed = |status: CheckStatus, title: &str, msg: String| CheckOutcome {
            name: name.to_string(),
            title: title.to_string(),
            status,
            duration_ms: 0,
            rows: ResultSet::default(),
            findings: vec![Finding::new(
                name,
                if status == CheckStatus::Unavailable {
                    "check_unavailable"
                } else {
                    "check_failed"
                },
                if status == CheckStatus::Unavailable {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                format!("{name}: {msg}"),
            )
            .fact("check", name)
            .fact("error", &msg)],
        };
        // A missing privilege is said as such, with the grant: what the check could not see is
        // never passed off as "no problems".
        let denied = |title: &str, message: String, grant: String| {
            CheckOutcome {
            name: name.to_string(),
            title: title.to_string(),
            status: CheckStatus::Failed,
            duration_ms: 0,
            rows: ResultSet::default(),
            findings: vec![Finding::new(
                name,
                "privilege_missing",
                Severity::Warning,
                format!("{name} could not run: {message}; the bot's login needs: {grant}"),
            )
            .fact("check", name)
            .fact("grant", &grant)
            .fact("error", &message)
            .threshold("the diagnostic needs this privilege to see other sessions' or tables' data (deploy/README.md, Least-privilege database accounts)")],
        }
        };
        let engine = match self.pool(alias) {
            Ok((t, _)) => t.engine,
            Err(e) => return failed(CheckStatus::Failed, name, e.to_string()),
        };
        let variants = catalog::variants(engine, name);
        if variants.is_empty() {
            return failed(
                CheckStatus::Unavailable,
                name,
                format!("not available for {}", engine.display()),
            );
        }
        let mut last_unavailable = "";
        let mut last_error: Option<(CheckStatus, String)> = None;
        let mut last_denied: Option<(String, String)> = None;
        for check in &variants {
            if let Some(pre) = &check.precondition {
                match self.query(alias, pre.sql).await {
                    Ok(rs) => {
                        let holds = rs
                            .rows
                            .first()
                            .and_then(|r| r.first())
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        if !holds {
                            if !pre.unavailable.is_empty() {
                                last_unavailable = pre.unavailable;
                            }
                            continue;
                        }
                    }
                    Err(e) => {
                        last_error = Some((status_of(&e), e.to_string()));
                        continue;
                    }
                }
            }
            match self.query(alias, check.sql).await {
                Ok(rows) if engine == Engine::Sqlite && check.name == "blocking_chains" => {
                    // SQLite has no sessions to list: the lock table of the file says who holds
                    // its locks (blocking file-system calls, so off the async threads).
                    let rows = tokio::task::spawn_blocking(move || {
                        let mut rows = rows;
                        super::sqlite_locks::augment(&mut rows);
                        rows
                    })
                    .await
                    .unwrap_or_default();
                    return evaluate(check, rows, &self.inner.thresholds);
                }
                Ok(rows) => return evaluate(check, rows, &self.inner.thresholds),
                Err(e @ RunError::Privilege { .. }) => {
                    if let RunError::Privilege { message, grant } =
                        self.name_login(alias, engine, e).await
                    {
                        last_denied = Some((message, grant));
                    }
                }
                Err(e) => {
                    // A variant that errors (missing privilege, extension not preloaded) falls
                    // through to the next one; a timeout does not, it would only time out again.
                    let status = status_of(&e);
                    last_error = Some((status, e.to_string()));
                    if status == CheckStatus::Timeout {
                        break;
                    }
                }
            }
        }
        if let (Some((message, grant)), true) = (last_denied, last_unavailable.is_empty()) {
            return denied(variants[0].title, message, grant);
        }
        match last_error {
            // A SQLite file that cannot be read as a database is the finding itself, whichever
            // check tripped over it (SQLite result codes SQLITE_CORRUPT 11, SQLITE_NOTADB 26).
            Some((_, msg)) if engine == Engine::Sqlite && sqlite_damage(&msg) => {
                let mut out = failed(CheckStatus::Failed, variants[0].title, msg.clone());
                out.findings = vec![Finding::new(
                    name,
                    "integrity_error",
                    Severity::Critical,
                    format!("the database file cannot be read: {msg}"),
                )
                .fact("detail", format!("the file cannot be read ({msg})"))
                .threshold("SQLITE_CORRUPT / SQLITE_NOTADB: the file's pages do not form a valid database (SQLite docs, Result and Error Codes)")];
                out
            }
            // SQLITE_READONLY_ROLLBACK (776): the file has a hot journal, left by a writer that
            // died mid-transaction, and a read-only connection may not roll it back. Every check
            // trips over it; it is the finding, not "the check failed".
            Some((_, msg)) if engine == Engine::Sqlite && msg.contains("code 776)") => {
                let mut out = failed(CheckStatus::Failed, variants[0].title, msg.clone());
                // The file as sqlx parsed it from the DSN when the pool was built.
                let path = match self.pool(alias) {
                    Ok((_, Pool::Sqlite(p))) => p.connect_options().get_filename().to_path_buf(),
                    _ => std::path::PathBuf::new(),
                };
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "the database file".into());
                let mut journal = path.into_os_string();
                journal.push("-journal");
                let size = tokio::fs::metadata(&journal)
                    .await
                    .map(|m| crate::diagnostics::finding::human_bytes(m.len() as i64))
                    .unwrap_or_else(|_| "size unknown".into());
                out.findings = vec![Finding::new(
                    name,
                    "sqlite_hot_journal",
                    Severity::Critical,
                    format!("{file}-journal is a hot journal left by a writer that died in the middle of a transaction: until a connection that may write rolls it back, read-only readers cannot open {file} ({msg})"),
                )
                .fact("file", &file)
                .fact("journal_size", size)
                .threshold("a hot journal must be rolled back before the file can be read; a read-only connection reports SQLITE_READONLY_ROLLBACK (SQLite docs, Result and Error Codes; File Locking And Concurrency In SQLite Version 3 §4 Hot Journals)")];
                out
            }
            Some((status, msg))
                if last_unavailable.is_empty() || status == CheckStatus::Timeout =>
            {
                failed(status, variants[0].title, msg)
            }
            _ => failed(
                CheckStatus::Unavailable,
                variants[0].title,
                last_unavailable.to_string(),
            ),
        }
    }

    /// Runs `EXPLAIN` (never ANALYZE) for a statement [`crate::explain::SafeSelect`] accepted.
    ///
    /// On top of the guard's proof, the statement is sent as **one prepared statement** (the
    /// extended/binary protocol, which cannot carry a second statement), inside a read-only
    /// transaction under the statement timeout, on a connection that is **closed afterwards**
    /// rather than returned to the pool, so no session state (advisory locks, variables,
    /// settings) outlives it. On PostgreSQL the functions the statement calls are first checked
    /// to have no user-defined namesake outside `pg_catalog` (an overload could be chosen).
    ///
    /// # Errors
    /// [`RunError`] when the target is unknown, the database rejects the statement, or a
    /// user-defined function shadows a built-in ([`RunError::Refused`]).
    pub async fn explain(
        &self,
        alias: &str,
        select: &crate::explain::SafeSelect,
    ) -> Result<ResultSet, RunError> {
        let (target, pool) = self.pool(alias)?;
        let engine = target.engine;
        let limits = self.inner.limits;
        let ms = limits.statement_timeout_ms;
        let span = tracing::info_span!("explain", target = %alias);
        let fut = async {
            match pool {
                Pool::Postgres(p) => pg_explain(p, select, limits).await,
                Pool::Mysql { pool, mariadb } => my_explain(pool, mariadb, select, limits).await,
                Pool::Sqlite(p) => lite_explain(p, select, limits).await,
                // SET SHOWPLAN_XML ON / the SELECT / OFF: planned, never executed.
                Pool::Mssql(p) => p.explain(select.sql()).await,
                Pool::Invalid => Err(RunError::BadDsn(alias.to_string())),
            }
        }
        .instrument(span);
        match tokio::time::timeout(Duration::from_millis(ms + 1000), fut).await {
            Ok(Err(e)) => Err(self.name_login(alias, engine, e).await),
            Ok(r) => r,
            Err(_) => Err(RunError::Timeout(ms)),
        }
    }

    /// Whether a MySQL-family target's server is MariaDB, as learned from the server by the
    /// checks that already ran on it (`None` before any did, or for another engine). Never
    /// queries.
    pub fn is_mariadb(&self, alias: &str) -> Option<bool> {
        match self.pool(alias).ok()?.1 {
            Pool::Mysql { mariadb, .. } => mariadb.get().copied(),
            _ => None,
        }
    }

    /// Connects and reads the server version, for `check-config`.
    ///
    /// # Errors
    /// [`RunError`] with the reason the connection failed.
    pub async fn ping(&self, alias: &str) -> Result<String, RunError> {
        let (target, _) = self.pool(alias)?;
        let sql = match target.engine {
            Engine::Postgres | Engine::Mysql => "SELECT version()",
            Engine::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            Engine::Mssql => "SELECT @@VERSION AS version",
        };
        let rs = self.query(alias, sql).await?;
        Ok(rs
            .rows
            .first()
            .and_then(|r| r.first())
            .map(|v| v.to_string())
            .unwrap_or_default())
    }

    /// Runs one trusted statement (catalog SQL or a checked EXPLAIN) under the read-only rules.
    async fn query(&self, alias: &str, sql: &str) -> Result<ResultSet, RunError> {
        let (_, pool) = self.pool(alias)?;
        let limits = self.inner.limits;
        let ms = limits.statement_timeout_ms;
        let fut = async {
            match pool {
                Pool::Postgres(p) => pg_query(p, sql, limits).await,
                Pool::Mysql { pool, mariadb } => my_query(pool, mariadb, sql, limits).await,
                Pool::Sqlite(p) => lite_query(p, sql, limits).await,
                Pool::Mssql(p) => p.query(sql).await,
                Pool::Invalid => Err(RunError::BadDsn(alias.to_string())),
            }
        };
        let r = match tokio::time::timeout(Duration::from_millis(ms + 1000), fut).await {
            Ok(r) => r,
            Err(_) => Err(RunError::Timeout(ms)),
        };
        match r {
            // The pool hides why it could not connect; one direct attempt says why.
            Err(RunError::Database(m)) if m == POOL_TIMED_OUT => Err(why_no_connection(pool)
                .await
                .unwrap_or(RunError::Database(m))),
            r => r,
        }
    }

    /// Closes every pool (call before exit so servers see clean disconnects).
    pub async fn close(&self) {
        for (_, p) in self.inner.pools.values() {
            match p {
                Pool::Postgres(p) => p.close().await,
                Pool::Mysql { pool, .. } => pool.close().await,
                Pool::Sqlite(p) => p.close().await,
                Pool::Mssql(p) => p.close().await,
                _ => {}
            }
        }
    }
}

fn status_of(e: &RunError) -> CheckStatus {
    match e {
        RunError::Timeout(_) => CheckStatus::Timeout,
        _ => CheckStatus::Failed,
    }
}

/// What the pool reports when it could not open a connection within its acquire timeout.
const POOL_TIMED_OUT: &str = "could not get a connection in time (pool timed out)";

/// Why a pool cannot connect: one direct connection attempt with the pool's own options (no
/// statement is sent; the connection is closed at once), within 3 s. `None` when it succeeds
/// (the pool was only busy) or the engine is not probed here.
async fn why_no_connection(pool: &Pool) -> Option<RunError> {
    use sqlx::ConnectOptions;
    const PROBE: Duration = Duration::from_secs(3);
    let attempt = async {
        match pool {
            Pool::Postgres(p) => {
                sqlx::Connection::close(p.connect_options().connect().await?).await
            }
            Pool::Mysql { pool, .. } => {
                sqlx::Connection::close(pool.connect_options().connect().await?).await
            }
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(PROBE, attempt).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(match RunError::from_sqlx(e, PROBE.as_millis() as u64) {
            RunError::Database(m) => RunError::Database(format!("cannot connect: {m}")),
            other => other,
        }),
        Err(_) => {
            // A port that accepts TCP but never answers the handshake is a hung or overloaded
            // server (or a proxy holding the connection), not a network that drops packets.
            let addr = match pool {
                Pool::Postgres(p) => {
                    let o = p.connect_options();
                    Some((o.get_host().to_string(), o.get_port()))
                }
                Pool::Mysql { pool, .. } => {
                    let o = pool.connect_options();
                    Some((o.get_host().to_string(), o.get_port()))
                }
                _ => None,
            };
            let accepts_tcp = match addr {
                Some((host, port)) if !host.starts_with('/') => tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect((host.as_str(), port)),
                )
                .await
                .is_ok_and(|r| r.is_ok()),
                _ => false,
            };
            Some(RunError::Database(if accepts_tcp {
                format!(
                    "cannot connect: the port accepts TCP connections, but the server did not answer the protocol handshake within {} s (hung, overloaded or still starting, or a proxy holds the connection)",
                    PROBE.as_secs()
                )
            } else {
                format!(
                    "cannot connect: no answer within {} s (the host is down, or a firewall drops the packets)",
                    PROBE.as_secs()
                )
            }))
        }
    }
}

/// A check that could not connect because the server is out of connection slots is evidence
/// in itself: the finding becomes `connections_refused_full` (critical), the same for every
/// check so the answer says it once. Recognised: PostgreSQL SQLSTATE 53300 (max_connections or
/// only the superuser_reserved_connections left; PostgreSQL docs §20.3.1), MySQL/MariaDB 1040
/// "Too many connections" and 1203 max_user_connections (MariaDB KB "Handling Too Many
/// Connections").
fn full_server_refused(f: &mut Finding) {
    if f.code != "check_failed" {
        return;
    }
    let error = f.facts.get("error").cloned().unwrap_or_default();
    let lower = error.to_ascii_lowercase();
    // These errors only ever come from opening a session (a pool may hand them back directly,
    // without the "cannot connect" of a probe), so no prefix is required.
    let code = |c: &str| {
        lower
            .split(|ch: char| !ch.is_ascii_alphanumeric())
            .any(|w| w == c)
    };
    let per_user = lower.contains("max_user_connections") || code("1203");
    let full = per_user
        || code("53300")
        || lower.contains("too many clients")
        || lower.contains("remaining connection slots are reserved")
        || lower.contains("too many connections")
        || code("1040");
    if !full {
        return;
    }
    let scope = if per_user {
        "dbabot's login has used all the connections its account may open (max_user_connections)"
    } else {
        "the server is out of connection slots right now: it refused dbabot's own connection"
    };
    *f = Finding::new(
        "connections",
        "connections_refused_full",
        Severity::Critical,
        format!("{scope} ({})", error.trim_start_matches("cannot connect: ")),
    )
    .fact("error", error.trim_start_matches("cannot connect: "))
    .fact("scope", if per_user { "account" } else { "server" })
    .threshold("a server that refuses new sessions is an outage for every client that needs one (PostgreSQL docs §20.3.1 max_connections; MariaDB KB \"Handling Too Many Connections\")");
}

/// True when a SQLite error says the file is damaged or not a database.
fn sqlite_damage(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("malformed") || m.contains("file is not a database")
}

fn evaluate(check: &Check, mut rows: ResultSet, thresholds: &super::Thresholds) -> CheckOutcome {
    rows.thresholds = thresholds.clone();
    let mut findings = (check.evaluate)(&rows);
    for f in &mut findings {
        if let Some(rule) = &f.threshold {
            f.threshold = Some(super::finding::scope_citations(rule, check.engine));
        }
    }
    CheckOutcome {
        name: check.name.to_string(),
        title: check.title.to_string(),
        status: CheckStatus::Ok,
        duration_ms: 0,
        rows,
        findings,
    }
}

/// The `application_name` of this process's PostgreSQL sessions: `dbabot-` and 16 random hex
/// digits, fixed for the life of the process. Catalog SQL compares it with
/// `current_setting('application_name')` to leave out the pool's own connections, so another
/// client that merely calls itself `dbabot` is still reported.
pub fn bot_application_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("dbabot-{:016x}", h.finish())
    })
}

fn build_pool(t: &Target, limits: &Limits) -> Pool {
    let acquire = Duration::from_millis(limits.connect_timeout_ms);
    match t.engine {
        Engine::Postgres => match PgConnectOptions::from_str(t.dsn.expose()) {
            Ok(o) => {
                let o = o.application_name(bot_application_name()).options([
                    ("default_transaction_read_only", "on"),
                    (
                        "statement_timeout",
                        &limits.statement_timeout_ms.to_string(),
                    ),
                ]);
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(limits.pool_size)
                        .acquire_timeout(acquire)
                        .idle_timeout(Duration::from_secs(300))
                        .connect_lazy_with(o),
                )
            }
            Err(_) => Pool::Invalid,
        },
        Engine::Mysql => match MySqlConnectOptions::from_str(t.dsn.expose()) {
            Ok(o) => Pool::Mysql {
                pool: MySqlPoolOptions::new()
                    .max_connections(limits.pool_size)
                    .acquire_timeout(acquire)
                    .idle_timeout(Duration::from_secs(300))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlx::raw_sql("SET SESSION TRANSACTION READ ONLY"))
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_lazy_with(o),
                mariadb: OnceCell::new(),
            },
            Err(_) => Pool::Invalid,
        },
        Engine::Sqlite => match SqliteConnectOptions::from_str(t.dsn.expose()) {
            Ok(o) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(limits.pool_size)
                    .acquire_timeout(acquire)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA query_only = ON").await?;
                            Ok(())
                        })
                    })
                    .connect_lazy_with(o.read_only(true).create_if_missing(false)),
            ),
            Err(_) => Pool::Invalid,
        },
        Engine::Mssql => Pool::Mssql(super::mssql::MssqlPool::new(t, limits)),
    }
}

/// Makes the current PostgreSQL transaction read-only with a local statement timeout (ms).
async fn pg_read_only(conn: &mut sqlx::PgConnection, ms: u64) -> Result<(), sqlx::Error> {
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("SET LOCAL statement_timeout = {ms}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn pg_query(pool: &PgPool, sql: &str, limits: Limits) -> Result<ResultSet, RunError> {
    let ms = limits.statement_timeout_ms;
    let err = |e| RunError::from_sqlx(e, ms);
    let mut tx = pool.begin().await.map_err(err)?;
    pg_read_only(&mut tx, ms).await.map_err(err)?;
    let mut rs = {
        let stream = sqlx::query(sql).fetch(&mut *tx);
        collect(stream, limits.row_cap, pg_value)
            .await
            .map_err(err)?
    };
    if let Some(count) = rs.truncated.then(|| count_sql(sql)).flatten() {
        rs.total = count_total(sqlx::query_scalar(&count).fetch_one(&mut *tx).await);
    }
    tx.rollback().await.map_err(err)?;
    Ok(rs)
}

/// `SELECT count(*) FROM (<sql>)` for a catalog query the row cap truncated, so answers can say
/// "the first 200 of 21,000". Only plain `SELECT`/`WITH` queries are wrapped (`SHOW` and `PRAGMA`
/// cannot be); the count runs in the same read-only transaction under the same timeout.
fn count_sql(sql: &str) -> Option<String> {
    let body = sql.trim().trim_end_matches(';').trim_end();
    let first = body
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    (first == "SELECT" || first == "WITH")
        .then(|| format!("SELECT count(*) FROM (\n{body}\n) AS dbabot_total"))
}

/// The count's value; a failed or timed-out count leaves the total unknown (the rows stand).
fn count_total(r: Result<i64, sqlx::Error>) -> Option<u64> {
    r.ok().and_then(|n| u64::try_from(n).ok())
}

async fn my_query(
    pool: &MySqlPool,
    mariadb: &OnceCell<bool>,
    sql: &str,
    limits: Limits,
) -> Result<ResultSet, RunError> {
    let ms = limits.statement_timeout_ms;
    let err = |e| RunError::from_sqlx(e, ms);
    let is_maria = is_mariadb(pool, mariadb).await.map_err(err)?;
    let mut conn = pool.acquire().await.map_err(err)?;
    let timeout_sql = timeout_statement(is_maria, ms);
    let result = async {
        conn.execute(sqlx::raw_sql(&timeout_sql)).await?;
        conn.execute(sqlx::raw_sql("START TRANSACTION READ ONLY"))
            .await?;
        // The text protocol: SHOW statements are not all preparable on MariaDB. The marker
        // names the statement as the bot's own in PROCESSLIST.INFO, where the catalog's session
        // checks leave it out (MySQL has no application_name).
        let marked = format!("{MYSQL_MARKER}{sql}");
        let mut rs = {
            let stream = sqlx::raw_sql(&marked).fetch(&mut *conn);
            collect(stream, limits.row_cap, my_value).await
        };
        if let Ok(set) = rs.as_mut() {
            if let Some(count) = set.truncated.then(|| count_sql(sql)).flatten() {
                set.total = count_total(sqlx::query_scalar(&count).fetch_one(&mut *conn).await);
            }
        }
        conn.execute(sqlx::raw_sql("ROLLBACK")).await?;
        rs
    }
    .await;
    if result.is_err() {
        // Never hand a connection in an unknown transaction state back to the pool.
        conn.close_on_drop();
    }
    result.map_err(err)
}

/// The comment every catalog statement sent to MySQL/MariaDB starts with, so the pool's other
/// connection running a check at the same moment is not reported as a user's statement
/// (`information_schema.PROCESSLIST.INFO` keeps comments as sent; the catalog SQL filters
/// `INFO NOT LIKE '/* dbabot diagnostic */%'`).
pub const MYSQL_MARKER: &str = "/* dbabot diagnostic */ ";

/// Whether the pool's server is MariaDB (cached after the first answer).
async fn is_mariadb(pool: &MySqlPool, cell: &OnceCell<bool>) -> Result<bool, sqlx::Error> {
    cell.get_or_try_init(|| async {
        let v: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(pool)
            .await?;
        Ok::<bool, sqlx::Error>(v.to_lowercase().contains("mariadb"))
    })
    .await
    .copied()
}

/// The session statement timeout: MariaDB `max_statement_time` (seconds, MariaDB KB "Aborting
/// Statements that Exceed a Certain Time to Execute"), MySQL `max_execution_time` (ms, SELECT
/// only, MySQL 8.0 ref. §7.1.8).
fn timeout_statement(is_maria: bool, ms: u64) -> String {
    if is_maria {
        format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0)
    } else {
        format!("SET SESSION max_execution_time = {ms}")
    }
}

async fn lite_query(pool: &SqlitePool, sql: &str, limits: Limits) -> Result<ResultSet, RunError> {
    let err = |e| RunError::from_sqlx(e, limits.statement_timeout_ms);
    let mut tx = pool.begin().await.map_err(err)?;
    let mut rs = {
        let stream = sqlx::query(sql).fetch(&mut *tx);
        collect(stream, limits.row_cap, lite_value)
            .await
            .map_err(err)?
    };
    if let Some(count) = rs.truncated.then(|| count_sql(sql)).flatten() {
        rs.total = count_total(sqlx::query_scalar(&count).fetch_one(&mut *tx).await);
    }
    tx.rollback().await.map_err(err)?;
    Ok(rs)
}

/// PostgreSQL: the overload check, then `EXPLAIN` as one prepared statement in a read-only
/// transaction; the connection is closed afterwards, never pooled again.
async fn pg_explain(
    pool: &PgPool,
    select: &crate::explain::SafeSelect,
    limits: Limits,
) -> Result<ResultSet, RunError> {
    let ms = limits.statement_timeout_ms;
    let err = |e| RunError::from_sqlx(e, ms);
    let mut conn = pool.acquire().await.map_err(err)?.detach();
    let result = async {
        let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(err)?;
        pg_read_only(&mut tx, ms).await.map_err(err)?;
        if !select.functions().is_empty() {
            let names: Vec<String> = select.functions().iter().cloned().collect();
            let shadowing: Vec<String> = sqlx::query_scalar(
                "SELECT n.nspname || '.' || p.proname FROM pg_catalog.pg_proc p \
                 JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                 WHERE p.proname = ANY($1) AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 ORDER BY 1 LIMIT 5",
            )
            .bind(names)
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
            if !shadowing.is_empty() {
                return Err(RunError::Refused(format!(
                    "user-defined functions share a name with a built-in it calls ({}), and PostgreSQL could pick them",
                    shadowing.join(", ")
                )));
            }
        }
        let sql = format!("EXPLAIN (FORMAT TEXT, COSTS TRUE) {}", select.sql());
        let rs = {
            let stream = sqlx::query(&sql).persistent(false).fetch(&mut *tx);
            collect(stream, limits.row_cap, pg_value)
                .await
                .map_err(err)?
        };
        tx.rollback().await.map_err(err)?;
        Ok(rs)
    }
    .await;
    let _ = sqlx::Connection::close(conn).await;
    result
}

/// MySQL/MariaDB: `EXPLAIN` through the binary protocol (`COM_STMT_PREPARE` takes exactly one
/// statement) in a read-only transaction; the connection is closed afterwards.
async fn my_explain(
    pool: &MySqlPool,
    mariadb: &OnceCell<bool>,
    select: &crate::explain::SafeSelect,
    limits: Limits,
) -> Result<ResultSet, RunError> {
    let ms = limits.statement_timeout_ms;
    let err = |e| RunError::from_sqlx(e, ms);
    let is_maria = is_mariadb(pool, mariadb).await.map_err(err)?;
    let mut conn = pool.acquire().await.map_err(err)?.detach();
    let result = async {
        conn.execute(sqlx::raw_sql(&timeout_statement(is_maria, ms)))
            .await?;
        conn.execute(sqlx::raw_sql("START TRANSACTION READ ONLY"))
            .await?;
        let sql = format!("EXPLAIN {}", select.sql());
        let rs = {
            let stream = sqlx::query(&sql).persistent(false).fetch(&mut conn);
            collect(stream, limits.row_cap, my_value).await
        };
        conn.execute(sqlx::raw_sql("ROLLBACK")).await?;
        rs
    }
    .await;
    let _ = sqlx::Connection::close(conn).await;
    result.map_err(err)
}

/// SQLite: `EXPLAIN QUERY PLAN` as one prepared statement on a read-only, `query_only`
/// connection that is closed afterwards.
async fn lite_explain(
    pool: &SqlitePool,
    select: &crate::explain::SafeSelect,
    limits: Limits,
) -> Result<ResultSet, RunError> {
    let err = |e| RunError::from_sqlx(e, limits.statement_timeout_ms);
    let mut conn = pool.acquire().await.map_err(err)?.detach();
    let sql = format!("EXPLAIN QUERY PLAN {}", select.sql());
    let result = {
        let stream = sqlx::query(&sql).persistent(false).fetch(&mut conn);
        collect(stream, limits.row_cap, lite_value).await
    };
    let _ = sqlx::Connection::close(conn).await;
    result.map_err(err)
}

/// Reads at most `cap` rows, marking the set truncated when more exist.
async fn collect<'a, R, S>(
    mut stream: S,
    cap: usize,
    decode: fn(&R, usize) -> Value,
) -> Result<ResultSet, sqlx::Error>
where
    R: Row,
    S: futures::Stream<Item = Result<R, sqlx::Error>> + Unpin + 'a,
{
    let mut rs = ResultSet::default();
    while let Some(row) = stream.try_next().await? {
        if rs.columns.is_empty() {
            rs.columns = row
                .columns()
                .iter()
                .map(|c| c.name().to_ascii_lowercase())
                .collect();
        }
        if rs.rows.len() >= cap {
            rs.truncated = true;
            break;
        }
        rs.rows
            .push((0..row.len()).map(|i| decode(&row, i)).collect());
    }
    Ok(rs)
}

fn pg_value(row: &PgRow, i: usize) -> Value {
    let ty = row.column(i).type_info().name().to_string();
    let v = match ty.as_str() {
        "BOOL" => row
            .try_get::<Option<bool>, _>(i)
            .map(|v| v.map(Value::Bool)),
        "INT2" => row
            .try_get::<Option<i16>, _>(i)
            .map(|v| v.map(|x| Value::Int(x.into()))),
        "INT4" => row
            .try_get::<Option<i32>, _>(i)
            .map(|v| v.map(|x| Value::Int(x.into()))),
        "INT8" => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
        "OID" => row
            .try_get::<Option<sqlx::postgres::types::Oid>, _>(i)
            .map(|v| v.map(|x| Value::Int(x.0.into()))),
        "FLOAT4" => row
            .try_get::<Option<f32>, _>(i)
            .map(|v| v.map(|x| Value::Float(x.into()))),
        "FLOAT8" => row
            .try_get::<Option<f64>, _>(i)
            .map(|v| v.map(Value::Float)),
        _ => row
            .try_get::<Option<String>, _>(i)
            .map(|v| v.map(Value::Text)),
    };
    match v {
        Ok(Some(v)) => v,
        Ok(None) => Value::Null,
        Err(_) => Value::Text(format!("<{ty}>")),
    }
}

fn my_value(row: &MySqlRow, i: usize) -> Value {
    if row.try_get_raw(i).map(|r| r.is_null()).unwrap_or(true) {
        return Value::Null;
    }
    let ty = row.column(i).type_info().name().to_string();
    let v = match ty.as_str() {
        "BOOLEAN" => row.try_get::<bool, _>(i).map(Value::Bool),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            row.try_get::<i64, _>(i).map(Value::Int)
        }
        t if t.ends_with("UNSIGNED") => row
            .try_get::<u64, _>(i)
            .map(|x| Value::Int(i64::try_from(x).unwrap_or(i64::MAX))),
        "DOUBLE" | "FLOAT" => row.try_get::<f64, _>(i).map(Value::Float),
        // Text protocol: DECIMAL, dates and the rest arrive as text.
        _ => row.try_get_unchecked::<String, _>(i).map(|s| {
            s.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| s.parse::<f64>().map(Value::Float))
                .unwrap_or(Value::Text(s))
        }),
    };
    v.or_else(|_| {
        row.try_get_unchecked::<Vec<u8>, _>(i)
            .map(|b| Value::Text(String::from_utf8_lossy(&b).into_owned()))
    })
    .unwrap_or_else(|_| Value::Text(format!("<{ty}>")))
}

fn lite_value(row: &SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let ty = raw.type_info().name().to_string();
    let v = match ty.as_str() {
        "INTEGER" | "BOOLEAN" => row.try_get::<i64, _>(i).map(Value::Int),
        "REAL" | "NUMERIC" => row.try_get::<f64, _>(i).map(Value::Float),
        "BLOB" => row
            .try_get::<Vec<u8>, _>(i)
            .map(|b| Value::Text(String::from_utf8_lossy(&b).into_owned())),
        _ => row.try_get::<String, _>(i).map(Value::Text),
    };
    v.unwrap_or_else(|_| Value::Text(format!("<{ty}>")))
}
