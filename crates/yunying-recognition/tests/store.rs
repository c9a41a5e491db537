//! Recognition on the real index, SQLite and PostgreSQL: studies get their
//! items when classified again after ingest (by the procedure code in the
//! stored metadata, and by the description keyword), orders are stored with
//! their candidates, decisions are refused or kept with their history,
//! statistics come out per month and reason with the money saved, the CSV
//! opens in Excel with Chinese headers, and a signed record verifies until
//! one byte of it changes.

mod common;

use common::{Backend, StudySpec, open, recognition, store};
use yunying_ledger::{SigType, Signer};
use yunying_recognition::{
    Decision, Order, Outcome, Recognition, RecognitionError, SignedRecord, StatsDimension, StatsQuery, sign_record, verify_record,
};

/// Key, offered, decided, recognised, partial, not recognised, saved, unopened.
type MonthSummary = (Vec<String>, i64, i64, i64, i64, i64, i64, i64);

const CHEST: &[(&str, &str)] = &[("ZJ-CT-001", "99ZJHR")];

/// Three chest CTs of one person at three hospitals: A's by procedure code
/// only (HR), A's a month later by keyword (HR), C's by keyword (no mark).
async fn three_chest_cts(r: &Recognition, index: &yunying_index::Index) {
    let spec = |uid, issuer, date, description, codes| StudySpec {
        uid,
        issuer,
        date,
        modality: "CT",
        body_part: "",
        description,
        codes,
        instances: 2,
    };
    store(index, &spec("1.2.3.1", "HOSP-A", "20260310", "routine", CHEST)).await;
    store(index, &spec("1.2.3.2", "HOSP-A", "20260405", "胸部CT平扫", &[])).await;
    store(index, &spec("1.2.3.3", "HOSP-C", "20260320", "胸部CT增强", &[])).await;
    store(index, &spec("1.2.3.4", "HOSP-C", "20260321", "腹部CT", &[])).await;
    let done = r.reclassify(2).await.unwrap();
    assert_eq!((done.studies, done.changed), (4, 3));
    assert_eq!(r.reclassify(100).await.unwrap().changed, 0, "nothing changes the second time");
}

fn order(date: &str, doctor: &str, department: &str) -> Order {
    Order {
        his_order_id: format!("HIS-{date}"),
        item_code: "CT-CHEST".into(),
        order_date: date.into(),
        institution: "HOSP-B".into(),
        department: department.into(),
        doctor: doctor.into(),
    }
}

fn decision(order_id: &str, study: &str, outcome: Outcome, reason: Option<&str>, opened_ms: i64) -> Decision {
    Decision {
        order_id: order_id.into(),
        study_instance_uid: study.into(),
        outcome,
        reason: reason.map(str::to_string),
        note: "术前复查".into(),
        patient_informed: outcome != Outcome::Recognised,
        reexam_order_id: if outcome == Outcome::Recognised { String::new() } else { "HIS-RE-1".into() },
        doctor: "person:dr-li".into(),
        department: "呼吸内科".into(),
        institution: "HOSP-B".into(),
        opened_ms,
        decided_ms: 1_775_000_000_000,
    }
}

