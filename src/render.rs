//! Builds the structured [`Reply`] the adapters render: recommendations, reports, EXPLAIN plans.

use crate::config::Target;
use crate::diagnostics::{CheckOutcome, Finding, ResultSet};
use crate::recommend::{Action, Recommendation};
use dbabot_chat::{
    Attachment, AttachmentBody, CheckRun, Field, FindingLine, Part, Reply, Severity, Table,
};

/// Rows of a check shown inline in a report; the CSV attachment carries all of them.
const INLINE_ROWS: usize = 15;
/// Findings listed in an answer.
const MAX_FINDINGS: usize = 12;

/// Fields shown under the headline: target, engine, environment, cloud, severity.
pub fn target_fields(
    target: Option<&Target>,
    slots: &crate::intents::Slots,
    severity: Option<Severity>,
) -> Vec<Field> {
    let mut f = Vec::new();
    let mut push = |label: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            f.push(Field {
                label: label.into(),
                value: v,
            });
        }
    };
    push(
        "Target",
        target
            .map(|t| t.alias.clone())
            .or_else(|| slots.target.clone()),
    );
    push(
        "Engine",
        target
            .map(|t| t.engine.display().to_string())
            .or_else(|| slots.engine.clone()),
    );
    push(
        "Environment",
        target
            .map(|t| t.environment.clone())
            .or_else(|| slots.environment.clone()),
    );
    push(
        "Cloud",
        target
            .map(|t| t.cloud.clone())
            .or_else(|| slots.cloud.clone()),
    );
    push("Severity", severity.map(|s| s.to_string()));
    f
}

/// Check runs for the reply's context line.
pub fn check_runs(outcomes: &[CheckOutcome]) -> Vec<CheckRun> {
    outcomes
        .iter()
        .map(|o| CheckRun {
            name: o.name.clone(),
            duration_ms: o.duration_ms,
            status: o.status.as_str().to_string(),
        })
        .collect()
}

/// "checks: overview 12 ms, blocking_chains 8 ms · answered by rules"
pub fn context_line(outcomes: &[CheckOutcome], answered_by: &str) -> String {
    let checks: Vec<String> = outcomes
        .iter()
        .map(|o| {
            if o.status.as_str() == "ok" {
                format!("{} {} ms", o.name, o.duration_ms)
            } else {
                format!("{} {} ({} ms)", o.name, o.status.as_str(), o.duration_ms)
            }
        })
        .collect();
    let mut s = String::new();
    if !checks.is_empty() {
        s.push_str(&format!("checks: {}", checks.join(", ")));
        s.push_str(" · ");
    }
    s.push_str(&format!(
        "answered by {answered_by} · read-only: dbabot never changes your database"
    ));
    s
}

/// A finding as the reply's typed line; the rule is shown for warnings and criticals only.
fn finding_line(f: &Finding) -> FindingLine {
    FindingLine {
        severity: f.severity,
        title: f.title.clone(),
        rule: f
            .threshold
            .clone()
            .filter(|_| f.severity >= Severity::Warning),
    }
}

fn push_actions(reply: &mut Reply, heading: &str, actions: &[Action]) {
    if actions.is_empty() {
        return;
    }
    reply.push(Part::Heading {
        text: heading.into(),
        level: 2,
    });
    let mut bullets = Vec::new();
    for a in actions {
        bullets.push(a.text.clone());
        if let Some(sql) = &a.sql {
            reply.push(Part::Bullets {
                items: std::mem::take(&mut bullets),
            });
            reply.push(Part::Code {
                language: Some("sql".into()),
                code: sql.clone(),
            });
        }
    }
    if !bullets.is_empty() {
        reply.push(Part::Bullets { items: bullets });
    }
    reply
        .parts
        .retain(|p| !matches!(p, Part::Bullets { items } if items.is_empty()));
}

/// The standard answer: Situation, Findings, Likely root cause, Immediate actions, Longer-term
/// fixes, Verify, cloud advice, and a context line.
pub fn recommendation(
    rec: &Recommendation,
    target: Option<&Target>,
    slots: &crate::intents::Slots,
    outcomes: &[CheckOutcome],
    intent: &str,
) -> Reply {
    let severity = (!outcomes.is_empty()).then_some(rec.severity);
    let headline = match target {
        Some(t) => format!("{} — {}", rec.title, t.alias),
        None => rec.title.clone(),
    };
    let mut r = Reply {
        severity,
        checks: check_runs(outcomes),
        intent: Some(intent.to_string()),
        answered_by: Some(rec.answered_by.clone()),
        ..Reply::default()
    };
    r.push(Part::Heading {
        text: headline,
        level: 1,
    });
    let fields = target_fields(target, slots, severity);
    if !fields.is_empty() {
        r.push(Part::Fields { fields });
    }
    if !rec.situation.is_empty() {
        r.push(Part::Heading {
            text: "Situation".into(),
            level: 2,
        });
        r.push(Part::Paragraph {
            text: rec.situation.clone(),
        });
    }
    if !outcomes.is_empty() {
        r.push(Part::Heading {
            text: "Findings".into(),
            level: 2,
        });
        let items: Vec<FindingLine> = rec
            .findings
            .iter()
            .filter(|f| {
                // What is running right now is shown even below the long-running threshold, so
                // "what is it?" gets the statements, longest first.
                f.severity > Severity::Ok
                    || f.code == "running_query"
                    || rec.findings.iter().all(|g| g.severity == Severity::Ok)
            })
            .take(MAX_FINDINGS)
            .map(finding_line)
            .collect();
        if items.is_empty() {
            r.push(Part::Paragraph {
                text: "No problems found by the checks that ran.".into(),
            });
        } else {
            r.push(Part::Findings { items });
        }
        let cut: Vec<String> = outcomes
            .iter()
            .filter(|o| o.rows.truncated)
            .map(|o| format!("{}: {} rows", o.title, o.rows.count_phrase()))
            .collect();
        if !cut.is_empty() {
            r.push(Part::Context {
                text: format!(
                    "Row cap: {} (worst first; findings cover the rows shown).",
                    cut.join("; ")
                ),
            });
        }
    }
    if !rec.root_causes.is_empty() {
        r.push(Part::Heading {
            text: "Likely root cause".into(),
            level: 2,
        });
        r.push(Part::Bullets {
            items: rec.root_causes.clone(),
        });
    }
    push_actions(&mut r, "Immediate actions", &rec.immediate);
    push_actions(&mut r, "Longer-term fixes", &rec.longer_term);
    push_actions(&mut r, "Verify", &rec.verify);
    if let Some(c) = &rec.cloud_advice {
        r.push(Part::Heading {
            text: "On your platform".into(),
            level: 2,
        });
        r.push(Part::Paragraph { text: c.clone() });
    }
    if rec
        .immediate
        .iter()
        .chain(&rec.longer_term)
        .any(|a| a.sql.is_some())
    {
        r.push(Part::Context {
            text: "SQL above is for a human to review and run; dbabot never executes remediation."
                .into(),
        });
    }
    r.push(Part::Context {
        text: context_line(outcomes, &rec.answered_by),
    });
    r
}

