//! The engine's [`Gate`]: one turn's door to the databases, bound to the user who asked.

use super::Engine;
use crate::config::Target;
use crate::diagnostics::gate::{Caller, Explained, Gate};
use crate::diagnostics::CheckOutcome;
use crate::explain::check_select;
use crate::policy::Action;
use async_trait::async_trait;
use dbabot_chat::InboundMessage;
use std::time::Instant;

/// A [`Gate`] for the turn of `msg`'s sender: their access policy, their budget, their audit
/// records.
pub(super) struct TurnGate<'a> {
    pub engine: &'a Engine,
    pub msg: &'a InboundMessage,
}

impl Engine {
    /// Runs one check already authorised for this turn and writes its audit record.
    pub(super) async fn run_recorded(
        &self,
        msg: &InboundMessage,
        target: &Target,
        check: &str,
        caller: Caller,
    ) -> CheckOutcome {
        let o = self.inner.runner.run_check(&target.alias, check).await;
        self.audit_event(
            msg,
            Some(&target.alias),
            &format!("{}diagnostic", caller.prefix()),
            &o.name,
            (o.duration_ms, o.rows.len() as u64),
            o.status.as_str(),
        )
        .await;
        o
    }
}

#[async_trait]
impl Gate for TurnGate<'_> {
    async fn run_check(
        &self,
        target: &Target,
        check: &str,
        caller: Caller,
    ) -> Result<CheckOutcome, String> {
        self.engine
            .authorize_verdict(self.msg, Some(target), Action::Diagnostic { check })
            .await
            .map_err(|d| d.to_string())?;
        Ok(self
            .engine
            .run_recorded(self.msg, target, check, caller)
            .await)
    }

    async fn explain(&self, target: &Target, sql: &str, caller: Caller) -> Explained {
        if let Err(d) = self
            .engine
            .authorize_verdict(self.msg, Some(target), Action::Explain)
            .await
        {
            return Explained::Denied(d.to_string());
        }
        let action = format!("{}explain", caller.prefix());
        let select = match check_select(sql, target.engine) {
            Ok(s) => s,
            Err(refusal) => {
                tracing::warn!(target = %target.alias, reason = refusal.code(), "explain refused");
                // The refusal's code only: its message could echo what the user typed.
                self.engine
                    .audit_event(
                        self.msg,
                        Some(&target.alias),
                        &action,
                        refusal.code(),
                        (0, 0),
                        "refused",
                    )
                    .await;
                return Explained::Refused(refusal);
            }
        };
        let started = Instant::now();
        let plan = self
            .engine
            .inner
            .runner
            .explain(&target.alias, &select)
            .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (outcome, rows) = match &plan {
            Ok(p) => ("ok", p.rows.len() as u64),
            Err(crate::diagnostics::RunError::Refused(_)) => ("refused", 0),
            Err(_) => ("failed", 0),
        };
        self.engine
            .audit_event(
                self.msg,
                Some(&target.alias),
                &action,
                "explain",
                (duration_ms, rows),
                outcome,
            )
            .await;
        Explained::Planned {
            select,
            plan,
            duration_ms,
        }
    }
}
