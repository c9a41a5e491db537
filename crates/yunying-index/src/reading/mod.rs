//! Rows of remote reading (issue 27): which institution reads for which
//! (relationships and report templates, stored as JSON the reading crate
//! defines), reading requests and their worklist, report versions, and the
//! outbox of deliveries back to the requesting institution.
//!
//! The rules (who may claim, which transition is allowed, what a report
//! must hold) live in `yunying-reading`; this module stores and finds rows.
//! A state change is a conditional `UPDATE` (the expected state in the
//! `WHERE`), so two radiologists or two nodes never both win.

use sqlx::{AssertSqlSafe, Row};

use crate::{Index, Result};

mod deliveries;
mod reports;
mod stats;
pub use deliveries::DeliveryRow;
pub use reports::ReportRow;
pub use stats::{MAX_STATS_ROWS, ReadingStatsQuery, ReadingStatsRow};

/// Migration 30.
pub(crate) const READING: &str = r#"
CREATE TABLE reading_relationships (
    requesting TEXT NOT NULL,
    reading TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ms {bigint} NOT NULL,
    PRIMARY KEY (requesting, reading)
);
CREATE TABLE reading_templates (
    template_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_ms {bigint} NOT NULL
);
CREATE TABLE reading_requests (
    request_id TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    requesting TEXT NOT NULL,
    reading TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_rank {bigint} NOT NULL,
    status TEXT NOT NULL,
    is_open {bigint} NOT NULL,
    modality TEXT NOT NULL,
    body_part TEXT NOT NULL,
    clinical_info TEXT NOT NULL,
    his_order_id TEXT NOT NULL,
    source TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    claimed_by TEXT NOT NULL DEFAULT '',
    claimed_ms {bigint},
    created_ms {bigint} NOT NULL,
    due_ms {bigint} NOT NULL,
    signed_ms {bigint},
    returned_ms {bigint},
    signer TEXT NOT NULL DEFAULT '',
    report_version {bigint} NOT NULL DEFAULT 0,
    critical {bigint} NOT NULL DEFAULT 0,
    critical_ms {bigint},
    critical_notified_ms {bigint},
    updated_ms {bigint} NOT NULL,
    UNIQUE (study_instance_uid, reading)
);
CREATE INDEX reading_requests_worklist ON reading_requests (reading, is_open, priority_rank, created_ms);
CREATE INDEX reading_requests_requesting ON reading_requests (requesting, created_ms);
CREATE TABLE reading_reports (
    request_id TEXT NOT NULL REFERENCES reading_requests (request_id),
    version {bigint} NOT NULL,
    is_current {bigint} NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    author_name TEXT NOT NULL,
    verifier TEXT NOT NULL DEFAULT '',
    verifier_name TEXT NOT NULL DEFAULT '',
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL,
    signed_ms {bigint},
    content_digest TEXT NOT NULL DEFAULT '',
    signature TEXT NOT NULL DEFAULT '',
    objects TEXT NOT NULL DEFAULT '',
    amend_reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, version)
);
CREATE TABLE reading_deliveries (
    id {pk},
    request_id TEXT NOT NULL REFERENCES reading_requests (request_id),
    version {bigint} NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    next_ms {bigint} NOT NULL,
    lease_until_ms {bigint} NOT NULL DEFAULT 0,
    attempts {bigint} NOT NULL DEFAULT 0,
    done_ms {bigint},
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reading_deliveries_request ON reading_deliveries (request_id, version);
CREATE INDEX reading_deliveries_due ON reading_deliveries (next_ms) WHERE done_ms IS NULL
"#;

/// A reading request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadingRequestRow {
    /// `rr_` and 32 hex digits.
    pub request_id: String,
    pub study_instance_uid: String,
    /// The institution that asked (the study's issuer).
    pub requesting: String,
    /// The institution asked to read.
    pub reading: String,
    /// `routine`, `urgent`, `emergency`.
    pub priority: String,
    /// 0 emergency, 1 urgent, 2 routine: the worklist's order.
    pub priority_rank: i64,
    /// `new`, `claimed`, `draft`, `awaiting-review`, `signed`, `returned`, `cancelled`.
    pub status: String,
    /// Until signed or cancelled.
    pub is_open: bool,
    pub modality: String,
    pub body_part: String,
    pub clinical_info: String,
    /// The HIS's order number ("" when none).
    pub his_order_id: String,
    /// `rule` or `api`.
    pub source: String,
    /// Who asked (a principal id, or `rule:reading`).
    pub requested_by: String,
    /// The grant that opens the study to the reading institution.
    pub grant_id: String,
    /// The person who holds it (`person:…`, "" when nobody).
    pub claimed_by: String,
    pub claimed_ms: Option<i64>,
    pub created_ms: i64,
    /// When the turnaround target is reached.
    pub due_ms: i64,
    pub signed_ms: Option<i64>,
    pub returned_ms: Option<i64>,
    /// Who signed the report in force.
    pub signer: String,
    /// The report version in force (0: none signed).
    pub report_version: i64,
    pub critical: bool,
    /// When a critical finding was first flagged.
    pub critical_ms: Option<i64>,
    /// When its notification was delivered.
    pub critical_notified_ms: Option<i64>,
    pub updated_ms: i64,
}

