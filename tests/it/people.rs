//! People against the real server: local accounts made by the command
//! line, sign-in with the session cookie, lockout (also under a burst of
//! concurrent guesses), TOTP enrolment and single-use codes, administrators
//! without a second factor held to enrolment, idle and absolute timeouts,
//! logout everywhere, the role rules of the three administrators, and no
//! password, token or TOTP secret in the log.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::{Value, json};
use yunying_access::people::totp::{base32_decode, code_at, step_of};

use crate::film::{Reply, contains, request};
use crate::harness::*;

pub(crate) const PASSWORD: &str = "Correct-Horse-7-battery";

/// `yunying user …` on the server's data directory, with `stdin` as input.
pub(crate) fn user_cli(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = cli(data);
    cmd.arg("user").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Create an account with PASSWORD.
pub(crate) fn add_user(data: &Path, name: &str, institution: Option<&str>, roles: &str) {
    let mut args = vec!["add", name, "--roles", roles, "--password-stdin"];
    if let Some(i) = institution {
        args.extend(["--institution", i]);
    }
    user_cli(data, &args, Some(&format!("{PASSWORD}\n")));
}

pub(crate) fn post(port: u16, path: &str, cookie: Option<&str>, body: &Value) -> Reply {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("Cookie", c)]).unwrap_or_default();
    request(port, "POST", path, &headers, Some(body))
}

pub(crate) fn get(port: u16, path: &str, cookie: &str) -> Reply {
    request(port, "GET", path, &[("Cookie", cookie)], None)
}

