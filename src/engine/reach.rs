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