async fn stored_items_and_candidates(backend: Backend) {
    let (index, _dir) = open(backend, "recog_items").await;
    let r = recognition(&index).await;
    three_chest_cts(&r, &index).await;
    let all: Vec<String> = ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "9.9.9"].map(String::from).to_vec();
    let facts = r.study_facts(&all).await.unwrap();
    assert_eq!(facts.len(), 4, "the unknown UID is left out");
    let items = |uid: &str| facts.iter().find(|f| f.study_instance_uid == uid).unwrap().items.clone();
    assert_eq!(items("1.2.3.1").len(), 1);
    assert!(items("1.2.3.1")[0].hr, "by procedure code, HR at A on its date");
    assert!(items("1.2.3.2")[0].hr, "by keyword");
    assert!(!items("1.2.3.3")[0].hr, "C has no mark");
    assert!(items("1.2.3.4").is_empty(), "an abdominal CT is no chest CT");
    // A study arriving later is classified by its UID alone.
    let late = StudySpec {
        uid: "1.2.3.5",
        issuer: "HOSP-A",
        date: "20260407",
        modality: "CT",
        body_part: "",
        description: "x",
        codes: CHEST,
        instances: 1,
    };
    store(&index, &late).await;
    let done = r.classify_stored(&["1.2.3.5".into(), "9.9.9".into()]).await.unwrap();
    assert_eq!((done.studies, done.changed), (1, 1));
    assert!(r.study_facts(&["1.2.3.5".into()]).await.unwrap()[0].items[0].hr);

    let offer = r.offer(&order("20260409", "person:dr-li", "呼吸内科"), &facts, 5).await.unwrap();
    let offered: Vec<&str> = offer.candidates.iter().map(|c| c.study_instance_uid.as_str()).collect();
    assert_eq!(offered, ["1.2.3.2", "1.2.3.3", "1.2.3.1"], "30 days back from 9 April reaches 10 March, newest first");
    let (stored, rows) = r.order(&offer.order_id).await.unwrap().unwrap();
    assert_eq!((stored.order_date.as_str(), stored.region.as_str()), ("20260409", "330100"));
    let rows: Vec<(&str, i64, bool, i64)> = rows.iter().map(|c| (c.study_instance_uid.as_str(), c.age_days, c.hr, c.price_fen)).collect();
    assert_eq!(rows, [("1.2.3.2", 4, true, 24000), ("1.2.3.3", 20, false, 24000), ("1.2.3.1", 30, true, 24000)]);
    // The HIS asks again about the same order: same id, nothing counted twice.
    let again = r.offer(&order("20260409", "person:dr-li", "呼吸内科"), &facts, 6).await.unwrap();
    assert_eq!((again.order_id.as_str(), again.candidates.len()), (offer.order_id.as_str(), 3));
    assert_eq!(r.order(&offer.order_id).await.unwrap().unwrap().1.len(), 3);
    let later = r.offer(&order("20260410", "person:dr-li", "呼吸内科"), &facts, 6).await.unwrap();
    assert_ne!(later.order_id, offer.order_id, "another HIS order number");
    assert!(!later.candidates.iter().any(|c| c.study_instance_uid == "1.2.3.1"), "31 days old the next day");

    // The mark is withdrawn: reclassifying takes the HR status away.
    r.replace_marks(&[]).await.unwrap();
    assert_eq!(r.reclassify(10).await.unwrap().changed, 3);
    assert!(!r.study_facts(&all).await.unwrap().iter().any(|f| f.items.iter().any(|i| i.hr)));
}

async fn decisions_are_refused_or_amended_with_history(backend: Backend) {
    let (index, _dir) = open(backend, "recog_decide").await;
    let r = recognition(&index).await;
    three_chest_cts(&r, &index).await;
    let facts = r.study_facts(&["1.2.3.1".into(), "1.2.3.3".into(), "1.2.3.4".into()]).await.unwrap();
    let o = r.offer(&order("20260331", "person:dr-li", "呼吸内科"), &facts, 5).await.unwrap().order_id;

    let no_reason = decision(&o, "1.2.3.3", Outcome::NotRecognised, None, 0);
    assert!(matches!(r.decide(&no_reason).await, Err(RecognitionError::Decision(_))));
    assert!(r.decisions(&o, "1.2.3.3").await.unwrap().is_empty(), "a refused decision leaves nothing");
    assert_eq!(r.decide(&decision(&o, "1.2.3.3", Outcome::NotRecognised, Some("3"), 0)).await.unwrap(), 1);
    let again = decision(&o, "1.2.3.3", Outcome::Recognised, None, 0);
    assert!(matches!(r.decide(&again).await, Err(RecognitionError::AlreadyDecided { version: 1 })));
    assert!(matches!(r.amend(&again, 2, "误选").await, Err(RecognitionError::StaleAmendment { current: 1 })));
    assert_eq!(r.amend(&again, 1, "误选").await.unwrap(), 2);
    let history = r.decisions(&o, "1.2.3.3").await.unwrap();
    let versions: Vec<(i64, bool, &str, &str, &str)> =
        history.iter().map(|d| (d.version, d.current, d.outcome.as_str(), d.reason.as_str(), d.amend_note.as_str())).collect();
    assert_eq!(versions, [(1, false, "not-recognised", "3", ""), (2, true, "recognised", "", "误选")]);
    assert_eq!((history[0].item_code.as_str(), history[0].month.as_str(), history[0].price_fen), ("CT-CHEST", "2026-03", 24000));

    let not_offered = decision(&o, "1.2.3.4", Outcome::Recognised, None, 0);
    assert!(matches!(r.decide(&not_offered).await, Err(RecognitionError::NotOffered)));
    let unknown_order = decision("ro_none", "1.2.3.1", Outcome::Recognised, None, 0);
    assert!(matches!(r.decide(&unknown_order).await, Err(RecognitionError::NotOffered)));
}

