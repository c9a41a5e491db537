//! Decoding and rendering of the fixtures in `testdata/dicom/`.

mod bombs;
mod decode;
mod fixture;
mod htj2k;
mod htj2k_copies;
mod pydicom;
mod render;
