//! The PostgreSQL backend: one store shared by several `dbabot serve` replicas.
//!
//! Schema: `migrations/` (applied with `sqlx::migrate!` on connect; sqlx takes an advisory lock
//! while migrating, so replicas starting together apply it once). How each race is settled:
//!
//! | what | statement |
//! |---|---|
//! | thread memory | optimistic version: `UPDATE threads … WHERE key = $1 AND version = $2` |
//! | case take / ack / resolve | `UPDATE cases … WHERE id = $1 AND version = $2` (the version moves on every change, so it subsumes `WHERE status = …`) |
//! | reminders | `SELECT … WHERE status = 'open' AND next_reminder_at <= $1 … FOR UPDATE SKIP LOCKED`, bumped in the same transaction |
//! | case numbers | `INSERT INTO counters … ON CONFLICT DO UPDATE SET value = value + 1 RETURNING value` |
//! | delivery dedupe | `INSERT INTO dedupe … ON CONFLICT DO UPDATE … WHERE expires_at <= now` (nothing returned = seen) |
//! | audit chain | appended in a transaction holding `pg_advisory_xact_lock`, head row updated with it |
//! | scheduled jobs | `INSERT INTO claims … ON CONFLICT DO NOTHING` |
//! | error signatures | one row per occurrence (no hot row); counted over the newest `MAX_OCCURRENCES` through an index |
//!
//! Every write is committed before the call returns (durability per turn).

use super::{
    AuditBuilder, AuditHead, AuditLog, Backend, Cases, Claims, Dedupe, Dump, SignatureCounts, Sla,
    StoreError, Threads, Versioned, MAX_OCCURRENCES, REMINDERS_PER_CLAIM,
};
use crate::audit::AuditRecord;
use crate::escalation::signature::Recurrence;
use crate::escalation::{Case, CaseStatus};
use crate::memory::ThreadState;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use std::time::Duration;

/// The advisory-lock key the audit chain is appended under ("dbaaudit" in ASCII).
const AUDIT_LOCK: i64 = 0x6462_6161_7564_6974;

/// How long connecting may take before the store is reported unavailable. Local choice, the
/// same order as `limits.connect_timeout_ms`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Backend(crate::redact::redact(&e.to_string()))
}

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PgStore {
    /// Connects with a pool of `pool_size` and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the server cannot be reached or the migrations fail (the DSN
    /// is never part of the message).
    pub async fn connect(dsn: &str, pool_size: u32) -> Result<Self, StoreError> {
        let open = |reason: String| StoreError::Open {
            path: "postgres store".into(),
            reason: crate::redact::redact(&reason),
        };
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(dsn)
            .await
            .map_err(|e| open(e.to_string()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| open(format!("migrations: {e}")))?;
        Ok(PgStore { pool })
    }

    /// The pool (tests and forensics).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn put_case_tx(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        c: &Case,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cases (id, version, status, thread, created_at, updated_at, next_reminder_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
               thread = EXCLUDED.thread, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
               next_reminder_at = EXCLUDED.next_reminder_at, body = EXCLUDED.body",
        )
        .bind(&c.id)
        .bind(i(c.version))
        .bind(c.status.as_str())
        .bind(c.source.to_string())
        .bind(i(c.created_at))
        .bind(i(c.updated_at))
        .bind(c.next_reminder_at.map(i))
        .bind(serde_json::to_string(c)?)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Runs a `DELETE … WHERE column < $1`-style statement; returns how many rows went.
    async fn delete_before(&self, sql: &'static str, bound: u64) -> Result<usize, StoreError> {
        let r = sqlx::query(sql)
            .bind(i(bound))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() as usize)
    }

    /// Inserts an audit record and moves the head to it, inside `tx`.
    async fn put_audit_tx(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        rec: &AuditRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit (seq, time_ms, record) VALUES ($1, $2, $3)")
            .bind(i(rec.seq))
            .bind(i(rec.time_ms))
            .bind(serde_json::to_string(rec)?)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn put_head_tx(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        seq: u64,
        hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
        )
        .bind(i(seq))
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    fn decode_case(body: &str, version: i64) -> Result<Case, StoreError> {
        let mut c: Case = serde_json::from_str(body)?;
        c.version = u(version);
        Ok(c)
    }
}

