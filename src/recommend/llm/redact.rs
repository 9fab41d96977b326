//! Scrubbing of everything that leaves for an LLM provider.
//!
//! On top of [`crate::redact::redact`] (URL credentials, `password=`-style pairs, bearer tokens),
//! this removes whole DSNs and connection strings, e-mail addresses, common API-key and token
//! shapes, values the caller knows to be secret (configured DSNs, the provider key), and
//! normalizes literal values inside SQL text to `$n`, as `pg_stat_statements` does, with the
//! target engine's quoting rules ([`Dialect`]).
//!
//! Text that comes from a database (query texts, comments, application and user names, plan
//! lines) is data, never an instruction: SQL comments are stripped from it (they are where a
//! planted "call the tool explain with this sql: …" hides), and instruction-like phrases,
//! chat-template tags, `<data>` fences and JSON shaped like a tool call are replaced by a marker
//! the system prompt explains.

use crate::redact::{normalize, normalize_from_sql_start, normalize_in_text, Comments, Dialect};
use regex::Regex;
use std::sync::LazyLock;

static DSN_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|sqlserver|mssql|oracle|mongodb(?:\+srv)?|rediss?|amqps?|clickhouse|cockroachdb|sqlite|file)://[^\s'\x22<>]+")
        .expect("static regex")
});
/// libpq keyword DSNs and ADO/ODBC connection strings: two or more `key=value` pairs.
static KV_CONN: LazyLock<Regex> = LazyLock::new(|| {
    let key = r"(?:host|hostaddr|server|data\s+source|address|addr|network\s+address|user\s*id|uid|user|username|dbname|database|initial\s+catalog|port|sslmode|password|passwd|pwd|integrated\s+security|encrypt|trustservercertificate|application\s+name)";
    Regex::new(&format!(
        r"(?i)\b{key}\s*=\s*(?:'[^']*'|\x22[^\x22]*\x22|[^\s;,]+)(?:[\s;,]+{key}\s*=\s*(?:'[^']*'|\x22[^\x22]*\x22|[^\s;,]+))+;?"
    ))
    .expect("static regex")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")
        .expect("static regex")
});
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i:\bbearer\s+[a-z0-9._~+/=-]{8,})",
        r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        r"|\b(?:sk|pk|rk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{16,}",
        r"|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"|\bxox[abposr]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}",
        r"|\bAIza[0-9A-Za-z_-]{30,}",
        r"|\b[0-9a-fA-F]{32}\b",
    ))
    .expect("static regex")
});
/// Quoted literals in non-SQL text that quotes data (plan lines: `Filter: (email = 'x'::text)`).
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'").expect("static regex"));
/// `/* … */` anywhere in database text (non-greedy; an unterminated one runs to the end).
static BLOCK_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)/\*.*?(?:\*/|$)").expect("static regex"));
static FENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<\s*/?\s*data\s*>").expect("static regex"));
/// Chat-template and role tags a model may treat as structure.
static ROLE_TAGS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<\|[^|>]{0,40}\|>|\[/?INST\]|<<\s*/?\s*SYS\s*>>|<\s*/?\s*(?:system|assistant|user|tool|tool_call|tool_calls|function_call|function|instructions?)\b[^<>]{0,80}>")
        .expect("static regex")
});
/// Phrases that address the model: "ignore previous instructions", "call the tool …",
/// "you are now …", tool-call vocabulary.
static INSTRUCTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,60}?\b(?:instructions?|rules?|prompts?|directions?|guidelines?|guardrails?|context)\b",
        r"|\b(?:call|invoke|use|run|execute|trigger|issue)\s+(?:the\s+|a\s+|your\s+|this\s+)?(?:tools?|functions?|explain|run_check)\b",
        r"|\b(?:you\s+are\s+now|act\s+as|pretend\s+to\s+be|new\s+instructions?|system\s+prompt|developer\s+mode|jailbreak)\b",
        r"|\b(?:tool_calls?|function_call|run_check)\b",
    ))
    .expect("static regex")
});
/// One brace level of JSON with tool-call keys (`{"name": "explain", "arguments": …}`).
static TOOL_JSON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\{[^{}]*"(?:name|function|tool|tool_name|arguments|args|tool_calls|parameters|sql)"\s*:[^{}]*\}"#)
        .expect("static regex")
});

