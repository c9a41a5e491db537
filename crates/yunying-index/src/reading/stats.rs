//! What reading statistics are computed from: one line per request of a
//! period (the reading crate aggregates: turnaround medians need every
//! value, and SQLite has no percentile function).

use crate::{Index, Result};

/// Which requests count.
#[derive(Debug, Clone, Default)]
pub struct ReadingStatsQuery {
    /// Requests to (or, `by_requesting`, from) this institution; `None`: all.
    pub institution: Option<String>,
    pub by_requesting: bool,
    /// Created in `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One request, as statistics see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadingStatsRow {
    pub requesting: String,
    pub reading: String,
    pub modality: String,
    pub priority: String,
    pub status: String,
    pub signer: String,
    pub created_ms: i64,
    pub due_ms: i64,
    pub signed_ms: Option<i64>,
    pub critical: bool,
    pub critical_ms: Option<i64>,
    pub critical_notified_ms: Option<i64>,
}

/// Most requests one statistics query reads.
pub const MAX_STATS_ROWS: i64 = 500_000;

type Line = (String, String, String, String, String, String, i64, i64, Option<i64>, i64, Option<i64>, Option<i64>);

impl Index {
    /// The requests of a period; at most [`MAX_STATS_ROWS`] (newest kept).
    pub async fn reading_stats_rows(&self, q: &ReadingStatsQuery) -> Result<Vec<ReadingStatsRow>> {
        let side = if q.by_requesting { "requesting" } else { "reading" };
        let filter = if q.institution.is_some() { format!(" AND {side} = $3") } else { " AND $3 = $3".to_string() };
        let sql = format!(
            "SELECT requesting, reading, modality, priority, status, signer, created_ms, due_ms, signed_ms, critical, critical_ms,
                    critical_notified_ms
             FROM reading_requests WHERE created_ms >= $1 AND created_ms < $2{filter}
             ORDER BY created_ms DESC LIMIT {MAX_STATS_ROWS}"
        );
        let rows: Vec<Line> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(q.from_ms)
            .bind(q.to_ms)
            .bind(q.institution.clone().unwrap_or_default())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ReadingStatsRow {
                requesting: r.0,
                reading: r.1,
                modality: r.2,
                priority: r.3,
                status: r.4,
                signer: r.5,
                created_ms: r.6,
                due_ms: r.7,
                signed_ms: r.8,
                critical: r.9 != 0,
                critical_ms: r.10,
                critical_notified_ms: r.11,
            })
            .collect())
    }
}
