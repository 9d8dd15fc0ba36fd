//! Readers and writers.
//!
//! - [`input`]: the one input layer: opening a path for a schema (format,
//!   compression, encoding, header checks, projection) or without one, as
//!   record units with their file and line provenance.
//! - [`csv`]: header handling, chunking at record boundaries, arrow-csv decoding.
//! - [`json`]: NDJSON decoding with arrow-json.
//! - [`output`]: where outputs may go (new regular files only), checked before any input is read.
//! - [`parquet_writer`]: the atomic Parquet writer with provenance metadata.
//! - [`parquet_reader`]: Parquet input, projected and rendered as text.
//! - [`source`]: format sniffing, decompression, transcoding, input expansion.
//! - [`spill`]: unnamed scratch files, and per-entity state partitioned onto them.
//! - [`staging`]: staged directory trees committed in one rename.

pub mod csv;
pub mod input;
pub mod json;
pub mod output;
pub mod parquet_reader;
pub mod parquet_writer;
pub mod source;
pub mod spill;
pub mod staging;

/// Read a file that is small by nature (a key, a schema) whole, refusing
/// one larger than `limit` bytes after reading at most one byte past it: a
/// device such as `/dev/zero` or a wrong file must not grow memory without
/// end. The buffer is allocated once (never moved by growth), so a caller
/// that zeroizes it leaves no copy behind. The error names the limit, never
/// the content.
pub fn read_bounded(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(limit.saturating_add(1));
    file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes; refusing to read further"
        )));
    }
    Ok(bytes)
}
