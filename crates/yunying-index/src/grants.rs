//! What the access layer keeps: grants of studies beyond a principal's own
//! institution, API keys (their digests, never the keys) and access events.
//!
//! The rules (who may grant what, which grant opens which study) live in
//! `yunying-access`; this module stores and finds rows.

use sqlx::Row;

use crate::{Index, Result};

/// Access to some studies, given to a person or to an institution, for a
/// while. Never deleted: revoking sets `revoked_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    /// `consent`, `referral`, `recognition`, `break-glass`.
    pub kind: String,
    /// Who gave it (a principal's id, `person:…`).
    pub grantor: String,
    /// `person` or `institution`.
    pub grantee_kind: String,
    /// A person's user id or an institution's code.
    pub grantee: String,
    /// Why (a break-glass reason, a referral's purpose).
    pub reason: String,
    pub created_ms: i64,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub revoked_ms: Option<i64>,
    pub revoked_by: Option<String>,
    /// The studies it opens (Study Instance UIDs).
    pub studies: Vec<String>,
}

/// A system's key: its digest and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeyRow {
    /// The public part of the key (`yk_<key_id>_…`), for lookup and display.
    pub key_id: String,
    /// Hex SHA-256 of the whole key.
    pub digest: String,
    pub name: String,
    /// The institution it speaks for; `None`: the whole platform.
    pub institution: Option<String>,
    /// Comma-separated scopes (`dicomweb:read,stow`).
    pub scopes: String,
    pub created_ms: i64,
    pub created_by: String,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// One security-relevant event as the access records show it: a reading
/// of an audit ledger entry (`yunying-audit` has the whole event).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessEvent {
    /// Order of recording (set by the index).
    pub seq: i64,
    pub at_ms: i64,
    /// Who (`person:…`, `key:…`, `ae:…`, `film:…`).
    pub principal: String,
    pub event: String,
    pub studies: Vec<String>,
    /// Through which grant (`grant:…`), or "" for the principal's own scope.
    pub via: String,
    /// Client address (or calling AE's address).
    pub client: String,
    /// `ok` or `denied`.
    pub result: String,
    /// No patient data: UIDs, ids, reasons typed by the actor.
    pub detail: String,
}

const GRANT_COLUMNS: &str =
    "grant_id, kind, grantor, grantee_kind, grantee, reason, created_ms, not_before_ms, not_after_ms, revoked_ms, revoked_by";