/// A worklist line: the request and what the index holds about its study.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorklistRow {
    pub request: ReadingRequestRow,
    pub patient_name: String,
    pub patient_id: String,
    pub patient_sex: String,
    pub patient_birth_date: String,
    pub study_date: String,
    pub study_description: String,
    pub accession_number: String,
    pub num_instances: i64,
    /// The display name (else the user name) of whoever holds it ("" when
    /// nobody).
    pub claimed_by_name: String,
}

/// Which requests a worklist shows.
#[derive(Debug, Clone, Default)]
pub struct WorklistQuery {
    /// Requests sent to this institution, or (`by_requesting`) sent by it.
    pub institution: String,
    pub by_requesting: bool,
    /// Statuses to show (empty: every open one).
    pub statuses: Vec<String>,
    pub requesting: Option<String>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub priority: Option<String>,
    /// Only those claimed by this person.
    pub claimed_by: Option<String>,
    /// Only this request (a request's own row, with its patient).
    pub request_id: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// How a conditional update of a request may find it.
#[derive(Debug, Clone, Default)]
pub struct Expect<'a> {
    /// One of these statuses.
    pub statuses: &'a [&'a str],
    /// Claimed by this person (None: anyone or nobody).
    pub claimed_by: Option<&'a str>,
}

/// What a conditional update sets (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct RequestUpdate {
    pub status: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_ms: Option<Option<i64>>,
    pub signed_ms: Option<i64>,
    pub returned_ms: Option<i64>,
    pub signer: Option<String>,
    pub report_version: Option<i64>,
    pub critical: Option<bool>,
    pub critical_ms: Option<i64>,
    pub critical_notified_ms: Option<i64>,
    pub priority: Option<(String, i64, i64)>,
}

const REQUEST_COLUMNS: &str = "request_id, study_instance_uid, requesting, reading, priority, priority_rank, status, is_open, modality, \
     body_part, clinical_info, his_order_id, source, requested_by, grant_id, claimed_by, claimed_ms, created_ms, due_ms, signed_ms, \
     returned_ms, signer, report_version, critical, critical_ms, critical_notified_ms, updated_ms";

fn request_from(row: &sqlx::any::AnyRow, at: usize) -> std::result::Result<ReadingRequestRow, sqlx::Error> {
    Ok(ReadingRequestRow {
        request_id: row.try_get(at)?,
        study_instance_uid: row.try_get(at + 1)?,
        requesting: row.try_get(at + 2)?,
        reading: row.try_get(at + 3)?,
        priority: row.try_get(at + 4)?,
        priority_rank: row.try_get(at + 5)?,
        status: row.try_get(at + 6)?,
        is_open: row.try_get::<i64, _>(at + 7)? != 0,
        modality: row.try_get(at + 8)?,
        body_part: row.try_get(at + 9)?,
        clinical_info: row.try_get(at + 10)?,
        his_order_id: row.try_get(at + 11)?,
        source: row.try_get(at + 12)?,
        requested_by: row.try_get(at + 13)?,
        grant_id: row.try_get(at + 14)?,
        claimed_by: row.try_get(at + 15)?,
        claimed_ms: row.try_get(at + 16)?,
        created_ms: row.try_get(at + 17)?,
        due_ms: row.try_get(at + 18)?,
        signed_ms: row.try_get(at + 19)?,
        returned_ms: row.try_get(at + 20)?,
        signer: row.try_get(at + 21)?,
        report_version: row.try_get(at + 22)?,
        critical: row.try_get::<i64, _>(at + 23)? != 0,
        critical_ms: row.try_get(at + 24)?,
        critical_notified_ms: row.try_get(at + 25)?,
        updated_ms: row.try_get(at + 26)?,
    })
}

