//! Reading stored instances back: their metadata, single frames through the
//! pixel layout recorded at ingest (a frame of a multi-frame instance costs
//! one ranged read, not the whole object), and whole instances re-encoded
//! as Explicit VR Little Endian with decoded pixel data.
//!
//! Re-encoding keeps every value's bytes as stored (text is never decoded
//! and re-encoded, so character sets survive); only headers, byte order and
//! the pixel data change.

use std::io::{Cursor, Read};

use serde_json::{Map, Value as Json};
use tracing::Instrument;
use yunying_index::InstanceData;
use yunying_store::ObjectStore;
use yunying_transcode::{FrameTransform, Lut, PixelInfo, TranscodeError, decode_frame};

use crate::Archive;
use crate::meta::FileMeta;
use crate::metadata::{PixelLayout, dicom_json, pixel_layout, resolve_vr};
use crate::record::{inflate, is_sequence};
use crate::syntax::{EXPLICIT_VR_LE, IMPLICIT_VR_LE, dataset_encoding, is_compressed};
use crate::walker::{Capped, Collect, DatasetEncoding, Element, SeekSource, UNDEFINED, Value, walk_collect};

/// Stored objects up to this size are read whole to be sent.
const WHOLE_READ: u64 = 4 << 20;

/// A data set to send over DIMSE.
#[derive(Debug)]
pub enum NetworkDataset {
    /// The stored bytes: `start..end` of the object `key`.
    Stored { key: String, start: u64, end: u64 },
    /// In memory: re-encoded, or stored bytes small enough to read at once.
    Encoded(bytes::Bytes),
    /// The stored bytes `start..end` of a local file (filesystem store):
    /// sent from the page cache without being read into memory.
    Local { file: std::fs::File, start: u64, end: u64 },
}

/// Why something could not be retrieved.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    /// A frame number outside 1..=NumberOfFrames.
    #[error("frame {requested} does not exist (the instance has {frames})")]
    NoSuchFrame { requested: u32, frames: usize },
    #[error("the instance has no pixel data")]
    NoPixelData,
    #[error("no such attribute: {0}")]
    NoSuchBulkData(String),
    #[error(transparent)]
    Transcode(#[from] TranscodeError),
    #[error("object store: {0}")]
    Store(String),
    #[error("stored instance cannot be read: {0}")]
    Corrupt(String),
}

impl Archive {
    /// Instances in a scope (see [`yunying_index::Index::instances_in`]).
    pub async fn instances(&self, study: &str, series: Option<&str>, sop: Option<&str>) -> Result<Vec<InstanceData>, RetrieveError> {
        let span = tracing::info_span!(target: "yunying::trace", "index.instances", instances = tracing::field::Empty);
        let found = self.index().instances_in(study, series, sop).instrument(span.clone()).await;
        span.record("instances", found.as_ref().map_or(0, Vec::len));
        found.map_err(|e| RetrieveError::Store(format!("index: {e}")))
    }

