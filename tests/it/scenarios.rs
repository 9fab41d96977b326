//! Scenario suite: real faults planted in PostgreSQL and MariaDB, each asked about in several
//! plain-language phrasings (stressed ones, no bot vocabulary) through the engine.
//!
//! For every phrasing the reply must never contain the unsafe advice (a signal to a victim, a
//! cancel to an idle blocker, REINDEX of an invalid unique index, dropping both indexes of a
//! duplicate pair, a fix aimed at a system account, autovacuum advice on MariaDB…) — asserted on
//! every reply. Whether the culprit (pid, table, index, role) is named is counted per phrasing and
//! printed as `SCENARIO <name>: <passed>/<total>`; each scenario must name it at least once.
//! Run with `--nocapture` to see the counts.

use crate::support::{wait_until, TestBot, TestDb};
use sqlx::{Connection, Executor};

/// Asks every phrasing in a fresh thread; asserts `must_not` on each reply, counts the replies
/// containing every `must` string, prints and returns the count.
async fn probe(
    bot: &TestBot,
    name: &str,
    phrasings: &[&str],
    must: &[String],
    must_not: &[String],
) -> usize {
    let mut passed = 0;
    for (i, q) in phrasings.iter().enumerate() {
        let thread = format!("{name}-{i}");
        let mut reply = bot.ask(&thread, q).await;
        // Several databases are configured: a question that names none is asked back, and the
        // user answers with the database it is about, as they would in chat.
        if let (Some(("target", _)), Some(primary)) = (reply.choices(), bot.primary.as_deref()) {
            let asked = reply.plain_text();
            assert!(
                !q.contains(primary),
                "{name}: {q:?} names {primary} but the bot asked which database:\n{asked}"
            );
            reply = bot.ask(&thread, primary).await;
        }
        let text = reply.plain_text();
        // Every statement shown must parse in the answering engine's dialect.
        let engine = reply.parts.iter().find_map(|p| match p {
            dbabot_chat::Part::Fields { fields } => fields
                .iter()
                .find(|f| f.label == "Engine")
                .map(|f| f.value.clone()),
            _ => None,
        });
        let dialect = match engine.as_deref() {
            Some(e) if e.contains("PostgreSQL") => "postgres",
            Some(e) if e.contains("MySQL") || e.contains("MariaDB") => "mysql",
            Some(e) if e.contains("SQLite") => "sqlite",
            _ => "",
        };
        for p in &reply.parts {
            if let dbabot_chat::Part::Code { code, .. } = p {
                if let Some(problem) = crate::support::sql_problem(code, dialect) {
                    panic!("{name}: SQL that does not parse as {dialect} in the answer to {q:?}: {problem}\n{text}");
                }
            }
        }
        for bad in must_not {
            assert!(
                !text.contains(bad.as_str()),
                "{name}: unsafe advice `{bad}` in the answer to {q:?}:\n{text}"
            );
        }
        for hole in [
            "<pid>",
            "<blocker_pid>",
            "<table>",
            "<index>",
            "(unknown",
            " n/a ",
        ] {
            assert!(
                !text.contains(hole),
                "{name}: placeholder `{hole}` reached the user for {q:?}:\n{text}"
            );
        }
        let missing: Vec<&String> = must.iter().filter(|m| !text.contains(m.as_str())).collect();
        if missing.is_empty() {
            passed += 1;
        } else {
            if std::env::var("SCENARIO_VERBOSE").is_ok() {
                println!("{text}");
            }
            println!(
                "SCENARIO {name}: {q:?} did not name {missing:?} (intent {:?})",
                reply.intent
            );
        }
    }
    println!(
        "SCENARIO {name}: {passed}/{} phrasings named the culprit",
        phrasings.len()
    );
    assert!(
        passed >= 1,
        "{name}: no phrasing named the culprit {must:?}"
    );
    passed
}

/// A SQLite target on the file at `path`, on-prem, in `environment`.
fn lite_target(alias: &str, environment: &str, path: &std::path::Path) -> dbabot::config::Target {
    dbabot::config::Target {
        alias: alias.into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Sqlite,
        environment: environment.into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new(format!("sqlite://{}", path.display())),
    }
}

/// A production target on a private MariaDB at `port`, logged in as its `bot` user on `shop`.
fn maria_bot_target(alias: &str, port: u16) -> dbabot::config::Target {
    dbabot::config::Target {
        alias: alias.into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Mysql,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new(format!("mysql://bot@127.0.0.1:{port}/shop")),
    }
}

/// A bot whose real target sits beside decoys with near-identical names on other engines
/// (`orders-pg` / `orders-my` / `orders-lite`), as in a real team's config: every question must
/// still land on the target it names. The decoys point at a closed port, so a question sent to
/// one fails loudly instead of answering from the wrong database.
fn with_decoys(real: dbabot::config::Target) -> TestBot {
    with_decoys_and_catalog(real, dbabot::intents::Catalog::embedded().expect("catalog"))
}

/// [`with_decoys`] with a given catalog (an edited copy of `intents/`, as a DBA would keep).
fn with_decoys_and_catalog(
    real: dbabot::config::Target,
    catalog: dbabot::intents::Catalog,
) -> TestBot {
    use dbabot::config::{Engine as DbEngine, Secret, Target};
    let decoy = |alias: &str, engine: DbEngine, dsn: &str| Target {
        alias: alias.into(),
        aliases: vec![],
        engine,
        environment: "staging".into(),
        cloud: "gcp".into(),
        dsn_source: "test".into(),
        dsn: Secret::new(dsn.to_string()),
    };
    let mut targets = vec![real.clone()];
    for (alias, engine, dsn) in [
        (
            "orders-pg",
            DbEngine::Postgres,
            "postgres://nobody@127.0.0.1:1/none",
        ),
        (
            "orders-my",
            DbEngine::Mysql,
            "mysql://nobody@127.0.0.1:1/none",
        ),
        (
            "orders-lite",
            DbEngine::Sqlite,
            "sqlite:///nonexistent/decoy.db",
        ),
    ] {
        if alias != real.alias {
            targets.push(decoy(alias, engine, dsn));
        }
    }
    let mut bot = TestBot::with_catalog(tempfile::tempdir().expect("tempdir"), targets, catalog);
    bot.primary = Some(real.alias);
    bot
}

/// Runs `sql` on `conn` in a task (a statement that will wait on a lock), handing the
/// connection and the result back when it finishes.
fn run_in_background<C>(
    mut conn: C,
    sql: impl Into<String>,
) -> tokio::task::JoinHandle<(C, Result<(), sqlx::Error>)>
where
    C: sqlx::Connection + Send + 'static,
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let sql = sql.into();
    tokio::spawn(async move {
        let r = conn.execute(sql.as_str()).await.map(|_| ());
        (conn, r)
    })
}

/// Opens `n` sessions at `url` and returns them with the error the next one gets (empty when it
/// was let in).
async fn hold_sessions<C: sqlx::Connection>(url: &str, n: usize) -> (Vec<C>, String) {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(C::connect(url).await.expect("an app session"));
    }
    let refused = C::connect(url)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    (held, refused)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// True once `count_sql` (a `SELECT COUNT(*)`) returns more than zero on MySQL/MariaDB at
/// `url`, within 10 s.
async fn my_until(url: &str, count_sql: &'static str) -> bool {
    let url = url.to_string();
    wait_until(10, || {
        let url = url.clone();
        async move {
            match sqlx::MySqlConnection::connect(&url).await {
                Ok(mut c) => sqlx::query_scalar::<_, i64>(count_sql)
                    .fetch_one(&mut c)
                    .await
                    .is_ok_and(|n| n > 0),
                Err(_) => false,
            }
        }
    })
    .await
}

async fn pg_pid(c: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *c)
        .await
        .expect("pid")
}

async fn my_id(c: &mut sqlx::MySqlConnection) -> u64 {
    sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut *c)
        .await
        .expect("connection id")
}

/// A row lock wait on `db`'s `orders` row `id`: an idle transaction that updated it (the
/// blocker, with its connection id) and an UPDATE of the same row waiting behind it in a
/// spawned task (with its own connection id); returns once InnoDB reports the wait. End it with
/// `ROLLBACK` on the blocker, then await the task.
struct MariaRowLockWait {
    blocker: sqlx::MySqlConnection,
    blocker_id: u64,
    waiter_id: u64,
    waiting: tokio::task::JoinHandle<(
        sqlx::MySqlConnection,
        Result<sqlx::mysql::MySqlQueryResult, sqlx::Error>,
    )>,
    admin: sqlx::MySqlPool,
}

async fn maria_row_lock_wait(db: &TestDb, id: i64) -> MariaRowLockWait {
    let mut blocker = db.my().await;
    let mut waiter = db.my().await;
    let blocker_id = my_id(&mut blocker).await;
    let waiter_id = my_id(&mut waiter).await;
    blocker.execute("START TRANSACTION").await.expect("begin");
    blocker
        .execute(format!("UPDATE orders SET status = 'paid' WHERE id = {id}").as_str())
        .await
        .expect("lock");
    let waiting = tokio::spawn(async move {
        let _ = waiter
            .execute("SET SESSION innodb_lock_wait_timeout = 30")
            .await;
        let r = waiter
            .execute(format!("UPDATE orders SET status = 'shipped' WHERE id = {id}").as_str())
            .await;
        (waiter, r)
    });
    let admin = sqlx::MySqlPool::connect(&db.url).await.expect("pool");
    assert!(
        wait_until(10, || {
            let a = admin.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'")
                    .fetch_one(&a)
                    .await
                    .is_ok_and(|n| n > 0)
            }
        })
        .await,
        "the UPDATE never waited"
    );
    MariaRowLockWait {
        blocker,
        blocker_id,
        waiter_id,
        waiting,
        admin,
    }
}

async fn pg_waiting(url: &str, pid: i32) -> bool {
    let probe = sqlx::PgPool::connect(url).await.expect("probe");
    let ok = wait_until(10, || {
        let probe = probe.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
            )
            .bind(pid)
            .fetch_one(&probe)
            .await
            .map(|n| n > 0)
            .unwrap_or(false)
        }
    })
    .await;
    probe.close().await;
    ok
}

async fn pg_orders(db: &TestDb) {
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, customer_id int NOT NULL);
         INSERT INTO orders SELECT g, 'new', g % 100 FROM generate_series(1, 1000) g;",
    )
    .await
    .expect("orders");
}

fn signals(pid: impl std::fmt::Display) -> Vec<String> {
    vec![
        format!("pg_cancel_backend({pid})"),
        format!("pg_terminate_backend({pid})"),
    ]
}

/// Idle-in-transaction session holding a row lock, an UPDATE blocked behind it, and a second
/// idle-in-transaction session that blocks nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_idle_blocker_and_blocked_update() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let mut blocker = db.pg().await;
    let mut waiter = db.pg().await;
    let mut bystander = db.pg().await;
    let blocker_pid = pg_pid(&mut blocker).await;
    let waiter_pid = pg_pid(&mut waiter).await;
    let bystander_pid = pg_pid(&mut bystander).await;
    blocker
        .execute("BEGIN; UPDATE orders SET status = 'paid' WHERE id = 42")
        .await
        .expect("lock row");
    bystander
        .execute("BEGIN; SELECT count(*) FROM orders WHERE id = 7")
        .await
        .expect("idle bystander");
    let waiting = run_in_background(
        waiter,
        "SET statement_timeout = '30s'; UPDATE orders SET status = 'shipped' WHERE id = 42",
    );
    assert!(
        pg_waiting(&db.url, waiter_pid).await,
        "the UPDATE never waited"
    );

    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let mut must_not = signals(waiter_pid);
    must_not.push(format!("pg_cancel_backend({blocker_pid})"));
    must_not.extend(signals(bystander_pid));
    probe(
        &bot,
        "pg_idle_blocker",
        &[
            "checkout is stuck!!! help",
            "why is everything hanging on orders-pg",
            "orders-pg is slow right now",
            "the payments service says updates to the orders table are stuck",
            "my checkout UPDATE on orders-pg has been spinning forever and never finishes, help!!",
            "our checkout service is timing out talking to orders-pg",
            "the payments service says updates to the accounts table are stuck",
        ],
        &[
            format!("pid {blocker_pid}"),
            format!("pg_terminate_backend({blocker_pid})"),
        ],
        &must_not,
    )
    .await;

    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the blocker rolls back");
    waiter.close().await.ok();
    blocker.close().await.ok();
    bystander.close().await.ok();
    bot.engine.runner().close().await;
}

/// An active blocker (running a statement while holding the lock): cancel, not terminate; never
/// the victim. The blocker calls itself `dbabot` and is still reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_active_blocker_named_dbabot() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let mut blocker = db.pg().await;
    let mut waiter = db.pg().await;
    let blocker_pid = pg_pid(&mut blocker).await;
    let waiter_pid = pg_pid(&mut waiter).await;
    blocker
        .execute("SET application_name = 'dbabot'; BEGIN; UPDATE orders SET status = 'paid' WHERE id = 42")
        .await
        .expect("lock row");
    let running = run_in_background(
        blocker,
        "SET statement_timeout = '20s'; SELECT pg_sleep(15)",
    );
    let waiting = run_in_background(
        waiter,
        "SET statement_timeout = '30s'; UPDATE orders SET status = 'shipped' WHERE id = 42",
    );
    assert!(
        pg_waiting(&db.url, waiter_pid).await,
        "the UPDATE never waited"
    );

    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_active_blocker",
        &[
            "orders-pg is slow right now",
            "why are updates on orders hanging?? customers can't pay",
            "who is blocking the orders table on orders-pg",
        ],
        &[
            format!("pid {blocker_pid}"),
            format!("pg_cancel_backend({blocker_pid})"),
        ],
        &signals(waiter_pid),
    )
    .await;

    let mut admin = db.pg().await;
    admin
        .execute(format!("SELECT pg_terminate_backend({blocker_pid})").as_str())
        .await
        .expect("end blocker");
    let _ = running.await;
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the blocker is gone");
    waiter.close().await.ok();
    bot.engine.runner().close().await;
}

