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
    (
        "unknown",
        "only while the engine is not known: lines that compare engines",
    ),
];

/// Cloud keys of playbook `cloud` tables and step `cloud` tags (`on-prem` is accepted for `onprem`).
pub const CLOUDS: &[&str] = &["aws", "azure", "gcp", "onprem"];

/// A finding code a diagnostic (or the runner) emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    /// Facts playbook text may use as `{fact}` placeholders in a step whose `when` is this code:
    /// the ones every engine that emits the code provides.
    pub facts: &'static [&'static str],
    /// Engines (config names) whose diagnostics emit it.
    pub engines: &'static [&'static str],
}

/// Every finding code a diagnostic (or the runner) emits; see the per-engine notes in
/// `intents/README.md`, whose finding table a unit test checks against this one.
pub const FINDINGS: &[Finding] = &[
    Finding {
        code: "overview",
        facts: &["version"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "connections_high",
        facts: &["used", "max", "pct"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "cache_hit_low",
        facts: &["ratio_pct"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "deadlocks_seen",
        facts: &["deadlocks", "database", "since"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "deadlock_latest",
        facts: &[
            "deadlock_at",
            "tables",
            "transactions",
            "victim_thread",
            "victim_statement",
            "statement_1",
            "statement_2",
        ],
        engines: &["mysql"],
    },
    Finding {
        code: "long_running_query",
        facts: &["pid", "user", "duration_s", "state", "wait_event", "query"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "checkpoint_pressure",
        facts: &[
            "requested",
            "timed",
            "pct",
            "max_wal_size",
            "checkpoint_timeout",
            "raise_sql",
            "verify_sql",
        ],
        engines: &["postgres"],
    },
    Finding {
        code: "purge_lag",
        facts: &[
            "history_len",
            "who",
            "holder_id",
            "age",
            "query",
            "kill_sql",
        ],
        engines: &["mysql"],
    },
    Finding {
        code: "timeout_in_effect",
        facts: &[
            "setting",
            "value",
            "value_ms",
            "scope",
            "place",
            "error",
            "reset_sql",
        ],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "scoped_connection_limit",
        facts: &[
            "scope",
            "name",
            "used",
            "limit",
            "pct",
            "server_free",
            "raise_sql",
            "holders_sql",
        ],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "connections_refused_full",
        facts: &["error", "scope"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "global_lock_wait",
        facts: &[
            "lock",
            "waiting",
            "waiters",
            "wait_s",
            "holder",
            "holder_pid",
            "remedy",
            "remedy_sql",
            "remedy_unconfirmed",
        ],
        engines: &["mysql"],
    },
    Finding {
        code: "stats_missing",
        facts: &["table", "rows", "last_analyze", "analyze_sql"],
        engines: &["postgres"],
    },
    Finding {
        code: "stats_stale",
        facts: &["table", "modified", "last_analyze", "analyze_sql"],
        engines: &["postgres"],
    },
    Finding {
        code: "named_column_unindexed",
        facts: &["table", "column", "rows", "create_sql"],
        engines: &["postgres", "mysql", "sqlite"],
    },
    Finding {
        code: "temp_spill",
        facts: &["summary", "setting", "setting_value"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "fk_without_index",
        facts: &[
            "table",
            "columns",
            "parent",
            "constraint",
            "rows",
            "parent_deletes",
            "impact",
            "create_sql",
        ],
        engines: &["postgres"],
    },
    Finding {
        code: "stats_missing_everywhere",
        facts: &["tables"],
        engines: &["postgres"],
    },
    Finding {
        code: "prepared_xact_blocker",
        facts: &[
            "blocked_pid",
            "wait_s",
            "waiting",
            "held",
            "blocker",
            "gid",
            "lock_type",
            "relation",
            "blocked_query",
            "remedy",
            "remedy_sql",
        ],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "prepared_xact",
        facts: &["xid", "rollback_sql", "commit_sql"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "blocking_chain",
        facts: &[
            "blocked_pid",
            "blocker_pid",
            "wait_s",
            "lock_type",
            "advisory_key",
            "relation",
            "blocked_query",
            "blocker_query",
            "blocker_state",
            "head_pid",
            "remedy",
            "remedy_sql",
        ],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "user_lock_wait",
        facts: &["blocked_pid", "wait_s", "blocked_query"],
        engines: &["mysql"],
    },
    Finding {
        code: "running_query",
        facts: &["pid", "user", "duration_s", "query"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "xid_age",
        facts: &["database", "age", "pct", "freeze_max_age"],
        engines: &["postgres"],
    },
    Finding {
        code: "id_headroom",
        facts: &["object", "current_value", "max_value", "pct"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "unused_index_unproven",
        facts: &["index", "table"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "invalid_unique_index",
        facts: &["index", "table", "columns", "fix_text", "fix_sql"],
        engines: &["postgres"],
    },
    Finding {
        code: "bootstrap_superuser",
        facts: &["role"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "lock_wait",
        facts: &["pid", "duration_s", "blocked_by", "query"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "id_exhaustion",
        facts: &[
            "object",
            "current_value",
            "max_value",
            "pct",
            "fix_text",
            "fix_sql",
        ],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "autovacuum_disabled",
        facts: &["table", "dead", "pct", "server_wide"],
        engines: &["postgres"],
    },
    Finding {
        code: "idle_in_transaction",
        facts: &[
            "pid",
            "user",
            "age_s",
            "query",
            "blocking",
            "owner_advice",
            "terminate_sql",
        ],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "connections_by_state",
        facts: &["state", "count", "who"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "large_table",
        facts: &["table", "size", "size_bytes", "rows"],
        engines: &["postgres", "mysql", "sqlite"],
    },
    Finding {
        code: "dead_tuples_high",
        facts: &["table", "dead", "live", "pct", "last_autovacuum"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "xid_age_high",
        facts: &["database", "age", "pct"],
        engines: &["postgres"],
    },
    Finding {
        code: "unused_index",
        facts: &["index", "table", "size", "scans", "drop_sql"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "duplicate_index",
        facts: &["index", "duplicate_of", "table", "columns", "drop_sql"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "invalid_index",
        facts: &["index", "table"],
        engines: &["postgres"],
    },
    Finding {
        code: "missing_index_candidate",
        facts: &[
            "table",
            "column",
            "scan_filter",
            "seq_scan",
            "seq_tup_read",
            "idx_scan",
            "rows",
            "create_sql",
        ],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "top_statement",
        facts: &["query", "calls", "total_ms", "mean_ms"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "replication_lag",
        facts: &["replica", "lag_bytes", "lag_s"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "replication_ok",
        facts: &["replica", "lag_bytes", "lag_s"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "replication_none",
        facts: &[],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "replication_broken",
        facts: &["replica", "error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "setting_review",
        facts: &["name", "value", "advice"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "superuser_role",
        facts: &["role"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "password_no_expiry",
        facts: &["role"],
        engines: &["postgres", "mssql"],
    },
    Finding {
        code: "anonymous_user",
        facts: &["role"],
        engines: &["mysql"],
    },
    Finding {
        code: "empty_password",
        facts: &["role"],
        engines: &["mysql"],
    },
    Finding {
        code: "table_without_pk",
        facts: &["table"],
        engines: &["postgres", "mysql", "sqlite"],
    },
    Finding {
        code: "slot_retaining_wal",
        facts: &["slot", "retained", "retained_bytes", "active"],
        engines: &["postgres"],
    },
    Finding {
        code: "xmin_horizon_held",
        facts: &[
            "who",
            "holder",
            "holder_kind",
            "xmin_age",
            "held",
            "pid",
            "query",
        ],
        engines: &["postgres"],
    },
    Finding {
        code: "connect_refused",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "connect_timeout",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "connect_unresolved",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "connect_tls",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "sqlite_cannot_open",
        facts: &["why", "error"],
        engines: &["sqlite"],
    },
    Finding {
        code: "connect_wrong_service",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "connect_no_handshake",
        facts: &["error"],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "connect_login_rejected",
        facts: &["error"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "server_answers",
        facts: &["checks", "slowest_ms"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "nothing_running",
        facts: &[],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "privilege_missing",
        facts: &["grant", "table"],
        engines: &["postgres", "mysql", "mssql"],
    },
    Finding {
        code: "database_size",
        facts: &["size", "size_bytes"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "fk_orphans",
        facts: &[
            "table",
            "column",
            "parent",
            "parent_column",
            "orphans",
            "list_sql",
        ],
        engines: &["sqlite"],
    },
    Finding {
        code: "fk_ok",
        facts: &["declared"],
        engines: &["sqlite"],
    },
    Finding {
        code: "sqlite_lock_held",
        facts: &["blocker", "pid", "lock", "file", "since", "effect"],
        engines: &["sqlite"],
    },
    Finding {
        code: "sqlite_hot_journal",
        facts: &["file", "journal_size"],
        engines: &["sqlite"],
    },
    Finding {
        code: "sqlite_no_lock",
        facts: &["file", "mode"],
        engines: &["sqlite"],
    },
    Finding {
        code: "sqlite_wal_large",
        facts: &["file", "wal_size", "reader"],
        engines: &["sqlite"],
    },
    Finding {
        code: "freelist_high",
        facts: &["free_pages", "pct"],
        engines: &["sqlite"],
    },
    Finding {
        code: "index_list",
        facts: &[],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "integrity_error",
        facts: &["detail", "index", "reindex_sql"],
        engines: &["postgres", "sqlite"],
    },
    Finding {
        code: "integrity_ok",
        facts: &[],
        engines: &["postgres", "sqlite"],
    },
    Finding {
        code: "checksums_off",
        facts: &[],
        engines: &["postgres"],
    },
    Finding {
        code: "archiving_failing",
        facts: &["failed_count", "last_failed_wal"],
        engines: &["postgres"],
    },
    Finding {
        code: "archiving_off",
        facts: &[],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "archiving_ok",
        facts: &[],
        engines: &["postgres", "mysql"],
    },
    Finding {
        code: "resource_pressure",
        facts: &["resource", "avg_pct", "max_pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "resource_summary",
        facts: &[],
        engines: &["mssql"],
    },
    Finding {
        code: "memory_grants_pending",
        facts: &["pending"],
        engines: &["mssql"],
    },
    Finding {
        code: "database_near_max_size",
        facts: &["database", "size", "max_size", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "long_transaction",
        facts: &["pid", "user", "age_s", "log_bytes", "query"],
        engines: &["mssql"],
    },
    Finding {
        code: "memory_grant_pending",
        facts: &["pid", "requested_kb", "wait_ms", "query"],
        engines: &["mssql"],
    },
    Finding {
        code: "memory_grant_excessive",
        facts: &["pid", "granted_kb", "used_kb", "query"],
        engines: &["mssql"],
    },
    Finding {
        code: "top_wait",
        facts: &["wait_type", "pct", "avg_ms", "wait_s", "meaning"],
        engines: &["mssql"],
    },
    Finding {
        code: "query_store_off",
        facts: &["database", "enable_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "query_store_readonly",
        facts: &["database", "readonly_reason"],
        engines: &["mssql"],
    },
    Finding {
        code: "query_store_full_soon",
        facts: &["database", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "query_store_ok",
        facts: &[],
        engines: &["mssql"],
    },
    Finding {
        code: "index_fragmented",
        facts: &["table", "index", "frag_pct", "pages", "fix_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "database_not_online",
        facts: &["database", "state"],
        engines: &["mssql"],
    },
    Finding {
        code: "file_full",
        facts: &["file", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "file_near_max_size",
        facts: &["file", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "autogrowth_percent",
        facts: &["file", "fix_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "disk_space_low",
        facts: &["file", "free", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "log_space_high",
        facts: &["database", "pct", "log_reuse_wait", "recovery_model"],
        engines: &["mssql"],
    },
    Finding {
        code: "log_reuse_wait",
        facts: &["database", "log_reuse_wait", "pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "vlf_count_high",
        facts: &["database", "vlf_count"],
        engines: &["mssql"],
    },
    Finding {
        code: "tempdb_usage",
        facts: &["pct"],
        engines: &["mssql"],
    },
    Finding {
        code: "tempdb_usage_high",
        facts: &["pct", "pid"],
        engines: &["mssql"],
    },
    Finding {
        code: "tempdb_version_store_large",
        facts: &["version_store", "oldest_snapshot_tx_s"],
        engines: &["mssql"],
    },
    Finding {
        code: "tempdb_file_count",
        facts: &["files", "cpus"],
        engines: &["mssql"],
    },
    Finding {
        code: "backup_missing",
        facts: &["database", "backup_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "backup_stale",
        facts: &["database", "full_age_h"],
        engines: &["mssql"],
    },
    Finding {
        code: "log_backup_missing",
        facts: &["database", "recovery_model"],
        engines: &["mssql"],
    },
    Finding {
        code: "log_backup_stale",
        facts: &["database", "log_age_h"],
        engines: &["mssql"],
    },
    Finding {
        code: "recovery_model_simple",
        facts: &["database"],
        engines: &["mssql"],
    },
    Finding {
        code: "backups_ok",
        facts: &["database"],
        engines: &["mssql"],
    },
    Finding {
        code: "backup_history_unavailable",
        facts: &["database"],
        engines: &["mssql"],
    },
    Finding {
        code: "sa_enabled",
        facts: &["role", "fix_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "password_policy_off",
        facts: &["role", "fix_sql"],
        engines: &["mssql"],
    },
    Finding {
        code: "tde_off",
        facts: &["database"],
        engines: &["mssql"],
    },
    Finding {
        code: "tde_in_progress",
        facts: &["database"],
        engines: &["mssql"],
    },
    Finding {
        code: "unencrypted_connections",
        facts: &["count"],
        engines: &["mssql"],
    },
    Finding {
        code: "check_failed",
        facts: &["check", "error"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
    Finding {
        code: "check_unavailable",
        facts: &["check", "error"],
        engines: &["postgres", "mysql", "sqlite", "mssql"],
    },
];

/// The facts of a finding code, or `None` for a code no diagnostic emits.
pub fn facts_of(code: &str) -> Option<&'static [&'static str]> {
    FINDINGS.iter().find(|f| f.code == code).map(|f| f.facts)
}

/// Whether `tag` is a known engine tag.
pub fn is_engine_tag(tag: &str) -> bool {
    ENGINE_TAGS.iter().any(|(t, _)| *t == tag)
}

/// Engines an error-code entry may name: the concrete engines (no family or group tags).
pub const CODE_ENGINES: &[&str] = &[
    "postgres",
    "mysql",
    "mariadb",
    "mysql-only",
    "sqlite",
    "mssql",
    "oracle",
    "db2",
];

/// Playbook cloud key for a cloud name (`on-prem` → `onprem`).
pub fn cloud_key(c: &str) -> &str {
    match c {
        "on-prem" | "onprem" => "onprem",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The finding table in `intents/README.md` names exactly the registered codes.
    #[test]
    fn readme_finding_table_matches_the_registry() {
        let readme = include_str!("../../intents/README.md");
        let start = readme
            .find("## Finding codes")
            .expect("README has the finding table");
        let mut documented = BTreeSet::new();
        for line in readme[start..].lines().filter(|l| l.starts_with("| `")) {
            let first = line.split('|').nth(1).unwrap_or_default();
            for part in first.split('`').skip(1).step_by(2) {
                documented.insert(part.to_string());
            }
        }
        let registered: BTreeSet<String> = FINDINGS.iter().map(|f| f.code.to_string()).collect();
        let missing: Vec<_> = registered.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&registered).collect();
        assert!(
            missing.is_empty(),
            "registered but not in README: {missing:?}"
        );
        assert!(
            unknown.is_empty(),
            "in README but not registered: {unknown:?}"
        );
    }

    /// Every emitting engine is a config engine name, every code unique.
    #[test]
    fn registry_is_consistent() {
        let mut seen = BTreeSet::new();
        for f in FINDINGS {
            assert!(seen.insert(f.code), "{} twice", f.code);
            assert!(!f.engines.is_empty(), "{} has no emitter", f.code);
            for e in f.engines {
                assert!(["postgres", "mysql", "sqlite", "mssql"].contains(e), "{e}");
            }
        }
        for t in [
            "postgres",
            "mysql",
            "mariadb",
            "mysql-only",
            "sqlite",
            "mssql",
            "server",
        ] {
            assert!(is_engine_tag(t));
        }
        assert!(!is_engine_tag("postgress"));
    }
}
