//! What the Rust code provides to the catalog: engine tags, clouds, finding codes and their facts.
//!
//! `intents/*.toml` is checked against these tables when it loads, so a typo in a `when`, an
//! `engine`, a `cloud` or a `{fact}` placeholder fails loading with the file, line and key instead
//! of silently hiding a step. The finding table in `intents/README.md` is checked against
//! [`FINDINGS`] by a unit test.

/// Engine tags a playbook line, rule citation or error-code entry may declare, with what each
/// covers. `mysql` is the whole MySQL family (MySQL and MariaDB); `mariadb` and `mysql-only` are
/// its two flavours where they differ (the server's `VERSION()` decides, see
/// [`crate::intents::Scope::detect`]); `server` is every client/server engine (all but SQLite).
pub const ENGINE_TAGS: &[(&str, &str)] = &[
    ("postgres", "PostgreSQL"),
    ("mysql", "MySQL and MariaDB"),
    ("mariadb", "MariaDB only"),
    ("mysql-only", "MySQL (Oracle) only, not MariaDB"),
    ("sqlite", "SQLite"),
    ("mssql", "SQL Server and Azure SQL"),
    ("oracle", "Oracle Database"),
    ("db2", "IBM Db2"),
    ("server", "every client/server engine (all but SQLite)"),
];

/// Cloud keys of playbook `cloud` tables and step `cloud` tags (`on-prem` is accepted for `onprem`).
pub const CLOUDS: &[&str] = &["aws", "azure", "gcp", "onprem"];

