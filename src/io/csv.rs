//! CSV input: header handling, record-boundary chunking, and decoding with
//! arrow-csv.
//!
//! A dump is read sequentially in large blocks and cut into [`Chunk`]s of
//! whole records (a quote-aware scan for record ends, RFC 4180 quoting), so
//! that chunks can be decoded and transformed in parallel and still be
//! written in order. Each chunk is decoded by arrow-csv's [`Decoder`] into
//! string columns; typed parsing happens in the transform, where failures can
//! be reported by file, line and column without quoting the value.
//!
//! Errors from arrow-csv are never shown as is (some quote field values): only
//! the record number is taken from them, and mapped back to a physical line.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_csv::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::error::{Error, Result};

const READ_BLOCK: usize = 4 << 20;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One input file, opened, with its header read.
pub struct CsvInput {
    /// The file.
    pub path: PathBuf,
    /// Column names from the header (or the schema's names when there is none).
    pub columns: Vec<String>,
    chunker: Chunker<File>,
}

impl std::fmt::Debug for CsvInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvInput")
            .field("path", &self.path)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// A run of whole records from one file.
#[derive(Debug)]
pub struct Chunk {
    /// Index of the file in the run's input list.
    pub file: usize,
    /// Physical line number (1-based) where the first record starts.
    pub first_line: u64,
    /// The records' bytes, each ending in a newline (the last may not).
    pub data: Vec<u8>,
    /// Number of non-blank records in `data`.
    pub records: usize,
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// Column name, or `(record)` when the record as a whole is malformed.
    pub column: String,
    /// What is wrong, without the value.
    pub rule: String,
}

impl CsvInput {
    /// Open `path` and read its header. With `header = false`, `declared`
    /// gives the column names, matched by position.
    pub fn open(path: &Path, delimiter: u8, header: bool, declared: &[String]) -> Result<CsvInput> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut chunker = Chunker::new(file, b'"');
        let columns = if header {
            let (rec, line) = chunker
                .next_record()
                .map_err(|e| Error::io(path, e))?
                .ok_or_else(|| Error::Header {
                    path: path.to_path_buf(),
                    message: "file is empty: no header record".into(),
                })?;
            let _ = line;
            parse_header(&rec, delimiter).map_err(|message| Error::Header {
                path: path.to_path_buf(),
                message,
            })?
        } else {
            declared.to_vec()
        };
        Ok(CsvInput {
            path: path.to_path_buf(),
            columns,
            chunker,
        })
    }

    /// Next chunk of up to `max_records` records, or `None` at end of file.
    pub fn next_chunk(&mut self, file: usize, max_records: usize) -> Result<Option<Chunk>> {
        let path = &self.path;
        self.chunker
            .next_chunk(max_records)
            .map_err(|e| Error::io(path, e))
            .map(|c| {
                c.map(|(data, first_line, records)| Chunk {
                    file,
                    first_line,
                    data,
                    records,
                })
            })
    }

    /// When the file ended inside a quoted field: the line where that record starts.
    pub fn unterminated_quote_line(&self) -> Option<u64> {
        self.chunker.unterminated
    }

    /// Bytes consumed from the file so far.
    pub fn bytes_read(&self) -> u64 {
        self.chunker.bytes_read
    }
}

fn parse_header(rec: &[u8], delimiter: u8) -> Result<Vec<String>, String> {
    let rec = rec.strip_prefix(UTF8_BOM).unwrap_or(rec);
    let mut line = rec.to_vec();
    line.push(b'\n');
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; line.len() + 16];
    let mut ends = vec![0usize; line.len() + 2];
    let (result, _, _, nends) = reader.read_record(&line, &mut out, &mut ends);
    if !matches!(result, csv_core::ReadRecordResult::Record) {
        return Err("header record could not be parsed".into());
    }
    let mut names = Vec::with_capacity(nends);
    let mut start = 0;
    for &end in &ends[..nends] {
        let name = std::str::from_utf8(&out[start..end])
            .map_err(|_| format!("header field {} is not valid UTF-8", names.len() + 1))?;
        names.push(name.to_string());
        start = end;
    }
    Ok(names)
}

/// Builds arrow-csv decoders for one file's layout.
#[derive(Debug, Clone)]
pub struct DecodePlan {
    schema: Arc<ArrowSchema>,
    projection: Vec<usize>,
    delimiter: u8,
    names: Vec<String>,
}

