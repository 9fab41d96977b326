//! Recommenders turn (intent, slots, findings) into a structured answer.
//!
//! [`rules::RulesRecommender`] applies the playbooks in `intents/`; [`llm::LlmRecommender`]
//! (configured in `[llm]`) produces the same [`Recommendation`] and the engine falls back to the
//! rules on any failure.

pub mod llm;
pub mod rules;
mod template;

use crate::config::Target;
use crate::diagnostics::gate::Gate;
use crate::diagnostics::{CheckOutcome, Finding};
use crate::intents::{ErrorCode, Intent, Slots};
use crate::memory::Turn;
use async_trait::async_trait;
use dbabot_chat::Severity;
use serde::{Deserialize, Serialize};

pub use rules::RulesRecommender;

/// One thing for a human to do, with optional SQL shown as text (never executed by the bot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// The structured answer every recommender produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Recommendation {
    pub title: String,
    pub situation: String,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub root_causes: Vec<String>,
    pub immediate: Vec<Action>,
    pub longer_term: Vec<Action>,
    pub verify: Vec<Action>,
    /// Cloud-specific advice for the known cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_advice: Option<String>,
    pub severity: Severity,
    /// `rules` or `llm:<model>`.
    pub answered_by: String,
}

/// What a recommender gets to work with.
pub struct Context<'a> {
    pub intent: &'a Intent,
    pub slots: &'a Slots,
    pub target: Option<&'a Target>,
    pub outcomes: &'a [CheckOutcome],
    /// The user's own words for this turn (redacted).
    pub user_text: &'a str,
    /// Knowledge-base entries for the error code in the slots.
    pub error_codes: Vec<&'a ErrorCode>,
    /// The turn's door to the databases, for recommenders that may request more allow-listed
    /// checks or an EXPLAIN (the LLM's tools): authorised, budgeted and audited as the user's own
    /// requests are. `None` where no diagnostics may run (benchmarks). Rules ignore it.
    pub gate: Option<&'a dyn Gate>,
    /// Targets this user may run diagnostics on (the LLM's `target` enum). Rules ignore it.
    pub allowed_targets: Vec<&'a Target>,
    /// Targets this user may EXPLAIN on (the LLM's `explain` tool). Rules ignore it.
    pub explain_targets: Vec<&'a Target>,
    /// The thread's remembered turns, oldest first (redacted at storage). Rules ignore them.
    pub turns: &'a [Turn],
}

/// Errors a recommender may return; the engine then falls back to the rules.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("recommender unavailable: {0}")]
    Unavailable(String),
    #[error("recommender produced an unusable answer: {0}")]
    Malformed(String),
}

/// Produces a [`Recommendation`] for one turn.
#[async_trait]
pub trait Recommender: Send + Sync {
    /// Short name for the reply's footer (`rules`).
    fn name(&self) -> String;

    /// # Errors
    /// [`RecommendError`] when no answer could be produced.
    async fn recommend(&self, ctx: &Context<'_>) -> Result<Recommendation, RecommendError>;
}
