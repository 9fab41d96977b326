//! # dbabot — the engine
//!
//! A chat-ops DBA assistant. Adapters (Slack, Discord, Teams, console) hand it
//! [`dbabot_chat::InboundMessage`]s through the [`dbabot_chat::MessageHandler`] trait, which
//! [`engine::Engine`] implements. Where things live:
//!
//! | module | job |
//! |---|---|
//! | [`engine`] | one conversation turn: pending questions, commands, slot filling, answers |
//! | [`intents`] | the intent catalog (data in `intents/`), classifier, slot extraction |
//! | [`diagnostics`] | the allow-listed read-only checks, their runner, findings |
//! | [`explain`] | proves user SQL is one SELECT before a plain EXPLAIN |
//! | [`recommend`] | playbook-driven (rules) recommendations |
//! | [`render`] | recommendations and reports as structured replies |
//! | [`memory`] | per-thread state (in the store) |
//! | [`policy`] | who may run which diagnostics where; rate limits |
//! | [`audit`] | hash-chained audit trail with an anchored head |
//! | [`escalation`] | cases, priorities, handoff to DBAs, reminders, error signatures |
//! | [`config`] | `dbabot.toml` + environment, secrets kept out of sight |
//! | [`demo`] | the bundled SQLite demo database |
//! | [`redact`] | scrubbing secrets from text |
//! | [`store`] | the store layer: traits, the sled backend (one writer), PostgreSQL |
//! | [`logs`] | PostgreSQL and MySQL/MariaDB log analysis: fingerprints, errors, locks, charts |

pub mod app;
pub mod audit;
pub mod config;
pub mod demo;
pub mod diagnostics;
pub mod engine;
pub mod escalation;
pub mod explain;
pub mod intents;
pub mod logs;
pub mod memory;
pub mod policy;
pub mod recommend;
pub mod redact;
pub mod render;
pub mod store;

pub use engine::Engine;
