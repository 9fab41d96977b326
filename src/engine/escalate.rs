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
        let id = match self.inner.cases.next_id() {
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
        if let Err(e) = self.inner.cases.save(&case).await {
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
        let Some(mut case) = self.inner.cases.get(id) else {
            return Reply::text(format!("There is no case {}.", normalize_id(id)));
        };
        let now = self.now();
        let who = msg.user.display_name.clone();
        let requester = Destination::thread_of(&case.source);
        let (status_line, audit_action) = match verb {
            "ack" | "take" => {
                if case.status != CaseStatus::Open {
                    return Reply::text(format!(
                        "{} is already {}.",
                        case.id,
                        case.status.as_str()
                    ));
                }
                case.status = CaseStatus::Acknowledged;
                case.acknowledged_by = Some(who.clone());
                case.acknowledged_at = Some(now);
                case.next_reminder_at = None;
                self.post(
                    &requester,
                    &Reply::text(format!(
                        "🙋 {who} from the DBA team took {} at {}.",
                        case.id,
                        clock_time(now)
                    )),
                )
                .await;
                if let Some(pd) = &self.inner.escalation.pagerduty {
                    pd.event("acknowledge", &case.id, "", "", "").await;
                }
                (
                    format!("You took {}. The requester was told.", case.id),
                    "case_ack",
                )
            }
            "resolve" => {
                if case.status.is_closed() {
                    return Reply::text(format!(
                        "{} is already {}.",
                        case.id,
                        case.status.as_str()
                    ));
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
                self.post(
                    &requester,
                    &Reply::text(format!(
                        "✅ {} was resolved by {who} at {}: {note}",
                        case.id,
                        clock_time(now)
                    )),
                )
                .await;
                if let Some(pd) = &self.inner.escalation.pagerduty {
                    pd.event("resolve", &case.id, "", "", "").await;
                }
                (
                    format!("{} is resolved. The requester was told.", case.id),
                    "case_resolve",
                )
            }
            "ask" => {
                if text.trim().is_empty() {
                    return Reply::text(format!(
                        "Type your question: case ask {} <question>",
                        case.id
                    ));
                }
                self.post(
                    &requester,
                    &Reply::text(format!(
                        "❓ {who} (DBA team) asks about {}: {} — please answer in this thread.",
                        case.id,
                        scrub(&clip(text.trim(), NOTE_MAX))
                    )),
                )
                .await;
                (
                    format!(
                        "Your question was posted in the requester's thread for {}.",
                        case.id
                    ),
                    "case_ask",
                )
            }
            other => {
                return Reply::text(format!(
                    "Unknown case action `{other}`: use ack, resolve or ask."
                ))
            }
        };
        case.updated_at = now;
        if let Err(e) = self.inner.cases.save(&case).await {
            tracing::error!(error = %e, "could not store case");
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

    /// Open cases for `cases` (DBAs only).
    pub(super) async fn list_cases(&self, msg: &InboundMessage) -> Reply {
        if let Err(denied) = self.authorize(msg, None, Action::ListCases).await {
            return denied;
        }
        let open: Vec<Case> = self
            .inner
            .cases
            .list(None)
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
    pub async fn run_due_reminders(&self) -> usize {
        let now = self.now();
        let mut n = 0;
        for mut c in self.inner.cases.list(Some(CaseStatus::Open)) {
            let (Some(due), Some(dest)) = (c.next_reminder_at, c.posted_to.clone()) else {
                continue;
            };
            if due > now {
                continue;
            }
            c.reminders_sent += 1;
            c.next_reminder_at = Some(now + self.inner.escalation.sla(&c.priority));
            c.updated_at = now;
            self.post(&dest, &self.handoff(&c, Some(c.reminders_sent)))
                .await;
            if let Err(e) = self.inner.cases.save(&c).await {
                tracing::error!(error = %e, "could not store case");
            }
            n += 1;
        }
        n
    }
}
