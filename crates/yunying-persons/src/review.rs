//! The review queue as principals reach it: identities the linker scored
//! between the review and auto-link thresholds (or whose identifiers
//! conflict) wait, each in a person of its own, for a person to decide:
//! the same patient as one of the candidates (a merge, undone like any
//! other by `unmerge`) or a distinct one. [`Action::Patients`] as for the
//! rest of the EMPI; an institution's principal sees and decides only
//! reviews of its own identities.

use serde::{Deserialize, Serialize};
use yunying_access::{Action, Denied, Principal};

use crate::{Persons, PersonsError};

/// Most reviews listed at once.
pub const MAX_REVIEWS: i64 = 500;

/// A review entry as shown (the identity with its identifiers masked).
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub id: i64,
    pub issuer: String,
    pub patient_id: String,
    pub name: String,
    pub birth_date: String,
    pub sex: String,
    pub ids_masked: String,
    /// Why it waits (`IdConflict…`, `Uncertain…`).
    pub reason: String,
    /// The candidate persons with their scores and each field's weight.
    pub candidates: serde_json::Value,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    /// `same:PERSON` or `distinct` once decided.
    pub decision: String,
    pub actor: String,
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// The candidate person this identity is the same patient as; none:
    /// a distinct patient.
    #[serde(default)]
    pub same_as: Option<i64>,
}

fn allowed(who: &Principal) -> Result<(), Denied> {
    if who.may(Action::Patients) { Ok(()) } else { Err(Denied::Forbidden("managing the patient index is not among your rights".into())) }
}

impl Persons {
    /// Review entries (open ones only when `open`), newest first, those of
    /// the principal's institution's identities for an institution's.
    pub async fn reviews_as(&self, who: &Principal, open: bool) -> Result<Vec<ReviewView>, Denied> {
        allowed(who)?;
        let mut out = Vec::new();
        for r in self.index().empi_reviews(open, MAX_REVIEWS).await.map_err(PersonsError::from)? {
            let Some(identity) = self.index().empi_identity_by_id(r.identity).await.map_err(PersonsError::from)? else { continue };
            if who.institution.as_deref().is_some_and(|own| own != identity.issuer) {
                continue;
            }
            out.push(ReviewView {
                id: r.id,
                issuer: identity.issuer,
                patient_id: identity.patient_id,
                name: identity.name,
                birth_date: identity.birth_date,
                sex: identity.sex,
                ids_masked: identity.ids_masked,
                reason: r.reason,
                candidates: serde_json::from_str(&r.candidates).unwrap_or_default(),
                created_ms: r.created_ms,
                decided_ms: r.decided_ms,
                decision: r.decision,
                actor: r.actor,
            });
        }
        Ok(out)
    }

    /// Decides an open review: the same patient as a candidate person (the
    /// identity's person is merged into it; returns the operation, which
    /// `unmerge` undoes) or a distinct patient (nothing moves; `None`).
    pub async fn decide_review_as(&self, who: &Principal, id: i64, decision: &ReviewDecision) -> Result<Option<String>, Denied> {
        allowed(who)?;
        let open = self.index().empi_reviews(true, 100_000).await.map_err(PersonsError::from)?;
        let review = open.into_iter().find(|r| r.id == id).ok_or_else(|| Denied::NotFound(format!("no open review {id}")))?;
        let identity =
            self.index().empi_identity_by_id(review.identity).await.map_err(PersonsError::from)?.ok_or(PersonsError::UnknownIdentity)?;
        if who.institution.as_deref().is_some_and(|own| own != identity.issuer) {
            return Err(Denied::NotFound(format!("no open review {id}")));
        }
        let (op, label) = match decision.same_as {
            Some(person) => {
                let candidates: serde_json::Value = serde_json::from_str(&review.candidates).unwrap_or_default();
                let offered = candidates.as_array().is_some_and(|c| c.iter().any(|c| c["person"].as_i64() == Some(person)));
                if !offered {
                    return Err(Denied::Invalid(format!("person {person} is not among this review's candidates")));
                }
                let survivor = self
                    .index()
                    .empi_identities_of(person)
                    .await
                    .map_err(PersonsError::from)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Denied::Invalid(format!("person {person} has no identity left")))?;
                let op = self
                    .merge((&identity.issuer, &identity.patient_id), (&survivor.issuer, &survivor.patient_id), &who.id, "review")
                    .await?;
                (Some(op), format!("same:{person}"))
            }
            None => (None, "distinct".to_string()),
        };
        if !self.index().empi_decide_review(id, &label, &who.id, yunying_access::now_ms()).await.map_err(PersonsError::from)? {
            return Err(Denied::Invalid("this review was decided meanwhile".into()));
        }
        Ok(op)
    }
}
