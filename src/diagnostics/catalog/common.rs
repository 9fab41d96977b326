//! Evaluation helpers shared by several engines' checks.

use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;
use sqlparser::ast::{Expr, SetExpr, Statement, TableFactor};
use sqlparser::dialect::GenericDialect;
use std::collections::BTreeMap;

/// Groups the catalog's `(tbl, idx, cols, is_unique)` rows and reports indexes whose column list
/// equals another index's on the same table (duplicates). Optional columns refine which one is
/// kept: `constraint_name` (the index backs a PRIMARY KEY / UNIQUE / EXCLUDE constraint),
/// `scans` (index scans since statistics reset), `created_rank` (lower = older, e.g. the oid).
///
/// Exactly one index of each set is kept: the one backing a constraint, else a unique one, else
/// the one with more scans, else the older, else the first by name. Every other member gets one
/// finding with the statement that drops it (`drop_sql`, or `ALTER TABLE … DROP CONSTRAINT` when
/// the extra index itself backs a constraint).
///
/// Rule: two B-tree indexes with identical key columns serve the same lookups; the extra one
/// costs write amplification and space (PostgreSQL docs §11 "Indexes"; MySQL Reference Manual
/// §10.3 "Optimization and Indexes"; PgHero "duplicate indexes").
pub fn duplicate_indexes_by_columns(
    check: &str,
    rs: &ResultSet,
    drop_sql: fn(table: &str, index: &str) -> String,
) -> Vec<Finding> {
    #[derive(Clone)]
    struct Member {
        name: String,
        unique: bool,
        constraint: String,
        scans: i64,
        rank: i64,
    }
    let mut groups: BTreeMap<(String, String), Vec<Member>> = BTreeMap::new();
    for r in rs.iter() {
        let key = (r.str("tbl"), r.str("cols").to_lowercase().replace(' ', ""));
        groups.entry(key).or_default().push(Member {
            name: r.str("idx"),
            unique: r.bool("is_unique").unwrap_or(false),
            constraint: r.str("constraint_name"),
            scans: r.i64("scans").unwrap_or(0),
            rank: r.i64("created_rank").unwrap_or(i64::MAX),
        });
    }
    let mut out = Vec::new();
    for ((table, _), mut idx) in groups {
        if idx.len() < 2 {
            continue;
        }
        idx.sort_by(|a, b| {
            (!b.constraint.is_empty())
                .cmp(&!a.constraint.is_empty())
                .then(b.unique.cmp(&a.unique))
                .then(b.scans.cmp(&a.scans))
                .then(a.rank.cmp(&b.rank))
                .then(a.name.cmp(&b.name))
        });
        let keep = idx[0].clone();
        let why = if !keep.constraint.is_empty() {
            format!("it backs constraint {}", keep.constraint)
        } else if keep.unique {
            "it is unique".to_string()
        } else if keep.scans > idx[1].scans {
            format!("it has more scans ({} vs {})", keep.scans, idx[1].scans)
        } else if keep.rank < idx[1].rank {
            "it is the older one".to_string()
        } else {
            "it sorts first by name".to_string()
        };
        let columns = rs
            .iter()
            .find(|r| r.str("idx") == keep.name && r.str("tbl") == table)
            .map(|r| r.str("display"))
            .filter(|d| !d.is_empty())
            .or_else(|| {
                rs.iter()
                    .find(|r| r.str("idx") == keep.name && r.str("tbl") == table)
                    .map(|r| r.str("cols"))
            })
            .unwrap_or_default();
        for dup in idx.into_iter().skip(1) {
            let sql = if dup.constraint.is_empty() {
                drop_sql(&table, &dup.name)
            } else {
                format!("ALTER TABLE {table} DROP CONSTRAINT {};", dup.constraint)
            };
            out.push(
                Finding::new(
                    check,
                    "duplicate_index",
                    Severity::Warning,
                    format!("Index {} on {table} ({columns}) duplicates {}; keep {} because {why}", dup.name, keep.name, keep.name),
                )
                .detail(if dup.unique {
                    "Both indexes are unique; keep one constraint.".to_string()
                } else {
                    "It slows every write and uses space without serving any lookup the other cannot."
                        .to_string()
                })
                .fact("index", &dup.name)
                .fact("duplicate_of", &keep.name)
                .fact("keep_reason", &why)
                .fact("table", &table)
                .fact("columns", &columns)
                .fact("drop_sql", sql)
                .threshold("identical key columns on the same table (PostgreSQL docs §11; MySQL manual §10.3.1); drop exactly one, keep the one backing a constraint, else more scans, else older"),
            );
        }
    }
    out
}

