//! Several replicas on one PostgreSQL store (issue 16): three real `dbabot serve` processes
//! share a fresh database; two DBAs taking one case on different replicas get one winner; a
//! replica killed with SIGKILL mid-burst loses no case it confirmed; `audit verify` passes on
//! the shared chain; and due reminders are claimed once across replicas.

use crate::support::TestDb;
use dbabot::memory::Memory;
use dbabot::store::Store;
use dbabot_chat::Platform;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::burst::{activity, serve_with, Server, TEAMS_TOKEN};

/// One `dbabot serve` replica on the shared store, with a data directory of its own.
struct Replica {
    server: Server,
    _dir: tempfile::TempDir,
}

async fn replica(dsn: &str) -> Replica {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("dbabot.toml");
    std::fs::write(
        &config,
        "[teams]\nsecurity_token_env = \"TEAMS_SECURITY_TOKEN\"\n\n[access]\ndefault_role = \"dba\"\n\n[store]\nbackend = \"postgres\"\ndsn_env = \"REPLICA_STORE_DSN\"\n",
    )
    .expect("config");
    let server = serve_with(
        &config,
        dir.path(),
        &[
            ("REPLICA_STORE_DSN", dsn),
            ("TEAMS_SECURITY_TOKEN", TEAMS_TOKEN),
        ],
        "/readyz",
    )
    .await;
    Replica { server, _dir: dir }
}

