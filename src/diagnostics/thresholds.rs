//! The thresholds diagnostics grade their findings by, kept as data in `intents/thresholds.toml`.
//!
//! Each entry names the values a check compares with (`info`, `warning`, `critical` and any
//! others the check needs, e.g. `min_rows`), the sentence shown under a finding as its rule
//! (`rule`, with `{name}` placeholders for those values) and the sources behind it. A DBA edits
//! the numbers without Rust; the loader checks the file against [`SPECS`], the table of what the
//! code reads, so a typo or a missing value fails loading with the file, line and key instead of
//! silently turning a check off.
//!
//! Values are plain numbers or numbers with a unit, stored in base units: durations in seconds
//! (`"90 s"`, `"5 min"`, `"1 h"`, `"7 days"`, `"250 ms"`), sizes in bytes (`"100 MB"`,
//! `"1 GiB"`; kB/MB/GB/TB are powers of 1024, as PostgreSQL's size units are, docs §20.1.1), and
//! percentages as numbers (`80`). A rule shows each value as the file wrote it.

use dbabot_chat::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The embedded copy (`intents/thresholds.toml` at build time).
pub const EMBEDDED: &str = include_str!("../../intents/thresholds.toml");

/// What the code reads from one threshold entry.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Key of the entry (`connections_used`).
    pub key: &'static str,
    /// Values the check compares with; each must be present in the entry.
    pub values: &'static [&'static str],
    /// True when lower values are worse (a cache hit ratio): levels must then decrease from
    /// `info` to `critical`, else increase.
    pub below: bool,
    /// Engines (config names) whose checks read it: the rule shown to each must use only that
    /// engine's vocabulary once its citations are scoped (a unit test checks it).
    pub engines: &'static [&'static str],
}

const PG: &[&str] = &["postgres"];
const MY: &[&str] = &["mysql"];
const MS: &[&str] = &["mssql"];
const LITE: &[&str] = &["sqlite"];
const PG_MY: &[&str] = &["postgres", "mysql"];
const SERVERS: &[&str] = &["postgres", "mysql", "mssql"];
const PG_LITE: &[&str] = &["postgres", "sqlite"];

const fn above(
    key: &'static str,
    values: &'static [&'static str],
    engines: &'static [&'static str],
) -> Spec {
    Spec {
        key,
        values,
        below: false,
        engines,
    }
}

const fn below(
    key: &'static str,
    values: &'static [&'static str],
    engines: &'static [&'static str],
) -> Spec {
    Spec {
        below: true,
        ..above(key, values, engines)
    }
}

