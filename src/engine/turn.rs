//! Dialogue management: answers to pending questions, commands, slot filling and the
//! "did you mean…" question when the classifier is unsure.

use super::advice::{describe, is_advice_answer, is_advice_request, ADVICE_CHOICE};
use super::command::{self, Command};
use super::{Engine, Outcome};
use crate::intents::classify::SmallTalk;
use crate::intents::{extract, Extracted, Slots};
use crate::memory::{Pending, ThreadState};
use dbabot_chat::{Choice, InboundMessage, Part, Reply};

/// What merging a message's slots did to the thread's target.
pub(super) struct Merged {
    /// A target, engine, environment or cloud changed (and no SQL / error code came with it).
    pub changed: bool,
    /// Shown above the answer ("Switched from orders-pg to orders-pg-staging …").
    pub notice: Option<String>,
    /// The target the thread had before a stated slot left no configured target matching.
    pub lost: Option<String>,
}

/// Intents answered without any target or diagnostics.
const CONVERSATIONAL: &[&str] = &[
    "help",
    "greeting",
    "out_of_scope",
    "forget",
    "list_targets",
    "escalate",
    "access_request",
];

impl Engine {
    pub(super) fn extract(&self, text: &str) -> Extracted {
        self.extract_in(text, None)
    }

    /// [`Self::extract`] for a message in a thread whose target is already known: an error
    /// quoted without its code is read as that target's engine's (a follow-up "FATAL: too many
    /// connections for role app" on a PostgreSQL thread is 53300, and does not move the thread to
    /// a MySQL target).
    pub(super) fn extract_in(&self, text: &str, thread: Option<&ThreadState>) -> Extracted {
        let cat = &self.inner.catalog;
        let mut ex = extract(
            text,
            &self.inner.target_names,
            &self.inner.report_names,
            &|c| !cat.error_code(c, None).is_empty(),
        );
        // An error quoted without its code: the message patterns in error-codes.toml, of the
        // engine stated or of the target named when either is known.
        if ex.slots.error_code.is_none() {
            let known = ex
                .slots
                .engine
                .clone()
                .or_else(|| {
                    ex.slots
                        .target
                        .as_deref()
                        .and_then(|t| self.target(t))
                        .map(|t| t.engine.as_str().to_string())
                })
                .or_else(|| {
                    thread
                        .filter(|s| s.slots.target.is_some())
                        .and_then(|s| s.slots.engine.clone())
                });
            if let Some(p) = cat.match_message(text, known.as_deref()) {
                ex.slots.error_code = Some(p.code.clone());
                if ex.slots.engine.is_none() {
                    let family = if p.engine == "mariadb" || p.engine == "mysql-only" {
                        "mysql"
                    } else {
                        p.engine.as_str()
                    };
                    ex.slots.engine = Some(family.to_string());
                }
            }
        }
        ex
    }

