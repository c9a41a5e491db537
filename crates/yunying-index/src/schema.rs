//! One schema definition for SQLite and PostgreSQL, and its migrations.
//!
//! Migrations are numbered SQL scripts applied in order inside a transaction;
//! `schema_version` records the last one applied. The scripts use `{pk}`
//! for an auto-increment primary key and `{bigint}` for a 64-bit integer,
//! substituted per dialect; everything else is SQL both engines accept.

use sqlx::{AnyPool, AssertSqlSafe};

use crate::Result;
use crate::matching::name_search;

/// The SQL engine behind the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn from_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    /// Statements run on every new connection.
    ///
    /// SQLite: WAL so readers never block the writer; `synchronous=FULL` so
    /// every commit is fsynced (the durability contract); a busy timeout for
    /// readers racing a checkpoint.
    pub(crate) fn connection_pragmas(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                // DICOM matching of text is case-sensitive (as in PostgreSQL);
                // names are matched on lower-cased columns.
                "PRAGMA case_sensitive_like=ON",
                "PRAGMA busy_timeout=10000",
            ],
            Dialect::Postgres => &[],
        }
    }

    /// Begin a transaction that will write. SQLite: `BEGIN IMMEDIATE`, so
    /// the write lock is taken up front and waits (busy timeout) for another
    /// writer instead of failing when a read transaction cannot upgrade.
    pub(crate) async fn begin_write(self, pool: &AnyPool) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self {
            Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => pool.begin().await,
        }
    }

    fn substitute(self, sql: &str) -> String {
        let (pk, bigint) = match self {
            Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
            Dialect::Postgres => ("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT"),
        };
        let blob = match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        };
        sql.replace("{pk}", pk).replace("{bigint}", bigint).replace("{blob}", blob)
    }
}

