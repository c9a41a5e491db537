//! The audit ledger's rows: events waiting to be sequenced, the sequenced
//! entries (the Merkle tree's leaves, in order), and signed checkpoints.
//!
//! The index stores what the audit layer hands it (canonical event bodies,
//! their leaf hashes, the columns the views search) and decides nothing:
//! hashing, signing and verifying are `yunying-audit`'s.

use sqlx::{AssertSqlSafe, Row};

use crate::{Index, IndexError, Result};

/// An event recorded by some node and not yet in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: i64,
    pub at_ms: i64,
    pub body: String,
}

/// One leaf of the ledger: an event at its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerEntry {
    /// Position in the log, from 0, dense.
    pub leaf_index: i64,
    pub at_ms: i64,
    pub event: String,
    pub principal: String,
    /// The acting principal's institution, or "".
    pub institution: String,
    pub result: String,
    /// Hex of the leaf's Merkle hash (of `body`).
    pub leaf_hash: String,
    /// The canonical event, as hashed.
    pub body: String,
    /// Studies the event names (search only; the body is the record).
    pub studies: Vec<String>,
    /// Keyed digests of the patients the event concerns.
    pub patients: Vec<String>,
}

/// A signed checkpoint of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub tree_size: i64,
    pub root_hash: String,
    pub at_ms: i64,
    /// The signed note, as published.
    pub note: String,
}

/// What the audit views search by (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub study: Option<String>,
    pub patient_digest: Option<String>,
    pub principal: Option<String>,
    pub institution: Option<String>,
    pub event: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Entries after this leaf index (paging), or from the start.
    pub after: Option<i64>,
    pub limit: i64,
}

