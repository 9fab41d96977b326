//! Which grant a "permission denied" needs, read from the server's own error.
//!
//! A check or an `EXPLAIN` that the bot's login may not run must say what to grant, not only
//! that it failed (and never pass off what it could not see as "no problems"). The grant is taken
//! from the object the server names, so it is exact; the predefined roles follow the grants that
//! `deploy/README.md` documents per engine:
//!
//! * PostgreSQL SQLSTATE 42501 `insufficient_privilege` (PostgreSQL docs, Appendix A):
//!   "permission denied for table|view|relation|sequence|schema|function X". Statistics
//!   functions and views are covered by `pg_monitor`; row data (which `EXPLAIN` needs, it
//!   checks SELECT privilege on every table it plans) by SELECT on the table or
//!   `pg_read_all_data` (PostgreSQL 14+, docs §22.5 Predefined Roles).
//! * MySQL/MariaDB: 1142 `ER_TABLEACCESS_DENIED_ERROR` ("SELECT command denied to user 'u'@'h'
//!   for table `db`.`t`"), 1143 `ER_COLUMNACCESS_DENIED_ERROR`, 1044 `ER_DBACCESS_DENIED_ERROR`
//!   ("Access denied for user 'u'@'h' to database 'db'"), 1227 `ER_SPECIFIC_ACCESS_DENIED_ERROR`
//!   ("you need (at least one of) the PROCESS privilege(s)"), MySQL manual "Server Error
//!   Message Reference" / MariaDB KB "MariaDB Error Codes".
//! * SQL Server 229 / 297 / 300 ("The SELECT permission was denied on the object 'X'", "VIEW
//!   SERVER STATE permission was denied"), Microsoft Learn "Database engine errors".

use regex::Regex;
use std::sync::LazyLock;

/// The reader of the grant for a missing-privilege error `code` (SQLSTATE or server error
/// number), or `None` when the code is not about privileges.
fn reader(code: &str) -> Option<fn(&str) -> Option<String>> {
    Some(match code {
        "42501" => pg_grant,
        "1142" | "1143" => my_table_grant,
        "1044" => my_db_grant,
        "1227" => my_global_grant,
        "229" | "230" | "297" | "300" => mssql_grant,
        _ => return None,
    })
}

/// Whether `code` (SQLSTATE or server error number) is a missing-privilege error.
pub fn is_privilege_error(code: &str) -> bool {
    reader(code).is_some()
}

/// The grant that would let the statement run, with the login still to be named (see
/// [`name_login`]), or `None` when the error is not about privileges. `code` is the SQLSTATE
/// (PostgreSQL) or the server error number (MySQL, MariaDB, SQL Server).
pub fn grant_template(code: &str, message: &str) -> Option<String> {
    reader(code)?(message)
}

/// Fills the bot's login into a [`grant_template`]: `login` as the engine spells it in GRANT
/// (`dbabot`, `'dbabot'@'%'`), taken from `current_user` / `CURRENT_USER()` (MySQL's errors name
/// the connecting host, not the account's host pattern).
pub fn name_login(template: &str, login: &str) -> String {
    template.replace(LOGIN, login)
}

/// The grant for `code`/`message` with `login` filled in.
pub fn grant_for(code: &str, message: &str, login: &str) -> Option<String> {
    grant_template(code, message).map(|g| name_login(&g, login))
}

/// Stands for the login until [`name_login`] fills it in.
const LOGIN: &str = "\u{0}login\u{0}";

static PG_OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"permission denied for (table|view|relation|sequence|materialized view|schema|function|database) ([^\s;,]+)")
        .expect("static regex")
});

fn pg_grant(message: &str) -> Option<String> {
    let Some(c) = PG_OBJECT.captures(message) else {
        return Some(format!(
            "GRANT pg_monitor TO {LOGIN}; (statistics views and functions, PostgreSQL docs §22.5)"
        ));
    };
    let (kind, object) = (&c[1], &c[2]);
    Some(match kind {
        "function" if object.starts_with("pg_") => format!(
            "GRANT pg_monitor TO {LOGIN}; ({object} is allowed to pg_monitor members, PostgreSQL docs §22.5)"
        ),
        "function" => format!("GRANT EXECUTE ON FUNCTION {object} TO {LOGIN};"),
        "schema" => format!("GRANT USAGE ON SCHEMA {object} TO {LOGIN};"),
        "database" => format!("GRANT CONNECT ON DATABASE {object} TO {LOGIN};"),
        "sequence" => format!("GRANT SELECT ON SEQUENCE {object} TO {LOGIN};"),
        _ => format!(
            "GRANT SELECT ON {object} TO {LOGIN}; (EXPLAIN needs SELECT on every table it plans; or GRANT pg_read_all_data TO {LOGIN}; on PostgreSQL 14+)"
        ),
    })
}

