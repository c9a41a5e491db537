//! Throughput of SM4 and SM4-GCM, RustCrypto's `sm4` crate against
//! [`FastSm4`] on each path this CPU has, and of a ranged read of an
//! encrypted object (the cost a WADO-RS frame request pays).
//!
//! ```text
//! cargo run --release -p yunying-store --example sm4_throughput [seconds per figure, default 1]
//! ```
//!
//! SM4 figures are 1 MiB of blocks per call (`encrypt_blocks`); GHASH
//! figures one 64 KiB chunk per call, the `ghash` crate against
//! [`GhashKey`] (PCLMULQDQ, eight blocks per reduction); SM4-GCM open
//! figures are one 64 KiB chunk per call (each call first copies the
//! sealed chunk into the buffer it opens in place, as a store read does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use sm4::cipher::{Block, BlockEncrypt};
use yunying_store::encrypted::fast_gcm::{GhashKey, Sm4Gcm};
use yunying_store::encrypted::fast_sm4::FastSm4;
use yunying_store::{EncryptedStore, FsStore, LocalMasterKeys, ObjectStore};

fn main() {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse().expect("seconds")).unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let key = [7u8; 16];
    let ciphers = [
        ("sm4 crate", FastSm4::new_soft(&key.into())),
        ("FastSm4 AVX2+AES-NI", FastSm4::new_without_vaes(&key.into())),
        ("FastSm4 (default)", <FastSm4 as sm4::cipher::KeyInit>::new(&key.into())),
    ];

    println!("SM4 blocks, 1 MiB per call:");
    let mut blocks = vec![Block::<FastSm4>::default(); (1 << 20) / 16];
    for (name, cipher) in &ciphers {
        let rate = rate(budget, 1 << 20, || cipher.encrypt_blocks(&mut blocks));
        println!("  {name:<22} {:?}: {rate:8.1} MB/s", cipher.backend());
    }

    let chunk = 64 * 1024;
    println!("GHASH, one 64 KiB chunk per call:");
    let data = vec![0xa5u8; chunk];
    let h = [9u8; 16];
    let r = rate(budget, chunk, || {
        use ghash::universal_hash::{KeyInit as _, UniversalHash};
        let mut g = ghash::GHash::new(&h.into());
        g.update_padded(&data);
        std::hint::black_box(g.finalize());
    });
    println!("  {:<34}: {r:8.1} MB/s", "ghash crate");
    for key in [GhashKey::new_soft(&h), GhashKey::new(&h)] {
        let r = rate(budget, chunk, || {
            let mut g = key.start();
            g.update_padded(&data);
            std::hint::black_box(g.finalize());
        });
        println!("  GhashKey {:<25?}: {r:8.1} MB/s", key.backend());
    }

    println!("SM4-GCM open, one 64 KiB chunk per call:");
    let (nonce, aad) = ([1u8; 12], b"originals/x/y/z.dcm\0\0\0\0\0\0\0\0\0\x01".to_vec());
    let mut sealed = vec![0x5au8; chunk];
    let tag = AesGcm::<sm4::Sm4, U12>::new(&key.into()).encrypt_in_place_detached(&nonce.into(), &aad, &mut sealed).unwrap();
    let reference = AesGcm::<sm4::Sm4, U12>::new(&key.into());
    let mut work = vec![0u8; chunk];
    let r = rate(budget, chunk, || {
        work.copy_from_slice(&sealed);
        reference.decrypt_in_place_detached(&nonce.into(), &aad, &mut work, &tag).unwrap();
    });
    println!("  {:<22} {:>11}: {r:8.1} MB/s", "AesGcm<sm4::Sm4>", "");
    for (name, cipher) in &ciphers {
        let gcm = AesGcm::<FastSm4, U12>::from(cipher.clone());
        let r = rate(budget, chunk, || {
            work.copy_from_slice(&sealed);
            gcm.decrypt_in_place_detached(&nonce.into(), &aad, &mut work, &tag).unwrap();
        });
        println!("  AesGcm<{name:<14} {:?}: {r:8.1} MB/s", cipher.backend());
    }
    for (name, cipher) in &ciphers {
        for gcm in [Sm4Gcm::from_cipher_soft_ghash(cipher.clone()), Sm4Gcm::from_cipher(cipher.clone())] {
            let r = rate(budget, chunk, || {
                work.copy_from_slice(&sealed);
                gcm.open_in_place_detached(&nonce, &aad, &mut work, &tag.into()).unwrap();
            });
            println!("  Sm4Gcm {name:<22} GHASH {:?}: {r:8.1} MB/s", gcm.ghash_backend());
        }
    }

    println!("EncryptedStore::get_range of a 512 KiB frame (9 chunks) on a filesystem store:");
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FsStore::open(dir.path()).unwrap());
    let keys = Arc::new(LocalMasterKeys::new("bench", key).unwrap());
    let store = EncryptedStore::new(fs.clone(), keys);
    let object = vec![0x33u8; 5 << 20];
    store.put_bytes("originals/a/b/c.dcm", &object).unwrap();
    fs.put_bytes("originals/a/b/plain.dcm", &object).unwrap();
    let frame = 512 * 1024;
    let start = 1000; // a frame that does not start on a chunk boundary
    for (name, store) in [("plain FsStore", &*fs as &dyn ObjectStore), ("EncryptedStore", &store as &dyn ObjectStore)] {
        let key = if name == "plain FsStore" { "originals/a/b/plain.dcm" } else { "originals/a/b/c.dcm" };
        let r = rate(budget, frame, || {
            assert_eq!(store.get_range(key, start, frame as u64).unwrap().len(), frame);
        });
        println!("  {name:<22} {r:8.1} MB/s ({:.3} ms per frame)", frame as f64 / r / 1000.0);
    }
    println!("(rayon threads: {})", rayon::current_num_threads());
}

/// MB/s of `f`, which processes `bytes` bytes per call, over `budget`.
fn rate(budget: Duration, bytes: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < budget {
        f();
        calls += 1;
    }
    (calls * bytes as u64) as f64 / started.elapsed().as_secs_f64() / 1e6
}
