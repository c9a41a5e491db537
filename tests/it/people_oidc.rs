//! OpenID Connect against a real, certified provider (`oidc-provider`,
//! tests/oidc/idp.mjs) on loopback: the browser sign-in (authorization code
//! with PKCE, state and nonce) driven redirect by redirect, and the
//! provider's JWT access tokens as bearer tokens, with the forged ones
//! (expired, another key, another audience, `none`, HMAC) refused.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::film::{Reply, request};
use crate::harness::*;

/// The provider's process; killed when dropped.
pub(crate) struct Idp {
    child: Child,
    issuer: String,
    port: u16,
}

impl Idp {
    pub(crate) fn start() -> Idp {
        let dir = format!("{ROOT}/tests/oidc");
        assert!(
            std::path::Path::new(&format!("{dir}/node_modules/oidc-provider")).is_dir(),
            "tests/oidc/node_modules is missing: run scripts/install-deps.sh (npm ci in tests/oidc)"
        );
        let mut child =
            Command::new("node").arg(format!("{dir}/idp.mjs")).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("node");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // Drained to the end: a closed pipe would kill the provider at its
        // next notice.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let issuer = line.trim().strip_prefix("issuer ").unwrap_or_else(|| panic!("idp.mjs said {line:?}")).to_string();
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Idp { child, issuer, port }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (port, path and query) of an absolute loopback URL or a path.
fn split_url(url: &str, default_port: u16) -> (u16, String) {
    match url.strip_prefix("http://127.0.0.1:") {
        Some(rest) => {
            let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (port.parse().unwrap(), if path.is_empty() { "/".into() } else { path.to_string() })
        }
        None => (default_port, url.to_string()),
    }
}

fn location(r: &Reply) -> String {
    header(r, "location").unwrap_or_else(|| panic!("a redirect, got {}: {}", r.status, String::from_utf8_lossy(&r.body)))
}

fn header(r: &Reply, name: &str) -> Option<String> {
    r.headers.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
}

/// A browser's cookies for one host (paths ignored: sending more is harmless here).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, r: &Reply) {
        for line in r.headers.lines().filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:")) {
            let value = line.split_once(':').unwrap().1.trim();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            let a = attributes.to_ascii_lowercase();
            if v.is_empty() || a.contains("max-age=0") || a.contains("expires=thu, 01 jan 1970") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), v.to_string());
            }
        }
    }
    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// Follow the provider's redirects (login and consent are automatic) from
