//! A signed report's way back. Signing owes deliveries (rows of the
//! index's outbox): the archive (the report stored as DICOM in the study,
//! where DICOMweb, C-FIND/C-MOVE and the film page find it), the requesting
//! PACS (C-STORE to its registered AE, or STOW-RS), its HIS (HL7 v2
//! ORU^R01 over MLLP) and its webhook. A critical finding is owed at once,
//! when first flagged, before the report is signed. Any node delivers
//! (each row is leased while it is tried); a failure is tried again 5 s,
//! 10 s, 20 s … at most an hour later. Once every delivery of the version
//! is done the request is `returned`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use yunying_audit::Event;
use yunying_index::{DeliveryRow, Expect, ReadingRequestRow, RequestUpdate};

use crate::ReadingError;
use crate::service::{Reading, now_ms};

/// Something to send, for [`Transport`].
pub enum Outgoing<'a> {
    /// Store these DICOM files (Part 10) in this archive, in `study` of
    /// `institution` (the requesting one: its report is its own).
    Archive { institution: &'a str, study: &'a str, files: &'a [Vec<u8>] },
    /// C-STORE these stored instances of `study` to a registered AE.
    Dicom { ae_title: &'a str, study: &'a str, sop_instance_uids: &'a [String] },
    /// STOW-RS these files to a DICOMweb root (`/studies` is appended).
    Stow { url: &'a str, files: &'a [Vec<u8>] },
    /// An HL7 v2 message over MLLP to `host:port`; an ACK other than AA/CA is a failure.
    Hl7 { address: &'a str, message: &'a str },
    /// POST this JSON, signed with `institution`'s webhook secret when it
    /// has one (`[[reading.webhook_secrets]]`).
    Webhook { institution: &'a str, url: &'a str, body: &'a serde_json::Value },
}

/// How the binary sends: the reading crate knows no network.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, out: Outgoing<'a>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// How long a node holds a delivery it tries.
const LEASE_MS: i64 = 120_000;
/// Deliveries tried per round.
const BATCH: i64 = 20;
/// Longest wait between attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;

impl Reading {
    /// Owe the deliveries of a signed version.
    pub(crate) async fn owe_report(&self, r: &ReadingRequestRow, version: i64) -> Result<(), ReadingError> {
        let rel = self.relationship_of(r).await?;
        let mut rows = vec![("archive".to_string(), String::new())];
        if let Some(rel) = rel {
            for (channel, target) in
                [("dicom", rel.return_ae), ("stow", rel.return_stow_url), ("hl7", rel.his_mllp), ("webhook", rel.webhook_url)]
            {
                if !target.is_empty() {
                    rows.push((channel.to_string(), target));
                }
            }
        }
        self.index.insert_reading_deliveries(&r.request_id, version, &rows, now_ms()).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Owe the notice of a critical finding (webhook and HL7, where the
    /// requesting institution has them).
    pub(crate) async fn owe_critical(&self, r: &ReadingRequestRow, version: i64) -> Result<(), ReadingError> {
        let Some(rel) = self.relationship_of(r).await? else { return Ok(()) };
        let mut rows = Vec::new();
        for (channel, target) in [("critical-webhook", rel.webhook_url), ("critical-hl7", rel.his_mllp)] {
            if !target.is_empty() {
                rows.push((channel.to_string(), target));
            }
        }
        if !rows.is_empty() {
            self.index.insert_reading_deliveries(&r.request_id, version, &rows, now_ms()).await?;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Try the deliveries that are due; how many were made.
    pub async fn deliver_due(&self, transport: &dyn Transport) -> Result<usize, ReadingError> {
        let now = now_ms();
        let due = self.index.take_reading_deliveries(now, LEASE_MS, BATCH).await?;
        let mut done = 0;
        for d in due {
            match self.deliver_one(transport, &d).await {
                Ok(()) => {
                    self.index.reading_delivery_done(d.id, now_ms()).await?;
                    done += 1;
                    self.delivered(&d).await?;
                }
                Err(e) => {
                    let backoff = (5_000i64 << d.attempts.clamp(0, 20)).min(MAX_BACKOFF_MS);
                    tracing::warn!(request = %d.request_id, channel = %d.channel, attempts = d.attempts + 1, error = %e, "reading: delivery failed; trying again later");
                    self.index.reading_delivery_failed(d.id, &truncate(&e, 500), now_ms() + backoff).await?;
                }
            }
        }
        Ok(done)
    }

    /// Deliver until `stop`: at once when woken (a signature), else every `every`.
    pub async fn run_deliveries(self: Arc<Self>, transport: Arc<dyn Transport>, every: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            loop {
                match self.deliver_due(transport.as_ref()).await {
                    Ok(n) if n as i64 >= BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading: deliveries failed; trying again later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn deliver_one(&self, transport: &dyn Transport, d: &DeliveryRow) -> Result<(), String> {
        let r = self.index.reading_request(&d.request_id).await.map_err(|e| e.to_string())?.ok_or("request gone")?;
        match d.channel.as_str() {
            "archive" | "dicom" | "stow" => {
                let built = self.objects_of(&r, d.version).await.map_err(|e| e.to_string())?;
                let (files, uids) = (built.files(), built.sop_instance_uids());
                let out = match d.channel.as_str() {
                    "archive" => Outgoing::Archive { institution: &r.requesting, study: &r.study_instance_uid, files: &files },
                    "dicom" => Outgoing::Dicom { ae_title: &d.target, study: &r.study_instance_uid, sop_instance_uids: &uids },
                    _ => Outgoing::Stow { url: &d.target, files: &files },
                };
                transport.send(out).await
            }
            "hl7" | "critical-hl7" => {
                let message = self.oru_of(&r, d.version, d.channel == "critical-hl7", d.id).await.map_err(|e| e.to_string())?;
                transport.send(Outgoing::Hl7 { address: &d.target, message: &message }).await
            }
            "webhook" | "critical-webhook" => {
                let body = self.webhook_body(&r, d.version, d.channel == "critical-webhook", d.id).await.map_err(|e| e.to_string())?;
                transport.send(Outgoing::Webhook { institution: &r.requesting, url: &d.target, body: &body }).await
            }
            other => Err(format!("unknown channel {other}")),
        }
    }

    /// After a delivery: a critical notice is recorded on the request; a
    /// request whose every report delivery of its version is done is
    /// returned.
    async fn delivered(&self, d: &DeliveryRow) -> Result<(), ReadingError> {
        let now = now_ms();
        let Some(r) = self.index.reading_request(&d.request_id).await? else { return Ok(()) };
        if d.channel.starts_with("critical-") {
            let set = RequestUpdate { critical_notified_ms: Some(now), ..Default::default() };
            self.index.update_reading_request(&d.request_id, &Expect::default(), &set, now).await?;
        } else {
            let all = self.index.reading_deliveries(&d.request_id).await?;
            let pending = all.iter().any(|x| x.version == d.version && !x.channel.starts_with("critical-") && x.done_ms.is_none());
            if !pending && r.report_version == d.version {
                let set = RequestUpdate { status: Some("returned".into()), returned_ms: Some(now), ..Default::default() };
                self.index.update_reading_request(&d.request_id, &Expect { statuses: &["signed"], claimed_by: None }, &set, now).await?;
            }
        }
        let target = if d.channel == "archive" { "archive".to_string() } else { d.target.clone() };
        let e = Event::new("report-delivered", "system:reading", "ok")
            .institution(Some(&r.reading))
            .studies(std::slice::from_ref(&r.study_instance_uid))
            .fact("request_id", d.request_id.as_str())
            .fact("version", d.version)
            .fact("channel", d.channel.as_str())
            .fact("target", target);
        self.event(e).await;
        Ok(())
    }

    /// What the HIS's webhook gets: the request, the report's text when
    /// signed (or, for a critical finding, the impression as it stands).
    async fn webhook_body(
        &self,
        r: &ReadingRequestRow,
        version: i64,
        critical: bool,
        delivery: i64,
    ) -> Result<serde_json::Value, ReadingError> {
        let reports = self.index.reading_reports(&r.request_id).await?;
        let report =
            reports.iter().find(|x| x.version == version).ok_or_else(|| ReadingError::Unavailable("report version gone".into()))?;
        let content: crate::ReportContent = serde_json::from_str(&report.body).unwrap_or_default();
        let mut body = json!({
            "event": if critical { "critical-finding" } else { "report-signed" },
            "delivery": format!("rd{delivery}"),
            "request_id": r.request_id,
            "his_order_id": r.his_order_id,
            "study_instance_uid": r.study_instance_uid,
            "requesting": r.requesting,
            "reading": r.reading,
            "reading_name": self.institution_name(&r.reading),
            "version": version,
            "critical": content.critical,
            "impression": content.impression,
        });
        if !critical {
            body["findings"] = json!(content.findings);
            body["signed_ms"] = json!(report.signed_ms);
            body["author"] = json!(report.author_name);
            body["verifier"] = json!(report.verifier_name);
            body["content_sm3"] = json!(report.content_digest);
            body["amended"] = json!(version > 1);
            if let Ok(objects) = serde_json::from_str::<serde_json::Value>(&report.objects) {
                body["sr_sop_instance_uid"] = objects["sr"].clone();
                body["pdf_sop_instance_uid"] = objects["pdf"].clone();
            }
        }
        Ok(body)
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
