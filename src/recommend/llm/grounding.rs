//! Grounding: the numbers and object names (pids, tables, indexes…) in the model's findings must
//! appear in what the diagnostics returned. Everything else is an unverified claim.

use crate::diagnostics::{CheckOutcome, Value};
use regex::Regex;
use std::collections::HashSet;
use std::sync::LazyLock;

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d+(?:,\d{3})*(?:\.\d+)?").expect("static regex"));
/// Dotted or snake_case identifiers, and quoted ones.
static IDENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"`([^`]{1,128})`|"([A-Za-z_][\w$. ]{0,127})"|\b([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)+|[A-Za-z][\w$]*_[\w$]*)\b"#)
        .expect("static regex")
});
/// A plain word right after an object keyword: "table orders", "index idx_a", "on events".
static AFTER_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:table|tables|index|indexes|indices|relation|database|schema|column|view|sequence|role|user)\s+([A-Za-z_][\w$.]*)")
        .expect("static regex")
});
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w$]+(?:\.[\w$]+)*").expect("static regex"));
/// pids a SQL action would signal: `pg_terminate_backend(123)`, `KILL 123`, `pid 123`.
static PID_TARGET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:pg_terminate_backend|pg_cancel_backend)\s*\(\s*(\d+)|\bkill\s+(?:query\s+|connection\s+)?(\d+)|\bpids?\s+(\d+)")
        .expect("static regex")
});

/// Words that look like identifiers but name the bot's own vocabulary, not database objects.
const VOCABULARY: &[&str] = &[
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "is",
    "are",
    "was",
    "has",
    "have",
    "with",
    "which",
    "was",
    "be",
    "of",
    "in",
    "on",
    "for",
    "and",
    "or",
    "not",
    "no",
    "any",
    "all",
    "each",
    "every",
    "some",
    "one",
    "two",
    "three",
    "several",
    "many",
    "most",
    "your",
    "their",
    "our",
    "my",
    "primary",
    "size",
    "scan",
    "scans",
    "lock",
    "locks",
    "growth",
    "bloat",
    "usage",
    "level",
    "statistics",
    "stats",
    "name",
    "names",
    "owner",
    "privileges",
    "access",
    "permissions",
    "user_defined",
    "read_only",
    "is_nullable",
    "n_dead_tup",
    "n_live_tup",
    "seq_scan",
    "idx_scan",
    "xact_start",
    "query_start",
    "state_change",
    "wait_event",
    "wait_event_type",
    "backend_xmin",
    "total_exec_time",
    "mean_exec_time",
];
/// English words that follow "table", "index"… without naming an object ("table scans",
/// "index without a key"). Only used for the word after such a keyword.
const PLAIN_WORDS: &[&str] = &[
    "a",
    "about",
    "across",
    "after",
    "all",
    "also",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "big",
    "bloat",
    "blocked",
    "blocking",
    "blocks",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "changes",
    "could",
    "data",
    "definition",
    "definitions",
    "design",
    "does",
    "duplicate",
    "duplicates",
    "each",
    "entries",
    "every",
    "for",
    "foreign",
    "from",
    "full",
    "growth",
    "had",
    "has",
    "have",
    "having",
    "heavy",
    "held",
    "here",
    "holds",
    "if",
    "in",
    "into",
    "invalid",
    "is",
    "it",
    "its",
    "key",
    "keys",
    "large",
    "largest",
    "level",
    "like",
    "list",
    "lock",
    "locks",
    "lookups",
    "may",
    "might",
    "missing",
    "more",
    "most",
    "must",
    "name",
    "names",
    "need",
    "needs",
    "no",
    "not",
    "now",
    "of",
    "on",
    "only",
    "or",
    "other",
    "over",
    "owner",
    "partial",
    "per",
    "primary",
    "privileges",
    "reads",
    "row",
    "rows",
    "scan",
    "scans",
    "seems",
    "should",
    "size",
    "sizes",
    "so",
    "some",
    "space",
    "stats",
    "statistics",
    "still",
    "structure",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "too",
    "under",
    "unique",
    "unused",
    "usage",
    "used",
    "uses",
    "using",
    "very",
    "was",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "will",
    "with",
    "without",
    "would",
    "writes",
    "you",
    "your",
];
const PREFIXES: &[&str] = &[
    "pg_",
    "information_schema",
    "performance_schema",
    "sys.",
    "mysql.",
    "sqlite_",
    "innodb_",
    "autovacuum",
    "max_",
    "idle_",
    "statement_timeout",
    "lock_timeout",
    "work_mem",
    "shared_buffers",
    "effective_",
    "maintenance_",
    "wal_",
    "log_",
    "track_",
    "default_",
    "random_page_cost",
    "checkpoint_",
    "synchronous_",
    "hot_standby",
    "archive_",
];

