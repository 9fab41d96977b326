//! Advice mode: when no configured database matches the engine, managed flavour, cloud or
//! environment the user states (or the user says "none" / "just advice"), the answer comes from
//! the playbooks for that engine and cloud and no check runs on a different engine.

use crate::support::{msg, two_target_bot, TestBot, TestDb};
use dbabot_chat::{MessageHandler, Reply, SelectedChoice};

fn lower(r: &Reply) -> String {
    r.plain_text().to_lowercase()
}

fn assert_advice_only(r: &Reply) {
    let text = r.plain_text();
    assert!(r.checks.is_empty(), "checks ran: {:?}\n{text}", r.checks);
    assert!(r.choices().is_none(), "asked a question: {text}");
    assert!(!text.contains("Which database"), "{text}");
    assert!(text.contains("no live diagnostics ran"), "{text}");
    assert!(text.contains("[[targets]]"), "says how to connect: {text}");
}

#[tokio::test]
async fn lambda_to_aurora_timeout_on_the_demo_gets_aws_advice() {
    let bot = TestBot::demo().await;
    let q = "Receiving 'connection timed-out' error on lambda logs connecting to RDS. Deployment: Cloud, AWS, Amazon Aurora PostgreSQL, Production";
    // No "Checking demo…" for a question the demo cannot answer.
    assert_eq!(bot.engine.progress_hint(&msg("a1", q)).await, None);
    let r = bot.ask("a1", q).await;
    assert_eq!(
        r.intent.as_deref(),
        Some("connection_errors"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);
    let t = lower(&r);
    for want in [
        "aurora postgresql",
        "vpc",
        "subnets",
        "security group",
        "5432",
        "rds proxy",
        "connect timeout below the function timeout",
        "max_connections",
        "outside the lambda handler",
        "secrets manager",
    ] {
        assert!(t.contains(want), "missing {want:?}:\n{}", r.plain_text());
    }
    for unwanted in ["sqlite", "target: demo"] {
        assert!(
            !t.contains(unwanted),
            "has {unwanted:?}:\n{}",
            r.plain_text()
        );
    }
    assert!(
        r.plain_text().contains("Environment: prod"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn none_not_connected_and_just_advice_are_answers() {
    let bot = two_target_bot().await;
    let r = bot.ask("n1", "any duplicate indexes?").await;
    let (id, options) = r.choices().expect("asks which database");
    assert_eq!(id, "target");
    assert_eq!(options.len(), 2);
    assert!(
        r.plain_text()
            .contains("\"none\" for advice without live diagnostics"),
        "offers advice without a database: {}",
        r.plain_text()
    );
    let r = bot
        .ask("n1", "none of these, it's not connected to you")
        .await;
    assert_eq!(
        r.intent.as_deref(),
        Some("index_advice"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);
    assert!(!r.plain_text().contains("idx_orders_customer_dup"));

    // Clicking the "none" button.
    let r = bot.ask("n2", "who is blocking whom right now?").await;
    assert_eq!(
        r.choices().map(|c| c.0),
        Some("target"),
        "{}",
        r.plain_text()
    );
    let mut click = msg("n2", "");
    click.choice = Some(SelectedChoice {
        choice_id: "target".into(),
        value: "none".into(),
    });
    let r = bot.engine.handle(click).await.expect("turn");
    assert_eq!(
        r.intent.as_deref(),
        Some("locks_blocking"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);

    // "just give me general advice" typed instead of an answer.
    let r = bot.ask("n3", "replication seems to be lagging").await;
    assert!(r.choices().is_some(), "{}", r.plain_text());
    let r = bot.ask("n3", "just give me general advice").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("replication_lag"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);
}

/// A PostgreSQL and a MariaDB target, both on-premises in prod.
async fn pg_and_mariadb() -> (TestBot, TestDb, TestDb) {
    let pg = TestDb::postgres().await;
    let my = TestDb::mysql().await;
    let bot = TestBot::new(vec![
        pg.target("orders-pg", "prod", "on-prem"),
        my.target("billing-maria", "prod", "on-prem"),
    ]);
    (bot, pg, my)
}

#[tokio::test]
async fn questions_about_unconfigured_databases_never_run_on_another_engine() {
    let (bot, _pg, _my) = pg_and_mariadb().await;

    let r = bot
        .ask(
            "u1",
            "Cloud SQL for MySQL on GCP keeps saying Too many connections, what do I do?",
        )
        .await;
    assert_eq!(
        r.intent.as_deref(),
        Some("too_many_connections"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);
    let t = lower(&r);
    assert!(t.contains("cloud sql"), "{}", r.plain_text());
    assert!(t.contains("processlist"), "MySQL steps: {}", r.plain_text());
    assert!(!t.contains("pg_stat_activity"), "{}", r.plain_text());
    assert!(
        !t.contains("cloudwatch"),
        "no AWS advice for GCP: {}",
        r.plain_text()
    );

    let r = bot
        .ask(
            "u2",
            "Azure SQL Database: DTU is at 100% since this morning",
        )
        .await;
    assert_advice_only(&r);
    let t = lower(&r);
    assert!(t.contains("azure sql database"), "{}", r.plain_text());
    assert!(t.contains("dtu"), "{}", r.plain_text());
    assert!(!t.contains("kill query"), "{}", r.plain_text());
    assert!(!t.contains("pg_stat_activity"), "{}", r.plain_text());

    let r = bot.ask("u3", "Aurora MySQL reader lag keeps growing").await;
    assert_eq!(
        r.intent.as_deref(),
        Some("replication_lag"),
        "{}",
        r.plain_text()
    );
    assert_advice_only(&r);
    let t = lower(&r);
    assert!(t.contains("aurorareplicalag"), "{}", r.plain_text());
    assert!(t.contains("replica_host_status"), "{}", r.plain_text());
    assert!(!t.contains("pg_stat_replication"), "{}", r.plain_text());

    let r = bot
        .ask(
            "u4",
            "How should I size max_connections for an RDS PostgreSQL db.r6g.large?",
        )
        .await;
    assert_advice_only(&r);
    assert!(
        r.plain_text()
            .contains("LEAST({DBInstanceClassMemory/9531392}, 5000)"),
        "{}",
        r.plain_text()
    );
}

#[tokio::test]
async fn a_stated_engine_picks_the_matching_target() {
    let (bot, _pg, _my) = pg_and_mariadb().await;
    // Two targets, but only one is PostgreSQL: no question, the checks run there.
    let r = bot
        .ask("s1", "too many connections on our postgres db in prod")
        .await;
    let text = r.plain_text();
    assert!(text.contains("Target: orders-pg"), "{text}");
    assert!(!r.checks.is_empty(), "{text}");
    assert!(!text.contains("no live diagnostics ran"), "{text}");
    let r = bot.ask("s2", "mariadb has too many connections").await;
    assert!(
        r.plain_text().contains("Target: billing-maria"),
        "{}",
        r.plain_text()
    );
    // Stated cloud that no target has: advice, even though the engine matches.
    let r = bot
        .ask("s3", "RDS for PostgreSQL has too many connections")
        .await;
    assert_advice_only(&r);
}

/// Advice-mode situations describe the stated deployment in words, never raw slot values.
#[tokio::test]
async fn advice_situations_read_as_sentences() {
    let bot = TestBot::demo().await;
    for (i, q) in [
        "Receiving 'connection timed-out' error on lambda logs connecting to RDS. Deployment: Cloud, AWS, Amazon Aurora PostgreSQL, Production",
        "our Azure SQL database DTU is pegged at 100%, what should we check?",
        "Cloud SQL for MySQL on GCP keeps saying Too many connections",
    ]
    .iter()
    .enumerate()
    {
        let r = bot.ask(&format!("sit{i}"), q).await;
        assert_advice_only(&r);
        let text = r.plain_text();
        for raw in [
            "(postgres,",
            "(mysql,",
            "(mssql,",
            "its environment",
            "its hosting",
            "the engine,",
        ] {
            assert!(!text.contains(raw), "{q}: raw slot words `{raw}`:\n{text}");
        }
        let situation = text
            .split("Situation\n")
            .nth(1)
            .and_then(|t| t.lines().next())
            .unwrap_or_default();
        assert!(
            situation.starts_with(|c: char| c.is_uppercase()),
            "{q}: the situation starts as a sentence:\n{text}"
        );
    }
}
