//! Film verification attempts and sliding-window slots on a real SQLite
//! index and a real PostgreSQL server: attempts are counted before answers
//! are compared, concurrently from several handles (as several nodes would),
//! and never more than the limits allow.

use yunying_index::{Film, FilmEvent, Index, Verified};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir, tag: &str) -> (Index, Index) {
    match backend {
        Backend::Sqlite => {
            let path = dir.path().join("index.sqlite");
            (Index::open_sqlite(&path).await.unwrap(), Index::open_sqlite(&path).await.unwrap())
        }
        Backend::Postgres => {
            let url = yunying_index::testkit::fresh_postgres_database(tag).await;
            (Index::open(&url).await.unwrap(), Index::open(&url).await.unwrap())
        }
    }
}

fn film(id: &str, max_views: Option<i64>) -> Film {
    Film {
        film_id: id.into(),
        token_hash: format!("hash-{id}"),
        parent_film_id: String::new(),
        kind: "patient".into(),
        studies: vec!["1.2.3".into()],
        issuer: "A".into(),
        patient_id: "P1".into(),
        created_by: String::new(),
        recipient: String::new(),
        purpose: String::new(),
        created_at_ms: 1,
        expires_at_ms: i64::MAX,
        revoked_at_ms: None,
        max_views,
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

fn event(film: &str, result: &str) -> FilmEvent {
    FilmEvent {
        seq: 0,
        film_id: film.into(),
        studies: vec![],
        at_ms: 1,
        actor: "client".into(),
        event: "verify".into(),
        client: "203.0.113.1".into(),
        result: result.into(),
        detail: String::new(),
    }
}

async fn a_films_attempts_are_counted_before_answers_are_compared(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = open(backend, &dir, "attempts").await;
    a.create_film(&film("F1", None), &event("F1", "created")).await.unwrap();
    // 40 attempts at once from two "nodes": exactly 5 get a place.
    let tries = (0..40).map(|i| {
        let index = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { index.reserve_film_attempt("F1", 5).await.unwrap() })
    });
    let mut held = 0;
    for t in tries {
        held += t.await.unwrap() as usize;
    }
    assert_eq!(held, 5, "no more places than the limit, however many ask at once");
    // The first wrong answer to be judged sees the places held around it and locks the film.
    let first = a.film_verification_failed("F1", 5, 10, &event("F1", "failed")).await.unwrap();
    assert!(first.locked && first.failed == 5, "{first:?}");
    // A right answer among the held ones no longer opens it.
    assert_eq!(b.film_verified("F1", "session-1", 11, 1000, &event("F1", "ok")).await.unwrap(), Verified::Locked);
    assert!(!a.reserve_film_attempt("F1", 5).await.unwrap(), "a locked film takes no attempts");

    // Sequentially: four wrong answers, then the right one opens a session
    // and resets the count.
    a.create_film(&film("F2", Some(1)), &event("F2", "created")).await.unwrap();
    for n in 1..=4 {
        assert!(a.reserve_film_attempt("F2", 5).await.unwrap());
        let r = a.film_verification_failed("F2", 5, 10, &event("F2", "failed")).await.unwrap();
        assert_eq!((r.failed, r.locked), (n, false));
    }
    assert!(a.reserve_film_attempt("F2", 5).await.unwrap());
    assert_eq!(a.film_verified("F2", "session-2", 11, 1000, &event("F2", "ok")).await.unwrap(), Verified::Session);
    assert_eq!(a.film("F2").await.unwrap().unwrap().failed_attempts, 0);
    // Its one view used, a right answer is refused and its place given back.
    assert!(a.reserve_film_attempt("F2", 5).await.unwrap());
    assert_eq!(a.film_verified("F2", "session-3", 12, 1000, &event("F2", "ok")).await.unwrap(), Verified::ViewsUsedUp);
    assert_eq!(a.film("F2").await.unwrap().unwrap().failed_attempts, 0, "a right answer is no failure");
}

async fn slots_hold_a_sliding_window_across_nodes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = open(backend, &dir, "slots").await;
    let tries = (0..60).map(|i| {
        let index = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { index.reserve_slot("verify:203.0.113.1", 0, 100, 20).await.unwrap() })
    });
    let mut held = Vec::new();
    for t in tries {
        held.extend(t.await.unwrap());
    }
    assert_eq!(held.len(), 20, "20 places, however many ask at once");
    assert!(a.reserve_slot("verify:203.0.113.2", 0, 100, 20).await.unwrap().is_some(), "keys are independent");
    // A place given back is free again; places older than the window are gone.
    a.release_slot(held[0]).await.unwrap();
    assert!(b.reserve_slot("verify:203.0.113.1", 0, 100, 20).await.unwrap().is_some());
    assert!(b.reserve_slot("verify:203.0.113.1", 0, 100, 20).await.unwrap().is_none());
    assert!(b.reserve_slot("verify:203.0.113.1", 101, 200, 20).await.unwrap().is_some(), "the window moved past them");
}

on_every_backend!(a_films_attempts_are_counted_before_answers_are_compared, slots_hold_a_sliding_window_across_nodes);
