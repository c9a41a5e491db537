//! The AE registry: remote DICOM applications we open associations to
//! (C-MOVE destinations, storage commitment requesters), by AE title.
//!
//! It lives in the index so that every node of a cluster sees the same
//! registry and `yunying ae add` works while the server runs.

use crate::{Index, Result};

/// A remote application entity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteAe {
    pub ae_title: String,
    pub host: String,
    pub port: u16,
    /// Institution code the AE belongs to ('' when not set).
    pub institution: String,
}

impl Index {
    /// Add an AE, or replace the entry with the same title.
    pub async fn put_remote_ae(&self, ae: &RemoteAe) -> Result<()> {
        let now = time_now();
        sqlx::query(
            "INSERT INTO remote_aes (ae_title, host, port, institution, added_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (ae_title) DO UPDATE SET host = excluded.host, port = excluded.port,
                 institution = excluded.institution, added_at = excluded.added_at",
        )
        .bind(ae.ae_title.as_str())
        .bind(ae.host.as_str())
        .bind(ae.port as i64)
        .bind(ae.institution.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove an AE; false when there was none with that title.
    pub async fn remove_remote_ae(&self, ae_title: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM remote_aes WHERE ae_title = $1").bind(ae_title).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The AE registered under a title.
    pub async fn remote_ae(&self, ae_title: &str) -> Result<Option<RemoteAe>> {
        let row: Option<(String, String, i64, String)> =
            sqlx::query_as("SELECT ae_title, host, port, institution FROM remote_aes WHERE ae_title = $1")
                .bind(ae_title)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(into_ae))
    }

    /// Every registered AE, by title.
    pub async fn remote_aes(&self) -> Result<Vec<RemoteAe>> {
        let rows: Vec<(String, String, i64, String)> =
            sqlx::query_as("SELECT ae_title, host, port, institution FROM remote_aes ORDER BY ae_title")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(into_ae).collect())
    }
}

fn into_ae((ae_title, host, port, institution): (String, String, i64, String)) -> RemoteAe {
    RemoteAe { ae_title, host, port: port.clamp(0, u16::MAX as i64) as u16, institution }
}

fn time_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    secs.to_string()
}
