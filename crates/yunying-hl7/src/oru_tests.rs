//! ORU tests: each message is read back with this crate's own parser.

use super::*;
use crate::adt::{IdentifierKind, NameRepresentation, types};
use crate::parse::{Limits, Message, ParseOptions};

const FINDINGS: &str = "双肺纹理清晰，右肺上叶见一结节（约 8mm×6mm），边界清。\n纵隔未见肿大淋巴结。\r\n\n特殊字符 | ^ ~ \\ & 保留。";
const IMPRESSION: &str = "右肺上叶结节，建议随访。\n必要时增强 CT。";

fn report() -> ReportMessage {
    ReportMessage {
        sending_application: "YUNYING".into(),
        sending_facility: "READ-CENTRE".into(),
        receiving_application: "HIS".into(),
        receiving_facility: "TOWNSHIP-01".into(),
        control_id: "R20261206-0001".into(),
        message_time: "20261206120000+0800".into(),
        patient: ReportPatient {
            patient_id: "P1001".into(),
            issuer: "TOWNSHIP-01".into(),
            name_alphabetic: "Zhang^San".into(),
            name_ideographic: "张^三".into(),
            birth_date: "19700101".into(),
            sex: "M".into(),
        },
        placer_order_number: "HIS-ORDER-1".into(),
        filler_order_number: "RR-42".into(),
        accession_number: "ACC-7".into(),
        study_instance_uid: "1.2.156.112605.1.20261206.9".into(),
        procedure_code: "CT-CHEST".into(),
        procedure_text: "胸部CT平扫".into(),
        observation_time: "20261206090000+0800".into(),
        result_status: ResultStatus::Final,
        result_time: "20261206113000+0800".into(),
        findings: FINDINGS.into(),
        impression: IMPRESSION.into(),
        critical: false,
        principal_interpreter: Interpreter { id: "1001".into(), name: "李^四".into() },
        assistant_interpreter: Interpreter { id: "2002".into(), name: "Wang^Wu".into() },
        pdf: None,
        report_url: String::new(),
    }
}

fn parse(text: &str) -> Message {
    let limits = Limits { max_message_bytes: 16 << 20, ..Limits::default() };
    Message::parse(text.as_bytes(), &ParseOptions { limits, ..ParseOptions::default() }).unwrap()
}

fn ids(m: &Message) -> Vec<&str> {
    m.segments().iter().map(|s| s.id()).collect()
}

fn obx(m: &Message, set_id: usize) -> &crate::parse::Segment {
    let segment = m.segments().iter().filter(|s| s.id() == "OBX").nth(set_id - 1).expect("OBX");
    assert_eq!(m.field(segment, 1).value(), set_id.to_string());
    segment
}