/// Columns that `query` filters `table` on (WHERE/JOIN predicates), in order of appearance.
///
/// Parses with a generic dialect; placeholders (`$1`, `?`) are fine. Returns an empty list when
/// the text does not parse or does not read `table`.
pub fn where_columns(query: &str, table: &str) -> Vec<String> {
    let table = table.rsplit('.').next().unwrap_or(table).to_lowercase();
    // Query texts come from the database, written by anyone: the same depth and size limits
    // as user SQL, so a deep expression in someone's query cannot overflow the bot's stack.
    let Ok(stmts) = crate::explain::parse_limited(query, &GenericDialect {}, "SQL") else {
        return Vec::new();
    };
    let mut cols = Vec::new();
    for s in &stmts {
        let Statement::Query(q) = s else { continue };
        collect_select(&q.body, &table, &mut cols);
    }
    let mut seen = std::collections::HashSet::new();
    cols.retain(|c| seen.insert(c.clone()));
    cols
}

fn collect_select(body: &SetExpr, table: &str, out: &mut Vec<String>) {
    match body {
        SetExpr::Select(sel) => {
            // Aliases under which `table` appears in FROM.
            let mut names = vec![table.to_string()];
            let mut found = false;
            for twj in &sel.from {
                let mut factors = vec![&twj.relation];
                factors.extend(twj.joins.iter().map(|j| &j.relation));
                for f in factors {
                    if let TableFactor::Table { name, alias, .. } = f {
                        let last = name
                            .0
                            .last()
                            .map(|p| p.to_string().trim_matches(['"', '`']).to_lowercase())
                            .unwrap_or_default();
                        if last == table {
                            found = true;
                            if let Some(a) = alias {
                                names.push(a.name.value.to_lowercase());
                            }
                        }
                    }
                }
            }
            if !found {
                return;
            }
            let single_table = sel.from.len() == 1 && sel.from[0].joins.is_empty();
            if let Some(w) = &sel.selection {
                collect_expr(w, &names, single_table, out);
            }
        }
        SetExpr::Query(q) => collect_select(&q.body, table, out),
        SetExpr::SetOperation { left, right, .. } => {
            collect_select(left, table, out);
            collect_select(right, table, out);
        }
        _ => {}
    }
}

fn column_of(e: &Expr, names: &[String], single_table: bool) -> Option<String> {
    match e {
        Expr::Identifier(id) if single_table => Some(id.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let qual = parts[parts.len() - 2].value.to_lowercase();
            names
                .contains(&qual)
                .then(|| parts[parts.len() - 1].value.to_lowercase())
        }
        Expr::Nested(inner) => column_of(inner, names, single_table),
        _ => None,
    }
}

fn collect_expr(e: &Expr, names: &[String], single: bool, out: &mut Vec<String>) {
    use sqlparser::ast::BinaryOperator as B;
    match e {
        Expr::BinaryOp { left, op, right } => match op {
            B::And | B::Or => {
                collect_expr(left, names, single, out);
                collect_expr(right, names, single, out);
            }
            B::Eq | B::Lt | B::LtEq | B::Gt | B::GtEq => {
                if let Some(c) = column_of(left, names, single) {
                    out.push(c);
                } else if let Some(c) = column_of(right, names, single) {
                    out.push(c);
                }
            }
            _ => {}
        },
        Expr::InList { expr, .. }
        | Expr::Between { expr, .. }
        | Expr::IsNull(expr)
        | Expr::InSubquery { expr, .. } => {
            if let Some(c) = column_of(expr, names, single) {
                out.push(c);
            }
        }
        Expr::Like { expr, .. } | Expr::ILike { expr, .. } => {
            if let Some(c) = column_of(expr, names, single) {
                out.push(c);
            }
        }
        Expr::Nested(inner) => collect_expr(inner, names, single, out),
        _ => {}
    }
}

/// The first column in `candidates` that no index leads with, given a comma-separated list of
/// indexed leading columns.
pub fn first_unindexed(candidates: &[String], indexed_leading: &str) -> Option<String> {
    let indexed: Vec<String> = indexed_leading
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    candidates.iter().find(|c| !indexed.contains(c)).cloned()
}

