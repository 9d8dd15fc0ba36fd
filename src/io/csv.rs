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

// Why this file is long (about 1,040 lines of code and 270 of tests): the
// header reader, the quote-aware record scanner and chunker, and the
// arrow-csv decoder with its record-by-record fallback share `Dialect`, the
// record spans and `RecordTooLong`, and the fallback maps decoder failures
// back to lines through the scanner. If it grows, the seams are `Scanner` +
// `Chunker` (record boundaries) and `DecodePlan` (decoding).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_csv::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::error::{Error, Result};
use crate::io::source::{open_text, Compression, TextEncoding, TextStream};

const READ_BLOCK: usize = 1 << 20;

/// The bytes that structure a CSV file (`[input]` delimiter, quote, escape, comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field separator.
    pub delimiter: u8,
    /// Quote that opens a quoted field at the start of a field.
    pub quote: u8,
    /// Inside a quoted field, makes the next byte literal (doubled quotes work too).
    pub escape: Option<u8>,
    /// A record starting with this byte is a comment line and is skipped.
    pub comment: Option<u8>,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: b'"',
            escape: None,
            comment: None,
        }
    }
}

impl Dialect {
    fn scanner(&self) -> Scanner {
        Scanner::new(self.delimiter, Some(self.quote), self.escape, self.comment)
    }

    fn csv_core(&self) -> csv_core::Reader {
        csv_core::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .comment(self.comment)
            .build()
    }
}
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One input file, opened, with its header read.
pub struct TextInput {
    /// The file.
    pub path: PathBuf,
    /// Column names from the header (or the schema's names when there is none).
    pub columns: Vec<String>,
    /// How the file is compressed.
    pub compression: Compression,
    chunker: Chunker<TextStream>,
}

impl std::fmt::Debug for TextInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextInput")
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

/// How [`TextInput::open`] reads a CSV file.
#[derive(Debug, Clone)]
pub struct TextOptions<'a> {
    /// Delimiter, quote, escape and comment bytes.
    pub dialect: Dialect,
    /// Text encoding.
    pub encoding: TextEncoding,
    /// `None`: the first record is the header. `Some`: the file has no
    /// header and these are its column names, matched by position.
    pub headerless: Option<&'a [String]>,
    /// Counts the file bytes consumed (for progress).
    pub raw_bytes: Arc<AtomicU64>,
}

impl TextInput {
    /// Open `path` (decompressing and transcoding it) and read its header
    /// unless `opts.headerless` names the columns.
    pub fn open(path: &Path, opts: &TextOptions<'_>) -> Result<TextInput> {
        let (stream, compression) = open_text(path, opts.encoding, opts.raw_bytes.clone())?;
        let dialect = opts.dialect;
        let mut chunker = Chunker::new(stream, dialect.scanner());
        let columns = if let Some(declared) = opts.headerless {
            declared.to_vec()
        } else {
            let rec = chunker
                .next_record()
                .map_err(|e| RecordTooLong::to_error(path, e))?
                .ok_or_else(|| Error::Header {
                    path: path.to_path_buf(),
                    message: "file is empty: no header record".into(),
                })?;
            parse_header(&rec, &dialect).map_err(|message| Error::Header {
                path: path.to_path_buf(),
                message,
            })?
        };
        Ok(TextInput {
            path: path.to_path_buf(),
            columns,
            compression,
            chunker,
        })
    }

    /// Open an NDJSON file (decompressing and transcoding it) whose columns
    /// are `columns`: the keys of its first record, as
    /// `io::json::first_record_keys` reads them (`io::json` decodes the
    /// chunks this yields, so this module does not call it back).
    pub fn open_lines(
        path: &Path,
        encoding: TextEncoding,
        raw_bytes: Arc<AtomicU64>,
        columns: Vec<String>,
    ) -> Result<TextInput> {
        let (stream, compression) = open_text(path, encoding, raw_bytes)?;
        Ok(TextInput {
            path: path.to_path_buf(),
            columns,
            compression,
            chunker: Chunker::new(stream, Scanner::lines()),
        })
    }

