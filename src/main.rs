//! The `dbabot` binary: composes configuration, engine and adapters.
//!
//! * `dbabot chat` — the console adapter (embedded demo when no config exists)
//! * `dbabot check-config` — validate the configuration and test every target

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dbabot::config::{self, Config};
use dbabot::intents::Catalog;
use dbabot::memory::Memory;
use dbabot::recommend::RulesRecommender;
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
    /// Run the HTTP endpoints of the configured chat platforms (and `/healthz`).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DBABOT_LISTEN", default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
    },
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

fn catalog(cfg: &Config) -> anyhow::Result<Catalog> {
    Ok(match &cfg.intents_dir {
        Some(d) => Catalog::from_dir(d)?,
        None => Catalog::embedded()?,
    })
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
    let cli = Cli::parse();
    match &cli.command {
        Command::Chat { thread, json } => {
            init_tracing("error");
            let cfg = with_demo(load_config(&cli)?).await?;
            let catalog = catalog(&cfg)?;
            std::fs::create_dir_all(&cfg.data_dir)
                .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
            let memory = Memory::open(&cfg.data_dir.join("memory"))?;
            let history = Some(cfg.data_dir.join("console-history.txt"));
            let engine = Engine::new(cfg, catalog, memory, Arc::new(RulesRecommender));
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
            let handler: Arc<dyn MessageHandler> = Arc::new(engine.clone());
            dbabot_console::run(handler, opts).await?;
            engine.runner().close().await;
        }
        Command::Serve { listen } => {
            init_tracing("info");
            let cfg = with_demo(load_config(&cli)?).await?;
            serve(cfg, *listen).await?;
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

/// Builds the engine, mounts each configured platform's routes and serves until Ctrl-C.
async fn serve(cfg: Config, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let catalog = catalog(&cfg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let memory = Memory::open(&cfg.data_dir.join("memory"))?;
    let engine = Engine::new(cfg, catalog, memory, Arc::new(RulesRecommender));
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let mounted: Vec<&str> = Vec::new();

    // Retention: purge expired threads hourly.
    let purger = engine.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match purger.purge_expired().await {
                Ok(n) if n > 0 => tracing::info!(purged = n, "expired threads deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention purge failed"),
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, platforms = ?mounted, "dbabot serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    engine.runner().close().await;
    Ok(())
}

async fn check_config(cfg: &Config) -> anyhow::Result<bool> {
    println!("configuration: {} (valid)", cfg.source);
    println!("data directory: {}", cfg.data_dir.display());
    println!("recommender: {:?}", cfg.recommender);
    println!(
        "limits: statement timeout {} ms, row cap {} rows, pool {} per target, connect timeout {} ms",
        cfg.limits.statement_timeout_ms, cfg.limits.row_cap, cfg.limits.pool_size, cfg.limits.connect_timeout_ms
    );
    let cat = catalog(cfg)?;
    println!(
        "intent catalog: {} intents, {} reports, {} error codes",
        cat.intents.len(),
        cat.reports.len(),
        cat.error_codes.len()
    );
    let runner = dbabot::diagnostics::Runner::new(&cfg.targets, cfg.limits);
    println!("targets:");
    let mut all_ok = true;
    for t in &cfg.targets {
        let started = std::time::Instant::now();
        let verdict = match runner.ping(&t.alias).await {
            Ok(v) => format!(
                "OK ({}) in {} ms",
                dbabot::diagnostics::finding::short_query(&v, 60),
                started.elapsed().as_millis()
            ),
            Err(e) => {
                all_ok = false;
                format!(
                    "FAILED after {} ms: {}",
                    started.elapsed().as_millis(),
                    dbabot::redact::redact(&e.to_string())
                )
            }
        };
        println!(
            "  {:<20} {:<9} {:<8} {:<8} dsn from {:<30} {verdict}",
            t.alias,
            t.engine.as_str(),
            t.environment,
            t.cloud,
            t.dsn_source
        );
    }
    runner.close().await;
    Ok(all_ok)
}
