//! The LLM recommender: OpenAI, Azure OpenAI and OpenAI-compatible endpoints over async-openai.
//!
//! ```text
//! Context ─► scrub (redact.rs) ─► system prompt + <data> fence (prompt.rs)
//!         ─► chat completion ──► tool_calls? ─► ToolBox (tools.rs: catalog checks through the
//!              ▲   (≤ max_tool_rounds)          Runner, explain through check_select) ─┐
//!              └──────────────── tool results (findings, never raw rows) ◄─────────────┘
//!         ─► JSON answer (answer.rs; malformed → one retry) ─► grounding.rs ─► Recommendation
//! ```
//!
//! Every failure (timeout, 429, 5xx, connection refused, content filter, no tool support,
//! unusable answer twice, open circuit breaker, exhausted per-minute budget) returns an error,
//! and the engine answers with the rule recommender, marking `answered_by`. Token usage and
//! latency of every request are kept in [`LlmMetrics`].

mod answer;
mod breaker;
mod client;
mod config;
mod grounding;
mod metrics;
mod prompt;
mod redact;
mod tools;

pub use answer::{LlmAnswer, LlmFinding};
pub use config::{Grounding, LlmConfig, Provider};
pub use grounding::Evidence;
pub use metrics::{CallRecord, LlmMetrics, ToolCallRecord};
pub use redact::{neutralize, normalize_sql, Scrubber};

use super::{Action, Context, RecommendError, Recommendation, Recommender};
use crate::diagnostics::{CheckOutcome, Finding};
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionNamedToolChoice,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest, FinishReason,
    FunctionCall, FunctionName, ResponseFormat, ToolChoiceOptions,
};
use async_trait::async_trait;
use dbabot_chat::Severity;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Why the LLM could not answer. Messages never contain keys, DSNs or prompt content.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("invalid [llm] configuration: {0}")]
    Config(String),
    #[error("the LLM endpoint did not answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach the LLM endpoint: {0}")]
    Connect(String),
    #[error("the LLM endpoint is rate-limiting (HTTP 429{}): {message}", retry_after_ms.map(|ms| format!(", retry after {ms} ms")).unwrap_or_default())]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    #[error("the LLM endpoint failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("the provider's content filter refused the request or the answer: {0}")]
    ContentFilter(String),
    #[error("the model or endpoint does not support tool calls: {0}")]
    NoToolSupport(String),
    #[error("the LLM endpoint rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the LLM endpoint answered in an unexpected format: {0}")]
    Protocol(String),
    #[error("the LLM's answer was unusable twice: {0}")]
    Malformed(String),
    #[error(
        "the LLM endpoint failed repeatedly; not calling it for another {0} s (circuit breaker)"
    )]
    CircuitOpen(u64),
    #[error("the per-minute LLM request budget ({0}) is used up")]
    Budget(u32),
    #[error("LLM transport error: {0}")]
    Transport(String),
}

impl LlmError {
    /// Short kind for metrics (`timeout`, `rate_limited`…).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Config(_) => "config",
            LlmError::Timeout(_) => "timeout",
            LlmError::Connect(_) => "connect",
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Server { .. } => "server_error",
            LlmError::ContentFilter(_) => "content_filter",
            LlmError::NoToolSupport(_) => "no_tool_support",
            LlmError::Rejected { .. } => "rejected",
            LlmError::Protocol(_) => "protocol",
            LlmError::Malformed(_) => "malformed",
            LlmError::CircuitOpen(_) => "circuit_open",
            LlmError::Budget(_) => "budget",
            LlmError::Transport(_) => "transport",
        }
    }

    /// Failures that say the endpoint is unhealthy (they count towards the circuit breaker).
    fn endpoint_failure(&self) -> bool {
        matches!(
            self,
            LlmError::Timeout(_)
                | LlmError::Connect(_)
                | LlmError::RateLimited { .. }
                | LlmError::Server { .. }
                | LlmError::Transport(_)
                | LlmError::Protocol(_)
        )
    }
}

