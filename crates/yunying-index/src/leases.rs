//! Named leases: one node at a time does a cluster-wide chore (the sweep
//! of unreferenced objects). A lease is a row with its holder and expiry;
//! taking it succeeds when it is free, expired, or already the taker's.

use crate::{Index, Result};

impl Index {
    /// Take (or renew) the lease `name` for `holder` until `until_ms`; false
    /// if another holder has it past `now_ms`. One statement, so two nodes
    /// racing for it cannot both win.
    pub async fn try_lease(&self, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.until_ms <= $4 OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Give the lease `name` back if `holder` has it (a chore done early
    /// frees it for the next node at once).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Index;

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
        assert!(index.try_lease("sweep", "a", 1000, 2000).await.unwrap());
        assert!(!index.try_lease("sweep", "b", 1500, 2500).await.unwrap(), "held by a");
        assert!(index.try_lease("sweep", "a", 1500, 2500).await.unwrap(), "a renews");
        assert!(index.try_lease("other", "b", 1500, 2500).await.unwrap(), "leases are per name");
        assert!(index.try_lease("sweep", "b", 2500, 3500).await.unwrap(), "expired: b takes it");
        assert!(!index.try_lease("sweep", "a", 2600, 3600).await.unwrap());
        index.close().await;
    }
}
