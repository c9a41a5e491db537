//! The viewer's annotations as a TID 1500 SR and a presentation state:
//! DCMTK's `dsrdump` reads the SR, dicom3tools' `dciodvfy` finds no error
//! in either, and the SR reads back as the same set; the key images as a
//! Key Object Selection document likewise.

mod common;

use common::*;
use yunying_report::annotations::*;
use yunying_report::{DateTimeParts, Person};

fn img(n: u32) -> AnnotatedImage {
    AnnotatedImage {
        series_instance_uid: SERIES_A.into(),
        sop_instance_uid: format!("{SERIES_A}.{n}"),
        sop_class_uid: CT_IMAGE.into(),
        frame: None,
        rows: Some(512),
        columns: Some(512),
    }
}

fn ann(tool: Tool, n: u32, points: &[[f64; 2]], values: Values, label: &str, k: u32) -> Annotation {
    Annotation { tool, image: img(n), points: points.to_vec(), label: label.into(), values, tracking_uid: format!("2.25.4242{k}") }
}

pub fn sample_set() -> AnnotationSet {
    let hu = |mean, sd, min, max, area| Values {
        area_mm2: Some(area),
        mean: Some(mean),
        std_dev: Some(sd),
        min: Some(min),
        max: Some(max),
        intensity_unit: "HU".into(),
        ..Values::default()
    };
    AnnotationSet {
        annotations: vec![
            ann(
                Tool::Length,
                45,
                &[[200.5, 180.25], [218.75, 190.5]],
                Values { length_mm: Some(12.53), ..Values::default() },
                "结节长径",
                1,
            ),
            ann(
                Tool::Angle,
                45,
                &[[100.0, 100.0], [150.0, 120.0], [130.0, 180.0]],
                Values { angle_deg: Some(87.25), ..Values::default() },
                "",
                2,
            ),
            ann(
                Tool::Ellipse,
                46,
                &[[300.0, 260.0], [300.0, 340.0], [280.0, 300.0], [320.0, 300.0]],
                hu(-612.5, 33.25, -700.0, -500.0, 1256.6),
                "",
                3,
            ),
            ann(Tool::Rectangle, 46, &[[10.0, 10.0], [40.0, 10.0], [40.0, 30.0], [10.0, 30.0]], hu(40.5, 3.5, 30.0, 50.0, 150.0), "肝", 4),
            ann(Tool::Arrow, 47, &[[60.0, 60.0], [80.0, 90.0]], Values::default(), "看这里", 5),
            ann(Tool::Text, 47, &[[20.0, 400.0]], Values::default(), "备注 note", 6),
        ],
        displays: vec![Display { image: img(45), window_center: -600.0, window_width: 1500.0 }],
        key_images: vec![img(46), img(45)],
    }
}

fn doc() -> AnnotationDocument {
    AnnotationDocument {
        study: sample().study,
        author: Person { name: "李医生".into(), id: "usr_li_0001".into() },
        institution: "XX市影像诊断中心".into(),
        created: DateTimeParts { date: "20240501".into(), time: "103000".into(), tz_offset: "+0800".into() },
        sr_series_instance_uid: "2.25.77001".into(),
        sr_sop_instance_uid: "2.25.77002".into(),
        gsps_series_instance_uid: "2.25.77003".into(),
        gsps_sop_instance_uid: "2.25.77004".into(),
        kos_series_instance_uid: "2.25.77005".into(),
        kos_sop_instance_uid: "2.25.77006".into(),
    }
}

fn tools() -> bool {
    ensure_tool("dciodvfy", "dicom3tools") && ensure_tool("dsrdump", "dcmtk")
}

/// dciodvfy: no line starting with "Error".
fn no_errors(path: &std::path::Path) -> String {
    let (_, out) = run("dciodvfy", &[path.to_str().unwrap()]);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "dciodvfy {}:\n{}\n--- full output:\n{out}", path.display(), errors.join("\n"));
    out
}

#[test]
fn the_sr_and_presentation_state_validate() {
    if !tools() {
        return;
    }
    let built = build_annotations(&doc(), &sample_set()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sr, gsps) = (dir.path().join("sr.dcm"), dir.path().join("gsps.dcm"));
    std::fs::write(&sr, built.sr.as_ref().unwrap()).unwrap();
    std::fs::write(&gsps, built.gsps.as_ref().unwrap()).unwrap();
    if let Ok(keep) = std::env::var("YUNYING_REPORT_KEEP") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&sr, std::path::Path::new(&keep).join("annot-sr.dcm")).unwrap();
        std::fs::copy(&gsps, std::path::Path::new(&keep).join("annot-gsps.dcm")).unwrap();
    }
    let (ok, dump) = run("dsrdump", &["+Pl", "+Pu", "+Pc", sr.to_str().unwrap()]);
    // DCMTK's VR checker skips UTF-8 text: the one warning accepted.
    let complaints: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("E: ") || (l.contains("W: ") && !l.contains("does not support this Specific Character Set")))
        .collect();
    assert!(ok && complaints.is_empty(), "dsrdump:\n{}\n---\n{dump}", complaints.join("\n"));
    assert!(dump.contains("Comprehensive SR"), "{dump}");
    assert!(dump.contains("Imaging Measurement Report"), "{dump}");
    assert!(dump.contains("\"12.53\" (mm,UCUM,\"millimeter\")"), "{dump}");
    assert!(dump.contains("\"-612.5\" ([hnsf'U],UCUM,\"Hounsfield unit\")"), "{dump}");
    assert!(dump.contains("ELLIPSE"), "{dump}");
    no_errors(&sr);
    no_errors(&gsps);

    let kos = dir.path().join("kos.dcm");
    std::fs::write(&kos, built.kos.as_ref().expect("a KOS of the key images")).unwrap();
    let (ok, dump) = run("dsrdump", &["+Pl", "+Pu", "+Pc", kos.to_str().unwrap()]);
    // Nor does it check TID 2010's constraints: the other warning accepted.
    let complaints: Vec<&str> = dump
        .lines()
        .filter(|l| {
            l.contains("E: ")
                || (l.contains("W: ")
                    && !l.contains("does not support this Specific Character Set")
                    && !l.contains("template constraints not yet supported"))
        })
        .collect();
    assert!(ok && complaints.is_empty(), "dsrdump:\n{}\n---\n{dump}", complaints.join("\n"));
    assert!(dump.contains("Key Object Selection Document") && dump.contains("Of Interest"), "{dump}");
    assert!(dump.contains(&format!("{SERIES_A}.46")) && dump.contains(&format!("{SERIES_A}.45")), "{dump}");
    no_errors(&kos);
}

