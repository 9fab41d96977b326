//! Slack payloads → the engine's [`InboundMessage`].

use dbabot_chat::{Attachment, AttachmentBody, InboundMessage, Platform, SelectedChoice, User};
use serde_json::Value;

/// Removes `<@U…>` mentions of the bot (all user mentions when the bot id is unknown), decodes
/// Slack's `&lt;`/`&gt;`/`&amp;` escapes and trims.
pub fn clean_text(text: &str, bot_user: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('>') {
            Some(end) => {
                let id = after[..end].split('|').next().unwrap_or("");
                if bot_user.is_some_and(|b| b != id) {
                    out.push_str(&rest[start..start + 2 + end + 1]);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an `event_callback` asks of the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A message to answer (mention, DM, or follow-up in a known thread when `mentioned` is false).
    Message(Box<InboundMessage>),
    /// Not for the bot (its own message, another bot's, an edit, a join notice…).
    Ignore(&'static str),
}

/// Converts the `event` of an `event_callback` envelope (raw JSON as Slack sends it).
///
/// `app_mention` → a mentioned message in the mention's thread (`thread_ts`, or its `ts` when it
/// starts one). `message` events in DMs (`channel_type: im`) are always for the bot; channel
/// messages only matter as follow-ups in a thread (`thread_ts` set) and are marked not-mentioned
/// so the caller checks that the bot knows the thread. Channel messages that mention the bot are
/// ignored here because Slack also sends them as `app_mention`.
pub fn from_event(team: &str, event: &Value, bot_user: Option<&str>, allow_bots: bool) -> Incoming {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let s = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_string);
    let from_bot = event.get("bot_id").is_some() || s("subtype").as_deref() == Some("bot_message");
    let user = s("user").unwrap_or_default();
    if bot_user.is_some_and(|b| b == user) {
        return Incoming::Ignore("own message");
    }
    if from_bot && !allow_bots {
        return Incoming::Ignore("bot message");
    }
    if let Some(sub) = s("subtype") {
        if sub != "bot_message" && sub != "thread_broadcast" && sub != "file_share" {
            return Incoming::Ignore("message subtype");
        }
    }
    let (Some(channel), Some(ts)) = (s("channel"), s("ts")) else {
        return Incoming::Ignore("no channel or ts");
    };
    let raw_text = s("text").unwrap_or_default();
    let thread = s("thread_ts").unwrap_or_else(|| ts.clone());
    let mentioned = match kind {
        "app_mention" => true,
        "message" => {
            let is_dm = s("channel_type").as_deref() == Some("im");
            let mentions_bot = bot_user.is_some_and(|b| raw_text.contains(&format!("<@{b}>")));
            if mentions_bot && !is_dm {
                return Incoming::Ignore("handled as app_mention");
            }
            if !is_dm && s("thread_ts").is_none() {
                return Incoming::Ignore("channel message outside a thread");
            }
            is_dm
        }
        _ => return Incoming::Ignore("event type"),
    };
    let mut m = InboundMessage::text(
        Platform::Slack,
        team,
        channel,
        thread,
        User {
            id: user.clone(),
            display_name: user,
            groups: vec![],
        },
        clean_text(&raw_text, bot_user),
    );
    m.message_id = Some(ts);
    m.mentioned = mentioned;
    m.attachments = files(event);
    if m.text.trim().is_empty() && !m.attachments.is_empty() {
        // A file shared without words is a request to look at it.
        m.text = "analyze this log".into();
    }
    Incoming::Message(Box::new(m))
}

/// The files of a `file_share` message: name, type, `url_private_download` (fetched with the
/// bot token) and size.
fn files(event: &Value) -> Vec<Attachment> {
    let Some(list) = event.get("files").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|f| {
            let url = f
                .get("url_private_download")
                .or_else(|| f.get("url_private"))
                .and_then(Value::as_str)?;
            Some(Attachment {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("file")
                    .to_string(),
                content_type: f
                    .get("mimetype")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream")
                    .to_string(),
                body: AttachmentBody::Remote {
                    url: url.to_string(),
                    size: f.get("size").and_then(Value::as_u64),
                },
            })
        })
        .collect()
}

/// A `block_actions` click on one of our choices → a message carrying the selected choice, in
/// the thread of the message the buttons were on.
pub fn from_block_actions(payload: &Value) -> Option<(InboundMessage, ClickContext)> {
    let action = payload.get("actions")?.as_array()?.first()?;
    let action_id = action.get("action_id")?.as_str()?;
    let mut parts = action_id.splitn(3, ':');
    if parts.next()? != "choice" {
        return None;
    }
    let choice_id = parts.next()?.to_string();
    let (value, label) = match action.get("type").and_then(Value::as_str) {
        Some("static_select") => {
            let o = action.get("selected_option")?;
            (
                o.get("value")?.as_str()?.to_string(),
                o.pointer("/text/text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        }
        _ => (
            action.get("value")?.as_str()?.to_string(),
            action
                .pointer("/text/text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
    };
    let team = payload
        .pointer("/team/id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let user = payload
        .pointer("/user/id")
        .and_then(Value::as_str)?
        .to_string();
    let channel = payload
        .pointer("/container/channel_id")
        .or_else(|| payload.pointer("/channel/id"))
        .and_then(Value::as_str)?
        .to_string();
    let message_ts = payload
        .pointer("/container/message_ts")
        .or_else(|| payload.pointer("/message/ts"))
        .and_then(Value::as_str)?
        .to_string();
    let thread = payload
        .pointer("/container/thread_ts")
        .or_else(|| payload.pointer("/message/thread_ts"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| message_ts.clone());
    let blocks = payload
        .pointer("/message/blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut m = InboundMessage::text(
        Platform::Slack,
        team,
        channel.clone(),
        thread.clone(),
        User {
            id: user.clone(),
            display_name: user,
            groups: vec![],
        },
        value.clone(),
    );
    m.choice = Some(SelectedChoice {
        choice_id: choice_id.clone(),
        value,
    });
    Some((
        m,
        ClickContext {
            channel,
            message_ts,
            thread_ts: thread,
            choice_id,
            label,
            blocks,
        },
    ))
}

/// Where a click happened, to replace the buttons with the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickContext {
    pub channel: String,
    pub message_ts: String,
    pub thread_ts: String,
    pub choice_id: String,
    pub label: String,
    /// The blocks of the message that carried the buttons.
    pub blocks: Vec<Value>,
}

/// Maps `/dba <text>` to the text the engine understands; unknown subcommands become `help`.
pub fn command_text(text: &str) -> String {
    let t = text.trim();
    let first = t.split_whitespace().next().unwrap_or("").to_lowercase();
    match first.as_str() {
        "help" | "targets" | "report" | "status" | "ask" | "explain" | "escalate" | "forget"
        | "cases" => t.to_string(),
        _ => "help".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mentions_and_escapes_are_cleaned() {
        assert_eq!(
            clean_text("<@UBOT> is <@U2> ok &amp; fast? a &lt; b", Some("UBOT")),
            "is <@U2> ok & fast? a < b"
        );
        assert_eq!(clean_text("<@UBOT|dbabot>   help ", None), "help");
    }

    #[test]
    fn app_mention_threads_on_its_ts() {
        let ev = json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> orders-prod is slow", "ts": "1700000000.000100", "channel": "C1", "event_ts": "1700000000.000100"});
        let Incoming::Message(m) = from_event("T1", &ev, Some("UBOT"), false) else {
            panic!("ignored")
        };
        assert_eq!(m.thread_key().to_string(), "slack/T1/C1/1700000000.000100");
        assert_eq!(m.text, "orders-prod is slow");
        assert!(m.mentioned);
        let ev = json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> and staging?", "ts": "1700000001.000200", "thread_ts": "1700000000.000100", "channel": "C1"});
        let Incoming::Message(m) = from_event("T1", &ev, Some("UBOT"), false) else {
            panic!("ignored")
        };
        assert_eq!(m.thread, "1700000000.000100");
    }

    #[test]
    fn shared_files_become_attachments() {
        let ev = json!({"type": "message", "subtype": "file_share", "channel": "C1", "channel_type": "im",
            "user": "U1", "ts": "1.5", "text": "", "files": [{"name": "postgresql.log", "mimetype": "text/plain",
            "size": 1234, "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/postgresql.log"}]});
        let Incoming::Message(m) = from_event("T1", &ev, Some("UBOT"), false) else {
            panic!("a file shared in a DM is a message");
        };
        assert_eq!(m.text, "analyze this log");
        assert_eq!(m.attachments.len(), 1);
        assert!(matches!(&m.attachments[0].body,
            AttachmentBody::Remote { url, size: Some(1234) } if url.starts_with("https://files.slack.com/")));
    }

    #[test]
    fn which_messages_are_ignored() {
        let own = json!({"type": "message", "user": "UBOT", "text": "hi", "ts": "1.1", "channel": "C1", "thread_ts": "1.0"});
        assert_eq!(
            from_event("T1", &own, Some("UBOT"), false),
            Incoming::Ignore("own message")
        );
        let bot = json!({"type": "message", "bot_id": "B9", "user": "U9", "text": "hi", "ts": "1.1", "channel": "C1", "thread_ts": "1.0"});
        assert_eq!(
            from_event("T1", &bot, Some("UBOT"), false),
            Incoming::Ignore("bot message")
        );
        assert!(matches!(
            from_event("T1", &bot, Some("UBOT"), true),
            Incoming::Message(_)
        ));
        let top = json!({"type": "message", "user": "U1", "text": "hi", "ts": "1.1", "channel": "C1", "channel_type": "channel"});
        assert_eq!(
            from_event("T1", &top, Some("UBOT"), false),
            Incoming::Ignore("channel message outside a thread")
        );
        let dm = json!({"type": "message", "user": "U1", "text": "help", "ts": "1.1", "channel": "D1", "channel_type": "im"});
        assert!(
            matches!(from_event("T1", &dm, Some("UBOT"), false), Incoming::Message(m) if m.mentioned)
        );
        let follow = json!({"type": "message", "user": "U1", "text": "and staging?", "ts": "1.2", "channel": "C1", "thread_ts": "1.0", "channel_type": "channel"});
        assert!(
            matches!(from_event("T1", &follow, Some("UBOT"), false), Incoming::Message(m) if !m.mentioned)
        );
        let edit =
            json!({"type": "message", "subtype": "message_changed", "ts": "1.3", "channel": "C1"});
        assert_eq!(
            from_event("T1", &edit, Some("UBOT"), false),
            Incoming::Ignore("message subtype")
        );
    }

    #[test]
    fn commands_map_to_engine_text() {
        assert_eq!(command_text("report health demo"), "report health demo");
        assert_eq!(command_text("frobnicate"), "help");
        assert_eq!(command_text(""), "help");
    }
}
