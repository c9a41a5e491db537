//! DICOM Part 10 file meta information: writing it in front of a received
//! dataset, and reading it back.
//!
//! Besides the standard elements, the archive records where an instance came
//! from (issuing institution, calling AE, arrival time) in the standard
//! Private Information slot of the meta group, (0002,0100) creator UID and
//! (0002,0102) value, so the index can be rebuilt from the objects alone and
//! the dataset itself stays exactly as received.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

/// Our Implementation Class UID (0002,0012).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.238945392867137405126870425318434815317";
/// Our Implementation Version Name (0002,0013).
pub const IMPLEMENTATION_VERSION_NAME: &str = "YUNYING_0.1";
/// Creator UID of our provenance record in (0002,0100).
pub const PROVENANCE_CREATOR_UID: &str = "2.25.99173604275316284447960539846013452061";

/// Where an instance came from; stored in the file meta.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The institution that issued the instance (issuer of its PatientID).
    pub issuer: String,
    /// Calling AE title (DIMSE) or client name (STOW, import).
    pub calling_ae: String,
    /// Arrival time, milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// How it arrived: `dimse`, `stow`, `import`.
    pub source: String,
}

/// The file meta information of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub source_ae: String,
    pub provenance: Option<Provenance>,
}

/// Errors reading file meta information.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("not a DICOM Part 10 file (no DICM prefix)")]
    NotPart10,
    #[error("file meta information is malformed: {0}")]
    Malformed(&'static str),
    #[error("file meta information lacks {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl FileMeta {
    /// Encode the 128-byte preamble, `DICM` and the meta group (explicit VR
    /// little endian, with a correct group length).
    pub fn encode(&self) -> Vec<u8> {
        let mut group = Vec::with_capacity(256);
        element(&mut group, 0x0001, b"OB", &[0, 1]);
        element(&mut group, 0x0002, b"UI", &uid(&self.sop_class_uid));
        element(&mut group, 0x0003, b"UI", &uid(&self.sop_instance_uid));
        element(&mut group, 0x0010, b"UI", &uid(&self.transfer_syntax_uid));
        element(&mut group, 0x0012, b"UI", &uid(IMPLEMENTATION_CLASS_UID));
        element(&mut group, 0x0013, b"SH", &text(IMPLEMENTATION_VERSION_NAME));
        if !self.source_ae.is_empty() {
            element(&mut group, 0x0016, b"AE", &text(&self.source_ae));
        }
        if let Some(p) = &self.provenance {
            element(&mut group, 0x0100, b"UI", &uid(PROVENANCE_CREATOR_UID));
            let mut json = serde_json::to_vec(p).expect("provenance serialises");
            if json.len() % 2 == 1 {
                json.push(b' ');
            }
            element(&mut group, 0x0102, b"OB", &json);
        }
        let mut out = Vec::with_capacity(132 + 12 + group.len());
        out.extend_from_slice(&[0u8; 128]);
        out.extend_from_slice(b"DICM");
        element(&mut out, 0x0000, b"UL", &(group.len() as u32).to_le_bytes());
        out.extend_from_slice(&group);
        out
    }

    /// Read the preamble and meta group from `r`, leaving it positioned at
    /// the first byte of the dataset. Returns the meta and its encoded length.
    pub fn read(r: &mut impl Read) -> Result<(FileMeta, u64), MetaError> {
        let mut preamble = [0u8; 132];
        r.read_exact(&mut preamble).map_err(|_| MetaError::NotPart10)?;
        if &preamble[128..] != b"DICM" {
            return Err(MetaError::NotPart10);
        }
        let mut consumed = 132u64;
        // The group length tells where the meta group ends.
        let (tag, value, n) = read_element(r)?;
        consumed += n;
        if tag != 0x0000 || value.len() != 4 {
            return Err(MetaError::Malformed("first element is not (0002,0000) group length"));
        }
        let group_len = u32::from_le_bytes(value[..4].try_into().unwrap()) as u64;
        let end = consumed + group_len;
        let mut meta = FileMeta::default();
        let mut provenance_value = None;
        while consumed < end {
            let (tag, value, n) = read_element(r)?;
            consumed += n;
            match tag {
                0x0002 => meta.sop_class_uid = untrim(&value),
                0x0003 => meta.sop_instance_uid = untrim(&value),
                0x0010 => meta.transfer_syntax_uid = untrim(&value),
                0x0016 => meta.source_ae = untrim(&value),
                0x0102 => provenance_value = Some(value),
                _ => {}
            }
        }
        if consumed != end {
            return Err(MetaError::Malformed("group length does not match its elements"));
        }
        meta.provenance = provenance_value.and_then(|v| serde_json::from_slice(trim_bytes(&v)).ok());
        if meta.transfer_syntax_uid.is_empty() {
            return Err(MetaError::Missing("Transfer Syntax UID (0002,0010)"));
        }
        Ok((meta, consumed))
    }
}

