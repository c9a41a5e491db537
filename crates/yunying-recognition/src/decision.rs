//! Recognition decisions and the rules a complete one follows.
//!
//! - **Recognised**: no reason, no re-exam order.
//! - **Partially recognised** and **not recognised**: a reason is required,
//!   one of the six standard ones (国卫医发〔2022〕6号 and the national Q&A)
//!   or a local one the region configured; "other" (6) also needs free
//!   text; and `patient_informed` must be true: the rules ask that the
//!   patient be told why an exam is repeated, and a partial recognition
//!   repeats part of it, so both record that they were told.
//! - Free text at most [`MAX_NOTE`] characters; ids and names as the
//!   catalogue's strings.
//!
//! One decision per (order, candidate study); a later one is an amendment
//! naming the version it replaces and why, and the earlier version is kept.

use serde::{Deserialize, Serialize};

use crate::catalogue::{LocalReason, MAX_TEXT, check_text};

/// Longest free text of a decision (characters).
pub const MAX_NOTE: usize = 2_000;

/// The doctor's decision on a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// 互认.
    Recognised,
    /// 部分互认.
    Partial,
    /// 不互认.
    NotRecognised,
}

impl Outcome {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Recognised => "recognised",
            Outcome::Partial => "partial",
            Outcome::NotRecognised => "not-recognised",
        }
    }

    /// The zh-CN label.
    pub fn name_zh(self) -> &'static str {
        match self {
            Outcome::Recognised => "互认",
            Outcome::Partial => "部分互认",
            Outcome::NotRecognised => "不互认",
        }
    }

    /// The outcome of a stored code.
    pub fn from_code(code: &str) -> Option<Outcome> {
        [Outcome::Recognised, Outcome::Partial, Outcome::NotRecognised].into_iter().find(|o| o.code() == code)
    }
}

/// The six standard reasons to re-examine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardReason {
    /// 1: condition changed, or the result is inconsistent with the clinical picture.
    ConditionChanged,
    /// 2: the result changes fast with the course of the disease.
    FastChanging,
    /// 3: before a major measure such as surgery or transfusion.
    MajorMeasure,
    /// 4: emergency.
    Emergency,
    /// 5: forensic, disability or medical-retirement assessment.
    Assessment,
    /// 6: other genuine need (free text required).
    Other,
}

impl StandardReason {
    /// All six, in their official order.
    pub const ALL: [StandardReason; 6] = [
        StandardReason::ConditionChanged,
        StandardReason::FastChanging,
        StandardReason::MajorMeasure,
        StandardReason::Emergency,
        StandardReason::Assessment,
        StandardReason::Other,
    ];

    /// The stored code: the official number, `"1"` to `"6"`.
    pub fn code(self) -> &'static str {
        match self {
            StandardReason::ConditionChanged => "1",
            StandardReason::FastChanging => "2",
            StandardReason::MajorMeasure => "3",
            StandardReason::Emergency => "4",
            StandardReason::Assessment => "5",
            StandardReason::Other => "6",
        }
    }

    /// The zh-CN label.
    pub fn name_zh(self) -> &'static str {
        match self {
            StandardReason::ConditionChanged => "病情变化或检查结果与临床表现不符",
            StandardReason::FastChanging => "检查项目结果随病程进展变化较快",
            StandardReason::MajorMeasure => "手术、输血等重大医疗措施前",
            StandardReason::Emergency => "急诊、急救",
            StandardReason::Assessment => "司法鉴定、伤残鉴定、病退鉴定等",
            StandardReason::Other => "其他",
        }
    }

    /// The reason of a code.
    pub fn from_code(code: &str) -> Option<StandardReason> {
        StandardReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The reasons of a region: the standard six and its local ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasons {
    local: Vec<LocalReason>,
}

impl Reasons {
    /// The standard reasons plus `local` (checked by the configuration).
    pub fn new(local: Vec<LocalReason>) -> Reasons {
        Reasons { local }
    }

    /// The zh-CN label of a reason code, if it is one.
    pub fn label(&self, code: &str) -> Option<&str> {
        StandardReason::from_code(code)
            .map(StandardReason::name_zh)
            .or_else(|| self.local.iter().find(|r| r.code == code).map(|r| r.name.as_str()))
    }

    /// Every code with its label, standard ones first.
    pub fn all(&self) -> Vec<(String, String)> {
        StandardReason::ALL
            .iter()
            .map(|r| (r.code().to_string(), r.name_zh().to_string()))
            .chain(self.local.iter().map(|r| (r.code.clone(), r.name.clone())))
            .collect()
    }
}

/// A decision as the doctor makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub order_id: String,
    pub study_instance_uid: String,
    pub outcome: Outcome,
    /// A reason code (standard `"1"`–`"6"` or local); `None` when recognised.
    pub reason: Option<String>,
    pub note: String,
    pub patient_informed: bool,
    /// The order of the repeated exam, if any.
    pub reexam_order_id: String,
    /// The deciding doctor's principal id, department and institution.
    pub doctor: String,
    pub department: String,
    pub institution: String,
    /// How long the images were open (from the access events; 0: never).
    pub opened_ms: i64,
    pub decided_ms: i64,
}

/// Why a decision is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("a reason is required when an exam is not (or only partly) recognised")]
    ReasonRequired,
    #[error("unknown reason code")]
    UnknownReason,
    #[error("a recognised exam takes no reason and no re-exam order")]
    ReasonNotAllowed,
    #[error("reason 6 (other) needs free text")]
    NoteRequired,
    #[error("the patient must be informed when an exam is not (or only partly) recognised")]
    PatientNotInformed,
    #[error("{0} is too long or has control characters")]
    BadText(&'static str),
    #[error("opened_ms must not be negative")]
    NegativeOpened,
}

impl Decision {
    /// Checks the decision against the rules (module comment).
    pub fn check(&self, reasons: &Reasons) -> Result<(), DecisionError> {
        for (what, s, may_be_empty) in [
            ("order id", &self.order_id, false),
            ("study instance uid", &self.study_instance_uid, false),
            ("re-exam order id", &self.reexam_order_id, true),
            ("doctor", &self.doctor, false),
            ("department", &self.department, true),
            ("institution", &self.institution, false),
        ] {
            check_text(what, s, may_be_empty).map_err(|_| DecisionError::BadText(what))?;
        }
        if self.note.chars().count() > MAX_NOTE || self.note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(DecisionError::BadText("note"));
        }
        if self.opened_ms < 0 {
            return Err(DecisionError::NegativeOpened);
        }
        let reason = self.reason.as_deref().filter(|r| !r.is_empty());
        if self.outcome == Outcome::Recognised {
            if reason.is_some() || !self.reexam_order_id.is_empty() {
                return Err(DecisionError::ReasonNotAllowed);
            }
            return Ok(());
        }
        let reason = reason.ok_or(DecisionError::ReasonRequired)?;
        if reason.chars().count() > MAX_TEXT || reasons.label(reason).is_none() {
            return Err(DecisionError::UnknownReason);
        }
        if reason == StandardReason::Other.code() && self.note.trim().is_empty() {
            return Err(DecisionError::NoteRequired);
        }
        if !self.patient_informed {
            return Err(DecisionError::PatientNotInformed);
        }
        Ok(())
    }
}