/// What the diagnostics returned, as searchable words and numbers.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    words: HashSet<String>,
    numbers: Vec<f64>,
    texts: HashSet<String>,
}

impl Evidence {
    /// Everything the checks returned: finding titles, details, facts, thresholds, cell values,
    /// column names, row counts, check names and finding codes.
    pub fn from_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a CheckOutcome>) -> Self {
        let mut e = Evidence::default();
        for o in outcomes {
            e.add_text(&o.name);
            e.add_text(&o.title);
            e.add_number(o.rows.len() as f64);
            e.add_number(o.findings.len() as f64);
            for c in &o.rows.columns {
                e.add_text(c);
            }
            for row in &o.rows.rows {
                for v in row {
                    match v {
                        Value::Int(i) => e.add_number(*i as f64),
                        Value::Float(f) => e.add_number(*f),
                        Value::Text(t) => e.add_text(t),
                        Value::Bool(_) | Value::Null => {}
                    }
                }
            }
            for f in &o.findings {
                e.add_text(&f.check);
                e.add_text(&f.code);
                e.add_text(&f.title);
                e.add_text(&f.detail);
                if let Some(t) = &f.threshold {
                    e.add_text(t);
                }
                for (k, v) in &f.facts {
                    e.add_text(k);
                    e.add_text(v);
                }
            }
        }
        e
    }

    fn add_number(&mut self, n: f64) {
        if n.is_finite() {
            self.numbers.push(n);
        }
    }

    /// Adds free text: its words (lower-cased, and each dotted part) and its numbers.
    pub fn add_text(&mut self, t: &str) {
        if t.is_empty() {
            return;
        }
        self.texts.insert(t.to_lowercase());
        for m in WORD.find_iter(t) {
            let w = m.as_str().to_lowercase();
            for part in w.split('.') {
                self.words.insert(part.to_string());
            }
            self.words.insert(w);
        }
        for m in NUMBER.find_iter(t) {
            if let Ok(v) = m.as_str().replace(',', "").parse::<f64>() {
                self.add_number(v);
            }
        }
    }

    fn has_number(&self, claim: &str) -> bool {
        let plain = claim.replace(',', "");
        let Ok(v) = plain.parse::<f64>() else {
            return true;
        };
        let decimals = plain.split('.').nth(1).map_or(0, str::len) as i32;
        // The claim may be rounded to its own precision, or a ratio shown as a percentage.
        let tol = 0.5 * 10f64.powi(-decimals) + 1e-9;
        self.numbers
            .iter()
            .any(|&e| (e - v).abs() <= tol || (e * 100.0 - v).abs() <= tol)
    }

    fn has_name(&self, name: &str) -> bool {
        let n = name
            .trim()
            .trim_matches(|c| c == '"' || c == '`')
            .to_lowercase();
        if n.is_empty()
            || VOCABULARY.contains(&n.as_str())
            || PREFIXES.iter().any(|p| n.starts_with(p))
        {
            return true;
        }
        if self.words.contains(&n) {
            return true;
        }
        // `public.orders` is grounded by `orders` when the schema is not shown, and vice versa.
        let last = n.rsplit('.').next().unwrap_or(&n);
        self.words.contains(last) || self.texts.iter().any(|t| t.contains(&n))
    }

    /// The numbers and object names in `text` that the evidence does not contain.
    pub fn ungrounded(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: String| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        let mut names: Vec<String> = Vec::new();
        for c in IDENT.captures_iter(text) {
            if let Some(m) = c.get(1).or(c.get(2)).or(c.get(3)) {
                names.push(m.as_str().to_string());
            }
        }
        for c in AFTER_KEYWORD.captures_iter(text) {
            let w = c[1].trim_end_matches('.').to_string();
            if !PLAIN_WORDS.contains(&w.to_lowercase().as_str()) {
                names.push(w);
            }
        }
        for n in names {
            if !self.has_name(&n) {
                push(n);
            }
        }
        for m in NUMBER.find_iter(text) {
            // Digits inside identifiers (idx_2024, t2) or placeholders ($1) are not numbers.
            let before = text[..m.start()].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
                continue;
            }
            if text[m.end()..].starts_with('_') {
                continue;
            }
            if !self.has_number(m.as_str()) {
                push(m.as_str().to_string());
            }
        }
        out
    }

    /// pids that `text` (an action, possibly with SQL) would signal and that no check returned.
    pub fn ungrounded_pids(&self, text: &str) -> Vec<String> {
        PID_TARGET
            .captures_iter(text)
            .filter_map(|c| c.get(1).or(c.get(2)).or(c.get(3)))
            .map(|m| m.as_str().to_string())
            .filter(|p| !self.has_number(p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{CheckStatus, Finding, ResultSet};
    use dbabot_chat::Severity;

    fn evidence() -> Evidence {
        let rows = ResultSet::new(
            &["blocked_pid", "blocker_pid", "wait_s", "relation"],
            vec![vec![
                Value::Int(4242),
                Value::Int(4141),
                Value::Float(63.4),
                Value::Text("orders".into()),
            ]],
        );
        let f = Finding::new(
            "blocking_chains",
            "blocking_chain",
            Severity::Critical,
            "pid 4242 has waited 1m 3s for a lock on orders held by pid 4141",
        )
        .fact("blocker_pid", 4141)
        .fact("index", "public.idx_orders_status");
        Evidence::from_outcomes([&CheckOutcome {
            name: "blocking_chains".into(),
            title: "Blocking chains".into(),
            status: CheckStatus::Ok,
            duration_ms: 3,
            rows,
            findings: vec![f],
        }])
    }

    #[test]
    fn grounded_claims_pass() {
        let e = evidence();
        assert!(e
            .ungrounded("pid 4141 blocks pid 4242 on table orders for 63 s")
            .is_empty());
        assert!(e
            .ungrounded("index idx_orders_status on public.orders; 1 blocking pair")
            .is_empty());
        assert!(e
            .ungrounded("waited 63.4 s; see pg_stat_activity and max_connections")
            .is_empty());
    }

    #[test]
    fn invented_numbers_and_objects_are_caught() {
        let e = evidence();
        assert_eq!(e.ungrounded("pid 9999 blocks pid 4242"), vec!["9999"]);
        assert_eq!(
            e.ungrounded("table customers is bloated"),
            vec!["customers"]
        );
        assert_eq!(
            e.ungrounded("index idx_customers_email is unused, 37% of scans"),
            vec!["idx_customers_email", "37"]
        );
        assert_eq!(
            e.ungrounded_pids("SELECT pg_terminate_backend(4141);"),
            Vec::<String>::new()
        );
        assert_eq!(
            e.ungrounded_pids("SELECT pg_terminate_backend(777);"),
            vec!["777"]
        );
    }
}
