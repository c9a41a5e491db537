//! Common test utilities for the OpenJPH-RS codec.
//!
//! Port of the C++ test infrastructure from `OpenJPH/tests/`.

pub mod compare_files;
pub mod mse_pae;
