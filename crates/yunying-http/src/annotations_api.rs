//! `/api/studies/{study}/annotations`: the viewer's measurements and
//! annotations saved as a TID 1500 SR and a presentation state, and its key
//! images as a Key Object Selection document "Of Interest"
//! (`yunying_report::annotations`) stored in the study through this
//! archive's ingest (as STOW-RS stores: indexed, renditions, events), and
//! the newest set read back from the study's TID 1500 SRs (anyone's, ours
//! or another tool's) with the windows saved with it, and the key images of
//! the newest key object document saved here (alone or with a set not older
//! than that set). Saving is `Access::check_annotate` (storing or
//! reading for reports, on a study the principal may view); reading the
//! set back needs a view of the study.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use yunying_access::{Action, Principal};
use yunying_archive::{ImportError, IngestError, InstanceData, import_bytes};
use yunying_report::annotations::{self as annot, AnnotationDocument, AnnotationSet, COMPREHENSIVE_SR_SOP_CLASS_UID, Display};
use yunying_report::{DateTimeParts, GSPS_SOP_CLASS_UID, KOS_SOP_CLASS_UID, Person, StudyIdentity};

use crate::AppState;
use crate::auth::{Signed, refusal};
use crate::error::ApiError;
use crate::extract::Json;

/// The largest request body.
const MAX_BODY: usize = 1 << 20;
/// Most stored SRs of a study read to find the newest set.
const MAX_SRS_READ: usize = 50;
/// The largest stored SR or presentation state read back.
const MAX_OBJECT_BYTES: i64 = 8 << 20;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/studies/{study}/annotations",
            get(load).post(save).route_layer(axum::middleware::from_fn(crate::people::same_origin_json)),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

#[derive(Serialize)]
struct Saved {
    /// The SR and the presentation state, when there are annotations.
    sr_sop_instance_uid: Option<String>,
    gsps_sop_instance_uid: Option<String>,
    /// The key object document, when there are key images.
    kos_sop_instance_uid: Option<String>,
    annotations: usize,
    key_images: usize,
}

#[derive(Serialize, Default)]
struct Loaded {
    /// The SR read; `None` when the study has no measurement report.
    sop_instance_uid: Option<String>,
    author_name: String,
    author_id: String,
    content_date: String,
    content_time: String,
    annotations: Vec<annot::Annotation>,
    displays: Vec<Display>,
    key_images: Vec<annot::AnnotatedImage>,
}

fn new_uid() -> String {
    format!("2.25.{}", rand::random::<u128>() >> 1)
}

/// `YYYYMMDD`, `HHMMSS` (UTC) of now.
fn now_utc() -> DateTimeParts {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    DateTimeParts::at(ms, 0)
}

fn text(meta: &serde_json::Value, tag: &str) -> String {
    match &meta[tag]["Value"][0] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Object(pn) => {
            let parts: Vec<&str> =
                ["Alphabetic", "Ideographic", "Phonetic"].iter().map(|k| pn.get(*k).and_then(|x| x.as_str()).unwrap_or("")).collect();
            parts.join("=").trim_end_matches('=').to_string()
        }
        _ => String::new(),
    }
}

async fn metadata(s: &AppState, data: &InstanceData) -> Result<serde_json::Value, ApiError> {
    let bytes = s.archive.metadata(data).await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("metadata: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("metadata: {e}")))
}

fn study_uid(study: &str) -> Result<(), ApiError> {
    if study.is_empty() || study.len() > 64 || !study.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ApiError::bad_request("not a Study Instance UID"));
    }
    Ok(())
}

