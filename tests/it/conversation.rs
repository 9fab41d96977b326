//! Slot filling across turns: asking for a missing target, answering by click or by name,
//! changing a slot ("actually it's prod"), thread isolation and forgetting.

use crate::support::{msg, two_target_bot};
use dbabot_chat::{MessageHandler, SelectedChoice};

#[tokio::test]
async fn asks_for_the_target_then_follows_a_click_and_a_slot_change() {
    let bot = two_target_bot().await;
    let r = bot.ask("c1", "any duplicate indexes?").await;
    let (id, options) = r.choices().expect("asks which database");
    assert_eq!(id, "target");
    let values: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(values, vec!["shop-prod", "shop-staging"]);

    // A button click on a platform with buttons.
    let mut click = msg("c1", "");
    click.choice = Some(SelectedChoice {
        choice_id: "target".into(),
        value: "shop-staging".into(),
    });
    let r = bot.engine.handle(click).await.expect("turn");
    assert_eq!(r.intent.as_deref(), Some("index_advice"));
    assert!(
        r.plain_text().contains("Target: shop-staging"),
        "{}",
        r.plain_text()
    );
    assert!(
        r.plain_text().contains("idx_orders_customer_dup"),
        "{}",
        r.plain_text()
    );

    // "actually it's prod": same question, the sibling target in that environment.
    let r = bot.ask("c1", "actually it's prod").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("index_advice"),
        "{}",
        r.plain_text()
    );
    assert!(
        r.plain_text().contains("Target: shop-prod"),
        "{}",
        r.plain_text()
    );
    assert!(r.plain_text().contains("Cloud: aws"), "{}", r.plain_text());

    // Another thread knows nothing of this one.
    let other = bot.ask("c2", "any duplicate indexes?").await;
    assert!(
        other.choices().is_some(),
        "thread c2 must ask again: {}",
        other.plain_text()
    );
}