/// The migrations, oldest first. Never edit one that has shipped; add another.
const MIGRATIONS: &[&str] = &[
    // 1: the four DICOM levels.
    r#"
CREATE TABLE patients (
    id {pk},
    issuer TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL DEFAULT '',
    patient_birth_date TEXT NOT NULL DEFAULT '',
    patient_sex TEXT NOT NULL DEFAULT '',
    UNIQUE (issuer, patient_id)
);
CREATE TABLE studies (
    id {pk},
    patient_pk {bigint} NOT NULL REFERENCES patients (id),
    study_instance_uid TEXT NOT NULL UNIQUE,
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    study_description TEXT NOT NULL DEFAULT '',
    referring_physician_name TEXT NOT NULL DEFAULT '',
    institution_name TEXT NOT NULL DEFAULT '',
    issuer TEXT NOT NULL,
    num_series {bigint} NOT NULL DEFAULT 0,
    num_instances {bigint} NOT NULL DEFAULT 0,
    modalities_in_study TEXT NOT NULL DEFAULT '',
    updated_at_ms {bigint} NOT NULL DEFAULT 0
);
CREATE INDEX studies_patient ON studies (patient_pk);
CREATE INDEX studies_date ON studies (study_date);
CREATE INDEX studies_accession ON studies (accession_number);
CREATE TABLE series (
    id {pk},
    study_pk {bigint} NOT NULL REFERENCES studies (id),
    series_instance_uid TEXT NOT NULL UNIQUE,
    modality TEXT NOT NULL DEFAULT '',
    series_number {bigint},
    series_description TEXT NOT NULL DEFAULT '',
    body_part_examined TEXT NOT NULL DEFAULT '',
    series_date TEXT NOT NULL DEFAULT '',
    series_time TEXT NOT NULL DEFAULT '',
    num_instances {bigint} NOT NULL DEFAULT 0
);
CREATE INDEX series_study ON series (study_pk);
CREATE TABLE instances (
    id {pk},
    series_pk {bigint} NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT NOT NULL UNIQUE,
    sop_class_uid TEXT NOT NULL,
    instance_number {bigint},
    number_of_frames {bigint},
    rows_ {bigint},
    columns_ {bigint},
    content_date TEXT NOT NULL DEFAULT '',
    content_time TEXT NOT NULL DEFAULT '',
    specific_character_set TEXT NOT NULL DEFAULT '',
    transfer_syntax_uid TEXT NOT NULL,
    calling_ae TEXT NOT NULL DEFAULT '',
    issuer TEXT NOT NULL,
    received_at_ms {bigint} NOT NULL,
    size_bytes {bigint} NOT NULL,
    digest TEXT NOT NULL,
    object_key TEXT NOT NULL
);
CREATE INDEX instances_series ON instances (series_pk);
"#,
    // 2: metadata built at ingest, and normalised person names for matching.
    r#"
CREATE TABLE instance_data (
    instance_pk {bigint} PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    metadata {blob} NOT NULL,
    pixel_layout TEXT NOT NULL DEFAULT ''
);
ALTER TABLE patients ADD COLUMN name_alphabetic TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN name_ideographic TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN name_phonetic TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN name_words TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN referring_alphabetic TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN referring_ideographic TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN referring_phonetic TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN referring_words TEXT NOT NULL DEFAULT '';
CREATE INDEX patients_patient_id ON patients (patient_id);
CREATE INDEX series_modality ON series (modality);
"#,
    // 3: the AE registry (C-MOVE destinations, storage commitment requesters).
    r#"
CREATE TABLE remote_aes (
    ae_title TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    institution TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL DEFAULT ''
);
"#,
    // 4: renditions and their durable job queue.
    r#"
CREATE TABLE rendition_jobs (
    instance_pk {bigint} PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before_ms {bigint} NOT NULL DEFAULT 0,
    enqueued_ms {bigint} NOT NULL DEFAULT 0,
    finished_ms {bigint} NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rendition_jobs_due ON rendition_jobs (state, not_before_ms);
CREATE TABLE renditions (
    instance_pk {bigint} NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    frame INTEGER NOT NULL DEFAULT 0,
    object_key TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes {bigint} NOT NULL,
    PRIMARY KEY (instance_pk, kind, frame)
);
INSERT INTO rendition_jobs (instance_pk, enqueued_ms) SELECT id, received_at_ms FROM instances WHERE rows_ IS NOT NULL
"#,
    // 5: cloud films, their verified sessions and their event records.
    r#"
CREATE TABLE films (
    id {pk},
    film_id TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    parent_film_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    studies TEXT NOT NULL,
    issuer TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    recipient TEXT NOT NULL DEFAULT '',
    purpose TEXT NOT NULL DEFAULT '',
    created_at_ms {bigint} NOT NULL,
    expires_at_ms {bigint} NOT NULL,
    revoked_at_ms {bigint},
    max_views {bigint},
    views {bigint} NOT NULL DEFAULT 0,
    download {bigint} NOT NULL DEFAULT 0,
    verify_method TEXT NOT NULL,
    verify_hash TEXT NOT NULL DEFAULT '',
    verify_hint TEXT NOT NULL DEFAULT '',
    code_expires_ms {bigint},
    code_sent_ms {bigint},
    failed_attempts {bigint} NOT NULL DEFAULT 0,
    locked_at_ms {bigint}
);
CREATE INDEX films_parent ON films (parent_film_id);
CREATE TABLE film_sessions (
    session_hash TEXT PRIMARY KEY,
    film_id TEXT NOT NULL REFERENCES films (film_id),
    created_at_ms {bigint} NOT NULL,
    expires_at_ms {bigint} NOT NULL
);
CREATE TABLE film_events (
    seq {pk},
    film_id TEXT NOT NULL,
    studies TEXT NOT NULL DEFAULT '',
    at_ms {bigint} NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX film_events_film ON film_events (film_id, seq);
CREATE INDEX film_events_client ON film_events (client, event, at_ms)
"#,
    // 6: reports on films: whether the study's own (PDF, SR) are shown, and
    // one uploaded through the API.
    r#"
ALTER TABLE films ADD COLUMN report {bigint} NOT NULL DEFAULT 1;
ALTER TABLE films ADD COLUMN report_key TEXT NOT NULL DEFAULT '';
ALTER TABLE films ADD COLUMN report_type TEXT NOT NULL DEFAULT ''
"#,
    // 7: rendition jobs in two stages: thumbnails and previews first, the
    // lossless copy after (and after every waiting first stage).
    r#"
ALTER TABLE rendition_jobs ADD COLUMN stage TEXT NOT NULL DEFAULT 'previews'
"#,
    // 8: what each registered AE may do when it calls (C-STORE, C-FIND,
    // C-MOVE, C-GET, storage commitment). AEs registered before keep every
    // right they had (any caller could do everything then).
    r#"
ALTER TABLE remote_aes ADD COLUMN rights TEXT NOT NULL DEFAULT 'store,find,move,get,commit'
"#,
    // 9: sliding-window limits shared by every node: film verification
    // attempts per client address, imports per film (`attempts.rs`).
    r#"
CREATE TABLE rate_slots (
    id {pk},
    slot_key TEXT NOT NULL,
    at_ms {bigint} NOT NULL
);
CREATE INDEX rate_slots_key ON rate_slots (slot_key, at_ms)
"#,
    // 10: named leases, for chores one node at a time does (`leases.rs`).
    r#"
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms {bigint} NOT NULL
)
"#,
    // 11: the access layer: grants of studies beyond a principal's own
    // institution, API keys (digests only), and access events (append-only,
    // numbered by `seq`, for the audit ledger to chain).
    r#"
CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    grantor TEXT NOT NULL,
    grantee_kind TEXT NOT NULL,
    grantee TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    not_before_ms {bigint} NOT NULL,
    not_after_ms {bigint} NOT NULL,
    revoked_ms {bigint},
    revoked_by TEXT
);
CREATE INDEX grants_grantee ON grants (grantee_kind, grantee);
CREATE TABLE grant_studies (
    grant_id TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    PRIMARY KEY (grant_id, study_instance_uid)
);
CREATE INDEX grant_studies_study ON grant_studies (study_instance_uid);
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    name TEXT NOT NULL,
    institution TEXT,
    scopes TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    created_by TEXT NOT NULL,
    last_used_ms {bigint},
    revoked_ms {bigint}
);
CREATE TABLE access_events (
    seq {pk},
    at_ms {bigint} NOT NULL,
    principal TEXT NOT NULL,
    event TEXT NOT NULL,
    studies TEXT NOT NULL,
    via TEXT NOT NULL,
    client TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL
)
"#,
    // 12: people: local and OpenID Connect accounts with their roles, the
    // second factor and the lockout counters, browser sessions (digests of
    // their tokens only), and sign-ins waiting for an identity provider.
    r#"
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    institution TEXT,
    password_hash TEXT,
    totp_secret TEXT,
    totp_confirmed {bigint} NOT NULL DEFAULT 0,
    totp_last_step {bigint} NOT NULL DEFAULT 0,
    roles TEXT NOT NULL DEFAULT '',
    disabled {bigint} NOT NULL DEFAULT 0,
    failed_logins {bigint} NOT NULL DEFAULT 0,
    failed_since_ms {bigint} NOT NULL DEFAULT 0,
    locked_until_ms {bigint},
    oidc_issuer TEXT,
    oidc_subject TEXT,
    created_ms {bigint} NOT NULL,
    created_by TEXT NOT NULL,
    password_changed_ms {bigint},
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE INDEX users_institution ON users (institution);
CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    last_seen_ms {bigint} NOT NULL,
    idle_expires_ms {bigint} NOT NULL,
    absolute_expires_ms {bigint} NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    enrolment_only {bigint} NOT NULL DEFAULT 0,
    revoked_ms {bigint}
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE oidc_logins (
    state_digest TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    created_ms {bigint} NOT NULL
);
CREATE INDEX oidc_logins_created ON oidc_logins (created_ms)
"#,
    // 13: the SHA-256 of the TLS client certificate an AE must present
    // (lower-case hex; NULL: none is required), `ae_certificates.rs`.
    r#"
