//! Safety rules applied to every rule-based answer, whatever the playbook says.
//!
//! * The head of a blocking chain is the culprit; waiting sessions (victims) are never the
//!   target of cancel/terminate/KILL advice.
//! * An index in a duplicate set is never also advised as "unused": dropping the duplicate and
//!   then the "unused" original would remove every index on those columns.
//! * The bootstrap superuser and system accounts (`postgres`, `mariadb.sys`, `mysql.sys`,
//!   `mysql.session`, `mysql.infoschema`, `root@localhost`) are never the object of a fix.
//! * No step is shown with an unfilled placeholder (`{pid}` without a value, `n/a`, `unknown`).
//! * A closing line that says "nothing is flagged" is dropped when something is.
//! * When the checks do not confirm the premise of the question, the situation says so with the
//!   measured figure.

use crate::diagnostics::Finding;
use crate::recommend::Action;
use dbabot_chat::Severity;
use std::collections::{BTreeMap, BTreeSet};

/// Values that mean "not known" and must never be shown as if they were a fact.
const NOT_A_VALUE: &[&str] = &["", "n/a", "unknown", "?", "none", "null"];

/// True when `text` has a `{name}` placeholder that `vars` does not fill with a real value.
pub fn has_unfilled(text: &str, vars: &BTreeMap<String, String>) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let missing = vars
                .get(name)
                .is_none_or(|v| NOT_A_VALUE.contains(&v.trim().to_ascii_lowercase().as_str()));
            if missing {
                return true;
            }
            rest = &after[close + 1..];
        } else {
            rest = after;
        }
    }
    false
}