#[test]
fn build_then_parse_gives_the_same_set() {
    let set = sample_set();
    let built = build_annotations(&doc(), &set).unwrap();
    let parsed = parse::parse_sr(built.sr.as_ref().unwrap()).unwrap();
    assert_eq!(parsed.author_name, "李医生");
    assert_eq!(parsed.author_id, "usr_li_0001");
    assert_eq!(parsed.sop_instance_uid, "2.25.77002");
    assert_eq!(parsed.set.annotations.len(), set.annotations.len());
    for (got, want) in parsed.set.annotations.iter().zip(&set.annotations) {
        let mut want = want.clone();
        // Rows and columns are the index's, not the SR's.
        want.image.rows = None;
        want.image.columns = None;
        assert_eq!(got, &want);
    }
    let displays = parse::parse_displays(built.gsps.as_ref().unwrap()).unwrap();
    assert_eq!(displays.len(), 1);
    assert_eq!((displays[0].window_center, displays[0].window_width), (-600.0, 1500.0));
    assert_eq!(displays[0].image.sop_instance_uid, format!("{SERIES_A}.45"));
    assert_eq!(displays[0].image.series_instance_uid, SERIES_A);
    let keys = parse::parse_key_images(built.kos.as_ref().unwrap()).unwrap();
    assert_eq!(keys.sop_instance_uid, "2.25.77006");
    assert_eq!(keys.author_name, "李医生");
    assert_eq!(keys.description, KEY_IMAGES_DESCRIPTION);
    assert_eq!((keys.content_date.as_str(), keys.content_time.as_str()), ("20240501", "103000"));
    let want: Vec<AnnotatedImage> = set.key_images.iter().map(|i| AnnotatedImage { rows: None, columns: None, ..i.clone() }).collect();
    assert_eq!(keys.images, want);
    // No key images: no KOS; only key images: only the KOS.
    let none = AnnotationSet { key_images: Vec::new(), ..set.clone() };
    assert!(build_annotations(&doc(), &none).unwrap().kos.is_none());
    let only = AnnotationSet { annotations: Vec::new(), displays: Vec::new(), ..set };
    let built_only = build_annotations(&doc(), &only).unwrap();
    assert!(built_only.sr.is_none() && built_only.gsps.is_none());
    assert_eq!(parse::parse_key_images(built_only.kos.as_ref().unwrap()).unwrap().images.len(), 2);
    assert!(parse::parse_key_images(built.sr.as_ref().unwrap()).is_err());
}

#[test]
fn bad_sets_are_refused() {
    let mut set = sample_set();
    set.annotations[0].points.pop();
    assert!(build_annotations(&doc(), &set).unwrap_err().to_string().contains("2 points"));
    let mut set = sample_set();
    set.annotations[1].points[0][0] = f64::NAN;
    assert!(check_set(&set).is_err());
    let mut set = sample_set();
    set.annotations[0].label = "x".repeat(MAX_LABEL_CHARS + 1);
    assert!(matches!(check_set(&set), Err(yunying_report::ReportError::TooLarge { .. })));
    let mut set = sample_set();
    let one = set.annotations[0].clone();
    set.annotations = vec![one; MAX_ANNOTATIONS + 1];
    assert!(matches!(check_set(&set), Err(yunying_report::ReportError::TooLarge { .. })));
    let mut set = sample_set();
    set.annotations[0].image.sop_instance_uid = "1.2.abc".into();
    assert!(check_set(&set).is_err());
    assert!(check_set(&AnnotationSet::default()).is_err());
    let mut set = sample_set();
    set.key_images.push(img(46));
    assert!(check_set(&set).unwrap_err().to_string().contains("twice"));
    let mut set = sample_set();
    set.key_images = (0..=MAX_KEY_IMAGES as u32).map(img).collect();
    assert!(matches!(check_set(&set), Err(yunying_report::ReportError::TooLarge { .. })));
    // Not a measurement report.
    let report = yunying_report::build(&sample(), &uids(1), fonts());
    if let Ok(b) = report {
        assert!(parse::parse_sr(&b.sr).is_err());
    }
}
