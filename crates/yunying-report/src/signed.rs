//! What is signed: canonical JSON of the fields a reader relies on.

use std::collections::BTreeMap;

use crate::{ImageRef, ReportInput};

/// The value of the `format` member of [`content_for_signature`]'s JSON.
pub const SIGNED_CONTENT_FORMAT: &str = "yunying-report-signed-content/v1";

/// The canonical bytes of what a signature covers.
///
/// UTF-8 JSON with no whitespace and object members sorted by name (byte
/// order of the ASCII names; the same as RFC 8785 JCS for this content).
/// Strings are escaped as JCS does: `"` and `\` and the control characters
/// (`\b \t \n \f \r`, others `\u00xx` in lower-case hex); every other
/// character is written as itself, Chinese included. There are no floating
/// point numbers: a measurement's value is the decimal string the SR's
/// Numeric Value (DS) holds. The members:
///
/// ```text
/// {"amend_reason":"","author_id":"…","critical":true,"findings":"…","format":"yunying-report-signed-content/v1",
///  "impression":"…","key_images":[{"frame":null,"series_instance_uid":"…","sop_class_uid":"…","sop_instance_uid":"…"}],
///  "measurements":[{"image":null|{…as key_images…},"label":"结节长径","unit":"mm","value":"12.5"}],
///  "patient_id":"…","predecessor_sop_instance_uid":null|"…","request_id":"…","signed_at":"20240501103000+0800",
///  "study_instance_uid":"…","verifier_id":null|"…","version":1}
/// ```
///
/// Deterministic: equal inputs give equal bytes; any change to one of
/// these fields changes them. The input is not checked here ([`crate::build`]
/// checks it).
pub fn content_for_signature(input: &ReportInput) -> Vec<u8> {
    let mut o = BTreeMap::new();
    o.insert("format", Json::Str(SIGNED_CONTENT_FORMAT.to_string()));
    o.insert("study_instance_uid", Json::Str(input.study.study_instance_uid.clone()));
    o.insert("patient_id", Json::Str(input.study.patient_id.clone()));
    o.insert("request_id", Json::Str(input.request_id.clone()));
    o.insert("version", Json::Int(i64::from(input.version)));
    o.insert("predecessor_sop_instance_uid", input.predecessor.as_ref().map_or(Json::Null, |p| Json::Str(p.sop_instance_uid.clone())));
    o.insert("amend_reason", Json::Str(input.amend_reason.clone()));
    o.insert("findings", Json::Str(input.findings.clone()));
    o.insert("impression", Json::Str(input.impression.clone()));
    o.insert("critical", Json::Bool(input.critical));
    o.insert(
        "measurements",
        Json::Arr(
            input
                .measurements
                .iter()
                .map(|m| {
                    let mut mo = BTreeMap::new();
                    mo.insert("label", Json::Str(m.label.clone()));
                    mo.insert("value", Json::Str(crate::dcm::ds(m.value)));
                    mo.insert("unit", Json::Str(m.unit.clone()));
                    mo.insert("image", m.image.as_ref().map_or(Json::Null, image));
                    Json::Obj(mo)
                })
                .collect(),
        ),
    );
    o.insert("key_images", Json::Arr(input.key_images.iter().map(image).collect()));
    o.insert("author_id", Json::Str(input.author.id.clone()));
    o.insert("verifier_id", input.verifier.as_ref().map_or(Json::Null, |v| Json::Str(v.id.clone())));
    let t = &input.signed_at;
    o.insert("signed_at", Json::Str(format!("{}{}{}", t.date, t.time, t.tz_offset)));
    let mut out = Vec::with_capacity(256 + input.findings.len() + input.impression.len());
    Json::Obj(o).write(&mut out);
    out
}

fn image(img: &ImageRef) -> Json {
    let mut o = BTreeMap::new();
    o.insert("sop_class_uid", Json::Str(img.sop_class_uid.clone()));
    o.insert("sop_instance_uid", Json::Str(img.sop_instance_uid.clone()));
    o.insert("series_instance_uid", Json::Str(img.series_instance_uid.clone()));
    o.insert("frame", img.frame.map_or(Json::Null, |f| Json::Int(i64::from(f))));
    Json::Obj(o)
}

enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<&'static str, Json>),
}

impl Json {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Json::Str(s) => write_str(s, out),
            Json::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Json::Obj(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_jcs() {
        let mut out = Vec::new();
        write_str("a\"b\\c\nd\u{1}é中", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "\"a\\\"b\\\\c\\nd\\u0001é中\"");
    }
}