    /// The main decision procedure for one message.
    pub(super) async fn respond(&self, msg: &InboundMessage, state: &mut ThreadState) -> Outcome {
        let text = msg.text.trim();

        // 0. A DBA clicked an action on an escalation handoff.
        if let Some(c) = msg
            .choice
            .as_ref()
            .filter(|c| c.choice_id.starts_with("case:"))
        {
            let id = c.choice_id.trim_start_matches("case:").to_string();
            return self.case_action(msg, &c.value, &id, "").await.into();
        }

        // 1. An answer to the question we asked last time?
        if let Some(pending) = state.pending.take() {
            // "none of these, it's not connected to you" / "just advice" to "which database?".
            if let Pending::Slot { slot, intent, .. } = &pending {
                let clicked_none = msg
                    .choice
                    .as_ref()
                    .is_some_and(|c| c.choice_id == "target" && c.value == ADVICE_CHOICE);
                if slot == "target" && (clicked_none || is_advice_answer(text)) {
                    state.slots.target = None;
                    state.slots.advice_only = true;
                    let intent = intent.clone();
                    return self.route(&intent, msg, state).await;
                }
            }
            if let Some(value) = resolve_choice(&pending, msg, &self.inner.config.targets) {
                return match pending {
                    Pending::Slot { slot, intent, .. } => {
                        if slot == "target" {
                            state.slots.advice_only = false;
                        }
                        self.set_slot(state, &slot, value);
                        let question = resumed(msg, state);
                        self.route(&intent, &question, state).await
                    }
                    Pending::Intent { text: original, .. } => {
                        let ex = self.extract_in(&original, Some(state));
                        self.merge_slots(state, &ex);
                        self.route(&value, msg, state).await
                    }
                };
            }
            // Not an answer: a slot value typed freely ("orders-prod") still counts.
            if let Pending::Slot { slot, intent, .. } = &pending {
                let ex = self.extract_in(text, Some(state));
                if let Some(v) = ex.slots.get(slot).map(str::to_string) {
                    self.merge_slots(state, &ex);
                    self.set_slot(state, slot, v);
                    let intent = intent.clone();
                    let question = resumed(msg, state);
                    return self.route(&intent, &question, state).await;
                }
                if slot == "sql"
                    && !text.is_empty()
                    && command::parse(text).is_none()
                    && self
                        .inner
                        .classifier
                        .classify(text)
                        .is_none_or(|c| c.confidence < self.inner.config.min_confidence)
                {
                    self.set_slot(state, "sql", text.to_string());
                    let intent = intent.clone();
                    return self.route(&intent, msg, state).await;
                }
                if slot == "error_code" {
                    if let Some(code) = ex.slots.error_code.clone() {
                        self.set_slot(state, "error_code", code);
                        let intent = intent.clone();
                        return self.route(&intent, msg, state).await;
                    }
                }
            }
            // Otherwise treat the message as new, but keep the question if it is not clearly new.
            let clearly_new = command::parse(text).is_some()
                || self.inner.classifier.small_talk(text).is_some()
                || is_advice_request(text)
                || self
                    .inner
                    .classifier
                    .classify(text)
                    .is_some_and(|c| c.confidence >= self.inner.config.min_confidence);
            if !clearly_new {
                let again = self.ask_again(&pending);
                state.pending = Some(pending);
                return again.into();
            }
        }

        // 2. Log analysis: a shared file, a console path, a target's configured log.
        if let Some(ask) = self.log_ask(msg) {
            return self.log_answer(ask, msg).await.into();
        }

        // 3. Explicit commands.
        if let Some(cmd) = command::parse(text) {
            return self.run_command(cmd, msg, state).await;
        }

        // 3. Thanks, greetings, "what can you do": short answers, nothing else.
        match self.inner.classifier.small_talk(text) {
            Some(SmallTalk::Thanks) => {
                let mut r = Reply::text(
                    "You're welcome! If it comes back, say so in this thread: I keep its context.",
                );
                r.intent = Some("greeting".into());
                return r.into();
            }
            Some(SmallTalk::Greeting) => return self.answer("greeting", msg, state).await,
            Some(SmallTalk::Capabilities) => return self.answer("help", msg, state).await,
            None => {}
        }

        // "just give me general advice" after a question: the same question, advice mode.
        if is_advice_request(text) {
            state.slots.target = None;
            state.slots.advice_only = true;
            if let Some(previous) = state.intent.clone() {
                return self.route(&previous, msg, state).await;
            }
        }

        // 4. Slots and intent from free text.
        let mut ex = self.extract_in(text, Some(state));
        // "what about the customers table?": the previous question, re-scoped to that object.
        let about = what_about(text);
        let mut rescoped = None;
        if let Some(word) = &about {
            // "the orders table" names a table even when a target is called orders-pg.
            if self.target(word).is_none() {
                ex.slots.target = None;
                ex.ambiguous_targets.clear();
            }
            let stated = ex.slots.target.is_some()
                || ex.slots.engine.is_some()
                || ex.slots.cloud.is_some()
                || ex.slots.environment.is_some();
            if !stated && state.intent.is_some() {
                ex.slots.object = Some(word.clone());
                rescoped = Some(word.clone());
            }
        }
        let merged = self.merge_slots_noting(state, &ex);
        let slot_only_change = merged.changed;
        // Urgency words ("help!!", "it's on fire", "asap") are not the question.
        // Target names are not the question's words ("idle-pg" is not about idle sessions).
        let mut classification = self.inner.classifier.understand(&without_target_names(
            text,
            self.inner.target_words.as_ref(),
        ));
        if let Some(c) = classification.as_mut() {
            if !reread(c, text) {
                classification = None;
            }
        }
        let threshold = self.inner.config.min_confidence;

        // "actually it's staging" / "what about billing-prod?": a slot changed and almost nothing
        // else was said, so it is the previous question again with the new value.
        let content_words = self.inner.classifier.tokens(text).len();
        let follow_up = (slot_only_change || about.is_some())
            && state.intent.is_some()
            && (content_words <= 2 || about.is_some());
        if follow_up {
            if let (Some(lost), Some(previous)) = (&merged.lost, state.intent.clone()) {
                return self.ask_after_lost_target(lost, &previous, state).into();
            }
        }
        let intent = if follow_up {
            state.intent.clone()
        } else if ex.slots.sql.is_some()
            && (text.to_lowercase().contains("explain")
                || text.trim_start().starts_with("```")
                || looks_like_bare_sql(text))
        {
            Some("explain_query".to_string())
        } else {
            match &classification {
                Some(c) if c.confidence >= threshold => {
                    // An error code with a generic intent → look the code up.
                    if ex.slots.error_code.as_deref().is_some_and(|code| {
                        matches!(c.intent.as_str(), "out_of_scope" | "greeting" | "help")
                            || self.code_points_elsewhere(code, &c.intent)
                    }) {
                        Some("error_code_lookup".to_string())
                    } else {
                        Some(c.intent.clone())
                    }
                }
                // Unsure between topics, with an error code whose own topic is one of them
                // ("Lock wait timeout exceeded" between locks and time limits): the code decides.
                Some(c) if ex.slots.error_code.is_some() => {
                    let code = ex.slots.error_code.as_deref().unwrap_or_default();
                    let related: Vec<&str> = self.code_intents(code).collect();
                    let names = || c.candidates.iter().map(|(n, _)| n.as_str());
                    let pick = names()
                        .find(|n| related.contains(n))
                        .filter(|_| !names().any(|n| n == "error_code_lookup"));
                    Some(pick.unwrap_or("error_code_lookup").to_string())
                }
                _ if ex.slots.error_code.is_some() => Some("error_code_lookup".to_string()),
                // "actually it's staging": same question, new slot values.
                _ if slot_only_change && state.intent.is_some() => state.intent.clone(),
                _ => None,
            }
        };

        // "tell me about the orders table" / "what do you know about the events table?": no
        // clear intent (or only "list the databases" / "help"), but a table on a known target:
        // what the checks know about that table, rather than a menu or the list of databases.
        if intent
            .as_deref()
            .is_none_or(|i| matches!(i, "list_targets" | "help"))
            && ex.slots.object.is_some()
            && (state.slots.target.is_some() || self.inner.config.targets.len() == 1)
        {
            state.unsure_streak = 0;
            let object = state.slots.object.clone().unwrap_or_default();
            // "lookups by email on users take seconds": a slow table, not a schema question.
            let topic = if super::answers::is_slow(text) {
                "slow_query"
            } else {
                "schema_review"
            };
            let mut out = self.answer(topic, msg, state).await;
            self.scope_to_object(&object, msg, state, &mut out.reply)
                .await;
            return out;
        }

        // Unsure between close candidates, but with real evidence: answer the best one and offer
        // the others, rather than making someone at 3 a.m. answer a quiz first.
        let close_call = match (&intent, &classification) {
            (None, Some(c))
                if c.candidates
                    .first()
                    .is_some_and(|x| x.1 >= crate::intents::classify::EVIDENCE) =>
            {
                Some(c.clone())
            }
            _ => None,
        };
        if let Some(c) = close_call {
            state.unsure_streak += 1;
            let mut out = self.route(&c.intent, msg, state).await;
            if state.pending.is_none() {
                let options: Vec<Choice> = c
                    .candidates
                    .iter()
                    .skip(1)
                    .filter(|(n, s)| {
                        *s > 0.0 && !CONVERSATIONAL.contains(&n.as_str()) && n != "out_of_scope"
                    })
                    .filter(|(n, _)| state.intent.as_deref() != Some(n.as_str()))
                    .filter_map(|(n, _)| self.inner.catalog.intent(n))
                    // Not a topic whose main check this target's engine lacks (transaction ID
                    // wraparound offered on MariaDB).
                    .filter(|i| {
                        let engine = state
                            .slots
                            .target
                            .as_deref()
                            .and_then(|t| self.target(t))
                            .map(|t| t.engine);
                        match (engine, i.diagnostics.first()) {
                            (Some(e), Some(main)) => {
                                !crate::diagnostics::catalog::variants(e, main).is_empty()
                            }
                            _ => true,
                        }
                    })
                    .map(|i| Choice {
                        label: i.title.clone(),
                        value: i.name.clone(),
                    })
                    .collect();
                if !options.is_empty() {
                    out.reply.push(Part::Choices {
                        id: "intent".into(),
                        prompt: "Not what you meant? I can also look at:".into(),
                        options: options.clone(),
                    });
                    state.pending = Some(Pending::Intent {
                        options,
                        text: text.to_string(),
                    });
                }
            }
            return out;
        }

        match intent {
            Some(i) => {
                state.unsure_streak = 0;
                let mut out = self.route(&i, msg, state).await;
                if let Some(notice) = merged.notice {
                    out.reply.parts.insert(0, Part::Context { text: notice });
                }
                if let Some(object) = rescoped {
                    self.scope_to_object(&object, msg, state, &mut out.reply)
                        .await;
                }
                out
            }
            // A symptom on a known target ("the db is on fire, what is running?") gets the live
            // triage rather than a "what did you mean" question.
            None if (super::answers::is_symptom(text) || super::answers::asks_what_runs(text))
                && (state.slots.target.is_some() || self.inner.config.targets.len() == 1) =>
            {
                state.unsure_streak = 0;
                self.answer("health_check", msg, state).await
            }
            None => {
                state.unsure_streak += 1;
                let mut reply = self.ask_intent(
                    text,
                    classification.map(|c| c.candidates).unwrap_or_default(),
                    state,
                );
                let esc = &self.inner.escalation;
                if esc.enabled
                    && esc.auto_on_unsure
                    && state.unsure_streak >= 2
                    && state.case_id.is_none()
                {
                    let pending = state.pending.take();
                    let notice = self
                        .escalate(
                            msg,
                            state,
                            "I could not understand the request twice in a row",
                            None,
                        )
                        .await;
                    state.pending = pending;
                    reply.parts.extend(notice.parts);
                }
                reply.into()
            }
        }
    }

