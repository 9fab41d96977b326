//! Diagnostics: the allow-listed catalog, the read-only runner, and what they produce.
//!
//! ```text
//!   intent / report ──► check names ──► catalog::variants(engine, name) ──► Runner (read-only tx,
//!   statement timeout, row cap) ──► ResultSet ──► Check::evaluate ──► Vec<Finding>
//! ```

pub mod catalog;
pub mod finding;
pub mod gate;
pub mod mssql;
pub mod privilege;
mod result;
mod runner;
pub mod sqlite_locks;
pub mod thresholds;

pub use finding::Finding;
pub use result::{thousands, ResultSet, Row, Value};
pub use runner::{CheckOutcome, CheckStatus, RunError, Runner, MYSQL_MARKER};
pub use thresholds::{Threshold, Thresholds};
