//! ORU^R01 (HL7 v2.5.1, unsolicited observation result): a signed imaging
//! report sent back to the HIS of the hospital that asked for the reading
//! (issue 27). [`build_oru`] writes the message text from a
//! [`ReportMessage`]; [`crate::client::send`] sends it over MLLP.
//!
//! The message (segments end with CR; `|^~\&`; UTF-8):
//!
//! ```text
//! MSH|^~\&|YUNYING|READ-CENTRE|HIS|TOWNSHIP|20261206120000+0800||ORU^R01^ORU_R01|R0001|P|2.5.1|||||CHN|UNICODE UTF-8
//! PID|1||P1001^^^TOWNSHIP^PI||Zhang^San^^^^^L^A~张^三^^^^^L^I||19700101|M
//! ORC|RE|HIS-ORDER-1|RR-42||CM||||20261206113000+0800
//! OBR|1|HIS-ORDER-1|RR-42|CT-CHEST^胸部CT平扫^L|||20261206090000+0800|||||||||||ACC-7||||20261206113000+0800||RAD|F|||||||1001&李&四
//! NTE|1|L|危急值 CRITICAL RESULT|RE^Remark^HL70364                 (critical only)
//! OBX|1|FT|18782-3^Radiology Study observation (narrative)^LN^121070^Findings^DCM||左肺…\.br\右肺…|||AA|||F
//! OBX|2|FT|19005-8^Radiology Imaging study [Impression] (narrative)^LN^121073^Impression^DCM||…|||AA|||F
//! OBX|3|ST|110180^Study Instance UID^DCM||1.2.156.…||||||F
//! OBX|4|ED|18748-4^Diagnostic imaging study^LN||^application^pdf^Base64^JVBERi0…||||||F   (with a PDF)
//! OBX|5|RP|18748-4^Diagnostic imaging study^LN||https://…||||||F                            (with a link)
//! ```
//!
//! Choices, for the receivers HIS use (HAPI, python `hl7`, Mirth and the
//! engines built on them):
//!
//! - Acknowledgement: original mode (MSH-15/MSH-16 empty), so the one
//!   answer is the application ACK (AA/AE/AR), sent once the HIS has
//!   processed the report, which is what an outbox needs to know.
//! - Findings and impression: one OBX each, of type FT, each line break
//!   written as `\.br\`. FT is the type whose text may carry formatting
//!   commands (v2.5.1 2.7.6); one OBX per section keeps a receiver that
//!   reads OBX-5 whole (the common case) from losing lines, unlike one OBX
//!   per line (grouped only by OBX-4, easily shown as one line, and an
//!   empty line would be an empty OBX) or OBX-5 repetitions (many readers
//!   take the first repetition only; parsers cap repetitions, this
//!   crate's at 100). Observation IDs: the LOINC codes for the radiology
//!   report's findings and impression, with DICOM's section codes (CID
//!   7001) as the alternate identifier.
//! - Study Instance UID: an ST OBX coded `110180^Study Instance UID^DCM`,
//!   DICOM's code for exactly that identifier (the one ATNA and FHIR use);
//!   `113014` is DCM "Study", the act, not its UID. ST, since v2 has no
//!   UID type and HD would misplace an OID in its namespace component.
//! - Critical result (危急值): OBX-8 `AA` ("critically abnormal", table
//!   0078) on the findings and impression OBXs: `HH`/`LL` are panic
//!   limits above/below a numeric range and say nothing of a text; and an
//!   NTE after the OBR with [`CRITICAL_NOTE`], for a HIS that shows notes
//!   but ignores abnormal flags. OBR-5 priority is not used: it is retained
//!   for backward compatibility only in v2.5.1 and is the order's priority,
//!   not the result's.
//! - PID-5: the alphabetic name (XPN-8 `A`) first, then the ideographic
//!   one (`I`), both name type `L` (legal: one legal name in two scripts).
//!   Alphabetic first as in DICOM PN and the ADT this crate reads; a
//!   reader taking only the first repetition still gets a name in any
//!   character set.
//! - OBR-18 (placer field 1) carries the accession number, as IHE
//!   radiology places it; OBR-24 is `RAD`.
//!
//! Bounds: findings and impression together at most [`MAX_TEXT_BYTES`],
//! the PDF at most [`MAX_PDF_BYTES`], every other value at most
//! [`MAX_FIELD_BYTES`]; the largest message is then about 11.3 MB (check
//! the HIS's own limit). Errors name fields and limits, never values.

