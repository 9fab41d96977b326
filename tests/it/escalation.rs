//! Escalation handoff, access policy and the audit trail, through the real engine with a
//! recording destination and a controlled clock.

use crate::support::{msg, TestDb};
use async_trait::async_trait;
use dbabot::audit::Verification;
use dbabot::escalation::CaseStatus;
use dbabot_chat::{
    Destination, InboundMessage, MessageHandler, Outbox, OutboxError, Platform, Reply,
    SelectedChoice, User,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Records every post (destination + plain text).
#[derive(Default)]
pub(crate) struct Recorder(pub(crate) Mutex<Vec<(Destination, String)>>);

#[async_trait]
impl Outbox for Recorder {
    async fn post(&self, d: &Destination, r: &Reply) -> Result<Option<String>, OutboxError> {
        if let Ok(mut v) = self.0.lock() {
            v.push((d.clone(), r.plain_text()));
        }
        Ok(None)
    }
}

impl Recorder {
    /// Every posted text, in order.
    pub(crate) fn texts(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(_, t)| t.clone()).collect())
            .unwrap_or_default()
    }
    fn to_channel(&self, channel: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(d, _)| d.channel == channel && d.thread.is_none())
                    .map(|(_, t)| t.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn to_thread(&self, thread: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(d, _)| d.thread.as_deref() == Some(thread))
                    .map(|(_, t)| t.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Bot {
    engine: dbabot::Engine,
    outbox: Arc<Recorder>,
    clock: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

const ESCALATION: &str = "destination = { platform = \"test\", workspace = \"T1\", channel = \"CDBA\" }\nsla_minutes = { P1 = 5, P2 = 15 }\n";
const ACCESS: &str = "default_role = \"viewer\"\ngrant_contact = \"#dba-team\"\nusers = [{ id = \"U1\", role = \"requester\" }, { id = \"UDBA\", role = \"dba\" }]\n";

fn bot(targets: Vec<dbabot::config::Target>, sections: &[(&str, &str)]) -> Bot {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = dbabot::config::Config::embedded(dir.path().to_path_buf());
    cfg.targets = targets;
    for (name, text) in sections {
        cfg.sections.insert(
            name.to_string(),
            toml::from_str(text).expect("section toml"),
        );
    }
    let memory = dbabot::memory::Memory::open(&dir.path().join("memory")).expect("memory");
    let clock = Arc::new(AtomicU64::new(1_800_000_000));
    let c = clock.clone();
    let engine = dbabot::Engine::try_with_clock(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        memory,
        Arc::new(dbabot::recommend::RulesRecommender),
        Arc::new(move || c.load(Ordering::SeqCst)),
    )
    .expect("engine");
    let outbox = Arc::new(Recorder::default());
    engine.set_outbox(outbox.clone());
    Bot {
        engine,
        outbox,
        clock,
        _dir: dir,
    }
}

fn from(user: &str, thread: &str, text: &str) -> InboundMessage {
    let mut m = msg(thread, text);
    m.user = User {
        id: user.into(),
        display_name: format!("{user}-name"),
        groups: vec![],
    };
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_prod_finding_escalates_and_the_dba_lifecycle_reaches_the_requester() {
    // MariaDB here has root with an empty password: a critical security finding.
    let db = TestDb::mysql().await;
    let b = bot(
        vec![db.target("shop-prod", "prod", "aws")],
        &[("escalation", ESCALATION), ("access", ACCESS)],
    );
    let r = b
        .engine
        .handle(from("U1", "sec-1", "run a security audit on shop-prod"))
        .await
        .expect("turn");
    let text = r.plain_text();
    assert!(text.contains("empty password"), "{text}");
    assert!(
        text.contains("Escalated to the DBA team: CASE-"),
        "no automatic escalation:\n{text}"
    );
    let case = b
        .engine
        .cases()
        .list(Some(CaseStatus::Open))
        .await
        .pop()
        .expect("a case");
    assert_eq!(case.priority, "P1", "prod × critical");
    assert!(case
        .trigger
        .contains("critical finding on a production target"));
    assert!(
        case.summary.contains("shop-prod") && case.summary.contains("U1-name"),
        "{}",
        case.summary
    );
    let handoff = b.outbox.to_channel("CDBA");
    assert_eq!(handoff.len(), 1);
    assert!(
        handoff[0].contains(&case.id)
            && handoff[0].contains("[P1]")
            && handoff[0].contains("Take it"),
        "{}",
        handoff[0]
    );

    // A requester may not act on cases.
    let denied = b
        .engine
        .handle(from("U1", "dba-chan", &format!("case ack {}", case.id)))
        .await
        .expect("turn");
    assert!(
        denied.plain_text().contains("needs the dba role"),
        "{}",
        denied.plain_text()
    );

    // The DBA clicks "Take it", then resolves with a note.
    let mut click = from("UDBA", "dba-chan", "");
    click.choice = Some(SelectedChoice {
        choice_id: format!("case:{}", case.id),
        value: "ack".into(),
    });
    let r = b.engine.handle(click).await.expect("turn");
    assert!(r.plain_text().contains("You took"), "{}", r.plain_text());
    let r = b
        .engine
        .handle(from(
            "UDBA",
            "dba-chan",
            &format!("case resolve {} set a password for root@localhost", case.id),
        ))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("is resolved"), "{}", r.plain_text());
    let updates = b.outbox.to_thread("sec-1");
    assert!(
        updates
            .iter()
            .any(|u| u.contains("UDBA-name from the DBA team took")),
        "{updates:?}"
    );
    assert!(
        updates
            .iter()
            .any(|u| u.contains("resolved by UDBA-name") && u.contains("set a password")),
        "{updates:?}"
    );
    assert_eq!(
        b.engine.cases().get(&case.id).await.expect("case").status,
        CaseStatus::Resolved
    );

    // Every action is in the audit trail, and the chain verifies.
    let records = b.engine.audit().records(None, None).await.expect("records");
    for action in [
        "diagnostic",
        "escalation",
        "denial",
        "case_ack",
        "case_resolve",
    ] {
        assert!(
            records.iter().any(|r| r.action == action),
            "no {action} record"
        );
    }
    assert!(matches!(
        b.engine.audit().verify().await.expect("verify"),
        Verification::Intact { .. }
    ));
    b.engine.runner().close().await;
}

#[tokio::test]
async fn reminders_fire_after_the_sla_and_survive_a_restart_of_the_schedule() {
    let b = bot(vec![], &[("escalation", ESCALATION)]);
    let r = b
        .engine
        .handle(from(
            "U1",
            "rem-1",
            "escalate the replica is 2 hours behind and I am stuck",
        ))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("Escalated to the DBA team"),
        "{}",
        r.plain_text()
    );
    let case = b.engine.cases().list(None).await.pop().expect("case");
    assert_eq!(case.priority, "P4");
    assert_eq!(b.engine.run_due_reminders().await, 0, "not due yet");
    // P4 SLA is 4 h by default.
    b.clock.fetch_add(4 * 3600 + 1, Ordering::SeqCst);
    assert_eq!(b.engine.run_due_reminders().await, 1);
    assert_eq!(
        b.engine.run_due_reminders().await,
        0,
        "next one is an SLA later"
    );
    let posts = b.outbox.to_channel("CDBA");
    assert!(
        posts.last().is_some_and(|p| p.contains("Reminder 1")),
        "{posts:?}"
    );
    let stored = b.engine.cases().get(&case.id).await.expect("case");
    assert_eq!(stored.reminders_sent, 1);
    assert!(stored
        .next_reminder_at
        .is_some_and(|t| t > b.clock.load(Ordering::SeqCst)));
    // Asking again in the same thread does not open a second case.
    let again = b
        .engine
        .handle(from("U1", "rem-1", "escalate"))
        .await
        .expect("turn");
    assert!(
        again.plain_text().contains("already escalated"),
        "{}",
        again.plain_text()
    );
}

#[tokio::test]
async fn a_viewer_is_denied_with_a_reason_and_an_audit_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let b = bot(vec![demo], &[("access", ACCESS)]);
    let r = b
        .engine
        .handle(from("USTRANGER", "v-1", "report health demo"))
        .await
        .expect("turn");
    let text = r.plain_text();
    assert!(text.contains("I can't run the health report check on demo: that needs the requester role and you are viewer. Ask #dba-team to grant it."), "{text}");
    assert!(r.checks.is_empty(), "a check ran");
    // Knowledge answers still work for viewers.
    let r = b
        .engine
        .handle(from("USTRANGER", "v-2", "what does SQLSTATE 40P01 mean"))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("deadlock"), "{}", r.plain_text());
    let denial = b
        .engine
        .audit()
        .records(None, None)
        .await
        .expect("records")
        .into_iter()
        .find(|r| r.action == "denial")
        .expect("denial audited");
    assert_eq!(denial.user, "USTRANGER");
    assert_eq!(denial.outcome, "denied");
    // A requester runs it.
    let r = b
        .engine
        .handle(from("U1", "v-3", "report health demo"))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("Health report — demo"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn recurring_errors_are_counted_and_escalated() {
    let b = bot(vec![], &[("escalation", ESCALATION)]);
    let mut last = String::new();
    for (i, t) in ["e-1", "e-2", "e-3"].iter().enumerate() {
        let r = b.engine.handle(from("U1", t, &format!("getting ERROR 1213 (40001): Deadlock found when trying to get lock; try restarting transaction, batch {i}"))).await.expect("turn");
        last = r.plain_text();
        if i == 1 {
            assert!(
                last.contains("seen 2 times in the last 24 h in 2 threads"),
                "{last}"
            );
        }
    }
    assert!(
        last.contains("seen 3 times in the last 24 h in 3 threads"),
        "{last}"
    );
    assert!(last.contains("Escalated to the DBA team"), "{last}");
    let case = b.engine.cases().list(None).await.pop().expect("case");
    assert!(case.trigger.contains("seen 3 times"), "{}", case.trigger);
}

#[tokio::test]
async fn audit_tampering_is_detected_and_forget_keeps_the_audit() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let b = bot(vec![demo], &[]);
    b.engine
        .handle(from("U1", "a-1", "report schema demo"))
        .await
        .expect("turn");
    let before = b
        .engine
        .audit()
        .records(None, None)
        .await
        .expect("records")
        .len();
    let r = b
        .engine
        .handle(from("U1", "a-1", "forget"))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("deleted"), "{}", r.plain_text());
    let key = from("U1", "a-1", "").thread_key();
    assert!(b.engine.memory().load(&key).await.expect("load").is_none());
    let records = b.engine.audit().records(None, None).await.expect("records");
    assert_eq!(
        records.len(),
        before + 1,
        "forget is audited and nothing was deleted"
    );
    assert!(
        records.iter().all(|r| !r.check.contains("order_items")),
        "audit holds no result content"
    );
    assert_eq!(
        b.engine.audit().verify().await.expect("verify"),
        Verification::Intact {
            records: records.len() as u64
        }
    );
    // Rewrite one record: the chain breaks exactly there.
    let store = b.engine.memory().store().clone();
    let sled = store
        .as_any()
        .downcast_ref::<dbabot::store::sled::SledStore>()
        .expect("the default store is sled");
    sled.forensics_rewrite_audit(2, |rec| rec["outcome"] = "ok-but-edited".into())
        .await
        .expect("write");
    assert!(matches!(
        b.engine.audit().verify().await.expect("verify"),
        Verification::Broken { seq: 2, .. }
    ));
}

