//! Scrubs secrets and literal values out of text before it is logged, stored, audited, posted or
//! sent anywhere.
//!
//! Three levels, each including the one before:
//!
//! * [`redact`] — secrets only: URL credentials (`postgres://user:pw@host`), `password=…`-style
//!   pairs (also `PGPASSWORD=…`, `aws_secret_access_key = …`), MySQL client passwords
//!   (`mysql -pS3cret`, `--password=…`), `IDENTIFIED BY '…'` / `PASSWORD '…'`, bearer tokens,
//!   Slack (`xox?-…`, `xapp-…`), OpenAI-style (`sk-…`), AWS access key ids (`AKIA…`/`ASIA…`) and
//!   40-character secret access keys, GitHub tokens, JWTs and PEM private keys. A quoted value
//!   keeps its quotes (`password = '***'`), so SQL stays parseable.
//! * [`scrub`] — also the literal values in SQL found inside free text, normalised the way
//!   `pg_stat_statements` does (`'…'` → `$1`, numbers → `$2`), from the first statement keyword
//!   to the end of each line. For everything stored or posted that may quote a query (escalation
//!   notes and summaries, finding titles).
//! * [`audit_field`] — for the hash-chained audit trail, which can never be scrubbed later:
//!   secrets, every quoted span and every number of five or more digits become placeholders,
//!   the token a parser quotes after `found:` is dropped, and the result is cut to
//!   [`AUDIT_FIELD_MAX`] characters.
//!
//! [`normalize_sql`] does the literal normalisation with each engine's own quoting rules
//! ([`Dialect`]): MySQL/MariaDB backslash escapes and double-quoted strings, PostgreSQL `E'…'`
//! and `$tag$…$tag$` dollar quoting, SQLite/SQL Server `[bracketed]` identifiers. Configured DSNs
//! are additionally removed verbatim by callers that know them.

use regex::{Captures, Regex};
use std::sync::LazyLock;

static URL_CREDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+)(:[^@\s/]*)?@").expect("static regex")
});
/// `key = value` where the key names a secret (`password`, `PGPASSWORD`, `db_password`,
/// `aws_secret_access_key`, `api-key`, `client_secret`, `auth_token`…).
static KV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b([\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w-]*)",
        r#"(\s*[=:]\s*|\s+)('[^']*'|"[^"]*"|[^\s;&,'"\\]+)"#,
    ))
    .expect("static regex")
});
/// `IDENTIFIED BY 'x'`, `IDENTIFIED WITH plugin BY 'x'`, `PASSWORD 'x'`, `PASSWORD('x')`.
static SQL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(identified\s+(?:with\s+\w+\s+)?(?:by|as)(?:\s+password)?\s*|password\s*\(?\s*)('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")"#)
        .expect("static regex")
});
/// MySQL/MariaDB client tools: `mysql -uroot -pS3cret`, `mysqldump --password=S3cret`.
static CLI_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|\s)(-p|--password=|--pass=)([^\s]+)").expect("static regex"));
static CLI_TOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:mysql\w*|mariadb\w*|mysqladmin|mysqldump|mysqlsh|mysqlimport|mysqlcheck|mysqlbinlog|mysqlpump|mysqlslap|mydumper|myloader|pt-[a-z-]+|innobackupex|xtrabackup|mariabackup)\b")
        .expect("static regex")
});
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i:\bbearer\s+[a-z0-9._~+/=-]{8,})",
        r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        r"|\bxox[abposre]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}",
        r"|\b(?:sk|pk|rk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{16,}",
        r"|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}",
        r"|\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"|\bglpat-[A-Za-z0-9_-]{20,}",
        r"|\bAIza[0-9A-Za-z_-]{30,}",
    ))
    .expect("static regex")
});
/// Candidates for a 40-character AWS secret access key (checked for mixed case and a digit).
static AWS_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})($|[^A-Za-z0-9/+=])").expect("static regex")
});
static PEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|$)")
        .expect("static regex")
});

