//! The audit ledger end to end: events recorded by a running server are
//! sequenced, signed on demand, searchable by the audit administrator (JSON
//! and CSV), provable offline with files alone, and `yunying audit
//! verify` finds a row changed behind the server's back.

use std::path::Path;

use serde_json::{Value, json};

use crate::film::request;
use crate::harness::*;
use crate::people::{add_user, enrolled, login, post};

fn get(port: u16, path: &str, cookie: &str) -> crate::film::Reply {
    request(port, "GET", path, &[("Cookie", cookie)], None)
}

fn audit_cli(data: &Path, args: &[&str]) -> std::process::Output {
    cli(data).arg("audit").args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_are_signed_searchable_provable_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "auditor", None, "audit-admin");
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    let mut server = Server::start(&data, None);
    let port = server.http_port;

    // Something worth recording: a failed sign-in and a stored study.
    assert_eq!(login(port, "wang", "not-the-password", None).status, 401);
    let file = &testdata_files()[0];
    let (status, body) = stow_file(port, file, &[]);
    assert_eq!(status, 200, "{body}");
    let (auditor, _) = enrolled(port, "auditor");
    // A radiologist of another institution reaches the study by
    // break-glass, and looks at it.
    let study = found_study(port);
    let wang = crate::people::session_of(&login(port, "wang", crate::people::PASSWORD, None));
    let reason = "emergency: unconscious patient";
    let bg =
        post(port, "/api/access/grants", Some(&wang), &json!({"kind": "break-glass", "studies": [study], "reason": reason, "minutes": 30}));
    assert_eq!(bg.status, 201, "{}", String::from_utf8_lossy(&bg.body));
    assert_eq!(get(port, &format!("/dicom-web/studies/{study}/metadata"), &wang).status, 200);

    // A checkpoint on demand covers what was recorded; the public copy is
    // the same signed note.
    let cp = post(port, "/api/audit/checkpoints", Some(&auditor), &json!({}));
    assert_eq!(cp.status, 200, "{}", String::from_utf8_lossy(&cp.body));
    let cp = cp.json();
    assert!(cp["tree_size"].as_i64().unwrap() >= 2, "{cp}");
    let note = cp["note"].as_str().unwrap();
    assert!(note.starts_with(&format!("yunying/audit\n{}\n", cp["tree_size"])), "{note}");
    let public = http_get(port, "/audit/checkpoint").expect("the checkpoint is public");
    assert_eq!(public, (200, note.to_string()));

    // The audit administrator finds the failed sign-in, as JSON and CSV;
    // nobody else reads the record.
    let found = get(port, "/api/audit/events?event=sign-in", &auditor);
    assert_eq!(found.status, 200);
    let found: Value = found.json();
    let failed = found.as_array().unwrap().iter().find(|e| e["event"]["result"] == "denied").expect("the failed sign-in").clone();
    let leaf = failed["leaf_index"].as_i64().unwrap();
    let csv = String::from_utf8(get(port, "/api/audit/events?event=sign-in&format=csv", &auditor).body).unwrap();
    assert!(csv.starts_with("leaf_index,time_utc,event,result,principal"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with(&format!("{leaf},")) && l.contains(",sign-in,denied,")), "{csv}");
    assert_eq!(get(port, "/api/audit/events", &wang).status, 403, "a radiologist reads no access records");

    // An offline proof of that event, checked with files alone.
    let proof = get(port, &format!("/api/audit/proof?leaf={leaf}"), &auditor).json();
    let key = get(port, "/api/audit/checkpoints", &auditor).json()["log_key"].as_str().unwrap().to_string();
    let dir = tmp.path().join("proof");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.tlog-proof"), proof["bundle"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("a.entry"), proof["entry"].as_str().unwrap()).unwrap();
    let nowhere = tmp.path().join("no-data-dir");
    let check = |dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_yunying"))
            .args(["--data-dir", nowhere.to_str().unwrap(), "audit", "check-proof", dir.to_str().unwrap(), "--log-key", &key])
            .output()
            .unwrap()
    };
    let out = check(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!nowhere.exists(), "checking a proof opens no database");
    std::fs::write(dir.join("a.entry"), proof["entry"].as_str().unwrap().replace("denied", "ok")).unwrap();
    let out = check(&dir);
    assert!(!out.status.success(), "a changed entry fails its proof");
    assert!(String::from_utf8_lossy(&out.stdout).contains("BAD"));

    // Who reached the study: exported with proofs, checked offline.
    server.stop();
    let export = tmp.path().join("export");
    let out = audit_cli(&data, &["export", "--study", &study, "--out", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
    assert!(events.lines().any(|l| l.contains("\"event\":\"break-glass\"") && l.contains(&study)), "{events}");
    assert!(events.lines().all(|l| l.contains("\"patients\":[{\"key\"")), "each names the patient by key and digest: {events}");
    let out = audit_cli(&data, &["check-proof", export.to_str().unwrap(), "--log-key", export.join("log.pub").to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // The whole ledger verifies; a row changed in the database does not.
    let out = audit_cli(&data, &["verify"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    if server.index_url().starts_with("postgres") {
        the_writer_role_can_only_add(server.index_url(), leaf).await;
    }
    tamper(server.index_url(), leaf).await;
    let out = audit_cli(&data, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("BAD entry {leaf}")), "{said}");
}

/// The study stored above, found by QIDO-RS.
fn found_study(port: u16) -> String {
    let (status, body) = http_get(port, "/dicom-web/studies").unwrap();
    assert_eq!(status, 200, "{body}");
    let studies: Value = serde_json::from_str(&body).unwrap();
    studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_string()
}

/// PostgreSQL: the ledger is written through a role that may add rows and
/// read them, never change or remove them; the database refuses it before
/// any trigger runs.
async fn the_writer_role_can_only_add(url: &str, leaf: i64) {
    let index = yunying_index::Index::open(url).await.unwrap();
    assert_eq!(index.ledger_writer_role(), Some(yunying_index::LEDGER_WRITER), "the migration made the role and the index uses it");
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await.unwrap();
    for (table, may) in [("ledger_entries", true), ("ledger_checkpoints", true), ("ledger_studies", true), ("ledger_cosignatures", true)] {
        for (privilege, granted) in [("SELECT", may), ("INSERT", may), ("UPDATE", false), ("DELETE", false), ("TRUNCATE", false)] {
            let has: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT has_table_privilege('{}', '{table}', '{privilege}')",
                yunying_index::LEDGER_WRITER
            )))
            .fetch_one(&db)
            .await
            .unwrap();
            assert_eq!(has, granted, "{privilege} on {table}");
        }
    }
    for attack in ["UPDATE ledger_entries SET result = 'ok' WHERE leaf_index = $1", "DELETE FROM ledger_entries WHERE leaf_index = $1"] {
        let mut tx = db.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {}", yunying_index::LEDGER_WRITER))).execute(&mut *tx).await.unwrap();
        let err = sqlx::query(attack).bind(leaf).execute(&mut *tx).await.expect_err(attack).to_string();
        assert!(err.contains("permission denied"), "{attack}: {err}");
        tx.rollback().await.unwrap();
    }
    db.close().await;
}

/// What someone with the database owner's rights does: lift the
/// append-only guard and change an entry.
async fn tamper(url: &str, leaf: i64) {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await.unwrap();
    if url.starts_with("sqlite") {
        sqlx::query("DROP TRIGGER ledger_entries_append_only").execute(&db).await.unwrap();
    } else {
        sqlx::query("ALTER TABLE ledger_entries DISABLE TRIGGER ALL").execute(&db).await.unwrap();
    }
    let done = sqlx::query("UPDATE ledger_entries SET body = replace(body, 'denied', 'ok'), result = 'ok' WHERE leaf_index = $1")
        .bind(leaf)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    db.close().await;
}

/// Every event also reaches the hospital's audit record repository as a
/// DICOM audit message (PS3.15 A.5) that the standard's schema accepts.
#[test]
fn events_reach_the_audit_record_repository_as_valid_audit_messages() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!("[audit.atna]\ncollector = \"{}\"\ntransport = \"tcp\"\n", collector.local_addr().unwrap());
    let mut server = Server::start(&data, Some(&config));
    let port = server.http_port;
    assert_eq!(login(port, "wang", "not-the-password", None).status, 401);
    let (status, body) = stow_file(port, &testdata_files()[0], &[]);
    assert_eq!(status, 200, "{body}");
    let study = found_study(port);
    let wang = crate::people::session_of(&login(port, "wang", crate::people::PASSWORD, None));
    let bg = post(
        port,
        "/api/access/grants",
        Some(&wang),
        &json!({"kind": "break-glass", "studies": [study], "reason": "emergency: stroke", "minutes": 30}),
    );
    assert_eq!(bg.status, 201);
    assert_eq!(get(port, &format!("/dicom-web/studies/{study}/metadata"), &wang).status, 200);
    server.stop();

    // RFC 5425 frames: "LEN SP MSG", MSG an RFC 5424 line whose content
    // is the XML after a BOM.
    let (mut conn, _) = collector.accept().unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut received = Vec::new();
    let _ = conn.read_to_end(&mut received);
    let mut messages: Vec<String> = Vec::new();
    let mut rest = &received[..];
    while let Some(sp) = rest.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let msg = std::str::from_utf8(&rest[sp + 1..sp + 1 + len]).unwrap();
        assert!(msg.starts_with("<85>1 "), "{msg}");
        messages.push(msg.split_once('\u{feff}').expect("the XML follows a BOM").1.to_string());
        rest = &rest[sp + 1 + len..];
    }
    let has = |id: &str| messages.iter().any(|m| m.contains(&format!("csd-code=\"{id}\"")));
    assert!(has("110114"), "user authentication: {messages:#?}");
    assert!(has("110113"), "break-glass is a security alert");
    assert!(has("110103"), "the study reached");
    let dir = tmp.path().join("atna");
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = dir.join(format!("{i}.xml"));
            std::fs::write(&p, m).unwrap();
            p.to_str().unwrap().to_string()
        })
        .collect();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/yunying-atna/schema/dicom-audit-message.rnc");
    let out = std::process::Command::new("jing")
        .arg("-c")
        .arg(&schema)
        .args(&files)
        .output()
        .expect("jing (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    for m in &messages {
        assert!(!m.contains("not-the-password"), "no secret in an audit message");
    }
}
