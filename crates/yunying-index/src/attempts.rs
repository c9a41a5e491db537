//! Verification attempts on cloud films, counted before they are evaluated.
//!
//! Two limits guard a film's second factor: failures per film (then the
//! film locks) and failures per client address over all films (then the
//! address waits). Both are counted *pessimistically*: an attempt takes its
//! place in the count in one serialised statement before the answer is
//! compared, and gives it back only when it turns out right. However many
//! answers arrive at once, from however many nodes, no more are ever
//! compared than the limits allow, and a right answer wins only if the film
//! is still unlocked once the attempts around it have been counted.
//!
//! Per film, the reservation is a conditional increment of the film row
//! (the row lock serialises it on PostgreSQL, the write transaction on
//! SQLite). Per address, it is a slot in `rate_slots`, the index's general
//! sliding-window limiter (film imports use it too): a row inserted only
//! while fewer than the limit fall in the window, under a transaction-level
//! advisory lock on the key (PostgreSQL; SQLite's write transactions are
//! already one at a time).

use crate::films::insert_event;
use crate::schema::Dialect;
use crate::{FilmEvent, Index, Result};

/// Outcome of a failed verification, once counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Failures on the film's record (held reservations included).
    pub failed: i64,
    /// The film is locked now.
    pub locked: bool,
}

/// Outcome of a right answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// A session was stored.
    Session,
    /// The film was locked by the failures counted around this answer.
    Locked,
    /// The film has been opened as often as it allows.
    ViewsUsedUp,
}

impl Index {
    /// Take one of `limit` places under `key` (a client address's
    /// verification attempts, a film's imports) in the window since
    /// `since_ms`: `None` when all are taken, held ones included. A place
    /// counts until the window passes it or [`Index::release_slot`] gives
    /// it back.
    pub async fn reserve_slot(&self, key: &str, since_ms: i64, now_ms: i64, limit: i64) -> Result<Option<i64>> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7349, hashtext($1))").bind(key).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM rate_slots WHERE slot_key = $1 AND at_ms < $2").bind(key).bind(since_ms).execute(&mut *tx).await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_slots WHERE slot_key = $1").bind(key).fetch_one(&mut *tx).await?;
        if held >= limit {
            tx.rollback().await?;
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO rate_slots (slot_key, at_ms) VALUES ($1, $2) RETURNING id")
            .bind(key)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Give back a place taken by [`Index::reserve_slot`] (a verification
    /// that was right, or never compared).
    pub async fn release_slot(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM rate_slots WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Count one attempt on a film before its answer is compared: false
    /// (nothing counted) when the film is locked or already has `limit`
    /// failures, held ones included.
    pub async fn reserve_film_attempt(&self, film_id: &str, limit: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE films SET failed_attempts = failed_attempts + 1
             WHERE film_id = $1 AND locked_at_ms IS NULL AND failed_attempts < $2",
        )
        .bind(film_id)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The answer of a reserved attempt was wrong: it stays counted, and at
    /// `limit` failures the film locks.
    pub async fn film_verification_failed(&self, film_id: &str, limit: i64, now_ms: i64, event: &FilmEvent) -> Result<Attempts> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let (failed, locked_at): (i64, Option<i64>) =
            sqlx::query_as("SELECT failed_attempts, locked_at_ms FROM films WHERE film_id = $1").bind(film_id).fetch_one(&mut *tx).await?;
        insert_event(&mut tx, event).await?;
        let locked = failed >= limit || locked_at.is_some();
        if failed >= limit {
            let done = sqlx::query("UPDATE films SET locked_at_ms = $2 WHERE film_id = $1 AND locked_at_ms IS NULL")
                .bind(film_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() > 0 {
                let lock = FilmEvent {
                    event: "locked".into(),
                    result: "ok".into(),
                    detail: format!("{failed} failed verifications"),
                    ..event.clone()
                };
                insert_event(&mut tx, &lock).await?;
            }
        }
        tx.commit().await?;
        Ok(Attempts { failed, locked })
    }

    /// The answer of a reserved attempt was right: unless the film locked
    /// meanwhile or has used up its views, reset its failures, count a view
    /// and store the session, with `event`, in one transaction.
    pub async fn film_verified(
        &self,
        film_id: &str,
        session_hash: &str,
        now_ms: i64,
        session_expires_ms: i64,
        event: &FilmEvent,
    ) -> Result<Verified> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let done = sqlx::query(
            "UPDATE films SET failed_attempts = 0, views = views + 1, code_expires_ms = NULL
             WHERE film_id = $1 AND locked_at_ms IS NULL AND (max_views IS NULL OR views < max_views)",
        )
        .bind(film_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let locked: Option<i64> =
                sqlx::query_scalar("SELECT locked_at_ms FROM films WHERE film_id = $1").bind(film_id).fetch_one(&mut *tx).await?;
            if locked.is_some() {
                tx.rollback().await?;
                return Ok(Verified::Locked);
            }
            // A right answer on a film with no views left: its reserved
            // attempt was no failure, so it is given back.
            sqlx::query("UPDATE films SET failed_attempts = failed_attempts - 1 WHERE film_id = $1 AND failed_attempts > 0")
                .bind(film_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Verified::ViewsUsedUp);
        }
        sqlx::query("INSERT INTO film_sessions (session_hash, film_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(session_hash)
            .bind(film_id)
            .bind(now_ms)
            .bind(session_expires_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM film_sessions WHERE expires_at_ms < $1").bind(now_ms).execute(&mut *tx).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Verified::Session)
    }
}