/// Returns `text` with credentials replaced by `***`.
pub fn redact(text: &str) -> String {
    let s = PEM.replace_all(text, "-----PRIVATE KEY ***-----");
    let s = URL_CREDS.replace_all(&s, "$1***@");
    let s = SQL_PASSWORD.replace_all(&s, |c: &Captures<'_>| {
        format!("{}{}", &c[1], requote(&c[2]))
    });
    let s = KV.replace_all(&s, |c: &Captures<'_>| {
        let (key, sep, value) = (&c[1], &c[2], &c[3]);
        // Already a placeholder (`$1` from normalisation, `***`): nothing left to hide.
        if value
            .strip_prefix('$')
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
            || value.trim_matches(['\'', '"']) == "***"
        {
            return c[0].to_string();
        }
        // "token usage" or "secret sauce" in prose: a bare word after a space is not a value
        // unless it looks like one (digits, symbols, or long).
        if sep.trim().is_empty() && !looks_like_secret(value) {
            return c[0].to_string();
        }
        let sep = if sep.trim().is_empty() { " " } else { sep };
        format!("{key}{sep}{}", requote(value))
    });
    let s = if CLI_TOOL.is_match(&s) {
        CLI_PASSWORD.replace_all(&s, "$1$2***").into_owned()
    } else {
        s.into_owned()
    };
    let s = TOKENS.replace_all(&s, "***");
    AWS_SECRET
        .replace_all(&s, |c: &Captures<'_>| {
            let v = &c[2];
            let mixed = v.chars().any(|c| c.is_ascii_lowercase())
                && v.chars().any(|c| c.is_ascii_uppercase())
                && v.chars().any(|c| c.is_ascii_digit());
            if mixed {
                format!("{}***{}", &c[1], &c[3])
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// `***`, keeping the value's quotes.
fn requote(value: &str) -> String {
    match value.chars().next() {
        Some(q @ ('\'' | '"')) if value.len() >= 2 => format!("{q}***{q}"),
        _ => "***".to_string(),
    }
}

fn looks_like_secret(v: &str) -> bool {
    v.starts_with(['\'', '"'])
        || v.chars().count() >= 12
        || (v.chars().any(|c| c.is_ascii_digit()) && v.chars().any(|c| c.is_alphabetic()))
        || v.chars()
            .any(|c| !c.is_alphanumeric() && c != '-' && c != '_')
}

/// A SQL statement starting somewhere in free text; literals from here to the end of the line
/// are normalised.
static SQL_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:select\s+(?:distinct\b|[\w*\x22'`$(@])|insert\s+into\b|update\s+[\w.\x22`]+\s+set\b",
        r"|delete\s+from\b|with\s+(?:recursive\s+)?[\w\x22]+\s+as\s*\(|values\s*\(|call\s+[\w.]+\s*\(",
        r"|copy\s+[\w.\x22]+|(?:alter|create)\s+(?:user|role|login)\b|grant\s+\w|execute\s+\w|prepare\s+\w",
        r"|set\s+password\b|identified\s+by\b|replace\s+into\b|merge\s+into\b|upsert\b|explain\s+\w)",
    ))
    .expect("static regex")
});

/// Secrets removed ([`redact`]) and the literals of any SQL in the text normalised (generic
/// quoting rules, comments kept), line by line from the first statement keyword.
pub fn scrub(text: &str) -> String {
    scrub_with(text, Dialect::Generic, Comments::Keep)
}

/// As [`scrub`], with a dialect and comment handling for the SQL parts.
pub fn scrub_with(text: &str, dialect: Dialect, comments: Comments) -> String {
    // Literals first: redaction can change quoting (a removed value), normalisation cannot
    // reveal a secret.
    redact(&normalize_in_text(text, dialect, comments))
}

