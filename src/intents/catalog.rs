//! The intent catalog, reports and error-code knowledge base, loaded from `intents/*.toml`.
//!
//! The files are embedded at build time, so the binary works alone; `intents_dir` in the config
//! points the engine at an editable copy instead. See `intents/README.md` for the format.

use super::registry;
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
    (
        "log-analysis.toml",
        include_str!("../../intents/log-analysis.toml"),
    ),
    ("reports.toml", include_str!("../../intents/reports.toml")),
    (
        "finding-actions.toml",
        include_str!("../../intents/finding-actions.toml"),
    ),
    (
        "error-codes.toml",
        include_str!("../../intents/error-codes.toml"),
    ),
    (
        "engine-vocabulary.toml",
        include_str!("../../intents/engine-vocabulary.toml"),
    ),
    ("thresholds.toml", crate::diagnostics::thresholds::EMBEDDED),
    ("synonyms.toml", super::classify::SYNONYMS_TOML),
    ("slot-questions.toml", SLOT_QUESTIONS_TOML),
];

/// The embedded `slot-questions.toml`.
const SLOT_QUESTIONS_TOML: &str = include_str!("../../intents/slot-questions.toml");

/// The questions asked back for a missing slot (`slot-questions.toml`), by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotQuestions(BTreeMap<String, String>);

/// Keys `slot-questions.toml` must hold, with the placeholders each may use.
const SLOT_QUESTION_KEYS: &[(&str, &[&str])] = &[
    ("target", &["title"]),
    ("target_or_none", &[]),
    ("report", &[]),
    ("sql", &[]),
    ("error_code", &[]),
    ("other", &["slot"]),
    ("no_targets", &[]),
    ("still_need", &["slot"]),
];

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotQuestionFile {
    questions: BTreeMap<String, String>,
}

impl SlotQuestions {
    /// The text for `key` with `{title}` / `{slot}` filled in; empty for a key the loader did
    /// not require (never after validation).
    pub fn get(&self, key: &str, title: &str, slot: &str) -> String {
        self.0
            .get(key)
            .map(|t| t.replace("{title}", title).replace("{slot}", slot))
            .unwrap_or_default()
    }

