//! SQLite diagnostics (the bundled demo, and any SQLite file an operator registers).
//! Uses the table-valued pragma functions (SQLite ≥ 3.16, "PRAGMA functions").

use super::common::duplicate_indexes_by_columns;
use super::postgres::no_pk;
use super::{Check, Precondition};
use crate::config::Engine;
use crate::diagnostics::finding::human_bytes;
use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;

const E: Engine = Engine::Sqlite;

const HAS_STAT1: Precondition = Precondition {
    sql: "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_stat1'",
    unavailable: "",
};

/// The dbstat virtual table is compiled in (SQLITE_ENABLE_DBSTAT_VTAB; the bundled build has it).
/// Without `sqlite_stat1` (no ANALYZE yet) the checks count a table's rows from its b-tree:
/// the cells on the leaf pages of a rowid table are its rows ("The DBSTAT Virtual Table").
const HAS_DBSTAT: Precondition = Precondition {
    sql: "SELECT count(*) > 0 FROM pragma_module_list WHERE name = 'dbstat'",
    unavailable: "",
};

pub(super) static CHECKS: &[Check] = &[
    Check {
        name: "overview",
        engine: E,
        title: "SQLite version, size, tables and indexes",
        sql: "SELECT sqlite_version() AS version,
       (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()) AS size_bytes,
       (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%') AS tables,
       (SELECT count(*) FROM sqlite_schema WHERE type = 'index') AS indexes,
       (SELECT journal_mode FROM pragma_journal_mode()) AS journal_mode",
        precondition: None,
        evaluate: overview,
    },
    Check {
        name: "database_size",
        engine: E,
        title: "Database size and page statistics",
        sql: "SELECT p.page_count AS page_count, s.page_size AS page_size, f.freelist_count AS free_pages,
       p.page_count * s.page_size AS size_bytes
  FROM pragma_page_count() p, pragma_page_size() s, pragma_freelist_count() f",
        precondition: None,
        evaluate: database_size,
    },
    Check {
        name: "largest_tables",
        engine: E,
        title: "Table sizes with their indexes (dbstat) and row estimates (sqlite_stat1)",
        sql: "SELECT m.tbl_name AS tbl, sum(d.pgsize) AS size_bytes,
       sum(CASE WHEN m.type = 'index' THEN d.pgsize ELSE 0 END) AS index_bytes,
       (SELECT max(CAST(substr(s.stat, 1, instr(s.stat || ' ', ' ') - 1) AS INTEGER))
          FROM sqlite_stat1 s WHERE s.tbl = m.tbl_name) AS est_rows
  FROM dbstat d JOIN sqlite_schema m ON m.name = d.name
 WHERE m.type IN ('table', 'index') AND m.tbl_name NOT LIKE 'sqlite_%'
 GROUP BY m.tbl_name
 ORDER BY size_bytes DESC",
        precondition: Some(Precondition {
            sql: "SELECT (SELECT count(*) FROM pragma_module_list WHERE name = 'dbstat') > 0
       AND (SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1') > 0",
            unavailable: "",
        }),
        evaluate: largest_tables,
    },
    Check {
        name: "largest_tables",
        engine: E,
        title: "Table sizes with their indexes and rows counted from the b-tree (dbstat)",
        sql: "SELECT m.tbl_name AS tbl, sum(d.pgsize) AS size_bytes,
       sum(CASE WHEN m.type = 'index' THEN d.pgsize ELSE 0 END) AS index_bytes,
       sum(CASE WHEN m.type = 'table' AND d.pagetype = 'leaf' THEN d.ncell ELSE 0 END) AS est_rows
  FROM dbstat d JOIN sqlite_schema m ON m.name = d.name
 WHERE m.type IN ('table', 'index') AND m.tbl_name NOT LIKE 'sqlite_%'
 GROUP BY m.tbl_name
 ORDER BY size_bytes DESC",
        precondition: Some(HAS_DBSTAT),
        evaluate: largest_tables,
    },
    Check {
        name: "largest_tables",
        engine: E,
        title: "Table sizes (row estimates from sqlite_stat1)",
        sql: "SELECT tbl, max(CAST(substr(stat, 1, instr(stat || ' ', ' ') - 1) AS INTEGER)) AS est_rows
  FROM sqlite_stat1
 GROUP BY tbl
 ORDER BY est_rows DESC",
        precondition: Some(Precondition {
            sql: "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_stat1'",
            unavailable: "No table statistics yet: run ANALYZE on this database so sizes can be estimated.",
        }),
        evaluate: largest_tables,
    },
    // Names the user's words can point at; see the PostgreSQL check of the same name.
    Check {
        name: "relations",
        engine: E,
        title: "Tables, views and indexes in this file (names only)",
        sql: "SELECT 'main' AS schema_name, name, type AS kind
  FROM sqlite_schema
 WHERE type IN ('table', 'view', 'index') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
 ORDER BY 2",
        precondition: None,
        evaluate: |_| Vec::new(),
    },
    Check {
        name: "index_list",
        engine: E,
        title: "Indexes per table",
        sql: "SELECT m.name AS tbl, il.name AS idx, il.\"unique\" AS is_unique, il.origin AS origin,
       (SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno)) AS cols
  FROM sqlite_schema m JOIN pragma_index_list(m.name) il
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
 ORDER BY 1, 2",
        precondition: None,
        evaluate: index_list,
    },
    Check {
        name: "duplicate_indexes",
        engine: E,
        title: "Duplicate indexes (same columns in the same order)",
        sql: "SELECT m.name AS tbl, il.name AS idx, il.\"unique\" AS is_unique,
       (SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno)) AS cols
  FROM sqlite_schema m JOIN pragma_index_list(m.name) il
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND il.partial = 0
 ORDER BY 1, 2",
        precondition: None,
        evaluate: duplicate_indexes,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a declared primary key",
        sql: "SELECT m.name AS tbl,
       (SELECT max(CAST(substr(s.stat, 1, instr(s.stat || ' ', ' ') - 1) AS INTEGER))
          FROM sqlite_stat1 s WHERE s.tbl = m.name) AS est_rows
  FROM sqlite_schema m
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
   AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE pk > 0)
 ORDER BY 2 DESC, 1",
        precondition: Some(Precondition {
            sql: "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_stat1'",
            unavailable: "",
        }),
        evaluate: tables_without_pk,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a declared primary key (rows counted from dbstat)",
        sql: "SELECT m.name AS tbl,
       (SELECT sum(d.ncell) FROM dbstat d WHERE d.name = m.name AND d.pagetype = 'leaf') AS est_rows
  FROM sqlite_schema m
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
   AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE pk > 0)
 ORDER BY 2 DESC, 1",
        precondition: Some(HAS_DBSTAT),
        evaluate: tables_without_pk,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a declared primary key",
        sql: "SELECT m.name AS tbl, NULL AS est_rows FROM sqlite_schema m
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
   AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE pk > 0)
 ORDER BY 1",
        precondition: None,
        evaluate: tables_without_pk,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Foreign-key columns no index leads with (missing-index candidates)",
        sql: "SELECT m.name AS tbl, fk.\"from\" AS col, fk.\"table\" AS references_table,
       (SELECT max(CAST(substr(stat, 1, instr(stat || ' ', ' ') - 1) AS INTEGER)) FROM sqlite_stat1 s WHERE s.tbl = m.name) AS est_rows
  FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) fk
 WHERE m.type = 'table'
   AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
                    WHERE ii.seqno = 0 AND ii.name = fk.\"from\")
 ORDER BY est_rows DESC",
        precondition: Some(HAS_STAT1),
        evaluate: seq_scans,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Foreign-key columns no index leads with (missing-index candidates, rows counted from dbstat)",
        sql: "SELECT m.name AS tbl, fk.\"from\" AS col, fk.\"table\" AS references_table,
       (SELECT sum(d.ncell) FROM dbstat d WHERE d.name = m.name AND d.pagetype = 'leaf') AS est_rows
  FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) fk
 WHERE m.type = 'table'
   AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
                    WHERE ii.seqno = 0 AND ii.name = fk.\"from\")
 ORDER BY est_rows DESC",
        precondition: Some(HAS_DBSTAT),
        evaluate: seq_scans,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Foreign-key columns no index leads with (missing-index candidates)",
        sql: "SELECT m.name AS tbl, fk.\"from\" AS col, fk.\"table\" AS references_table, NULL AS est_rows
  FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) fk
 WHERE m.type = 'table'
   AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
                    WHERE ii.seqno = 0 AND ii.name = fk.\"from\")
 ORDER BY 1",
        precondition: None,
        evaluate: seq_scans,
    },
    Check {
        name: "column_indexes",
        engine: E,
        title: "Columns no index leads with (rows counted from dbstat; read against the columns a question names)",
        sql: "WITH sizes AS (SELECT name, sum(ncell) AS n FROM dbstat WHERE pagetype = 'leaf' GROUP BY name)
SELECT m.name AS tbl, m.name AS relname, p.name AS col, (SELECT n FROM sizes WHERE sizes.name = m.name) AS est_rows
  FROM sqlite_schema m JOIN pragma_table_info(m.name) p
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND p.pk = 0
   AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
                    WHERE ii.seqno = 0 AND ii.name = p.name)
 ORDER BY 4 DESC, 1, 3
 LIMIT 300",
        precondition: Some(HAS_DBSTAT),
        evaluate: super::common::no_findings,
    },
    Check {
        name: "column_indexes",
        engine: E,
        title: "Columns no index leads with (read against the columns a question names)",
        sql: "SELECT m.name AS tbl, m.name AS relname, p.name AS col, NULL AS est_rows
  FROM sqlite_schema m JOIN pragma_table_info(m.name) p
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND p.pk = 0
   AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
                    WHERE ii.seqno = 0 AND ii.name = p.name)
 ORDER BY 1, 3
 LIMIT 300",
        precondition: None,
        evaluate: super::common::no_findings,
    },
    Check {
        name: "foreign_keys",
        engine: E,
        title: "Rows whose foreign key points at no parent row (PRAGMA foreign_key_check)",
        sql: "SELECT c.\"table\" AS tbl, c.parent AS parent, l.\"from\" AS col, l.\"to\" AS parent_col,
       count(*) AS orphans, NULL AS fk_count
  FROM pragma_foreign_key_check() c
  JOIN pragma_foreign_key_list(c.\"table\") l ON l.id = c.fkid AND l.seq = 0
 GROUP BY 1, 2, 3, 4
 UNION ALL
SELECT NULL, NULL, NULL, NULL, 0, count(*)
  FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) x
 WHERE m.type = 'table'
 ORDER BY 5 DESC",
        precondition: None,
        evaluate: foreign_keys,
    },
    Check {
        name: "blocking_chains",
        engine: E,
        title: "Locks other processes hold on the database file (the operating system's lock table)",
        sql: "SELECT d.file AS file, (SELECT journal_mode FROM pragma_journal_mode()) AS journal_mode
  FROM pragma_database_list d
 WHERE d.name = 'main'",
        precondition: None,
        evaluate: file_locks,
    },
    Check {
        name: "integrity",
        engine: E,
        title: "Integrity quick_check",
        sql: "SELECT quick_check FROM pragma_quick_check()",
        precondition: None,
        evaluate: integrity,
    },
    // The full check for an integrity question: every index entry compared with its table
    // (SQLite docs, PRAGMA integrity_check; it stops after 100 messages). Slower than quick_check, so
    // the health check keeps quick_check.
    Check {
        name: "integrity_full",
        engine: E,
        title: "Integrity check (PRAGMA integrity_check)",
        sql: "SELECT integrity_check AS quick_check FROM pragma_integrity_check()",
        precondition: None,
        evaluate: integrity_full,
    },
];

