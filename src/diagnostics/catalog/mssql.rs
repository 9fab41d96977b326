//! SQL Server diagnostics (SQL Server 2016+, Azure SQL Managed Instance, Azure SQL Database),
//! built on the dynamic management views. Every statement is one SELECT (the catalog test parses
//! each with sqlparser's `MsSqlDialect` and rejects EXEC, DBCC, OPENROWSET/OPENQUERY and writes).
//!
//! Variants: where Azure SQL Database (`SERVERPROPERTY('EngineEdition') = 5`) lacks the
//! instance-level views (`sys.dm_os_*`, `sys.master_files`, `msdb`), a check has an Azure variant
//! first (precondition [`AZURE_DB`]) and the instance variant second; checks with no Azure form
//! are guarded by [`NOT_AZURE_DB`] and report why they are unavailable.
//!
//! Permissions for a least-privilege login: `VIEW SERVER STATE` (2022+: `VIEW SERVER PERFORMANCE
//! STATE` and `VIEW SERVER SECURITY STATE`), `VIEW ANY DEFINITION` (to see all logins and
//! indexes), `VIEW DATABASE STATE` in each database, `SELECT` on `msdb.dbo.backupset`; on Azure
//! SQL Database `VIEW DATABASE STATE` (or `##MS_ServerStateReader##`). SHOWPLAN permission is
//! needed for EXPLAIN.
//!
//! Sessions: `session_id` is reported as `pid` (the engine-neutral fact name playbooks use).
//! The bot's own sessions (`program_name = 'dbabot'`, and `@@SPID`) are left out of session
//! checks.

use super::common::duplicate_indexes_by_columns;
use super::postgres::{connection_groups, no_pk, table_sizes};
use super::{Check, Precondition};
use crate::config::Engine;
use crate::diagnostics::finding::{human_bytes, human_secs, short_query};
use crate::diagnostics::{Finding, ResultSet, Row, Value};
use dbabot_chat::Severity;
use std::collections::BTreeMap;

const E: Engine = Engine::Mssql;

/// Azure SQL Database (a single database or elastic pool database).
const AZURE_DB: Precondition = Precondition {
    sql: "SELECT CAST(CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) = 5 THEN 1 ELSE 0 END AS bit) AS is_azure_sql_database",
    unavailable: "",
};

/// Anything but Azure SQL Database: SQL Server, Managed Instance, SQL Edge.
const NOT_AZURE_DB: Precondition = Precondition {
    sql: "SELECT CAST(CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) = 5 THEN 0 ELSE 1 END AS bit) AS is_instance",
    unavailable: "Azure SQL Database does not expose the instance-level views this check reads (sys.dm_os_*, sys.server_principals, tempdb and msdb are managed by Azure); run it against SQL Server or Azure SQL Managed Instance.",
};

/// `SUBSTRING` of a batch's text for the current statement (offsets are byte offsets into the
/// UTF-16 text; -1 means "to the end"). `$t` is the `sys.dm_exec_sql_text` alias, `$r` the row
/// with `statement_start_offset` / `statement_end_offset`.
macro_rules! stmt_text {
    ($t:literal, $r:literal) => {
        concat!(
            "LEFT(COALESCE(SUBSTRING(",
            $t,
            ".text, ",
            $r,
            ".statement_start_offset / 2 + 1, (CASE WHEN ",
            $r,
            ".statement_end_offset = -1 THEN DATALENGTH(",
            $t,
            ".text) ELSE ",
            $r,
            ".statement_end_offset END - ",
            $r,
            ".statement_start_offset) / 2 + 1), ",
            $t,
            ".text, ''), 500)"
        )
    };
}

/// Wait types that are idle, background or benign and say nothing about a workload: the filter
/// list of Paul Randal's "SQL Server Wait Statistics (or please tell me where it hurts…)"
/// (SQLskills), as maintained for SQL Server 2016–2022.
macro_rules! benign_waits {
    () => {
        "N'BROKER_EVENTHANDLER', N'BROKER_RECEIVE_WAITFOR', N'BROKER_TASK_STOP', N'BROKER_TO_FLUSH', N'BROKER_TRANSMITTER',
 N'CHECKPOINT_QUEUE', N'CHKPT', N'CLR_AUTO_EVENT', N'CLR_MANUAL_EVENT', N'CLR_SEMAPHORE', N'CXCONSUMER',
 N'DBMIRROR_DBM_EVENT', N'DBMIRROR_EVENTS_QUEUE', N'DBMIRROR_WORKER_QUEUE', N'DBMIRRORING_CMD', N'DIRTY_PAGE_POLL',
 N'DISPATCHER_QUEUE_SEMAPHORE', N'EXECSYNC', N'FSAGENT', N'FT_IFTS_SCHEDULER_IDLE_WAIT', N'FT_IFTSHC_MUTEX',
 N'HADR_CLUSAPI_CALL', N'HADR_FILESTREAM_IOMGR_IOCOMPLETION', N'HADR_LOGCAPTURE_WAIT', N'HADR_NOTIFICATION_DEQUEUE',
 N'HADR_TIMER_TASK', N'HADR_WORK_QUEUE', N'KSOURCE_WAKEUP', N'LAZYWRITER_SLEEP', N'LOGMGR_QUEUE',
 N'MEMORY_ALLOCATION_EXT', N'ONDEMAND_TASK_QUEUE', N'PARALLEL_REDO_DRAIN_WORKER', N'PARALLEL_REDO_LOG_CACHE',
 N'PARALLEL_REDO_TRAN_LIST', N'PARALLEL_REDO_WORKER_SYNC', N'PARALLEL_REDO_WORKER_WAIT_WORK',
 N'PREEMPTIVE_HADR_LEASE_MECHANISM', N'PREEMPTIVE_OS_FLUSHFILEBUFFERS', N'PREEMPTIVE_SP_SERVER_DIAGNOSTICS',
 N'PREEMPTIVE_XE_GETTARGETSTATE', N'PVS_PREALLOCATE', N'PWAIT_ALL_COMPONENTS_INITIALIZED',
 N'PWAIT_DIRECTLOGCONSUMER_GETNEXT', N'PWAIT_EXTENSIBILITY_CLEANUP_TASK', N'QDS_PERSIST_TASK_MAIN_LOOP_SLEEP',
 N'QDS_ASYNC_QUEUE', N'QDS_CLEANUP_STALE_QUERIES_TASK_MAIN_LOOP_SLEEP', N'QDS_SHUTDOWN_QUEUE',
 N'REDO_THREAD_PENDING_WORK', N'REQUEST_FOR_DEADLOCK_SEARCH', N'RESOURCE_QUEUE', N'SERVER_IDLE_CHECK',
 N'SLEEP_BPOOL_FLUSH', N'SLEEP_DBSTARTUP', N'SLEEP_DCOMSTARTUP', N'SLEEP_MASTERDBREADY', N'SLEEP_MASTERMDREADY',
 N'SLEEP_MASTERUPGRADED', N'SLEEP_MSDBSTARTUP', N'SLEEP_SYSTEMTASK', N'SLEEP_TASK', N'SLEEP_TEMPDBSTARTUP',
 N'SNI_HTTP_ACCEPT', N'SOS_WORK_DISPATCHER', N'SP_SERVER_DIAGNOSTICS_SLEEP', N'SQLTRACE_BUFFER_FLUSH',
 N'SQLTRACE_INCREMENTAL_FLUSH_SLEEP', N'SQLTRACE_WAIT_ENTRIES', N'VDI_CLIENT_OTHER', N'WAIT_FOR_RESULTS',
 N'WAITFOR', N'WAITFOR_TASKSHUTDOWN', N'WAIT_XTP_RECOVERY', N'WAIT_XTP_HOST_WAIT', N'WAIT_XTP_OFFLINE_CKPT_NEW_LOG',
 N'WAIT_XTP_CKPT_CLOSE', N'XE_DISPATCHER_JOIN', N'XE_DISPATCHER_WAIT', N'XE_TIMER_EVENT'"
    };
}

pub(super) static CHECKS: &[Check] = &[
    // ---- overview -------------------------------------------------------------------------
    Check {
        name: "overview",
        engine: E,
        title: "Azure SQL Database overview: version, service objective, sessions, size",
        sql: "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version,
       CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
       CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'ServiceObjective') AS nvarchar(128)) AS service_objective,
       (SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 1) AS connections,
       DB_NAME() AS database_name,
       (SELECT SUM(CAST(size AS bigint)) * 8192 FROM sys.database_files WHERE type = 0) AS db_size_bytes,
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'MaxSizeInBytes') AS bigint) AS max_size_bytes,
       (SELECT MAX(max_session_percent) FROM sys.dm_db_resource_stats) AS max_session_pct,
       (SELECT MAX(max_worker_percent) FROM sys.dm_db_resource_stats) AS max_worker_pct",
        precondition: Some(AZURE_DB),
        evaluate: overview,
    },
    Check {
        name: "overview",
        engine: E,
        title: "Server overview: version, uptime, sessions, memory, deadlocks, grants pending",
        sql: "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version,
       CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS product_level,
       CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
       CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,
       DATEDIFF(SECOND, i.sqlserver_start_time, GETDATE()) AS uptime_s,
       (SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 1) AS connections,
       @@MAX_CONNECTIONS AS max_connections,
       i.cpu_count AS cpu_count,
       i.physical_memory_kb / 1024 AS physical_memory_mb,
       (SELECT MAX(cntr_value) FROM sys.dm_os_performance_counters WHERE counter_name = N'Target Server Memory (KB)') / 1024 AS target_memory_mb,
       (SELECT MAX(cntr_value) FROM sys.dm_os_performance_counters WHERE counter_name = N'Total Server Memory (KB)') / 1024 AS total_memory_mb,
       (SELECT MAX(cntr_value) FROM sys.dm_os_performance_counters WHERE counter_name = N'Memory Grants Pending') AS memory_grants_pending,
       (SELECT MIN(cntr_value) FROM sys.dm_os_performance_counters WHERE counter_name = N'Page life expectancy' AND object_name LIKE N'%Buffer Manager%') AS page_life_expectancy_s,
       (SELECT MAX(cntr_value) FROM sys.dm_os_performance_counters WHERE counter_name = N'Number of Deadlocks/sec' AND instance_name = N'_Total') AS deadlocks,
       DB_NAME() AS database_name,
       (SELECT SUM(CAST(size AS bigint)) * 8192 FROM sys.database_files) AS db_size_bytes
  FROM sys.dm_os_sys_info AS i",
        precondition: None,
        evaluate: overview,
    },
    Check {
        name: "resource_usage",
        engine: E,
        title: "Resource usage, last 15 minutes (sys.dm_db_resource_stats, 15-second samples)",
        sql: "SELECT TOP (60) end_time, avg_cpu_percent AS cpu_pct, avg_data_io_percent AS data_io_pct,
       avg_log_write_percent AS log_write_pct, avg_memory_usage_percent AS memory_pct,
       max_worker_percent AS workers_pct, max_session_percent AS sessions_pct
  FROM sys.dm_db_resource_stats
 ORDER BY end_time DESC",
        precondition: Some(AZURE_DB),
        evaluate: resource_usage,
    },
    Check {
        name: "resource_usage",
        engine: E,
        title: "CPU usage, last 30 minutes (scheduler-monitor ring buffer, 1-minute samples)",
        sql: "SELECT TOP (30) DATEADD(SECOND, -CAST((i.ms_ticks - x.timestamp) / 1000 AS int), GETDATE()) AS end_time,
       x.record.value('(./Record/SchedulerMonitorEvent/SystemHealth/ProcessUtilization)[1]', 'int') AS cpu_pct,
       100 - x.record.value('(./Record/SchedulerMonitorEvent/SystemHealth/SystemIdle)[1]', 'int')
           - x.record.value('(./Record/SchedulerMonitorEvent/SystemHealth/ProcessUtilization)[1]', 'int') AS other_cpu_pct
  FROM (SELECT timestamp, CONVERT(xml, record) AS record
          FROM sys.dm_os_ring_buffers
         WHERE ring_buffer_type = N'RING_BUFFER_SCHEDULER_MONITOR' AND record LIKE N'%<SystemHealth>%') AS x
 CROSS JOIN sys.dm_os_sys_info AS i
 ORDER BY x.timestamp DESC",
        precondition: None,
        evaluate: resource_usage,
    },
    // ---- sessions -------------------------------------------------------------------------
    Check {
        name: "active_queries",
        engine: E,
        title: "Running requests and long runners (sys.dm_exec_requests)",
        sql: concat!(
            "SELECT r.session_id AS pid, s.login_name AS usr, s.host_name AS host, s.program_name AS application,
       DB_NAME(r.database_id) AS database_name, r.status AS state, r.command AS command,
       r.wait_type AS wait_event, r.wait_time AS wait_ms, r.blocking_session_id AS blocked_by,
       DATEDIFF(SECOND, r.start_time, GETDATE()) AS duration_s, r.cpu_time AS cpu_ms,
       r.logical_reads AS logical_reads, r.open_transaction_count AS open_transactions,
       ", stmt_text!("t", "r"), " AS query
  FROM sys.dm_exec_requests AS r
  JOIN sys.dm_exec_sessions AS s ON s.session_id = r.session_id
 OUTER APPLY sys.dm_exec_sql_text(r.sql_handle) AS t
 WHERE s.is_user_process = 1 AND r.session_id <> @@SPID AND COALESCE(s.program_name, N'') <> N'dbabot'
 ORDER BY r.start_time"
        ),
        precondition: None,
        evaluate: active_queries,
    },
    Check {
        name: "blocking_chains",
        engine: E,
        title: "Blocking chains with the head blocker and its statement",
        sql: "WITH waits AS (
    SELECT r.session_id, r.blocking_session_id, r.wait_type, r.wait_time, r.wait_resource, r.sql_handle
      FROM sys.dm_exec_requests AS r
     WHERE r.blocking_session_id > 0 AND r.blocking_session_id <> r.session_id),
chain AS (
    SELECT w.session_id AS blocked, w.blocking_session_id AS head, 1 AS depth FROM waits AS w
    UNION ALL
    SELECT c.blocked, w.blocking_session_id, c.depth + 1
      FROM chain AS c JOIN waits AS w ON w.session_id = c.head
     WHERE c.depth < 20),
heads AS (
    SELECT blocked, head, ROW_NUMBER() OVER (PARTITION BY blocked ORDER BY depth DESC) AS rn FROM chain)
