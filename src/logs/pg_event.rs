//! What one PostgreSQL log event means, whichever format it came in (stderr, csvlog, jsonlog).
//!
//! Understood messages: `duration: … ms  statement|execute …:` (timed statements; `parse` and
//! `bind` steps of the extended protocol are not calls and are skipped, as `pg_stat_statements`
//! counts executions), `duration: … ms  plan:` (auto_explain), bare `statement:` followed by a
//! bare `duration:` (`log_statement` + `log_duration`), errors with their SQLSTATE, lock waits
//! (`log_lock_waits`), deadlocks, temporary files, checkpoints, autovacuum/autoanalyze,
//! connections and disconnections. Other `LOG` lines are understood but not counted.

use super::aggregate::{sample, Aggregate, Call, Deadlock, LockWait, MAX_NAMES, MAX_SAMPLES};
use super::fingerprint;
use std::collections::HashMap;

/// One log event: the primary line plus its DETAIL/HINT/CONTEXT/STATEMENT.
#[derive(Debug, Default)]
pub struct PgEvent<'a> {
    pub ts_ms: Option<i64>,
    pub pid: Option<&'a str>,
    pub user: Option<&'a str>,
    pub db: Option<&'a str>,
    /// `LOG`, `ERROR`, `FATAL`, `PANIC`, `WARNING`…
    pub severity: &'a str,
    /// SQLSTATE when the format carries it (csvlog, jsonlog, `%e`, verbose errors).
    pub sqlstate: Option<&'a str>,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub statement: Option<&'a str>,
}

/// Per-chunk state that spans events: bare `statement:` lines waiting for their `duration:`.
#[derive(Debug, Default)]
pub struct PgState {
    pending: HashMap<String, String>,
    fp: String,
}

/// Bare statements remembered per process, waiting for a duration line.
const MAX_PENDING: usize = 10_000;

/// Parses `1234.567` at the start of `s` up to ` ms`; returns (ms, rest after ` ms`).
fn duration(s: &str) -> Option<(f64, &str)> {
    let end = s.find(" ms")?;
    let v: f64 = s[..end].trim().parse().ok()?;
    Some((v, &s[end + 3..]))
}

/// The SQLSTATE a message implies when the log line carries none (stderr without `%e`): the
/// common errors, by their fixed message text from PostgreSQL's sources.
pub fn infer_sqlstate(message: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("deadlock detected", "40P01"),
        ("could not serialize access", "40001"),
        ("duplicate key value violates unique constraint", "23505"),
        ("violates foreign key constraint", "23503"),
        ("violates check constraint", "23514"),
        ("violates not-null constraint", "23502"),
        ("null value in column", "23502"),
        ("division by zero", "22012"),
        ("invalid input syntax", "22P02"),
        ("out of range", "22003"),
        ("value too long for type", "22001"),
        ("syntax error at or near", "42601"),
        ("syntax error at end of input", "42601"),
        ("permission denied", "42501"),
        ("password authentication failed", "28P01"),
        ("no pg_hba.conf entry", "28000"),
        ("canceling statement due to statement timeout", "57014"),
        ("canceling statement due to user request", "57014"),
        ("canceling statement due to lock timeout", "55P03"),
        ("could not obtain lock", "55P03"),
        (
            "terminating connection due to administrator command",
            "57P01",
        ),
        (
            "terminating connection due to idle-in-transaction timeout",
            "25P03",
        ),
        ("current transaction is aborted", "25P02"),
        ("sorry, too many clients already", "53300"),
        ("remaining connection slots are reserved", "53300"),
        ("out of memory", "53200"),
        ("could not extend file", "53100"),
        ("does not exist", "42P01"),
    ];
    // Column, function, schema and database "does not exist" have codes of their own.
    let m = message;
    if m.starts_with("column ") && m.contains("does not exist") {
        return Some("42703");
    }
    if m.starts_with("function ") && m.contains("does not exist") {
        return Some("42883");
    }
    if m.starts_with("schema ") && m.contains("does not exist") {
        return Some("3F000");
    }
    if m.starts_with("database ") && m.contains("does not exist") {
        return Some("3D000");
    }
    if m.starts_with("role ") && m.contains("does not exist") {
        return Some("28000");
    }
    KNOWN.iter().find(|(t, _)| m.contains(t)).map(|(_, c)| *c)
}

