//! The matcher's decisions: deterministic links, conflicts, thresholds,
//! twins, swapped dates, explanations.

use yunying_empi::{
    BirthDate, Decision, Field, Identity, Level, MatchConfig, MatchError, Matcher, NationalId, PersonName, Phone, PlatformKey,
    ReviewReason, Sex,
};

const ID: &str = "11010519491231002X";

fn key() -> PlatformKey {
    PlatformKey::new(b"test platform key 0123456789").unwrap()
}

fn identity(issuer: &str, pid: &str, pn: &str, da: &str, sex: &str) -> Identity {
    let mut i = Identity::new(issuer, pid);
    i.name = PersonName::parse(pn).unwrap();
    i.birth_date = BirthDate::from_dicom(da).unwrap();
    i.sex = Sex::from_dicom(sex);
    i
}

fn matcher() -> Matcher {
    Matcher::new(MatchConfig::default()).unwrap()
}

#[test]
fn same_national_id_links_deterministically() {
    let mut m = matcher();
    let mut a = identity("H1", "100", "Wang^Fang=王^芳", "19491231", "F");
    a.id_digests.push(NationalId::parse(ID).unwrap().digest(&key()));
    // A different hospital, Hanzi only, a typo in the name: the ID decides.
    let mut b = identity("H2", "100", "王方", "19491231", "F");
    b.id_digests.push(NationalId::parse(&ID.to_lowercase()).unwrap().digest(&key()));
    let first = m.add(&a).unwrap();
    let second = m.add(&b).unwrap();
    assert!(matches!(second.decision, Decision::Deterministic { with, .. } if with == first.identity), "{:?}", second.decision);
    assert_eq!(second.person, first.person);
}

#[test]
fn same_id_with_other_sex_or_birth_date_goes_to_review() {
    for (da, sex) in [("19491231", "M"), ("19501231", "F")] {
        let mut m = matcher();
        let mut a = identity("H1", "1", "Wang^Fang=王^芳", "19491231", "F");
        a.id_digests.push(NationalId::parse(ID).unwrap().digest(&key()));
        let mut b = identity("H2", "1", "Wang^Fang=王^芳", da, sex);
        b.id_digests = a.id_digests.clone();
        let first = m.add(&a).unwrap();
        let second = m.add(&b).unwrap();
        match second.decision {
            Decision::Review { reason: ReviewReason::IdConflict(_), candidates } => assert_eq!(candidates[0].identity, first.identity),
            other => panic!("expected an ID conflict review, got {other:?}"),
        }
        assert_ne!(second.person, first.person, "not linked before a reviewer decides");
    }
}

/// Twins: same surname, birth date, address and phone, different given names.
fn twins(second_name: &str, first_name: &str) -> (Identity, Identity) {
    let phone = Phone::parse("13912345678").unwrap().digest(&key());
    let mut a = identity("H1", "7", first_name, "20010506", "F");
    let mut b = identity("H2", "8", second_name, "20010506", "F");
    for i in [&mut a, &mut b] {
        i.phone = Some(phone);
        i.address = Some("南开区卫津路92号5栋3单元402".into());
    }
    (a, b)
}

#[test]
fn twins_are_not_auto_linked() {
    for (first, second, reason) in
        [("Li^Ming=李^明", "Li^Min=李^敏", ReviewReason::NameDisagrees), ("LI^MINGHUI", "LI^MINGHUA", ReviewReason::PossibleTwin)]
    {
        let (a, b) = twins(second, first);
        let mut m = matcher();
        let x = m.add(&a).unwrap();
        let y = m.add(&b).unwrap();
        assert_ne!(x.person, y.person, "{first} / {second}");
        match &y.decision {
            Decision::Review { reason: r, candidates } => {
                assert_eq!(*r, reason);
                assert!(candidates[0].score >= m.config().auto_link, "the score alone would have linked them");
            }
            other => panic!("expected review, got {other:?}"),
        }
        // Without the guard the same pair is linked: the guard is what holds.
        let mut unguarded = Matcher::new(MatchConfig { guards: false, ..MatchConfig::default() }).unwrap();
        unguarded.add(&a).unwrap();
        assert!(matches!(unguarded.add(&b).unwrap().decision, Decision::AutoLink(_)));
    }
}

