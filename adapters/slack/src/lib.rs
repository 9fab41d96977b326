//! # dbabot-slack — the Slack adapter
//!
//! ```text
//! Slack ──HTTP──► http::router ─verify─► SlackBot::{on_event,on_command,on_block_actions}
//! Slack ──WSS───► socket::run ─────────►        │ convert (payload → InboundMessage)
//!                                               ▼
//!                                  MessageHandler::handle (the engine)
//!                                               │ blocks::render (Reply → Block Kit)
//!                                               ▼
//!                                  api::SlackApi (chat.postMessage/update, files, reactions)
//! ```
//!
//! Thread key: (team, channel, thread_ts). See README.md in this folder for installation.

pub mod api;
pub mod blocks;
pub mod bot;
pub mod config;
pub mod convert;
pub mod files;
pub mod http;
pub mod socket;
pub mod verify;

pub use bot::SlackBot;
pub use config::{SlackConfig, Transport};
pub use http::{router, router_with_clock};
