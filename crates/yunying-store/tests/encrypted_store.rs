//! The encrypted store: the object-store suite on an encrypted filesystem
//! store, no plaintext on disk, tampering detected, ranged reads that open
//! only the chunks they need, and master key rotation.

use std::sync::Arc;

use yunying_store::encrypted::format::{CHUNK, HEADER_LEN};
use yunying_store::{EncryptedStore, FsStore, LocalMasterKeys, ObjectStore, StoreError, conformance};

const KEY_A: [u8; 16] = *b"master key A 128";
const KEY_B: [u8; 16] = *b"master key B 128";

fn keys(current: (&str, [u8; 16]), previous: &[(&str, [u8; 16])]) -> Arc<LocalMasterKeys> {
    let mut keys = LocalMasterKeys::new(current.0, current.1).unwrap();
    for (id, key) in previous {
        keys.add(id, *key).unwrap();
    }
    Arc::new(keys)
}

fn stores(dir: &std::path::Path) -> (Arc<FsStore>, EncryptedStore) {
    let fs = Arc::new(FsStore::open(dir).unwrap());
    let enc = EncryptedStore::new(fs.clone(), keys(("a", KEY_A), &[]));
    (fs, enc)
}

/// Bytes that look like nothing: no run of them is repeated by chance.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn undecryptable(result: Result<Vec<u8>, StoreError>, what: &str) {
    match result {
        Err(StoreError::Undecryptable { .. }) => {}
        Ok(bytes) => panic!("{what}: expected a decryption error, got {} bytes", bytes.len()),
        Err(other) => panic!("{what}: expected a decryption error, got {other}"),
    }
}

#[test]
fn encrypted_fs_store_passes_the_object_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (_, enc) = stores(dir.path());
    conformance::run_all(&enc, "");
}

#[test]
fn the_files_hold_no_plaintext_and_are_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, enc) = stores(dir.path());
    let plain = noise(3 * CHUNK as usize + 100, 7);
    enc.put_bytes("originals/x/y/z.dcm", &plain).unwrap();
    let local = dir.path().join("spool/incoming");
    let small: &[u8] = b"DICM and a patient's name, Wang^Wei, in the clear";
    std::fs::write(&local, small).unwrap();
    enc.put_file("originals/x/y/w.dcm", &local).unwrap();
    assert!(!local.exists());

    let on_disk = fs.get("originals/x/y/z.dcm").unwrap();
    for window in plain.windows(16).step_by(997) {
        assert!(!on_disk.windows(16).any(|w| w == window), "a 16-byte run of the plaintext is on disk");
    }
    let sealed = fs.get("originals/x/y/w.dcm").unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"Wang" || w == b"DICM"), "the small object is sealed too");
    assert_eq!(enc.get("originals/x/y/w.dcm").unwrap(), small);
    assert!(enc.open_local("originals/x/y/z.dcm").unwrap().is_none(), "never a file of ciphertext to send as is");
    assert_eq!(enc.size("originals/x/y/z.dcm").unwrap(), plain.len() as u64);
    assert_eq!(enc.list("originals/").unwrap().iter().map(|o| o.size).collect::<Vec<_>>(), vec![small.len() as u64, plain.len() as u64]);
}

#[test]
fn put_file_hashed_holds_the_plaintext_to_its_digest() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let (_, enc) = stores(dir.path());
    let local = dir.path().join("spool/in");
    std::fs::write(&local, b"the instance").unwrap();
    let wrong: [u8; 32] = Sha256::digest(b"another instance").into();
    assert!(enc.put_file_hashed("originals/a/b/c.dcm", &local, &wrong).is_err());
    assert!(matches!(enc.get("originals/a/b/c.dcm"), Err(StoreError::NotFound { .. })));
    let right: [u8; 32] = Sha256::digest(b"the instance").into();
    enc.put_file_hashed("originals/a/b/c.dcm", &local, &right).unwrap();
    assert_eq!(enc.get("originals/a/b/c.dcm").unwrap(), b"the instance");
}

