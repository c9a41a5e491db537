//! Identities whose person was decided before (loading a stored EMPI, or
//! following a merge made elsewhere): indexed for matching, not matched.

use super::{Features, IdentityId, MatchError, Matcher, PersonId};
use crate::record::Identity;

impl Matcher {
    /// A new, empty person.
    pub fn new_person(&mut self) -> PersonId {
        self.persons += 1;
        PersonId(self.persons - 1)
    }

    /// Add an identity that belongs to `person` (or to a new person),
    /// without matching it: later identities are matched against it.
    pub fn insert(&mut self, identity: &Identity, person: Option<PersonId>) -> Result<(IdentityId, PersonId), MatchError> {
        identity.validate()?;
        let key = (identity.issuer.clone(), identity.patient_id.clone());
        if self.keys.contains(&key) {
            return Err(MatchError::Duplicate);
        }
        let person = match person {
            Some(p) if p.0 < self.persons => p,
            Some(_) => return Err(MatchError::Unknown),
            None => self.new_person(),
        };
        let id = self.push(key, Features::new(identity), person);
        Ok((id, person))
    }
}

#[cfg(test)]
mod tests {
    use crate::matcher::{Decision, MatchConfig, Matcher};
    use crate::{BirthDate, Identity, PersonName, Sex};

    fn wang(issuer: &str, id: &str) -> Identity {
        Identity {
            name: PersonName::parse("Wang^Xiaoming=王^小明").unwrap(),
            birth_date: BirthDate::ymd(1980, 3, 14).unwrap(),
            sex: Sex::Male,
            ..Identity::new(issuer, id)
        }
    }

    #[test]
    fn an_inserted_identity_keeps_its_person_and_later_ones_match_it() {
        let mut m = Matcher::new(MatchConfig::default()).unwrap();
        let kept = m.new_person();
        let (first, person) = m.insert(&wang("A", "1"), Some(kept)).unwrap();
        assert_eq!((person, m.person_of(first)), (kept, Some(kept)));
        let (_, apart) = m.insert(&Identity::new("A", "2"), None).unwrap();
        assert_ne!(apart, kept, "no person given: a new one");
        assert!(m.insert(&wang("A", "1"), None).is_err(), "the same identity twice");
        let out = m.add(&wang("B", "9")).unwrap();
        assert!(matches!(out.decision, Decision::AutoLink(_)), "{:?}", out.decision);
        assert_eq!(out.person, kept);
    }
}
