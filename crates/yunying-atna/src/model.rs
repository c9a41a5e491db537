//! The audit message as DICOM PS3.15 A.5.1 defines it: one event, the
//! active participants (people and processes), the audit source that
//! reports it, and the participant objects (patients, studies, queries,
//! logs) it touched. Plain data: `xml.rs` writes it, `events.rs` builds
//! the messages Yunying sends.

use std::net::IpAddr;
use std::time::SystemTime;

/// A coded value (`csd-code`, `codeSystemName`, `originalText`; the
/// meaning is also written as `displayName` for RFC 3881 readers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code value, e.g. `110114`.
    pub code: String,
    /// The coding scheme, e.g. `DCM`, `RFC-3881`, `IHE Transactions`.
    pub system: String,
    /// The code meaning, e.g. `User Authentication`.
    pub meaning: String,
}

impl Code {
    /// A code of any scheme.
    pub fn new(code: impl Into<String>, system: impl Into<String>, meaning: impl Into<String>) -> Code {
        Code { code: code.into(), system: system.into(), meaning: meaning.into() }
    }

    /// A code of the DICOM Controlled Terminology (`DCM`).
    pub fn dcm(code: &str, meaning: &str) -> Code {
        Code::new(code, "DCM", meaning)
    }

    /// A code of RFC 3881 (participant object ID types: `2` Patient Number,
    /// `12` URI, …).
    pub fn rfc3881(code: &str, meaning: &str) -> Code {
        Code::new(code, "RFC-3881", meaning)
    }
}

/// EventActionCode: what the event did to the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// `C`
    Create,
    /// `R`
    Read,
    /// `U`
    Update,
    /// `D`
    Delete,
    /// `E`
    Execute,
}

impl EventAction {
    /// The schema's letter.
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Create => "C",
            EventAction::Read => "R",
            EventAction::Update => "U",
            EventAction::Delete => "D",
            EventAction::Execute => "E",
        }
    }
}

/// EventOutcomeIndicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `0`: nominal success.
    Success,
    /// `4`: minor failure (e.g. a wrong password, a refused request).
    MinorFailure,
    /// `8`: serious failure.
    SeriousFailure,
    /// `12`: major failure (the application is now unavailable).
    MajorFailure,
}

impl Outcome {
    /// The schema's number.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "0",
            Outcome::MinorFailure => "4",
            Outcome::SeriousFailure => "8",
            Outcome::MajorFailure => "12",
        }
    }
}

/// EventIdentification.
#[derive(Debug, Clone, PartialEq)]
pub struct EventIdentification {
    /// EventID (CID 400, e.g. 110114 User Authentication).
    pub id: Code,
    /// EventActionCode.
    pub action: Option<EventAction>,
    /// EventDateTime (written in UTC, millisecond precision).
    pub time: SystemTime,
    /// EventOutcomeIndicator.
    pub outcome: Outcome,
    /// EventOutcomeDescription: free text, e.g. why it failed.
    pub outcome_description: Option<String>,
    /// EventTypeCode (e.g. 110122 Login, 110127 Emergency Override Started).
    pub types: Vec<Code>,
}

/// NetworkAccessPointID with its type code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkAccessPoint {
    /// `1`: a machine or DNS name.
    Host(String),
    /// `2`: an IP address.
    Ip(IpAddr),
    /// `5`: a URI.
    Uri(String),
}

impl NetworkAccessPoint {
    /// NetworkAccessPointTypeCode.
    pub fn type_code(&self) -> &'static str {
        match self {
            NetworkAccessPoint::Host(_) => "1",
            NetworkAccessPoint::Ip(_) => "2",
            NetworkAccessPoint::Uri(_) => "5",
        }
    }

    /// NetworkAccessPointID.
    pub fn id(&self) -> String {
        match self {
            NetworkAccessPoint::Host(h) | NetworkAccessPoint::Uri(h) => h.clone(),
            NetworkAccessPoint::Ip(ip) => ip.to_string(),
        }
    }
}

/// ActiveParticipant: a person or process taking part in the event.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveParticipant {
    /// UserID: the account (a user's login, a process id, an AE title's
    /// application, a URL).
    pub user_id: String,
    /// AlternativeUserID: e.g. the AE titles of a DICOM process
    /// (`AETITLES=A;B`), a process id.
    pub alternative_user_id: Option<String>,
    /// UserName: a person's readable name.
    pub user_name: Option<String>,
    /// UserIsRequestor.
    pub requestor: bool,
    /// RoleIDCode (e.g. 110153 Source Role ID).
    pub roles: Vec<Code>,
    /// NetworkAccessPointID and NetworkAccessPointTypeCode.
    pub network: Option<NetworkAccessPoint>,
    /// MediaIdentifier/MediaType (CID 405), for export to or import from media.
    pub media: Option<Code>,
}

impl ActiveParticipant {
    /// A participant with only its UserID.
    pub fn new(user_id: impl Into<String>, requestor: bool) -> ActiveParticipant {
        ActiveParticipant {
            user_id: user_id.into(),
            alternative_user_id: None,
            user_name: None,
            requestor,
            roles: Vec::new(),
            network: None,
            media: None,
        }
    }

    /// A person who asked for the event (UserIsRequestor true).
    pub fn user(user_id: impl Into<String>, user_name: Option<String>) -> ActiveParticipant {
        ActiveParticipant { user_name, ..ActiveParticipant::new(user_id, true) }
    }

