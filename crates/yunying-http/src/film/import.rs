//! "Import to my hospital" over HTTP: the routes, and the sending itself
//! (C-STORE through `yunying_dimse::push`, STOW-RS through an HTTP(S)
//! client of ours, `stow_client.rs`), counted into the domain's job. Whether a film may be imported,
//! where, what goes and the record of it are the domain's
//! (`yunying_film`'s `import.rs`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use yunying_archive::InstanceData;
use yunying_film::{Films, StowDestination, Target};
use yunying_index::Film;

use super::{Answer, Client, no_store, session_film};
use crate::AppState;
use crate::extract::{Json, Path};

/// `GET /api/film/{id}/destinations`: where the film can be imported.
pub(crate) async fn destinations(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Answer {
    session_film(&s, &headers, &film_id).await?;
    Ok(Json(s.films.destinations().await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportRequest {
    /// `dicom:<AE title>` or `stow:<name>` from the destinations.
    destination: String,
}

/// `POST /api/film/{id}/import`: start sending the film's studies.
pub(crate) async fn start(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    Json(req): Json<ImportRequest>,
) -> Answer {
    let film = session_film(&s, &headers, &film_id).await?;
    let started = s.films.start_import(&film, &req.destination, &client).await?;
    let job = started.job.clone();
    let stopping = s.background.stopping();
    s.background.spawn(run(s.films.clone(), film, started.target, started.instances, job.job.clone(), client, stopping));
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// `GET /api/film/{id}/import/{job}`.
pub(crate) async fn progress(State(s): State<AppState>, headers: HeaderMap, Path((film_id, job)): Path<(String, String)>) -> Answer {
    let film = session_film(&s, &headers, &film_id).await?;
    let job = s.films.imports().get(&film.film_id, &job)?;
    Ok(no_store(Json(job).into_response(), "no-store"))
}

/// Send the film; a node asked to stop lets it go on for a while, then
/// ends it as failed ("interrupted").
async fn run(
    films: Films,
    film: Film,
    target: Target,
    instances: Vec<InstanceData>,
    job: String,
    client: String,
    stopping: impl std::future::Future<Output = ()>,
) {
    let sending = async {
        match &target {
            Target::Dicom(ae) => {
                let timeout = Duration::from_secs(30);
                let calling = films.policy().calling_aet.clone();
                yunying_dimse::push(films.archive(), (&ae.host, ae.port), &calling, &ae.ae_title, &instances, timeout, |_, outcome| {
                    let ok = matches!(outcome, Ok(status) if status == 0 || (status & 0xF000) == 0xB000);
                    films.imports().count(&job, ok);
                })
                .await
            }
            Target::Stow(d) => stow(&films, d, &instances, &job).await,
        }
    };
    let result = tokio::select! {
        result = sending => result,
        _ = stopping => Err("interrupted: the archive node was stopped; import again".to_string()),
    };
    films.finish_import(&film, &target, &job, result, &client).await;
}

/// STOW-RS, one instance a request (progress per instance; the stored
/// Part 10 bytes as they are).
async fn stow(films: &Films, d: &StowDestination, instances: &[InstanceData], job: &str) -> Result<(), String> {
    use http_body_util::{BodyExt, Full};
    let url = format!("{}/studies", d.url.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad STOW-RS URL: {e}"))?;
    let client = super::stow_client::client(d, &uri)?;
    for data in instances {
        let (store, key) = (films.archive().store().clone(), data.stored.object_key.clone());
        let bytes = match tokio::task::spawn_blocking(move || store.get(&key)).await {
            Ok(Ok(b)) => b,
            _ => {
                films.imports().count(job, false);
                continue;
            }
        };
        let boundary = format!("yunying-{}", yunying_film::secrets::random_token(12));
        let mut body = Vec::with_capacity(bytes.len() + 200);
        body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut request = hyper::Request::post(uri.clone())
            .header(header::CONTENT_TYPE, format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"))
            .header(header::ACCEPT, "application/dicom+json");
        if let Some(token) = d.token.as_deref() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(axum::body::Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
            .await
            .map_err(|_| "the STOW-RS endpoint did not answer in 60 s".to_string())?
            .map_err(|e| format!("STOW-RS: {e}"))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        films.imports().count(job, status.is_success());
    }
    Ok(())
}
