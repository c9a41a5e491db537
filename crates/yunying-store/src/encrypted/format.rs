//! The on-disk format of an encrypted object (version 1):
//!
//! ```text
//! header (128 bytes)
//!   0  magic "YYSM4GCM"
//!   8  version (1)
//!   9  log2 of the plaintext chunk size (16: 64 KiB)
//!  10  length of the master key id (1..=32)
//!  11  length of the wrapped data key (1..=68)
//!  12  plaintext length, u64 big endian
//!  20  nonce prefix (8 random bytes, per object)
//!  28  master key id, ASCII, zero padded to 32 bytes
//!  60  wrapped data key, zero padded to 68 bytes
//! body: the plaintext in 64 KiB chunks (the last one shorter, one empty
//!   chunk for an empty object), each SM4-GCM sealed: ciphertext ‖ 16-byte tag
//! ```
//!
//! Chunk `i` is sealed under the object's data key with the nonce
//! `prefix ‖ i` (u32 big endian) and the associated data `object key ‖ 0 ‖
//! i (u64) ‖ last (u8)`: a chunk moved within an object, to another object,
//! or made the last by truncation does not open. The data key is wrapped
//! by a master key with associated data binding the object key and every
//! header field before it, so a header copied onto another object, or a
//! changed length, does not open either. The header has a fixed size, so an
//! object's plaintext size follows from its stored size without a read.

/// SM4 in GCM mode with 96-bit nonces (the same bytes as `AesGcm<sm4::Sm4,
/// U12>`, on AES-NI and PCLMULQDQ where the CPU has them).
pub(crate) use super::fast_gcm::Sm4Gcm;

pub(crate) const MAGIC: &[u8; 8] = b"YYSM4GCM";
pub(crate) const VERSION: u8 = 1;
/// Plaintext bytes per chunk.
pub const CHUNK: u64 = 64 * 1024;
const CHUNK_LOG2: u8 = 16;
/// GCM tag bytes after each chunk.
pub(crate) const TAG: u64 = 16;
/// Bytes of the fixed-size header.
pub const HEADER_LEN: u64 = 128;
/// Longest master key id.
pub const KEY_ID_MAX: usize = 32;
/// Longest wrapped data key a [`KeyWrapper`](super::KeyWrapper) may return.
pub const WRAPPED_MAX: usize = 68;
const FIXED: usize = 28;

/// The parsed header of an encrypted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub key_id: String,
    pub plaintext_len: u64,
    pub nonce_prefix: [u8; 8],
    pub wrapped: Vec<u8>,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[..FIXED].copy_from_slice(&self.fixed());
        out[FIXED..FIXED + self.key_id.len()].copy_from_slice(self.key_id.as_bytes());
        let at = FIXED + KEY_ID_MAX;
        out[at..at + self.wrapped.len()].copy_from_slice(&self.wrapped);
        out
    }

    /// The fields before the key id (bound into the wrapping).
    fn fixed(&self) -> [u8; FIXED] {
        let mut out = [0u8; FIXED];
        out[..8].copy_from_slice(MAGIC);
        out[8] = VERSION;
        out[9] = CHUNK_LOG2;
        out[10] = self.key_id.len() as u8;
        out[11] = self.wrapped.len() as u8;
        out[12..20].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out[20..28].copy_from_slice(&self.nonce_prefix);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Header, String> {
        if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
            return Err("not an encrypted object (no header)".into());
        }
        if bytes[8] != VERSION {
            return Err(format!("unknown encryption format version {}", bytes[8]));
        }
        if bytes[9] != CHUNK_LOG2 {
            return Err(format!("unsupported chunk size 2^{}", bytes[9]));
        }
        let (id_len, wrapped_len) = (bytes[10] as usize, bytes[11] as usize);
        if id_len == 0 || id_len > KEY_ID_MAX || wrapped_len == 0 || wrapped_len > WRAPPED_MAX {
            return Err("malformed header".into());
        }
        let at = FIXED + KEY_ID_MAX;
        // The padding is not covered by any tag: it must be zero, so no
        // byte of a header can change unnoticed.
        let padding = bytes[FIXED + id_len..at].iter().chain(&bytes[at + wrapped_len..HEADER_LEN as usize]);
        if padding.copied().any(|b| b != 0) {
            return Err("malformed header".into());
        }
        let key_id = std::str::from_utf8(&bytes[FIXED..FIXED + id_len]).map_err(|_| "malformed key id")?.to_string();
        Ok(Header {
            key_id,
            plaintext_len: u64::from_be_bytes(bytes[12..20].try_into().unwrap()),
            nonce_prefix: bytes[20..28].try_into().unwrap(),
            wrapped: bytes[at..at + wrapped_len].to_vec(),
        })
    }

    /// Associated data of the data key's wrapping: the object key and the
    /// header fields (with the wrapped length it will have).
    pub fn wrap_aad(&self, object_key: &str, wrapped_len: usize) -> Vec<u8> {
        let mut fixed = self.fixed();
        fixed[11] = wrapped_len as u8;
        let mut aad = Vec::with_capacity(object_key.len() + 1 + FIXED + self.key_id.len());
        aad.extend_from_slice(object_key.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&fixed);
        aad.extend_from_slice(self.key_id.as_bytes());
        aad
    }
}

