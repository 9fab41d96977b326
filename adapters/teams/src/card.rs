//! [`Reply`] → Adaptive Cards (schema 1.4), split under the Teams payload limit.
//!
//! | part | rendered as |
//! |---|---|
//! | `Heading` level 1 | large bolder TextBlock in a Container styled by the reply's severity (`attention` critical, `warning` warning, `accent` info, `good` ok) |
//! | `Heading` level 2+ | medium / default bolder TextBlock with a separator |
//! | `Paragraph`, `Context` | wrapped TextBlock (context small and subtle) |
//! | `Bullets` | one TextBlock per item |
//! | `Findings` | one TextBlock per finding, coloured by severity (attention/warning/accent/good) |
//! | `Fields` | FactSet |
//! | `Table` | one ColumnSet per row (header row emphasised); the header repeats on continuation cards |
//! | `Code` | monospace TextBlocks, one per line, in an `emphasis` Container |
//! | `Choices` | numbered list plus "answer with @bot and the number or the name" (outgoing-webhook replies may only carry `openURL` actions, so no buttons) |
//! | `Attachment` | Teams webhooks cannot upload files: a note and the first lines of the CSV as a table |
//!
//! The 1.4 `Table` element does not exist (it is 1.5) and the 1.4 schema forbids extra card
//! properties such as `msteams`, so neither is used. No card carries any action.

use dbabot_chat::{AttachmentBody, Part, Reply, Severity, Table};
use serde_json::{json, Value};

/// `contentType` of an Adaptive Card attachment.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The `$schema` every card names.
pub const SCHEMA_URL: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// The card schema version produced.
pub const CARD_VERSION: &str = "1.4";

/// Longest text in one TextBlock, in bytes; longer text is split over several blocks.
const MAX_TEXT_BYTES: usize = 3_000;
/// Longest table cell, in characters.
const MAX_CELL_CHARS: usize = 300;
/// Bytes kept free in each card for the "continued" labels.
const LABEL_RESERVE: usize = 800;

/// Who asked, for answers delivered later through the incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// Display name of the person who asked.
    pub name: String,
    /// Their question as they typed it (mention removed).
    pub question: String,
}

/// How to render.
#[derive(Debug, Clone)]
pub struct CardOptions {
    /// Largest serialized message (a `message` envelope holding one card), in bytes.
    pub max_card_bytes: usize,
    /// CSV lines shown in place of an attachment.
    pub csv_preview_rows: usize,
    /// The name users @-mention to answer a question (`dbabot`).
    pub bot_name: String,
    /// When set, the first card opens with `<name> asked: “<question>”` and continuation labels
    /// name the requester (answers that arrive as a new channel post).
    pub requester: Option<Requester>,
}

impl Default for CardOptions {
    fn default() -> Self {
        CardOptions {
            max_card_bytes: 28_000,
            csv_preview_rows: 10,
            bot_name: "dbabot".into(),
            requester: None,
        }
    }
}

/// The Activity (`type: message`) carrying `cards` as Adaptive Card attachments: the body of an
/// outgoing-webhook response and of an incoming (Workflows) webhook POST.
pub fn message(cards: &[Value]) -> Value {
    json!({
        "type": "message",
        "attachments": cards
            .iter()
            .map(|c| json!({
                "contentType": CONTENT_TYPE,
                "contentUrl": null,
                "content": c,
            }))
            .collect::<Vec<_>>(),
    })
}

/// A plain text `message` Activity (the "working on it" reply).
pub fn text_message(text: &str) -> Value {
    json!({ "type": "message", "text": text })
}

/// A 1.4 card with `body`.
pub fn card(body: Vec<Value>) -> Value {
    json!({
        "$schema": SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    })
}

/// Serialized size in bytes of [`message`] holding `card` alone.
pub fn message_bytes(card: &Value) -> usize {
    serde_json::to_vec(&message(std::slice::from_ref(card)))
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

fn text_block(text: impl Into<String>) -> Value {
    json!({ "type": "TextBlock", "text": text.into(), "wrap": true })
}

fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "attention",
        Severity::Warning => "warning",
        Severity::Info => "accent",
        Severity::Ok => "good",
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Splits `text` into pieces of at most `max` bytes, preferring line breaks, then spaces.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while cut > 0 && !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // `max` is smaller than one character: take that character.
            cut = rest
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(rest.len());
        }
        let window = &rest[..cut];
        let at = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&i| i > max / 2)
            .unwrap_or(cut);
        out.push(rest[..at].trim_end().to_string());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// One unit of packing.
