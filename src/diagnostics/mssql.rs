//! SQL Server (and Azure SQL Database / Managed Instance) connections through tiberius.
//!
//! # Connection string
//!
//! The target's DSN (from `dsn_env` / `dsn_file`, never inline) is either an ADO.NET-style
//! string, a JDBC URL, or a URL:
//!
//! ```text
//! Server=tcp:orders.database.windows.net,1433;Database=orders;User Id=dbabot;Password=…
//! jdbc:sqlserver://db1.internal:1433;databaseName=orders;user=dbabot;password=…
//! mssql://dbabot:…@db1.internal:1433/orders?TrustServerCertificateCA=/etc/dbabot/ca.pem
//! ```
//!
//! Keys are case-insensitive and spaces inside keys are ignored (`User Id` = `UserId`); URL query
//! parameters use the same keys. Values may be quoted with `'…'`, `"…"` or `{…}` (a doubled
//! quote inside is a literal quote). Supported keys:
//!
//! | key | meaning |
//! |---|---|
//! | `Server` / `Data Source` / `Address` | `[tcp:]host[\instance][,port]`; a named instance without a port is resolved through SQL Browser (UDP 1434) |
//! | `Port`, `Instance` | alternatives to the forms above (URL form mostly) |
//! | `Database` / `Initial Catalog` / `databaseName` | database the checks run in (default: the login's default database) |
//! | `User Id` / `UID` / `User`, `Password` / `PWD` | SQL authentication |
//! | `Authentication` | `SqlPassword` (default) or `ActiveDirectoryAccessToken` (Microsoft Entra ID) |
//! | `AccessTokenFile`, `AccessTokenEnv` | with `ActiveDirectoryAccessToken`: where the bearer token is read, **at every new connection** |
//! | `Encrypt` | `true`/`mandatory` (default), `strict` (TDS 8.0), `false`/`optional` (login packet only) |
//! | `TrustServerCertificate` | `true` skips certificate validation: only when configured, never by default |
//! | `TrustServerCertificateCA` | PEM/DER file with the CA that signed the server certificate (preferred over trusting blindly) |
//! | `HostNameInCertificate` | name to validate the certificate against (default: the server host) |
//! | `ApplicationIntent` | `ReadOnly` (default: availability-group read-only routing sends the bot to a readable secondary) or `ReadWrite` (for a primary whose AG rejects read-intent connections, error 978) |
//! | `Application Name` | default `dbabot` (the bot's own sessions are left out of session checks by this name) |
//!
//! Accepted and ignored (the bot has its own limits): `Connect Timeout`, `Connection Timeout`,
//! `Command Timeout`, `Pooling`, `Max Pool Size`, `Min Pool Size`, `MultipleActiveResultSets`,
//! `MultiSubnetFailover`, `Persist Security Info`, `Packet Size`, `Workstation ID`,
//! `ConnectRetryCount`, `ConnectRetryInterval`, `TransparentNetworkIPResolution`. Any other key
//! is an error that names the key (never its value), so a typo does not silently weaken TLS.
//!
//! Entra ID tokens expire (typically after 60–90 minutes). A long-running bot should point
//! `AccessTokenFile` at a file a sidecar or workload-identity agent refreshes (for example the
//! output of `az account get-access-token --resource https://database.windows.net/ --query
//! accessToken -o tsv`); each new connection reads the current token. `Authentication` values that
//! need an interactive or password flow (`ActiveDirectoryPassword`, `ActiveDirectoryInteractive`,
//! `ActiveDirectoryDefault`, …) and Windows integrated authentication are rejected with a message
//! saying so.
//!
//! # Execution rules
//!
//! * TLS is on by default (`Encrypt=true`), validated against the OS trust store.
//! * Every catalog statement runs in one batch after
//!   `SET NOCOUNT ON; SET DEADLOCK_PRIORITY LOW; SET LOCK_TIMEOUT <ms>;
//!   SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;` — the usual practice for DMV reads, so the
//!   bot neither blocks production nor wins a deadlock against it. `LOCK_TIMEOUT` is half the
//!   statement timeout (at least 100 ms), so a metadata lock wait surfaces as a clear Msg 1222.
//! * SQL Server has no server-side statement timeout, so the per-check timeout is enforced by the
//!   client: when it fires, the query future is dropped and a TDS **Attention** is sent
//!   (`Client::cancel_query`), which makes the server abort the batch (MS-TDS 2.2.1.6). tiberius
//!   does *not* cancel when a result stream is dropped (its docs for `cancel_query` say so), so the
//!   attention is explicit. The cancel runs in a background task that owns the connection and
//!   puts it back in the pool once the server has acknowledged; if the cancel fails or takes more
//!   than 5 s the connection is closed instead (closing the socket also ends the request).
//! * A row cap: rows past the cap are not read; the request is cancelled the same way.
//! * A small pool per target (`limits.pool_size` connections, idle ones closed after 5 minutes);
//!   a connection is only reused after a fully successful statement, and a reused connection that
//!   fails with an I/O error is replaced once (the statements are read-only, so a retry is safe).
//! * EXPLAIN: `SET SHOWPLAN_XML ON` (its own batch), the re-rendered SELECT (never executed while
//!   SHOWPLAN is on), `SET SHOWPLAN_XML OFF`; the XML plan is summarised into readable lines.
//!
//! The rustls crypto provider: tiberius uses the process-wide default provider when one is
//! installed (else aws-lc-rs). `main.rs` installs ring; [`ensure_crypto_provider`] installs ring
//! too when nothing is installed yet (library users, tests), so every TLS stack in the process
//! uses the same provider.

use super::runner::RunError;
use super::{ResultSet, Value};
use crate::config::{Limits, Target};
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem, SqlBrowser};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use tracing::Instrument;

type Conn = Client<Compat<TcpStream>>;

/// Idle connections older than this are closed instead of reused (seconds).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a background cancel (Attention + drain) may take before the connection is dropped.
const CANCEL_BUDGET: Duration = Duration::from_secs(5);
/// Server redirects followed while connecting (Azure SQL gateway redirect, AG read-only routing).
const MAX_ROUTING_HOPS: usize = 3;

// ---- connection string ---------------------------------------------------------------------

/// Why a SQL Server connection string was rejected. Messages name keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("the connection string is empty")]
    Empty,
    #[error("unknown connection-string key `{0}`")]
    UnknownKey(String),
    #[error("connection-string key `{0}` has no `=`")]
    NoValue(String),
    #[error("an unterminated quote in the value of `{0}`")]
    Unterminated(String),
    #[error("no server: set Server=host[,port] (or use mssql://host:port/database)")]
    NoServer,
    #[error("`{key}`: expected {expected}, found `{found}`")]
    BadValue {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("not a valid mssql:// URL: {0}")]
    BadUrl(String),
}

/// How the bot authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// SQL Server authentication (login and password).
    SqlPassword {
        user: String,
        password: crate::config::Secret,
    },
    /// A Microsoft Entra ID bearer token, read at every new connection.
    AccessToken(TokenSource),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::SqlPassword { user, .. } => write!(f, "SqlPassword({user}, ***)"),
            Auth::AccessToken(s) => write!(f, "AccessToken({s:?})"),
        }
    }
}

