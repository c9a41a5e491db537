//! SM4 (GB/T 32907) block encryption fast enough for encryption at rest.
//!
//! [`FastSm4`] implements the `cipher` 0.4 traits `aes-gcm` needs
//! (`KeyInit`, `BlockCipher`, `BlockEncrypt`; GCM never decrypts a block),
//! so `AesGcm<FastSm4, U12>` is SM4-GCM, byte for byte the same as over
//! RustCrypto's `sm4` crate. On x86_64 with AVX2 and AES-NI it encrypts 16
//! blocks at a time ([`x86`]: the SM4 S-box computed with `aesenclast`
//! between two affine maps, derived by `tools/sm4_affine.py`); single blocks
//! (GCM's tag mask, the ends of a counter run) take the table-driven path
//! below. Anywhere else, and when asked ([`FastSm4::new_soft`]), it is the
//! `sm4` crate.

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

use sm4::cipher::consts::U16;
use sm4::cipher::inout::{InOut, InOutBuf};
use sm4::cipher::{
    AlgorithmName, Block, BlockBackend, BlockCipher, BlockClosure, BlockEncrypt, BlockSizeUser, Key, KeyInit, KeySizeUser, ParBlocks,
    ParBlocksSizeUser,
};

/// The SM4 block cipher (encryption only), on the fastest path this CPU has.
#[derive(Clone)]
pub struct FastSm4 {
    imp: Imp,
}

#[derive(Clone)]
enum Imp {
    /// AVX2 and AES-NI (and maybe VAES), checked at construction.
    #[cfg(target_arch = "x86_64")]
    X86 { rk: [u32; 32], features: x86::Features },
    /// RustCrypto's portable `sm4`.
    Soft(sm4::Sm4),
}

/// Which implementation a [`FastSm4`] runs on (benchmarks, tests, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sm4Backend {
    /// 16 blocks at a time in 256-bit registers, the S-box on VAES.
    Avx2Vaes,
    /// 16 blocks at a time in 256-bit registers, the S-box on 128-bit AES-NI.
    Avx2AesNi,
    /// The `sm4` crate, one block at a time.
    Soft,
}

impl FastSm4 {
    /// The `sm4` crate's implementation whatever the CPU (the fallback;
    /// tests and benchmarks compare against it).
    pub fn new_soft(key: &Key<Self>) -> Self {
        FastSm4 { imp: Imp::Soft(sm4::Sm4::new(key)) }
    }

    /// The fast path without VAES even when the CPU has it (tests and
    /// benchmarks); the fallback when the CPU lacks AVX2 or AES-NI.
    pub fn new_without_vaes(key: &Key<Self>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(features) = x86::Features::detect() {
            return FastSm4 { imp: Imp::X86 { rk: round_keys(&key[..]), features: features.without_vaes() } };
        }
        Self::new_soft(key)
    }

    /// The implementation this instance runs on.
    pub fn backend(&self) -> Sm4Backend {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::X86 { features, .. } if features.vaes() => Sm4Backend::Avx2Vaes,
            #[cfg(target_arch = "x86_64")]
            Imp::X86 { .. } => Sm4Backend::Avx2AesNi,
            Imp::Soft(_) => Sm4Backend::Soft,
        }
    }
}

impl KeySizeUser for FastSm4 {
    type KeySize = U16;
}

impl KeyInit for FastSm4 {
    fn new(key: &Key<Self>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(features) = x86::Features::detect() {
            return FastSm4 { imp: Imp::X86 { rk: round_keys(&key[..]), features } };
        }
        Self::new_soft(key)
    }
}

impl BlockSizeUser for FastSm4 {
    type BlockSize = U16;
}

impl BlockCipher for FastSm4 {}

impl BlockEncrypt for FastSm4 {
    fn encrypt_with_backend(&self, f: impl BlockClosure<BlockSize = U16>) {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::X86 { rk, features } => f.call(&mut X86Backend { rk, features: *features }),
            Imp::Soft(soft) => soft.encrypt_with_backend(f),
        }
    }
}

impl AlgorithmName for FastSm4 {
    fn write_alg_name(f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm4")
    }
}

impl std::fmt::Debug for FastSm4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FastSm4 {{ {:?}, .. }}", self.backend())
    }
}

/// Blocks 16 at a time through the SIMD kernel.
#[cfg(target_arch = "x86_64")]
struct X86Backend<'a> {
    rk: &'a [u32; 32],
    features: x86::Features,
}

