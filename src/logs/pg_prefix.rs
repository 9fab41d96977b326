//! PostgreSQL's `log_line_prefix`: compiled into a matcher, or detected from a log.
//!
//! A stderr line is `<prefix><SEVERITY>:  <message>`. The severity marker is found first
//! ([`split_severity`]); the text before it is then matched against the compiled prefix, so a
//! field's value runs up to the next literal of the prefix (or to the marker for the last
//! field). Timestamps (`%t`, `%m`, `%s`) are parsed by shape because they contain the spaces and
//! colons other fields are delimited by. `%q` ends the prefix for lines of background processes.

use super::time;

/// One piece of a compiled prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Lit(String),
    /// The escape letter (`t`, `m`, `p`, `u`, `d`, `a`, `h`, `r`, `e`, `l`, `c`…).
    Field(char),
    /// `%q`: the rest only appears for session processes.
    Stop,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    source: String,
    items: Vec<Item>,
    /// Lenient mode: no prefix known; take a leading timestamp and a `[pid]` when present.
    generic: bool,
}

/// What a prefix told about a line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    pub ts_ms: Option<i64>,
    pub pid: Option<&'a str>,
    pub user: Option<&'a str>,
    pub db: Option<&'a str>,
    pub app: Option<&'a str>,
    pub host: Option<&'a str>,
    pub sqlstate: Option<&'a str>,
}

/// Severity words PostgreSQL writes before `:  `.
pub const SEVERITIES: &[&str] = &[
    "LOG",
    "ERROR",
    "STATEMENT",
    "DETAIL",
    "HINT",
    "CONTEXT",
    "FATAL",
    "PANIC",
    "WARNING",
    "NOTICE",
    "INFO",
    "QUERY",
    "LOCATION",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
];

/// The prefixes tried by [`detect`], most common first: Debian/Ubuntu's default, PostgreSQL's
/// default since 10, pgBadger's recommended prefix (two variants), RDS/Aurora's, Azure's
/// and Cloud SQL's.
pub const COMMON: &[&str] = &[
    "%m [%p] ",
    "%m [%p] %q%u@%d ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t:%r:%u@%d:[%p]:",
    "%t-%c-",
    "%m [%p-%l] %q%u@%d ",
    "%t [%p]: [%l-1] ",
    "%m ",
    "%t ",
];

/// Splits a line at its severity marker: (prefix text, severity, message).
pub fn split_severity(line: &str) -> Option<(&str, &str, &str)> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&b[from..], b":  ") {
        let at = from + p;
        let start = b[..at]
            .iter()
            .rposition(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
            .map_or(0, |i| i + 1);
        let word = &line[start..at];
        if !word.is_empty() && SEVERITIES.contains(&word) {
            return Some((&line[..start], word, &line[at + 3..]));
        }
        from = at + 3;
        if from > 512 {
            // The marker is never that far in; the rest is message text.
            return None;
        }
    }
    None
}

