//! The `dbabot` binary: composes configuration, engine and adapters.
//!
//! * `dbabot chat` — the console adapter (embedded demo when no config exists)
//! * `dbabot check-config` — validate the configuration and test every target
//! * `dbabot logs analyze FILE…` — analyse PostgreSQL or MySQL/MariaDB logs

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dbabot::config::{self, Config};
use dbabot::intents::Catalog;
use dbabot::memory::Memory;
use dbabot::{demo, Engine};
use dbabot_chat::{MessageHandler, User};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "dbabot",
    version,
    about = "Chat-ops DBA assistant: read-only diagnostics and structured recommendations"
)]
struct Cli {
    /// Configuration file (default: ./dbabot.toml if present, else the embedded demo setup).
    #[arg(long, global = true, env = "DBABOT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for memory and the demo database (overrides the config).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with the bot in this terminal (or pipe questions into it).
    Chat {
        /// Thread name: the same name resumes the same conversation memory.
        #[arg(long, default_value = "default")]
        thread: String,
        /// Print each reply as the structured reply model in JSON, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration, list targets (without secrets) and test each connection.
    CheckConfig,
    /// List escalation cases.
    Cases {
        /// Only cases with this status: open, acknowledged, resolved, cancelled.
        #[arg(long)]
        status: Option<String>,
    },
    /// Verify or export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Store maintenance: copy a data directory between backends.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Run the HTTP endpoints of the configured chat platforms, `/healthz` and `/readyz`.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DBABOT_LISTEN", default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
        /// After SIGTERM/SIGINT, seconds that turns in flight may still run before exit.
        #[arg(long, env = "DBABOT_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
        shutdown_grace_secs: u64,
        /// Maximum engine turns running at once; further turns wait.
        #[arg(long, env = "DBABOT_MAX_TURNS", default_value_t = 32)]
        max_turns: usize,
    },
    /// Analyse database logs (PostgreSQL stderr/csvlog/jsonlog, MySQL/MariaDB slow and general logs).
    Logs {
        #[command(subcommand)]
        command: LogsCommand,
    },
}

