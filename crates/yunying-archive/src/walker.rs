//! A streaming walk over an encoded DICOM dataset.
//!
//! It checks the structure of the whole dataset (every element header, every
//! sequence and item, encapsulated pixel data) without holding values in
//! memory: values are skipped by seeking, except the top-level elements the
//! caller asks for, whose raw bytes are returned. A dataset that ends inside
//! an element, or whose lengths do not add up, is rejected as truncated or
//! malformed. Pixel data of any size costs a seek, not a read.
//!
//! Raw bytes are returned undecoded so text can be decoded with the
//! dataset's Specific Character Set by our own decoder.
//!
//! What a walk keeps is bounded ([`WalkLimits`]): elements (at every depth,
//! items and fragments included), nesting depth, and the bytes the tree
//! holds (values kept, the walker's own bookkeeping, sequences buffered to
//! be parsed). Three million two-byte elements are refused when the limit
//! is reached, not held.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;

mod source;
pub use source::{Capped, SeekSource, Source, StreamSource, is_too_long};

/// How the dataset is encoded (from its transfer syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetEncoding {
    pub explicit_vr: bool,
    pub big_endian: bool,
}

impl DatasetEncoding {
    pub const IMPLICIT_LE: DatasetEncoding = DatasetEncoding { explicit_vr: false, big_endian: false };
    pub const EXPLICIT_LE: DatasetEncoding = DatasetEncoding { explicit_vr: true, big_endian: false };
    pub const EXPLICIT_BE: DatasetEncoding = DatasetEncoding { explicit_vr: true, big_endian: true };
}

/// Why a dataset could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("dataset truncated at byte {offset}: {what}")]
    Truncated { offset: u64, what: &'static str },
    #[error("malformed dataset at byte {offset}: {what}")]
    Malformed { offset: u64, what: String },
    #[error("I/O error reading dataset: {0}")]
    Io(#[from] io::Error),
    /// A [`WalkLimits`] bound was reached.
    #[error("{0}")]
    Limit(String),
}

/// Bounds on what a walk keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Elements, sequence items and pixel data fragments, at every depth.
    pub max_elements: u64,
    /// Sequence nesting (at most [`MAX_DEPTH`] whatever is configured).
    pub max_depth: usize,
    /// Bytes held at once: kept values, the tree's own structures, and
    /// defined-length sequences read to be parsed.
    pub max_retained_bytes: u64,
}

impl WalkLimits {
    /// 250,000 elements, 32 levels of sequences, 256 MiB held. An element
    /// costs about 1 KB of memory while the instance's metadata (DICOM
    /// JSON) is built from the tree, so the default bounds that to about
    /// 250 MB an instance; an enhanced multi-frame object of 3000 frames has
    /// about 150,000.
    pub const DEFAULT: WalkLimits = WalkLimits { max_elements: 250_000, max_depth: 32, max_retained_bytes: 256 << 20 };
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits::DEFAULT
    }
}

/// What a walk has used so far, shared by nested walks of buffered sequences.
struct Budget {
    limits: WalkLimits,
    elements: Cell<u64>,
    retained: Cell<u64>,
    peak: Cell<u64>,
}

impl Budget {
    /// Count one element (item, fragment) costing `bytes` when it is kept.
    fn element(&self, bytes: u64) -> Result<(), WalkError> {
        let n = self.elements.get() + 1;
        self.elements.set(n);
        if n > self.limits.max_elements {
            return Err(WalkError::Limit(format!("data set has more than {} elements (max_elements)", self.limits.max_elements)));
        }
        self.hold(bytes)
    }

    fn hold(&self, bytes: u64) -> Result<(), WalkError> {
        let held = self.retained.get() + bytes;
        self.retained.set(held);
        self.peak.set(self.peak.get().max(held));
        if held > self.limits.max_retained_bytes {
            return Err(WalkError::Limit(format!(
                "data set needs more than {} bytes held in memory (max_retained_bytes)",
                self.limits.max_retained_bytes
            )));
        }
        Ok(())
    }

