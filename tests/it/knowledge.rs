//! Knowledge that fits the engine: every intent rendered for every engine, cloud and finding
//! holds no vocabulary of another engine and no unfilled placeholder; error codes are
//! engine-qualified; code-less messages map to their code; the catalog loads from a directory
//! and fails on typos with file, line and key.

use dbabot::config::{Engine as DbEngine, Secret, Target};
use dbabot::diagnostics::{CheckOutcome, CheckStatus, Finding, ResultSet};
use dbabot::intents::registry::{facts_of, FINDINGS};
use dbabot::intents::{Catalog, Flavour, Scope, Slots};
use dbabot::recommend::{rules, Context, Recommendation};
use dbabot_chat::Severity;
use std::collections::BTreeSet;

fn target(engine: DbEngine, cloud: &str) -> Target {
    Target {
        alias: "orders-prod".into(),
        aliases: vec![],
        engine,
        environment: "prod".into(),
        cloud: cloud.into(),
        dsn_source: "test".into(),
        dsn: Secret::new("unused://"),
    }
}

/// A finding with every fact the registry lists for its code, values free of any vocabulary.
fn finding(code: &str) -> Finding {
    let mut f = Finding::new("check", code, Severity::Warning, format!("finding {code}"));
    for fact in facts_of(code).unwrap_or(&[]) {
        f = f.fact(fact, format!("v{}", fact.len()));
    }
    f
}

fn overview(version: &str) -> Finding {
    Finding::new("overview", "overview", Severity::Ok, "overview").fact("version", version)
}

/// The target engine, the `overview` finding and the words that make a scope detect `f`.
fn setup(
    f: Flavour,
) -> (
    Option<DbEngine>,
    Option<Finding>,
    Option<&'static str>,
    &'static str,
) {
    match f {
        Flavour::Postgres => (Some(DbEngine::Postgres), Some(overview("15.20")), None, ""),
        Flavour::MysqlFamily => (Some(DbEngine::Mysql), None, None, ""),
        Flavour::Mariadb => (
            Some(DbEngine::Mysql),
            Some(overview("10.11.6-MariaDB-0+deb12u1")),
            None,
            "",
        ),
        Flavour::Mysql => (Some(DbEngine::Mysql), Some(overview("8.0.36")), None, ""),
        Flavour::Sqlite => (Some(DbEngine::Sqlite), Some(overview("3.45.1")), None, ""),
        Flavour::Mssql => (Some(DbEngine::Mssql), None, None, ""),
        Flavour::Oracle => (None, None, Some("oracle"), ""),
        Flavour::Db2 => (None, None, None, "on our db2 box"),
    }
}

fn texts(r: &Recommendation) -> Vec<(String, String)> {
    let mut v = vec![("situation".to_string(), r.situation.clone())];
    v.extend(
        r.root_causes
            .iter()
            .map(|t| ("root cause".to_string(), t.clone())),
    );
    for (sec, acts) in [
        ("immediate", &r.immediate),
        ("longer term", &r.longer_term),
        ("verify", &r.verify),
    ] {
        for a in acts {
            v.push((sec.to_string(), a.text.clone()));
            v.extend(a.sql.iter().map(|q| (format!("{sec} sql"), q.clone())));
        }
    }
    v.extend(
        r.cloud_advice
            .iter()
            .map(|c| ("cloud".to_string(), c.clone())),
    );
    v
}

/// `<name>` (what the template leaves for a missing value), `{name}`, or `n/a`.
fn unfilled(t: &str) -> Option<String> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"<[a-z_]+>|\{[a-z_]+\}|\bn/a\b").expect("regex")
    });
    RE.find(t).map(|m| m.as_str().to_string())
}