    /// Next chunk of up to `max_records` records, or `None` at end of file.
    pub fn next_chunk(&mut self, file: usize, max_records: usize) -> Result<Option<Chunk>> {
        let path = &self.path;
        self.chunker
            .next_chunk(max_records)
            .map_err(|e| RecordTooLong::to_error(path, e))
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

fn parse_header(rec: &[u8], dialect: &Dialect) -> Result<Vec<String>, String> {
    let rec = rec.strip_prefix(UTF8_BOM).unwrap_or(rec);
    let mut line = rec.to_vec();
    line.push(b'\n');
    let mut reader = dialect.csv_core();
    let mut out = vec![0u8; line.len() + 16];
    // A record has at most one field more than it has delimiters (sizing this
    // by bytes took 8 bytes per header byte: 800 MB for a 100 MB header).
    let fields = line.iter().filter(|&&b| b == dialect.delimiter).count() + 1;
    let mut ends = vec![0usize; fields + 1];
    let (result, _, _, nends) = reader.read_record(&line, &mut out, &mut ends);
    if !matches!(result, csv_core::ReadRecordResult::Record) {
        return Err("header record could not be parsed".into());
    }
    // csv-core reports `nends <= ends.len()` field ends, ascending, each
    // within `out`: the slices below are in bounds.
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
    dialect: Dialect,
    nulls: Option<regex::Regex>,
    names: Vec<String>,
}

/// The regular expression arrow-csv uses to read `null_values` as nulls;
/// `None` for arrow-csv's default (only the empty string).
pub fn null_regex(values: &[String]) -> Option<regex::Regex> {
    if values.len() == 1 && values[0].is_empty() {
        return None;
    }
    let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
    // Never matches when the list is empty: every value is data.
    let pattern = if alternatives.is_empty() {
        r"\A\b\B\z".to_string()
    } else {
        format!(r"\A(?:{})\z", alternatives.join("|"))
    };
    regex::Regex::new(&pattern).ok()
}

impl DecodePlan {
    /// `columns` are the file's column names; `projection` the (ascending)
    /// indices to decode.
    pub fn new(
        columns: &[String],
        projection: Vec<usize>,
        dialect: Dialect,
        nulls: Option<regex::Regex>,
    ) -> DecodePlan {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, _)| Field::new(format!("c{i}"), DataType::Utf8, true))
            .collect();
        DecodePlan {
            schema: Arc::new(ArrowSchema::new(fields)),
            projection,
            dialect,
            nulls,
            names: columns.to_vec(),
        }
    }

    fn decoder(&self, records: usize) -> Decoder {
        let mut builder = ReaderBuilder::new(self.schema.clone())
            .with_header(false)
            .with_delimiter(self.dialect.delimiter)
            .with_quote(self.dialect.quote)
            .with_batch_size(records.max(1) + 1)
            .with_projection(self.projection.clone());
        if let Some(e) = self.dialect.escape {
            builder = builder.with_escape(e);
        }
        if let Some(c) = self.dialect.comment {
            builder = builder.with_comment(c);
        }
        if let Some(n) = &self.nulls {
            builder = builder.with_null_regex(n.clone());
        }
        builder.build_decoder()
    }

    /// Decode a chunk into one batch of the projected string columns. Bad
    /// records are left out and returned with their lines; `kept` lists the
    /// record index (within the chunk) of every row of the batch when any
    /// record was left out.
    pub fn decode(&self, chunk: &Chunk) -> DecodedChunk {
        match self.decode_range(&chunk.data, chunk.records, false) {
            Ok(batch) => DecodedChunk {
                batch,
                bad: Vec::new(),
                kept: None,
                fatal: None,
            },
            Err(f) if f.boundary => self.boundary_mismatch(chunk.first_line),
            Err(_) => self.decode_slowly(chunk),
        }
    }

    /// Record spans of a chunk (for mapping rows back to lines).
    pub fn record_spans(&self, chunk: &Chunk) -> Vec<(usize, usize, u64)> {
        spans_with(&chunk.data, chunk.first_line, self.dialect.scanner())
    }

    fn boundary_mismatch(&self, line: u64) -> DecodedChunk {
        DecodedChunk {
            batch: RecordBatch::new_empty(self.projected_schema()),
            bad: Vec::new(),
            kept: None,
            fatal: Some(BadRecord {
                line,
                column: "(chunk)".into(),
                rule: "record boundaries disagree with the CSV decoder (internal error; \
                       nothing was written; please report)"
                    .into(),
            }),
        }
    }

    /// Decode `records` whole records. `utf8_checked`: the caller has
    /// already checked that `data` is UTF-8.
    fn decode_range(
        &self,
        data: &[u8],
        records: usize,
        utf8_checked: bool,
    ) -> Result<RecordBatch, DecodeFailure> {
        // arrow-csv checks UTF-8 on the fields' bytes joined together, so a
        // character split by a delimiter (`\xe6,\xb5\x99`) passes, and the field
        // slices it hands out are not UTF-8 (undefined behaviour; found by the
        // csv_to_batch fuzz target). Check the raw bytes first: fields of valid
        // UTF-8 text cut at ASCII delimiters and quotes are valid UTF-8.
        if !utf8_checked {
            if let Some(failure) = self.utf8_failure(data) {
                return Err(failure);
            }
        }
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
            .map_err(|e| DecodeFailure::from_arrow(&e.to_string()))?
            .unwrap_or_else(|| RecordBatch::new_empty(self.projected_schema()));
        // Fail closed if our record boundaries and the decoder's ever disagree:
        // rows must never be dropped silently.
        if offset != data.len() || batch.num_rows() != records {
            return Err(DecodeFailure {
                record: None,
                field: None,
                rule: String::new(),
                boundary: true,
            });
        }
        Ok(batch)
    }

