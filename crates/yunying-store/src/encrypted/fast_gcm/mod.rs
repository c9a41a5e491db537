//! SM4-GCM (NIST SP 800-38D over SM4) on [`FastSm4`] and a GHASH with
//! aggregated reduction ([`ghash`]), byte for byte the same as
//! `AesGcm<sm4::Sm4, U12>`: 96-bit nonces, 128-bit tags.
//!
//! Sealing and opening run CTR and GHASH together over 1 KiB strides, so
//! each stride is hashed while it is still in L1. The tag is compared in
//! constant time; when it does not match, opening applies the keystream
//! again, so a refused buffer holds the ciphertext it was given, as with
//! `aes-gcm` (which hashes first and decrypts after).

#[cfg(target_arch = "x86_64")]
mod clmul;
pub mod ghash;

#[cfg(test)]
mod tests;

use sm4::cipher::{Block, BlockEncrypt, KeyInit};
use subtle::ConstantTimeEq;

use super::fast_sm4::FastSm4;
pub use ghash::{Ghash, GhashBackend, GhashKey};

/// Blocks of keystream made per call into SM4 (a stride of 1 KiB).
const STRIDE_BLOCKS: usize = 64;
/// Longest plaintext GCM allows: 2³² − 2 blocks.
pub const MAX_LEN: u64 = ((1u64 << 32) - 2) * 16;

/// Why [`Sm4Gcm`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GcmError {
    /// The tag does not match: the ciphertext, the associated data, the
    /// nonce, the tag or the key is not the one sealed with.
    #[error("SM4-GCM: the data does not authenticate")]
    Unauthentic,
    /// More than [`MAX_LEN`] bytes.
    #[error("SM4-GCM: more than 2^32 - 2 blocks")]
    TooLong,
}

/// SM4-GCM under one key.
#[derive(Clone)]
pub struct Sm4Gcm {
    cipher: FastSm4,
    ghash: GhashKey,
}

impl Sm4Gcm {
    /// SM4-GCM under `key`, on the fastest paths this CPU has.
    pub fn new(key: &[u8; 16]) -> Self {
        Self::from_cipher(<FastSm4 as KeyInit>::new(key.into()))
    }

    /// SM4-GCM over `cipher`, GHASH on the fastest path this CPU has.
    pub fn from_cipher(cipher: FastSm4) -> Self {
        let ghash = GhashKey::new(&hash_key(&cipher));
        Sm4Gcm { cipher, ghash }
    }

    /// SM4-GCM over `cipher` with GHASH on the `ghash` crate whatever the
    /// CPU (the fallback; tests and benchmarks).
    pub fn from_cipher_soft_ghash(cipher: FastSm4) -> Self {
        let ghash = GhashKey::new_soft(&hash_key(&cipher));
        Sm4Gcm { cipher, ghash }
    }

    /// The GHASH implementation in use.
    pub fn ghash_backend(&self) -> GhashBackend {
        self.ghash.backend()
    }

    /// Encrypt `buffer` in place; returns the tag over `aad` and the
    /// ciphertext.
    pub fn seal_in_place_detached(&self, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> Result<[u8; 16], GcmError> {
        within_limits(buffer, aad)?;
        let mut hash = self.ghash.start();
        hash.update_padded(aad);
        let mut counter = 2u32;
        for stride in buffer.chunks_mut(STRIDE_BLOCKS * 16) {
            self.apply_keystream(nonce, &mut counter, stride);
            hash.update_padded(stride);
        }
        Ok(self.tag(nonce, hash, aad.len(), buffer.len()))
    }

    /// Decrypt `buffer` in place if `tag` authenticates it with `aad`; when
    /// it does not, `buffer` ends as it began (the ciphertext).
    pub fn open_in_place_detached(&self, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8], tag: &[u8; 16]) -> Result<(), GcmError> {
        within_limits(buffer, aad)?;
        let mut hash = self.ghash.start();
        hash.update_padded(aad);
        let mut counter = 2u32;
        for stride in buffer.chunks_mut(STRIDE_BLOCKS * 16) {
            hash.update_padded(stride);
            self.apply_keystream(nonce, &mut counter, stride);
        }
        let expected = self.tag(nonce, hash, aad.len(), buffer.len());
        if !bool::from(expected.ct_eq(tag)) {
            // CTR is its own inverse: put the ciphertext back, so no
            // unauthenticated plaintext is left in the caller's buffer.
            let mut counter = 2u32;
            for stride in buffer.chunks_mut(STRIDE_BLOCKS * 16) {
                self.apply_keystream(nonce, &mut counter, stride);
            }
            return Err(GcmError::Unauthentic);
        }
        Ok(())
    }

