//! [`Recognition`]: the rules of this crate over the index's tables.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use yunying_index::{
    DecisionWrite, Index, RecognitionCandidateRow, RecognitionDecisionRow, RecognitionMarkRow, RecognitionOrderRow, RecognitionStudyRow,
    StatsQuery, StatsRow, StudyItemRow,
};

use crate::candidates::{Candidate, CandidateOptions, MAX_STUDIES, Order, StudyFacts, candidates};
use crate::catalogue::{Catalogue, Item, Mark, MarkConfig, RecognitionConfig, check_local_reasons, check_text};
use crate::classify::{StudyItem, StudyTraits, procedure_codes_from_metadata};
use crate::date::Date;
use crate::decision::{Decision, Reasons};
use crate::record::{RECORD_FORMAT, RecognitionRecord, RecordDecision, RecordInstance, RecordOrder, RecordStudy};
use crate::{RecognitionError, stats};

/// How long a node trusts its copy of the catalogue and marks: a change
/// made through another node is seen within this time.
const CACHE_FOR: Duration = Duration::from_secs(2);
/// Most filters in a statistics query.
const MAX_FILTERS: usize = 6;

/// Recognition for one region, on an index. Cheap to share (`Arc`).
pub struct Recognition {
    index: Index,
    region: String,
    options: CandidateOptions,
    reasons: Reasons,
    grant_minutes: u32,
    signer: Option<Arc<dyn crate::RecordSigner + Send + Sync>>,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    at: Instant,
    catalogue: Arc<Catalogue>,
    marks: Arc<Vec<Mark>>,
}

/// An order stored with the candidates offered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Yunying's id of the order (`ro_` and 32 hex digits).
    pub order_id: String,
    /// Newest first.
    pub candidates: Vec<Candidate>,
}

/// What [`Recognition::reclassify`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reclassified {
    /// Studies read.
    pub studies: u64,
    /// Studies whose recorded items or HR status changed.
    pub changed: u64,
}

impl Recognition {
    /// Recognition for the configured region (the configuration is checked;
    /// its items and marks are not stored: see [`Recognition::seed`]).
    pub fn new(index: Index, config: &RecognitionConfig) -> Result<Recognition, RecognitionError> {
        config.check()?;
        check_local_reasons(&config.local_reasons)?;
        Ok(Recognition {
            index,
            region: config.region.clone(),
            options: CandidateOptions { exclude_own_institution: config.exclude_own_institution },
            reasons: Reasons::new(config.local_reasons.clone()),
            grant_minutes: config.grant_hours * 60,
            signer: None,
            cache: Mutex::new(None),
        })
    }

    /// The region's code.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// This recognition, signing records with `signer` (the ledger's key:
    /// its public half is the log key `/api/audit/checkpoints` shows).
    pub fn with_signer(mut self, signer: Arc<dyn crate::RecordSigner + Send + Sync>) -> Recognition {
        self.signer = Some(signer);
        self
    }

    /// The signer of records, when there is one.
    pub fn signer(&self) -> Option<&(dyn crate::RecordSigner + Send + Sync)> {
        self.signer.as_deref()
    }

    /// How long opening a candidate opens its images to the doctor.
    pub fn grant_minutes(&self) -> u32 {
        self.grant_minutes
    }

    /// The standard and local reasons.
    pub fn reasons(&self) -> &Reasons {
        &self.reasons
    }

