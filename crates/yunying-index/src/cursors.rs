//! Cursors of background passes (migration 25): how far a pass that runs
//! on one node at a time (under a lease) has read, kept across restarts
//! and handed from node to node with the lease.

use crate::{Index, Result};

impl Index {
    /// The cursor `name` (0 when never set).
    pub async fn cursor(&self, name: &str) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT value FROM cursors WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(v.unwrap_or(0))
    }

    /// Moves the cursor `name` to `value`.
    pub async fn set_cursor(&self, name: &str, value: i64) -> Result<()> {
        sqlx::query("INSERT INTO cursors (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The studies of the instances after `after` (their `id`) received
    /// before `received_before_ms`, at most `limit` instances read, and the
    /// last instance id read (`after` when none).
    pub async fn studies_of_instances_after(&self, after: i64, received_before_ms: i64, limit: i64) -> Result<(Vec<String>, i64)> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT i.id, st.study_instance_uid FROM instances i
             JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk
             WHERE i.id > $1 AND i.received_at_ms < $2 ORDER BY i.id LIMIT $3",
        )
        .bind(after)
        .bind(received_before_ms)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        let last = rows.last().map_or(after, |r| r.0);
        let mut studies: Vec<String> = rows.into_iter().map(|r| r.1).collect();
        studies.sort();
        studies.dedup();
        Ok((studies, last))
    }
}