#[async_trait]
impl Threads for PgStore {
    async fn load_thread(&self, key: &str) -> Result<Option<Versioned<ThreadState>>, StoreError> {
        let row = sqlx::query("SELECT version, state FROM threads WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(Versioned {
                version: u(r.get::<i64, _>(0)),
                value: serde_json::from_str(r.get::<&str, _>(1))?,
            })),
            None => Ok(None),
        }
    }

    async fn save_thread(
        &self,
        state: &ThreadState,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let json = serde_json::to_string(state)?;
        let at = i(state.updated_at);
        let row = match expected {
            None => sqlx::query(
                "INSERT INTO threads (key, version, updated_at, state) VALUES ($1, 1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET version = threads.version + 1,
                   updated_at = EXCLUDED.updated_at, state = EXCLUDED.state
                 RETURNING version",
            )
            .bind(&state.key)
            .bind(at)
            .bind(&json)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?,
            Some(0) => sqlx::query(
                "INSERT INTO threads (key, version, updated_at, state) VALUES ($1, 1, $2, $3)
                 ON CONFLICT (key) DO NOTHING RETURNING version",
            )
            .bind(&state.key)
            .bind(at)
            .bind(&json)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?,
            Some(v) => sqlx::query(
                "UPDATE threads SET version = version + 1, updated_at = $2, state = $3
                 WHERE key = $1 AND version = $4 RETURNING version",
            )
            .bind(&state.key)
            .bind(at)
            .bind(&json)
            .bind(i(v))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?,
        };
        match row {
            Some(r) => Ok(u(r.get::<i64, _>(0))),
            None => {
                let found =
                    sqlx::query_scalar::<_, i64>("SELECT version FROM threads WHERE key = $1")
                        .bind(&state.key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(u)
                        .unwrap_or(0);
                Err(StoreError::Conflict {
                    expected: expected.unwrap_or(0),
                    found,
                })
            }
        }
    }

    async fn delete_thread(&self, key: &str) -> Result<Option<ThreadState>, StoreError> {
        let row =
            sqlx::query_scalar::<_, String>("DELETE FROM threads WHERE key = $1 RETURNING state")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.and_then(|s| serde_json::from_str(&s).ok()))
    }

    async fn purge_threads(&self, cutoff: u64) -> Result<usize, StoreError> {
        self.delete_before("DELETE FROM threads WHERE updated_at < $1", cutoff)
            .await
    }

    async fn thread_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM threads")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u(n) as usize)
    }
}

#[async_trait]
impl Cases for PgStore {
    async fn next_case_number(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ('case_seq', 1)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(u(n))
    }

    async fn insert_case(&self, case: &Case) -> Result<Case, StoreError> {
        let mut c = case.clone();
        c.version = 1;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        Self::put_case_tx(&mut tx, &c).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(c)
    }

    async fn get_case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query("SELECT body, version FROM cases WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| Self::decode_case(r.get::<&str, _>(0), r.get::<i64, _>(1)))
            .transpose()
    }

    async fn list_cases(&self, status: Option<CaseStatus>) -> Result<Vec<Case>, StoreError> {
        let rows = sqlx::query(
            "SELECT body, version FROM cases WHERE ($1::text IS NULL OR status = $1)
             ORDER BY created_at, id",
        )
        .bind(status.map(|s| s.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Self::decode_case(r.get::<&str, _>(0), r.get::<i64, _>(1)))
            .collect()
    }

    async fn open_case_for_thread(&self, thread: &str) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query(
            "SELECT body, version FROM cases WHERE thread = $1 AND status IN ('open', 'acknowledged')
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(thread)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| Self::decode_case(r.get::<&str, _>(0), r.get::<i64, _>(1)))
            .transpose()
    }

    async fn replace_case(&self, case: &Case) -> Result<Option<Case>, StoreError> {
        let mut c = case.clone();
        c.version = case.version + 1;
        let n = sqlx::query(
            "UPDATE cases SET version = $3, status = $4, updated_at = $5, next_reminder_at = $6, body = $7
             WHERE id = $1 AND version = $2",
        )
        .bind(&c.id)
        .bind(i(case.version))
        .bind(i(c.version))
        .bind(c.status.as_str())
        .bind(i(c.updated_at))
        .bind(c.next_reminder_at.map(i))
        .bind(serde_json::to_string(&c)?)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok((n == 1).then_some(c))
    }

