//! The pure rules, with the Hangzhou catalogue of `common`: a chest CT maps
//! to its item by procedure code and by description keyword; the HR mark
//! is the one valid on the study date; a candidate exactly `window_days`
//! old is in and one a day older is out; decisions without a reason, or
//! without telling the patient, are refused.

mod common;

use yunying_recognition::{
    Candidate, CandidateOptions, Catalogue, Decision, DecisionError, Order, Outcome, ProcedureCode, Reasons, RecognitionError, StudyFacts,
    StudyItem, StudyTraits, candidates,
};

fn catalogue() -> Catalogue {
    let c = common::config();
    Catalogue::new(&c.region, c.items).unwrap()
}

fn traits(modality: &str, body_part: &str, description: &str, codes: &[(&str, &str)]) -> StudyTraits {
    StudyTraits {
        modalities: vec![modality.into()],
        body_parts: if body_part.is_empty() { vec![] } else { vec![body_part.into()] },
        procedure_codes: codes.iter().map(|(v, s)| ProcedureCode { value: (*v).into(), scheme: (*s).into() }).collect(),
        description: description.into(),
    }
}

#[test]
fn a_chest_ct_maps_to_its_item_by_procedure_code_and_by_description_keyword() {
    let c = catalogue();
    // The code decides alone, whatever the description says.
    assert_eq!(c.classify(&traits("CT", "", "routine", &[("ZJ-CT-001", "99ZJHR")])), ["CT-CHEST"]);
    // Same value in another scheme is another code.
    assert!(c.classify(&traits("CT", "", "routine", &[("ZJ-CT-001", "LOCAL")])).is_empty());
    // Keyword, in Chinese or in any case of English, with the modality.
    assert_eq!(c.classify(&traits("CT", "", "胸部CT平扫", &[])), ["CT-CHEST"]);
    assert_eq!(c.classify(&traits("ct", "CHEST", "CT Chest w/o", &[])), ["CT-CHEST"]);
    // A chest keyword on an MR is not a chest CT; a head CT says so in its body part.
    assert!(c.classify(&traits("MR", "", "胸部MRI", &[])).is_empty());
    assert!(c.classify(&traits("CT", "HEAD", "胸部及头颅CT", &[])).is_empty());
    // No keyword in the description: nothing, even with the right modality.
    assert!(c.classify(&traits("CT", "", "腹部CT", &[])).is_empty());
    assert_eq!(c.classify(&traits("MR", "BRAIN", "头颅MRI平扫", &[])), ["MR-HEAD"]);
}

#[test]
fn hr_status_is_the_mark_valid_on_the_study_date() {
    let c = catalogue();
    let marks = common::config().marks().unwrap();
    let chest = traits("CT", "CHEST", "胸部CT", &[]);
    let hr = |institution: &str, date: &str| c.study_items(&marks, institution, date, &chest)[0].clone();
    assert_eq!(hr("HOSP-A", "20260101"), StudyItem { item_code: "CT-CHEST".into(), hr: true, hr_scope: "330000".into() });
    assert!(hr("HOSP-A", "20260630").hr);
    assert!(!hr("HOSP-A", "20260701").hr, "the day after the mark ends");
    assert!(!hr("HOSP-A", "20251231").hr, "the day before it starts");
    assert!(!hr("HOSP-B", "20260301").hr, "a failed assessment carries no mark");
    assert!(!hr("HOSP-C", "20260301").hr, "no mark at all");
    assert!(!hr("HOSP-A", "not a date").hr);
}

fn study(uid: &str, institution: &str, date: &str, hr: bool) -> StudyFacts {
    StudyFacts {
        study_instance_uid: uid.into(),
        institution: institution.into(),
        study_date: date.into(),
        modalities: vec!["CT".into()],
        body_parts: vec!["CHEST".into()],
        items: vec![StudyItem { item_code: "CT-CHEST".into(), hr, hr_scope: if hr { "330000".into() } else { String::new() } }],
    }
}

