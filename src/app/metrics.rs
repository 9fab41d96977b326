//! Prometheus metrics of `dbabot serve`, recorded with the `metrics` facade and rendered by
//! `metrics-exporter-prometheus` at `GET /metrics` (text exposition format 0.0.4).
//!
//! | series | type | labels | recorded |
//! |---|---|---|---|
//! | `dbabot_turns_total` | counter | `platform`, `outcome` (`answered`, `denied`, `error`) | each engine turn |
//! | `dbabot_turn_seconds` | histogram | `platform`, `outcome` | engine time of a turn (the answer latency, without posting) |
//! | `dbabot_ack_seconds` | histogram | `route`, `status` | every HTTP request of `serve` until its response: the acknowledgement latency of Slack events and commands, Discord interactions and Teams activities |
//! | `dbabot_diagnostics_total` | counter | `check`, `status` (`ok`, `failed`, `timeout`, `skipped`, `denied`) | each check of a reply |
//! | `dbabot_diagnostic_seconds` | histogram | `check`, `status` | its wall time as the reply reports it |
//! | `dbabot_recommendations_total` | counter | `by` (`rules`, `llm`, `llm_fallback`) | each reply with a recommendation: LLM answers and LLM failures answered by the rules |
//! | `dbabot_denials_total` | counter | `platform` | replies refusing an action for the user's role, budget or policy |
//! | `dbabot_outbox_posts_total` | counter | `platform`, `kind` (`handoff`, `update`), `outcome` (`ok`, `failed`) | escalation handoffs (and reminders) and case updates posted |
//! | `dbabot_store_seconds` | histogram | `op` (`probe`, `claim_delivery`, `knows_thread`), `outcome` | store calls made by `serve` itself |
//! | `dbabot_turns_in_flight` | gauge | | turns inside the engine or waiting for a permit, at scrape time |
//! | `dbabot_turns_waiting` | gauge | | turns waiting for a permit (the queue depth), at scrape time |
//! | `dbabot_turns_max` | gauge | | the configured `max_turns` |
//!
//! Not recorded (yet): LLM token counts and LLM request latency (the recommender does not expose
//! them to `serve`), and the latency of store calls made inside the engine (only those above).
//!
//! The recorder is process-global (the `metrics` facade allows one); it is installed by the
//! first [`install`] and shared by every [`super::App`] in the process.

use dbabot_chat::{Platform, Reply};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Histogram buckets of every `*_seconds` series, in seconds: 5 ms (a loopback ack) to 30 s (a
/// slow diagnostic run; the default statement timeout is 5 s). Local choice.
pub const SECONDS_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];

/// Every series name this module records (the table above), for the dashboard test.
pub const SERIES: [&str; 12] = [
    "dbabot_turns_total",
    "dbabot_turn_seconds",
    "dbabot_ack_seconds",
    "dbabot_diagnostics_total",
    "dbabot_diagnostic_seconds",
    "dbabot_recommendations_total",
    "dbabot_denials_total",
    "dbabot_outbox_posts_total",
    "dbabot_store_seconds",
    "dbabot_turns_in_flight",
    "dbabot_turns_waiting",
    "dbabot_turns_max",
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle; `None` when
/// another recorder was installed first (metrics are then not served).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS);
            let installed = builder.and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Prometheus metrics are not available");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("dbabot_turns_total", "Engine turns by platform and outcome");
    describe_histogram!(
        "dbabot_turn_seconds",
        Unit::Seconds,
        "Engine time of a turn (answer latency without posting)"
    );
    describe_histogram!(
        "dbabot_ack_seconds",
        Unit::Seconds,
        "Time from an HTTP request to its response (platform acknowledgements)"
    );
    describe_counter!(
        "dbabot_diagnostics_total",
        "Diagnostic checks run, by check and status"
    );
    describe_histogram!(
        "dbabot_diagnostic_seconds",
        Unit::Seconds,
        "Wall time of a diagnostic check"
    );
    describe_counter!(
        "dbabot_recommendations_total",
        "Recommendations by who wrote them (rules, llm, llm_fallback)"
    );
    describe_counter!(
        "dbabot_denials_total",
        "Actions refused by the access policy"
    );
    describe_counter!(
        "dbabot_outbox_posts_total",
        "Escalation handoffs and case updates posted, by platform and outcome"
    );
    describe_histogram!(
        "dbabot_store_seconds",
        Unit::Seconds,
        "Latency of store calls made by serve"
    );
    describe_gauge!("dbabot_turns_in_flight", "Turns in the engine or queued");
    describe_gauge!("dbabot_turns_waiting", "Turns waiting for a permit");
    describe_gauge!("dbabot_turns_max", "Configured maximum of concurrent turns");
}

