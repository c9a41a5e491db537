//! Encryption at rest: an [`EncryptedStore`] wraps any [`ObjectStore`]
//! (filesystem or S3) and is transparent to every reader.
//!
//! Each object gets its own random 128-bit data key; its body is sealed with
//! SM4-GCM in 64 KiB chunks, and the data key is wrapped by a master key
//! ([`KeyWrapper`]) into a fixed-size header (layout in [`format`]). A
//! ranged read fetches and opens only the chunks that cover the range;
//! `size` and `list` give plaintext sizes; `open_local` hands out nothing
//! (the file holds ciphertext). A damaged, truncated, reordered or moved
//! object is an error ([`StoreError::Undecryptable`]), never wrong bytes.

pub mod fast_sm4;
pub mod format;
mod keys;

pub use keys::{EncryptionConfig, KeyError, KeyWrapper, LocalMasterKeys, MasterKeySource};

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use aes_gcm::KeyInit;
use aes_gcm::aead::AeadInPlace;
use sha2::{Digest, Sha256};

use crate::{ObjectInfo, ObjectStore, Result, StoreError};
use format::{CHUNK, HEADER_LEN, Header, Sm4Gcm, TAG};

/// An [`ObjectStore`] that encrypts what it puts into `inner` and decrypts
/// what it reads from it.
pub struct EncryptedStore {
    inner: Arc<dyn ObjectStore>,
    keys: Arc<dyn KeyWrapper>,
    /// Plaintext bytes opened since the store was made (tests and metrics:
    /// a ranged read must open only the chunks it needs).
    decrypted: AtomicU64,
}

/// An object's header and its unwrapped data key.
struct Opened {
    header: Header,
    cipher: Sm4Gcm,
}

impl EncryptedStore {
    /// Encrypt into `inner` under the master keys `keys`.
    pub fn new(inner: Arc<dyn ObjectStore>, keys: Arc<dyn KeyWrapper>) -> Self {
        EncryptedStore { inner, keys, decrypted: AtomicU64::new(0) }
    }

    /// The store holding the ciphertext.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Plaintext bytes decrypted so far (every chunk opened counts whole).
    pub fn decrypted_bytes(&self) -> u64 {
        self.decrypted.load(Relaxed)
    }

    /// The id of the master key an object's data key is wrapped under.
    pub fn key_id_of(&self, key: &str) -> Result<String> {
        Ok(self.read_header(key)?.key_id)
    }