/// Where an Entra ID access token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The named environment variable.
    Env(String),
    /// The file (trimmed), typically refreshed by a sidecar.
    File(PathBuf),
}

/// TLS requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// Everything encrypted (`Encrypt=true`, the default).
    Required,
    /// TDS 8.0 strict: TLS before any TDS traffic (SQL Server 2022+, Azure SQL).
    Strict,
    /// Only the login packet is encrypted (`Encrypt=false`).
    LoginOnly,
    /// No TLS at all (`Encrypt=DANGER_PLAINTEXT`); servers that force encryption refuse it.
    Plaintext,
}

/// A parsed SQL Server connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssqlSettings {
    pub host: String,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub auth: Auth,
    pub encrypt: Encrypt,
    /// Skip certificate validation; only when the DSN says so.
    pub trust_server_certificate: bool,
    pub ca_file: Option<String>,
    pub hostname_in_certificate: Option<String>,
    /// `ApplicationIntent=ReadOnly` (default true).
    pub read_only_intent: bool,
    pub application_name: String,
}

impl MssqlSettings {
    /// `host:port` (or `host\instance`) for messages; contains no credentials.
    pub fn display_server(&self) -> String {
        match (&self.instance, self.port) {
            (_, Some(p)) => format!("{}:{p}", self.host),
            (Some(i), None) => format!("{}\\{i}", self.host),
            (None, None) => format!("{}:1433", self.host),
        }
    }

    /// The tiberius configuration. Reads the access token (env var or file) now.
    ///
    /// # Errors
    /// A message when the token cannot be read; never contains the token.
    pub fn to_config(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        limits: &Limits,
    ) -> Result<Config, String> {
        let mut c = Config::new();
        c.host(&self.host);
        if let Some(p) = self.port {
            c.port(p);
        }
        if let Some(i) = &self.instance {
            c.instance_name(i);
        }
        if let Some(db) = &self.database {
            c.database(db);
        }
        c.application_name(&self.application_name);
        c.encryption(match self.encrypt {
            Encrypt::Required => EncryptionLevel::Required,
            Encrypt::Strict => EncryptionLevel::Strict,
            Encrypt::LoginOnly => EncryptionLevel::Off,
            Encrypt::Plaintext => EncryptionLevel::NotSupported,
        });
        if self.trust_server_certificate {
            c.trust_cert();
        } else if let Some(ca) = &self.ca_file {
            c.trust_cert_ca(ca);
        }
        if let Some(h) = &self.hostname_in_certificate {
            c.hostname_in_certificate(h);
        }
        c.readonly(self.read_only_intent);
        // Backstop only: the pool's own connect timeout (TCP connect + handshake) fires first.
        c.handshake_timeout(Some(Duration::from_millis(
            limits.connect_timeout_ms.max(1) + 1_000,
        )));
        // Backstop only: the per-check timeout (statement_timeout_ms) fires first and cancels.
        c.command_timeout(Some(Duration::from_millis(
            limits.statement_timeout_ms + 10_000,
        )));
        let auth = match &self.auth {
            Auth::SqlPassword { user, password } => AuthMethod::sql_server(user, password.expose()),
            Auth::AccessToken(TokenSource::Env(var)) => {
                let token = env(var)
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty());
                let token = token.ok_or_else(|| {
                    format!(
                        "the access-token environment variable {var} (AccessTokenEnv) is not set"
                    )
                })?;
                AuthMethod::aad_token(token)
            }
            Auth::AccessToken(TokenSource::File(path)) => {
                let token = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "cannot read the access-token file {} (AccessTokenFile): {e}",
                        path.display()
                    )
                })?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(format!(
                        "the access-token file {} (AccessTokenFile) is empty",
                        path.display()
                    ));
                }
                AuthMethod::aad_token(token)
            }
        };
        c.authentication(auth);
        Ok(c)
    }
}

/// Parses an ADO.NET, JDBC or URL connection string (see the module docs).
///
/// # Errors
/// [`DsnError`] naming the offending key; values never appear in the message.
pub fn parse_dsn(dsn: &str) -> Result<MssqlSettings, DsnError> {
    let dsn = dsn.trim();
    if dsn.is_empty() {
        return Err(DsnError::Empty);
    }
    let lower = dsn.to_ascii_lowercase();
    let pairs = if lower.starts_with("mssql://") || lower.starts_with("sqlserver://") {
        url_pairs(dsn)?
    } else if let Some(rest) = lower
        .starts_with("jdbc:sqlserver://")
        .then(|| &dsn["jdbc:sqlserver://".len()..])
    {
        let (server, tail) = rest.split_once(';').unwrap_or((rest, ""));
        // JDBC spells the port with a colon: host[\instance][:port].
        let server = match server.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                format!("{h},{p}")
            }
            _ => server.to_string(),
        };
        let mut pairs = vec![("server".to_string(), server)];
        pairs.extend(ado_pairs(tail)?);
        pairs
    } else {
        ado_pairs(dsn)?
    };
    settings_from_pairs(pairs)
}

fn norm_key(k: &str) -> String {
    k.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Splits `k=v;k='v;…'` into (normalised key, value) pairs.
fn ado_pairs(s: &str) -> Result<Vec<(String, String)>, DsnError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // key
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        let key_trim = key.trim().to_string();
        if i >= chars.len() || chars[i] == ';' {
            if !key_trim.is_empty() {
                return Err(DsnError::NoValue(key_trim));
            }
            i += 1;
            continue;
        }
        i += 1; // '='
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && matches!(chars[i], '\'' | '"' | '{') {
            let open = chars[i];
            let close = if open == '{' { '}' } else { open };
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == close {
                    if i + 1 < chars.len() && chars[i + 1] == close {
                        value.push(close);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                value.push(chars[i]);
                i += 1;
            }
            if !closed {
                return Err(DsnError::Unterminated(key_trim));
            }
            while i < chars.len() && chars[i] != ';' {
                if !chars[i].is_whitespace() {
                    return Err(DsnError::Unterminated(key_trim));
                }
                i += 1;
            }
        } else {
            let vstart = i;
            while i < chars.len() && chars[i] != ';' {
                i += 1;
            }
            value = chars[vstart..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
        }
        i += 1; // ';'
        out.push((norm_key(&key_trim), value));
    }
    Ok(out)
}

fn url_pairs(dsn: &str) -> Result<Vec<(String, String)>, DsnError> {
    let url = url::Url::parse(dsn).map_err(|e| DsnError::BadUrl(e.to_string()))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                DsnError::BadUrl("credentials are not valid UTF-8 after percent-decoding".into())
            })
    };
    let host = url
        .host_str()
        .ok_or(DsnError::NoServer)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut pairs = vec![("server".to_string(), host)];
    if let Some(p) = url.port() {
        pairs.push(("port".into(), p.to_string()));
    }
    if !url.username().is_empty() {
        pairs.push(("userid".into(), decode(url.username())?));
    }
    if let Some(pw) = url.password() {
        pairs.push(("password".into(), decode(pw)?));
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        pairs.push(("database".into(), decode(db)?));
    }
    for (k, v) in url.query_pairs() {
        pairs.push((norm_key(&k), v.into_owned()));
    }
    Ok(pairs)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, DsnError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(DsnError::BadValue {
            key: key.into(),
            expected: "true or false",
            found: v.into(),
        }),
    }
}

