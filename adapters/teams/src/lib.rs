//! # dbabot-teams — Microsoft Teams without a Bot Framework registration
//!
//! What a team owner can set up in a channel:
//!
//! * **Inbound — outgoing webhook.** Teams POSTs a Bot Framework `message` Activity to
//!   `https://<host>/teams/messages` whenever someone @-mentions the webhook. Every request is
//!   authenticated before parsing (`Authorization: HMAC <base64>`, HMAC-SHA256 over the raw body
//!   keyed by the base64-decoded security token, constant-time comparison; otherwise 401), then
//!   deduplicated on the Activity `id` and checked against a window on its signed `timestamp`.
//!   The text loses the `<at>…</at>` mention and its HTML and goes to the engine as an
//!   [`InboundMessage`](dbabot_chat::InboundMessage) keyed by (tenant, channel, reply-chain root
//!   message id), so memory follows the Teams reply chain.
//! * **Reply.** Teams waits 5 s. An answer ready within [`TeamsConfig::sync_deadline`] is the
//!   HTTP response, as an Adaptive Card; otherwise the response is a short "working on it" and
//!   the full answer is posted later through the incoming webhook, naming the requester and
//!   quoting the question.
//! * **Outbound — incoming webhook.** [`IncomingWebhook`] posts `message` Activities with
//!   Adaptive Card (1.4) attachments to a Workflows "When a Teams webhook request is received"
//!   flow, with retries on 429/5xx. [`render_cards`] turns any [`Reply`](dbabot_chat::Reply)
//!   into cards under the ~28 KB payload limit.
//!
//! Setup for operators: `adapters/teams/README.md` ("Install in Teams").

pub mod activity;
pub mod auth;
pub mod card;
pub mod config;
pub mod error;
mod server;
pub mod webhook;

pub use activity::{to_inbound, Activity};
pub use card::{render_cards, CardOptions, Requester};
pub use config::{RetryPolicy, SecurityToken, TeamsConfig, WebhookUrl};
pub use error::{AuthError, TeamsError, WebhookError};
pub use server::{router, PATH};
pub use webhook::{Delivery, IncomingWebhook, TeamsOutbox};
