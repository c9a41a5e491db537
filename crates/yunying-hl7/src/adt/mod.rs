//! ADT patient events: what the hospital MPI tells the patient index.
//!
//! [`AdtEvent::from_message`] reads a parsed message into a typed event:
//! register/update (A01, A04, A05, A08, A28, A31), merge (A40: each PID-3
//! survives, its MRG-1 identifiers are retired into it), link (A24) and
//! unlink (A37) of two patients. Any other message type, event or version
//! is a typed [`AdtError`], which [`crate::AckDecision::from_error`] turns
//! into an AR or AE acknowledgement.

pub(crate) mod types;

pub use types::{Address, BirthDate, Designator, Identifier, IdentifierKind, NameRepresentation, PersonName, Phone, Sex};

use crate::error::AdtError;
use crate::parse::{Message, Segment};

/// What the MSH segment says about a message; read from any message, ADT
/// or not, so every message can be acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-10, echoed in the ACK's MSA-2.
    pub control_id: String,
    /// MSH-3.
    pub sending_application: Designator,
    /// MSH-4.
    pub sending_facility: Designator,
    /// MSH-5.
    pub receiving_application: Designator,
    /// MSH-6.
    pub receiving_facility: Designator,
    /// MSH-7 as sent.
    pub timestamp: String,
    /// MSH-9.1 (`ADT`).
    pub message_type: String,
    /// MSH-9.2 (`A04`); EVN-1 when MSH-9.2 is empty (HL7 2.2 and older).
    pub trigger_code: String,
    /// MSH-9.3 (`ADT_A01`).
    pub structure: String,
    /// MSH-11.1 (`P` production, `T` training, `D` debugging).
    pub processing_id: String,
    /// MSH-12.1 (`2.5`).
    pub version: String,
    /// MSH-18's first value as sent (empty when the message declares none).
    pub charset: String,
}

impl Header {
    /// The header of a parsed message.
    pub fn from_message(m: &Message) -> Header {
        let first = |n: usize| m.get("MSH", n).first();
        let mut trigger_code = first(9).value(2);
        if trigger_code.is_empty() {
            trigger_code = m.get("EVN", 1).value();
        }
        Header {
            control_id: m.get("MSH", 10).value(),
            sending_application: Designator::from_components(&first(3)),
            sending_facility: Designator::from_components(&first(4)),
            receiving_application: Designator::from_components(&first(5)),
            receiving_facility: Designator::from_components(&first(6)),
            timestamp: m.get("MSH", 7).value(),
            message_type: first(9).value(1),
            trigger_code,
            structure: first(9).value(3),
            processing_id: m.get("MSH", 11).value(),
            version: m.get("MSH", 12).value(),
            charset: m.get("MSH", 18).value().trim().to_string(),
        }
    }
}

/// The ADT trigger events this crate extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A01 admit/visit notification.
    A01,
    /// A04 register a patient.
    A04,
    /// A05 pre-admit a patient.
    A05,
    /// A08 update patient information.
    A08,
    /// A28 add person information.
    A28,
    /// A31 update person information.
    A31,
    /// A40 merge patient — patient identifier list.
    A40,
    /// A24 link patient information.
    A24,
    /// A37 unlink patient information.
    A37,
}

impl Trigger {
    /// The trigger of an MSH-9.2 code; `None` for one not extracted.
    pub fn from_code(code: &str) -> Option<Trigger> {
        Some(match code {
            "A01" => Trigger::A01,
            "A04" => Trigger::A04,
            "A05" => Trigger::A05,
            "A08" => Trigger::A08,
            "A28" => Trigger::A28,
            "A31" => Trigger::A31,
            "A40" => Trigger::A40,
            "A24" => Trigger::A24,
            "A37" => Trigger::A37,
            _ => return None,
        })
    }

    /// The code (`A40`).
    pub fn code(self) -> &'static str {
        match self {
            Trigger::A01 => "A01",
            Trigger::A04 => "A04",
            Trigger::A05 => "A05",
            Trigger::A08 => "A08",
            Trigger::A28 => "A28",
            Trigger::A31 => "A31",
            Trigger::A40 => "A40",
            Trigger::A24 => "A24",
            Trigger::A37 => "A37",
        }
    }
}

