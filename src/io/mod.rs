//! Readers and writers.
//!
//! - [`csv`]: header handling, chunking at record boundaries, arrow-csv decoding.
//! - [`parquet`]: the atomic Parquet writer with provenance metadata.

pub mod csv;
pub mod parquet;
