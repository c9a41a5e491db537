//! Cloud films: share links to studies, their verified sessions and the
//! record of everything that happened to them.
//!
//! The index stores only digests of link tokens, session tokens and
//! verification answers (`yunying-film` makes and hashes them); nothing
//! here can open a film. Events are append-only rows numbered in order
//! (`seq`), the shape the tamper-evident ledger will chain.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Index, Result};

/// A film as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Film {
    /// Public, random, non-secret name of the film (API paths, events).
    pub film_id: String,
    #[serde(skip)]
    pub token_hash: String,
    /// The film this one was shared from ('' for a film made by staff).
    pub parent_film_id: String,
    /// `patient` (the patient's own film) or `share` (to a third party).
    pub kind: String,
    /// Study Instance UIDs the film shows.
    pub studies: Vec<String>,
    pub issuer: String,
    pub patient_id: String,
    pub created_by: String,
    pub recipient: String,
    pub purpose: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub max_views: Option<i64>,
    pub views: i64,
    pub download: bool,
    /// `birth_date`, `phone_suffix`, `id_suffix` or `sms`.
    pub verify_method: String,
    #[serde(skip)]
    pub verify_hash: String,
    /// Masked phone number an SMS code goes to ('' otherwise).
    pub verify_hint: String,
    #[serde(skip)]
    pub code_expires_ms: Option<i64>,
    #[serde(skip)]
    pub code_sent_ms: Option<i64>,
    pub failed_attempts: i64,
    pub locked_at_ms: Option<i64>,
    /// Whether the film shows reports (the study's PDF and SR documents,
    /// and `report_key`).
    pub report: bool,
    /// Object key of a report uploaded through the API ('' when none).
    pub report_key: String,
    /// Its media type (`application/pdf`, `text/plain`).
    pub report_type: String,
}

/// One thing that happened to a film.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilmEvent {
    pub seq: i64,
    pub film_id: String,
    pub studies: Vec<String>,
    pub at_ms: i64,
    /// Who: `staff:<name>`, `api`, `patient`, `doctor:<name>`, `client`.
    pub actor: String,
    /// `created`, `opened`, `verify`, `code-sent`, `viewed`, `downloaded`,
    /// `shared`, `imported`, `revoked`, `unlocked`, `locked`.
    pub event: String,
    /// Client address.
    pub client: String,
    /// `ok`, `failed`, `refused`.
    pub result: String,
    pub detail: String,
}

/// A film's columns; its studies come from `film_studies` (the
/// comma-joined `films.studies` is written for older binaries, never read).
const FILM_COLUMNS: &str = "film_id, token_hash, parent_film_id, kind, issuer, patient_id, created_by, recipient, purpose, \
     created_at_ms, expires_at_ms, revoked_at_ms, max_views, views, download, verify_method, verify_hash, verify_hint, \
     code_expires_ms, code_sent_ms, failed_attempts, locked_at_ms, report, report_key, report_type";