    async fn run_command(
        &self,
        cmd: Command,
        msg: &InboundMessage,
        state: &mut ThreadState,
    ) -> Outcome {
        match cmd {
            Command::Help => self.answer("help", msg, state).await,
            Command::Targets => self.answer("list_targets", msg, state).await,
            Command::Forget => self.answer("forget", msg, state).await,
            Command::Escalate(note) => self
                .escalate(msg, state, "requested by the user", note)
                .await
                .into(),
            Command::Cases => self.list_cases(msg).await.into(),
            Command::Case { verb, id, text } => {
                self.case_action(msg, &verb, &id, &text).await.into()
            }
            Command::Ask(q) => {
                let mut m = msg.clone();
                m.text = q;
                Box::pin(self.respond(&m, state)).await
            }
            Command::Explain(sql) => {
                // "explain SELECT … on orders-pg": the trailing target is a slot, not SQL.
                let stripped =
                    crate::intents::slots::strip_trailing_target(&sql, &self.inner.target_names);
                if stripped != sql {
                    if let Some(t) = self.extract(&msg.text).slots.target {
                        state.slots.target = Some(t);
                    }
                }
                state.slots.sql = Some(stripped);
                self.answer("explain_query", msg, state).await
            }
            Command::Status { target } => {
                if let Some(t) = target {
                    self.take_target_word(state, &t);
                }
                self.answer("health_check", msg, state).await
            }
            Command::Report { name, target } => {
                state.slots.report = name;
                if let Some(t) = target {
                    self.take_target_word(state, &t);
                }
                self.answer("report_request", msg, state).await
            }
        }
    }

