//! The `/dba` application command: its definition (registered on startup) and autocomplete.

use serde_json::{json, Value};

/// The command's name as typed (`/dba`).
pub const COMMAND_NAME: &str = "dba";

/// The bot permissions the install link asks for: View Channels (1 << 10), Send Messages
/// (1 << 11), Send Messages in Threads (1 << 38), Create Public Threads (1 << 35), Embed Links
/// (1 << 14), Attach Files (1 << 15), Read Message History (1 << 16), Add Reactions (1 << 6).
pub const INSTALL_PERMISSIONS: u64 = 309_237_763_136;

/// The OAuth2 link that adds the bot to a server with the `bot` and `applications.commands`
/// scopes and [`INSTALL_PERMISSIONS`].
pub fn install_url(application_id: u64) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot%20applications.commands&permissions={INSTALL_PERMISSIONS}"
    )
}

/// Most choices an option or an autocomplete answer may carry.
const MAX_CHOICES: usize = 25;

fn string_option(name: &str, description: &str, required: bool) -> Value {
    json!({ "type": 3, "name": name, "description": description, "required": required })
}

fn target_option(description: &str) -> Value {
    let mut o = string_option("target", description, false);
    o["autocomplete"] = Value::Bool(true);
    o["max_length"] = Value::from(100);
    o
}

/// The `/dba` definition for "Bulk Overwrite … Application Commands": one chat-input command
/// with the subcommands of the text commands (`help`, `targets`, `report`, `status`, `ask`,
/// `explain`, `escalate`, `forget`). `report name` has `reports` as fixed choices (autocomplete when
/// there are more than 25); `target` options autocomplete from the configured aliases.
pub fn definition(reports: &[String]) -> Value {
    let mut name = string_option("name", "Which report", true);
    if !reports.is_empty() && reports.len() <= MAX_CHOICES {
        name["choices"] = reports
            .iter()
            .map(|r| json!({ "name": r, "value": r }))
            .collect();
    } else {
        name["autocomplete"] = Value::Bool(true);
    }
    let sub = |n: &str, d: &str, options: Vec<Value>| -> Value {
        let mut s = json!({ "type": 1, "name": n, "description": d });
        if !options.is_empty() {
            s["options"] = Value::Array(options);
        }
        s
    };
    let mut question = string_option("question", "Your question in plain words", true);
    question["max_length"] = Value::from(2000);
    let mut sql = string_option(
        "sql",
        "One SELECT statement (only EXPLAINed, never run)",
        true,
    );
    sql["max_length"] = Value::from(4000);
    let mut note = string_option("note", "What the DBA team should know", false);
    note["max_length"] = Value::from(1000);
    json!({
        "name": COMMAND_NAME,
        "type": 1,
        "description": "Read-only DBA assistant: reports, health checks, EXPLAIN, advice",
        // Guild channels and the bot's DMs.
        "contexts": [0, 1],
        "integration_types": [0],
        "options": [
            sub("help", "What the bot can do and how to ask", vec![]),
            sub("targets", "The configured databases (no secrets)", vec![]),
            sub("report", "Run a named report (with a CSV of every row)",
                vec![name, target_option("Database target (alias)")]),
            sub("status", "Quick health check of a target",
                vec![target_option("Database target (alias)")]),
            sub("ask", "Ask a question in plain words", vec![question]),
            sub("explain", "Show the plan of a SELECT (EXPLAIN only)", vec![sql]),
            sub("escalate", "Hand this thread over to the DBA team", vec![note]),
            sub("forget", "Delete what the bot remembers of this channel or thread", vec![]),
        ]
    })
}

/// Autocomplete answers for `option` given what the user typed: configured target aliases for
/// `target`, report names for `name`; prefix matches first, then substring matches, at most 25.
pub fn autocomplete(
    option: &str,
    partial: &str,
    targets: &[String],
    reports: &[String],
) -> Vec<(String, String)> {
    let pool: &[String] = match option {
        "target" => targets,
        "name" => reports,
        _ => &[],
    };
    let p = partial.trim().to_lowercase();
    let mut prefix: Vec<&String> = Vec::new();
    let mut inner: Vec<&String> = Vec::new();
    for v in pool {
        let l = v.to_lowercase();
        if l.starts_with(&p) {
            prefix.push(v);
        } else if l.contains(&p) {
            inner.push(v);
        }
    }
    prefix
        .into_iter()
        .chain(inner)
        .filter(|v| !v.is_empty() && v.chars().count() <= 100)
        .take(MAX_CHOICES)
        .map(|v| (v.clone(), v.clone()))
        .collect()
}

