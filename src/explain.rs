//! The only path by which user- or LLM-supplied SQL reaches a database: as the argument of a
//! plain `EXPLAIN` (never `ANALYZE`), and only after sqlparser has shown it to be exactly one
//! read-only SELECT. The statement that runs is re-rendered from the parsed tree, so text the
//! parser did not understand (comment tricks, a second statement) cannot ride along.

use crate::config::Engine;
use sqlparser::ast::{Query, SetExpr, Statement};
use sqlparser::dialect::{Dialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

/// Why a statement was refused for EXPLAIN. The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no SQL statement to explain")]
    Empty,
    #[error("the SQL does not parse: {0}")]
    Parse(String),
    #[error("it contains {0} statements; I only explain exactly one SELECT")]
    MultipleStatements(usize),
    #[error("it is a {0} statement; I only explain a single SELECT and never run anything that changes data")]
    NotSelect(String),
    #[error("the SELECT writes or locks ({0}); I only explain plain reads")]
    WritesOrLocks(&'static str),
}

/// A statement proven to be one read-only SELECT, ready for `EXPLAIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeSelect {
    sql: String,
    /// The user asked for EXPLAIN ANALYZE; we ran plain EXPLAIN and say so.
    pub analyze_requested: bool,
}

impl SafeSelect {
    /// The re-rendered SELECT text (no trailing semicolon).
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

fn dialect(engine: Engine) -> Box<dyn Dialect> {
    match engine {
        Engine::Postgres => Box::new(PostgreSqlDialect {}),
        Engine::Mysql => Box::new(MySqlDialect {}),
        Engine::Sqlite => Box::new(SQLiteDialect {}),
        Engine::Mssql => Box::new(MsSqlDialect {}),
    }
}

/// Accepts `sql` only if it is exactly one read-only SELECT (optionally written as
/// `EXPLAIN [ANALYZE] SELECT …`, in which case only plain EXPLAIN will run).
///
/// # Errors
/// A [`Refusal`] saying why.
pub fn check_select(sql: &str, engine: Engine) -> Result<SafeSelect, Refusal> {
    let trimmed = sql.trim().trim_end_matches(';').trim();
    if trimmed.is_empty() {
        return Err(Refusal::Empty);
    }
    let d = dialect(engine);
    let stmts = Parser::parse_sql(d.as_ref(), sql).map_err(|e| Refusal::Parse(e.to_string()))?;
    match stmts.len() {
        0 => return Err(Refusal::Empty),
        1 => {}
        n => return Err(Refusal::MultipleStatements(n)),
    }
    let (query, analyze_requested) = match &stmts[0] {
        Statement::Query(q) => (q, false),
        Statement::Explain {
            statement, analyze, ..
        } => match statement.as_ref() {
            Statement::Query(q) => (q, *analyze),
            other => return Err(Refusal::NotSelect(kind(other))),
        },
        other => return Err(Refusal::NotSelect(kind(other))),
    };
    read_only_reason(query).map_or(Ok(()), |r| Err(Refusal::WritesOrLocks(r)))?;
    Ok(SafeSelect {
        sql: query.to_string(),
        analyze_requested,
    })
}

/// True when the query only reads: no data-modifying CTE, no `SELECT … INTO`, no `FOR UPDATE`.
pub fn is_read_only_query(q: &Query) -> bool {
    read_only_reason(q).is_none()
}

fn read_only_reason(q: &Query) -> Option<&'static str> {
    if !q.locks.is_empty() {
        return Some("FOR UPDATE/SHARE locking clause");
    }
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            if let Some(r) = read_only_reason(&cte.query) {
                return Some(r);
            }
        }
    }
    set_expr_reason(&q.body)
}

fn set_expr_reason(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Select(s) => s.into.as_ref().map(|_| "SELECT … INTO creates a table"),
        SetExpr::Query(q) => read_only_reason(q),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr_reason(left).or_else(|| set_expr_reason(right))
        }
        SetExpr::Values(_) | SetExpr::Table(_) => None,
        _ => Some("a data-modifying statement inside the query"),
    }
}

/// A short name of the statement kind for refusals ("DELETE", "DROP TABLE").
fn kind(s: &Statement) -> String {
    let text = s.to_string();
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("").to_uppercase();
    match first.as_str() {
        "DROP" | "CREATE" | "ALTER" | "TRUNCATE" => {
            format!("{first} {}", words.next().unwrap_or("").to_uppercase())
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_select() {
        let s =
            check_select("select * from orders where id = 1;", Engine::Postgres).expect("select");
        assert_eq!(s.sql(), "SELECT * FROM orders WHERE id = 1");
        assert!(check_select("WITH x AS (SELECT 1) SELECT * FROM x", Engine::Postgres).is_ok());
        assert!(check_select("select 1 union select 2", Engine::Mysql).is_ok());
    }

    #[test]
    fn explain_analyze_runs_as_plain_explain() {
        let s = check_select("EXPLAIN ANALYZE SELECT * FROM t", Engine::Postgres).expect("ok");
        assert!(s.analyze_requested);
        assert_eq!(s.sql(), "SELECT * FROM t");
    }

    #[test]
    fn refuses_everything_else() {
        use Refusal::*;
        assert!(
            matches!(check_select("DELETE FROM orders", Engine::Postgres), Err(NotSelect(k)) if k == "DELETE")
        );
        assert!(matches!(
            check_select("SELECT 1; DROP TABLE x", Engine::Postgres),
            Err(MultipleStatements(2))
        ));
        assert!(
            matches!(check_select("DROP TABLE x", Engine::Mysql), Err(NotSelect(k)) if k == "DROP TABLE")
        );
        assert!(matches!(
            check_select(
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                Engine::Postgres
            ),
            Err(WritesOrLocks(_))
        ));
        assert!(matches!(
            check_select("SELECT * INTO newt FROM t", Engine::Postgres),
            Err(WritesOrLocks(_))
        ));
        assert!(matches!(
            check_select("SELECT * FROM t FOR UPDATE", Engine::Postgres),
            Err(WritesOrLocks(_))
        ));
        assert!(matches!(
            check_select("EXPLAIN ANALYZE DELETE FROM t", Engine::Postgres),
            Err(NotSelect(_))
        ));
        assert!(matches!(check_select("  ", Engine::Postgres), Err(Empty)));
        assert!(matches!(
            check_select("SELEC oops", Engine::Postgres),
            Err(Parse(_))
        ));
        assert!(matches!(
            check_select("UPDATE t SET a = 1", Engine::Sqlite),
            Err(NotSelect(_))
        ));
    }
}
