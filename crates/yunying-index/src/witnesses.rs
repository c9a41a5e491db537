//! Witness rows: cosignatures other witnesses returned for this log's
//! checkpoints (append-only), how far each configured witness has been
//! sent, and this node's own state as a witness of other logs.
//!
//! The index stores; checking signatures and proofs is `yunying-audit`'s.

use crate::{Index, Result};

/// A verified cosignature of one of this log's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureRow {
    /// The checkpoint's tree size.
    pub tree_size: i64,
    /// The witness's key name.
    pub witness: String,
    /// The signed-note signature line (`— name base64`, no newline).
    pub signature_line: String,
    pub at_ms: i64,
}

/// What this node, as a witness, last cosigned for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessLogRow {
    pub origin: String,
    pub tree_size: i64,
    /// Hex of the root.
    pub root_hash: String,
    /// The log's signed checkpoint.
    pub note: String,
    pub at_ms: i64,
}

impl Index {
    /// Keep a cosignature (once).
    pub async fn add_cosignature(&self, c: &CosignatureRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        crate::ledger_role::enter(&mut tx, self.ledger_role).await?;
        sqlx::query(
            "INSERT INTO ledger_cosignatures (tree_size, witness, signature_line, at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tree_size, witness, signature_line) DO NOTHING",
        )
        .bind(c.tree_size)
        .bind(&c.witness)
        .bind(&c.signature_line)
        .bind(c.at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The cosignatures of the checkpoint of `tree_size`, oldest first.
    pub async fn cosignatures(&self, tree_size: i64) -> Result<Vec<CosignatureRow>> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT tree_size, witness, signature_line, at_ms FROM ledger_cosignatures WHERE tree_size = $1 ORDER BY at_ms, witness LIMIT 100",
        )
        .bind(tree_size)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tree_size, witness, signature_line, at_ms)| CosignatureRow { tree_size, witness, signature_line, at_ms })
            .collect())
    }

    /// The tree size last accepted by `witness` (0: none).
    pub async fn witness_export(&self, witness: &str) -> Result<i64> {
        let size: Option<i64> =
            sqlx::query_scalar("SELECT tree_size FROM witness_exports WHERE witness = $1").bind(witness).fetch_optional(&self.pool).await?;
        Ok(size.unwrap_or(0))
    }

    /// Note that `witness` now holds the checkpoint of `tree_size`.
    pub async fn set_witness_export(&self, witness: &str, tree_size: i64, at_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO witness_exports (witness, tree_size, at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (witness) DO UPDATE SET tree_size = excluded.tree_size, at_ms = excluded.at_ms",
        )
        .bind(witness)
        .bind(tree_size)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every log this node witnesses, by origin.
    pub async fn witness_logs(&self) -> Result<Vec<WitnessLogRow>> {
        let rows: Vec<(String, i64, String, String, i64)> =
            sqlx::query_as("SELECT origin, tree_size, root_hash, note, at_ms FROM witness_logs ORDER BY origin LIMIT 1000")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(origin, tree_size, root_hash, note, at_ms)| WitnessLogRow { origin, tree_size, root_hash, note, at_ms })
            .collect())
    }

    /// Advance the witness state of `row.origin` to `row`, only if it is
    /// still at `old_size` (0 and no row: the first). False when another
    /// request moved it first: two requests never both advance from one
    /// size.
    pub async fn advance_witness_log(&self, old_size: i64, row: &WitnessLogRow) -> Result<bool> {
        let done = if old_size == 0 {
            sqlx::query(
                "INSERT INTO witness_logs (origin, tree_size, root_hash, note, at_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (origin) DO UPDATE SET tree_size = excluded.tree_size, root_hash = excluded.root_hash, \
                 note = excluded.note, at_ms = excluded.at_ms WHERE witness_logs.tree_size = 0",
            )
        } else {
            sqlx::query(
                "UPDATE witness_logs SET tree_size = $2, root_hash = $3, note = $4, at_ms = $5 WHERE origin = $1 AND tree_size = $6",
            )
        }
        .bind(&row.origin)
        .bind(row.tree_size)
        .bind(&row.root_hash)
        .bind(&row.note)
        .bind(row.at_ms);
        let done = if old_size == 0 { done } else { done.bind(old_size) }.execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