/// An identifier as SQLite (and PostgreSQL) SQL shown to a human must spell it: bare when it is
/// a plain lower-case name, else in double quotes with embedded quotes doubled (SQLite docs,
/// "SQLite Keywords": double quotes are the standard identifier quotes).
pub fn quote_ident_sqlite(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !matches!(
            name,
            "order"
                | "group"
                | "select"
                | "table"
                | "index"
                | "where"
                | "from"
                | "key"
                | "values"
                | "default"
                | "check"
                | "references"
        );
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A string literal as `engine`'s SQL shown to a human must spell it: single quotes doubled,
/// and on MySQL/MariaDB backslashes doubled too (they escape in string literals unless
/// NO_BACKSLASH_ESCAPES is set; MariaDB KB "String Literals").
pub fn quote_literal(value: &str, engine: crate::config::Engine) -> String {
    let mut v = value.replace('\'', "''");
    if engine == crate::config::Engine::Mysql {
        v = v.replace('\\', "\\\\");
    }
    format!("'{v}'")
}

/// Prepared (two-phase) transactions waiting for their second phase: `pg_prepared_xacts` on
/// PostgreSQL, `XA RECOVER` on MySQL/MariaDB. Each keeps its locks (and, on PostgreSQL, the xmin
/// horizon) until `COMMIT PREPARED` / `ROLLBACK PREPARED` or `XA COMMIT` / `XA ROLLBACK`, across
/// disconnects and restarts (PostgreSQL docs, SQL command PREPARE TRANSACTION; MariaDB KB "XA
/// Transactions"). Severity by age from `prepared_transaction` (warning ≥ 5 min, critical ≥ 1 h:
/// a coordinator finishes the second phase in milliseconds); XA RECOVER gives no age, so a
/// MySQL-family entry is info unless it blocks someone (the blocking check says so).
pub fn prepared_xacts(rs: &ResultSet, engine: crate::config::Engine) -> Vec<Finding> {
    use crate::diagnostics::finding::human_secs;
    let limit = rs.threshold_for("prepared_transaction");
    rs.iter()
        .filter_map(|r| {
            let (xid, age) = match engine {
                crate::config::Engine::Postgres => (
                    quote_literal(&r.str("gid"), engine),
                    r.f64("age_s"),
                ),
                _ => (xa_xid(r)?, None),
            };
            let sev = age.map_or(Severity::Info, |a| limit.grade(a).max(Severity::Info));
            let owner = r.str("owner");
            let database = r.str("database");
            let (rollback, commit, title) = match engine {
                crate::config::Engine::Postgres => (
                    format!("ROLLBACK PREPARED {xid};"),
                    format!("COMMIT PREPARED {xid};"),
                    format!(
                        "prepared transaction {xid} (owner {owner}, database {database}) has waited {} for COMMIT PREPARED or ROLLBACK PREPARED; until then it keeps its locks and holds back VACUUM",
                        human_secs(age.unwrap_or(0.0))
                    ),
                ),
                _ => (
                    format!("XA ROLLBACK {xid};"),
                    format!("XA COMMIT {xid};"),
                    format!("XA transaction {xid} is prepared and waits for XA COMMIT or XA ROLLBACK; until then it keeps its row locks, even with no connection"),
                ),
            };
            let mut f = Finding::new("prepared_xacts", "prepared_xact", sev, title)
                .fact("xid", &xid)
                .fact("rollback_sql", rollback)
                .fact("commit_sql", commit)
                .threshold(limit.citation());
            if let Some(a) = age {
                f = f.fact("age", human_secs(a)).fact("owner", owner).fact("database", database);
            }
            Some(f)
        })
        .collect()
}

/// What ends a prepared XA transaction that blocks others (MySQL/MariaDB), and the statement:
/// `XA ROLLBACK` with its xid when it is known (quoted as XA statements take it), else
/// `XA RECOVER` to list it (MariaDB KB "XA Transactions").
pub fn xa_blocker_remedy(xid: Option<&str>) -> (String, String) {
    match xid {
        Some(xid) => (
            format!("The blocker is the prepared XA transaction {xid}, whose connection is gone: KILL cannot reach it, and it survives a restart. Once its transaction manager confirms it is abandoned, roll it back (XA COMMIT {xid} instead if the manager committed it):"),
            format!("XA ROLLBACK {xid};"),
        ),
        None => (
            "The blocker is a prepared XA transaction whose connection is gone: KILL cannot reach it, and it survives a restart. XA RECOVER lists its xid; once its transaction manager confirms it is abandoned, end it with XA ROLLBACK and that xid (XA COMMIT if the manager committed it):".to_string(),
            "XA RECOVER;".to_string(),
        ),
    }
}

/// The xid of one `XA RECOVER` row as XA statements take it: `'gtrid'`, with `,'bqual',formatID`
/// when those are not the defaults, and hex literals when a part is not printable (MariaDB KB
/// "XA Transactions", xid syntax).
fn xa_xid(r: crate::diagnostics::result::Row<'_>) -> Option<String> {
    let data = r.str("data");
    let bytes = data.as_bytes();
    let g = usize::try_from(r.i64("gtrid_length")?).ok()?;
    let b = usize::try_from(r.i64("bqual_length")?).ok()?;
    let format_id = r.i64("formatID").unwrap_or(1);
    let gtrid = bytes.get(..g)?;
    let bqual = bytes.get(g..g.checked_add(b)?)?;
    let part = |p: &[u8]| -> String {
        if p.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            quote_literal(&String::from_utf8_lossy(p), crate::config::Engine::Mysql)
        } else {
            format!(
                "X'{}'",
                p.iter().map(|c| format!("{c:02x}")).collect::<String>()
            )
        }
    };
    Some(if b == 0 && format_id == 1 {
        part(gtrid)
    } else {
        format!("{},{},{format_id}", part(gtrid), part(bqual))
    })
}