#[cfg(target_arch = "x86_64")]
impl BlockSizeUser for X86Backend<'_> {
    type BlockSize = U16;
}

#[cfg(target_arch = "x86_64")]
impl ParBlocksSizeUser for X86Backend<'_> {
    type ParBlocksSize = U16;
}

#[cfg(target_arch = "x86_64")]
impl BlockBackend for X86Backend<'_> {
    fn proc_block(&mut self, mut block: InOut<'_, '_, Block<Self>>) {
        let mut bytes: [u8; 16] = (*block.get_in()).into();
        encrypt_block(self.rk, &mut bytes);
        block.get_out().copy_from_slice(&bytes);
    }

    fn proc_par_blocks(&mut self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let mut batch = [[0u8; 16]; x86::PAR];
        for (mine, theirs) in batch.iter_mut().zip(blocks.get_in().iter()) {
            mine.copy_from_slice(theirs);
        }
        x86::encrypt16(self.features, self.rk, &mut batch);
        for (theirs, mine) in blocks.get_out().iter_mut().zip(&batch) {
            theirs.copy_from_slice(mine);
        }
    }

    fn proc_tail_blocks(&mut self, mut blocks: InOutBuf<'_, '_, Block<Self>>) {
        let n = blocks.len();
        if n <= 2 {
            for block in blocks {
                self.proc_block(block);
            }
            return;
        }
        // More than two: one padded batch is cheaper than block by block.
        let mut batch = [[0u8; 16]; x86::PAR];
        for (mine, theirs) in batch.iter_mut().zip(blocks.get_in()) {
            mine.copy_from_slice(theirs);
        }
        x86::encrypt16(self.features, self.rk, &mut batch);
        for (theirs, mine) in blocks.get_out().iter_mut().zip(&batch) {
            theirs.copy_from_slice(mine);
        }
    }
}

/// The round keys of `key` (GB/T 32907 §7.3).
fn round_keys(key: &[u8]) -> [u32; 32] {
    let word = |i: usize| u32::from_be_bytes(key[4 * i..4 * i + 4].try_into().expect("a 16-byte key"));
    let mut k = [word(0) ^ FK[0], word(1) ^ FK[1], word(2) ^ FK[2], word(3) ^ FK[3]];
    let mut rk = [0u32; 32];
    for (i, out) in rk.iter_mut().enumerate() {
        let t = tau(k[1] ^ k[2] ^ k[3] ^ CK[i]);
        let next = k[0] ^ t ^ t.rotate_left(13) ^ t.rotate_left(23);
        *out = next;
        k = [k[1], k[2], k[3], next];
    }
    rk
}

/// Encrypt one block with the S-box table (GB/T 32907 §6).
fn encrypt_block(rk: &[u32; 32], block: &mut [u8; 16]) {
    let word = |i: usize| u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let mut x = [word(0), word(1), word(2), word(3)];
    for &k in rk {
        let t = tau(x[1] ^ x[2] ^ x[3] ^ k);
        let next = x[0] ^ t ^ t.rotate_left(2) ^ t.rotate_left(10) ^ t.rotate_left(18) ^ t.rotate_left(24);
        x = [x[1], x[2], x[3], next];
    }
    for (i, w) in x.iter().rev().enumerate() {
        block[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
}

/// The S-box on each byte of a word.
fn tau(a: u32) -> u32 {
    u32::from_be_bytes(a.to_be_bytes().map(|b| SBOX[b as usize]))
}

const FK: [u32; 4] = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];

/// CK_i: byte j is (4i + j) · 7 mod 256.
const CK: [u32; 32] = {
    let mut ck = [0u32; 32];
    let mut i = 0;
    while i < 32 {
        let mut j = 0;
        while j < 4 {
            ck[i] = (ck[i] << 8) | (((4 * i + j) * 7) % 256) as u32;
            j += 1;
        }
        i += 1;
    }
    ck
};

/// The SM4 S-box (GB/T 32907 §6.2).
const SBOX: [u8; 256] = [
    0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05, //
    0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99, //
    0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62, //
    0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6, //
    0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8, //
    0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35, //
    0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87, //
    0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e, //
    0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1, //
    0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3, //
    0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f, //
    0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51, //
    0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8, //
    0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0, //
    0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84, //
    0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48, //
];
