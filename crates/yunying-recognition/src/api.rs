//! Recognition as principals reach it (the HIS API's face calls these).
//!
//! - An order is placed by an institution: the principal (a HIS key with
//!   the `recognition` scope, a radiologist or referring clinician) must
//!   belong to one, may do [`Action::Recognition`], and asks only about
//!   its own patients (the identity's issuer is its institution).
//! - A decision is a doctor's: a signed-in person of the ordering
//!   institution who may do [`Action::Recognition`]; an order of another
//!   institution is not found.
//! - Statistics: a platform administrator (system administrator without
//!   an institution) and a platform key read all; an institution's
//!   administrator and its keys read their institution's only.
//!
//! The caller passes the studies of every identity of the person (this
//! crate links no identities) and records the security events.

use serde::{Deserialize, Serialize};
use yunying_access::{Access, Action, Denied, Kind, Principal, Role};
use yunying_index::{Grant, RecognitionCandidateRow, RecognitionOrderRow};

use crate::candidates::Order;
use crate::decision::{Decision, Outcome};
use crate::service::{Offer, Recognition};
use crate::{RecognitionError, SignedRecord, StatsDimension, StatsQuery, StatsRow};

impl From<RecognitionError> for Denied {
    fn from(e: RecognitionError) -> Self {
        match e {
            RecognitionError::Index(yunying_index::IndexError::NotFound(what)) => Denied::NotFound(what),
            RecognitionError::Index(yunying_index::IndexError::Conflict(why)) => Denied::Invalid(why),
            RecognitionError::Index(e) => e.into(),
            RecognitionError::UnknownOrder => Denied::NotFound(RecognitionError::UnknownOrder.to_string()),
            RecognitionError::Signature(why) => Denied::Unavailable(why),
            other => Denied::Invalid(other.to_string()),
        }
    }
}

/// An order as the HIS sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The institution that issued the patient's ID (the asker's own).
    pub issuer: String,
    pub item_code: String,
    /// `YYYYMMDD` or `YYYY-MM-DD`.
    pub order_date: String,
    #[serde(default)]
    pub his_order_id: String,
    #[serde(default)]
    pub department: String,
    /// The ordering doctor as the HIS names them (a signed-in person is
    /// recorded by their own id instead).
    #[serde(default)]
    pub doctor: String,
}

/// A decision as the doctor sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub study_instance_uid: String,
    pub outcome: Outcome,
    /// A reason code (standard `"1"`–`"6"` or local); none when recognised.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub patient_informed: bool,
    #[serde(default)]
    pub reexam_order_id: String,
    #[serde(default)]
    pub department: String,
    /// Amends the decision in force, which is this version.
    #[serde(default)]
    pub amends: Option<i64>,
    /// Why the decision is amended (required with `amends`).
    #[serde(default)]
    pub amend_reason: String,
}

/// A stored decision, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionMade {
    pub order_id: String,
    pub study_instance_uid: String,
    pub version: i64,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub patient_informed: bool,
    pub doctor: String,
    pub institution: String,
    /// How long the deciding doctor had the images open (ms; 0: never),
    /// from the access record.
    pub opened_ms: i64,
    pub decided_ms: i64,
}

/// An order as its institution sees it: the candidates offered, each with
/// the decision in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    /// Answered at the top level, as in a record.
    #[serde(flatten)]
    pub order: crate::record::RecordOrder,
    pub created_ms: i64,
    pub candidates: Vec<CandidateView>,
    /// The reasons a refusal may give: `(code, label)`, standard first.
    pub reasons: Vec<(String, String)>,
}

/// A candidate of an order, with the decision in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateView {
    pub study_instance_uid: String,
    pub institution: String,
    pub study_date: String,
    pub age_days: i64,
    pub hr: bool,
    pub hr_scope: String,
    pub decision: Option<DecisionMade>,
}

/// The institution a principal orders for, if it may order for patients
/// of `issuer` (its own) at all. Faces call this before they look the
/// person up, so a refused asker learns nothing of the patient.
pub fn ordering_institution(who: &Principal, issuer: &str) -> Result<String, Denied> {
    if !who.may(Action::Recognition) {
        return Err(Denied::Forbidden("recognition of exams is not among your rights".into()));
    }
    let Some(own) = who.institution.as_deref() else {
        return Err(Denied::Forbidden("an order is placed by an institution; this principal belongs to none".into()));
    };
    if own != issuer {
        return Err(Denied::Forbidden(format!("patients of {issuer} are not yours to order for")));
    }
    Ok(own.to_string())
}

