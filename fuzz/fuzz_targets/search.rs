//! The search engine's condition builder, through `Index::search` on an
//! SQLite index holding the test data: any level, any keys of the matching
//! table with any values (hostile `%`, `_`, `*`, `?`, `\`, quotes, ranges,
//! unicode), fuzzy or not. The contract checked: a value never changes the
//! query's shape, so the database never refuses the SQL; a query is
//! answered or refused as the caller's mistake (`QueryError`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use yunying_index::search::{COMBINED_DATETIME, Level, Query, Scope, attributes_for};
use yunying_index::{DuplicatePolicy, Index};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    index: Index,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let index = runtime.block_on(async {
            let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
            for record in yunying_archive::fuzzing::testdata_records() {
                index.insert(record, DuplicatePolicy::KeepFirst).await.unwrap();
            }
            index
        });
        Fixture { runtime, index, _dir: dir }
    })
}

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 2 {
        return;
    }
    let f = fixture();
    let level = [Level::Patient, Level::Study, Level::Series, Level::Instance][bytes[0] as usize % 4];
    let attributes = attributes_for(Level::Instance);
    let mut keys = Vec::new();
    // Keys separated by 0xFF: a byte choosing the attribute (its top bit:
    // combined date-time matching), then the value.
    for part in bytes[2..].split(|&b| b == 0xFF).take(8) {
        let Some((&choice, value)) = part.split_first() else { continue };
        let attribute = &attributes[choice as usize % attributes.len()];
        let mut tag = attribute.tag;
        if choice & 0x80 != 0 {
            tag |= COMBINED_DATETIME;
        }
        keys.push((tag, String::from_utf8_lossy(value).into_owned()));
    }
    // A principal's reach, from hostile values too.
    let scope = (bytes[1] & 0x80 != 0).then(|| Scope {
        issuers: keys.iter().take(2).map(|(_, v)| v.clone()).collect(),
        studies: keys.iter().skip(2).map(|(_, v)| v.clone()).collect(),
    });
    let query = Query { fuzzy: bytes[1] & 1 == 1, limit: Some(50), offset: (bytes[1] >> 1) as u64 % 4, scope, ..Query::new(level, keys) };
    let answer = f.runtime.block_on(f.index.search(&query));
    if let Err(e) = answer {
        panic!("the database refused a query built from values: {e}\n{query:?}");
    }
});