/// For checks whose rows are read by the answer rather than judged on their own
/// (`column_indexes`: which column a question names is known only to the turn, see
/// [`crate::engine`]'s named-column reading).
pub fn no_findings(_: &ResultSet) -> Vec<Finding> {
    Vec::new()
}

/// The name PostgreSQL's own convention gives an index on `columns` (joined by `_`) of
/// `relname`: `<table>_<columns>_idx`, cut to the 63-byte identifier limit (PostgreSQL docs
/// §4.1.1, NAMEDATALEN) and quoted when it is not a plain lower-case name.
/// The statement that builds a one-column index on `table` (as the catalog names it, possibly
/// schema-qualified; `relname` is the bare name the index is named after) the least disruptive
/// way the engine has: PostgreSQL `CONCURRENTLY` (writes continue; PostgreSQL docs, CREATE
/// INDEX "Building Indexes Concurrently"), MySQL/MariaDB online DDL `ALGORITHM=INPLACE,
/// LOCK=NONE` (MySQL manual §17.12.1 Online DDL Operations; MariaDB KB "InnoDB Online DDL"),
/// SQLite a plain `CREATE INDEX` (it holds the write lock while it builds).
pub fn create_index_sql(
    engine: crate::config::Engine,
    table: &str,
    relname: &str,
    col: &str,
) -> String {
    use crate::config::Engine;
    let name = index_name(relname, col);
    match engine {
        Engine::Postgres => format!(
            "CREATE INDEX CONCURRENTLY {name} ON {table} ({});",
            quote_ident_sqlite(col)
        ),
        Engine::Mysql => format!(
            "ALTER TABLE {} ADD INDEX {} ({}), ALGORITHM=INPLACE, LOCK=NONE;",
            quote_ident_mysql(table),
            quote_ident_mysql(&format!("{relname}_{col}_idx")),
            quote_ident_mysql(col)
        ),
        _ => format!(
            "CREATE INDEX {name} ON {} ({});",
            quote_ident_sqlite(table),
            quote_ident_sqlite(col)
        ),
    }
}

pub fn index_name(relname: &str, columns: &str) -> String {
    let mut name = format!("{relname}_{columns}_idx");
    while name.len() > 63 {
        name.pop();
    }
    quote_ident_sqlite(&name)
}

/// Column names too common in prose to be read as naming a column unless the table is named
/// too ("the status page is slow" names no column).
const PROSE_WORDS: &[&str] = &[
    "status",
    "name",
    "type",
    "date",
    "time",
    "data",
    "value",
    "key",
    "order",
    "user",
    "users",
    "state",
    "count",
    "total",
    "amount",
    "price",
    "email",
    "created",
    "updated",
    "text",
    "body",
    "title",
    "description",
    "kind",
    "level",
    "group",
    "role",
    "code",
    "number",
    "report",
    "page",
    "query",
    "index",
    "table",
    "search",
    "events",
    "event",
    "login",
    "session",
    "job",
];

