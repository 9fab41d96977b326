//! Rendering at every Discord limit; every message is also checked against Discord's OpenAPI
//! request schemas and read back with serenity's model types.

use super::*;
use crate::convert::parse_custom_id;
use dbabot_chat::{Attachment, FindingLine, Table};
use serde_json::Value;

fn spec_check(m: &OutMessage) {
    check_limits(m).unwrap_or_else(|e| panic!("limit broken: {e}\n{m:#?}"));
    let json = serde_json::to_value(m).expect("json");
    for (path, method) in [
        ("/webhooks/{webhook_id}/{webhook_token}", "post"),
        (
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            "patch",
        ),
        ("/channels/{channel_id}/messages", "post"),
    ] {
        crate::spec::check(
            &crate::spec::request_schema(path, method, "application/json"),
            &json,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{json:#}"));
    }
    for e in &json["embeds"].as_array().cloned().unwrap_or_default() {
        let _: serenity::model::channel::Embed =
            serde_json::from_value(e.clone()).expect("serenity reads the embed");
    }
    for r in &json["components"].as_array().cloned().unwrap_or_default() {
        let _: serenity::model::application::ActionRow =
            serde_json::from_value(r.clone()).expect("serenity reads the action row");
    }
}

fn all_ok(messages: &[OutMessage]) {
    assert!(!messages.is_empty());
    for m in messages {
        spec_check(m);
    }
}

fn report(sections: usize, rows: usize, cell: usize) -> Reply {
    let mut r = Reply {
        severity: Some(Severity::Warning),
        checks: (0..sections)
            .map(|i| CheckRun {
                name: format!("check_{i}"),
                duration_ms: 10 + i as u64,
                status: if i == 1 {
                    "timeout".into()
                } else {
                    "ok".into()
                },
            })
            .collect(),
        intent: Some("report_request".into()),
        answered_by: Some("rules".into()),
        ..Reply::default()
    };
    r.push(Part::Heading {
        text: "Health report — demo".into(),
        level: 1,
    });
    r.push(Part::Fields {
        fields: [
            ("Target", "demo"),
            ("Engine", "SQLite"),
            ("Environment", "dev"),
            ("Cloud", "on-prem"),
            ("Severity", "warning"),
        ]
        .iter()
        .map(|(l, v)| Field {
            label: l.to_string(),
            value: v.to_string(),
        })
        .collect(),
    });
    r.push(Part::Heading {
        text: "Summary".into(),
        level: 2,
    });
    r.push(Part::Findings {
        items: vec![FindingLine {
            severity: Severity::Warning,
            title: "events has no index on customer_id".into(),
            rule: Some("seq scans > 1000".into()),
        }],
    });
    for s in 0..sections {
        r.push(Part::Heading {
            text: format!("Check {s} (check_{s})"),
            level: 2,
        });
        r.push(Part::Bullets {
            items: vec![format!("[INFO] finding of check {s}")],
        });
        r.push(Part::Table(Table {
            title: Some(format!("first {rows} of 200 rows (all in the CSV)")),
            columns: vec!["name".into(), "value".into()],
            rows: (0..rows)
                .map(|i| vec![format!("s{s}r{i}"), "x".repeat(cell)])
                .collect(),
        }));
    }
    r.push(Part::Code {
        language: Some("sql".into()),
        code: "CREATE INDEX CONCURRENTLY ON events (customer_id);".into(),
    });
    r.push(Part::Attachment(Attachment {
        name: "health-demo.csv".into(),
        content_type: "text/csv".into(),
        body: AttachmentBody::Text("check,name,value\ncheck_0,a,1\n".into()),
    }));
    r.push(Part::Context {
        text: "checks: check_0 10 ms · answered by rules · read-only: dbabot never changes your database".into(),
    });
    r
}

fn descriptions(messages: &[OutMessage]) -> String {
    messages
        .iter()
        .flat_map(|m| m.embeds.iter())
        .filter_map(|e| e.description.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_report_is_one_embed_with_fields_colour_footer_and_csv() {
    let out = render(&report(2, 3, 10), &RenderOptions::default());
    all_ok(&out);
    assert_eq!(out.len(), 1);
    let m = &out[0];
    assert_eq!(m.embeds.len(), 1);
    let e = &m.embeds[0];
    assert_eq!(e.title.as_deref(), Some("Health report — demo"));
    let names: Vec<&str> = e.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["Target", "Engine", "Environment", "Cloud", "Severity"]
    );
    assert!(e.fields.iter().all(|f| f.inline));
    assert_eq!(e.color, Some(0xFEE75C));
    let d = e.description.as_deref().expect("description");
    assert!(d.contains("**Summary**"));
    assert!(
        d.contains("🟠 **WARNING** events has no index on customer_id *(rule: seq scans > 1000)*"),
        "{d}"
    );
    assert!(
        d.contains("```\nname  "),
        "tables are monospace blocks: {d}"
    );
    assert!(d.contains("```sql\nCREATE INDEX CONCURRENTLY"), "{d}");
    assert!(e
        .footer
        .as_ref()
        .expect("footer")
        .text
        .starts_with("checks: check_0 10 ms"));
    let f = m.file.as_ref().expect("csv");
    assert_eq!(f.name, "health-demo.csv");
    assert_eq!(f.content_type, "text/csv");
    assert_eq!(m.attachments[0].id, "0");
    assert_eq!(m.attachments[0].filename, "health-demo.csv");
    assert_eq!(m.allowed_mentions.parse.len(), 0, "never pings");
}

#[test]
fn colours_by_severity_and_footer_from_checks() {
    for (s, c) in [
        (Some(Severity::Critical), 0xED4245),
        (Some(Severity::Warning), 0xFEE75C),
        (Some(Severity::Info), 0x5865F2),
        (Some(Severity::Ok), 0x57F287),
        (None, 0x99AAB5),
    ] {
        assert_eq!(severity_color(s), c);
    }
    let r = Reply {
        checks: vec![
            CheckRun {
                name: "overview".into(),
                duration_ms: 12,
                status: "ok".into(),
            },
            CheckRun {
                name: "locks".into(),
                duration_ms: 5001,
                status: "timeout".into(),
            },
        ],
        ..Reply::text("Nothing blocking.")
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(
        out[0].embeds[0].footer.as_ref().map(|f| f.text.as_str()),
        Some("checks: overview 12 ms, locks 5001 ms (timeout) · total 5013 ms")
    );
}

#[test]
fn a_long_report_is_split_across_messages_within_every_limit() {
    let r = report(40, 15, 60);
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert!(out.len() >= 3, "{} messages", out.len());
    let embeds: usize = out.iter().map(|m| m.embeds.len()).sum();
    assert!(embeds > 10, "{embeds} embeds");
    // Title and fields once, at the top; footer once, at the end.
    assert!(out[0].embeds[0].title.is_some());
    assert_eq!(
        out.iter()
            .flat_map(|m| &m.embeds)
            .filter(|e| e.title.is_some())
            .count(),
        1
    );
    assert_eq!(
        out.iter()
            .flat_map(|m| &m.embeds)
            .filter(|e| e.footer.is_some())
            .count(),
        1
    );
    assert!(out
        .last()
        .and_then(|m| m.embeds.last())
        .and_then(|e| e.footer.as_ref())
        .is_some());
    // Nothing lost: every row of every section is there, in order.
    let all = descriptions(&out);
    let mut at = 0;
    for s in 0..40 {
        for i in 0..15 {
            let needle = format!("s{s}r{i} ");
            let pos = all[at..]
                .find(&needle)
                .unwrap_or_else(|| panic!("{needle} missing"));
            at += pos;
        }
    }
    // The CSV rides on the last message only.
    assert!(out.last().and_then(|m| m.file.as_ref()).is_some());
    assert_eq!(out.iter().filter(|m| m.file.is_some()).count(), 1);
}

#[test]
fn title_fields_and_values_are_cut_to_their_limits() {
    let mut r = Reply {
        severity: Some(Severity::Critical),
        ..Reply::default()
    };
    r.push(Part::Heading {
        text: "T".repeat(300),
        level: 1,
    });
    r.push(Part::Fields {
        fields: (0..30)
            .map(|i| Field {
                label: format!("L{i}{}", "n".repeat(300)),
                value: if i == 3 {
                    String::new()
                } else {
                    "v".repeat(2000)
                },
            })
            .collect(),
    });
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    let e = &out[0].embeds[0];
    let title = e.title.as_deref().expect("title");
    assert_eq!(chars(title), TITLE_MAX);
    assert!(title.ends_with('…'));
    assert!(e.fields.len() <= FIELDS_MAX);
    assert!(!e.fields.is_empty());
    assert!(e
        .fields
        .iter()
        .all(|f| chars(&f.value) <= FIELD_VALUE_MAX && chars(&f.name) <= FIELD_NAME_MAX));
    // Fields that did not fit are in the text, none dropped.
    let all = descriptions(&out);
    let in_fields = out
        .iter()
        .flat_map(|m| &m.embeds)
        .map(|e| e.fields.len())
        .sum::<usize>();
    let in_text = (0..30)
        .filter(|i| all.contains(&format!("**L{i}n")))
        .count();
    assert_eq!(in_fields + in_text, 30);

    // Exactly 25 short fields fit in one embed.
    let r = Reply {
        parts: vec![Part::Fields {
            fields: (0..25)
                .map(|i| Field {
                    label: format!("f{i}"),
                    value: "v".into(),
                })
                .collect(),
        }],
        ..Reply::default()
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(out[0].embeds[0].fields.len(), 25);
    let r = Reply {
        parts: vec![Part::Fields {
            fields: (0..26)
                .map(|i| Field {
                    label: format!("f{i}"),
                    value: "v".into(),
                })
                .collect(),
        }],
        ..Reply::default()
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(out[0].embeds[0].fields.len(), 25);
    assert!(descriptions(&out).contains("**f25:** v"));
}

#[test]
fn a_huge_paragraph_is_cut_at_spaces_into_4096_character_descriptions() {
    let words: Vec<String> = (0..4000).map(|i| format!("word{i}")).collect();
    let text = words.join(" ");
    let r = Reply {
        severity: Some(Severity::Info),
        parts: vec![
            Part::Heading {
                text: "Big".into(),
                level: 1,
            },
            Part::Paragraph { text: text.clone() },
        ],
        ..Reply::default()
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    let descs: Vec<String> = out
        .iter()
        .flat_map(|m| &m.embeds)
        .filter_map(|e| e.description.clone())
        .collect();
    assert!(descs.len() >= 8, "{}", descs.len());
    assert!(
        descs.iter().any(|d| chars(d) > 3500),
        "descriptions are filled"
    );
    assert_eq!(descs.join(" "), text, "cut only at spaces, nothing lost");
}

#[test]
fn a_word_longer_than_any_limit_is_cut_anywhere() {
    let blob = "a".repeat(9000);
    let r = Reply::text(blob.clone());
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(out.len(), 5);
    let joined: String = out.iter().filter_map(|m| m.content.clone()).collect();
    assert_eq!(joined, blob);
}

#[test]
fn plain_replies_are_content_split_at_2000_characters() {
    let lines: Vec<String> = (0..200)
        .map(|i| format!("line {i}: {}", "z".repeat(20)))
        .collect();
    let mut r = Reply::text(lines.join("\n"));
    r.push(Part::Context {
        text: "answered by rules".into(),
    });
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert!(out.len() >= 3);
    assert!(out.iter().all(|m| m.embeds.is_empty()));
    assert!(out
        .iter()
        .all(|m| chars(m.content.as_deref().unwrap_or("")) <= CONTENT_MAX));
    let joined = out
        .iter()
        .filter_map(|m| m.content.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for l in &lines {
        assert!(joined.contains(l.as_str()), "{l} lost");
    }
    assert!(joined.ends_with("-# answered by rules"));
    // Cut between lines, never inside one.
    for m in &out {
        let c = m.content.as_deref().unwrap_or("");
        assert!(
            c.lines()
                .all(|l| l.starts_with("line ") || l.starts_with("-# ") || l.is_empty()),
            "{c}"
        );
    }
}

#[test]
fn a_long_sql_block_is_closed_and_reopened_across_messages() {
    let code: Vec<String> = (0..400)
        .map(|i| format!("SELECT col_{i}, count(*) FROM t_{i} GROUP BY 1;"))
        .collect();
    let r = Reply {
        parts: vec![
            Part::Paragraph {
                text: "Run this:".into(),
            },
            Part::Code {
                language: Some("sql".into()),
                code: code.join("\n"),
            },
            Part::Paragraph {
                text: "Then check again.".into(),
            },
        ],
        ..Reply::default()
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert!(out.len() >= 8);
    let mut seen = Vec::new();
    for m in &out {
        let c = m.content.as_deref().expect("content");
        assert_eq!(c.matches("```").count() % 2, 0, "{c}");
        for l in c.lines() {
            if l.starts_with("SELECT") {
                seen.push(l.to_string());
            }
        }
        if c.contains("SELECT") {
            assert!(c.contains("```sql\n"), "each part reopens the sql fence");
        }
    }
    assert_eq!(seen, code, "every line once, in order, unbroken");
    assert!(out
        .last()
        .and_then(|m| m.content.as_deref())
        .is_some_and(|c| c.ends_with("Then check again.")));

    // Code containing a fence cannot break out of its block.
    let r = Reply {
        parts: vec![Part::Code {
            language: Some("sql".into()),
            code: "SELECT '```' AS x".into(),
        }],
        ..Reply::default()
    };
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(
        out[0].content.as_deref().map(|c| c.matches("```").count()),
        Some(2)
    );
}

#[test]
fn many_embeds_are_grouped_ten_per_message_and_6000_characters() {
    // 30 sections whose tables each need most of an embed.
    let r = report(30, 15, 200);
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    for m in &out {
        assert!(m.embeds.len() <= EMBEDS_PER_MESSAGE);
        assert!(m.embeds_len() <= EMBEDS_TOTAL_MAX, "{}", m.embeds_len());
    }
    assert!(
        out.iter().any(|m| m.embeds_len() > 4096),
        "messages are filled"
    );

    // Many tiny embeds: at most ten per message.
    let parts: Vec<Part> = std::iter::once(Part::Heading {
        text: "h".into(),
        level: 1,
    })
    .chain((0..60).map(|i| Part::Code {
        language: None,
        code: format!("{i}\n{}", "q".repeat(3900)),
    }))
    .collect();
    let out = render(
        &Reply {
            parts,
            ..Reply::default()
        },
        &RenderOptions::default(),
    );
    all_ok(&out);
    assert!(out.len() >= 6);
}

#[test]
fn choices_become_buttons_or_a_select_menu() {
    let choices = |n: usize| Part::Choices {
        id: "target".into(),
        prompt: "Which database do you mean?".into(),
        options: (0..n)
            .map(|i| Choice {
                label: format!("db-{i}"),
                value: format!("db-{i}"),
            })
            .collect(),
    };
    let render1 = |n: usize| {
        let out = render(
            &Reply {
                parts: vec![choices(n)],
                ..Reply::default()
            },
            &RenderOptions::default(),
        );
        all_ok(&out);
        out
    };

    let out = render1(3);
    assert_eq!(
        out[0].content.as_deref(),
        Some("Which database do you mean?")
    );
    assert_eq!(out[0].components.len(), 1);
    let Component::Button {
        custom_id,
        label,
        style,
        ..
    } = &out[0].components[0].components[2]
    else {
        panic!("buttons");
    };
    assert_eq!((label.as_str(), *style), ("db-2", 1));
    assert_eq!(
        parse_custom_id(custom_id, &[]),
        Some(dbabot_chat::SelectedChoice {
            choice_id: "target".into(),
            value: "db-2".into()
        })
    );

    let out = render1(7);
    let sizes: Vec<usize> = out[0]
        .components
        .iter()
        .map(|r| r.components.len())
        .collect();
    assert_eq!(sizes, [5, 2]);

    let out = render1(12);
    assert_eq!(out[0].components.len(), 1);
    let Component::StringSelect {
        options, custom_id, ..
    } = &out[0].components[0].components[0]
    else {
        panic!("select");
    };
    assert_eq!(options.len(), 12);
    assert_eq!(
        parse_custom_id(custom_id, &["db-11".into()]).map(|c| c.value),
        Some("db-11".into())
    );

    let out = render1(30);
    let Component::StringSelect { options, .. } = &out[0].components[0].components[0] else {
        panic!("select");
    };
    assert_eq!(options.len(), SELECT_OPTIONS_MAX);
    let text = out[0].content.as_deref().unwrap_or("");
    assert!(text.contains("30. db-29"), "the rest can be typed: {text}");

    // Values too long for a button id go to a select menu.
    let long = Part::Choices {
        id: "target".into(),
        prompt: "Which?".into(),
        options: vec![Choice {
            label: "long".into(),
            value: "v".repeat(98),
        }],
    };
    let out = render(
        &Reply {
            parts: vec![long],
            ..Reply::default()
        },
        &RenderOptions::default(),
    );
    all_ok(&out);
    assert!(matches!(
        out[0].components[0].components[0],
        Component::StringSelect { .. }
    ));
}

#[test]
fn choices_ride_on_the_last_message_of_a_long_answer() {
    let mut r = report(40, 15, 60);
    r.push(Part::Choices {
        id: "intent".into(),
        prompt: "Did you mean?".into(),
        options: vec![Choice {
            label: "Locks".into(),
            value: "locks_blocking".into(),
        }],
    });
    let out = render(&r, &RenderOptions::default());
    all_ok(&out);
    assert_eq!(out.iter().filter(|m| !m.components.is_empty()).count(), 1);
    assert!(!out.last().map(|m| m.components.is_empty()).unwrap_or(true));
}

#[test]
fn files_go_one_per_message_and_oversized_ones_are_described() {
    let file = |name: &str, size: usize| {
        Part::Attachment(Attachment {
            name: name.into(),
            content_type: "text/csv".into(),
            body: AttachmentBody::Text("x".repeat(size)),
        })
    };
    let r = Reply {
        parts: vec![
            Part::Paragraph {
                text: "Here:".into(),
            },
            file("a.csv", 10),
            file("b c.csv", 10),
            file("big.csv", 5000),
        ],
        ..Reply::default()
    };
    let out = render(
        &r,
        &RenderOptions {
            max_file_bytes: 4096,
        },
    );
    all_ok(&out);
    let names: Vec<&str> = out
        .iter()
        .filter_map(|m| m.file.as_ref())
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["a.csv", "b_c.csv"]);
    assert!(out[0]
        .content
        .as_deref()
        .is_some_and(|c| c.contains("`big.csv` is 4 KiB, over the 4 KiB upload limit")));
    assert_eq!(out[1].attachments[0].filename, "b_c.csv");
}

#[test]
fn empty_reply_still_says_something() {
    let out = render(&Reply::default(), &RenderOptions::default());
    all_ok(&out);
}

#[test]
fn packing_never_exceeds_a_budget_whatever_the_mix() {
    // A deterministic mix of every unit kind against small budgets.
    let mut units = Vec::new();
    for i in 0..300 {
        match i % 5 {
            0 => text_units(&mut units, &format!("**H{i}**"), Join::Gap),
            1 => text_units(&mut units, &"word ".repeat(i % 37 + 1), Join::Line),
            2 => code_units(
                &mut units,
                "sql",
                &format!("SELECT {i};\n{}", "c".repeat(i % 150)),
                Join::Line,
            ),
            3 => text_units(&mut units, &"y".repeat(i % 211), Join::Line),
            _ => code_units(&mut units, "", &"t".repeat(i), Join::Line),
        }
    }
    for budget in [60usize, 100, 333, 2000] {
        let chunks = pack(units.clone(), &|_| budget, budget);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(chars(c) <= budget, "{} > {budget}: {c}", chars(c));
            assert_eq!(c.matches("```").count() % 2, 0, "{c}");
        }
    }
    let _: Value = Value::Null;
}

#[test]
fn the_spec_check_rejects_what_discord_rejects() {
    let schema = crate::spec::request_schema(
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "patch",
        "application/json",
    );
    let bad = [
        serde_json::json!({ "content": "x".repeat(2001) }),
        serde_json::json!({ "embeds": vec![serde_json::json!({"title": "t"}); 11] }),
        serde_json::json!({ "embeds": [{ "title": "t".repeat(257) }] }),
        serde_json::json!({ "embeds": [{ "description": "d".repeat(4097) }] }),
        serde_json::json!({ "embeds": [{ "fields": vec![serde_json::json!({"name": "n", "value": "v"}); 26] }] }),
        serde_json::json!({ "embeds": [{ "fields": [{ "name": "n", "value": "v".repeat(1025) }] }] }),
        serde_json::json!({ "components": [{ "type": 1, "components": vec![serde_json::json!({"type": 2, "style": 1, "label": "l", "custom_id": "c"}); 6] }] }),
        serde_json::json!({ "components": [{ "type": 1, "components": [{"type": 2, "style": 1, "label": "l", "custom_id": "c".repeat(101)}] }] }),
        serde_json::json!({ "attachments": [{ "filename": "a.csv" }] }),
    ];
    for b in bad {
        assert!(crate::spec::check(&schema, &b).is_err(), "accepted: {b}");
    }
    assert!(crate::spec::check(&schema, &serde_json::json!({ "content": "ok" })).is_ok());
}
