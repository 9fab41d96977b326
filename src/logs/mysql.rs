//! MySQL and MariaDB logs: the slow query log and the general query log.
//!
//! Slow log entries, MySQL 5.7/8.0:
//! ```text
//! # Time: 2024-01-31T12:00:00.123456Z
//! # User@Host: app[app] @ localhost []  Id:     8
//! # Query_time: 0.000123  Lock_time: 0.000010 Rows_sent: 1  Rows_examined: 10
//! use shop;
//! SET timestamp=1706702400;
//! SELECT …;
//! ```
//! MariaDB writes `# Time: 240131 12:00:00` (only when the second changes), a
//! `# Thread_id: 8  Schema: shop  QC_hit: No` line and `# Rows_affected: …` after
//! `# Query_time:`. Server banners (`/usr/sbin/mariadbd, Version: …`, `Tcp port: …`,
//! `Time  Id Command Argument`) are understood and skipped.

use super::aggregate::{Aggregate, Call};
use super::fingerprint;
use super::reader::{lines, Window};
use super::time;

/// True when a slow-log line starts an entry (`# Time:` or `# User@Host:`).
pub fn is_slow_record_start(line: &[u8], prev: Option<&[u8]>) -> bool {
    if line.starts_with(b"# Time:") {
        return true;
    }
    line.starts_with(b"# User@Host:") && !prev.is_some_and(|p| p.starts_with(b"# Time:"))
}

/// True for a server banner line at the start of a log (or after a restart).
fn is_banner(line: &str) -> bool {
    line.contains(", Version: ")
        || line.starts_with("Tcp port:")
        || line.starts_with("Time") && line.contains("Command") && line.contains("Argument")
}

#[derive(Default)]
struct Entry {
    ts_ms: Option<i64>,
    header: bool,
    query_ms: Option<f64>,
    lock_ms: f64,
    rows_sent: u64,
    rows_examined: u64,
    user: String,
    db: String,
    sql: String,
}

/// `Key: value  Key2: value2` pairs of a `#` header line.
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut it = s.split_whitespace();
    std::iter::from_fn(move || loop {
        let k = it.next()?;
        if let Some(k) = k.strip_suffix(':') {
            let v = it.next().unwrap_or("");
            return Some((k, v));
        }
    })
}

fn flush(e: &mut Entry, window: &Window, fp: &mut String, agg: &mut Aggregate) {
    let sql = e.sql.trim();
    if let (Some(ms), false) = (e.query_ms, sql.is_empty()) {
        if window.keep(e.ts_ms) {
            fingerprint::mysql(sql, fp);
            agg.call(Call {
                fingerprint: fp,
                raw: sql,
                ms,
                ts_ms: e.ts_ms,
                rows: e.rows_sent,
                rows_examined: e.rows_examined,
                lock_ms: e.lock_ms,
                db: (!e.db.is_empty()).then_some(e.db.as_str()),
                user: (!e.user.is_empty()).then_some(e.user.as_str()),
            });
        } else {
            agg.filtered += 1;
        }
    }
    e.header = false;
    e.query_ms = None;
    e.lock_ms = 0.0;
    e.rows_sent = 0;
    e.rows_examined = 0;
    e.sql.clear();
}

