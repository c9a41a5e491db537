//! Instance metadata, built once at ingest: the dataset in the DICOM JSON
//! model (PS3.18 Annex F) without its bulk data, and where the pixel data's
//! frames are in the stored object.
//!
//! WADO-RS metadata of a whole series is then a read of the index, never of
//! the objects. Text is decoded with the dataset's Specific Character Set
//! (our decoder: ISO 2022 escapes, GB18030, undeclared GBK), person names are
//! split into Alphabetic / Ideographic / Phonetic, IS and DS are numbers,
//! binary values up to [`crate::walker::MAX_INLINE_BINARY`] are inline (base64, little
//! endian) and larger ones, and all pixel data, get a `BulkDataURI`
//! relative to the series URL: `instances/{sop}/bulkdata/{path}`, where the
//! path is tags and item numbers separated by `/` (`7FE00010`,
//! `00283010/0/00283006`).

use base64::Engine;
use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value as Json, json};
use yunying_charset::{SpecificCharacterSet, TextKind};

use crate::walker::{DatasetEncoding, Element, Fragment, Value};

const SPECIFIC_CHARACTER_SET: u32 = 0x0008_0005;
const PIXEL_DATA: u32 = 0x7FE0_0010;
const FLOAT_PIXEL_DATA: u32 = 0x7FE0_0008;
const DOUBLE_PIXEL_DATA: u32 = 0x7FE0_0009;
const NUMBER_OF_FRAMES: u32 = 0x0028_0008;

/// Where the frames of an instance's pixel data are in its stored object
/// (offsets from the start of the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelLayout {
    /// Native pixel data: `len` bytes of pixels (without any padding after
    /// the last frame); frame `i` is the `i`-th equal slice of it.
    /// `swap_words`: 8-bit samples in an OW value of a big endian data set,
    /// whose bytes come in swapped pairs.
    Native { offset: u64, len: u64, frames: u32, swap_words: bool },
    /// Encapsulated pixel data: for each frame, its fragments.
    Encapsulated { frames: Vec<Vec<(u64, u32)>> },
}

impl PixelLayout {
    /// Compact text form kept in the index.
    pub fn encode(&self) -> String {
        match self {
            PixelLayout::Native { offset, len, frames, swap_words } => {
                format!("N:{offset}:{len}:{frames}{}", if *swap_words { ":w" } else { "" })
            }
            PixelLayout::Encapsulated { frames } => {
                let frames: Vec<String> =
                    frames.iter().map(|f| f.iter().map(|(o, l)| format!("{o}+{l}")).collect::<Vec<_>>().join(",")).collect();
                format!("E:{}", frames.join(";"))
            }
        }
    }

    pub fn decode(s: &str) -> Option<PixelLayout> {
        if let Some(rest) = s.strip_prefix("N:") {
            let (rest, swap_words) = match rest.strip_suffix(":w") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let mut it = rest.split(':').map(|v| v.parse::<u64>().ok());
            let (offset, len, frames) = (it.next()??, it.next()??, it.next()??);
            return Some(PixelLayout::Native { offset, len, frames: u32::try_from(frames).ok()?, swap_words });
        }
        let rest = s.strip_prefix("E:")?;
        let mut frames = Vec::new();
        for frame in rest.split(';') {
            let mut fragments = Vec::new();
            for fragment in frame.split(',').filter(|f| !f.is_empty()) {
                let (o, l) = fragment.split_once('+')?;
                fragments.push((o.parse().ok()?, l.parse().ok()?));
            }
            frames.push(fragments);
        }
        Some(PixelLayout::Encapsulated { frames })
    }

    pub fn number_of_frames(&self) -> usize {
        match self {
            PixelLayout::Native { frames, .. } => *frames as usize,
            PixelLayout::Encapsulated { frames } => frames.len(),
        }
    }
}

