//! Terminal rendering of a [`Reply`]: headings, wrapped bullets, aligned tables, code blocks.

use dbabot_chat::{AttachmentBody, Part, Reply, Severity};

fn style(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "36",
        Severity::Ok => "32",
    }
}

/// Renders a reply as terminal text; `color` adds ANSI styling.
pub fn render_text(reply: &Reply, color: bool) -> String {
    let mut out = String::new();
    for part in &reply.parts {
        match part {
            Part::Heading { text, level } => {
                if *level <= 1 {
                    out.push_str(&style(text, "1;4", color));
                    out.push('\n');
                } else {
                    out.push('\n');
                    out.push_str(&style(text, "1", color));
                    out.push('\n');
                }
            }
            Part::Paragraph { text } => {
                out.push_str(text);
                out.push('\n');
            }
            Part::Bullets { items } => {
                for i in items {
                    out.push_str(&format!("  • {i}"));
                    out.push('\n');
                }
            }
            Part::Findings { items } => {
                for f in items {
                    let tag = format!("[{}]", f.severity.as_str().to_uppercase());
                    out.push_str(&format!(
                        "  • {} {}",
                        style(&tag, severity_color(f.severity), color),
                        f.title
                    ));
                    if let Some(rule) = &f.rule {
                        out.push_str(&style(&format!(" (rule: {rule})"), "2", color));
                    }
                    out.push('\n');
                }
            }
            Part::Fields { fields } => {
                let line: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let v = if f.label == "Severity" {
                            let sev = match f.value.as_str() {
                                "critical" => Severity::Critical,
                                "warning" => Severity::Warning,
                                "info" => Severity::Info,
                                _ => Severity::Ok,
                            };
                            style(&f.value, severity_color(sev), color)
                        } else {
                            f.value.clone()
                        };
                        format!("{}: {v}", style(&f.label, "2", color))
                    })
                    .collect();
                out.push_str(&line.join("   "));
                out.push('\n');
            }
            Part::Table(t) => {
                if let Some(title) = &t.title {
                    out.push_str(&style(title, "2", color));
                    out.push('\n');
                }
                for line in t.aligned_lines() {
                    out.push_str("  ");
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Part::Code { code, .. } => {
                for line in code.lines() {
                    out.push_str(&style(&format!("  │ {line}"), "36", color));
                    out.push('\n');
                }
            }
            Part::Choices {
                prompt, options, ..
            } => {
                out.push_str(prompt);
                out.push('\n');
                for (i, o) in options.iter().enumerate() {
                    out.push_str(&format!("  {}) {}\n", i + 1, o.label));
                }
                if !options.is_empty() {
                    out.push_str(&style("  (answer with a number or a name)", "2", color));
                    out.push('\n');
                }
            }
            Part::Attachment(a) => {
                let size = match &a.body {
                    AttachmentBody::Text(t) => format!("{} lines", t.lines().count()),
                    AttachmentBody::Url(u) | AttachmentBody::Remote { url: u, .. } => u.clone(),
                    AttachmentBody::File(path) => {
                        out.push_str(&format!("[file {} ({}): {path}]\n", a.name, a.content_type));
                        continue;
                    }
                };
                out.push_str(&style(
                    &format!(
                        "[attachment {} ({}, {size}); use --json to get its content]",
                        a.name, a.content_type
                    ),
                    "2",
                    color,
                ));
                out.push('\n');
            }
            Part::Context { text } => {
                out.push_str(&style(text, "2", color));
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbabot_chat::{Part, Table};

    #[test]
    fn tables_align() {
        let r = Reply::default().with(Part::Table(Table {
            title: None,
            columns: vec!["name".into(), "rows".into()],
            rows: vec![
                vec!["events".into(), "120000".into()],
                vec!["t".into(), "1".into()],
            ],
        }));
        let text = render_text(&r, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  name    rows");
        assert_eq!(lines[2], "  events  120000");
        assert_eq!(lines[3], "  t       1");
    }
}
