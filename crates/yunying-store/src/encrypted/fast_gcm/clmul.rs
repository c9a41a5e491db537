//! GHASH's multiply-accumulate with PCLMULQDQ, up to eight blocks per
//! reduction.
//!
//! The arithmetic is POLYVAL's (RFC 8452): a GHASH block `b` is the POLYVAL
//! element `u128::from_be_bytes(b)` (one `pshufb` after an unaligned load),
//! GHASH's key `H` becomes `mulX(H)`, and `dot(a, b) = a·b·x⁻¹²⁸` modulo
//! `x¹²⁸ + x¹²⁷ + x¹²⁶ + x¹²¹ + 1` (see [`super::ghash`]). The Montgomery
//! reduction by `x⁻¹²⁸` is GF(2)-linear, so the 256-bit products of up to
//! eight blocks with the powers `H⁸..H¹` are summed unreduced and reduced
//! once: `acc' = (acc ⊕ X₁)·Hⁿ ⊕ X₂·Hⁿ⁻¹ ⊕ … ⊕ Xₙ·H`. Each product takes
//! four carry-less 64×64 multiplications (schoolbook); the reduction two
//! more, each folding 64 bits with the constant `0xc2 << 56`.
//!
//! `unsafe` here: calling `#[target_feature]` functions (sound because a
//! [`Features`] exists only where `detect` saw the features) and unaligned
//! loads within slices whose lengths are checked.

use std::arch::x86_64::*;

/// Blocks summed before one reduction.
pub(super) const GROUP: usize = 8;

/// Proof that this CPU has PCLMULQDQ and SSSE3: only [`Features::detect`]
/// makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Features(());

impl Features {
    /// The features of this CPU, or `None` without PCLMULQDQ or SSSE3.
    pub(super) fn detect() -> Option<Features> {
        (is_x86_feature_detected!("pclmulqdq") && is_x86_feature_detected!("ssse3")).then_some(Features(()))
    }
}

/// `H¹..H⁸` (index 0 is `H`) of the POLYVAL-domain key `h`.
pub(super) fn powers(features: Features, h: u128) -> [u128; GROUP] {
    let _ = features;
    // SAFETY: `features` was made by `detect`, which saw PCLMULQDQ and SSSE3.
    unsafe { powers_clmul(h) }
}

/// Absorb `blocks` (a whole number of 16-byte GHASH blocks) into the
/// POLYVAL-domain accumulator `acc`.
pub(super) fn update(features: Features, powers: &[u128; GROUP], acc: &mut u128, blocks: &[u8]) {
    let _ = features;
    assert!(blocks.len().is_multiple_of(16), "GHASH takes whole blocks here");
    // SAFETY: `features` was made by `detect`, which saw PCLMULQDQ and SSSE3.
    unsafe { update_clmul(powers, acc, blocks) }
}

#[target_feature(enable = "pclmulqdq,ssse3")]
fn powers_clmul(h: u128) -> [u128; GROUP] {
    let hv = to_m128(h);
    let mut out = [h; GROUP];
    let mut p = hv;
    for slot in out.iter_mut().skip(1) {
        let (lo, mid, hi) = mul_wide(p, hv);
        p = reduce(lo, mid, hi);
        *slot = from_m128(p);
    }
    out
}

#[target_feature(enable = "pclmulqdq,ssse3")]
fn update_clmul(powers: &[u128; GROUP], acc: &mut u128, mut blocks: &[u8]) {
    let mut h = [_mm_setzero_si128(); GROUP];
    for (slot, p) in h.iter_mut().zip(powers) {
        *slot = to_m128(*p);
    }
    let bswap = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    let mut a = to_m128(*acc);
    while !blocks.is_empty() {
        let n = (blocks.len() / 16).min(GROUP);
        let (group, rest) = blocks.split_at(16 * n);
        let (mut lo, mut mid, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128());
        for i in 0..n {
            // SAFETY: `group` holds `n` blocks of 16 bytes and `i < n`;
            // `loadu` has no alignment requirement.
            let raw = unsafe { _mm_loadu_si128(group.as_ptr().add(16 * i).cast::<__m128i>()) };
            let mut x = _mm_shuffle_epi8(raw, bswap);
            if i == 0 {
                x = _mm_xor_si128(x, a);
            }
            let (l, m, hh) = mul_wide(x, h[n - 1 - i]);
            lo = _mm_xor_si128(lo, l);
            mid = _mm_xor_si128(mid, m);
            hi = _mm_xor_si128(hi, hh);
        }
        a = reduce(lo, mid, hi);
        blocks = rest;
    }
    *acc = from_m128(a);
}

/// The 256-bit carry-less product of `a` and `b` as low, middle (the two
/// cross terms, shifted by 64 bits) and high 128-bit parts.
#[target_feature(enable = "pclmulqdq,ssse3")]
#[inline]
fn mul_wide(a: __m128i, b: __m128i) -> (__m128i, __m128i, __m128i) {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let mid = _mm_xor_si128(_mm_clmulepi64_si128::<0x10>(a, b), _mm_clmulepi64_si128::<0x01>(a, b));
    (lo, mid, hi)
}

/// `(hi·x¹²⁸ + mid·x⁶⁴ + lo)·x⁻¹²⁸` modulo POLYVAL's polynomial.
#[target_feature(enable = "pclmulqdq,ssse3")]
#[inline]
fn reduce(lo: __m128i, mid: __m128i, hi: __m128i) -> __m128i {
    let lo = _mm_xor_si128(lo, _mm_slli_si128::<8>(mid));
    let hi = _mm_xor_si128(hi, _mm_srli_si128::<8>(mid));
    // Low qword 1, high qword 0xc2 << 56: the polynomial without x¹²⁸.
    let poly = _mm_setr_epi32(1, 0, 0, 0xc200_0000u32 as i32);
    // Two Montgomery steps, each clearing the low 64 bits of `t` and
    // dividing by x⁶⁴: t·x⁻⁶⁴ = swap(t) ⊕ t₀·(0xc2 << 56).
    let t = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), _mm_clmulepi64_si128::<0x10>(lo, poly));
    let t = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(t), _mm_clmulepi64_si128::<0x10>(t, poly));
    _mm_xor_si128(t, hi)
}

#[target_feature(enable = "pclmulqdq,ssse3")]
#[inline]
fn to_m128(v: u128) -> __m128i {
    _mm_set_epi64x((v >> 64) as i64, v as u64 as i64)
}

#[target_feature(enable = "pclmulqdq,ssse3")]
#[inline]
fn from_m128(v: __m128i) -> u128 {
    let lo = _mm_cvtsi128_si64(v) as u64;
    let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)) as u64;
    (u128::from(hi) << 64) | u128::from(lo)
}
