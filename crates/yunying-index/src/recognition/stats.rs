//! Statistics of recognition, computed by the database: candidates
//! offered and decisions in force, grouped by the columns the caller
//! chooses, over a range of months. Each table has two indexes holding
//! every column read here (by month first for the region, by institution
//! first for one institution), so PostgreSQL and SQLite answer from the
//! index alone.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use crate::schema::Dialect;
use crate::{Index, Result};

/// Memory PostgreSQL may give each sort or hash of a statistics query.
const STATS_WORK_MEM: &str = "32MB";

/// A grouping column of the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatsDimension {
    Region,
    Institution,
    Department,
    Doctor,
    Item,
    Month,
}

impl StatsDimension {
    fn column(self) -> &'static str {
        match self {
            StatsDimension::Region => "region",
            StatsDimension::Institution => "institution",
            StatsDimension::Department => "department",
            StatsDimension::Doctor => "doctor",
            StatsDimension::Item => "item_code",
            StatsDimension::Month => "month",
        }
    }
}

/// Which rows the statistics cover and how they are grouped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsQuery {
    /// First and last month (`YYYY-MM`), both included.
    pub from_month: String,
    pub to_month: String,
    /// Equality filters, each optional.
    pub filters: Vec<(StatsDimension, String)>,
    /// The grouping, in column order (empty: one total row).
    pub group_by: Vec<StatsDimension>,
}

/// One group of the statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsRow {
    /// The grouping values, in the query's `group_by` order.
    pub key: Vec<String>,
    /// Candidates offered (rows of `recognition_candidates`).
    pub offered: i64,
    /// Decisions in force.
    pub decided: i64,
    pub recognised: i64,
    pub partial: i64,
    pub not_recognised: i64,
    /// Not recognised and partially recognised decisions per reason code.
    pub reasons: BTreeMap<String, i64>,
    /// Sum of the prices of recognised items (fen).
    pub saved_fen: i64,
    /// Decisions made with the images never opened (`opened_ms = 0`).
    pub unopened: i64,
}

impl Index {
    /// Statistics over candidates offered and decisions in force, grouped
    /// as asked, in key order; computed by the database.
    pub async fn recognition_statistics(&self, query: &StatsQuery) -> Result<Vec<StatsRow>> {
        let dims: Vec<&str> = query.group_by.iter().map(|d| d.column()).collect();
        let select = if dims.is_empty() { String::new() } else { format!("{}, ", dims.join(", ")) };
        // With no grouping an aggregate still gives one row: HAVING drops it when nothing matched.
        let group = if dims.is_empty() { " HAVING COUNT(*) > 0".to_string() } else { format!(" GROUP BY {}", dims.join(", ")) };
        let mut filter = String::from("month >= $1 AND month <= $2");
        for (i, (dim, _)) in query.filters.iter().enumerate() {
            filter.push_str(&format!(" AND {} = ${}", dim.column(), i + 3));
        }
        let n = dims.len();
        let sums = "COUNT(*), \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'recognised' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'partial' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'not-recognised' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'recognised' THEN price_fen ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN opened_ms = 0 THEN 1 ELSE 0 END), 0) AS BIGINT)";
        // Decisions per group and reason in one pass (a recognised one has
        // no reason), both tables read at once on two connections.
        let offered_sql = format!("SELECT {select}COUNT(*) FROM recognition_candidates WHERE {filter}{group}");
        let decided_sql =
            format!("SELECT {select}reason, {sums} FROM recognition_decisions WHERE is_current = 1 AND {filter} GROUP BY {select}reason");
        let (offered, decided) = tokio::try_join!(self.stats_rows(&offered_sql, query), self.stats_rows(&decided_sql, query))?;
        let mut out: BTreeMap<Vec<String>, StatsRow> = BTreeMap::new();
        for row in offered {
            let key = key_of(&row, n)?;
            out.entry(key.clone()).or_insert_with(|| StatsRow { key, ..StatsRow::default() }).offered = row.try_get::<i64, _>(n)?;
        }
        for row in decided {
            let key = key_of(&row, n)?;
            let s = out.entry(key.clone()).or_insert_with(|| StatsRow { key, ..StatsRow::default() });
            let reason: String = row.try_get(n)?;
            let (partial, not_recognised): (i64, i64) = (row.try_get(n + 3)?, row.try_get(n + 4)?);
            s.decided += row.try_get::<i64, _>(n + 1)?;
            s.recognised += row.try_get::<i64, _>(n + 2)?;
            s.partial += partial;
            s.not_recognised += not_recognised;
            s.saved_fen += row.try_get::<i64, _>(n + 5)?;
            s.unopened += row.try_get::<i64, _>(n + 6)?;
            if partial + not_recognised > 0 {
                *s.reasons.entry(reason).or_default() += partial + not_recognised;
            }
        }
        Ok(out.into_values().collect())
    }

    async fn stats_rows(&self, sql: &str, query: &StatsQuery) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut q = sqlx::query(AssertSqlSafe(sql.to_string())).bind(&query.from_month).bind(&query.to_month);
        for (_, value) in &query.filters {
            q = q.bind(value);
        }
        if self.dialect != Dialect::Postgres {
            return Ok(q.fetch_all(&self.pool).await?);
        }
        // A fine grouping (doctor, item and month over a year) has about as
        // many groups as rows: with PostgreSQL's default 4 MB per sort or
        // hash the aggregate spills to disk (a region's year, 376,000
        // decisions in 106,000 groups: 1.7 s; in memory: 0.7 s). Read-only,
        // for this transaction only; the number of groups is bounded by
        // the rows of the months asked for.
        let mut tx = self.pool.begin().await?;
        sqlx::query(AssertSqlSafe(format!("SET LOCAL work_mem = '{STATS_WORK_MEM}'"))).execute(&mut *tx).await?;
        let rows = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

fn key_of(row: &sqlx::any::AnyRow, n: usize) -> Result<Vec<String>> {
    (0..n).map(|i| Ok(row.try_get::<String, _>(i)?)).collect()
}