/// A job worker took a session-level advisory lock and went idle outside any transaction; the
/// other workers wait on pg_advisory_lock. The answer is about locks, not deadlocks, names the
/// key and the holder, and never a cancel (it frees nothing) or a waiter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_advisory_lock_held_by_an_idle_worker() {
    let db = TestDb::postgres().await;
    let mut holder = db.pg().await;
    let holder_pid = pg_pid(&mut holder).await;
    holder
        .execute("SET application_name = 'job-worker'; SELECT pg_advisory_lock(4242)")
        .await
        .expect("advisory lock");
    let mut waiters = Vec::new();
    let mut must_not = vec![
        format!("pg_cancel_backend({holder_pid})"),
        "Deadlocks — ".to_string(),
        "idle inside its transaction".to_string(),
    ];
    for _ in 0..2 {
        let mut w = db.pg().await;
        let pid = pg_pid(&mut w).await;
        must_not.extend(signals(pid));
        let job = run_in_background(
            w,
            "SET statement_timeout = '40s'; SET application_name = 'job-worker'; SELECT pg_advisory_lock(4242)",
        );
        assert!(pg_waiting(&db.url, pid).await, "the worker never waited");
        waiters.push(job);
    }

    let bot = with_decoys(db.target("jobs-pg", "prod", "on-prem"));
    probe(
        &bot,
        "pg_advisory_lock",
        &[
            "our job workers on jobs-pg are all stuck, nothing gets processed",
            "the queue stopped draining, workers just sit there doing nothing",
            "background jobs frozen!!! nothing moves on jobs-pg",
            "is jobs-pg deadlocked? the workers hang forever",
            "every worker is waiting on something in the jobs database and I can't tell what",
        ],
        &[
            format!("pid {holder_pid}"),
            format!("pg_terminate_backend({holder_pid})"),
            "advisory lock 4242".to_string(),
            "pg_advisory_unlock(4242)".to_string(),
        ],
        &must_not,
    )
    .await;

    holder
        .execute("SELECT pg_advisory_unlock(4242)")
        .await
        .expect("unlock");
    for w in waiters {
        let (mut w, r) = w.await.expect("join");
        r.expect("a worker gets the lock once it is released");
        w.execute("SELECT pg_advisory_unlock_all()").await.ok();
        w.close().await.ok();
    }
    holder.close().await.ok();
    bot.engine.runner().close().await;
}

/// MariaDB: a worker took a user-level lock with GET_LOCK and its connection went to sleep; the
/// other workers wait in GET_LOCK. No InnoDB view shows it: the holder comes from IS_USED_LOCK,
/// the remedy is RELEASE_LOCK or KILL CONNECTION of the holder, never KILL QUERY or a waiter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_user_lock_held_by_a_sleeping_worker() {
    let db = TestDb::mysql().await;
    let mut holder = db.my().await;
    let holder_id = my_id(&mut holder).await;
    holder
        .execute("SELECT GET_LOCK('nightly-import', 0)")
        .await
        .expect("user lock");
    let mut must_not = vec![
        format!("KILL QUERY {holder_id};"),
        "Deadlocks — ".to_string(),
        "Transaction ID wraparound".to_string(),
    ];
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let mut w = db.my().await;
        must_not.extend(kills(my_id(&mut w).await));
        waiters.push(run_in_background(
            w,
            "SELECT GET_LOCK('nightly-import', 40)",
        ));
    }
    assert!(
        my_until(
            &db.url,
            "SELECT COUNT(*) >= 2 FROM information_schema.PROCESSLIST WHERE STATE = 'User lock'"
        )
        .await,
        "the workers never waited"
    );

    let bot = with_decoys(db.target("jobs-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_user_lock",
        &[
            "our job workers on jobs-maria are all stuck, nothing gets processed",
            "the import workers hang and never start, what are they waiting for?",
            "nothing moves in the job queue on jobs-maria!!",
            "is something deadlocked on jobs-maria? the workers just sit there",
        ],
        &[
            format!("pid {holder_id}"),
            format!("KILL CONNECTION {holder_id};"),
            "RELEASE_LOCK('nightly-import')".to_string(),
        ],
        &must_not,
    )
    .await;

    holder
        .execute("SELECT RELEASE_LOCK('nightly-import')")
        .await
        .expect("release");
    for w in waiters {
        let (mut w, r) = w.await.expect("join");
        r.expect("a worker gets the lock once it is released");
        w.execute("SELECT RELEASE_ALL_LOCKS()").await.ok();
        w.close().await.ok();
    }
    holder.close().await.ok();
    bot.engine.runner().close().await;
}

/// "Prod is down" about a server that answers: the answer says first that dbabot reached it, so
/// the search moves to the path between the application and the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reported_down_that_answers_on_every_engine() {
    let pg = TestDb::postgres().await;
    let bot = with_decoys(pg.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_reported_down",
        &[
            "URGENT prod is down, orders-pg not responding",
            "the api can't connect to orders-pg since 5 minutes!!",
            "is orders-pg down? everything returns 500",
        ],
        &["orders-pg is up and answering".to_string()],
        &["pg_terminate_backend".to_string()],
    )
    .await;
    bot.engine.runner().close().await;

    let my = TestDb::mysql().await;
    let bot = with_decoys(my.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_reported_down",
        &[
            "shop-maria is down, checkout broken",
            "we cannot connect to shop-maria from the workers",
        ],
        &["shop-maria is up and answering".to_string()],
        &["KILL CONNECTION".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A long query (pg_sleep): named with its pid and text, longest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_long_query() {
    let db = TestDb::postgres().await;
    let mut app = db.pg().await;
    let app_pid = pg_pid(&mut app).await;
    let running = run_in_background(
        app,
        "SET statement_timeout = '30s'; SELECT pg_sleep(25) AS nightly_report",
    );
    let probe_pool = sqlx::PgPool::connect(&db.url).await.expect("probe");
    assert!(
        wait_until(15, || {
            let p = probe_pool.clone();
            async move {
                sqlx::query_scalar::<_, f64>("SELECT coalesce(extract(epoch FROM now() - query_start)::float8, 0) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'")
                    .bind(app_pid)
                    .fetch_optional(&p)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|s| s >= 5.5)
            }
        })
        .await,
        "the sleep never ran 5 s"
    );
    probe_pool.close().await;
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_long_query",
        &[
            "something has been running for ages on orders-pg, what is it?",
            "orders-pg is slow right now",
            "the database is on fire, what is running on orders-pg?",
        ],
        &[format!("pid {app_pid}"), "pg_sleep".to_string()],
        &[],
    )
    .await;
    let mut admin = db.pg().await;
    admin
        .execute(format!("SELECT pg_cancel_backend({app_pid})").as_str())
        .await
        .expect("cancel");
    let _ = running.await;
    bot.engine.runner().close().await;
}

/// A missing index with no query text to show it: `orders.customer_id` has no index, the app
/// looks orders up by customer, and pg_stat_statements is not installed. The evidence is the
/// scan counts; the answer must name the table's unindexed reference column as the candidate (to
/// confirm with EXPLAIN) with its CONCURRENTLY build, and never call it CPU trouble.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_missing_index_without_query_texts() {
    let db = TestDb::postgres().await;
    let mut app = db.pg().await;
    app.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric);
         INSERT INTO orders SELECT g, g % 5000, 'new', g / 100.0 FROM generate_series(1, 60000) g;
         ANALYZE orders;",
    )
    .await
    .expect("orders");
    // More full scans than the `seq_scan_heavy` minimum (50).
    for i in 1..=55 {
        app.execute(format!("SELECT count(*) FROM orders WHERE customer_id = {i}").as_str())
            .await
            .expect("lookup");
    }
    app.close().await.ok();
    let probe_pool = sqlx::PgPool::connect(&db.url).await.expect("probe");
    assert!(
        wait_until(15, || {
            let p = probe_pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'orders'",
                )
                .fetch_optional(&p)
                .await
                .ok()
                .flatten()
                .is_some_and(|n| n >= 50)
            }
        })
        .await,
        "the scans never reached the statistics"
    );
    probe_pool.close().await;
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let phrasings = [
        "loading order history is super slow on orders-pg",
        "customers are timing out on their orders page, orders-pg",
        "orders-pg is crawling since this morning's release",
        "why is looking up a customer's orders so slow on orders-pg?",
    ];
    let passed = probe(
        &bot,
        "pg_missing_index",
        &phrasings,
        &[
            "customer_id".to_string(),
            "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);".to_string(),
        ],
        &["DROP ".to_string(), "High CPU".to_string()],
    )
    .await;
    assert!(passed >= 3, "most phrasings name the candidate column");
    bot.engine.runner().close().await;
}

/// A duplicate index pair: exactly one is dropped, the constraint's index is kept, and the kept
/// one is never called unused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_duplicate_index_pair() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
         INSERT INTO customers SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 2000) g;
         ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
         CREATE INDEX customers_email_idx ON customers (email);
         ANALYZE customers;",
    )
    .await
    .expect("duplicate pair");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_duplicate_index",
        &[
            "any duplicate indexes on orders-pg?",
            "we have way too many indexes on customers, which ones can go?",
            "writes to the customers table got slow, are there redundant indexes?",
        ],
        &[
            "customers_email_idx".to_string(),
            "DROP INDEX CONCURRENTLY IF EXISTS customers_email_idx;".to_string(),
        ],
        &[
            "DROP INDEX CONCURRENTLY IF EXISTS customers_email_key".to_string(),
            "DROP INDEX CONCURRENTLY customers_email_key".to_string(),
            "DROP CONSTRAINT customers_email_key".to_string(),
        ],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A failed CREATE UNIQUE INDEX CONCURRENTLY (duplicates in the column): fix the duplicates, then
/// DROP INDEX CONCURRENTLY and rebuild; never REINDEX.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_invalid_unique_index() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL);
         INSERT INTO accounts SELECT g, 'u' || (g % 500) || '@example.com' FROM generate_series(1, 1000) g;",
    )
    .await
    .expect("accounts");
    let failed = c
        .execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_email_uniq ON accounts (email)")
        .await;
    assert!(failed.is_err(), "the unique build must fail on duplicates");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_invalid_unique_index",
        &[
            "are there any broken or invalid indexes on orders-pg?",
            "our unique index build on accounts failed halfway, what now?",
            "index review for orders-pg please",
        ],
        &[
            "accounts_email_uniq".to_string(),
            "HAVING count(*) > 1".to_string(),
            "DROP INDEX CONCURRENTLY IF EXISTS accounts_email_uniq;".to_string(),
        ],
        &[
            "REINDEX INDEX CONCURRENTLY accounts_email_uniq".to_string(),
            "REINDEX INDEX accounts_email_uniq".to_string(),
        ],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A sequence near the int4 maximum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_sequence_near_max() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE invoices (id serial PRIMARY KEY, total numeric NOT NULL);
         SELECT setval('invoices_id_seq', 2147000001);",
    )
    .await
    .expect("sequence");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_sequence_near_max",
        &[
            "is the invoices id sequence about to run out?",
            "anything about to overflow on orders-pg, like ids running out?",
            "will our invoice numbers hit the integer limit soon?",
        ],
        &[
            "invoices_id_seq".to_string(),
            "2147000001".to_string(),
            "bigint".to_string(),
        ],
        &["autovacuum".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// An int4 key the application assigns (no sequence) close to 2^31-1: found from the planner
/// statistics, with the widening advice and no ALTER SEQUENCE for a sequence that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_app_assigned_integer_key_near_max() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE ledger (entry_id int PRIMARY KEY, amount numeric NOT NULL);
         INSERT INTO ledger SELECT 2146000000 + g * 1000, 1 FROM generate_series(1, 1400) g;",
    )
    .await
    .expect("ledger");
    c.execute("ANALYZE ledger").await.expect("analyze");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_app_assigned_key",
        &[
            "are any of our ids on orders-pg about to hit the int limit?",
            "anything about to overflow on orders-pg?",
            "ledger entry ids are huge now on orders-pg, will they run out?",
        ],
        &[
            "ledger.entry_id (integer, no sequence".to_string(),
            "ALTER TABLE ledger ALTER COLUMN entry_id TYPE bigint;".to_string(),
        ],
        &["ALTER SEQUENCE".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A table with autovacuum disabled and most rows deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_autovacuum_disabled_with_dead_rows() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE events (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
         INSERT INTO events SELECT g, repeat('x', 50) FROM generate_series(1, 30000) g;
         DELETE FROM events WHERE id > 3000;",
    )
    .await
    .expect("events");
    pg_dead_rows_counted(&db.url, "events").await;
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_autovacuum_off",
        &[
            "the events table is huge even though we deleted most of it",
            "why is the events table on orders-pg so bloated?",
            "disk keeps growing on orders-pg after a big delete, help",
        ],
        &[
            "autovacuum is disabled on".to_string(),
            "events".to_string(),
            "RESET (autovacuum_enabled)".to_string(),
        ],
        &[],
    )
    .await;
    bot.engine.runner().close().await;
}

/// Waits until the statistics count at least 20,000 dead rows in `table`.
async fn pg_dead_rows_counted(url: &str, table: &'static str) {
    let pool = sqlx::PgPool::connect(url).await.expect("pool");
    assert!(
        wait_until(20, || {
            let p = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT coalesce(max(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = $1",
                )
                .bind(table)
                .fetch_one(&p)
                .await
                .is_ok_and(|n| n >= 20_000)
            }
        })
        .await,
        "dead tuples never showed up in pg_stat_user_tables for {table}"
    );
    pool.close().await;
}

/// A question that names a second topic ("queries got slower, is vacuum even running?") gets
/// that topic's main check too, and the evidence decides: with autovacuum off on the table and
/// most of its rows dead, the answer is about vacuum, not a generic slow-query answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_topic_named_in_the_question_is_checked_and_can_win() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE sessions (id int PRIMARY KEY, token text) WITH (autovacuum_enabled = false);
         INSERT INTO sessions SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
         UPDATE sessions SET token = md5(token) WHERE id > 5000;",
    )
    .await
    .expect("sessions");
    pg_dead_rows_counted(&db.url, "sessions").await;
    let bot = with_decoys(db.target("auth-pg", "prod", "aws"));
    let phrasings = [
        "logins on auth-pg got slower this week and the sessions table keeps growing, is vacuum even running?",
        "auth-pg queries are sluggish, could it be autovacuum?",
        "slow lookups on auth-pg, do we have bloat?",
    ];
    let passed = probe(
        &bot,
        "second_topic_vacuum",
        &phrasings,
        &[
            "Table bloat, dead tuples and vacuum".to_string(),
            "Autovacuum is disabled on sessions".to_string(),
            "RESET (autovacuum_enabled)".to_string(),
        ],
        &["Slow queries — ".to_string()],
    )
    .await;
    assert_eq!(passed, phrasings.len(), "every phrasing answers vacuum");
    bot.engine.runner().close().await;
}

