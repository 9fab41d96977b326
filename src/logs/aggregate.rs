//! The totals one worker fills from its chunks; [`Aggregate::merge`] combines workers.
//!
//! Every map is bounded so that memory does not grow with the input: fingerprints beyond
//! [`MAX_FINGERPRINTS`] are counted under [`OTHER_FINGERPRINT`], error groups beyond
//! [`MAX_ERROR_GROUPS`] under `other`, and so on; samples kept for reports are capped.

use super::sketch::Sketch;
use std::collections::{BTreeMap, HashMap};

/// Distinct fingerprints kept; the rest are added to [`OTHER_FINGERPRINT`]. 20,000 is ten
/// times the 2,000 shapes of a busy application and costs at most ~30 MB with samples.
pub const MAX_FINGERPRINTS: usize = 20_000;
/// The fingerprint statements are counted under once [`MAX_FINGERPRINTS`] is reached.
pub const OTHER_FINGERPRINT: &str = "(other statements: fingerprint limit reached)";
/// Distinct error groups (SQLSTATE + normalised message) kept.
pub const MAX_ERROR_GROUPS: usize = 5_000;
/// Lock-wait and deadlock samples kept for the report (the counts are exact).
pub const MAX_SAMPLES: usize = 50;
/// Bytes of a statement kept as a sample (worst call, lock waits).
pub const MAX_SAMPLE_BYTES: usize = 2_048;
/// Minutes in the timeline (two years of minutes).
pub const MAX_MINUTES: usize = 1_051_200;
/// Tables tracked for autovacuum, user@database pairs for connections.
pub const MAX_NAMES: usize = 10_000;

/// Truncates `s` to at most [`MAX_SAMPLE_BYTES`] on a character boundary.
pub fn sample(s: &str) -> String {
    if s.len() <= MAX_SAMPLE_BYTES {
        return s.to_string();
    }
    let mut end = MAX_SAMPLE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The slowest call of a fingerprint, verbatim (literals included: shown redacted in chat,
/// verbatim only in the CSV the user asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub ms: f64,
    pub ts_ms: Option<i64>,
    pub text: String,
    /// Database (PostgreSQL) or schema (MySQL), when the log says.
    pub db: Option<String>,
    pub user: Option<String>,
}

/// Totals for one fingerprint.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    /// Calls with a duration.
    pub calls: u64,
    /// Sum of durations, milliseconds.
    pub total_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Rows returned (MySQL `Rows_sent`; PostgreSQL logs carry no row counts).
    pub rows: u64,
    /// MySQL `Rows_examined`.
    pub rows_examined: u64,
    /// MySQL `Lock_time`, milliseconds.
    pub lock_ms: f64,
    pub sketch: Sketch,
    pub worst: Option<Sample>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// Temporary files this statement wrote, and their bytes.
    pub temp_files: u64,
    pub temp_bytes: u64,
    /// auto_explain plans logged for it, and the slowest one (literals redacted) with its
    /// duration in milliseconds.
    pub plans: u64,
    pub worst_plan: Option<String>,
    pub worst_plan_ms: f64,
}

