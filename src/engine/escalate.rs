//! Escalation inside a conversation: creating a case, the DBA's actions on it, reminders,
//! automatic triggers, and the audit records of all of it.
//!
//! Everything a case stores or posts (the requester's words, the "Tried / note", findings,
//! the summary that also goes to PagerDuty, the DBA's resolution and questions) passes through
//! [`crate::redact::scrub`] — secrets removed, query literals normalised to `$n` — before it is
//! stored, and again before each post (cases stored by older versions included).

use super::Engine;
use crate::audit::Entry;
use crate::config::Target;
use crate::escalation::case::normalize_id;
use crate::escalation::{priority, Case, CaseStatus};
use crate::memory::ThreadState;
use crate::policy::Action;
use crate::redact::{clip, redact, scrub};
use dbabot_chat::{Choice, Destination, Field, InboundMessage, Part, Reply, Severity};

/// Characters kept of an escalation note, a resolution or a DBA's question.
const NOTE_MAX: usize = 1000;

/// `c` with every free-text field scrubbed ([`scrub`]; ids and names [`redact`]ed).
fn scrubbed(c: &Case) -> Case {
    let mut c = c.clone();
    c.summary = scrub(&c.summary);
    c.trigger = scrub(&c.trigger);
    for list in [
        &mut c.user_words,
        &mut c.findings,
        &mut c.tried,
        &mut c.diagnostics,
    ] {
        for item in list.iter_mut() {
            *item = scrub(item);
        }
    }
    for r in c.recommendations.iter_mut() {
        *r = redact(r);
    }
    for v in [
        &mut c.target,
        &mut c.engine,
        &mut c.environment,
        &mut c.cloud,
        &mut c.resolution,
    ]
    .into_iter()
    .flatten()
    {
        *v = scrub(v);
    }
    c.requester_name = redact(&c.requester_name);
    c
}

/// `HH:MM UTC` of a Unix time in seconds.
fn clock_time(secs: u64) -> String {
    format!("{:02}:{:02} UTC", (secs / 3600) % 24, (secs / 60) % 60)
}

impl Engine {
    /// Appends an audit record for `msg`'s sender; `cost` is (duration in ms, rows read).
    /// Failures are logged, never fatal to the turn.
    pub(super) async fn audit_event(
        &self,
        msg: &InboundMessage,
        target: Option<&str>,
        action: &str,
        check: &str,
        cost: (u64, u64),
        outcome: &str,
    ) {
        let (duration_ms, rows) = cost;
        let entry = Entry {
            platform: msg.platform.to_string(),
            user: msg.user.id.clone(),
            thread: msg.thread_key().to_string(),
            target: target.unwrap_or("").to_string(),
            action: action.to_string(),
            check: check.to_string(),
            duration_ms,
            rows,
            outcome: outcome.to_string(),
        };
        if let Err(e) = self.inner.audit.append(entry, self.now() * 1000).await {
            tracing::error!(error = %e, "audit append failed");
        }
    }

    /// Checks the policy and, for diagnostics and EXPLAIN, takes from the user's budget; on
    /// denial returns the reply to send (and audits the denial).
    pub(super) async fn authorize(
        &self,
        msg: &InboundMessage,
        target: Option<&Target>,
        action: Action<'_>,
    ) -> Result<(), Reply> {
        self.authorize_verdict(msg, target, action)
            .await
            .map_err(|denial| {
                let mut r = Reply {
                    severity: Some(Severity::Warning),
                    intent: Some("denied".into()),
                    ..Reply::default()
                };
                r.push(Part::Paragraph {
                    text: denial.to_string(),
                });
                r
            })
    }

    /// [`Self::authorize`] without the reply: the denial itself (already audited).
    pub(super) async fn authorize_verdict(
        &self,
        msg: &InboundMessage,
        target: Option<&Target>,
        action: Action<'_>,
    ) -> Result<(), crate::policy::Denial> {
        let what = match action {
            Action::Diagnostic { check } => check.to_string(),
            Action::Explain => "explain".into(),
            Action::EscalationAction => "case action".into(),
            Action::ListCases => "cases".into(),
        };
        let verdict =
            self.inner
                .policy
                .check(msg, target, action)
                .and_then(|_| match (action, target) {
                    (Action::Diagnostic { .. } | Action::Explain, Some(t)) => {
                        self.inner.policy.take_budget(msg, t)
                    }
                    _ => Ok(()),
                });
        if let Err(denial) = &verdict {
            self.audit_event(
                msg,
                target.map(|t| t.alias.as_str()),
                "denial",
                &format!("{what}: {}", denial.why),
                (0, 0),
                "denied",
            )
            .await;
        }
        verdict
    }