/// Number of chunks of a plaintext (at least one).
pub(crate) fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK).max(1)
}

/// Stored size of an object of `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    HEADER_LEN + plaintext_len + chunk_count(plaintext_len) * TAG
}

/// The plaintext size an object of `stored` bytes has; `None` when no
/// plaintext size gives that stored size (a damaged object).
pub fn plaintext_len(stored: u64) -> Option<u64> {
    let body = stored.checked_sub(HEADER_LEN)?;
    let (full, rest) = (body / (CHUNK + TAG), body % (CHUNK + TAG));
    let len = match rest {
        0 if full > 0 => full * CHUNK,
        r if r >= TAG => full * CHUNK + r - TAG,
        _ => return None,
    };
    (ciphertext_len(len) == stored).then_some(len)
}

/// Where chunk `i` starts in the stored object.
pub(crate) fn chunk_offset(index: u64) -> u64 {
    HEADER_LEN + index * (CHUNK + TAG)
}

/// Plaintext bytes in chunk `index` of an object of `plaintext_len` bytes.
pub(crate) fn chunk_plain_len(plaintext_len: u64, index: u64) -> u64 {
    plaintext_len.saturating_sub(index * CHUNK).min(CHUNK)
}

pub(crate) fn chunk_nonce(prefix: &[u8; 8], index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(prefix);
    // Chunk counts are bounded by `MAX_PLAINTEXT` below 2^32.
    nonce[8..].copy_from_slice(&(index as u32).to_be_bytes());
    nonce
}

/// Largest object: 2^32 chunks (the nonce's counter), 256 TiB.
pub(crate) const MAX_PLAINTEXT: u64 = (1u64 << 32) * CHUNK;

pub(crate) fn chunk_aad(object_key: &str, index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(object_key.len() + 10);
    aad.extend_from_slice(object_key.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(last as u8);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_convert_both_ways() {
        for len in [0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            assert_eq!(plaintext_len(ciphertext_len(len)), Some(len), "{len}");
        }
        assert_eq!(ciphertext_len(0), HEADER_LEN + TAG, "an empty object still has one sealed chunk");
        for bad in [0, HEADER_LEN, HEADER_LEN + 5, ciphertext_len(CHUNK) + 3] {
            assert_eq!(plaintext_len(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_round_trip() {
        let h = Header { key_id: "k-2026".into(), plaintext_len: 123_456, nonce_prefix: [7; 8], wrapped: vec![9; 44] };
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        let mut bad = h.encode();
        bad[0] ^= 1;
        assert!(Header::decode(&bad).is_err());
    }

    #[test]
    fn sm4_matches_the_gb_t_32907_vector() {
        use sm4::Sm4;
        use sm4::cipher::{BlockEncrypt, KeyInit};
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let mut block: [u8; 16] = key.clone().try_into().unwrap();
        Sm4::new_from_slice(&key).unwrap().encrypt_block((&mut block).into());
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }
}
