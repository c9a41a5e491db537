//! The durable rendition job queue.
//!
//! Inserting an instance with pixels queues its job in the same
//! transaction (`writer.rs`). Workers claim due jobs with a lease: the
//! claim sets `running` and a lease expiry in `not_before_ms`; a job whose
//! lease ran out (its worker died) is due again. On PostgreSQL the claim
//! skips rows another node is claiming (`FOR UPDATE SKIP LOCKED`); SQLite
//! has one writer at a time. Failures back off exponentially; after
//! [`MAX_ATTEMPTS`] the job is parked with its error.
//!
//! A job has two stages: `previews` (thumbnail and previews: what a viewer
//! or a film page shows first) and then `lossless` (the lossless copy).
//! Claims take every due first stage before any second stage, so a burst
//! of ingest gets its thumbnails in arrival order while lossless copies
//! wait for idle time.

use sqlx::AssertSqlSafe;

use crate::schema::Dialect;
use crate::{Index, InstanceData, Result};

/// Attempts before a failing job is parked.
pub const MAX_ATTEMPTS: i64 = 5;

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub instance_pk: i64,
    pub attempts: i64,
    pub enqueued_ms: i64,
    /// [`PREVIEWS`] or [`LOSSLESS`].
    pub stage: String,
    pub instance: InstanceData,
}

/// The first stage of a rendition job: thumbnail and previews.
pub const PREVIEWS: &str = "previews";
/// The second stage: the lossless copy.
pub const LOSSLESS: &str = "lossless";

/// A rendition object of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `thumbnail`, `preview` or `lossless`.
    pub kind: String,
    /// Frame number (1-based) of a preview; 0 otherwise.
    pub frame: i64,
    pub object_key: String,
    pub media_type: String,
    pub size_bytes: i64,
}

/// Jobs by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobCounts {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub parked: i64,
}

/// A job that kept failing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParkedJob {
    pub sop_instance_uid: String,
    pub attempts: i64,
    pub error: String,
    pub finished_ms: i64,
}

