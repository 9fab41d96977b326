//! Per-call token usage and latency, and every tool call the model asked for.

use serde::Serialize;
use std::collections::VecDeque;

/// Calls and tool calls kept for inspection (older ones only stay in the totals).
const KEEP: usize = 100;

/// One HTTP request to the provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// Wall time of the request, in milliseconds.
    pub latency_ms: u64,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// `ok`, or the failure kind (`timeout`, `rate_limited`, `server_error`…).
    pub outcome: String,
    /// Tool round this request belonged to (0 = the first request of an answer).
    pub round: u32,
}

/// One tool call the model asked for, and what the bot did with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallRecord {
    /// `run_check`, `explain`, or whatever name the model used.
    pub tool: String,
    pub target: Option<String>,
    /// The check name (run_check) or the SQL as the model sent it (explain), redacted.
    pub argument: Option<String>,
    /// True when the bot ran it; false when it was refused.
    pub ran: bool,
    /// Refusal reason or a short result (`3 findings`).
    pub detail: String,
}

/// Totals and recent records for one recommender.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LlmMetrics {
    /// HTTP requests sent to the provider.
    pub requests: u64,
    /// Requests that failed (timeouts, HTTP errors, transport errors).
    pub failed_requests: u64,
    /// Answers produced by the model (after grounding).
    pub answers: u64,
    /// Answers given up on (the engine then answers with the rules).
    pub fallbacks: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Sum of request latencies, in milliseconds.
    pub latency_ms_total: u64,
    pub recent_calls: VecDeque<CallRecord>,
    pub tool_calls: VecDeque<ToolCallRecord>,
}

impl LlmMetrics {
    pub(super) fn record_call(&mut self, c: CallRecord) {
        self.requests += 1;
        if c.outcome != "ok" {
            self.failed_requests += 1;
        }
        self.prompt_tokens += u64::from(c.prompt_tokens.unwrap_or(0));
        self.completion_tokens += u64::from(c.completion_tokens.unwrap_or(0));
        self.latency_ms_total += c.latency_ms;
        self.recent_calls.push_back(c);
        while self.recent_calls.len() > KEEP {
            self.recent_calls.pop_front();
        }
    }

    pub(super) fn record_tool(&mut self, t: ToolCallRecord) {
        self.tool_calls.push_back(t);
        while self.tool_calls.len() > KEEP {
            self.tool_calls.pop_front();
        }
    }
}
