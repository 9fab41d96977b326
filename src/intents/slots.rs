//! Slot extraction: target, engine, environment, cloud, error code, SQL, time hint, object and
//! report name, from one message. Pure functions over text plus the configured target names.

use crate::config::{normalize_cloud, normalize_environment};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// What the bot knows about the request. Every field is optional until filled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `postgres`, `mysql`, `mssql`, `sqlite` or `oracle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// `prod`, `staging` or `dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `aws`, `azure`, `gcp` or `on-prem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// A time hint as the user wrote it ("since 10:00").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// A table or other object the user named ("events").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The managed service or flavour the user named (`Aurora PostgreSQL`, `RDS for MySQL`,
    /// `Cloud SQL for MySQL`, `Azure SQL Database`, `AlloyDB`…), as a human label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// The engine version the user named ("15", "8.0").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The user asked for advice only ("none of these", "not connected", "just advice"): no
    /// configured database is used until one is named.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub advice_only: bool,
    /// A database the user named this turn that is not configured ("billing-db"): the turn
    /// answers as advice and says so, instead of diagnosing another database. Never stored.
    #[serde(skip)]
    pub unknown_target: Option<String>,
}

impl Slots {
    /// Reads a slot by name (`target`, `sql`…).
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "target" => self.target.as_deref(),
            "engine" => self.engine.as_deref(),
            "environment" => self.environment.as_deref(),
            "cloud" => self.cloud.as_deref(),
            "error_code" => self.error_code.as_deref(),
            "sql" => self.sql.as_deref(),
            "time" => self.time.as_deref(),
            "object" => self.object.as_deref(),
            "report" => self.report.as_deref(),
            "flavor" => self.flavor.as_deref(),
            "version" => self.version.as_deref(),
            _ => None,
        }
    }

    /// Sets a slot by name; unknown names are ignored.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        let field = match name {
            "target" => &mut self.target,
            "engine" => &mut self.engine,
            "environment" => &mut self.environment,
            "cloud" => &mut self.cloud,
            "error_code" => &mut self.error_code,
            "sql" => &mut self.sql,
            "time" => &mut self.time,
            "object" => &mut self.object,
            "report" => &mut self.report,
            "flavor" => &mut self.flavor,
            "version" => &mut self.version,
            _ => return,
        };
        *field = value;
    }

    /// Overwrites slots with every value `newer` has ("actually it's staging").
    pub fn merge(&mut self, newer: &Slots) {
        for name in NAMES {
            if let Some(v) = newer.get(name) {
                self.set(name, Some(v.to_string()));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        NAMES.iter().all(|n| self.get(n).is_none())
    }
}

/// Every slot name.
pub const NAMES: &[&str] = &[
    "target",
    "engine",
    "environment",
    "cloud",
    "error_code",
    "sql",
    "time",
    "object",
    "report",
    "flavor",
    "version",
];

/// A configured target as the extractor sees it.
#[derive(Debug, Clone)]
pub struct TargetName {
    pub alias: String,
    pub aliases: Vec<String>,
    pub environment: String,
}

/// Slots found in one message, plus targets that matched ambiguously.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub slots: Slots,
    /// Several targets fit what the user wrote (e.g. "orders" with orders-prod and orders-staging).
    pub ambiguous_targets: Vec<String>,
}

static FENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)```(?:sql|SQL|pgsql|mysql|tsql)?\s*(.*?)```").expect("static regex")
});
static INLINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`([^`]+)`").expect("static regex"));
static SQL_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^\s*(select|with|delete|update|insert|drop|alter|truncate|create|merge|replace|grant|revoke|explain)\b").expect("static regex")
});
static AFTER_EXPLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)\bexplain\b(?:\s+(?:this|the|plan|query|for|of|me|please|statement|sql|select\s+plan))*\s*[:\-]?\s*((?:select|with|delete|update|insert|drop|alter|truncate|create|merge|replace|explain)\b.*)$").expect("static regex")
});
static STRONG_SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)\b(select\s.+?\sfrom\s.+|delete\s+from\s+\S+.*|update\s+\S+\s+set\s.+|insert\s+into\s+\S+.*|drop\s+(?:table|index|database|schema)\s+\S+.*|truncate\s+(?:table\s+)?\S+.*)$").expect("static regex")
});
static SQLSTATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bsqlstate\s*[:=]?\s*\[?([0-9A-Z]{5})\b").expect("static regex")
});
static ORA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(ORA-\d{3,5})\b").expect("static regex"));
static MSSQL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bmsg\s+(\d{3,5})\b").expect("static regex"));
static MYSQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\berror\s*(?:code)?\s*[:#]?\s*(\d{4,5})\b(?:\s*\(([0-9A-Z]{5})\))?")
        .expect("static regex")
});
static BARE_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([0-9][0-9A-Z]{4}|\d{3,5})\b").expect("static regex"));
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(since\s+(?:about\s+)?\d+\s*(?:minutes?|mins?|hours?|h|days?)\s+ago|since\s+(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)?|yesterday|this morning|last night|the deploy(?:ment)?|monday|tuesday|wednesday|thursday|friday|saturday|sunday|noon|midnight)|(?:for|in)\s+the\s+(?:last|past)\s+\d+\s*(?:minutes?|mins?|hours?|h|days?)|for\s+(?:about\s+|over\s+)?(?:\d+|an?|a few)\s*(?:minutes?|mins?|hours?|h|seconds?|secs?|days?)|\d+\s*(?:minutes?|mins?|hours?|days?)\s+ago|an?\s+(?:minute|hour)\s+ago)").expect("static regex")
});
static OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:table|on|from|into|against|of|queries\s+on)\s+`?([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)`?|\b(?:the|our|my|this)\s+`?([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)`?\s+table\b").expect("static regex")
});

/// "orders table": a bare name before "table", matched on its own so that "check table orderz"
/// still reads `orderz` (one regex would consume "table" for "check").
static OBJECT_BEFORE_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b`?([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)`?\s+table\b")
        .expect("static regex")
});

const NOT_OBJECTS: &[&str] = &[
    "the",
    "my",
    "a",
    "an",
    "this",
    "that",
    "it",
    "our",
    "your",
    "their",
    "all",
    "every",
    "each",
    "some",
    "any",
    "prod",
    "production",
    "staging",
    "stage",
    "dev",
    "aws",
    "azure",
    "gcp",
    "rds",
    "aurora",
    "premises",
    "prem",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "sqlite",
    "oracle",
    "sql",
    "server",
    "database",
    "db",
    "time",
    "call",
    "top",
    "average",
    "and",
    "since",
    "for",
    "in",
    "to",
    "with",
    "why",
    "how",
    "what",
    "when",
    "which",
    "cloud",
    "live",
    "local",
    "test",
    "uat",
    "idle",
    "disk",
    "memory",
    "cpu",
    "index",
    "indexes",
    "write",
    "read",
    // What follows "table" in "the orders table keeps growing", or stands before it in "a
    // temp table": words, not table names.
    "is",
    "are",
    "was",
    "were",
    "has",
    "had",
    "have",
    "keeps",
    "kept",
    "grows",
    "grew",
    "growing",
    "got",
    "gets",
    "getting",
    "seems",
    "looks",
    "takes",
    "took",
    "became",
    "becomes",
    "size",
    "scan",
    "scans",
    "lock",
    "locks",
    "locked",
    "bloat",
    "bloated",
    "temp",
    "temporary",
    "hash",
    "big",
    "huge",
    "large",
    "whole",
    "entire",
    "one",
    "same",
    "other",
    "new",
    "old",
    "system",
    "hot",
    "full",
    "wrong",
    "missing",
    "every",
    "no",
    "not",
    "can",
    "will",
    "just",
    "still",
    "now",
    "alter",
    "create",
    "drop",
    "truncate",
    "vacuum",
    "analyze",
    "optimize",
    "check",
    "repair",
];

/// Extracts every slot `text` mentions. `targets` are the configured names; `report_names` the
/// catalog's reports; `is_known_code` tells whether a bare token is in the error-code base.
pub fn extract(
    text: &str,
    targets: &[TargetName],
    report_names: &[String],
    is_known_code: &dyn Fn(&str) -> bool,
) -> Extracted {
    let mut out = Extracted::default();
    let s = &mut out.slots;
    let lower = text.to_lowercase();

    // SQL first, so words inside it do not count as slots.
    s.sql = find_sql(text).map(|sql| strip_trailing_target(&sql, targets));
    let prose = match &s.sql {
        Some(sql) => text.replace(sql.as_str(), " "),
        None => text.to_string(),
    };
    let prose_lower = prose.to_lowercase();

    // Engine and cloud hints ("Aurora PostgreSQL on AWS").
    let d = deployment(&prose_lower);
    s.engine = d.engine.map(str::to_string);
    s.cloud = d.cloud.map(str::to_string);
    s.flavor = d.flavor.map(str::to_string);
    s.version = version(&prose);

    s.environment = environment(&prose_lower).map(str::to_string);

    // Target: configured aliases, tolerant of typos.
    let (target, ambiguous) = match_target(&prose_lower, targets, s.environment.as_deref());
    if target.is_none() && ambiguous.is_empty() {
        s.unknown_target = unknown_database_name(&prose_lower);
    }
    s.target = target;
    out.ambiguous_targets = ambiguous;

    s.error_code = error_code(text, &lower, is_known_code);
    if s.engine.is_none() {
        s.engine = s
            .error_code
            .as_deref()
            .and_then(engine_of_code)
            .map(str::to_string);
    }
    s.time = TIME.find(&prose).map(|m| m.as_str().trim().to_string());
    s.report = report(&prose_lower, report_names);
    let mut candidates: Vec<regex::Match<'_>> = OBJECT
        .captures_iter(&prose)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .chain(
            OBJECT_BEFORE_TABLE
                .captures_iter(&prose)
                .filter_map(|c| c.get(1)),
        )
        .collect();
    candidates.sort_by_key(|m| m.start());
    s.object = candidates
        .into_iter()
        // "on orders-pg": a hyphenated name (a target, a host) is not a table.
        .filter(|m| !prose[m.end()..].starts_with('-'))
        .map(|m| m.as_str().to_lowercase())
        .find(|o| {
            !NOT_OBJECTS.contains(&o.as_str())
                && !targets.iter().any(|t| {
                    t.alias.eq_ignore_ascii_case(o)
                        || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(o))
                })
        });
    out
}

/// `SELECT … WHERE id = 5 on orders-pg` → `SELECT … WHERE id = 5`: a trailing "on/in/against/
/// for <configured target>" (optionally followed by `?`, `.` or `please`) is the user's pointer
/// at a target, not SQL. Only configured names are stripped, so a real `… ON t.id = x` join
/// condition stays.
pub(crate) fn strip_trailing_target(sql: &str, targets: &[TargetName]) -> String {
    let trimmed = sql.trim_end().trim_end_matches(['?', '.', '!']).trim_end();
    let lower = trimmed.to_lowercase();
    let lower = lower.strip_suffix(" please").unwrap_or(&lower).trim_end();
    for t in targets {
        for name in std::iter::once(&t.alias).chain(&t.aliases) {
            let name = name.to_lowercase();
            for prep in ["on", "in", "against", "for", "at"] {
                let tail = format!(" {prep} {name}");
                if lower.ends_with(&tail) {
                    let cut = lower.len() - tail.len();
                    if trimmed.is_char_boundary(cut) {
                        return trimmed[..cut].trim_end().to_string();
                    }
                }
            }
        }
    }
    sql.to_string()
}

fn find_sql(text: &str) -> Option<String> {
    if let Some(c) = FENCE.captures(text) {
        let body = c.get(1)?.as_str().trim();
        if !body.is_empty() {
            return Some(body.to_string());
        }
    }
    for c in INLINE.captures_iter(text) {
        let body = c.get(1)?.as_str().trim();
        if SQL_START.is_match(body) {
            return Some(body.to_string());
        }
    }
    if let Some(c) = AFTER_EXPLAIN.captures(text) {
        return Some(without_prose_tail(c.get(1)?.as_str().trim()));
    }
    STRONG_SQL
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| without_prose_tail(m.as_str().trim()))
}

/// Words of a statement typed inside a sentence that may be the sentence going on ("why is
/// select * from orders where id = 5 slow today"), tried from the end.
const PROSE_TAIL_WORDS: usize = 12;

/// SQL typed in a sentence without quotes or a code block ends where the sentence goes on: when
/// the whole does not parse as one statement, the longest prefix (dropping up to
/// [`PROSE_TAIL_WORDS`] trailing words) that does is the statement. When none does, the text is
/// kept as it is, so the parse error the user sees is about their SQL. Quoted or fenced SQL is
/// never trimmed.
fn without_prose_tail(sql: &str) -> String {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    let parses = |q: &str| {
        Parser::parse_sql(&GenericDialect {}, q.trim_end_matches([',', '?', '!', '.']))
            .is_ok_and(|v| v.len() == 1)
    };
    // Several statements are the user's, for the safety check to refuse, never to cut down.
    if parses(sql) || sql.trim_end().trim_end_matches(';').contains(';') {
        return sql.to_string();
    }
    let is_query = SQL_START
        .captures(sql)
        .and_then(|c| c.get(1))
        .is_some_and(|m| ["select", "with"].contains(&m.as_str().to_lowercase().as_str()));
    let words: Vec<&str> = sql.split_whitespace().collect();
    for drop in 1..=PROSE_TAIL_WORDS.min(words.len().saturating_sub(2)) {
        let head = words[..words.len() - drop].join(" ");
        // A query cut before its FROM ("select *" of "select * form orders") is not what
        // the user typed.
        let has_from = head
            .split_whitespace()
            .any(|w| w.eq_ignore_ascii_case("from"));
        if parses(&head) && (!is_query || has_from) {
            return head.trim_end_matches([',', '?', '!', '.']).to_string();
        }
    }
    sql.to_string()
}

/// Engine, cloud and managed-service flavour named in (lower-cased) text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub engine: Option<&'static str>,
    pub cloud: Option<&'static str>,
    /// Human label of the managed service ("Aurora PostgreSQL").
    pub flavor: Option<&'static str>,
}

/// Reads engine, cloud and managed flavour from lower-cased text ("Amazon Aurora PostgreSQL",
/// "Cloud SQL for MySQL", "Azure SQL Database … DTU", "AlloyDB", "RDS for MariaDB").
pub fn deployment(t: &str) -> Deployment {
    let has = |w: &str| contains_word(t, w);
    let mut engine = if has("postgres")
        || has("postgresql")
        || has("pg")
        || has("psql")
        || has("alloydb")
        || t.contains("aurora pg")
    {
        Some("postgres")
    } else if has("mysql") || has("mariadb") || has("percona") {
        Some("mysql")
    } else if t.contains("sql server")
        || has("mssql")
        || has("tsql")
        || t.contains("t-sql")
        || t.contains("azure sql")
        || t.contains("managed instance")
        || has("dtu")
        || has("dtus")
    {
        Some("mssql")
    } else if has("oracle") {
        Some("oracle")
    } else if has("sqlite") {
        Some("sqlite")
    } else {
        None
    };
    let mariadb = has("mariadb");
    let (cloud, flavor): (Option<&'static str>, Option<&'static str>) = if has("aurora") {
        let f = match engine {
            Some("postgres") => "Aurora PostgreSQL",
            Some("mysql") => "Aurora MySQL",
            _ => "Aurora",
        };
        (Some("aws"), Some(f))
    } else if has("alloydb") {
        (Some("gcp"), Some("AlloyDB for PostgreSQL"))
    } else if t.contains("cloud sql") || has("cloudsql") || has("cloud-sql") {
        let f = match engine {
            Some("postgres") => "Cloud SQL for PostgreSQL",
            Some("mysql") => "Cloud SQL for MySQL",
            Some("mssql") => "Cloud SQL for SQL Server",
            _ => "Cloud SQL",
        };
        if engine == Some("mssql") && !t.contains("sql server") {
            engine = None;
        }
        (Some("gcp"), Some(f))
    } else if t.contains("managed instance") || has("sqlmi") || t.contains("sql mi") {
        engine = Some("mssql");
        (Some("azure"), Some("Azure SQL Managed Instance"))
    } else if t.contains("azure sql") || has("dtu") || has("dtus") {
        engine = Some("mssql");
        (Some("azure"), Some("Azure SQL Database"))
    } else if t.contains("flexible server")
        || t.contains("flexible-server")
        || t.contains("azure database for")
    {
        let f = match engine {
            Some("mysql") => "Azure Database for MySQL flexible server",
            _ => "Azure Database for PostgreSQL flexible server",
        };
        (Some("azure"), Some(f))
    } else if has("rds") {
        let f = match engine {
            Some("postgres") => "RDS for PostgreSQL",
            Some("mysql") if mariadb => "RDS for MariaDB",
            Some("mysql") => "RDS for MySQL",
            Some("mssql") => "RDS for SQL Server",
            Some("oracle") => "RDS for Oracle",
            _ => "RDS",
        };
        (Some("aws"), Some(f))
    } else {
        let mut cloud = None;
        for w in [
            "aws",
            "amazon",
            "lambda",
            "ec2",
            "eks",
            "azure",
            "aks",
            "gcp",
            "gke",
            "on-prem",
            "onprem",
            "on-premises",
            "on-premise",
            "self-hosted",
        ] {
            if has(w) {
                cloud = match w {
                    "lambda" | "ec2" | "eks" => Some("aws"),
                    "aks" => Some("azure"),
                    "gke" => Some("gcp"),
                    other => normalize_cloud(other),
                };
                break;
            }
        }
        if t.contains("google cloud") {
            cloud = Some("gcp");
        } else if t.contains("on prem") || t.contains("on premises") || t.contains("bare metal") {
            cloud = Some("on-prem");
        }
        (cloud, None)
    };
    Deployment {
        engine,
        cloud,
        flavor,
    }
}

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:postgres(?:ql)?|pg|mysql|mariadb|sql\s+server|aurora\s+postgresql|aurora\s+mysql)\s*(?:version\s*)?v?(\d{1,4}(?:\.\d{1,2})?)\b").expect("static regex")
});

fn version(text: &str) -> Option<String> {
    VERSION
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

fn environment(t: &str) -> Option<&'static str> {
    let words: Vec<&str> = t
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let strong = matches!(
            *w,
            "prod"
                | "production"
                | "prd"
                | "staging"
                | "stage"
                | "stg"
                | "uat"
                | "preprod"
                | "pre-prod"
                | "dev"
                | "development"
        );
        let weak = matches!(*w, "test" | "testing" | "local" | "live" | "qa");
        let after_prep =
            i > 0 && matches!(words[i - 1], "in" | "on" | "the" | "is" | "it's" | "its");
        if strong || (weak && after_prep) {
            return normalize_environment(w);
        }
    }
    None
}

/// Distance that still counts as the same name: none below 5 characters, 1 below 9, else 2.
fn typo_budget(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Words that make a hyphenated or underscored token read as a database's name
/// (`billing-db`, `orders_prod`, `payments-pg`).
const DB_NAME_WORDS: &[&str] = &[
    "db",
    "database",
    "prod",
    "production",
    "staging",
    "stg",
    "stage",
    "dev",
    "qa",
    "uat",
    "pg",
    "postgres",
    "mysql",
    "maria",
    "mariadb",
    "mssql",
    "sqlite",
    "rds",
    "aurora",
    "cluster",
    "primary",
    "replica",
    "writer",
    "reader",
    "shard",
];

/// Parts that carry no name of their own ("read-replica", "multi-az", "pre-prod").
const GENERIC_NAME_PARTS: &[&str] = &[
    "read", "write", "only", "non", "pre", "multi", "az", "in", "server", "hot", "cold", "warm",
    "standby", "cross", "region", "self", "hosted", "managed", "ha", "new", "old", "sql", "the",
    "a", "my", "our", "main", "test", "point", "time", "place", "live", "to", "of",
];

/// A name in `text` that reads as a database's (a distinctive word joined by `-` or `_` to a
/// database word: `billing-db`, `orders_prod`) and is none of the configured targets (the
/// caller has already failed to match one). Setting and view names (`pg_stat_activity`,
/// `innodb_buffer_pool_size`) are not names.
fn unknown_database_name(text: &str) -> Option<String> {
    const NOT_NAMES: &[&str] = &[
        "pg_",
        "innodb_",
        "sys_",
        "information_",
        "performance_",
        "max_",
        "log_",
        "wal_",
        "sqlite_",
        "auto_",
        "idle_",
        "lock_",
        "statement_",
        "shared_",
        "work_",
        "default_",
        "mysql_",
        "aurora_",
        "rds_",
        "db_",
        "sql_",
    ];
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(|w| w.trim_matches(|c| c == '-' || c == '_'))
        .filter(|w| (4..=40).contains(&w.len()) && (w.contains('-') || w.contains('_')))
        .filter(|w| !NOT_NAMES.iter().any(|p| w.starts_with(p)))
        .find(|w| {
            let parts: Vec<&str> = w.split(['-', '_']).filter(|p| !p.is_empty()).collect();
            let has_db_word = parts.iter().any(|p| DB_NAME_WORDS.contains(p));
            let distinctive = parts.iter().any(|p| {
                p.len() >= 3
                    && p.chars().any(|c| c.is_ascii_alphabetic())
                    && !p.chars().all(|c| c.is_ascii_digit())
                    && !DB_NAME_WORDS.contains(p)
                    && !GENERIC_NAME_PARTS.contains(p)
            });
            parts.len() <= 4 && has_db_word && distinctive
        })
        .map(str::to_string)
}

fn match_target(
    t: &str,
    targets: &[TargetName],
    env: Option<&str>,
) -> (Option<String>, Vec<String>) {
    let words: Vec<&str> = t
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    // 1. exact or typo-tolerant match on a full alias; the closest names win, so "orders-pg"
    //    is orders-pg, not also orders-my two edits away.
    let mut scored: Vec<(usize, &TargetName)> = Vec::new();
    for w in &words {
        for tg in targets {
            let names = std::iter::once(&tg.alias).chain(tg.aliases.iter());
            for n in names {
                let n = n.to_lowercase();
                let d = strsim::damerau_levenshtein(w, &n);
                if d == 0 || d <= typo_budget(n.len()).min(typo_budget(w.len())) {
                    match scored.iter_mut().find(|(_, x)| x.alias == tg.alias) {
                        Some(entry) => entry.0 = entry.0.min(d),
                        None => scored.push((d, tg)),
                    }
                }
            }
        }
    }
    let best = scored.iter().map(|(d, _)| *d).min().unwrap_or(0);
    let exact: Vec<&TargetName> = scored
        .iter()
        .filter(|(d, _)| *d == best)
        .map(|(_, t)| *t)
        .collect();
    if exact.len() == 1 {
        return (Some(exact[0].alias.clone()), vec![]);
    }
    // 2. a base name shared by several targets ("orders" for orders-prod / orders-staging).
    let mut base: Vec<&TargetName> = exact.clone();
    if base.is_empty() {
        for w in &words {
            if w.len() < 3 {
                continue;
            }
            for tg in targets {
                let stem = tg.alias.to_lowercase();
                let stem = stem.split(['-', '_']).next().unwrap_or("");
                if stem == *w && !base.iter().any(|x| x.alias == tg.alias) {
                    base.push(tg);
                }
            }
        }
    }
    if let Some(e) = env {
        let in_env: Vec<&TargetName> = base
            .iter()
            .copied()
            .filter(|t| t.environment == e)
            .collect();
        if in_env.len() == 1 {
            return (Some(in_env[0].alias.clone()), vec![]);
        }
    }
    match base.len() {
        0 => (None, vec![]),
        1 => (Some(base[0].alias.clone()), vec![]),
        _ => (None, base.iter().map(|t| t.alias.clone()).collect()),
    }
}

fn error_code(text: &str, lower: &str, is_known: &dyn Fn(&str) -> bool) -> Option<String> {
    if let Some(c) = SQLSTATE.captures(text) {
        return Some(c[1].to_uppercase());
    }
    if let Some(c) = ORA.captures(text) {
        return Some(c[1].to_uppercase());
    }
    if let Some(c) = MSSQL.captures(text) {
        return Some(c[1].to_string());
    }
    if let Some(c) = MYSQL.captures(text) {
        if is_known(&c[1]) || c.get(2).is_some() {
            return Some(c[1].to_string());
        }
    }
    let error_context = [
        "error",
        "code",
        "errno",
        "sqlstate",
        "getting",
        "got",
        "failed",
        "exception",
        "mean",
    ]
    .iter()
    .any(|w| lower.contains(w));
    BARE_CODE
        .captures_iter(text)
        .map(|c| c[1].to_uppercase())
        .find(|c| {
            let looks_sqlstate = c.len() == 5 && c.chars().any(|ch| ch.is_ascii_alphabetic());
            is_known(c) && (error_context || looks_sqlstate)
        })
}

fn engine_of_code(code: &str) -> Option<&'static str> {
    if code.starts_with("ORA-") {
        Some("oracle")
    } else {
        None
    }
}

fn report(t: &str, names: &[String]) -> Option<String> {
    if !contains_word(t, "report") && !contains_word(t, "reports") {
        return None;
    }
    let t = t.replace(' ', "-");
    names.iter().find(|n| t.contains(n.as_str())).cloned()
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .any(|w| w == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<TargetName> {
        vec![
            TargetName {
                alias: "orders-prod".into(),
                aliases: vec!["orders-db".into()],
                environment: "prod".into(),
            },
            TargetName {
                alias: "orders-staging".into(),
                aliases: vec![],
                environment: "staging".into(),
            },
            TargetName {
                alias: "demo".into(),
                aliases: vec![],
                environment: "dev".into(),
            },
        ]
    }

    fn known(c: &str) -> bool {
        ["53300", "40P01", "1205", "ORA-00060", "18456"].contains(&c)
    }

    #[test]
    fn a_database_name_nobody_configured_is_noticed() {
        let t = targets();
        for (text, want) in [
            ("billing-db in prod is slow since 10:00", Some("billing-db")),
            ("payments_prod keeps timing out", Some("payments_prod")),
            ("is the read-replica lagging", None),
            ("pg_stat_activity shows lots of idle sessions", None),
            ("innodb_buffer_pool_size on the rds writer", None),
            ("we run multi-az aurora in prod", None),
            ("point-in-time recovery on postgres-15", None),
        ] {
            let ex = extract(text, &t, &[], &|_| false);
            assert_eq!(ex.slots.unknown_target.as_deref(), want, "{text}");
        }
        // A configured name is a target, not an unknown one.
        let ex = extract("orders-prod is slow", &t, &[], &|_| false);
        assert!(ex.slots.unknown_target.is_none());
    }

    #[test]
    fn the_closest_target_name_wins() {
        let names = vec![
            TargetName {
                alias: "orders-pg".into(),
                aliases: vec![],
                environment: "prod".into(),
            },
            TargetName {
                alias: "orders-my".into(),
                aliases: vec![],
                environment: "staging".into(),
            },
        ];
        let e = extract("hey, orders-pg feels sluggish today", &names, &[], &known);
        assert_eq!(e.slots.target.as_deref(), Some("orders-pg"));
        assert!(e.ambiguous_targets.is_empty());
        let typo = extract("orders-mu is slow", &names, &[], &known);
        assert_eq!(typo.slots.target.as_deref(), Some("orders-my"));
    }

    #[test]
    fn a_trailing_target_is_not_part_of_the_sql() {
        let e = ex("explain SELECT * FROM orders WHERE customer_id = 5 on orders-db please");
        assert_eq!(
            e.slots.sql.as_deref(),
            Some("SELECT * FROM orders WHERE customer_id = 5")
        );
        assert_eq!(e.slots.target.as_deref(), Some("orders-prod"));
        let join = ex("explain SELECT * FROM a JOIN b ON a.id = b.id");
        assert_eq!(
            join.slots.sql.as_deref(),
            Some("SELECT * FROM a JOIN b ON a.id = b.id")
        );
    }

    fn ex(t: &str) -> Extracted {
        extract(
            t,
            &targets(),
            &["health".into(), "slow-queries".into()],
            &known,
        )
    }

    #[test]
    fn the_brief_example() {
        let e = ex("orders-db in prod is slow since 10:00, Aurora PostgreSQL on AWS");
        assert_eq!(e.slots.target.as_deref(), Some("orders-prod"));
        assert_eq!(e.slots.environment.as_deref(), Some("prod"));
        assert_eq!(e.slots.engine.as_deref(), Some("postgres"));
        assert_eq!(e.slots.cloud.as_deref(), Some("aws"));
        assert_eq!(e.slots.time.as_deref(), Some("since 10:00"));
    }

    #[test]
    fn sql_typed_in_a_sentence_ends_where_the_sentence_goes_on() {
        for (text, sql) in [
            (
                "why is select * from orders where customer_id = 5 slow on orders-prod",
                "select * from orders where customer_id = 5",
            ),
            (
                "select count(*) from orders where status = 'new' takes 20 seconds, why?",
                "select count(*) from orders where status = 'new'",
            ),
            (
                "explain select id from orders where created_at > now() - interval '1 day' it got slow after the deploy",
                "select id from orders where created_at > now() - interval '1 day'",
            ),
            // Valid SQL is kept whole, and SQL that never parses is left for the parser to
            // report.
            (
                "select * from orders o join customers c on c.id = o.customer_id",
                "select * from orders o join customers c on c.id = o.customer_id",
            ),
            ("explain select * form orders", "select * form orders"),
        ] {
            assert_eq!(ex(text).slots.sql.as_deref(), Some(sql), "{text}");
        }
    }

    #[test]
    fn times_relative_to_now_keep_their_unit() {
        for (text, time) in [
            (
                "orders-db is crawling since 5 minutes ago",
                "since 5 minutes ago",
            ),
            (
                "orders-db slow since about 2 hours ago",
                "since about 2 hours ago",
            ),
            ("orders-db slow since 9am", "since 9am"),
            (
                "orders-db slow for the last 20 minutes",
                "for the last 20 minutes",
            ),
        ] {
            assert_eq!(ex(text).slots.time.as_deref(), Some(time), "{text}");
        }
    }

    #[test]
    fn typos_and_ambiguity() {
        assert_eq!(
            ex("is ordrs-prod ok?").slots.target.as_deref(),
            Some("orders-prod")
        );
        let e = ex("orders is slow");
        assert_eq!(e.slots.target, None);
        assert_eq!(e.ambiguous_targets, vec!["orders-prod", "orders-staging"]);
        assert_eq!(
            ex("orders in staging is slow").slots.target.as_deref(),
            Some("orders-staging")
        );
        assert_eq!(ex("memo").slots.target, None);
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            ex("getting SQLSTATE 53300 on orders-prod")
                .slots
                .error_code
                .as_deref(),
            Some("53300")
        );
        assert_eq!(
            ex("ERROR 1205 (HY000): Lock wait timeout exceeded")
                .slots
                .error_code
                .as_deref(),
            Some("1205")
        );
        assert_eq!(
            ex("Msg 18456, Level 14").slots.error_code.as_deref(),
            Some("18456")
        );
        assert_eq!(
            ex("what is ORA-00060").slots.error_code.as_deref(),
            Some("ORA-00060")
        );
        assert_eq!(ex("40P01 again").slots.error_code.as_deref(), Some("40P01"));
        assert_eq!(ex("we have 1205 rows").slots.error_code, None);
    }

    #[test]
    fn sql_and_objects() {
        let e = ex("explain this: SELECT 1; DROP TABLE x");
        assert_eq!(e.slots.sql.as_deref(), Some("SELECT 1; DROP TABLE x"));
        let e = ex("why is this slow ```sql\nselect * from events where kind = 'x'\n```");
        assert_eq!(
            e.slots.sql.as_deref(),
            Some("select * from events where kind = 'x'")
        );
        assert_eq!(
            ex("my update on orders has been hanging for a minute")
                .slots
                .sql,
            None
        );
        assert_eq!(
            ex("my update on orders has been hanging for a minute")
                .slots
                .object
                .as_deref(),
            Some("orders")
        );
        assert_eq!(
            ex("queries on events are slow").slots.object.as_deref(),
            Some("events")
        );
        for (text, want) in [
            (
                "shop-pg orders table keeps growing, is vacuum running?",
                Some("orders"),
            ),
            ("the invoices table is huge", Some("invoices")),
            ("table events is slow to query", Some("events")),
            ("our audit_log table got really big", Some("audit_log")),
            ("a temp table keeps growing", None),
            (
                "check table orderz on shop-db, it feels slow",
                Some("orderz"),
            ),
            ("the table keeps growing", None),
        ] {
            assert_eq!(ex(text).slots.object.as_deref(), want, "{text}");
        }
        assert_eq!(
            ex("can you explain DELETE FROM orders WHERE id < 10")
                .slots
                .sql
                .as_deref(),
            Some("DELETE FROM orders WHERE id < 10")
        );
    }

    #[test]
    fn environment_words() {
        assert_eq!(
            ex("actually it's staging").slots.environment.as_deref(),
            Some("staging")
        );
        assert_eq!(ex("run a test query").slots.environment, None);
        assert_eq!(
            ex("report health on demo").slots.report.as_deref(),
            Some("health")
        );
    }
}
