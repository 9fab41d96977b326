//! The store layer: everything the bot keeps, behind traits, with two backends.
//!
//! | trait | what | sled backend | PostgreSQL backend |
//! |---|---|---|---|
//! | [`Threads`] | per-thread memory ([`ThreadState`]) with optimistic versions | `threads` tree, 8-byte version prefix | `threads` table, `version` column |
//! | [`Cases`] | escalation cases, compare-and-set on `version`, monotonic ids | `cases` tree + thread / due indexes, `meta/case_seq` | `cases` table, `case_seq` sequence row |
//! | [`AuditLog`] | append-only hash chain with an anchored head | `audit` tree + `meta/audit_head` | `audit` table + `audit_head` row, appended under an advisory lock |
//! | [`Dedupe`] | "first delivery" of an event id within a TTL | `dedupe` + expiry index | `INSERT … ON CONFLICT DO NOTHING` |
//! | [`SignatureCounts`] | error-signature occurrences in a window, bounded | one record per signature, at most [`MAX_OCCURRENCES`] | one row per occurrence, counted over the newest [`MAX_OCCURRENCES`] by index, purged after the window |
//! | [`Claims`] | one replica runs each scheduled job slot | insert-if-absent | `INSERT … ON CONFLICT DO NOTHING` |
//!
//! No `sled` type appears outside `src/store/sled*`. Every method is `async` and no backend
//! blocks an async worker thread: the sled backend runs reads on Tokio's blocking pool and all
//! writes on one dedicated writer thread (see [`sled`]), the PostgreSQL backend is sqlx.
//!
//! ## Durability per turn
//! A write returns only after it is durable: the sled writer flushes (one flush at a time,
//! grouping every write queued meanwhile into it) before it answers; PostgreSQL commits. So a
//! reply is sent only once the thread's state, the case and the audit record are on disk.

pub mod postgres;
pub mod sled;

use crate::audit::AuditRecord;
use crate::escalation::signature::Recurrence;
use crate::escalation::{Case, CaseStatus};
use crate::memory::ThreadState;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

/// Occurrences kept per error signature (the newest win). The escalation threshold is a handful
/// (`recurrence_threshold`, default 3), so a count that saturates here changes no decision while
/// a turn's cost stays bounded. Local choice.
pub const MAX_OCCURRENCES: usize = 256;

/// SLA in seconds for a priority (`P1`…), for [`Cases::claim_due_reminders`].
pub type Sla = Arc<dyn Fn(&str) -> u64 + Send + Sync>;

/// Reminders claimed per call (the 30-second tick claims the rest next time). Local choice.
pub const REMINDERS_PER_CLAIM: usize = 100;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be opened (permissions, missing directory, bad DSN…).
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    /// Another process holds the sled directory.
    #[error("the store at {path} is in use by another process (sled allows one process; stop the other `dbabot` or use `[store] backend = \"postgres\"` for several replicas)")]
    Locked { path: String },
    /// The on-disk data is damaged.
    #[error("the store at {path} is corrupt ({detail}). Recover: stop dbabot, move the directory aside (`mv {path} {path}.damaged`) and restore it from a backup, or start with an empty store (memory, cases and audit start over); the damaged copy can still be inspected")]
    Corrupt { path: String, detail: String },
    /// A compare-and-set lost: the record changed since it was read.
    #[error("the record was changed concurrently (expected version {expected}, found {found})")]
    Conflict { expected: u64, found: u64 },
    /// A record could not be encoded or decoded.
    #[error("store record encoding: {0}")]
    Codec(#[from] serde_json::Error),
    /// The backend failed (I/O, SQL, connection).
    #[error("store backend: {0}")]
    Backend(String),
    /// The store was closed (shutdown) or its writer stopped.
    #[error("the store is closed")]
    Closed,
}

/// A value with the version it was read at (0 = never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// The anchored head of the audit chain: the last record's sequence number and hash, stored
/// apart from the records so that removing records from the end is detected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

/// Builds the next audit record from the sequence number it gets and the previous record's
/// hash (empty for the first); called by the backend while it holds the append lock.
pub type AuditBuilder =
    Box<dyn FnOnce(u64, &str) -> Result<AuditRecord, serde_json::Error> + Send + 'static>;

