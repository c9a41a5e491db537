//! Renditions at ingest: per instance, a thumbnail, a full-resolution 8-bit
//! preview of every frame and a lossless HTJ2K copy (a Part 10 object,
//! transfer syntax 1.2.840.10008.1.2.4.201), written to the object store
//! next to the originals and recorded in the index.
//!
//! Work comes from the index's durable job queue (`rendition_jobs`, filled
//! in the same transaction as the instance row), so renditions are never
//! on the C-STORE acknowledgement path and survive restarts. A dispatcher
//! task on the async runtime claims due jobs with a lease and hands them to
//! a rayon pool; results come back over a channel. The pool has
//! `cores − 1` threads (at least one) running at a lower CPU priority
//! (nice +10), so during an ingest burst the kernel schedules the network
//! and storage side first and renditions take the CPU that is left.
//!
//! Architecture invariant: a job is marked done only after every rendition
//! object is durable (each `put_bytes` is atomic and durable); rendition
//! keys are deterministic, so a job that runs again after a crash rewrites
//! the same objects instead of adding new ones.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use yunying_archive::{Archive, RetrieveError, read_pixels, with_encapsulated_frames};
use yunying_index::{JOB_STAGE_LOSSLESS, JOB_STAGE_PREVIEWS, Job, Rendition};
use yunying_store::{ObjectStore, rendition_key};
use yunying_transcode::{
    HTJ2K_LOSSLESS, ImageFormat, RenderOptions, TranscodeError, can_decode, decode_frame, encode_htj2k_lossless, render,
    render_with_thumbnail,
};

/// Settings of the rendition workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenditionConfig {
    /// Produce renditions at all.
    pub enabled: bool,
    /// Worker threads; 0 means one less than the number of cores (at least 1).
    pub workers: usize,
    /// Longest side of a thumbnail, in pixels (the size DICOMweb thumbnails
    /// have when the request names no viewport).
    pub thumbnail_size: u32,
    /// JPEG quality of previews and thumbnails (the rendered default).
    pub jpeg_quality: u8,
    /// Make the lossless HTJ2K copy (full-fidelity viewing from a smaller
    /// object); off keeps only thumbnails and previews.
    pub lossless: bool,
    /// How long a claimed job is reserved for its worker (seconds); a job
    /// whose worker died is taken up again after this.
    pub lease_secs: u64,
    /// This node's name among the nodes sharing one index; empty means the
    /// host name. Must differ between nodes: a starting node takes back the
    /// jobs its name held (its previous process died holding them).
    pub node: String,
}

impl Default for RenditionConfig {
    fn default() -> Self {
        RenditionConfig {
            enabled: true,
            workers: 0,
            thumbnail_size: 128,
            jpeg_quality: 90,
            lossless: true,
            lease_secs: 300,
            node: String::new(),
        }
    }
}

impl RenditionConfig {
    pub fn threads(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1)
    }
}

/// How often an idle dispatcher looks for new jobs.
const POLL: Duration = Duration::from_millis(100);

/// The reason of a failure of the object store (reading the original or
/// writing a rendition).
const STORE: &str = "store";

/// How long a job whose object store keeps failing is retried before it is
/// parked (its backoff reaches 2^8 s, about four minutes, and stays there).
const OUTAGE_PATIENCE_MS: i64 = 24 * 3_600_000;

/// Why a job failed: a reason label for metrics and a message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
    /// Retrying cannot help (the data cannot be rendered by this build).
    pub permanent: bool,
}

impl From<RetrieveError> for Failure {
    fn from(e: RetrieveError) -> Self {
        let (reason, permanent) = match e {
            RetrieveError::Store(_) => (STORE, false),
            RetrieveError::NoPixelData => ("no_pixel_data", true),
            RetrieveError::Transcode(t) => return Failure::from(t),
            _ => ("corrupt", true),
        };
        Failure { reason, message: e.to_string(), permanent }
    }
}

impl From<TranscodeError> for Failure {
    /// Permanent, every one: decoding is a pure function of the stored
    /// bytes, so the same job fails the same way every time (a codestream
    /// that a codec rejects, a frame over the size limits). Retrying would
    /// only repeat the work (and, before the limits, its allocations).
    fn from(e: TranscodeError) -> Self {
        let reason = match e {
            TranscodeError::UnsupportedTransferSyntax(_) => "unsupported_transfer_syntax",
            TranscodeError::Unsupported(_) => "unsupported_pixel_data",
            TranscodeError::TooLarge(_) => "too_large",
            TranscodeError::Codec { .. } => "codec",
            _ => "invalid_pixel_data",
        };
        Failure { reason, message: e.to_string(), permanent: true }
    }
}