    async fn claim_due_reminders(&self, now: u64, sla: Sla) -> Result<Vec<Case>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT body, version FROM cases WHERE status = 'open' AND next_reminder_at <= $1
             ORDER BY next_reminder_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(i(now))
        .bind(REMINDERS_PER_CLAIM as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut out = Vec::new();
        for r in rows {
            let mut c = Self::decode_case(r.get::<&str, _>(0), r.get::<i64, _>(1))?;
            c.reminders_sent += 1;
            c.next_reminder_at = Some(now + sla(&c.priority));
            c.updated_at = now;
            c.version += 1;
            Self::put_case_tx(&mut tx, &c).await?;
            out.push(c);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn purge_closed_cases(&self, cutoff: u64) -> Result<usize, StoreError> {
        self.delete_before(
            "DELETE FROM cases WHERE status IN ('resolved', 'cancelled') AND updated_at < $1",
            cutoff,
        )
        .await
    }
}

#[async_trait]
impl AuditLog for PgStore {
    async fn append_audit(&self, build: AuditBuilder) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let (seq, prev) = match head {
            Some(r) => (u(r.get::<i64, _>(0)) + 1, r.get::<String, _>(1)),
            None => (1, String::new()),
        };
        let rec = build(seq, &prev)?;
        Self::put_audit_tx(&mut tx, &rec).await?;
        Self::put_head_tx(&mut tx, rec.seq, &rec.hash).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(rec)
    }

    async fn audit_records(
        &self,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM audit WHERE ($1::bigint IS NULL OR time_ms >= $1)
               AND ($2::bigint IS NULL OR time_ms <= $2) ORDER BY seq",
        )
        .bind(since_ms.map(i))
        .bind(until_ms.map(i))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| serde_json::from_str(r).map_err(StoreError::from))
            .collect()
    }

    async fn audit_raw(&self) -> Result<Vec<(u64, Result<AuditRecord, String>)>, StoreError> {
        let rows = sqlx::query("SELECT seq, record FROM audit ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    u(r.get::<i64, _>(0)),
                    serde_json::from_str::<AuditRecord>(r.get::<&str, _>(1))
                        .map_err(|e| e.to_string()),
                )
            })
            .collect())
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| AuditHead {
            seq: u(r.get::<i64, _>(0)),
            hash: r.get::<String, _>(1),
        }))
    }
}

#[async_trait]
impl Dedupe for PgStore {
    async fn first_delivery(&self, key: &str, now: u64, ttl_secs: u64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "INSERT INTO dedupe (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
               WHERE dedupe.expires_at <= $3
             RETURNING key",
        )
        .bind(key)
        .bind(i(now.saturating_add(ttl_secs)))
        .bind(i(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn purge_dedupe(&self, now: u64) -> Result<usize, StoreError> {
        self.delete_before("DELETE FROM dedupe WHERE expires_at <= $1", now)
            .await
    }
}

#[async_trait]
impl SignatureCounts for PgStore {
    async fn record_signature(
        &self,
        target: &str,
        signature: &str,
        thread: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Recurrence, StoreError> {
        let key = format!("{target}/{signature}");
        sqlx::query("INSERT INTO signature_seen (key, at_ms, thread) VALUES ($1, $2, $3)")
            .bind(&key)
            .bind(i(now_ms))
            .bind(thread)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let row = sqlx::query(
            "SELECT count(*), count(DISTINCT thread) FROM (
               SELECT thread FROM signature_seen WHERE key = $1 AND at_ms >= $2
               ORDER BY at_ms DESC LIMIT $3) newest",
        )
        .bind(&key)
        .bind(i(now_ms.saturating_sub(window_ms)))
        .bind(MAX_OCCURRENCES as i64)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Recurrence {
            count: u(row.get::<i64, _>(0)) as usize,
            threads: u(row.get::<i64, _>(1)) as usize,
        })
    }

    async fn purge_signatures(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        self.delete_before("DELETE FROM signature_seen WHERE at_ms < $1", cutoff_ms)
            .await
    }
}

#[async_trait]
impl Claims for PgStore {
    async fn claim(&self, job: &str, slot: u64, owner: &str) -> Result<bool, StoreError> {
        let won = sqlx::query(
            "INSERT INTO claims (job, slot, owner) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(i(slot))
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if won {
            sqlx::query("DELETE FROM claims WHERE job = $1 AND slot < $2")
                .bind(job)
                .bind(i(slot.saturating_sub(1000)))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(won)
    }
}

#[async_trait]
impl Backend for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn probe(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO health (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
        )
        .bind(i(super::unix_now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every write is committed when its call returns.
        Ok(())
    }

    async fn dump(&self) -> Result<Dump, StoreError> {
        let states: Vec<String> = sqlx::query_scalar("SELECT state FROM threads ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let threads = states
            .iter()
            .map(|s| serde_json::from_str(s).map_err(StoreError::from))
            .collect::<Result<_, _>>()?;
        let case_seq: Option<i64> =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'case_seq'")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(Dump {
            threads,
            cases: self.list_cases(None).await?,
            audit: self.audit_records(None, None).await?,
            audit_head: self.audit_head().await?,
            case_seq: case_seq.map(u).unwrap_or(0),
        })
    }

    async fn restore(&self, dump: Dump) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for s in &dump.threads {
            sqlx::query(
                "INSERT INTO threads (key, version, updated_at, state) VALUES ($1, 1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
            )
            .bind(&s.key)
            .bind(i(s.updated_at))
            .bind(serde_json::to_string(s)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for c in &dump.cases {
            let mut c = c.clone();
            c.version = c.version.max(1);
            Self::put_case_tx(&mut tx, &c).await?;
        }
        for r in &dump.audit {
            Self::put_audit_tx(&mut tx, r).await?;
        }
        if let Some(h) = &dump.audit_head {
            Self::put_head_tx(&mut tx, h.seq, &h.hash).await?;
        }
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ('case_seq', $1)
             ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)",
        )
        .bind(i(dump.case_seq))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