    /// `data`'s first invalid UTF-8 byte as a failure (record and field), if
    /// any: simdutf8 (SIMD) for the common valid case, std for the position.
    fn utf8_failure(&self, data: &[u8]) -> Option<DecodeFailure> {
        simdutf8::basic::from_utf8(data).err()?;
        let valid_up_to = std::str::from_utf8(data)
            .err()
            .map_or(0, |e| e.valid_up_to());
        Some(DecodeFailure::invalid_utf8(
            data,
            valid_up_to,
            &self.dialect,
        ))
    }

    fn projected_schema(&self) -> Arc<ArrowSchema> {
        Arc::new(
            self.schema
                .project(&self.projection)
                .unwrap_or_else(|_| ArrowSchema::empty()),
        )
    }

    /// Decode record by record runs, isolating the bad ones.
    ///
    /// Cost is linear in the chunk, however many records are bad:
    /// - every record's UTF-8 is checked once, up front, so the runs of valid
    ///   records between invalid ones need no second check (a concatenation
    ///   of valid UTF-8 is valid UTF-8);
    /// - arrow-csv decodes at most [`SLOW_WINDOW`] records at a time, so a
    ///   restart after a rejected record does not size (and zero-fill) a
    ///   decoder for the whole rest of the chunk.
    ///
    /// Bytes between records (blank and comment lines) are not data: a
    /// comment line that is not UTF-8 blames no record (whichever chunk it
    /// falls in), but no range handed to arrow-csv contains one, so arrow-csv
    /// only ever sees checked bytes, even if it disagreed with our scanner
    /// about what is a comment.
    ///
    /// Checking the rest of the chunk again after each bad record made a
    /// mis-declared GB18030 file (nearly every record invalid as UTF-8)
    /// quadratic: 3000 records took 100 s in a debug build.
    fn decode_slowly(&self, chunk: &Chunk) -> DecodedChunk {
        let spans = self.record_spans(chunk);
        let mut out = SlowDecode::default();
        // cut[i]: the bytes between record i - 1 and record i are not UTF-8.
        let mut cut = vec![false; spans.len()];
        let mut prev_end = None;
        for (i, &(a, b, _)) in spans.iter().enumerate() {
            if let Some(gap) = prev_end.and_then(|p| chunk.data.get(p..a)) {
                cut[i] = simdutf8::basic::from_utf8(gap).is_err();
            }
            prev_end = Some(b);
        }
        let mut run_start = 0;
        for (i, &(a, b, line)) in spans.iter().enumerate() {
            let Some(failure) = chunk.data.get(a..b).and_then(|d| self.utf8_failure(d)) else {
                continue;
            };
            if let Err(line) = self.decode_run(chunk, &spans[..i], &cut, run_start, &mut out) {
                return self.boundary_mismatch(line);
            }
            out.bad.push(self.bad_record(line, &failure));
            run_start = i + 1;
        }
        if let Err(line) = self.decode_run(chunk, &spans, &cut, run_start, &mut out) {
            return self.boundary_mismatch(line);
        }
        let schema = self.projected_schema();
        let batch = arrow_select::concat::concat_batches(&schema, &out.batches)
            .unwrap_or_else(|_| RecordBatch::new_empty(schema));
        DecodedChunk {
            batch,
            bad: out.bad,
            kept: Some(out.kept),
            fatal: None,
        }
    }