struct Block {
    el: Value,
    size: usize,
    /// Consecutive blocks of the same group in one card are wrapped in one Container.
    group: Option<(usize, &'static str)>,
    /// Elements repeated at the top of a card that starts with this block (table headers).
    repeat: Option<usize>,
    /// Never end a card after this block (headings, table headers, prompts).
    keep_with_next: bool,
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    repeats: Vec<Vec<Value>>,
    next_group: usize,
    max_block: usize,
}

impl Builder {
    fn push(&mut self, el: Value) {
        self.push_with(el, None, None, false);
    }

    fn push_keep(&mut self, el: Value) {
        self.push_with(el, None, None, true);
    }

    fn push_with(
        &mut self,
        el: Value,
        group: Option<(usize, &'static str)>,
        repeat: Option<usize>,
        keep_with_next: bool,
    ) {
        let mut el = el;
        let mut size = json_len(&el);
        if size > self.max_block {
            el = text_block(
                "(This part of the answer is too large for a Teams card and was left out.)",
            );
            size = json_len(&el);
        }
        self.blocks.push(Block {
            el,
            size,
            group,
            repeat,
            keep_with_next,
        });
    }

    fn group(&mut self) -> usize {
        self.next_group += 1;
        self.next_group
    }

    fn text(&mut self, text: &str, extra: &[(&str, Value)]) {
        for piece in chunks(text, MAX_TEXT_BYTES) {
            let mut el = text_block(piece);
            for (k, v) in extra {
                el[*k] = v.clone();
            }
            self.push(el);
        }
    }

    fn table(&mut self, t: &Table, note: Option<String>) {
        let n = t.columns.len().max(1);
        let title = t.title.clone().or(note);
        let mut repeat = Vec::new();
        if let Some(title) = &title {
            let el = json!({
                "type": "TextBlock", "text": truncate_chars(title, 300), "wrap": true,
                "size": "small", "isSubtle": true,
            });
            self.push_keep(el.clone());
            let mut cont = el;
            cont["text"] = Value::String(format!("{} (continued)", truncate_chars(title, 280)));
            repeat.push(cont);
        }
        let row = |cells: &[String], header: bool| -> Value {
            let columns: Vec<Value> = (0..n)
                .map(|i| {
                    let text = cells.get(i).map(String::as_str).unwrap_or("");
                    let mut tb = json!({
                        "type": "TextBlock",
                        "text": truncate_chars(text, MAX_CELL_CHARS),
                        "wrap": true,
                        "size": "small",
                    });
                    if header {
                        tb["weight"] = json!("bolder");
                    }
                    json!({ "type": "Column", "width": "stretch", "items": [tb] })
                })
                .collect();
            let mut set = json!({ "type": "ColumnSet", "columns": columns });
            if header {
                set["style"] = json!("emphasis");
            } else {
                set["spacing"] = json!("small");
                set["separator"] = json!(true);
            }
            set
        };
        let header = row(&t.columns, true);
        repeat.push(header.clone());
        self.repeats.push(repeat);
        let rid = self.repeats.len() - 1;
        self.push_with(header, None, None, !t.rows.is_empty());
        for r in &t.rows {
            self.push_with(row(r, false), None, Some(rid), false);
        }
    }

    fn code(&mut self, code: &str) {
        let g = self.group();
        let lines: Vec<&str> = code.lines().collect();
        let lines = if lines.is_empty() { vec![""] } else { lines };
        for line in lines {
            // Keep indentation: leading spaces would be collapsed by the renderer.
            let indent = line.len() - line.trim_start_matches(' ').len();
            let mut shown = "\u{a0}".repeat(indent);
            shown.push_str(&line[indent..]);
            if shown.is_empty() {
                shown.push('\u{a0}');
            }
            for piece in chunks(&shown, MAX_TEXT_BYTES) {
                let el = json!({
                    "type": "TextBlock", "text": piece, "wrap": true,
                    "fontType": "monospace", "spacing": "none",
                });
                self.push_with(el, Some((g, "emphasis")), None, false);
            }
        }
    }
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v)
        .map(|b| b.len())
        .unwrap_or(usize::MAX / 4)
}

/// Parses CSV text into records (flexible widths); `None` when it is not CSV.
fn csv_records(text: &str, limit: usize) -> Option<(Vec<Vec<String>>, usize)> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut total = 0usize;
    for rec in rdr.records() {
        let rec = rec.ok()?;
        total += 1;
        if rows.len() < limit {
            rows.push(rec.iter().map(str::to_string).collect());
        }
    }
    Some((rows, total))
}

