//! The real `dbabot` binary driven over pipes, as a newcomer or a script would.

use std::io::Write;
use std::process::{Command, Stdio};

fn dbabot(
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
    envs: &[(&str, &str)],
) -> (String, String, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbabot"));
    cmd.args(args)
        .env("DBABOT_DATA_DIR", data_dir)
        .env_remove("DBABOT_CONFIG")
        .env("NO_COLOR", "1")
        .current_dir(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn dbabot");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn piped_question_on_the_embedded_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err, code) = dbabot(dir.path(), &["chat"], "report health demo\n", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Health report — demo"), "{out}");
    assert!(out.contains("quick_check: ok"), "{out}");
    assert!(dir.path().join("demo.sqlite").exists());
}

#[test]
fn json_replies_and_thread_resume_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("dbabot.toml"),
        "[[targets]]\nalias = \"shop-dev\"\nengine = \"sqlite\"\nenvironment = \"dev\"\ndsn_env = \"SHOP_DSN\"\n\n[[targets]]\nalias = \"shop-copy\"\nengine = \"sqlite\"\nenvironment = \"staging\"\ndsn_env = \"SHOP_DSN\"\n",
    )
    .expect("config");
    // Build the demo file to point both targets at.
    let (_, err, code) = dbabot(
        dir.path(),
        &["--config", "/nonexistent.toml", "check-config"],
        "",
        &[],
    );
    assert_ne!(code, 0, "a missing config file is an error: {err}");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(dbabot::demo::ensure(dir.path())).expect("demo");
    let dsn = format!("sqlite://{}", dir.path().join("demo.sqlite").display());
    let envs = [("SHOP_DSN", dsn.as_str())];

    let (out, err, code) = dbabot(
        dir.path(),
        &["chat", "--thread", "t1", "--json"],
        "any duplicate indexes?\n",
        &envs,
    );
    assert_eq!(code, 0, "{err}");
    let reply: dbabot_chat::Reply =
        serde_json::from_str(out.lines().next().expect("a line")).expect("reply json");
    let (id, options) = reply.choices().expect("asks which target");
    assert_eq!(id, "target");
    assert_eq!(options.len(), 2);

    // A new process, same thread: the answer to the question is understood.
    let (out, err, code) = dbabot(
        dir.path(),
        &["chat", "--thread", "t1", "--json"],
        "1\n",
        &envs,
    );
    assert_eq!(code, 0, "{err}");
    let reply: dbabot_chat::Reply =
        serde_json::from_str(out.lines().next().expect("a line")).expect("reply json");
    assert_eq!(reply.intent.as_deref(), Some("index_advice"));
    assert!(
        reply.plain_text().contains("idx_orders_customer_dup"),
        "{}",
        reply.plain_text()
    );
    assert!(!out.contains(&dsn), "the DSN leaked into a reply");

    // check-config lists targets without secrets and tests them.
    let (out, err, code) = dbabot(dir.path(), &["check-config"], "", &envs);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("shop-dev") && out.contains("OK (SQLite"),
        "{out}"
    );
    assert!(out.contains("dsn from env SHOP_DSN"), "{out}");
    assert!(!out.contains("demo.sqlite"), "the DSN leaked: {out}");
}

#[test]
fn check_config_reports_bad_files_and_unreachable_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "recommender = \"rules\"\n[limits]\nrow_cap = \"many\"\n",
    )
    .expect("write");
    let (_, err, code) = dbabot(
        dir.path(),
        &["--config", bad.to_str().expect("utf8"), "check-config"],
        "",
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("line 3") && err.contains("row_cap"), "{err}");

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[limits]\nconnect_timeout_ms = 1500\n\n[[targets]]\nalias = \"pg\"\nengine = \"postgres\"\nenvironment = \"dev\"\ndsn_env = \"PG_DSN\"\n\n[[targets]]\nalias = \"gone\"\nengine = \"mysql\"\nenvironment = \"prod\"\ncloud = \"aws\"\ndsn_env = \"GONE_DSN\"\n",
    )
    .expect("write");
    let pg = crate::support::pg_admin_url();
    let started = std::time::Instant::now();
    let (out, err, code) = dbabot(
        dir.path(),
        &["--config", good.to_str().expect("utf8"), "check-config"],
        "",
        &[
            ("PG_DSN", pg.as_str()),
            ("GONE_DSN", "mysql://app:s3cret-pw@127.0.0.1:1/x"),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("pg ") && l.contains("OK (PostgreSQL")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("gone ") && l.contains("FAILED")),
        "{out}"
    );
    assert!(
        !out.contains("s3cret-pw") && !err.contains("s3cret-pw"),
        "secret leaked: {out}{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}
