//! PostgreSQL diagnostics (PostgreSQL 13+; statistics views per docs chapter 28.2
//! "The Cumulative Statistics System").
//!
//! The bot's own sessions are recognised by backend pid (`pg_backend_pid()`) and, for the other
//! connections of its pool, by the per-process application name the runner sets
//! (`dbabot-<random>`, read back with `current_setting('application_name')`) **and** holding no
//! transaction id: a session that merely calls itself `dbabot` or that writes is always reported.
//! Session checks are limited to the database the target DSN points at.

use super::common::{
    duplicate_indexes_by_columns, first_unindexed, index_name, prepared_xacts, quote_ident_sqlite,
    quote_literal, where_columns,
};
use super::{Check, Precondition};
use crate::config::Engine;
use crate::diagnostics::finding::{human_bytes, human_secs, short_query};
use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;

const E: Engine = Engine::Postgres;

/// Data checksums and the failures PostgreSQL recorded per database (PostgreSQL docs §28.2.16
/// pg_stat_database `checksum_failures`, 12+; §30.2 Data Checksums).
/// Temporary files of this database since the statistics reset, with this database's sessions
/// writing them now (from the file names in the default tablespace's pgsql_tmp).
const TEMP_FILES_LIVE_SQL: &str = "WITH live AS (
    SELECT l.pid, l.bytes, left(a.query, 500) AS query, a.usename::text AS usename
      FROM (SELECT substring(f.name FROM 'pgsql_tmp([0-9]+)')::int AS pid, sum(f.size)::bigint AS bytes
              FROM pg_ls_tmpdir() f
             GROUP BY 1) l
      JOIN pg_stat_activity a ON a.pid = l.pid AND a.datname = current_database())
SELECT d.temp_files::bigint AS temp_files, d.temp_bytes::bigint AS temp_bytes,
       coalesce(d.stats_reset::text, '') AS stats_reset, current_setting('work_mem') AS work_mem,
       live.pid, live.bytes AS live_bytes, live.query, live.usename
  FROM pg_stat_database d
  LEFT JOIN live ON true
 WHERE d.datname = current_database()
 ORDER BY live.bytes DESC NULLS LAST
 LIMIT 5";

const INTEGRITY_SQL: &str = "SELECT current_setting('data_checksums') AS data_checksums,
       d.datname::text AS database, coalesce(d.checksum_failures, 0)::bigint AS failures,
       coalesce(d.checksum_last_failure::text, '') AS last_failure
  FROM pg_stat_database d
 WHERE d.datname IS NOT NULL
 ORDER BY failures DESC, d.datname
 LIMIT 20";

pub(super) static CHECKS: &[Check] = &[
    Check {
        name: "integrity",
        engine: E,
        title: "Data checksums and recorded checksum failures",
        sql: INTEGRITY_SQL,
        precondition: None,
        evaluate: integrity,
    },
    Check {
        name: "integrity_full",
        engine: E,
        title: "Data checksums and recorded checksum failures",
        sql: INTEGRITY_SQL,
        precondition: None,
        evaluate: integrity,
    },
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
       (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       current_database() AS database,
       (pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
        OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)) AS sees_all_sessions,
       current_user::text AS login",
        precondition: None,
        evaluate: overview,
    },
    Check {
        name: "active_queries",
        engine: E,
        title: "Active and long-running queries (lock waiters labelled as blocked)",
        sql: "SELECT pid, usename::text AS usr, state, wait_event_type, wait_event,
       extract(epoch FROM now() - query_start)::float8 AS duration_s,
       cardinality(pg_blocking_pids(pid))::bigint AS blocked_by_count,
       (SELECT string_agg(CASE WHEN b = 0 THEN 'a prepared transaction (pg_prepared_xacts)' ELSE 'pid ' || b END, ', ')
          FROM unnest(pg_blocking_pids(pid)) AS b) AS blocked_by,
       left(query, 500) AS query
  FROM pg_stat_activity
 WHERE state NOT IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')
   AND pid <> pg_backend_pid() AND backend_type = 'client backend'
   AND datname = current_database()
   AND NOT (application_name = current_setting('application_name') AND backend_xid IS NULL)
 ORDER BY query_start NULLS LAST",
        precondition: None,
        evaluate: active_queries,
    },
    Check {
        name: "blocking_chains",
        engine: E,
        title: "Blocking chains (pg_blocking_pids), head blocker first; prepared transactions by gid",
        // pg_blocking_pids reports a prepared (two-phase) transaction as pid 0: it has no
        // session. Its gid comes from matching the waiter's ungranted lock with a granted lock
        // that has no pid and the prepared transaction's virtual transaction.
        sql: "SELECT blocked.pid AS blocked_pid, blocked.usename::text AS blocked_user,
       left(blocked.query, 500) AS blocked_query,
       extract(epoch FROM now() - blocked.query_start)::float8 AS wait_s,
       coalesce(blocker.pid, 0) AS blocker_pid,
       coalesce(blocker.usename::text, px.owner::text, '') AS blocker_user,
       CASE WHEN b.pid = 0 THEN 'prepared' ELSE blocker.state END AS blocker_state,
       left(blocker.query, 500) AS blocker_query,
       coalesce(blocker.application_name, '') AS blocker_application,
       extract(epoch FROM now() - coalesce(blocker.xact_start, px.prepared))::float8 AS blocker_xact_s,
       (b.pid = 0 OR cardinality(pg_blocking_pids(blocker.pid)) = 0) AS blocker_is_head,
       coalesce(px.gid, '') AS prepared_gid, coalesce(px.database::text, '') AS prepared_database,
       (SELECT l.locktype || ' ' || l.mode FROM pg_locks l WHERE l.pid = blocked.pid AND NOT l.granted LIMIT 1) AS lock_type,
       coalesce((SELECT CASE WHEN l.objsubid = 1 THEN ((l.classid::int8 << 32) | l.objid::int8)::text
                    ELSE (CASE WHEN l.classid::int8 > 2147483647 THEN l.classid::int8 - 4294967296 ELSE l.classid::int8 END)::text
                         || ', ' || (CASE WHEN l.objid::int8 > 2147483647 THEN l.objid::int8 - 4294967296 ELSE l.objid::int8 END)::text END
          FROM pg_locks l WHERE l.pid = blocked.pid AND NOT l.granted AND l.locktype = 'advisory' LIMIT 1), '') AS advisory_key,
       (SELECT string_agg(DISTINCT c.relname, ', ') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE l.pid = blocked.pid AND c.relkind IN ('r', 'p')) AS relation
  FROM pg_stat_activity blocked
  JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid) ON true
  LEFT JOIN pg_stat_activity blocker ON blocker.pid = b.pid AND b.pid <> 0
  LEFT JOIN LATERAL (
        SELECT p.gid, p.owner, p.prepared, p.database
          FROM pg_prepared_xacts p
         WHERE b.pid = 0 AND EXISTS (
               SELECT 1 FROM pg_locks w
                 JOIN pg_locks h ON h.pid IS NULL AND h.granted AND h.locktype = w.locktype
                  AND h.database IS NOT DISTINCT FROM w.database AND h.relation IS NOT DISTINCT FROM w.relation
                  AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
                  AND h.transactionid IS NOT DISTINCT FROM w.transactionid
                  AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid
                  AND h.objsubid IS NOT DISTINCT FROM w.objsubid
                 JOIN pg_locks x ON x.pid IS NULL AND x.locktype = 'transactionid'
                  AND x.transactionid = p.transaction AND x.virtualtransaction = h.virtualtransaction
                WHERE w.pid = blocked.pid AND NOT w.granted)
         ORDER BY p.prepared
         LIMIT 1) px ON true
 WHERE blocked.datname = current_database() AND blocked.pid <> pg_backend_pid()
   AND (blocker.pid IS NOT NULL OR b.pid = 0)
 ORDER BY wait_s DESC",
        precondition: None,
        evaluate: blocking_chains,
    },
    Check {
        name: "prepared_xacts",
        engine: E,
        title: "Prepared (two-phase) transactions waiting for COMMIT/ROLLBACK PREPARED",
        sql: "SELECT p.gid, p.owner::text AS owner, p.database::text AS database,
       extract(epoch FROM now() - p.prepared)::float8 AS age_s,
       age(p.transaction)::bigint AS xid_age
  FROM pg_prepared_xacts p
 ORDER BY p.prepared
 LIMIT 50",
        precondition: None,
        evaluate: |rs| prepared_xacts(rs, Engine::Postgres),
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Sessions idle in an open transaction, with the sessions each one blocks",
        sql: "SELECT a.pid, a.usename::text AS usr, coalesce(a.application_name, '') AS application, a.state,
       extract(epoch FROM now() - a.xact_start)::float8 AS age_s,
       extract(epoch FROM now() - a.state_change)::float8 AS idle_s,
       (SELECT count(*) FROM pg_stat_activity w WHERE a.pid = ANY (pg_blocking_pids(w.pid)))::bigint AS blocking,
       left(a.query, 500) AS query
  FROM pg_stat_activity a
 WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
   AND a.datname = current_database() AND a.pid <> pg_backend_pid()
   AND NOT (a.application_name = current_setting('application_name') AND a.backend_xid IS NULL)
 ORDER BY a.xact_start",
        precondition: None,
        evaluate: idle_in_transaction,
    },
    Check {
        name: "connections",
        engine: E,
        title: "Connections to this database by state, user and application (the limit is server-wide)",
        sql: "SELECT coalesce(state, backend_type) AS state, coalesce(usename::text, '') AS usr,
       coalesce(application_name, '') AS application, count(*)::bigint AS count,
       current_setting('max_connections')::bigint AS max_connections,
       current_setting('superuser_reserved_connections')::bigint AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::bigint AS server_total
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND datname = current_database()
   AND coalesce(application_name, '') NOT LIKE 'dbabot-%'
 GROUP BY 1, 2, 3
 ORDER BY count DESC",
        precondition: None,
        evaluate: connections,
    },
    Check {
        name: "connection_limits",
        engine: E,
        title: "Roles and databases with their own CONNECTION LIMIT, and the sessions counted against it",
        sql: "SELECT 'role' AS scope, r.rolname::text AS name, quote_ident(r.rolname) AS ident,
       r.rolconnlimit::bigint AS conn_limit, r.rolsuper AS superuser,
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.usename = r.rolname AND a.backend_type = 'client backend')::bigint AS used,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')::bigint AS server_used,
       current_setting('max_connections')::bigint - current_setting('superuser_reserved_connections')::bigint AS server_max
  FROM pg_roles r
 WHERE r.rolconnlimit >= 0 AND r.rolcanlogin