/// The type-8 callback body for autocomplete `choices`.
pub fn autocomplete_response(choices: &[(String, String)]) -> Value {
    json!({
        "type": 8,
        "data": {
            "choices": choices
                .iter()
                .map(|(n, v)| json!({ "name": n, "value": v }))
                .collect::<Vec<_>>()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_has_every_subcommand_and_typed_options() {
        let d = definition(&["health".into(), "locks".into()]);
        let subs: Vec<&str> = d["options"]
            .as_array()
            .expect("options")
            .iter()
            .map(|o| o["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            subs,
            ["help", "targets", "report", "status", "ask", "explain", "escalate", "forget"]
        );
        let report = &d["options"][2];
        assert_eq!(report["options"][0]["choices"][1]["value"], "locks");
        assert_eq!(report["options"][1]["autocomplete"], true);
        // Required options first (Discord rejects a required option after an optional one).
        for sub in d["options"].as_array().expect("subs") {
            let req: Vec<bool> = sub["options"]
                .as_array()
                .map(|o| o.iter().map(|x| x["required"] == true).collect())
                .unwrap_or_default();
            assert!(req.windows(2).all(|w| w[0] || !w[1]), "{sub}");
        }
        let many: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
        assert_eq!(
            definition(&many)["options"][2]["options"][0]["autocomplete"],
            true
        );
    }

    #[test]
    fn definition_is_what_discords_bulk_overwrite_accepts() {
        let body = Value::Array(vec![definition(
            &crate::config::DEFAULT_REPORTS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )]);
        for path in [
            "/applications/{application_id}/guilds/{guild_id}/commands",
            "/applications/{application_id}/commands",
        ] {
            crate::spec::check(
                &crate::spec::request_schema(path, "put", "application/json"),
                &body,
            )
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        crate::spec::check(
            &crate::spec::component("ApplicationCommandUpdateRequest"),
            &body[0],
        )
        .expect("one command");
        let _: serenity::model::application::Command = serde_json::from_value({
            let mut c = body[0].clone();
            c["id"] = json!("771825006014889984");
            c["application_id"] = json!("1100000000000000001");
            c["version"] = json!("1");
            c["default_member_permissions"] = Value::Null;
            c
        })
        .expect("serenity reads the command back");
    }

    #[test]
    fn autocomplete_answer_is_a_documented_callback() {
        let a = autocomplete_response(&[("demo".into(), "demo".into())]);
        crate::spec::check(
            &crate::spec::component("ApplicationCommandAutocompleteCallbackRequest"),
            &a,
        )
        .expect("type 8");
    }

    #[test]
    fn install_permissions_are_the_eight_the_bot_needs() {
        use serenity::model::permissions::Permissions as P;
        let p = P::VIEW_CHANNEL
            | P::SEND_MESSAGES
            | P::SEND_MESSAGES_IN_THREADS
            | P::CREATE_PUBLIC_THREADS
            | P::EMBED_LINKS
            | P::ATTACH_FILES
            | P::READ_MESSAGE_HISTORY
            | P::ADD_REACTIONS;
        assert_eq!(p.bits(), INSTALL_PERMISSIONS);
        assert!(
            install_url(42).ends_with("scope=bot%20applications.commands&permissions=309237763136")
        );
    }

    #[test]
    fn autocomplete_prefers_prefixes() {
        let t: Vec<String> = ["orders-prod", "orders-staging", "shop-orders", "demo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let names: Vec<String> = autocomplete("target", "ord", &t, &[])
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(names, ["orders-prod", "orders-staging", "shop-orders"]);
        assert_eq!(autocomplete("target", "", &t, &[]).len(), 4);
        assert!(autocomplete("other", "", &t, &[]).is_empty());
        let many: Vec<String> = (0..40).map(|i| format!("db{i}")).collect();
        assert_eq!(autocomplete("target", "db", &many, &[]).len(), 25);
    }
}
