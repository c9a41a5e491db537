//! Instances that do not arrive over the network: files imported from disk,
//! and objects re-read from the store to rebuild the index.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::digests::ObjectHasher;
use crate::meta::{FileMeta, MetaError};
use crate::reader::ObjectReader;
use crate::{Archive, Caller, IngestError, InsertOutcome, StoreContext, Stored, extract_record};

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a DICOM file: {0}")]
    NotDicom(#[from] MetaError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Import one Part 10 file through the same ingest path as C-STORE. A
/// raw dataset (no preamble and meta group) in an uncompressed transfer
/// syntax is imported too, its syntax inferred ([`crate::raw`]).
pub async fn import_file(archive: &Archive, path: &Path, caller: &Caller) -> Result<Stored, ImportError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut head).await?;
    head.truncate(n);
    let (meta, dataset_start) = match FileMeta::read(&mut &head[..]) {
        Ok(read) => read,
        Err(MetaError::NotPart10) => (crate::raw::infer_meta(&head).ok_or(MetaError::NotPart10)?, 0),
        Err(e) => return Err(e.into()),
    };
    let ctx = StoreContext {
        caller: caller.clone(),
        sop_class_uid: meta.sop_class_uid,
        sop_instance_uid: meta.sop_instance_uid,
        transfer_syntax_uid: meta.transfer_syntax_uid,
        source: "import",
        expected_study_instance_uid: None,
        principal: "import".into(),
    };
    let mut incoming = archive.begin(ctx).await?;
    incoming.write(Bytes::copy_from_slice(&head[dataset_start as usize..])).await?;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = read_up_to(&mut file, &mut chunk).await?;
        if n == 0 {
            break;
        }
        incoming.write(Bytes::copy_from_slice(&chunk[..n])).await?;
    }
    Ok(incoming.finish().await?)
}

/// Store one Part 10 file held in memory (an object Yunying made, such as
/// a signed report) through the same ingest path as C-STORE, as
/// `principal` (`source` `import`), into `expected_study` when given.
pub async fn import_bytes(
    archive: &Archive,
    bytes: &[u8],
    caller: &Caller,
    principal: &str,
    expected_study: Option<String>,
) -> Result<Stored, ImportError> {
    let (meta, dataset_start) = FileMeta::read(&mut &bytes[..])?;
    let ctx = StoreContext {
        caller: caller.clone(),
        sop_class_uid: meta.sop_class_uid,
        sop_instance_uid: meta.sop_instance_uid,
        transfer_syntax_uid: meta.transfer_syntax_uid,
        source: "import",
        expected_study_instance_uid: expected_study,
        principal: principal.into(),
    };
    let mut incoming = archive.begin(ctx).await?;
    incoming.write(Bytes::copy_from_slice(&bytes[dataset_start as usize..])).await?;
    Ok(incoming.finish().await?)
}

async fn read_up_to(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Why a stored object could not be read as an instance.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store did not give its bytes (gone, unreadable, undecryptable):
    /// this says nothing of the object itself.
    #[error("cannot read the object: {0}")]
    Store(std::io::Error),
    /// Its bytes were read whole and are not a valid Part 10 instance.
    #[error("not a valid instance: {0}")]
    Invalid(String),
}

/// A stored original read back: the row ingest would have written for it
/// (issuer, calling AE and arrival time from the provenance in its file
/// meta) and the UIDs its file meta declares.
pub struct StoredOriginal {
    pub record: yunying_index::InstanceRecord,
    /// Media Storage SOP Class and Instance UIDs of the file meta.
    pub meta_sop_class_uid: String,
    pub meta_sop_instance_uid: String,
}

/// Read one stored original whole (its SHA-256 and SM3) and as an
/// instance. A failure of the store is told apart from bytes that are not
/// an instance, since only the latter may be judged.
pub async fn read_original(archive: &Archive, key: &str) -> Result<StoredOriginal, ReadError> {
    let store = archive.store().clone();
    let owned_key = key.to_string();
    let default_charset = archive.config().default_charset.clone();
    let fallback_issuer = archive.config().default_institution.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = ObjectReader::open(store.as_ref(), &owned_key).map_err(ReadError::Store)?;
        let len = reader.len();
        let mut hasher = ObjectHasher::new();
        std::io::copy(&mut (&mut reader).take(len), &mut hasher).map_err(ReadError::Store)?;
        let judged = |reader: &ObjectReader, e: String| {
            if reader.store_failed() { ReadError::Store(std::io::Error::other(e)) } else { ReadError::Invalid(e) }
        };
        reader.seek(SeekFrom::Start(0)).map_err(ReadError::Store)?;
        let (meta, start) = match FileMeta::read(&mut reader) {
            Ok(read) => read,
            Err(e) => return Err(judged(&reader, e.to_string())),
        };
        let provenance = meta.provenance.clone().unwrap_or_default();
        let mut record = match extract_record(&mut reader, start, len, &meta.transfer_syntax_uid, default_charset.as_deref()) {
            Ok(record) => record,
            Err(e) => return Err(judged(&reader, e.to_string())),
        };
        record.issuer = if provenance.issuer.is_empty() { fallback_issuer } else { provenance.issuer };
        record.calling_ae = provenance.calling_ae;
        record.received_at_ms = provenance.received_at_ms;
        record.transfer_syntax_uid = meta.transfer_syntax_uid;
        record.size_bytes = len as i64;
        let digests = hasher.finalize();
        record.digest = digests.sha256_hex();
        record.sm3 = Some(digests.sm3_hex());
        record.object_key = owned_key;
        Ok(StoredOriginal { record, meta_sop_class_uid: meta.sop_class_uid, meta_sop_instance_uid: meta.sop_instance_uid })
    })
    .await
    .map_err(|e| ReadError::Store(std::io::Error::other(e)))?
}

/// Re-read one stored original and record it in the index (used by
/// `reindex`). The provenance saved in the file meta restores its issuer,
/// calling AE and arrival time.
///
/// An original whose bytes do not match the digest its key names is
/// refused: altered since it was stored (or written by something else).
pub async fn reindex_object(archive: &Archive, key: &str) -> Result<InsertOutcome, ImportError> {
    let read = read_original(archive, key).await.map_err(|e| match e {
        ReadError::Store(e) => ImportError::Io(e),
        ReadError::Invalid(why) => ImportError::Ingest(IngestError::CannotUnderstand(why)),
    })?;
    if let Some(version) = crate::maintenance::key_version(key)
        && !read.record.digest.starts_with(version)
    {
        let why = "its bytes do not match the digest its key names (altered since it was stored?)";
        return Err(ImportError::Ingest(IngestError::CannotUnderstand(why.into())));
    }
    insert_read(archive, read.record).await
}

/// Insert a record read back from the store as ingest does (the first
/// instance with a SOP Instance UID is kept).
pub(crate) async fn insert_read(archive: &Archive, record: yunying_index::InstanceRecord) -> Result<InsertOutcome, ImportError> {
    archive
        .index()
        .insert(record, yunying_index::DuplicatePolicy::KeepFirst)
        .await
        .map_err(|e| ImportError::Ingest(IngestError::OutOfResources(format!("index: {e}"))))
}
