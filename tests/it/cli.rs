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

/// `reindex` takes an original only when its bytes match the digest its
/// key names: one altered since it was stored, or cut short, is named and
/// left out, and the others are indexed.
#[test]
fn reindex_refuses_an_original_whose_bytes_are_not_those_its_key_names() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 4, 64, 52);
    let data = tmp.path().join("data");
    run(Command::new(BIN).args(["import", "--quiet", "--data-dir"]).arg(&data).arg(&series));
    let originals: Vec<_> = files_under(&data).into_iter().filter(|p| p.to_string_lossy().contains("/originals/")).collect();
    assert_eq!(originals.len(), 4);
    // One byte of pixel data changed (the file still parses: only the
    // digest tells), and one cut short.
    let mut altered = std::fs::read(&originals[0]).unwrap();
    let last = altered.len() - 1;
    altered[last] ^= 0x55;
    std::fs::write(&originals[0], &altered).unwrap();
    let torn = std::fs::read(&originals[1]).unwrap();
    std::fs::write(&originals[1], &torn[..torn.len() / 2]).unwrap();

    let out = run(Command::new(BIN).args(["reindex", "--data-dir"]).arg(&data));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("reindexed 2 instances; 0 superseded copies; 2 unreadable objects"), "{stdout}\n{stderr}");
    let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr.contains(&name(&originals[0])) && stderr.contains("do not match the digest its key names"), "{stderr}");
    assert!(stderr.contains(&name(&originals[1])), "{stderr}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), None);
    assert!(server.stop().success());
}

/// A failing command: (stdout, stderr), asserting it failed.
fn fails(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!out.status.success(), "should fail: {cmd:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn a_store_named_like_a_url_without_slashes_is_refused_not_made_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_ct(&tmp.path().join("ct"), 2, 32, 61);
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_X"]).arg(tmp.path().join("ct")));
    // RUST_BACKTRACE as many operators have it set: a user error is still
    // only its message.
    let (_, stderr) =
        fails(cli(&data).current_dir(tmp.path()).env("RUST_BACKTRACE", "1").args(["migrate-store", "--quiet", "--to", "s3:mybucket"]));
    assert!(stderr.contains("did you mean s3://mybucket"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "a user error prints no backtrace: {stderr}");
    assert!(!tmp.path().join("s3:mybucket").exists(), "nothing copied into a directory named like the URL");
}

#[test]
fn import_names_each_skipped_file_and_takes_raw_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 3, 32, 62);
    // One instance as a raw dataset: no preamble, no meta group (as some
    // modalities export; DCMTK reads it with +f).
    let files = files_under(&series);
    let (meta, dataset) = part10(&files[0]);
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::write(series.join("raw.dat"), &dataset).unwrap();
    std::fs::write(series.join("README.txt"), "not DICOM").unwrap();
    let data = tmp.path().join("data");
    let out = run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_X"]).arg(&series));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 3 instances") && stdout.contains("1 not DICOM"), "{stdout}");
    assert!(stderr.contains(&format!("skipped: {}", series.join("README.txt").display())), "the skipped file is named: {stderr}");
    assert!(!stderr.contains("raw.dat"), "the raw dataset is not skipped: {stderr}");
    // The raw one is stored and answers by its UIDs like the others.
    let server = Server::start(&data, None);
    let (status, body) = http_get(server.http_port, &format!("/dicom-web/instances?SOPInstanceUID={}", meta.sop_instance_uid)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&meta.sop_instance_uid), "{body}");
}

#[test]
fn ae_add_refuses_a_bad_host_an_unknown_institution_and_serve_a_bad_title() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (_, stderr) = fails(cli(&data).args(["ae", "add", "CT_1", "not a host!!", "104", "--platform"]));
    assert!(stderr.contains("neither an IP address nor a host name"), "{stderr}");
    let (_, stderr) = fails(cli(&data).args(["ae", "add", "CT_1", "10.0.0.7", "104", "--institution", "HOSP_TYPO"]));
    assert!(stderr.contains("HOSP_TYPO") && stderr.contains("--new-institution"), "{stderr}");
    let (_, stderr) = fails(cli(&data).args(["ae", "add", "A\\B", "10.0.0.7", "104", "--platform"]));
    assert!(stderr.contains("backslash"), "{stderr}");
    // A new institution said to be new, then known from the registry.
    run(cli(&data).args(["ae", "add", "CT_1", "ct1.hosp-a.example", "104", "--institution", "HOSP_A", "--new-institution"]));
    run(cli(&data).args(["ae", "add", "CT_2", "fe80::1", "104", "--institution", "HOSP_A"]));
    let list = String::from_utf8(run(cli(&data).args(["ae", "list", "--json"])).stdout).unwrap();
    assert!(list.contains("ct1.hosp-a.example") && list.contains("CT_2"), "{list}");
    let (_, stderr) = fails(Command::new(BIN).args(["serve", "--print-config", "--aet", "A\\B"]));
    assert!(stderr.contains("dicom.aet") && stderr.contains("backslash"), "{stderr}");
}

