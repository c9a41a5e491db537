//! Institutions issue PatientIDs; strict mode rejects unknown callers.

use crate::harness::*;

const CONFIG: &str = r#"
[archive]
strict_institutions = true
[[archive.institutions]]
code = "HOSP_A"
ae_titles = ["A_CT"]
[[archive.institutions]]
code = "HOSP_B"
ae_titles = ["B_CT"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn same_patient_id_from_two_institutions_is_two_patients_and_strangers_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // The same PatientID at two hospitals, different studies.
    gen_ct_with(&a, 2, 64, 41, &["--patient-id", "0001"]);
    gen_ct_with(&b, 2, 64, 42, &["--patient-id", "0001"]);
    let server = Server::start(&tmp.path().join("data"), Some(CONFIG));

    let refused =
        dcmtk("echoscu").args(["-aet", "STRANGER", "-aec", "YUNYING", "127.0.0.1"]).arg(server.dicom_port.to_string()).output().unwrap();
    assert!(!refused.status.success(), "an unknown AE must be rejected in strict mode");

    for (dir, aet) in [(&a, "A_CT"), (&b, "B_CT")] {
        run(dcmtk("storescu")
            .args(["-aet", aet, "-aec", "YUNYING", "+sd", "+r"])
            .arg("127.0.0.1")
            .arg(server.dicom_port.to_string())
            .arg(dir));
    }
    let index = server.index().await;
    let (ia, pa, _) = index.patient_of(&part10(&files_under(&a)[0]).0.sop_instance_uid).await.unwrap().unwrap();
    let (ib, pb, _) = index.patient_of(&part10(&files_under(&b)[0]).0.sop_instance_uid).await.unwrap().unwrap();
    assert_eq!((ia.as_str(), ib.as_str()), ("HOSP_A", "HOSP_B"));
    assert_eq!((pa.as_str(), pb.as_str()), ("0001", "0001"));
    assert_eq!(index.counts().await.unwrap().patients, 2, "same PatientID, two issuers: two patients");
}
