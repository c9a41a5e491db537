//! The acceptance test of issue 27: the HIS is an MLLP listener from a
//! real HL7 library (the python `hl7` package: `hl7.mllp.start_hl7_server`,
//! `hl7.parse` and its accessors, `create_ack`; tests/python/his_oru_listener.py).
//! [`yunying_hl7::send`] delivers a [`build_oru`] report to it, and the
//! test checks the ACK and what python read from the message: type,
//! patient identifier and both names (Hanzi intact), result status, the
//! findings and impression text (line breaks and delimiters), the
//! critical marker and the PDF's bytes. Skipped, saying so, when python
//! `hl7` is not installed (`pip install hl7`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use yunying_hl7::oru::CRITICAL_NOTE;
use yunying_hl7::{AckCode, ClientConfig, Interpreter, ReportMessage, ReportPatient, ResultStatus, build_oru, send};

const FINDINGS: &str = "双肺纹理清晰，右肺上叶尖段见一实性结节，大小约 8mm×6mm，边缘见毛刺。\r\n\
纵隔内未见明显肿大淋巴结。\n\n\
附注：符号 | ^ ~ \\ & 原样保留。";
const IMPRESSION: &str = "1. 右肺上叶结节，考虑恶性可能大（危急值，已电话通知临床）。\n2. 建议增强 CT 进一步检查。";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether python and its `hl7` package (with `hl7.mllp`) are there; says why not.
async fn python_hl7_available() -> bool {
    match Command::new(python()).args(["-c", "import hl7.mllp"]).output().await {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("SKIPPED: python `hl7` is not installed (pip install hl7): {}", String::from_utf8_lossy(&out.stderr).trim());
            false
        }
        Err(e) => {
            eprintln!("SKIPPED: no python ({}): {e}", python());
            false
        }
    }
}

/// The python HIS; the process is killed when this is dropped.
struct His {
    port: u16,
    lines: Lines<BufReader<ChildStdout>>,
    child: Child,
}

