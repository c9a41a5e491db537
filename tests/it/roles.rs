//! The policy matrix for people: every role × every action, on a study of
//! the person's own institution and of another institution without a
//! grant, with each kind of grant, with an expired and a revoked grant,
//! signed in through the real login API. The expected table below is the
//! policy written out by hand, not read from the code.

use std::path::Path;

use serde_json::{Value, json};
use yunying_index::Grant;

use crate::film::{Reply, request};
use crate::harness::*;
use crate::people::{PASSWORD, add_user, enrolled, login, session_of};

/// Requests without credentials get nothing here.
const CONFIG: &str = "[access]\nanonymous = \"nobody\"\n";

/// What a principal tries, in this order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Try {
    /// QIDO-RS finds the study.
    Search,
    /// Study metadata.
    View,
    /// The original instances of the study.
    Retrieve,
    /// STOW-RS of a new instance.
    Store,
    /// A cloud film of the study.
    Film,
    /// A referral of the study to a colleague.
    Refer,
    /// The AE registry (system administrator).
    Aes,
    /// API keys (security administrator).
    Keys,
    /// Access records (audit administrator).
    Audit,
    /// The list of accounts (system, security and institution administrators).
    Accounts,
}

const TRIES: [Try; 10] =
    [Try::Search, Try::View, Try::Retrieve, Try::Store, Try::Film, Try::Refer, Try::Aes, Try::Keys, Try::Audit, Try::Accounts];

/// The policy, by hand: which tries each role may make on its own
/// institution's study.
fn allowed(role: &str, t: Try) -> bool {
    use Try::*;
    match role {
        "radiologist" => matches!(t, Search | View | Retrieve | Film | Refer),
        "referring" => matches!(t, Search | View),
        "technologist" => matches!(t, Search | View | Store),
        "institution-admin" => matches!(t, Accounts),
        "system-admin" => matches!(t, Aes | Accounts),
        // The security administrator lists accounts to give roles.
        "security-admin" => matches!(t, Keys | Accounts),
        "audit-admin" => matches!(t, Audit),
        other => panic!("no role {other}"),
    }
}

const ROLES: [&str; 7] = ["radiologist", "referring", "technologist", "institution-admin", "system-admin", "security-admin", "audit-admin"];

struct World {
    tmp: tempfile::TempDir,
    server: Server,
    /// Hospital A's studies and hospital B's one.
    a: Vec<String>,
    b: String,
    /// A new instance for STOW-RS attempts (a fresh one per try).
    seed: std::cell::Cell<u64>,
}

fn study_of(file: &Path) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut a = Vec::new();
    for seed in 1..=3u64 {
        let dir = tmp.path().join(format!("a{seed}"));
        gen_ct_with(&dir, 1, 16, 400 + seed, &["--patient-id", &format!("RA{seed}"), "-q"]);
        run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(&dir));
        a.push(study_of(&files_under(&dir)[0]));
    }
    let dir = tmp.path().join("b");
    gen_ct_with(&dir, 1, 16, 410, &["--patient-id", "RB1", "-q"]);
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_B"]).arg(&dir));
    let b = study_of(&files_under(&dir)[0]);
    for role in ROLES {
        let institution = if role.ends_with("-admin") && role != "institution-admin" { None } else { Some("HOSP_A") };
        add_user(&data, &format!("a-{role}"), institution, role);
    }
    add_user(&data, "b-radiologist", Some("HOSP_B"), "radiologist");
    add_user(&data, "b-referring", Some("HOSP_B"), "referring");
    let server = Server::start(&data, Some(CONFIG));
    World { tmp, server, a, b, seed: std::cell::Cell::new(500) }
}

/// A signed-in session for `name` (administrators enrol their second factor).
fn session(w: &World, name: &str, role: &str) -> String {
    if role.ends_with("-admin") {
        return enrolled(w.server.http_port, name).0;
    }
    session_of(&login(w.server.http_port, name, PASSWORD, None))
}

fn get(w: &World, path: &str, cookie: &str) -> Reply {
    request(w.server.http_port, "GET", path, &[("Cookie", cookie)], None)
}

fn post(w: &World, path: &str, cookie: &str, body: &Value) -> Reply {
    request(w.server.http_port, "POST", path, &[("Cookie", cookie)], Some(body))
}

