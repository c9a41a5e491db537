//! The life of a request: who sees it, claiming, drafting, review,
//! signing, amending, cancelling. Every change is a conditional update:
//! of two radiologists (or nodes) racing, one wins and the other is told.

use serde::{Deserialize, Serialize};
use sm3::{Digest, Sm3};
use yunying_access::{Action, Denied, Principal, Reach};
use yunying_audit::Event;
use yunying_index::{Expect, ReadingRequestRow, ReportRow, RequestUpdate, WorklistQuery};

use crate::model::{Priority, ReportContent, Status, check_text};
use crate::service::{Reading, json, now_ms};
use crate::views::{DeliveryView, ReportView, RequestDetail, RequestView, WorklistFilter, WorklistPage};
use crate::{ReadingError, Relationship};

/// Which side of a request a principal is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Reading,
    Requesting,
}

/// The UIDs and time of a signed version's DICOM objects, chosen when it
/// is signed (the objects are made from them, the same every time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Objects {
    pub sr_series: String,
    pub sr: String,
    pub kos_series: String,
    pub kos: String,
    pub pdf_series: String,
    pub pdf: String,
    /// The presentation state of the measurements' graphics (when any).
    #[serde(default)]
    pub gsps_series: String,
    #[serde(default)]
    pub gsps: String,
    pub series_number: i32,
    /// `YYYYMMDD`, `HHMMSS`, `+HHMM` of the signature, local time.
    pub date: String,
    pub time: String,
    pub tz: String,
    pub algorithm: String,
    pub key_id: String,
    /// The exact text signed (`yunying_report::content_for_signature`),
    /// which the SR also carries: a verifier checks the signature over it.
    #[serde(default)]
    pub signed_content: String,
}

/// Most characters of an amendment's reason.
const MAX_REASON: usize = 1_000;

impl Reading {
    pub(crate) fn side(&self, who: &Principal, r: &ReadingRequestRow) -> Option<Side> {
        let mine = who.institution.as_deref();
        if mine == Some(r.reading.as_str()) && (who.may(Action::Reading) || who.may(Action::SignReports)) {
            return Some(Side::Reading);
        }
        let requesting = mine == Some(r.requesting.as_str()) || (who.institution.is_none() && who.reach == Reach::All);
        if requesting && (who.may(Action::RequestReading) || who.may(Action::Search)) {
            return Some(Side::Requesting);
        }
        None
    }

    /// The request, if `who` is on one of its sides (`NotFound` otherwise:
    /// a request of other institutions is not revealed).
    pub(crate) async fn load_as(&self, who: &Principal, id: &str, need: Option<Side>) -> Result<(ReadingRequestRow, Side), ReadingError> {
        let r = self.index.reading_request(id).await?.ok_or_else(|| ReadingError::not_found(id))?;
        let side = self.side(who, &r).ok_or_else(|| ReadingError::not_found(id))?;
        if need.is_some_and(|n| n != side) {
            return Err(Denied::Forbidden("this is for the other institution of the request".into()).into());
        }
        Ok((r, side))
    }

    pub(crate) async fn relationship_of(&self, r: &ReadingRequestRow) -> Result<Option<Relationship>, ReadingError> {
        Ok(self.relationships().await?.iter().find(|x| x.requesting == r.requesting && x.reading == r.reading).cloned())
    }

