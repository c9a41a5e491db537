//! One DICOM connection's bytes as the association handler and the service
//! read them: the A-ASSOCIATE-RQ (framing, dicom-ul's decoder, negotiation
//! with role selection and extended negotiation), then P-DATA-TF PDUs,
//! presentation data values, command sets and identifiers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| yunying_dimse::fuzzing::connection(bytes));