    /// Resolves a target word from a command (typo-tolerant); unknown words are kept so the
    /// answer can say the target is unknown and offer the real ones.
    /// True when the error code in the message belongs to a playbook (on some engine) and the
    /// classifier picked another one: "can't write, SQLITE_BUSY everywhere" is a lock question,
    /// not an access request. The code is the stronger evidence; its lookup answers with the
    /// code's playbook when the database is known.
    fn code_points_elsewhere(&self, code: &str, classified: &str) -> bool {
        let related: Vec<&str> = self.code_intents(code).collect();
        !related.is_empty() && !related.contains(&classified)
    }

    /// The intents the knowledge base relates `code` to, on any engine.
    fn code_intents<'a>(&'a self, code: &str) -> impl Iterator<Item = &'a str> {
        self.inner
            .catalog
            .error_code(code, None)
            .into_iter()
            .filter_map(|e| e.intent.as_deref())
    }

    fn take_target_word(&self, state: &mut ThreadState, word: &str) {
        let ex = self.extract(word);
        match ex.slots.target {
            Some(t) => self.set_slot(state, "target", t),
            None => state.slots.target = Some(word.to_string()),
        }
    }

    /// Merges extracted slots into the thread; returns true when the message changed a slot
    /// (target, environment, engine, cloud) without anything else to go on.
    pub(super) fn merge_slots(&self, state: &mut ThreadState, ex: &Extracted) -> bool {
        self.merge_slots_noting(state, ex).changed
    }

    /// As [`Engine::merge_slots`], saying what happened to the thread's target. Slots stated in
    /// the words win: a stated engine, cloud or environment the current target does not have
    /// moves to the configured target that has them (same base name preferred, the engine kept
    /// unless a new one was stated), or leaves no target (`lost`), never silently another engine.
    pub(super) fn merge_slots_noting(&self, state: &mut ThreadState, ex: &Extracted) -> Merged {
        let before = state.slots.clone();
        let new = &ex.slots;
        let mut notice = None;
        let mut lost = None;
        // A database named this turn that is not configured: not the thread's current one.
        state.slots.unknown_target = new.unknown_target.clone();
        if new.unknown_target.is_some() && new.target.is_none() {
            state.slots.target = None;
        }
        if let Some(t) = &new.target {
            self.set_slot(state, "target", t.clone());
            state.slots.advice_only = false;
        } else if new.engine.is_some() || new.cloud.is_some() || new.environment.is_some() {
            let current = state
                .slots
                .target
                .as_deref()
                .and_then(|a| self.target(a))
                .cloned();
            for name in ["engine", "cloud", "environment", "flavor", "version"] {
                if let Some(v) = new.get(name) {
                    state.slots.set(name, Some(v.to_string()));
                }
            }
            if new.engine.is_some() && new.flavor.is_none() {
                state.slots.flavor = None;
            }
            if let Some(cur) = current {
                let fits = new
                    .engine
                    .as_deref()
                    .is_none_or(|e| e == cur.engine.as_str())
                    && new.cloud.as_deref().is_none_or(|c| c == cur.cloud)
                    && new
                        .environment
                        .as_deref()
                        .is_none_or(|e| e == cur.environment);
                if !fits {
                    // The constraint: what was stated now, the current engine otherwise.
                    let want = Slots {
                        engine: new
                            .engine
                            .clone()
                            .or_else(|| Some(cur.engine.as_str().to_string())),
                        cloud: new.cloud.clone(),
                        environment: new
                            .environment
                            .clone()
                            .or_else(|| Some(cur.environment.clone())),
                        ..Slots::default()
                    };
                    let fit = self.fitting_targets(&want);
                    let base = base_name(&cur.alias);
                    let same_base: Vec<_> =
                        fit.iter().filter(|t| base_name(&t.alias) == base).collect();
                    let pick = match (same_base.len(), fit.len()) {
                        (1, _) => Some(same_base[0].alias.clone()),
                        (_, 1) => Some(fit[0].alias.clone()),
                        _ => None,
                    };
                    state.slots.target = None;
                    state.slots.engine = want.engine.clone();
                    state.slots.environment = want.environment.clone();
                    state.slots.cloud = want.cloud.clone();
                    match pick {
                        Some(alias) => {
                            self.set_slot(state, "target", alias.clone());
                            if let Some(t) = self.target(&alias) {
                                notice = Some(format!(
                                    "Switched from {} to {} ({}, {}, {}), the configured database that matches.",
                                    cur.alias,
                                    t.alias,
                                    t.engine.display(),
                                    t.environment,
                                    t.cloud
                                ));
                            }
                        }
                        None if fit.is_empty() => lost = Some(cur.alias.clone()),
                        None => {}
                    }
                }
            }
        }
        let mut rest = new.clone();
        rest.target = None;
        rest.engine = None;
        rest.cloud = None;
        rest.environment = None;
        rest.flavor = None;
        rest.version = None;
        state.slots.merge(&rest);
        if !ex.ambiguous_targets.is_empty() && new.target.is_none() {
            state.slots.target = None;
        }
        let changed = before.target != state.slots.target
            || before.environment != state.slots.environment
            || before.engine != state.slots.engine
            || before.cloud != state.slots.cloud;
        Merged {
            changed: changed && new.sql.is_none() && new.error_code.is_none(),
            notice,
            lost,
        }
    }

    /// "No staging PostgreSQL database is configured (orders-pg is prod)": after a follow-up
    /// left no matching target, say so and ask rather than switch engine silently.
    fn ask_after_lost_target(&self, lost: &str, intent: &str, state: &mut ThreadState) -> Reply {
        let what = describe(&state.slots);
        let was = self
            .target(lost)
            .map(|t| {
                format!(
                    "{} is {}, {}, {}",
                    t.alias,
                    t.engine.display(),
                    t.environment,
                    t.cloud
                )
            })
            .unwrap_or_else(|| lost.to_string());
        state.intent = Some(intent.to_string());
        let mut r = self.ask_slot("target", intent, state, &[]);
        r.parts.insert(
            0,
            Part::Paragraph {
                text: format!(
                    "No configured database is {what} ({was}), so I did not switch to a different engine. Pick one, or answer \"none\" for advice without live diagnostics."
                ),
            },
        );
        r
    }

    /// Sets a slot; a target also sets engine, environment and cloud from its configuration.
    pub(super) fn set_slot(&self, state: &mut ThreadState, slot: &str, value: String) {
        if slot == "target" {
            if let Some(t) = self.target(&value) {
                state.slots.target = Some(t.alias.clone());
                state.slots.engine = Some(t.engine.as_str().to_string());
                state.slots.environment = Some(t.environment.clone());
                state.slots.cloud = Some(t.cloud.clone());
                return;
            }
        }
        state.slots.set(slot, Some(value));
    }

    /// Asks for a missing required slot, offering the valid choices.
    pub(super) fn ask_slot(
        &self,
        slot: &str,
        intent: &str,
        state: &mut ThreadState,
        candidates: &[String],
    ) -> Reply {
        let title = self
            .inner
            .catalog
            .intent(intent)
            .map(|i| i.title.clone())
            .unwrap_or_else(|| intent.to_string());
        // The words are data (intents/slot-questions.toml).
        let ask = |key: &str| self.inner.catalog.slot_questions.get(key, &title, slot);
        let (question, options): (String, Vec<Choice>) = match slot {
            "target" => {
                let env = state.slots.environment.clone();
                let mut targets: Vec<&crate::config::Target> = self
                    .inner
                    .config
                    .targets
                    .iter()
                    .filter(|t| candidates.is_empty() || candidates.contains(&t.alias))
                    .collect();
                if let Some(e) = &env {
                    let in_env: Vec<_> = targets
                        .iter()
                        .copied()
                        .filter(|t| &t.environment == e)
                        .collect();
                    if !in_env.is_empty() {
                        targets = in_env;
                    }
                }
                let options: Vec<Choice> = targets
                    .iter()
                    .map(|t| Choice {
                        label: format!(
                            "{} ({}, {}, {})",
                            t.alias,
                            t.engine.display(),
                            t.environment,
                            t.cloud
                        ),
                        value: t.alias.clone(),
                    })
                    .collect();
                let advice = if matches!(intent, "report_request" | "explain_query") {
                    String::new()
                } else {
                    ask("target_or_none")
                };
                (format!("{}{advice}", ask("target")), options)
            }
            "report" => (
                ask("report"),
                self.inner
                    .catalog
                    .reports
                    .iter()
                    .map(|r| Choice {
                        label: format!("{} — {}", r.name, r.title),
                        value: r.name.clone(),
                    })
                    .collect(),
            ),
            "sql" | "error_code" => (ask(slot), vec![]),
            _ => (ask("other"), vec![]),
        };
        state.pending = Some(Pending::Slot {
            slot: slot.to_string(),
            intent: intent.to_string(),
            options: options.clone(),
        });
        let mut r = Reply {
            intent: Some(intent.to_string()),
            ..Reply::default()
        };
        if options.is_empty() {
            if slot == "target" {
                r.push(Part::Paragraph {
                    text: ask("no_targets"),
                });
            } else {
                r.push(Part::Paragraph { text: question });
            }
        } else {
            r.push(Part::Choices {
                id: slot.to_string(),
                prompt: question,
                options,
            });
        }
        r
    }

    fn ask_again(&self, pending: &Pending) -> Reply {
        let mut r = Reply::default();
        match pending {
            Pending::Slot {
                slot,
                intent,
                options,
            } => {
                r.intent = Some(intent.clone());
                if options.is_empty() {
                    r.push(Part::Paragraph {
                        text: self
                            .inner
                            .catalog
                            .slot_questions
                            .get("still_need", "", slot),
                    });
                } else {
                    r.push(Part::Choices {
                        id: slot.clone(),
                        prompt: format!(
                            "Sorry, I did not get that. Please pick the {slot} by number or name:"
                        ),
                        options: options.clone(),
                    });
                }
            }
            Pending::Intent { options, .. } => {
                r.push(Part::Choices {
                    id: "intent".into(),
                    prompt: "Sorry, I did not get that. Which of these did you mean?".into(),
                    options: options.clone(),
                });
            }
        }
        r
    }

    fn ask_intent(
        &self,
        text: &str,
        candidates: Vec<(String, f64)>,
        state: &mut ThreadState,
    ) -> Reply {
        let options: Vec<Choice> = candidates
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "out_of_scope" | "greeting"))
            .filter_map(|(n, _)| self.inner.catalog.intent(n))
            .map(|i| Choice {
                label: i.title.clone(),
                value: i.name.clone(),
            })
            .collect();
        let mut r = Reply {
            intent: Some("unclear".into()),
            ..Reply::default()
        };
        if options.is_empty() {
            r.push(Part::Paragraph {
                text: "I'm not sure what you need. I help with database troubleshooting, slow queries, locks, replication, space, indexes, configuration, capacity and security. Try \"orders-prod is slow since 10:00\", \"report health demo\" or \"help\".".into(),
            });
            return r;
        }
        state.pending = Some(Pending::Intent {
            options: options.clone(),
            text: text.to_string(),
        });
        r.push(Part::Choices {
            id: "intent".into(),
            prompt: "I'm not sure I understood. Did you mean one of these?".into(),
            options,
        });
        r
    }

    /// "Checking orders-prod…" when this message will run diagnostics.
    pub(super) fn progress_hint_for(&self, msg: &InboundMessage) -> Option<String> {
        // Commands that run diagnostics.
        match command::parse(&msg.text) {
            Some(Command::Report { name, target }) => {
                return Some(format!(
                    "Running the {} report{}…",
                    name.unwrap_or_default(),
                    target.map(|t| format!(" on {t}")).unwrap_or_default()
                ));
            }
            Some(Command::Status { target }) => {
                return Some(format!(
                    "Checking {}…",
                    target.unwrap_or_else(|| "the database".into())
                ))
            }
            Some(Command::Explain(_)) => return Some("Planning the query (EXPLAIN only)…".into()),
            Some(Command::Ask(q)) => {
                let mut m = msg.clone();
                m.text = q;
                return self.progress_hint_for(&m);
            }
            Some(_) => return None,
            None => {}
        }
        let ex = self.extract(&msg.text);
        if let (Some(report), true) = (
            &ex.slots.report,
            ex.slots.target.is_some() || self.inner.config.targets.len() == 1,
        ) {
            return Some(format!("Running the {report} report…"));
        }
        // The target the turn would pick from what the message states (none in advice mode).
        let fitting = self.fitting_targets(&ex.slots);
        let only = (fitting.len() == 1 && ex.slots.unknown_target.is_none())
            .then(|| fitting[0].alias.clone());
        let target = ex.slots.target.or(only)?;
        let c = self.inner.classifier.classify(&msg.text)?;
        let intent = self.inner.catalog.intent(&c.intent)?;
        (!intent.diagnostics.is_empty() && !CONVERSATIONAL.contains(&intent.name.as_str()))
            .then(|| format!("Checking {target}…"))
    }
}