/// Replaces literal template holes a playbook wrote as `<table>` / `<index>` / `<column>` with
/// `object` when the user named one, and `<role>` with the PostgreSQL role the evidence names
/// (already quoted); returns `None` when a hole remains (`<account>`, or a name nobody gave), so
/// the caller can leave the statement out instead of showing it half-filled.
pub fn fill_literal_holes(text: &str, object: Option<&str>, role: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('>');
        match (hole_at(after), close) {
            (Some(h), Some(c)) => {
                match (h, object) {
                    ("table" | "object" | "table_name" | "schema.table", Some(o))
                        if !o.is_empty() =>
                    {
                        out.push_str(o)
                    }
                    ("role", _) if role.is_some_and(|r| !r.is_empty()) => {
                        out.push_str(role.unwrap_or_default())
                    }
                    _ => return None,
                }
                rest = &after[c + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The name of the first literal hole (`role` for `ALTER ROLE <role> …`), as
/// [`fill_literal_holes`] recognises them.
pub fn first_hole(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        if let Some(h) = hole_at(after) {
            return Some(h);
        }
        rest = after;
    }
    None
}

/// The hole name right after a `<` (`role>…` → `role`): lower-case letters, `_` and `.`.
fn hole_at(after: &str) -> Option<&str> {
    after.find('>').map(|c| &after[..c]).filter(|h| {
        h.starts_with(|c: char| c.is_ascii_lowercase())
            && h.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
    })
}

fn last_name(n: &str) -> String {
    n.rsplit('.')
        .next()
        .unwrap_or(n)
        .trim_matches(['"', '`'])
        .to_lowercase()
}

/// Pids that wait on a lock: victims of a blocking chain.
pub fn victims(findings: &[Finding]) -> BTreeSet<String> {
    let heads: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.code == "blocking_chain")
        .filter_map(|f| f.facts.get("head_pid").cloned())
        .collect();
    findings
        .iter()
        .filter_map(|f| match f.code.as_str() {
            "blocking_chain" | "prepared_xact_blocker" => f.facts.get("blocked_pid").cloned(),
            "lock_wait" => f.facts.get("pid").cloned(),
            _ => None,
        })
        .filter(|p| !p.is_empty() && !heads.contains(p))
        .collect()
}

/// Cross-check consistency: a long-running query that is in fact waiting on a lock becomes a
/// `lock_wait` (victim); an index in a duplicate set loses its "unused" finding.
pub fn reconcile(findings: &mut Vec<Finding>) {
    // A MySQL-family XA blocker has no xid in INNODB_TRX; when XA RECOVER lists exactly one
    // prepared transaction, that is the one, and its statement replaces "XA RECOVER".
    let xa: Vec<String> = findings
        .iter()
        .filter(|f| {
            f.code == "prepared_xact"
                && f.facts
                    .get("rollback_sql")
                    .is_some_and(|q| q.starts_with("XA "))
        })
        .filter_map(|f| f.facts.get("xid").cloned())
        .collect();
    if let [xid] = xa.as_slice() {
        let (remedy, remedy_sql) = crate::diagnostics::catalog::xa_blocker_remedy(Some(xid));
        for f in findings.iter_mut().filter(|f| {
            f.code == "prepared_xact_blocker" && f.facts.get("gid").is_some_and(|g| g == "unknown")
        }) {
            f.facts.insert("gid".into(), xid.clone());
            f.facts.insert("remedy".into(), remedy.clone());
            f.facts.insert("remedy_sql".into(), remedy_sql.clone());
        }
    }
    let victims = victims(findings);
    for f in findings.iter_mut() {
        if f.code == "long_running_query" && f.facts.get("pid").is_some_and(|p| victims.contains(p))
        {
            f.code = "lock_wait".into();
            f.facts.remove("cancel_sql");
            f.title = format!(
                "{} (it is blocked by another session, not running)",
                f.title
            );
        }
    }
    let in_dup_set: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.code == "duplicate_index")
        .flat_map(|f| {
            [f.facts.get("index"), f.facts.get("duplicate_of")]
                .into_iter()
                .flatten()
                .map(|n| last_name(n))
        })
        .collect();
    findings.retain(|f| {
        !(f.code == "unused_index"
            && f.facts
                .get("index")
                .is_some_and(|i| in_dup_set.contains(&last_name(i))))
    });
}

/// Accounts that must never be the object of a fix: the bootstrap superuser and the system
/// accounts MariaDB/MySQL create (MariaDB KB "mariadb.sys"; MySQL manual §8.2.9 Reserved
/// Accounts).
pub fn is_system_account(role: &str) -> bool {
    let r = role
        .trim()
        .trim_matches(['\'', '"', '`'])
        .replace(['\'', '`', '"'], "")
        .to_lowercase();
    let user = r.split('@').next().unwrap_or(&r);
    matches!(
        user,
        "postgres"
            | "rdsadmin"
            | "mariadb.sys"
            | "mysql.sys"
            | "mysql.session"
            | "mysql.infoschema"
            | "rdsadmin_user"
    ) || r == "root@localhost"
        || user.starts_with("pg_")
}

fn targets_pid(sql: &str, pid: &str) -> bool {
    let s = sql.to_ascii_lowercase().replace(' ', "");
    [
        format!("pg_cancel_backend({pid})"),
        format!("pg_terminate_backend({pid})"),
        format!("killquery{pid};"),
        format!("killconnection{pid};"),
        format!("kill{pid};"),
    ]
    .iter()
    .any(|p| s.contains(p.as_str()))
}

fn targets_system_account(sql: &str) -> bool {
    let lower = sql.to_lowercase();
    for verb in [
        "alter role ",
        "alter user ",
        "drop user ",
        "drop role ",
        "revoke ",
    ] {
        if let Some(i) = lower.find(verb) {
            let rest = &lower[i + verb.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != ';')
                .collect();
            if is_system_account(&name) {
                return true;
            }
        }
    }
    lower.contains("'mariadb.sys'") || lower.contains("mariadb.sys@")
}

/// Removes actions that would hurt: signals to a victim pid, fixes aimed at system accounts, and
/// "nothing is flagged" lines when something is.
pub fn guard_actions(actions: &mut Vec<Action>, findings: &[Finding], worst: Severity) {
    let victims = victims(findings);
    actions.retain(|a| {
        if let Some(sql) = &a.sql {
            if victims.iter().any(|v| targets_pid(sql, v)) {
                return false;
            }
            if targets_system_account(sql) {
                return false;
            }
        }
        if worst >= Severity::Warning && a.text.starts_with("If nothing above is flagged") {
            return false;
        }
        true
    });
}

fn find<'a>(findings: &'a [Finding], code: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.code == code)
}

fn has(findings: &[Finding], codes: &[&str]) -> bool {
    findings
        .iter()
        .any(|f| codes.contains(&f.code.as_str()) && f.severity >= Severity::Info)
}

fn get<'a>(f: &'a Finding, k: &str) -> &'a str {
    f.facts.get(k).map(String::as_str).unwrap_or("")
}

