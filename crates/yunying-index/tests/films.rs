//! A film's studies in `film_studies`, on both databases: they come back in
//! the film's order, a study finds the events of exactly the films that
//! show it (a UID that is a prefix or suffix of another finds nothing of
//! the other's), and films made before the table existed are filled in
//! from the old comma-joined column when the migration runs.

use sqlx::Connection;
use yunying_index::{Film, FilmEvent, Index};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir, tag: &str) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database(tag).await).await.unwrap(),
    }
}

fn film(id: &str, studies: &[&str]) -> Film {
    Film {
        film_id: id.into(),
        token_hash: format!("hash-{id}"),
        parent_film_id: String::new(),
        kind: "patient".into(),
        studies: studies.iter().map(|s| s.to_string()).collect(),
        issuer: "A".into(),
        patient_id: "P1".into(),
        created_by: String::new(),
        recipient: String::new(),
        purpose: String::new(),
        created_at_ms: 1,
        expires_at_ms: i64::MAX,
        revoked_at_ms: None,
        max_views: None,
        views: 0,
        download: true,
        verify_method: "birth_date".into(),
        verify_hash: "x".into(),
        verify_hint: String::new(),
        code_expires_ms: None,
        code_sent_ms: None,
        failed_attempts: 0,
        locked_at_ms: None,
        report: true,
        report_key: String::new(),
        report_type: String::new(),
    }
}

fn event(film: &Film, what: &str) -> FilmEvent {
    FilmEvent {
        seq: 0,
        film_id: film.film_id.clone(),
        studies: film.studies.clone(),
        at_ms: 1,
        actor: "api".into(),
        event: what.into(),
        client: "127.0.0.1".into(),
        result: "ok".into(),
        detail: String::new(),
    }
}

fn films_of(events: &[FilmEvent]) -> Vec<&str> {
    let mut ids: Vec<&str> = events.iter().map(|e| e.film_id.as_str()).collect();
    ids.dedup();
    ids
}

async fn a_films_studies_round_trip_and_find_its_events_by_exact_study(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir, "filmstudies").await;
    // 1.2.3 is a prefix of 1.2.3.4 and a suffix of 9.1.2.3; the LIKE
    // patterns this replaces would have to get every one of these right.
    let a = film("FA", &["1.2.3.4", "1.2.30", "1.2.3"]);
    let b = film("FB", &["1.2.3.4"]);
    let c = film("FC", &["9.1.2.3", "1.2.3.45"]);
    let d = film("FD", &["1.2.3.4", "1.2.3.4"]);
    for f in [&a, &b, &c, &d] {
        index.create_film(f, &event(f, "created")).await.unwrap();
        index.record_film_event(&event(f, "viewed")).await.unwrap();
    }
    assert_eq!(index.film("FA").await.unwrap().unwrap().studies, a.studies, "the film's order is kept");
    assert_eq!(index.film_by_token("hash-FC").await.unwrap().unwrap().studies, c.studies);
    assert_eq!(index.film("FD").await.unwrap().unwrap().studies, ["1.2.3.4"], "a study is in a film once");

    let of = |study: &'static str| {
        let index = index.clone();
        async move { index.film_events_of_study(study).await.unwrap() }
    };
    assert_eq!(films_of(&of("1.2.3").await), ["FA"], "not 1.2.3.4, 9.1.2.3 or 1.2.3.45");
    assert_eq!(films_of(&of("1.2.3.4").await), ["FA", "FB", "FD"]);
    assert_eq!(films_of(&of("1.2.30").await), ["FA"]);
    assert_eq!(films_of(&of("9.1.2.3").await), ["FC"]);
    assert!(of("1.2").await.is_empty() && of("2.3").await.is_empty() && of("%").await.is_empty() && of("1.2.3%").await.is_empty());
    let events = of("1.2.3.4").await;
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    assert_eq!(events.len(), 6, "both events of each of the three films");
    assert_eq!(events[0].studies, a.studies, "events still carry their studies");

    // A share is a film of its own: its studies are its own rows.
    let mut share = film("FS", &["1.2.3"]);
    share.parent_film_id = "FA".into();
    share.kind = "share".into();
    index.create_film(&share, &event(&share, "created")).await.unwrap();
    assert_eq!(index.films_shared_from("FA").await.unwrap()[0].studies, ["1.2.3"]);
    assert_eq!(films_of(&of("1.2.3").await), ["FA", "FS"]);
}

