//! The command line a newcomer and other tools rely on.

use std::process::Command;

use crate::harness::*;

#[test]
fn print_config_layers_file_env_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, "dicom_port = 1111\nhttp_port = 2222\n[dicom]\naet = \"FROMFILE\"\n").unwrap();
    let out = run(Command::new(BIN)
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .env("YUNYING_HTTP_PORT", "3333")
        .env("YUNYING_AET", "FROMENV")
        .args(["--aet", "FROMFLAG"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("dicom_port = 1111"), "{text}");
    assert!(text.contains("http_port = 3333"), "{text}");
    assert!(text.contains("aet = \"FROMFLAG\""), "{text}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, "dicom_prot = 1\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dicom_prot"));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_then_reindex_rebuilds_the_same_index() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 20, 64, 51);
    std::fs::write(series.join("README.txt"), "not DICOM").unwrap();
    let data = tmp.path().join("data");
    let out = run(Command::new(BIN).args(["import", "--quiet", "--institution", "HOSP_X", "--data-dir"]).arg(&data).arg(&series));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imported 20 instances"), "{text}");
    assert!(text.contains("1 not DICOM"), "{text}");

    let index = yunying_index::Index::open_sqlite(&data.join("index.sqlite")).await.unwrap();
    let before = index.counts().await.unwrap();
    assert_eq!(before.instances, 20);
    index.close().await;

    std::fs::remove_file(data.join("index.sqlite")).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("index.sqlite{suffix}")));
    }
    run(Command::new(BIN).args(["reindex", "--data-dir"]).arg(&data));
    let index = yunying_index::Index::open_sqlite(&data.join("index.sqlite")).await.unwrap();
    assert_eq!(index.counts().await.unwrap(), before);
    let files = files_under(&series);
    let (issuer, _, _) = index.patient_of(&part10(&files[0]).0.sop_instance_uid).await.unwrap().unwrap();
    assert_eq!(issuer, "HOSP_X", "provenance in the file meta restores the issuer");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), None);
    assert!(server.stop().success());
}
