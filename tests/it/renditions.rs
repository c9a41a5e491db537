//! Renditions made after ingest by the job queue: thumbnails and previews
//! in the object store, served by DICOMweb; the queue survives SIGKILL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::*;

fn http_bytes(port: u16, path: &str) -> (u16, Vec<u8>) {
    http_bytes_accepting(port, path, "image/jpeg")
}

fn http_bytes_accepting(port: u16, path: &str, accept: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&all[..split]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, all[split + 4..].to_vec())
}

/// Each (served multipart body, lossless copy) pair: the one part is the
/// copy's first frame, byte for byte, labelled HTJ2K.
const SERVED_IS_COPY_FRAME: &str = r#"
import sys, pydicom
from pydicom.encaps import generate_frames
args = sys.argv[1:]
for served, copy in zip(args[::2], args[1::2]):
    body = open(served, "rb").read().lstrip(b"\r\n")  # an empty preamble may come first
    boundary = body.split(b"\r\n", 1)[0]
    head, rest = body[len(boundary) + 2:].split(b"\r\n\r\n", 1)
    assert b"transfer-syntax=1.2.840.10008.1.2.4.201" in head, head
    part = rest[: rest.index(b"\r\n" + boundary)]
    ds = pydicom.dcmread(copy)
    first = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
    assert part == first, f"{served}: {len(part)} bytes served, the copy's frame has {len(first)}"
"#;

const NOT_BLANK: &str = r#"
import sys, io
from PIL import Image, ImageStat
for path in sys.argv[2:]:
    im = Image.open(path)
    assert im.format == "JPEG", path
    assert max(im.size) <= int(sys.argv[1]), (path, im.size)
    sd = max(ImageStat.Stat(im.convert("L")).stddev[0], 0)
    assert sd > 2, f"{path} looks blank (stddev {sd:.2f})"
"#;

