//! # Log analysis: PostgreSQL logs and MySQL/MariaDB slow and general logs
//!
//! What happened overnight is in the server's log, not in what the database shows now. This
//! module reads PostgreSQL stderr logs (any `log_line_prefix`, detected or given), csvlog and
//! jsonlog, MySQL/MariaDB slow query logs (both servers' header variants) and general logs,
//! plain or gzip-compressed, several files at once, and produces an [`Analysis`]: statements
//! normalised to fingerprints ranked by total time with calls, mean, p50/p95/p99 (from a
//! mergeable quantile sketch, [`sketch`]), max and rows; errors grouped by SQLSTATE; lock
//! waits, deadlocks, temporary files, checkpoints, autovacuum and connections; a per-minute
//! timeline. [`report`] turns it into the structured reply the bot renders everywhere,
//! [`export`] writes CSV files and [`chart`] PNG charts.
//!
//! | module | job |
//! |---|---|
//! | [`reader`] | opens files (gzip by magic bytes), enforces the size limit, cuts the stream into chunks on record boundaries and parses them on all cores |
//! | [`detect`] | guesses the format of a file from its first lines |
//! | [`pg_prefix`] | compiles a `log_line_prefix` into a matcher; detects the common prefixes |
//! | [`pg_stderr`] | assembles stderr lines (continuations, DETAIL/STATEMENT) into events |
//! | [`csvlog`], [`jsonlog`] | PostgreSQL's structured log formats into the same events |
//! | [`pg_event`] | what a PostgreSQL event means: a timed statement, an error, a lock wait… |
//! | [`mysql`] | slow query log and general log records |
//! | [`fingerprint`] | `pg_stat_statements`-style and pt-query-digest-style normalisation |
//! | [`sketch`] | the bounded quantile sketch per fingerprint |
//! | [`aggregate`] | the mergeable totals every worker fills |
//! | [`time`] | timestamps in log formats to Unix milliseconds |
//! | [`generate`] | synthetic logs for the benchmark and the agreement test |
//!
//! Streaming: no file is ever held in memory whole; each worker holds one chunk
//! ([`reader::CHUNK_BYTES`]) and its own [`aggregate::Aggregate`], whose maps are bounded
//! ([`aggregate::MAX_FINGERPRINTS`] and friends).

pub mod aggregate;
pub mod chart;
pub mod csvlog;
pub mod detect;
pub mod export;
pub mod fingerprint;
pub mod generate;
pub mod jsonlog;
pub mod mysql;
pub mod pg_event;
pub mod pg_prefix;
pub mod pg_stderr;
pub mod reader;
pub mod report;
pub mod sketch;
pub mod time;

pub use aggregate::{Aggregate, QueryStats};
pub use reader::{analyze, Input};

use std::path::PathBuf;

/// The log formats the analyser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// PostgreSQL `log_destination = stderr` (also what RDS, Cloud SQL and Azure show).
    PgStderr,
    /// PostgreSQL `log_destination = csvlog`.
    Csvlog,
    /// PostgreSQL 15+ `log_destination = jsonlog`.
    Jsonlog,
    /// MySQL or MariaDB slow query log.
    MysqlSlow,
    /// MySQL or MariaDB general query log (statements without durations).
    MysqlGeneral,
}

impl Format {
    /// The name used on the command line and in reports (`pg-stderr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::PgStderr => "pg-stderr",
            Format::Csvlog => "csvlog",
            Format::Jsonlog => "jsonlog",
            Format::MysqlSlow => "mysql-slow",
            Format::MysqlGeneral => "mysql-general",
        }
    }

    /// Parses a command-line name; `None` for `auto` or an unknown name.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "pg-stderr" | "stderr" | "postgres" => Some(Format::PgStderr),
            "csvlog" | "csv" => Some(Format::Csvlog),
            "jsonlog" | "json" => Some(Format::Jsonlog),
            "mysql-slow" | "slow" => Some(Format::MysqlSlow),
            "mysql-general" | "general" => Some(Format::MysqlGeneral),
            _ => None,
        }
    }

    /// True for the PostgreSQL formats (fingerprints `pg_stat_statements`-style).
    pub fn is_postgres(self) -> bool {
        matches!(self, Format::PgStderr | Format::Csvlog | Format::Jsonlog)
    }
}

