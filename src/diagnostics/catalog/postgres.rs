//! PostgreSQL diagnostics (PostgreSQL 13+; statistics views per docs chapter 28.2
//! "The Cumulative Statistics System").
//!
//! Sessions of the bot itself carry `application_name = 'dbabot'` and are left out of session
//! checks. Session checks are limited to the database the target DSN points at.

use super::common::{duplicate_indexes_by_columns, first_unindexed, where_columns};
use super::{Check, Precondition};
use crate::config::Engine;
use crate::diagnostics::finding::{human_bytes, human_secs, short_query};
use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;

const E: Engine = Engine::Postgres;

pub(super) static CHECKS: &[Check] = &[
    Check {
        name: "overview",
        engine: E,
        title: "Server overview: version, uptime, connections, cache hit ratio, size",
        sql: "SELECT version() AS version,
       extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime_s,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::bigint AS connections,
       current_setting('max_connections')::bigint AS max_connections,
       current_setting('superuser_reserved_connections')::bigint AS reserved,
       (SELECT round(100.0 * sum(blks_hit) / nullif(sum(blks_hit) + sum(blks_read), 0), 2)::float8 FROM pg_stat_database) AS cache_hit_pct,
       (SELECT sum(blks_hit) + sum(blks_read) FROM pg_stat_database)::float8 AS block_requests,
       (SELECT coalesce(sum(deadlocks), 0) FROM pg_stat_database)::bigint AS deadlocks,
       pg_database_size(current_database())::bigint AS db_size_bytes,
       current_database() AS database",
        precondition: None,
        evaluate: overview,
    },
    Check {
        name: "active_queries",
        engine: E,
        title: "Active and long-running queries",
        sql: "SELECT pid, usename::text AS usr, state, wait_event_type, wait_event,
       extract(epoch FROM now() - query_start)::float8 AS duration_s,
       left(query, 500) AS query
  FROM pg_stat_activity
 WHERE state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')
   AND pid <> pg_backend_pid() AND backend_type = 'client backend'
   AND datname = current_database() AND application_name <> 'dbabot'
 ORDER BY query_start NULLS LAST",
        precondition: None,
        evaluate: active_queries,
    },
    Check {
        name: "blocking_chains",
        engine: E,
        title: "Blocking chains (pg_blocking_pids)",
        sql: "SELECT blocked.pid AS blocked_pid, blocked.usename::text AS blocked_user,
       left(blocked.query, 500) AS blocked_query,
       extract(epoch FROM now() - blocked.query_start)::float8 AS wait_s,
       blocker.pid AS blocker_pid, blocker.usename::text AS blocker_user,
       blocker.state AS blocker_state, left(blocker.query, 500) AS blocker_query,
       extract(epoch FROM now() - blocker.xact_start)::float8 AS blocker_xact_s,
       (SELECT l.locktype || ' ' || l.mode FROM pg_locks l WHERE l.pid = blocked.pid AND NOT l.granted LIMIT 1) AS lock_type,
       (SELECT string_agg(DISTINCT c.relname, ', ') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE l.pid = blocked.pid AND c.relkind IN ('r', 'p')) AS relation
  FROM pg_stat_activity blocked
  JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid) ON true
  JOIN pg_stat_activity blocker ON blocker.pid = b.pid
 WHERE blocked.datname = current_database()
 ORDER BY wait_s DESC",
        precondition: None,
        evaluate: blocking_chains,
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Sessions idle in an open transaction",
        sql: "SELECT pid, usename::text AS usr, application_name, state,
       extract(epoch FROM now() - xact_start)::float8 AS age_s,
       extract(epoch FROM now() - state_change)::float8 AS idle_s,
       left(query, 500) AS query
  FROM pg_stat_activity
 WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
   AND datname = current_database() AND application_name <> 'dbabot'
 ORDER BY xact_start",
        precondition: None,
        evaluate: idle_in_transaction,
    },
    Check {
        name: "connections",
        engine: E,
        title: "Connections by state, user and application",
        sql: "SELECT coalesce(state, backend_type) AS state, coalesce(usename::text, '') AS usr,
       coalesce(application_name, '') AS application, count(*)::bigint AS count,
       current_setting('max_connections')::bigint AS max_connections
  FROM pg_stat_activity
 GROUP BY 1, 2, 3
 ORDER BY count DESC",
        precondition: None,
        evaluate: connections,
    },
    Check {
        name: "largest_tables",
        engine: E,
        title: "Largest tables (with indexes and TOAST)",
        sql: "SELECT c.oid::regclass::text AS tbl, pg_total_relation_size(c.oid)::bigint AS size_bytes,
       pg_indexes_size(c.oid)::bigint AS index_bytes, greatest(c.reltuples, 0)::bigint AS est_rows
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%'
 ORDER BY size_bytes DESC
 LIMIT 20",
        precondition: None,
        evaluate: largest_tables,
    },
    Check {
        name: "database_size",
        engine: E,
        title: "Database sizes",
        sql: "SELECT datname::text AS database, pg_database_size(datname)::bigint AS size_bytes
  FROM pg_database WHERE datallowconn AND has_database_privilege(datname, 'CONNECT')
 ORDER BY size_bytes DESC",
        precondition: None,
        evaluate: database_size,
    },
    Check {
        name: "vacuum_bloat",
        engine: E,
        title: "Dead tuples, last (auto)vacuum and bloat estimate",
        sql: "SELECT relid::regclass::text AS tbl, n_live_tup::bigint AS live, n_dead_tup::bigint AS dead,
       coalesce(round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 1), 0)::float8 AS dead_pct,
       coalesce(greatest(last_autovacuum, last_vacuum)::text, 'never') AS last_vacuum,
       coalesce(greatest(last_autoanalyze, last_analyze)::text, 'never') AS last_analyze,
       pg_table_size(relid)::bigint AS size_bytes
  FROM pg_stat_user_tables
 ORDER BY n_dead_tup DESC
 LIMIT 50",
        precondition: None,
        evaluate: vacuum_bloat,
    },
    Check {
        name: "wraparound",
        engine: E,
        title: "Transaction-ID wraparound age per database",
        sql: "SELECT datname::text AS database, age(datfrozenxid)::bigint AS xid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
  FROM pg_database
 ORDER BY xid_age DESC",
        precondition: None,
        evaluate: wraparound,
    },
    Check {
        name: "unused_indexes",
        engine: E,
        title: "Indexes never scanned since statistics reset",
        sql: "SELECT s.indexrelid::regclass::text AS idx, s.relid::regclass::text AS tbl, s.idx_scan::bigint AS scans,
       pg_relation_size(s.indexrelid)::bigint AS size_bytes,
       coalesce((SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()), 'unknown') AS stats_reset
  FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
 WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
 ORDER BY size_bytes DESC
 LIMIT 50",
        precondition: None,
        evaluate: unused_indexes,
    },
    Check {
        name: "duplicate_indexes",
        engine: E,
        title: "Duplicate indexes (same table, keys, operator classes, expressions and predicate)",
        sql: "SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS idx,
       i.indkey::text || ' ' || i.indclass::text || ' ' || coalesce(pg_get_expr(i.indexprs, i.indrelid), '')
         || ' ' || coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS signature,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS cols,
       (i.indisunique OR i.indisprimary) AS is_unique
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
   AND EXISTS (SELECT 1 FROM pg_index o WHERE o.indrelid = i.indrelid AND o.indexrelid <> i.indexrelid
               AND o.indkey::text = i.indkey::text)
 ORDER BY tbl, idx",
        precondition: None,
        evaluate: duplicate_indexes,
    },
    Check {
        name: "invalid_indexes",
        engine: E,
        title: "Invalid indexes (failed CREATE INDEX CONCURRENTLY)",
        sql: "SELECT i.indexrelid::regclass::text AS idx, i.indrelid::regclass::text AS tbl
  FROM pg_index i WHERE NOT i.indisvalid",
        precondition: None,
        evaluate: invalid_indexes,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Tables read by heavy sequential scans (missing-index candidates)",
        sql: "SELECT t.relid::regclass::text AS tbl, t.relname::text AS relname, t.seq_scan::bigint AS seq_scan,
       t.seq_tup_read::bigint AS seq_tup_read, coalesce(t.idx_scan, 0)::bigint AS idx_scan,
       greatest(t.n_live_tup, (SELECT c.reltuples FROM pg_class c WHERE c.oid = t.relid)::bigint) AS live_rows,
       (SELECT string_agg(a.attname, ',') FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = t.relid) AS indexed_leading,
       (SELECT string_agg(DISTINCT left(s.query, 1000), E'\\n;;\\n') FROM pg_stat_statements s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.query ILIKE '%' || t.relname || '%') AS sample_queries
  FROM pg_stat_user_tables t
 WHERE t.seq_scan > 0
 ORDER BY t.seq_tup_read DESC
 LIMIT 30",
        precondition: Some(Precondition {
            sql: "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
            unavailable: "",
        }),
        evaluate: seq_scans,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Tables read by heavy sequential scans (missing-index candidates)",
        sql: "SELECT t.relid::regclass::text AS tbl, t.relname::text AS relname, t.seq_scan::bigint AS seq_scan,
       t.seq_tup_read::bigint AS seq_tup_read, coalesce(t.idx_scan, 0)::bigint AS idx_scan,
       greatest(t.n_live_tup, (SELECT c.reltuples FROM pg_class c WHERE c.oid = t.relid)::bigint) AS live_rows,
       (SELECT string_agg(a.attname, ',') FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = t.relid) AS indexed_leading,
       (SELECT string_agg(DISTINCT left(s.query, 1000), E'\\n;;\\n') FROM pg_stat_activity s
         WHERE s.datname = current_database() AND s.pid <> pg_backend_pid()
           AND s.query ILIKE '%' || t.relname || '%') AS sample_queries
  FROM pg_stat_user_tables t
 WHERE t.seq_scan > 0
 ORDER BY t.seq_tup_read DESC
 LIMIT 30",
        precondition: None,
        evaluate: seq_scans,
    },
    Check {
        name: "top_statements",
        engine: E,
        title: "Top statements by total execution time (pg_stat_statements)",
        sql: "SELECT left(query, 500) AS query, calls::bigint AS calls, total_exec_time::float8 AS total_ms,
       mean_exec_time::float8 AS mean_ms, rows::bigint AS rows_returned
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC
 LIMIT 10",
        precondition: Some(Precondition {
            sql: "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
            unavailable: "pg_stat_statements is not installed in this database, so per-statement timings are not available. Enable it: add pg_stat_statements to shared_preload_libraries (restart needed; on RDS/Aurora/Cloud SQL/Azure set it in the parameter group / flags), then CREATE EXTENSION pg_stat_statements; (PostgreSQL docs F.30).",
        }),
        evaluate: top_statements,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Replication status and lag (primary side)",
        sql: "SELECT coalesce(application_name, '') || ' ' || coalesce(client_addr::text, '') AS replica, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_s,
       false AS is_replica
  FROM pg_stat_replication",
        precondition: Some(Precondition {
            sql: "SELECT NOT pg_is_in_recovery()",
            unavailable: "",
        }),
        evaluate: replication,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Replication status and lag (this server is a replica)",
        sql: "SELECT 'this server (replica)' AS replica, coalesce((SELECT status FROM pg_stat_wal_receiver), 'no WAL receiver') AS state,
       '' AS sync_state,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS lag_bytes,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag_s,
       true AS is_replica",
        precondition: None,
        evaluate: replication,
    },
    Check {
        name: "settings",
        engine: E,
        title: "Key settings review",
        sql: "SELECT name, setting, coalesce(unit, '') AS unit, source
  FROM pg_settings
 WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size', 'max_connections',
                'autovacuum', 'idle_in_transaction_session_timeout', 'statement_timeout', 'log_min_duration_statement',
                'ssl', 'password_encryption', 'random_page_cost', 'track_io_timing', 'log_lock_waits',
                'shared_preload_libraries', 'max_wal_size', 'checkpoint_timeout')
 ORDER BY name",
        precondition: None,
        evaluate: settings,
    },
    Check {
        name: "roles_security",
        engine: E,
        title: "Roles with superuser, login without password expiry",
        sql: "SELECT rolname::text AS role, rolsuper AS superuser, rolcanlogin AS can_login,
       coalesce(rolvaliduntil::text, '') AS valid_until, rolcreaterole AS create_role, rolbypassrls AS bypass_rls
  FROM pg_roles
 WHERE rolname NOT LIKE 'pg\\_%'
 ORDER BY rolsuper DESC, rolname",
        precondition: None,
        evaluate: roles_security,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a primary key",
        sql: "SELECT c.oid::regclass::text AS tbl, greatest(c.reltuples, 0)::bigint AS est_rows
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
 ORDER BY 1",
        precondition: None,
        evaluate: tables_without_pk,
    },
    Check {
        name: "index_list",
        engine: E,
        title: "Indexes per table",
        sql: "SELECT tablename::text AS tbl, indexname::text AS idx, indexdef AS definition
  FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2",
        precondition: None,
        evaluate: index_list,
    },
    Check {
        name: "backups",
        engine: E,
        title: "WAL archiving status (pg_stat_archiver)",
        sql: "SELECT current_setting('archive_mode') AS archive_mode, archived_count::bigint AS archived_count,
       failed_count::bigint AS failed_count, coalesce(last_archived_time::text, '') AS last_archived_time,
       coalesce(last_failed_wal, '') AS last_failed_wal, coalesce(last_failed_time::text, '') AS last_failed_time,
       coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) AS failing_now
  FROM pg_stat_archiver",
        precondition: None,
        evaluate: backups,
    },
];

