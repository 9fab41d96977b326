//! The only path by which user- or LLM-supplied SQL reaches a database: as the argument of a
//! plain `EXPLAIN` (never `ANALYZE`), and only after it is proven to be exactly one read-only
//! SELECT without side effects.
//!
//! The layers, in order (each one refuses; none repairs):
//! 1. **Size limits** before any parsing: [`MAX_SQL_BYTES`], [`MAX_TOKENS`], [`MAX_NESTING`], so
//!    deep or huge input gets a refusal, never a stack overflow.
//! 2. **The engine's own lexer** ([`lexer`]): strings, quoted names, comments and statement
//!    boundaries as the target server reads them; exactly one statement; anything whose reading
//!    depends on server settings (backslashes in quotes, MySQL executable comments, MySQL `--x`)
//!    is refused.
//! 3. **Agreement:** sqlparser's tokenizer must see the same significant tokens as the engine
//!    lexer, so the tree checked below is the statement the server will run.
//! 4. **The tree** ([`walk`]): one `SELECT`/`WITH`/`VALUES` query; no data-modifying statement,
//!    locking clause or `SELECT … INTO` at any depth; no custom operators; only allow-listed
//!    built-in functions ([`functions`], data in `sql-functions.toml`).
//! 5. **No re-rendering:** the text that is sent is the user's own text, sliced to the query's
//!    first and last token (a leading `EXPLAIN [ANALYZE]` and trailing `;` dropped), and that
//!    slice is parsed again to the same tree.
//!
//! The runner then adds its own layers (one prepared statement, a read-only transaction, a
//! statement timeout, a connection that is closed afterwards): see
//! [`crate::diagnostics::Runner::explain`].

pub mod functions;
pub mod lexer;
mod walk;

use crate::config::Engine;
use lexer::{lex, Tok};
use sqlparser::ast::{Query, Statement};
use sqlparser::dialect::{Dialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeSet;

/// Longest SQL text accepted, in bytes (32 KiB). Real queries pasted for a plan are far shorter;
/// chat messages can be much longer (Teams allows about 28 KB of text, Slack 40,000 characters).
pub const MAX_SQL_BYTES: usize = 32 * 1024;
/// Most significant tokens accepted. Bounds the depth of left-nested expression chains
/// (`1+1+…`) that sqlparser builds recursively, well inside a 2 MiB async worker stack.
pub const MAX_TOKENS: usize = 2_000;
/// Deepest parenthesis nesting accepted (sqlparser's own recursion limit is 50).
pub const MAX_NESTING: usize = 32;
/// sqlparser recursion limit used for user SQL.
const RECURSION_LIMIT: usize = 48;

/// Why a statement was refused for EXPLAIN. The message is shown to the user; it never quotes
/// the input, so it is also safe in audit records (use [`Refusal::code`] there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no SQL statement to explain")]
    Empty,
    #[error("it is {0} bytes long; I explain statements up to {MAX_SQL_BYTES} bytes")]
    TooLong(usize),
    #[error("it is too complex to check safely (over {MAX_TOKENS} tokens or {MAX_NESTING} levels of parentheses)")]
    TooDeep,
    #[error("{0}")]
    Lex(#[from] lexer::LexError),
    #[error("I read this SQL differently from how {0} would (quoting or comment syntax), so I will not send it")]
    Ambiguous(&'static str),
    #[error("the SQL does not parse for {engine}: {message}")]
    Parse {
        engine: &'static str,
        message: String,
    },
    #[error("it contains {0} statements; I only explain exactly one SELECT")]
    MultipleStatements(usize),
    #[error("it is a {0} statement; I only explain a single SELECT and never run anything that changes data")]
    NotSelect(String),
    #[error("the SELECT writes or locks ({0}); I only explain plain reads")]
    WritesOrLocks(&'static str),
    #[error("it calls `{name}`, which I do not allow: {why}")]
    Function { name: String, why: String },
}

impl Refusal {
    /// A short, input-free code for audit records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Empty => "empty",
            Refusal::TooLong(_) => "too_long",
            Refusal::TooDeep => "too_deep",
            Refusal::Lex(_) => "lexical",
            Refusal::Ambiguous(_) => "ambiguous",
            Refusal::Parse { .. } => "parse",
            Refusal::MultipleStatements(_) => "multiple_statements",
            Refusal::NotSelect(_) => "not_select",
            Refusal::WritesOrLocks(_) => "writes_or_locks",
            Refusal::Function { .. } => "function",
        }
    }
}

/// A statement proven to be one read-only SELECT, ready for `EXPLAIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeSelect {
    sql: String,
    functions: BTreeSet<String>,
    parameters: bool,
    /// The user asked for EXPLAIN ANALYZE; we ran plain EXPLAIN and say so.
    pub analyze_requested: bool,
}