/// Premises the checks do not confirm are said so, with the measured figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_unconfirmed_premises_state_the_figure() {
    let db = TestDb::postgres().await;
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_wraparound_premise",
        &[
            "is orders-pg close to transaction id wraparound?",
            "are we about to hit xid wraparound on orders-pg",
            "how old is datfrozenxid on orders-pg, should I worry about wraparound?",
        ],
        &[
            "do not confirm a wraparound risk".to_string(),
            "transaction-ID age is".to_string(),
        ],
        &["getting close to the ~2.1 billion".to_string()],
    )
    .await;
    probe(
        &bot,
        "pg_connections_premise",
        &[
            "orders-pg has too many connections",
            "we are out of connection slots on orders-pg",
            "remaining connection slots are reserved, what is using them on orders-pg",
        ],
        &["usable connections are in use".to_string()],
        &["is at or near its connection limit".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A superuser application role is named; the bootstrap superuser is never the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_superuser_role_not_the_bootstrap() {
    let db = TestDb::postgres().await;
    let role = format!("{}_admin", db.name);
    let mut c = db.pg().await;
    c.execute(format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'x'").as_str())
        .await
        .expect("role");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let passed = probe(
        &bot,
        "pg_superuser_role",
        &[
            "security audit of orders-pg",
            "who has superuser on orders-pg?",
            "are there any dangerous roles on orders-pg",
        ],
        std::slice::from_ref(&role),
        &[
            "ALTER ROLE postgres NOSUPERUSER".to_string(),
            "role postgres is a superuser".to_string(),
        ],
    )
    .await;
    c.execute(format!("DROP ROLE {role}").as_str())
        .await
        .expect("drop role");
    assert!(passed >= 1);
    bot.engine.runner().close().await;
}

// ---- MariaDB ----------------------------------------------------------------------------------

async fn my_orders(db: &TestDb) {
    let mut c = db.my().await;
    c.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, customer_id INT NOT NULL) ENGINE=InnoDB",
    )
    .await
    .expect("orders");
    c.execute("INSERT INTO orders SELECT seq, 'new', seq % 100 FROM seq_1_to_500")
        .await
        .expect("rows");
}

/// MariaDB with performance_schema off (its default): no statement statistics at all. The
/// schema still shows `orders.customer_id`, a reference-like column no index leads with; the
/// answer names it as the candidate to confirm with EXPLAIN, with MariaDB's online ADD INDEX,
/// and gives no PostgreSQL advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_missing_index_with_performance_schema_off() {
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    let ps: i64 = sqlx::query_scalar("SELECT @@performance_schema + 0")
        .fetch_one(&mut c)
        .await
        .expect("performance_schema");
    c.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(20) NOT NULL) ENGINE=InnoDB",
    )
    .await
    .expect("orders");
    c.execute("INSERT INTO orders SELECT seq, seq % 5000, 'new' FROM seq_1_to_30000")
        .await
        .expect("rows");
    c.execute("ANALYZE TABLE orders").await.expect("analyze");
    let bot = with_decoys(db.target("orders-my", "prod", "onprem"));
    let expected = if ps == 0 {
        "ALTER TABLE orders ADD INDEX idx_customer_id (customer_id), ALGORITHM=INPLACE, LOCK=NONE;"
    } else {
        // A server with performance_schema on reports digests instead; the column still shows.
        "customer_id"
    };
    let passed = probe(
        &bot,
        "mariadb_missing_index",
        &[
            "loading order history is super slow on orders-my",
            "customers time out on the orders page, orders-my",
            "orders-my got really slow after the deploy, lookups by customer take seconds",
        ],
        &["customer_id".to_string(), expected.to_string()],
        &[
            "CONCURRENTLY".to_string(),
            "pg_stat".to_string(),
            "High CPU".to_string(),
        ],
    )
    .await;
    assert!(passed >= 2, "most phrasings name the candidate column");
    bot.engine.runner().close().await;
}

/// A real InnoDB deadlock between two transfers that update the same two rows in opposite
/// order. The answer must name both statements and the table from InnoDB's own record of the
/// deadlock, say which one was rolled back, and give no KILL (a deadlock is already resolved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_deadlock_names_both_statements() {
    let db = TestDb::mysql().await;
    let mut setup = db.my().await;
    setup
        .execute(
            "CREATE TABLE ledger_accounts (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB;
             INSERT INTO ledger_accounts VALUES (1, 100), (2, 100);",
        )
        .await
        .expect("accounts");
    let mut a = db.my().await;
    let mut b = db.my().await;
    a.execute("BEGIN").await.expect("begin a");
    b.execute("BEGIN").await.expect("begin b");
    a.execute("UPDATE ledger_accounts SET balance = balance - 10 WHERE id = 1")
        .await
        .expect("a locks 1");
    b.execute("UPDATE ledger_accounts SET balance = balance - 10 WHERE id = 2")
        .await
        .expect("b locks 2");
    let a_next = tokio::spawn(async move {
        let r = a
            .execute("UPDATE ledger_accounts SET balance = balance + 10 WHERE id = 2")
            .await;
        (a, r.is_ok())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let b_ok = b
        .execute("UPDATE ledger_accounts SET balance = balance + 10 WHERE id = 1")
        .await
        .is_ok();
    let (mut a, a_ok) = a_next.await.expect("a");
    assert!(
        a_ok != b_ok,
        "exactly one side of the deadlock is rolled back"
    );
    a.execute("ROLLBACK").await.ok();
    b.execute("ROLLBACK").await.ok();
    let bot = with_decoys(db.target("orders-my", "prod", "onprem"));
    let passed = probe(
        &bot,
        "mariadb_deadlock",
        &[
            "we keep getting deadlock errors on orders-my, transfers are failing",
            "Deadlock found when trying to get lock; try restarting transaction — on orders-my",
            "what deadlocked on orders-my just now?",
        ],
        &[
            "UPDATE ledger_accounts SET balance = balance + 10 WHERE id = 2".to_string(),
            "UPDATE ledger_accounts SET balance = balance + 10 WHERE id = 1".to_string(),
            "ledger_accounts".to_string(),
            "rolled back".to_string(),
        ],
        &["KILL ".to_string(), "pg_".to_string()],
    )
    .await;
    assert!(passed >= 2, "most phrasings name both statements");
    bot.engine.runner().close().await;
}

fn kills(id: u64) -> Vec<String> {
    vec![
        format!("KILL {id};"),
        format!("KILL QUERY {id};"),
        format!("KILL CONNECTION {id};"),
    ]
}

/// A sleeping transaction holding a row lock and an UPDATE blocked behind it: KILL CONNECTION
/// the blocker; never KILL the victim, never KILL QUERY the sleeping blocker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_idle_blocker_and_blocked_update() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let MariaRowLockWait {
        mut blocker,
        blocker_id,
        waiter_id,
        waiting,
        admin,
    } = maria_row_lock_wait(&db, 42).await;
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    let mut must_not = kills(waiter_id);
    must_not.push(format!("KILL QUERY {blocker_id};"));
    probe(
        &bot,
        "mariadb_idle_blocker",
        &[
            "checkout is stuck!!! help",
            "why is everything hanging on shop-maria",
            "shop-maria is slow right now",
            "the payments service says updates to the orders table are stuck",
        ],
        &[
            format!("pid {blocker_id}"),
            format!("KILL CONNECTION {blocker_id};"),
        ],
        &must_not,
    )
    .await;
    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes");
    waiter.close().await.ok();
    blocker.close().await.ok();
    admin.close().await;
    bot.engine.runner().close().await;
}

/// INT AUTO_INCREMENT near the signed maximum; never PostgreSQL advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_auto_increment_near_max() {
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute("CREATE TABLE invoices (id INT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(10,2)) ENGINE=InnoDB AUTO_INCREMENT=2147000002")
        .await
        .expect("invoices");
    c.execute("CREATE TABLE tickets (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB AUTO_INCREMENT=2147000002")
        .await
        .expect("tickets");
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_auto_increment",
        &[
            "is the invoices id about to run out on shop-maria?",
            "anything about to overflow on shop-maria, like ids running out?",
            "will the invoice numbers hit the int limit soon?",
        ],
        &[
            "invoices".to_string(),
            "2147000001".to_string(),
            "BIGINT UNSIGNED".to_string(),
        ],
        &[
            "autovacuum".to_string(),
            "VACUUM".to_string(),
            "pg_".to_string(),
        ],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A duplicate index pair on MariaDB, scoped to the target's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_duplicate_index_pair() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let mut c = db.my().await;
    c.execute("CREATE INDEX idx_cust ON orders (customer_id)")
        .await
        .expect("idx");
    c.execute("CREATE INDEX idx_cust_dup ON orders (customer_id)")
        .await
        .expect("dup");
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_duplicate_index",
        &[
            "any duplicate indexes on shop-maria?",
            "we have way too many indexes on orders, which ones can go?",
            "inserts into orders got slow, are there redundant indexes?",
        ],
        &[
            "idx_cust_dup".to_string(),
            "DROP INDEX `idx_cust_dup`".to_string(),
        ],
        &["DROP INDEX `idx_cust`;".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// An idle-in-transaction session that blocks nobody: named, never advised to be terminated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_idle_session_blocking_nobody() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let mut idle = db.pg().await;
    let idle_pid = pg_pid(&mut idle).await;
    idle.execute("BEGIN; SELECT count(*) FROM orders")
        .await
        .expect("idle tx");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_idle_nobody",
        &[
            "someone left a transaction open on orders-pg",
            "is there an abandoned transaction on orders-pg?",
            "orders-pg is slow right now",
        ],
        &[format!("pid {idle_pid}"), "blocking nobody".to_string()],
        &signals(idle_pid),
    )
    .await;
    idle.execute("ROLLBACK").await.expect("rollback");
    idle.close().await.ok();
    bot.engine.runner().close().await;
}

/// An index with no scans on a database whose statistics window is unknown: never "drop it".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_unscanned_index_with_unknown_window() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let mut c = db.pg().await;
    c.execute("CREATE INDEX orders_status_idx ON orders (status)")
        .await
        .expect("index");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_unused_unknown_window",
        &[
            "any unused indexes on orders-pg?",
            "which indexes on orders-pg are never used?",
            "can we drop the indexes nobody uses on orders-pg?",
        ],
        &[
            "orders_status_idx".to_string(),
            "not called unused".to_string(),
        ],
        &[
            "DROP INDEX CONCURRENTLY orders_status_idx".to_string(),
            "DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx".to_string(),
        ],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A table without a primary key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_table_without_primary_key() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute("CREATE TABLE audit_log (happened_at timestamptz NOT NULL DEFAULT now(), note text)")
        .await
        .expect("table");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_no_pk",
        &[
            "which tables have no primary key on orders-pg?",
            "schema review of orders-pg",
            "logical replication complains about a table without a key on orders-pg, which one?",
        ],
        &["audit_log".to_string()],
        &[],
    )
    .await;
    bot.engine.runner().close().await;
}

/// An active MariaDB blocker (running a statement inside its transaction): KILL QUERY the head,
/// never the victim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_active_blocker() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let mut blocker = db.my().await;
    let mut waiter = db.my().await;
    let blocker_id = my_id(&mut blocker).await;
    let waiter_id = my_id(&mut waiter).await;
    blocker.execute("START TRANSACTION").await.expect("begin");
    blocker
        .execute("UPDATE orders SET status = 'paid' WHERE id = 42")
        .await
        .expect("lock");
    let running = tokio::spawn(async move {
        let r = blocker.execute("SELECT SLEEP(12)").await;
        (blocker, r)
    });
    let waiting = tokio::spawn(async move {
        let _ = waiter
            .execute("SET SESSION innodb_lock_wait_timeout = 30")
            .await;
        let r = waiter
            .execute("UPDATE orders SET status = 'shipped' WHERE id = 42")
            .await;
        (waiter, r)
    });
    let admin = sqlx::MySqlPool::connect(&db.url).await.expect("pool");
    assert!(
        wait_until(10, || {
            let a = admin.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'")
                    .fetch_one(&a)
                    .await
                    .is_ok_and(|n| n > 0)
            }
        })
        .await,
        "the UPDATE never waited"
    );
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_active_blocker",
        &[
            "shop-maria is slow right now",
            "why are updates on orders hanging?? customers can't pay",
            "who is blocking the orders table on shop-maria",
        ],
        &[
            format!("pid {blocker_id}"),
            format!("KILL QUERY {blocker_id};"),
        ],
        &kills(waiter_id),
    )
    .await;
    sqlx::query(&format!("KILL {blocker_id}"))
        .execute(&admin)
        .await
        .expect("end blocker");
    let _ = running.await;
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the blocker is gone");
    waiter.close().await.ok();
    admin.close().await;
    bot.engine.runner().close().await;
}

/// A long MariaDB statement (SLEEP): named with its thread id and text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_long_query() {
    let db = TestDb::mysql().await;
    let mut app = db.my().await;
    let app_id = my_id(&mut app).await;
    let running = tokio::spawn(async move {
        let r = app.execute("SELECT SLEEP(20) AS nightly_report").await;
        (app, r)
    });
    let admin = sqlx::MySqlPool::connect(&db.url).await.expect("pool");
    assert!(
        wait_until(15, || {
            let a = admin.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT CAST(COALESCE(MAX(TIME), 0) AS SIGNED) FROM information_schema.PROCESSLIST WHERE ID = ?")
                    .bind(app_id)
                    .fetch_one(&a)
                    .await
                    .is_ok_and(|t| t >= 6)
            }
        })
        .await,
        "the SLEEP never ran 6 s"
    );
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_long_query",
        &[
            "something has been running for ages on shop-maria, what is it?",
            "shop-maria is slow right now",
            "which query is hogging shop-maria?",
        ],
        &[format!("thread {app_id}"), "SLEEP".to_string()],
        &[],
    )
    .await;
    sqlx::query(&format!("KILL QUERY {app_id}"))
        .execute(&admin)
        .await
        .expect("stop sleep");
    let _ = running.await;
    admin.close().await;
    bot.engine.runner().close().await;
}

/// A MariaDB transaction sleeping without blocking anyone: named, never killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_idle_transaction_blocking_nobody() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let mut idle = db.my().await;
    let idle_id = my_id(&mut idle).await;
    idle.execute("START TRANSACTION").await.expect("begin");
    idle.execute("UPDATE orders SET status = 'held' WHERE id = 3")
        .await
        .expect("update");
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_idle_nobody",
        &[
            "someone left a transaction open on shop-maria",
            "is there an abandoned transaction on shop-maria?",
            "mysql has a transaction running but the connection is sleeping, on shop-maria",
        ],
        &[format!("pid {idle_id}"), "blocking nobody".to_string()],
        &kills(idle_id),
    )
    .await;
    idle.execute("ROLLBACK").await.expect("rollback");
    idle.close().await.ok();
    bot.engine.runner().close().await;
}

