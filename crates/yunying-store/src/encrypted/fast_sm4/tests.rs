//! [`FastSm4`] against GB/T 32907's vectors and against RustCrypto's `sm4`
//! crate, as a block cipher and inside GCM, on every implementation this
//! CPU can run.

use aes_gcm::AesGcm;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U12;
use rand::{Rng, RngCore, SeedableRng};
use sm4::cipher::{Block, BlockEncrypt, KeyInit};

use super::{FastSm4, Sm4Backend};

const KEY: &str = "0123456789abcdeffedcba9876543210";

/// One instance per implementation this CPU has (always the fallback).
fn every_backend(key: &[u8; 16]) -> Vec<FastSm4> {
    let mut all = vec![FastSm4::new_soft(key.into()), FastSm4::new_without_vaes(key.into()), FastSm4::new(key.into())];
    all.dedup_by_key(|c| c.backend());
    all
}

fn rng() -> rand::rngs::StdRng {
    let seed = rand::random();
    eprintln!("seed {seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

#[test]
fn the_fast_path_is_taken_on_a_cpu_that_has_it() {
    let cipher = FastSm4::new(&[0; 16].into());
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("aes") {
        assert_ne!(cipher.backend(), Sm4Backend::Soft);
        if is_x86_feature_detected!("vaes") {
            assert_eq!(cipher.backend(), Sm4Backend::Avx2Vaes);
        }
        return;
    }
    assert_eq!(cipher.backend(), Sm4Backend::Soft);
}

#[test]
fn the_gb_t_32907_vector_encrypts_on_every_path() {
    let key: [u8; 16] = hex::decode(KEY).unwrap().try_into().unwrap();
    for cipher in every_backend(&key) {
        // One block (the single-block path) and the same block in a full
        // batch and a short one (the SIMD kernel).
        for n in [1, 3, 16, 17] {
            let mut blocks: Vec<Block<FastSm4>> = vec![key.into(); n];
            cipher.encrypt_blocks(&mut blocks);
            for block in &blocks {
                assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246", "{:?}, {n} blocks", cipher.backend());
            }
        }
    }
}

/// GB/T 32907 appendix A.2: the plaintext encrypted 1,000,000 times. The
/// SIMD paths run it on a full batch of 16 copies (the kernel), the
/// fallback one block at a time.
#[test]
fn the_gb_t_32907_million_iteration_vector() {
    let key: [u8; 16] = hex::decode(KEY).unwrap().try_into().unwrap();
    for cipher in every_backend(&key) {
        let n = if cipher.backend() == Sm4Backend::Soft { 1 } else { 16 };
        let mut blocks: Vec<Block<FastSm4>> = vec![key.into(); n];
        for _ in 0..1_000_000 {
            cipher.encrypt_blocks(&mut blocks);
        }
        for block in &blocks {
            assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66", "{:?}", cipher.backend());
        }
    }
}

#[test]
fn every_batch_length_matches_the_sm4_crate() {
    let mut rng = rng();
    for _ in 0..20 {
        let key: [u8; 16] = rng.random();
        let reference = sm4::Sm4::new(&key.into());
        for len in 1..=40 {
            let mut plain: Vec<Block<FastSm4>> = vec![Block::<FastSm4>::default(); len];
            for block in &mut plain {
                rng.fill_bytes(block);
            }
            let mut expected = plain.clone();
            reference.encrypt_blocks(&mut expected);
            for cipher in every_backend(&key) {
                let mut got = plain.clone();
                cipher.encrypt_blocks(&mut got);
                assert_eq!(got, expected, "{:?}, {len} blocks", cipher.backend());
                // Buffer to buffer too (the counter mode's way).
                let mut out = vec![Block::<FastSm4>::default(); len];
                cipher.encrypt_blocks_b2b(&plain, &mut out).unwrap();
                assert_eq!(out, expected, "{:?}, {len} blocks, b2b", cipher.backend());
            }
        }
    }
}

#[test]
fn sm4_gcm_over_the_fast_cipher_matches_sm4_gcm_over_the_sm4_crate() {
    type Reference = AesGcm<sm4::Sm4, U12>;
    type Fast = AesGcm<FastSm4, U12>;
    let mut rng = rng();
    for len in [0, 1, 15, 16, 17, 255, 64 * 1024, 64 * 1024 + 3] {
        let key: [u8; 16] = rng.random();
        let nonce: [u8; 12] = rng.random();
        let mut aad = vec![0u8; rng.random_range(0..80)];
        rng.fill_bytes(&mut aad);
        let mut plain = vec![0u8; len];
        rng.fill_bytes(&mut plain);
        let mut expected = plain.clone();
        let tag = Reference::new(&key.into()).encrypt_in_place_detached(&nonce.into(), &aad, &mut expected).unwrap();
        for cipher in every_backend(&key) {
            let backend = cipher.backend();
            let gcm = Fast::from(cipher);
            let mut sealed = plain.clone();
            let got = gcm.encrypt_in_place_detached(&nonce.into(), &aad, &mut sealed).unwrap();
            assert!(sealed == expected && got == tag, "{backend:?}, {len} bytes");
            gcm.decrypt_in_place_detached(&nonce.into(), &aad, &mut sealed, &tag).unwrap();
            assert!(sealed == plain, "{backend:?}, {len} bytes: round trip");
            if len > 0 {
                let mut bad = expected.clone();
                bad[len / 2] ^= 1;
                assert!(gcm.decrypt_in_place_detached(&nonce.into(), &aad, &mut bad, &tag).is_err(), "{backend:?}: tampering");
            }
        }
    }
}
