//! The words of remote reading: priorities, statuses and the transitions
//! between them, relationships (who reads for whom), report templates and
//! a report's content, each with its bounds.

use serde::{Deserialize, Serialize};

use crate::ReadingError;

/// How soon a study must be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    #[default]
    Routine,
    Urgent,
    Emergency,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Urgent => "urgent",
            Priority::Emergency => "emergency",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        [Priority::Routine, Priority::Urgent, Priority::Emergency].into_iter().find(|p| p.name() == s)
    }

    /// The worklist's order: emergencies first.
    pub fn rank(self) -> i64 {
        match self {
            Priority::Emergency => 0,
            Priority::Urgent => 1,
            Priority::Routine => 2,
        }
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Waiting for a radiologist.
    New,
    /// A radiologist holds it (nobody else may write its report).
    Claimed,
    /// A report is being written.
    Draft,
    /// A resident's draft waits for an attending radiologist.
    AwaitingReview,
    /// Signed; the report is on its way back.
    Signed,
    /// Delivered to the requesting institution.
    Returned,
    /// Withdrawn by the requesting institution before it was signed.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] =
        [Status::New, Status::Claimed, Status::Draft, Status::AwaitingReview, Status::Signed, Status::Returned, Status::Cancelled];

    pub fn name(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Claimed => "claimed",
            Status::Draft => "draft",
            Status::AwaitingReview => "awaiting-review",
            Status::Signed => "signed",
            Status::Returned => "returned",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Still on the reading worklist.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Signed | Status::Returned | Status::Cancelled)
    }
}

/// Turnaround targets (request → signed), in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Turnaround {
    pub routine: u32,
    pub urgent: u32,
    pub emergency: u32,
}

impl Default for Turnaround {
    /// Same day for routine work, two hours when urgent, 30 minutes in an
    /// emergency.
    fn default() -> Self {
        Turnaround { routine: 24 * 60, urgent: 120, emergency: 30 }
    }
}

impl Turnaround {
    pub fn minutes(&self, p: Priority) -> u32 {
        match p {
            Priority::Routine => self.routine,
            Priority::Urgent => self.urgent,
            Priority::Emergency => self.emergency,
        }
    }
}

/// Which institution reads for which (`[[reading.relationships]]`, or the
/// administration API), and where its reports go back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    /// The institution whose studies are read (its code).
    pub requesting: String,
    /// The reading centre or consultant institution.
    pub reading: String,
    /// Modalities covered (empty: all).
    #[serde(default)]
    pub modalities: Vec<String>,
    /// Body parts covered (Body Part Examined; empty: all).
    #[serde(default)]
    pub body_parts: Vec<String>,
    /// Studies arriving from `requesting` that match become requests by
    /// themselves; otherwise only on demand (API, viewer).
    #[serde(default = "yes")]
    pub automatic: bool,
    /// The priority of an automatic request.
    #[serde(default)]
    pub priority: Priority,
    /// A resident's draft must be reviewed and signed by an attending
    /// radiologist (a radiologist may still sign their own draft).
    #[serde(default)]
    pub two_step: bool,
    #[serde(default)]
    pub turnaround_minutes: Turnaround,
    /// The requesting PACS: a registered AE the SR and PDF are sent to by C-STORE.
    #[serde(default)]
    pub return_ae: String,
    /// The requesting PACS's STOW-RS studies URL, instead of (or beside) C-STORE.
    #[serde(default)]
    pub return_stow_url: String,
    /// The requesting HIS's HL7 v2 listener (`host:port`): ORU^R01.
    #[serde(default)]
    pub his_mllp: String,
    /// The requesting HIS's webhook (`http(s)://…`): the report's JSON,
    /// and critical findings at once.
    #[serde(default)]
    pub webhook_url: String,
}

fn yes() -> bool {
    true
}

/// Most modalities or body parts a relationship lists.
const MAX_LIST: usize = 32;