ALTER TABLE remote_aes ADD COLUMN cert_sha256 TEXT
"#,
    // 14: a film's studies, one row each (`FILM_STUDIES`).
    FILM_STUDIES,
    LEDGER,
    // 16: the SM3 (GB/T 32905) of each stored object, hex, computed at
    // ingest beside the SHA-256; NULL for rows from before (unknown).
    r#"
ALTER TABLE instances ADD COLUMN sm3 TEXT
"#,
    // 17: retention (`retention.rs`): a study's patient class, the policy
    // table, legal holds, two-person deletion requests and what each names,
    // objects of rejected (IOCM) instances kept out of every read path
    // until their deletion is approved, and the objects a committed purge
    // still has to delete from the store.
    r#"
ALTER TABLE studies ADD COLUMN patient_class TEXT NOT NULL DEFAULT '';
CREATE TABLE retention_policies (
    institution TEXT NOT NULL,
    patient_class TEXT NOT NULL,
    keep_years {bigint} NOT NULL,
    set_by TEXT NOT NULL,
    set_ms {bigint} NOT NULL,
    PRIMARY KEY (institution, patient_class)
);
CREATE TABLE legal_holds (
    hold_id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    patient_id TEXT NOT NULL DEFAULT '',
    study_instance_uid TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_ms {bigint} NOT NULL,
    lifted_by TEXT,
    lifted_ms {bigint}
);
CREATE INDEX legal_holds_patient ON legal_holds (issuer, patient_id);
CREATE INDEX legal_holds_study ON legal_holds (study_instance_uid);
CREATE TABLE deletion_requests (
    request_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    institution TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_ms {bigint} NOT NULL,
    expires_ms {bigint} NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    decided_by TEXT,
    decided_ms {bigint},
    note TEXT NOT NULL DEFAULT '',
    executed_ms {bigint}
);
CREATE INDEX deletion_requests_state ON deletion_requests (state);
CREATE TABLE deletion_targets (
    request_id TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, study_instance_uid, series_instance_uid, sop_instance_uid)
);
CREATE INDEX deletion_targets_study ON deletion_targets (study_instance_uid);
CREATE TABLE withheld_objects (
    object_key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL
);
CREATE INDEX withheld_objects_request ON withheld_objects (request_id);
CREATE TABLE purge_queue (
    object_key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    queued_ms {bigint} NOT NULL
)
"#,
    WITNESSES,
    LEDGER_ROLE,
    LEDGER_BY_LEAF,
    // 21: the instances whose SM3 is still to be computed.
    "CREATE INDEX instances_sm3_pending ON instances (id) WHERE sm3 IS NULL",
    EMPI,
    // 23: mutual recognition (`recognition.rs`): the catalogue per region
    // (each item as JSON), quality (HR) marks, the items of each study,
    // orders with the candidates offered, and decisions (versioned: an
    // amendment keeps the earlier ones). Candidates and decisions carry
    // region, institution, department, doctor, item, month and price, so
    // statistics read each table by an index alone (every column the
    // statistics group, filter or sum on is in it: index-only scans), by
    // month for the region, by institution for its administrators.
    r#"