fn overview(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    vec![Finding::new(
        "overview",
        "overview",
        Severity::Ok,
        format!(
            "SQLite {}, {} in {} tables and {} indexes, journal mode {}",
            r.str("version"),
            human_bytes(r.i64("size_bytes").unwrap_or(0)),
            r.str("tables"),
            r.str("indexes"),
            r.str("journal_mode")
        ),
    )
    .fact("version", r.str("version"))
    .fact("journal_mode", r.str("journal_mode"))]
}

fn database_size(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let size = r.i64("size_bytes").unwrap_or(0);
    let pages = r.i64("page_count").unwrap_or(0).max(1);
    let free = r.i64("free_pages").unwrap_or(0);
    let pct = free as f64 * 100.0 / pages as f64;
    let mut out = vec![Finding::new(
        "database_size",
        "database_size",
        Severity::Info,
        format!(
            "database file is {} ({} pages of {} bytes, {} free)",
            human_bytes(size),
            pages,
            r.str("page_size"),
            free
        ),
    )
    .fact("size", human_bytes(size))
    .fact("size_bytes", size)];
    let limit = rs.threshold_for("sqlite_freelist");
    if pct >= limit.value("min_pct") && free as f64 >= limit.value("min_free_pages") {
        out.push(
            Finding::new(
                "database_size",
                "freelist_high",
                Severity::Info,
                format!("{free} free pages ({pct:.0}% of the file) could be reclaimed with VACUUM"),
            )
            .fact("free_pages", free)
            .fact("pct", format!("{pct:.0}"))
            .threshold(limit.citation()),
        );
    }
    out
}

