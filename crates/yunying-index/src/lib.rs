//! The relational index of everything Yunying stores.
//!
//! Four levels, as in DICOM: patient → study → series → instance. A patient
//! is keyed by `(issuer, patient_id)`, where the issuer is the institution
//! that sent the instance: the same PatientID from two hospitals is two
//! patients. Study and series rows carry the aggregates C-FIND and QIDO-RS
//! return (number of series and instances, modalities in study).
//!
//! One SQL dialect-neutral code path runs on SQLite (embedded default, WAL)
//! and PostgreSQL, through sqlx's `Any` driver; the schema is one definition
//! with a handful of dialect substitutions ([`schema`]).
//!
//! Writes go through a single writer task that commits in groups
//! ([`writer`]): every request waits for the transaction that holds it to be
//! durably committed, and concurrent associations share one fsync.
//!
//! Architecture invariant: the index knows nothing of DICOM parsing or
//! object storage. It stores strings and numbers that the archive hands it.

mod ae_certificates;
mod attempts;
mod commitments;
mod cursors;
mod digests;
mod empi;
mod empi_block;
mod films;
mod grants;
mod jobs;
mod leases;
mod ledger;
mod ledger_role;
mod matching;
mod peers;
mod people;
mod person_studies;
mod purge;
mod query;
mod reading;
mod recognition;
mod references;
mod retention;
mod schema;
pub mod search;
mod totals;
mod viewer_settings;
mod witnesses;
mod writer;
pub use writer::GATE_TIMEOUT;

pub use attempts::{Attempts, Verified};
pub use commitments::CommitmentRequest;
pub use digests::PendingDigest;
pub use empi::{DigestRow, HistoryRow, IdentityRow, Move, PersonStudy, ReviewRow};
pub use empi_block::MAX_BLOCK as MAX_EMPI_BLOCK;
pub use films::{Film, FilmEvent};
pub use grants::{AccessEvent, ApiKeyRow, Grant};
pub use jobs::{
    Job, JobCounts, LOSSLESS as JOB_STAGE_LOSSLESS, MAX_ATTEMPTS as JOB_MAX_ATTEMPTS, PREVIEWS as JOB_STAGE_PREVIEWS, ParkedJob, Rendition,
};
pub use ledger::{CheckpointRow, LedgerEntry, LedgerFilter, PendingEvent};
pub use ledger_role::LEDGER_WRITER;
pub use peers::{AeRights, RemoteAe, check_ae_title, check_host};
pub use people::{OidcLogin, SessionRow, UserRow};
pub use query::{IndexCounts, IndexedObject, InstanceData, StoredInstance};
pub use reading::{
    DeliveryRow, Expect, MAX_STATS_ROWS, ReadingRequestRow, ReadingStatsQuery, ReadingStatsRow, ReportRow, RequestUpdate, WorklistQuery,
    WorklistRow,
};
pub use recognition::{
    DecisionToNotify, DecisionWrite, RecognitionCandidateRow, RecognitionDecisionRow, RecognitionMarkRow, RecognitionOrderRow,
    RecognitionStudyRow, StatsDimension, StatsQuery, StatsRow, StudyItemRow,
};
pub use retention::{DeletionRequestRow, DeletionTarget, ExecuteOutcome, HoldRow, PolicyRow, RetentionCandidate};
use schema::Dialect;
pub use viewer_settings::ViewerSetting;
pub use witnesses::{CosignatureRow, WitnessLogRow};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use tokio::sync::{mpsc, oneshot};

