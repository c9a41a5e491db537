//! Bad input gets the right DIMSE status, the association survives, and
//! nothing of the bad instance remains.

use std::io::{Read, Write};
use std::path::Path;

use crate::harness::*;

const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";

#[tokio::test(flavor = "multi_thread")]
async fn truncated_and_mismatched_instances_are_refused_and_the_association_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 3, 64, 21);
    let files = files_under(&series);

    // A truncated instance: the last 1000 bytes of pixel data cut off.
    let truncated = tmp.path().join("truncated.dcm");
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();

    // A CT dataset announced as MR Image Storage.
    let mismatched = tmp.path().join("mismatched.dcm");
    std::fs::write(&mismatched, with_media_storage_class(&files[1], MR_IMAGE_STORAGE)).unwrap();

    let server = Server::start(&tmp.path().join("data"), None);
    let lines = pynetdicom_store(server.dicom_port, &[], &[truncated.clone(), files[2].clone()]);
    assert_eq!(lines[0]["status"], 0xC000, "{}", lines[0]);
    assert!(lines[0]["comment"].as_str().unwrap().contains("truncated"), "{}", lines[0]);
    assert_eq!(lines[1]["status"], 0, "good instance after the bad one: {}", lines[1]);

    let lines = pynetdicom_store(server.dicom_port, &[], &[mismatched, files[2].clone()]);
    assert_eq!(lines[0]["status"], 0xA900, "{}", lines[0]);
    assert_eq!(lines[1]["status"], 0, "{}", lines[1]);

    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, 1);
    for bad in [&files[0], &files[1]] {
        let (meta, _) = part10(bad);
        assert!(index.instance(&meta.sop_instance_uid).await.unwrap().is_none());
    }
    assert_eq!(server.object_keys("originals/").len(), 1, "no object of a refused instance");
    // (Once the stored instance's renditions, whose writes pass through
    // the spool, are done.)
    wait_for_jobs(&index, std::time::Duration::from_secs(60)).await;
    assert!(files_under(&server.spool_dir()).is_empty(), "no spool file left behind");
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert!(metrics.contains("yunying_instances_failed_total{reason=\"cannot_understand\"} 1"), "{metrics}");
    assert!(metrics.contains("yunying_instances_failed_total{reason=\"sop_class_mismatch\"} 1"), "{metrics}");
}

/// Rewrite a file's (0002,0002) Media Storage SOP Class UID (same length
/// not required: the meta is re-encoded).
fn with_media_storage_class(path: &Path, class: &str) -> Vec<u8> {
    let (mut meta, dataset) = part10(path);
    meta.sop_class_uid = class.to_string();
    let mut out = meta.encode();
    out.extend_from_slice(&dataset);
    out
}

#[test]
fn garbage_instead_of_an_associate_request_is_dropped_and_service_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let payloads: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3],    // A-ASSOCIATE-RQ claiming 4 GiB
        &[0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0, 1, 0, 0], // A-ASSOCIATE-RQ with a body too short
        &[0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0, 0],       // P-DATA before association
    ];
    for payload in payloads {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.dicom_port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(payload).unwrap();
        let mut buf = Vec::new();
        // The server closes the connection (possibly after an abort PDU).
        let _ = s.read_to_end(&mut buf);
        assert!(buf.len() <= 10, "unexpected reply to garbage: {buf:?}");
    }
    run(dcmtk("echoscu").args(["-aec", "YUNYING", "127.0.0.1"]).arg(server.dicom_port.to_string()));
}

#[test]
fn unknown_sop_class_is_refused_at_association() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    // Propose only a private, unknown SOP class: the context is rejected
    // with reason 3 (abstract syntax not supported).
    let script = format!(
        "from pynetdicom import AE\nae=AE()\nae.add_requested_context('1.2.3.4.5.6.7')\n\
         a=ae.associate('127.0.0.1',{})\nprint(a.is_established, [c.result for c in a.rejected_contexts])\na.release() if a.is_established else None",
        server.dicom_port
    );
    let out = run(python().arg("-c").arg(script));
    let text = String::from_utf8_lossy(&out.stdout);
    // The only context is rejected with reason 3 (abstract syntax not
    // supported), so pynetdicom does not establish the association.
    assert_eq!(text.trim(), "False [3]");
}
