//! The `dbabot serve` assembly: engine, platform adapters, background jobs, `/healthz`,
//! `/readyz`, and a graceful shutdown that lets turns in flight finish.
//!
//! `main.rs` only parses the command line; [`App::build`] composes everything from a
//! [`Config`] and [`App::run`] serves until a shutdown signal.
//!
//! ## Turns in flight
//! Every turn goes through [`TrackedHandler`], which holds a [`TaskTracker`] token and a
//! semaphore permit for the duration of the engine call, so at most
//! [`ServeOptions::max_turns`] turns run at once (the rest wait in the adapters' tasks) and a
//! shutdown can wait for them. After the engine answers, the adapter posts the reply; that
//! delivery is not tracked by the engine side, so the shutdown waits until no turn is in the
//! engine and the adapters have not called it for [`DELIVERY_SETTLE`] before the runtime stops.

pub mod check;
pub mod metrics;

use crate::config::{self, Config};
use crate::intents::Catalog;
use crate::memory::Memory;
use crate::recommend::RulesRecommender;
use crate::Engine;
use dbabot_chat::{HandlerError, InboundMessage, MessageHandler, Reply, ThreadKey};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the shutdown waits, after the last engine turn has returned, for the adapter to
/// post its reply (a few Web API calls; loopback and cloud round trips are well under a
/// second). Capped by the remaining grace period. Local choice, not a platform limit.
pub const DELIVERY_SETTLE: Duration = Duration::from_secs(2);

/// How long `/readyz` waits for a platform API probe (Slack `auth.test`) before reporting the
/// platform not ready. Kubernetes' default probe `timeoutSeconds` is 1 s; the manifests in
/// `deploy/kubernetes` set 5 s, so 3 s leaves room for the store probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the Prometheus recorder's histograms are drained (`run_upkeep`; the exporter's
/// own default is 5 s).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How often the store is probed for `dbabot_store_seconds{op="probe"}`: a quarter of
/// Prometheus' default 1-minute scrape interval, so each scrape sees fresh probes.
const STORE_PROBE_EVERY: Duration = Duration::from_secs(15);

struct MetricsState {
    handle: metrics_exporter_prometheus::PrometheusHandle,
    turns: Arc<Turns>,
}

async fn metrics_endpoint(
    axum::extract::State(m): axum::extract::State<Arc<MetricsState>>,
) -> impl axum::response::IntoResponse {
    metrics::turns(m.turns.in_flight(), m.turns.waiting(), m.turns.max());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.handle.render(),
    )
}

/// Times every request until its response is ready, labelled with the route template.
async fn time_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::ack(&route, resp.status().as_u16(), started.elapsed());
    resp
}

/// Failures while assembling or running the service.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A configuration section could not be parsed or is incomplete.
    #[error("configuration: {0}")]
    Config(String),
    /// The intent catalog could not be loaded.
    #[error("intent catalog: {0}")]
    Catalog(String),
    /// The data directory or the store could not be opened.
    #[error("store: {0}")]
    Store(String),
    /// A platform adapter could not be built.
    #[error("{platform}: {message}")]
    Adapter {
        platform: &'static str,
        message: String,
    },
    /// The listener could not be bound or the HTTP server failed.
    #[error("http server: {0}")]
    Http(String),
}

/// Tunables of `dbabot serve`.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// After SIGTERM/SIGINT, how long turns in flight may still run, in seconds. Default 20:
    /// Kubernetes sends SIGKILL `terminationGracePeriodSeconds` (default 30 s, "Pod
    /// Lifecycle — Termination of Pods") after SIGTERM, so 20 s leaves time to flush and exit.
    pub shutdown_grace: Duration,
    /// Maximum engine turns running at once; further turns wait for a permit. Default 32, a
    /// local choice: each turn may hold a pooled connection per target (`limits.pool_size`),
    /// and queued turns waiting here cost nothing on the databases.
    pub max_turns: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            shutdown_grace: Duration::from_secs(20),
            max_turns: 32,
        }
    }
}

