//! The EMPI matching core: which `(issuer, PatientID)` identities, sent by
//! different institutions, are one person.
//!
//! Pure library: no database, no network, no files. The caller (index, HL7
//! feed, API) persists identities, persons and review entries.
//!
//! - [`id`]: national ID number (GB 11643-1999 check), insurance person code
//!   and phone number, validated, shown masked, matched as `HMAC-SM3` digests
//!   under a [`PlatformKey`].
//! - [`name`]: DICOM PN parsing and the Hanzi/Pinyin forms names compare in.
//! - [`record`]: the [`Identity`] an institution's patient carries.
//! - [`compare`]: field comparators and Fellegi–Sunter [`Weights`] in bits.
//! - [`matcher`]: deterministic links, blocking, scoring, thresholds and the
//!   explained [`Decision`].
//! - [`em`]: EM re-estimation of the weights from unlabelled pairs.
//! - `synth` (feature `synth`): the seeded synthetic population of the benchmark.
//!
//! Architecture invariant: nothing here logs or prints personal data: the
//! identifier types have no `Display` and a masking `Debug`, and the `Debug`
//! of names and identities shows lengths and presence, not values. Block keys
//! use the standard library's hasher: in memory only, never persisted.

#![warn(missing_docs)]

pub mod compare;
pub mod em;
pub mod id;
pub mod matcher;
pub mod name;
pub mod record;
#[cfg(feature = "synth")]
pub mod synth;

pub use compare::{Comparison, Field, FieldScore, Level, Mu, Weights, compare_identities};
pub use id::{IdDigest, IdError, IdKind, InsuranceCode, NationalId, Phone, PlatformKey};
pub use matcher::{BlockKind, Candidate, Decision, IdentityId, MatchConfig, MatchError, Matcher, Outcome, PersonId, ReviewReason};
pub use name::{NameError, PersonName};
pub use record::{BirthDate, Identity, RecordError, Sex};
