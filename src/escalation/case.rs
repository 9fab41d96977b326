//! Escalation cases and their sled store.

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
}

/// Cases in sled: `cases` tree (id → JSON) and a counter for ids.
#[derive(Clone)]
pub struct CaseStore {
    tree: sled::Tree,
    db: sled::Db,
}

impl CaseStore {
    /// # Errors
    /// sled errors.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(CaseStore {
            tree: db.open_tree("cases")?,
            db: db.clone(),
        })
    }

    /// The next id, `CASE-0001` upwards.
    ///
    /// # Errors
    /// sled errors.
    pub fn next_id(&self) -> Result<String, sled::Error> {
        let n = self.db.generate_id()? + 1;
        Ok(format!("CASE-{n:04}"))
    }

    /// Stores a case and flushes.
    ///
    /// # Errors
    /// sled or JSON errors, as strings.
    pub async fn save(&self, c: &Case) -> Result<(), String> {
        let bytes = serde_json::to_vec(c).map_err(|e| e.to_string())?;
        self.tree
            .insert(c.id.as_bytes(), bytes)
            .map_err(|e| e.to_string())?;
        crate::flush::flush(&self.db)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Case> {
        let id = normalize_id(id);
        self.tree
            .get(id.as_bytes())
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice(&v).ok())
    }

    /// All cases, oldest first; `status` filters.
    pub fn list(&self, status: Option<CaseStatus>) -> Vec<Case> {
        let mut v: Vec<Case> = self
            .tree
            .iter()
            .filter_map(|i| i.ok())
            .filter_map(|(_, v)| serde_json::from_slice::<Case>(&v).ok())
            .filter(|c| status.is_none_or(|s| c.status == s))
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v
    }

    /// The open or acknowledged case of a thread, if any.
    pub fn open_for_thread(&self, key: &ThreadKey) -> Option<Case> {
        self.list(None)
            .into_iter()
            .find(|c| &c.source == key && !c.status.is_closed())
    }

    /// Deletes closed cases last updated before `cutoff` (unix seconds); returns how many.
    pub fn purge_closed(&self, cutoff: u64) -> usize {
        let mut n = 0;
        for c in self.list(None) {
            if c.status.is_closed()
                && c.updated_at < cutoff
                && self.tree.remove(c.id.as_bytes()).is_ok()
            {
                n += 1;
            }
        }
        n
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