    /// A process (this archive, a peer's DICOM application), not the requestor.
    pub fn process(user_id: impl Into<String>, alternative_user_id: Option<String>) -> ActiveParticipant {
        ActiveParticipant { alternative_user_id, ..ActiveParticipant::new(user_id, false) }
    }

    /// Adds a role.
    pub fn with_role(mut self, role: Code) -> ActiveParticipant {
        self.roles.push(role);
        self
    }

    /// Sets the network access point.
    pub fn at(mut self, network: NetworkAccessPoint) -> ActiveParticipant {
        self.network = Some(network);
        self
    }

    /// Sets UserIsRequestor.
    pub fn requestor(mut self, requestor: bool) -> ActiveParticipant {
        self.requestor = requestor;
        self
    }

    /// Sets the media (MediaIdentifier/MediaType).
    pub fn with_media(mut self, media: Code) -> ActiveParticipant {
        self.media = Some(media);
        self
    }
}

/// AuditSourceIdentification: who reports the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSource {
    /// AuditSourceID: this node (e.g. `yunying@host`).
    pub id: String,
    /// AuditEnterpriseSiteID: the site or region (e.g. the health
    /// commission's name).
    pub enterprise_site: Option<String>,
    /// AuditSourceTypeCode: `1`–`9` (4 = application server process).
    pub types: Vec<u8>,
}

impl AuditSource {
    /// An application server process (type 4) with this id.
    pub fn application_server(id: impl Into<String>, enterprise_site: Option<String>) -> AuditSource {
        AuditSource { id: id.into(), enterprise_site, types: vec![4] }
    }
}

/// ParticipantObjectTypeCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `1`
    Person,
    /// `2`
    SystemObject,
    /// `3`
    Organization,
    /// `4`
    Other,
}

impl ObjectType {
    /// The schema's number.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Person => "1",
            ObjectType::SystemObject => "2",
            ObjectType::Organization => "3",
            ObjectType::Other => "4",
        }
    }
}

/// ParticipantObjectTypeCodeRole: 1 to 26 (PS3.15 A.5.1.2.2); the
/// constants name the ones Yunying uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRole(u8);

impl ObjectRole {
    /// 1 Patient.
    pub const PATIENT: ObjectRole = ObjectRole(1);
    /// 3 Report (a study, as PS3.15 A.5.3 uses it).
    pub const REPORT: ObjectRole = ObjectRole(3);
    /// 6 User.
    pub const USER: ObjectRole = ObjectRole(6);
    /// 11 Security User Entity.
    pub const SECURITY_USER_ENTITY: ObjectRole = ObjectRole(11);
    /// 13 Security Resource (an audit log, a grant).
    pub const SECURITY_RESOURCE: ObjectRole = ObjectRole(13);
    /// 24 Query.
    pub const QUERY: ObjectRole = ObjectRole(24);

    /// Any role of the table; None outside 1..=26.
    pub fn new(role: u8) -> Option<ObjectRole> {
        (1..=26).contains(&role).then_some(ObjectRole(role))
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// What names a participant object: the schema requires one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectName {
    /// ParticipantObjectName.
    Name(String),
    /// ParticipantObjectQuery (the query's bytes; written base64).
    Query(Vec<u8>),
}

/// One SOPClass of a ParticipantObjectDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SopClass {
    /// The SOP Class UID.
    pub uid: String,
    /// NumberOfInstances.
    pub instances: u64,
    /// Instance UIDs, when they are listed (often not: counts suffice).
    pub instance_uids: Vec<String>,
}

/// ParticipantObjectDescription (DICOM object description).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectDescription {
    /// MPPS UIDs.
    pub mpps: Vec<String>,
    /// Accession Numbers.
    pub accessions: Vec<String>,
    /// SOP classes with their counts.
    pub sop_classes: Vec<SopClass>,
    /// ParticipantObjectContainsStudy/StudyIDs.
    pub contains_studies: Vec<String>,
    /// Encrypted.
    pub encrypted: Option<bool>,
    /// Anonymized.
    pub anonymized: Option<bool>,
}

/// ParticipantObjectIdentification.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantObject {
    /// ParticipantObjectID.
    pub id: String,
    /// ParticipantObjectIDTypeCode.
    pub id_type: Code,
    /// ParticipantObjectTypeCode.
    pub object_type: Option<ObjectType>,
    /// ParticipantObjectTypeCodeRole.
    pub role: Option<ObjectRole>,
    /// ParticipantObjectDataLifeCycle (1..=15; other values are not written).
    pub life_cycle: Option<u8>,
    /// ParticipantObjectName or ParticipantObjectQuery.
    pub name: ObjectName,
    /// ParticipantObjectDetail: type and raw value (written base64).
    pub details: Vec<(String, Vec<u8>)>,
    /// ParticipantObjectDescription.
    pub description: Option<ObjectDescription>,
    /// ParticipantObjectSensitivity.
    pub sensitivity: Option<String>,
}

/// One audit message.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditMessage {
    /// EventIdentification.
    pub event: EventIdentification,
    /// ActiveParticipant, at least one.
    pub participants: Vec<ActiveParticipant>,
    /// AuditSourceIdentification.
    pub source: AuditSource,
    /// ParticipantObjectIdentification.
    pub objects: Vec<ParticipantObject>,
}