UNION ALL
SELECT 'database', d.datname::text, quote_ident(d.datname), d.datconnlimit::bigint, false,
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datname = d.datname AND a.backend_type = 'client backend')::bigint,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')::bigint,
       current_setting('max_connections')::bigint - current_setting('superuser_reserved_connections')::bigint
  FROM pg_database d
 WHERE d.datconnlimit >= 0 AND d.datallowconn
 ORDER BY 6 DESC
 LIMIT 20",
        precondition: None,
        evaluate: connection_limits,
    },
    Check {
        name: "checkpoints",
        engine: E,
        title: "Checkpoints requested by WAL volume vs timed (PostgreSQL 17+ pg_stat_checkpointer)",
        sql: super::checkpoints::PG17_SQL,
        precondition: Some(Precondition {
            sql: "SELECT current_setting('server_version_num')::int >= 170000",
            unavailable: "",
        }),
        evaluate: checkpoints,
    },
    Check {
        name: "checkpoints",
        engine: E,
        title: "Checkpoints requested by WAL volume vs timed (pg_stat_bgwriter, pg_stat_wal)",
        sql: super::checkpoints::PG_SQL,
        precondition: Some(Precondition {
            sql: "SELECT current_setting('server_version_num')::int >= 140000",
            unavailable: "checkpoint pressure needs PostgreSQL 14+ (pg_stat_wal)",
        }),
        evaluate: checkpoints,
    },
    Check {
        name: "timeouts",
        engine: E,
        title: "Timeouts in effect (statement, lock, idle) and the server, database or role that sets each",
        sql: super::timeouts::PG_SQL,
        precondition: None,
        evaluate: timeouts,
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
        title: "Size of this database (current_database())",
        sql: "SELECT current_database()::text AS database, pg_database_size(current_database())::bigint AS size_bytes",
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
       pg_table_size(relid)::bigint AS size_bytes,
       current_setting('autovacuum') = 'on' AS server_autovacuum,
       coalesce((SELECT c.reloptions::text FROM pg_class c WHERE c.oid = relid), '') ILIKE '%autovacuum_enabled=f%' AS table_autovacuum_off
  FROM pg_stat_user_tables
 ORDER BY (coalesce((SELECT c.reloptions::text FROM pg_class c WHERE c.oid = relid), '') ILIKE '%autovacuum_enabled=f%') DESC, n_dead_tup DESC
 LIMIT 50",
        precondition: None,
        evaluate: vacuum_bloat,
    },
    Check {
        name: "table_statistics",
        engine: E,
        title: "Planner statistics per table: missing (never analyzed, or lost in an upgrade or restore) or stale",
        // pg_stats shows only the columns this login may read, so tables it cannot SELECT are
        // left out rather than reported as having no statistics.
        sql: "SELECT s.relid::regclass::text AS tbl,
       greatest(s.n_live_tup, c.reltuples::bigint, 0)::bigint AS rows,
       s.n_mod_since_analyze::bigint AS modified,
       coalesce(greatest(s.last_analyze, s.last_autoanalyze)::text, 'never') AS last_analyze,
       pg_table_size(s.relid)::bigint AS size_bytes,
       NOT EXISTS (SELECT 1 FROM pg_stats st WHERE st.schemaname = s.schemaname AND st.tablename = s.relname) AS no_stats,
       current_setting('autovacuum_analyze_threshold')::float8
         + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0) AS analyze_trigger,
       (current_setting('autovacuum') = 'off'
        OR coalesce(c.reloptions::text, '') ILIKE '%autovacuum_enabled=f%') AS autovacuum_off
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE has_table_privilege(s.relid, 'SELECT')
   AND greatest(s.n_live_tup, c.reltuples::bigint, s.n_mod_since_analyze) >= 1000
 ORDER BY s.n_mod_since_analyze DESC
 LIMIT 50",
        precondition: None,
        evaluate: table_statistics,
    },
    Check {
        name: "replication_slots",
        engine: E,
        title: "Replication slots and the WAL they retain",
        sql: "SELECT slot_name::text AS slot, slot_type, active, coalesce(wal_status, '') AS wal_status,
       coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, restart_lsn), 0)::bigint AS retained_bytes,
       coalesce(database::text, '') AS database, coalesce(plugin::text, '') AS plugin
  FROM pg_replication_slots
 ORDER BY active, retained_bytes DESC",
        precondition: None,
        evaluate: replication_slots,
    },
    Check {
        name: "vacuum_horizon",
        engine: E,
        title: "What holds back the xmin horizon (sessions, prepared transactions, slots)",
        sql: "SELECT h.kind, h.holder, h.usr, h.state, h.xmin_age, h.held_s, h.query
  FROM (SELECT 'session' AS kind, pid::text AS holder, usename::text AS usr, coalesce(state, '') AS state,
               age(backend_xmin)::bigint AS xmin_age,
               extract(epoch FROM now() - coalesce(xact_start, query_start))::float8 AS held_s,
               left(query, 300) AS query
          FROM pg_stat_activity
         WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()
           AND datname = current_database()
           AND coalesce(application_name, '') NOT LIKE 'dbabot-%'
        UNION ALL
        SELECT 'prepared', gid, owner::text, 'prepared', age(transaction)::bigint,
               extract(epoch FROM now() - prepared)::float8, NULL
          FROM pg_prepared_xacts
         WHERE database = current_database()
        UNION ALL
        SELECT 'slot', slot_name::text, NULL, CASE WHEN active THEN 'active' ELSE 'inactive' END,
               greatest(age(xmin), age(catalog_xmin))::bigint, NULL, NULL
          FROM pg_replication_slots
         WHERE (xmin IS NOT NULL OR catalog_xmin IS NOT NULL)
           AND (database IS NULL OR database = current_database())) h
 ORDER BY h.xmin_age DESC NULLS LAST, h.held_s DESC NULLS LAST
 LIMIT 20",
        precondition: None,
        evaluate: vacuum_horizon,
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
        name: "id_exhaustion",
        engine: E,
        title: "Sequences (serial / identity ids) against the maximum of their type and of the column they feed",
        sql: "SELECT x.seq, x.current_value, x.max_value, x.column_name, x.column_type, x.seq_type,
       round((100.0 * x.current_value / nullif(x.max_value, 0))::numeric, 2)::float8 AS pct
  FROM (SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename) AS seq,
               coalesce(s.last_value, 0)::float8 AS current_value,
               least(s.max_value::float8,
                     coalesce(CASE col.atttypid WHEN 'int2'::regtype THEN 32767::float8
                                                WHEN 'int4'::regtype THEN 2147483647::float8 END,
                              s.max_value::float8)) AS max_value,
               coalesce(col.tbl || '.' || quote_ident(col.attname), '') AS column_name,
               coalesce(format_type(col.atttypid, NULL), '') AS column_type,
               s.data_type::text AS seq_type
          FROM pg_sequences s
          LEFT JOIN LATERAL (
               SELECT d.refobjid::regclass::text AS tbl, a.attname::text AS attname, a.atttypid
                 FROM pg_depend d
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
                  AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.deptype IN ('a', 'i')
                LIMIT 1) col ON true
         WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        -- Integer keys no sequence feeds (ids assigned by the application): the highest value
        -- the planner statistics saw (pg_stats histogram, as of the last ANALYZE).
        SELECT c.oid::regclass::text || '.' || quote_ident(a.attname::text),
               h.hi::float8,
               CASE a.atttypid WHEN 'int2'::regtype THEN 32767 ELSE 2147483647 END::float8,
               c.oid::regclass::text || '.' || quote_ident(a.attname::text),
               format_type(a.atttypid, NULL), 'none'
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
          JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = a.attname
          CROSS JOIN LATERAL (SELECT max(v) AS hi FROM unnest(st.histogram_bounds::text::bigint[]) v) h
         WHERE (i.indisprimary OR i.indisunique) AND i.indnatts = 1
           AND a.atttypid IN ('int2'::regtype, 'int4'::regtype) AND a.attidentity = ''
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND h.hi IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_attrdef ad WHERE ad.adrelid = c.oid AND ad.adnum = a.attnum
                             AND pg_get_expr(ad.adbin, ad.adrelid) LIKE 'nextval(%')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = c.oid AND d.refobjsubid = a.attnum
                             AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))) x
 ORDER BY pct DESC NULLS LAST
 LIMIT 50",
        precondition: None,
        evaluate: id_exhaustion,
    },
    Check {
        name: "unused_indexes",
        engine: E,
        title: "Indexes never scanned since statistics reset",
        sql: "SELECT s.indexrelid::regclass::text AS idx, s.relid::regclass::text AS tbl, s.idx_scan::bigint AS scans,
       pg_relation_size(s.indexrelid)::bigint AS size_bytes,
       (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       (SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database WHERE datname = current_database()) AS stats_age_s
  FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
 WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
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
       (i.indisunique OR i.indisprimary) AS is_unique,
       coalesce((SELECT k.conname::text FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid LIMIT 1), '') AS constraint_name,
       coalesce((SELECT s.idx_scan FROM pg_stat_all_indexes s WHERE s.indexrelid = i.indexrelid), 0)::bigint AS scans,
       i.indexrelid::bigint AS created_rank
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
        sql: "SELECT i.indexrelid::regclass::text AS idx, i.indrelid::regclass::text AS tbl, i.indisunique AS is_unique,
       pg_get_indexdef(i.indexrelid) AS definition,
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS cols
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
 WHERE NOT i.indisvalid AND t.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')",
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
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname LIKE '%\\_id'
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.relid AND i.indkey[0] = a.attnum)
       ) AS unindexed_refs,
       (SELECT string_agg(a.attname || ':' || c.confrelid::regclass::text, ',' ORDER BY c.conname)
          FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.conrelid = t.relid AND c.contype = 'f' AND cardinality(c.conkey) = 1
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.relid AND i.indkey[0] = a.attnum)
       ) AS unindexed_fks,
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
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname LIKE '%\\_id'
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.relid AND i.indkey[0] = a.attnum)
       ) AS unindexed_refs,
       (SELECT string_agg(a.attname || ':' || c.confrelid::regclass::text, ',' ORDER BY c.conname)
          FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.conrelid = t.relid AND c.contype = 'f' AND cardinality(c.conkey) = 1
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.relid AND i.indkey[0] = a.attnum)
       ) AS unindexed_fks,
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
        name: "fk_indexes",
        engine: E,
        title: "Foreign keys whose referencing columns no index leads with",
        // An index serves the foreign key when its first n columns are the key's n columns, in
        // any order; partial and invalid indexes do not.
        sql: "SELECT c.conrelid::regclass::text AS tbl, t.relname::text AS relname,
       c.confrelid::regclass::text AS parent, c.conname::text AS constraint_name,
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols,
       (SELECT string_agg(a.attname, '_' ORDER BY k.n)
          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols_raw,
       greatest(coalesce(s.n_live_tup, 0), t.reltuples::bigint, 0)::bigint AS rows,
       coalesce(ps.n_tup_del, 0)::bigint AS parent_deletes,
       coalesce(s.seq_scan, 0)::bigint AS seq_scan
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.conrelid
  LEFT JOIN pg_stat_user_tables ps ON ps.relid = c.confrelid
 WHERE c.contype = 'f'
   AND t.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (
       SELECT 1 FROM pg_index i
        WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
          AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey)
 ORDER BY 7 DESC, 1
 LIMIT 50",
        precondition: None,
        evaluate: fk_indexes,
    },
    Check {
        name: "column_indexes",
        engine: E,
        title: "Columns no valid index leads with, on the largest tables (read against the columns a question names)",
        sql: "SELECT c.oid::regclass::text AS tbl, c.relname::text AS relname, a.attname::text AS col,
       greatest(c.reltuples::bigint, coalesce(s.n_live_tup, 0), 0)::bigint AS est_rows
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p')
   AND c.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')
   AND c.relnamespace::regnamespace::text NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid AND i.indkey[0] = a.attnum)
 ORDER BY 4 DESC, 1, 3
 LIMIT 300",
        precondition: None,
        evaluate: super::common::no_findings,
    },
    Check {
        name: "temp_files",
        engine: E,
        title: "Temporary files: sorts and hashes that spilled past work_mem (now, and since the statistics reset)",
        // pg_ls_tmpdir() (PostgreSQL 12+) needs pg_monitor or superuser; its files are named
        // pgsql_tmp<pid>.<n>, so the session writing them is known.
        sql: TEMP_FILES_LIVE_SQL,
        precondition: Some(Precondition {
            sql: "SELECT pg_has_role('pg_monitor', 'MEMBER') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
            unavailable: "",
        }),
        evaluate: temp_files,
    },
    Check {
        name: "temp_files",
        engine: E,
        title: "Temporary files: sorts and hashes that spilled past work_mem (since the statistics reset)",
        sql: "SELECT d.temp_files::bigint AS temp_files, d.temp_bytes::bigint AS temp_bytes,
       coalesce(d.stats_reset::text, '') AS stats_reset, current_setting('work_mem') AS work_mem,
       NULL::int AS pid, NULL::bigint AS live_bytes, NULL::text AS query, NULL::text AS usename
  FROM pg_stat_database d
 WHERE d.datname = current_database()",
        precondition: None,
        evaluate: temp_files,
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
        sql: "SELECT rolname::text AS role, oid = 10 AS bootstrap, rolsuper AS superuser, rolcanlogin AS can_login,
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
    // The names the user's words can point at ("the invoices table"), so that an object that
    // is not in the database is never put into a statement shown to them. Read only when the
    // message names an object; capped by the row cap like every check (a truncated list
    // proves nothing).
    Check {
        name: "relations",
        engine: E,
        title: "Tables, views, indexes and sequences in this database (names only)",
        sql: "SELECT n.nspname::text AS schema_name, c.relname::text AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index'
                      WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
   AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'I', 'S', 'f')
 ORDER BY 2, 1",
        precondition: None,
        evaluate: |_| Vec::new(),
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
    if r.bool("sees_all_sessions") == Some(false) {
        let login = r.str("login");
        out.push(
            Finding::new(
                "overview",
                "privilege_missing",
                Severity::Warning,
                format!("the login {login} sees the statements, states and wait events of its own sessions only: blocking chains, long-running statements and idle transactions of other users are hidden from these checks; GRANT pg_monitor TO {login};"),
            )
            .fact("grant", format!("GRANT pg_monitor TO {login};"))
            .threshold("pg_stat_activity shows other users' query, state and wait columns only to pg_read_all_stats members (PostgreSQL docs §28.2.3 pg_stat_activity; §22.5 Predefined Roles)"),
        );
    }
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
                "{short_version}, up {}, {used}/{usable} usable connections, database {} is {}, {}",
                human_secs(uptime),
                r.str("database"),
                human_bytes(r.i64("db_size_bytes").unwrap_or(0)),
                match r.str("stats_reset") {
                    t if t.is_empty() =>
                        "usage statistics never reset (their start time is not recorded)"
                            .to_string(),
                    t => format!("usage statistics since {t}"),
                }
            ),
        )
        .fact("version", &short_version)
        .fact("uptime_s", uptime as i64)
        .fact("used", used)
        .fact("usable", usable)
        .fact("max", max)
        .fact("pct", format!("{pct:.0}"))
        .fact("stats_reset", r.str("stats_reset")),
    );
    let limit = rs.threshold_for("connections_used");
    let sev = limit.grade(pct);
    if sev > Severity::Ok {
        out.push(
            Finding::new(
                "overview",
                "connections_high",
                sev,
                format!("{used} of {usable} usable connections in use ({pct:.0}%)"),
            )
            .fact("used", used)
            .fact("max", usable)
            .fact("pct", format!("{pct:.0}"))
            .threshold(limit.citation()),
        );
    }
    if let Some(hit) = r.f64("cache_hit_pct") {
        // Ratios over a handful of blocks mean nothing; require some traffic.
        let limit = rs.threshold_for("cache_hit");
        let sev = limit.grade(hit);
        if r.f64("block_requests").unwrap_or(0.0) >= limit.value("min_block_requests")
            && sev > Severity::Ok
        {
            out.push(
                Finding::new(
                    "overview",
                    "cache_hit_low",
                    sev,
                    format!("Buffer cache hit ratio is {hit:.1}%"),
                )
                .fact("ratio_pct", format!("{hit:.1}"))
                .threshold(limit.citation()),
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
                format!(
                    "{deadlocks} deadlock{} detected since statistics reset",
                    if deadlocks == 1 { "" } else { "s" }
                ),
            )
            .fact("deadlocks", deadlocks)
            .fact("database", r.str("database"))
            .fact(
                "since",
                format!(
                    "the statistics of database {} were last reset",
                    r.str("database")
                ),
            )
            .threshold("any deadlock (pg_stat_database.deadlocks, PostgreSQL docs §28.2.16)"),
        );
    }
    out
}

