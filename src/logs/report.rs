//! An [`Analysis`] as the structured recommendation every other answer uses: findings with
//! the numbers and rules behind them, what to do, then tables (top statements, errors, lock
//! waits) and the exported files.
//!
//! In chat, statements are shown as fingerprints (their literals are already `$n`/`?`) and the
//! worst sample with its literals replaced by `?` ([`fingerprint::redact_literals`]); the
//! verbatim sample is only in the CSV the user asked for.

use super::aggregate::{Aggregate, QueryStats};
use super::fingerprint;
use super::time::format_ms;
use super::Analysis;
use crate::diagnostics::finding::{human_bytes, short_query};
use crate::diagnostics::{CheckOutcome, CheckStatus, Finding, ResultSet};
use crate::recommend::{Action, Recommendation};
use dbabot_chat::{Attachment, AttachmentBody, Part, Reply, Severity, Table};
use std::path::PathBuf;

/// The check name findings carry (`log_analysis`).
pub const CHECK: &str = "log_analysis";

/// Thresholds read from `thresholds.toml` (`log_top_statement`, `log_slow_statement`,
/// `log_temp_files`, `log_rows_examined`; their sources are there): a dominant fingerprint at
/// 50 % of statement time, a slow p95 at 1 s, 1 GiB of temporary files, 100 rows examined per
/// row sent, in the embedded copy.
use crate::diagnostics::Thresholds;

/// Human milliseconds: `850 ms`, `12.3 s`, `1.2 h`.
pub fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 120_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms < 7_200_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

fn q(s: &QueryStats, p: f64) -> String {
    s.sketch.quantile(p).map_or("-".into(), human_ms)
}

/// Files written for the user alongside the reply (CSV exports, PNG charts).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub files: Vec<PathBuf>,
}

/// "N lines not understood (first at line L of FILE)" or `None` when every line was understood.
pub fn bad_input_line(a: &Analysis) -> Option<String> {
    let agg = &a.agg;
    if agg.bad_lines == 0 {
        return None;
    }
    let at = agg.first_bad.map(|(f, l)| {
        let name = a.inputs.get(f).map_or("?", |i| i.name.as_str());
        format!(" (first at line {l} of {name})")
    });
    Some(format!(
        "{} lines not understood{}",
        agg.bad_lines,
        at.unwrap_or_default()
    ))
}

