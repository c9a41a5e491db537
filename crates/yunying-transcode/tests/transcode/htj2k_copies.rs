//! Issue 28: lossless HTJ2K copies that always round-trip. openjph-core
//! 0.1.0 ended some packet headers with an extra 0x00 byte after an 0xFF
//! (vendor/openjph-core/PATCHES.md), so about 2% of CT slices got a
//! codestream OpenJPEG (and OpenJPH) read one byte off. Here: the copy of
//! every fixture and of the demo's generated CT series decodes back
//! exactly, through OpenJPEG (what renditions verify with) and through
//! pylibjpeg-openjpeg and OpenJPH (imagecodecs) where Python has them; and
//! a codestream OpenJPEG rejects gives OpenJPEG's messages in the error,
//! with no ERROR log line of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use dicom_dictionary_std::tags;
use yunying_transcode::{HTJ2K_LOSSLESS, PixelInfo, TranscodeError, decode_frame, encode_htj2k_lossless};

use crate::fixture::{self, pixel_info};

/// One frame to copy: its name, its Image Pixel module and its samples as
/// `decode_frame` gives them (native, little-endian).
struct Frame {
    name: String,
    info: PixelInfo,
    samples: Vec<u8>,
}

/// The outcome of copying a set of frames.
#[derive(Default)]
struct Count {
    copied: usize,
    exact: usize,
    failures: Vec<String>,
    /// (codestream, samples, info) of each copy, for the Python decoders.
    copies: Vec<(Vec<u8>, Vec<u8>, PixelInfo)>,
}

/// Encodes each frame and decodes it back with OpenJPEG.
fn copy_all(frames: &[Frame]) -> Count {
    let mut count = Count::default();
    for f in frames {
        let codestream = match encode_htj2k_lossless(&f.info, &f.samples) {
            Ok(c) => c,
            Err(TranscodeError::Unsupported(_)) => continue,
            Err(e) => panic!("{}: {e}", f.name),
        };
        count.copied += 1;
        match decode_frame(HTJ2K_LOSSLESS, &f.info, &codestream) {
            Ok(back) if stored(&f.info, &back.bytes) == stored(&f.info, &f.samples) => count.exact += 1,
            Ok(_) => count.failures.push(format!("{}: decodes to other samples", f.name)),
            Err(e) => count.failures.push(format!("{}: {e}", f.name)),
        }
        count.copies.push((codestream, f.samples.clone(), f.info.clone()));
    }
    count
}

/// The samples' values on their stored bits (sign-extended when signed):
/// what the copy promises to keep.
fn stored(info: &PixelInfo, bytes: &[u8]) -> Vec<i32> {
    let bits = u32::from(info.bits_stored);
    let signed = info.pixel_representation == 1;
    let value = |raw: u32| {
        let v = raw & ((1u64 << bits) - 1) as u32;
        if signed && v >> (bits - 1) & 1 == 1 { v as i32 - (1i32 << bits) } else { v as i32 }
    };
    match info.bits_allocated {
        8 => bytes.iter().map(|&b| value(u32::from(b))).collect(),
        _ => bytes.chunks_exact(2).map(|c| value(u32::from(u16::from_le_bytes([c[0], c[1]])))).collect(),
    }
}

/// Every fixture of `testdata/dicom/` that decodes (not the videos), but
/// the deflated one, which the test's DICOM reader cannot open (its
/// pixels are those of `mr_explicit_le.dcm`'s generator, another slice).
fn fixture_frames() -> Vec<Frame> {
    let dir = fixture::path("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dcm") && !n.starts_with("video_") && n != "mr_deflated.dcm")
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let f = fixture::load(Box::leak(name.into_boxed_str()));
            let decoded = decode_frame(&f.transfer_syntax, &f.info, &f.frame).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let info = PixelInfo {
                photometric_interpretation: decoded.photometric_interpretation,
                planar_configuration: decoded.planar_configuration,
                ..f.info
            };
            Frame { name: f.name.to_string(), info, samples: decoded.bytes }
        })
        .collect()
}