#[test]
fn a_pinyin_typo_with_the_same_birth_date_still_links() {
    let mut m = matcher();
    m.add(&identity("H1", "1", "Zhang^Xiaoming=张^小明", "19800307", "M")).unwrap();
    let out = m.add(&identity("H2", "1", "ZHANG^XIAOMNIG", "19800307", "M")).unwrap();
    assert!(matches!(out.decision, Decision::AutoLink(_)), "{:?}", out.decision);
}

#[test]
fn swapped_day_and_month_still_score() {
    let mut m = matcher();
    let first = m.add(&identity("H1", "1", "Zhang^San=张^三", "19800307", "M")).unwrap();
    let out = m.add(&identity("H2", "1", "ZHANG^SAN", "19800703", "M")).unwrap();
    let Decision::AutoLink(c) = &out.decision else { panic!("{:?}", out.decision) };
    assert_eq!(out.person, first.person);
    let date = c.explanation.iter().find(|s| s.field == Field::BirthDate).unwrap();
    assert_eq!(date.level, Level::DayMonthSwapped);
    assert!(date.bits > 0.0);
    // The explanation adds up to the score.
    let total: f64 = c.explanation.iter().map(|s| s.bits).sum();
    assert!((total - c.score).abs() < 1e-9);
}

#[test]
fn thresholds_are_configurable() {
    let a = identity("H1", "1", "Zhang^San=张^三", "19800307", "M");
    let b = identity("H2", "1", "ZHANG^SAN", "19800703", "M");
    let decide = |auto_link, review| {
        let mut m = Matcher::new(MatchConfig { auto_link, review, ..MatchConfig::default() }).unwrap();
        m.add(&a).unwrap();
        m.add(&b).unwrap().decision
    };
    let score = match decide(20.0, 14.0) {
        Decision::AutoLink(c) => c.score,
        other => panic!("{other:?}"),
    };
    assert!(matches!(decide(score + 1.0, score - 1.0), Decision::Review { reason: ReviewReason::Score, .. }));
    assert!(matches!(decide(score + 2.0, score + 1.0), Decision::NewPerson { best: Some(_) }));
    assert!(matches!(decide(score - 1.0, score - 2.0), Decision::AutoLink(_)));
    assert!(matches!(Matcher::new(MatchConfig { auto_link: 10.0, review: 12.0, ..MatchConfig::default() }), Err(MatchError::BadConfig)));
}

#[test]
fn missing_birth_date_is_found_by_name_and_reviewed() {
    let mut m = matcher();
    let mut a = identity("H1", "1", "Ouyang^Nana=欧阳^娜娜", "19900101", "F");
    let mut b = identity("H2", "1", "OUYANG^NANA", "", "F");
    a.address = Some("河西区黄河道12号".into());
    b.address = Some("天津市河西区黄河道12号".into());
    let first = m.add(&a).unwrap();
    let out = m.add(&b).unwrap();
    match out.decision {
        Decision::Review { reason: ReviewReason::Score, candidates } => assert_eq!(candidates[0].person, first.person),
        other => panic!("expected review, got {other:?}"),
    }
}

#[test]
fn different_people_sharing_a_patient_id_are_not_linked() {
    let mut m = matcher();
    let a = m.add(&identity("H1", "0000123", "Wang^Wei=王^伟", "19700101", "M")).unwrap();
    let b = m.add(&identity("H2", "0000123", "Li^Na=李^娜", "19851212", "F")).unwrap();
    assert!(matches!(b.decision, Decision::NewPerson { .. }));
    assert_ne!(a.person, b.person);
    // The same (issuer, patient id) twice is refused.
    assert_eq!(m.add(&identity("H1", "0000123", "Wang^Wei", "", "")).unwrap_err(), MatchError::Duplicate);
}

