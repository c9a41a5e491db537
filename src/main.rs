//! `yunying`: the regional imaging cloud in one binary.

mod audit;
mod config;
mod empi;
mod import;
mod keys;
mod recorder;
mod retention;
mod storecrypt;
mod storetools;
mod unreferenced;
mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use yunying_archive::Archive;
use yunying_archive::orphans::OrphanAction;
use yunying_index::Index;

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
    /// Rebuild the index from the objects in the store.
    Reindex,
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
    /// The AE registry: remote DICOM applications (C-MOVE destinations,
    /// storage commitment requesters) and what each may do when it calls
    /// (C-STORE, C-FIND, C-MOVE, C-GET, storage commitment; C-ECHO is open
    /// to anyone). Shared by every node; a change applies to the next
    /// association.
    Ae {
        #[command(subcommand)]
        command: AeCommand,
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

#[derive(Subcommand)]
enum AeCommand {
    /// List the registered AEs.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register an AE (or change the one with the same title).
    Add {
        /// AE title (1-16 characters).
        title: String,
        /// Host name or address.
        host: String,
        /// DICOM port.
        port: u16,
        /// Institution code the AE belongs to: its queries and retrievals
        /// reach that institution's studies (and its grants), what it
        /// stores is that institution's.
        #[arg(long, required_unless_present = "platform")]
        institution: Option<String>,
        /// The AE speaks for the whole platform (a regional PACS): its
        /// queries and retrievals reach every study.
        #[arg(long, conflicts_with = "institution")]
        platform: bool,
        /// What the AE may do when it calls from HOST: a comma-separated
        /// subset of store, find, move, get, commit; `none` for a
        /// destination only.
        #[arg(long, default_value = "all", value_parser = parse_rights)]
        allow: yunying_index::AeRights,
        /// SHA-256 of the TLS client certificate the AE must present (hex,
        /// colons allowed: `openssl x509 -noout -fingerprint -sha256`);
        /// without it the AE is treated as unregistered. `none` removes
        /// the binding; not given: the binding stays as it is.
        #[arg(long, value_name = "HEX", value_parser = parse_cert_sha256)]
        cert_sha256: Option<CertBinding>,
    },
    /// Remove an AE.
    Remove { title: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.overrides)?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve { print_config: true } => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::Serve { print_config: false } => runtime.block_on(serve(config)),
        Command::Import { paths, institution, jobs, quiet } => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            // An imported rejection note rejects, as one received would.
            let access = access_of(&config, &archive).with_audit(recorder::recorder(&config, archive.index())?);
            yunying_retention::Retention::new(archive.clone(), access, config.retention.clone()).handle_rejections();
            import::run(&archive, &paths, institution, jobs.max(1), quiet).await
        }),
        Command::Reindex => runtime.block_on(async {
            let archive = open_archive(&config).await?;
            import::reindex(&archive).await
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
            let result = ae(archive.index(), &recorder::recorder(&config, archive.index())?, command).await;
            archive.index().clone().close().await;
            result
        }),
    }
}