/// The unescaped text lines normalised to LF, as a receiver reads them.
fn normalised(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[test]
fn a_final_report_reads_back_field_by_field() {
    let text = build_oru(&report()).unwrap();
    assert!(!text.contains('\n') && text.ends_with('\r'), "segments end with CR only");
    let m = parse(&text);
    assert_eq!(ids(&m), ["MSH", "PID", "ORC", "OBR", "OBX", "OBX", "OBX"]);
    assert_eq!(m.charset(), crate::Charset::Utf8);

    let msh9 = m.get("MSH", 9).first();
    assert_eq!((msh9.value(1), msh9.value(2), msh9.value(3)), ("ORU".into(), "R01".into(), "ORU_R01".into()));
    let msh = |n| m.get("MSH", n).value();
    assert_eq!([msh(3), msh(4), msh(5), msh(6)], ["YUNYING", "READ-CENTRE", "HIS", "TOWNSHIP-01"]);
    assert_eq!([msh(7), msh(10), msh(11), msh(12)], ["20261206120000+0800", "R20261206-0001", "P", "2.5.1"]);
    assert_eq!((msh(15), msh(16), msh(17), msh(18)), (String::new(), String::new(), "CHN".into(), "UNICODE UTF-8".into()));

    let pid = m.segment("PID").unwrap();
    let identifiers = types::identifiers(m.field(pid, 3));
    assert_eq!(identifiers.len(), 1);
    assert_eq!(identifiers[0].id, "P1001");
    assert_eq!(identifiers[0].authority.namespace_id, "TOWNSHIP-01");
    assert_eq!(identifiers[0].kind, IdentifierKind::PatientInternal);
    let names = types::names(m.field(pid, 5));
    let summary: Vec<_> = names
        .iter()
        .map(|n| (n.family.as_str(), n.given.as_str(), n.name_type.as_str(), n.representation_code.as_str(), n.representation))
        .collect();
    assert_eq!(
        summary,
        [("Zhang", "San", "L", "A", NameRepresentation::Alphabetic), ("张", "三", "L", "I", NameRepresentation::Ideographic)]
    );
    assert_eq!((m.field(pid, 7).value(), m.field(pid, 8).value()), ("19700101".into(), "M".into()));

    let orc = |n| m.get("ORC", n).value();
    assert_eq!([orc(1), orc(2), orc(3), orc(5), orc(9)], ["RE", "HIS-ORDER-1", "RR-42", "CM", "20261206113000+0800"]);

    let obr = |n| m.get("OBR", n).value();
    assert_eq!([obr(1), obr(2), obr(3), obr(7)], ["1", "HIS-ORDER-1", "RR-42", "20261206090000+0800"]);
    let service = m.get("OBR", 4).first();
    assert_eq!([service.value(1), service.value(2), service.value(3)], ["CT-CHEST", "胸部CT平扫", "L"]);
    assert_eq!([obr(18), obr(22), obr(24), obr(25)], ["ACC-7", "20261206113000+0800", "RAD", "F"]);
    let principal = m.get("OBR", 32).first().component(1);
    assert_eq!([principal.sub(1), principal.sub(2), principal.sub(3)], ["1001", "李", "四"]);
    let assistant = m.get("OBR", 33).first().component(1);
    assert_eq!([assistant.sub(1), assistant.sub(2), assistant.sub(3)], ["2002", "Wang", "Wu"]);
    assert!(m.get("OBR", 5).is_empty(), "no priority");

    let findings = obx(&m, 1);
    assert_eq!(m.field(findings, 2).value(), "FT");
    let code = m.field(findings, 3).first();
    assert_eq!([code.value(1), code.value(3), code.value(4), code.value(6)], ["18782-3", "LN", "121070", "DCM"]);
    assert_eq!(m.field(findings, 5).value(), normalised(FINDINGS), "line breaks as \\.br\\, delimiters escaped");
    assert!(m.field(findings, 5).raw().contains(r"\.br\\.br\特殊字符 \F\ \S\ \R\ \E\ \T\ 保留"), "{}", m.field(findings, 5).raw());
    assert!(m.field(findings, 8).is_empty());
    assert_eq!(m.field(findings, 11).value(), "F");

    let impression = obx(&m, 2);
    assert_eq!((m.field(impression, 2).value(), m.field(impression, 3).value()), ("FT".into(), "19005-8".into()));
    assert_eq!(m.field(impression, 3).first().value(4), "121073");
    assert_eq!(m.field(impression, 5).value(), IMPRESSION);

    let uid = obx(&m, 3);
    let code = m.field(uid, 3).first();
    assert_eq!([code.value(1), code.value(2), code.value(3)], ["110180", "Study Instance UID", "DCM"]);
    assert_eq!((m.field(uid, 2).value(), m.field(uid, 5).value()), ("ST".into(), "1.2.156.112605.1.20261206.9".into()));
    assert_eq!(m.field(uid, 11).value(), "F");
}

#[test]
fn the_module_example_is_what_is_written() {
    let mut r = report();
    r.critical = true;
    r.findings = "左肺…\n右肺…".into();
    r.impression = "…".into();
    r.assistant_interpreter = Interpreter::default();
    let text = build_oru(&r).unwrap();
    let lines: Vec<&str> = text.split_terminator('\r').collect();
    assert_eq!(
        lines[..6],
        [
            r"MSH|^~\&|YUNYING|READ-CENTRE|HIS|TOWNSHIP-01|20261206120000+0800||ORU^R01^ORU_R01|R20261206-0001|P|2.5.1|||||CHN|UNICODE UTF-8",
            "PID|1||P1001^^^TOWNSHIP-01^PI||Zhang^San^^^^^L^A~张^三^^^^^L^I||19700101|M",
            "ORC|RE|HIS-ORDER-1|RR-42||CM||||20261206113000+0800",
            "OBR|1|HIS-ORDER-1|RR-42|CT-CHEST^胸部CT平扫^L|||20261206090000+0800|||||||||||ACC-7||||20261206113000+0800||RAD|F|||||||1001&李&四",
            "NTE|1|L|危急值 CRITICAL RESULT|RE^Remark^HL70364",
            r"OBX|1|FT|18782-3^Radiology Study observation (narrative)^LN^121070^Findings^DCM||左肺…\.br\右肺…|||AA|||F",
        ]
    );
}

#[test]
fn a_critical_result_is_flagged_on_its_text_and_noted() {
    let mut r = report();
    r.critical = true;
    let m = parse(&build_oru(&r).unwrap());
    assert_eq!(ids(&m), ["MSH", "PID", "ORC", "OBR", "NTE", "OBX", "OBX", "OBX"]);
    assert_eq!(m.get("NTE", 3).value(), CRITICAL_NOTE);
    assert_eq!(m.get("NTE", 2).value(), "L");
    assert_eq!(m.field(obx(&m, 1), 8).value(), "AA");
    assert_eq!(m.field(obx(&m, 2), 8).value(), "AA");
    assert!(m.field(obx(&m, 3), 8).is_empty(), "the UID is not abnormal");
}

#[test]
fn a_correction_and_a_preliminary_report_carry_their_status_everywhere() {
    for (status, code, order_status) in [(ResultStatus::Corrected, "C", "CM"), (ResultStatus::Preliminary, "P", "IP")] {
        let mut r = report();
        r.result_status = status;
        r.control_id = "R20261206-0002".into();
        let m = parse(&build_oru(&r).unwrap());
        assert_eq!(m.get("OBR", 25).value(), code);
        assert_eq!(m.get("ORC", 5).value(), order_status);
        assert_eq!(m.get("OBR", 3).value(), "RR-42", "a correction replaces the report of the same filler order");
        let statuses: Vec<String> = m.segments().iter().filter(|s| s.id() == "OBX").map(|s| m.field(s, 11).value()).collect();
        assert_eq!(statuses, [code; 3]);
    }
}

#[test]
fn the_pdf_travels_base64_in_an_ed_and_the_link_in_an_rp() {
    let pdf: Vec<u8> = b"%PDF-1.4\n".iter().copied().chain(0..=255u8).chain(*b"\n%%EOF\n").collect();
    let mut r = report();
    r.pdf = Some(pdf.clone());
    r.report_url = "https://yunying.example/r/RR-42?t=a&b=c".into();
    let m = parse(&build_oru(&r).unwrap());
    let ed = obx(&m, 4);
    assert_eq!((m.field(ed, 2).value(), m.field(ed, 3).value()), ("ED".into(), "18748-4".into()));
    let value = m.field(ed, 5).first();
    assert_eq!([value.value(1), value.value(2), value.value(3), value.value(4)], ["", "application", "pdf", "Base64"]);
    assert_eq!(decode_base64(&value.value(5)), pdf);
    let rp = obx(&m, 5);
    assert_eq!(m.field(rp, 2).value(), "RP");
    assert_eq!(m.field(rp, 5).value(), "https://yunying.example/r/RR-42?t=a&b=c");
    assert!(m.field(rp, 5).raw().contains(r"\T\"));
}

#[test]
fn a_pdf_at_the_limit_is_sent() {
    let mut r = report();
    r.pdf = Some([b"%PDF-".as_slice(), &vec![0xA5; MAX_PDF_BYTES - 5]].concat());
    let text = build_oru(&r).unwrap();
    assert!(text.len() > MAX_PDF_BYTES / 3 * 4 && text.len() < MAX_PDF_BYTES / 3 * 4 + 4096, "{}", text.len());
    let m = parse(&text);
    assert_eq!(decode_base64(&m.field(obx(&m, 4), 5).first().value(5)), r.pdf.unwrap());
}

#[test]
fn base64_matches_rfc_4648() {
    let vectors =
        [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
    for (plain, encoded) in vectors {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
    assert_eq!(base64(&[0xFB, 0xFF, 0xBF]), "+/+/");
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextets: Vec<u32> = text.bytes().filter(|&b| b != b'=').map(|b| ALPHABET.iter().position(|&a| a == b).unwrap() as u32).collect();
    let mut out = Vec::new();
    for chunk in sextets.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &s)| n | s << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn names_may_be_one_script_only_and_map_dicom_order_to_xpn_order() {
    let mut r = report();
    r.patient.name_alphabetic = String::new();
    r.patient.name_ideographic = "欧阳^娜娜^^^女士".into();
    let m = parse(&build_oru(&r).unwrap());
    let names = types::names(m.get("PID", 5));
    assert_eq!(names.len(), 1);
    assert_eq!((names[0].family.as_str(), names[0].given.as_str()), ("欧阳", "娜娜"));
    assert_eq!((names[0].suffix.as_str(), names[0].representation), ("女士", NameRepresentation::Ideographic));
    r.patient.name_alphabetic = "Dr^Li^^Prof.".into();
    let m = parse(&build_oru(&r).unwrap());
    let first = &types::names(m.get("PID", 5))[0];
    assert_eq!((first.family.as_str(), first.prefix.as_str(), first.representation), ("Dr", "Prof.", NameRepresentation::Alphabetic));
}

#[test]
fn control_characters_cannot_break_a_segment_or_the_mllp_frame() {
    let mut r = report();
    r.findings = "a\x0bb\x1c\rc\u{7}d".into();
    r.patient.name_ideographic = "张\r^三\x1c".into();
    r.procedure_text = "CT\nchest".into();
    let text = build_oru(&r).unwrap();
    assert!(!text.bytes().any(|b| b < 0x20 && b != b'\r'), "no control byte but the segment ends");
    let m = parse(&text);
    assert_eq!(ids(&m).len(), 7);
    assert_eq!(m.field(obx(&m, 1), 5).value(), "a b \nc d");
    assert_eq!(m.get("OBR", 4).first().value(2), "CT chest");
}

#[test]
fn optional_parts_are_left_out() {
    let mut r = report();
    r.findings = String::new();
    r.study_instance_uid = String::new();
    r.placer_order_number = String::new();
    r.accession_number = String::new();
    r.procedure_code = String::new();
    r.principal_interpreter = Interpreter::default();
    r.assistant_interpreter = Interpreter { id: String::new(), name: "王五".into() };
    let m = parse(&build_oru(&r).unwrap());
    assert_eq!(ids(&m), ["MSH", "PID", "ORC", "OBR", "OBX"]);
    assert_eq!(m.field(obx(&m, 1), 3).value(), "19005-8");
    assert!(m.get("OBR", 2).is_empty() && m.get("ORC", 2).is_empty() && m.get("OBR", 18).is_empty());
    assert_eq!(m.get("OBR", 4).raw(), "^胸部CT平扫");
    assert!(m.get("OBR", 32).is_empty());
    assert_eq!(m.get("OBR", 33).raw(), "&王五");
}

#[test]
fn what_cannot_be_sent_is_refused_naming_the_field() {
    type Edit = fn(&mut ReportMessage);
    let cases: [(Edit, OruError); 22] = [
        (|r| r.control_id.clear(), OruError::MissingField("MSH-10")),
        (|r| r.control_id = "X".repeat(21), OruError::InvalidField("MSH-10")),
        (|r| r.control_id = "A|B".into(), OruError::InvalidField("MSH-10")),
        (|r| r.message_time.clear(), OruError::MissingField("MSH-7")),
        (|r| r.message_time = "2026-12-06".into(), OruError::InvalidField("MSH-7")),
        (|r| r.observation_time = "20261306".into(), OruError::InvalidField("OBR-7")),
        (|r| r.result_time.clear(), OruError::MissingField("OBR-22")),
        (|r| r.patient.birth_date = "197".into(), OruError::InvalidField("PID-7")),
        (|r| r.patient.patient_id = " ".into(), OruError::MissingField("PID-3")),
        (|r| r.patient.issuer.clear(), OruError::MissingField("PID-3.4")),
        (|r| (r.patient.name_alphabetic, r.patient.name_ideographic) = ("^".into(), String::new()), OruError::MissingField("PID-5")),
        (|r| r.patient.name_alphabetic = "a^b^c^d^e^f".into(), OruError::InvalidField("PID-5")),
        (|r| r.patient.sex = "male".into(), OruError::InvalidField("PID-8")),
        (|r| r.filler_order_number.clear(), OruError::MissingField("OBR-3")),
        (|r| (r.procedure_code, r.procedure_text) = (String::new(), String::new()), OruError::MissingField("OBR-4")),
        (|r| r.study_instance_uid = "1.2.03".into(), OruError::InvalidField("Study Instance UID")),
        (|r| (r.findings, r.impression) = (String::new(), " \n".into()), OruError::MissingField("OBX-5 (findings, impression or PDF)")),
        (|r| r.pdf = Some(b"<html>".to_vec()), OruError::InvalidField("PDF")),
        (|r| r.principal_interpreter.name = "a^b^c^d^e^f".into(), OruError::InvalidField("OBR-32")),
        (
            |r| r.findings = "字".repeat(MAX_TEXT_BYTES / 3),
            OruError::TooLarge { field: "findings and impression", size: MAX_TEXT_BYTES / 3 * 3 + IMPRESSION.len(), limit: MAX_TEXT_BYTES },
        ),
        (
            |r| r.pdf = Some([b"%PDF-".as_slice(), &vec![0; MAX_PDF_BYTES]].concat()),
            OruError::TooLarge { field: "PDF", size: MAX_PDF_BYTES + 5, limit: MAX_PDF_BYTES },
        ),
        (|r| r.report_url = "x".repeat(MAX_FIELD_BYTES + 1), OruError::TooLarge { field: "report URL", size: 2049, limit: 2048 }),
    ];
    for (i, (edit, expected)) in cases.into_iter().enumerate() {
        let mut r = report();
        edit(&mut r);
        assert_eq!(build_oru(&r), Err(expected), "case {i}");
    }
    let mut r = report();
    r.findings = String::new();
    r.impression = String::new();
    r.pdf = Some(b"%PDF-1.7 only".to_vec());
    assert!(build_oru(&r).is_ok(), "a PDF alone is a report");
}

#[test]
fn times_are_checked_as_hl7_dtm() {
    for good in [
        "2026",
        "202612",
        "20261206",
        "2026120612",
        "202612061230",
        "20261206123059",
        "20261206123059.1234",
        "20261206+0800",
        "20261206123059-0500",
    ] {
        assert!(is_dtm(good), "{good}");
    }
    for bad in [
        "",
        "26",
        "2026120",
        "20261206123060",
        "20261232",
        "20261206.5",
        "20261206123059.12345",
        "20261206+080",
        "20261206+1900",
        "2026-12-06",
    ] {
        assert!(!is_dtm(bad), "{bad}");
    }
}

#[test]
fn debug_shows_no_patient_data_or_text() {
    let mut r = report();
    r.pdf = Some(b"%PDF-1.4".to_vec());
    let shown = format!("{r:?} {:?}", r.patient);
    for secret in ["P1001", "Zhang", "张", "19700101", "结节", "TOWNSHIP"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("R20261206-0001") && shown.contains("pdf_bytes: Some(8)"), "{shown}");
}