/// Build the DICOM JSON object of a dataset tree.
///
/// `sop_instance_uid` names the instance in bulk data URIs; `fallback` is
/// the encoding of undeclared non-ASCII text.
pub fn dicom_json(
    tree: &[Element],
    enc: DatasetEncoding,
    transfer_syntax_uid: &str,
    sop_instance_uid: &str,
    fallback: Option<&'static encoding_rs::Encoding>,
) -> Map<String, Json> {
    let charset = tree
        .iter()
        .find(|e| e.tag == SPECIFIC_CHARACTER_SET)
        .and_then(|e| match &e.value {
            Value::Inline(raw) => Some(SpecificCharacterSet::parse(raw)),
            _ => None,
        })
        .unwrap_or_else(SpecificCharacterSet::default_repertoire);
    let ctx = JsonContext { enc, charset, fallback, bulk_prefix: format!("instances/{sop_instance_uid}/bulkdata/") };
    let mut out = ctx.dataset(tree, "");
    out.insert("00020010".into(), json!({"vr": "UI", "Value": [transfer_syntax_uid]}));
    out
}

/// Find the pixel data layout of a dataset tree; `base` is the dataset's
/// offset in the object.
pub fn pixel_layout(tree: &[Element], base: u64, transfer_syntax_uid: &str) -> Option<PixelLayout> {
    let pixel = tree.iter().find(|e| e.tag == PIXEL_DATA)?;
    let declared_frames = tree
        .iter()
        .find(|e| e.tag == NUMBER_OF_FRAMES)
        .and_then(|e| match &e.value {
            Value::Inline(raw) => String::from_utf8_lossy(raw).trim_matches(|c: char| c == '\0' || c == ' ').parse::<u32>().ok(),
            _ => None,
        })
        .unwrap_or(1)
        .max(1);
    match &pixel.value {
        Value::Fragments(items) => {
            // The first item is the Basic Offset Table, never pixel data.
            let (_offset_table, fragments) = items.split_first()?;
            let frames = group_fragments(fragments, declared_frames as usize, transfer_syntax_uid);
            Some(PixelLayout::Encapsulated {
                frames: frames.into_iter().map(|f| f.iter().map(|x| (base + x.offset, x.len)).collect()).collect(),
            })
        }
        Value::Inline(_) | Value::Bulk if pixel.len != crate::walker::UNDEFINED => {
            let big_endian = transfer_syntax_uid == "1.2.840.10008.1.2.2";
            let us = |tag: u32| -> Option<u64> {
                match &tree.iter().find(|e| e.tag == tag)?.value {
                    Value::Inline(raw) if raw.len() >= 2 => {
                        let b = [raw[0], raw[1]];
                        Some(u64::from(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }))
                    }
                    _ => None,
                }
            };
            // The pixels proper: a value may carry padding after the last
            // frame (an odd length made even, or more).
            let mut len = pixel.len as u64;
            if let (Some(rows), Some(columns), Some(bits)) = (us(0x0028_0010), us(0x0028_0011), us(0x0028_0100)) {
                let samples = us(0x0028_0002).unwrap_or(1).max(1);
                if bits % 8 == 0 && bits > 0 {
                    let pixels = rows * columns * samples * (bits / 8) * u64::from(declared_frames);
                    if pixels > 0 && pixels < len {
                        len = pixels;
                    }
                }
            }
            let swap_words = big_endian && pixel.vr == Some(*b"OW") && us(0x0028_0100) == Some(8);
            Some(PixelLayout::Native { offset: base + pixel.offset, len, frames: declared_frames, swap_words })
        }
        _ => None,
    }
}

/// Assign fragments to frames: one frame takes them all; as many fragments
/// as frames is one each; otherwise a new frame starts at every fragment
/// that opens a codestream (JPEG SOI, JPEG 2000 SOC, RLE header).
fn group_fragments<'a>(fragments: &'a [Fragment], frames: usize, ts: &str) -> Vec<Vec<&'a Fragment>> {
    if frames <= 1 {
        return vec![fragments.iter().collect()];
    }
    if fragments.len() == frames {
        return fragments.iter().map(|f| vec![f]).collect();
    }
    let starts_frame = |f: &Fragment| -> bool {
        match &f.head {
            [0xFF, 0xD8, ..] => true,         // JPEG, JPEG-LS
            [0xFF, 0x4F, 0xFF, 0x51] => true, // JPEG 2000 / HTJ2K codestream
            [0x00, 0x00, 0x00, 0x0C] => true, // JP2 signature box
            _ => ts == "1.2.840.10008.1.2.5", // RLE: one fragment per frame
        }
    };
    let mut out: Vec<Vec<&Fragment>> = Vec::new();
    for f in fragments {
        match out.last_mut() {
            Some(frame) if !starts_frame(f) => frame.push(f),
            _ => out.push(vec![f]),
        }
    }
    out
}

