//! Statement fingerprints: the same query shape with different literals gets the same text.
//!
//! * [`postgres`] follows `pg_stat_statements` (PostgreSQL 15): every constant (string,
//!   number, negative number, typed `'…'::date` literal, dollar-quoted string) becomes `$n`,
//!   numbered left to right after the highest `$n` parameter already in the text; `NULL`,
//!   `true`/`false` stay; `IN` lists are not collapsed (one fingerprint per list length, as
//!   `pg_stat_statements` before 18 does). Unquoted identifiers and keywords are lower-cased and
//!   whitespace and comments are normalised, so `SELECT a FROM t WHERE id=1` and
//!   `select a  from t where id = 2 -- x` match, which the parse-tree jumble also does.
//! * [`mysql`] follows pt-query-digest's fingerprint: lower case, strings/numbers/`NULL`/booleans
//!   to `?`, `IN (…)` and `VALUES (…),(…)` lists to `in(?+)` / `values(?+)`, `LIMIT ?, ?` to
//!   `limit ?`, `use db` to `use ?`, `call p(…)` to `call p`. Unlike pt-query-digest, digits
//!   inside identifiers are kept (`t1` stays `t1`, pt-query-digest writes `t?`).
//!
//! Both work on bytes in one pass with no allocation beyond the output string.