impl SafeSelect {
    /// The user's own SELECT text, exactly as checked (no trailing semicolon).
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether the statement has parameter placeholders (`$1`, `?`, `:name`), which a plain
    /// EXPLAIN cannot plan on PostgreSQL before version 16 (`EXPLAIN (GENERIC_PLAN)`).
    pub fn has_parameters(&self) -> bool {
        self.parameters
    }

    /// The allow-listed built-in functions the statement calls (lower case, unqualified).
    pub fn functions(&self) -> &BTreeSet<String> {
        &self.functions
    }
}

fn dialect(engine: Engine) -> Box<dyn Dialect> {
    match engine {
        Engine::Postgres => Box::new(PostgreSqlDialect {}),
        Engine::Mysql => Box::new(MySqlDialect {}),
        Engine::Sqlite => Box::new(SQLiteDialect {}),
        Engine::Mssql => Box::new(MsSqlDialect {}),
    }
}

/// Parses `sql` with `dialect` under the same size and depth limits as user SQL. For any text
/// the bot did not write itself (query texts read from the database, too) so that deep input
/// cannot overflow the stack.
///
/// # Errors
/// [`Refusal::TooLong`], [`Refusal::TooDeep`] or [`Refusal::Parse`].
pub fn parse_limited(
    sql: &str,
    dialect: &dyn Dialect,
    engine_name: &'static str,
) -> Result<Vec<Statement>, Refusal> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Refusal::TooLong(sql.len()));
    }
    let (tokens, depth) = rough_shape(sql);
    if tokens > MAX_TOKENS || depth > MAX_NESTING {
        return Err(Refusal::TooDeep);
    }
    parse_with(dialect, sql, engine_name)
}

fn parse_with(
    dialect: &dyn Dialect,
    sql: &str,
    engine_name: &'static str,
) -> Result<Vec<Statement>, Refusal> {
    let perr = |e: sqlparser::parser::ParserError| {
        let message = e.to_string();
        if message.contains("recursion limit") {
            Refusal::TooDeep
        } else {
            Refusal::Parse {
                engine: engine_name,
                message,
            }
        }
    };
    Parser::new(dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .map_err(perr)?
        .parse_statements()
        .map_err(perr)
}

/// A cheap upper bound on token count and parenthesis depth, without a full lexer.
fn rough_shape(sql: &str) -> (usize, usize) {
    let (mut tokens, mut depth, mut max_depth) = (0usize, 0usize, 0usize);
    let mut in_word = false;
    for c in sql.chars() {
        match c {
            '(' => {
                depth += 1;
                max_depth = max_depth.max(depth);
                tokens += 1;
                in_word = false;
            }
            ')' => {
                depth = depth.saturating_sub(1);
                tokens += 1;
                in_word = false;
            }
            c if c.is_alphanumeric() || c == '_' => {
                if !in_word {
                    tokens += 1;
                }
                in_word = true;
            }
            c if c.is_whitespace() => in_word = false,
            _ => {
                tokens += 1;
                in_word = false;
            }
        }
    }
    (tokens, max_depth)
}

/// Accepts `sql` only if it is exactly one read-only SELECT without side effects (optionally
/// written as `EXPLAIN [ANALYZE] SELECT …`, in which case only plain EXPLAIN will run).
///
/// # Errors
/// A [`Refusal`] saying why; its message never quotes the input.
pub fn check_select(sql: &str, engine: Engine) -> Result<SafeSelect, Refusal> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Refusal::TooLong(sql.len()));
    }
    let name = engine.display();
    // 2. The engine's reading.
    let toks = lex(sql, engine)?;
    if toks.len() > MAX_TOKENS || nesting(&toks) > MAX_NESTING {
        return Err(Refusal::TooDeep);
    }
    let significant: Vec<&lexer::Spanned> = {
        // Trailing separators are fine; any statement after a separator is not.
        let mut end = toks.len();
        while end > 0 && toks[end - 1].tok == Tok::Semi {
            end -= 1;
        }
        toks[..end].iter().collect()
    };
    if significant.is_empty() {
        return Err(Refusal::Empty);
    }
    let separators = significant.iter().filter(|t| t.tok == Tok::Semi).count();
    if separators > 0 {
        return Err(Refusal::MultipleStatements(separators + 1));
    }
    // 3. Agreement with sqlparser's tokenizer.
    let d = dialect(engine);
    let theirs = Tokenizer::new(d.as_ref(), sql)
        .tokenize()
        .map_err(|_| Refusal::Ambiguous(name))?;
    if normalise_ours(&toks) != normalise_theirs(&theirs) {
        return Err(Refusal::Ambiguous(name));
    }
    // 4. The tree.
    let stmts = parse_with(d.as_ref(), sql, name)?;
    let (query, analyze_requested) = match stmts.as_slice() {
        [] => return Err(Refusal::Empty),
        [one] => match one {
            Statement::Query(q) => (q, false),
            Statement::Explain {
                statement, analyze, ..
            } => match statement.as_ref() {
                Statement::Query(q) => (q, *analyze),
                other => return Err(Refusal::NotSelect(kind(other))),
            },
            Statement::ExplainTable { .. } => {
                return Err(Refusal::NotSelect("EXPLAIN TABLE".into()))
            }
            other => return Err(Refusal::NotSelect(kind(other))),
        },
        many => return Err(Refusal::MultipleStatements(many.len())),
    };
    let functions = walk::check_query(query, engine, true)?;
    // 5. The user's own text, sliced to the query, must parse to the same tree.
    let first = match significant.first().map(|t| &t.tok) {
        Some(Tok::Word(w)) if w == "explain" => significant
            .iter()
            .position(|t| {
                matches!(&t.tok, Tok::Word(w) if matches!(w.as_str(), "select" | "with" | "values" | "table"))
            })
            .ok_or(Refusal::Ambiguous(name))?,
        _ => 0,
    };
    let start = significant[first].start;
    let end = significant.last().map_or(sql.len(), |t| t.end);
    let slice = &sql[start..end];
    let again = parse_with(d.as_ref(), slice, name)?;
    match again.as_slice() {
        [Statement::Query(q)] if q.to_string() == query.to_string() => {}
        _ => return Err(Refusal::Ambiguous(name)),
    }
    Ok(SafeSelect {
        sql: slice.to_string(),
        functions,
        parameters: toks.iter().any(|t| matches!(t.tok, Tok::Param(_))),
        analyze_requested,
    })
}

