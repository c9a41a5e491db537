//! An object received whole (C-STORE, STOW-RS, import): file meta or an
//! inferred one, the record and metadata ingest extracts over every
//! transfer syntax (deflated and big endian included), the frames read
//! back through the recorded layout, decoded and rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| yunying_archive::fuzzing::instance(bytes));