/// A MariaDB table without a primary key, in the target's schema only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_table_without_primary_key() {
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute("CREATE TABLE audit_log (happened_at DATETIME, note TEXT) ENGINE=InnoDB")
        .await
        .expect("table");
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_no_pk",
        &[
            "which tables have no primary key on shop-maria?",
            "schema review of shop-maria",
            "row-based replication is slow on a table without a key on shop-maria, which one?",
        ],
        &[format!("{}.audit_log", db.name)],
        &["mysql.".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// SQLite: a duplicate index pair in a file database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_duplicate_index_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shop.db");
    {
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("create sqlite");
        c.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT);
             CREATE INDEX orders_customer ON orders (customer_id);
             CREATE INDEX orders_customer_again ON orders (customer_id);",
        )
        .await
        .expect("schema");
        c.close().await.ok();
    }
    let bot = with_decoys(lite_target("shop-lite", "dev", &path));
    probe(
        &bot,
        "sqlite_duplicate_index",
        &[
            "any duplicate indexes on shop-lite?",
            "we have way too many indexes on orders, which ones can go?",
            "inserts into orders got slow, are there redundant indexes?",
        ],
        &["orders_customer_again".to_string()],
        &["DROP INDEX orders_customer;".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// Another process (the system's SQLite, through Python) holding SQLite's locks on `path`:
/// it runs `sql` in autocommit-off mode and then waits until killed.
struct SqliteHolder(std::process::Child);

impl SqliteHolder {
    fn start(path: &std::path::Path, sql: &str) -> Self {
        use std::io::BufRead;
        let script = "import sqlite3, sys, time\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                      for s in sys.argv[2].split(';'):\n    c.execute(s)\n\
                      print('held', flush=True)\n\
                      time.sleep(120)\n";
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(path)
            .arg(sql)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 holds the lock");
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(line.trim(), "held", "the lock holder started");
        SqliteHolder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, as a crash or the OOM killer would: nothing is rolled back.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for SqliteHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// "database is locked" on SQLite: a worker process left a write transaction open. The answer
/// must name that process (its pid), as the blocker, from the file's lock table, in rollback and
/// WAL modes; when the worker is killed mid-transaction, the hot journal it leaves is named and
/// never to be deleted; once nothing holds a lock, nobody is blamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_by_another_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let wal_path = dir.path().join("queue.db");
    for (p, mode) in [(&path, "DELETE"), (&wal_path, "WAL")] {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", p.display()))
            .await
            .expect("create sqlite");
        c.execute(format!("PRAGMA journal_mode = {mode}; CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO jobs (state) SELECT 'queued' FROM n;").as_str())
            .await
            .expect("schema");
        c.close().await.ok();
    }
    let target = |alias: &str, p: &std::path::Path| lite_target(alias, "prod", p);
    let server_words: Vec<String> = [
        "pg_",
        "KILL ",
        "pg_terminate_backend",
        "innodb",
        "sessions waiting",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let phrasings = [
        "jobs-lite keeps saying database is locked, what is holding it??",
        "our workers can't write to jobs-lite, SQLITE_BUSY everywhere",
        "writes to jobs-lite hang for 5 seconds then error out",
        "who has the lock on jobs-lite? nothing can insert",
    ];

    let bot = with_decoys(target("jobs-lite", &path));
    let holder = SqliteHolder::start(
        &path,
        "BEGIN IMMEDIATE;UPDATE jobs SET state = 'running' WHERE id = 1",
    );
    probe(
        &bot,
        "sqlite_write_lock_rollback",
        &phrasings,
        &[format!("The blocker is process {}", holder.pid())],
        &server_words,
    )
    .await;
    // Killed mid-transaction: the journal stays behind, hot.
    holder.kill();
    assert!(
        dir.path().join("jobs.db-journal").exists(),
        "a hot journal is left"
    );
    let text = bot
        .ask(
            "hot",
            "the worker crashed and now jobs-lite says database is locked",
        )
        .await
        .plain_text();
    assert!(text.contains("hot journal"), "{text}");
    assert!(text.contains("Do not delete jobs.db-journal"), "{text}");
    assert!(!text.contains("The blocker is process"), "{text}");
    bot.engine.runner().close().await;

    // WAL mode: the writer holds the -shm write lock.
    let bot = with_decoys(target("jobs-lite", &wal_path));
    let holder = SqliteHolder::start(
        &wal_path,
        "BEGIN IMMEDIATE;UPDATE jobs SET state = 'running' WHERE id = 1",
    );
    probe(
        &bot,
        "sqlite_write_lock_wal",
        &phrasings[..2],
        &[format!("The blocker is process {}", holder.pid())],
        &server_words,
    )
    .await;
    drop(holder);
    let text = bot
        .ask("free", "jobs-lite: database is locked errors this morning")
        .await
        .plain_text();
    assert!(
        text.contains("no other process holds the write lock"),
        "{text}"
    );
    assert!(!text.contains("The blocker is process"), "{text}");
    bot.engine.runner().close().await;
}

/// Orphans in SQLite: foreign keys are declared but the application never enabled them, and
/// parents were deleted. The answer must count the orphans of the right key, list them with SQL
/// that targets that table and column, say the file is not damaged, and never advise a repair
/// of the file (REINDEX, .recover) or another engine's tools.
#[tokio::test]
async fn sqlite_orphaned_rows_without_foreign_key_enforcement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crm.db");
    {
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("create sqlite");
        c.execute(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE accounts (account_no INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE invoices (id INTEGER PRIMARY KEY, account_no INTEGER REFERENCES accounts (account_no), total REAL);
             CREATE TABLE notes (id INTEGER PRIMARY KEY, account_no INTEGER REFERENCES accounts (account_no), body TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO accounts (account_no, name) SELECT i, 'acct ' || i FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO invoices (account_no, total) SELECT 1 + i % 300, i FROM n;
             INSERT INTO notes (account_no, body) SELECT account_no, 'hello' FROM accounts WHERE account_no > 200;
             DELETE FROM accounts WHERE account_no <= 20;",
        )
        .await
        .expect("schema");
        c.close().await.ok();
    }
    let bot = with_decoys(lite_target("crm-lite", "prod", &path));
    probe(
        &bot,
        "sqlite_orphans",
        &[
            "we deleted some accounts in crm-lite, are there invoices left pointing at nothing?",
            "orphan rows in crm-lite?? reports show invoices with no account",
            "is the data in crm-lite consistent, any dangling references",
        ],
        &[
            "200 rows of invoices have a account_no that matches no accounts.account_no".to_string(),
            "FROM invoices t WHERE t.account_no IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts p WHERE p.account_no = t.account_no)".to_string(),
            "The file itself is not damaged".to_string(),
        ],
        &[
            "REINDEX".to_string(),
            ".recover".to_string(),
            "rows of notes".to_string(),
            "pg_".to_string(),
            "CHECK TABLE".to_string(),
        ],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A SQLite file damaged the way a torn write leaves it: one row of `customers` changed on disk
/// behind its index's back, so `quick_check` still says ok and only `integrity_check` sees it;
/// then a file whose pages no longer parse at all. The answers must show the check's own words,
/// rebuild only the index that disagrees, and never call the file intact.
#[tokio::test]
async fn sqlite_damaged_file_after_a_power_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    {
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("create sqlite");
        c.execute(
            "PRAGMA journal_mode = DELETE; CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        )
        .await
        .expect("table");
        for chunk in 0..10 {
            let values: Vec<String> = (0..500)
                .map(|i| format!("('name-{:06}')", chunk * 500 + i))
                .collect();
            c.execute(format!("INSERT INTO customers (name) VALUES {}", values.join(",")).as_str())
                .await
                .expect("rows");
        }
        c.execute("CREATE INDEX customers_name ON customers (name)")
            .await
            .expect("index");
        c.close().await.ok();
    }
    // Change one name in the table's leaf page (b-tree page type 0x0d; the index's leaves are
    // 0x0a) without touching the index entry.
    let mut bytes = std::fs::read(&path).expect("read");
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let at = bytes
        .windows(11)
        .enumerate()
        .filter(|(_, w)| *w == b"name-000123")
        .map(|(i, _)| i)
        .find(|i| {
            let page = i / page_size;
            let header = page * page_size + if page == 0 { 100 } else { 0 };
            bytes[header] == 0x0d
        })
        .expect("row bytes in a table leaf");
    bytes[at + 5..at + 8].copy_from_slice(b"999");
    std::fs::write(&path, &bytes).expect("write");
    let target = |p: &std::path::Path| lite_target("app-lite", "prod", p);
    let bot = with_decoys(target(&path));
    let intact = "the file is intact".to_string();
    probe(
        &bot,
        "sqlite_index_damage",
        &[
            "we had a power cut last night, is app-lite corrupted?",
            "can you check app-lite's file is intact after the crash?",
            "run an integrity check on app-lite",
        ],
        &[
            "row 124 missing from index customers_name".to_string(),
            "REINDEX customers_name;".to_string(),
        ],
        &[intact.clone(), "VACUUM FULL".to_string(), "pg_".to_string()],
    )
    .await;
    bot.engine.runner().close().await;

    // Garble the page headers after the first page: the file no longer parses.
    let broken = dir.path().join("broken.db");
    let mut bytes = std::fs::read(&path).expect("read");
    for page in 1..bytes.len() / page_size {
        bytes[page * page_size..page * page_size + 8]
            .copy_from_slice(&[0x0d, 0, 0, 0xff, 0xff, 0, 0, 0]);
    }
    std::fs::write(&broken, &bytes).expect("write");
    let bot = with_decoys(target(&broken));
    let text = bot
        .ask(
            "broken",
            "app-lite says database disk image is malformed, what now?",
        )
        .await
        .plain_text();
    assert!(text.contains("cannot be read"), "{text}");
    assert!(text.contains(".recover"), "{text}");
    assert!(!text.contains(&intact), "{text}");
    bot.engine.runner().close().await;
}

/// A three-session chain: an idle transaction holds a lock on `orders`, an ALTER TABLE queues
/// behind it, and a plain SELECT queues behind the ALTER. The head (the idle transaction) is the
/// culprit; neither the ALTER nor the SELECT is ever signalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_ddl_queued_behind_idle_transaction() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let mut head = db.pg().await;
    let mut ddl = db.pg().await;
    let mut reader = db.pg().await;
    let head_pid = pg_pid(&mut head).await;
    let ddl_pid = pg_pid(&mut ddl).await;
    let reader_pid = pg_pid(&mut reader).await;
    head.execute("BEGIN; SELECT count(*) FROM orders")
        .await
        .expect("head");
    let alter = run_in_background(
        ddl,
        "SET statement_timeout = '30s'; ALTER TABLE orders ADD COLUMN note text",
    );
    assert!(pg_waiting(&db.url, ddl_pid).await, "the ALTER never waited");
    let select = run_in_background(
        reader,
        "SET statement_timeout = '30s'; SELECT count(*) FROM orders",
    );
    assert!(
        pg_waiting(&db.url, reader_pid).await,
        "the SELECT never waited"
    );
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let mut must_not = signals(ddl_pid);
    must_not.extend(signals(reader_pid));
    must_not.push(format!("pg_cancel_backend({head_pid})"));
    probe(
        &bot,
        "pg_ddl_chain",
        &[
            "everything on orders-pg is frozen since the migration started!!",
            "our migration on orders is stuck and now even selects hang",
            "orders-pg is slow right now",
        ],
        &[
            format!("the head of the chain (the culprit) is {head_pid}"),
            format!("pg_terminate_backend({head_pid})"),
        ],
        &must_not,
    )
    .await;
    head.execute("ROLLBACK").await.expect("rollback");
    let (ddl, r) = alter.await.expect("join alter");
    r.expect("the ALTER completes");
    let (reader, r) = select.await.expect("join select");
    r.expect("the SELECT completes");
    ddl.close().await.ok();
    reader.close().await.ok();
    head.close().await.ok();
    bot.engine.runner().close().await;
}

/// An INT UNSIGNED AUTO_INCREMENT at half of its range is not flagged (unsigned max is
/// 4,294,967,295), while a SMALLINT one near 32,767 is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_signed_and_unsigned_auto_increment() {
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute("CREATE TABLE tickets (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB AUTO_INCREMENT=2147000002")
        .await
        .expect("tickets");
    c.execute("CREATE TABLE tags (id SMALLINT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB AUTO_INCREMENT=32700")
        .await
        .expect("tags");
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_signed_unsigned",
        &[
            "anything about to overflow on shop-maria, like ids running out?",
            "are we going to run out of primary key values on shop-maria?",
            "which auto_increment columns are close to their max on shop-maria",
        ],
        &[format!("{}.tags", db.name), "32767".to_string()],
        &[format!("{}.tickets is at", db.name)],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A size question is answered with this database's size, not another topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_size_question_gets_the_size() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_size",
        &[
            "how big is orders-pg?",
            "what's the size of orders-pg",
            "how much disk does orders-pg use",
        ],
        &[format!("database {}: ", db.name)],
        &[],
    )
    .await;
    bot.engine.runner().close().await;
}

/// A statement running for only a second or two is still shown when someone asks what runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_short_query_is_shown_when_asked() {
    let db = TestDb::postgres().await;
    let mut app = db.pg().await;
    let app_pid = pg_pid(&mut app).await;
    let running = run_in_background(
        app,
        "SET statement_timeout = '20s'; SELECT pg_sleep(15) AS quick_report",
    );
    let probe_pool = sqlx::PgPool::connect(&db.url).await.expect("probe");
    assert!(
        wait_until(10, || {
            let p = probe_pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                )
                .bind(app_pid)
                .fetch_one(&p)
                .await
                .is_ok_and(|n| n > 0)
            }
        })
        .await,
        "the statement never started"
    );
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_short_query",
        &[
            "something is running on orders-pg, what is it?",
            "orders-pg feels slow, what is running right now?",
            "what queries are running on orders-pg right now?",
        ],
        &[format!("pid {app_pid}"), "quick_report".to_string()],
        &[],
    )
    .await;
    sqlx::query(&format!("SELECT pg_cancel_backend({app_pid})"))
        .execute(&probe_pool)
        .await
        .expect("cancel");
    let _ = running.await;
    probe_pool.close().await;
    bot.engine.runner().close().await;
}