    /// `msg` sealed: ciphertext ‖ tag.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, GcmError> {
        let mut out = msg.to_vec();
        let tag = self.seal_in_place_detached(nonce, aad, &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The plaintext of `sealed` (ciphertext ‖ tag), if it authenticates.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, GcmError> {
        let split = sealed.len().checked_sub(16).ok_or(GcmError::Unauthentic)?;
        let (body, tag) = sealed.split_at(split);
        let mut out = body.to_vec();
        self.open_in_place_detached(nonce, aad, &mut out, tag.try_into().expect("16 bytes"))?;
        Ok(out)
    }

    /// XOR `data` (at most [`STRIDE_BLOCKS`] blocks) with the keystream
    /// from counter block `nonce ‖ counter` on, advancing `counter`.
    fn apply_keystream(&self, nonce: &[u8; 12], counter: &mut u32, data: &mut [u8]) {
        let blocks = data.len().div_ceil(16);
        debug_assert!(blocks <= STRIDE_BLOCKS);
        let mut keystream = [Block::<FastSm4>::default(); STRIDE_BLOCKS];
        for block in &mut keystream[..blocks] {
            block[..12].copy_from_slice(nonce);
            block[12..].copy_from_slice(&counter.to_be_bytes());
            *counter = counter.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(&mut keystream[..blocks]);
        let mut chunks = data.chunks_exact_mut(16);
        for (chunk, ks) in (&mut chunks).zip(&keystream) {
            let x = u128::from_ne_bytes((&*chunk).try_into().expect("16 bytes")) ^ u128::from_ne_bytes((*ks).into());
            chunk.copy_from_slice(&x.to_ne_bytes());
        }
        let tail = chunks.into_remainder();
        let ks = &keystream[blocks.saturating_sub(1)];
        for (b, k) in tail.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
    }

    /// The tag: GHASH over the lengths block, masked with `E(nonce ‖ 1)`.
    fn tag(&self, nonce: &[u8; 12], mut hash: Ghash<'_>, aad_len: usize, len: usize) -> [u8; 16] {
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(aad_len as u64 * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(len as u64 * 8).to_be_bytes());
        hash.update_padded(&lengths);
        let mut mask = Block::<FastSm4>::default();
        mask[..12].copy_from_slice(nonce);
        mask[15] = 1;
        self.cipher.encrypt_block(&mut mask);
        let mut tag = hash.finalize();
        for (t, m) in tag.iter_mut().zip(mask.iter()) {
            *t ^= m;
        }
        tag
    }
}

impl std::fmt::Debug for Sm4Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm4Gcm").field("sm4", &self.cipher.backend()).field("ghash", &self.ghash.backend()).finish_non_exhaustive()
    }
}

/// GHASH's key: the encryption of the zero block.
fn hash_key(cipher: &FastSm4) -> [u8; 16] {
    let mut h = Block::<FastSm4>::default();
    cipher.encrypt_block(&mut h);
    h.into()
}

/// GCM's limits on what one call may seal or open.
fn within_limits(buffer: &[u8], aad: &[u8]) -> Result<(), GcmError> {
    if buffer.len() as u64 > MAX_LEN || aad.len() as u64 > MAX_LEN {
        return Err(GcmError::TooLong);
    }
    Ok(())
}