    /// Decode the records `spans[start..]`, all valid UTF-8, isolating the
    /// ones arrow-csv rejects, in windows that never span a `cut` gap. `Err(line)`: our record boundaries and
    /// arrow-csv's disagree from the record at `line` on (fatal).
    ///
    /// Indexing: `start < end <= spans.len()` in the loop, `bad_idx` is
    /// clamped to `end - 1`, and spans are ascending byte ranges of `chunk.data`
    /// (from [`record_spans`] over the same bytes), so no index can be out of range.
    fn decode_run(
        &self,
        chunk: &Chunk,
        spans: &[(usize, usize, u64)],
        cut: &[bool],
        mut start: usize,
        out: &mut SlowDecode,
    ) -> Result<(), u64> {
        while start < spans.len() {
            // A window ends before a record whose preceding gap is not UTF-8.
            let limit = spans.len().min(start + SLOW_WINDOW);
            let end = (start + 1..limit)
                .find(|&k| cut.get(k).copied().unwrap_or(false))
                .unwrap_or(limit);
            let from = spans[start].0;
            let to = spans[end - 1].1;
            match self.decode_range(&chunk.data[from..to], end - start, true) {
                Ok(batch) => {
                    out.kept.extend(start..end);
                    out.batches.push(batch);
                    start = end;
                }
                Err(failure) if failure.boundary => return Err(spans[start].2),
                Err(failure) => {
                    // Record numbers from arrow-csv are 1-based within the range.
                    let k = failure.record.unwrap_or(1).max(1) - 1;
                    let bad_idx = (start + k).min(end - 1);
                    if bad_idx > start {
                        let good_to = spans[bad_idx].0;
                        if let Ok(batch) =
                            self.decode_range(&chunk.data[from..good_to], bad_idx - start, true)
                        {
                            out.kept.extend(start..bad_idx);
                            out.batches.push(batch);
                        } else {
                            // Should not happen; fall back to one record at a time.
                            for (i, &(a, b, line)) in
                                spans.iter().enumerate().take(bad_idx).skip(start)
                            {
                                match self.decode_range(&chunk.data[a..b], 1, true) {
                                    Ok(batch) => {
                                        out.kept.push(i);
                                        out.batches.push(batch);
                                    }
                                    Err(f) => out.bad.push(self.bad_record(line, &f)),
                                }
                            }
                        }
                    }
                    out.bad.push(self.bad_record(spans[bad_idx].2, &failure));
                    start = bad_idx + 1;
                }
            }
        }
        Ok(())
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

/// Most records arrow-csv decodes at once on the slow path (see
/// `DecodePlan::decode_slowly`).
const SLOW_WINDOW: usize = 256;

/// What `decode_slowly` has gathered so far.
#[derive(Default)]
struct SlowDecode {
    batches: Vec<RecordBatch>,
    bad: Vec<BadRecord>,
    /// Chunk record index of every row of `batches`, in order.
    kept: Vec<usize>,
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
    /// Set when the chunk cannot be decoded safely at all: the run must stop.
    pub fatal: Option<BadRecord>,
}

/// What we take from an arrow-csv error: record number, field, and our own rule text.
#[derive(Debug)]
struct DecodeFailure {
    record: Option<usize>,
    field: Option<usize>,
    rule: String,
    /// Our record boundaries disagree with the decoder's.
    boundary: bool,
}

impl DecodeFailure {
    /// The first invalid byte is at `at` in `data`: its record (1-based, as
    /// arrow-csv counts) and field (quote-aware count of delimiters before it).
    fn invalid_utf8(data: &[u8], at: usize, dialect: &Dialect) -> DecodeFailure {
        let spans = spans_with(data, 1, dialect.scanner());
        let k = spans.iter().position(|s| s.1 > at);
        let field = k.and_then(|k| data.get(spans[k].0..at)).map(|before| {
            let mut quoted = false;
            let mut field = 0;
            for &b in before {
                if b == dialect.quote {
                    quoted = !quoted;
                } else if b == dialect.delimiter && !quoted {
                    field += 1;
                }
            }
            field
        });
        DecodeFailure {
            record: k.map(|k| k + 1),
            field,
            rule: "invalid UTF-8".into(),
            boundary: false,
        }
    }

    fn from_arrow(message: &str) -> DecodeFailure {
        let number_after = |key: &str| -> Option<usize> {
            // `find` gives a char boundary; adding the key's length keeps it one.
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
                boundary: false,
            }
        } else if message.contains("UTF-8") {
            DecodeFailure {
                record,
                // arrow-csv numbers fields from 1.
                field: number_after("field ").and_then(|f| f.checked_sub(1)),
                rule: "invalid UTF-8".into(),
                boundary: false,
            }
        } else {
            DecodeFailure {
                record,
                field: None,
                rule: "malformed CSV record".into(),
                boundary: false,
            }
        }
    }
}

/// Byte spans `(start, end, line)` of records.
pub type RecordSpans = Vec<(usize, usize, u64)>;

/// Byte spans `(start, end, line)` of the non-blank records in `data`.
pub(crate) fn spans_with(data: &[u8], first_line: u64, mut scanner: Scanner) -> RecordSpans {
    let mut spans = Vec::new();
    let (mut i, mut newlines, mut start, mut start_line) = (0, 0u64, 0, first_line);
    while let Some((end, blank)) = scanner.next_end(data, &mut i, true, &mut newlines) {
        if !blank {
            spans.push((start, end, start_line));
        }
        start = end;
        start_line = first_line + newlines;
    }
    if start < data.len() && scanner.record_len > 0 {
        spans.push((start, data.len(), start_line));
    }
    spans
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanState {
    /// At the start of a field: a quote here opens a quoted field.
    FieldStart,
    /// Inside an unquoted field: quotes are literal.
    InField,
    /// Inside a quoted field: delimiters and newlines are data.
    InQuoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped quote.
    QuoteInQuoted,
    /// Just after the escape byte inside a quoted field: the next byte is literal.
    EscapeInQuoted,
    /// In a comment line (started by the comment byte at a record start): runs to LF.
    Comment,
}

/// Finds record ends the way csv-core (arrow-csv's parser) reads RFC 4180:
/// a quote opens a quoted field only at the start of a field, a doubled
/// quote (or the escape byte followed by any byte) inside one is literal,
/// CR, LF and CRLF end records outside quoted fields, empty records (blank
/// lines) are skipped, and so are comment lines: a record that starts with
/// the comment byte runs to the next LF. Without a quote byte (NDJSON
/// lines) every CR, LF or CRLF ends a record.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    state: ScanState,
    delimiter: u8,
    quote: Option<u8>,
    escape: Option<u8>,
    comment: Option<u8>,
    /// Bytes of the current record so far (terminators excluded).
    record_len: usize,
}

impl Scanner {
    pub(crate) fn new(
        delimiter: u8,
        quote: Option<u8>,
        escape: Option<u8>,
        comment: Option<u8>,
    ) -> Scanner {
        Scanner {
            state: ScanState::FieldStart,
            delimiter,
            quote,
            escape,
            comment,
            record_len: 0,
        }
    }