/// Whether a status keeps a request on the worklist.
fn is_open(status: &str) -> bool {
    !matches!(status, "signed" | "returned" | "cancelled")
}

impl Index {
    /// Replace (or add) the relationship `requesting` → `reading` (a JSON body).
    pub async fn put_reading_relationship(&self, requesting: &str, reading: &str, body: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO reading_relationships (requesting, reading, body, updated_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (requesting, reading) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        )
        .bind(requesting)
        .bind(reading)
        .bind(body)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove a relationship; whether there was one.
    pub async fn remove_reading_relationship(&self, requesting: &str, reading: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM reading_relationships WHERE requesting = $1 AND reading = $2")
            .bind(requesting)
            .bind(reading)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every relationship: (requesting, reading, body).
    pub async fn reading_relationships(&self) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as("SELECT requesting, reading, body FROM reading_relationships ORDER BY requesting, reading")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replace (or add) a report template (a JSON body).
    pub async fn put_reading_template(&self, template_id: &str, body: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO reading_templates (template_id, body, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (template_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        )
        .bind(template_id)
        .bind(body)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remove a template; whether there was one.
    pub async fn remove_reading_template(&self, template_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM reading_templates WHERE template_id = $1").bind(template_id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every template: (id, body).
    pub async fn reading_templates(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT template_id, body FROM reading_templates ORDER BY template_id").fetch_all(&self.pool).await?)
    }

    /// Store a new request; `false` when the study already has a request
    /// to that reading institution (nothing written).
    pub async fn insert_reading_request(&self, r: &ReadingRequestRow) -> Result<bool> {
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO reading_requests ({REQUEST_COLUMNS}) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
             ON CONFLICT (study_instance_uid, reading) DO NOTHING"
        )))
        .bind(&r.request_id)
        .bind(&r.study_instance_uid)
        .bind(&r.requesting)
        .bind(&r.reading)
        .bind(&r.priority)
        .bind(r.priority_rank)
        .bind(&r.status)
        .bind(i64::from(r.is_open))
        .bind(&r.modality)
        .bind(&r.body_part)
        .bind(&r.clinical_info)
        .bind(&r.his_order_id)
        .bind(&r.source)
        .bind(&r.requested_by)
        .bind(&r.grant_id)
        .bind(&r.claimed_by)
        .bind(r.claimed_ms)
        .bind(r.created_ms)
        .bind(r.due_ms)
        .bind(r.signed_ms)
        .bind(r.returned_ms)
        .bind(&r.signer)
        .bind(r.report_version)
        .bind(i64::from(r.critical))
        .bind(r.critical_ms)
        .bind(r.critical_notified_ms)
        .bind(r.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ask again for a reading that was cancelled: the cancelled request
    /// of `r`'s study to `r`'s reading institution becomes new, with `r`'s
    /// ask (priority, clinical information, order, source, who, when, due,
    /// modality and body part); its id and earlier report versions stay.
    /// The request's id, `None` when there is no cancelled request.
    pub async fn reopen_cancelled_reading_request(&self, r: &ReadingRequestRow) -> Result<Option<String>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT request_id FROM reading_requests WHERE study_instance_uid = $1 AND reading = $2 AND status = 'cancelled'",
        )
        .bind(&r.study_instance_uid)
        .bind(&r.reading)
        .fetch_optional(&self.pool)
        .await?;
        let Some(id) = id else { return Ok(None) };
        let done = sqlx::query(
            "UPDATE reading_requests SET status = 'new', is_open = 1, priority = $1, priority_rank = $2, modality = $3, body_part = $4,
                    clinical_info = $5, his_order_id = $6, source = $7, requested_by = $8, claimed_by = '', claimed_ms = NULL,
                    created_ms = $9, due_ms = $10, updated_ms = $11
             WHERE request_id = $12 AND status = 'cancelled'",
        )
        .bind(&r.priority)
        .bind(r.priority_rank)
        .bind(&r.modality)
        .bind(&r.body_part)
        .bind(&r.clinical_info)
        .bind(&r.his_order_id)
        .bind(&r.source)
        .bind(&r.requested_by)
        .bind(r.created_ms)
        .bind(r.due_ms)
        .bind(r.updated_ms)
        .bind(&id)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(id))
    }

    /// Set the grant of a request just stored.
    pub async fn set_reading_grant(&self, request_id: &str, grant_id: &str) -> Result<()> {
        sqlx::query("UPDATE reading_requests SET grant_id = $1 WHERE request_id = $2")
            .bind(grant_id)
            .bind(request_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One request.
    pub async fn reading_request(&self, request_id: &str) -> Result<Option<ReadingRequestRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM reading_requests WHERE request_id = $1")))
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| request_from(&r, 0)).transpose()?)
    }