fn is_sqlstate(s: &str) -> bool {
    s.len() == 5
        && s.bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// Records the meaning of `ev` into `agg`. Returns false when the event is malformed (a
/// `duration:` without a number, as a truncated last line has): the caller counts it as not
/// understood.
pub fn apply(ev: &PgEvent<'_>, st: &mut PgState, agg: &mut Aggregate) -> bool {
    agg.postgres = true;
    apply_inner(ev, st, agg)
}

fn apply_inner(ev: &PgEvent<'_>, st: &mut PgState, agg: &mut Aggregate) -> bool {
    let msg = ev.message;
    match ev.severity {
        "ERROR" | "FATAL" | "PANIC" => {
            error(ev, st, agg);
            return true;
        }
        "LOG" => {}
        _ => {
            agg.seen(ev.ts_ms);
            return true;
        }
    }
    if let Some(rest) = msg.strip_prefix("duration: ") {
        if let Some((ms, rest)) = duration(rest) {
            let rest = rest.trim_start();
            let text = if let Some(t) = rest.strip_prefix("statement: ") {
                // The same statement may have been logged bare before (log_statement = all).
                if ev.pid.and_then(|p| st.pending.remove(p)).is_some() {
                    agg.untimed = agg.untimed.saturating_sub(1);
                }
                Some(t)
            } else if let Some(t) = rest.strip_prefix("execute ") {
                t.split_once(": ").map(|(_, q)| q)
            } else if rest.starts_with("parse ") || rest.starts_with("bind ") {
                agg.seen(ev.ts_ms);
                return true;
            } else if let Some(plan) = rest.strip_prefix("plan:") {
                {
                    auto_explain(ev, ms, plan, st, agg);
                    return true;
                }
            } else if rest.is_empty() {
                // log_duration after a bare `statement:` of the same process.
                match ev.pid.and_then(|p| st.pending.remove(p)) {
                    Some(q) => {
                        agg.untimed = agg.untimed.saturating_sub(1);
                        record_call(ev, &q, ms, st, agg);
                        return true;
                    }
                    None => {
                        agg.seen(ev.ts_ms);
                        return true;
                    }
                }
            } else {
                rest.strip_prefix("fastpath function call: ")
            };
            if let Some(q) = text {
                record_call(ev, q, ms, st, agg);
                return true;
            }
            agg.seen(ev.ts_ms);
            return true;
        }
        agg.seen(ev.ts_ms);
        return false;
    }
    if let Some(q) = msg.strip_prefix("statement: ") {
        agg.seen(ev.ts_ms);
        agg.untimed += 1;
        if let Some(pid) = ev.pid {
            if st.pending.len() < MAX_PENDING || st.pending.contains_key(pid) {
                st.pending.insert(pid.to_string(), q.to_string());
            }
        }
        return true;
    }
    if msg.starts_with("process ") {
        lock_message(ev, st, agg);
        return true;
    }
    if let Some(rest) = msg.strip_prefix("temporary file: ") {
        // path "base/pgsql_tmp/pgsql_tmp123.0", size 123456
        let size: u64 = rest
            .rsplit_once("size ")
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or(0);
        agg.seen(ev.ts_ms);
        agg.temp_files += 1;
        agg.temp_bytes += size;
        agg.temp_max = agg.temp_max.max(size);
        if let Some(m) = agg.minute(ev.ts_ms) {
            m.temp_bytes += size;
        }
        if let Some(q) = ev.statement {
            fingerprint::postgres(q, &mut st.fp);
            let fp = std::mem::take(&mut st.fp);
            let s = agg.stats(&fp);
            s.temp_files += 1;
            s.temp_bytes += size;
            st.fp = fp;
        }
        return true;
    }
    if let Some(reason) = msg
        .strip_prefix("checkpoint starting: ")
        .or_else(|| msg.strip_prefix("restartpoint starting: "))
    {
        agg.seen(ev.ts_ms);
        *agg.checkpoints
            .starting
            .entry(reason.trim().to_string())
            .or_default() += 1;
        if let Some(m) = agg.minute(ev.ts_ms) {
            m.checkpoints += 1;
        }
        return true;
    }
    if let Some(rest) = msg
        .strip_prefix("checkpoint complete: ")
        .or_else(|| msg.strip_prefix("restartpoint complete: "))
    {
        agg.seen(ev.ts_ms);
        let c = &mut agg.checkpoints;
        c.completed += 1;
        if let Some(n) = rest
            .strip_prefix("wrote ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            c.buffers += n;
        }
        if let Some(t) = rest
            .split("total=")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse::<f64>().ok())
        {
            c.total_secs += t;
            c.max_secs = c.max_secs.max(t);
        }
        return true;
    }
    if msg.starts_with("checkpoints are occurring too frequently") {
        agg.seen(ev.ts_ms);
        agg.checkpoints.too_frequent += 1;
        return true;
    }
    for (prefix, analyze) in [
        ("automatic vacuum of table \"", false),
        ("automatic aggressive vacuum of table \"", false),
        (
            "automatic aggressive vacuum to prevent wraparound of table \"",
            false,
        ),
        ("automatic analyze of table \"", true),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            agg.seen(ev.ts_ms);
            let table = rest.split('"').next().unwrap_or("").to_string();
            if agg.autovacuum.len() < MAX_NAMES || agg.autovacuum.contains_key(&table) {
                let e = agg.autovacuum.entry(table).or_default();
                if analyze {
                    e.1 += 1
                } else {
                    e.0 += 1
                }
            }
            return true;
        }
    }
    if msg.starts_with("connection received:") {
        agg.seen(ev.ts_ms);
        agg.connections.received += 1;
        if let Some(m) = agg.minute(ev.ts_ms) {
            m.connections += 1;
        }
        return true;
    }
    if let Some(rest) = msg.strip_prefix("connection authorized: ") {
        agg.seen(ev.ts_ms);
        let field = |name: &str| {
            rest.split(' ')
                .find_map(|kv| kv.strip_prefix(name))
                .unwrap_or("?")
                .to_string()
        };
        let key = format!("{}@{}", field("user="), field("database="));
        let cn = &mut agg.connections;
        cn.authorized += 1;
        if cn.by_user_db.len() < MAX_NAMES || cn.by_user_db.contains_key(&key) {
            *cn.by_user_db.entry(key).or_default() += 1;
        }
        return true;
    }
    if let Some(rest) = msg.strip_prefix("disconnection: session time: ") {
        agg.seen(ev.ts_ms);
        agg.connections.disconnections += 1;
        // H:MM:SS.mmm
        let t = rest.split(' ').next().unwrap_or("");
        let parts: Vec<f64> = t.split(':').filter_map(|p| p.parse().ok()).collect();
        if let [h, m, s] = parts[..] {
            agg.connections.session_secs += h * 3600.0 + m * 60.0 + s;
        }
        return true;
    }
    agg.seen(ev.ts_ms);
    true
}

