//! Colour pixel data keeps the layout its metadata announces when it is
//! converted to little endian: pydicom's Explicit VR Big Endian RGB
//! instance (Planar Configuration 1) comes back planar, as stored, from
//! WADO-RS frames, whole-instance retrieval and C-GET.

use std::path::PathBuf;

use crate::harness::*;

/// Where pydicom keeps its test file `ExplVR_BigEnd.dcm`.
fn big_endian_rgb() -> PathBuf {
    let out = run(python().args(["-c", "import pydicom.data as d; print(d.get_testdata_file('ExplVR_BigEnd.dcm'))"]));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Checks, against pydicom's reading of the original (argv[1]), the
/// server at argv[2] (a DICOMweb base URL): frame 1 as Explicit VR Little
/// Endian, the metadata, and the whole instance in the default syntax.
const CHECK_WADO: &str = r#"
import sys, json, numpy, pydicom, requests
from io import BytesIO
original, url = sys.argv[1], sys.argv[2]
orig = pydicom.dcmread(original)
assert orig.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2" and orig.PlanarConfiguration == 1, "the fixture changed"
pixels = orig.pixel_array  # rows x columns x 3, interleaved
# The stored samples in the announced (planar) layout, little endian.
planar = numpy.ascontiguousarray(numpy.moveaxis(pixels, -1, 0)).astype(pixels.dtype.newbyteorder("<")).tobytes()

def parts(r):
    assert r.status_code == 200, (r.status_code, r.text[:300])
    boundary = r.headers["Content-Type"].split("boundary=")[1].split(";")[0].strip('"').encode()
    out = []
    for chunk in r.content.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, body = chunk.split(b"\r\n\r\n", 1)
        out.append((head.decode(), body[:-2] if body.endswith(b"\r\n") else body))
    return out

base = f"{url}/studies/{orig.StudyInstanceUID}/series/{orig.SeriesInstanceUID}/instances/{orig.SOPInstanceUID}"
meta = requests.get(base + "/metadata", headers={"Accept": "application/dicom+json"}).json()[0]
assert meta["00280006"]["Value"] == [1], f"metadata announces planar configuration {meta['00280006']}"

frames = parts(requests.get(base + "/frames/1",
    headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'}))
assert len(frames) == 1, len(frames)
head, frame = frames[0]
assert "transfer-syntax=1.2.840.10008.1.2.1" in head, head
assert len(frame) == len(planar), (len(frame), len(planar))
interleaved = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
assert frame != interleaved, "frame 1 came back interleaved while the metadata says planar"
assert frame == planar, "frame 1 is not the stored planar samples"

instances = parts(requests.get(base, headers={"Accept": 'multipart/related; type="application/dicom"'}))
assert len(instances) == 1, len(instances)
got = pydicom.dcmread(BytesIO(instances[0][1]))
assert got.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"), got.file_meta.TransferSyntaxUID
assert got.PlanarConfiguration == 1, got.PlanarConfiguration
assert got.PixelData == planar, "the whole instance's pixel data is not the stored planar samples"
assert numpy.array_equal(got.pixel_array, pixels), "the whole instance decodes to other pixels"
print("ok")
"#;

/// The C-GET copy (argv[2]) holds the original's (argv[1]) pixels, planar,
/// in little endian.
const CHECK_RECEIVED: &str = r#"
import sys, numpy, pydicom
orig, got = (pydicom.dcmread(p) for p in sys.argv[1:3])
pixels = orig.pixel_array
planar = numpy.ascontiguousarray(numpy.moveaxis(pixels, -1, 0)).astype(pixels.dtype.newbyteorder("<")).tobytes()
assert got.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"), got.file_meta.TransferSyntaxUID
assert got.PlanarConfiguration == 1 and got.PixelData == planar, "C-GET copy is not the stored planar samples"
assert numpy.array_equal(got.pixel_array, pixels)
"#;

#[test]
fn big_endian_planar_rgb_comes_back_planar_in_little_endian() {
    let original = big_endian_rgb();
    assert!(original.is_file(), "pydicom's ExplVR_BigEnd.dcm not found at {}", original.display());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&original));
    register_ae(&data, "GETSCU", 104, None);
    let server = Server::start(&data, None);

    let url = format!("http://127.0.0.1:{}/dicom-web", server.http_port);
    let out = python().args(["-c", CHECK_WADO]).arg(&original).arg(&url).output().expect("run python3");
    assert!(
        out.status.success(),
        "WADO-RS checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // C-GET, where we choose Explicit VR Little Endian: the data set is
    // re-encoded like a whole instance.
    let got = tmp.path().join("got");
    let sop = run(python().args(["-c", "import sys, pydicom; print(pydicom.dcmread(sys.argv[1]).SOPInstanceUID)"]).arg(&original));
    let sop = String::from_utf8_lossy(&sop.stdout).trim().to_string();
    let study = run(python().args(["-c", "import sys, pydicom; print(pydicom.dcmread(sys.argv[1]).StudyInstanceUID)"]).arg(&original));
    let study = String::from_utf8_lossy(&study.stdout).trim().to_string();
    c_get_study(server.dicom_port, &got, &study);
    let received = files_under(&got);
    assert_eq!(received.len(), 1, "C-GET delivers the instance {sop}: {received:?}");
    run(python().args(["-c", CHECK_RECEIVED]).arg(&original).arg(&received[0]));
}