SELECT w.session_id AS blocked_pid, bs.login_name AS blocked_user,
       LEFT(COALESCE(bt.text, N''), 500) AS blocked_query,
       w.wait_time / 1000.0 AS wait_s, w.wait_type AS wait_type,
       COALESCE(lk.lock_type, w.wait_type) AS lock_type,
       COALESCE(lk.relation, w.wait_resource) AS relation,
       w.blocking_session_id AS blocker_pid,
       h.head AS head_blocker_pid, hs.login_name AS head_user, hs.host_name AS head_host,
       hs.program_name AS head_program,
       CASE WHEN hr.session_id IS NULL THEN N'sleeping, idle in an open transaction' ELSE hr.status END AS head_state,
       LEFT(COALESCE(hrt.text, hct.text, N''), 500) AS head_query,
       DATEDIFF(SECOND, (SELECT MIN(at.transaction_begin_time)
                           FROM sys.dm_tran_session_transactions AS st
                           JOIN sys.dm_tran_active_transactions AS at ON at.transaction_id = st.transaction_id
                          WHERE st.session_id = h.head), GETDATE()) AS head_xact_s,
       hs.open_transaction_count AS head_open_transactions
  FROM waits AS w
  JOIN heads AS h ON h.blocked = w.session_id AND h.rn = 1
  JOIN sys.dm_exec_sessions AS bs ON bs.session_id = w.session_id
 OUTER APPLY sys.dm_exec_sql_text(w.sql_handle) AS bt
  LEFT JOIN sys.dm_exec_sessions AS hs ON hs.session_id = h.head
  LEFT JOIN sys.dm_exec_requests AS hr ON hr.session_id = h.head
 OUTER APPLY sys.dm_exec_sql_text(hr.sql_handle) AS hrt
  LEFT JOIN sys.dm_exec_connections AS hc ON hc.session_id = h.head
 OUTER APPLY sys.dm_exec_sql_text(hc.most_recent_sql_handle) AS hct
 OUTER APPLY (SELECT TOP (1) l.resource_type + N' ' + l.request_mode AS lock_type,
                     CASE WHEN l.resource_type = N'OBJECT'
                          THEN OBJECT_SCHEMA_NAME(l.resource_associated_entity_id, l.resource_database_id) + N'.'
                               + OBJECT_NAME(l.resource_associated_entity_id, l.resource_database_id)
                          ELSE (SELECT TOP (1) OBJECT_SCHEMA_NAME(p.object_id) + N'.' + OBJECT_NAME(p.object_id)
                                  FROM sys.partitions AS p
                                 WHERE p.hobt_id = l.resource_associated_entity_id AND l.resource_database_id = DB_ID())
                     END AS relation
                FROM sys.dm_tran_locks AS l
               WHERE l.request_session_id = w.session_id AND l.request_status = N'WAIT') AS lk
 ORDER BY w.wait_time DESC",
        precondition: None,
        evaluate: blocking_chains,
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Open transactions by age (sleeping sessions holding a transaction open)",
        sql: "SELECT s.session_id AS pid, s.login_name AS usr, s.host_name AS host, s.program_name AS application,
       CASE WHEN r.session_id IS NULL THEN N'sleeping' ELSE r.status END AS state,
       DATEDIFF(SECOND, tx.began, GETDATE()) AS age_s,
       CASE WHEN r.session_id IS NULL THEN DATEDIFF(SECOND, s.last_request_end_time, GETDATE()) ELSE 0 END AS idle_s,
       tx.log_bytes AS log_bytes, s.open_transaction_count AS open_transactions,
       LEFT(COALESCE(t.text, N''), 500) AS query
  FROM sys.dm_exec_sessions AS s
 CROSS APPLY (SELECT MIN(at.transaction_begin_time) AS began, SUM(dt.database_transaction_log_bytes_used) AS log_bytes
                FROM sys.dm_tran_session_transactions AS st
                JOIN sys.dm_tran_active_transactions AS at ON at.transaction_id = st.transaction_id
                LEFT JOIN sys.dm_tran_database_transactions AS dt ON dt.transaction_id = st.transaction_id
               WHERE st.session_id = s.session_id) AS tx
  LEFT JOIN sys.dm_exec_requests AS r ON r.session_id = s.session_id
  LEFT JOIN sys.dm_exec_connections AS c ON c.session_id = s.session_id
 OUTER APPLY sys.dm_exec_sql_text(c.most_recent_sql_handle) AS t
 WHERE s.is_user_process = 1 AND s.session_id <> @@SPID AND tx.began IS NOT NULL
 ORDER BY tx.began",
        precondition: None,
        evaluate: idle_in_transaction,
    },
    Check {
        name: "connections",
        engine: E,
        title: "User sessions by status, login and application",
        sql: "SELECT COALESCE(s.status, N'') AS state, s.login_name AS usr, COALESCE(s.program_name, N'') AS application,
       COUNT(*) AS count, @@MAX_CONNECTIONS AS max_connections
  FROM sys.dm_exec_sessions AS s
 WHERE s.is_user_process = 1
 GROUP BY s.status, s.login_name, s.program_name
 ORDER BY count DESC",
        precondition: None,
        evaluate: connections,
    },
    Check {
        name: "memory_grants",
        engine: E,
        title: "Query memory grants, pending ones first (sys.dm_exec_query_memory_grants)",
        sql: "SELECT mg.session_id AS pid, mg.requested_memory_kb, mg.granted_memory_kb, mg.used_memory_kb,
       mg.wait_time_ms, mg.dop, CASE WHEN mg.grant_time IS NULL THEN 1 ELSE 0 END AS is_pending,
       LEFT(COALESCE(t.text, N''), 500) AS query
  FROM sys.dm_exec_query_memory_grants AS mg
 OUTER APPLY sys.dm_exec_sql_text(mg.sql_handle) AS t
 WHERE mg.session_id <> @@SPID
 ORDER BY is_pending DESC, mg.requested_memory_kb DESC",
        precondition: None,
        evaluate: memory_grants,
    },
    // ---- waits and statements -------------------------------------------------------------
    Check {
        name: "waits",
        engine: E,
        title: "Top waits for this database (sys.dm_db_wait_stats, benign waits filtered)",
        sql: concat!(
            "SELECT TOP (15) wait_type, wait_time_ms / 1000.0 AS wait_s, signal_wait_time_ms / 1000.0 AS signal_s,
       waiting_tasks_count AS waits,
       100.0 * wait_time_ms / NULLIF(SUM(wait_time_ms) OVER (), 0) AS pct,
       CAST(wait_time_ms AS float) / NULLIF(waiting_tasks_count, 0) AS avg_ms,
       NULL AS uptime_s
  FROM sys.dm_db_wait_stats
 WHERE waiting_tasks_count > 0 AND wait_type NOT IN (", benign_waits!(), ")
 ORDER BY wait_time_ms DESC"
        ),
        precondition: Some(AZURE_DB),
        evaluate: waits,
    },
    Check {
        name: "waits",
        engine: E,
        title: "Top waits since start (sys.dm_os_wait_stats, benign waits filtered)",
        sql: concat!(
            "SELECT TOP (15) wait_type, wait_time_ms / 1000.0 AS wait_s, signal_wait_time_ms / 1000.0 AS signal_s,
       waiting_tasks_count AS waits,
       100.0 * wait_time_ms / NULLIF(SUM(wait_time_ms) OVER (), 0) AS pct,
       CAST(wait_time_ms AS float) / NULLIF(waiting_tasks_count, 0) AS avg_ms,
       (SELECT DATEDIFF(SECOND, sqlserver_start_time, GETDATE()) FROM sys.dm_os_sys_info) AS uptime_s
  FROM sys.dm_os_wait_stats
 WHERE waiting_tasks_count > 0 AND wait_type NOT IN (", benign_waits!(), ")
 ORDER BY wait_time_ms DESC"
        ),
        precondition: None,
        evaluate: waits,
    },
    Check {
        name: "top_statements",
        engine: E,
        title: "Top statements by CPU, duration and logical reads (sys.dm_exec_query_stats, by query_hash)",
        sql: concat!(
            "WITH s AS (
    SELECT qs.query_hash, qs.sql_handle, qs.statement_start_offset, qs.statement_end_offset, qs.last_execution_time,
           SUM(qs.execution_count) OVER (PARTITION BY qs.query_hash) AS calls,
           SUM(qs.total_worker_time) OVER (PARTITION BY qs.query_hash) AS cpu_us,
           SUM(qs.total_elapsed_time) OVER (PARTITION BY qs.query_hash) AS elapsed_us,
           SUM(qs.total_logical_reads) OVER (PARTITION BY qs.query_hash) AS reads,
           COUNT(*) OVER (PARTITION BY qs.query_hash) AS plans,
           ROW_NUMBER() OVER (PARTITION BY qs.query_hash ORDER BY qs.total_worker_time DESC) AS rn
      FROM sys.dm_exec_query_stats AS qs),
r AS (
    SELECT s.*, ROW_NUMBER() OVER (ORDER BY s.cpu_us DESC) AS cpu_rank,
           ROW_NUMBER() OVER (ORDER BY s.elapsed_us DESC) AS elapsed_rank,
           ROW_NUMBER() OVER (ORDER BY s.reads DESC) AS reads_rank
      FROM s WHERE s.rn = 1)
SELECT TOP (30) ", stmt_text!("t", "r"), " AS query,
       r.calls, r.elapsed_us / 1000.0 AS total_ms, r.elapsed_us / 1000.0 / NULLIF(r.calls, 0) AS mean_ms,
       r.cpu_us / 1000.0 AS cpu_ms, r.cpu_us / 1000.0 / NULLIF(r.calls, 0) AS mean_cpu_ms,
       r.reads AS logical_reads, r.reads / NULLIF(r.calls, 0) AS reads_per_call, r.plans,
       r.cpu_rank, r.elapsed_rank, r.reads_rank, r.last_execution_time
  FROM r
 OUTER APPLY sys.dm_exec_sql_text(r.sql_handle) AS t
 WHERE r.cpu_rank <= 10 OR r.elapsed_rank <= 10 OR r.reads_rank <= 10
 ORDER BY r.cpu_us DESC"
        ),
        precondition: None,
        evaluate: top_statements,
    },
    Check {
        name: "query_store",
        engine: E,
        title: "Query Store state for this database",
        sql: "SELECT DB_NAME() AS database_name, actual_state_desc AS actual_state, desired_state_desc AS desired_state,
       readonly_reason, current_storage_size_mb, max_storage_size_mb,
       query_capture_mode_desc AS capture_mode, size_based_cleanup_mode_desc AS cleanup_mode,
       stale_query_threshold_days
  FROM sys.database_query_store_options",
        precondition: Some(Precondition {
            sql: "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.all_objects WHERE name = N'database_query_store_options' AND schema_id = SCHEMA_ID(N'sys')) THEN 1 ELSE 0 END AS bit) AS has_query_store",
            unavailable: "Query Store needs SQL Server 2016 or later.",
        }),
        evaluate: query_store,
    },
    // ---- indexes --------------------------------------------------------------------------
    Check {
        name: "seq_scans",
        engine: E,
        title: "Missing-index suggestions by improvement measure (sys.dm_db_missing_index_*)",
        sql: "SELECT TOP (25) DB_NAME(d.database_id) AS database_name, d.statement AS tbl,
       d.equality_columns, d.inequality_columns, d.included_columns,
       s.user_seeks, s.user_scans, s.avg_total_user_cost, s.avg_user_impact, s.unique_compiles, s.last_user_seek,
       s.avg_total_user_cost * (s.avg_user_impact / 100.0) * (s.user_seeks + s.user_scans) AS improvement_measure,
       (SELECT SUM(u.user_scans) FROM sys.dm_db_index_usage_stats AS u
         WHERE u.database_id = d.database_id AND u.object_id = d.object_id AND u.index_id IN (0, 1)) AS table_scans,
       (SELECT SUM(u.user_seeks) FROM sys.dm_db_index_usage_stats AS u
         WHERE u.database_id = d.database_id AND u.object_id = d.object_id) AS index_seeks,
       (SELECT SUM(p.row_count) FROM sys.dm_db_partition_stats AS p
         WHERE d.database_id = DB_ID() AND p.object_id = d.object_id AND p.index_id IN (0, 1)) AS table_rows
  FROM sys.dm_db_missing_index_group_stats AS s
  JOIN sys.dm_db_missing_index_groups AS g ON g.index_group_handle = s.group_handle
  JOIN sys.dm_db_missing_index_details AS d ON d.index_handle = g.index_handle
 WHERE d.database_id > 4
 ORDER BY improvement_measure DESC",
        precondition: None,
        evaluate: missing_indexes,
    },
    Check {
        name: "unused_indexes",
        engine: E,
        title: "Nonclustered indexes with no seeks, scans or lookups (Azure SQL Database)",
        sql: "SELECT TOP (50) OBJECT_SCHEMA_NAME(i.object_id) + N'.' + OBJECT_NAME(i.object_id) AS tbl, i.name AS idx,
       COALESCE(u.user_seeks, 0) + COALESCE(u.user_scans, 0) + COALESCE(u.user_lookups, 0) AS scans,
       COALESCE(u.user_updates, 0) AS writes,
       (SELECT SUM(ps.used_page_count) FROM sys.dm_db_partition_stats AS ps
         WHERE ps.object_id = i.object_id AND ps.index_id = i.index_id) * 8192 AS size_bytes,
       NULL AS stats_age_s
  FROM sys.indexes AS i
  JOIN sys.objects AS o ON o.object_id = i.object_id
  LEFT JOIN sys.dm_db_index_usage_stats AS u ON u.database_id = DB_ID() AND u.object_id = i.object_id AND u.index_id = i.index_id
 WHERE o.type = 'U' AND o.is_ms_shipped = 0 AND i.type = 2 AND i.is_primary_key = 0 AND i.is_unique = 0
   AND i.is_unique_constraint = 0 AND i.is_disabled = 0 AND i.is_hypothetical = 0
   AND COALESCE(u.user_seeks, 0) + COALESCE(u.user_scans, 0) + COALESCE(u.user_lookups, 0) = 0
 ORDER BY size_bytes DESC",
        precondition: Some(AZURE_DB),
        evaluate: unused_indexes,
    },
    Check {
        name: "unused_indexes",
        engine: E,
        title: "Nonclustered indexes with no seeks, scans or lookups since the last restart",
        sql: "SELECT TOP (50) OBJECT_SCHEMA_NAME(i.object_id) + N'.' + OBJECT_NAME(i.object_id) AS tbl, i.name AS idx,
       COALESCE(u.user_seeks, 0) + COALESCE(u.user_scans, 0) + COALESCE(u.user_lookups, 0) AS scans,
       COALESCE(u.user_updates, 0) AS writes,
       (SELECT SUM(ps.used_page_count) FROM sys.dm_db_partition_stats AS ps
         WHERE ps.object_id = i.object_id AND ps.index_id = i.index_id) * 8192 AS size_bytes,
       (SELECT DATEDIFF(SECOND, sqlserver_start_time, GETDATE()) FROM sys.dm_os_sys_info) AS stats_age_s
  FROM sys.indexes AS i
  JOIN sys.objects AS o ON o.object_id = i.object_id
  LEFT JOIN sys.dm_db_index_usage_stats AS u ON u.database_id = DB_ID() AND u.object_id = i.object_id AND u.index_id = i.index_id
 WHERE o.type = 'U' AND o.is_ms_shipped = 0 AND i.type = 2 AND i.is_primary_key = 0 AND i.is_unique = 0
   AND i.is_unique_constraint = 0 AND i.is_disabled = 0 AND i.is_hypothetical = 0
   AND COALESCE(u.user_seeks, 0) + COALESCE(u.user_scans, 0) + COALESCE(u.user_lookups, 0) = 0
 ORDER BY size_bytes DESC",
        precondition: None,
        evaluate: unused_indexes,
    },
    Check {
        name: "duplicate_indexes",
        engine: E,
        title: "Duplicate indexes (same key columns and order, included columns and filter)",
        sql: "WITH x AS (
    SELECT i.object_id, OBJECT_SCHEMA_NAME(i.object_id) + N'.' + OBJECT_NAME(i.object_id) AS tbl, i.name AS idx,
           CAST(CASE WHEN i.is_unique = 1 OR i.is_primary_key = 1 OR i.type = 1 THEN 1 ELSE 0 END AS bit) AS is_unique,
           CAST(CASE WHEN i.is_primary_key = 1 OR i.is_unique_constraint = 1 THEN 1 ELSE 0 END AS bit) AS is_constraint,
           STUFF((SELECT N', ' + c.name + CASE WHEN ic.is_descending_key = 1 THEN N' DESC' ELSE N'' END
                    FROM sys.index_columns AS ic
                    JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
                   WHERE ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.key_ordinal > 0
                   ORDER BY ic.key_ordinal FOR XML PATH('')), 1, 2, N'') AS key_cols,
           COALESCE(STUFF((SELECT N', ' + c.name
                    FROM sys.index_columns AS ic
                    JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
                   WHERE ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.is_included_column = 1
                   ORDER BY c.name FOR XML PATH('')), 1, 2, N''), N'') AS include_cols,
           COALESCE(i.filter_definition, N'') AS filter
      FROM sys.indexes AS i
      JOIN sys.objects AS o ON o.object_id = i.object_id
     WHERE o.type = 'U' AND o.is_ms_shipped = 0 AND i.type IN (1, 2) AND i.is_hypothetical = 0)