fn record_call(ev: &PgEvent<'_>, q: &str, ms: f64, st: &mut PgState, agg: &mut Aggregate) {
    fingerprint::postgres(q, &mut st.fp);
    agg.call(Call {
        fingerprint: &st.fp,
        raw: q,
        ms,
        ts_ms: ev.ts_ms,
        rows: 0,
        rows_examined: 0,
        lock_ms: 0.0,
        db: ev.db,
        user: ev.user,
    });
}

/// An auto_explain entry: the plan is attached to its statement's fingerprint (the slowest
/// one kept); the call itself is counted from the `duration: … statement:` line, if any.
fn auto_explain(ev: &PgEvent<'_>, ms: f64, plan: &str, st: &mut PgState, agg: &mut Aggregate) {
    agg.seen(ev.ts_ms);
    // Text format: "\nQuery Text: SELECT …\n<plan>"; JSON format: "Query Text": "…".
    let text = plan.split_once("Query Text: ").map(|(_, r)| r).map(|r| {
        if let Some(stripped) = r.strip_prefix('"') {
            stripped.split("\",").next().unwrap_or(stripped)
        } else {
            r.split('\n').next().unwrap_or(r)
        }
    });
    let Some(q) = text else { return };
    fingerprint::postgres(q, &mut st.fp);
    let fp = std::mem::take(&mut st.fp);
    let s = agg.stats(&fp);
    s.plans += 1;
    if s.worst_plan.is_none() || ms > s.worst_plan_ms {
        s.worst_plan = Some(sample(&fingerprint::redact_literals(plan.trim())));
        s.worst_plan_ms = ms;
    }
    st.fp = fp;
}

