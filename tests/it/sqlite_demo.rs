//! The bundled demo database: its planted problems are found through the engine.

use crate::support::TestBot;

#[tokio::test]
async fn demo_problems_are_found() {
    let bot = TestBot::demo().await;
    let r = bot.ask("d1", "report index-usage demo").await;
    let text = r.plain_text();
    assert!(
        text.contains(
            "Index idx_orders_customer_dup on orders (customer_id) duplicates idx_orders_customer"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "events.customer_id (references customers) has no index and events has ~120000 rows"
        ),
        "{text}"
    );
    assert!(
        r.parts.iter().any(
            |p| matches!(p, dbabot_chat::Part::Attachment(a) if a.name == "index-usage-demo.csv")
        ),
        "no CSV"
    );
    let r = bot.ask("d2", "report schema").await;
    assert!(
        r.plain_text().contains("order_items has no primary key"),
        "{}",
        r.plain_text()
    );
    // The demo file is opened read-only: it is byte-for-byte unchanged after diagnostics.
    let before = std::fs::read(bot.dir.path().join("demo.sqlite")).expect("read");
    let _ = bot.ask("d3", "report health demo").await;
    let _ = bot
        .ask("d3", "explain SELECT * FROM events WHERE customer_id = 3")
        .await;
    bot.engine.runner().close().await;
    let after = std::fs::read(bot.dir.path().join("demo.sqlite")).expect("read");
    assert!(before == after, "the demo database changed");
}

/// On SQLite every line belongs to SQLite: real table sizes (dbstat), one row count per table
/// in an answer, a SQLite situation for lock questions, and no server or PostgreSQL vocabulary.
#[tokio::test]
async fn sqlite_answers_keep_to_sqlite_and_agree_on_their_figures() {
    let bot = TestBot::demo().await;
    let space = bot
        .ask("s1", "whats taking up all the space")
        .await
        .plain_text();
    assert!(space.contains("events: "), "{space}");
    assert!(
        !space.contains("rows (~"),
        "a size is a size, not a row count repeated:\n{space}"
    );
    assert!(space.contains(" MB"), "dbstat sizes are shown:\n{space}");
    let schema = bot
        .ask("s2", "any tables without a primary key on demo?")
        .await
        .plain_text();
    assert!(
        schema.contains("order_items has no primary key (~50000 rows)"),
        "the row count agrees with the table sizes:\n{schema}"
    );
    let locked = bot
        .ask("s3", "our nightly job failed with database is locked")
        .await
        .plain_text();
    assert!(
        locked.contains("SQLite allows one writer at a time"),
        "{locked}"
    );
    let slow = bot
        .ask("s4", "the app is crawling, is the db the problem?")
        .await
        .plain_text();
    for foreign in [
        "generic plan",
        "wait event",
        "On PostgreSQL",
        "CONCURRENTLY",
        "timestamptz",
    ] {
        for text in [&space, &schema, &locked, &slow] {
            assert!(
                !text.contains(foreign),
                "`{foreign}` is not SQLite's:\n{text}"
            );
        }
    }
}

/// "tell me about the orders table" answers about that table (its findings, size and indexes)
/// instead of a menu or the list of databases.
#[tokio::test]
async fn a_question_about_a_table_answers_about_the_table() {
    let bot = TestBot::demo().await;
    for (i, q) in [
        "tell me about the orders table",
        "what do you know about the orders table on demo?",
    ]
    .iter()
    .enumerate()
    {
        let r = bot.ask(&format!("t{i}"), q).await;
        let text = r.plain_text();
        assert!(r.choices().is_none(), "{q}: no menu:\n{text}");
        assert!(text.contains("About `orders`"), "{q}:\n{text}");
        assert!(
            text.contains(
                "idx_orders_customer_dup on orders (customer_id) duplicates idx_orders_customer"
            ),
            "{q}: the table's finding is named:\n{text}"
        );
    }
}

/// "database is locked" on SQLite is answered from what the file shows (its journal mode), not
/// with server vocabulary about sessions.
#[tokio::test]
async fn database_is_locked_is_answered_from_the_journal_mode() {
    let bot = TestBot::demo().await;
    let text = bot
        .ask(
            "l1",
            "our app keeps getting \"database is locked\" on demo, what do we do?",
        )
        .await
        .plain_text();
    assert!(text.contains("journal mode delete"), "{text}");
    assert!(text.contains("rollback journal"), "{text}");
    assert!(!text.contains("no session waiting"), "{text}");
    assert!(text.contains("PRAGMA busy_timeout"), "{text}");
}