/// One lexical token of SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// Unquoted identifier or keyword.
    Word(&'a str),
    /// `"quoted"` or `` `quoted` `` identifier (MySQL treats `"…"` as a string; see callers).
    Quoted(&'a str),
    /// A string constant, with any `E`/`B`/`X`/`N` prefix.
    Str,
    /// A double-quoted token (an identifier in PostgreSQL, a string in MySQL by default).
    DoubleQuoted(&'a str),
    Number,
    /// `$1`, `?`, `:name`: a parameter placeholder already in the text.
    Param(&'a str),
    /// An operator run (`<=`, `::`, `||`, `=`).
    Op(&'a str),
    /// One punctuation character: `(`, `)`, `,`, `;`, `.`, `[`, `]`.
    Punct(u8),
}

struct Lexer<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// MySQL: backslash escapes in strings; `#` starts a comment.
    mysql: bool,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

const OP_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`?:";

impl<'a> Lexer<'a> {
    fn new(s: &'a str, mysql: bool) -> Self {
        Lexer {
            s,
            b: s.as_bytes(),
            i: 0,
            mysql,
        }
    }

    /// Skips whitespace and comments.
    fn skip_space(&mut self) {
        let b = self.b;
        loop {
            while self.i < b.len() && b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
            if b[self.i..].starts_with(b"--")
                || (self.mysql && self.i < b.len() && b[self.i] == b'#')
            {
                while self.i < b.len() && b[self.i] != b'\n' {
                    self.i += 1;
                }
            } else if b[self.i..].starts_with(b"/*") {
                let mut depth = 0usize;
                while self.i < b.len() {
                    if b[self.i..].starts_with(b"/*") {
                        depth += 1;
                        self.i += 2;
                    } else if b[self.i..].starts_with(b"*/") {
                        depth -= 1;
                        self.i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        self.i += 1;
                    }
                }
            } else {
                return;
            }
        }
    }

    /// Skips a quoted run starting at `self.i` (the opening quote), honouring doubled quotes
    /// and, when `backslash`, backslash escapes. Unterminated runs end at the end of text.
    fn skip_quoted(&mut self, q: u8, backslash: bool) {
        let b = self.b;
        self.i += 1;
        while self.i < b.len() {
            let c = b[self.i];
            if backslash && c == b'\\' {
                self.i += 2;
                continue;
            }
            self.i += 1;
            if c == q {
                if self.i < b.len() && b[self.i] == q {
                    self.i += 1;
                    continue;
                }
                return;
            }
        }
        self.i = b.len();
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        self.skip_space();
        let b = self.b;
        if self.i >= b.len() {
            return None;
        }
        let start = self.i;
        let c = b[start];
        // String prefixes: E'…', B'…', X'…', N'…', U&'…'.
        if matches!(c, b'E' | b'e' | b'B' | b'b' | b'X' | b'x' | b'N' | b'n')
            && b.get(start + 1) == Some(&b'\'')
        {
            self.i += 1;
            let esc = self.mysql || matches!(c, b'E' | b'e');
            self.skip_quoted(b'\'', esc);
            return Some(Tok::Str);
        }
        if c == b'\'' {
            self.skip_quoted(b'\'', self.mysql);
            return Some(Tok::Str);
        }
        if c == b'"' {
            self.skip_quoted(b'"', self.mysql);
            return Some(Tok::DoubleQuoted(&self.s[start..self.i]));
        }
        if c == b'`' {
            self.skip_quoted(b'`', false);
            return Some(Tok::Quoted(&self.s[start..self.i]));
        }
        if c == b'$' {
            // $1 parameter, or $tag$…$tag$ dollar quoting.
            let digits = b[start + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 {
                self.i = start + 1 + digits;
                return Some(Tok::Param(&self.s[start..self.i]));
            }
            let tag_len = b[start + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if b.get(start + 1 + tag_len) == Some(&b'$') && !self.mysql {
                let tag = &b[start..start + tag_len + 2];
                let body = start + tag_len + 2;
                self.i = match memchr::memmem::find(&b[body..], tag) {
                    Some(p) => body + p + tag.len(),
                    None => b.len(),
                };
                return Some(Tok::Str);
            }
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(start + 1).is_some_and(u8::is_ascii_digit)) {
            self.number();
            return Some(Tok::Number);
        }
        if is_ident_start(c) {
            while self.i < b.len() && is_ident(b[self.i]) {
                self.i += 1;
            }
            return Some(Tok::Word(&self.s[start..self.i]));
        }
        if c == b'?' && !b.get(start + 1).is_some_and(|c| OP_CHARS.contains(c)) {
            self.i += 1;
            return Some(Tok::Param("?"));
        }
        if c == b':' && b.get(start + 1).is_some_and(|c| is_ident_start(*c)) && !self.mysql {
            // :name psql variable
            self.i += 1;
            while self.i < b.len() && is_ident(b[self.i]) {
                self.i += 1;
            }
            return Some(Tok::Param(&self.s[start..self.i]));
        }
        if OP_CHARS.contains(&c) {
            while self.i < b.len() && OP_CHARS.contains(&b[self.i]) {
                // `--` and `/*` inside an operator run start a comment.
                if b[self.i..].starts_with(b"--") || b[self.i..].starts_with(b"/*") {
                    break;
                }
                self.i += 1;
            }
            if self.i == start {
                self.i += 1;
            }
            return Some(Tok::Op(&self.s[start..self.i]));
        }
        // Any other byte (including a lone non-ASCII lead byte inside a char boundary).
        let len = self.s[start..].chars().next().map_or(1, char::len_utf8);
        self.i = start + len;
        Some(Tok::Punct(c))
    }

    fn number(&mut self) {
        let b = self.b;
        if b[self.i..].starts_with(b"0x") || b[self.i..].starts_with(b"0X") {
            self.i += 2;
            while self.i < b.len() && b[self.i].is_ascii_hexdigit() {
                self.i += 1;
            }
            return;
        }
        while self.i < b.len() && (b[self.i].is_ascii_digit() || b[self.i] == b'_') {
            self.i += 1;
        }
        if self.i < b.len() && b[self.i] == b'.' {
            self.i += 1;
            while self.i < b.len() && b[self.i].is_ascii_digit() {
                self.i += 1;
            }
        }
        if self.i < b.len() && (b[self.i] == b'e' || b[self.i] == b'E') {
            let mut j = self.i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                self.i = j;
                while self.i < b.len() && b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
        }
    }
}

/// Writes tokens with canonical spacing: one space between tokens, none after `(`, `[` and
/// `.`, none before `)`, `]`, `,`, `.`, `;`, `[` and around `::`, and none between a function
/// name and its `(` (a keyword such as `in` or `values` keeps its space).
struct Out<'o> {
    s: &'o mut String,
    /// No space before the next token.
    glue: bool,
    /// The last token was a name that a `(` would call.
    callable: bool,
}

/// Keywords after which `(` opens a list or subquery rather than a call.
const SPACED_BEFORE_PAREN: &[&str] = &[
    "in",
    "values",
    "value",
    "where",
    "and",
    "or",
    "not",
    "exists",
    "on",
    "as",
    "from",
    "join",
    "select",
    "using",
    "over",
    "filter",
    "any",
    "all",
    "some",
    "into",
    "set",
    "when",
    "then",
    "else",
    "by",
    "with",
    "union",
    "intersect",
    "except",
    "is",
    "like",
    "between",
    "returning",
    "table",
    "lateral",
    "array",
    "row",
];

impl<'o> Out<'o> {
    fn new(s: &'o mut String) -> Self {
        Out {
            s,
            glue: false,
            callable: false,
        }
    }

    fn tok(&mut self, t: &str) {
        let first = t.as_bytes().first().copied().unwrap_or(b' ');
        let no_space_before = matches!(first, b')' | b']' | b',' | b'.' | b';' | b'[')
            || t == "::"
            || (first == b'(' && self.callable);
        if !self.s.is_empty() && !self.glue && !no_space_before {
            self.s.push(' ');
        }
        self.s.push_str(t);
        self.glue = matches!(t, "(" | "[" | "." | "::");
        self.callable = first == b')' || first == b']';
    }

    fn word(&mut self, t: &str) {
        if t.bytes().any(|c| c.is_ascii_uppercase()) {
            let l = t.to_ascii_lowercase();
            self.tok(&l);
            self.callable = !SPACED_BEFORE_PAREN.contains(&l.as_str());
        } else {
            self.tok(t);
            self.callable = !SPACED_BEFORE_PAREN.contains(&t);
        }
    }
}

/// The one character that ends at byte `end` of `s` (a punctuation token just lexed).
fn last_char(s: &str, end: usize) -> &str {
    let len = s[..end].chars().next_back().map_or(0, char::len_utf8);
    &s[end - len..end]
}

/// True when a `-` before a number is a sign rather than subtraction: after an operator,
/// `(`, `,`, a keyword such as `where`, or at the start.
fn sign_position(prev: Option<Tok<'_>>) -> bool {
    match prev {
        None => true,
        Some(Tok::Op(_)) => true,
        Some(Tok::Punct(c)) => c == b'(' || c == b',' || c == b'[',
        Some(Tok::Word(w)) => {
            let w = w.to_ascii_lowercase();
            matches!(
                w.as_str(),
                "select"
                    | "where"
                    | "and"
                    | "or"
                    | "not"
                    | "by"
                    | "values"
                    | "set"
                    | "then"
                    | "else"
                    | "when"
                    | "limit"
                    | "offset"
                    | "in"
                    | "between"
                    | "return"
                    | "returning"
                    | "having"
                    | "on"
            )
        }
        _ => false,
    }
}

/// The `pg_stat_statements`-style fingerprint of `sql` into `out` (cleared first).
pub fn postgres(sql: &str, out: &mut String) {
    out.clear();
    // Constants are numbered after the highest parameter already present.
    let mut next_param = 1u32;
    if memchr::memchr(b'$', sql.as_bytes()).is_some() {
        let mut lx = Lexer::new(sql, false);
        while let Some(t) = lx.next() {
            if let Tok::Param(p) = t {
                if let Ok(n) = p[1..].parse::<u32>() {
                    next_param = next_param.max(n.saturating_add(1));
                }
            }
        }
    }
    let mut o = Out::new(out);
    let mut lx = Lexer::new(sql, false);
    let mut prev: Option<Tok<'_>> = None;
    let mut pending_minus = false;
    let mut buf = String::new();
    while let Some(t) = lx.next() {
        if pending_minus {
            pending_minus = false;
            if t == Tok::Number {
                buf.clear();
                buf.push('$');
                buf.push_str(&next_param.to_string());
                next_param += 1;
                o.tok(&buf);
                prev = Some(Tok::Number);
                continue;
            }
            o.tok("-");
        }
        match t {
            Tok::Op("-") if sign_position(prev) => {
                pending_minus = true;
                prev = Some(t);
                continue;
            }
            Tok::Str | Tok::Number => {
                buf.clear();
                buf.push('$');
                buf.push_str(&next_param.to_string());
                next_param += 1;
                o.tok(&buf);
            }
            Tok::Word(w) => o.word(w),
            Tok::Quoted(q) | Tok::DoubleQuoted(q) => {
                o.tok(q);
                o.callable = true;
            }
            Tok::Param(q) | Tok::Op(q) => o.tok(q),
            Tok::Punct(_) => o.tok(last_char(sql, lx.i)),
        }
        prev = Some(t);
    }
    if pending_minus {
        o.tok("-");
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
}

/// The pt-query-digest-style fingerprint of `sql` into `out` (cleared first).
pub fn mysql(sql: &str, out: &mut String) {
    out.clear();
    let trimmed = sql.trim();
    if let Some(rest) = trimmed.strip_prefix("administrator command: ") {
        out.push_str("administrator command: ");
        out.push_str(rest.trim_end_matches(';'));
        return;
    }
    let lower_start: String = trimmed.chars().take(5).collect::<String>().to_lowercase();
    if lower_start.starts_with("use ") {
        out.push_str("use ?");
        return;
    }
    if lower_start.starts_with("call ") {
        let name: String = trimmed[5..]
            .trim_start()
            .chars()
            .take_while(|c| *c != '(' && !c.is_whitespace())
            .collect();
        out.push_str("call ");
        out.push_str(&name.to_lowercase());
        return;
    }
    let mut o = Out::new(out);
    let mut lx = Lexer::new(sql, true);
    let mut prev: Option<Tok<'_>> = None;
    let mut pending_minus = false;
    // Collapsing lists: after `in`/`values`, a `(` of only values becomes `(?+)`.
    let mut list_kw = false;
    let mut in_list = false;
    let mut list_only_values = true;
    let mut list_start = 0usize;
    let mut after_list = false;
    let mut limit_state = 0u8; // 1 after `limit ?`, suppressing `, ?` and `offset ?`
    while let Some(t) = lx.next() {
        if pending_minus {
            pending_minus = false;
            if t == Tok::Number {
                o.tok("?");
                prev = Some(Tok::Number);
                continue;
            }
            o.tok("-");
        }
        if limit_state == 1 {
            if t == Tok::Punct(b',')
                || matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("offset"))
            {
                limit_state = 2;
                continue;
            }
            limit_state = 0;
        } else if limit_state == 2 {
            limit_state = 0;
            if matches!(t, Tok::Number | Tok::Param(_)) {
                continue;
            }
        }
        let value = matches!(
            t,
            Tok::Str | Tok::Number | Tok::DoubleQuoted(_) | Tok::Param(_)
        ) || matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("null")
                || w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false"));
        if in_list {
            match t {
                Tok::Punct(b')') => {
                    in_list = false;
                    if list_only_values {
                        o.s.truncate(list_start);
                        o.glue = true;
                        o.tok("(?+)");
                        after_list = true;
                        prev = Some(t);
                        continue;
                    }
                }
                Tok::Punct(b',') => {}
                _ if value => {}
                Tok::Op("-") => {}
                _ => list_only_values = false,
            }
        } else if after_list {
            // `values (…), (…)`: further tuples fold into the first.
            if t == Tok::Punct(b',') {
                let save = lx.i;
                let mut peek = Lexer::new(sql, true);
                peek.i = save;
                if peek.next() == Some(Tok::Punct(b'(')) {
                    // Skip the whole tuple.
                    let mut depth = 0i32;
                    while let Some(pt) = peek.next() {
                        match pt {
                            Tok::Punct(b'(') => depth += 1,
                            Tok::Punct(b')') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    lx.i = peek.i;
                    continue;
                }
            }
            after_list = false;
        }
        if list_kw && t == Tok::Punct(b'(') {
            list_kw = false;
            o.tok("(");
            // `(` glued to the keyword, as pt-query-digest writes `in(?+)`.
            in_list = true;
            list_only_values = true;
            list_start = o.s.len() - 1;
            if o.s[..list_start].ends_with(' ') {
                list_start -= 1;
            }
            prev = Some(t);
            continue;
        }
        list_kw = false;
        match t {
            Tok::Op("-") if sign_position(prev) => {
                pending_minus = true;
                prev = Some(t);
                continue;
            }
            _ if value => o.tok("?"),
            Tok::Word(w) => {
                o.word(w);
                if w.eq_ignore_ascii_case("in")
                    || w.eq_ignore_ascii_case("values")
                    || w.eq_ignore_ascii_case("value")
                {
                    list_kw = true;
                }
                if w.eq_ignore_ascii_case("limit") {
                    // The next value is printed; what follows it folds.
                    let save = lx.i;
                    let mut peek = Lexer::new(sql, true);
                    peek.i = save;
                    if matches!(peek.next(), Some(Tok::Number | Tok::Param(_))) {
                        lx.i = peek.i;
                        o.tok("?");
                        limit_state = 1;
                        prev = Some(Tok::Number);
                        continue;
                    }
                }
            }
            Tok::Quoted(q) => {
                o.word(q);
                o.callable = true;
            }
            Tok::Op(q) => o.tok(q),
            Tok::Punct(_) => o.tok(last_char(sql, lx.i)),
            Tok::Str | Tok::Number | Tok::DoubleQuoted(_) | Tok::Param(_) => o.tok("?"),
        }
        prev = Some(t);
    }
    if pending_minus {
        o.tok("-");
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
}

/// Replaces string and number literals in `sql` with `?`, keeping everything else verbatim: the
/// worst sample as shown in chat (literals may carry customer data).
pub fn redact_literals(sql: &str) -> String {
    let mut lx = Lexer::new(sql, false);
    let mut out = String::with_capacity(sql.len());
    let mut last = 0usize;
    loop {
        let before = lx.i;
        let Some(t) = lx.next() else { break };
        if matches!(t, Tok::Str | Tok::Number) {
            // Keep text up to the token start (whitespace and comments between tokens).
            let tok_start = sql[before..lx.i]
                .find(|c: char| !c.is_whitespace())
                .map_or(before, |p| before + p);
            out.push_str(&sql[last..tok_start]);
            out.push('?');
            last = lx.i;
        }
    }
    out.push_str(&sql[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(s: &str) -> String {
        let mut o = String::new();
        postgres(s, &mut o);
        o
    }

    fn my(s: &str) -> String {
        let mut o = String::new();
        mysql(s, &mut o);
        o
    }

    #[test]
    fn postgres_constants_become_numbered_parameters() {
        assert_eq!(
            pg("SELECT a, b FROM t WHERE id=42 AND name = 'x''y'"),
            "select a, b from t where id = $1 and name = $2"
        );
        assert_eq!(
            pg("select a,b from t  where id = 7 and name='z' -- c\n;"),
            "select a, b from t where id = $1 and name = $2"
        );
        assert_eq!(
            pg("UPDATE t SET x = x - 1 WHERE id = -5"),
            "update t set x = x - $1 where id = $2"
        );
        assert_eq!(
            pg("SELECT * FROM t WHERE d > '2024-01-01'::date AND n = 1.5e3"),
            "select * from t where d > $1::date and n = $2"
        );
        assert_eq!(
            pg("SELECT $1, 5 FROM \"T\" WHERE s = $$x$$ AND e = E'a\\'b'"),
            "select $1, $2 from \"T\" where s = $3 and e = $4"
        );
        assert_eq!(pg("select t1.c2 from t1 /* x */"), "select t1.c2 from t1");
        assert_eq!(pg("SELECT NULL, true"), "select null, true");
        assert_eq!(
            pg("select * from t where id in (1, 2, 3)"),
            "select * from t where id in ($1, $2, $3)"
        );
        assert_eq!(pg("select f(1)[2]"), "select f($1)[$2]");
    }

    #[test]
    fn mysql_fingerprints_like_pt_query_digest() {
        assert_eq!(
            my("SELECT * FROM orders WHERE id IN (1, 2, 3) AND s = \"x\""),
            "select * from orders where id in(?+) and s = ?"
        );
        assert_eq!(
            my("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3,'z')"),
            "insert into t(a, b) values(?+)"
        );
        assert_eq!(
            my("select a from t limit 10, 20"),
            "select a from t limit ?"
        );
        assert_eq!(
            my("SELECT a FROM t WHERE b = -1 LIMIT 5 OFFSET 10"),
            "select a from t where b = ? limit ?"
        );
        assert_eq!(my("use shop"), "use ?");
        assert_eq!(my("CALL Refresh(1, 2)"), "call refresh");
        assert_eq!(my("select NULL, TRUE # c"), "select ?, ?");
        assert_eq!(
            my("administrator command: Quit;"),
            "administrator command: Quit"
        );
        assert_eq!(my("select 'it\\'s' from t1"), "select ? from t1");
    }

    #[test]
    fn redaction_keeps_shape() {
        assert_eq!(
            redact_literals("SELECT * FROM users WHERE email = 'a@b.c' AND id = 7"),
            "SELECT * FROM users WHERE email = ? AND id = ?"
        );
    }
}