fn settings_from_pairs(pairs: Vec<(String, String)>) -> Result<MssqlSettings, DsnError> {
    const IGNORED: &[&str] = &[
        "connecttimeout",
        "connectiontimeout",
        "timeout",
        "commandtimeout",
        "pooling",
        "maxpoolsize",
        "minpoolsize",
        "multipleactiveresultsets",
        "multisubnetfailover",
        "persistsecurityinfo",
        "packetsize",
        "workstationid",
        "connectretrycount",
        "connectretryinterval",
        "transparentnetworkipresolution",
        "loginTimeout",
    ];
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        let canonical = match k.as_str() {
            "server" | "datasource" | "address" | "addr" | "networkaddress" | "servername" => {
                "server"
            }
            "port" | "portnumber" => "port",
            "instance" | "instancename" => "instance",
            "database" | "initialcatalog" | "databasename" => "database",
            "userid" | "uid" | "user" | "username" => "user",
            "password" | "pwd" => "password",
            "authentication" => "authentication",
            "accesstokenfile" => "accesstokenfile",
            "accesstokenenv" => "accesstokenenv",
            "encrypt" => "encrypt",
            "trustservercertificate" => "trustservercertificate",
            "trustservercertificateca" | "servercertificate" => "ca",
            "hostnameincertificate" => "hostnameincertificate",
            "applicationintent" => "applicationintent",
            "applicationname" | "app" => "applicationname",
            "integratedsecurity" | "trustedconnection" => "integratedsecurity",
            k if IGNORED.iter().any(|i| i.eq_ignore_ascii_case(k)) => continue,
            _ => return Err(DsnError::UnknownKey(k)),
        };
        m.insert(canonical.to_string(), v);
    }
    if let Some(v) = m.get("integratedsecurity") {
        let on = v.eq_ignore_ascii_case("sspi") || parse_bool("Integrated Security", v)?;
        if on {
            return Err(DsnError::Unsupported(
                "Windows integrated authentication is not supported; use a SQL login or Authentication=ActiveDirectoryAccessToken".into(),
            ));
        }
    }
    let server = m.get("server").map(|s| s.trim()).filter(|s| !s.is_empty());
    let server = server.ok_or(DsnError::NoServer)?;
    let lower = server.to_ascii_lowercase();
    if lower.starts_with("np:") || lower.starts_with("lpc:") || lower.starts_with("admin:") {
        return Err(DsnError::Unsupported(
            "only TCP connections are supported (remove the np:/lpc:/admin: prefix)".into(),
        ));
    }
    let server = if lower.starts_with("tcp:") {
        &server[4..]
    } else {
        server
    };
    let (hostpart, port_part) = match server.rsplit_once(',') {
        Some((h, p)) => (h.trim(), Some(p.trim())),
        None => (server, None),
    };
    let (host, instance) = match hostpart.split_once('\\') {
        Some((h, i)) => (h.trim(), Some(i.trim().to_string())),
        None => (hostpart, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = match host.to_ascii_lowercase().as_str() {
        "." | "(local)" | "(localdb)" => "localhost".to_string(),
        _ => host.to_string(),
    };
    if host.is_empty() {
        return Err(DsnError::NoServer);
    }
    let port_str = port_part
        .map(str::to_string)
        .or_else(|| m.get("port").cloned());
    let port = match port_str {
        Some(p) => Some(p.trim().parse::<u16>().map_err(|_| DsnError::BadValue {
            key: "port".into(),
            expected: "a TCP port number",
            found: p.clone(),
        })?),
        None => None,
    };
    let instance = instance
        .or_else(|| m.get("instance").cloned())
        .filter(|i| !i.is_empty());

    let encrypt = match m.get("encrypt").map(|v| v.trim().to_ascii_lowercase()) {
        None => Encrypt::Required,
        Some(v) => match v.as_str() {
            "true" | "yes" | "mandatory" | "required" => Encrypt::Required,
            "strict" => Encrypt::Strict,
            "false" | "no" | "optional" => Encrypt::LoginOnly,
            "danger_plaintext" => Encrypt::Plaintext,
            _ => {
                return Err(DsnError::BadValue {
                    key: "Encrypt".into(),
                    expected: "true, strict or false",
                    found: v,
                })
            }
        },
    };
    let trust = match m.get("trustservercertificate") {
        Some(v) => parse_bool("TrustServerCertificate", v)?,
        None => false,
    };
    let ca_file = m.get("ca").cloned().filter(|c| !c.is_empty());
    if trust && ca_file.is_some() {
        return Err(DsnError::Conflict(
            "TrustServerCertificate=true and TrustServerCertificateCA are mutually exclusive; prefer the CA file",
        ));
    }
    let read_only_intent = match m
        .get("applicationintent")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => true,
        Some(v) if v == "readonly" => true,
        Some(v) if v == "readwrite" => false,
        Some(v) => {
            return Err(DsnError::BadValue {
                key: "ApplicationIntent".into(),
                expected: "ReadOnly or ReadWrite",
                found: v,
            })
        }
    };
    let auth_kind = m
        .get("authentication")
        .map(|a| norm_key(a))
        .unwrap_or_else(|| "sqlpassword".into());
    let auth = match auth_kind.as_str() {
        "sqlpassword" | "sqlserver" => Auth::SqlPassword {
            user: m.get("user").cloned().unwrap_or_default(),
            password: crate::config::Secret::new(m.get("password").cloned().unwrap_or_default()),
        },
        "activedirectoryaccesstoken" | "accesstoken" => {
            match (m.get("accesstokenfile"), m.get("accesstokenenv")) {
                (Some(f), None) => Auth::AccessToken(TokenSource::File(PathBuf::from(f))),
                (None, Some(e)) => Auth::AccessToken(TokenSource::Env(e.clone())),
                (Some(_), Some(_)) => {
                    return Err(DsnError::Conflict(
                        "set either AccessTokenFile or AccessTokenEnv, not both",
                    ))
                }
                (None, None) => {
                    return Err(DsnError::Unsupported(
                        "Authentication=ActiveDirectoryAccessToken needs AccessTokenFile=<path> or AccessTokenEnv=<VARIABLE>".into(),
                    ))
                }
            }
        }
        other => {
            return Err(DsnError::Unsupported(format!(
                "Authentication={other} is not supported: obtain a Microsoft Entra ID token outside the bot (managed identity, workload identity, `az account get-access-token --resource https://database.windows.net/`) and use Authentication=ActiveDirectoryAccessToken with AccessTokenFile= or AccessTokenEnv=, or use a SQL login"
            )))
        }
    };
    Ok(MssqlSettings {
        host,
        port,
        instance,
        database: m.get("database").cloned().filter(|d| !d.is_empty()),
        auth,
        encrypt,
        trust_server_certificate: trust,
        ca_file,
        hostname_in_certificate: m.get("hostnameincertificate").cloned(),
        read_only_intent,
        application_name: m
            .get("applicationname")
            .cloned()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "dbabot".into()),
    })
}

// ---- decoding --------------------------------------------------------------------------------

