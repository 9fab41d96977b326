//! The classifier against the catalog's own utterances, leave-one-out, plus the brief's examples.

use dbabot::intents::{Catalog, Classifier, Intent};

#[test]
fn leave_one_out_accuracy_is_high() {
    let cat = Catalog::embedded().expect("catalog");
    let (mut right, mut total) = (0, 0);
    let mut misses = Vec::new();
    for (i, intent) in cat.intents.iter().enumerate() {
        for (j, ex) in intent.examples.iter().enumerate() {
            let mut intents: Vec<Intent> = cat.intents.clone();
            intents[i].examples.remove(j);
            let c = Classifier::new(&intents);
            total += 1;
            match c.classify(ex) {
                Some(r) if r.intent == intent.name => right += 1,
                other => misses.push(format!(
                    "{} <- {ex:?} (got {:?})",
                    intent.name,
                    other.map(|o| o.intent)
                )),
            }
        }
    }
    let acc = right as f64 / total as f64;
    println!("leave-one-out: {:.1}% ({right}/{total})", acc * 100.0);
    assert!(
        acc >= 0.72,
        "leave-one-out accuracy {acc:.2} ({right}/{total}); misses:\n{}",
        misses.join("\n")
    );
}

#[test]
fn the_briefs_examples_classify() {
    let cat = Catalog::embedded().expect("catalog");
    let c = Classifier::new(&cat.intents);
    for (text, want) in [
        (
            "orders-db in prod is slow since 10:00, Aurora PostgreSQL on AWS",
            "slow_query",
        ),
        (
            "my update on orders has been hanging for a minute",
            "locks_blocking",
        ),
        ("queries on events are slow", "slow_query"),
        ("we keep getting deadlock detected errors", "deadlocks"),
        ("replica is 20 minutes behind", "replication_lag"),
        ("disk is almost full on billing-prod", "disk_space"),
        ("forget this thread", "forget"),
        ("what's the weather in Paris", "out_of_scope"),
        (
            "too many connections on orders-prod",
            "too_many_connections",
        ),
    ] {
        let r = c.classify(text).expect("classified");
        assert_eq!(r.intent, want, "{text}: {:?}", r.candidates);
    }
}
