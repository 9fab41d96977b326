//! Timeouts in effect and where each is set: the limits that cancel statements or end sessions
//! ("canceling statement due to statement timeout", MariaDB 1969, MySQL 3024).
//!
//! A statement cancelled by a limit someone set for one role or database is a different fix from
//! a statement that got slow: the finding names the setting, its value and the scope that sets
//! it (server, database, role, role in database, account), with the statement that removes it at
//! that scope. The bot's own login is left out (its settings are the runner's, not the app's).

use crate::config::Engine;
use crate::diagnostics::finding::human_secs;
use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;

/// PostgreSQL: the four timeouts that cancel or end work (PostgreSQL docs §20.11.1 Statement
/// Behavior), server-wide (the value a session starts with, when no database or role setting
/// overrides it) and per database, role and role in database (`pg_db_role_setting`).
pub(super) const PG_SQL: &str = "WITH names(name) AS (
    VALUES ('statement_timeout'), ('lock_timeout'), ('idle_in_transaction_session_timeout'), ('idle_session_timeout')),
scoped AS (
    SELECT s.setrole, s.setdatabase, split_part(c.cfg, '=', 1) AS name, substr(c.cfg, strpos(c.cfg, '=') + 1) AS value
      FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) AS c(cfg))
SELECT 'server' AS scope, '' AS role_name, '' AS db_name, '' AS role_ident, '' AS db_ident,
       p.name AS setting, p.reset_val AS value, coalesce(p.unit, '') AS unit
  FROM pg_settings p JOIN names USING (name)
 WHERE p.reset_val <> '0'
   AND NOT EXISTS (SELECT 1 FROM scoped x
                    WHERE x.name = p.name
                      AND x.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                      AND x.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user)))
UNION ALL
SELECT CASE WHEN x.setrole = 0 AND x.setdatabase = 0 THEN 'all_roles'
            WHEN x.setrole = 0 THEN 'database'
            WHEN x.setdatabase = 0 THEN 'role'
            ELSE 'role_in_database' END,
       coalesce(r.rolname::text, ''), coalesce(d.datname::text, ''),
       coalesce(quote_ident(r.rolname), ''), coalesce(quote_ident(d.datname), ''),
       x.name, x.value, ''
  FROM scoped x JOIN names USING (name)
  LEFT JOIN pg_roles r ON r.oid = x.setrole
  LEFT JOIN pg_database d ON d.oid = x.setdatabase
 WHERE coalesce(r.rolname::text, '') <> current_user
 ORDER BY 1, 2, 3, 6
 LIMIT 50";

/// `innodb_lock_wait_timeout` below its 50 s default (MySQL manual §17.14, MariaDB KB InnoDB
/// System Variables): row-lock waits give up sooner than the application may expect (1205).
macro_rules! innodb_lock_wait_low {
    () => {
        "SELECT 'server', '', '', '', '', 'innodb_lock_wait_timeout', CAST(@@GLOBAL.innodb_lock_wait_timeout AS CHAR), 's'
  FROM DUAL WHERE @@GLOBAL.innodb_lock_wait_timeout < 50"
    };
}

/// MariaDB's global `max_statement_time` (seconds; MariaDB KB "Aborting Statements that Exceed a
/// Certain Time to Execute") and a low `innodb_lock_wait_timeout`.
macro_rules! mariadb_global {
    () => {
        concat!(
            "SELECT 'server' AS scope, '' AS role_name, '' AS db_name, '' AS role_ident, '' AS db_ident,
       'max_statement_time' AS setting, CAST(@@GLOBAL.max_statement_time AS CHAR) AS value, 's' AS unit
  FROM DUAL WHERE @@GLOBAL.max_statement_time > 0
UNION ALL
",
            innodb_lock_wait_low!()
        )
    };
}

/// MariaDB, server-wide only (a login without SELECT on mysql.user).
pub(super) const MARIADB_GLOBAL_SQL: &str = mariadb_global!();

/// MariaDB, server-wide and accounts' own MAX_STATEMENT_TIME (mysql.user, 10.4+ a view over
/// mysql.global_priv).
pub(super) const MARIADB_SQL: &str = concat!(
    mariadb_global!(),
    "
UNION ALL
SELECT 'account', CONCAT(QUOTE(u.User), '@', QUOTE(u.Host)), '', CONCAT(QUOTE(u.User), '@', QUOTE(u.Host)), '',
       'max_statement_time', CAST(u.max_statement_time AS CHAR), 's'
  FROM mysql.user u
 WHERE u.max_statement_time > 0 AND u.User <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1)
 ORDER BY 1, 2
 LIMIT 50"
);

/// MySQL 8: the global `max_execution_time` (milliseconds, read-only SELECTs; MySQL manual
/// §7.1.8) and a low `innodb_lock_wait_timeout`.
pub(super) const MYSQL_SQL: &str = concat!(
    "SELECT 'server' AS scope, '' AS role_name, '' AS db_name, '' AS role_ident, '' AS db_ident,
       'max_execution_time' AS setting, CAST(@@GLOBAL.max_execution_time AS CHAR) AS value, 'ms' AS unit
  FROM DUAL WHERE @@GLOBAL.max_execution_time > 0
UNION ALL
",
    innodb_lock_wait_low!()
);