// ---- evaluators ---------------------------------------------------------------------------

fn overview(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let mut out = Vec::new();
    let version = r.str("version");
    let short_version = version.split(" on ").next().unwrap_or(&version).to_string();
    let uptime = r.f64("uptime_s").unwrap_or(0.0);
    let used = r.i64("connections").unwrap_or(0);
    let max = r.i64("max_connections").unwrap_or(0);
    let reserved = r.i64("reserved").unwrap_or(0);
    let usable = (max - reserved).max(1);
    let pct = used as f64 * 100.0 / usable as f64;
    out.push(
        Finding::new(
            "overview",
            "overview",
            Severity::Ok,
            format!(
                "{short_version}, up {}, {used}/{usable} connections, database {} is {}",
                human_secs(uptime),
                r.str("database"),
                human_bytes(r.i64("db_size_bytes").unwrap_or(0))
            ),
        )
        .fact("version", &short_version)
        .fact("uptime_s", uptime as i64),
    );
    let sev = if pct >= 95.0 {
        Severity::Critical
    } else if pct >= 80.0 {
        Severity::Warning
    } else {
        Severity::Ok
    };
    if sev > Severity::Ok {
        out.push(
            Finding::new(
                "overview",
                "connections_high",
                sev,
                format!("{used} of {usable} usable connections in use ({pct:.0}%)"),
            )
            .fact("used", used)
            .fact("max", max)
            .fact("pct", format!("{pct:.0}"))
            .threshold("≥ 80% warning, ≥ 95% critical of max_connections minus superuser_reserved_connections (PostgreSQL docs §20.3.1)"),
        );
    }
    if let Some(hit) = r.f64("cache_hit_pct") {
        // Ratios over a handful of blocks mean nothing; require some traffic.
        if r.f64("block_requests").unwrap_or(0.0) > 10_000.0 && hit < 99.0 {
            let sev = if hit < 90.0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            out.push(
                Finding::new(
                    "overview",
                    "cache_hit_low",
                    sev,
                    format!("Buffer cache hit ratio is {hit:.1}%"),
                )
                .fact("ratio_pct", format!("{hit:.1}"))
                .threshold("< 99% info, < 90% warning for OLTP workloads (PostgreSQL wiki, Performance Optimization; common guidance)"),
            );
        }
    }
    let deadlocks = r.i64("deadlocks").unwrap_or(0);
    if deadlocks > 0 {
        out.push(
            Finding::new(
                "overview",
                "deadlocks_seen",
                Severity::Info,
                format!("{deadlocks} deadlocks detected since statistics reset"),
            )
            .fact("deadlocks", deadlocks)
            .fact("database", r.str("database"))
            .threshold("any deadlock (pg_stat_database.deadlocks, PostgreSQL docs §28.2.16)"),
        );
    }
    out
}