async fn statistics_by_month_and_reason_with_savings(backend: Backend) {
    let (index, _dir) = open(backend, "recog_stats").await;
    let r = recognition(&index).await;
    three_chest_cts(&r, &index).await;
    let facts = r.study_facts(&["1.2.3.1".into(), "1.2.3.2".into(), "1.2.3.3".into()]).await.unwrap();
    // March: two candidates, one recognised after 5 s with the images, one
    // not (before surgery) without opening them.
    let march = r.offer(&order("20260331", "person:dr-li", "呼吸内科"), &facts, 5).await.unwrap().order_id;
    r.decide(&decision(&march, "1.2.3.1", Outcome::Recognised, None, 5_000)).await.unwrap();
    r.decide(&decision(&march, "1.2.3.3", Outcome::NotRecognised, Some("3"), 0)).await.unwrap();
    // April: Dr Wang first refuses (patient request), then amends to recognised;
    // another order gets no decision; a partial one is not counted as saved.
    let mut wang = order("20260410", "person:dr-wang", "胸外科");
    wang.his_order_id = "HIS-W".into();
    let april = r.offer(&wang, &facts, 6).await.unwrap().order_id;
    let mut refused = decision(&april, "1.2.3.2", Outcome::NotRecognised, Some("patient-request"), 1_000);
    refused.doctor = "person:dr-wang".into();
    refused.department = "胸外科".into();
    r.decide(&refused).await.unwrap();
    let mut recognised = decision(&april, "1.2.3.2", Outcome::Recognised, None, 1_000);
    recognised.doctor = "person:dr-wang".into();
    recognised.department = "胸外科".into();
    r.amend(&recognised, 1, "患者同意").await.unwrap();
    let other = r.offer(&order("20260412", "person:dr-li", "呼吸内科"), &facts, 7).await.unwrap().order_id;
    r.decide(&decision(&other, "1.2.3.3", Outcome::Partial, Some("quality-doubt"), 2_000)).await.unwrap();

    let by_month = StatsQuery {
        from_month: "2026-01".into(),
        to_month: "2026-12".into(),
        filters: vec![(StatsDimension::Region, "330100".into())],
        group_by: vec![StatsDimension::Month],
    };
    let rows = r.statistics(&by_month).await.unwrap();
    let summary: Vec<MonthSummary> = rows
        .iter()
        .map(|s| (s.key.clone(), s.offered, s.decided, s.recognised, s.partial, s.not_recognised, s.saved_fen, s.unopened))
        .collect();
    assert_eq!(summary, [(vec!["2026-03".to_string()], 2, 2, 1, 0, 1, 24000, 1), (vec!["2026-04".to_string()], 4, 2, 1, 1, 0, 24000, 0)]);
    assert_eq!(rows[0].reasons.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("3", 1)]);
    assert_eq!(rows[1].reasons.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("quality-doubt", 1)], "amended away: gone");

    let by_doctor = StatsQuery {
        from_month: "2026-04".into(),
        to_month: "2026-04".into(),
        filters: vec![(StatsDimension::Institution, "HOSP-B".into())],
        group_by: vec![StatsDimension::Department, StatsDimension::Doctor, StatsDimension::Item],
    };
    let rows = r.statistics(&by_doctor).await.unwrap();
    let summary: Vec<(Vec<String>, i64, i64, i64)> = rows.iter().map(|s| (s.key.clone(), s.offered, s.recognised, s.saved_fen)).collect();
    let key = |d: &str, p: &str| vec![d.to_string(), p.to_string(), "CT-CHEST".to_string()];
    assert_eq!(summary, [(key("呼吸内科", "person:dr-li"), 2, 0, 0), (key("胸外科", "person:dr-wang"), 2, 1, 24000)]);
    let total = StatsQuery { from_month: "2026-01".into(), to_month: "2026-02".into(), ..StatsQuery::default() };
    assert!(r.statistics(&total).await.unwrap().is_empty());
    assert!(matches!(r.statistics(&StatsQuery { from_month: "2026-13".into(), ..total }).await, Err(RecognitionError::BadDate)));

    let csv = String::from_utf8(r.statistics_csv(&r.statistics(&by_month).await.unwrap(), &by_month)).unwrap();
    assert!(csv.starts_with('\u{feff}'), "Excel needs the BOM to read UTF-8");
    let mut lines = csv.trim_start_matches('\u{feff}').split("\r\n");
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..7], ["月份", "候选数", "决定数", "互认数", "部分互认数", "不互认数", "互认率(%)"]);
    assert!(header.contains(&"不互认原因:3 手术、输血等重大医疗措施前"));
    assert!(header.contains(&"不互认原因:patient-request 患者要求"));
    assert_eq!(header[header.len() - 2..], ["节省费用(元)", "未打开影像决定占比(%)"]);
    let march_line: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&march_line[..7], ["2026-03", "2", "2", "1", "0", "1", "50.0"]);
    assert_eq!(march_line[header.iter().position(|h| h.starts_with("不互认原因:3 ")).unwrap()], "1");
    assert_eq!(march_line[march_line.len() - 2..], ["240.00", "50.0"]);
}

