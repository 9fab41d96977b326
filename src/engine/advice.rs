//! Choosing a target from what the user stated, and advice mode: when no configured database
//! matches the engine, managed flavour, cloud or environment in the user's words (or none is
//! configured, or the user asked for advice only), the answer comes from the intent's playbook
//! for that engine and cloud, without live diagnostics and without running checks on a
//! different engine.

use super::{Engine, Outcome};
use crate::config::Target;
use crate::intents::{Intent, Slots, Step};
use crate::memory::ThreadState;
use crate::recommend::{rules, Context, Recommendation};
use crate::render;
use dbabot_chat::{InboundMessage, Part, Reply};

/// Value of the "advice without live diagnostics" choice offered with "which database?".
pub(super) const ADVICE_CHOICE: &str = "none";

/// Intents whose answer needs a connected database (no advice mode for them).
const NEEDS_LIVE_TARGET: &[&str] = &["report_request", "explain_query"];

/// How a turn gets its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Selection {
    /// Use this configured target.
    Use(String),
    /// No configured target fits: answer from the playbooks. `why` is one sentence.
    Advice { why: String },
    /// Several targets fit: ask among them.
    Ask { candidates: Vec<String> },
    /// No databases are configured at all: the knowledge answer (with error signatures and
    /// escalation triggers) without a target.
    Unconfigured,
}

/// True when an answer to "which database?" says "none of these" ("none", "no", "neither", or
/// any phrase [`is_advice_request`] accepts).
pub(super) fn is_advice_answer(text: &str) -> bool {
    let t = normal(text);
    matches!(
        t.as_str(),
        "none" | "neither" | "no" | "nope" | "0" | "n/a" | "na" | "other" | "something else"
    ) || is_advice_request(text)
}

fn normal(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?'])
        .to_lowercase()
        .replace('\u{2019}', "'")
}

/// True when a message asks for advice without a connected database ("none of these, it's not
/// connected to you", "just give me general advice").
pub(super) fn is_advice_request(text: &str) -> bool {
    let t = normal(text);
    [
        "none of these",
        "none of them",
        "none of those",
        "neither of",
        "not connected",
        "isn't connected",
        "is not connected",
        "not configured",
        "isn't configured",
        "not in the list",
        "not listed",
        "not one of",
        "just advice",
        "just give me advice",
        "general advice",
        "generic advice",
        "advice only",
        "only advice",
        "just general",
        "just tell me",
        "you can't connect",
        "you don't have access",
        "not yours",
        "different database",
        "another database",
        "a different one",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// "Aurora PostgreSQL (prod, AWS)" from the stated slots, for humans.
pub(super) fn describe(slots: &Slots) -> String {
    let engine = slots
        .flavor
        .clone()
        .or_else(|| slots.engine.as_deref().map(|e| engine_label(e).to_string()));
    let mut what = engine.unwrap_or_else(|| "database".to_string());
    if let Some(v) = &slots.version {
        what.push_str(&format!(" {v}"));
    }
    let mut extra = Vec::new();
    if let Some(e) = &slots.environment {
        extra.push(e.clone());
    }
    if let Some(c) = &slots.cloud {
        let already = slots
            .flavor
            .as_deref()
            .is_some_and(|f| cloud_implied_by(f) == Some(c.as_str()));
        if !already {
            extra.push(cloud_label(c).to_string());
        }
    }
    if extra.is_empty() {
        what
    } else {
        format!("{what} ({})", extra.join(", "))
    }
}

fn cloud_implied_by(flavor: &str) -> Option<&'static str> {
    let f = flavor.to_lowercase();
    if f.starts_with("aurora") || f.starts_with("rds") {
        Some("aws")
    } else if f.starts_with("cloud sql") || f.starts_with("alloydb") {
        Some("gcp")
    } else if f.starts_with("azure") {
        Some("azure")
    } else {
        None
    }
}

/// Human name of an engine slot value.
pub(super) fn engine_label(e: &str) -> &'static str {
    match e {
        "postgres" => "PostgreSQL",
        "mysql" => "MySQL/MariaDB",
        "mssql" => "SQL Server",
        "sqlite" => "SQLite",
        "oracle" => "Oracle",
        _ => "database",
    }
}

fn cloud_label(c: &str) -> &'static str {
    match c {
        "aws" => "AWS",
        "azure" => "Azure",
        "gcp" => "Google Cloud",
        "on-prem" | "onprem" => "on-premises",
        _ => "its hosting",
    }
}

