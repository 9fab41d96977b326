//! Row → finding tests for every SQL Server check.
//!
//! Fixtures are `tiberius::Row`s built with the column data types SQL Server sends for each
//! column (smallint `session_id`, int `DATEDIFF`, bigint counters, numeric for `x / 1000.0`,
//! float for `avg_total_user_cost`, bit flags, datetime/datetime2 timestamps, NULLs), decoded by
//! the same function the runner uses ([`crate::diagnostics::mssql::result_set_from_rows`]).
//! Every fixture's column list is checked against the output columns of the check's SQL, so a
//! renamed alias cannot silently turn into NULLs in an evaluator.

use super::*;
use crate::diagnostics::mssql::result_set_from_rows;
use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, Time};
use tiberius::{ColumnData as C, ColumnType as T, Row as TRow};

// ---- fixture helpers -------------------------------------------------------------------------

/// Output column names of a catalog statement (outermost SELECT; left arm of a UNION).
fn output_columns(sql: &str) -> Vec<String> {
    let stmts = Parser::parse_sql(&MsSqlDialect {}, sql).expect("parses");
    let Statement::Query(q) = &stmts[0] else {
        panic!("not a query")
    };
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => break,
        }
    }
    let SetExpr::Select(sel) = body else {
        panic!("no select")
    };
    sel.projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => alias.value.to_lowercase(),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value.to_lowercase(),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => {
                p.last().map(|i| i.value.to_lowercase()).unwrap_or_default()
            }
            other => panic!("unnamed output column {other} in {sql}"),
        })
        .collect()
}

/// Builds rows as tiberius hands them to the runner and decodes them like the runner does,
/// after checking the column names against `check`'s SQL.
fn fx(check: &Check, cols: &[(&str, T)], rows: Vec<Vec<C<'static>>>) -> ResultSet {
    let names: Vec<String> = cols.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        output_columns(check.sql),
        names,
        "fixture columns differ from the SQL of {} ({})",
        check.name,
        check.title
    );
    let rows = rows
        .into_iter()
        .map(|vals| {
            assert_eq!(vals.len(), cols.len(), "{}: row width", check.name);
            let mut b = TRow::builder();
            for ((n, t), v) in cols.iter().zip(vals) {
                b = b.column(*n, *t, v);
            }
            b.build()
        })
        .collect();
    result_set_from_rows(rows, 200)
}

fn v(name: &str) -> Vec<&'static Check> {
    crate::diagnostics::catalog::variants(Engine::Mssql, name)
}

fn s(x: &str) -> C<'static> {
    C::String(Some(x.to_string().into()))
}
fn ns() -> C<'static> {
    C::String(None)
}
fn i16v(x: i16) -> C<'static> {
    C::I16(Some(x))
}
fn i32v(x: i32) -> C<'static> {
    C::I32(Some(x))
}
fn i64v(x: i64) -> C<'static> {
    C::I64(Some(x))
}
fn num(x: f64) -> C<'static> {
    // numeric(38, 6) as SQL Server returns `int / 1000.0`-style expressions
    C::Numeric(Some(Numeric::new_with_scale((x * 1e6).round() as i128, 6)))
}
fn f64v(x: f64) -> C<'static> {
    C::F64(Some(x))
}
fn bit(b: bool) -> C<'static> {
    C::Bit(Some(b))
}
/// `datetime` 2024-03-15 (+`days`) at midnight.
fn dt(days: i32) -> C<'static> {
    C::DateTime(Some(DateTime::new(45_364 + days, 0)))
}
fn dt2(days: u32) -> C<'static> {
    C::DateTime2(Some(DateTime2::new(
        Date::new(738_959 + days),
        Time::new(0, 7),
    )))
}

fn codes(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.code.as_str()).collect()
}

fn find<'a>(f: &'a [Finding], code: &str) -> &'a Finding {
    f.iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {f:#?}"))
}

// ---- read-only guard ------------------------------------------------------------------------

/// T-SQL words that must never appear in a SQL Server catalog statement outside string
/// literals, even inside a construct sqlparser accepts as a query (OPENROWSET parses as a table
/// factor): execution, DBCC, remote data access, writes and DDL.
pub(in crate::diagnostics::catalog) fn denylist(name: &str, sql: &str) {
    use sqlparser::tokenizer::{Token, Tokenizer};
    const DENY: &[&str] = &[
        "EXEC",
        "EXECUTE",
        "DBCC",
        "OPENROWSET",
        "OPENQUERY",
        "OPENDATASOURCE",
        "OPENXML",
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "TRUNCATE",
        "DROP",
        "ALTER",
        "CREATE",
        "GRANT",
        "REVOKE",
        "DENY",
        "BACKUP",
        "RESTORE",
        "KILL",
        "SHUTDOWN",
        "WAITFOR",
        "RECONFIGURE",
        "BULK",
        "INTO",
        "SET",
        "DECLARE",
        "USE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
    ];
    let tokens = Tokenizer::new(&MsSqlDialect {}, sql)
        .tokenize()
        .unwrap_or_else(|e| panic!("mssql {name}: does not tokenize: {e}"));
    for t in tokens {
        if let Token::Word(w) = t {
            let v = w.value.to_ascii_uppercase();
            assert!(
                !DENY.contains(&v.as_str()) || w.quote_style.is_some(),
                "mssql {name}: forbidden word {v} in: {sql}"
            );
            assert!(
                !(v.starts_with("XP_") || v.starts_with("SP_")),
                "mssql {name}: procedure reference {v} in: {sql}"
            );
        }
    }
}

#[test]
fn mssql_denylist_rejects_execution_and_writes() {
    for bad in [
        "SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'SELECT 1') AS o",
        "SELECT * FROM OPENQUERY(lnk, 'SELECT 1')",
        "SELECT a INTO #t FROM t",
        "SELECT a FROM t; EXEC sp_who2",
        "SELECT a FROM master.dbo.xp_fixeddrives",
    ] {
        let r = std::panic::catch_unwind(|| denylist("test", bad));
        assert!(r.is_err(), "accepted: {bad}");
    }
    // Words inside string literals and DMV names that merely contain a keyword are fine.
    denylist("test", "SELECT name FROM sys.configurations WHERE name = N'xp_cmdshell' AND last_user_update IS NULL");
}

#[test]
fn mssql_catalog_is_complete() {
    for n in [
        "overview",
        "resource_usage",
        "active_queries",
        "blocking_chains",
        "idle_in_transaction",
        "connections",
        "memory_grants",
        "waits",
        "top_statements",
        "query_store",
        "seq_scans",
        "unused_indexes",
        "duplicate_indexes",
        "index_list",
        "fragmentation",
        "tables_without_pk",
        "largest_tables",
        "database_size",
        "file_space",
        "log_space",
        "tempdb",
        "backups",
        "roles_security",
        "encryption",
        "settings",
        "replication",
    ] {
        assert!(!v(n).is_empty(), "mssql lacks {n}");
    }
}

// ---- overview / resources --------------------------------------------------------------------

