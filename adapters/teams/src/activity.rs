//! The Bot Framework Activity an outgoing webhook receives, and its mapping to the engine's
//! [`InboundMessage`].
//!
//! Teams posts one `message` Activity per @-mention in a channel. Every field is optional here
//! (outgoing webhooks send many of them as `null`); [`to_inbound`] decides what is required.

use crate::error::TeamsError;
use dbabot_chat::{InboundMessage, Platform, User};
use serde::Deserialize;

/// An incoming Activity (only the fields the adapter reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `message` for outgoing webhooks.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Activity id: the id of the user's message; deduplication key.
    pub id: Option<String>,
    /// When Teams sent it, RFC 3339 (UTC), e.g. `2023-11-14T22:13:20.123Z`.
    pub timestamp: Option<String>,
    pub service_url: Option<String>,
    /// `msteams`.
    pub channel_id: Option<String>,
    pub from: Option<ChannelAccount>,
    pub conversation: Option<Conversation>,
    pub recipient: Option<ChannelAccount>,
    /// The message as HTML-ish text: `<at>dbabot</at>&nbsp;report health demo`.
    pub text: Option<String>,
    /// `plain`, `markdown` or `xml`.
    pub text_format: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub entities: Vec<Entity>,
    pub channel_data: Option<ChannelData>,
}

/// A user or bot account.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    /// Teams id: `29:…` for users, `28:…` for bots and webhooks.
    pub id: Option<String>,
    pub name: Option<String>,
    /// The Azure AD (Entra) object id of a user.
    pub aad_object_id: Option<String>,
}

/// The conversation (for a channel message: the channel plus `;messageid=<root>`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// `19:…@thread.tacv2;messageid=1700000000000` in a channel reply chain.
    pub id: Option<String>,
    /// `channel`, `groupChat` or `personal`.
    pub conversation_type: Option<String>,
    pub tenant_id: Option<String>,
    pub is_group: Option<bool>,
    pub name: Option<String>,
}

/// An entity attached to the message (mentions, client info).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// `mention`, `clientInfo`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub mentioned: Option<ChannelAccount>,
    /// The mention as it appears in `text`: `<at>dbabot</at>`.
    pub text: Option<String>,
}

/// Teams-specific channel data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelData {
    pub teams_channel_id: Option<String>,
    pub teams_team_id: Option<String>,
    pub channel: Option<IdRef>,
    pub team: Option<IdRef>,
    pub tenant: Option<IdRef>,
}

/// `{ "id": … }`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Where a channel message sits: (channel id, reply-chain root message id).
///
/// `19:abc@thread.tacv2;messageid=1700000000000` → (`19:abc@thread.tacv2`, `1700000000000`). A
/// conversation id without `messageid` is its own thread.
pub fn split_conversation_id(id: &str) -> (&str, &str) {
    let mut base = id;
    let mut root = None;
    for (i, seg) in id.split(';').enumerate() {
        if i == 0 {
            base = seg;
        } else if let Some((k, v)) = seg.split_once('=') {
            if k.trim().eq_ignore_ascii_case("messageid") && !v.trim().is_empty() {
                root = Some(v.trim());
            }
        }
    }
    (base, root.unwrap_or(base))
}

impl Activity {
    /// The bot's (webhook's) mention name, e.g. `dbabot`, when the Activity says.
    pub fn bot_name(&self) -> Option<String> {
        if let Some(n) = self.recipient.as_ref().and_then(|r| non_empty(&r.name)) {
            return Some(n.to_string());
        }
        self.bot_mention()
            .and_then(|e| e.mentioned.as_ref())
            .and_then(|m| non_empty(&m.name))
            .map(str::to_string)
    }

    /// The mention entity that addressed this webhook: the one naming the recipient, else the
    /// first mention of a bot account (`28:…`), else the first mention.
    fn bot_mention(&self) -> Option<&Entity> {
        let mentions = || {
            self.entities
                .iter()
                .filter(|e| e.kind.as_deref() == Some("mention"))
        };
        let recipient = self.recipient.as_ref().and_then(|r| non_empty(&r.id));
        if let Some(rid) = recipient {
            if let Some(e) = mentions()
                .find(|e| e.mentioned.as_ref().and_then(|m| non_empty(&m.id)) == Some(rid))
            {
                return Some(e);
            }
        }
        mentions()
            .find(|e| {
                e.mentioned
                    .as_ref()
                    .and_then(|m| non_empty(&m.id))
                    .is_some_and(|id| id.starts_with("28:"))
            })
            .or_else(|| mentions().next())
    }
}