fn active_queries(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .filter_map(|r| {
            let d = r.f64("duration_s").unwrap_or(0.0);
            let sev = if d >= 300.0 {
                Severity::Critical
            } else if d >= 60.0 {
                Severity::Warning
            } else if d >= 5.0 {
                Severity::Info
            } else {
                return None;
            };
            let wait = match (r.str("wait_event_type"), r.str("wait_event")) {
                (t, e) if t.is_empty() => e,
                (t, e) => format!("{t}:{e}"),
            };
            Some(
                Finding::new(
                    "active_queries",
                    "long_running_query",
                    sev,
                    format!(
                        "pid {} has run for {}{}: {}",
                        r.str("pid"),
                        human_secs(d),
                        if wait.is_empty() { String::new() } else { format!(" waiting on {wait}") },
                        short_query(&r.str("query"), 120)
                    ),
                )
                .fact("pid", r.str("pid"))
                .fact("user", r.str("usr"))
                .fact("duration_s", format!("{d:.0}"))
                .fact("state", r.str("state"))
                .fact("wait_event", wait)
                .fact("query", short_query(&r.str("query"), 300))
                .threshold("≥ 5 s info, ≥ 60 s warning, ≥ 300 s critical for OLTP statements (common operational guidance)"),
            )
        })
        .collect()
}