/// Every finding code a diagnostic (or the runner) emits, with the facts playbook text may use
/// as `{fact}` placeholders in a step whose `when` is that code. Facts listed are the ones every
/// engine that emits the code provides; see the per-engine notes in `intents/README.md`.
pub const FINDINGS: &[(&str, &[&str])] = &[
    ("overview", &["version"]),
    ("connections_high", &["used", "max", "pct"]),
    ("cache_hit_low", &["ratio_pct"]),
    ("deadlocks_seen", &["deadlocks", "database"]),
    (
        "long_running_query",
        &["pid", "user", "duration_s", "state", "wait_event", "query"],
    ),
    (
        "blocking_chain",
        &[
            "blocked_pid",
            "blocker_pid",
            "wait_s",
            "lock_type",
            "blocked_query",
            "blocker_query",
            "blocker_state",
            "head_pid",
            "remedy",
            "remedy_sql",
        ],
    ),
    (
        "idle_in_transaction",
        &[
            "pid",
            "user",
            "age_s",
            "query",
            "blocking",
            "owner_advice",
            "terminate_sql",
        ],
    ),
    ("lock_wait", &["pid", "duration_s", "blocked_by", "query"]),
    (
        "id_exhaustion",
        &[
            "object",
            "current_value",
            "max_value",
            "pct",
            "fix_text",
            "fix_sql",
        ],
    ),
    (
        "autovacuum_disabled",
        &["table", "dead", "pct", "server_wide"],
    ),
    ("connections_by_state", &["state", "count"]),
    ("large_table", &["table", "size", "size_bytes", "rows"]),
    (
        "dead_tuples_high",
        &["table", "dead", "live", "pct", "last_autovacuum"],
    ),
    ("xid_age_high", &["database", "age", "pct"]),
    (
        "unused_index",
        &["index", "table", "size", "scans", "drop_sql"],
    ),
    (
        "duplicate_index",
        &["index", "duplicate_of", "table", "columns", "drop_sql"],
    ),
    ("invalid_index", &["index", "table"]),
    (
        "missing_index_candidate",
        &[
            "table",
            "column",
            "seq_scan",
            "seq_tup_read",
            "idx_scan",
            "rows",
            "create_sql",
        ],
    ),
    ("top_statement", &["query", "calls", "total_ms", "mean_ms"]),
    ("replication_lag", &["replica", "lag_bytes", "lag_s"]),
    ("replication_ok", &["replica", "lag_bytes", "lag_s"]),
    ("replication_none", &[]),
    ("replication_broken", &["replica", "error"]),
    ("setting_review", &["name", "value", "advice"]),
    ("superuser_role", &["role"]),
    ("password_no_expiry", &["role"]),
    ("anonymous_user", &["role"]),
    ("empty_password", &["role"]),
    ("table_without_pk", &["table"]),
    ("database_size", &["size", "size_bytes"]),
    ("freelist_high", &["free_pages", "pct"]),
    ("index_list", &[]),
    ("integrity_error", &["detail"]),
    ("integrity_ok", &[]),
    ("archiving_failing", &["failed_count", "last_failed_wal"]),
    ("archiving_off", &[]),
    ("archiving_ok", &[]),
    ("resource_pressure", &["resource", "avg_pct", "max_pct"]),
    ("resource_summary", &[]),
    ("memory_grants_pending", &["pending"]),
    (
        "database_near_max_size",
        &["database", "size", "max_size", "pct"],
    ),
    (
        "long_transaction",
        &["pid", "user", "age_s", "log_bytes", "query"],
    ),
    (
        "memory_grant_pending",
        &["pid", "requested_kb", "wait_ms", "query"],
    ),
    (
        "memory_grant_excessive",
        &["pid", "granted_kb", "used_kb", "query"],
    ),
    (
        "top_wait",
        &["wait_type", "pct", "avg_ms", "wait_s", "meaning"],
    ),
    ("query_store_off", &["database", "enable_sql"]),
    ("query_store_readonly", &["database", "readonly_reason"]),
    ("query_store_full_soon", &["database", "pct"]),
    ("query_store_ok", &[]),
    (
        "index_fragmented",
        &["table", "index", "frag_pct", "pages", "fix_sql"],
    ),
    ("database_not_online", &["database", "state"]),
    ("file_full", &["file", "pct"]),
    ("file_near_max_size", &["file", "pct"]),
    ("autogrowth_percent", &["file", "fix_sql"]),
    ("disk_space_low", &["file", "free", "pct"]),
    (
        "log_space_high",
        &["database", "pct", "log_reuse_wait", "recovery_model"],
    ),
    ("log_reuse_wait", &["database", "log_reuse_wait", "pct"]),
    ("vlf_count_high", &["database", "vlf_count"]),
    ("tempdb_usage", &["pct"]),
    ("tempdb_usage_high", &["pct", "pid"]),
    (
        "tempdb_version_store_large",
        &["version_store", "oldest_snapshot_tx_s"],
    ),
    ("tempdb_file_count", &["files", "cpus"]),
    ("backup_missing", &["database", "backup_sql"]),
    ("backup_stale", &["database", "full_age_h"]),
    ("log_backup_missing", &["database", "recovery_model"]),
    ("log_backup_stale", &["database", "log_age_h"]),
    ("recovery_model_simple", &["database"]),
    ("backups_ok", &["database"]),
    ("backup_history_unavailable", &["database"]),
    ("sa_enabled", &["role", "fix_sql"]),
    ("password_policy_off", &["role", "fix_sql"]),
    ("tde_off", &["database"]),
    ("tde_in_progress", &["database"]),
    ("unencrypted_connections", &["count"]),
    ("check_failed", &["check", "error"]),
    ("check_unavailable", &["check", "error"]),
];

/// The facts of a finding code, or `None` for a code no diagnostic emits.
pub fn facts_of(code: &str) -> Option<&'static [&'static str]> {
    FINDINGS.iter().find(|(c, _)| *c == code).map(|(_, f)| *f)
}

/// Whether `tag` is a known engine tag.
pub fn is_engine_tag(tag: &str) -> bool {
    ENGINE_TAGS.iter().any(|(t, _)| *t == tag)
}

/// Engines an error-code entry may name: the concrete engines (no family or group tags).
pub const CODE_ENGINES: &[&str] = &[
    "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle", "db2",
];

/// Playbook cloud key for a cloud name (`on-prem` → `onprem`).
pub fn cloud_key(c: &str) -> &str {
    match c {
        "on-prem" | "onprem" => "onprem",
        other => other,
    }
}