#[test]
fn overview_server_and_azure() {
    let [azure, server] = v("overview")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("version", T::NVarchar),
        ("product_level", T::NVarchar),
        ("edition", T::NVarchar),
        ("engine_edition", T::Intn),
        ("uptime_s", T::Intn),
        ("connections", T::Intn),
        ("max_connections", T::Int4),
        ("cpu_count", T::Int4),
        ("physical_memory_mb", T::Int8),
        ("target_memory_mb", T::Intn),
        ("total_memory_mb", T::Intn),
        ("memory_grants_pending", T::Intn),
        ("page_life_expectancy_s", T::Intn),
        ("deadlocks", T::Intn),
        ("database_name", T::NVarchar),
        ("db_size_bytes", T::Intn),
    ];
    let rs = fx(
        server,
        &cols,
        vec![vec![
            s("16.0.4135.4"),
            s("RTM"),
            s("Enterprise Edition (64-bit)"),
            i32v(3),
            i32v(90_000),
            i32v(30_000),
            i32v(32_767),
            i32v(16),
            i64v(65_536),
            i64v(57_344),
            i64v(57_000),
            i64v(3),
            i64v(1_200),
            i64v(7),
            s("orders"),
            i64v(5 * 1024 * 1024 * 1024),
        ]],
    );
    let f = overview(&rs);
    assert_eq!(
        codes(&f),
        [
            "overview",
            "connections_high",
            "memory_grants_pending",
            "deadlocks_seen"
        ]
    );
    assert!(
        f[0].title.contains("SQL Server 16.0.4135.4 RTM Enterprise"),
        "{}",
        f[0].title
    );
    assert!(f[0].title.contains("up 1d 1h"), "{}", f[0].title);
    assert!(
        f[0].title.contains("memory 57000/57344 MB"),
        "{}",
        f[0].title
    );
    assert_eq!(f[1].severity, Severity::Warning, "30000/32767 = 92%");
    assert_eq!(f[2].facts["pending"], "3");
    // NULL counters (permission to read perf counters missing) and an idle server: summary only.
    let rs = fx(
        server,
        &cols,
        vec![vec![
            s("15.0.2000.5"),
            s("RTM"),
            s("Developer Edition"),
            i32v(3),
            i32v(10),
            i32v(1),
            i32v(32_767),
            i32v(4),
            i64v(8_192),
            C::I64(None),
            C::I64(None),
            C::I64(None),
            C::I64(None),
            C::I64(None),
            s("master"),
            C::I64(None),
        ]],
    );
    let f = overview(&rs);
    assert_eq!(codes(&f), ["overview"]);
    assert!(!f[0].title.contains("memory"), "{}", f[0].title);
    assert!(overview(&ResultSet::default()).is_empty());

    let rs = fx(
        azure,
        &[
            ("version", T::NVarchar),
            ("edition", T::NVarchar),
            ("engine_edition", T::Intn),
            ("service_objective", T::NVarchar),
            ("connections", T::Intn),
            ("database_name", T::NVarchar),
            ("db_size_bytes", T::Intn),
            ("max_size_bytes", T::Intn),
            ("max_session_pct", T::Decimaln),
            ("max_worker_pct", T::Decimaln),
        ],
        vec![vec![
            s("12.0.2000.8"),
            s("SQL Azure"),
            i32v(5),
            s("S3"),
            i32v(40),
            s("orders"),
            i64v(243 * 1024 * 1024 * 1024),
            i64v(250 * 1024 * 1024 * 1024),
            num(12.5),
            num(99.0),
        ]],
    );
    let f = overview(&rs);
    assert_eq!(
        codes(&f),
        ["overview", "resource_pressure", "database_near_max_size"]
    );
    assert!(
        f[0].title
            .starts_with("Azure SQL Database 12.0.2000.8 (S3)"),
        "{}",
        f[0].title
    );
    assert_eq!(f[1].severity, Severity::Critical, "workers at 99%");
    assert_eq!(f[1].facts["resource"], "workers");
    assert_eq!(f[2].severity, Severity::Warning, "97%");
}

#[test]
fn resource_usage_azure_and_ring_buffer() {
    let [azure, server] = v("resource_usage")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("end_time", T::Datetimen),
        ("cpu_pct", T::Decimaln),
        ("data_io_pct", T::Decimaln),
        ("log_write_pct", T::Decimaln),
        ("memory_pct", T::Decimaln),
        ("workers_pct", T::Decimaln),
        ("sessions_pct", T::Decimaln),
    ];
    let rows = (0..4)
        .map(|i| {
            vec![
                dt(0),
                num(90.0 + i as f64),
                num(10.0),
                if i == 0 { num(99.5) } else { num(5.0) },
                C::Numeric(None),
                num(2.0),
                num(1.0),
            ]
        })
        .collect();
    let f = resource_usage(&fx(azure, &cols, rows));
    assert_eq!(
        codes(&f),
        ["resource_summary", "resource_pressure", "resource_pressure"]
    );
    assert!(
        f[0].title.contains("CPU (SQL Server) avg 92% max 93%"),
        "{}",
        f[0].title
    );
    assert!(
        !f[0].title.contains("memory"),
        "NULL column skipped: {}",
        f[0].title
    );
    assert_eq!(f[1].facts["resource"], "CPU (SQL Server)");
    assert_eq!(f[1].severity, Severity::Warning);
    assert_eq!(f[2].facts["resource"], "log write");
    assert_eq!(f[2].severity, Severity::Info, "one spike only");

    let rs = fx(
        server,
        &[
            ("end_time", T::Datetimen),
            ("cpu_pct", T::Intn),
            ("other_cpu_pct", T::Intn),
        ],
        vec![
            vec![dt(0), i32v(20), i32v(40)],
            vec![dt(0), i32v(30), i32v(30)],
            vec![dt(0), C::I32(None), C::I32(None)],
        ],
    );
    let f = resource_usage(&rs);
    assert_eq!(codes(&f), ["resource_summary", "resource_pressure"]);
    assert_eq!(f[1].facts["resource"], "CPU (other processes)");
    assert!(resource_usage(&ResultSet::default()).is_empty());
}

// ---- sessions --------------------------------------------------------------------------------

#[test]
fn active_queries_thresholds_and_waitfor() {
    let [check] = v("active_queries")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("pid", T::Int2),
        ("usr", T::NVarchar),
        ("host", T::NVarchar),
        ("application", T::NVarchar),
        ("database_name", T::NVarchar),
        ("state", T::NVarchar),
        ("command", T::NVarchar),
        ("wait_event", T::NVarchar),
        ("wait_ms", T::Int4),
        ("blocked_by", T::Int2),
        ("duration_s", T::Intn),
        ("cpu_ms", T::Int4),
        ("logical_reads", T::Int8),
        ("open_transactions", T::Int4),
        ("query", T::NVarchar),
    ];
    let row = |pid: i16, wait: C<'static>, blocked: i16, dur: i32| {
        vec![
            i16v(pid),
            s("app"),
            ns(),
            s("OrdersApi"),
            s("orders"),
            s("suspended"),
            s("SELECT"),
            wait,
            i32v(100),
            i16v(blocked),
            i32v(dur),
            i32v(5),
            i64v(1_000_000),
            i32v(1),
            s("SELECT * FROM dbo.orders WHERE status = @p1"),
        ]
    };
    let rs = fx(
        check,
        &cols,
        vec![
            row(51, s("LCK_M_S"), 52, 400),
            row(53, ns(), 0, 61),
            row(54, s("WAITFOR"), 0, 9_000),
            row(55, ns(), 0, 2),
            row(56, ns(), 0, 5),
        ],
    );
    let f = active_queries(&rs);
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(
        f[0].title.contains(
            "session 51 (app) has run for 6m 40s waiting on LCK_M_S, blocked by session 52"
        ),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].facts["wait_event"], "LCK_M_S");
    assert_eq!(f[0].facts["host"], "", "NULL host");
    assert_eq!(f[1].severity, Severity::Warning);
    assert_eq!(f[1].facts["wait_event"], "");
    assert_eq!(f[2].severity, Severity::Info, "exactly 5 s");
}