    /// A page of the principal's institution's worklist.
    pub async fn worklist_as(&self, who: &Principal, f: &WorklistFilter) -> Result<WorklistPage, ReadingError> {
        let by_requesting = match f.side.as_str() {
            "" | "reading" => false,
            "requesting" => true,
            other => return Err(ReadingError::Invalid(format!("side is reading or requesting, not {other:?}"))),
        };
        let Some(institution) = who.institution.clone() else {
            return Err(Denied::Forbidden("a worklist is an institution's: this principal has none".into()).into());
        };
        if by_requesting {
            if !(who.may(Action::RequestReading) || who.may(Action::Search)) {
                return Err(Denied::Forbidden("seeing requests sent needs a requesting or clinical role".into()).into());
            }
        } else {
            self.access.require(who, Action::Reading)?;
        }
        let mut statuses = Vec::new();
        for s in f.status.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            statuses.push(Status::parse(s).ok_or_else(|| ReadingError::Invalid(format!("unknown status {s:?}")))?.name().to_string());
        }
        if statuses.len() > Status::ALL.len() {
            return Err(ReadingError::Invalid("too many statuses".into()));
        }
        let opt = |v: &str, max: usize| -> Result<Option<String>, ReadingError> {
            if v.len() > max {
                return Err(ReadingError::Invalid("a filter is too long".into()));
            }
            Ok((!v.is_empty()).then(|| v.to_string()))
        };
        if !f.priority.is_empty() && Priority::parse(&f.priority).is_none() {
            return Err(ReadingError::Invalid(format!("unknown priority {:?}", f.priority)));
        }
        let q = WorklistQuery {
            institution: institution.clone(),
            by_requesting,
            statuses,
            requesting: opt(&f.requesting, 64)?,
            modality: opt(&f.modality.to_ascii_uppercase(), 16)?,
            body_part: opt(&f.body_part.to_ascii_uppercase(), 16)?,
            priority: opt(&f.priority, 16)?,
            claimed_by: match f.claimed.as_str() {
                "" => None,
                "me" => Some(who.id.clone()),
                other => return Err(ReadingError::Invalid(format!("claimed is \"me\" or empty, not {other:?}"))),
            },
            request_id: None,
            offset: f.offset.max(0),
            limit: if f.limit <= 0 { 100 } else { f.limit.min(500) },
        };
        let (rows, total) = self.index.reading_worklist(&q).await?;
        let counts = self.index.reading_status_counts(&institution, by_requesting).await?;
        let now = now_ms();
        let names = |c: &str| self.institution_name(c);
        Ok(WorklistPage { total, requests: rows.into_iter().map(|r| RequestView::of(r, &names, now)).collect(), counts })
    }

    /// A request with its reports and deliveries.
    pub async fn detail_as(&self, who: &Principal, id: &str) -> Result<RequestDetail, ReadingError> {
        let (r, side) = self.load_as(who, id, None).await?;
        let mut reports: Vec<ReportView> = self.index.reading_reports(id).await?.into_iter().map(ReportView::of).collect();
        if side == Side::Requesting {
            // The requesting institution sees signed reports, not drafts.
            reports.retain(|v| v.signed_ms.is_some());
        }
        let deliveries = self.index.reading_deliveries(id).await?.into_iter().map(DeliveryView::of).collect();
        let priors = self.granted_of(&r).await?.into_iter().filter(|s| *s != r.study_instance_uid).collect();
        let status = Status::parse(&r.status);
        let may_write = side == Side::Reading
            && ((r.claimed_by == who.id && matches!(status, Some(Status::Claimed | Status::Draft)))
                || (status == Some(Status::AwaitingReview) && who.may(Action::SignReports)));
        let two_step = self.relationship_of(&r).await?.is_some_and(|x| x.two_step);
        let unsigned = reports.iter().find(|v| v.current && v.signed_ms.is_none());
        let may_sign = side == Side::Reading
            && who.may(Action::SignReports)
            && unsigned.is_some_and(|v| sign_refusal(two_step, &v.state, &v.author, &r.claimed_by, &who.id).is_none());
        let names = |c: &str| self.institution_name(c);
        let (rows, _) = self
            .index
            .reading_worklist(&WorklistQuery {
                institution: r.reading.clone(),
                request_id: Some(r.request_id.clone()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        let request = match rows.into_iter().next() {
            Some(w) => RequestView::of(w, &names, now_ms()),
            None => RequestView::of_request(r, &names, now_ms()),
        };
        let side = if side == Side::Reading { "reading" } else { "requesting" };
        Ok(RequestDetail { request, reports, deliveries, priors, may_write, may_sign, side })
    }

    /// Take a new request: nobody else writes its report until released.
    pub async fn claim_as(&self, who: &Principal, id: &str, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::Reading)?;
        let (r, _) = self.load_as(who, id, Some(Side::Reading)).await?;
        if r.claimed_by == who.id && matches!(Status::parse(&r.status), Some(Status::Claimed | Status::Draft)) {
            return Ok(());
        }
        let set = RequestUpdate {
            status: Some("claimed".into()),
            claimed_by: Some(who.id.clone()),
            claimed_ms: Some(Some(now_ms())),
            ..Default::default()
        };
        if !self.index.update_reading_request(id, &Expect { statuses: &["new"], claimed_by: None }, &set, now_ms()).await? {
            return Err(ReadingError::Conflict(format!("request {id} is not waiting for a reader (it is {})", self.status_now(id).await)));
        }
        self.step("reading-claimed", who, &r, client).await;
        self.refresh_priors(&r, &who.id, client).await?;
        Ok(())
    }

    /// Give a request back to the worklist (its draft stays for the next
    /// reader).
    pub async fn release_as(&self, who: &Principal, id: &str, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::Reading)?;
        let (r, _) = self.load_as(who, id, Some(Side::Reading)).await?;
        let set =
            RequestUpdate { status: Some("new".into()), claimed_by: Some(String::new()), claimed_ms: Some(None), ..Default::default() };
        let expect = Expect { statuses: &["claimed", "draft"], claimed_by: Some(&who.id) };
        if !self.index.update_reading_request(id, &expect, &set, now_ms()).await? {
            return Err(ReadingError::Conflict(format!("request {id} is not held by you")));
        }
        self.step("reading-released", who, &r, client).await;
        Ok(())
    }

    /// Withdraw a request that is not signed yet (its institution).
    pub async fn cancel_as(&self, who: &Principal, id: &str, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::RequestReading)?;
        let (r, _) = self.load_as(who, id, Some(Side::Requesting)).await?;
        let set = RequestUpdate { status: Some("cancelled".into()), ..Default::default() };
        let expect = Expect { statuses: &["new", "claimed", "draft", "awaiting-review"], claimed_by: None };
        if !self.index.update_reading_request(id, &expect, &set, now_ms()).await? {
            return Err(ReadingError::Conflict(format!("request {id} is signed or cancelled already")));
        }
        self.access.revoke_reading_grants(&who.id, id, client).await?;
        self.step("reading-cancelled", who, &r, client).await;
        Ok(())
    }

    /// Save the report being written; `submit` hands a draft to review.
    /// The holder writes while claimed or in draft; in review, a
    /// radiologist who signs may correct it.
    pub async fn save_as(
        &self,
        who: &Principal,
        id: &str,
        content: ReportContent,
        submit: bool,
        client: &str,
    ) -> Result<ReportView, ReadingError> {
        self.access.require(who, Action::Reading)?;
        content.check_draft()?;
        let (r, _) = self.load_as(who, id, Some(Side::Reading)).await?;
        let content = self.complete_key_images(content).await?;
        let status = Status::parse(&r.status);
        let reviewing = status == Some(Status::AwaitingReview);
        if reviewing {
            self.access.require(who, Action::SignReports)?;
            if submit {
                return Err(ReadingError::Conflict("the report is in review already".into()));
            }
        } else if r.claimed_by != who.id || !matches!(status, Some(Status::Claimed | Status::Draft)) {
            return Err(ReadingError::Conflict(format!("claim request {id} before writing its report")));
        }
        let now = now_ms();
        let reports = self.index.reading_reports(id).await?;
        let current = reports.iter().find(|x| x.is_current).filter(|x| x.signed_ms.is_none());
        let state = if submit || reviewing { "awaiting-review" } else { "draft" };
        let row = match current {
            Some(c) => {
                let row = ReportRow {
                    body: json(&content),
                    state: state.to_string(),
                    // A reviewer's correction keeps the author.
                    author: if reviewing { c.author.clone() } else { who.id.clone() },
                    author_name: if reviewing { c.author_name.clone() } else { self.shown_name(who).await },
                    updated_ms: now,
                    ..c.clone()
                };
                if !self.index.update_reading_report_draft(&row, &[c.state.as_str()]).await? {
                    return Err(ReadingError::Conflict("the report changed meanwhile; reload it".into()));
                }
                row
            }
            None => {
                let version = reports.iter().map(|x| x.version).max().unwrap_or(0) + 1;
                let row = ReportRow {
                    request_id: id.to_string(),
                    version,
                    is_current: true,
                    state: state.to_string(),
                    body: json(&content),
                    author: who.id.clone(),
                    author_name: self.shown_name(who).await,
                    created_ms: now,
                    updated_ms: now,
                    ..Default::default()
                };
                if !self.index.insert_reading_report(&row).await? {
                    return Err(ReadingError::Conflict("the report changed meanwhile; reload it".into()));
                }
                row
            }
        };
        let mut set = RequestUpdate { status: Some(state.to_string()), ..Default::default() };
        if content.critical && !r.critical {
            set.critical = Some(true);
            set.critical_ms = Some(now);
        }
        let expect = if reviewing {
            Expect { statuses: &["awaiting-review"], claimed_by: None }
        } else {
            Expect { statuses: &["claimed", "draft"], claimed_by: Some(&who.id) }
        };
        if !self.index.update_reading_request(id, &expect, &set, now).await? {
            return Err(ReadingError::Conflict("the request changed meanwhile; reload it".into()));
        }
        if content.critical && !r.critical {
            self.owe_critical(&r, row.version).await?;
        }
        let event = if submit { "report-submitted" } else { "report-drafted" };
        let e = Event::new(event, &who.id, "ok")
            .studies(std::slice::from_ref(&r.study_instance_uid))
            .client(client)
            .fact("request_id", id)
            .fact("version", row.version)
            .fact("critical", content.critical);
        if submit {
            self.event(e).await;
        } else {
            let _ = self.access.audit().record_soon(e).await;
        }
        Ok(ReportView::of(row))
    }

    /// Sign version `version` of the report: the signer saw that one. With
    /// two-step signing (the relationship's), a second radiologist signs a
    /// report submitted for review; otherwise the holder signs their own
    /// draft, or a radiologist signs a resident's submitted one.
    /// `updated_ms`, when given, is the version's `updated_ms` as the
    /// signer read it: a correction saved since (in review, by another
    /// radiologist) makes the signature a conflict, so nobody signs text
    /// they have not seen.
    pub async fn sign_as(
        &self,
        who: &Principal,
        id: &str,
        version: i64,
        updated_ms: Option<i64>,
        client: &str,
    ) -> Result<ReportView, ReadingError> {
        self.access.require(who, Action::SignReports)?;
        let (r, _) = self.load_as(who, id, Some(Side::Reading)).await?;
        let Some(person) = who.user_id() else { return Err(Denied::Forbidden("a report is signed by a person".into()).into()) };
        let two_step = self.relationship_of(&r).await?.is_some_and(|x| x.two_step);
        let reports = self.index.reading_reports(id).await?;
        let current = reports
            .iter()
            .find(|x| x.is_current && x.signed_ms.is_none())
            .ok_or_else(|| ReadingError::Conflict("there is no unsigned report to sign".into()))?;
        if current.version != version {
            return Err(ReadingError::Conflict(format!("the report is at version {}, not {version}; reload it", current.version)));
        }
        if updated_ms.is_some_and(|u| u != current.updated_ms) {
            return Err(ReadingError::Conflict("the report changed since you read it; reload it before signing".into()));
        }
        if let Some(why) = sign_refusal(two_step, &current.state, &current.author, &r.claimed_by, &who.id) {
            return Err(ReadingError::Conflict(why.into()));
        }
        let content: ReportContent =
            serde_json::from_str(&current.body).map_err(|e| ReadingError::Unavailable(format!("stored report unreadable: {e}")))?;
        content.check_signable()?;
        let signer = self.signer.as_ref().ok_or_else(|| ReadingError::Unavailable("no signing key is configured".into()))?;
        let now = now_ms();
        let (date, time, tz) = local_time(now, self.config.utc_offset_minutes);
        let mut objects = Objects {
            sr_series: new_uid(),
            sr: new_uid(),
            kos_series: new_uid(),
            kos: new_uid(),
            pdf_series: new_uid(),
            pdf: new_uid(),
            gsps_series: new_uid(),
            gsps: new_uid(),
            series_number: 9900 + version as i32 * 4,
            date,
            time,
            tz,
            algorithm: String::new(),
            key_id: String::new(),
            signed_content: String::new(),
        };
        let mut row = ReportRow {
            state: "signed".into(),
            verifier: who.id.clone(),
            verifier_name: self.shown_name(who).await,
            signed_ms: Some(now),
            ..current.clone()
        };
        // What is signed is what the SR carries as its signed content
        // (`yunying_report::content_for_signature`); the objects are made
        // once first, so a version that could not be delivered is never
        // signed.
        let (mut input, uids) = self.input_from(&r, &row, &reports, &objects).await?;
        let bytes = yunying_report::content_for_signature(&input);
        let (algorithm, key_id, signature) = signer.sign_report(&bytes).map_err(ReadingError::Unavailable)?;
        (objects.algorithm, objects.key_id) = (algorithm, key_id);
        objects.signed_content = String::from_utf8(bytes.clone()).map_err(|e| ReadingError::Unavailable(e.to_string()))?;
        row.content_digest = hex::encode(Sm3::digest(&bytes));
        row.signature = signature;
        row.objects = json(&objects);
        input.signature = crate::objects::signature_of(&row, &objects);
        self.build_objects(&r.request_id, version, input, uids).await?;
        if !self.index.sign_reading_report(&row, &current.state).await? {
            return Err(ReadingError::Conflict("the report changed meanwhile; reload it".into()));
        }
        let set = RequestUpdate {
            status: Some("signed".into()),
            signed_ms: Some(now),
            signer: Some(who.id.clone()),
            report_version: Some(version),
            ..Default::default()
        };
        self.index.update_reading_request(id, &Expect { statuses: &["draft", "awaiting-review"], claimed_by: None }, &set, now).await?;
        self.owe_report(&r, version).await?;
        let e = Event::new("report-signed", &who.id, "ok")
            .studies(std::slice::from_ref(&r.study_instance_uid))
            .client(client)
            .fact("request_id", id)
            .fact("version", version)
            .fact("author", current.author.as_str())
            .fact("content_sm3", row.content_digest.as_str())
            .fact("person", person);
        self.event(e).await;
        Ok(ReportView::of(row))
    }

    /// Start an amendment of a signed report: a new version, copied from
    /// the one in force, that the amender holds until it is signed. The
    /// signed version stays.
    pub async fn amend_as(&self, who: &Principal, id: &str, reason: &str, client: &str) -> Result<ReportView, ReadingError> {
        self.access.require(who, Action::SignReports)?;
        check_text("amendment reason", reason, MAX_REASON, false)?;
        let (r, _) = self.load_as(who, id, Some(Side::Reading)).await?;
        let reports = self.index.reading_reports(id).await?;
        let signed = reports
            .iter()
            .rev()
            .find(|x| x.signed_ms.is_some() && x.version == r.report_version)
            .ok_or_else(|| ReadingError::Conflict("only a signed report is amended".into()))?;
        if !matches!(Status::parse(&r.status), Some(Status::Signed | Status::Returned)) {
            return Err(ReadingError::Conflict("only a signed report is amended".into()));
        }
        let now = now_ms();
        let row = ReportRow {
            request_id: id.to_string(),
            version: signed.version + 1,
            is_current: true,
            state: "draft".into(),
            body: signed.body.clone(),
            author: who.id.clone(),
            author_name: self.shown_name(who).await,
            created_ms: now,
            updated_ms: now,
            amend_reason: reason.trim().to_string(),
            ..Default::default()
        };
        let set = RequestUpdate {
            status: Some("draft".into()),
            claimed_by: Some(who.id.clone()),
            claimed_ms: Some(Some(now)),
            ..Default::default()
        };
        if !self.index.update_reading_request(id, &Expect { statuses: &["signed", "returned"], claimed_by: None }, &set, now).await? {
            return Err(ReadingError::Conflict("the request changed meanwhile; reload it".into()));
        }
        if !self.index.insert_reading_report(&row).await? {
            return Err(ReadingError::Conflict("an amendment is being written already".into()));
        }
        let e = Event::new("report-amendment-started", &who.id, "ok")
            .studies(std::slice::from_ref(&r.study_instance_uid))
            .client(client)
            .fact("request_id", id)
            .fact("version", row.version);
        self.event(e).await;
        Ok(ReportView::of(row))
    }

    /// The name a report shows for a principal: a person's name
    /// (`person_name`), else the principal's own.
    async fn shown_name(&self, who: &Principal) -> String {
        let shown = match who.user_id() {
            Some(id) => self.person_name(id).await,
            None => None,
        };
        shown.unwrap_or_else(|| who.name.clone())
    }

    /// What people call a person: their display name, else their user
    /// name; `None` when there is no such user.
    pub(crate) async fn person_name(&self, user_id: &str) -> Option<String> {
        let u = self.access.user_info(user_id).await.ok()?;
        Some(if u.display_name.trim().is_empty() { u.username } else { u.display_name })
    }

    async fn status_now(&self, id: &str) -> String {
        self.index.reading_request(id).await.ok().flatten().map(|r| r.status).unwrap_or_default()
    }

    async fn step(&self, event: &str, who: &Principal, r: &ReadingRequestRow, client: &str) {
        let e = Event::new(event, &who.id, "ok")
            .studies(std::slice::from_ref(&r.study_instance_uid))
            .client(client)
            .fact("request_id", r.request_id.as_str());
        self.event(e).await;
    }

    /// Key images and measured images as the index holds them: their SOP
    /// classes filled in; one not stored is refused.
    async fn complete_key_images(&self, mut content: ReportContent) -> Result<ReportContent, ReadingError> {
        let uids: Vec<String> = content
            .key_images
            .iter()
            .chain(content.measurements.iter().filter_map(|m| m.image.as_ref()))
            .map(|k| k.sop_instance_uid.clone())
            .collect();
        if uids.is_empty() {
            return Ok(content);
        }
        let found: std::collections::BTreeMap<String, (String, Option<i64>, Option<i64>)> =
            self.index.sop_classes_of(&uids).await?.into_iter().map(|(uid, class, rows, columns)| (uid, (class, rows, columns))).collect();
        let images = content.key_images.iter_mut().chain(content.measurements.iter_mut().filter_map(|m| m.image.as_mut()));
        for k in images {
            let (class, rows, columns) =
                found.get(&k.sop_instance_uid).ok_or_else(|| ReadingError::Invalid(format!("no stored image {}", k.sop_instance_uid)))?;
            k.sop_class_uid = class.clone();
            k.rows = rows.and_then(|r| u16::try_from(r).ok());
            k.columns = columns.and_then(|c| u16::try_from(c).ok());
        }
        Ok(content)
    }
}

