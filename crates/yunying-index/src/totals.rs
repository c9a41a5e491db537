//! Index totals kept as counters, so `/metrics` costs no table scan.
//!
//! `index_totals` holds the number of patients, studies, series and
//! instances, the instances' bytes and the rendition jobs by state. Row
//! triggers on those tables keep it exact whatever path writes them
//! (ingest, purge, `reindex`, cascades), in the same transaction as the
//! change. A read sums a handful of rows.
//!
//! On PostgreSQL the counters are spread over [`PG_SHARDS`] rows and each
//! connection adds to the row of its backend pid: concurrent ingest
//! transactions rarely touch one row, and a transaction touches only one
//! (so two can never deadlock on the totals). Its triggers are per
//! statement (one update however many rows). SQLite has one writer at a
//! time, one row, and row triggers.

use sqlx::AssertSqlSafe;

use crate::schema::Dialect;
use crate::{Index, IndexCounts, JobCounts, Result};

/// Rows the PostgreSQL counters are spread over.
pub(crate) const PG_SHARDS: i64 = 64;

/// What each table's row adds to the totals when inserted (and takes away
/// when deleted), as SQL over `R` (the row: NEW or OLD).
const CONTRIBUTIONS: [(&str, &str); 5] = [
    ("patients", "patients = patients + {d}"),
    ("studies", "studies = studies + {d}"),
    ("series", "series = series + {d}"),
    ("instances", "instances = instances + {d}, bytes = bytes + {d} * R.size_bytes"),
    ("rendition_jobs", "{jobs}"),
];

const JOB_STATES: [&str; 4] = ["pending", "running", "done", "parked"];

/// Migration hook: the table, its rows filled from the tables as they are,
/// and the triggers.
pub(crate) async fn create(tx: &mut sqlx::Transaction<'static, sqlx::Any>, dialect: Dialect) -> Result<()> {
    let columns = "patients, studies, series, instances, bytes, jobs_pending, jobs_running, jobs_done, jobs_parked";
    let bigint = if dialect == Dialect::Postgres { "BIGINT" } else { "INTEGER" };
    let defs: Vec<String> = columns.split(", ").map(|c| format!("{c} {bigint} NOT NULL DEFAULT 0")).collect();
    exec(tx, format!("CREATE TABLE index_totals (shard {bigint} PRIMARY KEY, {})", defs.join(", "))).await?;
    let shards = if dialect == Dialect::Postgres { PG_SHARDS } else { 1 };
    for shard in 1..shards {
        exec(tx, format!("INSERT INTO index_totals (shard) VALUES ({shard})")).await?;
    }
    let job = |s: &str| format!("(SELECT COUNT(*) FROM rendition_jobs WHERE state = '{s}')");
    exec(
        tx,
        format!(
            "INSERT INTO index_totals (shard, {columns}) SELECT 0, (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM studies),
             (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instances), (SELECT COALESCE(SUM(size_bytes), 0) FROM instances),
             {}, {}, {}, {}",
            job("pending"),
            job("running"),
            job("done"),
            job("parked")
        ),
    )
    .await?;
    match dialect {
        Dialect::Sqlite => sqlite_triggers(tx).await,
        Dialect::Postgres => postgres_triggers(tx).await,
    }
}

/// `SET` terms for one row of `table` inserted (`d` = 1) or deleted (-1),
/// the row being `row`.
fn terms(table: &str, d: &str, row: &str) -> String {
    let (_, template) = CONTRIBUTIONS.iter().find(|(t, _)| *t == table).expect("a counted table");
    let jobs: Vec<String> =
        JOB_STATES.iter().map(|s| format!("jobs_{s} = jobs_{s} + {d} * (CASE WHEN {row}.state = '{s}' THEN 1 ELSE 0 END)")).collect();
    template.replace("{jobs}", &jobs.join(", ")).replace("{d}", d).replace("R.", &format!("{row}."))
}

