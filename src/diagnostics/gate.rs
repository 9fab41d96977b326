//! The one door to the databases. Every diagnostic and every EXPLAIN, whoever asked for it — the
//! user's own turn or an LLM tool call made on the user's behalf — passes through a [`Gate`],
//! which checks the access policy and takes from the user's budget, proves user SQL safe
//! ([`crate::explain::check_select`]), runs it with the [`super::Runner`], and writes the audit
//! record. The engine implements it per turn (it knows who is asking); recommenders only ever
//! see the trait, never the runner.

use super::{CheckOutcome, ResultSet, RunError};
use crate::config::Target;
use crate::explain::{Refusal, SafeSelect};
use async_trait::async_trait;

/// Who asked for the work, as written in the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The user's own question or command.
    User,
    /// A tool call of the LLM recommender, made on the user's behalf.
    Llm,
}

impl Caller {
    /// The audit `action` prefix: `diagnostic`/`explain` for users, `llm_diagnostic`/`llm_explain`
    /// for tool calls.
    pub fn prefix(self) -> &'static str {
        match self {
            Caller::User => "",
            Caller::Llm => "llm_",
        }
    }
}

/// What became of an EXPLAIN request.
#[derive(Debug)]
pub enum Explained {
    /// The access policy or the budget said no; the text says why (shown to the user).
    Denied(String),
    /// The SQL is not one safe SELECT; nothing was sent.
    Refused(Refusal),
    /// It was planned (or the database could not plan it).
    Planned {
        select: SafeSelect,
        plan: Result<ResultSet, RunError>,
        duration_ms: u64,
    },
}

/// Authorised, budgeted, audited access to the diagnostics (see the module docs).
#[async_trait]
pub trait Gate: Send + Sync {
    /// Runs one allow-listed check on `target`.
    ///
    /// # Errors
    /// The denial text when the policy or budget refuses (the denial is audited).
    async fn run_check(
        &self,
        target: &Target,
        check: &str,
        caller: Caller,
    ) -> Result<CheckOutcome, String>;

    /// Proves `sql` safe and EXPLAINs it on `target`.
    async fn explain(&self, target: &Target, sql: &str, caller: Caller) -> Explained;
}