/// Shared by PostgreSQL and MySQL: one finding per blocked/blocker pair.
pub(super) fn blocking_pairs(check: &str, rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            let wait = r.f64("wait_s").unwrap_or(0.0);
            let sev = if wait >= 60.0 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let blocker_query = r.str("blocker_query");
            let blocker_query = if blocker_query.trim().is_empty() {
                "(no statement running: the blocker is idle inside its transaction)".to_string()
            } else {
                short_query(&blocker_query, 300)
            };
            let relation = r.str("relation");
            Finding::new(
                check,
                "blocking_chain",
                sev,
                format!(
                    "pid {} has waited {} for a lock{} held by pid {} ({}), whose statement is: {}",
                    r.str("blocked_pid"),
                    human_secs(wait),
                    if relation.is_empty() { String::new() } else { format!(" on {relation}") },
                    r.str("blocker_pid"),
                    r.str("blocker_state"),
                    short_query(&blocker_query, 160)
                ),
            )
            .fact("blocked_pid", r.str("blocked_pid"))
            .fact("blocker_pid", r.str("blocker_pid"))
            .fact("wait_s", format!("{wait:.0}"))
            .fact("lock_type", r.str("lock_type"))
            .fact("relation", relation)
            .fact("blocked_query", short_query(&r.str("blocked_query"), 300))
            .fact("blocker_query", blocker_query)
            .fact("blocker_state", r.str("blocker_state"))
            .fact("blocker_xact_s", format!("{:.0}", r.f64("blocker_xact_s").unwrap_or(0.0)))
            .threshold("any lock wait is a warning, ≥ 60 s critical (lock_timeout guidance, PostgreSQL docs §20.11.1)")
        })
        .collect()
}

fn blocking_chains(rs: &ResultSet) -> Vec<Finding> {
    blocking_pairs("blocking_chains", rs)
}

