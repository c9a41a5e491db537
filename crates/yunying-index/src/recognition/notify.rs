//! The recognition decisions still to be sent to their institution's HIS
//! (migration 24: the decisions table is the outbox).

use sqlx::{AssertSqlSafe, Row};

use super::{DECISION_COLUMNS, RecognitionDecisionRow, decision_of};
use crate::{Index, Result};

/// A decision waiting to be notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionToNotify {
    /// The row's id (the delivery's id for the receiver).
    pub id: i64,
    /// The HIS's own order number ("" when it gave none).
    pub his_order_id: String,
    pub decision: RecognitionDecisionRow,
    /// Attempts made so far.
    pub attempts: i64,
}

impl Index {
    /// Up to `limit` decisions of `institutions` not notified yet and due
    /// at `now_ms`, oldest first.
    pub async fn recognition_decisions_to_notify(&self, institutions: &[String], now_ms: i64, limit: i64) -> Result<Vec<DecisionToNotify>> {
        if institutions.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..institutions.len()).map(|i| format!("${}", i + 3)).collect();
        let columns: String = DECISION_COLUMNS.split(',').map(|c| format!("d.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, d.id, o.his_order_id, d.notify_attempts FROM recognition_decisions d
             JOIN recognition_orders o ON o.order_id = d.order_id
             WHERE d.notified_ms IS NULL AND d.notify_next_ms <= $1 AND d.institution IN ({})
             ORDER BY d.id LIMIT $2",
            marks.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now_ms).bind(limit.clamp(1, 1_000));
        for i in institutions {
            q = q.bind(i.as_str());
        }
        let n = DECISION_COLUMNS.split(',').count();
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(DecisionToNotify {
                    decision: decision_of(r)?,
                    id: r.try_get(n)?,
                    his_order_id: r.try_get(n + 1)?,
                    attempts: r.try_get(n + 2)?,
                })
            })
            .collect()
    }

    /// The decision `id` reached its HIS at `now_ms`.
    pub async fn recognition_notified(&self, id: i64, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE recognition_decisions SET notified_ms = $1, notify_error = '' WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The decision `id` did not reach its HIS: tried again from `next_ms`.
    pub async fn recognition_notify_failed(&self, id: i64, next_ms: i64, error: &str) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        sqlx::query(
            "UPDATE recognition_decisions SET notify_attempts = notify_attempts + 1, notify_next_ms = $1, notify_error = $2 WHERE id = $3",
        )
        .bind(next_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