/// The VR of an element: as encoded, else from the dictionary, else UN
/// (private creators are LO).
pub fn resolve_vr(e: &Element) -> [u8; 2] {
    if let Some(vr) = e.vr {
        return vr;
    }
    if matches!(e.value, Value::Items(_) | Value::OpaqueSequence) {
        return *b"SQ";
    }
    let (group, element) = ((e.tag >> 16) as u16, e.tag as u16);
    if group % 2 == 1 && (0x0010..=0x00FF).contains(&element) {
        return *b"LO";
    }
    match StandardDataDictionary.by_tag(Tag(group, element)).map(|entry| entry.vr) {
        Some(VirtualVr::Exact(vr)) => vr.to_bytes(),
        Some(VirtualVr::Xs) => *b"US",
        Some(VirtualVr::Ox | VirtualVr::Px | VirtualVr::Lt) => *b"OW",
        _ => *b"UN",
    }
}

struct JsonContext {
    enc: DatasetEncoding,
    charset: SpecificCharacterSet,
    fallback: Option<&'static encoding_rs::Encoding>,
    bulk_prefix: String,
}

impl JsonContext {
    fn dataset(&self, elements: &[Element], path: &str) -> Map<String, Json> {
        let mut out = Map::new();
        for e in elements {
            if e.tag & 0xFFFF == 0 || e.tag >> 16 == 0x0002 {
                continue; // group lengths and file meta
            }
            let key = format!("{:08X}", e.tag);
            let element_path = if path.is_empty() { key.clone() } else { format!("{path}/{key}") };
            out.insert(key, self.element(e, &element_path));
        }
        out
    }

    fn element(&self, e: &Element, path: &str) -> Json {
        let vr = resolve_vr(e);
        let vr_str = std::str::from_utf8(&vr).unwrap_or("UN").to_string();
        let mut obj = Map::new();
        obj.insert("vr".into(), Json::String(vr_str));
        let bulk = || Json::String(format!("{}{path}", self.bulk_prefix));
        match &e.value {
            Value::Items(items) => {
                if !items.is_empty() {
                    let items: Vec<Json> =
                        items.iter().enumerate().map(|(i, item)| Json::Object(self.dataset(item, &format!("{path}/{i}")))).collect();
                    obj.insert("Value".into(), Json::Array(items));
                }
            }
            Value::OpaqueSequence => {}
            Value::Bulk | Value::Fragments(_) => {
                obj.insert("BulkDataURI".into(), bulk());
            }
            // Pixel data is bulk data whatever its size.
            Value::Inline(_) if matches!(e.tag, PIXEL_DATA | FLOAT_PIXEL_DATA | DOUBLE_PIXEL_DATA) => {
                obj.insert("BulkDataURI".into(), bulk());
            }
            Value::Inline(raw) => {
                if let Some((key, value)) = self.value(&vr, raw) {
                    obj.insert(key.into(), value);
                }
            }
        }
        Json::Object(obj)
    }