/// How specific a step is to the stated engine and cloud: cloud- and engine-specific first.
fn specificity(s: &Step) -> u8 {
    u8::from(s.cloud.is_some()) * 2 + u8::from(s.engine.is_some())
}

impl Engine {
    /// Configured targets whose engine, cloud and environment agree with every one of them the
    /// user stated (an unstated slot matches anything).
    pub(super) fn fitting_targets(&self, slots: &Slots) -> Vec<&Target> {
        self.inner
            .config
            .targets
            .iter()
            .filter(|t| {
                slots
                    .engine
                    .as_deref()
                    .is_none_or(|e| e == t.engine.as_str())
                    && slots.cloud.as_deref().is_none_or(|c| cloud_eq(c, &t.cloud))
                    && slots
                        .environment
                        .as_deref()
                        .is_none_or(|e| e == t.environment)
            })
            .collect()
    }

    /// Which database this turn uses, from the thread's slots.
    pub(super) fn select_target(&self, state: &ThreadState) -> Selection {
        let slots = &state.slots;
        if let Some(alias) = &slots.target {
            return Selection::Use(alias.clone());
        }
        if slots.advice_only {
            return Selection::Advice {
                why: "You asked for advice without a connected database.".into(),
            };
        }
        if let Some(name) = &slots.unknown_target {
            let known: Vec<&str> = self
                .inner
                .config
                .targets
                .iter()
                .map(|t| t.alias.as_str())
                .collect();
            return Selection::Advice {
                why: if known.is_empty() {
                    format!("I am not connected to `{name}`, so I cannot check it.")
                } else {
                    format!(
                        "I am not connected to `{name}` (the databases I can check are {}), so I cannot check it; name one of those to have its live state read.",
                        known.join(", ")
                    )
                },
            };
        }
        if self.inner.config.targets.is_empty() {
            return Selection::Unconfigured;
        }
        let fit = self.fitting_targets(slots);
        match fit.len() {
            1 => Selection::Use(fit[0].alias.clone()),
            0 => Selection::Advice {
                why: format!(
                    "None of the configured databases ({}) is {}.",
                    self.inner
                        .config
                        .targets
                        .iter()
                        .map(|t| t.alias.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    describe(slots)
                ),
            },
            _ => Selection::Ask {
                candidates: fit.iter().map(|t| t.alias.clone()).collect(),
            },
        }
    }

    /// Answers `intent_name` after choosing the database from what the user stated: a fitting
    /// target, advice mode when none fits, or a question among several that fit.
    pub(super) async fn route(
        &self,
        intent_name: &str,
        msg: &InboundMessage,
        state: &mut ThreadState,
    ) -> Outcome {
        let Some(intent) = self.inner.catalog.intent(intent_name).cloned() else {
            return self.answer(intent_name, msg, state).await;
        };
        let wants_target = intent.required_slots.iter().any(|s| s == "target");
        if !wants_target && !NEEDS_LIVE_TARGET.contains(&intent.name.as_str()) {
            return self.answer(intent_name, msg, state).await;
        }
        match self.select_target(state) {
            Selection::Use(alias) => {
                if self.target(&alias).is_some() {
                    self.set_slot(state, "target", alias);
                }
                self.answer(intent_name, msg, state).await
            }
            Selection::Advice { why } if NEEDS_LIVE_TARGET.contains(&intent.name.as_str()) => {
                if self.inner.config.targets.is_empty() || state.slots.advice_only {
                    state.slots.advice_only = false;
                    return self.answer(intent_name, msg, state).await;
                }
                state.intent = Some(intent.name.clone());
                let mut r = self.ask_slot("target", &intent.name, state, &[]);
                r.parts.insert(
                    0,
                    Part::Paragraph {
                        text: format!(
                            "{why} {} needs a connected database; pick one, or ask the question in words for advice.",
                            intent.title
                        ),
                    },
                );
                r.into()
            }
            Selection::Advice { why } => {
                state.intent = Some(intent.name.clone());
                self.advise(&intent, msg, state, &why).await.into()
            }
            Selection::Unconfigured => self.answer(intent_name, msg, state).await,
            Selection::Ask { candidates } => {
                state.intent = Some(intent.name.clone());
                self.ask_slot("target", &intent.name, state, &candidates)
                    .into()
            }
        }
    }

    /// The playbook answer for the engine, flavour, cloud and environment the user stated, with
    /// one line saying no live diagnostics ran and how to connect the database.
    pub(super) async fn advise(
        &self,
        intent: &Intent,
        msg: &InboundMessage,
        state: &mut ThreadState,
        why: &str,
    ) -> Reply {
        // Most specific steps first: "likely causes ranked" for this engine and cloud.
        let mut ranked = intent.clone();
        for steps in [
            &mut ranked.playbook.root_causes,
            &mut ranked.playbook.immediate,
            &mut ranked.playbook.longer_term,
            &mut ranked.playbook.verify,
        ] {
            steps.sort_by_key(|s| std::cmp::Reverse(specificity(s)));
        }
        let label = describe(&state.slots);
        let mut template_slots = state.slots.clone();
        template_slots.target = Some(format!("your {label}"));
        let error_codes = state
            .slots
            .error_code
            .as_deref()
            .map(|c| {
                self.inner
                    .catalog
                    .error_code(c, state.slots.engine.as_deref())
            })
            .unwrap_or_default();
        let user_text = crate::redact::redact(&msg.text);
        // Only the lines for the engine, flavour and cloud the user stated (issue 14).
        let scope = crate::intents::Scope::detect(None, &state.slots, [], &user_text);
        let ranked = self.inner.catalog.scoped(&ranked, &scope);
        let ctx = Context {
            intent: &ranked,
            slots: &template_slots,
            target: None,
            outcomes: &[],
            user_text: &user_text,
            error_codes,
            gate: None,
            allowed_targets: vec![],
            explain_targets: vec![],
            turns: &state.turns,
        };
        let rec: Recommendation = match self.inner.recommender.recommend(&ctx).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, recommender = %self.inner.recommender.name(), "recommender failed; using rules");
                let mut r = rules::recommend(&ctx);
                r.answered_by =
                    format!("rules (fallback: {} failed)", self.inner.recommender.name());
                r
            }
        };
        state.findings.clear();
        state.recommendations = rec
            .immediate
            .iter()
            .take(10)
            .map(|a| a.text.clone())
            .collect();
        let mut shown = state.slots.clone();
        shown.target = None;
        if let Some(f) = &state.slots.flavor {
            shown.engine = Some(f.clone());
        } else if let Some(e) = &state.slots.engine {
            shown.engine = Some(engine_label(e).to_string());
        }
        let mut reply = render::recommendation(&rec, None, &shown, &[], &intent.name);
        let line = Part::Context {
            text: format!(
                "Advice only, no live diagnostics ran: {why} To get findings from your database, add it as a [[targets]] entry in dbabot.toml with a read-only login (see deploy/dbabot.example.toml) and name it in the question."
            ),
        };
        let at = reply
            .parts
            .iter()
            .position(|p| matches!(p, Part::Fields { .. }))
            .map_or(0, |i| i + 1);
        reply.parts.insert(at, line);
        reply
    }
}