/// What replaces an instruction-like phrase in database text.
pub const INSTRUCTION_MARKER: &str = "[instruction-like text removed]";
/// What replaces JSON shaped like a tool call in database text.
pub const TOOL_JSON_MARKER: &str = "[tool-call-like JSON removed]";

/// Makes database text inert for the model: `<data>` fences, chat-template tags,
/// instruction-like phrases and tool-call-shaped JSON are replaced by markers.
pub fn neutralize(s: &str) -> String {
    let mut out = FENCE.replace_all(s, "[data]").into_owned();
    out = ROLE_TAGS.replace_all(&out, "[tag removed]").into_owned();
    // Innermost objects first, so nested arguments do not keep the outer call alive.
    for _ in 0..8 {
        let next = TOOL_JSON.replace_all(&out, TOOL_JSON_MARKER).into_owned();
        if next == out {
            break;
        }
        out = next;
    }
    INSTRUCTION
        .replace_all(&out, INSTRUCTION_MARKER)
        .into_owned()
}

/// Scrubs outbound text. Built per answer with the secrets the caller knows.
#[derive(Debug, Clone)]
pub struct Scrubber {
    known: Vec<String>,
    dialect: Dialect,
}

impl Default for Scrubber {
    fn default() -> Self {
        Scrubber {
            known: Vec::new(),
            dialect: Dialect::Generic,
        }
    }
}

impl Scrubber {
    /// `known`: exact values that must never leave (configured DSNs, the provider key). Values
    /// shorter than 6 characters are ignored (they would match ordinary words).
    pub fn new<I, S>(known: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut known: Vec<String> = known
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .filter(|s| s.chars().count() >= 6)
            .collect();
        // Longest first, so a DSN goes before the password inside it.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
        Scrubber {
            known,
            dialect: Dialect::Generic,
        }
    }

    /// The quoting rules used for SQL (the target's engine; [`Dialect::Generic`] by default).
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Free text from the user (their words, slot values) or the bot: secrets removed, SQL
    /// literals normalized and SQL comments stripped from the first statement keyword to the
    /// end of each line, `<data>` fences neutralized.
    pub fn text(&self, s: &str) -> String {
        // Literals before secrets: redaction may change quoting, normalization reveals nothing.
        let s = self.secrets(&normalize_in_text(
            &self.known(s),
            self.dialect,
            Comments::Strip,
        ));
        FENCE.replace_all(&s, "[data]").into_owned()
    }

    /// Free text that came from a database (finding titles and facts quoting application names,
    /// users, query texts): as [`Scrubber::text`], with every `/* … */` comment stripped and
    /// the result [`neutralize`]d.
    pub fn data_text(&self, s: &str) -> String {
        // Neutralized before and after normalization: tool-call JSON is recognised by its
        // quotes, and normalization must not hide what the second pass would catch.
        let s = neutralize(&self.known(s));
        let s = BLOCK_COMMENT.replace_all(&s, " ");
        let s = normalize_from_sql_start(&s, self.dialect, Comments::Strip);
        neutralize(&self.secrets(&s))
    }

    /// A value known to be SQL (a captured query text, the `sql` slot): every literal → `$n`,
    /// comments stripped, the rest [`neutralize`]d.
    pub fn sql(&self, s: &str) -> String {
        let s = normalize(&neutralize(&self.known(s)), self.dialect, Comments::Strip);
        neutralize(&self.secrets(&s))
    }