/// Parses one chunk of a slow query log into `agg`.
pub fn parse_slow(data: &[u8], file: usize, start_line: u64, window: &Window, agg: &mut Aggregate) {
    let mut e = Entry::default();
    let mut fp = String::new();
    for (n, raw) in lines(data, start_line) {
        agg.lines += 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            agg.bad(file, n);
            continue;
        };
        if let Some(t) = line.strip_prefix("# Time: ") {
            flush(&mut e, window, &mut fp, agg);
            match time::parse_iso(t).or_else(|| time::parse_mysql_short(t)) {
                Some(ts) => e.ts_ms = Some(ts),
                None => agg.bad(file, n),
            }
            continue;
        }
        if let Some(uh) = line.strip_prefix("# User@Host: ") {
            flush(&mut e, window, &mut fp, agg);
            e.header = true;
            e.user.clear();
            e.user.push_str(uh.split('[').next().unwrap_or("").trim());
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            if h.starts_with("Query_time:") {
                for (k, v) in pairs(h) {
                    match k {
                        "Query_time" => e.query_ms = v.parse::<f64>().ok().map(|s| s * 1000.0),
                        "Lock_time" => e.lock_ms = v.parse::<f64>().unwrap_or(0.0) * 1000.0,
                        "Rows_sent" => e.rows_sent = v.parse().unwrap_or(0),
                        "Rows_examined" => e.rows_examined = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
                if e.query_ms.is_none() {
                    agg.bad(file, n);
                }
            } else if h.starts_with("Thread_id:") || h.contains("Schema:") {
                if let Some((_, v)) = pairs(h).find(|(k, _)| *k == "Schema") {
                    e.db.clear();
                    e.db.push_str(v);
                }
            }
            // Other `#` lines (Rows_affected, Full_scan, explain output) are understood.
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if e.header && e.sql.is_empty() {
            if let Some(ts) = line
                .strip_prefix("SET timestamp=")
                .and_then(|t| t.trim_end_matches(';').parse::<i64>().ok())
            {
                e.ts_ms = Some(ts * 1000);
                continue;
            }
            let lower = line.get(..4).map(str::to_ascii_lowercase);
            if lower.as_deref() == Some("use ") && line.ends_with(';') {
                e.db.clear();
                e.db.push_str(line[4..].trim_end_matches(';').trim().trim_matches('`'));
                continue;
            }
        }
        if e.header && e.query_ms.is_some() {
            if !e.sql.is_empty() {
                e.sql.push('\n');
            }
            e.sql.push_str(line);
            continue;
        }
        if is_banner(line) {
            continue;
        }
        agg.bad(file, n);
    }
    flush(&mut e, window, &mut fp, agg);
}

/// True when a general-log line starts an entry (a timestamp or the `\t\t` of the same second).
pub fn is_general_record_start(line: &[u8]) -> bool {
    line.starts_with(b"\t\t") || line.first().is_some_and(u8::is_ascii_digit)
}

/// Parses one chunk of a general query log into `agg`: statements are counted per
/// fingerprint (the general log has no durations), connects and quits as connections.
pub fn parse_general(
    data: &[u8],
    file: usize,
    start_line: u64,
    window: &Window,
    agg: &mut Aggregate,
) {
    let mut ts: Option<i64> = None;
    let mut fp = String::new();
    let mut cur: Option<(Option<i64>, String)> = None;
    let mut finish = |cur: &mut Option<(Option<i64>, String)>, agg: &mut Aggregate| {
        if let Some((t, q)) = cur.take() {
            if !window.keep(t) {
                agg.filtered += 1;
                return;
            }
            fingerprint::mysql(&q, &mut fp);
            agg.untimed += 1;
            agg.call(Call {
                fingerprint: &fp,
                raw: &q,
                ms: 0.0,
                ts_ms: t,
                rows: 0,
                rows_examined: 0,
                lock_ms: 0.0,
                db: None,
                user: None,
            });
        }
    };
    for (n, raw) in lines(data, start_line) {
        agg.lines += 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            agg.bad(file, n);
            continue;
        };
        // "<time>\t<id> <Command>\t<argument>" or "\t\t<id> <Command>\t<argument>".
        let mut parts = line.splitn(3, '\t');
        let first = parts.next().unwrap_or("");
        let second = parts.next();
        let entry = match second {
            Some(s) if first.is_empty() => {
                // MariaDB: "\t\t    8 Query\tSELECT 1": the time is the previous one.
                let rest = parts.next().unwrap_or("");
                let (cmd_part, arg) = match rest.split_once('\t') {
                    Some((c, a)) => (c, a),
                    None => (rest, ""),
                };
                let cmd_part = if s.is_empty() { cmd_part } else { s };
                let arg = if s.is_empty() { arg } else { rest };
                Some((ts, cmd_part, arg))
            }
            Some(s) => {
                let t = time::parse_iso(first).or_else(|| time::parse_mysql_short(first));
                if t.is_some() {
                    ts = t;
                    Some((t, s, parts.next().unwrap_or("")))
                } else {
                    None
                }
            }
            None => None,
        };
        match entry {
            Some((t, cmd_part, arg)) => {
                let cmd = cmd_part.split_whitespace().nth(1).unwrap_or("");
                finish(&mut cur, agg);
                agg.seen(t);
                match cmd {
                    "Query" | "Execute" => cur = Some((t, arg.to_string())),
                    "Connect" => {
                        agg.connections.authorized += 1;
                        if let Some(m) = agg.minute(t) {
                            m.connections += 1;
                        }
                    }
                    "Quit" => agg.connections.disconnections += 1,
                    _ => {}
                }
            }
            None => {
                if let Some((_, q)) = cur.as_mut() {
                    q.push('\n');
                    q.push_str(line);
                } else if !(is_banner(line) || line.is_empty()) {
                    agg.bad(file, n);
                }
            }
        }
    }
    finish(&mut cur, agg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_mariadb_slow_headers() {
        let log = "\
/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:
Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock
Time                 Id Command    Argument
# Time: 2024-01-31T12:00:00.123456Z
# User@Host: app[app] @ localhost []  Id:     8
# Query_time: 0.250000  Lock_time: 0.000100 Rows_sent: 3  Rows_examined: 300
use shop;
SET timestamp=1706702400;
SELECT * FROM orders
WHERE id IN (1, 2, 3);
# Time: 240131 12:00:01
# User@Host: app[app] @ localhost []
# Thread_id: 9  Schema: shop  QC_hit: No
# Query_time: 0.750000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1
# Rows_affected: 0  Bytes_sent: 67
SET timestamp=1706702401;
select * from orders where id in (7);
";
        let mut agg = Aggregate::default();
        parse_slow(log.as_bytes(), 0, 1, &Window::default(), &mut agg);
        let s = &agg.queries["select * from orders where id in(?+)"];
        assert_eq!(s.calls, 2);
        assert!((s.total_ms - 1000.0).abs() < 1e-6);
        assert_eq!(s.rows, 4);
        assert_eq!(s.rows_examined, 301);
        let w = s.worst.as_ref().unwrap();
        assert_eq!(w.db.as_deref(), Some("shop"));
        assert_eq!(w.ts_ms, Some(1_706_702_401_000));
        assert_eq!(agg.bad_lines, 0, "{:?}", agg.first_bad);
    }

    #[test]
    fn general_log_counts_statements() {
        let log = "\
2024-01-31T12:00:00.000000Z\t    8 Connect\tapp@localhost on shop using Socket
2024-01-31T12:00:00.100000Z\t    8 Query\tSELECT 1
2024-01-31T12:00:00.200000Z\t    8 Query\tSELECT
2
240131 12:00:01\t    9 Query\tselect 3
\t\t    9 Quit\t
";
        let mut agg = Aggregate::default();
        parse_general(log.as_bytes(), 0, 1, &Window::default(), &mut agg);
        assert_eq!(agg.queries["select ?"].calls, 3);
        assert_eq!(agg.connections.authorized, 1);
        assert_eq!(agg.connections.disconnections, 1);
        assert_eq!(agg.bad_lines, 0);
    }
}