impl From<LlmError> for RecommendError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Malformed(m) => RecommendError::Malformed(m),
            other => RecommendError::Unavailable(other.to_string()),
        }
    }
}

/// Whether the model calls tools, as `check` found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSupport {
    Supported,
    NotSupported(String),
    /// The endpoint did not answer, so it is not known.
    Unknown(String),
}

/// `dbabot check-config`'s verdict on the `[llm]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmHealth {
    pub provider: String,
    /// The endpoint (no key).
    pub endpoint: String,
    pub model: String,
    /// Where the key came from (`env OPENAI_API_KEY`), if any.
    pub key_source: Option<String>,
    /// `Ok(latency in ms)` when the endpoint answered a chat completion, else why not.
    pub reachable: Result<u64, String>,
    pub tool_calls: ToolSupport,
}

impl LlmHealth {
    /// The endpoint answers and the model calls tools.
    pub fn ok(&self) -> bool {
        self.reachable.is_ok() && self.tool_calls == ToolSupport::Supported
    }
}

impl std::fmt::Display for LlmHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "llm {} {} model {}{}: ",
            self.provider,
            self.endpoint,
            self.model,
            self.key_source
                .as_deref()
                .map(|k| format!(" (key from {k})"))
                .unwrap_or_default()
        )?;
        match &self.reachable {
            Ok(ms) => write!(f, "endpoint answered in {ms} ms")?,
            Err(e) => write!(f, "FAILED: {e}")?,
        }
        match &self.tool_calls {
            ToolSupport::Supported => write!(f, "; tool calls: supported"),
            ToolSupport::NotSupported(why) => {
                write!(
                    f,
                    "; tool calls: NOT supported ({why}); answers will fall back to the rules"
                )
            }
            ToolSupport::Unknown(_) => write!(f, "; tool calls: unknown"),
        }
    }
}

/// The LLM recommender. Share one per process (it holds the breaker, budget and metrics).
pub struct LlmRecommender {
    cfg: LlmConfig,
    client: client::LlmClient,
    breaker: breaker::Breaker,
    limiter: DefaultDirectRateLimiter,
    metrics: Mutex<LlmMetrics>,
}

impl std::fmt::Debug for LlmRecommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRecommender")
            .field("provider", &self.cfg.provider.kind())
            .field("endpoint", &self.cfg.provider.endpoint())
            .field("model", &self.cfg.model)
            .finish_non_exhaustive()
    }
}

/// How one request should be sent.
struct Ask<'m> {
    messages: &'m [ChatCompletionRequestMessage],
    tools: &'m [ChatCompletionTools],
    /// `None` lets the model choose; `Some(none)` forbids tools (last round, retry).
    tool_choice: Option<ChatCompletionToolChoiceOption>,
    json: bool,
    max_tokens: u32,
    round: u32,
}

