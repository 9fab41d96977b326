//! The model's tools: `run_check` (the diagnostics catalog, check names and targets as enums) and
//! `explain` (one SELECT through [`crate::explain::check_select`], plain EXPLAIN only). Every call
//! is validated again here — the enums in the schema are a hint to the model, not a guarantee —
//! and runs through the turn's [`Gate`]: the same access policy, per-user budget, SQL guard and audit
//! trail as the user's own requests.

use super::metrics::ToolCallRecord;
use super::prompt::{outcome_json, unfence};
use super::redact::Scrubber;
use crate::config::{Engine, Target};
use crate::diagnostics::gate::{Caller, Explained, Gate};
use crate::diagnostics::{catalog, CheckOutcome};
use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{json, Value};

/// Plan lines returned to the model.
const MAX_PLAN_LINES: usize = 60;

/// Tools for one answer: the gate, the targets this user may query, and what ran so far.
pub struct ToolBox<'a> {
    gate: &'a dyn Gate,
    targets: Vec<&'a Target>,
    explain_targets: Vec<&'a Target>,
    scrubber: &'a Scrubber,
    /// (target alias, outcome) of checks that ran, including those run before the model.
    pub ran: Vec<(String, CheckOutcome)>,
}

/// What a tool call produced: the content for the `tool` message and the audit record.
pub struct ToolResult {
    pub content: String,
    pub record: ToolCallRecord,
}

impl<'a> ToolBox<'a> {
    pub fn new(
        gate: &'a dyn Gate,
        targets: Vec<&'a Target>,
        explain_targets: Vec<&'a Target>,
        scrubber: &'a Scrubber,
        already: Vec<(String, CheckOutcome)>,
    ) -> Self {
        ToolBox {
            gate,
            targets,
            explain_targets,
            scrubber,
            ran: already,
        }
    }

    fn check_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .targets
            .iter()
            .flat_map(|t| catalog::names(t.engine))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Function definitions for the request; empty when there is nothing to offer.
    pub fn definitions(&self) -> Vec<ChatCompletionTools> {
        let names = self.check_names();
        if names.is_empty() {
            return vec![];
        }
        let aliases: Vec<&str> = self.targets.iter().map(|t| t.alias.as_str()).collect();
        let described: Vec<String> = names
            .iter()
            .map(|n| {
                let title = self
                    .targets
                    .iter()
                    .find_map(|t| catalog::variants(t.engine, n).first().map(|c| c.title))
                    .unwrap_or("");
                format!("{n}: {title}")
            })
            .collect();
        let targets_described: Vec<String> = self
            .targets
            .iter()
            .map(|t| format!("{} ({}, {})", t.alias, t.engine.display(), t.environment))
            .collect();
        let mut tools = vec![function(
            "run_check",
            &format!(
                "Runs one allow-listed, read-only diagnostic on one target and returns its findings (not raw rows). Checks: {}. Targets: {}.",
                described.join("; "),
                targets_described.join("; ")
            ),
            json!({
                "type": "object",
                "properties": {
                    "check": {"type": "string", "enum": names, "description": "The diagnostic to run."},
                    "target": {"type": "string", "enum": aliases, "description": "The database to run it on."}
                },
                "required": ["check", "target"],
                "additionalProperties": false
            }),
        )];
        let explainable: Vec<&str> = self
            .explain_targets
            .iter()
            .filter(|t| t.engine != Engine::Mssql)
            .map(|t| t.alias.as_str())
            .collect();
        if !explainable.is_empty() {
            tools.push(function(
                "explain",
                "Shows the estimated query plan of exactly one read-only SELECT (plain EXPLAIN: never ANALYZE, the query is not executed). Anything but a single SELECT is refused.",
                json!({
                    "type": "object",
                    "properties": {
                        "sql": {"type": "string", "description": "One SELECT statement."},
                        "target": {"type": "string", "enum": explainable, "description": "The database to plan it on."}
                    },
                    "required": ["sql", "target"],
                    "additionalProperties": false
                }),
            ));
        }
        tools
    }

