//! C-STORE from real clients: bytes kept exactly, index right, names decoded.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn dcmtk_storescu_200_slice_ct_study_is_stored_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 200, 128, 7);
    let server = Server::start(&tmp.path().join("data"), None);
    run(dcmtk("storescu")
        .args(["-aet", "MODALITY", "-aec", "YUNYING", "+sd", "+r", "-pdu", "131072"])
        .arg("127.0.0.1")
        .arg(server.dicom_port.to_string())
        .arg(&series));

    let index = server.index().await;
    let c = index.counts().await.unwrap();
    assert_eq!((c.patients, c.studies, c.series, c.instances), (1, 1, 1, 200));
    let files = files_under(&series);
    let (meta, _) = part10(&files[0]);
    let study = index.instance(&meta.sop_instance_uid).await.unwrap().unwrap().study_instance_uid;
    assert_eq!(index.study_aggregates(&study).await.unwrap(), Some((1, 200, "CT".to_string())));
    assert_stored_identically(&server, &index, &files).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_testdata_file_arrives_identical_via_storescu_and_pynetdicom() {
    let all = testdata_files();
    for client in ["storescu", "pynetdicom"] {
        // Debian's DCMTK 3.6.7 predates the HTJ2K transfer syntaxes (3.6.8
        // added them) and cannot send that file; pynetdicom sends them all.
        let files: Vec<_> = match client {
            "storescu" => all.iter().filter(|f| !f.ends_with("ct_htj2k_lossless.dcm")).cloned().collect(),
            _ => all.clone(),
        };
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&tmp.path().join("data"), None);
        match client {
            "storescu" => {
                // One association per file, proposing the file's own
                // transfer syntax *and* the uncompressed ones: Yunying must
                // pick the compressed one, so nothing is converted.
                for f in &files {
                    let ts = part10(f).0.transfer_syntax_uid;
                    run(dcmtk("storescu")
                        .args(["-R", "-aec", "YUNYING", storescu_proposal(&ts)])
                        .arg("127.0.0.1")
                        .arg(server.dicom_port.to_string())
                        .arg(f));
                }
            }
            _ => {
                for line in pynetdicom_store(server.dicom_port, &[], &files) {
                    assert_eq!(line["status"], 0, "{line}");
                }
            }
        }
        let index = server.index().await;
        assert_eq!(index.counts().await.unwrap().instances, files.len() as i64, "{client}");
        match client {
            "storescu" => assert_stored_inflating(&server, &index, &files).await,
            _ => assert_stored_identically(&server, &index, &files).await,
        }
        assert_chinese_names(&index).await;
    }
}

/// The storescu option that proposes `ts` (plus, for compressed syntaxes,
/// all uncompressed ones).
fn storescu_proposal(ts: &str) -> &'static str {
    match ts {
        "1.2.840.10008.1.2" => "-xi",
        "1.2.840.10008.1.2.1" => "-xe",
        "1.2.840.10008.1.2.2" => "-xb",
        "1.2.840.10008.1.2.1.99" => "-xd",
        "1.2.840.10008.1.2.4.50" => "-xy",
        "1.2.840.10008.1.2.4.51" => "-xx",
        "1.2.840.10008.1.2.4.70" => "-xs",
        "1.2.840.10008.1.2.4.80" => "-xt",
        "1.2.840.10008.1.2.4.81" => "-xu",
        "1.2.840.10008.1.2.4.90" => "-xv",
        "1.2.840.10008.1.2.4.91" => "-xw",
        "1.2.840.10008.1.2.5" => "-xr",
        "1.2.840.10008.1.2.4.100" => "-xm",
        "1.2.840.10008.1.2.4.102" => "-xn",
        "1.2.840.10008.1.2.4.107" => "-x4",
        other => panic!("no storescu proposal option for {other}"),
    }
}

/// The Chinese-name fixtures read back as the same UTF-8 strings, whatever
/// character set they were sent in.
async fn assert_chinese_names(index: &yunying_index::Index) {
    for (file, expected) in [
        ("zh_gb18030.dcm", "Wang^XiaoDong=王^小东"),
        ("zh_utf8.dcm", "Li^Na=李^娜"),
        ("zh_iso2022_ir58.dcm", "Zhang^XiaoDong=张^小东="),
        // No (0008,0005): raw GBK bytes, decoded by the undeclared-text rule.
        ("zh_gbk_no_charset.dcm", "Zhao^Lei=赵^磊"),
        // 乗 is GBK 81 5C: its second byte is a backslash.
        ("zh_gb18030_5c.dcm", "Sun^乗=孙^乗"),
    ] {
        let path = std::path::Path::new(ROOT).join("testdata/dicom").join(file);
        let (meta, _) = part10(&path);
        let (_, _, name) = index.patient_of(&meta.sop_instance_uid).await.unwrap().unwrap();
        assert_eq!(name.trim_end_matches('='), expected.trim_end_matches('='), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_an_instance_keeps_one_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 3, 64, 11);
    let server = Server::start(&tmp.path().join("data"), None);
    let files = files_under(&series);
    for _ in 0..2 {
        for line in pynetdicom_store(server.dicom_port, &[], &files) {
            assert_eq!(line["status"], 0);
        }
    }
    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, 3);
    let stored = server.object_keys("originals/").len();
    assert_eq!(stored, 3, "a resend must not leave a second object");
    let (status, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("yunying_instances_duplicate_total 3"), "{metrics}");
    assert!(metrics.contains("yunying_index_instances 3"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_policy_swaps_the_stored_instance_and_leaves_no_orphan() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    // Same seed and geometry: same UIDs. Different window: different bytes.
    gen_ct(&first, 2, 64, 71);
    gen_ct(&second, 2, 64, 71);
    let changed = files_under(&second)[0].clone();
    let bytes = std::fs::read(&changed).unwrap();
    let at = bytes.windows(8).position(|w| w == b"\x28\x00\x50\x10DS\x02\x00").expect("WindowCenter") + 8;
    let mut bytes = bytes;
    bytes[at..at + 2].copy_from_slice(b"50");
    std::fs::write(&changed, &bytes).unwrap();

    let server = Server::start(&tmp.path().join("data"), Some("[archive]\nduplicate_policy = \"replace\"\n"));
    for dir in [&first, &second] {
        for line in pynetdicom_store(server.dicom_port, &[], &files_under(dir)) {
            assert_eq!(line["status"], 0);
        }
    }
    let index = server.index().await;
    let c = index.counts().await.unwrap();
    assert_eq!((c.studies, c.series, c.instances), (1, 1, 2));
    assert_stored_identically(&server, &index, &files_under(&second)).await;
    assert_eq!(server.object_keys("originals/").len(), 2, "the replaced objects are deleted");
}