#[tokio::test]
async fn retention_deletes_old_threads_and_closed_cases() {
    let b = bot(vec![], &[("escalation", ESCALATION), ("access", ACCESS)]);
    b.engine
        .handle(from("U1", "old-1", "escalate please"))
        .await
        .expect("turn");
    let case = b.engine.cases().list(None).await.pop().expect("case");
    let r = b
        .engine
        .handle(from(
            "UDBA",
            "dba",
            &format!("case resolve {} done", case.id),
        ))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("is resolved"), "{}", r.plain_text());
    b.clock.fetch_add(31 * 24 * 3600, Ordering::SeqCst);
    assert_eq!(
        b.engine.cases().get(&case.id).await.expect("case").status,
        CaseStatus::Resolved
    );
    let purged = b.engine.purge_expired().await.expect("purge");
    assert!(purged >= 2, "threads and the closed case: {purged}");
    assert!(b.engine.cases().get(&case.id).await.is_none());
    assert!(b
        .engine
        .memory()
        .load(&from("U1", "old-1", "").thread_key())
        .await
        .expect("load")
        .is_none());
    let _ = Platform::Test;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_cases_go_to_pagerduty_and_the_cli_lists_cases_and_verifies_the_audit() {
    // A PagerDuty Events API v2 stand-in that validates and records events.
    let events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let rec = events.clone();
    let app = axum::Router::new().route(
        "/v2/enqueue",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let rec = rec.clone();
            async move {
                let ok = body["routing_key"] == "R0UTINGKEY" && body["dedup_key"].is_string() && ["trigger", "acknowledge", "resolve"].contains(&body["event_action"].as_str().unwrap_or(""));
                let trigger_ok = body["event_action"] != "trigger" || (body["payload"]["summary"].is_string() && body["payload"]["source"].is_string() && ["critical", "error", "warning", "info"].contains(&body["payload"]["severity"].as_str().unwrap_or("")));
                if !(ok && trigger_ok) {
                    return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"status": "invalid event"})));
                }
                if let Ok(mut v) = rec.lock() {
                    v.push(body.clone());
                }
                (axum::http::StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v2/enqueue", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // The routing key comes from the environment like any secret; the name is unique to this
    // test, so no other test reads it.
    let var = format!("DBABOT_TEST_PD_KEY_{}", std::process::id());
    std::env::set_var(&var, "R0UTINGKEY");
    let db = TestDb::mysql().await;
    let esc =
        format!("{ESCALATION}pagerduty_url = \"{url}\"\npagerduty_routing_key_env = \"{var}\"\n");
    let b = bot(
        vec![db.target("shop-prod", "prod", "aws")],
        &[("escalation", &esc), ("access", ACCESS)],
    );
    b.engine
        .handle(from("U1", "pd-1", "run a security audit on shop-prod"))
        .await
        .expect("turn");
    let case = b.engine.cases().list(None).await.pop().expect("case");
    assert_eq!(case.priority, "P1");
    b.engine
        .handle(from("UDBA", "dba", &format!("case ack {}", case.id)))
        .await
        .expect("turn");
    b.engine
        .handle(from(
            "UDBA",
            "dba",
            &format!("case resolve {} fixed", case.id),
        ))
        .await
        .expect("turn");
    let actions: Vec<String> = events
        .lock()
        .expect("lock")
        .iter()
        .map(|e| e["event_action"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(actions, vec!["trigger", "acknowledge", "resolve"]);
    assert!(events
        .lock()
        .expect("lock")
        .iter()
        .all(|e| e["dedup_key"] == case.id.as_str()));
    b.engine.runner().close().await;

    // The CLI reads the same store once the engine is gone.
    let Bot {
        engine,
        _dir: guard,
        ..
    } = b;
    drop(engine); // closes sled so the CLI can open it
    let dir = guard.path().to_path_buf();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbabot"))
            .args(args)
            .env("DBABOT_DATA_DIR", &dir)
            .env_remove("DBABOT_CONFIG")
            .current_dir(&dir)
            .output()
            .expect("run dbabot");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code(),
        )
    };
    let (out, code) = run(&["cases", "--status", "resolved"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&case.id) && out.contains("resolved") && out.contains("1 case(s)"),
        "{out}"
    );
    let (out, code) = run(&["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit chain intact"), "{out}");
    let (out, code) = run(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--since",
        "2020-01-01",
    ]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines().count() >= 4
            && out
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{out}"
    );
    assert!(out.contains("\"action\":\"case_resolve\""), "{out}");
}

