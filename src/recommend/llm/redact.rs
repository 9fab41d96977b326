//! Scrubbing of everything that leaves for an LLM provider.
//!
//! On top of [`crate::redact::redact`] (URL credentials, `password=`-style pairs, bearer tokens),
//! this removes whole DSNs and connection strings, e-mail addresses, common API-key and token
//! shapes, values the caller knows to be secret (configured DSNs, the provider key), and
//! normalizes literal values inside SQL text to `$n`, as `pg_stat_statements` does.

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
/// A SQL statement starting somewhere in free text; literals from here to the end of the line
/// are normalized.
static SQL_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:select\s+(?:distinct\b|[\w*\x22'`$(])|insert\s+into\b|update\s+[\w.\x22`]+\s+set\b",
        r"|delete\s+from\b|with\s+(?:recursive\s+)?[\w\x22]+\s+as\s*\(|values\s*\(|call\s+[\w.]+\s*\(",
        r"|copy\s+[\w.\x22]+|(?:alter|create)\s+(?:user|role|login)\b|grant\s+\w|execute\s+\w|prepare\s+\w",
        r"|set\s+password\b|identified\s+by\b|replace\s+into\b|merge\s+into\b|upsert\b)",
    ))
    .expect("static regex")
});
/// Quoted literals in non-SQL text that quotes data (plan lines: `Filter: (email = 'x'::text)`).
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'").expect("static regex"));

/// Scrubs outbound text. Built per answer with the secrets the caller knows.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    known: Vec<String>,
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
        Scrubber { known }
    }

    /// Free text (user words, finding titles, error messages): secrets removed, SQL literals
    /// normalized from the first statement keyword to the end of each line.
    pub fn text(&self, s: &str) -> String {
        let s = self.secrets(s);
        s.split('\n')
            .map(|line| match SQL_START.find(line) {
                Some(m) => format!(
                    "{}{}",
                    &line[..m.start()],
                    normalize_sql(&line[m.start()..])
                ),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A value known to be SQL (a captured query text, the `sql` slot): every literal → `$n`.
    pub fn sql(&self, s: &str) -> String {
        normalize_sql(&self.secrets(s))
    }

    /// Text that quotes data but is not SQL (query plans): quoted literals → `$n`.
    pub fn quoted(&self, s: &str) -> String {
        let s = self.secrets(s);
        let mut n = 0;
        QUOTED
            .replace_all(&s, |_: &regex::Captures<'_>| {
                n += 1;
                format!("${n}")
            })
            .into_owned()
    }

    /// Secrets only (no SQL normalization).
    pub fn secrets(&self, s: &str) -> String {
        let mut out = s.to_string();
        for k in &self.known {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), "***");
            }
        }
        let out = DSN_URL.replace_all(&out, "<connection-string>");
        let out = KV_CONN.replace_all(&out, "<connection-string>");
        let out = crate::redact::redact(&out);
        let out = EMAIL.replace_all(&out, "<email>");
        TOKENS.replace_all(&out, "***").into_owned()
    }
}

/// Replaces string, numeric and dollar-quoted literals in `sql` with `$1`, `$2`, … (existing
/// `$n` placeholders are kept and numbering continues after them). Identifiers, keywords and
/// comments' words stay; double-quoted text stays when it looks like an identifier.
pub fn normalize_sql(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut n = 0usize;
    let mut i = 0;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    // Highest existing placeholder, so new ones do not collide.
    let mut j = 0;
    while j < chars.len() {
        if chars[j] == '$' && (j == 0 || !is_ident(chars[j - 1])) {
            let digits: String = chars[j + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(v) = digits.parse::<usize>() {
                n = n.max(v);
            }
        }
        j += 1;
    }
    let mut next = |out: &mut String| {
        n += 1;
        out.push('$');
        out.push_str(&n.to_string());
    };
    while i < chars.len() {
        let c = chars[i];
        let prev_ident = i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == '.');
        match c {
            '\'' => {
                // 'text' with '' escapes (and backslash escapes, MySQL/E'' strings).
                let mut k = i + 1;
                while k < chars.len() {
                    if chars[k] == '\\' {
                        k += 2;
                        continue;
                    }
                    if chars[k] == '\'' {
                        if k + 1 < chars.len() && chars[k + 1] == '\'' {
                            k += 2;
                            continue;
                        }
                        break;
                    }
                    k += 1;
                }
                // A prefix like E'…', N'…', B'…', X'…' belongs to the literal.
                if i > 0
                    && matches!(chars[i - 1], 'E' | 'e' | 'N' | 'n' | 'B' | 'b' | 'X' | 'x')
                    && (i < 2 || !is_ident(chars[i - 2]))
                {
                    out.pop();
                }
                next(&mut out);
                i = (k + 1).min(chars.len());
            }
            '"' => {
                let k = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '"')
                    .map_or(chars.len(), |p| i + 1 + p);
                let inner: String = chars[i + 1..k.min(chars.len())].iter().collect();
                let identifier_like = !inner.is_empty()
                    && inner.len() <= 63
                    && inner
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ' ')
                    && !inner.chars().next().is_some_and(|c| c.is_ascii_digit());
                if identifier_like {
                    out.push('"');
                    out.push_str(&inner);
                    if k < chars.len() {
                        out.push('"');
                    }
                } else {
                    next(&mut out);
                }
                i = (k + 1).min(chars.len());
            }
            '$' if !prev_ident => {
                // $n placeholder, or $tag$ … $tag$ dollar quoting.
                let digits: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if !digits.is_empty() {
                    out.push('$');
                    out.push_str(&digits);
                    i += 1 + digits.len();
                    continue;
                }
                let tag_len = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                if chars.get(i + 1 + tag_len) == Some(&'$') {
                    let tag: String = chars[i..=i + 1 + tag_len].iter().collect();
                    let body_start = i + 2 + tag_len;
                    let rest: String = chars[body_start.min(chars.len())..].iter().collect();
                    let end = rest.find(&tag).map_or(chars.len(), |p| {
                        body_start + rest[..p].chars().count() + tag.chars().count()
                    });
                    next(&mut out);
                    i = end;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            c if c.is_ascii_digit() && !prev_ident => {
                // 42, 3.14, 1e10, 0x1F, .5 handled as digits after '.' is skipped above.
                let mut k = i;
                if c == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
                    k += 2;
                    while k < chars.len() && chars[k].is_ascii_hexdigit() {
                        k += 1;
                    }
                } else {
                    while k < chars.len() && (chars[k].is_ascii_digit() || chars[k] == '.') {
                        k += 1;
                    }
                    if k < chars.len() && matches!(chars[k], 'e' | 'E') {
                        let mut m = k + 1;
                        if m < chars.len() && matches!(chars[m], '+' | '-') {
                            m += 1;
                        }
                        if m < chars.len() && chars[m].is_ascii_digit() {
                            k = m;
                            while k < chars.len() && chars[k].is_ascii_digit() {
                                k += 1;
                            }
                        }
                    }
                }
                if k < chars.len() && (chars[k].is_alphabetic() || chars[k] == '_') {
                    // Part of an identifier such as 2fa_codes: keep it.
                    while k < chars.len() && is_ident(chars[k]) {
                        k += 1;
                    }
                    out.extend(&chars[i..k]);
                } else {
                    // A leading minus sign belongs to the literal: `= -5` → `= $1`.
                    if out.ends_with('-') {
                        let before = out[..out.len() - 1].trim_end();
                        if before.ends_with(['=', '<', '>', '(', ',']) || before.is_empty() {
                            out.pop();
                        }
                    }
                    next(&mut out);
                }
                i = k;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
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