/// How to analyse.
#[derive(Debug, Clone)]
pub struct Options {
    /// Force a format for every input; `None` detects per file.
    pub format: Option<Format>,
    /// The PostgreSQL `log_line_prefix` of stderr logs; `None` detects it.
    pub prefix: Option<String>,
    /// Only events at or after this time (Unix milliseconds, UTC).
    pub since_ms: Option<i64>,
    /// Only events before this time (Unix milliseconds, UTC).
    pub until_ms: Option<i64>,
    /// Refuse inputs larger than this many bytes (compressed inputs: after decompression).
    /// Default [`DEFAULT_MAX_BYTES`].
    pub max_bytes: u64,
    /// Worker threads; 0 uses the machine's cores.
    pub threads: usize,
    /// The server's `log_timezone` as an IANA name (`Europe/Berlin`), to resolve the zone
    /// abbreviations its timestamps carry (see [`time`]); `None` uses the built-in table.
    pub timezone: Option<String>,
    /// What the findings are graded by (`log_*` entries of `thresholds.toml`; the embedded copy
    /// by default, a catalog directory's own in the bot).
    pub thresholds: crate::diagnostics::Thresholds,
}

/// Default input size limit: 20 GiB, far above a day of busy logging and below what would fill a
/// disk-backed chat upload; configurable with `--max-bytes` and `[logs] max_bytes`.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024 * 1024;

impl Default for Options {
    fn default() -> Self {
        Options {
            format: None,
            prefix: None,
            since_ms: None,
            until_ms: None,
            max_bytes: DEFAULT_MAX_BYTES,
            threads: 0,
            timezone: None,
            thresholds: crate::diagnostics::Thresholds::embedded(),
        }
    }
}

/// What went wrong reading logs. Lines that cannot be understood are not errors: they are
/// counted in [`Aggregate::bad_lines`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} is {size} bytes, over the limit of {limit} bytes; analyse a smaller window or raise the limit (--max-bytes / [logs] max_bytes)")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("the log_line_prefix `{0}` cannot be used: {1}")]
    BadPrefix(String, String),
    #[error("the log_timezone cannot be used: {0}")]
    BadTimezone(String),
    #[error("writing {path}: {message}")]
    Output { path: PathBuf, message: String },
}

/// One finished analysis: the merged totals plus what was read.
#[derive(Debug)]
pub struct Analysis {
    /// Totals over all inputs.
    pub agg: Aggregate,
    /// Per input: name, detected format, bytes read (decompressed).
    pub inputs: Vec<InputSummary>,
    /// Wall time of the analysis, in seconds.
    pub elapsed_secs: f64,
}

/// What was read from one input.
#[derive(Debug, Clone)]
pub struct InputSummary {
    pub name: String,
    pub format: Format,
    /// The `log_line_prefix` used for a stderr log (given or detected).
    pub prefix: Option<String>,
    /// Bytes read after decompression.
    pub bytes: u64,
    pub compressed: bool,
}

impl Analysis {
    /// True when the inputs were PostgreSQL logs (all of them).
    pub fn is_postgres(&self) -> bool {
        self.inputs.iter().all(|i| i.format.is_postgres())
    }

    /// Throughput in MB/s (10^6 bytes) over the decompressed input.
    pub fn mb_per_sec(&self) -> f64 {
        let bytes: u64 = self.inputs.iter().map(|i| i.bytes).sum();
        bytes as f64 / 1e6 / self.elapsed_secs.max(1e-9)
    }
}

/// One analysis as the CLI and the chat ask for it.
pub struct Request {
    pub inputs: Vec<Input>,
    pub options: Options,
    /// Write CSV exports here.
    pub csv_dir: Option<PathBuf>,
    /// Draw PNG charts here.
    pub charts_dir: Option<PathBuf>,
    /// Statements shown in the reply's table (the CSV has all).
    pub top: usize,
}

/// Statements shown by default: 10, what fits a chat message.
pub const DEFAULT_TOP: usize = 10;

/// Analyses, writes the requested files and builds the reply (blocking: run it off async
/// threads).
///
/// # Errors
/// What [`analyze`], [`export::write_csv`] and [`chart::write_charts`] return.
pub fn run(
    req: Request,
    progress: Option<reader::Progress<'_>>,
) -> Result<(Analysis, dbabot_chat::Reply), LogError> {
    let a = analyze(req.inputs, &req.options, progress)?;
    let mut out = report::Outputs::default();
    if let Some(dir) = &req.csv_dir {
        out.files.extend(export::write_csv(&a, dir)?);
    }
    if let Some(dir) = &req.charts_dir {
        out.files.extend(chart::write_charts(&a, dir)?);
    }
    let reply = report::reply(&a, req.top.max(1), &out, &req.options.thresholds);
    Ok((a, reply))
}
