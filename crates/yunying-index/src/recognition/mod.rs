//! Rows of mutual recognition (检查互认): the catalogue per region, quality
//! (HR) marks, the items of each study, orders with the candidates offered,
//! decisions and the statistics over them.
//!
//! The rules (which study maps to which item, which candidate is in its
//! window, which decision is complete) live in `yunying-recognition`; this
//! module stores and finds rows. Decisions are versioned: an amendment
//! marks the earlier row not current and keeps it.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use crate::{Index, Result};

mod notify;
mod stats;
pub use notify::DecisionToNotify;
pub use stats::{StatsDimension, StatsQuery, StatsRow};

/// A quality-control (HR) mark: an institution's results for one item are
/// recognisable within `scope` (a region code) from `valid_from` to
/// `valid_to` (`YYYYMMDD`, both included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecognitionMarkRow {
    pub institution: String,
    pub item_code: String,
    /// Whether the institution passed quality control for the item (a
    /// failed assessment is kept as a record, and carries no mark).
    pub passed: bool,
    pub scope: String,
    pub valid_from: String,
    pub valid_to: String,
}

/// One recognition item of a study, with its HR status on the study date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyItemRow {
    pub item_code: String,
    pub hr: bool,
    /// The scope of the mark that made it HR ("" when not HR).
    pub hr_scope: String,
}

/// What the index holds about a study for recognition: its institution,
/// date, modalities, description, body parts and recorded items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecognitionStudyRow {
    pub study_instance_uid: String,
    /// The sending institution (issuer).
    pub issuer: String,
    pub study_date: String,
    /// Modalities in Study, separated by backslashes.
    pub modalities: String,
    pub study_description: String,
    /// Distinct non-empty Body Part Examined values of its series.
    pub body_parts: Vec<String>,
    /// Deflated DICOM JSON of one of its instances (empty when none is
    /// stored): where the Procedure Code Sequence is read from.
    pub metadata: Vec<u8>,
    /// The items recorded for it.
    pub items: Vec<StudyItemRow>,
}

/// An order a doctor placed, as it was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecognitionOrderRow {
    pub order_id: String,
    /// The HIS's own order number ("" when it gave none).
    pub his_order_id: String,
    pub region: String,
    pub item_code: String,
    /// `YYYYMMDD`.
    pub order_date: String,
    pub institution: String,
    pub department: String,
    pub doctor: String,
    pub created_ms: i64,
}

/// A prior study offered for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecognitionCandidateRow {
    pub study_instance_uid: String,
    /// 0 for the newest.
    pub rank: i64,
    pub source_institution: String,
    pub study_date: String,
    /// Days from the study date to the order date.
    pub age_days: i64,
    pub hr: bool,
    pub hr_scope: String,
    pub item_code: String,
    /// `YYYY-MM` of the order date: the statistics' month.
    pub month: String,
    /// The item's price when offered (fen).
    pub price_fen: i64,
}

/// A recognition decision on one candidate of an order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecognitionDecisionRow {
    pub order_id: String,
    pub study_instance_uid: String,
    /// 1 for the first decision, then one more per amendment (set by the index).
    pub version: i64,
    /// Whether this is the version in force (set by the index).
    pub current: bool,
    /// `recognised`, `partial`, `not-recognised`.
    pub outcome: String,
    /// A reason code ("" when recognised).
    pub reason: String,
    pub note: String,
    pub patient_informed: bool,
    pub reexam_order_id: String,
    /// The deciding doctor's principal id, department and institution.
    pub doctor: String,
    pub department: String,
    pub institution: String,
    /// Copied from the candidate by the index.
    pub region: String,
    pub item_code: String,
    pub month: String,
    pub price_fen: i64,
    /// How long the images were open before deciding (0: never opened).
    pub opened_ms: i64,
    pub decided_ms: i64,
    /// Why an amendment was made ("" for the first version).
    pub amend_note: String,
}