/// Per-thread memory.
#[async_trait]
pub trait Threads: Send + Sync {
    /// The thread's state and its version.
    async fn load_thread(&self, key: &str) -> Result<Option<Versioned<ThreadState>>, StoreError>;
    /// Stores `state` under `state.key`. `expected`: `None` writes unconditionally;
    /// `Some(v)` only if the stored version is `v` (0 = absent), else [`StoreError::Conflict`].
    /// Returns the new version.
    async fn save_thread(
        &self,
        state: &ThreadState,
        expected: Option<u64>,
    ) -> Result<u64, StoreError>;
    /// Deletes the thread; returns what was stored.
    async fn delete_thread(&self, key: &str) -> Result<Option<ThreadState>, StoreError>;
    /// Deletes threads whose `updated_at` (unix seconds) is before `cutoff`; returns how many.
    async fn purge_threads(&self, cutoff: u64) -> Result<usize, StoreError>;
    /// How many threads are stored.
    async fn thread_count(&self) -> Result<usize, StoreError>;
}

/// Escalation cases.
#[async_trait]
pub trait Cases: Send + Sync {
    /// The next case number: 1, 2, 3… without gaps from restarts (a number is used up even if
    /// the case is then not stored).
    async fn next_case_number(&self) -> Result<u64, StoreError>;
    /// Stores a new case at version 1 (its `version` field is ignored).
    async fn insert_case(&self, case: &Case) -> Result<Case, StoreError>;
    /// The case, with its current `version`.
    async fn get_case(&self, id: &str) -> Result<Option<Case>, StoreError>;
    /// Cases oldest first, optionally with one status.
    async fn list_cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError>;
    /// The newest open or acknowledged case of a thread (indexed, not a scan).
    async fn open_case_for_thread(&self, thread: &str) -> Result<Option<Case>, StoreError>;
    /// Compare-and-set: stores `case` only if the stored version is still `case.version`; returns
    /// the stored case (version + 1) or `None` when another writer got there first.
    async fn replace_case(&self, case: &Case) -> Result<Option<Case>, StoreError>;
    /// Claims the open cases whose `next_reminder_at` is at or before `now` (unix seconds):
    /// atomically counts a reminder on each and moves `next_reminder_at` to `now + sla(priority)`
    /// (version + 1), and returns them as stored. A case acknowledged first is not claimed; an
    /// acknowledgement racing the claim loses its compare-and-set and decides again on the
    /// claimed copy (still open), so nothing is reverted; two replicas never claim one reminder
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`). At most [`REMINDERS_PER_CLAIM`] per call.
    async fn claim_due_reminders(&self, now: u64, sla: Sla) -> Result<Vec<Case>, StoreError>;
    /// Deletes closed cases last updated before `cutoff`; returns how many.
    async fn purge_closed_cases(&self, cutoff: u64) -> Result<usize, StoreError>;
}

/// The audit chain.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends the record `build` makes from the next sequence number and the previous hash,
    /// and moves the anchored head to it, atomically and one append at a time.
    async fn append_audit(&self, build: AuditBuilder) -> Result<AuditRecord, StoreError>;
    /// Records in sequence order; time bounds in Unix milliseconds, inclusive.
    async fn audit_records(
        &self,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Raw records in sequence order, decoded leniently: `(seq, record or the decode error)`.
    async fn audit_raw(&self) -> Result<Vec<(u64, Result<AuditRecord, String>)>, StoreError>;
    /// The anchored head.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
}

/// Delivery deduplication (Slack event ids, Teams activity ids, message ids).
#[async_trait]
pub trait Dedupe: Send + Sync {
    /// `true` the first time `key` is seen within `ttl_secs` of `now` (unix seconds).
    async fn first_delivery(&self, key: &str, now: u64, ttl_secs: u64) -> Result<bool, StoreError>;
    /// Forgets keys expired at `now`; returns how many.
    async fn purge_dedupe(&self, now: u64) -> Result<usize, StoreError>;
}

/// Error-signature occurrences.
#[async_trait]
pub trait SignatureCounts: Send + Sync {
    /// Records one occurrence of `signature` on `target` in `thread` and returns the counts
    /// within `window_ms` up to `now_ms` (at most [`MAX_OCCURRENCES`] are kept per signature).
    async fn record_signature(
        &self,
        target: &str,
        signature: &str,
        thread: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Recurrence, StoreError>;
    /// Forgets occurrences older than `cutoff_ms`; returns how many entries went (sled: whole
    /// signatures with nothing newer; PostgreSQL: occurrence rows).
    async fn purge_signatures(&self, cutoff_ms: u64) -> Result<usize, StoreError>;
}

/// Scheduled jobs claimed by one replica.
#[async_trait]
pub trait Claims: Send + Sync {
    /// `true` for the one caller that claims `(job, slot)` first (e.g. `purge`, hour number).
    /// Claims older than 1,000 slots of the same job are forgotten.
    async fn claim(&self, job: &str, slot: u64, owner: &str) -> Result<bool, StoreError>;
}

/// A whole store's contents, for `dbabot store migrate`.
#[derive(Debug, Default)]
pub struct Dump {
    pub threads: Vec<ThreadState>,
    pub cases: Vec<Case>,
    pub audit: Vec<AuditRecord>,
    pub audit_head: Option<AuditHead>,
    pub case_seq: u64,
}

/// Everything a backend provides.
#[async_trait]
pub trait Backend: Threads + Cases + AuditLog + Dedupe + SignatureCounts + Claims {
    /// `sled` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Writes and makes durable a probe record (for `/readyz`).
    async fn probe(&self) -> Result<(), StoreError>;
    /// Makes every write durable (shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
    /// Everything stored, for migration.
    async fn dump(&self) -> Result<Dump, StoreError>;
    /// Loads a [`Dump`] into an empty store (records keep their sequence numbers and hashes).
    async fn restore(&self, dump: Dump) -> Result<(), StoreError>;
    /// For backend-specific forensics and tests (downcast to the backend type).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A shared handle on the configured backend. Cheap to clone.
pub type Store = Arc<dyn Backend>;

/// Which backend `[store]` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Embedded, one process (the default).
    #[default]
    Sled,
    /// Shared by several replicas.
    Postgres,
}

/// The `[store]` section.
///
/// ```toml
/// [store]
/// backend = "sled"        # or "postgres"
/// cache_mb = 16           # sled page cache
/// dsn_env = "DBABOT_STORE_DSN"   # postgres: DSN from this variable…
/// # dsn_file = "/run/secrets/store-dsn"  # …or from this file
/// ```
#[derive(Clone)]
pub struct StoreSettings {
    pub backend: BackendKind,
    /// sled page-cache size in MiB (default 16). sled's own default is 1 GiB, under which RSS
    /// grew with every thread handled (issue 16). Measured with `benches/store.rs`: the
    /// process's RSS settles at about 7–8 × this plus ~15 MB (16 MiB: 116 MB after 10,000
    /// threads, 125 MB after 20,000, 131 MB after 60,000; 64 MiB: 277 MB after 20,000), with
    /// the same turn latency, so 16 keeps the Kubernetes manifests' 256 MiB limit safe. Local
    /// choice.
    pub cache_mb: u64,
    /// PostgreSQL DSN (resolved from `dsn_env` / `dsn_file`); never logged.
    pub dsn: Option<crate::config::Secret>,
    /// Connections in the PostgreSQL pool (default 8).
    pub pool_size: u32,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("backend", &self.backend)
            .field("cache_mb", &self.cache_mb)
            .field("dsn", &self.dsn.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            backend: BackendKind::Sled,
            cache_mb: 16,
            dsn: None,
            pool_size: 8,
        }
    }
}

/// Where the sled store of a data directory lives.
pub fn sled_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("memory")
}

/// Opens the configured store: sled in `data_dir/memory`, or PostgreSQL (migrations applied).
///
/// # Errors
/// [`StoreError`] naming the path or what is missing.
pub async fn open(data_dir: &std::path::Path, s: &StoreSettings) -> Result<Store, StoreError> {
    match s.backend {
        BackendKind::Sled => {
            let path = sled_path(data_dir);
            let cache = s.cache_mb;
            let store = tokio::task::spawn_blocking(move || sled::SledStore::open(&path, cache))
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))??;
            Ok(Arc::new(store))
        }
        BackendKind::Postgres => {
            let dsn = s.dsn.as_ref().ok_or_else(|| StoreError::Open {
                path: "[store]".into(),
                reason: "backend = \"postgres\" needs dsn_env or dsn_file".into(),
            })?;
            Ok(Arc::new(
                postgres::PgStore::connect(dsn.expose(), s.pool_size).await?,
            ))
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
