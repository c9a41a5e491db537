//! The acceptance test of issue 23's feed: a real HL7 client library (the
//! python `hl7` package: `hl7.client.MLLPClient` and its `mllp_send`
//! command) sends register, update, merge and unsupported messages over
//! MLLP; the ACK codes python reads and the events the handler got are
//! both checked. Skipped, saying so, when python `hl7` is not installed
//! (`pip install hl7`).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Server;
use tokio::process::Command;
use yunying_hl7::adt::{IdentifierKind, NameRepresentation, Sex};
use yunying_hl7::{AdtAction, AdtError, AdtEvent, ServerConfig, Trigger};

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether python and its `hl7` package are there; says why not.
async fn python_hl7_available() -> bool {
    let probe = Command::new(python()).args(["-c", "import hl7.client"]).output().await;
    match probe {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("SKIPPED: python `hl7` is not installed (pip install hl7): {}", String::from_utf8_lossy(&out.stderr).trim());
            false
        }
        Err(e) => {
            eprintln!("SKIPPED: no python ({}): {e}", python());
            false
        }
    }
}

fn update(received: &Result<AdtEvent, AdtError>) -> (&AdtEvent, &yunying_hl7::Patient) {
    match received {
        Ok(event @ AdtEvent { action: AdtAction::Update(patient), .. }) => (event, patient),
        other => panic!("not an update: {other:?}"),
    }
}

#[tokio::test]
async fn python_hl7_client_registers_updates_merges_and_is_refused_an_unsupported_event() {
    if !python_hl7_available().await {
        return;
    }
    let server = Server::start(ServerConfig::default(), Duration::ZERO).await;
    let script = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("tests/python/send_adt.py");
    let run = Command::new(python()).arg(&script).arg("127.0.0.1").arg(server.addr.port().to_string()).stdin(Stdio::null()).output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("python finishes").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let acks: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        acks,
        ["PY-A04 AA -", "PY-A08 AA -", "PY-A40 AA -", "PY-A03 AR 201", "PY-GB AA - 区域影像云 GB 18030-2000"],
        "ACKs as python read them"
    );

    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 5);
    let (event, patient) = update(&received[0]);
    assert_eq!((event.trigger, event.header.control_id.as_str()), (Trigger::A04, "PY-A04"));
    assert_eq!(event.header.sending_facility.namespace_id, "DEMO-HOSP");
    let ids: Vec<_> = patient.identifiers.iter().map(|i| (i.id.as_str(), i.kind.clone())).collect();
    assert_eq!(
        ids,
        [
            ("P1001", IdentifierKind::PatientInternal),
            ("110101199001011234", IdentifierKind::National { country: Some("CHN".into()) }),
            ("SI9876", IdentifierKind::Insurance)
        ]
    );
    assert_eq!(patient.identifiers[0].authority.universal_id, "2.16.156.1");
    assert_eq!(patient.dicom_name(), "Wang^Wei=王^伟");
    assert_eq!(patient.sex, Some(Sex::Male));
    assert_eq!(patient.birth_date.and_then(|d| d.dicom_date()).as_deref(), Some("19900101"));
    assert_eq!(patient.addresses[0].street, "中山路1号");
    assert_eq!(patient.phones[0].number, "13800138000");

    let (event, patient) = update(&received[1]);
    assert_eq!(event.trigger, Trigger::A08);
    assert_eq!((patient.addresses[0].street.as_str(), patient.phones[0].number.as_str()), ("长安街2号", "13900139000"));

    match &received[2] {
        Ok(AdtEvent { trigger: Trigger::A40, action: AdtAction::Merge(merges), .. }) => {
            assert_eq!(merges.len(), 1);
            assert_eq!(merges[0].survivor.identifiers[0].id, "P1001");
            assert_eq!(merges[0].prior_identifiers.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["P0999"]);
            assert_eq!(merges[0].prior_identifiers[0].authority.namespace_id, "DEMO-HOSP");
        }
        other => panic!("not a merge: {other:?}"),
    }
    assert_eq!(received[3], Err(AdtError::UnsupportedEvent("A03".into())));

    let (event, patient) = update(&received[4]);
    assert_eq!(event.header.charset, "GB 18030-2000");
    let hanzi = patient.name(NameRepresentation::Ideographic).unwrap();
    assert_eq!(
        (hanzi.family.as_str(), hanzi.given.as_str()),
        ("億", "乗"),
        "GB 18030 bytes 0x7C and 0x5C inside Hanzi did not split fields"
    );
    assert_eq!(patient.name(NameRepresentation::Alphabetic).unwrap().family, "Yi");
    assert_eq!(patient.sex, Some(Sex::Female));
    server.shutdown().await;
}

#[tokio::test]
async fn mllp_send_command_gets_an_aa_per_message() {
    if !python_hl7_available().await {
        return;
    }
    let server = Server::start(ServerConfig::default(), Duration::ZERO).await;
    let dir = std::env::temp_dir().join(format!("yunying-hl7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a28-a31.hl7");
    // `--loose`: segments on LF lines, as a message saved in a text editor.
    let text = "MSH|^~\\&|MPI|HOSP|YUNYING|REGION|20261206||ADT^A28|CMD-1|P|2.5\nPID|1||P7^^^HOSP^PI||Zhang^San\n\
MSH|^~\\&|MPI|HOSP|YUNYING|REGION|20261206||ADT^A31|CMD-2|P|2.5\nPID|1||P7^^^HOSP^PI||Zhang^San||19700101\n";
    std::fs::write(&file, text).unwrap();
    let mllp_send = std::env::var("MLLP_SEND").unwrap_or_else(|_| "mllp_send".to_string());
    let port = server.addr.port().to_string();
    let run = Command::new(&mllp_send).args(["--loose", "-f"]).arg(&file).args(["-p", &port, "127.0.0.1"]).output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("mllp_send finishes");
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: `{mllp_send}` (python hl7's command) not found: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mllp_send failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("MSA|AA|CMD-1") && stdout.contains("MSA|AA|CMD-2"), "{stdout}");
    let triggers: Vec<_> = server.received.lock().unwrap().iter().map(|r| r.as_ref().unwrap().trigger).collect();
    assert_eq!(triggers, [Trigger::A28, Trigger::A31]);
    server.shutdown().await;
}