#[test]
fn blocking_chains_group_by_head_blocker() {
    let [check] = v("blocking_chains")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("blocked_pid", T::Int2),
        ("blocked_user", T::NVarchar),
        ("blocked_query", T::NVarchar),
        ("wait_s", T::Decimaln),
        ("wait_type", T::NVarchar),
        ("lock_type", T::NVarchar),
        ("relation", T::NVarchar),
        ("blocker_pid", T::Int2),
        ("head_blocker_pid", T::Int2),
        ("head_user", T::NVarchar),
        ("head_host", T::NVarchar),
        ("head_program", T::NVarchar),
        ("head_state", T::NVarchar),
        ("head_query", T::NVarchar),
        ("head_xact_s", T::Intn),
        ("head_open_transactions", T::Int4),
    ];
    // 60 waits on 58 which waits on 57 (the head, idle in a transaction); 61 waits on 57 too.
    let row = |blocked: i16, wait: f64, blocker: i16, relation: C<'static>| {
        vec![
            i16v(blocked),
            s("app"),
            s("UPDATE dbo.orders SET status = 'shipped' WHERE id = 42"),
            num(wait),
            s("LCK_M_U"),
            s("KEY U"),
            relation,
            i16v(blocker),
            i16v(57),
            s("batch"),
            s("etl01"),
            s("nightly-load"),
            s("sleeping, idle in an open transaction"),
            s("UPDATE dbo.orders SET status = 'paid' WHERE id = 42"),
            i32v(900),
            i32v(1),
        ]
    };
    let rs = fx(
        check,
        &cols,
        vec![
            row(58, 75.0, 57, s("dbo.orders")),
            row(60, 12.5, 58, ns()),
            row(61, 3.0, 57, s("dbo.orders")),
        ],
    );
    let f = blocking_chains(&rs);
    assert_eq!(f.len(), 1, "one head blocker: {f:#?}");
    let b = &f[0];
    assert_eq!(b.code, "blocking_chain");
    assert_eq!(b.severity, Severity::Critical, "75 s ≥ 60 s");
    assert_eq!(b.facts["blocker_pid"], "57");
    assert_eq!(b.facts["blocked_pid"], "58", "longest waiter");
    assert_eq!(b.facts["blocked_count"], "3");
    assert_eq!(b.facts["wait_s"], "75");
    assert_eq!(b.facts["blocker_xact_s"], "900");
    assert!(b.title.contains("session 57 (batch@etl01, sleeping, idle in an open transaction) is the head blocker of 3 session(s)"), "{}", b.title);
    assert!(b.title.contains("KEY U on dbo.orders"), "{}", b.title);
    assert!(b.facts["blocker_query"].contains("status = 'paid'"));

    // Two independent chains, a NULL head statement and a NULL transaction age.
    let mut r2 = row(70, 5.0, 69, ns());
    r2[8] = i16v(69);
    r2[13] = ns();
    r2[14] = C::I32(None);
    let rs = fx(check, &cols, vec![row(58, 10.0, 57, s("dbo.orders")), r2]);
    let f = blocking_chains(&rs);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].facts["blocker_pid"], "57", "longest wait first");
    assert_eq!(
        f[1].facts["blocker_query"],
        "(statement text not available)"
    );
    assert_eq!(f[1].facts["blocker_xact_s"], "0");
    assert_eq!(f[1].severity, Severity::Warning);
    assert!(blocking_chains(&ResultSet::default()).is_empty());
}

#[test]
fn open_transactions_idle_and_long() {
    let [check] = v("idle_in_transaction")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("pid", T::Int2),
        ("usr", T::NVarchar),
        ("host", T::NVarchar),
        ("application", T::NVarchar),
        ("state", T::NVarchar),
        ("age_s", T::Intn),
        ("idle_s", T::Intn),
        ("log_bytes", T::Intn),
        ("open_transactions", T::Int4),
        ("query", T::NVarchar),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                i16v(61),
                s("app"),
                s("web1"),
                s("api"),
                s("sleeping"),
                i32v(1200),
                i32v(700),
                i64v(5 << 20),
                i32v(1),
                s("UPDATE dbo.t SET a = 1"),
            ],
            vec![
                i16v(62),
                s("app"),
                s("web2"),
                s("api"),
                s("sleeping"),
                i32v(30),
                i32v(30),
                C::I64(None),
                i32v(1),
                ns(),
            ],
            vec![
                i16v(63),
                s("etl"),
                s("etl01"),
                s("ssis"),
                s("running"),
                i32v(4000),
                i32v(0),
                i64v(1 << 30),
                i32v(1),
                s("INSERT dbo.big SELECT …"),
            ],
            vec![
                i16v(64),
                s("etl"),
                s("etl01"),
                s("ssis"),
                s("running"),
                i32v(20),
                i32v(0),
                i64v(0),
                i32v(1),
                s("SELECT 1"),
            ],
        ],
    );
    let f = idle_in_transaction(&rs);
    assert_eq!(
        codes(&f),
        [
            "idle_in_transaction",
            "idle_in_transaction",
            "long_transaction"
        ]
    );
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].facts["pid"], "61");
    assert_eq!(f[0].facts["age_s"], "1200");
    assert_eq!(f[1].severity, Severity::Info);
    assert!(
        f[1].title.contains("last statement: unknown"),
        "{}",
        f[1].title
    );
    assert_eq!(f[1].facts["log_bytes"], "0", "NULL log bytes");
    assert_eq!(f[2].severity, Severity::Critical, "4000 s ≥ 3600 s");
}

#[test]
fn connections_use_the_shared_grouping() {
    let [check] = v("connections")[..] else {
        panic!("one variant")
    };
    let rs = fx(
        check,
        &[
            ("state", T::NVarchar),
            ("usr", T::NVarchar),
            ("application", T::NVarchar),
            ("count", T::Intn),
            ("max_connections", T::Int4),
        ],
        vec![
            vec![s("sleeping"), s("app"), s("api"), i32v(120), i32v(150)],
            vec![s("running"), s("app"), s(""), i32v(5), i32v(150)],
        ],
    );
    let f = connections(&rs);
    assert_eq!(
        codes(&f),
        [
            "connections_by_state",
            "connections_by_state",
            "connections_high"
        ]
    );
    assert_eq!(f[2].facts["used"], "125");
}

#[test]
fn memory_grants_pending_and_excessive() {
    let [check] = v("memory_grants")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("pid", T::Int2),
        ("requested_memory_kb", T::Intn),
        ("granted_memory_kb", T::Intn),
        ("used_memory_kb", T::Intn),
        ("wait_time_ms", T::Intn),
        ("dop", T::Int2),
        ("is_pending", T::Int4),
        ("query", T::NVarchar),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                i16v(70),
                i64v(2 << 20),
                C::I64(None),
                C::I64(None),
                i64v(15_000),
                i16v(8),
                i32v(1),
                s("SELECT … ORDER BY x"),
            ],
            vec![
                i16v(71),
                i64v(1024),
                C::I64(None),
                C::I64(None),
                i64v(50),
                i16v(1),
                i32v(1),
                s("SELECT 1"),
            ],
            vec![
                i16v(72),
                i64v(4 << 20),
                i64v(4 << 20),
                i64v(1024),
                C::I64(None),
                i16v(8),
                i32v(0),
                s("SELECT … HASH JOIN"),
            ],
            vec![
                i16v(73),
                i64v(1024),
                i64v(1024),
                i64v(1000),
                C::I64(None),
                i16v(1),
                i32v(0),
                s("SELECT 2"),
            ],
        ],
    );
    let f = memory_grants(&rs);
    assert_eq!(
        codes(&f),
        [
            "memory_grant_pending",
            "memory_grant_pending",
            "memory_grant_excessive"
        ]
    );
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[1].severity, Severity::Warning);
    assert_eq!(f[2].facts["pid"], "72");
    assert!(memory_grants(&ResultSet::default()).is_empty());
}

// ---- waits and statements --------------------------------------------------------------------

