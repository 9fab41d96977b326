//! [`Reply`] → Discord messages.
//!
//! A structured answer (a headline, target fields, a severity or checks) becomes embeds: the
//! headline is the title, the first `Fields` part the inline fields (target, engine, environment,
//! cloud, severity), the colour follows the severity, the small print (`Context` parts: checks run
//! and their durations, who answered) is the footer, and everything else is Markdown in the
//! description, SQL and tables in fenced code blocks. Anything else is plain content.
//!
//! Every output respects Discord's limits ([`crate::wire`]): text is cut at line boundaries (then
//! at spaces, then anywhere) into descriptions of at most 4096 characters, embeds are grouped into
//! messages of at most 10 embeds and 6000 characters, plain content into messages of at most 2000
//! characters; a code block cut in two is closed and reopened so both halves stay valid Markdown.
//! Choices become buttons (up to 10, five per row) or a select menu (up to 25), files are
//! uploaded one per message.

use crate::convert::{button_custom_id, select_custom_id};
use crate::wire::*;
use dbabot_chat::{AttachmentBody, CheckRun, Choice, Field, Part, Reply, Severity};

/// Most buttons offered before a select menu is used instead.
const MAX_BUTTONS: usize = 10;
/// The share of an embed's 6000 characters the inline fields may take; the rest is text.
const FIELDS_BUDGET: usize = 3000;
/// Closing fence appended to a chunk that ends inside a code block.
const CLOSE_FENCE: &str = "\n```";

/// Limits that depend on where the reply goes.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Largest file to upload, in bytes; bigger attachments are replaced by a note.
    pub max_file_bytes: u64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            max_file_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Embed colour for a severity (Discord's palette); `None` is neutral grey.
/// The coloured circle a finding line starts with (Unicode emoji render on every Discord client).
fn severity_marker(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
        Severity::Ok => "🟢",
    }
}

pub fn severity_color(s: Option<Severity>) -> u32 {
    match s {
        Some(Severity::Critical) => 0xED4245,
        Some(Severity::Warning) => 0xFEE75C,
        Some(Severity::Info) => 0x5865F2,
        Some(Severity::Ok) => 0x57F287,
        None => 0x99AAB5,
    }
}

/// "checks: overview 12 ms, locks 8 ms (timeout) · total 20 ms" from the reply's check runs.
pub fn checks_line(checks: &[CheckRun]) -> String {
    let items: Vec<String> = checks
        .iter()
        .map(|c| {
            if c.status == "ok" {
                format!("{} {} ms", c.name, c.duration_ms)
            } else {
                format!("{} {} ms ({})", c.name, c.duration_ms, c.status)
            }
        })
        .collect();
    let total: u64 = checks.iter().map(|c| c.duration_ms).sum();
    format!("checks: {} · total {total} ms", items.join(", "))
}

/// How a unit of text joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// A blank line (a new section).
    Gap,
    /// A line break.
    Line,
    /// A space (a long line continued).
    Space,
    /// Nothing (a long word or code line continued).
    Glue,
}

/// The smallest piece the packer places: one line (or part of a long line).
#[derive(Debug, Clone)]
struct Unit {
    text: String,
    /// `Some(lang)` inside a fenced code block.
    code: Option<String>,
    /// The first line of a code block (a new fence opens even after another code block).
    block_start: bool,
    join: Join,
}

fn fence_open(lang: &str) -> String {
    format!("```{lang}\n")
}

/// Text units for `text`, one per line, the first joined with `join`.
fn text_units(out: &mut Vec<Unit>, text: &str, join: Join) {
    for (i, line) in text.split('\n').enumerate() {
        out.push(Unit {
            text: line.trim_end_matches('\r').to_string(),
            code: None,
            block_start: false,
            join: if i == 0 { join } else { Join::Line },
        });
    }
}