fn active_queries(rs: &ResultSet) -> Vec<Finding> {
    running_statements(rs, Engine::Postgres)
}

/// Checksum failures are critical (a page read from disk did not match its checksum: damage
/// below PostgreSQL); with checksums off nothing can be claimed (info, no `integrity_ok`).
fn integrity(rs: &ResultSet) -> Vec<Finding> {
    let Some(first) = rs.first() else {
        return vec![];
    };
    let mut out: Vec<Finding> = rs
        .iter()
        .filter(|r| r.i64("failures").unwrap_or(0) > 0)
        .map(|r| {
            let n = r.i64("failures").unwrap_or(0);
            let detail = format!(
                "{n} data-checksum failure{} in database {} (last {}): pages read from disk did not match their checksums",
                if n == 1 { "" } else { "s" },
                r.str("database"),
                r.str("last_failure")
            );
            Finding::new("integrity", "integrity_error", Severity::Critical, detail.clone())
                .fact("detail", detail)
                .fact("database", r.str("database"))
                .threshold("any checksum failure (PostgreSQL docs §30.2 Data Checksums; §28.2.16 pg_stat_database)")
        })
        .collect();
    if first.str("data_checksums") != "on" {
        out.push(
            Finding::new(
                "integrity",
                "checksums_off",
                Severity::Info,
                "data checksums are off on this cluster: a damaged page is not noticed when it is read (amcheck checks table and index structure instead)",
            )
            .threshold("data_checksums = off (PostgreSQL docs §30.2 Data Checksums)"),
        );
    } else if out.is_empty() {
        out.push(Finding::new(
            "integrity",
            "integrity_ok",
            Severity::Ok,
            "data checksums are on and no checksum failure is recorded in any database",
        ));
    }
    out
}

/// Shared by PostgreSQL and MySQL: running statements, longest first.
///
/// A statement waiting for a lock (`wait_event_type = 'Lock'`, `pg_blocking_pids` non-empty;
/// InnoDB `trx_state = 'LOCK WAIT'`) is reported as `lock_wait` — a victim of a blocker, never a
/// long-running query to cancel. Others: `long_running_query` from 5 s (info), 60 s (warning),
/// 300 s (critical) — common operational guidance for OLTP; below 5 s `running_query` (ok), so
/// "what is running?" still gets an answer.
pub(super) fn running_statements(rs: &ResultSet, engine: Engine) -> Vec<Finding> {
    let mut rows: Vec<_> = rs.iter().collect();
    rows.sort_by(|a, b| {
        b.f64("duration_s")
            .unwrap_or(0.0)
            .total_cmp(&a.f64("duration_s").unwrap_or(0.0))
    });
    let word = if engine == Engine::Postgres {
        "pid"
    } else {
        "thread"
    };
    let mut quick = 0;
    let runtime = rs.threshold_for("statement_runtime");
    let lock_wait = rs.threshold_for("lock_wait");
    rows.into_iter()
        .filter_map(|r| {
            let d = r.f64("duration_s").unwrap_or(0.0);
            let pid = r.str("pid");
            let query = short_query(&r.str("query"), 300);
            let wait = match (r.str("wait_event_type"), r.str("wait_event")) {
                (t, e) if t.is_empty() => e,
                (t, e) => format!("{t}:{e}"),
            };
            let blocked = r.i64("blocked_by_count").unwrap_or(0) > 0
                || r.str("wait_event_type") == "Lock"
                || r.bool("lock_wait").unwrap_or(false);
            if blocked {
                let by = r.str("blocked_by");
                return Some(
                    Finding::new(
                        "active_queries",
                        "lock_wait",
                        lock_wait.grade(d).max(Severity::Warning),
                        format!(
                            "{word} {pid} is blocked, not running: it has waited {} for a lock{}{}: {}",
                            human_secs(d),
                            if wait.is_empty() { String::new() } else { format!(" ({wait})") },
                            if by.is_empty() { String::new() } else { format!(" held by {by}") },
                            short_query(&query, 120)
                        ),
                    )
                    .detail("A session waiting on a lock is a victim: cancelling it does not help; the blocking session is the one to deal with.")
                    .fact("pid", &pid)
                    .fact("user", r.str("usr"))
                    .fact("duration_s", format!("{d:.0}"))
                    .fact("wait_event", &wait)
                    .fact("blocked_by", by)
                    .fact("query", &query)
                    .threshold(lock_wait.citation()),
                );
            }
            let sev = runtime.grade(d);
            if sev == Severity::Ok {
                quick += 1;
                if quick > 5 {
                    return None;
                }
                return Some(
                    Finding::new(
                        "active_queries",
                        "running_query",
                        Severity::Ok,
                        format!("{word} {pid} is running for {}: {}", human_secs(d), short_query(&query, 120)),
                    )
                    .fact("pid", &pid)
                    .fact("user", r.str("usr"))
                    .fact("duration_s", format!("{d:.0}"))
                    .fact("query", &query),
                );
            }
            let state = r.str("state");
            let mut f = Finding::new(
                "active_queries",
                "long_running_query",
                sev,
                format!(
                    "{word} {pid} has run for {}{}: {}",
                    human_secs(d),
                    if wait.is_empty() { String::new() } else { format!(" waiting on {wait}") },
                    short_query(&query, 120)
                ),
            )
            .fact("pid", &pid)
            .fact("user", r.str("usr"))
            .fact("duration_s", format!("{d:.0}"))
            .fact("query", &query)
            .fact(
                "cancel_sql",
                if engine == Engine::Postgres {
                    format!("SELECT pg_cancel_backend({pid});")
                } else {
                    format!("KILL QUERY {pid};")
                },
            )
            .threshold(runtime.citation());
            // Always said, so that the lines quoting them are never dropped for a hole: an
            // active PostgreSQL backend with no wait event is on CPU (PostgreSQL docs §28.2.3
            // wait_event: NULL when not waiting); MySQL has no wait event per thread, and only a
            // thread state that says "Waiting for …" names one.
            let wait = match (wait.is_empty(), engine) {
                (false, _) => wait,
                (true, Engine::Postgres) => "none (on CPU)".to_string(),
                (true, _) if state.starts_with("Waiting") => state.clone(),
                (true, _) => "none reported".to_string(),
            };
            let state = if state.is_empty() {
                "executing".to_string()
            } else {
                state
            };
            f = f.fact("state", state).fact("wait_event", wait);
            Some(f)
        })
        .collect()
}