impl DecodePlan {
    /// `columns` are the file's column names; `projection` the (ascending)
    /// indices to decode.
    pub fn new(columns: &[String], projection: Vec<usize>, delimiter: u8) -> DecodePlan {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, _)| Field::new(format!("c{i}"), DataType::Utf8, true))
            .collect();
        DecodePlan {
            schema: Arc::new(ArrowSchema::new(fields)),
            projection,
            delimiter,
            names: columns.to_vec(),
        }
    }

    fn decoder(&self, records: usize) -> Decoder {
        ReaderBuilder::new(self.schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(records.max(1) + 1)
            .with_projection(self.projection.clone())
            .build_decoder()
    }

    /// Decode a chunk into one batch of the projected string columns. Bad
    /// records are left out and returned with their lines; `kept` lists the
    /// record index (within the chunk) of every row of the batch when any
    /// record was left out.
    pub fn decode(&self, chunk: &Chunk) -> DecodedChunk {
        match self.decode_range(&chunk.data, chunk.records) {
            Ok(batch) => DecodedChunk {
                batch,
                bad: Vec::new(),
                kept: None,
            },
            Err(_) => self.decode_slowly(chunk),
        }
    }

    fn decode_range(&self, data: &[u8], records: usize) -> Result<RecordBatch, DecodeFailure> {
        let mut decoder = self.decoder(records);
        let mut offset = 0;
        loop {
            let n = decoder
                .decode(&data[offset..])
                .map_err(|e| DecodeFailure::from_arrow(&e.to_string()))?;
            if n == 0 {
                break;
            }
            offset += n;
        }
        let batch = decoder
            .flush()
            .map_err(|e| DecodeFailure::from_arrow(&e.to_string()))?;
        Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(self.projected_schema())))
    }

    fn projected_schema(&self) -> Arc<ArrowSchema> {
        Arc::new(
            self.schema
                .project(&self.projection)
                .unwrap_or_else(|_| ArrowSchema::empty()),
        )
    }

    /// Decode record by record runs, isolating the bad ones.
    fn decode_slowly(&self, chunk: &Chunk) -> DecodedChunk {
        let spans = record_spans(&chunk.data, chunk.first_line);
        let mut batches = Vec::new();
        let mut bad = Vec::new();
        let mut kept = Vec::new();
        let mut start = 0;
        while start < spans.len() {
            let from = spans[start].0;
            let to = spans[spans.len() - 1].1;
            match self.decode_range(&chunk.data[from..to], spans.len() - start) {
                Ok(batch) => {
                    kept.extend(start..spans.len());
                    batches.push(batch);
                    break;
                }
                Err(failure) => {
                    // Record numbers from arrow-csv are 1-based within the range.
                    let k = failure.record.unwrap_or(1).max(1) - 1;
                    let bad_idx = (start + k).min(spans.len() - 1);
                    if bad_idx > start {
                        let good_to = spans[bad_idx].0;
                        if let Ok(batch) =
                            self.decode_range(&chunk.data[from..good_to], bad_idx - start)
                        {
                            kept.extend(start..bad_idx);
                            batches.push(batch);
                        } else {
                            // Should not happen; fall back to one record at a time.
                            for (i, &(a, b, line)) in
                                spans.iter().enumerate().take(bad_idx).skip(start)
                            {
                                match self.decode_range(&chunk.data[a..b], 1) {
                                    Ok(batch) => {
                                        kept.push(i);
                                        batches.push(batch);
                                    }
                                    Err(f) => bad.push(self.bad_record(line, &f)),
                                }
                            }
                        }
                    }
                    bad.push(self.bad_record(spans[bad_idx].2, &failure));
                    start = bad_idx + 1;
                }
            }
        }
        let schema = self.projected_schema();
        let batch = arrow_select::concat::concat_batches(&schema, &batches)
            .unwrap_or_else(|_| RecordBatch::new_empty(schema));
        DecodedChunk {
            batch,
            bad,
            kept: Some(kept),
        }
    }

    fn bad_record(&self, line: u64, failure: &DecodeFailure) -> BadRecord {
        let column = failure
            .field
            .and_then(|f| self.names.get(f))
            .cloned()
            .unwrap_or_else(|| "(record)".into());
        BadRecord {
            line,
            column,
            rule: failure.rule.clone(),
        }
    }
}

/// The result of decoding a chunk.
#[derive(Debug)]
pub struct DecodedChunk {
    /// Projected string columns of the good records.
    pub batch: RecordBatch,
    /// Records left out.
    pub bad: Vec<BadRecord>,
    /// Chunk record index of each row, when records were left out.
    pub kept: Option<Vec<usize>>,
}

/// What we take from an arrow-csv error: record number, field, and our own rule text.
#[derive(Debug)]
struct DecodeFailure {
    record: Option<usize>,
    field: Option<usize>,
    rule: String,
}