/// Code units for a fenced block; "```" inside the code is defused so the fence holds.
fn code_units(out: &mut Vec<Unit>, lang: &str, code: &str, join: Join) {
    let safe = code.replace("```", "`\u{200b}`\u{200b}`");
    let lang: String = lang
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '+')
        .take(16)
        .collect();
    for (i, line) in safe.trim_end().split('\n').enumerate() {
        out.push(Unit {
            text: line.trim_end_matches('\r').to_string(),
            code: Some(lang.clone()),
            block_start: i == 0,
            join: if i == 0 { join } else { Join::Line },
        });
    }
}

/// Splits units longer than the chunk budget allows: text at the last space in the second half
/// of the window, otherwise (and code always) at the character limit.
fn presplit(units: Vec<Unit>, min_budget: usize) -> Vec<Unit> {
    let mut out = Vec::with_capacity(units.len());
    for u in units {
        let max = match &u.code {
            Some(lang) => min_budget.saturating_sub(chars(&fence_open(lang)) + chars(CLOSE_FENCE)),
            None => min_budget,
        }
        .max(1);
        if chars(&u.text) <= max {
            out.push(u);
            continue;
        }
        let mut rest: Vec<char> = u.text.chars().collect();
        let mut first = true;
        let mut join = u.join;
        while !rest.is_empty() {
            let (piece, next_join, consumed) = if rest.len() <= max {
                (rest.iter().collect::<String>(), Join::Glue, rest.len())
            } else if u.code.is_none() {
                match rest[..max]
                    .iter()
                    .rposition(|c| c.is_whitespace())
                    .filter(|p| *p >= max / 2)
                {
                    Some(p) => (rest[..p].iter().collect(), Join::Space, p + 1),
                    None => (rest[..max].iter().collect(), Join::Glue, max),
                }
            } else {
                (rest[..max].iter().collect(), Join::Glue, max)
            };
            out.push(Unit {
                text: piece,
                code: u.code.clone(),
                block_start: u.block_start && first,
                join,
            });
            rest.drain(..consumed);
            join = next_join;
            first = false;
        }
    }
    out
}

