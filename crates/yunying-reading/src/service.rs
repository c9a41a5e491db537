//! [`Reading`]: relationships, templates and requests over the index.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use yunying_access::{Access, Action, Denied, Principal, Reach, Reached};
use yunying_audit::Event;
use yunying_index::{Index, ReadingRequestRow};

use crate::ReadingError;
use crate::config::ReadingConfig;
use crate::model::{MAX_CLINICAL, Priority, Relationship, Status, Template, check_text, default_templates};
use crate::views::RequestView;

/// How long a node trusts its copy of the relationships.
const CACHE_FOR: Duration = Duration::from_secs(2);
/// Most relationships and templates stored.
pub const MAX_RELATIONSHIPS: usize = 1_000;
pub const MAX_TEMPLATES: usize = 500;
/// The actor of requests made by a routing rule.
pub const RULE_ACTOR: &str = "rule:reading";

/// Signs a report's content with the platform's key (the ledger's: SM2
/// with SM3 where configured). Returns the algorithm's name, the key's id
/// and the signature (base64).
pub trait ReportSigner: Send + Sync {
    fn sign_report(&self, content: &[u8]) -> Result<(String, String, String), String>;
}

/// A request someone asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub study_instance_uid: String,
    /// The institution asked to read; the first relationship of the
    /// study's institution that covers it when not given.
    #[serde(default)]
    pub reading: String,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub clinical_info: String,
    #[serde(default)]
    pub his_order_id: String,
}

/// Remote reading on an index. Cheap to share (`Arc`).
pub struct Reading {
    pub(crate) index: Index,
    pub(crate) access: Access,
    pub(crate) config: ReadingConfig,
    pub(crate) institution_names: BTreeMap<String, String>,
    pub(crate) signer: Option<Arc<dyn ReportSigner>>,
    pub(crate) fonts: Option<Arc<yunying_report::Fonts>>,
    /// Woken when a delivery is owed.
    pub(crate) wake: tokio::sync::Notify,
    /// The objects made last (a version goes to several places).
    pub(crate) built: Mutex<Option<LastBuilt>>,
    cache: Mutex<Option<(Instant, Arc<Vec<Relationship>>)>>,
}

/// The objects of one version: (request id, version), what was made and
/// their SOP Instance UIDs in the order sent.
pub(crate) type LastBuilt = ((String, i64), Arc<yunying_report::Built>, Vec<String>);

/// What routing needs of a study.
pub(crate) struct StudyFacts {
    pub issuer: String,
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
}

impl Reading {
    /// Remote reading with `config` (checked); `institution_names` are
    /// the display names of institution codes.
    pub fn new(
        index: Index,
        access: Access,
        config: &ReadingConfig,
        institution_names: BTreeMap<String, String>,
    ) -> Result<Reading, ReadingError> {
        config.check()?;
        Ok(Reading {
            index,
            access,
            config: config.clone(),
            institution_names,
            signer: None,
            fonts: None,
            wake: tokio::sync::Notify::new(),
            built: Mutex::new(None),
            cache: Mutex::new(None),
        })
    }

    /// Reports signed with `signer`.
    pub fn with_signer(mut self, signer: Arc<dyn ReportSigner>) -> Reading {
        self.signer = Some(signer);
        self
    }

    /// Report PDFs set in `fonts`.
    pub fn with_fonts(mut self, fonts: Arc<yunying_report::Fonts>) -> Reading {
        self.fonts = Some(fonts);
        self
    }

    pub fn config(&self) -> &ReadingConfig {
        &self.config
    }

    /// An institution's name as shown (its code when unknown).
    pub fn institution_name(&self, code: &str) -> String {
        self.institution_names.get(code).cloned().unwrap_or_else(|| code.to_string())
    }

    /// Stores the configuration's relationships when none is stored, and
    /// its templates (or the built-in ones) when none is: the
    /// configuration seeds, the API replaces. Whether anything was written.
    pub async fn seed(&self, now_ms: i64) -> Result<bool, ReadingError> {
        let mut wrote = false;
        if !self.config.relationships.is_empty() && self.index.reading_relationships().await?.is_empty() {
            for r in &self.config.relationships {
                self.index.put_reading_relationship(&r.requesting, &r.reading, &json(r), now_ms).await?;
            }
            wrote = true;
        }
        if self.index.reading_templates().await?.is_empty() {
            let templates = if self.config.templates.is_empty() { default_templates() } else { self.config.templates.clone() };
            for t in &templates {
                self.index.put_reading_template(&t.id, &json(t), now_ms).await?;
            }
            wrote = true;
        }
        self.forget();
        Ok(wrote)
    }

