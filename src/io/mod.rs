//! Readers and writers.
//!
//! - [`csv`]: header handling, chunking at record boundaries, arrow-csv decoding.
//! - [`json`]: NDJSON decoding with arrow-json.
//! - [`output`]: where outputs may go (new regular files only), checked before any input is read.
//! - [`parquet`]: the atomic Parquet writer with provenance metadata.
//! - [`parquet_input`]: Parquet input, projected and rendered as text.
//! - [`source`]: format sniffing, decompression, transcoding, input expansion.
//! - [`table`]: any supported file as string batches, for scan/check/init.

pub mod csv;
pub mod json;
pub mod output;
pub mod parquet;
pub mod parquet_input;
pub mod source;
pub mod table;