async fn save(
    State(s): State<AppState>,
    Signed(who): Signed,
    Path(study): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Json(mut set): Json<AnnotationSet>,
) -> Result<Response, ApiError> {
    study_uid(&study)?;
    // Storing or reading for reports, on a study the principal reaches.
    s.access.check_annotate(&who, &study).await.map_err(refusal)?;
    if set.annotations.len() > annot::MAX_ANNOTATIONS
        || set.displays.len() > annot::MAX_DISPLAYS
        || set.key_images.len() > annot::MAX_KEY_IMAGES
    {
        return Err(ApiError::bad_request(format!(
            "at most {} annotations, {} displays and {} key images",
            annot::MAX_ANNOTATIONS,
            annot::MAX_DISPLAYS,
            annot::MAX_KEY_IMAGES
        )));
    }

    // Each image named must be in the study: its SOP Class, rows and
    // columns come from the index; the patient and study from the first.
    let mut found: HashMap<String, (String, Option<u16>, Option<u16>)> = HashMap::new();
    let mut identity: Option<serde_json::Value> = None;
    let images = set
        .annotations
        .iter_mut()
        .map(|a| &mut a.image)
        .chain(set.displays.iter_mut().map(|d| &mut d.image))
        .chain(set.key_images.iter_mut());
    for img in images {
        if !found.contains_key(&img.sop_instance_uid) {
            if img.sop_instance_uid.len() > 64 || img.series_instance_uid.len() > 64 {
                return Err(ApiError::bad_request("a UID is at most 64 characters"));
            }
            let rows = s
                .archive
                .index()
                .instances_in(&study, Some(&img.series_instance_uid), Some(&img.sop_instance_uid))
                .await
                .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
            let Some(row) = rows.first() else {
                return Err(ApiError::bad_request(format!(
                    "image {} is not in series {} of this study",
                    img.sop_instance_uid, img.series_instance_uid
                )));
            };
            let meta = metadata(&s, row).await?;
            let dim = |tag: &str| meta[tag]["Value"][0].as_u64().and_then(|v| u16::try_from(v).ok());
            found.insert(img.sop_instance_uid.clone(), (row.stored.sop_class_uid.clone(), dim("00280010"), dim("00280011")));
            identity.get_or_insert(meta);
        }
        let (class, rows, columns) = &found[&img.sop_instance_uid];
        img.sop_class_uid = class.clone();
        img.rows = *rows;
        img.columns = *columns;
    }
    for a in &mut set.annotations {
        if a.tracking_uid.is_empty() {
            a.tracking_uid = new_uid();
        }
    }
    annot::check_set(&set).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let meta = identity.unwrap_or_default();
    let doc = AnnotationDocument {
        study: StudyIdentity {
            patient_name: text(&meta, "00100010"),
            patient_id: text(&meta, "00100020"),
            issuer_of_patient_id: text(&meta, "00100021"),
            patient_birth_date: text(&meta, "00100030"),
            patient_sex: text(&meta, "00100040"),
            study_instance_uid: study.clone(),
            study_id: text(&meta, "00200010"),
            accession_number: text(&meta, "00080050"),
            study_date: text(&meta, "00080020"),
            study_time: text(&meta, "00080030"),
            referring_physician_name: text(&meta, "00080090"),
            study_description: text(&meta, "00081030"),
        },
        author: Person { name: if who.name.is_empty() { who.id.clone() } else { who.name.clone() }, id: who.id.clone() },
        institution: who.institution.clone().unwrap_or_default(),
        created: now_utc(),
        sr_series_instance_uid: new_uid(),
        sr_sop_instance_uid: new_uid(),
        gsps_series_instance_uid: new_uid(),
        gsps_sop_instance_uid: new_uid(),
        kos_series_instance_uid: new_uid(),
        kos_sop_instance_uid: new_uid(),
    };
    let built = annot::build_annotations(&doc, &set).map_err(|e| ApiError::bad_request(e.to_string()))?;

    // Stored as STOW-RS stores: the principal's institution places it.
    let caller = match &who.institution {
        Some(code) => s.archive.config().caller_of_institution("ANNOTATIONS", code),
        None => s
            .archive
            .config()
            .resolve_caller("ANNOTATIONS", Some(peer.ip()))
            .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "this client is not a configured institution"))?,
    };
    for file in [built.sr.as_ref(), built.gsps.as_ref(), built.kos.as_ref()].into_iter().flatten() {
        import_bytes(&s.archive, file, &caller, &who.id, Some(study.clone())).await.map_err(|e| {
            // Another institution's study is not the principal's to add to.
            let status = if matches!(e, ImportError::Ingest(IngestError::NotAuthorized(_))) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            ApiError::new(status, format!("storing the annotations: {e}"))
        })?;
    }
    record(&s, &who, &peer, &headers, &study, &doc, &set).await;
    let saved = Saved {
        sr_sop_instance_uid: built.sr.is_some().then_some(doc.sr_sop_instance_uid),
        gsps_sop_instance_uid: built.gsps.is_some().then_some(doc.gsps_sop_instance_uid),
        kos_sop_instance_uid: built.kos.is_some().then_some(doc.kos_sop_instance_uid),
        annotations: set.annotations.len(),
        key_images: set.key_images.len(),
    };
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