#[test]
fn tampering_is_an_error_never_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, enc) = stores(dir.path());
    let (a, b) = ("originals/s/t/a.dcm", "originals/s/t/b.dcm");
    let plain_a = noise(3 * CHUNK as usize + 500, 1);
    let plain_b = noise(3 * CHUNK as usize + 500, 2);
    enc.put_bytes(a, &plain_a).unwrap();
    enc.put_bytes(b, &plain_b).unwrap();
    let sealed_a = fs.get(a).unwrap();
    let sealed_b = fs.get(b).unwrap();
    let chunk = (CHUNK + 16) as usize;
    let header = HEADER_LEN as usize;
    let read_all = |what: &str| {
        undecryptable(enc.get(a), what);
        undecryptable(enc.get_range(a, CHUNK + 10, 100), what);
    };

    // A flipped byte in the header, a body chunk, or a tag.
    for at in [3, 13, 40, 100, header + 5, header + chunk + 7, header + chunk - 1, sealed_a.len() - 1] {
        let mut bytes = sealed_a.clone();
        bytes[at] ^= 0x20;
        fs.put_bytes(a, &bytes).unwrap();
        undecryptable(enc.get(a), &format!("byte {at} flipped"));
    }
    // Flipped in the second chunk: a range in the first still reads; one
    // in the second does not.
    let mut bytes = sealed_a.clone();
    bytes[header + chunk + 7] ^= 1;
    fs.put_bytes(a, &bytes).unwrap();
    assert_eq!(enc.get_range(a, 10, 100).unwrap(), &plain_a[10..110]);
    undecryptable(enc.get_range(a, CHUNK + 10, 100), "a range in the damaged chunk");

    // Truncated: at a chunk boundary (the last whole chunk is not marked
    // last), mid-chunk, to the header alone.
    for len in [header + 3 * chunk, header + 2 * chunk + 10, header, 20] {
        fs.put_bytes(a, &sealed_a[..len]).unwrap();
        undecryptable(enc.get(a), &format!("truncated to {len}"));
        undecryptable(enc.get_range(a, 3 * CHUNK + 10, 100), &format!("range cut off at {len}"));
        // A range in a chunk that survived whole reads right, or fails.
        if let Ok(bytes) = enc.get_range(a, 2 * CHUNK, 100) {
            assert_eq!(bytes, &plain_a[2 * CHUNK as usize..2 * CHUNK as usize + 100]);
        }
    }
    // Two chunks swapped.
    let mut bytes = sealed_a.clone();
    let (first, second) = (header..header + chunk, header + chunk..header + 2 * chunk);
    let one = bytes[first.clone()].to_vec();
    bytes.copy_within(second.clone(), first.start);
    bytes[second].copy_from_slice(&one);
    fs.put_bytes(a, &bytes).unwrap();
    read_all("chunks swapped");
    undecryptable(enc.get_range(a, 0, 10), "chunks swapped, first range");
    // b's header on a's body, and b's object whole under a's key.
    let mut bytes = sealed_a.clone();
    bytes[..header].copy_from_slice(&sealed_b[..header]);
    fs.put_bytes(a, &bytes).unwrap();
    read_all("header from another object");
    fs.put_bytes(a, &sealed_b).unwrap();
    read_all("another object moved here");
    // A chunk spliced in from another object (same position).
    let mut bytes = sealed_a.clone();
    bytes[header + chunk..header + 2 * chunk].copy_from_slice(&sealed_b[header + chunk..header + 2 * chunk]);
    fs.put_bytes(a, &bytes).unwrap();
    undecryptable(enc.get_range(a, CHUNK + 10, 100), "chunk spliced from another object");
    // A plaintext object placed in the store is not served.
    fs.put_bytes(a, &plain_a).unwrap();
    read_all("plaintext where ciphertext belongs");

    fs.put_bytes(a, &sealed_a).unwrap();
    assert_eq!(enc.get(a).unwrap(), plain_a, "the untouched object still reads");
    assert_eq!(enc.get(b).unwrap(), plain_b);
}

#[test]
fn a_ranged_read_decrypts_only_the_chunks_covering_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, enc) = stores(dir.path());
    let plain = noise(20 << 20, 3);
    enc.put_bytes("originals/big/1/2.dcm", &plain).unwrap();
    let before = enc.decrypted_bytes();
    let (start, len) = (7_000_000u64, 4_000u64);
    assert_eq!(enc.get_range("originals/big/1/2.dcm", start, len).unwrap(), &plain[start as usize..(start + len) as usize]);
    let opened = enc.decrypted_bytes() - before;
    let chunks = (start + len - 1) / CHUNK - start / CHUNK + 1;
    assert_eq!(opened, chunks * CHUNK, "only the {chunks} chunks covering the range were opened");
    // A range across a chunk boundary opens both, and reads right.
    let before = enc.decrypted_bytes();
    let edge = 5 * CHUNK - 100;
    assert_eq!(enc.get_range("originals/big/1/2.dcm", edge, 300).unwrap(), &plain[edge as usize..edge as usize + 300]);
    assert_eq!(enc.decrypted_bytes() - before, 2 * CHUNK);
    // The last chunk is short.
    let tail = plain.len() as u64 - 10;
    assert_eq!(enc.get_range("originals/big/1/2.dcm", tail, 10).unwrap(), &plain[tail as usize..]);
}

