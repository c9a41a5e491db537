//! National cryptography in the data layer, seen from outside: the SM3 of
//! every object recorded at ingest and held to by `verify`, and an object
//! store encrypted at rest (SM4-GCM) that serves the same bytes over
//! WADO-RS, frames, C-MOVE and film ZIPs, that `migrate-store --encrypt`
//! makes from a plain one, and whose master key `rotate-store-key` retires.
//!
//! The encrypted-store tests run on the embedded backend (their
//! configuration names a filesystem store); the SM3 tests on either.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sm3::{Digest, Sm3};

use crate::film::{API_TOKEN, BIRTH_DATE, api, request};
use crate::harness::*;

const KEY_A: &str = "0123456789abcdeffedcba9876543210";
const KEY_B: &str = "00112233445566778899aabbccddeeff";

/// Write a master key file (mode 0600) and return its path.
fn key_file(dir: &Path, name: &str, hex: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{hex}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `[store.encryption]` with `current` wrapping and `previous` readable.
fn encryption(enabled: bool, current: (&str, &Path), previous: &[(&str, &Path)]) -> String {
    let mut text = format!(
        "[store.encryption]\nenabled = {enabled}\nkey_id = {:?}\nmaster_key_file = {:?}\n",
        current.0,
        current.1.display().to_string()
    );
    for (id, path) in previous {
        text += &format!("[[store.encryption.previous]]\nkey_id = {id:?}\nmaster_key_file = {:?}\n", path.display().to_string());
    }
    text
}

/// A configuration file holding `body`, for CLI commands.
fn config_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn sm3_hex(bytes: &[u8]) -> String {
    hex::encode(Sm3::digest(bytes))
}

/// Every regular file under `dir` holds no run of `needle`.
fn no_file_contains(dir: &Path, needle: &[u8]) -> usize {
    let files = files_under(dir);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds {:?} in the clear",
            f.display(),
            String::from_utf8_lossy(needle)
        );
    }
    files.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn sm3_is_recorded_at_ingest_and_verify_holds_objects_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(6).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    let objects = index.all_objects().await.unwrap();
    assert_eq!(objects.len(), 6);
    // The SM3 comes after the sender heard success.
    for (key, _) in &objects {
        let row = recorded_sm3(&index, &sop_of(key)).await;
        let bytes = server.read_object(key);
        assert_eq!(row.as_deref(), Some(sm3_hex(&bytes).as_str()), "{key}: the SM3 recorded is the object's");
    }
    // On S3 each SM3 came from the local copy ingest kept of the upload (no
    // GET of every object just stored), and the copies are gone once
    // hashed; on the filesystem the object itself was read.
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    let from_copies = if distributed_backend() { 6 } else { 0 };
    assert!(metrics.contains(&format!("\nyunying_sm3_from_local_copy_total {from_copies}\n")), "{metrics}");
    assert!(files_under(&data.join("digest")).is_empty(), "{:?}", files_under(&data.join("digest")));
    index.close().await;
    server.stop();
    let report: serde_json::Value = serde_json::from_slice(&run(cli(&data).args(["verify", "--json"])).stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");

    // An object damaged in place is named; so is one whose SM3 alone no
    // longer matches what the index recorded (the SHA-256 still does).
    let keys: Vec<&String> = objects.iter().map(|(k, _)| k).collect();
    let mut bytes = server.read_object(keys[0]);
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    server.write_object(keys[0], &bytes);
    let index_url = server.index().await.url().to_string();
    if !distributed_backend() {
        let db = index_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
        let wrong = sm3_hex(b"not this object");
        // A row with another SM3, and one from before SM3 was recorded.
        let sql = format!(
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE instances SET sm3 = ? WHERE object_key = ?\", ('{wrong}', sys.argv[2])); c.execute(\"UPDATE instances SET sm3 = NULL WHERE object_key = ?\", (sys.argv[3],)); c.commit()"
        );
        run(python().args(["-c", &sql, &db, keys[1], keys[2]]));
    }
    let out = cli(&data).args(["verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "damage is a failure");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<(String, String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().into(), p["problem"].as_str().unwrap().into(), p["detail"].as_str().unwrap().into()))
        .collect();
    let named = |key: &str| problems.iter().find(|p| p.0 == key).cloned();
    let damaged = named(keys[0]).expect("the damaged object is named");
    assert_eq!(damaged.1, "corrupt");
    if !distributed_backend() {
        let sm3_only = named(keys[1]).expect("the object whose SM3 differs is named");
        assert_eq!(sm3_only.1, "corrupt");
        assert!(sm3_only.2.contains("SM3"), "{sm3_only:?}");
        assert!(named(keys[2]).is_none(), "a row without SM3 is checked on SHA-256 only: {problems:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");

        // A row left without its SM3 (as by a crash before the digester
        // reached it) gets it when a node next runs.
        let mut server = Server::start(&data, Some("[archive]\ndigest_grace_secs = 1\n"));
        let index = server.index().await;
        let sm3 = recorded_sm3(&index, &sop_of(keys[2])).await;
        assert_eq!(sm3.as_deref(), Some(sm3_hex(&server.read_object(keys[2])).as_str()));
        index.close().await;
        server.stop();
    }
}

/// The SOP Instance UID in an original's object key.
fn sop_of(key: &str) -> String {
    let parts = key.rsplit('/').next().unwrap().split('.').collect::<Vec<_>>();
    parts[..parts.len() - 2].join(".")
}

/// The SM3 the index records for an instance, once the digester has
/// recorded one (waits at most 20 s; `None` if it never did).
async fn recorded_sm3(index: &yunying_index::Index, sop: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sm3 = index.instance(sop).await.unwrap().expect("indexed").sm3;
        if sm3.is_some() || std::time::Instant::now() > deadline {
            return sm3;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The server configuration and CLI configuration file of an encrypted
/// store with one master key.
fn encrypted_setup(scratch: &Path) -> (String, PathBuf) {
    let key = key_file(&scratch.join("keys"), "a.key", KEY_A);
    let body = encryption(true, ("a", &key), &[]);
    let file = config_file(scratch, "crypt.toml", &body);
    (body, file)
}

#[test]
fn an_encrypted_store_serves_identical_bytes_over_wado_rs_and_frames() {
    if distributed_backend() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let (body, file) = encrypted_setup(scratch.path());
    crate::dicomweb::suite_with_cli_config("wado", Some(&body), Some(&file));
    crate::dicomweb::suite_with_cli_config("frames", Some(&body), Some(&file));
}

#[test]
fn an_encrypted_store_delivers_stored_bytes_over_c_move() {
    if distributed_backend() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let (body, file) = encrypted_setup(scratch.path());
    let (tmp, server) = crate::qr::archive_with(Some(&body), Some(&file));
    let count = no_file_contains(&server.data_dir.join("store/objects"), b"DICM");
    assert!(count >= testdata_files().len(), "the objects are on disk, sealed");
    crate::qr::move_every_study_to_storescp(tmp.path(), &server);
}

#[test]
fn an_encrypted_store_puts_the_stored_data_sets_in_the_film_zip() {
    if distributed_backend() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (body, file) = encrypted_setup(tmp.path());
    let src = tmp.path().join("src");
    // Seed 21: the birth date film verification asks for is BIRTH_DATE.
    gen_ct_with(&src, 5, 64, 21, &["--patient-id", "FILM-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).env("YUNYING_CONFIG", &file).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n{body}")));
    let port = server.http_port;
    let (status, studies) = http_get(port, "/dicom-web/studies?PatientID=FILM-1").unwrap();
    assert_eq!(status, 200, "{studies}");
    let studies: Vec<serde_json::Value> = serde_json::from_str(&studies).unwrap();
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_string();
    let made = api(port, "POST", "/api/films", Some(&json!({"study": study, "created_by": "dr-wang"})));
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let film_id = made["film"]["film_id"].as_str().unwrap().to_string();
    let token = crate::film::token_of(made["url"].as_str().unwrap());
    let verified = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
    assert_eq!(verified.status, 200);
    let (cookie, _) = verified.cookie();
    let zip = request(port, "GET", &format!("/api/film/{film_id}/download"), &[("Cookie", &cookie)], None);
    assert_eq!(zip.status, 200);
    let zip_path = tmp.path().join("film.zip");
    std::fs::write(&zip_path, &zip.body).unwrap();
    let unzipped = tmp.path().join("unzipped");
    run(python()
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2])"])
        .arg(&zip_path)
        .arg(&unzipped));

    let sources: std::collections::HashMap<String, Vec<u8>> = files_under(&src)
        .iter()
        .map(|f| {
            let (meta, dataset) = part10(f);
            (meta.sop_instance_uid, dataset)
        })
        .collect();
    let mut same = 0;
    for f in files_under(&unzipped).iter().filter(|f| f.file_name().unwrap() != "DICOMDIR") {
        let (meta, dataset) = part10(f);
        assert!(sources[&meta.sop_instance_uid] == dataset, "{}: the ZIP holds the data set as sent", f.display());
        same += 1;
    }
    assert_eq!(same, sources.len(), "every instance is in the ZIP");
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_store_encrypts_a_store_and_rotation_retires_the_old_master_key() {
    if distributed_backend() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(10).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;
    server.stop();
    let original = server.store_contents();
    assert!(original.keys().any(|k| k.starts_with("renditions/")));

    // Keys configured, encryption not yet on: the plain store is copied
    // into a new, encrypted one.
    let keys = tmp.path().join("keys");
    let (a, b) = (key_file(&keys, "a.key", KEY_A), key_file(&keys, "b.key", KEY_B));
    let enc = tmp.path().join("store-enc");
    let before = config_file(tmp.path(), "before.toml", &encryption(false, ("a", &a), &[]));
    let out = run(cli(&data)
        .env("YUNYING_CONFIG", &before)
        .args(["migrate-store", "--quiet", "--encrypt", "--to"])
        .arg(format!("fs:{}", enc.display())));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(&format!("copied {} objects", original.len())) && text.contains(" 0 corrupt"), "{text}");
    assert!(text.contains("[store.encryption]") && text.contains("enabled = true"), "it says how to switch: {text}");
    assert!(no_file_contains(&enc.join("objects"), b"DICM") == original.len());

    // Switched over: every object reads back (verify re-reads each one and
    // compares its SHA-256 and SM3 with the index), byte for byte.
    let store = format!("[store]\npath = {:?}\n", enc.display().to_string());
    let under_a = config_file(tmp.path(), "a.toml", &format!("{store}{}", encryption(true, ("a", &a), &[])));
    let verify = |config: &Path| cli(&data).env("YUNYING_CONFIG", config).args(["verify", "--json"]).output().unwrap();
    let report = verify(&under_a);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stdout));
    let mut encrypted = yunying_store::StoreConfig::from_spec(&format!("fs:{}", enc.display())).unwrap();
    encrypted.encryption = toml_encryption(&encryption(true, ("a", &a), &[]));
    let store_a = encrypted.open(Path::new("unused")).unwrap();
    for (key, bytes) in &original {
        assert!(store_a.get(key).unwrap() == *bytes, "{key} reads back as it was");
    }
    // A server on it serves an instance's pixels.
    let server = Server::start(&data, Some(&format!("{store}{}", encryption(true, ("a", &a), &[]))));
    let (status, _) = http_get(server.http_port, "/dicom-web/studies").unwrap();
    assert_eq!(status, 200);
    drop(server);

    // Rotation: B wraps, A still reads; every header is re-wrapped.
    let rotating = config_file(tmp.path(), "ab.toml", &format!("{store}{}", encryption(true, ("b", &b), &[("a", &a)])));
    let out = run(cli(&data).env("YUNYING_CONFIG", &rotating).args(["rotate-store-key", "--quiet"]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(&format!("{} re-wrapped, 0 already", original.len())), "{text}");
    let again = run(cli(&data).env("YUNYING_CONFIG", &rotating).args(["rotate-store-key", "--quiet"]));
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("0 re-wrapped, {} already", original.len())));

    // A removed from the configuration: everything still reads under B;
    // under A alone nothing does.
    let under_b = config_file(tmp.path(), "b.toml", &format!("{store}{}", encryption(true, ("b", &b), &[])));
    let report = verify(&under_b);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stdout));
    let report = verify(&under_a);
    assert_eq!(report.status.code(), Some(1), "the retired key opens nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_an_encrypted_store_stays_encrypted_and_restores_only_with_its_master_key() {
    if distributed_backend() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let (body, file) = encrypted_setup(scratch.path());
    let data = scratch.path().join("data");
    let mut server = Server::start(&data, Some(&body));
    let files: Vec<_> = testdata_files().into_iter().take(6).collect();
    for line in pynetdicom_store(server.dicom_port, &[], &files) {
        assert_eq!(line["status"], 0, "{line}");
    }
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;

    // Backed up while serving: the objects stay sealed and the master key
    // stays out of the backup.
    let backup = scratch.path().join("backup");
    let out = run(cli(&data).env("YUNYING_CONFIG", &file).args(["backup", "--quiet", "--to"]).arg(&backup));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the objects are encrypted"));
    let objects = no_file_contains(&backup.join("store/objects"), b"DICM");
    assert!(objects > files.len(), "originals and renditions: {objects}");
    no_file_contains(&backup, KEY_A.as_bytes());
    server.stop();

    // Restored without the master keys configured: refused. With them:
    // every object re-read against the index's SHA-256 and SM3, still sealed.
    let restored = scratch.path().join("restored");
    let out = cli(&restored).args(["restore", "--quiet", "--from"]).arg(&backup).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[store.encryption]"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(cli(&restored).env("YUNYING_CONFIG", &file).args(["restore", "--quiet", "--from"]).arg(&backup));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 missing, 0 corrupt, 0 wrong size, 0 unreadable"));
    assert_eq!(no_file_contains(&restored.join("store/objects"), b"DICM"), objects);
    let server = Server::start(&restored, Some(&body));
    let (status, studies) = http_get(server.http_port, "/dicom-web/studies").unwrap();
    assert_eq!(status, 200);
    assert!(!studies.is_empty());
}

fn toml_encryption(section: &str) -> yunying_store::EncryptionConfig {
    #[derive(serde::Deserialize)]
    struct Store {
        encryption: yunying_store::EncryptionConfig,
    }
    #[derive(serde::Deserialize)]
    struct File {
        store: Store,
    }
    let file: File = toml::from_str(section).unwrap();
    file.store.encryption
}
