//! Readers and writers.
//!
//! - [`csv`]: header handling, chunking at record boundaries, arrow-csv decoding.
//! - [`parquet`]: the atomic Parquet writer with provenance metadata.
//! - [`table`]: any supported file as string batches, for scan/check/init.

pub mod csv;
pub mod parquet;
pub mod table;
