//! The patient index across institutions (EMPI): identities, the persons
//! they are linked into, the history of every move and the review queue.
//! The rules (what links to what) are `yunying-persons`'; this is storage.
//!
//! A move of identities between persons is an operation (`op`): one or
//! more `empi_history` rows that [`Index::empi_undo`] reverses together,
//! so an unmerge puts back exactly what a merge changed, and the studies
//! follow (they belong to identities, never to persons).

use sqlx::{Any, Transaction};

use crate::{Index, IndexError, Result};

/// One (issuer, Patient ID) identity as the EMPI keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityRow {
    pub id: i64,
    pub issuer: String,
    pub patient_id: String,
    /// The person it belongs to; `None` until the linker has decided.
    pub person: Option<i64>,
    /// DICOM PN form (`Wang^Wei=王^伟`).
    pub name: String,
    /// DICOM DA form, possibly partial or empty.
    pub birth_date: String,
    pub sex: String,
    /// Masked identifiers for display (`national-id:1101**********123X`),
    /// comma separated.
    pub ids_masked: String,
    /// Keyed digest of the phone number, hex ("" when none).
    pub phone_digest: String,
    pub address: String,
    /// Where it came from: `dicom`, `hl7`, `api`.
    pub source: String,
    /// How the linker decided (`national-id`, `score 23.1`, `review`, `new`).
    pub decision: String,
    pub updated_ms: i64,
}

/// A keyed identifier digest of an identity: kind (`national-id`,
/// `insurance-code`) and hex digest.
pub type DigestRow = (String, String);

/// A move of one identity in an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub id: i64,
    pub op: String,
    pub at_ms: i64,
    pub action: String,
    pub identity: i64,
    pub from_person: Option<i64>,
    pub to_person: Option<i64>,
    pub actor: String,
    pub detail: String,
    pub undone_by: Option<String>,
}

/// An open or decided review entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    pub id: i64,
    pub identity: i64,
    pub reason: String,
    /// JSON: the candidates (person, identity, score, explanation).
    pub candidates: String,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    pub decision: String,
    pub actor: String,
}

pub(crate) const IDENTITY_COLUMNS: &str =
    "id, issuer, patient_id, person_pk, name, birth_date, sex, ids_masked, phone_digest, address, source, decision, updated_ms";

pub(crate) type IdentityTuple = (i64, String, String, Option<i64>, String, String, String, String, String, String, String, String, i64);

pub(crate) fn identity(t: IdentityTuple) -> IdentityRow {
    IdentityRow {
        id: t.0,
        issuer: t.1,
        patient_id: t.2,
        person: t.3,
        name: t.4,
        birth_date: t.5,
        sex: t.6,
        ids_masked: t.7,
        phone_digest: t.8,
        address: t.9,
        source: t.10,
        decision: t.11,
        updated_ms: t.12,
    }
}

type ReviewTuple = (i64, i64, String, String, i64, Option<i64>, String, String);

type HistoryTuple = (i64, String, i64, String, i64, Option<i64>, Option<i64>, String, String, Option<String>);

fn history(t: HistoryTuple) -> HistoryRow {
    HistoryRow {
        id: t.0,
        op: t.1,
        at_ms: t.2,
        action: t.3,
        identity: t.4,
        from_person: t.5,
        to_person: t.6,
        actor: t.7,
        detail: t.8,
        undone_by: t.9,
    }
}

impl Index {
    /// The identity (issuer, Patient ID), if the EMPI has it.
    pub async fn empi_identity(&self, issuer: &str, patient_id: &str) -> Result<Option<IdentityRow>> {
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE issuer = $1 AND patient_id = $2");
        let row: Option<IdentityTuple> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(issuer).bind(patient_id).fetch_optional(&self.pool).await?;
        Ok(row.map(identity))
    }

