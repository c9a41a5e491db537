//! The blocks a demographic query of the EMPI (PDQm `$match`) is scored
//! against: identities with the same birth date or one of the same
//! identifier digests (migration 26 indexes the birth date).

use std::collections::HashMap;

use crate::empi::{IDENTITY_COLUMNS, IdentityTuple, identity};
use crate::{DigestRow, IdentityRow, Index, Result};

/// Most identities read for one query.
pub const MAX_BLOCK: i64 = 5_000;

impl Index {
    /// Identities born on `birth_date` (a full `YYYYMMDD`, else none by
    /// date) or carrying one of `digests`, at most `limit` (the newest
    /// first), with their digests.
    pub async fn empi_block(&self, birth_date: &str, digests: &[String], limit: i64) -> Result<Vec<(IdentityRow, Vec<DigestRow>)>> {
        let limit = limit.clamp(1, MAX_BLOCK);
        let mut rows: Vec<IdentityTuple> = Vec::new();
        if birth_date.len() == 8 && birth_date.bytes().all(|b| b.is_ascii_digit()) {
            let sql = format!("SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE birth_date = $1 ORDER BY id DESC LIMIT $2");
            rows = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(birth_date).bind(limit).fetch_all(&self.pool).await?;
        }
        for digest in digests.iter().take(16) {
            let sql = format!(
                "SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE id IN
                 (SELECT identity_pk FROM empi_identity_digests WHERE digest = $1) ORDER BY id DESC LIMIT $2"
            );
            let found: Vec<IdentityTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(digest).bind(limit).fetch_all(&self.pool).await?;
            for r in found {
                if !rows.iter().any(|have| have.0 == r.0) {
                    rows.push(r);
                }
            }
        }
        rows.truncate(limit as usize);
        let mut by_identity: HashMap<i64, Vec<DigestRow>> = HashMap::new();
        for chunk in rows.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT identity_pk, kind, digest FROM empi_identity_digests WHERE identity_pk IN ({})", marks.join(", "));
            let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.0);
            }
            for (id, kind, digest) in q.fetch_all(&self.pool).await? {
                by_identity.entry(id).or_default().push((kind, digest));
            }
        }
        Ok(rows
            .into_iter()
            .map(identity)
            .map(|r| {
                let d = by_identity.remove(&r.id).unwrap_or_default();
                (r, d)
            })
            .collect())
    }
}
