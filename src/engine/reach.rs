//! Why dbabot could not open a session, read from the driver's error. The kind of failure rules
//! most causes in or out: a refusal means the host answered and nothing listens on the port (so
//! no firewall dropped the packets and no password was ever checked); a timeout means nothing
//! answered at all; a rejected login means the server is up. The finding it gives lets the
//! playbook show only the causes and steps that fit (`when`/`unless` on `connect_*` codes).

use crate::config::Target;
use crate::diagnostics::Finding;
use dbabot_chat::Severity;

/// The kinds of connection failure, as (finding code, words in the lower-cased driver error);
/// the first that matches wins.
/// Sources: the OS errors behind a TCP connect (ECONNREFUSED 111, ETIMEDOUT 110; Windows
/// WSAECONNREFUSED 10061), PostgreSQL SQLSTATE class 28 and 3D000 (PostgreSQL docs, Appendix A),
/// MySQL/MariaDB errors 1044, 1045, 1049 and 1698 (MySQL manual, Server Error Message Reference).
const KINDS: &[(&str, &[&str])] = &[
    (
        "connect_login_rejected",
        &[
            "password authentication failed",
            "no pg_hba.conf entry",
            "28p01",
            "28000",
            "3d000",
            "does not exist",
            "access denied for user",
            "1044",
            "1045",
            "1049",
            "1698",
            "unknown database",
        ],
    ),
    (
        "connect_refused",
        &[
            "connection refused",
            "os error 111",
            "actively refused",
            "10061",
        ],
    ),
    (
        "connect_unresolved",
        &[
            "failed to lookup address",
            "name or service not known",
            "nodename nor servname",
            "no such host",
            "temporary failure in name resolution",
        ],
    ),
    (
        "connect_wrong_service",
        &[
            "unexpected response",
            "invalid data",
            "unexpected message",
            "packets out of order",
        ],
    ),
    (
        "connect_no_handshake",
        &["did not answer the protocol handshake"],
    ),
    ("connect_tls", &["certificate", "tls", "ssl", "handshake"]),
    (
        "connect_timeout",
        &["no answer within", "timed out", "os error 110"],
    ),
];

/// The finding for a failed connection to `target` with the driver's `error` (already free of
/// secrets: the runner never puts a DSN in an error). `None` when the error is not a connection
/// failure dbabot can name. A refusal or a timeout of a production target is critical: dbabot
/// cannot reach it either, so it is very likely an outage; a rejected login proves the server is
/// up and is a warning about dbabot's own account.
pub(crate) fn finding(error: &str, target: &Target) -> Option<Finding> {
    let lower = error.to_lowercase();
    let (code, _) = KINDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| lower.contains(w)))?;
    let alias = &target.alias;
    let prod = target.environment == "prod";
    let (severity, title) = match *code {
        "connect_refused" => (
            if prod { Severity::Critical } else { Severity::Warning },
            format!("{alias} refused dbabot's connection: the host answered, but nothing listens on the database port, so the server is not running there (stopped, crashed, restarting) or listens on another address or port"),
        ),
        "connect_timeout" => (
            if prod { Severity::Critical } else { Severity::Warning },
            format!("{alias} did not answer dbabot's connection at all: the host is down or unreachable, or a firewall or security group drops the packets"),
        ),
        "connect_no_handshake" => (
            if prod { Severity::Critical } else { Severity::Warning },
            format!("{alias} accepts TCP connections on its database port but never answered dbabot's handshake: the server is hung, overloaded or still starting, or a proxy in front of it holds the connection"),
        ),
        "connect_unresolved" => (
            Severity::Warning,
            format!("the host name of {alias} does not resolve from dbabot's host (DNS)"),
        ),
        "connect_tls" => (
            Severity::Warning,
            format!("{alias} answered, but the TLS handshake with dbabot failed"),
        ),
        "connect_wrong_service" => (
            if prod { Severity::Critical } else { Severity::Warning },
            format!("something answers on the database port of {alias}, but not with the {} protocol: another service, a proxy or load balancer, or the wrong port in the connection string", target.engine.display()),
        ),
        _ => (
            Severity::Warning,
            format!("{alias} is up: it answered and rejected dbabot's own login"),
        ),
    };
    Some(
        Finding::new("overview", code, severity, title)
            .fact("error", error)
            .threshold("the kind of connection failure: refused (ECONNREFUSED), no answer (ETIMEDOUT), name not resolved, TLS, or a login the server rejected (PostgreSQL SQLSTATE class 28, 3D000; MySQL/MariaDB 1044, 1045, 1049)"),
    )
}

