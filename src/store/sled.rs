//! The embedded sled backend: one process, one directory (`data_dir/memory`).
//!
//! ## Why it cannot freeze like issue 16
//! sled 0.34 deadlocks when several flushes run at once (spacejam/sled#1241, #1308). Here:
//! * sled's own background flusher is off (`flush_every_ms(None)`);
//! * every write runs on **one writer thread** (`dbabot-store-writer`), which applies the
//!   writes queued so far (at most [`GROUP_MAX`]), flushes once, and only then answers them
//!   (group commit) — so exactly one flush is ever in progress, and a burst of turns costs one
//!   fsync per group instead of one per turn;
//! * reads run on Tokio's blocking pool; no async worker touches sled.
//!
//! The writer's queue is bounded ([`QUEUE`]); a full queue makes writers wait (back-pressure),
//! never grow memory.
//!
//! ## Durability per turn
//! A write call returns after the flush that includes it: the turn's thread state, case and
//! audit record are on disk before the reply goes out. A crash loses at most writes whose
//! callers had not been answered yet.
//!
//! ## Cache
//! The page cache is `[store] cache_mb` (default 16 MiB) instead of sled's 1 GiB default; RSS
//! settles at about 7–8 × the cache plus ~15 MB (see [`super::StoreSettings::cache_mb`]).
//!
//! ## Damage
//! sled can panic on a truncated file (issue 16: "index out of bounds"); opening catches that
//! and every other corruption report as [`StoreError::Corrupt`] naming the directory and how
//! to recover.

use super::{
    AuditBuilder, AuditHead, AuditLog, Backend, Cases, Claims, Dedupe, Dump, SignatureCounts, Sla,
    StoreError, Threads, Versioned, MAX_OCCURRENCES, REMINDERS_PER_CLAIM,
};
use crate::audit::AuditRecord;
use crate::escalation::signature::Recurrence;
use crate::escalation::{Case, CaseStatus};
use crate::memory::ThreadState;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Writes queued for the writer thread before callers wait. Local choice: a burst of 1,000
/// turns queues about 3 writes each in under a second of group commits.
pub const QUEUE: usize = 4096;

/// Writes applied per flush at most (bounds the latency of the first write in a group).
pub const GROUP_MAX: usize = 512;

/// A file beside sled's, written once the store is initialised (see [`SledStore::open`]).
pub const MARKER: &str = "dbabot-store";

/// Claims kept per job (older slots are forgotten).
const CLAIMS_KEPT: u64 = 1000;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Trees) -> Completion + Send>;

/// The trees of one store.
pub struct Trees {
    db: sled::Db,
    path: PathBuf,
    threads: sled::Tree,
    cases: sled::Tree,
    case_thread: sled::Tree,
    case_due: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    dedupe: sled::Tree,
    dedupe_exp: sled::Tree,
    signatures: sled::Tree,
    claims: sled::Tree,
    health: sled::Tree,
}

struct Shared {
    trees: Arc<Trees>,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut w) = self.writer.lock() {
            if let Some(h) = w.take() {
                // The writer drains what is queued, flushes and exits; joining releases sled's
                // file lock before the store can be opened again (tests, CLI after serve).
                let _ = h.join();
            }
        }
    }
}

/// The sled store. Cheap to clone.
#[derive(Clone)]
pub struct SledStore {
    shared: Arc<Shared>,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn from_be(b: &[u8]) -> u64 {
    b.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl Trees {
    fn err(&self, e: sled::Error) -> StoreError {
        let path = self.path.display().to_string();
        match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt {
                path,
                detail: e.to_string(),
            },
            other => StoreError::Backend(format!("{path}: {other}")),
        }
    }

    fn meta_u64(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(key)
            .map_err(|e| self.err(e))?
            .map(|v| from_be(&v))
            .unwrap_or(0))
    }

    fn decode_thread(bytes: &[u8]) -> Result<Versioned<ThreadState>, StoreError> {
        if bytes.first() == Some(&b'{') {
            // Written before versions existed.
            return Ok(Versioned {
                value: serde_json::from_slice(bytes)?,
                version: 0,
            });
        }
        if bytes.len() < 8 {
            return Err(StoreError::Backend("thread record too short".into()));
        }
        Ok(Versioned {
            version: from_be(&bytes[..8]),
            value: serde_json::from_slice(&bytes[8..])?,
        })
    }