SELECT x.tbl, x.idx, x.is_unique, x.is_constraint, x.key_cols AS cols, x.include_cols, x.filter
  FROM x
 WHERE EXISTS (SELECT 1 FROM x AS y
                WHERE y.object_id = x.object_id AND y.idx <> x.idx AND y.key_cols = x.key_cols
                  AND y.include_cols = x.include_cols AND y.filter = x.filter)
 ORDER BY x.tbl, x.idx",
        precondition: None,
        evaluate: duplicate_indexes,
    },
    // Names the user's words can point at; see the PostgreSQL check of the same name.
    Check {
        name: "relations",
        engine: E,
        title: "Tables, views and indexes in this database (names only)",
        sql: "SELECT s.name AS schema_name, o.name AS name, LOWER(o.type_desc) AS kind
  FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id
 WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V')
UNION ALL
SELECT OBJECT_SCHEMA_NAME(i.object_id), i.name, 'index'
  FROM sys.indexes AS i JOIN sys.objects AS o ON o.object_id = i.object_id
 WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V') AND i.index_id > 0 AND i.name IS NOT NULL
 ORDER BY 2, 1",
        precondition: None,
        evaluate: |_| Vec::new(),
    },
    Check {
        name: "index_list",
        engine: E,
        title: "Indexes per table",
        sql: "SELECT OBJECT_SCHEMA_NAME(i.object_id) + N'.' + OBJECT_NAME(i.object_id) AS tbl, i.name AS idx,
       i.type_desc AS definition, i.is_unique, i.is_primary_key
  FROM sys.indexes AS i
  JOIN sys.objects AS o ON o.object_id = i.object_id
 WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V') AND i.index_id > 0
 ORDER BY tbl, idx",
        precondition: None,
        evaluate: index_list,
    },
    Check {
        name: "fragmentation",
        engine: E,
        title: "Index fragmentation of the 100 largest indexes (≥ 1,000 pages, LIMITED scan)",
        sql: "SELECT TOP (50) OBJECT_SCHEMA_NAME(p.object_id) + N'.' + OBJECT_NAME(p.object_id) AS tbl, i.name AS idx,
       ps.index_type_desc AS index_type, p.partition_number,
       (SELECT COUNT(*) FROM sys.partitions AS pp WHERE pp.object_id = p.object_id AND pp.index_id = p.index_id) AS partitions,
       ps.avg_fragmentation_in_percent AS frag_pct, ps.page_count AS pages
  FROM (SELECT TOP (100) ps0.object_id, ps0.index_id, ps0.partition_number
          FROM sys.dm_db_partition_stats AS ps0
          JOIN sys.objects AS o ON o.object_id = ps0.object_id
         WHERE o.is_ms_shipped = 0 AND ps0.index_id > 0 AND ps0.in_row_used_page_count >= 1000
         ORDER BY ps0.in_row_used_page_count DESC) AS p
  JOIN sys.indexes AS i ON i.object_id = p.object_id AND i.index_id = p.index_id
 CROSS APPLY sys.dm_db_index_physical_stats(DB_ID(), p.object_id, p.index_id, p.partition_number, 'LIMITED') AS ps
 WHERE ps.alloc_unit_type_desc = N'IN_ROW_DATA' AND ps.index_type_desc IN (N'CLUSTERED INDEX', N'NONCLUSTERED INDEX')
   AND ps.avg_fragmentation_in_percent >= 10
 ORDER BY ps.page_count * ps.avg_fragmentation_in_percent DESC",
        precondition: None,
        evaluate: fragmentation,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a primary key (heaps marked)",
        sql: "SELECT TOP (100) OBJECT_SCHEMA_NAME(t.object_id) + N'.' + t.name AS tbl,
       (SELECT SUM(p.row_count) FROM sys.dm_db_partition_stats AS p WHERE p.object_id = t.object_id AND p.index_id IN (0, 1)) AS est_rows,
       CASE WHEN EXISTS (SELECT 1 FROM sys.indexes AS i WHERE i.object_id = t.object_id AND i.index_id = 0) THEN 1 ELSE 0 END AS is_heap
  FROM sys.tables AS t
 WHERE t.is_ms_shipped = 0 AND OBJECTPROPERTY(t.object_id, 'TableHasPrimaryKey') = 0
 ORDER BY est_rows DESC",
        precondition: None,
        evaluate: tables_without_pk,
    },
    // ---- space ----------------------------------------------------------------------------
    Check {
        name: "largest_tables",
        engine: E,
        title: "Largest tables (reserved space incl. indexes)",
        sql: "SELECT TOP (20) OBJECT_SCHEMA_NAME(p.object_id) + N'.' + OBJECT_NAME(p.object_id) AS tbl,
       SUM(p.reserved_page_count) * 8192 AS size_bytes,
       SUM(CASE WHEN p.index_id > 1 THEN p.reserved_page_count ELSE 0 END) * 8192 AS index_bytes,
       SUM(CASE WHEN p.index_id IN (0, 1) THEN p.row_count ELSE 0 END) AS est_rows
  FROM sys.dm_db_partition_stats AS p
  JOIN sys.objects AS o ON o.object_id = p.object_id
 WHERE o.type = 'U' AND o.is_ms_shipped = 0
 GROUP BY p.object_id
 ORDER BY size_bytes DESC",
        precondition: None,
        evaluate: largest_tables,
    },
    Check {
        name: "database_size",
        engine: E,
        title: "Database size against its service-tier maximum (Azure SQL Database)",
        sql: "SELECT DB_NAME() AS database_name, CAST(DATABASEPROPERTYEX(DB_NAME(), 'Status') AS nvarchar(60)) AS state,
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'Recovery') AS nvarchar(60)) AS recovery_model,
       SUM(CASE WHEN type = 0 THEN CAST(size AS bigint) ELSE 0 END) * 8192 AS data_bytes,
       SUM(CASE WHEN type = 1 THEN CAST(size AS bigint) ELSE 0 END) * 8192 AS log_bytes,
       SUM(CAST(size AS bigint)) * 8192 AS size_bytes,
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'MaxSizeInBytes') AS bigint) AS max_size_bytes
  FROM sys.database_files",
        precondition: Some(AZURE_DB),
        evaluate: database_size,
    },
    Check {
        name: "database_size",
        engine: E,
        title: "Databases: state, recovery model, data and log size",
        sql: "SELECT d.name AS database_name, d.state_desc AS state, d.recovery_model_desc AS recovery_model,
       SUM(CASE WHEN mf.type = 0 THEN CAST(mf.size AS bigint) ELSE 0 END) * 8192 AS data_bytes,
       SUM(CASE WHEN mf.type = 1 THEN CAST(mf.size AS bigint) ELSE 0 END) * 8192 AS log_bytes,
       SUM(CAST(mf.size AS bigint)) * 8192 AS size_bytes,
       NULL AS max_size_bytes
  FROM sys.databases AS d
  LEFT JOIN sys.master_files AS mf ON mf.database_id = d.database_id
 GROUP BY d.name, d.state_desc, d.recovery_model_desc
 ORDER BY size_bytes DESC",
        precondition: None,
        evaluate: database_size,
    },
    Check {
        name: "file_space",
        engine: E,
        title: "Data and log files of this database: used, maximum, autogrowth",
        sql: "SELECT f.name AS file_name, f.type_desc AS file_type,
       CAST(f.size AS bigint) * 8192 AS size_bytes,
       CAST(FILEPROPERTY(f.name, 'SpaceUsed') AS bigint) * 8192 AS used_bytes,
       CASE WHEN f.max_size IN (-1, 268435456) THEN NULL ELSE CAST(f.max_size AS bigint) * 8192 END AS max_bytes,
       f.growth, f.is_percent_growth, NULL AS volume_bytes, NULL AS volume_free_bytes
  FROM sys.database_files AS f",
        precondition: Some(AZURE_DB),
        evaluate: file_space,
    },
    Check {
        name: "file_space",
        engine: E,
        title: "Data and log files of this database: used, maximum, autogrowth, volume free space",
        sql: "SELECT f.name AS file_name, f.type_desc AS file_type,
       CAST(f.size AS bigint) * 8192 AS size_bytes,
       CAST(FILEPROPERTY(f.name, 'SpaceUsed') AS bigint) * 8192 AS used_bytes,
       CASE WHEN f.max_size IN (-1, 268435456) THEN NULL ELSE CAST(f.max_size AS bigint) * 8192 END AS max_bytes,
       f.growth, f.is_percent_growth, vs.total_bytes AS volume_bytes, vs.available_bytes AS volume_free_bytes
  FROM sys.database_files AS f
 OUTER APPLY sys.dm_os_volume_stats(DB_ID(), f.file_id) AS vs",
        precondition: None,
        evaluate: file_space,
    },
    Check {
        name: "log_space",
        engine: E,
        title: "Transaction log use, log reuse wait and VLF count (this database)",
        sql: "SELECT DB_NAME() AS database_name, CAST(DATABASEPROPERTYEX(DB_NAME(), 'Recovery') AS nvarchar(60)) AS recovery_model,
       (SELECT log_reuse_wait_desc FROM sys.databases WHERE database_id = DB_ID()) AS log_reuse_wait,
       u.total_log_size_in_bytes AS log_size_bytes, u.used_log_space_in_bytes AS log_used_bytes,
       (SELECT COUNT(*) FROM sys.dm_db_log_info(DB_ID())) AS vlf_count
  FROM sys.dm_db_log_space_usage AS u",
        precondition: Some(AZURE_DB),
        evaluate: log_space,
    },
    Check {
        name: "log_space",
        engine: E,
        title: "Transaction log use and log reuse wait per database, VLF count for this database",
        sql: "SELECT d.name AS database_name, d.recovery_model_desc AS recovery_model, d.log_reuse_wait_desc AS log_reuse_wait,
       ls.cntr_value * 1024 AS log_size_bytes, lu.cntr_value * 1024 AS log_used_bytes,
       CASE WHEN d.database_id = DB_ID() THEN (SELECT COUNT(*) FROM sys.dm_db_log_info(DB_ID())) END AS vlf_count
  FROM sys.databases AS d
  LEFT JOIN sys.dm_os_performance_counters AS ls ON ls.counter_name = N'Log File(s) Size (KB)' AND ls.instance_name = d.name
  LEFT JOIN sys.dm_os_performance_counters AS lu ON lu.counter_name = N'Log File(s) Used Size (KB)' AND lu.instance_name = d.name
 WHERE d.state = 0
 ORDER BY lu.cntr_value DESC",
        precondition: Some(Precondition {
            sql: "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.all_objects WHERE name = N'dm_db_log_info' AND schema_id = SCHEMA_ID(N'sys')) THEN 1 ELSE 0 END AS bit) AS has_log_info",
            unavailable: "",
        }),
        evaluate: log_space,
    },
    Check {
        name: "log_space",
        engine: E,
        title: "Transaction log use and log reuse wait per database",
        sql: "SELECT d.name AS database_name, d.recovery_model_desc AS recovery_model, d.log_reuse_wait_desc AS log_reuse_wait,
       ls.cntr_value * 1024 AS log_size_bytes, lu.cntr_value * 1024 AS log_used_bytes, NULL AS vlf_count
  FROM sys.databases AS d
  LEFT JOIN sys.dm_os_performance_counters AS ls ON ls.counter_name = N'Log File(s) Size (KB)' AND ls.instance_name = d.name
  LEFT JOIN sys.dm_os_performance_counters AS lu ON lu.counter_name = N'Log File(s) Used Size (KB)' AND lu.instance_name = d.name
 WHERE d.state = 0
 ORDER BY lu.cntr_value DESC",
        precondition: None,
        evaluate: log_space,
    },
    Check {
        name: "tempdb",
        engine: E,
        title: "tempdb: space by consumer, version store, data files, top session",
        sql: "SELECT SUM(CAST(u.total_page_count AS bigint)) * 8192 AS total_bytes,
       SUM(CAST(u.unallocated_extent_page_count AS bigint)) * 8192 AS free_bytes,
       SUM(CAST(u.version_store_reserved_page_count AS bigint)) * 8192 AS version_store_bytes,
       SUM(CAST(u.user_object_reserved_page_count AS bigint)) * 8192 AS user_objects_bytes,
       SUM(CAST(u.internal_object_reserved_page_count AS bigint)) * 8192 AS internal_objects_bytes,
       COUNT(*) AS data_files,
       (SELECT cpu_count FROM sys.dm_os_sys_info) AS cpu_count,
       (SELECT TOP (1) s.session_id FROM sys.dm_db_session_space_usage AS s
         ORDER BY s.user_objects_alloc_page_count - s.user_objects_dealloc_page_count
                + s.internal_objects_alloc_page_count - s.internal_objects_dealloc_page_count DESC) AS top_session,
       (SELECT TOP (1) (s.user_objects_alloc_page_count - s.user_objects_dealloc_page_count
                + s.internal_objects_alloc_page_count - s.internal_objects_dealloc_page_count) * CAST(8192 AS bigint)
          FROM sys.dm_db_session_space_usage AS s
         ORDER BY s.user_objects_alloc_page_count - s.user_objects_dealloc_page_count
                + s.internal_objects_alloc_page_count - s.internal_objects_dealloc_page_count DESC) AS top_session_bytes,
       (SELECT MAX(elapsed_time_seconds) FROM sys.dm_tran_active_snapshot_database_transactions) AS oldest_snapshot_tx_s
  FROM tempdb.sys.dm_db_file_space_usage AS u",
        precondition: Some(NOT_AZURE_DB),
        evaluate: tempdb,
    },
    // ---- backups and security -------------------------------------------------------------
    Check {
        name: "backups",
        engine: E,
        title: "Automated backups of this database (sys.dm_database_backups)",
        sql: "SELECT DB_NAME() AS database_name, N'FULL' AS recovery_model, N'ONLINE' AS state, NULL AS db_age_h,
       MAX(CASE WHEN backup_type = 'D' THEN backup_finish_date END) AS last_full,
       MAX(CASE WHEN backup_type = 'I' THEN backup_finish_date END) AS last_diff,
       MAX(CASE WHEN backup_type = 'L' THEN backup_finish_date END) AS last_log,
       DATEDIFF(MINUTE, MAX(CASE WHEN backup_type = 'D' THEN backup_finish_date END), SYSUTCDATETIME()) / 60.0 AS full_age_h,
       DATEDIFF(MINUTE, MAX(CASE WHEN backup_type = 'I' THEN backup_finish_date END), SYSUTCDATETIME()) / 60.0 AS diff_age_h,
       DATEDIFF(MINUTE, MAX(CASE WHEN backup_type = 'L' THEN backup_finish_date END), SYSUTCDATETIME()) / 60.0 AS log_age_h,
       CAST(1 AS bit) AS managed
  FROM sys.dm_database_backups
 WHERE logical_database_name = DB_NAME()",
        precondition: Some(Precondition {
            sql: "SELECT CAST(CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) = 5 AND EXISTS (SELECT 1 FROM sys.all_objects WHERE name = N'dm_database_backups') THEN 1 ELSE 0 END AS bit) AS has_backup_history",
            unavailable: "",
        }),
        evaluate: backups,
    },
    Check {
        name: "backups",
        engine: E,
        title: "Last full, differential and log backup per database (msdb.dbo.backupset), recovery model",
        sql: "SELECT d.name AS database_name, d.recovery_model_desc AS recovery_model, d.state_desc AS state,
       DATEDIFF(HOUR, d.create_date, GETDATE()) AS db_age_h,
       MAX(CASE WHEN b.type = 'D' THEN b.backup_finish_date END) AS last_full,
       MAX(CASE WHEN b.type = 'I' THEN b.backup_finish_date END) AS last_diff,
       MAX(CASE WHEN b.type = 'L' THEN b.backup_finish_date END) AS last_log,
       DATEDIFF(MINUTE, MAX(CASE WHEN b.type = 'D' THEN b.backup_finish_date END), GETDATE()) / 60.0 AS full_age_h,
       DATEDIFF(MINUTE, MAX(CASE WHEN b.type = 'I' THEN b.backup_finish_date END), GETDATE()) / 60.0 AS diff_age_h,
       DATEDIFF(MINUTE, MAX(CASE WHEN b.type = 'L' THEN b.backup_finish_date END), GETDATE()) / 60.0 AS log_age_h,
       CAST(0 AS bit) AS managed
  FROM sys.databases AS d
  LEFT JOIN msdb.dbo.backupset AS b ON b.database_name = d.name AND b.backup_finish_date >= d.create_date
 WHERE d.database_id <> 2 AND d.source_database_id IS NULL
 GROUP BY d.name, d.recovery_model_desc, d.state_desc, d.create_date
 ORDER BY d.name",
        precondition: Some(Precondition {
            sql: NOT_AZURE_DB.sql,
            unavailable: "Azure SQL Database backs itself up (full weekly, differential every 12–24 hours, log every 5–10 minutes) and this database does not expose sys.dm_database_backups (Hyperscale uses storage snapshots): check restore points in the Azure portal.",
        }),
        evaluate: backups,
    },
    Check {
        name: "roles_security",
        engine: E,
        title: "Logins: sysadmin members, sa enabled, password policy and expiration",
        sql: "SELECT p.name AS login_name, p.type_desc AS login_type, p.is_disabled,
       CASE WHEN p.principal_id = 1 THEN 1 ELSE 0 END AS is_sa,
       CASE WHEN EXISTS (SELECT 1 FROM sys.server_role_members AS rm
                           JOIN sys.server_principals AS r ON r.principal_id = rm.role_principal_id
                          WHERE rm.member_principal_id = p.principal_id AND r.name = N'sysadmin') THEN 1 ELSE 0 END AS is_sysadmin,
       l.is_policy_checked, l.is_expiration_checked
  FROM sys.server_principals AS p
  LEFT JOIN sys.sql_logins AS l ON l.principal_id = p.principal_id
 WHERE p.type IN ('S', 'U', 'G', 'E', 'X') AND p.name NOT LIKE N'##%'
   AND p.name NOT LIKE N'NT SERVICE%' AND p.name NOT LIKE N'NT AUTHORITY%'
 ORDER BY is_sysadmin DESC, p.name",
        precondition: Some(NOT_AZURE_DB),
        evaluate: roles_security,
    },
    Check {
        name: "encryption",
        engine: E,
        title: "Transparent data encryption per database, unencrypted client connections",
        sql: "SELECT d.name AS database_name, d.is_encrypted, k.encryption_state, k.percent_complete,
       k.key_algorithm, k.key_length,
       (SELECT COUNT(*) FROM sys.dm_exec_connections WHERE encrypt_option = N'FALSE') AS unencrypted_connections,
       (SELECT COUNT(*) FROM sys.dm_exec_connections) AS total_connections
  FROM sys.databases AS d
  LEFT JOIN sys.dm_database_encryption_keys AS k ON k.database_id = d.database_id
 WHERE d.database_id > 4
 ORDER BY d.name",
        precondition: None,
        evaluate: encryption,
    },
    Check {
        name: "settings",
        engine: E,
        title: "Database-scoped configuration review (Azure SQL Database)",
        sql: "SELECT N'database' AS scope, name, CAST(value AS nvarchar(100)) AS value
  FROM sys.database_scoped_configurations
 WHERE name IN (N'MAXDOP', N'LEGACY_CARDINALITY_ESTIMATION', N'PARAMETER_SNIFFING', N'QUERY_OPTIMIZER_HOTFIXES')
UNION ALL
SELECT d.name, N'compatibility_level', CAST(d.compatibility_level AS nvarchar(100))
  FROM sys.databases AS d WHERE d.database_id = DB_ID()",
        precondition: Some(AZURE_DB),
        evaluate: settings,
    },
    Check {
        name: "settings",
        engine: E,
        title: "Server configuration and database option review",
        sql: "SELECT N'server' AS scope, c.name AS name, CAST(c.value_in_use AS bigint) AS value
  FROM sys.configurations AS c
 WHERE c.name IN (N'max server memory (MB)', N'max degree of parallelism', N'cost threshold for parallelism',
                  N'optimize for ad hoc workloads', N'xp_cmdshell', N'clr enabled', N'Ad Hoc Distributed Queries',
                  N'Ole Automation Procedures', N'cross db ownership chaining', N'scan for startup procs',
                  N'priority boost', N'lightweight pooling', N'backup compression default')
UNION ALL SELECT N'server', N'cpu_count', CAST(i.cpu_count AS bigint) FROM sys.dm_os_sys_info AS i
UNION ALL SELECT N'server', N'physical_memory_mb', i.physical_memory_kb / 1024 FROM sys.dm_os_sys_info AS i
UNION ALL SELECT N'server', N'product_major_version', CAST(CAST(SERVERPROPERTY('ProductMajorVersion') AS nvarchar(10)) AS bigint)
UNION ALL SELECT d.name, N'auto_shrink', CAST(1 AS bigint) FROM sys.databases AS d WHERE d.is_auto_shrink_on = 1
UNION ALL SELECT d.name, N'auto_close', CAST(1 AS bigint) FROM sys.databases AS d WHERE d.is_auto_close_on = 1
UNION ALL SELECT d.name, N'page_verify_not_checksum', CAST(d.page_verify_option AS bigint)
            FROM sys.databases AS d WHERE d.page_verify_option <> 2 AND d.database_id <> 2
UNION ALL SELECT d.name, N'trustworthy', CAST(1 AS bigint) FROM sys.databases AS d WHERE d.is_trustworthy_on = 1 AND d.name <> N'msdb'
UNION ALL SELECT d.name, N'compatibility_level', CAST(d.compatibility_level AS bigint) FROM sys.databases AS d WHERE d.database_id > 4",
        precondition: None,
        evaluate: settings,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Active geo-replication links (sys.dm_geo_replication_link_status)",
        sql: "SELECT N'geo-replication' AS ag_name, partner_server AS replica_server, partner_database AS database_name,
       role_desc AS role, N'ASYNCHRONOUS_COMMIT' AS availability_mode, replication_state_desc AS sync_state,
       CASE WHEN replication_state_desc IN (N'CATCH_UP', N'SEEDING', N'PENDING') THEN N'HEALTHY' ELSE N'NOT_HEALTHY' END AS sync_health,
       CAST(CASE WHEN replication_state_desc = N'SUSPENDED' THEN 1 ELSE 0 END AS bit) AS is_suspended,
       NULL AS suspend_reason, NULL AS send_queue_kb, NULL AS redo_queue_kb, replication_lag_sec AS lag_s
  FROM sys.dm_geo_replication_link_status",
        precondition: Some(AZURE_DB),
        evaluate: replication,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Availability groups: replica role, synchronization health, send and redo queues",
        sql: "SELECT ag.name AS ag_name, ar.replica_server_name AS replica_server, DB_NAME(drs.database_id) AS database_name,
       ars.role_desc AS role, ar.availability_mode_desc AS availability_mode,
       drs.synchronization_state_desc AS sync_state, drs.synchronization_health_desc AS sync_health,
       drs.is_suspended, drs.suspend_reason_desc AS suspend_reason,
       drs.log_send_queue_size AS send_queue_kb, drs.redo_queue_size AS redo_queue_kb,
       DATEDIFF(SECOND, drs.last_commit_time, p.last_commit_time) AS lag_s
  FROM sys.dm_hadr_database_replica_states AS drs
  JOIN sys.availability_replicas AS ar ON ar.replica_id = drs.replica_id
  JOIN sys.availability_groups AS ag ON ag.group_id = drs.group_id
  LEFT JOIN sys.dm_hadr_availability_replica_states AS ars ON ars.replica_id = drs.replica_id
  LEFT JOIN sys.dm_hadr_database_replica_states AS p ON p.group_database_id = drs.group_database_id AND p.is_primary_replica = 1
 ORDER BY ag.name, ar.replica_server_name, database_name",
        precondition: Some(Precondition {
            sql: "SELECT CAST(CASE WHEN CAST(SERVERPROPERTY('IsHadrEnabled') AS int) = 1 THEN 1 ELSE 0 END AS bit) AS hadr_enabled",
            unavailable: "Always On availability groups are not enabled on this instance (SERVERPROPERTY('IsHadrEnabled') = 0) and it is not an Azure SQL Database with geo-replication, so there is no replication to check.",
        }),
        evaluate: replication,
    },
];

