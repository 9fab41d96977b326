//! Real problems in the local MariaDB (or MySQL), diagnosed through the engine.

use crate::support::{wait_until, TestBot, TestDb};
use sqlx::{Connection, Executor};

async fn orders_table(db: &TestDb) {
    let mut c = db.my().await;
    c.execute("CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, customer_id INT NOT NULL) ENGINE=InnoDB")
        .await
        .expect("orders table");
    c.execute("INSERT INTO orders SELECT seq, 'new', seq % 100 FROM seq_1_to_1000")
        .await
        .expect("rows (uses MariaDB's SEQUENCE engine)");
    c.close().await.ok();
}

async fn thread_id(c: &mut sqlx::MySqlConnection) -> u64 {
    sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut *c)
        .await
        .expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_update_names_both_threads() {
    let db = TestDb::mysql().await;
    orders_table(&db).await;
    let mut blocker = db.my().await;
    let mut waiter = db.my().await;
    let blocker_id = thread_id(&mut blocker).await;
    let waiter_id = thread_id(&mut waiter).await;
    blocker.execute("START TRANSACTION").await.expect("begin");
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
    let probe = sqlx::MySqlPool::connect(&db.url).await.expect("probe pool");
    assert!(
        wait_until(10, || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ? AND trx_state = 'LOCK WAIT'")
                    .bind(waiter_id)
                    .fetch_one(&probe)
                    .await
                    .map(|n| n > 0)
                    .unwrap_or(false)
            }
        })
        .await,
        "the second UPDATE never started waiting"
    );
    let bot = TestBot::new(vec![db.target("shop-prod", "prod", "aws")]);
    let reply = bot
        .ask(
            "my-locks",
            "my update on orders has been hanging for a minute",
        )
        .await;
    let text = reply.plain_text();
    assert_eq!(reply.intent.as_deref(), Some("locks_blocking"), "{text}");
    assert!(
        text.contains(&format!("pid {waiter_id} has waited")),
        "blocked thread missing:\n{text}"
    );
    assert!(
        text.contains(&format!("held by pid {blocker_id}")),
        "blocker thread missing:\n{text}"
    );
    assert!(
        text.contains("UPDATE orders SET status = 'shipped' WHERE id = 42")
            || text.contains("idle inside its transaction"),
        "{text}"
    );
    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("second update completes");
    waiter.close().await.ok();
    blocker.close().await.ok();
    probe.close().await;
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transaction_duplicate_index_and_missing_pk() {
    let db = TestDb::mysql().await;
    orders_table(&db).await;
    let mut c = db.my().await;
    c.execute("CREATE INDEX idx_cust ON orders (customer_id)")
        .await
        .expect("index");
    c.execute("CREATE INDEX idx_cust_again ON orders (customer_id)")
        .await
        .expect("duplicate index");
    c.execute("CREATE TABLE audit_log (happened_at DATETIME, note TEXT) ENGINE=InnoDB")
        .await
        .expect("no pk table");
    let mut idle = db.my().await;
    let idle_id = thread_id(&mut idle).await;
    idle.execute("START TRANSACTION").await.expect("begin");
    idle.execute("UPDATE orders SET status = 'held' WHERE id = 3")
        .await
        .expect("update");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let bot = TestBot::new(vec![db.target("shop-prod", "prod", "aws")]);
    let idle_reply = bot
        .ask(
            "my-idle",
            "is there an idle transaction holding locks on shop-prod?",
        )
        .await;
    let text = idle_reply.plain_text();
    assert!(
        text.contains(&format!("pid {idle_id} "))
            && text.contains("idle in a transaction open for"),
        "{text}"
    );

    let schema = bot.ask("my-schema", "report schema shop-prod").await;
    let text = schema.plain_text();
    assert!(
        text.contains(&format!(
            "Index idx_cust_again on {}.orders (customer_id) duplicates idx_cust",
            db.name
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}.audit_log has no primary key", db.name)),
        "{text}"
    );
    let dup = bot
        .ask("my-dup", "any duplicate indexes on shop-prod?")
        .await;
    assert!(
        dup.plain_text().contains(&format!(
            "ALTER TABLE {}.orders DROP INDEX `idx_cust_again`;",
            db.name
        )),
        "{}",
        dup.plain_text()
    );

    idle.execute("ROLLBACK").await.ok();
    idle.close().await.ok();
    c.close().await.ok();
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_and_every_check_completes() {
    let db = TestDb::mysql().await;
    orders_table(&db).await;
    let bot = TestBot::new(vec![db.target("shop-prod", "prod", "on-prem")]);
    let r = bot
        .ask("my-explain", "explain SELECT 1; DROP TABLE orders")
        .await;
    assert!(
        r.plain_text().contains("I won't run that"),
        "{}",
        r.plain_text()
    );
    let r = bot
        .ask("my-explain", "explain UPDATE orders SET status = 'x'")
        .await;
    assert!(
        r.plain_text().contains("it is a UPDATE statement"),
        "{}",
        r.plain_text()
    );
    let mut c = db.my().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = 'new'")
        .fetch_one(&mut c)
        .await
        .expect("table intact");
    assert_eq!(n, 1000);
    let plan = bot
        .ask(
            "my-explain2",
            "explain SELECT * FROM orders WHERE status = 'new'",
        )
        .await;
    assert!(
        plan.plain_text().contains("Plan (EXPLAIN, not executed)"),
        "{}",
        plan.plain_text()
    );

    let names: Vec<String> = dbabot::diagnostics::catalog::names(dbabot::config::Engine::Mysql)
        .into_iter()
        .map(String::from)
        .collect();
    for o in bot.engine.runner().run_checks("shop-prod", &names).await {
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
    }
    // MariaDB ships performance_schema OFF: statement statistics are reported as unavailable.
    let slow = bot
        .ask("my-slow", "queries on orders are slow on shop-prod")
        .await;
    assert!(
        slow.plain_text().contains("performance_schema"),
        "{}",
        slow.plain_text()
    );
    c.close().await.ok();
    bot.engine.runner().close().await;
}

/// The pool's other connection may be running a check while `active_queries` reads the
/// processlist: a statement that starts with the bot's marker is the bot's own and is left out;
/// the same statement from the application is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_statements_are_not_reported_as_running() {
    let db = TestDb::mysql().await;
    let mut app = db.my().await;
    let mut own = db.my().await;
    let app_id = thread_id(&mut app).await;
    let own_id = thread_id(&mut own).await;
    let marked = format!("{}SELECT SLEEP(6) AS s", dbabot::diagnostics::MYSQL_MARKER);
    let a = tokio::spawn(async move {
        let r = app.execute("SELECT SLEEP(6) AS s").await;
        (app, r)
    });
    let o = tokio::spawn(async move {
        let r = own.execute(marked.as_str()).await;
        (own, r)
    });
    let probe = sqlx::MySqlPool::connect(&db.url).await.expect("probe pool");
    assert!(
        wait_until(5, || {
            let probe = probe.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(6)%' AND ID <> CONNECTION_ID()",
                )
                .fetch_one(&probe)
                .await
                .map(|n| n >= 2)
                .unwrap_or(false)
            }
        })
        .await,
        "both sleeps never showed"
    );
    let bot = TestBot::new(vec![db.target("shop-prod", "prod", "on-prem")]);
    let o_run = bot
        .engine
        .runner()
        .run_check("shop-prod", "active_queries")
        .await;
    let pids: Vec<String> = o_run.rows.iter().map(|r| r.str("pid")).collect();
    assert!(pids.contains(&app_id.to_string()), "{pids:?}");
    assert!(!pids.contains(&own_id.to_string()), "{pids:?}");
    for h in [a, o] {
        let (c, r) = h.await.expect("join");
        r.expect("sleep");
        c.close().await.ok();
    }
    bot.engine.runner().close().await;
}