    fn parse(file: &str, text: &str) -> Result<Self, CatalogError> {
        let f: SlotQuestionFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
            file: file.to_string(),
            message: describe(text, &e),
        })?;
        let err = |key: &str, message: String| CatalogError::Parse {
            file: file.to_string(),
            message: format!(
                "line {}: `{key}`: {message}",
                line_of(text, 0, &format!("{key} ="))
            ),
        };
        for (key, value) in &f.questions {
            let Some((_, allowed)) = SLOT_QUESTION_KEYS.iter().find(|(k, _)| k == key) else {
                return Err(err(
                    key,
                    format!(
                        "unknown key (known: {})",
                        SLOT_QUESTION_KEYS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            for p in placeholders(value) {
                if !allowed.contains(&p.as_str()) {
                    return Err(err(key, format!("unknown placeholder `{{{p}}}`")));
                }
            }
        }
        for (key, _) in SLOT_QUESTION_KEYS {
            if !f.questions.contains_key(*key) {
                return Err(CatalogError::Parse {
                    file: file.to_string(),
                    message: format!("missing key `{key}` in [questions]"),
                });
            }
        }
        Ok(SlotQuestions(f.questions))
    }
}

/// A set of engine tags (`engine = "postgres"` or `engine = ["postgres", "mysql"]`), checked
/// against [`registry::ENGINE_TAGS`] when the catalog loads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Engines(pub Vec<String>);

impl Engines {
    /// Whether any tag covers the engine/flavour `f`.
    pub fn covers(&self, f: Flavour) -> bool {
        self.0.iter().any(|t| f.is_covered_by(t))
    }
}

/// `step.engine == engine_name` reads as "the step applies to that engine" (`mysql` covers both
/// MySQL and MariaDB tags); an unknown name matches nothing.
impl PartialEq<String> for Engines {
    fn eq(&self, other: &String) -> bool {
        Flavour::from_name(other).is_some_and(|f| self.covers(f))
    }
}

impl<'de> Deserialize<'de> for Engines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let tags = match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        if tags.is_empty() {
            return Err(serde::de::Error::custom(
                "`engine` is an empty list; omit it to mean every engine",
            ));
        }
        for t in &tags {
            if !registry::is_engine_tag(t) {
                return Err(serde::de::Error::custom(format!(
                    "unknown engine `{t}` in `engine` (known: {})",
                    registry::ENGINE_TAGS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(Engines(tags))
    }
}

/// The concrete engine (and MySQL flavour) an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flavour {
    Postgres,
    /// MySQL family, flavour not known (no `VERSION()` seen, nothing said).
    MysqlFamily,
    Mariadb,
    /// Oracle MySQL.
    Mysql,
    Sqlite,
    Mssql,
    Oracle,
    Db2,
}

impl Flavour {
    /// Every flavour, for tests that render the catalog for each.
    pub const ALL: [Flavour; 8] = [
        Flavour::Postgres,
        Flavour::MysqlFamily,
        Flavour::Mariadb,
        Flavour::Mysql,
        Flavour::Sqlite,
        Flavour::Mssql,
        Flavour::Oracle,
        Flavour::Db2,
    ];

    /// From an engine slot or config name (`postgres`, `mysql`, `mariadb`, `mysql-only`…).
    pub fn from_name(n: &str) -> Option<Flavour> {
        Some(match n {
            "postgres" => Flavour::Postgres,
            "mysql" => Flavour::MysqlFamily,
            "mariadb" => Flavour::Mariadb,
            "mysql-only" => Flavour::Mysql,
            "sqlite" => Flavour::Sqlite,
            "mssql" => Flavour::Mssql,
            "oracle" => Flavour::Oracle,
            "db2" => Flavour::Db2,
            _ => return None,
        })
    }

    /// Short name (`mariadb`), as used in tests and logs.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Postgres => "postgres",
            Flavour::MysqlFamily => "mysql",
            Flavour::Mariadb => "mariadb",
            Flavour::Mysql => "mysql-only",
            Flavour::Sqlite => "sqlite",
            Flavour::Mssql => "mssql",
            Flavour::Oracle => "oracle",
            Flavour::Db2 => "db2",
        }
    }

    /// Whether a line tagged `tag` applies. With the MySQL flavour unknown, lines for either
    /// flavour apply (they name their flavour in the text).
    pub fn is_covered_by(self, tag: &str) -> bool {
        use Flavour::*;
        match tag {
            "postgres" => self == Postgres,
            "mysql" => matches!(self, MysqlFamily | Mariadb | Mysql),
            "mariadb" => matches!(self, MysqlFamily | Mariadb),
            "mysql-only" => matches!(self, MysqlFamily | Mysql),
            "sqlite" => self == Sqlite,
            "mssql" => self == Mssql,
            "oracle" => self == Oracle,
            "db2" => self == Db2,
            "server" => self != Sqlite,
            // "unknown" lines compare engines; they are for answers without one (see `Scope::admits`).
            _ => false,
        }
    }
}

/// What an answer is for: engine flavour, server version and cloud, from the target, the
/// diagnostics that ran and what the user said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub engine: Option<Flavour>,
    /// Server version as numbers (`[10, 11, 6]`), from the `overview` finding's `version` fact.
    pub version: Option<Vec<u32>>,
    /// Playbook cloud key (`aws`, `azure`, `gcp`, `onprem`).
    pub cloud: Option<String>,
}

impl Scope {
    /// The MySQL flavour the server itself reported (`mariadb`: whether `VERSION()` says
    /// MariaDB), for a turn whose checks did not include `overview`. The server wins over the
    /// user's words ("MySQL 8" said of a MariaDB server); the `overview` finding, when it ran,
    /// already decided.
    pub fn with_server_flavour(mut self, mariadb: Option<bool>) -> Scope {
        let family = matches!(
            self.engine,
            Some(Flavour::MysqlFamily | Flavour::Mariadb | Flavour::Mysql)
        );
        if family && self.version.is_none() {
            match mariadb {
                Some(true) => self.engine = Some(Flavour::Mariadb),
                Some(false) => self.engine = Some(Flavour::Mysql),
                None => {}
            }
        }
        self
    }

    /// The scope of one turn. The target's engine wins over the engine slot; the MySQL flavour
    /// comes from the server's `VERSION()` (the `overview` finding) when it ran, else from the
    /// user's words ("MariaDB", "MySQL 8", "Aurora MySQL").
    pub fn detect<'f>(
        target: Option<&crate::config::Target>,
        slots: &crate::intents::Slots,
        findings: impl IntoIterator<Item = &'f crate::diagnostics::Finding>,
        user_text: &str,
    ) -> Scope {
        let said = user_text.to_lowercase();
        let word = |w: &str| {
            said.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|x| x == w)
        };
        let mut engine = stated_engine(user_text).or_else(|| {
            target
                .map(|t| t.engine.as_str())
                .or(slots.engine.as_deref())
                .and_then(Flavour::from_name)
        });
        let version_fact = findings
            .into_iter()
            .find(|f| f.code == "overview")
            .and_then(|f| f.facts.get("version").cloned());
        if engine == Some(Flavour::MysqlFamily) {
            engine = Some(match &version_fact {
                Some(v) if v.to_lowercase().contains("mariadb") => Flavour::Mariadb,
                Some(_) => Flavour::Mysql,
                None if word("mariadb") => Flavour::Mariadb,
                None if said.contains("mysql 8") || said.contains("aurora mysql") => Flavour::Mysql,
                None => Flavour::MysqlFamily,
            });
        }
        let cloud = target
            .map(|t| t.cloud.clone())
            .or_else(|| slots.cloud.clone())
            .map(|c| registry::cloud_key(&c).to_string());
        Scope {
            engine,
            version: version_fact.as_deref().and_then(parse_version),
            cloud,
        }
    }

    /// Whether a line with these tags applies (cloud is left to the recommender).
    pub fn admits(&self, s: &Step) -> bool {
        let engine_ok = match (&s.engine, self.engine) {
            (None, _) => true,
            (Some(tags), Some(f)) => tags.covers(f),
            (Some(tags), None) => tags.0.iter().any(|t| t == "unknown"),
        };
        let version_ok = match (&s.min_version, &self.version) {
            (Some(min), Some(have)) => parse_version(min).is_none_or(|m| *have >= m),
            _ => true,
        };
        engine_ok && version_ok
    }
}