async fn sqlite_triggers(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    for (table, _) in CONTRIBUTIONS {
        for (when, d, row) in [("INSERT", "1", "NEW"), ("DELETE", "-1", "OLD")] {
            let set = terms(table, d, row);
            exec(
                tx,
                format!(
                    "CREATE TRIGGER {table}_totals_{} AFTER {when} ON {table} BEGIN UPDATE index_totals SET {set} WHERE shard = 0; END",
                    when.to_lowercase()
                ),
            )
            .await?;
        }
    }
    // Rows whose counted column changes: a superseded copy's size, a job's
    // state.
    for (table, column) in [("instances", "size_bytes"), ("rendition_jobs", "state")] {
        let set = format!("{}, {}", terms(table, "-1", "OLD"), terms(table, "1", "NEW"));
        let set = without_row_counts(table, &set);
        exec(
            tx,
            format!("CREATE TRIGGER {table}_totals_update AFTER UPDATE OF {column} ON {table} BEGIN UPDATE index_totals SET {set} WHERE shard = 0; END"),
        )
        .await?;
    }
    Ok(())
}

/// An update's terms: the row counts (`instances = instances ± 1`) cancel
/// out and are dropped; SQLite refuses a column assigned twice.
fn without_row_counts(table: &str, set: &str) -> String {
    let mut by_column: Vec<(String, Vec<String>)> = Vec::new();
    for term in set.split(", ") {
        let (column, expr) = term.split_once(" = ").expect("column = expression");
        let add = expr.strip_prefix(&format!("{column} + ")).expect("an increment").to_string();
        match by_column.iter_mut().find(|(c, _)| c == column) {
            Some((_, adds)) => adds.push(add),
            None => by_column.push((column.to_string(), vec![add])),
        }
    }
    by_column
        .into_iter()
        .filter(|(column, _)| column != table)
        .map(|(column, adds)| format!("{column} = {column} + {}", adds.join(" + ")))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn postgres_triggers(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    // Statement triggers over transition tables: one update of the totals
    // per statement, however many rows it writes (a row trigger would
    // update one totals row once per row, a long version chain for a bulk
    // statement). PostgreSQL allows transition tables on one event per
    // trigger, hence three. (Rows are aliased n and o: NEW and OLD are
    // plpgsql's own names.)
    for (table, _) in CONTRIBUTIONS {
        let sum = |set: &str, rows: &str| sum_over(set, rows);
        let mut events = vec![
            ("insert", "INSERT", "REFERENCING NEW TABLE AS new_rows", sum(&terms(table, "1", "n"), "new_rows n")),
            ("delete", "DELETE", "REFERENCING OLD TABLE AS old_rows", sum(&terms(table, "-1", "o"), "old_rows o")),
        ];
        if matches!(table, "instances" | "rendition_jobs") {
            // Updates that change a counted column (a replaced copy's size,
            // a job's state): what leaves minus what comes.
            let (out, into) = (sum(&terms(table, "-1", "o"), "old_rows o"), sum(&terms(table, "1", "n"), "new_rows n"));
            let merged = without_row_counts(table, &format!("{out}, {into}"));
            events.push(("update", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", merged));
        }
        for (name, event, referencing, set) in events {
            exec(
                tx,
                format!(
                    "CREATE FUNCTION yunying_totals_{table}_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN UPDATE index_totals SET {set} WHERE shard = pg_backend_pid() % {PG_SHARDS}; RETURN NULL; END $$"
                ),
            )
            .await?;
            exec(
                tx,
                format!(
                    "CREATE TRIGGER {table}_totals_{name} AFTER {event} ON {table} {referencing} \
                     FOR EACH STATEMENT EXECUTE FUNCTION yunying_totals_{table}_{name}()"
                ),
            )
            .await?;
        }
    }
    // TRUNCATE fires no such trigger: refuse it on the counted tables
    // rather than let the totals drift (nothing in Yunying truncates them).
    exec(
        tx,
        "CREATE FUNCTION yunying_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION '% is counted in index_totals: DELETE instead of TRUNCATE', TG_TABLE_NAME; END $$"
            .to_string(),
    )
    .await?;
    for (table, _) in CONTRIBUTIONS {
        exec(
            tx,
            format!(
                "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION yunying_no_truncate()"
            ),
        )
        .await?;
    }
    Ok(())
}

/// Row terms (`c = c + <expr over the row>`) summed over a transition
/// table: `c = c + (SELECT COALESCE(SUM(<expr>),0) FROM <rows>)` (no space after the comma: terms are split at ", ").
fn sum_over(set: &str, rows: &str) -> String {
    set.split(", ")
        .map(|term| {
            let (column, expr) = term.split_once(" = ").expect("column = expression");
            let add = expr.strip_prefix(&format!("{column} + ")).expect("an increment");
            format!("{column} = {column} + (SELECT COALESCE(SUM({add}),0) FROM {rows})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn exec(tx: &mut sqlx::Transaction<'static, sqlx::Any>, sql: String) -> Result<()> {
    sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
    Ok(())
}

impl Index {
    /// Rows at each level and the instances' bytes, from the counters (a
    /// sum over a few rows, however large the index).
    pub async fn counts(&self) -> Result<IndexCounts> {
        let (patients, studies, series, instances, bytes): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(patients), 0) AS BIGINT), CAST(COALESCE(SUM(studies), 0) AS BIGINT),
                    CAST(COALESCE(SUM(series), 0) AS BIGINT), CAST(COALESCE(SUM(instances), 0) AS BIGINT),
                    CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM index_totals",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(IndexCounts { patients, studies, series, instances, bytes })
    }

    /// Rendition jobs by state, from the counters.
    pub async fn job_counts(&self) -> Result<JobCounts> {
        let (pending, running, done, parked): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(jobs_pending), 0) AS BIGINT), CAST(COALESCE(SUM(jobs_running), 0) AS BIGINT),
                    CAST(COALESCE(SUM(jobs_done), 0) AS BIGINT), CAST(COALESCE(SUM(jobs_parked), 0) AS BIGINT) FROM index_totals",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(JobCounts { pending, running, done, parked })
    }

    /// The same figures counted row by row (a scan of every table): what
    /// the counters must always equal. For checks and tests.
    pub async fn counted_rows(&self) -> Result<(IndexCounts, JobCounts)> {
        let (patients, studies, series, instances, bytes): (i64, i64, i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM studies),
                    (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instances),
                    (SELECT CAST(SUM(size_bytes) AS BIGINT) FROM instances)",
        )
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM rendition_jobs GROUP BY state").fetch_all(&self.pool).await?;
        let mut jobs = JobCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => jobs.pending = n,
                "running" => jobs.running = n,
                "done" => jobs.done = n,
                "parked" => jobs.parked = n,
                _ => {}
            }
        }
        Ok((IndexCounts { patients, studies, series, instances, bytes: bytes.unwrap_or(0) }, jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_moves_a_job_between_states_and_keeps_the_row_count() {
        let set = without_row_counts(
            "rendition_jobs",
            &format!("{}, {}", terms("rendition_jobs", "-1", "OLD"), terms("rendition_jobs", "1", "NEW")),
        );
        assert!(set.contains("jobs_pending = jobs_pending + -1 * (CASE WHEN OLD.state = 'pending' THEN 1 ELSE 0 END) + 1 * (CASE WHEN NEW.state = 'pending'"), "{set}");
        let set = without_row_counts("instances", &format!("{}, {}", terms("instances", "-1", "OLD"), terms("instances", "1", "NEW")));
        assert_eq!(set, "bytes = bytes + -1 * OLD.size_bytes + 1 * NEW.size_bytes");
    }
}