impl QueryStats {
    /// Mean duration in milliseconds (0 without calls).
    pub fn mean_ms(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ms / self.calls as f64
        }
    }

    fn merge(&mut self, o: QueryStats) {
        if self.calls == 0 {
            self.min_ms = o.min_ms;
        } else if o.calls > 0 {
            self.min_ms = self.min_ms.min(o.min_ms);
        }
        self.calls += o.calls;
        self.total_ms += o.total_ms;
        self.max_ms = self.max_ms.max(o.max_ms);
        self.rows += o.rows;
        self.rows_examined += o.rows_examined;
        self.lock_ms += o.lock_ms;
        self.sketch.merge(&o.sketch);
        if let Some(w) = o.worst {
            if self.worst.as_ref().is_none_or(|s| w.ms > s.ms) {
                self.worst = Some(w);
            }
        }
        self.first_ms = min_opt(self.first_ms, o.first_ms);
        self.last_ms = max_opt(self.last_ms, o.last_ms);
        self.temp_files += o.temp_files;
        self.temp_bytes += o.temp_bytes;
        self.plans += o.plans;
        if o.worst_plan.is_some()
            && (self.worst_plan.is_none() || o.worst_plan_ms > self.worst_plan_ms)
        {
            self.worst_plan = o.worst_plan;
            self.worst_plan_ms = o.worst_plan_ms;
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Errors of one SQLSTATE (or MySQL error number) and normalised message.
#[derive(Debug, Clone, Default)]
pub struct ErrorGroup {
    /// SQLSTATE (`40P01`), or the code inferred from the message text when the log carries
    /// none (then `inferred` is set).
    pub code: String,
    pub inferred: bool,
    /// `ERROR`, `FATAL`, `PANIC`.
    pub severity: String,
    /// The message with quoted names and numbers replaced by `…`.
    pub message: String,
    pub count: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// Fingerprint of a statement that failed this way, when logged.
    pub statement: Option<String>,
}

/// One `log_lock_waits` report.
#[derive(Debug, Clone, PartialEq)]
pub struct LockWait {
    pub ts_ms: Option<i64>,
    pub pid: Option<String>,
    /// `ShareLock on transaction 1234`.
    pub what: String,
    pub waited_ms: f64,
    /// `Process holding the lock: 77. Wait queue: 78.`
    pub holders: Option<String>,
    /// The waiting statement (fingerprint).
    pub statement: Option<String>,
}

/// One deadlock.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadlock {
    pub ts_ms: Option<i64>,
    /// The statements of the processes involved (fingerprints), from the DETAIL lines.
    pub statements: Vec<String>,
    /// The DETAIL text, literals redacted.
    pub detail: String,
}

/// Lock waits and deadlocks.
#[derive(Debug, Clone, Default)]
pub struct Locks {
    /// `still waiting` reports.
    pub waits: u64,
    /// `acquired … after` reports.
    pub acquired: u64,
    /// Longest wait reported, milliseconds.
    pub max_wait_ms: f64,
    pub wait_samples: Vec<LockWait>,
    pub deadlocks: u64,
    pub deadlock_samples: Vec<Deadlock>,
}

/// Checkpoint activity.
#[derive(Debug, Clone, Default)]
pub struct Checkpoints {
    /// `checkpoint starting:` by reason (`time`, `wal`, `immediate force wait`…).
    pub starting: BTreeMap<String, u64>,
    pub completed: u64,
    pub buffers: u64,
    /// Sum and maximum of `total=` seconds.
    pub total_secs: f64,
    pub max_secs: f64,
    /// `checkpoints are occurring too frequently` warnings.
    pub too_frequent: u64,
}

/// Connections and sessions.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    pub received: u64,
    pub authorized: u64,
    pub disconnections: u64,
    /// Sum of session durations from disconnection lines, seconds.
    pub session_secs: f64,
    /// `user@database` → authorised connections.
    pub by_user_db: HashMap<String, u64>,
}

/// One minute of the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Minute {
    pub queries: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub lock_waits: u64,
    pub temp_bytes: u64,
    pub checkpoints: u64,
    pub connections: u64,
}

/// Everything counted from a set of chunks.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    pub queries: HashMap<Box<str>, QueryStats>,
    pub errors: HashMap<String, ErrorGroup>,
    pub locks: Locks,
    /// Temporary files: count, bytes, largest.
    pub temp_files: u64,
    pub temp_bytes: u64,
    pub temp_max: u64,
    pub checkpoints: Checkpoints,
    /// `schema.table` → (autovacuums, autoanalyzes).
    pub autovacuum: HashMap<String, (u64, u64)>,
    pub connections: Connections,
    /// Minute (Unix ms / 60,000) → activity.
    pub timeline: BTreeMap<i64, Minute>,
    /// Lines read.
    pub lines: u64,
    /// Lines not understood, and the first such line (1-based, in the file named by
    /// `first_bad_file`).
    pub bad_lines: u64,
    pub first_bad: Option<(usize, u64)>,
    /// Events outside `--since`/`--until`.
    pub filtered: u64,
    /// Statements logged without a duration (`log_statement` or the general log).
    pub untimed: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// Which fingerprinting produced `queries` (true: PostgreSQL).
    pub postgres: bool,
}

/// One statement with a duration, as the parsers report it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub fingerprint: &'a str,
    pub raw: &'a str,
    pub ms: f64,
    pub ts_ms: Option<i64>,
    pub rows: u64,
    pub rows_examined: u64,
    pub lock_ms: f64,
    pub db: Option<&'a str>,
    pub user: Option<&'a str>,
}

impl Aggregate {
    /// The stats of `fp`, created if new (or [`OTHER_FINGERPRINT`] once the map is full).
    pub fn stats(&mut self, fp: &str) -> &mut QueryStats {
        let key = if self.queries.contains_key(fp) || self.queries.len() < MAX_FINGERPRINTS {
            fp
        } else {
            OTHER_FINGERPRINT
        };
        if !self.queries.contains_key(key) {
            self.queries.insert(key.into(), QueryStats::default());
        }
        self.queries.get_mut(key).expect("inserted above")
    }

    /// Notes the time of an event (for the period covered).
    pub fn seen(&mut self, ts: Option<i64>) {
        self.first_ms = min_opt(self.first_ms, ts);
        self.last_ms = max_opt(self.last_ms, ts);
    }