fn element(out: &mut Vec<u8>, elem: u16, vr: &[u8; 2], value: &[u8]) {
    out.extend_from_slice(&0x0002u16.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(vr);
    if matches!(vr, b"OB") {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

/// A UID value, NUL-padded to even length.
fn uid(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// A text value, space-padded to even length.
fn text(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(b' ');
    }
    v
}

fn trim_bytes(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |i| i + 1);
    &v[..end]
}

fn untrim(v: &[u8]) -> String {
    String::from_utf8_lossy(trim_bytes(v)).trim_start().to_string()
}

/// Read one explicit-VR-LE meta element: (element number, value, bytes consumed).
fn read_element(r: &mut impl Read) -> Result<(u16, Vec<u8>, u64), MetaError> {
    let mut h = [0u8; 8];
    r.read_exact(&mut h).map_err(|_| MetaError::Malformed("truncated element header"))?;
    let group = u16::from_le_bytes([h[0], h[1]]);
    if group != 0x0002 {
        return Err(MetaError::Malformed("element outside group 0002 inside the meta group"));
    }
    let elem = u16::from_le_bytes([h[2], h[3]]);
    let vr = [h[4], h[5]];
    let (len, header) = match &vr {
        b"OB" | b"OD" | b"OF" | b"OL" | b"OW" | b"SQ" | b"UC" | b"UN" | b"UR" | b"UT" => {
            let mut l = [0u8; 4];
            r.read_exact(&mut l).map_err(|_| MetaError::Malformed("truncated element length"))?;
            (u32::from_le_bytes(l), 12u64)
        }
        _ => (u16::from_le_bytes([h[6], h[7]]) as u32, 8u64),
    };
    if len > 1 << 20 {
        return Err(MetaError::Malformed("meta element longer than 1 MiB"));
    }
    let mut value = vec![0; len as usize];
    r.read_exact(&mut value).map_err(|_| MetaError::Malformed("truncated element value"))?;
    Ok((elem, value, header + len as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_roundtrips_with_provenance() {
        let meta = FileMeta {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: "1.2.3.4.5".into(),
            transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
            source_ae: "CT01".into(),
            provenance: Some(Provenance {
                issuer: "TJ001".into(),
                calling_ae: "CT01".into(),
                received_at_ms: 1_700_000_000_000,
                source: "dimse".into(),
            }),
        };
        let bytes = meta.encode();
        assert_eq!(bytes.len() % 2, 0);
        let mut cursor = &bytes[..];
        let (back, len) = FileMeta::read(&mut cursor).unwrap();
        assert_eq!(back, meta);
        assert_eq!(len as usize, bytes.len());
    }

    #[test]
    fn non_part10_input_is_rejected() {
        assert!(matches!(FileMeta::read(&mut &b"hello"[..]), Err(MetaError::NotPart10)));
        assert!(matches!(FileMeta::read(&mut &[0u8; 200][..]), Err(MetaError::NotPart10)));
    }
}