/// Shared by PostgreSQL and MySQL: one finding per blocked/blocker pair, naming the head of the
/// chain as the culprit.
///
/// The head is the blocker that is not itself waiting (`pg_blocking_pids` empty; on MySQL, not a
/// requester in another pair). Advice targets only the head, never a waiting session: an active
/// head gets a cancel (`pg_cancel_backend` / `KILL QUERY`), an idle-in-transaction head a
/// terminate (`pg_terminate_backend` / `KILL CONNECTION`), because cancel does nothing to an idle
/// session (PostgreSQL docs §9.28.2 Server Signaling Functions; MySQL manual §15.7.8.4 KILL).
/// Any lock wait is a warning, ≥ 60 s critical (lock_timeout guidance, PostgreSQL docs §20.11.1).
pub(super) fn blocking_pairs(check: &str, rs: &ResultSet, engine: Engine) -> Vec<Finding> {
    use std::collections::{BTreeMap, BTreeSet};
    let blocked: BTreeSet<String> = rs.iter().map(|r| r.str("blocked_pid")).collect();
    // blocked pid -> its first blocker, to walk up to the head.
    let mut up: BTreeMap<String, String> = BTreeMap::new();
    for r in rs.iter() {
        up.entry(r.str("blocked_pid"))
            .or_insert_with(|| r.str("blocker_pid"));
    }
    let head_of = |start: &str| -> String {
        let mut cur = start.to_string();
        let mut seen = BTreeSet::new();
        while let Some(next) = up.get(&cur) {
            if !seen.insert(cur.clone()) {
                break; // a cycle: the deadlock detector will break it
            }
            cur = next.clone();
        }
        cur
    };
    let state_of: BTreeMap<String, (String, String)> = rs
        .iter()
        .map(|r| {
            (
                r.str("blocker_pid"),
                (r.str("blocker_state"), r.str("blocker_query")),
            )
        })
        .collect();
    // "pid" on both engines: MySQL's processlist id is what KILL takes.
    let word = "pid";
    let mut rows: Vec<_> = rs.iter().collect();
    // Pairs whose blocker is the head first, then the longest waits.
    rows.sort_by(|a, b| {
        let ha = !blocked.contains(&a.str("blocker_pid"));
        let hb = !blocked.contains(&b.str("blocker_pid"));
        hb.cmp(&ha).then(
            b.f64("wait_s")
                .unwrap_or(0.0)
                .total_cmp(&a.f64("wait_s").unwrap_or(0.0)),
        )
    });
    let lock_wait = rs.threshold_for("lock_wait");
    // The prepared transaction a chain ends in, if any (pid 0 on both engines). Its waiters
    // are all its victims, also those the engine lists as queued behind another waiter, so
    // one finding per prepared transaction names them together.
    let is_prepared =
        |r: &crate::diagnostics::result::Row<'_>| r.str("blocker_state") == "prepared";
    let prepared_row = rs.iter().find(is_prepared);
    let prepared_victims: BTreeSet<String> = rs
        .iter()
        .filter(is_prepared)
        .map(|r| r.str("blocked_pid"))
        .collect();
    let mut groups: BTreeMap<String, Vec<crate::diagnostics::result::Row<'_>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| is_prepared(r)) {
        let key = format!("{}/{}", r.str("prepared_gid"), r.str("blocker_trx_id"));
        groups.entry(key).or_default().push(*r);
    }
    let mut out: Vec<Finding> = groups
        .into_values()
        .map(|waiters| prepared_blocker(check, &waiters, engine, lock_wait))
        .collect();
    let rest = rows
        .into_iter()
        .filter(|r| !is_prepared(r) && !prepared_victims.contains(&r.str("blocked_pid")))
        .map(|r| {
            let wait = r.f64("wait_s").unwrap_or(0.0);
            let sev = lock_wait.grade(wait).max(Severity::Warning);
            let blocker = r.str("blocker_pid");
            let victim = r.str("blocked_pid");
            let head = head_of(&victim);
            let (head_state, head_query) = state_of
                .get(&head)
                .cloned()
                .unwrap_or_else(|| (r.str("blocker_state"), r.str("blocker_query")));
            let head_prepared = head_state == "prepared";
            let head_idle = head_state.starts_with("idle") || head_query.trim().is_empty();
            let blocker_query = r.str("blocker_query");
            // An advisory lock (pg_advisory_lock) is the application's own; taken at session
            // level it outlives every transaction, so a cancel never frees it (PostgreSQL docs
            // §13.3.5 Advisory Locks).
            let advisory_key = r.str("advisory_key");
            // MySQL/MariaDB user-level locks (GET_LOCK) are the same kind: the user_locks
            // check puts the lock's name in this column.
            let advisory = !advisory_key.is_empty();
            let blocker_query = if advisory && engine != Engine::Postgres && r.str("blocker_state") == "idle" {
                "(none running: the connection is sleeping and still holds the user lock)".to_string()
            } else if advisory && r.str("blocker_state") == "idle" {
                let last = short_query(&blocker_query, 200);
                format!("(none running: the session is idle, outside any transaction, and still holds the advisory lock; its last statement was {last})")
            } else if blocker_query.trim().is_empty() || r.str("blocker_state").starts_with("idle") {
                let last = short_query(&blocker_query, 200);
                if last.is_empty() {
                    "(no statement running: the blocker is idle inside its transaction)".to_string()
                } else {
                    format!("(none running: idle inside its transaction; its last statement was {last})")
                }
            } else {
                short_query(&blocker_query, 300)
            };
            let relation = r.str("relation");
            let (remedy, remedy_sql) = match (engine, head_idle) {
                _ if head_prepared => prepared_remedy(engine, prepared_row.unwrap_or(r)),
                _ if advisory && engine == Engine::Postgres => (
                    format!("{word} {head} holds advisory lock {advisory_key}, which the application takes itself (pg_advisory_lock). A session-level advisory lock outlives its transactions, so cancelling a statement does not free it: the application in {word} {head} must call pg_advisory_unlock({advisory_key}), or, after telling its owner, terminate that session, which releases every lock it holds:"),
                    format!("SELECT pg_terminate_backend({head});"),
                ),
                _ if advisory => (
                    format!("{word} {head} holds user lock '{advisory_key}', which the application takes itself (GET_LOCK). It belongs to the session, not to a transaction, so COMMIT and KILL QUERY do not free it: the application in {word} {head} must call RELEASE_LOCK('{advisory_key}'), or, after telling its owner, kill that connection, which releases every lock it holds:"),
                    format!("KILL CONNECTION {head};"),
                ),
                (Engine::Postgres, true) => (
                    format!("{word} {head} is idle in its transaction, so a cancel does nothing; terminate it (its transaction rolls back) after telling its owner:"),
                    format!("SELECT pg_terminate_backend({head});"),
                ),
                (Engine::Postgres, false) => (
                    format!("Cancel the statement of {word} {head}, the head of the chain (terminate it only if the lock is still held afterwards):"),
                    format!("SELECT pg_cancel_backend({head});"),
                ),
                (_, true) => (
                    format!("{word} {head} is sleeping inside its transaction; KILL QUERY does nothing there. Kill the connection (its transaction rolls back) after telling its owner:"),
                    format!("KILL CONNECTION {head};"),
                ),
                (_, false) => (
                    format!("Stop the statement of {word} {head}, the head of the chain; if its transaction still holds the row locks afterwards, kill the connection:"),
                    format!("KILL QUERY {head};"),
                ),
            };
            let culprit = if head_prepared {
                format!("{word} {blocker} is itself waiting on a prepared (two-phase) transaction, the head of the chain and the culprit")
            } else if head == blocker {
                format!("{word} {head} is the culprit (head of the chain); {word} {victim} is its victim")
            } else {
                format!("{word} {blocker} is itself waiting on {word} {head}, the head of the chain and the culprit")
            };
            let note = r.str("note");
            Finding::new(
                check,
                "blocking_chain",
                sev,
                format!(
                    "{word} {victim} has waited {} for {}{} held by {word} {blocker} ({}), whose statement is: {}. {culprit}{}",
                    human_secs(wait),
                    if r.str("lock_type").starts_with("metadata lock") {
                        "a metadata lock".to_string()
                    } else if advisory && engine == Engine::Postgres {
                        format!("an advisory lock (key {advisory_key})")
                    } else if advisory {
                        format!("user lock '{advisory_key}' (GET_LOCK)")
                    } else {
                        "a lock".to_string()
                    },
                    if relation.is_empty() { String::new() } else { format!(" on {relation}") },
                    r.str("blocker_state"),
                    short_query(&blocker_query, 200),
                    if note.is_empty() { String::new() } else { format!(" ({note})") }
                ),
            )
            .fact("blocked_pid", &victim)
            .fact("blocker_pid", &blocker)
            .fact("head_pid", &head)
            .fact("wait_s", format!("{wait:.0}"))
            .fact("lock_type", r.str("lock_type"))
            .fact("advisory_key", advisory_key)
            .fact("relation", relation)
            .fact("blocked_query", short_query(&r.str("blocked_query"), 300))
            .fact("blocker_query", blocker_query)
            // A blocker that is itself waiting (a DDL queued behind the head) is "active" to
            // the server, but it is not running: say so, so no one takes it for the culprit.
            .fact(
                "blocker_state",
                if blocked.contains(&blocker) && blocker != head {
                    format!("itself waiting, behind {head}")
                } else {
                    r.str("blocker_state")
                },
            )
            .fact("blocker_xact_s", format!("{:.0}", r.f64("blocker_xact_s").unwrap_or(0.0)))
            .fact("remedy", remedy)
            .fact("remedy_sql", remedy_sql)
            .threshold(lock_wait.citation())
        });
    out.extend(rest);
    out
}

fn blocking_chains(rs: &ResultSet) -> Vec<Finding> {
    blocking_pairs("blocking_chains", rs, Engine::Postgres)
}

