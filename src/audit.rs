//! `yunying audit …` and the ledger's sequencer in `serve`.
//!
//! `verify` recomputes the Merkle tree from the stored events and checks
//! every signed checkpoint (exit status 1 naming the first bad entry);
//! `prove` and `export` write offline proofs (C2SP `tlog-proof`) that
//! `check-proof` — or `yunying-proof-check`, which needs nothing but the
//! files — verifies without the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use yunying_audit::checkpoint::Signer;
use yunying_audit::sequencer::Sequencer;
use yunying_audit::verify::{VerifyError, prove, prove_consistency, verify};
use yunying_index::{Index, LedgerFilter};
use yunying_ledger::VerifierKey;

use crate::config::Config;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the ledger from the stored events and check every signed
    /// checkpoint; exit status 1 naming the first bad entry.
    Verify {
        /// Start from this checkpoint (a signed note saved earlier, or a
        /// witness's copy): entries below its size are taken by their
        /// stored hashes and its root must match.
        #[arg(long, value_name = "CHECKPOINT")]
        from: Option<PathBuf>,
    },
    /// Move waiting events into the ledger and sign a checkpoint now (when
    /// no running node is the sequencer: a running node signs every
    /// `audit.checkpoint_secs`, or at `POST /api/audit/checkpoints`).
    Checkpoint,
    /// The key that verifies this log's checkpoints (give it to auditors
    /// and witnesses); with `--witness`, the key that verifies this node's
    /// cosignatures as a witness (give it to the logs it witnesses).
    Key {
        #[arg(long)]
        witness: bool,
    },
    /// An offline proof that entry N is in the log: writes
    /// `<out>/N.tlog-proof` and `<out>/N.entry`.
    Prove {
        leaf: u64,
        /// Under the checkpoint of this tree size (default: the smallest
        /// covering the entry).
        #[arg(long)]
        size: Option<u64>,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// A consistency proof (base64 hashes, one per line) that the tree of
    /// NEW entries extends that of OLD.
    Consistency { old: u64, new: u64 },
    /// Who reached a study (or a patient's studies): the events, each with
    /// its offline proof, into a directory an auditor or the patient can
    /// check with `check-proof` alone.
    Export {
        #[arg(long)]
        study: Option<String>,
        /// A patient as ISSUER/PATIENTID.
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check proofs offline (no database, no configuration): every
    /// `*.tlog-proof` in DIR against its `.entry`, with the log's key.
    CheckProof {
        dir: PathBuf,
        /// The log's verifier key (the text `yunying audit key` prints), or
        /// a file holding it.
        #[arg(long)]
        log_key: String,
        /// Hash of the log: sm3 or sha256.
        #[arg(long, default_value = "sm3")]
        hash: String,
        /// A witness's verifier key (or a file holding it); repeatable.
        #[arg(long)]
        witness_key: Vec<String>,
        /// Valid cosignatures of distinct given witnesses each proof needs.
        #[arg(long, default_value_t = 0)]
        min_cosignatures: usize,
    },
}

/// The signer of this deployment's checkpoints.
pub fn signer(config: &Config) -> anyhow::Result<Arc<Signer>> {
    let path = config.audit.signing_key_path(&config.data_dir);
    let signer = Signer::load_or_make(&path, &config.audit.origin, config.audit.signature)
        .with_context(|| format!("the audit signing key {}", path.display()))?;
    Ok(Arc::new(signer))
}

/// The sequencer of `serve`.
pub fn sequencer(config: &Config, index: &Index, node: &str) -> anyhow::Result<Sequencer> {
    Ok(Sequencer::new(
        index.clone(),
        node,
        config.audit.hash,
        signer(config)?,
        Duration::from_millis(config.audit.sequence_ms.max(10)),
        Duration::from_secs(config.audit.checkpoint_secs.max(1)),
    ))
}

pub async fn run(config: &Config, index: &Index, command: AuditCommand) -> anyhow::Result<()> {
    let alg = config.audit.hash;
    match command {
        AuditCommand::Verify { from } => {
            let from = from.map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))).transpose()?;
            let signer = signer(config)?;
            match verify(index, alg, signer.verifier(), from.as_deref()).await {
                Ok(r) => {
                    println!("ok: {} entries, {} checkpoints verified (signed up to {})", r.entries, r.checkpoints, r.signed_size);
                    if r.entries > r.signed_size {
                        println!("{} newer entries are not yet under a checkpoint", r.entries - r.signed_size);
                    }
                }
                Err(VerifyError::Bad { leaf, what }) => {
                    match leaf {
                        Some(leaf) => eprintln!("BAD entry {leaf}: {what}"),
                        None => eprintln!("BAD: {what}"),
                    }
                    std::process::exit(1);
                }
                Err(VerifyError::Audit(e)) => return Err(e.into()),
            }
        }
        AuditCommand::Checkpoint => {
            let holder = format!("cli:{}", std::process::id());
            let mut seq = sequencer(config, index, &holder)?;
            let step = seq.step(true).await?;
            // Give the lease back: a node may sequence at once.
            let now = yunying_audit::now_ms();
            index.try_lease(yunying_audit::sequencer::LEASE, &holder, now, now).await?;
            if !step.sequencer {
                anyhow::bail!(
                    "a running node is the sequencer: it signs every {} s (or ask it: POST /api/audit/checkpoints)",
                    config.audit.checkpoint_secs
                );
            }
            match step.checkpoint {
                Some(size) => println!("signed a checkpoint of {size} entries ({} moved into the ledger)", step.sequenced),
                None => println!("nothing new since the last checkpoint"),
            }
        }
        AuditCommand::Key { witness: false } => println!("{}", signer(config)?.verifier()),
        AuditCommand::Key { witness: true } => println!("{}", witness_key(config)?.verifier()),
        AuditCommand::Prove { leaf, size, out } => {
            std::fs::create_dir_all(&out)?;
            let (bundle, body) = prove(index, alg, leaf, size).await?;
            write_proof(&out, leaf, &bundle, &body)?;
            println!("{}", out.join(format!("{leaf}.tlog-proof")).display());
        }
        AuditCommand::Consistency { old, new } => {
            for h in prove_consistency(index, alg, old, new).await? {
                println!("{}", h.to_base64());
            }
        }
        AuditCommand::Export { study, patient, out } => export(config, index, study, patient, &out).await?,
        AuditCommand::CheckProof { dir, log_key, hash, witness_key, min_cosignatures } => {
            check_proofs(&dir, &log_key, &hash, &witness_key, min_cosignatures)?
        }
    }
    Ok(())
}