/// Shared by PostgreSQL and MySQL.
pub(super) fn idle_sessions(check: &str, rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            let age = r.f64("age_s").unwrap_or(0.0);
            let idle = r.f64("idle_s").unwrap_or(age);
            let sev = if idle >= 600.0 {
                Severity::Critical
            } else if idle >= 60.0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            let query = r.str("query");
            Finding::new(
                check,
                "idle_in_transaction",
                sev,
                format!(
                    "pid {} ({}) is idle in a transaction open for {} (idle {}); last statement: {}",
                    r.str("pid"),
                    r.str("usr"),
                    human_secs(age),
                    human_secs(idle),
                    if query.is_empty() { "unknown".to_string() } else { short_query(&query, 120) }
                ),
            )
            .fact("pid", r.str("pid"))
            .fact("user", r.str("usr"))
            .fact("age_s", format!("{age:.0}"))
            .fact("idle_s", format!("{idle:.0}"))
            .fact("query", short_query(&query, 300))
            .threshold("< 60 s info, ≥ 60 s warning, ≥ 600 s critical idle inside a transaction (holds locks and blocks vacuum; PostgreSQL docs §20.11.1 idle_in_transaction_session_timeout)")
        })
        .collect()
}

fn idle_in_transaction(rs: &ResultSet) -> Vec<Finding> {
    idle_sessions("idle_in_transaction", rs)
}

/// Shared: connection groups and the total against max_connections.
pub(super) fn connection_groups(check: &str, rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let total: i64 = rs.iter().map(|r| r.i64("count").unwrap_or(0)).sum();
    let max = rs
        .first()
        .and_then(|r| r.i64("max_connections"))
        .unwrap_or(0);
    for r in rs.iter().take(5) {
        out.push(
            Finding::new(
                check,
                "connections_by_state",
                Severity::Info,
                format!(
                    "{} connections: state {}, user {}, application {}",
                    r.str("count"),
                    r.str("state"),
                    r.str("usr"),
                    if r.str("application").is_empty() {
                        "-".into()
                    } else {
                        r.str("application")
                    }
                ),
            )
            .fact("state", r.str("state"))
            .fact("count", r.str("count")),
        );
    }
    if max > 0 {
        let pct = total as f64 * 100.0 / max as f64;
        if pct >= 80.0 {
            out.push(
                Finding::new(
                    check,
                    "connections_high",
                    if pct >= 95.0 {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    format!("{total} of {max} connections in use ({pct:.0}%)"),
                )
                .fact("used", total)
                .fact("max", max)
                .fact("pct", format!("{pct:.0}"))
                .threshold("≥ 80% warning, ≥ 95% critical of max_connections"),
            );
        }
    }
    out
}

fn connections(rs: &ResultSet) -> Vec<Finding> {
    connection_groups("connections", rs)
}

/// Shared: top tables by size.
pub(super) fn table_sizes(check: &str, rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .take(5)
        .map(|r| {
            let size = r.i64("size_bytes").unwrap_or(0);
            Finding::new(
                check,
                "large_table",
                Severity::Info,
                format!(
                    "{}: {} (indexes {}), ~{} rows",
                    r.str("tbl"),
                    human_bytes(size),
                    human_bytes(r.i64("index_bytes").unwrap_or(0)),
                    r.i64("est_rows").unwrap_or(0)
                ),
            )
            .fact("table", r.str("tbl"))
            .fact("size", human_bytes(size))
            .fact("size_bytes", size)
            .fact("rows", r.i64("est_rows").unwrap_or(0))
        })
        .collect()
}

fn largest_tables(rs: &ResultSet) -> Vec<Finding> {
    table_sizes("largest_tables", rs)
}

fn database_size(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .take(5)
        .map(|r| {
            let size = r.i64("size_bytes").unwrap_or(0);
            Finding::new(
                "database_size",
                "database_size",
                Severity::Info,
                format!("database {}: {}", r.str("database"), human_bytes(size)),
            )
            .fact("database", r.str("database"))
            .fact("size", human_bytes(size))
            .fact("size_bytes", size)
        })
        .collect()
}

fn vacuum_bloat(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .filter_map(|r| {
            let dead = r.i64("dead").unwrap_or(0);
            let pct = r.f64("dead_pct").unwrap_or(0.0);
            if dead < 10_000 || pct < 20.0 {
                return None;
            }
            let sev = if pct >= 50.0 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            Some(
                Finding::new(
                    "vacuum_bloat",
                    "dead_tuples_high",
                    sev,
                    format!(
                        "{}: {dead} dead rows ({pct:.0}% of rows), last vacuum {}",
                        r.str("tbl"),
                        r.str("last_vacuum")
                    ),
                )
                .fact("table", r.str("tbl"))
                .fact("dead", dead)
                .fact("live", r.i64("live").unwrap_or(0))
                .fact("pct", format!("{pct:.0}"))
                .fact("last_autovacuum", r.str("last_vacuum"))
                .threshold("≥ 10,000 dead rows and ≥ 20% dead (autovacuum_vacuum_scale_factor default 0.2, PostgreSQL docs §25.1.6) warning; ≥ 50% critical"),
            )
        })
        .collect()
}

fn wraparound(rs: &ResultSet) -> Vec<Finding> {
    const LIMIT: f64 = 2_147_483_647.0;
    rs.iter()
        .filter_map(|r| {
            let age = r.i64("xid_age").unwrap_or(0);
            let freeze = r.i64("freeze_max_age").unwrap_or(200_000_000);
            let pct = age as f64 * 100.0 / LIMIT;
            let sev = if age >= 1_000_000_000 {
                Severity::Critical
            } else if age > freeze {
                Severity::Warning
            } else {
                return None;
            };
            Some(
                Finding::new(
                    "wraparound",
                    "xid_age_high",
                    sev,
                    format!(
                        "database {} has transaction-ID age {age} ({pct:.1}% of the 2^31 limit)",
                        r.str("database")
                    ),
                )
                .fact("database", r.str("database"))
                .fact("age", age)
                .fact("pct", format!("{pct:.1}"))
                .threshold("> autovacuum_freeze_max_age warning, ≥ 1 billion critical (PostgreSQL docs §25.1.5 Preventing Transaction ID Wraparound Failures)"),
            )
        })
        .collect()
}

fn unused_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            let size = r.i64("size_bytes").unwrap_or(0);
            Finding::new(
                "unused_indexes",
                "unused_index",
                if size >= 100 * 1024 * 1024 { Severity::Warning } else { Severity::Info },
                format!(
                    "{} on {} ({}) has not been scanned since statistics reset ({})",
                    r.str("idx"),
                    r.str("tbl"),
                    human_bytes(size),
                    r.str("stats_reset")
                ),
            )
            .fact("index", r.str("idx"))
            .fact("table", r.str("tbl"))
            .fact("size", human_bytes(size))
            .fact("scans", r.str("scans"))
            .fact("drop_sql", format!("DROP INDEX CONCURRENTLY IF EXISTS {};", r.str("idx")))
            .threshold("idx_scan = 0 since stats reset; ≥ 100 MB warning (check replicas too: their usage is not counted here)")
        })
        .collect()
}

