//! Constructors for the audit messages Yunying sends (PS3.15 A.5.3, with
//! the participant objects IHE ATNA and dcm4chee use): each takes a
//! `Head` (who reports, when, with what outcome) and the event's own
//! participants and objects, and fills in the event and role codes.

use std::time::SystemTime;

use crate::model::{
    ActiveParticipant, AuditMessage, AuditSource, Code, EventAction, EventIdentification, ObjectDescription, ObjectName, ObjectRole,
    ObjectType, Outcome, ParticipantObject, SopClass,
};

/// What every message has: the reporting source, the time, the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// AuditSourceIdentification.
    pub source: AuditSource,
    /// EventDateTime.
    pub time: SystemTime,
    /// EventOutcomeIndicator.
    pub outcome: Outcome,
    /// EventOutcomeDescription (why it failed; no secrets).
    pub outcome_description: Option<String>,
}

impl Head {
    /// Now, with this outcome and no description.
    pub fn now(source: &AuditSource, outcome: Outcome) -> Head {
        Head { source: source.clone(), time: SystemTime::now(), outcome, outcome_description: None }
    }

    /// Adds an outcome description.
    pub fn describe(mut self, description: impl Into<String>) -> Head {
        self.outcome_description = Some(description.into());
        self
    }
}

/// A patient as a participant object (type 1 Person, role 1 Patient,
/// ID type RFC-3881 2 "Patient Number").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// The Patient ID, qualified by its issuer as the caller chooses
    /// (dcm4chee writes `ID^^^Issuer`).
    pub id: String,
    /// The Patient's Name (written as ParticipantObjectName; the ID when
    /// unknown, as the schema requires a name).
    pub name: Option<String>,
}

/// A study as a participant object (type 2 System Object, role 3 Report,
/// ID type DCM 110180 Study Instance UID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Study {
    /// Study Instance UID.
    pub uid: String,
    /// Accession Numbers.
    pub accessions: Vec<String>,
    /// The SOP classes involved, with instance counts.
    pub sop_classes: Vec<SopClass>,
    /// Written as ParticipantObjectName (the schema requires one); the
    /// Study Instance UID when None.
    pub description: Option<String>,
}

/// A query as a participant object (type 2 System Object, role 24 Query,
/// ID type DCM 110181 SOP Class UID, the query itself base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The SOP Class UID queried (e.g. Study Root Q/R FIND); for QIDO-RS
    /// the Study Root FIND class is customary.
    pub sop_class_uid: String,
    /// The query: the C-FIND identifier's bytes, or a QIDO-RS request's
    /// path and query string.
    pub query: Vec<u8>,
    /// The transfer syntax of a C-FIND identifier (a TransferSyntax detail).
    pub transfer_syntax: Option<String>,
}

/// Login or logout (EventTypeCode 110122 / 110123).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// 110122 Login.
    Login,
    /// 110123 Logout.
    Logout,
}

/// Application start or stop (EventTypeCode 110120 / 110121).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// 110120 Application Start.
    Start,
    /// 110121 Application Stop.
    Stop,
}

/// The codes this crate writes (DICOM CID 400, 401, 402, 403, 404, 405).
pub mod codes {
    use crate::model::Code;