fn largest_tables(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .take(5)
        .map(|r| {
            let rows = r.i64("est_rows");
            let size = r.i64("size_bytes");
            let title = match (size, rows) {
                (Some(b), Some(n)) => format!(
                    "{}: {} (indexes {}), ~{n} rows",
                    r.str("tbl"),
                    human_bytes(b),
                    human_bytes(r.i64("index_bytes").unwrap_or(0))
                ),
                (Some(b), None) => format!(
                    "{}: {} (indexes {})",
                    r.str("tbl"),
                    human_bytes(b),
                    human_bytes(r.i64("index_bytes").unwrap_or(0))
                ),
                (None, _) => format!("{}: ~{} rows", r.str("tbl"), rows.unwrap_or(0)),
            };
            let mut f = Finding::new("largest_tables", "large_table", Severity::Info, title)
                .fact("table", r.str("tbl"));
            if let Some(n) = rows {
                f = f.fact("rows", n);
            }
            if let Some(b) = size {
                f = f.fact("size", human_bytes(b)).fact("size_bytes", b);
            }
            f
        })
        .collect()
}

fn index_list(rs: &ResultSet) -> Vec<Finding> {
    vec![Finding::new(
        "index_list",
        "index_list",
        Severity::Ok,
        format!("{} indexes (including automatic ones)", rs.count_phrase()),
    )]
}