    fn get_case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        match self.cases.get(id.as_bytes()).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn due_key(c: &Case) -> Option<Vec<u8>> {
        match (c.status, c.next_reminder_at) {
            (CaseStatus::Open, Some(due)) => {
                let mut k = be(due).to_vec();
                k.extend_from_slice(c.id.as_bytes());
                Some(k)
            }
            _ => None,
        }
    }

    /// Writes `new` and keeps the indexes in step with `old`.
    fn put_case(&self, old: Option<&Case>, new: &Case) -> Result<(), StoreError> {
        let e = |x| self.err(x);
        if let Some(k) = old.and_then(Self::due_key) {
            self.case_due.remove(k).map_err(e)?;
        }
        if let Some(k) = Self::due_key(new) {
            self.case_due.insert(k, &[]).map_err(e)?;
        }
        self.case_thread
            .insert(new.source.to_string().as_bytes(), new.id.as_bytes())
            .map_err(e)?;
        self.cases
            .insert(new.id.as_bytes(), serde_json::to_vec(new)?)
            .map_err(e)?;
        Ok(())
    }

    fn remove_case(&self, c: &Case) -> Result<(), StoreError> {
        let e = |x| self.err(x);
        if let Some(k) = Self::due_key(c) {
            self.case_due.remove(k).map_err(e)?;
        }
        let tk = c.source.to_string();
        if self.case_thread.get(tk.as_bytes()).map_err(e)?.as_deref() == Some(c.id.as_bytes()) {
            self.case_thread.remove(tk.as_bytes()).map_err(e)?;
        }
        self.cases.remove(c.id.as_bytes()).map_err(e)?;
        Ok(())
    }

    fn case_number(id: &str) -> u64 {
        id.trim_start_matches("CASE-").parse().unwrap_or(0)
    }

    /// Indexes and the case counter for stores written by versions without them.
    fn upgrade(&self) -> Result<(), StoreError> {
        let e = |x| self.err(x);
        if self.meta.get("layout").map_err(e)?.as_deref() == Some(b"2".as_slice()) {
            return Ok(());
        }
        let mut max = 0;
        let mut cases = Vec::new();
        for item in self.cases.iter() {
            let (_, v) = item.map_err(e)?;
            if let Ok(c) = serde_json::from_slice::<Case>(&v) {
                max = max.max(Self::case_number(&c.id));
                cases.push(c);
            }
        }
        cases.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        for c in &cases {
            if let Some(k) = Self::due_key(c) {
                self.case_due.insert(k, &[]).map_err(e)?;
            }
            self.case_thread
                .insert(c.source.to_string().as_bytes(), c.id.as_bytes())
                .map_err(e)?;
        }
        // Case numbers continue after the largest one seen (sled's generate_id made gaps).
        self.meta.insert("case_seq", &be(max)).map_err(e)?;
        // The old signature layout (one key per occurrence) is replaced by bounded records.
        self.db.drop_tree("signatures").map_err(e)?;
        // Audit head: the last record, if any.
        if let Some((_, v)) = self.audit.last().map_err(e)? {
            if let Ok(r) = serde_json::from_slice::<AuditRecord>(&v) {
                let head = AuditHead {
                    seq: r.seq,
                    hash: r.hash,
                };
                self.meta
                    .insert("audit_head", serde_json::to_vec(&head)?)
                    .map_err(e)?;
            }
        }
        self.meta.insert("layout", b"2".as_slice()).map_err(e)?;
        self.db.flush().map_err(e)?;
        Ok(())
    }
}