CREATE TABLE recognition_items (
    region TEXT NOT NULL,
    item_code TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ms {bigint} NOT NULL,
    PRIMARY KEY (region, item_code)
);
CREATE TABLE recognition_marks (
    id {pk},
    institution TEXT NOT NULL,
    item_code TEXT NOT NULL,
    passed {bigint} NOT NULL,
    scope TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT NOT NULL
);
CREATE INDEX recognition_marks_institution ON recognition_marks (institution, item_code);
CREATE TABLE recognition_study_items (
    study_instance_uid TEXT NOT NULL,
    item_code TEXT NOT NULL,
    hr {bigint} NOT NULL,
    hr_scope TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (study_instance_uid, item_code)
);
CREATE INDEX recognition_study_items_item ON recognition_study_items (item_code);
CREATE TABLE recognition_orders (
    id {pk},
    order_id TEXT NOT NULL UNIQUE,
    his_order_id TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL,
    item_code TEXT NOT NULL,
    order_date TEXT NOT NULL,
    institution TEXT NOT NULL,
    department TEXT NOT NULL,
    doctor TEXT NOT NULL,
    created_ms {bigint} NOT NULL
);
CREATE UNIQUE INDEX recognition_orders_his ON recognition_orders (institution, his_order_id, item_code) WHERE his_order_id <> '';
CREATE TABLE recognition_candidates (
    id {pk},
    order_id TEXT NOT NULL REFERENCES recognition_orders (order_id),
    study_instance_uid TEXT NOT NULL,
    offer_rank {bigint} NOT NULL,
    source_institution TEXT NOT NULL,
    study_date TEXT NOT NULL,
    age_days {bigint} NOT NULL,
    hr {bigint} NOT NULL,
    hr_scope TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL,
    institution TEXT NOT NULL,
    department TEXT NOT NULL,
    doctor TEXT NOT NULL,
    item_code TEXT NOT NULL,
    month TEXT NOT NULL,
    price_fen {bigint} NOT NULL,
    UNIQUE (order_id, study_instance_uid)
);
CREATE INDEX recognition_candidates_month ON recognition_candidates (month, region, institution, department, doctor, item_code);
CREATE INDEX recognition_candidates_institution ON recognition_candidates (institution, month, department, doctor, item_code);
CREATE TABLE recognition_decisions (
    id {pk},
    order_id TEXT NOT NULL REFERENCES recognition_orders (order_id),
    study_instance_uid TEXT NOT NULL,
    version {bigint} NOT NULL,
    is_current {bigint} NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    patient_informed {bigint} NOT NULL,
    reexam_order_id TEXT NOT NULL DEFAULT '',
    doctor TEXT NOT NULL,
    department TEXT NOT NULL,
    institution TEXT NOT NULL,
    region TEXT NOT NULL,
    item_code TEXT NOT NULL,
    month TEXT NOT NULL,
    price_fen {bigint} NOT NULL,
    opened_ms {bigint} NOT NULL,
    decided_ms {bigint} NOT NULL,
    amend_note TEXT NOT NULL DEFAULT '',
    UNIQUE (order_id, study_instance_uid, version)
);
CREATE UNIQUE INDEX recognition_decisions_current ON recognition_decisions (order_id, study_instance_uid) WHERE is_current = 1;
CREATE INDEX recognition_decisions_month ON recognition_decisions
    (is_current, month, region, institution, department, doctor, item_code, reason, outcome, price_fen, opened_ms);
