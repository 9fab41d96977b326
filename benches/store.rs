//! Store benchmark (issue 16): does a turn's cost or the process's memory grow with history, and
//! do bursts of 1,000 concurrent turns all get answered?
//!
//! For each backend (sled in a temporary directory; PostgreSQL in a fresh database on
//! `DBABOT_BENCH_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, skipped when it
//! cannot be reached) the real engine (rules recommender, no targets, so every turn is the
//! error-code knowledge answer plus its memory write and error-signature record) runs:
//!
//! 1. 20,000 turns in distinct threads, 32 at a time: latency p50/p99 of the first and the last
//!    1,000, RSS after the first 1,000 and after all;
//! 2. 5,000 escalations (each a case and an audit record): latency of the first and last 1,000;
//! 3. 50,000 delivery-dedupe events: latency of the first and last 1,000;
//! 4. `DBABOT_BENCH_BURSTS` (default 50) bursts of 1,000 concurrent turns in new threads:
//!    answers delivered, p50/p99 time to answer, hangs (a burst not done within 60 s).
//!
//! Run: `cargo bench --bench store` (release build). Output: one line per figure.
//! `DBABOT_BENCH_BACKEND=sled|postgres` runs one backend, `DBABOT_BENCH_CACHE_MB` sets sled's
//! cache (default: the `[store] cache_mb` default), `DBABOT_BENCH_THREADS` the number of
//! threads of phase 1 (RSS is printed every 10,000).

use dbabot::memory::Memory;
use dbabot::store::Store;
use dbabot_chat::{InboundMessage, MessageHandler, Platform, User};
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREADS: usize = 20_000;
const CASES: usize = 5_000;
const EVENTS: usize = 50_000;
const WINDOW: usize = 1_000;
const PARALLEL: usize = 32;
const BURST: usize = 1_000;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
}

fn msg(thread: &str, user: &str, text: &str) -> InboundMessage {
    InboundMessage::text(
        Platform::Test,
        "T1",
        "C1",
        thread,
        User {
            id: user.into(),
            display_name: user.into(),
            groups: vec![],
        },
        text,
    )
}

fn engine(store: Store, dir: &std::path::Path) -> dbabot::Engine {
    // No [escalation] section: explicit escalations record cases, nothing escalates by itself.
    let cfg = dbabot::config::Config::embedded(dir.to_path_buf());
    dbabot::Engine::new(
        cfg,
        dbabot::intents::Catalog::embedded().expect("catalog"),
        Memory::with_store(store),
        Arc::new(dbabot::recommend::RulesRecommender),
    )
    .expect("engine")
}

/// Runs `n` turns, `PARALLEL` at a time; returns each turn's latency in order of index.
async fn turns(e: &dbabot::Engine, prefix: &str, n: usize, text: &str) -> Vec<Duration> {
    let mut out = vec![Duration::ZERO; n];
    let mut i = 0;
    while i < n {
        let chunk: Vec<_> = (i..(i + PARALLEL).min(n))
            .map(|k| {
                let e = e.clone();
                let m = msg(&format!("{prefix}-{k}"), &format!("U{}", k % 500), text);
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = e.handle(m).await;
                    (k, t.elapsed(), r.is_ok())
                })
            })
            .collect();
        for c in futures::future::join_all(chunk).await {
            let (k, d, ok) = c.expect("task");
            assert!(ok, "turn {k} failed");
            out[k] = d;
        }
        i += PARALLEL;
    }
    out
}

fn line(backend: &str, what: &str, first: &mut [Duration], last: &mut [Duration]) {
    println!(
        "{backend:8} {what:<34} first 1000: p50 {:7.2} ms p99 {:7.2} ms | last 1000: p50 {:7.2} ms p99 {:7.2} ms",
        pct(first, 0.5),
        pct(first, 0.99),
        pct(last, 0.5),
        pct(last, 0.99)
    );
}