fn duplicate_indexes(rs: &ResultSet) -> Vec<Finding> {
    // Group on the full signature, not only column names: operator class, expressions and
    // predicates must match too.
    let mapped = ResultSet {
        columns: vec![
            "tbl".into(),
            "idx".into(),
            "cols".into(),
            "is_unique".into(),
            "display".into(),
        ],
        rows: rs
            .iter()
            .map(|r| {
                vec![
                    r.get("tbl").clone(),
                    r.get("idx").clone(),
                    crate::diagnostics::Value::Text(r.str("signature")),
                    r.get("is_unique").clone(),
                    r.get("cols").clone(),
                ]
            })
            .collect(),
        truncated: rs.truncated,
    };
    let mut out = duplicate_indexes_by_columns("duplicate_indexes", &mapped, |_, i| {
        format!("DROP INDEX CONCURRENTLY IF EXISTS {i};")
    });
    // Show column names rather than the internal signature.
    for f in &mut out {
        if let Some(idx) = f.facts.get("index").cloned() {
            if let Some(r) = rs.iter().find(|r| r.str("idx") == idx) {
                let cols = r.str("cols");
                let keep = f.facts.get("duplicate_of").cloned().unwrap_or_default();
                let table = r.str("tbl");
                f.title = format!("Index {idx} on {table} ({cols}) duplicates {keep}");
                f.facts.insert("columns".into(), cols);
            }
        }
    }
    out
}

fn invalid_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            Finding::new(
                "invalid_indexes",
                "invalid_index",
                Severity::Warning,
                format!("{} on {} is INVALID (a failed CREATE INDEX CONCURRENTLY): it is maintained on writes but never used", r.str("idx"), r.str("tbl")),
            )
            .fact("index", r.str("idx"))
            .fact("table", r.str("tbl"))
            .fact("drop_sql", format!("DROP INDEX CONCURRENTLY IF EXISTS {};", r.str("idx")))
            .threshold("pg_index.indisvalid = false (PostgreSQL docs, CREATE INDEX, Building Indexes Concurrently)")
        })
        .collect()
}