#[test]
fn a_reviewer_can_assign_an_identity() {
    let mut m = matcher();
    let first = m.add(&identity("H1", "1", "Ouyang^Nana=欧阳^娜娜", "19900101", "F")).unwrap();
    let second = m.add(&identity("H2", "1", "OUYANG^NANA", "", "F")).unwrap();
    m.assign(second.identity, first.person).unwrap();
    assert_eq!(m.person_of(second.identity), Some(first.person));
    assert_eq!(m.assign(second.identity, yunying_empi::PersonId(99)), Err(MatchError::Unknown));
}

#[test]
fn inputs_are_bounded() {
    let mut m = matcher();
    let mut long = identity("H1", "1", "Wang^Wei", "", "");
    long.address = Some("路".repeat(300));
    assert!(matches!(m.add(&long), Err(MatchError::Record(_))));
    assert!(matches!(m.add(&identity("", "1", "Wang^Wei", "", "")), Err(MatchError::Record(_))));
    let mut huge = identity("H1", "2", "Wang^Wei", "", "");
    huge.name.alphabetic.given = "x".repeat(1000);
    assert!(matches!(m.add(&huge), Err(MatchError::Record(_))));
    // An identity's Debug shows no personal data.
    let debug = format!("{:?}", identity("H1", "0012345", "Wang^Wei=王^伟", "19800101", "M"));
    assert!(!debug.contains("0012345") && !debug.contains("Wang") && !debug.contains("1980"), "{debug}");
    assert!(BirthDate::from_dicom("19800230").is_err());
    assert_eq!(BirthDate::from_dicom("1980").unwrap(), BirthDate { year: Some(1980), month: None, day: None });
}

#[test]
fn different_valid_id_numbers_are_not_auto_linked() {
    let with_id = |first17: &str| {
        let check = yunying_empi::id::check_character(first17.as_bytes()) as char;
        NationalId::parse(&format!("{first17}{check}")).unwrap().digest(&key())
    };
    let phone = Phone::parse("13912345678").unwrap().digest(&key());
    let mut a = identity("H1", "1", "Ma^Taijun=马^泰俊", "19560803", "M");
    let mut b = identity("H2", "1", "MA^TAIJUN", "19560803", "M");
    a.id_digests.push(with_id("12010119560803001"));
    b.id_digests.push(with_id("12010119560803003"));
    a.phone = Some(phone);
    b.phone = Some(phone);
    let mut m = matcher();
    m.add(&a).unwrap();
    let out = m.add(&b).unwrap();
    match out.decision {
        Decision::Review { reason: ReviewReason::IdDisagrees, candidates } => {
            let id = candidates[0].explanation.iter().find(|s| s.field == Field::Id).unwrap();
            assert_eq!(id.level, Level::Disagree);
        }
        other => panic!("expected an ID disagreement review, got {other:?}"),
    }
}

#[test]
fn an_updated_identity_is_matched_by_its_new_fields() {
    let mut m = matcher();
    // Registered with a wrong birth date and no ID; corrected later (A08).
    let a = identity("H1", "7", "Zhao^Lei=赵^磊", "19800101", "M");
    let first = m.add(&a).unwrap();
    let mut corrected = identity("H1", "7", "Zhao^Lei=赵^磊", "19751020", "M");
    corrected.id_digests.push(NationalId::parse(ID).unwrap().digest(&key()));
    m.update(first.identity, &corrected).unwrap();
    assert_eq!(m.person_of(first.identity), Some(first.person), "the person stays");
    // Another hospital's identity with the new ID links by it…
    let mut b = identity("H2", "9", "赵磊", "19751020", "M");
    b.id_digests = corrected.id_digests.clone();
    let second = m.add(&b).unwrap();
    assert!(matches!(second.decision, Decision::Deterministic { with, .. } if with == first.identity), "{:?}", second.decision);
    // …and one with only the old, wrong birth date no longer scores against it.
    let c = identity("H3", "5", "Zhao^Lei=赵^磊", "19800101", "M");
    let third = m.add(&c).unwrap();
    assert_ne!(third.person, first.person, "{:?}", third.decision);
    assert!(matches!(m.update(yunying_empi::IdentityId(999), &corrected), Err(MatchError::Unknown)));
}
