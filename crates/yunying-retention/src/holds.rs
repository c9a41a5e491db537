//! Legal holds, the policy table and a study's patient class: the
//! `ManageRetention` jobs, each recorded. A hold names a patient (issuer
//! and Patient ID, compared as values) or one study; while it is in
//! force, nothing it covers is requested for deletion, executed or
//! purged. Lifting ends it; the row stays as the record.

use serde::Deserialize;
use yunying_access::{Action, Denied, Principal, now_ms, random_id};
use yunying_index::{HoldRow, PolicyRow};

use crate::policy::PatientClass;
use crate::{MAX_LIST, MAX_YEARS, Retention, bounded_id, bounded_text, require_any, within};

/// What a hold covers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HoldTarget {
    /// Every study, present and future, of this patient of `issuer`.
    Patient { issuer: String, patient_id: String },
    /// One study.
    Study { study_instance_uid: String },
}

impl Retention {
    /// Put a legal hold in force.
    pub async fn set_hold(&self, by: &Principal, target: HoldTarget, reason: &str, client: &str) -> Result<HoldRow, Denied> {
        self.access.require(by, Action::ManageRetention)?;
        let reason = bounded_text("reason", reason, true)?;
        let (issuer, patient_id, study) = match target {
            HoldTarget::Patient { issuer, patient_id } => {
                (bounded_id("issuer", &issuer)?, bounded_id("Patient ID", &patient_id)?, String::new())
            }
            HoldTarget::Study { study_instance_uid } => {
                let study = bounded_id("Study Instance UID", &study_instance_uid)?;
                let (issuer, _, _) =
                    self.index().study_facts(&study).await?.ok_or_else(|| Denied::NotFound(format!("no study {study}")))?;
                (issuer, String::new(), study)
            }
        };
        within(by, &issuer)?;
        let hold = HoldRow {
            hold_id: random_id(8),
            issuer,
            patient_id,
            study_instance_uid: study,
            reason,
            set_by: by.id.clone(),
            set_ms: now_ms(),
            lifted_by: None,
            lifted_ms: None,
        };
        self.index().add_hold(&hold).await?;
        // The Patient ID stays out of the record; the hold id leads to it.
        let studies: Vec<String> = [hold.study_instance_uid.clone()].into_iter().filter(|s| !s.is_empty()).collect();
        let kind = if studies.is_empty() { "patient" } else { "study" };
        let detail = format!("hold {} on a {kind} of {}", hold.hold_id, hold.issuer);
        self.access.record(&by.id, "legal-hold-set", &studies, "retention", client, "ok", &detail).await;
        Ok(hold)
    }

    /// Lift a hold in force.
    pub async fn lift_hold(&self, by: &Principal, hold_id: &str, client: &str) -> Result<HoldRow, Denied> {
        self.access.require(by, Action::ManageRetention)?;
        let id = bounded_id("hold id", hold_id)?;
        let hold = self.index().hold(&id).await?.ok_or_else(|| Denied::NotFound(format!("no legal hold {id}")))?;
        within(by, &hold.issuer)?;
        if !self.index().lift_hold(&id, &by.id, now_ms()).await? {
            return Err(Denied::Invalid(format!("legal hold {id} is lifted already")));
        }
        let studies: Vec<String> = [hold.study_instance_uid.clone()].into_iter().filter(|s| !s.is_empty()).collect();
        self.access.record(&by.id, "legal-hold-lifted", &studies, "retention", client, "ok", &format!("hold {id}")).await;
        self.index().hold(&id).await?.ok_or_else(|| Denied::NotFound(format!("no legal hold {id}")))
    }

    /// Holds, newest first (of the caller's institution if it has one).
    pub async fn holds(&self, by: &Principal, in_force_only: bool) -> Result<Vec<HoldRow>, Denied> {
        require_any(&self.access, by, &[Action::ManageRetention, Action::ReadAudit])?;
        Ok(self.index().holds(in_force_only, by.institution.as_deref(), MAX_LIST).await?)
    }

    /// Set how long studies of an institution (or `*`) and class are kept.
    pub async fn set_policy(
        &self,
        by: &Principal,
        institution: &str,
        class: &str,
        keep_years: i64,
        client: &str,
    ) -> Result<PolicyRow, Denied> {
        self.access.require(by, Action::ManageRetention)?;
        let (institution, class) = self.policy_key(by, institution, class)?;
        if !(1..=MAX_YEARS).contains(&keep_years) {
            return Err(Denied::Invalid(format!("keep_years must be 1 to {MAX_YEARS}")));
        }
        let row = PolicyRow { institution, patient_class: class.name().into(), keep_years, set_by: by.id.clone(), set_ms: now_ms() };
        self.index().set_retention_policy(&row).await?;
        let detail = format!("institution={} class={} keep_years={keep_years}", row.institution, row.patient_class);
        self.access.record(&by.id, "retention-policy-changed", &[], "retention", client, "ok", &detail).await;
        Ok(row)
    }

    /// Remove a row: the defaults (or `*`'s row) apply again.
    pub async fn remove_policy(&self, by: &Principal, institution: &str, class: &str, client: &str) -> Result<(), Denied> {
        self.access.require(by, Action::ManageRetention)?;
        let (institution, class) = self.policy_key(by, institution, class)?;
        if !self.index().remove_retention_policy(&institution, class.name()).await? {
            return Err(Denied::NotFound(format!("no policy for {institution} / {}", class.name())));
        }
        let detail = format!("institution={institution} class={} removed", class.name());
        self.access.record(&by.id, "retention-policy-changed", &[], "retention", client, "ok", &detail).await;
        Ok(())
    }

    fn policy_key(&self, by: &Principal, institution: &str, class: &str) -> Result<(String, PatientClass), Denied> {
        let institution = bounded_id("institution", institution)?;
        let class = PatientClass::parse(class).ok_or_else(|| Denied::Invalid("class is outpatient, inpatient or unknown".into()))?;
        if institution == "*" && by.institution.is_some() {
            return Err(Denied::Forbidden("the rows for every institution (*) are the platform's".into()));
        }
        within(by, &institution)?;
        Ok((institution, class))
    }

    /// The policy rows.
    pub async fn policy_rows(&self, by: &Principal) -> Result<Vec<PolicyRow>, Denied> {
        require_any(&self.access, by, &[Action::ManageRetention, Action::ReadAudit])?;
        Ok(self.index().retention_policies().await?)
    }

    /// Set a study's patient class (which policy row applies to it).
    pub async fn set_class(&self, by: &Principal, study: &str, class: &str, client: &str) -> Result<(), Denied> {
        self.access.require(by, Action::ManageRetention)?;
        let study = bounded_id("Study Instance UID", study)?;
        let class = PatientClass::parse(class).ok_or_else(|| Denied::Invalid("class is outpatient, inpatient or unknown".into()))?;
        let (issuer, _, _) = self.index().study_facts(&study).await?.ok_or_else(|| Denied::NotFound(format!("no study {study}")))?;
        within(by, &issuer)?;
        self.index().set_study_class(&study, class.column()).await?;
        self.access.record(&by.id, "patient-class-set", std::slice::from_ref(&study), "retention", client, "ok", class.name()).await;
        Ok(())
    }
}
