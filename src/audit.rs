//! The audit trail: every diagnostic run, EXPLAIN, denial, escalation action and forget,
//! appended to the store's audit log ([`crate::store::AuditLog`]) and chained by hash so
//! tampering is detectable.
//!
//! The store also keeps an anchored head (the last record's sequence number and hash, written
//! atomically with each record but apart from the records), so removing records from the end
//! of the log — which leaves a perfectly linked shorter chain — is reported by
//! [`Audit::verify`] too. Someone who can rewrite the store can rewrite the head as well: for
//! that threat, keep the head printed by `dbabot audit verify` somewhere else (a ticket, a
//! log shipper) and compare.
//!
//! Each record carries `prev_hash` (the previous record's `hash`) and `hash` =
//! SHA-256(`prev_hash` + the record's canonical JSON without `hash`). Records hold no secrets and
//! no result rows — only counts. Because a chained record can never be scrubbed later, every
//! field is sanitised in [`Audit::append`] before it is hashed: `check` (a check name or a short
//! reason) through [`crate::redact::audit_field`] — no secrets, no quoted text or long numbers,
//! no token a parser quoted, at most 160 characters — and the identifier fields through
//! [`crate::redact::audit_id`].

use crate::redact::{audit_field, audit_id};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Audit storage errors.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit storage error: {0}")]
    Storage(#[from] StoreError),
    #[error("audit record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("audit export failed: {0}")]
    Export(String),
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub platform: String,
    pub user: String,
    pub thread: String,
    pub target: String,
    /// `diagnostic`, `explain`, `denial`, `escalation`, `case_ack`, `case_resolve`, `case_ask`, `forget`.
    pub action: String,
    /// Check name, or what was denied/refused and why (sanitised, at most 160 characters).
    pub check: String,
    pub duration_ms: u64,
    /// Rows read (never the rows themselves).
    pub rows: u64,
    /// `ok`, `failed`, `timeout`, `unavailable`, `refused`, `denied`, or a case id.
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What a caller fills in; sequence, time and hashes are added by [`Audit::append`].
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub platform: String,
    pub user: String,
    pub thread: String,
    pub target: String,
    pub action: String,
    pub check: String,
    pub duration_ms: u64,
    pub rows: u64,
    pub outcome: String,
}

/// Result of [`Audit::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every record's hash and link checks out.
    Intact { records: u64 },
    /// The first record whose hash or link does not match.
    Broken { seq: u64, reason: String },
}

/// The append-only, hash-chained log. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Store,
}

fn digest(prev: &str, rec: &AuditRecord) -> Result<String, serde_json::Error> {
    let mut unsigned = rec.clone();
    unsigned.hash.clear();
    let body = serde_json::to_vec(&unsigned)?;
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(&body);
    Ok(hex::encode(h.finalize()))
}

impl Audit {
    /// The audit log of `store`.
    pub fn open(store: &Store) -> Self {
        Audit {
            store: store.clone(),
        }
    }

    /// Appends a record (durable before returning; one append at a time per store).
    ///
    /// # Errors
    /// [`AuditError`] when it cannot be written.
    pub async fn append(&self, e: Entry, now_ms: u64) -> Result<AuditRecord, AuditError> {
        let build = move |seq: u64, prev: &str| -> Result<AuditRecord, serde_json::Error> {
            let mut rec = AuditRecord {
                seq,
                time_ms: now_ms,
                platform: audit_id(&e.platform),
                user: audit_id(&e.user),
                thread: audit_id(&e.thread),
                target: audit_id(&e.target),
                action: audit_id(&e.action),
                check: audit_field(&e.check),
                duration_ms: e.duration_ms,
                rows: e.rows,
                outcome: audit_field(&e.outcome),
                prev_hash: prev.to_string(),
                hash: String::new(),
            };
            rec.hash = digest(&rec.prev_hash, &rec)?;
            Ok(rec)
        };
        Ok(self.store.append_audit(Box::new(build)).await?)
    }

    /// All records in order (optionally within a time range in ms).
    ///
    /// # Errors
    /// [`AuditError`] on storage or decoding failure.
    pub async fn records(
        &self,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        Ok(self.store.audit_records(since_ms, until_ms).await?)
    }