fn seq_scans(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .filter_map(|r| {
            let seq = r.i64("seq_scan").unwrap_or(0);
            let read = r.i64("seq_tup_read").unwrap_or(0);
            let rows = r.i64("live_rows").unwrap_or(0);
            let per_scan = read / seq.max(1);
            if rows < 10_000 || per_scan < 10_000 || seq < 3 {
                return None;
            }
            let idx = r.i64("idx_scan").unwrap_or(0);
            let table = r.str("tbl");
            let samples = r.str("sample_queries");
            let mut column = None;
            for q in samples.split("\n;;\n") {
                let cols = where_columns(q, &r.str("relname"));
                if let Some(c) = first_unindexed(&cols, &r.str("indexed_leading")) {
                    column = Some(c);
                    break;
                }
            }
            let sev = if idx == 0 || seq > idx {
                Severity::Warning
            } else {
                Severity::Info
            };
            let mut f = Finding::new(
                "seq_scans",
                "missing_index_candidate",
                sev,
                match &column {
                    Some(c) => format!(
                        "{table}: {seq} sequential scans read {read} rows (~{per_scan} per scan, {idx} index scans); queries filter on {c}, which no index leads with"
                    ),
                    None => format!(
                        "{table}: {seq} sequential scans read {read} rows (~{per_scan} per scan, {idx} index scans)"
                    ),
                },
            )
            .fact("table", &table)
            .fact("seq_scan", seq)
            .fact("seq_tup_read", read)
            .fact("idx_scan", idx)
            .fact("rows", rows)
            .threshold("table ≥ 10,000 rows, ≥ 3 sequential scans averaging ≥ 10,000 rows each (PostgreSQL docs §28.2.19 pg_stat_all_tables; common guidance)");
            match column {
                Some(c) => {
                    let name = format!("{}_{}_idx", r.str("relname"), c);
                    f = f
                        .fact("column", &c)
                        .fact("create_sql", format!("CREATE INDEX CONCURRENTLY {name} ON {table} ({c});"));
                }
                None => {
                    f = f.fact("column", "(unknown: enable pg_stat_statements to see the filtering queries)").fact(
                        "create_sql",
                        format!("-- find the filtering column first, then:\nCREATE INDEX CONCURRENTLY ON {table} (<column>);"),
                    );
                }
            }
            Some(f)
        })
        .collect()
}

fn top_statements(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .take(5)
        .map(|r| {
            let mean = r.f64("mean_ms").unwrap_or(0.0);
            let total = r.f64("total_ms").unwrap_or(0.0);
            Finding::new(
                "top_statements",
                "top_statement",
                if mean >= 1000.0 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                format!(
                    "{} calls, {:.0} ms total, {:.1} ms mean: {}",
                    r.str("calls"),
                    total,
                    mean,
                    short_query(&r.str("query"), 140)
                ),
            )
            .fact("query", short_query(&r.str("query"), 400))
            .fact("calls", r.str("calls"))
            .fact("total_ms", format!("{total:.0}"))
            .fact("mean_ms", format!("{mean:.1}"))
            .threshold("mean ≥ 1000 ms warning for interactive statements (common guidance)")
        })
        .collect()
}

/// Shared by PostgreSQL and MySQL replication checks: `replica`, `state`, `lag_s`, `lag_bytes`.
pub(super) fn replication_rows(check: &str, rs: &ResultSet) -> Vec<Finding> {
    if rs.is_empty() {
        return vec![Finding::new(
            check,
            "replication_none",
            Severity::Info,
            "No replicas are attached to this server and it is not a replica",
        )];
    }
    rs.iter()
        .map(|r| {
            let lag_s = r.f64("lag_s");
            let lag_b = r.i64("lag_bytes").unwrap_or(0);
            let state = r.str("state");
            let broken = !r.str("error").is_empty()
                || matches!(state.to_lowercase().as_str(), "no wal receiver" | "stopped" | "no");
            if broken {
                return Finding::new(
                    check,
                    "replication_broken",
                    Severity::Critical,
                    format!("replication on {} is not running: {} {}", r.str("replica"), state, r.str("error")),
                )
                .fact("replica", r.str("replica"))
                .fact("error", format!("{state} {}", r.str("error")).trim().to_string());
            }
            let secs = lag_s.unwrap_or(0.0);
            let sev = if secs >= 300.0 || lag_b >= 10 * 1024 * 1024 * 1024 {
                Severity::Critical
            } else if secs >= 30.0 || lag_b >= 1024 * 1024 * 1024 {
                Severity::Warning
            } else {
                Severity::Ok
            };
            Finding::new(
                check,
                if sev > Severity::Ok { "replication_lag" } else { "replication_ok" },
                sev,
                format!(
                    "{}: state {state}, lag {} / {}",
                    r.str("replica"),
                    lag_s.map(human_secs).unwrap_or_else(|| "unknown".into()),
                    human_bytes(lag_b)
                ),
            )
            .fact("replica", r.str("replica"))
            .fact("lag_bytes", lag_b)
            .fact("lag_s", format!("{secs:.0}"))
            .threshold("≥ 30 s or 1 GB warning, ≥ 300 s or 10 GB critical (common guidance; tune to your RPO)")
        })
        .collect()
}

fn replication(rs: &ResultSet) -> Vec<Finding> {
    replication_rows("replication", rs)
}

