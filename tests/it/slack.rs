//! The Slack adapter end to end: signed requests into the real router over loopback, the real
//! engine behind it, and a stand-in of the Slack Web API recording what the bot sends.

use crate::slack_standin::{self as standin, SlackStandIn};
use crate::support::{two_target_bot, wait_until, TestBot};
use dbabot_slack::config::SlackConfig;
use dbabot_slack::verify::sign;
use dbabot_slack::SlackBot;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub(crate) const TOKEN: &str = "xoxb-test-token";

pub(crate) struct Harness {
    pub(crate) slack: SlackStandIn,
    pub(crate) bot: TestBot,
    url: String,
    http: reqwest::Client,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Harness {
    pub(crate) async fn start(bot: TestBot, tweak: impl FnOnce(&mut SlackConfig)) -> Harness {
        let slack = SlackStandIn::start(TOKEN, &["C1", "D1"]).await;
        let mut cfg = SlackConfig::http(TOKEN, SECRET, &slack.api_url());
        tweak(&mut cfg);
        let adapter = SlackBot::new(Arc::new(bot.engine.clone()), cfg).expect("slack bot");
        let app = dbabot_slack::router(adapter);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Harness {
            slack,
            bot,
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let ts = now().to_string();
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sign(SECRET, &ts, body.as_bytes()));
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.body(body).send().await.expect("request")
    }

    /// POSTs `body` with a given timestamp and signature (a captured request, sent again).
    async fn post_captured(
        &self,
        path: &str,
        body: &str,
        ts: &str,
        sig: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// Diagnostics the engine has audited so far.
    async fn diagnostics_run(&self) -> usize {
        self.bot
            .engine
            .audit()
            .records(None, None)
            .await
            .expect("audit")
            .iter()
            .filter(|r| r.action == "diagnostic")
            .count()
    }

    pub(crate) async fn event(
        &self,
        event_id: &str,
        event: Value,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = json!({
            "token": "deprecated", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id, "event_time": 1700000000, "event": event,
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]
        });
        self.post_signed("/slack/events", "application/json", body.to_string(), extra)
            .await
    }

    /// Waits until `f` holds for the stand-in's state.
    pub(crate) async fn until(&self, what: &str, f: impl Fn(&SlackStandIn) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if f(&self.slack) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; messages: {:#?}",
            self.slack.messages()
        );
    }
}

pub(crate) fn mention(text: &str, ts: &str, thread: Option<&str>) -> Value {
    let mut e = json!({"type": "app_mention", "user": "U1", "text": format!("<@UBOT> {text}"), "ts": ts, "channel": "C1", "event_ts": ts});
    if let Some(t) = thread {
        e["thread_ts"] = json!(t);
    }
    e
}

pub(crate) fn all_text(m: &standin::Stored) -> String {
    let mut s = m.text.clone();
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(o) => o.iter().for_each(|(k, v)| {
                if k == "text" {
                    if let Some(t) = v.as_str() {
                        out.push('\n');
                        out.push_str(t)
                    } else {
                        walk(v, out)
                    }
                } else {
                    walk(v, out)
                }
            }),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for b in &m.blocks {
        walk(b, &mut s);
    }
    s
}

pub(crate) fn thread_text(slack: &SlackStandIn, ts: &str) -> String {
    slack
        .thread(ts)
        .iter()
        .map(all_text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn slacks_documented_signing_example_verifies() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/slack-signing.json"
        ))
        .expect("fixture"),
    )
    .expect("json");
    let s = |k: &str| fixture[k].as_str().expect("field").to_string();
    let ts = s("timestamp");
    let at: u64 = ts.parse().expect("ts");
    assert_eq!(
        sign(&s("signing_secret"), &ts, s("body").as_bytes()),
        s("expected_signature")
    );
    assert_eq!(
        dbabot_slack::verify::verify(
            &s("signing_secret"),
            Some(&ts),
            Some(&s("expected_signature")),
            s("body").as_bytes(),
            at + 10,
            300
        ),
        Ok(())
    );
    // The same request today is stale.
    assert!(dbabot_slack::verify::verify(
        &s("signing_secret"),
        Some(&ts),
        Some(&s("expected_signature")),
        s("body").as_bytes(),
        now(),
        300
    )
    .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_rejected_and_change_nothing() {
    let h = Harness::start(TestBot::demo().await, |_| {}).await;
    let body = json!({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": mention("report health demo", "1700000000.000001", None)}).to_string();
    let ts = now().to_string();
    let good = sign(SECRET, &ts, body.as_bytes());
    let stale_ts = (now() - 600).to_string();
    let cases: Vec<(&str, String, String, String)> = vec![
        (
            "tampered body",
            ts.clone(),
            good.clone(),
            body.replace("health", "space"),
        ),
        (
            "wrong secret",
            ts.clone(),
            sign("not-the-secret", &ts, body.as_bytes()),
            body.clone(),
        ),
        (
            "stale timestamp",
            stale_ts.clone(),
            sign(SECRET, &stale_ts, body.as_bytes()),
            body.clone(),
        ),
        (
            "malformed signature",
            ts.clone(),
            "v0=zz".into(),
            body.clone(),
        ),
    ];
    for (what, ts, sig, body) in cases {
        let r = h
            .http
            .post(format!("{}/slack/events", h.url))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "{what}");
        let j: Value = r.json().await.expect("json error body");
        assert!(
            j["error"].as_str().is_some_and(|e| e.contains("signature")),
            "{what}: {j}"
        );
    }
    let r = h
        .http
        .post(format!("{}/slack/commands", h.url))
        .body("text=report")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401, "missing headers");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.bot.engine.memory().len().await, 0, "memory changed");
    assert!(h.slack.messages().is_empty(), "something was posted");

    // url_verification is answered once signed.
    let r = h.post_signed("/slack/events", "application/json", json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}).to_string(), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_gets_a_threaded_reply_and_follow_ups_keep_the_slots() {
    let h = Harness::start(two_target_bot().await, |_| {}).await;
    let r = h
        .event(
            "Ev100",
            mention(
                "any duplicate indexes on shop-staging?",
                "1699999999.000100",
                None,
            ),
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    h.until("the answer in the thread", |s| {
        thread_text(s, "1699999999.000100").contains("idx_orders_customer_dup")
    })
    .await;
    let thread = h.slack.thread("1699999999.000100");
    // The answer replaced the "Checking…" placeholder, in the mention's thread.
    assert!(thread
        .iter()
        .all(|m| m.thread_ts.as_deref() == Some("1699999999.000100")));
    assert!(
        !h.slack.calls("chat.update").is_empty(),
        "placeholder not updated"
    );
    let answer = thread
        .iter()
        .find(|m| all_text(m).contains("idx_orders_customer_dup"))
        .expect("answer");
    assert_eq!(answer.blocks[0]["type"], "header");
    assert!(
        answer
            .blocks
            .iter()
            .any(|b| b["fields"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("shop-staging"))))),
        "fields: {:?}",
        answer.blocks
    );
    assert!(all_text(answer).contains("```"), "SQL as a code block");
    assert!(h
        .slack
        .reactions()
        .iter()
        .any(|r| r.1 == "1699999999.000100" && r.2 == "hourglass_flowing_sand"));

    // A follow-up in the thread, without a mention, keeps the target.
    let follow = json!({"type": "message", "channel_type": "channel", "user": "U1", "text": "and the schema report?", "ts": "1699999999.000300", "thread_ts": "1699999999.000100", "channel": "C1"});
    h.event("Ev101", follow, &[]).await;
    h.until("the follow-up answer", |s| {
        thread_text(s, "1699999999.000100").contains("Schema review — shop-staging")
    })
    .await;

    // A message in a thread the bot is not part of is ignored.
    let stranger = json!({"type": "message", "channel_type": "channel", "user": "U2", "text": "report schema", "ts": "1699999999.000500", "thread_ts": "1699999999.000400", "channel": "C1"});
    h.event("Ev102", stranger, &[]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.slack.thread("1699999999.000400").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_report_acks_fast_then_posts_the_report_and_a_csv() {
    let h = Harness::start(TestBot::demo().await, |_| {}).await;
    let form = serde_urlencoded::to_string([
        ("token", "x"),
        ("team_id", "T1"),
        ("team_domain", "test"),
        ("channel_id", "C1"),
        ("channel_name", "dba"),
        ("user_id", "U1"),
        ("user_name", "dana"),
        ("command", "/dba"),
        ("text", "report health demo"),
        ("response_url", &format!("{}/response/1", h.slack.base)),
        ("trigger_id", "1.2.3"),
    ])
    .expect("form");
    let started = Instant::now();
    let r = h
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            form,
            &[],
        )
        .await;
    let ack = started.elapsed();
    assert_eq!(r.status(), 200);
    assert!(ack < Duration::from_secs(3), "ack took {ack:?}");
    let j: Value = r.json().await.expect("json");
    assert_eq!(j["response_type"], "ephemeral");
    h.until("the report", |s| {
        s.messages()
            .iter()
            .any(|m| all_text(m).contains("Health report — demo"))
    })
    .await;
    h.until("the CSV upload", |s| !s.files().is_empty()).await;
    let report = h
        .slack
        .messages()
        .into_iter()
        .find(|m| all_text(m).contains("Health report — demo"))
        .expect("report");
    let (title, channel, thread, bytes) = h.slack.files().remove(0);
    assert_eq!(title, "health-demo.csv");
    assert_eq!(channel, "C1");
    assert_eq!(
        thread.as_deref(),
        Some(report.ts.as_str()),
        "CSV goes into the report's thread"
    );
    let csv = String::from_utf8(bytes).expect("utf8");
    assert!(
        csv.contains("check,") && csv.contains("quick_check"),
        "{csv}"
    );
    // The announcement was replaced by the report (chat.update), not left behind.
    assert!(!all_text(&report).contains("working on it"));

    // Unknown subcommands get the help text.
    let form = serde_urlencoded::to_string([
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", "U1"),
        ("command", "/dba"),
        ("text", "frobnicate now"),
        ("response_url", &format!("{}/response/2", h.slack.base)),
    ])
    .expect("form");
    h.post_signed(
        "/slack/commands",
        "application/x-www-form-urlencoded",
        form,
        &[],
    )
    .await;
    h.until("help", |s| {
        s.messages()
            .iter()
            .any(|m| all_text(m).contains("Commands"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_click_fills_the_slot_and_replaces_the_buttons() {
    let h = Harness::start(two_target_bot().await, |_| {}).await;
    h.event(
        "Ev200",
        mention("any duplicate indexes?", "1699999999.000200", None),
        &[],
    )
    .await;
    h.until("the question with buttons", |s| {
        s.thread("1699999999.000200")
            .iter()
            .any(|m| m.blocks.iter().any(|b| b["type"] == "actions"))
    })
    .await;
    let question = h
        .slack
        .thread("1699999999.000200")
        .into_iter()
        .find(|m| m.blocks.iter().any(|b| b["type"] == "actions"))
        .expect("question");
    let actions = question
        .blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("actions");
    let button = actions["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .find(|e| e["value"] == "shop-staging")
        .expect("staging button")
        .clone();
    let payload = json!({
        "type": "block_actions", "team": {"id": "T1", "domain": "test"}, "user": {"id": "U1", "username": "dana", "team_id": "T1"},
        "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": question.ts, "channel_id": "C1", "is_ephemeral": false, "thread_ts": "1699999999.000200"},
        "channel": {"id": "C1", "name": "dba"},
        "message": {"type": "message", "user": "UBOT", "ts": question.ts, "thread_ts": "1699999999.000200", "text": question.text, "blocks": question.blocks},
        "response_url": format!("{}/response/3", h.slack.base),
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": actions["block_id"], "value": "shop-staging", "text": button["text"], "action_ts": "1700000000.1"}]
    });
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
    let r = h
        .post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            form,
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    h.until("the answer for the chosen target", |s| {
        thread_text(s, "1699999999.000200").contains("idx_orders_customer_dup")
    })
    .await;
    let updated = h
        .slack
        .messages()
        .into_iter()
        .find(|m| m.ts == question.ts)
        .expect("question message");
    assert!(
        !updated.blocks.iter().any(|b| b["type"] == "actions"),
        "buttons still there: {:#?}\n{:#?}",
        updated.blocks,
        h.slack
            .calls("chat.update")
            .iter()
            .map(|c| c.params.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        all_text(&updated).contains("chose *shop-staging"),
        "{}",
        all_text(&updated)
    );
    assert!(thread_text(&h.slack, "1699999999.000200").contains("shop-staging"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_answered_once_and_web_api_429_is_honoured() {
    let h = Harness::start(TestBot::demo().await, |_| {}).await;
    h.slack.throttle_next(1);
    let ev = mention("help", "1699999999.000600", None);
    h.event("EvRetry", ev.clone(), &[]).await;
    h.event(
        "EvRetry",
        ev.clone(),
        &[
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
    )
    .await;
    h.until("the help answer", |s| {
        thread_text(s, "1699999999.000600").contains("Commands")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        h.slack.thread("1699999999.000600").len(),
        1,
        "answered more than once"
    );
    let calls = h.slack.all_calls();
    let throttled: Vec<&standin::Call> = calls.iter().filter(|c| c.throttled).collect();
    assert_eq!(throttled.len(), 1);
    let method = &throttled[0].method;
    assert!(
        calls
            .iter()
            .filter(|c| &c.method == method && !c.throttled)
            .count()
            >= 1,
        "{method} was not retried after the 429"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_work_and_per_user_limits_are_polite() {
    let h = Harness::start(TestBot::demo().await, |c| c.per_user_per_minute = 1).await;
    let dm = json!({"type": "message", "channel_type": "im", "user": "U7", "text": "report space demo", "ts": "1699999999.000700", "channel": "D1"});
    h.event("EvDm1", dm, &[]).await;
    h.until("the DM answer", |s| {
        thread_text(s, "1699999999.000700").contains("Space report — demo")
    })
    .await;
    let again = json!({"type": "message", "channel_type": "im", "user": "U7", "text": "report schema demo", "ts": "1699999999.000800", "channel": "D1"});
    h.event("EvDm2", again, &[]).await;
    h.until("the rate-limit notice", |s| !s.ephemerals().is_empty())
        .await;
    let notice = &h.slack.ephemerals()[0];
    assert_eq!(notice["user"], "U7");
    assert!(
        notice["text"]
            .as_str()
            .is_some_and(|t| t.contains("did not run")),
        "{notice}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !thread_text(&h.slack, "1699999999.000800").contains("Schema review"),
        "ran despite the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_receives_acknowledges_and_answers() {
    let slack = SlackStandIn::start(TOKEN, &["C1"]).await;
    let bot = TestBot::demo().await;
    let mut cfg = SlackConfig::http(TOKEN, SECRET, &slack.api_url());
    cfg.transport = dbabot_slack::Transport::SocketMode;
    cfg.signing_secret = None;
    cfg.app_token = Some(dbabot_slack::config::Secret::new("xapp-test-app-token"));
    let adapter = SlackBot::new(Arc::new(bot.engine.clone()), cfg).expect("slack bot");
    slack.queue_socket_event(
        "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
        json!({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "EvSock1", "event_time": 1700000000,
               "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> report schema demo", "ts": "1699999999.001000", "channel": "C1", "event_ts": "1699999999.001000"}}),
    );
    let task = tokio::spawn(async move { dbabot_slack::socket::run(adapter).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(slack
        .socket_acks()
        .contains(&"57d6a792-4d35-4d0b-b6aa-3361493e1caf".to_string())
        && thread_text(&slack, "1699999999.001000").contains("order_items has no primary key"))
    {
        assert!(
            Instant::now() < deadline,
            "acks {:?}, messages {:?}",
            slack.socket_acks(),
            slack.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!slack.calls("apps.connections.open").is_empty());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_slash_command_runs_its_diagnostics_once() {
    let h = Harness::start(TestBot::demo().await, |_| {}).await;
    let form = serde_urlencoded::to_string([
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", "U1"),
        ("user_name", "dana"),
        ("command", "/dba"),
        ("text", "report health demo"),
        ("response_url", &format!("{}/response/9", h.slack.base)),
        ("trigger_id", "9.9.9"),
    ])
    .expect("form");
    // One validly signed request, captured and sent four times.
    let ts = now().to_string();
    let sig = sign(SECRET, &ts, form.as_bytes());
    let mut answers = Vec::new();
    for _ in 0..4 {
        let r = h.post_captured("/slack/commands", &form, &ts, &sig).await;
        assert_eq!(r.status(), 200);
        let j: Value = r.json().await.expect("json");
        answers.push(j["text"].as_str().unwrap_or("").to_string());
    }
    assert!(answers[0].starts_with("Working on"), "{answers:?}");
    for a in &answers[1..] {
        assert!(a.contains("already received"), "{answers:?}");
    }
    h.until("the report", |s| {
        s.messages()
            .iter()
            .any(|m| all_text(m).contains("Health report — demo"))
    })
    .await;
    let ran = h.diagnostics_run().await;
    assert!(ran > 0, "the first delivery ran the report's checks");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.diagnostics_run().await, ran, "a replay ran diagnostics");
    let reports = h
        .slack
        .messages()
        .iter()
        .filter(|m| all_text(m).contains("Health report — demo"))
        .count();
    assert_eq!(reports, 1, "answered more than once");

    // A replay with a fresh timestamp needs a fresh signature, which only Slack can make; the
    // old signature on a new timestamp is refused, and one outside the window too.
    let later = (now() + 1).to_string();
    let r = h
        .post_captured("/slack/commands", &form, &later, &sig)
        .await;
    assert_eq!(r.status(), 401);
    let stale = (now() - 301).to_string();
    let stale_sig = sign(SECRET, &stale, form.as_bytes());
    let r = h
        .post_captured("/slack/commands", &form, &stale, &stale_sig)
        .await;
    assert_eq!(r.status(), 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.diagnostics_run().await, ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_button_click_runs_nothing() {
    let h = Harness::start(two_target_bot().await, |_| {}).await;
    h.event(
        "Ev900",
        mention("any duplicate indexes?", "1699999999.000900", None),
        &[],
    )
    .await;
    h.until("the question with buttons", |s| {
        s.thread("1699999999.000900")
            .iter()
            .any(|m| m.blocks.iter().any(|b| b["type"] == "actions"))
    })
    .await;
    let question = h
        .slack
        .thread("1699999999.000900")
        .into_iter()
        .find(|m| m.blocks.iter().any(|b| b["type"] == "actions"))
        .expect("question");
    let actions = question
        .blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("actions");
    let button = actions["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .find(|e| e["value"] == "shop-prod")
        .expect("prod button")
        .clone();
    let payload = json!({
        "type": "block_actions", "team": {"id": "T1", "domain": "test"}, "user": {"id": "U1", "username": "dana", "team_id": "T1"},
        "api_app_id": "A1", "token": "x", "trigger_id": "9.9.10",
        "container": {"type": "message", "message_ts": question.ts, "channel_id": "C1", "is_ephemeral": false, "thread_ts": "1699999999.000900"},
        "channel": {"id": "C1", "name": "dba"},
        "message": {"type": "message", "user": "UBOT", "ts": question.ts, "thread_ts": "1699999999.000900", "text": question.text, "blocks": question.blocks},
        "response_url": format!("{}/response/10", h.slack.base),
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": actions["block_id"], "value": "shop-prod", "text": button["text"], "action_ts": "1700000000.1"}]
    });
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
    let ts = now().to_string();
    let sig = sign(SECRET, &ts, form.as_bytes());
    let before = h.diagnostics_run().await;
    for _ in 0..4 {
        let r = h
            .post_captured("/slack/interactivity", &form, &ts, &sig)
            .await;
        assert_eq!(r.status(), 200);
    }
    h.until("the answer for the chosen target", |s| {
        thread_text(s, "1699999999.000900").contains("idx_orders_customer_dup")
    })
    .await;
    let ran = h.diagnostics_run().await;
    assert!(ran > before, "the click ran its check");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h.diagnostics_run().await,
        ran,
        "a replayed click ran diagnostics"
    );
    let answers = h
        .slack
        .thread("1699999999.000900")
        .iter()
        .filter(|m| all_text(m).contains("idx_orders_customer_dup"))
        .count();
    assert_eq!(answers, 1, "answered more than once");
}

/// The adapter on loopback in front of `slack` (its own channels), with `cfg` tweaked.
async fn adapter_for(
    slack: &SlackStandIn,
    bot: &TestBot,
    tweak: impl FnOnce(&mut SlackConfig),
) -> (SlackBot, String) {
    let mut cfg = SlackConfig::http(TOKEN, SECRET, &slack.api_url());
    tweak(&mut cfg);
    let adapter = SlackBot::new(Arc::new(bot.engine.clone()), cfg).expect("slack bot");
    let url = crate::teams::serve(dbabot_slack::router(adapter.clone())).await;
    (adapter, url)
}

async fn send_event(http: &reqwest::Client, url: &str, event_id: &str, event: Value) -> u16 {
    let body = json!({
        "token": "deprecated", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": 1700000000, "event": event,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]
    })
    .to_string();
    let ts = now().to_string();
    http.post(format!("{url}/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sign(SECRET, &ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_questions_in_twenty_channels_are_all_answered_within_seconds() {
    let channels: Vec<String> = (1..=20).map(|i| format!("C{i:02}")).collect();
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let slack = SlackStandIn::start(TOKEN, &names).await;
    slack.enforce_channel_limit();
    let bot = TestBot::demo().await;
    let (_adapter, url) = adapter_for(&slack, &bot, |c| c.upload_csv = false).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let sends = channels.iter().enumerate().map(|(i, c)| {
        let (http, url) = (http.clone(), url.clone());
        let ts = format!("1699999999.{:06}", 100 + i);
        // One user per channel: the per-user diagnostic limit is not what is measured here.
        let event = json!({"type": "app_mention", "user": format!("U{i:02}"), "text": "<@UBOT> report health demo", "ts": ts, "channel": c, "event_ts": ts});
        async move { send_event(&http, &url, &format!("EvLoad{i}"), event).await }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let answered = |s: &SlackStandIn, c: &str| {
        s.messages()
            .iter()
            .find(|m| m.channel == c && all_text(m).contains("Health report"))
            .map(|m| m.at)
    };
    assert!(
        wait_until(30, || async {
            channels.iter().all(|c| answered(&slack, c).is_some())
        })
        .await,
        "not all answered: {:#?}",
        slack.messages()
    );
    let mut at: Vec<Duration> = channels
        .iter()
        .filter_map(|c| answered(&slack, c))
        .map(|t| t.duration_since(started))
        .collect();
    at.sort();
    let (first, last) = (at[0], at[at.len() - 1]);
    println!("20 channels: first answer {first:?}, last {last:?}");
    // One bucket for the whole bot would space them by a second each (19 s from first to
    // last); per channel they are all out within a few seconds.
    assert!(
        last < Duration::from_secs(8),
        "last answer after {last:?} (first {first:?})"
    );
    assert!(
        last - first < Duration::from_secs(5),
        "answers serialised: {at:?}"
    );
    let limited: Vec<_> = slack
        .all_calls()
        .into_iter()
        .filter(|c| c.throttled)
        .collect();
    assert!(
        limited.is_empty(),
        "the bot exceeded Slack's per-channel limit: {limited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_posts_in_one_channel_are_paced_at_one_per_second() {
    let slack = SlackStandIn::start(TOKEN, &["C1", "C2"]).await;
    slack.enforce_channel_limit();
    let cfg = SlackConfig::http(TOKEN, SECRET, &slack.api_url());
    let api = dbabot_slack::api::SlackApi::new(&cfg).expect("api");
    let m = dbabot_slack::blocks::SlackMessage {
        text: "hello".into(),
        blocks: vec![],
    };
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        api.post("C1", None, &m),
        api.post("C1", None, &m),
        api.post("C2", None, &m)
    );
    a.expect("first");
    b.expect("second");
    c.expect("other channel");
    let msgs = slack.messages();
    let c1: Vec<Instant> = msgs
        .iter()
        .filter(|m| m.channel == "C1")
        .map(|m| m.at)
        .collect();
    let c2 = msgs.iter().find(|m| m.channel == "C2").expect("C2").at;
    assert_eq!(c1.len(), 2);
    let gap = if c1[1] > c1[0] {
        c1[1] - c1[0]
    } else {
        c1[0] - c1[1]
    };
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    assert!(
        c2.duration_since(started) < Duration::from_millis(500),
        "C2 waited for C1"
    );
    assert!(slack.all_calls().iter().all(|c| !c.throttled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_5xx_is_retried_and_a_hanging_call_times_out() {
    let slack = SlackStandIn::start(TOKEN, &["C1"]).await;
    let mut cfg = SlackConfig::http(TOKEN, SECRET, &slack.api_url());
    cfg.request_timeout = Duration::from_millis(400);
    let api = dbabot_slack::api::SlackApi::new(&cfg).expect("api");
    let m = dbabot_slack::blocks::SlackMessage {
        text: "hello".into(),
        blocks: vec![],
    };
    slack.fail_next("chat.postMessage", 2, 503);
    api.post("C1", None, &m)
        .await
        .expect("posted after two 503s");
    assert_eq!(slack.calls("chat.postMessage").len(), 3);

    // A hanging chat.postMessage fails after the timeout and is not sent again (it may have
    // been posted); a hanging auth.test (safe to repeat) is retried.
    slack.stall_next("chat.postMessage", 1, Duration::from_secs(5));
    let t = Instant::now();
    let e = api.post("C1", None, &m).await.expect_err("timed out");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(e.to_string().contains("timed out after 400 ms"), "{e}");
    assert_eq!(slack.calls("chat.postMessage").len(), 4);
    slack.stall_next("auth.test", 1, Duration::from_secs(5));
    assert_eq!(api.bot_user_id().await.expect("auth.test"), "UBOT");
    assert_eq!(slack.calls("auth.test").len(), 2);

    // A 4xx other than 429 is final.
    slack.fail_next("chat.postMessage", 1, 400);
    assert!(api.post("C1", None, &m).await.is_err());
    assert_eq!(slack.calls("chat.postMessage").len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_final_update_replaces_the_placeholder_with_a_short_error() {
    let slack = SlackStandIn::start(TOKEN, &["C1"]).await;
    let bot = TestBot::demo().await;
    let (_adapter, url) = adapter_for(&slack, &bot, |c| c.upload_csv = false).await;
    slack.refuse_next("chat.update", 1, "msg_too_long");
    let ts = "1699999999.000901";
    let ev = json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> report health demo", "ts": ts, "channel": "C1", "event_ts": ts});
    assert_eq!(
        send_event(&reqwest::Client::new(), &url, "EvTooLong", ev).await,
        200
    );
    assert!(
        wait_until(20, || async {
            thread_text(&slack, ts).contains("could not post this answer")
        })
        .await,
        "no error shown: {:#?}",
        slack.messages()
    );
    let text = thread_text(&slack, ts);
    assert!(text.contains("msg_too_long"), "{text}");
    assert!(!text.contains("Running the"), "placeholder left: {text}");
    assert_eq!(slack.thread(ts).len(), 1, "{:#?}", slack.thread(ts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_auth_test_fails_a_mention_in_a_thread_is_answered_once_and_it_is_retried() {
    let slack = SlackStandIn::start(TOKEN, &["C1"]).await;
    slack.fail_next("auth.test", 1000, 503);
    let bot = TestBot::demo().await;
    let (adapter, url) = adapter_for(&slack, &bot, |c| c.max_retries = 0).await;
    let http = reqwest::Client::new();
    let root = "1699999999.000950";
    send_event(&http, &url, "EvRoot", mention("help", root, None)).await;
    assert!(
        wait_until(20, || async { !slack.thread(root).is_empty() }).await,
        "root mention not answered"
    );
    // A mention inside the thread arrives twice: as app_mention and as a message event.
    let ts = "1699999999.000951";
    let as_message = json!({"type": "message", "channel_type": "channel", "user": "U1", "text": "<@UBOT> help", "ts": ts, "thread_ts": root, "channel": "C1", "event_ts": ts});
    let (a, b) = tokio::join!(
        send_event(&http, &url, "EvMention", mention("help", ts, Some(root))),
        send_event(&http, &url, "EvMessage", as_message)
    );
    assert_eq!((a, b), (200, 200));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = slack.thread(root).len();
    assert_eq!(
        answers,
        2,
        "root answer + one answer: {:#?}",
        slack.thread(root)
    );
    assert!(
        slack.calls("auth.test").len() >= 2,
        "auth.test was not asked again"
    );

    // Slack comes back: the background task learns the id.
    slack.clear_faults();
    let identity = tokio::spawn(adapter.clone().resolve_identity());
    tokio::time::timeout(Duration::from_secs(10), identity)
        .await
        .expect("resolve_identity finished")
        .expect("task");
    assert_eq!(adapter.bot_user().await.as_deref(), Some("UBOT"));
}
