//! The linker: one node at a time (lease `empi-linker`) turns the
//! archive's new patients into identities and decides the person of every
//! unlinked identity with the matcher, which it holds in memory (loaded
//! from the index on first use, then kept in step with the moves others
//! make, read from `empi_history`).

use std::collections::HashMap;

use serde_json::json;
use yunying_empi::{Decision, IdentityId, MatchConfig, Matcher, PersonId};
use yunying_index::Index;

use crate::input::identity_of;
use crate::{Persons, PersonsError, new_op, now_ms};

/// Identities (and patients) taken per round.
pub const ROUND: i64 = 500;

/// How long a linker's lease lasts without renewal.
const LEASE_MS: i64 = 60_000;
/// The cursor over the archive's patients.
const PATIENTS_CURSOR: &str = "empi-archive-patients";
/// How often the cursor goes back to the first patient.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

pub(crate) struct Linker {
    config: MatchConfig,
    state: Option<State>,
    /// When this node last sent the cursor back to the start.
    swept: Option<std::time::Instant>,
}

struct State {
    matcher: Matcher,
    identities: HashMap<i64, IdentityId>,
    /// Matcher person → index person.
    persons: HashMap<PersonId, i64>,
    /// Index person → matcher person.
    back: HashMap<i64, PersonId>,
    /// The last `empi_history` row applied.
    history: i64,
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Identities made for patients of the archive.
    pub from_archive: usize,
    pub deterministic: usize,
    pub auto: usize,
    pub review: usize,
    pub new: usize,
}

impl Round {
    fn linked(&self) -> usize {
        self.deterministic + self.auto + self.review + self.new
    }
}

impl Linker {
    pub(crate) fn new(config: MatchConfig) -> Result<Linker, yunying_empi::MatchError> {
        Matcher::new(config.clone())?;
        Ok(Linker { config, state: None, swept: None })
    }
}

impl State {
    async fn load(index: &Index, config: &MatchConfig) -> Result<State, PersonsError> {
        let mut state = State {
            matcher: Matcher::new(config.clone()).map_err(|e| PersonsError::Invalid(e.to_string()))?,
            identities: HashMap::new(),
            persons: HashMap::new(),
            back: HashMap::new(),
            history: 0,
        };
        // Every move so far is reflected in the rows loaded below; start
        // following the history from its end.
        let mut last_move = 0;
        loop {
            let page = index.empi_history_page(last_move, 10_000).await?;
            match page.last() {
                Some(h) => last_move = h.id,
                None => break,
            }
        }
        state.history = last_move;
        let mut after = 0;
        loop {
            let page = index.empi_identities_page(after, 1_000, false).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.id;
            for (row, digests) in page {
                if let Some(person) = row.person {
                    state.insert(row.id, &identity_of(&row, &digests), person);
                }
            }
        }
        Ok(state)
    }

    /// The matcher's person for an index person (a new one if unseen).
    fn person(&mut self, person: i64) -> PersonId {
        if let Some(p) = self.back.get(&person) {
            return *p;
        }
        let p = self.matcher.new_person();
        self.back.insert(person, p);
        self.persons.insert(p, person);
        p
    }

    fn insert(&mut self, id: i64, identity: &yunying_empi::Identity, person: i64) {
        let p = self.person(person);
        match self.matcher.insert(identity, Some(p)) {
            Ok((mid, _)) => {
                self.identities.insert(id, mid);
            }
            Err(e) => tracing::debug!(error = %e, "an identity the matcher cannot hold is linked but not matched against"),
        }
    }

    /// Apply the moves made since the last look (merges, unlinks, links by
    /// explicit operations).
    async fn follow(&mut self, index: &Index) -> Result<(), PersonsError> {
        loop {
            let page = index.empi_history_page(self.history, 1_000).await?;
            let Some(last) = page.last() else { return Ok(()) };
            self.history = last.id;
            for h in page {
                let Some(to) = h.to_person else { continue };
                if h.action == "update" {
                    // A registration update: matched by its new fields.
                    if let Some(mid) = self.identities.get(&h.identity).copied()
                        && let Some((row, digests)) = index.empi_identities_page(h.identity - 1, 1, false).await?.into_iter().next()
                        && row.id == h.identity
                        && let Err(e) = self.matcher.update(mid, &identity_of(&row, &digests))
                    {
                        tracing::debug!(error = %e, "an updated identity the matcher cannot hold keeps its old fields there");
                    }
                    continue;
                }
                match self.identities.get(&h.identity).copied() {
                    Some(mid) => {
                        let p = self.person(to);
                        let _ = self.matcher.assign(mid, p);
                    }
                    None => {
                        if let Some((row, digests)) = index.empi_identities_page(h.identity - 1, 1, false).await?.into_iter().next()
                            && row.id == h.identity
                        {
                            self.insert(row.id, &identity_of(&row, &digests), to);
                        }
                    }
                }
            }
        }
    }
}

