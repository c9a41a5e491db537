//! A film download's DICOMDIR written from hostile names and UIDs, read
//! back by the walker: it parses whole and every record and link is there.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| yunying_archive::fuzzing::dicomdir(bytes));