impl DecodeFailure {
    fn from_arrow(message: &str) -> DecodeFailure {
        let number_after = |key: &str| -> Option<usize> {
            let rest = &message[message.find(key)? + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let record = number_after("line ");
        if message.contains("incorrect number of fields") {
            let expected = number_after("expected ");
            let got = number_after("got ").or_else(|| number_after("got more than "));
            let rule = match (expected, got) {
                (Some(e), Some(g)) if message.contains("more than") => {
                    format!("wrong field count: expected {e}, found more than {g}")
                }
                (Some(e), Some(g)) => format!("wrong field count: expected {e}, found {g}"),
                _ => "wrong field count".into(),
            };
            DecodeFailure {
                record,
                field: None,
                rule,
            }
        } else if message.contains("UTF-8") {
            DecodeFailure {
                record,
                // arrow-csv numbers fields from 1.
                field: number_after("field ").and_then(|f| f.checked_sub(1)),
                rule: "invalid UTF-8".into(),
            }
        } else {
            DecodeFailure {
                record,
                field: None,
                rule: "malformed CSV record".into(),
            }
        }
    }
}

/// Byte spans `(start, end, line)` of the non-blank records in `data`.
pub fn record_spans(data: &[u8], first_line: u64) -> Vec<(usize, usize, u64)> {
    let mut spans = Vec::new();
    let mut in_quote = false;
    let mut start = 0;
    let mut line = first_line;
    let mut start_line = first_line;
    for (i, &b) in data.iter().enumerate() {
        if b == b'"' {
            in_quote = !in_quote;
        } else if b == b'\n' {
            line += 1;
            if !in_quote {
                if !is_blank(&data[start..=i]) {
                    spans.push((start, i + 1, start_line));
                }
                start = i + 1;
                start_line = line;
            }
        }
    }
    if start < data.len() && !is_blank(&data[start..]) {
        spans.push((start, data.len(), start_line));
    }
    spans
}

fn is_blank(rec: &[u8]) -> bool {
    rec.iter().all(|&b| b == b'\n' || b == b'\r')
}

/// Cuts a byte stream into runs of whole records.
struct Chunker<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// End of the last complete record in `buf`.
    cut: usize,
    /// Records completed in `buf[..cut]`.
    records: usize,
    in_quote: bool,
    /// Line where `buf` starts.
    line: u64,
    /// Newlines within `buf[..scanned]`.
    newlines: u64,
    /// Newlines within `buf[..cut]`.
    cut_newlines: u64,
    /// Start of the record being scanned (for blank-record detection).
    record_start: usize,
    eof: bool,
    quote: u8,
    bytes_read: u64,
    unterminated: Option<u64>,
    first_read: bool,
}

impl<R: Read> Chunker<R> {
    fn new(reader: R, quote: u8) -> Chunker<R> {
        Chunker {
            reader,
            buf: Vec::new(),
            scanned: 0,
            cut: 0,
            records: 0,
            in_quote: false,
            line: 1,
            newlines: 0,
            cut_newlines: 0,
            record_start: 0,
            eof: false,
            quote,
            bytes_read: 0,
            unterminated: None,
            first_read: true,
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let old = self.buf.len();
        self.buf.resize(old + READ_BLOCK, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        self.bytes_read += n as u64;
        if self.first_read && self.buf.starts_with(UTF8_BOM) {
            self.buf.drain(..UTF8_BOM.len());
        }
        if n > 0 || old > 0 {
            self.first_read = false;
        }
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Scan forward until `want` records are complete or input ends.
    fn scan(&mut self, want: usize) {
        let quote = self.quote;
        let mut i = self.scanned;
        let buf = &self.buf;
        while i < buf.len() && self.records < want {
            let b = buf[i];
            if b == quote {
                self.in_quote = !self.in_quote;
            } else if b == b'\n' {
                self.newlines += 1;
                if !self.in_quote {
                    if !is_blank(&buf[self.record_start..=i]) {
                        self.records += 1;
                    }
                    self.cut = i + 1;
                    self.cut_newlines = self.newlines;
                    self.record_start = i + 1;
                }
            }
            i += 1;
        }
        self.scanned = i;
    }

    fn take(&mut self, upto: usize, newlines: u64, records: usize) -> (Vec<u8>, u64, usize) {
        let data: Vec<u8> = self.buf[..upto].to_vec();
        self.buf.drain(..upto);
        let first_line = self.line;
        self.line += newlines;
        self.scanned -= upto;
        self.cut -= upto;
        self.record_start -= upto;
        self.newlines -= newlines;
        self.cut_newlines -= newlines;
        self.records -= records;
        (data, first_line, records)
    }

    /// Up to `max` whole records: `(bytes, first line, record count)`.
    fn next_chunk(&mut self, max: usize) -> std::io::Result<Option<(Vec<u8>, u64, usize)>> {
        loop {
            self.scan(max);
            if self.records >= max {
                let (cut, nl, recs) = (self.cut, self.cut_newlines, self.records);
                return Ok(Some(self.take(cut, nl, recs)));
            }
            if self.eof {
                // Whatever remains is the last record (without a newline).
                let tail_blank = is_blank(&self.buf[self.record_start..]);
                if self.in_quote && !tail_blank {
                    let line = self.line + self.cut_newlines;
                    self.unterminated = Some(line);
                    // Emit the complete records; drop the unterminated tail.
                    let (cut, nl, recs) = (self.cut, self.cut_newlines, self.records);
                    self.buf.truncate(cut);
                    self.scanned = cut;
                    if recs == 0 {
                        return Ok(None);
                    }
                    return Ok(Some(self.take(cut, nl, recs)));
                }
                let end = self.buf.len();
                let recs = self.records + usize::from(!tail_blank);
                if end == 0 || recs == 0 {
                    return Ok(None);
                }
                let nl = self.newlines;
                self.cut = end;
                self.record_start = end;
                self.records = recs;
                self.cut_newlines = nl;
                return Ok(Some(self.take(end, nl, recs)));
            }
            self.fill()?;
        }
    }

    /// The first record alone (the header) and its line.
    fn next_record(&mut self) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        Ok(self.next_chunk(1)?.map(|(data, line, _)| {
            let mut rec = data;
            while rec.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                rec.pop();
            }
            (rec, line)
        }))
    }
}

/// Decoded string column `i` of a batch.
pub fn string_column(batch: &RecordBatch, i: usize) -> Option<&StringArray> {
    batch.column(i).as_any().downcast_ref::<StringArray>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &str, max: usize) -> Vec<(String, u64, usize)> {
        let mut c = Chunker::new(text.as_bytes(), b'"');
        let mut out = Vec::new();
        while let Some((d, l, n)) = c.next_chunk(max).unwrap() {
            out.push((String::from_utf8(d).unwrap(), l, n));
        }
        out
    }

