//! One rule-based turn without I/O: classify + slot extraction + recommend + render, over
//! findings from a recorded blocking-chain result set (diagnostics and sled excluded).
//! Target (issue 3): median under 1 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use dbabot::config::{Engine as DbEngine, Secret, Target};
use dbabot::diagnostics::{CheckOutcome, CheckStatus, ResultSet, Value};
use dbabot::intents::slots::TargetName;
use dbabot::intents::{extract, Catalog, Classifier};
use dbabot::recommend::{rules, Context};
use std::hint::black_box;

fn outcome() -> CheckOutcome {
    let rows = ResultSet::new(
        &[
            "blocked_pid",
            "blocked_query",
            "wait_s",
            "blocker_pid",
            "blocker_state",
            "blocker_query",
            "lock_type",
            "relation",
        ],
        vec![vec![
            Value::Int(4242),
            Value::Text("UPDATE orders SET status = 'shipped' WHERE id = 42".into()),
            Value::Float(63.0),
            Value::Int(4141),
            Value::Text("idle in transaction".into()),
            Value::Text("UPDATE orders SET status = 'paid' WHERE id = 42".into()),
            Value::Text("transactionid ShareLock".into()),
            Value::Text("orders".into()),
        ]],
    );
    let check = dbabot::diagnostics::catalog::variants(DbEngine::Postgres, "blocking_chains")[0];
    CheckOutcome {
        name: "blocking_chains".into(),
        title: check.title.into(),
        status: CheckStatus::Ok,
        duration_ms: 3,
        findings: (check.evaluate)(&rows),
        rows,
    }
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("catalog");
    let classifier = Classifier::new(&catalog.intents);
    let target = Target {
        alias: "orders-prod".into(),
        aliases: vec!["orders-db".into()],
        engine: DbEngine::Postgres,
        environment: "prod".into(),
        cloud: "aws".into(),
        dsn_source: "bench".into(),
        dsn: Secret::new("postgres://bench"),
    };
    let names = vec![TargetName {
        alias: target.alias.clone(),
        aliases: target.aliases.clone(),
        environment: "prod".into(),
    }];
    let reports: Vec<String> = catalog.reports.iter().map(|r| r.name.clone()).collect();
    let outcomes = vec![outcome()];
    let text = "my update on orders-db has been hanging for a minute since 10:00, Aurora PostgreSQL on AWS";
    c.bench_function("rule_based_turn", |b| {
        b.iter(|| {
            let class = classifier.understand(black_box(text)).expect("classified");
            let ex = extract(text, &names, &reports, &|code| {
                !catalog.error_code(code, None).is_empty()
            });
            let intent = catalog.intent(&class.intent).expect("intent");
            let ctx = Context {
                intent,
                slots: &ex.slots,
                target: Some(&target),
                outcomes: &outcomes,
                user_text: text,
                error_codes: vec![],
                gate: None,
                allowed_targets: vec![&target],
                explain_targets: vec![],
                turns: &[],
            };
            let rec = rules::recommend(&ctx);
            black_box(dbabot::render::recommendation(
                &rec,
                Some(&target),
                &ex.slots,
                &outcomes,
                &class.intent,
            ))
        })
    });
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion's plotters backend needs system fonts the container lacks.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
