//! Findings: what a diagnostic concluded from its rows.

use dbabot_chat::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One conclusion drawn from a diagnostic's rows, with the numbers that justify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The diagnostic that produced it (`blocking_chains`).
    pub check: String,
    /// Machine code playbooks match on (`blocking_chain`); see `intents/README.md`.
    pub code: String,
    pub severity: Severity,
    /// One line for humans, with the offending object and numbers.
    pub title: String,
    /// Optional longer explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Named values playbook templates can use (`blocker_pid`, `table`…).
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// The rule that turned numbers into this severity, with its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
}

impl Finding {
    pub fn new(check: &str, code: &str, severity: Severity, title: impl Into<String>) -> Self {
        Finding {
            check: check.to_string(),
            code: code.to_string(),
            severity,
            title: title.into(),
            detail: String::new(),
            facts: BTreeMap::new(),
            threshold: None,
        }
    }

    /// Adds a fact, builder style.
    pub fn fact(mut self, key: &str, value: impl ToString) -> Self {
        self.facts.insert(key.to_string(), value.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn threshold(mut self, rule: impl Into<String>) -> Self {
        self.threshold = Some(rule.into());
        self
    }
}

/// Keeps a rule's citations to `engine`: inside each parenthesised list of sources separated by
/// `; `, a source that belongs to another engine ("PostgreSQL docs …", "MySQL manual …",
/// "MariaDB KB …", "SQLite docs …", "Microsoft Learn …", "PgHero …") is dropped, and a list left empty is
/// removed. Shared evaluators cite every engine they serve; the reader sees their own.
pub fn scope_citations(text: &str, engine: crate::config::Engine) -> String {
    use crate::config::Engine as E;
    fn owner(source: &str) -> Option<E> {
        let s = source.trim_start();
        let cites = |marks: &[&str]| {
            marks
                .iter()
                .any(|m| s.starts_with(m) || s.contains(&format!(", {m}")))
        };
        if cites(&["PostgreSQL", "PgHero"]) {
            Some(E::Postgres)
        } else if cites(&["MySQL", "MariaDB", "InnoDB"]) {
            Some(E::Mysql)
        } else if cites(&["SQLite"]) {
            Some(E::Sqlite)
        } else if cites(&["Microsoft", "SQL Server"]) {
            Some(E::Mssql)
        } else {
            None
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let Some(len) = rest[open..].find(')') else {
            break;
        };
        let inner = &rest[open + 1..open + len];
        let sources: Vec<&str> = inner.split("; ").collect();
        let kept: Vec<&str> = sources
            .iter()
            .copied()
            .filter(|s| owner(s).is_none_or(|e| e == engine))
            .collect();
        let before = &rest[..open];
        if kept.is_empty() {
            out.push_str(before.trim_end());
        } else {
            out.push_str(before);
            out.push('(');
            out.push_str(&kept.join("; "));
            out.push(')');
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Bytes as a short human string (`1.5 GB`), base 1024.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds as a short human string (`3m 20s`).
pub fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Shortens query text for one-line display, collapsing whitespace.
pub fn short_query(q: &str, max_chars: usize) -> String {
    let collapsed: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 kB");
        assert_eq!(human_secs(200.0), "3m 20s");
        assert_eq!(short_query("select  *\n from x", 8), "select *…");
    }
}

#[cfg(test)]
mod citation_tests {
    use super::scope_citations;
    use crate::config::Engine;

    #[test]
    fn citations_keep_to_the_engine() {
        let rule = "waiting on a lock: warning, ≥ 60 s critical (PostgreSQL docs §28.2.3 wait_event_type Lock; MySQL manual §17.15 INNODB_TRX trx_state)";
        assert_eq!(
            scope_citations(rule, Engine::Mysql),
            "waiting on a lock: warning, ≥ 60 s critical (MySQL manual §17.15 INNODB_TRX trx_state)"
        );
        assert_eq!(
            scope_citations(rule, Engine::Postgres),
            "waiting on a lock: warning, ≥ 60 s critical (PostgreSQL docs §28.2.3 wait_event_type Lock)"
        );
        let dup = "identical key columns on the same table (PostgreSQL docs §11; MySQL manual §10.3.1); drop exactly one";
        assert_eq!(
            scope_citations(dup, Engine::Sqlite),
            "identical key columns on the same table; drop exactly one"
        );
        assert_eq!(
            scope_citations(
                "any lock wait is a warning (lock_timeout guidance, PostgreSQL docs §20.11.1)",
                Engine::Mysql
            ),
            "any lock wait is a warning"
        );
        // PgHero is a PostgreSQL tool: its figure is cited to PostgreSQL readers only.
        let pghero = "≥ 90% warning (PgHero sequence danger), ≥ 98% critical";
        assert_eq!(scope_citations(pghero, Engine::Postgres), pghero);
        assert_eq!(
            scope_citations(pghero, Engine::Mysql),
            "≥ 90% warning, ≥ 98% critical"
        );
    }
}