/// Counts and bounds engine turns; shared by [`TrackedHandler`] and the shutdown.
pub struct Turns {
    tracker: TaskTracker,
    permits: Semaphore,
    max: usize,
    waiting: AtomicUsize,
    /// When the adapters last called into the engine (any method), in ms since `epoch`.
    last_activity_ms: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl Turns {
    fn new(max: usize) -> Self {
        let max = max.max(1);
        Turns {
            tracker: TaskTracker::new(),
            permits: Semaphore::new(max),
            max,
            waiting: AtomicUsize::new(0),
            last_activity_ms: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// When the adapters last called into the engine.
    fn last_activity(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }

    /// Turns currently inside the engine or waiting for a permit.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Turns waiting for a permit (the queue depth).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The configured maximum of concurrent turns.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Wraps the engine so every turn is tracked and bounded (see the module docs).
pub struct TrackedHandler {
    inner: Arc<dyn MessageHandler>,
    turns: Arc<Turns>,
}

#[async_trait::async_trait]
impl MessageHandler for TrackedHandler {
    async fn handle(&self, message: InboundMessage) -> Result<Reply, HandlerError> {
        let _token = self.turns.tracker.token();
        self.turns.touch();
        if self.turns.permits.available_permits() == 0 {
            dbabot_chat::progress::notify_queued(self.turns.waiting(), self.turns.max);
        }
        self.turns.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.turns.permits.acquire().await;
        self.turns.waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit =
            permit.map_err(|_| HandlerError::Internal("the service is shutting down".into()))?;
        let platform = message.platform;
        let started = Instant::now();
        let r = self.inner.handle(message).await;
        metrics::turn(platform, r.as_ref().map_err(|_| ()), started.elapsed());
        self.turns.touch();
        r
    }

    async fn progress_hint(&self, message: &InboundMessage) -> Option<String> {
        self.turns.touch();
        self.inner.progress_hint(message).await
    }

    async fn knows_thread(&self, thread: &ThreadKey) -> bool {
        self.turns.touch();
        let started = Instant::now();
        let known = self.inner.knows_thread(thread).await;
        metrics::store("knows_thread", true, started.elapsed());
        known
    }

    async fn claim_delivery(&self, key: &str) -> bool {
        let started = Instant::now();
        let first = self.inner.claim_delivery(key).await;
        metrics::store("claim_delivery", true, started.elapsed());
        first
    }
}

/// Routes unsolicited messages (escalation handoffs, case updates) to the platform of their
/// destination: Slack through `chat.postMessage`, Discord through "Create Message" with the bot
/// token, Teams through the channel's Workflows incoming webhook.
#[derive(Default)]
struct PlatformOutbox {
    slack: Option<dbabot_slack::SlackBot>,
    discord: Option<Result<dbabot_discord::rest::ChannelOutbox, String>>,
    teams: Option<dbabot_teams::TeamsOutbox>,
}

#[async_trait::async_trait]
impl dbabot_chat::Outbox for PlatformOutbox {
    async fn post(
        &self,
        d: &dbabot_chat::Destination,
        reply: &dbabot_chat::Reply,
    ) -> Result<Option<String>, dbabot_chat::OutboxError> {
        use dbabot_chat::Platform;
        let unavailable = |message: String| dbabot_chat::OutboxError::at(d, message);
        let posted = match d.platform {
            Platform::Slack => match &self.slack {
                Some(s) => s.post(d, reply).await,
                None => Err(unavailable("no [slack] section is configured".into())),
            },
            Platform::Discord => match &self.discord {
                Some(Ok(o)) => o.post(d, reply).await,
                Some(Err(e)) => Err(unavailable(e.clone())),
                None => Err(unavailable("no [discord] section is configured".into())),
            },
            Platform::Teams => match &self.teams {
                Some(o) => o.post(d, reply).await,
                None => Err(unavailable("no [teams] section is configured".into())),
            },
            p => Err(unavailable(format!(
                "{p:?} has no outbound channel in `serve` (Slack, Discord and Teams do)"
            ))),
        };
        metrics::outbox(d.platform, reply, posted.is_ok());
        posted
    }
}

/// A long-running platform connection (Socket Mode, Discord gateway): up while its task runs.
struct Connection {
    name: &'static str,
    alive: Arc<AtomicBool>,
}

/// What `/readyz` checks.
struct Readiness {
    memory: Memory,

    /// Slack over HTTP: the Web API must answer `auth.test`.
    slack_api: Option<dbabot_slack::SlackBot>,
    connections: Vec<Connection>,
    shutting_down: Arc<AtomicBool>,
}

impl Readiness {
    /// Runs every check; returns whether all passed and each check's verdict.
    async fn check(&self) -> (bool, serde_json::Map<String, serde_json::Value>) {
        let mut checks = serde_json::Map::new();
        let mut ok = true;
        let mut put = |name: &str, verdict: Result<(), String>| {
            let v = match verdict {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    ok = false;
                    crate::redact::redact(&e)
                }
            };
            checks.insert(name.to_string(), serde_json::Value::String(v));
        };
        if self.shutting_down.load(Ordering::Relaxed) {
            put("shutdown", Err("shutting down".into()));
        }
        put(
            "store",
            self.memory
                .store()
                .probe()
                .await
                .map_err(|e| format!("store not writable: {e}")),
        );
        if let Some(bot) = &self.slack_api {
            let v = match tokio::time::timeout(PROBE_TIMEOUT, bot.api().bot_user_id()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("Slack Web API auth.test failed: {e}")),
                Err(_) => Err(format!(
                    "Slack Web API auth.test did not answer within {} ms",
                    PROBE_TIMEOUT.as_millis()
                )),
            };
            put("slack", v);
        }
        for c in &self.connections {
            let v = if c.alive.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(format!("{} connection stopped", c.name))
            };
            put(c.name, v);
        }
        (ok, checks)
    }
}

async fn readyz(
    axum::extract::State(r): axum::extract::State<Arc<Readiness>>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let (ok, checks) = r.check().await;
    let not_ready: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v.as_str() != Some("ok"))
        .map(|(k, _)| k.clone())
        .collect();
    let status = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({"ready": ok, "checks": checks, "not_ready": not_ready})),
    )
}

