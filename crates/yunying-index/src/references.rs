//! Which stored objects the index refers to, asked a batch at a time: the
//! walk over the object store behind `verify` and the sweep of
//! unreferenced objects lists a page of keys and asks about that page
//! only, so neither side is ever held whole in memory. Lookups go by SOP
//! Instance UID (unique index) or object key (primary keys of the retained
//! objects); the caller derives the UIDs from the key layout, which this
//! crate does not know. Also the key cursors (`key_cursors`) such a walk
//! resumes from.

use sqlx::AssertSqlSafe;

use crate::{Index, Result};

/// Values bound in one statement (SQLite looks a parameter's name up in a
/// list, so a statement's cost grows with the square of its parameters).
const CHUNK: usize = 200;

/// `$1, $2, …, $n`.
fn marks(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Index {
    /// Run `sql` (with `{marks}` for the list) for each chunk of `values`,
    /// collecting rows.
    async fn in_chunks<T>(&self, sql: &str, values: &[String]) -> Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut out = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let statement = sql.replace("{marks}", &marks(chunk.len()));
            let mut q = sqlx::query_as::<_, T>(AssertSqlSafe(statement));
            for v in chunk {
                q = q.bind(v.as_str());
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// (SOP Instance UID, object key) of each indexed instance among `sops`.
    pub async fn object_keys_of_instances(&self, sops: &[String]) -> Result<Vec<(String, String)>> {
        self.in_chunks("SELECT sop_instance_uid, object_key FROM instances WHERE sop_instance_uid IN ({marks})", sops).await
    }

    /// The recorded rendition keys of the indexed instances among `sops`.
    pub async fn rendition_keys_of_instances(&self, sops: &[String]) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = self
            .in_chunks(
                "SELECT r.object_key FROM renditions r JOIN instances i ON i.id = r.instance_pk WHERE i.sop_instance_uid IN ({marks})",
                sops,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Those of `keys` that no instance row names yet are not orphans:
    /// objects of rejected instances awaiting their deletion's decision,
    /// and objects queued for the purge (`retention.rs`).
    pub async fn retained_among(&self, keys: &[String]) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = self
            .in_chunks(
                "SELECT object_key FROM withheld_objects WHERE object_key IN ({marks})
                 UNION SELECT object_key FROM purge_queue WHERE object_key IN ({marks})",
                keys,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Those of `keys` an instance or rendition row names, by key. Neither
    /// column is indexed, so this reads the tables: only for the rare keys
    /// outside the layout, whose instance cannot be named.
    pub async fn rows_naming(&self, keys: &[String]) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = self
            .in_chunks(
                "SELECT object_key FROM instances WHERE object_key IN ({marks})
                 UNION SELECT object_key FROM renditions WHERE object_key IN ({marks})",
                keys,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The key cursor `name`: the last object key a pass over the store
    /// reached, or `None` (from the start).
    pub async fn key_cursor(&self, name: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM key_cursors WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
    }

    /// Move the key cursor `name` to `value`; `None` starts the next pass
    /// from the first key.
    pub async fn set_key_cursor(&self, name: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => {
                sqlx::query("INSERT INTO key_cursors (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                    .bind(name)
                    .bind(v)
                    .execute(&self.pool)
                    .await?
            }
            None => sqlx::query("DELETE FROM key_cursors WHERE name = $1").bind(name).execute(&self.pool).await?,
        };
        Ok(())
    }
}