    /// The requests of a study (to every reading institution).
    pub async fn reading_requests_of_study(&self, study_instance_uid: &str) -> Result<Vec<ReadingRequestRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM reading_requests WHERE study_instance_uid = $1 ORDER BY created_ms"
        )))
        .bind(study_instance_uid)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| request_from(r, 0)).collect::<std::result::Result<_, _>>()?)
    }

    /// Change a request if it is as expected; whether it was.
    pub async fn update_reading_request(&self, request_id: &str, expect: &Expect<'_>, set: &RequestUpdate, now_ms: i64) -> Result<bool> {
        let mut sql = String::from("UPDATE reading_requests SET updated_ms = $1");
        let mut n = 1;
        // `expr` with `#` for the next parameter.
        let mut push = |sql: &mut String, expr: &str| {
            n += 1;
            sql.push_str(&expr.replace('#', &format!("${n}")));
        };
        if set.status.is_some() {
            push(&mut sql, ", status = #");
            push(&mut sql, ", is_open = #");
        }
        if set.claimed_by.is_some() {
            push(&mut sql, ", claimed_by = #");
        }
        if set.claimed_ms.is_some() {
            push(&mut sql, ", claimed_ms = #");
        }
        if set.signed_ms.is_some() {
            push(&mut sql, ", signed_ms = #");
        }
        if set.returned_ms.is_some() {
            push(&mut sql, ", returned_ms = #");
        }
        if set.signer.is_some() {
            push(&mut sql, ", signer = #");
        }
        if set.report_version.is_some() {
            push(&mut sql, ", report_version = #");
        }
        if set.critical.is_some() {
            push(&mut sql, ", critical = #");
        }
        // The first flagging and the first notice are kept.
        if set.critical_ms.is_some() {
            push(&mut sql, ", critical_ms = COALESCE(critical_ms, #)");
        }
        if set.critical_notified_ms.is_some() {
            push(&mut sql, ", critical_notified_ms = COALESCE(critical_notified_ms, #)");
        }
        if set.priority.is_some() {
            push(&mut sql, ", priority = #");
            push(&mut sql, ", priority_rank = #");
            push(&mut sql, ", due_ms = #");
        }
        push(&mut sql, " WHERE request_id = #");
        if !expect.statuses.is_empty() {
            sql.push_str(" AND status IN (");
            for i in 0..expect.statuses.len() {
                push(&mut sql, if i == 0 { "#" } else { ",#" });
            }
            sql.push(')');
        }
        if expect.claimed_by.is_some() {
            push(&mut sql, " AND claimed_by = #");
        }
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now_ms);
        if let Some(s) = &set.status {
            q = q.bind(s.clone()).bind(i64::from(is_open(s)));
        }
        if let Some(v) = &set.claimed_by {
            q = q.bind(v.clone());
        }
        if let Some(v) = set.claimed_ms {
            q = q.bind(v);
        }
        if let Some(v) = set.signed_ms {
            q = q.bind(v);
        }
        if let Some(v) = set.returned_ms {
            q = q.bind(v);
        }
        if let Some(v) = &set.signer {
            q = q.bind(v.clone());
        }
        if let Some(v) = set.report_version {
            q = q.bind(v);
        }
        if let Some(v) = set.critical {
            q = q.bind(i64::from(v));
        }
        if let Some(v) = set.critical_ms {
            q = q.bind(v);
        }
        if let Some(v) = set.critical_notified_ms {
            q = q.bind(v);
        }
        if let Some((p, rank, due)) = &set.priority {
            q = q.bind(p.clone()).bind(*rank).bind(*due);
        }
        q = q.bind(request_id.to_string());
        for s in expect.statuses {
            q = q.bind(s.to_string());
        }
        if let Some(c) = expect.claimed_by {
            q = q.bind(c.to_string());
        }
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// A page of a worklist, emergencies first, then the longest waiting;
    /// and how many requests match in all.
    pub async fn reading_worklist(&self, w: &WorklistQuery) -> Result<(Vec<WorklistRow>, i64)> {
        let side = if w.by_requesting { "r.requesting" } else { "r.reading" };
        let mut filters = format!("{side} = $1");
        let mut binds: Vec<String> = vec![w.institution.clone()];
        let mut add = |filters: &mut String, column: &str, value: &Option<String>| {
            if let Some(v) = value {
                binds.push(v.clone());
                filters.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        };
        add(&mut filters, "r.requesting", &w.requesting);
        add(&mut filters, "r.modality", &w.modality);
        add(&mut filters, "r.body_part", &w.body_part);
        add(&mut filters, "r.priority", &w.priority);
        add(&mut filters, "r.claimed_by", &w.claimed_by);
        add(&mut filters, "r.request_id", &w.request_id);
        if w.request_id.is_some() {
            // One request, whatever its status.
        } else if w.statuses.is_empty() {
            filters.push_str(" AND r.is_open = 1");
        } else {
            let first = binds.len() + 1;
            binds.extend(w.statuses.iter().cloned());
            let list: Vec<String> = (first..=binds.len()).map(|i| format!("${i}")).collect();
            filters.push_str(&format!(" AND r.status IN ({})", list.join(",")));
        }
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM reading_requests r WHERE {filters}")));
        for b in &binds {
            count = count.bind(b.clone());
        }
        let total = count.fetch_one(&self.pool).await?;
        let columns: Vec<String> = REQUEST_COLUMNS.split(',').map(|c| format!("r.{}", c.trim())).collect();
        let sql = format!(
            "SELECT {}, p.patient_name, p.patient_id, p.patient_sex, p.patient_birth_date, s.study_date, s.study_description,
                    s.accession_number, s.num_instances, COALESCE(NULLIF(u.display_name, ''), u.username)
             FROM reading_requests r
             LEFT JOIN studies s ON s.study_instance_uid = r.study_instance_uid
             LEFT JOIN patients p ON p.id = s.patient_pk
             LEFT JOIN users u ON r.claimed_by <> '' AND r.claimed_by = 'person:' || u.user_id
             WHERE {filters}
             ORDER BY r.priority_rank, r.created_ms, r.request_id
             LIMIT {} OFFSET {}",
            columns.join(", "),
            w.limit.clamp(1, 500),
            w.offset.clamp(0, 1_000_000)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let text =
                |i: usize| -> std::result::Result<String, sqlx::Error> { Ok(row.try_get::<Option<String>, _>(i)?.unwrap_or_default()) };
            out.push(WorklistRow {
                request: request_from(row, 0)?,
                patient_name: text(27)?,
                patient_id: text(28)?,
                patient_sex: text(29)?,
                patient_birth_date: text(30)?,
                study_date: text(31)?,
                study_description: text(32)?,
                accession_number: text(33)?,
                num_instances: row.try_get::<Option<i64>, _>(34)?.unwrap_or(0),
                claimed_by_name: text(35)?,
            });
        }
        Ok((out, total))
    }

    /// How many requests of an institution's worklist are in each status.
    pub async fn reading_status_counts(&self, institution: &str, by_requesting: bool) -> Result<Vec<(String, i64)>> {
        let side = if by_requesting { "requesting" } else { "reading" };
        let sql = format!("SELECT status, COUNT(*) FROM reading_requests WHERE {side} = $1 GROUP BY status ORDER BY status");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(institution).fetch_all(&self.pool).await?)
    }

    /// The patient of a study: (issuer, Patient ID).
    pub async fn study_patient(&self, study_instance_uid: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT p.issuer, p.patient_id FROM studies s JOIN patients p ON p.id = s.patient_pk WHERE s.study_instance_uid = $1",
        )
        .bind(study_instance_uid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The SOP Class UID, Rows and Columns of stored instances, by SOP
    /// Instance UID (those not stored are left out).
    pub async fn sop_classes_of(&self, sop_instance_uids: &[String]) -> Result<Vec<(String, String, Option<i64>, Option<i64>)>> {
        let mut out = Vec::new();
        for chunk in sop_instance_uids.chunks(500) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT sop_instance_uid, sop_class_uid, rows_, columns_ FROM instances WHERE sop_instance_uid IN ({})",
                params.join(",")
            );
            let mut q = sqlx::query_as::<_, (String, String, Option<i64>, Option<i64>)>(AssertSqlSafe(sql));
            for uid in chunk {
                q = q.bind(uid);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }
}
