//! Walker tests: structure, truncation, garbage, limits.

use super::*;
use std::io::Cursor;

fn el_le(tag: u32, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((tag >> 16) as u16).to_le_bytes());
    v.extend_from_slice(&(tag as u16).to_le_bytes());
    v.extend_from_slice(vr);
    v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    v.extend_from_slice(value);
    v
}

fn walk_bytes(bytes: &[u8], enc: DatasetEncoding) -> Result<Extracted, WalkError> {
    let mut src = SeekSource::new(Cursor::new(bytes), bytes.len() as u64).unwrap();
    walk(&mut src, enc, &|t| t == 0x0010_0010)
}

fn sample() -> Vec<u8> {
    let mut d = el_le(0x0008_0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
    d.extend(el_le(0x0010_0010, b"PN", b"Wang^Wei"));
    // encapsulated pixel data: offset table item + one fragment + delimiter
    d.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4]);
    d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    d
}

#[test]
fn extracts_wanted_values_and_walks_encapsulated_pixel_data() {
    let out = walk_bytes(&sample(), DatasetEncoding::EXPLICIT_LE).unwrap();
    assert_eq!(out.values.get(&0x0010_0010).unwrap(), b"Wang^Wei");
    assert_eq!(out.values.len(), 1);
    assert_eq!(out.elements, 3);
    assert!(out.has_pixel_data);
}

#[test]
fn every_truncation_point_is_detected() {
    let full = sample();
    for cut in 1..full.len() {
        let r = walk_bytes(&full[..cut], DatasetEncoding::EXPLICIT_LE);
        // Cutting exactly between two top-level elements is a valid,
        // shorter dataset; anywhere else must fail.
        let boundary = [26usize + 8, 26 + 8 + 16].contains(&cut);
        assert_eq!(r.is_ok(), boundary, "cut at {cut}: {r:?}");
    }
}

#[test]
fn undefined_length_sequences_nest() {
    let mut d = Vec::new();
    // (0008,1115) SQ, undefined length, one item of undefined length
    d.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    d.extend(el_le(0x0020_000E, b"UI", b"1.2.3\0"));
    d.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
    d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    d.extend(el_le(0x0010_0010, b"PN", b"Li^Na"));
    let out = walk_bytes(&d, DatasetEncoding::EXPLICIT_LE).unwrap();
    assert_eq!(out.values[&0x0010_0010], b"Li^Na");
    assert_eq!(out.elements, 2);
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..2000 {
        let len = (seed % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        for enc in [DatasetEncoding::IMPLICIT_LE, DatasetEncoding::EXPLICIT_LE, DatasetEncoding::EXPLICIT_BE] {
            let _ = walk_bytes(&bytes, enc);
        }
    }
}

fn walk_tree(bytes: &[u8], limits: WalkLimits) -> Result<Extracted, WalkError> {
    let mut src = SeekSource::new(Cursor::new(bytes), bytes.len() as u64).unwrap();
    walk_collect(&mut src, DatasetEncoding::EXPLICIT_LE, &Collect { wanted: &|_| false, tree: true, is_sequence: &|_| false, limits })
}

/// `n` private two-byte elements: the tiny-element attack in small.
fn tiny_elements(n: u32) -> Vec<u8> {
    (0..n).flat_map(|i| el_le(0x0009_1000 + (i & 0xFF), b"US", &[1, 0])).collect()
}

#[test]
fn elements_past_the_limit_are_refused() {
    let limits = WalkLimits { max_elements: 1000, ..WalkLimits::DEFAULT };
    assert_eq!(walk_tree(&tiny_elements(1000), limits).unwrap().tree.len(), 1000);
    assert!(matches!(walk_tree(&tiny_elements(1001), limits), Err(WalkError::Limit(m)) if m.contains("max_elements")));
    // Counted at every depth: one sequence of 1000 items of one element.
    let mut d = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    for _ in 0..1000 {
        d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 10, 0, 0, 0]);
        d.extend(el_le(0x0008_0100, b"SH", b"AB"));
    }
    d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    assert!(matches!(walk_tree(&d, limits), Err(WalkError::Limit(_))));
    assert!(walk_tree(&d, WalkLimits::DEFAULT).is_ok());
}

#[test]
fn retained_bytes_past_the_limit_are_refused() {
    // 20 values of 60 KB: 1.2 MB held.
    let big: Vec<u8> = (0..20).flat_map(|i| el_le(0x0009_1000 + i, b"LO", &[b'x'; 60_000])).collect();
    let limits = WalkLimits { max_retained_bytes: 1 << 20, ..WalkLimits::DEFAULT };
    assert!(matches!(walk_tree(&big, limits), Err(WalkError::Limit(m)) if m.contains("max_retained_bytes")));
    let out = walk_tree(&big, WalkLimits::DEFAULT).unwrap();
    assert!(out.peak_retained_bytes >= 1_200_000, "{}", out.peak_retained_bytes);
}

#[test]
fn nesting_past_the_limit_is_refused() {
    // `levels` undefined-length sequences, each in the one item of the last.
    let nested = |levels: usize| {
        let mut d = Vec::new();
        for _ in 0..levels {
            d.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
            d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        for _ in 0..levels {
            d.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        d
    };
    let limits = WalkLimits { max_depth: 8, ..WalkLimits::DEFAULT };
    assert!(walk_tree(&nested(8), limits).is_ok());
    assert!(matches!(walk_tree(&nested(9), limits), Err(WalkError::Limit(m)) if m.contains("max_depth")));
    // A configured depth beyond the stack-safe one is not honoured.
    let deep = WalkLimits { max_depth: 10_000, ..WalkLimits::DEFAULT };
    assert!(matches!(walk_tree(&nested(MAX_DEPTH + 1), deep), Err(WalkError::Limit(_))));
}

#[test]
fn capped_readers_stop_past_their_limit() {
    use std::io::Read;
    let mut ok = Vec::new();
    Capped::new(&[7u8; 100][..], 100).read_to_end(&mut ok).unwrap();
    assert_eq!(ok.len(), 100);
    let e = Capped::new(&[7u8; 101][..], 100).read_to_end(&mut Vec::new()).unwrap_err();
    assert!(is_too_long(&e), "{e}");
}