    /// 110150 Application (RoleIDCode).
    pub fn application() -> Code {
        Code::dcm("110150", "Application")
    }
    /// 110151 Application Launcher (RoleIDCode).
    pub fn application_launcher() -> Code {
        Code::dcm("110151", "Application Launcher")
    }
    /// 110152 Destination Role ID (RoleIDCode).
    pub fn destination() -> Code {
        Code::dcm("110152", "Destination Role ID")
    }
    /// 110153 Source Role ID (RoleIDCode).
    pub fn source() -> Code {
        Code::dcm("110153", "Source Role ID")
    }
    /// 110154 Destination Media (RoleIDCode).
    pub fn destination_media() -> Code {
        Code::dcm("110154", "Destination Media")
    }
    /// 110155 Source Media (RoleIDCode).
    pub fn source_media() -> Code {
        Code::dcm("110155", "Source Media")
    }
    /// 110127 Emergency Override Started (Security Alert EventTypeCode):
    /// break-glass access begins.
    pub fn emergency_override_started() -> Code {
        Code::dcm("110127", "Emergency Override Started")
    }
    /// 110138 Emergency Override Stopped.
    pub fn emergency_override_stopped() -> Code {
        Code::dcm("110138", "Emergency Override Stopped")
    }
    /// 110126 Node Authentication (e.g. a refused TLS client certificate).
    pub fn node_authentication() -> Code {
        Code::dcm("110126", "Node Authentication")
    }
    /// 110132 Use of a restricted function.
    pub fn use_of_restricted_function() -> Code {
        Code::dcm("110132", "Use of a restricted function")
    }
    /// 110136 Security Roles Changed.
    pub fn security_roles_changed() -> Code {
        Code::dcm("110136", "Security Roles Changed")
    }
    /// 110137 User security Attributes Changed.
    pub fn user_security_attributes_changed() -> Code {
        Code::dcm("110137", "User security Attributes Changed")
    }
    /// 110135 Object Security Attributes Changed (e.g. a grant given).
    pub fn object_security_attributes_changed() -> Code {
        Code::dcm("110135", "Object Security Attributes Changed")
    }
    /// 110129 Security Configuration.
    pub fn security_configuration() -> Code {
        Code::dcm("110129", "Security Configuration")
    }
    /// 110030 USB Disk Emulation (MediaType): a download to the user's device.
    pub fn usb_disk_emulation() -> Code {
        Code::dcm("110030", "USB Disk Emulation")
    }
}

impl Patient {
    /// The participant object.
    pub fn object(&self) -> ParticipantObject {
        ParticipantObject {
            id: self.id.clone(),
            id_type: Code::rfc3881("2", "Patient Number"),
            object_type: Some(ObjectType::Person),
            role: Some(ObjectRole::PATIENT),
            life_cycle: None,
            name: ObjectName::Name(self.name.clone().unwrap_or_else(|| self.id.clone())),
            details: Vec::new(),
            description: None,
            sensitivity: None,
        }
    }
}

impl Study {
    /// The participant object.
    pub fn object(&self) -> ParticipantObject {
        let described = !self.accessions.is_empty() || !self.sop_classes.is_empty();
        ParticipantObject {
            id: self.uid.clone(),
            id_type: Code::dcm("110180", "Study Instance UID"),
            object_type: Some(ObjectType::SystemObject),
            role: Some(ObjectRole::REPORT),
            life_cycle: None,
            name: ObjectName::Name(self.description.clone().unwrap_or_else(|| self.uid.clone())),
            details: Vec::new(),
            description: described.then(|| ObjectDescription {
                accessions: self.accessions.clone(),
                sop_classes: self.sop_classes.clone(),
                ..ObjectDescription::default()
            }),
            sensitivity: None,
        }
    }
}

impl Query {
    /// The participant object.
    pub fn object(&self) -> ParticipantObject {
        ParticipantObject {
            id: self.sop_class_uid.clone(),
            id_type: Code::dcm("110181", "SOP Class UID"),
            object_type: Some(ObjectType::SystemObject),
            role: Some(ObjectRole::QUERY),
            life_cycle: None,
            name: ObjectName::Query(self.query.clone()),
            details: self.transfer_syntax.iter().map(|ts| ("TransferSyntax".to_string(), ts.as_bytes().to_vec())).collect(),
            description: None,
            sensitivity: None,
        }
    }
}

fn message(head: Head, id: Code, action: EventAction, types: Vec<Code>, participants: Vec<ActiveParticipant>) -> AuditMessage {
    AuditMessage {
        event: EventIdentification {
            id,
            action: Some(action),
            time: head.time,
            outcome: head.outcome,
            outcome_description: head.outcome_description,
            types,
        },
        participants,
        source: head.source,
        objects: Vec::new(),
    }
}

fn with_studies(mut m: AuditMessage, studies: &[Study], patients: &[&Patient]) -> AuditMessage {
    m.objects.extend(studies.iter().map(Study::object));
    m.objects.extend(patients.iter().map(|p| p.object()));
    m
}

