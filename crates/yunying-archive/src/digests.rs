//! The two digests of every stored object, computed in one pass over its
//! bytes: SHA-256 (the object key's version, the S3 upload checksum) and
//! SM3 (GB/T 32905, the national standard hash that city health plans ask
//! for on important data).
//!
//! At ingest the two are split: SHA-256 (hardware-assisted, ~1.4 GB/s) is
//! computed as the spool is written, because the object key needs it before
//! the object is stored; SM3 (software, ~230 MB/s, six times slower) is
//! computed after the sender has heard success, by the digester
//! ([`crate::digester`]), from the object read back.

use sha2::{Digest, Sha256};
use sm3::Sm3;

/// SHA-256 and SM3 of the same bytes, fed once.
#[derive(Clone, Default)]
pub struct ObjectHasher {
    sha256: Sha256,
    sm3: Sm3,
}

/// What an [`ObjectHasher`] computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectDigests {
    pub sha256: [u8; 32],
    pub sm3: [u8; 32],
}

impl ObjectHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes to both digests.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sm3.update(bytes);
    }

    /// Both digests of everything fed.
    pub fn finalize(self) -> ObjectDigests {
        ObjectDigests { sha256: self.sha256.finalize().into(), sm3: self.sm3.finalize().into() }
    }
}

impl std::io::Write for ObjectHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ObjectDigests {
    /// SHA-256, lower-case hex (as the index records it).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// SM3, lower-case hex (as the index records it).
    pub fn sm3_hex(&self) -> String {
        hex::encode(self.sm3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm3_of(bytes: &[u8]) -> String {
        let mut h = ObjectHasher::new();
        h.update(bytes);
        h.finalize().sm3_hex()
    }

    #[test]
    fn sm3_matches_the_gb_t_32905_vectors() {
        assert_eq!(sm3_of(b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        assert_eq!(sm3_of(&b"abcd".repeat(16)), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    }

    #[test]
    fn both_digests_come_from_one_pass_in_any_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let mut split = ObjectHasher::new();
        for chunk in data.chunks(777) {
            split.update(chunk);
        }
        let split = split.finalize();
        assert_eq!(split.sha256_hex(), hex::encode(Sha256::digest(&data)));
        assert_eq!(split.sm3_hex(), hex::encode(Sm3::digest(&data)));
    }
}