#[test]
fn rotation_rewraps_headers_and_the_old_key_can_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FsStore::open(dir.path()).unwrap());
    let under_a = EncryptedStore::new(fs.clone(), keys(("a", KEY_A), &[]));
    let objects: Vec<(String, Vec<u8>)> =
        (0..5).map(|i| (format!("originals/r/s/{i}.dcm"), noise(i * 40_000 + 1, i as u64 + 10))).collect();
    for (key, plain) in &objects {
        under_a.put_bytes(key, plain).unwrap();
    }
    let bodies: Vec<Vec<u8>> = objects.iter().map(|(k, _)| fs.get(k).unwrap()[HEADER_LEN as usize..].to_vec()).collect();

    // B is current, A still loaded: everything reads, then is re-wrapped.
    let both = EncryptedStore::new(fs.clone(), keys(("b", KEY_B), &[("a", KEY_A)]));
    let spool = dir.path().join("spool");
    for (key, plain) in &objects {
        assert_eq!(both.get(key).unwrap(), *plain);
        assert_eq!(both.key_id_of(key).unwrap(), "a");
        assert!(both.rewrap(key, &spool).unwrap());
        assert!(!both.rewrap(key, &spool).unwrap(), "a second rotation has nothing to do");
    }
    for ((key, _), body) in objects.iter().zip(&bodies) {
        assert_eq!(&fs.get(key).unwrap()[HEADER_LEN as usize..], &body[..], "the body is not re-encrypted");
    }

    // A removed: still readable under B alone, and no longer under A.
    let only_b = EncryptedStore::new(fs.clone(), keys(("b", KEY_B), &[]));
    for (key, plain) in &objects {
        assert_eq!(only_b.get(key).unwrap(), *plain);
        assert_eq!(only_b.get_range(key, 0, 1).unwrap(), plain[..1]);
        undecryptable(under_a.get(key), "under the retired key");
    }
    // A key loaded under the wrong id does not open what it did not wrap.
    let wrong = EncryptedStore::new(fs.clone(), keys(("b", KEY_A), &[]));
    undecryptable(wrong.get(&objects[0].0), "wrong key under the right id");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "no temporary files left");
}

/// Raw throughput of sealing and opening (run with `--release --ignored
/// --nocapture`): the cost a ranged read adds per byte.
#[test]
#[ignore]
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let (_, enc) = stores(dir.path());
    let plain = noise(64 << 20, 5);
    let t = std::time::Instant::now();
    enc.put_bytes("originals/t/t/t.dcm", &plain).unwrap();
    let sealed = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    assert_eq!(enc.get("originals/t/t/t.dcm").unwrap().len(), plain.len());
    let opened = t.elapsed().as_secs_f64();
    println!("seal {:.0} MB/s, open {:.0} MB/s", plain.len() as f64 / sealed / 1e6, plain.len() as f64 / opened / 1e6);
}

/// An object sealed when SM4 was the `sm4` crate (tests/data/README.md)
/// opens whole and in ranges across its chunks, and the same bytes sealed
/// now open the same way: the format did not change with the cipher's
/// implementation.
#[test]
fn objects_sealed_before_the_fast_sm4_still_open() {
    let key = "originals/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm";
    let sealed = std::fs::read(
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("tests/data/sm4gcm-v1-sealed-by-sm4-0.5.bin"),
    )
    .unwrap();
    let plain = noise(132_072, 2026);
    let dir = tempfile::tempdir().unwrap();
    let (fs, enc) = stores(dir.path());
    fs.put_bytes(key, &sealed).unwrap();
    assert_eq!(enc.get(key).unwrap(), plain);
    assert_eq!(enc.size(key).unwrap(), plain.len() as u64);
    let c = CHUNK as usize;
    for (start, len) in [(0, 1), (5, c), (c - 3, c + 6), (c - 1, 2), (2 * c - 1, 1001), (0, plain.len()), (2 * c + 999, 1)] {
        assert_eq!(enc.get_range(key, start as u64, len as u64).unwrap(), &plain[start..start + len], "{start}+{len}");
    }
    // Re-sealed under the same key: the new data key differs, the plaintext not.
    enc.put_bytes("originals/1/2/3.dcm", &plain).unwrap();
    assert_eq!(enc.get("originals/1/2/3.dcm").unwrap(), plain);
    assert_eq!(fs.get("originals/1/2/3.dcm").unwrap().len(), sealed.len());
    // A byte flipped in the last chunk of the old object is still caught.
    let mut bad = sealed.clone();
    *bad.last_mut().unwrap() ^= 1;
    fs.put_bytes(key, &bad).unwrap();
    undecryptable(enc.get_range(key, 2 * c as u64, 10), "a damaged tag");
}