    /// The instance's metadata as DICOM JSON bytes. Rows indexed before
    /// metadata existed are built from the object on demand.
    pub async fn metadata(&self, data: &InstanceData) -> Result<Vec<u8>, RetrieveError> {
        if !data.metadata.is_empty() {
            return inflate(&data.metadata).map_err(|e| RetrieveError::Corrupt(format!("metadata: {e}")));
        }
        let (store, key) = (self.store().clone(), data.stored.object_key.clone());
        blocking(move || {
            let object = store.get(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
            let parsed = Parsed::new(&object)?;
            let json = dicom_json(&parsed.tree, parsed.enc, &parsed.ts, &parsed.sop_instance_uid, None);
            Ok(serde_json::to_vec(&json).expect("JSON maps always serialise"))
        })
        .await
    }

    /// Frames (1-based numbers) in the stored transfer syntax.
    pub async fn frames(&self, data: &InstanceData, numbers: &[u32]) -> Result<Vec<Vec<u8>>, RetrieveError> {
        let store = self.store().clone();
        let data = data.clone();
        let numbers = numbers.to_vec();
        blocking(move || read_frames(store.as_ref(), &data, &numbers)).await
    }

    /// The instance's lossless HTJ2K copy (a rendition, see
    /// `yunying-renditions`) as an instance of its own: same identity, the
    /// copy's object and transfer syntax. `None` when it has none (yet).
    pub async fn lossless_copy(&self, data: &InstanceData) -> Result<Option<InstanceData>, RetrieveError> {
        let renditions =
            self.index().renditions_of(&data.stored.sop_instance_uid).await.map_err(|e| RetrieveError::Store(format!("index: {e}")))?;
        Ok(renditions.into_iter().find(|r| r.kind == "lossless").map(|r| {
            let mut copy = data.clone();
            copy.stored.object_key = r.object_key;
            copy.stored.transfer_syntax_uid = yunying_transcode::HTJ2K_LOSSLESS.to_string();
            // The copy's frames are found by parsing it (it is small).
            copy.pixel_layout = String::new();
            copy
        }))
    }

    /// Frames decoded to native little-endian pixels (Explicit VR LE), with
    /// the photometric interpretation of the result.
    pub async fn decoded_frames(&self, data: &InstanceData, numbers: &[u32]) -> Result<(Vec<Vec<u8>>, String), RetrieveError> {
        let frames = self.frames(data, numbers).await?;
        let info = self.pixel_info(data).await?;
        let ts = data.stored.transfer_syntax_uid.clone();
        blocking(move || {
            let mut photometric = info.photometric_interpretation.clone();
            let mut out = Vec::with_capacity(frames.len());
            for frame in &frames {
                let decoded = decode_frame(&ts, &info, frame)?;
                photometric = decoded.photometric_interpretation;
                out.push(decoded.bytes);
            }
            Ok((out, photometric))
        })
        .await
    }

    /// The Image Pixel module of an instance, from its metadata.
    pub async fn pixel_info(&self, data: &InstanceData) -> Result<PixelInfo, RetrieveError> {
        let json = self.metadata(data).await?;
        let map: Map<String, Json> = serde_json::from_slice(&json).map_err(|e| RetrieveError::Corrupt(e.to_string()))?;
        let mut info = pixel_info(&map).ok_or(RetrieveError::NoPixelData)?;
        if info.photometric_interpretation == "PALETTE COLOR" && info.palette.is_none() {
            let (store, key) = (self.store().clone(), data.stored.object_key.clone());
            info = blocking(move || {
                resolve_palette(&mut info, &map, || store.get(&key).map_err(|e| RetrieveError::Store(e.to_string())))?;
                Ok(info)
            })
            .await?;
        }
        Ok(info)
    }

    /// The whole instance as a Part 10 object in Explicit VR Little Endian.
    pub async fn explicit_le(&self, data: &InstanceData) -> Result<Vec<u8>, RetrieveError> {
        let (store, key) = (self.store().clone(), data.stored.object_key.clone());
        blocking(move || {
            let object = store.get(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
            to_explicit_le(&object)
        })
        .await
    }

    /// The data set (no file meta) of an instance for sending over DIMSE in
    /// `transfer_syntax`: where the stored bytes are when it is the stored
    /// syntax (read them in pieces with [`Archive::read_object_range`]: memory
    /// stays bounded whatever the instance size), otherwise the instance
    /// re-encoded as Explicit or Implicit VR Little Endian with decoded
    /// pixel data.
    pub async fn network_dataset(&self, data: &InstanceData, transfer_syntax: &str) -> Result<NetworkDataset, RetrieveError> {
        let (store, key) = (self.store().clone(), data.stored.object_key.clone());
        if data.stored.transfer_syntax_uid == transfer_syntax {
            return blocking(move || {
                if let Some(file) = store.open_local(&key).map_err(|e| RetrieveError::Store(e.to_string()))? {
                    return local_dataset(file);
                }
                let size = store.size(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
                if size <= WHOLE_READ {
                    // Small enough to read at once: one read instead of three.
                    let object = store.get(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
                    let (_, start) = FileMeta::read(&mut Cursor::new(&object[..])).map_err(|e| RetrieveError::Corrupt(e.to_string()))?;
                    // The data set is the object past its meta header: a
                    // view, not a copy.
                    return Ok(NetworkDataset::Encoded(bytes::Bytes::from(object).slice(start as usize..)));
                }
                let start = dataset_start(size, |len| store.get_range(&key, 0, len).map_err(|e| RetrieveError::Store(e.to_string())))?;
                Ok(NetworkDataset::Stored { key, start, end: size })
            })
            .await;
        }
        let implicit = match transfer_syntax {
            EXPLICIT_VR_LE => false,
            IMPLICIT_VR_LE => true,
            other => return Err(RetrieveError::Transcode(TranscodeError::UnsupportedTransferSyntax(other.to_string()))),
        };
        blocking(move || {
            let object = store.get(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
            dataset_as_little_endian(&object, implicit).map(|d| NetworkDataset::Encoded(d.into()))
        })
        .await
    }

    /// `len` bytes of a stored object from `start`.
    pub async fn read_object_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>, RetrieveError> {
        let (store, key) = (self.store().clone(), key.to_string());
        blocking(move || store.get_range(&key, start, len).map_err(|e| RetrieveError::Store(e.to_string()))).await
    }

    /// The value of a bulk data attribute (`path` as in BulkDataURIs), in
    /// little-endian byte order; encapsulated pixel data gives its frames
    /// concatenated.
    pub async fn bulkdata(&self, data: &InstanceData, path: &str) -> Result<Vec<u8>, RetrieveError> {
        let (store, key, path) = (self.store().clone(), data.stored.object_key.clone(), path.to_string());
        blocking(move || {
            let object = store.get(&key).map_err(|e| RetrieveError::Store(e.to_string()))?;
            let parsed = Parsed::new(&object)?;
            let element = find_path(&parsed.tree, &path).ok_or_else(|| RetrieveError::NoSuchBulkData(path.clone()))?;
            match &element.value {
                Value::Fragments(fragments) => {
                    Ok(fragments.iter().skip(1).flat_map(|f| parsed.slice(f.offset, f.len as u64).iter().copied()).collect())
                }
                Value::Inline(_) | Value::Bulk => {
                    let mut bytes = parsed.slice(element.offset, element.len as u64).to_vec();
                    if parsed.enc.big_endian {
                        swap_to_le(&resolve_vr(element), &mut bytes);
                    }
                    Ok(bytes)
                }
                _ => Err(RetrieveError::NoSuchBulkData(path)),
            }
        })
        .await
    }
}

fn read_frames(store: &dyn ObjectStore, data: &InstanceData, numbers: &[u32]) -> Result<Vec<Vec<u8>>, RetrieveError> {
    let key = &data.stored.object_key;
    let layout = PixelLayout::decode(&data.pixel_layout);
    let (layout, memory) = match layout {
        Some(layout) => (layout, None),
        None => {
            // Deflated datasets (or rows without a layout): parse in memory.
            let object = store.get(key).map_err(|e| RetrieveError::Store(e.to_string()))?;
            let parsed = Parsed::new(&object)?;
            let layout = pixel_layout(&parsed.tree, 0, &parsed.ts).ok_or(RetrieveError::NoPixelData)?;
            (layout, Some(parsed.dataset))
        }
    };
    let count = layout.number_of_frames();
    let read = |offset: u64, len: u64| -> Result<Vec<u8>, RetrieveError> {
        match &memory {
            Some(dataset) => dataset
                .get(offset as usize..(offset + len) as usize)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| RetrieveError::Corrupt("pixel data outside the dataset".into())),
            None => store.get_range(key, offset, len).map_err(|e| RetrieveError::Store(e.to_string())),
        }
    };
    let mut out = Vec::with_capacity(numbers.len());
    for &n in numbers {
        if n == 0 || n as usize > count {
            return Err(RetrieveError::NoSuchFrame { requested: n, frames: count });
        }
        let i = (n - 1) as usize;
        match &layout {
            PixelLayout::Native { offset, len, frames, swap_words } => {
                let frame_len = len / (*frames).max(1) as u64;
                // Swapped pairs start at the value's start: read whole words.
                let start = offset + i as u64 * frame_len;
                let (aligned, skip) = if *swap_words && (start - offset) % 2 == 1 { (start - 1, 1) } else { (start, 0) };
                let want = if *swap_words { (frame_len + skip + 1) & !1 } else { frame_len };
                let mut frame = read(aligned, want)?;
                if *swap_words {
                    frame.chunks_exact_mut(2).for_each(|pair| pair.swap(0, 1));
                }
                frame.drain(..skip as usize);
                frame.truncate(frame_len as usize);
                out.push(frame);
            }
            PixelLayout::Encapsulated { frames } => {
                let fragments = &frames[i];
                if let [(offset, len)] = fragments[..] {
                    out.push(read(offset, len as u64)?);
                } else {
                    let mut frame = Vec::new();
                    for &(offset, len) in fragments {
                        frame.extend(read(offset, len as u64)?);
                    }
                    out.push(frame);
                }
            }
        }
    }
    Ok(out)
}

/// A stored object parsed in memory.
struct Parsed {
    meta: FileMeta,
    ts: String,
    enc: DatasetEncoding,
    sop_instance_uid: String,
    /// The dataset bytes (inflated when deflated).
    dataset: Vec<u8>,
    tree: Vec<Element>,
}

impl Parsed {
    fn new(object: &[u8]) -> Result<Parsed, RetrieveError> {
        let mut cursor = Cursor::new(object);
        let (meta, start) = FileMeta::read(&mut cursor).map_err(|e| RetrieveError::Corrupt(e.to_string()))?;
        let ts = meta.transfer_syntax_uid.clone();
        let (enc, deflated) = dataset_encoding(&ts);
        let raw = &object[start as usize..];
        let limits = crate::config::read_limits();
        let dataset = if deflated {
            // Never more than ingest would have accepted.
            let mut out = Vec::new();
            Capped::new(flate2::read::DeflateDecoder::new(raw), limits.max_inflated_bytes)
                .read_to_end(&mut out)
                .map_err(|e| RetrieveError::Corrupt(format!("deflated data set: {e}")))?;
            out
        } else {
            raw.to_vec()
        };
        let mut src =
            SeekSource::new(Cursor::new(&dataset[..]), dataset.len() as u64).map_err(|e| RetrieveError::Corrupt(e.to_string()))?;
        let collect = Collect { wanted: &|_| false, tree: true, is_sequence: &is_sequence, limits: limits.walk };
        let tree = walk_collect(&mut src, enc, &collect).map_err(|e| RetrieveError::Corrupt(e.to_string()))?.tree;
        let sop_instance_uid = meta.sop_instance_uid.clone();
        Ok(Parsed { meta, ts, enc, sop_instance_uid, dataset, tree })
    }

    fn slice(&self, offset: u64, len: u64) -> &[u8] {
        let start = (offset as usize).min(self.dataset.len());
        let end = (offset.saturating_add(len) as usize).min(self.dataset.len());
        &self.dataset[start..end]
    }
}

/// The pixel description and every frame, as stored, of an instance: what a
/// worker thread needs to render it (blocking).
pub fn read_pixels(store: &dyn ObjectStore, data: &InstanceData) -> Result<(PixelInfo, Vec<Vec<u8>>), RetrieveError> {
    let json = if data.metadata.is_empty() {
        let object = store.get(&data.stored.object_key).map_err(|e| RetrieveError::Store(e.to_string()))?;
        let parsed = Parsed::new(&object)?;
        dicom_json(&parsed.tree, parsed.enc, &parsed.ts, &parsed.sop_instance_uid, None)
    } else {
        let bytes = inflate(&data.metadata).map_err(|e| RetrieveError::Corrupt(format!("metadata: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| RetrieveError::Corrupt(e.to_string()))?
    };
    let mut info = pixel_info(&json).ok_or(RetrieveError::NoPixelData)?;
    // Before any frame is read: what the dataset declares must be decodable.
    yunying_transcode::check_declared_size(&info)?;
    resolve_palette(&mut info, &json, || store.get(&data.stored.object_key).map_err(|e| RetrieveError::Store(e.to_string())))?;
    let numbers: Vec<u32> = (1..=info.number_of_frames.max(1)).collect();
    let frames = read_frames(store, data, &numbers)?;
    Ok((info, frames))
}

/// A Part 10 object with the pixel data of `object` replaced by
/// encapsulated `frames` in `transfer_syntax` (one fragment per frame),
/// the rest of the data set re-encoded as Explicit VR Little Endian.
pub fn with_encapsulated_frames(
    object: &[u8],
    transfer_syntax: &str,
    frames: &[Vec<u8>],
    photometric: &str,
) -> Result<Vec<u8>, RetrieveError> {
    let parsed = Parsed::new(object)?;
    let meta = FileMeta { transfer_syntax_uid: transfer_syntax.to_string(), ..parsed.meta.clone() };
    let mut out = meta.encode();
    let writer = Writer { parsed: &parsed, decoded: None, implicit: false, encapsulated: Some((frames, photometric)) };
    writer.dataset(&parsed.tree, &mut out, true);
    Ok(out)
}

/// Re-encode a Part 10 object as Explicit VR Little Endian.
pub fn to_explicit_le(object: &[u8]) -> Result<Vec<u8>, RetrieveError> {
    let parsed = Parsed::new(object)?;
    if parsed.ts == EXPLICIT_VR_LE {
        return Ok(object.to_vec());
    }
    let meta = FileMeta { transfer_syntax_uid: EXPLICIT_VR_LE.to_string(), ..parsed.meta.clone() };
    let mut out = meta.encode();
    reencode(&parsed, false, &mut out)?;
    Ok(out)
}

/// A stored object as a local file, its data set starting past the meta
/// header.
fn local_dataset(file: std::fs::File) -> Result<NetworkDataset, RetrieveError> {
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| RetrieveError::Store(e.to_string());
    let size = file.metadata().map_err(io)?.len();
    let start = dataset_start(size, |len| {
        let mut head = vec![0; len as usize];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        Ok(head)
    })?;
    Ok(NetworkDataset::Local { file, start, end: size })
}

/// Where the data set of a stored object of `size` bytes starts, past its
/// meta header; `head(len)` reads the object's first `len` bytes (64 KiB
/// first, more when the header is longer).
fn dataset_start(size: u64, mut head: impl FnMut(u64) -> Result<Vec<u8>, RetrieveError>) -> Result<u64, RetrieveError> {
    let mut head_len = size.min(64 * 1024);
    loop {
        let bytes = head(head_len)?;
        match FileMeta::read(&mut Cursor::new(&bytes[..])) {
            Ok((_, start)) => return Ok(start),
            Err(_) if head_len < size => head_len = size.min(head_len * 16),
            Err(e) => return Err(RetrieveError::Corrupt(e.to_string())),
        }
    }
}

/// The data set of a Part 10 object (no file meta) re-encoded in little
/// endian, explicit or implicit VR, with decoded pixel data.
pub fn dataset_as_little_endian(object: &[u8], implicit: bool) -> Result<Vec<u8>, RetrieveError> {
    let parsed = Parsed::new(object)?;
    let mut out = Vec::with_capacity(parsed.dataset.len() + 1024);
    reencode(&parsed, implicit, &mut out)?;
    Ok(out)
}

fn reencode(parsed: &Parsed, implicit: bool, out: &mut Vec<u8>) -> Result<(), RetrieveError> {
    let compressed = is_compressed(&parsed.ts);
    let mut decoded: Option<(Vec<u8>, String)> = None;
    if compressed && parsed.tree.iter().any(|e| e.tag == PIXEL_DATA) {
        let json = dicom_json(&parsed.tree, parsed.enc, &parsed.ts, &parsed.sop_instance_uid, None);
        let info = pixel_info(&json).ok_or(RetrieveError::NoPixelData)?;
        let layout = pixel_layout(&parsed.tree, 0, &parsed.ts).ok_or(RetrieveError::NoPixelData)?;
        let PixelLayout::Encapsulated { frames } = layout else {
            return Err(RetrieveError::Corrupt("compressed transfer syntax with native pixel data".into()));
        };
        let mut pixels = Vec::new();
        let mut photometric = info.photometric_interpretation.clone();
        for fragments in frames {
            let frame: Vec<u8> = fragments.iter().flat_map(|&(o, l)| parsed.slice(o, l as u64).iter().copied()).collect();
            let d = decode_frame(&parsed.ts, &info, &frame)?;
            photometric = d.photometric_interpretation;
            pixels.extend(d.bytes);
        }
        decoded = Some((pixels, photometric));
    }
    let writer = Writer { parsed, decoded: decoded.as_ref(), implicit, encapsulated: None };
    writer.dataset(&parsed.tree, out, true);
    Ok(())
}

const PIXEL_DATA: u32 = 0x7FE0_0010;
const PHOTOMETRIC_INTERPRETATION: u32 = 0x0028_0004;
const PLANAR_CONFIGURATION: u32 = 0x0028_0006;
const BITS_ALLOCATED: u32 = 0x0028_0100;

struct Writer<'a> {
    parsed: &'a Parsed,
    decoded: Option<&'a (Vec<u8>, String)>,
    /// Implicit VR (headers without VR) instead of explicit.
    implicit: bool,
    /// Pixel data replaced by these encapsulated frames (with this
    /// photometric interpretation).
    encapsulated: Option<(&'a [Vec<u8>], &'a str)>,
}

impl Writer<'_> {
    fn dataset(&self, elements: &[Element], out: &mut Vec<u8>, top: bool) {
        for e in elements {
            if e.tag & 0xFFFF == 0 {
                continue; // group lengths would be wrong after re-encoding
            }
            if let (true, Some((frames, photometric))) = (top, self.encapsulated) {
                match e.tag {
                    PIXEL_DATA => {
                        header(out, e.tag, b"OB", UNDEFINED as usize);
                        out.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty basic offset table
                        for frame in frames {
                            let padded = frame.len() + frame.len() % 2;
                            out.extend([0xFE, 0xFF, 0x00, 0xE0]);
                            out.extend((padded as u32).to_le_bytes());
                            out.extend_from_slice(frame);
                            if frame.len() % 2 == 1 {
                                out.push(0);
                            }
                        }
                        out.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                        continue;
                    }
                    PHOTOMETRIC_INTERPRETATION => {
                        let mut value = photometric.as_bytes().to_vec();
                        if value.len() % 2 == 1 {
                            value.push(b' ');
                        }
                        header(out, e.tag, b"CS", value.len());
                        out.extend(value);
                        continue;
                    }
                    PLANAR_CONFIGURATION => {
                        header(out, e.tag, b"US", 2);
                        out.extend(0u16.to_le_bytes());
                        continue;
                    }
                    _ => {}
                }
            }
            if let (true, Some((pixels, photometric))) = (top, self.decoded) {
                match e.tag {
                    PIXEL_DATA => {
                        let vr = if bits_allocated(&self.parsed.tree) > 8 { b"OW" } else { b"OB" };
                        let mut value = pixels.clone();
                        if value.len() % 2 == 1 {
                            value.push(0);
                        }
                        self.header(out, e.tag, vr, value.len());
                        out.extend(value);
                        continue;
                    }
                    PHOTOMETRIC_INTERPRETATION => {
                        let mut value = photometric.clone().into_bytes();
                        if value.len() % 2 == 1 {
                            value.push(b' ');
                        }
                        self.header(out, e.tag, b"CS", value.len());
                        out.extend(value);
                        continue;
                    }
                    PLANAR_CONFIGURATION => {
                        self.header(out, e.tag, b"US", 2);
                        out.extend(0u16.to_le_bytes());
                        continue;
                    }
                    _ => {}
                }
            }
            let vr = resolve_vr(e);
            match &e.value {
                Value::Items(items) => {
                    self.header(out, e.tag, b"SQ", UNDEFINED as usize);
                    for item in items {
                        out.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
                        self.dataset(item, out, false);
                        out.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
                    }
                    out.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                }
                Value::OpaqueSequence => {
                    // Items we could not parse: kept as UN when their bytes
                    // are implicit VR little endian (which UN may carry).
                    if !self.parsed.enc.explicit_vr && !self.parsed.enc.big_endian {
                        let bytes = self.parsed.slice(e.offset, e.len as u64);
                        self.header(out, e.tag, b"UN", bytes.len());
                        out.extend_from_slice(bytes);
                    }
                }
                Value::Fragments(fragments) => {
                    self.header(out, e.tag, b"OB", UNDEFINED as usize);
                    for f in fragments {
                        out.extend([0xFE, 0xFF, 0x00, 0xE0]);
                        out.extend(f.len.to_le_bytes());
                        out.extend_from_slice(self.parsed.slice(f.offset, f.len as u64));
                    }
                    out.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                }
                Value::Inline(_) | Value::Bulk => {
                    let mut bytes = self.parsed.slice(e.offset, e.len as u64).to_vec();
                    if self.parsed.enc.big_endian {
                        swap_to_le(&vr, &mut bytes);
                    }
                    let vr = if is_long_vr(&vr) || bytes.len() <= 0xFFFF { vr } else { *b"UN" };
                    self.header(out, e.tag, &vr, bytes.len());
                    out.extend(bytes);
                }
            }
        }
    }
}

impl Writer<'_> {
    fn header(&self, out: &mut Vec<u8>, tag: u32, vr: &[u8; 2], len: usize) {
        if self.implicit {
            out.extend(((tag >> 16) as u16).to_le_bytes());
            out.extend((tag as u16).to_le_bytes());
            out.extend((len as u32).to_le_bytes());
        } else {
            header(out, tag, vr, len);
        }
    }
}

fn bits_allocated(tree: &[Element]) -> u16 {
    tree.iter()
        .find(|e| e.tag == BITS_ALLOCATED)
        .and_then(|e| match &e.value {
            Value::Inline(v) if v.len() >= 2 => Some(u16::from_le_bytes([v[0], v[1]])),
            _ => None,
        })
        .unwrap_or(16)
}

fn is_long_vr(vr: &[u8; 2]) -> bool {
    matches!(vr, b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV")
}

fn header(out: &mut Vec<u8>, tag: u32, vr: &[u8; 2], len: usize) {
    out.extend(((tag >> 16) as u16).to_le_bytes());
    out.extend((tag as u16).to_le_bytes());
    out.extend(vr);
    if is_long_vr(vr) {
        out.extend([0, 0]);
        out.extend((len as u32).to_le_bytes());
    } else {
        out.extend((len as u16).to_le_bytes());
    }
}

/// Convert a big-endian value to little endian according to its VR.
fn swap_to_le(vr: &[u8; 2], bytes: &mut [u8]) {
    let width = match vr {
        b"US" | b"SS" | b"OW" | b"AT" => 2,
        b"UL" | b"SL" | b"FL" | b"OF" | b"OL" => 4,
        b"FD" | b"OD" | b"SV" | b"UV" | b"OV" => 8,
        _ => return,
    };
    bytes.chunks_exact_mut(width).for_each(<[u8]>::reverse);
}

/// Find an element by bulk data path (`TAG` or `TAG/ITEM/TAG/...`).
fn find_path<'a>(tree: &'a [Element], path: &str) -> Option<&'a Element> {
    let mut parts = path.split('/');
    let mut elements = tree;
    loop {
        let tag = u32::from_str_radix(parts.next()?, 16).ok()?;
        let element = elements.iter().find(|e| e.tag == tag)?;
        let Some(item) = parts.next() else { return Some(element) };
        let Value::Items(items) = &element.value else { return None };
        elements = items.get(item.parse::<usize>().ok()?)?;
    }
}

/// The Image Pixel module (plus rescale and VOI) from an instance's DICOM JSON.
pub fn pixel_info(json: &Map<String, Json>) -> Option<PixelInfo> {
    let first = |tag: &str| json.get(tag)?.get("Value")?.get(0).cloned();
    let number = |tag: &str| first(tag).and_then(|v| v.as_f64());
    let int = |tag: &str, default: u16| number(tag).map_or(default, |v| v as u16);
    let text = |tag: &str| first(tag).and_then(|v| v.as_str().map(str::to_string));
    let rows = number("00280010")? as u16;
    let columns = number("00280011")? as u16;
    let values = |tag: &str| -> Vec<f64> {
        json.get(tag)
            .and_then(|e| e.get("Value"))
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_f64).collect())
            .unwrap_or_default()
    };
    let windows: Vec<(f64, f64)> = values("00281050").into_iter().zip(values("00281051")).filter(|(_, w)| *w > 0.0).collect();
    let voi_lut = json
        .get("00283010")
        .and_then(|e| e.get("Value"))
        .and_then(|v| v.get(0))
        .and_then(|item| lut(item.as_object()?, "00283002", "00283006"));
    let number_of_frames = number("00280008").map_or(1, |v| v.max(1.0) as u32);
    let bits_allocated = int("00280100", 16);
    // Enhanced multi-frame objects keep rescale and window in functional
    // groups: shared ones stand in for absent top-level values, per-frame
    // ones override them frame by frame.
    let items = |tag: &str| -> Vec<FrameTransform> {
        json.get(tag)
            .and_then(|e| e.get("Value"))
            .and_then(Json::as_array)
            .map(|a| a.iter().map(|i| i.as_object().map(frame_transform).unwrap_or_default()).collect())
            .unwrap_or_default()
    };
    let shared = items("52009229").into_iter().next().unwrap_or_default();
    let mut per_frame = items("52009230");
    if per_frame.iter().all(|t| *t == FrameTransform::default()) {
        per_frame.clear();
    }
    let (shared_slope, shared_intercept) = shared.rescale.unzip();
    let windows = if windows.is_empty() { shared.windows.unwrap_or_default() } else { windows };
    Some(PixelInfo {
        rows,
        columns,
        samples_per_pixel: int("00280002", 1),
        bits_allocated,
        bits_stored: int("00280101", bits_allocated),
        high_bit: int("00280102", bits_allocated.saturating_sub(1)),
        pixel_representation: int("00280103", 0),
        photometric_interpretation: text("00280004").unwrap_or_else(|| "MONOCHROME2".into()),
        planar_configuration: int("00280006", 0),
        number_of_frames,
        rescale_slope: number("00281053").or(shared_slope).unwrap_or(1.0),
        rescale_intercept: number("00281052").or(shared_intercept).unwrap_or(0.0),
        windows,
        voi_lut_function: text("00281056").or(shared.voi_lut_function),
        voi_lut,
        palette: palette(json, |_| None),
        per_frame,
    })
}

/// The red, green and blue tags of a palette: descriptor, data, segmented data.
const PALETTE_TAGS: [(&str, &str, &str); 3] =
    [("00281101", "00281201", "00281221"), ("00281102", "00281202", "00281222"), ("00281103", "00281203", "00281223")];

/// The palette LUTs of a PALETTE COLOR image (C.7.6.3.1.5-6), from the JSON
/// where the data is inline and from `bulk` (tag → little-endian bytes)
/// where it is bulk data; segmented LUTs expanded.
fn palette(json: &Map<String, Json>, bulk: impl Fn(&str) -> Option<Vec<u8>>) -> Option<[Lut; 3]> {
    let mut luts = Vec::with_capacity(3);
    for (descriptor, data, segmented) in PALETTE_TAGS {
        let descriptor = lut_descriptor(json, descriptor)?;
        let entries = if descriptor[0] == 0 { 65536 } else { descriptor[0] as usize };
        let data = match lut_words(json, data, &bulk) {
            Some(words) => words,
            None => expand_segmented(&lut_words(json, segmented, &bulk)?, entries)?,
        };
        luts.push(Lut { descriptor, data });
    }
    luts.try_into().ok()
}

/// A segmented palette LUT (C.7.9.2) as its plain entries: discrete
/// segments copy values, linear segments interpolate from the last value,
/// indirect segments repeat earlier segments (at most 8 deep).
fn expand_segmented(words: &[u16], entries: usize) -> Option<Vec<u16>> {
    fn run(words: &[u16], out: &mut Vec<u16>, depth: usize, limit: usize) -> Option<()> {
        let mut i = 0;
        while i + 1 < words.len() && out.len() < limit {
            let (opcode, n) = (words[i], words[i + 1] as usize);
            match opcode {
                0 => {
                    out.extend_from_slice(words.get(i + 2..i + 2 + n)?);
                    i += 2 + n;
                }
                1 => {
                    let y1 = f64::from(*words.get(i + 2)?);
                    let y0 = f64::from(*out.last()?);
                    out.extend((1..=n).map(|k| (y0 + (y1 - y0) * k as f64 / n as f64).round() as u16));
                    i += 3;
                }
                2 if depth < 8 => {
                    let offset = (*words.get(i + 2)? as usize) | ((*words.get(i + 3)? as usize) << 16);
                    // n segments from `offset` (in words from the start).
                    let mut at = offset;
                    for _ in 0..n {
                        let len = match *words.get(at)? {
                            0 => 2 + *words.get(at + 1)? as usize,
                            1 => 3,
                            _ => 4,
                        };
                        run(words.get(at..at + len)?, out, depth + 1, limit)?;
                        at += len;
                    }
                    i += 4;
                }
                _ => return None,
            }
        }
        Some(())
    }
    let mut out = Vec::with_capacity(entries);
    run(words, &mut out, 0, entries * 2)?;
    out.truncate(entries);
    (!out.is_empty()).then_some(out)
}

/// A PALETTE COLOR image whose LUT data is bulk data (too long for the
/// metadata): read it from the stored object.
fn resolve_palette(
    info: &mut PixelInfo,
    json: &Map<String, Json>,
    object: impl FnOnce() -> Result<Vec<u8>, RetrieveError>,
) -> Result<(), RetrieveError> {
    if info.photometric_interpretation != "PALETTE COLOR" || info.palette.is_some() {
        return Ok(());
    }
    let object = object()?;
    let parsed = Parsed::new(&object)?;
    info.palette = palette(json, |tag| {
        let element = find_path(&parsed.tree, tag)?;
        let mut bytes = parsed.slice(element.offset, element.len as u64).to_vec();
        if parsed.enc.big_endian {
            swap_to_le(b"OW", &mut bytes);
        }
        Some(bytes)
    });
    Ok(())
}

/// Rescale (Pixel Value Transformation Sequence) and window (Frame VOI LUT
/// Sequence) of one functional groups item.
fn frame_transform(item: &Map<String, Json>) -> FrameTransform {
    let first_item = |tag: &str| item.get(tag)?.get("Value")?.get(0)?.as_object();
    let numbers = |m: &Map<String, Json>, tag: &str| -> Vec<f64> {
        m.get(tag)
            .and_then(|e| e.get("Value"))
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_f64).collect())
            .unwrap_or_default()
    };
    let mut t = FrameTransform::default();
    if let Some(pvt) = first_item("00289145")
        && let (Some(&slope), Some(&intercept)) = (numbers(pvt, "00281053").first(), numbers(pvt, "00281052").first())
    {
        t.rescale = Some((slope, intercept));
    }
    if let Some(voi) = first_item("00289132") {
        let windows: Vec<(f64, f64)> =
            numbers(voi, "00281050").into_iter().zip(numbers(voi, "00281051")).filter(|(_, w)| *w > 0.0).collect();
        if !windows.is_empty() {
            t.windows = Some(windows);
        }
        t.voi_lut_function =
            voi.get("00281056").and_then(|e| e.get("Value")).and_then(|v| v.get(0)).and_then(Json::as_str).map(str::to_string);
    }
    t
}