use std::fmt;

use thiserror::Error;

use crate::escape::{escape, escape_text};
use crate::parse::Delimiters;

/// Most bytes (UTF-8) of findings and impression together.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most bytes of the report PDF (before Base64).
pub const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes of any other value.
pub const MAX_FIELD_BYTES: usize = 2048;
/// Most characters of MSH-10 (its length in v2.5.1).
pub const MAX_CONTROL_ID_CHARS: usize = 20;
/// OBX-8 of the report's text observations when the result is critical.
pub const CRITICAL_FLAG: &str = "AA";
/// NTE-3 of a critical result.
pub const CRITICAL_NOTE: &str = "危急值 CRITICAL RESULT";

/// OBX-3 of the findings: LOINC, with DICOM's Findings section code.
const FINDINGS_ID: &str = "18782-3^Radiology Study observation (narrative)^LN^121070^Findings^DCM";
/// OBX-3 of the impression: LOINC, with DICOM's Impression section code.
const IMPRESSION_ID: &str = "19005-8^Radiology Imaging study [Impression] (narrative)^LN^121073^Impression^DCM";
/// OBX-3 of the Study Instance UID.
const STUDY_UID_ID: &str = "110180^Study Instance UID^DCM";
/// OBX-3 of the report document (the PDF, the link).
const DOCUMENT_ID: &str = "18748-4^Diagnostic imaging study^LN";

/// OBR-25 and OBX-11 (HL7 tables 0123 and 0085).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultStatus {
    /// `P`: preliminary (not yet signed off by the principal interpreter).
    Preliminary,
    /// `F`: final, signed.
    #[default]
    Final,
    /// `C`: corrected: an amendment replacing a final report sent before
    /// (same filler order number).
    Corrected,
}

impl ResultStatus {
    /// The code (`F`).
    pub fn code(self) -> &'static str {
        match self {
            ResultStatus::Preliminary => "P",
            ResultStatus::Final => "F",
            ResultStatus::Corrected => "C",
        }
    }
}

/// The patient, as the requesting hospital knows them (PID).
///
/// `Debug` shows which values are set, never the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReportPatient {
    /// PID-3.1: the requesting hospital's patient ID (required).
    pub patient_id: String,
    /// PID-3.4: its assigning authority's namespace ID, e.g. the
    /// requesting institution code (required: an ID without its issuer is
    /// ambiguous across the hospitals a regional centre serves).
    pub issuer: String,
    /// The name in Latin letters, as DICOM PN components
    /// (`family^given^middle^prefix^suffix`, e.g. `Zhang^San`); may be
    /// empty when the ideographic one is given.
    pub name_alphabetic: String,
    /// The name in Hanzi, the same way (`张^三`); may be empty.
    pub name_ideographic: String,
    /// PID-7: `YYYY[MM[DD]]` (or a longer HL7 DTM); may be empty.
    pub birth_date: String,
    /// PID-8 (table 0001: `F`, `M`, `O`, `U`, `A`, `N`); may be empty.
    pub sex: String,
}

impl fmt::Debug for ReportPatient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportPatient")
            .field("patient_id", &set(&self.patient_id))
            .field("issuer", &set(&self.issuer))
            .field("name_alphabetic", &set(&self.name_alphabetic))
            .field("name_ideographic", &set(&self.name_ideographic))
            .field("birth_date", &set(&self.birth_date))
            .field("sex", &set(&self.sex))
            .finish()
    }
}