    async fn post(&self, dest: &Destination, reply: &Reply) -> bool {
        let Some(outbox) = self.inner.outbox.get() else {
            return false;
        };
        match outbox.post(dest, reply).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not deliver an escalation message");
                false
            }
        }
    }

    fn handoff(&self, c: &Case, reminder: Option<u32>) -> Reply {
        let c = &scrubbed(c);
        let mut r = Reply {
            severity: c.worst,
            intent: Some("escalation_handoff".into()),
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: format!(
                "[{}] {} · {}",
                c.priority,
                c.id,
                c.target.as_deref().unwrap_or("no target")
            ),
            level: 1,
        });
        if let Some(n) = reminder {
            let mins = (self.now().saturating_sub(c.created_at)) / 60;
            r.push(Part::Paragraph {
                text: format!("⏰ Reminder {n}: still unacknowledged after {mins} min."),
            });
        }
        r.push(Part::Paragraph {
            text: c.summary.clone(),
        });
        let mut fields = vec![
            Field {
                label: "Priority".into(),
                value: c.priority.clone(),
            },
            Field {
                label: "Status".into(),
                value: c.status.as_str().into(),
            },
            Field {
                label: "Requester".into(),
                value: format!("{} ({})", c.requester_name, c.requester_id),
            },
            Field {
                label: "Thread".into(),
                value: c
                    .source_link
                    .clone()
                    .unwrap_or_else(|| c.source.to_string()),
            },
        ];
        for (l, v) in [
            ("Target", &c.target),
            ("Engine", &c.engine),
            ("Environment", &c.environment),
            ("Cloud", &c.cloud),
        ] {
            if let Some(v) = v {
                fields.push(Field {
                    label: l.into(),
                    value: v.clone(),
                });
            }
        }
        r.push(Part::Fields { fields });
        for (title, items) in [
            ("Their words", &c.user_words),
            ("Findings", &c.findings),
            ("Diagnostics run", &c.diagnostics),
            ("Already recommended", &c.recommendations),
            ("Tried / note", &c.tried),
        ] {
            if !items.is_empty() {
                r.push(Part::Heading {
                    text: title.into(),
                    level: 2,
                });
                r.push(Part::Bullets {
                    items: items.clone(),
                });
            }
        }
        r.push(Part::Choices {
            id: format!("case:{}", c.id),
            prompt: "DBA actions".into(),
            options: vec![
                Choice {
                    label: "Take it".into(),
                    value: "ack".into(),
                },
                Choice {
                    label: "Resolve".into(),
                    value: "resolve".into(),
                },
                Choice {
                    label: "Ask the requester".into(),
                    value: "ask".into(),
                },
            ],
        });
        r.push(Part::Context {
            text: format!(
                "Or type: case ack {id} · case resolve {id} <note> · case ask {id} <question>",
                id = c.id
            ),
        });
        r
    }

    /// Creates (or reports) the thread's case and hands it to the DBA destination.
    pub(super) async fn escalate(
        &self,
        msg: &InboundMessage,
        state: &mut ThreadState,
        trigger: &str,
        note: Option<String>,
    ) -> Reply {
        let key = msg.thread_key();
        // Only the case this thread's memory links to: after `forget` the link is gone (the case
        // itself stays with the DBA team) and a new escalation opens a new case.
        if let Some(existing) = self
            .inner
            .cases
            .open_for_thread(&key)
            .await
            .filter(|c| state.case_id.as_deref() == Some(c.id.as_str()))
        {
            let mut r = Reply::text(format!(
                "This thread is already escalated as {} ({}, {}).",
                existing.id,
                existing.priority,
                existing.status.as_str()
            ));
            r.intent = Some("escalate".into());
            return r;
        }
        let now = self.now();
        let target = state
            .slots
            .target
            .as_deref()
            .and_then(|a| self.target(a))
            .cloned();
        let worst = state.findings.iter().map(|f| f.severity).max();
        let env = target
            .as_ref()
            .map(|t| t.environment.clone())
            .or_else(|| state.slots.environment.clone());
        let prio = priority(env.as_deref(), worst);
        let mut findings = state.findings.clone();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let key_findings: Vec<String> = findings
            .iter()
            .filter(|f| f.severity > Severity::Ok)
            .take(8)
            .map(|f| {
                format!(
                    "[{}] {}",
                    f.severity.as_str().to_uppercase(),
                    scrub(&f.title)
                )
            })
            .collect();
        let user_words: Vec<String> = state
            .turns
            .iter()
            .filter(|t| t.role == "user")
            .rev()
            .take(4)
            .map(|t| scrub(&t.text))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let intent_title = state
            .intent
            .as_deref()
            .and_then(|i| self.inner.catalog.intent(i))
            .map(|i| i.title.to_lowercase())
            .unwrap_or_else(|| "a database problem".into());
        let id = match self.inner.cases.next_id().await {
            Ok(id) => id,
            Err(e) => return Reply::text(format!("I could not create a case: {e}")),
        };
        let summary = scrub(&format!(
            "{} asked about {} on {}{}{}. {} {} Escalated because: {}.",
            msg.user.display_name,
            intent_title,
            target
                .as_ref()
                .map(|t| format!(
                    "{} ({}, {}, {})",
                    t.alias,
                    t.engine.display(),
                    t.environment,
                    t.cloud
                ))
                .unwrap_or_else(|| state
                    .slots
                    .target
                    .clone()
                    .unwrap_or_else(|| "an unnamed database".into())),
            state
                .slots
                .time
                .as_ref()
                .map(|t| format!(", {t}"))
                .unwrap_or_default(),
            state
                .slots
                .error_code
                .as_ref()
                .map(|c| format!(", error {c}"))
                .unwrap_or_default(),
            key_findings
                .first()
                .map(|f| format!("Worst finding: {f}."))
                .unwrap_or_else(|| "No warning-level findings so far.".into()),
            if state.checks_run.is_empty() {
                "No diagnostics ran yet.".to_string()
            } else {
                format!("{} checks ran.", state.checks_run.len())
            },
            trigger
        ));
        let case = Case {
            id: id.clone(),
            status: CaseStatus::Open,
            priority: prio.to_string(),
            trigger: trigger.to_string(),
            requester_id: msg.user.id.clone(),
            requester_name: msg.user.display_name.clone(),
            source: key.clone(),
            source_link: msg.link.clone(),
            target: target
                .as_ref()
                .map(|t| t.alias.clone())
                .or_else(|| state.slots.target.clone()),
            engine: target
                .as_ref()
                .map(|t| t.engine.as_str().to_string())
                .or_else(|| state.slots.engine.clone()),
            environment: env.clone(),
            cloud: target
                .as_ref()
                .map(|t| t.cloud.clone())
                .or_else(|| state.slots.cloud.clone()),
            user_words,
            diagnostics: state.checks_run.clone(),
            findings: key_findings,
            worst,
            recommendations: state.recommendations.iter().map(|r| redact(r)).collect(),
            tried: note
                .map(|n| scrub(&clip(n.trim(), NOTE_MAX)))
                .filter(|n| !n.is_empty())
                .into_iter()
                .collect(),
            summary,
            created_at: now,
            updated_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            resolution: None,
            resolved_at: None,
            next_reminder_at: Some(now + self.inner.escalation.sla(prio)),
            reminders_sent: 0,
            posted_to: None,
            version: 0,
        };
        let mut case = scrubbed(&case);
        let delivered = match &self.inner.escalation.destination {
            Some(d) => self
                .post(d, &self.handoff(&case, None))
                .await
                .then(|| d.clone()),
            None => None,
        };
        case.posted_to = delivered.clone();
        if delivered.is_none() {
            // Nowhere to re-post: no reminder schedule (it would only be claimed and skipped).
            case.next_reminder_at = None;
        }
        if let Err(e) = self.inner.cases.insert(&case).await {
            tracing::error!(error = %e, "could not store case");
        }
        state.case_id = Some(id.clone());
        self.audit_event(
            msg,
            case.target.as_deref(),
            "escalation",
            trigger,
            (0, 0),
            &id,
        )
        .await;
        if matches!(prio, "P1" | "P2") {
            if let Some(pd) = &self.inner.escalation.pagerduty {
                let sev = if prio == "P1" { "critical" } else { "error" };
                pd.event(
                    "trigger",
                    &id,
                    &case.summary,
                    sev,
                    case.target.as_deref().unwrap_or("dbabot"),
                )
                .await;
            }
        }
        let mut r = Reply {
            intent: Some("escalate".into()),
            severity: worst,
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: format!("Escalated to the DBA team: {id} ({prio})"),
            level: 1,
        });
        r.push(Part::Paragraph {
            text: if delivered.is_some() {
                "The DBA team has the case with everything gathered so far. I'll post here when someone takes it and when it is resolved.".into()
            } else {
                "No DBA destination is configured, so the case is recorded (see `dbabot cases`) but nobody was notified; share this summary with your DBA team.".into()
            },
        });
        r.push(Part::Paragraph {
            text: case.summary.clone(),
        });
        r
    }

    /// `case ack|resolve|ask <id> [text]`, or a click on a handoff's actions.
    pub(super) async fn case_action(
        &self,
        msg: &InboundMessage,
        verb: &str,
        id: &str,
        text: &str,
    ) -> Reply {
        if let Err(denied) = self.authorize(msg, None, Action::EscalationAction).await {
            return denied;
        }
        // Compare-and-set: decide on the case as read, store only if nobody changed it since
        // (another DBA, a reminder, another replica); on a lost race decide again on the fresh
        // copy, so two DBAs taking one case get one "you took it" and one "already taken".
        let mut tries = 0;
        let (case, status_line, audit_action, notice) = loop {
            let Some(current) = self.inner.cases.get(id).await else {
                return Reply::text(format!("There is no case {}.", normalize_id(id)));
            };
            let now = self.now();
            match self.decide_case_action(current, verb, text, &msg.user.display_name, now) {
                Err(reply) => return reply,
                Ok((next, status_line, audit_action, notice)) => {
                    let id_now = next.id.clone();
                    let stored = if audit_action == "case_ask" {
                        // Asking changes nothing but the time; not worth a lost race.
                        Some(next)
                    } else {
                        match self.inner.cases.replace(&next).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::error!(error = %e, "could not store case");
                                return Reply::text(format!(
                                    "I could not update {}: the store failed. Try again.",
                                    next.id
                                ));
                            }
                        }
                    };
                    match stored {
                        Some(c) => break (c, status_line, audit_action, notice),
                        None if tries < 5 => tries += 1,
                        None => {
                            return Reply::text(format!(
                                "{id_now} keeps changing under me; try again in a moment."
                            ))
                        }
                    }
                }
            }
        };
        // Only the winner tells the requester and PagerDuty.
        let requester = Destination::thread_of(&case.source);
        self.post(&requester, &Reply::text(notice)).await;
        if let Some(pd) = &self.inner.escalation.pagerduty {
            match audit_action {
                "case_ack" => pd.event("acknowledge", &case.id, "", "", "").await,
                "case_resolve" => pd.event("resolve", &case.id, "", "", "").await,
                _ => {}
            }
        }
        self.audit_event(
            msg,
            case.target.as_deref(),
            audit_action,
            "",
            (0, 0),
            &case.id,
        )
        .await;
        let mut r = Reply::text(status_line);
        r.intent = Some(audit_action.into());
        r
    }

    /// What `verb` does to `case` (no side effects): the updated case, the DBA's reply, the
    /// audit action and the requester's notice; or the reply refusing it.
    #[allow(clippy::type_complexity)]
    fn decide_case_action(
        &self,
        mut case: Case,
        verb: &str,
        text: &str,
        who: &str,
        now: u64,
    ) -> Result<(Case, String, &'static str, String), Reply> {
        let already = |c: &Case| {
            let by = match (&c.acknowledged_by, c.status) {
                (Some(b), CaseStatus::Acknowledged) => format!(" by {b}"),
                _ => String::new(),
            };
            Reply::text(format!("{} is already {}{by}.", c.id, c.status.as_str()))
        };
        let out = match verb {
            "ack" | "take" => {
                if case.status != CaseStatus::Open {
                    return Err(already(&case));
                }
                case.status = CaseStatus::Acknowledged;
                case.acknowledged_by = Some(who.to_string());
                case.acknowledged_at = Some(now);
                case.next_reminder_at = None;
                let notice = format!(
                    "🙋 {who} from the DBA team took {} at {}.",
                    case.id,
                    clock_time(now)
                );
                let line = format!("You took {}. The requester was told.", case.id);
                (line, "case_ack", notice)
            }
            "resolve" => {
                if case.status.is_closed() {
                    return Err(already(&case));
                }
                let note = if text.trim().is_empty() {
                    "resolved by the DBA team".to_string()
                } else {
                    text.trim().to_string()
                };
                case.status = CaseStatus::Resolved;
                let note = scrub(&clip(&note, NOTE_MAX));
                case.resolution = Some(note.clone());
                case.resolved_at = Some(now);
                case.next_reminder_at = None;
                let notice = format!(
                    "✅ {} was resolved by {who} at {}: {note}",
                    case.id,
                    clock_time(now)
                );
                let line = format!("{} is resolved. The requester was told.", case.id);
                (line, "case_resolve", notice)
            }
            "ask" => {
                if text.trim().is_empty() {
                    return Err(Reply::text(format!(
                        "Type your question: case ask {} <question>",
                        case.id
                    )));
                }
                let notice = format!(
                    "❓ {who} (DBA team) asks about {}: {} — please answer in this thread.",
                    case.id,
                    scrub(&clip(text.trim(), NOTE_MAX))
                );
                let line = format!(
                    "Your question was posted in the requester's thread for {}.",
                    case.id
                );
                (line, "case_ask", notice)
            }
            other => {
                return Err(Reply::text(format!(
                    "Unknown case action `{other}`: use ack, resolve or ask."
                )))
            }
        };
        case.updated_at = now;
        Ok((case, out.0, out.1, out.2))
    }

    /// Open cases for `cases` (DBAs only).
    pub(super) async fn list_cases(&self, msg: &InboundMessage) -> Reply {
        if let Err(denied) = self.authorize(msg, None, Action::ListCases).await {
            return denied;
        }
        let open: Vec<Case> = self
            .inner
            .cases
            .list(None)
            .await
            .into_iter()
            .filter(|c| !c.status.is_closed())
            .collect();
        let mut r = Reply {
            intent: Some("cases".into()),
            ..Reply::default()
        };
        r.push(Part::Heading {
            text: format!("Open cases ({})", open.len()),
            level: 1,
        });
        if open.is_empty() {
            r.push(Part::Paragraph {
                text: "No open cases.".into(),
            });
        } else {
            r.push(Part::Table(dbabot_chat::Table {
                title: None,
                columns: vec![
                    "case".into(),
                    "priority".into(),
                    "status".into(),
                    "target".into(),
                    "requester".into(),
                    "opened".into(),
                ],
                rows: open
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.priority.clone(),
                            c.status.as_str().into(),
                            c.target.clone().unwrap_or_default(),
                            c.requester_name.clone(),
                            clock_time(c.created_at),
                        ]
                    })
                    .collect(),
            }));
        }
        r
    }

    /// Re-posts every unacknowledged case whose SLA has passed; returns how many. The schedule
    /// is stored in each case, so it survives restarts. Called periodically by `dbabot serve`.
    ///
    /// The store claims each due reminder before anything is posted (it counts the reminder and
    /// moves the next one on atomically, see [`crate::store::Cases::claim_due_reminders`]): a
    /// case acknowledged meanwhile is not claimed, an acknowledgement is never reverted, and
    /// with several replicas each reminder is posted once. A post that then fails is not
    /// retried before the next SLA period (logged).
    pub async fn run_due_reminders(&self) -> usize {
        let now = self.now();
        let esc = self.inner.escalation.clone();
        let sla: crate::store::Sla = std::sync::Arc::new(move |p: &str| esc.sla(p));
        let claimed = match self.inner.cases.claim_due(now, sla).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim due reminders");
                return 0;
            }
        };
        let mut n = 0;
        for c in claimed {
            let Some(dest) = c.posted_to.clone() else {
                continue;
            };
            if self
                .post(&dest, &self.handoff(&c, Some(c.reminders_sent)))
                .await
            {
                n += 1;
            }
        }
        n
    }
}
