//! The two writes that take instances out of the archive, run by the
//! writer task in its transaction (so the series cache and aggregates
//! stay right): hiding rejected instances (IOCM), and executing an
//! approved deletion.
//!
//! Neither deletes an object. Rows go, and in the same transaction every
//! object key they held is recorded, either as withheld (a rejected
//! instance whose deletion is not decided yet) or in the purge queue (the
//! store still has to delete it). So no committed row ever names a missing
//! object, and no object is forgotten: a crash leaves the queue, which the
//! next purge run drains (store deletes are idempotent).

use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::retention::{DeletionTarget, insert_request, is_held, targets_of};
use crate::writer::{refresh_study_series, remove_instance};
use crate::{DeletionRequestRow, ExecuteOutcome, Result};

/// Hide the named instances of `request.institution` and record the
/// request naming those hidden (none hidden: no request).
pub(crate) async fn reject(tx: &mut Transaction<'static, Any>, request: &DeletionRequestRow, sops: &[String]) -> Result<Vec<String>> {
    let mut hidden = Vec::new();
    let mut targets = Vec::new();
    for sop in sops {
        let row: Option<(i64, i64, String, String, String, String)> = sqlx::query_as(
            "SELECT i.id, i.series_pk, i.issuer, i.object_key, st.study_instance_uid, se.series_instance_uid
             FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk WHERE i.sop_instance_uid = $1",
        )
        .bind(sop)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((id, series_pk, issuer, key, study, series)) = row else { continue };
        if issuer != request.institution {
            continue;
        }
        let mut keys: Vec<String> =
            sqlx::query_scalar("SELECT object_key FROM renditions WHERE instance_pk = $1").bind(id).fetch_all(&mut **tx).await?;
        keys.push(key);
        for key in keys {
            sqlx::query(
                "INSERT INTO withheld_objects (object_key, request_id, study_instance_uid, sop_instance_uid) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(&key)
            .bind(&request.request_id)
            .bind(&study)
            .bind(sop)
            .execute(&mut **tx)
            .await?;
        }
        remove_instance(tx, id, series_pk).await?;
        targets.push(DeletionTarget { study_instance_uid: study, series_instance_uid: series, sop_instance_uid: sop.clone() });
        hidden.push(sop.clone());
    }
    if !hidden.is_empty() {
        let request = DeletionRequestRow { targets, ..request.clone() };
        insert_request(tx, &request).await?;
    }
    Ok(hidden)
}

/// Execute an approved request (see [`crate::Index::execute_deletion`]).
pub(crate) async fn execute(tx: &mut Transaction<'static, Any>, request_id: &str, now_ms: i64) -> Result<ExecuteOutcome> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM deletion_requests WHERE request_id = $1").bind(request_id).fetch_optional(&mut **tx).await?;
    if state.as_deref() != Some("approved") {
        return Ok(ExecuteOutcome::NotApproved);
    }
    let targets = targets_of(tx, request_id).await?;
    let mut studies: Vec<String> = targets.iter().map(|t| t.study_instance_uid.clone()).collect();
    studies.dedup();
    let mut held = Vec::new();
    for study in &studies {
        if is_held(tx, study).await? {
            held.push(study.clone());
        }
    }
    if !held.is_empty() {
        sqlx::query("UPDATE deletion_requests SET state = 'blocked', note = $2 WHERE request_id = $1")
            .bind(request_id)
            .bind(format!("not executed: {} studies under legal hold", held.len()))
            .execute(&mut **tx)
            .await?;
        return Ok(ExecuteOutcome::Blocked { held });
    }

    let mut objects = 0;
    for t in targets.iter().filter(|t| t.sop_instance_uid.is_empty()) {
        let study: Option<(i64, i64)> = sqlx::query_as("SELECT id, patient_pk FROM studies WHERE study_instance_uid = $1")
            .bind(&t.study_instance_uid)
            .fetch_optional(&mut **tx)
            .await?;
        let Some((study_pk, patient_pk)) = study else { continue };
        if t.series_instance_uid.is_empty() {
            objects +=
                drop_instances(tx, "i.series_pk IN (SELECT id FROM series WHERE study_pk = $1)", study_pk, request_id, now_ms).await?;
            sqlx::query("DELETE FROM series WHERE study_pk = $1").bind(study_pk).execute(&mut **tx).await?;
            sqlx::query("DELETE FROM studies WHERE id = $1").bind(study_pk).execute(&mut **tx).await?;
        } else {
            let series_pk: Option<i64> = sqlx::query_scalar("SELECT id FROM series WHERE series_instance_uid = $1 AND study_pk = $2")
                .bind(&t.series_instance_uid)
                .bind(study_pk)
                .fetch_optional(&mut **tx)
                .await?;
            let Some(series_pk) = series_pk else { continue };
            objects += drop_instances(tx, "i.series_pk = $1", series_pk, request_id, now_ms).await?;
            sqlx::query("DELETE FROM series WHERE id = $1").bind(series_pk).execute(&mut **tx).await?;
            refresh_study_series(tx, study_pk).await?;
            sqlx::query(
                "UPDATE studies SET num_instances = (SELECT COALESCE(SUM(num_instances), 0) FROM series WHERE study_pk = $1) WHERE id = $1",
            )
            .bind(study_pk)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM studies WHERE id = $1 AND num_series = 0").bind(study_pk).execute(&mut **tx).await?;
        }
        sqlx::query("DELETE FROM patients WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM studies WHERE patient_pk = $1)")
            .bind(patient_pk)
            .execute(&mut **tx)
            .await?;
    }
    // Rejected instances: their rows went when they were hidden.
    let withheld = sqlx::query(
        "INSERT INTO purge_queue (object_key, request_id, queued_ms) SELECT object_key, request_id, $2 FROM withheld_objects
         WHERE request_id = $1 ON CONFLICT (object_key) DO NOTHING",
    )
    .bind(request_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    objects += withheld.rows_affected();
    sqlx::query("DELETE FROM withheld_objects WHERE request_id = $1").bind(request_id).execute(&mut **tx).await?;
    sqlx::query("UPDATE deletion_requests SET state = 'executed', executed_ms = $2 WHERE request_id = $1")
        .bind(request_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(ExecuteOutcome::Executed { studies, objects })
}

/// Queue the objects of the instances matching `which` (a condition on
/// `i` with `$1` = `pk`), then delete their rows. Returns the keys queued.
async fn drop_instances(tx: &mut Transaction<'static, Any>, which: &'static str, pk: i64, request_id: &str, now_ms: i64) -> Result<u64> {
    let mut queued = 0;
    for select in [
        format!("SELECT i.object_key, $2, $3 FROM instances i WHERE {which}"),
        format!("SELECT r.object_key, $2, $3 FROM renditions r JOIN instances i ON i.id = r.instance_pk WHERE {which}"),
    ] {
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO purge_queue (object_key, request_id, queued_ms) {select} ON CONFLICT (object_key) DO NOTHING"
        )))
        .bind(pk)
        .bind(request_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        queued += done.rows_affected();
    }
    for table in ["renditions", "rendition_jobs", "instance_data"] {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE instance_pk IN (SELECT i.id FROM instances i WHERE {which})")))
            .bind(pk)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(AssertSqlSafe(format!("DELETE FROM instances WHERE id IN (SELECT i.id FROM instances i WHERE {which})")))
        .bind(pk)
        .execute(&mut **tx)
        .await?;
    Ok(queued)
}
