//! PostgreSQL 15+ jsonlog: one JSON object per line.

use super::aggregate::Aggregate;
use super::pg_event::{self, PgEvent, PgState};
use super::reader::{lines, Window};
use super::time;
use serde::Deserialize;
use std::borrow::Cow;

/// The jsonlog keys the analyser uses (PostgreSQL omits keys whose value is empty).
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dbname: Option<Cow<'a, str>>,
    #[serde(default)]
    pid: Option<u64>,
    #[serde(borrow)]
    error_severity: Cow<'a, str>,
    #[serde(borrow, default)]
    state_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
    #[serde(borrow, default)]
    detail: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    statement: Option<Cow<'a, str>>,
}

/// Parses one chunk of jsonlog into `agg`.
pub fn parse(data: &[u8], file: usize, start_line: u64, window: &Window, agg: &mut Aggregate) {
    let mut st = PgState::default();
    for (n, line) in lines(data, start_line) {
        agg.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(e) = serde_json::from_slice::<Entry<'_>>(line) else {
            agg.bad(file, n);
            continue;
        };
        let ts = time::parse_iso(&e.timestamp);
        if ts.is_none() {
            agg.bad(file, n);
            continue;
        }
        if !window.keep(ts) {
            agg.filtered += 1;
            continue;
        }
        let pid = e.pid.map(|p| p.to_string());
        let ev = PgEvent {
            ts_ms: ts,
            pid: pid.as_deref(),
            user: e.user.as_deref(),
            db: e.dbname.as_deref(),
            severity: &e.error_severity,
            sqlstate: e.state_code.as_deref(),
            message: &e.message,
            detail: e.detail.as_deref(),
            statement: e.statement.as_deref(),
        };
        if !pg_event::apply(&ev, &mut st, agg) {
            agg.bad(file, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_per_line() {
        let log = r#"{"timestamp":"2024-01-31 12:00:00.000 UTC","user":"app","dbname":"shop","pid":42,"error_severity":"LOG","message":"duration: 3.000 ms  statement: select 1\nfrom t"}
{"timestamp":"2024-01-31 12:00:01.000 UTC","pid":42,"error_severity":"ERROR","state_code":"22012","message":"division by zero","statement":"select 1/0"}
{"broken":
"#;
        let mut agg = Aggregate::default();
        parse(log.as_bytes(), 0, 1, &Window::default(), &mut agg);
        assert_eq!(agg.queries["select $1 from t"].calls, 1);
        assert_eq!(agg.error_groups()[0].code, "22012");
        assert_eq!(agg.first_bad, Some((0, 3)));
    }
}
