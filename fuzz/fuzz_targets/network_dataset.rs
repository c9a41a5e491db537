//! A data set as a DIMSE identifier arrives (C-FIND, C-MOVE, C-GET,
//! N-ACTION): the walker and the DICOM JSON builder, implicit and
//! explicit VR.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| yunying_archive::fuzzing::network_dataset(bytes));