async fn run(backend: &str, store: Store, dir: &std::path::Path) {
    let e = engine(store.clone(), dir);
    let question = "what does SQLSTATE 40P01 mean";

    // 1. threads
    let rss0 = rss_mb();
    let first = turns(&e, "warm", WINDOW, question).await;
    let rss1 = rss_mb();
    let threads: usize = std::env::var("DBABOT_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(THREADS)
        .max(2 * WINDOW);
    let mut rest = Vec::with_capacity(threads);
    let mut done = WINDOW;
    while done < threads {
        let n = (threads - done).min(10_000 - done % 10_000);
        rest.extend(turns(&e, &format!("thr{done}"), n, question).await);
        done += n;
        println!("{backend:8} RSS after {done} threads: {:.0} MB", rss_mb());
    }
    let rss2 = rss_mb();
    let mut a = first.clone();
    let mut b = rest[rest.len() - WINDOW..].to_vec();
    line(
        backend,
        &format!("turn latency, {threads} threads"),
        &mut a,
        &mut b,
    );
    println!(
        "{backend:8} RSS: start {rss0:.0} MB, after 1,000 threads {rss1:.0} MB, after {threads} threads {rss2:.0} MB"
    );

    // 2. cases
    let cases = turns(&e, "case", CASES, "escalate please").await;
    let mut a = cases[..WINDOW].to_vec();
    let mut b = cases[CASES - WINDOW..].to_vec();
    line(backend, "escalation latency, 5,000 cases", &mut a, &mut b);
    let n = store.list_cases(None).await.expect("cases").len();
    assert_eq!(n, CASES, "every escalation stored a case");

    // 3. events
    let mut ev = Vec::with_capacity(EVENTS);
    let now = 1_800_000_000;
    for i in 0..EVENTS {
        let t = Instant::now();
        let first = store
            .first_delivery(&format!("slack/T1/Ev{i}"), now, 3600)
            .await
            .expect("dedupe");
        ev.push(t.elapsed());
        assert!(first);
    }
    let mut a = ev[..WINDOW].to_vec();
    let mut b = ev[EVENTS - WINDOW..].to_vec();
    line(backend, "dedupe latency, 50,000 events", &mut a, &mut b);
    println!(
        "{backend:8} RSS after 20,000 threads, 5,000 cases, 50,000 events: {:.0} MB",
        rss_mb()
    );

    // 4. bursts
    let bursts: usize = std::env::var("DBABOT_BENCH_BURSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut all = Vec::with_capacity(bursts * BURST);
    let mut delivered = 0;
    let mut hangs = 0;
    let t_all = Instant::now();
    for burst in 0..bursts {
        let tasks: Vec<_> = (0..BURST)
            .map(|k| {
                let e = e.clone();
                let m = msg(&format!("burst{burst}-{k}"), &format!("U{k}"), question);
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = e.handle(m).await;
                    (t.elapsed(), r.is_ok())
                })
            })
            .collect();
        match tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks)).await
        {
            Ok(rs) => {
                for r in rs {
                    let (d, ok) = r.expect("task");
                    if ok {
                        delivered += 1;
                    }
                    all.push(d);
                }
            }
            Err(_) => hangs += 1,
        }
    }
    println!(
        "{backend:8} {bursts} bursts of {BURST} concurrent turns: {delivered}/{} answered, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, hangs {hangs}, {:.1} s in all",
        bursts * BURST,
        pct(&mut all, 0.5),
        pct(&mut all, 0.99),
        pct(&mut all, 1.0),
        t_all.elapsed().as_secs_f64()
    );
    println!("{backend:8} RSS at the end: {:.0} MB", rss_mb());
}

async fn postgres_store() -> Option<(Store, String, String)> {
    use sqlx::Connection;
    let admin = std::env::var("DBABOT_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("dbabot_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
    sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
        .await
        .ok()?;
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => return None,
    };
    let s = dbabot::store::postgres::PgStore::connect(&url, 16)
        .await
        .ok()?;
    Some((Arc::new(s), admin, name))
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let only = std::env::var("DBABOT_BENCH_BACKEND").ok();
        if only.as_deref().is_none_or(|b| b == "sled") {
            let dir = tempfile::tempdir().expect("tmp");
            let cache_mb = std::env::var("DBABOT_BENCH_CACHE_MB")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(dbabot::store::StoreSettings::default().cache_mb);
            println!("sled     cache {cache_mb} MiB");
            let store = dbabot::store::sled::SledStore::open(&dir.path().join("memory"), cache_mb)
                .expect("sled");
            run("sled", Arc::new(store), dir.path()).await;
        }
        if only.as_deref().is_none_or(|b| b == "postgres") {
            match postgres_store().await {
                Some((store, admin, name)) => {
                    let dir = tempfile::tempdir().expect("tmp");
                    run("postgres", store.clone(), dir.path()).await;
                    drop(store);
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::Executor::execute(
                            &mut c,
                            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                        )
                        .await;
                    }
                }
                None => println!("postgres: not reachable, skipped"),
            }
        }
    });
}