    /// Identities by key.
    pub async fn empi_identity_by_id(&self, id: i64) -> Result<Option<IdentityRow>> {
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE id = $1");
        let row: Option<IdentityTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(identity))
    }

    /// Up to `limit` identities with a key above `after_id`, in key order,
    /// with their digests (loading the matcher; the linker's queue when
    /// `unlinked`).
    pub async fn empi_identities_page(&self, after_id: i64, limit: i64, unlinked: bool) -> Result<Vec<(IdentityRow, Vec<DigestRow>)>> {
        let filter = if unlinked { "AND person_pk IS NULL" } else { "" };
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE id > $1 {filter} ORDER BY id LIMIT $2");
        let rows: Vec<IdentityTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(after_id).bind(limit).fetch_all(&self.pool).await?;
        let Some(last) = rows.last().map(|r| r.0) else { return Ok(Vec::new()) };
        let first = rows[0].0;
        let digests: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT identity_pk, kind, digest FROM empi_identity_digests WHERE identity_pk >= $1 AND identity_pk <= $2 ORDER BY identity_pk",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut by_identity: std::collections::HashMap<i64, Vec<DigestRow>> = std::collections::HashMap::new();
        for (id, kind, digest) in digests {
            by_identity.entry(id).or_default().push((kind, digest));
        }
        Ok(rows.into_iter().map(identity).map(|r| (by_identity.remove(&r.id).unwrap_or_default(), r)).map(|(d, r)| (r, d)).collect())
    }

    /// Record an identity (new, or the fields of one already there: a
    /// registration update, where an empty field means "no change", as in
    /// HL7 v2), with its identifier digests. A new identity
    /// is unlinked (the linker's queue); an updated one keeps its person.
    /// Returns its key and whether it is new.
    pub async fn empi_put_identity(&self, row: &IdentityRow, digests: &[DigestRow]) -> Result<(i64, bool)> {
        // The write comes first, so the transaction holds the write lock
        // from its start (SQLite: a read upgraded to a write can fail
        // with "busy" at once, whatever the timeout).
        let mut tx = self.pool.begin().await?;
        let new = sqlx::query(
            "INSERT INTO empi_identities (issuer, patient_id, name, birth_date, sex, ids_masked, phone_digest, address, source,
             updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (issuer, patient_id) DO NOTHING",
        )
        .bind(&row.issuer)
        .bind(&row.patient_id)
        .bind(&row.name)
        .bind(&row.birth_date)
        .bind(&row.sex)
        .bind(&row.ids_masked)
        .bind(&row.phone_digest)
        .bind(&row.address)
        .bind(&row.source)
        .bind(row.updated_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let id: i64 = sqlx::query_scalar("SELECT id FROM empi_identities WHERE issuer = $1 AND patient_id = $2")
            .bind(&row.issuer)
            .bind(&row.patient_id)
            .fetch_one(&mut *tx)
            .await?;
        if !new {
            sqlx::query(
                "UPDATE empi_identities SET name = CASE WHEN $2 = '' THEN name ELSE $2 END,
                 birth_date = CASE WHEN $3 = '' THEN birth_date ELSE $3 END, sex = CASE WHEN $4 = '' THEN sex ELSE $4 END,
                 ids_masked = CASE WHEN $5 = '' THEN ids_masked ELSE $5 END,
                 phone_digest = CASE WHEN $6 = '' THEN phone_digest ELSE $6 END,
                 address = CASE WHEN $7 = '' THEN address ELSE $7 END, updated_ms = $8 WHERE id = $1",
            )
            .bind(id)
            .bind(&row.name)
            .bind(&row.birth_date)
            .bind(&row.sex)
            .bind(&row.ids_masked)
            .bind(&row.phone_digest)
            .bind(&row.address)
            .bind(row.updated_ms)
            .execute(&mut *tx)
            .await?;
        }
        for (kind, digest) in digests {
            let known: Option<i64> =
                sqlx::query_scalar("SELECT identity_pk FROM empi_identity_digests WHERE identity_pk = $1 AND kind = $2 AND digest = $3")
                    .bind(id)
                    .bind(kind)
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await?;
            if known.is_none() {
                sqlx::query("INSERT INTO empi_identity_digests (identity_pk, kind, digest) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(kind)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok((id, new))
    }

    /// A new, empty person.
    pub async fn empi_new_person(&self, now_ms: i64) -> Result<i64> {
        Ok(sqlx::query_scalar("INSERT INTO empi_persons (created_ms) VALUES ($1) RETURNING id").bind(now_ms).fetch_one(&self.pool).await?)
    }

    /// Move identities to persons as one operation `op` (a link, a merge,
    /// an unlink to a new person): each identity's person changes only if
    /// it is still `from` (else [`IndexError::Conflict`] and nothing
    /// changes); the history records every move.
    pub async fn empi_move(&self, op: &str, moves: &[Move], action: &str, actor: &str, detail: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        apply_moves(&mut tx, op, moves, action, actor, detail, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The moves of operation `op`, in order.
    pub async fn empi_operation(&self, op: &str) -> Result<Vec<HistoryRow>> {
        let rows: Vec<HistoryTuple> = sqlx::query_as(
            "SELECT id, op, at_ms, action, identity_pk, from_person, to_person, actor, detail, undone_by FROM empi_history
             WHERE op = $1 ORDER BY id",
        )
        .bind(op)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(history).collect())
    }

    /// Up to `limit` moves with a key above `after_id`, in key order (a
    /// linker following moves made by others).
    pub async fn empi_history_page(&self, after_id: i64, limit: i64) -> Result<Vec<HistoryRow>> {
        let rows: Vec<HistoryTuple> = sqlx::query_as(
            "SELECT id, op, at_ms, action, identity_pk, from_person, to_person, actor, detail, undone_by FROM empi_history
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(history).collect())
    }

    /// Every move of an identity, oldest first.
    pub async fn empi_history_of(&self, identity: i64) -> Result<Vec<HistoryRow>> {
        let rows: Vec<HistoryTuple> = sqlx::query_as(
            "SELECT id, op, at_ms, action, identity_pk, from_person, to_person, actor, detail, undone_by FROM empi_history
             WHERE identity_pk = $1 ORDER BY id",
        )
        .bind(identity)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(history).collect())
    }

    /// Undo operation `op` as operation `undo_op`: every identity it moved
    /// goes back where it was, if it has not moved since ([`IndexError::Conflict`]
    /// otherwise, and nothing changes). Returns the moves made.
    pub async fn empi_undo(&self, op: &str, undo_op: &str, actor: &str, now_ms: i64) -> Result<Vec<Move>> {
        // The write first (see `empi_put_identity`): mark the operation
        // undone; fewer rows marked than it has means it was undone before.
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query("UPDATE empi_history SET undone_by = $2 WHERE op = $1 AND undone_by IS NULL")
            .bind(op)
            .bind(undo_op)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let rows: Vec<HistoryTuple> = sqlx::query_as(
            "SELECT id, op, at_ms, action, identity_pk, from_person, to_person, actor, detail, undone_by FROM empi_history
             WHERE op = $1 ORDER BY id DESC",
        )
        .bind(op)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Err(IndexError::NotFound(format!("operation {op}")));
        }
        if marked as usize != rows.len() {
            return Err(IndexError::Conflict(format!("operation {op} was already undone")));
        }
        let moves: Vec<Move> =
            rows.into_iter().map(history).map(|h| Move { identity: h.identity, from: h.to_person, to: h.from_person }).collect();
        apply_moves(&mut tx, undo_op, &moves, "unmerge", actor, op, now_ms).await?;
        tx.commit().await?;
        Ok(moves)
    }

    /// The identities of a person, in key order.
    pub async fn empi_identities_of(&self, person: i64) -> Result<Vec<IdentityRow>> {
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM empi_identities WHERE person_pk = $1 ORDER BY id");
        let rows: Vec<IdentityTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(person).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(identity).collect())
    }

    /// The studies of every identity of a person: (study UID, issuer,
    /// Patient ID, study date, modalities, description), newest first.
    pub async fn empi_studies_of(&self, person: i64) -> Result<Vec<PersonStudy>> {
        let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT st.study_instance_uid, p.issuer, p.patient_id, st.study_date, st.modalities_in_study, st.study_description
             FROM empi_identities e JOIN patients p ON p.issuer = e.issuer AND p.patient_id = e.patient_id
             JOIN studies st ON st.patient_pk = p.id WHERE e.person_pk = $1 ORDER BY st.study_date DESC, st.id DESC",
        )
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| PersonStudy {
                study_instance_uid: r.0,
                issuer: r.1,
                patient_id: r.2,
                study_date: r.3,
                modalities: r.4,
                description: r.5,
            })
            .collect())
    }

    /// The patients of the index after `after` (their row id), `window` of
    /// them read, that have no EMPI identity yet (the linker's other
    /// queue): (issuer, Patient ID, name, birth date, sex, deflated DICOM
    /// JSON metadata of one of their instances); and the last row id read
    /// (`after` when none: the end). A cursor over the patients, so a round
    /// reads what is new, not the whole table.
    #[allow(clippy::type_complexity)]
    pub async fn empi_patients_without_identity(
        &self,
        after: i64,
        window: i64,
    ) -> Result<(Vec<(String, String, String, String, String, Vec<u8>)>, i64)> {
        let patients: Vec<(i64, String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT p.id, p.issuer, p.patient_id, p.patient_name, p.patient_birth_date, p.patient_sex,
                    CASE WHEN EXISTS (SELECT 1 FROM empi_identities e WHERE e.issuer = p.issuer AND e.patient_id = p.patient_id)
                         THEN 1 ELSE 0 END
             FROM patients p WHERE p.id > $1 ORDER BY p.id LIMIT $2",
        )
        .bind(after)
        .bind(window.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        let last = patients.last().map_or(after, |p| p.0);
        let mut out = Vec::new();
        for (pk, issuer, patient_id, name, birth, sex, _) in patients.into_iter().filter(|p| p.6 == 0) {
            let metadata: Option<Option<Vec<u8>>> = sqlx::query_scalar(
                "SELECT d.metadata FROM studies st JOIN series se ON se.study_pk = st.id JOIN instances i ON i.series_pk = se.id
                 JOIN instance_data d ON d.instance_pk = i.id WHERE st.patient_pk = $1 LIMIT 1",
            )
            .bind(pk)
            .fetch_optional(&self.pool)
            .await?;
            out.push((issuer, patient_id, name, birth, sex, metadata.flatten().unwrap_or_default()));
        }
        Ok((out, last))
    }

    /// Record the linker's decision for an unlinked identity: its person
    /// and how it was decided (one operation, `link`).
    pub async fn empi_link(&self, op: &str, identity: i64, person: i64, decision: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        apply_moves(&mut tx, op, &[Move { identity, from: None, to: Some(person) }], "link", "empi", decision, now_ms).await?;
        sqlx::query("UPDATE empi_identities SET decision = $2 WHERE id = $1").bind(identity).bind(decision).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Open a review entry.
    pub async fn empi_add_review(&self, identity: i64, reason: &str, candidates: &str, now_ms: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO empi_reviews (identity_pk, reason, candidates, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(identity)
        .bind(reason)
        .bind(candidates)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Review entries, the open ones only when `open`, newest first (at most `limit`).
    pub async fn empi_reviews(&self, open: bool, limit: i64) -> Result<Vec<ReviewRow>> {
        let filter = if open { "WHERE decided_ms IS NULL" } else { "" };
        let sql = format!(
            "SELECT id, identity_pk, reason, candidates, created_ms, decided_ms, decision, actor FROM empi_reviews {filter} ORDER BY id DESC LIMIT $1"
        );
        let rows: Vec<ReviewTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| ReviewRow {
                id: r.0,
                identity: r.1,
                reason: r.2,
                candidates: r.3,
                created_ms: r.4,
                decided_ms: r.5,
                decision: r.6,
                actor: r.7,
            })
            .collect())
    }

    /// Close an open review entry with a decision; false if it was not open.
    pub async fn empi_decide_review(&self, id: i64, decision: &str, actor: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE empi_reviews SET decided_ms = $2, decision = $3, actor = $4 WHERE id = $1 AND decided_ms IS NULL")
            .bind(id)
            .bind(now_ms)
            .bind(decision)
            .bind(actor)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// An identity moved from one person to another (`None`: unlinked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub identity: i64,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A study of a person, through one of its identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonStudy {
    pub study_instance_uid: String,
    pub issuer: String,
    pub patient_id: String,
    pub study_date: String,
    pub modalities: String,
    pub description: String,
}

async fn apply_moves(
    tx: &mut Transaction<'static, Any>,
    op: &str,
    moves: &[Move],
    action: &str,
    actor: &str,
    detail: &str,
    now_ms: i64,
) -> Result<()> {
    for m in moves {
        let done = match m.from {
            Some(from) => {
                sqlx::query("UPDATE empi_identities SET person_pk = $2 WHERE id = $1 AND person_pk = $3")
                    .bind(m.identity)
                    .bind(m.to)
                    .bind(from)
                    .execute(&mut **tx)
                    .await?
            }
            None => {
                sqlx::query("UPDATE empi_identities SET person_pk = $2 WHERE id = $1 AND person_pk IS NULL")
                    .bind(m.identity)
                    .bind(m.to)
                    .execute(&mut **tx)
                    .await?
            }
        };
        if done.rows_affected() == 0 {
            return Err(IndexError::Conflict(format!("identity {} is no longer where the operation expects it", m.identity)));
        }
        sqlx::query(
            "INSERT INTO empi_history (op, at_ms, action, identity_pk, from_person, to_person, actor, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(op)
        .bind(now_ms)
        .bind(action)
        .bind(m.identity)
        .bind(m.from)
        .bind(m.to)
        .bind(actor)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
