//! Real problems in a real PostgreSQL, diagnosed through the engine with natural language.

use crate::support::{wait_until, TestBot, TestDb};
use sqlx::{Connection, Executor};

async fn orders_table(db: &TestDb) {
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, customer_id int NOT NULL);
         INSERT INTO orders SELECT g, 'new', g % 100 FROM generate_series(1, 1000) g;",
    )
    .await
    .expect("orders table");
}

async fn pid(c: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *c)
        .await
        .expect("pid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_update_names_blocker_pid_and_query() {
    let db = TestDb::postgres().await;
    orders_table(&db).await;
    let mut blocker = db.pg().await;
    let mut waiter = db.pg().await;
    let blocker_pid = pid(&mut blocker).await;
    let waiter_pid = pid(&mut waiter).await;
    blocker.execute("BEGIN").await.expect("begin");
    blocker
        .execute("UPDATE orders SET status = 'paid' WHERE id = 42")
        .await
        .expect("lock row");
    let waiting = tokio::spawn(async move {
        let r = waiter
            .execute("UPDATE orders SET status = 'shipped' WHERE id = 42")
            .await;
        (waiter, r)
    });
    let probe = sqlx::PgPool::connect(&db.url).await.expect("probe pool");
    assert!(
        wait_until(10, || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'")
                    .bind(waiter_pid)
                    .fetch_one(&probe)
                    .await
                    .map(|n| n > 0)
                    .unwrap_or(false)
            }
        })
        .await,
        "the second UPDATE never started waiting"
    );

    let bot = TestBot::new(vec![db.target("orders-prod", "prod", "aws")]);
    let reply = bot
        .ask(
            "locks-1",
            "my update on orders has been hanging for a minute",
        )
        .await;
    let text = reply.plain_text();
    assert_eq!(reply.intent.as_deref(), Some("locks_blocking"), "{text}");
    assert!(
        text.contains(&format!("pid {waiter_pid} has waited")),
        "blocked pid missing:\n{text}"
    );
    assert!(
        text.contains(&format!("held by pid {blocker_pid}")),
        "blocker pid missing:\n{text}"
    );
    assert!(
        text.contains("UPDATE orders SET status = 'paid' WHERE id = 42"),
        "blocker query missing:\n{text}"
    );
    assert!(
        text.contains("Likely root cause")
            && text.contains("Immediate actions")
            && text.contains("Verify"),
        "{text}"
    );
    assert!(
        reply
            .checks
            .iter()
            .any(|c| c.name == "blocking_chains" && c.status == "ok"),
        "{:?}",
        reply.checks
    );

    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("second update completes after the blocker rolls back");
    waiter.close().await.ok();
    blocker.close().await.ok();
    probe.close().await;
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_on_events_point_at_seq_scans_and_suggest_the_index() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    c.execute(
        "CREATE TABLE events (id bigint PRIMARY KEY, user_email text NOT NULL, kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO events (id, user_email, kind) SELECT g, 'user' || (g % 5000) || '@example.com', 'click' FROM generate_series(1, 200000) g;
         ANALYZE events;",
    )
    .await
    .expect("events table");
    let mut app = db.pg().await;
    // More full scans than the `seq_scan_heavy` minimum (50).
    for i in 0..55 {
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE user_email = $1")
            .bind(format!("user{i}@example.com"))
            .fetch_one(&mut app)
            .await
            .expect("workload query");
    }
    // PostgreSQL 15+ flushes backend statistics lazily; ask for it now.
    let _ = app.execute("SELECT pg_stat_force_next_flush()").await;
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE user_email = $1")
        .bind("user9@example.com")
        .fetch_one(&mut app)
        .await
        .expect("q");
    let probe = sqlx::PgPool::connect(&db.url).await.expect("probe pool");
    assert!(
        wait_until(15, || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'events'")
                    .fetch_one(&probe)
                    .await
                    .map(|n| n >= 50)
                    .unwrap_or(false)
            }
        })
        .await,
        "sequential scans never showed up in pg_stat_user_tables"
    );

    let bot = TestBot::new(vec![db.target("orders-prod", "prod", "on-prem")]);
    let reply = bot.ask("slow-1", "queries on events are slow").await;
    let text = reply.plain_text();
    assert_eq!(reply.intent.as_deref(), Some("slow_query"), "{text}");
    assert!(
        text.contains("events: ") && text.contains("sequential scans read"),
        "seq scans not named:\n{text}"
    );
    assert!(
        text.contains("user_email"),
        "filtering column not found:\n{text}"
    );
    assert!(
        text.contains("CREATE INDEX CONCURRENTLY events_user_email_idx ON events (user_email);"),
        "index not suggested:\n{text}"
    );
    // pg_stat_statements is not preloaded on this server: a clear finding says so.
    assert!(text.contains("pg_stat_statements"), "{text}");
    app.close().await.ok();
    c.close().await.ok();
    probe.close().await;
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_session_is_found_with_its_age() {
    let db = TestDb::postgres().await;
    orders_table(&db).await;
    let mut idle = db.pg().await;
    let idle_pid = pid(&mut idle).await;
    idle.execute("BEGIN").await.expect("begin");
    idle.execute("SELECT * FROM orders WHERE id = 7 FOR UPDATE")
        .await
        .expect("lock");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let bot = TestBot::new(vec![db.target("orders-prod", "prod", "aws")]);
    let reply = bot
        .ask("idle-1", "any sessions idle in transaction on orders-prod?")
        .await;
    let text = reply.plain_text();
    assert_eq!(
        reply.intent.as_deref(),
        Some("idle_in_transaction"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| {
            l.contains(&format!("pid {idle_pid} ")) && l.contains("idle in a transaction open for")
        })
        .unwrap_or_else(|| panic!("idle session not reported:\n{text}"));
    let age: u64 = line
        .split("open for ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no age in: {line}"));
    assert!(age >= 2, "age {age}s is too small: {line}");
    assert!(
        text.contains("FOR UPDATE"),
        "last statement missing:\n{text}"
    );
    idle.execute("ROLLBACK").await.ok();
    idle.close().await.ok();
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_index_is_named_with_the_drop_statement() {
    let db = TestDb::postgres().await;
    orders_table(&db).await;
    let mut c = db.pg().await;
    c.execute("CREATE INDEX orders_customer_idx ON orders (customer_id); CREATE INDEX orders_customer_idx2 ON orders (customer_id);")
        .await
        .expect("indexes");
    let bot = TestBot::new(vec![db.target("orders-prod", "prod", "aws")]);
    let reply = bot
        .ask("dup-1", "do we have duplicate indexes on orders-prod?")
        .await;
    let text = reply.plain_text();
    assert!(
        text.contains(
            "Index orders_customer_idx2 on orders (customer_id) duplicates orders_customer_idx"
        ),
        "{text}"
    );
    assert!(
        text.contains("DROP INDEX CONCURRENTLY IF EXISTS orders_customer_idx2;"),
        "{text}"
    );
    // Shown, never executed: both indexes still exist.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'")
        .fetch_one(&mut c)
        .await
        .expect("count");
    assert_eq!(n, 3);
    c.close().await.ok();
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_writes_are_refused_and_nothing_changes() {
    let db = TestDb::postgres().await;
    orders_table(&db).await;
    let bot = TestBot::new(vec![db.target("orders-prod", "prod", "aws")]);
    let r1 = bot
        .ask("explain-1", "explain DELETE FROM orders WHERE id < 500")
        .await;
    assert!(
        r1.plain_text()
            .contains("I won't run that: it is a DELETE statement"),
        "{}",
        r1.plain_text()
    );
    let r2 = bot
        .ask("explain-1", "explain this: SELECT 1; DROP TABLE orders")
        .await;
    assert!(
        r2.plain_text().contains("it contains 2 statements"),
        "{}",
        r2.plain_text()
    );
    let r3 = bot.ask("explain-1", "explain ```sql\nWITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone\n```").await;
    assert!(
        r3.plain_text().contains("I won't run that"),
        "{}",
        r3.plain_text()
    );
    let mut c = db.pg().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut c)
        .await
        .expect("table still there");
    assert_eq!(n, 1000);

    // A real SELECT is planned, not run.
    let ok = bot
        .ask(
            "explain-2",
            "explain SELECT * FROM orders WHERE status = 'new'",
        )
        .await;
    let text = ok.plain_text();
    assert!(text.contains("Seq Scan on orders"), "{text}");
    assert!(text.contains("filtering on status"), "{text}");
    c.close().await.ok();
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_runs_and_a_blocked_check_times_out_as_a_finding() {
    let db = TestDb::postgres().await;
    orders_table(&db).await;
    let mut target = db.target("x", "prod", "aws");
    target.alias = "x".into();
    let limits = dbabot::config::Limits {
        statement_timeout_ms: 400,
        ..Default::default()
    };
    let runner = dbabot::diagnostics::Runner::new(&[target], limits);
    let version = runner.ping("x").await.expect("ping");
    assert!(version.contains("PostgreSQL"), "{version}");
    // Every PostgreSQL check runs (or reports itself unavailable) and decodes every value.
    let names: Vec<String> = dbabot::diagnostics::catalog::names(dbabot::config::Engine::Postgres)
        .into_iter()
        .map(String::from)
        .collect();
    for o in runner.run_checks("x", &names).await {
        assert!(
            matches!(
                o.status,
                dbabot::diagnostics::CheckStatus::Ok
                    | dbabot::diagnostics::CheckStatus::Unavailable
            ),
            "{} ended {:?}: {:?}",
            o.name,
            o.status,
            o.findings
        );
        for row in &o.rows.rows {
            for v in row {
                assert!(
                    !v.to_string().starts_with('<'),
                    "{}: undecoded value {v}",
                    o.name
                );
            }
        }
    }
    // An exclusive lock makes largest_tables wait; the statement timeout ends it cleanly.
    let mut locker = db.pg().await;
    locker
        .execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let o = runner.run_check("x", "largest_tables").await;
    assert_eq!(
        o.status,
        dbabot::diagnostics::CheckStatus::Timeout,
        "{:?}",
        o.findings
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(o.findings[0].code, "check_failed");
    assert!(
        o.findings[0].title.contains("timed out after 400 ms"),
        "{}",
        o.findings[0].title
    );
    locker.execute("ROLLBACK").await.expect("rollback");
    // The pool is healthy afterwards.
    assert_eq!(
        runner.run_check("x", "largest_tables").await.status,
        dbabot::diagnostics::CheckStatus::Ok
    );
    locker.close().await.ok();
    runner.close().await;
}

/// When the row cap cuts a diagnostic, answers say how many rows exist in all ("the first 10 of
/// 30"), from a count over the same query; the rows kept are the first by the catalog's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_cap_answers_say_first_n_of_the_true_total() {
    let db = TestDb::postgres().await;
    let mut c = db.pg().await;
    for i in 0..30 {
        c.execute(format!("CREATE TABLE keyless_{i:02} (v int)").as_str())
            .await
            .expect("table");
    }
    for i in 0..25 {
        c.execute(format!("CREATE INDEX ix_{i:02} ON keyless_00 (v)").as_str())
            .await
            .expect("index");
    }
    let limits = dbabot::config::Limits {
        row_cap: 10,
        ..Default::default()
    };
    let target = db.target("x", "prod", "aws");
    let runner = dbabot::diagnostics::Runner::new(std::slice::from_ref(&target), limits);
    let o = runner.run_check("x", "tables_without_pk").await;
    assert!(o.rows.truncated, "{:?}", o.findings);
    assert_eq!(o.rows.len(), 10);
    assert_eq!(o.rows.total, Some(30), "true total counted");
    assert_eq!(o.rows.count_phrase(), "the first 10 of 30");
    let first: Vec<String> = o.rows.iter().map(|r| r.str("tbl")).collect();
    assert_eq!(
        first[0], "keyless_00",
        "the catalog's order decides which rows stay"
    );

    let indexes = runner.run_check("x", "index_list").await;
    assert!(
        indexes.findings[0]
            .title
            .starts_with("the first 10 of 25 indexes"),
        "{}",
        indexes.findings[0].title
    );
    let report = dbabot::render::report("Schema report", "schema", &target, &[o]);
    let text = report.plain_text();
    assert!(
        text.contains("first 10 of 30 rows; the CSV holds the first 10 (the row cap)"),
        "{text}"
    );
    runner.close().await;
}

/// "anything running right now?" on an idle database says that nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_what_runs_on_an_idle_database_says_nothing_runs() {
    let db = TestDb::postgres().await;
    let bot = crate::support::TestBot::new(vec![db.target("idle-pg", "prod", "aws")]);
    let text = bot
        .ask("run-1", "any long running queries on idle-pg right now?")
        .await
        .plain_text();
    assert!(
        text.contains("no statement is running on idle-pg right now"),
        "{text}"
    );
    bot.engine.runner().close().await;
}