/// A sentence for the situation when the checks do not confirm what the question assumes
/// (wraparound, a full connection table, lock waits, bloat…), with the measured figure; or, when
/// they do, the headline figure. `None` when the intent has no premise to check.
pub fn evidence_note(
    intent: &str,
    findings: &[Finding],
    engine: Option<&str>,
    thresholds: &crate::diagnostics::Thresholds,
) -> Option<String> {
    let sqlite = engine == Some("sqlite");
    match intent {
        "xid_wraparound" => {
            if let Some(f) = find(findings, "xid_age_high") {
                return Some(format!(
                    "Confirmed by the checks: the oldest transaction-ID age is {} in database {} ({}% of the ~2.1 billion limit).",
                    get(f, "age"),
                    get(f, "database"),
                    get(f, "pct")
                ));
            }
            let f = find(findings, "xid_age")?;
            Some(format!(
                "The checks do not confirm a wraparound risk: the oldest transaction-ID age is {} in database {} ({}% of the ~2.1 billion limit), below autovacuum_freeze_max_age ({}).",
                get(f, "age"),
                get(f, "database"),
                get(f, "pct"),
                get(f, "freeze_max_age")
            ))
        }
        "too_many_connections" | "connection_errors" | "connection_pooling" => {
            if let Some(f) = find(findings, "connections_high") {
                return Some(format!(
                    "Confirmed by the checks: {} of {} usable connections are in use ({}%).",
                    get(f, "used"),
                    get(f, "max"),
                    get(f, "pct")
                ));
            }
            let f = findings
                .iter()
                .find(|f| f.code == "overview" && f.facts.contains_key("used"))?;
            let usable = if get(f, "usable").is_empty() {
                get(f, "max")
            } else {
                get(f, "usable")
            };
            Some(format!(
                "The checks do not show the server near its connection limit: {} of {} usable connections are in use ({}%).",
                get(f, "used"),
                usable,
                get(f, "pct")
            ))
        }
        "locks_blocking" => {
            if let Some(g) = findings.iter().find(|f| f.code == "global_lock_wait") {
                let holder = get(g, "holder_pid");
                return Some(format!(
                    "Confirmed by the checks: {} thread{} waiting for {}; {}.",
                    get(g, "waiting"),
                    if get(g, "waiting") == "1" { " is" } else { "s are" },
                    get(g, "lock"),
                    if holder.is_empty() {
                        "the server does not say who holds it, so the candidates are listed below".to_string()
                    } else {
                        format!("the holder, the culprit, is thread {holder}")
                    }
                ));
            }
            if has(findings, &["blocking_chain", "lock_wait", "prepared_xact_blocker"]) {
                let mut heads: BTreeSet<String> = findings
                    .iter()
                    .filter(|f| f.code == "blocking_chain")
                    .map(|f| get(f, "head_pid"))
                    .filter(|p| !p.is_empty() && *p != "0")
                    .map(str::to_string)
                    .collect();
                heads.extend(
                    findings
                        .iter()
                        .filter(|f| f.code == "prepared_xact_blocker")
                        .map(|f| get(f, "blocker").to_string()),
                );
                let victims = victims(findings);
                if heads.is_empty() {
                    return None;
                }
                return Some(format!(
                    "Confirmed by the checks: {} session{} waiting on a lock; the head of the chain (the culprit) is {}.",
                    victims.len(),
                    if victims.len() == 1 { " is" } else { "s are" },
                    heads.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            if sqlite {
                // SQLite has no sessions to list; what the file shows is its journal mode.
                let mode = findings
                    .iter()
                    .find(|f| f.code == "overview")
                    .map(|f| get(f, "journal_mode"))
                    .filter(|m| !m.is_empty())?;
                return Some(if mode.eq_ignore_ascii_case("wal") {
                    "The file is already in WAL mode, so readers do not block the writer: 'database is locked' means two connections wanted to write at once and one gave up before its busy timeout.".to_string()
                } else {
                    format!("The file uses the {mode} rollback journal, in which a reader and the writer block each other; WAL mode lets readers run beside one writer.")
                });
            }
            Some("The checks found no session waiting on a lock right now.".into())
        }
        "idle_in_transaction" => {
            if has(findings, &["idle_in_transaction"]) {
                return None;
            }
            let prepared = findings.iter().filter(|f| f.code == "prepared_xact").count();
            Some(if prepared > 0 {
                format!(
                    "No session is idle inside an open transaction, but {prepared} prepared (two-phase) transaction{} still open with no session behind {}: it keeps its locks until it is committed or rolled back.",
                    if prepared == 1 { " is" } else { "s are" },
                    if prepared == 1 { "it" } else { "them" }
                )
            } else {
                "The checks found no session idle inside an open transaction right now.".into()
            })
        }
        "table_bloat_vacuum" => (!sqlite
            && !has(findings, &["dead_tuples_high", "autovacuum_disabled"]))
        .then(|| {
            if engine == Some("mysql") {
                // InnoDB has no dead-row counter: the free space inside table files is measured.
                let t = thresholds.get("table_fragmentation");
                return format!(
                    "The checks found no table over {} with more than {}% of its file free (DATA_FREE), so no table here needs rebuilding for space.",
                    crate::diagnostics::finding::human_bytes(t.value("min_size") as i64),
                    t.value("warning")
                );
            }
            let t = thresholds.get("dead_tuples");
            format!(
                "The checks found no table with ≥ {} dead rows making up ≥ {}% of its rows, and none with automatic vacuuming switched off.",
                crate::diagnostics::thousands(t.value("min_dead_rows") as u64),
                t.value("warning")
            )
        }),
        "deadlocks" => (!has(findings, &["deadlocks_seen"])).then(|| {
            match engine {
                Some("mysql") => "No deadlocks are recorded since the server started (InnoDB's counter).",
                Some("mssql") => "No deadlocks are recorded since the instance started.",
                Some("sqlite") => "SQLite keeps no deadlock counter and never picks a deadlock victim: two connections that wait for each other's lock get SQLITE_BUSY (SQLITE_BUSY_SNAPSHOT in WAL mode) instead, and the application must retry the whole transaction.",
                _ => "No deadlocks are recorded in the statistics since they were last reset.",
            }
            .into()
        }),
        "replication_lag" => {
            if has(findings, &["replication_lag", "replication_broken"]) {
                None
            } else if find(findings, "replication_none").is_some() {
                Some("The checks found no replica attached to this server, and it is not a replica itself.".into())
            } else if find(findings, "replication_ok").is_some() {
                let t = thresholds.get("replication_lag");
                Some(format!(
                    "The checks found every replica within the lag thresholds ({} s / {}).",
                    t.value("warning_delay"),
                    crate::diagnostics::finding::human_bytes(t.value("warning_bytes") as i64)
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(victim: &str, blocker: &str, head: &str) -> Finding {
        Finding::new("blocking_chains", "blocking_chain", Severity::Warning, "x")
            .fact("blocked_pid", victim)
            .fact("blocker_pid", blocker)
            .fact("head_pid", head)
    }

    #[test]
    fn unfilled_placeholders_are_detected() {
        let mut v = BTreeMap::new();
        v.insert("pid".to_string(), "42".to_string());
        v.insert("size".to_string(), "unknown".to_string());
        assert!(!has_unfilled("kill {pid}", &v));
        assert!(has_unfilled("kill {pid} {user}", &v));
        assert!(has_unfilled("size {size}", &v));
        assert!(!has_unfilled("json {\"a\": 1}", &v));
    }

    #[test]
    fn literal_holes_are_filled_or_refused() {
        assert_eq!(
            fill_literal_holes("ANALYZE <table>;", Some("orders"), None).as_deref(),
            Some("ANALYZE orders;")
        );
        assert_eq!(fill_literal_holes("ANALYZE <table>;", None, None), None);
        assert_eq!(
            fill_literal_holes("VACUUM (FREEZE) <schema.table>;", None, None),
            None
        );
        assert_eq!(
            fill_literal_holes("WHERE a <> b AND c < 3", None, None).as_deref(),
            Some("WHERE a <> b AND c < 3")
        );
    }

    #[test]
    fn victims_are_never_signalled() {
        let findings = vec![
            chain("200", "100", "100"),
            chain("300", "200", "100"),
            Finding::new("active_queries", "lock_wait", Severity::Warning, "w").fact("pid", "200"),
        ];
        let v = victims(&findings);
        assert_eq!(v, ["200", "300"].iter().map(|s| s.to_string()).collect());
        let mut actions = vec![
            Action {
                text: "cancel".into(),
                sql: Some("SELECT pg_cancel_backend(200);".into()),
            },
            Action {
                text: "kill".into(),
                sql: Some("KILL QUERY 300;".into()),
            },
            Action {
                text: "kill".into(),
                sql: Some("KILL 300;".into()),
            },
            Action {
                text: "head".into(),
                sql: Some("SELECT pg_terminate_backend(100);".into()),
            },
        ];
        guard_actions(&mut actions, &findings, Severity::Warning);
        assert_eq!(actions.len(), 1);
        assert_eq!(
            actions[0].sql.as_deref(),
            Some("SELECT pg_terminate_backend(100);")
        );
    }

    #[test]
    fn long_running_victim_becomes_lock_wait() {
        let mut findings = vec![
            chain("200", "100", "100"),
            Finding::new(
                "active_queries",
                "long_running_query",
                Severity::Warning,
                "pid 200 has run for 70s",
            )
            .fact("pid", "200")
            .fact("cancel_sql", "SELECT pg_cancel_backend(200);"),
        ];
        reconcile(&mut findings);
        assert_eq!(findings[1].code, "lock_wait");
        assert!(!findings[1].facts.contains_key("cancel_sql"));
    }

    #[test]
    fn no_unused_advice_on_a_member_of_a_duplicate_set() {
        let mut findings = vec![
            Finding::new(
                "duplicate_indexes",
                "duplicate_index",
                Severity::Warning,
                "dup",
            )
            .fact("index", "public.orders_cust_idx2")
            .fact("duplicate_of", "public.orders_cust_idx"),
            Finding::new("unused_indexes", "unused_index", Severity::Info, "unused")
                .fact("index", "orders_cust_idx"),
            Finding::new("unused_indexes", "unused_index", Severity::Info, "unused")
                .fact("index", "public.orders_cust_idx2"),
            Finding::new("unused_indexes", "unused_index", Severity::Info, "unused")
                .fact("index", "other_idx"),
        ];
        reconcile(&mut findings);
        let unused: Vec<&str> = findings
            .iter()
            .filter(|f| f.code == "unused_index")
            .map(|f| f.facts["index"].as_str())
            .collect();
        assert_eq!(unused, vec!["other_idx"]);
    }

    #[test]
    fn system_accounts_are_never_the_fix() {
        for r in [
            "postgres",
            "mariadb.sys@localhost",
            "'mariadb.sys'@'localhost'",
            "root@localhost",
            "mysql.session@localhost",
            "pg_monitor",
        ] {
            assert!(is_system_account(r), "{r}");
        }
        for r in ["app_admin", "root@%", "sec_bot@%"] {
            assert!(!is_system_account(r), "{r}");
        }
        let mut actions = vec![
            Action {
                text: "a".into(),
                sql: Some("ALTER ROLE postgres NOSUPERUSER;".into()),
            },
            Action {
                text: "b".into(),
                sql: Some("ALTER ROLE app_admin NOSUPERUSER;".into()),
            },
            Action {
                text: "c".into(),
                sql: Some("DROP USER 'mariadb.sys'@'localhost';".into()),
            },
        ];
        guard_actions(&mut actions, &[], Severity::Warning);
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].text, "b");
    }

    #[test]
    fn closing_line_does_not_contradict_a_finding() {
        let mut actions = vec![Action {
            text: "If nothing above is flagged, the checks found no problems.".into(),
            sql: None,
        }];
        guard_actions(&mut actions, &[], Severity::Critical);
        assert!(actions.is_empty());
        let mut actions = vec![Action {
            text: "If nothing above is flagged, the checks found no problems.".into(),
            sql: None,
        }];
        guard_actions(&mut actions, &[], Severity::Info);
        assert_eq!(actions.len(), 1);
    }

    #[test]
    fn premise_not_confirmed_states_the_figure() {
        let f = vec![Finding::new("wraparound", "xid_age", Severity::Ok, "age")
            .fact("age", "1234")
            .fact("database", "shop")
            .fact("pct", "0.0")
            .fact("freeze_max_age", "200000000")];
        let n = evidence_note("xid_wraparound", &f, Some("postgres"), &Default::default())
            .unwrap_or_default();
        assert!(
            n.contains("do not confirm") && n.contains("1234") && n.contains("0.0%"),
            "{n}"
        );
        let f = vec![Finding::new("overview", "overview", Severity::Ok, "o")
            .fact("used", "6")
            .fact("usable", "97")
            .fact("pct", "6")];
        let n = evidence_note(
            "too_many_connections",
            &f,
            Some("postgres"),
            &Default::default(),
        )
        .unwrap_or_default();
        assert!(n.contains("6 of 97"), "{n}");
    }
}