/// A result interpreter (OBR-32, OBR-33: NDL, its CNN in component 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interpreter {
    /// CNN.1: the doctor's ID at the reading institution; may be empty.
    pub id: String,
    /// The name as DICOM PN components (`李^四`, or the whole name as one
    /// component: `李四`); may be empty. Both empty: no interpreter.
    pub name: String,
}

impl Interpreter {
    fn is_empty(&self) -> bool {
        self.id.is_empty() && self.name.split('^').all(str::is_empty)
    }
}

/// A signed imaging report to send as ORU^R01.
///
/// The times are HL7 DTM values the caller supplies
/// (`YYYYMMDDHHMMSS+ZZZZ`, shorter precisions allowed): nothing here reads
/// a clock. `Debug` shows the control ID, status and sizes, never patient
/// data or report text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReportMessage {
    /// MSH-3, e.g. `YUNYING`.
    pub sending_application: String,
    /// MSH-4: the reading institution's code.
    pub sending_facility: String,
    /// MSH-5: the HIS.
    pub receiving_application: String,
    /// MSH-6: the requesting institution's code.
    pub receiving_facility: String,
    /// MSH-10, unique per message (a retry of the same message keeps it):
    /// 1 to [`MAX_CONTROL_ID_CHARS`] ASCII letters, digits, `-`, `_`, `.`.
    pub control_id: String,
    /// MSH-7 (required).
    pub message_time: String,
    /// PID.
    pub patient: ReportPatient,
    /// ORC-2/OBR-2: the HIS's order number; may be empty.
    pub placer_order_number: String,
    /// ORC-3/OBR-3: Yunying's reading request ID (required; a correction
    /// carries the ID of the report it replaces).
    pub filler_order_number: String,
    /// OBR-18; may be empty.
    pub accession_number: String,
    /// OBX `110180^Study Instance UID^DCM`; omitted when empty.
    pub study_instance_uid: String,
    /// OBR-4.1 (with coding system `L`, local); code or text required.
    pub procedure_code: String,
    /// OBR-4.2, e.g. modality and body part, or the template's name.
    pub procedure_text: String,
    /// OBR-7: the study's date and time (required).
    pub observation_time: String,
    /// OBR-25 and every OBX-11.
    pub result_status: ResultStatus,
    /// OBR-22 and ORC-9: when the report was signed (required).
    pub result_time: String,
    /// The findings (影像所见), multi-line; may be empty.
    pub findings: String,
    /// The impression (诊断意见), multi-line; may be empty (not both,
    /// unless a PDF is given).
    pub impression: String,
    /// 危急值: OBX-8 [`CRITICAL_FLAG`] and an NTE with [`CRITICAL_NOTE`].
    pub critical: bool,
    /// OBR-32, the signing radiologist.
    pub principal_interpreter: Interpreter,
    /// OBR-33, e.g. the resident who drafted the report.
    pub assistant_interpreter: Interpreter,
    /// The report as PDF, sent Base64 in an ED OBX when given.
    pub pdf: Option<Vec<u8>>,
    /// A link to the report (an RP OBX); omitted when empty.
    pub report_url: String,
}

