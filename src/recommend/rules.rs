//! The rule-based recommender: applies an intent's playbook to the findings.
//!
//! A step applies when its `when` finding code is among the findings (once per matching finding,
//! at most three times) or when it has no `when`; `engine` and `cloud` restrict it to the known
//! engine and cloud. Findings that carry ready SQL (`drop_sql`, `create_sql`) add an immediate
//! action even when the playbook has no step for them, so a named culprit always comes with a fix.

use super::template::fill;
use super::{Action, Context, RecommendError, Recommendation, Recommender};
use crate::diagnostics::Finding;
use crate::intents::Step;
use async_trait::async_trait;
use dbabot_chat::Severity;
use std::collections::BTreeMap;

mod safety;

/// Steps rendered per `when` step at most (e.g. three blocking pairs).
const MAX_PER_STEP: usize = 3;

/// Playbook-driven recommendations; needs no network and answers in microseconds.
#[derive(Debug, Default, Clone)]
pub struct RulesRecommender;

#[async_trait]
impl Recommender for RulesRecommender {
    fn name(&self) -> String {
        "rules".into()
    }

    async fn recommend(&self, ctx: &Context<'_>) -> Result<Recommendation, RecommendError> {
        Ok(recommend(ctx))
    }
}

/// Synchronous core of the rules recommender (used directly by benchmarks).
pub fn recommend(ctx: &Context<'_>) -> Recommendation {
    let pb = &ctx.intent.playbook;
    let mut findings: Vec<Finding> = ctx
        .outcomes
        .iter()
        .flat_map(|o| o.findings.iter().cloned())
        .collect();
    safety::reconcile(&mut findings);
    merge_same_failures(&mut findings);
    // A server-wide counter the overview notes at info level (InnoDB deadlocks since the
    // server started, a cache hit ratio) is context only where the answer's playbook has a
    // line for it: beside a replication or slow-query answer it is noise.
    let lines = pb.lines();
    findings.retain(|f| {
        f.check != "overview"
            || f.code == "overview"
            || f.severity > Severity::Info
            || lines
                .iter()
                .any(|(_, s)| s.when.as_deref() == Some(f.code.as_str()))
    });
    // Most severe first; within a severity, those about the object the user named first.
    let object = ctx.slots.object.clone().unwrap_or_default().to_lowercase();
    let mentions = |f: &Finding| !object.is_empty() && f.title.to_lowercase().contains(&object);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(mentions(b).cmp(&mentions(a)))
    });

    let engine = ctx
        .target
        .map(|t| t.engine.as_str().to_string())
        .or_else(|| ctx.slots.engine.clone());
    let cloud = ctx
        .target
        .map(|t| t.cloud.clone())
        .or_else(|| ctx.slots.cloud.clone());
    let mut vars = BTreeMap::new();
    for name in crate::intents::slots::NAMES {
        if let Some(v) = ctx.slots.get(name) {
            vars.insert(name.to_string(), v.to_string());
        }
    }
    if let Some(t) = ctx.target {
        vars.insert("target".into(), t.alias.clone());
        vars.insert("engine".into(), t.engine.display().to_string());
        vars.insert("environment".into(), t.environment.clone());
        vars.insert("cloud".into(), t.cloud.clone());
    }
    // Prose defaults for slots nobody gave ("the table"): fine in a sentence, never in SQL.
    let mut defaulted: Vec<(&str, &str)> = Vec::new();
    for (k, default) in [
        ("target", "the database"),
        ("engine", "the engine"),
        ("environment", "its environment"),
        ("cloud", "its hosting"),
        ("object", "the table"),
    ] {
        if !vars.contains_key(k) {
            vars.insert(k.to_string(), default.to_string());
            defaulted.push((k, default));
        }
    }

    // The application role the evidence names, for `<role>` in statements ("ALTER ROLE <role>
    // SET idle_in_transaction_session_timeout"): a role at its own connection limit, the owner
    // of an idle transaction, else the login holding the most sessions. PostgreSQL only.
    let role: Option<String> = (engine.as_deref() == Some("postgres"))
        .then(|| {
            findings.iter().find_map(|f| {
                let fact = |k: &str| f.facts.get(k).filter(|v| !v.is_empty()).cloned();
                match f.code.as_str() {
                    "scoped_connection_limit"
                        if f.facts.get("scope").is_some_and(|s| s == "role") =>
                    {
                        fact("name")
                    }
                    "idle_in_transaction" | "connections_by_state" => fact("user"),
                    _ => None,
                }
            })
        })
        .flatten()
        .map(|r| crate::diagnostics::catalog::quote_ident(&r));
    let applies = |s: &Step| {
        let engine_ok = match (&s.engine, &engine) {
            (None, _) => true,
            (Some(se), Some(e)) => se == e,
            (Some(_), None) => false,
        };
        let cloud_ok = match (&s.cloud, &cloud) {
            (None, _) => true,
            (Some(sc), Some(c)) => cloud_key(sc) == cloud_key(c),
            (Some(_), None) => false,
        };
        let ruled_out = s
            .unless
            .iter()
            .any(|u| findings.iter().any(|f| &f.code == u));
        // A "look it up yourself" line for what a check of this turn already looked up.
        let looked_up = s.checked_by.as_ref().is_some_and(|c| {
            ctx.outcomes
                .iter()
                .any(|o| &o.name == c && o.status == crate::diagnostics::CheckStatus::Ok)
        });
        engine_ok && cloud_ok && !ruled_out && !looked_up
    };
    let render = |steps: &[Step]| -> Vec<Action> {
        let mut out: Vec<Action> = Vec::new();
        for s in steps.iter().filter(|s| applies(s)) {
            // Beside a warning or worse, a step is not repeated for the same code's info-level
            // findings (no KILL for the 7-second statement next to the 10-minute one).
            let matches: Vec<&Finding> = match &s.when {
                None => vec![],
                Some(code) => {
                    let same: Vec<&Finding> = findings.iter().filter(|f| &f.code == code).collect();
                    let serious = same.iter().any(|f| f.severity >= Severity::Warning);
                    same.into_iter()
                        .filter(|f| !serious || f.severity >= Severity::Warning)
                        .take(MAX_PER_STEP)
                        .collect()
                }
            };
            if s.when.is_some() && matches.is_empty() {
                continue;
            }
            let contexts: Vec<BTreeMap<String, String>> = if matches.is_empty() {
                vec![vars.clone()]
            } else {
                matches
                    .iter()
                    .map(|f| {
                        let mut v = vars.clone();
                        v.extend(f.facts.clone());
                        v
                    })
                    .collect()
            };
            for v in contexts {
                // A step whose text or SQL needs a fact the finding does not have is left out
                // rather than shown with a hole (`<pid>`, `n/a`).
                if safety::has_unfilled(&s.text, &v)
                    || s.sql
                        .as_deref()
                        .is_some_and(|q| safety::has_unfilled(q, &v))
                {
                    continue;
                }
                let text = fill(&s.text, &v);
                // SQL needs the real name: a slot filled only with its prose default ("CHECK
                // TABLE the table;") leaves the statement out, and the text says what is needed.
                let mut sql_vars = v.clone();
                for (k, default) in &defaulted {
                    if sql_vars.get(*k).is_some_and(|x| x == default) {
                        sql_vars.remove(*k);
                    }
                }
                if s.sql
                    .as_deref()
                    .is_some_and(|q| safety::has_unfilled(q, &sql_vars))
                {
                    let a = Action {
                        text: format!(
                            "{text} (tell me which one and I will fill in the statement)"
                        ),
                        sql: None,
                    };
                    if !out.contains(&a) {
                        out.push(a);
                    }
                    continue;
                }
                let sql = s.sql.as_ref().map(|q| fill(q, &v));
                // Literal `<table>` holes: filled from the named object, else the statement is
                // left out and the text says what is needed.
                let object = ctx.slots.object.as_deref();
                let a = match sql
                    .as_deref()
                    .map(|q| safety::fill_literal_holes(q, object, role.as_deref()))
                {
                    Some(None) => Action {
                        text: format!(
                            "{text} (tell me the {} and I will fill in the statement)",
                            sql.as_deref()
                                .and_then(safety::first_hole)
                                .map(|h| h.replace(['_', '.'], " "))
                                .unwrap_or_else(|| "name".into())
                        ),
                        sql: None,
                    },
                    Some(Some(q)) => Action {
                        text: safety::fill_literal_holes(&text, object, role.as_deref())
                            .unwrap_or(text),
                        sql: Some(q),
                    },
                    None => Action {
                        text: safety::fill_literal_holes(&text, object, role.as_deref())
                            .unwrap_or(text),
                        sql: None,
                    },
                };
                // The same statement from two findings about one cause (an unindexed foreign
                // key seen by two checks) is shown once, under the first step's words.
                let repeated_sql = a.sql.is_some() && out.iter().any(|x| x.sql == a.sql);
                if !repeated_sql && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    };

    // With a knowledge-base hit, its causes and fixes replace the playbook's generic steps.
    let kb_hit = !ctx.error_codes.is_empty();
    let specific = |steps: &[Step]| -> Vec<Step> {
        steps
            .iter()
            .filter(|s| !kb_hit || s.when.is_some())
            .cloned()
            .collect()
    };
    // The most severe finding a step's `when` matches (`None` for a general line): what ranks
    // causes and actions by their evidence.
    let backing = |s: &Step| {
        s.when.as_ref().map(|code| {
            findings
                .iter()
                .filter(|f| &f.code == code)
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Ok)
        })
    };
    // Whether a step's evidence comes from one of the intent's own checks rather than a side
    // check the triage or the user's words added: within a severity, the blocker a locks
    // answer is about goes before a stale statistic a slow-query check also saw.
    let backed_by_own_check = |s: &Step| {
        s.when.as_ref().is_some_and(|code| {
            let worst = backing(s).unwrap_or(Severity::Ok);
            findings.iter().any(|f| {
                &f.code == code && f.severity == worst && ctx.intent.diagnostics.contains(&f.check)
            })
        })
    };
    let root_causes: Vec<String> = {
        // The evidence ranks the causes: lines drawn from the most severe findings first (a
        // critical blocker before an info-level statistic), within a severity those from the
        // intent's own checks, in playbook order, then the general lines that no finding backs.
        let mut ranked = specific(&pb.root_causes);
        ranked.sort_by_key(|s| {
            std::cmp::Reverse((backing(s).unwrap_or(Severity::Ok), backed_by_own_check(s)))
        });
        let mut rc: Vec<String> = render(&ranked).into_iter().map(|a| a.text).collect();
        if rc.is_empty() {
            if let Some(f) = findings.iter().find(|f| f.severity >= Severity::Warning) {
                rc.push(format!("The checks point at: {}", f.title));
            } else if !ctx.outcomes.is_empty() && !kb_hit {
                rc.push("None of the checks that ran found a problem; the cause may be outside the database (application, network, client pool) or intermittent. Run the checks again while it happens.".into());
            }
        }
        rc
    };

    // Actions in the order of the evidence behind them: lines for a critical finding before
    // those for a warning, then the rest (lines for context findings and general lines) in
    // playbook order, so the fix for what is wrong now is not buried under routine steps. A
    // finding's own ready statement (fix, drop, create) closes its severity's tier.
    let weight = |s: &Step| backing(s).map_or(Severity::Info, tier);
    let by_evidence = |steps: &[Step]| -> Vec<Step> {
        let mut ranked = steps.to_vec();
        ranked.sort_by_key(|s| std::cmp::Reverse(weight(s)));
        ranked
    };
    // A finding from a check the intent does not list (one the user's words added, such as a
    // slow-query check on a lock question) is context: when the answer already has a warning,
    // its own next step or statement would only distract from the fix for that warning.
    let answered = findings.iter().any(|f| f.severity >= Severity::Warning);
    let own = |f: &Finding| {
        !answered || f.severity >= Severity::Warning || ctx.intent.diagnostics.contains(&f.check)
    };
    let playbook_immediate = specific(&pb.immediate);
    let mut immediate: Vec<Action> = Vec::new();
    for level in [Severity::Critical, Severity::Warning, Severity::Info] {
        let mut steps: Vec<Step> = playbook_immediate
            .iter()
            .filter(|s| weight(s) == level)
            .cloned()
            .collect();
        if level >= Severity::Warning {
            steps.sort_by_key(|s| !backed_by_own_check(s));
        }
        for a in render(&steps) {
            let repeated_sql = a.sql.is_some() && immediate.iter().any(|x| x.sql == a.sql);
            if !repeated_sql && !immediate.contains(&a) {
                immediate.push(a);
            }
        }
        let evidence: Vec<Finding> = findings.iter().filter(|f| own(f)).cloned().collect();
        for a in ready_statements(&evidence, level, &pb.ready, &applies) {
            if !immediate.iter().any(|x| x.sql == a.sql) {
                immediate.push(a);
            }
        }
    }
    // What to find out first, when a finding cannot name its fix yet (with the statement for a
    // candidate fix, `next_sql`, to run only once that is confirmed).
    for f in findings
        .iter()
        .filter(|f| f.severity >= Severity::Info && own(f))
    {
        if let Some(step) = f.facts.get("next_step") {
            let a = Action {
                text: format!("{step}."),
                sql: f.facts.get("next_sql").cloned(),
            };
            if !immediate.contains(&a) {
                immediate.push(a);
            }
        }
    }
    for e in &ctx.error_codes {
        for fix in &e.fixes {
            let a = Action {
                text: fix.clone(),
                sql: None,
            };
            if !immediate.contains(&a) {
                immediate.push(a);
            }
        }
    }

    // Without a target (advice mode) `{target}` already reads "your Aurora PostgreSQL (prod)":
    // the "({engine}, {environment}, {cloud})" that follows it in the playbooks would only repeat
    // raw slot words ("(postgres, prod, aws)", "its environment").
    let situation_template = if ctx.target.is_none() {
        pb.situation
            .replace(" ({engine}, {environment}, {cloud})", "")
            .replace(" ({engine})", "")
    } else {
        pb.situation.clone()
    };
    let mut situation = fill(&situation_template, &vars);
    if let Some(rest) = situation.strip_prefix("your ") {
        situation = format!("Your {rest}");
    }

    if let Some(t) = vars.get("time").filter(|_| ctx.slots.time.is_some()) {
        situation.push_str(&format!(" Reported as starting {t}."));
    }
    for e in &ctx.error_codes {
        situation.push_str(&format!(
            "\n{} {} ({}){}: {}",
            engine_label(&e.engine),
            e.code,
            e.name,
            if e.message.is_empty() {
                String::new()
            } else {
                format!(", \"{}\"", e.message)
            },
            e.meaning
        ));
    }
    let mut root_causes = root_causes;
    for e in &ctx.error_codes {
        for c in &e.causes {
            if !root_causes.contains(c) {
                root_causes.push(c.clone());
            }
        }
    }

    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    safety::guard_actions(&mut immediate, &findings, worst);
    let mut longer_term = render(&by_evidence(&pb.longer_term));
    safety::guard_actions(&mut longer_term, &findings, worst);
    let verify = render(&pb.verify);
    if !ctx.outcomes.is_empty() {
        // The thresholds the checks graded by (the runner's, possibly an edited copy; a failed
        // check's empty rows carry only the embedded defaults).
        let thresholds = ctx
            .outcomes
            .iter()
            .find(|o| o.status == crate::diagnostics::CheckStatus::Ok)
            .map(|o| o.rows.thresholds.clone())
            .unwrap_or_default();
        let note =
            safety::evidence_note(&ctx.intent.name, &findings, engine.as_deref(), &thresholds);
        if let Some(note) = note {
            situation.push(' ');
            situation.push_str(&note);
        }
    }
    let cloud_advice = cloud
        .as_deref()
        .and_then(|c| pb.cloud.get(cloud_key(c)))
        .map(|a| fill(a, &vars));
    let severity = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    Recommendation {
        title: ctx.intent.title.clone(),
        situation: situation.trim().to_string(),
        findings,
        root_causes,
        immediate,
        longer_term,
        verify,
        cloud_advice,
        severity,
        answered_by: "rules".into(),
    }
}