/// The engine the user names in this message ("MySQL error 1205", "on our MariaDB", "SQL Server
/// Msg 1205", "Db2"), which decides over the target's engine for what the answer is about.
pub fn stated_engine(text: &str) -> Option<Flavour> {
    let t = text.to_lowercase();
    let words: Vec<&str> = t
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let found: Vec<Flavour> = [
        (
            has("postgres") || has("postgresql") || has("psql"),
            Flavour::Postgres,
        ),
        (has("mariadb"), Flavour::Mariadb),
        (has("mysql") && !has("mariadb"), Flavour::MysqlFamily),
        (
            t.contains("sql server") || has("mssql") || has("tsql"),
            Flavour::Mssql,
        ),
        (has("oracle"), Flavour::Oracle),
        (has("sqlite"), Flavour::Sqlite),
        (has("db2"), Flavour::Db2),
    ]
    .into_iter()
    .filter_map(|(hit, f)| hit.then_some(f))
    .collect();
    // Two engines named ("migrating from MySQL to PostgreSQL"): the message is about both.
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// `"10.11.6-MariaDB-0+deb12u1"` → `[10, 11, 6]`; `"15.20"` → `[15, 20]`.
pub fn parse_version(v: &str) -> Option<Vec<u32>> {
    let head: String = v
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u32> = head
        .split('.')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    (!parts.is_empty()).then_some(parts)
}

fn de_when<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(code) = &v {
        if registry::facts_of(code).is_none() {
            return Err(serde::de::Error::custom(format!(
                "unknown finding code `{code}` in `when` (no diagnostic emits it; see intents/README.md)"
            )));
        }
    }
    Ok(v)
}

fn de_unless<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let v = match OneOrMany::deserialize(d)? {
        OneOrMany::One(c) => vec![c],
        OneOrMany::Many(v) => v,
    };
    if let Some(code) = v.iter().find(|c| registry::facts_of(c).is_none()) {
        return Err(serde::de::Error::custom(format!(
            "unknown finding code `{code}` in `unless` (no diagnostic emits it; see intents/README.md)"
        )));
    }
    Ok(v)
}

fn de_checked_by<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(check) = &v {
        if !crate::diagnostics::catalog::known_names().contains(check.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "unknown diagnostic `{check}` in `checked_by` (see the check names in intents/README.md)"
            )));
        }
    }
    Ok(v)
}

fn de_cloud<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(c) = &v {
        if !registry::CLOUDS.contains(&registry::cloud_key(c)) {
            return Err(serde::de::Error::custom(format!(
                "unknown cloud `{c}` in `cloud` (known: {})",
                registry::CLOUDS.join(", ")
            )));
        }
    }
    Ok(v)
}

fn de_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(s) = &v {
        if !s
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(serde::de::Error::custom(format!(
                "`min_version` must be dotted numbers like \"8.0.18\", not `{s}`"
            )));
        }
    }
    Ok(v)
}

/// One playbook line: shown when its `when` finding code is present (or always without `when`),
/// for the engines in `engine` (omitted = every engine), on the `cloud` given (omitted = any)
/// and, with `min_version`, only when the server is at least that version (unknown = shown).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, deserialize_with = "de_when")]
    pub when: Option<String>,
    /// Finding codes that rule the line out: evidence that points elsewhere ("pool maths against
    /// max_connections" is hidden when a role's own CONNECTION LIMIT is what refuses sessions).
    #[serde(default, deserialize_with = "de_unless")]
    pub unless: Vec<String>,
    /// The diagnostic that already looks for what the line tells the user to look up by hand
    /// ("Replication slots and the WAL they hold: SELECT … FROM pg_replication_slots"): the line
    /// is left out when that check ran successfully in this turn, since its findings (or their
    /// absence) answer it, and shown when the check failed, was skipped or did not run.
    #[serde(default, deserialize_with = "de_checked_by")]
    pub checked_by: Option<String>,
    #[serde(default)]
    pub engine: Option<Engines>,
    #[serde(default, deserialize_with = "de_cloud")]
    pub cloud: Option<String>,
    /// Lowest server version the line is valid for (`"8.0.18"`), for the single engine it names.
    #[serde(default, deserialize_with = "de_version")]
    pub min_version: Option<String>,
    pub text: String,
    /// Remediation or verification SQL, shown to a human; never executed by the bot.
    #[serde(default)]
    pub sql: Option<String>,
}

/// A `situation` or a cloud tip: one text for every engine, or texts per engine tag.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
enum PerEngine {
    All(String),
    By(BTreeMap<EngineKey, String>),
}

/// A key of a per-engine table: an engine tag, or `default` for every other engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EngineKey(String);

impl<'de> Deserialize<'de> for EngineKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s != "default" && !registry::is_engine_tag(&s) {
            return Err(serde::de::Error::custom(format!(
                "unknown engine `{s}` as a key (known: default, {})",
                registry::ENGINE_TAGS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(EngineKey(s))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    #[serde(default)]
    situation: Option<PerEngine>,
    #[serde(default)]
    root_causes: Vec<Step>,
    #[serde(default)]
    immediate: Vec<Step>,
    #[serde(default)]
    longer_term: Vec<Step>,
    #[serde(default)]
    verify: Vec<Step>,
    #[serde(default)]
    cloud: BTreeMap<CloudKey, PerEngine>,
}

/// A key of the playbook `cloud` table, checked against [`registry::CLOUDS`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CloudKey(String);

impl<'de> Deserialize<'de> for CloudKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !registry::CLOUDS.contains(&s.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "unknown cloud `{s}` in `cloud` (known: {})",
                registry::CLOUDS.join(", ")
            )));
        }
        Ok(CloudKey(s))
    }
}

