//! `check-config` in-process (`dbabot::app::check`): every section parsed as `serve` parses it,
//! one request to the LLM endpoint through the OpenAI stand-in, and connection failures by
//! cause against the real local servers (a closed port, a silent TCP listener, a wrong
//! password, a role without connection slots).

use crate::openai_standin::{Answer, Auth, OpenAiStandIn};
use crate::support::TestDb;
use dbabot::app::check::{self, ConnectCause};
use dbabot::config::{Config, Engine, Secret, Target};
use serde_json::json;
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path, sections: &[(&str, &str)]) -> Config {
    let mut cfg = Config::embedded(dir.to_path_buf());
    for (name, text) in sections {
        cfg.sections
            .insert(name.to_string(), toml::from_str(text).expect("toml"));
    }
    cfg
}

fn env(k: &str) -> Option<String> {
    match k {
        "CC_SLACK_TOKEN" => Some("xoxb-check".into()),
        "CC_SLACK_SECRET" => Some("secret".into()),
        "DISCORD_APPLICATION_ID" => Some("1100000000000000001".into()),
        "DISCORD_TOKEN" => Some("bot-token".into()),
        _ => None,
    }
}

fn target(engine: Engine, dsn: &str) -> Target {
    Target {
        alias: "probe".into(),
        aliases: vec![],
        engine,
        environment: "prod".into(),
        cloud: "on-prem".into(),
        dsn_source: "test".into(),
        dsn: Secret::new(dsn.to_string()),
    }
}

