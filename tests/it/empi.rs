//! One patient across institutions on the real server: hospital A's CT
//! (a GB 18030 name, PatientID A123, the national ID in Other Patient IDs
//! Sequence) sent over C-STORE, and hospital B's registration (UTF-8
//! name, PatientID 998877, the same national ID) sent by its MPI as an
//! HL7 v2 A04 over MLLP with python's `hl7` client, are one person; an
//! A40 merge sent the same way moves a second identity in, and
//! `yunying empi unmerge` puts it back exactly.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use yunying_index::Index;

use crate::film::request;
use crate::harness::*;

const NATIONAL_ID: &str = "11010519491231002X";

/// Send HL7 v2 messages over MLLP with python `hl7`; the ACK code of each.
fn send_hl7(port: u16, messages: &[String]) -> Vec<String> {
    let script = r#"
import sys, json, hl7
from hl7.client import MLLPClient
msgs = json.loads(sys.stdin.read())
acks = []
with MLLPClient("127.0.0.1", int(sys.argv[1])) as c:
    for m in msgs:
        ack = hl7.parse(c.send_message(m).decode("utf-8"))
        code = str(ack.segment("MSA")[1])
        if code != "AA": sys.stderr.write(str(ack).replace("\r", "\n") + "\n")
        acks.append(code)
print(json.dumps(acks))
"#;
    let mut child = python()
        .args(["-c", script, &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(messages).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python hl7 client failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn msh(control_id: &str, event: &str, structure: &str) -> String {
    format!(
        "MSH|^~\\&|HIS|HOSP_B|YUNYING|REGION|20261206120000||ADT^{event}^{structure}|{control_id}|P|2.5|||||CHN|UNICODE UTF-8\rEVN|{event}|20261206120000\r"
    )
}

/// The person of an identity once the linker has placed it (at most 30 s).
pub(crate) async fn person_of(index: &Index, issuer: &str, patient_id: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(person) = index.empi_identity(issuer, patient_id).await.unwrap().and_then(|r| r.person) {
            return person;
        }
        assert!(Instant::now() < deadline, "{issuer}/{patient_id} was not linked within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until `check` holds (at most 30 s).
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn mllp_port(data: &Path) -> u16 {
    let serving: Value = serde_json::from_str(&std::fs::read_to_string(data.join("serving.json")).unwrap()).unwrap();
    serving["mllp_port"].as_u64().unwrap() as u16
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ct_at_hospital_a_and_a_registration_at_hospital_b_are_one_person_and_an_a40_merge_is_undone_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["ae", "add", "CT_A", "127.0.0.1", "104", "--institution", "HOSP_A", "--new-institution", "--allow", "store"]));
    let key_of = |name: &str, scopes: &str| {
        let out = run(cli(&data).args(["key", "add", name, "--institution", "HOSP_B", "--scopes", scopes]));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (mpi_b, reader_b) = (key_of("MPI B", "empi"), key_of("viewer B", "dicomweb:read"));
    let mut server = Server::start(&data, Some("[empi]\nmllp_bind = \"127.0.0.1:0\"\nlink_every_secs = 1\n"));
    let mllp = mllp_port(&data);
    let index = server.index().await;

    // Hospital B's MPI registers the patient: Pinyin and Hanzi, national ID.
    let a04 = format!(
        "{}PID|1||998877^^^HOSP_B^PI~{NATIONAL_ID}^^^CHN^NNCHN||Zhang^San^^^^^L^A~张^三^^^^^L^I||19491231|F\r",
        msh("B-1", "A04", "ADT_A01")
    );
    assert_eq!(send_hl7(mllp, &[a04]), ["AA"]);

    // Hospital A's CT: GB 18030 name, the national ID in Other Patient IDs Sequence.
    let dir = tmp.path().join("ct");
    gen_ct_with(&dir, 2, 16, 61, &["--patient-id", "A123", "--patient-name", "Zhang^San=张^三", "--charset", "GB18030", "-q"]);
    let files = files_under(&dir);
    let mut modify = dcmtk("dcmodify");
    modify
        .args(["-nb", "-i", &format!("(0010,1002)[0].(0010,0020)={NATIONAL_ID}"), "-m", "(0010,0030)=19491231", "-m", "(0010,0040)=F"])
        .args(&files);
    run(&mut modify);
    storescu_dir(server.dicom_port, "CT_A", &dir);

    let a = person_of(&index, "HOSP_A", "A123").await;
    let b = person_of(&index, "HOSP_B", "998877").await;
    let a_row = index.empi_identity("HOSP_A", "A123").await.unwrap().unwrap();
    assert_eq!(a_row.ids_masked, "national-id:1101**********002X", "read from Other Patient IDs Sequence: {a_row:?}");
    assert_eq!(a, b, "the same national ID: one person: {a_row:?}");
    let row = index.empi_identity("HOSP_B", "998877").await.unwrap().unwrap();
    assert_eq!((row.source.as_str(), row.name.as_str()), ("hl7", "Zhang^San=张^三"));

    // What the platform shows of the person: both identities, A's study
    // marked with its institution, the national ID masked only.
    let shown = run(cli(&data).args(["empi", "person", "--issuer", "HOSP_B", "--patient-id", "998877"]));
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(!text.contains(NATIONAL_ID), "the national ID is never shown whole");
    let view: Value = serde_json::from_str(&text).unwrap();
    let studies = view["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 1, "{view}");
    assert_eq!((studies[0]["institution"].as_str(), studies[0]["patient_id"].as_str()), (Some("HOSP_A"), Some("A123")));
    let masked: Vec<&str> = view["identities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["ids_masked"].as_array().unwrap())
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(masked, ["national-id:1101**********002X", "national-id:1101**********002X"]);

    // The same over HTTP: PIXm tells B's systems who the person is at A;
    // B's key feeds B's identities only; a key without the `empi` scope
    // gets nothing.
    let http = server.http_port;
    let bearer = |k: &str| format!("Bearer {k}");
    let pix = request(
        http,
        "GET",
        "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:yunying:issuer:HOSP_B|998877",
        &[("Authorization", &bearer(&mpi_b))],
        None,
    );
    assert_eq!(pix.status, 200, "{}", String::from_utf8_lossy(&pix.body));
    let params: Value = serde_json::from_slice(&pix.body).unwrap();
    assert_eq!(params["resourceType"], "Parameters");
    let targets: Vec<(String, String)> = params["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["valueIdentifier"]["system"].as_str().unwrap().into(), p["valueIdentifier"]["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(targets, [("urn:yunying:issuer:HOSP_A".to_string(), "A123".to_string())]);
    let missing =
        request(http, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier=HOSP_B|nobody", &[("Authorization", &bearer(&mpi_b))], None);
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("OperationOutcome"));
    let no_scope =
        request(http, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier=HOSP_B|998877", &[("Authorization", &bearer(&reader_b))], None);
    assert_eq!(no_scope.status, 403);
    let fed = serde_json::json!({"issuer": "HOSP_B", "patient_id": "B-REST-1", "name": "Zhang^San=张^三", "birth_date": "19491231", "sex": "F", "national_ids": [NATIONAL_ID]});
    let reply = request(http, "POST", "/api/empi/identities", &[("Authorization", &bearer(&mpi_b))], Some(&fed));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(person_of(&index, "HOSP_B", "B-REST-1").await, a, "the REST feed's identity joins the person");
    // PDQm $match: who is this patient here, from demographics alone
    // (Pinyin and Hanzi names, birth date, sex): every institution's
    // identity, graded; the national ID alone: certain.
    let patient = serde_json::json!({"resourceType": "Patient", "gender": "female", "birthDate": "1949-12-31",
        "name": [{"family": "Zhang", "given": ["San"]}, {"family": "张", "given": ["三"]}]});
    let ask = |resource: Value, only_certain: bool| {
        let parameters = serde_json::json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": resource}, {"name": "onlyCertainMatches", "valueBoolean": only_certain}]});
        request(
            http,
            "POST",
            "/fhir/Patient/$match",
            &[("Authorization", &bearer(&mpi_b)), ("Content-Type", "application/fhir+json")],
            Some(&parameters),
        )
    };
    let matched = ask(patient.clone(), false);
    assert_eq!(matched.status, 200, "{}", String::from_utf8_lossy(&matched.body));
    let bundle: Value = serde_json::from_slice(&matched.body).unwrap();
    assert_eq!((bundle["resourceType"].as_str(), bundle["type"].as_str()), (Some("Bundle"), Some("searchset")));
    let found: Vec<String> =
        bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"]["identifier"][0]["value"].as_str().unwrap().to_string()).collect();
    for id in ["A123", "998877", "B-REST-1"] {
        assert!(found.contains(&id.to_string()), "{id} matched: {bundle}");
    }
    assert!(bundle["entry"][0]["search"]["score"].as_f64().is_some_and(|s| s > 0.0 && s <= 1.0), "{bundle}");
    let by_id =
        serde_json::json!({"resourceType": "Patient", "identifier": [{"system": "urn:oid:2.16.156.10011.1.1", "value": NATIONAL_ID}]});
    let certain: Value = serde_json::from_slice(&ask(by_id, true).body).unwrap();
    assert!(certain["entry"].as_array().unwrap().iter().all(|e| e["search"]["extension"][0]["valueCode"] == "certain"), "{certain}");
    assert!(certain["total"].as_u64().unwrap() >= 2, "{certain}");
    let stranger = serde_json::json!({"resourceType": "Patient", "gender": "male", "birthDate": "1980-01-01", "name": [{"family": "Li", "given": ["Si"]}]});
    let none: Value = serde_json::from_slice(&ask(stranger, false).body).unwrap();
    assert_eq!(none["total"], 0, "{none}");
    let vague = ask(serde_json::json!({"resourceType": "Patient", "name": [{"family": "Zhang"}]}), false);
    assert_eq!(vague.status, 400, "too vague: {}", String::from_utf8_lossy(&vague.body));
    let not_b = serde_json::json!({"issuer": "HOSP_A", "patient_id": "A999"});
    assert_eq!(request(http, "POST", "/api/empi/identities", &[("Authorization", &bearer(&mpi_b))], Some(&not_b)).status, 403);

    // An old record of the same patient at B, someone else by its data,
    // then merged by B's MPI (A40: PID-3 survives, MRG-1 is retired).
    let old = format!("{}PID|1||B-OLD-5^^^HOSP_B^PI||Li^Si||19700101|M\r", msh("B-2", "A04", "ADT_A01"));
    assert_eq!(send_hl7(mllp, &[old]), ["AA"]);
    let before = person_of(&index, "HOSP_B", "B-OLD-5").await;
    assert_ne!(before, a);
    let a40 = format!("{}PID|1||998877^^^HOSP_B^PI\rMRG|B-OLD-5^^^HOSP_B^PI\r", msh("B-3", "A40", "ADT_A39"));
    let unknown = format!("{}PID|1||998877^^^HOSP_B^PI\r", msh("B-4", "A03", "ADT_A03"));
    assert_eq!(send_hl7(mllp, &[a40, unknown]), ["AA", "AR"], "a merge accepted; an event the EMPI does not handle refused");
    until("the merge", async || index.empi_identity("HOSP_B", "B-OLD-5").await.unwrap().unwrap().person == Some(a)).await;
    let survivor = index.empi_identity("HOSP_B", "998877").await.unwrap().unwrap();
    assert_eq!(
        (survivor.name.as_str(), survivor.birth_date.as_str()),
        ("Zhang^San=张^三", "19491231"),
        "an A40's bare PID changes nothing of the survivor"
    );

    // The merge undone from the command line: B-OLD-5 back where it was,
    // the others untouched.
    let identity = index.empi_identity("HOSP_B", "B-OLD-5").await.unwrap().unwrap().id;
    let merge =
        index.empi_history_of(identity).await.unwrap().into_iter().find(|h| h.action == "merge").expect("the merge is in the history");
    run(cli(&data).args(["empi", "unmerge", &merge.op]));
    assert_eq!(index.empi_identity("HOSP_B", "B-OLD-5").await.unwrap().unwrap().person, Some(before));
    assert_eq!(index.empi_identity("HOSP_A", "A123").await.unwrap().unwrap().person, Some(a));
    assert_eq!(index.empi_identity("HOSP_B", "998877").await.unwrap().unwrap().person, Some(a));
    let again = cli(&data).args(["empi", "unmerge", &merge.op]).output().unwrap();
    assert!(!again.status.success(), "an operation is undone once");

    // Every merge and unmerge is on the record, with no patient data.
    let bodies = index.recorded_audit_bodies().await.unwrap();
    for kind in ["\"patient-merged\"", "\"patient-unmerged\"", "\"patients-linked\""] {
        assert!(bodies.iter().any(|b| b.contains(kind)), "{kind} recorded");
    }
    assert!(
        bodies.iter().all(|b| !b.contains("998877") && !b.contains("A123") && !b.contains(NATIONAL_ID)),
        "no patient identifiers in events"
    );
    index.close().await;
    server.stop();
}