/// Splits a per-engine text into the all-engines text and engine-tagged lines.
fn split(p: Option<PerEngine>, cloud: Option<&str>) -> (Option<String>, Vec<Step>) {
    let line = |tags: Option<Engines>, text: String| Step {
        when: None,
        unless: Vec::new(),
        checked_by: None,
        engine: tags,
        cloud: cloud.map(str::to_string),
        min_version: None,
        text,
        sql: None,
    };
    match p {
        None => (None, vec![]),
        Some(PerEngine::All(t)) => (Some(t), vec![]),
        Some(PerEngine::By(m)) => {
            let mut default = None;
            let mut lines = Vec::new();
            for (EngineKey(k), t) in m {
                if k == "default" {
                    default = Some(t);
                } else {
                    lines.push(line(Some(Engines(vec![k])), t));
                }
            }
            (default, lines)
        }
    }
}

impl From<RawPlaybook> for Playbook {
    fn from(r: RawPlaybook) -> Self {
        let (situation, situations) = split(r.situation, None);
        let mut cloud = BTreeMap::new();
        let mut platform = Vec::new();
        for (CloudKey(k), p) in r.cloud {
            let (all, lines) = split(Some(p), Some(&k));
            if let Some(a) = all {
                cloud.insert(k, a);
            }
            platform.extend(lines);
        }
        Playbook {
            situation: situation.unwrap_or_default(),
            situations,
            root_causes: r.root_causes,
            immediate: r.immediate,
            longer_term: r.longer_term,
            verify: r.verify,
            cloud,
            platform,
            ready: Vec::new(),
        }
    }
}

/// How the rule-based recommender answers an intent.
///
/// In the files, `situation` and each `cloud` value are a string (every engine) or a table per
/// engine tag with an optional `default` (`cloud = { aws = { postgres = "…", mysql = "…" } }`).
/// [`Intent::scoped`] resolves both for one engine.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(from = "RawPlaybook")]
pub struct Playbook {
    /// The situation for engines without their own (the `default`, or the only text).
    pub situation: String,
    /// Engine-specific situations; the first that applies wins.
    pub situations: Vec<Step>,
    pub root_causes: Vec<Step>,
    pub immediate: Vec<Step>,
    pub longer_term: Vec<Step>,
    pub verify: Vec<Step>,
    /// Advice per cloud for every engine: keys `aws`, `azure`, `gcp`, `onprem`.
    pub cloud: BTreeMap<String, String>,
    /// Engine-specific cloud advice (each with `cloud` and `engine` set).
    pub platform: Vec<Step>,
    /// What a finding's ready statement does (`finding-actions.toml`), shared by every intent:
    /// `when` is the finding code and `sql` names the statement fact (`{drop_sql}`).
    pub ready: Vec<Step>,
}

impl Playbook {
    /// Every line with its section name, for validation and tests.
    pub fn lines(&self) -> Vec<(&'static str, &Step)> {
        let mut out = Vec::new();
        for (name, v) in [
            ("situation", &self.situations),
            ("root_causes", &self.root_causes),
            ("immediate", &self.immediate),
            ("longer_term", &self.longer_term),
            ("verify", &self.verify),
            ("cloud", &self.platform),
            ("ready", &self.ready),
        ] {
            out.extend(v.iter().map(|s| (name, s)));
        }
        out
    }
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

impl Intent {
    /// The intent as it applies to one scope: lines for other engines (or newer versions) are
    /// gone, the situation and cloud tips are the ones for this engine, and the remaining lines
    /// carry no engine tag any more (everything left applies). Lines tagged with an engine are
    /// dropped when the engine is unknown.
    pub fn scoped(&self, scope: &Scope) -> Intent {
        let keep = |v: &[Step]| -> Vec<Step> {
            v.iter()
                .filter(|s| scope.admits(s))
                .cloned()
                .map(|mut s| {
                    s.engine = None;
                    s.min_version = None;
                    s
                })
                .collect()
        };
        let pb = &self.playbook;
        let situation = pb
            .situations
            .iter()
            .find(|s| s.engine.is_some() && scope.admits(s))
            .map(|s| s.text.clone())
            .unwrap_or_else(|| pb.situation.clone());
        let mut cloud = BTreeMap::new();
        for key in registry::CLOUDS {
            // An engine's own tip replaces the `default` (as an engine's own situation does):
            // the default often names another engine's service ("Flexible server" beside
            // Azure SQL), and an engine tip that adds to it repeats what it needs.
            let mut parts: Vec<String> = pb
                .platform
                .iter()
                .filter(|s| s.cloud.as_deref() == Some(*key) && scope.admits(s))
                .map(|s| s.text.clone())
                .collect();
            if parts.is_empty() {
                parts.extend(pb.cloud.get(*key).cloned());
            }
            if !parts.is_empty() {
                cloud.insert(key.to_string(), parts.join(" "));
            }
        }
        let mut out = self.clone();
        out.playbook = Playbook {
            situation,
            situations: Vec::new(),
            root_causes: keep(&pb.root_causes),
            immediate: keep(&pb.immediate),
            longer_term: keep(&pb.longer_term),
            verify: keep(&pb.verify),
            cloud,
            platform: Vec::new(),
            ready: keep(&pb.ready),
        };
        out
    }
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
    /// One of [`registry::CODE_ENGINES`]: `postgres`, `mysql` (MySQL and MariaDB), `mariadb`, `mysql-only`
    /// (MariaDB only), `sqlite`, `mssql`, `oracle`, `db2`.
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

/// An error message without a code, matched to its code (`[[pattern]]` in `error-codes.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessagePattern {
    /// Engine of the code (one of [`registry::CODE_ENGINES`]).
    pub engine: String,
    /// The code as in the knowledge base (`53300`, `1062`, `SQLITE_BUSY`).
    pub code: String,
    /// Case-insensitive regular expression over the user's message.
    #[serde(rename = "match")]
    pub pattern: String,
}

/// Words and identifiers that belong to some engines only (`engine-vocabulary.toml`): an
/// answer for an engine none of a word's owners covers must not contain it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vocabulary {
    /// (owning engine tag, word); a trailing `*` matches any continuation (`pg_*`).
    pub words: Vec<(String, String)>,
    /// (engine tag, engine or product name): another engine's name is foreign too, unless the
    /// same text also names the answer's own engine ("SQLite has no transaction ID wraparound;
    /// that is a PostgreSQL limit" says plainly what the engine lacks).
    pub names: Vec<(String, String)>,
}

