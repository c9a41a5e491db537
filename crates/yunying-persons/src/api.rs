//! The EMPI as principals reach it (the API's and the command line's
//! faces call these): every request needs [`Action::Patients`] (a
//! platform administrator, or a hospital MPI's key with the `empi`
//! scope), and an institution's key speaks only for its own identities.

use yunying_access::{Action, Denied, Principal};

use crate::{IdentityInput, PersonView, Persons, PersonsError};

impl From<PersonsError> for Denied {
    fn from(e: PersonsError) -> Self {
        match e {
            PersonsError::Index(yunying_index::IndexError::NotFound(what)) => Denied::NotFound(what),
            PersonsError::Index(yunying_index::IndexError::Conflict(why)) => Denied::Invalid(why),
            PersonsError::Index(e) => Denied::Unavailable(e.to_string()),
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

impl Persons {
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