/// Errors from the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database rejected or failed an operation.
    #[error("index database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The writer task is gone (the index is shutting down).
    #[error("index writer stopped")]
    WriterStopped,
    /// The instance cannot join the rows it names: its SOP instance, series
    /// or study is another institution's (an instance never moves a study
    /// between institutions, nor replaces another institution's instance).
    #[error("{0}")]
    Conflict(String),
    /// What a request names does not exist (an EMPI operation).
    #[error("not found: {0}")]
    NotFound(String),
    /// The database URL names no supported engine.
    #[error("unsupported index URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The index was migrated by a newer Yunying: this binary does not
    /// know its schema and must not write to it.
    #[error(
        "the index has schema version {found}, newer than this binary's {known}: upgrade this binary (a newer one has already run on this database)"
    )]
    NewerSchema { found: usize, known: usize },
    /// The operation is not made for this index's engine.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The database has no space left (a write failed with a full disk).
    #[error("index database out of space: {0}")]
    Full(String),
    /// The row was not committed because its object did not become
    /// durable ([`Index::insert_when_durable`]).
    #[error("object not stored: {0}")]
    ObjectNotDurable(String),
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

impl IndexError {
    /// Whether the database refused a text value it cannot store:
    /// PostgreSQL takes no NUL character in text (SQLSTATE 22021, and 22P05
    /// for a character its encoding lacks); SQLite takes any. Such a value
    /// names nothing stored, so callers answer it as an invalid request,
    /// never as an outage.
    pub fn is_invalid_text(&self) -> bool {
        match self {
            IndexError::Database(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("22021") | Some("22P05")),
            _ => false,
        }
    }

    /// Whether the database has no space left: SQLite's `SQLITE_FULL`
    /// (13), PostgreSQL's `disk_full` (SQLSTATE 53100), or an I/O error
    /// saying the disk or a quota is full.
    pub fn is_storage_full(&self) -> bool {
        match self {
            IndexError::Full(_) => true,
            IndexError::Database(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("13") | Some("53100")),
            IndexError::Database(sqlx::Error::Io(e)) => {
                matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
            }
            _ => false,
        }
    }
}

/// What callers answer for a value [`IndexError::is_invalid_text`] refuses.
pub const INVALID_TEXT: &str = "a text value holds a character the index cannot store (NUL)";

/// What to do when an instance arrives whose SOP Instance UID is indexed already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Keep the instance stored first; the newcomer is acknowledged and discarded.
    #[default]
    KeepFirst,
    /// The newcomer replaces the stored instance.
    Replace,
}

/// Everything the index records about one stored instance.
///
/// Text is UTF-8, decoded from the dataset's Specific Character Set by the
/// archive. Person names keep all component groups (`Wang^Wei=王^伟`).
/// Empty strings mean "absent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceRecord {
    // Patient level (0010,xxxx); issuer is the sending institution.
    pub issuer: String,
    pub patient_id: String,
    pub patient_name: String,
    pub patient_birth_date: String,
    pub patient_sex: String,
    // Study level.
    pub study_instance_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub accession_number: String,
    pub study_id: String,
    pub study_description: String,
    pub referring_physician_name: String,
    pub institution_name: String,
    // Series level.
    pub series_instance_uid: String,
    pub modality: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub body_part_examined: String,
    pub series_date: String,
    pub series_time: String,
    // Instance level.
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub instance_number: Option<i64>,
    pub number_of_frames: Option<i64>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub content_date: String,
    pub content_time: String,
    pub specific_character_set: String,
    // How it arrived and where it is.
    pub transfer_syntax_uid: String,
    pub calling_ae: String,
    pub received_at_ms: i64,
    pub size_bytes: i64,
    /// Hex SHA-256 of the stored object bytes.
    pub digest: String,
    /// Hex SM3 (GB/T 32905) of the same bytes, computed in the same pass;
    /// `None` when unknown (an index column added later: older rows are NULL).
    pub sm3: Option<String>,
    pub object_key: String,
    /// `inpatient` when the data set says so (an Admission ID or a Current
    /// Patient Location), else empty: the study's class is set once from
    /// the first hint and never lowered (`retention.rs`).
    pub patient_class: String,
    // Built at ingest, opaque to the index.
    /// The instance's metadata (DICOM JSON without bulk data), deflated.
    pub metadata: Vec<u8>,
    /// Where the pixel data's frames are in the object (archive's encoding).
    pub pixel_layout: String,
}

