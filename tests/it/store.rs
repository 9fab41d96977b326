//! The store layer (issue 16): every backend passes the same contract, the lost-update races
//! are settled by compare-and-set, case ids are monotonic across restarts, the audit log's
//! tail cannot be cut silently, and a damaged sled directory is a clear error, never a panic.
//! Each test runs on sled (temporary directory) and on the shared PostgreSQL (own database).

use crate::support::TestDb;
use dbabot::audit::{Audit, Entry, Verification};
use dbabot::escalation::{Case, CaseStatus};
use dbabot::memory::{Memory, ThreadState};
use dbabot::store::{sled::SledStore, Store, StoreError};
use dbabot_chat::{Destination, InboundMessage, MessageHandler, Platform, ThreadKey, User};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A backend under test and what keeps it alive.
pub struct Under {
    pub store: Store,
    pub _dir: Option<tempfile::TempDir>,
    pub _db: Option<TestDb>,
}

pub fn sled() -> Under {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SledStore::open(&dir.path().join("memory"), 16).expect("open sled");
    Under {
        store: Arc::new(store),
        _dir: Some(dir),
        _db: None,
    }
}

pub async fn postgres() -> Under {
    let db = TestDb::postgres().await;
    let store = dbabot::store::postgres::PgStore::connect(&db.url, 8)
        .await
        .expect("connect the PostgreSQL store");
    Under {
        store: Arc::new(store),
        _dir: None,
        _db: Some(db),
    }
}

async fn both() -> Vec<Under> {
    vec![sled(), postgres().await]
}