fn duplicate_indexes(rs: &ResultSet) -> Vec<Finding> {
    duplicate_indexes_by_columns("duplicate_indexes", rs, |_, i| {
        format!("DROP INDEX IF EXISTS {i};")
    })
}

fn tables_without_pk(rs: &ResultSet) -> Vec<Finding> {
    no_pk(
        "tables_without_pk",
        rs,
        "a table without a declared primary key is keyed only by its implicit rowid, which VACUUM may renumber, so nothing stable identifies a row (SQLite docs, \"ROWIDs and the INTEGER PRIMARY KEY\")",
    )
}

fn seq_scans(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("fk_without_index");
    rs.iter()
        .map(|r| {
            let rows = r.i64("est_rows");
            let table = r.str("tbl");
            let col = r.str("col");
            let big = rows.unwrap_or(0) as f64 >= limit.value("warning_rows");
            Finding::new(
                "seq_scans",
                "missing_index_candidate",
                if big { Severity::Warning } else { Severity::Info },
                format!(
                    "{table}.{col} (references {}) has no index{}: lookups by {col} scan the whole table",
                    r.str("references_table"),
                    rows.map(|n| format!(" and {table} has ~{n} rows")).unwrap_or_default()
                ),
            )
            .fact("table", &table)
            .fact("column", &col)
            .fact("scan_filter", format!("Lookups and joins by {col} (a foreign key) have no index to use"))
            .fact("rows", rows.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into()))
            .fact("seq_scan", "n/a")
            .fact("seq_tup_read", "n/a")
            .fact("idx_scan", "0")
            .fact("create_sql", format!("CREATE INDEX {table}_{col}_idx ON {table} ({col});"))
            .threshold(limit.citation())
        })
        .collect()
}

