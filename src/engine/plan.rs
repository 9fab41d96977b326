//! Plain-language notes on an EXPLAIN plan: which tables the plan reads whole while the query
//! filters them, and, from the target's own index list, whether an index on the filtered column
//! is missing (the statement to build it) or exists and the planner chose not to use it (the
//! estimate, and how to refresh statistics). Statements are shown, never run.

use crate::config::Engine;
use crate::diagnostics::catalog::{
    create_index_sql, quote_ident, quote_ident_mysql, where_columns,
};
use crate::diagnostics::{CheckOutcome, CheckStatus};
use std::collections::BTreeMap;

/// Notes for the user, and statements for a human to review and run.
#[derive(Debug, Default, PartialEq)]
pub struct Hints {
    pub notes: Vec<String>,
    pub statements: Vec<String>,
}

/// A table the plan reads whole (full scan) while the query filters it on `columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// The table as the plan names it (lower case, no schema).
    pub table: String,
    pub columns: Vec<String>,
    /// The planner's row estimate for the scan (PostgreSQL `rows=`, MySQL's `rows` column).
    pub estimated_rows: Option<i64>,
}

/// The full scans in `plan` (the engine's EXPLAIN output, one plan line per text line), each
/// with the columns `sql` filters that table on.
pub fn scans(plan: &str, sql: &str, engine: Engine) -> Vec<Scan> {
    let lower = plan.to_lowercase();
    let found: Vec<(String, Option<i64>)> = match engine {
        Engine::Postgres => lower
            .lines()
            .filter_map(|l| {
                let rest = l.split("seq scan on ").nth(1)?;
                let table = rest.split_whitespace().next()?.to_string();
                let rows = rest
                    .split("rows=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse().ok());
                Some((table, rows))
            })
            .collect(),
        Engine::Sqlite => lower
            .lines()
            .filter_map(|l| l.split("scan ").nth(1))
            .filter(|rest| !rest.contains("using"))
            .filter_map(|rest| {
                rest.split_whitespace()
                    .next()
                    .map(|t| (t.to_string(), None))
            })
            .collect(),
        Engine::Mysql => {
            // The tabular EXPLAIN: id | select_type | table | partitions | type | … | rows | …
            let mut lines = lower.lines();
            let header: Vec<String> = lines
                .next()
                .map(|h| h.split(" | ").map(|c| c.trim().to_string()).collect())
                .unwrap_or_default();
            let col = |name: &str| header.iter().position(|c| c == name);
            let (Some(t), Some(ty)) = (col("table"), col("type")) else {
                return Vec::new();
            };
            let rows = col("rows");
            lines
                .filter_map(|l| {
                    let cells: Vec<&str> = l.split(" | ").map(str::trim).collect();
                    (cells.get(ty) == Some(&"all")).then(|| {
                        (
                            cells.get(t).unwrap_or(&"").to_string(),
                            rows.and_then(|r| cells.get(r)).and_then(|r| r.parse().ok()),
                        )
                    })
                })
                .filter(|(t, _)| !t.is_empty())
                .collect()
        }
        Engine::Mssql => vec![],
    };
    found
        .into_iter()
        .map(|(table, estimated_rows)| Scan {
            columns: where_columns(sql, &table),
            table,
            estimated_rows,
        })
        .collect()
}

/// Indexes by table (lower-case bare table name) with the column each leads with, read from
/// the `index_list` check. `None` when the check did not run, or its rows were cut at the row
/// cap (a missing table then proves nothing).
pub fn leading_columns(outcome: &CheckOutcome) -> Option<BTreeMap<String, Vec<(String, String)>>> {
    if outcome.status != CheckStatus::Ok || outcome.rows.truncated {
        return None;
    }
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in outcome.rows.iter() {
        let table = r.str("tbl");
        let bare = table.rsplit('.').next().unwrap_or(&table).to_lowercase();
        let lead = if outcome.rows.columns.iter().any(|c| c == "definition") {
            // PostgreSQL: CREATE [UNIQUE] INDEX name ON schema.table USING btree (col, …)
            let def = r.str("definition");
            def.split_once(" USING ")
                .and_then(|(_, rest)| rest.split_once('('))
                .map(|(_, cols)| {
                    cols.split([',', ')'])
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default()
        } else {
            r.str("cols")
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        };
        // An expression index (lower(email)) leads with no plain column.
        let lead = lead.trim_matches('"').to_lowercase();
        if lead.is_empty() || lead.contains('(') || lead.contains(' ') {
            continue;
        }
        out.entry(bare).or_default().push((r.str("idx"), lead));
    }
    Some(out)
}

/// The notes for `scans`, given the target's indexes (`None`: unknown, so no index is proposed).
pub fn hints(
    scans: &[Scan],
    indexes: Option<&BTreeMap<String, Vec<(String, String)>>>,
    engine: Engine,
) -> Hints {
    let mut h = Hints::default();
    for s in scans {
        if s.columns.is_empty() {
            h.notes.push(format!("Full scan of {}.", s.table));
            continue;
        }
        let cols = s.columns.join(", ");
        let Some(indexes) = indexes else {
            h.notes.push(format!(
                "Full scan of {} while filtering on {cols}: if no index leads with {}, one would let the planner search instead of scan.",
                s.table, s.columns[0]
            ));
            continue;
        };
        let existing = indexes.get(&s.table).and_then(|ix| {
            ix.iter()
                .find(|(_, lead)| s.columns.iter().any(|c| c.eq_ignore_ascii_case(lead)))
        });
        match existing {
            Some((index, lead)) => {
                let estimate = s
                    .estimated_rows
                    .map(|n| format!(" It expects the filter to match about {n} rows;"))
                    .unwrap_or_default();
                h.notes.push(format!(
                    "Full scan of {} although index {index} leads with {lead}: the planner judged reading the whole table cheaper than the index.{estimate} when a filter matches a large share of the table that is the right choice, and another index would not help. If far fewer rows really match, the table's statistics are out of date: refresh them and plan again.",
                    s.table
                ));
                let analyze = match engine {
                    Engine::Mysql => format!("ANALYZE TABLE {};", quote_ident_mysql(&s.table)),
                    _ => format!("ANALYZE {};", quote_ident(&s.table)),
                };
                if !h.statements.contains(&analyze) {
                    h.statements.push(analyze);
                }
            }
            None => {
                h.notes.push(format!(
                    "Full scan of {} while filtering on {cols}, and no index leads with {}: an index on it lets the planner search instead of scan{}.",
                    s.table,
                    s.columns[0],
                    match engine {
                        Engine::Postgres => " (built CONCURRENTLY, so writes continue while it builds)",
                        Engine::Mysql => " (built online, ALGORITHM=INPLACE, LOCK=NONE; run it off-peak)",
                        Engine::Sqlite => " (writes wait while SQLite builds it; run it off-peak)",
                        Engine::Mssql => "",
                    }
                ));
                let create = create_index_sql(engine, &s.table, &s.table, &s.columns[0]);
                if !h.statements.contains(&create) {
                    h.statements.push(create);
                }
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_seq_scans_with_their_estimate() {
        let plan = "Seq Scan on orders  (cost=0.00..3774.00 rows=199 width=20)\n  Filter: (customer_id = 5)";
        assert_eq!(
            scans(
                plan,
                "select * from orders where customer_id = 5",
                Engine::Postgres
            ),
            vec![Scan {
                table: "orders".into(),
                columns: vec!["customer_id".into()],
                estimated_rows: Some(199)
            }]
        );
    }

    #[test]
    fn mysql_type_all_rows_read_from_the_columns() {
        let plan = "id | select_type | table | partitions | type | possible_keys | key | key_len | ref | rows | filtered | Extra\n1 | SIMPLE | orders | NULL | ALL | NULL | NULL | NULL | NULL | 66016 | 10.00 | Using where";
        assert_eq!(
            scans(
                plan,
                "select * from orders where customer_id = 5",
                Engine::Mysql
            ),
            vec![Scan {
                table: "orders".into(),
                columns: vec!["customer_id".into()],
                estimated_rows: Some(66016)
            }]
        );
    }

    #[test]
    fn an_existing_index_is_never_proposed_again() {
        let scan = Scan {
            table: "orders".into(),
            columns: vec!["status".into()],
            estimated_rows: Some(66666),
        };
        let mut ix = BTreeMap::new();
        ix.insert(
            "orders".to_string(),
            vec![("orders_status_idx".to_string(), "status".to_string())],
        );
        let h = hints(std::slice::from_ref(&scan), Some(&ix), Engine::Postgres);
        assert!(
            h.notes[0].contains("although index orders_status_idx"),
            "{h:?}"
        );
        assert!(h.notes[0].contains("66666 rows"), "{h:?}");
        assert_eq!(h.statements, vec!["ANALYZE orders;".to_string()]);
        // Without it, the statement that builds it, per engine.
        ix.clear();
        let h = hints(std::slice::from_ref(&scan), Some(&ix), Engine::Postgres);
        assert_eq!(
            h.statements,
            vec!["CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);".to_string()]
        );
        let h = hints(std::slice::from_ref(&scan), Some(&ix), Engine::Mysql);
        assert_eq!(
            h.statements,
            vec!["ALTER TABLE orders ADD INDEX orders_status_idx (status), ALGORITHM=INPLACE, LOCK=NONE;".to_string()]
        );
        // Unknown indexes: no statement, and the note says what it depends on.
        let h = hints(&[scan], None, Engine::Sqlite);
        assert!(h.statements.is_empty());
        assert!(
            h.notes[0].contains("if no index leads with status"),
            "{h:?}"
        );
    }
}