/// The intent catalog: `intents_dir` when configured, else the embedded one.
///
/// # Errors
/// [`AppError::Catalog`] when the directory cannot be read or parsed.
pub fn catalog(cfg: &Config) -> Result<Catalog, AppError> {
    match &cfg.intents_dir {
        Some(d) => Catalog::from_dir(d),
        None => Catalog::embedded(),
    }
    .map_err(|e| AppError::Catalog(e.to_string()))
}

/// The configured recommender: rules, or the LLM (which falls back to the rules on any failure).
///
/// # Errors
/// [`AppError::Config`] when `recommender = "llm"` has no valid `[llm]` section.
pub fn recommender(cfg: &Config) -> Result<Arc<dyn crate::recommend::Recommender>, AppError> {
    use crate::config::RecommenderKind;
    match (cfg.recommender, cfg.sections.get("llm")) {
        (RecommenderKind::Llm, Some(s)) => Ok(Arc::new(
            crate::recommend::llm::LlmRecommender::from_config(s, &config::process_env)
                .map_err(|e| AppError::Config(format!("[llm]: {e}")))?,
        )),
        (RecommenderKind::Llm, None) => Err(AppError::Config(
            "recommender = \"llm\" needs an [llm] section".into(),
        )),
        _ => Ok(Arc::new(RulesRecommender)),
    }
}

