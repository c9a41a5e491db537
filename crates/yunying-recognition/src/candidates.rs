//! Candidates for an order: the prior studies of a person that carry the
//! ordered item and are recent enough for it.
//!
//! A study is a candidate when it has the ordered item among its recorded
//! items and `order date − study date` is between 0 and the item's window
//! (both included: a study exactly `window_days` old is in, one a day older
//! is out; a study dated after the order is out). The ordering
//! institution's own studies are included unless the region excludes them.
//! Newest first; on the same date HR results before others, then by UID.

use yunying_index::RecognitionStudyRow;

use crate::RecognitionError;
use crate::catalogue::{Catalogue, check_text, scope_covers};
use crate::classify::StudyItem;
use crate::date::Date;

/// Most studies considered for one order.
pub const MAX_STUDIES: usize = 10_000;
/// Most candidates offered for one order.
pub const MAX_CANDIDATES: usize = 200;

/// What candidate selection needs of a study.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StudyFacts {
    pub study_instance_uid: String,
    /// The institution that produced it (the issuer).
    pub institution: String,
    /// `YYYYMMDD`.
    pub study_date: String,
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
    /// Its recognition items with their HR status.
    pub items: Vec<StudyItem>,
}

impl From<RecognitionStudyRow> for StudyFacts {
    fn from(r: RecognitionStudyRow) -> StudyFacts {
        StudyFacts {
            study_instance_uid: r.study_instance_uid,
            institution: r.issuer,
            study_date: r.study_date,
            modalities: r.modalities.split('\\').filter(|m| !m.is_empty()).map(str::to_string).collect(),
            body_parts: r.body_parts,
            items: r.items.into_iter().map(|i| StudyItem { item_code: i.item_code, hr: i.hr, hr_scope: i.hr_scope }).collect(),
        }
    }
}

/// A new order from the HIS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Order {
    /// The HIS's order number ("" if none).
    pub his_order_id: String,
    pub item_code: String,
    /// `YYYYMMDD` or `YYYY-MM-DD`.
    pub order_date: String,
    pub institution: String,
    pub department: String,
    /// The ordering doctor's principal id.
    pub doctor: String,
}

impl Order {
    /// Checks lengths and the date; returns the order date.
    pub fn check(&self) -> Result<Date, RecognitionError> {
        check_text("his order id", &self.his_order_id, true)?;
        check_text("item code", &self.item_code, false)?;
        check_text("institution", &self.institution, false)?;
        check_text("department", &self.department, true)?;
        check_text("doctor", &self.doctor, false)?;
        Date::parse(&self.order_date).ok_or(RecognitionError::BadDate)
    }
}

/// How candidates are chosen in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CandidateOptions {
    /// Leave out the ordering institution's own studies.
    pub exclude_own_institution: bool,
}

/// A prior result offered for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub study_instance_uid: String,
    /// The institution that produced it.
    pub institution: String,
    /// `YYYYMMDD`.
    pub study_date: String,
    /// Days from the study to the order.
    pub age_days: i64,
    pub item_code: String,
    /// Whether the result carries the HR mark for the item on its date
    /// with a scope covering the order's region.
    pub hr: bool,
    /// The mark's scope as shown ("" when none).
    pub hr_scope: String,
}

/// The candidates for `order` among `studies` (see the module comment).
pub fn candidates(
    catalogue: &Catalogue,
    order: &Order,
    studies: &[StudyFacts],
    options: CandidateOptions,
) -> Result<Vec<Candidate>, RecognitionError> {
    let order_date = order.check()?;
    let item = catalogue.item(&order.item_code).ok_or(RecognitionError::UnknownItem)?;
    if studies.len() > MAX_STUDIES {
        return Err(RecognitionError::TooMany("studies"));
    }
    let mut out: Vec<(Date, Candidate)> = Vec::new();
    for study in studies {
        if options.exclude_own_institution && study.institution == order.institution {
            continue;
        }
        let Some(found) = study.items.iter().find(|i| i.item_code == item.code) else { continue };
        let Some(date) = Date::parse(&study.study_date) else { continue };
        let age = date.days_until(order_date);
        if !(0..=i64::from(item.window_days)).contains(&age) {
            continue;
        }
        let hr = found.hr && scope_covers(&found.hr_scope, catalogue.region());
        out.push((
            date,
            Candidate {
                study_instance_uid: study.study_instance_uid.clone(),
                institution: study.institution.clone(),
                study_date: date.to_dicom(),
                age_days: age,
                item_code: item.code.clone(),
                hr,
                hr_scope: found.hr_scope.clone(),
            },
        ));
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.hr.cmp(&a.1.hr)).then_with(|| a.1.study_instance_uid.cmp(&b.1.study_instance_uid)));
    out.dedup_by(|a, b| a.1.study_instance_uid == b.1.study_instance_uid);
    out.truncate(MAX_CANDIDATES);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}