/// Sends one signed Activity; returns the status and the answer's text.
async fn say(http: &reqwest::Client, r: &str, id: &str, user: &str, text: &str) -> (u16, String) {
    let key = dbabot_teams::SecurityToken::from_base64(TEAMS_TOKEN).expect("token");
    let body = serde_json::to_vec(&activity(id, user, text)).expect("json");
    let sig = dbabot_teams::auth::sign(&key, &body);
    match http
        .post(format!("{r}/teams/messages"))
        .header("content-type", "application/json; charset=utf-8")
        .header("authorization", sig)
        .body(body)
        .send()
        .await
    {
        Ok(resp) => {
            let s = resp.status().as_u16();
            (s, resp.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

fn case_id(text: &str) -> Option<String> {
    let at = text.find("CASE-")?;
    Some(text[at..at + 9].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_postgres_store() {
    let db = TestDb::postgres().await;
    let replicas = vec![
        replica(&db.url).await,
        replica(&db.url).await,
        replica(&db.url).await,
    ];
    let http = reqwest::Client::new();

    // Escalations on different replicas get consecutive ids from the shared counter.
    let mut ids = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let (status, text) = say(
            &http,
            &r.server.base,
            &format!("esc{i}"),
            "requester",
            "escalate please",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        ids.push(case_id(&text).unwrap_or_else(|| panic!("no case id in {text}")));
    }
    assert_eq!(ids, ["CASE-0001", "CASE-0002", "CASE-0003"]);

    // The same Activity delivered to two replicas at once is answered by one of them only.
    let (a, b) = tokio::join!(
        say(
            &http,
            &replicas[1].server.base,
            "twice-1",
            "requester",
            "help"
        ),
        say(
            &http,
            &replicas[2].server.base,
            "twice-1",
            "requester",
            "help"
        ),
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let ignored = [&a.1, &b.1]
        .iter()
        .filter(|t| t.contains("duplicate delivery ignored"))
        .count();
    assert_eq!(ignored, 1, "exactly one replica answers: {a:?} {b:?}");

    // Two DBAs take CASE-0001 at once, on two replicas: one wins, the other is told.
    for id in &ids {
        let (ida, idb) = (format!("ack-a-{id}"), format!("ack-b-{id}"));
        let (ta, tb) = (format!("case ack {id}"), format!("case take {id}"));
        let (a, b) = tokio::join!(
            say(&http, &replicas[1].server.base, &ida, "dba-alice", &ta),
            say(&http, &replicas[2].server.base, &idb, "dba-bob", &tb),
        );
        let texts = [a.1, b.1];
        let won = texts
            .iter()
            .filter(|t| t.contains(&format!("You took {id}")))
            .count();
        let told = texts
            .iter()
            .filter(|t| t.contains(&format!("{id} is already acknowledged by dba-")))
            .count();
        assert_eq!((won, told), (1, 1), "{texts:?}");
    }

    // A burst on replica 0, killed with SIGKILL in the middle: every escalation it confirmed
    // is in the store.
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let http = http.clone();
            let base = replicas[0].server.base.clone();
            tokio::spawn(async move {
                say(
                    &http,
                    &base,
                    &format!("kill{i}"),
                    "requester",
                    "escalate please",
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut replicas = replicas;
    let mut victim = replicas.remove(0);
    let _ = victim.server.child.kill(); // SIGKILL
    let _ = victim.server.child.wait();
    let mut confirmed = Vec::new();
    for s in futures::future::join_all(sends).await {
        let (status, text) = s.expect("task");
        if status == 200 {
            if let Some(id) = case_id(&text) {
                confirmed.push(id);
            }
        }
    }
    let store: Store = Arc::new(
        dbabot::store::postgres::PgStore::connect(&db.url, 2)
            .await
            .expect("pg"),
    );
    let stored: Vec<String> = store
        .list_cases(None)
        .await
        .expect("cases")
        .into_iter()
        .map(|c| c.id)
        .collect();
    for id in &confirmed {
        assert!(stored.contains(id), "{id} was confirmed but is not stored");
    }
    // The survivors keep answering on the same store.
    let (status, text) = say(
        &http,
        &replicas[0].server.base,
        "after-kill",
        "requester",
        "escalate please",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(case_id(&text).is_some(), "{text}");
    drop(replicas);

    // The shared audit chain verifies, from the CLI as an operator would run it.
    drop(victim);
    let cli_dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_dbabot"))
        .args(["audit", "verify"])
        .env("DBABOT_STORE_BACKEND", "postgres")
        .env("DBABOT_STORE_DSN", &db.url)
        .env_remove("DBABOT_CONFIG")
        .env("DBABOT_DATA_DIR", cli_dir.path())
        .current_dir(cli_dir.path())
        .output()
        .expect("run dbabot");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("audit chain intact"), "{text}");
}

use crate::escalation::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_due_reminder_is_posted_once_across_replicas() {
    let db = TestDb::postgres().await;
    let clock = Arc::new(std::sync::atomic::AtomicU64::new(1_800_000_000));
    let outbox = Arc::new(Recorder::default());
    // Three engines, each with its own pool on the same database: three replicas.
    let mut engines = Vec::new();
    let dir = tempfile::tempdir().expect("tmp");
    for _ in 0..3 {
        let store: Store = Arc::new(
            dbabot::store::postgres::PgStore::connect(&db.url, 4)
                .await
                .expect("pg"),
        );
        let mut cfg = dbabot::config::Config::embedded(dir.path().to_path_buf());
        cfg.sections.insert(
            "escalation".into(),
            toml::from_str("destination = { platform = \"test\", workspace = \"T1\", channel = \"CDBA\" }\nsla_minutes = { P4 = 1 }\n").expect("toml"),
        );
        let c = clock.clone();
        let e = dbabot::Engine::try_with_clock(
            cfg,
            dbabot::intents::Catalog::embedded().expect("catalog"),
            Memory::with_store(store),
            Arc::new(dbabot::recommend::RulesRecommender),
            Arc::new(move || c.load(std::sync::atomic::Ordering::SeqCst)),
        )
        .expect("engine");
        e.set_outbox(outbox.clone());
        engines.push(e);
    }
    use dbabot_chat::MessageHandler;
    for i in 0..20 {
        let m = dbabot_chat::InboundMessage::text(
            Platform::Test,
            "T1",
            "C1",
            format!("rem-{i}"),
            dbabot_chat::User {
                id: "U1".into(),
                display_name: "u1".into(),
                groups: vec![],
            },
            "escalate please",
        );
        engines[i % 3].handle(m).await.expect("turn");
    }
    clock.fetch_add(61, std::sync::atomic::Ordering::SeqCst);
    let (a, b, c) = tokio::join!(
        engines[0].run_due_reminders(),
        engines[1].run_due_reminders(),
        engines[2].run_due_reminders()
    );
    assert_eq!(
        a + b + c,
        20,
        "each due reminder posted by exactly one replica"
    );
    let reminders = outbox
        .texts()
        .iter()
        .filter(|t| t.contains("Reminder 1"))
        .count();
    assert_eq!(reminders, 20);
}

#[test]
fn kubernetes_has_a_three_replica_postgres_variant_and_keeps_the_sled_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let read = |p: &str| -> serde_norway::Value {
        serde_norway::from_str(&std::fs::read_to_string(root.join(p)).expect("read")).expect("yaml")
    };
    let base = read("deployment.yaml");
    assert_eq!(
        base["spec"]["replicas"].as_u64(),
        Some(1),
        "sled: one replica"
    );
    assert_eq!(base["spec"]["strategy"]["type"].as_str(), Some("Recreate"));
    let overlay = read("postgres-store/kustomization.yaml");
    assert_eq!(overlay["resources"][0].as_str(), Some(".."));
    let patches = overlay["patches"].as_sequence().expect("patches");
    let deployment_patch = patches
        .iter()
        .find(|p| p["target"]["kind"].as_str() == Some("Deployment"))
        .and_then(|p| p["patch"].as_str())
        .expect("a Deployment patch");
    let ops: serde_norway::Value = serde_norway::from_str(deployment_patch).expect("patch yaml");
    let ops = ops.as_sequence().expect("JSON 6902 ops");
    let op = |path: &str| {
        ops.iter()
            .find(|o| o["path"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("no op on {path}"))
    };
    assert_eq!(op("/spec/replicas")["value"].as_u64(), Some(3));
    assert_eq!(
        op("/spec/strategy")["value"]["type"].as_str(),
        Some("RollingUpdate")
    );
    let env = op("/spec/template/spec/containers/0/env/-");
    assert_eq!(env["value"]["name"].as_str(), Some("DBABOT_STORE_BACKEND"));
    assert_eq!(env["value"]["value"].as_str(), Some("postgres"));
    // The volume replaced is the data volume of the base, and the PVC is removed.
    let volumes = base["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes");
    assert_eq!(volumes[1]["name"].as_str(), Some("data"));
    assert!(patches.iter().any(
        |p| p["target"]["kind"].as_str() == Some("PersistentVolumeClaim")
            && p["patch"]
                .as_str()
                .is_some_and(|t| t.contains("$patch: delete"))
    ));
    // The DSN key the overlay relies on is documented in the example Secret.
    let secret = read("secret.example.yaml");
    assert!(secret["stringData"]["DBABOT_STORE_DSN"].as_str().is_some());
}
