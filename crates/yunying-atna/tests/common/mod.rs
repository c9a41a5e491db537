//! Shared by the integration tests: one message of every kind the crate
//! constructs (with Chinese text and characters XML must escape), and
//! validation against the checked-in schema with jing.

#![allow(dead_code)]

pub mod rsyslog;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use yunying_atna::{
    ActiveParticipant, Activity, AuditMessage, AuditSource, AuthKind, Code, EventAction, Head, NetworkAccessPoint, ObjectRole, ObjectType,
    Outcome, Patient, Query, SopClass, Study, codes, security_subject,
};

/// The schema file.
pub fn schema() -> PathBuf {
    manifest_dir().join("schema/dicom-audit-message.rnc")
}

/// A fixed instant (2026-12-05T08:30:00.250Z), so messages are comparable.
pub fn when() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_796_459_400_250)
}

fn head(outcome: Outcome) -> Head {
    Head {
        source: AuditSource::application_server("yunying@node-1", Some("某市卫健委 & <region>".into())),
        time: when(),
        outcome,
        outcome_description: None,
    }
}

fn user() -> ActiveParticipant {
    ActiveParticipant::user("dr.wang", Some("王伟 \"Wang\" <Wei>".into()))
        .at(NetworkAccessPoint::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))))
}

fn archive() -> ActiveParticipant {
    ActiveParticipant::process("https://yunying.example/dicomweb", Some("AETITLES=YUNYING".into()))
        .at(NetworkAccessPoint::Host("yunying.example".into()))
}

fn patient() -> Patient {
    Patient { id: "P-0042^^^市一院".into(), name: Some("张^三=張^三".into()) }
}

fn studies() -> Vec<Study> {
    vec![
        Study {
            uid: "1.2.826.0.1.3680043.8.498.1".into(),
            accessions: vec!["A&B-7".into()],
            sop_classes: vec![
                SopClass { uid: "1.2.840.10008.5.1.4.1.1.2".into(), instances: 120, instance_uids: Vec::new() },
                SopClass { uid: "1.2.840.10008.5.1.4.1.1.7".into(), instances: 1, instance_uids: vec!["1.2.3.4.5".into()] },
            ],
            description: Some("胸部 CT 平扫".into()),
        },
        Study { uid: "1.2.826.0.1.3680043.8.498.2".into(), ..Study::default() },
    ]
}

/// One message of every constructor (and the variants that change its
/// shape: failure, logout, stop, with and without optional parts), named.
pub fn every_kind() -> Vec<(&'static str, AuditMessage)> {
    let find = Query {
        sop_class_uid: "1.2.840.10008.5.1.4.1.2.2.1".into(),
        query: b"PatientName=\xe7\x8e\x8b*&StudyDate=20260101-\x00<x>".to_vec(),
        transfer_syntax: Some("1.2.840.10008.1.2.1".into()),
    };
    let peer = ActiveParticipant::process("PACS_A", Some("AETITLES=PACS_A".into())).at(NetworkAccessPoint::Host("pacs-a.hospital".into()));
    let download = ActiveParticipant::new("browser download", false).with_media(codes::usb_disk_emulation());
    let glass = security_subject(
        "urn:yunying:grant:77",
        Code::rfc3881("12", "URI"),
        ObjectType::SystemObject,
        ObjectRole::SECURITY_RESOURCE,
        "急诊破窗访问",
        Some("emergency access to 1 study, reason: 抢救"),
    );
    vec![
        ("login", AuditMessage::user_authentication(head(Outcome::Success), AuthKind::Login, user(), Some(archive()))),
        (
            "login-failed",
            AuditMessage::user_authentication(
                head(Outcome::MinorFailure).describe("wrong password\n(3rd attempt)"),
                AuthKind::Login,
                user(),
                None,
            ),
        ),
        ("logout", AuditMessage::user_authentication(head(Outcome::Success), AuthKind::Logout, user(), None)),
        ("instances-accessed", AuditMessage::instances_accessed(head(Outcome::Success), EventAction::Read, user(), &studies(), &patient())),
        (
            "instances-transferred",
            AuditMessage::instances_transferred(
                head(Outcome::Success),
                EventAction::Read,
                archive(),
                peer.clone(),
                vec![user()],
                &studies(),
                &patient(),
            ),
        ),
        ("query", AuditMessage::query(head(Outcome::Success), peer.clone(), archive(), &find)),
        ("export", AuditMessage::export(head(Outcome::Success), user(), download, &studies(), &[patient()])),
        (
            "import",
            AuditMessage::import(
                head(Outcome::SeriousFailure),
                archive(),
                peer,
                &studies()[..1],
                &[patient(), Patient { id: "X1".into(), name: None }],
            ),
        ),
        ("patient-record", AuditMessage::patient_record(head(Outcome::Success), EventAction::Update, user(), &patient())),
        ("study-deleted", AuditMessage::study_deleted(head(Outcome::Success), user(), &studies()[1..], &patient())),
        (
            "security-alert-break-glass",
            AuditMessage::security_alert(head(Outcome::Success), codes::emergency_override_started(), archive(), vec![user()], vec![glass]),
        ),
        ("application-start", AuditMessage::application_activity(head(Outcome::Success), Activity::Start, archive(), None)),
        (
            "application-stop",
            AuditMessage::application_activity(
                head(Outcome::Success),
                Activity::Stop,
                archive(),
                Some(ActiveParticipant::user("root", None)),
            ),
        ),
        ("audit-log-used", AuditMessage::audit_log_used(head(Outcome::Success), user(), "https://yunying.example/api/audit")),
    ]
}

/// Validates each document against the schema with jing; Err holds
/// jing's report. Panics with what to install when jing is missing.
pub fn validate(documents: &[(String, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, xml) in documents {
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        files.push(path);
    }
    let out = match Command::new("jing").arg("-c").arg(schema()).args(&files).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run jing ({e}): the schema tests need the RELAX NG validator jing \
             (Debian: apt-get install jing; scripts/install-deps.sh installs it)"
        ),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// This crate's directory, as cargo gives it to the running test (a value
/// compiled in would name wherever the binary was first built).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run by cargo"))
}