// ---- helpers ---------------------------------------------------------------------------------

/// `[a], [b]` → `a, b`.
fn unbracket(s: &str) -> String {
    s.replace(['[', ']'], "")
}

/// Quotes a (possibly schema-qualified) name with brackets: `dbo.t` → `[dbo].[t]`.
fn quote_name(name: &str) -> String {
    name.split('.')
        .map(|p| format!("[{}]", p.trim_matches(['[', ']']).replace(']', "]]")))
        .collect::<Vec<_>>()
        .join(".")
}

fn pct(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part * 100.0 / whole)
}

// ---- evaluators -----------------------------------------------------------------------------

fn overview(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let mut out = Vec::new();
    let version = r.str("version");
    let edition = r.str("edition");
    let azure_db = r.i64("engine_edition") == Some(5);
    let used = r.i64("connections").unwrap_or(0);
    let db = r.str("database_name");
    let size = r.i64("db_size_bytes").unwrap_or(0);
    let summary = if azure_db {
        format!(
            "Azure SQL Database {version} ({}), database {db} is {}, {used} user sessions",
            r.str("service_objective"),
            human_bytes(size)
        )
    } else {
        let mem = match (r.i64("total_memory_mb"), r.i64("target_memory_mb")) {
            (Some(t), Some(g)) => format!(
                ", memory {t}/{g} MB (total/target) of {} MB",
                r.i64("physical_memory_mb").unwrap_or(0)
            ),
            _ => String::new(),
        };
        format!(
            "SQL Server {version} {} {edition}, up {}, {used} user sessions, {} CPUs{mem}, database {db} is {}",
            r.str("product_level"),
            human_secs(r.f64("uptime_s").unwrap_or(0.0)),
            r.i64("cpu_count").unwrap_or(0),
            human_bytes(size)
        )
    };
    out.push(
        Finding::new("overview", "overview", Severity::Ok, summary)
            .fact("version", &version)
            .fact("edition", &edition)
            .fact("uptime_s", r.i64("uptime_s").unwrap_or(0)),
    );
    let max = r.i64("max_connections").unwrap_or(0);
    let limit = rs.threshold_for("connections_used");
    if max > 0 {
        let p = used as f64 * 100.0 / max as f64;
        if limit.grade(p) > Severity::Ok {
            out.push(
                Finding::new(
                    "overview",
                    "connections_high",
                    limit.grade(p),
                    format!("{used} of {max} user connections in use ({p:.0}%)"),
                )
                .fact("used", used)
                .fact("max", max)
                .fact("pct", format!("{p:.0}"))
                .threshold(limit.citation()),
            );
        }
    }
    for (col, what) in [
        ("max_session_pct", "sessions"),
        ("max_worker_pct", "workers"),
    ] {
        if let Some(p) = r.f64(col).filter(|p| *p >= 80.0) {
            out.push(
                Finding::new(
                    "overview",
                    "resource_pressure",
                    if p >= 95.0 { Severity::Critical } else { Severity::Warning },
                    format!("{what} peaked at {p:.0}% of the service tier's limit in the last hour; at 100% new requests fail (error 10928)"),
                )
                .fact("resource", what)
                .fact("max_pct", format!("{p:.0}"))
                .fact("avg_pct", "")
                .threshold("≥ 80% warning, ≥ 95% critical of the tier limit (Microsoft Learn, Resource limits for single databases; sys.dm_db_resource_stats)"),
            );
        }
    }
    let max_limit = rs.threshold_for("database_max_size");
    if let (Some(max_size), true) = (r.i64("max_size_bytes").filter(|m| *m > 0), size > 0) {
        let p = size as f64 * 100.0 / max_size as f64;
        if max_limit.grade(p) > Severity::Ok {
            out.push(
                Finding::new(
                    "overview",
                    "database_near_max_size",
                    max_limit.grade(p),
                    format!("database {db} uses {} of its {} maximum ({p:.0}%): at the limit inserts and updates fail (error 40544)", human_bytes(size), human_bytes(max_size)),
                )
                .fact("database", &db)
                .fact("size", human_bytes(size))
                .fact("max_size", human_bytes(max_size))
                .fact("pct", format!("{p:.0}"))
                .threshold(max_limit.citation()),
            );
        }
    }
    if let Some(p) = r.i64("memory_grants_pending").filter(|p| *p > 0) {
        out.push(
            Finding::new(
                "overview",
                "memory_grants_pending",
                Severity::Warning,
                format!("{p} queries are waiting for a memory grant right now (RESOURCE_SEMAPHORE)"),
            )
            .fact("pending", p)
            .threshold("Memory Grants Pending > 0 (Microsoft Learn, SQL Server, Memory Manager object; sustained non-zero means memory pressure)"),
        );
    }
    if let Some(d) = r.i64("deadlocks").filter(|d| *d > 0) {
        out.push(
            Finding::new(
                "overview",
                "deadlocks_seen",
                Severity::Info,
                format!("{d} deadlock{} since the instance started", if d == 1 { "" } else { "s" }),
            )
            .fact("deadlocks", d)
            .fact("database", &db)
            .fact("since", "the instance started (the counter is instance-wide)")
            .threshold("any deadlock (Number of Deadlocks/sec counter, cumulative since start; Microsoft Learn, SQL Server, Locks object)"),
        );
    }
    out
}

