//! Escalation cases and their store ([`crate::store::Cases`]): monotonic ids, compare-and-set
//! updates on `version`, indexed lookups by thread and by reminder due time.

use crate::store::{Store, StoreError};
use dbabot_chat::{Destination, Severity, ThreadKey};
use serde::{Deserialize, Serialize};

/// Lifecycle: open → acknowledged → resolved, or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    Open,
    Acknowledged,
    Resolved,
    Cancelled,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Acknowledged => "acknowledged",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, CaseStatus::Resolved | CaseStatus::Cancelled)
    }
}

/// Everything a DBA needs to pick a thread up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// `CASE-0001`.
    pub id: String,
    pub status: CaseStatus,
    /// `P1` … `P4`.
    pub priority: String,
    /// Why it was escalated (`requested`, `critical finding on production`, …).
    pub trigger: String,
    pub requester_id: String,
    pub requester_name: String,
    pub source: ThreadKey,
    #[serde(default)]
    pub source_link: Option<String>,
    pub target: Option<String>,
    pub engine: Option<String>,
    pub environment: Option<String>,
    pub cloud: Option<String>,
    /// The user's own words (last few messages, redacted).
    pub user_words: Vec<String>,
    /// `check: status` for the diagnostics run in the thread.
    pub diagnostics: Vec<String>,
    /// Key findings, worst first.
    pub findings: Vec<String>,
    pub worst: Option<Severity>,
    /// Recommendations already given in the thread.
    pub recommendations: Vec<String>,
    /// What the user said they tried (the escalation note).
    pub tried: Vec<String>,
    /// One paragraph a DBA can read in 20 seconds.
    pub summary: String,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<u64>,
    pub resolution: Option<String>,
    pub resolved_at: Option<u64>,
    /// Unix seconds of the next reminder while unacknowledged.
    pub next_reminder_at: Option<u64>,
    pub reminders_sent: u32,
    /// Where the handoff was posted (None when no destination is configured).
    pub posted_to: Option<Destination>,
    /// Store version for compare-and-set updates (1 when created; 0 in records written before
    /// versions existed).
    #[serde(default)]
    pub version: u64,
}

/// The case store. Cheap to clone.
#[derive(Clone)]
pub struct CaseStore {
    store: Store,
}

impl CaseStore {
    /// The cases of `store`.
    pub fn open(store: &Store) -> Self {
        CaseStore {
            store: store.clone(),
        }
    }

    /// The next id, `CASE-0001` upwards, without gaps across restarts.
    ///
    /// # Errors
    /// [`StoreError`] when the counter cannot be written.
    pub async fn next_id(&self) -> Result<String, StoreError> {
        let n = self.store.next_case_number().await?;
        Ok(format!("CASE-{n:04}"))
    }

    /// Stores a new case (version 1); returns it as stored.
    ///
    /// # Errors
    /// [`StoreError`] when it cannot be written.
    pub async fn insert(&self, c: &Case) -> Result<Case, StoreError> {
        self.store.insert_case(c).await
    }

    /// Compare-and-set: stores `c` only if nobody changed it since it was read (its `version`).
    /// `Ok(None)` means another writer won; re-read and decide again.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn replace(&self, c: &Case) -> Result<Option<Case>, StoreError> {
        self.store.replace_case(c).await
    }

    /// The case (`case-3`, `3`, `CASE-0003` all work); `None` also when the store fails (logged).
    pub async fn get(&self, id: &str) -> Option<Case> {
        let id = normalize_id(id);
        match self.store.get_case(&id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read case");
                None
            }
        }
    }

    /// All cases, oldest first; `status` filters. Empty when the store fails (logged).
    pub async fn list(&self, status: Option<CaseStatus>) -> Vec<Case> {
        match self.store.list_cases(status).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list cases");
                Vec::new()
            }
        }
    }

    /// The open or acknowledged case of a thread, if any (an index lookup).
    pub async fn open_for_thread(&self, key: &ThreadKey) -> Option<Case> {
        match self.store.open_case_for_thread(&key.to_string()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the thread's case");
                None
            }
        }
    }

    /// Claims the reminders due at `now` (see [`crate::store::Cases::claim_due_reminders`]).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn claim_due(
        &self,
        now: u64,
        sla: crate::store::Sla,
    ) -> Result<Vec<Case>, StoreError> {
        self.store.claim_due_reminders(now, sla).await
    }

    /// Deletes closed cases last updated before `cutoff` (unix seconds); returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn purge_closed(&self, cutoff: u64) -> Result<usize, StoreError> {
        self.store.purge_closed_cases(cutoff).await
    }
}

/// `case-3`, `3`, `CASE-0003` → `CASE-0003`.
pub fn normalize_id(id: &str) -> String {
    let digits: String = id.chars().filter(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u64>() {
        Ok(n) => format!("CASE-{n:04}"),
        Err(_) => id.to_uppercase(),
    }
}
