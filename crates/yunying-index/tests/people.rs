//! Accounts, lockout counters, sessions and waiting OIDC sign-ins on a real
//! SQLite index and a real PostgreSQL server: sign-ins are counted before
//! passwords are compared, concurrently from two handles (as two nodes
//! would), and never more than the limit.

use yunying_index::{Index, OidcLogin, SessionRow, UserRow};

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

fn user(id: &str, name: &str) -> UserRow {
    UserRow {
        user_id: id.into(),
        username: name.into(),
        institution: Some("A".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
        roles: "radiologist".into(),
        created_ms: 1,
        created_by: "cli".into(),
        ..Default::default()
    }
}

async fn accounts_are_unique_by_name_and_identity(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = open(backend, &dir, "people").await;
    assert!(index.insert_user(&user("u1", "wang")).await.unwrap());
    assert!(!index.insert_user(&user("u2", "wang")).await.unwrap(), "a username is taken once");
    let linked = |id: &str, name: &str| UserRow {
        oidc_issuer: Some("https://idp".into()),
        oidc_subject: Some("sub-1".into()),
        password_hash: None,
        ..user(id, name)
    };
    assert!(index.insert_user(&linked("u3", "li")).await.unwrap());
    assert!(!index.insert_user(&linked("u4", "zhao")).await.unwrap(), "an identity links to one account");
    assert!(index.insert_user(&user("u5", "zhang")).await.unwrap(), "accounts without an identity do not collide");
    assert_eq!(index.user_by_oidc("https://idp", "sub-1").await.unwrap().unwrap().user_id, "u3");
    assert_eq!(index.user_by_name("wang").await.unwrap().unwrap().user_id, "u1");
    assert_eq!(index.users(Some("A")).await.unwrap().len(), 3);
    assert!(index.users(Some("B")).await.unwrap().is_empty());

    index.refresh_user("u3", "Li Na", Some(None), Some("referring")).await.unwrap();
    let u3 = index.user("u3").await.unwrap().unwrap();
    assert_eq!((u3.display_name.as_str(), u3.institution.as_deref(), u3.roles.as_str()), ("Li Na", None, "referring"));
    index.refresh_user("u3", "Li Na", None, None).await.unwrap();
    assert_eq!(index.user("u3").await.unwrap().unwrap().roles, "referring", "None leaves roles alone");
}

async fn sign_ins_are_counted_before_passwords_are_compared(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = open(backend, &dir, "lockout").await;
    a.insert_user(&user("u1", "wang")).await.unwrap();
    let now = 1_000_000;
    // 40 sign-ins at once from two "nodes": exactly 5 are counted.
    let tries = (0..40).map(|i| {
        let index = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { index.reserve_login("u1", now, now - 900_000, 5).await.unwrap() })
    });
    let mut held = 0;
    for t in tries {
        held += t.await.unwrap() as usize;
    }
    assert_eq!(held, 5);
    assert!(a.login_failed("u1", 5, now + 900_000).await.unwrap(), "the fifth failure locks");
    assert!(!a.login_failed("u1", 5, now + 900_000).await.unwrap(), "locked once");
    assert!(!a.reserve_login("u1", now + 1, now - 900_000, 5).await.unwrap());
    assert!(!a.login_succeeded("u1", now + 1).await.unwrap(), "a right password on a locked account does not count");
    // The lock runs out: a new count begins.
    let later = now + 900_001;
    assert!(a.reserve_login("u1", later, later - 900_000, 5).await.unwrap());
    let u = a.user("u1").await.unwrap().unwrap();
    assert_eq!((u.failed_logins, u.locked_until_ms), (1, None));
    assert!(a.login_succeeded("u1", later).await.unwrap());
    assert_eq!(a.user("u1").await.unwrap().unwrap().failed_logins, 0);
    // A window that has passed starts again too; unlock clears everything.
    for _ in 0..4 {
        assert!(a.reserve_login("u1", later, later - 900_000, 5).await.unwrap());
    }
    let next_window = later + 900_001;
    assert!(a.reserve_login("u1", next_window, next_window - 900_000, 5).await.unwrap());
    assert_eq!(a.user("u1").await.unwrap().unwrap().failed_logins, 1);
    for _ in 0..4 {
        a.reserve_login("u1", next_window, next_window - 900_000, 5).await.unwrap();
    }
    a.login_failed("u1", 5, next_window + 900_000).await.unwrap();
    assert!(a.unlock_user("u1").await.unwrap());
    assert!(a.reserve_login("u1", next_window, next_window - 900_000, 5).await.unwrap());
}

async fn totp_steps_are_spent_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = open(backend, &dir, "totp").await;
    a.insert_user(&user("u1", "wang")).await.unwrap();
    assert!(a.set_pending_totp("u1", "SECRET").await.unwrap());
    assert!(!a.confirm_totp("u1", "OTHER", 100).await.unwrap(), "only the pending secret is confirmed");
    assert!(a.confirm_totp("u1", "SECRET", 100).await.unwrap());
    assert!(!a.set_pending_totp("u1", "NEW").await.unwrap(), "a confirmed secret is reset first");
    let tries = (0..10).map(|i| {
        let index = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { index.use_totp_step("u1", 101).await.unwrap() })
    });
    let mut spent = 0;
    for t in tries {
        spent += t.await.unwrap() as usize;
    }
    assert_eq!(spent, 1, "one code, one use");
    assert!(!a.use_totp_step("u1", 100).await.unwrap(), "an earlier step is spent too");
    assert!(a.reset_totp("u1").await.unwrap());
    assert!(a.set_pending_totp("u1", "NEW").await.unwrap());
}