static MY_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(\w+) command denied to user ('[^']*'@'[^']*') for (?:column '[^']*' in )?table [`']([^`']+)[`']?(?:\.[`']([^`']+)[`'])?")
        .expect("static regex")
});

fn my_table_grant(message: &str) -> Option<String> {
    let c = MY_TABLE.captures(message)?;
    let object = match c.get(4) {
        Some(t) => format!("`{}`.`{}`", &c[3], t.as_str()),
        None => format!("`{}`", &c[3]),
    };
    // The error names the connecting host, not the account's host pattern: the login is filled
    // in from CURRENT_USER() instead.
    Some(format!(
        "GRANT {} ON {object} TO {LOGIN};",
        c[1].to_ascii_uppercase()
    ))
}

static MY_DB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)access denied for user ('[^']*'@'[^']*') to database '([^']+)'")
        .expect("static regex")
});

fn my_db_grant(message: &str) -> Option<String> {
    let c = MY_DB.captures(message)?;
    Some(format!(
        "GRANT SELECT, SHOW VIEW ON `{}`.* TO {LOGIN};",
        &c[2]
    ))
}

static MY_GLOBAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)you need \(at least one of\) the ([A-Z ,_]+?) privilege")
        .expect("static regex")
});

fn my_global_grant(message: &str) -> Option<String> {
    let c = MY_GLOBAL.captures(message)?;
    let first = c[1].split(',').next().unwrap_or(&c[1]).trim().to_string();
    Some(format!("GRANT {first} ON *.* TO {LOGIN};"))
}

static MSSQL_OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)the (\w+(?: \w+)*?) permission was denied on the object '([^']+)'(?:, database '([^']+)', schema '([^']+)')?")
        .expect("static regex")
});

fn mssql_grant(message: &str) -> Option<String> {
    if message.contains("VIEW SERVER STATE") {
        return Some(format!(
            "GRANT VIEW SERVER STATE TO {LOGIN}; (SQL Server 2022: VIEW SERVER PERFORMANCE STATE)"
        ));
    }
    if message.contains("VIEW DATABASE STATE") {
        return Some(format!("GRANT VIEW DATABASE STATE TO {LOGIN};"));
    }
    let c = MSSQL_OBJECT.captures(message)?;
    let object = match (c.get(4), c.get(2)) {
        (Some(schema), Some(o)) => format!("{}.{}", schema.as_str(), o.as_str()),
        (_, Some(o)) => o.as_str().to_string(),
        _ => return None,
    };
    Some(format!(
        "GRANT {} ON {object} TO {LOGIN};",
        c[1].to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::grant_for;

    #[test]
    fn postgres_names_the_object_and_the_role() {
        assert_eq!(
            grant_for("42501", "permission denied for table orders", "dbabot").as_deref(),
            Some("GRANT SELECT ON orders TO dbabot; (EXPLAIN needs SELECT on every table it plans; or GRANT pg_read_all_data TO dbabot; on PostgreSQL 14+)")
        );
        assert!(grant_for(
            "42501",
            "permission denied for function pg_ls_waldir",
            "dbabot"
        )
        .is_some_and(|g| g.starts_with("GRANT pg_monitor")));
        assert!(
            grant_for("42501", "permission denied for schema app", "dbabot")
                .is_some_and(|g| g == "GRANT USAGE ON SCHEMA app TO dbabot;")
        );
        assert!(grant_for("23505", "duplicate key value", "dbabot").is_none());
    }

    #[test]
    fn mysql_names_the_table_the_database_and_the_privilege() {
        assert_eq!(
            grant_for(
                "1142",
                "SELECT command denied to user 'dbabot'@'10.0.0.5' for table `shop`.`orders`",
                "x"
            )
            .as_deref(),
            Some("GRANT SELECT ON `shop`.`orders` TO x;")
        );
        assert_eq!(
            grant_for(
                "1142",
                "SELECT command denied to user 'dbabot'@'%' for table 'global_priv'",
                "x"
            )
            .as_deref(),
            Some("GRANT SELECT ON `global_priv` TO x;")
        );
        assert_eq!(
            grant_for(
                "1044",
                "Access denied for user 'dbabot'@'%' to database 'shop'",
                "x"
            )
            .as_deref(),
            Some("GRANT SELECT, SHOW VIEW ON `shop`.* TO x;")
        );
        assert_eq!(
            grant_for("1227", "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation", "x").as_deref(),
            Some("GRANT PROCESS ON *.* TO x;")
        );
    }

    #[test]
    fn sql_server_names_the_permission() {
        assert_eq!(
            grant_for("229", "The SELECT permission was denied on the object 'orders', database 'shop', schema 'dbo'.", "x").as_deref(),
            Some("GRANT SELECT ON dbo.orders TO x;")
        );
        assert!(grant_for(
            "297",
            "VIEW SERVER STATE permission was denied on object 'server', database 'master'.",
            "x"
        )
        .is_some_and(|g| g.starts_with("GRANT VIEW SERVER STATE")));
    }
}