#[test]
fn every_intent_for_every_engine_cloud_and_finding_stays_on_its_engine() {
    let cat = Catalog::embedded().expect("catalog");
    assert!(
        cat.vocabulary.words.len() > 100,
        "vocabulary is too small to mean anything"
    );
    let mut problems: BTreeSet<String> = BTreeSet::new();
    let mut renders = 0usize;
    let clouds = [
        None,
        Some("aws"),
        Some("azure"),
        Some("gcp"),
        Some("on-prem"),
    ];
    for intent in &cat.intents {
        let reacts: BTreeSet<&str> = intent
            .playbook
            .lines()
            .iter()
            .filter_map(|(_, s)| s.when.as_deref())
            .collect();
        for flavour in Flavour::ALL.into_iter().map(Some).chain([None]) {
            for cloud in clouds {
                let (engine, ov, slot_engine, words) = match flavour {
                    Some(f) => setup(f),
                    None => (None, None, None, ""),
                };
                // Findings come only from the engine's own diagnostics: none, each one the
                // playbook reacts to, and all of them at once.
                let emitted: Vec<&str> = FINDINGS
                    .iter()
                    .filter(|f| f.code != "overview")
                    .filter(|f| engine.is_some_and(|e| f.engines.contains(&e.as_str())))
                    .map(|f| f.code)
                    .collect();
                let mut sets: Vec<Vec<Finding>> = vec![vec![]];
                sets.extend(
                    emitted
                        .iter()
                        .filter(|c| reacts.contains(*c))
                        .map(|c| vec![finding(c)]),
                );
                if !emitted.is_empty() {
                    sets.push(emitted.iter().map(|c| finding(c)).collect());
                }
                for set in &sets {
                    let t = engine.map(|e| target(e, cloud.unwrap_or("on-prem")));
                    let t = if cloud.is_none() { None } else { t };
                    let slots = Slots {
                        engine: slot_engine.map(str::to_string).or_else(|| {
                            engine
                                .filter(|_| t.is_none())
                                .map(|e| e.as_str().to_string())
                        }),
                        ..Slots::default()
                    };
                    let mut findings = set.clone();
                    findings.extend(ov.clone());
                    let scope = Scope::detect(t.as_ref(), &slots, &findings, words);
                    assert_eq!(scope.engine, flavour, "scope detection for {flavour:?}");
                    let scoped = intent.scoped(&scope);
                    let outcomes = [CheckOutcome {
                        name: "check".into(),
                        title: "check".into(),
                        status: CheckStatus::Ok,
                        duration_ms: 1,
                        rows: ResultSet::default(),
                        findings,
                    }];
                    let ctx = Context {
                        intent: &scoped,
                        slots: &slots,
                        target: t.as_ref(),
                        outcomes: &outcomes,
                        user_text: words,
                        error_codes: vec![],
                        gate: None,
                        allowed_targets: vec![],
                        explain_targets: vec![],
                        turns: &[],
                    };
                    let rec = rules::recommend(&ctx);
                    renders += 1;
                    let dialect = match flavour {
                        Some(Flavour::Postgres) => "postgres",
                        Some(Flavour::MysqlFamily | Flavour::Mariadb | Flavour::Mysql) => "mysql",
                        Some(Flavour::Sqlite) => "sqlite",
                        Some(Flavour::Mssql) => "mssql",
                        _ => "",
                    };
                    if let Some(f) = flavour {
                        for a in rec
                            .immediate
                            .iter()
                            .chain(&rec.longer_term)
                            .chain(&rec.verify)
                        {
                            if let Some(problem) = a
                                .sql
                                .as_deref()
                                .and_then(|q| crate::support::sql_problem(q, dialect))
                            {
                                problems.insert(format!(
                                    "{} [{}] sql: {problem}",
                                    intent.name,
                                    f.name()
                                ));
                            }
                        }
                    }
                    for (sec, text) in texts(&rec) {
                        if let Some(u) = unfilled(&text) {
                            problems.insert(format!(
                                "{} [{}] {sec}: unfilled {u} in: {text}",
                                intent.name,
                                flavour.map_or("unknown", |f| f.name())
                            ));
                        }
                        // Conversation intents describe the bot itself, not an engine.
                        if let Some(f) = flavour.filter(|_| intent.category != "conversation") {
                            let foreign = cat.vocabulary.foreign(&text, f);
                            if !foreign.is_empty() {
                                problems.insert(format!(
                                    "{} [{}] {sec}: {} in: {text}",
                                    intent.name,
                                    f.name(),
                                    foreign.join(", ")
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    // Every knowledge-base entry keeps to its own engine as well.
    for e in &cat.error_codes {
        let f = Flavour::from_name(&e.engine).expect("entry engine is a flavour");
        let text = [e.message.as_str(), e.meaning.as_str()]
            .into_iter()
            .chain(e.causes.iter().map(String::as_str))
            .chain(e.fixes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let foreign = cat.vocabulary.foreign(&text, f);
        if !foreign.is_empty() {
            problems.insert(format!(
                "error code {} {}: {}",
                e.engine,
                e.code,
                foreign.join(", ")
            ));
        }
    }
    assert!(renders > 3_000, "only {renders} renders");
    assert!(
        problems.is_empty(),
        "{} problems in {renders} renders:\n{}",
        problems.len(),
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// At least 30 error messages quoted without their code, across engines, each mapped to the
/// (engine, code) of a knowledge-base entry by the patterns in `error-codes.toml`.
#[test]
fn code_less_messages_map_to_their_code() {
    let cat = Catalog::embedded().expect("catalog");
    let cases: &[(&str, &str, &str)] = &[
        ("FATAL: remaining connection slots are reserved for non-replication superuser connections", "postgres", "53300"),
        ("FATAL:  sorry, too many clients already", "postgres", "53300"),
        ("ERROR: duplicate key value violates unique constraint \"users_email_key\"", "postgres", "23505"),
        ("ERROR:  nextval: reached maximum value of sequence \"orders_id_seq\" (2147483647)", "postgres", "2200H"),
        ("ERROR:  deadlock detected\nDETAIL:  Process 123 waits for ShareLock", "postgres", "40P01"),
        ("could not serialize access due to concurrent update", "postgres", "40001"),
        ("ERROR: canceling statement due to statement timeout", "postgres", "57014"),
        ("canceling statement due to lock timeout", "postgres", "55P03"),
        ("current transaction is aborted, commands ignored until end of transaction block", "postgres", "25P02"),
        ("FATAL: terminating connection due to idle-in-transaction timeout", "postgres", "25P03"),
        ("FATAL: password authentication failed for user \"app\"", "postgres", "28P01"),
        ("no pg_hba.conf entry for host \"10.0.0.5\", user \"app\", database \"orders\"", "postgres", "28000"),
        ("insert or update on table \"orders\" violates foreign key constraint \"orders_customer_fk\"", "postgres", "23503"),
        ("null value in column \"email\" of relation \"users\" violates not-null constraint", "postgres", "23502"),
        ("ERROR: relation \"ordrs\" does not exist", "postgres", "42P01"),
        ("could not extend file \"base/16384/16385\": No space left on device", "postgres", "53100"),
        ("ERROR: integer out of range", "postgres", "22003"),
        ("Duplicate entry '2147483647' for key 'PRIMARY'", "mysql", "1062"),
        ("ERROR 1040 (HY000): Too many connections", "mysql", "1040"),
        ("Lock wait timeout exceeded; try restarting transaction", "mysql", "1205"),
        ("Deadlock found when trying to get lock; try restarting transaction", "mysql", "1213"),
        ("MySQL server has gone away", "mysql", "2006"),
        ("Lost connection to MySQL server during query", "mysql", "2013"),
        ("Access denied for user 'app'@'10.0.0.5' (using password: YES)", "mysql", "1045"),
        ("Host '10.0.0.5' is blocked because of many connection errors", "mysql", "1129"),
        ("Got a packet bigger than 'max_allowed_packet' bytes", "mysql", "1153"),
        ("The table '/tmp/#sql1234_5' is full", "mysql", "1114"),
        ("Cannot add or update a child row: a foreign key constraint fails", "mysql", "1452"),
        ("Query execution was interrupted, maximum statement execution time exceeded", "mysql-only", "3024"),
        ("Query execution was interrupted (max_statement_time exceeded)", "mariadb", "1969"),
        ("Transaction (Process ID 57) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.", "mssql", "1205"),
        ("Login failed for user 'app'.", "mssql", "18456"),
        ("The transaction log for database 'orders' is full due to 'LOG_BACKUP'.", "mssql", "9002"),
        ("Violation of PRIMARY KEY constraint 'PK_orders'. Cannot insert duplicate key", "mssql", "2627"),
        ("Lock request time out period exceeded.", "mssql", "1222"),
        ("Execution Timeout Expired. The timeout period elapsed prior to completion", "mssql", "-2"),
        ("deadlock detected while waiting for resource", "oracle", "ORA-00060"),
        ("snapshot too old: rollback segment number 12 with name \"_SYSSMU12$\" too small", "oracle", "ORA-01555"),
        ("TNS:no listener", "oracle", "ORA-12541"),
        ("maximum open cursors exceeded", "oracle", "ORA-01000"),
        ("sqlite3.OperationalError: database is locked", "sqlite", "SQLITE_BUSY"),
        ("database table is locked", "sqlite", "SQLITE_LOCKED"),
        ("Error: database disk image is malformed", "sqlite", "SQLITE_CORRUPT"),
        ("database or disk is full", "sqlite", "SQLITE_FULL"),
        ("unable to open database file", "sqlite", "SQLITE_CANTOPEN"),
        ("attempt to write a readonly database", "sqlite", "SQLITE_READONLY"),
        ("UNIQUE constraint failed: users.email", "sqlite", "SQLITE_CONSTRAINT"),
        ("SQL0911N The current transaction has been rolled back because of a deadlock or timeout. Reason code \"2\".", "db2", "SQL0911N"),
        ("SQL0964C The transaction log for the database is full.", "db2", "SQL0964C"),
    ];
    assert!(cases.len() >= 30);
    for (text, engine, code) in cases {
        let p = cat
            .match_message(text, None)
            .unwrap_or_else(|| panic!("no pattern matches {text:?}"));
        assert_eq!(
            (p.engine.as_str(), p.code.as_str()),
            (*engine, *code),
            "{text}"
        );
        let entries = cat.error_code(code, Some(engine));
        assert!(
            !entries.is_empty() && entries.iter().all(|e| e.engine == *engine),
            "{engine} {code}: {entries:?}"
        );
    }
    // Ordinary questions are not errors.
    for text in [
        "is orders-db healthy",
        "we need more connections for the new service",
        "why is the report slow",
    ] {
        assert!(cat.match_message(text, None).is_none(), "{text}");
    }
    // The engine in question decides: a message read on a known engine takes only that engine's
    // patterns, and no other engine's code when none of its own matches.
    for (text, engine, code) in [
        (
            "FATAL: too many connections for role \"app\"",
            "postgres",
            Some("53300"),
        ),
        (
            "FATAL:  too many connections for database \"shop\"",
            "postgres",
            Some("53300"),
        ),
        ("ERROR 1040: Too many connections", "postgres", None),
        ("ERROR 1040: Too many connections", "mysql", Some("1040")),
        ("Deadlock found when trying to get lock", "postgres", None),
        ("ERROR: deadlock detected", "mysql", None),
        ("database is locked", "postgres", None),
        ("database is locked", "sqlite", Some("SQLITE_BUSY")),
        (
            "Lock wait timeout exceeded; try restarting transaction",
            "mysql",
            Some("1205"),
        ),
    ] {
        let got = cat
            .match_message(text, Some(engine))
            .map(|p| p.code.as_str());
        assert_eq!(got, code, "{engine}: {text}");
    }
    // A code the engine in question does not have: meanings only, never another engine's fixes.
    let other = cat.error_code("1040", Some("postgres"));
    assert!(!other.is_empty(), "1040 is still explained");
    assert!(
        other
            .iter()
            .all(|e| e.fixes.is_empty() && e.causes.is_empty()),
        "{other:?}"
    );
}

#[test]
fn error_codes_are_engine_qualified() {
    let cat = Catalog::embedded().expect("catalog");
    let my = cat.error_code("1205", Some("mysql"));
    assert!(!my.is_empty() && my.iter().all(|e| e.engine == "mysql"));
    assert!(my[0].message.contains("Lock wait timeout"));
    assert!(!my[0].fixes.is_empty());
    let ms = cat.error_code("1205", Some("mssql"));
    assert!(!ms.is_empty() && ms.iter().all(|e| e.engine == "mssql"));
    assert!(ms[0].name.contains("LK_VICTIM"), "{:?}", ms[0].name);
    // No engine: what the code means on each engine that has it, without mixing their fixes.
    let any = cat.error_code("1205", None);
    let engines: BTreeSet<&str> = any.iter().map(|e| e.engine.as_str()).collect();
    assert_eq!(engines, BTreeSet::from(["mssql", "mysql"]));
    assert!(any
        .iter()
        .all(|e| e.fixes.is_empty() && e.causes.is_empty() && !e.meaning.is_empty()));
    // A code only another engine has, asked on this engine's target: what it means there, but
    // none of that engine's causes or fixes in an answer about this one.
    let pg = cat.error_code("40P01", Some("sqlite"));
    assert_eq!(pg.len(), 1);
    assert_eq!(pg[0].engine, "postgres");
    assert!(!pg[0].meaning.is_empty());
    assert!(pg[0].fixes.is_empty() && pg[0].causes.is_empty());
    // With no engine known, a code one engine alone has keeps its fixes.
    let pg = cat.error_code("40P01", None);
    assert_eq!(pg.len(), 1);
    assert!(!pg[0].fixes.is_empty());
    // MySQL 1062 at an INT ceiling is not a race.
    let dup = cat.error_code("1062", Some("mysql"));
    assert!(dup[0].causes.iter().any(|c| c.contains("2147483647")));
    assert!(dup[0].fixes.iter().any(|c| c.contains("BIGINT")));
}

fn reply_text(r: &dbabot_chat::Reply) -> String {
    serde_json::to_string(r).expect("reply serializes")
}

/// Through the whole turn (slot extraction, patterns, lookup, playbook, rendering).
#[tokio::test]
async fn error_answers_keep_to_the_stated_engine() {
    let bot = crate::support::TestBot::new(vec![]);
    let my = reply_text(
        &bot.ask("e1", "getting MySQL error 1205 Lock wait timeout exceeded")
            .await,
    );
    assert!(
        my.contains("innodb_lock_wait_timeout") || my.contains("Lock wait timeout"),
        "{my}"
    );
    for foreign in [
        "LK_VICTIM",
        "READ_COMMITTED_SNAPSHOT",
        "DEADLOCK_PRIORITY",
        "PRAGMA",
        "SQL Server",
    ] {
        assert!(
            !my.contains(foreign),
            "MySQL answer mentions {foreign}: {my}"
        );
    }
    let ms = reply_text(
        &bot.ask("e2", "SQL Server error 1205 in the batch job")
            .await,
    );
    assert!(ms.contains("LK_VICTIM"), "{ms}");
    for foreign in ["innodb", "Lock wait timeout exceeded", "MySQL"] {
        assert!(
            !ms.contains(foreign),
            "SQL Server answer mentions {foreign}: {ms}"
        );
    }
    let pg = reply_text(
        &bot.ask(
            "e3",
            "remaining connection slots are reserved for non-replication superuser connections",
        )
        .await,
    );
    assert!(pg.contains("53300"), "{pg}");
    let dup = reply_text(
        &bot.ask("e4", "Duplicate entry '2147483647' for key 'PRIMARY'")
            .await,
    );
    assert!(dup.contains("1062") && dup.contains("ceiling"), "{dup}");
    // The engine named in the message decides over the target's (here the SQLite demo).
    let demo = crate::support::TestBot::demo().await;
    let on_demo = reply_text(&demo.ask("d1", "what does MySQL error 1205 mean").await);
    assert!(on_demo.contains("ER_LOCK_WAIT_TIMEOUT"), "{on_demo}");
    for foreign in ["LK_VICTIM", "SQL Server", "SQLite reports result codes"] {
        assert!(
            !on_demo.contains(foreign),
            "MySQL answer on the demo mentions {foreign}: {on_demo}"
        );
    }
    let repl = reply_text(&demo.ask("d2", "is replication lagging on demo").await);
    assert!(repl.contains("no built-in replication"), "{repl}");
    assert!(!repl.contains("replicas are behind the primary"), "{repl}");
    let ora = reply_text(
        &bot.ask(
            "e5",
            "Oracle ORA-00060 on the billing database, where do I look?",
        )
        .await,
    );
    assert!(ora.contains("alert log") || ora.contains("V$"), "{ora}");
    for foreign in ["postgresql", "ERRORLOG", "mysqld"] {
        assert!(
            !ora.to_lowercase().contains(&foreign.to_lowercase()),
            "Oracle answer mentions {foreign}: {ora}"
        );
    }
}

/// `Catalog::from_dir`, the path a DBA who edits the files relies on: an unchanged copy loads,
/// and a typo fails with the file, the line and the key.
#[test]
fn catalog_from_dir_loads_and_reports_typos_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in dbabot::intents::catalog::EMBEDDED {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let cat = Catalog::from_dir(dir.path()).expect("copy loads");
    let embedded = Catalog::embedded().expect("embedded");
    // Same intents (from_dir reads the files in name order, so compare by name).
    let by_name = |c: &Catalog| {
        let mut v = c.intents.clone();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    assert_eq!(by_name(&cat), by_name(&embedded));
    assert_eq!(cat.error_codes.len(), embedded.error_codes.len());
    assert_eq!(cat.patterns.len(), embedded.patterns.len());

    let edit = |file: &str, from: &str, to: &str| -> String {
        let d = tempfile::tempdir().expect("tempdir");
        for (name, text) in dbabot::intents::catalog::EMBEDDED {
            let t = if *name == file {
                text.replacen(from, to, 1)
            } else {
                text.to_string()
            };
            assert!(*name != file || t != *text, "{from} not in {file}");
            std::fs::write(d.path().join(name), t).expect("write");
        }
        match Catalog::from_dir(d.path()) {
            Ok(_) => panic!("{file}: {from} -> {to} loaded"),
            Err(e) => e.to_string(),
        }
    };
    let line_of = |file: &str, needle: &str| -> usize {
        let text = dbabot::intents::catalog::EMBEDDED
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, t)| *t)
            .expect("file");
        text[..text.find(needle).expect("needle")]
            .matches('\n')
            .count()
            + 1
    };
    let cases = [
        (
            "troubleshooting.toml",
            "when = \"blocking_chain\"",
            "when = \"blocking_chian\"",
            "when",
        ),
        (
            "troubleshooting.toml",
            "engine = \"postgres\"",
            "engine = \"postgress\"",
            "engine",
        ),
        (
            "performance.toml",
            "engine = \"mysql\"",
            "engine = [\"mysql\", \"maria\"]",
            "engine",
        ),
        (
            "security.toml",
            "cloud = { aws",
            "cloud = { amazon",
            "cloud",
        ),
        (
            "troubleshooting.toml",
            "{blocker_pid}",
            "{blocker_pdi}",
            "placeholder",
        ),
        (
            "capacity.toml",
            "required_slots = [\"target\"]",
            "required_slots = [\"targte\"]",
            "slot",
        ),
        (
            "error-codes.toml",
            "engine = \"mysql\"",
            "engine = \"mysq\"",
            "engine",
        ),
        (
            "error-codes.toml",
            "code = \"2200H\"\nmatch",
            "code = \"2200X\"\nmatch",
            "code",
        ),
        (
            "thresholds.toml",
            "[dead_tuples]",
            "[dead_tuple]",
            "dead_tuple",
        ),
        (
            "finding-actions.toml",
            "{duplicate_of}",
            "{duplicate_off}",
            "placeholder",
        ),
        (
            "finding-actions.toml",
            "sql = \"{drop_sql}\"",
            "sql = \"{dorp_sql}\"",
            "sql",
        ),
        (
            "thresholds.toml",
            "warning_size = \"100 MB\"",
            "warning_size = \"100 MiBs\"",
            "unused_index",
        ),
        (
            "synonyms.toml",
            "stopwords = [",
            "stop_words = [",
            "stop_words",
        ),
        (
            "slot-questions.toml",
            "still_need = ",
            "still_needs = ",
            "still_needs",
        ),
        (
            "slot-questions.toml",
            "other = \"What is the {slot}?\"",
            "other = \"What is the {slto}?\"",
            "slto",
        ),
    ];
    for (file, from, to, key) in cases {
        let err = edit(file, from, to);
        // A pattern error points at its `match` line, one below the `code` line edited here.
        let line = line_of(file, from) + usize::from(from.ends_with("match"));
        assert!(err.contains(file), "{err}");
        assert!(
            err.contains(&format!("line {line}")),
            "expected line {line}: {err}"
        );
        assert!(err.contains(key), "expected key {key}: {err}");
    }
}

/// The classifier's words are data: a synonym, a stop word and an urgency phrase added to a
/// directory's `synonyms.toml` change how that catalog reads a message, and the embedded one is
/// untouched.
#[test]
fn an_edited_lexicon_changes_how_messages_are_read() {
    use dbabot::intents::Classifier;
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in dbabot::intents::catalog::EMBEDDED {
        let text = if *name == "synonyms.toml" {
            text.replacen(
                "\"crawling\", \"snail\"",
                "\"crawling\", \"snail\", \"treacle\"",
                1,
            )
            .replacen("stopwords = [", "stopwords = [\"locks\", ", 1)
            .replacen("urgency = [", "urgency = [\"code red\", ", 1)
        } else {
            text.to_string()
        };
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let edited = Catalog::from_dir(dir.path()).expect("edited copy loads");
    let stock = Catalog::embedded().expect("embedded");
    let read = |c: &Catalog, text: &str| {
        Classifier::with_lexicon(&c.intents, c.lexicon.clone()).tokens(text)
    };
    assert_eq!(read(&edited, "treacle"), vec!["slow"]);
    assert_eq!(read(&stock, "treacle"), vec!["treacle"]);
    assert!(read(&edited, "locks").is_empty());
    assert_eq!(read(&stock, "locks"), vec!["lock"]);
    let urgent = |c: &Catalog| {
        Classifier::with_lexicon(&c.intents, c.lexicon.clone())
            .understand("code red the orders db is treacle")
            .map(|x| x.intent)
    };
    assert_eq!(urgent(&edited).as_deref(), Some("slow_query"));
    assert_ne!(urgent(&stock).as_deref(), Some("slow_query"));
}

/// The question asked back for a missing database is data: a DBA's edited
/// `slot-questions.toml` is what the user reads.
#[tokio::test]
async fn an_edited_slot_question_is_what_the_user_is_asked() {
    let intents = tempfile::tempdir().expect("tempdir");
    for (name, text) in dbabot::intents::catalog::EMBEDDED {
        let text = if *name == "slot-questions.toml" {
            text.replacen(
                "target = \"Which database is this about? ({title})\"",
                "target = \"Welche Datenbank meinst du? ({title})\"",
                1,
            )
        } else {
            text.to_string()
        };
        std::fs::write(intents.path().join(name), text).expect("write");
    }
    let catalog = Catalog::from_dir(intents.path()).expect("edited copy loads");
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo db");
    let mut other = demo.clone();
    other.alias = "second".into();
    let bot = crate::support::TestBot::with_catalog(dir, vec![demo, other], catalog);
    let text = bot.ask("t1", "queries are slow").await.plain_text();
    assert!(
        text.contains("Welche Datenbank meinst du? (Slow queries)"),
        "{text}"
    );
    assert!(!text.contains("Which database is this about?"), "{text}");
}

/// A DBA who edits a number in `thresholds.toml` changes how the live finding is graded and the
/// rule shown under it; nothing else is needed (the demo's unindexed `events.customer_id`, ~120,000
/// rows, is a warning at the default 10,000 rows and info at 500,000).
#[tokio::test]
async fn an_edited_threshold_regrades_a_live_finding() {
    use dbabot_chat::{Part, Severity};
    let finding = |bot_reply: &dbabot_chat::Reply| {
        bot_reply
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Findings { items } => Some(items.clone()),
                _ => None,
            })
            .flatten()
            .find(|f| f.title.contains("events.customer_id"))
            .expect("the unindexed foreign key is reported")
    };
    let stock = crate::support::TestBot::demo().await;
    let before = finding(&stock.ask("t1", "report index-usage demo").await);
    assert_eq!(before.severity, Severity::Warning, "{before:?}");
    assert!(
        before
            .rule
            .as_deref()
            .unwrap_or("")
            .contains("≥ 10,000 child rows"),
        "{before:?}"
    );

    let intents = tempfile::tempdir().expect("tempdir");
    for (name, text) in dbabot::intents::catalog::EMBEDDED {
        let text = if *name == "thresholds.toml" {
            text.replacen("warning_rows = 10000", "warning_rows = 500000", 1)
        } else {
            text.to_string()
        };
        std::fs::write(intents.path().join(name), text).expect("write");
    }
    let catalog = Catalog::from_dir(intents.path()).expect("edited copy loads");
    let rule = catalog.thresholds.get("fk_without_index").citation();
    assert!(rule.contains("≥ 500,000 child rows"), "{rule}");
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo db");
    let edited = crate::support::TestBot::with_catalog(dir, vec![demo], catalog);
    let after = finding(&edited.ask("t1", "report index-usage demo").await);
    // Info findings carry no rule line; the finding is still reported.
    assert_eq!(after.severity, Severity::Info, "{after:?}");
}

/// Scope detection: the server's VERSION() decides the MySQL flavour; words decide without it.
#[test]
fn scope_detects_flavour_and_version() {
    let slots = Slots::default();
    let t = target(DbEngine::Mysql, "aws");
    let maria = Scope::detect(
        Some(&t),
        &slots,
        &[overview("10.11.6-MariaDB-0+deb12u1")],
        "",
    );
    assert_eq!(maria.engine, Some(Flavour::Mariadb));
    assert_eq!(maria.version, Some(vec![10, 11, 6]));
    assert_eq!(maria.cloud.as_deref(), Some("aws"));
    let mysql = Scope::detect(Some(&t), &slots, &[overview("8.0.36")], "");
    assert_eq!(mysql.engine, Some(Flavour::Mysql));
    let said = Scope::detect(Some(&t), &slots, &[], "our MariaDB primary is slow");
    assert_eq!(said.engine, Some(Flavour::Mariadb));
    let unknown = Scope::detect(Some(&t), &slots, &[], "slow");
    assert_eq!(unknown.engine, Some(Flavour::MysqlFamily));
    // On MariaDB the MySQL 8 EXPLAIN ANALYZE step is gone and MariaDB's ANALYZE is there.
    let cat = Catalog::embedded().expect("catalog");
    let slow = cat.intent("slow_query").expect("slow_query");
    let texts = |s: &Scope| -> String {
        let i = slow.scoped(s);
        i.playbook
            .lines()
            .iter()
            .map(|(_, st)| format!("{} {}", st.text, st.sql.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let m = texts(&maria);
    assert!(
        m.contains("ANALYZE FORMAT=JSON") && !m.contains("EXPLAIN ANALYZE"),
        "{m}"
    );
    let o = texts(&mysql);
    assert!(
        o.contains("EXPLAIN ANALYZE") && !o.contains("ANALYZE FORMAT=JSON"),
        "{o}"
    );
    // MySQL older than 8.0.18 has no EXPLAIN ANALYZE.
    let old = Scope::detect(Some(&t), &slots, &[overview("8.0.11")], "");
    assert!(!texts(&old).contains("EXPLAIN ANALYZE"));
}

/// Against the real MariaDB: the flavour comes from the server's VERSION(), so a slow-query
/// answer carries MariaDB syntax and none of MySQL 8's.
#[tokio::test]
async fn mariadb_target_gets_mariadb_syntax() {
    let db = crate::support::TestDb::mysql().await;
    let bot = crate::support::TestBot::new(vec![db.target("shop-prod", "prod", "on-prem")]);
    let slow = reply_text(&bot.ask("m1", "queries are slow on shop-prod").await);
    assert!(slow.contains("MariaDB"), "server is not MariaDB? {slow}");
    assert!(slow.contains("ANALYZE FORMAT=JSON"), "{slow}");
    for foreign in [
        "EXPLAIN ANALYZE",
        "UPDATE HISTOGRAM",
        "max_execution_time",
        "pg_stat_statements",
        "log_lock_waits",
    ] {
        assert!(
            !slow.contains(foreign),
            "MariaDB answer mentions {foreign}: {slow}"
        );
    }
    let sec = reply_text(&bot.ask("m2", "security audit of shop-prod").await);
    assert!(sec.contains("mysql.global_priv"), "{sec}");
    assert!(
        !sec.contains("password_lifetime, account_locked FROM mysql.user"),
        "{sec}"
    );
}

/// No statement shown to a human names a made-up object: a placeholder such as `table_name`
/// in an object position parses as valid SQL and would run against the wrong name (or none).
/// Steps needing the user's table write `<table>`, which the answer fills from the named
/// object or leaves out with a question.
#[test]
fn no_playbook_statement_targets_a_placeholder_object() {
    let cat = dbabot::intents::Catalog::embedded().expect("catalog");
    let placeholder = regex::Regex::new(
        r"(?i)\b(?:TABLE|ANALYZE|VACUUM(?:\s*\([^)]*\))?|REINDEX\s+TABLE|INDEX\s+\w+\s+ON|CLUSTER|FROM|JOIN|UPDATE|INTO)\s+(?:table_name|my_table|your_table|tbl)\b|'(?:table_name|my_table|your_table)'",
    )
    .expect("regex");
    let mut bad = Vec::new();
    for intent in &cat.intents {
        for (section, step) in intent.playbook.lines() {
            if let Some(sql) = &step.sql {
                if placeholder.is_match(sql) {
                    bad.push(format!("{} {section}: {sql}", intent.name));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "placeholder objects in SQL:\n{}",
        bad.join("\n")
    );
}

/// A line a DBA added without its `engine` tag never reaches an answer for another engine: the
/// catalog's scoping leaves it (and a foreign cloud tip) out, and keeps it where it belongs.
#[test]
fn an_untagged_line_with_another_engines_vocabulary_is_left_out_at_runtime() {
    let cat = Catalog::embedded().expect("catalog");
    let mut intent = cat.intent("slow_query").expect("slow_query").clone();
    let pragma = "Run PRAGMA optimize after bulk loads.";
    intent
        .playbook
        .immediate
        .push(dbabot::intents::catalog::Step {
            when: None,
            unless: vec![],
            checked_by: None,
            engine: None,
            cloud: None,
            min_version: None,
            text: pragma.into(),
            sql: None,
        });
    intent
        .playbook
        .cloud
        .insert("onprem".into(), "Tune work_mem in postgresql.conf.".into());
    let scope = |f: Flavour| Scope {
        engine: Some(f),
        version: None,
        cloud: Some("onprem".into()),
    };
    let on_pg = cat.scoped(&intent, &scope(Flavour::Postgres));
    assert!(!on_pg.playbook.immediate.iter().any(|s| s.text == pragma));
    assert!(on_pg.playbook.cloud.contains_key("onprem"));
    let on_lite = cat.scoped(&intent, &scope(Flavour::Sqlite));
    assert!(on_lite.playbook.immediate.iter().any(|s| s.text == pragma));
    assert!(!on_lite
        .playbook
        .cloud
        .get("onprem")
        .is_some_and(|tip| tip.contains("postgresql.conf")));
    // With the engine unknown nothing can be foreign: the line stays (it is untagged).
    let unknown = cat.scoped(&intent, &Scope::default());
    assert!(unknown.playbook.immediate.iter().any(|s| s.text == pragma));
}