/// The message of a caught panic.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "sled panicked".into())
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a `cache_mb` MiB page cache, and starts its
    /// writer thread. Blocking: call it before serving or from `spawn_blocking`.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process has it open, [`StoreError::Corrupt`] when the
    /// files are damaged (sled's panics included), [`StoreError::Open`] otherwise.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self, StoreError> {
        let path = dir.display().to_string();
        let cfg = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.max(1).saturating_mul(1024 * 1024))
            .flush_every_ms(None);
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cfg.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("lock")
                    || e.raw_os_error() == Some(11) =>
            {
                return Err(StoreError::Locked { path })
            }
            Ok(Err(e @ sled::Error::Corruption { .. })) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: e.to_string(),
                })
            }
            Ok(Err(sled::Error::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                return Err(StoreError::Corrupt {
                    path,
                    detail: e.to_string(),
                })
            }
            Ok(Err(e)) => {
                return Err(StoreError::Open {
                    path,
                    reason: e.to_string(),
                })
            }
            Err(p) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: format!("sled failed reading its files: {}", panic_text(&*p)),
                })
            }
        };
        let open_tree = |name: &str| {
            db.open_tree(name).map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: e.to_string(),
            })
        };
        let trees = Trees {
            threads: open_tree("threads")?,
            cases: open_tree("cases")?,
            case_thread: open_tree("case_by_thread")?,
            case_due: open_tree("case_due")?,
            audit: open_tree("audit")?,
            meta: open_tree("meta")?,
            dedupe: open_tree("dedupe")?,
            dedupe_exp: open_tree("dedupe_expiry")?,
            signatures: open_tree("signature_counts")?,
            claims: open_tree("claims")?,
            health: open_tree("health")?,
            path: dir.to_path_buf(),
            db,
        };
        // sled treats a torn tail as a crash and recovers the longest valid prefix; a data file
        // cut short before its first snapshot comes back as an empty store. The marker file,
        // written once the store is initialised, tells that apart from a new directory.
        let marker = dir.join(MARKER);
        let initialised = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trees.meta.get("layout")
        })) {
            Ok(Ok(v)) => v.is_some(),
            Ok(Err(e)) => return Err(trees.err(e)),
            Err(p) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: format!("sled failed reading its files: {}", panic_text(&*p)),
                })
            }
        };
        if marker.exists() && !initialised {
            return Err(StoreError::Corrupt {
                path,
                detail: format!(
                    "sled's files hold no records although {MARKER} shows this directory held a store (the data file was truncated or replaced)"
                ),
            });
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trees.upgrade())) {
            Ok(r) => r?,
            Err(p) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: format!("sled failed reading its files: {}", panic_text(&*p)),
                })
            }
        }
        if !marker.exists() {
            std::fs::write(&marker, b"dbabot store layout 2\n").map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: format!("cannot write {}: {e}", marker.display()),
            })?;
        }
        let trees = Arc::new(trees);
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let t = trees.clone();
        let writer = std::thread::Builder::new()
            .name("dbabot-store-writer".into())
            .spawn(move || writer_loop(t, rx))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(SledStore {
            shared: Arc::new(Shared {
                trees,
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// The directory of this store.
    pub fn path(&self) -> &Path {
        &self.shared.trees.path
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        match self.shared.tx.lock() {
            Ok(g) => g.clone().ok_or(StoreError::Closed),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Runs `f` on the writer thread; answers after the flush that includes it.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |t: &Trees| {
            let r = f(t);
            Box::new(move |flushed: Result<(), String>| {
                let r = match flushed {
                    Ok(()) => r,
                    Err(e) => r.and(Err(StoreError::Backend(format!("flush failed: {e}")))),
                };
                let _ = tx.send(r);
            })
        });
        self.sender()?
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| {
            StoreError::Backend("the store writer stopped while handling this write".into())
        })?
    }

    /// Runs `f` on the blocking pool (reads).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T, StoreError> + Send + 'static,
    {
        let t = self.shared.trees.clone();
        tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&t))).unwrap_or_else(|p| {
                Err(StoreError::Corrupt {
                    path: t.path.display().to_string(),
                    detail: panic_text(&*p),
                })
            })
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    /// Forensics and tests: rewrites the stored bytes of audit record `seq` (nothing else
    /// changes, so `audit verify` must report the record).
    ///
    /// # Errors
    /// [`StoreError`] when sled fails.
    pub async fn forensics_rewrite_audit(
        &self,
        seq: u64,
        edit: impl FnOnce(&mut serde_json::Value) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.write(move |t| {
            let Some(v) = t.audit.get(be(seq)).map_err(|e| t.err(e))? else {
                return Err(StoreError::Backend(format!("no audit record {seq}")));
            };
            let mut j: serde_json::Value = serde_json::from_slice(&v)?;
            edit(&mut j);
            t.audit
                .insert(be(seq), serde_json::to_vec(&j)?)
                .map_err(|e| t.err(e))?;
            Ok(())
        })
        .await
    }

    /// Forensics and tests: deletes audit records from `seq` on, leaving the head anchor as it
    /// is (what truncating the log's tail looks like).
    ///
    /// # Errors
    /// [`StoreError`] when sled fails.
    pub async fn forensics_truncate_audit(&self, from_seq: u64) -> Result<usize, StoreError> {
        self.write(move |t| {
            let mut n = 0;
            for item in t.audit.range(be(from_seq)..) {
                let (k, _) = item.map_err(|e| t.err(e))?;
                t.audit.remove(k).map_err(|e| t.err(e))?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }
}

fn writer_loop(trees: Arc<Trees>, mut rx: mpsc::Receiver<Job>) {
    let run = |job: Job| -> Completion {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&trees))) {
            Ok(done) => done,
            Err(p) => {
                let msg = panic_text(&*p);
                tracing::error!(error = %msg, "store write panicked");
                Box::new(move |_| drop(msg))
            }
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut done = vec![run(first)];
        while done.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(job) => done.push(run(job)),
                Err(_) => break,
            }
        }
        let flushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trees.db.flush()));
        let flushed = match flushed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(p) => Err(panic_text(&*p)),
        };
        if let Err(e) = &flushed {
            tracing::error!(error = %e, path = %trees.path.display(), "store flush failed");
        }
        for d in done {
            d(flushed.clone());
        }
    }
}