fn split(list: &str) -> Vec<String> {
    list.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A film row of `FILM_COLUMNS`, with its studies (read apart).
fn film_of(row: &AnyRow, studies: Vec<String>) -> Result<Film> {
    Ok(Film {
        film_id: row.try_get(0)?,
        token_hash: row.try_get(1)?,
        parent_film_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        studies,
        issuer: row.try_get(4)?,
        patient_id: row.try_get(5)?,
        created_by: row.try_get(6)?,
        recipient: row.try_get(7)?,
        purpose: row.try_get(8)?,
        created_at_ms: row.try_get(9)?,
        expires_at_ms: row.try_get(10)?,
        revoked_at_ms: row.try_get(11)?,
        max_views: row.try_get(12)?,
        views: row.try_get(13)?,
        download: row.try_get::<i64, _>(14)? != 0,
        verify_method: row.try_get(15)?,
        verify_hash: row.try_get(16)?,
        verify_hint: row.try_get(17)?,
        code_expires_ms: row.try_get(18)?,
        code_sent_ms: row.try_get(19)?,
        failed_attempts: row.try_get::<i64, _>(20)?,
        locked_at_ms: row.try_get(21)?,
        report: row.try_get::<i64, _>(22)? != 0,
        report_key: row.try_get(23)?,
        report_type: row.try_get(24)?,
    })
}

impl Index {
    /// Store a new film and its `created` event in one transaction.
    pub async fn create_film(&self, film: &Film, event: &FilmEvent) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO films (film_id, token_hash, parent_film_id, kind, studies, issuer, patient_id, created_by, recipient, purpose,
                 created_at_ms, expires_at_ms, max_views, download, verify_method, verify_hash, verify_hint, report, report_key, report_type)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(film.film_id.as_str())
        .bind(film.token_hash.as_str())
        .bind(film.parent_film_id.as_str())
        .bind(film.kind.as_str())
        .bind(film.studies.join(","))
        .bind(film.issuer.as_str())
        .bind(film.patient_id.as_str())
        .bind(film.created_by.as_str())
        .bind(film.recipient.as_str())
        .bind(film.purpose.as_str())
        .bind(film.created_at_ms)
        .bind(film.expires_at_ms)
        .bind(film.max_views)
        .bind(film.download as i64)
        .bind(film.verify_method.as_str())
        .bind(film.verify_hash.as_str())
        .bind(film.verify_hint.as_str())
        .bind(film.report as i64)
        .bind(film.report_key.as_str())
        .bind(film.report_type.as_str())
        .execute(&mut *tx)
        .await?;
        let mut seen: Vec<&str> = Vec::new();
        for uid in &film.studies {
            if seen.contains(&uid.as_str()) {
                continue;
            }
            sqlx::query("INSERT INTO film_studies (film_id, study_instance_uid, position) VALUES ($1, $2, $3)")
                .bind(film.film_id.as_str())
                .bind(uid.as_str())
                .bind(seen.len() as i64)
                .execute(&mut *tx)
                .await?;
            seen.push(uid);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The studies of a film, in the film's order.
    async fn studies_of_film(&self, film_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT study_instance_uid FROM film_studies WHERE film_id = $1 ORDER BY position")
            .bind(film_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// A film row read with `FILM_COLUMNS`, completed with its studies.
    async fn complete(&self, row: &AnyRow) -> Result<Film> {
        let film_id: String = row.try_get(0)?;
        film_of(row, self.studies_of_film(&film_id).await?)
    }

    /// The film whose link token hashes to `token_hash`.
    pub async fn film_by_token(&self, token_hash: &str) -> Result<Option<Film>> {
        self.film_where("token_hash", token_hash).await
    }

    /// The film named `film_id`.
    pub async fn film(&self, film_id: &str) -> Result<Option<Film>> {
        self.film_where("film_id", film_id).await
    }

    /// The film whose unique `column` holds `value`.
    async fn film_where(&self, column: &'static str, value: &str) -> Result<Option<Film>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {FILM_COLUMNS} FROM films WHERE {column} = $1")))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.complete(&row).await?)),
            None => Ok(None),
        }
    }

    /// The film of a live session.
    pub async fn film_of_session(&self, session_hash: &str, now_ms: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT film_id FROM film_sessions WHERE session_hash = $1 AND expires_at_ms > $2")
            .bind(session_hash)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Store the digest of a new SMS code.
    pub async fn set_film_code(&self, film_id: &str, code_hash: &str, now_ms: i64, expires_ms: i64, event: &FilmEvent) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query("UPDATE films SET verify_hash = $2, code_sent_ms = $3, code_expires_ms = $4 WHERE film_id = $1")
            .bind(film_id)
            .bind(code_hash)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revoke a film, every film shared from it, and their sessions.
    /// Returns the films revoked now (none when all already were).
    pub async fn revoke_film(&self, film_id: &str, now_ms: i64, event: &FilmEvent) -> Result<Vec<String>> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let mut revoked = Vec::new();
        let mut todo = vec![film_id.to_string()];
        while let Some(id) = todo.pop() {
            let done = sqlx::query("UPDATE films SET revoked_at_ms = $2 WHERE film_id = $1 AND revoked_at_ms IS NULL")
                .bind(id.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM film_sessions WHERE film_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
            let children: Vec<String> =
                sqlx::query_scalar("SELECT film_id FROM films WHERE parent_film_id = $1").bind(id.as_str()).fetch_all(&mut *tx).await?;
            todo.extend(children);
            if done.rows_affected() > 0 {
                insert_event(&mut tx, &FilmEvent { film_id: id.clone(), ..event.clone() }).await?;
                revoked.push(id);
            }
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// Bring a film's end forward to `at_ms` (never later than it was), and
    /// its shares' with it. False when it already ended by then.
    pub async fn shorten_film(&self, film_id: &str, at_ms: i64, event: &FilmEvent) -> Result<bool> {
        let update = sqlx::query("UPDATE films SET expires_at_ms = $2 WHERE (film_id = $1 OR parent_film_id = $1) AND expires_at_ms > $2")
            .bind(film_id.to_string())
            .bind(at_ms);
        self.update_recording(update, event).await
    }

    /// Films shared from `film_id`, oldest first.
    pub async fn films_shared_from(&self, film_id: &str) -> Result<Vec<Film>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FILM_COLUMNS} FROM films WHERE parent_film_id = $1 ORDER BY created_at_ms, id"
        )))
        .bind(film_id)
        .fetch_all(&self.pool)
        .await?;
        let mut films = Vec::with_capacity(rows.len());
        for row in &rows {
            films.push(self.complete(row).await?);
        }
        Ok(films)
    }

    /// Attach an uploaded report (an object already stored) to a film.
    pub async fn set_film_report(&self, film_id: &str, key: &str, media_type: &str, event: &FilmEvent) -> Result<bool> {
        let update = sqlx::query("UPDATE films SET report_key = $2, report_type = $3 WHERE film_id = $1")
            .bind(film_id.to_string())
            .bind(key.to_string())
            .bind(media_type.to_string());
        self.update_recording(update, event).await
    }

    /// Run one UPDATE and, when it changed a row, record `event`: one transaction.
    async fn update_recording<'q>(
        &self,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        event: &FilmEvent,
    ) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let changed = update.execute(&mut *tx).await?.rows_affected() > 0;
        if changed {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Unlock a film locked by failed verifications.
    pub async fn unlock_film(&self, film_id: &str, event: &FilmEvent) -> Result<bool> {
        let update = sqlx::query("UPDATE films SET locked_at_ms = NULL, failed_attempts = 0 WHERE film_id = $1").bind(film_id.to_string());
        self.update_recording(update, event).await
    }

    /// Record an event.
    pub async fn record_film_event(&self, event: &FilmEvent) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Events of a film, oldest first.
    pub async fn film_events(&self, film_id: &str) -> Result<Vec<FilmEvent>> {
        let rows = sqlx::query(
            "SELECT seq, film_id, studies, at_ms, actor, event, client, result, detail FROM film_events WHERE film_id = $1 ORDER BY seq",
        )
        .bind(film_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_of).collect()
    }

    /// Events of every film that shows `study`, oldest first: the films by
    /// exact study in `film_studies`, then their events.
    pub async fn film_events_of_study(&self, study: &str) -> Result<Vec<FilmEvent>> {
        let rows = sqlx::query(
            "SELECT seq, film_id, studies, at_ms, actor, event, client, result, detail FROM film_events
             WHERE film_id IN (SELECT film_id FROM film_studies WHERE study_instance_uid = $1) ORDER BY seq",
        )
        .bind(study)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_of).collect()
    }
}

fn event_of(row: &AnyRow) -> Result<FilmEvent> {
    Ok(FilmEvent {
        seq: row.try_get(0)?,
        film_id: row.try_get(1)?,
        studies: split(&row.try_get::<String, _>(2)?),
        at_ms: row.try_get(3)?,
        actor: row.try_get(4)?,
        event: row.try_get(5)?,
        client: row.try_get(6)?,
        result: row.try_get(7)?,
        detail: row.try_get(8)?,
    })
}

pub(crate) async fn insert_event(tx: &mut sqlx::Transaction<'static, sqlx::Any>, e: &FilmEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO film_events (film_id, studies, at_ms, actor, event, client, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.film_id.as_str())
    .bind(e.studies.join(","))
    .bind(e.at_ms)
    .bind(e.actor.as_str())
    .bind(e.event.as_str())
    .bind(e.client.as_str())
    .bind(e.result.as_str())
    .bind(e.detail.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