/// Checks whose rows describe one table: its size and row count, and its indexes (shown as
/// rows), then the checks whose findings judge a table: dead rows and autovacuum, duplicate,
/// invalid and unused indexes, a missing primary key, sequential scans and unindexed foreign keys
/// (shown when they name it).
const OBJECT_CHECKS: &[&str] = &[
    "largest_tables",
    "index_list",
    "vacuum_bloat",
    "duplicate_indexes",
    "invalid_indexes",
    "unused_indexes",
    "tables_without_pk",
    "seq_scans",
    "fk_indexes",
];

/// Of [`OBJECT_CHECKS`], those whose rows are shown as a table (the others contribute findings).
const OBJECT_ROW_CHECKS: &[&str] = &["largest_tables", "index_list"];

/// Rows shown per check when re-scoping to an object.
const OBJECT_ROWS: usize = 10;

impl Engine {
    /// "what about the customers table?": puts what the checks know about `object` (findings
    /// that name it, its size/rows and its indexes) at the top of `reply`.
    pub(super) async fn scope_to_object(
        &self,
        object: &str,
        msg: &InboundMessage,
        state: &mut ThreadState,
        reply: &mut Reply,
    ) {
        let needle = object.to_lowercase();
        let names = |v: &str| {
            let v = v.to_lowercase();
            v == needle
                || v.ends_with(&format!(".{needle}"))
                || v.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == needle)
        };
        let mut parts = vec![Part::Heading {
            text: format!("About `{object}`"),
            level: 2,
        }];
        let mut about: Vec<dbabot_chat::FindingLine> = state
            .findings
            .iter()
            .filter(|f| names(&f.title) || f.facts.values().any(|v| names(v)))
            .map(|f| dbabot_chat::FindingLine {
                severity: f.severity,
                title: f.title.clone(),
                rule: None,
            })
            .collect();
        let target = state
            .slots
            .target
            .as_deref()
            .and_then(|a| self.target(a))
            .cloned();
        let mut tables = Vec::new();
        if let Some(t) = &target {
            let allowed = self
                .authorize(
                    msg,
                    Some(t),
                    crate::policy::Action::Diagnostic {
                        check: OBJECT_CHECKS[0],
                    },
                )
                .await
                .is_ok();
            if allowed {
                let checks: Vec<String> = OBJECT_CHECKS.iter().map(|c| c.to_string()).collect();
                let outcomes = self.inner.runner.run_checks(&t.alias, &checks).await;
                for o in &outcomes {
                    self.audit_event(
                        msg,
                        Some(&t.alias),
                        "diagnostic",
                        &o.name,
                        (o.duration_ms, o.rows.rows.len() as u64),
                        o.status.as_str(),
                    )
                    .await;
                    state.checks_run.push(format!(
                        "{}: {} ({} ms)",
                        o.name,
                        o.status.as_str(),
                        o.duration_ms
                    ));
                    for f in o.findings.iter().filter(|f| {
                        f.severity > dbabot_chat::Severity::Ok
                            && (names(&f.title) || f.facts.values().any(|v| names(v)))
                    }) {
                        if !about.iter().any(|a| a.title == f.title) {
                            about.push(dbabot_chat::FindingLine {
                                severity: f.severity,
                                title: f.title.clone(),
                                rule: f
                                    .threshold
                                    .clone()
                                    .filter(|_| f.severity >= dbabot_chat::Severity::Warning),
                            });
                        }
                    }
                    if !OBJECT_ROW_CHECKS.contains(&o.name.as_str()) {
                        continue;
                    }
                    let rows: Vec<Vec<String>> = o
                        .rows
                        .rows
                        .iter()
                        .filter(|r| r.iter().any(|v| names(&v.to_string())))
                        .take(OBJECT_ROWS)
                        .map(|r| r.iter().map(|v| v.to_string()).collect())
                        .collect();
                    if !rows.is_empty() {
                        tables.push(Part::Table(dbabot_chat::Table {
                            title: Some(format!("{} ({})", o.title, object)),
                            columns: o.rows.columns.clone(),
                            rows,
                        }));
                    }
                }
                let excess = state.checks_run.len().saturating_sub(30);
                state.checks_run.drain(..excess);
            }
        }
        if about.is_empty() && tables.is_empty() {
            parts.push(Part::Paragraph {
                text: format!(
                    "None of the findings or catalog rows name `{object}`: the checks found nothing specific to it{}.",
                    target
                        .as_ref()
                        .map(|t| format!(" on {}", t.alias))
                        .unwrap_or_default()
                ),
            });
        } else {
            if !about.is_empty() {
                about.sort_by_key(|f| std::cmp::Reverse(f.severity));
                parts.push(Part::Findings { items: about });
            }
            parts.extend(tables);
        }
        let at = reply
            .parts
            .iter()
            .position(|p| matches!(p, Part::Heading { level: 2, .. }))
            .unwrap_or(reply.parts.len().min(2));
        for (i, p) in parts.into_iter().enumerate() {
            reply.parts.insert(at + i, p);
        }
    }
}