/// Run the dispatcher until `shutdown` completes; jobs in progress finish.
pub async fn run(archive: Archive, config: RenditionConfig, shutdown: impl Future<Output = ()>) {
    if !config.enabled {
        return;
    }
    let threads = config.threads();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rendition-{i}"))
        .start_handler(|_| lower_priority())
        .build()
    {
        Ok(pool) => Arc::new(pool),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the rendition pool; no renditions will be made");
            return;
        }
    };
    // Worker names start with the node name, so that a restarted node takes
    // back at once the jobs its previous process held (instead of waiting
    // for their leases): several nodes share one queue, one process per node.
    let node = if config.node.is_empty() { node_name() } else { config.node.replace(':', "_") };
    let node = format!("{node}:");
    match archive.index().release_jobs_of(&node).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "rendition jobs of this node's previous process queued again"),
        Err(e) => tracing::warn!(error = %e, "cannot release this node's earlier rendition jobs"),
    }
    let worker = format!("{node}{}-{:08x}", std::process::id(), rand::random::<u32>());
    let config = Arc::new(config);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Job, Result<Vec<Rendition>, Failure>)>();
    let mut in_flight = 0usize;
    let capacity = threads * 2; // keep the pool busy while results are recorded
    tokio::pin!(shutdown);
    let mut stopping = false;
    // A claim or a record that failed may have been committed all the same
    // (the database died between its commit and its answer): this worker
    // may hold jobs it does not know of. Once it runs none, it gives back
    // whatever the queue says it holds, rather than leave those jobs to
    // their leases.
    let mut unsure = false;
    tracing::info!(threads, "rendition workers started");
    loop {
        if unsure && in_flight == 0 {
            match archive.index().release_jobs_of(&worker).await {
                Ok(n) => {
                    unsure = false;
                    if n > 0 {
                        tracing::info!(jobs = n, "rendition jobs claimed or run by an interrupted statement queued again");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot yet release this worker's unsure rendition jobs"),
            }
        }
        if !stopping && in_flight < capacity {
            let now = now_ms();
            let lease = now + (config.lease_secs * 1000) as i64;
            match archive.index().claim_jobs(&worker, capacity - in_flight, now, lease).await {
                Ok(jobs) => {
                    for job in jobs {
                        in_flight += 1;
                        let (store, config, tx) = (archive.store().clone(), config.clone(), tx.clone());
                        pool.spawn(move || {
                            let result = make_renditions(store.as_ref(), &job, &config);
                            let _ = tx.send((job, result));
                        });
                    }
                }
                Err(e) => {
                    unsure = true;
                    tracing::warn!(error = %e, "cannot claim rendition jobs");
                }
            }
        }
        if stopping && in_flight == 0 {
            break;
        }
        tokio::select! {
            Some((job, result)) = rx.recv() => {
                in_flight -= 1;
                // A first stage that made pixels leads to the lossless one.
                let next = (config.lossless && job.stage == JOB_STAGE_PREVIEWS && result.as_ref().is_ok_and(|r| !r.is_empty())).then_some(JOB_STAGE_LOSSLESS);
                unsure |= !record(&archive, &worker, job, result, next).await;
            }
            _ = tokio::time::sleep(POLL), if in_flight < capacity && !stopping => {}
            _ = &mut shutdown, if !stopping => stopping = true,
        }
    }
    tracing::info!("rendition workers stopped");
}

/// How long recording a job's outcome is retried while the index fails (a
/// database restarting, a connection cut): the work is done, and left
/// unrecorded the job would wait for its lease (five minutes) to run again.
const RECORD_PATIENCE: Duration = Duration::from_secs(30);

/// Run `write` until it succeeds or [`RECORD_PATIENCE`] has passed, backing
/// off from a quarter second; the last result.
async fn retrying<T, F, Fut>(mut write: F) -> yunying_index::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = yunying_index::Result<T>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match write().await {
            Err(e) if started.elapsed() + pause < RECORD_PATIENCE => {
                tracing::debug!(error = %e, "recording a rendition job's outcome failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            result => return result,
        }
    }
}

/// Record a job's outcome in the index and the metrics; false when the
/// index could not be told.
async fn record(archive: &Archive, worker: &str, job: Job, result: Result<Vec<Rendition>, Failure>, next: Option<&str>) -> bool {
    let metrics = archive.metrics();
    let now = now_ms();
    let index = archive.index();
    match result {
        Ok(renditions) => match retrying(|| index.complete_job(worker, &job, &renditions, next, now)).await {
            Ok(true) if next.is_some() => {}
            Ok(true) => {
                metrics.renditions_completed_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics.rendition_latency.observe(Duration::from_millis((now - job.enqueued_ms).max(0) as u64));
            }
            Ok(false) => tracing::info!("a rendition job's lease was lost before it finished; another worker has it"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record renditions; the job will run again");
                return false;
            }
        },
        Err(failure) => {
            metrics.rendition_failed(failure.reason);
            let attempts = if failure.permanent {
                yunying_index::JOB_MAX_ATTEMPTS
            } else if failure.reason == STORE && now - job.enqueued_ms < OUTAGE_PATIENCE_MS {
                // The object store failing says nothing about the data: an
                // outage (S3 down, a full disk) is waited out, the backoff
                // capped below, instead of parking every job that came due
                // during it (five attempts take half a minute).
                job.attempts.min(yunying_index::JOB_MAX_ATTEMPTS - 1)
            } else {
                job.attempts
            };
            let backoff = 1000i64 << job.attempts.clamp(0, 8);
            match retrying(|| index.fail_job(worker, job.instance_pk, attempts, &failure.message, now + backoff, now)).await {
                Ok(true) => {
                    metrics.renditions_parked_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let sop_instance_uid = job.instance.stored.sop_instance_uid.as_str();
                    tracing::warn!(reason = failure.reason, sop_instance_uid, "rendition job parked: {}", failure.message);
                }
                Ok(false) => tracing::info!(reason = failure.reason, attempt = job.attempts, "rendition job failed; retrying later"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a rendition failure");
                    return false;
                }
            }
        }
    }
    true
}

/// Produce and store the renditions of one instance (blocking; runs on the pool).
pub fn make_renditions(store: &dyn ObjectStore, job: &Job, config: &RenditionConfig) -> Result<Vec<Rendition>, Failure> {
    let data = &job.instance;
    let s = &data.stored;
    let ts = s.transfer_syntax_uid.as_str();
    if is_video(ts) {
        // No still renditions: a poster frame would need a video decoder.
        return Ok(Vec::new());
    }
    if !can_decode(ts) {
        return Err(TranscodeError::UnsupportedTransferSyntax(ts.to_string()).into());
    }
    let (info, frames) = read_pixels(store, data)?;
    if job.stage == JOB_STAGE_LOSSLESS {
        return lossless_rendition(store, job, &info, &frames);
    }
    let key = |name: &str| rendition_key(&s.study_instance_uid, &s.series_instance_uid, &s.sop_instance_uid, name);
    let put = |key: &str, bytes: &[u8]| put_rendition(store, key, bytes);
    let jpeg = |viewport| RenderOptions { window: None, viewport, quality: config.jpeg_quality, format: ImageFormat::Jpeg };
    let mut out = Vec::with_capacity(frames.len() + 2);

    // The first frame, as DICOMweb's instance thumbnail shows it, and its
    // preview: one decode and one VOI pass for both.
    let (first_preview, thumbnail) =
        render_with_thumbnail(ts, &info.for_frame(0), &frames[0], config.jpeg_quality, (config.thumbnail_size, config.thumbnail_size))?;
    let mut first_preview = Some(first_preview);
    let k = key("thumbnail.jpg");
    put(&k, &thumbnail)?;
    out.push(Rendition {
        kind: "thumbnail".into(),
        frame: 0,
        object_key: k,
        media_type: "image/jpeg".into(),
        size_bytes: thumbnail.len() as i64,
    });

    for (i, frame) in frames.iter().enumerate() {
        // Enhanced multi-frame objects may window each frame its own way.
        let preview = match first_preview.take() {
            Some(p) => p,
            None => render(ts, &info.for_frame(i), frame, &jpeg(None))?,
        };
        let k = key(&format!("preview-{}.jpg", i + 1));
        put(&k, &preview)?;
        out.push(Rendition {
            kind: "preview".into(),
            frame: (i + 1) as i64,
            object_key: k,
            media_type: "image/jpeg".into(),
            size_bytes: preview.len() as i64,
        });
    }
    Ok(out)
}

/// Store a rendition object (a failure to retry).
fn put_rendition(store: &dyn ObjectStore, key: &str, bytes: &[u8]) -> Result<(), Failure> {
    store.put_bytes(key, bytes).map_err(|e| Failure { reason: STORE, message: format!("writing a rendition: {e}"), permanent: false })
}

/// The second stage of a job: the lossless copy (none when the original
/// serves as one).
fn lossless_rendition(
    store: &dyn ObjectStore,
    job: &Job,
    info: &yunying_transcode::PixelInfo,
    frames: &[Vec<u8>],
) -> Result<Vec<Rendition>, Failure> {
    let s = &job.instance.stored;
    let Some(copy) = lossless_copy(store, &job.instance, info, frames)? else { return Ok(Vec::new()) };
    let key = rendition_key(&s.study_instance_uid, &s.series_instance_uid, &s.sop_instance_uid, "htj2k.dcm");
    put_rendition(store, &key, &copy)?;
    Ok(vec![Rendition {
        kind: "lossless".into(),
        frame: 0,
        object_key: key,
        media_type: "application/dicom".into(),
        size_bytes: copy.len() as i64,
    }])
}

/// The instance as a Part 10 object in HTJ2K Lossless: every frame decoded
/// and re-encoded losslessly (the pixels of a lossy original are kept as
/// decoded). `None` when the original already is HTJ2K lossless, or when
/// its samples are of a kind the encoder does not take (then the original
/// is the full-fidelity copy).
fn lossless_copy(
    store: &dyn ObjectStore,
    data: &yunying_index::InstanceData,
    info: &yunying_transcode::PixelInfo,
    frames: &[Vec<u8>],
) -> Result<Option<Vec<u8>>, Failure> {
    let ts = data.stored.transfer_syntax_uid.as_str();
    if ts == HTJ2K_LOSSLESS {
        return Ok(None);
    }
    let sop_instance_uid = data.stored.sop_instance_uid.as_str();
    let mut encoded = Vec::with_capacity(frames.len());
    let mut photometric = info.photometric_interpretation.clone();
    for (i, frame) in frames.iter().enumerate() {
        let decoded = decode_frame(ts, info, frame)?;
        let native = yunying_transcode::PixelInfo {
            photometric_interpretation: decoded.photometric_interpretation.clone(),
            planar_configuration: decoded.planar_configuration,
            ..info.clone()
        };
        match encode_htj2k_lossless(&native, &decoded.bytes) {
            // Kept only if it decodes back to exactly these samples.
            Ok(codestream) => match round_trip(&native, &codestream, &decoded.bytes) {
                Ok(()) => encoded.push(codestream),
                Err(why) => {
                    // Not expected since openjph-core's packet header fix
                    // (vendor/openjph-core/PATCHES.md); the original stays
                    // the only full-fidelity copy.
                    tracing::warn!(
                        sop_instance_uid,
                        frame = i + 1,
                        "no lossless copy: the HTJ2K encoding did not decode back exactly: {why}"
                    );
                    return Ok(None);
                }
            },
            Err(e) => {
                // Samples the encoder does not take (32-bit, 1-bit,
                // subsampled YBR_FULL_422 as stored): the original stays
                // the only copy.
                tracing::debug!(sop_instance_uid, "no lossless copy: {e}");
                return Ok(None);
            }
        }
        photometric = decoded.photometric_interpretation;
    }
    let object = store.get(&data.stored.object_key).map_err(|e| Failure { reason: STORE, message: e.to_string(), permanent: false })?;
    let photometric = if photometric == "YBR_FULL_422" { "YBR_FULL".to_string() } else { photometric };
    Ok(Some(with_encapsulated_frames(&object, HTJ2K_LOSSLESS, &encoded, &photometric)?))
}

/// Whether a codestream decodes to exactly `samples` (the stored bits);
/// if not, why (the decoder's error with OpenJPEG's messages, or where
/// the samples differ).
fn round_trip(info: &yunying_transcode::PixelInfo, codestream: &[u8], samples: &[u8]) -> Result<(), String> {
    let back = decode_frame(HTJ2K_LOSSLESS, info, codestream).map_err(|e| e.to_string())?;
    if same_samples(info, &back.bytes, samples) {
        return Ok(());
    }
    let first = back.bytes.iter().zip(samples).position(|(a, b)| a != b);
    Err(format!("{} bytes decoded for {} expected, first difference at byte {first:?}", back.bytes.len(), samples.len()))
}

/// Whether decoded bytes are `samples`, on the stored bits.
fn same_samples(info: &yunying_transcode::PixelInfo, back: &[u8], samples: &[u8]) -> bool {
    if info.bits_allocated != 16 || info.bits_stored >= 16 {
        return back == samples;
    }
    // Only the stored bits count (junk above them is not kept).
    let mask = (1u16 << info.bits_stored) - 1;
    let signed = info.pixel_representation == 1;
    let norm = |b: &[u8]| -> Vec<u16> {
        b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) & if signed { u16::MAX } else { mask }).collect()
    };
    back.len() == samples.len() && norm(back) == norm(samples) || {
        let strip = |b: &[u8]| -> Vec<u16> { b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) & mask).collect() };
        strip(back) == strip(samples)
    }
}

/// MPEG-2, MPEG-4 AVC/H.264 and HEVC/H.265 transfer syntaxes.
fn is_video(ts: &str) -> bool {
    ts.starts_with("1.2.840.10008.1.2.4.10") || ts.starts_with("1.2.840.10008.1.2.4.11")
}

/// This machine's host name.
pub fn node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { String::new() };
    if name.is_empty() { "node".to_string() } else { name.replace(':', "_") }
}

/// Worker threads yield the CPU to the network and storage side.
fn lower_priority() {
    // On Linux, `nice` is per thread: 0 means the calling thread.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
