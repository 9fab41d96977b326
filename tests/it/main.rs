//! Integration tests: one binary (shared compile) talking to the real local PostgreSQL and
//! MariaDB, the bundled SQLite demo, and the built `dbabot` binary over pipes.

mod advice;
mod burst;
mod check_config;
mod classifier;
mod console;
mod conversation;
mod discord;
mod escalation;
mod heldout;
mod knowledge;
mod llm;
mod logs;
mod metrics;
mod mssql;
mod mysql;
mod openai_standin;
mod outbox;
mod postgres;
mod privileges;
mod readonly;
mod scenarios;
mod serve;
mod serve_deep;
mod serve_lifecycle;
mod slack;
mod slack_files;
mod slack_files_standin;
mod slack_standin;
mod sqlite_demo;
mod store;
mod store_replicas;
mod support;
mod teams;