    /// The `Value` (or `InlineBinary`) member for a primitive value.
    fn value(&self, vr: &[u8; 2], raw: &[u8]) -> Option<(&'static str, Json)> {
        if raw.is_empty() {
            return None;
        }
        let values: Vec<Json> = match vr {
            b"PN" => self
                .charset
                .decode_multi_as(raw, TextKind::PersonName, self.fallback)
                .iter()
                .map(|v| person_name(v.trim_end_matches([' ', '\0'])))
                .collect(),
            b"SH" | b"LO" | b"UC" => {
                self.charset.decode_multi(raw, self.fallback).iter().map(|v| text_or_null(v.trim_matches([' ', '\0']))).collect()
            }
            b"ST" | b"LT" | b"UT" => {
                let text = self.charset.decode(raw, self.fallback);
                vec![text_or_null(text.trim_end_matches([' ', '\0']))]
            }
            b"UR" => vec![text_or_null(ascii(raw).trim_matches([' ', '\0']))],
            b"AE" | b"AS" | b"CS" | b"DA" | b"DT" | b"TM" | b"UI" => {
                ascii(raw).split('\\').map(|v| text_or_null(v.trim_matches([' ', '\0']))).collect()
            }
            b"IS" => ascii(raw).split('\\').map(|v| number_or_null(v, true)).collect(),
            b"DS" => ascii(raw).split('\\').map(|v| number_or_null(v, false)).collect(),
            b"US" => self.binary_numbers(raw, 2, |b, be| {
                json!(if be { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) })
            }),
            b"SS" => self.binary_numbers(raw, 2, |b, be| {
                json!(if be { i16::from_be_bytes([b[0], b[1]]) } else { i16::from_le_bytes([b[0], b[1]]) })
            }),
            b"UL" => self.binary_numbers(raw, 4, |b, be| {
                json!(if be { u32::from_be_bytes(b.try_into().unwrap()) } else { u32::from_le_bytes(b.try_into().unwrap()) })
            }),
            b"SL" => self.binary_numbers(raw, 4, |b, be| {
                json!(if be { i32::from_be_bytes(b.try_into().unwrap()) } else { i32::from_le_bytes(b.try_into().unwrap()) })
            }),
            b"UV" => self.binary_numbers(raw, 8, |b, be| {
                json!(if be { u64::from_be_bytes(b.try_into().unwrap()) } else { u64::from_le_bytes(b.try_into().unwrap()) })
            }),
            b"SV" => self.binary_numbers(raw, 8, |b, be| {
                json!(if be { i64::from_be_bytes(b.try_into().unwrap()) } else { i64::from_le_bytes(b.try_into().unwrap()) })
            }),
            b"FL" => self.binary_numbers(raw, 4, |b, be| {
                let v = if be { f32::from_be_bytes(b.try_into().unwrap()) } else { f32::from_le_bytes(b.try_into().unwrap()) };
                finite(v as f64)
            }),
            b"FD" => self.binary_numbers(raw, 8, |b, be| {
                finite(if be { f64::from_be_bytes(b.try_into().unwrap()) } else { f64::from_le_bytes(b.try_into().unwrap()) })
            }),
            b"AT" => self.binary_numbers(raw, 4, |b, be| {
                let (g, e) = if be {
                    (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]))
                } else {
                    (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]))
                };
                json!(format!("{g:04X}{e:04X}"))
            }),
            b"OW" | b"OF" | b"OD" | b"OL" | b"OV" if self.enc.big_endian => {
                let width = match vr {
                    b"OW" => 2,
                    b"OF" | b"OL" => 4,
                    _ => 8,
                };
                let mut le = raw.to_vec();
                le.chunks_exact_mut(width).for_each(|c| c.reverse());
                return Some(("InlineBinary", json!(base64::engine::general_purpose::STANDARD.encode(le))));
            }
            _ => return Some(("InlineBinary", json!(base64::engine::general_purpose::STANDARD.encode(raw)))),
        };
        Some(("Value", Json::Array(values)))
    }

    fn binary_numbers(&self, raw: &[u8], width: usize, f: impl Fn(&[u8], bool) -> Json) -> Vec<Json> {
        raw.chunks_exact(width).map(|c| f(c, self.enc.big_endian)).collect()
    }
}

