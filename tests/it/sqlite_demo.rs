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