async fn films_made_before_the_join_table_are_filled_in_by_the_migration(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir, "filmbackfill").await;
    let old = film("FOLD", &["1.2.3.4", "1.2.3"]);
    index.create_film(&old, &event(&old, "created")).await.unwrap();
    let url = index.url().to_string();
    drop(index);
    // Back to the schema before the migration: the film as an older binary
    // left it, its studies only in the comma-joined column.
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    // The film_studies migration is number 14 (shipped, so its number is
    // settled); the ones after it are undone too, so they run again.
    for table in [
        "film_studies",
        "audit_pending",
        "ledger_entries",
        "ledger_studies",
        "ledger_patients",
        "ledger_checkpoints",
        "retention_policies",
        "legal_holds",
        "deletion_requests",
        "deletion_targets",
        "withheld_objects",
        "purge_queue",
        "ledger_cosignatures",
        "witness_exports",
        "witness_logs",
        "recognition_decisions",
        "recognition_candidates",
        "recognition_orders",
        "recognition_study_items",
        "recognition_marks",
        "recognition_items",
        "empi_identity_digests",
        "empi_history",
        "empi_reviews",
        "empi_identities",
        "empi_persons",
        "cursors",
        "key_cursors",
        "commitment_requests",
        "reading_deliveries",
        "reading_reports",
        "reading_requests",
        "reading_templates",
        "reading_relationships",
        "viewer_settings",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut conn).await.unwrap();
    }
    // The totals' triggers (migration 27) go with their table; on each
    // engine only its own statements succeed.
    for table in ["patients", "studies", "series", "instances", "rendition_jobs"] {
        for suffix in ["insert", "delete", "update"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {table}_totals_{suffix}"))).execute(&mut conn).await.ok();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {table}_totals_{suffix} ON {table}")))
                .execute(&mut conn)
                .await
                .ok();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP FUNCTION IF EXISTS yunying_totals_{table}_{suffix}()")))
                .execute(&mut conn)
                .await
                .ok();
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"))).execute(&mut conn).await.ok();
    }
    sqlx::query("DROP FUNCTION IF EXISTS yunying_no_truncate()").execute(&mut conn).await.ok();
    // Migration 31's index on a table older than migration 14 (its other
    // index went with reading_requests).
    sqlx::query("DROP INDEX grants_grantor").execute(&mut conn).await.unwrap();
    sqlx::query("DROP TABLE index_totals").execute(&mut conn).await.unwrap();
    // SQLite will not drop a column an index names (PostgreSQL drops the index with it).
    sqlx::query("DROP INDEX IF EXISTS instances_sm3_pending").execute(&mut conn).await.unwrap();
    sqlx::query("ALTER TABLE instances DROP COLUMN sm3").execute(&mut conn).await.unwrap();
    sqlx::query("ALTER TABLE studies DROP COLUMN patient_class").execute(&mut conn).await.unwrap();
    sqlx::query("DELETE FROM schema_version WHERE version >= 14").execute(&mut conn).await.unwrap();
    let joined: String = sqlx::query_scalar("SELECT studies FROM films WHERE film_id = 'FOLD'").fetch_one(&mut conn).await.unwrap();
    assert_eq!(joined, "1.2.3.4,1.2.3", "the old column is still written, for older binaries");
    conn.close().await.unwrap();

    let index = Index::open(&url).await.unwrap();
    assert_eq!(index.film("FOLD").await.unwrap().unwrap().studies, old.studies);
    assert_eq!(films_of(&index.film_events_of_study("1.2.3").await.unwrap()), ["FOLD"]);
}

on_every_backend!(
    a_films_studies_round_trip_and_find_its_events_by_exact_study,
    films_made_before_the_join_table_are_filled_in_by_the_migration
);
