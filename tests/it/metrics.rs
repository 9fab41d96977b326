//! `GET /metrics` of an in-process `serve` (built by `App::build`, served by `App::run` on
//! loopback) after a real Slack turn through the stand-in, parsed with a Prometheus
//! text-format parser (`prometheus-parse`).

use crate::slack_standin::SlackStandIn;
use dbabot::app::{App, ServeOptions};
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-metrics";
const SECRET: &str = "metrics-signing-secret";

fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

fn counter(s: &Sample) -> f64 {
    match s.value {
        Value::Counter(v) | Value::Untyped(v) | Value::Gauge(v) => v,
        _ => f64::NAN,
    }
}

/// The `+Inf` bucket (the number of observations) of a histogram sample.
fn observations(s: &Sample) -> f64 {
    match &s.value {
        Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count)
            .unwrap_or(0.0),
        _ => f64::NAN,
    }
}

/// The sum of `value` over the samples of `metric` with `labels`.
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)], value: fn(&Sample) -> f64) -> f64 {
    find(scrape, metric, labels).into_iter().map(value).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_slack_turn_have_turns_acks_diagnostics_store_and_gauges() {
    let slack = SlackStandIn::start(TOKEN, &["C1"]).await;
    std::env::set_var("DBABOT_METRICS_TEST_SLACK_TOKEN", TOKEN);
    std::env::set_var("DBABOT_METRICS_TEST_SLACK_SECRET", SECRET);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = dbabot::config::Config::embedded(dir.path().to_path_buf());
    cfg.targets = vec![dbabot::demo::ensure(dir.path()).await.expect("demo")];
    cfg.sections.insert(
        "slack".into(),
        toml::from_str(&format!(
            "transport = \"http\"\napi_url = \"{}\"\nbot_token_env = \"DBABOT_METRICS_TEST_SLACK_TOKEN\"\nsigning_secret_env = \"DBABOT_METRICS_TEST_SLACK_SECRET\"\nupload_csv = false\n",
            slack.api_url()
        ))
        .expect("toml"),
    );
    let app = App::build(cfg, ServeOptions::default()).await.expect("app");
    assert!(app.mounted.contains(&"metrics"), "{:?}", app.mounted);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run(listener, async move {
        let _ = stopped.await;
    }));

    let body = json!({"type": "event_callback", "team_id": "T1", "event_id": "EvMetrics", "event_time": 1,
        "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> report health demo", "ts": "1699999999.000777", "channel": "C1"}})
    .to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            dbabot_slack::verify::sign(SECRET, &ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("event");
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !slack.messages().iter().any(|m| m.blocks.len() > 1) {
        assert!(
            Instant::now() < deadline,
            "no answer: {:#?}",
            slack.messages()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The turn is counted when the engine returns, just before the answer is posted.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.expect("body");
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format");

    for (metric, labels, value) in [
        (
            "dbabot_turns_total",
            &[("platform", "slack"), ("outcome", "answered")][..],
            counter as fn(&Sample) -> f64,
        ),
        (
            "dbabot_turn_seconds",
            &[("platform", "slack")][..],
            observations,
        ),
        (
            "dbabot_ack_seconds",
            &[("route", "/slack/events"), ("status", "2xx")][..],
            observations,
        ),
        (
            "dbabot_recommendations_total",
            &[("by", "rules")][..],
            counter,
        ),
    ] {
        assert!(
            total(&scrape, metric, labels, value) >= 1.0,
            "{metric} {labels:?}: {text}"
        );
    }
    let checks = find(&scrape, "dbabot_diagnostics_total", &[("status", "ok")]);
    assert!(!checks.is_empty(), "no diagnostics counted: {text}");
    assert!(
        checks.iter().all(|s| s.labels.get("check").is_some()),
        "{text}"
    );
    assert!(
        !find(&scrape, "dbabot_diagnostic_seconds", &[("status", "ok")]).is_empty(),
        "{text}"
    );
    assert!(
        !find(&scrape, "dbabot_store_seconds", &[("op", "claim_delivery")]).is_empty(),
        "{text}"
    );
    for g in [
        "dbabot_turns_in_flight",
        "dbabot_turns_waiting",
        "dbabot_turns_max",
    ] {
        assert_eq!(find(&scrape, g, &[]).len(), 1, "{g} missing: {text}");
    }
    assert_eq!(counter(find(&scrape, "dbabot_turns_max", &[])[0]), 32.0);
    assert!(
        scrape.docs.contains_key("dbabot_turns_total"),
        "no HELP: {text}"
    );

    // Every series in the scrape is one the module documents.
    for s in &scrape.samples {
        if s.metric.starts_with("dbabot_") {
            let base = s
                .metric
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            assert!(
                dbabot::app::metrics::SERIES.contains(&base),
                "undocumented series {}",
                s.metric
            );
        }
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("serve stopped")
        .expect("task")
        .expect("clean shutdown");
}

/// The metric names a PromQL expression uses (`dbabot_…`, histogram suffixes removed).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("dbabot_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.push(base.to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_grafana_dashboard_queries_only_series_serve_exports_and_covers_them_all() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dbabot.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    assert_eq!(dash["uid"], "dbabot-serve");
    let panels = dash["panels"].as_array().expect("panels");
    let mut used = std::collections::BTreeSet::new();
    for p in panels {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{p}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{p}");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{expr}"
            );
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                assert!(
                    dbabot::app::metrics::SERIES.contains(&n.as_str()),
                    "{expr} uses {n}, which serve does not export"
                );
                if expr.contains("histogram_quantile") {
                    assert!(expr.contains(&format!("{n}_bucket")), "{expr}");
                }
                used.insert(n);
            }
        }
    }
    for s in dbabot::app::metrics::SERIES {
        assert!(used.contains(s), "no panel shows {s}");
    }
}
