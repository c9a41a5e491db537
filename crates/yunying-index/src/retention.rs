//! Retention records: the policy table, a study's patient class, legal
//! holds, deletion requests (two people: one asks, another decides) and
//! the purge queue. The rules (who may, what is expired) are the
//! retention crate's; this module stores and reads rows. The two writes
//! that change what exists (hiding rejected instances, executing a
//! deletion) go through the writer task (`purge.rs`).

use serde::Serialize;
use sqlx::AnyConnection;

use crate::{Index, Result};

/// A row of the retention policy table: `institution` (an issuer, or `*`)
/// and `patient_class` (`outpatient`, `inpatient`, `unknown`) keep studies
/// `keep_years`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRow {
    pub institution: String,
    pub patient_class: String,
    pub keep_years: i64,
    pub set_by: String,
    pub set_ms: i64,
}

/// A legal hold on a patient (`issuer` + `patient_id`) or on one study
/// (`study_instance_uid`, with its issuer). In force while `lifted_ms` is
/// unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldRow {
    pub hold_id: String,
    pub issuer: String,
    /// Empty for a study hold. Patient data: never logged.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub patient_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub study_instance_uid: String,
    pub reason: String,
    pub set_by: String,
    pub set_ms: i64,
    pub lifted_by: Option<String>,
    pub lifted_ms: Option<i64>,
}

/// What a deletion request names: a study, a series of it, or one
/// instance (a rejected one, already withheld).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionTarget {
    pub study_instance_uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub series_instance_uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sop_instance_uid: String,
}

/// A deletion request. `origin`: `manual`, `policy` (a retention run) or
/// `iocm` (a rejection note). `state`: `pending`, `approved`, `refused`,
/// `expired`, `executed`, `blocked` (a legal hold stopped it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionRequestRow {
    pub request_id: String,
    pub origin: String,
    /// The issuer every target belongs to.
    pub institution: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_ms: i64,
    pub expires_ms: i64,
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    pub note: String,
    pub executed_ms: Option<i64>,
    pub targets: Vec<DeletionTarget>,
}

type RequestTuple = (String, String, String, String, String, i64, i64, String, Option<String>, Option<i64>, String, Option<i64>);

const REQUEST_COLUMNS: &str = "request_id, origin, institution, reason, requested_by, requested_ms, expires_ms, state, decided_by, \
                               decided_ms, note, executed_ms";

fn request_of(t: RequestTuple) -> DeletionRequestRow {
    let (request_id, origin, institution, reason, requested_by, requested_ms, expires_ms, state, decided_by, decided_ms, note, executed_ms) =
        t;
    DeletionRequestRow {
        request_id,
        origin,
        institution,
        reason,
        requested_by,
        requested_ms,
        expires_ms,
        state,
        decided_by,
        decided_ms,
        note,
        executed_ms,
        targets: Vec::new(),
    }
}

/// What executing a deletion request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecuteOutcome {
    /// Rows deleted; `objects` keys entered the purge queue.
    Executed { studies: Vec<String>, objects: u64 },
    /// A study it names is under legal hold: nothing changed.
    Blocked { held: Vec<String> },
    /// Not (or no longer) approved: nothing changed.
    NotApproved,
}

/// A study as a retention run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCandidate {
    pub pk: i64,
    pub study_instance_uid: String,
    pub issuer: String,
    /// `''` (unknown), `outpatient` or `inpatient`.
    pub patient_class: String,
    pub study_date: String,
    /// When its first instance arrived (the age when StudyDate is unusable).
    pub first_received_ms: Option<i64>,
}

type HoldTuple = (String, String, String, String, String, String, i64, Option<String>, Option<i64>);

fn hold_of(t: HoldTuple) -> HoldRow {
    let (hold_id, issuer, patient_id, study_instance_uid, reason, set_by, set_ms, lifted_by, lifted_ms) = t;
    HoldRow { hold_id, issuer, patient_id, study_instance_uid, reason, set_by, set_ms, lifted_by, lifted_ms }
}

/// The targets of a request, in order.
pub(crate) async fn targets_of(conn: &mut AnyConnection, request_id: &str) -> Result<Vec<DeletionTarget>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT study_instance_uid, series_instance_uid, sop_instance_uid FROM deletion_targets WHERE request_id = $1
         ORDER BY study_instance_uid, series_instance_uid, sop_instance_uid",
    )
    .bind(request_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(study_instance_uid, series_instance_uid, sop_instance_uid)| DeletionTarget {
            study_instance_uid,
            series_instance_uid,
            sop_instance_uid,
        })
        .collect())
}

/// Whether a study is under a legal hold in force (its own, or its
/// patient's).
pub(crate) async fn is_held(conn: &mut AnyConnection, study_instance_uid: &str) -> Result<bool> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM legal_holds h WHERE h.lifted_ms IS NULL AND (h.study_instance_uid = $1 OR (h.patient_id <> '' AND EXISTS (
           SELECT 1 FROM studies st JOIN patients p ON p.id = st.patient_pk
           WHERE st.study_instance_uid = $1 AND p.issuer = h.issuer AND p.patient_id = h.patient_id))) LIMIT 1",
    )
    .bind(study_instance_uid)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(held.is_some())
}

