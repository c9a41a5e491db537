//! "Import to my hospital": a doctor who opened a shared film sends its
//! studies to their own archive, by C-STORE to an AE of the AE registry or
//! by STOW-RS to a configured DICOMweb endpoint, as stored (the receiving
//! PACS gets the original bytes).
//!
//! Here: where a film can go, whether it may go now (an import hands every
//! original to another archive, so only a film that allows download, and
//! at most `imports_per_hour` per film, counted in the index for every
//! node), what goes (the film's studies, nothing else), the jobs' progress
//! and the outcome on the film's record. The sending itself is the face's
//! (DIMSE through `yunying-dimse`, STOW-RS through an HTTP client).
//!
//! Jobs live in the memory of the node that runs them (the page polls the
//! node it started the job on); the outcome is a film event in the index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use yunying_archive::InstanceData;
use yunying_index::{Film, RemoteAe};

use crate::secrets::random_token;
use crate::{FilmError, Films, Result, StowDestination, event, now_ms, viewer_actor};

/// Jobs kept for the page to read, at most.
const KEPT_JOBS: usize = 1000;

/// One import's progress, as the page reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub job: String,
    #[serde(skip)]
    pub film_id: String,
    pub destination: String,
    /// `running`, `done` (every instance accepted), `failed`.
    pub state: &'static str,
    pub total: usize,
    pub sent: usize,
    pub failed: usize,
    pub message: String,
    #[serde(skip)]
    pub started_ms: i64,
}

/// Import jobs of this node, by id.
#[derive(Clone, Default)]
pub struct Imports(Arc<Mutex<HashMap<String, Job>>>);

impl Imports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep a new job, forgetting the oldest finished ones when full.
    fn insert(&self, job: Job) {
        let mut jobs = self.lock();
        if jobs.len() >= KEPT_JOBS {
            let mut done: Vec<(i64, String)> =
                jobs.values().filter(|j| j.state != "running").map(|j| (j.started_ms, j.job.clone())).collect();
            done.sort();
            for (_, id) in done.into_iter().take(KEPT_JOBS / 10) {
                jobs.remove(&id);
            }
        }
        jobs.insert(job.job.clone(), job);
    }

    /// A job of `film_id` (another film's job is not found).
    pub fn get(&self, film_id: &str, job: &str) -> Result<Job> {
        self.lock()
            .get(job)
            .filter(|j| j.film_id == film_id)
            .cloned()
            .ok_or_else(|| FilmError::NotFound("no such import of this film".into()))
    }

    /// Count one instance sent (`ok`) or refused.
    pub fn count(&self, job: &str, ok: bool) {
        if let Some(j) = self.lock().get_mut(job) {
            if ok { j.sent += 1 } else { j.failed += 1 }
        }
    }
}

/// Where a film can be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// `dicom:<AE title>` or `stow:<name>`.
    pub id: String,
    /// `dicom` or `stow`.
    pub kind: &'static str,
    pub name: String,
    pub institution: String,
}

/// Where an import goes.
#[derive(Debug, Clone)]
pub enum Target {
    Dicom(RemoteAe),
    Stow(StowDestination),
}

impl Target {
    /// The destination's id (`dicom:…`, `stow:…`).
    pub fn name(&self) -> String {
        match self {
            Target::Dicom(ae) => format!("dicom:{}", ae.ae_title),
            Target::Stow(d) => format!("stow:{}", d.name),
        }
    }
}

/// An import that may go: what to send where, under which job.
pub struct Started {
    pub job: Job,
    pub target: Target,
    pub instances: Vec<InstanceData>,
}

impl Films {
    /// Where films can be imported: the AE registry, then the configured
    /// STOW-RS endpoints.
    pub async fn destinations(&self) -> Result<Vec<Destination>> {
        let mut out: Vec<Destination> = self
            .index()
            .remote_aes()
            .await?
            .into_iter()
            .map(|ae| Destination { id: format!("dicom:{}", ae.ae_title), kind: "dicom", name: ae.ae_title, institution: ae.institution })
            .collect();
        for d in &self.policy.stow_destinations {
            out.push(Destination {
                id: format!("stow:{}", d.name),
                kind: "stow",
                name: d.name.clone(),
                institution: d.institution.clone(),
            });
        }
        Ok(out)
    }