/// The question a slot answer ("orders-pg", "1") completes: this message's identity with the
/// text of the user's previous turn, so the answer still reads the question's words (its
/// symptom, the table it names, "what is running") rather than the slot value alone. The
/// current message is already the last user turn.
fn resumed(msg: &InboundMessage, state: &ThreadState) -> InboundMessage {
    let mut m = msg.clone();
    if let Some(q) = state.turns.iter().rev().filter(|t| t.role == "user").nth(1) {
        m.text = q.text.clone();
        m.choice = None;
    }
    m
}

/// The value a message picks from a pending question: a clicked choice, a number or ordinal
/// ("7", "#2", "the second"), a name, part of a name, a typo of one, or an engine name ("the
/// postgres one") that only one of the offered targets has.
fn resolve_choice(
    pending: &Pending,
    msg: &InboundMessage,
    targets: &[crate::config::Target],
) -> Option<String> {
    let (id, options) = match pending {
        Pending::Slot { slot, options, .. } => (slot.as_str(), options),
        Pending::Intent { options, .. } => ("intent", options),
    };
    if let Some(c) = &msg.choice {
        if c.choice_id == id && (options.is_empty() || options.iter().any(|o| o.value == c.value)) {
            return Some(c.value.clone());
        }
    }
    let t = msg
        .text
        .trim()
        .trim_end_matches(['.', '!', '?', ')'])
        .trim()
        .to_lowercase();
    let real: Vec<&Choice> = options
        .iter()
        .filter(|o| o.value != ADVICE_CHOICE)
        .collect();
    if let Some(n) = ordinal(&t) {
        return options.get(n.checked_sub(1)?).map(|o| o.value.clone());
    }
    if let Some(o) = options
        .iter()
        .find(|o| o.value.to_lowercase() == t || o.label.to_lowercase() == t)
    {
        return Some(o.value.clone());
    }
    let words: Vec<&str> = t
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| {
            w.len() >= 3
                && !matches!(
                    *w,
                    "the" | "one" | "that" | "this" | "use" | "database" | "db"
                )
        })
        .collect();
    // A close typo of an option value ("ordres-prod"), as the whole answer or one word of it.
    let typo = |w: &str, v: &str| {
        let budget = if v.len() >= 9 { 2 } else { 1 };
        w.len() >= 5 && strsim::damerau_levenshtein(v, w) <= budget
    };
    let hits: Vec<&&Choice> = real
        .iter()
        .filter(|o| {
            let v = o.value.to_lowercase();
            typo(&t, &v) || words.iter().any(|w| typo(w, &v))
        })
        .collect();
    if hits.len() == 1 {
        return Some(hits[0].value.clone());
    }
    // Part of a name ("orders" when only orders-pg is offered, "billing" for billing-prod).
    let partial: Vec<&&Choice> = real
        .iter()
        .filter(|o| {
            let v = o.value.to_lowercase();
            words.iter().any(|w| {
                v.split(['-', '_']).any(|p| p == *w) || (w.len() >= 4 && v.starts_with(*w))
            })
        })
        .collect();
    if partial.len() == 1 {
        return Some(partial[0].value.clone());
    }
    // "the postgres one", "the mariadb db", "the one on aws", "the staging one".
    let d = crate::intents::slots::deployment(&t);
    let env = words
        .iter()
        .find_map(|w| crate::config::normalize_environment(w));
    if d.engine.is_some() || d.cloud.is_some() || env.is_some() {
        let by_kind: Vec<&&Choice> = real
            .iter()
            .filter(|o| {
                targets.iter().any(|tg| {
                    tg.alias == o.value
                        && d.engine.is_none_or(|e| e == tg.engine.as_str())
                        && d.cloud.is_none_or(|c| c == tg.cloud)
                        && env.is_none_or(|e| e == tg.environment)
                })
            })
            .collect();
        if by_kind.len() == 1 {
            return Some(by_kind[0].value.clone());
        }
    }
    None
}

