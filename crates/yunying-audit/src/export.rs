//! Checkpoint export: after the sequencer signs a checkpoint, it is sent to
//! every configured witness (`[[audit.witnesses]]`), one node at a time
//! (the lease `audit-witness-export`).
//!
//! A `dir` witness gets `<dir>/<origin>/<size>.checkpoint` and
//! `<size>.consistency` (`old <n>`, then the proof hashes in base64) from
//! the size exported before: the file-directory anchor an outside party
//! copies away. An `http` witness gets a C2SP tlog-witness `add-checkpoint`
//! request; its cosignature lines are verified with its configured key and
//! kept (`ledger_cosignatures`), so proof bundles carry them. A 409 with a
//! size means the witness is elsewhere: the next request starts from that
//! size. A refusal is logged at ERROR and recorded
//! (`checkpoint-refused-by-witness`) once per witness and size.
//!
//! No HTTP here: the binary hands in a [`Post`] function.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use yunying_index::{CosignatureRow, Index};
use yunying_ledger::witness::format_add_checkpoint;
use yunying_ledger::{HashAlg, NoteSignature, VerifierKey, checkpoint, note};

use crate::verify::prove_consistency;
use crate::{Audit, AuditError, Event, now_ms};

/// The lease that makes one node the exporter.
pub const LEASE: &str = "audit-witness-export";
/// The event recorded when a witness refuses one of this log's checkpoints.
pub const REFUSED_EVENT: &str = "checkpoint-refused-by-witness";
/// The largest witness response read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Where a witness is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WitnessKind {
    /// A directory (the file anchor).
    Dir,
    /// A C2SP tlog-witness `add-checkpoint` URL.
    Http,
}

/// One witness this log's checkpoints go to (`[[audit.witnesses]]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessTarget {
    pub kind: WitnessKind,
    /// `dir`: the directory.
    #[serde(default)]
    pub dir: String,
    /// `http`: the `add-checkpoint` URL.
    #[serde(default)]
    pub url: String,
    /// `http`: the witness's verifier key; its cosignatures are checked
    /// with it.
    #[serde(default)]
    pub key: String,
}

/// An HTTP response: status, `Content-Type`, body (at most
/// [`MAX_RESPONSE_BYTES`]).
pub type Response = (u16, String, String);
/// Posts `body` to `url` (given by the binary, which knows HTTP).
pub type Post = Arc<dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Result<Response, String>> + Send>> + Send + Sync>;

enum Target {
    Dir(PathBuf),
    Http { url: String, key: Box<VerifierKey> },
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Dir(d) => format!("dir:{}", d.display()),
            Target::Http { key, .. } => key.name().to_string(),
        }
    }
}

/// Why a witness does not hold a checkpoint.
enum Failure {
    /// Not reached (or failing): tried again later.
    Unreachable(String),
    /// It answered no: logged and recorded once.
    Refused(String),
}

/// Sends checkpoints to witnesses.
pub struct Exporter {
    index: Index,
    audit: Audit,
    alg: HashAlg,
    origin: String,
    log_key: VerifierKey,
    targets: Vec<Target>,
    post: Option<Post>,
    holder: String,
    refused: HashSet<(String, i64)>,
}