/// An inactive physical replication slot retains WAL: "the disk is filling up" names the slot
/// and the guarded drop, never a file deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_inactive_slot_retains_wal() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let slot = format!("{}_slot", db.name);
    let mut admin = db.pg().await;
    sqlx::query("SELECT pg_create_physical_replication_slot($1, true)")
        .bind(&slot)
        .execute(&mut admin)
        .await
        .expect("slot");
    admin
        .execute("INSERT INTO orders SELECT g, 'x', 1 FROM generate_series(1001, 20000) g")
        .await
        .expect("some WAL");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let passed = probe(
        &bot,
        "pg_inactive_slot",
        &[
            "pg_wal keeps growing on orders-pg and the disk is almost full",
            "orders-pg storage alarm is firing, what's eating the disk??",
            "we're running out of space on orders-pg fast",
        ],
        &[
            slot.clone(),
            format!("SELECT pg_drop_replication_slot('{slot}');"),
        ],
        &["rm -rf".into(), "pg_resetwal".into()],
    )
    .await;
    sqlx::query("SELECT pg_drop_replication_slot($1)")
        .bind(&slot)
        .execute(&mut admin)
        .await
        .expect("drop slot");
    admin.close().await.ok();
    bot.engine.runner().close().await;
    assert!(passed >= 2, "most phrasings name the slot");
}

/// A session holding an old snapshot keeps VACUUM from removing dead rows: the answer names the
/// holder, not only the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_snapshot_holder_keeps_dead_rows() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE events (id int PRIMARY KEY, payload text);
         INSERT INTO events SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;",
    )
    .await
    .expect("events");
    let mut holder = db.pg().await;
    let holder_pid = pg_pid(&mut holder).await;
    holder
        .execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM events")
        .await
        .expect("snapshot");
    c.execute("DELETE FROM events WHERE id > 2000")
        .await
        .expect("delete");
    c.execute("VACUUM events").await.expect("vacuum");
    c.execute("ANALYZE events").await.expect("analyze");
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let mut must_not = vec![format!("pg_cancel_backend({holder_pid})")];
    must_not.push("VACUUM FULL events".into());
    probe(
        &bot,
        "pg_snapshot_holder",
        &[
            "we deleted most of the events table on orders-pg but it's still huge and vacuum doesn't help",
            "vacuum runs but the dead rows never go away on orders-pg, why",
            "why isn't autovacuum cleaning up events on orders-pg?",
        ],
        &[format!("pid {holder_pid}")],
        &must_not,
    )
    .await;
    holder.execute("ROLLBACK").await.expect("rollback");
    holder.close().await.ok();
    bot.engine.runner().close().await;
}

/// MariaDB: an ALTER TABLE waits for a metadata lock held by an idle open transaction. The
/// blocker (the idle transaction) is the culprit; the waiting ALTER is never the KILL target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_migration_waits_for_metadata_lock() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let mut holder = db.my().await;
    let holder_id = my_id(&mut holder).await;
    holder
        .execute("START TRANSACTION; SELECT count(*) FROM orders")
        .await
        .expect("open trx");
    let mut migrator = db.my().await;
    let migrator_id = my_id(&mut migrator).await;
    let waiting = run_in_background(
        migrator,
        "SET SESSION lock_wait_timeout = 30; ALTER TABLE orders ADD COLUMN note VARCHAR(20)",
    );
    let admin = sqlx::MySqlPool::connect(&db.url).await.expect("pool");
    let seen = wait_until(10, || {
        let admin = admin.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND STATE LIKE 'Waiting for table metadata lock%'",
            )
            .bind(migrator_id)
            .fetch_one(&admin)
            .await
            .map(|n| n > 0)
            .unwrap_or(false)
        }
    })
    .await;
    assert!(seen, "the ALTER never waited for the metadata lock");
    let bot = with_decoys(db.target("orders-my", "prod", "aws"));
    probe(
        &bot,
        "mariadb_mdl",
        &[
            "my migration on orders-my has been hanging for ages",
            "ALTER TABLE orders is stuck on orders-my, deploy is blocked",
            "schema change won't finish on orders-my, what's holding it?",
        ],
        &[format!("KILL CONNECTION {holder_id};")],
        &kills(migrator_id),
    )
    .await;
    holder.execute("ROLLBACK").await.expect("rollback");
    let (migrator, r) = waiting.await.expect("join");
    r.expect("the ALTER completes once the transaction ends");
    migrator.close().await.ok();
    holder.close().await.ok();
    admin.close().await;
    bot.engine.runner().close().await;
}

/// An orphaned two-phase transaction: `PREPARE TRANSACTION` left a row lock behind with no
/// session (a coordinator that crashed between the phases), and an UPDATE waits on it.
/// pg_blocking_pids reports the holder as pid 0; the answer must name the gid and end it with
/// ROLLBACK PREPARED, never signal pid 0 or the waiting victim. Needs max_prepared_transactions,
/// so it runs on a private cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_prepared_transaction_blocks_updates() {
    let mut pg = crate::support::PrivatePg::start_with("\nmax_prepared_transactions = 5\n");
    let admin = pg.url();
    let mut setup = sqlx::PgConnection::connect(&admin).await.expect("connect");
    setup
        .execute(
            "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL);
             INSERT INTO acct SELECT g, 100 FROM generate_series(1, 1000) g;
             CREATE ROLE bot LOGIN;
             GRANT pg_monitor TO bot;
             GRANT pg_read_all_data TO bot;
             ALTER ROLE bot SET default_transaction_read_only = on;",
        )
        .await
        .expect("schema");
    // The first phase of a transfer, then the coordinator disappears.
    setup
        .execute("BEGIN; UPDATE acct SET balance = balance - 5 WHERE id = 7; PREPARE TRANSACTION 'xfer-7781'")
        .await
        .expect("prepare");
    let mut waiter = sqlx::PgConnection::connect(&admin).await.expect("connect");
    let waiter_pid = pg_pid(&mut waiter).await;
    let waiting = run_in_background(
        waiter,
        "SET statement_timeout = '120s'; UPDATE acct SET balance = balance + 5 WHERE id = 7",
    );
    assert!(
        pg_waiting(&admin, waiter_pid).await,
        "the UPDATE never waited"
    );

    let target = dbabot::config::Target {
        alias: "ledger-pg".into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Postgres,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new(format!(
            "postgres://bot@127.0.0.1:{}/postgres",
            pg.port()
        )),
    };
    let bot = with_decoys(target);
    let mut must_not = signals(waiter_pid);
    must_not.extend(signals(0));
    probe(
        &bot,
        "pg_prepared_transaction",
        &[
            "payments are stuck, every transfer on ledger-pg just hangs",
            "ledger-pg: UPDATE on acct never returns, what is holding it??",
            "we restarted the app twice and balance updates still hang on ledger-pg",
            "is something locking the acct table on ledger-pg",
            "is there an abandoned transaction on ledger-pg?",
            "ledger-pg is slow right now",
        ],
        &[
            "'xfer-7781'".to_string(),
            "ROLLBACK PREPARED 'xfer-7781';".to_string(),
        ],
        &must_not,
    )
    .await;

    setup
        .execute("ROLLBACK PREPARED 'xfer-7781'")
        .await
        .expect("rollback prepared");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the prepared transaction is rolled back");
    waiter.close().await.ok();
    setup.close().await.ok();
    bot.engine.runner().close().await;
    pg.stop();
}

/// Rolls back a prepared XA transaction on drop, so that a failing test does not leave row
/// locks (and a metadata lock that would stall DROP DATABASE) on the shared server.
struct XaGuard {
    url: String,
    xid: String,
}

impl Drop for XaGuard {
    fn drop(&mut self) {
        let url = self.url.clone();
        let xid = self.xid.clone();
        // A fresh runtime on its own thread: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::MySqlConnection::connect(&url).await {
                        let _ = c.execute(format!("XA ROLLBACK '{xid}'").as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// The MariaDB side: `XA PREPARE` and then the connection goes away; since MariaDB 10.5 the
/// prepared XA transaction stays, with thread id 0 in INNODB_TRX, and keeps its row lock. The
/// answer must give `XA ROLLBACK` with the xid from XA RECOVER, never `KILL` thread 0 or the
/// waiting victim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_prepared_xa_transaction_blocks_updates() {
    let db = TestDb::mysql().await;
    let xid = format!("xfer-{}", db.name);
    let mut setup = db.my().await;
    setup
        .execute(
            "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL) ENGINE=InnoDB;
             INSERT INTO acct VALUES (1, 100), (7, 100), (9, 100);",
        )
        .await
        .expect("schema");
    let guard = XaGuard {
        url: db.url.clone(),
        xid: xid.clone(),
    };
    setup
        .execute(
            format!(
                "XA START '{xid}'; UPDATE acct SET balance = balance - 5 WHERE id = 7; XA END '{xid}'; XA PREPARE '{xid}'"
            )
            .as_str(),
        )
        .await
        .expect("xa prepare");
    // The coordinator's connection goes away; the prepared transaction stays.
    setup.close().await.ok();
    let mut waiter = db.my().await;
    let waiter_id = my_id(&mut waiter).await;
    let waiting = run_in_background(waiter, "SET SESSION innodb_lock_wait_timeout = 120; UPDATE acct SET balance = balance + 5 WHERE id = 7");
    let waited = my_until(
        &db.url,
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
    )
    .await;
    assert!(waited, "the UPDATE never waited");

    let bot = with_decoys(db.target("ledger-my", "prod", "on-prem"));
    let mut must_not = kills(waiter_id);
    must_not.extend(kills(0));
    probe(
        &bot,
        "mariadb_prepared_xa",
        &[
            "transfers on ledger-my hang forever, help",
            "ledger-my: an UPDATE on acct never returns, who holds the lock??",
            "we bounced every app server and balance updates still hang on ledger-my",
            "is there an abandoned transaction on ledger-my?",
            "ledger-my is slow right now",
        ],
        &[
            format!("XA ROLLBACK '{xid}';"),
            format!("The blocker is the prepared XA transaction '{xid}'"),
        ],
        &must_not,
    )
    .await;

    drop(guard);
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the XA transaction is rolled back");
    waiter.close().await.ok();
    bot.engine.runner().close().await;
}

/// Connection slots used up by one application's idle pool. While the server is full it
/// refuses dbabot's own (non-superuser) login with 53300: that refusal is the finding, said
/// once, critical, whatever was asked. With a few slots free again, the answer names the
/// application that holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_connection_slots_exhausted_by_one_app() {
    use sqlx::ConnectOptions;
    // 12 slots, 3 kept for superusers: 9 for everyone else.
    let mut pg = crate::support::PrivatePg::start_with(
        "\nmax_connections = 12\nsuperuser_reserved_connections = 3\n",
    );
    let admin = pg.url();
    let mut setup = sqlx::PgConnection::connect(&admin).await.expect("connect");
    setup
        .execute(
            "CREATE ROLE report LOGIN;
             CREATE ROLE bot LOGIN;
             GRANT pg_monitor TO bot;
             ALTER ROLE bot SET default_transaction_read_only = on;",
        )
        .await
        .expect("roles");
    let app: sqlx::postgres::PgConnectOptions =
        format!("postgres://report@127.0.0.1:{}/postgres", pg.port())
            .parse()
            .expect("options");
    let app = app.application_name("report-worker");
    // The setup session holds one of the 9; the application takes the other 8.
    let mut pool = Vec::new();
    for _ in 0..8 {
        pool.push(app.connect().await.expect("an app connection"));
    }
    let target = dbabot::config::Target {
        alias: "reports-pg".into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Postgres,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new(format!(
            "postgres://bot@127.0.0.1:{}/postgres",
            pg.port()
        )),
    };
    let bot = with_decoys(target);
    let must_not = vec![
        "checks could not run (".to_string(),
        "ALTER SYSTEM SET max_connections".to_string(),
    ];
    probe(
        &bot,
        "pg_slots_full",
        &[
            "reports-pg: our api pods crash with FATAL: sorry, too many clients already",
            "nobody can log in to reports-pg anymore!!",
            "reports-pg is down?? the app can't connect",
            "reports-pg is super slow, pages time out",
        ],
        &["out of connection slots".to_string(), "53300".to_string()],
        &must_not,
    )
    .await;

    // Three slots free again: now the bot gets in and names who holds the rest.
    for c in pool.drain(..3) {
        c.close().await.ok();
    }
    probe(
        &bot,
        "pg_slots_nearly_full",
        &[
            "reports-pg keeps running out of connections, who is using them all?",
            "new pods can't get a db connection on reports-pg",
        ],
        &[
            "report-worker".to_string(),
            "usable connections".to_string(),
        ],
        &["out of connection slots".to_string()],
    )
    .await;

    for c in pool {
        c.close().await.ok();
    }
    setup.close().await.ok();
    bot.engine.runner().close().await;
    pg.stop();
}

/// A backup session ran FLUSH TABLES WITH READ LOCK and went idle: every write on the server
/// waits ("Waiting for backup lock" on MariaDB). The server does not say who holds it without
/// the MDL instrument, so the answer must say the waiters are victims, list the session that
/// was there before the first wait as the candidate, and never KILL a waiter. Runs on a
/// private MariaDB: a global read lock on the shared server would freeze the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_global_read_lock_left_by_a_backup() {
    let Some(maria) = crate::support::PrivateMaria::start(&[]) else {
        panic!("could not start a private MariaDB (mariadb-install-db / mariadbd)");
    };
    let mut setup = maria.connect("mysql").await;
    for stmt in [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id int PRIMARY KEY, status varchar(20) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO shop.orders SELECT seq, 'new' FROM seq_1_to_500",
        "CREATE USER 'bot'@'%'",
        "GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'bot'@'%'",
        "GRANT SELECT ON shop.* TO 'bot'@'%'",
    ] {
        setup.execute(stmt).await.expect(stmt);
    }
    // An application's pool, idle since before the backup began: long idle, not the holder.
    let mut idle_pool = Vec::new();
    for _ in 0..4 {
        let mut c = maria.connect("shop").await;
        c.execute("SELECT 1").await.expect("select");
        idle_pool.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // The backup takes the lock and then sits there (a stuck copy step).
    let mut backup = maria.connect("shop").await;
    let backup_id = my_id(&mut backup).await;
    backup
        .execute("FLUSH TABLES WITH READ LOCK")
        .await
        .expect("FTWRL");
    let mut waiter = maria.connect("shop").await;
    let waiter_id = my_id(&mut waiter).await;
    let waiting = run_in_background(
        waiter,
        "SET SESSION lock_wait_timeout = 120; UPDATE orders SET status = 'paid' WHERE id = 42",
    );
    let waited = my_until(
        &maria.url("shop"),
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE IN ('Waiting for backup lock', 'Waiting for global read lock')",
    )
    .await;
    assert!(waited, "the UPDATE never waited for the global read lock");

    let bot = with_decoys(maria_bot_target("shop-db", maria.port));
    probe(
        &bot,
        "mariadb_global_read_lock",
        &[
            "shop-db: every write is frozen, updates just hang",
            "nothing can be saved on shop-db since the nightly backup started",
            "orders updates on shop-db stuck, selects still work, wtf",
            "shop-db is slow right now",
        ],
        &[
            "global read lock".to_string(),
            format!("thread {backup_id}"),
        ],
        &kills(waiter_id),
    )
    .await;

    backup.execute("UNLOCK TABLES").await.expect("unlock");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("the UPDATE completes once the lock is released");
    waiter.close().await.ok();
    backup.close().await.ok();
    for c in idle_pool {
        c.close().await.ok();
    }
    setup.close().await.ok();
    bot.engine.runner().close().await;
}

/// Checkpoint starvation on SQLite: a process keeps a read transaction open, so no checkpoint
/// can reset the WAL while writers keep appending; the -wal file grows past 64 MB and every
/// read slows. Whatever the words (slow reads, a big file, disk), the answer must name the
/// reading process from the -shm read marks and the checkpoint to run after it finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_grows_behind_a_long_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut c = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("create sqlite");
    c.execute(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE events (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
         INSERT INTO events (payload) VALUES (randomblob(100));",
    )
    .await
    .expect("schema");
    // The reporting job: a read transaction that never ends.
    let reader = SqliteHolder::start(&path, "BEGIN;SELECT count(*) FROM events");
    // The writers keep appending: about 75 MB of WAL that no checkpoint can reset.
    c.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 140000)
         INSERT INTO events (payload) SELECT randomblob(500) FROM n;",
    )
    .await
    .expect("writes");
    c.close().await.ok();
    let wal = std::fs::metadata(dir.path().join("app.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal > 64 * 1024 * 1024, "the WAL grew ({wal} bytes)");

    let bot = with_decoys(lite_target("app-lite", "prod", &path));
    let server_words: Vec<String> = ["pg_", "KILL ", "innodb", "autovacuum", "replica"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    probe(
        &bot,
        "sqlite_wal_starved",
        &[
            "app-lite reads got really slow and the -wal file is huge",
            "app-lite.db-wal is 90MB and keeps growing, is that normal?",
            "app-lite is slow right now",
            "is something locking app-lite? queries crawl",
        ],
        &[
            format!("process {}", reader.pid()),
            "PRAGMA wal_checkpoint(TRUNCATE);".to_string(),
        ],
        &server_words,
    )
    .await;
    drop(reader);
    bot.engine.runner().close().await;
}

/// After a restore from a logical dump (or pg_upgrade), no table has planner statistics until
/// the database is analyzed; autovacuum is off for these tables, as it would still be queued
/// behind the big ones. Slowness questions must get the missing statistics as the cause, with
/// ANALYZE on the named tables and vacuumdb --analyze-in-stages for the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_statistics_missing_after_a_restore() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL) WITH (autovacuum_enabled = false);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL) WITH (autovacuum_enabled = false);
         CREATE TABLE order_items (id int PRIMARY KEY, order_id int NOT NULL, sku text NOT NULL) WITH (autovacuum_enabled = false);
         INSERT INTO customers SELECT g, 'eu-' || (g % 7) FROM generate_series(1, 20000) g;
         INSERT INTO orders SELECT g, g % 20000 + 1, 'new' FROM generate_series(1, 60000) g;
         INSERT INTO order_items SELECT g, g % 60000 + 1, 'sku-' || (g % 500) FROM generate_series(1, 120000) g;",
    )
    .await
    .expect("restore");
    c.close().await.ok();
    let url = db.url.clone();
    let counted = wait_until(15, || {
        let url = url.clone();
        async move {
            let Ok(mut c) = sqlx::PgConnection::connect(&url).await else {
                return false;
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_user_tables WHERE n_live_tup >= 20000",
            )
            .fetch_one(&mut c)
            .await
            .is_ok_and(|n| n == 3)
        }
    })
    .await;
    assert!(counted, "the statistics collector never counted the rows");

    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_statistics_missing",
        &[
            "since we restored orders-pg from last night's dump every page is slow",
            "after the pg_upgrade the app crawls on orders-pg",
            "orders-pg got really slow after the migration this morning",
            "orders-pg is slow right now",
        ],
        &[
            "vacuumdb --all --analyze-in-stages".to_string(),
            "ANALYZE order_items;".to_string(),
        ],
        &[
            "VACUUM FULL".to_string(),
            "REINDEX".to_string(),
            "ANALYZE table_name".to_string(),
        ],
    )
    .await;
    // Read as an upgrade-planning question, the symptom still gets the slowness answer.
    let reply = bot
        .ask(
            "upgrade",
            "after the pg_upgrade the app crawls on orders-pg",
        )
        .await;
    assert_eq!(
        reply.intent.as_deref(),
        Some("slow_query"),
        "{}",
        reply.plain_text()
    );
    bot.engine.runner().close().await;
}