impl Prefix {
    /// Compiles a `log_line_prefix` value.
    ///
    /// # Errors
    /// A message when the prefix has an unknown escape or two fields with nothing between them
    /// that could tell them apart (`%u%d`).
    pub fn compile(src: &str) -> Result<Prefix, String> {
        let mut items = Vec::new();
        let mut lit = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            // Optional padding like %-10u or %10p.
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '-')
            {
                chars.next();
            }
            let Some(e) = chars.next() else {
                return Err("ends with a lone %".into());
            };
            match e {
                '%' => lit.push('%'),
                'q' => {
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    items.push(Item::Stop);
                }
                'a' | 'u' | 'd' | 'r' | 'h' | 'b' | 'p' | 'P' | 't' | 'm' | 'n' | 'i' | 'e'
                | 'c' | 'l' | 's' | 'v' | 'x' | 'Q' => {
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    if let Some(Item::Field(prev)) = items.last() {
                        if !matches!(prev, 't' | 'm' | 's' | 'n') {
                            return Err(format!("%{prev}%{e} has no separator"));
                        }
                    }
                    items.push(Item::Field(e));
                }
                other => return Err(format!("unknown escape %{other}")),
            }
        }
        if !lit.is_empty() {
            items.push(Item::Lit(lit));
        }
        Ok(Prefix {
            source: src.to_string(),
            items,
            generic: false,
        })
    }

    /// The lenient matcher used when no prefix is known and none of [`COMMON`] fits.
    pub fn generic() -> Prefix {
        Prefix {
            source: "(generic: leading timestamp and [pid])".into(),
            items: Vec::new(),
            generic: true,
        }
    }

    /// The prefix as configured (`%m [%p] `).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Matches the text before the severity marker; `None` when it does not fit.
    pub fn parse<'a>(&self, text: &'a str) -> Option<Fields<'a>> {
        if self.generic {
            return Some(generic_fields(text));
        }
        let mut f = Fields::default();
        let mut pos = 0usize;
        let mut i = 0usize;
        while i < self.items.len() {
            let rest = &text[pos..];
            match &self.items[i] {
                Item::Lit(l) => {
                    // Trailing spaces of the prefix are lenient: PostgreSQL writes them, but
                    // copies of logs sometimes lose them.
                    if let Some(r) = rest.strip_prefix(l.as_str()) {
                        pos = text.len() - r.len();
                    } else if i + 1 == self.items.len() && l.trim_end() == rest {
                        pos = text.len();
                    } else {
                        return None;
                    }
                }
                Item::Stop => {
                    if rest.is_empty() {
                        return Some(f);
                    }
                }
                Item::Field(e) => {
                    let len = match e {
                        't' | 'm' | 's' => {
                            let (ms, used) = time::parse_iso_prefix(rest)?;
                            if *e != 's' {
                                f.ts_ms = Some(ms);
                            }
                            used
                        }
                        _ => {
                            let len = match self.items.get(i + 1) {
                                Some(Item::Lit(next)) => {
                                    if *e == 'r' && rest.starts_with('[') {
                                        // [local]
                                        rest.find(']').map(|p| p + 1)?
                                    } else if *e == 'r' {
                                        // host(port)
                                        match rest.find(')') {
                                            Some(p) => p + 1,
                                            None => rest.find(next.as_str())?,
                                        }
                                    } else {
                                        rest.find(next.as_str())?
                                    }
                                }
                                Some(Item::Stop) => match self.items.get(i + 2) {
                                    Some(Item::Lit(next)) => {
                                        rest.find(next.as_str()).unwrap_or(rest.len())
                                    }
                                    _ => rest.len(),
                                },
                                _ => rest.len(),
                            };
                            let v = &rest[..len];
                            match e {
                                'p' | 'l' | 'P'
                                    if !v.is_empty() && !v.bytes().all(|c| c.is_ascii_digit()) =>
                                {
                                    return None
                                }
                                'p' => f.pid = Some(v),
                                'u' => f.user = Some(v),
                                'd' => f.db = Some(v),
                                'a' => f.app = Some(v),
                                'h' | 'r' => f.host = Some(v),
                                'e' => f.sqlstate = Some(v),
                                'n' => {
                                    let secs: f64 = v.parse().ok()?;
                                    f.ts_ms = Some((secs * 1000.0) as i64);
                                }
                                _ => {}
                            }
                            len
                        }
                    };
                    pos += len;
                }
            }
            i += 1;
        }
        // The whole prefix text must be used (trailing blanks aside).
        text[pos..].trim().is_empty().then_some(f)
    }
}

fn generic_fields(text: &str) -> Fields<'_> {
    let mut f = Fields::default();
    let t = text.trim_start();
    if let Some((ms, _)) = time::parse_iso_prefix(t) {
        f.ts_ms = Some(ms);
    }
    if let Some(open) = text.find('[') {
        let rest = &text[open + 1..];
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            f.pid = Some(&rest[..n]);
        }
    }
    f
}