impl Vocabulary {
    /// Words in `text` that do not belong to `f`, each with its owners.
    pub fn foreign(&self, text: &str, f: Flavour) -> Vec<String> {
        let lower = text.to_lowercase();
        let mut out: Vec<String> = Vec::new();
        for (tag, w) in &self.words {
            if f.is_covered_by(tag) {
                continue;
            }
            // All-capitals words (`COPY`, `PRAGMA`, `PANIC`) match as written, so the plain
            // word in prose ("keep a copy") is not the command; others ignore case.
            let shouting = w.chars().any(|c| c.is_alphabetic()) && *w == w.to_uppercase();
            let hit = if shouting {
                contains_term(text, w)
            } else {
                contains_term(&lower, &w.to_lowercase())
            };
            if !hit {
                continue;
            }
            let owned_here = self
                .words
                .iter()
                .any(|(t2, w2)| w2 == w && f.is_covered_by(t2));
            if !owned_here {
                let hit = format!("`{w}` ({tag})");
                if !out.contains(&hit) {
                    out.push(hit);
                }
            }
        }
        let names_own = self
            .names
            .iter()
            .any(|(t, n)| f.is_covered_by(t) && contains_term(&lower, &n.to_lowercase()));
        if !names_own {
            for (tag, n) in &self.names {
                let foreign_name = !self
                    .names
                    .iter()
                    .any(|(t2, n2)| n2 == n && f.is_covered_by(t2));
                if foreign_name && contains_term(&lower, &n.to_lowercase()) {
                    let hit = format!("`{n}` ({tag}, named without {})", f.name());
                    if !out.contains(&hit) {
                        out.push(hit);
                    }
                }
            }
        }
        out
    }
}