#[async_trait]
impl Threads for SledStore {
    async fn load_thread(&self, key: &str) -> Result<Option<Versioned<ThreadState>>, StoreError> {
        let key = key.to_string();
        self.read(
            move |t| match t.threads.get(key.as_bytes()).map_err(|e| t.err(e))? {
                Some(v) => Ok(Some(Trees::decode_thread(&v)?)),
                None => Ok(None),
            },
        )
        .await
    }

    async fn save_thread(
        &self,
        state: &ThreadState,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let json = serde_json::to_vec(state)?;
        let key = state.key.clone();
        self.write(move |t| {
            let current = match t.threads.get(key.as_bytes()).map_err(|e| t.err(e))? {
                Some(v) => {
                    if v.first() == Some(&b'{') || v.len() < 8 {
                        0
                    } else {
                        from_be(&v[..8])
                    }
                }
                None => 0,
            };
            if let Some(exp) = expected {
                if exp != current {
                    return Err(StoreError::Conflict {
                        expected: exp,
                        found: current,
                    });
                }
            }
            let version = current + 1;
            let mut bytes = be(version).to_vec();
            bytes.extend_from_slice(&json);
            t.threads
                .insert(key.as_bytes(), bytes)
                .map_err(|e| t.err(e))?;
            Ok(version)
        })
        .await
    }

    async fn delete_thread(&self, key: &str) -> Result<Option<ThreadState>, StoreError> {
        let key = key.to_string();
        self.write(move |t| {
            Ok(t.threads
                .remove(key.as_bytes())
                .map_err(|e| t.err(e))?
                .and_then(|v| Trees::decode_thread(&v).ok())
                .map(|v| v.value))
        })
        .await
    }

