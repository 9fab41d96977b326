//! Diagnostics under logins with fewer grants than `deploy/README.md` documents: a check that
//! cannot see what it needs names the missing grant instead of reporting a false positive or
//! "no problems". (Every other suite already runs as the documented least-privilege login; see
//! `support::PG_BOT_GRANTS` / `support::MY_BOT_GRANTS`.)

use crate::support::{TestBot, TestDb};
use sqlx::{Connection, Executor};

/// The login name `TestDb::login(suffix, …)` creates.
fn login_of(db: &TestDb, suffix: &str) -> String {
    format!("{}_{suffix}", db.name)
}

async fn pg_orders(db: &TestDb) {
    db.pg()
        .await
        .execute(
            "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, customer_id int NOT NULL);
             INSERT INTO orders SELECT g, 'new', g % 100 FROM generate_series(1, 1000) g;",
        )
        .await
        .expect("orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_login_without_pg_monitor_is_told_to_grant_it() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let url = db
        .login(
            "nomon",
            &[
                "CREATE ROLE {login} LOGIN",
                "ALTER ROLE {login} SET default_transaction_read_only = on",
                "GRANT CONNECT ON DATABASE {db} TO {login}",
            ],
        )
        .await;
    let login = login_of(&db, "nomon");
    // Another user's idle transaction holds a row lock and an UPDATE waits behind it.
    let mut blocker = db.pg().await;
    blocker
        .execute("BEGIN; UPDATE orders SET status = 'paid' WHERE id = 42")
        .await
        .expect("lock");
    let mut waiter = db.pg().await;
    let waiting = tokio::spawn(async move {
        let r = waiter
            .execute("SET statement_timeout = '20s'; UPDATE orders SET status = 'x' WHERE id = 42")
            .await;
        (waiter, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let bot = TestBot::new(vec![db.target_as("orders-pg", &url)]);
    let text = bot
        .ask("nomon", "orders-pg is stuck, nothing gets through")
        .await
        .plain_text();
    assert!(
        text.contains(&format!("GRANT pg_monitor TO {login};")),
        "the answer names the missing grant:\n{text}"
    );
    assert!(
        !text.contains("No problems found"),
        "what the login cannot see is not passed off as no problems:\n{text}"
    );

    blocker.execute("ROLLBACK").await.expect("rollback");
    let (waiter, r) = waiting.await.expect("join");
    r.expect("update completes");
    waiter.close().await.ok();
    blocker.close().await.ok();
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_explain_without_select_names_the_table_grant() {
    let db = TestDb::postgres().await;
    pg_orders(&db).await;
    let url = db
        .login(
            "nosel",
            &[
                "CREATE ROLE {login} LOGIN",
                "GRANT pg_monitor TO {login}",
                "ALTER ROLE {login} SET default_transaction_read_only = on",
            ],
        )
        .await;
    let login = login_of(&db, "nosel");
    let bot = TestBot::new(vec![db.target_as("orders-pg", &url)]);
    let text = bot
        .ask(
            "nosel",
            "explain SELECT * FROM orders WHERE customer_id = 5 on orders-pg",
        )
        .await
        .plain_text();
    assert!(
        text.contains(&format!("GRANT SELECT ON orders TO {login};")),
        "EXPLAIN's permission error names the grant:\n{text}"
    );
    // With the documented grants (pg_read_all_data) the same EXPLAIN plans.
    let bot2 = TestBot::new(vec![db.target("orders-pg", "prod", "aws")]);
    let ok = bot2
        .ask(
            "sel",
            "explain SELECT * FROM orders WHERE customer_id = 5 on orders-pg",
        )
        .await
        .plain_text();
    assert!(ok.contains("Seq Scan on orders"), "{ok}");
    bot.engine.runner().close().await;
    bot2.engine.runner().close().await;
}

async fn my_orders(db: &TestDb) {
    db.my()
        .await
        .execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, note VARCHAR(50)) ENGINE=InnoDB;
             CREATE TABLE audit_log (msg VARCHAR(50)) ENGINE=InnoDB;
             INSERT INTO orders VALUES (1, 'new', 'a'), (2, 'new', 'b');",
        )
        .await
        .expect("orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_login_without_process_is_told_to_grant_it() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let url = db
        .login(
            "noproc",
            &[
                "CREATE USER '{login}'@'%'",
                "GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{login}'@'%'",
            ],
        )
        .await;
    let login = login_of(&db, "noproc");
    let bot = TestBot::new(vec![db.target_as("orders-my", &url)]);
    let text = bot
        .ask("noproc", "orders-my is hanging, everything times out")
        .await
        .plain_text();
    assert!(
        text.contains(&format!("GRANT PROCESS ON *.* TO '{login}'@'%';")),
        "the answer names the missing grant:\n{text}"
    );
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_column_privileges_do_not_fake_missing_primary_keys() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let url = db
        .login(
            "cols",
            &[
                "CREATE USER '{login}'@'%'",
                "GRANT PROCESS ON *.* TO '{login}'@'%'",
                "GRANT SELECT (status) ON `{db}`.orders TO '{login}'@'%'",
                "GRANT SELECT ON `{db}`.audit_log TO '{login}'@'%'",
            ],
        )
        .await;
    let bot = TestBot::new(vec![db.target_as("orders-my", &url)]);
    let text = bot
        .ask("cols", "which tables on orders-my have no primary key?")
        .await
        .plain_text();
    assert!(
        !text.contains("orders has no primary key"),
        "orders has a primary key the login cannot see; it must not be reported missing:\n{text}"
    );
    assert!(
        !text.contains("ADD COLUMN id") || text.contains("audit_log"),
        "no ALTER for a table that has a key:\n{text}"
    );
    assert!(
        text.contains("audit_log has no primary key"),
        "the table the login can fully see and that lacks a key is still reported:\n{text}"
    );
    assert!(
        text.contains("not checked for a primary key") && text.contains("GRANT SHOW VIEW ON"),
        "the hidden table is named with the grant that shows it:\n{text}"
    );
    bot.engine.runner().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_explain_without_select_names_the_table_grant() {
    let db = TestDb::mysql().await;
    my_orders(&db).await;
    let url = db
        .login(
            "nosel",
            &[
                "CREATE USER '{login}'@'%'",
                "GRANT PROCESS ON *.* TO '{login}'@'%'",
                "GRANT SHOW VIEW ON `{db}`.* TO '{login}'@'%'",
            ],
        )
        .await;
    let login = login_of(&db, "nosel");
    let bot = TestBot::new(vec![db.target_as("orders-my", &url)]);
    let text = bot
        .ask(
            "nosel",
            "explain SELECT * FROM orders WHERE status = 'new' on orders-my",
        )
        .await
        .plain_text();
    assert!(
        text.contains(&format!(
            "GRANT SELECT ON `{}`.`orders` TO '{login}'@'%';",
            db.name
        )),
        "EXPLAIN's permission error names the grant:\n{text}"
    );
    bot.engine.runner().close().await;
}