fn build(reply: &Reply, opts: &CardOptions, max_block: usize) -> Builder {
    let mut b = Builder {
        max_block,
        ..Builder::default()
    };
    if let Some(r) = &opts.requester {
        let g = b.group();
        let who = json!({
            "type": "TextBlock",
            "text": format!("**{}** asked:", truncate_chars(&r.name, 100)),
            "wrap": true,
        });
        let what = json!({
            "type": "TextBlock",
            "text": format!("“{}”", truncate_chars(r.question.trim(), 500)),
            "wrap": true, "isSubtle": true, "spacing": "none",
        });
        b.push_with(who, Some((g, "emphasis")), None, true);
        b.push_with(what, Some((g, "emphasis")), None, false);
    }
    let mut headline_done = false;
    for part in &reply.parts {
        match part {
            Part::Heading { text, level } if *level <= 1 => {
                let tb = json!({
                    "type": "TextBlock", "text": truncate_chars(text, 500), "wrap": true,
                    "size": "large", "weight": "bolder",
                });
                match reply.severity.filter(|_| !headline_done) {
                    Some(s) => b.push_keep(json!({
                        "type": "Container",
                        "style": severity_style(s),
                        "items": [tb],
                    })),
                    None => b.push_keep(tb),
                }
                headline_done = true;
            }
            Part::Heading { text, level } => {
                let mut tb = json!({
                    "type": "TextBlock", "text": truncate_chars(text, 500), "wrap": true,
                    "weight": "bolder", "separator": true, "spacing": "medium",
                });
                if *level == 2 {
                    tb["size"] = json!("medium");
                }
                b.push_keep(tb);
            }
            Part::Paragraph { text } => b.text(text, &[]),
            Part::Bullets { items } => {
                for item in items {
                    b.text(&format!("• {item}"), &[("spacing", json!("small"))]);
                }
            }
            Part::Findings { items } => {
                for f in items {
                    let mut line =
                        format!("• **{}** {}", f.severity.as_str().to_uppercase(), f.title);
                    if let Some(rule) = &f.rule {
                        line.push_str(&format!(" _(rule: {rule})_"));
                    }
                    b.text(
                        &line,
                        &[
                            ("spacing", json!("small")),
                            ("color", json!(severity_style(f.severity))),
                        ],
                    );
                }
            }
            Part::Fields { fields } => {
                for group in fields.chunks(20) {
                    let facts: Vec<Value> = group
                        .iter()
                        .map(|f| {
                            json!({
                                "title": truncate_chars(&f.label, 100),
                                "value": truncate_chars(&f.value, 500),
                            })
                        })
                        .collect();
                    b.push(json!({ "type": "FactSet", "facts": facts }));
                }
            }
            Part::Table(t) => b.table(t, None),
            Part::Code { code, .. } => b.code(code),
            Part::Choices {
                prompt, options, ..
            } => {
                b.push_keep(text_block(truncate_chars(prompt, 1000)));
                for (i, o) in options.iter().enumerate() {
                    let label = if o.label == o.value {
                        o.label.clone()
                    } else {
                        format!("{} ({})", o.label, o.value)
                    };
                    b.push(json!({
                        "type": "TextBlock",
                        "text": format!("**{}.** {}", i + 1, truncate_chars(&label, 300)),
                        "wrap": true, "spacing": "small",
                    }));
                }
                if !options.is_empty() {
                    b.push(json!({
                        "type": "TextBlock",
                        "text": format!(
                            "Answer in this thread with @{} and the number or the name, e.g. @{} 1",
                            opts.bot_name, opts.bot_name
                        ),
                        "wrap": true, "size": "small", "isSubtle": true,
                    }));
                }
            }
            Part::Attachment(a) => {
                b.push_keep(json!({
                    "type": "TextBlock",
                    "text": format!("Attachment: {} ({})", truncate_chars(&a.name, 200), a.content_type),
                    "wrap": true, "weight": "bolder", "separator": true, "spacing": "medium",
                }));
                match &a.body {
                    AttachmentBody::Url(u)
                        if u.starts_with("https://") || u.starts_with("http://") =>
                    {
                        b.push(text_block(format!(
                            "[{}]({})",
                            a.name.replace(['[', ']'], ""),
                            u
                        )));
                    }
                    AttachmentBody::Url(u) | AttachmentBody::Remote { url: u, .. } => {
                        b.text(u, &[])
                    }
                    // Outgoing webhooks cannot carry files: name where the bot wrote it.
                    AttachmentBody::File(path) => {
                        b.text(&format!("Written on the bot host: {path}"), &[])
                    }
                    AttachmentBody::Text(t) => attachment_preview(&mut b, t, &a.content_type, opts),
                }
            }
            Part::Context { text } => {
                b.text(text, &[("size", json!("small")), ("isSubtle", json!(true))])
            }
        }
    }
    if b.blocks.is_empty() {
        b.push(text_block("(no answer)"));
    }
    b
}

