//! Issue 12: deep and huge SQL on every webhook entry point leaves `dbabot serve` running — a
//! refusal in the thread, never a crash (the 35,000-term sum used to overflow the stack and kill
//! the process).

use crate::serve::spawn_serve;
use crate::slack_standin::SlackStandIn;
use serde_json::json;
use std::time::{Duration, Instant};

fn now_secs() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_sql_on_slack_events_and_slash_commands_leaves_serve_running() {
    let slack = SlackStandIn::start("xoxb-deep", &["C1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dbabot.toml");
    std::fs::write(
        &config,
        format!(
            "[slack]\ntransport = \"http\"\napi_url = \"{}\"\n",
            slack.api_url()
        ),
    )
    .expect("config");
    let (mut server, base) = spawn_serve(&config, dir.path(), "xoxb-deep", "deep-secret").await;
    let http = reqwest::Client::new();
    let healthy = |http: reqwest::Client, base: String| async move {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    };
    let deep = [
        format!("SELECT {}1", "1+".repeat(35_000)),
        format!("SELECT {}1", "1+".repeat(140_000)),
        format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000)),
    ];
    let post = |path: &str, ctype: &str, body: String| {
        let ts = now_secs();
        let sig = dbabot_slack::verify::sign("deep-secret", &ts, body.as_bytes());
        http.post(format!("{base}{path}"))
            .header("content-type", ctype)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    for (i, sql) in deep.iter().enumerate() {
        let body = json!({"type": "event_callback", "team_id": "T1", "event_id": format!("EvDeep{i}"), "event_time": 1, "event": {"type": "app_mention", "user": "U1", "text": format!("<@UBOT> explain {sql}"), "ts": format!("1699999999.00{i}", ), "channel": "C1"}}).to_string();
        let r = post("/slack/events", "application/json", body)
            .await
            .expect("event post");
        assert!(r.status().is_success(), "event {i}: {}", r.status());
        let form = serde_urlencoded::to_string([
            ("token", "x"),
            ("team_id", "T1"),
            ("channel_id", "C1"),
            ("user_id", "U1"),
            ("command", "/dba"),
            ("text", &format!("explain {sql}")),
            ("response_url", &format!("{}/response/deep{i}", slack.base)),
            ("trigger_id", &format!("9.9.{i}")),
        ])
        .expect("form");
        let r = post("/slack/commands", "application/x-www-form-urlencoded", form)
            .await
            .expect("command post");
        assert!(r.status().is_success(), "command {i}: {}", r.status());
    }
    // Every mention is answered with a refusal, and the process is alive and healthy after.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let refusals = slack
            .messages()
            .iter()
            .filter(|m| {
                let all = format!("{} {:?}", m.text, m.blocks);
                all.contains("too complex to check safely") || all.contains("bytes long")
            })
            .count();
        if refusals >= deep.len() {
            break;
        }
        assert!(
            server.0.try_wait().ok().flatten().is_none(),
            "dbabot serve exited"
        );
        assert!(
            Instant::now() < deadline,
            "only {refusals} refusals: {:?}",
            slack
                .messages()
                .iter()
                .map(|m| m.text.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        server.0.try_wait().ok().flatten().is_none(),
        "dbabot serve exited"
    );
    assert!(
        healthy(http.clone(), base.clone()).await,
        "healthz after deep input"
    );
}