fn resource_usage(rs: &ResultSet) -> Vec<Finding> {
    if rs.is_empty() {
        return vec![];
    }
    let mut out = Vec::new();
    let window = rs.len();
    let resources = [
        ("cpu_pct", "CPU (SQL Server)"),
        ("data_io_pct", "data I/O"),
        ("log_write_pct", "log write"),
        ("memory_pct", "memory"),
        ("workers_pct", "workers"),
        ("sessions_pct", "sessions"),
    ];
    let mut summary = Vec::new();
    for (col, label) in resources {
        let vals: Vec<f64> = rs.iter().filter_map(|r| r.f64(col)).collect();
        if vals.is_empty() {
            continue;
        }
        let avg = vals.iter().sum::<f64>() / vals.len() as f64;
        let max = vals.iter().cloned().fold(f64::MIN, f64::max);
        summary.push(format!("{label} avg {avg:.0}% max {max:.0}%"));
        let sev = if avg >= 95.0 {
            Severity::Critical
        } else if avg >= 80.0 {
            Severity::Warning
        } else if max >= 95.0 {
            Severity::Info
        } else {
            continue;
        };
        out.push(
            Finding::new(
                "resource_usage",
                "resource_pressure",
                sev,
                if sev == Severity::Info {
                    format!("{label} spiked to {max:.0}% (average {avg:.0}%) over the last {window} samples")
                } else {
                    format!("{label} averaged {avg:.0}% (peak {max:.0}%) over the last {window} samples")
                },
            )
            .fact("resource", label)
            .fact("avg_pct", format!("{avg:.0}"))
            .fact("max_pct", format!("{max:.0}"))
            .fact("samples", window)
            .threshold("sustained average ≥ 80% warning, ≥ 95% critical; a single sample ≥ 95% info (common guidance; Microsoft Learn, Monitor performance by using DMVs — sys.dm_db_resource_stats / scheduler-monitor ring buffer)"),
        );
    }
    // Other processes' CPU on the host (instance variant only).
    let other: Vec<f64> = rs.iter().filter_map(|r| r.f64("other_cpu_pct")).collect();
    if !other.is_empty() {
        let avg = other.iter().sum::<f64>() / other.len() as f64;
        summary.push(format!("other processes avg {avg:.0}%"));
        if avg >= 25.0 {
            out.push(
                Finding::new(
                    "resource_usage",
                    "resource_pressure",
                    Severity::Info,
                    format!("processes other than SQL Server used {avg:.0}% CPU on average: SQL Server is competing for the host"),
                )
                .fact("resource", "CPU (other processes)")
                .fact("avg_pct", format!("{avg:.0}"))
                .fact("max_pct", "")
                .threshold("≥ 25% non-SQL CPU on a dedicated database host (common guidance)"),
            );
        }
    }
    out.insert(
        0,
        Finding::new(
            "resource_usage",
            "resource_summary",
            Severity::Ok,
            summary.join(", "),
        ),
    );
    out
}

fn active_queries(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("statement_runtime");
    rs.iter()
        .filter_map(|r| {
            let wait = r.str("wait_event");
            // Requests that wait on purpose (WAITFOR, Service Broker RECEIVE) are not long runners.
            if matches!(
                wait.as_str(),
                "WAITFOR" | "BROKER_RECEIVE_WAITFOR" | "TRACEWRITE"
            ) {
                return None;
            }
            let d = r.f64("duration_s").unwrap_or(0.0);
            let sev = limit.grade(d);
            if sev == Severity::Ok {
                return None;
            }
            let blocked_by = r.i64("blocked_by").filter(|b| *b > 0);
            Some(
                Finding::new(
                    "active_queries",
                    "long_running_query",
                    sev,
                    format!(
                        "session {} ({}) has run for {}{}{}: {}",
                        r.str("pid"),
                        r.str("usr"),
                        human_secs(d),
                        if wait.is_empty() {
                            String::new()
                        } else {
                            format!(" waiting on {wait}")
                        },
                        blocked_by
                            .map(|b| format!(", blocked by session {b}"))
                            .unwrap_or_default(),
                        short_query(&r.str("query"), 120)
                    ),
                )
                .fact("pid", r.str("pid"))
                .fact("user", r.str("usr"))
                .fact("host", r.str("host"))
                .fact("database", r.str("database_name"))
                .fact("duration_s", format!("{d:.0}"))
                .fact("state", r.str("state"))
                .fact("wait_event", &wait)
                .fact("cpu_ms", r.i64("cpu_ms").unwrap_or(0))
                .fact("logical_reads", r.i64("logical_reads").unwrap_or(0))
                .fact("query", short_query(&r.str("query"), 300))
                .threshold(limit.citation()),
            )
        })
        .collect()
}

fn blocking_chains(rs: &ResultSet) -> Vec<Finding> {
    // One finding per head blocker: that is the session to act on.
    let mut by_head: BTreeMap<String, Vec<Row<'_>>> = BTreeMap::new();
    for r in rs.iter() {
        let head = match r.str("head_blocker_pid") {
            h if h.is_empty() => r.str("blocker_pid"),
            h => h,
        };
        by_head.entry(head).or_default().push(r);
    }
    let mut out: Vec<(f64, Finding)> = by_head
        .into_iter()
        .map(|(head, rows)| {
            let longest = rows
                .iter()
                .max_by(|a, b| {
                    a.f64("wait_s")
                        .unwrap_or(0.0)
                        .total_cmp(&b.f64("wait_s").unwrap_or(0.0))
                })
                .copied()
                .unwrap_or(rows[0]);
            let wait = longest.f64("wait_s").unwrap_or(0.0);
            let lock_wait = rs.threshold_for("lock_wait");
            let sev = lock_wait.grade(wait).max(Severity::Warning);
            let head_query = longest.str("head_query");
            let head_query = if head_query.trim().is_empty() {
                "(statement text not available)".to_string()
            } else {
                short_query(&head_query, 300)
            };
            let state = longest.str("head_state");
            let xact = longest.f64("head_xact_s");
            let relation = longest.str("relation");
            let lock_type = longest.str("lock_type");
            let who = [longest.str("head_user"), longest.str("head_host")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("@");
            let f = Finding::new(
                "blocking_chains",
                "blocking_chain",
                sev,
                format!(
                    "session {head}{} is the head blocker of {} session(s){}; session {} has waited {} for {}{}; the head blocker's statement: {}",
                    if who.is_empty() { String::new() } else { format!(" ({who}, {state})") },
                    rows.len(),
                    xact.map(|x| format!(", its transaction has been open {}", human_secs(x))).unwrap_or_default(),
                    longest.str("blocked_pid"),
                    human_secs(wait),
                    if lock_type.is_empty() { "a lock".to_string() } else { lock_type.clone() },
                    if relation.is_empty() { String::new() } else { format!(" on {relation}") },
                    short_query(&head_query, 160)
                ),
            )
            .fact("blocked_pid", longest.str("blocked_pid"))
            .fact("blocker_pid", &head)
            .fact("head_blocker_pid", &head)
            .fact("immediate_blocker_pid", longest.str("blocker_pid"))
            .fact("blocked_count", rows.len())
            .fact("wait_s", format!("{wait:.0}"))
            .fact("lock_type", &lock_type)
            .fact("relation", &relation)
            .fact("blocked_query", short_query(&longest.str("blocked_query"), 300))
            .fact("blocker_query", &head_query)
            .fact("blocker_state", &state)
            .fact("blocker_user", longest.str("head_user"))
            .fact("blocker_host", longest.str("head_host"))
            .fact("blocker_program", longest.str("head_program"))
            .fact("blocker_xact_s", format!("{:.0}", xact.unwrap_or(0.0)))
            .threshold("any blocking is a warning, a wait ≥ 60 s critical (common guidance; Microsoft Learn, Understand and resolve SQL Server blocking problems)");
            (wait, f)
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, f)| f).collect()
}

fn idle_in_transaction(rs: &ResultSet) -> Vec<Finding> {
    let idle_limit = rs.threshold_for("idle_in_transaction");
    let open_limit = rs.threshold_for("open_transaction");
    rs.iter()
        .filter_map(|r| {
            let age = r.f64("age_s").unwrap_or(0.0);
            let idle = r.f64("idle_s").unwrap_or(0.0);
            let log = r.i64("log_bytes").unwrap_or(0);
            let query = r.str("query");
            let sleeping = r.str("state").eq_ignore_ascii_case("sleeping");
            if sleeping {
                let sev = idle_limit.grade(idle).max(Severity::Info);
                Some(
                    Finding::new(
                        "idle_in_transaction",
                        "idle_in_transaction",
                        sev,
                        format!(
                            "session {} ({}@{}) sleeps inside a transaction open for {} (idle {}, {} of log); last statement: {}",
                            r.str("pid"),
                            r.str("usr"),
                            r.str("host"),
                            human_secs(age),
                            human_secs(idle),
                            human_bytes(log),
                            if query.is_empty() { "unknown".to_string() } else { short_query(&query, 120) }
                        ),
                    )
                    .fact("pid", r.str("pid"))
                    .fact("user", r.str("usr"))
                    .fact("host", r.str("host"))
                    .fact("application", r.str("application"))
                    .fact("age_s", format!("{age:.0}"))
                    .fact("idle_s", format!("{idle:.0}"))
                    .fact("log_bytes", log)
                    .fact("query", short_query(&query, 300))
                    .threshold(idle_limit.citation()),
                )
            } else if open_limit.grade(age) > Severity::Ok {
                Some(
                    Finding::new(
                        "idle_in_transaction",
                        "long_transaction",
                        open_limit.grade(age),
                        format!(
                            "session {} ({}) has a transaction open for {} and is still running ({} of log): {}",
                            r.str("pid"),
                            r.str("usr"),
                            human_secs(age),
                            human_bytes(log),
                            short_query(&query, 120)
                        ),
                    )
                    .fact("pid", r.str("pid"))
                    .fact("user", r.str("usr"))
                    .fact("age_s", format!("{age:.0}"))
                    .fact("log_bytes", log)
                    .fact("query", short_query(&query, 300))
                    .threshold(open_limit.citation()),
                )
            } else {
                None
            }
        })
        .collect()
}

fn connections(rs: &ResultSet) -> Vec<Finding> {
    connection_groups("connections", rs)
}

fn memory_grants(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let pending: Vec<Row<'_>> = rs
        .iter()
        .filter(|r| r.bool("is_pending").unwrap_or(false))
        .collect();
    for r in pending.iter().take(5) {
        let wait_ms = r.f64("wait_time_ms").unwrap_or(0.0);
        out.push(
            Finding::new(
                "memory_grants",
                "memory_grant_pending",
                if wait_ms >= 10_000.0 { Severity::Critical } else { Severity::Warning },
                format!(
                    "session {} has waited {} for a {} memory grant: {}",
                    r.str("pid"),
                    human_secs(wait_ms / 1000.0),
                    human_bytes(r.i64("requested_memory_kb").unwrap_or(0) * 1024),
                    short_query(&r.str("query"), 120)
                ),
            )
            .fact("pid", r.str("pid"))
            .fact("requested_kb", r.i64("requested_memory_kb").unwrap_or(0))
            .fact("wait_ms", format!("{wait_ms:.0}"))
            .fact("query", short_query(&r.str("query"), 300))
            .threshold("any pending grant is a warning, ≥ 10 s critical (Microsoft Learn, Troubleshoot slow performance or low memory issues caused by memory grants)"),
        );
    }
    if pending.len() > 5 {
        out.push(Finding::new(
            "memory_grants",
            "memory_grant_pending",
            Severity::Warning,
            format!(
                "{} more queries are waiting for memory grants",
                pending.len() - 5
            ),
        ));
    }
    for r in rs.iter().filter(|r| !r.bool("is_pending").unwrap_or(false)) {
        let granted = r.i64("granted_memory_kb").unwrap_or(0);
        let used = r.i64("used_memory_kb").unwrap_or(0);
        if granted >= 1024 * 1024 && used * 10 < granted {
            out.push(
                Finding::new(
                    "memory_grants",
                    "memory_grant_excessive",
                    Severity::Info,
                    format!(
                        "session {} was granted {} but uses {}: the estimate is far too high (stale statistics or a bad cardinality estimate)",
                        r.str("pid"),
                        human_bytes(granted * 1024),
                        human_bytes(used * 1024)
                    ),
                )
                .fact("pid", r.str("pid"))
                .fact("granted_kb", granted)
                .fact("used_kb", used)
                .fact("query", short_query(&r.str("query"), 300))
                .threshold("granted ≥ 1 GB and used < 10% of it (Microsoft Learn, Troubleshoot … memory grants: excessive grants)"),
            );
        }
    }
    out
}

/// What a wait type usually means, for the finding text.
fn wait_meaning(wait: &str) -> &'static str {
    let w = wait.to_ascii_uppercase();
    match w.as_str() {
        w if w.starts_with("LCK_M_") => "sessions blocked on locks (see blocking_chains)",
        w if w.starts_with("PAGEIOLATCH_") => {
            "reading data pages from disk: storage latency or too little memory for the working set"
        }
        w if w.starts_with("PAGELATCH_") => {
            "in-memory page contention (tempdb allocation pages or a last-page insert hotspot)"
        }
        "WRITELOG" | "LOGBUFFER" => {
            "waiting for transaction-log writes: log storage latency or many tiny commits"
        }
        "CXPACKET" | "CXSYNC_PORT" | "CXSYNC_CONSUMER" => {
            "parallel query coordination: check MAXDOP and cost threshold for parallelism"
        }
        "SOS_SCHEDULER_YIELD" => {
            "CPU pressure: queries use their full quantum and wait for a scheduler"
        }
        "THREADPOOL" => {
            "worker thread exhaustion: new requests cannot even start (often caused by blocking)"
        }
        "RESOURCE_SEMAPHORE" => "queries waiting for memory grants",
        "ASYNC_NETWORK_IO" => {
            "the client is slow to consume results (row-by-row processing or a slow network)"
        }
        "IO_COMPLETION" | "WRITE_COMPLETION" | "ASYNC_IO_COMPLETION" => {
            "non-data-page I/O (sorts and hashes spilling, backups, file growth)"
        }
        "HADR_SYNC_COMMIT" => "commits wait for a synchronous availability-group secondary",
        "CMEMTHREAD" => "contention on a shared memory object (often ad hoc plan-cache churn)",
        "OLEDB" => "linked-server or DMV calls through OLE DB",
        w if w.starts_with("PREEMPTIVE_") => "calls out to the operating system",
        w if w.starts_with("LATCH_") => "non-page latch contention",
        _ => "see the SQLskills wait-types library for this wait",
    }
}