/// Normalises the literals of SQL inside free text (no secret redaction): each line from its
/// first statement keyword (`SELECT …`, `UPDATE … SET`, `DELETE FROM`, …) to its end.
pub fn normalize_in_text(text: &str, dialect: Dialect, comments: Comments) -> String {
    text.split('\n')
        .map(|line| normalize_from_sql_start(line, dialect, comments))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Normalises the literals of `text` from its first statement keyword to its very end (for
/// text known to end with a query, such as a finding that quotes a multi-line query text).
pub fn normalize_from_sql_start(text: &str, dialect: Dialect, comments: Comments) -> String {
    match SQL_START.find(text) {
        Some(m) => format!(
            "{}{}",
            &text[..m.start()],
            normalize(&text[m.start()..], dialect, comments)
        ),
        None => text.to_string(),
    }
}

/// Keeps the first `max` characters of `s`, marking a cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        s.chars().take(max).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

/// Characters kept of a free-text audit field (check name or reason).
pub const AUDIT_FIELD_MAX: usize = 160;

static PARSER_FOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(\bfound:?\s+)(.*?)(\s+at\s+line\b|,|$)").expect("static regex")
});
static LONG_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{5,}").expect("static regex"));
static QUOTED_SPAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"'(?:[^'\\]|\\.|'')*(?:'|$)|"(?:[^"\\]|\\.|"")*(?:"|$)|`(?:[^`]|``)*(?:`|$)|\$([A-Za-z_]\w*)?\$"#)
        .expect("static regex")
});

/// A free-text field for the audit trail (check name, denial or refusal reason): no secrets, no
/// quoted text, no number of five or more digits, no token a parser quoted after `found:`, at
/// most [`AUDIT_FIELD_MAX`] characters. Check names (`blocking_chains`) pass unchanged.
pub fn audit_field(text: &str) -> String {
    let s = redact(text);
    // Dollar quotes: drop everything from the first `$tag$` on (its end is not reliably known).
    let s = match QUOTED_SPAN
        .captures_iter(&s)
        .find(|c| c[0].starts_with('$'))
    {
        Some(c) => match c.get(0) {
            Some(m) => format!("{}$…", &s[..m.start()]),
            None => s,
        },
        None => s,
    };
    let s = QUOTED_SPAN.replace_all(&s, "?");
    let s = PARSER_FOUND.replace_all(&s, "${1}<input>${3}");
    let s = LONG_NUMBER.replace_all(&s, "?");
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clip(s.trim(), AUDIT_FIELD_MAX)
}

/// A short identifier-like audit field (user, thread, target, outcome): secrets removed,
/// control characters dropped, at most 200 characters.
pub fn audit_id(text: &str) -> String {
    let s: String = redact(text).chars().filter(|c| !c.is_control()).collect();
    clip(&s, 200)
}

/// Whose quoting rules [`normalize_sql`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `'…'` with `''` (standard_conforming_strings = on, the default since PostgreSQL 9.1),
    /// `E'…'` with backslash escapes, `U&'…'`, `B'…'`, `X'…'`, `$tag$…$tag$` dollar quoting,
    /// `"identifiers"`, nested `/* */` comments (PostgreSQL docs §4.1.2, §4.1.5).
    Postgres,
    /// `'…'` and `"…"` are strings with backslash escapes and doubled quotes (no ANSI_QUOTES),
    /// `` `identifiers` ``, `#` and `-- ` comments, `/*! … */` executable comments, `0x…`,
    /// `X'…'`, `b'…'` (MySQL 8.0 Reference §11.1.1, §11.7; MariaDB "String Literals").
    MySql,
    /// `'…'` with `''` only, `"…"`, `[…]` and `` `…` `` identifiers, `X'…'` blobs
    /// (SQLite "SQL Language Expression" and "SQLite Keywords").
    Sqlite,
    /// `'…'` and `N'…'` with `''`, `"…"` and `[…]` (with `]]`) identifiers, nested comments.
    MsSql,
    /// Unknown engine (free text): backslash escapes honoured, dollar quoting recognised,
    /// `"…"` kept only when it looks like an identifier.
    Generic,
}

impl Dialect {
    /// The dialect of a configured engine.
    pub fn of(engine: crate::config::Engine) -> Self {
        match engine {
            crate::config::Engine::Postgres => Dialect::Postgres,
            crate::config::Engine::Mysql => Dialect::MySql,
            crate::config::Engine::Sqlite => Dialect::Sqlite,
            crate::config::Engine::Mssql => Dialect::MsSql,
        }
    }
}