/// The demo's CT series (`scripts/demo.sh`: 2 studies of 120 512x512
/// slices, seed 2026), generated into `dir`; `None` without the
/// generator's Python modules.
fn demo_series(dir: &Path) -> Option<Vec<Frame>> {
    if !python_has("numpy, pydicom") {
        return None;
    }
    let script = fixture::path("../gen_ct_series.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--out"])
        .arg(dir)
        .args(["--slices", "120", "--studies-per-patient", "2", "--seed", "2026"])
        .args(["--patient-name", "Wang^Wei=王^伟", "--charset", "ISO_IR 192"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "gen_ct_series.py: {}", String::from_utf8_lossy(&out.stderr));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|study| std::fs::read_dir(study.unwrap().path()).unwrap().map(|e| e.unwrap().path()))
        .collect();
    paths.sort();
    let frames = paths
        .iter()
        .map(|path| {
            let object = dicom_object::open_file(path).unwrap();
            let info = pixel_info(&object).unwrap();
            let samples = object.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().to_vec();
            Frame { name: path.display().to_string(), info, samples }
        })
        .collect();
    Some(frames)
}

fn python_has(modules: &str) -> bool {
    let probe = Command::new("python3").args(["-c", &format!("import {modules}")]).output();
    let ok = matches!(probe, Ok(ref output) if output.status.success());
    if !ok {
        eprintln!("NOTICE: python3 cannot import {modules}; skipping that part");
    }
    ok
}

/// Decodes every copy with pylibjpeg-openjpeg and, if imagecodecs is
/// installed, OpenJPH; returns the report line. Panics on any difference.
fn independent_decoders_agree(count: &Count) -> String {
    if !python_has("numpy, openjpeg") {
        return "independent decoders skipped".into();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::new();
    for (i, (codestream, samples, info)) in count.copies.iter().enumerate() {
        let (j2c, raw) = (dir.path().join(format!("{i}.j2c")), dir.path().join(format!("{i}.i4")));
        std::fs::write(&j2c, codestream).unwrap();
        std::fs::write(&raw, stored(info, samples).iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        list.push_str(&format!("{} {} {}\n", j2c.display(), raw.display(), info.samples_per_pixel));
    }
    let script = r#"
import sys, numpy as np, openjpeg
try:
    import imagecodecs
except ImportError:
    imagecodecs = None
n = {"openjpeg": 0, "openjph": 0}
for line in open(sys.argv[1]):
    j2c, raw, spp = line.split()
    cs, want = open(j2c, "rb").read(), np.fromfile(raw, dtype="<i4")
    a = openjpeg.decode(cs)
    assert (a.astype("i4").ravel() == want).all(), f"pylibjpeg-openjpeg: {j2c} decodes to other samples"
    n["openjpeg"] += 1
    if imagecodecs is not None:
        b = imagecodecs.htj2k_decode(cs)
        if b.ndim == 3 and int(spp) > 1 and b.shape[0] == int(spp):
            b = np.moveaxis(b, 0, -1)  # OpenJPH gives planes
        assert (b.astype("i4").ravel() == want).all(), f"OpenJPH: {j2c} decodes to other samples"
        n["openjph"] += 1
print(f"pylibjpeg-openjpeg {n['openjpeg']} exact, OpenJPH (imagecodecs) {n['openjph']} exact")
"#;
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, list).unwrap();
    let out = Command::new("python3").arg("-c").arg(script).arg(&list_path).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The RLE CT fixture is the smallest of the frames openjph-core 0.1.0
/// made an unreadable copy of.
#[test]
fn htj2k_copy_of_ct_rle_round_trips() {
    let frames: Vec<Frame> = fixture_frames().into_iter().filter(|f| f.name == "ct_rle.dcm").collect();
    let count = copy_all(&frames);
    assert_eq!((count.copied, count.exact), (1, 1), "{:?}", count.failures);
    let old = std::fs::read(fixture::path("../j2k/ct_rle_openjph_core_0.1.0_extra_header_byte.j2c")).unwrap();
    assert_eq!(count.copies[0].0.len() + 1, old.len(), "one packet header byte less than 0.1.0 wrote");
    eprintln!("{}", independent_decoders_agree(&count));
}

/// Counts: every copy of every fixture and of the demo's CT series
/// (scripts/demo.sh: 240 slices, 8 of which had no copy before the fix)
/// decodes back exactly.
#[test]
fn htj2k_copies_of_every_fixture_and_the_demo_ct_series_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = fixture_frames();
    let fixtures = frames.len();
    let generated = demo_series(dir.path()).unwrap_or_default();
    frames.extend(generated);
    let count = copy_all(&frames);
    eprintln!(
        "HTJ2K lossless copies: {} of {} copied frames decode back exactly ({fixtures} fixtures, {} generated slices)",
        count.exact,
        count.copied,
        frames.len() - fixtures
    );
    assert!(count.failures.is_empty(), "{} copies do not round-trip:\n{}", count.failures.len(), count.failures.join("\n"));
    assert_eq!(count.exact, count.copied);
    assert!(count.copied >= fixtures - 1, "a fixture the encoder refused: {} of {fixtures} copied", count.copied);
    eprintln!("{}", independent_decoders_agree(&count));
}

/// Every WARN and ERROR event that reaches the process's global subscriber
/// (level, target, message), with `log` records bridged in as the binary
/// does it.
fn global_events() -> &'static Mutex<Vec<(tracing::Level, String)>> {
    static EVENTS: OnceLock<Mutex<Vec<(tracing::Level, String)>>> = OnceLock::new();
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let recorder = tracing_subscriber::fmt::layer().with_writer(|| Recorder).with_ansi(false).without_time();
        let subscriber = tracing_subscriber::registry().with(recorder.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
        tracing::subscriber::set_global_default(subscriber).expect("first global subscriber");
        tracing_log::LogTracer::init().expect("first log bridge");
    });
    EVENTS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Writes each formatted line into [`global_events`].