/// What became of a decision written with [`Index::insert_recognition_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionWrite {
    /// Stored as this version.
    Stored { version: i64 },
    /// The study was not offered for the order (or the order is unknown).
    NotOffered,
    /// A decision exists already (version in force given); amend it instead.
    Exists { version: i64 },
    /// The amendment names a version that is not the one in force (0: none is).
    Stale { current: i64 },
}

const DECISION_COLUMNS: &str = "order_id, study_instance_uid, version, is_current, outcome, reason, note, patient_informed, \
     reexam_order_id, doctor, department, institution, region, item_code, month, price_fen, opened_ms, decided_ms, amend_note";

impl Index {
    /// Replace a region's whole catalogue: `(item code, item as JSON)`.
    pub async fn replace_recognition_items(&self, region: &str, items: &[(String, String)], now_ms: i64) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM recognition_items WHERE region = $1").bind(region).execute(&mut *tx).await?;
        for (code, body) in items {
            sqlx::query("INSERT INTO recognition_items (region, item_code, body, updated_ms) VALUES ($1, $2, $3, $4)")
                .bind(region)
                .bind(code)
                .bind(body)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A region's catalogue, `(item code, item as JSON)` by code.
    pub async fn recognition_items(&self, region: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT item_code, body FROM recognition_items WHERE region = $1 ORDER BY item_code")
            .bind(region)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replace every quality mark.
    pub async fn replace_recognition_marks(&self, marks: &[RecognitionMarkRow]) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM recognition_marks").execute(&mut *tx).await?;
        for m in marks {
            sqlx::query(
                "INSERT INTO recognition_marks (institution, item_code, passed, scope, valid_from, valid_to)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&m.institution)
            .bind(&m.item_code)
            .bind(i64::from(m.passed))
            .bind(&m.scope)
            .bind(&m.valid_from)
            .bind(&m.valid_to)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every quality mark, by institution, item and start.
    pub async fn recognition_marks(&self) -> Result<Vec<RecognitionMarkRow>> {
        let rows: Vec<(String, String, i64, String, String, String)> = sqlx::query_as(
            "SELECT institution, item_code, passed, scope, valid_from, valid_to FROM recognition_marks
             ORDER BY institution, item_code, valid_from, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| RecognitionMarkRow { institution: r.0, item_code: r.1, passed: r.2 != 0, scope: r.3, valid_from: r.4, valid_to: r.5 })
            .collect())
    }

    /// Record a study's items (replacing those recorded before).
    pub async fn set_study_items(&self, study_instance_uid: &str, items: &[StudyItemRow]) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        // Two classifications of one study at once (the classifier and a
        // request, or two nodes) must not interleave their delete and
        // inserts: PostgreSQL serialises them per study (SQLite's write
        // transactions already are).
        if self.dialect == crate::schema::Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(study_instance_uid).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM recognition_study_items WHERE study_instance_uid = $1").bind(study_instance_uid).execute(&mut *tx).await?;
        for item in items {
            sqlx::query("INSERT INTO recognition_study_items (study_instance_uid, item_code, hr, hr_scope) VALUES ($1, $2, $3, $4)")
                .bind(study_instance_uid)
                .bind(&item.item_code)
                .bind(i64::from(item.hr))
                .bind(&item.hr_scope)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of studies in primary-key order after `after_pk`, with what
    /// classifying them needs (their recorded items too); each with its key.
    pub async fn recognition_studies_page(&self, after_pk: i64, limit: i64) -> Result<Vec<(i64, RecognitionStudyRow)>> {
        let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, study_instance_uid, issuer, study_date, modalities_in_study, study_description FROM studies
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_pk)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        self.complete_study_rows(rows, true).await
    }

    /// The studies named (those the index holds), newest study date first,
    /// with their recorded items, and with one instance's metadata if asked
    /// (candidates need none; classification reads procedure codes in it).
    pub async fn recognition_studies(&self, study_instance_uids: &[String], with_metadata: bool) -> Result<Vec<RecognitionStudyRow>> {
        let mut rows = Vec::new();
        for chunk in study_instance_uids.chunks(500) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, study_instance_uid, issuer, study_date, modalities_in_study, study_description FROM studies
                 WHERE study_instance_uid IN ({})",
                params.join(",")
            );
            let mut q = sqlx::query_as::<_, (i64, String, String, String, String, String)>(AssertSqlSafe(sql));
            for uid in chunk {
                q = q.bind(uid);
            }
            rows.extend(q.fetch_all(&self.pool).await?);
        }
        let mut out: Vec<RecognitionStudyRow> = self.complete_study_rows(rows, with_metadata).await?.into_iter().map(|(_, r)| r).collect();
        out.sort_by(|a, b| b.study_date.cmp(&a.study_date).then_with(|| a.study_instance_uid.cmp(&b.study_instance_uid)));
        Ok(out)
    }

    async fn complete_study_rows(
        &self,
        rows: Vec<(i64, String, String, String, String, String)>,
        with_metadata: bool,
    ) -> Result<Vec<(i64, RecognitionStudyRow)>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Keys are integers from the index itself: safe to inline.
        let pks: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
        let pk_list = pks.join(",");
        let parts: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT DISTINCT study_pk, body_part_examined FROM series WHERE study_pk IN ({pk_list}) AND body_part_examined <> ''
             ORDER BY study_pk, body_part_examined"
        )))
        .fetch_all(&self.pool)
        .await?;
        let firsts: Vec<(i64, i64)> = if with_metadata {
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT se.study_pk, MIN(i.id) FROM instances i JOIN series se ON se.id = i.series_pk
                 WHERE se.study_pk IN ({pk_list}) GROUP BY se.study_pk"
            )))
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        let instance_pks: Vec<i64> = firsts.iter().map(|f| f.1).collect();
        let metadata: BTreeMap<i64, Vec<u8>> = self.metadata_by_pk(&instance_pks).await?.into_iter().collect();
        let first_of: BTreeMap<i64, i64> = firsts.into_iter().collect();
        let mut items: BTreeMap<String, Vec<StudyItemRow>> = BTreeMap::new();
        for chunk in rows.chunks(500) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT study_instance_uid, item_code, hr, hr_scope FROM recognition_study_items WHERE study_instance_uid IN ({})
                 ORDER BY study_instance_uid, item_code",
                params.join(",")
            );
            let mut q = sqlx::query_as::<_, (String, String, i64, String)>(AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(&r.1);
            }
            for (uid, item_code, hr, hr_scope) in q.fetch_all(&self.pool).await? {
                items.entry(uid).or_default().push(StudyItemRow { item_code, hr: hr != 0, hr_scope });
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (pk, uid, issuer, study_date, modalities, study_description) in rows {
            let body_parts = parts.iter().filter(|p| p.0 == pk).map(|p| p.1.clone()).collect();
            let metadata = first_of.get(&pk).and_then(|i| metadata.get(i)).cloned().unwrap_or_default();
            let items = items.remove(&uid).unwrap_or_default();
            out.push((
                pk,
                RecognitionStudyRow {
                    study_instance_uid: uid,
                    issuer,
                    study_date,
                    modalities,
                    study_description,
                    body_parts,
                    metadata,
                    items,
                },
            ));
        }
        Ok(out)
    }

    /// Store an order and the candidates offered for it, in one transaction;
    /// returns the order's id. An order the HIS asks about again (same
    /// institution, HIS order number and item) keeps its first id and
    /// gains only the candidates not offered before, so a retried request
    /// is not counted twice.
    pub async fn insert_recognition_order(&self, order: &RecognitionOrderRow, candidates: &[RecognitionCandidateRow]) -> Result<String> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO recognition_orders (order_id, his_order_id, region, item_code, order_date, institution, department, doctor, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&order.order_id)
        .bind(&order.his_order_id)
        .bind(&order.region)
        .bind(&order.item_code)
        .bind(&order.order_date)
        .bind(&order.institution)
        .bind(&order.department)
        .bind(&order.doctor)
        .bind(order.created_ms)
        .execute(&mut *tx)
        .await?;
        let order_id: String = if order.his_order_id.is_empty() {
            order.order_id.clone()
        } else {
            sqlx::query_scalar(
                "SELECT order_id FROM recognition_orders WHERE institution = $1 AND his_order_id = $2 AND item_code = $3 AND his_order_id <> ''",
            )
            .bind(&order.institution)
            .bind(&order.his_order_id)
            .bind(&order.item_code)
            .fetch_one(&mut *tx)
            .await?
        };
        for c in candidates {
            sqlx::query(
                "INSERT INTO recognition_candidates (order_id, study_instance_uid, offer_rank, source_institution, study_date, age_days,
                 hr, hr_scope, region, institution, department, doctor, item_code, month, price_fen)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING",
            )
            .bind(&order_id)
            .bind(&c.study_instance_uid)
            .bind(c.rank)
            .bind(&c.source_institution)
            .bind(&c.study_date)
            .bind(c.age_days)
            .bind(i64::from(c.hr))
            .bind(&c.hr_scope)
            .bind(&order.region)
            .bind(&order.institution)
            .bind(&order.department)
            .bind(&order.doctor)
            .bind(&c.item_code)
            .bind(&c.month)
            .bind(c.price_fen)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(order_id)
    }

    /// An order and its candidates (by rank).
    pub async fn recognition_order(&self, order_id: &str) -> Result<Option<(RecognitionOrderRow, Vec<RecognitionCandidateRow>)>> {
        type OrderTuple = (String, String, String, String, String, String, String, String, i64);
        let order: Option<OrderTuple> = sqlx::query_as(
            "SELECT order_id, his_order_id, region, item_code, order_date, institution, department, doctor, created_ms
             FROM recognition_orders WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(o) = order else { return Ok(None) };
        type CandidateTuple = (String, i64, String, String, i64, i64, String, String, String, i64);
        let rows: Vec<CandidateTuple> = sqlx::query_as(
            "SELECT study_instance_uid, offer_rank, source_institution, study_date, age_days, hr, hr_scope, item_code, month, price_fen
             FROM recognition_candidates WHERE order_id = $1 ORDER BY offer_rank",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        let order = RecognitionOrderRow {
            order_id: o.0,
            his_order_id: o.1,
            region: o.2,
            item_code: o.3,
            order_date: o.4,
            institution: o.5,
            department: o.6,
            doctor: o.7,
            created_ms: o.8,
        };
        let candidates = rows
            .into_iter()
            .map(|r| RecognitionCandidateRow {
                study_instance_uid: r.0,
                rank: r.1,
                source_institution: r.2,
                study_date: r.3,
                age_days: r.4,
                hr: r.5 != 0,
                hr_scope: r.6,
                item_code: r.7,
                month: r.8,
                price_fen: r.9,
            })
            .collect();
        Ok(Some((order, candidates)))
    }

    /// Store a decision on a candidate of an order. With `amends: None` it
    /// is the first decision (refused when one exists); with
    /// `Some(version)` it replaces that version, which must be the one in
    /// force, and keeps it as history. Region, item, month and price are
    /// copied from the candidate.
    pub async fn insert_recognition_decision(&self, d: &RecognitionDecisionRow, amends: Option<i64>) -> Result<DecisionWrite> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let offered: Option<i64> =
            sqlx::query_scalar("SELECT id FROM recognition_candidates WHERE order_id = $1 AND study_instance_uid = $2")
                .bind(&d.order_id)
                .bind(&d.study_instance_uid)
                .fetch_optional(&mut *tx)
                .await?;
        if offered.is_none() {
            return Ok(DecisionWrite::NotOffered);
        }
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM recognition_decisions WHERE order_id = $1 AND study_instance_uid = $2 AND is_current = 1",
        )
        .bind(&d.order_id)
        .bind(&d.study_instance_uid)
        .fetch_optional(&mut *tx)
        .await?;
        let version = match (current, amends) {
            (None, None) => 1,
            (Some(v), None) => return Ok(DecisionWrite::Exists { version: v }),
            (Some(v), Some(a)) if a == v => {
                sqlx::query(
                    "UPDATE recognition_decisions SET is_current = 0 WHERE order_id = $1 AND study_instance_uid = $2 AND version = $3",
                )
                .bind(&d.order_id)
                .bind(&d.study_instance_uid)
                .bind(v)
                .execute(&mut *tx)
                .await?;
                v + 1
            }
            (current, Some(_)) => return Ok(DecisionWrite::Stale { current: current.unwrap_or(0) }),
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO recognition_decisions ({DECISION_COLUMNS})
             SELECT $1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, c.region, c.item_code, c.month, c.price_fen, $12, $13, $14
             FROM recognition_candidates c WHERE c.order_id = $1 AND c.study_instance_uid = $2"
        )))
        .bind(&d.order_id)
        .bind(&d.study_instance_uid)
        .bind(version)
        .bind(&d.outcome)
        .bind(&d.reason)
        .bind(&d.note)
        .bind(i64::from(d.patient_informed))
        .bind(&d.reexam_order_id)
        .bind(&d.doctor)
        .bind(&d.department)
        .bind(&d.institution)
        .bind(d.opened_ms)
        .bind(d.decided_ms)
        .bind(&d.amend_note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DecisionWrite::Stored { version })
    }

    /// Every version of the decision on a candidate, oldest first.
    pub async fn recognition_decisions(&self, order_id: &str, study_instance_uid: &str) -> Result<Vec<RecognitionDecisionRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DECISION_COLUMNS} FROM recognition_decisions WHERE order_id = $1 AND study_instance_uid = $2 ORDER BY version"
        )))
        .bind(order_id)
        .bind(study_instance_uid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_of).collect()
    }

    /// The stored objects of a study: `(SOP Instance UID, SHA-256, SM3)`
    /// in SOP Instance UID order (SM3 `None` when not computed yet).
    pub async fn study_digests(&self, study_instance_uid: &str) -> Result<Vec<(String, String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT i.sop_instance_uid, i.digest, i.sm3 FROM instances i JOIN series se ON se.id = i.series_pk
             JOIN studies st ON st.id = se.study_pk WHERE st.study_instance_uid = $1 ORDER BY i.sop_instance_uid",
        )
        .bind(study_instance_uid)
        .fetch_all(&self.pool)
        .await?)
    }
}

fn decision_of(r: &sqlx::any::AnyRow) -> Result<RecognitionDecisionRow> {
    Ok(RecognitionDecisionRow {
        order_id: r.try_get(0)?,
        study_instance_uid: r.try_get(1)?,
        version: r.try_get(2)?,
        current: r.try_get::<i64, _>(3)? != 0,
        outcome: r.try_get(4)?,
        reason: r.try_get(5)?,
        note: r.try_get(6)?,
        patient_informed: r.try_get::<i64, _>(7)? != 0,
        reexam_order_id: r.try_get(8)?,
        doctor: r.try_get(9)?,
        department: r.try_get(10)?,
        institution: r.try_get(11)?,
        region: r.try_get(12)?,
        item_code: r.try_get(13)?,
        month: r.try_get(14)?,
        price_fen: r.try_get(15)?,
        opened_ms: r.try_get(16)?,
        decided_ms: r.try_get(17)?,
        amend_note: r.try_get(18)?,
    })
}
