//! Data sets we send over DIMSE (C-FIND responses, storage commitment
//! reports), built in the DICOM JSON model and encoded here in Explicit or
//! Implicit VR Little Endian. Text is written as UTF-8; the caller declares
//! `ISO_IR 192` when any of it is not ASCII.

use base64::Engine;
use serde_json::{Map, Value as Json};

/// Encode a DICOM JSON data set (keys are 8-digit hex tags).
pub fn encode(json: &Map<String, Json>, explicit_vr: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_dataset(json, explicit_vr, &mut out);
    out
}

fn write_dataset(json: &Map<String, Json>, explicit_vr: bool, out: &mut Vec<u8>) {
    let mut elements: Vec<(u32, &Json)> = json.iter().filter_map(|(k, v)| Some((u32::from_str_radix(k, 16).ok()?, v))).collect();
    elements.sort_by_key(|(tag, _)| *tag);
    for (tag, element) in elements {
        let vr = element.get("vr").and_then(Json::as_str).unwrap_or("UN");
        let vr: [u8; 2] = vr.as_bytes().try_into().unwrap_or(*b"UN");
        let values = element.get("Value").and_then(Json::as_array);
        if &vr == b"SQ" {
            header(out, tag, b"SQ", 0xFFFF_FFFF, explicit_vr);
            for item in values.into_iter().flatten() {
                out.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
                if let Some(item) = item.as_object() {
                    write_dataset(item, explicit_vr, out);
                }
                out.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            }
            out.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
            continue;
        }
        let mut value = value_bytes(&vr, values.map(Vec::as_slice).unwrap_or_default(), element);
        if value.len() % 2 == 1 {
            value.push(if is_text(&vr) && &vr != b"UI" { b' ' } else { 0 });
        }
        header(out, tag, &vr, value.len() as u32, explicit_vr);
        out.extend(value);
    }
}

fn value_bytes(vr: &[u8; 2], values: &[Json], element: &Json) -> Vec<u8> {
    match vr {
        b"PN" => join(values.iter().map(|v| match v {
            Json::Object(groups) => person_name(groups),
            Json::String(s) => s.clone(),
            _ => String::new(),
        })),
        b"AT" => values
            .iter()
            .filter_map(|v| u32::from_str_radix(v.as_str()?, 16).ok())
            .flat_map(|t| [((t >> 16) as u16).to_le_bytes(), (t as u16).to_le_bytes()].concat())
            .collect(),
        b"US" => numbers(values, |n| (n as u16).to_le_bytes().to_vec()),
        b"SS" => numbers(values, |n| (n as i16).to_le_bytes().to_vec()),
        b"UL" => numbers(values, |n| (n as u32).to_le_bytes().to_vec()),
        b"SL" => numbers(values, |n| (n as i32).to_le_bytes().to_vec()),
        b"UV" => numbers(values, |n| (n as u64).to_le_bytes().to_vec()),
        b"SV" => numbers(values, |n| (n as i64).to_le_bytes().to_vec()),
        b"FL" => numbers(values, |n| (n as f32).to_le_bytes().to_vec()),
        b"FD" => numbers(values, |n| n.to_le_bytes().to_vec()),
        _ if is_text(vr) => join(values.iter().map(|v| match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            _ => String::new(),
        })),
        _ => element
            .get("InlineBinary")
            .and_then(Json::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default(),
    }
}

/// A DICOM JSON person name as its component groups joined by `=`.
pub fn person_name(groups: &Map<String, Json>) -> String {
    let parts: Vec<&str> =
        ["Alphabetic", "Ideographic", "Phonetic"].iter().map(|g| groups.get(*g).and_then(Json::as_str).unwrap_or("")).collect();
    let n = parts.iter().rposition(|p| !p.is_empty()).map_or(0, |i| i + 1);
    parts[..n].join("=")
}

fn join(values: impl Iterator<Item = String>) -> Vec<u8> {
    values.collect::<Vec<_>>().join("\\").into_bytes()
}

fn numbers(values: &[Json], f: impl Fn(f64) -> Vec<u8>) -> Vec<u8> {
    values.iter().filter_map(Json::as_f64).flat_map(f).collect()
}

pub fn is_text(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"AE"
            | b"AS"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"ST"
            | b"TM"
            | b"UC"
            | b"UI"
            | b"UR"
            | b"UT"
    )
}

fn header(out: &mut Vec<u8>, tag: u32, vr: &[u8; 2], len: u32, explicit_vr: bool) {
    out.extend(((tag >> 16) as u16).to_le_bytes());
    out.extend((tag as u16).to_le_bytes());
    if !explicit_vr {
        out.extend(len.to_le_bytes());
        return;
    }
    out.extend(vr);
    let long = matches!(vr, b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV");
    if long {
        out.extend([0, 0]);
        out.extend(len.to_le_bytes());
    } else {
        out.extend((len as u16).to_le_bytes());
    }
}

/// Whether any text in the data set is outside ASCII (then it needs
/// `ISO_IR 192`).
pub fn has_non_ascii(json: &Map<String, Json>) -> bool {
    fn any(v: &Json) -> bool {
        match v {
            Json::String(s) => !s.is_ascii(),
            Json::Array(a) => a.iter().any(any),
            Json::Object(o) => o.iter().any(|(k, v)| k != "InlineBinary" && any(v)),
            _ => false,
        }
    }
    json.values().any(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(j: Json, explicit: bool) -> Map<String, Json> {
        let bytes = encode(j.as_object().unwrap(), explicit);
        yunying_archive::metadata::network_dataset_json(&bytes, explicit).unwrap()
    }

    #[test]
    fn values_survive_both_encodings() {
        let j = json!({
            "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
            "00080052": {"vr": "CS", "Value": ["STUDY"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Wang^Wei", "Ideographic": "王^伟"}]},
            "00100020": {"vr": "LO"},
            "00201208": {"vr": "IS", "Value": [42]},
            "00280010": {"vr": "US", "Value": [512]},
            "00081199": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.3"]}}]},
        });
        for explicit in [true, false] {
            let back = round_trip(j.clone(), explicit);
            assert_eq!(back["00100010"]["Value"][0]["Ideographic"], "王^伟");
            assert_eq!(back["00100010"]["Value"][0]["Alphabetic"], "Wang^Wei");
            assert_eq!(back["00201208"]["Value"][0], 42);
            assert_eq!(back["00280010"]["Value"][0], 512);
            assert_eq!(back["00081199"]["Value"][0]["00081150"]["Value"][0], "1.2.3");
            assert!(back["00100020"].get("Value").is_none());
        }
        assert!(has_non_ascii(j.as_object().unwrap()));
    }
}