/// The studies a session's QIDO-RS search finds.
fn found(w: &World, cookie: &str) -> Vec<String> {
    let r = get(w, "/dicom-web/studies", cookie);
    if r.status == 204 || r.status == 403 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
    let mut uids: Vec<String> = v.iter().map(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string()).collect();
    uids.sort();
    uids
}

/// Whether one try on `study` succeeded (2xx), and its status.
fn attempt(w: &World, cookie: &str, t: Try, study: &str) -> (bool, u16) {
    let status = match t {
        Try::Search => return (found(w, cookie).contains(&study.to_string()), 200),
        Try::View => get(w, &format!("/dicom-web/studies/{study}/metadata"), cookie).status,
        Try::Retrieve => get(w, &format!("/dicom-web/studies/{study}"), cookie).status,
        Try::Store => {
            let dir = w.tmp.path().join(format!("stow{}", w.seed.get()));
            w.seed.set(w.seed.get() + 1);
            gen_ct_with(&dir, 1, 16, w.seed.get(), &["-q"]);
            stow(w.server.http_port, &files_under(&dir)[0], cookie)
        }
        Try::Film => post(w, "/api/films", cookie, &json!({"study": study})).status,
        Try::Refer => {
            let body =
                json!({"kind": "referral", "to_institution": "HOSP_C", "studies": [study], "reason": "second opinion", "minutes": 60});
            post(w, "/api/access/grants", cookie, &body).status
        }
        Try::Aes => get(w, "/api/admin/aes", cookie).status,
        Try::Keys => get(w, "/api/admin/keys", cookie).status,
        Try::Audit => get(w, "/api/audit/access-events", cookie).status,
        Try::Accounts => get(w, "/api/admin/users", cookie).status,
    };
    ((200..300).contains(&status), status)
}

fn stow(port: u16, file: &Path, cookie: &str) -> u16 {
    stow_file(port, file, &[("Cookie", cookie)]).0
}