/// Maps an authenticated Activity to the engine's message.
///
/// * thread key: workspace = tenant (`channelData.tenant.id`, else `conversation.tenantId`),
///   channel = `channelData.channel.id` / `teamsChannelId` (else the conversation id without
///   `;messageid`), thread = the reply chain's root message id from `;messageid=`;
/// * user: id = `from.aadObjectId`, else `from.id`; display name = `from.name`;
/// * text: the webhook's `<at>…</at>` mention removed, other mentions kept as names, HTML tags
///   removed and entities decoded; an empty message becomes `help`.
///
/// # Errors
/// [`TeamsError::Activity`] when it is not a `message` or lacks `id`, `conversation.id` or
/// `from`.
pub fn to_inbound(a: &Activity) -> Result<InboundMessage, TeamsError> {
    let bad = |m: &str| TeamsError::Activity(m.to_string());
    match a.kind.as_deref() {
        Some("message") => {}
        Some(other) => {
            return Err(TeamsError::Activity(format!(
                "activity type `{other}` is not handled (only `message`)"
            )))
        }
        None => return Err(bad("activity without `type`")),
    }
    let id = non_empty(&a.id).ok_or_else(|| bad("activity without `id`"))?;
    let conv_id = a
        .conversation
        .as_ref()
        .and_then(|c| non_empty(&c.id))
        .ok_or_else(|| bad("activity without `conversation.id`"))?;
    let from = a
        .from
        .as_ref()
        .ok_or_else(|| bad("activity without `from`"))?;
    let user_id = non_empty(&from.aad_object_id)
        .or_else(|| non_empty(&from.id))
        .ok_or_else(|| bad("activity without `from.id`"))?;
    let (conv_base, root) = split_conversation_id(conv_id);
    let cd = a.channel_data.as_ref();
    let channel = cd
        .and_then(|c| c.channel.as_ref())
        .and_then(|c| non_empty(&c.id))
        .or_else(|| cd.and_then(|c| non_empty(&c.teams_channel_id)))
        .unwrap_or(conv_base);
    let tenant = cd
        .and_then(|c| c.tenant.as_ref())
        .and_then(|t| non_empty(&t.id))
        .or_else(|| {
            a.conversation
                .as_ref()
                .and_then(|c| non_empty(&c.tenant_id))
        })
        .unwrap_or("");
    let bot_mention = a.bot_mention().and_then(|e| non_empty(&e.text));
    let mut text = clean_text(a.text.as_deref().unwrap_or(""), bot_mention);
    if text.is_empty() {
        text = "help".into();
    }
    let user = User {
        id: user_id.to_string(),
        display_name: non_empty(&from.name).unwrap_or(user_id).to_string(),
        groups: Vec::new(),
    };
    let mut msg = InboundMessage::text(Platform::Teams, tenant, channel, root, user, text);
    msg.message_id = Some(id.to_string());
    msg.mentioned = true;
    msg.link = Some(deep_link(channel, id, root, tenant));
    Ok(msg)
}

