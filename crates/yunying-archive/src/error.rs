//! Ingest errors and the one place they map to DIMSE statuses.

/// Why an instance was not stored. Messages never contain patient data.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The dataset could not be parsed (truncated, malformed, required
    /// attributes missing).
    #[error("cannot understand: {0}")]
    CannotUnderstand(String),
    /// The dataset does not match the SOP class (or instance) it was sent as.
    #[error("data set does not match SOP class: {0}")]
    SopClassMismatch(String),
    /// The instance names another institution's study, series or instance:
    /// a sender stores only its own institution's (PS3.7 C.4 general
    /// status 0124H, refused: not authorized).
    #[error("refused: {0}")]
    NotAuthorized(String),
    /// Storage, index or disk failure, or an instance over the size limit.
    #[error("out of resources: {0}")]
    OutOfResources(String),
}

impl IngestError {
    /// The DIMSE C-STORE status for this error (PS3.4 Annex B.2.3).
    pub fn dimse_status(&self) -> u16 {
        match self {
            IngestError::CannotUnderstand(_) => 0xC000,
            IngestError::SopClassMismatch(_) => 0xA900,
            IngestError::OutOfResources(_) => 0xA700,
            IngestError::NotAuthorized(_) => 0x0124,
        }
    }

    /// A short reason fit for an Error Comment (LO, at most 64 characters).
    pub fn comment(&self) -> String {
        let s = self.to_string();
        let mut end = s.len().min(64);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_string()
    }

    /// Stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::CannotUnderstand(_) => "cannot_understand",
            IngestError::SopClassMismatch(_) => "sop_class_mismatch",
            IngestError::OutOfResources(_) => "out_of_resources",
            IngestError::NotAuthorized(_) => "not_authorized",
        }
    }
}
