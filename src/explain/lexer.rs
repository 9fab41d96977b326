//! The target engine's own reading of a SQL text: where its strings, quoted names, comments and
//! statements begin and end, following each server's documented lexical rules.
//!
//! The guard in [`super`] analyses the statement with sqlparser's tree but sends the user's
//! *original* text, so it must be sure the server sees the same tokens sqlparser saw. This lexer
//! is that second opinion. It refuses, rather than guesses, wherever the server's reading depends
//! on a setting the bot cannot see or would differ from sqlparser's:
//!
//! * a backslash inside any quoted token — MySQL/MariaDB read it as an escape unless
//!   `sql_mode` has `NO_BACKSLASH_ESCAPES`, PostgreSQL only in `E''` strings or with
//!   `standard_conforming_strings = off` (MySQL 8.0 ref. §11.1.1 "String Literals"; PostgreSQL
//!   docs §4.1.2.2 "String Constants with C-Style Escapes");
//! * MySQL/MariaDB executable comments `/*! … */`, `/*M! … */` and optimizer hints `/*+ … */`,
//!   whose contents the server runs (MySQL 8.0 ref. §11.7 "Comments"; MariaDB KB "Comment Syntax");
//! * MySQL `--` not followed by a space or control character, which MySQL does not treat as a
//!   comment (MySQL 8.0 ref. §1.6.2.4 "'--' as the Start of a Comment");
//! * unterminated strings, names and comments (SQLite would silently end a comment at the end of
//!   input, sqlite.org "SQL Comment Syntax").
//!
//! PostgreSQL and SQL Server block comments nest (PostgreSQL docs §4.1.5, T-SQL "Slash Star");
//! MySQL, MariaDB and SQLite block comments do not. Only ASCII space, tab, newline, carriage
//! return, vertical tab and form feed are whitespace; PostgreSQL and MySQL treat every byte of a
//! non-ASCII character as part of a name (PostgreSQL docs §4.1.1), so look-alike semicolons or
//! no-break spaces are names, never separators.

use crate::config::Engine;

/// One significant token (whitespace and comments are dropped), as the server would read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An unquoted name or keyword, lower-cased.
    Word(String),
    /// Any quoted token — string literal or quoted name — with its quotes removed and doubled
    /// quotes undone. Prefixes such as `N'…'`, `X'…'`, `E'…'` are part of the token.
    Quoted(String),
    /// A numeric literal as written.
    Num(String),
    /// A parameter placeholder (`$1`, `?`, `:name`, `@name` on SQLite).
    Param(String),
    /// A statement separator.
    Semi,
    /// A run of operator and punctuation characters.
    Punct(String),
}

/// A token and the byte range it covers in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Why the text cannot be read unambiguously. Messages never quote the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("a string or quoted name is not closed")]
    UnterminatedQuote,
    #[error("a /* comment */ is not closed")]
    UnterminatedComment,
    #[error("a dollar-quoted string is not closed")]
    UnterminatedDollar,
    #[error("it has a backslash inside a quoted string or name, which the server reads differently depending on its settings (sql_mode NO_BACKSLASH_ESCAPES, standard_conforming_strings)")]
    Backslash,
    #[error("it has an executable comment or optimizer hint (/*! … */, /*M! … */, /*+ … */), whose contents the server would run")]
    ExecutableComment,
    #[error("it has `--` without a space after it, which MySQL/MariaDB do not read as a comment")]
    AmbiguousDashes,
    #[error("it has a control character")]
    ControlChar,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn word_start(engine: Engine, b: u8) -> bool {
    b.is_ascii_alphabetic()
        || b == b'_'
        || b >= 0x80
        || (engine == Engine::Mssql && (b == b'#' || b == b'@'))
}

fn word_part(engine: Engine, b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || b == b'_'
        || b >= 0x80
        || (b == b'$' && engine != Engine::Mssql)
        || (engine == Engine::Mssql && (b == b'#' || b == b'@'))
}