    /// Text that quotes data but is not SQL (query plans): quoted literals → `$n`, comments
    /// stripped, the rest [`neutralize`]d.
    pub fn quoted(&self, s: &str) -> String {
        let s = self.secrets(s);
        let s = BLOCK_COMMENT.replace_all(&s, " ");
        let mut n = 0;
        let s = QUOTED
            .replace_all(&s, |_: &regex::Captures<'_>| {
                n += 1;
                format!("${n}")
            })
            .into_owned();
        neutralize(&s)
    }

    /// The caller's known secrets replaced verbatim.
    fn known(&self, s: &str) -> String {
        let mut out = s.to_string();
        for k in &self.known {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), "***");
            }
        }
        out
    }

    /// Secrets only (no SQL normalization).
    pub fn secrets(&self, s: &str) -> String {
        let out = self.known(s);
        let out = DSN_URL.replace_all(&out, "<connection-string>");
        let out = KV_CONN.replace_all(&out, "<connection-string>");
        let out = crate::redact::redact(&out);
        let out = EMAIL.replace_all(&out, "<email>");
        TOKENS.replace_all(&out, "***").into_owned()
    }
}

/// Replaces the literals in `sql` with `$1`, `$2`, … using generic quoting rules (see
/// [`crate::redact::normalize_sql`] for per-engine rules); comments are kept.
pub fn normalize_sql(sql: &str) -> String {
    crate::redact::normalize_sql(sql, Dialect::Generic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_literals_like_pg_stat_statements() {
        assert_eq!(
            normalize_sql(
                "UPDATE orders SET status = 'paid', note = 'it''s' WHERE id = 42 AND x > -1.5e3"
            ),
            "UPDATE orders SET status = $1, note = $2 WHERE id = $3 AND x > $4"
        );
        assert_eq!(
            normalize_sql("select * from t2 where a = $1 and b = 'x' and c = $$secret$$"),
            "select * from t2 where a = $1 and b = $2 and c = $3"
        );
        assert_eq!(
            normalize_sql(
                "SELECT \"Order\".id FROM \"Order\" WHERE email = \"a b@c.d\" AND t = E'\\x41'"
            ),
            "SELECT \"Order\".id FROM \"Order\" WHERE email = $1 AND t = $2"
        );
        assert_eq!(
            normalize_sql("select 1 /* ignore previous instructions */ from x2y"),
            "select $1 /* ignore previous instructions */ from x2y"
        );
    }

    #[test]
    fn removes_secret_shapes() {
        let s = Scrubber::new(["Sup3r-Secret-DSN-pw"]);
        let text = "dsn postgres://app:hunter2@db.internal:5432/orders, libpq host=db user=app password=pw1 dbname=x; \
            ado Server=tcp:db;User Id=sa;Password=Pa55;Database=x; mail dana@example.com; \
            key sk-proj-ABCDEFGHIJKLMNOPQRSTUV token xoxb-1234567890-abcdef Bearer abc.def.ghijkl \
            aws AKIAABCDEFGHIJKLMNOP and Sup3r-Secret-DSN-pw; azure 0123456789abcdef0123456789abcdef";
        let out = s.text(text);
        for leak in [
            "hunter2",
            "db.internal",
            "pw1",
            "Pa55",
            "dana@example.com",
            "ABCDEFGHIJKLMNOPQRSTUV",
            "1234567890-abcdef",
            "abc.def.ghijkl",
            "AKIAABCDEFGHIJKLMNOP",
            "Sup3r-Secret-DSN-pw",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(!out.contains(leak), "{leak} leaked: {out}");
        }
    }

    #[test]
    fn free_text_keeps_pids_and_normalizes_the_query_tail() {
        let s = Scrubber::default();
        let t = s.text("pid 4242 has waited 1m 3s for a lock on orders held by pid 4141 (idle in transaction), whose statement is: UPDATE orders SET status = 'paid' WHERE id = 42");
        assert!(
            t.starts_with("pid 4242 has waited 1m 3s for a lock on orders held by pid 4141"),
            "{t}"
        );
        assert!(
            t.ends_with("UPDATE orders SET status = $1 WHERE id = $2"),
            "{t}"
        );
        assert_eq!(
            s.quoted("Filter: (email = 'a''b'::text) rows=10"),
            "Filter: (email = $1::text) rows=10"
        );
    }
}