    /// Begin importing `film` into `destination` (`dicom:<AE title>` or
    /// `stow:<name>`): the job, registered as running, and what to send.
    pub async fn start_import(&self, film: &Film, destination: &str, client: &str) -> Result<Started> {
        let actor = viewer_actor(film);
        if !film.download {
            self.record(film, actor, "imported", client, "refused", "the film does not allow download").await?;
            return Err(FilmError::Forbidden(
                "this film does not allow copies of the originals, so it cannot be imported / 此胶片不允许下载原始影像，不能导入".into(),
            ));
        }
        let target = match destination.split_once(':') {
            Some(("dicom", ae)) => {
                Target::Dicom(self.index().remote_ae(ae).await?.ok_or_else(|| FilmError::NotFound(format!("no registered AE {ae}")))?)
            }
            Some(("stow", name)) => Target::Stow(
                self.policy
                    .stow_destinations
                    .iter()
                    .find(|d| d.name == name)
                    .cloned()
                    .ok_or_else(|| FilmError::NotFound(format!("no STOW-RS destination {name}")))?,
            ),
            _ => return Err(FilmError::Invalid("destination is dicom:<AE title> or stow:<name>".into())),
        };
        let now = now_ms();
        let limit = self.policy.imports_per_hour;
        if self.index().reserve_slot(&format!("import:{}", film.film_id), now - 3_600_000, now, limit).await?.is_none() {
            self.record(film, actor, "imported", client, "refused", "import limit reached").await?;
            return Err(FilmError::TooMany(format!(
                "this film has been imported {limit} times in the last hour: try again later / 此胶片导入次数过多，请稍后再试"
            )));
        }
        let mut instances = Vec::new();
        for study in &film.studies {
            instances.extend(self.archive.instances(study, None, None).await?);
        }
        let job = Job {
            job: random_token(9),
            film_id: film.film_id.clone(),
            destination: destination.to_string(),
            state: "running",
            total: instances.len(),
            sent: 0,
            failed: 0,
            message: String::new(),
            started_ms: now_ms(),
        };
        self.imports.insert(job.clone());
        Ok(Started { job, target, instances })
    }

    /// The sending ended (`Err`: it stopped): the job's outcome, and the
    /// film's record. Done only when every instance was accepted.
    pub async fn finish_import(&self, film: &Film, target: &Target, job: &str, sending: Result<(), String>, client: &str) {
        let (state, message) = {
            let jobs = self.imports.lock();
            let (sent, failed, total) = jobs.get(job).map_or((0, 0, 0), |j| (j.sent, j.failed, j.total));
            outcome(sending, sent, failed, total)
        };
        if let Some(j) = self.imports.lock().get_mut(job) {
            j.state = state;
            j.message = message.clone();
        }
        let name = target.name();
        let result = if state == "done" { "ok" } else { "failed" };
        let e = event(film, viewer_actor(film), "imported", client, result, format!("{name}: {message}"));
        if let Err(e) = self.index().record_film_event(&e).await {
            tracing::warn!(error = %e, "film import: event not recorded");
        }
        self.audit(&e, None).await;
        tracing::info!(film = %film.film_id, destination = %name, state, "film import finished");
    }
}

/// A finished job's state and message.
fn outcome(sending: Result<(), String>, sent: usize, failed: usize, total: usize) -> (&'static str, String) {
    match sending {
        Err(e) => ("failed", format!("{e} ({sent} of {total} sent)")),
        Ok(()) if failed > 0 || sent < total => ("failed", format!("{failed} of {total} instances refused")),
        Ok(()) => ("done", format!("{sent} instances sent")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, film: &str, state: &'static str, started: i64) -> Job {
        Job {
            job: id.into(),
            film_id: film.into(),
            destination: "dicom:B".into(),
            state,
            total: 2,
            sent: 0,
            failed: 0,
            message: String::new(),
            started_ms: started,
        }
    }

    #[test]
    fn an_import_is_done_only_when_every_instance_was_accepted() {
        assert_eq!(outcome(Ok(()), 2, 0, 2).0, "done");
        assert_eq!(outcome(Ok(()), 1, 1, 2), ("failed", "1 of 2 instances refused".into()));
        assert_eq!(outcome(Ok(()), 1, 0, 2).0, "failed", "an instance never answered for");
        assert_eq!(outcome(Err("refused association".into()), 0, 0, 2), ("failed", "refused association (0 of 2 sent)".into()));
    }

    #[test]
    fn jobs_are_per_film_and_the_oldest_finished_are_forgotten() {
        let imports = Imports::default();
        imports.insert(job("j1", "F1", "running", 0));
        imports.count("j1", true);
        imports.count("j1", false);
        let j = imports.get("F1", "j1").unwrap();
        assert_eq!((j.sent, j.failed), (1, 1));
        assert!(matches!(imports.get("F2", "j1"), Err(FilmError::NotFound(_))), "another film's job is not found");
        for i in 0..KEPT_JOBS {
            imports.insert(job(&format!("d{i}"), "F1", "done", 10 + i as i64));
        }
        assert!(imports.get("F1", "j1").is_ok(), "a running job is kept");
        assert!(imports.get("F1", "d0").is_err(), "the oldest finished job is forgotten");
        assert!(imports.get("F1", &format!("d{}", KEPT_JOBS - 1)).is_ok());
    }
}
