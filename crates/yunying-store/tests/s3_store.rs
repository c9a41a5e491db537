//! The object-store suite against a real S3 server (Garage started by
//! `storage/local-services.sh`; any S3 server works given the variables
//! below).

use std::io::Write;

use sha2::{Digest, Sha256};
use yunying_store::{ObjectStore, S3Config, S3Store, StoreError, conformance};

fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run through scripts/test.sh, or `eval \"$(storage/local-services.sh start)\"` first"))
}

/// A store on the test server under a prefix no other test uses.
fn store(tag: &str) -> (S3Store, S3Config) {
    let unique =
        format!("{tag}-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let config = S3Config {
        endpoint: env("YUNYING_TEST_S3_ENDPOINT"),
        bucket: env("YUNYING_TEST_S3_ORIGINALS_BUCKET"),
        prefix: format!("test/{unique}"),
        renditions_bucket: env("YUNYING_TEST_S3_RENDITIONS_BUCKET"),
        renditions_prefix: format!("test/{unique}"),
        ..S3Config::default()
    };
    let store = S3Store::new(&config).unwrap();
    store.check().unwrap();
    (store, config)
}

#[test]
fn s3_store_passes_the_object_store_suite() {
    let (store, _) = store("suite");
    conformance::run_all(&store, "");
}

#[test]
fn large_objects_go_up_in_parts_and_come_back_whole() {
    let (store, _) = store("multipart");
    // 40 MiB + a tail: five parts, the last one short.
    let len = 40 * 1024 * 1024 + 12_345;
    let mut data = vec![0u8; len];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.dcm");
    std::fs::File::create(&local).unwrap().write_all(&data).unwrap();
    store.put_file("originals/big/instance.dcm", &local).unwrap();
    assert!(!local.exists(), "put_file takes the spool file");
    assert_eq!(store.size("originals/big/instance.dcm").unwrap(), len as u64);
    let back = store.get("originals/big/instance.dcm").unwrap();
    assert_eq!(Sha256::digest(&back), Sha256::digest(&data), "object differs from what was uploaded");
    // A frame that straddles the 8 MiB part boundary.
    let start = 8 * 1024 * 1024 - 100;
    assert_eq!(store.get_range("originals/big/instance.dcm", start as u64, 300).unwrap(), &data[start..start + 300]);
    assert!(matches!(store.get_range("originals/big/instance.dcm", len as u64 - 10, 20), Err(StoreError::InvalidRange { .. })));
}

#[test]
fn the_server_refuses_an_upload_that_differs_from_its_digest() {
    let (store, _) = store("digest");
    let dir = tempfile::tempdir().unwrap();
    let data = b"a spooled instance whose digest ingest computed as it arrived".to_vec();
    let good: [u8; 32] = Sha256::digest(&data).into();
    let local = dir.path().join("ok.dcm");
    std::fs::write(&local, &data).unwrap();
    store.put_file_hashed("originals/digest/ok.dcm", &local, &good).unwrap();
    assert_eq!(store.get("originals/digest/ok.dcm").unwrap(), data);
    assert!(!local.exists(), "put_file_hashed takes the spool file");

    // The bytes on disk changed after hashing (a bad disk, a bug): the
    // server must refuse them, and no object may appear under the key.
    let local = dir.path().join("bad.dcm");
    let mut flipped = data.clone();
    flipped[3] ^= 0x20;
    std::fs::write(&local, &flipped).unwrap();
    let err = store.put_file_hashed("originals/digest/bad.dcm", &local, &good).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(matches!(store.size("originals/digest/bad.dcm"), Err(StoreError::NotFound { .. })));
}

#[test]
fn originals_and_renditions_live_in_their_own_buckets() {
    let (store, config) = store("buckets");
    store.put_bytes("originals/1/a.dcm", b"original").unwrap();
    store.put_bytes("renditions/1/thumb.jpg", b"thumbnail").unwrap();
    // Seen through the renditions bucket alone, only the rendition is there.
    let renditions_only = S3Store::new(&S3Config {
        bucket: config.renditions_bucket.clone(),
        prefix: config.renditions_prefix.clone(),
        renditions_bucket: String::new(),
        ..config.clone()
    })
    .unwrap();
    let keys: Vec<String> = renditions_only.list("").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, vec!["renditions/1/thumb.jpg".to_string()]);
    let keys: Vec<String> = store.list("").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, vec!["originals/1/a.dcm".to_string(), "renditions/1/thumb.jpg".to_string()]);
}

#[test]
fn wrong_credentials_and_missing_buckets_are_clear_errors() {
    let (_, config) = store("errors");
    let wrong_key = S3Store::new(&S3Config { secret_access_key: "not-the-secret".into(), ..config.clone() }).unwrap();
    let err = wrong_key.check().unwrap_err().to_string();
    assert!(!err.contains("not-the-secret"), "secret in error message: {err}");
    let no_bucket = S3Store::new(&S3Config { bucket: "no-such-bucket".into(), ..config.clone() }).unwrap();
    let err = no_bucket.check().unwrap_err().to_string();
    assert!(err.contains("no-such-bucket"), "{err}");
    let with_secret = S3Config { secret_access_key: "s3cr3t-value".into(), ..config };
    assert!(!format!("{with_secret:?}").contains("s3cr3t-value"), "secret in Debug output");
}

#[test]
fn encrypted_s3_store_passes_the_object_store_suite() {
    use std::sync::Arc;
    use yunying_store::{EncryptedStore, LocalMasterKeys};
    let (store, _) = store("encrypted");
    let keys = LocalMasterKeys::new("a", *b"master key A 128").unwrap();
    let encrypted = EncryptedStore::new(Arc::new(store), Arc::new(keys));
    conformance::run_all(&encrypted, "");
}
