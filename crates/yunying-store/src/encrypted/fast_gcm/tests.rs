//! The fast GHASH against the `ghash` crate, and [`Sm4Gcm`] against
//! `AesGcm<sm4::Sm4, U12>`, on random keys, nonces, associated data and
//! every size where a stride, a block or an eight-block group ends.

use aes_gcm::AesGcm;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U12;
use ghash::universal_hash::{KeyInit as _, UniversalHash};
use rand::{Rng, RngCore, SeedableRng};

use super::{GcmError, GhashBackend, GhashKey, Sm4Gcm};
use crate::encrypted::fast_sm4::FastSm4;

type Reference = AesGcm<sm4::Sm4, U12>;

fn rng() -> rand::rngs::StdRng {
    let seed = rand::random();
    eprintln!("seed {seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn bytes(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Every GCM this CPU can run: fast GHASH (when present) and the fallback,
/// each over the fast SM4 and the `sm4` crate.
fn every_gcm(key: &[u8; 16]) -> Vec<Sm4Gcm> {
    let ciphers = [FastSm4::new_soft(key.into()), <FastSm4 as sm4::cipher::KeyInit>::new(key.into())];
    let mut all = Vec::new();
    for c in ciphers {
        all.push(Sm4Gcm::from_cipher(c.clone()));
        all.push(Sm4Gcm::from_cipher_soft_ghash(c));
    }
    all
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_clmul_ghash_is_taken_on_a_cpu_that_has_it() {
    let key = GhashKey::new(&[1; 16]);
    let expected =
        if is_x86_feature_detected!("pclmulqdq") && is_x86_feature_detected!("ssse3") { GhashBackend::Clmul } else { GhashBackend::Soft };
    assert_eq!(key.backend(), expected);
    assert_eq!(GhashKey::new_soft(&[1; 16]).backend(), GhashBackend::Soft, "the fallback can be forced");
}

#[test]
fn ghash_matches_the_ghash_crate_on_every_length_up_to_300_blocks() {
    let mut rng = rng();
    for blocks in 0..=300usize {
        let h: [u8; 16] = rng.random();
        // Whole blocks, and a partial block after them.
        for len in [blocks * 16, blocks * 16 + rng.random_range(1..16)] {
            let data = bytes(&mut rng, len);
            let mut reference = ghash::GHash::new(&h.into());
            reference.update_padded(&data);
            let expected: [u8; 16] = reference.finalize().into();
            for key in [GhashKey::new(&h), GhashKey::new_soft(&h)] {
                let mut hash = key.start();
                hash.update_padded(&data);
                assert_eq!(hash.finalize(), expected, "{len} bytes on {:?}", key.backend());
            }
            // Absorbed in pieces of whole blocks: the same hash.
            let split = rng.random_range(0..=blocks) * 16;
            let key = GhashKey::new(&h);
            let mut hash = key.start();
            hash.update_padded(&data[..split]);
            hash.update_padded(&data[split..]);
            assert_eq!(hash.finalize(), expected, "{len} bytes split at {split}");
        }
    }
}

#[test]
fn ghash_of_the_zero_key_and_all_ones_edge_values() {
    // Keys with the top and bottom bits set exercise mulX's carry.
    for h in [[0u8; 16], [0xff; 16], [0x80; 16], [0x01; 16]] {
        let data = [0xffu8; 16 * 19];
        let mut reference = ghash::GHash::new(&h.into());
        reference.update_padded(&data);
        let key = GhashKey::new(&h);
        let mut hash = key.start();
        hash.update_padded(&data);
        assert_eq!(hash.finalize(), <[u8; 16]>::from(reference.finalize()), "key {h:02x?}");
    }
}

const SIZES: [usize; 12] = [0, 1, 15, 16, 17, 127, 128, 129, 255, 4096 + 5, 65536, 65536 + 3];

#[test]
fn seal_is_byte_identical_to_aes_gcm_over_the_sm4_crate() {
    let mut rng = rng();
    for size in SIZES {
        let key: [u8; 16] = rng.random();
        let nonce: [u8; 12] = rng.random();
        let aad_len = rng.random_range(0..80);
        let aad = bytes(&mut rng, aad_len);
        let plain = bytes(&mut rng, size);
        let mut expected = plain.clone();
        let expected_tag = Reference::new(&key.into()).encrypt_in_place_detached(&nonce.into(), &aad, &mut expected).unwrap();
        for gcm in every_gcm(&key) {
            let mut sealed = plain.clone();
            let tag = gcm.seal_in_place_detached(&nonce, &aad, &mut sealed).unwrap();
            assert!(sealed == expected, "ciphertext of {size} bytes on {gcm:?}");
            assert_eq!(tag, <[u8; 16]>::from(expected_tag), "tag of {size} bytes on {gcm:?}");
            let mut opened = sealed.clone();
            gcm.open_in_place_detached(&nonce, &aad, &mut opened, &tag).unwrap();
            assert!(opened == plain, "open of {size} bytes on {gcm:?}");
        }
    }
}

#[test]
fn open_refuses_a_changed_byte_tag_aad_or_nonce_and_leaves_the_buffer() {
    let mut rng = rng();
    for size in SIZES {
        let key: [u8; 16] = rng.random();
        let nonce: [u8; 12] = rng.random();
        let aad_len = rng.random_range(1..80);
        let aad = bytes(&mut rng, aad_len);
        let mut sealed = bytes(&mut rng, size);
        let tag: [u8; 16] = Reference::new(&key.into()).encrypt_in_place_detached(&nonce.into(), &aad, &mut sealed).unwrap().into();
        for gcm in every_gcm(&key) {
            let refused = |nonce: &[u8; 12], aad: &[u8], body: &[u8], tag: &[u8; 16]| {
                let mut work = body.to_vec();
                let r = gcm.open_in_place_detached(nonce, aad, &mut work, tag);
                if r.is_err() {
                    assert!(work == body, "a refused buffer is left as it was");
                }
                r == Err(GcmError::Unauthentic)
            };
            if size > 0 {
                let mut body = sealed.clone();
                body[rng.random_range(0..size)] ^= 1 << rng.random_range(0..8);
                assert!(refused(&nonce, &aad, &body, &tag), "changed byte, {size} bytes");
            }
            let mut bad_tag = tag;
            bad_tag[rng.random_range(0..16)] ^= 0x40;
            assert!(refused(&nonce, &aad, &sealed, &bad_tag), "changed tag, {size} bytes");
            let mut bad_aad = aad.clone();
            bad_aad[rng.random_range(0..aad.len())] ^= 2;
            assert!(refused(&nonce, &bad_aad, &sealed, &tag), "changed aad, {size} bytes");
            let mut bad_nonce = nonce;
            bad_nonce[11] ^= 1;
            assert!(refused(&bad_nonce, &aad, &sealed, &tag), "changed nonce, {size} bytes");
            assert!(!refused(&nonce, &aad, &sealed, &tag), "the untouched chunk opens");
        }
    }
}

#[test]
fn seal_and_open_with_a_trailing_tag_match_aes_gcm() {
    use aes_gcm::aead::{Aead, Payload};
    let mut rng = rng();
    let key: [u8; 16] = rng.random();
    let nonce: [u8; 12] = rng.random();
    let (msg, aad) = (bytes(&mut rng, 16), bytes(&mut rng, 40));
    let expected = Reference::new(&key.into()).encrypt(&nonce.into(), Payload { msg: &msg, aad: &aad }).unwrap();
    let gcm = Sm4Gcm::new(&key);
    assert_eq!(gcm.seal(&nonce, &aad, &msg).unwrap(), expected);
    assert_eq!(gcm.open(&nonce, &aad, &expected).unwrap(), msg);
    assert_eq!(gcm.open(&nonce, &aad, &expected[..15]), Err(GcmError::Unauthentic), "shorter than a tag");
}