    /// Re-wrap an object's data key under the current master key without
    /// touching its body (the ciphertext chunks are copied as they are,
    /// through a file in `spool`). Returns false when it already was.
    pub fn rewrap(&self, key: &str, spool: &Path) -> Result<bool> {
        let current = self.keys.current_key_id().to_string();
        let opened = self.open(key)?;
        if opened.header.key_id == current {
            return Ok(false);
        }
        let data_key = self.unwrap_key(key, &opened.header)?;
        let mut header = Header { key_id: current, wrapped: Vec::new(), ..opened.header };
        header.wrapped = self.wrap_key(key, &header, &data_key)?;
        let stored = self.inner.size(key)?;
        let tmp = temp_path(spool);
        let result = (|| {
            let mut out = File::create(&tmp).map_err(|e| StoreError::io(key, e))?;
            let mut hasher = Sha256::new();
            let head = header.encode();
            out.write_all(&head).map_err(|e| StoreError::io(key, e))?;
            hasher.update(head);
            let mut pos = HEADER_LEN;
            while pos < stored {
                let n = (CHUNK * 64).min(stored - pos);
                let bytes = self.inner.get_range(key, pos, n)?;
                out.write_all(&bytes).map_err(|e| StoreError::io(key, e))?;
                hasher.update(&bytes);
                pos += n;
            }
            drop(out);
            self.inner.put_file_hashed(key, &tmp, &hasher.finalize().into())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| true)
    }

    fn read_header(&self, key: &str) -> Result<Header> {
        let bytes = self.inner.get_range(key, 0, HEADER_LEN).map_err(|e| damaged(key, e))?;
        Header::decode(&bytes).map_err(|reason| StoreError::Undecryptable { key: key.to_string(), reason })
    }

    /// Read the header and unwrap the data key.
    fn open(&self, key: &str) -> Result<Opened> {
        let header = self.read_header(key)?;
        let data_key = self.unwrap_key(key, &header)?;
        Ok(Opened { header, cipher: Sm4Gcm::new(&data_key.into()) })
    }

    fn unwrap_key(&self, key: &str, header: &Header) -> Result<[u8; 16]> {
        let aad = header.wrap_aad(key, header.wrapped.len());
        self.keys
            .unwrap(&header.key_id, &header.wrapped, &aad)
            .map_err(|e| StoreError::Undecryptable { key: key.to_string(), reason: e.to_string() })
    }

    fn wrap_key(&self, key: &str, header: &Header, data_key: &[u8; 16]) -> Result<Vec<u8>> {
        // The wrapped length is bound into the wrapping: ask for the size
        // the local wrapper makes, then check what came back.
        let wrapped = self.keys.wrap(data_key, &header.wrap_aad(key, WRAPPED_LEN)).map_err(|e| encryption_failed(key, e))?;
        if wrapped.len() != WRAPPED_LEN {
            return Err(encryption_failed(key, format!("a wrapped data key of {} bytes (expected {WRAPPED_LEN})", wrapped.len())));
        }
        Ok(wrapped)
    }

    /// A fresh data key and header for `plaintext_len` bytes under `key`.
    fn seal_start(&self, key: &str, plaintext_len: u64) -> Result<(Header, Sm4Gcm)> {
        if plaintext_len > format::MAX_PLAINTEXT {
            return Err(encryption_failed(key, "object too large"));
        }
        let data_key: [u8; 16] = rand::random();
        let mut header =
            Header { key_id: self.keys.current_key_id().to_string(), plaintext_len, nonce_prefix: rand::random(), wrapped: Vec::new() };
        header.wrapped = self.wrap_key(key, &header, &data_key)?;
        Ok((header, Sm4Gcm::new(&data_key.into())))
    }

    /// Open chunks `first..=last` of `opened`, given their ciphertext.
    fn open_chunks(&self, key: &str, opened: &Opened, first: u64, mut sealed: Vec<u8>) -> Result<Vec<u8>> {
        let len = opened.header.plaintext_len;
        let count = format::chunk_count(len);
        let mut out = Vec::with_capacity(sealed.len());
        let mut index = first;
        let mut rest = &mut sealed[..];
        while !rest.is_empty() {
            let plain = format::chunk_plain_len(len, index) as usize;
            if index >= count || rest.len() < plain + TAG as usize {
                return Err(StoreError::Undecryptable { key: key.to_string(), reason: "truncated".into() });
            }
            let (chunk, tail) = rest.split_at_mut(plain + TAG as usize);
            let (body, tag) = chunk.split_at_mut(plain);
            let nonce = format::chunk_nonce(&opened.header.nonce_prefix, index);
            let aad = format::chunk_aad(key, index, index + 1 == count);
            opened
                .cipher
                .decrypt_in_place_detached(&nonce.into(), &aad, body, (&*tag).into())
                .map_err(|_| StoreError::Undecryptable { key: key.to_string(), reason: format!("chunk {index} does not authenticate") })?;
            self.decrypted.fetch_add(plain as u64, Relaxed);
            out.extend_from_slice(body);
            rest = tail;
            index += 1;
        }
        Ok(out)
    }

    /// Encrypt `plain` (all of it, or the whole object read from `source`)
    /// into `out`; returns the SHA-256 of the plaintext.
    fn seal_into(&self, key: &str, plaintext_len: u64, source: &mut dyn Read, out: &mut dyn Write) -> Result<SealDigests> {
        let (header, cipher) = self.seal_start(key, plaintext_len)?;
        let mut plain_hash = Sha256::new();
        let mut sealed_hash = Sha256::new();
        let head = header.encode();
        out.write_all(&head).map_err(|e| StoreError::io(key, e))?;
        sealed_hash.update(head);
        let count = format::chunk_count(plaintext_len);
        let mut buf = vec![0u8; CHUNK as usize];
        for index in 0..count {
            let n = format::chunk_plain_len(plaintext_len, index) as usize;
            source.read_exact(&mut buf[..n]).map_err(|e| StoreError::io(key, e))?;
            plain_hash.update(&buf[..n]);
            let nonce = format::chunk_nonce(&header.nonce_prefix, index);
            let aad = format::chunk_aad(key, index, index + 1 == count);
            let tag =
                cipher.encrypt_in_place_detached(&nonce.into(), &aad, &mut buf[..n]).map_err(|_| encryption_failed(key, "SM4-GCM"))?;
            out.write_all(&buf[..n]).and_then(|()| out.write_all(&tag)).map_err(|e| StoreError::io(key, e))?;
            sealed_hash.update(&buf[..n]);
            sealed_hash.update(tag);
        }
        // The source must hold exactly what its size said.
        if source.read(&mut buf[..1]).map_err(|e| StoreError::io(key, e))? != 0 {
            return Err(StoreError::io(key, std::io::Error::other("the file grew while it was encrypted")));
        }
        Ok(SealDigests { plain: plain_hash.finalize().into(), sealed: sealed_hash.finalize().into() })
    }

    fn put_file_checked(&self, key: &str, local: &Path, expected: Option<&[u8; 32]>) -> Result<()> {
        crate::validate_key(key)?;
        let mut file = File::open(local).map_err(|e| StoreError::io(key, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(key, e))?.len();
        let tmp = sibling_temp(local);
        let result = (|| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(|e| StoreError::io(key, e))?);
            let digests = self.seal_into(key, len, &mut file, &mut out)?;
            out.flush().map_err(|e| StoreError::io(key, e))?;
            drop(out);
            if expected.is_some_and(|e| *e != digests.plain) {
                return Err(StoreError::io(key, std::io::Error::other("the file's SHA-256 is not the one given")));
            }
            self.inner.put_file_hashed(key, &tmp, &digests.sealed)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return result;
        }
        std::fs::remove_file(local).map_err(|e| StoreError::io(key, e))
    }
}

/// Bytes of a wrapped data key in format version 1.
const WRAPPED_LEN: usize = 44;

struct SealDigests {
    plain: [u8; 32],
    sealed: [u8; 32],
}

impl ObjectStore for EncryptedStore {
    fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        self.put_file_checked(key, local, None)
    }

