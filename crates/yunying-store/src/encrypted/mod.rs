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

pub mod fast_gcm;
pub mod fast_sm4;
pub mod format;
mod keys;

pub use keys::{EncryptionConfig, KeyError, KeyWrapper, LocalMasterKeys, MasterKeySource};

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;
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
        Ok(Opened { header, cipher: Sm4Gcm::new(&data_key) })
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
        Ok((header, Sm4Gcm::new(&data_key)))
    }

    /// Open the chunks from `first` on of `opened`, given their ciphertext
    /// in `sealed`, and return `len` plaintext bytes from `skip` bytes into
    /// the first chunk. The chunks are opened in place, on the rayon pool
    /// when there are several, and the plaintext is moved down over the tags
    /// in the same buffer.
    fn open_chunks(&self, key: &str, opened: &Opened, first: u64, mut sealed: Vec<u8>, skip: usize, len: usize) -> Result<Vec<u8>> {
        let size = opened.header.plaintext_len;
        let count = format::chunk_count(size);
        let stride = (CHUNK + TAG) as usize;
        let chunks = sealed.len().div_ceil(stride) as u64;
        // Every chunk but the object's last is full: each piece of `sealed`
        // must be exactly the chunk the header says is there.
        let expected = |i: u64| format::chunk_plain_len(size, first + i) as usize + TAG as usize;
        let last_len = sealed.len() - (chunks.max(1) as usize - 1) * stride;
        if chunks == 0 || first + chunks > count || last_len != expected(chunks - 1) {
            return Err(StoreError::Undecryptable { key: key.to_string(), reason: "truncated".into() });
        }
        let open_one = |(i, chunk): (usize, &mut [u8])| -> Result<()> {
            let index = first + i as u64;
            let (body, tag) = chunk.split_at_mut(chunk.len() - TAG as usize);
            let nonce = format::chunk_nonce(&opened.header.nonce_prefix, index);
            let aad = format::chunk_aad(key, index, index + 1 == count);
            opened
                .cipher
                .open_in_place_detached(&nonce, &aad, body, (&*tag).try_into().expect("16-byte tag"))
                .map_err(|_| StoreError::Undecryptable { key: key.to_string(), reason: format!("chunk {index} does not authenticate") })
        };
        if chunks >= 2 {
            sealed.par_chunks_mut(stride).enumerate().try_for_each(open_one)?;
        } else {
            open_one((0, &mut sealed[..]))?;
        }
        let opened_bytes = sealed.len() as u64 - chunks * TAG;
        self.decrypted.fetch_add(opened_bytes, Relaxed);
        if skip + len > opened_bytes as usize || skip > expected(0) - TAG as usize {
            return Err(StoreError::Undecryptable { key: key.to_string(), reason: "truncated".into() });
        }
        // Move the plaintext down over the tags (and the bytes before `skip`).
        let mut to = 0;
        for i in 0..chunks as usize {
            let plain = expected(i as u64) - TAG as usize;
            let from = i * stride + if i == 0 { skip } else { 0 };
            let end = i * stride + plain;
            if from != to {
                sealed.copy_within(from..end, to);
            }
            to += end - from;
        }
        sealed.truncate(len);
        Ok(sealed)
    }

    /// Encrypt the whole object read from `source` (`plaintext_len` bytes)
    /// into `out`, up to 16 chunks at a time sealed on the rayon pool;
    /// returns the SHA-256 of the plaintext and of what was written.
    fn seal_into(&self, key: &str, plaintext_len: u64, source: &mut dyn Read, out: &mut dyn Write) -> Result<SealDigests> {
        let (header, cipher) = self.seal_start(key, plaintext_len)?;
        let mut plain_hash = Sha256::new();
        let mut sealed_hash = Sha256::new();
        let head = header.encode();
        out.write_all(&head).map_err(|e| StoreError::io(key, e))?;
        sealed_hash.update(head);
        let count = format::chunk_count(plaintext_len);
        let stride = (CHUNK + TAG) as usize;
        let body_len = plaintext_len + count * TAG;
        let mut buf = vec![0u8; body_len.min(SEAL_BATCH * (CHUNK + TAG)) as usize];
        let mut first = 0;
        while first < count {
            let batch = (count - first).min(SEAL_BATCH);
            // Read each chunk into its slot, leaving room for its tag.
            let mut used = 0;
            for i in 0..batch {
                let n = format::chunk_plain_len(plaintext_len, first + i) as usize;
                let slot = &mut buf[i as usize * stride..][..n];
                source.read_exact(slot).map_err(|e| StoreError::io(key, e))?;
                plain_hash.update(&*slot);
                used = i as usize * stride + n + TAG as usize;
            }
            let seal_one = |(i, slot): (usize, &mut [u8])| -> Result<()> {
                let index = first + i as u64;
                let n = format::chunk_plain_len(plaintext_len, index) as usize;
                let (body, tag) = slot.split_at_mut(n);
                let nonce = format::chunk_nonce(&header.nonce_prefix, index);
                let aad = format::chunk_aad(key, index, index + 1 == count);
                let sealed_tag = cipher.seal_in_place_detached(&nonce, &aad, body).map_err(|_| encryption_failed(key, "SM4-GCM"))?;
                tag[..TAG as usize].copy_from_slice(&sealed_tag);
                Ok(())
            };
            if batch >= 2 {
                buf[..used].par_chunks_mut(stride).enumerate().try_for_each(seal_one)?;
            } else {
                seal_one((0, &mut buf[..used]))?;
            }
            // Slots are laid out as the chunks are stored: write them at once.
            out.write_all(&buf[..used]).map_err(|e| StoreError::io(key, e))?;
            sealed_hash.update(&buf[..used]);
            first += batch;
        }
        // The source must hold exactly what its size said.
        let mut probe = [0u8; 1];
        if source.read(&mut probe).map_err(|e| StoreError::io(key, e))? != 0 {
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

/// Chunks sealed at a time (1 MiB of plaintext in memory).
const SEAL_BATCH: u64 = 16;

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
        let opened = Opened { header, cipher: Sm4Gcm::new(&data_key) };
        let mut body = sealed;
        body.drain(..HEADER_LEN as usize);
        let len = opened.header.plaintext_len as usize;
        self.open_chunks(key, &opened, 0, body, 0, len)
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
        let skip = (start - first * CHUNK) as usize;
        self.open_chunks(key, &opened, first, sealed, skip, len as usize)
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
    fn list_page(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>> {
        let mut objects = self.inner.list_page(prefix, after, limit)?;
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