async fn signed_record_verifies_until_a_byte_changes(backend: Backend) {
    let (index, _dir) = open(backend, "recog_record").await;
    let r = recognition(&index).await;
    three_chest_cts(&r, &index).await;
    let facts = r.study_facts(&["1.2.3.1".into()]).await.unwrap();
    let o = r.offer(&order("20260331", "person:dr-li", "呼吸内科"), &facts, 5).await.unwrap().order_id;
    assert!(matches!(r.record(&o, "1.2.3.1", 9).await, Err(RecognitionError::Undecided)));
    r.decide(&decision(&o, "1.2.3.1", Outcome::Recognised, None, 5_000)).await.unwrap();
    let record = r.record(&o, "1.2.3.1", 9).await.unwrap();
    assert_eq!(record.order.item_name, "胸部CT平扫");
    assert!(record.study.hr);
    assert_eq!(record.study.instances.len(), 2);
    assert_eq!(record.study.instances[0].sha256, format!("{:064x}", 1));
    assert_eq!(record.study.instances[0].sm3.as_deref(), Some(format!("{:064x}", 1001).as_str()));

    let key = Signer::generate("yunying-recognition.example", SigType::Sm2Cosignature).unwrap();
    let signed = sign_record(&record, &key, 1_775_000_000).unwrap();
    let (back, time) = verify_record(&signed, key.verifier()).unwrap();
    assert_eq!((back, time), (record, Some(1_775_000_000)));
    // One byte of the record changed (the outcome, the HR flag): refused.
    for (from, to) in [("\"recognised\"", "\"partial\""), ("\"hr\":true", "\"hr\":fals")] {
        let forged = SignedRecord { record: signed.record.replacen(from, to, 1), signature: signed.signature.clone() };
        assert_ne!(forged.record, signed.record);
        assert!(matches!(verify_record(&forged, key.verifier()), Err(RecognitionError::Signature(_))));
    }
    let mut bytes = signed.record.clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let flipped = SignedRecord { record: String::from_utf8_lossy(&bytes).into_owned(), signature: signed.signature.clone() };
    assert!(verify_record(&flipped, key.verifier()).is_err());
    let other = Signer::generate("yunying-recognition.example", SigType::Sm2Cosignature).unwrap();
    assert!(verify_record(&signed, other.verifier()).is_err(), "another key's signature");
}

on_every_backend!(
    stored_items_and_candidates,
    decisions_are_refused_or_amended_with_history,
    statistics_by_month_and_reason_with_savings,
    signed_record_verifies_until_a_byte_changes,
);