    #[test]
    fn cuts_at_record_ends_not_quoted_newlines() {
        let text = "a,b\n\"x\ny\",2\n3,4\n5,6";
        let got = chunks(text, 2);
        assert_eq!(got[0], ("a,b\n\"x\ny\",2\n".to_string(), 1, 2));
        assert_eq!(got[1], ("3,4\n5,6".to_string(), 4, 2));
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let got = chunks("a\n\n\nb\n", 10);
        assert_eq!(got, vec![("a\n\n\nb\n".to_string(), 1, 2)]);
        assert_eq!(record_spans(b"a\n\n\nb\n", 1), vec![(0, 2, 1), (4, 6, 4)]);
    }

    #[test]
    fn unterminated_quote_is_reported_with_its_line() {
        let mut c = Chunker::new(&b"a,b\n1,2\n3,\"oops\n4,5\n"[..], b'"');
        let (_, _, n) = c.next_chunk(100).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(c.unterminated, Some(3));
    }

    #[test]
    fn header_with_bom_and_quotes() {
        let names = parse_header(b"\xEF\xBB\xBFa,\"b,c\",d", b',').unwrap();
        assert_eq!(names, vec!["a", "b,c", "d"]);
    }

    #[test]
    fn bad_records_are_isolated_with_lines() {
        let cols: Vec<String> = vec!["x".into(), "y".into()];
        let plan = DecodePlan::new(&cols, vec![0, 1], b',');
        let data = b"1,2\n3\n5,6\n7,\xff\n9,10\n".to_vec();
        let chunk = Chunk {
            file: 0,
            first_line: 2,
            data,
            records: 5,
        };
        let d = plan.decode(&chunk);
        assert_eq!(d.batch.num_rows(), 3);
        assert_eq!(d.kept, Some(vec![0, 2, 4]));
        assert_eq!(d.bad.len(), 2);
        assert_eq!(d.bad[0].line, 3);
        assert!(
            d.bad[0].rule.contains("expected 2, found 1"),
            "{:?}",
            d.bad[0]
        );
        assert_eq!(d.bad[1].line, 5);
        assert_eq!(d.bad[1].rule, "invalid UTF-8");
        assert_eq!(d.bad[1].column, "y");
    }
}