/// Splits `sql` into the engine's significant tokens.
///
/// # Errors
/// A [`LexError`] where the server's reading is ambiguous or the text is malformed.
pub fn lex(sql: &str, engine: Engine) -> Result<Vec<Spanned>, LexError> {
    let b = sql.as_bytes();
    let mut out: Vec<Spanned> = Vec::new();
    let mut i = 0;
    let push = |out: &mut Vec<Spanned>, tok: Tok, start: usize, end: usize| {
        // Adjacent punctuation merges into one run so both readers compare alike.
        if let Tok::Punct(p) = &tok {
            if let Some(Spanned {
                tok: Tok::Punct(prev),
                end: pend,
                ..
            }) = out.last_mut()
            {
                prev.push_str(p);
                *pend = end;
                return;
            }
        }
        out.push(Spanned { tok, start, end });
    };
    while i < b.len() {
        let c = b[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        if c < 0x20 || c == 0x7f {
            return Err(LexError::ControlChar);
        }
        // Line comments.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            if engine == Engine::Mysql {
                match b.get(i + 2) {
                    None => {}
                    Some(&n) if n <= 0x20 => {}
                    Some(_) => return Err(LexError::AmbiguousDashes),
                }
            }
            i = skip_line(b, i);
            continue;
        }
        if c == b'#' && engine == Engine::Mysql {
            i = skip_line(b, i);
            continue;
        }
        // Block comments.
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            if engine == Engine::Mysql {
                match b.get(i + 2) {
                    Some(b'!') | Some(b'+') => return Err(LexError::ExecutableComment),
                    Some(b'M') if b.get(i + 3) == Some(&b'!') => {
                        return Err(LexError::ExecutableComment)
                    }
                    _ => {}
                }
            }
            let nests = matches!(engine, Engine::Postgres | Engine::Mssql);
            i = skip_block(b, i, nests)?;
            continue;
        }
        let start = i;
        match c {
            b'\'' => {
                let (v, end) = quoted(sql, i, b'\'', b'\'')?;
                push(&mut out, Tok::Quoted(v), start, end);
                i = end;
            }
            b'"' => {
                let (v, end) = quoted(sql, i, b'"', b'"')?;
                push(&mut out, Tok::Quoted(v), start, end);
                i = end;
            }
            b'`' if matches!(engine, Engine::Mysql | Engine::Sqlite) => {
                let (v, end) = quoted(sql, i, b'`', b'`')?;
                push(&mut out, Tok::Quoted(v), start, end);
                i = end;
            }
            b'[' if matches!(engine, Engine::Sqlite | Engine::Mssql) => {
                let (v, end) = bracketed(sql, i, engine)?;
                push(&mut out, Tok::Quoted(v), start, end);
                i = end;
            }
            b'$' if engine == Engine::Postgres => {
                if let Some(end) = digits_end(b, i + 1) {
                    push(&mut out, Tok::Param(sql[i..end].to_string()), start, end);
                    i = end;
                } else if let Some((v, end)) = dollar_quoted(sql, i)? {
                    push(&mut out, Tok::Quoted(v), start, end);
                    i = end;
                } else {
                    push(&mut out, Tok::Punct("$".into()), start, i + 1);
                    i += 1;
                }
            }
            b'?' if matches!(engine, Engine::Mysql | Engine::Sqlite) => {
                let end = digits_end(b, i + 1).unwrap_or(i + 1);
                push(&mut out, Tok::Param(sql[i..end].to_string()), start, end);
                i = end;
            }
            b':' | b'@' | b'$'
                if engine == Engine::Sqlite
                    && b.get(i + 1).is_some_and(|&n| word_start(engine, n)) =>
            {
                let mut end = i + 1;
                while end < b.len() && word_part(engine, b[end]) {
                    end += 1;
                }
                push(&mut out, Tok::Param(sql[i..end].to_string()), start, end);
                i = end;
            }
            b';' => {
                push(&mut out, Tok::Semi, start, i + 1);
                i += 1;
            }
            b'0'..=b'9' => {
                let end = number_end(b, i);
                push(&mut out, Tok::Num(sql[i..end].to_string()), start, end);
                i = end;
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = number_end(b, i);
                push(&mut out, Tok::Num(sql[i..end].to_string()), start, end);
                i = end;
            }
            _ if word_start(engine, c) => {
                let mut end = i + 1;
                while end < b.len() && word_part(engine, b[end]) {
                    end += 1;
                }
                // A string prefix (N'…', X'…', E'…', B'…', U&'…' is not one) joins its string.
                if b.get(end) == Some(&b'\'') && end - i == 1 {
                    let (v, qend) = quoted(sql, end, b'\'', b'\'')?;
                    push(&mut out, Tok::Quoted(v), start, qend);
                    i = qend;
                    continue;
                }
                push(
                    &mut out,
                    Tok::Word(sql[i..end].to_ascii_lowercase()),
                    start,
                    end,
                );
                i = end;
            }
            _ => {
                // One punctuation character (ASCII here: bytes >= 0x80 start names).
                push(&mut out, Tok::Punct((c as char).to_string()), start, i + 1);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn skip_line(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' {
        i += 1;
    }
    i
}

fn skip_block(b: &[u8], mut i: usize, nests: bool) -> Result<usize, LexError> {
    let mut depth = 0usize;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' {
            if depth == 0 || nests {
                depth += 1;
            }
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err(LexError::UnterminatedComment)
}

/// A quoted token starting at `i` (the opening quote); a doubled closing quote is an escaped
/// one. Returns the unquoted value and the end offset.
fn quoted(sql: &str, i: usize, open: u8, close: u8) -> Result<(String, usize), LexError> {
    let b = sql.as_bytes();
    debug_assert_eq!(b[i], open);
    let mut j = i + 1;
    let mut v = String::new();
    let mut seg = j;
    while j < b.len() {
        match b[j] {
            b'\\' => return Err(LexError::Backslash),
            x if x == close => {
                v.push_str(&sql[seg..j]);
                if b.get(j + 1) == Some(&close) {
                    v.push(close as char);
                    j += 2;
                    seg = j;
                } else {
                    return Ok((v, j + 1));
                }
            }
            _ => j += 1,
        }
    }
    Err(LexError::UnterminatedQuote)
}

/// `[name]`: SQLite has no escape inside brackets; SQL Server doubles `]]`.
fn bracketed(sql: &str, i: usize, engine: Engine) -> Result<(String, usize), LexError> {
    let b = sql.as_bytes();
    let mut j = i + 1;
    let mut v = String::new();
    let mut seg = j;
    while j < b.len() {
        match b[j] {
            b'\\' => return Err(LexError::Backslash),
            b']' => {
                v.push_str(&sql[seg..j]);
                if engine == Engine::Mssql && b.get(j + 1) == Some(&b']') {
                    v.push(']');
                    j += 2;
                    seg = j;
                } else {
                    return Ok((v, j + 1));
                }
            }
            _ => j += 1,
        }
    }
    Err(LexError::UnterminatedQuote)
}

/// PostgreSQL `$tag$ … $tag$` (docs §4.1.2.4); `None` when `$` does not open one.
fn dollar_quoted(sql: &str, i: usize) -> Result<Option<(String, usize)>, LexError> {
    let b = sql.as_bytes();
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    if b.get(j) != Some(&b'$') || b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        return Ok(None);
    }
    let tag = &sql[i..=j];
    let body = j + 1;
    match sql[body..].find(tag) {
        Some(k) => {
            let value = &sql[body..body + k];
            if value.contains('\\') {
                // Not an escape in dollar quoting, but sqlparser's reading is not worth trusting.
                return Err(LexError::Backslash);
            }
            Ok(Some((value.to_string(), body + k + tag.len())))
        }
        None => Err(LexError::UnterminatedDollar),
    }
}