    async fn purge_threads(&self, cutoff: u64) -> Result<usize, StoreError> {
        // Find candidates on the blocking pool, then delete on the writer (re-checked there, so
        // a thread updated meanwhile survives).
        let expired: Vec<Vec<u8>> = self
            .read(move |t| {
                let mut out = Vec::new();
                for item in t.threads.iter() {
                    let (k, v) = item.map_err(|e| t.err(e))?;
                    match Trees::decode_thread(&v) {
                        Ok(s) if s.value.updated_at >= cutoff => {}
                        _ => out.push(k.to_vec()),
                    }
                }
                Ok(out)
            })
            .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        self.write(move |t| {
            let mut n = 0;
            for k in expired {
                let still = match t.threads.get(&k).map_err(|e| t.err(e))? {
                    Some(v) => match Trees::decode_thread(&v) {
                        Ok(s) => s.value.updated_at < cutoff,
                        Err(_) => true,
                    },
                    None => false,
                };
                if still {
                    t.threads.remove(&k).map_err(|e| t.err(e))?;
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    async fn thread_count(&self) -> Result<usize, StoreError> {
        self.read(|t| Ok(t.threads.len())).await
    }
}

#[async_trait]
impl Cases for SledStore {
    async fn next_case_number(&self) -> Result<u64, StoreError> {
        self.write(|t| {
            let n = t.meta_u64("case_seq")? + 1;
            t.meta.insert("case_seq", &be(n)).map_err(|e| t.err(e))?;
            Ok(n)
        })
        .await
    }

    async fn insert_case(&self, case: &Case) -> Result<Case, StoreError> {
        let mut c = case.clone();
        c.version = 1;
        self.write(move |t| {
            let old = t.get_case(&c.id)?;
            t.put_case(old.as_ref(), &c)?;
            Ok(c)
        })
        .await
    }

    async fn get_case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let id = id.to_string();
        self.read(move |t| t.get_case(&id)).await
    }

    async fn list_cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError> {
        self.read(move |t| {
            let mut v = Vec::new();
            for item in t.cases.iter() {
                let (_, b) = item.map_err(|e| t.err(e))?;
                if let Ok(c) = serde_json::from_slice::<Case>(&b) {
                    if status.is_none_or(|s| c.status == s) {
                        v.push(c);
                    }
                }
            }
            v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            Ok(v)
        })
        .await
    }

    async fn open_case_for_thread(&self, thread: &str) -> Result<Option<Case>, StoreError> {
        let thread = thread.to_string();
        self.read(move |t| {
            let Some(id) = t.case_thread.get(thread.as_bytes()).map_err(|e| t.err(e))? else {
                return Ok(None);
            };
            let id = String::from_utf8_lossy(&id).into_owned();
            Ok(t.get_case(&id)?.filter(|c| !c.status.is_closed()))
        })
        .await
    }

    async fn replace_case(&self, case: &Case) -> Result<Option<Case>, StoreError> {
        let mut c = case.clone();
        self.write(move |t| {
            let Some(old) = t.get_case(&c.id)? else {
                return Ok(None);
            };
            if old.version != c.version {
                return Ok(None);
            }
            c.version = old.version + 1;
            t.put_case(Some(&old), &c)?;
            Ok(Some(c))
        })
        .await
    }

    async fn claim_due_reminders(&self, now: u64, sla: Sla) -> Result<Vec<Case>, StoreError> {
        self.write(move |t| {
            let mut due = Vec::new();
            for item in t.case_due.range(..be(now.saturating_add(1)).to_vec()) {
                let (k, _) = item.map_err(|e| t.err(e))?;
                due.push(String::from_utf8_lossy(&k[8.min(k.len())..]).into_owned());
                if due.len() >= REMINDERS_PER_CLAIM {
                    break;
                }
            }
            let mut out = Vec::new();
            for id in due {
                let Some(old) = t.get_case(&id)? else {
                    continue;
                };
                if old.status != CaseStatus::Open || old.next_reminder_at.is_none_or(|d| d > now) {
                    continue;
                }
                let mut c = old.clone();
                c.reminders_sent += 1;
                c.next_reminder_at = Some(now + sla(&c.priority));
                c.updated_at = now;
                c.version = old.version + 1;
                t.put_case(Some(&old), &c)?;
                out.push(c);
            }
            Ok(out)
        })
        .await
    }

    async fn purge_closed_cases(&self, cutoff: u64) -> Result<usize, StoreError> {
        // Scan on the blocking pool; delete on the writer, re-checked (writes are not held up
        // by the scan).
        let candidates: Vec<String> = self
            .read(move |t| {
                let mut out = Vec::new();
                for item in t.cases.iter() {
                    let (_, b) = item.map_err(|e| t.err(e))?;
                    if let Ok(c) = serde_json::from_slice::<Case>(&b) {
                        if c.status.is_closed() && c.updated_at < cutoff {
                            out.push(c.id);
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        self.write(move |t| {
            let mut n = 0;
            for id in candidates {
                if let Some(c) = t.get_case(&id)? {
                    if c.status.is_closed() && c.updated_at < cutoff {
                        t.remove_case(&c)?;
                        n += 1;
                    }
                }
            }
            Ok(n)
        })
        .await
    }
}

#[async_trait]
impl AuditLog for SledStore {
    async fn append_audit(&self, build: AuditBuilder) -> Result<AuditRecord, StoreError> {
        self.write(move |t| {
            let head: Option<AuditHead> = match t.meta.get("audit_head").map_err(|e| t.err(e))? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            };
            let (seq, prev) = match &head {
                Some(h) => (h.seq + 1, h.hash.clone()),
                None => (1, String::new()),
            };
            let rec = build(seq, &prev)?;
            let new_head = AuditHead {
                seq: rec.seq,
                hash: rec.hash.clone(),
            };
            let rec_bytes = serde_json::to_vec(&rec)?;
            let head_bytes = serde_json::to_vec(&new_head)?;
            use sled::Transactional;
            (&t.audit, &t.meta)
                .transaction(|(a, m)| {
                    a.insert(&be(rec.seq), rec_bytes.as_slice())?;
                    m.insert("audit_head", head_bytes.as_slice())?;
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| StoreError::Backend(format!("audit append: {e:?}")))?;
            Ok(rec)
        })
        .await
    }

    async fn audit_records(
        &self,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |t| {
            let mut out = Vec::new();
            for item in t.audit.iter() {
                let (_, v) = item.map_err(|e| t.err(e))?;
                let r: AuditRecord = serde_json::from_slice(&v)?;
                if since_ms.is_some_and(|s| r.time_ms < s)
                    || until_ms.is_some_and(|u| r.time_ms > u)
                {
                    continue;
                }
                out.push(r);
            }
            Ok(out)
        })
        .await
    }

    async fn audit_raw(&self) -> Result<Vec<(u64, Result<AuditRecord, String>)>, StoreError> {
        self.read(|t| {
            let mut out = Vec::new();
            for item in t.audit.iter() {
                let (k, v) = item.map_err(|e| t.err(e))?;
                out.push((
                    from_be(&k),
                    serde_json::from_slice::<AuditRecord>(&v).map_err(|e| e.to_string()),
                ));
            }
            Ok(out)
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.read(|t| match t.meta.get("audit_head").map_err(|e| t.err(e))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        })
        .await
    }
}

#[async_trait]
impl Dedupe for SledStore {
    async fn first_delivery(&self, key: &str, now: u64, ttl_secs: u64) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.write(move |t| {
            let e = |x| t.err(x);
            if let Some(exp) = t.dedupe.get(key.as_bytes()).map_err(e)? {
                let exp = from_be(&exp);
                if exp > now {
                    return Ok(false);
                }
                let mut ik = be(exp).to_vec();
                ik.extend_from_slice(key.as_bytes());
                t.dedupe_exp.remove(ik).map_err(e)?;
            }
            let exp = now.saturating_add(ttl_secs);
            t.dedupe.insert(key.as_bytes(), &be(exp)).map_err(e)?;
            let mut ik = be(exp).to_vec();
            ik.extend_from_slice(key.as_bytes());
            t.dedupe_exp.insert(ik, &[]).map_err(e)?;
            Ok(true)
        })
        .await
    }

    async fn purge_dedupe(&self, now: u64) -> Result<usize, StoreError> {
        self.write(move |t| {
            let e = |x| t.err(x);
            let mut n = 0;
            for item in t.dedupe_exp.range(..be(now.saturating_add(1)).to_vec()) {
                let (ik, _) = item.map_err(e)?;
                let key = &ik[8.min(ik.len())..];
                if t.dedupe.get(key).map_err(e)?.map(|v| from_be(&v)) == Some(from_be(&ik[..8])) {
                    t.dedupe.remove(key).map_err(e)?;
                }
                t.dedupe_exp.remove(&ik).map_err(e)?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }
}

/// The bounded occurrence list of one signature, newest last.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Occurrences {
    /// `(unix ms, thread)`.
    seen: Vec<(u64, String)>,
}

/// Trims `o` to the window and the cap, adds the occurrence, and counts.
fn count_occurrences(
    seen: &mut Vec<(u64, String)>,
    thread: &str,
    now_ms: u64,
    window_ms: u64,
) -> Recurrence {
    let since = now_ms.saturating_sub(window_ms);
    seen.retain(|(at, _)| *at >= since);
    seen.push((now_ms, thread.to_string()));
    if seen.len() > MAX_OCCURRENCES {
        let drop = seen.len() - MAX_OCCURRENCES;
        seen.drain(..drop);
    }
    let threads: std::collections::BTreeSet<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    Recurrence {
        count: seen.len(),
        threads: threads.len(),
    }
}

#[async_trait]
impl SignatureCounts for SledStore {
    async fn record_signature(
        &self,
        target: &str,
        signature: &str,
        thread: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Recurrence, StoreError> {
        let key = format!("{target}\0{signature}");
        let thread = thread.to_string();
        self.write(move |t| {
            let mut o: Occurrences = match t.signatures.get(key.as_bytes()).map_err(|e| t.err(e))? {
                Some(v) => serde_json::from_slice(&v).unwrap_or_default(),
                None => Occurrences::default(),
            };
            let r = count_occurrences(&mut o.seen, &thread, now_ms, window_ms);
            t.signatures
                .insert(key.as_bytes(), serde_json::to_vec(&o)?)
                .map_err(|e| t.err(e))?;
            Ok(r)
        })
        .await
    }

    async fn purge_signatures(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        fn newest(v: &[u8]) -> u64 {
            serde_json::from_slice::<Occurrences>(v)
                .ok()
                .and_then(|o| o.seen.last().map(|(at, _)| *at))
                .unwrap_or(0)
        }
        let candidates: Vec<Vec<u8>> = self
            .read(move |t| {
                let mut out = Vec::new();
                for item in t.signatures.iter() {
                    let (k, v) = item.map_err(|e| t.err(e))?;
                    if newest(&v) < cutoff_ms {
                        out.push(k.to_vec());
                    }
                }
                Ok(out)
            })
            .await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        self.write(move |t| {
            let mut n = 0;
            for k in candidates {
                let stale = t
                    .signatures
                    .get(&k)
                    .map_err(|e| t.err(e))?
                    .is_some_and(|v| newest(&v) < cutoff_ms);
                if stale {
                    t.signatures.remove(&k).map_err(|e| t.err(e))?;
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }
}

#[async_trait]
impl Claims for SledStore {
    async fn claim(&self, job: &str, slot: u64, owner: &str) -> Result<bool, StoreError> {
        let job = job.to_string();
        let owner = owner.to_string();
        self.write(move |t| {
            let e = |x| t.err(x);
            let mut key = job.as_bytes().to_vec();
            key.push(0);
            let prefix_len = key.len();
            key.extend_from_slice(&be(slot));
            let won = t
                .claims
                .compare_and_swap(&key, None as Option<&[u8]>, Some(owner.as_bytes()))
                .map_err(e)?
                .is_ok();
            if won && slot > CLAIMS_KEPT {
                let mut end = key[..prefix_len].to_vec();
                end.extend_from_slice(&be(slot - CLAIMS_KEPT));
                for item in t.claims.range(key[..prefix_len].to_vec()..end) {
                    let (k, _) = item.map_err(e)?;
                    t.claims.remove(k).map_err(e)?;
                }
            }
            Ok(won)
        })
        .await
    }
}

#[async_trait]
impl Backend for SledStore {
    fn kind(&self) -> &'static str {
        "sled"
    }

    async fn probe(&self) -> Result<(), StoreError> {
        let now = super::unix_now();
        self.write(move |t| {
            t.health.insert(b"readyz", &be(now)).map_err(|e| t.err(e))?;
            Ok(())
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(())).await
    }

    async fn dump(&self) -> Result<Dump, StoreError> {
        let threads = self
            .read(|t| {
                let mut v = Vec::new();
                for item in t.threads.iter() {
                    let (_, b) = item.map_err(|e| t.err(e))?;
                    v.push(Trees::decode_thread(&b)?.value);
                }
                Ok(v)
            })
            .await?;
        let cases = self.list_cases(None).await?;
        let audit = self.audit_records(None, None).await?;
        let audit_head = self.audit_head().await?;
        let case_seq = self.read(|t| t.meta_u64("case_seq")).await?;
        Ok(Dump {
            threads,
            cases,
            audit,
            audit_head,
            case_seq,
        })
    }

    async fn restore(&self, dump: Dump) -> Result<(), StoreError> {
        self.write(move |t| {
            let e = |x| t.err(x);
            for s in &dump.threads {
                let mut bytes = be(1).to_vec();
                bytes.extend_from_slice(&serde_json::to_vec(s)?);
                t.threads.insert(s.key.as_bytes(), bytes).map_err(e)?;
            }
            for c in &dump.cases {
                t.put_case(None, c)?;
            }
            for r in &dump.audit {
                t.audit
                    .insert(be(r.seq), serde_json::to_vec(r)?)
                    .map_err(e)?;
            }
            if let Some(h) = &dump.audit_head {
                t.meta
                    .insert("audit_head", serde_json::to_vec(h)?)
                    .map_err(e)?;
            }
            t.meta.insert("case_seq", &be(dump.case_seq)).map_err(e)?;
            Ok(())
        })
        .await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