/// What [`normalize`] does with comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comments {
    /// Copied as they are (as `pg_stat_statements` shows them).
    Keep,
    /// Replaced by one space (for text sent to an LLM: comments are where instructions hide).
    Strip,
}

/// Replaces string, numeric and dollar-quoted literals in `sql` with `$1`, `$2`, … following
/// `dialect`'s quoting rules; comments are kept. Existing `$n` placeholders are kept and
/// numbering continues after them.
pub fn normalize_sql(sql: &str, dialect: Dialect) -> String {
    normalize(sql, dialect, Comments::Keep)
}

/// As [`normalize_sql`], choosing what happens to comments.
pub fn normalize(sql: &str, dialect: Dialect, comments: Comments) -> String {
    Lexer::new(sql, dialect, comments).run()
}

struct Lexer {
    c: Vec<char>,
    d: Dialect,
    comments: Comments,
    out: String,
    n: usize,
    /// Inside a MySQL `/*! … */` executable comment (its body is SQL).
    in_exec_comment: bool,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

impl Lexer {
    fn new(sql: &str, d: Dialect, comments: Comments) -> Self {
        let c: Vec<char> = sql.chars().collect();
        // Highest existing placeholder, so new ones do not collide.
        let mut n = 0;
        for (j, &ch) in c.iter().enumerate() {
            if ch == '$' && (j == 0 || !is_ident(c[j - 1])) {
                let digits: String = c[j + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if let Ok(v) = digits.parse::<usize>() {
                    n = n.max(v);
                }
            }
        }
        Lexer {
            c,
            d,
            comments,
            out: String::with_capacity(sql.len()),
            n,
            in_exec_comment: false,
        }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.c.get(i).copied()
    }

    fn placeholder(&mut self) {
        self.n += 1;
        self.out.push('$');
        self.out.push_str(&self.n.to_string());
    }

    fn prev_is_ident(&self, i: usize) -> bool {
        i > 0 && (is_ident(self.c[i - 1]) || self.c[i - 1] == '.')
    }

    /// End (exclusive) of a quoted run starting at `i` (the opening quote), with doubled-quote
    /// escapes and, when `backslash`, backslash escapes. Unterminated runs end at the input's end.
    fn quoted_end(&self, i: usize, q: char, backslash: bool) -> usize {
        let mut k = i + 1;
        while k < self.c.len() {
            let ch = self.c[k];
            if backslash && ch == '\\' {
                k += 2;
                continue;
            }
            if ch == q {
                if self.at(k + 1) == Some(q) {
                    k += 2;
                    continue;
                }
                return k + 1;
            }
            k += 1;
        }
        self.c.len()
    }

    /// Skips a comment at `i` if there is one; returns its end.
    fn comment_end(&self, i: usize) -> Option<usize> {
        let ch = self.c[i];
        let next = self.at(i + 1);
        let line_end = |from: usize| {
            (from..self.c.len())
                .find(|&k| self.c[k] == '\n')
                .unwrap_or(self.c.len())
        };
        if ch == '-' && next == Some('-') {
            // MySQL needs whitespace (or the end) after `--`.
            if self.d == Dialect::MySql
                && self
                    .at(i + 2)
                    .is_some_and(|c| !c.is_whitespace() && !c.is_control())
            {
                return None;
            }
            return Some(line_end(i));
        }
        if ch == '#' && self.d == Dialect::MySql {
            return Some(line_end(i));
        }
        if ch == '/' && next == Some('*') {
            let nested = matches!(
                self.d,
                Dialect::Postgres | Dialect::MsSql | Dialect::Generic
            );
            let mut depth = 1;
            let mut k = i + 2;
            while k < self.c.len() {
                if nested && self.c[k] == '/' && self.at(k + 1) == Some('*') {
                    depth += 1;
                    k += 2;
                    continue;
                }
                if self.c[k] == '*' && self.at(k + 1) == Some('/') {
                    depth -= 1;
                    k += 2;
                    if depth == 0 {
                        return Some(k);
                    }
                    continue;
                }
                k += 1;
            }
            return Some(self.c.len());
        }
        None
    }

    fn run(mut self) -> String {
        let mut i = 0;
        while i < self.c.len() {
            let ch = self.c[i];
            // MySQL executable comments: `/*!50100 … */`, MariaDB `/*M!100100 … */`. Their body
            // is SQL, so it is lexed like the rest.
            if self.d == Dialect::MySql && ch == '/' && self.at(i + 1) == Some('*') {
                let bang = match (self.at(i + 2), self.at(i + 3)) {
                    (Some('!'), _) => Some(3),
                    (Some('M'), Some('!')) => Some(4),
                    _ => None,
                };
                if let Some(skip) = bang {
                    let mut k = i + skip;
                    while self.at(k).is_some_and(|c| c.is_ascii_digit()) {
                        k += 1;
                    }
                    if self.comments == Comments::Keep {
                        self.out.extend(&self.c[i..k]);
                    }
                    self.in_exec_comment = true;
                    i = k;
                    continue;
                }
            }
            if self.in_exec_comment && ch == '*' && self.at(i + 1) == Some('/') {
                self.in_exec_comment = false;
                if self.comments == Comments::Keep {
                    self.out.push_str("*/");
                }
                i += 2;
                continue;
            }
            if let Some(end) = self.comment_end(i) {
                match self.comments {
                    Comments::Keep => self.out.extend(&self.c[i..end]),
                    Comments::Strip => {
                        if !self.out.ends_with(' ') {
                            self.out.push(' ');
                        }
                    }
                }
                i = end;
                continue;
            }
            match ch {
                '\'' => {
                    let prefix = if i > 0 && (i < 2 || !is_ident(self.c[i - 2])) {
                        Some(self.c[i - 1].to_ascii_uppercase())
                    } else {
                        None
                    };
                    let backslash = match self.d {
                        Dialect::MySql | Dialect::Generic => true,
                        Dialect::Postgres => prefix == Some('E'),
                        Dialect::Sqlite | Dialect::MsSql => false,
                    };
                    let end = self.quoted_end(i, '\'', backslash);
                    // A prefix like E'…', N'…', B'…', X'…' belongs to the literal; so does
                    // PostgreSQL's U&'…'.
                    if matches!(prefix, Some('E' | 'N' | 'B' | 'X')) {
                        self.out.pop();
                    } else if self.d != Dialect::MySql
                        && (self.out.ends_with("U&") || self.out.ends_with("u&"))
                    {
                        self.out.pop();
                        self.out.pop();
                    } else if self.d == Dialect::MySql {
                        // Character-set introducers: _utf8mb4'…'.
                        let tail: String = self
                            .out
                            .chars()
                            .rev()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if tail.ends_with('_') && tail.len() > 1 {
                            for _ in 0..tail.chars().count() {
                                self.out.pop();
                            }
                        }
                    }
                    self.placeholder();
                    i = end;
                }
                '"' => {
                    let backslash = matches!(self.d, Dialect::MySql | Dialect::Generic);
                    let end = self.quoted_end(i, '"', backslash);
                    let closed = end <= self.c.len() && end > i + 1 && self.c[end - 1] == '"';
                    let inner_end = if closed { end - 1 } else { end };
                    let inner: String = self.c[i + 1..inner_end].iter().collect();
                    let keep = match self.d {
                        Dialect::MySql => false,
                        Dialect::Postgres | Dialect::MsSql => closed,
                        Dialect::Sqlite | Dialect::Generic => {
                            closed
                                && !inner.is_empty()
                                && inner.chars().count() <= 63
                                && inner.chars().all(|c| {
                                    c.is_alphanumeric() || c == '_' || c == '$' || c == ' '
                                })
                                && !inner.chars().next().is_some_and(|c| c.is_ascii_digit())
                        }
                    };
                    if keep {
                        self.out.extend(&self.c[i..end]);
                    } else {
                        self.placeholder();
                    }
                    i = end;
                }
                '`' if self.d != Dialect::MsSql => {
                    let end = self.quoted_end(i, '`', false);
                    self.out.extend(&self.c[i..end]);
                    i = end;
                }
                '[' if matches!(self.d, Dialect::Sqlite | Dialect::MsSql) => {
                    // SQLite: up to the first `]`; SQL Server: `]]` escapes a bracket.
                    let end = if self.d == Dialect::MsSql {
                        self.quoted_end(i, ']', false)
                    } else {
                        (i + 1..self.c.len())
                            .find(|&k| self.c[k] == ']')
                            .map_or(self.c.len(), |k| k + 1)
                    };
                    self.out.extend(&self.c[i..end]);
                    i = end;
                }
                '$' if !self.prev_is_ident(i) => {
                    let digits = self.c[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if digits > 0 {
                        // A $n placeholder stays.
                        self.out.extend(&self.c[i..=i + digits]);
                        i += 1 + digits;
                        continue;
                    }
                    if !matches!(self.d, Dialect::Postgres | Dialect::Generic) {
                        self.out.push(ch);
                        i += 1;
                        continue;
                    }
                    let tag_len = self.c[i + 1..]
                        .iter()
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .count();
                    if self.at(i + 1 + tag_len) == Some('$') {
                        let tag: Vec<char> = self.c[i..=i + 1 + tag_len].to_vec();
                        let body = i + 2 + tag_len;
                        let end = (body..self.c.len())
                            .find(|&k| self.c[k..].starts_with(&tag))
                            .map_or(self.c.len(), |k| k + tag.len());
                        self.placeholder();
                        i = end;
                    } else {
                        self.out.push(ch);
                        i += 1;
                    }
                }
                '.' if self.at(i + 1).is_some_and(|c| c.is_ascii_digit())
                    && !self.prev_is_ident(i) =>
                {
                    i = self.number(i);
                }
                c if c.is_ascii_digit() && !self.prev_is_ident(i) => {
                    i = self.number(i);
                }
                _ => {
                    self.out.push(ch);
                    i += 1;
                }
            }
        }
        self.out
    }

    /// A numeric literal at `i` (42, 3.14, .5, 1e10, 0x1F, 0b101); returns its end. Digits that
    /// start an identifier (`2fa_codes`) are kept.
    fn number(&mut self, i: usize) -> usize {
        let c = &self.c;
        let mut k = i;
        if c[i] == '0' && matches!(c.get(i + 1), Some('x' | 'X')) {
            k += 2;
            while k < c.len() && c[k].is_ascii_hexdigit() {
                k += 1;
            }
        } else if c[i] == '0'
            && matches!(c.get(i + 1), Some('b' | 'B'))
            && c.get(i + 2).is_some_and(|d| matches!(d, '0' | '1'))
        {
            k += 2;
            while k < c.len() && matches!(c[k], '0' | '1') {
                k += 1;
            }
        } else {
            while k < c.len() && (c[k].is_ascii_digit() || c[k] == '.' || c[k] == '_') {
                k += 1;
            }
            if k < c.len() && matches!(c[k], 'e' | 'E') {
                let mut m = k + 1;
                if m < c.len() && matches!(c[m], '+' | '-') {
                    m += 1;
                }
                if m < c.len() && c[m].is_ascii_digit() {
                    k = m;
                    while k < c.len() && c[k].is_ascii_digit() {
                        k += 1;
                    }
                }
            }
        }
        if k < c.len() && (c[k].is_alphabetic() || c[k] == '_') {
            // Part of an identifier such as 2fa_codes: keep it.
            while k < c.len() && is_ident(c[k]) {
                k += 1;
            }
            let part: Vec<char> = c[i..k].to_vec();
            self.out.extend(part);
        } else {
            // A leading minus sign belongs to the literal: `= -5` → `= $1`.
            if self.out.ends_with('-') {
                let before = self.out[..self.out.len() - 1].trim_end();
                if before.ends_with(['=', '<', '>', '(', ',']) || before.is_empty() {
                    self.out.pop();
                }
            }
            self.placeholder();
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_common_secret_shapes() {
        let r = redact("connect postgres://app:s3cret@db:5432/x failed; password=hunter2 token xoxb-123456789-abcdef");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(!r.contains("xoxb-123456789"), "{r}");
        assert!(r.contains("postgres://***@db:5432/x"), "{r}");
    }

    #[test]
    fn removes_cli_cloud_and_sql_secrets() {
        let cases = [
            ("mysql -h db -uroot -pS3cretPw orders", "S3cretPw"),
            ("mysqldump --password=Hunter22 shop", "Hunter22"),
            ("mariadb --user=app --pass=Zz9zz9 x", "Zz9zz9"),
            ("export PGPASSWORD=pg-pass-77; psql", "pg-pass-77"),
            ("DB_PASSWORD: 'quoted pw'", "quoted pw"),
            (
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
            ),
            (
                "key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok",
                "wJalrXUtnFEMI",
            ),
            ("my key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
            ("CREATE USER app IDENTIFIED BY 'T0p$ecret'", "T0p$ecret"),
            ("ALTER ROLE app WITH PASSWORD 'pgS3cret'", "pgS3cret"),
            ("SET PASSWORD = PASSWORD('old-one-1')", "old-one-1"),
            (
                "Authorization: Bearer abcdefghijklmnop.qrs",
                "abcdefghijklmnop",
            ),
            ("xoxp-1111-2222-abcdef and xapp-1-A0-123-abc", "xoxp-1111"),
            ("jdbc:mysql://admin:pa55word@db.internal/x", "pa55word"),
            ("mongodb+srv://u:p%40ss@cluster0/x", "p%40ss"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghij"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "MIIEow",
            ),
            ("client_secret: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ];
        for (input, leak) in cases {
            let out = redact(input);
            assert!(!out.contains(leak), "{leak} leaked from {input:?}: {out}");
        }
        // Quotes survive, so a redacted query still parses.
        assert_eq!(
            redact("SELECT * FROM users WHERE password = 'x1'"),
            "SELECT * FROM users WHERE password = '***'"
        );
        // Prose and ordinary options survive.
        for keep in [
            "the token usage is high",
            "psql -h db -p 5432 -U app",
            "mysql -P 3306 -h db",
            "git sha 3f786850e387550fdab836ed7e6dc881de23001b",
            "secret sauce",
        ] {
            assert_eq!(redact(keep), keep);
        }
    }

    #[test]
    fn postgres_quoting() {
        let d = Dialect::Postgres;
        assert_eq!(
            normalize_sql(
                "UPDATE orders SET status = 'paid', note = 'it''s' WHERE id = 42 AND x > -1.5e3",
                d
            ),
            "UPDATE orders SET status = $1, note = $2 WHERE id = $3 AND x > $4"
        );
        // Standard strings: a backslash is an ordinary character, so 'C:\' ends there.
        assert_eq!(
            normalize_sql(r"SELECT 'C:\' AS p, 'secret2' AS q", d),
            "SELECT $1 AS p, $2 AS q"
        );
        // E'' strings honour backslash escapes.
        assert_eq!(
            normalize_sql(r"SELECT E'it\'s \\ secret' AS a, 1", d),
            "SELECT $1 AS a, $2"
        );
        assert_eq!(
            normalize_sql("select $1, $$a 'quoted' b$$, $tag$x $$ y$tag$, $q$z", d),
            "select $1, $2, $3, $4"
        );
        assert_eq!(
            normalize_sql(
                r#"SELECT "Order".id, "it's" FROM t WHERE u = U&'d\0061t'"#,
                d
            ),
            r#"SELECT "Order".id, "it's" FROM t WHERE u = $1"#
        );
        assert_eq!(
            normalize_sql("select x from t /* a /* nested 'x' */ 5 */ where a = 7", d),
            "select x from t /* a /* nested 'x' */ 5 */ where a = $1"
        );
        assert_eq!(
            normalize("select 1 -- 'tail' \n, 2", d, Comments::Strip),
            "select $1 \n, $2"
        );
        assert_eq!(
            normalize_sql("select .5, 2fa_codes.x, t2.c FROM t2 WHERE b = B'101'", d),
            "select $1, 2fa_codes.x, t2.c FROM t2 WHERE b = $2"
        );
    }

    #[test]
    fn mysql_quoting() {
        let d = Dialect::MySql;
        // Backslash escapes and double-quoted strings.
        assert_eq!(
            normalize_sql(
                r#"SELECT 'it\'s', "say \"hi\"", 'a''b' FROM t WHERE c = 5"#,
                d
            ),
            "SELECT $1, $2, $3 FROM t WHERE c = $4"
        );
        // The smuggling shape of issue 12: '\\' is one complete string.
        assert_eq!(
            normalize_sql(r"SELECT '\\' AS a, '; DELETE FROM canary; -- ' AS b", d),
            "SELECT $1 AS a, $2 AS b"
        );
        assert_eq!(
            normalize_sql(
                "SELECT `we'ird`, 0x1F, X'ab', b'01', _utf8mb4'x' # 'c'\n",
                d
            ),
            "SELECT `we'ird`, $1, $2, $3, $4 # 'c'\n"
        );
        // `--x` is not a comment in MySQL; `-- x` is.
        assert_eq!(normalize_sql("SELECT 1--2", d), "SELECT $1--$2");
        assert_eq!(
            normalize("SELECT 1 -- 'x'\n, /*!50100 'v' */ 3", d, Comments::Strip),
            "SELECT $1 \n,  $2  $3"
        );
        assert_eq!(
            normalize_sql("SELECT /*!50100 'v' */ 3", d),
            "SELECT /*!50100 $1 */ $2"
        );
        // No dollar quoting in MySQL: $$ is just text.
        assert_eq!(normalize_sql("SELECT a$b, '$$'", d), "SELECT a$b, $1");
    }

    #[test]
    fn sqlite_and_mssql_quoting() {
        let d = Dialect::Sqlite;
        assert_eq!(
            normalize_sql(r"SELECT [x']]y], 'a\' , 'b' FROM t WHERE z = X'00'", d),
            r"SELECT [x']]y], $1 , $2 FROM t WHERE z = $3"
        );
        assert_eq!(
            normalize_sql(r#"SELECT "col", "not an ident!" FROM t"#, d),
            r#"SELECT "col", $1 FROM t"#
        );
        let d = Dialect::MsSql;
        assert_eq!(
            normalize_sql("SELECT [we]]ird'], N'x''y' FROM t WHERE a = 3", d),
            "SELECT [we]]ird'], $1 FROM t WHERE a = $2"
        );
    }

    #[test]
    fn free_text_keeps_pids_and_normalizes_the_query_tail() {
        let t = scrub("pid 4242 waits for pid 4141, whose statement is: UPDATE orders SET status = 'paid' WHERE id = 42; password=x9");
        assert!(t.starts_with("pid 4242 waits for pid 4141"), "{t}");
        assert!(!t.contains("paid") && !t.contains("x9"), "{t}");
        assert!(
            t.contains("UPDATE orders SET status = $1 WHERE id = $2"),
            "{t}"
        );
    }

    #[test]
    fn audit_fields_hold_no_literals() {
        assert_eq!(audit_field("blocking_chains"), "blocking_chains");
        let f = audit_field("the SQL does not parse: sql parser error: Expected: end of statement, found: hunter2 at Line: 1, Column: 30");
        assert!(!f.contains("hunter2"), "{f}");
        assert!(f.contains("found: <input> at Line: 1"), "{f}");
        let f = audit_field("syntax error at or near \"s3cret\" near 'card 4111111111111111' and $q$ dollar 'x' $q$");
        assert!(
            !f.contains("s3cret") && !f.contains("4111") && !f.contains("dollar"),
            "{f}"
        );
        let f = audit_field(&"x".repeat(500));
        assert!(f.chars().count() <= AUDIT_FIELD_MAX + 1);
        assert_eq!(
            audit_field("budget: 20 per hour\nnext"),
            "budget: 20 per hour next"
        );
    }
}
