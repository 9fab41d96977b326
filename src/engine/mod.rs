//! The engine: one conversation turn from [`InboundMessage`] to [`Reply`].
//!
//! ```text
//! handle(msg) ─► lock thread ─► load ThreadState (store, versioned)
//!             ─► turn::respond: pending answer? command? slots + intent ─► ask for a slot
//!                                                                     └─► answers::* (diagnostics,
//!                                                                         recommender, render)
//!             ─► save ThreadState (durable, compare-and-set on its version) ─► Reply
//! ```

mod advice;
mod answers;
pub mod command;
mod escalate;
mod gate;
pub mod logs;
mod plan;
mod reach;
mod turn;

use crate::config::{Config, Target};
use crate::diagnostics::Runner;
use crate::intents::slots::TargetName;
use crate::intents::{Catalog, Classifier};
use crate::memory::{Memory, ThreadState};
use crate::recommend::Recommender;
use async_trait::async_trait;
use dbabot_chat::{HandlerError, InboundMessage, MessageHandler, Reply};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

/// Errors building an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    #[error("storage: {0}")]
    Storage(String),
}

/// Seconds since the Unix epoch; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// The DBA assistant. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalog: Catalog,
    classifier: Classifier,
    target_names: Vec<TargetName>,
    /// Every target name and alias as one word-bounded, case-insensitive pattern, built once:
    /// blanked out of a question before it is classified.
    target_words: Option<regex::Regex>,
    report_names: Vec<String>,
    runner: Runner,
    memory: Memory,
    recommender: Arc<dyn Recommender>,
    policy: crate::policy::Policy,
    audit: crate::audit::Audit,
    cases: crate::escalation::CaseStore,
    signatures: crate::escalation::signature::Signatures,
    escalation: crate::escalation::EscalationConfig,
    outbox: std::sync::OnceLock<Arc<dyn dbabot_chat::Outbox>>,
    /// Per platform: how to download files shared into a thread (log analysis).
    fetchers: Mutex<HashMap<dbabot_chat::Platform, Arc<dyn dbabot_chat::AttachmentFetcher>>>,
    thread_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock: Clock,
}

impl Engine {
    /// Wires an engine from its parts. Pools connect lazily.
    ///
    /// # Errors
    /// [`EngineError`] when `[access]` or `[escalation]` is invalid or storage cannot be opened.
    pub fn new(
        config: Config,
        catalog: Catalog,
        memory: Memory,
        recommender: Arc<dyn Recommender>,
    ) -> Result<Self, EngineError> {
        Self::try_with_clock(config, catalog, memory, recommender, system_clock())
    }