/// True when the query only reads: no data-modifying statement, `SELECT … INTO` or locking
/// clause at any depth. Functions are not checked (used for the compiled-in catalog).
pub fn is_read_only_query(q: &Query) -> bool {
    walk::check_query(q, Engine::Postgres, false).is_ok()
}

fn nesting(toks: &[lexer::Spanned]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for t in toks {
        if let Tok::Punct(p) = &t.tok {
            for c in p.chars() {
                match c {
                    '(' => {
                        depth += 1;
                        max = max.max(depth);
                    }
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
    max
}

/// Comparable form: quoted tokens by value, words lower-cased, punctuation runs merged.
#[derive(Debug, PartialEq, Eq)]
enum Norm {
    Word(String),
    Quoted(String),
    Num(String),
    Param(String),
    Semi,
    Punct(String),
}

fn push_punct(out: &mut Vec<Norm>, p: &str) {
    let p = p.replace("!=", "<>");
    if let Some(Norm::Punct(prev)) = out.last_mut() {
        prev.push_str(&p);
        return;
    }
    out.push(Norm::Punct(p));
}

fn normalise_ours(toks: &[lexer::Spanned]) -> Vec<Norm> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        match &t.tok {
            Tok::Word(w) => out.push(Norm::Word(w.clone())),
            Tok::Quoted(q) => out.push(Norm::Quoted(q.clone())),
            Tok::Num(n) => out.push(Norm::Num(n.clone())),
            // sqlparser reads SQLite's `:name`, `@name`, `$name` as punctuation and a word.
            Tok::Param(p)
                if p.len() > 1
                    && matches!(p.as_bytes()[0], b':' | b'@' | b'$')
                    && !p.as_bytes()[1].is_ascii_digit() =>
            {
                push_punct(&mut out, &p[..1]);
                out.push(Norm::Word(p[1..].to_lowercase()));
            }
            Tok::Param(p) => out.push(Norm::Param(p.clone())),
            Tok::Semi => out.push(Norm::Semi),
            Tok::Punct(p) => push_punct(&mut out, p),
        }
    }
    out
}

fn normalise_theirs(toks: &[Token]) -> Vec<Norm> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Token::EOF | Token::Whitespace(_) => {}
            Token::Word(w) if w.quote_style.is_some() => out.push(Norm::Quoted(w.value.clone())),
            Token::Word(w) => out.push(Norm::Word(w.value.to_lowercase())),
            Token::Number(n, _) => out.push(Norm::Num(n.clone())),
            Token::SingleQuotedString(s)
            | Token::DoubleQuotedString(s)
            | Token::NationalStringLiteral(s)
            | Token::EscapedStringLiteral(s)
            | Token::HexStringLiteral(s)
            | Token::SingleQuotedByteStringLiteral(s) => out.push(Norm::Quoted(s.clone())),
            Token::DollarQuotedString(d) => out.push(Norm::Quoted(d.value.clone())),
            Token::Placeholder(p) => out.push(Norm::Param(p.clone())),
            Token::SemiColon => out.push(Norm::Semi),
            other => push_punct(&mut out, &other.to_string()),
        }
    }
    out
}

/// A short name of the statement kind for refusals ("DELETE", "DROP TABLE").
fn kind(s: &Statement) -> String {
    let text = s.to_string();
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("").to_uppercase();
    match first.as_str() {
        "DROP" | "CREATE" | "ALTER" | "TRUNCATE" => {
            format!("{first} {}", words.next().unwrap_or("").to_uppercase())
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests;