fn attachment_preview(b: &mut Builder, text: &str, content_type: &str, opts: &CardOptions) {
    let lines = text.lines().count();
    let shown = opts.csv_preview_rows.min(lines);
    let note = format!(
        "Teams webhooks cannot upload files, so the file is not attached; {}.",
        if shown < lines {
            format!("its first {shown} of {lines} lines are shown below")
        } else {
            format!("all {lines} lines are shown below")
        }
    );
    b.push_keep(json!({
        "type": "TextBlock", "text": note, "wrap": true, "size": "small", "isSubtle": true,
    }));
    if shown == 0 {
        return;
    }
    let is_csv = content_type.starts_with("text/csv");
    let parsed = is_csv
        .then(|| csv_records(text, opts.csv_preview_rows))
        .flatten();
    match parsed {
        Some((rows, _)) if rows.len() >= 2 && rows.iter().all(|r| r.len() == rows[0].len()) => {
            let t = Table {
                title: None,
                columns: rows[0].clone(),
                rows: rows[1..].to_vec(),
            };
            b.table(&t, None);
        }
        _ => {
            let preview: Vec<&str> = text.lines().take(shown).collect();
            b.code(&preview.join("\n"));
        }
    }
}

/// Assembles one card from `blocks[range]`.
fn assemble(
    b: &Builder,
    idx: &[usize],
    part: usize,
    parts: usize,
    headline: &str,
    opts: &CardOptions,
) -> Value {
    let mut body: Vec<Value> = Vec::new();
    if part > 1 {
        let whom = opts
            .requester
            .as_ref()
            .map(|r| format!(" · answer for **{}**", truncate_chars(&r.name, 60)))
            .unwrap_or_default();
        body.push(json!({
            "type": "TextBlock",
            "text": format!("{} — continued (part {part} of {parts}){whom}", truncate_chars(headline, 100)),
            "wrap": true, "size": "small", "isSubtle": true,
        }));
    }
    if let Some(first) = idx.first() {
        if let Some(rid) = b.blocks[*first].repeat {
            body.extend(b.repeats[rid].iter().cloned());
        }
    }
    let mut open: Option<(usize, Value)> = None;
    for &i in idx {
        let blk = &b.blocks[i];
        match blk.group {
            Some((g, style)) => match &mut open {
                Some((og, c)) if *og == g => {
                    if let Some(items) = c["items"].as_array_mut() {
                        items.push(blk.el.clone());
                    }
                }
                _ => {
                    if let Some((_, c)) = open.take() {
                        body.push(c);
                    }
                    open = Some((
                        g,
                        json!({ "type": "Container", "style": style, "items": [blk.el.clone()] }),
                    ));
                }
            },
            None => {
                if let Some((_, c)) = open.take() {
                    body.push(c);
                }
                body.push(blk.el.clone());
            }
        }
    }
    if let Some((_, c)) = open.take() {
        body.push(c);
    }
    if part < parts {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("Continued in the next message (part {} of {parts}).", part + 1),
            "wrap": true, "size": "small", "isSubtle": true,
        }));
    }
    card(body)
}

/// Estimated bytes that blocks `i..=j` add to a card (an upper bound).
fn unit_cost(
    b: &Builder,
    i: usize,
    j: usize,
    start_of_card: bool,
    prev_group: Option<usize>,
    container: usize,
) -> usize {
    let mut c = 0;
    let mut pg = prev_group;
    for (k, blk) in b.blocks[i..=j].iter().enumerate() {
        c += blk.size + 1;
        match blk.group {
            Some((g, _)) => {
                if pg != Some(g) {
                    c += container;
                }
                pg = Some(g);
            }
            None => pg = None,
        }
        if k == 0 && start_of_card {
            if let Some(rid) = blk.repeat {
                c += b.repeats[rid]
                    .iter()
                    .map(|e| json_len(e) + 1)
                    .sum::<usize>();
            }
        }
    }
    c
}

