//! The outbox of a signed report: one row per channel and target (the
//! archive, the requesting PACS, its HIS, its webhook, a critical-finding
//! notice), done once delivered, tried again later when not. A node takes
//! a row for a while (`lease_until_ms`) so two nodes do not both send it.

use sqlx::{AssertSqlSafe, Row};

use crate::{Index, Result};

/// A delivery owed or done.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryRow {
    pub id: i64,
    pub request_id: String,
    pub version: i64,
    /// `archive`, `dicom`, `stow`, `hl7`, `webhook`, `critical`.
    pub channel: String,
    /// Where: an AE title, a URL, `host:port` ("" for the archive).
    pub target: String,
    pub created_ms: i64,
    pub next_ms: i64,
    pub attempts: i64,
    pub done_ms: Option<i64>,
    /// The last failure ("" when none).
    pub error: String,
}

const COLUMNS: &str = "id, request_id, version, channel, target, created_ms, next_ms, attempts, done_ms, error";

fn from_row(row: &sqlx::any::AnyRow) -> std::result::Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: row.try_get(0)?,
        request_id: row.try_get(1)?,
        version: row.try_get(2)?,
        channel: row.try_get(3)?,
        target: row.try_get(4)?,
        created_ms: row.try_get(5)?,
        next_ms: row.try_get(6)?,
        attempts: row.try_get(7)?,
        done_ms: row.try_get(8)?,
        error: row.try_get(9)?,
    })
}

impl Index {
    /// Owe these deliveries (channel, target) of a report version.
    pub async fn insert_reading_deliveries(&self, request_id: &str, version: i64, rows: &[(String, String)], now_ms: i64) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        for (channel, target) in rows {
            sqlx::query(
                "INSERT INTO reading_deliveries (request_id, version, channel, target, created_ms, next_ms) VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(request_id)
            .bind(version)
            .bind(channel)
            .bind(target)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Take up to `limit` deliveries that are due, for `lease_ms`.
    pub async fn take_reading_deliveries(&self, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM reading_deliveries WHERE done_ms IS NULL AND next_ms <= $1 AND lease_until_ms <= $1
             ORDER BY next_ms, id LIMIT $2"
        )))
        .bind(now_ms)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        let mut taken = Vec::new();
        for row in &rows {
            let d = from_row(row)?;
            let won =
                sqlx::query("UPDATE reading_deliveries SET lease_until_ms = $1 WHERE id = $2 AND done_ms IS NULL AND lease_until_ms <= $3")
                    .bind(now_ms + lease_ms)
                    .bind(d.id)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1;
            if won {
                taken.push(d);
            }
        }
        Ok(taken)
    }

    /// A delivery is done.
    pub async fn reading_delivery_done(&self, id: i64, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE reading_deliveries SET done_ms = $1, attempts = attempts + 1, error = '', lease_until_ms = 0 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A delivery failed: try again at `next_ms`.
    pub async fn reading_delivery_failed(&self, id: i64, error: &str, next_ms: i64) -> Result<()> {
        sqlx::query("UPDATE reading_deliveries SET attempts = attempts + 1, error = $1, next_ms = $2, lease_until_ms = 0 WHERE id = $3")
            .bind(error)
            .bind(next_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The deliveries of a request, oldest first.
    pub async fn reading_deliveries(&self, request_id: &str) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM reading_deliveries WHERE request_id = $1 ORDER BY id")))
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<std::result::Result<_, _>>()?)
    }
}
