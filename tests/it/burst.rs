//! Bursts against the real `dbabot serve` (issue 16): with sled 0.34's concurrent
//! `flush_async` the bot froze for good after a burst of 8 to 1000 simultaneous questions.
//!
//! Here 3 bursts of 300 concurrent HMAC-signed Teams outgoing-webhook Activities, each a new
//! reply chain, must all be answered (Teams answers arrive in the HTTP response, so "delivered"
//! is exact), with the store's audit chain intact afterwards; and a burst of 300 signed Slack
//! events in the same process must all be acknowledged.
//!
//! Why Teams for the answers: the Slack adapter's client (slack-morphism) paces
//! `chat.postMessage` to Slack's special limit of about one message per second per workspace,
//! so 300 Slack answers take about 300 s to post whatever the store does.

use crate::serve::free_port;
use crate::slack_standin::SlackStandIn;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Events per burst and bursts per run: 900 turns, each saving memory durably.
const BURST: usize = 300;
const BURSTS: usize = 3;
/// The outgoing webhook's security token (base64 of 32 bytes), as Teams shows it once.
pub(crate) const TEAMS_TOKEN: &str = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA=";
const CHANNEL: &str = "19:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0@thread.tacv2";

fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// An outgoing-webhook Activity from `user` for "@dbabot <text>", starting reply chain `id`.
pub(crate) fn activity(id: &str, user: &str, text: &str) -> Value {
    let aad = user
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)))
        & 0xffff_ffff_ffff;
    json!({
        "type": "message",
        "id": id,
        "timestamp": crate::teams::now_rfc3339(),
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": {"id": format!("29:{user}"), "name": user,
                 "aadObjectId": format!("00000000-0000-4000-8000-{aad:012x}")},
        "conversation": {"isGroup": true, "id": format!("{CHANNEL};messageid={id}"),
                         "conversationType": "channel", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
        "textFormat": "plain",
        "locale": "en-US",
        "text": format!("<at>dbabot</at>&nbsp;{text}\n"),
        "entities": [{"type": "mention",
                      "mentioned": {"id": "28:5d8f3a0b-7c61-4e2f-9a4d-1b2c3d4e5f60", "name": "dbabot"},
                      "text": "<at>dbabot</at>"}],
        "channelData": {"teamsChannelId": CHANNEL, "channel": {"id": CHANNEL},
                        "tenant": {"id": "72f988bf-86f1-41af-91ab-2d7cd011db47"}}
    })
}