#[test]
fn every_section_is_parsed_as_serve_parses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        dir.path(),
        &[
            (
                "slack",
                "bot_token_env = \"CC_SLACK_TOKEN\"\nsigning_secret_env = \"CC_SLACK_SECRET\"\n",
            ),
            ("discord", "mode = \"gateway\"\ncolour = \"blue\"\n"),
            ("access", "default_role = \"overlord\"\n"),
            (
                "escalation",
                "destination = { platform = \"discord\", channel = \"645027906669510999\" }\n",
            ),
        ],
    );
    let verdicts = check::sections(&cfg, &env);
    let get = |n: &str| {
        verdicts
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no verdict for [{n}]: {verdicts:?}"))
    };
    assert!(get("slack").is_ok(), "{verdicts:?}");
    let discord = get("discord").expect_err("unknown key in [discord]");
    assert!(discord.contains("colour"), "{discord}");
    let access = get("access").expect_err("invalid role in [access]");
    assert!(access.contains("overlord"), "{access}");
    assert!(
        get("escalation").is_ok_and(|v| v.contains("Discord")),
        "{verdicts:?}"
    );
    // The same sections stop `serve`.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let built = rt.block_on(dbabot::app::App::build(
        config(
            dir.path(),
            &[("discord", "mode = \"gateway\"\ncolour = \"blue\"\n")],
        ),
        dbabot::app::ServeOptions::default(),
    ));
    assert!(built.is_err(), "serve accepted what check-config refused");

    // recommender = "llm" without [llm] is refused too.
    let mut cfg = config(dir.path(), &[]);
    cfg.recommender = dbabot::config::RecommenderKind::Llm;
    let v = check::sections(&cfg, &env);
    assert!(v.iter().any(|(n, v)| n == "llm" && v.is_err()), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_endpoint_gets_one_small_request_and_a_dead_one_fails_the_check() {
    let s = OpenAiStandIn::start(Auth::Bearer(None)).await;
    s.script([Answer::tool("report_status", json!({"ok": true}))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let llm = format!(
        "provider = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"check-model\"\n",
        s.base_url()
    );
    let cfg = config(dir.path(), &[("llm", &llm)]);
    let report = check::run(&cfg, &env).await.expect("report");
    let text = report.lines.join("\n");
    assert!(report.ok, "{text}");
    assert_eq!(s.received().len(), 1, "{text}");
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert!(
        text.contains("[llm]: OK (openai-compatible model check-model)"),
        "{text}"
    );
    assert!(text.contains("OK: llm"), "{text}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dead = format!(
        "provider = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:{closed}/v1\"\nmodel = \"m\"\n"
    );
    let report = check::run(&config(dir.path(), &[("llm", &dead)]), &env)
        .await
        .expect("report");
    assert!(!report.ok, "{}", report.lines.join("\n"));
    assert!(
        report.lines.iter().any(|l| l.starts_with("FAILED: llm")),
        "{}",
        report.lines.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_refused_and_a_silent_listener_times_out() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let t = target(
        Engine::Postgres,
        &format!("postgres://postgres@127.0.0.1:{closed}/postgres"),
    );
    let f = check::probe_connection(&t, Duration::from_secs(3))
        .await
        .expect_err("refused");
    assert_eq!(f.cause, ConnectCause::Refused, "{f}");

    // Accepts TCP and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    for (engine, dsn) in [
        (
            Engine::Postgres,
            format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        ),
        (
            Engine::Mysql,
            format!("mysql://root@127.0.0.1:{port}/mysql"),
        ),
    ] {
        let started = Instant::now();
        let f = check::probe_connection(&target(engine, &dsn), Duration::from_millis(700))
            .await
            .expect_err("silent");
        assert_eq!(f.cause, ConnectCause::TimedOut, "{f}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    // Through the whole report: the cause is named, not "pool timed out".
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path(), &[]);
    cfg.targets = vec![t];
    let report = check::run(&cfg, &env).await.expect("report");
    let text = report.lines.join("\n");
    assert!(!report.ok);
    assert!(
        text.contains("FAILED after") && text.contains("connection refused"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_connection_slots_are_named_with_their_codes() {
    // PostgreSQL: an unknown role (SQLSTATE 28000), a role with CONNECTION LIMIT 0 (53300).
    let pg = TestDb::postgres().await;
    let full = pg
        .login("full", &["CREATE ROLE {login} LOGIN CONNECTION LIMIT 0"])
        .await;
    let f = check::probe_connection(&target(Engine::Postgres, &full), Duration::from_secs(5))
        .await
        .expect_err("no slots");
    assert_eq!(f.cause, ConnectCause::TooManyConnections, "{f}");
    assert_eq!(f.code.as_deref(), Some("SQLSTATE 53300"), "{f}");
    let unknown = format!(
        "postgres://nobody_{}@127.0.0.1:5432/{}",
        std::process::id(),
        pg.name
    );
    let f = check::probe_connection(&target(Engine::Postgres, &unknown), Duration::from_secs(5))
        .await
        .expect_err("unknown role");
    assert_eq!(f.cause, ConnectCause::Authentication, "{f}");
    assert!(
        f.code
            .as_deref()
            .is_some_and(|c| c.starts_with("SQLSTATE 28")),
        "{f}"
    );

    // MariaDB: a wrong password (error 1045, SQLSTATE 28000).
    let my = TestDb::mysql().await;
    let login = my
        .login(
            "pw",
            &[
                "CREATE USER '{login}'@'%' IDENTIFIED BY 'right-password'",
                "GRANT SELECT ON `{db}`.* TO '{login}'@'%'",
            ],
        )
        .await;
    let mut wrong = url::Url::parse(&login).expect("url");
    wrong
        .set_password(Some("wrong-password"))
        .expect("password");
    let f = check::probe_connection(
        &target(Engine::Mysql, wrong.as_str()),
        Duration::from_secs(5),
    )
    .await
    .expect_err("wrong password");
    assert_eq!(f.cause, ConnectCause::Authentication, "{f}");
    assert_eq!(
        f.code.as_deref(),
        Some("MySQL error 1045 (SQLSTATE 28000)"),
        "{f}"
    );
    assert!(!f.to_string().contains("wrong-password"), "{f}");
    let mut right = url::Url::parse(&login).expect("url");
    right
        .set_password(Some("right-password"))
        .expect("password");
    assert_eq!(
        check::probe_connection(
            &target(Engine::Mysql, right.as_str()),
            Duration::from_secs(5)
        )
        .await,
        Ok(true)
    );
}
