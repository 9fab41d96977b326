//! Error signatures: the same error, normalised, counted per target over a sliding window.
//!
//! Normalisation: numbers → `N`, quoted literals → `V`, whitespace collapsed, case folded;
//! identifiers are kept (so "relation orders" and "relation events" stay different).

use regex::Regex;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"'[^']*'|"[^"]*""#).expect("static regex"));
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(\.\d+)?\b").expect("static regex"));

/// The normalised form of an error message.
pub fn normalize(message: &str) -> String {
    let s = QUOTED.replace_all(message, "V");
    let s = NUMBER.replace_all(&s, "N");
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A short stable hash of the normalised message (16 hex characters of SHA-256).
pub fn signature(message: &str) -> String {
    let h = Sha256::digest(normalize(message).as_bytes());
    hex::encode(&h[..8])
}

/// Occurrences of a signature: how many and in how many threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    pub count: usize,
    pub threads: usize,
}

/// Sliding-window counts in sled (`signatures` tree: `target \0 sig \0 time_ms \0 thread`).
pub struct Signatures {
    tree: sled::Tree,
}

impl Signatures {
    /// # Errors
    /// sled errors.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Signatures {
            tree: db.open_tree("signatures")?,
        })
    }

    /// Records one occurrence and returns the counts within `window_ms` up to `now_ms`.
    ///
    /// # Errors
    /// sled errors.
    pub fn record(
        &self,
        target: &str,
        message: &str,
        thread: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Recurrence, sled::Error> {
        let sig = signature(message);
        let prefix = format!("{target}\0{sig}\0");
        self.tree
            .insert(format!("{prefix}{now_ms:020}\0{thread}").as_bytes(), &[])?;
        let since = now_ms.saturating_sub(window_ms);
        let mut count = 0;
        let mut threads = std::collections::BTreeSet::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, _) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let mut parts = key.rsplitn(3, '\0');
            let thread = parts.next().unwrap_or("").to_string();
            let time: u64 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            if time < since {
                // Outside the window: drop it so the tree does not grow forever.
                self.tree.remove(&k)?;
                continue;
            }
            count += 1;
            threads.insert(thread);
        }
        Ok(Recurrence {
            count,
            threads: threads.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_numbers_and_literals_but_keeps_identifiers() {
        assert_eq!(
            normalize("ERROR 1205 (HY000): Lock wait timeout exceeded on 'orders' after 50.5 s"),
            "error n (hy000): lock wait timeout exceeded on v after n s"
        );
        assert_eq!(
            signature("deadlock on relation orders pid 1"),
            signature("deadlock  on relation orders pid 2")
        );
        assert_ne!(
            signature("deadlock on relation orders"),
            signature("deadlock on relation events")
        );
    }

    #[test]
    fn counts_within_the_window() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Signatures::open(&sled::open(dir.path()).expect("sled")).expect("open");
        let day = 24 * 3600 * 1000;
        s.record("t", "ERROR 1205 lock wait on row 1", "a", 1_000, day)
            .expect("r");
        s.record("t", "ERROR 1205 lock wait on row 2", "b", 2_000, day)
            .expect("r");
        let r = s
            .record("t", "ERROR 1205 lock wait on row 3", "b", 3_000, day)
            .expect("r");
        assert_eq!(
            r,
            Recurrence {
                count: 3,
                threads: 2
            }
        );
        let r = s
            .record(
                "t",
                "ERROR 1205 lock wait on row 4",
                "c",
                1_000 + day + 1,
                day,
            )
            .expect("r");
        assert_eq!(r.count, 3, "the first one left the window");
    }
}