/// A timeout value as milliseconds: `value` with PostgreSQL's time units (`us`, `ms`, `s`,
/// `min`, `h`, `d`; PostgreSQL docs §20.1.1) or, bare, in `unit` (`ms` when none is given, the
/// base unit of the four PostgreSQL timeouts). `None` for text that is not a duration.
pub fn millis(value: &str, unit: &str) -> Option<f64> {
    let v = value.trim().trim_matches('\'').trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let suffix = match suffix.trim() {
        "" => unit.trim(),
        s => s,
    };
    let factor = match suffix {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some(n * factor)
}

/// `1500` → "1.5s", `250` → "250ms", `90000` → "1m 30s".
pub fn human_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 10_000.0 && ms % 1000.0 != 0.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        human_secs(ms / 1000.0)
    }
}

/// What a session hits when the setting fires (PostgreSQL docs Appendix A; MariaDB and MySQL
/// server error references).
fn error_of(setting: &str) -> &'static str {
    match setting {
        "statement_timeout" => "57014 \"canceling statement due to statement timeout\"",
        "lock_timeout" => "55P03 \"canceling statement due to lock timeout\"",
        "idle_in_transaction_session_timeout" => {
            "25P03 \"terminating connection due to idle-in-transaction timeout\""
        }
        "idle_session_timeout" => "57P05 \"terminating connection due to idle-session timeout\"",
        "max_statement_time" => {
            "1969 \"Query execution was interrupted (max_statement_time exceeded)\""
        }
        "max_execution_time" => {
            "3024 \"Query execution was interrupted, maximum statement execution time exceeded\""
        }
        "innodb_lock_wait_timeout" => "1205 \"Lock wait timeout exceeded\"",
        _ => "a timeout error",
    }
}

/// One finding per timeout in effect (`timeout_in_effect`, info): the evidence a cancelled
/// statement's cause is a limit, and at which scope it is set.
pub(super) fn evaluate(check: &str, rs: &ResultSet, engine: Engine) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let setting = r.str("setting");
        let Some(ms) = millis(&r.str("value"), &r.str("unit")) else {
            continue;
        };
        if ms <= 0.0 {
            continue;
        }
        let (scope, role, db) = (r.str("scope"), r.str("role_name"), r.str("db_name"));
        let (role_ident, db_ident) = (r.str("role_ident"), r.str("db_ident"));
        let value = human_ms(ms);
        let (place, reset) = match (engine, scope.as_str()) {
            (Engine::Postgres, "role") => (
                format!("for role {role}"),
                format!("ALTER ROLE {role_ident} RESET {setting};"),
            ),
            (Engine::Postgres, "database") => (
                format!("for database {db}"),
                format!("ALTER DATABASE {db_ident} RESET {setting};"),
            ),
            (Engine::Postgres, "role_in_database") => (
                format!("for role {role} in database {db}"),
                format!("ALTER ROLE {role_ident} IN DATABASE {db_ident} RESET {setting};"),
            ),
            (Engine::Postgres, "all_roles") => (
                "for every role (ALTER ROLE ALL)".to_string(),
                format!("ALTER ROLE ALL RESET {setting};"),
            ),
            (Engine::Postgres, _) => (
                "server-wide (postgresql.conf, ALTER SYSTEM or the provider's parameter group)"
                    .to_string(),
                String::new(),
            ),
            (_, "account") => (
                format!("for account {role}"),
                format!("ALTER USER {role_ident} WITH MAX_STATEMENT_TIME 0;"),
            ),
            _ => (
                "server-wide (SET GLOBAL or the option file)".to_string(),
                String::new(),
            ),
        };
        let error = error_of(&setting);
        let mut f = Finding::new(
            check,
            "timeout_in_effect",
            Severity::Info,
            format!("{setting} = {value} {place}: work past it fails with {error}"),
        )
        .fact("setting", &setting)
        .fact("value", &value)
        .fact("value_ms", format!("{ms:.0}"))
        .fact("scope", &scope)
        .fact("place", &place)
        .fact("error", error);
        if !reset.is_empty() {
            f = f.fact("reset_sql", reset);
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(millis("5s", ""), Some(5000.0));
        assert_eq!(millis("2min", ""), Some(120_000.0));
        assert_eq!(millis("1500", "ms"), Some(1500.0));
        assert_eq!(millis("'250ms'", ""), Some(250.0));
        assert_eq!(millis("1.5", "s"), Some(1500.0));
        assert_eq!(millis("0.000000", "s"), Some(0.0));
        assert_eq!(millis("forever", ""), None);
        assert_eq!(human_ms(250.0), "250ms");
        assert_eq!(human_ms(1500.0), "1.5s");
        assert_eq!(human_ms(5000.0), "5s");
        assert_eq!(human_ms(90_000.0), "1m 30s");
    }
}
