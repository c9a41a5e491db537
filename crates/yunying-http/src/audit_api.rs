//! The audit ledger's HTTP routes.
//!
//! For the audit administrator (`ReadAudit`): events searched by study,
//! patient, person, institution, kind and period (JSON or CSV), the
//! signed checkpoints, a checkpoint signed on demand, and an offline proof
//! of any entry. Public, as transparency logs publish them (hashes only,
//! no event): the latest checkpoint and consistency proofs, so a witness
//! can follow the log.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use yunying_access::Action;
use yunying_audit::Event;
use yunying_audit::verify::{prove, prove_consistency};
use yunying_index::{LedgerEntry, LedgerFilter};

use crate::AppState;
use crate::auth::{Signed, refusal};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::film::Client;

/// Most events one search returns.
pub const MAX_EVENTS: i64 = 10_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/audit/events", get(events))
        .route("/api/audit/checkpoints", get(checkpoints).post(checkpoint_now))
        .route("/api/audit/proof", get(proof))
        .route("/audit/checkpoint", get(latest_checkpoint))
        .route("/audit/consistency", get(consistency))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json))
}

#[derive(Deserialize)]
struct Search {
    study: Option<String>,
    /// With `patient_id`: the patient's issuer (institution).
    patient_issuer: Option<String>,
    patient_id: Option<String>,
    principal: Option<String>,
    institution: Option<String>,
    event: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// `GET /api/audit/events?…`: events, oldest first. "Who has seen this
/// patient's images" is `patient_issuer` + `patient_id` (matched by their
/// keyed digest); the reading itself is an event (`audit-log-used`).
async fn events(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Query(q): Query<Search>,
) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let audit = s.access.audit();
    let patient_digest = match (&q.patient_issuer, &q.patient_id) {
        (Some(issuer), Some(id)) => Some(audit.patient_digest(issuer, id)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("a patient is named by patient_issuer and patient_id together")),
    };
    let filter = LedgerFilter {
        study: q.study.clone(),
        patient_digest,
        principal: q.principal.clone(),
        institution: q.institution.clone(),
        event: q.event.clone(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        after: q.after,
        limit: q.limit.unwrap_or(1000).clamp(1, MAX_EVENTS),
    };
    let entries = s.archive.index().search_ledger(&filter).await?;
    let what = json!({"study": q.study, "patient": q.patient_id.is_some(), "principal": q.principal, "institution": q.institution,
                      "event": q.event, "from_ms": q.from_ms, "to_ms": q.to_ms, "count": entries.len()});
    let _ = audit
        .record(
            Event::new("audit-log-used", &who.id, "ok")
                .institution(who.institution.as_deref())
                .client(&client)
                .studies(&q.study.iter().cloned().collect::<Vec<_>>())
                .fact("search", what),
        )
        .await;
    if q.format.as_deref() == Some("csv") {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv(&entries)).into_response());
    }
    let out: Vec<serde_json::Value> = entries.iter().map(entry_json).collect();
    Ok(Json(out).into_response())
}

fn entry_json(e: &LedgerEntry) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
    json!({"leaf_index": e.leaf_index, "leaf_hash": e.leaf_hash, "event": body})
}

/// One line per event: index, time (UTC), kind, result, who, institution,
/// through, client, studies, detail.
fn csv(entries: &[LedgerEntry]) -> String {
    let mut out = String::from("leaf_index,time_utc,event,result,principal,institution,via,client,studies,detail\n");
    for e in entries {
        let Ok(ev) = Event::parse(&e.body) else { continue };
        let time = format_utc(ev.at_ms);
        let fields = [
            e.leaf_index.to_string(),
            time,
            ev.event,
            ev.result,
            ev.principal,
            ev.institution,
            ev.via,
            ev.client,
            ev.studies.join(" "),
            ev.detail,
        ];
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is
/// escaped so a spreadsheet does not run it as a formula.
fn csv_field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f.to_string() };
    if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch.
fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

/// `GET /api/audit/checkpoints`: every signed checkpoint and the key that
/// checks them.
async fn checkpoints(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let rows = s.archive.index().checkpoints().await?;
    let key = s.access.audit().ledger().map(|l| l.verifier.to_string());
    let list: Vec<serde_json::Value> =
        rows.iter().map(|c| json!({"tree_size": c.tree_size, "root_hash": c.root_hash, "at_ms": c.at_ms, "note": c.note})).collect();
    Ok(Json(json!({"log_key": key, "checkpoints": list})).into_response())
}

/// `POST /api/audit/checkpoints`: sign a checkpoint of everything recorded
/// so far (when this node is the sequencer); answers the newest.
async fn checkpoint_now(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let ledger = s.access.audit().ledger().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "this node runs no ledger"))?;
    let index = s.archive.index();
    let before = index.latest_checkpoint().await?.map_or(0, |c| c.tree_size);
    for _ in 0..50 {
        ledger.wake.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let latest = index.latest_checkpoint().await?;
        let pending = index.audit_pending_count().await?;
        if let Some(c) = latest
            && (c.tree_size > before || (pending == 0 && c.tree_size == index.ledger_size().await?))
        {
            return Ok(Json(json!({"tree_size": c.tree_size, "root_hash": c.root_hash, "at_ms": c.at_ms, "note": c.note})).into_response());
        }
    }
    Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no checkpoint within 5 s: another node is the sequencer, or nothing was recorded"))
}

#[derive(Deserialize)]
struct ProofQuery {
    leaf: u64,
    size: Option<u64>,
}

/// `GET /api/audit/proof?leaf=N[&size=M]`: a C2SP `tlog-proof` that entry
/// N is in the log, and the entry itself.
async fn proof(State(s): State<AppState>, Signed(who): Signed, Query(q): Query<ProofQuery>) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let alg = s.access.audit().ledger().map_or_else(Default::default, |l| l.alg);
    let (bundle, entry) =
        prove(s.archive.index(), alg, q.leaf, q.size).await.map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(Json(json!({"leaf_index": q.leaf, "bundle": bundle, "entry": entry})).into_response())
}

/// `GET /audit/checkpoint`: the latest signed checkpoint, as a note.
async fn latest_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let c = s.archive.index().latest_checkpoint().await?.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no checkpoint yet"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], c.note).into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// `GET /audit/consistency?old=M&new=N`: the proof (base64 hashes, one per
/// line) that the tree of N entries extends that of M.
async fn consistency(State(s): State<AppState>, Query(q): Query<ConsistencyQuery>) -> Result<Response, ApiError> {
    let alg = s.access.audit().ledger().map_or_else(Default::default, |l| l.alg);
    let size = s.archive.index().ledger_size().await? as u64;
    if q.old > q.new || q.new > size {
        return Err(ApiError::bad_request(format!("old ≤ new ≤ {size} (the log's size)")));
    }
    let proof = prove_consistency(s.archive.index(), alg, q.old, q.new).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let text: String = proof.iter().map(|h| h.to_base64() + "\n").collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_796_428_800_123), "2026-12-05T00:00:00.123Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("plain"), "plain");
    }
}