/// The `platform` label.
pub fn platform_label(p: Platform) -> &'static str {
    match p {
        Platform::Console => "console",
        Platform::Slack => "slack",
        Platform::Discord => "discord",
        Platform::Teams => "teams",
        Platform::Test => "test",
    }
}

/// Records one finished turn: its outcome and duration, the checks it ran, who wrote the
/// recommendation, and a denial.
pub fn turn(platform: Platform, result: Result<&Reply, ()>, took: Duration) {
    let platform = platform_label(platform);
    let outcome = match result {
        Err(()) => "error",
        Ok(r) if r.intent.as_deref() == Some("denied") => "denied",
        Ok(_) => "answered",
    };
    metrics::counter!("dbabot_turns_total", "platform" => platform, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("dbabot_turn_seconds", "platform" => platform, "outcome" => outcome)
        .record(took.as_secs_f64());
    let Ok(reply) = result else { return };
    let mut denied = outcome == "denied";
    for c in &reply.checks {
        let status: &'static str = match c.status.as_str() {
            "ok" => "ok",
            "failed" => "failed",
            "timeout" => "timeout",
            "skipped" => "skipped",
            "denied" => "denied",
            _ => "other",
        };
        denied |= status == "denied";
        metrics::counter!("dbabot_diagnostics_total", "check" => c.name.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("dbabot_diagnostic_seconds", "check" => c.name.clone(), "status" => status)
            .record(c.duration_ms as f64 / 1000.0);
    }
    if denied {
        metrics::counter!("dbabot_denials_total", "platform" => platform).increment(1);
    }
    if let Some(by) = reply.answered_by.as_deref() {
        let by = if by.contains("fallback") {
            "llm_fallback"
        } else if by.starts_with("llm") {
            "llm"
        } else if by == "rules" {
            "rules"
        } else {
            "other"
        };
        metrics::counter!("dbabot_recommendations_total", "by" => by).increment(1);
    }
}

/// Records one HTTP request of `serve` (route template, status class).
pub fn ack(route: &str, status: u16, took: Duration) {
    let status = match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    metrics::histogram!("dbabot_ack_seconds", "route" => route.to_string(), "status" => status)
        .record(took.as_secs_f64());
}

/// Records one store call made by `serve`.
pub fn store(op: &'static str, ok: bool, took: Duration) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::histogram!("dbabot_store_seconds", "op" => op, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// Records one outbox post.
pub fn outbox(platform: Platform, reply: &Reply, ok: bool) {
    let kind = if reply.intent.as_deref() == Some("escalation_handoff") {
        "handoff"
    } else {
        "update"
    };
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!("dbabot_outbox_posts_total", "platform" => platform_label(platform), "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// Sets the turn gauges (at scrape time).
pub fn turns(in_flight: usize, waiting: usize, max: usize) {
    metrics::gauge!("dbabot_turns_in_flight").set(in_flight as f64);
    metrics::gauge!("dbabot_turns_waiting").set(waiting as f64);
    metrics::gauge!("dbabot_turns_max").set(max as f64);
}
