//! Answers per intent: diagnostics + recommender for most, dedicated flows for reports,
//! EXPLAIN, error codes, help, targets, forget and escalation summaries.

use super::{Engine, Outcome};
use crate::config::Target;
use crate::diagnostics::gate::{Caller, Explained, Gate};
use crate::diagnostics::CheckOutcome;
use crate::memory::ThreadState;
use crate::recommend::{rules, Context, Recommendation};
use crate::render;
use dbabot_chat::{InboundMessage, Part, Reply, Severity, Table};

impl Engine {
    /// Answers `intent` with the thread's slots, asking for a missing required slot first.
    pub(super) async fn answer(
        &self,
        intent_name: &str,
        msg: &InboundMessage,
        state: &mut ThreadState,
    ) -> Outcome {
        // Urgency words ("help!!", "it's down") never turn a symptom on a target into help text or
        // an escalation: a symptom gets the health check with the live triage bundle.
        let symptom = is_symptom(&msg.text);
        // With several databases and none named, the health check asks which one.
        let redirect = symptom
            && (state.slots.target.is_some() || !self.inner.config.targets.is_empty())
            && match intent_name {
                "help" | "greeting" | "out_of_scope" => !is_bare_command(&msg.text),
                "escalate" => !asks_for_a_human(&msg.text),
                // "updates to the accounts table are stuck" is a hang, not an access request.
                "access_request" => is_hang(&msg.text),
                _ => false,
            };
        let intent_name = if redirect {
            "health_check"
        } else {
            intent_name
        };
        let Some(intent) = self.inner.catalog.intent(intent_name).cloned() else {
            return self.help().into();
        };
        state.intent = Some(intent.name.clone());
        match intent.name.as_str() {
            "help" => return self.help().into(),
            "list_targets" => return self.targets_reply().into(),
            "greeting" => return self.greeting().into(),
            "forget" => return self.forget(msg).await,
            "escalate" => {
                return self
                    .escalate(msg, state, "requested by the user", None)
                    .await
                    .into()
            }
            _ => {}
        }

        // Required slots, one question at a time.
        for slot in &intent.required_slots {
            if slot == "target" {
                if let Some(r) = self.ensure_target(&intent.name, state) {
                    return r.into();
                }
            } else if state.slots.get(slot).is_none() {
                return self.ask_slot(slot, &intent.name, state, &[]).into();
            }
        }
        // Intents whose answer depends on a target but list it as optional still use it.
        let target = state
            .slots
            .target
            .as_deref()
            .and_then(|a| self.target(a))
            .cloned();

        // "database is locked after the worker crashed" on a known database: the code's own
        // playbook (locks, disk space, integrity…) with its diagnostics answers it, the code's
        // meaning still shown, rather than the bare lookup. Only when the target's engine has
        // that code.
        let intent = match (
            &target,
            intent.name.as_str(),
            state.slots.error_code.as_deref(),
        ) {
            (Some(t), "error_code_lookup", Some(code)) => {
                let flavour = crate::intents::catalog::Flavour::from_name(t.engine.as_str());
                self.inner
                    .catalog
                    .error_code(code, Some(t.engine.as_str()))
                    .into_iter()
                    .filter(|e| flavour.is_some_and(|f| f.is_covered_by(&e.engine)))
                    .find_map(|e| e.intent.as_deref())
                    .and_then(|i| self.inner.catalog.intent(i))
                    .cloned()
                    .inspect(|related| state.intent = Some(related.name.clone()))
                    .unwrap_or(intent)
            }
            _ => intent,
        };
        match intent.name.as_str() {
            "report_request" => self.report(msg, state).await.into(),
            "explain_query" => self.explain(msg, state).await.into(),
            _ => self
                .diagnose(&intent, target.as_ref(), msg, state)
                .await
                .into(),
        }
    }

    /// Makes sure the thread has a known target, or returns the question to ask.
    fn ensure_target(&self, intent: &str, state: &mut ThreadState) -> Option<Reply> {
        if let Some(alias) = state.slots.target.clone() {
            if self.target(&alias).is_some() {
                self.set_slot(state, "target", alias);
                return None;
            }
            state.slots.target = None;
            let mut r = self.ask_slot("target", intent, state, &[]);
            r.parts.insert(
                0,
                Part::Paragraph {
                    text: format!("I don't know a database called `{alias}`."),
                },
            );
            return Some(r);
        }
        let targets = &self.inner.config.targets;
        // Nothing configured: answer from knowledge rather than ask an unanswerable question.
        if targets.is_empty() {
            return None;
        }
        // A database named that is not configured is never swapped for the only one that is.
        if let Some(name) = state.slots.unknown_target.clone() {
            let mut r = self.ask_slot("target", intent, state, &[]);
            r.parts.insert(
                0,
                Part::Paragraph {
                    text: format!("I don't know a database called `{name}`."),
                },
            );
            return Some(r);
        }
        let in_env: Vec<&Target> = match &state.slots.environment {
            Some(e) => targets.iter().filter(|t| &t.environment == e).collect(),
            None => targets.iter().collect(),
        };
        // Exactly one database fits: no need to ask.
        if in_env.len() == 1 {
            let alias = in_env[0].alias.clone();
            self.set_slot(state, "target", alias);
            return None;
        }
        Some(self.ask_slot("target", intent, state, &[]))
    }

