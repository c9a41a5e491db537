use yunying_store::{conformance, FsStore, ObjectStore};

#[test]
fn fs_store_passes_the_object_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    conformance::run_all(&store, "");
}

#[test]
fn crash_leftovers_in_the_spool_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let leftover = store.local_spool_dir().unwrap().join("half-written.tmp");
    std::fs::write(&leftover, b"torn").unwrap();
    drop(store);
    let store = FsStore::open(dir.path()).unwrap();
    assert!(!leftover.exists());
    assert!(store.list("").unwrap().is_empty(), "spool files are never objects");
}
