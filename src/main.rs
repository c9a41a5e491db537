//! `yunying`: the regional imaging cloud in one binary.

mod ae;
mod audit;
mod backup;
mod config;
#[cfg(test)]
mod config_keys;
mod datadir;
mod empi;
mod import;
mod keys;
mod logging;
mod memory;
mod recorder;
mod retention;
mod serve;
mod storecrypt;
mod storetools;
mod telemetry;
mod unreferenced;
mod users;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use yunying_archive::Archive;
use yunying_archive::orphans::OrphanAction;

use config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "yunying", version, about = "Yunying (云影): DICOM archive, DICOMweb and cloud film")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the DICOM and HTTP services.
    Serve {
        /// Print the effective configuration (TOML) and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Import DICOM files and folders (recursively) into the archive.
    Import {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Institution code to attribute the files to (issuer of their PatientIDs).
        #[arg(long)]
        institution: Option<String>,
        /// Files imported concurrently.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Rebuild the index from the objects in the store. CLEARS THE INDEX
    /// first (studies, jobs, film and grant rows that point at instances)
    /// unless --missing is given; refused while a server runs on the data
    /// directory.
    Reindex {
        /// Keep the index as it is and only add the originals it lacks
        /// (valid instances no row refers to).
        #[arg(long)]
        missing: bool,
    },
    /// Copy every stored object to another store (filesystem <-> S3),
    /// checking digests; resumable: run it again after an interruption.
    /// Stores are named `fs:PATH` or
    /// `s3://BUCKET/PREFIX?endpoint=URL&renditions=BUCKET/PREFIX` (S3
    /// credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    MigrateStore {
        /// Source store; default: the configured one.
        #[arg(long)]
        from: Option<String>,
        /// The --from store is encrypted under the master keys of
        /// `[store.encryption]`.
        #[arg(long, requires = "from")]
        from_encrypted: bool,
        /// Destination store.
        #[arg(long)]
        to: String,
        /// Encrypt the destination (SM4-GCM) under the master keys of
        /// `[store.encryption]`; then set `enabled = true` and point
        /// `[store]` at it.
        #[arg(long)]
        encrypt: bool,
        /// Objects copied concurrently.
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        /// Copy at most this many objects in this run (run again to go on).
        #[arg(long)]
        limit: Option<u64>,
        /// Skip re-reading the destination against the index afterwards.
        #[arg(long)]
        no_verify: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Re-wrap the data key of every encrypted object under the current
    /// master key (`[store.encryption] key_id`), reading older ones with the
    /// keys listed in `previous`; bodies are not re-encrypted. Resumable.
    RotateStoreKey {
        /// Objects re-wrapped concurrently.
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Re-read every stored object, compare digests with the index, report
    /// missing and corrupt objects (exit status 1 if any remain).
    Verify {
        /// Copy missing or damaged objects back from this store (`fs:PATH`
        /// or `s3://…`), when its copy matches the index.
        #[arg(long)]
        repair_from: Option<String>,
        /// Objects no index row refers to (left by a crash during ingest,
        /// second copies of indexed instances, renditions of deleted
        /// instances): `report` lists them; `adopt` indexes each original
        /// that is a valid instance nobody indexed (as `reindex` would) and
        /// deletes nothing; `delete` adopts those too, then deletes the
        /// rest. Unreferenced objects alone do not make the exit status 1.
        #[arg(long, default_value = "report", value_parser = parse_orphan_action)]
        unreferenced: OrphanAction,
        /// Leave unreferenced objects written less than this many seconds
        /// ago alone (an ingest stores its object before its index row).
        #[arg(long, default_value_t = 3600)]
        grace: u64,
        /// Handle (list, adopt, delete) at most this many unreferenced
        /// objects; the rest are counted (run again to go on).
        #[arg(long, default_value_t = 10_000)]
        max_unreferenced: usize,
        /// Objects checked concurrently.
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        /// The report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Copy the embedded archive (index, objects, key files) to a
    /// directory while it serves: a consistent copy of the index as of the
    /// start, with every object it names. Run again to bring the copy up
    /// to date (only new objects are copied). PostgreSQL and S3 are backed
    /// up with their own tools (docs/en/backup-restore.md).
    Backup {
        /// The backup directory (outside the data directory).
        #[arg(long)]
        to: PathBuf,
        /// Objects copied concurrently.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Bring a backup made by `yunying backup` into the configured data
    /// directory and store (no server running on them), then re-read every
    /// object against the restored index.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// Replace an index already in the data directory, and key files
        /// that differ from the backup's.
        #[arg(long)]
        force: bool,
        /// Objects copied concurrently.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// The AE registry: remote DICOM applications (C-MOVE destinations,
    /// storage commitment requesters) and what each may do when it calls
    /// (C-STORE, C-FIND, C-MOVE, C-GET, storage commitment; C-ECHO is open
    /// to anyone). Shared by every node; a change applies to the next
    /// association.
    Ae {
        #[command(subcommand)]
        command: ae::AeCommand,
    },
    /// API keys for systems (HIS, PACS, OHIF): create, list, revoke.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Accounts of people: the platform's bootstrap (the first
    /// administrators) and a way in when the web is out of reach. Changes
    /// apply to the next request, on every node.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// The audit ledger: verify it, sign a checkpoint, prove entries,
    /// export who reached a study with offline proofs, check proofs.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// One patient across institutions: a person's identities and
    /// studies, merge, unmerge.
    Empi {
        #[command(subcommand)]
        command: empi::EmpiCommand,
    },
    /// Retention: the policy table, a study's patient class, the scan
    /// that asks for the deletion of expired studies.
    Retention {
        #[command(subcommand)]
        command: retention::RetentionCommand,
    },
    /// Legal holds: nothing they cover is ever deleted.
    Hold {
        #[command(subcommand)]
        command: retention::HoldCommand,
    },
    /// Two-person deletion: request, approve, refuse, list.
    Deletion {
        #[command(subcommand)]
        command: retention::DeletionCommand,
    },
    /// Execute approved deletions now and delete their objects (what
    /// `serve` does every `retention.purge_interval_secs`).
    Purge {
        /// List what would be deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The rendition job queue: counts, parked jobs, retry.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Jobs by state (pending, running, done, parked).
    Status,
    /// Jobs that kept failing, with their errors.
    Parked {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue parked jobs again (after fixing their cause).
    Retry,
}

fn main() -> std::process::ExitCode {
    memory::limit_arenas();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A user error is its message and causes, never a backtrace
            // (RUST_BACKTRACE is for panics).
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.overrides)?;
    let files_only =
        matches!(&cli.command, Command::Serve { print_config: true } | Command::Audit { command: audit::AuditCommand::CheckProof { .. } });
    if !files_only {
        datadir::check(&config.data_dir)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Traces are exported by `serve` (`[tracing]`), which flushes them when it stops.
    let traces = config.tracing.as_ref().filter(|_| matches!(cli.command, Command::Serve { print_config: false }));
    {
        let _in_runtime = runtime.enter();
        logging::init(&config.log, traces)?;
    }
    match cli.command {
        Command::Serve { print_config: true } => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::Serve { print_config: false } => runtime.block_on(serve::serve(config)),
        Command::Import { paths, institution, jobs, quiet } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            // An imported rejection note rejects, as one received would.
            let access = access_of(&config, &archive).with_audit(recorder::recorder(&config, archive.index())?);
            yunying_retention::Retention::new(archive.clone(), access, config.retention.clone()).handle_rejections();
            import::run(&archive, &paths, institution, jobs.max(1), quiet).await
        }),
        Command::Reindex { missing } => runtime.block_on(async {
            let _lock = datadir::lock_for_maintenance(&config.data_dir, "reindexing")?;
            let archive = open_archive(&config).await?;
            if missing { import::reindex_missing(&config, &archive).await } else { import::reindex(&archive).await }
        }),
        Command::MigrateStore { from, from_encrypted, to, encrypt, jobs, limit, no_verify, quiet } => {
            runtime.block_on(storetools::migrate(
                &config,
                storetools::MigrateOptions { from, from_encrypted, to, encrypt, jobs: jobs.max(1), limit, verify: !no_verify, quiet },
            ))
        }
        Command::RotateStoreKey { jobs, quiet } => {
            runtime.block_on(storecrypt::rotate(&config, storecrypt::RotateOptions { jobs: jobs.max(1), quiet }))
        }
        Command::Verify { repair_from, unreferenced, grace, max_unreferenced, jobs, json, quiet } => runtime.block_on(storetools::verify(
            &config,
            storetools::VerifyOptions {
                repair_from,
                unreferenced,
                grace: Duration::from_secs(grace),
                max_unreferenced,
                jobs: jobs.max(1),
                json,
                quiet,
            },
        )),
        Command::Backup { to, jobs, quiet } => {
            runtime.block_on(backup::backup(&config, backup::BackupOptions { to, jobs: jobs.max(1), quiet }))
        }
        Command::Restore { from, force, jobs, quiet } => {
            runtime.block_on(backup::restore(&config, backup::RestoreOptions { from, force, jobs: jobs.max(1), quiet }))
        }
        Command::Jobs { command } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            let index = archive.index();
            match command {
                JobsCommand::Status => println!("{}", serde_json::to_string_pretty(&index.job_counts().await?)?),
                JobsCommand::Parked { limit } => println!("{}", serde_json::to_string_pretty(&index.parked_jobs(limit).await?)?),
                JobsCommand::Retry => println!("{} parked jobs queued again", index.retry_parked_jobs().await?),
            }
            index.clone().close().await;
            Ok(())
        }),
        Command::Audit { command } => runtime.block_on(async {
            // Proofs are checked with files alone: no database opened.
            if let audit::AuditCommand::CheckProof { dir, log_key, hash, witness_key, min_cosignatures } = &command {
                return audit::check_proofs(dir, log_key, hash, witness_key, *min_cosignatures);
            }
            let index = storetools::open_index(&config).await?;
            let result = audit::run(&config, &index, command).await;
            index.clone().close().await;
            result
        }),
        Command::Key { command } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            let access = access_of(&config, &archive).with_audit(recorder::recorder(&config, archive.index())?);
            let result = keys::run(&access, command).await;
            archive.index().clone().close().await;
            result
        }),
        Command::User { command } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            let access = access_of(&config, &archive).with_audit(recorder::recorder(&config, archive.index())?);
            let result = users::run(&access, command).await;
            archive.index().clone().close().await;
            result
        }),
        Command::Empi { command } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            let persons = persons_of(&config, &archive, &recorder::recorder(&config, archive.index())?)?;
            let result = empi::run(&persons, command).await;
            archive.index().clone().close().await;
            result
        }),
        Command::Retention { command } => runtime.block_on(with_retention(&config, async |r, a| retention::retention(r, a, command).await)),
        Command::Hold { command } => runtime.block_on(with_retention(&config, async |r, a| retention::hold(r, a, command).await)),
        Command::Deletion { command } => runtime.block_on(with_retention(&config, async |r, a| retention::deletion(r, a, command).await)),
        Command::Purge { dry_run } => runtime.block_on(with_retention(&config, async |r, _| retention::purge(r, dry_run).await)),
        Command::Ae { command } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            let result = ae::run(&config, archive.index(), &recorder::recorder(&config, archive.index())?, command).await;
            archive.index().clone().close().await;
            result
        }),
    }
}