impl Index {
    /// Claim up to `n` due jobs for `worker`, leased until `lease_until_ms`.
    pub async fn claim_jobs(&self, worker: &str, n: usize, now_ms: i64, lease_until_ms: i64) -> Result<Vec<Job>> {
        let lock = if self.dialect == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE rendition_jobs SET state = 'running', attempts = attempts + 1, not_before_ms = $1, worker = $2
             WHERE instance_pk IN (SELECT instance_pk FROM rendition_jobs
                 WHERE state IN ('pending', 'running') AND not_before_ms <= $3
                 ORDER BY CASE WHEN stage = 'lossless' THEN 1 ELSE 0 END, enqueued_ms LIMIT {n}{lock})
             RETURNING instance_pk, attempts, enqueued_ms, stage"
        );
        let claimed: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(lease_until_ms).bind(worker).bind(now_ms).fetch_all(&self.pool).await?;
        let pks: Vec<i64> = claimed.iter().map(|c| c.0).collect();
        let data = self.instance_data_by_pk(&pks).await?;
        Ok(claimed
            .into_iter()
            .filter_map(|(pk, attempts, enqueued_ms, stage)| {
                let instance = data.iter().find(|(p, _)| *p == pk)?.1.clone();
                Some(Job { instance_pk: pk, attempts, enqueued_ms, stage, instance })
            })
            .collect())
    }

    /// Record the renditions of a job's stage and mark it done, or queue
    /// its `next` stage, in one transaction; false if the job is no longer
    /// this worker's (its lease was lost). The first stage replaces every
    /// rendition of the instance; the lossless stage its lossless copy.
    pub async fn complete_job(&self, worker: &str, job: &Job, renditions: &[Rendition], next: Option<&str>, now_ms: i64) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        // Done, or due again at once as its next stage with fresh attempts.
        let set = match next {
            None => "state = 'done'",
            Some(_) => "state = 'pending', stage = $5, attempts = 0, not_before_ms = 0",
        };
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE rendition_jobs SET {set}, finished_ms = $3, last_error = ''
             WHERE instance_pk = $1 AND worker = $2 AND state = 'running' AND stage = $4"
        )))
        .bind(job.instance_pk)
        .bind(worker)
        .bind(now_ms)
        .bind(job.stage.as_str());
        let done = match next {
            Some(stage) => done.bind(stage),
            None => done,
        }
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let instance_pk = job.instance_pk;
        let replaced = if job.stage == LOSSLESS {
            "DELETE FROM renditions WHERE instance_pk = $1 AND kind = 'lossless'"
        } else {
            "DELETE FROM renditions WHERE instance_pk = $1"
        };
        sqlx::query(replaced).bind(instance_pk).execute(&mut *tx).await?;
        for r in renditions {
            sqlx::query(
                "INSERT INTO renditions (instance_pk, kind, frame, object_key, media_type, size_bytes) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(instance_pk)
            .bind(r.kind.as_str())
            .bind(r.frame)
            .bind(r.object_key.as_str())
            .bind(r.media_type.as_str())
            .bind(r.size_bytes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Record a failed attempt: retry after `retry_at_ms`, or park the job
    /// after [`MAX_ATTEMPTS`]. Returns true when parked.
    pub async fn fail_job(
        &self,
        worker: &str,
        instance_pk: i64,
        attempts: i64,
        error: &str,
        retry_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let parked = attempts >= MAX_ATTEMPTS;
        sqlx::query(
            "UPDATE rendition_jobs SET state = $3, not_before_ms = $4, last_error = $5, finished_ms = $6
             WHERE instance_pk = $1 AND worker = $2 AND state = 'running'",
        )
        .bind(instance_pk)
        .bind(worker)
        .bind(if parked { "parked" } else { "pending" })
        .bind(retry_at_ms)
        .bind(error)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(parked)
    }

    /// Release the jobs a previous process of this node held (their worker
    /// name starts with `node_prefix`): on start, they are orphans, and
    /// waiting for their leases to expire would only delay them.
    pub async fn release_jobs_of(&self, node_prefix: &str) -> Result<u64> {
        let pattern = node_pattern(node_prefix);
        let done = sqlx::query(
            "UPDATE rendition_jobs SET state = 'pending', not_before_ms = 0 WHERE state = 'running' AND worker LIKE $1 ESCAPE '\\'",
        )
        .bind(pattern)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many jobs the workers of a node (names starting with
    /// `node_prefix`) hold right now.
    pub async fn running_jobs_of(&self, node_prefix: &str) -> Result<i64> {
        let pattern = node_pattern(node_prefix);
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM rendition_jobs WHERE state = 'running' AND worker LIKE $1 ESCAPE '\\'")
            .bind(pattern)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Put parked jobs back in the queue (after a fix); returns how many.
    pub async fn retry_parked_jobs(&self) -> Result<u64> {
        let done = sqlx::query("UPDATE rendition_jobs SET state = 'pending', attempts = 0, not_before_ms = 0 WHERE state = 'parked'")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn parked_jobs(&self, limit: i64) -> Result<Vec<ParkedJob>> {
        let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
            "SELECT i.sop_instance_uid, j.attempts, j.last_error, j.finished_ms FROM rendition_jobs j
             JOIN instances i ON i.id = j.instance_pk WHERE j.state = 'parked' ORDER BY j.finished_ms DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sop_instance_uid, attempts, error, finished_ms)| ParkedJob { sop_instance_uid, attempts, error, finished_ms })
            .collect())
    }

    /// The renditions of an instance, by SOP Instance UID.
    pub async fn renditions_of(&self, sop_instance_uid: &str) -> Result<Vec<Rendition>> {
        let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(
            "SELECT r.kind, CAST(r.frame AS BIGINT), r.object_key, r.media_type, r.size_bytes FROM renditions r
             JOIN instances i ON i.id = r.instance_pk WHERE i.sop_instance_uid = $1 ORDER BY r.kind, r.frame",
        )
        .bind(sop_instance_uid)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, frame, object_key, media_type, size_bytes)| Rendition { kind, frame, object_key, media_type, size_bytes })
            .collect())
    }
}

/// A LIKE pattern (escape `\\`) for worker names starting with `node_prefix`.
fn node_pattern(node_prefix: &str) -> String {
    format!("{}%", node_prefix.replace('%', "").replace('_', "\\_"))
}