    /// A scanner for line-delimited records (NDJSON): no quoting.
    pub(crate) fn lines() -> Scanner {
        Scanner::new(b'\n', None, None, None)
    }

    fn fresh(&self) -> Scanner {
        Scanner::new(self.delimiter, self.quote, self.escape, self.comment)
    }

    /// Scan `buf` from `*i` to the next record end. Returns `(end, blank)`
    /// with `end` just past the terminator, or `None` when `buf` ran out
    /// (`*i` is then where scanning must resume). Counts LF bytes into `newlines`.
    #[inline]
    fn next_end(
        &mut self,
        buf: &[u8],
        i: &mut usize,
        eof: bool,
        newlines: &mut u64,
    ) -> Option<(usize, bool)> {
        while *i < buf.len() {
            // Skip runs of bytes that cannot change the state (memchr), so
            // the byte-by-byte rules below see only the bytes that matter.
            let rest = &buf[*i..];
            let skip = match self.state {
                // Only a quote, the escape byte or a LF (counted) matters here.
                ScanState::InQuoted => match (self.quote, self.escape) {
                    (Some(q), Some(e)) => memchr::memchr3(q, e, b'\n', rest),
                    (Some(q), None) => memchr::memchr2(q, b'\n', rest),
                    (None, _) => Some(0),
                },
                // Quotes are literal inside an unquoted field.
                ScanState::InField => memchr::memchr3(self.delimiter, b'\n', b'\r', rest),
                ScanState::Comment => memchr::memchr(b'\n', rest),
                _ => Some(0),
            };
            let skip = skip.unwrap_or(rest.len());
            if self.state != ScanState::Comment {
                self.record_len += skip;
            }
            *i += skip;
            if *i == buf.len() {
                break;
            }
            let b = buf[*i];
            match self.state {
                ScanState::InQuoted => {
                    if Some(b) == self.quote {
                        self.state = ScanState::QuoteInQuoted;
                    } else if Some(b) == self.escape {
                        self.state = ScanState::EscapeInQuoted;
                    } else if b == b'\n' {
                        *newlines += 1;
                    }
                    self.record_len += 1;
                    *i += 1;
                    continue;
                }
                ScanState::EscapeInQuoted => {
                    if b == b'\n' {
                        *newlines += 1;
                    }
                    self.state = ScanState::InQuoted;
                    self.record_len += 1;
                    *i += 1;
                    continue;
                }
                ScanState::Comment => {
                    *i += 1;
                    if b == b'\n' {
                        *newlines += 1;
                        self.state = ScanState::FieldStart;
                        return Some((*i, true));
                    }
                    continue;
                }
                ScanState::FieldStart if self.record_len == 0 && Some(b) == self.comment => {
                    self.state = ScanState::Comment;
                    *i += 1;
                    continue;
                }
                _ => {}
            }
            if b == b'\n' || b == b'\r' {
                let mut end = *i + 1;
                if b == b'\n' {
                    *newlines += 1;
                } else if *i + 1 < buf.len() {
                    if buf[*i + 1] == b'\n' {
                        end += 1;
                        *newlines += 1;
                    }
                } else if !eof {
                    return None; // CR at the end of the buffer: is it CRLF? Need more input.
                }
                let blank = self.record_len == 0;
                self.record_len = 0;
                self.state = ScanState::FieldStart;
                *i = end;
                return Some((end, blank));
            }
            self.record_len += 1;
            self.state = match self.state {
                ScanState::FieldStart if Some(b) == self.quote => ScanState::InQuoted,
                ScanState::QuoteInQuoted if Some(b) == self.quote => ScanState::InQuoted,
                _ if b == self.delimiter => ScanState::FieldStart,
                _ => ScanState::InField,
            };
            *i += 1;
        }
        None
    }
}

/// The longest record (or header, or NDJSON line) read, in bytes after
/// decompression and transcoding: 64 MiB. A longer one is an error naming
/// the file and line, so that one huge line cannot exhaust memory.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// The error of a record longer than [`MAX_RECORD_BYTES`], carried inside an
/// `std::io::Error` from the chunker and turned into [`Error::BadRecord`].
#[derive(Debug)]
pub(crate) struct RecordTooLong {
    /// Line where the record starts.
    pub(crate) line: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: record longer than {} MiB",
            self.line,
            MAX_RECORD_BYTES >> 20
        )
    }
}