/// Greedy packing of block indices into cards of at most `budget` estimated bytes.
fn pack(b: &Builder, budget: usize) -> Vec<Vec<usize>> {
    let container = json_len(&json!({ "type": "Container", "style": "emphasis", "items": [] })) + 1;
    let n = b.blocks.len();
    let mut cards: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut used = 0usize;
    let mut i = 0;
    while i < n {
        // A unit: this block and the ones it must stay with (heading + first line, …).
        let mut j = i;
        while j + 1 < n && b.blocks[j].keep_with_next {
            j += 1;
        }
        let prev_group = cur.last().and_then(|&k| b.blocks[k].group.map(|g| g.0));
        let here = unit_cost(b, i, j, cur.is_empty(), prev_group, container);
        if used + here <= budget {
            cur.extend(i..=j);
            used += here;
            i = j + 1;
        } else if cur.is_empty() {
            // The unit is larger than a card: place its first block, the rest follows.
            used += unit_cost(b, i, i, true, None, container);
            cur.push(i);
            i += 1;
        } else {
            cards.push(std::mem::take(&mut cur));
            used = 0;
        }
    }
    if !cur.is_empty() || cards.is_empty() {
        cards.push(cur);
    }
    cards
}

/// Renders `reply` as one or more Adaptive Cards (1.4). Each card, wrapped alone in a
/// [`message`] envelope, serializes to at most `opts.max_card_bytes` bytes; long answers are
/// split between elements (table rows, lines, bullets), tables repeat their header and every
/// card but the first says which part it is.
pub fn render_cards(reply: &Reply, opts: &CardOptions) -> Vec<Value> {
    let overhead = message_bytes(&card(Vec::new()));
    let budget = opts
        .max_card_bytes
        .saturating_sub(overhead + LABEL_RESERVE)
        .max(1_000);
    let b = build(reply, opts, budget * 3 / 4);
    let headline = reply
        .parts
        .iter()
        .find_map(|p| match p {
            Part::Heading { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or("Answer");
    let mut groups = pack(&b, budget);
    // The estimate is an upper bound; still verify, and halve any card that is over.
    for _ in 0..64 {
        let n = groups.len();
        let over = groups.iter().enumerate().find_map(|(k, g)| {
            let c = assemble(&b, g, k + 1, n, headline, opts);
            (message_bytes(&c) > opts.max_card_bytes && g.len() > 1).then_some(k)
        });
        match over {
            Some(k) => {
                let g = groups.remove(k);
                let (a, rest) = g.split_at(g.len() / 2);
                groups.insert(k, rest.to_vec());
                groups.insert(k, a.to_vec());
            }
            None => break,
        }
    }
    let n = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(k, g)| assemble(&b, g, k + 1, n, headline, opts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbabot_chat::{Attachment, Choice, Field, FindingLine};

    fn sample() -> Reply {
        Reply {
            severity: Some(Severity::Warning),
            ..Reply::default()
        }
        .with(Part::Heading {
            text: "Space report — demo".into(),
            level: 1,
        })
        .with(Part::Fields {
            fields: vec![
                Field {
                    label: "Target".into(),
                    value: "demo".into(),
                },
                Field {
                    label: "Severity".into(),
                    value: "warning".into(),
                },
            ],
        })
        .with(Part::Heading {
            text: "Findings".into(),
            level: 2,
        })
        .with(Part::Findings {
            items: vec![FindingLine {
                severity: Severity::Warning,
                title: "events has 3 dead tuples".into(),
                rule: None,
            }],
        })
        .with(Part::Bullets {
            items: vec!["plain".into()],
        })
        .with(Part::Code {
            language: Some("sql".into()),
            code: "SELECT 1\n  FROM t".into(),
        })
        .with(Part::Table(Table {
            title: Some("rows".into()),
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec!["1".into(), "2".into()]],
        }))
        .with(Part::Choices {
            id: "target".into(),
            prompt: "Which target?".into(),
            options: vec![
                Choice {
                    label: "orders-prod".into(),
                    value: "orders-prod".into(),
                },
                Choice {
                    label: "Shop (MySQL)".into(),
                    value: "shop".into(),
                },
            ],
        })
        .with(Part::Attachment(Attachment {
            name: "space-demo.csv".into(),
            content_type: "text/csv".into(),
            body: AttachmentBody::Text("check,a,b\nx,1,2\nx,3,4\n".into()),
        }))
        .with(Part::Context {
            text: "checks: x 1 ms".into(),
        })
    }

    /// The Adaptive Card 1.4 schema from `tests/fixtures` (draft-06).
    fn schema() -> jsonschema::Validator {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/adaptive-card-1.4.schema.json");
        let text = std::fs::read_to_string(&path).expect("adaptive card schema in tests/fixtures");
        let schema: Value = serde_json::from_str(&text).expect("schema json");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft6)
            .build(&schema)
            .expect("schema compiles")
    }

    fn assert_valid(v: &jsonschema::Validator, card: &Value) {
        let errors: Vec<String> = v
            .iter_errors(card)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{card:#}");
    }

    #[test]
    fn the_schema_catches_mistakes() {
        let v = schema();
        assert_valid(&v, &card(vec![text_block("ok")]));
        for bad in [
            json!({ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "Table", "rows": [] }] }),
            json!({ "type": "AdaptiveCard", "version": "1.4", "msteams": { "width": "Full" }, "body": [] }),
            json!({ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock", "text": "x", "style": "heading" }] }),
            json!({ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock" }] }),
        ] {
            assert!(!v.is_valid(&bad), "{bad}");
        }
    }

    #[test]
    fn renders_every_part_kind() {
        let cards = render_cards(&sample(), &CardOptions::default());
        assert_eq!(cards.len(), 1);
        assert_valid(&schema(), &cards[0]);
        let c = &cards[0];
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["version"], "1.4");
        let body = c["body"].as_array().expect("body");
        assert_eq!(body[0]["type"], "Container");
        assert_eq!(body[0]["style"], "warning");
        assert_eq!(body[0]["items"][0]["size"], "large");
        assert_eq!(body[1]["type"], "FactSet");
        assert_eq!(body[1]["facts"][1]["title"], "Severity");
        let s = c.to_string();
        assert!(s.contains("\"color\":\"warning\""), "{s}");
        assert!(s.contains("\"fontType\":\"monospace\""), "{s}");
        assert!(s.contains("\u{a0}\u{a0}FROM t"), "{s}");
        assert!(s.contains("**2.** Shop (MySQL) (shop)"), "{s}");
        assert!(s.contains("@dbabot 1"), "{s}");
        assert!(s.contains("cannot upload files"), "{s}");
        assert!(!s.contains("Action."), "no actions at all: {s}");
        assert!(c.get("actions").is_none());
    }

    #[test]
    fn long_answers_split_under_the_limit_with_repeated_headers() {
        let rows: Vec<Vec<String>> = (0..400)
            .map(|i| {
                vec![
                    format!("public.table_{i:04}"),
                    format!("{}", i * 8192),
                    "x".repeat(40),
                ]
            })
            .collect();
        let reply = Reply::default()
            .with(Part::Heading {
                text: "Big".into(),
                level: 1,
            })
            .with(Part::Table(Table {
                title: Some("tables".into()),
                columns: vec!["tbl".into(), "bytes".into(), "note".into()],
                rows,
            }))
            .with(Part::Paragraph {
                text: "word ".repeat(5_000),
            });
        let opts = CardOptions {
            max_card_bytes: 12_000,
            ..CardOptions::default()
        };
        let cards = render_cards(&reply, &opts);
        assert!(cards.len() > 3, "{}", cards.len());
        let n = cards.len();
        let v = schema();
        for (k, c) in cards.iter().enumerate() {
            assert_valid(&v, c);
            assert!(message_bytes(c) <= 12_000, "card {k}: {}", message_bytes(c));
            let s = c.to_string();
            if k > 0 {
                assert!(s.contains(&format!("part {} of {n}", k + 1)), "{s}");
            }
        }
        // Every row is somewhere, exactly once.
        let all: String = cards.iter().map(|c| c.to_string()).collect();
        for i in [0, 199, 399] {
            assert_eq!(
                all.matches(&format!("public.table_{i:04}\"")).count(),
                1,
                "{i}"
            );
        }
        // Continuation cards that start inside the table repeat its header.
        assert!(cards[1].to_string().contains("tables (continued)"));
    }

    #[test]
    fn chunks_split_on_whitespace_and_char_boundaries() {
        let c = chunks(&"é".repeat(10), 5);
        assert!(c.iter().all(|p| p.len() <= 5));
        assert_eq!(c.concat(), "é".repeat(10));
        let c = chunks("aaaa bbbb cccc", 10);
        assert_eq!(c, vec!["aaaa bbbb", "cccc"]);
    }
}