/// `url` until one leads to a `…/callback`: that URL.
fn through_idp(idp: &Idp, jar: &mut Jar, url: &str) -> String {
    let mut url = url.to_string();
    for _ in 0..12 {
        let (port, path) = split_url(&url, idp.port);
        if path.split('?').next().unwrap().ends_with("/callback") {
            return url;
        }
        assert_eq!(port, idp.port, "left the provider for {url}");
        let r = request(port, "GET", &path, &[("Cookie", &jar.header())], None);
        jar.take(&r);
        assert!(matches!(r.status, 302 | 303), "{url}: {} {}", r.status, String::from_utf8_lossy(&r.body));
        url = location(&r);
        if url.starts_with('/') {
            url = format!("{}{url}", idp.issuer);
        }
    }
    panic!("too many redirects")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An access token for `account`, got as a public client would: the code
/// flow with PKCE, then the token endpoint.
fn access_token(idp: &Idp, account: &str) -> String {
    let verifier = b64(&rand::random::<[u8; 32]>());
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1/test/callback";
    let url = format!(
        "{}/auth?response_type=code&client_id=bearer-test&redirect_uri={}&scope=openid%20profile&state=s1&nonce=n1&code_challenge={challenge}&code_challenge_method=S256&login_hint={account}",
        idp.issuer,
        form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let back = through_idp(idp, &mut Jar::default(), &url);
    let code = back.split(['?', '&']).find_map(|p| p.strip_prefix("code=")).expect("a code");
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", "bearer-test"),
            ("code_verifier", &verifier),
        ])
        .finish();
    let mut s = TcpStream::connect(("127.0.0.1", idp.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", idp.port, form.len()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    let token: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    token["access_token"].as_str().unwrap_or_else(|| panic!("{token}")).to_string()
}

fn minted(idp: &Idp, kind: &str) -> String {
    let r = request(idp.port, "GET", &format!("/test/mint?kind={kind}"), &[], None);
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

fn me_with(port: u16, token: &str) -> Reply {
    request(port, "GET", "/api/auth/me", &[("Authorization", &format!("Bearer {token}"))], None)
}

pub(crate) fn config(idp: &Idp) -> String {
    format!(
        r#"[[access.oidc]]
name = "test-idp"
issuer = "{}"
client_id = "yunying"
client_secret = "idp-test-client-secret-5b1e9c"
audience = "urn:yunying"
roles_claim = "roles"
institution_claim = "institution"
[access.oidc.role_map]
PACS-Reader = "radiologist"
PACS-Admin = "system-admin"
"#,
        idp.issuer
    )
}

#[test]
fn oidc_browser_sign_in_and_bearer_access_tokens() {
    let idp = Idp::start();
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("server.log"));
    // One study of alice's institution, one of another's.
    for (institution, seed) in [("INST-A", 61), ("INST-B", 62)] {
        let dir = tmp.path().join(institution);
        gen_ct_with(&dir, 1, 16, seed, &["--patient-id", &format!("OIDC-{seed}"), "-q"]);
        run(cli(&data).args(["import", "--quiet", "--institution", institution]).arg(&dir));
    }
    let server = Server::start_with_log(&data, Some(&config(&idp)), Some(&log));
    let port = server.http_port;
    let providers = request(port, "GET", "/api/auth/providers", &[], None).json();
    assert_eq!(providers["providers"][0]["name"], "test-idp", "{providers}");

    // The browser: our login → the provider → our callback → the viewer.
    let start = request(port, "GET", "/api/auth/oidc/test-idp/login", &[], None);
    assert_eq!(start.status, 302);
    let bind = header(&start, "set-cookie").unwrap();
    assert!(bind.starts_with("yy_oidc=") && bind.contains("SameSite=Lax") && bind.contains("HttpOnly"), "{bind}");
    let bind = bind.split(';').next().unwrap().to_string();
    let to_idp = location(&start);
    for p in ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "client_id=yunying"] {
        assert!(to_idp.contains(p), "{to_idp}");
    }
    let callback = through_idp(&idp, &mut Jar::default(), &to_idp);
    let (cb_port, cb_path) = split_url(&callback, port);
    assert_eq!(cb_port, port);
    let unbound = request(port, "GET", &cb_path, &[], None);
    assert_eq!(unbound.status, 401, "a callback this browser did not start");
    let done = request(port, "GET", &cb_path, &[("Cookie", &bind)], None);
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(location(&done), "/viewer/");
    let session = done
        .headers
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie: yy_session="))
        .map(|l| l.split_once(':').unwrap().1.trim().to_string())
        .next()
        .expect("a session cookie");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let cookie = session.split(';').next().unwrap().to_string();
    let me = request(port, "GET", "/api/auth/me", &[("Cookie", &cookie)], None).json();
    assert_eq!((me["user"].as_str(), me["institution"].as_str()), (Some("alice"), Some("INST-A")), "{me}");
    assert_eq!(me["roles"], json!(["radiologist"]));
    assert_eq!(request(port, "GET", &cb_path, &[("Cookie", &bind)], None).status, 401, "a state answers once");

    // Bearer: the provider's own access token (ES256, RFC 9068), for the
    // same person, linked to the same account.
    let token = access_token(&idp, "alice");
    let me = me_with(port, &token);
    assert_eq!(me.status, 200, "{}", String::from_utf8_lossy(&me.body));
    let me = me.json();
    assert_eq!((me["user"].as_str(), me["institution"].as_str()), (Some("alice"), Some("INST-A")));
    assert_eq!(me["roles"], json!(["radiologist"]));
    assert_eq!(
        me_with(port, &minted(&idp, "good")).status,
        200,
        "a correct forgery of ours verifies: the refusals below are for their flaw"
    );
    for kind in ["expired", "foreign", "wrong-aud", "none", "hs256"] {
        let r = me_with(port, &minted(&idp, kind));
        assert_eq!(r.status, 401, "{kind}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.headers.to_ascii_lowercase().contains("www-authenticate: bearer"), "{kind}");
    }
    // OHIF configured for the same provider sends that token to DICOMweb:
    // alice's institution's study, not the other one; a flawed token, 401.
    let studies = request(port, "GET", "/dicom-web/studies", &[("Authorization", &format!("Bearer {token}"))], None);
    assert_eq!(studies.status, 200, "{}", String::from_utf8_lossy(&studies.body));
    let found: Vec<serde_json::Value> = serde_json::from_slice(&studies.body).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["00100020"]["Value"][0], "OIDC-61", "INST-A's study only");
    let refused = request(port, "GET", "/dicom-web/studies", &[("Authorization", &format!("Bearer {}", minted(&idp, "wrong-aud")))], None);
    assert_eq!(refused.status, 401);
    let mut tampered = token.clone();
    tampered.insert_str(tampered.rfind('.').unwrap() + 1, "AA");
    assert_eq!(me_with(port, &tampered).status, 401);

    // An administrator role from a provider not trusted with them is dropped.
    let root = me_with(port, &access_token(&idp, "root")).json();
    assert_eq!((root["user"].as_str(), root["roles"].clone()), (Some("root"), json!([])), "{root}");

    let text = std::fs::read(&log).unwrap();
    for secret in [token.as_str(), "idp-test-client-secret-5b1e9c", cookie.trim_start_matches("yy_session=")] {
        assert!(!crate::film::contains(&text, secret), "a secret in the log");
    }
}
