//! Per-thread memory: slots, the pending question, the last turns and findings.
//!
//! The thread key (`platform/workspace/channel/thread`) maps to a JSON [`ThreadState`] with a
//! version, in the configured [`crate::store`] backend (sled or PostgreSQL).
//! [`Memory::save`] returns once the state is durable, so a reply is only sent then. Every text field (turns, slots including pasted SQL, the pending question,
//! finding titles, details and facts, recommendations) is passed through
//! [`crate::redact::redact`] before it is stored: AWS keys, `-p<password>`, `password=…`, DSNs
//! with credentials, bearer and Slack tokens never reach the disk. Quoted values keep their
//! quotes, so a redacted query still parses.

use crate::diagnostics::Finding;
use crate::intents::Slots;
use crate::store::{Store, StoreError, Versioned};
use dbabot_chat::{Choice, ThreadKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Storage failures. The turn is not answered when memory cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("memory: {0}")]
    Store(#[from] StoreError),
    #[error("memory record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A question the bot asked and is waiting for an answer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// A required slot is missing for `intent`.
    Slot {
        slot: String,
        intent: String,
        options: Vec<Choice>,
    },
    /// The classifier was unsure; `text` is the original question.
    Intent { options: Vec<Choice>, text: String },
}

/// One remembered message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Unix time in seconds.
    pub at: u64,
    /// `user` or `bot`.
    pub role: String,
    /// Redacted and truncated to 2,000 characters.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// Everything remembered about one thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ThreadState {
    pub key: String,
    pub slots: Slots,
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub turns: Vec<Turn>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// How many turns in a row the classifier was unsure.
    #[serde(default)]
    pub unsure_streak: u32,
    /// `check: status` of diagnostics run in this thread (latest last, at most 30).
    #[serde(default)]
    pub checks_run: Vec<String>,
    /// Immediate actions already recommended in this thread (at most 10).
    #[serde(default)]
    pub recommendations: Vec<String>,
    /// The thread's escalation case, once escalated.
    #[serde(default)]
    pub case_id: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
}

impl ThreadState {
    pub fn new(key: &ThreadKey, now: u64) -> Self {
        ThreadState {
            key: key.to_string(),
            created_at: now,
            updated_at: now,
            ..Default::default()
        }
    }

    /// Appends a turn, keeping the last `max` turns.
    pub fn push_turn(
        &mut self,
        role: &str,
        text: &str,
        intent: Option<&str>,
        now: u64,
        max: usize,
    ) {
        let mut text = crate::redact::redact(text);
        if text.chars().count() > 2000 {
            text = text.chars().take(2000).collect::<String>() + "…";
        }
        self.turns.push(Turn {
            at: now,
            role: role.to_string(),
            text,
            intent: intent.map(str::to_string),
        });
        if self.turns.len() > max {
            let drop = self.turns.len() - max;
            self.turns.drain(..drop);
        }
    }
}

impl ThreadState {
    /// A copy with every free-text field redacted ([`crate::redact::redact`]), as stored.
    pub fn redacted(&self) -> ThreadState {
        use crate::redact::redact;
        let mut s = self.clone();
        for name in crate::intents::slots::NAMES {
            if let Some(v) = s.slots.get(name).map(redact) {
                s.slots.set(name, Some(v));
            }
        }
        if let Some(Pending::Intent { text, .. }) = &mut s.pending {
            *text = redact(text);
        }
        for t in &mut s.turns {
            t.text = redact(&t.text);
        }
        for f in &mut s.findings {
            f.title = redact(&f.title);
            f.detail = redact(&f.detail);
            for v in f.facts.values_mut() {
                *v = redact(v);
            }
        }
        for r in s.recommendations.iter_mut().chain(s.checks_run.iter_mut()) {
            *r = redact(r);
        }
        s
    }
}

/// The thread store, over any [`crate::store::Backend`]. Cheap to clone.
#[derive(Clone)]
pub struct Memory {
    store: Store,
}

impl Memory {
    /// Opens (or creates) the embedded sled store in `dir` with the default cache
    /// ([`crate::store::StoreSettings::default`]). Blocking: call it before serving.
    ///
    /// # Errors
    /// [`MemoryError::Store`] when the directory is not writable, another process holds it, or
    /// its files are damaged (the error names the directory and how to recover).
    pub fn open(dir: &Path) -> Result<Self, MemoryError> {
        let cache = crate::store::StoreSettings::default().cache_mb;
        let store = crate::store::sled::SledStore::open(dir, cache)?;
        Ok(Memory {
            store: std::sync::Arc::new(store),
        })
    }

    /// Memory over an already opened store (`dbabot serve` opens it from `[store]`).
    pub fn with_store(store: Store) -> Self {
        Memory { store }
    }

    /// The store behind this memory, shared with audit, cases and signatures.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The thread's state, if it has one.
    ///
    /// # Errors
    /// [`MemoryError`] on storage or decoding failure.
    pub async fn load(&self, key: &ThreadKey) -> Result<Option<ThreadState>, MemoryError> {
        Ok(self
            .store
            .load_thread(&key.to_string())
            .await?
            .map(|v| v.value))
    }

    /// The thread's state with the version it was read at (for [`Memory::save_if`]).
    ///
    /// # Errors
    /// [`MemoryError`] on storage or decoding failure.
    pub async fn load_versioned(
        &self,
        key: &ThreadKey,
    ) -> Result<Option<Versioned<ThreadState>>, MemoryError> {
        Ok(self.store.load_thread(&key.to_string()).await?)
    }

