//! A private rsyslogd for the tests: its own configuration in a temporary
//! directory, listening on one loopback port (TLS through the GnuTLS
//! driver with client certificates required, plain TCP, or UDP), no
//! system inputs (no imuxsock, imklog), writing the audit messages it
//! receives to a file. Certificates are made with the openssl command.
//! Dropping it kills the daemon (our child, by its pid).

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which input the daemon runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Tls,
    Tcp,
    Udp,
}

/// Certificates of a test PKI.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate, all P-256, valid for two days.
pub fn make_pki(dir: &Path) -> Pki {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (Debian: openssl) makes the test certificates");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=yunying-atna test CA"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&ca);
    for (name, ext) in [
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
        ("client", "subjectAltName=DNS:yunying-node\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let mut req = vec!["req"];
        req.extend(ec);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=yunying-atna test"]);
        run(&req);
        let (pem, ext) = (format!("{name}.pem"), format!("{name}.ext"));
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
    Pki { dir: dir.to_path_buf() }
}

/// A port free on loopback now (TCP and UDP alike).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The running daemon.
pub struct Rsyslog {
    child: Child,
    pub out: PathBuf,
    debug: PathBuf,
}

impl Rsyslog {
    /// Starts rsyslogd on `port` and waits (at most 15 s) until it listens.
    pub fn start(dir: &Path, input: Input, port: u16, pki: Option<&Pki>) -> Rsyslog {
        let rsyslogd = Path::new("/usr/sbin/rsyslogd");
        assert!(rsyslogd.exists(), "rsyslogd is missing: apt-get install rsyslog rsyslog-gnutls (scripts/install-deps.sh installs them)");
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.join("audit.log");
        let debug = dir.join("other.log");
        let mut global = format!("workDirectory=\"{}\" maxMessageSize=\"128k\"", work.display());
        let module = match input {
            Input::Tls => {
                let pki = pki.expect("TLS needs the test PKI");
                assert!(
                    Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists() || glob_gtls(),
                    "rsyslog's TLS driver is missing: apt-get install rsyslog-gnutls"
                );
                global += &format!(
                    " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
                    pki.ca().display(),
                    pki.dir.join("server.pem").display(),
                    pki.dir.join("server.key").display()
                );
                format!(
                    "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"x509/certvalid\")\n\
                     input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")"
                )
            }
            Input::Tcp => format!("module(load=\"imtcp\")\ninput(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")"),
            Input::Udp => format!("module(load=\"imudp\")\ninput(type=\"imudp\" port=\"{port}\" address=\"127.0.0.1\")"),
        };
        let conf = format!(
            "global({global})\n{module}\n\
             template(name=\"atna\" type=\"list\") {{\n\
               property(name=\"pri\") constant(value=\"|\") property(name=\"hostname\") constant(value=\"|\")\n\
               property(name=\"app-name\") constant(value=\"|\") property(name=\"msgid\") constant(value=\"|\")\n\
               property(name=\"msg\") constant(value=\"\\n\")\n\
             }}\n\
             if $msgid == \"IHE+RFC-3881\" then {{\n  action(type=\"omfile\" file=\"{}\" template=\"atna\")\n  stop\n}}\n\
             action(type=\"omfile\" file=\"{}\")\n",
            out.display(),
            debug.display()
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let check = Command::new(rsyslogd).args(["-N1", "-f"]).arg(&conf_path).output().unwrap();
        assert!(check.status.success(), "rsyslogd refuses the test configuration: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
            .spawn()
            .expect("start rsyslogd");
        let daemon = Rsyslog { child, out, debug };
        daemon.wait_listening(input, port);
        daemon
    }

    fn wait_listening(&self, input: Input, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A port we can no longer bind is the daemon's.
            let taken = match input {
                Input::Udp => UdpSocket::bind(("127.0.0.1", port)).is_err(),
                Input::Tls | Input::Tcp => TcpListener::bind(("127.0.0.1", port)).is_err(),
            };
            if taken {
                return;
            }
            assert!(Instant::now() < deadline, "rsyslogd did not listen on {port} within 15 s; {}", self.diagnostics());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The audit lines received (`pri|hostname|app-name|msgid|msg`), once
    /// there are `n` of them; at most `wait`.
    pub fn wait_lines(&self, n: usize, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the daemon said about itself, for failure messages.
    pub fn diagnostics(&self) -> String {
        let dir = self.out.parent().unwrap();
        format!(
            "rsyslogd stderr: {}\nother messages: {}",
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default(),
            std::fs::read_to_string(&self.debug).unwrap_or_default()
        )
    }

    /// Stops the daemon now.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn glob_gtls() -> bool {
    std::fs::read_dir("/usr/lib").into_iter().flatten().flatten().any(|d| d.path().join("rsyslog/lmnsd_gtls.so").exists())
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One received line split into its fields (the MSG without its BOM).
pub struct Line {
    pub pri: String,
    pub hostname: String,
    pub app_name: String,
    pub msgid: String,
    pub msg: String,
}

pub fn parse(line: &str) -> Line {
    let mut parts = line.splitn(5, '|');
    let mut next = || parts.next().unwrap_or_default().to_string();
    let (pri, hostname, app_name, msgid, msg) = (next(), next(), next(), next(), next());
    Line { pri, hostname, app_name, msgid, msg: msg.trim_start_matches('\u{FEFF}').to_string() }
}