impl Relationship {
    /// The rules of a relationship, wherever it comes from.
    pub fn check(&self) -> Result<(), ReadingError> {
        check_code("requesting institution", &self.requesting)?;
        check_code("reading institution", &self.reading)?;
        if self.requesting == self.reading {
            return Err(ReadingError::Invalid("an institution does not send its studies to itself for reading".into()));
        }
        for (what, list) in [("modalities", &self.modalities), ("body parts", &self.body_parts)] {
            if list.len() > MAX_LIST {
                return Err(ReadingError::Invalid(format!("at most {MAX_LIST} {what}")));
            }
            for v in list {
                if v.is_empty()
                    || v.len() > 16
                    || !v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ')
                {
                    return Err(ReadingError::Invalid(format!("{what}: {v:?} is not a DICOM code string")));
                }
            }
        }
        let t = self.turnaround_minutes;
        if [t.routine, t.urgent, t.emergency].iter().any(|m| *m == 0 || *m > 30 * 24 * 60) {
            return Err(ReadingError::Invalid("turnaround targets are 1 minute to 30 days".into()));
        }
        if !self.return_ae.is_empty() && (self.return_ae.len() > 16 || self.return_ae.trim().is_empty()) {
            return Err(ReadingError::Invalid("return_ae is an AE title (1 to 16 characters)".into()));
        }
        for (what, url) in [("return_stow_url", &self.return_stow_url), ("webhook_url", &self.webhook_url)] {
            if !url.is_empty()
                && (!(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 || url.contains(char::is_whitespace))
            {
                return Err(ReadingError::Invalid(format!("{what} is an http(s) URL")));
            }
        }
        if !self.his_mllp.is_empty() {
            let ok =
                self.his_mllp.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok || self.his_mllp.len() > 300 {
                return Err(ReadingError::Invalid("his_mllp is host:port".into()));
            }
        }
        Ok(())
    }

    /// Whether a study of `modalities` and `body_parts` (as the index
    /// holds them) is covered.
    pub fn covers(&self, modalities: &[String], body_parts: &[String]) -> bool {
        let matches =
            |wanted: &[String], have: &[String]| wanted.is_empty() || have.iter().any(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h)));
        // Report objects (SR, KO, PR, DOC) never make a study readable.
        let images: Vec<String> = modalities.iter().filter(|m| !matches!(m.as_str(), "SR" | "KO" | "PR" | "DOC")).cloned().collect();
        !images.is_empty() && matches(&self.modalities, &images) && matches(&self.body_parts, body_parts)
    }
}

/// An institution's code: what the archive's `[[archive.institutions]]` use.
pub(crate) fn check_code(what: &str, code: &str) -> Result<(), ReadingError> {
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(ReadingError::Invalid(format!("{what}: {code:?} is not an institution code")));
    }
    Ok(())
}

/// A report template: what a reader starts from for a modality and body
/// part (zh-CN text, edited by administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    /// As shown, e.g. "胸部CT平扫".
    pub name: String,
    pub modality: String,
    /// Empty: any body part.
    #[serde(default)]
    pub body_part: String,
    /// The text the findings start from.
    #[serde(default)]
    pub findings: String,
    /// The text the impression starts from.
    #[serde(default)]
    pub impression: String,
}

impl Template {
    pub fn check(&self) -> Result<(), ReadingError> {
        if self.id.is_empty() || self.id.len() > 64 || !self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err(ReadingError::Invalid("a template id is 1 to 64 letters, digits, - or _".into()));
        }
        check_text("template name", &self.name, 64, false)?;
        check_text("template modality", &self.modality, 16, false)?;
        check_text("template body part", &self.body_part, 16, true)?;
        check_text("template findings", &self.findings, MAX_TEXT, true)?;
        check_text("template impression", &self.impression, MAX_TEXT, true)
    }
}

/// The templates a platform starts with (the API replaces them).
pub fn default_templates() -> Vec<Template> {
    let t = |id: &str, name: &str, modality: &str, body_part: &str, findings: &str, impression: &str| Template {
        id: id.into(),
        name: name.into(),
        modality: modality.into(),
        body_part: body_part.into(),
        findings: findings.into(),
        impression: impression.into(),
    };
    vec![
        t(
            "ct-chest",
            "胸部CT平扫",
            "CT",
            "CHEST",
            "胸廓对称，气管居中。双肺纹理清晰，未见明显实变及结节影。纵隔内未见肿大淋巴结。心影大小形态正常。双侧胸腔未见积液。",
            "胸部CT平扫未见明显异常。",
        ),
        t(
            "ct-head",
            "头颅CT平扫",
            "CT",
            "HEAD",
            "脑实质内未见异常密度影，灰白质分界清楚。脑室系统大小形态正常，中线结构居中。颅骨未见骨折。",
            "头颅CT平扫未见明显异常。",
        ),
        t(
            "ct-abdomen",
            "腹部CT平扫",
            "CT",
            "ABDOMEN",
            "肝脏大小形态正常，密度均匀。胆囊不大。胰腺、脾脏未见异常。双肾未见结石及积水。",
            "腹部CT平扫未见明显异常。",
        ),
        t("dx-chest", "胸部正位片", "DX", "CHEST", "双肺纹理清晰，未见实变影。心影不大。双膈面光整，肋膈角锐利。", "心肺膈未见明显异常。"),
        t("mr-head", "头颅MR平扫", "MR", "HEAD", "脑实质信号未见异常。脑室系统不大，中线结构居中。", "头颅MR平扫未见明显异常。"),
    ]
}

