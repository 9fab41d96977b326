//! MySQL 8 and MariaDB 10.x diagnostics. Where the two differ (lock views, status tables,
//! replication), a check has variants chosen by precondition, MySQL 8 first.

use super::common::{duplicate_indexes_by_columns, first_unindexed, where_columns};
use super::postgres::{
    blocking_pairs, connection_groups, id_rows, idle_sessions, no_pk, replication_rows,
    running_statements, scoped_connection_limits, table_sizes, unused_with_window,
};
use super::{Check, Precondition};
use crate::config::Engine;
use crate::diagnostics::finding::{human_bytes, human_secs, short_query};
use crate::diagnostics::{Finding, ResultSet};
use dbabot_chat::Severity;

const E: Engine = Engine::Mysql;

/// The only non-SELECT statements in the MySQL catalog: replication status has no SELECT form
/// on MariaDB (`SHOW ALL SLAVES STATUS`) or before MySQL 8 performance_schema tables, and the
/// InnoDB monitor's record of the latest deadlock exists only in `SHOW ENGINE INNODB STATUS`,
/// and prepared XA transactions are listed only by `XA RECOVER`.
#[cfg(test)]
pub(super) const ALLOWED_SHOW: &[&str] = &[
    "SHOW ALL SLAVES STATUS",
    "SHOW REPLICA STATUS",
    "SHOW ENGINE INNODB STATUS",
    // Lists prepared XA transactions; reads only (MariaDB KB "XA Transactions").
    "XA RECOVER",
];

/// Users past the global `max_user_connections`, counted from PROCESSLIST (`$and`: a further
/// condition on `p`).
macro_rules! global_user_connections {
    ($and:literal) => {
        concat!(
            "SELECT 'global' AS scope, p.USER AS name, p.USER AS ident, p.USER AS user,
       CAST(@@max_user_connections AS SIGNED) AS conn_limit, COUNT(*) AS used,
       (SELECT COUNT(*) FROM information_schema.PROCESSLIST) AS server_used,
       CAST(@@max_connections AS SIGNED) AS server_max
  FROM information_schema.PROCESSLIST p
 WHERE @@max_user_connections > 0 AND p.USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user')",
            $and,
            "
 GROUP BY p.USER
 ORDER BY used DESC
 LIMIT 20"
        )
    };
}

const PS_ON: Precondition = Precondition {
    sql: "SELECT @@performance_schema = 1",
    unavailable: "performance_schema is OFF on this server, so statement statistics are not collected. Set performance_schema=ON in the server configuration (restart needed; on RDS/Aurora set it in the parameter group; MariaDB has it off by default).",
};

/// MySQL 8 keeps server status in performance_schema.global_status (information_schema's copy is
/// gone); MariaDB has only information_schema.GLOBAL_STATUS. Not met: the next variant runs.
const PS_GLOBAL_STATUS: Precondition = Precondition {
    sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'global_status' AND @@performance_schema = 1",
    unavailable: "",
};