/// What the index did with an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new instance row.
    Inserted,
    /// An instance with this SOP Instance UID was indexed and is kept; the
    /// newcomer's object (if its key differs) is to be deleted by the caller.
    KeptExisting { existing_key: String },
    /// The newcomer replaced an indexed instance; the old object (if its key
    /// differs) is to be deleted by the caller.
    Replaced { old_key: String },
}

/// Handle to the index. Cheap to clone.
#[derive(Clone)]
pub struct Index {
    pool: AnyPool,
    writer: mpsc::Sender<writer::Request>,
    dialect: Dialect,
    url: Arc<str>,
    /// Ledger writes go through [`LEDGER_WRITER`] (PostgreSQL, when the
    /// role exists and this connection may use it).
    ledger_role: bool,
}

impl Index {
    /// Open the embedded SQLite index at `path`, creating it if needed.
    pub async fn open_sqlite(path: &Path) -> Result<Index> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Index::open(&url).await
    }

    /// Open an index by URL (`sqlite://…` or `postgres://…`) and migrate it.
    pub async fn open(url: &str) -> Result<Index> {
        install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| IndexError::UnsupportedUrl(url.to_string()))?;
        let readers = match dialect {
            Dialect::Sqlite => 4,
            Dialect::Postgres => 8,
        };
        let pool = connect(url, dialect, readers).await?;
        schema::migrate(&pool, dialect).await?;
        let ledger_role = ledger_role::usable(&pool, dialect).await?;
        if dialect == Dialect::Postgres && !ledger_role {
            tracing::warn!(
                role = LEDGER_WRITER,
                "the audit ledger is written by the connecting role (append-only triggers only): create the role (SECURITY.md, 'Audit ledger')"
            );
        }
        // SQLite allows one writer: the group-commit task owns a pool of one.
        let write_pool = connect(url, dialect, 1).await?;
        let writer = writer::spawn(write_pool, dialect);
        Ok(Index { pool, writer, dialect, url: url.into(), ledger_role })
    }

    /// The role the audit ledger is written through (PostgreSQL), or
    /// `None` when it is written by the connecting role (SQLite, or a
    /// PostgreSQL role that may not create or use it).
    pub fn ledger_writer_role(&self) -> Option<&'static str> {
        self.ledger_role.then_some(LEDGER_WRITER)
    }

    /// The URL this index was opened with (another handle on the same
    /// database opens it again). May carry a password: never log it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Record an instance whose object is already durable, applying the
    /// duplicate policy. Returns once the row is durably committed.
    pub async fn insert(&self, record: InstanceRecord, policy: DuplicatePolicy) -> Result<InsertOutcome> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(writer::Request::Insert { record: Box::new(record), policy, gate: None, reply })
            .await
            .map_err(|_| IndexError::WriterStopped)?;
        rx.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// [`Index::insert`] for an object being made durable meanwhile: the
    /// row's statements run at once, in the writer's transaction, but it
    /// commits only after `durable` says the object is durable (the flush
    /// and the row's work overlap; the order of what reaches the disk is
    /// the same: object, then row). If `durable` reports a failure, is
    /// dropped, or does not answer within [`GATE_TIMEOUT`], the row is not
    /// committed and this returns [`IndexError::ObjectNotDurable`].
    ///
    /// The writer holds its transaction while it waits: meant for a local
    /// object store, whose flush takes a millisecond, never for a remote
    /// one.
    pub async fn insert_when_durable(
        &self,
        record: InstanceRecord,
        policy: DuplicatePolicy,
        durable: oneshot::Receiver<std::result::Result<(), String>>,
    ) -> Result<InsertOutcome> {
        let (reply, rx) = oneshot::channel();
        let gate = Some(writer::Gate::new(durable));
        self.writer
            .send(writer::Request::Insert { record: Box::new(record), policy, gate, reply })
            .await
            .map_err(|_| IndexError::WriterStopped)?;
        rx.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// Hide rejected instances (IOCM) and open their deletion request, in
    /// one transaction: each instance of `issuer` named in `request`'s
    /// targets leaves every table a read path uses; its objects (original
    /// and renditions) are kept, withheld, until the request is executed.
    /// Returns the SOP Instance UIDs hidden (others' or unknown ones are
    /// skipped); no request is created when none is.
    pub async fn reject_instances(&self, request: DeletionRequestRow, sop_instance_uids: Vec<String>) -> Result<Vec<String>> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(writer::Request::Reject { request: Box::new(request), sop_instance_uids, reply })
            .await
            .map_err(|_| IndexError::WriterStopped)?;
        rx.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// Execute an approved deletion request in one transaction: unless a
    /// study it names is under legal hold (then it is marked `blocked` and
    /// nothing changes), every row of what it names goes, and every object
    /// key those rows held enters the purge queue; the request becomes
    /// `executed`. A request not `approved` is left alone.
    pub async fn execute_deletion(&self, request_id: &str, now_ms: i64) -> Result<ExecuteOutcome> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(writer::Request::Execute { request_id: request_id.to_string(), now_ms, reply })
            .await
            .map_err(|_| IndexError::WriterStopped)?;
        rx.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// Remove every row (used by `reindex` before rebuilding from the store).
    pub async fn clear(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(writer::Request::Clear { reply }).await.map_err(|_| IndexError::WriterStopped)?;
        rx.await.map_err(|_| IndexError::WriterStopped)?
    }

    /// Write a consistent copy of the embedded index to `path`, a file
    /// that must not exist yet. SQLite's `VACUUM INTO` reads in one
    /// transaction: writers go on meanwhile, and the copy holds every row
    /// committed before it began and none after. PostgreSQL has its own
    /// tools (`pg_basebackup`, `pg_dump`): `Unsupported`.
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        if self.dialect != Dialect::Sqlite {
            return Err(IndexError::Unsupported(
                "a copy of a PostgreSQL index is made with PostgreSQL's tools (pg_basebackup with WAL archiving, or pg_dump)",
            ));
        }
        let path = path.to_str().ok_or(IndexError::Unsupported("the copy's path is not UTF-8"))?;
        sqlx::query("VACUUM INTO ?").bind(path).execute(&self.pool).await?;
        Ok(())
    }

    /// Close all connections, waiting for queued writes to finish.
    pub async fn close(self) {
        let Index { pool, writer, .. } = self;
        drop(writer);
        pool.close().await;
    }
}