/// Who holds SQLite's locks on the file, from the columns [`crate::diagnostics::sqlite_locks`]
/// added to the `file` / `journal_mode` row. The process others wait for is the blocker: the
/// writer, or, when a writer waits to commit (PENDING), the reader keeping it from committing.
fn file_locks(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else {
        return Vec::new();
    };
    let path = r.str("file");
    let file = std::path::Path::new(&path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "the database file".into());
    let mode = r.str("journal_mode").to_ascii_lowercase();
    let probe_error = r.str("probe_error");
    if !probe_error.is_empty() {
        return vec![Finding::new(
            "blocking_chains",
            "check_unavailable",
            Severity::Info,
            format!("the lock table of {file} could not be read: {probe_error}"),
        )
        .fact("check", "blocking_chains")
        .fact(
            "error",
            format!("the lock table of {file} could not be read ({probe_error})."),
        )];
    }
    let who = |pid: Option<i64>, process: String| match (pid, process.is_empty()) {
        (Some(p), false) if p > 0 => format!("process {p} ({process})"),
        (Some(p), true) if p > 0 => format!("process {p}"),
        _ => "a process outside this host's view (another container or host)".into(),
    };
    let lock = r.str("lock");
    let journal_age = r.i64("journal_age_s");
    let limit = rs.threshold_for("sqlite_write_lock");
    let mut out = Vec::new();
    if !lock.is_empty() {
        let writer = who(r.i64("pid"), r.str("process"));
        let reader_pid = r.i64("reader_pid");
        let (blocker, pid, held, what) = if lock == "pending" && reader_pid.is_some() {
            (
                who(reader_pid, r.str("reader_process")),
                reader_pid,
                "a read lock (SHARED)".to_string(),
                format!("{writer} is waiting to commit (PENDING) until that read transaction ends, and every other connection waits behind it"),
            )
        } else {
            let held = match lock.as_str() {
                "reserved" => "the write lock (RESERVED) of an open write transaction",
                "pending" => "the PENDING lock of a commit waiting for readers to finish",
                "exclusive" => {
                    "an EXCLUSIVE lock (it is committing, or uses locking_mode=EXCLUSIVE)"
                }
                _ => "the WAL write lock of an open write transaction",
            };
            (
                writer.clone(),
                r.i64("pid"),
                held.to_string(),
                "other connections cannot write until it commits or rolls back; they wait for their busy_timeout and then fail with 'database is locked' (SQLITE_BUSY)".to_string(),
            )
        };
        let since = match journal_age {
            Some(s) if mode != "wal" && lock == "reserved" => {
                format!("it last wrote its rollback journal {s} s ago")
            }
            _ => "how long it has held it is not recorded anywhere SQLite keeps".into(),
        };
        let severity = match journal_age {
            Some(s) if mode != "wal" && lock == "reserved" => {
                limit.grade(s as f64).max(Severity::Info)
            }
            _ => Severity::Warning,
        };
        out.push(
            Finding::new(
                "blocking_chains",
                "sqlite_lock_held",
                severity,
                format!("{blocker} holds {held} on {file}; {what}; {since}"),
            )
            .fact("blocker", &blocker)
            .fact(
                "pid",
                pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            )
            .fact("lock", &held)
            .fact("file", &file)
            .fact("since", &since)
            .fact("effect", &what)
            .threshold(limit.citation()),
        );
    } else if let (Some(bytes), true) = (
        r.i64("journal_bytes"),
        mode == "delete" || mode == "truncate",
    ) {
        out.push(
            Finding::new(
                "blocking_chains",
                "sqlite_hot_journal",
                Severity::Warning,
                format!("{file}-journal ({}) is left over from a write transaction that never finished, and no process holds a lock on {file}: a crashed or killed writer left a hot journal", human_bytes(bytes)),
            )
            .fact("file", &file)
            .fact("journal_size", human_bytes(bytes))
            .threshold("a rollback journal present while no connection holds RESERVED is hot: the next connection rolls it back (SQLite docs, File Locking And Concurrency In SQLite Version 3 §4 Hot Journals)"),
        );
    } else {
        let reader = r
            .i64("reader_pid")
            .map(|p| {
                format!(
                    "; {} has a read transaction open",
                    who(Some(p), r.str("reader_process"))
                )
            })
            .unwrap_or_default();
        out.push(
            Finding::new(
                "blocking_chains",
                "sqlite_no_lock",
                Severity::Ok,
                format!("no other process holds the write lock on {file} right now (journal mode {mode}){reader}"),
            )
            .fact("file", &file)
            .fact("mode", &mode),
        );
    }
    if let Some(bytes) = r.i64("wal_bytes").filter(|_| mode == "wal") {
        let wal = rs.threshold_for("sqlite_wal_size");
        let severity = wal.grade(bytes as f64);
        if severity > Severity::Ok {
            let reader_who = r
                .i64("reader_pid")
                .map(|p| who(Some(p), r.str("reader_process")));
            let reader = reader_who
                .as_deref()
                .map(|w| {
                    format!(", and {w} has a read transaction open that a checkpoint cannot pass")
                })
                .unwrap_or_default();
            let mut f = Finding::new(
                "blocking_chains",
                "sqlite_wal_large",
                severity,
                format!(
                    "{file}-wal is {}: checkpoints are not keeping up{reader}",
                    human_bytes(bytes)
                ),
            )
            .fact("file", &file)
            .fact("wal_size", human_bytes(bytes))
            .threshold(wal.citation());
            if let Some(w) = reader_who {
                f = f.fact("reader", w);
            }
            out.push(f);
        }
    }
    out
}