impl Persons {
    /// One round of linking, if this node holds (or can take) the linker's
    /// lease as `holder`: new patients of the archive become identities,
    /// and unlinked identities are decided. Returns what was done (`None`
    /// when another node links).
    pub async fn link_pending(&self, holder: &str) -> Result<Option<Round>, PersonsError> {
        let index = &self.0.index;
        let now = now_ms();
        if !index.try_lease("empi-linker", holder, now, now + LEASE_MS).await? {
            return Ok(None);
        }
        let mut round = Round::default();
        // New patients of the archive, by a cursor over the patients table:
        // windows read until some are found or 100 windows are read. At the
        // end, once an hour, the cursor goes back to the start (a patient
        // whose row committed after a later one's is found then).
        let mut after = index.cursor(PATIENTS_CURSOR).await?;
        for _ in 0..100 {
            let (found, last) = index.empi_patients_without_identity(after, ROUND).await?;
            for (issuer, patient_id, name, birth, sex, metadata) in found {
                let ids = self.0.config.ids_of(&issuer);
                let input = crate::dicom::input_of_patient((&issuer, &patient_id, &name, &birth, &sex), &metadata, &ids);
                self.put_identity(&input, "dicom").await?;
                round.from_archive += 1;
            }
            if last == after {
                let mut linker = self.0.linker.lock().await;
                if linker.swept.is_none_or(|t| t.elapsed() > SWEEP_EVERY) {
                    linker.swept = Some(std::time::Instant::now());
                    after = 0;
                }
                break;
            }
            after = last;
            if round.from_archive > 0 {
                break;
            }
        }
        index.set_cursor(PATIENTS_CURSOR, after).await?;
        let mut linker = self.0.linker.lock().await;
        let config = linker.config.clone();
        if linker.state.is_none() {
            linker.state = Some(State::load(index, &config).await?);
        }
        let state = linker.state.as_mut().expect("loaded above");
        state.follow(index).await?;
        for (row, digests) in index.empi_identities_page(0, ROUND, true).await? {
            let identity = identity_of(&row, &digests);
            let outcome = match state.matcher.add(&identity) {
                Ok(o) => o,
                Err(_) => {
                    // Not matchable (bounds): a person of its own.
                    let person = index.empi_new_person(now_ms()).await?;
                    link(index, row.id, person, "new").await?;
                    round.new += 1;
                    continue;
                }
            };
            let person = match state.persons.get(&outcome.person) {
                Some(p) => *p,
                None => {
                    let p = index.empi_new_person(now_ms()).await?;
                    state.persons.insert(outcome.person, p);
                    state.back.insert(p, outcome.person);
                    p
                }
            };
            state.identities.insert(row.id, outcome.identity);
            let decision = match &outcome.decision {
                Decision::Deterministic { kind, .. } => {
                    round.deterministic += 1;
                    format!("{kind:?}").to_lowercase()
                }
                Decision::AutoLink(c) => {
                    round.auto += 1;
                    format!("score {:.1}", c.score)
                }
                Decision::Review { reason, candidates } => {
                    round.review += 1;
                    let listed: Vec<serde_json::Value> = candidates
                        .iter()
                        .map(|c| {
                            json!({
                                "person": state.persons.get(&c.person),
                                "score": (c.score * 10.0).round() / 10.0,
                                "fields": c.explanation.iter().map(|f| json!({"field": format!("{:?}", f.field), "level": format!("{:?}", f.level), "bits": (f.bits * 10.0).round() / 10.0})).collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    index.empi_add_review(row.id, &format!("{reason:?}"), &serde_json::Value::Array(listed).to_string(), now_ms()).await?;
                    "review".to_string()
                }
                Decision::NewPerson { .. } => {
                    round.new += 1;
                    "new".to_string()
                }
            };
            link(index, row.id, person, &decision).await?;
        }
        drop(linker);
        if round.linked() > 0 || round.from_archive > 0 {
            let e = yunying_audit::Event::new("patients-linked", "system", "ok")
                .fact("from_archive", round.from_archive)
                .fact("deterministic", round.deterministic)
                .fact("auto", round.auto)
                .fact("review", round.review)
                .fact("new", round.new);
            let _ = self.0.audit.record(e).await;
        }
        Ok(Some(round))
    }

    /// Link until `stop`: every `[empi] link_every_secs`, and at once when
    /// woken (a new identity). `holder` names this node in the lease.
    pub async fn run(self, holder: String, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let every = std::time::Duration::from_secs(self.0.config.link_every_secs.max(1));
        loop {
            loop {
                match self.link_pending(&holder).await {
                    Ok(Some(round)) if round.linked() > 0 || round.from_archive > 0 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "EMPI linking failed; trying again later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = self.0.wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
        let _ = self.0.index.release_lease("empi-linker", &holder).await;
    }
}

/// Link an unlinked identity; one linked by someone else meanwhile is left.
async fn link(index: &Index, identity: i64, person: i64, decision: &str) -> Result<(), PersonsError> {
    match index.empi_link(&new_op(), identity, person, decision, now_ms()).await {
        Ok(()) | Err(yunying_index::IndexError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
