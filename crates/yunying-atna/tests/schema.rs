//! Every message constructor's XML validates against the PS3.15 A.5.1.1
//! schema (checked with jing), carries the codes PS3.15 A.5.3 gives its
//! event, and keeps Chinese text and markup characters intact; and the
//! validator does refuse a message that breaks the schema.

mod common;

use common::{every_kind, validate};

#[test]
fn every_constructor_validates_against_the_dicom_schema() {
    let documents: Vec<(String, String)> = every_kind().into_iter().map(|(name, m)| (name.to_string(), m.to_xml())).collect();
    assert_eq!(documents.len(), 14);
    if let Err(report) = validate(&documents) {
        panic!("jing refused audit messages:\n{report}");
    }
}

#[test]
fn the_validator_refuses_what_the_schema_forbids() {
    let (_, m) = every_kind().remove(0);
    let xml = m.to_xml();
    // An outcome the schema does not list, and a participant object
    // without name or query (CP-2399): each must fail on its own.
    let bad_outcome = xml.replace("EventOutcomeIndicator=\"0\"", "EventOutcomeIndicator=\"1\"");
    assert_ne!(bad_outcome, xml);
    assert!(validate(&[("bad-outcome".into(), bad_outcome)]).is_err());
    let (_, accessed) = every_kind().into_iter().find(|(n, _)| *n == "instances-accessed").unwrap();
    let xml = accessed.to_xml();
    let start = xml.find("<ParticipantObjectName>").unwrap();
    let end = xml[start..].find("</ParticipantObjectName>").unwrap() + start + "</ParticipantObjectName>".len();
    let nameless = format!("{}{}", &xml[..start], &xml[end..]);
    let report = validate(&[("nameless".into(), nameless)]).unwrap_err();
    assert!(report.contains("ParticipantObject"), "{report}");
}

#[test]
fn messages_carry_their_event_codes_and_text_survives() {
    let expected = [
        ("login", "110114", Some("E"), Some("110122")),
        ("logout", "110114", Some("E"), Some("110123")),
        ("instances-accessed", "110103", Some("R"), None),
        ("instances-transferred", "110104", Some("R"), None),
        ("query", "110112", Some("E"), None),
        ("export", "110106", Some("R"), None),
        ("import", "110107", Some("C"), None),
        ("patient-record", "110110", Some("U"), None),
        ("study-deleted", "110105", Some("D"), None),
        ("security-alert-break-glass", "110113", Some("E"), Some("110127")),
        ("application-start", "110100", Some("E"), Some("110120")),
        ("application-stop", "110100", Some("E"), Some("110121")),
        ("audit-log-used", "110101", Some("R"), None),
    ];
    let all = every_kind();
    for (name, event, action, kind) in expected {
        let (_, m) = all.iter().find(|(n, _)| *n == name).unwrap();
        let xml = m.to_xml();
        assert!(xml.contains(&format!("<EventID csd-code=\"{event}\" codeSystemName=\"DCM\"")), "{name}: {xml}");
        if let Some(a) = action {
            assert!(xml.contains(&format!("EventActionCode=\"{a}\"")), "{name}");
        }
        if let Some(k) = kind {
            assert!(xml.contains(&format!("<EventTypeCode csd-code=\"{k}\"")), "{name}");
        }
        assert!(xml.contains("EventDateTime=\"2026-12-05T08:30:00.250Z\""), "{name}");
    }
    let (_, accessed) = all.iter().find(|(n, _)| *n == "instances-accessed").unwrap();
    let xml = accessed.to_xml();
    assert!(xml.contains("UserName=\"王伟 &quot;Wang&quot; &lt;Wei&gt;\""), "{xml}");
    assert!(xml.contains("<ParticipantObjectName>胸部 CT 平扫</ParticipantObjectName>"));
    assert!(xml.contains("<Accession Number=\"A&amp;B-7\"/>"));
    assert!(xml.contains("<SOPClass UID=\"1.2.840.10008.5.1.4.1.1.2\" NumberOfInstances=\"120\"/>"));
    assert!(xml.contains("ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\""));
    assert!(xml.contains("<ParticipantObjectIDTypeCode csd-code=\"110180\" codeSystemName=\"DCM\""));
    assert!(xml.contains("AuditEnterpriseSiteID=\"某市卫健委 &amp; &lt;region&gt;\""));
    let (_, query) = all.iter().find(|(n, _)| *n == "query").unwrap();
    let xml = query.to_xml();
    assert!(xml.contains("ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"24\""));
    // The query is base64 of its bytes, NUL and markup included.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"PatientName=\xe7\x8e\x8b*&StudyDate=20260101-\x00<x>");
    assert!(xml.contains(&format!("<ParticipantObjectQuery>{b64}</ParticipantObjectQuery>")));
    let (_, failed) = all.iter().find(|(n, _)| *n == "login-failed").unwrap();
    let xml = failed.to_xml();
    assert!(xml.contains("EventOutcomeIndicator=\"4\""));
    assert!(xml.contains("<EventOutcomeDescription>wrong password&#10;(3rd attempt)</EventOutcomeDescription>"));
}