const SAME_PIXELS: &str = r#"
import sys, numpy, pydicom
LOSSY = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91")
args = sys.argv[1:]
for original, copy in zip(args[::2], args[1::2]):
    a, b = pydicom.dcmread(original), pydicom.dcmread(copy)
    assert b.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201", copy
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.PatientID == b.PatientID
    # pydicom returns JPEG baseline YBR_FULL_422 as RGB, like our decoder.
    x, y = a.pixel_array.astype("i8"), b.pixel_array.astype("i8")
    # Lossy originals: two decoders may differ (chroma upsampling of 8-bit
    # colour JPEG most: libjpeg-turbo vs pylibjpeg-libjpeg).
    ts = a.file_meta.TransferSyntaxUID
    tol = 16 if ts == "1.2.840.10008.1.2.4.50" else 3 if ts in LOSSY else 0
    assert x.shape == y.shape, (original, x.shape, y.shape)
    d = int(numpy.abs(x - y).max())
    assert d <= tol, f"{original}: the lossless copy differs by up to {d}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn every_image_gets_a_thumbnail_and_previews_served_as_dicomweb_renders_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, None);
    let files = testdata_files();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    let counts = wait_for_jobs(&index, Duration::from_secs(120)).await;
    assert_eq!(counts.parked, 0, "{:?}", index.parked_jobs(10).await.unwrap());
    assert_eq!(counts.done as usize, files.len(), "one job per instance with pixels");

    let mut thumbnails = Vec::new();
    let mut copies = Vec::new();
    let mut served_frames = Vec::new();
    let mut eligible = 0;
    for f in &files {
        let (meta, _) = part10(f);
        let stored = index.instance(&meta.sop_instance_uid).await.unwrap().unwrap();
        let renditions = index.renditions_of(&meta.sop_instance_uid).await.unwrap();
        let name = f.file_name().unwrap().to_string_lossy();
        if name.starts_with("video_") {
            assert!(renditions.is_empty(), "{name}: videos get no still renditions");
            continue;
        }
        let thumbs: Vec<_> = renditions.iter().filter(|r| r.kind == "thumbnail").collect();
        let previews: Vec<_> = renditions.iter().filter(|r| r.kind == "preview").collect();
        assert_eq!(thumbs.len(), 1, "{name}");
        assert!(!previews.is_empty(), "{name}");
        let base = format!(
            "/dicom-web/studies/{}/series/{}/instances/{}",
            stored.study_instance_uid, stored.series_instance_uid, stored.sop_instance_uid
        );
        // Served from the store: the thumbnail route returns the stored object.
        let (status, body) = http_bytes(server.http_port, &format!("{base}/thumbnail"));
        assert_eq!(status, 200, "{name}");
        assert!(body == server.read_object(&thumbs[0].object_key), "{name}: thumbnail is the stored one");
        // And it is exactly what rendering on demand gives (same window,
        // size and quality): a query string forces rendering.
        let (_, rendered) = http_bytes(server.http_port, &format!("{base}/thumbnail?quality=90"));
        assert!(rendered == body, "{name}: stored thumbnail differs from the on-demand rendering");
        for p in &previews {
            let (status, body) = http_bytes(server.http_port, &format!("{base}/frames/{}/rendered", p.frame));
            assert_eq!(status, 200);
            let (_, rendered) = http_bytes(server.http_port, &format!("{base}/frames/{}/rendered?quality=90", p.frame));
            assert!(body == rendered, "{name}: preview of frame {} differs from the on-demand rendering", p.frame);
            assert_eq!(body.len() as i64, p.size_bytes);
        }
        thumbnails.push(server.copy_object_to(&thumbs[0].object_key, &tmp.path().join("objects")));
        let lossless: Vec<_> = renditions.iter().filter(|r| r.kind == "lossless").collect();
        if stored.transfer_syntax_uid == "1.2.840.10008.1.2.4.201" {
            assert!(lossless.is_empty(), "{name}: an HTJ2K lossless original is its own copy");
        } else {
            // Every other image gets one (issue 28: openjph-core's packet
            // headers made some copies unreadable, and they were dropped).
            eligible += 1;
            assert_eq!(lossless.len(), 1, "{name}: one lossless HTJ2K copy");
            let copy = lossless[0];
            copies.push(f.clone());
            let copy_file = server.copy_object_to(&copy.object_key, &tmp.path().join("objects"));
            copies.push(copy_file.clone());
            // Asked for by name, frames come from the copy.
            let accept = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.201";
            let (status, body) = http_bytes_accepting(server.http_port, &format!("{base}/frames/1"), accept);
            assert_eq!(status, 200, "{name}: HTJ2K frames");
            let served = tmp.path().join("served").join(format!("{name}.multipart"));
            std::fs::create_dir_all(served.parent().unwrap()).unwrap();
            std::fs::write(&served, body).unwrap();
            served_frames.push(served);
            served_frames.push(copy_file);
        }
    }
    run(python().args(["-c", NOT_BLANK, "128"]).args(&thumbnails));
    // The copies hold the original's pixels (as decoded, for lossy originals).
    eprintln!("lossless HTJ2K copies: {} of {eligible} images that are not HTJ2K lossless already", copies.len() / 2);
    assert_eq!(copies.len() / 2, eligible);
    run(python().args(["-c", SAME_PIXELS]).args(&copies));
    run(python().args(["-c", SERVED_IS_COPY_FRAME]).args(&served_frames));

    let metrics = http_get(server.http_port, "/metrics").unwrap().1;
    assert!(metrics.contains("yunying_rendition_jobs{state=\"pending\"} 0"), "{metrics}");
    assert!(metrics.contains("yunying_renditions_completed_total"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_with_queued_jobs_then_restart_completes_each_job_once() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 120, 512, 5);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&series));
    let mut server = Server::start(&data, None);
    let index = server.index().await;
    // Kill once some, not all, jobs are done.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let c = index.job_counts().await.unwrap();
        if c.done >= 5 {
            assert!(c.done < 120, "the kill must land while jobs are queued ({c:?})");
            break;
        }
        assert!(Instant::now() < deadline, "no rendition progress: {c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    drop(index);

    // The restarted node takes back the jobs its killed process held at once
    // (not after their 5-minute leases).
    let server = Server::start(&data, None);
    let index = server.index().await;
    let counts = wait_for_jobs(&index, Duration::from_secs(120)).await;
    assert_eq!((counts.done, counts.parked), (120, 0));
    let mut keys = HashSet::new();
    for f in files_under(&series) {
        let (meta, _) = part10(&f);
        let r = index.renditions_of(&meta.sop_instance_uid).await.unwrap();
        assert_eq!(r.iter().filter(|r| r.kind == "thumbnail").count(), 1);
        assert_eq!(r.iter().filter(|r| r.kind == "preview").count(), 1);
        for r in r {
            let bytes = server.read_object(&r.object_key);
            assert_eq!(bytes.len() as i64, r.size_bytes, "object and row agree");
            if r.kind == "lossless" {
                assert_eq!(&bytes[128..132], b"DICM", "a Part 10 lossless copy");
            } else {
                assert!(bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9]), "a whole JPEG");
            }
            keys.insert(r.object_key);
        }
    }
    // No object beyond those recorded: no duplicates, no leftovers.
    let stored: HashSet<String> = server.object_keys("renditions/").into_iter().collect();
    assert_eq!(stored, keys);
}