    fn release(&self, bytes: u64) {
        self.retained.set(self.retained.get().saturating_sub(bytes));
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Raw values of the wanted top-level elements, by tag (`0xGGGGEEEE`).
    pub values: HashMap<u32, Vec<u8>>,
    /// Number of top-level elements seen.
    pub elements: u64,
    /// Whether the dataset has a Pixel Data (7FE0,0010) element.
    pub has_pixel_data: bool,
    /// The whole dataset as a tree (only when asked to collect it).
    pub tree: Vec<Element>,
    /// The most bytes the walk held at once (an estimate: values and the
    /// tree's structures, not allocator overhead).
    pub peak_retained_bytes: u64,
    /// Elements, items and fragments walked, at every depth.
    pub walked_elements: u64,
}

/// One element of a collected dataset tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub tag: u32,
    /// The VR as encoded; `None` in implicit VR datasets.
    pub vr: Option<[u8; 2]>,
    /// Offset of the value from the start of the dataset.
    pub offset: u64,
    /// Value length; `UNDEFINED` for undefined-length values.
    pub len: u32,
    pub value: Value,
}

/// The value of a collected element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The value bytes, as encoded.
    Inline(Vec<u8>),
    /// Too large to keep in memory: only its position is known.
    Bulk,
    /// Sequence items.
    Items(Vec<Vec<Element>>),
    /// A defined-length sequence whose items could not be parsed; kept opaque.
    OpaqueSequence,
    /// Encapsulated pixel data: every item, the Basic Offset Table first.
    Fragments(Vec<Fragment>),
}

/// One item of encapsulated pixel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the fragment's bytes from the start of the dataset.
    pub offset: u64,
    pub len: u32,
    /// The first bytes of the fragment (to find codestream starts), zero-padded.
    pub head: [u8; 4],
}

/// What the walk should keep.
pub struct Collect<'a> {
    /// Top-level tags whose raw values to return in [`Extracted::values`].
    pub wanted: &'a dyn Fn(u32) -> bool,
    /// Build [`Extracted::tree`].
    pub tree: bool,
    /// In implicit VR, whether a tag is a sequence (from the dictionary).
    pub is_sequence: &'a dyn Fn(u32) -> bool,
    /// Bounds on what the walk may keep.
    pub limits: WalkLimits,
}

pub const ITEM: u32 = 0xFFFE_E000;
const ITEM_DELIMITATION: u32 = 0xFFFE_E00D;
const SEQUENCE_DELIMITATION: u32 = 0xFFFE_E0DD;
const PIXEL_DATA: u32 = 0x7FE0_0010;
pub const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Values larger than this are never extracted, even when asked for.
const MAX_EXTRACTED_VALUE: u32 = 64 * 1024;
/// Binary values larger than this stay out of the tree (bulk data).
pub const MAX_INLINE_BINARY: u32 = 1024;
/// Defined-length sequences larger than this stay out of the tree.
const MAX_BUFFERED_SEQUENCE: u32 = 16 * 1024 * 1024;
/// Nesting deeper than this is never walked (stack safety), whatever the
/// configured limit.
pub const MAX_DEPTH: usize = 64;
/// What keeping an element, an item or a fragment costs besides its value.
const ELEMENT_COST: u64 = std::mem::size_of::<Element>() as u64;
const ITEM_COST: u64 = std::mem::size_of::<Vec<Element>>() as u64;
const FRAGMENT_COST: u64 = std::mem::size_of::<Fragment>() as u64;

/// Walk a whole dataset, returning the raw values of the top-level tags for
/// which `wanted` is true.
pub fn walk(src: &mut dyn Source, enc: DatasetEncoding, wanted: &dyn Fn(u32) -> bool) -> Result<Extracted, WalkError> {
    walk_collect(src, enc, &Collect { wanted, tree: false, is_sequence: &|_| false, limits: WalkLimits::DEFAULT })
}

