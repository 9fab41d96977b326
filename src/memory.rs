//! Per-thread memory in sled: slots, the pending question, the last turns and findings.
//!
//! One sled tree, `threads`, maps the thread key (`platform/workspace/channel/thread`) to a JSON
//! [`ThreadState`]. [`Memory::save`] flushes before returning, so a reply is only sent once its
//! state is durable. Text is passed through [`crate::redact::redact`] before it is stored.

use crate::diagnostics::Finding;
use crate::intents::Slots;
use dbabot_chat::{Choice, ThreadKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Storage failures. The turn is not answered when memory cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot open memory at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("memory storage error: {0}")]
    Storage(#[from] sled::Error),
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

/// The sled-backed thread store. Cheap to clone.
#[derive(Clone)]
pub struct Memory {
    db: sled::Db,
    threads: sled::Tree,
}

impl Memory {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// [`MemoryError::Open`] when the directory is not writable or another process holds it.
    pub fn open(dir: &Path) -> Result<Self, MemoryError> {
        let db = sled::open(dir).map_err(|source| MemoryError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        let threads = db.open_tree("threads")?;
        Ok(Memory { db, threads })
    }

    /// The underlying database, for other stores (audit, cases) that share the file.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The thread's state, if it has one.
    ///
    /// # Errors
    /// [`MemoryError`] on storage or decoding failure.
    pub fn load(&self, key: &ThreadKey) -> Result<Option<ThreadState>, MemoryError> {
        match self.threads.get(key.to_string().as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Stores the state and flushes to disk.
    ///
    /// # Errors
    /// [`MemoryError`] when the write or flush fails.
    pub async fn save(&self, state: &ThreadState) -> Result<(), MemoryError> {
        let bytes = serde_json::to_vec(state)?;
        self.threads.insert(state.key.as_bytes(), bytes)?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// Deletes the thread's state; returns whether there was any.
    ///
    /// # Errors
    /// [`MemoryError`] when the delete or flush fails.
    pub async fn forget(&self, key: &ThreadKey) -> Result<Option<ThreadState>, MemoryError> {
        let old = self.threads.remove(key.to_string().as_bytes())?;
        self.db.flush_async().await?;
        Ok(match old {
            Some(v) => serde_json::from_slice(&v).ok(),
            None => None,
        })
    }

    /// Deletes threads not updated for `retention_secs`; returns how many were deleted.
    ///
    /// # Errors
    /// [`MemoryError`] on storage failure (corrupt records are deleted, not fatal).
    pub async fn purge(&self, now: u64, retention_secs: u64) -> Result<usize, MemoryError> {
        let mut n = 0;
        for item in self.threads.iter() {
            let (k, v) = item?;
            let expired = match serde_json::from_slice::<ThreadState>(&v) {
                Ok(s) => now.saturating_sub(s.updated_at) > retention_secs,
                Err(_) => true,
            };
            if expired {
                self.threads.remove(k)?;
                n += 1;
            }
        }
        if n > 0 {
            self.db.flush_async().await?;
        }
        Ok(n)
    }

    /// Number of stored threads.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
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
        let back = mem.load(&key).expect("load").expect("present");
        assert_eq!(back.turns.len(), 2);
        assert_eq!(back.slots.target.as_deref(), Some("demo"));
        assert_eq!(mem.purge(100 + 10, 60).await.expect("purge"), 0);
        assert_eq!(mem.purge(100 + 61, 60).await.expect("purge"), 1);
        assert!(mem.load(&key).expect("load").is_none());
        mem.save(&s).await.expect("save");
        assert!(mem.forget(&key).await.expect("forget").is_some());
        assert!(mem.load(&key).expect("load").is_none());
    }
}