impl AuditMessage {
    /// 110114 User Authentication (action E): `user` signed in or out
    /// (a failure: `Head.outcome` MinorFailure, nothing secret in the
    /// description); `node` is the process that authenticated them.
    pub fn user_authentication(head: Head, kind: AuthKind, user: ActiveParticipant, node: Option<ActiveParticipant>) -> AuditMessage {
        let kind = match kind {
            AuthKind::Login => Code::dcm("110122", "Login"),
            AuthKind::Logout => Code::dcm("110123", "Logout"),
        };
        let mut participants = vec![user.requestor(true)];
        participants.extend(node.map(|n| n.requestor(false)));
        message(head, Code::dcm("110114", "User Authentication"), EventAction::Execute, vec![kind], participants)
    }

    /// 110103 DICOM Instances Accessed (action C, R, U or D): `accessor`
    /// (requestor) read or changed instances of `studies` of one patient.
    pub fn instances_accessed(
        head: Head,
        action: EventAction,
        accessor: ActiveParticipant,
        studies: &[Study],
        patient: &Patient,
    ) -> AuditMessage {
        let m = message(head, Code::dcm("110103", "DICOM Instances Accessed"), action, Vec::new(), vec![accessor.requestor(true)]);
        with_studies(m, studies, &[patient])
    }

    /// 110104 DICOM Instances Transferred (action C when received, R when
    /// sent, U when replaced): `from` (role Source) sent instances of
    /// `studies` to `to` (role Destination); `others` are e.g. the user or
    /// the C-MOVE requester. Mark the requestor with `requestor(true)`.
    pub fn instances_transferred(
        head: Head,
        action: EventAction,
        from: ActiveParticipant,
        to: ActiveParticipant,
        others: Vec<ActiveParticipant>,
        studies: &[Study],
        patient: &Patient,
    ) -> AuditMessage {
        let mut participants = vec![from.with_role(codes::source()), to.with_role(codes::destination())];
        participants.extend(others);
        let m = message(head, Code::dcm("110104", "DICOM Instances Transferred"), action, Vec::new(), participants);
        with_studies(m, studies, &[patient])
    }

    /// 110112 Query (action E): `requester` (role Source, requestor) asked
    /// `responder` (role Destination) this query.
    pub fn query(head: Head, requester: ActiveParticipant, responder: ActiveParticipant, query: &Query) -> AuditMessage {
        let participants = vec![requester.with_role(codes::source()).requestor(true), responder.with_role(codes::destination())];
        let mut m = message(head, Code::dcm("110112", "Query"), EventAction::Execute, Vec::new(), participants);
        m.objects.push(query.object());
        m
    }

    /// 110106 Export (action R): `exporter` (the requesting user or
    /// process) took instances of `studies` out of the archive's control to
    /// `destination` (role Destination Media; give it a media type for a
    /// download or a disc, a network point for a remote system).
    pub fn export(
        head: Head,
        exporter: ActiveParticipant,
        destination: ActiveParticipant,
        studies: &[Study],
        patients: &[Patient],
    ) -> AuditMessage {
        let participants = vec![exporter.requestor(true), destination.with_role(codes::destination_media())];
        let m = message(head, Code::dcm("110106", "Export"), EventAction::Read, Vec::new(), participants);
        with_studies(m, studies, &patients.iter().collect::<Vec<_>>())
    }

    /// 110107 Import (action C): `importer` (role Destination) brought
    /// instances of `studies` in from `origin` (role Source Media: a
    /// disc, an upload, a cloud film of another institution).
    pub fn import(
        head: Head,
        importer: ActiveParticipant,
        origin: ActiveParticipant,
        studies: &[Study],
        patients: &[Patient],
    ) -> AuditMessage {
        let participants = vec![importer.with_role(codes::destination()), origin.with_role(codes::source_media())];
        let m = message(head, Code::dcm("110107", "Import"), EventAction::Create, Vec::new(), participants);
        with_studies(m, studies, &patients.iter().collect::<Vec<_>>())
    }