#[test]
fn waits_explain_top_waits() {
    let [azure, server] = v("waits")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("wait_type", T::NVarchar),
        ("wait_s", T::Decimaln),
        ("signal_s", T::Decimaln),
        ("waits", T::Intn),
        ("pct", T::Decimaln),
        ("avg_ms", T::Floatn),
        ("uptime_s", T::Intn),
    ];
    let rows = vec![
        vec![
            s("PAGEIOLATCH_SH"),
            num(5000.0),
            num(10.0),
            i64v(100_000),
            num(40.0),
            f64v(50.0),
            i32v(86_400),
        ],
        vec![
            s("LCK_M_X"),
            num(2500.0),
            num(1.0),
            i64v(100),
            num(20.0),
            f64v(25_000.0),
            i32v(86_400),
        ],
        vec![
            s("THREADPOOL"),
            num(150.0),
            num(0.0),
            i64v(10),
            num(1.2),
            f64v(15_000.0),
            i32v(86_400),
        ],
        vec![
            s("SOS_SCHEDULER_YIELD"),
            num(700.0),
            num(700.0),
            i64v(1_000_000),
            num(6.0),
            f64v(0.7),
            i32v(86_400),
        ],
        vec![
            s("MSQL_XP"),
            num(1.0),
            num(0.0),
            i64v(1),
            num(0.1),
            C::F64(None),
            i32v(86_400),
        ],
    ];
    let f = waits(&fx(server, &cols, rows.clone()));
    assert_eq!(codes(&f), ["top_wait"; 4]);
    assert_eq!(f[0].severity, Severity::Warning, "PAGEIOLATCH 40% at 50 ms");
    assert!(
        f[0].title.contains("since start (1d 0h ago)"),
        "{}",
        f[0].title
    );
    assert_eq!(f[1].severity, Severity::Warning, "locks 20%");
    assert_eq!(f[2].severity, Severity::Critical, "THREADPOOL");
    assert_eq!(f[3].severity, Severity::Info);
    assert!(f[3].facts["meaning"].contains("CPU pressure"));
    // Azure: no uptime column value.
    let mut azure_rows = rows;
    for r in &mut azure_rows {
        r[6] = C::I32(None);
    }
    let f = waits(&fx(azure, &cols, azure_rows));
    assert!(!f[0].title.contains("since start"), "{}", f[0].title);
}

#[test]
fn top_statements_rank_cpu_duration_reads() {
    let [check] = v("top_statements")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("query", T::NVarchar),
        ("calls", T::Intn),
        ("total_ms", T::Decimaln),
        ("mean_ms", T::Decimaln),
        ("cpu_ms", T::Decimaln),
        ("mean_cpu_ms", T::Decimaln),
        ("logical_reads", T::Intn),
        ("reads_per_call", T::Intn),
        ("plans", T::Intn),
        ("cpu_rank", T::Intn),
        ("elapsed_rank", T::Intn),
        ("reads_rank", T::Intn),
        ("last_execution_time", T::Datetimen),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                s("SELECT * FROM dbo.events WHERE customer_id = @p1"),
                i64v(10),
                num(25_000.0),
                num(2_500.0),
                num(20_000.0),
                num(2_000.0),
                i64v(9_000_000),
                i64v(900_000),
                i32v(2),
                i64v(1),
                i64v(1),
                i64v(1),
            ],
            vec![
                s("SELECT 1"),
                i64v(0),
                num(0.0),
                C::Numeric(None),
                num(0.0),
                C::Numeric(None),
                i64v(0),
                C::I64(None),
                i32v(1),
                i64v(2),
                i64v(14),
                i64v(30),
            ],
        ]
        .into_iter()
        .map(|mut r| {
            r.push(dt(0));
            r
        })
        .collect(),
    );
    let f = top_statements(&rs);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].title
            .contains("#1 by CPU, #1 by duration, #1 by reads"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].facts["mean_ms"], "2500.0");
    assert_eq!(f[1].severity, Severity::Info, "NULL mean (0 calls)");
    assert!(f[1].title.contains("(#2 by CPU)"), "{}", f[1].title);
}

#[test]
fn query_store_states() {
    let [check] = v("query_store")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("actual_state", T::NVarchar),
        ("desired_state", T::NVarchar),
        ("readonly_reason", T::Intn),
        ("current_storage_size_mb", T::Intn),
        ("max_storage_size_mb", T::Intn),
        ("capture_mode", T::NVarchar),
        ("cleanup_mode", T::NVarchar),
        ("stale_query_threshold_days", T::Intn),
    ];
    let row = |actual: &str, reason: i32, cur: i64, mode: &str| {
        vec![
            s("orders"),
            s(actual),
            s("READ_WRITE"),
            i32v(reason),
            i64v(cur),
            i64v(1000),
            s(mode),
            s("AUTO"),
            i64v(30),
        ]
    };
    let f = query_store(&fx(check, &cols, vec![row("OFF", 0, 0, "AUTO")]));
    assert_eq!(codes(&f), ["query_store_off"]);
    assert!(f[0].facts["enable_sql"].contains("ALTER DATABASE [orders] SET QUERY_STORE = ON"));
    let f = query_store(&fx(
        check,
        &cols,
        vec![row("READ_ONLY", 65536, 1000, "ALL")],
    ));
    assert_eq!(codes(&f), ["query_store_readonly", "setting_review"]);
    assert!(f[0].title.contains("MAX_STORAGE_SIZE_MB"), "{}", f[0].title);
    let f = query_store(&fx(check, &cols, vec![row("READ_WRITE", 0, 950, "AUTO")]));
    assert_eq!(codes(&f), ["query_store_full_soon"]);
    let f = query_store(&fx(check, &cols, vec![row("READ_WRITE", 0, 100, "AUTO")]));
    assert_eq!(codes(&f), ["query_store_ok"]);
    assert!(query_store(&ResultSet::default()).is_empty());
}

// ---- indexes ---------------------------------------------------------------------------------

#[test]
fn missing_index_suggestions_build_create_index() {
    let [check] = v("seq_scans")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("tbl", T::NVarchar),
        ("equality_columns", T::NVarchar),
        ("inequality_columns", T::NVarchar),
        ("included_columns", T::NVarchar),
        ("user_seeks", T::Intn),
        ("user_scans", T::Intn),
        ("avg_total_user_cost", T::Floatn),
        ("avg_user_impact", T::Floatn),
        ("unique_compiles", T::Intn),
        ("last_user_seek", T::Datetimen),
        ("improvement_measure", T::Floatn),
        ("table_scans", T::Intn),
        ("index_seeks", T::Intn),
        ("table_rows", T::Intn),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                s("shop"),
                s("[shop].[dbo].[events]"),
                s("[customer_id]"),
                s("[created_at]"),
                s("[kind], [payload]"),
                i64v(5_000),
                i64v(20),
                f64v(40.0),
                f64v(97.5),
                i64v(12),
                dt(0),
                f64v(195_975.0),
                i64v(25),
                i64v(3),
                i64v(2_000_000),
            ],
            vec![
                s("shop"),
                s("[shop].[dbo].[orders]"),
                ns(),
                s("[total]"),
                ns(),
                i64v(3),
                i64v(0),
                f64v(1.0),
                f64v(30.0),
                i64v(1),
                C::DateTime(None),
                f64v(11.0),
                C::I64(None),
                C::I64(None),
                C::I64(None),
            ],
            vec![
                s("shop"),
                s("[shop].[dbo].[tiny]"),
                s("[a]"),
                ns(),
                ns(),
                i64v(1),
                i64v(0),
                f64v(0.1),
                f64v(10.0),
                i64v(1),
                dt(0),
                f64v(0.01),
                i64v(0),
                i64v(0),
                i64v(10),
            ],
        ],
    );
    let f = missing_indexes(&rs);
    assert_eq!(f.len(), 2, "measure ≤ 10 skipped");
    assert_eq!(f[0].code, "missing_index_candidate");
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(
        f[0].facts["create_sql"],
        "CREATE NONCLUSTERED INDEX [IX_events_customer_id_created_at] ON [shop].[dbo].[events] ([customer_id], [created_at]) INCLUDE ([kind], [payload]);"
    );
    assert_eq!(f[0].facts["column"], "customer_id");
    assert_eq!(f[0].facts["seq_scan"], "25");
    assert_eq!(f[0].facts["rows"], "2000000");
    assert_eq!(f[1].severity, Severity::Info);
    assert_eq!(
        f[1].facts["create_sql"],
        "CREATE NONCLUSTERED INDEX [IX_orders_total] ON [shop].[dbo].[orders] ([total]);"
    );
    assert_eq!(f[1].facts["rows"], "?", "other database: no row count");
    assert_eq!(
        f[1].facts["seq_scan"], "0",
        "NULL table scans fall back to user_scans"
    );
}

