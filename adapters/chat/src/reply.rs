//! Outbound side: a reply as structured parts that each adapter renders natively.

use crate::Attachment;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding or a whole answer is. Ordered: `Ok < Info < Warning < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Ok,
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label/value pair (target, environment, cloud, severity…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// A small result table; every row has `columns.len()` cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Table {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The table as aligned monospace lines: header, a `─` rule, then rows. Cells are padded to
    /// the widest value of their column (counted in characters). Adapters without native tables
    /// (terminal, Slack, Discord) show these lines in a preformatted block.
    pub fn aligned_lines(&self) -> Vec<String> {
        let n = self.columns.len();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = (0..n)
                .map(|i| {
                    let c = cells.get(i).map(String::as_str).unwrap_or("");
                    format!(
                        "{c}{}",
                        " ".repeat(widths[i].saturating_sub(c.chars().count()))
                    )
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = Vec::with_capacity(self.rows.len() + 2);
        out.push(line(&self.columns));
        out.push(
            widths
                .iter()
                .map(|w| "─".repeat(*w))
                .collect::<Vec<_>>()
                .join("  "),
        );
        out.extend(self.rows.iter().map(|r| line(r)));
        out
    }
}

/// One option the user can pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What the user sees.
    pub label: String,
    /// What comes back in [`crate::SelectedChoice::value`].
    pub value: String,
}

/// One finding as a reply carries it: typed, so adapters colour and mark it natively instead of
/// parsing text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingLine {
    pub severity: Severity,
    /// One line with the offending object and the numbers.
    pub title: String,
    /// The rule that made it a warning or critical, with its source (shown in small print).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl FindingLine {
    /// The finding as one plain line: `[CRITICAL] title (rule: …)`.
    pub fn plain(&self) -> String {
        let mut s = format!("[{}] {}", self.severity.as_str().to_uppercase(), self.title);
        if let Some(rule) = &self.rule {
            s.push_str(&format!(" (rule: {rule})"));
        }
        s
    }
}

/// One building block of a reply. Adapters render each kind in their platform's idiom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// A section title; level 1 is the reply's headline.
    Heading {
        text: String,
        level: u8,
    },
    /// Prose; may contain `inline code` and *emphasis* in a minimal Markdown subset.
    Paragraph {
        text: String,
    },
    /// A bulleted list.
    Bullets {
        items: Vec<String>,
    },
    /// Findings of the diagnostics, worst first.
    Findings {
        items: Vec<FindingLine>,
    },
    /// Label/value pairs shown side by side.
    Fields {
        fields: Vec<Field>,
    },
    Table(Table),
    /// Code shown verbatim (SQL is always advice for a human, never executed by the bot).
    Code {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        code: String,
    },
    /// Options to pick from; `id` names what is being chosen (a slot such as `target`).
    Choices {
        id: String,
        prompt: String,
        options: Vec<Choice>,
    },
    Attachment(Attachment),
    /// A small-print line (which checks ran, who answered).
    Context {
        text: String,
    },
}

/// One diagnostic that ran for this reply, for the context line ("checks: overview 12 ms …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    pub name: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// `ok`, `failed`, `timeout`, `skipped`, `denied`.
    pub status: String,
}

/// Everything the bot says in answer to one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Reply {
    pub parts: Vec<Part>,
    /// The worst severity among the findings this reply reports, when it reports any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Diagnostics that ran for this reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRun>,
    /// The intent the engine understood (for adapters' logs and tests), e.g. `locks_blocking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// Which recommender wrote the answer (`rules`, `llm:gpt-4o-mini`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
}

impl Reply {
    /// A reply with one paragraph.
    pub fn text(text: impl Into<String>) -> Self {
        Reply {
            parts: vec![Part::Paragraph { text: text.into() }],
            ..Reply::default()
        }
    }

    /// Appends a part, builder style.
    pub fn with(mut self, part: Part) -> Self {
        self.parts.push(part);
        self
    }

    pub fn push(&mut self, part: Part) {
        self.parts.push(part);
    }

    /// All text of the reply flattened to one string (for tests, logs and plain-text fallbacks).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Heading { text, .. } | Part::Paragraph { text } | Part::Context { text } => {
                    out.push_str(text);
                    out.push('\n');
                }
                Part::Bullets { items } => {
                    for i in items {
                        out.push_str("- ");
                        out.push_str(i);
                        out.push('\n');
                    }
                }
                Part::Findings { items } => {
                    for f in items {
                        out.push_str("- ");
                        out.push_str(&f.plain());
                        out.push('\n');
                    }
                }
                Part::Fields { fields } => {
                    for f in fields {
                        out.push_str(&format!("{}: {}\n", f.label, f.value));
                    }
                }
                Part::Table(t) => {
                    if let Some(title) = &t.title {
                        out.push_str(title);
                        out.push('\n');
                    }
                    out.push_str(&t.columns.join(" | "));
                    out.push('\n');
                    for r in &t.rows {
                        out.push_str(&r.join(" | "));
                        out.push('\n');
                    }
                }
                Part::Code { code, .. } => {
                    out.push_str(code);
                    out.push('\n');
                }
                Part::Choices {
                    prompt, options, ..
                } => {
                    out.push_str(prompt);
                    out.push('\n');
                    for o in options {
                        out.push_str(&format!("- {} ({})\n", o.label, o.value));
                    }
                }
                Part::Attachment(a) => {
                    out.push_str(&format!("[attachment {}]\n", a.name));
                }
            }
        }
        out
    }

    /// The choices this reply offers, if any (adapters without buttons render a numbered list).
    pub fn choices(&self) -> Option<(&str, &[Choice])> {
        self.parts.iter().find_map(|p| match p {
            Part::Choices { id, options, .. } => Some((id.as_str(), options.as_slice())),
            _ => None,
        })
    }
}
