//! The single writer task: group commit of index writes.
//!
//! Requests queue on a channel. The task takes everything queued (up to
//! [`MAX_BATCH`]), applies it in one transaction, commits (one fsync in
//! SQLite's WAL), and only then answers each request. If the batch fails,
//! each request is retried alone so one bad record cannot fail the others.
//!
//! An insert may carry a [`Gate`]: its object is still being flushed. Its
//! statements run with the others', and the commit waits for every gate of
//! the batch; a gate that fails spoils the batch, which is then applied
//! request by request, without committing that one.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::matching::name_search;
use crate::schema::Dialect;
use crate::{DeletionRequestRow, DuplicatePolicy, ExecuteOutcome, IndexError, InsertOutcome, InstanceRecord, Result};

const MAX_BATCH: usize = 128;
/// Series remembered by the writer (series UID → (series pk, study pk)).
const MAX_CACHED_SERIES: usize = 10_000;

/// Primary keys of recently written series, so the instances of a series
/// being received skip the patient, study and series look-ups. Only the
/// writer touches these tables' keys, so the cache cannot go stale except
/// through a rolled-back transaction or a deleted series: both clear it.
type SeriesCache = HashMap<String, (i64, i64)>;

/// How long the writer waits for an object's flush before it gives up on
/// that row (the disk hangs): the other writes must not wait for ever.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The word that an insert's object is durable (or is not), awaited before
/// the row commits. Resolved once; a batch retried alone reads the same word.
pub(crate) struct Gate {
    rx: Option<oneshot::Receiver<std::result::Result<(), String>>>,
    word: Option<std::result::Result<(), String>>,
}

impl Gate {
    pub(crate) fn new(rx: oneshot::Receiver<std::result::Result<(), String>>) -> Gate {
        Gate { rx: Some(rx), word: None }
    }

    async fn wait(&mut self) -> std::result::Result<(), String> {
        if let Some(rx) = self.rx.take() {
            self.word = Some(match tokio::time::timeout(GATE_TIMEOUT, rx).await {
                Ok(Ok(word)) => word,
                Ok(Err(_)) => Err("the object's store gave no answer".into()),
                Err(_) => Err(format!("the object was not flushed within {} s", GATE_TIMEOUT.as_secs())),
            });
        }
        self.word.clone().expect("a gate waited for has its word")
    }
}

pub(crate) enum Request {
    Insert {
        record: Box<InstanceRecord>,
        policy: DuplicatePolicy,
        /// The object is still being flushed: commit only once it is.
        gate: Option<Gate>,
        reply: oneshot::Sender<Result<InsertOutcome>>,
    },
    Clear {
        reply: oneshot::Sender<Result<()>>,
    },
    Reject {
        request: Box<DeletionRequestRow>,
        sop_instance_uids: Vec<String>,
        reply: oneshot::Sender<Result<Vec<String>>>,
    },
    Execute {
        request_id: String,
        now_ms: i64,
        reply: oneshot::Sender<Result<ExecuteOutcome>>,
    },
    /// An audit event for the sequencer: committed with whatever else the
    /// batch holds, so concurrent events share one fsync.
    Audit {
        at_ms: i64,
        body: String,
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(crate) fn spawn(pool: AnyPool, dialect: Dialect) -> mpsc::Sender<Request> {
    let (tx, mut rx) = mpsc::channel::<Request>(1024);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut cache = SeriesCache::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            if cache.len() > MAX_CACHED_SERIES {
                cache.clear();
            }
            run_batch(&pool, dialect, std::mem::take(&mut batch), &mut cache).await;
        }
        pool.close().await;
    });
    tx
}

/// Wait for the gates of `requests` (all of them, even after one failed:
/// each request's word is needed when the batch is applied alone).
async fn gates_open(requests: &mut [Request]) -> Result<()> {
    let mut shut = None;
    for request in requests {
        if let Request::Insert { gate: Some(gate), .. } = request
            && let Err(why) = gate.wait().await
        {
            shut.get_or_insert(IndexError::ObjectNotDurable(why));
        }
    }
    shut.map_or(Ok(()), Err)
}

