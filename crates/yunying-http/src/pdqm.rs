//! IHE PDQm `$match` on FHIR Patient (`POST /fhir/Patient/$match`): a
//! `Parameters` resource with the `resource` (a Patient: names in Pinyin
//! and/or Hanzi, birthDate, gender, identifiers, telecom), `count` and
//! `onlyCertainMatches`; the answer is a `searchset` Bundle of Patients
//! (one per identity: its institution's Patient ID as identifier), each
//! with its score (0–1) and the match-grade extension. The rule is
//! `yunying-persons`' `match_as`; this file maps FHIR JSON to it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use yunying_persons::IdentityInput;

use crate::AppState;
use crate::auth::{Signed, denied};

const SYSTEM: &str = "urn:yunying:issuer:";
const GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";

fn outcome(status: StatusCode, code: &str, text: &str) -> Response {
    let body = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]});
    (status, [(header::CONTENT_TYPE, "application/fhir+json")], body.to_string()).into_response()
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{3400}'..='\u{9fff}').contains(&c))
}

/// The DICOM PN of a FHIR Patient's names: the Latin one alphabetic, the
/// Hanzi one ideographic.
fn person_name(patient: &Value) -> String {
    let (mut alphabetic, mut ideographic) = (String::new(), String::new());
    for name in patient["name"].as_array().into_iter().flatten().take(4) {
        let family = name["family"].as_str().unwrap_or("");
        let given: Vec<&str> = name["given"].as_array().into_iter().flatten().filter_map(Value::as_str).take(4).collect();
        let pn = format!("{family}^{}", given.join(" "));
        let slot = if has_cjk(&pn) { &mut ideographic } else { &mut alphabetic };
        if slot.is_empty() && pn != "^" {
            *slot = pn;
        }
    }
    if ideographic.is_empty() { alphabetic } else { format!("{alphabetic}={ideographic}") }
}

/// The query a Patient resource states.
fn query_of(patient: &Value) -> IdentityInput {
    let birth_date = patient["birthDate"].as_str().unwrap_or("").replace('-', "");
    let sex = match patient["gender"].as_str() {
        Some("male") => "M",
        Some("female") => "F",
        Some("other") => "O",
        _ => "",
    };
    let mut query = IdentityInput { name: person_name(patient), birth_date, sex: sex.into(), ..Default::default() };
    for id in patient["identifier"].as_array().into_iter().flatten().take(16) {
        let (system, value) = (id["system"].as_str().unwrap_or(""), id["value"].as_str().unwrap_or(""));
        if system.contains("insurance") {
            query.insurance_codes.push(value.to_string());
        } else {
            // A national ID number is recognised by its checksum whatever the system says.
            query.national_ids.push(value.to_string());
        }
    }
    for t in patient["telecom"].as_array().into_iter().flatten().take(4) {
        if t["system"].as_str() == Some("phone")
            && let Some(v) = t["value"].as_str()
        {
            query.phones.push(v.to_string());
        }
    }
    query
}

pub(crate) async fn patient_match(State(s): State<AppState>, Signed(who): Signed, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(persons) = s.persons.as_ref() else {
        return outcome(StatusCode::NOT_FOUND, "not-supported", "the patient index is not enabled on this node");
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    if !(ct.eq_ignore_ascii_case("application/fhir+json") || ct.eq_ignore_ascii_case("application/json")) {
        return outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported", "send a Parameters resource as application/fhir+json");
    }
    let Ok(parameters) = serde_json::from_slice::<Value>(&body) else {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "the body is not JSON");
    };
    if parameters["resourceType"] != "Parameters" {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "send a Parameters resource");
    }
    let list = parameters["parameter"].as_array().cloned().unwrap_or_default();
    let named = |n: &str| list.iter().find(|p| p["name"] == n);
    let Some(patient) = named("resource").map(|p| &p["resource"]).filter(|r| r["resourceType"] == "Patient") else {
        return outcome(StatusCode::BAD_REQUEST, "required", "the resource parameter (a Patient) is required");
    };
    let count = named("count").and_then(|p| p["valueInteger"].as_u64()).unwrap_or(10).clamp(1, 50) as usize;
    let certain_only = named("onlyCertainMatches").and_then(|p| p["valueBoolean"].as_bool()).unwrap_or(false);
    let matches = match persons.match_as(&who, &query_of(patient), count, certain_only).await {
        Ok(m) => m,
        Err(yunying_access::Denied::Invalid(why)) => return outcome(StatusCode::BAD_REQUEST, "invalid", &why),
        Err(e) => return denied(e),
    };
    let auto = persons.config().auto_link.max(1.0);
    let entries: Vec<Value> = matches
        .iter()
        .map(|m| {
            let gender = match m.sex.as_str() {
                "M" => "male",
                "F" => "female",
                "O" => "other",
                _ => "unknown",
            };
            let mut resource = json!({
                "resourceType": "Patient",
                "identifier": [{"system": format!("{SYSTEM}{}", m.issuer), "value": m.patient_id}],
                "gender": gender,
            });
            if m.birth_date.len() == 8 {
                resource["birthDate"] = json!(format!("{}-{}-{}", &m.birth_date[..4], &m.birth_date[4..6], &m.birth_date[6..]));
            }
            let names: Vec<Value> = m
                .name
                .split('=')
                .filter(|n| !n.is_empty())
                .take(2)
                .map(|n| {
                    let (family, given) = n.split_once('^').unwrap_or((n, ""));
                    json!({"family": family, "given": given.split(' ').filter(|g| !g.is_empty()).collect::<Vec<_>>()})
                })
                .collect();
            if !names.is_empty() {
                resource["name"] = json!(names);
            }
            let score = ((m.score / auto).clamp(0.0, 1.0) * 1000.0).round() / 1000.0;
            json!({
                "resource": resource,
                "search": {"mode": "match", "score": score, "extension": [{"url": GRADE, "valueCode": m.grade}]},
            })
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries});
    ([(header::CONTENT_TYPE, "application/fhir+json")], bundle.to_string()).into_response()
}