impl Index {
    /// Record an event for the sequencer (any node, any time). It goes
    /// through the writer, committed (durably) in a group with the other
    /// writes waiting then, so concurrent events share one fsync.
    pub async fn append_audit_event(&self, at_ms: i64, body: &str) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(crate::writer::Request::Audit { at_ms, body: body.to_string(), reply })
            .await
            .map_err(|_| IndexError::WriterStopped)?;
        answer.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// The oldest events waiting for the sequencer, in recording order.
    pub async fn pending_audit_events(&self, limit: i64) -> Result<Vec<PendingEvent>> {
        let rows: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT id, at_ms, body FROM audit_pending ORDER BY id LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id, at_ms, body)| PendingEvent { id, at_ms, body }).collect())
    }

    /// Number of entries in the ledger (the next leaf index).
    pub async fn ledger_size(&self) -> Result<i64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(leaf_index) FROM ledger_entries").fetch_one(&self.pool).await?;
        Ok(max.map_or(0, |m| m + 1))
    }

    /// Move `pending` events into the ledger as `entries` (the same events,
    /// numbered from `first`), in one transaction. Fails with
    /// [`IndexError::Conflict`] when another sequencer got there first
    /// (a leaf index taken, or a pending event already moved): nothing is
    /// written then. Rows go in with multi-row `INSERT`s (a handful of
    /// statements for a batch of 1,000).
    pub async fn sequence_audit_events(&self, first: i64, pending: &[i64], entries: &[LedgerEntry]) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        crate::ledger_role::enter(&mut tx, self.ledger_role).await?;
        if self.dialect == crate::schema::Dialect::Sqlite {
            // A batch dirties a few MB of pages (bodies, two search-row
            // indexes each); with SQLite's default 2 MB page cache they
            // spill to the WAL and the statement journals mid-transaction,
            // page by page, many times over.
            sqlx::query("PRAGMA cache_size = -32768").execute(&mut *tx).await?;
        }
        let size: Option<i64> = sqlx::query_scalar("SELECT MAX(leaf_index) FROM ledger_entries").fetch_one(&mut *tx).await?;
        if size.map_or(0, |m| m + 1) != first {
            return Err(IndexError::Conflict(format!("the ledger has moved on from {first}")));
        }
        // Multi-row INSERTs: a few statements per batch instead of one per
        // row (each a round trip to the database).
        for (c, chunk) in entries.chunks(ENTRY_ROWS).enumerate() {
            let base = first + (c * ENTRY_ROWS) as i64;
            let mut q = sqlx::query(AssertSqlSafe(insert_sql(
                "ledger_entries (leaf_index, at_ms, event, principal, institution, result, leaf_hash, body)",
                8,
                chunk.len(),
            )));
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(base + i as i64)
                    .bind(e.at_ms)
                    .bind(e.event.as_str())
                    .bind(e.principal.as_str())
                    .bind(e.institution.as_str())
                    .bind(e.result.as_str())
                    .bind(e.leaf_hash.as_str())
                    .bind(e.body.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        let leaves = || entries.iter().enumerate().map(|(i, e)| (first + i as i64, e));
        let studies: Vec<(i64, &str)> = leaves().flat_map(|(leaf, e)| distinct(&e.studies).map(move |s| (leaf, s))).collect();
        let patients: Vec<(i64, &str)> = leaves().flat_map(|(leaf, e)| distinct(&e.patients).map(move |p| (leaf, p))).collect();
        for (table, rows) in
            [("ledger_studies (leaf_index, study_instance_uid)", &studies), ("ledger_patients (leaf_index, patient_digest)", &patients)]
        {
            for chunk in rows.chunks(SEARCH_ROWS) {
                let mut q = sqlx::query(AssertSqlSafe(insert_sql(table, 2, chunk.len())));
                for (leaf, value) in chunk {
                    q = q.bind(*leaf).bind(*value);
                }
                q.execute(&mut *tx).await?;
            }
        }
        let mut moved = 0;
        for chunk in pending.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("DELETE FROM audit_pending WHERE id IN ({})", marks.join(", "));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            moved += q.execute(&mut *tx).await?.rows_affected();
        }
        if moved != pending.len() as u64 {
            return Err(IndexError::Conflict("pending audit events were sequenced by another node".into()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ledger entries from leaf `from` on, at most `limit`, in order
    /// (without their studies and patients: the body has them).
    pub async fn ledger_entries(&self, from: i64, limit: i64) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT leaf_index, at_ms, event, principal, institution, result, leaf_hash, body FROM ledger_entries
             WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// The leaf hashes (hex) of entries from `from` on, at most `limit`.
    pub async fn ledger_leaf_hashes(&self, from: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as("SELECT leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2")
            .bind(from)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Entries matching `filter`, oldest first.
    pub async fn search_ledger(&self, filter: &LedgerFilter) -> Result<Vec<LedgerEntry>> {
        let mut conditions = vec!["e.leaf_index > $1".to_string()];
        let mut values: Vec<String> = Vec::new();
        let mut joins = String::new();
        let mut add = |cond: &str, value: String, values: &mut Vec<String>| {
            values.push(value);
            conditions.push(cond.replace('?', &format!("${}", values.len() + 1)));
        };
        if let Some(study) = &filter.study {
            joins.push_str(" JOIN ledger_studies ls ON ls.leaf_index = e.leaf_index");
            add("ls.study_instance_uid = ?", study.clone(), &mut values);
        }
        if let Some(patient) = &filter.patient_digest {
            joins.push_str(" JOIN ledger_patients lp ON lp.leaf_index = e.leaf_index");
            add("lp.patient_digest = ?", patient.clone(), &mut values);
        }
        if let Some(p) = &filter.principal {
            add("e.principal = ?", p.clone(), &mut values);
        }
        if let Some(i) = &filter.institution {
            add("e.institution = ?", i.clone(), &mut values);
        }
        if let Some(ev) = &filter.event {
            add("e.event = ?", ev.clone(), &mut values);
        }
        let n = values.len();
        let mut sql = format!(
            "SELECT e.leaf_index, e.at_ms, e.event, e.principal, e.institution, e.result, e.leaf_hash, e.body FROM ledger_entries e{joins}
             WHERE {}",
            conditions.join(" AND ")
        );
        if filter.from_ms.is_some() {
            sql.push_str(&format!(" AND e.at_ms >= ${}", n + 2));
        }
        if filter.to_ms.is_some() {
            sql.push_str(&format!(" AND e.at_ms < ${}", n + 2 + filter.from_ms.is_some() as usize));
        }
        let limit_mark = n + 2 + filter.from_ms.is_some() as usize + filter.to_ms.is_some() as usize;
        sql.push_str(&format!(" ORDER BY e.leaf_index LIMIT ${limit_mark}"));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(filter.after.unwrap_or(-1));
        for v in &values {
            q = q.bind(v.as_str());
        }
        if let Some(from) = filter.from_ms {
            q = q.bind(from);
        }
        if let Some(to) = filter.to_ms {
            q = q.bind(to);
        }
        let rows = q.bind(filter.limit.max(1)).fetch_all(&self.pool).await?;
        rows.iter().map(entry_of).collect()
    }

    /// The search rows (studies, patient digests) of entries in
    /// `from..to`: `(leaf, study)` and `(leaf, digest)`, ordered.
    pub async fn ledger_search_rows(&self, from: i64, to: i64) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>)> {
        let studies = sqlx::query_as(
            "SELECT leaf_index, study_instance_uid FROM ledger_studies WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index, study_instance_uid",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let patients = sqlx::query_as(
            "SELECT leaf_index, patient_digest FROM ledger_patients WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index, patient_digest",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok((studies, patients))
    }

    /// Keep a signed checkpoint (once per tree size).
    pub async fn add_checkpoint(&self, c: &CheckpointRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        crate::ledger_role::enter(&mut tx, self.ledger_role).await?;
        sqlx::query(
            "INSERT INTO ledger_checkpoints (tree_size, root_hash, at_ms, note) VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(c.tree_size)
        .bind(&c.root_hash)
        .bind(c.at_ms)
        .bind(&c.note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every checkpoint, smallest tree first.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        let rows: Vec<(i64, String, i64, String)> =
            sqlx::query_as("SELECT tree_size, root_hash, at_ms, note FROM ledger_checkpoints ORDER BY tree_size")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(tree_size, root_hash, at_ms, note)| CheckpointRow { tree_size, root_hash, at_ms, note }).collect())
    }

    /// The checkpoint of the largest tree, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        let row: Option<(i64, String, i64, String)> =
            sqlx::query_as("SELECT tree_size, root_hash, at_ms, note FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(tree_size, root_hash, at_ms, note)| CheckpointRow { tree_size, root_hash, at_ms, note }))
    }

    /// Every recorded event body: the ledger's in order, then those still
    /// waiting for the sequencer (tests and tools that must see an event
    /// the moment it is recorded).
    pub async fn recorded_audit_bodies(&self) -> Result<Vec<String>> {
        let mut bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM ledger_entries ORDER BY leaf_index").fetch_all(&self.pool).await?;
        let pending: Vec<String> = sqlx::query_scalar("SELECT body FROM audit_pending ORDER BY id").fetch_all(&self.pool).await?;
        bodies.extend(pending);
        Ok(bodies)
    }

    /// The patient (index key, issuer, PatientID) of each of these studies.
    pub async fn patients_of_studies(&self, studies: &[String]) -> Result<Vec<(i64, String, String)>> {
        let mut out: Vec<(i64, String, String)> = Vec::new();
        for chunk in studies.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT DISTINCT p.id, p.issuer, p.patient_id FROM studies st JOIN patients p ON p.id = st.patient_pk
                 WHERE st.study_instance_uid IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<_, (i64, String, String)>(AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(s.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                if !out.contains(&row) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }
}

/// Ledger entries per multi-row `INSERT` (8 values each). Kept small:
/// SQLite looks a parameter's name up in a list, so binding costs grow
/// with the square of the parameters in one statement.
const ENTRY_ROWS: usize = 32;

/// Search rows per multi-row `INSERT` (2 values each).
const SEARCH_ROWS: usize = 128;

/// `INSERT INTO {table} VALUES ($1, …), (…)`: `rows` rows of `columns`
/// numbered parameters.
fn insert_sql(table: &str, columns: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// The values of `list` without repeats, in their first order.
fn distinct(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().enumerate().filter(|(i, v)| !list[..*i].contains(v)).map(|(_, v)| v.as_str())
}

fn entry_of(r: &sqlx::any::AnyRow) -> Result<LedgerEntry> {
    Ok(LedgerEntry {
        leaf_index: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        event: r.try_get(2)?,
        principal: r.try_get(3)?,
        institution: r.try_get(4)?,
        result: r.try_get(5)?,
        leaf_hash: r.try_get(6)?,
        body: r.try_get(7)?,
        studies: Vec::new(),
        patients: Vec::new(),
    })
}