async fn record(
    s: &AppState,
    who: &Principal,
    peer: &std::net::SocketAddr,
    headers: &HeaderMap,
    study: &str,
    doc: &AnnotationDocument,
    set: &AnnotationSet,
) {
    let client = crate::film::client_address(Some(peer.ip()), headers, &s.config.trusted_proxies);
    let event = yunying_audit::Event::new("annotations-saved", &who.id, "ok")
        .institution(who.institution.as_deref())
        .client(&client)
        .studies(&[study.to_string()])
        .detail(&format!("{} annotations, {} key images", set.annotations.len(), set.key_images.len()));
    let event = if set.annotations.is_empty() {
        event
    } else {
        event.fact("sr", doc.sr_sop_instance_uid.as_str()).fact("gsps", doc.gsps_sop_instance_uid.as_str())
    };
    let event = if set.key_images.is_empty() { event } else { event.fact("kos", doc.kos_sop_instance_uid.as_str()) };
    if let Err(e) = s.access.audit().record(event).await {
        tracing::warn!(error = %e, "recording annotations-saved");
    }
}

async fn read(s: &AppState, data: &InstanceData) -> Result<Vec<u8>, ApiError> {
    if data.stored.size_bytes > MAX_OBJECT_BYTES {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "a stored report is too large to read"));
    }
    s.archive
        .read_object_range(&data.stored.object_key, 0, data.stored.size_bytes as u64)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("reading a stored report: {e}")))
}

async fn load(State(s): State<AppState>, Signed(who): Signed, Path(study): Path<String>) -> Result<Response, ApiError> {
    study_uid(&study)?;
    s.access.check_study(&who, Action::View, &study).await.map_err(refusal)?;
    let all = s
        .archive
        .index()
        .instances_in(&study, None, None)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let srs: Vec<&InstanceData> = all.iter().filter(|d| d.stored.sop_class_uid == COMPREHENSIVE_SR_SOP_CLASS_UID).collect();
    let mut best: Option<annot::parse::ParsedReport> = None;
    // The newest first in storage order, at most MAX_SRS_READ.
    for data in srs.iter().rev().take(MAX_SRS_READ) {
        let Ok(bytes) = read(&s, data).await else { continue };
        // Not a measurement report, or one we cannot read: skipped.
        let Ok(parsed) = annot::parse::parse_sr(&bytes) else { continue };
        let newer = best.as_ref().is_none_or(|b| (&parsed.content_date, &parsed.content_time) > (&b.content_date, &b.content_time));
        if newer {
            best = Some(parsed);
        }
    }
    // The key images: our newest key object document, unless a newer report was saved without any.
    let mut keys: Option<annot::parse::ParsedKeyImages> = None;
    for data in all.iter().filter(|d| d.stored.sop_class_uid == KOS_SOP_CLASS_UID).rev().take(MAX_SRS_READ) {
        let Ok(bytes) = read(&s, data).await else { continue };
        // Another tool's or the reading workflow's: not the viewer's marks.
        let Ok(parsed) = annot::parse::parse_key_images(&bytes) else { continue };
        if parsed.description != annot::KEY_IMAGES_DESCRIPTION {
            continue;
        }
        if keys.as_ref().is_none_or(|k| (&parsed.content_date, &parsed.content_time) > (&k.content_date, &k.content_time)) {
            keys = Some(parsed);
        }
    }
    let keys = keys.filter(|k| best.as_ref().is_none_or(|r| (&k.content_date, &k.content_time) >= (&r.content_date, &r.content_time)));
    let Some(report) = best else {
        // Key images saved alone, or nothing.
        let loaded = keys
            .map(|k| Loaded {
                author_name: k.author_name,
                content_date: k.content_date,
                content_time: k.content_time,
                key_images: k.images,
                ..Loaded::default()
            })
            .unwrap_or_default();
        return Ok(Json(loaded).into_response());
    };
    // Its presentation state: ours, created with it.
    let mut displays = Vec::new();
    for data in all.iter().filter(|d| d.stored.sop_class_uid == GSPS_SOP_CLASS_UID) {
        let Ok(meta) = metadata(&s, data).await else { continue };
        let same = text(&meta, "00700080") == annot::CONTENT_LABEL
            && text(&meta, "00700082") == report.content_date
            && text(&meta, "00700083") == report.content_time
            && text(&meta, "00700084") == report.author_name;
        if same {
            if let Ok(bytes) = read(&s, data).await {
                displays = annot::parse::parse_displays(&bytes).unwrap_or_default();
            }
            break;
        }
    }
    Ok(Json(Loaded {
        sop_instance_uid: Some(report.sop_instance_uid),
        author_name: report.author_name,
        author_id: report.author_id,
        content_date: report.content_date,
        content_time: report.content_time,
        annotations: report.set.annotations,
        displays,
        key_images: keys.map(|k| k.images).unwrap_or_default(),
    })
    .into_response())
}
