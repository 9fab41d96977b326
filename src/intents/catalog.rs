//! The intent catalog, reports and error-code knowledge base, loaded from `intents/*.toml`.
//!
//! The files are embedded at build time, so the binary works alone; `intents_dir` in the config
//! points the engine at an editable copy instead. See `intents/README.md` for the format.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors loading the catalog; each names the file (and, for TOML errors, the line).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: intent `{intent}`: {message}")]
    Invalid {
        file: String,
        intent: String,
        message: String,
    },
}

/// The files built into the binary, as (name, contents).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "troubleshooting.toml",
        include_str!("../../intents/troubleshooting.toml"),
    ),
    (
        "query-optimization.toml",
        include_str!("../../intents/query-optimization.toml"),
    ),
    (
        "performance.toml",
        include_str!("../../intents/performance.toml"),
    ),
    (
        "architecture.toml",
        include_str!("../../intents/architecture.toml"),
    ),
    ("capacity.toml", include_str!("../../intents/capacity.toml")),
    ("security.toml", include_str!("../../intents/security.toml")),
    (
        "conversation.toml",
        include_str!("../../intents/conversation.toml"),
    ),
    ("reports.toml", include_str!("../../intents/reports.toml")),
    (
        "error-codes.toml",
        include_str!("../../intents/error-codes.toml"),
    ),
];

/// One playbook step: shown when its `when` finding code is present (or always without `when`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub cloud: Option<String>,
    pub text: String,
    /// Remediation or verification SQL, shown to a human; never executed by the bot.
    #[serde(default)]
    pub sql: Option<String>,
}

/// How the rule-based recommender answers an intent.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    #[serde(default)]
    pub situation: String,
    #[serde(default)]
    pub root_causes: Vec<Step>,
    #[serde(default)]
    pub immediate: Vec<Step>,
    #[serde(default)]
    pub longer_term: Vec<Step>,
    #[serde(default)]
    pub verify: Vec<Step>,
    /// Advice per cloud: keys `aws`, `azure`, `gcp`, `onprem`.
    #[serde(default)]
    pub cloud: BTreeMap<String, String>,
}

/// One thing a user can ask for.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub name: String,
    pub category: String,
    pub title: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub examples: Vec<String>,
    #[serde(default)]
    pub required_slots: Vec<String>,
    #[serde(default)]
    pub optional_slots: Vec<String>,
    #[serde(default)]
    pub diagnostics: Vec<String>,
    #[serde(default)]
    pub playbook: Playbook,
}

/// A named group of diagnostics (`/dba report health`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub diagnostics: Vec<String>,
}