impl His {
    /// Start the listener, answering with `ack_code`, and read its port.
    async fn start(ack_code: &str) -> His {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/his_oru_listener.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(ack_code)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.expect("the port in time").unwrap();
        let port = first.expect("the listener prints its port").trim().parse().expect("a port number");
        His { port, lines, child }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What python read, once it has answered; the process has exited.
    async fn report(mut self) -> BTreeMap<String, String> {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await.expect("the JSON in time").unwrap();
        let line = line.expect("a line of JSON");
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.expect("python exits").unwrap();
        assert!(status.success(), "python failed ({status}): {line}");
        let read = flat_json(&line);
        assert!(!read.contains_key("error"), "python: {}", read["error"]);
        read
    }
}

fn report() -> ReportMessage {
    ReportMessage {
        sending_application: "YUNYING".into(),
        sending_facility: "REGION-READING".into(),
        receiving_application: "HIS".into(),
        receiving_facility: "TOWNSHIP-01".into(),
        control_id: "ORU-PY-1".into(),
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
        critical: true,
        principal_interpreter: Interpreter { id: "1001".into(), name: "李^四".into() },
        assistant_interpreter: Interpreter { id: "2002".into(), name: "王^五".into() },
        pdf: Some(b"%PDF-1.4\n".iter().copied().chain(0..=255u8).chain(*b"\n%%EOF\n").collect()),
        report_url: String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn python_hl7_his_receives_a_critical_report_with_chinese_text_and_its_pdf() {
    if !python_hl7_available().await {
        return;
    }
    let his = His::start("AA").await;
    let r = report();
    let ack = send(&his.addr(), &build_oru(&r).unwrap(), &ClientConfig::default()).await.unwrap();
    assert_eq!((ack.code, ack.control_id.as_str()), (AckCode::Accept, "ORU-PY-1"), "python's create_ack");

    let read = his.report().await;
    let get = |key: &str| read.get(key).unwrap_or_else(|| panic!("{key} not in {read:?}")).as_str();
    assert_eq!(get("message_type"), "ORU^R01^ORU_R01");
    assert_eq!((get("control_id"), get("version"), get("charset")), ("ORU-PY-1", "2.5.1", "UNICODE UTF-8"));
    assert_eq!((get("pid3_id"), get("pid3_authority"), get("pid3_type")), ("P1001", "TOWNSHIP-01", "PI"));
    assert_eq!(get("pid5_repetitions"), "2");
    let name = |n: u8| ["family", "given", "type", "representation"].map(|k| get(&format!("pid5_{n}_{k}")).to_string());
    assert_eq!(name(1), ["Zhang", "San", "L", "A"]);
    assert_eq!(name(2), ["张", "三", "L", "I"]);
    assert_eq!((get("birth_date"), get("sex")), ("19700101", "M"));
    assert_eq!((get("orc1"), get("obr3"), get("obr4_text"), get("obr18")), ("RE", "RR-42", "胸部CT平扫", "ACC-7"));
    assert_eq!((get("obr25"), get("obr32_family")), ("F", "李"));
    assert_eq!(get("findings"), FINDINGS.replace("\r\n", "\n"), "unescaped by python: \\.br\\ as line breaks, delimiters back");
    assert_eq!(get("impression"), IMPRESSION);
    assert_eq!(get("obx_types"), "FT,FT,ST,ED");
    assert_eq!(get("obx11_statuses"), "F,F,F,F");
    assert_eq!(get("obx8_flags"), "AA,AA", "critical: OBX-8 AA on the text");
    assert_eq!(get("nte"), CRITICAL_NOTE);
    assert_eq!(get("study_uid"), "1.2.156.112605.1.20261206.9");
    assert_eq!((get("pdf_type"), get("pdf_encoding")), ("application/pdf", "Base64"));
    assert_eq!(get("pdf_hex"), hex(r.pdf.as_deref().unwrap()), "the PDF's bytes, Base64-decoded by python");
}

#[tokio::test]
async fn python_hl7_his_receives_a_correction_and_its_ae_is_returned() {
    if !python_hl7_available().await {
        return;
    }
    let his = His::start("AE").await;
    let mut r = report();
    r.control_id = "ORU-PY-2".into();
    r.result_status = ResultStatus::Corrected;
    r.critical = false;
    r.pdf = None;
    r.findings = "更正：右肺上叶结节大小约 9mm×6mm。".into();
    let ack = send(&his.addr(), &build_oru(&r).unwrap(), &ClientConfig::default()).await.unwrap();
    assert_eq!((ack.code, ack.control_id.as_str()), (AckCode::Error, "ORU-PY-2"), "AE is an answer, not an error");

    let read = his.report().await;
    assert_eq!(read["obr25"], "C");
    assert_eq!(read["obr3"], "RR-42", "the same filler order as the report it corrects");
    assert_eq!(read["obx11_statuses"], "C,C,C");
    assert_eq!((read["obx8_flags"].as_str(), read["nte"].as_str()), (",", ""), "not critical: no OBX-8 on either text, no NTE");
    assert_eq!(read["findings"], "更正：右肺上叶结节大小约 9mm×6mm。");
}

/// A flat JSON object (string and number values) as python's
/// `json.dumps(..., ensure_ascii=False)` writes it; numbers as their text.
fn flat_json(text: &str) -> BTreeMap<String, String> {
    let mut chars = text.trim().chars().peekable();
    assert_eq!(chars.next(), Some('{'), "{text}");
    let mut out = BTreeMap::new();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.next_if_eq(&'}').is_some() {
            break;
        }
        let key = json_string(&mut chars);
        while chars.next_if(|c| c.is_whitespace() || *c == ':').is_some() {}
        let value = match chars.peek() {
            Some('"') => json_string(&mut chars),
            _ => std::iter::from_fn(|| chars.next_if(|c| !matches!(c, ',' | '}'))).collect::<String>().trim().to_string(),
        };
        out.insert(key, value);
    }
    assert!(chars.next().is_none(), "{text}");
    out
}

fn json_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    assert_eq!(chars.next(), Some('"'));
    let mut out = String::new();
    let hex4 = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let digits: String = chars.by_ref().take(4).collect();
        u32::from_str_radix(&digits, 16).expect("\\u and four hex digits")
    };
    loop {
        match chars.next().expect("a closed string") {
            '"' => return out,
            '\\' => match chars.next().expect("an escape") {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let mut code = hex4(chars);
                    if (0xD800..0xDC00).contains(&code) {
                        assert_eq!((chars.next(), chars.next()), (Some('\\'), Some('u')), "a surrogate pair");
                        code = 0x10000 + ((code - 0xD800) << 10) + (hex4(chars) - 0xDC00);
                    }
                    out.push(char::from_u32(code).expect("a scalar value"));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

#[test]
fn flat_json_reads_what_python_writes() {
    let read = flat_json(r#"{"a": "x\"y\\z\n\u00e9\ud83d\ude00", "b": 2, "c": "危急值"}"#);
    assert_eq!(read["a"], "x\"y\\z\né😀");
    assert_eq!(read["b"], "2");
    assert_eq!(read["c"], "危急值");
}
