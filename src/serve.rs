//! `yunying serve`: the services of one node wired together (index, store,
//! DICOM, HTTP, background tasks), `serving.json`, and the stop on a
//! signal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use yunying_archive::Archive;

use crate::config::Config;
use crate::{access_of, audit, config, datadir, open_archive, persons_of, recorder, unreferenced};

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

pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    config.http.validate().map_err(anyhow::Error::msg)?;
    // Held until the process ends: `reindex` and a second server refuse.
    let _lock = datadir::lock_for_serving(&config.data_dir)?;
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
    // Copies kept for the SM3 of instances uploaded to S3: their rows are
    // found by the digester's sweep and read back.
    yunying_archive::digester::clean_copies(&archive).context("cleaning the digest copies")?;
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
        None if yunying_http::viewer_embedded() => tracing::info!("web viewer at {scheme}://{http_addr}/viewer/"),
        None => tracing::warn!(
            "this build carries no web viewer: /viewer/ answers 404; run scripts/build-viewer.sh before building, or set http.viewer_dir"
        ),
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
    let reading = reading_of(&config, &archive, &access).await?;
    let http_task = tokio::spawn(yunying_http::serve(
        http,
        archive.clone(),
        access.clone(),
        yunying_http::Services {
            retention: retention.clone(),
            persons: Some(persons.clone()),
            recognition: recognition.clone(),
            reading: reading.clone(),
        },
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
    // Remote reading: new studies routed to their reading centre (one node
    // at a time), signed reports delivered (any node, row by row).
    let reading_secrets = match &config.reading {
        Some(rc) => rc.read_webhook_secrets().context("[reading]")?,
        None => Default::default(),
    };
    let reading_tasks = reading.clone().map(|r| {
        let holder = format!("{node}:{}", std::process::id());
        let transport = yunying_http::ReadingTransport::new(archive.clone(), &config.dicom.aet)
            .with_stow_destinations(&config.http.film.stow_destinations)
            .with_webhook_secrets(reading_secrets);
        let transport = std::sync::Arc::new(transport);
        [
            tokio::spawn(r.clone().run_router(holder, Duration::from_secs(2), stopped(stop_rx.clone()))),
            tokio::spawn(r.run_deliveries(transport, Duration::from_secs(2), stopped(stop_rx.clone()))),
        ]
    });
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
    tracing::info!("shutting down: finishing in-flight transfers (a second SIGTERM or Ctrl-C stops at once)");
    // The drain may take tens of seconds (DICOM associations get 30); the
    // operator who asks twice is not kept waiting (exit status 1, as after a crash:
    // what was acknowledged is durable, the rest was never confirmed).
    tokio::spawn(async {
        shutdown_signal().await;
        tracing::warn!("second signal: stopping now, without waiting for transfers in flight");
        std::process::exit(1);
    });
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
    for task in [webhook_task, classify_task].into_iter().flatten().chain(reading_tasks.into_iter().flatten()) {
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
    // Last: the spans of the requests that finished above are sent.
    crate::telemetry::shutdown().await;
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

/// Remote reading when `[reading]` is configured: its relationships and
/// templates stored unless some are already, reports signed with the
/// ledger's key and set in the configured (or a system) Chinese font.
async fn reading_of(
    config: &Config,
    archive: &Archive,
    access: &yunying_access::Access,
) -> anyhow::Result<Option<std::sync::Arc<yunying_reading::Reading>>> {
    let Some(rc) = &config.reading else { return Ok(None) };
    let names = config
        .archive
        .institutions
        .iter()
        .map(|i| (i.code.clone(), if i.name.is_empty() { i.code.clone() } else { i.name.clone() }))
        .collect();
    let fonts = match &rc.font {
        Some(path) => yunying_report::Fonts::load(path),
        None => yunying_report::Fonts::find_system(),
    }
    .context("[reading] font for report PDFs")?;
    let reading = yunying_reading::Reading::new(archive.index().clone(), access.clone(), rc, names)
        .context("[reading]")?
        .with_signer(std::sync::Arc::new(ReportKey(audit::signer(config)?)))
        .with_fonts(std::sync::Arc::new(fonts));
    if reading.seed(yunying_access::now_ms()).await.context("storing the [reading] relationships and templates")? {
        tracing::info!("reading relationships or templates stored from the configuration");
    }
    Ok(Some(std::sync::Arc::new(reading)))
}

/// Reports signed with the ledger's key (SM2 with SM3 by default).
struct ReportKey(std::sync::Arc<yunying_audit::checkpoint::Signer>);

impl yunying_reading::ReportSigner for ReportKey {
    fn sign_report(&self, content: &[u8]) -> Result<(String, String, String), String> {
        let text = std::str::from_utf8(content).map_err(|e| e.to_string())?;
        let now = u64::try_from(yunying_access::now_ms() / 1000).unwrap_or(0);
        let sig = self.0.sign_text(text, now).map_err(|e| e.to_string())?;
        let algorithm = match self.0.verifier().kind() {
            yunying_ledger::keys::SigType::Sm2Cosignature => "SM2-SM3 signed note (cosignature/v1)",
            yunying_ledger::keys::SigType::Ed25519Cosignature => "Ed25519 signed note (cosignature/v1)",
            yunying_ledger::keys::SigType::Ed25519 => "Ed25519 signed note",
        };
        // The signed-note signature line: a verifier checks it against the
        // content with the log key `/api/audit/checkpoints` shows.
        Ok((algorithm.to_string(), format!("{}+{:08x}", sig.name, sig.key_id), sig.to_line().trim_end().to_string()))
    }
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
    // SIGHUP reloads the TLS listeners' certificates (yunying-tls listens
    // for it too); it must never end the server, its default action, when
    // there is no TLS listener (`systemctl reload` sends it).
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hangup.recv() => tracing::info!("SIGHUP: TLS listeners reload their certificates; other settings take a restart"),
        }
    }
}
