//! NDJSON input: one JSON object per line, top-level fields as columns,
//! decoded with arrow-json.
//!
//! Lines are cut into chunks by the same chunker as CSV (without quoting:
//! JSON text cannot hold a raw newline), so NDJSON is decoded in parallel
//! and bad lines are reported by line number. The column list comes from the
//! first record's keys; a later record with a key the schema does not
//! declare stops the run (fail closed), because arrow-json decodes in strict
//! mode, unless the plan ignores undeclared keys (`--drop-undeclared`).
//! Numbers and booleans are read as their JSON text; nested objects and
//! arrays make the record bad. arrow-json's error texts can quote values
//! (and keys, which in NDJSON can be data), so they are never shown nor
//! parsed into a message: only their kind is kept.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::error::{Error, Result};
use crate::io::csv::{BadRecord, Chunk, DecodedChunk, RecordSpans, Scanner};
use crate::io::source::{open_text, TextEncoding};

/// The keys of the first record of an NDJSON file, in their order.
pub fn first_record_keys(path: &Path, encoding: TextEncoding) -> Result<Vec<String>> {
    let counter = Arc::default();
    let (stream, _) = open_text(path, encoding, counter)?;
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        number += 1;
        let limit = crate::io::csv::MAX_RECORD_BYTES as u64 + 1;
        let n = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n as u64 >= limit {
            return Err(Error::BadRecord {
                path: path.to_path_buf(),
                line: number,
                column: "(record)".into(),
                rule: format!(
                    "line longer than {} MiB (the limit on one record); nothing was written",
                    crate::io::csv::MAX_RECORD_BYTES >> 20
                ),
            });
        }
        if n == 0 {
            return Err(Error::Header {
                path: path.to_path_buf(),
                message: "file is empty: no JSON record".into(),
            });
        }
        let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|_| Error::Header {
            path: path.to_path_buf(),
            message: format!("line {number}: the first record is not valid JSON"),
        })?;
        return match value {
            serde_json::Value::Object(map) => Ok(map.keys().cloned().collect()),
            _ => Err(Error::Header {
                path: path.to_path_buf(),
                message: format!("line {number}: the first record is not a JSON object"),
            }),
        };
    }
}

/// Decodes chunks of NDJSON lines into the projected string columns.
#[derive(Debug, Clone)]
pub struct JsonPlan {
    /// The projected columns, in projection order.
    schema: Arc<ArrowSchema>,
    /// Skip keys the schema lacks instead of stopping (`--drop-undeclared`).
    ignore_undeclared: bool,
}

impl JsonPlan {
    /// `names` are the columns to decode, in the order the batch should have them.
    pub fn new(names: &[String]) -> JsonPlan {
        let fields: Vec<Field> = names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect();
        JsonPlan {
            schema: Arc::new(ArrowSchema::new(fields)),
            ignore_undeclared: false,
        }
    }

    /// With `ignore`, keys outside the plan's columns are skipped (under
    /// `--drop-undeclared`) instead of stopping the run.
    pub fn ignoring_undeclared(self, ignore: bool) -> JsonPlan {
        JsonPlan {
            ignore_undeclared: ignore,
            ..self
        }
    }

    fn decoder(&self, records: usize) -> Option<Decoder> {
        ReaderBuilder::new(self.schema.clone())
            .with_batch_size(records.max(1) + 1)
            .with_coerce_primitive(true)
            .with_strict_mode(!self.ignore_undeclared)
            .build_decoder()
            .ok()
    }

    fn decode_range(
        &self,
        data: &[u8],
        records: usize,
    ) -> std::result::Result<RecordBatch, Failure> {
        let mut decoder = self.decoder(records).ok_or(Failure::Malformed)?;
        let mut offset = 0;
        while offset < data.len() {
            let n = decoder
                .decode(&data[offset..])
                .map_err(|e| Failure::classify(&e.to_string()))?;
            if n == 0 {
                break;
            }
            offset += n;
        }
        let batch = decoder
            .flush()
            .map_err(|e| Failure::classify(&e.to_string()))?
            .unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone()));
        if batch.num_rows() != records {
            return Err(Failure::Malformed);
        }
        Ok(batch)
    }

    /// Line spans of a chunk's records.
    pub fn record_spans(&self, chunk: &Chunk) -> RecordSpans {
        crate::io::csv::spans_with(&chunk.data, chunk.first_line, Scanner::lines())
    }

    /// Decode a chunk; bad lines are left out and reported with their line
    /// numbers, and a key the schema does not declare is fatal.
    pub fn decode(&self, chunk: &Chunk) -> DecodedChunk {
        if let Ok(batch) = self.decode_range(&chunk.data, chunk.records) {
            return DecodedChunk {
                batch,
                bad: Vec::new(),
                kept: None,
                fatal: None,
            };
        }
        let spans = self.record_spans(chunk);
        let mut batches = Vec::new();
        let mut bad = Vec::new();
        let mut kept = Vec::new();
        for (i, &(a, b, line)) in spans.iter().enumerate() {
            match self.decode_range(&chunk.data[a..b], 1) {
                Ok(batch) => {
                    kept.push(i);
                    batches.push(batch);
                }
                Err(Failure::Undeclared) => {
                    // The key is not named: in NDJSON a key can be data (a
                    // map keyed by phone number), and arrow-json's text is
                    // never parsed into a message.
                    return DecodedChunk {
                        batch: RecordBatch::new_empty(self.schema.clone()),
                        bad: Vec::new(),
                        kept: None,
                        fatal: Some(BadRecord {
                            line,
                            column: "(record)".into(),
                            rule: "a key the schema does not declare (not shown: a key can be \
                                   data); declare it or pass --drop-undeclared; nothing was \
                                   written (fail closed)"
                                .into(),
                        }),
                    };
                }
                Err(f) => bad.push(BadRecord {
                    line,
                    column: "(record)".into(),
                    rule: f.rule().into(),
                }),
            }
        }
        let batch = arrow_select::concat::concat_batches(&self.schema, &batches)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        DecodedChunk {
            batch,
            bad,
            kept: Some(kept),
            fatal: None,
        }
    }
}

/// What went wrong, from an arrow-json message (which is never shown).
#[derive(Debug)]
enum Failure {
    Undeclared,
    Utf8,
    Nested,
    Malformed,
}

impl Failure {
    fn classify(message: &str) -> Failure {
        if message.contains("missing from schema") {
            Failure::Undeclared
        } else if message.contains("UTF-8") || message.contains("utf-8") || message.contains("utf8")
        {
            Failure::Utf8
        } else if message.contains("expected") && (message.contains('{') || message.contains('[')) {
            Failure::Nested
        } else {
            Failure::Malformed
        }
    }

    fn rule(&self) -> &'static str {
        match self {
            Failure::Undeclared => "a key the schema does not declare",
            Failure::Utf8 => "invalid UTF-8",
            Failure::Nested => "nested JSON value where text, a number or a boolean was expected",
            Failure::Malformed => "not a valid JSON object on one line",
        }
    }
}