#[test]
fn reindex_says_it_clears_refuses_beside_a_server_and_can_add_only_what_is_missing() {
    let help = String::from_utf8(run(Command::new(BIN).args(["reindex", "--help"])).stdout).unwrap();
    assert!(help.contains("CLEARS THE INDEX") && help.contains("--missing"), "{help}");

    let tmp = tempfile::tempdir().unwrap();
    let (data, other) = (tmp.path().join("data"), tmp.path().join("other"));
    gen_ct(&tmp.path().join("a"), 4, 32, 63);
    gen_ct(&tmp.path().join("b"), 2, 32, 64);
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_X"]).arg(tmp.path().join("a")));
    let mut server = Server::start(&data, None);
    let (_, stderr) = fails(cli(&data).args(["reindex"]));
    assert!(stderr.contains("stop it before reindexing"), "{stderr}");
    let (_, stderr) = fails(Command::new(BIN).arg("--data-dir").arg(&data).args(["serve"]));
    assert!(stderr.contains("another yunying server is using the data directory"), "{stderr}");
    // Objects another archive stored, put in this one's store while it
    // runs, then indexed once it is stopped, without clearing the rest.
    run(cli(&other).args(["import", "--quiet", "--institution", "HOSP_Y"]).arg(tmp.path().join("b")));
    let other_server = Server::start(&other, None);
    let keys = other_server.object_keys(yunying_store::ORIGINALS_PREFIX);
    assert_eq!(keys.len(), 2);
    for key in &keys {
        server.write_object(key, &other_server.read_object(key));
    }
    drop(other_server);
    assert!(server.stop().success());
    let out = run(cli(&data).args(["reindex", "--missing"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("indexed 2 missing instances"), "{stdout}");
    let server = Server::start(&data, None);
    let (status, body) = http_get(server.http_port, "/dicom-web/instances?limit=100").unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap().len(), 6, "{body}");
}

#[test]
fn a_data_directory_under_a_file_is_named_before_anything_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    for args in [&["ae", "list"][..], &["serve"], &["import", "."]] {
        let (_, stderr) = fails(Command::new(BIN).arg("--data-dir").arg(file.join("data")).args(args));
        assert!(stderr.contains("is a file, not a directory") && stderr.contains("plain-file"), "{args:?}: {stderr}");
        assert!(!stderr.contains("film.key"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_migrated_by_a_newer_binary_is_refused_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(Command::new(BIN).arg("--data-dir").arg(&data).args(["ae", "list"]));
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("index.sqlite").display());
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (100000)").execute(&db).await.unwrap();
    db.close().await;
    for args in [&["ae", "list"][..], &["serve"]] {
        let (_, stderr) = fails(Command::new(BIN).arg("--data-dir").arg(&data).args(args));
        assert!(stderr.contains("schema version 100000, newer than this binary"), "{args:?}: {stderr}");
    }
}

/// Dotted keys of a TOML value (an array of tables counts as its name).
fn toml_keys(value: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    let Some(table) = value.as_table() else { return };
    for (k, v) in table {
        let key = format!("{prefix}{k}");
        match v {
            toml::Value::Table(_) => toml_keys(v, &format!("{key}."), out),
            toml::Value::Array(items) if items.iter().all(|i| i.is_table()) && !items.is_empty() => {
                for item in items {
                    toml_keys(item, &format!("{key}."), out);
                }
            }
            _ => {
                out.insert(key);
            }
        }
    }
}

#[test]
fn every_configuration_key_is_documented_in_the_example_file() {
    let tmp = tempfile::tempdir().unwrap();
    let printed =
        String::from_utf8(run(Command::new(BIN).arg("--data-dir").arg(tmp.path()).args(["serve", "--print-config"])).stdout).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    toml_keys(&toml::Value::Table(toml::from_str::<toml::Table>(&printed).unwrap()), "", &mut keys);
    // Documented: `key = …` under its [section] (commented out or not), or a
    // section (`[x]`, `[[x]]`) of that name.
    let example = std::fs::read_to_string(format!("{ROOT}/yunying.example.toml")).unwrap();
    let (mut documented, mut section) = (std::collections::BTreeSet::new(), String::new());
    for line in example.lines() {
        let line = line.trim_start_matches('#').trim();
        // A section header is the whole line (but a trailing comment); a
        // comment that mentions `[[x]]` in passing is not one.
        let head = line.split(" #").next().unwrap_or_default().trim();
        if let Some(name) = head.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                documented.insert(name.to_string());
                section = format!("{name}.");
                continue;
            }
        }
        if let Some((key, _)) = line.split_once('=')
            && !key.trim().is_empty()
            && key.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            documented.insert(format!("{section}{}", key.trim()));
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(keys.len() > 100, "{keys:?}");
    assert!(missing.is_empty(), "keys of `serve --print-config` not in yunying.example.toml: {missing:?}");
}

/// The admin guide's configuration reference (docs/*/configuration.md) is
/// generated from `serve --print-config` and docs/config-keys.toml; the
/// script's check fails when a key has no English or Chinese description,
/// when a documented key is gone, or when the committed pages are stale.
#[test]
fn the_admin_guide_documents_every_configuration_key() {
    let out = python()
        .arg(format!("{ROOT}/scripts/gen-config-reference.py"))
        .args(["--check", "--yunying", BIN])
        .current_dir(ROOT)
        .output()
        .expect("run python3 scripts/gen-config-reference.py");
    assert!(
        out.status.success(),
        "the admin guide's configuration reference does not match the binary \
         (run scripts/gen-config-reference.py --yunying {BIN}):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_admin_guide_names_only_commands_flags_metrics_and_links_that_exist() {
    // Metrics as a running node exposes them (a stored instance makes the
    // ingest families appear).
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(format!("{ROOT}/testdata/dicom/ct_implicit_le.dcm")));
    let server = Server::start(&data, None);
    let out = python()
        .arg(format!("{ROOT}/scripts/check-docs.py"))
        .args(["--yunying", BIN, "--metrics-url", &format!("http://127.0.0.1:{}/metrics", server.http_port)])
        .current_dir(ROOT)
        .output()
        .expect("run python3 scripts/check-docs.py");
    assert!(
        out.status.success(),
        "the admin guide names something the binary does not have:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