/// Every file of testdata/ and of pydicom's test data (its bundled files and
/// the pydicom-data package) that pydicom decodes: Yunying's decoded frames
/// match pydicom's within each codec's tolerance, and each gets a thumbnail
/// and a preview that are not blank and follow the dataset's window
/// (tests/py/decode_coverage.py states the checks and tolerances).
#[tokio::test(flavor = "multi_thread")]
async fn decode_coverage_against_pydicom() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let script = format!("{ROOT}/tests/py/decode_coverage.py");
    let collected = run(python().arg(&script).arg("--collect").arg(&kept));
    eprintln!("{}", String::from_utf8_lossy(&collected.stdout));
    let manifest: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(kept.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.len() >= 100, "pydicom's test files and pydicom-data should give over 100 images: {}", manifest.len());

    // Not asserted here: a file Yunying refuses is reported by the script
    // (its frames are not found).
    let data = tmp.path().join("data");
    let files: Vec<_> = manifest.iter().map(|k| kept.join(k["file"].as_str().unwrap())).collect();
    let imported = cli(&data).args(["import", "--quiet"]).args(&files).output().unwrap();
    eprintln!("{}{}", String::from_utf8_lossy(&imported.stdout), String::from_utf8_lossy(&imported.stderr));

    let log = tmp.path().join("server.log");
    let server = Server::start_with_log(&data, None, Some(&log));
    let index = server.index().await;
    let counts = wait_for_jobs(&index, Duration::from_secs(1200)).await;
    eprintln!("rendition jobs: {counts:?}");
    lossless_copies_of_every_image_the_encoder_takes(&index, &manifest, &std::fs::read_to_string(&log).unwrap()).await;
    let parked: std::collections::HashMap<String, String> =
        index.parked_jobs(10_000).await.unwrap().into_iter().map(|p| (p.sop_instance_uid, p.error)).collect();
    let mut renditions = serde_json::Map::new();
    for k in &manifest {
        let sop = k["sop"].as_str().unwrap();
        let r = index.renditions_of(sop).await.unwrap();
        renditions.insert(
            sop.to_string(),
            serde_json::json!({
                "thumbnails": r.iter().filter(|r| r.kind == "thumbnail").count(),
                "previews": r.iter().filter(|r| r.kind == "preview").map(|r| r.frame).collect::<Vec<_>>(),
                "parked": parked.get(sop),
            }),
        );
    }
    let rendition_file = kept.join("renditions.json");
    std::fs::write(&rendition_file, serde_json::Value::Object(renditions).to_string()).unwrap();

    let out = python()
        .arg(&script)
        .arg("--url")
        .arg(format!("http://127.0.0.1:{}/dicom-web", server.http_port))
        .arg("--dir")
        .arg(&kept)
        .arg("--renditions")
        .arg(&rendition_file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(imported.status.success(), "yunying import failed for some files (see above)");
    assert!(out.status.success(), "decode coverage failures:\n{}", report.split("FAILED:").nth(1).unwrap_or(&report));
}