/// A session waiting on a prepared (two-phase) transaction: PostgreSQL's `PREPARE TRANSACTION`
/// or an XA transaction after `XA PREPARE` whose connection is gone (MariaDB ≥ 10.5 keeps it).
/// Both engines report its holder as pid/thread 0. It has no session to cancel or kill, keeps
/// its locks across restarts and only `ROLLBACK PREPARED` / `COMMIT PREPARED` (PostgreSQL docs,
/// SQL command PREPARE TRANSACTION) or `XA ROLLBACK` / `XA COMMIT` (MariaDB KB "XA
/// Transactions") ends it. Severity as any lock wait (`lock_wait`).
fn prepared_blocker(
    check: &str,
    waiters: &[crate::diagnostics::result::Row<'_>],
    engine: Engine,
    lock_wait: &crate::diagnostics::thresholds::Threshold,
) -> Finding {
    // `waiters` is never empty (built from a group); the longest wait comes first.
    let r = waiters[0];
    let wait = r.f64("wait_s").unwrap_or(0.0);
    let sev = lock_wait.grade(wait).max(Severity::Warning);
    let held = r.f64("blocker_xact_s").unwrap_or(0.0);
    let gid = r.str("prepared_gid");
    let relation = r.str("relation");
    let victim = r.str("blocked_pid");
    let mut pids: Vec<String> = Vec::new();
    for w in waiters {
        let p = w.str("blocked_pid");
        if !pids.contains(&p) {
            pids.push(p);
        }
    }
    let what = match (engine, gid.is_empty()) {
        (Engine::Postgres, false) => format!("the prepared transaction '{gid}'"),
        (Engine::Postgres, true) => "a prepared transaction (see pg_prepared_xacts)".to_string(),
        _ => format!(
            "a prepared XA transaction with no connection (InnoDB trx {}, thread id 0)",
            r.str("blocker_trx_id")
        ),
    };
    let owner = r.str("blocker_user");
    let (remedy, remedy_sql) = prepared_remedy(engine, r);
    let who = if pids.len() == 1 {
        format!("pid {victim} has waited {}", human_secs(wait))
    } else {
        format!(
            "{} sessions (pids {}) wait, the longest for {},",
            pids.len(),
            pids.join(", "),
            human_secs(wait)
        )
    };
    Finding::new(
        check,
        "prepared_xact_blocker",
        sev,
        format!(
            "{who} for a lock{} held by {what}{}, open {}: a two-phase transaction, not a session, so there is no pid to cancel or kill; the waiting sessions are its victims",
            if relation.is_empty() { String::new() } else { format!(" on {relation}") },
            if owner.is_empty() { String::new() } else { format!(" (owner {owner})") },
            human_secs(held),
        ),
    )
    .fact("blocked_pid", &victim)
    .fact("waiting", pids.len())
    .fact("wait_s", format!("{wait:.0}"))
    .fact("held", human_secs(held))
    .fact("blocker", what)
    .fact("gid", if gid.is_empty() { "unknown".to_string() } else { gid })
    .fact("lock_type", r.str("lock_type"))
    .fact("relation", relation)
    .fact("blocked_query", short_query(&r.str("blocked_query"), 300))
    .fact("remedy", remedy)
    .fact("remedy_sql", remedy_sql)
    .threshold(lock_wait.citation())
}

/// What ends a prepared transaction that blocks others, and the statement to do it, for the
/// blocking row `r` (its `prepared_gid`, `prepared_database` and `blocker_user` on PostgreSQL).
fn prepared_remedy(engine: Engine, r: crate::diagnostics::result::Row<'_>) -> (String, String) {
    let gid = r.str("prepared_gid");
    match engine {
        Engine::Postgres if !gid.is_empty() => {
            let db = r.str("prepared_database");
            let owner = r.str("blocker_user");
            (
                format!(
                    "The blocker is the prepared transaction '{gid}', not a session: pg_cancel_backend and pg_terminate_backend cannot end it, and it survives a restart. Ask the transaction manager that prepared it (the XA/JTA coordinator or the application) how it was decided; if it is orphaned, roll it back, connected to database {db} as {owner} or a superuser (COMMIT PREPARED '{gid}' instead if the coordinator committed it):",
                ),
                format!("ROLLBACK PREPARED {};", quote_literal(&gid, Engine::Postgres)),
            )
        }
        Engine::Postgres => (
            "The blocker is a prepared transaction, not a session: pg_cancel_backend and pg_terminate_backend cannot end it. List the prepared transactions, ask the transaction manager that prepared the one holding the lock, and if it is orphaned end it with ROLLBACK PREPARED and its gid:".to_string(),
            "SELECT gid, prepared, owner, database FROM pg_prepared_xacts ORDER BY prepared;".to_string(),
        ),
        _ => super::common::xa_blocker_remedy(None),
    }
}

/// Shared by PostgreSQL and MySQL: sessions idle inside an open transaction.
///
/// Severity by idle time: < 60 s info, ≥ 60 s warning, ≥ 600 s critical (holds locks and the
/// vacuum/purge horizon; PostgreSQL docs §20.11.1 idle_in_transaction_session_timeout). A
/// terminate/KILL statement (`terminate_sql`) is offered only for a session that blocks others;
/// one that blocks nobody gets "ask its owner" advice instead.
pub(super) fn idle_sessions(check: &str, rs: &ResultSet, engine: Engine) -> Vec<Finding> {
    let word = "pid";
    let limit = rs.threshold_for("idle_in_transaction");
    rs.iter()
        .map(|r| {
            let age = r.f64("age_s").unwrap_or(0.0);
            let idle = r.f64("idle_s").unwrap_or(age);
            let blocking = r.i64("blocking").unwrap_or(0);
            let mut sev = limit.grade(idle).max(Severity::Info);
            if blocking > 0 {
                sev = sev.max(Severity::Warning);
            }
            let pid = r.str("pid");
            let query = r.str("query");
            let mut f = Finding::new(
                check,
                "idle_in_transaction",
                sev,
                format!(
                    "{word} {pid} ({}) is idle in a transaction open for {} (idle {}){}{}",
                    r.str("usr"),
                    human_secs(age),
                    human_secs(idle),
                    if blocking > 0 {
                        format!(", blocking {blocking} session{}", if blocking == 1 { "" } else { "s" })
                    } else {
                        ", blocking nobody".to_string()
                    },
                    if query.trim().is_empty() { String::new() } else { format!("; last statement: {}", short_query(&query, 120)) }
                ),
            )
            .fact("pid", &pid)
            .fact("user", r.str("usr"))
            .fact("age_s", format!("{age:.0}"))
            .fact("idle_s", format!("{idle:.0}"))
            .fact("blocking", blocking)
            .threshold(limit.citation());
            if !query.trim().is_empty() {
                f = f.fact("query", short_query(&query, 300));
            }
            let app = r.str("application");
            if !app.is_empty() {
                f = f.fact("application", app);
            }
            if blocking > 0 {
                f = f.fact(
                    "terminate_sql",
                    if engine == Engine::Postgres {
                        format!("SELECT pg_terminate_backend({pid});")
                    } else {
                        format!("KILL CONNECTION {pid};")
                    },
                );
            } else {
                f = f.fact(
                    "owner_advice",
                    format!("{word} {pid} blocks nobody right now: ask its owner to commit or roll back rather than killing it"),
                );
            }
            f
        })
        .collect()
}

fn idle_in_transaction(rs: &ResultSet) -> Vec<Finding> {
    idle_sessions("idle_in_transaction", rs, Engine::Postgres)
}

/// Shared: connection groups and the total against max_connections.
pub(super) fn connection_groups(check: &str, rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    // The limit is server-wide: compare the server's total when the check reports it (the
    // groups themselves are this database's).
    let total: i64 = rs
        .first()
        .and_then(|r| r.i64("server_total"))
        .unwrap_or_else(|| rs.iter().map(|r| r.i64("count").unwrap_or(0)).sum());
    // Usable slots: max_connections minus superuser_reserved_connections where the engine has
    // them (PostgreSQL docs §20.3.1), the same figure the overview check reports.
    let max = rs
        .first()
        .and_then(|r| r.i64("max_connections"))
        .unwrap_or(0)
        - rs.first().and_then(|r| r.i64("reserved")).unwrap_or(0);
    // The bot's own sessions count towards the total but are nobody's cause (PostgreSQL's
    // check leaves them out by application name; MySQL marks its own login's rows `own`).
    for r in rs.iter().filter(|r| r.bool("own") != Some(true)).take(5) {
        // MySQL groups by schema (PROCESSLIST has no application name); the others by program.
        let who = match (r.str("application"), r.str("db_name")) {
            (a, _) if !a.is_empty() => format!("user {}, application {a}", r.str("usr")),
            (_, d) if !d.is_empty() => format!("user {}, database {d}", r.str("usr")),
            _ => format!("user {}", r.str("usr")),
        };
        out.push(
            Finding::new(
                check,
                "connections_by_state",
                Severity::Info,
                format!(
                    "{} connections: state {}, {who}",
                    r.str("count"),
                    r.str("state")
                ),
            )
            .fact("state", r.str("state"))
            .fact("count", r.str("count"))
            .fact("user", r.str("usr"))
            .fact("who", &who),
        );
    }
    let limit = rs.threshold_for("connections_used");
    if max > 0 {
        let pct = total as f64 * 100.0 / max as f64;
        if limit.grade(pct) > Severity::Ok {
            out.push(
                Finding::new(
                    check,
                    "connections_high",
                    limit.grade(pct),
                    format!("{total} of {max} usable connections in use on the server ({pct:.0}%)"),
                )
                .fact("used", total)
                .fact("max", max)
                .fact("pct", format!("{pct:.0}"))
                .threshold(limit.citation()),
            );
        }
    }
    out
}

fn connections(rs: &ResultSet) -> Vec<Finding> {
    connection_groups("connections", rs)
}

fn timeouts(rs: &ResultSet) -> Vec<Finding> {
    super::timeouts::evaluate("timeouts", rs, Engine::Postgres)
}

fn checkpoints(rs: &ResultSet) -> Vec<Finding> {
    super::checkpoints::evaluate("checkpoints", rs)
}

/// A role's or a database's own `CONNECTION LIMIT` (PostgreSQL docs, CREATE ROLE and CREATE
/// DATABASE), far below the server's: new sessions of that role or into that database fail with
/// "too many connections for role/database" (SQLSTATE 53300) while the server has room.
///
/// Graded by `connection_limit_used` (80 % warning, 100 % critical); `CONNECTION LIMIT 0` on a
/// login role or an open database is a warning (nobody can connect). Superuser roles are
/// exempt from a role limit (CREATE ROLE docs) and are not graded.
fn connection_limits(rs: &ResultSet) -> Vec<Finding> {
    scoped_connection_limits("connection_limits", rs, Engine::Postgres)
}

/// Shared by PostgreSQL (role / database limits) and MySQL/MariaDB (account limits and the
/// global `max_user_connections`): rows with `scope`, `name`, `ident`, `conn_limit`, `used`,
/// `server_used`, `server_max` and, for PostgreSQL, `superuser`.
pub(super) fn scoped_connection_limits(
    check: &str,
    rs: &ResultSet,
    engine: Engine,
) -> Vec<Finding> {
    let t = rs.threshold_for("connection_limit_used");
    let mut out = Vec::new();
    for r in rs.iter() {
        let limit = r.i64("conn_limit").unwrap_or(-1);
        let used = r.i64("used").unwrap_or(0);
        if limit < 0 || r.bool("superuser").unwrap_or(false) {
            continue;
        }
        let scope = r.str("scope");
        let name = r.str("name");
        let pct = if limit == 0 {
            100.0
        } else {
            used as f64 * 100.0 / limit as f64
        };
        let severity = if limit == 0 {
            Severity::Warning
        } else {
            t.grade(pct)
        };
        if severity == Severity::Ok {
            continue;
        }
        let server_used = r.i64("server_used").unwrap_or(0);
        let server_max = r.i64("server_max").unwrap_or(0);
        let room = (server_max - server_used).max(0);
        // A raise the server can take: double the limit, at most what the server has free.
        let raised = (limit + limit.max(5)).min(limit + room).max(limit + 1);
        let (label, error, raise, holders) = match (engine, scope.as_str()) {
            (Engine::Postgres, "database") => (
                format!("database {name}"),
                format!("too many connections for database \"{name}\""),
                format!("ALTER DATABASE {} CONNECTION LIMIT {raised};", r.str("ident")),
                format!(
                    "SELECT usename, application_name, client_addr, state, count(*) FROM pg_stat_activity WHERE datname = {} GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC;",
                    super::common::quote_literal(&name, Engine::Postgres)
                ),
            ),
            (Engine::Postgres, _) => (
                format!("role {name}"),
                format!("too many connections for role \"{name}\""),
                format!("ALTER ROLE {} CONNECTION LIMIT {raised};", r.str("ident")),
                format!(
                    "SELECT datname, application_name, client_addr, state, count(*) AS sessions, max(now() - state_change) AS longest_in_state FROM pg_stat_activity WHERE usename = {} GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC;",
                    super::common::quote_literal(&name, Engine::Postgres)
                ),
            ),
            (_, "account") => (
                format!("account {name}"),
                format!("User {name} has exceeded the 'max_user_connections' resource (1226)"),
                format!("ALTER USER {} WITH MAX_USER_CONNECTIONS {raised};", r.str("ident")),
                format!(
                    "SELECT host, db, command, time, state FROM information_schema.PROCESSLIST WHERE user = {} ORDER BY time DESC;",
                    super::common::quote_literal(r.str("user").as_str(), Engine::Mysql)
                ),
            ),
            _ => (
                format!("user {name}"),
                format!("User {name} already has more than 'max_user_connections' active connections (1203)"),
                format!("SET GLOBAL max_user_connections = {raised};"),
                format!(
                    "SELECT host, db, command, time, state FROM information_schema.PROCESSLIST WHERE user = {} ORDER BY time DESC;",
                    super::common::quote_literal(&name, Engine::Mysql)
                ),
            ),
        };
        let title = if limit == 0 {
            format!(
                "{label} has a connection limit of 0: every new session of it is refused ({error})"
            )
        } else if used >= limit {
            format!("{label} is at its own connection limit: {used} of {limit} sessions; its new sessions are refused with \"{error}\" while the server has {room} slots free")
        } else {
            format!("{label} uses {used} of its {limit}-session connection limit ({pct:.0}%); past it, new sessions fail with \"{error}\"")
        };
        out.push(
            Finding::new(check, "scoped_connection_limit", severity, title)
                .fact("scope", &scope)
                .fact("name", &name)
                .fact("used", used)
                .fact("limit", limit)
                .fact("pct", format!("{pct:.0}"))
                .fact("server_free", room)
                .fact("raise_sql", raise)
                .fact("holders_sql", holders)
                .threshold(t.citation()),
        );
    }
    out
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

/// Dead tuples per table, linked to whether autovacuum may run on it.
///
/// `dead_tuples_high`: ≥ 10,000 dead rows and ≥ 20% dead (autovacuum_vacuum_scale_factor default
/// 0.2, PostgreSQL docs §25.1.6) warning, ≥ 50% critical. `autovacuum_disabled`: the table has
/// `autovacuum_enabled = false` in its reloptions (warning; critical with dead rows) or the
/// server runs with `autovacuum = off` (critical) — PostgreSQL docs §25.1.6 and §20.10.
/// An inactive slot retaining `replication_slot_retained.warning` of WAL (default 1 GiB) is a
/// warning, `critical` (10 GiB) or `wal_status = 'lost'` critical (the slot is already broken);
/// an active slot (a lagging consumer) warns from `critical`. Smaller inactive slots are info:
/// they grow until the consumer returns or the slot is dropped. Source: PostgreSQL docs §27.2.6
/// Replication Slots ("slots retain WAL … until the consumer confirms"), §20.6.2
/// `max_slot_wal_keep_size`; the figures are this project's defaults in intents/thresholds.toml.
fn replication_slots(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("replication_slot_retained");
    let (warn_bytes, crit_bytes) = (limit.value("warning"), limit.value("critical"));
    rs.iter()
        .filter_map(|r| {
            let slot = r.str("slot");
            let active = r.bool("active").unwrap_or(false);
            let retained = r.i64("retained_bytes").unwrap_or(0);
            let bytes = retained as f64;
            let status = r.str("wal_status");
            let severity = if status == "lost" || (!active && bytes >= crit_bytes) {
                Severity::Critical
            } else if (!active && (bytes >= warn_bytes || status == "unreserved"))
                || bytes >= crit_bytes
            {
                Severity::Warning
            } else if !active {
                Severity::Info
            } else {
                return None;
            };
            let kind = if r.str("slot_type") == "logical" {
                format!(
                    "logical slot {slot} (plugin {}, database {})",
                    r.str("plugin"),
                    r.str("database")
                )
            } else {
                format!("physical slot {slot}")
            };
            Some(
                Finding::new(
                    "replication_slots",
                    "slot_retaining_wal",
                    severity,
                    format!(
                        "{kind} is {}, retaining {} of WAL{}",
                        if active {
                            "active"
                        } else {
                            "inactive (no consumer connected)"
                        },
                        human_bytes(retained),
                        if status.is_empty() {
                            String::new()
                        } else {
                            format!(" (wal_status {status})")
                        }
                    ),
                )
                .fact("slot", &slot)
                .fact("retained", human_bytes(retained))
                .fact("retained_bytes", retained)
                .fact("active", active)
                .threshold(limit.citation()),
            )
        })
        .collect()
}

/// The oldest holder of this database's xmin horizon (sessions and prepared transactions of
/// this database, slots of this database or physical ones; since PostgreSQL 14 other databases'
/// sessions do not hold back its tables): VACUUM cannot remove row versions newer than it, so
/// dead rows pile up everywhere while it lasts (PostgreSQL docs §25.1.2 Recovering Disk Space,
/// §25.1.5 Preventing Transaction ID Wraparound). A session holding it for
/// `xmin_horizon_age.session` (default 1 h), a prepared transaction for `prepared_transaction`
/// (5 min: 2PC transactions are meant to finish in seconds) or a slot holding it while inactive
/// is a warning; otherwise the holder is info, so the answer still names it.
fn vacuum_horizon(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let limit = rs.threshold_for("xmin_horizon_age");
    let kind = r.str("kind");
    let holder = r.str("holder");
    let held = r.f64("held_s").unwrap_or(0.0);
    let age = r.i64("xmin_age").unwrap_or(0);
    let severity = match kind.as_str() {
        "session" if held >= limit.value("session") => Severity::Warning,
        "prepared" if held >= limit.value("prepared_transaction") => Severity::Warning,
        "slot" if r.str("state") == "inactive" => Severity::Warning,
        _ => Severity::Info,
    };
    // An xmin no transaction has committed past holds nothing back yet: a brief holder at age 0
    // is not worth a line (a long one still is, since the next write makes it matter).
    if age <= 0 && severity == Severity::Info {
        return vec![];
    }
    let who = match kind.as_str() {
        "session" => format!(
            "pid {holder} ({}, {}, transaction open {})",
            r.str("usr"),
            r.str("state"),
            human_secs(held)
        ),
        "prepared" => format!(
            "prepared transaction '{holder}' (owner {}, prepared {} ago)",
            r.str("usr"),
            human_secs(held)
        ),
        _ => format!("replication slot {holder} ({})", r.str("state")),
    };
    let mut f = Finding::new(
        "vacuum_horizon",
        "xmin_horizon_held",
        severity,
        format!("{who} holds back the xmin horizon by {age} transactions: VACUUM cannot remove dead rows newer than it on any table"),
    )
    .fact("who", &who)
    .fact("holder", &holder)
    .fact("holder_kind", &kind)
    .fact("xmin_age", age)
    .fact("held", human_secs(held))
    .threshold(limit.citation());
    if kind == "session" {
        f = f.fact("pid", &holder);
        let q = r.str("query");
        if !q.is_empty() {
            f = f.fact("query", short_query(&q, 200));
        }
    }
    vec![f]
}

/// Tables the planner misjudges for want of statistics (PostgreSQL docs §25.1.3 Updating
/// Planner Statistics). `stats_missing`: a table of at least `table_statistics.min_rows` rows
/// with no pg_stats rows at all (never analyzed: a bulk load, or statistics lost by pg_upgrade
/// or a restore, which do not carry them). `stats_stale`: more rows changed since the last
/// ANALYZE than `table_statistics.stale_factor` times the autovacuum analyze trigger
/// (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × rows, §20.10). Both are
/// warnings; the fix is `ANALYZE` on that table.
fn table_statistics(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("table_statistics");
    let min_rows = limit.value("min_rows");
    let factor = limit.value("stale_factor");
    let mut out = Vec::new();
    let mut missing = 0usize;
    for r in rs.iter() {
        let table = r.str("tbl");
        let rows = r.i64("rows").unwrap_or(0);
        let modified = r.i64("modified").unwrap_or(0);
        let trigger = r.f64("analyze_trigger").unwrap_or(50.0);
        let last = r.str("last_analyze");
        let auto_off = r.bool("autovacuum_off").unwrap_or(false);
        let size = human_bytes(r.i64("size_bytes").unwrap_or(0));
        let analyze = format!("ANALYZE {table};");
        if r.bool("no_stats").unwrap_or(false) && (rows.max(modified) as f64) >= min_rows {
            missing += 1;
            out.push(
                Finding::new(
                    "table_statistics",
                    "stats_missing",
                    Severity::Warning,
                    format!(
                        "{table} ({}, about {} rows) has no planner statistics (last analyzed: {last}): the planner guesses its row counts and can choose full scans or nested loops that do not fit{}",
                        size,
                        crate::diagnostics::thousands(rows.max(modified) as u64),
                        if auto_off { "; autovacuum will not analyze it (autovacuum is off for it)" } else { "" }
                    ),
                )
                .fact("table", &table)
                .fact("rows", rows.max(modified))
                .fact("last_analyze", &last)
                .fact("analyze_sql", &analyze)
                .threshold(limit.citation()),
            );
        } else if modified as f64 >= factor * trigger && (modified as f64) >= min_rows {
            out.push(
                Finding::new(
                    "table_statistics",
                    "stats_stale",
                    Severity::Warning,
                    format!(
                        "{table}: {} rows changed since its last ANALYZE ({last}), {:.0}× the {} changes that trigger autovacuum's ANALYZE: the planner's estimates for it are out of date{}",
                        crate::diagnostics::thousands(modified as u64),
                        modified as f64 / trigger.max(1.0),
                        crate::diagnostics::thousands(trigger as u64),
                        if auto_off { " (autovacuum is off for it)" } else { "" }
                    ),
                )
                .fact("table", &table)
                .fact("modified", modified)
                .fact("last_analyze", &last)
                .fact("analyze_sql", &analyze)
                .threshold(limit.citation()),
            );
        }
    }
    // Many tables without statistics at once is what an upgrade or a restore leaves.
    if missing >= 3 {
        out.push(
            Finding::new(
                "table_statistics",
                "stats_missing_everywhere",
                Severity::Warning,
                format!("{missing} tables have no planner statistics at all: what pg_upgrade or a restore leaves behind until the whole database is analyzed"),
            )
            .fact("tables", missing)
            .threshold(limit.citation()),
        );
    }
    out
}

fn vacuum_bloat(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let limit = rs.threshold_for("dead_tuples");
    let server_off = rs.first().and_then(|r| r.bool("server_autovacuum")) == Some(false);
    if server_off {
        out.push(
            Finding::new(
                "vacuum_bloat",
                "autovacuum_disabled",
                Severity::Critical,
                "autovacuum is off for the whole server: dead rows are never cleaned up automatically and wraparound protection depends on manual VACUUM",
            )
            .fact("scope", "server")
            .fact("server_wide", "whole")
            .fact("fix_text", "Turn autovacuum back on (no restart needed):")
            .fact("fix_sql", "ALTER SYSTEM SET autovacuum = on;\nSELECT pg_reload_conf();")
            .threshold("autovacuum = off (PostgreSQL docs §25.1.6 The Autovacuum Daemon)"),
        );
    }
    for r in rs.iter() {
        let dead = r.i64("dead").unwrap_or(0);
        let pct = r.f64("dead_pct").unwrap_or(0.0);
        let table = r.str("tbl");
        let table_off = r.bool("table_autovacuum_off").unwrap_or(false);
        let bloated =
            dead as f64 >= limit.value("min_dead_rows") && limit.grade(pct) > Severity::Ok;
        if table_off {
            out.push(
                Finding::new(
                    "vacuum_bloat",
                    "autovacuum_disabled",
                    if bloated { Severity::Critical } else { Severity::Warning },
                    format!("autovacuum is disabled on {table} (autovacuum_enabled = false), which has {dead} dead rows ({pct:.0}% of its rows)"),
                )
                .fact("table", &table)
                .fact("scope", "table")
                .fact("dead", dead)
                .fact("pct", format!("{pct:.0}"))
                .fact("fix_text", format!("Re-enable autovacuum on {table} and vacuum it once now:"))
                .fact("fix_sql", format!("ALTER TABLE {table} RESET (autovacuum_enabled);\nVACUUM (VERBOSE, ANALYZE) {table};"))
                .threshold("reloptions autovacuum_enabled = false (PostgreSQL docs, CREATE TABLE, Storage Parameters; §25.1.6)"),
            );
        }
        if !bloated {
            continue;
        }
        let sev = limit.grade(pct);
        let why = if table_off {
            "; autovacuum is disabled on this table"
        } else if server_off {
            "; autovacuum is off on the server"
        } else {
            ""
        };
        out.push(
            Finding::new(
                "vacuum_bloat",
                "dead_tuples_high",
                sev,
                format!(
                    "{table}: {dead} dead rows ({pct:.0}% of rows), last vacuum {}{why}",
                    r.str("last_vacuum")
                ),
            )
            .fact("table", &table)
            .fact("dead", dead)
            .fact("live", r.i64("live").unwrap_or(0))
            .fact("pct", format!("{pct:.0}"))
            .fact("last_autovacuum", r.str("last_vacuum"))
            .fact(
                "autovacuum",
                if table_off || server_off { "off" } else { "on" },
            )
            .threshold(limit.citation()),
        );
    }
    out
}

/// XID age per database against the 2^31 wraparound limit. Always states the oldest age
/// (`xid_age`, ok) so an answer can say how far away the limit is; `xid_age_high` above
/// `autovacuum_freeze_max_age` (warning) or ≥ 1 billion (critical) — PostgreSQL docs §25.1.5
/// Preventing Transaction ID Wraparound Failures.
fn wraparound(rs: &ResultSet) -> Vec<Finding> {
    const LIMIT: f64 = 2_147_483_647.0;
    let limit = rs.threshold_for("xid_age");
    let critical = limit.value("critical");
    let mut out: Vec<Finding> = rs
        .iter()
        .filter_map(|r| {
            let age = r.i64("xid_age").unwrap_or(0);
            let freeze = r.i64("freeze_max_age").unwrap_or(200_000_000);
            let pct = age as f64 * 100.0 / LIMIT;
            let sev = if age as f64 >= critical {
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
                .fact("freeze_max_age", freeze)
                .threshold(limit.citation()),
            )
        })
        .collect();
    if let Some(r) = rs.iter().max_by_key(|r| r.i64("xid_age").unwrap_or(0)) {
        let age = r.i64("xid_age").unwrap_or(0);
        let pct = age as f64 * 100.0 / LIMIT;
        out.push(
            Finding::new(
                "wraparound",
                "xid_age",
                Severity::Ok,
                format!(
                    "oldest transaction-ID age: {age} in database {} ({pct:.1}% of the 2^31 limit; autovacuum_freeze_max_age {})",
                    r.str("database"),
                    r.str("freeze_max_age")
                ),
            )
            .fact("database", r.str("database"))
            .fact("age", age)
            .fact("pct", format!("{pct:.1}"))
            .fact("freeze_max_age", r.str("freeze_max_age")),
        );
    }
    out
}

/// Shared by PostgreSQL and MySQL: unused indexes, only when the statistics window is known and
/// at least `unused_index.min_stats_age` long (default 30 days, a monthly business cycle with
/// its month-end jobs: common operational guidance; PgHero lists idx_scan = 0 and leaves the
/// window to the reader); otherwise `unused_index_unproven` (info, no drop advice) saying why it
/// cannot be called unused yet. From `warning_size` (100 MB) an unused index is a warning.
pub(super) fn unused_with_window(
    limit: &crate::diagnostics::Threshold,
    r: &crate::diagnostics::Row<'_>,
    size: Option<i64>,
    window: &str,
    drop_sql: String,
) -> Finding {
    let age = r.f64("stats_age_s");
    let idx = r.str("idx");
    let table = r.str("tbl");
    let size_text = size
        .map(|b| format!(" ({})", human_bytes(b)))
        .unwrap_or_default();
    let min_days = limit.value("min_stats_age") / 86_400.0;
    match age {
        Some(a) if a / 86_400.0 >= min_days => {
            let days = a / 86_400.0;
            let mut f = Finding::new(
                "unused_indexes",
                "unused_index",
                if size.unwrap_or(0) as f64 >= limit.value("warning_size") { Severity::Warning } else { Severity::Info },
                format!("{idx} on {table}{size_text} has not been scanned in the {days:.0} days since {window}"),
            )
            .fact("index", &idx)
            .fact("table", &table)
            .fact("scans", "0")
            .fact("stats_days", format!("{days:.0}"))
            .fact("drop_sql", drop_sql)
            .threshold(limit.citation());
            if let Some(b) = size {
                f = f.fact("size", human_bytes(b));
            }
            f
        }
        Some(a) => Finding::new(
            "unused_indexes",
            "unused_index_unproven",
            Severity::Info,
            format!(
                "{idx} on {table}{size_text} has no scans, but {window} was only {} ago: too short to call it unused (needs {min_days:.0} days)",
                human_secs(a)
            ),
        )
        .fact("index", &idx)
        .fact("table", &table),
        None => Finding::new(
            "unused_indexes",
            "unused_index_unproven",
            Severity::Info,
            format!("{idx} on {table}{size_text} has no scans, but the server does not record when {window}, so the period those statistics cover cannot be told and it is not called unused"),
        )
        .fact("index", &idx)
        .fact("table", &table),
    }
}

/// Shared by PostgreSQL and MySQL: `object`, `current_value`, `max_value`, `pct`, `column_name`,
/// `column_type`; rows ranked by `pct` in SQL. Always reports the highest one (ok) so an answer
/// can state the figure; `id_exhaustion` from `id_exhaustion.warning` of the type's maximum
/// (default 90%, PgHero's "sequence danger"), critical from `critical` (98%: days to weeks left
/// on a busy table).
pub(super) fn id_rows(rs: &ResultSet, engine: Engine) -> Vec<Finding> {
    let mut out = Vec::new();
    let limit = rs.threshold_for("id_exhaustion");
    for r in rs.iter() {
        let pct = r.f64("pct").unwrap_or(0.0);
        let object = r.str("object");
        let column = r.str("column_name");
        let ctype = r.str("column_type");
        let current = r.str("current_value");
        let max = r.str("max_value");
        let target = if column.is_empty() {
            object.clone()
        } else {
            format!("{column} ({ctype})")
        };
        let sev = limit.grade(pct);
        if sev == Severity::Ok {
            if out.is_empty() {
                out.push(
                    Finding::new(
                        "id_exhaustion",
                        "id_headroom",
                        Severity::Ok,
                        format!(
                            "the fullest id is {object}{} at {current} of {max} ({pct:.1}%)",
                            if column.is_empty() {
                                String::new()
                            } else {
                                format!(" for {column}")
                            }
                        ),
                    )
                    .fact("object", &object)
                    .fact("pct", format!("{pct:.1}")),
                );
            }
            break;
        }
        let (fix_text, fix_sql) = match engine {
            Engine::Postgres => {
                let mut sql = Vec::new();
                if !column.is_empty() && ctype != "bigint" {
                    let (tbl, col) = column.rsplit_once('.').unwrap_or((&column, ""));
                    sql.push(format!("ALTER TABLE {tbl} ALTER COLUMN {col} TYPE bigint;"));
                }
                if !matches!(r.str("seq_type").as_str(), "bigint" | "none") {
                    sql.push(format!("ALTER SEQUENCE {object} AS bigint;"));
                }
                (
                    format!("Widen {target} to bigint before it runs out. ALTER COLUMN … TYPE bigint rewrites the table under an ACCESS EXCLUSIVE lock: schedule it, or add a bigint column, backfill it in batches and swap it in:"),
                    sql.join("\n"),
                )
            }
            _ => {
                let (tbl, col) = (
                    object.clone(),
                    column.rsplit('.').next().unwrap_or(&column).to_string(),
                );
                (
                    format!("Widen {target} to BIGINT UNSIGNED before inserts fail with ER_AUTOINC_READ_FAILED / duplicate key. The ALTER copies the table: use pt-online-schema-change or gh-ost on a big one:"),
                    format!("ALTER TABLE {tbl} MODIFY {col} BIGINT UNSIGNED NOT NULL AUTO_INCREMENT;"),
                )
            }
        };
        let mut f = Finding::new(
            "id_exhaustion",
            "id_exhaustion",
            sev,
            if r.str("seq_type") == "none" {
                format!("{column} ({ctype}, no sequence: the application assigns it) reaches {current} of {max} ({pct:.2}% used, highest value in the statistics of the last ANALYZE): ids run out at {max}")
            } else {
                format!(
                    "{object}{} is at {current} of {max} ({pct:.2}% used): ids run out at {max}",
                    if column.is_empty() { String::new() } else { format!(" (feeding {column}, {ctype})") }
                )
            },
        )
        .fact("object", &object)
        .fact("current_value", &current)
        .fact("max_value", &max)
        .fact("pct", format!("{pct:.2}"))
        .fact("fix_text", fix_text)
        .threshold(limit.citation());
        if !fix_sql.is_empty() {
            f = f.fact("fix_sql", fix_sql);
        }
        if !column.is_empty() {
            f = f.fact("column", &column);
        }
        out.push(f);
    }
    out
}

fn id_exhaustion(rs: &ResultSet) -> Vec<Finding> {
    let mapped = ResultSet {
        columns: rs
            .columns
            .iter()
            .map(|c| {
                if c == "seq" {
                    "object".to_string()
                } else {
                    c.clone()
                }
            })
            .collect(),
        rows: rs.rows.clone(),
        truncated: rs.truncated,
        total: rs.total,
        thresholds: rs.thresholds.clone(),
    };
    id_rows(&mapped, Engine::Postgres)
}

fn unused_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            unused_with_window(
                rs.threshold_for("unused_index"),
                &r,
                Some(r.i64("size_bytes").unwrap_or(0)),
                "the statistics reset",
                format!("DROP INDEX CONCURRENTLY IF EXISTS {};", r.str("idx")),
            )
        })
        .collect()
}