    /// 110110 Patient Record (action C, R, U or D): `user` created, read,
    /// changed or deleted the record of `patient` (e.g. a merge).
    pub fn patient_record(head: Head, action: EventAction, user: ActiveParticipant, patient: &Patient) -> AuditMessage {
        let mut m = message(head, Code::dcm("110110", "Patient Record"), action, Vec::new(), vec![user.requestor(true)]);
        m.objects.push(patient.object());
        m
    }

    /// 110105 DICOM Study Deleted (action D): `deleter` removed `studies`
    /// of one patient.
    pub fn study_deleted(head: Head, deleter: ActiveParticipant, studies: &[Study], patient: &Patient) -> AuditMessage {
        let m = message(head, Code::dcm("110105", "DICOM Study Deleted"), EventAction::Delete, Vec::new(), vec![deleter.requestor(true)]);
        with_studies(m, studies, &[patient])
    }

    /// 110113 Security Alert (action E) of type `alert` (e.g.
    /// `codes::emergency_override_started()` for break-glass):
    /// `reporter` noticed it, `performers` did it (the requestor among
    /// them marked so), `subjects` are what it concerns (a user, a study,
    /// a patient, a grant: see `security_subject`).
    pub fn security_alert(
        head: Head,
        alert: Code,
        reporter: ActiveParticipant,
        performers: Vec<ActiveParticipant>,
        subjects: Vec<ParticipantObject>,
    ) -> AuditMessage {
        let mut participants = vec![reporter];
        participants.extend(performers);
        let mut m = message(head, Code::dcm("110113", "Security Alert"), EventAction::Execute, vec![alert], participants);
        m.objects = subjects;
        m
    }

    /// 110100 Application Activity (action E): `application` (role
    /// Application) started or stopped; `launcher` (role Application
    /// Launcher, requestor) is who started or stopped it.
    pub fn application_activity(
        head: Head,
        activity: Activity,
        application: ActiveParticipant,
        launcher: Option<ActiveParticipant>,
    ) -> AuditMessage {
        let kind = match activity {
            Activity::Start => Code::dcm("110120", "Application Start"),
            Activity::Stop => Code::dcm("110121", "Application Stop"),
        };
        let mut participants = vec![application.with_role(codes::application()).requestor(launcher.is_none())];
        participants.extend(launcher.map(|l| l.with_role(codes::application_launcher()).requestor(true)));
        message(head, Code::dcm("110100", "Application Activity"), EventAction::Execute, vec![kind], participants)
    }

    /// 110101 Audit Log Used (action R): `user` read the audit log at
    /// `log_uri` (type 2, role 13 Security Resource, ID type RFC-3881 12 URI).
    pub fn audit_log_used(head: Head, user: ActiveParticipant, log_uri: &str) -> AuditMessage {
        let mut m = message(head, Code::dcm("110101", "Audit Log Used"), EventAction::Read, Vec::new(), vec![user.requestor(true)]);
        m.objects.push(ParticipantObject {
            id: log_uri.to_string(),
            id_type: Code::rfc3881("12", "URI"),
            object_type: Some(ObjectType::SystemObject),
            role: Some(ObjectRole::SECURITY_RESOURCE),
            life_cycle: None,
            name: ObjectName::Name("Security Audit Log".to_string()),
            details: Vec::new(),
            description: None,
            sensitivity: None,
        });
        m
    }
}

/// A Security Alert subject: what the alert concerns, by an ID of the
/// given type (e.g. a user: `Code::rfc3881("11", "User Identifier")`, role
/// 11; a grant or other resource: `Code::rfc3881("12", "URI")`, role 13),
/// with a readable name and an optional "Alert Description" detail.
pub fn security_subject(
    id: &str,
    id_type: Code,
    object_type: ObjectType,
    role: ObjectRole,
    name: &str,
    alert_description: Option<&str>,
) -> ParticipantObject {
    ParticipantObject {
        id: id.to_string(),
        id_type,
        object_type: Some(object_type),
        role: Some(role),
        life_cycle: None,
        name: ObjectName::Name(name.to_string()),
        details: alert_description.map(|d| ("Alert Description".to_string(), d.as_bytes().to_vec())).into_iter().collect(),
        description: None,
        sensitivity: None,
    }
}
