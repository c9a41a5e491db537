//! TLS transport: HTTPS on the HTTP port (HSTS, plaintext refused, the
//! handshake inside the header timeout, certificates reloaded on SIGHUP)
//! and DICOM over TLS with DCMTK (store, find, get; client certificates,
//! certificates bound to AEs). Certificates come from the `openssl` CLI.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A test CA and certificates it signs (EC P-256), in a directory.
pub(crate) struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub(crate) fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let pki = Pki { dir: dir.to_path_buf() };
        run(pki
            .openssl()
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key"])
            .args(["-out", "ca.pem", "-days", "2", "-subj", "/CN=Yunying Test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        pki
    }

    fn openssl(&self) -> Command {
        let mut cmd = Command::new("openssl");
        cmd.current_dir(&self.dir);
        cmd
    }

    /// `name.key` and `name.pem` (CN = `name`, for localhost and 127.0.0.1,
    /// server and client use), signed by the CA with `serial`.
    pub(crate) fn issue(&self, name: &str, serial: u32) -> (PathBuf, PathBuf) {
        let (key, csr, pem, ext) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        run(self
            .openssl()
            .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &key, "-out", &csr])
            .args(["-subj", &format!("/CN={name}")]));
        std::fs::write(
            self.dir.join(&ext),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        run(self
            .openssl()
            .args(["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2", "-out", &pem, "-extfile", &ext])
            .args(["-set_serial", &serial.to_string()]));
        (self.dir.join(key), self.dir.join(pem))
    }

    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The SHA-256 fingerprint of a certificate, as openssl prints it.
    fn fingerprint(&self, pem: &Path) -> String {
        let out = run(self.openssl().args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(pem));
        String::from_utf8(out.stdout).unwrap().trim().split_once('=').unwrap().1.to_string()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// The subject of the certificate the HTTPS or DICOM TLS port shows now.
fn served_subject(port: u16) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    all.lines().find(|l| l.starts_with("subject=")).map(str::to_string).unwrap_or_else(|| panic!("no certificate shown: {all}"))
}

fn sighup(pid: u32) {
    assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
}

#[test]
fn https_serves_with_hsts_refuses_plaintext_cuts_silent_connections_and_reloads_on_sighup() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("server-1", 1001);
    let config = format!("[http]\nheader_timeout_secs = 2\nmax_connections_per_address = 2\n[http.tls]\ncert = {cert:?}\nkey = {key:?}\n");
    let server = Server::start(&tmp.path().join("data"), Some(&config));
    let port = server.http_port;
    let url = format!("https://127.0.0.1:{port}/healthz");

    // Over HTTPS with the test CA: 200, HSTS.
    let out = run(Command::new("curl").args(["-sS", "-D", "-", "--cacert"]).arg(pki.ca()).arg(&url));
    let response = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(response.starts_with("http/1.1 200"), "{response}");
    assert!(response.contains("strict-transport-security: max-age=31536000"), "{response}");
    // Headless Chromium negotiates with it too, trusting exactly our
    // certificate's key (no blanket "ignore certificate errors").
    let spki = run(Command::new("sh").arg("-c").arg(format!(
        "openssl x509 -in {:?} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert
    )));
    let spki = String::from_utf8_lossy(&spki.stdout).trim().to_string();
    let profile = tmp.path().join("chromium");
    let page = run(Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--timeout=20000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
        .args(["--dump-dom", &url]));
    let dom = String::from_utf8_lossy(&page.stdout);
    assert!(dom.contains("\"status\":\"ok\""), "Chromium over HTTPS: {dom}");
    // A client that does not trust the CA fails.
    let untrusted = Command::new("curl").args(["-sS", &url]).output().unwrap();
    assert!(!untrusted.status.success(), "{}", text(&untrusted));

    // Plain HTTP on the TLS port: no HTTP answer, the connection closed.
    let (answer, closed) = http_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", Duration::from_secs(5));
    assert!(closed, "a plaintext request must be refused");
    assert!(!answer.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&answer));
    assert!(http_get(port, "/healthz").is_none());

    // TCP opened and no handshake: cut after the header timeout (2 s).
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10));
    let waited = started.elapsed();
    assert!(closed && waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8), "closed {closed} after {waited:?}");

    // Connections that have not shaken hands hold their address's slots:
    // a third is closed at once, until one of them goes.
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = Command::new("curl").args(["-sS", "-o", "/dev/null", "--cacert"]).arg(pki.ca()).arg(&url).output().unwrap();
    assert!(!refused.status.success(), "{}", text(&refused));
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    run(Command::new("curl").args(["-sS", "-o", "/dev/null", "--cacert"]).arg(pki.ca()).arg(&url));

    // SIGHUP: a file that does not load keeps the certificate in use.
    assert!(served_subject(port).contains("server-1"));
    let good = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, "not a certificate").unwrap();
    sighup(server.pid());
    std::thread::sleep(Duration::from_millis(500));
    assert!(served_subject(port).contains("server-1"));
    std::fs::write(&cert, good).unwrap();
    // A new certificate and key in the same files: new connections get it.
    let (new_key, new_cert) = pki.issue("server-2", 1002);
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    sighup(server.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served_subject(port).contains("server-2") {
        assert!(Instant::now() < deadline, "the new certificate is not served after SIGHUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    run(Command::new("curl").args(["-sS", "-o", "/dev/null", "--cacert"]).arg(pki.ca()).arg(&url));
}

#[test]
fn plain_http_off_loopback_needs_tls_or_a_trusted_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[http]\nbind = \"0.0.0.0\"\nbearer_token = \"t0ken\"\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&config).arg("--data-dir").arg(tmp.path().join("d")).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("http.tls") && text(&out).contains("trusted_proxies"), "{}", text(&out));
}

/// DCMTK's TLS options: a client key and certificate, trusting the CA.
fn tls_args<'a>(pki: &'a Pki, client: Option<&'a (PathBuf, PathBuf)>) -> Vec<String> {
    let mut args = match client {
        Some((key, cert)) => vec!["+tls".to_string(), key.display().to_string(), cert.display().to_string()],
        None => vec!["+tla".to_string()],
    };
    args.extend(["+cf".to_string(), pki.ca().display().to_string()]);
    args
}

