//! Load generator: ack latency of `/slack/events` with 500 concurrent signed `app_mention`
//! events over loopback (issue 4 target: p99 under 50 ms on the 2-core dev machine).
//!
//! The adapter verifies, parses, deduplicates and acknowledges; the work after the ack goes to a
//! handler that answers at once and to a Web API address that refuses connections, so the
//! numbers measure the ack path, not Slack. Run: `cargo bench --bench slack_ack`.

use async_trait::async_trait;
use dbabot_chat::{HandlerError, InboundMessage, MessageHandler, Reply};
use dbabot_slack::config::SlackConfig;
use dbabot_slack::verify::sign;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Echo;

#[async_trait]
impl MessageHandler for Echo {
    async fn handle(&self, m: InboundMessage) -> Result<Reply, HandlerError> {
        Ok(Reply::text(m.text))
    }
}

const SECRET: &str = "bench-secret";
const CONCURRENT: usize = 500;
const ROUNDS: usize = 5;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = SlackConfig::http("xoxb-bench", SECRET, "http://127.0.0.1:9/api");
        let bot = dbabot_slack::SlackBot::new(Arc::new(Echo), cfg).expect("bot");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/slack/events", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, dbabot_slack::router(bot)).await;
        });
        let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENT).build().expect("client");
        let mut all = Vec::new();
        for round in 0..=ROUNDS {
            let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
            let mut tasks = Vec::with_capacity(CONCURRENT);
            for i in 0..CONCURRENT {
                let body = serde_json::json!({
                    "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
                    "event_id": format!("Ev{round}-{i}"), "event_time": 1700000000,
                    "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> help", "ts": format!("1700000000.{i:06}"), "channel": "C1"}
                })
                .to_string();
                let sig = sign(SECRET, &ts, body.as_bytes());
                let (client, url, ts) = (client.clone(), url.clone(), ts.clone());
                tasks.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let r = client.post(url).header("x-slack-request-timestamp", ts).header("x-slack-signature", sig).body(body).send().await;
                    let ok = r.map(|r| r.status().is_success()).unwrap_or(false);
                    (started.elapsed(), ok)
                }));
            }
            let mut lat = Vec::with_capacity(CONCURRENT);
            for t in tasks {
                if let Ok((d, ok)) = t.await {
                    assert!(ok, "an event was not acknowledged");
                    lat.push(d);
                }
            }
            if round > 0 {
                all.extend(lat); // round 0 warms up connections
            }
        }
        all.sort();
        println!(
            "slack_ack: {} events in {} rounds of {} concurrent: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            all.len(),
            ROUNDS,
            CONCURRENT,
            percentile(&all, 0.50).as_secs_f64() * 1000.0,
            percentile(&all, 0.99).as_secs_f64() * 1000.0,
            all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
    });
}
