//! Inbound side: what a user said, where, and who they are.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The chat platform a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// The local terminal adapter (`dbabot chat`).
    Console,
    /// Slack (Events API or Socket Mode).
    Slack,
    /// Discord (gateway or HTTP interactions).
    Discord,
    /// Microsoft Teams (outgoing webhook).
    Teams,
    /// In-process test destinations.
    Test,
}

impl Platform {
    /// Lower-case stable name, used in thread keys and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Console => "console",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Teams => "teams",
            Platform::Test => "test",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one conversation thread across restarts: memory, slots and escalations hang off it.
///
/// * Slack: (team, channel, thread_ts)
/// * Discord: (guild, channel or thread id, same id)
/// * Teams: (tenant, channel, reply-chain root message id)
/// * Console: ("local", "console", the `--thread` name)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ThreadKey {
    pub platform: Platform,
    /// Slack team id, Discord guild id, Teams tenant id, `local` for the console.
    pub workspace: String,
    pub channel: String,
    pub thread: String,
}

impl ThreadKey {
    /// Builds a key; empty parts are allowed (a DM has no workspace on some platforms).
    pub fn new(
        platform: Platform,
        workspace: impl Into<String>,
        channel: impl Into<String>,
        thread: impl Into<String>,
    ) -> Self {
        Self {
            platform,
            workspace: workspace.into(),
            channel: channel.into(),
            thread: thread.into(),
        }
    }
}

impl fmt::Display for ThreadKey {
    /// `platform/workspace/channel/thread` — the storage key and the tracing field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.platform, self.workspace, self.channel, self.thread
        )
    }
}

/// Who sent a message. `id` is what the access policy keys on; `display_name` is only for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct User {
    /// Platform user id (Slack `U…`, Discord snowflake, Teams AAD object id, OS user for the console).
    pub id: String,
    /// Human-readable name, never used for authorisation.
    pub display_name: String,
    /// Groups or roles the platform reports (Slack user groups, Discord role ids, AAD groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A file or link attached to a message, inbound or outbound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name as shown to users, e.g. `health-demo.csv`.
    pub name: String,
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    pub body: AttachmentBody,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentBody {
    /// Inline text content (CSV, SQL, logs).
    Text(String),
    /// A link (outbound: shown as a link; older inbound adapters).
    Url(String),
    /// An upload on the platform (a file shared into the thread): the URL the adapter's
    /// [`crate::AttachmentFetcher`] downloads (with the platform's credentials) and the size
    /// the platform announced, in bytes.
    Remote { url: String, size: Option<u64> },
    /// A file the bot wrote on its own host (a chart or CSV export), by path. Adapters that
    /// can upload read and attach it; the console shows the path.
    File(String),
}

/// The user picked one of the choices a previous [`crate::Reply`] offered (a button, a select,
/// or a typed number in platforms without buttons).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedChoice {
    /// The `id` of the [`crate::Part::Choices`] the value belongs to (usually a slot name).
    pub choice_id: String,
    /// The chosen option's `value`.
    pub value: String,
}

/// One message from a user, already stripped of platform markup (the bot's mention removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub platform: Platform,
    /// Slack team, Discord guild, Teams tenant; `local` for the console.
    pub workspace: String,
    pub channel: String,
    /// The thread this message belongs to (Slack `thread_ts` or the message `ts` that starts it).
    pub thread: String,
    /// Platform message id, when there is one (for deduplication and links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub user: User,
    /// Plain text as the user typed it, mention removed.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Whether the bot was @-mentioned (follow-ups in a known thread may come without a mention).
    #[serde(default)]
    pub mentioned: bool,
    /// Set when the message is a click on a choice rather than typed text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<SelectedChoice>,
    /// A permalink to the message on its platform, when the adapter knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl InboundMessage {
    /// A plain text message with no attachments, as most adapters produce.
    pub fn text(
        platform: Platform,
        workspace: impl Into<String>,
        channel: impl Into<String>,
        thread: impl Into<String>,
        user: User,
        text: impl Into<String>,
    ) -> Self {
        Self {
            platform,
            workspace: workspace.into(),
            channel: channel.into(),
            thread: thread.into(),
            message_id: None,
            user,
            text: text.into(),
            attachments: Vec::new(),
            mentioned: true,
            choice: None,
            link: None,
        }
    }

    /// The key memory, slots and escalations are stored under.
    pub fn thread_key(&self) -> ThreadKey {
        ThreadKey::new(
            self.platform,
            self.workspace.clone(),
            self.channel.clone(),
            self.thread.clone(),
        )
    }
}
