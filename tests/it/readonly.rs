//! The read-only promise, tried as an attacker would (issue 12).
//!
//! The corpus in `tests/readonly/corpus.toml` (wrappers × payloads plus single cases, and the
//! deep/huge inputs generated below) goes through every entry point that can carry SQL — `explain
//! <sql>` in chat, a plain-language "why is this slow: <sql>", and the LLM's `explain` tool — on
//! PostgreSQL, MariaDB and SQLite, with the bot's login deliberately over-privileged (PostgreSQL
//! superuser, MariaDB root on a private server, a writable SQLite file). After every input a write
//! canary is read: row counts and checksums, `pg_stat_user_tables` n_tup_ins/upd/del, sequence
//! values, advisory locks, sessions left in a transaction, new relations, the superuser flag of a
//! role, MariaDB's `Com_*` write counters and the files in its data directory, the SQLite file's
//! hash and directory, and a victim session that must stay alive. Any difference fails the test.

use crate::openai_standin::{Answer, Auth, OpenAiStandIn};
use crate::support::{msg, TestDb};
use dbabot::config::{Config, Engine as DbEngine, Secret, Target};
use dbabot::intents::Catalog;
use dbabot::memory::Memory;
use dbabot::Engine;
use dbabot_chat::{MessageHandler, Reply};
use serde_json::json;
use sqlx::{Connection, Executor, Row};
use std::sync::Arc;

const CORPUS: &str = include_str!("../readonly/corpus.toml");
const SECRET: &str = "canary-secret-";

#[derive(serde::Deserialize)]
struct EngineCorpus {
    payloads: Vec<String>,
    wrappers: Vec<String>,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    sql: String,
}

#[derive(serde::Deserialize)]
struct CorpusFile {
    postgres: EngineCorpus,
    mysql: EngineCorpus,
    sqlite: EngineCorpus,
}

/// Look-alike and control characters that TOML literal strings cannot show plainly.
fn lookalikes(payload: &str) -> Vec<String> {
    [
        "\u{037e}", // Greek question mark, looks like `;`
        "\u{ff1b}", // fullwidth semicolon
        "\u{a0}",   // no-break space
        "\u{200b}", // zero-width space
        "\u{2028}", // line separator
    ]
    .iter()
    .map(|c| format!("SELECT 1{c} {payload}"))
    .chain([
        format!("SELECT 1\0; {payload}"),
        format!("SELECT 1\r; {payload}"),
    ])
    .collect()
}

/// Deep and huge inputs: the 35,000- and 140,000-term sums of issue 12 and friends.
fn deep_inputs() -> Vec<String> {
    vec![
        format!("SELECT {}1", "1+".repeat(35_000)),
        format!("SELECT {}1", "1+".repeat(140_000)),
        format!("SELECT {}1", "1+".repeat(1_900)),
        format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000)),
        format!(
            "SELECT * FROM canary WHERE {}",
            "id = 1 AND ".repeat(990) + "true"
        ),
        format!("SELECT {} 1", "NOT ".repeat(3_000)),
        format!("SELECT '{}'", "x".repeat(300_000)),
    ]
}

fn corpus(engine: DbEngine) -> Vec<String> {
    let file: CorpusFile = toml::from_str(CORPUS).expect("corpus.toml parses");
    let c = match engine {
        DbEngine::Postgres => &file.postgres,
        DbEngine::Mysql => &file.mysql,
        _ => &file.sqlite,
    };
    let mut out: Vec<String> = Vec::new();
    for w in &c.wrappers {
        for p in &c.payloads {
            out.push(w.replace("{P}", p));
        }
    }
    out.extend(c.cases.iter().map(|c| c.sql.clone()));
    for p in c.payloads.iter().take(3) {
        out.extend(lookalikes(p));
    }
    out.extend(deep_inputs());
    out.sort();
    out.dedup();
    out
}

/// The corpus is as broad as issue 12 asks: at least 300 inputs across the three engines.
#[test]
fn corpus_has_at_least_300_inputs() {
    let n: usize = [DbEngine::Postgres, DbEngine::Mysql, DbEngine::Sqlite]
        .into_iter()
        .map(|e| corpus(e).len())
        .sum();
    assert!(n >= 300, "only {n} inputs");
}