impl std::error::Error for RecordTooLong {}

impl RecordTooLong {
    /// The library error for `path`, when `e` is a [`RecordTooLong`].
    pub(crate) fn to_error(path: &Path, e: std::io::Error) -> Error {
        match e.get_ref().and_then(|i| i.downcast_ref::<RecordTooLong>()) {
            Some(r) => Error::BadRecord {
                path: path.to_path_buf(),
                line: r.line,
                column: "(record)".into(),
                rule: format!(
                    "record longer than {} MiB (the limit on one record, header or line); \
                     nothing was written",
                    MAX_RECORD_BYTES >> 20
                ),
            },
            None => Error::io(path, e),
        }
    }
}

/// Cuts a byte stream into runs of whole records.
struct Chunker<R> {
    reader: R,
    buf: Vec<u8>,
    scanner: Scanner,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// End of the last complete record in `buf`.
    cut: usize,
    /// Non-blank records completed in `buf[..cut]`.
    records: usize,
    /// Line where `buf` starts.
    line: u64,
    /// LF bytes within `buf[..scanned]`.
    newlines: u64,
    /// LF bytes within `buf[..cut]`.
    cut_newlines: u64,
    eof: bool,
    bytes_read: u64,
    unterminated: Option<u64>,
    first_read: bool,
}