fn duplicate_indexes(rs: &ResultSet) -> Vec<Finding> {
    // Group on the full signature, not only column names: operator class, expressions and
    // predicates must match too; show the column names.
    let mut mapped = rs.clone();
    let sig = mapped.columns.iter().position(|c| c == "signature");
    let cols = mapped.columns.iter().position(|c| c == "cols");
    if let (Some(sig), Some(cols)) = (sig, cols) {
        mapped.columns[cols] = "display".into();
        mapped.columns[sig] = "cols".into();
    }
    duplicate_indexes_by_columns("duplicate_indexes", &mapped, |_, i| {
        format!("DROP INDEX CONCURRENTLY IF EXISTS {i};")
    })
}

/// Invalid indexes (`pg_index.indisvalid = false`, left by a failed CREATE INDEX
/// CONCURRENTLY; PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently").
///
/// A unique one failed because of duplicate keys: REINDEX would fail the same way, so the fix is
/// to find and fix the duplicate keys, then `DROP INDEX CONCURRENTLY` and build it again
/// (`invalid_unique_index`). A non-unique one can be rebuilt (`invalid_index`).
fn invalid_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            let idx = r.str("idx");
            let table = r.str("tbl");
            let def = r.str("definition");
            let create = def
                .replacen("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1)
                .replacen("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1);
            if r.bool("is_unique").unwrap_or(false) {
                let cols = r.str("cols");
                let find = if cols.is_empty() {
                    format!("-- the keys of {idx} that occur more than once in {table}")
                } else {
                    format!("SELECT {cols}, count(*) FROM {table} GROUP BY {cols} HAVING count(*) > 1;")
                };
                return Finding::new(
                    "invalid_indexes",
                    "invalid_unique_index",
                    Severity::Warning,
                    format!("Unique index {idx} on {table} is INVALID: its CREATE UNIQUE INDEX CONCURRENTLY failed, usually on duplicate keys{}. It is maintained on writes but enforces nothing and is never used", if cols.is_empty() { String::new() } else { format!(" in ({cols})") }),
                )
                .fact("index", &idx)
                .fact("table", &table)
                .fact("columns", &cols)
                .fact("fix_text", format!("Find and fix the duplicate keys first (REINDEX would fail again on the same duplicates), then drop the invalid {idx} and build it again:"))
                .fact("fix_sql", format!("{find}\n-- after removing or merging those duplicates:\nDROP INDEX CONCURRENTLY IF EXISTS {idx};\n{create};"))
                .threshold("pg_index.indisvalid = false (PostgreSQL docs, CREATE INDEX, Building Indexes Concurrently)");
            }
            Finding::new(
                "invalid_indexes",
                "invalid_index",
                Severity::Warning,
                format!("{idx} on {table} is INVALID (a failed CREATE INDEX CONCURRENTLY): it is maintained on writes but never used"),
            )
            .fact("index", &idx)
            .fact("table", &table)
            .fact("fix_text", format!("Drop the invalid {idx} and build it again without blocking writes:"))
            .fact("fix_sql", format!("DROP INDEX CONCURRENTLY IF EXISTS {idx};\n{create};"))
            .threshold("pg_index.indisvalid = false (PostgreSQL docs, CREATE INDEX, Building Indexes Concurrently)")
        })
        .collect()
}