/// "7", "#2", "2nd", "option 3", "the second one", "first" → 1-based position.
fn ordinal(t: &str) -> Option<usize> {
    const WORDS: &[&str] = &[
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    let t = t
        .trim_start_matches("the ")
        .trim_start_matches("option ")
        .trim_start_matches("number ")
        .trim_start_matches("no. ")
        .trim_start_matches('#')
        .trim_end_matches(" one")
        .trim_end_matches(" option")
        .trim();
    if let Ok(n) = t.parse::<usize>() {
        return Some(n);
    }
    for suf in ["st", "nd", "rd", "th"] {
        if let Some(n) = t.strip_suffix(suf).and_then(|d| d.parse::<usize>().ok()) {
            return Some(n);
        }
    }
    if t == "last" {
        return None;
    }
    WORDS.iter().position(|w| *w == t).map(|i| i + 1)
}

/// "what about the customers table?" → `customers`; "and orders?" → `orders`.
fn what_about(text: &str) -> Option<String> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:ok(?:ay)?,?\s+|and\s+|so\s+)?(?:what|how)\s+about\s+(?:the\s+|on\s+|for\s+|in\s+)?`?([a-z_][a-z0-9_.\-]*)`?(?:\s+(?:table|index|one|collection|schema|db|database))?\s*\??\s*$|^\s*and\s+(?:the\s+)?`?([a-z_][a-z0-9_.\-]*)`?(?:\s+table)?\s*\?\s*$")
            .expect("static regex")
    });
    let c = RE.captures(text)?;
    let w = c.get(1).or_else(|| c.get(2))?.as_str().to_lowercase();
    (!matches!(w.as_str(), "it" | "that" | "this" | "them" | "now" | "then")).then_some(w)
}