/// `https://teams.microsoft.com/l/message/<channel>/<message>?tenantId=…&parentMessageId=…`.
pub(crate) fn deep_link(channel: &str, message: &str, root: &str, tenant: &str) -> String {
    let mut s = format!(
        "https://teams.microsoft.com/l/message/{}/{}",
        pct(channel),
        pct(message)
    );
    let mut q = Vec::new();
    if !tenant.is_empty() {
        q.push(format!("tenantId={}", pct(tenant)));
    }
    if !root.is_empty() {
        q.push(format!("parentMessageId={}", pct(root)));
    }
    if !q.is_empty() {
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Plain text from a Teams message: removes `bot_mention` (e.g. `<at>dbabot</at>`; when `None`
/// the first `<at>…</at>`), keeps other mentions as their names, turns `<br>`, `</p>`, `</div>`
/// and `</li>` into line breaks, drops every other tag, decodes entities (`&nbsp;`, `&lt;`,
/// `&#39;`, `&#x27;` …) and trims each line.
pub fn clean_text(raw: &str, bot_mention: Option<&str>) -> String {
    let mut s = raw.to_string();
    match bot_mention {
        Some(m) if s.contains(m) => s = s.replacen(m, " ", 1),
        _ => {
            if let Some(start) = find_ci(&s, "<at") {
                if let Some(end) = find_ci(&s[start..], "</at>") {
                    s.replace_range(start..start + end + 5, " ");
                }
            }
        }
    }
    // Tags: line-breaking ones become '\n', the rest vanish (their text stays).
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let Some(gt) = after.find('>') else {
            // A lone '<' (typed text such as `a < b` arrives as `&lt;`; keep it anyway).
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = after[1..gt].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            // Not a tag (`<5`, `<>`): keep the text.
            out.push('<');
            rest = &after[1..];
            continue;
        }
        let closing = tag.starts_with('/');
        if name == "br" || (closing && matches!(name.as_str(), "p" | "div" | "li" | "pre" | "tr")) {
            out.push('\n');
        } else if !closing && name == "li" {
            out.push_str("- ");
        } else if matches!(name.as_str(), "td" | "th") && closing {
            out.push(' ');
        }
        rest = &after[gt + 1..];
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let lines: Vec<&str> = decoded.lines().map(str::trim).collect();
    // Collapse runs of blank lines, drop leading/trailing ones.
    let mut result: Vec<&str> = Vec::new();
    for l in lines {
        if l.is_empty() && result.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        result.push(l);
    }
    while result.last().is_some_and(|l| l.is_empty()) {
        result.pop();
    }
    result.join("\n")
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(&needle.to_ascii_lowercase())
}

/// Decodes the HTML entities Teams uses (named ones for markup and spaces, numeric ones for
/// everything else). Unknown entities stay as they are.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let semi = after.find(';').filter(|&i| i <= 12);
        let decoded = semi.and_then(|i| {
            let ent = &after[1..i];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "hellip" => Some('…'),
                "lsquo" => Some('‘'),
                "rsquo" => Some('’'),
                "ldquo" => Some('“'),
                "rdquo" => Some('”'),
                _ => {
                    let num = ent.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse::<u32>().ok()?,
                    };
                    char::from_u32(code).map(|c| if c == '\u{a0}' { ' ' } else { c })
                }
            }?;
            Some((c, i))
        });
        match decoded {
            Some((c, i)) => {
                out.push(c);
                rest = &after[i + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace('\u{a0}', " ")
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2023-11-14T22:13:20.123Z`,
/// `…+01:00`); `None` when it does not parse.
pub fn parse_rfc3339(ts: &str) -> Option<i64> {
    let ts = ts.trim();
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = ts.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids() {
        assert_eq!(
            split_conversation_id("19:abc@thread.tacv2;messageid=1700000000000"),
            ("19:abc@thread.tacv2", "1700000000000")
        );
        assert_eq!(
            split_conversation_id("19:abc@thread.skype"),
            ("19:abc@thread.skype", "19:abc@thread.skype")
        );
    }

    #[test]
    fn text_cleaning() {
        assert_eq!(
            clean_text(
                "<at>dbabot</at>&nbsp;report health demo\n",
                Some("<at>dbabot</at>")
            ),
            "report health demo"
        );
        assert_eq!(
            clean_text(
                "<div><div><at>dbabot</at> explain SELECT * FROM t WHERE a &lt; 5 AND b &gt;= &#39;x&#39;</div></div>",
                None
            ),
            "explain SELECT * FROM t WHERE a < 5 AND b >= 'x'"
        );
        assert_eq!(
            clean_text(
                "<p><at>DBA Bot</at> ask <at>Alex</at> about it</p><p>second&#x2014;line<br/>third &amp; last</p>",
                Some("<at>DBA Bot</at>")
            ),
            "ask Alex about it\nsecond—line\nthird & last"
        );
        assert_eq!(clean_text("<at>dbabot</at>", Some("<at>dbabot</at>")), "");
        assert_eq!(clean_text("a <5 & b", None), "a <5 & b");
        assert_eq!(clean_text("a <5 > b", None), "a <5 > b");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.1234567+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2023-13-14T22:13:20Z"), None);
    }
}