    /// Stores the configuration's items when the region has no stored
    /// catalogue, and its marks when none are stored: the configuration
    /// seeds, the API replaces, and a restart does not undo the API.
    /// Returns whether anything was written.
    pub async fn seed(&self, config: &RecognitionConfig, now_ms: i64) -> Result<bool, RecognitionError> {
        let mut wrote = false;
        if !config.items.is_empty() && self.index.recognition_items(&self.region).await?.is_empty() {
            self.replace_catalogue(config.items.clone(), now_ms).await?;
            wrote = true;
        }
        if !config.marks.is_empty() && self.index.recognition_marks().await?.is_empty() {
            self.replace_marks(&config.marks).await?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// The region's catalogue (at most [`CACHE_FOR`] old).
    pub async fn catalogue(&self) -> Result<Arc<Catalogue>, RecognitionError> {
        Ok(self.cached().await?.0)
    }

    /// Every quality mark (at most [`CACHE_FOR`] old).
    pub async fn marks(&self) -> Result<Arc<Vec<Mark>>, RecognitionError> {
        Ok(self.cached().await?.1)
    }

    async fn cached(&self) -> Result<(Arc<Catalogue>, Arc<Vec<Mark>>), RecognitionError> {
        if let Some(c) = self.cache.lock().expect("cache lock").as_ref().filter(|c| c.at.elapsed() < CACHE_FOR) {
            return Ok((c.catalogue.clone(), c.marks.clone()));
        }
        let mut items = Vec::new();
        for (_, body) in self.index.recognition_items(&self.region).await? {
            items.push(serde_json::from_str::<Item>(&body).map_err(|e| RecognitionError::Config(format!("stored item: {e}")))?);
        }
        let catalogue = Arc::new(Catalogue::new(&self.region, items)?);
        let marks = self.index.recognition_marks().await?.iter().map(mark_of_row).collect::<Result<Vec<_>, _>>()?;
        let marks = Arc::new(marks);
        *self.cache.lock().expect("cache lock") = Some(Cached { at: Instant::now(), catalogue: catalogue.clone(), marks: marks.clone() });
        Ok((catalogue, marks))
    }

    fn forget(&self) {
        *self.cache.lock().expect("cache lock") = None;
    }

    /// Replaces the region's catalogue (checked first). Studies keep their
    /// recorded items until [`Recognition::reclassify`] runs.
    pub async fn replace_catalogue(&self, items: Vec<Item>, now_ms: i64) -> Result<(), RecognitionError> {
        let catalogue = Catalogue::new(&self.region, items)?;
        let rows: Vec<(String, String)> = catalogue
            .items()
            .iter()
            .map(|i| Ok((i.code.clone(), serde_json::to_string(i).map_err(|e| RecognitionError::Config(e.to_string()))?)))
            .collect::<Result<_, RecognitionError>>()?;
        self.index.replace_recognition_items(&self.region, &rows, now_ms).await?;
        self.forget();
        Ok(())
    }

    /// Replaces every quality mark (checked first).
    pub async fn replace_marks(&self, marks: &[MarkConfig]) -> Result<(), RecognitionError> {
        if marks.len() > crate::catalogue::MAX_MARKS {
            return Err(RecognitionError::TooMany("marks"));
        }
        let rows: Vec<RecognitionMarkRow> = marks
            .iter()
            .map(|m| {
                let m = Mark::from_config(m)?;
                Ok(RecognitionMarkRow {
                    institution: m.institution,
                    item_code: m.item_code,
                    passed: m.passed,
                    scope: m.scope,
                    valid_from: m.valid_from.to_dicom(),
                    valid_to: m.valid_to.to_dicom(),
                })
            })
            .collect::<Result<_, RecognitionError>>()?;
        self.index.replace_recognition_marks(&rows).await?;
        self.forget();
        Ok(())
    }

    /// Classifies a study (at ingest: the archive knows its procedure
    /// codes) and records its items with their HR status.
    pub async fn classify_study(
        &self,
        study_instance_uid: &str,
        institution: &str,
        study_date: &str,
        traits: &StudyTraits,
    ) -> Result<Vec<StudyItem>, RecognitionError> {
        let (catalogue, marks) = self.cached().await?;
        let items = catalogue.study_items(&marks, institution, study_date, traits);
        self.index.set_study_items(study_instance_uid, &item_rows(&items)).await?;
        Ok(items)
    }

    /// Classifies every stored study again (after the catalogue or marks
    /// changed), `page` studies at a time, writing only those that changed.
    /// Procedure codes are read from one instance's stored metadata.
    pub async fn reclassify(&self, page: i64) -> Result<Reclassified, RecognitionError> {
        let (catalogue, marks) = self.cached().await?;
        let mut done = Reclassified::default();
        let mut after = 0;
        loop {
            let rows = self.index.recognition_studies_page(after, page.clamp(1, 2_000)).await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            for (_, row) in rows {
                self.classify_row(&catalogue, &marks, row, &mut done).await?;
            }
        }
        Ok(done)
    }

    /// Classifies stored studies (after ingest: at the end of an
    /// association or a STOW-RS request, with the UIDs it touched), as
    /// [`Recognition::reclassify`] does for all.
    pub async fn classify_stored(&self, study_instance_uids: &[String]) -> Result<Reclassified, RecognitionError> {
        let (catalogue, marks) = self.cached().await?;
        let mut done = Reclassified::default();
        for chunk in study_instance_uids.chunks(500) {
            for row in self.index.recognition_studies(chunk, true).await? {
                self.classify_row(&catalogue, &marks, row, &mut done).await?;
            }
        }
        Ok(done)
    }

    async fn classify_row(
        &self,
        catalogue: &Catalogue,
        marks: &[Mark],
        row: RecognitionStudyRow,
        done: &mut Reclassified,
    ) -> Result<(), RecognitionError> {
        done.studies += 1;
        let traits = StudyTraits {
            modalities: row.modalities.split('\\').filter(|m| !m.is_empty()).map(str::to_string).collect(),
            body_parts: row.body_parts,
            procedure_codes: procedure_codes_from_metadata(&row.metadata),
            description: row.study_description,
        };
        let items = item_rows(&catalogue.study_items(marks, &row.issuer, &row.study_date, &traits));
        if items != row.items {
            self.index.set_study_items(&row.study_instance_uid, &items).await?;
            done.changed += 1;
        }
        Ok(())
    }

    /// Classifies the studies of instances stored since the last call
    /// (the cursor `recognition-classifier`), as `holder` of the lease of
    /// the same name; `None` when another node holds it. Instances of the
    /// last few seconds wait for the next call (a transaction that took an
    /// earlier id may commit after a later one); a study missed here is
    /// classified when an order asks about it anyway.
    pub async fn classify_new(&self, holder: &str, now_ms: i64) -> Result<Option<Reclassified>, RecognitionError> {
        const NAME: &str = "recognition-classifier";
        if !self.index.try_lease(NAME, holder, now_ms, now_ms + 60_000).await? {
            return Ok(None);
        }
        let after = self.index.cursor(NAME).await?;
        let (studies, last) = self.index.studies_of_instances_after(after, now_ms - 5_000, 20_000).await?;
        let done = self.classify_stored(&studies).await?;
        if last > after {
            self.index.set_cursor(NAME, last).await?;
        }
        Ok(Some(done))
    }

    /// Classify new studies until `stop`, every `every`, as `holder`.
    pub async fn run_classifier(self: Arc<Self>, holder: String, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.classify_new(&holder, yunying_access::now_ms()).await {
                tracing::warn!(error = %e, "recognition: classifying new studies failed; trying again later");
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        let _ = self.index.release_lease("recognition-classifier", &holder).await;
    }

    /// What candidate selection needs of the studies named (those stored).
    pub async fn study_facts(&self, study_instance_uids: &[String]) -> Result<Vec<StudyFacts>, RecognitionError> {
        if study_instance_uids.len() > MAX_STUDIES {
            return Err(RecognitionError::TooMany("studies"));
        }
        Ok(self.index.recognition_studies(study_instance_uids, false).await?.into_iter().map(StudyFacts::from).collect())
    }

    /// Finds the candidates for an order among `studies` (the studies of
    /// every identity linked to the person) and stores the order with them.
    /// Asked again for the same HIS order (institution, number, item), it
    /// answers with the same order id and stores only new candidates.
    pub async fn offer(&self, order: &Order, studies: &[StudyFacts], now_ms: i64) -> Result<Offer, RecognitionError> {
        let catalogue = self.catalogue().await?;
        let found = candidates(&catalogue, order, studies, self.options)?;
        let order_date = order.check()?;
        let item = catalogue.item(&order.item_code).ok_or(RecognitionError::UnknownItem)?;
        let order_id = format!("ro_{}", hex::encode(rand::random::<[u8; 16]>()));
        let row = RecognitionOrderRow {
            order_id: order_id.clone(),
            his_order_id: order.his_order_id.clone(),
            region: self.region.clone(),
            item_code: item.code.clone(),
            order_date: order_date.to_dicom(),
            institution: order.institution.clone(),
            department: order.department.clone(),
            doctor: order.doctor.clone(),
            created_ms: now_ms,
        };
        let rows: Vec<RecognitionCandidateRow> = found
            .iter()
            .enumerate()
            .map(|(rank, c)| RecognitionCandidateRow {
                study_instance_uid: c.study_instance_uid.clone(),
                rank: rank as i64,
                source_institution: c.institution.clone(),
                study_date: c.study_date.clone(),
                age_days: c.age_days,
                hr: c.hr,
                hr_scope: c.hr_scope.clone(),
                item_code: c.item_code.clone(),
                month: order_date.month_key(),
                price_fen: item.price_fen,
            })
            .collect();
        let order_id = self.index.insert_recognition_order(&row, &rows).await?;
        Ok(Offer { order_id, candidates: found })
    }

    /// A stored order and its candidates.
    pub async fn order(&self, order_id: &str) -> Result<Option<(RecognitionOrderRow, Vec<RecognitionCandidateRow>)>, RecognitionError> {
        Ok(self.index.recognition_order(order_id).await?)
    }

    /// Records the first decision on a candidate; returns its version (1).
    pub async fn decide(&self, decision: &Decision) -> Result<i64, RecognitionError> {
        self.write_decision(decision, None, "").await
    }

    /// Replaces the decision in force (`version`), keeping it as history,
    /// with the reason for the amendment; returns the new version.
    pub async fn amend(&self, decision: &Decision, version: i64, why: &str) -> Result<i64, RecognitionError> {
        check_text("amendment reason", why, false)?;
        self.write_decision(decision, Some(version), why).await
    }

    async fn write_decision(&self, d: &Decision, amends: Option<i64>, why: &str) -> Result<i64, RecognitionError> {
        d.check(&self.reasons)?;
        let row = RecognitionDecisionRow {
            order_id: d.order_id.clone(),
            study_instance_uid: d.study_instance_uid.clone(),
            outcome: d.outcome.code().to_string(),
            reason: d.reason.clone().unwrap_or_default(),
            note: d.note.clone(),
            patient_informed: d.patient_informed,
            reexam_order_id: d.reexam_order_id.clone(),
            doctor: d.doctor.clone(),
            department: d.department.clone(),
            institution: d.institution.clone(),
            opened_ms: d.opened_ms,
            decided_ms: d.decided_ms,
            amend_note: why.to_string(),
            ..RecognitionDecisionRow::default()
        };
        match self.index.insert_recognition_decision(&row, amends).await? {
            DecisionWrite::Stored { version } => Ok(version),
            DecisionWrite::NotOffered => Err(RecognitionError::NotOffered),
            DecisionWrite::Exists { version } => Err(RecognitionError::AlreadyDecided { version }),
            DecisionWrite::Stale { current } => Err(RecognitionError::StaleAmendment { current }),
        }
    }

    /// Every version of the decision on a candidate, oldest first.
    pub async fn decisions(&self, order_id: &str, study_instance_uid: &str) -> Result<Vec<RecognitionDecisionRow>, RecognitionError> {
        Ok(self.index.recognition_decisions(order_id, study_instance_uid).await?)
    }

    /// Statistics, grouped as asked (months `YYYY-MM`, at most six filters).
    pub async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, RecognitionError> {
        for month in [&query.from_month, &query.to_month] {
            if Date::parse(&format!("{month}-01")).is_none() {
                return Err(RecognitionError::BadDate);
            }
        }
        if query.filters.len() > MAX_FILTERS || query.group_by.len() > MAX_FILTERS {
            return Err(RecognitionError::TooMany("filters"));
        }
        for (_, value) in &query.filters {
            check_text("filter", value, true)?;
        }
        Ok(self.index.recognition_statistics(query).await?)
    }

    /// The statistics as CSV (UTF-8 with BOM, zh-CN headers).
    pub fn statistics_csv(&self, rows: &[StatsRow], query: &StatsQuery) -> Vec<u8> {
        stats::to_csv(rows, &query.group_by, &self.reasons)
    }

    /// The record of the decision in force on a candidate, with the
    /// study's instances and digests, ready for [`crate::sign_record`].
    pub async fn record(&self, order_id: &str, study_instance_uid: &str, now_ms: i64) -> Result<RecognitionRecord, RecognitionError> {
        let (order, candidates) = self.order(order_id).await?.ok_or(RecognitionError::UnknownOrder)?;
        let candidate = candidates.into_iter().find(|c| c.study_instance_uid == study_instance_uid).ok_or(RecognitionError::NotOffered)?;
        let decision =
            self.decisions(order_id, study_instance_uid).await?.into_iter().find(|d| d.current).ok_or(RecognitionError::Undecided)?;
        let item_name = self.catalogue().await?.item(&order.item_code).map(|i| i.name.clone()).unwrap_or_default();
        let instances = self
            .index
            .study_digests(study_instance_uid)
            .await?
            .into_iter()
            .map(|(sop_instance_uid, sha256, sm3)| RecordInstance { sop_instance_uid, sha256, sm3 })
            .collect();
        Ok(RecognitionRecord {
            format: RECORD_FORMAT.to_string(),
            region: order.region.clone(),
            order: RecordOrder::of(&order, item_name),
            study: RecordStudy {
                study_instance_uid: candidate.study_instance_uid,
                source_institution: candidate.source_institution,
                study_date: candidate.study_date,
                hr: candidate.hr,
                hr_scope: candidate.hr_scope,
                instances,
            },
            decision: RecordDecision {
                version: decision.version,
                reason_label: self.reasons.label(&decision.reason).unwrap_or_default().to_string(),
                outcome: decision.outcome,
                reason: decision.reason,
                note: decision.note,
                patient_informed: decision.patient_informed,
                reexam_order_id: decision.reexam_order_id,
                doctor: decision.doctor,
                department: decision.department,
                institution: decision.institution,
                opened_ms: decision.opened_ms,
                decided_ms: decision.decided_ms,
            },
            issued_ms: now_ms,
        })
    }
}

fn item_rows(items: &[StudyItem]) -> Vec<StudyItemRow> {
    let mut rows: Vec<StudyItemRow> =
        items.iter().map(|i| StudyItemRow { item_code: i.item_code.clone(), hr: i.hr, hr_scope: i.hr_scope.clone() }).collect();
    rows.sort_by(|a, b| a.item_code.cmp(&b.item_code));
    rows
}

fn mark_of_row(r: &RecognitionMarkRow) -> Result<Mark, RecognitionError> {
    Mark::from_config(&MarkConfig {
        institution: r.institution.clone(),
        item: r.item_code.clone(),
        passed: r.passed,
        scope: r.scope.clone(),
        valid_from: r.valid_from.clone(),
        valid_to: r.valid_to.clone(),
    })
}