/// Decodes one tiberius cell into a [`Value`].
///
/// * `tinyint`/`smallint`/`int`/`bigint` → [`Value::Int`] (exact);
/// * `decimal`/`numeric`/`money` → [`Value::Float`] (`f64`, as the evaluators compare floats);
/// * `real`/`float` → [`Value::Float`]; `bit` → [`Value::Bool`];
/// * `char`/`varchar`/`nchar`/`nvarchar`/`text`/`xml` → [`Value::Text`];
/// * `uniqueidentifier` → upper-case text as SQL Server prints it;
/// * `binary`/`varbinary` → `0x…` hex text (first 64 bytes);
/// * `date`/`time`/`datetime`/`datetime2`/`smalldatetime` → `YYYY-MM-DD hh:mm:ss[.fff]` text,
///   `datetimeoffset` with `±hh:mm`;
/// * NULL of any type → [`Value::Null`].
pub fn decode_cell(cd: &ColumnData<'_>) -> Value {
    use ColumnData as C;
    match cd {
        C::U8(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        C::I16(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        C::I32(v) => v.map_or(Value::Null, |x| Value::Int(x.into())),
        C::I64(v) => v.map_or(Value::Null, Value::Int),
        C::F32(v) => v.map_or(Value::Null, |x| Value::Float(x.into())),
        C::F64(v) => v.map_or(Value::Null, Value::Float),
        C::Bit(v) => v.map_or(Value::Null, Value::Bool),
        C::String(v) => v
            .as_ref()
            .map_or(Value::Null, |s| Value::Text(s.to_string())),
        C::Guid(v) => v.map_or(Value::Null, |g| {
            Value::Text(g.hyphenated().to_string().to_uppercase())
        }),
        C::Binary(v) => v.as_ref().map_or(Value::Null, |b| {
            let mut s = String::from("0x");
            for byte in b.iter().take(64) {
                s.push_str(&format!("{byte:02X}"));
            }
            if b.len() > 64 {
                s.push('…');
            }
            Value::Text(s)
        }),
        C::Numeric(v) => v.map_or(Value::Null, |n| Value::Float(f64::from(n))),
        C::Xml(v) => v
            .as_ref()
            .map_or(Value::Null, |x| Value::Text(x.as_ref().to_string())),
        C::DateTime(v) => v.map_or(Value::Null, |d| {
            // days since 1900-01-01, 1/300 s ticks since midnight
            let nanos = u64::from(d.seconds_fragments()) * 1_000_000_000 / 300;
            Value::Text(format_datetime(i64::from(d.days()) + DAYS_1900, nanos, 3))
        }),
        C::SmallDateTime(v) => v.map_or(Value::Null, |d| {
            // days since 1900-01-01, minutes since midnight
            let nanos = u64::from(d.seconds_fragments()) * 60 * 1_000_000_000;
            Value::Text(format_datetime(i64::from(d.days()) + DAYS_1900, nanos, 0))
        }),
        C::Date(v) => v.map_or(Value::Null, |d| {
            Value::Text(format_date(i64::from(d.days())))
        }),
        C::Time(v) => v.map_or(Value::Null, |t| {
            Value::Text(format_time(
                time_nanos(t.increments(), t.scale()),
                t.scale(),
            ))
        }),
        C::DateTime2(v) => v.map_or(Value::Null, |d| {
            let t = d.time();
            Value::Text(format_datetime(
                i64::from(d.date().days()),
                time_nanos(t.increments(), t.scale()),
                t.scale(),
            ))
        }),
        C::DateTimeOffset(v) => v.map_or(Value::Null, |dto| {
            // The stored value is UTC; shift into the offset for display as SQL Server does.
            let d = dto.datetime2();
            let t = d.time();
            let offset = i64::from(dto.offset());
            let total = i128::from(d.date().days()) * 86_400_000_000_000
                + i128::from(time_nanos(t.increments(), t.scale()))
                + i128::from(offset) * 60_000_000_000;
            let days = total.div_euclid(86_400_000_000_000) as i64;
            let nanos = total.rem_euclid(86_400_000_000_000) as u64;
            let sign = if offset < 0 { '-' } else { '+' };
            Value::Text(format!(
                "{} {sign}{:02}:{:02}",
                format_datetime(days, nanos, t.scale()),
                offset.abs() / 60,
                offset.abs() % 60
            ))
        }),
    }
}

/// Days from 0001-01-01 to 1900-01-01 (the `datetime` epoch).
const DAYS_1900: i64 = 693_595;

fn time_nanos(increments: u64, scale: u8) -> u64 {
    let pow = 9u32.saturating_sub(u32::from(scale));
    increments.saturating_mul(10u64.saturating_pow(pow))
}

/// Civil date from days since 0001-01-01 (proleptic Gregorian), Howard Hinnant's algorithm.
fn format_date(days_since_0001: i64) -> String {
    // shift to days since 0000-03-01
    let z = days_since_0001 + 306;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

fn format_time(nanos: u64, scale: u8) -> String {
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let base = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    let digits = usize::from(scale.min(7));
    if digits == 0 {
        base
    } else {
        let f = format!("{frac:09}");
        format!("{base}.{}", &f[..digits])
    }
}

fn format_datetime(days_since_0001: i64, nanos: u64, scale: u8) -> String {
    format!(
        "{} {}",
        format_date(days_since_0001),
        format_time(nanos, scale)
    )
}

/// Column names (lower-cased) and decoded rows of the *first* result set in `rows`, at most
/// `cap` rows; used by the runner and by tests on rows built with `tiberius::Row::builder`.
pub fn result_set_from_rows(rows: Vec<tiberius::Row>, cap: usize) -> ResultSet {
    let mut rs = ResultSet::default();
    let mut first: Option<usize> = None;
    for row in rows {
        match first {
            None => {
                first = Some(row.result_index());
                rs.columns = row
                    .columns()
                    .iter()
                    .map(|c| c.name().to_ascii_lowercase())
                    .collect();
            }
            Some(i) if i != row.result_index() => continue,
            _ => {}
        }
        if rs.rows.len() >= cap {
            rs.truncated = true;
            break;
        }
        rs.rows
            .push(row.cells().map(|(_, cd)| decode_cell(cd)).collect());
    }
    rs
}

// ---- errors ----------------------------------------------------------------------------------

fn map_error(e: tiberius::error::Error) -> RunError {
    use tiberius::error::Error as E;
    match e {
        E::Server(t) => match t.code() {
            1222 => RunError::Database(
                "a lock wait exceeded the bot's LOCK_TIMEOUT (Msg 1222): another session holds a lock on the metadata this check reads (index rebuild, schema change?); the bot gives way to production sessions"
                    .to_string(),
            ),
            code if super::privilege::is_privilege_error(&code.to_string()) => {
                RunError::Privilege {
                    grant: super::privilege::grant_template(&code.to_string(), t.message())
                    .unwrap_or_default(),
                    message: format!("{} (Msg {code})", t.message().trim()),
                }
            }
            code => RunError::Database(format!(
                "{} (Msg {code}, Level {}, State {})",
                t.message().trim(),
                t.class(),
                t.state()
            )),
        },
        E::Io { message, .. } => RunError::Database(format!("connection failed: {message}")),
        E::Tls(m) => RunError::Database(format!(
            "TLS error: {m} (if the server uses a private CA, set TrustServerCertificateCA=<ca file>; TrustServerCertificate=true skips validation and is only for trusted networks)"
        )),
        other => RunError::Database(crate::redact::redact(&other.to_string())),
    }
}

fn is_io(e: &tiberius::error::Error) -> bool {
    matches!(e, tiberius::error::Error::Io { .. })
        || matches!(e, tiberius::error::Error::Protocol(m) if m.contains("can no longer be used"))
}

/// Installs ring as the process-wide rustls provider if none is installed (see module docs).
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

// ---- pool ------------------------------------------------------------------------------------

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Shared {
    alias: String,
    settings: Result<MssqlSettings, DsnError>,
    limits: Limits,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
}

/// A small connection pool for one SQL Server target. Connects lazily.
#[derive(Clone)]
pub struct MssqlPool {
    shared: Arc<Shared>,
}

/// A connection checked out of the pool together with its permit.
struct Lease {
    conn: Conn,
    reused: bool,
    permit: OwnedSemaphorePermit,
}

impl MssqlPool {
    /// Parses the target's DSN; a bad DSN is kept and reported by every query.
    pub fn new(target: &Target, limits: &Limits) -> Self {
        MssqlPool {
            shared: Arc::new(Shared {
                alias: target.alias.clone(),
                settings: parse_dsn(target.dsn.expose()),
                limits: *limits,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(limits.pool_size.max(1) as usize)),
            }),
        }
    }

    fn settings(&self) -> Result<&MssqlSettings, RunError> {
        self.shared.settings.as_ref().map_err(|e| {
            RunError::Database(format!(
                "invalid SQL Server connection string for `{}`: {e}",
                self.shared.alias
            ))
        })
    }

    async fn connect(&self) -> Result<Conn, RunError> {
        ensure_crypto_provider();
        let settings = self.settings()?;
        let limits = self.shared.limits;
        let mut config = settings
            .to_config(&crate::config::process_env, &limits)
            .map_err(RunError::Database)?;
        let ms = limits.connect_timeout_ms;
        let server = settings.display_server();
        let span =
            tracing::debug_span!("mssql_connect", target = %self.shared.alias, server = %server);
        let fut = async move {
            let mut hops = 0;
            loop {
                let tcp = if settings.instance.is_some() && settings.port.is_none() {
                    TcpStream::connect_named(&config).await.map_err(map_error)?
                } else {
                    TcpStream::connect(config.get_addr()).await.map_err(|e| {
                        RunError::Database(format!("cannot reach {}: {e}", config.get_addr()))
                    })?
                };
                let _ = tcp.set_nodelay(true);
                match Client::connect(config.clone(), tcp.compat_write()).await {
                    Ok(c) => return Ok(c),
                    Err(tiberius::error::Error::Routing { host, port })
                        if hops < MAX_ROUTING_HOPS =>
                    {
                        tracing::debug!(%host, port, "server redirected the connection");
                        hops += 1;
                        config.host(&host);
                        config.port(port);
                    }
                    Err(e) => return Err(map_error(e)),
                }
            }
        }
        .instrument(span);
        match tokio::time::timeout(Duration::from_millis(ms), fut).await {
            Ok(r) => r,
            Err(_) => Err(RunError::Database(format!(
                "could not connect to SQL Server at {server} within {ms} ms (connect timeout: is the host reachable and is SQL Server listening on that port?)"
            ))),
        }
    }

    /// Takes an idle connection or opens a new one, waiting at most the connect timeout for a
    /// free slot.
    async fn acquire(&self) -> Result<Lease, RunError> {
        let ms = self.shared.limits.connect_timeout_ms;
        let permit = tokio::time::timeout(
            Duration::from_millis(ms),
            self.shared.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| RunError::Database("could not get a connection in time (pool busy)".into()))?
        .map_err(|_| RunError::Database("the connection pool is closed".into()))?;
        let idle = {
            let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = None;
            while let Some(i) = idle.pop() {
                if i.since.elapsed() < IDLE_TIMEOUT {
                    found = Some(i.conn);
                    break;
                }
            }
            found
        };
        match idle {
            Some(conn) => Ok(Lease {
                conn,
                reused: true,
                permit,
            }),
            None => Ok(Lease {
                conn: self.connect().await?,
                reused: false,
                permit,
            }),
        }
    }

    fn release(&self, lease: Lease) {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(Idle {
            conn: lease.conn,
            since: Instant::now(),
        });
        drop(lease.permit);
    }

    /// Sends an Attention for the in-flight request in the background and returns the
    /// connection to the pool once the server acknowledged; drops it otherwise.
    fn cancel_in_background(&self, mut lease: Lease, why: &'static str) {
        let pool = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            match tokio::time::timeout(CANCEL_BUDGET, lease.conn.cancel_query()).await {
                Ok(Ok(())) => {
                    tracing::debug!(target = %pool.shared.alias, why, ms = started.elapsed().as_millis() as u64, "request cancelled on the server");
                    pool.release(lease);
                }
                Ok(Err(e)) => {
                    tracing::warn!(target = %pool.shared.alias, why, error = %e, "cancel failed; closing the connection");
                }
                Err(_) => {
                    tracing::warn!(target = %pool.shared.alias, why, "cancel not acknowledged in time; closing the connection");
                }
            }
        });
    }

    /// Runs one trusted catalog statement under the session rules (module docs) with the
    /// per-check timeout and row cap.
    ///
    /// # Errors
    /// [`RunError::Timeout`] when the statement timeout fired (the server was sent an Attention),
    /// [`RunError::Database`] for connection, login and server errors.
    pub async fn query(&self, sql: &str) -> Result<ResultSet, RunError> {
        let limits = self.shared.limits;
        let ms = limits.statement_timeout_ms;
        let batch = format!(
            "SET NOCOUNT ON; SET DEADLOCK_PRIORITY LOW; SET LOCK_TIMEOUT {}; SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;\n{sql}",
            (ms / 2).max(100)
        );
        self.run(&batch, false).await
    }

    /// Plans `select` with `SET SHOWPLAN_XML ON` (never executes it) and summarises the plan.
    ///
    /// # Errors
    /// As [`MssqlPool::query`]; the server's message when the SELECT does not compile.
    pub async fn explain(&self, select: &str) -> Result<ResultSet, RunError> {
        let rs = self.run(select, true).await?;
        let xml: String = rs
            .rows
            .iter()
            .filter_map(|r| r.first())
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("");
        Ok(ResultSet {
            columns: vec!["plan".into()],
            rows: plan_summary(&xml)
                .into_iter()
                .map(|l| vec![Value::Text(l)])
                .collect(),
            truncated: false,
            total: None,
            thresholds: Default::default(),
        })
    }

    async fn run(&self, batch: &str, showplan: bool) -> Result<ResultSet, RunError> {
        let limits = self.shared.limits;
        let ms = limits.statement_timeout_ms;
        for attempt in 0..2 {
            let mut lease = self.acquire().await?;
            let reused = lease.reused;
            let outcome = tokio::time::timeout(
                Duration::from_millis(ms),
                execute(&mut lease.conn, batch, limits.row_cap, showplan),
            )
            .await;
            match outcome {
                Ok(Ok((rs, complete))) => {
                    if complete {
                        self.release(lease);
                    } else {
                        // Rows past the cap are still coming: stop the server sending them.
                        self.cancel_in_background(lease, "row cap reached");
                    }
                    return Ok(rs);
                }
                Ok(Err(e)) => {
                    // Never reuse a connection after an error (its state is unknown; with
                    // SHOWPLAN it may still be ON).
                    drop(lease);
                    if attempt == 0 && reused && is_io(&e) {
                        tracing::debug!(target = %self.shared.alias, error = %e, "pooled connection was dead; retrying on a new one");
                        continue;
                    }
                    return Err(map_error(e));
                }
                Err(_) => {
                    if showplan {
                        // The session may be left with SHOWPLAN ON: never reuse it.
                        drop(lease);
                    } else {
                        self.cancel_in_background(lease, "statement timeout");
                    }
                    return Err(RunError::Timeout(ms));
                }
            }
        }
        Err(RunError::Database("the connection failed twice".into()))
    }

    /// Closes idle connections (call before exit).
    pub async fn close(&self) {
        let conns: Vec<Idle> = {
            let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *idle)
        };
        for i in conns {
            let _ = tokio::time::timeout(Duration::from_secs(1), i.conn.close()).await;
        }
    }
}