fn lock_message(ev: &PgEvent<'_>, st: &mut PgState, agg: &mut Aggregate) {
    let msg = ev.message;
    agg.seen(ev.ts_ms);
    // process 123 still waiting for ShareLock on transaction 456 after 1000.123 ms
    // process 123 acquired ShareLock on transaction 456 after 2000.456 ms
    let rest = &msg["process ".len()..];
    let (pid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let waited = |r: &str| {
        r.rsplit_once(" after ")
            .and_then(|(w, t)| Some((w.to_string(), duration(t)?.0)))
    };
    if let Some(r) = rest.strip_prefix("still waiting for ") {
        let Some((what, ms)) = waited(r) else { return };
        agg.locks.waits += 1;
        agg.locks.max_wait_ms = agg.locks.max_wait_ms.max(ms);
        if let Some(m) = agg.minute(ev.ts_ms) {
            m.lock_waits += 1;
        }
        if agg.locks.wait_samples.len() < MAX_SAMPLES {
            let statement = ev.statement.map(|q| {
                fingerprint::postgres(q, &mut st.fp);
                st.fp.clone()
            });
            agg.locks.wait_samples.push(LockWait {
                ts_ms: ev.ts_ms,
                pid: Some(pid.to_string()),
                what,
                waited_ms: ms,
                holders: ev.detail.map(|d| d.trim().to_string()),
                statement,
            });
        }
    } else if let Some(r) = rest.strip_prefix("acquired ") {
        if let Some((_, ms)) = waited(r) {
            agg.locks.acquired += 1;
            agg.locks.max_wait_ms = agg.locks.max_wait_ms.max(ms);
        }
    } else if rest.starts_with("avoided deadlock") || rest.starts_with("detected deadlock") {
        // Logged with log_lock_waits; the ERROR that follows is what counts.
    }
}

fn error(ev: &PgEvent<'_>, st: &mut PgState, agg: &mut Aggregate) {
    let mut msg = ev.message;
    let mut code = ev.sqlstate.filter(|c| is_sqlstate(c) && *c != "00000");
    // log_error_verbosity = verbose: "ERROR:  42P01: relation … does not exist"
    if code.is_none() && msg.len() > 7 && msg.as_bytes()[5] == b':' && is_sqlstate(&msg[..5]) {
        code = Some(&msg[..5]);
        msg = msg[6..].trim_start();
    }
    let (code, inferred) = match code {
        Some(c) => (c, false),
        None => (infer_sqlstate(msg).unwrap_or("?????"), true),
    };
    let statement = ev.statement.map(|q| {
        fingerprint::postgres(q, &mut st.fp);
        st.fp.clone()
    });
    agg.error(
        code,
        inferred,
        ev.severity,
        msg,
        ev.ts_ms,
        statement.as_deref(),
    );
    if code == "40P01" {
        agg.locks.deadlocks += 1;
        if agg.locks.deadlock_samples.len() < MAX_SAMPLES {
            // DETAIL: Process 1 waits for …; blocked by process 2.\nProcess 2 waits …\n
            //         Process 1: UPDATE …\nProcess 2: UPDATE …
            let detail = ev.detail.unwrap_or("");
            let mut statements: Vec<String> = detail
                .lines()
                .filter_map(|l| {
                    let l = l.trim();
                    let rest = l.strip_prefix("Process ")?;
                    let (pid, q) = rest.split_once(": ")?;
                    pid.bytes().all(|c| c.is_ascii_digit()).then_some(q)
                })
                .map(|q| {
                    let mut fp = String::new();
                    fingerprint::postgres(q, &mut fp);
                    fp
                })
                .collect();
            if statements.is_empty() {
                statements.extend(statement);
            }
            agg.locks.deadlock_samples.push(Deadlock {
                ts_ms: ev.ts_ms,
                statements,
                detail: sample(&fingerprint::redact_literals(detail)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(sev: &'a str, msg: &'a str) -> PgEvent<'a> {
        PgEvent {
            ts_ms: Some(60_000),
            pid: Some("7"),
            severity: sev,
            message: msg,
            ..PgEvent::default()
        }
    }

    #[test]
    fn statements_locks_and_errors() {
        let mut st = PgState::default();
        let mut agg = Aggregate::default();
        apply(
            &ev("LOG", "duration: 1.500 ms  statement: SELECT 1"),
            &mut st,
            &mut agg,
        );
        apply(
            &ev("LOG", "duration: 0.100 ms  parse <unnamed>: SELECT $1"),
            &mut st,
            &mut agg,
        );
        apply(
            &ev("LOG", "duration: 2.500 ms  execute <unnamed>: SELECT $1"),
            &mut st,
            &mut agg,
        );
        apply(&ev("LOG", "statement: select 2"), &mut st, &mut agg);
        apply(&ev("LOG", "duration: 3.000 ms"), &mut st, &mut agg);
        assert_eq!(agg.queries["select $1"].calls, 3);
        assert!((agg.queries["select $1"].total_ms - 7.0).abs() < 1e-9);
        let mut e = ev(
            "LOG",
            "process 7 still waiting for ShareLock on transaction 9 after 1000.5 ms",
        );
        e.statement = Some("UPDATE t SET v = 1 WHERE id = 2");
        apply(&e, &mut st, &mut agg);
        assert_eq!(agg.locks.waits, 1);
        assert_eq!(
            agg.locks.wait_samples[0].statement.as_deref(),
            Some("update t set v = $1 where id = $2")
        );
        apply(
            &ev("ERROR", "relation \"nope\" does not exist"),
            &mut st,
            &mut agg,
        );
        apply(
            &ev("ERROR", "42703: column \"x\" does not exist"),
            &mut st,
            &mut agg,
        );
        let codes: Vec<_> = agg
            .error_groups()
            .iter()
            .map(|g| (g.code.clone(), g.inferred))
            .collect();
        assert!(codes.contains(&("42P01".into(), true)));
        assert!(codes.contains(&("42703".into(), false)));
        assert_eq!(agg.timeline[&1].queries, 3);
    }
}
