//! The engine's structured reply as Block Kit, within Slack's limits
//! (<https://api.slack.com/reference/block-kit/blocks>):
//! section text ≤ 3,000 characters, header ≤ 150, ≤ 10 section fields of ≤ 2,000, ≤ 50 blocks
//! per message, ≤ 25 elements per actions block, button text ≤ 75, and (our own budget) the
//! text of one message's blocks ≤ 40,000 characters. Longer answers are split across messages
//! posted in the same thread.
//!
//! Blocks are built as the documented JSON and deserialized into slack-morphism's models when
//! sent, so every block we build is one the SDK (and Slack) accepts.

use dbabot_chat::{Part, Reply, Severity};
use serde_json::{json, Value};

/// Section text limit, characters.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Header text limit, characters.
pub const HEADER_MAX: usize = 150;
/// Blocks per message.
pub const BLOCKS_MAX: usize = 50;
/// Characters of block text per message (Slack's 40,000-character message limit).
pub const MESSAGE_CHARS_MAX: usize = 40_000;
/// Section fields per block and characters per field.
pub const FIELDS_MAX: usize = 10;
pub const FIELD_MAX: usize = 2000;
/// Buttons shown before switching to a select menu.
pub const BUTTONS_MAX: usize = 5;
/// Options in a static select.
pub const SELECT_OPTIONS_MAX: usize = 100;
/// Button and option text, characters.
pub const BUTTON_TEXT_MAX: usize = 75;

/// One Slack message: fallback text (notifications, screen readers) and blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    pub text: String,
    pub blocks: Vec<Value>,
}

/// Escapes `&`, `<`, `>` as Slack mrkdwn requires.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Splits `lines` into chunks whose joined length (plus `overhead`) stays within `max`;
/// a single over-long line is cut.
fn chunk_lines(lines: &[String], max: usize, overhead: usize) -> Vec<String> {
    let budget = max.saturating_sub(overhead).max(1);
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in lines {
        let line = truncate(line, budget);
        let extra = line.chars().count() + usize::from(!cur.is_empty());
        if !cur.is_empty() && cur.chars().count() + extra > budget {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(&line);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn severity_emoji(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":large_orange_circle:",
        Severity::Info => ":large_blue_circle:",
        Severity::Ok => ":large_green_circle:",
    }
}

/// Turns one part into blocks (several when text must be split).
fn part_blocks(part: &Part) -> Vec<Value> {
    match part {
        Part::Heading { text, level } if *level <= 1 => {
            vec![json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX), "emoji": true}})]
        }
        Part::Heading { text, .. } => vec![section(format!("*{}*", truncate(&escape(text), SECTION_TEXT_MAX - 2)))],
        Part::Paragraph { text } => {
            let lines: Vec<String> = escape(text).lines().map(str::to_string).collect();
            chunk_lines(&lines, SECTION_TEXT_MAX, 0).into_iter().map(section).collect()
        }
        Part::Bullets { items } => {
            let lines: Vec<String> = items.iter().map(|i| format!("• {}", escape(i))).collect();
            chunk_lines(&lines, SECTION_TEXT_MAX, 0).into_iter().map(section).collect()
        }
        Part::Findings { items } => {
            let lines: Vec<String> = items
                .iter()
                .map(|f| {
                    let mut line = format!(
                        "{} *{}* {}",
                        severity_emoji(f.severity),
                        f.severity.as_str().to_uppercase(),
                        escape(&f.title)
                    );
                    if let Some(rule) = &f.rule {
                        line.push_str(&format!(" _(rule: {})_", escape(rule)));
                    }
                    line
                })
                .collect();
            chunk_lines(&lines, SECTION_TEXT_MAX, 0).into_iter().map(section).collect()
        }
        Part::Fields { fields } => fields
            .chunks(FIELDS_MAX)
            .map(|chunk| {
                let f: Vec<Value> = chunk
                    .iter()
                    .map(|f| {
                        let value = if f.label == "Severity" {
                            let s = match f.value.as_str() {
                                "critical" => Severity::Critical,
                                "warning" => Severity::Warning,
                                "info" => Severity::Info,
                                _ => Severity::Ok,
                            };
                            format!("{} {}", severity_emoji(s), escape(&f.value))
                        } else {
                            escape(&f.value)
                        };
                        json!({"type": "mrkdwn", "text": truncate(&format!("*{}*\n{value}", escape(&f.label)), FIELD_MAX)})
                    })
                    .collect();
                json!({"type": "section", "fields": f})
            })
            .collect(),
        Part::Table(t) => {
            let mut blocks = Vec::new();
            if let Some(title) = &t.title {
                blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&escape(title), SECTION_TEXT_MAX)}]}));
            }
            let lines: Vec<String> = t.aligned_lines().iter().map(|l| escape(l)).collect();
            // Each chunk is its own ``` block, so a split never breaks the formatting.
            blocks.extend(chunk_lines(&lines, SECTION_TEXT_MAX, 8).into_iter().map(|c| section(format!("```\n{c}\n```"))));
            blocks
        }
        Part::Code { code, .. } => {
            let lines: Vec<String> = escape(code).lines().map(str::to_string).collect();
            chunk_lines(&lines, SECTION_TEXT_MAX, 8).into_iter().map(|c| section(format!("```\n{c}\n```"))).collect()
        }
        Part::Choices { id, prompt, options } => {
            let mut blocks = vec![section(truncate(&escape(prompt), SECTION_TEXT_MAX))];
            if options.len() <= BUTTONS_MAX {
                let buttons: Vec<Value> = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        json!({
                            "type": "button",
                            "action_id": format!("choice:{id}:{i}"),
                            "text": {"type": "plain_text", "text": truncate(&o.label, BUTTON_TEXT_MAX), "emoji": true},
                            "value": truncate(&o.value, 2000),
                        })
                    })
                    .collect();
                blocks.push(json!({"type": "actions", "block_id": format!("choices:{id}"), "elements": buttons}));
            } else {
                let opts: Vec<Value> = options
                    .iter()
                    .take(SELECT_OPTIONS_MAX)
                    .map(|o| json!({"text": {"type": "plain_text", "text": truncate(&o.label, BUTTON_TEXT_MAX)}, "value": truncate(&o.value, 150)}))
                    .collect();
                blocks.push(json!({
                    "type": "actions",
                    "block_id": format!("choices:{id}"),
                    "elements": [{"type": "static_select", "action_id": format!("choice:{id}"), "placeholder": {"type": "plain_text", "text": "Choose…"}, "options": opts}]
                }));
            }
            blocks
        }
        // Files are uploaded separately (files.getUploadURLExternal + completeUploadExternal).
        Part::Attachment(a) => vec![json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(":page_facing_up: {} is attached in this thread", escape(&a.name))}]})],
        Part::Context { text } => {
            vec![json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&escape(text), SECTION_TEXT_MAX)}]})]
        }
    }
}