#[test]
fn unused_indexes_respect_statistics_age() {
    let [azure, server] = v("unused_indexes")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("tbl", T::NVarchar),
        ("idx", T::NVarchar),
        ("scans", T::Intn),
        ("writes", T::Intn),
        ("size_bytes", T::Intn),
        ("stats_age_s", T::Intn),
    ];
    let rows = |age: C<'static>| {
        vec![
            vec![
                s("dbo.events"),
                s("ix_events_kind"),
                i64v(0),
                i64v(50_000),
                i64v(200 << 20),
                age.clone(),
            ],
            vec![
                s("dbo.orders"),
                s("ix_orders_note"),
                i64v(0),
                i64v(0),
                C::I64(None),
                age,
            ],
        ]
    };
    let f = unused_indexes(&fx(server, &cols, rows(i32v(30 * 86_400))));
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(
        f[0].facts["drop_sql"],
        "DROP INDEX [ix_events_kind] ON [dbo].[events];"
    );
    assert!(
        f[0].title.contains("in the 30d 0h since the last restart"),
        "{}",
        f[0].title
    );
    assert_eq!(f[1].severity, Severity::Info);
    assert_eq!(f[1].facts["size"], "0 B", "NULL size");
    let f = unused_indexes(&fx(server, &cols, rows(i32v(3600))));
    assert_eq!(
        f[0].severity,
        Severity::Info,
        "one hour of statistics proves nothing"
    );
    let f = unused_indexes(&fx(azure, &cols, rows(C::I32(None))));
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].title
            .contains("since usage statistics were last reset"),
        "{}",
        f[0].title
    );
}

#[test]
fn duplicate_indexes_keep_the_constraint() {
    let [check] = v("duplicate_indexes")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("tbl", T::NVarchar),
        ("idx", T::NVarchar),
        ("is_unique", T::Bit),
        ("is_constraint", T::Bit),
        ("cols", T::NVarchar),
        ("include_cols", T::NVarchar),
        ("filter", T::NVarchar),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                s("dbo.orders"),
                s("PK_orders"),
                bit(true),
                bit(true),
                s("id"),
                s(""),
                s(""),
            ],
            vec![
                s("dbo.orders"),
                s("ix_orders_id"),
                bit(false),
                bit(false),
                s("id"),
                s(""),
                s(""),
            ],
            vec![
                s("dbo.orders"),
                s("ix_a"),
                bit(false),
                bit(false),
                s("customer_id, created_at DESC"),
                s("status"),
                s(""),
            ],
            vec![
                s("dbo.orders"),
                s("ix_b"),
                bit(false),
                bit(false),
                s("customer_id, created_at DESC"),
                s("status"),
                s(""),
            ],
            vec![
                s("dbo.orders"),
                s("uq_x"),
                bit(true),
                bit(true),
                s("code"),
                s(""),
                s(""),
            ],
            vec![
                s("dbo.orders"),
                s("uq_y"),
                bit(true),
                bit(true),
                s("code"),
                s(""),
                s(""),
            ],
        ],
    );
    let f = duplicate_indexes(&rs);
    assert_eq!(f.len(), 3, "{f:#?}");
    let by_index = |i: &str| {
        f.iter()
            .find(|f| f.facts["index"] == i)
            .unwrap_or_else(|| panic!("{i}"))
    };
    assert_eq!(by_index("ix_orders_id").facts["duplicate_of"], "PK_orders");
    assert_eq!(
        by_index("ix_orders_id").facts["drop_sql"],
        "DROP INDEX [ix_orders_id] ON [dbo].[orders];"
    );
    assert_eq!(by_index("ix_b").facts["duplicate_of"], "ix_a");
    assert_eq!(
        by_index("ix_b").facts["columns"],
        "customer_id, created_at DESC INCLUDE status"
    );
    assert_eq!(
        by_index("uq_y").facts["drop_sql"],
        "ALTER TABLE [dbo].[orders] DROP CONSTRAINT [uq_y];"
    );
    assert!(f[0]
        .threshold
        .as_deref()
        .unwrap_or("")
        .contains("Microsoft Learn"));
}

#[test]
fn index_list_counts() {
    let [check] = v("index_list")[..] else {
        panic!("one variant")
    };
    let rs = fx(
        check,
        &[
            ("tbl", T::NVarchar),
            ("idx", T::NVarchar),
            ("definition", T::NVarchar),
            ("is_unique", T::Bitn),
            ("is_primary_key", T::Bitn),
        ],
        vec![
            vec![
                s("dbo.orders"),
                s("PK_orders"),
                s("CLUSTERED"),
                bit(true),
                bit(true),
            ],
            vec![s("dbo.orders"), ns(), s("HEAP"), C::Bit(None), C::Bit(None)],
        ],
    );
    assert_eq!(index_list(&rs)[0].title, "2 indexes in this database");
}

#[test]
fn fragmentation_above_thirty_percent() {
    let [check] = v("fragmentation")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("tbl", T::NVarchar),
        ("idx", T::NVarchar),
        ("index_type", T::NVarchar),
        ("partition_number", T::Int4),
        ("partitions", T::Intn),
        ("frag_pct", T::Floatn),
        ("pages", T::Intn),
    ];
    let rs = fx(
        check,
        &cols,
        vec![
            vec![
                s("dbo.events"),
                s("PK_events"),
                s("CLUSTERED INDEX"),
                i32v(1),
                i32v(1),
                f64v(65.2),
                i64v(120_000),
            ],
            vec![
                s("dbo.sales"),
                s("ix_sales_day"),
                s("NONCLUSTERED INDEX"),
                i32v(7),
                i32v(12),
                f64v(31.0),
                i64v(5_000),
            ],
            vec![
                s("dbo.small"),
                s("ix"),
                s("NONCLUSTERED INDEX"),
                i32v(1),
                i32v(1),
                f64v(29.9),
                i64v(50_000),
            ],
            vec![
                s("dbo.x"),
                s("ix"),
                s("NONCLUSTERED INDEX"),
                i32v(1),
                i32v(1),
                C::F64(None),
                i64v(50_000),
            ],
        ],
    );
    let f = fragmentation(&rs);
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].facts["fix_sql"],
        "ALTER INDEX [PK_events] ON [dbo].[events] REBUILD WITH (ONLINE = ON);"
    );
    assert_eq!(
        f[1].facts["fix_sql"],
        "ALTER INDEX [ix_sales_day] ON [dbo].[sales] REBUILD PARTITION = 7 WITH (ONLINE = ON);"
    );
    assert!(f.iter().all(|f| f.severity == Severity::Info));
}