/// The assembled service: router, engine, background jobs.
pub struct App {
    router: axum::Router,
    engine: Engine,
    turns: Arc<Turns>,
    jobs: tokio::task::JoinSet<()>,
    stop: CancellationToken,
    shutting_down: Arc<AtomicBool>,
    options: ServeOptions,
    /// Names of the mounted platform endpoints and listeners, for the startup log.
    pub mounted: Vec<&'static str>,
}

impl App {
    /// Builds the engine, mounts each configured platform's routes, starts its listeners and
    /// the background jobs (escalation reminders every 30 s, retention purge hourly).
    ///
    /// The store is the one `[store]` configures (sled in `data_dir/memory` by default).
    ///
    /// # Errors
    /// [`AppError`] when the store, catalog or a platform section is unusable.
    pub async fn build(cfg: Config, options: ServeOptions) -> Result<App, AppError> {
        let catalog = catalog(&cfg)?;
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| AppError::Store(format!("creating {}: {e}", cfg.data_dir.display())))?;
        let store = crate::store::open(&cfg.data_dir, &cfg.store)
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        tracing::info!(backend = store.kind(), "store opened");
        let memory = Memory::with_store(store);
        let engine = {
            let rec = recommender(&cfg)?;
            Engine::new(cfg, catalog, memory.clone(), rec)
                .map_err(|e| AppError::Config(e.to_string()))?
        };
        let turns = Arc::new(Turns::new(options.max_turns));
        let handler: Arc<dyn MessageHandler> = Arc::new(TrackedHandler {
            inner: Arc::new(engine.clone()),
            turns: turns.clone(),
        });
        let stop = CancellationToken::new();
        let shutting_down = Arc::new(AtomicBool::new(false));
        let mut jobs = tokio::task::JoinSet::new();
        let mut router =
            axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let mut mounted: Vec<&'static str> = Vec::new();
        let mut connections = Vec::new();
        let mut slack_api = None;
        let sections = engine.config().sections.clone();
        let mut outbox = PlatformOutbox::default();

