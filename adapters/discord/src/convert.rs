//! Discord events → [`InboundMessage`]s.
//!
//! * A gateway `MESSAGE_CREATE` (serenity's [`Message`]) is routed by [`route_message`]: a mention
//!   in a channel starts a thread from that message (Discord gives the thread the message's id, so
//!   the thread key is known before the thread exists), a mention in a thread stays there, a
//!   message in a thread without a mention is a follow-up candidate, a DM is always handled.
//! * An interaction (HTTP body or gateway `INTERACTION_CREATE`, as JSON) is parsed by
//!   [`parse_interaction`]: `/dba <subcommand> <options>` becomes the text command the engine
//!   parses (`report health demo`), a button or select click becomes a
//!   [`SelectedChoice`].
//!
//! Thread key: `(guild id or "@me", channel-or-thread id, same id)`.

use dbabot_chat::{Attachment, AttachmentBody, InboundMessage, Platform, SelectedChoice, User};
use serde::Deserialize;
use serde_json::Value;
use serenity::model::channel::{ChannelType, Message, MessageType};

/// The workspace part of the thread key for DMs (Discord's own URL segment for them).
pub const DM_WORKSPACE: &str = "@me";
/// Prefix of every `custom_id` this adapter creates.
const CUSTOM_ID_PREFIX: &str = "dba";

// ---------------------------------------------------------------------------------------------
// custom_id codec

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

fn unescape(s: &str) -> String {
    s.replace("%3A", ":").replace("%25", "%")
}

/// `dba:b:<choice id>:<value>` for a button, or `None` when it would exceed 100 characters.
pub fn button_custom_id(choice_id: &str, value: &str) -> Option<String> {
    let id = format!("{CUSTOM_ID_PREFIX}:b:{}:{value}", escape(choice_id));
    (id.chars().count() <= crate::wire::CUSTOM_ID_MAX).then_some(id)
}

/// `dba:s:<choice id>` for a select menu (the value comes in `values[0]`).
pub fn select_custom_id(choice_id: &str) -> Option<String> {
    let id = format!("{CUSTOM_ID_PREFIX}:s:{}", escape(choice_id));
    (id.chars().count() <= crate::wire::CUSTOM_ID_MAX).then_some(id)
}

