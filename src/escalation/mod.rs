//! Escalation: handing a thread to the DBA team with everything gathered so far.
//!
//! A [`Case`] is stored in sled (`cases` tree), posted to the DBA destination through the
//! adapters' [`dbabot_chat::Outbox`], re-posted when nobody acknowledges it within its
//! priority's SLA (the schedule lives in the case, so it survives restarts), and mirrored to
//! PagerDuty (Events API v2) for P1/P2 when configured.
//!
//! Priority = environment × severity (documented in the README):
//!
//! | environment \ worst severity | critical | warning | info/none |
//! |---|---|---|---|
//! | prod    | P1 | P2 | P3 |
//! | staging | P2 | P3 | P4 |
//! | dev / unknown | P3 | P4 | P4 |

pub mod case;
pub mod pagerduty;
pub mod signature;

pub use case::{Case, CaseStatus, CaseStore};

use dbabot_chat::{Destination, Platform, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Errors in the `[escalation]` section.
#[derive(Debug, thiserror::Error)]
#[error("[escalation]: {0}")]
pub struct EscalationConfigError(String);

/// Priority from environment and worst severity (table above).
pub fn priority(environment: Option<&str>, worst: Option<Severity>) -> &'static str {
    match (environment.unwrap_or("dev"), worst.unwrap_or(Severity::Ok)) {
        ("prod", Severity::Critical) => "P1",
        ("prod", Severity::Warning) | ("staging", Severity::Critical) => "P2",
        ("prod", _) | ("staging", Severity::Warning) | (_, Severity::Critical) => "P3",
        _ => "P4",
    }
}

/// Escalation settings.
#[derive(Debug, Clone)]
pub struct EscalationConfig {
    /// Where handoffs go (a DBA channel or webhook); `None` = record cases only.
    pub destination: Option<Destination>,
    /// Seconds before an unacknowledged case is re-posted, per priority.
    pub sla_secs: BTreeMap<String, u64>,
    /// Escalate automatically on a critical finding on a production target.
    pub auto_on_critical_prod: bool,
    /// Escalate when the same error signature is seen this many times in 24 h.
    pub recurrence_threshold: usize,
    /// Escalate when the classifier is unsure twice in a row in one thread.
    pub auto_on_unsure: bool,
    pub pagerduty: Option<pagerduty::PagerDuty>,
    /// The policy triggers are on (an `[escalation]` section exists).
    pub enabled: bool,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        let sla_secs = [
            ("P1", 5 * 60),
            ("P2", 15 * 60),
            ("P3", 60 * 60),
            ("P4", 4 * 3600),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        EscalationConfig {
            destination: None,
            sla_secs,
            auto_on_critical_prod: true,
            recurrence_threshold: 3,
            auto_on_unsure: true,
            pagerduty: None,
            enabled: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDest {
    platform: Platform,
    #[serde(default)]
    workspace: String,
    channel: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    destination: Option<FileDest>,
    #[serde(default)]
    sla_minutes: BTreeMap<String, u64>,
    auto_on_critical_prod: Option<bool>,
    recurrence_threshold: Option<usize>,
    auto_on_unsure: Option<bool>,
    pagerduty_url: Option<String>,
    pagerduty_routing_key_env: Option<String>,
}

impl EscalationConfig {
    /// Reads `[escalation]`:
    ///
    /// ```toml
    /// [escalation]
    /// destination = { platform = "slack", workspace = "T0001", channel = "C0DBATEAM" }
    /// sla_minutes = { P1 = 5, P2 = 15, P3 = 60, P4 = 240 }
    /// pagerduty_routing_key_env = "PAGERDUTY_ROUTING_KEY"   # P1/P2 to PagerDuty Events v2
    /// ```
    ///
    /// # Errors
    /// [`EscalationConfigError`] for unknown keys or a missing routing-key variable.
    pub fn from_toml(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EscalationConfigError> {
        let f: File = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| EscalationConfigError(e.message().to_string()))?;
        let mut c = EscalationConfig {
            enabled: true,
            ..Default::default()
        };
        c.destination = f.destination.map(|d| Destination {
            platform: d.platform,
            workspace: d.workspace,
            channel: d.channel,
            thread: None,
        });
        for (k, v) in f.sla_minutes {
            c.sla_secs.insert(k.to_uppercase(), v * 60);
        }
        if let Some(v) = f.auto_on_critical_prod {
            c.auto_on_critical_prod = v;
        }
        if let Some(v) = f.recurrence_threshold {
            c.recurrence_threshold = v.max(1);
        }
        if let Some(v) = f.auto_on_unsure {
            c.auto_on_unsure = v;
        }
        if let Some(var) = f.pagerduty_routing_key_env {
            let key = env(&var).ok_or_else(|| {
                EscalationConfigError(format!("environment variable {var} is not set"))
            })?;
            let url = f
                .pagerduty_url
                .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
            c.pagerduty = Some(pagerduty::PagerDuty::new(url, key));
        }
        Ok(c)
    }

    /// SLA in seconds for a priority (4 h when unknown).
    pub fn sla(&self, priority: &str) -> u64 {
        self.sla_secs.get(priority).copied().unwrap_or(4 * 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_table() {
        assert_eq!(priority(Some("prod"), Some(Severity::Critical)), "P1");
        assert_eq!(priority(Some("prod"), Some(Severity::Warning)), "P2");
        assert_eq!(priority(Some("staging"), Some(Severity::Critical)), "P2");
        assert_eq!(priority(Some("prod"), None), "P3");
        assert_eq!(priority(Some("dev"), Some(Severity::Critical)), "P3");
        assert_eq!(priority(None, Some(Severity::Info)), "P4");
    }
}