async fn ae(index: &Index, audit: &yunying_audit::Audit, command: AeCommand) -> anyhow::Result<()> {
    match command {
        AeCommand::List { json } => {
            let aes = index.remote_aes().await?;
            let certs: std::collections::HashMap<String, String> =
                index.ae_certificates().await?.into_iter().map(|(title, d)| (title, hex::encode(d))).collect();
            if json {
                let mut list = serde_json::to_value(&aes)?;
                for ae in list.as_array_mut().into_iter().flatten() {
                    let cert = ae["ae_title"].as_str().and_then(|t| certs.get(t)).cloned();
                    ae["cert_sha256"] = cert.map_or(serde_json::Value::Null, serde_json::Value::String);
                }
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if aes.is_empty() {
                println!("no AEs registered (add one with `yunying ae add TITLE HOST PORT`)");
            } else {
                println!("{:<16}  {:<32}  {:>5}  {:<26}  institution", "AE title", "host", "port", "allowed");
                for ae in aes {
                    println!("{:<16}  {:<32}  {:>5}  {:<26}  {}", ae.ae_title, ae.host, ae.port, ae.rights.to_string(), ae.institution);
                    if let Some(cert) = certs.get(&ae.ae_title) {
                        println!("{:<16}  certificate SHA-256 {cert}", "");
                    }
                }
            }
        }
        AeCommand::Add { title, host, port, institution, platform: _, allow, cert_sha256 } => {
            let institution = institution.unwrap_or_default();
            let title = title.trim().to_string();
            if title.is_empty() || title.len() > 16 || !title.bytes().all(|b| (0x20..0x7F).contains(&b) && b != b'\\') {
                anyhow::bail!("an AE title is 1 to 16 printable ASCII characters without backslash: {title:?}");
            }
            if host.trim().is_empty() || port == 0 {
                anyhow::bail!("the AE needs a host and a non-zero port");
            }
            let detail = format!("AE {title} at {host}:{port} for {institution:?} may {allow}");
            index.put_remote_ae(&yunying_index::RemoteAe { ae_title: title.clone(), host, port, institution, rights: allow }).await?;
            recorder::cli_event(audit, "ae-registered", &detail).await?;
            if let Some(CertBinding(cert)) = cert_sha256 {
                index.set_ae_certificate(&title, cert).await?;
                let bound = cert.map_or("no certificate".to_string(), |c| format!("certificate SHA-256 {}", hex::encode(c)));
                recorder::cli_event(audit, "ae-certificate-set", &format!("AE {title}: {bound}")).await?;
            }
            println!("registered {title} (allowed: {allow})");
        }
        AeCommand::Remove { title } => {
            if !index.remove_remote_ae(title.trim()).await? {
                anyhow::bail!("no AE titled {:?} is registered", title.trim());
            }
            recorder::cli_event(audit, "ae-removed", &format!("AE {}", title.trim())).await?;
            println!("removed {}", title.trim());
        }
    }
    Ok(())
}

fn parse_orphan_action(text: &str) -> Result<OrphanAction, String> {
    text.parse()
}

/// `--cert-sha256`: a certificate's SHA-256, or none.
#[derive(Clone, Copy)]
struct CertBinding(Option<[u8; 32]>);

fn parse_cert_sha256(text: &str) -> Result<CertBinding, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(CertBinding(None));
    }
    yunying_tls::parse_sha256(text).map(|d| CertBinding(Some(d)))
}