/// Every threshold the diagnostics read, with the values each needs.
pub const SPECS: &[Spec] = &[
    // Every client/server engine.
    above("connections_used", &["warning", "critical"], SERVERS),
    above("connection_limit_used", &["warning", "critical"], PG_MY),
    above(
        "statement_runtime",
        &["info", "warning", "critical"],
        SERVERS,
    ),
    above("lock_wait", &["critical"], SERVERS),
    above("idle_in_transaction", &["warning", "critical"], SERVERS),
    above("slow_statement_mean", &["warning"], SERVERS),
    above("prepared_transaction", &["warning", "critical"], PG_MY),
    above("tmp_disk_tables", &["warning", "min_disk_tables"], MY),
    above("purge_history", &["warning", "critical"], MY),
    above("checkpoint_requested", &["warning", "min_requested"], PG),
    // PostgreSQL.
    below("cache_hit", &["info", "warning", "min_block_requests"], PG),
    above("replication_slot_retained", &["warning", "critical"], PG),
    above("xmin_horizon_age", &["session", "prepared_transaction"], PG),
    above("dead_tuples", &["min_dead_rows", "warning", "critical"], PG),
    above("xid_age", &["critical"], PG),
    above("table_statistics", &["min_rows", "stale_factor"], PG),
    above("fk_without_index", &["warning_rows"], PG_LITE),
    above(
        "named_column_unindexed",
        &["min_rows"],
        &["postgres", "mysql", "sqlite"],
    ),
    above("temp_files", &["live_warning", "warning"], PG),
    above("unused_index", &["min_stats_age", "warning_size"], PG_MY),
    above(
        "mssql_missing_index",
        &["info", "warning", "min_impact"],
        MS,
    ),
    // Log analysis.
    above("log_top_statement", &["warning"], PG_MY),
    above("log_slow_statement", &["warning"], PG_MY),
    above("log_temp_files", &["warning"], PG),
    above("log_rows_examined", &["warning"], MY),
    above("id_exhaustion", &["warning", "critical"], PG_MY),
    above(
        "seq_scan_heavy",
        &["min_table_rows", "min_scans", "min_rows_per_scan"],
        PG,
    ),
    above(
        "replication_lag",
        &[
            "warning_delay",
            "critical_delay",
            "warning_bytes",
            "critical_bytes",
        ],
        PG_MY,
    ),
    // MySQL / MariaDB.
    below(
        "buffer_pool_hit",
        &["info", "warning", "min_block_requests"],
        MY,
    ),
    above("table_fragmentation", &["min_size", "warning"], MY),
    above("rows_examined_no_index", &["min_rows"], MY),
    above("unindexed_reference", &["min_rows"], MY),
    // SQL Server and Azure SQL.
    above("open_transaction", &["warning", "critical"], MS),
    above("database_max_size", &["warning", "critical"], MS),
    above("file_full", &["warning", "critical"], MS),
    below("volume_free", &["warning", "critical"], MS),
    above("log_space_used", &["warning", "critical"], MS),
    above("vlf_count", &["warning"], MS),
    above("index_fragmentation", &["min_pct", "min_pages"], MS),
    // SQLite.
    above("sqlite_freelist", &["min_pct", "min_free_pages"], LITE),
    above("sqlite_write_lock", &["warning", "critical"], LITE),
    above("sqlite_wal_size", &["warning", "critical"], LITE),
];

/// An error in the thresholds file: the file, 1-based line and key of the first problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: line {line}: {key}: {message}")]
pub struct ThresholdError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// One threshold entry, ready to compare with.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Values in base units (seconds, bytes, percent, counts), by name.
    values: BTreeMap<String, f64>,
    /// The values as written in the file, for the rule sentence.
    shown: BTreeMap<String, String>,
    below: bool,
    rule: String,
    sources: Vec<String>,
}

impl Threshold {
    /// A value by name, in base units. Names come from [`SPECS`], which the loader guarantees
    /// are present; an unknown name reads as infinity (above) so that nothing fires on it.
    pub fn value(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(f64::INFINITY)
    }

    /// The severity `measured` reaches: the highest of `critical`, `warning`, `info` it meets
    /// (`>=`, or `<` for a lower-is-worse entry), else [`Severity::Ok`].
    pub fn grade(&self, measured: f64) -> Severity {
        for (name, sev) in [
            ("critical", Severity::Critical),
            ("warning", Severity::Warning),
            ("info", Severity::Info),
        ] {
            if let Some(&limit) = self.values.get(name) {
                let hit = if self.below {
                    measured < limit
                } else {
                    measured >= limit
                };
                if hit {
                    return sev;
                }
            }
        }
        Severity::Ok
    }

    /// The rule shown under a finding: the sentence with its values filled in, then the
    /// sources in parentheses separated by `; ` (the runner keeps the reader's engine's own,
    /// [`super::finding::scope_citations`]).
    pub fn citation(&self) -> String {
        let mut text = self.rule.clone();
        for (name, shown) in &self.shown {
            text = text.replace(&format!("{{{name}}}"), shown);
        }
        if self.sources.is_empty() {
            text
        } else {
            format!("{text} ({})", self.sources.join("; "))
        }
    }
}

/// The loaded thresholds; cheap to clone. `Default` is the embedded copy.
#[derive(Debug, Clone)]
pub struct Thresholds(Arc<BTreeMap<String, Threshold>>);

impl Default for Thresholds {
    fn default() -> Self {
        Self::embedded()
    }
}