/// A spawned `dbabot serve`, killed (SIGKILL) on drop, with its base URL.
pub(crate) struct Server {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `dbabot --config <config> serve` on a free port with `data_dir` and `env`, and
/// waits until `GET <ready>` (`/healthz` or `/readyz`) answers 200.
pub(crate) async fn serve_with(
    config: &std::path::Path,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    ready: &str,
) -> Server {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbabot"));
    cmd.args([
        "--config",
        config.to_str().expect("utf8"),
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DBABOT_DATA_DIR", data_dir)
    .env("DBABOT_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Server {
        child: cmd.spawn().expect("spawn dbabot serve"),
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{}{ready}", server.base))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "dbabot serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_300_concurrent_events_are_all_answered() {
    let started = Instant::now();
    let slack = SlackStandIn::start("xoxb-burst", &["C1"]).await;
    // Answers slower than Teams' sync deadline (a loaded CI machine) arrive through the
    // channel's incoming webhook: a stand-in that records them.
    let late: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = {
        let late = late.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let late = late.clone();
                async move {
                    if let Ok(mut v) = late.lock() {
                        v.push(body);
                    }
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/hook")
    };
    let late_answers = || {
        late.lock()
            .map(|v| v.iter().filter(|b| b.contains("40P01")).count())
            .unwrap_or(0)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dbabot.toml");
    std::fs::write(
        &config,
        format!(
            "[slack]\ntransport = \"http\"\napi_url = \"{}\"\n\n[teams]\nsecurity_token_env = \"TEAMS_SECURITY_TOKEN\"\nincoming_webhook_url_env = \"TEAMS_WEBHOOK_URL\"\n",
            slack.api_url()
        ),
    )
    .expect("config");
    let server = serve_with(
        &config,
        dir.path(),
        &[
            ("SLACK_BOT_TOKEN", "xoxb-burst"),
            ("SLACK_SIGNING_SECRET", "burst-secret"),
            ("TEAMS_SECURITY_TOKEN", TEAMS_TOKEN),
            ("TEAMS_WEBHOOK_URL", &hook),
        ],
        "/healthz",
    )
    .await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(BURST)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let key = dbabot_teams::SecurityToken::from_base64(TEAMS_TOKEN).expect("token");

    let mut late_before = 0;
    for burst in 0..BURSTS {
        let t0 = Instant::now();
        let sends: Vec<_> = (0..BURST)
            .map(|i| {
                let http = http.clone();
                let url = format!("{base}/teams/messages");
                let id = format!("17000{burst:02}{i:06}");
                let body = serde_json::to_vec(&activity(
                    &id,
                    &format!("user-{}", burst * BURST + i),
                    "what does SQLSTATE 40P01 mean",
                ))
                .expect("json");
                let sig = dbabot_teams::auth::sign(&key, &body);
                tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .header("content-type", "application/json; charset=utf-8")
                        .header("authorization", sig)
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            (status, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (0, e.to_string()),
                    }
                })
            })
            .collect();
        let results =
            tokio::time::timeout(Duration::from_secs(40), futures::future::join_all(sends))
                .await
                .unwrap_or_else(|_| panic!("burst {burst}: answers stopped arriving (a hang?)"));
        let mut inline = 0;
        for r in results {
            let (status, body) = r.expect("send task");
            assert_eq!(status, 200, "burst {burst}: {body}");
            if body.contains("40P01") {
                inline += 1;
            }
        }
        // The rest arrive late through the webhook; a hang shows as answers that never come.
        let wait = Instant::now() + Duration::from_secs(20);
        while inline + late_answers() - late_before < BURST {
            assert!(
                Instant::now() < wait,
                "burst {burst}: {} of {BURST} answered (a hang?)",
                inline + late_answers() - late_before
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            inline + late_answers() - late_before,
            BURST,
            "burst {burst}: an answer came twice"
        );
        late_before = late_answers();
        eprintln!(
            "burst {burst}: {BURST} answered in {:?} ({inline} inline)",
            t0.elapsed()
        );
    }

    // Slack: 300 signed events at once are all acknowledged (the answers are paced by the
    // Slack client, see the module docs).
    let acks: Vec<_> = (0..BURST)
        .map(|i| {
            let http = http.clone();
            let url = format!("{base}/slack/events");
            let body = json!({
                "type": "event_callback", "team_id": "T1", "event_id": format!("EvBurst{i}"),
                "event_time": 1,
                "event": {"type": "app_mention", "user": format!("U{i}"),
                          "text": "<@UBOT> what does SQLSTATE 40P01 mean",
                          "ts": format!("1700000000.{i:06}"), "channel": "C1"}
            })
            .to_string();
            tokio::spawn(async move {
                let ts = now().as_secs().to_string();
                let sig = dbabot_slack::verify::sign("burst-secret", &ts, body.as_bytes());
                let t = Instant::now();
                let r = http
                    .post(url)
                    .header("x-slack-request-timestamp", &ts)
                    .header("x-slack-signature", sig)
                    .body(body)
                    .send()
                    .await;
                (r.map(|r| r.status().as_u16()).unwrap_or(0), t.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for a in futures::future::join_all(acks).await {
        let (status, took) = a.expect("ack task");
        assert_eq!(status, 200);
        slowest = slowest.max(took);
    }
    assert!(
        slowest < Duration::from_secs(3),
        "a Slack ack took {slowest:?}, past Slack's 3 s"
    );
    drop(server);

    // The store took every turn: the audit chain of the data directory is intact, and every
    // Teams thread was stored.
    let out = Command::new(env!("CARGO_BIN_EXE_dbabot"))
        .args(["audit", "verify"])
        .env("DBABOT_DATA_DIR", dir.path())
        .env_remove("DBABOT_CONFIG")
        .current_dir(dir.path())
        .output()
        .expect("run dbabot");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("audit chain intact"), "{text}");
    let store = dbabot::store::sled::SledStore::open(&dir.path().join("memory"), 8).expect("open");
    let threads = dbabot::store::Threads::thread_count(&store)
        .await
        .expect("count");
    assert!(threads >= BURST * BURSTS, "{threads} threads stored");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
