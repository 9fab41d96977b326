//! The allow-list: every SQL statement the bot may ever run against a target, compiled in.
//!
//! A [`Check`] is one engine's implementation of a named diagnostic (`blocking_chains`). Several
//! checks may share a name for one engine; the runner uses the first whose `precondition` holds
//! (e.g. `pg_stat_statements` installed, MySQL 8 `performance_schema.data_lock_waits` present).
//! Nothing outside this module hands SQL text to the runner except the EXPLAIN path, which only
//! accepts a statement [`crate::explain`] has proven to be one SELECT.

mod checkpoints;
mod common;
mod mssql;
mod mysql;
mod postgres;
mod sqlite;
mod timeouts;

use super::{Finding, ResultSet};
use crate::config::Engine;

pub use common::{
    create_index_sql, named_column_finding, quote_ident_mysql, quote_ident_sqlite as quote_ident,
    where_columns, xa_blocker_remedy,
};

/// Turns a check's rows into findings.
pub type Evaluate = fn(&ResultSet) -> Vec<Finding>;

/// A query that decides whether a check variant applies: its first cell is truthy or not.
#[derive(Debug, Clone, Copy)]
pub struct Precondition {
    pub sql: &'static str,
    /// Why the check cannot run when no variant's precondition holds (shown as an info finding).
    pub unavailable: &'static str,
}

/// One allow-listed diagnostic for one engine.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Engine-neutral name (`blocking_chains`), as used by intents and reports.
    pub name: &'static str,
    pub engine: Engine,
    /// One line for humans.
    pub title: &'static str,
    /// The SELECT (or, for MySQL replication only, SHOW) statement. Read-only by construction;
    /// `tests` in this module parse every entry and assert it.
    pub sql: &'static str,
    pub precondition: Option<Precondition>,
    pub evaluate: Evaluate,
}

/// Every check in the binary.
pub fn all() -> impl Iterator<Item = &'static Check> {
    postgres::CHECKS
        .iter()
        .chain(mysql::CHECKS.iter())
        .chain(sqlite::CHECKS.iter())
        .chain(mssql::CHECKS.iter())
}

/// The variants of `name` for `engine`, in preference order (empty when the engine lacks it).
pub fn variants(engine: Engine, name: &str) -> Vec<&'static Check> {
    all()
        .filter(|c| c.engine == engine && c.name == name)
        .collect()
}

/// Distinct check names available for `engine`.
pub fn names(engine: Engine) -> Vec<&'static str> {
    let mut v: Vec<&str> = all()
        .filter(|c| c.engine == engine)
        .map(|c| c.name)
        .collect();
    v.dedup();
    v
}

/// Every engine-neutral check name known to any engine (used to validate the intent catalog).
pub fn known_names() -> std::collections::BTreeSet<&'static str> {
    all().map(|c| c.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Statement;
    use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
    use sqlparser::parser::Parser;

    /// Every catalog entry is a single read-only statement.
    #[test]
    fn every_check_is_a_single_read_only_statement() {
        for c in all() {
            let sqls = std::iter::once(c.sql).chain(c.precondition.map(|p| p.sql));
            for sql in sqls {
                let upper = sql.trim_start().to_uppercase();
                if c.engine == Engine::Mysql
                    && (upper.starts_with("SHOW ") || upper.starts_with("XA "))
                {
                    assert!(
                        mysql::ALLOWED_SHOW.contains(&sql.trim()),
                        "{}: SHOW / XA statement not in the allow-list: {sql}",
                        c.name
                    );
                    continue;
                }
                let parsed = match c.engine {
                    Engine::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
                    Engine::Mysql => Parser::parse_sql(&MySqlDialect {}, sql),
                    Engine::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
                    Engine::Mssql => {
                        mssql::tests::denylist(c.name, sql);
                        Parser::parse_sql(&MsSqlDialect {}, sql)
                    }
                };
                let stmts = parsed.unwrap_or_else(|e| {
                    panic!("{} {}: does not parse: {e}\n{sql}", c.engine, c.name)
                });
                assert_eq!(stmts.len(), 1, "{} {}: one statement", c.engine, c.name);
                let ok = match &stmts[0] {
                    Statement::Query(q) => crate::explain::is_read_only_query(q),
                    _ => false,
                };
                assert!(ok, "{} {}: not read-only: {sql}", c.engine, c.name);
            }
        }
    }

    #[test]
    fn names_cover_the_readme_list() {
        for n in [
            "overview",
            "blocking_chains",
            "duplicate_indexes",
            "seq_scans",
            "integrity",
        ] {
            assert!(known_names().contains(n), "{n}");
        }
    }
}