impl Exporter {
    /// An exporter of the log `log_key` (whose name is its origin) to
    /// `targets`; `post` serves `http` witnesses.
    pub fn new(
        audit: Audit,
        alg: HashAlg,
        log_key: VerifierKey,
        targets: &[WitnessTarget],
        post: Option<Post>,
        holder: &str,
    ) -> Result<Exporter, AuditError> {
        let targets = targets
            .iter()
            .map(|t| match t.kind {
                WitnessKind::Dir if !t.dir.is_empty() => Ok(Target::Dir(PathBuf::from(&t.dir))),
                WitnessKind::Http if !t.url.is_empty() => {
                    let key = VerifierKey::parse(t.key.trim())
                        .map_err(|e| AuditError::Key(format!("[[audit.witnesses]] {}: key: {e}", t.url)))?;
                    Ok(Target::Http { url: t.url.clone(), key: Box::new(key) })
                }
                _ => Err(AuditError::Key("[[audit.witnesses]]: a dir witness needs dir, an http one url and key".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Exporter {
            index: audit.index().clone(),
            audit,
            alg,
            origin: log_key.name().to_string(),
            log_key,
            targets,
            post,
            holder: holder.to_string(),
            refused: HashSet::new(),
        })
    }

    /// Follow the checkpoints until `shutdown`.
    pub async fn run(mut self, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => break,
            }
            let now = now_ms();
            match self.index.try_lease(LEASE, &self.holder, now, now + 30_000).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "witness export lease not taken");
                    continue;
                }
            }
            if let Err(e) = self.step().await {
                tracing::warn!(error = %e, "checkpoint export step failed");
            }
        }
    }

    /// Send the latest checkpoint to every witness that lacks it.
    pub async fn step(&mut self) -> Result<(), AuditError> {
        let Some(latest) = self.index.latest_checkpoint().await? else { return Ok(()) };
        for i in 0..self.targets.len() {
            let name = self.targets[i].name();
            // A 409 names the witness's size: try again from it, a few times.
            for _ in 0..3 {
                let from = self.index.witness_export(&name).await?;
                if from >= latest.tree_size || self.refused.contains(&(name.clone(), latest.tree_size)) {
                    break;
                }
                let proof = prove_consistency(&self.index, self.alg, from as u64, latest.tree_size as u64).await?;
                let outcome = match &self.targets[i] {
                    Target::Dir(dir) => {
                        self.write_dir(dir, from, &proof, latest.tree_size, &latest.note).map(|_| None).map_err(Failure::Unreachable)
                    }
                    Target::Http { url, key } => {
                        let body = format_add_checkpoint(from as u64, &proof, &latest.note);
                        self.send(url, key, body, latest.tree_size).await
                    }
                };
                match outcome {
                    Ok(None) => {
                        self.index.set_witness_export(&name, latest.tree_size, now_ms()).await?;
                        break;
                    }
                    Ok(Some(size)) => self.index.set_witness_export(&name, size, now_ms()).await?,
                    Err(Failure::Unreachable(why)) => {
                        tracing::warn!(witness = name, why, "witness not reached; trying again later");
                        break;
                    }
                    Err(Failure::Refused(why)) => {
                        self.refused(&name, latest.tree_size, &why).await;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn write_dir(&self, dir: &std::path::Path, from: i64, proof: &[yunying_ledger::Hash], size: i64, note: &str) -> Result<(), String> {
        let sub = dir.join(sanitise(&self.origin));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&sub)?;
            let mut text = format!("old {from}\n");
            for h in proof {
                text.push_str(&h.to_base64());
                text.push('\n');
            }
            std::fs::write(sub.join(format!("{size}.consistency")), text)?;
            std::fs::write(sub.join(format!("{size}.checkpoint")), note)
        };
        write().map_err(|e| format!("writing to {}: {e}", sub.display()))
    }

    /// Post one request: `Ok(None)` cosigned, `Ok(Some(size))` the witness
    /// is at another size, `Err` refused.
    async fn send(&self, url: &str, key: &VerifierKey, body: String, size: i64) -> Result<Option<i64>, Failure> {
        let post = self.post.as_ref().ok_or(Failure::Unreachable("no HTTP client".into()))?;
        let (status, content_type, text) = post(url.to_string(), body).await.map_err(Failure::Unreachable)?;
        if status >= 500 {
            return Err(Failure::Unreachable(format!("HTTP {status}")));
        }
        self.answer(key, size, status, &content_type, &text).await.map_err(Failure::Refused)
    }

    async fn answer(&self, key: &VerifierKey, size: i64, status: u16, content_type: &str, text: &str) -> Result<Option<i64>, String> {
        match status {
            200 => {
                let lines: Vec<NoteSignature> =
                    text.lines().map(NoteSignature::parse_line).collect::<Result<_, _>>().map_err(|e| format!("bad cosignature: {e}"))?;
                let latest = self.index.latest_checkpoint().await.map_err(|e| e.to_string())?.ok_or("no checkpoint")?;
                let mine: Vec<&NoteSignature> = lines.iter().filter(|l| key.matches(l)).collect();
                if mine.is_empty() {
                    return Err("the response holds no cosignature of the configured witness key".into());
                }
                for sig in mine {
                    let line = sig.to_line();
                    let cosigned = note::append_signatures(&latest.note, &line).map_err(|e| e.to_string())?;
                    let ok = checkpoint::open(&cosigned, &self.log_key, std::slice::from_ref(key)).map_err(|e| e.to_string())?;
                    if ok.cosignatures.is_empty() {
                        return Err("the witness's cosignature does not verify".into());
                    }
                    let row = CosignatureRow {
                        tree_size: size,
                        witness: key.name().to_string(),
                        signature_line: line.trim_end().to_string(),
                        at_ms: now_ms(),
                    };
                    self.index.add_cosignature(&row).await.map_err(|e| e.to_string())?;
                }
                tracing::info!(witness = key.name(), size, "checkpoint cosigned");
                Ok(None)
            }
            409 if content_type.starts_with("text/x.tlog.size") || text.trim().parse::<i64>().is_ok() => {
                let theirs: i64 = text.trim().parse().map_err(|_| "409 without a size")?;
                if theirs > size {
                    return Err(format!("the witness holds a larger tree ({theirs}) than this log ({size}): a fork?"));
                }
                Ok(Some(theirs))
            }
            _ => Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
        }
    }

    async fn refused(&mut self, name: &str, size: i64, why: &str) {
        self.refused.insert((name.to_string(), size));
        tracing::error!(witness = name, size, why, "a witness refused this log's checkpoint");
        let event = Event::new(REFUSED_EVENT, "audit-exporter", "denied")
            .detail(why)
            .fact("witness", name.to_string())
            .fact("origin", self.origin.clone())
            .fact("tree_size", size);
        let _ = self.audit.record(event).await;
    }
}

/// An origin as a directory name: letters, digits, `.`, `-`, `_`; the
/// rest `_`.
pub fn sanitise(origin: &str) -> String {
    let s: String = origin.chars().take(200).map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.chars().all(|c| c == '.') { "_".into() } else { s }
}
