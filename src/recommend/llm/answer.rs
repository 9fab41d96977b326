//! The model's final answer: one JSON object with the same sections as the rule recommender's
//! [`crate::recommend::Recommendation`]. Parsing is lenient about shape (a string where a list
//! is expected, an action without SQL) and strict about substance (there must be a situation).

use crate::recommend::Action;
use dbabot_chat::Severity;
use serde_json::Value;

/// The JSON shape the system prompt asks for (shown to the model verbatim).
pub const SHAPE: &str = r#"{"situation": "what is going on, on which target (1-3 sentences)",
 "findings": [{"title": "one line with the numbers and objects from the diagnostics", "severity": "ok|info|warning|critical", "check": "the check it came from", "code": "the finding code it restates"}],
 "root_causes": ["likely cause"],
 "immediate": [{"text": "what a human should do now", "sql": "optional SQL for a human to review and run, or null"}],
 "longer_term": [{"text": "...", "sql": null}],
 "verify": [{"text": "how to confirm it worked", "sql": null}]}"#;

/// A finding as the model stated it (before grounding).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmFinding {
    pub title: String,
    pub severity: Option<Severity>,
    pub check: Option<String>,
    pub code: Option<String>,
}

/// The parsed answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmAnswer {
    pub situation: String,
    pub findings: Vec<LlmFinding>,
    pub root_causes: Vec<String>,
    pub immediate: Vec<Action>,
    pub longer_term: Vec<Action>,
    pub verify: Vec<Action>,
}

/// Longest text accepted in one field, in characters (longer is cut).
const MAX_FIELD: usize = 2_000;
/// Items accepted per list.
const MAX_ITEMS: usize = 20;

/// Parses the model's content.
///
/// # Errors
/// A short reason (shown to the model in the one retry, and logged).
pub fn parse(content: &str) -> Result<LlmAnswer, String> {
    let json = extract_object(content).ok_or("the answer contains no JSON object")?;
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("the JSON does not parse: {e}"))?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let situation = obj
        .get("situation")
        .and_then(text_of)
        .filter(|s| !s.trim().is_empty())
        .ok_or("`situation` is missing or empty")?;
    let findings = list(obj.get("findings"), "findings")?
        .into_iter()
        .filter_map(finding)
        .collect();
    let root_causes = match obj.get("root_causes").or(obj.get("root_cause")) {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => vec![cut(s)],
        Some(Value::Array(a)) => a.iter().filter_map(text_of).take(MAX_ITEMS).collect(),
        Some(_) => return Err("`root_causes` must be a list of strings".into()),
    };
    Ok(LlmAnswer {
        situation: cut(&situation),
        findings,
        root_causes,
        immediate: actions(obj.get("immediate"), "immediate")?,
        longer_term: actions(obj.get("longer_term"), "longer_term")?,
        verify: actions(obj.get("verify"), "verify")?,
    })
}

/// The outermost `{ … }` of `content` (so a Markdown code fence or a preamble is ignored).
fn extract_object(content: &str) -> Option<&str> {
    let start = content.find('{')?;
    let end = content.rfind('}')?;
    (end > start).then(|| &content[start..=end])
}

fn cut(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > MAX_FIELD {
        s.chars().take(MAX_FIELD).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(cut(s)),
        Value::Object(o) => ["text", "title", "description", "cause"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .filter(|s| !s.trim().is_empty())
            .map(cut),
        _ => None,
    }
}

fn list<'a>(v: Option<&'a Value>, name: &str) -> Result<Vec<&'a Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => Ok(a.iter().take(MAX_ITEMS).collect()),
        Some(s @ Value::String(_)) | Some(s @ Value::Object(_)) => Ok(vec![s]),
        Some(_) => Err(format!("`{name}` must be a list")),
    }
}

fn finding(v: &Value) -> Option<LlmFinding> {
    let title = text_of(v)?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let severity = field("severity").and_then(|s| match s.to_ascii_lowercase().as_str() {
        "ok" => Some(Severity::Ok),
        "info" | "low" => Some(Severity::Info),
        "warning" | "warn" | "medium" | "high" => Some(Severity::Warning),
        "critical" | "error" => Some(Severity::Critical),
        _ => None,
    });
    Some(LlmFinding {
        title,
        severity,
        check: field("check"),
        code: field("code"),
    })
}

fn actions(v: Option<&Value>, name: &str) -> Result<Vec<Action>, String> {
    Ok(list(v, name)?
        .into_iter()
        .filter_map(|a| {
            let text = text_of(a)?;
            let sql = a
                .get("sql")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("null"))
                .map(cut);
            Some(Action { text, sql })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shape_and_a_fenced_variant() {
        let a = parse("```json\n{\"situation\": \"s\", \"findings\": [{\"title\": \"pid 1 waits\", \"severity\": \"warning\", \"check\": \"blocking_chains\"}, \"plain\"], \"root_causes\": \"one\", \"immediate\": [{\"text\": \"do\", \"sql\": \"SELECT 1;\"}, \"just text\"], \"verify\": []}\n```").expect("parses");
        assert_eq!(a.situation, "s");
        assert_eq!(a.findings.len(), 2);
        assert_eq!(a.findings[0].severity, Some(Severity::Warning));
        assert_eq!(a.root_causes, vec!["one"]);
        assert_eq!(a.immediate[0].sql.as_deref(), Some("SELECT 1;"));
        assert_eq!(a.immediate[1].sql, None);
    }

    #[test]
    fn rejects_what_is_not_an_answer() {
        assert!(parse("I think the database is slow.").is_err());
        assert!(parse("{\"findings\": []}")
            .unwrap_err()
            .contains("situation"));
        assert!(parse("{\"situation\": \"x\", \"findings\": 3}").is_err());
        assert!(parse("{not json}").is_err());
    }
}