    /// Up to two other intents with checks that `text` names by a distinctive keyword
    /// ([`Classifier::named_by_keyword`](crate::intents::Classifier::named_by_keyword)), each
    /// with its main check (first diagnostic).
    fn named_topics(&self, intent: &crate::intents::Intent, text: &str) -> Vec<(String, String)> {
        self.inner
            .classifier
            .named_by_keyword(text, &intent.name)
            .into_iter()
            .filter_map(|n| self.inner.catalog.intent(n))
            .filter_map(|i| Some((i.name.clone(), i.diagnostics.first()?.clone())))
            .take(2)
            .collect()
    }

    /// Runs the intent's diagnostics (if any) and asks the recommender for the answer.
    async fn diagnose(
        &self,
        intent: &crate::intents::Intent,
        target: Option<&Target>,
        msg: &InboundMessage,
        state: &mut ThreadState,
    ) -> Reply {
        // The engine the user names in this message decides which error-code entry applies.
        let engine = crate::intents::catalog::stated_engine(&msg.text)
            .map(|f| f.name().to_string())
            .or_else(|| target.map(|t| t.engine.as_str().to_string()))
            .or_else(|| state.slots.engine.clone());
        let error_codes = state
            .slots
            .error_code
            .as_deref()
            .map(|c| self.inner.catalog.error_code(c, engine.as_deref()))
            .unwrap_or_default();
        // An error code with a known related intent runs that intent's checks too.
        let mut checks = intent.diagnostics.clone();
        if intent.name == "error_code_lookup" {
            if let Some(related) = error_codes
                .iter()
                .filter_map(|e| e.intent.as_deref())
                .find_map(|i| self.inner.catalog.intent(i))
            {
                checks.extend(related.diagnostics.iter().cloned());
            }
        }
        // Triage first for symptoms: what is running (with wait events), blocking chains, long
        // runners, idle-in-transaction sessions and connection saturation, with the intent's own
        // checks.
        let triage = target.is_some() && is_symptom(&msg.text);
        if triage {
            // Slowness and timeouts also get the checks of the commonest causes.
            let slow = is_slow(&msg.text);
            for c in TRIAGE.iter().chain(SLOW_TRIAGE.iter().filter(|_| slow)) {
                if !checks.iter().any(|x| x == c) {
                    checks.push(c.to_string());
                }
            }
        }
        // An object the words name is looked up, so a name the database does not have never
        // reaches a statement.
        if target.is_some() && state.slots.object.is_some() {
            checks.push("relations".to_string());
        }
        // A second topic the message names by a word only that topic owns ("…and queries got
        // slower, is vacuum even running?"): its main check runs too, and the evidence decides
        // what the answer explains (its findings bring their own playbook lines).
        let named = self.named_topics(intent, &msg.text);
        if target.is_some() {
            for (_, main) in &named {
                if !checks.contains(main) {
                    checks.push(main.clone());
                }
            }
        }
        checks.dedup();
        // Policy: a denied user still gets the knowledge answer, without diagnostics.
        let mut denial: Option<Reply> = None;
        if let (Some(t), false) = (target, checks.is_empty()) {
            if let Err(d) = self
                .authorize(
                    msg,
                    Some(t),
                    crate::policy::Action::Diagnostic { check: &checks[0] },
                )
                .await
            {
                denial = Some(d);
                checks.clear();
            }
        }
        let mut outcomes: Vec<CheckOutcome> = match target {
            Some(t) if !checks.is_empty() => self.run_audited(msg, t, &checks, state).await,
            _ => Vec::new(),
        };
        // "anything running right now?" with nothing running: say so, with the figure, rather
        // than leave the question unanswered under other findings.
        if asks_what_runs(&msg.text) {
            if let (Some(o), Some(t)) = (
                outcomes.iter_mut().find(|o| {
                    o.name == "active_queries" && o.status == crate::diagnostics::CheckStatus::Ok
                }),
                target,
            ) {
                let running = o.findings.iter().any(|f| {
                    matches!(
                        f.code.as_str(),
                        "running_query" | "long_running_query" | "lock_wait"
                    )
                });
                if !running {
                    o.findings.push(crate::diagnostics::Finding::new(
                        "active_queries",
                        "nothing_running",
                        dbabot_chat::Severity::Info,
                        format!(
                            "no statement is running on {} right now besides dbabot's own checks",
                            t.alias
                        ),
                    ));
                }
            }
        }
        // "prod is down, orders-db not responding" while dbabot reaches it: say first that the
        // server answers, with the figures, so the search moves to the path between the
        // application and the server instead of the server's side findings.
        if reports_outage(&msg.text) {
            let answered: Vec<&CheckOutcome> = outcomes
                .iter()
                .filter(|o| o.status == crate::diagnostics::CheckStatus::Ok)
                .collect();
            let connect_failed = outcomes.iter().flat_map(|o| o.findings.iter()).any(|f| {
                f.code == "check_failed"
                    && f.facts
                        .get("error")
                        .is_some_and(|e| e.starts_with("cannot connect"))
            });
            if let (Some(t), false, false) = (target, answered.is_empty(), connect_failed) {
                let slowest = answered.iter().map(|o| o.duration_ms).max().unwrap_or(0);
                let n = answered.len();
                let f = crate::diagnostics::Finding::new(
                    "overview",
                    "server_answers",
                    dbabot_chat::Severity::Info,
                    format!(
                        "{} answered dbabot just now: {n} check{} connected and ran, the slowest in {slowest} ms",
                        t.alias,
                        if n == 1 { "" } else { "s" }
                    ),
                )
                .fact("checks", n)
                .fact("slowest_ms", slowest);
                if let Some(o) = outcomes
                    .iter_mut()
                    .find(|o| o.status == crate::diagnostics::CheckStatus::Ok)
                {
                    o.findings.insert(0, f);
                }
            }
        }
        // "lookups by user_id on events are slow": the column the question names, read against
        // the schema's unindexed columns (the question points, the schema decides).
        if let Some(t) = target {
            let object = state.slots.object.clone();
            // Target names are not the question's words ("events-lite" names no table).
            let text =
                super::turn::without_target_names(&msg.text, self.inner.target_words.as_ref());
            for o in outcomes.iter_mut().filter(|o| {
                o.name == "column_indexes" && o.status == crate::diagnostics::CheckStatus::Ok
            }) {
                if let Some(f) = crate::diagnostics::catalog::named_column_finding(
                    &o.rows,
                    t.engine,
                    &text,
                    object.as_deref(),
                ) {
                    o.findings.push(f);
                }
            }
        }
        // A blocking chain found by the triage, or on the table the user named, makes this a
        // locks answer whatever words were used.
        let object = state
            .slots
            .object
            .clone()
            .unwrap_or_default()
            .to_lowercase();
        let chain_here = outcomes.iter().flat_map(|o| o.findings.iter()).any(|f| {
            (matches!(f.code.as_str(), "blocking_chain" | "prepared_xact_blocker")
                || (f.code == "global_lock_wait" && triage))
                && (triage
                    || (!object.is_empty()
                        && f.facts
                            .get("relation")
                            .is_some_and(|r| r.to_lowercase().contains(&object))))
        });
        let deadlock_seen = outcomes
            .iter()
            .flat_map(|o| o.findings.iter())
            .any(|f| matches!(f.code.as_str(), "deadlocks_seen" | "deadlock_latest"));
        // A server that refused dbabot's own connection for want of slots is the answer to
        // whatever was asked: the outage is the connection limit.
        let full_here = outcomes
            .iter()
            .flat_map(|o| o.findings.iter())
            .any(|f| f.code == "connections_refused_full");
        // Not one check could connect: whatever was asked ("checkout is timing out"), the
        // answer is that the server cannot be reached, from dbabot either.
        // A failure the driver reports directly ("Access denied for user", a TLS or protocol
        // error) counts as much as the runner's own "cannot connect" probe.
        // A SQLite file that cannot be opened is that engine's "unreachable".
        let mut lite_failure = None;
        if let Some(t) = target {
            for e in outcomes
                .iter()
                .flat_map(|o| o.findings.iter())
                .filter(|f| f.code == "check_failed")
                .filter_map(|f| f.facts.get("error"))
            {
                lite_failure = super::reach::sqlite_open_failure(e, t).await;
                if lite_failure.is_some() {
                    break;
                }
            }
        }
        let connect_error = |e: &str| {
            e.starts_with("cannot connect")
                || target.is_some_and(|t| super::reach::finding(e, t).is_some())
                || lite_failure
                    .as_ref()
                    .is_some_and(|f| f.facts.get("error").is_some_and(|x| x == e))
        };
        let unreachable = !outcomes.is_empty()
            && outcomes
                .iter()
                .all(|o| o.status != crate::diagnostics::CheckStatus::Ok)
            && outcomes.iter().flat_map(|o| o.findings.iter()).any(|f| {
                f.code == "check_failed" && f.facts.get("error").is_some_and(|e| connect_error(e))
            });
        // Why not: the kind of failure (nothing listening, no answer, login rejected…) decides
        // which causes the answer keeps.
        if unreachable {
            let error = outcomes
                .iter()
                .flat_map(|o| o.findings.iter())
                .filter(|f| f.code == "check_failed")
                .find_map(|f| f.facts.get("error").filter(|e| connect_error(e)))
                .cloned();
            if let (Some(t), Some(e)) = (target, error) {
                if let Some(f) = lite_failure
                    .clone()
                    .or_else(|| super::reach::finding(&e, t))
                {
                    if let Some(o) = outcomes.first_mut() {
                        o.findings.insert(0, f);
                    }
                }
            }
        }
        let switch_to = if full_here
            && !matches!(
                intent.name.as_str(),
                "too_many_connections" | "connection_errors"
            ) {
            Some("too_many_connections")
        } else if unreachable && !full_here && intent.name != "connection_errors" {
            Some("connection_errors")
        } else if chain_here
            && !matches!(intent.name.as_str(), "locks_blocking" | "idle_in_transaction")
            // "Deadlocks" stays the topic only when the server has recorded one and the user
            // reports deadlock errors: a deadlock lives for a second at most, so a chain that
            // is still there ("is something deadlocked? the workers just sit there") is a session
            // waiting on another, which the locks answer explains and fixes.
            && (intent.name != "deadlocks" || !(deadlock_seen && reports_deadlocks(&msg.text)))
        {
            Some("locks_blocking")
        } else if let Some(i) = live_warnings(&outcomes)
            .max_by_key(|f| f.severity)
            .and_then(|f| {
                named
                    .iter()
                    .filter_map(|(n, _)| self.inner.catalog.intent(n))
                    .find(|i| {
                        i.playbook
                            .root_causes
                            .iter()
                            .any(|s| s.when.as_deref() == Some(f.code.as_str()))
                    })
            })
        {
            // The message named a second topic and the worst live finding is that topic's:
            // "queries got slower, is vacuum even running?" with autovacuum off answers vacuum.
            Some(i.name.as_str())
        } else if triage && matches!(intent.category.as_str(), "architecture" | "capacity") {
            // A symptom read as a planning question ("after the upgrade the app crawls"): the
            // worst live finding names the topic.
            live_warnings(&outcomes)
                .max_by_key(|f| f.severity)
                .and_then(|f| self.inner.catalog.explaining(&f.code))
                .filter(|i| i.name != intent.name)
                .map(|i| i.name.as_str())
        } else {
            None
        };
        let locks_intent;
        let intent = if let Some(switch_to) = switch_to {
            match self.inner.catalog.intent(switch_to) {
                Some(i) => {
                    locks_intent = i.clone();
                    state.intent = Some(locks_intent.name.clone());
                    // The new answer's own checks (prepared transactions, metadata locks)
                    // that the triage did not run.
                    let missing: Vec<String> = locks_intent
                        .diagnostics
                        .iter()
                        .filter(|d| !outcomes.iter().any(|o| &o.name == *d))
                        .cloned()
                        .collect();
                    if let (Some(t), false, false) = (target, missing.is_empty(), unreachable) {
                        let more = self.run_audited(msg, t, &missing, state).await;
                        outcomes.extend(more);
                    }
                    &locks_intent
                }
                None => intent,
            }
        } else {
            intent
        };
        // "the table keeps growing" read as a table `keeps`, or a typo: a complete list of the
        // database's names without it means no statement may name it.
        let mut unknown_object = None;
        if let (Some(object), Some(t)) = (state.slots.object.clone(), target) {
            let listed = outcomes
                .iter()
                .find(|o| o.name == "relations" && o.status == crate::diagnostics::CheckStatus::Ok);
            if let Some(o) = listed.filter(|o| !o.rows.truncated) {
                let wanted = object.to_lowercase();
                let known = o.rows.iter().any(|r| {
                    let name = r.str("name").to_lowercase();
                    let qualified = format!("{}.{name}", r.str("schema_name").to_lowercase());
                    name == wanted || qualified == wanted
                });
                // A column the checks saw ("an index on customer_id") is no table either, but
                // needs no note.
                let seen_elsewhere = outcomes.iter().any(|o| {
                    o.rows
                        .rows
                        .iter()
                        .flatten()
                        .any(|v| v.to_string().eq_ignore_ascii_case(&object))
                        || o.findings
                            .iter()
                            .any(|f| f.facts.values().any(|v| v.eq_ignore_ascii_case(&object)))
                });
                if !known {
                    state.slots.object = None;
                }
                if !known && !seen_elsewhere {
                    // The nearest name within two edits ("invoicez" → invoices), if one is.
                    let near = o
                        .rows
                        .iter()
                        .map(|r| r.str("name"))
                        .filter(|n| strsim::damerau_levenshtein(&n.to_lowercase(), &wanted) <= 2)
                        .min_by_key(|n| strsim::damerau_levenshtein(&n.to_lowercase(), &wanted));
                    unknown_object = Some(format!(
                        "{} has no table, view or index named `{object}`, so no statement below names one{}; tell me which table you mean to have it filled in.",
                        t.alias,
                        near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()
                    ));
                }
            }
        }
        let user_text = crate::redact::redact(&msg.text);
        let gate = super::gate::TurnGate { engine: self, msg };
        // Only the playbook lines for this engine/flavour/version reach the recommender.
        let scope = crate::intents::Scope::detect(
            target,
            &state.slots,
            outcomes.iter().flat_map(|o| &o.findings),
            &user_text,
        )
        .with_server_flavour(target.and_then(|t| self.runner().is_mariadb(&t.alias)));
        // Warnings and worse that this intent's playbook does not explain bring the lines of
        // the intent that does.
        let codes: Vec<&str> = live_warnings(&outcomes).map(|f| f.code.as_str()).collect();
        let explained = self.inner.catalog.with_lines_for(intent, &codes);
        let scoped_intent = self.inner.catalog.scoped(&explained, &scope);
        let ctx = Context {
            intent: &scoped_intent,
            slots: &state.slots,
            target,
            outcomes: &outcomes,
            user_text: &user_text,
            error_codes: error_codes.clone(),
            gate: Some(&gate),
            // The LLM's tools: targets the access policy lets this user diagnose / EXPLAIN on.
            allowed_targets: self
                .inner
                .config
                .targets
                .iter()
                .filter(|t| {
                    self.inner
                        .policy
                        .check(
                            msg,
                            Some(t),
                            crate::policy::Action::Diagnostic { check: "requested" },
                        )
                        .is_ok()
                })
                .collect(),
            explain_targets: self
                .inner
                .config
                .targets
                .iter()
                .filter(|t| {
                    self.inner
                        .policy
                        .check(msg, Some(t), crate::policy::Action::Explain)
                        .is_ok()
                })
                .collect(),
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
        state.findings = rec.findings.iter().take(50).cloned().collect();
        state.recommendations = rec
            .immediate
            .iter()
            .take(10)
            .map(|a| a.text.clone())
            .collect();
        let mut reply = render::recommendation(&rec, target, &state.slots, &outcomes, &intent.name);
        if let Some(text) = unknown_object {
            reply.push(Part::Context { text });
        }
        if let Some(d) = denial {
            let mut parts = d.parts;
            parts.append(&mut reply.parts);
            reply.parts = parts;
            reply.severity = reply.severity.max(Some(Severity::Warning));
        }
        // Error signatures: the same error again and again is a reason to get a human.
        let mut recurring = None;
        if let Some(code) = state.slots.error_code.clone() {
            let line = msg
                .text
                .lines()
                .find(|l| l.contains(&code))
                .unwrap_or(&msg.text)
                .to_string();
            let where_ = target
                .map(|t| t.alias.clone())
                .unwrap_or_else(|| "unknown".into());
            match self
                .inner
                .signatures
                .record(
                    &where_,
                    &line,
                    &msg.thread_key().to_string(),
                    self.now() * 1000,
                    24 * 3600 * 1000,
                )
                .await
            {
                Ok(r) if r.count >= 2 => {
                    reply.push(Part::Context {
                        text: format!(
                            "This error has been seen {} times in the last 24 h in {} threads.",
                            r.count, r.threads
                        ),
                    });
                    recurring = Some(r.count);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "error signature store failed"),
            }
        }
        // Policy triggers for automatic escalation (only with an [escalation] section).
        let esc = &self.inner.escalation;
        let case_closed = match state.case_id.as_deref() {
            None => true,
            Some(id) => self
                .inner
                .cases
                .get(id)
                .await
                .is_none_or(|c| c.status.is_closed()),
        };
        if esc.enabled && case_closed {
            let trigger = if esc.auto_on_critical_prod
                && target.is_some_and(|t| t.environment == "prod")
                && rec.severity == Severity::Critical
            {
                Some("a critical finding on a production target".to_string())
            } else {
                recurring
                    .filter(|n| *n >= esc.recurrence_threshold)
                    .map(|n| format!("the same error was seen {n} times in 24 h"))
            };
            if let Some(trigger) = trigger {
                let notice = self.escalate(msg, state, &trigger, None).await;
                reply.parts.extend(notice.parts);
            }
        }
        if intent.name == "error_code_lookup" && error_codes.is_empty() {
            if let Some(code) = &state.slots.error_code {
                reply.parts.insert(1, Part::Paragraph { text: format!("I don't have `{code}` in my error-code knowledge base yet; here is the general approach.") });
            }
        }
        if !intent.diagnostics.is_empty() && target.is_none() {
            reply.push(Part::Context { text: "No target given, so no diagnostics ran; name a database to get findings from it.".into() });
        }
        reply
    }

    async fn report(&self, msg: &InboundMessage, state: &mut ThreadState) -> Reply {
        let name = state.slots.report.clone().unwrap_or_default();
        let Some(report) = self.inner.catalog.report(&name).cloned() else {
            state.slots.report = None;
            let mut r = self.ask_slot("report", "report_request", state, &[]);
            if !name.is_empty() {
                r.parts.insert(
                    0,
                    Part::Paragraph {
                        text: format!("There is no `{name}` report."),
                    },
                );
            }
            return r;
        };
        if let Some(question) = self.ensure_target("report_request", state) {
            return question;
        }
        let Some(target) = state
            .slots
            .target
            .as_deref()
            .and_then(|a| self.target(a))
            .cloned()
        else {
            return self.ask_slot("target", "report_request", state, &[]);
        };
        if let Err(denied) = self
            .authorize(
                msg,
                Some(&target),
                crate::policy::Action::Diagnostic {
                    check: &format!("{} report", report.name),
                },
            )
            .await
        {
            return denied;
        }
        let outcomes = self
            .run_audited(msg, &target, &report.diagnostics, state)
            .await;
        state.findings = outcomes
            .iter()
            .flat_map(|o| o.findings.iter().cloned())
            .take(50)
            .collect();
        render::report(&report.title, &report.name, &target, &outcomes)
    }

    async fn explain(&self, msg: &InboundMessage, state: &mut ThreadState) -> Reply {
        let sql = state.slots.sql.take().unwrap_or_default();
        if let Some(question) = self.ensure_target("explain_query", state) {
            state.slots.sql = Some(sql);
            return question;
        }
        let Some(target) = state
            .slots
            .target
            .as_deref()
            .and_then(|a| self.target(a))
            .cloned()
        else {
            state.slots.sql = Some(sql);
            return self.ask_slot("target", "explain_query", state, &[]);
        };
        let mut r = Reply {
            intent: Some("explain_query".into()),
            answered_by: Some("rules".into()),
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: format!("Query plan — {}", target.alias),
            level: 1,
        });
        r.push(Part::Fields {
            fields: render::target_fields(Some(&target), &state.slots, None),
        });
        let gate = super::gate::TurnGate { engine: self, msg };
        let (safe, planned, duration_ms) = match gate.explain(&target, &sql, Caller::User).await {
            Explained::Denied(why) => {
                let mut d = Reply {
                    severity: Some(Severity::Warning),
                    intent: Some("denied".into()),
                    ..Reply::default()
                };
                d.push(Part::Paragraph { text: why });
                return d;
            }
            Explained::Refused(refusal) => {
                r.severity = Some(Severity::Warning);
                r.push(Part::Paragraph {
                    text: format!(
                        "I won't run that: {refusal}. Nothing was sent to {}.",
                        target.alias
                    ),
                });
                r.push(Part::Paragraph { text: "I can only EXPLAIN (never ANALYZE, never run) exactly one SELECT that calls only built-in functions without side effects. Paste a single SELECT, or ask a DBA to review changes.".into() });
                return r;
            }
            Explained::Planned {
                select,
                plan,
                duration_ms,
            } => (select, plan, duration_ms),
        };
        match planned {
            Ok(plan) => {
                let text: Vec<String> = plan
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect();
                let plan_text = if plan.columns.len() > 1 {
                    format!("{}\n{}", plan.columns.join(" | "), text.join("\n"))
                } else {
                    text.join("\n")
                };
                r.push(Part::Code {
                    language: Some("sql".into()),
                    code: safe.sql().to_string(),
                });
                r.push(Part::Heading {
                    text: "Plan (EXPLAIN, not executed)".into(),
                    level: 2,
                });
                r.push(Part::Code {
                    language: Some("text".into()),
                    code: plan_text.clone(),
                });
                let scans = super::plan::scans(&plan_text, safe.sql(), target.engine);
                // Whether the filtered column already has an index decides the advice: build one,
                // or refresh the statistics of a table the planner chose to read whole.
                let indexes = if scans.iter().any(|s| !s.columns.is_empty()) {
                    self.run_audited(msg, &target, &["index_list".to_string()], state)
                        .await
                        .first()
                        .and_then(super::plan::leading_columns)
                } else {
                    None
                };
                let hints = super::plan::hints(&scans, indexes.as_ref(), target.engine);
                if !hints.notes.is_empty() {
                    r.push(Part::Heading {
                        text: "What stands out".into(),
                        level: 2,
                    });
                    r.push(Part::Bullets { items: hints.notes });
                }
                if !hints.statements.is_empty() {
                    r.push(Part::Code {
                        language: Some("sql".into()),
                        code: hints.statements.join("\n"),
                    });
                    r.push(Part::Context {
                        text: "SQL above is for a human to review and run; dbabot never executes remediation.".into(),
                    });
                }
                if safe.analyze_requested {
                    r.push(Part::Context { text: "You asked for EXPLAIN ANALYZE; I never execute queries, so this is the estimated plan. Run EXPLAIN (ANALYZE, BUFFERS) yourself on a non-production copy for actual timings.".into() });
                }
            }
            Err(e) => {
                r.severity = Some(Severity::Warning);
                r.push(Part::Paragraph {
                    text: format!("The database could not plan this SELECT: {e}"),
                });
                if safe.has_parameters() {
                    r.push(Part::Paragraph { text: "The statement has parameter placeholders ($1, ?): put representative values in their place (as the application sends them) to see the plan it gets.".into() });
                }
            }
        }
        r.checks.push(dbabot_chat::CheckRun {
            name: "explain".into(),
            duration_ms,
            status: "ok".into(),
        });
        r.push(Part::Context {
            text:
                "EXPLAIN only: the statement was planned, not executed, in a read-only transaction."
                    .into(),
        });
        r
    }