#[test]
fn tables_without_pk_mark_heaps() {
    let [check] = v("tables_without_pk")[..] else {
        panic!("one variant")
    };
    let rs = fx(
        check,
        &[
            ("tbl", T::NVarchar),
            ("est_rows", T::Intn),
            ("is_heap", T::Int4),
        ],
        vec![
            vec![s("dbo.events"), i64v(1_000_000), i32v(1)],
            vec![s("dbo.audit"), C::I64(None), i32v(0)],
        ],
    );
    let f = tables_without_pk(&rs);
    assert_eq!(codes(&f), ["table_without_pk", "table_without_pk"]);
    assert!(
        f[0].title.ends_with("and is a heap (no clustered index)"),
        "{}",
        f[0].title
    );
    assert_eq!(
        f[1].title, "dbo.audit has no primary key",
        "an unknown row count is not shown as 0"
    );
    assert!(!f[1].facts.contains_key("heap"));
}

// ---- space -----------------------------------------------------------------------------------

#[test]
fn largest_tables_use_the_shared_sizes() {
    let [check] = v("largest_tables")[..] else {
        panic!("one variant")
    };
    let rs = fx(
        check,
        &[
            ("tbl", T::NVarchar),
            ("size_bytes", T::Intn),
            ("index_bytes", T::Intn),
            ("est_rows", T::Intn),
        ],
        vec![vec![
            s("dbo.events"),
            i64v(3 << 30),
            i64v(1 << 30),
            i64v(10_000_000),
        ]],
    );
    let f = largest_tables(&rs);
    assert_eq!(f[0].code, "large_table");
    assert_eq!(f[0].facts["size"], "3.0 GB");
}

#[test]
fn database_size_states_and_azure_max() {
    let [azure, server] = v("database_size")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("state", T::NVarchar),
        ("recovery_model", T::NVarchar),
        ("data_bytes", T::Intn),
        ("log_bytes", T::Intn),
        ("size_bytes", T::Intn),
        ("max_size_bytes", T::Intn),
    ];
    let f = database_size(&fx(
        server,
        &cols,
        vec![
            vec![
                s("orders"),
                s("ONLINE"),
                s("FULL"),
                i64v(10 << 30),
                i64v(2 << 30),
                i64v(12 << 30),
                C::I32(None),
            ],
            vec![
                s("legacy"),
                s("SUSPECT"),
                s("SIMPLE"),
                C::I64(None),
                C::I64(None),
                C::I64(None),
                C::I32(None),
            ],
            vec![
                s("ls_copy"),
                s("RESTORING"),
                s("FULL"),
                i64v(1 << 30),
                i64v(1 << 20),
                i64v(1 << 30),
                C::I32(None),
            ],
        ],
    ));
    assert_eq!(find(&f, "database_not_online").severity, Severity::Critical);
    assert_eq!(
        f.iter().filter(|f| f.code == "database_not_online").count(),
        2
    );
    assert_eq!(f.iter().filter(|f| f.code == "database_size").count(), 3);
    assert!(f.iter().any(|f| f
        .title
        .contains("orders: 12.0 GB (data 10.0 GB, log 2.0 GB), FULL recovery")));
    let f = database_size(&fx(
        azure,
        &cols,
        vec![vec![
            s("orders"),
            s("ONLINE"),
            s("FULL"),
            i64v(249 << 30),
            i64v(1 << 30),
            i64v(250 << 30),
            i64v(250 << 30),
        ]],
    ));
    assert_eq!(
        find(&f, "database_near_max_size").severity,
        Severity::Critical
    );
}

#[test]
fn file_space_full_max_growth_volume() {
    let [azure, server] = v("file_space")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("file_name", T::NVarchar),
        ("file_type", T::NVarchar),
        ("size_bytes", T::Intn),
        ("used_bytes", T::Intn),
        ("max_bytes", T::Intn),
        ("growth", T::Int4),
        ("is_percent_growth", T::Bit),
        ("volume_bytes", T::Intn),
        ("volume_free_bytes", T::Intn),
    ];
    let f = file_space(&fx(
        server,
        &cols,
        vec![
            vec![
                s("orders_data"),
                s("ROWS"),
                i64v(100 << 30),
                i64v(99 << 30),
                C::I64(None),
                i32v(0),
                bit(false),
                i64v(1000 << 30),
                i64v(40 << 30),
            ],
            vec![
                s("orders_log"),
                s("LOG"),
                i64v(10 << 30),
                i64v(9 << 30),
                i64v(10 << 30),
                i32v(10),
                bit(true),
                i64v(1000 << 30),
                i64v(40 << 30),
            ],
            vec![
                s("orders_data2"),
                s("ROWS"),
                i64v(1 << 30),
                C::I64(None),
                C::I64(None),
                i32v(8192),
                bit(false),
                C::I64(None),
                C::I64(None),
            ],
        ],
    ));
    assert_eq!(
        codes(&f),
        [
            "file_full",
            "disk_space_low",
            "file_near_max_size",
            "autogrowth_percent"
        ],
        "the shared volume is reported once"
    );
    assert_eq!(f[0].severity, Severity::Critical, "99% used, no growth");
    assert_eq!(f[1].severity, Severity::Critical, "4% free");
    assert_eq!(
        f[3].facts["fix_sql"],
        "ALTER DATABASE CURRENT MODIFY FILE (NAME = [orders_log], FILEGROWTH = 512MB);"
    );
    let f = file_space(&fx(
        azure,
        &cols,
        vec![vec![
            s("data_0"),
            s("ROWS"),
            i64v(1 << 30),
            i64v(1 << 20),
            C::I64(None),
            i32v(2048),
            bit(false),
            C::I32(None).clone(),
            C::I32(None),
        ]],
    ));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn log_space_reuse_waits_and_vlfs() {
    let variants = v("log_space");
    assert_eq!(variants.len(), 3);
    let cols = [
        ("database_name", T::NVarchar),
        ("recovery_model", T::NVarchar),
        ("log_reuse_wait", T::NVarchar),
        ("log_size_bytes", T::Intn),
        ("log_used_bytes", T::Intn),
        ("vlf_count", T::Intn),
    ];
    for check in &variants {
        let f = log_space(&fx(
            check,
            &cols,
            vec![
                vec![
                    s("orders"),
                    s("FULL"),
                    s("LOG_BACKUP"),
                    i64v(100 << 30),
                    i64v(95 << 30),
                    i32v(4_000),
                ],
                vec![
                    s("crm"),
                    s("FULL"),
                    s("ACTIVE_TRANSACTION"),
                    i64v(10 << 30),
                    i64v(1 << 30),
                    C::I32(None),
                ],
                vec![
                    s("tempdb"),
                    s("SIMPLE"),
                    s("NOTHING"),
                    i64v(1 << 30),
                    i64v(1 << 20),
                    C::I32(None),
                ],
                vec![
                    s("new"),
                    s("FULL"),
                    s("NOTHING"),
                    C::I64(None),
                    C::I64(None),
                    i32v(1000),
                ],
            ],
        ));
        assert_eq!(
            codes(&f),
            ["log_space_high", "vlf_count_high", "log_reuse_wait"]
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].title
                .contains("because of LOG_BACKUP: take a log backup"),
            "{}",
            f[0].title
        );
        assert_eq!(f[1].facts["vlf_count"], "4000");
        assert!(f[2].title.contains("ACTIVE_TRANSACTION"));
    }
}

