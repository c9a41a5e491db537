//! Hostile instances from the security review: each attack is performed
//! against the real server and the secure outcome asserted (status, nothing
//! stored, bounded memory, service goes on).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use yunying_archive::meta::FileMeta;

use crate::harness::*;

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
/// What the server may reach at its peak, whatever it was sent.
const PEAK_RSS: u64 = 300 << 20;

/// An explicit VR little endian element (short or long form by VR).
fn element(out: &mut Vec<u8>, tag: u32, vr: &[u8; 2], value: &[u8]) {
    out.extend(((tag >> 16) as u16).to_le_bytes());
    out.extend((tag as u16).to_le_bytes());
    out.extend(vr);
    if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN") {
        out.extend([0, 0]);
        out.extend((value.len() as u32).to_le_bytes());
    } else {
        out.extend((value.len() as u16).to_le_bytes());
    }
    out.extend(value);
}

fn padded(text: &str, pad: u8) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    v
}

/// The identifying elements of a CT instance, in tag order, up to group 0020.
fn identity(study: &str, series: &str, sop: &str) -> Vec<u8> {
    let mut d = Vec::new();
    element(&mut d, 0x0008_0016, b"UI", &padded(CT_IMAGE_STORAGE, 0));
    element(&mut d, 0x0008_0018, b"UI", &padded(sop, 0));
    element(&mut d, 0x0008_0060, b"CS", b"CT");
    element(&mut d, 0x0010_0010, b"PN", b"Attack^Test ");
    element(&mut d, 0x0010_0020, b"LO", b"SEC-1 ");
    element(&mut d, 0x0020_000D, b"UI", &padded(study, 0));
    element(&mut d, 0x0020_000E, b"UI", &padded(series, 0));
    d
}

/// Part 10 bytes: meta (naming `sop`) and data set.
fn part10_file(dir: &Path, name: &str, sop: &str, ts: &str, dataset: &[u8]) -> PathBuf {
    let meta = FileMeta {
        sop_class_uid: CT_IMAGE_STORAGE.into(),
        sop_instance_uid: sop.into(),
        transfer_syntax_uid: ts.into(),
        source_ae: String::new(),
        provenance: None,
    };
    let path = dir.join(name);
    let mut bytes = meta.encode();
    bytes.extend_from_slice(dataset);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// C-STORE each file's bytes as they are (pynetdicom's chunked mode reads
/// only the file meta, so nothing here parses the hostile data sets), one
/// association; (status, comment) per file. UIDs are not validated on our
/// side: the server must.
fn c_store_raw(port: u16, files: &[PathBuf]) -> Vec<(u64, String)> {
    const SCRIPT: &str = r#"
import json, sys
from pynetdicom import AE, _config
_config.STORE_SEND_CHUNKED_DATASET = True
_config.LOG_HANDLER_LEVEL = "none"
_config.VALIDATORS["UI"] = lambda value: (True, "")
from pydicom.filereader import read_file_meta_info
files = sys.argv[2:]
metas = [read_file_meta_info(f) for f in files]
ae = AE(ae_title="ATTACKER")
ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
for ts in sorted({str(m.TransferSyntaxUID) for m in metas}):
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ts)
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="YUNYING")
assert assoc.is_established
for i, f in enumerate(files):
    try:
        rsp = assoc.send_c_store(f, msg_id=i + 1)
        status = int(rsp.Status) if rsp is not None and "Status" in rsp else None
        comment = str(rsp.get("ErrorComment", "")) if rsp is not None else ""
    except Exception as e:
        status, comment = None, f"{type(e).__name__}: {e}"
    print(json.dumps({"status": status, "comment": comment}), flush=True)
