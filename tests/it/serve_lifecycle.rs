//! `dbabot serve` as a service: a graceful shutdown on SIGTERM that still delivers the answer
//! in flight, and `/readyz` reporting the store and the Slack Web API.

use crate::serve::{free_port, spawn_serve};
use crate::slack_standin::SlackStandIn;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

fn signed_mention(secret: &str, event_id: &str, text: &str) -> (String, String, String) {
    let body = json!({"type": "event_callback", "team_id": "T1", "event_id": event_id, "event_time": 1, "event": {"type": "app_mention", "user": "U1", "text": text, "ts": "1699999999.000900", "channel": "C1"}}).to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let sig = dbabot_slack::verify::sign(secret, &ts, body.as_bytes());
    (body, ts, sig)
}

fn slack_config(dir: &std::path::Path, api_url: &str) -> std::path::PathBuf {
    let config = dir.join("dbabot.toml");
    std::fs::write(
        &config,
        format!("[slack]\ntransport = \"http\"\napi_url = \"{api_url}\"\n"),
    )
    .expect("config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_turn_still_delivers_the_answer_and_exits_zero() {
    let slack = SlackStandIn::start("xoxb-life", &["C1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = slack_config(dir.path(), &slack.api_url());
    let (mut server, base) = spawn_serve(&config, dir.path(), "xoxb-life", "life-secret").await;
    let (body, ts, sig) = signed_mention("life-secret", "EvLife", "<@UBOT> report health demo");
    let r = reqwest::Client::new()
        .post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    // Right after the ack, as a rollout would.
    let pid = server.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "dbabot serve did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    // The placeholder ("Running the health report…") was replaced by the report itself.
    let updates = slack.calls("chat.update");
    assert!(
        !updates.is_empty(),
        "the answer in flight was lost: {:?}",
        slack.all_calls()
    );
    let msgs = slack.messages();
    assert!(
        msgs.iter().any(|m| m.blocks.len() > 1),
        "no report delivered: {msgs:?}"
    );
    // After the shutdown the port no longer accepts.
    assert!(reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_ready_with_the_slack_api_up_and_names_slack_when_it_is_down() {
    let slack = SlackStandIn::start("xoxb-ready", &["C1"]).await;
    let http = reqwest::Client::new();

    let up = tempfile::tempdir().expect("tempdir");
    let config = slack_config(up.path(), &slack.api_url());
    let (_server, base) = spawn_serve(&config, up.path(), "xoxb-ready", "ready-secret").await;
    let live = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(live.status(), 200);
    let r = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["checks"]["store"], "ok", "{v}");
    assert_eq!(v["checks"]["slack"], "ok", "{v}");
    assert!(
        !slack.calls("auth.test").is_empty(),
        "readiness did not ask Slack"
    );

    // The Slack Web API is unreachable (nothing listens on that port): not ready, says why;
    // liveness is unaffected.
    let down = tempfile::tempdir().expect("tempdir");
    let gone = format!("http://127.0.0.1:{}/api/", free_port());
    let config = slack_config(down.path(), &gone);
    let (_server2, base2) = spawn_serve(&config, down.path(), "xoxb-ready", "ready-secret").await;
    let r = http
        .get(format!("{base2}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["ready"], false, "{v}");
    assert_eq!(v["not_ready"], json!(["slack"]), "{v}");
    assert_eq!(v["checks"]["store"], "ok", "{v}");
    assert!(
        !v["checks"]["slack"]
            .as_str()
            .unwrap_or("ok")
            .contains("xoxb"),
        "token leaked: {v}"
    );
    let live = http
        .get(format!("{base2}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(live.status(), 200);
}

/// Every YAML document under `deploy/`, parsed.
fn deploy_yaml() -> Vec<(std::path::PathBuf, serde_norway::Value)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read deploy dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &mut files,
    );
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read yaml");
        for d in serde_norway::Deserializer::from_str(&text) {
            let v = <serde_norway::Value as serde::Deserialize>::deserialize(d)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", f.display()));
            docs.push((f.clone(), v));
        }
    }
    docs
}

#[test]
fn deploy_files_run_serve_with_probes_on_healthz_and_readyz() {
    let docs = deploy_yaml();
    assert!(docs.len() >= 7, "deploy YAML documents: {}", docs.len());
    let deployment = docs
        .iter()
        .find(|(_, v)| v["kind"].as_str() == Some("Deployment"))
        .map(|(_, v)| v)
        .expect("a Deployment");
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"][0].as_str(), Some("serve"));
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(grace > 20, "SIGKILL before the 20 s shutdown grace ends");
    let compose = docs
        .iter()
        .find(|(p, _)| p.ends_with("compose.yaml"))
        .map(|(_, v)| v)
        .expect("compose.yaml");
    assert_eq!(
        compose["services"]["dbabot"]["command"][0].as_str(),
        Some("serve")
    );
    let dockerfile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"),
    )
    .expect("Dockerfile");
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    assert!(dockerfile.contains("USER 10001:10001"));
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/healthz"));
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/dbabot.service"),
    )
    .expect("unit");
    assert!(unit.contains("serve") && !unit.contains("arrives with"));
}
