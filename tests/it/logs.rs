//! Log analysis on REAL logs: a private PostgreSQL cluster (stderr + csvlog + jsonlog, every
//! statement logged, lock waits logged) and a private MariaDB (slow log at long_query_time = 0
//! and the general log) run a known workload; the analysis must find exactly what was run.

use dbabot::logs::{self, Analysis, Format, Input, Options};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{PrivatePg, PREFIX};

/// The workload whose traces the analysis must find. Returns nothing: the counts are the
/// constants asserted below.
async fn pg_workload(url: &str) {
    let mut a = sqlx::PgConnection::connect(url).await.expect("connect");
    let mut b = sqlx::PgConnection::connect(url).await.expect("connect");
    a.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        .await
        .expect("create");
    a.execute("INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 100) g")
        .await
        .expect("fill");
    // 25 executions of one prepared statement (extended protocol: parse/bind/execute).
    for id in 0..25 {
        let _: (i32,) = sqlx::query_as("SELECT balance FROM accounts WHERE id = $1")
            .bind(id % 100 + 1)
            .fetch_one(&mut a)
            .await
            .expect("select");
    }
    // 10 simple-protocol statements with different literals: one fingerprint.
    for id in 0..10 {
        a.execute(
            format!(
                "UPDATE accounts SET balance = balance + 1 WHERE id = {}",
                id + 10
            )
            .as_str(),
        )
        .await
        .expect("update");
    }
    // Errors: 3 × 42P01, 2 × 22012, 1 × 23505.
    for _ in 0..3 {
        assert!(a.execute("SELECT * FROM no_such_table").await.is_err());
    }
    for _ in 0..2 {
        assert!(a.execute("SELECT 1 / 0").await.is_err());
    }
    assert!(a
        .execute("INSERT INTO accounts VALUES (1, 0)")
        .await
        .is_err());
    // A sort that spills to a temporary file (work_mem = 64kB).
    a.execute(
        "SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s",
    )
    .await
    .expect("sort");
    // A lock wait longer than deadlock_timeout.
    a.execute("BEGIN").await.expect("begin");
    a.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        .await
        .expect("lock row 1");
    let url2 = url.to_string();
    let waiter = tokio::spawn(async move {
        let mut c = sqlx::PgConnection::connect(&url2).await.expect("connect");
        c.execute("UPDATE accounts SET balance = 5 WHERE id = 1")
            .await
            .expect("waits, then updates");
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.execute("COMMIT").await.expect("commit");
    waiter.await.expect("waiter");
    // A deadlock between a and b.
    a.execute("BEGIN").await.expect("begin");
    b.execute("BEGIN").await.expect("begin");
    a.execute("UPDATE accounts SET balance = 1 WHERE id = 2")
        .await
        .expect("a locks 2");
    b.execute("UPDATE accounts SET balance = 1 WHERE id = 3")
        .await
        .expect("b locks 3");
    let a_task = tokio::spawn(async move {
        let r = a
            .execute("UPDATE accounts SET balance = 2 WHERE id = 3")
            .await;
        (a, r.is_ok())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_ok = b
        .execute("UPDATE accounts SET balance = 2 WHERE id = 2")
        .await
        .is_ok();
    let (mut a, a_ok) = a_task.await.expect("a task");
    assert!(a_ok != b_ok, "exactly one side of the deadlock fails");
    a.execute("ROLLBACK").await.expect("rollback a");
    b.execute("ROLLBACK").await.expect("rollback b");
    a.execute("CHECKPOINT").await.expect("checkpoint");
    a.close().await.ok();
    b.close().await.ok();
}

fn analyse(path: &Path, format: Option<Format>) -> Analysis {
    logs::analyze(
        vec![Input::Path(path.to_path_buf())],
        &Options {
            format,
            ..Options::default()
        },
        None,
    )
    .unwrap_or_else(|e| panic!("analysing {}: {e}", path.display()))
}

fn error_count(a: &Analysis, code: &str) -> u64 {
    a.agg
        .errors
        .values()
        .filter(|g| g.code == code)
        .map(|g| g.count)
        .sum()
}

fn assert_pg_workload(a: &Analysis, what: &str) {
    let q = &a.agg.queries;
    let select = q
        .get("select balance from accounts where id = $1")
        .unwrap_or_else(|| panic!("{what}: prepared select missing; have {:?}", q.keys()));
    assert_eq!(select.calls, 25, "{what}: prepared select calls");
    let update = q
        .get("update accounts set balance = balance + $1 where id = $2")
        .unwrap_or_else(|| panic!("{what}: update missing; have {:?}", q.keys()));
    assert_eq!(update.calls, 10, "{what}: update calls");
    assert!(update.total_ms > 0.0 && update.max_ms >= update.min_ms);
    assert_eq!(error_count(a, "42P01"), 3, "{what}: 42P01");
    assert_eq!(error_count(a, "22012"), 2, "{what}: 22012");
    assert_eq!(error_count(a, "23505"), 1, "{what}: 23505");
    assert_eq!(error_count(a, "40P01"), 1, "{what}: 40P01");
    assert_eq!(a.agg.locks.deadlocks, 1, "{what}: deadlocks");
    let dl = &a.agg.locks.deadlock_samples[0];
    assert!(
        dl.statements
            .iter()
            .all(|s| s == "update accounts set balance = $1 where id = $2"),
        "{what}: deadlock statements {:?}",
        dl.statements
    );
    assert_eq!(dl.statements.len(), 2, "{what}: both processes' statements");
    assert!(
        a.agg.locks.waits >= 2,
        "{what}: lock waits {}",
        a.agg.locks.waits
    );
    assert!(
        a.agg
            .locks
            .wait_samples
            .iter()
            .any(|w| w.statement.as_deref()
                == Some("update accounts set balance = $1 where id = $2")
                && w.what.contains("ShareLock on transaction")),
        "{what}: lock wait with its statement: {:?}",
        a.agg.locks.wait_samples
    );
    assert!(a.agg.temp_files >= 1, "{what}: temporary files");
    assert!(a.agg.temp_bytes > 64 * 1024, "{what}: temp bytes");
    assert!(
        a.agg
            .checkpoints
            .starting
            .keys()
            .any(|k| k.contains("immediate")),
        "{what}: the CHECKPOINT: {:?}",
        a.agg.checkpoints.starting
    );
    assert!(a.agg.connections.authorized >= 3, "{what}: connections");
    assert_eq!(
        a.agg.bad_lines, 0,
        "{what}: lines not understood, first {:?}",
        a.agg.first_bad
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stderr_csvlog_and_jsonlog_show_exactly_the_workload() {
    let mut pg = PrivatePg::start();
    pg_workload(&pg.url()).await;
    pg.stop();

    let stderr = analyse(&pg.log("log"), None);
    assert_eq!(stderr.inputs[0].format, Format::PgStderr);
    assert_eq!(stderr.inputs[0].prefix.as_deref(), Some(PREFIX));
    assert_pg_workload(&stderr, "stderr");
    // Without %e the SQLSTATEs come from the message text, and say so.
    assert!(stderr.agg.errors.values().all(|g| g.inferred));

    let csv = analyse(&pg.log("csv"), None);
    assert_eq!(csv.inputs[0].format, Format::Csvlog);
    assert_pg_workload(&csv, "csvlog");
    assert!(csv.agg.errors.values().all(|g| !g.inferred));

    let json = analyse(&pg.log("json"), None);
    assert_eq!(json.inputs[0].format, Format::Jsonlog);
    assert_pg_workload(&json, "jsonlog");

    // The three formats agree on every fingerprint's calls.
    for (fp, s) in &stderr.agg.queries {
        assert_eq!(
            csv.agg.queries.get(fp).map(|c| c.calls),
            Some(s.calls),
            "{fp}"
        );
        assert_eq!(
            json.agg.queries.get(fp).map(|c| c.calls),
            Some(s.calls),
            "{fp}"
        );
    }

    // gzip, several files at once, and the given prefix give the same totals.
    let gz = pg.dir.path().join("pg.log.gz");
    {
        use std::io::Write as _;
        let raw = std::fs::read(pg.log("log")).expect("read log");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::fast(),
        );
        enc.write_all(&raw).expect("gzip");
        enc.finish().expect("gzip finish");
    }
    let both = logs::analyze(
        vec![Input::Path(gz.clone()), Input::Path(pg.log("log"))],
        &Options {
            prefix: Some(PREFIX.into()),
            threads: 3,
            ..Options::default()
        },
        None,
    )
    .expect("gz + plain");
    assert!(both.inputs[0].compressed);
    assert_eq!(
        both.agg.queries["select balance from accounts where id = $1"].calls,
        50
    );
    assert_eq!(error_count(&both, "42P01"), 6);

    // Many chunks (the copies exceed one 4 MiB chunk several times), cut on record
    // boundaries and parsed on several threads, lose or double nothing.
    let raw = std::fs::read(pg.log("log")).expect("read log");
    let copies = (3 * logs::reader::CHUNK_BYTES / raw.len().max(1)).max(2) + 1;
    let big = pg.dir.path().join("big.log");
    std::fs::write(&big, raw.repeat(copies)).expect("write big log");
    let many = logs::analyze(
        vec![Input::Path(big)],
        &Options {
            threads: 2,
            ..Options::default()
        },
        None,
    )
    .expect("big");
    let n = copies as u64;
    assert_eq!(
        many.agg.queries["select balance from accounts where id = $1"].calls,
        25 * n
    );
    assert_eq!(error_count(&many, "42P01"), 3 * n);
    assert_eq!(many.agg.locks.deadlocks, n);
    assert_eq!(many.agg.locks.deadlock_samples[0].statements.len(), 2);
    assert_eq!(many.agg.bad_lines, 0, "{:?}", many.agg.first_bad);

    // The CLI: reply, CSV files and PNG charts.
    let out_dir = pg.dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_dbabot"))
        .args(["logs", "analyze"])
        .arg(pg.log("log"))
        .arg("--csv")
        .arg(out_dir.join("csv"))
        .arg("--charts")
        .arg(out_dir.join("charts"))
        .args(["--top", "5"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run dbabot logs analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Top statements by total time"), "{text}");
    assert!(text.contains("40P01"), "{text}");
    assert!(text.contains("Lock waits"), "{text}");
    assert!(text.contains("timeline.png"), "{text}");
    // Literals never reach the reply: the 23505 statement's value and the updates' ids.
    assert!(
        !text.contains("INSERT INTO accounts VALUES (1, 0)"),
        "{text}"
    );
    let csv_text = std::fs::read_to_string(out_dir.join("csv/statements.csv")).expect("csv");
    assert!(csv_text.contains("select balance from accounts where id = $1"));
    for png in ["timeline.png", "top_statements.png"] {
        let bytes = std::fs::read(out_dir.join("charts").join(png)).expect("png");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png} is a PNG");
        assert!(
            bytes.len() > 5_000,
            "{png} has content ({} bytes)",
            bytes.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_slow_and_general_logs_show_exactly_the_workload() {
    // Every statement in the slow log and the general log.
    let logs = tempfile::tempdir().expect("tempdir");
    let slow_log = logs.path().join("slow.log");
    let general_log = logs.path().join("general.log");
    let maria = crate::support::PrivateMaria::start(&[
        "--slow-query-log=1".to_string(),
        format!("--slow-query-log-file={}", slow_log.display()),
        "--long-query-time=0".to_string(),
        "--general-log=1".to_string(),
        format!("--general-log-file={}", general_log.display()),
    ])
    .expect("start a private MariaDB (mariadb-install-db / mariadbd)");
    let url = format!("mysql://root@127.0.0.1:{}/mysql", maria.port);
    let mut c = None;
    for _ in 0..60 {
        if let Ok(conn) = sqlx::MySqlConnection::connect(&url).await {
            c = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut c = c.expect("private MariaDB accepts connections");
    c.execute("CREATE DATABASE shop").await.expect("db");
    c.execute("CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(20))")
        .await
        .expect("table");
    c.execute("INSERT INTO shop.items VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')")
        .await
        .expect("fill");
    for i in 0..20 {
        c.execute(format!("SELECT v FROM shop.items WHERE id = {}", i % 4 + 1).as_str())
            .await
            .expect("select");
    }
    for n in 1..=7 {
        let list: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        c.execute(
            format!(
                "SELECT count(*) FROM shop.items WHERE id IN ({})",
                list.join(", ")
            )
            .as_str(),
        )
        .await
        .expect("select in");
    }
    c.close().await.ok();
    // The server writes each entry when the statement ends; give the file system a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let slow = analyse(&slow_log, None);
    assert_eq!(slow.inputs[0].format, Format::MysqlSlow);
    let q = &slow.agg.queries;
    let point = q
        .get("select v from shop.items where id = ?")
        .unwrap_or_else(|| panic!("point select missing: {:?}", q.keys()));
    assert_eq!(point.calls, 20);
    assert_eq!(point.rows, 20, "one row sent per call");
    // IN lists of any length fold into one pt-query-digest fingerprint.
    let inlist = &q["select count(*) from shop.items where id in(?+)"];
    assert_eq!(inlist.calls, 7);
    assert_eq!(
        slow.agg.bad_lines, 0,
        "slow log lines not understood, first {:?}",
        slow.agg.first_bad
    );
    let worst = point.worst.as_ref().expect("worst sample");
    assert!(worst.ts_ms.is_some());

    let general = analyse(&general_log, None);
    assert_eq!(general.inputs[0].format, Format::MysqlGeneral);
    assert_eq!(
        general.agg.queries["select v from shop.items where id = ?"].calls,
        20
    );
    assert!(general.agg.connections.authorized >= 1);
    assert_eq!(
        general.agg.bad_lines, 0,
        "general log lines not understood, first {:?}",
        general.agg.first_bad
    );
}

#[test]
fn bad_input_is_counted_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("mixed.log");
    let mut data = Vec::new();
    data.extend_from_slice(
        b"2024-01-31 12:00:00.000 UTC [1] LOG:  duration: 1.000 ms  statement: SELECT 1\n",
    );
    data.extend_from_slice(&[0u8, 159, 146, 150, b'\n']);
    // A huge single line (8 MiB, no newline inside) and a truncated last line.
    data.extend(std::iter::repeat_n(b'x', 8 * 1024 * 1024));
    data.push(b'\n');
    data.extend_from_slice(
        b"2024-01-31 12:00:01.000 UTC [1] LOG:  duration: 2.000 ms  statement: SELECT 2\n",
    );
    data.extend_from_slice(b"2024-01-31 12:00:02.000 UTC [1] LOG:  duration: 3.0");
    std::fs::write(&p, &data).expect("write");
    let a = analyse(&p, None);
    assert_eq!(a.agg.queries["select $1"].calls, 2);
    assert_eq!(a.agg.bad_lines, 3, "binary, huge and truncated lines");
    assert_eq!(a.agg.first_bad, Some((0, 2)));
    let reply = logs::report::reply(
        &a,
        10,
        &logs::report::Outputs::default(),
        &dbabot::diagnostics::Thresholds::embedded(),
    );
    assert!(reply
        .plain_text()
        .contains("3 lines not understood (first at line 2 of"));

    // The size limit.
    let err = logs::analyze(
        vec![Input::Path(p.clone())],
        &Options {
            max_bytes: 1024,
            ..Options::default()
        },
        None,
    )
    .expect_err("over the limit");
    assert!(
        err.to_string().contains("over the limit of 1024 bytes"),
        "{err}"
    );
    // A wrong prefix makes every line not understood rather than failing.
    let a = logs::analyze(
        vec![Input::Path(p)],
        &Options {
            prefix: Some("%t:%r:%u@%d:[%p]:".into()),
            ..Options::default()
        },
        None,
    )
    .expect("analyse");
    assert_eq!(a.agg.total_calls(), 0);
    assert_eq!(a.agg.bad_lines, a.agg.lines);
}

/// A stand-in for a platform's download: copies a local file (the Slack and Discord fetchers
/// do the same from their URLs).
struct CopyFetcher(PathBuf);

#[async_trait::async_trait]
impl dbabot_chat::AttachmentFetcher for CopyFetcher {
    async fn fetch(
        &self,
        _a: &dbabot_chat::Attachment,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, dbabot_chat::FetchError> {
        let n =
            tokio::fs::copy(&self.0, dest)
                .await
                .map_err(|e| dbabot_chat::FetchError::Failed {
                    name: "x".into(),
                    message: e.to_string(),
                })?;
        assert!(n <= max_bytes);
        Ok(n)
    }
}

fn today_at(h: i64, m: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let day = now.div_euclid(86_400_000) * 86_400_000;
    logs::time::format_ms(day + (h * 60 + m) * 60_000)
}

fn synthetic_log(dir: &Path) -> PathBuf {
    let p = dir.join("synthetic.log");
    let mut s = String::new();
    for (t, ms, sql) in [
        (today_at(2, 10), 12.5, "SELECT * FROM orders WHERE id = 42"),
        (today_at(2, 20), 7.5, "SELECT * FROM orders WHERE id = 43"),
        (
            today_at(4, 0),
            900.0,
            "DELETE FROM sessions WHERE expires < now()",
        ),
    ] {
        s.push_str(&format!(
            "{t}.000 UTC [77] app@shop LOG:  duration: {ms:.3} ms  statement: {sql}\n"
        ));
    }
    s.push_str(&format!(
        "{}.000 UTC [78] app@shop ERROR:  relation \"nope\" does not exist\n",
        today_at(2, 30)
    ));
    std::fs::write(&p, s).expect("write synthetic log");
    p
}

fn user_msg(platform: dbabot_chat::Platform, text: &str) -> dbabot_chat::InboundMessage {
    dbabot_chat::InboundMessage::text(
        platform,
        "T1",
        "C1",
        "logs-thread",
        dbabot_chat::User {
            id: "U1".into(),
            display_name: "Dana Dev".into(),
            groups: vec![],
        },
        text,
    )
}

#[tokio::test]
async fn the_engine_analyses_console_paths_shared_files_and_target_logs() {
    use dbabot_chat::{Attachment, AttachmentBody, MessageHandler, Part, Platform};
    let dir = tempfile::tempdir().expect("tempdir");
    let log = synthetic_log(dir.path());
    let target = dbabot::demo::ensure(dir.path()).await.expect("demo db");
    let alias = target.alias.clone();
    let mut cfg = dbabot::config::Config::embedded(dir.path().to_path_buf());
    cfg.targets = vec![target];
    // Set directly: the config loader only accepts paths under LOG_DIRS (tested in config).
    cfg.log_paths.insert(alias.to_lowercase(), log.clone());
    let engine = dbabot::Engine::new(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        dbabot::memory::Memory::open(&dir.path().join("memory")).expect("memory"),
        std::sync::Arc::new(dbabot::recommend::RulesRecommender),
    )
    .expect("engine");

    // Console: a path typed by the console user.
    let text = format!("analyze log {}", log.display());
    let r = engine
        .handle(user_msg(Platform::Console, &text))
        .await
        .expect("turn");
    assert_eq!(r.intent.as_deref(), Some("log_analysis"));
    let plain = r.plain_text();
    assert!(plain.contains("Top statements by total time"), "{plain}");
    assert!(
        plain.contains("select * from orders where id = $1"),
        "{plain}"
    );
    assert!(plain.contains("42P01"), "{plain}");
    assert!(
        !plain.contains("id = 42"),
        "literals stay out of chat: {plain}"
    );
    let charts: Vec<&str> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Attachment(Attachment {
                body: AttachmentBody::File(f),
                ..
            }) => Some(f.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(charts.len(), 2, "{charts:?}");
    assert!(charts.iter().all(|c| Path::new(c).exists()));

    // The same request from Slack: no paths off the console.
    let r = engine
        .handle(user_msg(Platform::Slack, &text))
        .await
        .expect("turn");
    assert!(
        r.plain_text().contains("only in the console"),
        "{}",
        r.plain_text()
    );

    // A file shared on Discord, fetched by the adapter's fetcher.
    engine.set_fetcher(
        Platform::Discord,
        std::sync::Arc::new(CopyFetcher(log.clone())),
    );
    let mut m = user_msg(Platform::Discord, "");
    m.attachments.push(Attachment {
        name: "postgresql.log".into(),
        content_type: "text/plain".into(),
        body: AttachmentBody::Remote {
            url: "https://cdn.discordapp.com/attachments/1/2/postgresql.log".into(),
            size: Some(400),
        },
    });
    let r = engine.handle(m).await.expect("turn");
    assert!(
        r.plain_text()
            .contains("3 timed statements in 2 fingerprints"),
        "{}",
        r.plain_text()
    );

    // Teams: plainly no files.
    let r = engine
        .handle(user_msg(Platform::Teams, "can you analyze this log?"))
        .await
        .expect("turn");
    assert!(
        r.plain_text()
            .contains("outgoing webhooks do not deliver files"),
        "{}",
        r.plain_text()
    );

    // A target's configured log, for a window.
    let r = engine
        .handle(user_msg(
            Platform::Slack,
            &format!("what happened on {alias} today between 02:00 and 03:00?"),
        ))
        .await
        .expect("turn");
    let plain = r.plain_text();
    assert!(
        plain.contains("2 timed statements in 1 fingerprints"),
        "{plain}"
    );
    assert!(
        plain.contains("1 events outside the requested window"),
        "{plain}"
    );
    assert!(!plain.contains("delete from sessions"), "{plain}");

    // Nothing to read (no file, no path, no target with a log): the log_analysis intent
    // (intents/log-analysis.toml) says how to give the bot a log.
    let mut m = user_msg(
        Platform::Slack,
        "can you go through our postgres logs from last night",
    );
    m.thread = "logs-howto".into();
    let r = engine.handle(m).await.expect("turn");
    assert_eq!(
        r.intent.as_deref(),
        Some("log_analysis"),
        "{}",
        r.plain_text()
    );
    assert!(
        r.plain_text().contains("share the log file in this thread"),
        "{}",
        r.plain_text()
    );
}

fn peer_installed(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // CI installs the peers (.ci/run): there, a missing peer is a failure, not a skip.
    assert!(
        found || std::env::var_os("CI").is_none(),
        "{tool} is not installed but CI is set"
    );
    found
}

/// Our top 20 (by total time) against a peer's (calls, total ms) per shape key.
fn assert_agree(ours: &Analysis, peer: &std::collections::HashMap<String, (u64, f64)>, name: &str) {
    let top = ours.agg.top();
    assert!(top.len() >= 20, "at least 20 fingerprints");
    for (fp, s) in top.iter().take(20) {
        let key = logs::generate::shape_key(fp);
        let (calls, total) = peer
            .get(&key)
            .unwrap_or_else(|| panic!("{name} has no entry for `{fp}`"));
        let rel = |a: f64, b: f64| (a - b).abs() / b.max(1e-9);
        assert!(
            rel(s.calls as f64, *calls as f64) <= 0.01,
            "{name}: `{fp}` calls {} vs {calls}",
            s.calls
        );
        assert!(
            rel(s.total_ms, *total) <= 0.01,
            "{name}: `{fp}` total {:.3} ms vs {total:.3} ms",
            s.total_ms
        );
    }
}

#[test]
fn top_fingerprints_agree_with_pgbadger_and_pt_query_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (n, shapes) = (30_000, 300);
    let pg = dir.path().join("pg.log");
    let slow = dir.path().join("slow.log");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&pg).expect("create"));
        logs::generate::pg_stderr(&mut w, n, shapes, 42).expect("generate");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&slow).expect("create"));
        logs::generate::mysql_slow(&mut w, n, shapes, 42).expect("generate");
    }
    let ours_pg = analyse(&pg, None);
    let ours_my = analyse(&slow, None);
    assert_eq!(ours_pg.agg.total_calls(), n as u64);
    assert_eq!(ours_my.agg.total_calls(), n as u64);

    if peer_installed("pgbadger") {
        let out = dir.path().join("pgbadger.json");
        let st = Command::new("pgbadger")
            .args(["-j", "1", "-q", "--prefix", "%m [%p] %q%u@%d ", "-o"])
            .arg(&out)
            .arg(&pg)
            .status()
            .expect("run pgbadger");
        assert!(st.success(), "pgbadger failed");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).expect("pgbadger json")).expect("json");
        let mut peer = std::collections::HashMap::new();
        for (_db, queries) in v["normalyzed_info"].as_object().expect("normalyzed_info") {
            for (q, e) in queries.as_object().expect("queries") {
                let count = e["count"].as_u64().unwrap_or(0);
                let ms = e["duration"].as_f64().unwrap_or(0.0);
                let slot = peer
                    .entry(logs::generate::shape_key(q))
                    .or_insert((0u64, 0f64));
                slot.0 += count;
                slot.1 += ms;
            }
        }
        assert_agree(&ours_pg, &peer, "pgbadger");
    }
    if peer_installed("pt-query-digest") {
        let out = Command::new("pt-query-digest")
            .args(["--output", "json", "--limit", "100"])
            .arg(&slow)
            .output()
            .expect("run pt-query-digest");
        assert!(out.status.success(), "pt-query-digest failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut peer = std::collections::HashMap::new();
        for c in v["classes"].as_array().expect("classes") {
            let fp = c["fingerprint"].as_str().unwrap_or("");
            let count = c["query_count"].as_u64().unwrap_or(0);
            let secs: f64 = c["metrics"]["Query_time"]["sum"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            let slot = peer
                .entry(logs::generate::shape_key(fp))
                .or_insert((0u64, 0f64));
            slot.0 += count;
            slot.1 += secs * 1000.0;
        }
        assert_agree(&ours_my, &peer, "pt-query-digest");
    }
}

/// `dbabot chat` over pipes: "analyze log PATH" on a multi-MB log prints progress lines before
/// the answer.
#[test]
fn the_console_prints_progress_for_a_multi_mb_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("big.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&log).expect("create"));
    logs::generate::pg_stderr(&mut f, 70_000, 200, 3).expect("generate");
    drop(f);
    assert!(std::fs::metadata(&log).expect("meta").len() > 9 * 1024 * 1024);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbabot"))
        .arg("chat")
        .env("DBABOT_DATA_DIR", dir.path())
        .env_remove("DBABOT_CONFIG")
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dbabot");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("analyze log {}\n", log.display()).as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let progress: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Analysing big.log… ") && l.ends_with('%'))
        .collect();
    assert!(!progress.is_empty(), "{stdout}");
    let answer = stdout
        .find("Top statements by total time")
        .expect("the answer");
    let first = stdout.find("Analysing big.log… ").expect("progress");
    assert!(first < answer, "progress comes before the answer: {stdout}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A real cluster with auto_explain (every statement's plan logged) whose `log_timezone` is a
/// named zone, changed mid-run from Europe/Berlin (CET, in the built-in table) to Asia/Kolkata
/// (IST, ambiguous: needs the zone): plans are attached to their fingerprints, and every
/// timestamp lands at the true UTC instant in stderr, csvlog and jsonlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_explain_plans_and_named_log_timezones_in_a_real_log() {
    let mut pg = PrivatePg::start_with(
        "shared_preload_libraries = 'auto_explain'\nauto_explain.log_min_duration = 0\n\
         log_timezone = 'Europe/Berlin'\n",
    );
    let before = now_ms();
    let mut c = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect");
    for sql in [
        "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)",
        "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 2000) g",
        "ANALYZE items",
    ] {
        c.execute(sql).await.expect(sql);
    }
    for id in 1..=7 {
        c.execute(format!("SELECT v FROM items WHERE id = {id}").as_str())
            .await
            .expect("select by id");
    }
    for sql in [
        "ALTER SYSTEM SET log_timezone = 'Asia/Kolkata'",
        "SELECT pg_reload_conf()",
    ] {
        c.execute(sql).await.expect(sql);
    }
    c.close().await.ok();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut c = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect");
    let tz: (String,) = sqlx::query_as("SELECT current_setting('log_timezone')")
        .fetch_one(&mut c)
        .await
        .expect("log_timezone");
    assert_eq!(tz.0, "Asia/Kolkata");
    for i in 0..5 {
        c.execute(format!("SELECT count(*) FROM items WHERE v = 'x{i}'").as_str())
            .await
            .expect("count");
    }
    // The top statement by total time, whatever the machine's load (DDL has no plan).
    c.execute("SELECT pg_sleep(0.5)").await.expect("sleep");
    c.close().await.ok();
    let after = now_ms();
    pg.stop();

    let by_id = "select v from items where id = $1";
    let count = "select count(*) from items where v = $1";
    let stderr = std::fs::read_to_string(pg.log("log")).expect("log");
    assert!(stderr.contains(" CET ["), "Berlin lines carry CET");
    assert!(stderr.contains(" IST ["), "Kolkata lines carry IST");
    for (ext, format) in [
        ("log", Format::PgStderr),
        ("csv", Format::Csvlog),
        ("json", Format::Jsonlog),
    ] {
        let a = logs::analyze(
            vec![Input::Path(pg.log(ext))],
            &Options {
                format: Some(format),
                timezone: Some("Asia/Kolkata".into()),
                ..Options::default()
            },
            None,
        )
        .expect("analyse");
        let q = &a.agg.queries;
        let s = q
            .get(by_id)
            .unwrap_or_else(|| panic!("{ext}: {:?}", q.keys()));
        assert_eq!(
            (s.calls, s.plans),
            (7, 7),
            "{ext}: one call and one plan each"
        );
        let plan = s.worst_plan.as_deref().expect("a plan");
        assert!(
            plan.contains("Index Scan using items_pkey on items"),
            "{ext}: {plan}"
        );
        assert!(
            !plan.contains("id = 7") && !plan.contains("id = 3"),
            "{ext}: literals redacted: {plan}"
        );
        let s2 = q
            .get(count)
            .unwrap_or_else(|| panic!("{ext}: {:?}", q.keys()));
        assert_eq!((s2.calls, s2.plans), (5, 5), "{ext}");
        assert!(
            s2.worst_plan
                .as_deref()
                .is_some_and(|p| p.contains("Seq Scan on items")),
            "{ext}"
        );
        for (name, st) in [(by_id, s), (count, s2)] {
            for t in [st.first_ms, st.last_ms] {
                let t = t.expect("timestamps");
                assert!(
                    t >= before - 2000 && t <= after + 2000,
                    "{ext}: {name} at {} is not between {} and {} UTC",
                    logs::time::format_ms(t),
                    logs::time::format_ms(before),
                    logs::time::format_ms(after)
                );
            }
        }
    }
    // Without the zone, IST is ambiguous and read as UTC: 5 h 30 min late.
    let a = analyse(&pg.log("log"), None);
    let late = a.agg.queries[count].first_ms.expect("ts");
    assert!(
        late - after > 5 * 3_600_000,
        "IST without the zone is not resolved"
    );
    assert!(
        a.agg.queries[by_id]
            .first_ms
            .is_some_and(|t| t <= after + 2000),
        "CET is"
    );

    // The chat reply shows the slowest plan of the top statement.
    let req = logs::Request {
        inputs: vec![Input::Path(pg.log("log"))],
        options: Options {
            timezone: Some("Asia/Kolkata".into()),
            ..Options::default()
        },
        csv_dir: None,
        charts_dir: None,
        top: 10,
    };
    let (_, reply) = logs::run(req, None).expect("run");
    let text = reply.plain_text();
    assert!(
        text.contains("`select pg_sleep($1)`"),
        "the top statement: {text}"
    );
    assert!(text.contains("Plan of its slowest logged call"), "{text}");
    assert!(text.contains("Result  (cost="), "the plan itself: {text}");
    // An unknown zone is a clear error.
    let e = logs::analyze(
        vec![Input::Path(pg.log("log"))],
        &Options {
            timezone: Some("Mars/Olympus".into()),
            ..Options::default()
        },
        None,
    )
    .expect_err("unknown zone");
    assert!(e.to_string().contains("unknown time zone"), "{e}");
}

/// The log analysis grades by `thresholds.toml` like the live checks: the same log read with a
/// DBA's edited copy (a dominant share of 99 %, a slow p95 of 500 ms) grades its findings by
/// those numbers and cites them.
#[test]
fn edited_log_thresholds_regrade_the_findings() {
    use dbabot::diagnostics::Thresholds;
    use dbabot_chat::{Part, Severity};
    let dir = tempfile::tempdir().expect("tempdir");
    let log = synthetic_log(dir.path());
    let graded = |th: Thresholds| {
        let (_, reply) = logs::run(
            logs::Request {
                inputs: vec![Input::Path(log.clone())],
                options: Options {
                    thresholds: th,
                    ..Options::default()
                },
                csv_dir: None,
                charts_dir: None,
                top: 10,
            },
            None,
        )
        .expect("analysis");
        reply
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Findings { items } => Some(items.clone()),
                _ => None,
            })
            .flatten()
            .collect::<Vec<_>>()
    };
    let find = |items: &[dbabot_chat::FindingLine], start: &str| {
        items.iter().find(|f| f.title.starts_with(start)).cloned()
    };
    // The DELETE is 900 of 920 ms: dominant at the default 50 %, and its p95 is under 1 s.
    let stock = graded(Thresholds::embedded());
    let top = find(&stock, "Top statement").expect("top statement");
    assert_eq!(top.severity, Severity::Warning, "{top:?}");
    assert!(
        top.rule.as_deref().unwrap_or("").contains("≥ 50%"),
        "{top:?}"
    );
    assert!(find(&stock, "Slow statement").is_none(), "{stock:?}");

    let edited = dbabot::diagnostics::thresholds::EMBEDDED
        .replacen(
            "[log_top_statement]\nwarning = 50",
            "[log_top_statement]\nwarning = 99",
            1,
        )
        .replacen(
            "[log_slow_statement]\nwarning = \"1 s\"",
            "[log_slow_statement]\nwarning = \"500 ms\"",
            1,
        );
    let th = Thresholds::parse("thresholds.toml", &edited).expect("edited thresholds");
    let regraded = graded(th);
    let top = find(&regraded, "Top statement").expect("top statement");
    assert_eq!(top.severity, Severity::Info, "{top:?}");
    let slow = find(&regraded, "Slow statement").expect("slow statement at 500 ms");
    assert_eq!(slow.severity, Severity::Warning);
    assert!(
        slow.rule.as_deref().unwrap_or("").contains("≥ 500 ms"),
        "{slow:?}"
    );
    // A PostgreSQL log's rules cite no MySQL source.
    assert!(
        !slow.rule.as_deref().unwrap_or("").contains("MySQL"),
        "{slow:?}"
    );
}