    /// As [`Engine::new`] with an explicit clock (tests control time).
    ///
    /// # Errors
    /// [`EngineError`] naming the section or store that failed.
    pub fn try_with_clock(
        config: Config,
        catalog: Catalog,
        memory: Memory,
        recommender: Arc<dyn Recommender>,
        clock: Clock,
    ) -> Result<Self, EngineError> {
        let policy = match config.sections.get("access") {
            Some(s) => crate::policy::Policy::from_toml(s)
                .map_err(|e| EngineError::Config(e.to_string()))?,
            None => crate::policy::Policy::open(),
        };
        let escalation = match config.sections.get("escalation") {
            Some(s) => {
                crate::escalation::EscalationConfig::from_toml(s, &crate::config::process_env)
                    .map_err(|e| EngineError::Config(e.to_string()))?
            }
            None => crate::escalation::EscalationConfig::default(),
        };
        let store = memory.store().clone();
        let audit = crate::audit::Audit::open(&store);
        let cases = crate::escalation::CaseStore::open(&store);
        let signatures = crate::escalation::signature::Signatures::open(&store);
        let classifier = Classifier::with_lexicon(&catalog.intents, catalog.lexicon.clone());
        let runner =
            Runner::with_thresholds(&config.targets, config.limits, catalog.thresholds.clone());
        let target_names: Vec<TargetName> = config
            .targets
            .iter()
            .map(|t| TargetName {
                alias: t.alias.clone(),
                aliases: t.aliases.clone(),
                environment: t.environment.clone(),
            })
            .collect();
        let report_names = catalog.reports.iter().map(|r| r.name.clone()).collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                catalog,
                classifier,
                target_words: turn::target_words(&target_names),
                target_names,
                report_names,
                runner,
                memory,
                recommender,
                policy,
                audit,
                cases,
                signatures,
                escalation,
                outbox: std::sync::OnceLock::new(),
                fetchers: Mutex::new(HashMap::new()),
                thread_locks: Mutex::new(HashMap::new()),
                clock,
            }),
        })
    }

    /// Where escalation handoffs and requester updates are posted (set once, at startup).
    pub fn set_outbox(&self, outbox: Arc<dyn dbabot_chat::Outbox>) {
        let _ = self.inner.outbox.set(outbox);
    }

    /// Sets how files shared on `platform` are downloaded (the adapter's fetcher).
    pub fn set_fetcher(
        &self,
        platform: dbabot_chat::Platform,
        fetcher: Arc<dyn dbabot_chat::AttachmentFetcher>,
    ) {
        let mut map = match self.inner.fetchers.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.insert(platform, fetcher);
    }

    fn fetcher(
        &self,
        platform: dbabot_chat::Platform,
    ) -> Option<Arc<dyn dbabot_chat::AttachmentFetcher>> {
        let map = match self.inner.fetchers.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(&platform).cloned()
    }

    /// Escalation cases.
    pub fn cases(&self) -> &crate::escalation::CaseStore {
        &self.inner.cases
    }

    /// The audit trail.
    pub fn audit(&self) -> &crate::audit::Audit {
        &self.inner.audit
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn runner(&self) -> &Runner {
        &self.inner.runner
    }

    pub fn memory(&self) -> &Memory {
        &self.inner.memory
    }

    fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    fn target(&self, alias: &str) -> Option<&Target> {
        self.inner.config.target(alias)
    }

    /// Deletes threads and closed cases older than the retention period; returns how many.
    /// Audit records are kept (they hold no conversation content).
    ///
    /// # Errors
    /// [`HandlerError::Memory`] on storage failure.
    pub async fn purge_expired(&self) -> Result<usize, HandlerError> {
        let retention = self.inner.config.memory.retention_secs;
        let threads = self
            .inner
            .memory
            .purge(self.now(), retention)
            .await
            .map_err(|e| HandlerError::Memory(e.to_string()))?;
        let cutoff = self.now().saturating_sub(retention);
        let cases = self
            .inner
            .cases
            .purge_closed(cutoff)
            .await
            .map_err(|e| HandlerError::Memory(e.to_string()))?;
        let store = self.inner.memory.store();
        // Signatures outside the 24 h window and expired delivery ids: bounded maps.
        let day_ms = 24 * 3600 * 1000;
        let signatures = store
            .purge_signatures((self.now() * 1000).saturating_sub(day_ms))
            .await
            .map_err(|e| HandlerError::Memory(e.to_string()))?;
        let dedupe = store
            .purge_dedupe(self.now())
            .await
            .map_err(|e| HandlerError::Memory(e.to_string()))?;
        tracing::debug!(threads, cases, signatures, dedupe, "retention purge");
        Ok(threads + cases)
    }

    fn thread_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.inner.thread_locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 10_000 {
            // Drop locks nobody holds, so the map does not grow without bound.
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(key.to_string()).or_default().clone()
    }

    /// One full turn: load the thread, respond, persist, reply.
    async fn turn(&self, msg: InboundMessage) -> Result<Reply, HandlerError> {
        let key = msg.thread_key();
        let lock = self.thread_lock(&key.to_string());
        let _guard = lock.lock().await;
        let now = self.now();
        let mem_err = |e: crate::memory::MemoryError| HandlerError::Memory(e.to_string());
        let (mut state, mut version) = match self
            .inner
            .memory
            .load_versioned(&key)
            .await
            .map_err(mem_err)?
        {
            Some(v) => (v.value, v.version),
            None => (ThreadState::new(&key, now), 0),
        };
        let max_turns = self.inner.config.memory.max_turns;
        state.push_turn("user", &msg.text, None, now, max_turns);
        let outcome = self.respond(&msg, &mut state).await;
        if outcome.forgotten {
            return Ok(outcome.reply);
        }
        let reply = outcome.reply;
        let summary: String = reply.plain_text().chars().take(1500).collect();
        state.push_turn("bot", &summary, reply.intent.as_deref(), now, max_turns);
        state.updated_at = now;
        // Optimistic versions: another replica (PostgreSQL store) may have saved this thread
        // meanwhile. Keep its state and add this turn's two messages to it, then try again.
        let mut tries = 0;
        loop {
            match self.inner.memory.save_if(&state, version).await {
                Ok(_) => break,
                Err(crate::memory::MemoryError::Store(crate::store::StoreError::Conflict {
                    ..
                })) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(thread = %key, "thread saved concurrently; merging this turn");
                    let mine: Vec<crate::memory::Turn> =
                        state.turns.iter().rev().take(2).rev().cloned().collect();
                    let Some(latest) = self
                        .inner
                        .memory
                        .load_versioned(&key)
                        .await
                        .map_err(mem_err)?
                    else {
                        version = 0;
                        continue;
                    };
                    version = latest.version;
                    let mut merged = latest.value;
                    for t in mine {
                        merged.turns.push(t);
                    }
                    if merged.turns.len() > max_turns {
                        let drop = merged.turns.len() - max_turns;
                        merged.turns.drain(..drop);
                    }
                    merged.updated_at = now;
                    state = merged;
                }
                Err(e) => return Err(mem_err(e)),
            }
        }
        Ok(reply)
    }
}