fn ascii(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn text_or_null(v: &str) -> Json {
    if v.is_empty() { Json::Null } else { Json::String(v.to_string()) }
}

fn finite(v: f64) -> Json {
    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
}

fn number_or_null(v: &str, integer: bool) -> Json {
    let v = v.trim_matches([' ', '\0']);
    if integer && let Ok(n) = v.trim_start_matches('+').parse::<i64>() {
        return json!(n);
    }
    match v.parse::<f64>() {
        Ok(f) if integer && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
        Ok(f) => finite(f),
        Err(_) => Json::Null,
    }
}

/// A PN value (UTF-8, groups separated by `=`) as the JSON object of
/// PS3.18 F.2.2; trailing component delimiters are insignificant (PS3.5
/// 6.2.1) and dropped.
pub fn person_name(v: &str) -> Json {
    if v.is_empty() {
        return Json::Null;
    }
    let mut obj = Map::new();
    for (group, key) in v.splitn(3, '=').zip(["Alphabetic", "Ideographic", "Phonetic"]) {
        let group = group.trim_end_matches('^').trim();
        if !group.is_empty() {
            obj.insert(key.into(), Json::String(group.to_string()));
        }
    }
    Json::Object(obj)
}

/// A small data set received over the network (a C-FIND identifier, a
/// storage commitment request) in the DICOM JSON model, its text decoded
/// with its own Specific Character Set. `explicit_vr`: Explicit VR Little
/// Endian, else Implicit.
pub fn network_dataset_json(bytes: &[u8], explicit_vr: bool) -> Result<Map<String, Json>, crate::walker::WalkError> {
    let enc = if explicit_vr { DatasetEncoding::EXPLICIT_LE } else { DatasetEncoding::IMPLICIT_LE };
    let mut src = crate::walker::SeekSource::new(std::io::Cursor::new(bytes), bytes.len() as u64)?;
    let limits = crate::config::read_limits().walk;
    let collect = crate::walker::Collect { wanted: &|_| false, tree: true, is_sequence: &crate::record::is_sequence, limits };
    let tree = crate::walker::walk_collect(&mut src, enc, &collect)?.tree;
    let ts = if explicit_vr { "1.2.840.10008.1.2.1" } else { "1.2.840.10008.1.2" };
    let mut json = dicom_json(&tree, enc, ts, "", None);
    json.remove("00020010");
    Ok(json)
}

/// A search result row ([`yunying_index::search::Match`]) as DICOM JSON:
/// names as person-name objects, multi-valued codes split, counts as numbers.
pub fn match_json(m: &yunying_index::search::Match) -> Map<String, Json> {
    use yunying_index::search::Field;
    let mut obj = Map::new();
    for (a, value) in m.attributes.iter().zip(&m.values) {
        let mut attr = Map::new();
        attr.insert("vr".into(), json!(a.vr));
        match value {
            Field::Null => {}
            Field::Integer(n) => {
                attr.insert("Value".into(), json!([n]));
            }
            Field::Text(t) if a.vr == "PN" => {
                attr.insert("Value".into(), json!([person_name(t)]));
            }
            Field::Text(t) => {
                let values: Vec<&str> = t.split('\\').collect();
                attr.insert("Value".into(), json!(values));
            }
        }
        obj.insert(format!("{:08X}", a.tag), Json::Object(attr));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_layout_round_trips() {
        for layout in [
            PixelLayout::Native { offset: 1234, len: 524288, frames: 1, swap_words: false },
            PixelLayout::Native { offset: 99, len: 27, frames: 3, swap_words: true },
            PixelLayout::Encapsulated { frames: vec![vec![(10, 20), (40, 8)], vec![(60, 100)]] },
        ] {
            assert_eq!(PixelLayout::decode(&layout.encode()), Some(layout));
        }
        assert_eq!(PixelLayout::decode("X:1"), None);
    }

    #[test]
    fn person_names_split_into_groups() {
        assert_eq!(person_name("Wang^Wei=王^伟"), json!({"Alphabetic": "Wang^Wei", "Ideographic": "王^伟"}));
        assert_eq!(person_name("=王^伟="), json!({"Ideographic": "王^伟"}));
        assert_eq!(person_name(""), Json::Null);
    }

    #[test]
    fn numbers_parse_and_bad_ones_become_null() {
        assert_eq!(number_or_null(" 12 ", true), json!(12));
        assert_eq!(number_or_null("+3", true), json!(3));
        assert_eq!(number_or_null("-1.5e2", false), json!(-150.0));
        assert_eq!(number_or_null("abc", false), Json::Null);
    }

    fn frag(offset: u64, head: [u8; 4]) -> Fragment {
        Fragment { offset, len: 10, head }
    }

    #[test]
    fn fragments_group_into_frames_at_codestream_starts() {
        let soi = [0xFF, 0xD8, 0xFF, 0xE0];
        let mid = [1, 2, 3, 4];
        let f = [frag(0, soi), frag(10, mid), frag(20, soi), frag(30, mid), frag(40, mid)];
        let frames = group_fragments(&f, 2, "1.2.840.10008.1.2.4.50");
        assert_eq!(frames.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 3]);
        let one = group_fragments(&f, 1, "1.2.840.10008.1.2.4.50");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].len(), 5);
    }
}
