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
    ///
    /// Reading stops at the first instance (in id order) received at or
    /// after `received_before_ms`: ids and receipt times of concurrent
    /// stores are not in the same order, and a cursor moved past an
    /// instance that was left for later would never come back to it.
    pub async fn studies_of_instances_after(&self, after: i64, received_before_ms: i64, limit: i64) -> Result<(Vec<String>, i64)> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT i.id, i.received_at_ms, st.study_instance_uid FROM instances i
             JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk
             WHERE i.id > $1 ORDER BY i.id LIMIT $2",
        )
        .bind(after)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        let settled: Vec<(i64, String)> =
            rows.into_iter().take_while(|(_, received, _)| *received < received_before_ms).map(|(id, _, study)| (id, study)).collect();
        let last = settled.last().map_or(after, |r| r.0);
        let mut studies: Vec<String> = settled.into_iter().map(|r| r.1).collect();
        studies.sort();
        studies.dedup();
        Ok((studies, last))
    }
}
