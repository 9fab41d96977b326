//! `{placeholder}` substitution for playbook text.

use std::collections::BTreeMap;

/// Replaces `{name}` with `vars[name]`. Unknown names stay visible as `<name>` so a reader sees
/// what is missing instead of a silently wrong value.
pub fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && close > 0 =>
            {
                let name = &after[..close];
                match vars.get(name) {
                    Some(v) if !v.is_empty() => out.push_str(v),
                    _ => {
                        out.push('<');
                        out.push_str(name);
                        out.push('>');
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Names of `{placeholders}` in `text`.
#[cfg(test)]
pub fn placeholders(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let name = &after[..close];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                v.push(name.to_string());
            }
            rest = &after[close + 1..];
        } else {
            break;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn fills_and_marks_missing() {
        let mut v = BTreeMap::new();
        v.insert("pid".to_string(), "42".to_string());
        assert_eq!(
            fill("kill {pid} on {target}; json {\"a\": 1}", &v),
            "kill 42 on <target>; json {\"a\": 1}"
        );
        assert_eq!(placeholders("{a} and {b_c} {not valid}"), vec!["a", "b_c"]);
    }

    /// Steps without `when` can only use slot placeholders; others may use the finding's facts.
    #[test]
    fn unconditional_steps_use_only_slots() {
        let cat = crate::intents::Catalog::embedded().expect("catalog");
        for i in &cat.intents {
            let pb = &i.playbook;
            let mut texts = vec![pb.situation.clone()];
            for s in pb
                .root_causes
                .iter()
                .chain(&pb.immediate)
                .chain(&pb.longer_term)
                .chain(&pb.verify)
            {
                if s.when.is_none() {
                    texts.push(s.text.clone());
                    texts.extend(s.sql.clone());
                }
            }
            texts.extend(pb.cloud.values().cloned());
            for t in texts {
                for p in placeholders(&t) {
                    assert!(
                        crate::intents::slots::NAMES.contains(&p.as_str()),
                        "{}: {{{p}}} is not a slot in {t}",
                        i.name
                    );
                }
            }
        }
    }
}