#[derive(Subcommand)]
enum LogsCommand {
    /// Rank statements by total time, group errors, find lock waits and deadlocks.
    Analyze {
        /// Log files, plain or gzip; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// auto, pg-stderr, csvlog, jsonlog, mysql-slow or mysql-general.
        #[arg(long, default_value = "auto")]
        format: String,
        /// The server's log_line_prefix for stderr logs (detected when omitted).
        #[arg(long)]
        prefix: Option<String>,
        /// Write statements/errors/lock_waits/timeline CSV files into this directory.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Draw timeline and top-statement PNG charts into this directory.
        #[arg(long)]
        charts: Option<PathBuf>,
        /// Statements shown in the table.
        #[arg(long, default_value_t = dbabot::logs::DEFAULT_TOP)]
        top: usize,
        /// Only events from this time (YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or …THH:MM:SSZ, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Only events before this time (same formats).
        #[arg(long)]
        until: Option<String>,
        /// Refuse inputs larger than this many bytes (after decompression).
        #[arg(long, default_value_t = dbabot::logs::DEFAULT_MAX_BYTES)]
        max_bytes: u64,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// The server's log_timezone (an IANA name such as Europe/Berlin), to read the zone
        /// abbreviations in its timestamps (CET, IST…); common unambiguous ones work without.
        #[arg(long)]
        log_timezone: Option<String>,
        /// Print the reply as the structured reply model in JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy everything (threads, cases, case counter, audit chain and head) from one backend to
    /// another, e.g. `--from sled --to postgres`. The target must be empty; the audit chain is
    /// verified on the target afterwards.
    Migrate {
        /// Source backend: sled (the data directory's `memory`) or postgres.
        #[arg(long)]
        from: String,
        /// Target backend: postgres (DSN from `[store]` or `DBABOT_STORE_DSN`) or sled.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exits 1 if a record was modified, removed or reordered.
    Verify,
    /// Write records as CSV or JSON lines to stdout.
    Export {
        /// From this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (same formats).
        #[arg(long)]
        until: Option<String>,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) into Unix milliseconds.
fn parse_time(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("`{s}` is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, t.trim_end_matches('Z')),
        None => (s, "00:00:00"),
    };
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [y, m, day] = d[..] else {
        return Err(bad());
    };
    let (hh, mm, ss) = match t[..] {
        [h, m2, s2] => (h, m2, s2),
        [h, m2] => (h, m2, 0),
        _ => return Err(bad()),
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000).map_err(|_| bad())
}

/// Opens the configured store (`[store]`; sled in `data_dir/memory` by default).
async fn open_store(cfg: &Config) -> anyhow::Result<Memory> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store = dbabot::store::open(&cfg.data_dir, &cfg.store).await?;
    Ok(Memory::with_store(store))
}

/// Opens one backend by name for `store migrate`.
async fn open_backend(cfg: &Config, name: &str) -> anyhow::Result<dbabot::store::Store> {
    let mut settings = cfg.store.clone();
    settings.backend = match name {
        "sled" => dbabot::store::BackendKind::Sled,
        "postgres" => dbabot::store::BackendKind::Postgres,
        other => anyhow::bail!("unknown backend `{other}` (sled or postgres)"),
    };
    Ok(dbabot::store::open(&cfg.data_dir, &settings).await?)
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let path = cli.config.clone().or_else(|| {
        let p = PathBuf::from("dbabot.toml");
        p.exists().then_some(p)
    });
    let mut cfg = match &path {
        Some(p) => Config::load(p, &config::process_env)?,
        None => {
            let mut c = Config::embedded(config::default_data_dir(&config::process_env));
            c.apply_env(&config::process_env)?;
            c
        }
    };
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

/// Adds the demo target when no targets are configured.
async fn with_demo(mut cfg: Config) -> anyhow::Result<Config> {
    if cfg.targets.is_empty() {
        let t = demo::ensure(&cfg.data_dir)
            .await
            .context("creating the demo database")?;
        cfg.targets.push(t);
    }
    Ok(cfg)
}

fn recommender(cfg: &Config) -> anyhow::Result<Arc<dyn dbabot::recommend::Recommender>> {
    Ok(dbabot::app::recommender(cfg)?)
}

fn catalog(cfg: &Config) -> anyhow::Result<Catalog> {
    Ok(dbabot::app::catalog(cfg)?)
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DBABOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Several rustls crypto providers are compiled in (through different HTTP stacks); pick one
    // for the whole process so TLS clients that rely on the default never fail to start.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match &cli.command {
        Command::Chat { thread, json } => {
            init_tracing("error");
            let cfg = with_demo(load_config(&cli)?).await?;
            let catalog = catalog(&cfg)?;
            let memory = open_store(&cfg).await?;
            let history = Some(cfg.data_dir.join("console-history.txt"));
            let engine = {
                let rec = recommender(&cfg)?;
                Engine::new(cfg, catalog, memory, rec)?
            };
            let purged = engine.purge_expired().await?;
            if purged > 0 {
                tracing::info!(purged, "expired threads deleted");
            }
            let user_name = std::env::var("USER").unwrap_or_else(|_| "console".into());
            let opts = dbabot_console::ConsoleOptions {
                thread: thread.clone(),
                json: *json,
                user: User {
                    id: format!("console:{user_name}"),
                    display_name: user_name,
                    groups: vec![],
                },
                history,
                color: std::env::var_os("NO_COLOR").is_none()
                    && std::io::IsTerminal::is_terminal(&std::io::stdout()),
            };
            engine.set_outbox(Arc::new(dbabot_console::ConsoleOutbox));
            let handler: Arc<dyn MessageHandler> = Arc::new(engine.clone());
            dbabot_console::run(handler, opts).await?;
            engine.runner().close().await;
        }
        Command::Serve {
            listen,
            shutdown_grace_secs,
            max_turns,
        } => {
            init_tracing("info");
            let cfg = with_demo(load_config(&cli)?).await?;
            let options = dbabot::app::ServeOptions {
                shutdown_grace: std::time::Duration::from_secs(*shutdown_grace_secs),
                max_turns: *max_turns,
            };
            serve(cfg, *listen, options).await?;
        }
        Command::Cases { status } => {
            init_tracing("error");
            let cfg = load_config(&cli)?;
            let memory = open_store(&cfg).await?;
            let wanted = match status.as_deref() {
                None => None,
                Some("open") => Some(dbabot::escalation::CaseStatus::Open),
                Some("acknowledged") => Some(dbabot::escalation::CaseStatus::Acknowledged),
                Some("resolved") => Some(dbabot::escalation::CaseStatus::Resolved),
                Some("cancelled") => Some(dbabot::escalation::CaseStatus::Cancelled),
                Some(other) => anyhow::bail!(
                    "unknown status `{other}` (open, acknowledged, resolved, cancelled)"
                ),
            };
            let cases = memory.store().list_cases(wanted).await?;
            println!(
                "{:<10} {:<3} {:<13} {:<16} {:<20} summary",
                "case", "pri", "status", "target", "requester"
            );
            for c in &cases {
                println!(
                    "{:<10} {:<3} {:<13} {:<16} {:<20} {}",
                    c.id,
                    c.priority,
                    c.status.as_str(),
                    c.target.as_deref().unwrap_or("-"),
                    c.requester_name,
                    dbabot::diagnostics::finding::short_query(&c.summary, 100)
                );
            }
            println!("{} case(s)", cases.len());
        }
        Command::Audit { command } => {
            init_tracing("error");
            let cfg = load_config(&cli)?;
            let memory = open_store(&cfg).await?;
            let audit = dbabot::audit::Audit::open(memory.store());
            match command {
                AuditCommand::Verify => match audit.verify().await? {
                    dbabot::audit::Verification::Intact { records } => {
                        println!("audit chain intact: {records} records");
                        if let Some(h) = memory.store().audit_head().await? {
                            println!("head: record {} hash {}", h.seq, h.hash);
                        }
                    }
                    dbabot::audit::Verification::Broken { seq, reason } => {
                        println!("audit chain BROKEN at record {seq}: {reason}");
                        std::process::exit(1);
                    }
                },
                AuditCommand::Export {
                    since,
                    until,
                    format,
                } => {
                    let since = since.as_deref().map(parse_time).transpose()?;
                    let until = until.as_deref().map(parse_time).transpose()?;
                    let records = audit.records(since, until).await?;
                    audit.export(&records, format, &mut std::io::stdout().lock())?;
                }
            }
        }
        Command::Store {
            command: StoreCommand::Migrate { from, to },
        } => {
            init_tracing("error");
            let cfg = load_config(&cli)?;
            if from == to {
                anyhow::bail!("--from and --to name the same backend");
            }
            let source = open_backend(&cfg, from).await?;
            let target = open_backend(&cfg, to).await?;
            if target.thread_count().await? > 0
                || target.audit_head().await?.is_some()
                || !target.list_cases(None).await?.is_empty()
            {
                anyhow::bail!("the {to} store is not empty; migrate into an empty store");
            }
            let dump = source.dump().await?;
            let (threads, cases, records) =
                (dump.threads.len(), dump.cases.len(), dump.audit.len());
            target.restore(dump).await?;
            target.flush().await?;
            let verdict = dbabot::audit::Audit::open(&target).verify().await?;
            println!(
                "copied {threads} thread(s), {cases} case(s), {records} audit record(s) from {from} to {to}"
            );
            match verdict {
                dbabot::audit::Verification::Intact { records } => {
                    println!("audit chain intact on {to}: {records} records")
                }
                dbabot::audit::Verification::Broken { seq, reason } => {
                    println!("audit chain BROKEN on {to} at record {seq}: {reason}");
                    std::process::exit(1);
                }
            }
        }
        Command::Logs {
            command:
                LogsCommand::Analyze {
                    files,
                    format,
                    prefix,
                    csv,
                    charts,
                    top,
                    since,
                    until,
                    max_bytes,
                    threads,
                    log_timezone,
                    json,
                },
        } => {
            init_tracing("warn");
            let bound = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
                s.as_deref()
                    .map(|v| {
                        dbabot::logs::time::parse_bound(v).ok_or_else(|| {
                            anyhow::anyhow!("`{v}` is not YYYY-MM-DD[ HH:MM[:SS]] (UTC)")
                        })
                    })
                    .transpose()
            };
            let format = match format.as_str() {
                "auto" => None,
                f => Some(dbabot::logs::Format::parse(f).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown format `{f}` (auto, pg-stderr, csvlog, jsonlog, mysql-slow, mysql-general)"
                    )
                })?),
            };
            let req = dbabot::logs::Request {
                inputs: files
                    .iter()
                    .map(|f| {
                        if f.as_os_str() == "-" {
                            dbabot::logs::Input::Stdin
                        } else {
                            dbabot::logs::Input::Path(f.clone())
                        }
                    })
                    .collect(),
                options: dbabot::logs::Options {
                    format,
                    prefix: prefix.clone(),
                    since_ms: bound(since)?,
                    until_ms: bound(until)?,
                    max_bytes: *max_bytes,
                    threads: *threads,
                    timezone: log_timezone.clone(),
                    thresholds: dbabot::diagnostics::Thresholds::embedded(),
                },
                csv_dir: csv.clone(),
                charts_dir: charts.clone(),
                top: *top,
            };
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let (_, reply) = tokio::task::spawn_blocking(move || {
                let progress = |done: u64, total: u64| {
                    if let Some(pct) = (done * 100).checked_div(total) {
                        eprint!("\ranalysing… {pct:>3}%");
                    }
                };
                let result = dbabot::logs::run(req, tty.then_some(&progress as _));
                if tty {
                    eprint!("\r                \r");
                }
                result
            })
            .await
            .context("the analysis thread failed")??;
            if *json {
                println!("{}", serde_json::to_string(&reply)?);
            } else {
                let color = std::env::var_os("NO_COLOR").is_none()
                    && std::io::IsTerminal::is_terminal(&std::io::stdout());
                print!("{}", dbabot_console::render_text(&reply, color));
            }
        }
        Command::CheckConfig => {
            init_tracing("error");
            let cfg = with_demo(load_config(&cli)?).await?;
            let ok = check_config(&cfg).await?;
            if !ok {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// Builds the service and serves until SIGTERM or SIGINT.
async fn serve(
    cfg: Config,
    listen: std::net::SocketAddr,
    options: dbabot::app::ServeOptions,
) -> anyhow::Result<()> {
    let app = dbabot::app::App::build(cfg, options).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, platforms = ?app.mounted, "dbabot serving");
    app.run(listener, dbabot::app::shutdown_signal()).await?;
    Ok(())
}

async fn check_config(cfg: &Config) -> anyhow::Result<bool> {
    let report = dbabot::app::check::run(cfg, &config::process_env).await?;
    for line in &report.lines {
        println!("{line}");
    }
    Ok(report.ok)
}
