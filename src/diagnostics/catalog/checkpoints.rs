//! PostgreSQL checkpoint pressure: checkpoints forced by WAL volume (`max_wal_size`) rather than
//! by the clock (`checkpoint_timeout`).
//!
//! A requested checkpoint flushes every dirty buffer at once and, after it, every first change
//! to a page writes the whole page to WAL again (full_page_writes): write bursts and WAL volume
//! that a larger `max_wal_size` spreads out (PostgreSQL docs §30.5 WAL Configuration: "if
//! checkpoints happen close together … increase max_wal_size").

use crate::diagnostics::finding::{human_bytes, human_secs};
use crate::diagnostics::{Finding, ResultSet};

/// The query over `view` whose counters are `timed` and `requested`, with the WAL written from
/// `pg_stat_wal` (14+) and the statement a human runs to verify on that view.
macro_rules! checkpoint_sql {
    ($view:literal, $timed:literal, $requested:literal) => {
        concat!(
            "SELECT ",
            $timed,
            "::bigint AS timed, ",
            $requested,
            "::bigint AS requested,
       coalesce(extract(epoch FROM now() - stats_reset), 0)::float8 AS since_s,
       pg_size_bytes(current_setting('max_wal_size'))::bigint AS max_wal_bytes,
       current_setting('checkpoint_timeout') AS checkpoint_timeout,
       (SELECT wal_bytes FROM pg_stat_wal)::float8 AS wal_bytes,
       current_setting('checkpoint_completion_target')::float8 AS completion_target,
       'SELECT ",
            $timed,
            ", ",
            $requested,
            ", stats_reset FROM ",
            $view,
            ";' AS verify_sql
  FROM ",
            $view
        )
    };
}

/// PostgreSQL 14–16: `pg_stat_bgwriter`.
pub(super) const PG_SQL: &str =
    checkpoint_sql!("pg_stat_bgwriter", "checkpoints_timed", "checkpoints_req");

/// PostgreSQL 17+: the counters moved to `pg_stat_checkpointer`.
pub(super) const PG17_SQL: &str =
    checkpoint_sql!("pg_stat_checkpointer", "num_timed", "num_requested");

/// `checkpoint_pressure` (warning): checkpoints forced by WAL volume are at least
/// `checkpoint_requested.warning` % of all since the statistics reset, and at least
/// `checkpoint_requested.min_requested` of them.
///
/// "Requested" also counts checkpoints nobody should tune away (CREATE DATABASE, a manual
/// CHECKPOINT, a base backup), so only as many as the WAL written explains count: a WAL-driven
/// checkpoint starts after about max_wal_size / (1 + checkpoint_completion_target) of WAL
/// (PostgreSQL docs §30.5). Carries the statement that doubles `max_wal_size` (a reload is
/// enough; the disk must hold up to about that much WAL).
pub(super) fn evaluate(check: &str, rs: &ResultSet) -> Vec<Finding> {
    let Some(r) = rs.first() else { return vec![] };
    let t = rs.threshold_for("checkpoint_requested");
    let timed = r.i64("timed").unwrap_or(0);
    let total = timed + r.i64("requested").unwrap_or(0);
    let max_wal = r.i64("max_wal_bytes").unwrap_or(0);
    let wal = r.f64("wal_bytes").unwrap_or(0.0);
    let per_checkpoint = max_wal as f64 / (1.0 + r.f64("completion_target").unwrap_or(0.9));
    let by_wal = if per_checkpoint > 0.0 {
        (wal / per_checkpoint).floor() as i64
    } else {
        0
    };
    let requested = by_wal.min(r.i64("requested").unwrap_or(0));
    if total == 0 || (requested as f64) < t.value("min_requested") {
        return vec![];
    }
    let pct = requested as f64 * 100.0 / total as f64;
    let severity = t.grade(pct);
    if severity == dbabot_chat::Severity::Ok {
        return vec![];
    }
    let since = r.f64("since_s").unwrap_or(0.0);
    let raised_mb = (max_wal * 2 / (1024 * 1024)).max(64);
    let every = if since > 0.0 {
        format!(
            ", one every {} on average",
            human_secs(since / requested as f64)
        )
    } else {
        String::new()
    };
    let window = if since > 0.0 {
        format!(
            " in the {} since the statistics were reset",
            human_secs(since)
        )
    } else {
        String::new()
    };
    vec![Finding::new(
        check,
        "checkpoint_pressure",
        severity,
        format!(
            "{requested} of {total} checkpoints ({pct:.0}%){window} were forced by WAL volume, not timed{every}: WAL fills max_wal_size ({}) before checkpoint_timeout ({}) comes round",
            human_bytes(max_wal),
            r.str("checkpoint_timeout")
        ),
    )
    .fact("requested", requested)
    .fact("timed", timed)
    .fact("pct", format!("{pct:.0}"))
    .fact("max_wal_size", human_bytes(max_wal))
    .fact("checkpoint_timeout", r.str("checkpoint_timeout"))
    .fact(
        "raise_sql",
        format!("ALTER SYSTEM SET max_wal_size = '{raised_mb}MB'; SELECT pg_reload_conf();"),
    )
    .fact("verify_sql", r.str("verify_sql"))
    .threshold(t.citation())]
}