#[tokio::test]
async fn answers_by_number_or_typo_and_forgets_on_request() {
    let bot = two_target_bot().await;
    let r = bot.ask("f1", "report schema").await;
    assert_eq!(r.choices().map(|c| c.0), Some("target"));
    let r = bot.ask("f1", "shop-prdo").await;
    assert!(
        r.plain_text().contains("Schema review — shop-prod"),
        "{}",
        r.plain_text()
    );

    let r = bot.ask("f1", "forget this thread").await;
    assert_eq!(r.intent.as_deref(), Some("forget"), "{}", r.plain_text());
    assert!(
        r.plain_text()
            .contains("I deleted what I remembered about this thread"),
        "{}",
        r.plain_text()
    );
    let key = msg("f1", "").thread_key();
    assert!(
        bot.engine
            .memory()
            .load(&key)
            .await
            .expect("load")
            .is_none(),
        "thread state still stored"
    );

    // A fresh thread state: a bare number is no longer an answer to anything.
    let r = bot.ask("f2", "connections report").await;
    assert_eq!(
        r.choices().map(|c| c.0),
        Some("target"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("f2", "2").await;
    assert!(
        r.plain_text().contains("Connections — shop-staging"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn error_codes_and_unclear_messages() {
    let bot = two_target_bot().await;
    let r = bot
        .ask(
            "e1",
            "what does ERROR 1205 (HY000): Lock wait timeout exceeded mean?",
        )
        .await;
    let text = r.plain_text();
    assert!(text.contains("1205"), "{text}");
    assert!(text.to_lowercase().contains("lock wait timeout"), "{text}");
    let r = bot
        .ask("e2", "Msg 18456, Level 14, State 1 on the reporting box")
        .await;
    assert!(r.plain_text().contains("18456"), "{}", r.plain_text());
    let r = bot
        .ask("e3", "what's the weather like in Lisbon tomorrow?")
        .await;
    assert_eq!(
        r.intent.as_deref(),
        Some("out_of_scope"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("e4", "help").await;
    assert!(
        r.plain_text().contains("report <name> [target]"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("e5", "targets").await;
    let text = r.plain_text();
    assert!(
        text.contains("shop-prod") && text.contains("shop-staging"),
        "{text}"
    );
    assert!(!text.contains("sqlite://"), "DSN leaked: {text}");
}

#[tokio::test]
async fn memory_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let mut other = demo.clone();
    other.alias = "other".into();
    other.aliases = vec![];
    let targets = vec![demo, other];

    let first = engine_at(dir.path(), targets.clone());
    let r = first.handle(msg("m1", "report space")).await.expect("turn");
    assert!(r.choices().is_some(), "{}", r.plain_text());
    first.runner().close().await;
    drop(first); // closes sled

    let second = engine_at(dir.path(), targets);
    let r = second.handle(msg("m1", "1")).await.expect("turn");
    assert!(
        r.plain_text().contains("Space report — demo"),
        "{}",
        r.plain_text()
    );
    second.runner().close().await;
}

fn engine_at(dir: &std::path::Path, targets: Vec<dbabot::config::Target>) -> dbabot::Engine {
    let mut cfg = dbabot::config::Config::embedded(dir.to_path_buf());
    cfg.targets = targets;
    let memory = dbabot::memory::Memory::open(&dir.join("memory")).expect("open memory");
    dbabot::Engine::new(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        memory,
        std::sync::Arc::new(dbabot::recommend::RulesRecommender),
    )
    .expect("engine")
}

/// orders-pg (PostgreSQL, prod) with customers and orders tables, billing-maria (MariaDB, staging).
async fn pg_prod_and_maria_staging() -> (
    crate::support::TestBot,
    crate::support::TestDb,
    crate::support::TestDb,
) {
    let pg = crate::support::TestDb::postgres().await;
    let my = crate::support::TestDb::mysql().await;
    let mut c = pg.pg().await;
    for sql in [
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL)",
        "CREATE INDEX customers_email_idx ON customers (email)",
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total numeric)",
        "CREATE INDEX orders_customer_idx ON orders (customer_id)",
        "CREATE INDEX orders_customer_dup_idx ON orders (customer_id)",
        "INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 500) g",
        "INSERT INTO orders SELECT g, 1 + g % 500, g FROM generate_series(1, 2000) g",
        "ANALYZE",
    ] {
        sqlx::Executor::execute(&mut c, sql).await.expect(sql);
    }
    let bot = crate::support::TestBot::new(vec![
        pg.target("orders-pg", "prod", "on-prem"),
        my.target("billing-maria", "staging", "on-prem"),
    ]);
    (bot, pg, my)
}

#[tokio::test]
async fn a_changed_slot_keeps_the_question_and_never_switches_engine_silently() {
    let (bot, _pg, _my) = pg_prod_and_maria_staging().await;
    let r = bot.ask("s1", "orders-pg is slow since 10:00").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("slow_query"),
        "{}",
        r.plain_text()
    );
    assert!(
        r.plain_text().contains("Target: orders-pg"),
        "{}",
        r.plain_text()
    );

    // The only staging database is MariaDB: say so and ask, run nothing.
    let r = bot.ask("s1", "actually it's staging").await;
    let text = r.plain_text();
    assert_eq!(r.intent.as_deref(), Some("slow_query"), "{text}");
    assert!(r.checks.is_empty(), "ran checks: {text}");
    assert!(
        text.contains("No configured database is PostgreSQL (staging)"),
        "{text}"
    );
    assert!(
        text.contains("did not switch to a different engine"),
        "{text}"
    );
    let (id, options) = r.choices().expect("asks");
    assert_eq!(id, "target");
    assert!(options.iter().any(|o| o.value == "billing-maria"), "{text}");

    // Picking it explicitly is fine, and the question is still the slow-query one.
    let r = bot.ask("s1", "the mariadb one").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("slow_query"),
        "{}",
        r.plain_text()
    );
    assert!(
        r.plain_text().contains("Target: billing-maria"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn what_about_an_object_rescopes_the_answer() {
    let (bot, _pg, _my) = pg_prod_and_maria_staging().await;
    let r = bot.ask("w1", "any index problems on orders-pg?").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("index_advice"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("w1", "what about the customers table?").await;
    let text = r.plain_text();
    assert_eq!(r.intent.as_deref(), Some("index_advice"), "{text}");
    assert!(r.choices().is_none(), "no did-you-mean menu: {text}");
    assert!(text.contains("About `customers`"), "{text}");
    assert!(text.contains("customers_email_idx"), "its indexes: {text}");

    let r = bot.ask("w2", "is anything bloated on orders-pg?").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("table_bloat_vacuum"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("w2", "what about the orders table?").await;
    let text = r.plain_text();
    assert_eq!(r.intent.as_deref(), Some("table_bloat_vacuum"), "{text}");
    assert!(r.choices().is_none(), "no did-you-mean menu: {text}");
    assert!(text.contains("About `orders`"), "{text}");
    assert!(text.contains("orders_customer_dup_idx"), "{text}");
}

#[tokio::test]
async fn engine_names_ordinals_and_partial_names_answer_which_database() {
    let (bot, _pg, _my) = pg_prod_and_maria_staging().await;
    let r = bot.ask("o1", "who is blocking whom?").await;
    assert_eq!(
        r.choices().map(|c| c.0),
        Some("target"),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("o1", "the postgres one").await;
    assert!(
        r.plain_text().contains("Target: orders-pg"),
        "{}",
        r.plain_text()
    );

    let r = bot.ask("o2", "who is blocking whom?").await;
    assert!(r.choices().is_some());
    let r = bot.ask("o2", "the second one").await;
    assert!(
        r.plain_text().contains("Target: billing-maria"),
        "{}",
        r.plain_text()
    );

    let r = bot.ask("o3", "who is blocking whom?").await;
    assert!(r.choices().is_some());
    let r = bot.ask("o3", "billing").await;
    assert!(
        r.plain_text().contains("Target: billing-maria"),
        "{}",
        r.plain_text()
    );

    let r = bot.ask("o4", "who is blocking whom?").await;
    assert!(r.choices().is_some());
    let r = bot.ask("o4", "ordrs-pg").await;
    assert!(
        r.plain_text().contains("Target: orders-pg"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn seven_picks_the_seventh_of_eight_databases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let targets = (1..=8)
        .map(|i| {
            let mut t = demo.clone();
            t.alias = format!("shop-{i}");
            t
        })
        .collect();
    let bot = crate::support::TestBot::in_dir(dir, targets);
    let r = bot.ask("n1", "any duplicate indexes?").await;
    assert_eq!(
        r.choices().map(|c| c.1.len()),
        Some(8),
        "{}",
        r.plain_text()
    );
    let r = bot.ask("n1", "7").await;
    assert!(
        r.plain_text().contains("Target: shop-7"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn urgency_thanks_greetings_and_capabilities() {
    let (bot, _pg, _my) = pg_prod_and_maria_staging().await;
    let r = bot
        .ask(
            "u1",
            "help!! orders-pg is on fire, queries are super slow asap",
        )
        .await;
    let text = r.plain_text();
    assert_eq!(r.intent.as_deref(), Some("slow_query"), "{text}");
    assert!(text.contains("Target: orders-pg"), "{text}");
    assert!(!text.contains("Escalated"), "{text}");

    let r = bot
        .ask(
            "u2",
            "our checkout service is timing out talking to orders-pg",
        )
        .await;
    assert_ne!(r.intent.as_deref(), Some("escalate"), "{}", r.plain_text());
    assert!(!r.plain_text().contains("Escalated"), "{}", r.plain_text());

    let r = bot.ask("u1", "thanks!").await;
    assert!(
        r.plain_text().contains("You're welcome"),
        "{}",
        r.plain_text()
    );
    assert!(r.plain_text().len() < 200, "{}", r.plain_text());
    let r = bot.ask("u3", "hi").await;
    assert_eq!(r.intent.as_deref(), Some("greeting"));
    let r = bot.ask("u3", "what can you do?").await;
    assert_eq!(r.intent.as_deref(), Some("help"), "{}", r.plain_text());
    assert!(r.plain_text().contains("Commands"), "{}", r.plain_text());
}

#[tokio::test]
async fn forget_also_forgets_the_escalation_link() {
    let bot = crate::support::TestBot::demo().await;
    let r = bot.ask("x1", "escalate the replica is broken").await;
    let first = r.plain_text();
    assert!(first.contains("CASE-"), "{first}");
    let r = bot.ask("x1", "escalate").await;
    assert!(
        r.plain_text().contains("already escalated"),
        "{}",
        r.plain_text()
    );
    bot.ask("x1", "forget").await;
    let r = bot.ask("x1", "escalate").await;
    let text = r.plain_text();
    assert!(!text.contains("already escalated"), "{text}");
    assert!(text.contains("CASE-0002"), "a new case: {text}");
    // The first case itself stays with the DBA team.
    assert_eq!(bot.engine.cases().list(None).await.len(), 2);
}

/// A database that refuses connections: the answer says why (not "pool timed out") and says it
/// once, not once per check.
#[tokio::test]
async fn an_unreachable_database_is_named_as_such_once() {
    let target = dbabot::config::Target {
        alias: "billing-pg".into(),
        aliases: vec![],
        engine: dbabot::config::Engine::Postgres,
        environment: "prod".into(),
        cloud: "aws".into(),
        dsn_source: "test".into(),
        dsn: dbabot::config::Secret::new("postgres://bot@127.0.0.1:1/billing".to_string()),
    };
    let bot = crate::support::TestBot::new(vec![target]);
    let reply = bot
        .ask("down", "billing-pg is super slow, checkout is timing out")
        .await;
    let text = reply.plain_text();
    // The evidence (no check could connect) decides the topic, not the word "slow".
    assert_eq!(reply.intent.as_deref(), Some("connection_errors"), "{text}");
    assert!(!text.contains("Query shape"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("pool timed out"), "{text}");
    // Named once, by how it failed (nothing listens), not once per check.
    assert_eq!(
        text.matches("Nothing listens on the database port").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("The bot itself could not run"), "{text}");
    assert!(text.contains("checks could not run ("), "{text}");
}

/// A database the user names that is not configured is never swapped for the only configured
/// one that fits the stated engine, cloud and environment: the answer says it is not connected
/// to that name, lists what it can check, runs nothing, and gives the engine's advice; naming a
/// configured database afterwards reads that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfigured_database_is_not_swapped_for_a_configured_one() {
    let db = crate::support::TestDb::postgres().await;
    let bot = crate::support::TestBot::new(vec![db.target("orders-pg", "prod", "aws")]);
    let reply = bot
        .ask(
            "other-db",
            "billing-db in prod is slow since 10:00, Aurora PostgreSQL on AWS",
        )
        .await;
    let text = reply.plain_text();
    assert!(text.contains("not connected to `billing-db`"), "{text}");
    assert!(
        text.contains("orders-pg"),
        "it lists what it can check: {text}"
    );
    assert!(!text.contains("Target: orders-pg"), "{text}");
    assert!(!text.contains("checks:"), "no diagnostics ran: {text}");
    assert!(
        text.contains("EXPLAIN (ANALYZE, BUFFERS"),
        "PostgreSQL advice: {text}"
    );
    assert!(!text.contains("InnoDB"), "{text}");
    // Naming the configured database reads it.
    let text = bot
        .ask("other-db", "ok then check orders-pg")
        .await
        .plain_text();
    assert!(text.contains("orders-pg"), "{text}");
    assert!(text.contains("checks:"), "{text}");
    bot.engine.runner().close().await;
}

/// Words that mislead the classifier: a report of theirs that is slow is not a request for one
/// of ours, a piece of work that times out is a slow statement, not a connection problem, a
/// page that spins is not a request for a person, a write freeze during a backup is a locks
/// question; real report requests, connection timeouts and asks for a DBA keep their meaning.
#[tokio::test]
async fn a_slow_report_or_a_timing_out_job_is_a_slow_query() {
    let bot = crate::support::TestBot::demo().await;
    for (q, want) in [
        ("our nightly report on demo is slow", "slow_query"),
        (
            "the finance report on demo times out since this morning",
            "slow_query",
        ),
        ("the export job keeps timing out on demo", "slow_query"),
        (
            "the monthly summary report takes forever on demo",
            "slow_query",
        ),
        ("run the health report for demo", "report_request"),
        ("schema report for demo please", "report_request"),
        ("the app gets connect timeouts to demo", "connection_errors"),
        (
            "psql times out when I try to log in to demo",
            "connection_errors",
        ),
        (
            "can I get the slow-queries report for demo",
            "report_request",
        ),
        ("the checkout page on demo spins for a minute", "slow_query"),
        (
            "every write on demo froze when the backup started",
            "locks_blocking",
        ),
        ("can you get a real DBA to look at demo", "escalate"),
        (
            "the report query times out after 30s on the demo replica",
            "slow_query",
        ),
        ("the demo replica is 10 minutes behind", "replication_lag"),
    ] {
        let reply = bot.ask(&format!("t-{q}"), q).await;
        assert_eq!(
            reply.intent.as_deref(),
            Some(want),
            "{q}:\n{}",
            reply.plain_text()
        );
    }
}
