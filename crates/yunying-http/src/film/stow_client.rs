//! The HTTP client films are imported with into a hospital's STOW-RS
//! endpoint: `http://`, or `https://` with rustls (TLS 1.2 and 1.3 on
//! aws-lc-rs, as our own listeners) checking the server's certificate
//! against the system's roots, or against the CA file the destination
//! names (`ca`: a hospital's own CA) instead.

use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use yunying_film::StowDestination;

/// A client for one destination's endpoint.
pub(crate) type StowClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client for `d`, refusing a scheme other than `http` and `https`.
pub(crate) fn client(d: &StowDestination, uri: &hyper::Uri) -> Result<StowClient, String> {
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("the STOW-RS endpoint of {} is neither http:// nor https://", d.name)),
    }
    let mut roots = RootCertStore::empty();
    match &d.ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("CA file {} of {}: {e}", path.display(), d.name))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("CA file {} of {}: {e}", path.display(), d.name))?;
            }
            if roots.is_empty() {
                return Err(format!("CA file {} of {}: no PEM certificate in it", path.display(), d.name));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A CA and a server certificate for 127.0.0.1 signed by it (`openssl`).
    fn pki(dir: &Path) {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is needed");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        // A CA: a subject, and the extensions rustls requires of an issuer.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Hospital B CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "csr",
            "-subj",
            "/CN=pacs",
        ]);
        openssl(&["x509", "-req", "-in", "csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2", "-out", "cert.pem", "-extfile", "ext"]);
    }

    fn destination(url: &str, ca: Option<&Path>) -> StowDestination {
        StowDestination {
            name: "hospital-b".into(),
            url: url.into(),
            institution: "HOSP_B".into(),
            token: None,
            ca: ca.map(Path::to_path_buf),
        }
    }

    /// An HTTPS endpoint that answers one request with 200 and hands back what it got.
    async fn endpoint(dir: &Path) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let settings = yunying_tls::Settings {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
            require_client_cert: false,
            alpn: vec![b"http/1.1".to_vec()],
            name: "test",
        };
        let acceptor = yunying_tls::TlsAcceptor::from(Arc::new(yunying_tls::server_config(&settings).unwrap()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else { return Vec::new() };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"--\r\n") {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/dicom+json\r\n\r\n{}").await.unwrap();
            tls.shutdown().await.ok();
            got
        });
        (port, task)
    }

    #[tokio::test]
    async fn https_endpoints_are_reached_with_their_ca_and_refused_without_it() {
        let dir = tempfile::tempdir().unwrap();
        pki(dir.path());
        let body = "--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--\r\n";
        let post = |uri: &hyper::Uri| {
            hyper::Request::post(uri.clone())
                .header("content-type", "multipart/related; type=\"application/dicom\"; boundary=b")
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap()
        };

        // With the hospital's CA: the request arrives whole, the answer comes back.
        let (port, got) = endpoint(dir.path()).await;
        let uri: hyper::Uri = format!("https://127.0.0.1:{port}/dicom-web/studies").parse().unwrap();
        let https = client(&destination(&uri.to_string(), Some(&dir.path().join("ca.pem"))), &uri).unwrap();
        let response = https.request(post(&uri)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes().as_ref(), b"{}");
        let got = String::from_utf8(got.await.unwrap()).unwrap();
        assert!(got.starts_with("POST /dicom-web/studies HTTP/1.1\r\n"), "{got}");
        assert!(got.ends_with(body), "{got}");

        // The system's roots do not know the hospital's CA: no request is sent.
        let (port, got) = endpoint(dir.path()).await;
        let uri: hyper::Uri = format!("https://127.0.0.1:{port}/dicom-web/studies").parse().unwrap();
        let https = client(&destination(&uri.to_string(), None), &uri).unwrap();
        let e = https.request(post(&uri)).await.unwrap_err();
        assert!(format!("{e:?}").to_ascii_lowercase().contains("certificate"), "{e:?}");
        assert!(got.await.unwrap().is_empty());

        // A CA file that holds no certificate, and a scheme that is not HTTP, are refused up front.
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        let e =
            client(&destination("https://x", Some(&dir.path().join("empty.pem"))), &"https://x/studies".parse().unwrap()).err().unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = client(&destination("ftp://x", None), &"ftp://x/studies".parse().unwrap()).err().unwrap();
        assert!(e.contains("neither http:// nor https://"), "{e}");
    }
}