fn over_privileged(alias: &str, engine: DbEngine, url: &str) -> Target {
    Target {
        alias: alias.into(),
        aliases: vec![],
        engine,
        environment: "dev".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: Secret::new(url.to_string()),
    }
}

/// A rules engine and an LLM engine (scripted through the stand-in) on the same target, with
/// budgets high enough for the whole corpus.
struct Bots {
    rules: Engine,
    llm: Engine,
    standin: OpenAiStandIn,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

const ACCESS: &str = "default_role = \"admin\"\n[limits]\nper_user_per_minute = 1000000\nper_target_per_minute = 1000000\n";

/// An `openai-compatible` recommender on the stand-in, allowed `per_minute` requests.
fn llm_recommender(
    standin: &OpenAiStandIn,
    per_minute: u32,
) -> dbabot::recommend::llm::LlmRecommender {
    let cfg: toml::Value = toml::from_str(&format!(
        "provider = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"test-model\"\nrequests_per_minute = {per_minute}\n",
        standin.base_url()
    ))
    .expect("llm toml");
    let no_env = |_: &str| None::<String>;
    dbabot::recommend::llm::LlmRecommender::from_config(&cfg, &no_env).expect("llm config")
}

async fn bots(target: Target) -> Bots {
    let standin = OpenAiStandIn::start(Auth::Bearer(None)).await;
    let make = |dir: &tempfile::TempDir, rec: Arc<dyn dbabot::recommend::Recommender>| {
        let mut cfg = Config::embedded(dir.path().to_path_buf());
        cfg.targets = vec![target.clone()];
        cfg.sections
            .insert("access".into(), toml::from_str(ACCESS).expect("access"));
        let memory = Memory::open(&dir.path().join("memory")).expect("memory");
        Engine::new(cfg, Catalog::embedded().expect("catalog"), memory, rec).expect("engine")
    };
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let llm = llm_recommender(&standin, 100_000);
    Bots {
        rules: make(&d1, Arc::new(dbabot::recommend::RulesRecommender)),
        llm: make(&d2, Arc::new(llm)),
        standin,
        _dirs: (d1, d2),
    }
}

async fn ask(e: &Engine, thread: &str, text: &str) -> Reply {
    e.handle(msg(thread, text)).await.expect("turn succeeds")
}

fn final_answer() -> Answer {
    Answer::json(json!({
        "situation": "Checked the plan.",
        "findings": [],
        "root_causes": ["The plan was inspected."],
        "immediate": [{"text": "Review the plan.", "sql": null}],
        "longer_term": [{"text": "Index what the plan scans."}],
        "verify": [{"text": "EXPLAIN again.", "sql": null}]
    }))
}

/// Runs every input through the three entry points, comparing `snapshot()` after each.
async fn run_corpus<F, Fut>(engine: DbEngine, alias: &str, bots: &Bots, snapshot: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let inputs = corpus(engine);
    let baseline = snapshot().await;
    let mut planned = 0usize;
    for (i, sql) in inputs.iter().enumerate() {
        let shown: String = sql.chars().take(120).collect();
        // 1. `explain <sql>` in chat.
        let r = ask(&bots.rules, &format!("x{i}"), &format!("explain {sql}")).await;
        let text = r.plain_text();
        assert!(!text.contains(SECRET), "rows leaked for {shown:?}: {text}");
        if text.contains("Plan (EXPLAIN, not executed)") {
            planned += 1;
        }
        assert_eq!(
            snapshot().await,
            baseline,
            "side effect after explain {shown:?}"
        );
        // 2. Plain language.
        let r = ask(
            &bots.rules,
            &format!("w{i}"),
            &format!("why is this slow on {alias}: {sql}"),
        )
        .await;
        assert!(
            !r.plain_text().contains(SECRET),
            "rows leaked for {shown:?}"
        );
        assert_eq!(
            snapshot().await,
            baseline,
            "side effect after why-slow {shown:?}"
        );
        // 3. The LLM's explain tool, with the SQL as the model's argument.
        let before = bots.standin.received().len();
        bots.standin.script([
            Answer::tool("explain", json!({"sql": sql, "target": alias})),
            final_answer(),
        ]);
        let lr = ask(
            &bots.llm,
            &format!("l{i}"),
            &format!("the canary queries on {alias} are slow, can you look at the plan?"),
        )
        .await;
        let received = bots.standin.received();
        assert!(
            received[before..]
                .iter()
                .any(|r| r.messages().iter().any(|m| m["role"] == "tool")),
            "the LLM's explain tool was not exercised for {shown:?} (input {i}, {} requests): {}",
            received.len() - before,
            lr.plain_text()
        );
        for r in &received[before..] {
            assert!(
                !r.raw.contains(SECRET),
                "rows reached the model for {shown:?}"
            );
        }
        assert_eq!(
            snapshot().await,
            baseline,
            "side effect after LLM tool {shown:?}"
        );
    }
    // Statistics may lag a closed session by a moment: look once more.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(snapshot().await, baseline, "side effect seen late");
    planned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_corpus_leaves_no_trace() {
    let db = TestDb::postgres().await;
    let role = format!("{}_role", db.name);
    {
        let mut c = db.pg().await;
        c.execute(
            format!(
                "CREATE TABLE canary (id int PRIMARY KEY, email text, secret text);
                 INSERT INTO canary SELECT g, 'user' || g || '@example.com', '{SECRET}' || g FROM generate_series(1, 100) g;
                 CREATE SEQUENCE canary_seq;
                 CREATE FUNCTION wipe() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM canary; RETURN 1; END $$;
                 CREATE FUNCTION grab_lock() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END $$;
                 CREATE FUNCTION public.lower(int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_advisory_lock(4243); RETURN 'x'; END $$;
                 CREATE FUNCTION eq3(int, int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_advisory_lock(4244); RETURN true; END $$;
                 CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = eq3);
                 CREATE ROLE {role} NOSUPERUSER;"
            )
            .as_str(),
        )
        .await
        .expect("plant canary");
    }
    let mut victim = sqlx::PgConnection::connect(&format!("{}?application_name=victim", db.url))
        .await
        .expect("victim");
    let url = db.url.clone();
    let dbname = db.name.clone();
    let snapshot = || {
        let (url, dbname, role) = (url.clone(), dbname.clone(), role.clone());
        async move {
            let mut c = sqlx::PgConnection::connect(&url)
                .await
                .expect("canary conn");
            let row = sqlx::query(
                "SELECT (SELECT count(*) FROM canary)::text,
                        (SELECT md5(string_agg(id || email || secret, ',' ORDER BY id)) FROM canary),
                        (SELECT last_value::text || is_called::text FROM canary_seq),
                        (SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text FROM pg_stat_user_tables WHERE relname = 'canary'),
                        (SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)),
                        (SELECT count(*)::text FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'),
                        (SELECT count(*)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'),
                        (SELECT rolsuper::text FROM pg_roles WHERE rolname = $2),
                        (SELECT count(*)::text FROM pg_stat_activity WHERE datname = $1 AND application_name = 'victim')",
            )
            .bind(&dbname)
            .bind(&role)
            .fetch_one(&mut c)
            .await
            .expect("canary read");
            let cols: Vec<String> = (0..9)
                .map(|i| {
                    row.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                })
                .collect();
            let _ = c.close().await;
            format!(
                "{cols:?} pwned_file={}",
                std::path::Path::new("/tmp/dbabot_pwned").exists()
            )
        }
    };
    let bots = bots(over_privileged("canary-pg", DbEngine::Postgres, &db.url)).await;
    let planned = run_corpus(DbEngine::Postgres, "canary-pg", &bots, snapshot).await;
    sqlx::query("SELECT 1")
        .execute(&mut victim)
        .await
        .expect("the victim session is alive");
    // Harmless inputs in the corpus do get planned: the guard is not refusing everything.
    assert!(planned >= 1, "nothing was planned at all");
    if let Ok(mut c) = sqlx::PgConnection::connect(&crate::support::pg_admin_url()).await {
        let _ = c
            .execute(format!("DROP ROLE IF EXISTS {}_role", db.name).as_str())
            .await;
    }
    bots.rules.runner().close().await;
    bots.llm.runner().close().await;
}

fn list_files(dir: &std::path::Path, out: &mut Vec<String>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                list_files(&p, out);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
}

const COM_WRITES: &[&str] = &[
    "COM_DELETE",
    "COM_DELETE_MULTI",
    "COM_UPDATE",
    "COM_UPDATE_MULTI",
    "COM_INSERT",
    "COM_INSERT_SELECT",
    "COM_REPLACE",
    "COM_REPLACE_SELECT",
    "COM_DROP_TABLE",
    "COM_CREATE_TABLE",
    "COM_ALTER_TABLE",
    "COM_TRUNCATE",
    "COM_KILL",
    "COM_GRANT",
    "COM_CREATE_USER",
    "COM_COMMIT",
    "COM_PREPARE_SQL",
    "COM_EXECUTE_SQL",
    "COM_DO",
    "COM_LOAD",
    "COM_CREATE_DB",
    "COM_DROP_DB",
    "COM_CREATE_FUNCTION",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_corpus_leaves_no_trace() {
    let Some(server) = crate::support::PrivateMaria::start(&[]) else {
        panic!("could not start a private MariaDB (mariadb-install-db / mariadbd)");
    };
    let admin = server.url("mysql");
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(c) = sqlx::MySqlConnection::connect(&admin).await {
            ready = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut c = ready.expect("private MariaDB accepts connections");
    for stmt in [
        "CREATE DATABASE canarydb".to_string(),
        "CREATE TABLE canarydb.canary (id int PRIMARY KEY, email varchar(100), secret varchar(100))".into(),
        format!("INSERT INTO canarydb.canary SELECT seq, concat('user', seq, '@example.com'), concat('{SECRET}', seq) FROM seq_1_to_100"),
        "CREATE SEQUENCE canarydb.canary_seq".into(),
        "CREATE FUNCTION canarydb.canary_db_fn() RETURNS int MODIFIES SQL DATA BEGIN DELETE FROM canarydb.canary; RETURN 1; END".into(),
    ] {
        sqlx::raw_sql(&stmt).execute(&mut c).await.expect("plant canary");
    }
    let url = server.url("canarydb");
    let mut victim = sqlx::MySqlConnection::connect(&url).await.expect("victim");
    let datadir: String = sqlx::query_scalar("SELECT @@datadir")
        .fetch_one(&mut c)
        .await
        .expect("datadir");
    let snapshot = || {
        let (admin, datadir) = (admin.clone(), datadir.clone());
        async move {
            let mut c = sqlx::MySqlConnection::connect(&admin)
                .await
                .expect("canary conn");
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM canarydb.canary")
                .fetch_one(&mut c)
                .await
                .unwrap_or(-1);
            let sum: String = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(CRC32(CONCAT(id, email, secret))), 0) AS CHAR) FROM canarydb.canary",
            )
            .fetch_one(&mut c)
            .await
            .unwrap_or_default();
            let tables: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'canarydb'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap_or(-1);
            let users: i64 = sqlx::query_scalar("SELECT count(*) FROM mysql.global_priv")
                .fetch_one(&mut c)
                .await
                .unwrap_or(-1);
            let list = COM_WRITES
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&format!(
                "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ({list}) ORDER BY 1"
            ))
            .fetch_all(&mut c)
            .await
            .unwrap_or_default();
            let counters: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{}={}",
                        r.try_get::<String, _>(0).unwrap_or_default(),
                        r.try_get::<String, _>(1).unwrap_or_default()
                    )
                })
                .collect();
            let _ = c.close().await;
            let mut files = Vec::new();
            list_files(
                std::path::Path::new(&datadir).join("canarydb").as_path(),
                &mut files,
            );
            files.sort();
            format!("count={count} sum={sum} tables={tables} users={users} {counters:?} files={files:?}")
        }
    };
    let bots = bots(over_privileged("canary-maria", DbEngine::Mysql, &url)).await;
    let planned = run_corpus(DbEngine::Mysql, "canary-maria", &bots, snapshot).await;
    sqlx::query("SELECT 1")
        .execute(&mut victim)
        .await
        .expect("the victim session is alive");
    assert!(planned >= 1, "nothing was planned at all");
    bots.rules.runner().close().await;
    bots.llm.runner().close().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_corpus_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("canary.db");
    {
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("create sqlite");
        c.execute(
            format!(
                "CREATE TABLE canary (id INTEGER PRIMARY KEY, email TEXT, secret TEXT);
                 WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100)
                 INSERT INTO canary SELECT n, 'user' || n || '@example.com', '{SECRET}' || n FROM g;"
            )
            .as_str(),
        )
        .await
        .expect("plant canary");
        let _ = c.close().await;
    }
    let d = dir.path().to_path_buf();
    let snapshot = || {
        let d = d.clone();
        async move {
            use sha2::Digest;
            let bytes = std::fs::read(d.join("canary.db")).unwrap_or_default();
            let mut files = Vec::new();
            list_files(&d, &mut files);
            files.sort();
            format!("{} {files:?}", hex::encode(sha2::Sha256::digest(&bytes)))
        }
    };
    // The target file is writable: the bot's own read-only opening is what must hold.
    let bots = bots(over_privileged(
        "canary-lite",
        DbEngine::Sqlite,
        &format!("sqlite://{}", path.display()),
    ))
    .await;
    let planned = run_corpus(DbEngine::Sqlite, "canary-lite", &bots, snapshot).await;
    assert!(planned >= 1, "nothing was planned at all");
    bots.rules.runner().close().await;
    bots.llm.runner().close().await;
}

