//! S3-compatible object store (Garage, MinIO, Ceph, Aliyun OSS, Tencent
//! COS, Huawei OBS, AWS) through `aws-sdk-s3`.
//!
//! * Originals and renditions can live in different buckets or under
//!   different prefixes ([`S3Config`]), so lifecycle rules can differ; keys
//!   under [`RENDITIONS_PREFIX`](crate::RENDITIONS_PREFIX) go to the
//!   renditions location, everything else to the originals location.
//! * Large files are uploaded in parts read straight from disk, so memory
//!   stays bounded whatever the object size; every request body carries its
//!   SHA-256 (`x-amz-checksum-sha256`), which the server checks. Ingest
//!   passes the digest it computed as the data arrived (the one the index
//!   records), so that digest is what the server checks the object against.
//! * Throttling and transient errors are retried with exponential backoff by
//!   the SDK's standard retry strategy.
//! * A PUT that returned success is durable on the server: S3's contract.
//!
//! The trait is blocking; this store drives the async SDK on a small runtime
//! of its own, so it may be called from `spawn_blocking`, rayon workers or
//! plain threads (never from an async task).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ObjectInfo, ObjectStore, RENDITIONS_PREFIX, Result, StoreError, validate_key};

/// Files larger than this are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: u64 = 8 << 20;
/// Single uploads up to this size are sent from memory.
const IN_MEMORY_BODY: u64 = 4 << 20;
/// Read size of request bodies streamed from a file.
const FILE_BODY_BUFFER: usize = 256 << 10;

/// Where and how to reach the S3 service.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:3900`; empty means AWS (or
    /// `AWS_ENDPOINT_URL`).
    pub endpoint: String,
    /// Region name; empty means `AWS_REGION` or `us-east-1`. Garage's
    /// default is `garage`.
    pub region: String,
    /// Bucket of the originals.
    pub bucket: String,
    /// Key prefix inside the originals bucket (e.g. `yunying/`), may be empty.
    pub prefix: String,
    /// Bucket of the renditions; empty means the originals bucket.
    pub renditions_bucket: String,
    /// Key prefix of the renditions inside their bucket.
    pub renditions_prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most
    /// self-hosted servers want; false means virtual-hosted
    /// (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Access key; empty means `AWS_ACCESS_KEY_ID`. The secret key is only
    /// read from the environment (`AWS_SECRET_ACCESS_KEY`) or the config
    /// file, never from a flag.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Attempts per request (first try included) on throttling and
    /// transient errors.
    pub max_attempts: u32,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: String::new(),
            bucket: String::new(),
            prefix: String::new(),
            renditions_bucket: String::new(),
            renditions_prefix: String::new(),
            path_style: true,
            access_key_id: String::new(),
            secret_access_key: String::new(),
            max_attempts: 5,
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("renditions_bucket", &self.renditions_bucket)
            .field("renditions_prefix", &self.renditions_prefix)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &if self.secret_access_key.is_empty() { "" } else { "<redacted>" })
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// One bucket and key prefix.
#[derive(Debug, Clone)]
struct Location {
    bucket: String,
    prefix: String,
}