fn write_proof(out: &Path, leaf: u64, bundle: &str, body: &str) -> anyhow::Result<()> {
    std::fs::write(out.join(format!("{leaf}.tlog-proof")), bundle)?;
    std::fs::write(out.join(format!("{leaf}.entry")), body)?;
    Ok(())
}

/// Every event naming the study (or the patient), with proofs, into `out`.
async fn export(config: &Config, index: &Index, study: Option<String>, patient: Option<String>, out: &Path) -> anyhow::Result<()> {
    let mut filter = LedgerFilter { study, limit: 10_000, ..Default::default() };
    if let Some(p) = patient {
        let (issuer, id) = p.split_once('/').context("--patient is ISSUER/PATIENTID")?;
        filter.patient_digest = Some(crate::recorder::recorder(config, index)?.patient_digest(issuer, id));
    }
    anyhow::ensure!(filter.study.is_some() || filter.patient_digest.is_some(), "name a --study or a --patient");
    std::fs::create_dir_all(out)?;
    let entries = index.search_ledger(&filter).await?;
    let signer = signer(config)?;
    std::fs::write(out.join("log.pub"), format!("{}\n", signer.verifier()))?;
    let mut proved = 0;
    let mut lines = String::new();
    for e in &entries {
        lines.push_str(&e.body);
        lines.push('\n');
        match prove(index, config.audit.hash, e.leaf_index as u64, None).await {
            Ok((bundle, body)) => {
                write_proof(out, e.leaf_index as u64, &bundle, &body)?;
                proved += 1;
            }
            Err(err) => eprintln!("entry {}: {err}", e.leaf_index),
        }
    }
    std::fs::write(out.join("events.jsonl"), lines)?;
    println!("{} events, {proved} with proofs, in {}", entries.len(), out.display());
    println!("check them: yunying audit check-proof {} --log-key {}", out.display(), out.join("log.pub").display());
    Ok(())
}

/// Check every proof in `dir` offline.
pub fn check_proofs(dir: &Path, log_key: &str, hash: &str, witness_keys: &[String], min_cosignatures: usize) -> anyhow::Result<()> {
    let key = key_arg(log_key).context("the log key")?;
    let witnesses = witness_keys.iter().map(|k| key_arg(k).context("a witness key")).collect::<anyhow::Result<Vec<_>>>()?;
    let alg: yunying_ledger::HashAlg = hash.parse().map_err(|_| anyhow::anyhow!("--hash is sm3 or sha256"))?;
    let mut checked = 0;
    let mut bad = 0;
    let mut proofs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tlog-proof"))
        .collect();
    proofs.sort();
    for proof in proofs {
        let bundle = std::fs::read_to_string(&proof)?;
        let entry = std::fs::read(proof.with_extension("entry")).with_context(|| format!("the entry beside {}", proof.display()))?;
        match yunying_ledger::verify_bundle(&bundle, &entry, alg, &key, &witnesses, min_cosignatures) {
            Ok((index, size)) => {
                println!("ok  {} (entry {index} of {size})", proof.display());
                checked += 1;
            }
            Err(e) => {
                println!("BAD {}: {e}", proof.display());
                bad += 1;
            }
        }
    }
    println!("{checked} proofs verified, {bad} bad");
    if bad > 0 || checked == 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// A verifier key given as text or as a file holding it.
fn key_arg(arg: &str) -> anyhow::Result<VerifierKey> {
    let text = if Path::new(arg).is_file() { std::fs::read_to_string(arg)? } else { arg.to_string() };
    VerifierKey::parse(text.trim()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// This node's cosigning key as a witness.
pub fn witness_key(config: &Config) -> anyhow::Result<yunying_ledger::Signer> {
    let path = config.audit.witness_key_path(&config.data_dir);
    yunying_audit::witness::load_or_make_key(&path, &config.audit.witness_key_name(), config.audit.signature)
        .with_context(|| format!("the audit witness key {}", path.display()))
}

/// The witness service of `serve` (`[[audit.witness_of]]`).
pub fn witness_service(config: &Config, index: &Index) -> anyhow::Result<yunying_audit::witness::WitnessService> {
    Ok(yunying_audit::witness::WitnessService::new(index.clone(), witness_key(config)?, &config.audit.witness_of)?)
}

/// The checkpoint exporter of `serve`, when witnesses are configured.
pub fn exporter(config: &Config, audit: &yunying_audit::Audit, holder: &str) -> anyhow::Result<Option<yunying_audit::export::Exporter>> {
    if config.audit.witnesses.is_empty() {
        return Ok(None);
    }
    let log_key = signer(config)?.verifier().clone();
    let post = Some(yunying_http::witness_post());
    Ok(Some(yunying_audit::export::Exporter::new(audit.clone(), config.audit.hash, log_key, &config.audit.witnesses, post, holder)?))
}