impl Index {
    /// Store a new grant and its studies in one transaction.
    pub async fn insert_grant(&self, g: &Grant) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO grants (grant_id, kind, grantor, grantee_kind, grantee, reason, created_ms, not_before_ms, not_after_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&g.grant_id)
        .bind(&g.kind)
        .bind(&g.grantor)
        .bind(&g.grantee_kind)
        .bind(&g.grantee)
        .bind(&g.reason)
        .bind(g.created_ms)
        .bind(g.not_before_ms)
        .bind(g.not_after_ms)
        .execute(&mut *tx)
        .await?;
        for study in &g.studies {
            sqlx::query("INSERT INTO grant_studies (grant_id, study_instance_uid) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&g.grant_id)
                .bind(study)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revoke a grant (from now on it opens nothing); false if it does not
    /// exist or was already revoked.
    pub async fn revoke_grant(&self, grant_id: &str, by: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE grants SET revoked_ms = $2, revoked_by = $3 WHERE grant_id = $1 AND revoked_ms IS NULL")
            .bind(grant_id)
            .bind(now_ms)
            .bind(by)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revoke every grant in force that `grantor` gave; the grants revoked
    /// (with their studies).
    pub async fn revoke_grants_by(&self, grantor: &str, by: &str, now_ms: i64) -> Result<Vec<Grant>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT grant_id FROM grants WHERE grantor = $1 AND revoked_ms IS NULL ORDER BY grant_id")
                .bind(grantor)
                .fetch_all(&self.pool)
                .await?;
        let mut revoked = Vec::with_capacity(ids.len());
        for id in ids {
            if self.revoke_grant(&id, by, now_ms).await?
                && let Some(grant) = self.grant(&id).await?
            {
                revoked.push(grant);
            }
        }
        Ok(revoked)
    }

    /// One grant with its studies.
    pub async fn grant(&self, grant_id: &str) -> Result<Option<Grant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1")))
            .bind(grant_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut grant = grant_of(&row)?;
        grant.studies = self.grant_studies(grant_id).await?;
        Ok(Some(grant))
    }

    async fn grant_studies(&self, grant_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT study_instance_uid FROM grant_studies WHERE grant_id = $1 ORDER BY study_instance_uid")
            .bind(grant_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Grants given to this person or to this institution (either may be
    /// `None`), newest first; with `active_at`, only those in force then.
    pub async fn grants_to(&self, person: Option<&str>, institution: Option<&str>, active_at: Option<i64>) -> Result<Vec<Grant>> {
        let (grantees, values) = grantee_condition("", person, institution);
        let mut sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE {grantees}");
        if active_at.is_some() {
            let at = values.len() + 1;
            sql.push_str(&format!(" AND revoked_ms IS NULL AND not_before_ms <= ${at} AND not_after_ms > ${at}"));
        }
        sql.push_str(" ORDER BY created_ms DESC, grant_id");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            q = q.bind(v);
        }
        if let Some(at) = active_at {
            q = q.bind(at);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut grants = Vec::with_capacity(rows.len());
        for row in rows {
            let mut g = grant_of(&row)?;
            g.studies = self.grant_studies(&g.grant_id).await?;
            grants.push(g);
        }
        Ok(grants)
    }

    /// The studies opened to an institution, in force at `at`, by the
    /// grants one grantor gave (a reading request's `reading:<id>`), in
    /// one query: a reading centre holds thousands of grants.
    pub async fn studies_granted_by(&self, grantor: &str, institution: &str, at: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT gs.study_instance_uid FROM grants g JOIN grant_studies gs ON gs.grant_id = g.grant_id
             WHERE g.grantor = $1 AND g.grantee_kind = 'institution' AND g.grantee = $2
               AND g.revoked_ms IS NULL AND g.not_before_ms <= $3 AND g.not_after_ms > $3
             ORDER BY gs.study_instance_uid",
        )
        .bind(grantor)
        .bind(institution)
        .bind(at)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The studies opened now to this person or institution by grants in
    /// force, with the grant that opens each (one per study; the one that
    /// lasts longest), at most `cap` of them.
    pub async fn granted_studies(
        &self,
        person: Option<&str>,
        institution: Option<&str>,
        now_ms: i64,
        cap: i64,
    ) -> Result<Vec<(String, String)>> {
        let (grantees, values) = grantee_condition("g.", person, institution);
        let n = values.len();
        let sql = format!(
            "SELECT gs.study_instance_uid, g.grant_id FROM grant_studies gs JOIN grants g ON g.grant_id = gs.grant_id
             WHERE {grantees} AND g.revoked_ms IS NULL AND g.not_before_ms <= ${} AND g.not_after_ms > ${}
             ORDER BY gs.study_instance_uid, g.not_after_ms DESC LIMIT ${}",
            n + 1,
            n + 1,
            n + 2
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for v in values {
            q = q.bind(v);
        }
        let rows: Vec<(String, String)> = q.bind(now_ms).bind(cap).fetch_all(&self.pool).await?;
        let mut out: Vec<(String, String)> = Vec::with_capacity(rows.len());
        for (study, grant) in rows {
            if out.last().is_none_or(|(s, _)| *s != study) {
                out.push((study, grant));
            }
        }
        Ok(out)
    }

    /// The grant in force at `now_ms` that opens one study to this person
    /// or institution (the one that lasts longest), if any: for a
    /// principal whose grants are too many to carry as a list.
    pub async fn grant_opening(&self, person: Option<&str>, institution: Option<&str>, study: &str, now_ms: i64) -> Result<Option<String>> {
        let (grantees, values) = grantee_condition("g.", person, institution);
        let n = values.len();
        let sql = format!(
            "SELECT g.grant_id FROM grant_studies gs JOIN grants g ON g.grant_id = gs.grant_id
             WHERE gs.study_instance_uid = ${} AND {grantees} AND g.revoked_ms IS NULL AND g.not_before_ms <= ${} AND g.not_after_ms > ${}
             ORDER BY g.not_after_ms DESC, g.grant_id LIMIT 1",
            n + 1,
            n + 2,
            n + 2
        );
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for v in values {
            q = q.bind(v);
        }
        Ok(q.bind(study).bind(now_ms).fetch_optional(&self.pool).await?)
    }

    /// The issuer (institution) of a study's patient; `None`: no such study.
    pub async fn study_issuer(&self, study_uid: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT p.issuer FROM studies st JOIN patients p ON p.id = st.patient_pk WHERE st.study_instance_uid = $1")
            .bind(study_uid)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Store a new API key (its digest).
    pub async fn insert_api_key(&self, k: &ApiKeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, digest, name, institution, scopes, created_ms, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.key_id)
        .bind(&k.digest)
        .bind(&k.name)
        .bind(&k.institution)
        .bind(&k.scopes)
        .bind(k.created_ms)
        .bind(&k.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One API key by its public id.
    pub async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRow>> {
        let row = sqlx::query(
            "SELECT key_id, digest, name, institution, scopes, created_ms, created_by, last_used_ms, revoked_ms FROM api_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_of).transpose()
    }

    /// Every API key (digests included; callers show only the public parts).
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows = sqlx::query(
            "SELECT key_id, digest, name, institution, scopes, created_ms, created_by, last_used_ms, revoked_ms FROM api_keys ORDER BY created_ms, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_of).collect()
    }

    /// Note a key's use (callers do it at most once a minute per key).
    pub async fn touch_api_key(&self, key_id: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_ms = $2 WHERE key_id = $1").bind(key_id).bind(now_ms).execute(&self.pool).await?;
        Ok(())
    }

    /// Revoke a key; false if there is no such key or it was revoked.
    pub async fn revoke_api_key(&self, key_id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_ms = $2 WHERE key_id = $1 AND revoked_ms IS NULL")
            .bind(key_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Events of the audit ledger with `seq` (leaf index + 1) above
    /// `after`, oldest first, at most `limit`, in the access records'
    /// shape. Events still waiting for the sequencer are not among them.
    pub async fn access_events(&self, after: i64, limit: i64) -> Result<Vec<AccessEvent>> {
        let entries = self.ledger_entries(after.max(0), limit).await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                let text = |name: &str| body[name].as_str().unwrap_or_default().to_string();
                AccessEvent {
                    seq: e.leaf_index + 1,
                    at_ms: e.at_ms,
                    studies: body["studies"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                        .unwrap_or_default(),
                    via: text("via"),
                    client: text("client"),
                    detail: text("detail"),
                    principal: e.principal,
                    event: e.event,
                    result: e.result,
                }
            })
            .collect())
    }

    /// Number of events waiting for the sequencer.
    pub async fn audit_pending_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending").fetch_one(&self.pool).await?)
    }
}

/// The condition "given to this person or this institution" (`prefix`: the
/// grants table's alias) and its values; nothing when neither is known.
fn grantee_condition(prefix: &str, person: Option<&str>, institution: Option<&str>) -> (String, Vec<String>) {
    let mut either = Vec::new();
    let mut values = Vec::new();
    for (kind, value) in [("person", person), ("institution", institution)] {
        if let Some(v) = value {
            values.push(v.to_string());
            either.push(format!("({prefix}grantee_kind = '{kind}' AND {prefix}grantee = ${})", values.len()));
        }
    }
    let condition = if either.is_empty() { "1 = 0".to_string() } else { format!("({})", either.join(" OR ")) };
    (condition, values)
}

fn grant_of(r: &sqlx::any::AnyRow) -> Result<Grant> {
    Ok(Grant {
        grant_id: r.try_get(0)?,
        kind: r.try_get(1)?,
        grantor: r.try_get(2)?,
        grantee_kind: r.try_get(3)?,
        grantee: r.try_get(4)?,
        reason: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        not_before_ms: r.try_get(7)?,
        not_after_ms: r.try_get(8)?,
        revoked_ms: r.try_get(9)?,
        revoked_by: r.try_get(10)?,
        studies: Vec::new(),
    })
}

fn key_of(r: &sqlx::any::AnyRow) -> Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        key_id: r.try_get(0)?,
        digest: r.try_get(1)?,
        name: r.try_get(2)?,
        institution: r.try_get(3)?,
        scopes: r.try_get(4)?,
        created_ms: r.try_get(5)?,
        created_by: r.try_get(6)?,
        last_used_ms: r.try_get(7)?,
        revoked_ms: r.try_get(8)?,
    })
}
