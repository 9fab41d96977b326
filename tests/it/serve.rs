//! `dbabot serve` as an operator runs it: the real binary, a config file with a `[slack]`
//! section, secrets in the environment, requests over loopback.

use crate::slack_standin::SlackStandIn;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A spawned `dbabot serve`, killed on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Spawns `dbabot serve` with `config` and the Slack secrets on a free port and waits for
/// `/healthz`; returns the server and its base URL.
pub async fn spawn_serve(
    config: &std::path::Path,
    data_dir: &std::path::Path,
    bot_token: &str,
    signing_secret: &str,
) -> (Server, String) {
    spawn_serve_with(config, data_dir, bot_token, signing_secret, &[]).await
}

/// [`spawn_serve`] with extra environment variables (`DBABOT_MAX_TURNS`…).
pub async fn spawn_serve_with(
    config: &std::path::Path,
    data_dir: &std::path::Path,
    bot_token: &str,
    signing_secret: &str,
    envs: &[(&str, &str)],
) -> (Server, String) {
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_dbabot"))
            .envs(envs.iter().copied())
            .args([
                "--config",
                config.to_str().expect("utf8"),
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("DBABOT_DATA_DIR", data_dir)
            .env("SLACK_BOT_TOKEN", bot_token)
            .env("SLACK_SIGNING_SECRET", signing_secret)
            .env("DBABOT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbabot serve"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "dbabot serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mounts_slack_and_answers_a_signed_mention() {
    let slack = SlackStandIn::start("xoxb-serve", &["C1"]).await;
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
    let (_server, base) = spawn_serve(&config, dir.path(), "xoxb-serve", "serve-secret").await;
    let http = reqwest::Client::new();
    let body = json!({"type": "event_callback", "team_id": "T1", "event_id": "EvServe", "event_time": 1, "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> report schema demo", "ts": "1699999999.000900", "channel": "C1"}}).to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let r = http
        .post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            dbabot_slack::verify::sign("serve-secret", &ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !slack.messages().iter().any(|m| {
        m.blocks
            .iter()
            .any(|b| b.to_string().contains("order_items has no primary key"))
    }) {
        assert!(
            Instant::now() < deadline,
            "no answer posted: {:?}",
            slack.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
