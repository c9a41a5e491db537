//! Enhanced multi-frame objects keep rescale and window in functional
//! groups: each frame is rendered (on request, and as its stored preview)
//! with its own window, after the shared rescale.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::*;

/// A two-frame Enhanced CT: every pixel stores 1064 (40 HU after the shared
/// rescale intercept −1024); frame 1 has the window 40/400, frame 2 −600/1500.
const MAKE_ENHANCED: &str = r#"
import sys, numpy
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
ds = Dataset()
ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2.1", generate_uid()
ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
ds.PatientName, ds.PatientID, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "Enhanced^Test", "ENH-1", "CT", 1, 1
ds.Rows = ds.Columns = 64
ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
ds.NumberOfFrames = 2
ds.PixelData = numpy.full((2, 64, 64), 1064, numpy.uint16).tobytes()
def item(**kw):
    d = Dataset()
    for k, v in kw.items():
        setattr(d, k, v)
    return d
ds.SharedFunctionalGroupsSequence = [item(PixelValueTransformationSequence=[item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")])]
ds.PerFrameFunctionalGroupsSequence = [
    item(FrameVOILUTSequence=[item(WindowCenter=40, WindowWidth=400)]),
    item(FrameVOILUTSequence=[item(WindowCenter=-600, WindowWidth=1500)]),
]
ds.file_meta = FileMetaDataset()
ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.save_as(sys.argv[1], enforce_file_format=True)
print(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
"#;

/// GET over HTTP/1.0 (no chunking): status and body bytes.
fn get(port: u16, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let status = String::from_utf8_lossy(&raw[..split]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

fn mean(pixels: &[u8]) -> f64 {
    pixels.iter().map(|&p| p as f64).sum::<f64>() / pixels.len() as f64
}

fn png_grey(bytes: &[u8]) -> Vec<u8> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

#[test]
fn enhanced_multiframe_frames_follow_their_functional_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("enhanced.dcm");
    let out = run(python().args(["-c", MAKE_ENHANCED]).arg(&file));
    let ids = String::from_utf8_lossy(&out.stdout).to_string();
    let [study, series, sop]: [&str; 3] = ids.split_whitespace().collect::<Vec<_>>().try_into().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&file));
    let server = Server::start(&data, None);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let counts = wait_for_jobs(&server.index().await, Duration::from_secs(120)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    let base = format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames");
    // PS3.3 C.11.2.1.2.1 for 40 HU: window 40/400 → 127.8, window −600/1500 → 236.4.
    for (frame, expected) in [(1, 127.8), (2, 236.4)] {
        let (status, body) = get(server.http_port, &format!("{base}/{frame}/rendered"), "image/png");
        assert_eq!(status, 200);
        let shown = mean(&png_grey(&body));
        assert!((shown - expected).abs() <= 1.0, "frame {frame} rendered at {shown}, expected {expected}");
        // The stored preview (JPEG, made at ingest) agrees.
        let (status, body) = get(server.http_port, &format!("{base}/{frame}/rendered"), "image/jpeg");
        assert_eq!(status, 200);
        let preview = jpeg_decoder::Decoder::new(std::io::Cursor::new(body)).decode().unwrap();
        let shown = mean(&preview);
        assert!((shown - expected).abs() <= 2.0, "frame {frame}'s preview at {shown}, expected {expected}");
    }
}