/// Why `who` may not sign a version in `state` written by `author` of a
/// request `claimed_by` someone; `None` when they may (given the
/// `SignReports` action). Two-step signing: a second radiologist signs a
/// report submitted for review. Otherwise the holder signs their own
/// draft, and a radiologist signs a resident's submitted one.
fn sign_refusal(two_step: bool, state: &str, author: &str, claimed_by: &str, who: &str) -> Option<&'static str> {
    match state {
        "awaiting-review" if two_step && author == who => Some("two-step signing: a second radiologist signs this report"),
        "awaiting-review" => None,
        "draft" if two_step => Some("two-step signing: submit the report for review first"),
        "draft" if claimed_by == who => None,
        _ => Some("only the holder signs their own draft"),
    }
}

/// A new UID under 2.25 (a UUID as a decimal integer).
pub(crate) fn new_uid() -> String {
    format!("2.25.{}", rand::random::<u128>() >> 1)
}

/// `YYYYMMDD`, `HHMMSS` and `+HHMM` of `ms` at a fixed offset from UTC.
pub(crate) fn local_time(ms: i64, offset_minutes: i32) -> (String, String, String) {
    let p = yunying_report::DateTimeParts::at(ms, offset_minutes);
    (p.date, p.time, p.tz_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_the_civil_date_at_the_offset() {
        // 2026-12-07T10:00:00Z is 18:00 in Beijing.
        assert_eq!(local_time(1_796_637_600_000, 480), ("20261207".into(), "180000".into(), "+0800".into()));
        // 2026-12-31T20:00:00Z is already the next year in Beijing.
        assert_eq!(local_time(1_798_747_200_000, 480), ("20270101".into(), "040000".into(), "+0800".into()));
        assert_eq!(local_time(0, -330), ("19691231".into(), "183000".into(), "-0530".into()));
    }

    #[test]
    fn new_uids_are_valid_and_distinct() {
        let a = new_uid();
        assert!(crate::model::is_uid(&a) && a.len() <= 64, "{a}");
        assert_ne!(a, new_uid());
    }
}
