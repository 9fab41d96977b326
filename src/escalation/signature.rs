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

/// Sliding-window counts in the store ([`crate::store::SignatureCounts`]): one bounded record
/// per target and signature, so a turn's cost does not grow with history.
#[derive(Clone)]
pub struct Signatures {
    store: crate::store::Store,
}

impl Signatures {
    /// The signature counts of `store`.
    pub fn open(store: &crate::store::Store) -> Self {
        Signatures {
            store: store.clone(),
        }
    }

    /// Records one occurrence and returns the counts within `window_ms` up to `now_ms`.
    ///
    /// # Errors
    /// [`crate::store::StoreError`] when the store fails.
    pub async fn record(
        &self,
        target: &str,
        message: &str,
        thread: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Recurrence, crate::store::StoreError> {
        let sig = signature(message);
        self.store
            .record_signature(target, &sig, thread, now_ms, window_ms)
            .await
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

    #[tokio::test]
    async fn counts_within_the_window() {
        let dir = tempfile::tempdir().expect("tmp");
        let store: crate::store::Store =
            std::sync::Arc::new(crate::store::sled::SledStore::open(dir.path(), 8).expect("sled"));
        let s = Signatures::open(&store);
        let day = 24 * 3600 * 1000;
        s.record("t", "ERROR 1205 lock wait on row 1", "a", 1_000, day)
            .await
            .expect("r");
        s.record("t", "ERROR 1205 lock wait on row 2", "b", 2_000, day)
            .await
            .expect("r");
        let r = s
            .record("t", "ERROR 1205 lock wait on row 3", "b", 3_000, day)
            .await
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
            .await
            .expect("r");
        assert_eq!(r.count, 3, "the first one left the window");
    }
}