assoc.release()
"#;
    let out = run(python().arg("-c").arg(SCRIPT).arg(port.to_string()).args(files));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["status"].as_u64().unwrap_or(u64::MAX), v["comment"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// STOW-RS of one Part 10 file: (HTTP status, JSON body).
fn stow(port: u16, file: &Path) -> (u16, serde_json::Value) {
    let (status, body) = stow_file(port, file, &[]);
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// GET with an Accept header: (status, body, time taken).
fn get(port: u16, path: &str, accept: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body, started.elapsed())
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Nothing of a refused instance anywhere: index, store, spool.
async fn assert_only_good_one_stored(server: &Server, good: &Path) {
    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, 1);
    assert!(index.instance(&part10(good).0.sop_instance_uid).await.unwrap().is_some(), "the good instance is stored");
    assert_eq!(server.object_keys("originals/").len(), 1, "no object of a refused instance");
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    assert!(files_under(&server.spool_dir()).is_empty(), "no spool file left: {:?}", files_under(&server.spool_dir()));
}

/// Review item 7: 30 MB of three million two-byte elements (and the same
/// deflated to a few megabytes) drove the server to 3.2 GB.
#[tokio::test(flavor = "multi_thread")]
async fn tiny_element_data_sets_are_refused_with_a700_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tiny = Vec::with_capacity(30_000_000);
    for i in 0..3_000_000u32 {
        // Unique private tags, ascending, in odd groups from 0021.
        let tag = ((0x0021 + 2 * (i / 0xFF00)) << 16) | (0x0100 + i % 0xFF00);
        element(&mut tiny, tag, b"US", &[1, 0]);
    }
    assert!(tiny.len() >= 30_000_000);
    let (study, series) = ("1.2.826.0.1.3680043.10.1467.99.1", "1.2.826.0.1.3680043.10.1467.99.2");
    let with_identity = |sop: &str| [identity(study, series, sop), tiny.clone()].concat();
    let sop = "1.2.826.0.1.3680043.10.1467.99.3";
    let plain = part10_file(tmp.path(), "tiny.dcm", sop, EXPLICIT_LE, &with_identity(sop));
    let sop = "1.2.826.0.1.3680043.10.1467.99.4";
    let deflated = deflate(&with_identity(sop));
    assert!(deflated.len() < 5_000_000, "{} bytes deflated", deflated.len());
    let deflated = part10_file(tmp.path(), "tiny-deflated.dcm", sop, DEFLATED, &deflated);
    drop(tiny);
    let ct = tmp.path().join("ct");
    gen_ct(&ct, 1, 32, 71);
    let good = files_under(&ct)[0].clone();

    let server = Server::start(&tmp.path().join("data"), None);
    let before = server.peak_rss();
    let lines = c_store_raw(server.dicom_port, &[plain.clone(), deflated.clone(), good.clone()]);
    let peak = server.peak_rss();
    eprintln!("tiny elements: server peak RSS {} MB (from {} MB at start)", peak >> 20, before >> 20);
    assert!(peak < PEAK_RSS, "peak RSS {} MB (from {} MB at start): {lines:?}", peak >> 20, before >> 20);
    assert_eq!(lines[0].0, 0xA700, "{lines:?}");
    assert!(lines[0].1.contains("elements"), "{lines:?}");
    assert_eq!(lines[1].0, 0xA700, "deflated: {lines:?}");
    assert_eq!(lines[2].0, 0, "the good instance on the same association: {lines:?}");

    // STOW-RS gets the same failure.
    let (status, body) = stow(server.http_port, &deflated);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["00081198"]["Value"][0]["00081197"]["Value"][0], 0xA700, "{body}");
    assert!(server.peak_rss() < PEAK_RSS);
    assert_only_good_one_stored(&server, &good).await;
}