async fn run_batch(pool: &AnyPool, dialect: Dialect, mut batch: Vec<Request>, cache: &mut SeriesCache) {
    let together: Result<Vec<Outcome>> = async {
        let mut tx = dialect.begin_write(pool).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for request in &batch {
            outcomes.push(apply(&mut tx, request, cache).await?);
        }
        gates_open(&mut batch).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
    .await;
    if together.is_err() {
        cache.clear();
    }
    match together {
        Ok(outcomes) => {
            for (request, outcome) in batch.into_iter().zip(outcomes) {
                answer(request, Ok(outcome));
            }
        }
        Err(e) if batch.len() == 1 && !is_race(&e) => {
            for request in batch {
                answer(request, Err(clone_error(&e)));
            }
        }
        Err(_) => {
            // One request spoilt the batch, or another node committed the
            // same rows first: apply each request alone. A request that lost
            // a race to another writer (same SOP instance, study or series
            // created at the same moment) is applied again and now sees the
            // winner's rows, so two nodes end with one row.
            for mut request in batch {
                let mut attempt = 0;
                let alone = loop {
                    attempt += 1;
                    let result = async {
                        gates_open(std::slice::from_mut(&mut request)).await?;
                        let mut tx = dialect.begin_write(pool).await?;
                        let outcome = apply(&mut tx, &request, cache).await?;
                        tx.commit().await?;
                        Ok(outcome)
                    }
                    .await;
                    if result.is_err() {
                        cache.clear();
                    }
                    match result {
                        Err(e) if attempt < RACE_ATTEMPTS && is_race(&e) => continue,
                        other => break other,
                    }
                };
                answer(request, alone);
            }
        }
    }
}

/// How often a request that lost a race to another writer is applied again.
const RACE_ATTEMPTS: u32 = 5;

/// Errors another writer's concurrent commit causes, which applying the same
/// request again resolves: unique violation, serialization failure, deadlock
/// (PostgreSQL SQLSTATEs; SQLite has one writer and never races).
fn is_race(e: &IndexError) -> bool {
    match e {
        IndexError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("23505") | Some("40001") | Some("40P01"))
        }
        _ => false,
    }
}

enum Outcome {
    Insert(InsertOutcome),
    Clear,
    Reject(Vec<String>),
    Execute(ExecuteOutcome),
    Audit,
}

fn answer(request: Request, result: Result<Outcome>) {
    match (request, result) {
        (Request::Insert { reply, .. }, Ok(Outcome::Insert(o))) => drop(reply.send(Ok(o))),
        (Request::Clear { reply }, Ok(Outcome::Clear)) => drop(reply.send(Ok(()))),
        (Request::Reject { reply, .. }, Ok(Outcome::Reject(o))) => drop(reply.send(Ok(o))),
        (Request::Execute { reply, .. }, Ok(Outcome::Execute(o))) => drop(reply.send(Ok(o))),
        (Request::Audit { reply, .. }, Ok(Outcome::Audit)) => drop(reply.send(Ok(()))),
        (Request::Audit { reply, .. }, Err(e)) => drop(reply.send(Err(e))),
        (Request::Insert { reply, .. }, Err(e)) => drop(reply.send(Err(e))),
        (Request::Clear { reply }, Err(e)) => drop(reply.send(Err(e))),
        (Request::Reject { reply, .. }, Err(e)) => drop(reply.send(Err(e))),
        (Request::Execute { reply, .. }, Err(e)) => drop(reply.send(Err(e))),
        _ => unreachable!("outcome kind always matches request kind"),
    }
}