/// Runs `batch` and collects the first result set (all result sets with `showplan`, wrapped in
/// SHOWPLAN_XML ON/OFF). Returns the rows and whether the response was read to the end.
async fn execute(
    conn: &mut Conn,
    batch: &str,
    cap: usize,
    showplan: bool,
) -> Result<(ResultSet, bool), tiberius::error::Error> {
    if showplan {
        conn.simple_query("SET SHOWPLAN_XML ON")
            .await?
            .into_results()
            .await?;
    }
    let mut rs = ResultSet::default();
    let mut complete = true;
    {
        let mut stream = conn.simple_query(batch).await?;
        let mut first: Option<usize> = None;
        while let Some(item) = stream.try_next().await? {
            match item {
                QueryItem::Metadata(meta) => {
                    if first.is_none() {
                        first = Some(meta.result_index());
                        rs.columns = meta
                            .columns()
                            .iter()
                            .map(|c| c.name().to_ascii_lowercase())
                            .collect();
                    }
                }
                QueryItem::Row(row) => {
                    if !showplan && first != Some(row.result_index()) {
                        continue;
                    }
                    if rs.rows.len() >= cap {
                        rs.truncated = true;
                        complete = false;
                        break;
                    }
                    rs.rows
                        .push(row.cells().map(|(_, cd)| decode_cell(cd)).collect());
                }
            }
        }
    }
    if showplan && complete {
        conn.simple_query("SET SHOWPLAN_XML OFF")
            .await?
            .into_results()
            .await?;
    }
    Ok((rs, complete))
}