#[tokio::test]
async fn per_user_limits_and_the_cases_command() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let access =
        format!("{ACCESS}[limits]\nper_user_per_minute = 1\nper_target_per_minute = 100\n");
    let b = bot(
        vec![demo],
        &[("access", &access), ("escalation", ESCALATION)],
    );
    let r = b
        .engine
        .handle(from("U1", "l-1", "report schema demo"))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("Schema review — demo"),
        "{}",
        r.plain_text()
    );
    let r = b
        .engine
        .handle(from("U1", "l-2", "report space demo"))
        .await
        .expect("turn");
    assert!(
        r.plain_text()
            .contains("you have used your 1 diagnostic runs for this minute"),
        "{}",
        r.plain_text()
    );
    assert!(r.checks.is_empty());

    b.engine
        .handle(from("U1", "l-3", "escalate the disk is filling up"))
        .await
        .expect("turn");
    let r = b
        .engine
        .handle(from("U1", "l-4", "cases"))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("needs the dba role"),
        "{}",
        r.plain_text()
    );
    let r = b
        .engine
        .handle(from("UDBA", "l-5", "/dba cases"))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("Open cases (1)") && r.plain_text().contains("CASE-"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_and_summaries_are_redacted_before_they_are_stored_or_posted() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let b = bot(
        vec![demo],
        &[("escalation", ESCALATION), ("access", ACCESS)],
    );
    b.engine
        .handle(from(
            "U1",
            "red-1",
            "queries on events are slow on demo: SELECT * FROM customers WHERE email = 'dana@corp.example' AND pin = 445566",
        ))
        .await
        .expect("turn");
    let r = b
        .engine
        .handle(from(
            "U1",
            "red-1",
            "escalate tried mysql -uroot -pS3cretPw and postgres://admin:Adm1nPw@db.internal/x with password=hunter2, key AKIAIOSFODNN7EXAMPLE, then SELECT 1 FROM t WHERE token = 'tok-secret-9'",
        ))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("Escalated to the DBA team"),
        "{}",
        r.plain_text()
    );
    let case = b.engine.cases().list(None).await.pop().expect("a case");
    let stored = serde_json::to_string(&case).expect("json");
    let posted = b.outbox.to_channel("CDBA").join("\n");
    assert!(posted.contains("Tried / note"), "{posted}");
    assert!(posted.contains("mysql -uroot -p***"), "{posted}");
    for (what, text) in [("stored case", &stored), ("DBA channel", &posted)] {
        for leak in [
            "S3cretPw",
            "Adm1nPw",
            "hunter2",
            "AKIAIOSFODNN7EXAMPLE",
            "tok-secret-9",
            "dana@corp.example",
            "445566",
        ] {
            assert!(!text.contains(leak), "{leak} reached the {what}: {text}");
        }
    }
    // The note's query keeps its shape, literals normalised like pg_stat_statements.
    assert!(
        case.tried.iter().any(|t| t.contains("WHERE token = $")),
        "{:?}",
        case.tried
    );
    // A DBA's question and resolution are scrubbed too before they reach the requester.
    b.engine
        .handle(from(
            "UDBA",
            "dba-1",
            &format!("case ask {} is PGPASSWORD=Zq9-secret still set?", case.id),
        ))
        .await
        .expect("ask");
    b.engine
        .handle(from(
            "UDBA",
            "dba-1",
            &format!(
                "case resolve {} rotated postgres://admin:Adm1nPw@db.internal/x",
                case.id
            ),
        ))
        .await
        .expect("resolve");
    let to_requester = b.outbox.to_thread("red-1").join("\n");
    assert!(to_requester.contains("asks about"), "{to_requester}");
    assert!(
        !to_requester.contains("Zq9-secret") && !to_requester.contains("Adm1nPw"),
        "{to_requester}"
    );
}