/// Characters of text a block carries (what counts against the per-message budget).
pub fn block_chars(b: &Value) -> usize {
    fn walk(v: &Value) -> usize {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    if k == "text" && v.is_string() {
                        v.as_str().map_or(0, |s| s.chars().count())
                    } else {
                        walk(v)
                    }
                })
                .sum(),
            Value::Array(a) => a.iter().map(walk).sum(),
            _ => 0,
        }
    }
    walk(b)
}

/// Renders a reply as one or more messages, each within the block and character limits.
pub fn render(reply: &Reply) -> Vec<SlackMessage> {
    let blocks: Vec<Value> = reply.parts.iter().flat_map(part_blocks).collect();
    let fallback = truncate(
        &reply
            .parts
            .iter()
            .find_map(|p| match p {
                Part::Heading { text, .. } | Part::Paragraph { text } => Some(text.clone()),
                Part::Choices { prompt, .. } => Some(prompt.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "dbabot".into()),
        300,
    );
    let mut messages = Vec::new();
    let mut cur: Vec<Value> = Vec::new();
    let mut chars = 0;
    for b in blocks {
        let c = block_chars(&b);
        if !cur.is_empty() && (cur.len() >= BLOCKS_MAX || chars + c > MESSAGE_CHARS_MAX) {
            messages.push(std::mem::take(&mut cur));
            chars = 0;
        }
        chars += c;
        cur.push(b);
    }
    if !cur.is_empty() {
        messages.push(cur);
    }
    let n = messages.len();
    messages
        .into_iter()
        .enumerate()
        .map(|(i, blocks)| SlackMessage {
            text: if n > 1 {
                format!("{fallback} ({}/{n})", i + 1)
            } else {
                fallback.clone()
            },
            blocks,
        })
        .collect()
}

/// The blocks of a message whose choices were answered: the actions block becomes a line
/// saying who chose what.
pub fn answered(
    blocks: &[Value],
    choice_id: &str,
    chosen_label: &str,
    user_id: &str,
) -> Vec<Value> {
    let block_id = format!("choices:{choice_id}");
    blocks
        .iter()
        .map(|b| {
            if b.get("type").and_then(Value::as_str) == Some("actions") && b.get("block_id").and_then(Value::as_str) == Some(block_id.as_str()) {
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(":white_check_mark: <@{}> chose *{}*", escape(user_id), escape(chosen_label))}]})
            } else {
                b.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbabot_chat::{Choice, Field, Table};

    fn within_limits(m: &SlackMessage) {
        assert!(m.blocks.len() <= BLOCKS_MAX, "{} blocks", m.blocks.len());
        let total: usize = m.blocks.iter().map(block_chars).sum();
        assert!(total <= MESSAGE_CHARS_MAX, "{total} chars");
        for b in &m.blocks {
            match b["type"].as_str() {
                Some("section") => {
                    if let Some(t) = b["text"]["text"].as_str() {
                        assert!(
                            t.chars().count() <= SECTION_TEXT_MAX,
                            "section of {}",
                            t.chars().count()
                        );
                    }
                    if let Some(f) = b["fields"].as_array() {
                        assert!(f.len() <= FIELDS_MAX);
                    }
                }
                Some("header") => assert!(b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= HEADER_MAX)),
                _ => {}
            }
            // Every block is one slack-morphism (and so Slack) accepts.
            let typed: Result<slack_morphism::prelude::SlackBlock, _> =
                serde_json::from_value(b.clone());
            assert!(typed.is_ok(), "not a valid block: {b}");
        }
    }

    #[test]
    fn a_200_row_report_splits_cleanly() {
        let rows: Vec<Vec<String>> = (0..200)
            .map(|i| {
                vec![
                    format!("public.table_{i:03}"),
                    format!("{}", i * 1000),
                    "x".repeat(40),
                ]
            })
            .collect();
        let mut reply = Reply::default().with(Part::Heading {
            text: "Space report — orders-prod".into(),
            level: 1,
        });
        reply.push(Part::Fields {
            fields: vec![
                Field {
                    label: "Target".into(),
                    value: "orders-prod".into(),
                },
                Field {
                    label: "Severity".into(),
                    value: "warning".into(),
                },
            ],
        });
        for _ in 0..6 {
            reply.push(Part::Table(Table {
                title: Some("largest tables".into()),
                columns: vec!["table".into(), "bytes".into(), "note".into()],
                rows: rows.clone(),
            }));
        }
        reply.push(Part::Paragraph {
            text: "p".repeat(7000),
        });
        let msgs = render(&reply);
        assert!(msgs.len() >= 2, "{} messages", msgs.len());
        for m in &msgs {
            within_limits(m);
        }
        // Every row made it, each inside a code block.
        let all: String = msgs
            .iter()
            .flat_map(|m| m.blocks.iter())
            .filter_map(|b| b["text"]["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(all.matches("public.table_199").count(), 6);
        assert_eq!(all.matches("```").count() % 2, 0);
    }

    #[test]
    fn choices_become_buttons_or_a_select_and_answers_replace_them() {
        let few = Reply::default().with(Part::Choices {
            id: "target".into(),
            prompt: "Which database?".into(),
            options: vec![
                Choice {
                    label: "orders-prod".into(),
                    value: "orders-prod".into(),
                },
                Choice {
                    label: "demo".into(),
                    value: "demo".into(),
                },
            ],
        });
        let m = &render(&few)[0];
        within_limits(m);
        assert_eq!(m.blocks[1]["elements"][0]["type"], "button");
        assert_eq!(m.blocks[1]["elements"][1]["action_id"], "choice:target:1");
        let answered = answered(&m.blocks, "target", "demo", "U1");
        assert_eq!(answered[1]["type"], "context");
        assert!(answered[1]["elements"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("chose *demo*")));

        let many = Reply::default().with(Part::Choices {
            id: "target".into(),
            prompt: "Which?".into(),
            options: (0..8)
                .map(|i| Choice {
                    label: format!("db-{i}"),
                    value: format!("db-{i}"),
                })
                .collect(),
        });
        let m = &render(&many)[0];
        within_limits(m);
        assert_eq!(m.blocks[1]["elements"][0]["type"], "static_select");
    }

    #[test]
    fn text_is_escaped() {
        let r = Reply::text("a < b & c > d <@U123>");
        assert_eq!(
            render(&r)[0].blocks[0]["text"]["text"],
            "a &lt; b &amp; c &gt; d &lt;@U123&gt;"
        );
    }
}