/// Whether a principal manages the region's catalogue and quality marks:
/// a system administrator of the platform (no institution), or a
/// platform key (no institution) that may do [`Action::Recognition`].
fn region_admin(who: &Principal) -> Result<(), Denied> {
    let platform_admin = who.roles().contains(&Role::SystemAdmin) && matches!(who.kind, Kind::Person { .. });
    let platform_key = matches!(who.kind, Kind::Key { .. }) && who.may(Action::Recognition);
    if who.institution.is_none() && (platform_admin || platform_key) {
        Ok(())
    } else {
        Err(Denied::Forbidden("the region's catalogue and quality marks are the platform's to change".into()))
    }
}

/// The catalogue and marks as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogueView {
    pub region: String,
    pub items: Vec<crate::Item>,
    pub marks: Vec<crate::MarkConfig>,
}

/// The institution whose statistics a principal reads (`None`: all).
fn statistics_reach(who: &Principal) -> Result<Option<String>, Denied> {
    let admin = who.roles().iter().any(|r| matches!(r, Role::InstitutionAdmin | Role::SystemAdmin));
    let key = matches!(who.kind, Kind::Key { .. }) && who.may(Action::Recognition);
    if !(admin || key) {
        return Err(Denied::Forbidden("recognition statistics are for administrators and their institution's systems".into()));
    }
    match (&who.institution, who.roles().contains(&Role::SystemAdmin) || key) {
        (Some(own), _) => Ok(Some(own.clone())),
        (None, true) => Ok(None),
        (None, false) => Err(Denied::Forbidden("an institution administrator without an institution reads no statistics".into())),
    }
}

impl Recognition {
    /// Finds and stores the candidates for an order among `studies` (every
    /// identity's studies of the person the HIS named).
    pub async fn candidates_as(&self, who: &Principal, request: &OrderRequest, studies: &[String], now_ms: i64) -> Result<Offer, Denied> {
        let institution = ordering_institution(who, &request.issuer)?;
        let doctor = match who.kind {
            Kind::Person { .. } => who.id.clone(),
            _ if request.doctor.is_empty() => return Err(Denied::Invalid("doctor is required".into())),
            _ => request.doctor.clone(),
        };
        let order = Order {
            his_order_id: request.his_order_id.clone(),
            item_code: request.item_code.clone(),
            order_date: request.order_date.clone(),
            institution,
            department: request.department.clone(),
            doctor,
        };
        order.check()?;
        if studies.len() > crate::candidates::MAX_STUDIES {
            return Err(RecognitionError::TooMany("studies").into());
        }
        // Classified as they are now: a study stored since, or a catalogue
        // or mark changed since, counts at once.
        self.classify_stored(studies).await?;
        let facts = self.study_facts(studies).await?;
        Ok(self.offer(&order, &facts, now_ms).await?)
    }

    /// Records a doctor's decision on a candidate of an order of their
    /// institution (or amends the one in force).
    /// How long the images were open is read from the access record: the
    /// doctor's sittings of the study since the order was placed.
    pub async fn decide_as(
        &self,
        access: &Access,
        who: &Principal,
        order_id: &str,
        request: &DecisionRequest,
        now_ms: i64,
    ) -> Result<DecisionMade, Denied> {
        if !matches!(who.kind, Kind::Person { .. }) {
            return Err(Denied::Forbidden("a recognition decision is a doctor's: sign in".into()));
        }
        let (order, candidates) = self.order_of_institution(who, order_id).await?;
        if !candidates.iter().any(|c| c.study_instance_uid == request.study_instance_uid) {
            return Err(RecognitionError::NotOffered.into());
        }
        let seen = access
            .audit()
            .viewing(&who.id, &request.study_instance_uid, order.created_ms)
            .await
            .map_err(|e| Denied::Unavailable(format!("the access record cannot be read: {e}")))?;
        let decision = Decision {
            order_id: order.order_id.clone(),
            study_instance_uid: request.study_instance_uid.clone(),
            outcome: request.outcome,
            reason: request.reason.clone().filter(|r| !r.is_empty()),
            note: request.note.clone(),
            patient_informed: request.patient_informed,
            reexam_order_id: request.reexam_order_id.clone(),
            doctor: who.id.clone(),
            department: if request.department.is_empty() { order.department.clone() } else { request.department.clone() },
            institution: order.institution.clone(),
            opened_ms: seen.opened_ms,
            decided_ms: now_ms,
        };
        let version = match request.amends {
            Some(v) => self.amend(&decision, v, &request.amend_reason).await?,
            None => self.decide(&decision).await?,
        };
        Ok(DecisionMade {
            order_id: decision.order_id,
            study_instance_uid: decision.study_instance_uid,
            version,
            outcome: decision.outcome,
            reason: decision.reason,
            patient_informed: decision.patient_informed,
            doctor: decision.doctor,
            institution: decision.institution,
            opened_ms: decision.opened_ms,
            decided_ms: now_ms,
        })
    }