/// Orphans per foreign key, from `PRAGMA foreign_key_check`. SQLite enforces foreign keys only on
/// connections that ran `PRAGMA foreign_keys = ON` (off by default, SQLite docs "Foreign Key
/// Support" §2), so rows written by any other connection can point at parents that do not exist.
/// The last row (NULL table) carries the number of declared foreign keys.
fn foreign_keys(rs: &ResultSet) -> Vec<Finding> {
    let declared = rs.iter().find_map(|r| r.i64("fk_count")).unwrap_or(0);
    let rule = "any row whose foreign key matches no parent row is an orphan; SQLite checks foreign keys only on connections that enabled PRAGMA foreign_keys (SQLite docs, Foreign Key Support §2 Enabling Foreign Key Support)";
    let mut out: Vec<Finding> = rs
        .iter()
        .filter(|r| !r.str("tbl").is_empty())
        .take(10)
        .map(|r| {
            let (table, parent, col, parent_col) =
                (r.str("tbl"), r.str("parent"), r.str("col"), r.str("parent_col"));
            let n = r.i64("orphans").unwrap_or(0);
            // `to` is empty when the key references the parent's primary key implicitly.
            let parent_key = if parent_col.is_empty() { "rowid".to_string() } else { parent_col.clone() };
            let t = super::common::quote_ident_sqlite(&table);
            let p = super::common::quote_ident_sqlite(&parent);
            let c = super::common::quote_ident_sqlite(&col);
            let k = super::common::quote_ident_sqlite(&parent_key);
            Finding::new(
                "foreign_keys",
                "fk_orphans",
                Severity::Warning,
                format!(
                    "{} rows of {table} have a {col} that matches no {parent}.{parent_key}",
                    crate::diagnostics::thousands(n.max(0) as u64)
                ),
            )
            .fact("table", &table)
            .fact("column", &col)
            .fact("parent", &parent)
            .fact("parent_column", &parent_key)
            .fact("orphans", n)
            .fact(
                "list_sql",
                format!("SELECT t.rowid, t.{c} FROM {t} t WHERE t.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {p} p WHERE p.{k} = t.{c}) LIMIT 100;"),
            )
            .threshold(rule)
        })
        .collect();
    if out.is_empty() && declared > 0 {
        out.push(
            Finding::new(
                "foreign_keys",
                "fk_ok",
                Severity::Ok,
                format!(
                    "every row matches its parent for the {declared} declared foreign key columns"
                ),
            )
            .fact("declared", declared),
        );
    }
    out
}

fn integrity(rs: &ResultSet) -> Vec<Finding> {
    checked(rs, "integrity", "quick_check")
}

/// The index an integrity message blames when only an index disagrees with its table
/// (`row 124 missing from index t_name`, `wrong # of entries in index t_name`,
/// `non-unique entry in index t_name`): REINDEX rebuilds it from the table.
fn damaged_index(message: &str) -> Option<String> {
    [
        "missing from index ",
        "entries in index ",
        "entry in index ",
    ]
    .iter()
    .find_map(|m| message.find(m).map(|p| &message[p + m.len()..]))
    .and_then(|rest| rest.split_whitespace().next())
    .map(|i| i.trim_matches(|c| c == '"' || c == '\'').to_string())
    .filter(|i| !i.is_empty())
}

fn integrity_full(rs: &ResultSet) -> Vec<Finding> {
    checked(rs, "integrity_full", "integrity_check")
}

/// `ok` alone is the only clean result of both pragmas; every other row names damage.
fn checked(rs: &ResultSet, check: &str, pragma: &str) -> Vec<Finding> {
    let lines: Vec<String> = rs.iter().map(|r| r.str("quick_check")).collect();
    if lines.len() == 1 && lines[0] == "ok" {
        return vec![Finding::new(
            check,
            "integrity_ok",
            Severity::Ok,
            format!("PRAGMA {pragma}: ok"),
        )];
    }
    lines
        .into_iter()
        .map(|l| {
            let f = Finding::new(
                check,
                "integrity_error",
                Severity::Critical,
                format!("PRAGMA {pragma}: {l}"),
            )
            .fact("detail", &l)
            .threshold(format!(
                "any {pragma} message other than ok (SQLite docs, PRAGMA {pragma})"
            ));
            match damaged_index(&l) {
                Some(i) => f
                    .fact("reindex_sql", format!("REINDEX {i};"))
                    .fact("index", i),
                None => f,
            }
        })
        .collect()
}