fn clone_error(e: &IndexError) -> IndexError {
    match e {
        IndexError::Conflict(m) => IndexError::Conflict(m.clone()),
        IndexError::ObjectNotDurable(m) => IndexError::ObjectNotDurable(m.clone()),
        e if e.is_storage_full() => IndexError::Full(e.to_string()),
        _ => IndexError::Database(sqlx::Error::Protocol(e.to_string())),
    }
}

async fn apply(tx: &mut Transaction<'static, Any>, request: &Request, cache: &mut SeriesCache) -> Result<Outcome> {
    match request {
        Request::Insert { record, policy, .. } => Ok(Outcome::Insert(insert(tx, record, *policy, cache).await?)),
        Request::Audit { at_ms, body, .. } => {
            sqlx::query("INSERT INTO audit_pending (at_ms, body) VALUES ($1, $2)")
                .bind(*at_ms)
                .bind(body.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(Outcome::Audit)
        }
        Request::Clear { .. } => {
            cache.clear();
            for statement in [
                "DELETE FROM renditions",
                "DELETE FROM rendition_jobs",
                "DELETE FROM instance_data",
                "DELETE FROM instances",
                "DELETE FROM series",
                "DELETE FROM studies",
                "DELETE FROM patients",
            ] {
                sqlx::query(statement).execute(&mut **tx).await?;
            }
            Ok(Outcome::Clear)
        }
        Request::Reject { request, sop_instance_uids, .. } => {
            // Rows go: a cached series may be gone with them.
            cache.clear();
            Ok(Outcome::Reject(crate::purge::reject(tx, request, sop_instance_uids).await?))
        }
        Request::Execute { request_id, now_ms, .. } => {
            cache.clear();
            Ok(Outcome::Execute(crate::purge::execute(tx, request_id, *now_ms).await?))
        }
    }
}

async fn insert(
    tx: &mut Transaction<'static, Any>,
    r: &InstanceRecord,
    policy: DuplicatePolicy,
    cache: &mut SeriesCache,
) -> Result<InsertOutcome> {
    let existing: Option<(i64, String, i64, String)> =
        sqlx::query_as("SELECT id, object_key, series_pk, issuer FROM instances WHERE sop_instance_uid = $1")
            .bind(&r.sop_instance_uid)
            .fetch_optional(&mut **tx)
            .await?;
    let mut outcome = InsertOutcome::Inserted;
    if let Some((id, existing_key, series_pk, issuer)) = existing {
        if issuer != r.issuer {
            return Err(IndexError::Conflict(format!("SOP Instance UID {} is another institution's instance", r.sop_instance_uid)));
        }
        match policy {
            DuplicatePolicy::KeepFirst => return Ok(InsertOutcome::KeptExisting { existing_key }),
            DuplicatePolicy::Replace => {
                cache.clear();
                remove_instance(tx, id, series_pk).await?;
                outcome = InsertOutcome::Replaced { old_key: existing_key };
            }
        }
    }

    // Keyed by issuer too: a series resolved for one institution says
    // nothing of another's claim to it.
    let cache_key = format!("{}\u{0}{}", r.issuer, r.series_instance_uid);
    let (series_pk, study_pk) = match cache.get(&cache_key) {
        Some(&pks) => pks,
        None => {
            let pks = resolve_series(tx, r).await?;
            cache.insert(cache_key, pks);
            pks
        }
    };

    if !r.patient_class.is_empty() {
        // The first hint sets the class; one set by a person is kept.
        sqlx::query("UPDATE studies SET patient_class = $2 WHERE id = $1 AND patient_class = ''")
            .bind(study_pk)
            .bind(&r.patient_class)
            .execute(&mut **tx)
            .await?;
    }

    let instance_pk: i64 = sqlx::query_scalar(
        "INSERT INTO instances (series_pk, sop_instance_uid, sop_class_uid, instance_number, number_of_frames,
           rows_, columns_, content_date, content_time, specific_character_set, transfer_syntax_uid, calling_ae,
           issuer, received_at_ms, size_bytes, digest, object_key, sm3)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
    )
    .bind(series_pk)
    .bind(&r.sop_instance_uid)
    .bind(&r.sop_class_uid)
    .bind(r.instance_number)
    .bind(r.number_of_frames)
    .bind(r.rows)
    .bind(r.columns)
    .bind(&r.content_date)
    .bind(&r.content_time)
    .bind(&r.specific_character_set)
    .bind(&r.transfer_syntax_uid)
    .bind(&r.calling_ae)
    .bind(&r.issuer)
    .bind(r.received_at_ms)
    .bind(r.size_bytes)
    .bind(&r.digest)
    .bind(&r.object_key)
    .bind(&r.sm3)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO instance_data (instance_pk, metadata, pixel_layout) VALUES ($1, $2, $3)")
        .bind(instance_pk)
        .bind(&r.metadata)
        .bind(&r.pixel_layout)
        .execute(&mut **tx)
        .await?;

    if r.rows.is_some() && r.columns.is_some() {
        // Its renditions: queued in the same transaction as the row.
        sqlx::query("INSERT INTO rendition_jobs (instance_pk, enqueued_ms) VALUES ($1, $2)")
            .bind(instance_pk)
            .bind(r.received_at_ms)
            .execute(&mut **tx)
            .await?;
    }

    sqlx::query("UPDATE series SET num_instances = num_instances + 1 WHERE id = $1").bind(series_pk).execute(&mut **tx).await?;
    sqlx::query("UPDATE studies SET num_instances = num_instances + 1, updated_at_ms = $2 WHERE id = $1")
        .bind(study_pk)
        .bind(r.received_at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(outcome)
}

/// Find or create the patient, study and series rows of an instance:
/// (series pk, study pk).
async fn resolve_series(tx: &mut Transaction<'static, Any>, r: &InstanceRecord) -> Result<(i64, i64)> {
    let name = name_search(&r.patient_name);
    let patient_pk: i64 = sqlx::query_scalar(
        "INSERT INTO patients (issuer, patient_id, patient_name, patient_birth_date, patient_sex,
           name_alphabetic, name_ideographic, name_phonetic, name_words)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (issuer, patient_id) DO UPDATE SET
           patient_name = excluded.patient_name,
           patient_birth_date = excluded.patient_birth_date,
           patient_sex = excluded.patient_sex,
           name_alphabetic = excluded.name_alphabetic,
           name_ideographic = excluded.name_ideographic,
           name_phonetic = excluded.name_phonetic,
           name_words = excluded.name_words
         RETURNING id",
    )
    .bind(&r.issuer)
    .bind(&r.patient_id)
    .bind(&r.patient_name)
    .bind(&r.patient_birth_date)
    .bind(&r.patient_sex)
    .bind(name.alphabetic)
    .bind(name.ideographic)
    .bind(name.phonetic)
    .bind(name.words)
    .fetch_one(&mut **tx)
    .await?;

    let study: Option<(i64, String)> =
        sqlx::query_as("SELECT st.id, p.issuer FROM studies st JOIN patients p ON p.id = st.patient_pk WHERE st.study_instance_uid = $1")
            .bind(&r.study_instance_uid)
            .fetch_optional(&mut **tx)
            .await?;
    let study_pk = match study {
        Some((_, issuer)) if issuer != r.issuer => {
            return Err(IndexError::Conflict(format!("study {} is another institution's", r.study_instance_uid)));
        }
        Some((pk, _)) => pk,
        None => {
            let referring = name_search(&r.referring_physician_name);
            sqlx::query_scalar(
                "INSERT INTO studies (patient_pk, study_instance_uid, study_date, study_time, accession_number,
                   study_id, study_description, referring_physician_name, institution_name, issuer, updated_at_ms,
                   referring_alphabetic, referring_ideographic, referring_phonetic, referring_words)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
            )
            .bind(patient_pk)
            .bind(&r.study_instance_uid)
            .bind(&r.study_date)
            .bind(&r.study_time)
            .bind(&r.accession_number)
            .bind(&r.study_id)
            .bind(&r.study_description)
            .bind(&r.referring_physician_name)
            .bind(&r.institution_name)
            .bind(&r.issuer)
            .bind(r.received_at_ms)
            .bind(referring.alphabetic)
            .bind(referring.ideographic)
            .bind(referring.phonetic)
            .bind(referring.words)
            .fetch_one(&mut **tx)
            .await?
        }
    };

    let series: Option<(i64, String)> = sqlx::query_as(
        "SELECT se.id, p.issuer FROM series se JOIN studies st ON st.id = se.study_pk JOIN patients p ON p.id = st.patient_pk
         WHERE se.series_instance_uid = $1",
    )
    .bind(&r.series_instance_uid)
    .fetch_optional(&mut **tx)
    .await?;
    let series_pk = match series {
        Some((_, issuer)) if issuer != r.issuer => {
            return Err(IndexError::Conflict(format!("series {} is another institution's", r.series_instance_uid)));
        }
        Some((pk, _)) => pk,
        None => {
            let pk: i64 = sqlx::query_scalar(
                "INSERT INTO series (study_pk, series_instance_uid, modality, series_number, series_description,
                   body_part_examined, series_date, series_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(study_pk)
            .bind(&r.series_instance_uid)
            .bind(&r.modality)
            .bind(r.series_number)
            .bind(&r.series_description)
            .bind(&r.body_part_examined)
            .bind(&r.series_date)
            .bind(&r.series_time)
            .fetch_one(&mut **tx)
            .await?;
            refresh_study_series(tx, study_pk).await?;
            pk
        }
    };
    Ok((series_pk, study_pk))
}

