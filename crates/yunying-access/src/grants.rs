//! Grants: access to studies beyond a principal's own institution.
//!
//! A grant records who gave it, to whom (a person or an institution),
//! which studies, why, and from when to when. Kinds: a patient's consent
//! (a film share), a referral (a doctor sends studies to a colleague or
//! another institution), a recognition request (mutual recognition of
//! exams asks for a patient's earlier studies), and break-glass (a person
//! reaches studies outside scope in an emergency, with a typed reason, for
//! at most `access.break_glass_max_minutes`). Grants are never deleted;
//! revoking one ends it on the next request.

use yunying_index::Grant;

use crate::{Access, Action, Denied, Principal, Reach, now_ms, random_id};

/// The kind of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// The patient shares their studies (a film share, a consent).
    Consent,
    /// A doctor refers studies to a colleague or an institution.
    Referral,
    /// A recognition request reaches a patient's earlier studies.
    Recognition,
    /// Emergency access by the person themselves, with a reason.
    BreakGlass,
    /// A reading request opens a study (and the patient's priors) to the
    /// institution asked to read it.
    Reading,
}

impl GrantKind {
    pub fn name(self) -> &'static str {
        match self {
            GrantKind::Consent => "consent",
            GrantKind::Referral => "referral",
            GrantKind::Recognition => "recognition",
            GrantKind::BreakGlass => "break-glass",
            GrantKind::Reading => "reading",
        }
    }

    pub fn parse(s: &str) -> Option<GrantKind> {
        [GrantKind::Consent, GrantKind::Referral, GrantKind::Recognition, GrantKind::BreakGlass, GrantKind::Reading]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// Typed reasons for break-glass access.
pub const BREAK_GLASS_REASONS: [&str; 4] = ["emergency", "continuity-of-care", "patient-request", "other"];

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    Person(String),
    Institution(String),
}

/// A grant someone asks to give.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub kind: GrantKind,
    pub grantee: Grantee,
    pub studies: Vec<String>,
    pub reason: String,
    /// How long it lasts, from now.
    pub minutes: u32,
}

/// Longest reason a grant may carry (it is stored with the grant and its
/// events).
pub const MAX_REASON_CHARS: usize = 1000;

/// Most studies one grant may name.
pub const MAX_GRANT_STUDIES: usize = 1000;

/// A grant of `studies` to `grantee`, in force from now for `minutes`.
fn new_grant(kind: GrantKind, grantor: String, grantee: &Grantee, reason: String, studies: &[String], minutes: u32) -> Grant {
    let now = now_ms();
    let (grantee_kind, grantee) = match grantee {
        Grantee::Person(id) => ("person", id.clone()),
        Grantee::Institution(code) => ("institution", code.clone()),
    };
    Grant {
        grant_id: format!("g{}", random_id(12)),
        kind: kind.name().to_string(),
        grantor,
        grantee_kind: grantee_kind.to_string(),
        grantee,
        reason,
        created_ms: now,
        not_before_ms: now,
        not_after_ms: now + i64::from(minutes) * 60_000,
        revoked_ms: None,
        revoked_by: None,
        studies: studies.to_vec(),
    }
}

/// The grant in force that opens `study` to this person or institution.
pub(crate) async fn opening(
    access: &Access,
    person: Option<&str>,
    institution: Option<&str>,
    study: &str,
) -> Result<Option<String>, Denied> {
    // Grants to most principals are few: the list of what they open is
    // remembered a moment and serves every study. A reading centre holds
    // one grant per request: past the list's cap, the study is looked up.
    let granted = access.granted(person, institution).await?;
    let full = granted.len() as i64 >= crate::MAX_GRANTED_STUDIES;
    if let Some((_, g)) = granted.into_iter().find(|(s, _)| s == study) {
        return Ok(Some(g));
    }
    if full {
        return Ok(access.index.grant_opening(person, institution, study, now_ms()).await?);
    }
    Ok(None)
}