/// The finding for a SQLite database file dbabot could not open or read (`unable to open
/// database file`, SQLITE_CANTOPEN, result code 14; `disk I/O error`, SQLITE_IOERR, 10 and its
/// extended codes such as 266), with what the file system says about it: the file or
/// its directory missing, a directory instead of a file, or a permission refused to dbabot's
/// user. The path itself is part of the connection string and is never shown. `None` for any
/// other error. Reads file metadata with `tokio::fs` (off the async worker threads).
/// Source: SQLite docs, "Result and Error Codes" (SQLITE_CANTOPEN).
pub(crate) async fn sqlite_open_failure(error: &str, target: &Target) -> Option<Finding> {
    use std::str::FromStr;
    let lower = error.to_lowercase();
    let io_error = lower.contains("disk i/o error");
    if target.engine != crate::config::Engine::Sqlite
        || !(io_error || lower.contains("unable to open database file"))
    {
        return None;
    }
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(target.dsn.expose())
        .ok()?
        .get_filename()
        .to_path_buf();
    let why = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_dir() => "the path in dbabot's connection string is a directory, not a database file".to_string(),
        Ok(_) => match tokio::fs::File::open(&path).await {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                "the file exists, but dbabot's user is not allowed to read it (file permissions, or a security module such as SELinux or AppArmor)".to_string()
            }
            _ if io_error => "the file exists, but reading it fails with an I/O error: a failing disk, a network filesystem that dropped its connection, or a file truncated or replaced while open".to_string(),
            _ => "the file exists and can be read, but SQLite could not open it: its directory must be readable (and writable, for a file in WAL mode, whose -shm file a reader needs), or the file is on a mount that refuses locking".to_string(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            "a directory on its path does not let dbabot's user through (directory permissions)".to_string()
        }
        Err(_) => {
            let parent_exists = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => tokio::fs::metadata(p).await.is_ok(),
                _ => true,
            };
            if parent_exists {
                "the file does not exist: it was moved, deleted or replaced by a deploy, or the path in the connection string is wrong".to_string()
            } else {
                "neither the file nor its directory exists: a volume that is not mounted, a release directory that changed, or a wrong path in the connection string".to_string()
            }
        }
    };
    let alias = &target.alias;
    let severity = if target.environment == "prod" {
        Severity::Critical
    } else {
        Severity::Warning
    };
    Some(
        Finding::new(
            "overview",
            "sqlite_cannot_open",
            severity,
            format!("dbabot cannot open the database file of {alias}: {why}"),
        )
        .fact("why", why)
        .fact("error", error)
        .threshold("SQLite result codes 14 SQLITE_CANTOPEN and 10 SQLITE_IOERR, read with the file's metadata (SQLite docs, Result and Error Codes)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(environment: &str) -> Target {
        Target {
            alias: "orders-prod".into(),
            aliases: vec![],
            engine: crate::config::Engine::Postgres,
            environment: environment.into(),
            cloud: "aws".into(),
            dsn_source: "test".into(),
            dsn: crate::config::Secret::new("postgres://x@127.0.0.1:1/x".to_string()),
        }
    }

    #[test]
    fn each_kind_of_failure_is_named() {
        for (error, code) in [
            ("cannot connect: connection failed: Connection refused (os error 111)", "connect_refused"),
            ("cannot connect: no answer within 3 s (the host is down, or a firewall drops the packets)", "connect_timeout"),
            ("cannot connect: the port accepts TCP connections, but the server did not answer the protocol handshake within 3 s (hung, overloaded or still starting, or a proxy holds the connection)", "connect_no_handshake"),
            ("cannot connect: error returned from database: password authentication failed for user \"bot\"", "connect_login_rejected"),
            ("cannot connect: error returned from database: 1045 (28000): Access denied for user 'bot'@'localhost'", "connect_login_rejected"),
            ("cannot connect: error returned from database: database \"nope\" does not exist", "connect_login_rejected"),
            ("cannot connect: error communicating with database: failed to lookup address information: Name or service not known", "connect_unresolved"),
            ("encountered unexpected or invalid data: unexpected response from SSLRequest: 0x48", "connect_wrong_service"),
            ("Access denied for user 'nouser'@'127.0.0.1' (using password: YES) (SQLSTATE/code 1045)", "connect_login_rejected"),
        ] {
            let f = finding(error, &target("prod")).expect(error);
            assert_eq!(f.code, code, "{error}");
        }
        assert!(finding("cannot connect: something else", &target("prod")).is_none());
    }

    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_opened_says_what_the_file_system_shows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lite = |path: &std::path::Path| Target {
            engine: crate::config::Engine::Sqlite,
            dsn: crate::config::Secret::new(format!("sqlite://{}", path.display())),
            ..target("prod")
        };
        let as_dir = dir.path().join("data.db");
        std::fs::create_dir(&as_dir).expect("dir");
        let file = dir.path().join("ok.db");
        std::fs::write(&file, b"").expect("file");
        for (path, error, why) in [
            (
                dir.path().join("gone").join("x.db"),
                "unable to open database file (SQLSTATE/code 14)",
                "neither the file nor its directory exists",
            ),
            (
                dir.path().join("x.db"),
                "unable to open database file (SQLSTATE/code 14)",
                "the file does not exist",
            ),
            (
                as_dir.clone(),
                "disk I/O error (SQLSTATE/code 266)",
                "is a directory",
            ),
            (
                file.clone(),
                "disk I/O error (SQLSTATE/code 266)",
                "fails with an I/O error",
            ),
        ] {
            let f = sqlite_open_failure(error, &lite(&path)).await.expect(why);
            assert_eq!(f.code, "sqlite_cannot_open");
            assert_eq!(f.severity, Severity::Critical);
            assert!(f.title.contains(why), "{}", f.title);
            assert!(
                !f.title.contains(&path.display().to_string()),
                "{}",
                f.title
            );
        }
        assert!(sqlite_open_failure("database is locked", &lite(&file))
            .await
            .is_none());
        assert!(
            sqlite_open_failure("unable to open database file", &target("prod"))
                .await
                .is_none()
        );
    }

    #[test]
    fn an_unreachable_production_server_is_critical_a_rejected_login_is_not() {
        let refused = "cannot connect: connection failed: Connection refused (os error 111)";
        assert_eq!(
            finding(refused, &target("prod")).map(|f| f.severity),
            Some(Severity::Critical)
        );
        assert_eq!(
            finding(refused, &target("staging")).map(|f| f.severity),
            Some(Severity::Warning)
        );
        let login = "cannot connect: password authentication failed for user \"bot\"";
        assert_eq!(
            finding(login, &target("prod")).map(|f| f.severity),
            Some(Severity::Warning)
        );
    }
}