/// Fault: orders.customer_id references customers with no index, and a cleanup job deletes
/// customers one by one. Each delete scans all of orders to check the foreign key, so deletes
/// take seconds. The answer must name the unindexed foreign key as the cause and give the index
/// (CONCURRENTLY), not blame the customers table. A two-column foreign key served by an index
/// in another column order is not reported; one behind only a partial index is. Once the index
/// exists the finding is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_parent_deletes_scan_an_unindexed_foreign_key() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), total numeric NOT NULL);
         INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20000) g;
         INSERT INTO orders SELECT g, g % 19950 + 1, g FROM generate_series(1, 120000) g;
         CREATE TABLE order_lines (order_id int NOT NULL REFERENCES orders (id), line_no int NOT NULL, PRIMARY KEY (order_id, line_no));
         INSERT INTO order_lines SELECT g % 100000 + 1, g / 100000 FROM generate_series(1, 30000) g;
         CREATE TABLE shipments (id int PRIMARY KEY, order_id int NOT NULL, line_no int NOT NULL,
                                 FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no));
         CREATE INDEX shipments_line_order_idx ON shipments (line_no, order_id);
         INSERT INTO shipments SELECT g, g % 100000 + 1, g / 100000 FROM generate_series(1, 30000) g;
         CREATE TABLE refunds (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders (id), settled boolean NOT NULL);
         CREATE INDEX refunds_open_idx ON refunds (order_id) WHERE NOT settled;
         INSERT INTO refunds SELECT g, g % 100000 + 1, g % 3 = 0 FROM generate_series(1, 30000) g;
         ANALYZE;",
    )
    .await
    .expect("schema");
    // The cleanup job: customers 19951..20000 have no orders, each delete checks orders.
    for id in 19951..=19980 {
        sqlx::query("DELETE FROM customers WHERE id = $1")
            .bind(id)
            .execute(&mut c)
            .await
            .expect("delete");
    }
    let url = db.url.clone();
    let counted = wait_until(15, || {
        let url = url.clone();
        async move {
            let Ok(mut c) = sqlx::PgConnection::connect(&url).await else {
                return false;
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'customers'",
            )
            .fetch_one(&mut c)
            .await
            .is_ok_and(|n| n >= 30)
        }
    })
    .await;
    assert!(
        counted,
        "the statistics collector never counted the deletes"
    );

    let bot = with_decoys(db.target("crm-pg", "prod", "gcp"));
    let must = [
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);".to_string(),
        "orders_customer_id_fkey".to_string(),
    ];
    let must_not = [
        "VACUUM FULL".to_string(),
        "DROP INDEX".to_string(),
        "ON customers (".to_string(),
    ];
    probe(
        &bot,
        "pg_unindexed_fk",
        &[
            "deleting customers on crm-pg takes forever",
            "removing a single customer from crm-pg takes seconds, why??",
            "the customer cleanup job on crm-pg is crawling, each delete is slow",
            "why are deletes so slow on crm-pg",
        ],
        &must,
        &must_not,
    )
    .await;
    let reply = bot
        .ask("fk-review", "index review for crm-pg please")
        .await
        .plain_text();
    assert!(reply.contains(&must[0]), "{reply}");
    assert!(
        reply.contains("CREATE INDEX CONCURRENTLY refunds_order_id_idx ON refunds (order_id);"),
        "a partial index does not serve the foreign key:\n{reply}"
    );
    assert!(
        !reply.contains("shipments_order_id_line_no_idx") && !reply.contains("ON shipments ("),
        "an index on (line_no, order_id) serves the (order_id, line_no) key:\n{reply}"
    );
    // The fix: the finding is gone.
    c.execute("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")
        .await
        .expect("index");
    c.close().await.ok();
    let reply = bot
        .ask("fk-fixed", "deleting customers on crm-pg takes forever")
        .await
        .plain_text();
    assert!(!reply.contains("orders_customer_id_fkey"), "{reply}");
    bot.engine.runner().close().await;
}

/// Fault: work_mem is far too small for a report's sort, so it spills to temporary files: one
/// session writes hundreds of MB of them while it runs, and the database's counter grows. The
/// answer must name the temporary files (the live session by pid while it runs), with work_mem
/// raised for that session only, never a server-wide change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_report_sort_spills_to_temporary_files() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute("SET work_mem = '64kB'").await.expect("work_mem");
    // A finished spill: the database's counter.
    c.execute(
        "SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 200000) g ORDER BY 1) s",
    )
    .await
    .expect("sort");
    let url = db.url.clone();
    let counted = wait_until(15, || {
        let url = url.clone();
        async move {
            let Ok(mut c) = sqlx::PgConnection::connect(&url).await else {
                return false;
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT temp_files FROM pg_stat_database WHERE datname = current_database()",
            )
            .fetch_one(&mut c)
            .await
            .is_ok_and(|n| n > 0)
        }
    })
    .await;
    assert!(counted, "the statistics never counted the temporary files");
    let bot = with_decoys(db.target("reports-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_temp_spill",
        &[
            "the nightly report on reports-pg is slow and eats disk",
            "reports-pg: the month-end export crawls and writes huge temp files",
        ],
        &[
            "temporary files".to_string(),
            "SET work_mem = '64MB';".to_string(),
        ],
        &[
            "ALTER SYSTEM SET work_mem".to_string(),
            "VACUUM FULL".to_string(),
        ],
    )
    .await;

    // A spill in progress: the session writing it, by pid.
    let pid = pg_pid(&mut c).await;
    let running = run_in_background(
        c,
        "SELECT count(*) FROM (SELECT md5(g::text) || md5((g + 1)::text) AS k FROM generate_series(1, 8000000) g ORDER BY 1) s",
    );
    let url = db.url.clone();
    let spilling = wait_until(30, || {
        let url = url.clone();
        async move {
            let Ok(mut c) = sqlx::PgConnection::connect(&url).await else {
                return false;
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT coalesce(sum(size), 0)::bigint FROM pg_ls_tmpdir() WHERE name LIKE 'pgsql_tmp' || $1 || '.%'",
            )
            .bind(pid.to_string())
            .fetch_one(&mut c)
            .await
            .is_ok_and(|n| n >= 150 * 1024 * 1024)
        }
    })
    .await;
    assert!(spilling, "the sort never wrote 150 MB of temporary files");
    let text = bot
        .ask(
            "live",
            "reports-pg is slow right now, the disk is filling up",
        )
        .await
        .plain_text();
    assert!(
        text.contains(&format!("session {pid} ")) && text.contains("of temporary files right now"),
        "{text}"
    );
    let mut admin = db.pg().await;
    sqlx::query("SELECT pg_cancel_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await
        .expect("cancel");
    let _ = running.await;
    bot.engine.runner().close().await;
}

/// Fault: a report groups by a TEXT column, so every run builds its internal temporary table on
/// disk. The answer must show the server's disk temporary tables with the in-memory limit, and
/// raise tmp_table_size and max_heap_table_size for the session (MariaDB syntax), never
/// PostgreSQL's work_mem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_report_builds_temporary_tables_on_disk() {
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute(
        "CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT NOT NULL, k INT NOT NULL);
         INSERT INTO notes (body, k) SELECT REPEAT('x', 200), seq % 40 FROM seq_1_to_3000;",
    )
    .await
    .expect("schema");
    for _ in 0..120 {
        c.execute("SELECT body, k, COUNT(*) FROM notes GROUP BY body, k ORDER BY 3 DESC LIMIT 5")
            .await
            .expect("report");
    }
    c.close().await.ok();
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "mariadb_temp_tables",
        &[
            "the sales report on shop-maria is slow",
            "shop-maria: the nightly export job crawls",
        ],
        &[
            "internal temporary tables".to_string(),
            "SET SESSION tmp_table_size = 67108864, max_heap_table_size = 67108864;".to_string(),
        ],
        &["work_mem".to_string(), "temp_blks_written".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// What a question names, read against the schema, on every engine: "lookups by user_id are
/// slow" on a table with no index on user_id gets that index (the engine's own statement);
/// once the index exists, or for a column that is indexed, or for prose that only sounds like a
/// column ("the status page"), nothing is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_column_without_an_index_on_every_engine() {
    // SQLite.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let mut lite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("create sqlite");
    lite.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL);
         CREATE INDEX events_kind_idx ON events (kind);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000)
         INSERT INTO events SELECT x, x % 900, 'k' || (x % 7), 'ok', datetime('now') FROM c;",
    )
    .await
    .expect("schema");
    let bot = with_decoys(lite_target("events-lite", "prod", &path));
    let lite_index = "CREATE INDEX events_user_id_idx ON events (user_id);".to_string();
    probe(
        &bot,
        "lite_named_column",
        &[
            "events-lite: looking up events by user_id got really slow",
            "fetching a user's events (where user_id = ?) takes seconds on events-lite",
            "events-lite: loading the events of one user takes forever",
        ],
        std::slice::from_ref(&lite_index),
        &["CONCURRENTLY".to_string(), "ALGORITHM=INPLACE".to_string()],
    )
    .await;
    for q in [
        "events-lite: filtering events by kind is slow",
        "the status page on events-lite is slow",
    ] {
        let text = bot.ask(q, q).await.plain_text();
        assert!(
            !text.contains("has no index that leads with"),
            "{q}:\n{text}"
        );
    }
    lite.execute("CREATE INDEX events_user_id_idx ON events (user_id)")
        .await
        .expect("index");
    lite.close().await.ok();
    let text = bot
        .ask(
            "fixed",
            "events-lite: looking up events by user_id got really slow",
        )
        .await
        .plain_text();
    assert!(!text.contains("has no index that leads with"), "{text}");
    bot.engine.runner().close().await;

    // PostgreSQL.
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, customer_ref text NOT NULL, created_at timestamptz NOT NULL);
         INSERT INTO orders SELECT g, 'c' || (g % 500), now() - g * interval '1 minute' FROM generate_series(1, 30000) g;
         ANALYZE orders;",
    )
    .await
    .expect("schema");
    c.close().await.ok();
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    probe(
        &bot,
        "pg_named_column",
        &["orders-pg: listing orders by created_at is super slow"],
        &["CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);".to_string()],
        &["ALGORITHM=INPLACE".to_string()],
    )
    .await;
    bot.engine.runner().close().await;

    // MariaDB.
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute(
        "CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(200) NOT NULL, plan VARCHAR(20) NOT NULL);
         INSERT INTO users (email, plan) SELECT CONCAT('u', seq, '@example.com'), 'free' FROM seq_1_to_20000;
         ANALYZE TABLE users;",
    )
    .await
    .expect("schema");
    c.close().await.ok();
    let bot = with_decoys(db.target("shop-maria", "prod", "on-prem"));
    probe(
        &bot,
        "maria_named_column",
        &["shop-maria: login lookups by email on users take seconds"],
        &[
            "ALTER TABLE users ADD INDEX users_email_idx (email), ALGORITHM=INPLACE, LOCK=NONE;"
                .to_string(),
        ],
        &["CONCURRENTLY".to_string()],
    )
    .await;
    bot.engine.runner().close().await;
}