/// One word-bounded, case-insensitive pattern matching every configured target name and alias
/// (`None` without targets).
pub(super) fn target_words(targets: &[crate::intents::slots::TargetName]) -> Option<regex::Regex> {
    let names: Vec<String> = targets
        .iter()
        .flat_map(|t| std::iter::once(&t.alias).chain(&t.aliases))
        .filter(|n| !n.is_empty())
        .map(|n| regex::escape(n))
        .collect();
    if names.is_empty() {
        return None;
    }
    regex::RegexBuilder::new(&format!(
        r"(^|[^A-Za-z0-9_-])(?:{})($|[^A-Za-z0-9_-])",
        names.join("|")
    ))
    .case_insensitive(true)
    .build()
    .ok()
}

/// `text` with every configured target name and alias blanked out, so the classifier reads
/// only the question.
pub(super) fn without_target_names(text: &str, names: Option<&regex::Regex>) -> String {
    match names {
        Some(re) => re.replace_all(text, "$1 $2").into_owned(),
        None => text.to_string(),
    }
}

fn base_name(alias: &str) -> String {
    alias
        .split(['-', '_'])
        .next()
        .unwrap_or(alias)
        .to_lowercase()
}

fn looks_like_bare_sql(text: &str) -> bool {
    let l = text.trim_start().to_lowercase();
    [
        "select ",
        "with ",
        "delete ",
        "update ",
        "insert ",
        "drop ",
        "truncate ",
        "alter ",
    ]
    .iter()
    .any(|k| l.starts_with(k))
}

impl Slots {
    /// True when nothing identifies the database (used by answers).
    pub fn lacks_target(&self) -> bool {
        self.target.is_none()
    }
}

