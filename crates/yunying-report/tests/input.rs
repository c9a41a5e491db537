//! What is signed, and what input is refused.

mod common;

use common::*;
use yunying_report::*;

#[test]
fn signed_content_is_stable_for_equal_inputs() {
    let a = content_for_signature(&sample());
    let b = content_for_signature(&sample());
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    assert!(text.starts_with("{\"amend_reason\":\"\",\"author_id\":\"usr_li_0001\",\"critical\":true,\"findings\":\"胸廓对称"), "{text}");
    assert!(text.contains("\"format\":\"yunying-report-signed-content/v1\""), "{text}");
    assert!(text.contains("{\"image\":{\"frame\":null,"), "{text}");
    assert!(text.contains("\"label\":\"结节长径\",\"unit\":\"mm\",\"value\":\"12.5\"}"), "{text}");
    assert!(text.ends_with("\"signed_at\":\"20240501103000+0800\",\"study_instance_uid\":\"1.2.826.0.1.3680043.10.543.1\",\"verifier_id\":\"usr_wang_0002\",\"version\":1}"), "{text}");
    assert!(!text.contains("\": ") && !text.contains("\n"), "no whitespace between tokens, newlines escaped");
    // The signature itself and display-only fields are not signed.
    let mut unsigned = sample();
    unsigned.signature = None;
    unsigned.template_name = "另一个模板".into();
    unsigned.reading_institution = "另一个中心".into();
    unsigned.author.name = "李某".into();
    // Nor is where a measurement was drawn, nor an image's size.
    unsigned.measurements[0].points.clear();
    unsigned.measurements[1].points.reverse();
    unsigned.key_images[0].rows = None;
    assert_eq!(content_for_signature(&unsigned), content_for_signature(&sample()));
}

