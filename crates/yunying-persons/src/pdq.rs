//! Demographic queries (IHE PDQm `$match`): "who is this patient here?"
//! from what another system knows (name in Pinyin and/or Hanzi, birth
//! date, sex, national ID or insurance code, phone). The query is scored
//! with the linker's own comparison and weights against the identities
//! that share its birth date or an identifier digest; identities at or
//! above the review threshold are answered, best first, each graded
//! `certain` (an identifier agrees, or the auto-link score) or `probable`.
//! [`Action::Patients`], as for the rest of the EMPI.

use serde::Serialize;
use yunying_access::{Action, Denied, Principal};
use yunying_empi::compare_identities;

use crate::input::identity_of;
use crate::{IdentityInput, Persons, PersonsError};

/// Most matches answered.
pub const MAX_MATCHES: usize = 50;

/// One identity matching a query.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub issuer: String,
    pub patient_id: String,
    pub name: String,
    pub birth_date: String,
    pub sex: String,
    /// The person it belongs to (`None`: not linked yet).
    pub person: Option<i64>,
    /// The score in bits (the linker's scale).
    pub score: f64,
    /// `certain` or `probable`.
    pub grade: &'static str,
}

impl Persons {
    /// The identities matching `query` (its issuer and Patient ID are not
    /// used), best first, at most `count` (≤ [`MAX_MATCHES`]); only the
    /// `certain` ones when `certain_only`.
    pub async fn match_as(&self, who: &Principal, query: &IdentityInput, count: usize, certain_only: bool) -> Result<Vec<Match>, Denied> {
        if !who.may(Action::Patients) {
            return Err(Denied::Forbidden("querying the patient index is not among your rights".into()));
        }
        let prepared = query.prepare(&self.0.key, "query", 0);
        if prepared.row.birth_date.len() != 8 && prepared.digests.is_empty() {
            return Err(Denied::Invalid("a query names a full birth date or an identifier".into()));
        }
        let digests: Vec<String> = prepared.digests.iter().map(|(_, d)| d.clone()).collect();
        let block =
            self.index().empi_block(&prepared.row.birth_date, &digests, yunying_index::MAX_EMPI_BLOCK).await.map_err(PersonsError::from)?;
        let weights = self.0.matching.weights.clone();
        let mut found: Vec<Match> = Vec::new();
        for (row, row_digests) in block {
            let candidate = identity_of(&row, &row_digests);
            let score = compare_identities(&prepared.identity, &candidate, &weights).score(&weights);
            let shared_id = row_digests.iter().any(|(_, d)| digests.contains(d));
            let grade = if shared_id || score >= self.0.matching.auto_link {
                "certain"
            } else if score >= self.0.matching.review {
                "probable"
            } else {
                continue;
            };
            if certain_only && grade != "certain" {
                continue;
            }
            found.push(Match {
                issuer: row.issuer,
                patient_id: row.patient_id,
                name: row.name,
                birth_date: row.birth_date,
                sex: row.sex,
                person: row.person,
                score: (score * 10.0).round() / 10.0,
                grade,
            });
        }
        found.sort_by(|a, b| (b.grade == "certain").cmp(&(a.grade == "certain")).then(b.score.total_cmp(&a.score)));
        found.truncate(count.clamp(1, MAX_MATCHES));
        Ok(found)
    }
}
