//! The one trait the engine implements and every adapter calls.

use crate::{InboundMessage, Reply};
use async_trait::async_trait;

/// Failures an adapter must show to the user (as a short apology) rather than crash on.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Thread memory could not be read or written; the reply was not sent because it would not be durable.
    #[error("thread memory is unavailable: {0}")]
    Memory(String),
    /// Anything else the engine could not recover from within this turn.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Handles one inbound message and produces the reply for its thread.
///
/// Implementations must be cheap to share (`Arc<dyn MessageHandler>`) and safe to call from many
/// tasks at once; turns of the *same* thread are serialised by the implementation.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    /// Processes `message` and returns the reply to post in the same thread.
    ///
    /// # Errors
    /// [`HandlerError`] when the turn could not be completed; the adapter shows a short error.
    async fn handle(&self, message: InboundMessage) -> Result<Reply, HandlerError>;

    /// A short "working on it" line for a message that will take a while (it runs diagnostics),
    /// or `None` when the answer will be immediate. Adapters show it before calling `handle`.
    async fn progress_hint(&self, _message: &InboundMessage) -> Option<String> {
        None
    }

    /// Whether the bot already takes part in `thread` (it has memory of it), so adapters can
    /// answer follow-ups there without a new @-mention.
    async fn knows_thread(&self, _thread: &crate::ThreadKey) -> bool {
        false
    }

    /// Claims one platform delivery (`slack:event:<event_id>`, `teams:activity:<id>`) for this
    /// bot across every replica that shares its store: `true` the first time the key is seen
    /// anywhere, `false` for a duplicate, which the adapter acknowledges and drops. Adapters keep
    /// their own in-process guard in front of it (a redelivery to the same replica never gets
    /// here). The default claims everything, for handlers without shared state.
    async fn claim_delivery(&self, _key: &str) -> bool {
        true
    }
}

/// Where the bot posts something nobody asked for in that place: an escalation handoff in the
/// DBA channel, or a status update in the requester's thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    pub platform: crate::Platform,
    /// Slack team, Discord guild, Teams tenant (may be empty for webhooks).
    pub workspace: String,
    /// Channel id, or the name of a configured webhook for platforms that post through one.
    pub channel: String,
    /// Post into this thread when set.
    pub thread: Option<String>,
}

impl Destination {
    /// The thread a message came from.
    pub fn thread_of(key: &crate::ThreadKey) -> Self {
        Destination {
            platform: key.platform,
            workspace: key.workspace.clone(),
            channel: key.channel.clone(),
            thread: Some(key.thread.clone()),
        }
    }
}

/// Failure to deliver an unsolicited message.
#[derive(Debug, thiserror::Error)]
#[error("could not post to {platform} {channel}: {message}")]
pub struct OutboxError {
    pub platform: crate::Platform,
    pub channel: String,
    pub message: String,
}

impl OutboxError {
    /// A failure to post to `destination`'s channel.
    pub fn at(destination: &Destination, message: impl Into<String>) -> Self {
        OutboxError {
            platform: destination.platform,
            channel: destination.channel.clone(),
            message: message.into(),
        }
    }
}

/// Posts replies to destinations; implemented by each adapter (and by test recorders).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Delivers `reply`; returns the platform's id of the posted message when it has one.
    ///
    /// # Errors
    /// [`OutboxError`] when the platform refused or could not be reached.
    async fn post(
        &self,
        destination: &Destination,
        reply: &Reply,
    ) -> Result<Option<String>, OutboxError>;
}

/// Why an attachment could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The file is larger than the caller allows; nothing (or only a prefix) was kept.
    #[error("{name} is larger than the limit of {limit} bytes")]
    TooLarge { name: String, limit: u64 },
    /// The platform refused or could not be reached.
    #[error("downloading {name} failed: {message}")]
    Failed { name: String, message: String },
    /// This adapter cannot fetch this kind of attachment.
    #[error("this platform cannot deliver the file {name} to the bot")]
    Unsupported { name: String },
}

/// Writes a download into a file, at most `max_bytes` in all: what every
/// [`AttachmentFetcher`] does with the chunks of its HTTP response.
pub struct CappedFile {
    file: tokio::fs::File,
    name: String,
    written: u64,
    max_bytes: u64,
}

impl CappedFile {
    /// Creates (or truncates) `dest` for the attachment `name`, whose response announced
    /// `announced` bytes (`Content-Length`), if it did.
    ///
    /// # Errors
    /// [`FetchError::TooLarge`] when the announced size is over the limit (nothing is created),
    /// [`FetchError::Failed`] when the file cannot be created.
    pub async fn create(
        dest: &std::path::Path,
        name: &str,
        max_bytes: u64,
        announced: Option<u64>,
    ) -> Result<Self, FetchError> {
        if announced.is_some_and(|n| n > max_bytes) {
            return Err(FetchError::TooLarge {
                name: name.to_string(),
                limit: max_bytes,
            });
        }
        let file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| FetchError::Failed {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        Ok(CappedFile {
            file,
            name: name.to_string(),
            written: 0,
            max_bytes,
        })
    }

    /// Appends one chunk.
    ///
    /// # Errors
    /// [`FetchError::TooLarge`] once the total passes the limit, [`FetchError::Failed`] for I/O.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        use tokio::io::AsyncWriteExt as _;
        self.written += chunk.len() as u64;
        if self.written > self.max_bytes {
            return Err(FetchError::TooLarge {
                name: self.name.clone(),
                limit: self.max_bytes,
            });
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| FetchError::Failed {
                name: self.name.clone(),
                message: e.to_string(),
            })
    }

    /// Flushes the file; returns the bytes written.
    ///
    /// # Errors
    /// [`FetchError::Failed`] when the flush fails.
    pub async fn finish(mut self) -> Result<u64, FetchError> {
        use tokio::io::AsyncWriteExt as _;
        self.file.flush().await.map_err(|e| FetchError::Failed {
            name: self.name.clone(),
            message: e.to_string(),
        })?;
        Ok(self.written)
    }
}

/// Downloads the bytes of an inbound attachment; each adapter implements it with its
/// platform's credentials (Slack: the bot token on `url_private`; Discord: the CDN URL).
#[async_trait]
pub trait AttachmentFetcher: Send + Sync {
    /// Writes the attachment into `dest` (created or truncated), at most `max_bytes` bytes;
    /// returns the bytes written.
    ///
    /// # Errors
    /// [`FetchError::TooLarge`] past `max_bytes` (announced or counted while streaming),
    /// [`FetchError::Failed`] for HTTP or I/O errors, [`FetchError::Unsupported`] otherwise.
    async fn fetch(
        &self,
        attachment: &crate::Attachment,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<u64, FetchError>;
}