fn waits(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let uptime = rs.first().and_then(|r| r.f64("uptime_s"));
    for r in rs.iter().take(10) {
        let wait = r.str("wait_type");
        let p = r.f64("pct").unwrap_or(0.0);
        let avg = r.f64("avg_ms").unwrap_or(0.0);
        let upper = wait.to_ascii_uppercase();
        let (sev, rule) = if upper == "THREADPOOL" && p >= 1.0 {
            (Severity::Critical, "THREADPOOL ≥ 1% of waits: worker exhaustion (SQLskills wait-types library: THREADPOOL)")
        } else if upper == "RESOURCE_SEMAPHORE" && p >= 5.0 {
            (Severity::Warning, "RESOURCE_SEMAPHORE ≥ 5% of waits: memory-grant queueing (Microsoft Learn, Troubleshoot … memory grants)")
        } else if upper.starts_with("PAGEIOLATCH_") && p >= 10.0 && avg >= 20.0 {
            (Severity::Warning, "PAGEIOLATCH ≥ 10% of waits averaging ≥ 20 ms: slow data reads (Microsoft Learn, Troubleshoot slow SQL Server performance caused by I/O issues)")
        } else if upper == "WRITELOG" && p >= 10.0 && avg >= 10.0 {
            (Severity::Warning, "WRITELOG ≥ 10% of waits averaging ≥ 10 ms: slow log writes (Microsoft Learn, Troubleshoot slow SQL Server performance caused by I/O issues)")
        } else if upper.starts_with("LCK_M_") && p >= 10.0 {
            (Severity::Warning, "lock waits ≥ 10% of all waits: blocking is a main bottleneck (Paul Randal, SQLskills wait statistics)")
        } else if p >= 5.0 {
            (Severity::Info, "one of the top waits (≥ 5% of non-benign wait time; Paul Randal, SQLskills wait statistics, benign waits filtered)")
        } else {
            continue;
        };
        out.push(
            Finding::new(
                "waits",
                "top_wait",
                sev,
                format!(
                    "{wait}: {p:.1}% of wait time{}, avg {avg:.1} ms per wait — {}",
                    uptime
                        .map(|u| format!(" since start ({} ago)", human_secs(u)))
                        .unwrap_or_default(),
                    wait_meaning(&wait)
                ),
            )
            .fact("wait_type", &wait)
            .fact("pct", format!("{p:.1}"))
            .fact("avg_ms", format!("{avg:.1}"))
            .fact("wait_s", format!("{:.0}", r.f64("wait_s").unwrap_or(0.0)))
            .fact("meaning", wait_meaning(&wait))
            .threshold(rule),
        );
    }
    out
}

fn top_statements(rs: &ResultSet) -> Vec<Finding> {
    let slow = rs.threshold_for("slow_statement_mean");
    rs.iter()
        .take(5)
        .map(|r| {
            let mean = r.f64("mean_ms").unwrap_or(0.0);
            let total = r.f64("total_ms").unwrap_or(0.0);
            let cpu = r.f64("cpu_ms").unwrap_or(0.0);
            let ranks: Vec<String> = [("cpu_rank", "CPU"), ("elapsed_rank", "duration"), ("reads_rank", "reads")]
                .iter()
                .filter_map(|(c, l)| r.i64(c).filter(|n| *n <= 10).map(|n| format!("#{n} by {l}")))
                .collect();
            Finding::new(
                "top_statements",
                "top_statement",
                slow.grade(mean / 1000.0).max(Severity::Info),
                format!(
                    "{} calls, {total:.0} ms total, {mean:.1} ms mean, {cpu:.0} ms CPU, {} logical reads ({}): {}",
                    r.str("calls"),
                    r.i64("logical_reads").unwrap_or(0),
                    ranks.join(", "),
                    short_query(&r.str("query"), 140)
                ),
            )
            .fact("query", short_query(&r.str("query"), 400))
            .fact("calls", r.str("calls"))
            .fact("total_ms", format!("{total:.0}"))
            .fact("mean_ms", format!("{mean:.1}"))
            .fact("cpu_ms", format!("{cpu:.0}"))
            .fact("logical_reads", r.i64("logical_reads").unwrap_or(0))
            .fact("plans", r.i64("plans").unwrap_or(0))
            .threshold(format!("{}; statistics cover plans still in cache", slow.citation()))
        })
        .collect()
}

fn query_store(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let db = r.str("database_name");
    let actual = r.str("actual_state").to_ascii_uppercase();
    let desired = r.str("desired_state").to_ascii_uppercase();
    let mut out = Vec::new();
    if actual == "OFF" {
        out.push(
            Finding::new("query_store", "query_store_off", Severity::Info, format!("Query Store is off in {db}: no history of query plans and regressions"))
                .fact("database", &db)
                .fact("enable_sql", format!("ALTER DATABASE {} SET QUERY_STORE = ON (OPERATION_MODE = READ_WRITE, QUERY_CAPTURE_MODE = AUTO);", quote_name(&db)))
                .threshold("Query Store OFF (Microsoft Learn, Monitor performance by using the Query Store; on by default for new databases since SQL Server 2022)"),
        );
        return out;
    }
    if actual == "READ_ONLY" && desired == "READ_WRITE" {
        let reason = match r.i64("readonly_reason").unwrap_or(0) {
            65536 => "it reached MAX_STORAGE_SIZE_MB",
            131072 => "too many distinct statements for its memory limit",
            262144 => "its in-memory data reached the limit",
            524288 => "the database ran out of disk space",
            1 | 2 | 4 | 8 => "the database is read-only, single-user or in emergency mode",
            _ => "see readonly_reason",
        };
        out.push(
            Finding::new("query_store", "query_store_readonly", Severity::Warning, format!("Query Store in {db} switched itself to READ_ONLY: {reason}; it captures nothing new"))
                .fact("database", &db)
                .fact("readonly_reason", r.str("readonly_reason"))
                .threshold("actual_state READ_ONLY while desired READ_WRITE (Microsoft Learn, sys.database_query_store_options: readonly_reason; Best practices for managing the Query Store)"),
        );
    }
    let cur = r.f64("current_storage_size_mb").unwrap_or(0.0);
    let max = r.f64("max_storage_size_mb").unwrap_or(0.0);
    if let Some(p) = pct(cur, max).filter(|p| *p >= 90.0 && actual == "READ_WRITE") {
        out.push(
            Finding::new("query_store", "query_store_full_soon", Severity::Warning, format!("Query Store in {db} uses {cur:.0} of {max:.0} MB ({p:.0}%): it turns READ_ONLY when full"))
                .fact("database", &db)
                .fact("pct", format!("{p:.0}"))
                .threshold("≥ 90% of MAX_STORAGE_SIZE_MB (Microsoft Learn, Best practices for managing the Query Store)"),
        );
    }
    if r.str("capture_mode").eq_ignore_ascii_case("ALL") {
        out.push(
            Finding::new("query_store", "setting_review", Severity::Info, format!("Query Store in {db} captures ALL queries; AUTO ignores insignificant ones and keeps the store small"))
                .fact("name", "QUERY_CAPTURE_MODE")
                .fact("value", "ALL")
                .fact("advice", "use AUTO")
                .threshold("QUERY_CAPTURE_MODE = AUTO recommended (Microsoft Learn, Best practices for managing the Query Store)"),
        );
    }
    if out.is_empty() {
        out.push(Finding::new(
            "query_store",
            "query_store_ok",
            Severity::Ok,
            format!("Query Store in {db} is {actual}, {cur:.0} of {max:.0} MB used"),
        ));
    }
    out
}

/// Graded by `mssql_missing_index` in `thresholds.toml` (improvement measure ≥ 10 info,
/// ≥ 10,000 with ≥ 50 % impact warning, in the embedded copy).
fn missing_indexes(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("mssql_missing_index");
    rs.iter()
        .filter_map(|r| {
            let measure = r.f64("improvement_measure").unwrap_or(0.0);
            let graded = limit.grade(measure);
            if graded == Severity::Ok {
                return None;
            }
            let impact = r.f64("avg_user_impact").unwrap_or(0.0);
            let table = r.str("tbl");
            let eq = r.str("equality_columns");
            let ineq = r.str("inequality_columns");
            let incl = r.str("included_columns");
            let keys: Vec<&str> = [eq.as_str(), ineq.as_str()]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect();
            if keys.is_empty() {
                return None;
            }
            let key_list = keys.join(", ");
            let first_col = unbracket(key_list.split(',').next().unwrap_or("")).trim().to_string();
            let short_table = unbracket(table.rsplit('.').next().unwrap_or(&table));
            let name: String = format!(
                "IX_{}_{}",
                short_table,
                unbracket(&key_list).replace(", ", "_")
            )
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .take(128)
            .collect();
            let create_sql = format!(
                "CREATE NONCLUSTERED INDEX [{name}] ON {table} ({key_list}){};",
                if incl.trim().is_empty() { String::new() } else { format!(" INCLUDE ({incl})") }
            );
            let seeks = r.i64("user_seeks").unwrap_or(0);
            let scans = r.i64("user_scans").unwrap_or(0);
            let rows = r.i64("table_rows");
            let sev = if graded >= Severity::Warning && impact >= limit.value("min_impact") {
                Severity::Warning
            } else {
                Severity::Info
            };
            Some(
                Finding::new(
                    "seq_scans",
                    "missing_index_candidate",
                    sev,
                    format!(
                        "{table}: the optimizer wanted an index on ({}){} for {} seeks and {} scans, estimated {impact:.0}% cheaper (improvement measure {measure:.0})",
                        unbracket(&key_list),
                        if incl.trim().is_empty() { String::new() } else { format!(" including {}", unbracket(&incl)) },
                        seeks,
                        scans
                    ),
                )
                .detail("Review before creating: the suggestion ignores existing indexes (merge it with one that has the same leading columns), orders keys equality-first rather than by selectivity, and every index slows writes. On Enterprise edition or Azure add WITH (ONLINE = ON).")
                .fact("table", &table)
                .fact("database", r.str("database_name"))
                .fact("column", &first_col)
                .fact("scan_filter", format!("The optimizer recorded a missing index on {first_col} (sys.dm_db_missing_index_details)"))
                .fact("equality_columns", unbracket(&eq))
                .fact("inequality_columns", unbracket(&ineq))
                .fact("included_columns", unbracket(&incl))
                .fact("improvement_measure", format!("{measure:.0}"))
                .fact("avg_user_impact", format!("{impact:.0}"))
                .fact("seq_scan", r.i64("table_scans").unwrap_or(scans))
                .fact("idx_scan", r.i64("index_seeks").unwrap_or(0))
                .fact("seq_tup_read", "n/a")
                .fact("rows", rows.map(|n| n.to_string()).unwrap_or_else(|| "?".into()))
                .fact("create_sql", create_sql)
                .threshold(limit.citation()),
            )
        })
        .collect()
}

fn unused_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            let size = r.i64("size_bytes").unwrap_or(0);
            let writes = r.i64("writes").unwrap_or(0);
            let age = r.f64("stats_age_s");
            let young = age.is_some_and(|a| a < 7.0 * 86_400.0);
            let sev = if !young && size >= 100 * 1024 * 1024 && writes > 0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            let table = r.str("tbl");
            let idx = r.str("idx");
            Finding::new(
                "unused_indexes",
                "unused_index",
                sev,
                format!(
                    "{idx} on {table} ({}) has had no seeks, scans or lookups {} but {writes} writes",
                    human_bytes(size),
                    match age {
                        Some(a) => format!("in the {} since the last restart", human_secs(a)),
                        None => "since usage statistics were last reset".to_string(),
                    }
                ),
            )
            .fact("index", &idx)
            .fact("table", &table)
            .fact("size", human_bytes(size))
            .fact("scans", r.i64("scans").unwrap_or(0))
            .fact("writes", writes)
            .fact("drop_sql", format!("DROP INDEX {} ON {};", quote_name(&idx), quote_name(&table)))
            .threshold("no user seeks/scans/lookups in sys.dm_db_index_usage_stats (cleared at restart: make sure the uptime covers a full business cycle, month-end included, and check readable secondaries); < 7 days of statistics is info only; ≥ 100 MB with writes warning")
        })
        .collect()
}

fn duplicate_indexes(rs: &ResultSet) -> Vec<Finding> {
    let signature = |r: &Row<'_>| {
        format!(
            "{}|{}|{}",
            r.str("cols"),
            r.str("include_cols"),
            r.str("filter")
        )
    };
    let mapped = ResultSet {
        columns: vec![
            "tbl".into(),
            "idx".into(),
            "cols".into(),
            "is_unique".into(),
        ],
        rows: rs
            .iter()
            .map(|r| {
                vec![
                    r.get("tbl").clone(),
                    r.get("idx").clone(),
                    Value::Text(signature(&r)),
                    r.get("is_unique").clone(),
                ]
            })
            .collect(),
        truncated: rs.truncated,
        total: rs.total,
        thresholds: rs.thresholds.clone(),
    };
    let mut out = duplicate_indexes_by_columns("duplicate_indexes", &mapped, |t, i| {
        format!("DROP INDEX {} ON {};", quote_name(i), quote_name(t))
    });
    for f in &mut out {
        let idx = f.facts.get("index").cloned().unwrap_or_default();
        let table = f.facts.get("table").cloned().unwrap_or_default();
        if let Some(r) = rs
            .iter()
            .find(|r| r.str("idx") == idx && r.str("tbl") == table)
        {
            let keep = f.facts.get("duplicate_of").cloned().unwrap_or_default();
            let incl = r.str("include_cols");
            let cols = format!(
                "{}{}",
                r.str("cols"),
                if incl.is_empty() {
                    String::new()
                } else {
                    format!(" INCLUDE {incl}")
                }
            );
            f.title = format!("Index {idx} on {table} ({cols}) duplicates {keep}");
            f.facts.insert("columns".into(), cols);
            if r.bool("is_constraint").unwrap_or(false) {
                f.facts.insert(
                    "drop_sql".into(),
                    format!(
                        "ALTER TABLE {} DROP CONSTRAINT {};",
                        quote_name(&table),
                        quote_name(&idx)
                    ),
                );
            }
        }
        f.threshold = Some("identical key columns (order and direction), included columns and filter on the same table (Microsoft Learn, SQL Server index architecture and design guide)".into());
    }
    out
}

fn index_list(rs: &ResultSet) -> Vec<Finding> {
    vec![Finding::new(
        "index_list",
        "index_list",
        Severity::Ok,
        format!("{} indexes in this database", rs.count_phrase()),
    )]
}