fn seq_scans(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("seq_scan_heavy");
    rs.iter()
        .filter_map(|r| {
            let seq = r.i64("seq_scan").unwrap_or(0);
            let read = r.i64("seq_tup_read").unwrap_or(0);
            let rows = r.i64("live_rows").unwrap_or(0);
            let per_scan = read / seq.max(1);
            if (rows as f64) < limit.value("min_table_rows")
                || (per_scan as f64) < limit.value("min_rows_per_scan")
                || (seq as f64) < limit.value("min_scans")
            {
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
            .threshold(limit.citation());
            // No query text names the column, but a foreign key of this table has no index:
            // every DELETE of a parent row (and every key change) scans this table to check it,
            // and joins by the key do too. The prime suspect, named as such.
            let fk = r.str("unindexed_fks");
            let fk = fk
                .split(',')
                .filter_map(|p| p.split_once(':'))
                .find(|(c, _)| !c.is_empty());
            let scan_filter = match (&column, fk) {
                (Some(c), _) => format!("Queries filter on {c}, which no index leads with"),
                (None, Some((c, parent))) => {
                    column = Some(c.to_string());
                    format!(
                        "The query texts here do not show the filter, but {c} is a foreign key to {parent} that no index leads with: every DELETE of a {parent} row (and every change of its key) scans {table} for referencing rows, and so does every join or lookup by {c}"
                    )
                }
                (None, None) => "Which column the scans filter on is not visible in the query texts here".to_string(),
            };
            f = f.fact("scan_filter", scan_filter);
            match column {
                Some(c) => {
                    let name = index_name(&r.str("relname"), &c);
                    let col = quote_ident_sqlite(&c);
                    f = f
                        .fact("column", &c)
                        .fact("create_sql", format!("CREATE INDEX CONCURRENTLY {name} ON {table} ({col});"));
                }
                None => {
                    // No query text names the filtering column: say how to find it instead of
                    // showing a statement with a hole in it. Columns named like references
                    // (`*_id`) that no index leads with are the usual suspects: named as
                    // candidates to confirm with EXPLAIN, never as the finding.
                    let refs: Vec<String> = r
                        .str("unindexed_refs")
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .take(3)
                        .map(str::to_string)
                        .collect();
                    let how = "pg_stat_statements (PostgreSQL docs F.30) records the query texts, or run EXPLAIN on the slow query to see the Seq Scan's Filter";
                    if refs.is_empty() {
                        f = f.fact(
                            "next_step",
                            format!("The query texts available do not show which column {table} is filtered on; {how}"),
                        );
                    } else {
                        let relname = r.str("relname");
                        f = f
                            .fact("candidates", refs.join(", "))
                            .fact(
                                "next_step",
                                format!(
                                    "The query texts available do not show which column {table} is filtered on. Columns named like references that no index leads with: {}. If EXPLAIN of the slow query shows a Seq Scan on {table} with a Filter on one of them, index that column ({how})",
                                    refs.join(", ")
                                ),
                            )
                            .fact(
                                "next_sql",
                                refs.iter()
                                    .map(|c| format!("CREATE INDEX CONCURRENTLY {relname}_{c}_idx ON {table} ({c});"))
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            );
                    }
                }
            }
            Some(f)
        })
        .collect()
}

/// `fk_without_index`: a foreign key whose referencing columns no valid, non-partial index leads
/// with. Every DELETE of a parent row, and every UPDATE of its key, then scans the child table
/// for referencing rows while holding its locks, and joins by the key have no index either
/// (PostgreSQL docs §5.5.5 Foreign Keys: "it is often a good idea to index the referencing
/// columns too"). Warning from `fk_without_index.warning_rows` child rows (10,000), info from a
/// tenth of that; smaller tables are left out (a scan of them is cheap).
fn fk_indexes(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("fk_without_index");
    let warning_rows = limit.value("warning_rows");
    rs.iter()
        .filter_map(|r| {
            let rows = r.i64("rows").unwrap_or(0);
            if (rows as f64) < warning_rows / 10.0 {
                return None;
            }
            let table = r.str("tbl");
            let parent = r.str("parent");
            let cols = r.str("cols");
            let deletes = r.i64("parent_deletes").unwrap_or(0);
            let name = index_name(&r.str("relname"), &r.str("cols_raw"));
            let impact = if deletes > 0 {
                format!(
                    "{parent} has had {deletes} rows deleted since the statistics were reset, and each of those deletes scanned {table} (~{rows} rows) to look for referencing rows"
                )
            } else {
                format!(
                    "every DELETE of a {parent} row, and every change of its key, scans {table} (~{rows} rows) to look for referencing rows"
                )
            };
            Some(
                Finding::new(
                    "fk_indexes",
                    "fk_without_index",
                    if (rows as f64) >= warning_rows {
                        Severity::Warning
                    } else {
                        Severity::Info
                    },
                    format!(
                        "{table} ({cols}) references {parent} (foreign key {}) but no index leads with {cols}: {impact}",
                        r.str("constraint_name")
                    ),
                )
                .fact("table", &table)
                .fact("columns", &cols)
                .fact("parent", &parent)
                .fact("constraint", r.str("constraint_name"))
                .fact("rows", rows)
                .fact("parent_deletes", deletes)
                .fact("impact", &impact)
                .fact(
                    "create_sql",
                    format!("CREATE INDEX CONCURRENTLY {name} ON {table} ({cols});"),
                )
                .threshold(limit.citation()),
            )
        })
        .collect()
}

/// `temp_spill`: sorts, hashes and materialisations larger than work_mem write temporary files
/// (PostgreSQL docs §20.4.1 work_mem; §28.2.16 pg_stat_database temp_files / temp_bytes). A
/// session writing at least `temp_files.live_warning` (100 MB) now is a warning naming it; for
/// the database's total since the statistics reset, `temp_files.warning` (1 GB) warns and any
/// temporary file at all is info.
fn temp_files(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("temp_files");
    let Some(first) = rs.first() else {
        return Vec::new();
    };
    let work_mem = first.str("work_mem");
    let mut out = Vec::new();
    for r in rs.iter() {
        let (Some(pid), Some(bytes)) = (r.i64("pid"), r.i64("live_bytes")) else {
            continue;
        };
        if (bytes as f64) < limit.value("live_warning") {
            continue;
        }
        let query = short_query(&r.str("query"), 300);
        let summary = format!(
            "session {pid} ({}) is writing {} of temporary files right now",
            r.str("usename"),
            human_bytes(bytes)
        );
        out.push(
            Finding::new(
                "temp_files",
                "temp_spill",
                Severity::Warning,
                format!("{summary}: {query}"),
            )
            .fact("summary", &summary)
            .fact("pid", pid)
            .fact("query", query)
            .fact("setting", "work_mem")
            .fact("setting_value", &work_mem)
            .threshold(limit.citation()),
        );
    }
    let files = first.i64("temp_files").unwrap_or(0);
    let bytes = first.i64("temp_bytes").unwrap_or(0);
    if files > 0 {
        let since = match first.str("stats_reset") {
            s if s.is_empty() || s == "NULL" => "since the statistics began".to_string(),
            s => format!("since the statistics were reset ({s})"),
        };
        let summary = format!(
            "queries on this database have written {files} temporary files ({}) {since}",
            human_bytes(bytes)
        );
        out.push(
            Finding::new(
                "temp_files",
                "temp_spill",
                if (bytes as f64) >= limit.value("warning") {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                format!("{summary}, with work_mem = {work_mem}"),
            )
            .fact("summary", &summary)
            .fact("temp_files", files)
            .fact("temp_bytes", human_bytes(bytes))
            .fact("setting", "work_mem")
            .fact("setting_value", &work_mem)
            .threshold(limit.citation()),
        );
    }
    out
}

fn top_statements(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("slow_statement_mean");
    rs.iter()
        .take(5)
        .map(|r| {
            let mean = r.f64("mean_ms").unwrap_or(0.0);
            let total = r.f64("total_ms").unwrap_or(0.0);
            Finding::new(
                "top_statements",
                "top_statement",
                limit.grade(mean / 1000.0).max(Severity::Info),
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
            .threshold(limit.citation())
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
    let limit = rs.threshold_for("replication_lag");
    rs.iter()
        .map(|r| {
            let lag_s = r.f64("lag_s");
            let lag_b = r.i64("lag_bytes").unwrap_or(0);
            let state = r.str("state");
            let broken = !r.str("error").is_empty()
                || matches!(
                    state.to_lowercase().as_str(),
                    "no wal receiver" | "stopped" | "no"
                );
            if broken {
                return Finding::new(
                    check,
                    "replication_broken",
                    Severity::Critical,
                    format!(
                        "replication on {} is not running: {} {}",
                        r.str("replica"),
                        state,
                        r.str("error")
                    ),
                )
                .fact("replica", r.str("replica"))
                .fact(
                    "error",
                    format!("{state} {}", r.str("error")).trim().to_string(),
                );
            }
            let secs = lag_s.unwrap_or(0.0);
            let bytes = lag_b as f64;
            let sev = if secs >= limit.value("critical_delay")
                || bytes >= limit.value("critical_bytes")
            {
                Severity::Critical
            } else if secs >= limit.value("warning_delay") || bytes >= limit.value("warning_bytes")
            {
                Severity::Warning
            } else {
                Severity::Ok
            };
            Finding::new(
                check,
                if sev > Severity::Ok {
                    "replication_lag"
                } else {
                    "replication_ok"
                },
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
            .threshold(limit.citation())
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
        if r.bool("bootstrap").unwrap_or(false) {
            // The bootstrap superuser (oid 10, created by initdb) cannot lose superuser; it is
            // not a fix target. Say how to keep applications off it instead.
            if login {
                out.push(
                    Finding::new("roles_security", "bootstrap_superuser", Severity::Info, format!("role {role} is the bootstrap superuser created by initdb: keep it for administration only; applications should use their own non-superuser roles"))
                        .fact("role", &role)
                        .threshold("the bootstrap superuser cannot be made NOSUPERUSER (PostgreSQL docs §22.2 Role Attributes; restrict it in pg_hba.conf, §21.1)"),
                );
            }
            continue;
        }
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
/// Tables without a primary key, one warning each with the engine's own `rule`. Rows with a
/// false `verifiable` column (the login cannot see the table's constraints) are not reported
/// as missing a key; one info finding names them and the grant that would show them.
pub(super) fn no_pk(check: &str, rs: &ResultSet, rule: &str) -> Vec<Finding> {
    let hidden: Vec<String> = rs
        .iter()
        .filter(|r| r.bool("verifiable") == Some(false))
        .map(|r| r.str("tbl"))
        .collect();
    let mut out: Vec<Finding> = rs
        .iter()
        .filter(|r| r.bool("verifiable") != Some(false))
        .map(|r| {
            Finding::new(
                check,
                "table_without_pk",
                Severity::Warning,
                match r.i64("est_rows") {
                    Some(n) => format!("{} has no primary key (~{n} rows)", r.str("tbl")),
                    None => format!("{} has no primary key", r.str("tbl")),
                },
            )
            .fact("table", r.str("tbl"))
            .threshold(rule)
        })
        .collect();
    if let Some(first) = hidden.first() {
        let schema = first.split('.').next().unwrap_or(first);
        out.push(
            Finding::new(
                check,
                "privilege_missing",
                Severity::Info,
                format!(
                    "{} table(s) not checked for a primary key ({}): the login has only column privileges on them, so their constraints are hidden; GRANT SHOW VIEW ON `{schema}`.* (or SELECT) to the bot's login",
                    hidden.len(),
                    hidden.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .fact("grant", format!("GRANT SHOW VIEW ON `{schema}`.*"))
            .fact("table", first),
        );
    }
    out
}

fn tables_without_pk(rs: &ResultSet) -> Vec<Finding> {
    no_pk(
        "tables_without_pk",
        rs,
        "every table should have a primary key: logical replication needs one to publish UPDATE and DELETE (PostgreSQL docs §31.1 Publication, REPLICA IDENTITY)",
    )
}

fn index_list(rs: &ResultSet) -> Vec<Finding> {
    vec![Finding::new(
        "index_list",
        "index_list",
        Severity::Ok,
        format!("{} indexes in this database", rs.count_phrase()),
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