impl Access {
    /// Give a grant. Referral and consent grants need the `Grant` action
    /// and may name only studies the giver reaches itself (no one widens
    /// another's access beyond their own); break-glass needs `BreakGlass`,
    /// is for the person themselves, a typed reason and a time limit, and
    /// is recorded as a security alert.
    pub async fn give_grant(&self, giver: &Principal, new: NewGrant, client: &str) -> Result<Grant, Denied> {
        if new.studies.is_empty() || new.studies.len() > MAX_GRANT_STUDIES {
            return Err(Denied::Invalid(format!("a grant names 1 to {MAX_GRANT_STUDIES} studies")));
        }
        if new.minutes == 0 {
            return Err(Denied::Invalid("a grant lasts at least a minute".into()));
        }
        if new.reason.chars().count() > MAX_REASON_CHARS {
            return Err(Denied::Invalid(format!("a grant's reason is at most {MAX_REASON_CHARS} characters")));
        }
        let (Grantee::Person(who) | Grantee::Institution(who)) = &new.grantee;
        if who.trim().is_empty() || who.len() > 128 {
            return Err(Denied::Invalid("a grant names its grantee (1 to 128 characters)".into()));
        }
        match new.kind {
            GrantKind::BreakGlass => {
                self.require(giver, Action::BreakGlass)?;
                let Some(me) = giver.user_id() else {
                    return Err(Denied::Forbidden("break-glass is for signed-in people".into()));
                };
                if new.grantee != Grantee::Person(me.to_string()) {
                    return Err(Denied::Invalid("break-glass access is for oneself".into()));
                }
                let code = new.reason.split(':').next().unwrap_or("").trim();
                if !BREAK_GLASS_REASONS.contains(&code) || new.reason.trim().len() < code.len() + 4 {
                    return Err(Denied::Invalid(format!(
                        "break-glass needs a reason: one of {} followed by ': ' and a description",
                        BREAK_GLASS_REASONS.join(", ")
                    )));
                }
                if new.minutes > self.config().break_glass_max_minutes {
                    return Err(Denied::Invalid(format!("break-glass lasts at most {} minutes", self.config().break_glass_max_minutes)));
                }
                for study in &new.studies {
                    if self.index().study_issuer(study).await?.is_none() {
                        return Err(Denied::NotFound(format!("no study {study}")));
                    }
                }
            }
            GrantKind::Reading => {
                return Err(Denied::Invalid("a reading grant comes with a reading request".into()));
            }
            GrantKind::Consent | GrantKind::Referral | GrantKind::Recognition => {
                self.require(giver, Action::Grant)?;
                if new.minutes > self.config().grant_max_days * 24 * 60 {
                    return Err(Denied::Invalid(format!("a grant lasts at most {} days", self.config().grant_max_days)));
                }
                for study in &new.studies {
                    // Own studies only: a grant received is not passed on.
                    match self.check_study(giver, Action::View, study).await? {
                        crate::Reached::Own => {}
                        crate::Reached::Grant(_) => {
                            return Err(Denied::Forbidden(format!("study {study} is reached through a grant: it cannot be passed on")));
                        }
                    }
                }
            }
        }
        if matches!(giver.reach, Reach::Studies(_)) {
            return Err(Denied::Forbidden("a film session gives no grants".into()));
        }
        let grant = new_grant(new.kind, giver.id.clone(), &new.grantee, new.reason.trim().to_string(), &new.studies, new.minutes);
        self.index().insert_grant(&grant).await?;
        let event = if new.kind == GrantKind::BreakGlass { "break-glass" } else { "grant-given" };
        if new.kind == GrantKind::BreakGlass {
            tracing::warn!(principal = %giver.id, grant = %grant.grant_id, studies = grant.studies.len(), "break-glass access opened");
        }
        let detail = format!("{} to {} {} until {}", grant.kind, grant.grantee_kind, grant.grantee, grant.not_after_ms);
        self.record(&giver.id, event, &grant.studies, &format!("grant:{}", grant.grant_id), client, "ok", &detail).await;
        Ok(grant)
    }

