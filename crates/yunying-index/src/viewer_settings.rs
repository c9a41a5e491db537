//! The viewer's settings that administrators edit (migration 32): one
//! JSON body by name (`hanging-protocols`), who set it and when. The
//! rules of each body are its library's (`yunying-hanging`).

use crate::{Index, Result};

/// One stored setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSetting {
    pub body: String,
    pub updated_ms: i64,
    pub updated_by: String,
}

impl Index {
    /// The setting `name`, if one was stored.
    pub async fn viewer_setting(&self, name: &str) -> Result<Option<ViewerSetting>> {
        let row: Option<(String, i64, String)> = sqlx::query_as("SELECT body, updated_ms, updated_by FROM viewer_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(body, updated_ms, updated_by)| ViewerSetting { body, updated_ms, updated_by }))
    }

    /// Replace the setting `name`.
    pub async fn set_viewer_setting(&self, name: &str, setting: &ViewerSetting) -> Result<()> {
        sqlx::query(
            "INSERT INTO viewer_settings (name, body, updated_ms, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
        )
        .bind(name)
        .bind(&setting.body)
        .bind(setting.updated_ms)
        .bind(&setting.updated_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove the setting `name` (its defaults apply again); whether there was one.
    pub async fn remove_viewer_setting(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM viewer_settings WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }
}