/// `term` in `hay` with a word boundary on both sides (a trailing `*` drops the right one).
fn contains_term(hay: &str, term: &str) -> bool {
    let (term, prefix) = match term.strip_suffix('*') {
        Some(t) => (t, true),
        None => (term, false),
    };
    if term.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = hay[from..].find(term) {
        let start = from + pos;
        let end = start + term.len();
        let left_ok = hay[..start].chars().next_back().is_none_or(|c| !is_word(c));
        let right_ok = prefix || hay[end..].chars().next().is_none_or(|c| !is_word(c));
        if left_ok && right_ok {
            return true;
        }
        from = start + term.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    vocabulary: BTreeMap<EngineKey, Vec<String>>,
    #[serde(default)]
    names: BTreeMap<EngineKey, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFile {
    #[serde(default)]
    action: Vec<Step>,
}

/// The statement facts a `finding-actions.toml` entry may describe.
const STATEMENT_FACTS: [&str; 3] = ["{fix_sql}", "{drop_sql}", "{create_sql}"];

/// Checks `finding-actions.toml`: every action names a finding code, one of its statements, and
/// only that finding's facts.
fn validate_actions(file: &str, text: &str, actions: &[Step]) -> Result<(), CatalogError> {
    let bad = |needle: &str, message: String| CatalogError::Parse {
        file: file.to_string(),
        message: format!("line {}: {message}", line_of(text, 0, needle)),
    };
    for a in actions {
        let head: String = a.text.chars().take(30).collect();
        let Some(code) = a.when.as_deref() else {
            return Err(bad(
                &head,
                "an action needs `when` (the finding code)".into(),
            ));
        };
        if !a
            .sql
            .as_deref()
            .is_some_and(|q| STATEMENT_FACTS.contains(&q))
        {
            let needle = a
                .sql
                .as_ref()
                .map(|q| format!("sql = \"{q}\""))
                .unwrap_or(head);
            return Err(bad(
                &needle,
                format!(
                    "`sql` must be one of {} (the finding's own statement)",
                    STATEMENT_FACTS.join(", ")
                ),
            ));
        }
        let facts = registry::facts_of(code).unwrap_or(&[]);
        let slots = crate::intents::slots::NAMES;
        if let Some(p) = placeholders(&a.text)
            .into_iter()
            .find(|p| !facts.contains(&p.as_str()) && !slots.contains(&p.as_str()))
        {
            return Err(bad(
                &format!("{{{p}}}"),
                format!(
                    "placeholder {{{p}}} is not a fact of `{code}` (facts: {})",
                    facts.join(", ")
                ),
            ));
        }
    }
    Ok(())
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
    #[serde(default)]
    pattern: Vec<MessagePattern>,
}

/// Everything under `intents/`, validated.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub intents: Vec<Intent>,
    pub reports: Vec<Report>,
    pub error_codes: Vec<ErrorCode>,
    /// Message patterns for errors quoted without their code.
    pub patterns: Vec<MessagePattern>,
    compiled: Vec<regex::Regex>,
    /// The same entries with only the meaning, for a code several engines share when the
    /// engine is unknown.
    brief: Vec<ErrorCode>,
    /// Engine-owned vocabulary (tests check every answer against it).
    pub vocabulary: Vocabulary,
    /// What the diagnostics grade findings by (`thresholds.toml`; the embedded copy when the
    /// directory has none).
    pub thresholds: crate::diagnostics::Thresholds,
    /// Synonyms, stop words, slot-only and urgency words the classifier uses
    /// (`synonyms.toml`; the embedded copy when the directory has none).
    pub lexicon: super::classify::Lexicon,
    /// What the bot asks for a missing slot (`slot-questions.toml`; the embedded copy when the
    /// directory has none).
    pub slot_questions: SlotQuestions,
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
            patterns: Vec::new(),
            compiled: Vec::new(),
            brief: Vec::new(),
            vocabulary: Vocabulary::default(),
            thresholds: crate::diagnostics::Thresholds::embedded(),
            lexicon: super::classify::Lexicon::embedded().clone(),
            // A directory without its own copy asks the embedded questions.
            slot_questions: SlotQuestions::parse("slot-questions.toml", SLOT_QUESTIONS_TOML)?,
        };
        let mut actions: Vec<Step> = Vec::new();
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
                    let f = toml::from_str::<CodeFile>(&text).map_err(perr)?;
                    validate_codes(&name, &text, &f)?;
                    cat.compiled = f
                        .pattern
                        .iter()
                        .map(|p| {
                            regex::RegexBuilder::new(&p.pattern)
                                .case_insensitive(true)
                                .size_limit(1 << 20)
                                .build()
                                .map_err(|e| CatalogError::Parse {
                                    file: name.clone(),
                                    message: format!(
                                        "line {}: pattern `match`: {e}",
                                        line_of(
                                            &text,
                                            text.find("\n[[pattern]]").unwrap_or(0),
                                            &p.pattern
                                        )
                                    ),
                                })
                        })
                        .collect::<Result<_, _>>()?;
                    cat.brief = f
                        .code
                        .iter()
                        .map(|e| ErrorCode {
                            causes: Vec::new(),
                            fixes: Vec::new(),
                            ..e.clone()
                        })
                        .collect();
                    cat.error_codes = f.code;
                    cat.patterns = f.pattern;
                }
                "thresholds.toml" => {
                    cat.thresholds =
                        crate::diagnostics::Thresholds::parse(&name, &text).map_err(|e| {
                            CatalogError::Parse {
                                file: name.clone(),
                                message: format!("line {}: `{}`: {}", e.line, e.key, e.message),
                            }
                        })?;
                }
                "synonyms.toml" => {
                    cat.lexicon = super::classify::Lexicon::parse(&text).map_err(perr)?;
                }
                "slot-questions.toml" => {
                    cat.slot_questions = SlotQuestions::parse(&name, &text)?;
                }
                "finding-actions.toml" => {
                    let f = toml::from_str::<ActionFile>(&text).map_err(perr)?;
                    validate_actions(&name, &text, &f.action)?;
                    actions = f.action;
                }
                "engine-vocabulary.toml" => {
                    let f = toml::from_str::<VocabularyFile>(&text).map_err(perr)?;
                    let pairs = |m: BTreeMap<EngineKey, Vec<String>>| -> Vec<(String, String)> {
                        m.into_iter()
                            .flat_map(|(EngineKey(k), ws)| {
                                ws.into_iter().map(move |w| (k.clone(), w))
                            })
                            .collect()
                    };
                    cat.vocabulary.words = pairs(f.vocabulary);
                    cat.vocabulary.names = pairs(f.names);
                }
                _ => {
                    let f: IntentFile = toml::from_str(&text).map_err(perr)?;
                    for i in &f.intent {
                        validate(&name, &text, i)?;
                    }
                    cat.intents.extend(f.intent);
                }
            }
        }
        for e in &cat.error_codes {
            if let Some(name) = &e.intent {
                if !cat.intents.is_empty() && cat.intent(name).is_none() {
                    return Err(CatalogError::Parse {
                        file: "error-codes.toml".into(),
                        message: format!(
                            "code {} ({}): unknown intent `{name}` in `intent`",
                            e.code, e.engine
                        ),
                    });
                }
            }
        }
        for i in &mut cat.intents {
            i.playbook.ready = actions.clone();
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

    /// The first intent (in catalog order) whose root causes explain finding `code`.
    pub fn explaining(&self, code: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| {
            i.playbook
                .root_causes
                .iter()
                .any(|s| s.when.as_deref() == Some(code))
        })
    }

    /// `intent` with the playbook lines other intents keep for finding `codes` this intent has
    /// no line for: the evidence decides what the answer explains, whatever words chose the
    /// intent ("reads are slow" on SQLite with an oversized -wal file gets the WAL lines).
    /// Only lines whose `when` is one of those codes are borrowed, from the first intent (in
    /// catalog order) that explains the code in its root causes.
    pub fn with_lines_for(&self, intent: &Intent, codes: &[&str]) -> Intent {
        let mut out = intent.clone();
        let has = |i: &Intent, code: &str| {
            i.playbook
                .lines()
                .iter()
                .any(|(_, s)| s.when.as_deref() == Some(code))
        };
        for code in codes {
            if has(intent, code) {
                continue;
            }
            // Never `intent` itself: it has no line for the code.
            let Some(donor) = self.explaining(code) else {
                continue;
            };
            let pick = |steps: &[Step]| -> Vec<Step> {
                steps
                    .iter()
                    .filter(|s| s.when.as_deref() == Some(*code))
                    .cloned()
                    .collect()
            };
            let pb = &mut out.playbook;
            // Borrowed explanations go first: they come from the live evidence.
            let mut rc = pick(&donor.playbook.root_causes);
            rc.append(&mut pb.root_causes);
            pb.root_causes = rc;
            let mut im = pick(&donor.playbook.immediate);
            im.append(&mut pb.immediate);
            pb.immediate = im;
            pb.longer_term.extend(pick(&donor.playbook.longer_term));
            pb.verify.extend(pick(&donor.playbook.verify));
        }
        out
    }

    /// `intent` with only the lines for `scope` ([`Intent::scoped`]), less any line or cloud tip
    /// whose template still holds another engine's vocabulary ([`Vocabulary::foreign`]): a line
    /// a DBA edited into the catalog without its `engine` tag is left out of the answer (with a
    /// warning in the log) rather than shown on the wrong engine. The rendering test fails on
    /// the same lines, so the embedded catalog has none.
    pub fn scoped(&self, intent: &Intent, scope: &Scope) -> Intent {
        let mut out = intent.scoped(scope);
        let Some(f) = scope.engine else {
            return out;
        };
        let foreign = |t: &str| {
            let hits = self.vocabulary.foreign(t, f);
            if !hits.is_empty() {
                tracing::warn!(intent = %intent.name, engine = f.name(), words = %hits.join(", "),
                    "a playbook line holds another engine's vocabulary; left out of the answer");
            }
            !hits.is_empty()
        };
        let pb = &mut out.playbook;
        for steps in [
            &mut pb.root_causes,
            &mut pb.immediate,
            &mut pb.longer_term,
            &mut pb.verify,
            &mut pb.ready,
        ] {
            steps.retain(|s| !foreign(&s.text) && !s.sql.as_deref().is_some_and(foreign));
        }
        pb.cloud.retain(|_, tip| !foreign(tip));
        out
    }

    pub fn report(&self, name: &str) -> Option<&Report> {
        let n = name.to_lowercase().replace('_', "-");
        self.reports.iter().find(|r| r.name == n)
    }

    /// Knowledge-base entries for a code as users write it (`53300`, `1205`, `ORA-60`).
    ///
    /// With an engine (stated by the user or the target's) that has the code, only its entries
    /// (`mysql` covers MariaDB-only entries too). Without one, or when that engine does not
    /// have the code, every engine's entry: only their meanings (no causes or fixes, which would
    /// mix engines) when an engine is known or several engines share the code.
    pub fn error_code(&self, code: &str, engine: Option<&str>) -> Vec<&ErrorCode> {
        let norm = normalize_code(code);
        let idx: Vec<usize> = (0..self.error_codes.len())
            .filter(|i| normalize_code(&self.error_codes[*i].code) == norm)
            .collect();
        let flavour = engine.and_then(Flavour::from_name);
        if let Some(f) = flavour {
            let mine: Vec<&ErrorCode> = idx
                .iter()
                .map(|i| &self.error_codes[*i])
                .filter(|e| {
                    f.is_covered_by(&e.engine)
                        || (e.engine == "mariadb" && f == Flavour::MysqlFamily)
                })
                .collect();
            if !mine.is_empty() {
                return mine;
            }
        }
        let engines: std::collections::BTreeSet<&str> = idx
            .iter()
            .map(|i| self.error_codes[*i].engine.as_str())
            .collect();
        // Several engines share the code, or the engine in question does not have it (a MySQL
        // code asked about on a PostgreSQL target): meanings only, so no other engine's causes
        // or fixes reach the answer.
        if engines.len() > 1 || flavour.is_some() {
            idx.iter().map(|i| &self.brief[*i]).collect()
        } else {
            idx.iter().map(|i| &self.error_codes[*i]).collect()
        }
    }

    /// The (engine, code) of the first message pattern that matches `text`
    /// ("remaining connection slots are reserved…" → (`postgres`, `53300`)).
    ///
    /// With an engine known (stated, or the target's), only that engine's patterns count: "FATAL:
    /// too many connections for role" on a PostgreSQL target is 53300, never MySQL's 1040, and a
    /// message no pattern of that engine knows gets no code rather than another engine's.
    pub fn match_message(&self, text: &str, engine: Option<&str>) -> Option<&MessagePattern> {
        let flavour = engine.and_then(Flavour::from_name);
        self.compiled
            .iter()
            .zip(&self.patterns)
            .find(|(r, p)| {
                flavour.is_none_or(|f| {
                    f.is_covered_by(&p.engine)
                        || (p.engine == "mariadb" && f == Flavour::MysqlFamily)
                }) && r.is_match(text)
            })
            .map(|(_, p)| p)
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

/// 1-based line of the first `needle` at or after byte `from` of `text` (the start of the
/// owning table when not found).
fn line_of(text: &str, from: usize, needle: &str) -> usize {
    let from = from.min(text.len());
    let at = text[from..].find(needle).map(|p| from + p).unwrap_or(from);
    text[..at].matches('\n').count() + 1
}

/// Byte offset of an intent's `name = "…"` line (0 when not found).
fn intent_start(text: &str, name: &str) -> usize {
    text.find(&format!("name = \"{name}\"")).unwrap_or(0)
}

/// `{name}` placeholders in `text` (identifier characters only; JSON braces are not placeholders).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    v.push(name.to_string());
                    rest = &after[close + 1..];
                } else {
                    rest = after;
                }
            }
            None => break,
        }
    }
    v
}