fn fragmentation(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("index_fragmentation");
    rs.iter()
        .filter_map(|r| {
            let frag = r.f64("frag_pct").unwrap_or(0.0);
            let pages = r.i64("pages").unwrap_or(0);
            if frag < limit.value("min_pct") || (pages as f64) < limit.value("min_pages") {
                return None;
            }
            let table = r.str("tbl");
            let idx = r.str("idx");
            let partitioned = r.i64("partitions").unwrap_or(1) > 1;
            let target = format!("{} ON {}", quote_name(&idx), quote_name(&table));
            let fix = if partitioned {
                format!("ALTER INDEX {target} REBUILD PARTITION = {} WITH (ONLINE = ON);", r.str("partition_number"))
            } else {
                format!("ALTER INDEX {target} REBUILD WITH (ONLINE = ON);")
            };
            Some(
                Finding::new(
                    "fragmentation",
                    "index_fragmented",
                    Severity::Info,
                    format!("{idx} on {table}{}: {frag:.0}% logical fragmentation over {pages} pages ({})", if partitioned { format!(" partition {}", r.str("partition_number")) } else { String::new() }, human_bytes(pages * 8192)),
                )
                .detail("Fragmentation mostly hurts large range scans from disk; on SSD/SAN storage and for seeks it rarely matters, and updating statistics is often what actually helps. ONLINE = ON needs Enterprise edition or Azure; otherwise use REORGANIZE.")
                .fact("table", &table)
                .fact("index", &idx)
                .fact("frag_pct", format!("{frag:.0}"))
                .fact("pages", pages)
                .fact("fix_sql", fix)
                .threshold(limit.citation()),
            )
        })
        .collect()
}

fn tables_without_pk(rs: &ResultSet) -> Vec<Finding> {
    let mut out = no_pk(
        "tables_without_pk",
        rs,
        "every table should have a primary key: transactional replication and change tracking need one (Microsoft Learn, \"Publish data and database objects\"; \"About change tracking\")",
    );
    for (f, r) in out.iter_mut().zip(rs.iter()) {
        if r.bool("is_heap").unwrap_or(false) {
            f.title.push_str(" and is a heap (no clustered index)");
            f.facts.insert("heap".into(), "true".into());
        }
    }
    out
}

fn largest_tables(rs: &ResultSet) -> Vec<Finding> {
    table_sizes("largest_tables", rs)
}

fn database_size(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let db = r.str("database_name");
        let state = r.str("state").to_ascii_uppercase();
        let (sev, why) = match state.as_str() {
            "SUSPECT" | "RECOVERY_PENDING" | "EMERGENCY" => (Severity::Critical, "it cannot be used until the cause (missing or damaged files, failed recovery) is fixed"),
            "OFFLINE" | "RESTORING" | "RECOVERING" | "OFFLINE_SECONDARY" => (Severity::Info, "it is not available to applications (expected for log-shipping or mirroring targets)"),
            _ => (Severity::Ok, ""),
        };
        if sev > Severity::Ok {
            out.push(
                Finding::new("database_size", "database_not_online", sev, format!("database {db} is {state}: {why}"))
                    .fact("database", &db)
                    .fact("state", &state)
                    .threshold("state_desc SUSPECT / RECOVERY_PENDING / EMERGENCY critical, other non-ONLINE states info (Microsoft Learn, Database states)"),
            );
        }
        let size = r.i64("size_bytes").unwrap_or(0);
        if let Some(max) = r.i64("max_size_bytes").filter(|m| *m > 0) {
            let data = r.i64("data_bytes").unwrap_or(size);
            let p = data as f64 * 100.0 / max as f64;
            let limit = rs.threshold_for("database_max_size");
            if limit.grade(p) > Severity::Ok {
                out.push(
                    Finding::new(
                        "database_size",
                        "database_near_max_size",
                        limit.grade(p),
                        format!(
                            "database {db} data files use {} of its {} maximum ({p:.0}%)",
                            human_bytes(data),
                            human_bytes(max)
                        ),
                    )
                    .fact("database", &db)
                    .fact("size", human_bytes(data))
                    .fact("max_size", human_bytes(max))
                    .fact("pct", format!("{p:.0}"))
                    .threshold(limit.citation()),
                );
            }
        }
    }
    for r in rs.iter().take(5) {
        let size = r.i64("size_bytes").unwrap_or(0);
        out.push(
            Finding::new(
                "database_size",
                "database_size",
                Severity::Info,
                format!(
                    "database {}: {} (data {}, log {}), {} recovery",
                    r.str("database_name"),
                    human_bytes(size),
                    human_bytes(r.i64("data_bytes").unwrap_or(0)),
                    human_bytes(r.i64("log_bytes").unwrap_or(0)),
                    r.str("recovery_model")
                ),
            )
            .fact("database", r.str("database_name"))
            .fact("size", human_bytes(size))
            .fact("size_bytes", size),
        );
    }
    out
}

fn file_space(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut volumes_seen = std::collections::HashSet::new();
    for r in rs.iter() {
        let file = r.str("file_name");
        let kind = r.str("file_type");
        let size = r.i64("size_bytes").unwrap_or(0);
        let used = r.i64("used_bytes").unwrap_or(0);
        let growth = r.i64("growth").unwrap_or(0);
        let percent_growth = r.bool("is_percent_growth").unwrap_or(false);
        let used_pct = pct(used as f64, size as f64).unwrap_or(0.0);
        let full = rs.threshold_for("file_full");
        if growth == 0 && full.grade(used_pct) > Severity::Ok {
            out.push(
                Finding::new("file_space", "file_full", full.grade(used_pct), format!("{kind} file {file} is {used_pct:.0}% full ({} of {}) and autogrowth is off", human_bytes(used), human_bytes(size)))
                    .fact("file", &file)
                    .fact("pct", format!("{used_pct:.0}"))
                    .threshold(full.citation()),
            );
        }
        if let Some(max) = r.i64("max_bytes").filter(|m| *m > 0) {
            let p = size as f64 * 100.0 / max as f64;
            if p >= 90.0 && used_pct >= 80.0 {
                out.push(
                    Finding::new("file_space", "file_near_max_size", if p >= 98.0 { Severity::Critical } else { Severity::Warning }, format!("{kind} file {file} has grown to {} of its {} MAXSIZE ({p:.0}%) and is {used_pct:.0}% used", human_bytes(size), human_bytes(max)))
                        .fact("file", &file)
                        .fact("pct", format!("{p:.0}"))
                        .threshold("file size ≥ 90% of MAXSIZE and ≥ 80% used (Microsoft Learn, ALTER DATABASE File and Filegroup options: MAXSIZE)"),
                );
            }
        }
        if percent_growth {
            out.push(
                Finding::new("file_space", "autogrowth_percent", Severity::Info, format!("{kind} file {file} grows by {growth}%: each growth gets bigger and slower (and log growth creates uneven VLFs)"))
                    .fact("file", &file)
                    .fact("fix_sql", format!("ALTER DATABASE CURRENT MODIFY FILE (NAME = {}, FILEGROWTH = 512MB);", quote_name(&file)))
                    .threshold("percent autogrowth (Microsoft Learn, Considerations for the autogrow and autoshrink settings in SQL Server: use a fixed size)"),
            );
        }
        if let (Some(total), Some(free)) = (r.i64("volume_bytes"), r.i64("volume_free_bytes")) {
            if total > 0 && volumes_seen.insert((total, free)) {
                let free_pct = free as f64 * 100.0 / total as f64;
                let low = rs.threshold_for("volume_free");
                if low.grade(free_pct) > Severity::Ok {
                    out.push(
                        Finding::new(
                            "file_space",
                            "disk_space_low",
                            low.grade(free_pct),
                            format!(
                                "the volume holding {file} has {} free of {} ({free_pct:.1}%)",
                                human_bytes(free),
                                human_bytes(total)
                            ),
                        )
                        .fact("file", &file)
                        .fact("free", human_bytes(free))
                        .fact("pct", format!("{free_pct:.1}"))
                        .threshold(low.citation()),
                    );
                }
            }
        }
    }
    out
}

fn log_space(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let db = r.str("database_name");
        let wait = r.str("log_reuse_wait").to_ascii_uppercase();
        let size = r.i64("log_size_bytes").unwrap_or(0);
        let used = r.i64("log_used_bytes").unwrap_or(0);
        let used_pct = pct(used as f64, size as f64).unwrap_or(0.0);
        let fix = match wait.as_str() {
            "LOG_BACKUP" => "take a log backup (and schedule them): BACKUP LOG … TO …",
            "ACTIVE_TRANSACTION" => "a long-running or abandoned transaction holds the log: see idle_in_transaction / DBCC OPENTRAN",
            "AVAILABILITY_REPLICA" => "an availability-group secondary has not received or redone the log: check the replication check's send/redo queues",
            "REPLICATION" | "DATABASE_MIRRORING" => "the log reader / mirroring partner is behind or stopped",
            "ACTIVE_BACKUP_OR_RESTORE" => "a backup or restore is running",
            "CHECKPOINT" | "NOTHING" | "OLDEST_PAGE" | "OTHER_TRANSIENT" | "" => "",
            _ => "see log_reuse_wait_desc in Microsoft Learn, The transaction log",
        };
        let limit = rs.threshold_for("log_space_used");
        if limit.grade(used_pct) > Severity::Ok {
            out.push(
                Finding::new(
                    "log_space",
                    "log_space_high",
                    limit.grade(used_pct),
                    format!(
                        "transaction log of {db} is {used_pct:.0}% used ({} of {}){}",
                        human_bytes(used),
                        human_bytes(size),
                        if fix.is_empty() {
                            String::new()
                        } else {
                            format!("; it cannot be reused because of {wait}: {fix}")
                        }
                    ),
                )
                .fact("database", &db)
                .fact("pct", format!("{used_pct:.0}"))
                .fact("log_reuse_wait", &wait)
                .fact("recovery_model", r.str("recovery_model"))
                .threshold(limit.citation()),
            );
        } else if !fix.is_empty() {
            out.push(
                Finding::new("log_space", "log_reuse_wait", Severity::Info, format!("the log of {db} ({used_pct:.0}% used) waits on {wait} before it can be reused: {fix}"))
                    .fact("database", &db)
                    .fact("log_reuse_wait", &wait)
                    .fact("pct", format!("{used_pct:.0}"))
                    .threshold("log_reuse_wait_desc other than NOTHING/CHECKPOINT (Microsoft Learn, The transaction log: factors that can delay log truncation)"),
            );
        }
        let vlf = rs.threshold_for("vlf_count");
        if let Some(vlfs) = r
            .i64("vlf_count")
            .filter(|v| *v as f64 > vlf.value("warning"))
        {
            out.push(
                Finding::new("log_space", "vlf_count_high", Severity::Warning, format!("the log of {db} has {vlfs} virtual log files: slow recovery, restores and log backups"))
                    .fact("database", &db)
                    .fact("vlf_count", vlfs)
                    .threshold(vlf.citation()),
            );
        }
    }
    out
}

fn tempdb(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let mut out = Vec::new();
    let total = r.i64("total_bytes").unwrap_or(0);
    let free = r.i64("free_bytes").unwrap_or(0);
    let vs = r.i64("version_store_bytes").unwrap_or(0);
    let used_pct = pct((total - free) as f64, total as f64).unwrap_or(0.0);
    let files = r.i64("data_files").unwrap_or(0);
    let cpus = r.i64("cpu_count").unwrap_or(0);
    out.push(
        Finding::new(
            "tempdb",
            "tempdb_usage",
            Severity::Ok,
            format!(
                "tempdb: {} of {} used ({used_pct:.0}%): user objects {}, internal objects {}, version store {}; {files} data files",
                human_bytes(total - free),
                human_bytes(total),
                human_bytes(r.i64("user_objects_bytes").unwrap_or(0)),
                human_bytes(r.i64("internal_objects_bytes").unwrap_or(0)),
                human_bytes(vs)
            ),
        )
        .fact("pct", format!("{used_pct:.0}")),
    );
    if used_pct >= 90.0 {
        let top = r.str("top_session");
        out.push(
            Finding::new("tempdb", "tempdb_usage_high", Severity::Warning, format!("tempdb data files are {used_pct:.0}% used{}", if top.is_empty() { String::new() } else { format!("; session {top} holds the most ({})", human_bytes(r.i64("top_session_bytes").unwrap_or(0))) }))
                .fact("pct", format!("{used_pct:.0}"))
                .fact("pid", &top)
                .threshold("≥ 90% of the current tempdb data-file size (common guidance; files may autogrow, check the volume too)"),
        );
    }
    if vs >= 1024 * 1024 * 1024 && vs * 4 >= total {
        out.push(
            Finding::new("tempdb", "tempdb_version_store_large", Severity::Warning, format!("the version store holds {} of tempdb; the oldest snapshot transaction has run {}", human_bytes(vs), human_secs(r.f64("oldest_snapshot_tx_s").unwrap_or(0.0))))
                .fact("version_store", human_bytes(vs))
                .fact("oldest_snapshot_tx_s", format!("{:.0}", r.f64("oldest_snapshot_tx_s").unwrap_or(0.0)))
                .threshold("version store ≥ 1 GB and ≥ 25% of tempdb: a long transaction under snapshot isolation / RCSI keeps versions alive (Microsoft Learn, tempdb database: version store)"),
        );
    }
    if cpus > 0 && files > 0 && files < cpus.min(8) {
        out.push(
            Finding::new("tempdb", "tempdb_file_count", Severity::Info, format!("tempdb has {files} data file(s) for {cpus} logical CPUs: allocation-page contention (PAGELATCH waits) is likely under load"))
                .fact("files", files)
                .fact("cpus", cpus)
                .threshold("one equally sized data file per logical CPU up to 8 (Microsoft Learn, tempdb database: optimizing tempdb performance)"),
        );
    }
    out
}