pub(crate) fn login(port: u16, user: &str, password: &str, totp: Option<&str>) -> Reply {
    let mut body = json!({"username": user, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    post(port, "/api/auth/login", None, &body)
}

/// The `yy_session=…` pair a reply sets.
pub(crate) fn session_of(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (pair, _) = r.cookie();
    assert!(pair.starts_with("yy_session="), "{pair}");
    pair
}

/// The TOTP code of `secret` (base32) `steps` steps from now.
pub(crate) fn code(secret: &str, steps: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    code_at(&base32_decode(secret).unwrap(), step_of(now) + steps)
}

/// Sign an administrator in for the first time: enrolment only, enrol a
/// second factor, confirm it; the full session and the secret.
pub(crate) fn enrolled(port: u16, name: &str) -> (String, String) {
    let first = login(port, name, PASSWORD, None);
    let limited = session_of(&first);
    assert_eq!(first.json()["needs_totp_enrolment"], true, "{name}: {}", first.json());
    let e = post(port, "/api/auth/totp/enroll", Some(&limited), &json!({}));
    assert_eq!(e.status, 200, "{}", String::from_utf8_lossy(&e.body));
    let secret = e.json()["secret"].as_str().unwrap().to_string();
    let confirmed = post(port, "/api/auth/totp/confirm", Some(&limited), &json!({"code": code(&secret, 0)}));
    (session_of(&confirmed), secret)
}

fn start(data: &Path, log: &Path, extra: &str) -> Server {
    Server::start_with_log(data, Some(extra), Some(log))
}

async fn user_id(server: &Server, name: &str) -> String {
    server.index().await.user_by_name(name).await.unwrap().unwrap_or_else(|| panic!("no account {name}")).user_id
}

#[tokio::test(flavor = "multi_thread")]
async fn local_sign_in_me_logout_and_logout_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    let generated = user_cli(&data, &["add", "li", "--institution", "INST-A", "--roles", "referring"], None);
    let li_password = generated.lines().find_map(|l| l.strip_prefix("password: ")).expect("a generated password").to_string();
    let server = start(&data, &log, "");
    let port = server.http_port;

    let r = login(port, "wang", PASSWORD, None);
    let cookie = session_of(&r);
    let (_, attributes) = r.cookie();
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(a), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain HTTP on loopback: {attributes}");
    let me = get(port, "/api/auth/me", &cookie);
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!((me["user"].as_str(), me["institution"].as_str()), (Some("wang"), Some("INST-A")));
    assert_eq!(me["roles"], json!(["radiologist"]));
    assert_eq!(me["needs_totp_enrolment"], false);
    let li = login(port, "li", &li_password, None);
    assert_eq!(li.status, 200, "the generated password works");

    // Forgery: not JSON, or from another origin.
    let form =
        request(port, "POST", "/api/auth/logout", &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")], None);
    assert_eq!(form.status, 415);
    let foreign = request(port, "POST", "/api/auth/logout", &[("Cookie", &cookie), ("Origin", "https://evil.example")], Some(&json!({})));
    assert_eq!(foreign.status, 403);
    assert_eq!(get(port, "/api/auth/me", &cookie).status, 200, "neither signed out");

    // Wrong password, unknown user: the same answer.
    let wrong = login(port, "wang", "Wrong-Password-1", None);
    let nobody = login(port, "nobody", PASSWORD, None);
    assert_eq!((wrong.status, nobody.status), (401, 401));
    assert_eq!(wrong.json()["error"], nobody.json()["error"]);
    assert!(wrong.headers.to_ascii_lowercase().contains("www-authenticate: bearer"), "{}", wrong.headers);

    // Logout ends one session; logout-all every one of the account.
    let second = session_of(&login(port, "wang", PASSWORD, None));
    let third = session_of(&login(port, "wang", PASSWORD, None));
    assert_eq!(post(port, "/api/auth/logout", Some(&third), &json!({})).status, 204);
    assert_eq!(get(port, "/api/auth/me", &third).status, 401);
    assert_eq!(get(port, "/api/auth/me", &second).status, 200);
    let all = post(port, "/api/auth/logout-all", Some(&cookie), &json!({}));
    assert_eq!(all.status, 200);
    for c in [&cookie, &second] {
        let r = get(port, "/api/auth/me", c);
        assert_eq!(r.status, 401);
        assert!(r.headers.to_ascii_lowercase().contains("www-authenticate"), "{}", r.headers);
    }

    // Stored as Argon2id; secrets nowhere in the log.
    let index = server.index().await;
    let hash = index.user_by_name("wang").await.unwrap().unwrap().password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let text = std::fs::read(&log).unwrap();
    let token = cookie.trim_start_matches("yy_session=");
    for secret in [PASSWORD, li_password.as_str(), token, "Wrong-Password-1"] {
        assert!(!contains(&text, secret), "the log holds a secret");
    }
    let events = access_events(&index).await;
    assert!(events.iter().any(|e| e.event == "sign-in" && e.result == "ok"));
    assert!(events.iter().all(|e| !e.detail.contains(PASSWORD) && !e.principal.contains("nobody")), "typed names are not recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_lock_even_when_guessed_at_once_and_an_admin_unlocks() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    add_user(&data, "li", Some("INST-A"), "radiologist");
    add_user(&data, "admin-a", Some("INST-A"), "institution-admin");
    let server = start(&data, &log, "");
    let port = server.http_port;
    let (admin, _) = enrolled(port, "admin-a");

    for i in 0..5 {
        assert_eq!(login(port, "wang", &format!("Wrong-guess-{i}"), None).status, 401);
    }
    let locked = login(port, "wang", PASSWORD, None);
    assert_eq!(locked.status, 401, "the sixth, right, password is refused");
    assert_eq!(
        locked.json()["error"],
        login(port, "wang", "Wrong-guess-x", None).json()["error"],
        "a locked account answers as a wrong password"
    );
    let index = server.index().await;
    let events = access_events(&index).await;
    let wang = user_id(&server, "wang").await;
    assert!(events.iter().any(|e| e.event == "account-locked" && e.principal == format!("person:{wang}")));

    // The institution's administrator unlocks it.
    let users = get(port, "/api/admin/users", &admin).json();
    assert!(users["users"].as_array().unwrap().iter().any(|u| u["username"] == "wang" && u["locked_until_ms"].is_i64()), "{users}");
    let unlocked = post(port, &format!("/api/admin/users/{wang}/unlock"), Some(&admin), &json!({}));
    assert_eq!(unlocked.status, 200, "{}", String::from_utf8_lossy(&unlocked.body));
    assert_eq!(login(port, "wang", PASSWORD, None).status, 200);

    // Twenty guesses at once: five passwords compared, no more.
    let barrier = Arc::new(Barrier::new(20));
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                login(port, "li", &format!("Concurrent-guess-{i}"), None).status
            })
        })
        .collect();
    assert!(guesses.into_iter().all(|g| g.join().unwrap() == 401));
    let li = index.user_by_name("li").await.unwrap().unwrap();
    assert!(li.locked_until_ms.is_some(), "locked");
    let compared = access_events(&index)
        .await
        .into_iter()
        .filter(|e| e.principal == format!("person:{}", li.user_id) && e.detail == "wrong password")
        .count();
    assert_eq!(compared, 5, "exactly the limit of passwords compared");
    assert_eq!(login(port, "li", PASSWORD, None).status, 401);
    let text = std::fs::read(&log).unwrap();
    assert!(!contains(&text, PASSWORD) && !contains(&text, "Concurrent-guess") && !contains(&text, "Wrong-guess"));
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_enrolment_single_use_codes_and_enrolment_only_admins() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    add_user(&data, "sec", None, "security-admin");
    let server = start(&data, &log, "");
    let port = server.http_port;

    // An administrator without a second factor: enrolment and nothing else.
    let first = login(port, "sec", PASSWORD, None);
    let limited = session_of(&first);
    assert_eq!(first.json()["needs_totp_enrolment"], true);
    assert_eq!(get(port, "/api/admin/users", &limited).status, 403);
    let me = get(port, "/api/auth/me", &limited).json();
    assert_eq!((me["roles"].clone(), me["needs_totp_enrolment"].clone()), (json!(["security-admin"]), json!(true)), "{me}");
    let e = post(port, "/api/auth/totp/enroll", Some(&limited), &json!({})).json();
    let secret = e["secret"].as_str().unwrap().to_string();
    let uri = e["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Yunying:sec?secret=") && uri.contains(&secret) && uri.contains("digits=6&period=30"), "{uri}");
    assert_eq!(post(port, "/api/auth/totp/confirm", Some(&limited), &json!({"code": "000000"})).status, 400);
    let now_code = code(&secret, 0);
    let full = session_of(&post(port, "/api/auth/totp/confirm", Some(&limited), &json!({"code": now_code})));
    assert_eq!(get(port, "/api/auth/me", &limited).status, 401, "the enrolment session ended");
    assert_eq!(get(port, "/api/admin/users", &full).status, 200);
    assert_eq!(post(port, "/api/auth/totp/enroll", Some(&full), &json!({})).status, 400, "enrolled once");

    // Signing in now needs a code, and a code works once.
    let asked = login(port, "sec", PASSWORD, None);
    assert_eq!((asked.status, asked.json()["totp_required"].as_bool()), (401, Some(true)));
    assert_eq!(login(port, "sec", PASSWORD, Some(&now_code)).status, 401, "the code used to confirm is spent");
    let next = code(&secret, 1);
    let signed = login(port, "sec", PASSWORD, Some(&next));
    assert_eq!(signed.status, 200, "{}", String::from_utf8_lossy(&signed.body));
    assert_eq!(signed.json()["needs_totp_enrolment"], false);
    assert_eq!(login(port, "sec", PASSWORD, Some(&next)).status, 401, "a reused code is refused");
    assert_eq!(login(port, "sec", "Wrong-Password-9", Some(&code(&secret, 1))).status, 401);

    let text = std::fs::read(&log).unwrap();
    assert!(!contains(&text, &secret) && !contains(&text, PASSWORD), "no TOTP secret or password in the log");
    let stored = server.index().await.user_by_name("sec").await.unwrap().unwrap();
    assert!(stored.totp_confirmed);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_and_at_their_absolute_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    let server = start(&data, &log, "[access.accounts]\nsession_idle_secs = 2\nsession_max_secs = 4\n");
    let port = server.http_port;
    let busy = session_of(&login(port, "wang", PASSWORD, None));
    let idle = session_of(&login(port, "wang", PASSWORD, None));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(get(port, "/api/auth/me", &busy).status, 200, "used within the idle time");
    }
    assert_eq!(get(port, "/api/auth/me", &idle).status, 401, "idle for 3 s of 2");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(get(port, "/api/auth/me", &busy).status, 401, "past the absolute limit, however busy");
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_keep_to_their_jobs_and_changes_apply_at_the_next_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    add_user(&data, "sec", None, "security-admin");
    add_user(&data, "sys", None, "system-admin");
    add_user(&data, "aud", None, "audit-admin");
    add_user(&data, "admin-a", Some("INST-A"), "institution-admin");
    add_user(&data, "wang", Some("INST-A"), "radiologist");
    add_user(&data, "zhao", Some("INST-B"), "radiologist");
    let server = start(&data, &log, "");
    let port = server.http_port;
    let (sec, _) = enrolled(port, "sec");
    let (sys, _) = enrolled(port, "sys");
    let (aud, _) = enrolled(port, "aud");
    let (inst, _) = enrolled(port, "admin-a");
    let wang_session = session_of(&login(port, "wang", PASSWORD, None));
    let [sec_id, sys_id, wang, zhao] =
        [user_id(&server, "sec").await, user_id(&server, "sys").await, user_id(&server, "wang").await, user_id(&server, "zhao").await];
    let roles =
        |cookie: &str, id: &str, roles: &str| post(port, &format!("/api/admin/users/{id}/roles"), Some(cookie), &json!({"roles": roles}));

    assert_eq!(roles(&sec, &sec_id, "security-admin,radiologist").status, 403, "no one changes their own roles");
    assert_eq!(roles(&sec, &sys_id, "system-admin,audit-admin").status, 403, "one administrator role per account");
    assert_eq!(roles(&inst, &wang, "security-admin").status, 403, "an institution admin gives clinical roles only");
    assert_eq!(roles(&inst, &zhao, "radiologist,referring").status, 403, "…in their own institution");
    assert_eq!(roles(&sys, &wang, "technologist").status, 403, "the system admin gives no roles");
    assert_eq!(roles(&aud, &wang, "technologist").status, 403);
    let given = roles(&inst, &wang, "radiologist,technologist");
    assert_eq!(given.status, 200, "{}", String::from_utf8_lossy(&given.body));
    assert_eq!(get(port, "/api/auth/me", &wang_session).json()["roles"], json!(["radiologist", "technologist"]), "at the next request");
    assert_eq!(roles(&sec, &wang, "").status, 200);
    assert_eq!(get(port, "/api/auth/me", &wang_session).json()["roles"], json!([]), "taken away at the next request");

    // The audit administrator manages no account; the system administrator reads no audit.
    assert_eq!(get(port, "/api/admin/users", &aud).status, 403);
    let create = json!({"username": "new-one", "institution": "INST-A"});
    assert_eq!(post(port, "/api/admin/users", Some(&aud), &create).status, 403);
    let access = yunying_access::Access::new(server.index().await, Default::default());
    let sys_principal = access.authenticate_session(sys.trim_start_matches("yy_session=")).await.unwrap();
    assert!(access.require(&sys_principal, yunying_access::Action::ReadAudit).is_err());
    let aud_principal = access.authenticate_session(aud.trim_start_matches("yy_session=")).await.unwrap();
    assert!(access.require(&aud_principal, yunying_access::Action::ReadAudit).is_ok());

    // Accounts: the institution admin within INST-A, the system admin anywhere.
    let made = post(port, "/api/admin/users", Some(&inst), &create);
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    assert!(made.json()["password"].as_str().is_some_and(|p| p.len() >= 12), "a generated password, shown once");
    assert_eq!(post(port, "/api/admin/users", Some(&inst), &json!({"username": "b-one", "institution": "INST-B"})).status, 403);
    assert_eq!(post(port, &format!("/api/admin/users/{zhao}/disable"), Some(&inst), &json!({})).status, 403);
    assert_eq!(post(port, &format!("/api/admin/users/{sec_id}/disable"), Some(&inst), &json!({})).status, 403);
    let listed = get(port, "/api/admin/users", &inst).json();
    assert!(listed["users"].as_array().unwrap().iter().all(|u| u["institution"] == "INST-A"), "{listed}");

    // Sessions: listed by public id, ended one by one; disabling ends them all.
    let zhao_session = session_of(&login(port, "zhao", PASSWORD, None));
    let sessions = get(port, "/api/admin/sessions", &sys).json();
    let zhao_open =
        sessions["sessions"].as_array().unwrap().iter().find(|s| s["user_id"] == zhao.as_str()).expect("zhao's session").clone();
    assert!(!zhao_open.to_string().contains(zhao_session.trim_start_matches("yy_session=")), "no token in the list");
    let sid = zhao_open["session_id"].as_str().unwrap();
    assert_eq!(request(port, "DELETE", &format!("/api/admin/sessions/{sid}"), &[("Cookie", &inst)], Some(&json!({}))).status, 403);
    assert_eq!(request(port, "DELETE", &format!("/api/admin/sessions/{sid}"), &[("Cookie", &sys)], Some(&json!({}))).status, 204);
    assert_eq!(get(port, "/api/auth/me", &zhao_session).status, 401);
    assert_eq!(post(port, &format!("/api/admin/users/{wang}/disable"), Some(&sys), &json!({})).status, 200);
    assert_eq!(get(port, "/api/auth/me", &wang_session).status, 401, "disabled: at the next request");
    assert_eq!(login(port, "wang", PASSWORD, None).status, 401);
    assert_eq!(post(port, &format!("/api/admin/users/{wang}/enable"), Some(&sys), &json!({})).status, 200);
    assert_eq!(login(port, "wang", PASSWORD, None).status, 200);
    let events = access_events(&server.index().await).await;
    for e in ["roles-changed", "account-created", "account-disabled", "account-enabled", "session-ended", "totp-enrolled"] {
        assert!(events.iter().any(|x| x.event == e && x.result == "ok"), "{e} recorded");
    }
    assert!(events.iter().any(|x| x.event == "roles-changed" && x.result == "denied"));
}
