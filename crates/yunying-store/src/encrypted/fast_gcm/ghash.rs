//! GHASH (NIST SP 800-38D) on PCLMULQDQ, eight blocks per reduction
//! ([`super::clmul`]), or the `ghash` crate where the CPU lacks it.
//!
//! GHASH and POLYVAL are the same field in mirrored bit orders (RFC 8452,
//! appendix A): `GHASH(H, X₁…Xₙ) = rev(POLYVAL(mulX(rev(H)), rev(X₁)…rev(Xₙ)))`
//! with `rev` the byte reversal, so a block's POLYVAL value is
//! `u128::from_be_bytes(block)` and the result's bytes are `to_be_bytes`.

#[cfg(target_arch = "x86_64")]
use super::clmul;
use ghash::universal_hash::{KeyInit, UniversalHash};

/// A GHASH key `H`, prepared for the fastest path this CPU has.
#[derive(Clone)]
pub struct GhashKey {
    imp: KeyImp,
}

#[derive(Clone)]
enum KeyImp {
    /// `H¹..H⁸` in the POLYVAL domain.
    #[cfg(target_arch = "x86_64")]
    Clmul { features: clmul::Features, powers: [u128; clmul::GROUP] },
    /// The `ghash` crate (one block at a time).
    Soft(ghash::GHash),
}

/// Which implementation a [`GhashKey`] runs on (benchmarks, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GhashBackend {
    /// PCLMULQDQ, eight blocks per reduction.
    Clmul,
    /// The `ghash` crate.
    Soft,
}

impl GhashKey {
    /// The key `h` (for GCM, the cipher's encryption of the zero block) on
    /// PCLMULQDQ where the CPU has it, else on the `ghash` crate.
    pub fn new(h: &[u8; 16]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(features) = clmul::Features::detect() {
            return GhashKey { imp: KeyImp::Clmul { features, powers: clmul::powers(features, mul_x(u128::from_be_bytes(*h))) } };
        }
        Self::new_soft(h)
    }

    /// The `ghash` crate whatever the CPU (the fallback; tests and
    /// benchmarks compare against it).
    pub fn new_soft(h: &[u8; 16]) -> Self {
        GhashKey { imp: KeyImp::Soft(ghash::GHash::new(h.into())) }
    }

    /// The implementation this key runs on.
    pub fn backend(&self) -> GhashBackend {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            KeyImp::Clmul { .. } => GhashBackend::Clmul,
            KeyImp::Soft(_) => GhashBackend::Soft,
        }
    }

    /// A hash under this key, with nothing absorbed yet.
    pub fn start(&self) -> Ghash<'_> {
        let state = match &self.imp {
            #[cfg(target_arch = "x86_64")]
            KeyImp::Clmul { features, powers } => State::Clmul { features: *features, powers, acc: 0 },
            KeyImp::Soft(g) => State::Soft(g.clone()),
        };
        Ghash { state }
    }
}

/// A GHASH in progress.
pub struct Ghash<'k> {
    state: State<'k>,
}

enum State<'k> {
    #[cfg(target_arch = "x86_64")]
    Clmul {
        features: clmul::Features,
        powers: &'k [u128; clmul::GROUP],
        acc: u128,
    },
    Soft(ghash::GHash),
}

impl Ghash<'_> {
    /// Absorb `data`, its last partial block padded with zeros (GCM pads
    /// the associated data and the ciphertext each this way).
    pub fn update_padded(&mut self, data: &[u8]) {
        match &mut self.state {
            #[cfg(target_arch = "x86_64")]
            State::Clmul { features, powers, acc } => {
                let whole = data.len() & !15;
                clmul::update(*features, powers, acc, &data[..whole]);
                if whole < data.len() {
                    let mut last = [0u8; 16];
                    last[..data.len() - whole].copy_from_slice(&data[whole..]);
                    clmul::update(*features, powers, acc, &last);
                }
            }
            State::Soft(g) => g.update_padded(data),
        }
    }

    /// The hash.
    pub fn finalize(self) -> [u8; 16] {
        match self.state {
            #[cfg(target_arch = "x86_64")]
            State::Clmul { acc, .. } => acc.to_be_bytes(),
            State::Soft(g) => g.finalize().into(),
        }
    }
}

/// `v·x` modulo POLYVAL's polynomial `x¹²⁸ + x¹²⁷ + x¹²⁶ + x¹²¹ + 1`.
#[cfg(target_arch = "x86_64")]
fn mul_x(v: u128) -> u128 {
    const POLY: u128 = (0xc2 << 120) | 1;
    let carry = 0u128.wrapping_sub(v >> 127);
    (v << 1) ^ (carry & POLY)
}