CREATE INDEX recognition_decisions_institution ON recognition_decisions
    (institution, is_current, month, department, doctor, item_code, reason, outcome, price_fen, opened_ms)
"#,
    // 24: every recognition decision goes to its institution's HIS (a
    // webhook): the decisions table is the outbox. Not notified yet:
    // `notified_ms IS NULL`, tried again from `notify_next_ms`.
    r#"
ALTER TABLE recognition_decisions ADD COLUMN notified_ms {bigint};
ALTER TABLE recognition_decisions ADD COLUMN notify_attempts {bigint} NOT NULL DEFAULT 0;
ALTER TABLE recognition_decisions ADD COLUMN notify_next_ms {bigint} NOT NULL DEFAULT 0;
ALTER TABLE recognition_decisions ADD COLUMN notify_error TEXT NOT NULL DEFAULT '';
CREATE INDEX recognition_decisions_unnotified ON recognition_decisions (institution, notify_next_ms) WHERE notified_ms IS NULL
"#,
    // 25: how far a background pass has read (`cursors.rs`), such as the
    // recognition classifier's last instance.
    "CREATE TABLE cursors (name TEXT PRIMARY KEY, value {bigint} NOT NULL)",
    // 26: EMPI identities by birth date, the block of a demographic query
    // (`empi_block.rs`, PDQm `$match`).
    "CREATE INDEX empi_identities_birth ON empi_identities (birth_date)",
    // 27: index totals kept by triggers (`totals.rs`, made by the hook):
    // `/metrics` reads a few rows instead of counting every table.
    TOTALS,
    // 28: how far a background pass over the object store has listed
    // (`references.rs`): the last object key, for the sweep of
    // unreferenced objects.
    "CREATE TABLE key_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // 29: storage commitment requests whose report is owed (`commitments.rs`).
    crate::commitments::COMMITMENT_REQUESTS,
    // 30: remote reading (`reading/`): relationships, templates, requests,
    // report versions, the outbox of deliveries.
    crate::reading::READING,
    // 31: a request's grants found by their grantor (`reading:<id>`, not
    // every grant of the reading centre), and the worklist by status.
    "CREATE INDEX grants_grantor ON grants (grantor);
CREATE INDEX reading_requests_status ON reading_requests (reading, status, priority_rank, created_ms)",
    // 32: the viewer's settings the administrators edit (`viewer_settings.rs`),
    // such as the hanging protocols: one JSON body by name.
    "CREATE TABLE viewer_settings (name TEXT PRIMARY KEY, body TEXT NOT NULL, updated_ms {bigint} NOT NULL, updated_by TEXT NOT NULL)",
];