    fn target(&self, alias: &str) -> Option<&'a Target> {
        self.targets
            .iter()
            .copied()
            .find(|t| t.alias.eq_ignore_ascii_case(alias.trim()))
    }

    fn explain_target(&self, alias: &str) -> Option<&'a Target> {
        self.explain_targets
            .iter()
            .copied()
            .find(|t| t.alias.eq_ignore_ascii_case(alias.trim()) && t.engine != Engine::Mssql)
    }

    /// Runs (or refuses) one tool call. Never fails: refusals are results the model reads.
    pub async fn call(&mut self, name: &str, arguments: &str) -> ToolResult {
        let s = self.scrubber;
        let refuse = |tool: &str, target: Option<String>, argument: Option<String>, why: String| {
            tracing::warn!(tool = %tool, reason = %why, "LLM tool call refused");
            ToolResult {
                content: json!({"refused": true, "reason": why}).to_string(),
                record: ToolCallRecord {
                    tool: s.text(tool),
                    target,
                    argument,
                    ran: false,
                    detail: why,
                },
            }
        };
        let args: Value = match serde_json::from_str(arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return refuse(
                    name,
                    None,
                    None,
                    "the arguments are not a JSON object".into(),
                )
            }
        };
        let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        let target_name = arg("target");
        match name {
            "run_check" => {
                let check = arg("check");
                let shown = check.as_deref().map(|c| s.text(c));
                let Some(target) = target_name.as_deref().and_then(|a| self.target(a)) else {
                    return refuse(
                        name,
                        target_name.map(|t| s.text(&t)),
                        shown,
                        "that target is not one you may query; use one of the target enum values"
                            .into(),
                    );
                };
                let Some(check) =
                    check.filter(|c| catalog::names(target.engine).contains(&c.as_str()))
                else {
                    return refuse(
                        name,
                        Some(target.alias.clone()),
                        shown,
                        format!(
                            "not an allow-listed check for {}; use one of the check enum values",
                            target.engine.display()
                        ),
                    );
                };
                let cached = self
                    .ran
                    .iter()
                    .find(|(a, o)| a.eq_ignore_ascii_case(&target.alias) && o.name == check)
                    .map(|(_, o)| o.clone());
                let (outcome, again) = match cached {
                    Some(o) => (o, true),
                    None => match self.gate.run_check(target, &check, Caller::Llm).await {
                        Ok(o) => {
                            self.ran.push((target.alias.clone(), o.clone()));
                            (o, false)
                        }
                        Err(denied) => {
                            return refuse(
                                name,
                                Some(target.alias.clone()),
                                Some(check),
                                s.text(&denied),
                            )
                        }
                    },
                };
                let mut v = outcome_json(&outcome, Some(&target.alias), s);
                if again {
                    v["note"] = json!("already run in this conversation; same results");
                }
                ToolResult {
                    content: unfence(&v.to_string()),
                    record: ToolCallRecord {
                        tool: name.into(),
                        target: Some(target.alias.clone()),
                        argument: Some(check),
                        ran: true,
                        detail: format!(
                            "{} ({} findings)",
                            outcome.status.as_str(),
                            outcome.findings.len()
                        ),
                    },
                }
            }
            "explain" => {
                let sql = arg("sql").unwrap_or_default();
                let shown = Some(s.sql(&sql));
                let Some(target) = target_name.as_deref().and_then(|a| self.explain_target(a))
                else {
                    return refuse(
                        name,
                        target_name.map(|t| s.text(&t)),
                        shown,
                        "EXPLAIN on that target is not allowed for this user (or it is unknown)"
                            .into(),
                    );
                };
                let (safe, plan) = match self.gate.explain(target, &sql, Caller::Llm).await {
                    Explained::Denied(why) => {
                        return refuse(name, Some(target.alias.clone()), shown, s.text(&why))
                    }
                    Explained::Refused(refusal) => {
                        return refuse(
                            name,
                            Some(target.alias.clone()),
                            shown,
                            format!("not run: {refusal}"),
                        )
                    }
                    Explained::Planned { select, plan, .. } => (select, plan),
                };
                match plan {
                    Ok(plan) => {
                        let lines: Vec<String> = plan
                            .rows
                            .iter()
                            .take(MAX_PLAN_LINES)
                            .map(|row| {
                                s.quoted(
                                    &row.iter()
                                        .map(|v| v.to_string())
                                        .collect::<Vec<_>>()
                                        .join(" | "),
                                )
                            })
                            .collect();
                        let v = json!({
                            "target": target.alias,
                            "sql": s.sql(safe.sql()),
                            "plan": lines,
                            "note": "EXPLAIN only: planned, not executed",
                        });
                        ToolResult {
                            content: unfence(&v.to_string()),
                            record: ToolCallRecord {
                                tool: name.into(),
                                target: Some(target.alias.clone()),
                                argument: shown,
                                ran: true,
                                detail: format!("{} plan lines", plan.rows.len()),
                            },
                        }
                    }
                    Err(e) => {
                        let why = s.text(&format!("the database could not plan it: {e}"));
                        ToolResult {
                            content: json!({"error": why}).to_string(),
                            record: ToolCallRecord {
                                tool: name.into(),
                                target: Some(target.alias.clone()),
                                argument: shown,
                                ran: true,
                                detail: why,
                            },
                        }
                    }
                }
            }
            other => refuse(
                other,
                target_name.map(|t| s.text(&t)),
                None,
                format!(
                    "there is no tool called `{}`; the tools are run_check and explain",
                    s.text(other)
                ),
            ),
        }
    }
}

fn function(name: &str, description: &str, parameters: Value) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters),
            strict: None,
        },
    })
}