#[tokio::test(flavor = "multi_thread")]
async fn every_role_does_its_own_job_on_its_own_institutions_studies_only() {
    let w = world();
    let mut wrong = Vec::new();
    for role in ROLES {
        let cookie = session(&w, &format!("a-{role}"), role);
        for t in TRIES {
            let (ok, status) = attempt(&w, &cookie, t, &w.a[0]);
            if ok != allowed(role, t) {
                wrong.push(format!(
                    "{role} {t:?} on its own study: {status}, expected {}",
                    if allowed(role, t) { "allowed" } else { "refused" }
                ));
            }
            // Another institution's study: no role reaches it without a grant.
            if matches!(t, Try::Search | Try::View | Try::Retrieve | Try::Film | Try::Refer) {
                let (ok, status) = attempt(&w, &cookie, t, &w.b);
                if ok {
                    wrong.push(format!("{role} {t:?} on another institution's study: {status}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "policy violations:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_grant_opens_exactly_its_studies_until_it_ends() {
    let w = world();
    let rad_a = session(&w, "a-radiologist", "radiologist");
    let rad_b = session(&w, "b-radiologist", "radiologist");
    let ref_b = session(&w, "b-referring", "referring");
    let b_only = vec![w.b.clone()];
    assert_eq!(found(&w, &rad_b), b_only);
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &rad_b).status, 403);

    // A referral to hospital B (its institution): both of B's people see it.
    let grant = post(
        &w,
        "/api/access/grants",
        &rad_a,
        &json!({"kind": "referral", "to_institution": "HOSP_B", "studies": [w.a[0]], "reason": "consultation", "minutes": 60}),
    );
    assert_eq!(grant.status, 201, "{}", String::from_utf8_lossy(&grant.body));
    let referral = grant.json()["grant_id"].as_str().unwrap().to_string();
    let with_a0 = {
        let mut v = vec![w.a[0].clone(), w.b.clone()];
        v.sort();
        v
    };
    assert_eq!(found(&w, &rad_b), with_a0);
    assert_eq!(found(&w, &ref_b), with_a0);
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &ref_b).status, 200);
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[1]), &rad_b).status, 403, "only the granted study");
    // How it is reached, for the viewer's banner.
    let how = get(&w, &format!("/api/access/studies/{}", w.a[0]), &rad_b).json();
    assert_eq!(how["reached"], "grant");
    assert_eq!(how["grant"]["kind"], "referral");
    // A granted study is not passed on.
    let passed = post(
        &w,
        "/api/access/grants",
        &rad_b,
        &json!({"kind": "referral", "to_institution": "HOSP_C", "studies": [w.a[0]], "reason": "onwards", "minutes": 60}),
    );
    assert_eq!(passed.status, 403);

    // Consent and recognition grants to one person: that person only.
    let b_id = w.server.index().await.user_by_name("b-radiologist").await.unwrap().unwrap().user_id;
    for (kind, study) in [("consent", &w.a[1]), ("recognition", &w.a[2])] {
        let g = post(
            &w,
            "/api/access/grants",
            &rad_a,
            &json!({"kind": kind, "to_person": b_id, "studies": [study], "reason": kind, "minutes": 60}),
        );
        assert_eq!(g.status, 201, "{kind}: {}", String::from_utf8_lossy(&g.body));
        assert_eq!(get(&w, &format!("/dicom-web/studies/{study}/metadata"), &rad_b).status, 200, "{kind}");
        assert_eq!(get(&w, &format!("/dicom-web/studies/{study}/metadata"), &ref_b).status, 403, "{kind} is for one person");
    }

    // Revoked by the one who gave it: closed on the next request.
    assert_eq!(post(&w, &format!("/api/access/grants/{referral}/revoke"), &rad_a, &json!({})).status, 204);
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &ref_b).status, 403);
    assert!(!found(&w, &ref_b).contains(&w.a[0]));

    // An expired grant opens nothing.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let expired = Grant {
        grant_id: "g-old".into(),
        kind: "referral".into(),
        grantor: "person:x".into(),
        grantee_kind: "institution".into(),
        grantee: "HOSP_B".into(),
        reason: "old".into(),
        created_ms: now - 7_200_000,
        not_before_ms: now - 7_200_000,
        not_after_ms: now - 60_000,
        revoked_ms: None,
        revoked_by: None,
        studies: vec![w.a[0].clone()],
    };
    w.server.index().await.insert_grant(&expired).await.unwrap();
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &ref_b).status, 403);

    // Break-glass: a typed reason, a time limit, for oneself only.
    let huge = format!("emergency: {}", "x".repeat(100_000));
    let long_reason =
        post(&w, "/api/access/grants", &ref_b, &json!({"kind": "break-glass", "studies": [w.a[0]], "reason": huge, "minutes": 30}));
    assert_eq!(long_reason.status, 400, "a reason is bounded");
    let bad =
        post(&w, "/api/access/grants", &ref_b, &json!({"kind": "break-glass", "studies": [w.a[0]], "reason": "because", "minutes": 30}));
    assert_eq!(bad.status, 400, "a reason code is required");
    let long = post(
        &w,
        "/api/access/grants",
        &ref_b,
        &json!({"kind": "break-glass", "studies": [w.a[0]], "reason": "emergency: unconscious patient", "minutes": 600}),
    );
    assert_eq!(long.status, 400, "at most break_glass_max_minutes");
    let bg = post(
        &w,
        "/api/access/grants",
        &ref_b,
        &json!({"kind": "break-glass", "studies": [w.a[0]], "reason": "emergency: unconscious patient", "minutes": 30}),
    );
    assert_eq!(bg.status, 201, "{}", String::from_utf8_lossy(&bg.body));
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &ref_b).status, 200);
    assert_eq!(get(&w, &format!("/dicom-web/studies/{}/metadata", w.a[0]), &rad_b).status, 403, "break-glass is for oneself");
    let events = access_events(&w.server.index().await).await;
    assert!(events.iter().any(|e| e.event == "break-glass" && e.studies == [w.a[0].clone()]), "break-glass is on the record");
    // Administrators have no break-glass.
    let sec = session(&w, "a-security-admin", "security-admin");
    let admin_bg = post(
        &w,
        "/api/access/grants",
        &sec,
        &json!({"kind": "break-glass", "studies": [w.a[0]], "reason": "emergency: x y z", "minutes": 30}),
    );
    assert_eq!(admin_bg.status, 403);
}