/// Picks the prefix that fits the most of `lines` (stderr lines with a severity marker), from
/// [`COMMON`]; [`Prefix::generic`] when none fits at least half of them.
pub fn detect<'a>(lines: impl Iterator<Item = &'a str>) -> Prefix {
    let compiled: Vec<Prefix> = COMMON
        .iter()
        .filter_map(|p| Prefix::compile(p).ok())
        .collect();
    let mut hits = vec![0usize; compiled.len()];
    let mut seen = 0usize;
    for line in lines.take(200) {
        let Some((pre, _, _)) = split_severity(line) else {
            continue;
        };
        seen += 1;
        for (k, p) in compiled.iter().enumerate() {
            if p.parse(pre).is_some_and(|f| f.ts_ms.is_some()) {
                hits[k] += 1;
            }
        }
    }
    // Most lines matched; among equals the simpler prefix (fewer items, then earlier in
    // COMMON) wins: `%q` variants only win when session lines carry the extra fields.
    let best = (0..compiled.len())
        .rev()
        .max_by_key(|&k| (hits[k], std::cmp::Reverse(compiled[k].items.len())));
    match best {
        Some(k) if seen > 0 && hits[k] * 2 >= seen => compiled[k].clone(),
        _ => Prefix::generic(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(prefix: &str, line: &'a str) -> Option<(Fields<'a>, &'a str, &'a str)> {
        let p = Prefix::compile(prefix).unwrap();
        let (pre, sev, msg) = split_severity(line)?;
        Some((p.parse(pre)?, sev, msg))
    }

    #[test]
    fn common_prefixes_parse() {
        let (f, sev, msg) = fields(
            "%m [%p] ",
            "2024-01-31 12:00:00.123 UTC [4242] LOG:  duration: 0.5 ms  statement: SELECT 1",
        )
        .unwrap();
        assert_eq!(f.pid, Some("4242"));
        assert_eq!(f.ts_ms, time::parse_iso("2024-01-31 12:00:00.123 UTC"));
        assert_eq!(sev, "LOG");
        assert_eq!(msg, "duration: 0.5 ms  statement: SELECT 1");

        let (f, _, _) = fields(
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
            "2024-01-31 12:00:00 UTC [77]: [3-1] user=app,db=shop,app=psql,client=10.0.0.5 ERROR:  boom",
        )
        .unwrap();
        assert_eq!(
            (f.pid, f.user, f.db, f.app, f.host),
            (
                Some("77"),
                Some("app"),
                Some("shop"),
                Some("psql"),
                Some("10.0.0.5")
            )
        );

        // RDS: the timestamp contains the ':' that separates fields.
        let (f, sev, _) = fields(
            "%t:%r:%u@%d:[%p]:",
            "2024-01-31 12:00:00 UTC:10.1.2.3(51234):app@shop:[901]:ERROR:  relation \"x\" does not exist",
        )
        .unwrap();
        assert_eq!(
            (f.user, f.db, f.pid, sev),
            (Some("app"), Some("shop"), Some("901"), "ERROR")
        );
        assert_eq!(f.host, Some("10.1.2.3(51234)"));

        // %q: background processes stop after the pid.
        let p = "%m [%p] %q%u@%d ";
        let (f, _, _) = fields(
            p,
            "2024-01-31 12:00:00.000 UTC [5] LOG:  checkpoint starting: time",
        )
        .unwrap();
        assert_eq!((f.pid, f.user), (Some("5"), None));
        let (f, _, _) = fields(
            p,
            "2024-01-31 12:00:00.000 UTC [6] bob@orders LOG:  duration: 1 ms  statement: x",
        )
        .unwrap();
        assert_eq!((f.user, f.db), (Some("bob"), Some("orders")));
        // %e
        let (f, _, _) = fields(
            "%m [%p] %e ",
            "2024-01-31 12:00:00.000 UTC [6] 42P01 ERROR:  x",
        )
        .unwrap();
        assert_eq!(f.sqlstate, Some("42P01"));
    }

    #[test]
    fn wrong_prefix_does_not_match_and_bad_escapes_are_errors() {
        assert!(fields(
            "%m [%p] ",
            "2024-01-31 12:00:00 UTC:host(1):u@d:[1]:LOG:  x"
        )
        .is_none());
        assert!(fields("%m [%p] ", "garbage LOG:  x").is_none());
        assert!(Prefix::compile("%u%d").is_err());
        assert!(Prefix::compile("%z").is_err());
        assert!(split_severity("no marker here").is_none());
        assert!(split_severity("\tcontinued: line").is_none());
    }

    #[test]
    fn detection_picks_the_prefix_that_fits() {
        let rds = [
            "2024-01-31 12:00:00 UTC:10.1.2.3(51234):app@shop:[901]:LOG:  duration: 1.0 ms  statement: select 1",
            "2024-01-31 12:00:01 UTC:10.1.2.3(51234):app@shop:[901]:ERROR:  boom",
            "2024-01-31 12:00:01 UTC::@:[100]:LOG:  checkpoint starting: time",
        ];
        assert_eq!(detect(rds.iter().copied()).source(), "%t:%r:%u@%d:[%p]:");
        let pgb = [
            "2024-01-31 12:00:00 UTC [77]: [3-1] user=app,db=shop,app=psql,client=10.0.0.5 LOG:  duration: 1 ms  statement: x",
        ];
        assert_eq!(
            detect(pgb.iter().copied()).source(),
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
        );
        let deb =
            ["2024-01-31 12:00:00.123 UTC [4242] LOG:  duration: 0.5 ms  statement: SELECT 1"];
        assert_eq!(detect(deb.iter().copied()).source(), "%m [%p] ");
        let odd = ["<<31/01 12h00>> LOG:  hello"];
        assert!(detect(odd.iter().copied()).generic);
    }
}