#[test]
fn tempdb_usage_version_store_files() {
    let [check] = v("tempdb")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("total_bytes", T::Intn),
        ("free_bytes", T::Intn),
        ("version_store_bytes", T::Intn),
        ("user_objects_bytes", T::Intn),
        ("internal_objects_bytes", T::Intn),
        ("data_files", T::Intn),
        ("cpu_count", T::Int4),
        ("top_session", T::Int2),
        ("top_session_bytes", T::Intn),
        ("oldest_snapshot_tx_s", T::Intn),
    ];
    let f = tempdb(&fx(
        check,
        &cols,
        vec![vec![
            i64v(16 << 30),
            i64v(1 << 30),
            i64v(8 << 30),
            i64v(2 << 30),
            i64v(5 << 30),
            i32v(2),
            i32v(16),
            i16v(77),
            i64v(4 << 30),
            i64v(7200),
        ]],
    ));
    assert_eq!(
        codes(&f),
        [
            "tempdb_usage",
            "tempdb_usage_high",
            "tempdb_version_store_large",
            "tempdb_file_count"
        ]
    );
    assert_eq!(f[1].facts["pid"], "77");
    assert!(f[2].title.contains("2h 0m"), "{}", f[2].title);
    assert_eq!(f[3].facts["files"], "2");
    // Idle tempdb, NULL top session, no snapshot transactions.
    let f = tempdb(&fx(
        check,
        &cols,
        vec![vec![
            i64v(8 << 30),
            i64v(8 << 30),
            i64v(0),
            i64v(0),
            i64v(0),
            i32v(8),
            i32v(8),
            C::I16(None),
            C::I64(None),
            C::I64(None),
        ]],
    ));
    assert_eq!(codes(&f), ["tempdb_usage"]);
}

// ---- backups, security, settings, replication -----------------------------------------------

#[test]
fn backups_from_msdb() {
    let [_, server] = v("backups")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("recovery_model", T::NVarchar),
        ("state", T::NVarchar),
        ("db_age_h", T::Intn),
        ("last_full", T::Datetimen),
        ("last_diff", T::Datetimen),
        ("last_log", T::Datetimen),
        ("full_age_h", T::Decimaln),
        ("diff_age_h", T::Decimaln),
        ("log_age_h", T::Decimaln),
        ("managed", T::Bit),
    ];
    let none = || C::DateTime(None);
    let nn = || C::Numeric(None);
    let f = backups(&fx(
        server,
        &cols,
        vec![
            // never backed up, old
            vec![
                s("orders"),
                s("FULL"),
                s("ONLINE"),
                i32v(5000),
                none(),
                none(),
                none(),
                nn(),
                nn(),
                nn(),
                bit(false),
            ],
            // full 10 days old, no diff; FULL recovery, log 6 h old
            vec![
                s("crm"),
                s("FULL"),
                s("ONLINE"),
                i32v(9000),
                dt(-10),
                none(),
                dt(0),
                num(240.0),
                nn(),
                num(6.0),
                bit(false),
            ],
            // healthy SIMPLE user db
            vec![
                s("reporting"),
                s("SIMPLE"),
                s("ONLINE"),
                i32v(9000),
                dt(0),
                none(),
                none(),
                num(3.0),
                nn(),
                nn(),
                bit(false),
            ],
            // healthy FULL db with a recent diff
            vec![
                s("billing"),
                s("FULL"),
                s("ONLINE"),
                i32v(9000),
                dt(-9),
                dt(0),
                dt(0),
                num(216.0),
                num(2.0),
                num(0.25),
                bit(false),
            ],
            // model in FULL recovery never needs log backups; offline databases are skipped
            vec![
                s("model"),
                s("FULL"),
                s("ONLINE"),
                i32v(9000),
                dt(0),
                none(),
                none(),
                num(1.0),
                nn(),
                nn(),
                bit(false),
            ],
            vec![
                s("old"),
                s("FULL"),
                s("OFFLINE"),
                i32v(9000),
                none(),
                none(),
                none(),
                nn(),
                nn(),
                nn(),
                bit(false),
            ],
            // created an hour ago: warnings, not critical
            vec![
                s("fresh"),
                s("FULL"),
                s("ONLINE"),
                i32v(1),
                none(),
                none(),
                none(),
                nn(),
                nn(),
                nn(),
                bit(false),
            ],
        ],
    ));
    assert_eq!(
        codes(&f),
        [
            "backup_missing",
            "log_backup_missing",
            "backup_stale",
            "log_backup_stale",
            "recovery_model_simple",
            "backup_missing",
            "log_backup_missing",
            "backups_ok"
        ]
    );
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(
        f[0].facts["backup_sql"],
        "BACKUP DATABASE [orders] TO URL = N'…' WITH COMPRESSION, CHECKSUM;"
    );
    assert_eq!(f[5].severity, Severity::Warning, "fresh database");
    assert!(f[7].title.starts_with("2 database(s)"), "{}", f[7].title);
}

#[test]
fn backups_on_azure() {
    let [azure, _] = v("backups")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("recovery_model", T::NVarchar),
        ("state", T::NVarchar),
        ("db_age_h", T::Intn),
        ("last_full", T::Datetime2),
        ("last_diff", T::Datetime2),
        ("last_log", T::Datetime2),
        ("full_age_h", T::Decimaln),
        ("diff_age_h", T::Decimaln),
        ("log_age_h", T::Decimaln),
        ("managed", T::Bit),
    ];
    let f = backups(&fx(
        azure,
        &cols,
        vec![vec![
            s("orders"),
            s("FULL"),
            s("ONLINE"),
            C::I32(None),
            dt2(0),
            dt2(1),
            dt2(1),
            num(50.0),
            num(10.0),
            num(0.1),
            bit(true),
        ]],
    ));
    assert_eq!(codes(&f), ["backups_ok"]);
    assert!(f[0].title.contains("last full 2d 2h ago"), "{}", f[0].title);
    // Hyperscale: MAX over no rows is NULL everywhere.
    let f = backups(&fx(
        azure,
        &cols,
        vec![vec![
            s("orders"),
            s("FULL"),
            s("ONLINE"),
            C::I32(None),
            C::DateTime2(None),
            C::DateTime2(None),
            C::DateTime2(None),
            C::Numeric(None),
            C::Numeric(None),
            C::Numeric(None),
            bit(true),
        ]],
    ));
    assert_eq!(codes(&f), ["backup_history_unavailable"]);
}

#[test]
fn logins_sa_sysadmin_policy() {
    let [check] = v("roles_security")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("login_name", T::NVarchar),
        ("login_type", T::NVarchar),
        ("is_disabled", T::Bitn),
        ("is_sa", T::Int4),
        ("is_sysadmin", T::Int4),
        ("is_policy_checked", T::Bitn),
        ("is_expiration_checked", T::Bitn),
    ];
    let f = roles_security(&fx(
        check,
        &cols,
        vec![
            vec![
                s("sa"),
                s("SQL_LOGIN"),
                bit(false),
                i32v(1),
                i32v(1),
                bit(true),
                bit(false),
            ],
            vec![
                s("app_admin"),
                s("SQL_LOGIN"),
                bit(false),
                i32v(0),
                i32v(1),
                bit(false),
                bit(false),
            ],
            vec![
                s(r"CORP\DBAs"),
                s("WINDOWS_GROUP"),
                bit(false),
                i32v(0),
                i32v(1),
                C::Bit(None),
                C::Bit(None),
            ],
            vec![
                s("old_admin"),
                s("SQL_LOGIN"),
                bit(true),
                i32v(0),
                i32v(1),
                bit(false),
                bit(false),
            ],
            vec![
                s("reporting"),
                s("SQL_LOGIN"),
                bit(false),
                i32v(0),
                i32v(0),
                bit(true),
                bit(false),
            ],
        ],
    ));
    assert_eq!(
        codes(&f),
        [
            "sa_enabled",
            "superuser_role",
            "password_policy_off",
            "password_no_expiry",
            "superuser_role"
        ]
    );
    assert_eq!(f[0].facts["fix_sql"], "ALTER LOGIN [sa] DISABLE;");
    assert_eq!(f[1].severity, Severity::Warning, "SQL login in sysadmin");
    assert_eq!(f[4].severity, Severity::Info, "Windows group in sysadmin");
    // A disabled sa is fine.
    let f = roles_security(&fx(
        check,
        &cols,
        vec![vec![
            s("sa_renamed"),
            s("SQL_LOGIN"),
            bit(true),
            i32v(1),
            i32v(1),
            bit(true),
            bit(true),
        ]],
    ));
    assert!(f.is_empty());
}