impl PartialEq for Thresholds {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// Fallback for a key the code asks for that the file lacks (impossible after validation):
/// no values, so it never fires.
fn missing() -> &'static Threshold {
    static MISSING: OnceLock<Threshold> = OnceLock::new();
    MISSING.get_or_init(|| Threshold {
        values: BTreeMap::new(),
        shown: BTreeMap::new(),
        below: false,
        rule: String::new(),
        sources: Vec::new(),
    })
}

impl Thresholds {
    /// The copy built into the binary (parsed once per process).
    ///
    /// # Panics
    /// Never in a released binary: the embedded file is validated by the unit tests.
    pub fn embedded() -> Self {
        static EMB: OnceLock<Thresholds> = OnceLock::new();
        EMB.get_or_init(|| {
            Self::parse("thresholds.toml", EMBEDDED)
                .unwrap_or_else(|e| panic!("embedded thresholds are invalid: {e}"))
        })
        .clone()
    }

    /// The entry `key` (one of [`SPECS`]).
    pub fn get(&self, key: &str) -> &Threshold {
        debug_assert!(
            SPECS.iter().any(|s| s.key == key),
            "unknown threshold {key}"
        );
        self.0.get(key).unwrap_or_else(|| missing())
    }

    /// Parses and validates a thresholds file against [`SPECS`].
    ///
    /// # Errors
    /// [`ThresholdError`] with the line and key of the first problem: TOML syntax, an unknown
    /// or missing entry, a missing or unknown value, a value that is not a number with a known
    /// unit, levels out of order, an unfilled `{placeholder}` in `rule`, no sources, or a source
    /// with parentheses or semicolons.
    pub fn parse(file: &str, text: &str) -> Result<Self, ThresholdError> {
        let err = |key: &str, line: usize, message: String| ThresholdError {
            file: file.to_string(),
            line,
            key: key.to_string(),
            message,
        };
        let raw: BTreeMap<String, RawEntry> = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            err("-", line, e.message().trim().to_string())
        })?;
        let mut out = BTreeMap::new();
        for (key, entry) in raw {
            let line = line_of(text, &format!("[{key}]"));
            let Some(spec) = SPECS.iter().find(|s| s.key == key) else {
                return Err(err(
                    &key,
                    line,
                    format!(
                        "unknown threshold (known: {})",
                        SPECS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            let value_line = |name: &str| {
                let from = text.find(&format!("[{key}]")).unwrap_or(0);
                let rel = text[from..]
                    .find(&format!("\n{name} "))
                    .map(|p| from + p + 1)
                    .unwrap_or(from);
                text[..rel].matches('\n').count() + 1
            };
            let mut values = BTreeMap::new();
            let mut shown = BTreeMap::new();
            for (name, v) in &entry.values {
                if !spec.values.contains(&name.as_str()) {
                    return Err(err(
                        &key,
                        value_line(name),
                        format!(
                            "unknown value `{name}` (this threshold reads: {})",
                            spec.values.join(", ")
                        ),
                    ));
                }
                let (base, text_form) = v
                    .parse()
                    .map_err(|m| err(&key, value_line(name), format!("`{name}`: {m}")))?;
                values.insert(name.clone(), base);
                shown.insert(name.clone(), text_form);
            }
            for name in spec.values {
                if !values.contains_key(*name) {
                    return Err(err(&key, line, format!("missing value `{name}`")));
                }
            }
            let order: Vec<f64> = ["info", "warning", "critical"]
                .iter()
                .filter_map(|n| values.get(*n).copied())
                .collect();
            let ordered = order
                .windows(2)
                .all(|w| if spec.below { w[0] > w[1] } else { w[0] < w[1] });
            if !ordered {
                return Err(err(
                    &key,
                    line,
                    format!(
                        "levels must {} from info to warning to critical",
                        if spec.below { "decrease" } else { "increase" }
                    ),
                ));
            }
            for p in crate::intents::catalog::placeholders(&entry.rule) {
                if !values.contains_key(&p) {
                    return Err(err(
                        &key,
                        value_line("rule"),
                        format!("`rule`: unknown placeholder {{{p}}}"),
                    ));
                }
            }
            if entry.rule.trim().is_empty() {
                return Err(err(&key, line, "missing `rule`".into()));
            }
            if let Some(bad) = entry.sources.iter().find(|s| s.contains(['(', ')', ';'])) {
                return Err(err(
                    &key,
                    value_line("sources"),
                    format!("source `{bad}`: no parentheses or semicolons (they separate sources in the rule shown); write one source per string"),
                ));
            }
            if entry.sources.iter().all(|s| s.trim().is_empty()) {
                return Err(err(&key, line, "`sources` must name at least one".into()));
            }
            out.insert(
                key.clone(),
                Threshold {
                    values,
                    shown,
                    below: spec.below,
                    rule: entry.rule,
                    sources: entry.sources,
                },
            );
        }
        for spec in SPECS {
            if !out.contains_key(spec.key) {
                return Err(err(spec.key, 1, "missing threshold".into()));
            }
        }
        Ok(Thresholds(Arc::new(out)))
    }
}

#[derive(Debug, Deserialize)]
struct RawEntry {
    rule: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(flatten)]
    values: BTreeMap<String, RawValue>,
}

/// A number, or a number with a unit, as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl RawValue {
    /// (value in base units, how the rule shows it).
    fn parse(&self) -> Result<(f64, String), String> {
        match self {
            RawValue::Int(i) => Ok((*i as f64, super::result::thousands(i.unsigned_abs()))),
            RawValue::Float(f) if f.is_finite() => Ok((*f, format!("{f}"))),
            RawValue::Float(_) => Err("not a finite number".into()),
            RawValue::Text(t) => parse_with_unit(t).map(|v| (v, t.trim().to_string())),
        }
    }
}