/// One patient as a PID segment describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patient {
    /// PID-3, the patient identifier list (never empty in an event).
    pub identifiers: Vec<Identifier>,
    /// PID-5, every name repetition (Pinyin and Hanzi alike).
    pub names: Vec<PersonName>,
    /// PID-7.
    pub birth_date: Option<BirthDate>,
    /// PID-8.
    pub sex: Option<Sex>,
    /// PID-11.
    pub addresses: Vec<Address>,
    /// PID-13, home phone numbers (and e-mail addresses).
    pub phones: Vec<Phone>,
    /// The fields among PID-5, 7, 8, 11 and 13 sent as the HL7 null `""`:
    /// "delete the value you hold" (an empty field means "no change").
    pub cleared: Vec<&'static str>,
}

impl Patient {
    /// Read a PID segment; PID-3 must hold an identifier.
    fn from_pid(m: &Message, pid: &Segment) -> Result<Patient, AdtError> {
        let identifiers = types::identifiers(m.field(pid, 3));
        if identifiers.is_empty() {
            return Err(AdtError::MissingField("PID-3"));
        }
        Ok(Patient {
            identifiers,
            names: types::names(m.field(pid, 5)),
            birth_date: BirthDate::parse(&m.field(pid, 7).value())?,
            sex: Sex::parse(&m.field(pid, 8).value())?,
            addresses: types::addresses(m.field(pid, 11)),
            phones: types::phones(m.field(pid, 13)),
            cleared: [(5, "PID-5"), (7, "PID-7"), (8, "PID-8"), (11, "PID-11"), (13, "PID-13")]
                .into_iter()
                .filter(|(n, _)| m.field(pid, *n).raw() == "\"\"")
                .map(|(_, name)| name)
                .collect(),
        })
    }

    /// The first name written in this representation.
    pub fn name(&self, representation: NameRepresentation) -> Option<&PersonName> {
        self.names.iter().find(|n| n.representation == representation)
    }

    /// The name as a DICOM PN: the first alphabetic name, then `=` and the
    /// first ideographic one (`Wang^Wei=王^伟`). Characters DICOM uses as
    /// delimiters (`^ = \`) inside a component become spaces.
    pub fn dicom_name(&self) -> String {
        let group = |n: Option<&PersonName>| {
            let Some(n) = n else { return String::new() };
            let clean = |s: &str| s.replace(['^', '=', '\\'], " ");
            let parts = [&n.family, &n.given, &n.middle, &n.prefix, &n.suffix].map(|s| clean(s));
            parts.join("^").trim_end_matches('^').to_string()
        };
        let alphabetic = group(self.name(NameRepresentation::Alphabetic));
        let ideographic = group(self.name(NameRepresentation::Ideographic));
        if ideographic.is_empty() { alphabetic } else { format!("{alphabetic}={ideographic}") }
    }
}

/// One merge of an A40: the prior identifiers are retired into the survivor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The PID: the surviving patient (PID-3: its identifiers).
    pub survivor: Patient,
    /// MRG-1: the prior patient identifier list (never empty).
    pub prior_identifiers: Vec<Identifier>,
}

/// What an event asks of the patient index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdtAction {
    /// A01/A04/A05/A08/A28/A31: register the patient, or update what is
    /// known about them.
    Update(Patient),
    /// A40: one or more merges, in the order sent.
    Merge(Vec<Merge>),
    /// A24: the two patients are the same person.
    Link {
        /// The first PID.
        patient: Patient,
        /// The second PID.
        other: Patient,
    },
    /// A37: the two patients are not the same person. `other` is the
    /// second PID, or (as some MPIs send it) the MRG-1 identifiers alone.
    Unlink {
        /// The first PID.
        patient: Patient,
        /// The second PID, or the identifiers of MRG-1.
        other: Patient,
    },
}

/// A typed ADT event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtEvent {
    /// The message header.
    pub header: Header,
    /// The trigger event.
    pub trigger: Trigger,
    /// What it asks.
    pub action: AdtAction,
}