    /// Stores the state, redacted ([`ThreadState::redacted`]), durably (see
    /// [`crate::store`] "Durability per turn").
    ///
    /// # Errors
    /// [`MemoryError`] when the write or flush fails.
    pub async fn save(&self, state: &ThreadState) -> Result<(), MemoryError> {
        self.store.save_thread(&state.redacted(), None).await?;
        Ok(())
    }

    /// As [`Memory::save`], only if the stored version is still `version` (0 = not stored);
    /// returns the new version.
    ///
    /// # Errors
    /// [`MemoryError::Store`] with [`StoreError::Conflict`] when another writer saved first.
    pub async fn save_if(&self, state: &ThreadState, version: u64) -> Result<u64, MemoryError> {
        Ok(self
            .store
            .save_thread(&state.redacted(), Some(version))
            .await?)
    }

    /// Deletes the thread's state; returns whether there was any.
    ///
    /// # Errors
    /// [`MemoryError`] when the delete or flush fails.
    pub async fn forget(&self, key: &ThreadKey) -> Result<Option<ThreadState>, MemoryError> {
        Ok(self.store.delete_thread(&key.to_string()).await?)
    }

    /// Deletes threads not updated for `retention_secs`; returns how many were deleted.
    ///
    /// # Errors
    /// [`MemoryError`] on storage failure (corrupt records are deleted, not fatal).
    pub async fn purge(&self, now: u64, retention_secs: u64) -> Result<usize, MemoryError> {
        let cutoff = now.saturating_sub(retention_secs);
        Ok(self.store.purge_threads(cutoff).await?)
    }

    /// Number of stored threads (0 when the store cannot be read; the error is logged).
    pub async fn len(&self) -> usize {
        match self.store.thread_count().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count threads");
                0
            }
        }
    }

    /// No thread is stored.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbabot_chat::Platform;

    #[tokio::test]
    async fn save_load_forget_and_purge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = Memory::open(dir.path()).expect("open");
        let key = ThreadKey::new(Platform::Console, "local", "console", "t1");
        let mut s = ThreadState::new(&key, 100);
        s.slots.target = Some("demo".into());
        s.push_turn("user", "password=hunter2 is slow", None, 100, 2);
        s.push_turn("bot", "b", None, 100, 2);
        s.push_turn("user", "c", None, 100, 2);
        mem.save(&s).await.expect("save");
        let back = mem.load(&key).await.expect("load").expect("present");
        assert_eq!(back.turns.len(), 2);
        assert_eq!(back.slots.target.as_deref(), Some("demo"));
        assert_eq!(mem.purge(100 + 10, 60).await.expect("purge"), 0);
        assert_eq!(mem.purge(100 + 61, 60).await.expect("purge"), 1);
        assert!(mem.load(&key).await.expect("load").is_none());
        mem.save(&s).await.expect("save");
        assert!(mem.forget(&key).await.expect("forget").is_some());
        assert!(mem.load(&key).await.expect("load").is_none());
    }

    #[tokio::test]
    async fn secrets_never_reach_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = Memory::open(dir.path()).expect("open");
        let key = ThreadKey::new(Platform::Console, "local", "console", "t2");
        let mut s = ThreadState::new(&key, 100);
        let secrets = [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "S3cretPw",
            "Hunter22",
            "pgAdm1nPw",
            "xoxb-1234567890-abcdefghij",
            "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl",
            "tok-77aa",
        ];
        s.push_turn(
            "user",
            "keys AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY; I ran mysql -uroot -pS3cretPw and mysqldump --password=Hunter22",
            None,
            100,
            10,
        );
        s.push_turn("user", "postgres://admin:pgAdm1nPw@db.internal/orders is slow, token xoxb-1234567890-abcdefghij, Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", None, 100, 10);
        s.slots.sql = Some("SELECT * FROM sessions WHERE token = 'tok-77aa'".into());
        s.slots.object = Some("postgres://admin:pgAdm1nPw@db.internal/orders".into());
        s.pending = Some(Pending::Intent {
            options: vec![],
            text: "password=Hunter22 why".into(),
        });
        s.findings.push(
            Finding::new(
                "c",
                "c",
                dbabot_chat::Severity::Info,
                "mysql -pS3cretPw seen",
            )
            .fact("query", "SET PASSWORD = PASSWORD('Hunter22')"),
        );
        s.recommendations.push("use AKIAIOSFODNN7EXAMPLE".into());
        mem.save(&s).await.expect("save");
        // Every byte sled wrote, not just what load() returns.
        let mut raw = Vec::new();
        for entry in walk(dir.path()) {
            raw.extend(std::fs::read(entry).expect("read"));
        }
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.contains("is slow"),
            "the store is not plain text; the scan proves nothing"
        );
        for secret in secrets {
            assert!(!raw.contains(secret), "{secret} was written to disk");
        }
        let back = mem.load(&key).await.expect("load").expect("present");
        // The pasted query still parses as SQL after redaction.
        assert_eq!(
            back.slots.sql.as_deref(),
            Some("SELECT * FROM sessions WHERE token = '***'")
        );
        assert!(back.turns[1].text.contains("is slow"), "{:?}", back.turns);
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}
