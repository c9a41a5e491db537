//! SM4 on 16 blocks at once with AVX2 and AES-NI.
//!
//! The blocks are transposed so that each 256-bit register holds one 32-bit
//! word of 8 blocks (two groups of 8 run side by side, which hides the
//! latency of each round). A round's S-box layer uses the fact that SM4's
//! S-box is affine-equivalent to AES's: `S(x) = post(SubBytes(pre(x)))`
//! with `pre` and `post` affine over GF(2)^8, each applied as two 4-bit
//! `pshufb` table lookups, and SubBytes done by `aesenclast` with a zero
//! round key. `aesenclast` also applies ShiftRows; as everything before L is
//! bytewise, the bytes are put back in place by the same `pshufb` that
//! rotates them for L (`L(B) = B ⊕ B⋘24 ⊕ (B ⊕ B⋘8 ⊕ B⋘16)⋘2`).
//! The tables come from `tools/sm4_affine.py`, which checks them against
//! the S-box for all 256 inputs; the tests check the whole cipher against
//! the `sm4` crate.
//!
//! `unsafe` here: calling `#[target_feature]` functions (sound because a
//! [`Features`] exists only where `detect` saw the features) and unaligned
//! loads and stores within arrays of known size.

use std::arch::x86_64::*;

/// Blocks per kernel call.
pub(super) const PAR: usize = 16;

/// Proof that this CPU has AVX2 and AES-NI (and whether it has VAES): only
/// [`Features::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Features {
    vaes: bool,
}

impl Features {
    /// The features of this CPU, or `None` without AVX2 or AES-NI.
    pub(super) fn detect() -> Option<Features> {
        let base = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("aes");
        base.then(|| Features { vaes: is_x86_feature_detected!("vaes") })
    }

    /// The same CPU, with the S-box on 128-bit AES-NI.
    pub(super) fn without_vaes(self) -> Features {
        Features { vaes: false }
    }

    pub(super) fn vaes(self) -> bool {
        self.vaes
    }
}

/// Encrypt 16 blocks in place under the round keys `rk`.
pub(super) fn encrypt16(features: Features, rk: &[u32; 32], blocks: &mut [[u8; 16]; PAR]) {
    if features.vaes {
        // SAFETY: `features` was made by `detect`, which saw AVX2, AES-NI
        // and VAES on this CPU.
        unsafe { encrypt16_vaes(rk, blocks) }
    } else {
        // SAFETY: `features` was made by `detect`, which saw AVX2 and AES-NI.
        unsafe { encrypt16_aesni(rk, blocks) }
    }
}

// Affine maps around AES's SubBytes (tools/sm4_affine.py): value of the low
// nibble, value of the high nibble (with the constant).
const PRE_LO: [u8; 16] = [0x00, 0x8c, 0x30, 0xbc, 0x85, 0x09, 0xb5, 0x39, 0x9f, 0x13, 0xaf, 0x23, 0x1a, 0x96, 0x2a, 0xa6];
const PRE_HI: [u8; 16] = [0x3e, 0xe2, 0x10, 0xcc, 0xfb, 0x27, 0xd5, 0x09, 0x36, 0xea, 0x18, 0xc4, 0xf3, 0x2f, 0xdd, 0x01];
const POST_LO: [u8; 16] = [0x00, 0xb8, 0xca, 0x72, 0x3e, 0x86, 0xf4, 0x4c, 0x67, 0xdf, 0xad, 0x15, 0x59, 0xe1, 0x93, 0x2b];
const POST_HI: [u8; 16] = [0x6c, 0x8c, 0x3c, 0xdc, 0xf1, 0x11, 0xa1, 0x41, 0xac, 0x4c, 0xfc, 0x1c, 0x31, 0xd1, 0x61, 0x81];

/// `pshufb` masks that undo ShiftRows and rotate each 32-bit lane left by
/// `8 · bytes` bits. AES's state is column-major: byte `r + 4c` is row
/// `r`, column `c`; ShiftRows moves row `r` left by `r` columns.
const fn unshift_rotate(bytes: usize) -> [u8; 16] {
    let mut mask = [0u8; 16];
    let mut p = 0;
    while p < 16 {
        // The rotation: byte j of a lane comes from byte j - bytes.
        let from = (p & !3) + ((p & 3) + 4 - bytes) % 4;
        // ShiftRows put the byte meant for (r, c) at (r, c - r).
        let (r, c) = (from % 4, from / 4);
        mask[p] = (r + 4 * ((c + 4 - r) % 4)) as u8;
        p += 1;
    }
    mask
}