impl LlmRecommender {
    /// Builds the recommender from the raw `[llm]` table (`Config.sections["llm"]`).
    ///
    /// # Errors
    /// [`LlmError::Config`] naming the offending key, or a missing key variable/file.
    pub fn from_config(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LlmRecommender, LlmError> {
        Self::new(LlmConfig::from_section(section, env)?)
    }

    /// Builds the recommender from a resolved configuration.
    ///
    /// # Errors
    /// [`LlmError::Config`] when the HTTP client cannot be built.
    pub fn new(cfg: LlmConfig) -> Result<LlmRecommender, LlmError> {
        let client = client::build(&cfg)?;
        let per_minute = NonZeroU32::new(cfg.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(LlmRecommender {
            breaker: breaker::Breaker::new(
                cfg.breaker_failures,
                Duration::from_secs(cfg.breaker_cooldown_s),
            ),
            limiter: RateLimiter::direct(Quota::per_minute(per_minute)),
            metrics: Mutex::new(LlmMetrics::default()),
            client,
            cfg,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    /// A snapshot of the counters and recent calls.
    pub fn metrics(&self) -> LlmMetrics {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn with_metrics(&self, f: impl FnOnce(&mut LlmMetrics)) {
        f(&mut self.metrics.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn scrubber(&self, ctx: Option<&Context<'_>>) -> Scrubber {
        let mut known: Vec<String> = Vec::new();
        if let Some(k) = self.cfg.provider.key() {
            known.push(k.expose().to_string());
        }
        if let Some(ctx) = ctx {
            for t in ctx.allowed_targets.iter().copied().chain(ctx.target) {
                known.push(t.dsn.expose().to_string());
            }
        }
        // Query texts follow the target engine's quoting rules.
        let dialect = ctx
            .and_then(|c| c.target)
            .map_or(crate::redact::Dialect::Generic, |t| {
                crate::redact::Dialect::of(t.engine)
            });
        Scrubber::new(known).with_dialect(dialect)
    }

    /// For `dbabot check-config`: does the endpoint answer a chat completion, and does the model
    /// call a tool when told to? Sends one small request (bypasses the circuit breaker).
    pub async fn check(&self) -> LlmHealth {
        let s = self.scrubber(None);
        let mut health = LlmHealth {
            provider: self.cfg.provider.kind().into(),
            endpoint: self.cfg.provider.endpoint(),
            model: self.cfg.model.clone(),
            key_source: self.cfg.key_source.clone(),
            reachable: Err("not checked".into()),
            tool_calls: ToolSupport::Unknown("not checked".into()),
        };
        let messages = vec![
            system("This is a connectivity check of a chat-ops assistant."),
            user("Call the report_status function with ok set to true."),
        ];
        let tools = vec![ChatCompletionTools::Function(
            async_openai::types::chat::ChatCompletionTool {
                function: async_openai::types::chat::FunctionObject {
                    name: "report_status".into(),
                    description: Some("Reports that the check worked.".into()),
                    parameters: Some(json!({
                        "type": "object",
                        "properties": {"ok": {"type": "boolean"}},
                        "required": ["ok"],
                        "additionalProperties": false
                    })),
                    strict: None,
                },
            },
        )];
        let started = Instant::now();
        let ask = Ask {
            messages: &messages,
            tools: &tools,
            tool_choice: Some(ChatCompletionToolChoiceOption::Function(
                ChatCompletionNamedToolChoice {
                    function: FunctionName {
                        name: "report_status".into(),
                    },
                },
            )),
            json: false,
            max_tokens: 64,
            round: 0,
        };
        match self.send(&ask, &s).await {
            Ok(c) => {
                health.reachable = Ok(started.elapsed().as_millis() as u64);
                health.tool_calls = if c.tool_calls.iter().any(|t| t.name == "report_status") {
                    ToolSupport::Supported
                } else {
                    ToolSupport::NotSupported(
                        "the model answered in text when told to call a function".into(),
                    )
                };
            }
            Err(LlmError::NoToolSupport(m)) => {
                health.reachable = Ok(started.elapsed().as_millis() as u64);
                health.tool_calls = ToolSupport::NotSupported(m);
            }
            Err(e) => {
                health.tool_calls = ToolSupport::Unknown(e.to_string());
                health.reachable = Err(e.to_string());
            }
        }
        health
    }

    /// One HTTP request: breaker, budget, metrics, classification; a short 429 is waited out
    /// and retried once.
    async fn send(&self, ask: &Ask<'_>, s: &Scrubber) -> Result<client::Completion, LlmError> {
        let mut waited = false;
        loop {
            if self.limiter.check().is_err() {
                return Err(LlmError::Budget(self.cfg.requests_per_minute));
            }
            let request = self.request(ask);
            let started = Instant::now();
            let result = tokio::time::timeout(
                Duration::from_millis(self.cfg.request_timeout_ms + 500),
                client::complete(&self.client, request, self.cfg.stream),
            )
            .await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let result = match result {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(client::classify(e, self.cfg.request_timeout_ms, s)),
                Err(_) => Err(LlmError::Timeout(self.cfg.request_timeout_ms)),
            };
            let (prompt_tokens, completion_tokens) = match &result {
                Ok(c) => (c.prompt_tokens, c.completion_tokens),
                Err(_) => (None, None),
            };
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            tracing::info!(
                round = ask.round,
                latency_ms,
                prompt_tokens,
                completion_tokens,
                outcome,
                "llm request"
            );
            self.with_metrics(|m| {
                m.record_call(CallRecord {
                    latency_ms,
                    prompt_tokens,
                    completion_tokens,
                    outcome: outcome.into(),
                    round: ask.round,
                })
            });
            match result {
                Ok(c) => {
                    self.breaker.success();
                    return Ok(c);
                }
                Err(LlmError::RateLimited {
                    retry_after_ms: Some(ms),
                    ..
                }) if !waited && ms <= self.cfg.max_retry_wait_ms => {
                    tracing::info!(wait_ms = ms, "llm endpoint asked to wait; retrying once");
                    waited = true;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => {
                    if let LlmError::RateLimited {
                        retry_after_ms: Some(ms),
                        ..
                    } = &e
                    {
                        self.breaker.hold_for(Duration::from_millis(*ms));
                    }
                    if e.endpoint_failure() && self.breaker.failure() {
                        tracing::warn!(
                            cooldown_s = self.cfg.breaker_cooldown_s,
                            "llm circuit breaker opened"
                        );
                    }
                    return Err(e);
                }
            }
        }
    }

    #[allow(deprecated)]
    fn request(&self, ask: &Ask<'_>) -> CreateChatCompletionRequest {
        let compatible = matches!(self.cfg.provider, Provider::Compatible { .. });
        let mut r = CreateChatCompletionRequest {
            model: self.cfg.model.clone(),
            messages: ask.messages.to_vec(),
            temperature: Some(self.cfg.temperature),
            ..Default::default()
        };
        // OpenAI and Azure document max_completion_tokens; many compatible servers only know
        // the older max_tokens.
        if compatible {
            r.max_tokens = Some(ask.max_tokens);
        } else {
            r.max_completion_tokens = Some(ask.max_tokens);
        }
        if !ask.tools.is_empty() {
            r.tools = Some(ask.tools.to_vec());
            r.tool_choice = ask.tool_choice.clone();
        }
        if ask.json && self.cfg.json_mode {
            r.response_format = Some(ResponseFormat::JsonObject);
        }
        if self.cfg.stream {
            r.stream_options = Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            });
        }
        r
    }

    async fn answer(&self, ctx: &Context<'_>) -> Result<Recommendation, LlmError> {
        if let Err(left) = self.breaker.allow() {
            return Err(LlmError::CircuitOpen(left.as_secs().max(1)));
        }
        let s = self.scrubber(Some(ctx));
        let target_alias = ctx.target.map(|t| t.alias.clone()).unwrap_or_default();
        let already: Vec<(String, CheckOutcome)> = ctx
            .outcomes
            .iter()
            .map(|o| (target_alias.clone(), o.clone()))
            .collect();
        let mut toolbox = ctx.gate.map(|g| {
            tools::ToolBox::new(
                g,
                ctx.allowed_targets.clone(),
                ctx.explain_targets.clone(),
                &s,
                already.clone(),
            )
        });
        let tools = toolbox
            .as_ref()
            .map(|t| t.definitions())
            .unwrap_or_default();
        let mut messages = vec![
            system(&prompt::system_prompt(!tools.is_empty())),
            user(&prompt::user_message(ctx, self.cfg.prompt_turns, &s)),
        ];
        let mut round = 0u32;
        let mut retried = false;
        let content = loop {
            let offer = !tools.is_empty() && round < self.cfg.max_tool_rounds && !retried;
            let ask = Ask {
                messages: &messages,
                tools: &tools,
                tool_choice: (!offer && !tools.is_empty()).then_some(
                    ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::None),
                ),
                json: true,
                max_tokens: self.cfg.max_output_tokens,
                round,
            };
            let c = self.send(&ask, &s).await?;
            if c.finish == Some(FinishReason::ContentFilter) {
                return Err(LlmError::ContentFilter(
                    "finish_reason content_filter".into(),
                ));
            }
            if let Some(r) = c.refusal.as_deref().filter(|r| !r.trim().is_empty()) {
                return Err(LlmError::ContentFilter(format!(
                    "the model refused: {}",
                    s.text(&r.chars().take(200).collect::<String>())
                )));
            }
            if !c.tool_calls.is_empty() && offer {
                round += 1;
                let Some(tb) = toolbox.as_mut() else {
                    return Err(LlmError::Protocol("tool calls without tools".into()));
                };
                messages.push(assistant_tool_calls(&c));
                let span = tracing::info_span!("llm_tools", round);
                for (i, call) in c.tool_calls.iter().enumerate() {
                    let result = if i < self.cfg.max_tool_calls_per_round {
                        tb.call(&call.name, &call.arguments)
                            .instrument(span.clone())
                            .await
                    } else {
                        tools::ToolResult {
                            content: json!({"refused": true, "reason": "too many tool calls in one round"}).to_string(),
                            record: ToolCallRecord {
                                tool: s.text(&call.name),
                                target: None,
                                argument: None,
                                ran: false,
                                detail: "too many tool calls in one round".into(),
                            },
                        }
                    };
                    self.with_metrics(|m| m.record_tool(result.record));
                    messages.push(tool_message(&call.id, result.content));
                }
                continue;
            }
            let text = c.content.unwrap_or_default();
            let problem = if c.tool_calls.is_empty() {
                match answer::parse(&text) {
                    Ok(a) => break a,
                    Err(why) => why,
                }
            } else {
                "tools are not available any more; answer with the JSON object".to_string()
            };
            if retried {
                return Err(LlmError::Malformed(problem));
            }
            tracing::info!(reason = %problem, "llm answer unusable; asking once more");
            retried = true;
            if !text.trim().is_empty() {
                messages.push(assistant_text(&s.text(&text)));
            }
            messages.push(user(&format!(
                "Your previous answer could not be used ({problem}). Reply with only one JSON object in the shape given in the system message, no other text."
            )));
        };
        let ran: Vec<CheckOutcome> = toolbox
            .map(|t| t.ran.into_iter().map(|(_, o)| o).collect())
            .unwrap_or_else(|| ctx.outcomes.to_vec());
        Ok(self.ground(ctx, content, &ran))
    }

    /// Turns the parsed answer into a [`Recommendation`], checking every claim against what the
    /// checks returned.
    fn ground(&self, ctx: &Context<'_>, a: LlmAnswer, ran: &[CheckOutcome]) -> Recommendation {
        let evidence = Evidence::from_outcomes(ran);
        let real: Vec<&Finding> = ran.iter().flat_map(|o| o.findings.iter()).collect();
        let max_real = real
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        let mut findings: Vec<Finding> = Vec::new();
        let mut covered: Vec<String> = Vec::new();
        for lf in a.findings {
            let missing = evidence.ungrounded(&lf.title);
            let matching: Vec<&&Finding> = real
                .iter()
                .filter(|f| lf.code.as_deref() == Some(f.code.as_str()))
                .collect();
            let cap = matching
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(max_real);
            let check = lf
                .check
                .filter(|c| ran.iter().any(|o| &o.name == c))
                .or_else(|| matching.first().map(|f| f.check.clone()))
                .unwrap_or_else(|| "llm".into());
            let code = matching
                .first()
                .map(|f| f.code.clone())
                .unwrap_or_else(|| "llm_finding".into());
            if missing.is_empty() {
                let mut f = Finding::new(
                    &check,
                    &code,
                    lf.severity.unwrap_or(Severity::Info).min(cap),
                    lf.title,
                )
                .fact("source", "llm");
                // Keep the facts of the finding it restates (follow-ups and templates use them).
                if let Some(m) = matching.first() {
                    for (k, v) in &m.facts {
                        f.facts.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    f.threshold = m.threshold.clone();
                }
                covered.push(code);
                findings.push(f);
            } else {
                tracing::info!(claim = %lf.title, unverified = ?missing, "ungrounded LLM finding");
                if self.cfg.grounding == Grounding::Mark {
                    findings.push(
                        Finding::new(
                            &check,
                            "llm_unverified",
                            Severity::Info,
                            format!(
                                "{} (unverified: {} not in the diagnostics' results)",
                                lf.title,
                                missing.join(", ")
                            ),
                        )
                        .fact("source", "llm")
                        .fact("unverified", missing.join(", ")),
                    );
                }
            }
        }
        // Warnings the model did not restate still reach the user.
        for f in real.iter().filter(|f| f.severity >= Severity::Warning) {
            if !covered.contains(&f.code) {
                findings.push((*f).clone());
            }
        }
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mark = |t: String| {
            let missing = evidence.ungrounded(&t);
            if missing.is_empty() {
                t
            } else {
                format!("{t} (unverified: {})", missing.join(", "))
            }
        };
        let safe_actions = |v: Vec<Action>| -> Vec<Action> {
            v.into_iter()
                .filter(|act| {
                    let all = format!("{} {}", act.text, act.sql.as_deref().unwrap_or(""));
                    let bad = evidence.ungrounded_pids(&all);
                    if !bad.is_empty() {
                        tracing::warn!(pids = ?bad, "dropped an LLM action aimed at a pid no check returned");
                    }
                    bad.is_empty()
                })
                .collect()
        };
        let severity = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        Recommendation {
            title: ctx.intent.title.clone(),
            situation: a.situation,
            findings,
            root_causes: a.root_causes.into_iter().map(mark).collect(),
            immediate: safe_actions(a.immediate),
            longer_term: safe_actions(a.longer_term),
            verify: safe_actions(a.verify),
            cloud_advice: None,
            severity,
            answered_by: self.name(),
        }
    }
}

#[async_trait]
impl Recommender for LlmRecommender {
    fn name(&self) -> String {
        format!("llm:{}", self.cfg.model)
    }

    async fn recommend(&self, ctx: &Context<'_>) -> Result<Recommendation, RecommendError> {
        let span = tracing::info_span!(
            "llm_recommend",
            provider = self.cfg.provider.kind(),
            model = %self.cfg.model,
            intent = %ctx.intent.name,
        );
        let budget = Duration::from_millis(self.cfg.turn_timeout_ms);
        let result =
            match tokio::time::timeout(budget, self.answer(ctx).instrument(span.clone())).await {
                Ok(r) => r,
                Err(_) => Err(LlmError::Timeout(self.cfg.turn_timeout_ms)),
            };
        let _entered = span.enter();
        match result {
            Ok(r) => {
                self.with_metrics(|m| m.answers += 1);
                Ok(r)
            }
            Err(e) => {
                self.with_metrics(|m| m.fallbacks += 1);
                tracing::warn!(error = %e, kind = e.kind(), "LLM recommender failed; the rules answer");
                Err(e.into())
            }
        }
    }
}

fn system(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
        content: ChatCompletionRequestSystemMessageContent::Text(text.into()),
        name: None,
    })
}

fn user(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Text(text.into()),
        name: None,
    })
}

#[allow(deprecated)]
fn assistant_text(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
        content: Some(ChatCompletionRequestAssistantMessageContent::Text(
            text.into(),
        )),
        ..Default::default()
    })
}

#[allow(deprecated)]
fn assistant_tool_calls(c: &client::Completion) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
        content: None,
        tool_calls: Some(
            c.tool_calls
                .iter()
                .map(|t| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: t.id.clone(),
                        function: FunctionCall {
                            name: t.name.clone(),
                            arguments: t.arguments.clone(),
                        },
                    })
                })
                .collect(),
        ),
        ..Default::default()
    })
}

fn tool_message(id: &str, content: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
        content: ChatCompletionRequestToolMessageContent::Text(content),
        tool_call_id: id.into(),
    })
}