/// Packs units into chunks; chunk `i` holds at most `budget(i)` characters, fences balanced.
fn pack(units: Vec<Unit>, budget: &dyn Fn(usize) -> usize, min_budget: usize) -> Vec<String> {
    let units = presplit(units, min_budget);
    let mut chunks: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    let mut open: Option<String> = None;

    let piece_for = |u: &Unit, at_start: bool, open: &Option<String>| -> String {
        let mut s = String::new();
        if at_start {
            if let Some(lang) = &u.code {
                s.push_str(&fence_open(lang));
            }
            s.push_str(&u.text);
            return s;
        }
        let continuing = u.code.is_some() && !u.block_start && *open == u.code;
        let close = open.is_some() && !continuing;
        let open_new = u.code.is_some() && !continuing;
        if close {
            s.push_str(CLOSE_FENCE);
        }
        s.push_str(if close || open_new {
            if u.join == Join::Gap {
                "\n\n"
            } else {
                "\n"
            }
        } else {
            match u.join {
                Join::Gap => "\n\n",
                Join::Line => "\n",
                Join::Space => " ",
                Join::Glue => "",
            }
        });
        if open_new {
            if let Some(lang) = &u.code {
                s.push_str(&fence_open(lang));
            }
        }
        s.push_str(&u.text);
        s
    };

    for u in &units {
        let at_start = cur_len == 0 && cur.is_empty();
        let piece = piece_for(u, at_start, &open);
        let reserve = if u.code.is_some() {
            chars(CLOSE_FENCE)
        } else {
            0
        };
        let fits = cur_len + chars(&piece) + reserve <= budget(chunks.len());
        if fits {
            cur_len += chars(&piece);
            cur.push_str(&piece);
            open = u.code.clone();
            continue;
        }
        // Close this chunk and start the next with this unit.
        if open.is_some() {
            cur.push_str(CLOSE_FENCE);
        }
        chunks.push(std::mem::take(&mut cur));
        open = None;
        let piece = piece_for(u, true, &open);
        cur_len = chars(&piece);
        cur = piece;
        open = u.code.clone();
    }
    if open.is_some() {
        cur.push_str(CLOSE_FENCE);
    }
    chunks.push(cur);
    chunks
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Buttons (≤ 10, five per row) or a select menu (≤ 25 options) for a `Choices` part, and how
/// many options could not be offered as components.
pub fn choice_components(id: &str, options: &[Choice]) -> (Vec<ActionRow>, usize) {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&Choice> = options
        .iter()
        .filter(|o| !o.value.is_empty() && seen.insert(o.value.as_str()))
        .collect();
    if unique.is_empty() {
        return (Vec::new(), options.len());
    }
    let button_ids: Vec<Option<String>> = unique
        .iter()
        .map(|o| button_custom_id(id, &o.value))
        .collect();
    if unique.len() <= MAX_BUTTONS && button_ids.iter().all(Option::is_some) {
        let buttons: Vec<Component> = unique
            .iter()
            .zip(button_ids)
            .map(|(o, cid)| Component::Button {
                kind: 2,
                style: 1,
                label: truncate(
                    if o.label.trim().is_empty() {
                        &o.value
                    } else {
                        &o.label
                    },
                    BUTTON_LABEL_MAX,
                ),
                custom_id: cid.unwrap_or_default(),
                disabled: false,
            })
            .collect();
        let rows = buttons
            .chunks(BUTTONS_PER_ROW)
            .take(ROWS_MAX)
            .map(|c| ActionRow::new(c.to_vec()))
            .collect();
        return (rows, options.len() - unique.len());
    }
    let Some(custom_id) = select_custom_id(id) else {
        return (Vec::new(), options.len());
    };
    let select_options: Vec<SelectOption> = unique
        .iter()
        .filter(|o| chars(&o.value) <= SELECT_TEXT_MAX)
        .take(SELECT_OPTIONS_MAX)
        .map(|o| SelectOption {
            label: truncate(
                if o.label.trim().is_empty() {
                    &o.value
                } else {
                    &o.label
                },
                SELECT_TEXT_MAX,
            ),
            value: o.value.clone(),
            description: None,
        })
        .collect();
    let offered = select_options.len();
    if offered == 0 {
        return (Vec::new(), options.len());
    }
    let select = Component::StringSelect {
        kind: 3,
        custom_id,
        placeholder: "Choose…".into(),
        min_values: 1,
        max_values: 1,
        options: select_options,
    };
    (vec![ActionRow::new(vec![select])], options.len() - offered)
}

/// Everything of a reply, sorted by where it goes.
struct Sorted {
    title: Option<String>,
    fields: Vec<Field>,
    body: Vec<Unit>,
    small_print: Vec<String>,
    components: Vec<ActionRow>,
    files: Vec<OutFile>,
}

fn sort(reply: &Reply, opts: &RenderOptions) -> Sorted {
    let mut s = Sorted {
        title: None,
        fields: Vec::new(),
        body: Vec::new(),
        small_print: Vec::new(),
        components: Vec::new(),
        files: Vec::new(),
    };
    let mut fields_taken = false;
    let mut choices_taken = false;
    for part in &reply.parts {
        match part {
            Part::Heading { text, level } if *level <= 1 && s.title.is_none() => {
                s.title = Some(text.clone());
            }
            Part::Heading { text, .. } => {
                text_units(&mut s.body, &format!("**{text}**"), Join::Gap)
            }
            Part::Paragraph { text } => text_units(&mut s.body, text, Join::Line),
            Part::Bullets { items } => {
                for i in items {
                    text_units(&mut s.body, &format!("• {i}"), Join::Line);
                }
            }
            Part::Findings { items } => {
                for f in items {
                    let mut line = format!(
                        "{} **{}** {}",
                        severity_marker(f.severity),
                        f.severity.as_str().to_uppercase(),
                        f.title
                    );
                    if let Some(rule) = &f.rule {
                        line.push_str(&format!(" *(rule: {rule})*"));
                    }
                    text_units(&mut s.body, &line, Join::Line);
                }
            }
            Part::Fields { fields } if !fields_taken => {
                fields_taken = true;
                s.fields = fields.clone();
            }
            Part::Fields { fields } => {
                for f in fields {
                    text_units(
                        &mut s.body,
                        &format!("**{}:** {}", f.label, f.value),
                        Join::Line,
                    );
                }
            }
            Part::Table(t) => {
                if let Some(title) = &t.title {
                    text_units(&mut s.body, &format!("*{title}*"), Join::Line);
                }
                code_units(&mut s.body, "", &t.aligned_lines().join("\n"), Join::Line);
            }
            Part::Code { language, code } => {
                code_units(
                    &mut s.body,
                    language.as_deref().unwrap_or(""),
                    code,
                    Join::Line,
                );
            }
            Part::Choices {
                id,
                prompt,
                options,
            } => {
                text_units(&mut s.body, prompt, Join::Gap);
                if choices_taken {
                    // One set of components per reply; further choices are listed for typing.
                    for (i, o) in options.iter().enumerate() {
                        text_units(&mut s.body, &format!("{}. {}", i + 1, o.label), Join::Line);
                    }
                    continue;
                }
                choices_taken = true;
                let (rows, left_out) = choice_components(id, options);
                s.components = rows;
                if left_out > 0 {
                    text_units(
                        &mut s.body,
                        &format!("All {} options (type a name or number):", options.len()),
                        Join::Line,
                    );
                    for (i, o) in options.iter().enumerate() {
                        text_units(&mut s.body, &format!("{}. {}", i + 1, o.label), Join::Line);
                    }
                }
            }
            Part::Attachment(a) => match &a.body {
                AttachmentBody::Text(t) => {
                    if t.len() as u64 > opts.max_file_bytes {
                        text_units(
                            &mut s.body,
                            &format!(
                                "*`{}` is {} KiB, over the {} KiB upload limit, so it is not attached.*",
                                a.name,
                                t.len() / 1024,
                                opts.max_file_bytes / 1024
                            ),
                            Join::Line,
                        );
                    } else {
                        s.files.push(OutFile {
                            name: sanitize_filename(&a.name),
                            content_type: a.content_type.clone(),
                            data: t.clone().into_bytes(),
                            path: None,
                        });
                    }
                }
                AttachmentBody::Url(u) | AttachmentBody::Remote { url: u, .. } => {
                    text_units(&mut s.body, &format!("📎 [{}]({u})", a.name), Join::Line);
                }
                AttachmentBody::File(path) => s.files.push(OutFile {
                    name: sanitize_filename(&a.name),
                    content_type: a.content_type.clone(),
                    data: Vec::new(),
                    path: Some(path.clone()),
                }),
            },
            Part::Context { text } => s.small_print.push(text.clone()),
        }
    }
    s
}

/// Discord shows a file name as given; keep it to safe characters.
fn sanitize_filename(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if n.is_empty() {
        "attachment.txt".into()
    } else {
        n
    }
}

/// Renders `reply` as one or more Discord messages, in order, each within every limit.
pub fn render(reply: &Reply, opts: &RenderOptions) -> Vec<OutMessage> {
    let sorted = sort(reply, opts);
    let structured = sorted.title.is_some()
        || !sorted.fields.is_empty()
        || reply.severity.is_some()
        || !reply.checks.is_empty();
    let mut messages = if structured {
        embed_messages(reply, &sorted)
    } else {
        content_messages(&sorted)
    };
    if messages.is_empty() {
        messages.push(OutMessage::text("I have nothing to add."));
    }
    if let Some(last) = messages.last_mut() {
        last.components = sorted.components.clone();
    }
    let mut files = sorted.files.into_iter();
    if let (Some(last), Some(f)) = (messages.last_mut(), files.next()) {
        attach(last, f);
    }
    for f in files {
        let mut m = OutMessage::default();
        attach(&mut m, f);
        messages.push(m);
    }
    messages
}

fn attach(m: &mut OutMessage, f: OutFile) {
    m.attachments = vec![AttachmentRef {
        id: "0".into(),
        filename: f.name.clone(),
        description: None,
    }];
    m.file = Some(f);
}

fn content_messages(s: &Sorted) -> Vec<OutMessage> {
    let mut units = s.body.clone();
    for (i, line) in s.small_print.iter().enumerate() {
        // `-# ` is Discord's small-text Markdown, one line at a time.
        for (j, l) in line.split('\n').enumerate() {
            units.push(Unit {
                text: format!("-# {l}"),
                code: None,
                block_start: false,
                join: if i == 0 && j == 0 {
                    Join::Gap
                } else {
                    Join::Line
                },
            });
        }
    }
    pack(units, &|_| CONTENT_MAX, CONTENT_MAX)
        .into_iter()
        .map(OutMessage::text)
        .collect()
}

fn embed_messages(reply: &Reply, s: &Sorted) -> Vec<OutMessage> {
    let color = Some(severity_color(reply.severity));
    let title = s.title.as_deref().map(|t| truncate(t, TITLE_MAX));
    let footer = if !s.small_print.is_empty() {
        Some(s.small_print.join("\n"))
    } else if !reply.checks.is_empty() {
        Some(checks_line(&reply.checks))
    } else {
        None
    }
    .map(|t| truncate(&t, FOOTER_MAX));

    // Inline fields, as many as fit; the rest go to the description.
    let mut fields = Vec::new();
    let mut fields_len = 0;
    let mut body = Vec::new();
    for f in &s.fields {
        let field = EmbedField {
            name: truncate(
                if f.label.trim().is_empty() {
                    "\u{200b}"
                } else {
                    &f.label
                },
                FIELD_NAME_MAX,
            ),
            value: truncate(
                if f.value.trim().is_empty() {
                    "—"
                } else {
                    &f.value
                },
                FIELD_VALUE_MAX,
            ),
            inline: true,
        };
        let len = chars(&field.name) + chars(&field.value);
        if fields.len() < FIELDS_MAX && fields_len + len <= FIELDS_BUDGET {
            fields_len += len;
            fields.push(field);
        } else {
            text_units(
                &mut body,
                &format!("**{}:** {}", f.label, f.value),
                Join::Line,
            );
        }
    }
    body.extend(s.body.iter().cloned());

    let title_len = title.as_deref().map_or(0, chars);
    let footer_len = footer.as_deref().map_or(0, chars);
    let first_budget = DESCRIPTION_MAX.min(EMBEDS_TOTAL_MAX - title_len - fields_len - footer_len);
    let next_budget = DESCRIPTION_MAX.min(EMBEDS_TOTAL_MAX - footer_len);
    let chunks = pack(
        body,
        &|i| if i == 0 { first_budget } else { next_budget },
        first_budget.min(next_budget),
    );

    let mut embeds: Vec<Embed> = Vec::new();
    let mut chunks = chunks.into_iter();
    embeds.push(Embed {
        title,
        description: chunks.next(),
        color,
        fields,
        footer: None,
    });
    for c in chunks {
        embeds.push(Embed {
            description: Some(c),
            color,
            ..Embed::default()
        });
    }
    if let (Some(last), Some(text)) = (embeds.last_mut(), footer) {
        last.footer = Some(EmbedFooter { text });
    }

    let mut messages: Vec<OutMessage> = Vec::new();
    let mut cur: Vec<Embed> = Vec::new();
    let mut cur_len = 0;
    for e in embeds {
        let len = e.len();
        if !cur.is_empty() && (cur.len() == EMBEDS_PER_MESSAGE || cur_len + len > EMBEDS_TOTAL_MAX)
        {
            messages.push(OutMessage {
                embeds: std::mem::take(&mut cur),
                ..OutMessage::default()
            });
            cur_len = 0;
        }
        cur_len += len;
        cur.push(e);
    }
    if !cur.is_empty() {
        messages.push(OutMessage {
            embeds: cur,
            ..OutMessage::default()
        });
    }
    messages
}

/// Every limit a rendered message must respect; `Err` names the first one broken (for tests and
/// debug assertions).
///
/// # Errors
/// A description of the broken limit.
pub fn check_limits(m: &OutMessage) -> Result<(), String> {
    if let Some(c) = &m.content {
        if chars(c) > CONTENT_MAX {
            return Err(format!("content {} > {CONTENT_MAX}", chars(c)));
        }
        if c.matches("```").count() % 2 != 0 {
            return Err("content has an unbalanced code fence".into());
        }
    }
    if m.embeds.len() > EMBEDS_PER_MESSAGE {
        return Err(format!("{} embeds > {EMBEDS_PER_MESSAGE}", m.embeds.len()));
    }
    if m.embeds_len() > EMBEDS_TOTAL_MAX {
        return Err(format!(
            "embeds total {} > {EMBEDS_TOTAL_MAX}",
            m.embeds_len()
        ));
    }
    for e in &m.embeds {
        let len = |s: &Option<String>| s.as_deref().map_or(0, chars);
        if len(&e.title) > TITLE_MAX {
            return Err(format!("title {} > {TITLE_MAX}", len(&e.title)));
        }
        if len(&e.description) > DESCRIPTION_MAX {
            return Err(format!(
                "description {} > {DESCRIPTION_MAX}",
                len(&e.description)
            ));
        }
        if let Some(d) = &e.description {
            if d.matches("```").count() % 2 != 0 {
                return Err("description has an unbalanced code fence".into());
            }
        }
        if e.fields.len() > FIELDS_MAX {
            return Err(format!("{} fields > {FIELDS_MAX}", e.fields.len()));
        }
        for f in &e.fields {
            if chars(&f.name) > FIELD_NAME_MAX || chars(&f.value) > FIELD_VALUE_MAX {
                return Err(format!("field {} too long", f.name));
            }
            if f.value.is_empty() || f.name.is_empty() {
                return Err("empty field".into());
            }
        }
        if e.footer.as_ref().map_or(0, |f| chars(&f.text)) > FOOTER_MAX {
            return Err("footer too long".into());
        }
    }
    if m.components.len() > ROWS_MAX {
        return Err(format!("{} rows > {ROWS_MAX}", m.components.len()));
    }
    for row in &m.components {
        let buttons = row
            .components
            .iter()
            .filter(|c| matches!(c, Component::Button { .. }))
            .count();
        if buttons > BUTTONS_PER_ROW || (buttons > 0 && buttons != row.components.len()) {
            return Err("row mixes components or has more than 5 buttons".into());
        }
        if row.components.is_empty() {
            return Err("empty action row".into());
        }
        for c in &row.components {
            match c {
                Component::Button {
                    custom_id, label, ..
                } => {
                    if chars(custom_id) > CUSTOM_ID_MAX || chars(label) > BUTTON_LABEL_MAX {
                        return Err("button id or label too long".into());
                    }
                }
                Component::StringSelect {
                    custom_id, options, ..
                } => {
                    if chars(custom_id) > CUSTOM_ID_MAX
                        || options.len() > SELECT_OPTIONS_MAX
                        || options.is_empty()
                        || options.iter().any(|o| {
                            chars(&o.label) > SELECT_TEXT_MAX || chars(&o.value) > SELECT_TEXT_MAX
                        })
                    {
                        return Err("select menu over a limit".into());
                    }
                }
            }
        }
    }
    if m.content.as_deref().is_none_or(str::is_empty)
        && m.embeds.is_empty()
        && m.file.is_none()
        && m.components.is_empty()
    {
        return Err("empty message".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