    /// Every relationship.
    pub async fn relationships(&self) -> Result<Arc<Vec<Relationship>>, ReadingError> {
        if let Some((at, r)) = self.cache.lock().unwrap().as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(r.clone());
        }
        let rows = self.index.reading_relationships().await?;
        let list: Vec<Relationship> = rows.into_iter().filter_map(|(_, _, body)| serde_json::from_str(&body).ok()).collect();
        let list = Arc::new(list);
        *self.cache.lock().unwrap() = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    fn forget(&self) {
        *self.cache.lock().unwrap() = None;
    }

    /// The relationships a principal may see: all for the system
    /// administrator, its institution's (either side) for others.
    pub async fn relationships_as(&self, who: &Principal) -> Result<Vec<Relationship>, ReadingError> {
        let all = self.relationships().await?;
        if who.may(Action::ManageSystem) {
            return Ok(all.as_ref().clone());
        }
        let Some(mine) = &who.institution else {
            return Err(Denied::Forbidden("reading relationships are an institution's".into()).into());
        };
        if !(who.may(Action::Reading) || who.may(Action::RequestReading)) {
            return Err(Denied::Forbidden("seeing reading relationships needs a reading or requesting role".into()).into());
        }
        Ok(all.iter().filter(|r| &r.requesting == mine || &r.reading == mine).cloned().collect())
    }