impl fmt::Debug for ReportMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportMessage")
            .field("control_id", &self.control_id)
            .field("result_status", &self.result_status)
            .field("critical", &self.critical)
            .field("findings_bytes", &self.findings.len())
            .field("impression_bytes", &self.impression.len())
            .field("pdf_bytes", &self.pdf.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// A report that cannot be written as ORU^R01. The texts name fields and
/// limits, never values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OruError {
    /// A required value is empty.
    #[error("required field {0} is empty")]
    MissingField(&'static str),
    /// A value does not fit its data type (a time that is not a DTM, a sex
    /// not in table 0001, a malformed control ID or UID, a PDF that is not
    /// one).
    #[error("field {0} is not valid for its data type")]
    InvalidField(&'static str),
    /// A value past its bound.
    #[error("{field} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The bound.
        limit: usize,
    },
}

/// Write the ORU^R01 for a report: the message text, segments separated
/// (and ended) by CR, to be sent as UTF-8.
pub fn build_oru(msg: &ReportMessage) -> Result<String, OruError> {
    check(msg)?;
    let d = &Delimiters::STANDARD;
    let e = |s: &str| escape(s, d);
    let status = msg.result_status.code();
    let pdf = msg.pdf.as_deref().map(base64);
    let mut out = String::with_capacity(4096 + msg.findings.len() + msg.impression.len() + pdf.as_ref().map_or(0, String::len));

    push_segment(
        &mut out,
        &[
            "MSH",
            &d.msh2(),
            &e(&msg.sending_application),
            &e(&msg.sending_facility),
            &e(&msg.receiving_application),
            &e(&msg.receiving_facility),
            &msg.message_time,
            "",
            "ORU^R01^ORU_R01",
            &msg.control_id,
            "P",
            "2.5.1",
            "",
            "",
            "",
            "",
            "CHN",
            "UNICODE UTF-8",
        ],
    );

    let p = &msg.patient;
    let names: Vec<String> =
        [(&p.name_alphabetic, "A"), (&p.name_ideographic, "I")].into_iter().filter_map(|(name, code)| xpn(name, code, d)).collect();
    let pid3 = format!("{}^^^{}^PI", e(&p.patient_id), e(&p.issuer));
    push_segment(&mut out, &["PID", "1", "", &pid3, "", &names.join("~"), "", &p.birth_date, &p.sex]);

    let (placer, filler) = (e(&msg.placer_order_number), e(&msg.filler_order_number));
    let order_status = if msg.result_status == ResultStatus::Preliminary { "IP" } else { "CM" };
    push_segment(&mut out, &["ORC", "RE", &placer, &filler, "", order_status, "", "", "", &msg.result_time]);

    let service = match msg.procedure_code.is_empty() {
        true => format!("^{}", e(&msg.procedure_text)),
        false => format!("{}^{}^L", e(&msg.procedure_code), e(&msg.procedure_text)),
    };
    let mut obr = vec!["OBR".to_string(), "1".into(), placer, filler, service, String::new(), String::new(), msg.observation_time.clone()];
    obr.resize(18, String::new());
    obr.push(e(&msg.accession_number)); // OBR-18
    obr.resize(22, String::new());
    obr.push(msg.result_time.clone()); // OBR-22
    obr.push(String::new());
    obr.push("RAD".into()); // OBR-24
    obr.push(status.into()); // OBR-25
    obr.resize(32, String::new());
    obr.push(ndl(&msg.principal_interpreter, d)); // OBR-32
    obr.push(ndl(&msg.assistant_interpreter, d)); // OBR-33
    push_segment(&mut out, &obr.iter().map(String::as_str).collect::<Vec<_>>());

    if msg.critical {
        push_segment(&mut out, &["NTE", "1", "L", &e(CRITICAL_NOTE), "RE^Remark^HL70364"]);
    }

    let mut set_id = 0;
    let mut obx = |out: &mut String, value_type: &str, id: &str, value: &str, flag: &str| {
        set_id += 1;
        push_segment(out, &["OBX", &set_id.to_string(), value_type, id, "", value, "", "", flag, "", "", status]);
    };
    let flag = if msg.critical { CRITICAL_FLAG } else { "" };
    if !msg.findings.is_empty() {
        obx(&mut out, "FT", FINDINGS_ID, &escape_text(&msg.findings, d), flag);
    }
    if !msg.impression.is_empty() {
        obx(&mut out, "FT", IMPRESSION_ID, &escape_text(&msg.impression, d), flag);
    }
    if !msg.study_instance_uid.is_empty() {
        obx(&mut out, "ST", STUDY_UID_ID, &msg.study_instance_uid, "");
    }
    if let Some(pdf) = pdf {
        obx(&mut out, "ED", DOCUMENT_ID, &format!("^application^pdf^Base64^{pdf}"), "");
    }
    if !msg.report_url.is_empty() {
        obx(&mut out, "RP", DOCUMENT_ID, &e(&msg.report_url), "");
    }
    Ok(out)
}

/// Append one segment: its fields joined by `|`, trailing empty fields
/// left out, then CR.
fn push_segment(out: &mut String, fields: &[&str]) {
    let used = fields.iter().rposition(|f| !f.is_empty()).map_or(0, |i| i + 1);
    out.push_str(&fields[..used].join("|"));
    out.push('\r');
}

/// One XPN repetition from DICOM PN components; `None` when empty.
fn xpn(name: &str, representation: &str, d: &Delimiters) -> Option<String> {
    let parts: Vec<&str> = name.split('^').collect();
    if parts.iter().all(|p| p.is_empty()) {
        return None;
    }
    let part = |i: usize| escape(parts.get(i).copied().unwrap_or(""), d);
    // XPN: family, given, further given names, suffix, prefix, degree, type, representation.
    Some([part(0), part(1), part(2), part(4), part(3), String::new(), "L".into(), representation.into()].join("^"))
}

/// An NDL whose component 1 is the interpreter's CNN (ID & family & given
/// & further given names & suffix & prefix); empty when none.
fn ndl(interpreter: &Interpreter, d: &Delimiters) -> String {
    if interpreter.is_empty() {
        return String::new();
    }
    let parts: Vec<&str> = interpreter.name.split('^').collect();
    let part = |i: usize| escape(parts.get(i).copied().unwrap_or(""), d);
    let cnn = [escape(&interpreter.id, d), part(0), part(1), part(2), part(4), part(3)].join("&");
    cnn.trim_end_matches('&').to_string()
}

/// Everything [`build_oru`] refuses, before anything is written.
fn check(msg: &ReportMessage) -> Result<(), OruError> {
    let p = &msg.patient;
    let short = [
        ("MSH-3", &msg.sending_application),
        ("MSH-4", &msg.sending_facility),
        ("MSH-5", &msg.receiving_application),
        ("MSH-6", &msg.receiving_facility),
        ("MSH-7", &msg.message_time),
        ("PID-3", &p.patient_id),
        ("PID-3.4", &p.issuer),
        ("PID-5", &p.name_alphabetic),
        ("PID-5", &p.name_ideographic),
        ("PID-7", &p.birth_date),
        ("PID-8", &p.sex),
        ("OBR-2", &msg.placer_order_number),
        ("OBR-3", &msg.filler_order_number),
        ("OBR-18", &msg.accession_number),
        ("Study Instance UID", &msg.study_instance_uid),
        ("OBR-4", &msg.procedure_code),
        ("OBR-4", &msg.procedure_text),
        ("OBR-7", &msg.observation_time),
        ("OBR-22", &msg.result_time),
        ("OBR-32", &msg.principal_interpreter.id),
        ("OBR-32", &msg.principal_interpreter.name),
        ("OBR-33", &msg.assistant_interpreter.id),
        ("OBR-33", &msg.assistant_interpreter.name),
        ("report URL", &msg.report_url),
    ];
    for (field, value) in short {
        if value.len() > MAX_FIELD_BYTES {
            return Err(OruError::TooLarge { field, size: value.len(), limit: MAX_FIELD_BYTES });
        }
    }
    let text = msg.findings.len() + msg.impression.len();
    if text > MAX_TEXT_BYTES {
        return Err(OruError::TooLarge { field: "findings and impression", size: text, limit: MAX_TEXT_BYTES });
    }
    if let Some(pdf) = &msg.pdf {
        if pdf.len() > MAX_PDF_BYTES {
            return Err(OruError::TooLarge { field: "PDF", size: pdf.len(), limit: MAX_PDF_BYTES });
        }
        if !pdf.starts_with(b"%PDF-") {
            return Err(OruError::InvalidField("PDF"));
        }
    }

    let id = &msg.control_id;
    if id.is_empty() {
        return Err(OruError::MissingField("MSH-10"));
    }
    if id.chars().count() > MAX_CONTROL_ID_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(OruError::InvalidField("MSH-10"));
    }
    for (field, value, required) in [
        ("MSH-7", &msg.message_time, true),
        ("OBR-7", &msg.observation_time, true),
        ("OBR-22", &msg.result_time, true),
        ("PID-7", &p.birth_date, false),
    ] {
        match value.is_empty() {
            true if required => return Err(OruError::MissingField(field)),
            true => {}
            false if !is_dtm(value) => return Err(OruError::InvalidField(field)),
            false => {}
        }
    }
    if p.patient_id.trim().is_empty() {
        return Err(OruError::MissingField("PID-3"));
    }
    if p.issuer.trim().is_empty() {
        return Err(OruError::MissingField("PID-3.4"));
    }
    let names = [&p.name_alphabetic, &p.name_ideographic];
    if names.iter().any(|n| n.split('^').count() > 5) {
        return Err(OruError::InvalidField("PID-5"));
    }
    if names.iter().all(|n| n.split('^').all(str::is_empty)) {
        return Err(OruError::MissingField("PID-5"));
    }
    if !matches!(p.sex.as_str(), "" | "F" | "M" | "O" | "U" | "A" | "N") {
        return Err(OruError::InvalidField("PID-8"));
    }
    for (field, interpreter) in [("OBR-32", &msg.principal_interpreter), ("OBR-33", &msg.assistant_interpreter)] {
        if interpreter.name.split('^').count() > 5 {
            return Err(OruError::InvalidField(field));
        }
    }
    if msg.filler_order_number.trim().is_empty() {
        return Err(OruError::MissingField("OBR-3"));
    }
    if msg.procedure_code.trim().is_empty() && msg.procedure_text.trim().is_empty() {
        return Err(OruError::MissingField("OBR-4"));
    }
    if !msg.study_instance_uid.is_empty() && !is_uid(&msg.study_instance_uid) {
        return Err(OruError::InvalidField("Study Instance UID"));
    }
    if msg.findings.trim().is_empty() && msg.impression.trim().is_empty() && msg.pdf.is_none() {
        return Err(OruError::MissingField("OBX-5 (findings, impression or PDF)"));
    }
    Ok(())
}