fn cloud_eq(a: &str, b: &str) -> bool {
    let k = |c: &str| {
        if c == "onprem" {
            "on-prem".to_string()
        } else {
            c.to_lowercase()
        }
    };
    k(a) == k(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_requests() {
        assert!(is_advice_answer("none") && is_advice_answer("No."));
        assert!(!is_advice_request("none"));
        for t in [
            "none of these, it's not connected to you",
            "just give me general advice",
            "Just advice please",
            "it isn't configured",
        ] {
            assert!(is_advice_request(t), "{t}");
        }
        for t in [
            "orders-prod",
            "2",
            "the postgres one",
            "is the replica lagging?",
        ] {
            assert!(!is_advice_request(t), "{t}");
        }
    }

    #[test]
    fn describes_the_stated_deployment() {
        let s = Slots {
            engine: Some("postgres".into()),
            cloud: Some("aws".into()),
            environment: Some("prod".into()),
            flavor: Some("Aurora PostgreSQL".into()),
            ..Slots::default()
        };
        assert_eq!(describe(&s), "Aurora PostgreSQL (prod)");
        let s = Slots {
            engine: Some("mysql".into()),
            cloud: Some("azure".into()),
            ..Slots::default()
        };
        assert_eq!(describe(&s), "MySQL/MariaDB (Azure)");
    }
}