fn parse_rights(text: &str) -> Result<yunying_index::AeRights, String> {
    yunying_index::AeRights::parse(text)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("YUNYING_LOG").unwrap_or_else(|_| EnvFilter::new("info,jpeg2k=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init();
}

async fn open_archive(config: &Config) -> anyhow::Result<Archive> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = storetools::open_store(&config.store, config.data_dir.join("store")).await?;
    let index = storetools::open_index(config).await?;
    let spool = config.data_dir.join("spool");
    std::fs::create_dir_all(&spool).with_context(|| format!("creating the spool directory {}", spool.display()))?;
    Ok(Archive::new(store, index, config.archive.clone(), spool))
}

/// The key phone numbers of SMS films are encrypted with, when the
/// configuration names none: kept in `film.key` in the data directory
/// (made once, readable by the owner only). Nodes sharing a PostgreSQL
/// index must be given one key instead (`YUNYING_FILM_KEY`).
fn film_key(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("film.key");
    match std::fs::read_to_string(&path) {
        Ok(key) => return Ok(key.trim().to_string()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).with_context(|| format!("reading {}", path.display())),
        Err(_) => {}
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let key = hex::encode(rand::random::<[u8; 16]>());
    let tmp = data_dir.join("film.key.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    config.http.validate().map_err(anyhow::Error::msg)?;
    // One node: a key of its own is enough. Several nodes on PostgreSQL
    // must share one, so they get none unless configured (SMS films are
    // then refused with a message saying so).
    if config.http.film.data_key.is_none() && !config.index_url.starts_with("postgres") {
        config.http.film.data_key = Some(film_key(&config.data_dir)?);
    }
    let archive = open_archive(&config).await?;
    // Files a crash left in the spool were never acknowledged. Only `serve`
    // cleans it: other subcommands may run next to a serving process.
    let removed = yunying_store::clean_spool(archive.spool_dir()).context("cleaning the spool directory")?;
    if removed > 0 {
        tracing::info!(files = removed, "removed unacknowledged spool files left by an earlier process");
    }
    let dicom = tokio::net::TcpListener::bind((config.dicom_bind, config.dicom_port))
        .await
        .with_context(|| format!("binding DICOM port {}", config.dicom_port))?;
    let dicom_tls = match &config.dicom.tls {
        None => None,
        Some(tls) => {
            let bind = config.dicom_tls_bind.unwrap_or(config.dicom_bind);
            let tcp = tokio::net::TcpListener::bind((bind, config.dicom_tls_port))
                .await
                .with_context(|| format!("binding DICOM TLS port {}", config.dicom_tls_port))?;
            Some(yunying_dimse::TlsListener::new(tcp, tls).map_err(anyhow::Error::msg)?)
        }
    };
    let http = tokio::net::TcpListener::bind((config.http.bind, config.http_port))
        .await
        .with_context(|| format!("binding HTTP port {}", config.http_port))?;
    let http = yunying_http::HttpListener::new(http, &config.http).map_err(anyhow::Error::msg)?;
    let (dicom_addr, http_addr) = (dicom.local_addr()?, http.local_addr()?);
    let dicom_tls_addr = dicom_tls.as_ref().map(|l| l.local_addr()).transpose()?;
    let scheme = if http.is_tls() { "https" } else { "http" };
    tracing::info!(
        aet = %config.dicom.aet,
        dicom = %dicom_addr,
        dicom_tls = %dicom_tls_addr.map_or("off".to_string(), |a| a.to_string()),
        http = %format!("{scheme}://{http_addr}"),
        data_dir = %config.data_dir.display(),
        store = %config.store.describe(&config.data_dir.join("store")),
        index = %config::redact_url_password(&config.index_url()),
        "Yunying is serving"
    );
    match &config.http.viewer_dir {
        Some(dir) => tracing::info!(viewer = %dir.display(), "web viewer at {scheme}://{http_addr}/viewer/"),
        None => {
            tracing::warn!("web viewer not built (viewer/dist): /viewer/ answers 404; run scripts/demo.sh or `npm run build` in viewer/")
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Descriptors the HTTP connections must leave to the rest: per DICOM
    // association its socket, spool file, object read and C-MOVE
    // sub-associations with theirs; plus the index pool, the store,
    // rendition workers and logs.
    let dicom_fds = config.dicom.max_associations as u64 * (3 + 2 * config.dicom.move_associations as u64);
    let reserved_fds = dicom_fds + 512;
    let nofile = yunying_http::raise_nofile_limit();
    tracing::debug!(nofile, reserved_fds, "open file limit");
    let node = recorder::node_name(&config);
    let sequencer = audit::sequencer(&config, archive.index(), &format!("{node}:{}", std::process::id()))?;
    let ledger =
        yunying_audit::LedgerInfo { alg: config.audit.hash, verifier: audit::signer(&config)?.verifier().clone(), wake: sequencer.waker() };
    let mut audit = recorder::recorder(&config, archive.index())?.with_ledger(ledger);
    // Witnessing other logs' checkpoints (`[[audit.witness_of]]`).
    if !config.audit.witness_of.is_empty() {
        audit = audit.with_witness(audit::witness_service(&config, archive.index())?);
    }
    // The hospital's audit record repository gets every event too.
    let atna = match &config.audit.atna {
        Some(atna) => {
            let sender = std::sync::Arc::new(yunying_atna::AuditSender::start(atna).context("[audit.atna]")?);
            let source = yunying_atna::AuditSource::application_server(config.dicom.aet.clone(), Some(config.audit.origin.clone()));
            audit = audit.with_atna(sender.clone(), source);
            Some(sender)
        }
        None => None,
    };
    let audit = recorder::start(audit, &config).await?;
    let access = access_of(&config, &archive).with_audit(audit.audit.clone());
    let retention = yunying_retention::Retention::new(archive.clone(), access.clone(), config.retention.clone());
    // A rejection note stored any way hides what it names at once.
    retention.handle_rejections();
    let persons = persons_of(&config, &archive, &audit.audit)?;
    let recognition = recognition_of(&config, &archive).await?;
    let http_task = tokio::spawn(yunying_http::serve(
        http,
        archive.clone(),
        access.clone(),
        yunying_http::Services { retention: retention.clone(), persons: Some(persons.clone()), recognition: recognition.clone() },
        config.http.clone(),
        reserved_fds,
        stopped(stop_rx.clone()),
    ));
    let dicom_task = tokio::spawn(yunying_dimse::serve_with_tls(
        dicom,
        dicom_tls,
        archive.clone(),
        access,
        config.dicom.clone(),
        stopped(stop_rx.clone()),
    ));
    let rendition_task = tokio::spawn(yunying_renditions::run(archive.clone(), config.renditions.clone(), stopped(stop_rx.clone())));
    // Objects a crash left with no index row: adopted or deleted on a
    // schedule, by one node at a time.
    let sweep_audit = audit.audit.clone();
    let sweep_action = config.archive.orphan_sweep;
    let sweep_task = tokio::spawn(yunying_archive::orphans::sweep::run_sweeps(
        archive.clone(),
        yunying_archive::orphans::sweep::SweepSettings {
            interval: Duration::from_secs(config.archive.sweep_interval_secs),
            grace: Duration::from_secs(config.archive.sweep_grace_secs),
            action: sweep_action,
            max_objects: config.archive.sweep_max_objects,
        },
        format!("{node}:{}", std::process::id()),
        move |run| {
            let audit = sweep_audit.clone();
            async move {
                for event in unreferenced::events("system", "sweep", sweep_action, &run.outcomes) {
                    if let Err(e) = audit.record(event).await {
                        tracing::warn!(error = %e, "could not record the sweep of unreferenced objects in the audit ledger");
                    }
                }
            }
        },
        stopped(stop_rx.clone()),
    ));
    // The SM3 of what was stored, computed after the senders heard success
    // and recorded in the ledger as it is.
    let digest_audit = audit.audit.clone();
    let digest_task = tokio::spawn(yunying_archive::digester::run(archive.clone(), stopped(stop_rx.clone()), move |done| {
        let audit = digest_audit.clone();
        async move { record_digests(&audit, done).await }
    }));
    // One patient across institutions: the linker (one node at a time) and
    // the hospitals' HL7 ADT feed.
    let empi_task =
        config.empi.enabled.then(|| tokio::spawn(persons.clone().run(format!("{node}:{}", std::process::id()), stopped(stop_rx.clone()))));
    let (mllp_task, mllp_addr) = if config.empi.mllp_bind.is_empty() {
        (None, None)
    } else {
        let listener = tokio::net::TcpListener::bind(&config.empi.mllp_bind)
            .await
            .with_context(|| format!("[empi] mllp_bind {}", config.empi.mllp_bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "HL7 v2 ADT over MLLP");
        let feed = persons.clone();
        let handler = move |message| {
            let persons = feed.clone();
            async move { yunying_persons::hl7::apply(&persons, message).await }
        };
        (Some(tokio::spawn(yunying_hl7::serve(listener, Default::default(), handler, stopped(stop_rx.clone())))), Some(addr))
    };
    // New studies get their recognition items and HR status: one node at a time.
    let classify_task = recognition.clone().map(|r| {
        tokio::spawn(r.run_classifier(format!("{node}:{}", std::process::id()), Duration::from_secs(5), stopped(stop_rx.clone())))
    });
    // Recognition decisions to each institution's HIS: one node at a time.
    let webhook_task = match (&config.recognition, &recognition) {
        (Some(rc), Some(r)) => yunying_recognition::Notifier::new(archive.index().clone(), &rc.webhooks, r.reasons().clone())?
            .map(|n| tokio::spawn(n.run(format!("{node}:{}", std::process::id()), Duration::from_secs(2), stopped(stop_rx.clone())))),
        _ => None,
    };
    // Approved deletions executed, expired studies asked for: one node at a time.
    let retention_task = tokio::spawn(retention.run(format!("{node}:{}", std::process::id()), stop_rx));
    // The ports actually bound (port 0 asks the system for a free one),
    // for operators and tests: nothing can take them between choosing and
    // binding.
    // The audit ledger's sequencer stops last, so the events of the
    // shutdown itself are in the ledger.
    let (audit_stop, audit_stopped) = tokio::sync::watch::channel(false);
    // Every checkpoint goes to the witnesses (`[[audit.witnesses]]`).
    let export_task = match audit::exporter(&config, &audit.audit, &format!("{node}:{}", std::process::id()))? {
        Some(exporter) => {
            let every = Duration::from_millis(config.audit.sequence_ms.clamp(100, 5_000));
            Some(tokio::spawn(exporter.run(every, audit_stopped.clone())))
        }
        None => None,
    };
    let audit_task = tokio::spawn(sequencer.run(audit_stopped));
    let serving = write_serving_file(&config.data_dir, dicom_addr, dicom_tls_addr, http_addr, scheme == "https", mllp_addr)?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight transfers");
    let _ = stop_tx.send(true);
    let _ = dicom_task.await;
    let _ = http_task.await;
    let _ = rendition_task.await;
    let _ = sweep_task.await;
    let _ = retention_task.await;
    let _ = digest_task.await;
    if let Some(task) = empi_task {
        let _ = task.await;
    }
    if let Some(task) = mllp_task {
        let _ = task.await;
    }
    for task in [webhook_task, classify_task].into_iter().flatten() {
        let _ = task.await;
    }
    audit.stop(&config).await;
    let _ = audit_stop.send(true);
    let _ = audit_task.await;
    if let Some(task) = export_task {
        let _ = task.await;
    }
    if let Some(atna) = atna {
        let sent = atna.shutdown(Duration::from_secs(5)).await;
        tracing::info!(sent = sent.sent, dropped = sent.dropped, "audit messages to the audit record repository");
    }
    archive.index().clone().close().await;
    let _ = std::fs::remove_file(&serving);
    tracing::info!("stopped");
    Ok(())
}

/// Recognition of exams when `[recognition]` is configured: its items and
/// marks stored unless some are already (the API replaces them, a restart
/// does not undo that). Studies are classified a few seconds after ingest
/// (and again when an order asks about them). Records are signed with the
/// ledger's key.
async fn recognition_of(config: &Config, archive: &Archive) -> anyhow::Result<Option<std::sync::Arc<yunying_recognition::Recognition>>> {
    let Some(rc) = &config.recognition else { return Ok(None) };
    let signer = std::sync::Arc::new(RecordKey(audit::signer(config)?));
    let recognition = yunying_recognition::Recognition::new(archive.index().clone(), rc).context("[recognition]")?.with_signer(signer);
    if recognition.seed(rc, yunying_access::now_ms()).await.context("storing the [recognition] catalogue")? {
        tracing::info!(region = recognition.region(), "recognition catalogue or marks stored from the configuration");
    }
    Ok(Some(std::sync::Arc::new(recognition)))
}

/// Recognition records signed with the ledger's key.
struct RecordKey(std::sync::Arc<yunying_audit::checkpoint::Signer>);

impl yunying_recognition::RecordSigner for RecordKey {
    fn sign_record_text(
        &self,
        text: &str,
        timestamp: u64,
    ) -> Result<yunying_ledger::note::NoteSignature, yunying_recognition::RecognitionError> {
        self.0.sign_text(text, timestamp).map_err(|e| yunying_recognition::RecognitionError::Signature(e.to_string()))
    }
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

/// Record SM3 digests the digester computed as `digest-recorded` events.
async fn record_digests(audit: &yunying_audit::Audit, done: Vec<yunying_archive::digester::Digested>) {
    let instances: Vec<yunying_audit::ingest::Received> = done
        .into_iter()
        .map(|d| yunying_audit::ingest::Received {
            sop_instance_uid: d.sop_instance_uid,
            sha256: d.sha256,
            sm3: Some(d.sm3),
            study: d.study_instance_uid,
            ..Default::default()
        })
        .collect();
    if let Err(e) = audit.record(yunying_audit::ingest::digests_event(&instances)).await {
        tracing::warn!(error = %e, "could not record SM3 digests in the audit ledger");
    }
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

/// `serving.json` in the data directory: this process's id and the
/// addresses it listens on, written (atomically) once every port is bound
/// and serving; removed on a clean stop. `dicom_tls_port` is 0 without a
/// DICOM TLS port; `http_tls`: the HTTP port speaks HTTPS.
fn write_serving_file(
    data_dir: &Path,
    dicom: std::net::SocketAddr,
    dicom_tls: Option<std::net::SocketAddr>,
    http: std::net::SocketAddr,
    http_tls: bool,
    mllp: Option<std::net::SocketAddr>,
) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("serving.json");
    let body = serde_json::json!({
        "pid": std::process::id(),
        "dicom_port": dicom.port(),
        "dicom_tls_port": dicom_tls.map_or(0, |a| a.port()),
        "http_port": http.port(),
        "http_tls": http_tls,
        "dicom": dicom.to_string(),
        "dicom_tls": dicom_tls.map(|a| a.to_string()),
        "http": http.to_string(),
        "mllp_port": mllp.map_or(0, |a| a.port()),
    });
    let tmp = data_dir.join(".serving.json.tmp");
    std::fs::write(&tmp, format!("{body}\n"))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