    /// An order of the principal's institution (a doctor or a system of
    /// it that may do [`Action::Recognition`]); another institution's is
    /// not found.
    async fn order_of_institution(
        &self,
        who: &Principal,
        order_id: &str,
    ) -> Result<(RecognitionOrderRow, Vec<RecognitionCandidateRow>), Denied> {
        if !who.may(Action::Recognition) {
            return Err(Denied::Forbidden("recognition of exams is not among your rights".into()));
        }
        if order_id.len() > 64 {
            return Err(RecognitionError::UnknownOrder.into());
        }
        let (order, candidates) = self.order(order_id).await?.ok_or(RecognitionError::UnknownOrder)?;
        if who.institution.as_deref() != Some(order.institution.as_str()) {
            // Another institution's orders are not shown to exist.
            return Err(RecognitionError::UnknownOrder.into());
        }
        Ok((order, candidates))
    }

    /// An order with its candidates and the decisions in force, for the
    /// ordering institution's doctors and systems.
    pub async fn order_as(&self, who: &Principal, order_id: &str) -> Result<OrderView, Denied> {
        let (order, candidates) = self.order_of_institution(who, order_id).await?;
        let item_name = self.catalogue().await?.item(&order.item_code).map(|i| i.name.clone()).unwrap_or_default();
        let mut views = Vec::with_capacity(candidates.len());
        for c in candidates {
            let decision =
                self.decisions(&order.order_id, &c.study_instance_uid).await?.into_iter().find(|d| d.current).map(|d| DecisionMade {
                    order_id: d.order_id,
                    study_instance_uid: d.study_instance_uid,
                    version: d.version,
                    outcome: Outcome::from_code(&d.outcome).unwrap_or(Outcome::NotRecognised),
                    reason: Some(d.reason).filter(|r| !r.is_empty()),
                    patient_informed: d.patient_informed,
                    doctor: d.doctor,
                    institution: d.institution,
                    opened_ms: d.opened_ms,
                    decided_ms: d.decided_ms,
                });
            views.push(CandidateView {
                study_instance_uid: c.study_instance_uid,
                institution: c.source_institution,
                study_date: c.study_date,
                age_days: c.age_days,
                hr: c.hr,
                hr_scope: c.hr_scope,
                decision,
            });
        }
        Ok(OrderView {
            order: crate::record::RecordOrder::of(&order, item_name),
            created_ms: order.created_ms,
            candidates: views,
            reasons: self.reasons().all(),
        })
    }

    /// The signed record of the decision in force on a candidate, for the
    /// ordering institution's doctors and systems to archive.
    pub async fn signed_record_as(&self, who: &Principal, order_id: &str, study: &str, now_ms: i64) -> Result<SignedRecord, Denied> {
        let (order, _) = self.order_of_institution(who, order_id).await?;
        let Some(signer) = self.signer() else {
            return Err(Denied::Unavailable("this node has no key to sign recognition records".into()));
        };
        let record = self.record(&order.order_id, study, now_ms).await?;
        Ok(crate::sign_record(&record, signer, (now_ms / 1000).max(0) as u64)?)
    }

    /// Opens a candidate of an order to the doctor deciding it: a
    /// recognition-request grant for that doctor and that study only,
    /// for [`Recognition::grant_minutes`]. A study of the doctor's own
    /// institution needs none (`None`).
    pub async fn open_as(
        &self,
        access: &Access,
        who: &Principal,
        order_id: &str,
        study: &str,
        client: &str,
    ) -> Result<Option<Grant>, Denied> {
        if !matches!(who.kind, Kind::Person { .. }) {
            return Err(Denied::Forbidden("a recognition request is a doctor's: sign in".into()));
        }
        let (order, candidates) = self.order_of_institution(who, order_id).await?;
        let candidate = candidates.iter().find(|c| c.study_instance_uid == study).ok_or(RecognitionError::NotOffered)?;
        if candidate.source_institution == order.institution {
            return Ok(None);
        }
        let studies = [candidate.study_instance_uid.clone()];
        Ok(Some(access.give_recognition_grant(who, &order.order_id, &studies, self.grant_minutes(), client).await?))
    }