impl AdtEvent {
    /// Read a parsed message into an event: unsupported message types,
    /// events and versions, missing segments and fields, and malformed
    /// values are errors.
    pub fn from_message(m: &Message) -> Result<AdtEvent, AdtError> {
        let header = Header::from_message(m);
        if !header.version.starts_with("2.") {
            return Err(AdtError::UnsupportedVersion(clip(&header.version)));
        }
        if header.message_type != "ADT" {
            return Err(AdtError::UnsupportedMessageType(clip(&header.message_type)));
        }
        let trigger = Trigger::from_code(&header.trigger_code).ok_or_else(|| AdtError::UnsupportedEvent(clip(&header.trigger_code)))?;
        if header.control_id.is_empty() {
            return Err(AdtError::MissingField("MSH-10"));
        }
        let pids: Vec<&Segment> = m.segments().iter().filter(|s| s.id() == "PID").collect();
        let first = pids.first().ok_or(AdtError::MissingSegment("PID"))?;
        let action = match trigger {
            Trigger::A01 | Trigger::A04 | Trigger::A05 | Trigger::A08 | Trigger::A28 | Trigger::A31 => {
                AdtAction::Update(Patient::from_pid(m, first)?)
            }
            Trigger::A40 => AdtAction::Merge(merges(m)?),
            Trigger::A24 => {
                let second = pids.get(1).ok_or(AdtError::MissingSegment("PID"))?;
                AdtAction::Link { patient: Patient::from_pid(m, first)?, other: Patient::from_pid(m, second)? }
            }
            Trigger::A37 => {
                let other = match (pids.get(1), m.segment("MRG")) {
                    (Some(second), _) => Patient::from_pid(m, second)?,
                    (None, Some(mrg)) => Patient { identifiers: prior_identifiers(m, mrg)?, ..Patient::default() },
                    (None, None) => return Err(AdtError::MissingSegment("PID")),
                };
                AdtAction::Unlink { patient: Patient::from_pid(m, first)?, other }
            }
        };
        Ok(AdtEvent { header, trigger, action })
    }

    /// Every patient identifier the event names (survivors and priors),
    /// for a caller that locks or looks them up first.
    pub fn identifiers(&self) -> Vec<&Identifier> {
        match &self.action {
            AdtAction::Update(p) => p.identifiers.iter().collect(),
            AdtAction::Merge(merges) => merges.iter().flat_map(|m| m.survivor.identifiers.iter().chain(&m.prior_identifiers)).collect(),
            AdtAction::Link { patient, other } | AdtAction::Unlink { patient, other } => {
                patient.identifiers.iter().chain(&other.identifiers).collect()
            }
        }
    }
}

/// A code for an error text: at most 20 characters (MSH-9 and MSH-12
/// codes are 3 to 7), so a hostile value neither floods the log nor
/// comes back whole in the ACK.
pub(crate) fn clip(code: &str) -> String {
    code.chars().take(20).collect()
}

/// The PID/MRG pairs of an A40, in order; each PID needs its MRG.
fn merges(m: &Message) -> Result<Vec<Merge>, AdtError> {
    let mut merges = Vec::new();
    let mut survivor: Option<Patient> = None;
    for segment in m.segments() {
        match segment.id() {
            "PID" if survivor.is_some() => return Err(AdtError::MissingSegment("MRG")),
            "PID" => survivor = Some(Patient::from_pid(m, segment)?),
            "MRG" => {
                let survivor = survivor.take().ok_or(AdtError::MissingSegment("PID"))?;
                merges.push(Merge { survivor, prior_identifiers: prior_identifiers(m, segment)? });
            }
            _ => {}
        }
    }
    if survivor.is_some() {
        return Err(AdtError::MissingSegment("MRG"));
    }
    Ok(merges)
}

/// MRG-1, which must hold an identifier.
fn prior_identifiers(m: &Message, mrg: &Segment) -> Result<Vec<Identifier>, AdtError> {
    let ids = types::identifiers(m.field(mrg, 1));
    if ids.is_empty() { Err(AdtError::MissingField("MRG-1")) } else { Ok(ids) }
}

#[cfg(test)]
mod tests;