/// What `respond` produced.
struct Outcome {
    reply: Reply,
    /// The thread was forgotten: do not write it back.
    forgotten: bool,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome {
            reply,
            forgotten: false,
        }
    }
}

/// How long a claimed delivery key is remembered, in seconds: Slack retries a delivery three
/// times within about five minutes (Slack API docs, "Events API: retries"), Teams and Discord
/// do not retry after an answer; an hour covers every retry with margin.
const DELIVERY_TTL_SECS: u64 = 3600;

#[async_trait]
impl MessageHandler for Engine {
    async fn claim_delivery(&self, key: &str) -> bool {
        match self
            .inner
            .memory
            .store()
            .first_delivery(key, self.now(), DELIVERY_TTL_SECS)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                // Better answered twice than not at all: the store is down, the turn will say so.
                tracing::warn!(error = %e, "delivery claim failed; processing the event");
                true
            }
        }
    }

    async fn handle(&self, message: InboundMessage) -> Result<Reply, HandlerError> {
        let span = tracing::info_span!(
            "turn",
            thread = %message.thread_key(),
            platform = %message.platform,
            user = %message.user.id,
        );
        async move {
            let started = std::time::Instant::now();
            let r = self.turn(message).await;
            match &r {
                Ok(reply) => tracing::info!(
                    intent = reply.intent.as_deref().unwrap_or("-"),
                    checks = reply.checks.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "turn answered"
                ),
                Err(e) => tracing::error!(error = %e, "turn failed"),
            }
            r
        }
        .instrument(span)
        .await
    }

    async fn progress_hint(&self, message: &InboundMessage) -> Option<String> {
        self.log_hint(message)
            .or_else(|| self.progress_hint_for(message))
    }

    async fn knows_thread(&self, thread: &dbabot_chat::ThreadKey) -> bool {
        matches!(self.inner.memory.load(thread).await, Ok(Some(_)))
    }
}