/// Issue 28 on pydicom's corpus: every instance that is not HTJ2K lossless
/// already and whose samples the encoder takes (8 or 16 bits, 1 or 3
/// samples) has its lossless copy; a dropped copy would have logged a WARN
/// line with its SOP Instance UID, and no line says so at ERROR.
async fn lossless_copies_of_every_image_the_encoder_takes(index: &yunying_index::Index, manifest: &[serde_json::Value], log: &str) {
    let (mut copied, mut originals, mut dropped) = (0, 0, Vec::new());
    for k in manifest {
        let sop = k["sop"].as_str().unwrap();
        if k["ts"].as_str() == Some("1.2.840.10008.1.2.4.201") {
            originals += 1;
        } else if index.renditions_of(sop).await.unwrap().iter().any(|r| r.kind == "lossless") {
            copied += 1;
        } else if let Some(line) = log.lines().find(|l| l.contains(sop) && l.contains("did not decode back")) {
            assert!(line.contains("WARN"), "a dropped copy is a WARN line: {line}");
            dropped.push(line.to_string());
        }
    }
    let refused = manifest.len() - copied - originals - dropped.len();
    eprintln!(
        "lossless HTJ2K copies: {copied} of {} images the encoder takes; {originals} HTJ2K originals, {refused} the encoder does not take",
        copied + dropped.len()
    );
    assert!(dropped.is_empty(), "{} copies did not round-trip:\n{}", dropped.len(), dropped.join("\n"));
    assert!(copied >= 100, "pydicom's corpus has over 100 images the encoder takes: {copied}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") && l.contains("jpeg2k")).collect();
    assert!(errors.is_empty(), "OpenJPEG's messages logged at ERROR:\n{}", errors.join("\n"));
}

/// The HTJ2K fixture with, as its frame, the codestream openjph-core 0.1.0
/// wrote for ct_rle.dcm (testdata/j2k/): argv[1] the output file.
const WITH_UNREADABLE_CODESTREAM: &str = r#"
import sys, pydicom
from pydicom.encaps import encapsulate
root = sys.argv[2]
ds = pydicom.dcmread(root + "/testdata/dicom/ct_htj2k_lossless.dcm")
ds.PixelData = encapsulate([open(root + "/testdata/j2k/ct_rle_openjph_core_0.1.0_extra_header_byte.j2c", "rb").read()])
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1467.3.1.1.99"
ds.save_as(sys.argv[1], enforce_file_format=True)
"#;

/// Issue 28, logging: a frame OpenJPEG rejects parks its job with what
/// OpenJPEG said, in one WARN line with the SOP Instance UID; the server's
/// log has no `ERROR jpeg2k::codec` line (the codec's messages are taken
/// off the log during the decode, through the binary's log bridge).
#[tokio::test(flavor = "multi_thread")]
async fn a_frame_openjpeg_rejects_is_parked_with_its_messages_and_logs_no_codec_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("unreadable.dcm");
    run(python().args(["-c", WITH_UNREADABLE_CODESTREAM]).arg(&file).arg(ROOT));
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&file));
    let log = tmp.path().join("server.log");
    let server = Server::start_with_log(&data, None, Some(&log));
    let index = server.index().await;
    let counts = wait_for_jobs(&index, Duration::from_secs(120)).await;
    assert_eq!(counts.parked, 1, "{counts:?}");
    let parked = index.parked_jobs(10).await.unwrap();
    assert!(parked[0].error.contains("Malformed HT codeblock"), "OpenJPEG's message in the job's error: {}", parked[0].error);
    let log = std::fs::read_to_string(&log).unwrap();
    let sop = "1.2.826.0.1.3680043.10.1467.3.1.1.99";
    let line = log.lines().find(|l| l.contains("rendition job parked")).expect("a parked-job line");
    assert!(line.contains("WARN") && line.contains(sop) && line.contains("Malformed HT codeblock"), "{line}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "ERROR lines:\n{}", errors.join("\n"));
    drop(server);
}
