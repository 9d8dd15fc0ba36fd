#![no_main]
//! The CSV-to-batch path: chunker, header check, arrow-csv decoder and the
//! per-batch transform, through `pipeline::dry_run` with the sample schema
//! (exactly what `anonymize` does, minus the Parquet writer).
//!
//! Input: one selector byte (records per chunk 1..=16; bit 7 prepends the
//! sample header so mutations explore the body), then the file's bytes.
//! Properties: no panic; never the "record boundaries disagree" internal
//! error (the chunker and the decoder must agree on every input); with an
//! unlimited bad-row allowance every record is either written or counted bad,
//! and for plain-text input the records read equal an independent count by
//! csv-core (tests/support/count_records.rs), so a record lost without being
//! counted fails here (the chunker's own count could not show that);
//! the only errors are header, bad-record and bad-row-limit errors, plus
//! I/O errors for files that start with gzip or zstd magic bytes and Parquet
//! read errors for files that start with `PAR1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/count_records.rs"]
mod count_records;
use txanon::io::source::{detect, Compression::*, Detected};
use txanon::key::MasterKey;
use txanon::pipeline::{dry_run, AnonymizeOptions, SilentReporter};
use txanon::schema::Schema;
use txanon::Error;

const KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
const SCHEMA: &str = include_str!("../../schemas/transactions.toml");
const HEADER: &str = "txn_id,created_at,account_id,customer_name,id_card,mobile,email,home_address,shipping_address,birth_date,amount,currency,merchant_id,channel,is_refund,item_count,ip_address\n";

struct Fixture {
    schema: Schema,
    key: MasterKey,
    input: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir();
        Fixture {
            schema: Schema::from_toml(SCHEMA, Path::new("transactions.toml"))
                .expect("sample schema"),
            key: MasterKey::from_hex(KEY_HEX).expect("fixed key"),
            input: dir.join(format!("txanon-fuzz-csv-{}.csv", std::process::id())),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let mut bytes = Vec::with_capacity(HEADER.len() + body.len());
    if sel & 0x80 != 0 {
        bytes.extend_from_slice(HEADER.as_bytes());
    }
    bytes.extend_from_slice(body);
    std::fs::File::create(&f.input)
        .and_then(|mut file| file.write_all(&bytes))
        .expect("temp input");
    // What txanon's content detection makes of the file (gzip, zstd, Parquet
    // or plain text): it decides which errors below are legitimate.
    let detected = detect(&f.input).expect("the input was just written");
    let mut opts = AnonymizeOptions::new(vec![f.input.clone()], PathBuf::from("unused.parquet"));
    opts.batch_rows = usize::from(sel & 0x0f) + 1;
    opts.max_bad_rows = u64::MAX;
    opts.drop_undeclared = sel & 0x40 != 0;
    match dry_run(&f.schema, &f.key, &opts, &SilentReporter) {
        Ok(summary) => {
            assert_eq!(
                summary.rows_written + summary.bad_rows,
                summary.rows_read,
                "every record is written or counted bad"
            );
            if detected == Detected::Text(txanon::io::source::Compression::None) {
                // The header (the first record) is not a row.
                let records = count_records::count_records(&bytes).saturating_sub(1);
                assert_eq!(
                    summary.rows_read, records,
                    "records read vs csv-core's count"
                );
            }
        }
        Err(Error::BadRecord { column, rule, .. }) => {
            assert_ne!(column, "(chunk)", "chunker and decoder disagree: {rule}");
        }
        Err(Error::Header { .. }) | Err(Error::TooManyBadRows { .. }) => {}
        // The input is a freshly written regular file, so an I/O error can only
        // come from a corrupt or truncated gzip/zstd stream, and only when the
        // file was detected as one; likewise a Parquet read error needs a file
        // detected as Parquet (`format = "auto"` goes by the same `detect`).
        // Both are clean, file-named errors
        // (tests/regression.rs::issue7_corrupt_or_truncated_compressed_input_is_a_clean_error).
        Err(Error::Io { .. }) if matches!(detected, Detected::Text(Gzip | Zstd)) => {}
        Err(Error::ParquetRead { .. }) if detected == Detected::Parquet => {}
        Err(e) => panic!("unexpected error kind: {e}"),
    }
});