/// A report: per check, its findings and up to 15 rows; all rows as a CSV attachment.
pub fn report(title: &str, name: &str, target: &Target, outcomes: &[CheckOutcome]) -> Reply {
    let severity = outcomes
        .iter()
        .flat_map(|o| o.findings.iter())
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    let mut r = Reply {
        severity: Some(severity),
        checks: check_runs(outcomes),
        intent: Some("report_request".into()),
        answered_by: Some("rules".into()),
        ..Reply::default()
    };
    r.push(Part::Heading {
        text: format!("{title} — {}", target.alias),
        level: 1,
    });
    r.push(Part::Fields {
        fields: target_fields(Some(target), &Default::default(), Some(severity)),
    });
    let worst: Vec<FindingLine> = outcomes
        .iter()
        .flat_map(|o| o.findings.iter())
        .filter(|f| f.severity >= Severity::Warning)
        .map(finding_line)
        .collect();
    r.push(Part::Heading {
        text: "Summary".into(),
        level: 2,
    });
    if worst.is_empty() {
        r.push(Part::Paragraph {
            text: "No warnings or critical findings.".into(),
        });
    } else {
        r.push(Part::Findings { items: worst });
    }
    for o in outcomes {
        r.push(Part::Heading {
            text: format!("{} ({})", o.title, o.name),
            level: 2,
        });
        if !o.findings.is_empty() {
            r.push(Part::Findings {
                items: o.findings.iter().map(finding_line).collect(),
            });
        }
        if !o.rows.is_empty() {
            let mut t = table(&o.rows, INLINE_ROWS);
            if o.rows.len() > INLINE_ROWS || o.rows.truncated {
                t.title = Some(rows_caption(&o.rows));
            }
            r.push(Part::Table(t));
        }
    }
    r.push(Part::Attachment(Attachment {
        name: format!("{name}-{}.csv", target.alias),
        content_type: "text/csv".into(),
        body: AttachmentBody::Text(csv(outcomes)),
    }));
    r.push(Part::Context {
        text: context_line(outcomes, "rules"),
    });
    r
}

/// The caption of a report table that shows only part of its rows: how many are inline, how many
/// the query returned in all, and what the CSV holds (the row cap applies to the CSV too).
fn rows_caption(rs: &ResultSet) -> String {
    let inline = INLINE_ROWS.min(rs.len());
    match (rs.truncated, rs.total) {
        (false, _) => format!("first {inline} of {} rows (all in the CSV)", rs.len()),
        (true, Some(total)) => format!(
            "first {inline} of {} rows; the CSV holds the first {} (the row cap)",
            crate::diagnostics::thousands(total),
            rs.len()
        ),
        (true, None) => format!(
            "first {inline} rows; the CSV holds the first {} (the row cap; more exist)",
            rs.len()
        ),
    }
}

/// A result set as a reply table of at most `max_rows` rows; long cells are shortened.
pub fn table(rs: &ResultSet, max_rows: usize) -> Table {
    Table {
        title: None,
        columns: rs.columns.clone(),
        rows: rs
            .rows
            .iter()
            .take(max_rows)
            .map(|row| {
                row.iter()
                    .map(|v| crate::diagnostics::finding::short_query(&v.to_string(), 80))
                    .collect()
            })
            .collect(),
    }
}

/// All rows of all checks as CSV: `check,row,column,value` would lose shape, so each check's
/// rows are written under a header line naming the check.
pub fn csv(outcomes: &[CheckOutcome]) -> String {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for o in outcomes {
        let mut header = vec!["check".to_string()];
        header.extend(o.rows.columns.iter().cloned());
        // Writing into a Vec cannot fail except on a csv bug; skip the check if it does.
        if w.write_record(&header).is_err() {
            continue;
        }
        for row in &o.rows.rows {
            let mut rec = vec![o.name.clone()];
            rec.extend(row.iter().map(|v| v.to_string()));
            let _ = w.write_record(&rec);
        }
    }
    w.into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
