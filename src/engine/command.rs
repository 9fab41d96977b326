//! Explicit commands (`help`, `report health demo`, `/dba explain SELECT …`): the same words work
//! in every adapter, typed as text or sent as a slash command.

/// A command a user typed instead of a free-form question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Targets,
    Report {
        name: Option<String>,
        target: Option<String>,
    },
    Status {
        target: Option<String>,
    },
    Ask(String),
    Explain(String),
    Escalate(Option<String>),
    Forget,
    /// List open escalation cases (DBAs).
    Cases,
    /// `case ack|resolve|ask <id> [text]` (DBAs).
    Case {
        verb: String,
        id: String,
        text: String,
    },
}

/// Parses `text` as a command; `None` means "treat it as a question".
pub fn parse(text: &str) -> Option<Command> {
    let mut t = text.trim();
    for prefix in ["/dba ", "dba ", "/dba"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim();
        }
    }
    let (head, rest) = match t.split_once(char::is_whitespace) {
        Some((h, r)) => (h, r.trim()),
        None => (t, ""),
    };
    let words = rest.split_whitespace().count();
    match head.to_lowercase().as_str() {
        "help" | "?" | "commands" if words <= 1 => Some(Command::Help),
        "targets" if words == 0 => Some(Command::Targets),
        "report" if words <= 2 => {
            let mut it = rest.split_whitespace();
            Some(Command::Report {
                name: it.next().map(str::to_lowercase),
                target: it.next().map(str::to_string),
            })
        }
        "status" if words <= 1 => Some(Command::Status {
            target: (!rest.is_empty()).then(|| rest.to_string()),
        }),
        "ask" if !rest.is_empty() => Some(Command::Ask(rest.to_string())),
        "explain" if !rest.is_empty() && looks_like_sql(rest) => {
            Some(Command::Explain(strip_fences(rest)))
        }
        "escalate" => Some(Command::Escalate(
            (!rest.is_empty()).then(|| rest.to_string()),
        )),
        "forget"
            if words == 0
                || rest.eq_ignore_ascii_case("this thread")
                || rest.eq_ignore_ascii_case("this") =>
        {
            Some(Command::Forget)
        }
        "cases" if words == 0 => Some(Command::Cases),
        "case" if words >= 2 => {
            let mut it = rest.splitn(3, char::is_whitespace);
            let verb = it.next().unwrap_or("").to_lowercase();
            let id = it.next().unwrap_or("").to_string();
            let text = it.next().unwrap_or("").trim().to_string();
            Some(Command::Case { verb, id, text })
        }
        _ => None,
    }
}

fn looks_like_sql(s: &str) -> bool {
    let l = s.trim_start_matches('`').trim_start().to_lowercase();
    [
        "select", "with", "delete", "update", "insert", "drop", "alter", "truncate", "create",
        "merge", "replace", "explain", "(", "sql",
    ]
    .iter()
    .any(|k| l.starts_with(k))
}

fn strip_fences(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("```sql")
        .or_else(|| s.strip_prefix("```"))
        .unwrap_or(s);
    let s = s.strip_suffix("```").unwrap_or(s);
    s.trim().trim_matches('`').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("/dba report health orders-prod"),
            Some(Command::Report {
                name: Some("health".into()),
                target: Some("orders-prod".into())
            })
        );
        assert_eq!(parse("help"), Some(Command::Help));
        assert_eq!(parse("forget"), Some(Command::Forget));
        assert_eq!(
            parse("explain ```sql\nselect 1\n```"),
            Some(Command::Explain("select 1".into()))
        );
        assert_eq!(parse("status"), Some(Command::Status { target: None }));
        assert_eq!(parse("explain why the database is slow"), None);
        assert_eq!(parse("help me, orders is slow since 10:00"), None);
        assert_eq!(
            parse("report"),
            Some(Command::Report {
                name: None,
                target: None
            })
        );
    }
}
