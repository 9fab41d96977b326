//! Log files in Slack threads end to end: a file shared with the bot (an `app_mention` with
//! `files`, a `file_share` follow-up in its thread) is downloaded from a file-host stand-in with
//! the bot token, analysed by the real engine, the placeholder is edited with the percentage
//! while a multi-MB log is read, the answer lands in the thread and the PNG charts (and the CSV
//! when asked) are uploaded into it through `files.getUploadURLExternal` → upload →
//! `files.completeUploadExternal` on the Web API stand-in.

use crate::slack::{thread_text, Harness, SECRET, TOKEN};
use crate::slack_files_standin::SlackFiles;
use crate::support::TestBot;
use dbabot_chat::{Attachment, AttachmentBody, AttachmentFetcher, Platform};
use dbabot_slack::config::SlackConfig;
use dbabot_slack::files::SlackFetcher;
use serde_json::{json, Value};
use std::sync::Arc;

fn file(id: &str, name: &str, size: u64, url: &str) -> Value {
    json!({"id": id, "name": name, "title": name, "mimetype": "text/plain", "filetype": "text",
        "size": size, "url_private": url, "url_private_download": url})
}

fn generated_log(statements: usize) -> Vec<u8> {
    let mut v = Vec::new();
    dbabot::logs::generate::pg_stderr(&mut v, statements, 200, 7).expect("generate");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_log_is_downloaded_analysed_with_progress_and_charted_in_the_thread() {
    let files = SlackFiles::start(TOKEN).await;
    let h = Harness::start(TestBot::demo().await, |_| {}).await;
    let fetcher = SlackFetcher::new(&SlackConfig::http(TOKEN, SECRET, &h.slack.api_url()))
        .expect("fetcher")
        .allow_loopback_origin(&files.base);
    h.bot.engine.set_fetcher(Platform::Slack, Arc::new(fetcher));

    // A multi-MB log (several 4 MiB chunks), shared with a mention.
    let big = generated_log(70_000);
    assert!(big.len() > 9 * 1024 * 1024, "{} bytes", big.len());
    let url = files.put("F1", "postgresql.log", big.clone());
    let thread = "1700000500.000100";
    let ev = json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> analyze this log",
        "ts": thread, "channel": "C1", "event_ts": thread,
        "files": [file("F1", "postgresql.log", big.len() as u64, &url)]});
    assert_eq!(h.event("EvF1", ev, &[]).await.status(), 200);
    h.until("the analysis and two charts in the thread", |s| {
        thread_text(s, thread).contains("Top statements by total time")
            && s.files().iter().filter(|f| f.0.ends_with(".png")).count() == 2
    })
    .await;

    // Downloaded once, with the bot token.
    let d = files.downloads();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].path, "/files-pri/T1-F1/download/postgresql.log");
    assert_eq!(
        d[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );

    // The placeholder was edited with the percentage before the answer replaced it.
    let updates: Vec<String> = h
        .slack
        .calls("chat.update")
        .iter()
        .filter_map(|c| {
            c.params
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let progress: Vec<&String> = updates
        .iter()
        .filter(|t| t.starts_with("Analysing postgresql.log…") && t.ends_with('%'))
        .collect();
    assert!(!progress.is_empty(), "no progress edit: {updates:?}");
    let last = updates.last().expect("updates");
    assert!(
        !last.ends_with('%'),
        "the answer replaced the progress: {last}"
    );
    let text = thread_text(&h.slack, thread);
    assert!(text.contains("70000 timed statements"), "{text}");

    // Charts: real PNGs, in this channel and thread; no CSV unless asked.
    let up = h.slack.files();
    for (title, channel, ts, bytes) in &up {
        assert_eq!(channel, "C1");
        assert_eq!(ts.as_deref(), Some(thread));
        assert!(title.ends_with(".png"), "{title}");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{title} is a PNG");
    }
    assert_eq!(h.slack.calls("files.getUploadURLExternal").len(), 2);

    // A follow-up file_share in the thread (no mention), asking for the CSV.
    let small = generated_log(500);
    let url2 = files.put("F2", "slow.log", small.clone());
    let ev = json!({"type": "message", "subtype": "file_share", "user": "U1", "channel": "C1",
        "channel_type": "channel", "ts": "1700000501.000200", "thread_ts": thread,
        "text": "here is the second log, export the CSV too",
        "files": [file("F2", "slow.log", small.len() as u64, &url2)]});
    assert_eq!(h.event("EvF2", ev, &[]).await.status(), 200);
    h.until("CSV exports in the thread", |s| {
        s.files().iter().any(|f| f.0.ends_with(".csv"))
    })
    .await;
    let csv = h.slack.files();
    let queries = csv
        .iter()
        .find(|f| f.0 == "statements.csv")
        .unwrap_or_else(|| {
            panic!(
                "a statements CSV: {:?}",
                csv.iter().map(|f| &f.0).collect::<Vec<_>>()
            )
        });
    assert_eq!(queries.2.as_deref(), Some(thread));
    assert!(String::from_utf8_lossy(&queries.3).lines().count() > 10);

    // A file over the download limit is refused before any byte is fetched.
    let ev = json!({"type": "message", "subtype": "file_share", "user": "U1", "channel": "C1",
        "channel_type": "channel", "ts": "1700000502.000300", "thread_ts": thread, "text": "",
        "files": [file("F3", "huge.log", 3 * 1024 * 1024 * 1024, &files.put("F3", "huge.log", vec![]))]});
    assert_eq!(h.event("EvF3", ev, &[]).await.status(), 200);
    h.until("the size refusal", |s| {
        thread_text(s, thread).contains("larger than the limit")
    })
    .await;
    assert_eq!(
        files.downloads().len(),
        2,
        "the huge file was not requested"
    );
}

#[tokio::test]
async fn the_token_is_required_and_a_sign_in_page_is_not_a_log() {
    let files = SlackFiles::start(TOKEN).await;
    let url = files.put(
        "F9",
        "pg.log",
        b"2024-01-31 00:00:00.000 UTC [1] LOG:  x\n".to_vec(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Attachment {
        name: "pg.log".into(),
        content_type: "text/plain".into(),
        body: AttachmentBody::Remote {
            url: url.clone(),
            size: None,
        },
    };
    let fetcher = |token: &str| {
        SlackFetcher::new(&SlackConfig::http(token, SECRET, "https://slack.com/api"))
            .expect("fetcher")
            .allow_loopback_origin(&files.base)
    };
    // Right token: the bytes.
    let ok = fetcher(TOKEN);
    let n = ok
        .fetch(&a, &dir.path().join("a"), 1024)
        .await
        .expect("fetch");
    assert_eq!(n, 40);
    // Another workspace's token: Slack's sign-in page, reported as a missing scope.
    let wrong = fetcher("xoxb-other");
    let e = wrong
        .fetch(&a, &dir.path().join("b"), 1024)
        .await
        .expect_err("sign-in page");
    assert!(e.to_string().contains("files:read"), "{e}");
    // Over the limit while streaming (no size announced).
    let e = ok
        .fetch(&a, &dir.path().join("c"), 10)
        .await
        .expect_err("too large");
    assert!(e.to_string().contains("larger than the limit"), "{e}");
    // The token never goes to a host that is not Slack's.
    let foreign = Attachment {
        body: AttachmentBody::Remote {
            url: "https://example.com/files-pri/T1-F9/download/pg.log".into(),
            size: None,
        },
        ..a.clone()
    };
    assert!(ok
        .fetch(&foreign, &dir.path().join("d"), 1024)
        .await
        .is_err());
    assert_eq!(files.downloads().len(), 3, "no request for the foreign URL");
}

/// Issue 16: past the in-flight turn limit (`DBABOT_MAX_TURNS=1`), a waiting Slack turn says
/// politely that it is busy and queued (in its placeholder, or a message in the thread when it
/// has none), and the answer replaces that note when the turn runs; every question is
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_turn_limit_a_question_is_told_it_is_queued_then_answered() {
    use crate::slack_standin::SlackStandIn;
    // One channel per question: the Web API client paces chat.postMessage per channel (Slack's
    // special tier, about one a second), which would space the turns out in one channel.
    let n = 3;
    let channels: Vec<String> = (0..n).map(|i| format!("C{i}")).collect();
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let slack = SlackStandIn::start("xoxb-queue", &names).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dbabot.toml");
    // A database that accepts connections and never answers: each turn on it waits for its
    // connect timeout, so turns overlap whatever the Web API pacing.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hole = blackhole.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in blackhole.incoming().take(64).flatten() {
            held.push(s);
        }
    });
    std::fs::write(
        &config,
        format!(
            "[[targets]]\nalias = \"silent-db\"\nengine = \"postgres\"\nenvironment = \"dev\"\ndsn_env = \"SILENT_DSN\"\n\n[slack]\ntransport = \"http\"\napi_url = \"{}\"\nper_user_per_minute = 1000\nper_channel_per_minute = 1000\n",
            slack.api_url()
        ),
    )
    .expect("config");
    let dsn = format!("postgres://app@{hole}/app");
    let (_server, base) = crate::serve::spawn_serve_with(
        &config,
        dir.path(),
        "xoxb-queue",
        "queue-secret",
        &[("DBABOT_MAX_TURNS", "1"), ("SILENT_DSN", &dsn)],
    )
    .await;
    let http = reqwest::Client::new();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    // Slash commands (no reaction, whose Web API tier would pace the turns apart), one per
    // channel: each posts its announcement, then waits for the single permit.
    let posts = (0..n).map(|i| {
        let body = serde_urlencoded::to_string([
            ("team_id", "T1".to_string()),
            ("channel_id", format!("C{i}")),
            ("user_id", format!("U{i}")),
            ("command", "/dba".to_string()),
            ("text", "report health silent-db".to_string()),
            ("response_url", format!("{}/response/{i}", slack.base)),
            ("trigger_id", format!("{i}.2.3")),
        ])
        .expect("form");
        let sig = dbabot_slack::verify::sign("queue-secret", &ts, body.as_bytes());
        http.post(format!("{base}/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    });
    for r in futures::future::join_all(posts).await {
        assert_eq!(r.expect("post").status(), 200);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let answered = |s: &SlackStandIn| {
        s.messages()
            .iter()
            .filter(|m| crate::slack::all_text(m).contains("Health report"))
            .count()
    };
    while answered(&slack) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} answered",
            answered(&slack)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let notes: Vec<Value> = slack
        .all_calls()
        .into_iter()
        .filter(|c| {
            c.params
                .get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains("so yours is queued"))
        })
        .map(|c| c.params)
        .collect();
    assert!(
        !notes.is_empty(),
        "no queued note among {n} concurrent turns with one permit"
    );
    // The notes were replaced by the answers: no thread still shows one.
    let left: Vec<String> = slack
        .messages()
        .iter()
        .filter(|m| m.text.contains("so yours is queued"))
        .map(|m| m.ts.clone())
        .collect();
    assert!(left.is_empty(), "queued notes left in {left:?}");
}