    /// The grant of a recognition request: the platform opens `studies`
    /// (the candidates of `order_id`, which the recognition rules checked
    /// belong to an order of the doctor's institution) to the signed-in
    /// doctor only, for `minutes`. Its giver is `recognition:ORDER`. Asked
    /// again while a grant of the same order to the same doctor covering
    /// the same studies is in force, that grant is the answer.
    pub async fn give_recognition_grant(
        &self,
        doctor: &Principal,
        order_id: &str,
        studies: &[String],
        minutes: u32,
        client: &str,
    ) -> Result<Grant, Denied> {
        let Some(me) = doctor.user_id() else {
            return Err(Denied::Forbidden("a recognition request is a doctor's: sign in".into()));
        };
        self.require(doctor, Action::Recognition)?;
        if studies.is_empty() || studies.len() > MAX_GRANT_STUDIES || minutes == 0 {
            return Err(Denied::Invalid(format!(
                "a recognition request names 1 to {MAX_GRANT_STUDIES} studies and lasts a minute or more"
            )));
        }
        let grantor = format!("recognition:{order_id}");
        let now = now_ms();
        let in_force = self.index().grants_to(Some(me), None, Some(now)).await?;
        if let Some(g) = in_force.into_iter().find(|g| g.grantor == grantor && studies.iter().all(|s| g.studies.contains(s))) {
            return Ok(g);
        }
        let grant = new_grant(
            GrantKind::Recognition,
            grantor,
            &Grantee::Person(me.to_string()),
            format!("recognition order {order_id}"),
            studies,
            minutes,
        );
        self.index().insert_grant(&grant).await?;
        let detail = format!("recognition to person {me} until {}", grant.not_after_ms);
        self.record(&doctor.id, "grant-given", &grant.studies, &format!("grant:{}", grant.grant_id), client, "ok", &detail).await;
        Ok(grant)
    }

    /// The grant of a reading request: the platform opens `studies` (the
    /// requested study and the patient's priors the reading rules chose,
    /// or priors linked later) to the reading institution, for `minutes`. Its giver is
    /// `reading:REQUEST`; `actor` (who asked, or `rule:reading` for a
    /// request made by a routing rule) is recorded. The reading rules have
    /// checked that the requested study belongs to the requesting
    /// institution; nothing else may give this kind of grant.
    pub async fn give_reading_grant(
        &self,
        actor: &str,
        request_id: &str,
        reading_institution: &str,
        studies: &[String],
        minutes: u32,
        client: &str,
    ) -> Result<Grant, Denied> {
        if studies.is_empty() || studies.len() > MAX_GRANT_STUDIES || minutes == 0 || reading_institution.is_empty() {
            return Err(Denied::Invalid(format!("a reading request opens 1 to {MAX_GRANT_STUDIES} studies to an institution")));
        }
        let grantee = Grantee::Institution(reading_institution.to_string());
        let grant = new_grant(
            GrantKind::Reading,
            format!("reading:{request_id}"),
            &grantee,
            format!("reading request {request_id}"),
            studies,
            minutes,
        );
        self.index().insert_grant(&grant).await?;
        let detail = format!("reading to institution {reading_institution} until {}", grant.not_after_ms);
        self.record(actor, "grant-given", &grant.studies, &format!("grant:{}", grant.grant_id), client, "ok", &detail).await;
        Ok(grant)
    }

    /// Close what a withdrawn reading request opened: every grant in force
    /// it gave (the study's and the priors' added at claim), recorded, and
    /// forgotten by this node at once. The reading rules have checked that
    /// `by` may withdraw the request.
    pub async fn revoke_reading_grants(&self, by: &str, request_id: &str, client: &str) -> Result<usize, Denied> {
        let revoked = self.index().revoke_grants_by(&format!("reading:{request_id}"), by, now_ms()).await?;
        for grant in &revoked {
            self.record(
                by,
                "grant-revoked",
                &grant.studies,
                &format!("grant:{}", grant.grant_id),
                client,
                "ok",
                "reading request withdrawn",
            )
            .await;
        }
        Ok(revoked.len())
    }

    /// Revoke a grant: its giver, or a security administrator.
    pub async fn revoke_grant(&self, by: &Principal, grant_id: &str, client: &str) -> Result<(), Denied> {
        let grant = self.index().grant(grant_id).await?.ok_or_else(|| Denied::NotFound(format!("no grant {grant_id}")))?;
        if grant.grantor != by.id && !by.may(Action::AssignRoles) {
            return Err(Denied::Forbidden("only who gave a grant, or a security administrator, may revoke it".into()));
        }
        if !self.index().revoke_grant(grant_id, &by.id, now_ms()).await? {
            return Err(Denied::Invalid("this grant was already revoked".into()));
        }
        self.record(&by.id, "grant-revoked", &grant.studies, &format!("grant:{grant_id}"), client, "ok", "").await;
        Ok(())
    }

    /// Grants given to this principal (or its institution), in force now
    /// or not: for the viewer's banner and the person's own list.
    pub async fn grants_of(&self, principal: &Principal) -> Result<Vec<Grant>, Denied> {
        Ok(self.index().grants_to(principal.user_id(), principal.institution.as_deref(), None).await?)
    }
}