    /// The timeline minute of `ts`, when there is a time and room.
    pub fn minute(&mut self, ts: Option<i64>) -> Option<&mut Minute> {
        let m = ts?.div_euclid(60_000);
        if self.timeline.len() >= MAX_MINUTES && !self.timeline.contains_key(&m) {
            return None;
        }
        Some(self.timeline.entry(m).or_default())
    }

    /// Records one timed statement.
    pub fn call(&mut self, c: Call<'_>) {
        self.seen(c.ts_ms);
        if let Some(m) = self.minute(c.ts_ms) {
            m.queries += 1;
            m.total_ms += c.ms;
            m.max_ms = m.max_ms.max(c.ms);
        }
        let s = self.stats(c.fingerprint);
        if s.calls == 0 || c.ms < s.min_ms {
            s.min_ms = c.ms;
        }
        s.calls += 1;
        s.total_ms += c.ms;
        s.rows += c.rows;
        s.rows_examined += c.rows_examined;
        s.lock_ms += c.lock_ms;
        s.sketch.add(c.ms);
        s.first_ms = min_opt(s.first_ms, c.ts_ms);
        s.last_ms = max_opt(s.last_ms, c.ts_ms);
        if c.ms > s.max_ms || s.worst.is_none() {
            s.max_ms = s.max_ms.max(c.ms);
            s.worst = Some(Sample {
                ms: c.ms,
                ts_ms: c.ts_ms,
                text: sample(c.raw),
                db: c.db.map(str::to_string),
                user: c.user.map(str::to_string),
            });
        }
    }

    /// Records an error of `code` with `message` (normalised here).
    pub fn error(
        &mut self,
        code: &str,
        inferred: bool,
        severity: &str,
        message: &str,
        ts: Option<i64>,
        statement: Option<&str>,
    ) {
        self.seen(ts);
        if let Some(m) = self.minute(ts) {
            m.errors += 1;
        }
        let norm = normalise_message(message);
        let mut key = format!("{code}\u{1f}{norm}");
        if !self.errors.contains_key(&key) && self.errors.len() >= MAX_ERROR_GROUPS {
            key = format!("{code}\u{1f}other");
        }
        let g = self.errors.entry(key).or_insert_with(|| ErrorGroup {
            code: code.to_string(),
            inferred,
            severity: severity.to_string(),
            message: norm,
            ..ErrorGroup::default()
        });
        g.count += 1;
        g.first_ms = min_opt(g.first_ms, ts);
        g.last_ms = max_opt(g.last_ms, ts);
        if g.statement.is_none() {
            g.statement = statement.map(sample);
        }
    }