fn validate(file: &str, text: &str, i: &Intent) -> Result<(), CatalogError> {
    let start = intent_start(text, &i.name);
    let bad = |needle: &str, message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: i.name.clone(),
        message: format!("line {}: {message}", line_of(text, start, needle)),
    };
    if i.examples.len() < 8 {
        return Err(bad(
            "examples",
            format!(
                "`examples` needs at least 8 entries, has {}",
                i.examples.len()
            ),
        ));
    }
    let slots = crate::intents::slots::NAMES;
    for s in i.required_slots.iter().chain(&i.optional_slots) {
        if !slots.contains(&s.as_str()) {
            return Err(bad(
                &format!("\"{s}\""),
                format!(
                    "unknown slot `{s}` in `required_slots`/`optional_slots` (known: {})",
                    slots.join(", ")
                ),
            ));
        }
    }
    let known = crate::diagnostics::catalog::known_names();
    for d in &i.diagnostics {
        if !known.contains(d.as_str()) {
            return Err(bad(
                &format!("\"{d}\""),
                format!("unknown diagnostic `{d}` in `diagnostics`"),
            ));
        }
    }
    let pb = &i.playbook;
    let check_text = |key: &str, t: &str, when: Option<&str>| -> Result<(), CatalogError> {
        let facts = when.and_then(registry::facts_of).unwrap_or(&[]);
        for p in placeholders(t) {
            if !slots.contains(&p.as_str()) && !facts.contains(&p.as_str()) {
                let what = match when {
                    Some(w) => format!(
                        "is neither a slot nor a fact of `{w}` (facts: {})",
                        if facts.is_empty() {
                            "none".to_string()
                        } else {
                            facts.join(", ")
                        }
                    ),
                    None => {
                        "is not a slot (a line without `when` has no finding facts)".to_string()
                    }
                };
                return Err(bad(
                    &format!("{{{p}}}"),
                    format!("`{key}`: placeholder {{{p}}} {what}"),
                ));
            }
        }
        Ok(())
    };
    check_text("situation", &pb.situation, None)?;
    for t in pb.cloud.values() {
        check_text("cloud", t, None)?;
    }
    for (section, s) in pb.lines() {
        check_text(section, &s.text, s.when.as_deref())?;
        if let Some(q) = &s.sql {
            check_text(&format!("{section}.sql"), q, s.when.as_deref())?;
        }
        if s.min_version.is_some() {
            let single = s
                .engine
                .as_ref()
                .is_some_and(|e| e.0.len() == 1 && !["mysql", "server"].contains(&e.0[0].as_str()));
            if !single {
                let head: String = s.text.chars().take(30).collect();
                return Err(bad(
                    &head,
                    format!("`{section}`: `min_version` needs exactly one concrete `engine` (versions differ per engine; use mariadb or mysql-only, not mysql)"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_codes(file: &str, text: &str, f: &CodeFile) -> Result<(), CatalogError> {
    let bad = |needle: &str, message: String| CatalogError::Parse {
        file: file.to_string(),
        message: format!("line {}: {message}", line_of(text, 0, needle)),
    };
    let mut seen = std::collections::HashSet::new();
    for e in &f.code {
        if !registry::CODE_ENGINES.contains(&e.engine.as_str()) {
            return Err(bad(
                &format!("engine = \"{}\"", e.engine),
                format!(
                    "code {}: unknown engine `{}` in `engine` (known: {})",
                    e.code,
                    e.engine,
                    registry::CODE_ENGINES.join(", ")
                ),
            ));
        }
        if !seen.insert((e.engine.as_str(), normalize_code(&e.code))) {
            return Err(bad(
                &format!("code = \"{}\"", e.code),
                format!("code {} for {} is defined twice", e.code, e.engine),
            ));
        }
    }
    let patterns_start = text.find("\n[[pattern]]").unwrap_or(0);
    for p in &f.pattern {
        let exists = f
            .code
            .iter()
            .any(|e| e.engine == p.engine && normalize_code(&e.code) == normalize_code(&p.code));
        if !exists {
            return Err(CatalogError::Parse {
                file: file.to_string(),
                message: format!(
                    "line {}: pattern `{}`: `code` has no [[code]] entry for engine `{}` code `{}`",
                    line_of(text, patterns_start, &p.pattern),
                    p.pattern,
                    p.engine,
                    p.code
                ),
            });
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
                registry::CODE_ENGINES.contains(&e.engine.as_str()),
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
