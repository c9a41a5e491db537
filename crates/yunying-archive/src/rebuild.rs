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

/// Re-read one stored original and record it in the index (used by
/// `reindex`). The provenance saved in the file meta restores its issuer,
/// calling AE and arrival time.
pub async fn reindex_object(archive: &Archive, key: &str) -> Result<InsertOutcome, ImportError> {
    let store = archive.store().clone();
    let owned_key = key.to_string();
    let default_charset = archive.config().default_charset.clone();
    let fallback_issuer = archive.config().default_institution.clone();
    let record = tokio::task::spawn_blocking(move || -> Result<_, ImportError> {
        let mut reader = ObjectReader::open(store.as_ref(), &owned_key)?;
        let len = reader.len();
        let mut hasher = ObjectHasher::new();
        std::io::copy(&mut (&mut reader).take(len), &mut hasher)?;
        reader.seek(SeekFrom::Start(0))?;
        let (meta, start) = FileMeta::read(&mut reader)?;
        let provenance = meta.provenance.clone().unwrap_or_default();
        let mut record = extract_record(&mut reader, start, len, &meta.transfer_syntax_uid, default_charset.as_deref())?;
        record.issuer = if provenance.issuer.is_empty() { fallback_issuer } else { provenance.issuer };
        record.calling_ae = provenance.calling_ae;
        record.received_at_ms = provenance.received_at_ms;
        record.transfer_syntax_uid = meta.transfer_syntax_uid;
        record.size_bytes = len as i64;
        let digests = hasher.finalize();
        record.digest = digests.sha256_hex();
        record.sm3 = Some(digests.sm3_hex());
        record.object_key = owned_key;
        Ok(record)
    })
    .await
    .map_err(std::io::Error::other)??;
    archive
        .index()
        .insert(record, yunying_index::DuplicatePolicy::KeepFirst)
        .await
        .map_err(|e| ImportError::Ingest(IngestError::OutOfResources(format!("index: {e}"))))
}
