//! Checks against Python: the exact source pixels of each fixture, from the
//! generator that made it (`testdata/make_testdata.py`; every CT and MR
//! fixture is a different slice, so they cannot be compared with each other
//! exactly), and pydicom's decoding (pylibjpeg, pylibjpeg-openjpeg,
//! pylibjpeg-libjpeg, pyjpegls), whose codecs are not the ones we use.
//! Skipped, with a notice, where Python lacks those modules. One Python
//! process per test: importing pydicom and its plugins takes seconds.

use std::process::Command;

use crate::fixture::{decoded_samples, differences, load, path};

/// Writes each array as a little-endian i32 count, then i32 samples.
const WRITE: &str = r#"
def write(px):
    flat = px.astype("<i4").ravel()
    sys.stdout.buffer.write(np.int32(flat.size).astype("<i4").tobytes())
    sys.stdout.buffer.write(flat.tobytes())
"#;

/// Arguments: the fixture paths.
const PYDICOM_SCRIPT: &str = r#"
import sys
import numpy as np
import pydicom
for name in sys.argv[1:]:
    write(pydicom.dcmread(name).pixel_array)
"#;

/// Arguments: the testdata folder, then (kind, slice) pairs.
const SOURCE_SCRIPT: &str = r#"
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import make_testdata as m
for kind, z in zip(sys.argv[2::2], map(int, sys.argv[3::2])):
    if kind == "ct":
        write((m.ct_phantom_hu(128, z) + 1024).astype(np.int16))
    elif kind == "ct12":
        write(np.clip(m.ct_phantom_hu(128, z) + 1024, 0, 4095).astype(np.uint16))
    else:
        write(m.mr_phantom(128, z))
"#;

fn python_has(modules: &str, what: &str) -> bool {
    let probe = Command::new("python3").args(["-c", &format!("import {modules}")]).output();
    let ok = matches!(probe, Ok(ref output) if output.status.success());
    if !ok {
        eprintln!("NOTICE: python3 cannot import {modules}; skipping {what}");
    }
    ok
}

/// Runs `script` and splits what it wrote into arrays.
fn run_python(script: &str, args: &[String]) -> Vec<Vec<i32>> {
    let script = format!("import sys\nimport numpy as np\n{WRITE}\n{script}");
    let output = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    assert!(output.status.success(), "python3 failed: {}", String::from_utf8_lossy(&output.stderr));
    let words: Vec<i32> = output.stdout.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let mut arrays = Vec::new();
    let mut rest = &words[..];
    while let Some((&count, tail)) = rest.split_first() {
        let (array, tail) = tail.split_at(count as usize);
        arrays.push(array.to_vec());
        rest = tail;
    }
    arrays
}

#[test]
fn decoding_reproduces_the_generators_pixels() {
    if !python_has("numpy, pydicom", "the comparison with the generator's pixels") {
        return;
    }
    // (fixture, source kind, slice, largest error allowed)
    let cases = [
        ("ct_implicit_le.dcm", "ct", 0, 0),
        ("ct_jpeg_lossless_sv1.dcm", "ct", 1, 0),
        ("ct_jpegls_lossless.dcm", "ct", 2, 0),
        ("ct_rle.dcm", "ct", 3, 0),
        ("ct_j2k_lossless.dcm", "ct", 4, 0),
        ("ct_htj2k_lossless.dcm", "ct", 5, 0),
        ("mr_explicit_le.dcm", "mr", 1, 0),
        ("mr_explicit_be.dcm", "mr", 2, 0),
        // The README's verification found 16, 2 and 71 with pydicom.
        ("ct_jpeg_extended12.dcm", "ct12", 6, 20),
        ("ct_jpegls_near_lossless.dcm", "ct12", 7, 2),
        ("ct_j2k.dcm", "ct", 8, 80),
    ];
    let testdata = path("").parent().unwrap().to_str().unwrap().to_owned();
    let mut args = vec![testdata];
    for (_, kind, z, _) in cases {
        args.extend([kind.to_owned(), z.to_string()]);
    }
    let sources = run_python(SOURCE_SCRIPT, &args);
    assert_eq!(sources.len(), cases.len());
    for ((name, _, _, max_allowed), expected) in cases.into_iter().zip(sources) {
        let (ours, _) = decoded_samples(&load(name));
        let (max, mean) = differences(&ours, &expected);
        eprintln!("{name}: max |error| {max}, mean {mean:.3}");
        assert!(max <= max_allowed, "{name}: max |error| {max}");
        if max_allowed > 0 {
            assert!(max > 0, "{name} should be lossy");
        }
    }
}

#[test]
fn decoding_agrees_with_pydicom() {
    let modules = "pydicom, numpy, pylibjpeg, openjpeg, libjpeg, jpeg_ls";
    if !python_has(modules, "the pydicom cross-check") {
        return;
    }
    // (fixture, largest difference allowed, mean difference allowed);
    // pydicom converts YBR to RGB, as we do.
    let cases = [
        ("ct_htj2k_lossless.dcm", 0, 0.0),
        ("ct_rle.dcm", 0, 0.0),
        ("ct_jpegls_lossless.dcm", 0, 0.0),
        ("ct_jpeg_lossless_sv1.dcm", 0, 0.0),
        ("ct_jpegls_near_lossless.dcm", 0, 0.0),
        ("ct_j2k.dcm", 0, 0.0),
        ("sc_rgb_rle.dcm", 0, 0.0),
        ("mr_explicit_be.dcm", 0, 0.0),
        // libjpeg-turbo against Thomas Richter's libjpeg: different IDCTs
        // and chroma upsampling (measured here: 2 / 0.10 and 11 / 0.05).
        ("ct_jpeg_extended12.dcm", 4, 0.3),
        ("us_jpeg_baseline.dcm", 16, 0.2),
    ];
    let args: Vec<String> = cases.iter().map(|(name, _, _)| path(name).to_str().unwrap().to_owned()).collect();
    let decoded = run_python(PYDICOM_SCRIPT, &args);
    assert_eq!(decoded.len(), cases.len());
    for ((name, max_allowed, mean_allowed), expected) in cases.into_iter().zip(decoded) {
        let (ours, _) = decoded_samples(&load(name));
        let (max, mean) = differences(&ours, &expected);
        eprintln!("{name}: max |difference| {max}, mean {mean:.3}");
        assert!(max <= max_allowed && mean <= mean_allowed, "{name}: max |difference| {max}, mean {mean}");
    }
}
