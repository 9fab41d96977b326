//! PostgreSQL stderr logs: lines into [`PgEvent`]s.
//!
//! A primary line (`LOG`, `ERROR`…) starts an event; `DETAIL`, `HINT`, `CONTEXT`,
//! `STATEMENT`, `QUERY` and `LOCATION` lines of the same process attach to it, and lines
//! starting with a tab continue whatever came last (multi-line statements, plans, deadlock
//! details). Anything else is a line not understood.

use super::aggregate::Aggregate;
use super::pg_event::{self, PgEvent, PgState};
use super::pg_prefix::{split_severity, Prefix};
use super::reader::{lines, Window};

/// Which part of the event continuation lines extend.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Message,
    Detail,
    Statement,
    Other,
}

/// The event being assembled; strings are reused between events.
#[derive(Default)]
struct Builder {
    open: bool,
    /// File index and line of the primary line.
    file: usize,
    line: u64,
    ts_ms: Option<i64>,
    pid: String,
    user: String,
    db: String,
    has_user: bool,
    has_db: bool,
    sqlstate: String,
    severity: String,
    message: String,
    detail: String,
    has_detail: bool,
    statement: String,
    has_statement: bool,
    last: Option<Part>,
}

impl Builder {
    fn start(&mut self, f: &super::pg_prefix::Fields<'_>, severity: &str, msg: &str) {
        self.open = true;
        self.ts_ms = f.ts_ms;
        self.pid.clear();
        self.pid.push_str(f.pid.unwrap_or(""));
        self.user.clear();
        self.has_user = f.user.is_some_and(|u| !u.is_empty() && u != "[unknown]");
        self.user.push_str(f.user.unwrap_or(""));
        self.db.clear();
        self.has_db = f.db.is_some_and(|d| !d.is_empty() && d != "[unknown]");
        self.db.push_str(f.db.unwrap_or(""));
        self.sqlstate.clear();
        self.sqlstate.push_str(f.sqlstate.unwrap_or(""));
        self.severity.clear();
        self.severity.push_str(severity);
        self.message.clear();
        self.message.push_str(msg);
        self.detail.clear();
        self.has_detail = false;
        self.statement.clear();
        self.has_statement = false;
        self.last = Some(Part::Message);
    }

    fn flush(&mut self, window: &Window, st: &mut PgState, agg: &mut Aggregate) {
        if !self.open {
            return;
        }
        self.open = false;
        if !window.keep(self.ts_ms) {
            agg.filtered += 1;
            return;
        }
        let ev = PgEvent {
            ts_ms: self.ts_ms,
            pid: (!self.pid.is_empty()).then_some(self.pid.as_str()),
            user: self.has_user.then_some(self.user.as_str()),
            db: self.has_db.then_some(self.db.as_str()),
            severity: &self.severity,
            sqlstate: (!self.sqlstate.is_empty()).then_some(self.sqlstate.as_str()),
            message: &self.message,
            detail: self.has_detail.then_some(self.detail.as_str()),
            statement: self.has_statement.then_some(self.statement.as_str()),
        };
        if !pg_event::apply(&ev, st, agg) {
            agg.bad(self.file, self.line);
        }
    }
}

/// True when a line may start a new event (not a continuation or a DETAIL/STATEMENT line):
/// where a chunk may be cut.
pub fn is_record_start(line: &[u8]) -> bool {
    if line.first().is_none_or(|c| *c == b'\t') {
        return false;
    }
    let Ok(s) = std::str::from_utf8(line) else {
        return true;
    };
    match split_severity(s) {
        Some((_, sev, _)) => !matches!(
            sev,
            "DETAIL" | "HINT" | "CONTEXT" | "STATEMENT" | "QUERY" | "LOCATION"
        ),
        None => true,
    }
}

/// Parses one chunk of a stderr log into `agg`.
pub fn parse(
    data: &[u8],
    prefix: &Prefix,
    file: usize,
    start_line: u64,
    window: &Window,
    agg: &mut Aggregate,
) {
    let mut b = Builder::default();
    let mut st = PgState::default();
    for (n, raw) in lines(data, start_line) {
        agg.lines += 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            agg.bad(file, n);
            continue;
        };
        if let Some(cont) = line.strip_prefix('\t') {
            if !b.open {
                agg.bad(file, n);
                continue;
            }
            let target = match b.last {
                Some(Part::Message) => &mut b.message,
                Some(Part::Detail) => &mut b.detail,
                Some(Part::Statement) => &mut b.statement,
                _ => continue,
            };
            target.push('\n');
            target.push_str(cont);
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let Some((pre, sev, msg)) = split_severity(line) else {
            agg.bad(file, n);
            continue;
        };
        let Some(fields) = prefix.parse(pre) else {
            agg.bad(file, n);
            continue;
        };
        let secondary = matches!(
            sev,
            "DETAIL" | "HINT" | "CONTEXT" | "STATEMENT" | "QUERY" | "LOCATION"
        );
        if secondary {
            let same = b.open && fields.pid.is_none_or(|p| p == b.pid);
            if !same {
                // A DETAIL whose event is in another chunk or interleaved: understood, unused.
                continue;
            }
            match sev {
                "DETAIL" => {
                    if b.has_detail {
                        b.detail.push('\n');
                    }
                    b.detail.push_str(msg);
                    b.has_detail = true;
                    b.last = Some(Part::Detail);
                }
                "STATEMENT" => {
                    b.statement.clear();
                    b.statement.push_str(msg);
                    b.has_statement = true;
                    b.last = Some(Part::Statement);
                }
                _ => b.last = Some(Part::Other),
            }
            continue;
        }
        b.flush(window, &mut st, agg);
        b.start(&fields, sev, msg);
        b.file = file;
        b.line = n;
    }
    b.flush(window, &mut st, agg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_statements_details_and_bad_lines() {
        let log = "\
2024-01-31 12:00:00.000 UTC [10] LOG:  duration: 2.000 ms  statement: SELECT a,
\t       b FROM t
\tWHERE id = 5
2024-01-31 12:00:01.000 UTC [11] ERROR:  duplicate key value violates unique constraint \"t_pkey\"
2024-01-31 12:00:01.000 UTC [11] DETAIL:  Key (id)=(1) already exists.
2024-01-31 12:00:01.000 UTC [11] STATEMENT:  INSERT INTO t VALUES (1)
\x00\x01binary junk
2024-01-31 12:00:02.000 UTC [10] LOG:  duration: 4.000 ms  statement: select a, b from t where id = 9
not a log line
";
        let prefix = Prefix::compile("%m [%p] ").unwrap();
        let mut agg = Aggregate::default();
        parse(log.as_bytes(), &prefix, 0, 1, &Window::default(), &mut agg);
        let s = &agg.queries["select a, b from t where id = $1"];
        assert_eq!(s.calls, 2);
        assert!((s.total_ms - 6.0).abs() < 1e-9);
        let g = agg.error_groups();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].code, "23505");
        assert_eq!(g[0].statement.as_deref(), Some("insert into t values ($1)"));
        assert_eq!(agg.bad_lines, 2);
        assert_eq!(agg.first_bad, Some((0, 7)));
        assert_eq!(agg.lines, 9);
    }

    #[test]
    fn record_starts() {
        assert!(is_record_start(b"2024-01-31 12:00:00 UTC [1] LOG:  x"));
        assert!(!is_record_start(
            b"2024-01-31 12:00:00 UTC [1] STATEMENT:  x"
        ));
        assert!(!is_record_start(b"\tcontinued"));
    }
}