impl Location {
    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// An [`ObjectStore`] on an S3-compatible service.
pub struct S3Store {
    client: Client,
    runtime: Option<tokio::runtime::Runtime>,
    originals: Location,
    renditions: Location,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("originals", &self.originals).field("renditions", &self.renditions).finish()
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside an async
        // context (the store may be dropped there); let it wind down alone.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn env_or(value: &str, var: &str) -> Option<String> {
    if !value.is_empty() {
        return Some(value.to_string());
    }
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

fn normalise_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() { String::new() } else { format!("{p}/") }
}

impl S3Store {
    /// Connect to the service (no request is made until the first call;
    /// use [`S3Store::check`] to fail fast on a wrong bucket or key).
    pub fn new(config: &S3Config) -> std::io::Result<S3Store> {
        let invalid = |msg: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.to_string());
        if config.bucket.is_empty() {
            return Err(invalid("store.s3.bucket is required"));
        }
        let access = env_or(&config.access_key_id, "AWS_ACCESS_KEY_ID")
            .ok_or_else(|| invalid("no S3 access key (store.s3.access_key_id or AWS_ACCESS_KEY_ID)"))?;
        let secret = env_or(&config.secret_access_key, "AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| invalid("no S3 secret key (store.s3.secret_access_key or AWS_SECRET_ACCESS_KEY)"))?;
        let session = std::env::var("AWS_SESSION_TOKEN").ok().filter(|v| !v.is_empty());
        let region = env_or(&config.region, "AWS_REGION").unwrap_or_else(|| "us-east-1".into());
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new(access, secret, session, None, "yunying-config"))
            .force_path_style(config.path_style)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(config.max_attempts.max(1))
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(10)),
            )
            .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).read_timeout(Duration::from_secs(60)).build())
            // We send our own SHA-256 checksums; no aws-chunked trailers,
            // which some S3 servers do not speak.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = env_or(&config.endpoint, "AWS_ENDPOINT_URL") {
            builder = builder.endpoint_url(endpoint);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("s3-store").enable_all().build()?;
        let originals = Location { bucket: config.bucket.clone(), prefix: normalise_prefix(&config.prefix) };
        let renditions = Location {
            bucket: if config.renditions_bucket.is_empty() { config.bucket.clone() } else { config.renditions_bucket.clone() },
            prefix: normalise_prefix(&config.renditions_prefix),
        };
        Ok(S3Store { client: Client::from_conf(builder.build()), runtime: Some(runtime), originals, renditions })
    }

    /// Check that both buckets exist and the credentials work.
    pub fn check(&self) -> Result<()> {
        for loc in [&self.originals, &self.renditions] {
            self.block_on(self.client.head_bucket().bucket(&loc.bucket).send())
                .map_err(|e| sdk_error(&format!("bucket {}", loc.bucket), e))?;
        }
        Ok(())
    }

    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.as_ref().expect("runtime lives as long as the store").block_on(fut)
    }

    fn location(&self, key: &str) -> &Location {
        if key.starts_with(RENDITIONS_PREFIX) { &self.renditions } else { &self.originals }
    }

    fn head_size(&self, key: &str) -> Result<u64> {
        let loc = self.location(key);
        let out =
            self.block_on(self.client.head_object().bucket(&loc.bucket).key(loc.object_key(key)).send()).map_err(|e| sdk_error(key, e))?;
        Ok(out.content_length().unwrap_or(0).max(0) as u64)
    }

    fn put_single(&self, key: &str, local: &Path, len: u64, sha256: Option<&[u8; 32]>) -> Result<()> {
        let known = sha256.map(|digest| base64::engine::general_purpose::STANDARD.encode(digest));
        if len <= IN_MEMORY_BODY {
            // The spool was just written: one read from the page cache
            // beats the SDK's 64 KiB file reads, each a blocking-pool hop,
            // and the server gets the body in large segments.
            let mut data = Vec::with_capacity(len as usize);
            std::fs::File::open(local).and_then(|f| f.take(len).read_to_end(&mut data)).map_err(|e| StoreError::io(key, e))?;
            if data.len() as u64 != len {
                return Err(io_error(key, "file shrank while uploading"));
            }
            let checksum = known.unwrap_or_else(|| sha256_base64(&data));
            return self.put_object(key, len, checksum, ByteStream::from(data));
        }
        let checksum = match known {
            Some(checksum) => checksum,
            None => sha256_of_file(local, 0, len).map_err(|e| StoreError::io(key, e))?,
        };
        let body = self
            .block_on(ByteStream::read_from().path(local).buffer_size(FILE_BODY_BUFFER).length(Length::Exact(len)).build())
            .map_err(|e| io_error(key, e))?;
        self.put_object(key, len, checksum, body)
    }

    /// One PUT of a whole object whose SHA-256 (base64) is `checksum`.
    fn put_object(&self, key: &str, len: u64, checksum: String, body: ByteStream) -> Result<()> {
        let loc = self.location(key);
        self.block_on(
            self.client
                .put_object()
                .bucket(&loc.bucket)
                .key(loc.object_key(key))
                .content_length(len as i64)
                .checksum_sha256(checksum)
                .body(body)
                .customize()
                // The body's SHA-256 is in the checksum header, which the
                // server verifies; signing the payload too would hash it a
                // second time on both sides (streamed bodies are never
                // signed).
                .disable_payload_signing()
                .send(),
        )
        .map_err(|e| sdk_error(key, e))?;
        Ok(())
    }

    fn put_multipart(&self, key: &str, local: &Path, len: u64) -> Result<()> {
        let loc = self.location(key);
        let object_key = loc.object_key(key);
        let created = self
            .block_on(
                self.client
                    .create_multipart_upload()
                    .bucket(&loc.bucket)
                    .key(&object_key)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .send(),
            )
            .map_err(|e| sdk_error(key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = (|| {
            let mut parts = Vec::new();
            let mut offset = 0u64;
            let mut number = 1i32;
            while offset < len {
                let size = PART_SIZE.min(len - offset);
                let checksum = sha256_of_file(local, offset, size).map_err(|e| StoreError::io(key, e))?;
                let body = self
                    .block_on(
                        ByteStream::read_from()
                            .path(local)
                            .buffer_size(FILE_BODY_BUFFER)
                            .offset(offset)
                            .length(Length::Exact(size))
                            .build(),
                    )
                    .map_err(|e| io_error(key, e))?;
                let out = self
                    .block_on(
                        self.client
                            .upload_part()
                            .bucket(&loc.bucket)
                            .key(&object_key)
                            .upload_id(&upload_id)
                            .part_number(number)
                            .content_length(size as i64)
                            .checksum_sha256(&checksum)
                            .body(body)
                            .send(),
                    )
                    .map_err(|e| sdk_error(key, e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .checksum_sha256(out.checksum_sha256().map(str::to_string).unwrap_or(checksum))
                        .build(),
                );
                offset += size;
                number += 1;
            }
            self.block_on(
                self.client
                    .complete_multipart_upload()
                    .bucket(&loc.bucket)
                    .key(&object_key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send(),
            )
            .map_err(|e| sdk_error(key, e))?;
            Ok(())
        })();
        if result.is_err() {
            // Leave no half-uploaded parts behind (they cost money and are
            // never visible as an object).
            let _ = self.block_on(self.client.abort_multipart_upload().bucket(&loc.bucket).key(&object_key).upload_id(&upload_id).send());
        }
        result
    }
}

impl ObjectStore for S3Store {
    fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        self.put_file_checked(key, local, None)
    }

    fn put_file_hashed(&self, key: &str, local: &Path, sha256: &[u8; 32]) -> Result<()> {
        self.put_file_checked(key, local, Some(sha256))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        validate_key(key)?;
        self.put_object(key, bytes.len() as u64, sha256_base64(bytes), ByteStream::from(bytes.to_vec()))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        validate_key(key)?;
        let loc = self.location(key);
        self.block_on(async {
            let out = self.client.get_object().bucket(&loc.bucket).key(loc.object_key(key)).send().await.map_err(|e| sdk_error(key, e))?;
            let data = out.body.collect().await.map_err(|e| io_error(key, e))?;
            Ok(data.to_vec())
        })
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        validate_key(key)?;
        if len == 0 {
            let size = self.head_size(key)?;
            if start > size {
                return Err(StoreError::InvalidRange { start, end: start, len: size });
            }
            return Ok(Vec::new());
        }
        let end = start.checked_add(len).ok_or(StoreError::InvalidRange { start, end: u64::MAX, len: 0 })?;
        let loc = self.location(key);
        let result = self.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&loc.bucket)
                .key(loc.object_key(key))
                .range(format!("bytes={start}-{}", end - 1))
                .send()
                .await?;
            let total = out.content_range().and_then(|r| r.rsplit('/').next()).and_then(|t| t.parse::<u64>().ok());
            // Straight into a buffer of the requested size: one copy.
            let mut body = out.body;
            let mut data = Vec::with_capacity(len as usize);
            let data = loop {
                match body.try_next().await {
                    Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                    Ok(None) => break Ok(data),
                    Err(e) => break Err(e),
                }
            };
            Ok::<_, SdkError<_, _>>((total, data))
        });
        match result {
            Ok((total, Ok(data))) => {
                if data.len() as u64 != len {
                    // The server clipped the range at the object's end.
                    let size = total.unwrap_or(start + data.len() as u64);
                    return Err(StoreError::InvalidRange { start, end, len: size });
                }
                Ok(data)
            }
            Ok((_, Err(e))) => Err(io_error(key, e)),
            Err(e) if status_of(&e) == Some(416) => {
                let size = self.head_size(key)?;
                Err(StoreError::InvalidRange { start, end, len: size })
            }
            Err(e) => Err(sdk_error(key, e)),
        }
    }

    fn size(&self, key: &str) -> Result<u64> {
        validate_key(key)?;
        self.head_size(key)
    }

    fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        let loc = self.location(key);
        match self.block_on(self.client.delete_object().bucket(&loc.bucket).key(loc.object_key(key)).send()) {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(sdk_error(key, e)),
        }
    }

    fn list_page(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>> {
        self.list_both(prefix, after, limit)
    }
}