/// One entry of the error-code knowledge base.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorCode {
    /// `postgres`, `mysql`, `mssql` or `oracle`.
    pub engine: String,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub message: String,
    pub meaning: String,
    #[serde(default)]
    pub causes: Vec<String>,
    #[serde(default)]
    pub fixes: Vec<String>,
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentFile {
    #[serde(default)]
    intent: Vec<Intent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFile {
    report: Vec<Report>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeFile {
    code: Vec<ErrorCode>,
}

/// Everything under `intents/`, validated.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub intents: Vec<Intent>,
    pub reports: Vec<Report>,
    pub error_codes: Vec<ErrorCode>,
}

impl Catalog {
    /// The catalog built into the binary.
    ///
    /// # Errors
    /// Only if the embedded files are invalid (caught by the test suite before release).
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_files(
            EMBEDDED
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_string()))
                .collect(),
        )
    }

    /// Reads every `*.toml` in `dir`.
    ///
    /// # Errors
    /// [`CatalogError`] naming the file and line of the first problem.
    pub fn from_dir(dir: &Path) -> Result<Self, CatalogError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| CatalogError::Read { path, source })
        };
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push((name, read(p)?));
            }
        }
        files.sort();
        Self::from_files(files)
    }

    fn from_files(files: Vec<(String, String)>) -> Result<Self, CatalogError> {
        let mut cat = Catalog {
            intents: Vec::new(),
            reports: Vec::new(),
            error_codes: Vec::new(),
        };
        for (name, text) in files {
            let perr = |e: toml::de::Error| CatalogError::Parse {
                file: name.clone(),
                message: describe(&text, &e),
            };
            match name.as_str() {
                "reports.toml" => {
                    cat.reports = toml::from_str::<ReportFile>(&text).map_err(perr)?.report
                }
                "error-codes.toml" => {
                    cat.error_codes = toml::from_str::<CodeFile>(&text).map_err(perr)?.code
                }
                _ => {
                    let f: IntentFile = toml::from_str(&text).map_err(perr)?;
                    for i in &f.intent {
                        validate(&name, i)?;
                    }
                    cat.intents.extend(f.intent);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for i in &cat.intents {
            if !seen.insert(i.name.clone()) {
                return Err(CatalogError::Invalid {
                    file: "intents/".into(),
                    intent: i.name.clone(),
                    message: "defined twice".into(),
                });
            }
        }
        Ok(cat)
    }

    pub fn intent(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }

    pub fn report(&self, name: &str) -> Option<&Report> {
        let n = name.to_lowercase().replace('_', "-");
        self.reports.iter().find(|r| r.name == n)
    }

    /// Knowledge-base entries for a code as users write it (`53300`, `1205`, `ORA-60`).
    pub fn error_code(&self, code: &str, engine: Option<&str>) -> Vec<&ErrorCode> {
        let norm = normalize_code(code);
        let mut hits: Vec<&ErrorCode> = self
            .error_codes
            .iter()
            .filter(|e| normalize_code(&e.code) == norm)
            .collect();
        if let Some(en) = engine {
            if hits.iter().any(|e| e.engine == en) {
                hits.retain(|e| e.engine == en);
            }
        }
        hits
    }
}

/// `ORA-0060` and `ora-00060` → `ORA-60`; numbers lose leading zeros; SQLSTATEs upper-cased.
pub fn normalize_code(code: &str) -> String {
    let c = code.trim().to_uppercase();
    if let Some(n) = c.strip_prefix("ORA-") {
        return format!("ORA-{}", n.trim_start_matches('0'));
    }
    if c.chars().all(|ch| ch.is_ascii_digit()) && c.len() != 5 {
        return c.trim_start_matches('0').to_string();
    }
    c
}

const SLOTS: &[&str] = &[
    "target",
    "engine",
    "environment",
    "cloud",
    "error_code",
    "sql",
    "time",
    "object",
    "report",
];

fn validate(file: &str, i: &Intent) -> Result<(), CatalogError> {
    let bad = |message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: i.name.clone(),
        message,
    };
    if i.examples.len() < 8 {
        return Err(bad(format!(
            "needs at least 8 examples, has {}",
            i.examples.len()
        )));
    }
    for s in i.required_slots.iter().chain(&i.optional_slots) {
        if !SLOTS.contains(&s.as_str()) {
            return Err(bad(format!(
                "unknown slot `{s}` (known: {})",
                SLOTS.join(", ")
            )));
        }
    }
    let known = crate::diagnostics::catalog::known_names();
    for d in &i.diagnostics {
        if !known.contains(d.as_str()) {
            return Err(bad(format!("unknown diagnostic `{d}`")));
        }
    }
    Ok(())
}

fn describe(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_is_valid_and_large_enough() {
        let c = Catalog::embedded().expect("embedded catalog loads");
        assert!(c.intents.len() >= 25, "{} intents", c.intents.len());
        let categories: std::collections::BTreeSet<_> =
            c.intents.iter().map(|i| i.category.as_str()).collect();
        for cat in [
            "troubleshooting",
            "query_optimization",
            "performance",
            "architecture",
            "capacity",
            "security",
        ] {
            assert!(categories.contains(cat), "missing category {cat}");
        }
        assert!(
            c.error_codes.len() >= 60,
            "{} error codes",
            c.error_codes.len()
        );
        for r in &c.reports {
            for d in &r.diagnostics {
                assert!(
                    crate::diagnostics::catalog::known_names().contains(d.as_str()),
                    "report {} uses unknown {d}",
                    r.name
                );
            }
        }
        for e in &c.error_codes {
            assert!(
                ["postgres", "mysql", "mssql", "oracle"].contains(&e.engine.as_str()),
                "{}",
                e.code
            );
        }
    }

    #[test]
    fn codes_normalize() {
        assert_eq!(normalize_code("ora-00060"), "ORA-60");
        assert_eq!(normalize_code("40p01"), "40P01");
        assert_eq!(normalize_code("01205"), "01205");
        assert_eq!(normalize_code("1205"), "1205");
    }
}
