//! How a signed report leaves (`yunying_reading::Transport`): into this
//! archive (the same ingest as C-STORE), to the requesting PACS by C-STORE
//! (`yunying_dimse::push`) or STOW-RS, to its HIS over MLLP (`yunying_hl7`)
//! and to its webhook (an HTTP POST of JSON). The rules of what goes where
//! are `yunying-reading`'s; this file only sends.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header;
use http_body_util::{BodyExt, Full};
use yunying_archive::{Archive, import_bytes};
use yunying_film::StowDestination;
use yunying_reading::{Outgoing, Transport};

/// The longest one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Sends reports from this node.
pub struct ReadingTransport {
    archive: Archive,
    /// Our AE title on associations we open.
    calling_ae: String,
    /// DICOMweb endpoints with their credentials (`[[http.film.stow_destinations]]`):
    /// a relationship's STOW-RS root that is one of them is sent its token
    /// and trusts its CA.
    stow: Vec<StowDestination>,
    /// Webhook secrets by requesting institution.
    webhook_secrets: BTreeMap<String, Vec<u8>>,
}

impl ReadingTransport {
    pub fn new(archive: Archive, calling_ae: &str) -> ReadingTransport {
        ReadingTransport { archive, calling_ae: calling_ae.to_string(), stow: Vec::new(), webhook_secrets: BTreeMap::new() }
    }

    /// With the configured STOW-RS endpoints' credentials.
    pub fn with_stow_destinations(mut self, stow: &[StowDestination]) -> ReadingTransport {
        self.stow = stow.to_vec();
        self
    }

    /// With the webhook secrets by requesting institution.
    pub fn with_webhook_secrets(mut self, secrets: BTreeMap<String, Vec<u8>>) -> ReadingTransport {
        self.webhook_secrets = secrets;
        self
    }

    /// The configured endpoint at this root (its token and CA), else the
    /// bare root.
    fn destination(&self, root: &str) -> StowDestination {
        let same = |d: &&StowDestination| d.url.trim_end_matches('/') == root.trim_end_matches('/');
        self.stow.iter().find(same).cloned().unwrap_or_else(|| StowDestination {
            name: root.to_string(),
            url: root.to_string(),
            institution: String::new(),
            token: None,
            ca: None,
        })
    }

    async fn archive(&self, institution: &str, study: &str, files: &[Vec<u8>]) -> Result<(), String> {
        let caller = self.archive.config().caller_of_institution("YUNYING-READING", institution);
        for file in files {
            import_bytes(&self.archive, file, &caller, "system:reading", Some(study.to_string()))
                .await
                .map_err(|e| format!("storing the report in the archive: {e}"))?;
        }
        Ok(())
    }

    async fn dicom(&self, ae_title: &str, study: &str, uids: &[String]) -> Result<(), String> {
        let ae =
            self.archive.index().remote_ae(ae_title).await.map_err(|e| e.to_string())?.ok_or(format!("AE {ae_title} is not registered"))?;
        let mut instances = Vec::new();
        for uid in uids {
            let found = self.archive.index().instances_in(study, None, Some(uid)).await.map_err(|e| e.to_string())?;
            instances.extend(found);
        }
        if instances.len() != uids.len() {
            return Err("the report is not stored in the archive yet".into());
        }
        let mut refused = Vec::new();
        yunying_dimse::push(
            &self.archive,
            (&ae.host, ae.port),
            &self.calling_ae,
            &ae.ae_title,
            &instances,
            Duration::from_secs(30),
            |data, outcome| {
                let ok = matches!(outcome, Ok(status) if status == 0 || (status & 0xF000) == 0xB000);
                if !ok {
                    refused.push(format!("{}: {outcome:?}", data.stored.sop_instance_uid));
                }
            },
        )
        .await?;
        if refused.is_empty() { Ok(()) } else { Err(format!("{ae_title} refused {}", refused.join(", "))) }
    }

    async fn stow(&self, root: &str, files: &[Vec<u8>]) -> Result<(), String> {
        let d = self.destination(root);
        let url = format!("{}/studies", root.trim_end_matches('/'));
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad STOW-RS URL: {e}"))?;
        let client = crate::film::stow_client::client(&d, &uri)?;
        let boundary = format!("yunying-{}", yunying_film::secrets::random_token(12));
        let mut body = Vec::new();
        for file in files {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes());
            body.extend_from_slice(file);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut request = hyper::Request::post(uri)
            .header(header::CONTENT_TYPE, format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"))
            .header(header::ACCEPT, "application/dicom+json");
        if let Some(token) = &d.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| "the STOW-RS endpoint did not answer in time".to_string())?
            .map_err(|e| format!("STOW-RS: {e}"))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() { Ok(()) } else { Err(format!("STOW-RS answered {status}")) }
    }

    async fn webhook(&self, institution: &str, url: &str, json: &serde_json::Value) -> Result<(), String> {
        let d = StowDestination { name: url.to_string(), url: url.to_string(), institution: String::new(), token: None, ca: None };
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad webhook URL: {e}"))?;
        let client = crate::film::stow_client::client(&d, &uri)?;
        let body = serde_json::to_string(json).map_err(|e| e.to_string())?;
        let delivery = json["delivery"].as_str().unwrap_or("").to_string();
        let timestamp = (yunying_access::now_ms() / 1000).to_string();
        let mut request = hyper::Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-Yunying-Delivery", delivery)
            .header("X-Yunying-Timestamp", &timestamp);
        if let Some(secret) = self.webhook_secrets.get(institution) {
            request = request.header("X-Yunying-Signature", yunying_recognition::webhook::signature(secret, &timestamp, &body));
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| "the webhook did not answer in time".to_string())?
            .map_err(|e| format!("webhook: {e}"))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() { Ok(()) } else { Err(format!("the webhook answered {status}")) }
    }

    async fn hl7(&self, address: &str, message: &str) -> Result<(), String> {
        let ack = yunying_hl7::send(address, message, &yunying_hl7::ClientConfig::default()).await.map_err(|e| format!("HL7: {e}"))?;
        if ack.code.is_accept() { Ok(()) } else { Err(format!("the HIS answered {:?}", ack.code)) }
    }
}

impl Transport for ReadingTransport {
    fn send<'a>(&'a self, out: Outgoing<'a>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            match out {
                Outgoing::Archive { institution, study, files } => self.archive(institution, study, files).await,
                Outgoing::Dicom { ae_title, study, sop_instance_uids } => self.dicom(ae_title, study, sop_instance_uids).await,
                Outgoing::Stow { url, files } => self.stow(url, files).await,
                Outgoing::Hl7 { address, message } => self.hl7(address, message).await,
                Outgoing::Webhook { institution, url, body } => self.webhook(institution, url, body).await,
            }
        })
    }
}