impl S3Store {
    /// Upload a spooled file and delete it. A known whole-file digest is
    /// sent as the checksum of a single PUT; multipart parts carry their
    /// own, computed here.
    fn put_file_checked(&self, key: &str, local: &Path, sha256: Option<&[u8; 32]>) -> Result<()> {
        validate_key(key)?;
        let len = std::fs::metadata(local).map_err(|e| StoreError::io(key, e))?.len();
        if len > MULTIPART_THRESHOLD {
            self.put_multipart(key, local, len)?;
        } else {
            self.put_single(key, local, len, sha256)?;
        }
        std::fs::remove_file(local).map_err(|e| StoreError::io(key, e))
    }

    /// Up to `limit` objects under `prefix` after `after`, from whichever
    /// locations the prefix covers (the empty prefix covers both), in key
    /// order.
    fn list_both(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let originals_match = !prefix.starts_with(RENDITIONS_PREFIX);
        let renditions_match = prefix.starts_with(RENDITIONS_PREFIX) || RENDITIONS_PREFIX.starts_with(prefix);
        if originals_match {
            // The originals location may also hold renditions keys when both
            // share a bucket and prefix; keep only what routes here.
            self.list_location(&self.originals, prefix, after, limit, |k| !k.starts_with(RENDITIONS_PREFIX), &mut out)?;
        }
        if renditions_match {
            let mut r = Vec::new();
            self.list_location(&self.renditions, prefix, after, limit, |k| k.starts_with(RENDITIONS_PREFIX), &mut r)?;
            out.extend(r);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.truncate(limit);
        Ok(out)
    }

    /// Objects of `loc` under `prefix` after `after` that `keep` accepts,
    /// in key order, until `out` holds `limit` (S3 lists keys in binary
    /// order, which is `str` order for our ASCII keys).
    fn list_location(
        &self,
        loc: &Location,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&str) -> bool,
        out: &mut Vec<ObjectInfo>,
    ) -> Result<()> {
        let full = loc.object_key(prefix);
        let start_after = after.map(|a| loc.object_key(a));
        let mut token: Option<String> = None;
        loop {
            let want = (limit - out.len()).min(1000) as i32;
            let request = self
                .client
                .list_objects_v2()
                .bucket(&loc.bucket)
                .prefix(&full)
                .set_start_after(start_after.clone())
                .set_continuation_token(token.clone())
                .max_keys(want);
            let page = self.block_on(request.send()).map_err(|e| sdk_error(prefix, e))?;
            for obj in page.contents() {
                let Some(key) = obj.key().and_then(|k| k.strip_prefix(&loc.prefix)) else { continue };
                if !keep(key) || out.len() >= limit {
                    continue;
                }
                let modified = obj.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok());
                out.push(ObjectInfo { key: key.to_string(), size: obj.size().unwrap_or(0).max(0) as u64, modified });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && out.len() < limit => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }
}

fn sha256_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

fn sha256_of_file(path: &Path, offset: u64, len: u64) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while uploading"));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

fn status_of<E, R: HasStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HasStatus::status_code)
}

trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn sdk_error<E>(key: &str, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    if status_of(&e) == Some(404) && e.code() != Some("NoSuchBucket") {
        return StoreError::NotFound { key: key.to_string() };
    }
    StoreError::Io { key: key.to_string(), source: std::io::Error::other(DisplayErrorContext(e).to_string()) }
}

fn io_error(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { key: key.to_string(), source: std::io::Error::other(e.to_string()) }
}