/// Delete an instance row, fixing the aggregates; drop its series (and
/// study) when it was the last one, so no empty level remains.
pub(crate) async fn remove_instance(tx: &mut Transaction<'static, Any>, id: i64, series_pk: i64) -> Result<()> {
    for table in ["renditions", "rendition_jobs", "instance_data"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE instance_pk = $1"))).bind(id).execute(&mut **tx).await?;
    }
    sqlx::query("DELETE FROM instances WHERE id = $1").bind(id).execute(&mut **tx).await?;
    let study_pk: i64 = sqlx::query_scalar("SELECT study_pk FROM series WHERE id = $1").bind(series_pk).fetch_one(&mut **tx).await?;
    sqlx::query("UPDATE series SET num_instances = num_instances - 1 WHERE id = $1").bind(series_pk).execute(&mut **tx).await?;
    sqlx::query("UPDATE studies SET num_instances = num_instances - 1 WHERE id = $1").bind(study_pk).execute(&mut **tx).await?;
    let deleted = sqlx::query("DELETE FROM series WHERE id = $1 AND num_instances = 0").bind(series_pk).execute(&mut **tx).await?;
    if deleted.rows_affected() > 0 {
        refresh_study_series(tx, study_pk).await?;
        sqlx::query("DELETE FROM studies WHERE id = $1 AND num_instances = 0").bind(study_pk).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Recompute a study's series count and Modalities in Study from its series.
pub(crate) async fn refresh_study_series(tx: &mut Transaction<'static, Any>, study_pk: i64) -> Result<()> {
    let modalities: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT modality FROM series WHERE study_pk = $1 AND modality <> '' ORDER BY modality")
            .bind(study_pk)
            .fetch_all(&mut **tx)
            .await?;
    sqlx::query(
        "UPDATE studies SET num_series = (SELECT COUNT(*) FROM series WHERE study_pk = $1), modalities_in_study = $2
         WHERE id = $1",
    )
    .bind(study_pk)
    .bind(modalities.join("\\"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
