//! Decoding and rendering of the fixtures in `testdata/dicom/`.

mod decode;
mod fixture;
mod pydicom;
mod render;