/// Fault: one application's pool takes every connection MariaDB allows (max_connections = 6),
/// so new clients get "ERROR 1040: Too many connections", dbabot's own login included. The
/// answer must say the server is out of connections (1040) whatever words were used, and never
/// "raise max_connections to a big number" as the first fix. Once a few are closed, the bot gets
/// in and names the user holding the rest. A private server: the shared one serves other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_connections_exhausted_by_one_app() {
    let Some(maria) = crate::support::PrivateMaria::start(&["--max-connections=6".to_string()])
    else {
        panic!("could not start a private MariaDB (mariadb-install-db / mariadbd)");
    };
    let mut setup = maria.connect("mysql").await;
    for stmt in [
        "CREATE DATABASE shop",
        "CREATE USER 'report'@'%'",
        "GRANT SELECT ON shop.* TO 'report'@'%'",
        "CREATE USER 'bot'@'%'",
        "GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'bot'@'%'",
        "GRANT SELECT ON shop.* TO 'bot'@'%'",
    ] {
        setup.execute(stmt).await.expect(stmt);
    }
    // The application takes every connection a non-SUPER login may open (the server keeps
    // one more for SUPER, which neither the app nor the bot has).
    let app_url = format!("mysql://report@127.0.0.1:{}/shop", maria.port);
    let mut pool = Vec::new();
    while let Ok(c) = sqlx::MySqlConnection::connect(&app_url).await {
        pool.push(c);
        assert!(pool.len() <= 10, "max_connections = 6 was not applied");
    }
    let bot = with_decoys(maria_bot_target("shop-maria", maria.port));
    probe(
        &bot,
        "maria_slots_full",
        &[
            "shop-maria: the app logs ERROR 1040 Too many connections",
            "shop-maria is down?? nothing can connect",
            "shop-maria is super slow and pages time out",
        ],
        &["out of connection slots".to_string(), "1040".to_string()],
        &["checks could not run (".to_string(), "pg_".to_string()],
    )
    .await;
    // Two slots free again: the bot gets in and names who holds the rest.
    for c in pool.drain(..2) {
        c.close().await.ok();
    }
    setup.close().await.ok();
    let text = bot
        .ask(
            "who",
            "shop-maria keeps running out of connections, who is using them all?",
        )
        .await
        .plain_text();
    assert!(text.contains("report"), "{text}");
    assert!(!text.contains("out of connection slots"), "{text}");
    bot.engine.runner().close().await;
    drop(pool);
}

/// One application role has its own `CONNECTION LIMIT 3` and holds all three sessions: its new
/// sessions fail with "too many connections for role" while the server has plenty of free
/// slots. The answer must name the role and its own limit (ALTER ROLE … CONNECTION LIMIT), and
/// never send the user to raise max_connections, do pool maths against it, or quote MySQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_role_at_its_own_connection_limit() {
    let db = TestDb::postgres().await;
    let app_url = db
        .login(
            "app",
            &[
                "CREATE ROLE {login} LOGIN CONNECTION LIMIT 3",
                "GRANT CONNECT ON DATABASE {db} TO {login}",
            ],
        )
        .await;
    let role = format!("{}_app", db.name);
    let (held, refused) = hold_sessions::<sqlx::PgConnection>(&app_url, 3).await;
    assert!(
        refused.contains("too many connections for role"),
        "the fourth session was not refused: {refused:?}"
    );
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let must_not = strings(&[
        "ALTER SYSTEM SET max_connections",
        "Pool maths",
        "rather than raising max_connections",
        "SHOW GLOBAL",
        "ProxySQL",
        "1040",
        "max_user_connections",
        "app_user",
        "checks could not run (",
    ]);
    let passed = probe(
        &bot,
        "pg_role_conn_limit",
        &[
            &format!(
                "orders-pg: workers crash with FATAL: too many connections for role \"{role}\""
            ),
            "the api can't get connections to orders-pg anymore, help",
            "orders-pg keeps refusing new connections but the server looks mostly idle??",
            "why is orders-pg out of connections, who is using them",
        ],
        &[role.clone(), format!("ALTER ROLE {role} CONNECTION LIMIT")],
        &must_not,
    )
    .await;
    assert!(
        passed >= 3,
        "the role's own limit was named in {passed}/4 answers"
    );

    // The same message pasted later in the thread, without a code, is PostgreSQL's 53300 on
    // this target (never MySQL's 1040), and the thread stays on orders-pg.
    let thread = "pg-role-followup";
    bot.ask(thread, "orders-pg health please").await;
    let text = bot
        .ask(
            thread,
            &format!("now the app logs: FATAL: too many connections for role \"{role}\""),
        )
        .await
        .plain_text();
    assert!(text.contains("53300"), "{text}");
    for bad in ["1040", "SHOW GLOBAL", "ProxySQL", "orders-my"] {
        assert!(!text.contains(bad), "{bad} in:\n{text}");
    }
    for c in held {
        c.close().await.ok();
    }
    bot.engine.runner().close().await;
}

/// A MariaDB account created `WITH MAX_USER_CONNECTIONS 2` holds both: its third session fails
/// with error 1226 while the server is nearly empty. The answer names the account and the
/// MariaDB statement that raises its own limit, never max_connections or PostgreSQL advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_account_at_its_own_connection_limit() {
    let db = TestDb::mysql().await;
    let app_url = db
        .login(
            "app",
            &[
                "CREATE USER '{login}'@'%' WITH MAX_USER_CONNECTIONS 2",
                "GRANT SELECT ON `{db}`.* TO '{login}'@'%'",
            ],
        )
        .await;
    let user = format!("{}_app", db.name);
    let (held, refused) = hold_sessions::<sqlx::MySqlConnection>(&app_url, 2).await;
    assert!(
        refused.contains("max_user_connections"),
        "the third session was not refused: {refused:?}"
    );
    let bot = with_decoys(db.target("orders-maria", "prod", "on-prem"));
    let must_not = strings(&[
        "SET GLOBAL max_connections",
        "Pool maths",
        "rather than raising max_connections",
        "pg_stat_activity",
        "ALTER ROLE",
        "PgBouncer in transaction mode",
        "svc_app",
        "checks could not run (",
    ]);
    let passed = probe(
        &bot,
        "maria_account_conn_limit",
        &[
            &format!("orders-maria: ERROR 1226 (42000): User '{user}' has exceeded the 'max_user_connections' resource (current value: 2)"),
            &format!("our service can't open connections to orders-maria: User '{user}' has exceeded the 'max_user_connections' resource"),
            "orders-maria keeps refusing new connections from the app, the server is nearly idle",
        ],
        &[
            format!("'{user}'@'%'"),
            format!("ALTER USER '{user}'@'%' WITH MAX_USER_CONNECTIONS"),
        ],
        &must_not,
    )
    .await;
    assert!(
        passed >= 2,
        "the account's own limit was named in {passed}/3 answers"
    );
    for c in held {
        c.close().await.ok();
    }
    bot.engine.runner().close().await;
}

/// A reporting role has `statement_timeout = 1s` of its own (ALTER ROLE … SET): its queries are
/// cancelled with 57014 while nothing is set server-wide. The answer must name the role, the
/// value and the statement that changes it for that role only, never a server-wide change nor
/// MySQL/MariaDB vocabulary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_role_statement_timeout_cancels_reports() {
    let db = TestDb::postgres().await;
    let report_url = db
        .login(
            "report",
            &[
                "CREATE ROLE {login} LOGIN",
                "ALTER ROLE {login} SET statement_timeout = '1s'",
                "GRANT CONNECT ON DATABASE {db} TO {login}",
            ],
        )
        .await;
    let role = format!("{}_report", db.name);
    let mut c = sqlx::PgConnection::connect(&report_url)
        .await
        .expect("report session");
    let err = c
        .execute("SELECT pg_sleep(1.5)")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("statement timeout"),
        "the role's timeout did not fire: {err:?}"
    );
    c.close().await.ok();
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let must_not = strings(&[
        "max_statement_time",
        "max_execution_time",
        "ALTER SYSTEM SET statement_timeout",
        "KILL QUERY",
        "SET GLOBAL",
        "checks could not run (",
    ]);
    let passed = probe(
        &bot,
        "pg_role_statement_timeout",
        &[
            "orders-pg: the nightly report dies with ERROR: canceling statement due to statement timeout",
            "our reporting queries on orders-pg keep getting cancelled after a second, who set that?",
            "orders-pg cuts off every report query after 1s, help",
            "SQLSTATE 57014 on orders-pg since this morning",
        ],
        &[
            role.clone(),
            "statement_timeout = 1s".to_string(),
            format!("ALTER ROLE {role} RESET statement_timeout;"),
        ],
        &must_not,
    )
    .await;
    assert!(
        passed >= 3,
        "the role's own timeout was named in {passed}/4 answers"
    );
    bot.engine.runner().close().await;
}

/// A MariaDB account created `WITH MAX_STATEMENT_TIME 1` has its statements interrupted with
/// 1969. The answer names the account, its limit and the MariaDB statement for that account,
/// never PostgreSQL's statement_timeout or MySQL 8's max_execution_time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_account_statement_time_limit() {
    let db = TestDb::mysql().await;
    db.login(
        "export",
        &[
            "CREATE USER '{login}'@'%' WITH MAX_STATEMENT_TIME 1",
            "GRANT SELECT ON `{db}`.* TO '{login}'@'%'",
        ],
    )
    .await;
    let user = format!("{}_export", db.name);
    let bot = with_decoys(db.target("orders-maria", "prod", "on-prem"));
    let must_not = strings(&[
        "statement_timeout",
        "pg_",
        "max_execution_time",
        "ALTER ROLE",
        "checks could not run (",
    ]);
    let passed = probe(
        &bot,
        "maria_account_statement_time",
        &[
            "orders-maria: our export fails with ERROR 1969 (70100): Query execution was interrupted (max_statement_time exceeded)",
            "selects on orders-maria get interrupted after a second, where does that limit come from?",
            "the export job on orders-maria keeps getting cancelled",
        ],
        &[
            format!("'{user}'@'%'"),
            format!("ALTER USER '{user}'@'%' WITH MAX_STATEMENT_TIME 0;"),
        ],
        &must_not,
    )
    .await;
    assert!(
        passed >= 2,
        "the account's own limit was named in {passed}/3 answers"
    );
    bot.engine.runner().close().await;
}

/// A reporting session opened a consistent snapshot on MariaDB and went idle while the
/// application kept committing updates: InnoDB purge cannot pass its read view, so the history
/// list grows. With the warning lowered to what a test can produce in seconds (an edited copy of
/// intents/thresholds.toml, as a DBA would keep), the answer names the holder and KILLs only it,
/// never the writer, and gives no PostgreSQL vacuum advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_idle_snapshot_holds_back_purge() {
    // Purge waits for the oldest read view on the whole server, so this runs on a private
    // MariaDB: on the shared one another test's open transaction can rightly be the oldest.
    let Some(maria) = crate::support::PrivateMaria::start(&[]) else {
        panic!("could not start a private MariaDB (mariadb-install-db / mariadbd)");
    };
    let mut setup = maria.connect("mysql").await;
    for stmt in [
        "CREATE DATABASE shop",
        "CREATE USER 'bot'@'%'",
        "GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'bot'@'%'",
        "GRANT SELECT ON shop.* TO 'bot'@'%'",
    ] {
        setup.execute(stmt).await.expect(stmt);
    }
    setup.close().await.ok();
    let mut writer = maria.connect("shop").await;
    writer
        .execute(
            "CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL);
             INSERT INTO counters SELECT seq, 0 FROM seq_1_to_200;",
        )
        .await
        .expect("counters");
    let mut holder = maria.connect("shop").await;
    holder
        .execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .expect("snapshot");
    holder
        .execute("SELECT COUNT(*) FROM counters")
        .await
        .expect("read");
    let holder_id = my_id(&mut holder).await;
    let writer_id = my_id(&mut writer).await;
    // 1,500 committed transactions after the snapshot, in batches of single-row autocommits.
    for batch in 0..15 {
        let sql: String = (0..100)
            .map(|i| {
                format!(
                    "UPDATE counters SET v = v + 1 WHERE id = {};",
                    (batch * 100 + i) % 200 + 1
                )
            })
            .collect();
        writer.execute(sql.as_str()).await.expect("updates");
    }
    let intents = tempfile::tempdir().expect("tempdir");
    for (name, text) in dbabot::intents::catalog::EMBEDDED {
        let text = if *name == "thresholds.toml" {
            text.replacen(
                "[purge_history]\nwarning = 100000",
                "[purge_history]\nwarning = 1000",
                1,
            )
        } else {
            text.to_string()
        };
        std::fs::write(intents.path().join(name), text).expect("write");
    }
    let catalog = dbabot::intents::Catalog::from_dir(intents.path()).expect("edited copy loads");
    assert!(catalog
        .thresholds
        .get("purge_history")
        .citation()
        .contains("1,000"));
    let bot = with_decoys_and_catalog(maria_bot_target("orders-maria", maria.port), catalog);
    let must_not: Vec<String> = [
        format!("KILL {writer_id};"),
        "VACUUM".to_string(),
        "autovacuum".to_string(),
        "pg_".to_string(),
        "checks could not run (".to_string(),
    ]
    .to_vec();
    let passed = probe(
        &bot,
        "maria_purge_lag",
        &[
            "orders-maria: ibdata1 keeps growing and the server gets slower every hour",
            "the history list length on orders-maria keeps climbing, what is holding purge back?",
            "orders-maria tables look bloated, old row versions never go away",
        ],
        &[
            format!("connection {holder_id}"),
            format!("KILL {holder_id};"),
        ],
        &must_not,
    )
    .await;
    assert!(
        passed >= 2,
        "the snapshot holder was named in {passed}/3 answers"
    );
    holder.close().await.ok();
    writer.close().await.ok();
    bot.engine.runner().close().await;
}