fn digits_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    (j > i).then_some(j)
}

fn number_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j < b.len() && b[j] == b'.' {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
        let mut k = j + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            j = k;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(sql: &str, e: Engine) -> Vec<Tok> {
        lex(sql, e)
            .expect("lexes")
            .into_iter()
            .map(|s| s.tok)
            .collect()
    }

    #[test]
    fn reads_strings_names_and_comments_per_engine() {
        use Tok::*;
        assert_eq!(
            toks(
                "select 'it''s' -- c\n, \"a\"\"b\" /* x /* y */ z */ ;",
                Engine::Postgres
            ),
            vec![
                Word("select".into()),
                Quoted("it's".into()),
                Punct(",".into()),
                Quoted("a\"b".into()),
                Semi
            ]
        );
        // MySQL block comments do not nest: `z */` is outside.
        assert_eq!(
            toks("select /* x /* y */ z", Engine::Mysql),
            vec![Word("select".into()), Word("z".into())]
        );
        assert_eq!(
            toks("select `a``b`, [c] from t", Engine::Sqlite),
            vec![
                Word("select".into()),
                Quoted("a`b".into()),
                Punct(",".into()),
                Quoted("c".into()),
                Word("from".into()),
                Word("t".into())
            ]
        );
        assert_eq!(
            toks("select $a$ ; ' $a$, $1", Engine::Postgres),
            vec![
                Word("select".into()),
                Quoted(" ; ' ".into()),
                Punct(",".into()),
                Param("$1".into())
            ]
        );
    }

    #[test]
    fn refuses_what_the_server_could_read_differently() {
        let e = |s: &str, en| lex(s, en).expect_err(s);
        assert_eq!(e(r"select '\\' as a", Engine::Mysql), LexError::Backslash);
        assert_eq!(e(r"select `x\` from t", Engine::Mysql), LexError::Backslash);
        assert_eq!(e(r#"select "x\"" "#, Engine::Postgres), LexError::Backslash);
        assert_eq!(
            e("select /*! 1; delete from t */", Engine::Mysql),
            LexError::ExecutableComment
        );
        assert_eq!(
            e("select /*M!100000 1 */", Engine::Mysql),
            LexError::ExecutableComment
        );
        assert_eq!(e("select 1 --x", Engine::Mysql), LexError::AmbiguousDashes);
        assert_eq!(
            e("select 1 /* open", Engine::Sqlite),
            LexError::UnterminatedComment
        );
        assert_eq!(e("select [x", Engine::Sqlite), LexError::UnterminatedQuote);
        assert_eq!(
            e("select 'x", Engine::Postgres),
            LexError::UnterminatedQuote
        );
    }

    #[test]
    fn sqlite_brackets_end_at_the_first_close() {
        // `[x]]` is the name `x` followed by a stray `]` for SQLite.
        let t = toks("select 1 as [x]]; select 2 --]", Engine::Sqlite);
        assert!(t.contains(&Tok::Semi));
    }

    #[test]
    fn non_ascii_is_part_of_a_name_never_a_separator() {
        let t = toks("select 1\u{ff1b} delete from t", Engine::Postgres);
        assert!(!t.contains(&Tok::Semi));
        let t = toks("select\u{a0}1", Engine::Mysql);
        assert_eq!(t.len(), 1, "{t:?}");
    }
}