/// A LUT from a descriptor and inline data (bulk LUT data is not resolved).
fn lut(item: &Map<String, Json>, descriptor: &str, data: &str) -> Option<Lut> {
    Some(Lut { descriptor: lut_descriptor(item, descriptor)?, data: lut_words(item, data, &|_| None)? })
}

/// A LUT Descriptor's three values; a signed first mapped value keeps its
/// 16 bits (rendering reads it back as signed for signed pixel data).
fn lut_descriptor(item: &Map<String, Json>, tag: &str) -> Option<[u32; 3]> {
    let d: Vec<u32> = item.get(tag)?.get("Value")?.as_array()?.iter().filter_map(|v| v.as_i64().map(|v| v as u16 as u32)).collect();
    d.get(..3)?.try_into().ok()
}

/// LUT data as 16-bit words: listed values, inline binary, or what `bulk`
/// reads (little endian) for a bulk data attribute.
fn lut_words(item: &Map<String, Json>, tag: &str, bulk: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<Vec<u16>> {
    let e = item.get(tag)?;
    if let Some(values) = e.get("Value").and_then(Json::as_array) {
        return Some(values.iter().filter_map(|v| v.as_u64().map(|v| v as u16)).collect());
    }
    let bytes = match e.get("InlineBinary").and_then(Json::as_str) {
        Some(b64) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b64).ok()?
        }
        None => bulk(tag)?,
    };
    Some(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, RetrieveError> + Send + 'static) -> Result<T, RetrieveError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await.map_err(|e| RetrieveError::Store(format!("task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C.7.9.2: discrete, linear and indirect segments.
    #[test]
    fn segmented_palettes_expand() {
        // 0..=3 discrete, then linear to 9 over 3 entries, then the first
        // two segments again (indirect: 2 segments at word offset 0).
        let words = [0, 4, 0, 1, 2, 3, 1, 3, 9, 2, 2, 0, 0];
        assert_eq!(expand_segmented(&words, 20).unwrap(), vec![0, 1, 2, 3, 5, 7, 9, 0, 1, 2, 3, 5, 7, 9]);
        assert_eq!(expand_segmented(&words, 5).unwrap(), vec![0, 1, 2, 3, 5]);
        assert_eq!(expand_segmented(&[7, 1, 1], 4), None, "unknown opcode");
    }

    /// An enhanced multi-frame object: rescale from the shared functional
    /// groups, a window per frame.
    #[test]
    fn functional_groups_give_each_frame_its_rescale_and_window() {
        let json: Map<String, Json> = serde_json::from_value(serde_json::json!({
            "00280010": {"vr": "US", "Value": [2]}, "00280011": {"vr": "US", "Value": [2]},
            "00280008": {"vr": "IS", "Value": [3]},
            "52009229": {"vr": "SQ", "Value": [{"00289145": {"vr": "SQ", "Value": [{"00281052": {"vr": "DS", "Value": [-1024]}, "00281053": {"vr": "DS", "Value": [1]}}]}}]},
            "52009230": {"vr": "SQ", "Value": [
                {"00289132": {"vr": "SQ", "Value": [{"00281050": {"vr": "DS", "Value": [40]}, "00281051": {"vr": "DS", "Value": [400]}}]}},
                {"00289132": {"vr": "SQ", "Value": [{"00281050": {"vr": "DS", "Value": [-600, 300]}, "00281051": {"vr": "DS", "Value": [1500, 1800]}}]},
                 "00289145": {"vr": "SQ", "Value": [{"00281052": {"vr": "DS", "Value": [-1000]}, "00281053": {"vr": "DS", "Value": [2]}}]}},
                {}
            ]}
        }))
        .unwrap();
        let info = pixel_info(&json).unwrap();
        assert_eq!((info.rescale_slope, info.rescale_intercept), (1.0, -1024.0), "shared groups stand in for the top level");
        let first = info.for_frame(0);
        assert_eq!(first.windows, vec![(40.0, 400.0)]);
        let second = info.for_frame(1);
        assert_eq!(second.windows, vec![(-600.0, 1500.0), (300.0, 1800.0)]);
        assert_eq!((second.rescale_slope, second.rescale_intercept), (2.0, -1000.0));
        let third = info.for_frame(2);
        assert_eq!(
            (third.rescale_intercept, third.windows.clone()),
            (-1024.0, vec![]),
            "a frame without its own values keeps the shared ones"
        );
        assert_eq!(info.for_frame(7).windows, info.windows, "frames past the sequence keep the instance's values");
    }
}