/// Insert a request and its targets.
pub(crate) async fn insert_request(conn: &mut AnyConnection, r: &DeletionRequestRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO deletion_requests (request_id, origin, institution, reason, requested_by, requested_ms, expires_ms, state, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.request_id)
    .bind(&r.origin)
    .bind(&r.institution)
    .bind(&r.reason)
    .bind(&r.requested_by)
    .bind(r.requested_ms)
    .bind(r.expires_ms)
    .bind(&r.state)
    .bind(&r.note)
    .execute(&mut *conn)
    .await?;
    for t in &r.targets {
        sqlx::query(
            "INSERT INTO deletion_targets (request_id, study_instance_uid, series_instance_uid, sop_instance_uid) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.request_id)
        .bind(&t.study_instance_uid)
        .bind(&t.series_instance_uid)
        .bind(&t.sop_instance_uid)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Index {
    /// Set (insert or replace) a policy row.
    pub async fn set_retention_policy(&self, row: &PolicyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO retention_policies (institution, patient_class, keep_years, set_by, set_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (institution, patient_class) DO UPDATE SET keep_years = excluded.keep_years, set_by = excluded.set_by,
               set_ms = excluded.set_ms",
        )
        .bind(&row.institution)
        .bind(&row.patient_class)
        .bind(row.keep_years)
        .bind(&row.set_by)
        .bind(row.set_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove a policy row; false if there was none.
    pub async fn remove_retention_policy(&self, institution: &str, patient_class: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM retention_policies WHERE institution = $1 AND patient_class = $2")
            .bind(institution)
            .bind(patient_class)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every policy row.
    pub async fn retention_policies(&self) -> Result<Vec<PolicyRow>> {
        let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT institution, patient_class, keep_years, set_by, set_ms FROM retention_policies ORDER BY institution, patient_class",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(institution, patient_class, keep_years, set_by, set_ms)| PolicyRow {
                institution,
                patient_class,
                keep_years,
                set_by,
                set_ms,
            })
            .collect())
    }

    /// Set a study's patient class (`''`, `outpatient`, `inpatient`); false
    /// if there is no such study.
    pub async fn set_study_class(&self, study_instance_uid: &str, patient_class: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE studies SET patient_class = $2 WHERE study_instance_uid = $1")
            .bind(study_instance_uid)
            .bind(patient_class)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A study's issuer, Patient ID and patient class.
    pub async fn study_facts(&self, study_instance_uid: &str) -> Result<Option<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT p.issuer, p.patient_id, st.patient_class FROM studies st JOIN patients p ON p.id = st.patient_pk
             WHERE st.study_instance_uid = $1",
        )
        .bind(study_instance_uid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A series' study and issuer.
    pub async fn series_facts(&self, series_instance_uid: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT st.study_instance_uid, st.issuer FROM series se JOIN studies st ON st.id = se.study_pk WHERE se.series_instance_uid = $1",
        )
        .bind(series_instance_uid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Record a legal hold.
    pub async fn add_hold(&self, hold: &HoldRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO legal_holds (hold_id, issuer, patient_id, study_instance_uid, reason, set_by, set_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&hold.hold_id)
        .bind(&hold.issuer)
        .bind(&hold.patient_id)
        .bind(&hold.study_instance_uid)
        .bind(&hold.reason)
        .bind(&hold.set_by)
        .bind(hold.set_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lift a hold in force; false if none such.
    pub async fn lift_hold(&self, hold_id: &str, by: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE legal_holds SET lifted_by = $2, lifted_ms = $3 WHERE hold_id = $1 AND lifted_ms IS NULL")
            .bind(hold_id)
            .bind(by)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One hold.
    pub async fn hold(&self, hold_id: &str) -> Result<Option<HoldRow>> {
        let row: Option<HoldTuple> = sqlx::query_as(
            "SELECT hold_id, issuer, patient_id, study_instance_uid, reason, set_by, set_ms, lifted_by, lifted_ms
             FROM legal_holds WHERE hold_id = $1",
        )
        .bind(hold_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(hold_of))
    }

    /// Holds, newest first (in force only, or all), of one issuer or all.
    pub async fn holds(&self, in_force_only: bool, issuer: Option<&str>, limit: i64) -> Result<Vec<HoldRow>> {
        let rows: Vec<HoldTuple> = sqlx::query_as(
            "SELECT hold_id, issuer, patient_id, study_instance_uid, reason, set_by, set_ms, lifted_by, lifted_ms FROM legal_holds
             WHERE ($1 = 0 OR lifted_ms IS NULL) AND ($2 = '' OR issuer = $2) ORDER BY set_ms DESC, hold_id LIMIT $3",
        )
        .bind(in_force_only as i64)
        .bind(issuer.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(hold_of).collect())
    }

    /// Whether a study is under a legal hold in force.
    pub async fn is_held(&self, study_instance_uid: &str) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        is_held(&mut conn, study_instance_uid).await
    }

    /// Record a new deletion request with its targets.
    pub async fn create_deletion_request(&self, request: &DeletionRequestRow) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        insert_request(&mut tx, request).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One deletion request with its targets.
    pub async fn deletion_request(&self, request_id: &str) -> Result<Option<DeletionRequestRow>> {
        let row: Option<RequestTuple> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM deletion_requests WHERE request_id = $1")))
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let mut request = request_of(row);
        request.targets = self.request_targets(request_id).await?;
        Ok(Some(request))
    }

    async fn request_targets(&self, request_id: &str) -> Result<Vec<DeletionTarget>> {
        let mut conn = self.pool.acquire().await?;
        targets_of(&mut conn, request_id).await
    }

    /// Deletion requests, newest first: in one state or any, of one issuer
    /// or all.
    pub async fn deletion_requests(&self, state: Option<&str>, institution: Option<&str>, limit: i64) -> Result<Vec<DeletionRequestRow>> {
        let rows: Vec<RequestTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM deletion_requests WHERE ($1 = '' OR state = $1) AND ($2 = '' OR institution = $2)
             ORDER BY requested_ms DESC, request_id LIMIT $3"
        )))
        .bind(state.unwrap_or(""))
        .bind(institution.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut r = request_of(row);
            r.targets = self.request_targets(&r.request_id).await?;
            out.push(r);
        }
        Ok(out)
    }

    /// Decide a pending, unexpired request (`approved` or `refused`); false
    /// if it is not pending any more (decided by someone else, expired).
    pub async fn decide_deletion(&self, request_id: &str, state: &str, by: &str, now_ms: i64, note: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE deletion_requests SET state = $2, decided_by = $3, decided_ms = $4, note = $5
             WHERE request_id = $1 AND state = 'pending' AND expires_ms > $4",
        )
        .bind(request_id)
        .bind(state)
        .bind(by)
        .bind(now_ms)
        .bind(note)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Mark pending requests past their expiry `expired`; their ids.
    pub async fn expire_deletion_requests(&self, now_ms: i64) -> Result<Vec<String>> {
        let due: Vec<String> =
            sqlx::query_scalar("SELECT request_id FROM deletion_requests WHERE state = 'pending' AND expires_ms <= $1 ORDER BY request_id")
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await?;
        let mut expired = Vec::new();
        for id in due {
            let done =
                sqlx::query("UPDATE deletion_requests SET state = 'expired', decided_ms = $2 WHERE request_id = $1 AND state = 'pending'")
                    .bind(&id)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
            if done.rows_affected() > 0 {
                expired.push(id);
            }
        }
        Ok(expired)
    }

    /// Approved requests not executed yet, oldest first.
    pub async fn approved_deletions(&self, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT request_id FROM deletion_requests WHERE state = 'approved' ORDER BY decided_ms, request_id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Whether a pending or approved request already names this study.
    pub async fn study_has_open_request(&self, study_instance_uid: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM deletion_targets t JOIN deletion_requests r ON r.request_id = t.request_id
             WHERE t.study_instance_uid = $1 AND r.state IN ('pending', 'approved') LIMIT 1",
        )
        .bind(study_instance_uid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Up to `limit` studies with a primary key above `after_pk`, in key
    /// order, with what their age and policy are computed from.
    pub async fn retention_candidates(&self, after_pk: i64, limit: i64) -> Result<Vec<RetentionCandidate>> {
        let rows: Vec<(i64, String, String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT st.id AS pk, st.study_instance_uid, st.issuer, st.patient_class, st.study_date,
               (SELECT MIN(i.received_at_ms) FROM series se JOIN instances i ON i.series_pk = se.id WHERE se.study_pk = st.id)
                 AS first_received_ms
             FROM studies st WHERE st.id > $1 ORDER BY st.id LIMIT $2",
        )
        .bind(after_pk)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(pk, study_instance_uid, issuer, patient_class, study_date, first_received_ms)| RetentionCandidate {
                pk,
                study_instance_uid,
                issuer,
                patient_class,
                study_date,
                first_received_ms,
            })
            .collect())
    }

    /// Up to `limit` keys the purge still has to delete from the store.
    pub async fn purge_queue(&self, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT object_key FROM purge_queue ORDER BY object_key LIMIT $1").bind(limit).fetch_all(&self.pool).await?)
    }

    /// An object of the purge queue is gone from the store.
    pub async fn purged(&self, object_key: &str) -> Result<()> {
        sqlx::query("DELETE FROM purge_queue WHERE object_key = $1").bind(object_key).execute(&self.pool).await?;
        Ok(())
    }

    /// Keys no instance row names that are not orphans: objects of
    /// rejected instances awaiting their deletion's decision, and objects
    /// queued for the purge. The sweep must neither adopt nor delete them.
    pub async fn retained_object_keys(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT object_key FROM withheld_objects UNION SELECT object_key FROM purge_queue")
            .fetch_all(&self.pool)
            .await?)
    }
}