#[test]
fn signed_content_changes_with_every_signed_field() {
    let base = content_for_signature(&sample());
    type Change = (&'static str, fn(&mut ReportInput));
    let changes: &[Change] = &[
        ("study uid", |r| r.study.study_instance_uid.push('9')),
        ("patient id", |r| r.study.patient_id.push('9')),
        ("request id", |r| r.request_id.push('9')),
        ("version", |r| r.version = 2),
        ("predecessor", |r| r.predecessor = Some(Predecessor { sop_instance_uid: "1.2.3".into(), series_instance_uid: "1.2".into() })),
        ("amend reason", |r| r.amend_reason = "更正".into()),
        ("findings", |r| r.findings.push('。')),
        ("findings newline", |r| r.findings = r.findings.replace('\n', "\r\n")),
        ("impression", |r| r.impression.push('。')),
        ("critical", |r| r.critical = false),
        ("measurement value", |r| r.measurements[0].value = 12.6),
        ("measurement unit", |r| r.measurements[0].unit = "cm".into()),
        ("measurement label", |r| r.measurements[0].label = "结节短径".into()),
        ("measurement image", |r| r.measurements[0].image = None),
        ("measurement order", |r| r.measurements.swap(0, 1)),
        ("measurement removed", |r| {
            r.measurements.pop();
        }),
        ("key image frame", |r| r.key_images[1].frame = Some(4)),
        ("key image instance", |r| r.key_images[0].sop_instance_uid.push('9')),
        ("key image series", |r| r.key_images[0].series_instance_uid.push('9')),
        ("key image class", |r| r.key_images[0].sop_class_uid.push('9')),
        ("key image removed", |r| {
            r.key_images.pop();
        }),
        ("author id", |r| r.author.id.push('9')),
        ("verifier id", |r| r.verifier.as_mut().unwrap().id.push('9')),
        ("verifier removed", |r| r.verifier = None),
        ("signed date", |r| r.signed_at.date = "20240502".into()),
        ("signed time", |r| r.signed_at.time = "103001".into()),
        ("signed offset", |r| r.signed_at.tz_offset = "+0000".into()),
    ];
    for (name, change) in changes {
        let mut input = sample();
        change(&mut input);
        assert_ne!(content_for_signature(&input), base, "{name} is not signed");
    }
}

fn refused(change: impl FnOnce(&mut ReportInput)) -> ReportError {
    let mut input = sample();
    change(&mut input);
    build(&input, &uids(1), fonts()).expect_err("refused")
}

fn assert_too_large(e: ReportError, field: &str, max: usize) {
    match e {
        ReportError::TooLarge { field: f, max: m, .. } if f == field && m == max => {}
        other => panic!("expected TooLarge for {field} (max {max}), got {other:?}"),
    }
}

#[test]
fn long_texts_and_lists_are_bounded() {
    assert_too_large(refused(|r| r.findings = "肺".repeat(MAX_FINDINGS_CHARS + 1)), "findings", MAX_FINDINGS_CHARS);
    assert_too_large(refused(|r| r.impression = "a".repeat(MAX_IMPRESSION_CHARS + 1)), "impression", MAX_IMPRESSION_CHARS);
    assert_too_large(refused(|r| r.clinical_info = "咳".repeat(MAX_CLINICAL_INFO_CHARS + 1)), "clinical_info", MAX_CLINICAL_INFO_CHARS);
    let m = sample().measurements[0].clone();
    assert_too_large(refused(|r| r.measurements = vec![m; MAX_MEASUREMENTS + 1]), "measurements", MAX_MEASUREMENTS);
    assert_too_large(refused(|r| r.key_images = vec![image(SERIES_A, 1, None); MAX_KEY_IMAGES + 1]), "key_images", MAX_KEY_IMAGES);
    let many = |n: usize| (0..n).map(|i| (i as f64 / 2.0, 100.0)).collect::<Vec<_>>();
    assert_too_large(
        refused(|r| r.measurements[1].points = many(MAX_MEASUREMENT_POINTS + 1)),
        "measurements[1].points",
        MAX_MEASUREMENT_POINTS,
    );
    // LO values over 64 characters are refused, not cut: the report is signed.
    assert_too_large(refused(|r| r.reading_institution = "影".repeat(65)), "reading_institution", 64);
    assert_too_large(refused(|r| r.requesting_institution = "x".repeat(65)), "requesting_institution", 64);
    assert_too_large(refused(|r| r.measurements[0].label = "长".repeat(65)), "measurements[0].label", 64);
    assert_too_large(refused(|r| r.study.study_description = "d".repeat(65)), "study.study_description", 64);
    assert_too_large(refused(|r| r.study.accession_number = "1".repeat(17)), "study.accession_number", 16);
    assert_too_large(refused(|r| r.study.patient_name = format!("{}=张^三", "Z".repeat(65))), "study.patient_name (a component group)", 64);
    assert_too_large(refused(|r| r.request_id = "r".repeat(65)), "request_id", 64);
    assert_too_large(refused(|r| r.signature.as_mut().unwrap().signature_b64 = "A".repeat(1025)), "signature.signature_b64", 1024);

    // At the limits, everything builds: 64 Chinese characters in an LO,
    // 20,000 in the findings (in UT), 100 measurements, 200 key images.
    let mut input = sample();
    input.reading_institution = "影".repeat(64);
    input.findings = "肺".repeat(MAX_FINDINGS_CHARS);
    input.measurements = (0..MAX_MEASUREMENTS).map(|i| Measurement { value: i as f64 / 3.0, ..sample().measurements[0].clone() }).collect();
    input.key_images = (0..MAX_KEY_IMAGES as u32).map(|i| image(SERIES_A, i + 1, None)).collect();
    input.measurements[1].points = many(MAX_MEASUREMENT_POINTS);
    let built = build(&input, &uids(1), fonts()).unwrap();
    assert!(built.pdf_pages > 3);
    assert!(built.gsps.is_some());
    let sr = dicom_object::from_reader(&built.sr[128..]).unwrap();
    let _ = sr;
}

#[test]
fn control_characters_are_refused() {
    for (field, change) in [
        ("findings", (|r: &mut ReportInput| r.findings.push('\u{0}')) as fn(&mut ReportInput)),
        ("findings", |r| r.findings.push('\u{1b}')),
        ("impression", |r| r.impression.push('\u{7f}')),
        ("impression", |r| r.impression.push('\u{85}')),
        ("clinical_info", |r| r.clinical_info.push('\u{c}')),
        ("reading_institution", |r| r.reading_institution.push('\n')),
        ("measurements[1].label", |r| r.measurements[1].label.push('\t')),
        ("author.name", |r| r.author.name.push('\r')),
        ("study.patient_name", |r| r.study.patient_name.push('\u{7}')),
    ] {
        match refused(change) {
            ReportError::ControlCharacter { field: f, .. } if f == field => {}
            other => panic!("{field}: expected ControlCharacter, got {other:?}"),
        }
    }
    // Newlines and tabs are fine in the free texts.
    let mut input = sample();
    input.findings = "第一行\r\n\t第二行\r第三行\n".into();
    input.impression = "\t缩进".into();
    build(&input, &uids(1), fonts()).unwrap();
}

#[test]
fn invalid_values_are_refused() {
    let invalid = |change: fn(&mut ReportInput), field: &str| match refused(change) {
        ReportError::Invalid { field: f, .. } if f == field => {}
        other => panic!("{field}: expected Invalid, got {other:?}"),
    };
    invalid(|r| r.study.study_instance_uid = "1.2.abc".into(), "study.study_instance_uid");
    invalid(|r| r.study.study_instance_uid = "1.02.3".into(), "study.study_instance_uid");
    invalid(|r| r.key_images[0].sop_instance_uid.clear(), "key_images[0].sop_instance_uid");
    invalid(|r| r.key_images[1].frame = Some(0), "key_images[1].frame");
    invalid(|r| r.key_images[0].frame = Some(2), "key_images[0].frame");
    invalid(|r| r.measurements[0].value = f64::NAN, "measurements[0].value");
    invalid(|r| r.measurements[0].value = f64::INFINITY, "measurements[0].value");
    invalid(|r| r.measurements[0].unit = "milli meter".into(), "measurements[0].unit");
    invalid(|r| r.measurements[0].unit.clear(), "measurements[0].unit");
    // A measurement's points: finite, drawn on an image of known size, within it.
    invalid(|r| r.measurements[0].points[1].0 = f64::NAN, "measurements[0].points[1]");
    invalid(|r| r.measurements[1].points[0].1 = f64::NEG_INFINITY, "measurements[1].points[0]");
    invalid(|r| r.measurements[0].image = None, "measurements[0].points");
    invalid(|r| r.measurements[1].image.as_mut().unwrap().rows = None, "measurements[1].image.rows");
    invalid(|r| r.measurements[1].image.as_mut().unwrap().columns = None, "measurements[1].image.columns");
    invalid(|r| r.measurements[0].points[0] = (513.0, 10.0), "measurements[0].points[0]");
    invalid(|r| r.measurements[0].points[1] = (10.0, -0.5), "measurements[0].points[1]");
    invalid(|r| r.key_images[0].rows = Some(0), "key_images[0].rows");
    invalid(
        |r| {
            let mut other = r.measurements[0].clone();
            other.image.as_mut().unwrap().rows = Some(1024);
            r.measurements.push(other);
        },
        "measurements[2].image.rows",
    );
    invalid(|r| r.reading_institution = "A\\B".into(), "reading_institution");
    invalid(|r| r.signed_at.date = "2024-05-01".into(), "signed_at.date");
    invalid(|r| r.signed_at.time = "1030".into(), "signed_at.time");
    invalid(|r| r.signed_at.tz_offset = "+08:00".into(), "signed_at.tz_offset");
    invalid(|r| r.version = 2, "predecessor");
    invalid(|r| r.version = 0, "version");
    invalid(|r| r.predecessor = Some(Predecessor { sop_instance_uid: "1.2.3".into(), series_instance_uid: "1.2".into() }), "predecessor");
    invalid(
        |r| {
            r.version = 2;
            r.predecessor = Some(Predecessor { sop_instance_uid: "1.2.3".into(), series_instance_uid: "1.2".into() });
        },
        "amend_reason",
    );
    invalid(|r| r.signature.as_mut().unwrap().content_digest_hex = "xyz".into(), "signature.content_digest_hex");
    invalid(|r| r.author.id.clear(), "author.id");
    invalid(|r| r.author.name = "^".into(), "author.name");
    invalid(
        |r| {
            r.findings.clear();
            r.impression.clear();
        },
        "findings",
    );

    let mut same = uids(1);
    same.pdf_series_instance_uid = same.series_instance_uid.clone();
    match build(&sample(), &same, fonts()) {
        Err(ReportError::Invalid { field, .. }) if field == "uids.pdf_series_instance_uid" => {}
        other => panic!("expected Invalid uids, got {other:?}"),
    }
    let mut same = uids(1);
    same.gsps_sop_instance_uid = same.sr_sop_instance_uid.clone();
    match build(&sample(), &same, fonts()) {
        Err(ReportError::Invalid { field, .. }) if field == "uids.gsps_sop_instance_uid" => {}
        other => panic!("expected Invalid uids, got {other:?}"),
    }
    // Without points the GSPS UIDs are not used, nor checked; points on
    // the image's edges are within it.
    let mut input = sample();
    for m in &mut input.measurements {
        m.points.clear();
    }
    let mut no_gsps = uids(1);
    no_gsps.gsps_series_instance_uid.clear();
    no_gsps.gsps_sop_instance_uid.clear();
    assert!(build(&input, &no_gsps, fonts()).unwrap().gsps.is_none(), "no points, no GSPS");
    input.measurements[0].points = vec![(0.0, 0.0), (512.0, 512.0)];
    assert!(build(&input, &uids(1), fonts()).unwrap().gsps.is_some());
    // Without key images the KOS UIDs are not used, nor checked.
    let mut input = sample();
    input.key_images.clear();
    let mut no_kos = uids(1);
    no_kos.kos_series_instance_uid.clear();
    no_kos.kos_sop_instance_uid.clear();
    assert!(build(&input, &no_kos, fonts()).unwrap().kos.is_none());
}

#[test]
fn fonts_that_cannot_draw_chinese_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_font = dir.path().join("x.ttf");
    std::fs::write(&not_a_font, b"not a font").unwrap();
    assert!(matches!(Fonts::load(&not_a_font), Err(ReportError::Font { .. })));
    assert!(matches!(Fonts::load(&dir.path().join("absent.ttc")), Err(ReportError::Font { .. })));
    let latin = std::path::Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if latin.exists() {
        match Fonts::load(latin) {
            Err(ReportError::Font { reason, .. }) => assert!(reason.contains("Chinese"), "{reason}"),
            other => panic!("DejaVu has no Chinese: {other:?}"),
        }
    }
    let f = fonts();
    if f.path() == std::path::Path::new(SYSTEM_FONT_PATHS[0]) {
        assert_eq!(f.family(), "Noto Sans CJK SC");
    }
}