/// An HL7 DTM: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
fn is_dtm(value: &str) -> bool {
    let (main, offset) = match value.find(['+', '-']) {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if let Some(zone) = offset
        && (zone.len() != 4 || !digits(zone) || &zone[..2] > "14" || &zone[2..] > "59")
    {
        return false;
    }
    let (date_time, fraction) = match main.split_once('.') {
        Some((date_time, fraction)) => (date_time, Some(fraction)),
        None => (main, None),
    };
    if !matches!(date_time.len(), 4 | 6 | 8 | 10 | 12 | 14) || !digits(date_time) {
        return false;
    }
    if let Some(fraction) = fraction
        && (date_time.len() != 14 || !(1..=4).contains(&fraction.len()) || !digits(fraction))
    {
        return false;
    }
    let part = |at: usize| date_time.get(at..at + 2).map(|s| s.parse::<u8>().unwrap_or(u8::MAX));
    let in_range = |at: usize, range: std::ops::RangeInclusive<u8>| part(at).is_none_or(|v| range.contains(&v));
    in_range(4, 1..=12) && in_range(6, 1..=31) && in_range(8, 0..=23) && in_range(10, 0..=59) && in_range(12, 0..=59)
}

/// A DICOM UID: at most 64 characters, digit components separated by dots,
/// no leading zero in a component of more than one digit.
fn is_uid(uid: &str) -> bool {
    uid.len() <= 64
        && uid.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) && (c.len() == 1 || !c.starts_with('0')))
}

/// Standard Base64 (RFC 4648, with padding, no line breaks): none of its
/// characters is an HL7 delimiter.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

/// `set`/`empty` for a `Debug` that hides values.
fn set(value: &str) -> &'static str {
    if value.is_empty() { "empty" } else { "set" }
}

#[cfg(test)]
#[path = "oru_tests.rs"]
mod tests;