/// `"5 min"` → 300, `"1 GiB"` → 1073741824, `"250 ms"` → 0.25.
fn parse_with_unit(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_' || c == ','))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .replace(['_', ','], "")
        .parse()
        .map_err(|_| format!("`{text}` is not a number with a unit"))?;
    const K: f64 = 1024.0;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "%" => 1.0,
        "ms" => 0.001,
        "s" | "sec" | "secs" | "seconds" => 1.0,
        "min" | "mins" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "b" | "bytes" => 1.0,
        "kb" | "kib" => K,
        "mb" | "mib" => K * K,
        "gb" | "gib" => K * K * K,
        "tb" | "tib" => K * K * K * K,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use ms, s, min, h, days, kB, MB, GB, TB or %)"
            ))
        }
    };
    Ok(n * factor)
}

/// 1-based line of the first `needle` (1 when absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|at| text[..at].matches('\n').count() + 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_thresholds_load_and_cover_every_spec() {
        let t = Thresholds::embedded();
        for s in SPECS {
            let th = t.get(s.key);
            for v in s.values {
                assert!(th.value(v).is_finite(), "{}.{v}", s.key);
            }
            assert!(!th.citation().contains('{'), "{}: {}", s.key, th.citation());
        }
    }

    #[test]
    fn grading_follows_the_levels() {
        let t = Thresholds::embedded();
        let c = t.get("connections_used");
        assert_eq!(c.grade(10.0), Severity::Ok);
        assert_eq!(c.grade(c.value("warning")), Severity::Warning);
        assert_eq!(c.grade(c.value("critical")), Severity::Critical);
        let hit = t.get("cache_hit");
        assert_eq!(hit.grade(99.9), Severity::Ok);
        assert_eq!(hit.grade(hit.value("warning") - 1.0), Severity::Warning);
    }

    #[test]
    fn units_are_read_in_base_units() {
        assert_eq!(parse_with_unit("5 min"), Ok(300.0));
        assert_eq!(parse_with_unit("1 GiB"), Ok(1_073_741_824.0));
        assert_eq!(parse_with_unit("100 MB"), Ok(104_857_600.0));
        assert_eq!(parse_with_unit("250 ms"), Ok(0.25));
        assert_eq!(parse_with_unit("7 days"), Ok(604_800.0));
        assert!(parse_with_unit("5 fortnights").is_err());
    }

    fn edited(from: &str, to: &str) -> Result<Thresholds, ThresholdError> {
        assert!(EMBEDDED.contains(from), "{from}");
        Thresholds::parse("thresholds.toml", &EMBEDDED.replacen(from, to, 1))
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let e = edited("[connections_used]", "[conections_used]").unwrap_err();
        assert_eq!(e.key, "conections_used");
        assert_eq!(e.line, line_of(EMBEDDED, "[connections_used]"));
        let e = edited("[cache_hit]\ninfo", "[cache_hit]\ninof").unwrap_err();
        assert_eq!(e.key, "cache_hit");
        assert!(e.message.contains("unknown value `inof`"), "{e}");
        let e = edited("critical = 95", "critical = 75").unwrap_err();
        assert!(e.message.contains("increase"), "{e}");
        let e = edited("warning = \"1 GiB\"", "warning = \"1 GeeB\"").unwrap_err();
        assert_eq!(e.key, "replication_slot_retained");
        assert!(e.message.contains("unknown unit"), "{e}");
    }

    #[test]
    fn an_edited_number_changes_the_grade_and_the_rule() {
        let t = edited(
            "[connections_used]\nwarning = 80",
            "[connections_used]\nwarning = 60",
        )
        .expect("valid edit");
        let c = t.get("connections_used");
        assert_eq!(c.grade(65.0), Severity::Warning);
        assert!(c.citation().contains("≥ 60%"), "{}", c.citation());
    }

    /// The rule each engine is shown, with its citations scoped to it, holds no vocabulary of
    /// another engine (`intents/engine-vocabulary.toml`).
    #[test]
    fn rules_keep_to_the_engines_that_read_them() {
        use crate::config::Engine;
        use crate::intents::catalog::{Catalog, Flavour};
        let vocab = Catalog::embedded().expect("catalog").vocabulary;
        let t = Thresholds::embedded();
        for s in SPECS {
            for e in s.engines {
                let (engine, flavours) = match *e {
                    "postgres" => (Engine::Postgres, vec![Flavour::Postgres]),
                    "mysql" => (Engine::Mysql, vec![Flavour::Mariadb, Flavour::Mysql]),
                    "sqlite" => (Engine::Sqlite, vec![Flavour::Sqlite]),
                    "mssql" => (Engine::Mssql, vec![Flavour::Mssql]),
                    other => panic!("{}: unknown engine {other}", s.key),
                };
                let shown =
                    crate::diagnostics::finding::scope_citations(&t.get(s.key).citation(), engine);
                for f in flavours {
                    let foreign = vocab.foreign(&shown, f);
                    assert!(
                        foreign.is_empty(),
                        "{} on {f:?}: {foreign:?} in {shown}",
                        s.key
                    );
                }
            }
        }
    }

    /// Every `thresholds` key the diagnostics and the log analysis read is in [`SPECS`], and
    /// every spec is read.
    #[test]
    fn code_reads_exactly_the_specs() {
        let mut text = String::new();
        let mut stack = vec![
            std::path::PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/diagnostics/catalog"
            )),
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/logs")),
        ];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).expect("catalog dir").flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    text.push_str(&std::fs::read_to_string(&path).expect("source"));
                }
            }
        }
        let re = regex::Regex::new(r#"(?:threshold_for|th\.get)\("([a-z_]+)"\)"#).expect("regex");
        let used: std::collections::BTreeSet<&str> = re
            .captures_iter(&text)
            .filter_map(|c| c.get(1).map(|m| m.as_str()))
            .collect();
        for k in &used {
            assert!(SPECS.iter().any(|s| s.key == *k), "code reads unknown {k}");
        }
        for s in SPECS {
            assert!(used.contains(s.key), "{} is never read", s.key);
        }
    }
}