fn key(t: &str) -> ThreadKey {
    ThreadKey::new(Platform::Test, "T1", "C1", t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_have_optimistic_versions() {
    for u in both().await {
        let kind = u.store.kind();
        let mem = Memory::with_store(u.store.clone());
        let k = key("v-1");
        let mut s = ThreadState::new(&k, 100);
        s.push_turn("user", "first password=hunter2", None, 100, 5);
        let v1 = mem.save_if(&s, 0).await.expect("create");
        assert_eq!(v1, 1, "{kind}");
        // A second creator loses.
        assert!(
            matches!(
                mem.save_if(&s, 0).await,
                Err(dbabot::memory::MemoryError::Store(StoreError::Conflict {
                    expected: 0,
                    found: 1
                }))
            ),
            "{kind}"
        );
        let read = mem.load_versioned(&k).await.expect("load").expect("there");
        assert_eq!(read.version, 1, "{kind}");
        assert!(
            !read.value.turns[0].text.contains("hunter2"),
            "{kind}: redacted"
        );
        s.push_turn("bot", "second", None, 101, 5);
        assert_eq!(mem.save_if(&s, 1).await.expect("update"), 2, "{kind}");
        // A writer holding version 1 is told, and nothing is overwritten.
        assert!(mem.save_if(&s, 1).await.is_err(), "{kind}: stale write");
        assert_eq!(mem.len().await, 1, "{kind}");
        assert_eq!(mem.purge(200, 50).await.expect("purge"), 1, "{kind}");
        assert!(mem.load(&k).await.expect("load").is_none(), "{kind}");
    }
}

fn case(id: &str, thread: &str, now: u64) -> Case {
    Case {
        id: id.into(),
        status: CaseStatus::Open,
        priority: "P2".into(),
        trigger: "requested".into(),
        requester_id: "U1".into(),
        requester_name: "u1".into(),
        source: key(thread),
        source_link: None,
        target: None,
        engine: None,
        environment: None,
        cloud: None,
        user_words: vec![],
        diagnostics: vec![],
        findings: vec![],
        worst: None,
        recommendations: vec![],
        tried: vec![],
        summary: "s".into(),
        created_at: now,
        updated_at: now,
        acknowledged_by: None,
        acknowledged_at: None,
        resolution: None,
        resolved_at: None,
        next_reminder_at: Some(now + 60),
        reminders_sent: 0,
        posted_to: Some(Destination {
            platform: Platform::Test,
            workspace: "T1".into(),
            channel: "CDBA".into(),
            thread: None,
        }),
        version: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_compare_and_set_and_claim_reminders_once() {
    for u in both().await {
        let kind = u.store.kind();
        let s = &u.store;
        assert_eq!(s.next_case_number().await.expect("n"), 1, "{kind}");
        assert_eq!(s.next_case_number().await.expect("n"), 2, "{kind}");
        let stored = s
            .insert_case(&case("CASE-0001", "c-1", 1000))
            .await
            .expect("insert");
        assert_eq!(stored.version, 1);
        assert_eq!(
            s.open_case_for_thread(&key("c-1").to_string())
                .await
                .expect("by thread")
                .map(|c| c.id),
            Some("CASE-0001".into()),
            "{kind}"
        );
        // Two DBAs read version 1; the first to write wins, the second is refused.
        let mut a = s.get_case("CASE-0001").await.expect("get").expect("there");
        let mut b = a.clone();
        a.status = CaseStatus::Acknowledged;
        a.acknowledged_by = Some("alice".into());
        b.status = CaseStatus::Acknowledged;
        b.acknowledged_by = Some("bob".into());
        assert!(s.replace_case(&a).await.expect("cas").is_some(), "{kind}");
        assert!(s.replace_case(&b).await.expect("cas").is_none(), "{kind}");
        let now = s.get_case("CASE-0001").await.expect("get").expect("there");
        assert_eq!(now.acknowledged_by.as_deref(), Some("alice"), "{kind}");
        assert_eq!(now.version, 2, "{kind}");

        // Reminders: only open, due cases are claimed, each once.
        s.insert_case(&case("CASE-0002", "c-2", 1000))
            .await
            .expect("insert");
        let sla: dbabot::store::Sla = Arc::new(|_p: &str| 900);
        assert!(s
            .claim_due_reminders(1059, sla.clone())
            .await
            .expect("claim")
            .is_empty());
        let claimed = s
            .claim_due_reminders(1060, sla.clone())
            .await
            .expect("claim");
        assert_eq!(
            claimed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["CASE-0002"],
            "{kind}: the acknowledged case is not reminded"
        );
        assert_eq!(claimed[0].reminders_sent, 1);
        assert_eq!(claimed[0].next_reminder_at, Some(1960));
        assert!(
            s.claim_due_reminders(1061, sla.clone())
                .await
                .expect("claim")
                .is_empty(),
            "{kind}: claimed once"
        );
        // An acknowledgement based on the copy read before the reminder's claim loses its
        // swap (so it re-reads) instead of silently reverting the reminder count, and the
        // reminder never reverts an acknowledgement.
        let mut stale = case("CASE-0002", "c-2", 1000);
        stale.version = 1;
        stale.status = CaseStatus::Acknowledged;
        assert!(
            s.replace_case(&stale).await.expect("cas").is_none(),
            "{kind}"
        );
        let mut fresh = s.get_case("CASE-0002").await.expect("get").expect("there");
        fresh.status = CaseStatus::Acknowledged;
        fresh.next_reminder_at = None;
        assert!(s.replace_case(&fresh).await.expect("cas").is_some());
        assert!(s
            .claim_due_reminders(99_999, sla)
            .await
            .expect("claim")
            .is_empty());
        assert_eq!(
            s.get_case("CASE-0002")
                .await
                .expect("get")
                .expect("there")
                .status,
            CaseStatus::Acknowledged,
            "{kind}"
        );
        assert_eq!(
            s.list_cases(Some(CaseStatus::Open))
                .await
                .expect("list")
                .len(),
            0
        );
        assert_eq!(s.list_cases(None).await.expect("list").len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_signatures_and_claims_are_bounded() {
    for u in both().await {
        let kind = u.store.kind();
        let s = &u.store;
        assert!(
            s.first_delivery("slack/Ev1", 100, 60).await.expect("d"),
            "{kind}"
        );
        assert!(
            !s.first_delivery("slack/Ev1", 159, 60).await.expect("d"),
            "{kind}"
        );
        assert!(
            s.first_delivery("slack/Ev1", 160, 60).await.expect("d"),
            "{kind}: expired"
        );
        assert!(s.first_delivery("slack/Ev2", 100, 60).await.expect("d"));
        assert_eq!(s.purge_dedupe(1000).await.expect("purge"), 2, "{kind}");
        assert!(s.first_delivery("slack/Ev2", 1000, 60).await.expect("d"));

        let mut last = None;
        for i in 0..(dbabot::store::MAX_OCCURRENCES as u64 + 50) {
            last = Some(
                s.record_signature("t", "abc", &format!("th{}", i % 3), 1000 + i, 86_400_000)
                    .await
                    .expect("sig"),
            );
        }
        let r = last.expect("recorded");
        assert_eq!(r.count, dbabot::store::MAX_OCCURRENCES, "{kind}: capped");
        assert_eq!(r.threads, 3);
        let r = s
            .record_signature("t", "abc", "th9", 1000 + 86_400_000 * 2, 86_400_000)
            .await
            .expect("sig");
        assert_eq!(r.count, 1, "{kind}: the old ones left the window");
        assert!(
            s.purge_signatures(u64::MAX).await.expect("purge") >= 1,
            "{kind}"
        );
        let r = s
            .record_signature("t", "abc", "th1", 1000 + 86_400_000 * 2, 86_400_000)
            .await
            .expect("sig");
        assert_eq!(r.count, 1, "{kind}: purged");

        assert!(s.claim("purge", 7, "a").await.expect("claim"), "{kind}");
        assert!(!s.claim("purge", 7, "b").await.expect("claim"), "{kind}");
        assert!(s.claim("purge", 8, "b").await.expect("claim"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_tail_truncation_is_detected() {
    for u in both().await {
        let kind = u.store.kind();
        let audit = Audit::open(&u.store);
        for i in 0..5 {
            audit
                .append(
                    Entry {
                        action: "diagnostic".into(),
                        check: format!("c{i}"),
                        outcome: "ok".into(),
                        ..Default::default()
                    },
                    1000 + i,
                )
                .await
                .expect("append");
        }
        assert_eq!(
            audit.verify().await.expect("verify"),
            Verification::Intact { records: 5 },
            "{kind}"
        );
        // Remove the last two records: the chain that is left links perfectly, only the
        // anchored head shows what is missing.
        match u.store.kind() {
            "sled" => {
                let s = u.store.as_any().downcast_ref::<SledStore>().expect("sled");
                assert_eq!(s.forensics_truncate_audit(4).await.expect("cut"), 2);
            }
            _ => {
                let p = u
                    .store
                    .as_any()
                    .downcast_ref::<dbabot::store::postgres::PgStore>()
                    .expect("pg");
                sqlx::query("DELETE FROM audit WHERE seq >= 4")
                    .execute(p.pool())
                    .await
                    .expect("cut");
            }
        }
        match audit.verify().await.expect("verify") {
            Verification::Broken { seq, reason } => {
                assert_eq!(seq, 4, "{kind}");
                assert!(reason.contains("removed from the end"), "{kind}: {reason}");
            }
            other => panic!("{kind}: truncation not detected: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writes_complete() {
    // The pattern that froze sled's own flush_async (issue 16): hundreds of durable writes at
    // once, from many tasks.
    for u in both().await {
        let kind = u.store.kind();
        let mem = Memory::with_store(u.store.clone());
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let mem = mem.clone();
                let audit = Audit::open(mem.store());
                tokio::spawn(async move {
                    let k = key(&format!("burst-{i}"));
                    let s = ThreadState::new(&k, 100);
                    mem.save(&s).await.expect("save");
                    audit
                        .append(
                            Entry {
                                action: "diagnostic".into(),
                                ..Default::default()
                            },
                            i,
                        )
                        .await
                        .expect("append");
                })
            })
            .collect();
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            futures::future::join_all(tasks),
        )
        .await
        .expect("no write hangs");
        assert_eq!(mem.len().await, 400, "{kind}");
        assert_eq!(
            Audit::open(mem.store()).verify().await.expect("verify"),
            Verification::Intact { records: 400 },
            "{kind}: concurrent appends stay one chain"
        );
    }
}

#[test]
fn a_damaged_sled_directory_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("memory");
    {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        let store = SledStore::open(&path, 8).expect("open");
        rt.block_on(async {
            let mem = Memory::with_store(Arc::new(store));
            for i in 0..200 {
                let mut s = ThreadState::new(&key(&format!("d-{i}")), 100);
                s.push_turn("user", &"x".repeat(500), None, 100, 5);
                mem.save(&s).await.expect("save");
            }
        });
    }
    // Open twice: the second open is told who holds it.
    {
        let first = SledStore::open(&path, 8).expect("open");
        let second = SledStore::open(&path, 8);
        match second {
            Err(e @ StoreError::Locked { .. }) => {
                assert!(e.to_string().contains("another process"), "{e}")
            }
            Err(e) => panic!("not a lock error: {e}"),
            Ok(_) => panic!("sled opened twice"),
        }
        drop(first);
    }
    // Truncate the data file.
    let db = path.join("db");
    let len = std::fs::metadata(&db).expect("db file").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open db");
    f.set_len(len / 3).expect("truncate");
    drop(f);
    let err = match SledStore::open(&path, 8) {
        Err(e) => e,
        Ok(s) => {
            // sled may notice only when reading; a read must then fail cleanly.
            let rt = tokio::runtime::Runtime::new().expect("rt");
            let r = rt.block_on(async {
                let mem = Memory::with_store(Arc::new(s));
                let mut bad = None;
                for i in 0..200 {
                    if let Err(e) = mem.load(&key(&format!("d-{i}"))).await {
                        bad = Some(e);
                        break;
                    }
                }
                bad
            });
            match r {
                Some(dbabot::memory::MemoryError::Store(e)) => e,
                Some(other) => panic!("unexpected error kind: {other}"),
                None => panic!("a truncated sled file read back without any error"),
            }
        }
    };
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("move the directory aside"), "{text}");
    assert!(!text.contains("sled allows one process"), "{text}");

    // A data file cut to nothing is not mistaken for a new, empty store.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open db");
    f.set_len(0).expect("truncate");
    drop(f);
    for snap in std::fs::read_dir(&path).expect("dir").flatten() {
        if snap.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::remove_file(snap.path()).expect("rm snapshot");
        }
    }
    match SledStore::open(&path, 8) {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains("truncated"), "{e}")
        }
        Err(e) => panic!("not reported as damage: {e}"),
        Ok(_) => panic!("an emptied store opened as if new"),
    }

    // The CLI says the same and exits non-zero instead of panicking.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbabot"))
        .args(["cases"])
        .env("DBABOT_DATA_DIR", dir.path())
        .env_remove("DBABOT_CONFIG")
        .current_dir(dir.path())
        .output()
        .expect("run dbabot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "the CLI panicked: {stderr}");
    assert!(stderr.contains("is corrupt"), "{stderr}");
    assert!(stderr.contains("move the directory aside"), "{stderr}");
}

// ---- the engine on each backend ----

use crate::escalation::Recorder;

const ESCALATION: &str = "destination = { platform = \"test\", workspace = \"T1\", channel = \"CDBA\" }\nsla_minutes = { P4 = 1 }\n";
const ACCESS: &str = "default_role = \"requester\"\nusers = [{ id = \"UDBA1\", role = \"dba\" }, { id = \"UDBA2\", role = \"dba\" }]\n";

struct Bot {
    engine: dbabot::Engine,
    outbox: Arc<Recorder>,
    clock: Arc<AtomicU64>,
}

fn bot(store: Store, dir: &std::path::Path) -> Bot {
    let mut cfg = dbabot::config::Config::embedded(dir.to_path_buf());
    for (name, text) in [("escalation", ESCALATION), ("access", ACCESS)] {
        cfg.sections
            .insert(name.into(), toml::from_str(text).expect("toml"));
    }
    let clock = Arc::new(AtomicU64::new(1_800_000_000));
    let c = clock.clone();
    let engine = dbabot::Engine::try_with_clock(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        Memory::with_store(store),
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
    }
}

fn from(user: &str, thread: &str, text: &str) -> InboundMessage {
    InboundMessage::text(
        Platform::Test,
        "T1",
        "C1",
        thread,
        User {
            id: user.into(),
            display_name: format!("{user}-name"),
            groups: vec![],
        },
        text,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dbas_taking_one_case_one_wins_the_other_is_told() {
    for u in both().await {
        let kind = u.store.kind();
        let dir = tempfile::tempdir().expect("tmp");
        let b = bot(u.store.clone(), dir.path());
        for round in 0..10 {
            let r = b
                .engine
                .handle(from("U1", &format!("take-{round}"), "escalate please"))
                .await
                .expect("turn");
            assert!(r.plain_text().contains("Escalated"), "{}", r.plain_text());
            let id = format!("CASE-{:04}", round + 1);
            let (x, y) = tokio::join!(
                b.engine
                    .handle(from("UDBA1", "dba-1", &format!("case ack {id}"))),
                b.engine
                    .handle(from("UDBA2", "dba-2", &format!("case take {id}"))),
            );
            let (x, y) = (x.expect("turn").plain_text(), y.expect("turn").plain_text());
            let won = [&x, &y]
                .iter()
                .filter(|t| t.contains(&format!("You took {id}")))
                .count();
            let told = [&x, &y]
                .iter()
                .filter(|t| t.contains(&format!("{id} is already acknowledged by UDBA")))
                .count();
            assert_eq!((won, told), (1, 1), "{kind} round {round}: {x} / {y}");
            let notices = b
                .outbox
                .texts()
                .iter()
                .filter(|t| t.contains(&format!("took {id}")))
                .count();
            assert_eq!(notices, 1, "{kind}: the requester is told once");
            let c = b.engine.cases().get(&id).await.expect("case");
            assert_eq!(c.status, CaseStatus::Acknowledged);
            assert!(
                (x.contains("You took") && c.acknowledged_by.as_deref() == Some("UDBA1-name"))
                    || (y.contains("You took")
                        && c.acknowledged_by.as_deref() == Some("UDBA2-name")),
                "{kind}: the stored taker is the one told they won"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reminder_racing_an_ack_never_reverts_it() {
    for u in both().await {
        let kind = u.store.kind();
        let dir = tempfile::tempdir().expect("tmp");
        let b = bot(u.store.clone(), dir.path());
        for round in 0..10 {
            b.engine
                .handle(from("U1", &format!("rem-{round}"), "escalate please"))
                .await
                .expect("turn");
            let id = format!("CASE-{:04}", round + 1);
            // P4 with a one-minute SLA: due now.
            b.clock.fetch_add(61, Ordering::SeqCst);
            let (_, ack) = tokio::join!(
                b.engine.run_due_reminders(),
                b.engine
                    .handle(from("UDBA1", "dba", &format!("case ack {id}"))),
            );
            assert!(
                ack.expect("turn").plain_text().contains("You took"),
                "{kind}"
            );
            // Whatever the interleaving, later reminders change nothing.
            b.clock.fetch_add(3600, Ordering::SeqCst);
            assert_eq!(b.engine.run_due_reminders().await, 0, "{kind}");
            let c = b.engine.cases().get(&id).await.expect("case");
            assert_eq!(c.status, CaseStatus::Acknowledged, "{kind} round {round}");
            assert_eq!(c.acknowledged_by.as_deref(), Some("UDBA1-name"));
            assert!(c.next_reminder_at.is_none(), "{kind}");
        }
    }
}

#[tokio::test]
async fn case_ids_are_monotonic_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("memory");
    let mut seen = Vec::new();
    for restart in 0..3 {
        let store: Store = Arc::new(SledStore::open(&path, 8).expect("open"));
        let b = bot(store, dir.path());
        for i in 0..2 {
            let r = b
                .engine
                .handle(from(
                    "U1",
                    &format!("mono-{restart}-{i}"),
                    "escalate please",
                ))
                .await
                .expect("turn");
            let text = r.plain_text();
            let id = text
                .split_whitespace()
                .find(|w| w.starts_with("CASE-"))
                .expect("a case id")
                .to_string();
            seen.push(id);
        }
        drop(b); // closes sled: the next round is a restart
    }
    assert_eq!(
        seen,
        [
            "CASE-0001",
            "CASE-0002",
            "CASE-0003",
            "CASE-0004",
            "CASE-0005",
            "CASE-0006"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copies_sled_to_postgres() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store: Store = Arc::new(SledStore::open(&dir.path().join("memory"), 8).expect("open"));
        let b = bot(store, dir.path());
        for i in 0..3 {
            b.engine
                .handle(from("U1", &format!("mig-{i}"), "escalate please"))
                .await
                .expect("turn");
        }
    }
    let db = TestDb::postgres().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbabot"))
            .args(args)
            .env("DBABOT_DATA_DIR", dir.path())
            .env("DBABOT_STORE_DSN", &db.url)
            .env_remove("DBABOT_CONFIG")
            .env_remove("DBABOT_STORE_BACKEND")
            .current_dir(dir.path())
            .output()
            .expect("run dbabot");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    let (out, err, code) = run(&["store", "migrate", "--from", "sled", "--to", "postgres"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("copied 3 thread(s), 3 case(s)"), "{out}");
    assert!(out.contains("audit chain intact on postgres"), "{out}");
    // A second run refuses to mix data.
    let (_, err, code) = run(&["store", "migrate", "--from", "sled", "--to", "postgres"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not empty"), "{err}");
    // The PostgreSQL store continues the numbering and the chain.
    let pg: Store = Arc::new(
        dbabot::store::postgres::PgStore::connect(&db.url, 2)
            .await
            .expect("pg"),
    );
    let b = bot(pg.clone(), dir.path());
    let r = b
        .engine
        .handle(from("U1", "mig-next", "escalate please"))
        .await
        .expect("turn");
    assert!(r.plain_text().contains("CASE-0004"), "{}", r.plain_text());
    assert!(matches!(
        Audit::open(&pg).verify().await.expect("verify"),
        Verification::Intact { .. }
    ));
    assert!(b
        .engine
        .memory()
        .load(&key("mig-1"))
        .await
        .expect("load")
        .is_some());
}

#[tokio::test]
async fn a_data_directory_written_before_the_store_layer_opens_and_continues() {
    // The previous layout, written with sled directly: thread JSON without a version, a case
    // numbered by sled's generate_id, per-occurrence signature keys. (The upgrade's audit-head
    // step, anchoring the last record of an old chain, is not covered here.)
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("memory");
    let k = key("legacy-1");
    {
        let db = sled::open(&path).expect("sled");
        let mut s = ThreadState::new(&k, 100);
        s.push_turn("user", "old turn", None, 100, 5);
        db.open_tree("threads")
            .expect("tree")
            .insert(k.to_string(), serde_json::to_vec(&s).expect("json"))
            .expect("insert");
        let mut c = serde_json::to_value(case("CASE-2000001", "legacy-1", 100)).expect("json");
        c.as_object_mut().expect("object").remove("version");
        db.open_tree("cases")
            .expect("tree")
            .insert("CASE-2000001", serde_json::to_vec(&c).expect("json"))
            .expect("insert");
        db.open_tree("signatures")
            .expect("tree")
            .insert(b"t\x00abc\x0000000000000000001000\x00th", &[])
            .expect("insert");
        db.flush().expect("flush");
    }
    {
        // Two audit records through the old chain rule (the digest is unchanged).
        let store: Store = Arc::new(SledStore::open(&path, 8).expect("open"));
        let audit = Audit::open(&store);
        for i in 0..2 {
            audit
                .append(
                    Entry {
                        action: "diagnostic".into(),
                        ..Default::default()
                    },
                    i,
                )
                .await
                .expect("append");
        }
    }
    let store: Store = Arc::new(SledStore::open(&path, 8).expect("reopen"));
    let mem = Memory::with_store(store.clone());
    let back = mem.load_versioned(&k).await.expect("load").expect("kept");
    assert_eq!(back.version, 0, "legacy record, no version yet");
    assert_eq!(back.value.turns[0].text, "old turn");
    assert_eq!(mem.save_if(&back.value, 0).await.expect("cas"), 1);
    let c = store
        .get_case("CASE-2000001")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(c.version, 0);
    assert_eq!(
        store
            .open_case_for_thread(&k.to_string())
            .await
            .expect("index")
            .map(|c| c.id),
        Some("CASE-2000001".into()),
        "the thread index was rebuilt"
    );
    assert_eq!(
        store.next_case_number().await.expect("n"),
        2_000_002,
        "numbering continues after the largest old id"
    );
    assert_eq!(
        Audit::open(&store).verify().await.expect("verify"),
        Verification::Intact { records: 2 }
    );
}