        // A platform listener task: marked down when it returns; aborted on shutdown.
        let mut spawn_connection = |jobs: &mut tokio::task::JoinSet<()>,
                                    name: &'static str,
                                    fut: std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), String>> + Send>,
        >| {
            let alive = Arc::new(AtomicBool::new(true));
            let flag = alive.clone();
            jobs.spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::error!(error = %crate::redact::redact(&e), connection = name, "platform connection stopped");
                    }
                    flag.store(false, Ordering::Relaxed);
                });
            connections.push(Connection { name, alive });
        };

        if let Some(section) = sections.get("slack") {
            let err = |e: String| AppError::Adapter {
                platform: "slack",
                message: e,
            };
            let sc = dbabot_slack::SlackConfig::from_toml(section, &config::process_env)
                .map_err(|e| err(e.to_string()))?;
            let transport = sc.transport;
            // Files shared into a thread are downloaded with the bot token for log analysis.
            let fetcher =
                dbabot_slack::files::SlackFetcher::new(&sc).map_err(|e| err(e.to_string()))?;
            engine.set_fetcher(dbabot_chat::Platform::Slack, Arc::new(fetcher));
            let bot =
                dbabot_slack::SlackBot::new(handler.clone(), sc).map_err(|e| err(e.to_string()))?;
            // Escalation handoffs and requester updates for Slack threads go out through the bot.
            outbox.slack = Some(bot.clone());
            // Learn the bot's user id even if Slack is unreachable right now (retried with
            // backoff until it succeeds; aborted on shutdown).
            jobs.spawn(bot.clone().resolve_identity());
            match transport {
                dbabot_slack::Transport::Http => {
                    router = router.merge(dbabot_slack::router(bot.clone()));
                    slack_api = Some(bot);
                    mounted.push("slack (events API)");
                }
                dbabot_slack::Transport::SocketMode => {
                    spawn_connection(
                        &mut jobs,
                        "slack",
                        Box::pin(async move {
                            dbabot_slack::socket::run(bot)
                                .await
                                .map_err(|e| e.to_string())
                        }),
                    );
                    mounted.push("slack (socket mode)");
                }
            }
        }
        if let Some(section) = sections.get("discord") {
            let mut dc = dbabot_discord::DiscordConfig::from_toml(section, &config::process_env)
                .map_err(|e| AppError::Adapter {
                    platform: "discord",
                    message: e.to_string(),
                })?;
            // Autocomplete for `/dba report` and target options comes from the engine's catalog.
            dc.targets = engine
                .config()
                .targets
                .iter()
                .flat_map(|t| std::iter::once(t.alias.clone()).chain(t.aliases.iter().cloned()))
                .collect();
            dc.reports = engine
                .catalog()
                .reports
                .iter()
                .map(|r| r.name.clone())
                .collect();
            // Files shared into a thread are downloaded from Discord's CDN for log analysis.
            engine.set_fetcher(
                dbabot_chat::Platform::Discord,
                Arc::new(dbabot_discord::fetch::DiscordFetcher::default()),
            );
            // Handoffs and case updates for Discord go out through "Create Message"; without a
            // bot token (interactions-only deployments) they fail with this reason.
            outbox.discord =
                Some(dbabot_discord::rest::ChannelOutbox::new(&dc).map_err(|e| e.to_string()));
            let mode = dc.mode;
            if matches!(
                mode,
                dbabot_discord::Mode::Interactions | dbabot_discord::Mode::Both
            ) {
                router = router.merge(dbabot_discord::router(handler.clone(), dc.clone()));
                mounted.push("discord (interactions endpoint)");
            }
            if matches!(
                mode,
                dbabot_discord::Mode::Gateway | dbabot_discord::Mode::Both
            ) {
                let h = handler.clone();
                spawn_connection(
                    &mut jobs,
                    "discord",
                    Box::pin(async move {
                        dbabot_discord::run_gateway(h, dc)
                            .await
                            .map_err(|e| e.to_string())
                    }),
                );
                mounted.push("discord (gateway)");
            }
        }
        if let Some(section) = sections.get("teams") {
            let tc = dbabot_teams::TeamsConfig::from_toml(section, &config::process_env).map_err(
                |e| AppError::Adapter {
                    platform: "teams",
                    message: e.to_string(),
                },
            )?;
            outbox.teams = Some(dbabot_teams::TeamsOutbox::new(tc.clone()));
            router = router.merge(dbabot_teams::router(handler.clone(), tc));
            mounted.push("teams");
        }

        engine.set_outbox(Arc::new(outbox));

        // Escalation reminders: re-post unacknowledged cases after their SLA (the schedule is in
        // each case; every reminder is claimed by compare-and-set, so with several replicas on
        // one store each is posted once).
        let reminders = engine.clone();
        spawn_every(&mut jobs, &stop, Duration::from_secs(30), move || {
            let reminders = reminders.clone();
            async move {
                let n = reminders.run_due_reminders().await;
                if n > 0 {
                    tracing::info!(reminders = n, "escalation reminders posted");
                }
            }
        });

        // Retention: purge expired threads, closed cases, old signatures and delivery ids hourly.
        let purger = engine.clone();
        let owner = Arc::new(format!(
            "{}:{}",
            std::process::id(),
            crate::store::unix_now()
        ));
        spawn_every(&mut jobs, &stop, Duration::from_secs(3600), move || {
            let (purger, owner) = (purger.clone(), owner.clone());
            async move {
                // One replica per hour runs the purge.
                let hour = crate::store::unix_now() / 3600;
                match purger.memory().store().claim("purge", hour, &owner).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim the retention purge");
                        return;
                    }
                }
                match purger.purge_expired().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "expired threads deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention purge failed"),
                }
            }
        });

        let readiness = Arc::new(Readiness {
            memory,
            slack_api,
            connections,
            shutting_down: shutting_down.clone(),
        });
        router = router.route("/readyz", axum::routing::get(readyz).with_state(readiness));

        // Prometheus: `/metrics`, the ack latency of every request, store probes, upkeep.
        if let Some(handle) = metrics::install() {
            let upkeep = handle.clone();
            spawn_every(&mut jobs, &stop, METRICS_UPKEEP, move || {
                upkeep.run_upkeep();
                std::future::ready(())
            });
            let state = Arc::new(MetricsState {
                handle,
                turns: turns.clone(),
            });
            router = router.route(
                "/metrics",
                axum::routing::get(metrics_endpoint).with_state(state),
            );
            mounted.push("metrics");
        }
        router = router.layer(axum::middleware::from_fn(time_request));
        let probe_memory = engine.memory().clone();
        spawn_every(&mut jobs, &stop, STORE_PROBE_EVERY, move || {
            let memory = probe_memory.clone();
            async move {
                let started = Instant::now();
                let ok = memory.store().probe().await.is_ok();
                metrics::store("probe", ok, started.elapsed());
            }
        });

        Ok(App {
            router,
            engine,
            turns,
            jobs,
            stop,
            shutting_down,
            options,
            mounted,
        })
    }

    /// The engine behind every platform (tests drive turns through it directly).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The turn counters (in flight, queued).
    pub fn turns(&self) -> Arc<Turns> {
        self.turns.clone()
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting, lets turns in
    /// flight finish for up to [`ServeOptions::shutdown_grace`], stops the background jobs,
    /// closes the database pools and flushes the store.
    ///
    /// # Errors
    /// [`AppError::Http`] when the server fails; [`AppError::Store`] when the final flush fails.
    pub async fn run(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let flag = self.shutting_down.clone();
        let signalled = CancellationToken::new();
        let sig = signalled.clone();
        tokio::spawn(async move {
            shutdown.await;
            flag.store(true, Ordering::Relaxed);
            sig.cancel();
        });
        let serve_stop = signalled.clone();
        let served = axum::serve(listener, self.router.clone())
            .with_graceful_shutdown(async move { serve_stop.cancelled().await })
            .await;
        // The listener is closed: no new requests. Wait for the engine turns.
        let deadline = Instant::now() + self.options.shutdown_grace;
        self.turns.tracker.close();
        tracing::info!(
            in_flight = self.turns.in_flight(),
            "shutting down: waiting for turns in flight"
        );
        // Quiet means: no turn inside the engine and no adapter call for DELIVERY_SETTLE, so
        // turns acknowledged just before the signal and replies being posted get through.
        let quiet = async {
            loop {
                self.turns.tracker.wait().await;
                let until = self.turns.last_activity() + DELIVERY_SETTLE;
                if Instant::now() >= until && self.turns.in_flight() == 0 {
                    break;
                }
                tokio::time::sleep_until(
                    until.max(Instant::now() + Duration::from_millis(50)).into(),
                )
                .await;
            }
        };
        if tokio::time::timeout_at(deadline.into(), quiet)
            .await
            .is_err()
        {
            tracing::warn!(
                abandoned = self.turns.in_flight(),
                grace_secs = self.options.shutdown_grace.as_secs(),
                "turns still running at the end of the shutdown grace period"
            );
        }
        self.turns.permits.close();
        self.stop.cancel();
        self.jobs.abort_all();
        while self.jobs.join_next().await.is_some() {}
        self.engine.runner().close().await;
        self.engine
            .memory()
            .store()
            .flush()
            .await
            .map_err(|e| AppError::Store(format!("final flush: {e}")))?;
        tracing::info!("dbabot stopped");
        served.map_err(|e| AppError::Http(e.to_string()))
    }
}

/// Runs `job` every `period` (the first time at once) until `stop` is cancelled.
fn spawn_every<F, Fut>(
    jobs: &mut tokio::task::JoinSet<()>,
    stop: &CancellationToken,
    period: Duration,
    mut job: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = stop.clone();
    jobs.spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            job().await;
        }
    });
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