/// Issue 12: an LLM tool call is the user's request — it leaves an audit record and is denied
/// once the user's per-minute budget is spent, exactly like the user's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_tool_calls_are_audited_and_budgeted() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let standin = OpenAiStandIn::start(Auth::Bearer(None)).await;
    let mut cfg = Config::embedded(dir.path().to_path_buf());
    cfg.targets = vec![demo];
    cfg.sections.insert(
        "access".into(),
        toml::from_str(
            "default_role = \"admin\"\n[limits]\nper_user_per_minute = 2\nper_target_per_minute = 100\n",
        )
        .expect("access"),
    );
    let llm = llm_recommender(&standin, 20);
    let memory = Memory::open(&dir.path().join("memory")).expect("memory");
    let engine = Engine::new(
        cfg,
        Catalog::embedded().expect("catalog"),
        memory,
        Arc::new(llm),
    )
    .expect("engine");
    let checks = dbabot::diagnostics::catalog::names(DbEngine::Sqlite);
    let (a, b) = (checks[checks.len() - 1], checks[checks.len() - 2]);
    standin.script([
        Answer::tool("run_check", json!({"check": a, "target": "demo"})),
        Answer::tool("run_check", json!({"check": b, "target": "demo"})),
        Answer::tool(
            "explain",
            json!({"sql": "SELECT * FROM orders WHERE id = 1", "target": "demo"}),
        ),
        final_answer(),
    ]);
    let _ = ask(
        &engine,
        "budget-1",
        "queries on events are slow on demo, why?",
    )
    .await;
    let records = engine.audit().records(None, None).await.expect("audit");
    // A tool call for a check the turn already ran is answered from its results (no database
    // work, no budget); every other call takes from the budget like the user's own.
    let llm_runs: Vec<_> = records
        .iter()
        .filter(|r| r.action == "llm_diagnostic")
        .collect();
    assert_eq!(
        llm_runs.len(),
        1,
        "one LLM tool call fits the budget: {records:#?}"
    );
    assert!([a, b].contains(&llm_runs[0].check.as_str()));
    assert!(
        records
            .iter()
            .any(|r| r.action == "denial" && r.check.starts_with("explain")),
        "the EXPLAIN past the budget is denied and audited: {records:#?}"
    );
    assert!(
        !records.iter().any(|r| r.action == "llm_explain"),
        "the denied EXPLAIN never ran: {records:#?}"
    );
    // The model was told why.
    let tool_texts: Vec<String> = standin
        .received()
        .iter()
        .flat_map(|r| r.messages())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].to_string())
        .collect();
    assert!(
        tool_texts
            .iter()
            .any(|t| t.contains("diagnostic runs for this minute")),
        "{tool_texts:#?}"
    );
    engine.runner().close().await;
}