/// The choice a click means: from a button's `custom_id`, or a select's `custom_id` + `values`.
pub fn parse_custom_id(custom_id: &str, values: &[String]) -> Option<SelectedChoice> {
    let mut it = custom_id.splitn(4, ':');
    if it.next()? != CUSTOM_ID_PREFIX {
        return None;
    }
    match it.next()? {
        "b" => {
            let choice_id = unescape(it.next()?);
            let value = it.next()?.to_string();
            Some(SelectedChoice { choice_id, value })
        }
        "s" => {
            let choice_id = unescape(it.next()?);
            let value = values.first()?.clone();
            Some(SelectedChoice { choice_id, value })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// gateway messages

/// What the gateway side knows about the message's surroundings.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts {
    /// The bot's user id (from READY).
    pub bot_id: u64,
    /// The message's channel is a thread (public, private or announcement thread).
    pub in_thread: bool,
    /// Answer other bots (never the bot itself).
    pub allow_bots: bool,
}

/// What to do with a gateway message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageRoute {
    /// Not for the bot; the reason is for debug logs.
    Ignore(&'static str),
    /// A mention in a channel: start a thread from the message and answer there. The inbound
    /// message's channel and thread are already the future thread's id (= the message id).
    StartThread(InboundMessage),
    /// A message inside a thread: answer there. `mentioned == false` means a follow-up, handled
    /// only when the bot already takes part in the thread.
    InThread(InboundMessage),
    /// A direct message: always answered, in the DM channel.
    Direct(InboundMessage),
}

/// Removes `<@id>` and `<@!id>` mentions of `bot_id` and the separators left in front of the text.
pub fn strip_mention(content: &str, bot_id: u64) -> String {
    let plain = format!("<@{bot_id}>");
    let nick = format!("<@!{bot_id}>");
    let text = content.replace(&plain, " ").replace(&nick, " ");
    let text = text.trim();
    let text = text.trim_start_matches([',', ':', ';', '-', '—']).trim();
    // Collapse the double space a mention in the middle leaves behind.
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars() {
        if c == ' ' {
            if !last_space {
                out.push(c);
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// Whether a channel of this kind is a thread (public, private or announcement thread).
pub fn is_thread_kind(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    )
}

/// Whether `msg` mentions the bot (in `mentions` or as `<@id>` text).
pub fn mentions_bot(msg: &Message, bot_id: u64) -> bool {
    msg.mentions.iter().any(|u| u.id.get() == bot_id)
        || msg.content.contains(&format!("<@{bot_id}>"))
        || msg.content.contains(&format!("<@!{bot_id}>"))
}

fn message_user(msg: &Message) -> User {
    let member = msg.member.as_deref();
    let display_name = member
        .and_then(|m| m.nick.clone())
        .or_else(|| msg.author.global_name.clone())
        .unwrap_or_else(|| msg.author.name.clone());
    User {
        id: msg.author.id.get().to_string(),
        display_name,
        groups: member
            .map(|m| m.roles.iter().map(|r| r.get().to_string()).collect())
            .unwrap_or_default(),
    }
}

/// Decides whether and where the bot answers `msg`, and the engine message for it.
pub fn route_message(msg: &Message, facts: &MessageFacts) -> MessageRoute {
    if msg.author.id.get() == facts.bot_id {
        return MessageRoute::Ignore("own message");
    }
    if (msg.author.bot || msg.webhook_id.is_some()) && !facts.allow_bots {
        return MessageRoute::Ignore("bot author");
    }
    if !matches!(msg.kind, MessageType::Regular | MessageType::InlineReply) {
        return MessageRoute::Ignore("system message");
    }
    let mentioned = mentions_bot(msg, facts.bot_id);
    let text = strip_mention(&msg.content, facts.bot_id);
    if text.is_empty() && msg.attachments.is_empty() && !mentioned {
        return MessageRoute::Ignore("empty");
    }
    let channel = msg.channel_id.get().to_string();
    let (workspace, thread_channel) = match msg.guild_id {
        None => (DM_WORKSPACE.to_string(), channel.clone()),
        Some(g) if facts.in_thread => (g.get().to_string(), channel.clone()),
        Some(g) => (g.get().to_string(), msg.id.get().to_string()),
    };
    let inbound = InboundMessage {
        platform: Platform::Discord,
        workspace: workspace.clone(),
        channel: thread_channel.clone(),
        thread: thread_channel,
        message_id: Some(msg.id.get().to_string()),
        user: message_user(msg),
        // A file shared without words is a request to look at it.
        text: match (text.is_empty(), msg.attachments.is_empty()) {
            (false, _) => text,
            (true, true) => "help".into(),
            (true, false) => "analyze this log".into(),
        },
        attachments: msg
            .attachments
            .iter()
            .map(|a| Attachment {
                name: a.filename.clone(),
                content_type: a
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                body: AttachmentBody::Remote {
                    url: a.url.clone(),
                    size: Some(u64::from(a.size)),
                },
            })
            .collect(),
        mentioned,
        choice: None,
        link: Some(format!(
            "https://discord.com/channels/{workspace}/{channel}/{}",
            msg.id.get()
        )),
    };
    match msg.guild_id {
        None => MessageRoute::Direct(inbound),
        Some(_) if facts.in_thread => MessageRoute::InThread(inbound),
        Some(_) if mentioned => MessageRoute::StartThread(inbound),
        Some(_) => MessageRoute::Ignore("no mention outside a thread"),
    }
}

// ---------------------------------------------------------------------------------------------
// interactions

/// Errors turning an interaction into something the bot can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("interaction JSON does not have the documented shape: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("interaction has no {0}")]
    Missing(&'static str),
}

/// `null` (as serenity writes some empty lists) reads as the default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Snowflakes arrive as strings (JSON) but serenity may re-serialize some as numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Snowflake {
    Text(String),
    Int(u64),
}

impl Snowflake {
    fn text(&self) -> String {
        match self {
            Snowflake::Text(s) => s.clone(),
            Snowflake::Int(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawUser {
    id: Option<Snowflake>,
    #[serde(default)]
    username: String,
    global_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct RawMember {
    user: Option<RawUser>,
    nick: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    roles: Vec<Snowflake>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawChannel {
    id: Option<Snowflake>,
    /// Channel type: 10, 11 and 12 are threads.
    #[serde(rename = "type", default)]
    kind: Option<u8>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawInteraction {
    id: Snowflake,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    token: String,
    guild_id: Option<Snowflake>,
    channel_id: Option<Snowflake>,
    channel: Option<RawChannel>,
    member: Option<RawMember>,
    user: Option<RawUser>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    message: Value,
    attachment_size_limit: Option<u64>,
}

/// One option of a chat-input command as Discord sends it (nested for subcommands).
#[derive(Debug, Clone, Deserialize)]
pub struct CommandOption {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub options: Vec<CommandOption>,
    #[serde(default)]
    pub focused: bool,
}

impl CommandOption {
    /// The option's value as text (strings as is, numbers and booleans printed).
    pub fn text(&self) -> Option<String> {
        match self.value.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct CommandData {
    name: String,
    #[serde(default, deserialize_with = "null_default")]
    options: Vec<CommandOption>,
}

#[derive(Debug, Clone, Deserialize)]
struct ComponentData {
    custom_id: String,
    #[serde(default, deserialize_with = "null_default")]
    values: Vec<String>,
}

/// Where an interaction came from and who sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionMeta {
    /// Interaction id (a snowflake), for the callback route.
    pub id: String,
    /// Continuation token for the callback and webhook routes (valid 15 minutes). Secret-ish:
    /// never logged.
    pub token: String,
    /// The interaction's own upload limit in bytes, when Discord sent one.
    pub attachment_size_limit: Option<u64>,
}

/// A `/dba` subcommand and its options, already turned into the engine's text command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandCall {
    pub meta: InteractionMeta,
    pub subcommand: String,
    /// The engine message (text like `report health demo`).
    pub message: InboundMessage,
}

/// A click on a button or a select menu the bot posted.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentClick {
    pub meta: InteractionMeta,
    pub custom_id: String,
    /// The engine message; `choice` is set, `text` is the chosen value.
    pub message: InboundMessage,
    /// The clicked message's `components` as Discord sent them (to show the choice made).
    pub message_components: Value,
    /// The clicked message's id.
    pub message_id: Option<String>,
}

/// An autocomplete request while the user types an option.
#[derive(Debug, Clone, PartialEq)]
pub struct AutocompleteQuery {
    pub meta: InteractionMeta,
    pub subcommand: String,
    /// The focused option's name (`target`, `name`).
    pub option: String,
    /// What the user typed so far.
    pub partial: String,
    pub user_id: String,
    pub workspace: String,
}

/// A parsed interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Type 1: Discord checking the endpoint.
    Ping,
    /// Type 2: `/dba …`.
    Command(CommandCall),
    /// Type 3: a click on one of our components.
    Component(ComponentClick),
    /// Type 4: autocomplete.
    Autocomplete(AutocompleteQuery),
    /// Anything else (another command name, a modal, a foreign component): answered with a short
    /// ephemeral note.
    Unsupported { meta: InteractionMeta, what: String },
}

impl Incoming {
    /// Id and token of the interaction (`None` for a ping).
    pub fn meta(&self) -> Option<&InteractionMeta> {
        match self {
            Incoming::Ping => None,
            Incoming::Command(c) => Some(&c.meta),
            Incoming::Component(c) => Some(&c.meta),
            Incoming::Autocomplete(a) => Some(&a.meta),
            Incoming::Unsupported { meta, .. } => Some(meta),
        }
    }

    /// The thread key's text form, for spans (`None` for pings and autocomplete).
    pub fn thread_key(&self) -> Option<String> {
        match self {
            Incoming::Command(c) => Some(c.message.thread_key().to_string()),
            Incoming::Component(c) => Some(c.message.thread_key().to_string()),
            _ => None,
        }
    }
}

/// The engine text for `/dba <sub> [options]` (the same words the engine parses everywhere).
pub fn command_text(sub: &str, options: &[CommandOption]) -> Option<String> {
    let get = |name: &str| -> Option<String> {
        options
            .iter()
            .find(|o| o.name == name)
            .and_then(CommandOption::text)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let join = |head: &str, rest: &[Option<String>]| -> String {
        let mut s = head.to_string();
        for r in rest.iter().flatten() {
            s.push(' ');
            s.push_str(r);
        }
        s
    };
    Some(match sub {
        "help" => "help".into(),
        "targets" => "targets".into(),
        "forget" => "forget".into(),
        "report" => join("report", &[get("name"), get("target")]),
        "status" => join("status", &[get("target")]),
        "ask" => join("ask", &[get("question")]),
        "explain" => join("explain", &[get("sql")]),
        "escalate" => join("escalate", &[get("note")]),
        _ => return None,
    })
}

/// Parses an interaction (the HTTP body, or a gateway interaction serialized back to JSON).
///
/// # Errors
/// [`ConvertError`] when required fields (id, type, token, data) are missing or mistyped.
pub fn parse_interaction(json: &Value) -> Result<Incoming, ConvertError> {
    let raw: RawInteraction = serde_json::from_value(json.clone())?;
    if raw.kind == 1 {
        return Ok(Incoming::Ping);
    }
    if raw.token.is_empty() {
        return Err(ConvertError::Missing("token"));
    }
    let meta = InteractionMeta {
        id: raw.id.text(),
        token: raw.token.clone(),
        attachment_size_limit: raw.attachment_size_limit,
    };
    let workspace = raw
        .guild_id
        .as_ref()
        .map(Snowflake::text)
        .unwrap_or_else(|| DM_WORKSPACE.into());
    let channel = raw
        .channel_id
        .as_ref()
        .or_else(|| raw.channel.as_ref().and_then(|c| c.id.as_ref()))
        .map(Snowflake::text)
        .ok_or(ConvertError::Missing("channel_id"))?;
    let member = raw.member.clone().unwrap_or_default();
    let ruser = member
        .user
        .clone()
        .or_else(|| raw.user.clone())
        .ok_or(ConvertError::Missing("user"))?;
    let user = User {
        id: ruser
            .id
            .as_ref()
            .map(Snowflake::text)
            .ok_or(ConvertError::Missing("user.id"))?,
        display_name: member
            .nick
            .clone()
            .or(ruser.global_name.clone())
            .unwrap_or(ruser.username.clone()),
        groups: member.roles.iter().map(Snowflake::text).collect(),
    };
    // `/dba` in a guild channel keeps one memory per user and channel, so one user's slots
    // never answer another's command; inside a thread the thread's conversation is shared (as
    // with mentions there), and a DM channel is one user's already.
    let in_thread = raw
        .channel
        .as_ref()
        .and_then(|c| c.kind)
        .is_some_and(|k| matches!(k, 10..=12));
    let thread = if raw.guild_id.is_some() && !in_thread {
        format!("{channel}:{}", user.id)
    } else {
        channel.clone()
    };
    let base = |text: String, message_id: Option<String>| InboundMessage {
        platform: Platform::Discord,
        workspace: workspace.clone(),
        channel: channel.clone(),
        thread: thread.clone(),
        message_id,
        user: user.clone(),
        text,
        attachments: Vec::new(),
        mentioned: true,
        choice: None,
        link: None,
    };

    match raw.kind {
        2 | 4 => {
            let data: CommandData = serde_json::from_value(raw.data.clone())?;
            if data.name != crate::commands::COMMAND_NAME {
                return Ok(Incoming::Unsupported {
                    meta,
                    what: format!("command /{}", data.name),
                });
            }
            let Some(sub) = data.options.iter().find(|o| o.kind == 1) else {
                return Ok(Incoming::Unsupported {
                    meta,
                    what: "/dba without a subcommand".into(),
                });
            };
            if raw.kind == 4 {
                let focused = sub.options.iter().find(|o| o.focused);
                return Ok(Incoming::Autocomplete(AutocompleteQuery {
                    meta,
                    subcommand: sub.name.clone(),
                    option: focused.map(|o| o.name.clone()).unwrap_or_default(),
                    partial: focused.and_then(CommandOption::text).unwrap_or_default(),
                    user_id: user.id.clone(),
                    workspace,
                }));
            }
            match command_text(&sub.name, &sub.options) {
                Some(text) => Ok(Incoming::Command(CommandCall {
                    subcommand: sub.name.clone(),
                    message: base(text, Some(meta.id.clone())),
                    meta,
                })),
                None => Ok(Incoming::Unsupported {
                    meta,
                    what: format!("/dba {}", sub.name),
                }),
            }
        }
        3 => {
            let data: ComponentData = serde_json::from_value(raw.data.clone())?;
            let Some(choice) = parse_custom_id(&data.custom_id, &data.values) else {
                return Ok(Incoming::Unsupported {
                    meta,
                    what: format!("component {}", data.custom_id),
                });
            };
            let message_id = raw
                .message
                .get("id")
                .and_then(|v| serde_json::from_value::<Snowflake>(v.clone()).ok())
                .map(|s| s.text());
            let mut message = base(choice.value.clone(), Some(meta.id.clone()));
            message.choice = Some(choice);
            Ok(Incoming::Component(ComponentClick {
                meta,
                custom_id: data.custom_id,
                message,
                message_components: raw
                    .message
                    .get("components")
                    .cloned()
                    .unwrap_or(Value::Array(vec![])),
                message_id,
            }))
        }
        k => Ok(Incoming::Unsupported {
            meta,
            what: format!("interaction type {k}"),
        }),
    }
}

/// A gateway interaction (serenity's model) as the JSON Discord sent, for [`parse_interaction`].
/// serenity's serializer leaves out the top-level `type`; it is put back from the variant.
///
/// # Errors
/// [`ConvertError::Shape`] when serenity's model cannot be encoded.
pub fn interaction_json(
    interaction: &serenity::model::application::Interaction,
) -> Result<Value, ConvertError> {
    use serenity::model::application::Interaction as I;
    let kind = match interaction {
        I::Ping(_) => 1,
        I::Command(_) => 2,
        I::Component(_) => 3,
        I::Autocomplete(_) => 4,
        I::Modal(_) => 5,
        _ => 0,
    };
    let mut v = serde_json::to_value(interaction)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), Value::from(kind));
    }
    Ok(v)
}

/// The clicked message's components, changed to show the choice: every component of ours is
/// disabled, the clicked button turns green with a ✓, a select shows the chosen option as selected.
pub fn components_showing_choice(components: &Value, custom_id: &str, value: &str) -> Value {
    let mut rows = components.clone();
    let Some(rows_arr) = rows.as_array_mut() else {
        return Value::Array(vec![]);
    };
    for row in rows_arr.iter_mut() {
        let Some(items) = row.get_mut("components").and_then(Value::as_array_mut) else {
            continue;
        };
        for c in items.iter_mut() {
            let Some(obj) = c.as_object_mut() else {
                continue;
            };
            let ours = obj
                .get("custom_id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with("dba:"));
            if !ours {
                continue;
            }
            obj.insert("disabled".into(), Value::Bool(true));
            let is_clicked = obj.get("custom_id").and_then(Value::as_str) == Some(custom_id);
            match obj.get("type").and_then(Value::as_u64) {
                Some(2) if is_clicked => {
                    obj.insert("style".into(), Value::from(3));
                    let label = obj
                        .get("label")
                        .and_then(Value::as_str)
                        .unwrap_or(value)
                        .to_string();
                    obj.insert(
                        "label".into(),
                        Value::String(crate::wire::truncate(
                            &format!("✓ {label}"),
                            crate::wire::BUTTON_LABEL_MAX,
                        )),
                    );
                }
                Some(3) if is_clicked => {
                    let mut chosen_label = value.to_string();
                    if let Some(opts) = obj.get_mut("options").and_then(Value::as_array_mut) {
                        for o in opts.iter_mut() {
                            let hit = o.get("value").and_then(Value::as_str) == Some(value);
                            if hit {
                                if let Some(l) = o.get("label").and_then(Value::as_str) {
                                    chosen_label = l.to_string();
                                }
                            }
                            if let Some(m) = o.as_object_mut() {
                                m.insert("default".into(), Value::Bool(hit));
                            }
                        }
                    }
                    obj.insert(
                        "placeholder".into(),
                        Value::String(crate::wire::truncate(
                            &format!("✓ {chosen_label}"),
                            crate::wire::PLACEHOLDER_MAX,
                        )),
                    );
                }
                _ => {}
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests;