/// A CT whose pixel data is one JPEG baseline frame declaring 65500 x
/// 65500, as the data set does: the 880-byte bomb.
fn jpeg_bomb(dir: &Path) -> PathBuf {
    let mut d = identity("1.2.826.0.1.3680043.10.1467.98.1", "1.2.826.0.1.3680043.10.1467.98.2", "1.2.826.0.1.3680043.10.1467.98.3");
    element(&mut d, 0x0028_0002, b"US", &1u16.to_le_bytes());
    element(&mut d, 0x0028_0004, b"CS", b"MONOCHROME2 ");
    element(&mut d, 0x0028_0010, b"US", &65500u16.to_le_bytes());
    element(&mut d, 0x0028_0011, b"US", &65500u16.to_le_bytes());
    for (tag, v) in [(0x0028_0100, 8u16), (0x0028_0101, 8), (0x0028_0102, 7), (0x0028_0103, 0)] {
        element(&mut d, tag, b"US", &v.to_le_bytes());
    }
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xDB, 0, 67, 0];
    jpeg.extend([1u8; 64]);
    jpeg.extend([0xFF, 0xC0, 0, 11, 8, 0xFF, 0xDC, 0xFF, 0xDC, 1, 1, 0x11, 0]);
    jpeg.extend([0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    jpeg.extend([0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    jpeg.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    jpeg.extend([0u8; 400]);
    jpeg.extend([0xFF, 0xD9]);
    d.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    d.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    d.extend([0xFE, 0xFF, 0x00, 0xE0]);
    d.extend((jpeg.len() as u32).to_le_bytes());
    d.extend(&jpeg);
    d.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    part10_file(dir, "bomb.dcm", "1.2.826.0.1.3680043.10.1467.98.3", JPEG_BASELINE, &d)
}

/// Review item 8: 4.2 GB on each of five rendition attempts and on each
/// `…/rendered` request.
#[tokio::test(flavor = "multi_thread")]
async fn a_decompression_bomb_is_parked_at_once_and_rendering_it_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = jpeg_bomb(tmp.path());
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1500);
    let server = Server::start(&tmp.path().join("data"), None);
    let lines = c_store_raw(server.dicom_port, std::slice::from_ref(&bomb));
    assert_eq!(lines[0].0, 0, "the archive keeps what it is sent: {lines:?}");
    let index = server.index().await;
    let counts = wait_for_jobs(&index, Duration::from_secs(60)).await;
    assert_eq!((counts.parked, counts.done), (1, 0), "{counts:?}");
    let parked = index.parked_jobs(10).await.unwrap();
    assert_eq!(parked[0].attempts, 1, "parked after one attempt, not retried: {parked:?}");
    assert!(parked[0].error.contains("too large"), "{parked:?}");

    let base = "/dicom-web/studies/1.2.826.0.1.3680043.10.1467.98.1/series/1.2.826.0.1.3680043.10.1467.98.2/instances/1.2.826.0.1.3680043.10.1467.98.3";
    for (path, accept) in [
        (format!("{base}/rendered"), "image/jpeg"),
        (format!("{base}/frames/1/rendered"), "image/png"),
        (format!("{base}/thumbnail"), "image/jpeg"),
        (format!("{base}/frames/1"), "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1"),
    ] {
        let (status, body, took) = get(server.http_port, &path, accept);
        // Decoded frames are refused by whichever bound sees them first:
        // the response size (413, http.max_frames_bytes) or the pixel
        // limit (422); both before anything is decoded.
        let frames = path.ends_with("/frames/1");
        assert!(status == 422 || (frames && status == 413), "{path}: {status} {body}");
        assert!(body.contains("too large") || body.contains("max_frames_bytes"), "{path}: {body}");
        assert!(took < Duration::from_secs(2), "{path} took {took:?}");
    }
    let peak = server.peak_rss();
    eprintln!("bomb: server peak RSS {} MB", peak >> 20);
    assert!(peak < PEAK_RSS, "peak RSS {} MB", peak >> 20);
}

/// Review item: a SOP Instance UID `..` was stored. UIDs must follow the
/// grammar, over C-STORE and STOW-RS alike.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_uids_are_refused_over_c_store_and_stow() {
    let tmp = tempfile::tempdir().unwrap();
    let ct = tmp.path().join("ct");
    gen_ct(&ct, 1, 32, 72);
    let good = files_under(&ct)[0].clone();
    let (study, series, sop) = ("1.2.826.0.1.3680043.10.1467.97.1", "1.2.826.0.1.3680043.10.1467.97.2", "1.2.826.0.1.3680043.10.1467.97.3");
    let mut files = Vec::new();
    for (i, bad) in ["..", "1..2", "1.2.abc", ".1", "1.2.3."].into_iter().enumerate() {
        let cases = [(bad, series, sop), (study, bad, sop), (study, series, bad)];
        for (j, (st, se, so)) in cases.into_iter().enumerate() {
            files.push(part10_file(tmp.path(), &format!("bad-{i}-{j}.dcm"), so, EXPLICIT_LE, &identity(st, se, so)));
        }
    }
    let server = Server::start(&tmp.path().join("data"), None);
    let mut sent = files.clone();
    sent.push(good.clone());
    let lines = c_store_raw(server.dicom_port, &sent);
    for (file, (status, comment)) in files.iter().zip(&lines) {
        assert!(*status != 0 && *status >> 12 != 0xB, "{}: {status:#X} {comment}", file.display());
    }
    assert_eq!(lines.last().unwrap().0, 0, "the good instance after them: {lines:?}");
    for file in &files {
        let (status, body) = stow(server.http_port, file);
        assert_eq!(status, 409, "{}: {body}", file.display());
        assert_eq!(body["00081198"]["Value"][0]["00081197"]["Value"][0], 0xC000, "{}: {body}", file.display());
    }
    assert_only_good_one_stored(&server, &good).await;
}