/// `named_column_unindexed`: the column a question names ("lookups by user_id on events are
/// slow"), read against the rows of `column_indexes` (columns no index leads with, largest tables
/// first). The question only points; the schema decides: a finding only when that column exists
/// and no index leads with it. The table must be named too (or be the `object` slot), unless the
/// column's name is distinctive (it contains `_` or has 5+ letters, is not a prose word) and
/// only one listed table has it. Warning from `named_column_unindexed.min_rows` rows (10,000,
/// the `seq_scan_heavy` table size), else info; the statement builds the index the way that
/// blocks writes least on `engine`.
pub fn named_column_finding(
    rs: &ResultSet,
    engine: crate::config::Engine,
    text: &str,
    object: Option<&str>,
) -> Option<Finding> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let object = object.map(str::to_lowercase);
    let names_table = |t: &str| {
        let t = t.to_lowercase();
        object.as_deref() == Some(t.as_str())
            || words.iter().any(|w| {
                *w == t
                    || format!("{w}s") == t
                    || w.strip_suffix('s') == Some(t.as_str())
                    || w.strip_suffix("es") == Some(t.as_str())
            })
    };
    let named: Vec<crate::diagnostics::Row<'_>> = rs
        .iter()
        .filter(|r| words.contains(&r.str("col").to_lowercase().as_str()))
        .collect();
    // "events for a customer" or "by customer id" on the events table: the column the words
    // describe (customer_id), only on a table the question names.
    let described = |col: &str| {
        let c = col.to_lowercase();
        (c.contains('_') && lower.contains(&c.replace('_', " ")))
            || words.iter().filter(|w| w.chars().count() >= 3).any(|w| {
                let one = w.strip_suffix('s').unwrap_or(w);
                [format!("{w}_id"), format!("{one}_id"), format!("{one}id")].contains(&c)
            })
    };
    let described_row = rs
        .iter()
        .find(|r| names_table(&r.str("relname")) && described(&r.str("col")));
    let row = named
        .iter()
        .find(|r| names_table(&r.str("relname")))
        .or(described_row.as_ref())
        .or_else(|| {
            let col = named.first()?.str("col").to_lowercase();
            let distinctive = !PROSE_WORDS.contains(&col.as_str())
                && (col.contains('_') || col.chars().count() >= 5);
            let one_table = named
                .iter()
                .all(|r| r.str("relname") == named[0].str("relname"))
                && named.iter().all(|r| r.str("col").to_lowercase() == col);
            (distinctive && one_table).then(|| &named[0])
        })?;
    let limit = rs.threshold_for("named_column_unindexed");
    let table = row.str("tbl");
    let relname = row.str("relname");
    let col = row.str("col");
    let rows = row.i64("est_rows");
    let create_sql = create_index_sql(engine, &table, &relname, &col);
    let size = match rows {
        Some(n) => format!("~{n} rows"),
        None => "row count unknown".to_string(),
    };
    let big = rows.is_some_and(|n| n as f64 >= limit.value("min_rows"));
    Some(
        Finding::new(
            "column_indexes",
            "named_column_unindexed",
            if big {
                Severity::Warning
            } else {
                Severity::Info
            },
            format!(
                "{table}.{col} has no index that leads with it ({table}: {size}): a query that filters, joins or sorts on {col} reads the whole table"
            ),
        )
        .fact("table", &table)
        .fact("column", &col)
        .fact("rows", size)
        .fact("create_sql", create_sql)
        .threshold(limit.citation()),
    )
}