/// Second thoughts on the classifier's reading where its words mislead. Returns false when no
/// reading is left (the symptom triage then answers).
/// - "our nightly report is slow", "listing orders is slow": a report of theirs or a listing
///   with a symptom, not a request for one of ours or for the list of databases; the next
///   reading takes its place.
/// - "can you get a real DBA to look at this" asks for a person (escalate), whatever else it
///   resembles; and escalation needs that ask: "the page spins for a minute" is the problem.
/// - "every write froze when the backup kicked off": the freeze (a backup's locks), not the
///   backup's status.
/// - "the report query times out on the replica": a slow statement on a replica, not lag,
///   when nothing says the replica is behind.
/// - "the finance report times out": a statement that times out, not a connection, when
///   nothing in the message is about connecting (no connect, login, refused, TLS, DNS…) and it
///   names a piece of work (a report, a query, a job, an export…).
fn reread(c: &mut crate::intents::Classification, text: &str) -> bool {
    let t = text.to_lowercase();
    let words: Vec<&str> = t
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.iter().any(|l| w.starts_with(l)));
    use super::answers::{asks_for_a_human, is_hang, is_symptom};
    // A report's own name is not a symptom ("the slow-queries report as csv").
    let symptom = is_symptom(&t.replace("slow-queries", " "));
    // "can you get a real DBA to look at this": a person, whatever else it resembles.
    if asks_for_a_human(text)
        && matches!(
            c.intent.as_str(),
            "report_request" | "list_targets" | "help"
        )
    {
        c.intent = "escalate".to_string();
        return true;
    }
    // Escalation is asking for a person; a symptom alone ("the page spins for a minute") is
    // the problem itself.
    if c.intent == "escalate" && !asks_for_a_human(text) && symptom {
        if super::answers::is_slow(text) {
            c.intent = "slow_query".to_string();
        } else if !next_reading(c) {
            return false;
        }
    }
    // "every write froze when the backup kicked off": the freeze is the question (a backup's
    // locks), not the backup's status.
    if c.intent == "backup_status" && (is_hang(text) || t.contains("froze") || t.contains("freez"))
    {
        c.intent = "locks_blocking".to_string();
    }
    if matches!(
        c.intent.as_str(),
        "report_request" | "list_targets" | "help" | "greeting"
    ) && symptom
    {
        // "the month-end export crawls": slowness, whatever the next reading would be.
        if super::answers::is_slow(text) {
            c.intent = "slow_query".to_string();
        } else if !next_reading(c) {
            return false;
        }
    }
    const CONNECTING: &[&str] = &[
        "connect",
        "talk",
        "login",
        "logon",
        "log",
        "reach",
        "unreachable",
        "auth",
        "password",
        "ssl",
        "tls",
        "handshake",
        "dns",
        "resolv",
        "refus",
        "pg_hba",
        "denied",
        "network",
        "firewall",
        "socket",
        "port",
        "host",
        "psql",
        "client",
        "pool",
        "driver",
    ];
    const WORK: &[&str] = &[
        "report",
        "query",
        "queries",
        "job",
        "select",
        "export",
        "import",
        "dashboard",
        "batch",
        "etl",
        "statement",
        "migration",
        "update",
        "insert",
        "delete",
        "cron",
        "search",
        "request",
        "checkout",
        "page",
        "endpoint",
        "api",
        "transaction",
        "procedure",
        "task",
    ];
    let timeout = t.contains("time out")
        || t.contains("times out")
        || t.contains("timing out")
        || has(&["timeout", "timed"]);
    if c.intent == "connection_errors" && timeout && !has(CONNECTING) && has(WORK) {
        c.intent = "slow_query".to_string();
    }
    // A time limit is the topic only when the words say something was stopped by one ("gets
    // cancelled", "interrupted", "statement_timeout", 57014); a report that "times out" is a
    // slow statement.
    const STOPPED: &[&str] = &[
        "cancel",
        "interrupt",
        "kill",
        "abort",
        "cut",
        "statement_timeout",
        "max_statement_time",
        "max_execution_time",
        "lock_timeout",
        "limit",
        "57014",
        "1969",
        "3024",
    ];
    if c.intent == "statement_timeouts" && !has(STOPPED) {
        c.intent = "slow_query".to_string();
    }
    // "the report query times out on the replica": a slow statement that runs on a replica,
    // not replication lag, when nothing says the replica is behind.
    const LAGGING: &[&str] = &[
        "lag",
        "behind",
        "delay",
        "stale",
        "catch",
        "caught",
        "replay",
        "apply",
        "seconds_behind",
        "broken",
        "stopped",
        "sync",
    ];
    if c.intent == "replication_lag"
        && (timeout || super::answers::is_slow(text))
        && has(WORK)
        && !has(LAGGING)
    {
        c.intent = "slow_query".to_string();
    }
    true
}

/// Drops the classifier's current reading: the next candidate with any score takes its place.
/// False when none is left.
fn next_reading(c: &mut crate::intents::Classification) -> bool {
    let dropped = std::mem::take(&mut c.intent);
    c.candidates.retain(|(n, s)| *n != dropped && *s > 0.0);
    match c.candidates.first() {
        Some((next, _)) => {
            c.intent = next.clone();
            true
        }
        None => false,
    }
}