    /// The region's catalogue and every quality mark: for whoever may do
    /// [`Action::Recognition`] or administers.
    pub async fn catalogue_as(&self, who: &Principal) -> Result<CatalogueView, Denied> {
        let admin = who.roles().iter().any(|r| matches!(r, Role::InstitutionAdmin | Role::SystemAdmin));
        if !(who.may(Action::Recognition) || admin) {
            return Err(Denied::Forbidden("recognition of exams is not among your rights".into()));
        }
        let catalogue = self.catalogue().await?;
        let marks = self
            .marks()
            .await?
            .iter()
            .map(|m| crate::MarkConfig {
                institution: m.institution.clone(),
                item: m.item_code.clone(),
                passed: m.passed,
                scope: m.scope.clone(),
                valid_from: m.valid_from.to_dicom(),
                valid_to: m.valid_to.to_dicom(),
            })
            .collect();
        Ok(CatalogueView { region: self.region().to_string(), items: catalogue.items().to_vec(), marks })
    }

    /// Replaces the region's catalogue (the platform's to do); the caller
    /// classifies the stored studies again ([`Recognition::reclassify`]).
    pub async fn replace_catalogue_as(&self, who: &Principal, items: Vec<crate::Item>, now_ms: i64) -> Result<usize, Denied> {
        region_admin(who)?;
        let n = items.len();
        self.replace_catalogue(items, now_ms).await?;
        Ok(n)
    }

    /// Replaces every quality mark (the platform's to do), as
    /// [`Recognition::replace_catalogue_as`].
    pub async fn replace_marks_as(&self, who: &Principal, marks: &[crate::MarkConfig]) -> Result<usize, Denied> {
        region_admin(who)?;
        self.replace_marks(marks).await?;
        Ok(marks.len())
    }

    /// Statistics as the principal may read them: an institution's own
    /// only (a filter naming another is refused), a platform's all.
    pub async fn statistics_as(&self, who: &Principal, query: &StatsQuery) -> Result<Vec<StatsRow>, Denied> {
        let mut query = query.clone();
        if let Some(own) = statistics_reach(who)? {
            if query.filters.iter().any(|(d, v)| *d == StatsDimension::Institution && *v != own) {
                return Err(Denied::Forbidden("another institution's statistics are not yours to read".into()));
            }
            query.filters.retain(|(d, _)| *d != StatsDimension::Institution);
            query.filters.push((StatsDimension::Institution, own));
        }
        Ok(self.statistics(&query).await?)
    }
}

/// A grouping or filter dimension by its name in the API (`region`,
/// `institution`, `department`, `doctor`, `item`, `month`).
pub fn dimension_of(name: &str) -> Option<StatsDimension> {
    Some(match name {
        "region" => StatsDimension::Region,
        "institution" => StatsDimension::Institution,
        "department" => StatsDimension::Department,
        "doctor" => StatsDimension::Doctor,
        "item" => StatsDimension::Item,
        "month" => StatsDimension::Month,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(institution: Option<&str>, actions: &[Action]) -> Principal {
        Principal {
            id: "key:k1".into(),
            name: "his".into(),
            kind: Kind::Key { key_id: "k1".into() },
            institution: institution.map(str::to_string),
            actions: yunying_access::Actions::of(actions),
            reach: yunying_access::Reach::All,
        }
    }

    #[test]
    fn an_institution_orders_for_its_own_patients_only() {
        let his = key(Some("HOSP_B"), &[Action::Recognition]);
        assert_eq!(ordering_institution(&his, "HOSP_B").unwrap(), "HOSP_B");
        assert!(matches!(ordering_institution(&his, "HOSP_A"), Err(Denied::Forbidden(_))));
        assert!(matches!(ordering_institution(&key(Some("HOSP_B"), &[Action::Patients]), "HOSP_B"), Err(Denied::Forbidden(_))));
        assert!(matches!(ordering_institution(&key(None, &[Action::Recognition]), "HOSP_B"), Err(Denied::Forbidden(_))));
    }

    #[test]
    fn statistics_reach_follows_role_and_institution() {
        let admin = Principal::person("u1", "a", Some("HOSP_B"), vec![Role::InstitutionAdmin]);
        assert_eq!(statistics_reach(&admin).unwrap().as_deref(), Some("HOSP_B"));
        let platform = Principal::person("u2", "s", None, vec![Role::SystemAdmin]);
        assert_eq!(statistics_reach(&platform).unwrap(), None);
        let doctor = Principal::person("u3", "d", Some("HOSP_B"), vec![Role::Radiologist]);
        assert!(matches!(statistics_reach(&doctor), Err(Denied::Forbidden(_))));
        assert_eq!(statistics_reach(&key(Some("HOSP_A"), &[Action::Recognition])).unwrap().as_deref(), Some("HOSP_A"));
        assert!(statistics_reach(&key(Some("HOSP_A"), &[Action::Search])).is_err());
    }
}