fn parse_orphan_action(text: &str) -> Result<OrphanAction, String> {
    text.parse()
}

async fn open_archive(config: &Config) -> anyhow::Result<Archive> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = storetools::open_store(&config.store, config.data_dir.join("store")).await?;
    let index = storetools::open_index(config).await?;
    let spool = config.data_dir.join("spool");
    std::fs::create_dir_all(&spool).with_context(|| format!("creating the spool directory {}", spool.display()))?;
    Ok(Archive::new(store, index, config.archive.clone(), spool))
}

/// The node's EMPI: its platform key (made on first start), thresholds
/// and where institutions put national IDs.
fn persons_of(
    config: &Config,
    archive: &yunying_archive::Archive,
    audit: &yunying_audit::Audit,
) -> anyhow::Result<yunying_persons::Persons> {
    let path = config.empi.key_path(&config.data_dir);
    let key = yunying_audit::load_or_make_patient_key(&path).with_context(|| format!("EMPI platform key {}", path.display()))?;
    let key = yunying_empi::PlatformKey::new(&key).map_err(|e| anyhow::anyhow!("EMPI platform key: {e}"))?;
    Ok(yunying_persons::Persons::new(archive.index().clone(), key, config.empi.clone(), audit.clone())?)
}

/// Run a retention command on the configured archive, then close it.
async fn with_retention(
    config: &Config,
    run: impl AsyncFnOnce(&yunying_retention::Retention, &yunying_access::Access) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let archive = open_archive(config).await?;
    let access = access_of(config, &archive).with_audit(recorder::recorder(config, archive.index())?);
    let r = yunying_retention::Retention::new(archive.clone(), access.clone(), config.retention.clone());
    let result = run(&r, &access).await;
    archive.index().clone().close().await;
    result
}

/// The access layer, with the static tokens of older configurations
/// (`http.bearer_token`: DICOMweb reads and STOW-RS; `http.api_token`: the
/// film API) accepted as platform-wide credentials.
fn access_of(config: &Config, archive: &yunying_archive::Archive) -> yunying_access::Access {
    use yunying_access::Action::*;
    if config.access.anonymous == yunying_access::Anonymous::Loopback {
        tracing::warn!(
            "access.anonymous = \"loopback\": requests from this machine need no credentials and reach every study (trials and tests only)"
        );
    }
    let mut access = yunying_access::Access::new(archive.index().clone(), config.access.clone());
    if let Some(token) = &config.http.bearer_token {
        access = access.with_configured_token("http.bearer_token", token, &[Search, View, Retrieve, Store]);
    }
    if let Some(token) = &config.http.api_token {
        access = access.with_configured_token("http.api_token", token, &[Films]);
    }
    access
}
