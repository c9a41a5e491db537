//! A patient's studies across institutions: when the identity (issuer,
//! Patient ID) is linked to an EMPI person, the studies of every identity
//! of that person; otherwise the identity's own. For the viewer's priors
//! and timeline and for a film's "include prior studies".

use crate::{Index, PersonStudy, Result};

/// Most studies read for one patient (newest first).
pub const MAX_PERSON_STUDIES: i64 = 1_000;

impl Index {
    /// The studies of the person `(issuer, patient_id)` belongs to, newest
    /// first, and whether the identity is linked to a person (`false`: its
    /// own studies only). A blank Patient ID has no studies of its own.
    pub async fn person_studies_of_identity(&self, issuer: &str, patient_id: &str) -> Result<(bool, Vec<PersonStudy>)> {
        if patient_id.trim().is_empty() {
            return Ok((false, Vec::new()));
        }
        let person: Option<Option<i64>> = sqlx::query_scalar("SELECT person_pk FROM empi_identities WHERE issuer = $1 AND patient_id = $2")
            .bind(issuer)
            .bind(patient_id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(Some(person)) = person {
            let mut studies = self.empi_studies_of(person).await?;
            studies.truncate(MAX_PERSON_STUDIES as usize);
            return Ok((true, studies));
        }
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT st.study_instance_uid, st.study_date, st.modalities_in_study, st.study_description
             FROM studies st JOIN patients p ON p.id = st.patient_pk
             WHERE p.issuer = $1 AND p.patient_id = $2 ORDER BY st.study_date DESC, st.id DESC LIMIT $3",
        )
        .bind(issuer)
        .bind(patient_id)
        .bind(MAX_PERSON_STUDIES)
        .fetch_all(&self.pool)
        .await?;
        Ok((
            false,
            rows.into_iter()
                .map(|r| PersonStudy {
                    study_instance_uid: r.0,
                    issuer: issuer.to_string(),
                    patient_id: patient_id.to_string(),
                    study_date: r.1,
                    modalities: r.2,
                    description: r.3,
                })
                .collect(),
        ))
    }
}
