//! Outgoing Discord JSON: message bodies (content, embeds, components, attachment references) as
//! Discord documents them for "Create Message", "Execute Webhook" and "Edit Original Interaction
//! Response", plus Discord's size limits.

use serde::{Deserialize, Serialize};

/// Plain message content, in characters.
pub const CONTENT_MAX: usize = 2000;
/// Embed title, in characters.
pub const TITLE_MAX: usize = 256;
/// Embed description, in characters.
pub const DESCRIPTION_MAX: usize = 4096;
/// Fields per embed.
pub const FIELDS_MAX: usize = 25;
/// Field name, in characters.
pub const FIELD_NAME_MAX: usize = 256;
/// Field value, in characters.
pub const FIELD_VALUE_MAX: usize = 1024;
/// Footer text, in characters.
pub const FOOTER_MAX: usize = 2048;
/// Title + description + field names/values + footer + author of all embeds of one message.
pub const EMBEDS_TOTAL_MAX: usize = 6000;
/// Embeds per message.
pub const EMBEDS_PER_MESSAGE: usize = 10;
/// Action rows per message.
pub const ROWS_MAX: usize = 5;
/// Buttons per action row.
pub const BUTTONS_PER_ROW: usize = 5;
/// Options of a string select menu.
pub const SELECT_OPTIONS_MAX: usize = 25;
/// `custom_id` of a component, in characters.
pub const CUSTOM_ID_MAX: usize = 100;
/// Button label, in characters.
pub const BUTTON_LABEL_MAX: usize = 80;
/// Select option label / value / description, in characters.
pub const SELECT_TEXT_MAX: usize = 100;
/// Select placeholder, in characters.
pub const PLACEHOLDER_MAX: usize = 150;

/// Message flag: only the invoking user sees the interaction response.
pub const FLAG_EPHEMERAL: u64 = 1 << 6;

/// `allowed_mentions` that pings nobody: the bot quotes user text and never wants to notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AllowedMentions {
    pub parse: Vec<String>,
}

/// One message to send (or the new state of an edited one).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct OutMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ActionRow>,
    /// References to the multipart `files[n]` parts (`id` = n).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    pub allowed_mentions: AllowedMentions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    /// Reply to this message (gateway channel messages only; webhooks ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_reference: Option<MessageReference>,
    /// The file sent as multipart `files[0]` with this message (at most one per message).
    #[serde(skip)]
    pub file: Option<OutFile>,
}

impl OutMessage {
    /// A message with only `content` (truncated to [`CONTENT_MAX`]).
    pub fn text(content: impl Into<String>) -> Self {
        OutMessage {
            content: Some(truncate(&content.into(), CONTENT_MAX)),
            ..OutMessage::default()
        }
    }

    /// Sum of the embed lengths Discord counts against [`EMBEDS_TOTAL_MAX`].
    pub fn embeds_len(&self) -> usize {
        self.embeds.iter().map(Embed::len).sum()
    }
}

/// `message_reference` for a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageReference {
    pub message_id: String,
    /// Still send when the referenced message was deleted.
    pub fail_if_not_exists: bool,
}

/// A file uploaded with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
    /// A file on the bot's host whose bytes [`crate::files::load`] reads before sending
    /// (`data` is empty until then).
    pub path: Option<String>,
}

/// `attachments[]` entry of a message with uploads: `id` names the multipart part `files[id]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentRef {
    pub id: String,
    pub filename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A rich embed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Embed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RGB colour, `0xRRGGBB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EmbedField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<EmbedFooter>,
}

impl Embed {
    /// Characters Discord counts for this embed (title, description, fields, footer).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        let c = |s: &Option<String>| s.as_deref().map_or(0, chars);
        c(&self.title)
            + c(&self.description)
            + self
                .fields
                .iter()
                .map(|f| chars(&f.name) + chars(&f.value))
                .sum::<usize>()
            + self.footer.as_ref().map_or(0, |f| chars(&f.text))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedField {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedFooter {
    pub text: String,
}

/// An action row (component type 1) holding buttons or one select menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRow {
    #[serde(rename = "type")]
    pub kind: u8,
    pub components: Vec<Component>,
}

impl ActionRow {
    pub fn new(components: Vec<Component>) -> Self {
        ActionRow {
            kind: 1,
            components,
        }
    }
}

/// A button (type 2) or a string select (type 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Component {
    Button {
        #[serde(rename = "type")]
        kind: u8,
        /// 1 primary, 2 secondary, 3 success, 4 danger.
        style: u8,
        label: String,
        custom_id: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        disabled: bool,
    },
    StringSelect {
        #[serde(rename = "type")]
        kind: u8,
        custom_id: String,
        placeholder: String,
        min_values: u8,
        max_values: u8,
        options: Vec<SelectOption>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectOption {
    pub label: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Length in characters (Unicode scalar values), the unit of Discord's limits.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` characters, ending in `…` when it was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if chars(s) <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