/// Most characters of findings or of an impression.
pub const MAX_TEXT: usize = 20_000;
/// Most measurements in one report.
pub const MAX_MEASUREMENTS: usize = 100;
/// Most key images in one report.
pub const MAX_KEY_IMAGES: usize = 200;
/// Most characters of clinical information on a request.
pub const MAX_CLINICAL: usize = 2_000;

/// Text a person typed: bounded, no control characters but line breaks
/// and tabs.
pub(crate) fn check_text(what: &str, text: &str, max_chars: usize, empty_ok: bool) -> Result<(), ReadingError> {
    if !empty_ok && text.trim().is_empty() {
        return Err(ReadingError::Invalid(format!("{what} is empty")));
    }
    if text.chars().count() > max_chars {
        return Err(ReadingError::Invalid(format!("{what} is longer than {max_chars} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(ReadingError::Invalid(format!("{what} holds control characters")));
    }
    Ok(())
}

/// A measurement made in the viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    /// As shown, e.g. "结节长径".
    pub label: String,
    pub value: f64,
    /// UCUM: `mm`, `mm2`, `[hnsf'U]`, `deg`, `cm`, `cm2`, `1`.
    pub unit: String,
    /// The image it was made on.
    #[serde(default)]
    pub image: Option<KeyImage>,
    /// Its graphic on that image, in pixels as DICOM GraphicData has them
    /// (column, row): two points for a length, three or more for a region
    /// (closed). Kept as a presentation state (GSPS) beside the report.
    #[serde(default)]
    pub points: Vec<[f64; 2]>,
}

/// Most points of one measurement's graphic.
pub const MAX_POINTS: usize = 1_000;

/// An image a report points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyImage {
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
    /// Read from the index when not given.
    #[serde(default)]
    pub sop_class_uid: String,
    #[serde(default)]
    pub frame: Option<u32>,
    /// Read from the index (a presentation state needs the image's size).
    #[serde(default)]
    pub rows: Option<u16>,
    #[serde(default)]
    pub columns: Option<u16>,
}

/// UCUM units a measurement may carry.
pub const UNITS: [&str; 8] = ["mm", "cm", "mm2", "cm2", "[hnsf'U]", "deg", "1", "ml"];

/// What a report says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportContent {
    #[serde(default)]
    pub template_id: String,
    #[serde(default)]
    pub findings: String,
    #[serde(default)]
    pub impression: String,
    /// A critical finding (危急值): the requesting institution is told at once.
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    #[serde(default)]
    pub key_images: Vec<KeyImage>,
}

impl ReportContent {
    /// Bounds that hold for a draft.
    pub fn check_draft(&self) -> Result<(), ReadingError> {
        check_text("findings", &self.findings, MAX_TEXT, true)?;
        check_text("impression", &self.impression, MAX_TEXT, true)?;
        if self.template_id.len() > 64 {
            return Err(ReadingError::Invalid("template id too long".into()));
        }
        if self.measurements.len() > MAX_MEASUREMENTS {
            return Err(ReadingError::Invalid(format!("at most {MAX_MEASUREMENTS} measurements")));
        }
        if self.key_images.len() > MAX_KEY_IMAGES {
            return Err(ReadingError::Invalid(format!("at most {MAX_KEY_IMAGES} key images")));
        }
        for m in &self.measurements {
            check_text("measurement label", &m.label, 64, false)?;
            if !m.value.is_finite() {
                return Err(ReadingError::Invalid("a measurement's value is a number".into()));
            }
            if !UNITS.contains(&m.unit.as_str()) {
                return Err(ReadingError::Invalid(format!("unit {:?} is not one of {}", m.unit, UNITS.join(", "))));
            }
            if m.points.len() > MAX_POINTS {
                return Err(ReadingError::Invalid(format!("a measurement's graphic has at most {MAX_POINTS} points")));
            }
            if !m.points.is_empty() && m.image.is_none() {
                return Err(ReadingError::Invalid("a measurement's graphic needs its image".into()));
            }
            if m.points.iter().flatten().any(|v| !v.is_finite() || *v < 0.0 || *v > 65_536.0) {
                return Err(ReadingError::Invalid("a measurement's points are pixel positions".into()));
            }
        }
        for k in self.key_images.iter().chain(self.measurements.iter().filter_map(|m| m.image.as_ref())) {
            for uid in [&k.series_instance_uid, &k.sop_instance_uid] {
                if !is_uid(uid) {
                    return Err(ReadingError::Invalid(format!("{uid:?} is not a UID")));
                }
            }
            if !k.sop_class_uid.is_empty() && !is_uid(&k.sop_class_uid) {
                return Err(ReadingError::Invalid(format!("{:?} is not a UID", k.sop_class_uid)));
            }
        }
        Ok(())
    }

