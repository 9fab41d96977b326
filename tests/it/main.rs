//! Integration tests: one binary (shared compile) talking to the real local PostgreSQL and
//! MariaDB, the bundled SQLite demo, and the built `dbabot` binary over pipes.

mod advice;
mod classifier;
mod console;
mod conversation;
mod discord;
mod escalation;
mod heldout;
mod knowledge;
mod llm;
mod logs;
mod mssql;
mod mysql;
mod openai_standin;
mod postgres;
mod readonly;
mod scenarios;
mod serve;
mod serve_deep;
mod serve_lifecycle;
mod slack;
mod slack_standin;
mod sqlite_demo;
mod support;
mod teams;