fn settings(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let mk = |name: &str, value: &str, sev: Severity, advice: &str, source: &str| {
        Finding::new(
            "settings",
            "setting_review",
            sev,
            format!("{name} = {value}: {advice}"),
        )
        .fact("name", name)
        .fact("value", value)
        .fact("advice", advice)
        .threshold(source.to_string())
    };
    for r in rs.iter() {
        let name = r.str("name");
        let v = r.str("setting");
        let unit = r.str("unit");
        let shown = if unit.is_empty() {
            v.clone()
        } else {
            format!("{v} ({unit})")
        };
        match name.as_str() {
            "autovacuum" if v == "off" => out.push(mk(&name, &shown, Severity::Critical, "autovacuum is off: dead rows pile up and wraparound protection depends on it", "PostgreSQL docs §25.1.6")),
            "idle_in_transaction_session_timeout" if v == "0" => out.push(mk(&name, &shown, Severity::Info, "no limit: a forgotten open transaction holds locks and blocks vacuum forever; consider 5min–15min", "PostgreSQL docs §20.11.1")),
            "log_min_duration_statement" if v == "-1" => out.push(mk(&name, &shown, Severity::Info, "slow statements are not logged; consider 1000 (ms)", "PostgreSQL docs §20.8.2")),
            "ssl" if v == "off" => out.push(mk(&name, &shown, Severity::Warning, "connections are not encrypted", "PostgreSQL docs §19.9 Secure TCP/IP Connections with SSL")),
            "password_encryption" if v == "md5" => out.push(mk(&name, &shown, Severity::Warning, "MD5 password hashes are weak; use scram-sha-256", "PostgreSQL docs §21.5 Password Authentication")),
            "shared_buffers" => {
                // setting is in 8kB pages
                let bytes = v.parse::<i64>().unwrap_or(0) * 8192;
                if bytes <= 128 * 1024 * 1024 {
                    out.push(mk(&name, &human_bytes(bytes), Severity::Info, "the default; a dedicated server usually wants ~25% of RAM", "PostgreSQL docs §20.4.1"));
                }
            }
            "track_io_timing" if v == "off" => out.push(mk(&name, &shown, Severity::Info, "I/O time per statement is not measured; turn on (check pg_test_timing overhead first)", "PostgreSQL docs §20.9.2")),
            "log_lock_waits" if v == "off" => out.push(mk(&name, &shown, Severity::Info, "lock waits longer than deadlock_timeout are not logged; turn on to diagnose blocking", "PostgreSQL docs §20.8.3")),
            "shared_preload_libraries" if !v.contains("pg_stat_statements") => out.push(mk(&name, if v.is_empty() { "(empty)" } else { &v }, Severity::Info, "pg_stat_statements is not preloaded: no per-statement statistics", "PostgreSQL docs F.30")),
            _ => {}
        }
    }
    out
}

fn roles_security(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let role = r.str("role");
        let login = r.bool("can_login").unwrap_or(false);
        if r.bool("superuser").unwrap_or(false) && login {
            out.push(
                Finding::new("roles_security", "superuser_role", Severity::Warning, format!("role {role} is a superuser and can log in"))
                    .fact("role", &role)
                    .threshold("applications should not log in as superuser (PostgreSQL docs §22.2 Role Attributes; CIS PostgreSQL Benchmark)"),
            );
        }
        if login && r.str("valid_until").is_empty() {
            out.push(
                Finding::new("roles_security", "password_no_expiry", Severity::Info, format!("role {role} can log in and its password never expires"))
                    .fact("role", &role)
                    .threshold("VALID UNTIL unset (PostgreSQL docs, CREATE ROLE; CIS PostgreSQL Benchmark password policy)"),
            );
        }
    }
    out
}

/// Shared: tables without a primary key.
pub(super) fn no_pk(check: &str, rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            Finding::new(
                check,
                "table_without_pk",
                Severity::Warning,
                format!("{} has no primary key (~{} rows)", r.str("tbl"), r.i64("est_rows").unwrap_or(0)),
            )
            .fact("table", r.str("tbl"))
            .threshold("every table should have a primary key: logical replication, row-based binlog replication and deduplication need one (PostgreSQL docs §31.1; MySQL manual §17.5.1.8)")
        })
        .collect()
}

fn tables_without_pk(rs: &ResultSet) -> Vec<Finding> {
    no_pk("tables_without_pk", rs)
}

fn index_list(rs: &ResultSet) -> Vec<Finding> {
    vec![Finding::new(
        "index_list",
        "index_list",
        Severity::Ok,
        format!("{} indexes in this database", rs.len()),
    )]
}

fn backups(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    if r.str("archive_mode") == "off" {
        return vec![Finding::new(
            "backups",
            "archiving_off",
            Severity::Info,
            "WAL archiving is off: point-in-time recovery needs a WAL archive (managed services such as RDS, Cloud SQL and Azure Flexible Server do this themselves)",
        )
        .threshold("archive_mode = off (PostgreSQL docs §26.3 Continuous Archiving and PITR)")];
    }
    if r.bool("failing_now").unwrap_or(false) {
        return vec![Finding::new(
            "backups",
            "archiving_failing",
            Severity::Critical,
            format!(
                "WAL archiving is failing: {} failures, last failed WAL {} at {}",
                r.str("failed_count"),
                r.str("last_failed_wal"),
                r.str("last_failed_time")
            ),
        )
        .fact("failed_count", r.str("failed_count"))
        .fact("last_failed_wal", r.str("last_failed_wal"))
        .threshold(
            "last_failed_time after last_archived_time (PostgreSQL docs §28.2.13 pg_stat_archiver)",
        )];
    }
    vec![Finding::new(
        "backups",
        "archiving_ok",
        Severity::Ok,
        format!(
            "WAL archiving works: {} archived, last at {}",
            r.str("archived_count"),
            r.str("last_archived_time")
        ),
    )]
}