/// How long a query waits for a connection (a free one, or a new one the
/// database accepts) before it fails: long enough for a burst to queue,
/// short enough that with the database unreachable or at its connection
/// limit a C-STORE is answered (with a failure) before a modality's own
/// DIMSE timeout, often 30 s, gives up on the association.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(url: &str, dialect: Dialect, max: u32) -> Result<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                for pragma in dialect.connection_pragmas() {
                    sqlx::query(*pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        // A transaction the database ended by itself (SQLite rolls back on
        // SQLITE_FULL, a full disk) leaves sqlx's transaction depth behind:
        // the ROLLBACK sqlx then sends fails, and every later BEGIN on that
        // connection is refused. Such a connection is closed, not reused
        // (the ping before this test runs the pending rollback first).
        .before_acquire(|conn, _meta| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(&*conn)) }))
        .connect(url)
        .await?;
    Ok(pool)
}

/// Helpers for tests that run against a real PostgreSQL server (not part of
/// the API). The server is named by `YUNYING_TEST_POSTGRES`, an admin URL
/// such as `postgres://yunying@127.0.0.1:54329/postgres`, which
/// `storage/local-services.sh` starts and exports.
#[doc(hidden)]
pub mod testkit {
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::{AssertSqlSafe, Connection};

    /// The admin URL, or a panic that says how to get one.
    pub fn postgres_admin_url() -> String {
        std::env::var("YUNYING_TEST_POSTGRES").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "this test needs PostgreSQL: run it through scripts/test.sh, or start one with \
                 `eval \"$(storage/local-services.sh start)\"` and run again"
            )
        })
    }

    /// Create a new empty database on the test server and return its URL.
    pub async fn fresh_postgres_database(tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin_url();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(24).collect::<String>().to_lowercase();
        let name = format!("yy_{tag}_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        crate::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        format!("{base}/{name}")
    }
}