/// A bulk load on a server with a small max_wal_size: nearly every checkpoint is forced by WAL
/// volume instead of by checkpoint_timeout. The answer must say so and give the max_wal_size
/// raise (a reload, no restart) for PostgreSQL, never a MySQL setting. Runs on a private
/// cluster: it needs its own max_wal_size and checkpoint counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_bulk_load_forces_checkpoints() {
    let mut pg = crate::support::PrivatePg::start_with(
        "\nmax_wal_size = 32MB\nmin_wal_size = 32MB\ncheckpoint_timeout = 1h\n",
    );
    let mut setup = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect");
    setup
        .execute(
            "CREATE ROLE bot LOGIN;
             GRANT pg_monitor TO bot;
             ALTER ROLE bot SET default_transaction_read_only = on;
             CREATE TABLE events (id int, pad text);
             INSERT INTO events SELECT g, repeat('x', 100) FROM generate_series(1, 1500000) g;",
        )
        .await
        .expect("bulk load");
    let target = dbabot::config::Target {
        alias: "reports-pg".into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Postgres,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new(format!(
            "postgres://bot@127.0.0.1:{}/postgres",
            pg.port()
        )),
    };
    let bot = with_decoys(target);
    let passed = probe(
        &bot,
        "pg_checkpoint_pressure",
        &[
            "bulk loads into reports-pg got really slow and disk writes spike every few seconds",
            "is reports-pg configured sensibly for a write-heavy load?",
            "reports-pg health check please",
        ],
        &strings(&[
            "forced by WAL volume",
            "ALTER SYSTEM SET max_wal_size = '64MB'",
        ]),
        &strings(&["innodb", "SET GLOBAL", "checks could not run ("]),
    )
    .await;
    assert!(
        passed >= 2,
        "checkpoint pressure was named in {passed}/3 answers"
    );
    setup.close().await.ok();
    bot.engine.runner().close().await;
    pg.stop();
}

/// A query typed inside a sentence, planned on every engine: the plan's full scan gets an index
/// only when no index leads with the filtered column (the engine's own statement); a scan the
/// planner chose although an index exists (the filter matches nearly every row) gets the
/// estimate and a statistics refresh, never a second index on the same column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explained_full_scan_gets_an_index_only_when_none_exists_on_every_engine() {
    async fn ask_both(bot: &crate::support::TestBot, alias: &str) -> String {
        let one = bot
            .ask(
                "unindexed",
                &format!("why is select * from orders where customer_id = 42 so slow on {alias}"),
            )
            .await
            .plain_text();
        let two = bot
            .ask(
                "indexed",
                &format!("explain select * from orders where status = 'new' on {alias}"),
            )
            .await
            .plain_text();
        format!("{one}\n=====\n{two}")
    }
    let check = |engine: &str, reply: &str, create: &str, analyze: &str, indexed: &str| {
        let (unindexed, indexed_part) = reply.split_once("=====").unwrap_or((reply, ""));
        assert!(
            unindexed.contains(create),
            "{engine}: no index statement:\n{unindexed}"
        );
        assert!(
            !unindexed.contains("I won't run that"),
            "{engine}: the sentence around the SQL was read as SQL:\n{unindexed}"
        );
        assert!(
            indexed_part.contains(&format!("although index {indexed}")),
            "{engine}: the existing index is not named:\n{indexed_part}"
        );
        assert!(indexed_part.contains(analyze), "{engine}:\n{indexed_part}");
        assert!(
            !indexed_part.contains("CREATE INDEX") && !indexed_part.contains("ADD INDEX"),
            "{engine}: a second index on an indexed column:\n{indexed_part}"
        );
    };
    // PostgreSQL.
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL);
         INSERT INTO orders SELECT g, g % 2000, 'new' FROM generate_series(1, 40000) g;
         CREATE INDEX orders_status_idx ON orders (status);
         ANALYZE orders;",
    )
    .await
    .expect("schema");
    c.close().await.ok();
    let bot = with_decoys(db.target("orders-pg", "prod", "aws"));
    let reply = ask_both(&bot, "orders-pg").await;
    check(
        "postgres",
        &reply,
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);",
        "ANALYZE orders;",
        "orders_status_idx",
    );
    bot.engine.runner().close().await;

    // MariaDB.
    let db = TestDb::mysql().await;
    let mut c = db.my().await;
    c.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(10) NOT NULL, KEY orders_status_idx (status)) ENGINE=InnoDB",
    )
    .await
    .expect("schema");
    c.execute("INSERT INTO orders SELECT seq, seq % 2000, 'new' FROM seq_1_to_40000")
        .await
        .expect("rows");
    c.execute("ANALYZE TABLE orders").await.expect("analyze");
    c.close().await.ok();
    let bot = with_decoys(db.target("orders-my", "prod", "on-prem"));
    let reply = ask_both(&bot, "orders-my").await;
    check(
        "mariadb",
        &reply,
        "ALTER TABLE orders ADD INDEX orders_customer_id_idx (customer_id), ALGORITHM=INPLACE, LOCK=NONE;",
        "ANALYZE TABLE orders;",
        "orders_status_idx",
    );
    bot.engine.runner().close().await;

    // SQLite: with statistics that say every row has the same status, the planner scans.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orders.db");
    let mut lite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("create sqlite");
    lite.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL);
         CREATE INDEX orders_status_idx ON orders (status);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
         INSERT INTO orders SELECT x, x % 2000, 'new' FROM c;
         ANALYZE;",
    )
    .await
    .expect("schema");
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as("EXPLAIN QUERY PLAN SELECT * FROM orders WHERE status = 'new'")
            .fetch_all(&mut lite)
            .await
            .expect("plan");
    lite.close().await.ok();
    let bot = with_decoys(lite_target("orders-lite", "prod", &path));
    let reply = ask_both(&bot, "orders-lite").await;
    if plan.iter().any(|p| p.3.starts_with("SCAN")) {
        check(
            "sqlite",
            &reply,
            "CREATE INDEX orders_customer_id_idx ON orders (customer_id);",
            "ANALYZE orders;",
            "orders_status_idx",
        );
    } else {
        // This SQLite uses the index anyway: only the unindexed half can be asserted.
        assert!(
            reply.contains("CREATE INDEX orders_customer_id_idx ON orders (customer_id);"),
            "sqlite:\n{reply}"
        );
        assert!(!reply.contains("orders_status_idx ON"), "sqlite:\n{reply}");
    }
    bot.engine.runner().close().await;
}

/// A server dbabot cannot reach, named by how it fails: nothing listening (refused), a port that
/// accepts TCP and never answers (a hung server), something that is not the database on the
/// port, and a login the server rejects (so it is up). Each answer keeps the causes that fit and
/// drops those the failure rules out: no password or pg_hba advice when nothing answered, no
/// firewall advice when the server answered; an unreachable production server is critical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named_by_how_it_fails() {
    use dbabot::config::{Engine as DbEngine, Secret, Target};
    let target = |alias: &str, engine: DbEngine, dsn: String| Target {
        alias: alias.into(),
        aliases: vec![],
        engine,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: Secret::new(dsn),
    };
    // A port with nothing behind it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // A port that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    // A port where a web server answers.
    let web = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let web_port = web.local_addr().expect("addr").port();
    let http = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = web.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });

    let auth_words = [
        "No pg_hba.conf line matches",
        "scram-sha-256",
        "Authentication: wrong or rotated password",
    ];
    let network_words = ["Network path: a security group", "nothing listens"];
    let cases: Vec<(Target, &str, &str, &[&str])> = vec![
        (
            target(
                "billing-pg",
                DbEngine::Postgres,
                format!("postgres://postgres@127.0.0.1:{closed}/x"),
            ),
            "billing-pg is down!! nothing works",
            "nothing listens on the database port",
            &auth_words,
        ),
        (
            target(
                "billing-pg",
                DbEngine::Postgres,
                format!("postgres://postgres@127.0.0.1:{silent_port}/x"),
            ),
            "billing-pg not responding, app hangs",
            "never answered dbabot's handshake",
            &auth_words,
        ),
        (
            target(
                "billing-pg",
                DbEngine::Postgres,
                format!("postgres://postgres@127.0.0.1:{web_port}/x"),
            ),
            "can't connect to billing-pg since the network change",
            "but not with the PostgreSQL protocol",
            &auth_words,
        ),
        (
            target(
                "billing-my",
                DbEngine::Mysql,
                "mysql://dbabot_nobody:wrong@127.0.0.1:3306/mysql".to_string(),
            ),
            "is billing-my ok?",
            "is up: it answered and rejected dbabot's own login",
            &network_words,
        ),
    ];
    for (t, question, named, ruled_out) in cases {
        let alias = t.alias.clone();
        let bot = TestBot::new(vec![t]);
        let reply = bot.ask(&format!("unreachable-{named}"), question).await;
        let text = reply.plain_text();
        println!("SCENARIO unreachable ({question}):\n{text}");
        assert!(text.contains(named), "{question}: not named:\n{text}");
        for w in ruled_out {
            assert!(
                !text.contains(w),
                "{question}: ruled-out advice `{w}`:\n{text}"
            );
        }
        let rejected_login = named.contains("rejected");
        assert_eq!(
            reply.severity,
            Some(if rejected_login {
                dbabot_chat::Severity::Warning
            } else {
                dbabot_chat::Severity::Critical
            }),
            "{alias}: {question}"
        );
        bot.engine.runner().close().await;
    }
    hold.abort();
    http.abort();
}

/// A shared MariaDB server: a lock wait in another team's database is not this database's
/// problem. Asked about the quiet database, the answer names no blocker (the words may still
/// point at locks, but the evidence has none); asked about the database with the wait, it names
/// the blocker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_lock_wait_in_another_database_stays_there() {
    let quiet = TestDb::mysql().await;
    my_orders(&quiet).await;
    let busy = TestDb::mysql().await;
    my_orders(&busy).await;
    let MariaRowLockWait {
        mut blocker,
        blocker_id,
        waiting,
        admin,
        ..
    } = maria_row_lock_wait(&busy, 7).await;
    let bot = TestBot::new(vec![
        quiet.target("crm-maria", "prod", "on-prem"),
        busy.target("shop-maria", "prod", "on-prem"),
    ]);
    let calm = bot
        .ask("quiet", "crm-maria is slow, everything hangs!!")
        .await;
    let text = calm.plain_text();
    assert!(!text.contains(&format!("pid {blocker_id}")), "{text}");
    assert!(!text.contains("culprit"), "{text}");
    assert_ne!(
        calm.severity,
        Some(dbabot_chat::Severity::Critical),
        "{text}"
    );
    let named = bot
        .ask("busy", "shop-maria is slow, everything hangs!!")
        .await
        .plain_text();
    assert!(named.contains(&format!("pid {blocker_id}")), "{named}");
    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, _) = waiting.await.expect("waiter");
    waiter.close().await.ok();
    blocker.close().await.ok();
    admin.close().await;
    bot.engine.runner().close().await;
}

/// A SQLite file that cannot be opened is SQLite's outage: the answer says what the file system
/// shows (the file gone, its directory gone, a directory in its place), never the path itself
/// (it is part of the connection string), and gives no network, port or password advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_that_cannot_be_opened_says_why_without_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_dir = dir.path().join("release-42").join("ledger.sqlite3");
    let missing_file = dir.path().join("ledger.sqlite3");
    let a_directory = dir.path().join("store.sqlite3");
    std::fs::create_dir(&a_directory).expect("a directory where the file should be");
    let must_not: Vec<String> = [
        "connection refused",
        "firewall",
        "password",
        "the database port",
        "release-42",
        "ledger.sqlite3",
        "store.sqlite3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (path, why) in [
        (&missing_dir, "neither the file nor its directory exists"),
        (&missing_file, "the file does not exist"),
        (&a_directory, "is a directory, not a database file"),
    ] {
        let bot = TestBot::new(vec![lite_target("ledger-lite", "prod", path)]);
        probe(
            &bot,
            "sqlite_cannot_open",
            &[
                "ledger-lite is throwing errors, the app can't read anything",
                "is ledger-lite down?",
            ],
            &[
                "dbabot cannot open the database file of ledger-lite".to_string(),
                why.to_string(),
                "[CRITICAL]".to_string(),
            ],
            &must_not,
        )
        .await;
        bot.engine.runner().close().await;
    }
}

/// A table the question names that the database does not have (a typo) never reaches a
/// statement: the answer says so, offers the nearest name, and fills nothing in; the right name
/// is used as asked. On PostgreSQL, MariaDB and SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_name_the_database_lacks_never_reaches_a_statement() {
    let pg = TestDb::postgres().await;
    pg_orders(&pg).await;
    let my = TestDb::mysql().await;
    my_orders(&my).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shop.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("sqlite");
    c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL, customer_id INT NOT NULL)")
        .await
        .expect("orders");
    c.close().await.ok();
    for target in [
        pg.target("shop-db", "prod", "aws"),
        my.target("shop-db", "prod", "on-prem"),
        lite_target("shop-db", "prod", &path),
    ] {
        let bot = TestBot::new(vec![target]);
        for q in [
            "queries on orderz are slow on shop-db, are the statistics out of date?",
            "check table orderz on shop-db, it feels slow",
        ] {
            let r = bot.ask(&format!("typo-{q}"), q).await;
            let text = r.plain_text();
            for p in &r.parts {
                if let dbabot_chat::Part::Code { code, .. } = p {
                    assert!(
                        !code.contains("orderz"),
                        "{q}: a statement names the typo:\n{text}"
                    );
                }
            }
            assert!(
                text.contains("no table, view or index named `orderz`")
                    && text.contains("did you mean `orders`?"),
                "{q}: the typo is not pointed out:\n{text}"
            );
        }
        let r = bot
            .ask(
                "right-name",
                "queries on orders are slow on shop-db, are the statistics out of date?",
            )
            .await;
        assert!(
            !r.plain_text().contains("no table, view or index named"),
            "{}",
            r.plain_text()
        );
        bot.engine.runner().close().await;
    }
}
