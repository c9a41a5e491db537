//! The EMPI as principals reach it (the API's and the command line's
//! faces call these): every request needs [`Action::Patients`] (a
//! platform administrator, or a hospital MPI's key with the `empi`
//! scope), and an institution's key speaks only for its own identities.

use serde::Serialize;
use yunying_access::{Access, Action, Denied, Principal};

use crate::{IdentityInput, PersonView, Persons, PersonsError};

impl From<PersonsError> for Denied {
    fn from(e: PersonsError) -> Self {
        match e {
            PersonsError::Index(yunying_index::IndexError::NotFound(what)) => Denied::NotFound(what),
            PersonsError::Index(yunying_index::IndexError::Conflict(why)) => Denied::Invalid(why),
            PersonsError::Index(e) => e.into(),
            PersonsError::UnknownIdentity => Denied::NotFound("no such identity".into()),
            PersonsError::Invalid(why) => Denied::Invalid(why),
        }
    }
}

fn allowed(who: &Principal) -> Result<(), Denied> {
    if who.may(Action::Patients) { Ok(()) } else { Err(Denied::Forbidden("managing the patient index is not among your rights".into())) }
}

/// An institution's principal names only its own identities.
fn speaks_for(who: &Principal, issuer: &str) -> Result<(), Denied> {
    match who.institution.as_deref() {
        Some(own) if own != issuer => Err(Denied::Forbidden(format!("identities issued by {issuer} are not yours to change"))),
        _ => Ok(()),
    }
}

/// Most priors answered for one study.
pub const MAX_PRIORS: usize = 200;

/// The other studies of a study's patient that a principal reaches.
#[derive(Debug, Clone, Serialize)]
pub struct Priors {
    /// Whether the study's identity is linked to a person: the studies of
    /// every institution's identity of that person; `false`: only the
    /// identity's own studies (the viewer may then look by name).
    pub linked: bool,
    /// Newest first, each with the institution that issued its identity.
    pub studies: Vec<crate::StudyView>,
}

impl Persons {
    /// The priors (and timeline across institutions) of `study` for a
    /// principal that reaches it: the person's other studies that the
    /// principal reaches too (own institution's or through a grant), at
    /// most [`MAX_PRIORS`]. Studies out of reach are not mentioned.
    pub async fn priors_as(&self, access: &Access, who: &Principal, study: &str) -> Result<Priors, Denied> {
        access.check_study(who, Action::View, study).await?;
        let found = self.index().patients_of_studies(&[study.to_string()]).await.map_err(PersonsError::from)?;
        let Some((_, issuer, patient_id)) = found.into_iter().next() else {
            return Err(Denied::NotFound(format!("no study {study}")));
        };
        let (linked, studies) = self.index().person_studies_of_identity(&issuer, &patient_id).await.map_err(PersonsError::from)?;
        let mut reached = Vec::new();
        for s in studies {
            if reached.len() >= MAX_PRIORS {
                break;
            }
            if s.study_instance_uid != study && access.check_study(who, Action::View, &s.study_instance_uid).await.is_ok() {
                reached.push(crate::StudyView::from(s));
            }
        }
        Ok(Priors { linked, studies: reached })
    }

    /// A feed's identity (registration or update).
    pub async fn feed_as(&self, who: &Principal, input: &IdentityInput) -> Result<i64, Denied> {
        allowed(who)?;
        speaks_for(who, &input.issuer)?;
        Ok(self.put_identity(input, "api").await?)
    }

    /// Merge `prior`'s person into `survivor`'s.
    pub async fn merge_as(&self, who: &Principal, prior: (&str, &str), survivor: (&str, &str)) -> Result<String, Denied> {
        allowed(who)?;
        speaks_for(who, prior.0)?;
        Ok(self.merge(prior, survivor, &who.id, "api").await?)
    }

    /// Undo an operation.
    pub async fn unmerge_as(&self, who: &Principal, op: &str) -> Result<String, Denied> {
        allowed(who)?;
        if who.institution.is_some() {
            // Whose identities it moved is checked before anything changes.
            for h in self.index().empi_operation(op).await.map_err(PersonsError::from)? {
                let row = self.index().empi_identity_by_id(h.identity).await.map_err(PersonsError::from)?;
                if let Some(row) = row {
                    speaks_for(who, &row.issuer)?;
                }
            }
        }
        Ok(self.unmerge(op, &who.id).await?)
    }

    /// The person of an identity: every linked identity and study.
    pub async fn person_as(&self, who: &Principal, issuer: &str, patient_id: &str) -> Result<PersonView, Denied> {
        allowed(who)?;
        let person =
            self.person_of(issuer, patient_id).await?.ok_or_else(|| Denied::NotFound("that identity is not linked (yet)".into()))?;
        Ok(self.person(person).await?)
    }
}
