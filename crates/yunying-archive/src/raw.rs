//! Raw datasets: DICOM written without the Part 10 preamble and file meta
//! group (what some modalities' export and older tools produce; DCMTK
//! reads them with `+f`). The transfer syntax is inferred from the first
//! elements, as DCMTK does: explicit VR little endian when a known VR
//! follows the tag, else implicit VR little endian, else explicit VR big
//! endian; only the uncompressed syntaxes can be told apart this way. The
//! SOP Class and Instance UIDs come from the dataset itself.

use crate::meta::FileMeta;
use crate::walker::DatasetEncoding;

/// VRs whose explicit length is 32 bits after two reserved bytes.
const LONG_VRS: [&[u8; 2]; 13] = [b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"];
/// The other VRs (16-bit length).
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI",
    b"UL", b"US",
];

/// The meta a raw dataset would have had, inferred from its first bytes
/// (`head`: as much of the start as was read, at least up to SOP Instance
/// UID). `None`: not a dataset this can tell.
pub fn infer_meta(head: &[u8]) -> Option<FileMeta> {
    for (encoding, ts) in [
        (DatasetEncoding::EXPLICIT_LE, "1.2.840.10008.1.2.1"),
        (DatasetEncoding::IMPLICIT_LE, "1.2.840.10008.1.2"),
        (DatasetEncoding::EXPLICIT_BE, "1.2.840.10008.1.2.2"),
    ] {
        if let Some((class, instance)) = sop_uids(head, encoding) {
            return Some(FileMeta {
                sop_class_uid: class,
                sop_instance_uid: instance,
                transfer_syntax_uid: ts.to_string(),
                ..FileMeta::default()
            });
        }
    }
    None
}

/// SOP Class UID (0008,0016) and SOP Instance UID (0008,0018), when the
/// dataset's first elements read as `enc`: group 0008 first, tags in
/// ascending order, valid VRs (explicit), lengths within `head`.
fn sop_uids(head: &[u8], enc: DatasetEncoding) -> Option<(String, String)> {
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = head.get(at..at + 2)?.try_into().ok()?;
        Some(if enc.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(if enc.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let (mut at, mut previous) = (0usize, None::<u32>);
    let (mut class, mut instance) = (None, None);
    while class.is_none() || instance.is_none() {
        let tag = (u32::from(u16_at(at)?) << 16) | u32::from(u16_at(at + 2)?);
        if (previous.is_none() && tag >> 16 != 0x0008) || previous.is_some_and(|p| tag <= p) || tag > 0x0008_0018 {
            return None;
        }
        previous = Some(tag);
        let (len, value_at) = if enc.explicit_vr {
            let vr: &[u8; 2] = head.get(at + 4..at + 6)?.try_into().ok()?;
            if LONG_VRS.contains(&vr) {
                (u32_at(at + 8)?, at + 12)
            } else if SHORT_VRS.contains(&vr) {
                (u32::from(u16_at(at + 6)?), at + 8)
            } else {
                return None;
            }
        } else {
            (u32_at(at + 4)?, at + 8)
        };
        // Undefined lengths (sequences) before the UIDs: not worth
        // walking here; the ingest's walker checks the whole dataset.
        let end = value_at.checked_add(usize::try_from(len).ok()?)?;
        let value = head.get(value_at..end)?;
        match tag {
            0x0008_0016 => class = Some(uid(value)?),
            0x0008_0018 => instance = Some(uid(value)?),
            _ => {}
        }
        at = end;
    }
    Some((class?, instance?))
}

/// A UID value: digits and dots, 1 to 64 characters, NUL padding dropped.
fn uid(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?.trim_end_matches(['\0', ' ']);
    let valid = !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    valid.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(out: &mut Vec<u8>, enc: DatasetEncoding, tag: u32, vr: &[u8; 2], value: &[u8]) {
        let (group, elem) = ((tag >> 16) as u16, tag as u16);
        let put16 = |out: &mut Vec<u8>, v: u16| out.extend(if enc.big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
        let put32 = |out: &mut Vec<u8>, v: u32| out.extend(if enc.big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
        put16(out, group);
        put16(out, elem);
        if enc.explicit_vr {
            out.extend_from_slice(vr);
            put16(out, value.len() as u16);
        } else {
            put32(out, value.len() as u32);
        }
        out.extend_from_slice(value);
    }

    fn dataset(enc: DatasetEncoding) -> Vec<u8> {
        let mut out = Vec::new();
        element(&mut out, enc, 0x0008_0005, b"CS", b"ISO_IR 100");
        element(&mut out, enc, 0x0008_0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
        element(&mut out, enc, 0x0008_0018, b"UI", b"1.2.3.4.5.6");
        element(&mut out, enc, 0x0010_0010, b"PN", b"Zhang^San ");
        out
    }

    #[test]
    fn each_uncompressed_syntax_is_told_apart() {
        for (enc, ts) in [
            (DatasetEncoding::EXPLICIT_LE, "1.2.840.10008.1.2.1"),
            (DatasetEncoding::IMPLICIT_LE, "1.2.840.10008.1.2"),
            (DatasetEncoding::EXPLICIT_BE, "1.2.840.10008.1.2.2"),
        ] {
            let meta = infer_meta(&dataset(enc)).unwrap_or_else(|| panic!("{ts} not inferred"));
            assert_eq!(
                (meta.sop_class_uid.as_str(), meta.sop_instance_uid.as_str(), meta.transfer_syntax_uid.as_str()),
                ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5.6", ts)
            );
        }
    }

    #[test]
    fn text_and_truncated_datasets_are_not_taken_for_dicom() {
        assert!(infer_meta(b"not DICOM at all, just a README file").is_none());
        assert!(infer_meta(b"").is_none());
        let whole = dataset(DatasetEncoding::EXPLICIT_LE);
        assert!(infer_meta(&whole[..30]).is_none(), "ends before the SOP Instance UID");
        let mut no_instance = Vec::new();
        element(&mut no_instance, DatasetEncoding::EXPLICIT_LE, 0x0008_0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
        element(&mut no_instance, DatasetEncoding::EXPLICIT_LE, 0x0010_0010, b"PN", b"A^B ");
        assert!(infer_meta(&no_instance).is_none(), "no SOP Instance UID");
    }
}