/// Walk a whole dataset, keeping what `collect` asks for.
pub fn walk_collect(src: &mut dyn Source, enc: DatasetEncoding, collect: &Collect<'_>) -> Result<Extracted, WalkError> {
    let budget = Budget { limits: collect.limits, elements: Cell::new(0), retained: Cell::new(0), peak: Cell::new(0) };
    let mut w = Walker { src, offset: 0, base: 0, out: Extracted::default(), collect, budget: &budget };
    let tree = w.dataset(enc, 0, true, None)?;
    w.out.tree = tree;
    w.out.peak_retained_bytes = budget.peak.get();
    w.out.walked_elements = budget.elements.get();
    Ok(w.out)
}

struct Walker<'a, 'c, 'b> {
    src: &'a mut dyn Source,
    /// Bytes consumed from `src`.
    offset: u64,
    /// Offset of `src`'s first byte in the dataset (nested buffered walks).
    base: u64,
    out: Extracted,
    collect: &'c Collect<'c>,
    budget: &'b Budget,
}

struct Header {
    tag: u32,
    vr: Option<[u8; 2]>,
    len: u32,
}

impl Walker<'_, '_, '_> {
    /// Walk elements until EOF (top level), `end` (defined-length item) or
    /// an item delimitation (undefined-length item).
    fn dataset(&mut self, enc: DatasetEncoding, depth: usize, top: bool, end: Option<u64>) -> Result<Vec<Element>, WalkError> {
        let max_depth = self.budget.limits.max_depth.min(MAX_DEPTH);
        if depth > max_depth {
            return Err(WalkError::Limit(format!("sequences nested more than {max_depth} deep (max_depth)")));
        }
        let mut elements = Vec::new();
        loop {
            if let Some(end) = end {
                if self.offset == end {
                    return Ok(elements);
                }
                if self.offset > end {
                    return Err(self.malformed("element runs past the end of its item"));
                }
            }
            let Some(h) = self.header(enc, top)? else {
                return if top { Ok(elements) } else { Err(self.truncated("item without delimitation")) };
            };
            if h.tag == ITEM_DELIMITATION {
                if top || end.is_some() {
                    return Err(self.malformed("item delimitation outside an undefined-length item"));
                }
                return Ok(elements);
            }
            if h.tag == ITEM || h.tag == SEQUENCE_DELIMITATION {
                return Err(self.malformed(format!("unexpected delimiter {:08X}", h.tag)));
            }
            self.budget.element(if self.collect.tree { ELEMENT_COST } else { 0 })?;
            if top {
                self.out.elements += 1;
                if h.tag == PIXEL_DATA {
                    self.out.has_pixel_data = true;
                }
            }
            let offset = self.base + self.offset;
            let extract = top && (self.collect.wanted)(h.tag);
            let value = self.value(enc, &h, depth, extract)?;
            if self.collect.tree {
                elements.push(Element { tag: h.tag, vr: h.vr, offset, len: h.len, value });
            }
        }
    }

    fn value(&mut self, enc: DatasetEncoding, h: &Header, depth: usize, extract: bool) -> Result<Value, WalkError> {
        let tree = self.collect.tree;
        let is_sequence = match h.vr.as_ref() {
            Some(b"SQ") => true,
            Some(_) => false,
            None => (self.collect.is_sequence)(h.tag),
        };
        if h.len != UNDEFINED {
            if tree && is_sequence && h.len > 0 {
                return self.defined_length_sequence(enc, h.len, depth);
            }
            if tree && is_sequence {
                return Ok(Value::Items(Vec::new()));
            }
            let binary = matches!(h.vr.as_ref().map(|v| &v[..]), Some(b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"UN"))
                || (h.vr.is_none() && (h.tag == PIXEL_DATA || h.len > MAX_EXTRACTED_VALUE));
            let inline = tree && h.len <= if binary { MAX_INLINE_BINARY } else { MAX_EXTRACTED_VALUE };
            if (extract && h.len <= MAX_EXTRACTED_VALUE) || inline {
                self.budget.hold(h.len as u64 * (u64::from(extract) + u64::from(inline)))?;
                let mut buf = vec![0; h.len as usize];
                self.read(&mut buf, "element value")?;
                if extract {
                    self.out.values.insert(h.tag, buf.clone());
                }
                return Ok(Value::Inline(buf));
            }
            self.skip(h.len as u64, "element value")?;
            return Ok(Value::Bulk);
        }
        // Undefined length: a sequence, encapsulated pixel data, or UN
        // holding an implicit-VR sequence.
        match h.vr.as_ref() {
            Some(b"SQ") | None => self.sequence(enc, depth),
            Some(b"UN") => self.sequence(DatasetEncoding::IMPLICIT_LE, depth),
            Some(b"OB") | Some(b"OW") if h.tag == PIXEL_DATA => self.fragments(enc),
            Some(vr) => Err(self.malformed(format!("undefined length on {} element {:08X}", String::from_utf8_lossy(&vr[..]), h.tag))),
        }
    }

    /// Items of an undefined-length sequence, up to its delimitation.
    fn sequence(&mut self, enc: DatasetEncoding, depth: usize) -> Result<Value, WalkError> {
        let mut items = Vec::new();
        loop {
            let tag = self.tag(enc, false)?.ok_or_else(|| self.truncated("sequence"))?;
            let len = self.u32(enc, "item length")?;
            match tag {
                SEQUENCE_DELIMITATION => return Ok(Value::Items(items)),
                ITEM if len == UNDEFINED || self.collect.tree => {
                    self.budget.element(if self.collect.tree { ITEM_COST } else { 0 })?;
                    items.push(self.item(enc, depth, len)?)
                }
                ITEM => {
                    self.budget.element(0)?;
                    self.skip(len as u64, "item")?
                }
                other => return Err(self.malformed(format!("expected item in sequence, found {other:08X}"))),
            }
        }
    }

    /// The elements of one item whose header (of length `len`) was just read.
    fn item(&mut self, enc: DatasetEncoding, depth: usize, len: u32) -> Result<Vec<Element>, WalkError> {
        let end = (len != UNDEFINED).then(|| self.offset + len as u64);
        self.dataset(enc, depth + 1, false, end)
    }

    /// A defined-length sequence: read into memory and parse its items. If
    /// they do not parse, the value is kept opaque rather than rejecting the
    /// dataset (its bytes are stored as received either way).
    fn defined_length_sequence(&mut self, enc: DatasetEncoding, len: u32, depth: usize) -> Result<Value, WalkError> {
        if len > MAX_BUFFERED_SEQUENCE {
            self.skip(len as u64, "sequence")?;
            return Ok(Value::OpaqueSequence);
        }
        let base = self.base + self.offset;
        // Held while its items are parsed (nested ones are copied again).
        self.budget.hold(len as u64)?;
        let parsed = self.parse_buffered_sequence(enc, len, depth, base);
        self.budget.release(len as u64);
        parsed
    }

    fn parse_buffered_sequence(&mut self, enc: DatasetEncoding, len: u32, depth: usize, base: u64) -> Result<Value, WalkError> {
        let mut buf = vec![0; len as usize];
        self.read(&mut buf, "sequence")?;
        let mut src = SeekSource::new(io::Cursor::new(&buf[..]), len as u64)?;
        let mut nested = Walker { src: &mut src, offset: 0, base, out: Extracted::default(), collect: self.collect, budget: self.budget };
        let mut items = Vec::new();
        while nested.offset < len as u64 {
            let parsed = (|| {
                let tag = nested.tag(enc, false)?.ok_or_else(|| nested.truncated("sequence"))?;
                let item_len = nested.u32(enc, "item length")?;
                match tag {
                    ITEM => {
                        nested.budget.element(ITEM_COST)?;
                        nested.item(enc, depth, item_len)
                    }
                    other => Err(nested.malformed(format!("expected item in sequence, found {other:08X}"))),
                }
            })();
            match parsed {
                Ok(item) => items.push(item),
                // Our bounds are not the data's fault: never hidden as opaque.
                Err(e @ WalkError::Limit(_)) => return Err(e),
                Err(_) => return Ok(Value::OpaqueSequence),
            }
        }
        Ok(Value::Items(items))
    }

    fn fragments(&mut self, enc: DatasetEncoding) -> Result<Value, WalkError> {
        // Encapsulated pixel data is always little endian items.
        let le = DatasetEncoding { big_endian: false, ..enc };
        let mut fragments = Vec::new();
        loop {
            let tag = self.tag(le, false)?.ok_or_else(|| self.truncated("pixel data fragments"))?;
            let len = self.u32(le, "fragment length")?;
            match tag {
                SEQUENCE_DELIMITATION => return Ok(Value::Fragments(fragments)),
                ITEM if len != UNDEFINED => {
                    self.budget.element(if self.collect.tree { FRAGMENT_COST } else { 0 })?;
                    let offset = self.base + self.offset;
                    let mut head = [0u8; 4];
                    let n = (len as usize).min(4);
                    if self.collect.tree && n > 0 {
                        self.read(&mut head[..n], "pixel data fragment")?;
                    }
                    let read = if self.collect.tree { n as u64 } else { 0 };
                    self.skip(len as u64 - read, "pixel data fragment")?;
                    if self.collect.tree {
                        fragments.push(Fragment { offset, len, head });
                    }
                }
                other => return Err(self.malformed(format!("bad pixel data fragment item {other:08X}"))),
            }
        }
    }

    /// Read an element header; `None` at a clean end of a top-level dataset.
    fn header(&mut self, enc: DatasetEncoding, top: bool) -> Result<Option<Header>, WalkError> {
        let Some(tag) = self.tag(enc, top)? else { return Ok(None) };
        if tag >> 16 == 0xFFFE || !enc.explicit_vr {
            let len = self.u32(enc, "element length")?;
            return Ok(Some(Header { tag, vr: None, len }));
        }
        let mut vr = [0u8; 2];
        self.read(&mut vr, "VR")?;
        if !vr.iter().all(u8::is_ascii_uppercase) {
            return Err(self.malformed(format!("invalid VR bytes {vr:02X?} in element {tag:08X}")));
        }
        let len = match &vr {
            b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV" => {
                self.skip(2, "reserved bytes")?;
                self.u32(enc, "element length")?
            }
            _ => self.u16(enc)? as u32,
        };
        Ok(Some(Header { tag, vr: Some(vr), len }))
    }

    fn tag(&mut self, enc: DatasetEncoding, eof_ok: bool) -> Result<Option<u32>, WalkError> {
        let mut b = [0u8; 4];
        let n = self.src.read_full(&mut b)?;
        self.offset += n as u64;
        if n == 0 && eof_ok {
            return Ok(None);
        }
        if n < 4 {
            return Err(self.truncated("element tag"));
        }
        let (g, e) = if enc.big_endian {
            (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]))
        } else {
            (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]))
        };
        // Item and delimitation tags are encoded in the dataset's byte order
        // too; normalise.
        Ok(Some(((g as u32) << 16) | e as u32))
    }

    fn u16(&mut self, enc: DatasetEncoding) -> Result<u16, WalkError> {
        let mut b = [0u8; 2];
        self.read(&mut b, "element length")?;
        Ok(if enc.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32(&mut self, enc: DatasetEncoding, what: &'static str) -> Result<u32, WalkError> {
        let mut b = [0u8; 4];
        self.read(&mut b, what)?;
        Ok(if enc.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn read(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), WalkError> {
        let n = self.src.read_full(buf)?;
        self.offset += n as u64;
        if n < buf.len() {
            return Err(self.truncated(what));
        }
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), WalkError> {
        let skipped = self.src.skip(n)?;
        self.offset += skipped;
        if skipped < n {
            return Err(self.truncated(what));
        }
        Ok(())
    }

    fn truncated(&self, what: &'static str) -> WalkError {
        WalkError::Truncated { offset: self.offset, what }
    }

    fn malformed(&self, what: impl Into<String>) -> WalkError {
        WalkError::Malformed { offset: self.offset, what: what.into() }
    }
}

#[cfg(test)]
mod tests;