struct Recorder;

impl std::io::Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf).trim().to_string();
        let level = if line.starts_with("ERROR") { tracing::Level::ERROR } else { tracing::Level::WARN };
        global_events().lock().unwrap().push((level, line));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The copy openjph-core 0.1.0 made of ct_rle.dcm: OpenJPEG stops at its
/// first code-block. What OpenJPEG said is in the error (for the caller to
/// log with the instance's UID), and nothing reaches the log at ERROR.
#[test]
fn a_rejected_htj2k_codestream_gives_openjpegs_messages_in_the_error_not_error_lines() {
    let events = global_events();
    let old = std::fs::read(fixture::path("../j2k/ct_rle_openjph_core_0.1.0_extra_header_byte.j2c")).unwrap();
    let info = fixture::load("ct_rle.dcm").info;
    let error = decode_frame(HTJ2K_LOSSLESS, &info, &old).expect_err("OpenJPEG rejects it").to_string();
    assert!(error.contains("Malformed HT codeblock") && error.contains("Scup"), "{error}");
    // The bridge works: a log record outside a decode does reach the log.
    log_record_outside_a_decode();
    let seen = events.lock().unwrap().clone();
    assert!(seen.iter().any(|(_, line)| line.contains("outside a decode")), "the log bridge is not installed: {seen:?}");
    let errors: Vec<_> = seen.iter().filter(|(level, _)| *level == tracing::Level::ERROR).collect();
    assert_eq!(errors.len(), 1, "only the probe's ERROR line: {errors:?}");
}

/// An ERROR record through the `log` facade, as `jpeg2k` makes them.
fn log_record_outside_a_decode() {
    log::error!(target: "probe", "outside a decode");
}
