//! PagerDuty Events API v2 (<https://developer.pagerduty.com/docs/events-api-v2/overview/>):
//! `trigger`, `acknowledge`, `resolve` with `dedup_key` = case id.

use serde_json::json;

/// A PagerDuty Events v2 client for one routing key.
#[derive(Clone)]
pub struct PagerDuty {
    url: String,
    routing_key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("url", &self.url)
            .field("routing_key", &"***")
            .finish()
    }
}

impl PagerDuty {
    pub fn new(url: String, routing_key: String) -> Self {
        PagerDuty {
            url,
            routing_key,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends one event; failures are logged (a page must never break the chat answer).
    pub async fn event(
        &self,
        action: &str,
        case_id: &str,
        summary: &str,
        severity: &str,
        source: &str,
    ) {
        let mut body =
            json!({"routing_key": self.routing_key, "event_action": action, "dedup_key": case_id});
        if action == "trigger" {
            // PagerDuty keeps events: no secrets, no query literals (Events API v2 caps the
            // summary at 1024 characters).
            let summary = crate::redact::scrub(summary);
            body["payload"] = json!({"summary": summary.chars().take(1024).collect::<String>(), "source": source, "severity": severity, "component": "database", "group": "dbabot"});
        }
        match self.http.post(&self.url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(case = case_id, action, "PagerDuty event sent")
            }
            Ok(r) => tracing::warn!(
                case = case_id,
                action,
                status = r.status().as_u16(),
                "PagerDuty refused the event"
            ),
            Err(e) => tracing::warn!(case = case_id, action, error = %e, "PagerDuty unreachable"),
        }
    }
}
