//! Decisions to the HIS: every recognition decision (and amendment) of an
//! institution with a webhook (`[[recognition.webhooks]]`) is POSTed to it
//! as JSON, until the HIS answers 2xx. The decisions table is the outbox
//! (a decision stored is a notification owed, whatever happens to the
//! node), one node delivers at a time (lease `recognition-webhooks`), a
//! failure is tried again after 5 s, 10 s, 20 s … at most an hour apart.
//!
//! Each request carries `X-Yunying-Delivery` (the same for every attempt:
//! the receiver drops repeats), `X-Yunying-Timestamp` (seconds) and, with a
//! shared secret, `X-Yunying-Signature: hmac-sm3=HEX, hmac-sha256=HEX` over
//! `TIMESTAMP.BODY`. No patient data: ids, codes and the decision.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::json;
use yunying_index::{DecisionToNotify, Index};

use crate::RecognitionError;
use crate::decision::Reasons;

/// The lease one delivering node holds.
pub const LEASE: &str = "recognition-webhooks";
const LEASE_MS: i64 = 60_000;
/// Most webhooks configured.
pub const MAX_WEBHOOKS: usize = 1_000;
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Decisions sent per round.
const BATCH: i64 = 100;

/// A webhook as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The institution whose decisions go there.
    pub institution: String,
    /// `http://` or `https://`.
    pub url: String,
    /// A file holding the shared secret the requests are signed with.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl WebhookConfig {
    pub(crate) fn check(&self) -> Result<(), RecognitionError> {
        crate::catalogue::check_text("webhook institution", &self.institution, false)?;
        let uri: hyper::Uri = self.url.parse().map_err(|_| RecognitionError::Config(format!("webhook url {:?} is not a URL", self.url)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() || self.url.len() > 2048 {
            return Err(RecognitionError::Config(format!("webhook url {:?} is not an http(s) URL", self.url)));
        }
        Ok(())
    }
}

struct Hook {
    institution: String,
    uri: hyper::Uri,
    secret: Option<Vec<u8>>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    pub delivered: u64,
    pub failed: u64,
}

/// Sends decisions to the configured webhooks.
pub struct Notifier {
    index: Index,
    hooks: Vec<Hook>,
    reasons: Reasons,
    client: HttpsClient,
}

impl Notifier {
    /// A notifier for `webhooks` (secrets read now), or `None` when there
    /// are none.
    pub fn new(index: Index, webhooks: &[WebhookConfig], reasons: Reasons) -> Result<Option<Notifier>, RecognitionError> {
        if webhooks.is_empty() {
            return Ok(None);
        }
        let mut hooks = Vec::new();
        for w in webhooks {
            w.check()?;
            let secret = match &w.secret_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| RecognitionError::Config(format!("webhook secret {}: {e}", path.display())))?;
                    Some(text.trim().as_bytes().to_vec())
                }
                None => None,
            };
            hooks.push(Hook { institution: w.institution.clone(), uri: w.url.parse().expect("checked"), secret });
        }
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| RecognitionError::Config(format!("no TLS roots for webhooks: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Some(Notifier { index, hooks, reasons, client: Client::builder(TokioExecutor::new()).build(tls) }))
    }

    /// Sends what is due now (one batch), as `holder` of the lease;
    /// `None` when another node holds it.
    pub async fn round(&self, holder: &str) -> Result<Option<Round>, RecognitionError> {
        let now = yunying_access::now_ms();
        if !self.index.try_lease(LEASE, holder, now, now + LEASE_MS).await? {
            return Ok(None);
        }
        let institutions: Vec<String> = self.hooks.iter().map(|h| h.institution.clone()).collect();
        let mut round = Round::default();
        for due in self.index.recognition_decisions_to_notify(&institutions, now, BATCH).await? {
            let Some(hook) = self.hooks.iter().find(|h| h.institution == due.decision.institution) else { continue };
            match self.send(hook, &due).await {
                Ok(()) => {
                    self.index.recognition_notified(due.id, yunying_access::now_ms()).await?;
                    round.delivered += 1;
                }
                Err(why) => {
                    let wait = 5_000i64.saturating_mul(1 << due.attempts.clamp(0, 20)).min(3_600_000);
                    tracing::warn!(institution = %hook.institution, delivery = due.id, attempts = due.attempts + 1, error = %why, "recognition webhook failed; trying again later");
                    self.index.recognition_notify_failed(due.id, yunying_access::now_ms() + wait, &why).await?;
                    round.failed += 1;
                }
            }
        }
        Ok(Some(round))
    }

    fn body(&self, due: &DecisionToNotify) -> String {
        let d = &due.decision;
        json!({
            "event": "recognition-decided",
            "delivery": due.id,
            "order_id": d.order_id,
            "his_order_id": due.his_order_id,
            "study_instance_uid": d.study_instance_uid,
            "version": d.version,
            "outcome": d.outcome,
            "reason": Some(&d.reason).filter(|r| !r.is_empty()),
            "reason_label": self.reasons.label(&d.reason),
            "note": d.note,
            "patient_informed": d.patient_informed,
            "reexam_order_id": d.reexam_order_id,
            "doctor": d.doctor,
            "department": d.department,
            "institution": d.institution,
            "item_code": d.item_code,
            "opened_ms": d.opened_ms,
            "decided_ms": d.decided_ms,
        })
        .to_string()
    }

    async fn send(&self, hook: &Hook, due: &DecisionToNotify) -> Result<(), String> {
        let body = self.body(due);
        let timestamp = (yunying_access::now_ms() / 1000).to_string();
        let mut request = hyper::Request::post(hook.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("X-Yunying-Delivery", due.id.to_string())
            .header("X-Yunying-Timestamp", &timestamp);
        if let Some(secret) = &hook.secret {
            request = request.header("X-Yunying-Signature", signature(secret, &timestamp, &body));
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "no answer within 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        let status = response.status();
        // Read (a little of) the answer so the connection can be reused.
        let _ = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), 64 << 10).collect()).await;
        if status.is_success() { Ok(()) } else { Err(format!("the HIS answered {status}")) }
    }

    /// Deliver until `stop`, every `every`, as `holder` of the lease.
    pub async fn run(self, holder: String, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            loop {
                match self.round(&holder).await {
                    Ok(Some(r)) if r.delivered + r.failed >= BATCH as u64 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "recognition webhooks: round failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        let _ = self.index.release_lease(LEASE, &holder).await;
    }
}

/// `hmac-sm3=HEX, hmac-sha256=HEX` over `TIMESTAMP.BODY`.
pub fn signature(secret: &[u8], timestamp: &str, body: &str) -> String {
    let message = format!("{timestamp}.{body}");
    let mut sm3 = Hmac::<sm3::Sm3>::new_from_slice(secret).expect("HMAC takes any key length");
    sm3.update(message.as_bytes());
    let mut sha = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    sha.update(message.as_bytes());
    format!("hmac-sm3={}, hmac-sha256={}", hex::encode(sm3.finalize().into_bytes()), hex::encode(sha.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_an_http_url_for_an_institution() {
        let ok = WebhookConfig { institution: "HOSP_B".into(), url: "https://his.example/recognition".into(), secret_file: None };
        assert!(ok.check().is_ok());
        for url in ["ftp://x/y", "not a url", "/relative"] {
            assert!(WebhookConfig { url: url.into(), ..ok.clone() }.check().is_err(), "{url}");
        }
        assert!(WebhookConfig { institution: String::new(), ..ok }.check().is_err());
    }
}
