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
        bot.engine.memory().load(&key).expect("load").is_none(),
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
