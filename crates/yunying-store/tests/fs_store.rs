use yunying_store::{FsStore, ObjectStore, clean_spool, conformance};

#[test]
fn fs_store_passes_the_object_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    conformance::run_all(&store, "");
}

#[test]
fn crash_leftovers_in_the_spool_are_removed_by_the_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let leftover = store.local_spool_dir().unwrap().join("half-written.tmp");
    std::fs::write(&leftover, b"torn").unwrap();
    // Another process opening the store (`yunying ae list` next to a
    // running server) must not delete what the server is writing.
    let other = FsStore::open(dir.path()).unwrap();
    assert!(leftover.exists());
    assert!(other.list("").unwrap().is_empty(), "spool files are never objects");
    // The server, starting after a crash, removes them.
    assert_eq!(clean_spool(store.local_spool_dir().unwrap()).unwrap(), 1);
    assert!(!leftover.exists());
}
