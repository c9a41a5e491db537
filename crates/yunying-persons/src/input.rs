//! What a feed says about an identity, and the three forms it is kept in:
//! the index row (masked identifiers, digests), the matcher's
//! [`yunying_empi::Identity`], and nothing else: a national ID or
//! insurance code is digested and masked here and never stored.

use yunying_empi::{BirthDate, IdKind, Identity, InsuranceCode, NationalId, PersonName, Phone, PlatformKey, Sex};
use yunying_index::{DigestRow, IdentityRow};

/// An identity as a feed (DICOM, HL7, the API) describes it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityInput {
    pub issuer: String,
    pub patient_id: String,
    /// DICOM PN (`Wang^Wei=王^伟`).
    pub name: String,
    /// DICOM DA (`19800314`), possibly partial or empty.
    pub birth_date: String,
    /// DICOM CS (`M`, `F`, `O`, "").
    pub sex: String,
    /// Candidate national ID numbers; invalid ones are dropped.
    pub national_ids: Vec<String>,
    /// Candidate medical-insurance person codes; invalid ones are dropped.
    pub insurance_codes: Vec<String>,
    pub phones: Vec<String>,
    pub address: String,
}

/// Names the issuer and how many identifiers, never a value.
impl std::fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityInput")
            .field("issuer", &self.issuer)
            .field("national_ids", &self.national_ids.len())
            .field("insurance_codes", &self.insurance_codes.len())
            .finish_non_exhaustive()
    }
}

/// Most identifiers of each kind taken from one input.
pub const MAX_IDENTIFIERS: usize = 2;

/// Most characters of a name, birth date, sex or address kept.
pub const MAX_FIELD_CHARS: usize = 256;

/// The three forms of an input.
pub struct Prepared {
    pub row: IdentityRow,
    pub digests: Vec<DigestRow>,
    pub identity: Identity,
}

fn bounded(s: &str) -> String {
    s.chars().take(MAX_FIELD_CHARS).collect::<String>().trim().to_string()
}

impl IdentityInput {
    /// Digest and mask the identifiers under `key`; the fields bounded.
    pub fn prepare(&self, key: &PlatformKey, source: &str, now_ms: i64) -> Prepared {
        let mut digests = Vec::new();
        let mut masked = Vec::new();
        let mut ids = Vec::new();
        for n in self.national_ids.iter().filter_map(|s| NationalId::parse(s).ok()).take(MAX_IDENTIFIERS) {
            let d = n.digest(key);
            if !ids.contains(&d) {
                ids.push(d);
                digests.push(("national-id".to_string(), hex::encode(d.bytes())));
                masked.push(format!("national-id:{}", n.masked()));
            }
        }
        for c in self.insurance_codes.iter().filter_map(|s| InsuranceCode::parse(s).ok()).take(MAX_IDENTIFIERS) {
            let d = c.digest(key);
            if !ids.contains(&d) {
                ids.push(d);
                digests.push(("insurance-code".to_string(), hex::encode(d.bytes())));
                masked.push(format!("insurance-code:{}", c.masked()));
            }
        }
        let phone = self.phones.iter().find_map(|p| Phone::parse(p).ok()).map(|p| p.digest(key));
        let name = bounded(&self.name);
        let birth_date = bounded(&self.birth_date);
        let sex = bounded(&self.sex);
        let address = bounded(&self.address);
        let identity = Identity {
            name: PersonName::parse(&name).unwrap_or_default(),
            birth_date: BirthDate::from_dicom(&birth_date).unwrap_or(BirthDate::UNKNOWN),
            sex: Sex::from_dicom(&sex),
            id_digests: ids,
            phone,
            address: (!address.is_empty()).then(|| address.clone()),
            ..Identity::new(&self.issuer, &self.patient_id)
        };
        let row = IdentityRow {
            issuer: self.issuer.clone(),
            patient_id: self.patient_id.clone(),
            name,
            birth_date,
            sex,
            ids_masked: masked.join(","),
            phone_digest: phone.map(|p| hex::encode(p.bytes())).unwrap_or_default(),
            address,
            source: source.to_string(),
            updated_ms: now_ms,
            ..IdentityRow::default()
        };
        Prepared { row, digests, identity }
    }
}

/// The matcher's identity of a stored row and its digests.
pub fn identity_of(row: &IdentityRow, digests: &[DigestRow]) -> Identity {
    let id_digests = digests
        .iter()
        .filter_map(|(kind, hex)| {
            let kind = match kind.as_str() {
                "national-id" => IdKind::NationalId,
                "insurance-code" => IdKind::InsuranceCode,
                _ => return None,
            };
            let bytes: [u8; 32] = hex::decode(hex).ok()?.try_into().ok()?;
            Some(yunying_empi::IdDigest::from_parts(kind, bytes))
        })
        .take(yunying_empi::record::MAX_DIGESTS)
        .collect();
    let phone = hex::decode(&row.phone_digest)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(|b| yunying_empi::IdDigest::from_parts(IdKind::Phone, b));
    Identity {
        name: PersonName::parse(&row.name).unwrap_or_default(),
        birth_date: BirthDate::from_dicom(&row.birth_date).unwrap_or(BirthDate::UNKNOWN),
        sex: Sex::from_dicom(&row.sex),
        id_digests,
        phone,
        address: (!row.address.is_empty()).then(|| row.address.clone()),
        ..Identity::new(&row.issuer, &row.patient_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "11010519491231002X";

    #[test]
    fn identifiers_are_digested_and_masked_never_kept() {
        let key = PlatformKey::new(b"a platform key of enough bytes").unwrap();
        let input = IdentityInput {
            issuer: "HOSP_A".into(),
            patient_id: "A123".into(),
            name: "Zhang^San=张^三".into(),
            birth_date: "19491231".into(),
            sex: "F".into(),
            national_ids: vec![ID.into(), "110105194912310021".into()],
            ..Default::default()
        };
        let p = input.prepare(&key, "dicom", 1);
        assert_eq!(p.digests.len(), 1, "the number with a wrong check digit is dropped");
        assert!(!format!("{:?}{:?}", p.row, p.digests).contains("19491231002"), "no stored form holds the number");
        assert!(p.row.ids_masked.starts_with("national-id:1101") && p.row.ids_masked.ends_with("002X"), "{}", p.row.ids_masked);
        let again = identity_of(&p.row, &p.digests);
        assert_eq!(again.id_digests, p.identity.id_digests, "the stored digests give the matcher the same identity");
        let other_key = PlatformKey::new(b"another platform key, as long").unwrap();
        assert_ne!(input.prepare(&other_key, "dicom", 1).digests, p.digests);
    }
}