    /// Add or replace a relationship (the system administrator).
    pub async fn put_relationship_as(&self, who: &Principal, r: Relationship, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::ManageSystem)?;
        r.check()?;
        let all = self.relationships().await?;
        if all.len() >= MAX_RELATIONSHIPS && !all.iter().any(|x| x.requesting == r.requesting && x.reading == r.reading) {
            return Err(ReadingError::Invalid(format!("at most {MAX_RELATIONSHIPS} relationships")));
        }
        self.index.put_reading_relationship(&r.requesting, &r.reading, &json(&r), now_ms()).await?;
        self.forget();
        let detail = format!("{} -> {}", r.requesting, r.reading);
        self.event(Event::new("reading-relationship-set", &who.id, "ok").client(client).detail(&detail)).await;
        Ok(())
    }

    /// Remove a relationship (the system administrator). Requests made
    /// under it stay.
    pub async fn remove_relationship_as(&self, who: &Principal, requesting: &str, reading: &str, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::ManageSystem)?;
        if !self.index.remove_reading_relationship(requesting, reading).await? {
            return Err(Denied::NotFound(format!("no relationship {requesting} -> {reading}")).into());
        }
        self.forget();
        let detail = format!("{requesting} -> {reading}");
        self.event(Event::new("reading-relationship-removed", &who.id, "ok").client(client).detail(&detail)).await;
        Ok(())
    }

    /// Every template (anyone who reads or manages).
    pub async fn templates(&self) -> Result<Vec<Template>, ReadingError> {
        Ok(self.index.reading_templates().await?.into_iter().filter_map(|(_, body)| serde_json::from_str(&body).ok()).collect())
    }

    /// Every template, for readers and the system administrator.
    pub async fn templates_as(&self, who: &Principal) -> Result<Vec<Template>, ReadingError> {
        if !(who.may(Action::Reading) || who.may(Action::ManageSystem)) {
            return Err(Denied::Forbidden("templates are for readers and the system administrator".into()).into());
        }
        self.templates().await
    }

    /// Add or replace a template (the system administrator).
    pub async fn put_template_as(&self, who: &Principal, t: Template, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::ManageSystem)?;
        t.check()?;
        let all = self.index.reading_templates().await?;
        if all.len() >= MAX_TEMPLATES && !all.iter().any(|(id, _)| *id == t.id) {
            return Err(ReadingError::Invalid(format!("at most {MAX_TEMPLATES} templates")));
        }
        self.index.put_reading_template(&t.id, &json(&t), now_ms()).await?;
        self.event(Event::new("reading-template-set", &who.id, "ok").client(client).detail(&t.id)).await;
        Ok(())
    }

    /// Remove a template (the system administrator).
    pub async fn remove_template_as(&self, who: &Principal, id: &str, client: &str) -> Result<(), ReadingError> {
        self.access.require(who, Action::ManageSystem)?;
        if !self.index.remove_reading_template(id).await? {
            return Err(Denied::NotFound(format!("no template {id}")).into());
        }
        self.event(Event::new("reading-template-removed", &who.id, "ok").client(client).detail(id)).await;
        Ok(())
    }

    /// Ask for a study to be read: by a HIS key, a technologist or a
    /// doctor of the study's institution (or a platform key). The reading
    /// institution must read for the study's institution.
    pub async fn request_as(&self, who: &Principal, new: NewRequest, client: &str) -> Result<RequestView, ReadingError> {
        self.access.require(who, Action::RequestReading)?;
        check_text("clinical information", &new.clinical_info, MAX_CLINICAL, true)?;
        check_text("HIS order", &new.his_order_id, 64, true)?;
        match self.access.check_study(who, Action::RequestReading, &new.study_instance_uid).await? {
            Reached::Own => {}
            Reached::Grant(_) => return Err(Denied::Forbidden("only the study's own institution asks for it to be read".into()).into()),
        }
        if matches!(who.reach, Reach::Studies(_)) {
            return Err(Denied::Forbidden("a film session asks for no reading".into()).into());
        }
        let facts = self.study_facts(&new.study_instance_uid).await?.ok_or_else(|| Denied::NotFound("no such study".into()))?;
        let all = self.relationships().await?;
        let rel = all
            .iter()
            .filter(|r| r.requesting == facts.issuer)
            .find(|r| if new.reading.is_empty() { r.covers(&facts.modalities, &facts.body_parts) } else { r.reading == new.reading })
            .cloned()
            .ok_or_else(|| {
                ReadingError::Invalid(format!(
                    "no reading relationship from {} {}",
                    facts.issuer,
                    if new.reading.is_empty() { "covers this study".to_string() } else { format!("to {}", new.reading) }
                ))
            })?;
        let priority = new.priority.unwrap_or(rel.priority);
        let row = self
            .create(&new.study_instance_uid, &facts, &rel, priority, &new.clinical_info, &new.his_order_id, "api", &who.id, client)
            .await?;
        match row {
            Some(r) => Ok(RequestView::of_request(r, &|c| self.institution_name(c), now_ms())),
            None => Err(ReadingError::Conflict(format!("the study is already requested from {}", rel.reading))),
        }
    }

    /// Makes requests for the studies of instances stored since the last
    /// call (the cursor `reading-router`) that a relationship routes
    /// automatically, as `holder` of the lease of the same name; `None`
    /// when another node holds it. A study is taken `settle_secs` after
    /// the instance was stored; its later instances join the request.
    pub async fn route_new(&self, holder: &str, now_ms: i64) -> Result<Option<usize>, ReadingError> {
        const NAME: &str = "reading-router";
        if !self.index.try_lease(NAME, holder, now_ms, now_ms + 60_000).await? {
            return Ok(None);
        }
        let after = self.index.cursor(NAME).await?;
        let settle = i64::from(self.config.settle_secs.max(5)) * 1000;
        let (studies, last) = self.index.studies_of_instances_after(after, now_ms - settle, 20_000).await?;
        let all = self.relationships().await?;
        let mut made = 0;
        for study in &studies {
            let Some(facts) = self.study_facts(study).await? else { continue };
            for rel in all.iter().filter(|r| r.automatic && r.requesting == facts.issuer && r.covers(&facts.modalities, &facts.body_parts))
            {
                if self.create(study, &facts, rel, rel.priority, "", "", "rule", RULE_ACTOR, "").await?.is_some() {
                    made += 1;
                }
            }
        }
        if last > after {
            self.index.set_cursor(NAME, last).await?;
        }
        Ok(Some(made))
    }

    /// Route new studies until `stop`, every `every`, as `holder`.
    pub async fn run_router(self: Arc<Self>, holder: String, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.route_new(&holder, now_ms()).await {
                tracing::warn!(error = %e, "reading: routing new studies failed; trying again later");
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        let _ = self.index.release_lease("reading-router", &holder).await;
    }

    pub(crate) async fn study_facts(&self, study: &str) -> Result<Option<StudyFacts>, ReadingError> {
        let rows = self.index.recognition_studies(&[study.to_string()], false).await?;
        Ok(rows.into_iter().next().map(|r| StudyFacts {
            issuer: r.issuer,
            modalities: r.modalities.split('\\').filter(|m| !m.is_empty()).map(str::to_string).collect(),
            body_parts: r.body_parts,
        }))
    }

    /// Store a request with its grant; `None` when the study is already
    /// requested from that institution.
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        study: &str,
        facts: &StudyFacts,
        rel: &Relationship,
        priority: Priority,
        clinical_info: &str,
        his_order_id: &str,
        source: &str,
        actor: &str,
        client: &str,
    ) -> Result<Option<ReadingRequestRow>, ReadingError> {
        let now = now_ms();
        let imaging: Vec<&String> = facts.modalities.iter().filter(|m| !matches!(m.as_str(), "SR" | "KO" | "PR" | "DOC")).collect();
        let mut row = ReadingRequestRow {
            request_id: format!("rr_{}", yunying_access::random_id(16)),
            study_instance_uid: study.to_string(),
            requesting: facts.issuer.clone(),
            reading: rel.reading.clone(),
            priority: priority.name().to_string(),
            priority_rank: priority.rank(),
            status: Status::New.name().to_string(),
            is_open: true,
            modality: imaging.first().map(|m| m.to_string()).unwrap_or_default(),
            body_part: facts.body_parts.first().cloned().unwrap_or_default(),
            clinical_info: clinical_info.trim().to_string(),
            his_order_id: his_order_id.trim().to_string(),
            source: source.to_string(),
            requested_by: actor.to_string(),
            created_ms: now,
            due_ms: now + i64::from(rel.turnaround_minutes.minutes(priority)) * 60_000,
            updated_ms: now,
            ..Default::default()
        };
        if !self.index.insert_reading_request(&row).await? {
            // Asked again after a cancellation (not by the routing rule:
            // what was withdrawn stays withdrawn until someone asks).
            if source == "rule" {
                return Ok(None);
            }
            let Some(id) = self.index.reopen_cancelled_reading_request(&row).await? else { return Ok(None) };
            row = self.index.reading_request(&id).await?.ok_or_else(|| ReadingError::not_found(&id))?;
        }
        // The study first, then the patient's priors (newest first).
        let mut studies = vec![study.to_string()];
        studies.extend(self.priors_of(study).await?);
        let grant = self
            .access
            .give_reading_grant(actor, &row.request_id, &rel.reading, &studies, self.config.grant_days * 24 * 60, client)
            .await?;
        self.index.set_reading_grant(&row.request_id, &grant.grant_id).await?;
        row.grant_id = grant.grant_id;
        let e = Event::new("reading-requested", actor, "ok")
            .institution(Some(&row.requesting))
            .studies(std::slice::from_ref(&row.study_instance_uid))
            .via(&format!("grant:{}", row.grant_id))
            .client(client)
            .fact("request_id", row.request_id.as_str())
            .fact("reading", row.reading.as_str())
            .fact("priority", row.priority.as_str())
            .fact("source", source);
        self.event(e).await;
        Ok(Some(row))
    }

    /// The patient's other studies at every institution (EMPI), newest
    /// first, at most `max_priors`.
    pub(crate) async fn priors_of(&self, study: &str) -> Result<Vec<String>, ReadingError> {
        let Some((issuer, patient_id)) = self.index.study_patient(study).await? else { return Ok(Vec::new()) };
        let (_, priors) = self.index.person_studies_of_identity(&issuer, &patient_id).await?;
        Ok(priors.into_iter().map(|p| p.study_instance_uid).filter(|s| s != study).take(self.config.max_priors as usize).collect())
    }

    /// The studies a request's grants open (the study and its priors):
    /// priors linked to the patient after the request was made are added
    /// by a further grant when a radiologist claims it.
    pub(crate) async fn granted_of(&self, r: &ReadingRequestRow) -> Result<Vec<String>, ReadingError> {
        let grantor = format!("reading:{}", r.request_id);
        Ok(self.index.studies_granted_by(&grantor, &r.reading, now_ms()).await?)
    }

    /// Open priors linked since the request was made.
    pub(crate) async fn refresh_priors(&self, r: &ReadingRequestRow, actor: &str, client: &str) -> Result<(), ReadingError> {
        let granted = self.granted_of(r).await?;
        let new: Vec<String> = self.priors_of(&r.study_instance_uid).await?.into_iter().filter(|s| !granted.contains(s)).collect();
        if !new.is_empty() && !granted.is_empty() {
            self.access.give_reading_grant(actor, &r.request_id, &r.reading, &new, self.config.grant_days * 24 * 60, client).await?;
        }
        Ok(())
    }

    pub(crate) async fn event(&self, e: Event) {
        let _ = self.access.audit().record(e).await;
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    yunying_access::now_ms()
}