    /// Runs checks on `target`, audits each run and remembers them in the thread.
    async fn run_audited(
        &self,
        msg: &InboundMessage,
        target: &Target,
        checks: &[String],
        state: &mut ThreadState,
    ) -> Vec<CheckOutcome> {
        let runnable = self.inner.runner.runnable(&target.alias, checks);
        let outcomes: Vec<CheckOutcome> = futures::future::join_all(
            runnable
                .into_iter()
                .map(|c| self.run_recorded(msg, target, c, Caller::User)),
        )
        .await;
        for o in &outcomes {
            state.checks_run.push(format!(
                "{}: {} ({} ms)",
                o.name,
                o.status.as_str(),
                o.duration_ms
            ));
        }
        let excess = state.checks_run.len().saturating_sub(30);
        state.checks_run.drain(..excess);
        outcomes
    }

    fn help(&self) -> Reply {
        let mut r = Reply {
            intent: Some("help".into()),
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: "dbabot — your read-only DBA assistant".into(),
            level: 1,
        });
        r.push(Part::Paragraph { text: "Ask in plain words, e.g. \"orders-prod is slow since 10:00\", \"my update on orders has been hanging\", \"what does SQLSTATE 40P01 mean\". I run allow-listed, read-only checks and answer with situation, root cause, fixes and how to verify. I never change your database.".into() });
        r.push(Part::Heading {
            text: "Commands".into(),
            level: 2,
        });
        r.push(Part::Bullets {
            items: vec![
                "help — this message".into(),
                "targets — the databases I know".into(),
                format!(
                    "report <name> [target] — {}",
                    self.inner.report_names.join(", ")
                ),
                "status [target] — quick health check".into(),
                "ask <question> — a question in plain words".into(),
                "explain <SELECT …> — the query plan (EXPLAIN only, one SELECT)".into(),
                "escalate [note] — hand this thread to a DBA".into(),
                "forget — delete what I remember about this thread".into(),
            ],
        });
        let mut by_cat: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for i in &self.inner.catalog.intents {
            if i.category != "conversation" {
                by_cat
                    .entry(i.category.as_str())
                    .or_default()
                    .push(i.title.as_str());
            }
        }
        r.push(Part::Heading {
            text: "What I know about".into(),
            level: 2,
        });
        r.push(Part::Bullets {
            items: by_cat
                .iter()
                .map(|(c, t)| format!("{}: {}", c.replace('_', " "), t.join(", ")))
                .collect(),
        });
        r
    }

    fn greeting(&self) -> Reply {
        let mut r = Reply::text("Hi! Tell me which database and what you see (\"orders-prod is slow since 10:00\"), or type `help`.");
        r.intent = Some("greeting".into());
        r
    }

    fn targets_reply(&self) -> Reply {
        let mut r = Reply {
            intent: Some("list_targets".into()),
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: "Databases I can check".into(),
            level: 1,
        });
        if self.inner.config.targets.is_empty() {
            r.push(Part::Paragraph {
                text: "None configured. Add [[targets]] to dbabot.toml.".into(),
            });
            return r;
        }
        r.push(Part::Table(Table {
            title: None,
            columns: vec![
                "target".into(),
                "engine".into(),
                "environment".into(),
                "cloud".into(),
                "also known as".into(),
            ],
            rows: self
                .inner
                .config
                .targets
                .iter()
                .map(|t| {
                    vec![
                        t.alias.clone(),
                        t.engine.display().into(),
                        t.environment.clone(),
                        t.cloud.clone(),
                        t.aliases.join(", "),
                    ]
                })
                .collect(),
        }));
        r
    }

    async fn forget(&self, msg: &InboundMessage) -> Outcome {
        let key = msg.thread_key();
        self.audit_event(msg, None, "forget", "", (0, 0), "ok")
            .await;
        let reply = match self.inner.memory.forget(&key).await {
            Ok(Some(old)) => Reply::text(format!(
                "Done: I deleted what I remembered about this thread ({} turns, {} slots, {} findings). The next message starts fresh.",
                old.turns.len(),
                crate::intents::slots::NAMES.iter().filter(|n| old.slots.get(n).is_some()).count(),
                old.findings.len()
            )),
            Ok(None) => Reply::text("I had nothing stored for this thread; nothing to delete."),
            Err(e) => {
                tracing::error!(error = %e, "forget failed");
                Reply::text("I could not delete this thread's memory because storage failed; please try again.")
            }
        };
        let mut reply = reply;
        reply.intent = Some("forget".into());
        Outcome {
            reply,
            forgotten: true,
        }
    }
}