// ---- plan summary ----------------------------------------------------------------------------

/// Attributes of one XML start tag (`name="value"`), unescaped.
fn attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_string();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.insert(name, xml_unescape(&after[..end]));
        rest = &after[end + 1..];
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xA;", " ")
        .replace("&#xD;", " ")
        .replace("&#x9;", " ")
        .replace("&amp;", "&")
}

fn short_num(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(v) if v >= 100.0 => format!("{v:.0}"),
        Ok(v) => format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// Summarises a SHOWPLAN_XML document into readable lines: the statement cost, one indented line
/// per operator (physical/logical operator, object, estimated rows and subtree cost, predicate),
/// and the optimizer's missing-index suggestions as `CREATE INDEX` statements.
///
/// Element and attribute names follow the published showplan schema (`showplanxml.xsd`:
/// `StmtSimple`, `RelOp`, `Object`, `Predicate/ScalarOperator@ScalarString`,
/// `MissingIndexGroup@Impact`, `MissingIndex`, `ColumnGroup@Usage`, `Column@Name`).
pub fn plan_summary(xml: &str) -> Vec<String> {
    struct Op {
        line: usize,
        has_object: bool,
        has_predicate: bool,
    }
    let mut lines: Vec<String> = Vec::new();
    let mut stack: Vec<Op> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut in_predicate = 0usize;
    // missing-index state
    let mut impact = String::new();
    let mut mi_table = String::new();
    let mut usage = String::new();
    let mut cols: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        let self_closing = tag.ends_with('/');
        match (name.as_str(), closing) {
            ("StmtSimple", false) => {
                let a = attrs(tag);
                let cost = a.get("StatementSubTreeCost").map(|c| short_num(c));
                let text = a
                    .get("StatementText")
                    .map(|t| crate::diagnostics::finding::short_query(t, 120));
                lines.push(format!(
                    "Statement{}{}",
                    cost.map(|c| format!(" (estimated cost {c})"))
                        .unwrap_or_default(),
                    text.map(|t| format!(": {t}")).unwrap_or_default()
                ));
            }
            ("RelOp", false) => {
                let a = attrs(tag);
                let phys = a.get("PhysicalOp").cloned().unwrap_or_default();
                let logical = a.get("LogicalOp").cloned().unwrap_or_default();
                let op = if logical.is_empty() || logical == phys {
                    phys
                } else {
                    format!("{phys} ({logical})")
                };
                let rows = a
                    .get("EstimateRows")
                    .map(|r| short_num(r))
                    .unwrap_or_default();
                let cost = a
                    .get("EstimatedTotalSubtreeCost")
                    .map(|c| short_num(c))
                    .unwrap_or_default();
                lines.push(format!(
                    "{}{op}  rows≈{rows}  cost {cost}",
                    "  ".repeat(stack.len() + 1)
                ));
                stack.push(Op {
                    line: lines.len() - 1,
                    has_object: false,
                    has_predicate: false,
                });
            }
            ("RelOp", true) => {
                stack.pop();
            }
            ("Object", false) => {
                if let Some(top) = stack.last_mut() {
                    if !top.has_object {
                        let a = attrs(tag);
                        let obj = ["Schema", "Table", "Index"]
                            .iter()
                            .filter_map(|k| a.get(*k))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(".");
                        if !obj.is_empty() {
                            let line = &mut lines[top.line];
                            line.push_str(&format!("  on {obj}"));
                            top.has_object = true;
                        }
                    }
                }
            }
            ("Predicate" | "SeekPredicateNew" | "SeekPredicates", false) if !self_closing => {
                in_predicate += 1;
            }
            ("Predicate" | "SeekPredicateNew" | "SeekPredicates", true) => {
                in_predicate = in_predicate.saturating_sub(1);
            }
            ("ScalarOperator", false) if in_predicate > 0 => {
                if let Some(top) = stack.last_mut() {
                    if !top.has_predicate {
                        if let Some(s) = attrs(tag).get("ScalarString") {
                            let line = &mut lines[top.line];
                            line.push_str(&format!(
                                "  where {}",
                                crate::diagnostics::finding::short_query(s, 120)
                            ));
                            top.has_predicate = true;
                        }
                    }
                }
            }
            ("MissingIndexGroup", false) => {
                impact = attrs(tag).get("Impact").cloned().unwrap_or_default();
            }
            ("MissingIndex", false) => {
                let a = attrs(tag);
                mi_table = ["Database", "Schema", "Table"]
                    .iter()
                    .filter_map(|k| a.get(*k))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(".");
                cols.clear();
            }
            ("ColumnGroup", false) => {
                usage = attrs(tag).get("Usage").cloned().unwrap_or_default();
            }
            ("Column", false) if !mi_table.is_empty() && !usage.is_empty() => {
                if let Some(n) = attrs(tag).get("Name") {
                    cols.entry(usage.clone()).or_default().push(n.clone());
                }
            }
            ("ColumnGroup", true) => usage.clear(),
            ("MissingIndex", true) => {
                let key: Vec<String> = ["EQUALITY", "INEQUALITY"]
                    .iter()
                    .flat_map(|u| cols.get(*u).cloned().unwrap_or_default())
                    .collect();
                let include = cols.get("INCLUDE").cloned().unwrap_or_default();
                if !key.is_empty() {
                    missing.push(format!(
                        "Missing index (estimated impact {}%): CREATE NONCLUSTERED INDEX [IX_dbabot_suggested] ON {mi_table} ({}){};",
                        short_num(&impact),
                        key.join(", "),
                        if include.is_empty() {
                            String::new()
                        } else {
                            format!(" INCLUDE ({})", include.join(", "))
                        }
                    ));
                }
                mi_table.clear();
            }
            _ => {}
        }
    }
    if lines.is_empty() {
        let shown = crate::diagnostics::finding::short_query(xml, 2000);
        return vec![
            "(could not summarise the plan; raw SHOWPLAN_XML follows)".to_string(),
            shown,
        ];
    }
    lines.extend(missing);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};

    #[test]
    fn ado_strings_parse_with_quotes_and_defaults() {
        let s = parse_dsn(
            "Server=tcp:orders.database.windows.net,1433; Initial Catalog=orders;User ID=bot;Password='p;w=''x';",
        )
        .expect("valid");
        assert_eq!(s.host, "orders.database.windows.net");
        assert_eq!(s.port, Some(1433));
        assert_eq!(s.database.as_deref(), Some("orders"));
        match &s.auth {
            Auth::SqlPassword { user, password } => {
                assert_eq!(user, "bot");
                assert_eq!(password.expose(), "p;w='x");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.encrypt, Encrypt::Required, "TLS is on by default");
        assert!(!s.trust_server_certificate, "never trusts by default");
        assert!(s.read_only_intent, "ApplicationIntent=ReadOnly by default");
        assert_eq!(s.application_name, "dbabot");
        assert!(!format!("{s:?}").contains("p;w"), "password in Debug");
    }

    #[test]
    fn braces_instances_and_intent() {
        let s = parse_dsn(r"Data Source=db1\SALES;UID=u;PWD={a}}b};ApplicationIntent=ReadWrite;TrustServerCertificate=yes;Encrypt=strict")
            .expect("valid");
        assert_eq!(s.host, "db1");
        assert_eq!(s.instance.as_deref(), Some("SALES"));
        assert_eq!(s.port, None);
        assert_eq!(s.display_server(), r"db1\SALES");
        assert!(!s.read_only_intent);
        assert!(s.trust_server_certificate);
        assert_eq!(s.encrypt, Encrypt::Strict);
        match &s.auth {
            Auth::SqlPassword { password, .. } => assert_eq!(password.expose(), "a}b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_and_jdbc() {
        let s = parse_dsn(
            "mssql://bot:p%40ss%3Bw@[::1]:14330/my%20db?encrypt=false&applicationIntent=ReadOnly",
        )
        .expect("valid url");
        assert_eq!(s.host, "::1");
        assert_eq!(s.port, Some(14330));
        assert_eq!(s.database.as_deref(), Some("my db"));
        assert_eq!(s.encrypt, Encrypt::LoginOnly);
        match &s.auth {
            Auth::SqlPassword { user, password } => {
                assert_eq!(user, "bot");
                assert_eq!(password.expose(), "p@ss;w");
            }
            other => panic!("{other:?}"),
        }
        let j = parse_dsn(
            "jdbc:sqlserver://db2.internal:1444;databaseName=x;user=u;password=p;encrypt=true",
        )
        .expect("valid jdbc");
        assert_eq!((j.host.as_str(), j.port), ("db2.internal", Some(1444)));
        assert_eq!(j.database.as_deref(), Some("x"));
    }

    #[test]
    fn access_tokens_come_from_env_or_file() {
        let s = parse_dsn("Server=x.database.windows.net;Database=d;Authentication=ActiveDirectoryAccessToken;AccessTokenEnv=SQL_TOKEN")
            .expect("valid");
        assert_eq!(
            s.auth,
            Auth::AccessToken(TokenSource::Env("SQL_TOKEN".into()))
        );
        let env = |k: &str| (k == "SQL_TOKEN").then(|| " eyJ0eXAi.secret \n".to_string());
        assert!(s.to_config(&env, &Limits::default()).is_ok());
        let err = s
            .to_config(&|_| None, &Limits::default())
            .expect_err("missing variable");
        assert!(err.contains("SQL_TOKEN"), "{err}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "eyJ.abc\n").expect("write");
        let f = parse_dsn(&format!(
            "mssql://x.database.windows.net/d?authentication=ActiveDirectoryAccessToken&accessTokenFile={}",
            file.display()
        ))
        .expect("valid");
        assert_eq!(f.auth, Auth::AccessToken(TokenSource::File(file.clone())));
        assert!(f.to_config(&|_| None, &Limits::default()).is_ok());
        std::fs::write(&file, "  \n").expect("write");
        assert!(f
            .to_config(&|_| None, &Limits::default())
            .expect_err("empty file")
            .contains("empty"));
    }

    #[test]
    fn rejections_name_the_key_never_the_value() {
        let e = parse_dsn("Server=h;Pasword=hunter2").expect_err("typo");
        assert_eq!(e, DsnError::UnknownKey("pasword".into()));
        assert!(!e.to_string().contains("hunter2"));
        assert!(matches!(parse_dsn("Database=x"), Err(DsnError::NoServer)));
        assert!(matches!(parse_dsn(""), Err(DsnError::Empty)));
        assert!(matches!(
            parse_dsn("Server=h;Integrated Security=SSPI"),
            Err(DsnError::Unsupported(_))
        ));
        assert!(matches!(
            parse_dsn("Server=h;Authentication=ActiveDirectoryPassword;User=a;Password=b"),
            Err(DsnError::Unsupported(_))
        ));
        assert!(matches!(
            parse_dsn("Server=h;Authentication=ActiveDirectoryAccessToken"),
            Err(DsnError::Unsupported(_))
        ));
        assert!(matches!(
            parse_dsn("Server=h;TrustServerCertificate=true;TrustServerCertificateCA=/ca.pem"),
            Err(DsnError::Conflict(_))
        ));
        assert!(matches!(
            parse_dsn("Server=h,notaport"),
            Err(DsnError::BadValue { .. })
        ));
        assert!(matches!(
            parse_dsn("Server=h;Password='open"),
            Err(DsnError::Unterminated(_))
        ));
        assert!(matches!(
            parse_dsn("Server=np:\\\\.\\pipe\\sql"),
            Err(DsnError::Unsupported(_))
        ));
        // Ignored keys are accepted.
        assert!(parse_dsn(
            "Server=h;Connect Timeout=30;MultipleActiveResultSets=True;Pooling=false"
        )
        .is_ok());
    }

    #[test]
    fn dates_decode_like_sql_server_prints_them() {
        // 2024-03-15 = 738_959 days after 0001-01-01; 45_364 after 1900-01-01.
        assert_eq!(format_date(0), "0001-01-01");
        assert_eq!(format_date(738_959), "2024-03-15");
        assert_eq!(format_date(DAYS_1900), "1900-01-01");
        assert_eq!(format_date(730_178), "2000-02-29");
        assert_eq!(
            decode_cell(&ColumnData::DateTime(Some(DateTime::new(
                45_364,
                300 * 3600 + 150
            )))),
            Value::Text("2024-03-15 01:00:00.500".into())
        );
        assert_eq!(
            decode_cell(&ColumnData::SmallDateTime(Some(SmallDateTime::new(
                45_364, 61
            )))),
            Value::Text("2024-03-15 01:01:00".into())
        );
        assert_eq!(
            decode_cell(&ColumnData::Date(Some(Date::new(738_959)))),
            Value::Text("2024-03-15".into())
        );
        assert_eq!(
            decode_cell(&ColumnData::Time(Some(Time::new(36_001_234_567, 7)))),
            Value::Text("01:00:00.1234567".into())
        );
        assert_eq!(
            decode_cell(&ColumnData::DateTime2(Some(DateTime2::new(
                Date::new(738_959),
                Time::new(86_399_999, 3)
            )))),
            Value::Text("2024-03-15 23:59:59.999".into())
        );
        // 23:30 UTC at +02:00 is 01:30 the next day.
        assert_eq!(
            decode_cell(&ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
                DateTime2::new(Date::new(738_959), Time::new(84_600, 0)),
                120
            )))),
            Value::Text("2024-03-16 01:30:00 +02:00".into())
        );
        assert_eq!(decode_cell(&ColumnData::DateTime(None)), Value::Null);
    }

    #[test]
    fn scalars_decode() {
        assert_eq!(decode_cell(&ColumnData::U8(Some(255))), Value::Int(255));
        assert_eq!(decode_cell(&ColumnData::I16(Some(-3))), Value::Int(-3));
        assert_eq!(decode_cell(&ColumnData::I32(None)), Value::Null);
        assert_eq!(
            decode_cell(&ColumnData::I64(Some(i64::MAX))),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            decode_cell(&ColumnData::Numeric(Some(Numeric::new_with_scale(
                12_345, 2
            )))),
            Value::Float(123.45)
        );
        assert_eq!(
            decode_cell(&ColumnData::Numeric(Some(Numeric::new_with_scale(-5, 1)))),
            Value::Float(-0.5)
        );
        assert_eq!(decode_cell(&ColumnData::Bit(Some(true))), Value::Bool(true));
        assert_eq!(decode_cell(&ColumnData::F32(Some(1.5))), Value::Float(1.5));
        assert_eq!(
            decode_cell(&ColumnData::String(Some("x".into()))),
            Value::Text("x".into())
        );
        assert_eq!(decode_cell(&ColumnData::String(None)), Value::Null);
        let g = tiberius::Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").expect("uuid");
        assert_eq!(
            decode_cell(&ColumnData::Guid(Some(g))),
            Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
        );
        assert_eq!(
            decode_cell(&ColumnData::Binary(Some(vec![1u8, 0xAB].into()))),
            Value::Text("0x01AB".into())
        );
    }

    #[test]
    fn first_result_set_and_cap() {
        use tiberius::{ColumnType, Row};
        let rows: Vec<Row> = (0..5)
            .map(|i| {
                Row::builder()
                    .column("Session_Id", ColumnType::Int2, ColumnData::I16(Some(i)))
                    .build()
            })
            .chain(std::iter::once(
                Row::builder()
                    .column("other", ColumnType::Int4, ColumnData::I32(Some(9)))
                    .result_index(1)
                    .build(),
            ))
            .collect();
        let rs = result_set_from_rows(rows, 3);
        assert_eq!(rs.columns, vec!["session_id"]);
        assert_eq!(rs.len(), 3);
        assert!(rs.truncated);
    }

    /// A SHOWPLAN_XML document in the shape SQL Server 2019/2022 returns for
    /// `SELECT * FROM dbo.events WHERE customer_id = 5` on a heap (hand-written from the
    /// showplan schema, trimmed).
    pub(crate) const PLAN_XML: &str = r#"<ShowPlanXML xmlns="http://schemas.microsoft.com/sqlserver/2004/07/showplan" Version="1.564" Build="16.0.1000.6"><BatchSequence><Batch><Statements><StmtSimple StatementText="SELECT * FROM dbo.events WHERE customer_id = 5" StatementId="1" StatementCompId="1" StatementType="SELECT" StatementSubTreeCost="12.4567" StatementEstRows="98.5"><QueryPlan CachedPlanSize="16" CompileTime="1" CompileCPU="1" CompileMemory="128"><MissingIndexes><MissingIndexGroup Impact="97.6543"><MissingIndex Database="[shop]" Schema="[dbo]" Table="[events]"><ColumnGroup Usage="EQUALITY"><Column Name="[customer_id]" ColumnId="2" /></ColumnGroup></MissingIndex></MissingIndexGroup></MissingIndexes><RelOp NodeId="0" PhysicalOp="Parallelism" LogicalOp="Gather Streams" EstimateRows="98.5" EstimatedTotalSubtreeCost="12.4567"><Parallelism><RelOp NodeId="1" PhysicalOp="Table Scan" LogicalOp="Table Scan" EstimateRows="98.5" EstimatedTotalSubtreeCost="12.31"><OutputList /><TableScan Ordered="0"><Object Database="[shop]" Schema="[dbo]" Table="[events]" IndexKind="Heap" Storage="RowStore" /><Predicate><ScalarOperator ScalarString="[shop].[dbo].[events].[customer_id]=(5)"><Compare CompareOp="EQ"></Compare></ScalarOperator></Predicate></TableScan></RelOp></Parallelism></RelOp></QueryPlan></StmtSimple></Statements></Batch></BatchSequence></ShowPlanXML>"#;

    #[test]
    fn showplan_is_summarised() {
        let lines = plan_summary(PLAN_XML);
        assert_eq!(
            lines[0],
            "Statement (estimated cost 12.457): SELECT * FROM dbo.events WHERE customer_id = 5"
        );
        assert_eq!(
            lines[1],
            "  Parallelism (Gather Streams)  rows≈98.5  cost 12.457"
        );
        assert_eq!(
            lines[2],
            "    Table Scan  rows≈98.5  cost 12.31  on [dbo].[events]  where [shop].[dbo].[events].[customer_id]=(5)"
        );
        assert_eq!(
            lines[3],
            "Missing index (estimated impact 97.654%): CREATE NONCLUSTERED INDEX [IX_dbabot_suggested] ON [shop].[dbo].[events] ([customer_id]);"
        );
        let raw = plan_summary("not xml at all");
        assert!(raw[0].contains("could not summarise"));
    }
}