fn echo(port: u16, tls: &[String]) -> Output {
    dcmtk("echoscu").args(tls).args(["-aec", "YUNYING", "127.0.0.1", &port.to_string()]).output().unwrap()
}

fn find(port: u16, calling: &str, tls: &[String]) -> Output {
    dcmtk("findscu")
        .args(tls)
        .args(["-v", "-S", "-aet", calling, "-aec", "YUNYING", "127.0.0.1", &port.to_string()])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID"])
        .output()
        .unwrap()
}

fn find_matches(out: &Output) -> usize {
    text(out).lines().filter(|l| l.contains("Find Response:") && l.contains("(Pending)")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn dicom_over_tls_stores_finds_and_gets_with_dcmtk() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("archive", 2001);
    let client = pki.issue("modality", 2002);
    let data = tmp.path().join("data");
    let config = format!("[dicom.tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {:?}\n", pki.ca());
    let server = Server::start(&data, Some(&config));
    let port = server.dicom_tls_port;
    assert!(port != 0 && port != server.dicom_port);
    let tls = tls_args(&pki, Some(&client));

    let out = echo(port, &tls);
    assert!(out.status.success(), "{}", text(&out));
    // Without a client certificate too (not required here).
    let out = echo(port, &tls_args(&pki, None));
    assert!(out.status.success(), "{}", text(&out));
    // Plain DICOM on the TLS port, and TLS on the plain port, fail.
    assert!(!echo(port, &[]).status.success());
    assert!(!echo(server.dicom_port, &tls).status.success());

    let series = tmp.path().join("ct");
    gen_ct(&series, 3, 64, 81);
    run(dcmtk("storescu").args(&tls).args(["-aec", "YUNYING", "+sd", "+r", "127.0.0.1", &port.to_string()]).arg(&series));
    let index = server.index().await;
    let files = files_under(&series);
    assert_stored_identically(&server, &index, &files).await;

    register_ae(&data, "TLSFIND", 104, Some("find,get"));
    let out = find(port, "TLSFIND", &tls);
    assert!(out.status.success() && find_matches(&out) == 1, "{}", text(&out));

    // C-GET over TLS: the instances come back on the same association (read
    // from the store and encrypted, not sendfile), byte for byte.
    let study = index.instance(&part10(&files[0]).0.sop_instance_uid).await.unwrap().unwrap().study_instance_uid;
    let got = tmp.path().join("got");
    std::fs::create_dir_all(&got).unwrap();
    let (client_key, client_cert) = &client;
    let out = run(python()
        .arg(format!("{ROOT}/tests/py/tls_get.py"))
        .arg(port.to_string())
        .args([pki.ca(), client_key.clone(), client_cert.clone()])
        .arg(&study)
        .arg(&got));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0000", "{}", text(&out));
    let mut back: Vec<Vec<u8>> = files_under(&got).iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut sent: Vec<Vec<u8>> = files.iter().map(|f| part10(f).1).collect();
    back.sort();
    sent.sort();
    assert!(back.len() == 3 && back == sent, "{} instances back over TLS", back.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_required_and_bind_aes() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("archive", 3001);
    let registered = pki.issue("ris", 3002);
    let other = pki.issue("intruder", 3003);
    let data = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    let config = format!("[dicom.tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {:?}\nrequire_client_cert = true\n", pki.ca());
    let server = Server::start_with_log(&data, Some(&config), Some(&log));
    let port = server.dicom_tls_port;

    // No client certificate: the handshake fails.
    assert!(!echo(port, &tls_args(&pki, None)).status.success());
    // One the CA did not sign: fails too.
    let stranger = Pki::new(&tmp.path().join("other-ca"));
    let foreign = stranger.issue("foreign", 1);
    let mut foreign_args = tls_args(&stranger, Some(&foreign));
    foreign_args.extend(["+cf".to_string(), pki.ca().display().to_string()]);
    assert!(!echo(port, &foreign_args).status.success());
    // With the CA's certificate: served.
    let out = echo(port, &tls_args(&pki, Some(&registered)));
    assert!(out.status.success(), "{}", text(&out));

    let series = tmp.path().join("ct");
    gen_ct(&series, 1, 32, 82);
    run(dcmtk("storescu")
        .args(tls_args(&pki, Some(&registered)))
        .args(["-aec", "YUNYING", "+sd", "+r", "127.0.0.1", &port.to_string()])
        .arg(&series));

    // RIS may find, with its own certificate only.
    run(cli(&data).args([
        "ae",
        "add",
        "RIS",
        "127.0.0.1",
        "104",
        "--platform",
        "--allow",
        "find",
        "--cert-sha256",
        &pki.fingerprint(&registered.1),
    ]));
    let out = find(port, "RIS", &tls_args(&pki, Some(&registered)));
    assert!(out.status.success() && find_matches(&out) == 1, "{}", text(&out));
    // Another certificate of the same CA calling as RIS: not RIS
    // (A-ASSOCIATE-RJ, calling AE not recognised).
    let out = find(port, "RIS", &tls_args(&pki, Some(&other)));
    assert!(!out.status.success() && text(&out).to_ascii_lowercase().contains("calling ae title not recognized"), "{}", text(&out));
    // Nor without TLS on the plain port.
    let out = find(server.dicom_port, "RIS", &[]);
    assert!(!out.status.success() && text(&out).to_ascii_lowercase().contains("calling ae title not recognized"), "{}", text(&out));
    // `ae list` shows the binding; registering again keeps it, `none` drops it.
    let list = String::from_utf8(run(cli(&data).args(["ae", "list"])).stdout).unwrap();
    let hex = pki.fingerprint(&registered.1).replace(':', "").to_ascii_lowercase();
    assert!(list.contains(&hex), "{list}");
    register_ae(&data, "RIS", 104, Some("find"));
    assert!(!find(server.dicom_port, "RIS", &[]).status.success());
    run(cli(&data).args(["ae", "add", "RIS", "127.0.0.1", "104", "--platform", "--allow", "find", "--cert-sha256", "none"]));
    let out = find(server.dicom_port, "RIS", &[]);
    assert!(out.status.success() && find_matches(&out) == 1, "{}", text(&out));

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("did not present it"), "{logged}");
}

#[test]
fn a_film_over_direct_tls_gets_an_https_link_and_a_secure_cookie() {
    use crate::film::{API_TOKEN, BIRTH_DATE};
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("films", 4001);
    let src = tmp.path().join("src");
    gen_ct_with(&src, 1, 16, 21, &["--patient-id", "TLS-FILM", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let config = format!("[http]\napi_token = {API_TOKEN:?}\n[http.tls]\ncert = {cert:?}\nkey = {key:?}\n");
    let server = Server::start(&data, Some(&config));
    let base = format!("https://127.0.0.1:{}", server.http_port);
    let curl = |args: &[&str]| {
        let out = run(Command::new("curl").args(["-sS", "--cacert"]).arg(pki.ca()).args(args));
        String::from_utf8(out.stdout).unwrap()
    };
    let studies: serde_json::Value = serde_json::from_str(&curl(&[&format!("{base}/dicom-web/studies?PatientID=TLS-FILM")])).unwrap();
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap();
    let auth = format!("Authorization: Bearer {API_TOKEN}");
    let body = serde_json::json!({"study": study}).to_string();
    let created = curl(&["-H", &auth, "-H", "Content-Type: application/json", "-d", &body, &format!("{base}/api/films")]);
    let film: serde_json::Value = serde_json::from_str(&created).unwrap();
    let url = film["url"].as_str().unwrap();
    let (link_base, token) = url.split_once("/f#").unwrap();
    assert_eq!(link_base, base, "the link names the scheme the request came by");
    let answer = serde_json::json!({"token": token, "answer": BIRTH_DATE}).to_string();
    let verified =
        curl(&["-D", "-", "-o", "/dev/null", "-H", "Content-Type: application/json", "-d", &answer, &format!("{base}/api/film/verify")]);
    let cookie = verified.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_else(|| panic!("{verified}"));
    assert!(cookie.contains("Secure"), "{cookie}");
}

/// SIGHUP (what `systemctl reload` sends) reloads certificates where there
/// are TLS listeners; without any it must not end the server, which is
/// the signal's default action.
#[test]
fn sighup_without_tls_listeners_leaves_the_server_serving() {
    use crate::wire::http_get;
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    let server = Server::start_with_log(&tmp.path().join("data"), None, Some(&log));
    sighup(server.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("SIGHUP") {
        assert!(Instant::now() < deadline, "no SIGHUP line in the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = http_get(server.http_port, "/healthz").unwrap();
    assert_eq!(status, 200);
}

/// Retrieve URLs follow the scheme the client used: https over our own
/// TLS, and a client cannot choose it with `X-Forwarded-Proto` (only a
/// trusted proxy's is read: `nginx.rs`).
#[test]
fn retrieve_urls_follow_the_scheme_the_client_used() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("server-3", 1003);
    let token = "scheme-test-token";
    let retrieve_url = |args: &[&str], url: String| -> String {
        let out = run(Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(pki.ca())
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(args)
            .arg(url));
        let studies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        studies[0]["00081190"]["Value"][0].as_str().unwrap_or_else(|| panic!("{studies}")).to_string()
    };
    for tls in [true, false] {
        let data = tmp.path().join(format!("data-{tls}"));
        run(cli(&data).args(["import", "--quiet"]).arg(format!("{ROOT}/testdata/dicom/ct_implicit_le.dcm")));
        let tls_section = if tls { format!("[http.tls]\ncert = {cert:?}\nkey = {key:?}\n") } else { String::new() };
        let config = format!("[http]\nbearer_token = {token:?}\n[access]\nanonymous = \"nobody\"\n{tls_section}");
        let server = Server::start(&data, Some(&config));
        let scheme = if tls { "https" } else { "http" };
        let url = format!("{scheme}://localhost:{}/dicom-web/studies", server.http_port);
        // Over TLS no header is needed; over plain HTTP a client's own claim is ignored.
        let claim: &[&str] = if tls { &[] } else { &["-H", "X-Forwarded-Proto: https"] };
        let got = retrieve_url(claim, url);
        assert!(got.starts_with(&format!("{scheme}://localhost:{}/dicom-web/studies/", server.http_port)), "{got}");
    }
}