/// The live triage bundle run with the intent's checks when a question describes a symptom.
/// Findings of warning severity or worse about the database itself (not a check that could
/// not run): the evidence that may pick an answer's topic and explanation.
fn live_warnings(outcomes: &[CheckOutcome]) -> impl Iterator<Item = &crate::diagnostics::Finding> {
    outcomes
        .iter()
        .flat_map(|o| o.findings.iter())
        .filter(|f| f.severity >= dbabot_chat::Severity::Warning)
        .filter(|f| !matches!(f.code.as_str(), "check_failed" | "privilege_missing"))
}

/// Added to [`TRIAGE`] for slowness and timeouts: scan statistics, planner statistics,
/// unindexed foreign keys and temporary-file spills, the commonest causes, cheap to read.
const SLOW_TRIAGE: &[&str] = &["seq_scans", "table_statistics", "fk_indexes", "temp_files"];

const TRIAGE: &[&str] = &[
    "active_queries",
    "blocking_chains",
    "metadata_locks",
    "global_locks",
    "user_locks",
    "idle_in_transaction",
    "overview",
];

/// True when `text` asks what is running right now ("something is running, what is it?").
pub(crate) fn asks_what_runs(text: &str) -> bool {
    let t = text.to_lowercase();
    ["running", "what is it", "what's it doing", "executing"]
        .iter()
        .any(|w| t.contains(w))
}