    /// `sha256` is the plaintext's: it is checked as the file is encrypted,
    /// and the inner store is given the ciphertext's.
    fn put_file_hashed(&self, key: &str, local: &Path, sha256: &[u8; 32]) -> Result<()> {
        self.put_file_checked(key, local, Some(sha256))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        crate::validate_key(key)?;
        let mut out = Vec::with_capacity(format::ciphertext_len(bytes.len() as u64) as usize);
        self.seal_into(key, bytes.len() as u64, &mut &bytes[..], &mut out)?;
        self.inner.put_bytes(key, &out)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let sealed = self.inner.get(key)?;
        let header = Header::decode(&sealed).map_err(|reason| StoreError::Undecryptable { key: key.to_string(), reason })?;
        if sealed.len() as u64 != format::ciphertext_len(header.plaintext_len) {
            return Err(StoreError::Undecryptable { key: key.to_string(), reason: "wrong length (truncated or extended)".into() });
        }
        let data_key = self.unwrap_key(key, &header)?;
        let opened = Opened { header, cipher: Sm4Gcm::new(&data_key.into()) };
        let body = sealed[HEADER_LEN as usize..].to_vec();
        drop(sealed);
        self.open_chunks(key, &opened, 0, body)
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let opened = self.open(key)?;
        let size = opened.header.plaintext_len;
        let Some(end) = start.checked_add(len).filter(|&end| end <= size) else {
            return Err(StoreError::InvalidRange { start, end: start.saturating_add(len), len: size });
        };
        if len == 0 {
            return Ok(Vec::new());
        }
        let (first, last) = (start / CHUNK, (end - 1) / CHUNK);
        let from = format::chunk_offset(first);
        let to = format::chunk_offset(last) + format::chunk_plain_len(size, last) + TAG;
        let sealed = self.inner.get_range(key, from, to - from).map_err(|e| damaged(key, e))?;
        let plain = self.open_chunks(key, &opened, first, sealed)?;
        let skip = (start - first * CHUNK) as usize;
        Ok(plain[skip..skip + len as usize].to_vec())
    }

    /// The plaintext size, from the stored size (no read: the header has a
    /// fixed size).
    fn size(&self, key: &str) -> Result<u64> {
        let stored = self.inner.size(key)?;
        format::plaintext_len(stored)
            .ok_or_else(|| StoreError::Undecryptable { key: key.to_string(), reason: "impossible stored size".into() })
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)
    }

    /// Plaintext sizes; an object whose stored size no plaintext has is
    /// listed with size 0 (reading it fails).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut objects = self.inner.list(prefix)?;
        for o in &mut objects {
            o.size = format::plaintext_len(o.size).unwrap_or(0);
        }
        Ok(objects)
    }

    fn local_spool_dir(&self) -> Option<&Path> {
        self.inner.local_spool_dir()
    }

    /// Never the file: it holds ciphertext. Readers fall back to ranged reads.
    fn open_local(&self, key: &str) -> Result<Option<File>> {
        crate::validate_key(key)?;
        Ok(None)
    }
}

/// An inner read that fails for want of bytes means a damaged object.
fn damaged(key: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::InvalidRange { .. } => StoreError::Undecryptable { key: key.to_string(), reason: "truncated".into() },
        other => other,
    }
}

fn encryption_failed(key: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Io { key: key.to_string(), source: std::io::Error::other(format!("encryption failed: {why}")) }
}

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

fn sibling_temp(local: &Path) -> PathBuf {
    let n = NEXT_TEMP.fetch_add(1, Relaxed);
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".sealed-{}-{n}", std::process::id()));
    local.with_file_name(name)
}

fn temp_path(spool: &Path) -> PathBuf {
    let n = NEXT_TEMP.fetch_add(1, Relaxed);
    spool.join(format!("rewrap-{}-{n}.tmp", std::process::id()))
}