    /// Counts a line not understood (line numbers are 1-based within file `file`).
    pub fn bad(&mut self, file: usize, line: u64) {
        self.bad_lines += 1;
        if self.first_bad.is_none_or(|f| (file, line) < f) {
            self.first_bad = Some((file, line));
        }
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: Aggregate) {
        for (k, v) in o.queries {
            let key: &str =
                if self.queries.contains_key(&k) || self.queries.len() < MAX_FINGERPRINTS {
                    &k
                } else {
                    OTHER_FINGERPRINT
                };
            match self.queries.get_mut(key) {
                Some(s) => s.merge(v),
                None => {
                    self.queries.insert(key.into(), v);
                }
            }
        }
        for (k, v) in o.errors {
            if !self.errors.contains_key(&k) && self.errors.len() >= MAX_ERROR_GROUPS {
                continue;
            }
            let g = self.errors.entry(k).or_insert_with(|| ErrorGroup {
                code: v.code.clone(),
                inferred: v.inferred,
                severity: v.severity.clone(),
                message: v.message.clone(),
                ..ErrorGroup::default()
            });
            g.count += v.count;
            g.first_ms = min_opt(g.first_ms, v.first_ms);
            g.last_ms = max_opt(g.last_ms, v.last_ms);
            if g.statement.is_none() {
                g.statement = v.statement;
            }
        }
        let l = &mut self.locks;
        l.waits += o.locks.waits;
        l.acquired += o.locks.acquired;
        l.max_wait_ms = l.max_wait_ms.max(o.locks.max_wait_ms);
        l.deadlocks += o.locks.deadlocks;
        for w in o.locks.wait_samples {
            if l.wait_samples.len() < MAX_SAMPLES {
                l.wait_samples.push(w);
            }
        }
        for d in o.locks.deadlock_samples {
            if l.deadlock_samples.len() < MAX_SAMPLES {
                l.deadlock_samples.push(d);
            }
        }
        self.temp_files += o.temp_files;
        self.temp_bytes += o.temp_bytes;
        self.temp_max = self.temp_max.max(o.temp_max);
        let c = &mut self.checkpoints;
        for (k, v) in o.checkpoints.starting {
            *c.starting.entry(k).or_default() += v;
        }
        c.completed += o.checkpoints.completed;
        c.buffers += o.checkpoints.buffers;
        c.total_secs += o.checkpoints.total_secs;
        c.max_secs = c.max_secs.max(o.checkpoints.max_secs);
        c.too_frequent += o.checkpoints.too_frequent;
        for (k, (v, a)) in o.autovacuum {
            if self.autovacuum.len() < MAX_NAMES || self.autovacuum.contains_key(&k) {
                let e = self.autovacuum.entry(k).or_default();
                e.0 += v;
                e.1 += a;
            }
        }
        let cn = &mut self.connections;
        cn.received += o.connections.received;
        cn.authorized += o.connections.authorized;
        cn.disconnections += o.connections.disconnections;
        cn.session_secs += o.connections.session_secs;
        for (k, v) in o.connections.by_user_db {
            if cn.by_user_db.len() < MAX_NAMES || cn.by_user_db.contains_key(&k) {
                *cn.by_user_db.entry(k).or_default() += v;
            }
        }
        for (k, m) in o.timeline {
            if self.timeline.len() >= MAX_MINUTES && !self.timeline.contains_key(&k) {
                continue;
            }
            let e = self.timeline.entry(k).or_default();
            e.queries += m.queries;
            e.total_ms += m.total_ms;
            e.max_ms = e.max_ms.max(m.max_ms);
            e.errors += m.errors;
            e.lock_waits += m.lock_waits;
            e.temp_bytes += m.temp_bytes;
            e.checkpoints += m.checkpoints;
            e.connections += m.connections;
        }
        self.lines += o.lines;
        self.bad_lines += o.bad_lines;
        self.first_bad = match (self.first_bad, o.first_bad) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        };
        self.filtered += o.filtered;
        self.untimed += o.untimed;
        self.first_ms = min_opt(self.first_ms, o.first_ms);
        self.last_ms = max_opt(self.last_ms, o.last_ms);
        self.postgres |= o.postgres;
    }

    /// Fingerprints by total time, longest first (ties: more calls first, then text).
    pub fn top(&self) -> Vec<(&str, &QueryStats)> {
        let mut v: Vec<(&str, &QueryStats)> = self.queries.iter().map(|(k, s)| (&**k, s)).collect();
        v.sort_by(|a, b| {
            b.1.total_ms
                .total_cmp(&a.1.total_ms)
                .then(b.1.calls.cmp(&a.1.calls))
                .then(a.0.cmp(b.0))
        });
        v
    }

    /// Error groups, most frequent first.
    pub fn error_groups(&self) -> Vec<&ErrorGroup> {
        let mut v: Vec<&ErrorGroup> = self.errors.values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
        v
    }

    /// Calls with a duration, over all fingerprints.
    pub fn total_calls(&self) -> u64 {
        self.queries.values().map(|s| s.calls).sum()
    }

    /// Errors over all groups.
    pub fn total_errors(&self) -> u64 {
        self.errors.values().map(|g| g.count).sum()
    }
}

/// An error message with the variable parts (quoted names, numbers) replaced by `…`, so that
/// `relation "a" does not exist` and `relation "b" does not exist` group together.
pub fn normalise_message(m: &str) -> String {
    let mut out = String::with_capacity(m.len().min(256));
    let mut chars = m.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for d in chars.by_ref() {
                    if d == '"' {
                        break;
                    }
                }
                out.push_str("\"…\"");
            }
            '0'..='9' => {
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.')
                {
                    chars.next();
                }
                out.push('…');
            }
            _ => out.push(c),
        }
        if out.len() > 300 {
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_map_is_bounded() {
        let mut a = Aggregate::default();
        for i in 0..(MAX_FINGERPRINTS + 10) {
            a.call(Call {
                fingerprint: &format!("select {i}"),
                raw: "x",
                ms: 1.0,
                ts_ms: Some(0),
                rows: 0,
                rows_examined: 0,
                lock_ms: 0.0,
                db: None,
                user: None,
            });
        }
        assert_eq!(a.queries.len(), MAX_FINGERPRINTS + 1);
        assert_eq!(a.queries[OTHER_FINGERPRINT].calls, 10);
        assert_eq!(a.total_calls(), (MAX_FINGERPRINTS + 10) as u64);
    }

    #[test]
    fn messages_group_without_names() {
        assert_eq!(
            normalise_message("relation \"nope_42\" does not exist"),
            normalise_message("relation \"other\" does not exist")
        );
        assert_eq!(
            normalise_message("value 123 out of range"),
            "value … out of range"
        );
    }
}