/// An identifier as MySQL/MariaDB SQL shown to a human must spell it: bare when it is a plain
/// lower-case name, else in backticks with embedded backticks doubled (MariaDB KB "Identifier
/// Names").
pub fn quote_ident_mysql(name: &str) -> String {
    if quote_ident_sqlite(name) == name {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Value;

    #[test]
    fn where_columns_finds_filters() {
        assert_eq!(
            where_columns(
                "SELECT count(*) FROM events WHERE user_email = $1 AND kind = 'x'",
                "public.events"
            ),
            vec!["user_email", "kind"]
        );
        assert_eq!(
            where_columns("select * from orders o join events e on e.order_id = o.id where e.session_id in (1,2)", "events"),
            vec!["session_id"]
        );
        assert!(where_columns("select * from other where a = 1", "events").is_empty());
        assert!(where_columns("not sql at all", "events").is_empty());
    }

    #[test]
    fn duplicates_keep_the_unique_one() {
        let rs = ResultSet::new(
            &["tbl", "idx", "cols", "is_unique"],
            vec![
                vec![
                    Value::Text("t".into()),
                    Value::Text("a_idx".into()),
                    Value::Text("a".into()),
                    Value::Bool(false),
                ],
                vec![
                    Value::Text("t".into()),
                    Value::Text("a_key".into()),
                    Value::Text("a".into()),
                    Value::Bool(true),
                ],
                vec![
                    Value::Text("t".into()),
                    Value::Text("b_idx".into()),
                    Value::Text("b".into()),
                    Value::Bool(false),
                ],
            ],
        );
        let f = duplicate_indexes_by_columns("duplicate_indexes", &rs, |t, i| {
            format!("DROP INDEX {i} ON {t}")
        });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].facts["index"], "a_idx");
        assert_eq!(f[0].facts["duplicate_of"], "a_key");
        assert_eq!(f[0].facts["drop_sql"], "DROP INDEX a_idx ON t");
    }

    fn row(idx: &str, constraint: &str, scans: i64, rank: i64) -> Vec<Value> {
        vec![
            Value::Text("t".into()),
            Value::Text(idx.into()),
            Value::Text("a".into()),
            Value::Bool(!constraint.is_empty()),
            Value::Text(constraint.into()),
            Value::Int(scans),
            Value::Int(rank),
        ]
    }
    const COLS: &[&str] = &[
        "tbl",
        "idx",
        "cols",
        "is_unique",
        "constraint_name",
        "scans",
        "created_rank",
    ];

    fn drops(rows: Vec<Vec<Value>>) -> Vec<(String, String, String)> {
        duplicate_indexes_by_columns("duplicate_indexes", &ResultSet::new(COLS, rows), |_, i| {
            format!("DROP INDEX CONCURRENTLY IF EXISTS {i};")
        })
        .into_iter()
        .map(|f| {
            (
                f.facts["index"].clone(),
                f.facts["duplicate_of"].clone(),
                f.facts["drop_sql"].clone(),
            )
        })
        .collect()
    }

    /// Exactly one index of a duplicate set is dropped; the constraint's index is kept.
    #[test]
    fn duplicate_set_keeps_the_constraint_index() {
        let d = drops(vec![
            row("t_a_idx", "", 900, 1),
            row("t_a_key", "t_a_key", 0, 2),
        ]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "t_a_idx");
        assert_eq!(d[0].1, "t_a_key");
    }

    /// Without a constraint, the one with more scans is kept, then the older one.
    #[test]
    fn duplicate_set_keeps_more_scans_then_older() {
        let d = drops(vec![row("old", "", 1, 1), row("busy", "", 50, 2)]);
        assert_eq!((d[0].0.as_str(), d[0].1.as_str()), ("old", "busy"));
        let d = drops(vec![row("newer", "", 0, 9), row("older", "", 0, 3)]);
        assert_eq!((d[0].0.as_str(), d[0].1.as_str()), ("newer", "older"));
        // A set of three: two drops, never the kept one.
        let d = drops(vec![
            row("x1", "", 0, 1),
            row("x2", "", 0, 2),
            row("x3", "", 0, 3),
        ]);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|(i, keep, _)| i != "x1" && keep == "x1"));
    }

    /// When the extra index backs a constraint itself, the fix drops the constraint.
    #[test]
    fn duplicate_constraint_is_dropped_as_a_constraint() {
        let d = drops(vec![
            row("t_pkey", "t_pkey", 0, 1),
            row("t_a_uniq", "t_a_uniq", 0, 2),
        ]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].2, "ALTER TABLE t DROP CONSTRAINT t_a_uniq;");
    }

    #[test]
    fn sqlite_identifiers_are_quoted_unless_plain() {
        assert_eq!(quote_ident_sqlite("orders"), "orders");
        assert_eq!(quote_ident_sqlite("Order Items"), "\"Order Items\"");
        assert_eq!(quote_ident_sqlite("order"), "\"order\"");
        assert_eq!(quote_ident_sqlite("a\"b"), "\"a\"\"b\"");
    }
}