/// True when `text` describes a hang or slowness (not an error, which may be a permission
/// problem): stuck, hanging, slow, frozen, timing out, spinning.
pub(crate) fn is_hang(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "stuck",
        "hanging",
        "hangs",
        "hung",
        "slow",
        "frozen",
        "timing out",
        "timed out",
        "spinning",
        "spins",
        "never finish",
        "forever",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// True when `text` describes slowness: a hang, or a timeout in any spelling.
pub(crate) fn is_slow(text: &str) -> bool {
    let t = text.to_lowercase();
    is_hang(text)
        || [
            "timeout",
            "time out",
            "times out",
            "crawl",
            "sluggish",
            "laggy",
            "grinding",
            "takes ages",
            "for ages",
            "take seconds",
            "takes seconds",
            "taking seconds",
            "take minutes",
            "takes minutes",
            "taking minutes",
        ]
        .iter()
        .any(|w| t.contains(w))
}

/// True when `text` describes a symptom: slow, stuck, hanging, spinning, timing out, failing,
/// down, on fire, errors…
pub(crate) fn is_symptom(text: &str) -> bool {
    let t = text.to_lowercase();
    const PHRASES: &[&str] = &[
        "timing out",
        "timed out",
        "time out",
        "on fire",
        "never finish",
        "not finishing",
        "doesn't finish",
        "does not finish",
        "won't finish",
        "not responding",
        "unresponsive",
        "forever",
        "for ages",
        "is down",
        "went down",
        "are down",
        " down?",
        " down!",
        "grinding",
        "crawl",
        "can be saved",
        "can't save",
        "cannot save",
        "won't save",
        "not saving",
        "can't write",
        "cannot write",
        "can't insert",
        "can't update",
        // Work that stopped: queues and workers.
        "nothing moves",
        "nothing is moving",
        "not moving",
        "nothing gets processed",
        "nothing is processed",
        "nothing is getting processed",
        "not processing",
        "stopped processing",
        "stopped draining",
        "not draining",
        "sit there",
        "sits there",
        "piling up",
        "backed up",
    ];
    const WORDS: &[&str] = &[
        "slow",
        "slower",
        "slowly",
        "sluggish",
        "stuck",
        "hanging",
        "hang",
        "hangs",
        "hung",
        "spinning",
        "spins",
        "timeout",
        "timeouts",
        "failing",
        "fails",
        "failed",
        "errors",
        "erroring",
        "frozen",
        "freezing",
        "freezes",
        "blocked",
        "stalled",
        "stalls",
        "laggy",
        "lagging",
        "outage",
        "waiting",
        "freeze",
        "froze",
        "unusable",
        "deadlocked",
        "deadlocking",
    ];
    is_slow(text)
        || PHRASES.iter().any(|p| t.contains(p))
        || t.split(|c: char| !c.is_alphanumeric() && c != '\'')
            .any(|w| WORDS.contains(&w))
}

/// True when `text` reports the database down or unreachable ("prod is down", "not
/// responding", "can't connect to it").
pub(crate) fn reports_outage(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "is down",
        "went down",
        "are down",
        " down!",
        " down?",
        "not responding",
        "unresponsive",
        "unreachable",
        "not reachable",
        "can't reach",
        "cannot reach",
        "can't connect",
        "cannot connect",
        "can not connect",
        "no response",
        "doesn't respond",
        "does not respond",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// True when `text` reports deadlock errors ("deadlock detected", "chosen as the deadlock
/// victim", 40P01, 1213, "they deadlock each other"), not merely a stuck system described as
/// "deadlocked".
pub(crate) fn reports_deadlocks(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "deadlock detected",
        "deadlock found",
        "deadlock victim",
        "deadlocks",
        "deadlock error",
        "each other",
        "40p01",
        "1213",
        "1205",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// True for a message that is only a command word ("help", "hi"), which keeps its meaning.
fn is_bare_command(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.len() <= 2
}

/// True when the user explicitly asks for a person, not only describes a problem.
pub(crate) fn asks_for_a_human(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        // "page the on-call", never "the reports page spins".
        "escalat",
        "page the",
        "page a ",
        "page someone",
        "page whoever",
        "paging",
        "a dba",
        "the dba",
        "real dba",
        "actual dba",
        "dba team",
        "human",
        "on-call",
        "oncall",
        "on call",
        "someone",
    ]
    .iter()
    .any(|w| t.contains(w))
}