fn backups(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut ok = 0usize;
    for r in rs.iter() {
        let db = r.str("database_name");
        let state = r.str("state").to_ascii_uppercase();
        if !state.is_empty() && state != "ONLINE" {
            continue;
        }
        let managed = r.bool("managed").unwrap_or(false);
        let recovery = r.str("recovery_model").to_ascii_uppercase();
        let young = r.f64("db_age_h").is_some_and(|h| h < 24.0);
        let full = r.f64("full_age_h");
        let diff = r.f64("diff_age_h");
        let log = r.f64("log_age_h");
        let before = out.len();
        if managed {
            if full.is_none() {
                out.push(Finding::new("backups", "backup_history_unavailable", Severity::Info, format!("no automated backups of {db} are visible in sys.dm_database_backups (Hyperscale uses storage snapshots; check restore points in the Azure portal)")).fact("database", &db));
            } else {
                out.push(
                    Finding::new(
                        "backups",
                        "backups_ok",
                        Severity::Ok,
                        format!(
                            "Azure automated backups of {db}: last full {} ago, differential {}, log {}",
                            human_secs(full.unwrap_or(0.0) * 3600.0),
                            diff.map(|d| format!("{} ago", human_secs(d * 3600.0))).unwrap_or_else(|| "none".into()),
                            log.map(|l| format!("{} ago", human_secs(l * 3600.0))).unwrap_or_else(|| "none".into())
                        ),
                    )
                    .fact("database", &db),
                );
            }
            continue;
        }
        match full {
            None => out.push(
                Finding::new("backups", "backup_missing", if young { Severity::Warning } else { Severity::Critical }, format!("database {db} has no full backup in msdb backup history"))
                    .detail("Backups taken on another availability-group replica or by a tool that does not use BACKUP DATABASE are recorded elsewhere.")
                    .fact("database", &db)
                    .fact("backup_sql", format!("BACKUP DATABASE {} TO URL = N'…' WITH COMPRESSION, CHECKSUM;", quote_name(&db)))
                    .threshold("no full backup (Microsoft Learn, Back up and restore of SQL Server databases)"),
            ),
            Some(h) if h > 7.0 * 24.0 && diff.is_none_or(|d| d > 26.0) => out.push(
                Finding::new("backups", "backup_stale", Severity::Warning, format!("the last full backup of {db} is {} old and there is no differential in the last day", human_secs(h * 3600.0)))
                    .fact("database", &db)
                    .fact("full_age_h", format!("{h:.0}"))
                    .threshold("full older than 7 days without a differential in the last 26 hours (common guidance: weekly full + daily differential at least)"),
            ),
            _ => {}
        }
        let needs_log = matches!(recovery.as_str(), "FULL" | "BULK_LOGGED") && db != "model";
        if needs_log {
            match log {
                None => out.push(
                    Finding::new("backups", "log_backup_missing", if young { Severity::Warning } else { Severity::Critical }, format!("database {db} uses the {recovery} recovery model but has never had a log backup: its log grows until the disk is full (log_reuse_wait LOG_BACKUP)"))
                        .fact("database", &db)
                        .fact("recovery_model", &recovery)
                        .threshold("FULL/BULK_LOGGED recovery without log backups (Microsoft Learn, Recovery models (SQL Server); Troubleshoot a full transaction log)"),
                ),
                Some(h) if h > 4.0 => out.push(
                    Finding::new("backups", "log_backup_stale", Severity::Warning, format!("the last log backup of {db} is {} old: that much work would be lost with the log", human_secs(h * 3600.0)))
                        .fact("database", &db)
                        .fact("log_age_h", format!("{h:.1}"))
                        .threshold("last log backup > 4 hours ago (common guidance: every 15–60 minutes, within your RPO)"),
                ),
                _ => {}
            }
        } else if recovery == "SIMPLE" && !matches!(db.as_str(), "master" | "model" | "msdb") {
            out.push(
                Finding::new("backups", "recovery_model_simple", Severity::Info, format!("database {db} uses the SIMPLE recovery model: it can only be restored to the last full/differential backup, not to a point in time"))
                    .fact("database", &db)
                    .threshold("SIMPLE recovery on a user database (Microsoft Learn, Recovery models (SQL Server)); fine for dev and staging"),
            );
        }
        if out.len() == before {
            ok += 1;
        }
    }
    if ok > 0 {
        out.push(Finding::new(
            "backups",
            "backups_ok",
            Severity::Ok,
            format!("{ok} database(s) have recent full and (where needed) log backups"),
        ));
    }
    out
}

fn roles_security(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let login = r.str("login_name");
        let kind = r.str("login_type").to_ascii_uppercase();
        let enabled = !r.bool("is_disabled").unwrap_or(false);
        let sql_login = kind == "SQL_LOGIN";
        let sysadmin = r.bool("is_sysadmin").unwrap_or(false);
        if r.bool("is_sa").unwrap_or(false) {
            if enabled {
                out.push(
                    Finding::new("roles_security", "sa_enabled", Severity::Warning, format!("the sa login ({login}) is enabled: it is the first account password attacks try"))
                        .fact("role", &login)
                        .fact("fix_sql", format!("ALTER LOGIN {} DISABLE;", quote_name(&login)))
                        .threshold("CIS Microsoft SQL Server Benchmark 2.13 Ensure the 'sa' login account is set to 'Disabled'"),
                );
            }
            continue;
        }
        if sysadmin && enabled {
            out.push(
                Finding::new("roles_security", "superuser_role", if sql_login { Severity::Warning } else { Severity::Info }, format!("{} {login} is a member of sysadmin", if sql_login { "SQL login" } else { "Windows/Entra principal" }))
                    .fact("role", &login)
                    .threshold("keep sysadmin to a few named DBA principals; applications never (Microsoft Learn, Server-level roles; CIS Microsoft SQL Server Benchmark 3.x)"),
            );
        }
        if sql_login && enabled {
            if r.bool("is_policy_checked") == Some(false) {
                out.push(
                    Finding::new("roles_security", "password_policy_off", Severity::Warning, format!("SQL login {login} is exempt from the Windows password policy (CHECK_POLICY = OFF)"))
                        .fact("role", &login)
                        .fact("fix_sql", format!("ALTER LOGIN {} WITH CHECK_POLICY = ON;", quote_name(&login)))
                        .threshold("CIS Microsoft SQL Server Benchmark 4.3 Ensure 'CHECK_POLICY' is set to 'ON' for all SQL authenticated logins"),
                );
            }
            if sysadmin && r.bool("is_expiration_checked") == Some(false) {
                out.push(
                    Finding::new("roles_security", "password_no_expiry", Severity::Info, format!("SQL login {login} is a sysadmin and its password never expires (CHECK_EXPIRATION = OFF)"))
                        .fact("role", &login)
                        .threshold("CIS Microsoft SQL Server Benchmark 4.2 Ensure 'CHECK_EXPIRATION' is 'ON' for SQL logins with sysadmin or CONTROL SERVER"),
                );
            }
        }
    }
    out
}

fn encryption(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let db = r.str("database_name");
        match r.i64("encryption_state") {
            Some(3) => {}
            Some(s @ (2 | 4 | 5 | 6)) => out.push(
                Finding::new("encryption", "tde_in_progress", Severity::Info, format!("TDE on {db} is changing ({}, {:.0}% done)", match s { 2 => "encrypting", 4 => "key change", 5 => "decrypting", _ => "protection change" }, r.f64("percent_complete").unwrap_or(0.0)))
                    .fact("database", &db),
            ),
            _ => out.push(
                Finding::new("encryption", "tde_off", Severity::Info, format!("database {db} is not encrypted at rest (TDE off): data files and backups are readable by whoever gets the files"))
                    .fact("database", &db)
                    .threshold("Transparent data encryption off (Microsoft Learn, Transparent data encryption (TDE); CIS Microsoft SQL Server Benchmark 7.x for sensitive data)"),
            ),
        }
    }
    if let Some(r) = rs.first() {
        let n = r.i64("unencrypted_connections").unwrap_or(0);
        if n > 0 {
            out.push(
                Finding::new("encryption", "unencrypted_connections", Severity::Info, format!("{n} of {} client connections are not encrypted", r.i64("total_connections").unwrap_or(0)))
                    .fact("count", n)
                    .threshold("sys.dm_exec_connections.encrypt_option = FALSE (Microsoft Learn, Configure SQL Server Database Engine for encrypting connections)"),
            );
        }
    }
    out
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
    let get = |name: &str| {
        rs.iter()
            .find(|r| r.str("scope") == "server" && r.str("name") == name)
            .and_then(|r| r.i64("value"))
    };
    let cpus = get("cpu_count").unwrap_or(0);
    let ram = get("physical_memory_mb").unwrap_or(0);
    let major = get("product_major_version");
    for r in rs.iter() {
        let scope = r.str("scope");
        let name = r.str("name");
        let v = r.i64("value");
        let shown = r.str("value");
        if scope == "server" || scope == "database" {
            match (name.as_str(), v) {
                ("max server memory (MB)", Some(m)) if m >= 2_147_483_647 => out.push(mk(&name, "unlimited", Severity::Warning, "SQL Server may take nearly all RAM and starve the OS; leave the OS 10–20% (at least 4 GB)", "Microsoft Learn, Server memory configuration options (set max server memory)")),
                ("max server memory (MB)", Some(m)) if ram > 0 && m > ram => out.push(mk(&name, &shown, Severity::Warning, "above the physical memory of the host", "Microsoft Learn, Server memory configuration options")),
                ("max degree of parallelism", Some(0)) if cpus > 8 => out.push(mk(&name, "0", Severity::Info, "unlimited on a host with more than 8 CPUs; 8 (or the cores per NUMA node) is the usual ceiling", "Microsoft Learn, Configure the max degree of parallelism (server configuration option)")),
                ("cost threshold for parallelism", Some(5)) => out.push(mk(&name, "5", Severity::Info, "the default; small queries go parallel, 30–50 is a common starting point", "common guidance; Microsoft Learn, Configure the cost threshold for parallelism")),
                ("optimize for ad hoc workloads", Some(0)) => out.push(mk(&name, "0", Severity::Info, "single-use ad hoc plans fill the plan cache; 1 stores a stub until the second use", "Microsoft Learn, optimize for ad hoc workloads (server configuration option)")),
                ("xp_cmdshell", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "lets SQL Server run operating-system commands", "CIS Microsoft SQL Server Benchmark 2.15")),
                ("Ad Hoc Distributed Queries", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "OPENROWSET/OPENDATASOURCE can reach other servers", "CIS Microsoft SQL Server Benchmark 2.1")),
                ("Ole Automation Procedures", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "lets T-SQL instantiate OLE objects outside the engine", "CIS Microsoft SQL Server Benchmark 2.5")),
                ("cross db ownership chaining", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "permission checks are skipped across databases with the same owner", "CIS Microsoft SQL Server Benchmark 2.4")),
                ("scan for startup procs", Some(1)) => out.push(mk(&name, "1", Severity::Info, "stored procedures run automatically at startup; make sure they are known", "CIS Microsoft SQL Server Benchmark 2.12")),
                ("clr enabled", Some(1)) => out.push(mk(&name, "1", Severity::Info, "CLR assemblies can run; keep clr strict security on", "CIS Microsoft SQL Server Benchmark 2.2")),
                ("priority boost", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "can starve the OS and cluster heartbeat; Microsoft says not to use it", "Microsoft Learn, Configure the priority boost server configuration option")),
                ("lightweight pooling", Some(1)) => out.push(mk(&name, "1", Severity::Warning, "fiber mode: unsupported by many features and rarely helps", "Microsoft Learn, lightweight pooling server configuration option")),
                ("backup compression default", Some(0)) => out.push(mk(&name, "0", Severity::Info, "backups are not compressed by default: bigger and usually slower", "Microsoft Learn, View or configure the backup compression default")),
                ("LEGACY_CARDINALITY_ESTIMATION", Some(1)) => out.push(mk(&name, "ON", Severity::Info, "the pre-2014 cardinality estimator is used", "Microsoft Learn, ALTER DATABASE SCOPED CONFIGURATION")),
                ("PARAMETER_SNIFFING", Some(0)) => out.push(mk(&name, "OFF", Severity::Info, "plans are built for average values, not the real parameters", "Microsoft Learn, ALTER DATABASE SCOPED CONFIGURATION")),
                _ => {}
            }
            continue;
        }
        // Database options: scope is the database name.
        let db = scope;
        match name.as_str() {
            "auto_shrink" => out.push(mk(&format!("{db}: AUTO_SHRINK"), "ON", Severity::Warning, "shrinks fragment indexes and the file grows back; turn it off", "Microsoft Learn, Considerations for the autogrow and autoshrink settings in SQL Server")),
            "auto_close" => out.push(mk(&format!("{db}: AUTO_CLOSE"), "ON", Severity::Warning, "the database closes after the last connection and reopens (slow, plan cache flushed)", "Microsoft Learn, ALTER DATABASE SET options: AUTO_CLOSE")),
            "page_verify_not_checksum" => out.push(mk(&format!("{db}: PAGE_VERIFY"), if v == Some(1) { "TORN_PAGE_DETECTION" } else { "NONE" }, Severity::Warning, "corruption is detected late or never; use CHECKSUM", "Microsoft Learn, ALTER DATABASE SET options: PAGE_VERIFY")),
            "trustworthy" => out.push(mk(&format!("{db}: TRUSTWORTHY"), "ON", Severity::Warning, "code in this database can act with server-level permissions of its owner", "CIS Microsoft SQL Server Benchmark 2.9")),
            "compatibility_level" => {
                if let (Some(level), Some(m)) = (v, major) {
                    if level < m * 10 {
                        out.push(mk(&format!("{db}: compatibility level"), &level.to_string(), Severity::Info, &format!("older than the engine's {}; newer optimizer features stay off (raise it deliberately, compare plans with Query Store)", m * 10), "Microsoft Learn, ALTER DATABASE compatibility level"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn replication(rs: &ResultSet) -> Vec<Finding> {
    if rs.is_empty() {
        return vec![Finding::new(
            "replication",
            "replication_none",
            Severity::Info,
            "Availability groups are enabled but this instance has no availability databases (and no geo-replication links)",
        )];
    }
    rs.iter()
        .map(|r| {
            let replica = format!(
                "{} / {} / {} ({}, {})",
                r.str("ag_name"),
                r.str("replica_server"),
                r.str("database_name"),
                r.str("role"),
                r.str("availability_mode")
            );
            let health = r.str("sync_health").to_ascii_uppercase();
            let state = r.str("sync_state").to_ascii_uppercase();
            let queue_kb = r.i64("send_queue_kb").unwrap_or(0) + r.i64("redo_queue_kb").unwrap_or(0);
            let lag_bytes = queue_kb * 1024;
            let lag_s = r.f64("lag_s").unwrap_or(0.0).max(0.0);
            if r.bool("is_suspended").unwrap_or(false) || health == "NOT_HEALTHY" || state == "NOT SYNCHRONIZING" || state == "NOT_SYNCHRONIZING" || state == "SUSPENDED" {
                let reason = r.str("suspend_reason");
                let error = format!("{state}, {health}{}", if reason.is_empty() { String::new() } else { format!(", suspended: {reason}") });
                return Finding::new("replication", "replication_broken", Severity::Critical, format!("{replica} is not synchronizing: {error}"))
                    .fact("replica", &replica)
                    .fact("error", &error)
                    .threshold("synchronization_health NOT_HEALTHY, NOT SYNCHRONIZING or suspended (Microsoft Learn, Monitor availability groups; sys.dm_hadr_database_replica_states)");
            }
            let sev = if lag_s >= 300.0 || lag_bytes >= 10 * 1024 * 1024 * 1024 {
                Severity::Critical
            } else if lag_s >= 30.0 || lag_bytes >= 1024 * 1024 * 1024 || health == "PARTIALLY_HEALTHY" {
                Severity::Warning
            } else {
                Severity::Ok
            };
            Finding::new(
                "replication",
                if sev > Severity::Ok { "replication_lag" } else { "replication_ok" },
                sev,
                format!("{replica}: {state}, {health}, send+redo queue {}, commit lag {}", human_bytes(lag_bytes), human_secs(lag_s)),
            )
            .fact("replica", &replica)
            .fact("lag_bytes", lag_bytes)
            .fact("lag_s", format!("{lag_s:.0}"))
            .fact("send_queue_kb", r.i64("send_queue_kb").unwrap_or(0))
            .fact("redo_queue_kb", r.i64("redo_queue_kb").unwrap_or(0))
            .threshold("lag ≥ 30 s or queues ≥ 1 GB warning, ≥ 300 s or 10 GB critical (common guidance; tune to your RPO/RTO — send queue bounds data loss, redo queue bounds failover time; Microsoft Learn, Monitor performance for availability groups)")
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests;