impl<R: Read> Chunker<R> {
    pub(crate) fn new(reader: R, scanner: Scanner) -> Chunker<R> {
        Chunker {
            reader,
            buf: Vec::new(),
            scanner,
            scanned: 0,
            cut: 0,
            records: 0,
            line: 1,
            newlines: 0,
            cut_newlines: 0,
            eof: false,
            bytes_read: 0,
            unterminated: None,
            first_read: true,
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let old = self.buf.len();
        // Up to READ_BLOCK more bytes, read into the spare capacity (a file
        // reader fills it without zeroing it first).
        self.buf.reserve(READ_BLOCK);
        let n = match (&mut self.reader)
            .take(READ_BLOCK as u64)
            .read_to_end(&mut self.buf)
        {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(old);
                return Err(e);
            }
        };
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

    /// Scan forward until `want` records are complete or the buffer ends.
    fn scan(&mut self, want: usize) {
        let mut i = self.scanned;
        while self.records < want {
            match self
                .scanner
                .next_end(&self.buf, &mut i, self.eof, &mut self.newlines)
            {
                Some((end, blank)) => {
                    self.records += usize::from(!blank);
                    self.cut = end;
                    self.cut_newlines = self.newlines;
                }
                None => break,
            }
        }
        self.scanned = i;
    }

    fn take(&mut self, upto: usize, newlines: u64, records: usize) -> (Vec<u8>, u64, usize) {
        // The chunk keeps the buffer; only the bytes after it are copied, into
        // a buffer sized for the next chunk (no regrowth while it fills).
        let tail = self.buf.len() - upto;
        let mut rest = Vec::with_capacity(upto.max(tail) + READ_BLOCK);
        rest.extend_from_slice(&self.buf[upto..]);
        let mut data = std::mem::replace(&mut self.buf, rest);
        data.truncate(upto);
        let first_line = self.line;
        self.line += newlines;
        self.scanned -= upto;
        self.cut -= upto;
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
                // Whatever follows the last terminator is a last record without one.
                let has_tail = self.scanner.record_len > 0;
                if has_tail && self.scanner.state == ScanState::InQuoted {
                    self.unterminated = Some(self.line + self.cut_newlines);
                    let (cut, nl, recs) = (self.cut, self.cut_newlines, self.records);
                    self.buf.truncate(cut);
                    self.scanned = cut;
                    self.newlines = nl;
                    self.scanner = self.scanner.fresh();
                    if recs == 0 {
                        return Ok(None);
                    }
                    return Ok(Some(self.take(cut, nl, recs)));
                }
                let end = self.buf.len();
                let recs = self.records + usize::from(has_tail);
                if recs == 0 {
                    return Ok(None);
                }
                self.scanner.record_len = 0;
                self.records = recs;
                self.cut = end;
                self.cut_newlines = self.newlines;
                let nl = self.newlines;
                return Ok(Some(self.take(end, nl, recs)));
            }
            // A record (or header) that has not ended within the limit stops
            // the read: memory stays bounded whatever one line holds.
            if self.buf.len() - self.cut > MAX_RECORD_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    RecordTooLong {
                        line: self.line + self.cut_newlines,
                    },
                ));
            }
            self.fill()?;
        }
    }

    /// The first record alone (the header), without its terminator.
    fn next_record(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.next_chunk(1)?.map(|(mut rec, _, _)| {
            while rec.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                rec.pop();
            }
            rec
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

    /// The byte-by-byte scanner before the memchr skips (the reference).
    fn reference_next_end(
        s: &mut Scanner,
        buf: &[u8],
        i: &mut usize,
        eof: bool,
        newlines: &mut u64,
    ) -> Option<(usize, bool)> {
        while *i < buf.len() {
            let b = buf[*i];
            match s.state {
                ScanState::InQuoted => {
                    if Some(b) == s.quote {
                        s.state = ScanState::QuoteInQuoted;
                    } else if Some(b) == s.escape {
                        s.state = ScanState::EscapeInQuoted;
                    } else if b == b'\n' {
                        *newlines += 1;
                    }
                    s.record_len += 1;
                    *i += 1;
                    continue;
                }
                ScanState::EscapeInQuoted => {
                    if b == b'\n' {
                        *newlines += 1;
                    }
                    s.state = ScanState::InQuoted;
                    s.record_len += 1;
                    *i += 1;
                    continue;
                }
                ScanState::Comment => {
                    *i += 1;
                    if b == b'\n' {
                        *newlines += 1;
                        s.state = ScanState::FieldStart;
                        return Some((*i, true));
                    }
                    continue;
                }
                ScanState::FieldStart if s.record_len == 0 && Some(b) == s.comment => {
                    s.state = ScanState::Comment;
                    *i += 1;
                    continue;
                }
                _ => {}
            }
            if b == b'\n' || b == b'\r' {
                let mut end = *i + 1;
                if b == b'\n' {
                    *newlines += 1;
                } else if *i + 1 < buf.len() {
                    if buf[*i + 1] == b'\n' {
                        end += 1;
                        *newlines += 1;
                    }
                } else if !eof {
                    return None; // CR at the end of the buffer: is it CRLF? Need more input.
                }
                let blank = s.record_len == 0;
                s.record_len = 0;
                s.state = ScanState::FieldStart;
                *i = end;
                return Some((end, blank));
            }
            s.record_len += 1;
            s.state = match s.state {
                ScanState::FieldStart if Some(b) == s.quote => ScanState::InQuoted,
                ScanState::QuoteInQuoted if Some(b) == s.quote => ScanState::InQuoted,
                _ if b == s.delimiter => ScanState::FieldStart,
                _ => ScanState::InField,
            };
            *i += 1;
        }
        None
    }

    /// Every record end, blank flag and LF count of `data` read through
    /// `next_end` with the buffer growing in `step`-byte pieces (as the
    /// chunker sees it), for the fast scanner or the reference.
    fn scan_all(data: &[u8], scanner: Scanner, step: usize, fast: bool) -> Vec<(usize, bool, u64)> {
        let mut s = scanner;
        let (mut i, mut nl, mut out, mut avail) = (0, 0u64, Vec::new(), 0);
        loop {
            avail = (avail + step).min(data.len());
            let eof = avail == data.len();
            loop {
                let r = if fast {
                    s.next_end(&data[..avail], &mut i, eof, &mut nl)
                } else {
                    reference_next_end(&mut s, &data[..avail], &mut i, eof, &mut nl)
                };
                match r {
                    Some((end, blank)) => out.push((end, blank, nl)),
                    None => break,
                }
            }
            if eof {
                out.push((i, s.record_len == 0, nl));
                return out;
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn memchr_scanner_equals_the_bytewise_reference(
            data in proptest::collection::vec(proptest::sample::select(
                b"ab,;\"\\#\r\n\xe4".to_vec()), 0..300),
            step in 1usize..64,
            dialect in 0usize..4,
        ) {
            let scanner = match dialect {
                0 => Scanner::new(b',', Some(b'"'), None, None),
                1 => Scanner::new(b';', Some(b'"'), Some(b'\\'), Some(b'#')),
                2 => Scanner::new(b',', Some(b'"'), Some(b'"'), None),
                _ => Scanner::lines(),
            };
            let fast = scan_all(&data, scanner.clone(), step, true);
            let slow = scan_all(&data, scanner, step, false);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    fn chunks(text: &str, max: usize) -> Vec<(String, u64, usize)> {
        let mut c = Chunker::new(text.as_bytes(), Dialect::default().scanner());
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

    /// A reader that returns one byte per read: every buffer boundary is exercised.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn trickle_chunks(text: &[u8], max: usize) -> Vec<(Vec<u8>, u64, usize)> {
        let mut c = Chunker::new(Trickle(text), Dialect::default().scanner());
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk(max).unwrap() {
            out.push(chunk);
        }
        out
    }

    #[test]
    fn quotes_are_literal_inside_unquoted_fields() {
        // csv-core reads `5" screen` literally; the scanner must agree.
        let text = b"a,b\n1,5\" screen\n2,x\n3,\"q,\"\"r\"\"\n\"\n4,y\n";
        let chunks = trickle_chunks(text, 100);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].2, 5);
        let spans = spans_with(text, 1, Dialect::default().scanner());
        assert_eq!(
            spans.iter().map(|s| s.2).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 6]
        );
    }

    #[test]
    fn cr_crlf_and_lf_terminators_at_any_buffer_boundary() {
        let text = b"h\r\na\r\nb\rc\n\r\nd";
        for max in 1..6 {
            let chunks = trickle_chunks(text, max);
            let records: usize = chunks.iter().map(|c| c.2).sum();
            assert_eq!(records, 5, "max {max}: {chunks:?}");
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.0.clone()).collect();
            assert_eq!(joined, text.to_vec());
        }
        let lines: Vec<u64> = spans_with(text, 1, Dialect::default().scanner())
            .iter()
            .map(|s| s.2)
            .collect();
        assert_eq!(lines, vec![1, 2, 3, 3, 5]);
    }

    #[test]
    fn decoder_and_scanner_agree_on_tricky_records() {
        let cols: Vec<String> = vec!["x".into(), "y".into()];
        let plan = DecodePlan::new(&cols, vec![0, 1], Dialect::default(), None);
        let data = b"1,5\" screen\n2,\"a\"\"b\"\n3,\"multi\nline\"\r\n4,y\r5,z".to_vec();
        let records = spans_with(&data, 1, Dialect::default().scanner()).len();
        let chunk = Chunk {
            file: 0,
            first_line: 1,
            data,
            records,
        };
        let d = plan.decode(&chunk);
        assert!(
            d.fatal.is_none() && d.bad.is_empty(),
            "{:?} {:?}",
            d.fatal,
            d.bad
        );
        assert_eq!(d.batch.num_rows(), 5);
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let got = chunks("a\n\n\nb\n", 10);
        assert_eq!(got, vec![("a\n\n\nb\n".to_string(), 1, 2)]);
        assert_eq!(
            spans_with(b"a\n\n\nb\n", 1, Dialect::default().scanner()),
            vec![(0, 2, 1), (4, 6, 4)]
        );
    }

    #[test]
    fn unterminated_quote_is_reported_with_its_line() {
        let mut c = Chunker::new(
            &b"a,b\n1,2\n3,\"oops\n4,5\n"[..],
            Dialect::default().scanner(),
        );
        let (_, _, n) = c.next_chunk(100).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(c.unterminated, Some(3));
    }

    #[test]
    fn header_with_bom_and_quotes() {
        let names = parse_header(b"\xEF\xBB\xBFa,\"b,c\",d", &Dialect::default()).unwrap();
        assert_eq!(names, vec!["a", "b,c", "d"]);
    }

    #[test]
    fn bad_records_are_isolated_with_lines() {
        let cols: Vec<String> = vec!["x".into(), "y".into()];
        let plan = DecodePlan::new(&cols, vec![0, 1], Dialect::default(), None);
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
