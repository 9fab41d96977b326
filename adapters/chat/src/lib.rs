//! # dbabot-chat — the message model every dbabot adapter speaks
//!
//! This crate is the seam between chat platforms and the engine:
//!
//! ```text
//!   adapters/slack, discord, teams, console  ──►  dbabot-chat  ◄──  dbabot engine (src/)
//! ```
//!
//! An adapter turns a platform event into an [`InboundMessage`], hands it to a [`MessageHandler`]
//! (the engine implements it) and renders the returned [`Reply`] in the platform's own format
//! (Block Kit, embeds, Adaptive Cards, terminal text). No platform SDK is a dependency here, and
//! the engine never learns which SDK delivered a message.

mod handler;
mod message;
pub mod progress;
pub mod replay;
mod reply;

pub use handler::{
    AttachmentFetcher, CappedFile, Destination, FetchError, HandlerError, MessageHandler, Outbox,
    OutboxError,
};
pub use message::{
    Attachment, AttachmentBody, InboundMessage, Platform, SelectedChoice, ThreadKey, User,
};
pub use replay::ReplayGuard;
pub use reply::{CheckRun, Choice, Field, FindingLine, Part, Reply, Severity, Table};