/// Migration 27's marker; the hook makes the table and the triggers.
const TOTALS: &str = "SELECT 1 -- index totals kept by triggers";

/// Migration 22: the patient index across institutions (EMPI). Every
/// (issuer, Patient ID) identity as it came (DICOM is never rewritten),
/// the person it belongs to (NULL: not linked yet, the linker's queue),
/// the keyed digests of its national ID / insurance code / phone (never
/// the numbers: `ids_masked` is what is shown), every move of an identity
/// between persons (`empi_history`, grouped by operation so an unmerge
/// undoes exactly one), and the review queue.
const EMPI: &str = r#"
CREATE TABLE empi_persons (
    id {pk},
    created_ms {bigint} NOT NULL
);
CREATE TABLE empi_identities (
    id {pk},
    issuer TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    person_pk {bigint} REFERENCES empi_persons (id),
    name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT '',
    ids_masked TEXT NOT NULL DEFAULT '',
    phone_digest TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    decision TEXT NOT NULL DEFAULT '',
    updated_ms {bigint} NOT NULL,
    UNIQUE (issuer, patient_id)
);
CREATE INDEX empi_identities_person ON empi_identities (person_pk);
CREATE INDEX empi_identities_unlinked ON empi_identities (id) WHERE person_pk IS NULL;
CREATE TABLE empi_identity_digests (
    identity_pk {bigint} NOT NULL REFERENCES empi_identities (id),
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    UNIQUE (identity_pk, kind, digest)
);
CREATE INDEX empi_digests_digest ON empi_identity_digests (digest);
CREATE TABLE empi_history (
    id {pk},
    op TEXT NOT NULL,
    at_ms {bigint} NOT NULL,
    action TEXT NOT NULL,
    identity_pk {bigint} NOT NULL REFERENCES empi_identities (id),
    from_person {bigint},
    to_person {bigint},
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    undone_by TEXT
);
CREATE INDEX empi_history_op ON empi_history (op);
CREATE INDEX empi_history_identity ON empi_history (identity_pk);
CREATE TABLE empi_reviews (
    id {pk},
    identity_pk {bigint} NOT NULL REFERENCES empi_identities (id),
    reason TEXT NOT NULL,
    candidates TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    decided_ms {bigint},
    decision TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX empi_reviews_open ON empi_reviews (id) WHERE decided_ms IS NULL
"#;

/// Migration 20: the search rows of the ledger by leaf, so `audit verify` reads those of
/// a page of entries by a range of the index instead of scanning (and
/// sorting) the whole table for every page.
const LEDGER_BY_LEAF: &str = r#"
CREATE INDEX ledger_studies_leaf ON ledger_studies (leaf_index, study_instance_uid);
CREATE INDEX ledger_patients_leaf ON ledger_patients (leaf_index, patient_digest)
"#;

/// Migration 14: a film's studies in a table of their own, so the films of
/// a study are found by equality on an indexed column instead of `LIKE`
/// patterns over a comma-joined list (where a UID that is a prefix of
/// another could match, and every lookup scanned `films`). `position` keeps
/// the film's order: the first study is the one the film was made of.
/// `films.studies` stays (a shipped migration is never edited, and a
/// previous binary sharing the database still reads it) but is no longer
/// read; `backfill_film_studies` fills the table from it.
const FILM_STUDIES: &str = r#"
CREATE TABLE film_studies (
    film_id TEXT NOT NULL REFERENCES films (film_id),
    study_instance_uid TEXT NOT NULL,
    position {bigint} NOT NULL,
    PRIMARY KEY (film_id, study_instance_uid)
);
CREATE INDEX film_studies_study ON film_studies (study_instance_uid)
"#;

/// Migration 15: the audit ledger. Any node appends events to
/// `audit_pending`; the one sequencer (a lease) moves them, in order, into
/// `ledger_entries` with dense leaf indices, the leaves of the Merkle tree
/// whose signed checkpoints are `ledger_checkpoints`. Studies and patient
/// digests of each entry are kept beside it for the audit views. The
/// ledger tables refuse UPDATE and DELETE ([`ledger_append_only`]).
const LEDGER: &str = r#"
CREATE TABLE audit_pending (
    id {pk},
    at_ms {bigint} NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE ledger_entries (
    leaf_index {bigint} PRIMARY KEY,
    at_ms {bigint} NOT NULL,
    event TEXT NOT NULL,
    principal TEXT NOT NULL,
    institution TEXT NOT NULL,
    result TEXT NOT NULL,
    leaf_hash TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX ledger_entries_at ON ledger_entries (at_ms);
CREATE INDEX ledger_entries_principal ON ledger_entries (principal, leaf_index);
CREATE TABLE ledger_studies (
    leaf_index {bigint} NOT NULL,
    study_instance_uid TEXT NOT NULL,
    PRIMARY KEY (study_instance_uid, leaf_index)
);
CREATE TABLE ledger_patients (
    leaf_index {bigint} NOT NULL,
    patient_digest TEXT NOT NULL,
    PRIMARY KEY (patient_digest, leaf_index)
);
CREATE TABLE ledger_checkpoints (
    tree_size {bigint} PRIMARY KEY,
    root_hash TEXT NOT NULL,
    at_ms {bigint} NOT NULL,
    note TEXT NOT NULL
)
"#;

/// Migration 18: witnesses (`witnesses.rs`). `ledger_cosignatures` keeps
/// every verified cosignature a witness returned for one of this log's
/// checkpoints (append-only, like the ledger); `witness_exports` is how far
/// each configured witness has been sent; `witness_logs` is this node's
/// state as a witness of other logs (per origin, the latest cosigned size,
/// root and note), advanced by compare-and-swap.
const WITNESSES: &str = r#"
CREATE TABLE ledger_cosignatures (
    tree_size {bigint} NOT NULL,
    witness TEXT NOT NULL,
    signature_line TEXT NOT NULL,
    at_ms {bigint} NOT NULL,
    PRIMARY KEY (tree_size, witness, signature_line)
);
CREATE TABLE witness_exports (
    witness TEXT PRIMARY KEY,
    tree_size {bigint} NOT NULL,
    at_ms {bigint} NOT NULL
);
CREATE TABLE witness_logs (
    origin TEXT PRIMARY KEY,
    tree_size {bigint} NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    at_ms {bigint} NOT NULL
)
"#;

/// Migration 19: the role the ledger is written through on PostgreSQL
/// (`ledger_role.rs`, made by the hook); nothing on SQLite.
const LEDGER_ROLE: &str = "SELECT 1 -- the ledger writer role";

/// The ledger's tables refuse UPDATE and DELETE, on either engine (a
/// database owner can still drop the trigger: `audit verify` is what
/// catches a change, this keeps honest code and mistakes out).
async fn ledger_append_only(tx: &mut sqlx::Transaction<'static, sqlx::Any>, dialect: Dialect) -> Result<()> {
    append_only(tx, dialect, &["ledger_entries", "ledger_studies", "ledger_patients", "ledger_checkpoints"]).await
}

/// `tables` refuse UPDATE and DELETE (the trigger function is made, or
/// replaced, on PostgreSQL).
async fn append_only(tx: &mut sqlx::Transaction<'static, sqlx::Any>, dialect: Dialect, tables: &[&str]) -> Result<()> {
    if dialect == Dialect::Postgres {
        sqlx::query(
            "CREATE OR REPLACE FUNCTION yunying_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'the audit ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME; END $$",
        )
        .execute(&mut **tx)
        .await?;
    }
    for table in tables {
        let sql = match dialect {
            Dialect::Sqlite => format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END"
            ),
            Dialect::Postgres => format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION yunying_append_only()"
            ),
        };
        sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
        if dialect == Dialect::Sqlite {
            let sql = format!(
                "CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// Migration 2 added normalised name columns: fill them for existing rows.
/// (Metadata of existing instances is rebuilt by `yunying reindex`.)
async fn backfill_name_search(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    let patients: Vec<(i64, String)> = sqlx::query_as("SELECT id, patient_name FROM patients").fetch_all(&mut **tx).await?;
    for (id, name) in patients {
        let n = name_search(&name);
        sqlx::query("UPDATE patients SET name_alphabetic = $2, name_ideographic = $3, name_phonetic = $4, name_words = $5 WHERE id = $1")
            .bind(id)
            .bind(n.alphabetic)
            .bind(n.ideographic)
            .bind(n.phonetic)
            .bind(n.words)
            .execute(&mut **tx)
            .await?;
    }
    let studies: Vec<(i64, String)> = sqlx::query_as("SELECT id, referring_physician_name FROM studies").fetch_all(&mut **tx).await?;
    for (id, name) in studies {
        let n = name_search(&name);
        sqlx::query("UPDATE studies SET referring_alphabetic = $2, referring_ideographic = $3, referring_phonetic = $4, referring_words = $5 WHERE id = $1")
            .bind(id).bind(n.alphabetic).bind(n.ideographic).bind(n.phonetic).bind(n.words)
            .execute(&mut **tx).await?;
    }
    Ok(())
}

/// Migration 14 added `film_studies`: fill it from the comma-joined
/// `films.studies` of the films already made (a UID holds no comma).
async fn backfill_film_studies(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    let films: Vec<(String, String)> = sqlx::query_as("SELECT film_id, studies FROM films").fetch_all(&mut **tx).await?;
    for (film_id, studies) in films {
        let mut seen: Vec<&str> = Vec::new();
        for uid in studies.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if seen.contains(&uid) {
                continue;
            }
            sqlx::query("INSERT INTO film_studies (film_id, study_instance_uid, position) VALUES ($1, $2, $3)")
                .bind(film_id.as_str())
                .bind(uid)
                .bind(seen.len() as i64)
                .execute(&mut **tx)
                .await?;
            seen.push(uid);
        }
    }
    Ok(())
}

/// Migration 15 started the ledger: the access events recorded before it
/// become its first events, in their order (the sequencer numbers them).
async fn backfill_ledger(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    type Row = (i64, String, String, String, String, String, String, String);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT at_ms, principal, event, studies, via, client, result, detail FROM access_events ORDER BY seq")
            .fetch_all(&mut **tx)
            .await?;
    for (at_ms, principal, event, studies, via, client, result, detail) in rows {
        let studies: Vec<&str> = studies.split(',').filter(|s| !s.is_empty()).collect();
        let body = serde_json::json!({"v": 1, "at_ms": at_ms, "node": "before-ledger", "event": event, "result": result,
            "principal": principal, "institution": "", "via": via, "client": client, "studies": studies, "patients": [], "detail": detail});
        sqlx::query("INSERT INTO audit_pending (at_ms, body) VALUES ($1, $2)")
            .bind(at_ms)
            .bind(body.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Bring the database to the newest schema.
pub(crate) async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<()> {
    let mut tx = dialect.begin_write(pool).await?;
    if dialect == Dialect::Postgres {
        // Several nodes may start at once on one database: one migrates,
        // the others wait here and then find nothing left to do.
        sqlx::query("SELECT pg_advisory_xact_lock(7349852017)").execute(&mut *tx).await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").execute(&mut *tx).await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version").fetch_one(&mut *tx).await?;
    let current = current.unwrap_or(0) as usize;
    if current > MIGRATIONS.len() {
        return Err(crate::IndexError::NewerSchema { found: current, known: MIGRATIONS.len() });
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(current) {
        let script = dialect.substitute(script);
        for statement in script.split(';') {
            if !statement.trim().is_empty() {
                sqlx::query(AssertSqlSafe(statement.to_string())).execute(&mut *tx).await?;
            }
        }
        if i + 1 == 2 {
            backfill_name_search(&mut tx).await?;
        }
        // By content, not number: the migration's place in the list is
        // settled when concurrent branches merge.
        if script == dialect.substitute(FILM_STUDIES) {
            backfill_film_studies(&mut tx).await?;
        }
        if script == dialect.substitute(LEDGER) {
            ledger_append_only(&mut tx, dialect).await?;
            backfill_ledger(&mut tx).await?;
        }
        if script == dialect.substitute(WITNESSES) {
            append_only(&mut tx, dialect, &["ledger_cosignatures"]).await?;
        }
        if script == dialect.substitute(TOTALS) {
            crate::totals::create(&mut tx, dialect).await?;
        }
        if script == dialect.substitute(LEDGER_ROLE) {
            crate::ledger_role::create(&mut tx, dialect).await?;
        }
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)").bind((i + 1) as i64).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