    /// What signing needs besides: findings and an impression.
    pub fn check_signable(&self) -> Result<(), ReadingError> {
        self.check_draft()?;
        if self.findings.trim().is_empty() || self.impression.trim().is_empty() {
            return Err(ReadingError::Invalid("a signed report has findings and an impression".into()));
        }
        Ok(())
    }
}

/// A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters.
pub fn is_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) && (c == "0" || !c.starts_with('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel() -> Relationship {
        serde_json::from_str(r#"{"requesting": "TOWN1", "reading": "CENTRE", "modalities": ["CT", "MR"], "body_parts": ["CHEST"]}"#)
            .unwrap()
    }

    #[test]
    fn a_relationship_covers_its_modalities_and_body_parts_only() {
        let r = rel();
        assert!(r.automatic, "automatic unless said otherwise");
        r.check().unwrap();
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(r.covers(&v(&["CT"]), &v(&["CHEST"])));
        assert!(r.covers(&v(&["CT", "SR"]), &v(&["chest"])));
        assert!(!r.covers(&v(&["DX"]), &v(&["CHEST"])), "modality not covered");
        assert!(!r.covers(&v(&["CT"]), &v(&["HEAD"])), "body part not covered");
        assert!(!r.covers(&v(&["SR", "KO"]), &v(&[])), "a study of report objects alone is not read");
        let any = Relationship { modalities: vec![], body_parts: vec![], ..rel() };
        assert!(any.covers(&v(&["US"]), &v(&[])));
    }

    #[test]
    fn bad_relationships_are_refused() {
        for bad in [
            Relationship { reading: "TOWN1".into(), ..rel() },
            Relationship { requesting: "a b".into(), ..rel() },
            Relationship { modalities: vec!["ct;drop".into()], ..rel() },
            Relationship { webhook_url: "ftp://x".into(), ..rel() },
            Relationship { his_mllp: "host".into(), ..rel() },
            Relationship { turnaround_minutes: Turnaround { routine: 0, ..Turnaround::default() }, ..rel() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn report_content_is_bounded() {
        let ok = ReportContent { findings: "双肺纹理清晰。\n".into(), impression: "未见异常".into(), ..Default::default() };
        ok.check_signable().unwrap();
        assert!(ReportContent { impression: String::new(), ..ok.clone() }.check_signable().is_err());
        assert!(ReportContent { findings: "x".repeat(MAX_TEXT + 1), ..ok.clone() }.check_draft().is_err());
        assert!(ReportContent { findings: "a\u{0}b".into(), ..ok.clone() }.check_draft().is_err());
        let m = Measurement { label: "长径".into(), value: 12.5, unit: "furlong".into(), image: None, points: vec![] };
        assert!(ReportContent { measurements: vec![m.clone()], ..ok.clone() }.check_draft().is_err());
        let m = Measurement { unit: "mm".into(), value: f64::NAN, ..m };
        assert!(ReportContent { measurements: vec![m], ..ok.clone() }.check_draft().is_err());
        let k = KeyImage {
            series_instance_uid: "1.2.3".into(),
            sop_instance_uid: "1.2.03".into(),
            sop_class_uid: String::new(),
            frame: None,
            rows: None,
            columns: None,
        };
        assert!(ReportContent { key_images: vec![k.clone()], ..ok.clone() }.check_draft().is_err());
        let m = Measurement { label: "长径".into(), value: 8.0, unit: "mm".into(), image: None, points: vec![[1.0, 2.0], [3.0, 4.0]] };
        assert!(ReportContent { measurements: vec![m.clone()], ..ok.clone() }.check_draft().is_err(), "points without an image");
        let good = KeyImage { sop_instance_uid: "1.2.4".into(), ..k };
        let m = Measurement { image: Some(good), points: vec![[f64::INFINITY, 2.0]], ..m };
        assert!(ReportContent { measurements: vec![m], ..ok }.check_draft().is_err(), "points are finite");
    }

    #[test]
    fn every_default_template_is_valid() {
        for t in default_templates() {
            t.check().unwrap();
        }
    }

    #[test]
    fn statuses_and_priorities_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.name()), Some(s));
        }
        assert!(Priority::Emergency.rank() < Priority::Urgent.rank() && Priority::Urgent.rank() < Priority::Routine.rank());
    }
}
