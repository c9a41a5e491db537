//! The SM3 digests still to be computed. Ingest records an instance with
//! its SHA-256 and leaves `instances.sm3` empty; the archive's digester
//! reads the object back, computes SM3 off the acknowledgement path and
//! records it here. The empty column is the queue: it survives a crash,
//! and a partial index finds it without a scan.

use crate::{Index, Result};

/// An instance whose SM3 is still to be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDigest {
    /// The row's key (0 when handed over by ingest rather than found).
    pub id: i64,
    pub sop_instance_uid: String,
    pub study_instance_uid: String,
    pub object_key: String,
    /// The SHA-256 the index records (hex): the object read back must
    /// still have it.
    pub sha256: String,
}

impl Index {
    /// Up to `limit` instances without an SM3 whose row key is above
    /// `after_id`, received before `received_before_ms`, in key order (a
    /// sweep walks on from the last key it saw, so rows it cannot digest do
    /// not hold it up).
    pub async fn pending_digests(&self, after_id: i64, received_before_ms: i64, limit: i64) -> Result<Vec<PendingDigest>> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT i.id, i.sop_instance_uid, st.study_instance_uid, i.object_key, i.digest
             FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk
             WHERE i.sm3 IS NULL AND i.id > $1 AND i.received_at_ms < $2 ORDER BY i.id LIMIT $3",
        )
        .bind(after_id)
        .bind(received_before_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, sop_instance_uid, study_instance_uid, object_key, sha256)| PendingDigest {
                id,
                sop_instance_uid,
                study_instance_uid,
                object_key,
                sha256,
            })
            .collect())
    }

    /// Record the SM3 of instances (SOP Instance UID, object key, SM3 hex)
    /// in one transaction. A row is set only while it still names that
    /// object and has no SM3 (a replaced instance, or one another node
    /// digested first, is left alone); returns, per entry, whether it was.
    pub async fn record_digests(&self, digests: &[(String, String, String)]) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let mut set = Vec::with_capacity(digests.len());
        for (sop, key, sm3) in digests {
            let done = sqlx::query("UPDATE instances SET sm3 = $3 WHERE sop_instance_uid = $1 AND object_key = $2 AND sm3 IS NULL")
                .bind(sop)
                .bind(key)
                .bind(sm3)
                .execute(&mut *tx)
                .await?;
            set.push(done.rows_affected() > 0);
        }
        tx.commit().await?;
        Ok(set)
    }
}
