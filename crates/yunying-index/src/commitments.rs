//! Storage commitment requests, kept until their report is acknowledged.
//!
//! A request is written before the N-ACTION is answered with success, so a
//! node that stops (or is killed) before the requester has its
//! N-EVENT-REPORT still owes it one: the row is delivered later, on a new
//! association, by whichever node holds the delivery lease. While the
//! association that asked is open, its row waits (`next_attempt_ms` a hold
//! ahead): the report goes back on that association first.

use crate::{Index, Result};

/// Migration 29.
pub(crate) const COMMITMENT_REQUESTS: &str = r#"
CREATE TABLE commitment_requests (
    id {pk},
    transaction_uid TEXT NOT NULL,
    requester TEXT NOT NULL,
    references_json TEXT NOT NULL,
    received_ms {bigint} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms {bigint} NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX commitment_requests_due ON commitment_requests (next_attempt_ms)
"#;

/// A request whose report is owed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentRequest {
    pub id: i64,
    pub transaction_uid: String,
    /// The calling AE that asked: the report goes to it.
    pub requester: String,
    /// (SOP Class UID, SOP Instance UID) pairs, as asked.
    pub references: Vec<(String, String)>,
    pub received_ms: i64,
    pub attempts: i64,
}

impl Index {
    /// Keep a request; its report is due at `due_ms` unless it is
    /// acknowledged (or released) first. Returns the row's id, or `None`
    /// when `requester` is already owed `max_owed` reports (across its
    /// associations and every node): the rows a requester can make the
    /// archive keep are bounded by what it acknowledges.
    pub async fn commitment_received(
        &self,
        transaction_uid: &str,
        requester: &str,
        references: &[(String, String)],
        now_ms: i64,
        due_ms: i64,
        max_owed: i64,
    ) -> Result<Option<i64>> {
        let references = serde_json::to_string(references).expect("strings serialize");
        // One statement: the count and the insert see the same rows (two
        // nodes inserting at the same instant may each pass at the limit).
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO commitment_requests (transaction_uid, requester, references_json, received_ms, next_attempt_ms)
             SELECT $1, $2, $3, $4, $5
             WHERE (SELECT COUNT(*) FROM commitment_requests WHERE requester = $2) < $6
             RETURNING id",
        )
        .bind(transaction_uid)
        .bind(requester)
        .bind(references)
        .bind(now_ms)
        .bind(due_ms)
        .bind(max_owed)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    /// The requester acknowledged the report (or it was given up): forget it.
    pub async fn commitment_done(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM commitment_requests WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// The association ended without an acknowledgement: deliver from
    /// `now_ms` on.
    pub async fn commitment_release(&self, id: i64, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE commitment_requests SET next_attempt_ms = $1 WHERE id = $2").bind(now_ms).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Requests whose report is due at `now_ms`, oldest first, at most `limit`.
    pub async fn commitments_due(&self, now_ms: i64, limit: i64) -> Result<Vec<CommitmentRequest>> {
        let rows: Vec<(i64, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, transaction_uid, requester, references_json, received_ms, attempts FROM commitment_requests
             WHERE next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, transaction_uid, requester, references, received_ms, attempts)| CommitmentRequest {
                id,
                transaction_uid,
                requester,
                // Written by `commitment_received` only.
                references: serde_json::from_str(&references).unwrap_or_default(),
                received_ms,
                attempts,
            })
            .collect())
    }

    /// A delivery failed: try again at `next_ms`.
    pub async fn commitment_failed(&self, id: i64, next_ms: i64, error: &str) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        sqlx::query("UPDATE commitment_requests SET attempts = attempts + 1, next_attempt_ms = $1, last_error = $2 WHERE id = $3")
            .bind(next_ms)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many reports are owed (`yunying_commitment_reports_owed` in `/metrics`).
    pub async fn commitments_owed(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM commitment_requests").fetch_one(&self.pool).await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::Index;

    #[tokio::test]
    async fn a_request_is_owed_until_done_and_waits_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
        let refs = vec![("1.2.840.10008.5.1.4.1.1.2".to_string(), "1.2.3".to_string())];
        let held = index.commitment_received("9.9.1", "MODALITY", &refs, 1_000, 301_000, 100).await.unwrap().unwrap();
        let released = index.commitment_received("9.9.2", "MODALITY", &refs, 1_000, 301_000, 100).await.unwrap().unwrap();
        assert!(index.commitments_due(2_000, 10).await.unwrap().is_empty(), "held by their associations");
        index.commitment_release(released, 2_000).await.unwrap();
        let due = index.commitments_due(2_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].id, due[0].transaction_uid.as_str(), due[0].references.clone()), (released, "9.9.2", refs.clone()));
        index.commitment_failed(released, 4_000, "connection refused").await.unwrap();
        assert!(index.commitments_due(3_999, 10).await.unwrap().is_empty(), "not before its next attempt");
        assert_eq!(index.commitments_due(4_000, 10).await.unwrap()[0].attempts, 1);
        // A killed node's held request comes due after the hold.
        assert_eq!(index.commitments_due(301_000, 10).await.unwrap().len(), 2);
        index.commitment_done(held).await.unwrap();
        index.commitment_done(released).await.unwrap();
        assert_eq!(index.commitments_owed().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_requester_is_owed_at_most_its_limit_and_others_are_not_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
        let refs = vec![("1.2.840.10008.5.1.4.1.1.2".to_string(), "1.2.3".to_string())];
        let mut kept = Vec::new();
        for n in 0..3 {
            kept.push(index.commitment_received(&format!("9.9.{n}"), "FLOOD", &refs, 1_000, 1_000, 3).await.unwrap().unwrap());
        }
        assert_eq!(index.commitment_received("9.9.3", "FLOOD", &refs, 1_000, 1_000, 3).await.unwrap(), None, "a fourth is refused");
        assert!(index.commitment_received("9.9.4", "CT1", &refs, 1_000, 1_000, 3).await.unwrap().is_some(), "another requester is not");
        assert_eq!(index.commitments_owed().await.unwrap(), 4);
        // An acknowledged (or given up) report makes room again.
        index.commitment_done(kept[0]).await.unwrap();
        assert!(index.commitment_received("9.9.5", "FLOOD", &refs, 1_000, 1_000, 3).await.unwrap().is_some());
    }
}
