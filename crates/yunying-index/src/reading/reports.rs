//! Report versions of a reading request. Version 1 is the first report;
//! an amendment of a signed report is a new version, and the signed one
//! stays as it was (only its `is_current` mark moves).

use sqlx::{AssertSqlSafe, Row};

use crate::{Index, Result};

/// One version of a request's report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportRow {
    pub request_id: String,
    pub version: i64,
    pub is_current: bool,
    /// `draft`, `awaiting-review`, `signed`.
    pub state: String,
    /// The report's content (JSON, as `yunying-reading` defines it).
    pub body: String,
    /// Who wrote it (`person:…`) and their name as shown.
    pub author: String,
    pub author_name: String,
    /// Who reviewed and signed it ("" until signed, or the author).
    pub verifier: String,
    pub verifier_name: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub signed_ms: Option<i64>,
    /// Hex SM3 (or SHA-256) of the signed content, and its signature.
    pub content_digest: String,
    pub signature: String,
    /// The DICOM objects made of it (JSON: UIDs of the SR, PDF, KOS).
    pub objects: String,
    /// Why this version amends the last ("" for version 1).
    pub amend_reason: String,
}

const COLUMNS: &str = "request_id, version, is_current, state, body, author, author_name, verifier, verifier_name, created_ms, \
     updated_ms, signed_ms, content_digest, signature, objects, amend_reason";

fn from_row(row: &sqlx::any::AnyRow) -> std::result::Result<ReportRow, sqlx::Error> {
    Ok(ReportRow {
        request_id: row.try_get(0)?,
        version: row.try_get(1)?,
        is_current: row.try_get::<i64, _>(2)? != 0,
        state: row.try_get(3)?,
        body: row.try_get(4)?,
        author: row.try_get(5)?,
        author_name: row.try_get(6)?,
        verifier: row.try_get(7)?,
        verifier_name: row.try_get(8)?,
        created_ms: row.try_get(9)?,
        updated_ms: row.try_get(10)?,
        signed_ms: row.try_get(11)?,
        content_digest: row.try_get(12)?,
        signature: row.try_get(13)?,
        objects: row.try_get(14)?,
        amend_reason: row.try_get(15)?,
    })
}

impl Index {
    /// Every version of a request's report, oldest first.
    pub async fn reading_reports(&self, request_id: &str) -> Result<Vec<ReportRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM reading_reports WHERE request_id = $1 ORDER BY version")))
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<std::result::Result<_, _>>()?)
    }

    /// Start a new version (`version` = the last + 1, checked by the
    /// primary key): it becomes the current one. `false` when that
    /// version exists already (someone else started it).
    pub async fn insert_reading_report(&self, r: &ReportRow) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT version FROM reading_reports WHERE request_id = $1 AND version = $2")
            .bind(&r.request_id)
            .bind(r.version)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(false);
        }
        sqlx::query("UPDATE reading_reports SET is_current = 0 WHERE request_id = $1").bind(&r.request_id).execute(&mut *tx).await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO reading_reports ({COLUMNS}) VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        )))
        .bind(&r.request_id)
        .bind(r.version)
        .bind(&r.state)
        .bind(&r.body)
        .bind(&r.author)
        .bind(&r.author_name)
        .bind(&r.verifier)
        .bind(&r.verifier_name)
        .bind(r.created_ms)
        .bind(r.updated_ms)
        .bind(r.signed_ms)
        .bind(&r.content_digest)
        .bind(&r.signature)
        .bind(&r.objects)
        .bind(&r.amend_reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rewrite an unsigned version (its content, state, author) if it is
    /// in one of `from_states`; whether it was.
    pub async fn update_reading_report_draft(&self, r: &ReportRow, from_states: &[&str]) -> Result<bool> {
        let list: Vec<String> = (0..from_states.len()).map(|i| format!("${}", i + 8)).collect();
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "UPDATE reading_reports SET body = $1, state = $2, author = $3, author_name = $4, updated_ms = $5
             WHERE request_id = $6 AND version = $7 AND signed_ms IS NULL AND state IN ({})",
            list.join(",")
        )))
        .bind(&r.body)
        .bind(&r.state)
        .bind(&r.author)
        .bind(&r.author_name)
        .bind(r.updated_ms)
        .bind(&r.request_id)
        .bind(r.version);
        for s in from_states {
            q = q.bind(s.to_string());
        }
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// Sign a version that is not signed yet, in `from_state`, with the
    /// content it was read with (`body`); whether it was.
    pub async fn sign_reading_report(&self, r: &ReportRow, from_state: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE reading_reports SET state = 'signed', verifier = $1, verifier_name = $2, signed_ms = $3, updated_ms = $3,
                    content_digest = $4, signature = $5, objects = $6
             WHERE request_id = $7 AND version = $8 AND signed_ms IS NULL AND state = $9 AND body = $10",
        )
        .bind(&r.verifier)
        .bind(&r.verifier_name)
        .bind(r.signed_ms)
        .bind(&r.content_digest)
        .bind(&r.signature)
        .bind(&r.objects)
        .bind(&r.request_id)
        .bind(r.version)
        .bind(from_state)
        .bind(&r.body)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The DICOM objects (SOP Instance UIDs) of a study's signed reading
    /// reports that an amendment has replaced: kept in the archive, not
    /// shown as the study's report.
    pub async fn superseded_report_objects(&self, study_instance_uid: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT rr.objects FROM reading_reports rr JOIN reading_requests r ON r.request_id = rr.request_id
             WHERE r.study_instance_uid = $1 AND rr.signed_ms IS NOT NULL AND rr.version < r.report_version",
        )
        .bind(study_instance_uid)
        .fetch_all(&self.pool)
        .await?;
        let mut uids = Vec::new();
        for (objects,) in rows {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&objects) else { continue };
            for key in ["sr", "kos", "pdf"] {
                if let Some(uid) = v[key].as_str() {
                    uids.push(uid.to_string());
                }
            }
        }
        Ok(uids)
    }
}