pub(super) static CHECKS: &[Check] = &[
    Check {
        name: "column_indexes",
        engine: E,
        title: "Columns no index leads with, on the largest tables (read against the columns a question names)",
        sql: "SELECT c.TABLE_NAME AS tbl, c.TABLE_NAME AS relname, c.COLUMN_NAME AS col, CAST(COALESCE(t.TABLE_ROWS, 0) AS SIGNED) AS est_rows
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
 WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
   AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS s
                    WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME
                      AND s.SEQ_IN_INDEX = 1 AND s.COLUMN_NAME = c.COLUMN_NAME)
 ORDER BY 4 DESC, 1, 3
 LIMIT 300",
        precondition: None,
        evaluate: super::common::no_findings,
    },
    Check {
        name: "temp_files",
        engine: E,
        title: "Internal temporary tables created on disk (MySQL 8: performance_schema.global_status)",
        sql: "SELECT (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Created_tmp_disk_tables') AS created_tmp_disk_tables,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Created_tmp_tables') AS created_tmp_tables,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Created_tmp_files') AS created_tmp_files,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Sort_merge_passes') AS sort_merge_passes,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime') AS uptime,
       CAST(@@tmp_table_size AS SIGNED) AS tmp_table_size, CAST(@@max_heap_table_size AS SIGNED) AS max_heap_table_size",
        precondition: Some(PS_GLOBAL_STATUS),
        evaluate: temp_tables,
    },
    Check {
        name: "temp_files",
        engine: E,
        title: "Internal temporary tables created on disk (information_schema.GLOBAL_STATUS)",
        sql: "SELECT (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CREATED_TMP_DISK_TABLES') AS created_tmp_disk_tables,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CREATED_TMP_TABLES') AS created_tmp_tables,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CREATED_TMP_FILES') AS created_tmp_files,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SORT_MERGE_PASSES') AS sort_merge_passes,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') AS uptime,
       CAST(@@tmp_table_size AS SIGNED) AS tmp_table_size, CAST(@@max_heap_table_size AS SIGNED) AS max_heap_table_size",
        precondition: None,
        evaluate: temp_tables,
    },
    Check {
        name: "overview",
        engine: E,
        title: "Server overview (MySQL 8: performance_schema.global_status)",
        sql: "SELECT VERSION() AS version,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime') AS uptime_s,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Threads_connected') AS connections,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Max_used_connections') AS max_used,
       CAST(@@max_connections AS SIGNED) AS max_connections,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Innodb_buffer_pool_read_requests') AS bp_requests,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Innodb_buffer_pool_reads') AS bp_disk_reads,
       CAST(NULL AS SIGNED) AS deadlocks,
       DATABASE() AS db,
       ((SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES
          WHERE GRANTEE IN (CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''),
                            CONCAT('''', COALESCE(CURRENT_ROLE(), ''), ''''))
            AND PRIVILEGE_TYPE IN ('PROCESS', 'SUPER')) > 0) AS sees_all_sessions,
       CURRENT_USER() AS login",
        precondition: Some(PS_GLOBAL_STATUS),
        evaluate: overview,
    },
    Check {
        name: "overview",
        engine: E,
        title: "Server overview (information_schema.GLOBAL_STATUS)",
        sql: "SELECT VERSION() AS version,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') AS uptime_s,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED') AS connections,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'MAX_USED_CONNECTIONS') AS max_used,
       CAST(@@max_connections AS SIGNED) AS max_connections,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_READ_REQUESTS') AS bp_requests,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_READS') AS bp_disk_reads,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS') AS deadlocks,
       DATABASE() AS db,
       ((SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES
          WHERE GRANTEE IN (CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''),
                            CONCAT('''', COALESCE(CURRENT_ROLE(), ''), ''''))
            AND PRIVILEGE_TYPE IN ('PROCESS', 'SUPER')) > 0) AS sees_all_sessions,
       CURRENT_USER() AS login",
        precondition: None,
        evaluate: overview,
    },
    Check {
        name: "active_queries",
        engine: E,
        title: "Running statements (information_schema.PROCESSLIST)",
        sql: "SELECT ID AS pid, USER AS usr, COMMAND AS command, CAST(TIME AS SIGNED) AS duration_s,
       COALESCE(STATE, '') AS state, LEFT(INFO, 500) AS query,
       (EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t
                 WHERE t.trx_mysql_thread_id = ID AND t.trx_state = 'LOCK WAIT')
        OR STATE IN ('Waiting for global read lock', 'Waiting for backup lock', 'Waiting for commit lock',
                     'Waiting for table flush', 'Waiting for table level lock', 'User lock')
        OR STATE LIKE 'Waiting for table metadata lock%') AS lock_wait
  FROM information_schema.PROCESSLIST
 WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID')
   AND ID <> CONNECTION_ID() AND INFO IS NOT NULL
   AND INFO NOT LIKE '/* dbabot diagnostic */%'
   AND (DB = DATABASE() OR DATABASE() IS NULL)
 ORDER BY TIME DESC",
        precondition: None,
        evaluate: active_queries,
    },
    // Both variants keep lock waits on tables of the target's database (as the other checks
    // keep its sessions): on a shared server, a chain in another schema is not this
    // database's problem and must not turn its answer into a locks answer.
    Check {
        name: "blocking_chains",
        engine: E,
        title: "InnoDB lock waits (MySQL 8 performance_schema.data_lock_waits)",
        sql: "SELECT * FROM (SELECT r.trx_mysql_thread_id AS blocked_pid, LEFT(r.trx_query, 500) AS blocked_query,
       TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) AS wait_s,
       b.trx_mysql_thread_id AS blocker_pid, LEFT(COALESCE(b.trx_query, ''), 500) AS blocker_query,
       IF(b.trx_mysql_thread_id = 0, 'prepared',
          IF(b.trx_query IS NULL, 'idle in transaction', b.trx_state)) AS blocker_state,
       CONCAT(b.trx_id, '') AS blocker_trx_id,
       TIMESTAMPDIFF(SECOND, b.trx_started, NOW()) AS blocker_xact_s,
       CONCAT(w.REQUESTING_ENGINE_LOCK_ID, '') AS lock_id,
       (SELECT CONCAT(l.LOCK_TYPE, ' ', l.LOCK_MODE) FROM performance_schema.data_locks l
         WHERE l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID LIMIT 1) AS lock_type,
       (SELECT CONCAT(l.OBJECT_SCHEMA, '.', l.OBJECT_NAME) FROM performance_schema.data_locks l
         WHERE l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID LIMIT 1) AS relation
  FROM performance_schema.data_lock_waits w
  JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID
  JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID) q
 WHERE DATABASE() IS NULL OR q.relation IS NULL OR LEFT(q.relation, CHAR_LENGTH(DATABASE()) + 1) = CONCAT(DATABASE(), '.')
 ORDER BY wait_s DESC",
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'data_lock_waits' AND @@performance_schema = 1",
            unavailable: "",
        }),
        evaluate: blocking_chains,
    },
    Check {
        name: "blocking_chains",
        engine: E,
        title: "InnoDB lock waits (information_schema.INNODB_LOCK_WAITS, MariaDB / MySQL 5.7)",
        // The CASTs: MariaDB 10.11 cuts CONCAT of these ENUM columns short ("RECOR") on some
        // rows when the connection's character set is utf8mb4.
        sql: "SELECT * FROM (SELECT r.trx_mysql_thread_id AS blocked_pid, LEFT(r.trx_query, 500) AS blocked_query,
       TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) AS wait_s,
       b.trx_mysql_thread_id AS blocker_pid, LEFT(COALESCE(b.trx_query, ''), 500) AS blocker_query,
       IF(b.trx_mysql_thread_id = 0, 'prepared',
          IF(b.trx_query IS NULL, 'idle in transaction', b.trx_state)) AS blocker_state,
       CONCAT(b.trx_id, '') AS blocker_trx_id,
       TIMESTAMPDIFF(SECOND, b.trx_started, NOW()) AS blocker_xact_s,
       (SELECT CONCAT(CAST(l.lock_type AS CHAR(16)), ' ', CAST(l.lock_mode AS CHAR(16))) FROM information_schema.INNODB_LOCKS l
         WHERE l.lock_id = w.requested_lock_id LIMIT 1) AS lock_type,
       (SELECT REPLACE(l.lock_table, '`', '') FROM information_schema.INNODB_LOCKS l
         WHERE l.lock_id = w.requested_lock_id LIMIT 1) AS relation
  FROM information_schema.INNODB_LOCK_WAITS w
  JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
  JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id) q
 WHERE DATABASE() IS NULL OR q.relation IS NULL OR LEFT(q.relation, CHAR_LENGTH(DATABASE()) + 1) = CONCAT(DATABASE(), '.')
 ORDER BY wait_s DESC",
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'INNODB_LOCK_WAITS'",
            unavailable: "This server exposes neither performance_schema.data_lock_waits (MySQL 8, needs performance_schema=ON) nor information_schema.INNODB_LOCK_WAITS, so lock waits cannot be listed.",
        }),
        evaluate: blocking_chains,
    },
    Check {
        name: "prepared_xacts",
        engine: E,
        title: "Prepared XA transactions waiting for XA COMMIT/ROLLBACK (XA RECOVER)",
        sql: "XA RECOVER",
        precondition: None,
        evaluate: |rs| super::common::prepared_xacts(rs, Engine::Mysql),
    },
    Check {
        name: "metadata_locks",
        engine: E,
        title: "Statements waiting for a table metadata lock (DDL behind an open transaction)",
        // Without performance_schema's MDL instrument the holder cannot be read exactly: every
        // transaction that touched the table keeps a shared metadata lock until it ends, so the
        // open transactions of the waiter's schema that began before the wait are the holders'
        // candidates, oldest first (MySQL manual §10.11.4 Metadata Locking). Waiters in another
        // database of a shared server are left out.
        sql: "SELECT w.ID AS blocked_pid, LEFT(w.INFO, 500) AS blocked_query, CAST(w.TIME AS SIGNED) AS wait_s,
       t.trx_mysql_thread_id AS blocker_pid, LEFT(COALESCE(t.trx_query, ''), 500) AS blocker_query,
       IF(t.trx_query IS NULL, 'idle in transaction', t.trx_state) AS blocker_state,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS blocker_xact_s,
       'metadata lock' AS lock_type, COALESCE(w.DB, '') AS relation,
       'the oldest transaction open in this schema since before the wait began; every transaction that read or wrote the table holds its metadata lock until it commits or rolls back' AS note
  FROM information_schema.PROCESSLIST w
  JOIN information_schema.INNODB_TRX t
    ON t.trx_mysql_thread_id <> w.ID AND t.trx_started <= NOW() - INTERVAL w.TIME SECOND
  LEFT JOIN information_schema.PROCESSLIST b ON b.ID = t.trx_mysql_thread_id
 WHERE w.STATE LIKE 'Waiting for table metadata lock%'
   AND (b.DB IS NULL OR b.DB = w.DB)
   AND (DATABASE() IS NULL OR w.DB = DATABASE())
 ORDER BY w.TIME DESC, t.trx_started",
        precondition: None,
        evaluate: metadata_locks,
    },
    Check {
        name: "user_locks",
        engine: E,
        title: "Sessions waiting in GET_LOCK for a user-level lock, with the session holding it (IS_USED_LOCK)",
        // A user-level lock (GET_LOCK) belongs to the session, not to a transaction: it is held
        // until RELEASE_LOCK or the end of the session, and no InnoDB view lists it. The waiter's
        // statement names the lock when the name is a literal; IS_USED_LOCK gives its holder
        // (MySQL manual §14.14 Locking Functions; MariaDB KB "GET_LOCK"). Lock names are
        // server-wide, so only waiters whose session is in the target's database count.
        sql: "SELECT q.blocked_pid, q.blocked_query, q.wait_s, COALESCE(q.lock_name, '') AS advisory_key,
       COALESCE(b.ID, 0) AS blocker_pid, LEFT(COALESCE(b.INFO, ''), 500) AS blocker_query,
       IF(b.ID IS NULL, '', IF(b.COMMAND = 'Sleep', 'idle', 'active')) AS blocker_state,
       COALESCE(CAST(b.TIME AS SIGNED), 0) AS blocker_xact_s, COALESCE(b.USER, '') AS blocker_user,
       CONCAT('user lock ', COALESCE(QUOTE(q.lock_name), '(name not in the statement)')) AS lock_type, '' AS relation
  FROM (SELECT w.ID AS blocked_pid, LEFT(w.INFO, 500) AS blocked_query, CAST(w.TIME AS SIGNED) AS wait_s,
               NULLIF(REGEXP_REPLACE(REGEXP_SUBSTR(w.INFO, 'get_lock[[:space:]]*[(][[:space:]]*[''\"][^''\"]*'),
                                     '^[^''\"]*[''\"]', ''), '') AS lock_name
          FROM information_schema.PROCESSLIST w
         WHERE w.STATE = 'User lock' AND (DATABASE() IS NULL OR w.DB = DATABASE())) q
  LEFT JOIN information_schema.PROCESSLIST b ON b.ID = IS_USED_LOCK(q.lock_name)
 ORDER BY q.wait_s DESC",
        // REGEXP_SUBSTR: MariaDB 10.0.5+, MySQL 8.0.4+.
        precondition: Some(Precondition {
            sql: "SELECT VERSION() LIKE '%MariaDB%' OR CAST(SUBSTRING_INDEX(VERSION(), '.', 1) AS UNSIGNED) >= 8",
            unavailable: "This server has no REGEXP_SUBSTR (MySQL before 8.0), so sessions waiting in GET_LOCK cannot be matched to their holder; SELECT IS_USED_LOCK('name') names it.",
        }),
        evaluate: user_locks,
    },
    Check {
        name: "global_locks",
        engine: E,
        title: "Statements waiting for the global read lock, the backup lock, a table flush or a table-level lock, with the sessions that may hold it",
        // The holder of FLUSH TABLES WITH READ LOCK is not in any table without
        // performance_schema's MDL instrument (off by default on MariaDB) or the
        // metadata_lock_info plugin; what the processlist shows is every other session, so the
        // evaluator can name the one whose statement took the lock, or the statement a table
        // flush waits for (MySQL manual §15.7.8.3 FLUSH; MariaDB KB "FLUSH", "BACKUP STAGE").
        sql: "SELECT IF(STATE IN ('Waiting for global read lock', 'Waiting for backup lock', 'Waiting for commit lock',
                         'Waiting for table flush', 'Waiting for table level lock'), 'waiter', 'session') AS kind,
       ID AS pid, USER AS usr, COALESCE(STATE, '') AS state, CAST(TIME AS SIGNED) AS time_s,
       COMMAND AS command, LEFT(COALESCE(INFO, ''), 300) AS query,
       (DATABASE() IS NULL OR DB <=> DATABASE()) AS here
  FROM information_schema.PROCESSLIST
 WHERE ID <> CONNECTION_ID() AND COALESCE(INFO, '') NOT LIKE '/* dbabot diagnostic */%'
   AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Killed')
   AND EXISTS (SELECT 1 FROM information_schema.PROCESSLIST w
                WHERE w.STATE IN ('Waiting for global read lock', 'Waiting for backup lock', 'Waiting for commit lock')
                   OR (w.STATE IN ('Waiting for table flush', 'Waiting for table level lock')
                       AND (DATABASE() IS NULL OR w.DB = DATABASE())))
 ORDER BY time_s DESC",
        precondition: None,
        evaluate: global_locks,
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Sessions sleeping inside an open InnoDB transaction, with the sessions each one blocks (MySQL 8)",
        sql: "SELECT t.trx_mysql_thread_id AS pid, p.USER AS usr, COALESCE(p.HOST, '') AS application,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS age_s, CAST(p.TIME AS SIGNED) AS idle_s,
       COALESCE(LEFT(t.trx_query, 500), '') AS query, t.trx_rows_locked AS rows_locked,
       (SELECT COUNT(*) FROM performance_schema.data_lock_waits w
         WHERE w.BLOCKING_ENGINE_TRANSACTION_ID = t.trx_id) AS blocking
  FROM information_schema.INNODB_TRX t
  JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
 WHERE p.COMMAND = 'Sleep' AND t.trx_mysql_thread_id <> CONNECTION_ID()
   AND (p.DB = DATABASE() OR DATABASE() IS NULL)
 ORDER BY t.trx_started",
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'data_lock_waits' AND @@performance_schema = 1",
            unavailable: "",
        }),
        evaluate: idle_in_transaction,
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Sessions sleeping inside an open InnoDB transaction, with the sessions each one blocks",
        sql: "SELECT t.trx_mysql_thread_id AS pid, p.USER AS usr, COALESCE(p.HOST, '') AS application,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS age_s, CAST(p.TIME AS SIGNED) AS idle_s,
       COALESCE(LEFT(t.trx_query, 500), '') AS query, t.trx_rows_locked AS rows_locked,
       (SELECT COUNT(*) FROM information_schema.INNODB_LOCK_WAITS w WHERE w.blocking_trx_id = t.trx_id) AS blocking
  FROM information_schema.INNODB_TRX t
  JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
 WHERE p.COMMAND = 'Sleep' AND t.trx_mysql_thread_id <> CONNECTION_ID()
   AND (p.DB = DATABASE() OR DATABASE() IS NULL)
 ORDER BY t.trx_started",
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'INNODB_LOCK_WAITS'",
            unavailable: "",
        }),
        evaluate: idle_in_transaction,
    },
    Check {
        name: "idle_in_transaction",
        engine: E,
        title: "Sessions sleeping inside an open InnoDB transaction",
        sql: "SELECT t.trx_mysql_thread_id AS pid, p.USER AS usr, COALESCE(p.HOST, '') AS application,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS age_s, CAST(p.TIME AS SIGNED) AS idle_s,
       COALESCE(LEFT(t.trx_query, 500), '') AS query, t.trx_rows_locked AS rows_locked
  FROM information_schema.INNODB_TRX t
  JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
 WHERE p.COMMAND = 'Sleep' AND t.trx_mysql_thread_id <> CONNECTION_ID()
   AND (p.DB = DATABASE() OR DATABASE() IS NULL)
 ORDER BY t.trx_started",
        precondition: None,
        evaluate: idle_in_transaction,
    },
    Check {
        name: "connections",
        engine: E,
        title: "Connections by user, schema and command",
        sql: "SELECT COMMAND AS state, USER AS usr, COALESCE(DB, '') AS db_name, COUNT(*) AS count,
       CAST(@@max_connections AS SIGNED) AS max_connections,
       USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS own
  FROM information_schema.PROCESSLIST
 GROUP BY COMMAND, USER, DB
 ORDER BY count DESC",
        precondition: None,
        evaluate: connections,
    },
    Check {
        name: "connection_limits",
        engine: E,
        title: "Accounts near MAX_USER_CONNECTIONS or the global max_user_connections (sessions counted by user name)",
        sql: concat!(
            "SELECT 'account' AS scope, CONCAT(QUOTE(u.User), '@', QUOTE(u.Host)) AS name,
       CONCAT(QUOTE(u.User), '@', QUOTE(u.Host)) AS ident, u.User AS user,
       CAST(u.max_user_connections AS SIGNED) AS conn_limit,
       (SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE p.USER = u.User) AS used,
       (SELECT COUNT(*) FROM information_schema.PROCESSLIST) AS server_used,
       CAST(@@max_connections AS SIGNED) AS server_max
  FROM mysql.user u
 WHERE u.max_user_connections > 0
UNION ALL
",
            global_user_connections!(
                "\n   AND NOT EXISTS (SELECT 1 FROM mysql.user u WHERE u.User = p.USER AND u.max_user_connections > 0)"
            )
        ),
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) >= 0 FROM mysql.user",
            unavailable: "",
        }),
        evaluate: connection_limits,
    },
    Check {
        name: "connection_limits",
        engine: E,
        title: "Users near the global max_user_connections (per-account limits need SELECT on mysql.user)",
        sql: global_user_connections!(""),
        precondition: None,
        evaluate: connection_limits,
    },
    Check {
        name: "vacuum_horizon",
        engine: E,
        title: "InnoDB purge: history list length and the oldest open transaction holding it back",
        sql: "SELECT h.history_len, o.holder_id, o.age_s, o.trx_state, o.usr, o.command, o.query
  FROM (SELECT CAST(`COUNT` AS SIGNED) AS history_len
          FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len') h
  LEFT JOIN (SELECT CAST(t.trx_mysql_thread_id AS SIGNED) AS holder_id,
                    CAST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS SIGNED) AS age_s,
                    t.trx_state, COALESCE(p.USER, '') AS usr, COALESCE(p.COMMAND, '') AS command,
                    LEFT(COALESCE(t.trx_query, ''), 300) AS query
               FROM information_schema.INNODB_TRX t
               LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
              WHERE t.trx_mysql_thread_id <> CONNECTION_ID()
              ORDER BY t.trx_started
              LIMIT 1) o ON 1 = 1",
        precondition: None,
        evaluate: vacuum_horizon,
    },
    Check {
        name: "timeouts",
        engine: E,
        title: "Timeouts in effect (MariaDB max_statement_time, global and per account; innodb_lock_wait_timeout)",
        sql: super::timeouts::MARIADB_SQL,
        precondition: Some(Precondition {
            sql: "SELECT VERSION() LIKE '%MariaDB%' AND EXISTS (SELECT 1 FROM mysql.user)",
            unavailable: "",
        }),
        evaluate: timeouts,
    },
    Check {
        name: "timeouts",
        engine: E,
        title: "Timeouts in effect (MariaDB global max_statement_time; per-account limits need SELECT on mysql.user)",
        sql: super::timeouts::MARIADB_GLOBAL_SQL,
        precondition: Some(Precondition {
            sql: "SELECT VERSION() LIKE '%MariaDB%'",
            unavailable: "",
        }),
        evaluate: timeouts,
    },
    Check {
        name: "timeouts",
        engine: E,
        title: "Timeouts in effect (MySQL max_execution_time, innodb_lock_wait_timeout)",
        sql: super::timeouts::MYSQL_SQL,
        precondition: None,
        evaluate: timeouts,
    },
    Check {
        name: "largest_tables",
        engine: E,
        title: "Largest tables (data + indexes, reclaimable space)",
        sql: "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS tbl,
       CAST(DATA_LENGTH + INDEX_LENGTH AS SIGNED) AS size_bytes, CAST(INDEX_LENGTH AS SIGNED) AS index_bytes,
       CAST(TABLE_ROWS AS SIGNED) AS est_rows, CAST(DATA_FREE AS SIGNED) AS free_bytes
  FROM information_schema.TABLES
 WHERE (TABLE_SCHEMA = DATABASE() OR (DATABASE() IS NULL AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema'))) AND TABLE_TYPE = 'BASE TABLE'
 ORDER BY size_bytes DESC
 LIMIT 20",
        precondition: None,
        evaluate: largest_tables,
    },
    Check {
        name: "database_size",
        engine: E,
        title: "Schema sizes",
        sql: "SELECT TABLE_SCHEMA AS database_name, CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) AS size_bytes,
       CAST(SUM(DATA_FREE) AS SIGNED) AS free_bytes, COUNT(*) AS table_count
  FROM information_schema.TABLES
 WHERE (TABLE_SCHEMA = DATABASE() OR (DATABASE() IS NULL AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')))
 GROUP BY TABLE_SCHEMA
 ORDER BY size_bytes DESC",
        precondition: None,
        evaluate: database_size,
    },
    Check {
        name: "tables_without_pk",
        engine: E,
        title: "Tables without a primary key",
        // information_schema shows a table to a login with only column privileges on it, but
        // hides its constraints and the indexes on columns it cannot see; `verifiable` says
        // whether the login holds a table-, schema- or global-level privilege that shows them.
        sql: "SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) AS tbl, CAST(t.TABLE_ROWS AS SIGNED) AS est_rows,
       (EXISTS (SELECT 1 FROM information_schema.TABLE_PRIVILEGES tp
                 WHERE tp.TABLE_SCHEMA = t.TABLE_SCHEMA AND tp.TABLE_NAME = t.TABLE_NAME AND tp.GRANTEE IN (g.me, g.role))
        OR EXISTS (SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES sp
                    WHERE sp.TABLE_SCHEMA = t.TABLE_SCHEMA AND sp.GRANTEE IN (g.me, g.role))
        OR EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES up
                    WHERE up.GRANTEE IN (g.me, g.role)
                      AND up.PRIVILEGE_TYPE IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'REFERENCES', 'INDEX', 'ALTER', 'SHOW VIEW', 'TRIGGER'))) AS verifiable
  FROM information_schema.TABLES t
  CROSS JOIN (SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS me,
                     CONCAT('''', COALESCE(CURRENT_ROLE(), ''), '''') AS role) g
  LEFT JOIN information_schema.TABLE_CONSTRAINTS c
    ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY'
 WHERE t.TABLE_TYPE = 'BASE TABLE' AND (t.TABLE_SCHEMA = DATABASE() OR (DATABASE() IS NULL AND t.TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')))
   AND c.CONSTRAINT_NAME IS NULL
 ORDER BY 3 DESC, 2 DESC, 1",
        precondition: None,
        evaluate: tables_without_pk,
    },
    Check {
        name: "duplicate_indexes",
        engine: E,
        title: "Duplicate indexes (same columns in the same order)",
        sql: "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS tbl, INDEX_NAME AS idx,
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ') AS cols,
       MIN(NON_UNIQUE) = 0 AS is_unique
  FROM information_schema.STATISTICS
 WHERE (TABLE_SCHEMA = DATABASE() OR (DATABASE() IS NULL AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')))
 GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME
 ORDER BY 1, 2",
        precondition: None,
        evaluate: duplicate_indexes,
    },
    Check {
        name: "id_exhaustion",
        engine: E,
        title: "AUTO_INCREMENT columns against the maximum of their integer type (signed / unsigned)",
        sql: "SELECT x.object, x.column_name, x.column_type, CAST(x.current_value AS CHAR) AS current_value,
       CAST(x.max_value AS CHAR) AS max_value, ROUND(100 * x.current_value / x.max_value, 2) AS pct
  FROM (SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) AS object,
               CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME, '.', c.COLUMN_NAME) AS column_name,
               c.COLUMN_TYPE AS column_type,
               t.AUTO_INCREMENT - 1 AS current_value,
               CASE WHEN c.COLUMN_TYPE LIKE '%unsigned%' THEN
                      CASE c.DATA_TYPE WHEN 'tinyint' THEN 255 WHEN 'smallint' THEN 65535
                           WHEN 'mediumint' THEN 16777215 WHEN 'int' THEN 4294967295
                           ELSE 18446744073709551615 END
                    ELSE
                      CASE c.DATA_TYPE WHEN 'tinyint' THEN 127 WHEN 'smallint' THEN 32767
                           WHEN 'mediumint' THEN 8388607 WHEN 'int' THEN 2147483647
                           ELSE 9223372036854775807 END
               END AS max_value
          FROM information_schema.TABLES t
          JOIN information_schema.COLUMNS c
            ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.EXTRA LIKE '%auto_increment%'
         WHERE t.TABLE_SCHEMA = DATABASE() AND t.AUTO_INCREMENT IS NOT NULL) x
 ORDER BY x.current_value / x.max_value DESC
 LIMIT 50",
        precondition: None,
        evaluate: id_exhaustion,
    },
    // Names the user's words can point at; see the PostgreSQL check of the same name.
    Check {
        name: "relations",
        engine: E,
        title: "Tables, views and indexes in this database (names only)",
        sql: "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS name, IF(TABLE_TYPE = 'VIEW', 'view', 'table') AS kind
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE()
UNION ALL
SELECT DISTINCT TABLE_SCHEMA, INDEX_NAME, 'index'
  FROM information_schema.STATISTICS
 WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY'
 ORDER BY 2, 1",
        precondition: None,
        evaluate: |_| Vec::new(),
    },
    Check {
        name: "index_list",
        engine: E,
        title: "Indexes per table",
        sql: "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS tbl, INDEX_NAME AS idx,
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ') AS cols
  FROM information_schema.STATISTICS
 WHERE (TABLE_SCHEMA = DATABASE() OR (DATABASE() IS NULL AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')))
 GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME
 ORDER BY 1, 2",
        precondition: None,
        evaluate: index_list,
    },
    Check {
        name: "unused_indexes",
        engine: E,
        title: "Indexes unused since server start (sys.schema_unused_indexes)",
        sql: "SELECT CONCAT(object_schema, '.', object_name) AS tbl, index_name AS idx,
       (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') AS stats_age_s
  FROM sys.schema_unused_indexes
 WHERE object_schema = DATABASE()
 ORDER BY 1, 2",
        precondition: Some(Precondition {
            sql: "SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sys' AND TABLE_NAME = 'schema_unused_indexes' AND @@performance_schema = 1",
            unavailable: "Index usage needs performance_schema=ON and the sys schema (MySQL 5.7+/MariaDB 10.6+); on this server one of them is missing.",
        }),
        evaluate: unused_indexes,
    },
    Check {
        name: "seq_scans",
        engine: E,
        title: "Statements that used no index (performance_schema digests)",
        sql: "SELECT LEFT(DIGEST_TEXT, 1000) AS query, COUNT_STAR AS calls, SUM_NO_INDEX_USED AS no_index_used,
       SUM_ROWS_EXAMINED AS rows_examined, SUM_ROWS_SENT AS rows_sent
  FROM performance_schema.events_statements_summary_by_digest
 WHERE SUM_NO_INDEX_USED > 0 AND (SCHEMA_NAME = DATABASE() OR DATABASE() IS NULL)
 ORDER BY SUM_ROWS_EXAMINED DESC
 LIMIT 20",
        precondition: Some(PS_ON),
        evaluate: seq_scans,
    },
    // Without performance_schema (MariaDB's default) no statement says which column it filters
    // on; the schema still shows reference-like columns (`*_id`) that no index leads with.
    Check {
        name: "seq_scans",
        engine: E,
        title: "Reference-like columns no index leads with (performance_schema is off)",
        sql: "SELECT CONCAT(c.TABLE_SCHEMA, '.', c.TABLE_NAME) AS tbl, c.TABLE_NAME AS relname,
       c.COLUMN_NAME AS col, t.TABLE_ROWS AS est_rows
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t
    ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE'
 WHERE c.TABLE_SCHEMA = DATABASE() AND c.COLUMN_NAME LIKE '%\\_id'
   AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS s
                    WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME
                      AND s.COLUMN_NAME = c.COLUMN_NAME AND s.SEQ_IN_INDEX = 1)
 ORDER BY t.TABLE_ROWS DESC
 LIMIT 20",
        precondition: Some(Precondition {
            sql: "SELECT @@performance_schema = 0",
            unavailable: "",
        }),
        evaluate: unindexed_references,
    },
    Check {
        name: "top_statements",
        engine: E,
        title: "Top statement digests by total latency (performance_schema)",
        sql: "SELECT LEFT(DIGEST_TEXT, 500) AS query, COUNT_STAR AS calls,
       SUM_TIMER_WAIT / 1000000000 AS total_ms, AVG_TIMER_WAIT / 1000000000 AS mean_ms,
       SUM_ROWS_EXAMINED AS rows_examined
  FROM performance_schema.events_statements_summary_by_digest
 WHERE SCHEMA_NAME = DATABASE() OR DATABASE() IS NULL
 ORDER BY SUM_TIMER_WAIT DESC
 LIMIT 10",
        precondition: Some(PS_ON),
        evaluate: top_statements,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Replica status (MariaDB SHOW ALL SLAVES STATUS)",
        sql: "SHOW ALL SLAVES STATUS",
        precondition: Some(Precondition {
            sql: "SELECT VERSION() LIKE '%MariaDB%'",
            unavailable: "",
        }),
        evaluate: replication,
    },
    Check {
        name: "replication",
        engine: E,
        title: "Replica status (MySQL 8.0.22+ SHOW REPLICA STATUS)",
        sql: "SHOW REPLICA STATUS",
        precondition: None,
        evaluate: replication,
    },
    Check {
        name: "latest_deadlock",
        engine: E,
        title: "The latest InnoDB deadlock: both transactions, their statements and locks (SHOW ENGINE INNODB STATUS)",
        sql: "SHOW ENGINE INNODB STATUS",
        precondition: None,
        evaluate: latest_deadlock,
    },
    Check {
        name: "settings",
        engine: E,
        title: "Key settings review",
        sql: "SELECT 'innodb_buffer_pool_size' AS name, CAST(@@innodb_buffer_pool_size AS CHAR) AS setting
UNION ALL SELECT 'max_connections', CAST(@@max_connections AS CHAR)
UNION ALL SELECT 'slow_query_log', CAST(@@slow_query_log AS CHAR)
UNION ALL SELECT 'long_query_time', CAST(@@long_query_time AS CHAR)
UNION ALL SELECT 'innodb_flush_log_at_trx_commit', CAST(@@innodb_flush_log_at_trx_commit AS CHAR)
UNION ALL SELECT 'sync_binlog', CAST(@@sync_binlog AS CHAR)
UNION ALL SELECT 'log_bin', CAST(@@log_bin AS CHAR)
UNION ALL SELECT 'require_secure_transport', CAST(@@require_secure_transport AS CHAR)
UNION ALL SELECT 'innodb_lock_wait_timeout', CAST(@@innodb_lock_wait_timeout AS CHAR)
UNION ALL SELECT 'performance_schema', CAST(@@performance_schema AS CHAR)",
        precondition: None,
        evaluate: settings,
    },
    Check {
        name: "roles_security",
        engine: E,
        title: "Accounts: SUPER privilege, empty passwords, anonymous and any-host accounts",
        sql: "SELECT CONCAT(User, '@', Host) AS role, User AS user_name, Host AS host,
       BINARY Super_priv = 'Y' AS superuser,
       (LENGTH(authentication_string) = 0 AND BINARY plugin IN ('', 'mysql_native_password', 'caching_sha2_password')) AS empty_password,
       BINARY password_expired = 'Y' AS password_expired
  FROM mysql.user
 ORDER BY 1",
        precondition: None,
        evaluate: roles_security,
    },
    Check {
        name: "backups",
        engine: E,
        title: "Binary log (point-in-time recovery) settings",
        sql: "SELECT CAST(@@log_bin AS SIGNED) AS log_bin, @@binlog_format AS binlog_format, CAST(@@sync_binlog AS SIGNED) AS sync_binlog",
        precondition: None,
        evaluate: backups,
    },
];

/// `temp_spill`: internal temporary tables that went to disk since the server started, from
/// `Created_tmp_disk_tables` / `Created_tmp_tables` (MySQL docs §10.4.4 Internal Temporary Table
/// Use in MySQL; MariaDB KB "Server Status Variables"). Warning from `tmp_disk_tables.warning`
/// percent (25, the MySQLTuner default) with at least `tmp_disk_tables.min_disk_tables` (100) of
/// them; any disk temporary table is info. The in-memory limit is the smaller of tmp_table_size
/// and max_heap_table_size.
fn temp_tables(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("tmp_disk_tables");
    let Some(r) = rs.first() else {
        return Vec::new();
    };
    let disk = r.i64("created_tmp_disk_tables").unwrap_or(0);
    let all = r.i64("created_tmp_tables").unwrap_or(0);
    if disk <= 0 {
        return Vec::new();
    }
    // MariaDB and MySQL count disk temporary tables in Created_tmp_tables too.
    let pct = 100.0 * disk as f64 / all.max(disk) as f64;
    let cap = r
        .i64("tmp_table_size")
        .unwrap_or(0)
        .min(r.i64("max_heap_table_size").unwrap_or(i64::MAX));
    let uptime = human_secs(r.i64("uptime").unwrap_or(0) as f64);
    let summary = format!(
        "{disk} of {} internal temporary tables ({pct:.0}%) were created on disk in the {uptime} since the server started",
        all.max(disk)
    );
    let warn = pct >= limit.value("warning") && disk as f64 >= limit.value("min_disk_tables");
    vec![Finding::new(
        "temp_files",
        "temp_spill",
        if warn { Severity::Warning } else { Severity::Info },
        format!(
            "{summary}; the in-memory limit is {} (the smaller of tmp_table_size and max_heap_table_size)",
            human_bytes(cap)
        ),
    )
    .fact("summary", &summary)
    .fact("disk_tables", disk)
    .fact("pct", format!("{pct:.0}"))
    .fact("setting", "tmp_table_size and max_heap_table_size")
    .fact("setting_value", human_bytes(cap))
    .fact("sort_merge_passes", r.i64("sort_merge_passes").unwrap_or(0))
    .threshold(limit.citation())]
}

fn overview(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let mut out = Vec::new();
    if r.bool("sees_all_sessions") == Some(false) {
        let login = r.str("login");
        let (user, host) = login.rsplit_once('@').unwrap_or((login.as_str(), "%"));
        let grant = format!("GRANT PROCESS ON *.* TO '{user}'@'{host}';");
        out.push(
            Finding::new(
                "overview",
                "privilege_missing",
                Severity::Warning,
                format!("the login {login} sees only its own threads: without PROCESS the processlist, InnoDB transactions and lock waits of other users are hidden from these checks; {grant}"),
            )
            .fact("grant", grant)
            .threshold("SHOW PROCESSLIST and information_schema.PROCESSLIST / INNODB_TRX show other accounts' threads only with PROCESS (MySQL manual §6.2.2 Privileges Provided; MariaDB KB \"GRANT\")"),
        );
    }
    let used = r.i64("connections").unwrap_or(0);
    let max = r.i64("max_connections").unwrap_or(0).max(1);
    let pct = used as f64 * 100.0 / max as f64;
    out.push(
        Finding::new(
            "overview",
            "overview",
            Severity::Ok,
            format!(
                "{} up {}, {used}/{max} connections (peak {})",
                r.str("version"),
                human_secs(r.f64("uptime_s").unwrap_or(0.0)),
                r.str("max_used")
            ),
        )
        .fact("version", r.str("version"))
        .fact("used", used)
        .fact("usable", max)
        .fact("max", max)
        .fact("pct", format!("{pct:.0}")),
    );
    let limit = rs.threshold_for("connections_used");
    if limit.grade(pct) > Severity::Ok {
        out.push(
            Finding::new(
                "overview",
                "connections_high",
                limit.grade(pct),
                format!("{used} of {max} connections in use ({pct:.0}%)"),
            )
            .fact("used", used)
            .fact("max", max)
            .fact("pct", format!("{pct:.0}"))
            .threshold(limit.citation()),
        );
    }
    let req = r.f64("bp_requests").unwrap_or(0.0);
    let disk = r.f64("bp_disk_reads").unwrap_or(0.0);
    let limit = rs.threshold_for("buffer_pool_hit");
    if req >= limit.value("min_block_requests") {
        let hit = 100.0 * (1.0 - disk / req);
        if limit.grade(hit) > Severity::Ok {
            out.push(
                Finding::new(
                    "overview",
                    "cache_hit_low",
                    limit.grade(hit),
                    format!("InnoDB buffer pool hit ratio is {hit:.1}%"),
                )
                .fact("ratio_pct", format!("{hit:.1}"))
                .threshold(limit.citation()),
            );
        }
    }
    if let Some(d) = r.i64("deadlocks").filter(|d| *d > 0) {
        out.push(
            Finding::new(
                "overview",
                "deadlocks_seen",
                Severity::Info,
                format!(
                    "{d} InnoDB deadlock{} since the server started",
                    if d == 1 { "" } else { "s" }
                ),
            )
            .fact("deadlocks", d)
            .fact("database", r.str("db"))
            .fact(
                "since",
                "the server started (InnoDB's counter is server-wide)",
            ),
        );
    }
    out
}

fn active_queries(rs: &ResultSet) -> Vec<Finding> {
    running_statements(rs, Engine::Mysql)
}

fn blocking_chains(rs: &ResultSet) -> Vec<Finding> {
    blocking_pairs("blocking_chains", rs, Engine::Mysql)
}

/// Waiters whose lock has a holder become blocking chains (the holder is the culprit, the
/// remedy names RELEASE_LOCK); a waiter whose statement does not name its lock (a bound
/// parameter) becomes `user_lock_wait`, with the lookups that find the holder.
fn user_locks(rs: &ResultSet) -> Vec<Finding> {
    let (held, unknown): (Vec<_>, Vec<_>) = rs
        .rows
        .iter()
        .zip(rs.iter())
        .partition(|(_, r)| r.i64("blocker_pid").unwrap_or(0) > 0);
    let subset = |rows: Vec<(&Vec<crate::diagnostics::Value>, _)>| ResultSet {
        columns: rs.columns.clone(),
        rows: rows.into_iter().map(|(raw, _)| raw.clone()).collect(),
        truncated: false,
        total: None,
        thresholds: rs.thresholds.clone(),
    };
    let mut out = blocking_pairs("user_locks", &subset(held), Engine::Mysql);
    let lock_wait = rs.threshold_for("lock_wait");
    let unknown = subset(unknown);
    for r in unknown.iter() {
        let wait = r.f64("wait_s").unwrap_or(0.0);
        let name = r.str("advisory_key");
        out.push(
            Finding::new(
                "user_locks",
                "user_lock_wait",
                lock_wait.grade(wait).max(Severity::Warning),
                format!(
                    "thread {} has waited {} in GET_LOCK for user lock {}, which no session holds by that name any more or whose name is not in its statement: {}",
                    r.str("blocked_pid"),
                    human_secs(wait),
                    if name.is_empty() { "(name bound as a parameter)".to_string() } else { format!("'{name}'") },
                    short_query(&r.str("blocked_query"), 200)
                ),
            )
            .fact("blocked_pid", r.str("blocked_pid"))
            .fact("wait_s", format!("{wait:.0}"))
            .fact("blocked_query", short_query(&r.str("blocked_query"), 300))
            .threshold(lock_wait.citation()),
        );
    }
    out
}

/// Only the oldest candidate holder per waiter is reported (the one to end first).
fn metadata_locks(rs: &ResultSet) -> Vec<Finding> {
    let mut seen = std::collections::BTreeSet::new();
    let rows: Vec<Vec<crate::diagnostics::Value>> = rs
        .rows
        .iter()
        .zip(rs.iter())
        .filter(|(_, r)| seen.insert(r.str("blocked_pid")))
        .map(|(raw, _)| raw.clone())
        .collect();
    let first = ResultSet {
        columns: rs.columns.clone(),
        rows,
        truncated: false,
        total: None,
        thresholds: rs.thresholds.clone(),
    };
    blocking_pairs("metadata_locks", &first, Engine::Mysql)
}

/// Sessions queued for a server-wide lock, and who holds it.
///
/// * Global read lock / backup lock / commit lock: taken by `FLUSH TABLES WITH READ LOCK`
///   (backup tools: mysqldump --lock-all-tables or --master-data, mariabackup, xtrabackup) or
///   `BACKUP STAGE`; every write waits until the holder runs UNLOCK TABLES / BACKUP STAGE END or
///   disconnects. The holder is named when its current statement is that command; otherwise
///   the sessions that were there before the first waiter are listed as candidates, said to
///   be unconfirmed, and no KILL is offered.
/// * Table flush: FLUSH TABLES waits for every statement that has the table open, and every new
///   statement on it waits behind the flush; the culprit is the longest statement running since
///   before the flush, which is running, so KILL QUERY is the remedy.
/// * Table-level lock: LOCK TABLES … WRITE or a MyISAM writer.
///
/// Severity as any lock wait (`lock_wait`: a warning, critical from 60 s).
fn global_locks(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("lock_wait");
    let waiters: Vec<_> = rs.iter().filter(|r| r.str("kind") == "waiter").collect();
    let sessions: Vec<_> = rs.iter().filter(|r| r.str("kind") == "session").collect();
    let mut out = Vec::new();
    for (lock, states) in [
        (
            "the global read lock",
            &[
                "Waiting for global read lock",
                "Waiting for backup lock",
                "Waiting for commit lock",
            ][..],
        ),
        ("a table flush", &["Waiting for table flush"][..]),
        ("a table-level lock", &["Waiting for table level lock"][..]),
    ] {
        // A table flush or a table-level lock belongs to one table: only waiters in the
        // target's database count. The global read lock stops writes in every database.
        let server_wide = lock == "the global read lock";
        let mine: Vec<_> = waiters
            .iter()
            .filter(|w| states.contains(&w.str("state").as_str()))
            .filter(|w| server_wide || w.f64("here").unwrap_or(1.0) != 0.0)
            .collect();
        let Some(first) = mine.first() else { continue };
        let wait = first.f64("time_s").unwrap_or(0.0);
        let ids: Vec<String> = mine.iter().map(|w| w.str("pid")).collect();
        let query_of =
            |r: &crate::diagnostics::result::Row<'_>| r.str("query").to_ascii_uppercase();
        let took_it = |q: &str| match lock {
            "the global read lock" => {
                (q.starts_with("FLUSH") && q.contains("READ LOCK")) || q.starts_with("BACKUP STAGE")
            }
            "a table-level lock" => q.starts_with("LOCK TABLE"),
            _ => false,
        };
        let flusher = sessions
            .iter()
            .chain(mine.iter().copied())
            .find(|r| query_of(r).starts_with("FLUSH"))
            .map(|r| r.str("pid"));
        let confirmed = sessions.iter().find(|r| took_it(&query_of(r)));
        // A flush waits for statements running since before it began.
        let runner = (lock == "a table flush")
            .then(|| {
                sessions
                    .iter()
                    .find(|r| r.str("command") == "Query" && r.f64("time_s").unwrap_or(0.0) > wait)
            })
            .flatten();
        let (holder, holder_pid, remedy, remedy_sql) = if let Some(h) = runner {
            let pid = h.str("pid");
            (
                format!("thread {pid} ({}), running for {}: {}", h.str("usr"), human_secs(h.f64("time_s").unwrap_or(0.0)), short_query(&h.str("query"), 200)),
                pid.clone(),
                format!(
                    "Thread {pid} has been running since before the flush began, so the flush{} waits for it and every statement on the table waits behind the flush. Stop that statement (its connection stays), or stop the flush instead if the backup can be rerun:",
                    flusher.as_deref().map(|f| format!(" (thread {f})")).unwrap_or_default()
                ),
                format!("KILL QUERY {pid};"),
            )
        } else if let Some(h) = confirmed {
            let pid = h.str("pid");
            (
                format!("thread {pid} ({}), whose statement is {}", h.str("usr"), short_query(&h.str("query"), 200)),
                pid.clone(),
                format!("Thread {pid} holds {lock}: usually a backup job. If it is not a backup in progress that must finish, end its connection (its lock is released at once; a backup it was taking fails):"),
                format!("KILL CONNECTION {pid};"),
            )
        } else {
            // The holder took the lock just before the first waiter arrived, so the sessions
            // in their current state for a little longer than the longest wait come first
            // (pool connections idle for hours are the least likely).
            let mut before: Vec<_> = sessions
                .iter()
                .filter(|r| r.f64("time_s").unwrap_or(0.0) >= wait)
                .collect();
            before.sort_by(|a, b| {
                a.f64("time_s")
                    .unwrap_or(0.0)
                    .total_cmp(&b.f64("time_s").unwrap_or(0.0))
            });
            let candidates: Vec<String> = before
                .into_iter()
                .take(3)
                .map(|r| {
                    let q = r.str("query");
                    format!(
                        "thread {} ({}, {} for {}{})",
                        r.str("pid"),
                        r.str("usr"),
                        r.str("command"),
                        human_secs(r.f64("time_s").unwrap_or(0.0)),
                        if q.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", short_query(&q, 80))
                        }
                    )
                })
                .collect();
            (
                if candidates.is_empty() {
                    "not visible: the server does not say who holds it without performance_schema's metadata-lock instrument or the metadata_lock_info plugin".to_string()
                } else {
                    format!(
                        "not confirmed (the server does not say who holds it without performance_schema's metadata-lock instrument or the metadata_lock_info plugin); sessions there since before the first wait: {}",
                        candidates.join("; ")
                    )
                },
                String::new(),
                format!("Find the session that ran FLUSH TABLES WITH READ LOCK (or BACKUP STAGE, or LOCK TABLES): most often a backup job, a replica-cloning script or a person in a SQL shell. Ending that session releases {lock}; the waiting threads are victims and killing them does nothing."),
                String::new(),
            )
        };
        let mut f = Finding::new(
            "global_locks",
            "global_lock_wait",
            limit.grade(wait).max(Severity::Warning),
            format!(
                "{} waiting for {lock} (the longest, thread {}, for {}: {}); holder: {holder}",
                if ids.len() == 1 {
                    "1 thread is".to_string()
                } else {
                    format!("{} threads are", ids.len())
                },
                first.str("pid"),
                human_secs(wait),
                short_query(&first.str("query"), 120)
            ),
        )
        .fact("lock", lock)
        .fact("waiting", ids.len())
        .fact("waiters", ids.join(", "))
        .fact("wait_s", format!("{wait:.0}"))
        .fact("holder", &holder)
        .threshold(limit.citation());
        // A KILL only for a holder the evidence names; otherwise the advice without one.
        f = if holder_pid.is_empty() {
            f.fact("remedy_unconfirmed", remedy)
        } else {
            f.fact("holder_pid", holder_pid)
                .fact("remedy", remedy)
                .fact("remedy_sql", remedy_sql)
        };
        out.push(f);
    }
    out
}

fn idle_in_transaction(rs: &ResultSet) -> Vec<Finding> {
    idle_sessions("idle_in_transaction", rs, Engine::Mysql)
}

/// An account's `MAX_USER_CONNECTIONS` or the global `max_user_connections` (MariaDB KB and MySQL
/// manual "Setting Account Resource Limits"): new sessions of that account fail with 1226 / 1203
/// while the server has room. Sessions are counted by user name, so an account limit is compared
/// with every host's sessions of that user (an upper bound). Graded by `connection_limit_used`.
fn connection_limits(rs: &ResultSet) -> Vec<Finding> {
    scoped_connection_limits("connection_limits", rs, Engine::Mysql)
}

fn connections(rs: &ResultSet) -> Vec<Finding> {
    connection_groups("connections", rs)
}

fn timeouts(rs: &ResultSet) -> Vec<Finding> {
    super::timeouts::evaluate("timeouts", rs, Engine::Mysql)
}

/// InnoDB purge falling behind (`purge_lag`): the history list (committed transactions whose
/// undo purge has not removed) past `purge_history` (100,000 warning, 1,000,000 critical;
/// MySQL manual §17.3 and §17.8.9, common operational guidance). The oldest open transaction is
/// named as what purge waits for (its read view keeps every newer row version), with a KILL
/// only when its connection is idle (`Sleep`): killing it rolls its transaction back.
fn vacuum_horizon(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let t = rs.threshold_for("purge_history");
    let len = r.i64("history_len").unwrap_or(0);
    let severity = t.grade(len as f64);
    if severity == Severity::Ok {
        return vec![];
    }
    let age = human_secs(r.f64("age_s").unwrap_or(0.0));
    let (who, title) = match r.i64("holder_id") {
        Some(0) => {
            let who = format!(
                "a prepared XA transaction with no connection (open {age}; XA RECOVER lists it)"
            );
            let title = format!("InnoDB history list length is {len}: purge cannot pass {who}");
            (who, title)
        }
        Some(id) => {
            let state = match r.str("command").as_str() {
                "Sleep" => "idle in its transaction".to_string(),
                "" => r.str("trx_state"),
                c => format!("{c}, {}", r.str("trx_state")),
            };
            let who = format!(
                "connection {id} ({}, transaction open {age}, {state})",
                r.str("usr")
            );
            let title = format!("InnoDB history list length is {len}: the oldest open transaction, {who}, keeps the read view purge has to wait for");
            (who, title)
        }
        None => {
            let who = "no open transaction: purge is behind the write rate".to_string();
            let title = format!("InnoDB history list length is {len} with no open transaction holding it: purge is behind the write rate");
            (who, title)
        }
    };
    let mut f = Finding::new("vacuum_horizon", "purge_lag", severity, title)
        .fact("history_len", len)
        .fact("who", &who)
        .threshold(t.citation());
    if let Some(id) = r.i64("holder_id").filter(|id| *id > 0) {
        f = f.fact("holder_id", id).fact("age", &age);
        let q = r.str("query");
        if !q.is_empty() {
            f = f.fact("query", short_query(&q, 200));
        }
        if r.str("command") == "Sleep" {
            f = f.fact("kill_sql", format!("KILL {id};"));
        }
    }
    vec![f]
}

fn largest_tables(rs: &ResultSet) -> Vec<Finding> {
    let mut out = table_sizes("largest_tables", rs);
    let limit = rs.threshold_for("table_fragmentation");
    for r in rs.iter() {
        let size = r.i64("size_bytes").unwrap_or(0);
        let free = r.i64("free_bytes").unwrap_or(0);
        let free_pct = free as f64 * 100.0 / size.max(1) as f64;
        if size as f64 > limit.value("min_size") && free_pct > limit.value("warning") {
            out.push(
                Finding::new(
                    "largest_tables",
                    "dead_tuples_high",
                    Severity::Info,
                    format!(
                        "{} has {} reclaimable free space ({} total)",
                        r.str("tbl"),
                        human_bytes(free),
                        human_bytes(size)
                    ),
                )
                .fact("table", r.str("tbl"))
                .fact("dead", free)
                .fact("live", size)
                .fact("pct", format!("{:.0}", free as f64 * 100.0 / size as f64))
                .threshold(limit.citation()),
            );
        }
    }
    out
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
                format!(
                    "schema {}: {} in {} tables",
                    r.str("database_name"),
                    human_bytes(size),
                    r.str("table_count")
                ),
            )
            .fact("database", r.str("database_name"))
            .fact("size", human_bytes(size))
            .fact("size_bytes", size)
        })
        .collect()
}

fn tables_without_pk(rs: &ResultSet) -> Vec<Finding> {
    no_pk(
        "tables_without_pk",
        rs,
        "every table should have a primary key: row-based binlog replication, Galera and InnoDB's clustered index need one (MySQL manual §17.5.1.8; MariaDB KB \"Primary Keys with Nullable Columns\")",
    )
}

fn duplicate_indexes(rs: &ResultSet) -> Vec<Finding> {
    duplicate_indexes_by_columns("duplicate_indexes", rs, |t, i| {
        format!("ALTER TABLE {t} DROP INDEX `{i}`;")
    })
}

fn index_list(rs: &ResultSet) -> Vec<Finding> {
    vec![Finding::new(
        "index_list",
        "index_list",
        Severity::Ok,
        format!("{} indexes in this schema", rs.count_phrase()),
    )]
}

/// MySQL 8 caches information_schema.TABLES.AUTO_INCREMENT for
/// `information_schema_stats_expiry` (default 86400 s); MariaDB reads it live.
fn id_exhaustion(rs: &ResultSet) -> Vec<Finding> {
    id_rows(rs, Engine::Mysql)
}

fn unused_indexes(rs: &ResultSet) -> Vec<Finding> {
    rs.iter()
        .map(|r| {
            unused_with_window(
                rs.threshold_for("unused_index"),
                &r,
                None,
                "the server started (performance_schema counts since startup)",
                format!(
                    "ALTER TABLE {} DROP INDEX `{}`;",
                    r.str("tbl"),
                    r.str("idx")
                ),
            )
        })
        .collect()
}

fn seq_scans(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("rows_examined_no_index");
    rs.iter()
        .filter_map(|r| {
            let examined = r.i64("rows_examined").unwrap_or(0);
            let calls = r.i64("calls").unwrap_or(0).max(1);
            if ((examined / calls) as f64) < limit.value("min_rows") {
                return None;
            }
            let query = r.str("query");
            let table = first_table(&query)?;
            let column = where_columns(&query, &table).into_iter().next();
            let mut f = Finding::new(
                "seq_scans",
                "missing_index_candidate",
                Severity::Warning,
                format!(
                    "{} executions examined {} rows without an index ({} per call): {}",
                    calls,
                    examined,
                    examined / calls,
                    short_query(&query, 120)
                ),
            )
            .fact("table", &table)
            .fact("seq_scan", calls)
            .fact("seq_tup_read", examined)
            .fact("idx_scan", 0)
            .fact("rows", examined / calls)
            .threshold(limit.citation());
            let unindexed = first_unindexed(&column.into_iter().collect::<Vec<_>>(), "");
            f = f.fact(
                "scan_filter",
                match &unindexed {
                    Some(c) => format!("The statement filters on {c} and used no index"),
                    None => "Which column the statement filters on is not visible in its digest".to_string(),
                },
            );
            if let Some(c) = unindexed {
                f = f
                    .fact("column", &c)
                    .fact("create_sql", format!("ALTER TABLE {table} ADD INDEX idx_{c} ({c}), ALGORITHM=INPLACE, LOCK=NONE;"));
            }
            Some(f)
        })
        .collect()
}

/// Schema-only missing-index candidates (performance_schema off): a reference-like column of a
/// table of at least `unindexed_reference.min_rows` rows (estimate) that no index leads with. Info
/// only, and phrased as a candidate: no statement shows that queries filter on it, so the fix is
/// to confirm with EXPLAIN first (`next_step` / `next_sql`), never an immediate action.
fn unindexed_references(rs: &ResultSet) -> Vec<Finding> {
    let limit = rs.threshold_for("unindexed_reference");
    rs.iter()
        .filter(|r| r.i64("est_rows").unwrap_or(0) as f64 >= limit.value("min_rows"))
        .take(5)
        .map(|r| {
            let table = r.str("relname");
            let col = r.str("col");
            let rows = r.i64("est_rows").unwrap_or(0);
            Finding::new(
                "seq_scans",
                "missing_index_candidate",
                Severity::Info,
                format!(
                    "{}.{col} looks like a reference column and no index leads with it (~{} rows); with performance_schema off, which statements filter on it is not visible",
                    r.str("tbl"),
                    crate::diagnostics::thousands(rows.max(0) as u64)
                ),
            )
            .fact("table", &table)
            .fact("column", &col)
            .fact("rows", rows)
            .fact(
                "scan_filter",
                format!("{col} looks like a reference column and no index leads with it; the statements that filter on it are not visible with performance_schema off"),
            )
            .fact(
                "next_step",
                format!("If EXPLAIN of the slow query shows type ALL on {table} with {col} in its WHERE clause, index {col} (InnoDB builds it online)"),
            )
            .fact(
                "next_sql",
                format!("ALTER TABLE {table} ADD INDEX idx_{col} ({col}), ALGORITHM=INPLACE, LOCK=NONE;"),
            )
            .threshold(limit.citation())
        })
        .collect()
}

/// One transaction of InnoDB's LATEST DETECTED DEADLOCK section.
#[derive(Debug, Default, Clone, PartialEq)]
struct DeadlockTrx {
    /// `(1)`, `(2)` as InnoDB numbers them.
    number: String,
    thread: String,
    statement: String,
    /// `` `db`.`table` `` of the lock it waited for, and the index.
    table: String,
    index: String,
}

/// Parses the LATEST DETECTED DEADLOCK section of `SHOW ENGINE INNODB STATUS` (MySQL manual
/// §17.17.3 InnoDB Standard Monitor Output; MariaDB KB "SHOW ENGINE INNODB STATUS"): the time,
/// each transaction's thread id, statement and awaited lock, and the victim InnoDB rolled back.
fn parse_latest_deadlock(status: &str) -> Option<(String, Vec<DeadlockTrx>, String)> {
    let start = status.find("LATEST DETECTED DEADLOCK")?;
    let body = &status[start..];
    // The section ends at the next monitor heading (a line of dashes before a title).
    let end = body
        .find("\n------------\nTRANSACTIONS")
        .unwrap_or(body.len());
    let lines: Vec<&str> = body[..end].lines().collect();
    let at = lines
        .iter()
        .skip(1)
        .find(|l| l.len() >= 19 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b' ')
        .map(|l| l[..19].to_string())
        .unwrap_or_default();
    let mut trxs: Vec<DeadlockTrx> = Vec::new();
    let mut victim = String::new();
    // Lock lines under "WAITING FOR THIS LOCK TO BE GRANTED" name the awaited lock; MySQL 8
    // also lists the ones held ("HOLDS THE LOCK(S)") and MariaDB the conflicting ones.
    let mut awaiting = false;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.starts_with("***") {
            awaiting = l.contains("WAITING FOR THIS LOCK");
        }
        if let Some(n) = l
            .strip_prefix("*** (")
            .and_then(|r| r.strip_suffix(") TRANSACTION:"))
        {
            trxs.push(DeadlockTrx {
                number: n.to_string(),
                ..Default::default()
            });
        } else if let Some(t) = trxs.last_mut() {
            if let Some(pos) = l.find(" thread id ") {
                t.thread = l[pos + 11..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
                    .to_string();
                let mut stmt = Vec::new();
                while i + 1 < lines.len() && !lines[i + 1].starts_with("***") {
                    i += 1;
                    stmt.push(lines[i].trim());
                }
                t.statement = stmt.join(" ").trim().to_string();
            } else if awaiting
                && t.table.is_empty()
                && (l.starts_with("RECORD LOCKS") || l.starts_with("TABLE LOCK"))
            {
                if let Some(p) = l.find(" of table ") {
                    t.table = l[p + 10..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                } else if let Some(p) = l.find("table ") {
                    t.table = l[p + 6..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                }
                if let Some(p) = l.find(" index ") {
                    t.index = l[p + 7..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                }
            }
        }
        if let Some(v) = l
            .strip_prefix("*** WE ROLL BACK TRANSACTION (")
            .and_then(|r| r.strip_suffix(')'))
        {
            victim = v.to_string();
        }
        i += 1;
    }
    (!trxs.is_empty()).then_some((at, trxs, victim))
}

/// The latest InnoDB deadlock, named: both statements, the table and index of the awaited row
/// locks, and the victim. Info (InnoDB keeps only the last one and it may be old: its time is in
/// the title); no deadlock recorded since the server started gives nothing.
fn latest_deadlock(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let Some((at, trxs, victim)) = parse_latest_deadlock(&r.str("status")) else {
        return vec![];
    };
    let who = |t: &DeadlockTrx| {
        format!(
            "thread {} ran `{}`{}",
            t.thread,
            short_query(&t.statement, 160),
            if t.table.is_empty() {
                String::new()
            } else {
                format!(
                    " and waited for a lock on {}{}",
                    t.table,
                    if t.index.is_empty() {
                        String::new()
                    } else {
                        format!(" (index {})", t.index)
                    }
                )
            }
        )
    };
    let mut tables: Vec<String> = trxs
        .iter()
        .map(|t| t.table.clone())
        .filter(|t| !t.is_empty())
        .collect();
    tables.dedup();
    let victim_trx = trxs.iter().find(|t| t.number == victim);
    let sides: Vec<String> = trxs.iter().map(who).collect();
    let mut f = Finding::new(
        "latest_deadlock",
        "deadlock_latest",
        Severity::Info,
        format!(
            "the latest deadlock ({at}): {}; InnoDB rolled back {}",
            sides.join("; while "),
            victim_trx
                .map(|t| format!("transaction ({}) of thread {}", t.number, t.thread))
                .unwrap_or_else(|| "one of them".into())
        ),
    )
    .fact("deadlock_at", &at)
    .fact("tables", tables.join(", "))
    .fact("transactions", sides.join("; "))
    .threshold("any deadlock rolls a transaction back (MySQL manual §17.7.5 Deadlocks in InnoDB; MariaDB KB \"InnoDB Lock Modes\")");
    if let Some(v) = victim_trx {
        f = f
            .fact("victim_thread", &v.thread)
            .fact("victim_statement", short_query(&v.statement, 300));
    }
    if let (Some(a), Some(b)) = (trxs.first(), trxs.get(1)) {
        f = f
            .fact("statement_1", short_query(&a.statement, 300))
            .fact("statement_2", short_query(&b.statement, 300));
    }
    vec![f]
}

/// The first table a digest reads (`FROM t` / `FROM db.t`), backticks removed.
fn first_table(query: &str) -> Option<String> {
    let lower = query.to_lowercase();
    let at = lower.find(" from ")? + 6;
    let rest = query[at..].trim_start();
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '`'))
        .filter(|c| *c != '`')
        .collect();
    (!name.is_empty()).then_some(name)
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
                    "{} calls, {total:.0} ms total, {mean:.1} ms mean: {}",
                    r.str("calls"),
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

fn replication(rs: &ResultSet) -> Vec<Finding> {
    // Normalise MariaDB (Slave_/Master_) and MySQL 8 (Replica_/Source_) column names.
    let mapped = ResultSet {
        columns: vec![
            "replica".into(),
            "state".into(),
            "lag_s".into(),
            "lag_bytes".into(),
            "error".into(),
        ],
        rows: rs
            .iter()
            .map(|r| {
                let io = r
                    .any(&["slave_io_running", "replica_io_running"])
                    .to_string();
                let sql = r
                    .any(&["slave_sql_running", "replica_sql_running"])
                    .to_string();
                let running = io.eq_ignore_ascii_case("yes") && sql.eq_ignore_ascii_case("yes");
                let err = [r.str("last_io_error"), r.str("last_sql_error")]
                    .into_iter()
                    .filter(|e| !e.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                let host = r.any(&["master_host", "source_host"]).to_string();
                let name = r.str("connection_name");
                use crate::diagnostics::Value;
                vec![
                    Value::Text(format!(
                        "replica of {host}{}",
                        if name.is_empty() {
                            String::new()
                        } else {
                            format!(" ({name})")
                        }
                    )),
                    Value::Text(if running {
                        "running".into()
                    } else {
                        format!("IO {io}, SQL {sql}")
                    }),
                    r.any(&["seconds_behind_master", "seconds_behind_source"])
                        .clone(),
                    Value::Int(0),
                    Value::Text(if running {
                        String::new()
                    } else if err.is_empty() {
                        "replication threads stopped".into()
                    } else {
                        err
                    }),
                ]
            })
            .collect(),
        truncated: false,
        total: None,
        thresholds: rs.thresholds.clone(),
    };
    replication_rows("replication", &mapped)
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
        match name.as_str() {
            "innodb_buffer_pool_size" => {
                let b = v.parse::<i64>().unwrap_or(0);
                if b <= 128 * 1024 * 1024 {
                    out.push(mk(
                        &name,
                        &human_bytes(b),
                        Severity::Info,
                        "the default; a dedicated server usually wants 50–75% of RAM",
                        "MySQL manual §17.8.3.1",
                    ));
                }
            }
            "slow_query_log" if v == "0" || v.eq_ignore_ascii_case("off") => out.push(mk(
                &name,
                "OFF",
                Severity::Info,
                "slow statements are not logged; enable with long_query_time = 1",
                "MySQL manual §7.4.5 The Slow Query Log",
            )),
            "innodb_flush_log_at_trx_commit" if v != "1" => out.push(mk(
                &name,
                &v,
                Severity::Warning,
                "committed transactions can be lost on a crash; 1 is the ACID setting",
                "MySQL manual §17.14 innodb_flush_log_at_trx_commit",
            )),
            "log_bin" if v == "0" => out.push(mk(
                &name,
                "OFF",
                Severity::Info,
                "no binary log: no point-in-time recovery and no replication from this server",
                "MySQL manual §7.4.4",
            )),
            "require_secure_transport" if v == "0" => out.push(mk(
                &name,
                "OFF",
                Severity::Warning,
                "clients may connect without TLS",
                "MySQL manual §8.3.1",
            )),
            "performance_schema" if v == "0" => out.push(mk(
                &name,
                "OFF",
                Severity::Info,
                "statement digests, lock views and index usage are unavailable",
                "MySQL manual ch. 29 Performance Schema",
            )),
            _ => {}
        }
    }
    out
}

fn roles_security(rs: &ResultSet) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in rs.iter() {
        let role = r.str("role");
        // System accounts (MariaDB `mariadb.sys`, MySQL `mysql.sys`/`mysql.session`/
        // `mysql.infoschema`) are locked by design and never a fix target (MariaDB KB
        // "mariadb.sys user"; MySQL manual §8.2.9 Reserved Accounts).
        let user = r.str("user_name");
        if matches!(
            user.as_str(),
            "mariadb.sys" | "mysql.sys" | "mysql.session" | "mysql.infoschema"
        ) {
            continue;
        }
        // root@localhost is the local administrative account: SUPER is expected there.
        let local_admin = user == "root" && r.str("host") == "localhost";
        if user.is_empty() {
            out.push(Finding::new("roles_security", "anonymous_user", Severity::Warning, format!("anonymous account {role} exists")).fact("role", &role).threshold("remove anonymous accounts (MySQL manual §8.4.1 Securing the Initial MySQL Account; CIS MySQL Benchmark)"));
        }
        if r.bool("empty_password").unwrap_or(false) {
            out.push(Finding::new("roles_security", "empty_password", Severity::Critical, format!("account {role} has an empty password")).fact("role", &role).threshold("every account needs a password or socket authentication (CIS MySQL Benchmark 7.x)"));
        }
        if r.bool("superuser").unwrap_or(false) && !local_admin {
            out.push(Finding::new("roles_security", "superuser_role", if r.str("host") == "%" { Severity::Warning } else { Severity::Info }, format!("account {role} has the SUPER privilege")).fact("role", &role).threshold("limit SUPER/admin privileges to DBAs (MySQL manual §8.2.2; CIS MySQL Benchmark)"));
        }
    }
    out
}

fn backups(rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    if r.i64("log_bin").unwrap_or(0) == 0 {
        return vec![Finding::new("backups", "archiving_off", Severity::Info, "binary logging is off: point-in-time recovery is impossible from this server's own logs (managed services keep their own)")
            .threshold("log_bin = OFF (MySQL manual §9.5 Point-in-Time Recovery)")];
    }
    vec![Finding::new(
        "backups",
        "archiving_ok",
        Severity::Ok,
        format!(
            "binary log on, format {}, sync_binlog {}",
            r.str("binlog_format"),
            r.str("sync_binlog")
        ),
    )]
}

#[cfg(test)]
mod deadlock_tests {
    use super::*;

    /// The LATEST DETECTED DEADLOCK section as MariaDB 10.11 printed it for a real deadlock.
    const MARIADB: &str = include_str!("fixtures/innodb-deadlock-mariadb-10.11.txt");

    /// The same shape as MySQL 8.0 prints it (MySQL manual §17.17.3; "MySQL thread id").
    const MYSQL8: &str = "------------------------
LATEST DETECTED DEADLOCK
------------------------
2026-11-30 09:12:01 140207218325248
*** (1) TRANSACTION:
TRANSACTION 2078, ACTIVE 9 sec starting index read
mysql tables in use 1, locked 1
LOCK WAIT 3 lock struct(s), heap size 1128, 2 row lock(s), undo log entries 1
MySQL thread id 21, OS thread handle 140206875866880, query id 188 localhost app updating
UPDATE payments
   SET state = 'done' WHERE id = 7
*** (1) HOLDS THE LOCK(S):
RECORD LOCKS space id 4 page no 4 n bits 72 index PRIMARY of table `shop`.`orders` trx id 2078 lock_mode X locks rec but not gap
*** (1) WAITING FOR THIS LOCK TO BE GRANTED:
RECORD LOCKS space id 5 page no 4 n bits 72 index PRIMARY of table `shop`.`payments` trx id 2078 lock_mode X locks rec but not gap waiting
*** (2) TRANSACTION:
TRANSACTION 2079, ACTIVE 5 sec starting index read
MySQL thread id 22, OS thread handle 140206875600640, query id 190 localhost app updating
UPDATE orders SET state = 'paid' WHERE id = 3
*** (2) HOLDS THE LOCK(S):
RECORD LOCKS space id 5 page no 4 n bits 72 index PRIMARY of table `shop`.`payments` trx id 2079 lock_mode X locks rec but not gap
*** (2) WAITING FOR THIS LOCK TO BE GRANTED:
RECORD LOCKS space id 4 page no 4 n bits 72 index PRIMARY of table `shop`.`orders` trx id 2079 lock_mode X locks rec but not gap waiting
*** WE ROLL BACK TRANSACTION (2)
------------
TRANSACTIONS
------------
";

    #[test]
    fn mariadb_deadlock_record_is_read() {
        let (at, trxs, victim) = parse_latest_deadlock(MARIADB).expect("a deadlock");
        assert_eq!(at.len(), 19, "{at}");
        assert_eq!(trxs.len(), 2);
        assert!(
            trxs[0].statement.starts_with("UPDATE ledger_accounts SET"),
            "{trxs:?}"
        );
        assert!(
            trxs.iter()
                .all(|t| t.table.ends_with(".`ledger_accounts`") && t.index == "PRIMARY"),
            "{trxs:?}"
        );
        assert!(trxs.iter().all(|t| !t.thread.is_empty()), "{trxs:?}");
        assert_eq!(victim, "1");
    }

    /// MySQL 8 lists the locks each transaction holds before the one it waits for: the table
    /// named is the awaited one, and a statement over several lines is joined.
    #[test]
    fn mysql8_deadlock_record_names_the_awaited_tables() {
        let (at, trxs, victim) = parse_latest_deadlock(MYSQL8).expect("a deadlock");
        assert_eq!(at, "2026-11-30 09:12:01");
        assert_eq!(trxs[0].thread, "21");
        assert_eq!(
            trxs[0].statement,
            "UPDATE payments SET state = 'done' WHERE id = 7"
        );
        assert_eq!(trxs[0].table, "`shop`.`payments`");
        assert_eq!(trxs[1].table, "`shop`.`orders`");
        assert_eq!(victim, "2");
        let rs = ResultSet::new(
            &["Type", "Name", "Status"],
            vec![vec![
                crate::diagnostics::Value::Text("InnoDB".into()),
                crate::diagnostics::Value::Text(String::new()),
                crate::diagnostics::Value::Text(MYSQL8.into()),
            ]],
        );
        let f = latest_deadlock(&rs);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].facts.get("victim_thread").map(String::as_str),
            Some("22")
        );
        assert!(f[0].title.contains("thread 22"), "{}", f[0].title);
    }

    #[test]
    fn no_deadlock_section_gives_nothing() {
        assert!(parse_latest_deadlock("=====\nBACKGROUND THREAD\n-----\n").is_none());
    }
}