/// Big-endian words to lanes and back.
const BSWAP32: [u8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

struct Consts {
    nibble: __m256i,
    pre_lo: __m256i,
    pre_hi: __m256i,
    post_lo: __m256i,
    post_hi: __m256i,
    rot0: __m256i,
    rot8: __m256i,
    rot16: __m256i,
    rot24: __m256i,
    bswap: __m256i,
}

impl Consts {
    #[target_feature(enable = "avx2")]
    fn load() -> Consts {
        Consts {
            nibble: _mm256_set1_epi8(0x0f),
            pre_lo: broadcast(&PRE_LO),
            pre_hi: broadcast(&PRE_HI),
            post_lo: broadcast(&POST_LO),
            post_hi: broadcast(&POST_HI),
            rot0: broadcast(&unshift_rotate(0)),
            rot8: broadcast(&unshift_rotate(1)),
            rot16: broadcast(&unshift_rotate(2)),
            rot24: broadcast(&unshift_rotate(3)),
            bswap: broadcast(&BSWAP32),
        }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn broadcast(bytes: &[u8; 16]) -> __m256i {
    // SAFETY: an unaligned 16-byte load from a 16-byte array.
    _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
}

/// An affine map on every byte: two nibble lookups.
#[target_feature(enable = "avx2")]
#[inline]
fn affine(c: &Consts, lo_table: __m256i, hi_table: __m256i, x: __m256i) -> __m256i {
    let lo = _mm256_and_si256(x, c.nibble);
    let hi = _mm256_and_si256(_mm256_srli_epi32::<4>(x), c.nibble);
    _mm256_xor_si256(_mm256_shuffle_epi8(lo_table, lo), _mm256_shuffle_epi8(hi_table, hi))
}

/// After `aesenclast`: the post map, the bytes back in place, and L.
#[target_feature(enable = "avx2")]
#[inline]
fn finish_t(c: &Consts, z: __m256i) -> __m256i {
    let w = affine(c, c.post_lo, c.post_hi, z);
    let b = _mm256_shuffle_epi8(w, c.rot0);
    let s = _mm256_xor_si256(_mm256_xor_si256(b, _mm256_shuffle_epi8(w, c.rot8)), _mm256_shuffle_epi8(w, c.rot16));
    let s2 = _mm256_or_si256(_mm256_slli_epi32::<2>(s), _mm256_srli_epi32::<30>(s));
    _mm256_xor_si256(_mm256_xor_si256(b, _mm256_shuffle_epi8(w, c.rot24)), s2)
}

/// SubBytes (and ShiftRows) of each 128-bit half with one VAES instruction.
#[target_feature(enable = "avx2,aes,vaes")]
#[inline]
fn sub_vaes(y: __m256i) -> __m256i {
    _mm256_aesenclast_epi128(y, _mm256_setzero_si256())
}

/// SubBytes (and ShiftRows) of each 128-bit half with AES-NI.
#[target_feature(enable = "avx2,aes")]
#[inline]
fn sub_aesni(y: __m256i) -> __m256i {
    let zero = _mm_setzero_si128();
    let lo = _mm_aesenclast_si128(_mm256_castsi256_si128(y), zero);
    let hi = _mm_aesenclast_si128(_mm256_extracti128_si256::<1>(y), zero);
    _mm256_set_m128i(hi, lo)
}

/// Transpose the 4×4 matrix of 32-bit words in each 128-bit half.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    let t0 = _mm256_unpacklo_epi32(a, b);
    let t1 = _mm256_unpackhi_epi32(a, b);
    let t2 = _mm256_unpacklo_epi32(c, d);
    let t3 = _mm256_unpackhi_epi32(c, d);
    [_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)]
}

#[target_feature(enable = "avx2")]
#[inline]
fn xor4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d))
}

/// A kernel: 16 blocks through 32 rounds, the S-box on `$sub`.
macro_rules! kernel {
    ($(#[$attr:meta])* fn $name:ident, $sub:ident) => {
        $(#[$attr])*
        fn $name(rk: &[u32; 32], blocks: &mut [[u8; 16]; PAR]) {
            let c = Consts::load();
            let p = blocks.as_mut_ptr().cast::<__m256i>();
            let mut v = [_mm256_setzero_si256(); 8];
            for (i, v) in v.iter_mut().enumerate() {
                // SAFETY: `blocks` is 256 bytes; load i covers bytes
                // 32·i..32·i+32 (unaligned load).
                *v = _mm256_shuffle_epi8(unsafe { _mm256_loadu_si256(p.add(i)) }, c.bswap);
            }
            // a: blocks 0, 2, 4, 6 | 1, 3, 5, 7; b: the next eight.
            let [mut a0, mut a1, mut a2, mut a3] = transpose(v[0], v[1], v[2], v[3]);
            let [mut b0, mut b1, mut b2, mut b3] = transpose(v[4], v[5], v[6], v[7]);
            macro_rules! round {
                ($k:expr, $x0:ident, $x1:ident, $x2:ident, $x3:ident, $y0:ident, $y1:ident, $y2:ident, $y3:ident) => {
                    let k = _mm256_set1_epi32($k as i32);
                    let ta = $sub(affine(&c, c.pre_lo, c.pre_hi, xor4($x1, $x2, $x3, k)));
                    let tb = $sub(affine(&c, c.pre_lo, c.pre_hi, xor4($y1, $y2, $y3, k)));
                    $x0 = _mm256_xor_si256($x0, finish_t(&c, ta));
                    $y0 = _mm256_xor_si256($y0, finish_t(&c, tb));
                };
            }
            for k in rk.chunks_exact(4) {
                round!(k[0], a0, a1, a2, a3, b0, b1, b2, b3);
                round!(k[1], a1, a2, a3, a0, b1, b2, b3, b0);
                round!(k[2], a2, a3, a0, a1, b2, b3, b0, b1);
                round!(k[3], a3, a0, a1, a2, b3, b0, b1, b2);
            }
            // The output is the last four words in reverse order.
            let a = transpose(a3, a2, a1, a0);
            let b = transpose(b3, b2, b1, b0);
            for (i, w) in a.iter().chain(&b).enumerate() {
                // SAFETY: as for the loads: bytes 32·i..32·i+32 of `blocks`.
                unsafe { _mm256_storeu_si256(p.add(i), _mm256_shuffle_epi8(*w, c.bswap)) };
            }
        }
    };
}

kernel!(
    #[target_feature(enable = "avx2,aes,vaes")]
    fn encrypt16_vaes,
    sub_vaes
);
kernel!(
    #[target_feature(enable = "avx2,aes")]
    fn encrypt16_aesni,
    sub_aesni
);