fn order(date: &str) -> Order {
    Order {
        his_order_id: "HIS-1".into(),
        item_code: "CT-CHEST".into(),
        order_date: date.into(),
        institution: "HOSP-B".into(),
        department: "呼吸内科".into(),
        doctor: "person:dr-li".into(),
    }
}

fn uids(found: &[Candidate]) -> Vec<&str> {
    found.iter().map(|c| c.study_instance_uid.as_str()).collect()
}

#[test]
fn the_window_includes_its_last_day_and_not_the_next() {
    let c = catalogue();
    let studies = [
        study("1.30-days", "HOSP-A", "20260301", true),
        study("1.31-days", "HOSP-A", "20260228", true),
        study("1.same-day", "HOSP-C", "20260331", false),
        study("1.after-order", "HOSP-A", "20260401", true),
    ];
    let found = candidates(&c, &order("20260331"), &studies, CandidateOptions::default()).unwrap();
    assert_eq!(uids(&found), ["1.same-day", "1.30-days"], "newest first; 30 days in, 31 out, later out");
    assert_eq!(found[1].age_days, 30);
    assert!(found[1].hr && !found[0].hr);
    // The ordering institution's own studies: in by default, out when configured.
    let own = [study("1.own", "HOSP-B", "20260330", false)];
    assert_eq!(candidates(&c, &order("20260331"), &own, CandidateOptions::default()).unwrap().len(), 1);
    assert!(candidates(&c, &order("20260331"), &own, CandidateOptions { exclude_own_institution: true }).unwrap().is_empty());
    // A mark whose scope is another province's does not count here.
    let mut elsewhere = study("1.js", "HOSP-J", "20260330", true);
    elsewhere.items[0].hr_scope = "320000".into();
    assert!(!candidates(&c, &order("20260331"), &[elsewhere], CandidateOptions::default()).unwrap()[0].hr);
    let mut unknown = order("20260331");
    unknown.item_code = "XR-HAND".into();
    assert!(matches!(candidates(&c, &unknown, &studies, CandidateOptions::default()), Err(RecognitionError::UnknownItem)));
    assert!(matches!(candidates(&c, &order("2026-13-01"), &studies, CandidateOptions::default()), Err(RecognitionError::BadDate)));
}

fn decision(outcome: Outcome, reason: Option<&str>, informed: bool) -> Decision {
    Decision {
        order_id: "ro_1".into(),
        study_instance_uid: "1.2".into(),
        outcome,
        reason: reason.map(str::to_string),
        note: String::new(),
        patient_informed: informed,
        reexam_order_id: String::new(),
        doctor: "person:dr-li".into(),
        department: "呼吸内科".into(),
        institution: "HOSP-B".into(),
        opened_ms: 0,
        decided_ms: 1,
    }
}

#[test]
fn decisions_follow_the_rules() {
    let reasons = Reasons::new(common::config().local_reasons);
    assert_eq!(decision(Outcome::NotRecognised, None, true).check(&reasons), Err(DecisionError::ReasonRequired));
    assert_eq!(decision(Outcome::Partial, Some(""), true).check(&reasons), Err(DecisionError::ReasonRequired));
    assert_eq!(decision(Outcome::NotRecognised, Some("3"), true).check(&reasons), Ok(()));
    assert_eq!(decision(Outcome::NotRecognised, Some("patient-request"), true).check(&reasons), Ok(()));
    assert_eq!(decision(Outcome::NotRecognised, Some("7"), true).check(&reasons), Err(DecisionError::UnknownReason));
    assert_eq!(decision(Outcome::NotRecognised, Some("3"), false).check(&reasons), Err(DecisionError::PatientNotInformed));
    assert_eq!(decision(Outcome::NotRecognised, Some("6"), true).check(&reasons), Err(DecisionError::NoteRequired));
    assert_eq!(decision(Outcome::Recognised, Some("3"), false).check(&reasons), Err(DecisionError::ReasonNotAllowed));
    assert_eq!(decision(Outcome::Recognised, None, false).check(&reasons), Ok(()));
    let mut long = decision(Outcome::NotRecognised, Some("1"), true);
    long.note = "很".repeat(2_001);
    assert_eq!(long.check(&reasons), Err(DecisionError::BadText("note")));
}
