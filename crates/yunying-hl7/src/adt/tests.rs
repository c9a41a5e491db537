//! ADT extraction tests: every field of the model, each event shape, and
//! the errors that become AR/AE.

use super::*;
use crate::parse::ParseOptions;

fn event(text: &str) -> Result<AdtEvent, AdtError> {
    AdtEvent::from_message(&Message::parse(text.as_bytes(), &ParseOptions::default())?)
}

fn msh(trigger: &str) -> String {
    format!(
        "MSH|^~\\&|MPI^2.16.840.1.1^ISO|HOSP|YUNYING|REGION|20261206120000||ADT^{trigger}^ADT_A01|C-{trigger}|P|2.5|||||CHN|UNICODE UTF-8\r"
    )
}

fn update(event: &AdtEvent) -> &Patient {
    match &event.action {
        AdtAction::Update(p) => p,
        other => panic!("not an update: {other:?}"),
    }
}

#[test]
fn a04_register_reads_identifiers_names_birth_date_sex_address_and_phone() {
    let text = msh("A04")
        + "EVN|A04|20261206120000\r\
PID|1||P123^^^HOSP&2.16.840.1.1&ISO^PI^院区A~110101199001011234^^^CHN^NNCHN~1234567890^^^SI^SS~\"\"^^^X^MR||\
Wang^Wei^^^^^L^A~王^伟^^^^^L^I||19900102|M|||中山路1号^3楼^北京^北京^100000^CHN^H||13800138000^PRN^CP~^NET^Internet^wei@example.org\r\
PV1|1|O\r";
    let e = event(&text).unwrap();
    assert_eq!(e.trigger, Trigger::A04);
    assert_eq!(e.header.control_id, "C-A04");
    assert_eq!(e.header.sending_application.universal_id, "2.16.840.1.1");
    assert_eq!(e.header.sending_facility.namespace_id, "HOSP");
    let p = update(&e);
    let ids: Vec<_> = p.identifiers.iter().map(|i| (i.id.as_str(), i.type_code.as_str(), i.kind.clone())).collect();
    assert_eq!(
        ids,
        [
            ("P123", "PI", IdentifierKind::PatientInternal),
            ("110101199001011234", "NNCHN", IdentifierKind::National { country: Some("CHN".into()) }),
            ("1234567890", "SS", IdentifierKind::Insurance),
        ],
        "the HL7 null ID is left out"
    );
    assert_eq!(
        p.identifiers[0].authority,
        Designator { namespace_id: "HOSP".into(), universal_id: "2.16.840.1.1".into(), universal_id_type: "ISO".into() }
    );
    assert_eq!(p.identifiers[0].facility.namespace_id, "院区A");
    assert_eq!(p.names.len(), 2);
    assert_eq!((p.names[1].family.as_str(), p.names[1].given.as_str(), p.names[1].name_type.as_str()), ("王", "伟", "L"));
    assert_eq!(p.dicom_name(), "Wang^Wei=王^伟");
    assert_eq!(p.birth_date, Some(BirthDate { year: 1990, month: Some(1), day: Some(2) }));
    assert_eq!(p.birth_date.unwrap().dicom_date().as_deref(), Some("19900102"));
    assert_eq!(p.sex, Some(Sex::Male));
    assert_eq!(p.addresses.len(), 1);
    let a = &p.addresses[0];
    assert_eq!(
        (a.street.as_str(), a.other.as_str(), a.city.as_str(), a.postal_code.as_str(), a.address_type.as_str()),
        ("中山路1号", "3楼", "北京", "100000", "H")
    );
    assert_eq!(p.phones.len(), 2);
    assert_eq!((p.phones[0].number.as_str(), p.phones[0].equipment_type.as_str()), ("13800138000", "CP"));
    assert_eq!((p.phones[1].number.as_str(), p.phones[1].email.as_str()), ("", "wei@example.org"));
}

#[test]
fn name_representation_is_inferred_when_pid_5_8_is_absent() {
    let e = event(&(msh("A08") + "PID|1||P1^^^H^PI||李^娜~Li^Na||198002|2\r")).unwrap();
    let p = update(&e);
    let reps: Vec<_> = p.names.iter().map(|n| n.representation).collect();
    assert_eq!(reps, [NameRepresentation::Ideographic, NameRepresentation::Alphabetic]);
    assert_eq!(p.dicom_name(), "Li^Na=李^娜");
    assert_eq!(p.birth_date, Some(BirthDate { year: 1980, month: Some(2), day: None }));
    assert_eq!(p.birth_date.unwrap().dicom_date(), None);
    assert_eq!(p.sex, Some(Sex::Female), "GB/T 2261.1 code 2");
}

#[test]
fn every_update_trigger_is_an_update() {
    for trigger in ["A01", "A04", "A05", "A08", "A28", "A31"] {
        let e = event(&(msh(trigger) + "PID|1||P1\r")).unwrap();
        assert_eq!(e.trigger.code(), trigger);
        assert_eq!(update(&e).identifiers[0].id, "P1");
    }
}

#[test]
fn a40_merge_reads_each_survivor_with_its_prior_identifiers() {
    let text = msh("A40")
        + "EVN|A40|20261206120000\r\
PID|1||KEEP1^^^HOSP^PI~110101199001011234^^^CHN^NNCHN||Wang^Wei\r\
MRG|OLD1^^^HOSP^PI~OLD1B^^^HOSP^MR\r\
PID|2||KEEP2^^^HOSP^PI\r\
PV1|1|N\r\
MRG|OLD2^^^HOSP^PI\r";
    let e = event(&text).unwrap();
    assert_eq!(e.trigger, Trigger::A40);
    let AdtAction::Merge(merges) = &e.action else { panic!("not a merge") };
    assert_eq!(merges.len(), 2);
    let ids = |v: &[Identifier]| v.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&merges[0].survivor.identifiers), ["KEEP1", "110101199001011234"]);
    assert_eq!(ids(&merges[0].prior_identifiers), ["OLD1", "OLD1B"]);
    assert_eq!(merges[0].prior_identifiers[1].kind, IdentifierKind::MedicalRecord);
    assert_eq!(ids(&merges[1].survivor.identifiers), ["KEEP2"]);
    assert_eq!(ids(&merges[1].prior_identifiers), ["OLD2"]);
    assert_eq!(e.identifiers().len(), 6);
}

