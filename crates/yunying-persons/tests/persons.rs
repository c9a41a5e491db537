//! The EMPI on a real (SQLite) index: deterministic links across
//! institutions, scores, merges that an unmerge undoes exactly.

use yunying_audit::Audit;
use yunying_empi::PlatformKey;
use yunying_index::Index;
use yunying_persons::{EmpiConfig, IdentityInput, Persons};

const ID: &str = "11010519491231002X";

async fn persons() -> (tempfile::TempDir, Persons) {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let key = PlatformKey::new(b"the platform key of this test").unwrap();
    let persons = Persons::new(index.clone(), key, EmpiConfig::default(), Audit::ephemeral(index)).unwrap();
    (dir, persons)
}

fn input(issuer: &str, patient_id: &str, name: &str, birth: &str, sex: &str, national: &[&str]) -> IdentityInput {
    IdentityInput {
        issuer: issuer.into(),
        patient_id: patient_id.into(),
        name: name.into(),
        birth_date: birth.into(),
        sex: sex.into(),
        national_ids: national.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

async fn link_all(p: &Persons) {
    for _ in 0..10 {
        let round = p.link_pending("test").await.unwrap().expect("the only node holds the lease");
        if round == Default::default() {
            return;
        }
    }
    panic!("linking did not settle");
}

#[tokio::test]
async fn one_person_across_institutions_by_national_id_and_by_score_but_not_twins() {
    let (_dir, p) = persons().await;
    // A's CT with a GB 18030 Hanzi name (decoded), B's registration in UTF-8 Pinyin and Hanzi.
    p.put_identity(&input("HOSP_A", "A123", "=张^三", "19491231", "F", &[ID]), "dicom").await.unwrap();
    p.put_identity(&input("HOSP_B", "998877", "Zhang^San=张^三", "19491231", "F", &[ID]), "hl7").await.unwrap();
    // Same name and birth date, no ID, at a third hospital: linked by score.
    p.put_identity(&input("HOSP_C", "C-1", "Zhang^San=张^三", "19491231", "F", &[]), "dicom").await.unwrap();
    // Someone else: a twin sister (same birth date, another given name).
    p.put_identity(&input("HOSP_C", "C-2", "Zhang^Si=张^四", "19491231", "F", &[]), "dicom").await.unwrap();
    link_all(&p).await;
    let a = p.person_of("HOSP_A", "A123").await.unwrap().expect("linked");
    assert_eq!(p.person_of("HOSP_B", "998877").await.unwrap(), Some(a), "same national ID: one person");
    assert_eq!(p.person_of("HOSP_C", "C-1").await.unwrap(), Some(a), "same name, sex and birth date: linked by score");
    assert_ne!(p.person_of("HOSP_C", "C-2").await.unwrap(), Some(a), "the twin is someone else");
    let view = p.person(a).await.unwrap();
    let mut keys: Vec<_> = view.identities.iter().map(|i| format!("{}/{}", i.issuer, i.patient_id)).collect();
    keys.sort();
    assert_eq!(keys, ["HOSP_A/A123", "HOSP_B/998877", "HOSP_C/C-1"]);
    let a_row = view.identities.iter().find(|i| i.issuer == "HOSP_A").unwrap();
    assert_eq!(a_row.ids_masked, ["national-id:1101**********002X"], "shown masked");
    assert_eq!(a_row.decision, "new");
    assert_eq!(view.identities.iter().find(|i| i.issuer == "HOSP_B").unwrap().decision, "nationalid");
}

#[tokio::test]
async fn an_unmerge_puts_back_exactly_what_the_merge_moved() {
    let (_dir, p) = persons().await;
    p.put_identity(&input("HOSP_A", "OLD-7", "Li^Lei=李^雷", "19800101", "M", &[]), "hl7").await.unwrap();
    p.put_identity(&input("HOSP_A", "NEW-7", "Li^Lei=李^磊", "19800110", "M", &[]), "hl7").await.unwrap();
    p.put_identity(&input("HOSP_B", "B-7", "Li^Lei=李^雷", "19800101", "M", &[]), "hl7").await.unwrap();
    link_all(&p).await;
    let old = p.person_of("HOSP_A", "OLD-7").await.unwrap().unwrap();
    let new = p.person_of("HOSP_A", "NEW-7").await.unwrap().unwrap();
    assert_eq!(p.person_of("HOSP_B", "B-7").await.unwrap(), Some(old));
    assert_ne!(old, new, "another birth date and given name: not linked");

    // The hospital's MPI merges OLD-7 into NEW-7: OLD-7's whole person moves.
    let op = p.merge(("HOSP_A", "OLD-7"), ("HOSP_A", "NEW-7"), "hl7:HOSP_A", "hl7").await.unwrap();
    for id in [("HOSP_A", "OLD-7"), ("HOSP_A", "NEW-7"), ("HOSP_B", "B-7")] {
        assert_eq!(p.person_of(id.0, id.1).await.unwrap(), Some(new), "{id:?}");
    }
    // A new identity matching the merged ones joins the merged person.
    p.put_identity(&input("HOSP_D", "D-7", "Li^Lei=李^雷", "19800101", "M", &[]), "dicom").await.unwrap();
    link_all(&p).await;
    assert_eq!(p.person_of("HOSP_D", "D-7").await.unwrap(), Some(new), "the linker follows the merge");

    p.unmerge(&op, "person:admin").await.unwrap();
    assert_eq!(p.person_of("HOSP_A", "OLD-7").await.unwrap(), Some(old));
    assert_eq!(p.person_of("HOSP_B", "B-7").await.unwrap(), Some(old));
    assert_eq!(p.person_of("HOSP_A", "NEW-7").await.unwrap(), Some(new));
    assert_eq!(p.person_of("HOSP_D", "D-7").await.unwrap(), Some(new), "what happened after the merge stays");
    assert!(p.unmerge(&op, "person:admin").await.is_err(), "an operation is undone once");
    let history = p.index().empi_operation(&op).await.unwrap();
    assert_eq!(history.len(), 2, "the merge moved two identities");
    assert!(history.iter().all(|h| h.undone_by.is_some()));
}

#[tokio::test]
async fn a_national_id_with_a_conflicting_birth_date_goes_to_review() {
    let (_dir, p) = persons().await;
    p.put_identity(&input("HOSP_A", "A1", "Wang^Fang=王^芳", "19491231", "F", &[ID]), "dicom").await.unwrap();
    p.put_identity(&input("HOSP_B", "B1", "Wang^Fang=王^芳", "19700101", "F", &[ID]), "hl7").await.unwrap();
    link_all(&p).await;
    assert_ne!(p.person_of("HOSP_A", "A1").await.unwrap(), p.person_of("HOSP_B", "B1").await.unwrap());
    let reviews = p.index().empi_reviews(true, 10).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert!(reviews[0].reason.starts_with("IdConflict"), "{}", reviews[0].reason);
    assert!(!reviews[0].candidates.contains("19491231") && !reviews[0].candidates.contains("王"), "no patient data in the review entry");
}

#[tokio::test]
async fn a_reviewer_decides_the_same_patient_and_the_merge_can_be_undone() {
    use yunying_access::{Principal, Role};
    use yunying_persons::review::ReviewDecision;
    let (_dir, p) = persons().await;
    p.put_identity(&input("HOSP_A", "A1", "Wang^Fang=王^芳", "19491231", "F", &[ID]), "dicom").await.unwrap();
    p.put_identity(&input("HOSP_B", "B1", "Wang^Fang=王^芳", "19700101", "F", &[ID]), "hl7").await.unwrap();
    link_all(&p).await;
    let admin = Principal::person("u1", "reviewer", None, vec![Role::SystemAdmin]);
    let other = Principal::person("u2", "elsewhere", Some("HOSP_C"), vec![Role::SystemAdmin]);
    let doctor = Principal::person("u3", "doctor", Some("HOSP_B"), vec![Role::Radiologist]);
    assert!(p.reviews_as(&doctor, true).await.is_err(), "a doctor does not manage the patient index");
    assert!(p.reviews_as(&other, true).await.unwrap().is_empty(), "another institution's reviews are not shown");
    let open = p.reviews_as(&admin, true).await.unwrap();
    assert_eq!(open.len(), 1);
    let review = &open[0];
    let under_review = p.person_of(&review.issuer, &review.patient_id).await.unwrap();
    let candidate = review.candidates[0]["person"].as_i64().expect("a candidate person");
    // Only a candidate may be chosen, and only by one who reaches the review.
    assert!(p.decide_review_as(&admin, review.id, &ReviewDecision { same_as: Some(candidate + 1000) }).await.is_err());
    assert!(p.decide_review_as(&other, review.id, &ReviewDecision { same_as: Some(candidate) }).await.is_err());
    let op = p.decide_review_as(&admin, review.id, &ReviewDecision { same_as: Some(candidate) }).await.unwrap().expect("a merge");
    assert_eq!(p.person_of("HOSP_A", "A1").await.unwrap(), p.person_of("HOSP_B", "B1").await.unwrap(), "one patient now");
    assert!(p.reviews_as(&admin, true).await.unwrap().is_empty(), "decided");
    assert_eq!(p.reviews_as(&admin, false).await.unwrap()[0].decision, format!("same:{candidate}"));
    assert!(p.decide_review_as(&admin, review.id, &ReviewDecision { same_as: None }).await.is_err(), "decided once");
    p.unmerge(&op, "person:u1").await.unwrap();
    assert_eq!(p.person_of(&review.issuer, &review.patient_id).await.unwrap(), under_review, "the unmerge puts it back");
}

#[tokio::test]
async fn a_demographic_query_finds_the_patient_at_every_institution_and_not_others() {
    use yunying_access::{Principal, Role};
    let (_dir, p) = persons().await;
    p.put_identity(&input("HOSP_A", "A1", "Wang^Fang=王^芳", "19491231", "F", &[ID]), "dicom").await.unwrap();
    p.put_identity(&input("HOSP_B", "B1", "=王^芳", "19491231", "F", &[]), "hl7").await.unwrap();
    p.put_identity(&input("HOSP_B", "B2", "Li^Qiang=李^强", "19491231", "M", &[]), "hl7").await.unwrap();
    link_all(&p).await;
    let admin = Principal::person("u1", "mpi", None, vec![Role::SystemAdmin]);
    let doctor = Principal::person("u3", "doctor", Some("HOSP_B"), vec![Role::Radiologist]);
    let query = input("", "", "Wang^Fang", "19491231", "F", &[]);
    assert!(p.match_as(&doctor, &query, 10, false).await.is_err(), "a doctor does not query the patient index");
    let found = p.match_as(&admin, &query, 10, false).await.unwrap();
    let ids: Vec<(&str, &str)> = found.iter().map(|m| (m.issuer.as_str(), m.patient_id.as_str())).collect();
    assert!(ids.contains(&("HOSP_A", "A1")), "{found:?}");
    assert!(!ids.contains(&("HOSP_B", "B2")), "another patient born the same day is no match: {found:?}");
    // By the national ID alone: certain, whatever the demographics.
    let by_id = p.match_as(&admin, &input("", "", "", "", "", &[ID]), 10, true).await.unwrap();
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    assert_eq!((by_id[0].patient_id.as_str(), by_id[0].grade), ("A1", "certain"));
    assert!(p.match_as(&admin, &input("", "", "Wang^Fang", "1949", "F", &[]), 10, false).await.is_err(), "too vague to block");
}

#[tokio::test]
async fn a_registration_update_is_matched_by_its_new_fields() {
    let (_dir, p) = persons().await;
    // Registered with a wrong birth date and no ID, linked; then corrected (an A08).
    p.put_identity(&input("HOSP_A", "A7", "Zhao^Lei=赵^磊", "19800101", "M", &[]), "hl7").await.unwrap();
    link_all(&p).await;
    let a = p.person_of("HOSP_A", "A7").await.unwrap().expect("linked");
    p.put_identity(&input("HOSP_A", "A7", "Zhao^Lei=赵^磊", "19491231", "M", &[ID]), "hl7").await.unwrap();
    assert_eq!(p.person_of("HOSP_A", "A7").await.unwrap(), Some(a), "an update keeps the person");
    // Another hospital's identity carrying the corrected ID joins it.
    p.put_identity(&input("HOSP_B", "B7", "=赵^磊", "19491231", "M", &[ID]), "hl7").await.unwrap();
    link_all(&p).await;
    assert_eq!(p.person_of("HOSP_B", "B7").await.unwrap(), Some(a), "linked by the ID the update brought");
}