/// Tiers actions are ranked in: critical, warning, and everything else as info.
fn tier(s: Severity) -> Severity {
    s.max(Severity::Info)
}

/// The ready statements carried by findings in `level`'s tier (`fix_sql`, `drop_sql`,
/// `create_sql`: a duplicate index to drop, a missing index to create), with words that say
/// what each does: the finding's own `fix_text`, else the first `finding-actions.toml` entry
/// (`ready`) for its code and statement that `applies` to the engine, else "Fix/Drop/Create:"
/// and the finding's title. Findings below Info severity carry none worth showing.
fn ready_statements(
    findings: &[Finding],
    level: Severity,
    ready: &[Step],
    applies: &dyn Fn(&Step) -> bool,
) -> Vec<Action> {
    let mut out = Vec::new();
    for f in findings
        .iter()
        .filter(|f| f.severity >= Severity::Info && tier(f.severity) == level)
    {
        for (key, verb) in [
            ("fix_sql", "Fix"),
            ("drop_sql", "Drop"),
            ("create_sql", "Create"),
        ] {
            let Some(sql) = f.facts.get(key) else {
                continue;
            };
            let statement = format!("{{{key}}}");
            let described = ready.iter().find(|s| {
                s.when.as_deref() == Some(f.code.as_str())
                    && s.sql.as_deref() == Some(statement.as_str())
                    && applies(s)
                    && !safety::has_unfilled(&s.text, &f.facts)
            });
            let what = match described {
                _ if key == "fix_sql" && f.facts.contains_key("fix_text") => fact(f, "fix_text"),
                Some(s) => fill(&s.text, &f.facts),
                None => format!("{verb}: {}", f.title),
            };
            let a = Action {
                text: what,
                sql: Some(sql.clone()),
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn fact(f: &Finding, k: &str) -> String {
    f.facts
        .get(k)
        .cloned()
        .unwrap_or_else(|| format!("(see the finding: {})", f.title))
}

/// Playbook cloud keys: `aws`, `azure`, `gcp`, `onprem`.
fn cloud_key(c: &str) -> &str {
    match c {
        "on-prem" | "onprem" => "onprem",
        other => other,
    }
}

fn engine_label(e: &str) -> &'static str {
    match e {
        "postgres" => "PostgreSQL",
        "mysql" => "MySQL/MariaDB",
        "mssql" => "SQL Server",
        "oracle" => "Oracle",
        _ => "Error",
    }
}

/// Checks that failed with the same error (the database is unreachable, so every check fails
/// alike) become one finding naming them all, so the answer says it once.
fn merge_same_failures(findings: &mut Vec<Finding>) {
    let mut merged: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings.drain(..) {
        if f.code != "check_failed" {
            // The same finding reached through several checks (a file every check fails to
            // read) is said once.
            // So is one fact two checks measured alike (the connection count from the overview
            // and from the connections check).
            if !merged.iter().any(|m| {
                m.code == f.code
                    && (m.title == f.title || (!f.facts.is_empty() && m.facts == f.facts))
            }) {
                merged.push(f);
            }
            continue;
        }
        let error = f.facts.get("error").cloned().unwrap_or_default();
        let same = merged.iter_mut().find(|m| {
            m.code == "check_failed" && m.facts.get("error").is_some_and(|e| *e == error)
        });
        match same {
            Some(m) => {
                let checks = format!(
                    "{}, {}",
                    m.facts.get("check").cloned().unwrap_or_default(),
                    f.facts.get("check").cloned().unwrap_or_default()
                );
                let n = checks.split(", ").count();
                m.title = format!("{n} checks could not run ({checks}): {error}");
                m.facts.insert("check".into(), checks);
            }
            None => merged.push(f),
        }
    }
    *findings = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Engine, Secret, Target};
    use crate::diagnostics::{CheckOutcome, CheckStatus, ResultSet};
    use crate::intents::{Catalog, Slots};

    /// No unfilled placeholder (`{fact}`, `<name>` in SQL, `n/a`, `unknown`) reaches a user:
    /// every playbook, rendered for every engine and cloud with each `when` finding present but
    /// carrying none of its facts.
    #[test]
    fn every_playbook_renders_without_holes_when_facts_are_missing() {
        let cat = Catalog::embedded().expect("catalog");
        let mut problems = Vec::new();
        for intent in &cat.intents {
            let pb = &intent.playbook;
            let codes: std::collections::BTreeSet<String> = pb
                .root_causes
                .iter()
                .chain(&pb.immediate)
                .chain(&pb.longer_term)
                .chain(&pb.verify)
                .filter_map(|s| s.when.clone())
                .collect();
            let findings: Vec<Finding> = codes
                .iter()
                .map(|c| Finding::new("test", c, Severity::Warning, format!("finding {c}")))
                .collect();
            let outcome = CheckOutcome {
                name: "test".into(),
                title: "test".into(),
                status: CheckStatus::Ok,
                duration_ms: 0,
                rows: ResultSet::default(),
                findings,
            };
            let outcomes = [outcome];
            for engine in [
                Engine::Postgres,
                Engine::Mysql,
                Engine::Sqlite,
                Engine::Mssql,
            ] {
                for cloud in ["aws", "azure", "gcp", "on-prem"] {
                    let target = Target {
                        alias: "t".into(),
                        aliases: vec![],
                        engine,
                        environment: "prod".into(),
                        cloud: cloud.into(),
                        dsn_source: "test".into(),
                        dsn: Secret::new(String::new()),
                    };
                    let slots = Slots::default();
                    let ctx = Context {
                        intent,
                        slots: &slots,
                        target: Some(&target),
                        outcomes: &outcomes,
                        user_text: "",
                        error_codes: vec![],
                        gate: None,
                        allowed_targets: vec![],
                        explain_targets: vec![],
                        turns: &[],
                    };
                    let rec = recommend(&ctx);
                    let mut texts: Vec<(String, bool)> = vec![(rec.situation.clone(), false)];
                    texts.extend(rec.root_causes.iter().map(|t| (t.clone(), false)));
                    for a in rec
                        .immediate
                        .iter()
                        .chain(&rec.longer_term)
                        .chain(&rec.verify)
                    {
                        texts.push((a.text.clone(), false));
                        if let Some(q) = &a.sql {
                            texts.push((q.clone(), true));
                        }
                    }
                    texts.extend(rec.cloud_advice.iter().map(|t| (t.clone(), false)));
                    for (t, is_sql) in texts {
                        let braces = t.contains('{')
                            && crate::recommend::template::placeholders(&t)
                                .iter()
                                .any(|p| !p.is_empty());
                        // Prose may show a command-line template in backticks (`nc -vz <host> <port>`);
                        // SQL may not.
                        let hole = is_sql && safety::fill_literal_holes(&t, None, None).is_none();
                        let lower = t.to_lowercase();
                        let na = lower.contains(" n/a")
                            || lower.contains("(unknown")
                            || lower.contains(": unknown");
                        if braces || hole || na {
                            problems.push(format!("{} [{engine:?}/{cloud}]: {t}", intent.name));
                        }
                    }
                }
            }
        }
        problems.dedup();
        assert!(
            problems.is_empty(),
            "{} holes:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    #[test]
    fn the_same_failure_of_several_checks_is_said_once() {
        let fail = |check: &str, error: &str| {
            Finding::new(
                check,
                "check_failed",
                Severity::Warning,
                format!("{check}: {error}"),
            )
            .fact("check", check)
            .fact("error", error)
        };
        let mut f = vec![
            fail("overview", "cannot connect: refused"),
            fail("connections", "cannot connect: refused"),
            fail("replication", "permission denied"),
            fail("active_queries", "cannot connect: refused"),
        ];
        merge_same_failures(&mut f);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            f[0].facts.get("check").map(String::as_str),
            Some("overview, connections, active_queries")
        );
        assert!(
            f[0].title.starts_with("3 checks could not run"),
            "{}",
            f[0].title
        );
    }
}