#[test]
fn a40_without_mrg_or_with_an_empty_one_is_an_error() {
    assert_eq!(event(&(msh("A40") + "PID|1||KEEP\r")).unwrap_err(), AdtError::MissingSegment("MRG"));
    assert_eq!(event(&(msh("A40") + "PID|1||K1\rPID|2||K2\rMRG|O2\r")).unwrap_err(), AdtError::MissingSegment("MRG"));
    assert_eq!(event(&(msh("A40") + "PID|1||KEEP\rMRG|\r")).unwrap_err(), AdtError::MissingField("MRG-1"));
}

#[test]
fn a24_links_and_a37_unlinks_two_patients() {
    let e = event(&(msh("A24") + "PID|1||A1^^^H^PI\rPV1|1\rPID|2||B1^^^H2^PI\r")).unwrap();
    let AdtAction::Link { patient, other } = &e.action else { panic!("not a link") };
    assert_eq!((patient.identifiers[0].id.as_str(), other.identifiers[0].id.as_str()), ("A1", "B1"));
    let e = event(&(msh("A37") + "PID|1||A1\rPID|2||B1\r")).unwrap();
    let AdtAction::Unlink { other, .. } = &e.action else { panic!("not an unlink") };
    assert_eq!(other.identifiers[0].id, "B1");
    // An A37 carrying the other patient in MRG-1.
    let e = event(&(msh("A37") + "PID|1||A1\rMRG|B2^^^H^PI\r")).unwrap();
    let AdtAction::Unlink { other, .. } = &e.action else { panic!("not an unlink") };
    assert_eq!(other.identifiers[0].id, "B2");
    assert_eq!(event(&(msh("A24") + "PID|1||A1\r")).unwrap_err(), AdtError::MissingSegment("PID"));
}

#[test]
fn other_messages_events_and_versions_are_unsupported() {
    assert_eq!(event(&(msh("A03") + "PID|1||P1\r")).unwrap_err(), AdtError::UnsupportedEvent("A03".into()));
    let oru = "MSH|^~\\&|LIS|H|||||ORU^R01|C1|P|2.5\rPID|1||P1\r";
    assert_eq!(event(oru).unwrap_err(), AdtError::UnsupportedMessageType("ORU".into()));
    let v3 = "MSH|^~\\&|MPI|H|||||ADT^A04|C1|P|3.0\rPID|1||P1\r";
    assert_eq!(event(v3).unwrap_err(), AdtError::UnsupportedVersion("3.0".into()));
}

#[test]
fn trigger_comes_from_evn_when_msh_9_2_is_empty() {
    let text = "MSH|^~\\&|MPI|H|||||ADT|C1|P|2.2\rEVN|A08\rPID|1||P1\r";
    assert_eq!(event(text).unwrap().trigger, Trigger::A08);
}

#[test]
fn missing_or_malformed_required_values_are_errors() {
    assert_eq!(event(&(msh("A04") + "EVN|A04\r")).unwrap_err(), AdtError::MissingSegment("PID"));
    assert_eq!(event(&(msh("A04") + "PID|1||^^^H^PI\r")).unwrap_err(), AdtError::MissingField("PID-3"));
    assert_eq!(event(&(msh("A04") + "PID|1||P1||||19901301\r")).unwrap_err(), AdtError::InvalidField("PID-7"));
    assert_eq!(event(&(msh("A04") + "PID|1||P1||||19900229\r")).unwrap_err(), AdtError::InvalidField("PID-7"));
    assert!(event(&(msh("A04") + "PID|1||P1||||20000229\r")).is_ok());
    assert_eq!(event(&(msh("A04") + "PID|1||P1||||199\r")).unwrap_err(), AdtError::InvalidField("PID-7"));
    assert_eq!(event(&(msh("A04") + "PID|1||P1|||||X\r")).unwrap_err(), AdtError::InvalidField("PID-8"));
    let no_id = "MSH|^~\\&|MPI|H|||||ADT^A04||P|2.5\rPID|1||P1\r";
    assert_eq!(event(no_id).unwrap_err(), AdtError::MissingField("MSH-10"));
}

#[test]
fn codes_quoted_in_errors_are_cut_short() {
    let long = "A".repeat(5000);
    let text = format!("MSH|^~\\&|MPI|H|||||ADT^{long}|C1|P|2.5\rPID|1||P1\r");
    assert_eq!(event(&text).unwrap_err(), AdtError::UnsupportedEvent("A".repeat(20)));
}

#[test]
fn the_hl7_null_marks_a_field_to_clear_while_an_empty_one_is_no_change() {
    let e = event(&(msh("A08") + "PID|1||P1||\"\"||\"\"||||\"\"\r")).unwrap();
    let p = update(&e);
    assert_eq!(p.cleared, ["PID-5", "PID-7", "PID-11"]);
    assert!(p.names.is_empty() && p.birth_date.is_none() && p.addresses.is_empty());
    let e = event(&(msh("A08") + "PID|1||P1\r")).unwrap();
    assert!(update(&e).cleared.is_empty());
}