fn findings(a: &Analysis, th: &Thresholds) -> Vec<Finding> {
    let agg = &a.agg;
    let dominant = th.get("log_top_statement");
    let slow = th.get("log_slow_statement");
    let temp = th.get("log_temp_files");
    let examined = th.get("log_rows_examined");
    let mut out = Vec::new();
    let total_ms: f64 = agg.queries.values().map(|s| s.total_ms).sum();
    let top = agg.top();
    if let Some((fp, s)) = top.first() {
        let share = if total_ms > 0.0 {
            s.total_ms / total_ms
        } else {
            0.0
        };
        let sev = dominant.grade(share * 100.0).max(Severity::Info);
        out.push(
            Finding::new(
                CHECK,
                "log_top_statement",
                sev,
                format!(
                    "Top statement by total time: `{}` — {} in {} calls ({:.0}% of all statement time), mean {}, p95 {}",
                    short_query(fp, 120),
                    human_ms(s.total_ms),
                    s.calls,
                    share * 100.0,
                    human_ms(s.mean_ms()),
                    q(s, 0.95)
                ),
            )
            .fact("fingerprint", fp)
            .fact("calls", s.calls)
            .fact("total_ms", format!("{:.3}", s.total_ms))
            .threshold(dominant.citation()),
        );
    }
    for (fp, s) in top.iter().take(20) {
        // The sketch is in milliseconds, the threshold in seconds.
        if s.sketch
            .quantile(0.95)
            .is_some_and(|p| slow.grade(p / 1000.0) >= Severity::Warning)
        {
            out.push(
                Finding::new(
                    CHECK,
                    "log_slow_statement",
                    Severity::Warning,
                    format!(
                        "Slow statement: `{}` p95 {} (max {}, {} calls)",
                        short_query(fp, 100),
                        q(s, 0.95),
                        human_ms(s.max_ms),
                        s.calls
                    ),
                )
                .fact("fingerprint", fp)
                .threshold(slow.citation()),
            );
        }
        if !agg.postgres
            && s.rows > 0
            && examined.grade(s.rows_examined as f64 / s.rows as f64) >= Severity::Warning
        {
            out.push(
                Finding::new(
                    CHECK,
                    "log_rows_examined",
                    Severity::Warning,
                    format!(
                        "`{}` examined {} rows to send {} ({:.0}:1)",
                        short_query(fp, 100),
                        s.rows_examined,
                        s.rows,
                        s.rows_examined as f64 / s.rows as f64
                    ),
                )
                .fact("fingerprint", fp)
                .threshold(examined.citation()),
            );
        }
    }
    let groups = agg.error_groups();
    if !groups.is_empty() {
        let worst = if groups
            .iter()
            .any(|g| g.severity == "PANIC" || g.severity == "FATAL" && g.code.starts_with("53"))
        {
            Severity::Critical
        } else if groups.iter().any(|g| g.severity == "FATAL") {
            Severity::Warning
        } else {
            Severity::Info
        };
        let list: Vec<String> = groups
            .iter()
            .take(5)
            .map(|g| format!("{} ×{}", g.code, g.count))
            .collect();
        out.push(
            Finding::new(
                CHECK,
                "log_errors",
                worst,
                format!(
                    "{} errors in {} groups: {}",
                    agg.total_errors(),
                    groups.len(),
                    list.join(", ")
                ),
            )
            .threshold("any PANIC or FATAL for lack of resources (class 53) is critical, other FATAL a warning"),
        );
    }
    let l = &agg.locks;
    if l.deadlocks > 0 {
        out.push(
            Finding::new(
                CHECK,
                "log_deadlocks",
                Severity::Warning,
                format!(
                    "{} deadlocks (SQLSTATE 40P01 / ER_LOCK_DEADLOCK)",
                    l.deadlocks
                ),
            )
            .fact("deadlocks", l.deadlocks)
            .threshold("any deadlock means a transaction was rolled back"),
        );
    }
    if l.waits > 0 {
        out.push(
            Finding::new(
                CHECK,
                "log_lock_waits",
                Severity::Warning,
                format!(
                    "{} lock waits longer than deadlock_timeout (longest {})",
                    l.waits,
                    human_ms(l.max_wait_ms)
                ),
            )
            .fact("lock_waits", l.waits)
            .threshold(
                "log_lock_waits reports only waits longer than deadlock_timeout (1 s by default)",
            ),
        );
    }
    if agg.temp_files > 0 {
        let sev = temp.grade(agg.temp_bytes as f64).max(Severity::Info);
        out.push(
            Finding::new(
                CHECK,
                "log_temp_files",
                sev,
                format!(
                    "{} temporary files, {} in total (largest {})",
                    agg.temp_files,
                    human_bytes(agg.temp_bytes as i64),
                    human_bytes(agg.temp_max as i64)
                ),
            )
            .threshold(temp.citation()),
        );
    }
    let c = &agg.checkpoints;
    let by_wal = c
        .starting
        .iter()
        .filter(|(k, _)| k.contains("wal") || k.contains("xlog"))
        .map(|(_, v)| v)
        .sum::<u64>();
    let by_time = c
        .starting
        .iter()
        .filter(|(k, _)| k.contains("time"))
        .map(|(_, v)| v)
        .sum::<u64>();
    if c.too_frequent > 0 || by_wal > by_time {
        out.push(
            Finding::new(
                CHECK,
                "log_checkpoint_pressure",
                Severity::Warning,
                format!(
                    "Checkpoint pressure: {} checkpoints requested by WAL volume vs {} by time, {} 'too frequently' warnings",
                    by_wal, by_time, c.too_frequent
                ),
            )
            .threshold("more WAL-triggered than timed checkpoints, or PostgreSQL's own checkpoint_warning (30 s)"),
        );
    } else if c.completed > 0 || !c.starting.is_empty() {
        out.push(Finding::new(
            CHECK,
            "log_checkpoints",
            Severity::Ok,
            format!(
                "{} checkpoints, {} buffers written, longest {:.1} s",
                c.completed.max(c.starting.values().sum()),
                c.buffers,
                c.max_secs
            ),
        ));
    }
    if !agg.autovacuum.is_empty() {
        let mut t: Vec<(&String, &(u64, u64))> = agg.autovacuum.iter().collect();
        t.sort_by(|a, b| (b.1 .0 + b.1 .1).cmp(&(a.1 .0 + a.1 .1)).then(a.0.cmp(b.0)));
        let list: Vec<String> = t
            .iter()
            .take(3)
            .map(|(k, (v, an))| format!("{k} ({v} vacuums, {an} analyzes)"))
            .collect();
        out.push(Finding::new(
            CHECK,
            "log_autovacuum",
            Severity::Info,
            format!("Autovacuum most active on: {}", list.join(", ")),
        ));
    }
    let cn = &agg.connections;
    if cn.authorized + cn.received > 0 {
        out.push(Finding::new(
            CHECK,
            "log_connections",
            Severity::Info,
            format!(
                "{} connections authorised ({} received), {} disconnections",
                cn.authorized, cn.received, cn.disconnections
            ),
        ));
    }
    if let Some(b) = bad_input_line(a) {
        out.push(
            Finding::new(CHECK, "log_bad_input", Severity::Info, b)
                .threshold("lines matching none of the format's record shapes"),
        );
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn actions(a: &Analysis) -> (Vec<Action>, Vec<Action>, Vec<Action>) {
    let agg = &a.agg;
    let pg = agg.postgres;
    let mut now = Vec::new();
    let mut later = Vec::new();
    let mut verify = Vec::new();
    if let Some((fp, _)) = agg.top().first() {
        if pg {
            now.push(Action {
                text: "Explain the top statement with real values from the CSV sample, on a replica or staging copy".into(),
                sql: Some(format!("EXPLAIN (ANALYZE, BUFFERS)\n{fp};")),
            });
        } else {
            now.push(Action {
                text: "Explain the top statement with real values (the CSV export keeps the verbatim sample)".into(),
                sql: Some(format!("EXPLAIN FORMAT=JSON\n{fp};")),
            });
        }
        later.push(Action {
            text: "If the plan scans a large table, add an index on the columns of its WHERE/JOIN clauses (`dbabot` can check the plan: `explain <query>` on a target)".into(),
            sql: None,
        });
    }
    if agg.locks.deadlocks > 0 || agg.locks.waits > 0 {
        now.push(Action {
            text: "Look at the transactions in the lock waits and deadlocks below: keep them short and touch rows in one consistent order".into(),
            sql: pg.then(|| "SELECT pid, wait_event_type, state, now() - xact_start AS xact_age, left(query, 80)\nFROM pg_stat_activity WHERE wait_event_type = 'Lock' OR state = 'idle in transaction';".into()),
        });
    }
    if agg.temp_files > 0 && pg {
        later.push(Action {
            text: "Statements writing temporary files sort or hash more than work_mem: raise it for their role or session, or avoid the sort with an index".into(),
            sql: Some("ALTER ROLE app_user SET work_mem = '64MB';  -- example role and value".into()),
        });
    }
    let c = &agg.checkpoints;
    if c.too_frequent > 0 {
        later.push(Action {
            text: "Checkpoints come too often: raise max_wal_size so that checkpoints are triggered by checkpoint_timeout".into(),
            sql: Some("ALTER SYSTEM SET max_wal_size = '4GB';  -- then SELECT pg_reload_conf();".into()),
        });
    }
    if pg {
        later.push(Action {
            text: "Keep pg_stat_statements enabled for the same ranking without logging every statement".into(),
            sql: Some("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;".into()),
        });
    }
    verify.push(Action {
        text: "After a change, analyse the next log for the same window and compare the top fingerprint's total time and p95 (`dbabot logs analyze FILE --since … --until …`)".into(),
        sql: None,
    });
    (now, later, verify)
}

fn situation(a: &Analysis) -> String {
    let agg = &a.agg;
    let bytes: u64 = a.inputs.iter().map(|i| i.bytes).sum();
    let formats: Vec<String> = {
        let mut f: Vec<String> = a
            .inputs
            .iter()
            .map(|i| i.format.as_str().to_string())
            .collect();
        f.sort();
        f.dedup();
        f
    };
    let period = match (agg.first_ms, agg.last_ms) {
        (Some(f), Some(l)) => format!(" covering {} – {} UTC", format_ms(f), format_ms(l)),
        _ => String::new(),
    };
    let mut s = format!(
        "Read {} file(s) ({}), {} and {} lines{}, in {:.2} s ({:.0} MB/s). {} timed statements in {} fingerprints, {} errors, {} lock waits, {} deadlocks.",
        a.inputs.len(),
        formats.join(", "),
        human_bytes(bytes as i64),
        agg.lines,
        period,
        a.elapsed_secs,
        a.mb_per_sec(),
        agg.total_calls(),
        agg.queries.len(),
        agg.total_errors(),
        agg.locks.waits,
        agg.locks.deadlocks
    );
    if agg.untimed > 0 {
        s.push_str(&format!(
            " {} statements were logged without a duration.",
            agg.untimed
        ));
    }
    if agg.filtered > 0 {
        s.push_str(&format!(
            " {} events outside the requested window were skipped.",
            agg.filtered
        ));
    }
    if let Some(b) = bad_input_line(a) {
        s.push_str(&format!(" {b}."));
    }
    s
}

/// The top-statements table: rank, fingerprint, calls, total, mean, p50/p95/p99, max, rows.
pub fn top_table(agg: &Aggregate, n: usize) -> Table {
    let rows = agg
        .top()
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, (fp, s))| {
            vec![
                (i + 1).to_string(),
                short_query(fp, 80),
                s.calls.to_string(),
                human_ms(s.total_ms),
                human_ms(s.mean_ms()),
                q(s, 0.5),
                q(s, 0.95),
                q(s, 0.99),
                human_ms(s.max_ms),
                s.rows.to_string(),
            ]
        })
        .collect();
    Table {
        title: Some("Top statements by total time".into()),
        columns: [
            "#",
            "fingerprint",
            "calls",
            "total",
            "mean",
            "p50",
            "p95",
            "p99",
            "max",
            "rows",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

/// The reply for `a`, showing the `top` statements and listing `outputs` as attachments.
pub fn reply(a: &Analysis, top: usize, outputs: &Outputs, thresholds: &Thresholds) -> Reply {
    // Each rule cites only the sources of the engine whose log this is.
    let engine = if a.agg.postgres {
        crate::config::Engine::Postgres
    } else {
        crate::config::Engine::Mysql
    };
    let found: Vec<Finding> = findings(a, thresholds)
        .into_iter()
        .map(|mut f| {
            f.threshold = f
                .threshold
                .map(|t| crate::diagnostics::finding::scope_citations(&t, engine));
            f
        })
        .collect();
    let (immediate, longer_term, verify) = actions(a);
    let severity = found
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    let rec = Recommendation {
        title: "Log analysis".into(),
        situation: situation(a),
        findings: found.clone(),
        root_causes: Vec::new(),
        immediate,
        longer_term,
        verify,
        cloud_advice: None,
        severity,
        answered_by: "log analysis".into(),
    };
    let outcome = CheckOutcome {
        name: CHECK.into(),
        title: "Log analysis".into(),
        status: CheckStatus::Ok,
        duration_ms: (a.elapsed_secs * 1000.0) as u64,
        rows: ResultSet::new(&[], Vec::new()),
        findings: found,
    };
    let mut r = crate::render::recommendation(
        &rec,
        None,
        &crate::intents::Slots::default(),
        std::slice::from_ref(&outcome),
        "log_analysis",
    );
    // Tables go before the closing context line.
    let context = r.parts.pop();
    let agg = &a.agg;
    if !agg.queries.is_empty() {
        r.push(Part::Table(top_table(agg, top)));
        if let Some((_, s)) = agg.top().first() {
            if let Some(w) = &s.worst {
                let when = w.ts_ms.map(format_ms).unwrap_or_else(|| "?".into());
                r.push(Part::Paragraph {
                    text: format!(
                        "Worst call of the top statement: {} at {when} UTC{} (literals redacted):",
                        human_ms(w.ms),
                        w.db.as_ref()
                            .map(|d| format!(" on {d}"))
                            .unwrap_or_default()
                    ),
                });
                r.push(Part::Code {
                    language: Some("sql".into()),
                    code: fingerprint::redact_literals(&w.text),
                });
            }
            if let Some(plan) = &s.worst_plan {
                r.push(Part::Paragraph {
                    text: format!(
                        "Plan of its slowest logged call ({}; auto_explain logged {} plans for it, literals redacted):",
                        human_ms(s.worst_plan_ms),
                        s.plans
                    ),
                });
                r.push(Part::Code {
                    language: None,
                    code: plan.clone(),
                });
            }
        }
    }
    let groups = agg.error_groups();
    if !groups.is_empty() {
        r.push(Part::Table(Table {
            title: Some("Errors by SQLSTATE / error code".into()),
            columns: [
                "code",
                "severity",
                "count",
                "first seen",
                "last seen",
                "message",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows: groups
                .iter()
                .take(15)
                .map(|g| {
                    vec![
                        if g.inferred {
                            format!("{} (from text)", g.code)
                        } else {
                            g.code.clone()
                        },
                        g.severity.clone(),
                        g.count.to_string(),
                        g.first_ms.map(format_ms).unwrap_or_default(),
                        g.last_ms.map(format_ms).unwrap_or_default(),
                        short_query(&g.message, 80),
                    ]
                })
                .collect(),
        }));
    }
    if !agg.locks.wait_samples.is_empty() {
        r.push(Part::Table(Table {
            title: Some("Lock waits".into()),
            columns: ["time", "waited", "lock", "blocked by", "statement"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: agg
                .locks
                .wait_samples
                .iter()
                .take(10)
                .map(|w| {
                    vec![
                        w.ts_ms.map(format_ms).unwrap_or_default(),
                        human_ms(w.waited_ms),
                        w.what.clone(),
                        w.holders.clone().unwrap_or_default(),
                        w.statement
                            .as_deref()
                            .map(|s| short_query(s, 60))
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        }));
    }
    if !agg.locks.deadlock_samples.is_empty() {
        r.push(Part::Heading {
            text: "Deadlocks".into(),
            level: 2,
        });
        r.push(Part::Bullets {
            items: agg
                .locks
                .deadlock_samples
                .iter()
                .take(5)
                .map(|d| {
                    format!(
                        "{} UTC: {}",
                        d.ts_ms.map(format_ms).unwrap_or_else(|| "?".into()),
                        d.statements
                            .iter()
                            .map(|s| format!("`{}`", short_query(s, 70)))
                            .collect::<Vec<_>>()
                            .join(" ⟷ ")
                    )
                })
                .collect(),
        });
    }
    if let Some((m, busiest)) = agg
        .timeline
        .iter()
        .filter(|(_, v)| v.queries > 0)
        .max_by(|a, b| a.1.total_ms.total_cmp(&b.1.total_ms))
    {
        r.push(Part::Paragraph {
            text: format!(
                "Timeline: {} minutes with activity; busiest minute {} UTC with {} statements taking {} ({} errors).",
                agg.timeline.len(),
                format_ms(m * 60_000),
                busiest.queries,
                human_ms(busiest.total_ms),
                busiest.errors
            ),
        });
    }
    for f in &outputs.files {
        let name = f
            .file_name()
            .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into());
        let content_type = if name.ends_with(".png") {
            "image/png"
        } else {
            "text/csv"
        };
        r.push(Part::Attachment(Attachment {
            name,
            content_type: content_type.into(),
            body: AttachmentBody::File(f.display().to_string()),
        }));
    }
    if let Some(c) = context {
        r.push(c);
    }
    r
}
