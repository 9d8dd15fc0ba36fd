//! An independent record count for CSV bytes, with csv-core (the crate
//! arrow-csv parses with), not txanon's chunker: the oracle against which the
//! pipeline's `rows_read` is compared, so a record lost between chunker,
//! decoder and writer shows up as a difference. Shared by
//! tests/properties.rs and fuzz/fuzz_targets/csv_to_batch.rs.
//!
//! Dialect: the defaults of `[input]` (delimiter `,`, quote `"`, doubled
//! quotes, no escape, no comment byte, CR/LF/CRLF terminators), a leading
//! UTF-8 BOM removed, blank lines skipped (csv-core skips them too).

/// Records in `bytes`, the header included.
pub fn count_records(bytes: &[u8]) -> u64 {
    let mut input = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv_core::ReaderBuilder::new()
        .delimiter(b',')
        .quote(b'"')
        .build();
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; 1 << 12];
    let mut records = 0u64;
    loop {
        let (result, read, _, _) = reader.read_record(input, &mut out, &mut ends);
        input = &input[read..];
        match result {
            csv_core::ReadRecordResult::Record => records += 1,
            csv_core::ReadRecordResult::End => return records,
            // All of `input` consumed: the next call gets an empty slice,
            // which csv-core reads as the end of the input.
            csv_core::ReadRecordResult::InputEmpty => {}
            // Output space is scratch: only record ends matter.
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
        }
    }
}
