//! On PostgreSQL the audit ledger's tables are written through a role of
//! their own, [`LEDGER_WRITER`] (NOLOGIN), which may read them and add rows
//! to them and nothing else: no UPDATE, no DELETE, no TRUNCATE. Every
//! transaction that writes the ledger (sequencing events, adding a signed
//! checkpoint or a witness's cosignature) starts with `SET LOCAL ROLE`, so
//! even a bug or an injected statement in that transaction cannot change
//! what is recorded; the triggers of the ledger migration are a second
//! wall, against the owner too. (`audit verify` is what catches a change
//! made by someone who owns the database.)
//!
//! The role is made by a migration when the connecting role may create
//! roles (a superuser, or `CREATEROLE`). Otherwise the administrator makes
//! it once per cluster (SECURITY.md gives the SQL); until then the
//! ledger is written by the connecting role, with the triggers only, and
//! [`crate::Index::ledger_writer_role`] says so.

use crate::Result;
use crate::schema::Dialect;

/// The PostgreSQL role the ledger is written through.
pub const LEDGER_WRITER: &str = "yunying_ledger_writer";

/// The ledger's tables: the writer role may SELECT and INSERT, no more.
pub(crate) const LEDGER_TABLES: &[&str] =
    &["ledger_entries", "ledger_studies", "ledger_patients", "ledger_checkpoints", "ledger_cosignatures"];

/// Migration hook (PostgreSQL): make the role unless it exists, and give
/// it what ledger writes need. Without the right to create roles or grant,
/// a notice and nothing else (the ledger is then written by the owner).
pub(crate) async fn create(tx: &mut sqlx::Transaction<'static, sqlx::Any>, dialect: Dialect) -> Result<()> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let tables = LEDGER_TABLES.join(", ");
    // One DO block: roles are the cluster's, so two databases migrating at
    // once may both try to create it (the loser sees duplicate_object).
    let sql = format!(
        "DO $$ BEGIN
            BEGIN
                CREATE ROLE {LEDGER_WRITER} NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
            REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM PUBLIC;
            GRANT SELECT, INSERT ON {tables} TO {LEDGER_WRITER};
            GRANT SELECT, DELETE ON audit_pending TO {LEDGER_WRITER};
            GRANT {LEDGER_WRITER} TO CURRENT_USER;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'the role {LEDGER_WRITER} could not be made or granted: the ledger is written by the connecting role (triggers only)';
        END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut **tx).await?;
    Ok(())
}

/// Whether this connection may write the ledger through the role.
pub(crate) async fn usable(pool: &sqlx::AnyPool, dialect: Dialect) -> Result<bool> {
    if dialect != Dialect::Postgres {
        return Ok(false);
    }
    let sql = format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{LEDGER_WRITER}') \
         THEN pg_has_role(CURRENT_USER, '{LEDGER_WRITER}', 'MEMBER') ELSE false END"
    );
    Ok(sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?)
}

/// Enter the writer role for the rest of `tx` (nothing when it is not
/// `usable`, or on SQLite).
pub(crate) async fn enter(tx: &mut sqlx::Transaction<'static, sqlx::Any>, usable: bool) -> Result<()> {
    if usable {
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {LEDGER_WRITER}"))).execute(&mut **tx).await?;
    }
    Ok(())
}
