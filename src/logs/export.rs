//! CSV exports of an analysis: statements (with the verbatim worst sample), errors, lock waits
//! and deadlocks, and the per-minute timeline.

use super::time::format_ms;
use super::{Analysis, LogError};
use std::path::{Path, PathBuf};

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>, LogError> {
    csv::Writer::from_path(path).map_err(|e| LogError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn out_err(path: &Path) -> impl Fn(csv::Error) -> LogError + '_ {
    move |e| LogError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Flushes `w` (the file at `p`) and records `p` as written.
fn finish(
    mut w: csv::Writer<std::fs::File>,
    p: PathBuf,
    written: &mut Vec<PathBuf>,
) -> Result<(), LogError> {
    w.flush().map_err(|e| LogError::Output {
        path: p.clone(),
        message: e.to_string(),
    })?;
    written.push(p);
    Ok(())
}

fn ts(v: Option<i64>) -> String {
    v.map(format_ms).unwrap_or_default()
}

/// Writes `statements.csv`, `errors.csv`, `lock_waits.csv`, `deadlocks.csv` and
/// `timeline.csv` into `dir` (created if missing); returns the paths written.
///
/// # Errors
/// [`LogError::Output`] when the directory or a file cannot be written.
pub fn write_csv(a: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    std::fs::create_dir_all(dir).map_err(|e| LogError::Output {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let agg = &a.agg;
    let mut written = Vec::new();

    let p = dir.join("statements.csv");
    let mut w = writer(&p)?;
    w.write_record([
        "rank",
        "fingerprint",
        "calls",
        "total_ms",
        "mean_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "min_ms",
        "max_ms",
        "rows",
        "rows_examined",
        "lock_ms",
        "temp_files",
        "temp_bytes",
        "first_seen",
        "last_seen",
        "worst_ms",
        "worst_at",
        "worst_db",
        "worst_user",
        "worst_sample",
        "plans",
        "worst_plan_ms",
        "worst_plan",
    ])
    .map_err(out_err(&p))?;
    for (i, (fp, s)) in agg.top().into_iter().enumerate() {
        let qv = |q: f64| {
            s.sketch
                .quantile(q)
                .map_or(String::new(), |v| format!("{v:.3}"))
        };
        let worst = s.worst.as_ref();
        w.write_record([
            (i + 1).to_string(),
            fp.to_string(),
            s.calls.to_string(),
            format!("{:.3}", s.total_ms),
            format!("{:.3}", s.mean_ms()),
            qv(0.5),
            qv(0.95),
            qv(0.99),
            format!("{:.3}", s.min_ms),
            format!("{:.3}", s.max_ms),
            s.rows.to_string(),
            s.rows_examined.to_string(),
            format!("{:.3}", s.lock_ms),
            s.temp_files.to_string(),
            s.temp_bytes.to_string(),
            ts(s.first_ms),
            ts(s.last_ms),
            worst.map_or(String::new(), |w| format!("{:.3}", w.ms)),
            ts(worst.and_then(|w| w.ts_ms)),
            worst.and_then(|w| w.db.clone()).unwrap_or_default(),
            worst.and_then(|w| w.user.clone()).unwrap_or_default(),
            worst.map(|w| w.text.clone()).unwrap_or_default(),
            s.plans.to_string(),
            s.worst_plan
                .as_ref()
                .map_or(String::new(), |_| format!("{:.3}", s.worst_plan_ms)),
            s.worst_plan.clone().unwrap_or_default(),
        ])
        .map_err(out_err(&p))?;
    }
    finish(w, p, &mut written)?;

    let p = dir.join("errors.csv");
    let mut w = writer(&p)?;
    w.write_record([
        "code",
        "inferred",
        "severity",
        "count",
        "first_seen",
        "last_seen",
        "message",
        "statement",
    ])
    .map_err(out_err(&p))?;
    for g in agg.error_groups() {
        w.write_record([
            g.code.clone(),
            g.inferred.to_string(),
            g.severity.clone(),
            g.count.to_string(),
            ts(g.first_ms),
            ts(g.last_ms),
            g.message.clone(),
            g.statement.clone().unwrap_or_default(),
        ])
        .map_err(out_err(&p))?;
    }
    finish(w, p, &mut written)?;

    let p = dir.join("lock_waits.csv");
    let mut w = writer(&p)?;
    w.write_record(["time", "pid", "waited_ms", "lock", "holders", "statement"])
        .map_err(out_err(&p))?;
    for l in &agg.locks.wait_samples {
        w.write_record([
            ts(l.ts_ms),
            l.pid.clone().unwrap_or_default(),
            format!("{:.3}", l.waited_ms),
            l.what.clone(),
            l.holders.clone().unwrap_or_default(),
            l.statement.clone().unwrap_or_default(),
        ])
        .map_err(out_err(&p))?;
    }
    for d in &agg.locks.deadlock_samples {
        w.write_record([
            ts(d.ts_ms),
            String::new(),
            String::new(),
            "deadlock".into(),
            d.detail.clone(),
            d.statements.join(" | "),
        ])
        .map_err(out_err(&p))?;
    }
    finish(w, p, &mut written)?;

    let p = dir.join("timeline.csv");
    let mut w = writer(&p)?;
    w.write_record([
        "minute",
        "statements",
        "total_ms",
        "max_ms",
        "errors",
        "lock_waits",
        "temp_bytes",
        "checkpoints",
        "connections",
    ])
    .map_err(out_err(&p))?;
    for (m, v) in &agg.timeline {
        w.write_record([
            format_ms(m * 60_000),
            v.queries.to_string(),
            format!("{:.3}", v.total_ms),
            format!("{:.3}", v.max_ms),
            v.errors.to_string(),
            v.lock_waits.to_string(),
            v.temp_bytes.to_string(),
            v.checkpoints.to_string(),
            v.connections.to_string(),
        ])
        .map_err(out_err(&p))?;
    }
    finish(w, p, &mut written)?;
    Ok(written)
}