    /// Recomputes every hash and link, and checks the last record against the anchored head.
    ///
    /// # Errors
    /// [`AuditError`] when storage fails (a tampered record is a [`Verification::Broken`]).
    pub async fn verify(&self) -> Result<Verification, AuditError> {
        let raw = self.store.audit_raw().await?;
        let head = self.store.audit_head().await?;
        let mut prev = String::new();
        let mut n = 0;
        let mut last_seq = 0;
        for (seq, r) in raw {
            let Ok(r) = r else {
                return Ok(Verification::Broken {
                    seq,
                    reason: "record is not valid JSON".into(),
                });
            };
            if r.prev_hash != prev || r.seq != last_seq + 1 {
                return Ok(Verification::Broken { seq: r.seq, reason: "link to the previous record does not match (a record was removed or reordered)".into() });
            }
            if digest(&prev, &r)? != r.hash {
                return Ok(Verification::Broken {
                    seq: r.seq,
                    reason: "content does not match its hash (the record was modified)".into(),
                });
            }
            prev = r.hash;
            last_seq = r.seq;
            n += 1;
        }
        match head {
            Some(h) if h.seq != last_seq || h.hash != prev => Ok(Verification::Broken {
                seq: last_seq + 1,
                reason: format!(
                    "the log ends at record {last_seq} but its anchored head is record {} (records were removed from the end)",
                    h.seq
                ),
            }),
            None if n > 0 => Ok(Verification::Broken {
                seq: 1,
                reason: "the log has records but no anchored head".into(),
            }),
            _ => Ok(Verification::Intact { records: n }),
        }
    }

    /// Writes records as CSV or JSON lines.
    ///
    /// # Errors
    /// [`AuditError::Export`] for an unknown format or a write failure.
    pub fn export(
        &self,
        records: &[AuditRecord],
        format: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), AuditError> {
        let werr = |e: std::io::Error| AuditError::Export(e.to_string());
        match format {
            "jsonl" => {
                for r in records {
                    serde_json::to_writer(&mut *out, r)?;
                    out.write_all(b"\n").map_err(werr)?;
                }
            }
            "csv" => {
                let mut w = csv::Writer::from_writer(out);
                for r in records {
                    w.serialize(r)
                        .map_err(|e| AuditError::Export(e.to_string()))?;
                }
                w.flush().map_err(werr)?;
            }
            other => {
                return Err(AuditError::Export(format!(
                    "unknown format `{other}` (csv or jsonl)"
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chain_verifies_and_detects_tampering() {
        let dir = tempfile::tempdir().expect("tmp");
        let store: Store =
            std::sync::Arc::new(crate::store::sled::SledStore::open(dir.path(), 8).expect("sled"));
        let a = Audit::open(&store);
        for i in 0..3 {
            a.append(
                Entry {
                    action: "diagnostic".into(),
                    check: format!("c{i}"),
                    outcome: "ok".into(),
                    ..Default::default()
                },
                1000 + i,
            )
            .await
            .expect("append");
        }
        assert_eq!(
            a.verify().await.expect("verify"),
            Verification::Intact { records: 3 }
        );
        let mut out = Vec::new();
        a.export(
            &a.records(Some(1001), None).await.expect("records"),
            "csv",
            &mut out,
        )
        .expect("csv");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text.lines().count(), 3, "{text}");
        // Tamper with record 2.
        let sled = store
            .as_any()
            .downcast_ref::<crate::store::sled::SledStore>()
            .expect("sled");
        sled.forensics_rewrite_audit(2, |r| r["outcome"] = "denied".into())
            .await
            .expect("rewrite");
        assert!(matches!(
            a.verify().await.expect("verify"),
            Verification::Broken { seq: 2, .. }
        ));
    }

    #[tokio::test]
    async fn records_never_hold_literals_or_secrets() {
        let dir = tempfile::tempdir().expect("tmp");
        let store: Store =
            std::sync::Arc::new(crate::store::sled::SledStore::open(dir.path(), 8).expect("sled"));
        let a = Audit::open(&store);
        // What a refusal used to carry into the chain: a parser message quoting the input.
        let reasons = [
            "the SQL does not parse: sql parser error: Expected: end of statement, found: 'Card-4111111111111111' at Line: 1, Column: 40",
            "the SQL does not parse: sql parser error: Expected: ), found: hunter2 at Line: 1, Column: 9",
            "syntax error at or near \"s3cr3t-literal\" password=Pa55w0rd postgres://a:b1b2b3@h/x",
            "it is a DELETE statement; WHERE email = 'dana@example.com' AND pin = 987654",
        ];
        for (i, r) in reasons.iter().enumerate() {
            a.append(
                Entry {
                    action: "explain".into(),
                    check: r.to_string(),
                    outcome: "refused".into(),
                    user: "U1\nforged line".into(),
                    ..Default::default()
                },
                1000 + i as u64,
            )
            .await
            .expect("append");
        }
        let records = a.records(None, None).await.expect("records");
        let all = serde_json::to_string(&records).expect("json");
        for leak in [
            "4111111111111111",
            "hunter2",
            "s3cr3t-literal",
            "Pa55w0rd",
            "b1b2b3",
            "dana@example.com",
            "987654",
            "\\nforged",
        ] {
            assert!(!all.contains(leak), "{leak} entered the audit chain: {all}");
        }
        assert!(records.iter().all(|r| r.check.chars().count() <= 161));
        assert!(
            records[0].check.starts_with("the SQL does not parse"),
            "{}",
            records[0].check
        );
        assert_eq!(
            a.verify().await.expect("verify"),
            Verification::Intact { records: 4 }
        );
    }
}
