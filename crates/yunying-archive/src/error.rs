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
    /// The spool, the object store or the index has no space left (the
    /// disk or a quota is full). Nothing of the instance was kept; the same
    /// instance sent again once space is freed is stored.
    #[error("out of storage space: {0}")]
    StorageFull(String),
}

/// Whether `e`, or an error it wraps, says the disk or a quota is full.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    let full = |e: &std::io::Error| matches!(e.kind(), StorageFull | QuotaExceeded);
    if full(e) {
        return true;
    }
    let mut at: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(err) = at {
        if err.downcast_ref::<std::io::Error>().is_some_and(full) {
            return true;
        }
        at = err.source();
    }
    false
}

impl IngestError {
    /// Out of resources doing `what`, or out of space when `e` says so.
    ///
    /// The message is `what` and the innermost cause: the errors around it
    /// name object keys, which carry UIDs, and this message is logged and
    /// sent to the peer.
    pub fn io(what: &str, e: &std::io::Error) -> IngestError {
        let cause = root_cause(e);
        if is_storage_full(e) {
            IngestError::StorageFull(format!("{what}: {cause}"))
        } else {
            IngestError::OutOfResources(format!("{what}: {cause}"))
        }
    }
}

/// The innermost error `e` wraps (itself when it wraps none).
fn root_cause(e: &std::io::Error) -> String {
    let mut at: &(dyn std::error::Error + 'static) = match e.get_ref() {
        Some(inner) => inner,
        None => return e.to_string(),
    };
    while let Some(next) = at.source() {
        at = next;
    }
    at.to_string()
}

impl IngestError {
    /// The DIMSE C-STORE status for this error (PS3.4 Annex B.2.3).
    pub fn dimse_status(&self) -> u16 {
        match self {
            IngestError::CannotUnderstand(_) => 0xC000,
            IngestError::SopClassMismatch(_) => 0xA900,
            IngestError::OutOfResources(_) | IngestError::StorageFull(_) => 0xA700,
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
            IngestError::StorageFull(_) => "storage_full",
            IngestError::NotAuthorized(_) => "not_authorized",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_however_deeply_it_is_wrapped() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        assert!(matches!(IngestError::io("spool", &full), IngestError::StorageFull(_)));
        let wrapped = std::io::Error::other(std::io::Error::from_raw_os_error(28));
        assert!(is_storage_full(&wrapped));
        #[derive(Debug, thiserror::Error)]
        #[error("put failed")]
        struct Put(#[source] std::io::Error);
        assert!(is_storage_full(&std::io::Error::other(Put(std::io::Error::from_raw_os_error(122))))); // EDQUOT
        let other = std::io::Error::other(Put(std::io::Error::from_raw_os_error(5))); // EIO
        assert!(matches!(IngestError::io("spool", &other), IngestError::OutOfResources(_)));
        assert_eq!(IngestError::io("spool", &full).dimse_status(), 0xA700);
        // The wrappers' words (an object key, with UIDs) stay out of the message.
        #[derive(Debug, thiserror::Error)]
        #[error("storage I/O error on originals/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm")]
        struct Keyed(#[source] std::io::Error);
        let keyed = IngestError::io("object store", &std::io::Error::other(Keyed(std::io::Error::other("service error: SlowDown"))));
        assert_eq!(keyed.to_string(), "out of resources: object store: service error: SlowDown");
    }
}