#[test]
fn tde_and_connection_encryption() {
    let [check] = v("encryption")[..] else {
        panic!("one variant")
    };
    let cols = [
        ("database_name", T::NVarchar),
        ("is_encrypted", T::Bit),
        ("encryption_state", T::Intn),
        ("percent_complete", T::Floatn),
        ("key_algorithm", T::NVarchar),
        ("key_length", T::Intn),
        ("unencrypted_connections", T::Intn),
        ("total_connections", T::Intn),
    ];
    let f = encryption(&fx(
        check,
        &cols,
        vec![
            vec![
                s("orders"),
                bit(true),
                i32v(3),
                C::F32(Some(0.0)),
                s("AES"),
                i32v(256),
                i32v(4),
                i32v(50),
            ],
            vec![
                s("crm"),
                bit(false),
                C::I32(None),
                C::F32(None),
                ns(),
                C::I32(None),
                i32v(4),
                i32v(50),
            ],
            vec![
                s("billing"),
                bit(true),
                i32v(2),
                C::F32(Some(42.0)),
                s("AES"),
                i32v(256),
                i32v(4),
                i32v(50),
            ],
        ],
    ));
    assert_eq!(
        codes(&f),
        ["tde_off", "tde_in_progress", "unencrypted_connections"]
    );
    assert!(
        f[1].title.contains("encrypting, 42% done"),
        "{}",
        f[1].title
    );
    assert!(f[2].title.contains("4 of 50"), "{}", f[2].title);
}

#[test]
fn settings_server_and_database_options() {
    let [azure, server] = v("settings")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("scope", T::NVarchar),
        ("name", T::NVarchar),
        ("value", T::Intn),
    ];
    let row = |scope: &str, name: &str, value: i64| vec![s(scope), s(name), i64v(value)];
    let f = settings(&fx(
        server,
        &cols,
        vec![
            row("server", "max server memory (MB)", 2_147_483_647),
            row("server", "max degree of parallelism", 0),
            row("server", "cost threshold for parallelism", 5),
            row("server", "optimize for ad hoc workloads", 1),
            row("server", "xp_cmdshell", 1),
            row("server", "clr enabled", 0),
            row("server", "cpu_count", 32),
            row("server", "physical_memory_mb", 262_144),
            row("server", "product_major_version", 16),
            row("orders", "auto_shrink", 1),
            row("orders", "page_verify_not_checksum", 1),
            row("orders", "compatibility_level", 130),
            row("crm", "compatibility_level", 160),
        ],
    ));
    let names: Vec<&str> = f.iter().map(|f| f.facts["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "max server memory (MB)",
            "max degree of parallelism",
            "cost threshold for parallelism",
            "xp_cmdshell",
            "orders: AUTO_SHRINK",
            "orders: PAGE_VERIFY",
            "orders: compatibility level"
        ]
    );
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[5].facts["value"], "TORN_PAGE_DETECTION");
    assert!(
        f[6].title.contains("older than the engine's 160"),
        "{}",
        f[6].title
    );
    // Azure: text values from sql_variant casts.
    let f = settings(&fx(
        azure,
        &[
            ("scope", T::NVarchar),
            ("name", T::NVarchar),
            ("value", T::NVarchar),
        ],
        vec![
            vec![s("database"), s("MAXDOP"), s("8")],
            vec![s("database"), s("LEGACY_CARDINALITY_ESTIMATION"), s("1")],
            vec![s("database"), s("PARAMETER_SNIFFING"), s("1")],
            vec![s("orders"), s("compatibility_level"), s("150")],
        ],
    ));
    assert_eq!(codes(&f), ["setting_review"]);
    assert_eq!(f[0].facts["name"], "LEGACY_CARDINALITY_ESTIMATION");
}

#[test]
fn availability_groups_and_geo_replication() {
    let [azure, server] = v("replication")[..] else {
        panic!("two variants")
    };
    let cols = [
        ("ag_name", T::NVarchar),
        ("replica_server", T::NVarchar),
        ("database_name", T::NVarchar),
        ("role", T::NVarchar),
        ("availability_mode", T::NVarchar),
        ("sync_state", T::NVarchar),
        ("sync_health", T::NVarchar),
        ("is_suspended", T::Bitn),
        ("suspend_reason", T::NVarchar),
        ("send_queue_kb", T::Intn),
        ("redo_queue_kb", T::Intn),
        ("lag_s", T::Intn),
    ];
    let f = replication(&fx(
        server,
        &cols,
        vec![
            vec![
                s("ag1"),
                s("sql1"),
                s("orders"),
                s("PRIMARY"),
                s("SYNCHRONOUS_COMMIT"),
                s("SYNCHRONIZED"),
                s("HEALTHY"),
                bit(false),
                ns(),
                C::I64(None),
                C::I64(None),
                i32v(0),
            ],
            vec![
                s("ag1"),
                s("sql2"),
                s("orders"),
                s("SECONDARY"),
                s("SYNCHRONOUS_COMMIT"),
                s("NOT SYNCHRONIZING"),
                s("NOT_HEALTHY"),
                bit(true),
                s("SUSPEND_FROM_USER"),
                i64v(0),
                i64v(0),
                C::I32(None),
            ],
            vec![
                s("ag1"),
                s("dr1"),
                s("orders"),
                s("SECONDARY"),
                s("ASYNCHRONOUS_COMMIT"),
                s("SYNCHRONIZING"),
                s("HEALTHY"),
                bit(false),
                ns(),
                i64v(2 << 20),
                i64v(10),
                i32v(45),
            ],
        ],
    ));
    assert_eq!(
        codes(&f),
        ["replication_ok", "replication_broken", "replication_lag"]
    );
    assert!(
        f[1].facts["error"].contains("suspended: SUSPEND_FROM_USER"),
        "{}",
        f[1].facts["error"]
    );
    assert_eq!(f[2].severity, Severity::Warning, "2 GB queue, 45 s");
    assert_eq!(
        f[2].facts["lag_bytes"],
        (((2i64 << 20) + 10) * 1024).to_string()
    );
    let f = replication(&fx(
        azure,
        &cols,
        vec![vec![
            s("geo-replication"),
            s("orders-dr"),
            s("orders"),
            s("PRIMARY"),
            s("ASYNCHRONOUS_COMMIT"),
            s("CATCH_UP"),
            s("HEALTHY"),
            bit(false),
            ns(),
            C::I32(None).clone(),
            C::I32(None),
            i32v(400),
        ]],
    ));
    assert_eq!(codes(&f), ["replication_lag"]);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(
        codes(&replication(&ResultSet::default())),
        ["replication_none"]
    );
}

/// Preconditions return one bit column, which the runner reads with `Value::as_bool`.
#[test]
fn preconditions_decode_to_booleans() {
    let rows = vec![TRow::builder()
        .column("is_azure_sql_database", T::Bitn, C::Bit(Some(true)))
        .build()];
    let rs = result_set_from_rows(rows, 1);
    assert_eq!(rs.rows[0][0].as_bool(), Some(true));
    for c in super::CHECKS {
        if let Some(p) = c.precondition {
            assert_eq!(output_columns(p.sql).len(), 1, "{}: one column", c.name);
            assert!(
                p.sql.contains("AS bit"),
                "{}: precondition returns a bit",
                c.name
            );
        }
    }
}