async fn sessions_end_one_by_one_and_with_their_account(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = open(backend, &dir, "sessions").await;
    index.insert_user(&user("u1", "wang")).await.unwrap();
    let session = |digest: &str, id: &str| SessionRow {
        token_digest: digest.into(),
        session_id: id.into(),
        user_id: "u1".into(),
        created_ms: 1000,
        last_seen_ms: 1000,
        idle_expires_ms: 2000,
        absolute_expires_ms: 5000,
        client: "127.0.0.1".into(),
        user_agent: "test".into(),
        ..Default::default()
    };
    for (d, id) in [("d1", "s1"), ("d2", "s2"), ("d3", "s3")] {
        index.insert_session(&session(d, id)).await.unwrap();
    }
    assert_eq!(index.open_sessions(1500, 100).await.unwrap().len(), 3);
    assert!(index.open_sessions(2500, 100).await.unwrap().is_empty(), "idle ones are not open");
    index.touch_session("d1", 1900, 2900).await.unwrap();
    assert_eq!(index.open_sessions(2500, 100).await.unwrap()[0].session_id, "s1");
    assert!(index.revoke_session("d1", 2000).await.unwrap());
    assert!(!index.revoke_session("d1", 2000).await.unwrap());
    assert!(index.revoke_session_by_id("s2", 2000).await.unwrap());
    assert_eq!(index.session_by_id("s2").await.unwrap().unwrap().revoked_ms, Some(2000));
    assert!(index.set_user_disabled("u1", true, 2100).await.unwrap());
    assert_eq!(index.session("d3").await.unwrap().unwrap().revoked_ms, Some(2100), "disabling ends the account's sessions");
    assert!(index.user("u1").await.unwrap().unwrap().disabled);
    // A password change ends every session but the one it names.
    index.set_user_disabled("u1", false, 2200).await.unwrap();
    index.insert_session(&session("d4", "s4")).await.unwrap();
    index.insert_session(&session("d5", "s5")).await.unwrap();
    assert!(index.set_password("u1", "$argon2id$new", 2300, Some("d5")).await.unwrap());
    assert!(index.session("d4").await.unwrap().unwrap().revoked_ms.is_some());
    assert!(index.session("d5").await.unwrap().unwrap().revoked_ms.is_none());
    assert_eq!(index.revoke_user_sessions("u1", 2400).await.unwrap(), 1);
}

async fn oidc_logins_answer_once_and_are_bounded(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = open(backend, &dir, "oidc").await;
    let login = |state: &str, at: i64| OidcLogin {
        state_digest: state.into(),
        provider: "corp".into(),
        nonce: "n".into(),
        verifier: "v".into(),
        created_ms: at,
    };
    assert!(index.insert_oidc_login(&login("s1", 1000), 0, 2).await.unwrap());
    assert!(index.insert_oidc_login(&login("s2", 1000), 0, 2).await.unwrap());
    assert!(!index.insert_oidc_login(&login("s3", 1000), 0, 2).await.unwrap(), "at most two waiting");
    assert!(index.insert_oidc_login(&login("s3", 2000), 1500, 2).await.unwrap(), "expired ones make room");
    assert!(index.take_oidc_login("s1").await.unwrap().is_none(), "expired and dropped");
    assert_eq!(index.take_oidc_login("s3").await.unwrap().unwrap().verifier, "v");
    assert!(index.take_oidc_login("s3").await.unwrap().is_none(), "a state answers once");
}

/// A NUL in a looked-up name (what an HTTP fuzzer sends) finds nothing on
/// SQLite and is refused by PostgreSQL as text it cannot store: an error
/// callers read as an invalid request (`is_invalid_text`), not an outage.
async fn a_nul_in_a_text_value_is_an_invalid_value_not_an_outage(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = open(backend, &dir, "people_nul").await;
    assert!(index.insert_user(&user("u1", "wang")).await.unwrap());
    match (backend, index.user_by_name("wa\0ng").await) {
        (Backend::Sqlite, found) => assert_eq!(found.unwrap(), None),
        (Backend::Postgres, Err(e)) => assert!(e.is_invalid_text(), "{e}"),
        (Backend::Postgres, Ok(found)) => panic!("PostgreSQL stored a NUL: {found:?}"),
    }
    // Other failures are not invalid text.
    assert!(!yunying_index::IndexError::WriterStopped.is_invalid_text());
    assert!(index.user_by_name("wang").await.unwrap().is_some());
}

on_every_backend!(
    a_nul_in_a_text_value_is_an_invalid_value_not_an_outage,
    accounts_are_unique_by_name_and_identity,
    sign_ins_are_counted_before_passwords_are_compared,
    totp_steps_are_spent_once,
    sessions_end_one_by_one_and_with_their_account,
    oidc_logins_answer_once_and_are_bounded,
);
