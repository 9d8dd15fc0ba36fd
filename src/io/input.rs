//! The input layer: every command that reads a dump opens it here.
//!
//! Opening a path for a schema means, in this order: tell its format
//! ([`resolve_format`]: Parquet by its magic bytes, NDJSON by its name or
//! `[input].format`, CSV otherwise), undo its compression and transcode its
//! encoding ([`crate::io::source`]), read its header in the schema's dialect,
//! check the header against the declared columns ([`HeaderProblems`], whose
//! wording never quotes a header field that may be data) and plan the
//! projection. The result is a [`Reader`] that yields [`Unit`]s of records
//! with their provenance (file index, line or row numbers), and a
//! [`FilePlan`] that decodes a unit into the plan's text columns.
//!
//! - `anonymize` (and `check`'s dry run): [`open_for_plan`], [`decode_unit`].
//! - `check`'s header findings: [`input_columns`] and [`HeaderProblems`].
//! - `scan`, `init` and `check`'s content checks: [`for_each_batch`], every
//!   column as text.
//! - The DataFusion engine (crates/txanon-datafusion): [`resolve`],
//!   [`input_columns`] and [`check_header`].
//!
//! Nothing else opens an input file.

// Why this file is long (about 980 lines of code and 250 of tests): it is
// the one input layer, so format resolution, the header checks, opening for
// a plan, decoding units and the schema-free `for_each_batch` of check, scan
// and init are in one place on purpose. If it grows, the header checks
// (`HeaderProblems`, `check_header`, `projection`) are the seam.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::io::csv::{
    null_regex, BadRecord, Chunk, DecodePlan, Dialect, RecordSpans, TextInput, TextOptions,
};
use crate::io::json::{self, JsonPlan};
use crate::io::parquet_reader::{self, ParquetInput};
use crate::io::source::{detect, looks_like_ndjson, Compression, Detected, TextEncoding};
use crate::schema::{Action, InputFormat, Schema};

/// What a hidden header name is replaced with in messages.
const HIDDEN_NAME: &str = "(a header field that may be data; not shown)";

/// A header name (or NDJSON key) as it may appear in a message: quoted,
/// unless it is longer than 128 characters or looks like personal data or
/// key material.
pub fn shown_name(name: &str) -> String {
    if crate::detect::name_may_be_data(name) {
        HIDDEN_NAME.to_string()
    } else {
        format!("{name:?}")
    }
}

/// How a file's header differs from the schema's declared columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderProblems {
    /// Names that appear more than once.
    pub duplicated: Vec<String>,
    /// Names the schema does not declare, each with a hint when it differs
    /// from a declared name only in case or white space.
    pub undeclared: Vec<(String, Option<String>)>,
    /// Declared names absent from the file.
    pub missing: Vec<String>,
    /// Fewer than half of the header's fields are declared columns (none at
    /// all, or a few by chance): most likely a data record (a headerless
    /// file) or the wrong file (the key file), so its fields are never
    /// quoted in messages.
    pub may_be_data: bool,
    /// Header fields that are declared columns.
    pub declared_fields: usize,
}

impl HeaderProblems {
    /// Compare a header with the schema.
    pub fn find(cols: &[String], schema: &Schema) -> HeaderProblems {
        let mut p = HeaderProblems::default();
        let mut seen = std::collections::HashSet::with_capacity(cols.len());
        for name in cols {
            if !seen.insert(name.as_str()) && !p.duplicated.contains(name) {
                p.duplicated.push(name.clone());
            }
        }
        for u in cols.iter().filter(|c| schema.column(c).is_none()) {
            let hint = schema
                .columns
                .iter()
                .find(|c| c.name.trim().eq_ignore_ascii_case(u.trim()))
                .map(|c| c.name.clone());
            p.undeclared.push((u.clone(), hint));
        }
        p.missing = schema
            .columns
            .iter()
            .filter(|c| !cols.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        p.declared_fields = cols.len() - p.undeclared.len();
        p.may_be_data = !cols.is_empty() && p.declared_fields * 2 < cols.len();
        p
    }

    /// Whether the header is exactly the declared columns.
    pub fn is_clean(&self) -> bool {
        self.duplicated.is_empty() && self.undeclared.is_empty() && self.missing.is_empty()
    }

    /// A header name as it may appear in a message: quoted, unless the header
    /// may be data (see `may_be_data`) or the name itself is longer than
    /// 128 characters or looks like personal data or key material.
    pub fn shown(&self, name: &str) -> String {
        if self.may_be_data {
            HIDDEN_NAME.to_string()
        } else {
            shown_name(name)
        }
    }

    /// The undeclared names, described for a message.
    pub fn describe_undeclared(&self) -> String {
        const SHOWN: usize = 20;
        if self.may_be_data {
            let total = self.undeclared.len() + self.declared_fields;
            let which = if self.declared_fields == 0 {
                format!("all {total} header field(s); none is a declared column")
            } else {
                format!(
                    "{} of the {total} header field(s); fewer than half are declared columns",
                    self.undeclared.len()
                )
            };
            return format!(
                "({which}, so the first line may be data (set [input].header = false for a \
                 headerless file) or this is the wrong file; the fields are not shown)"
            );
        }
        let mut names: Vec<String> = self
            .undeclared
            .iter()
            .take(SHOWN)
            .map(|(u, hint)| {
                let name = if u.is_empty() {
                    "(unnamed column)".to_string()
                } else {
                    self.shown(u)
                };
                match hint {
                    Some(h) => {
                        format!("{name} (differs from declared {h:?} only in case or white space)")
                    }
                    None => name,
                }
            })
            .collect();
        if self.undeclared.len() > SHOWN {
            names.push(format!("and {} more", self.undeclared.len() - SHOWN));
        }
        names.join(", ")
    }

    /// The missing names, quoted and joined.
    pub fn describe_missing(&self) -> String {
        self.missing
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Check a file's column names against the schema: a duplicated or missing
/// column is an error, an undeclared one too unless `drop_undeclared` (then
/// `warn` gets a message and `undeclared_out` the names as messages show
/// them). Every engine words header errors this way.
pub fn check_header(
    path: &Path,
    cols: &[String],
    schema: &Schema,
    drop_undeclared: bool,
    undeclared_out: &mut Vec<String>,
    warn: &dyn Fn(&str),
) -> Result<()> {
    let header_err = |message: String| Error::Header {
        path: path.to_path_buf(),
        message,
    };
    let problems = HeaderProblems::find(cols, schema);
    // A header that may be data is reported as such (more telling).
    if let Some(d) = problems
        .duplicated
        .first()
        .filter(|_| !problems.may_be_data)
    {
        return Err(header_err(format!(
            "column {} appears more than once in the header",
            problems.shown(d)
        )));
    }
    if !problems.undeclared.is_empty() {
        let described = problems.describe_undeclared();
        if drop_undeclared {
            warn(&format!(
                "{}: dropping undeclared column(s) {described} (--drop-undeclared)",
                path.display()
            ));
            for (u, _) in &problems.undeclared {
                // The summary lists names the same way messages quote them.
                let name = match problems.shown(u) {
                    quoted if quoted == format!("{u:?}") => u.clone(),
                    hidden => hidden,
                };
                if !undeclared_out.contains(&name) {
                    undeclared_out.push(name);
                }
            }
        } else {
            return Err(header_err(format!(
                "undeclared column(s) {described}: declare them in the schema (action = \"drop\" if they must not leave) \
                 or pass --drop-undeclared; nothing was written"
            )));
        }
    }
    if !problems.missing.is_empty() {
        return Err(header_err(format!(
            "declared column(s) {} missing from the input",
            problems.describe_missing()
        )));
    }
    Ok(())
}

/// The projection of `wanted` (names present in `cols`): the ascending file
/// columns to read, and for each wanted name its position among them.
fn projection(cols: &[String], wanted: &[String]) -> (Vec<usize>, Vec<usize>) {
    let file_index = |name: &str| cols.iter().position(|c| c == name).unwrap_or(0);
    let mut projection: Vec<usize> = wanted.iter().map(|n| file_index(n)).collect();
    projection.sort_unstable();
    projection.dedup();
    let positions = wanted
        .iter()
        .map(|n| {
            let fi = file_index(n);
            projection.iter().position(|&p| p == fi).unwrap_or(0)
        })
        .collect();
    (projection, positions)
}

/// How a file is read, as far as its bytes and `[input].format` tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// CSV, NDJSON or Parquet (never `Auto`).
    pub format: InputFormat,
    /// The compression of a text file (`None` for Parquet).
    pub compression: Compression,
}

/// The format a file is read in: `declared`, or with `auto`, Parquet by its
/// magic bytes, NDJSON by its name, CSV otherwise.
fn resolve_declared(path: &Path, declared: InputFormat) -> Result<Resolved> {
    let detected = detect(path)?;
    let format = match (declared, detected) {
        (InputFormat::Auto | InputFormat::Parquet, Detected::Parquet) => InputFormat::Parquet,
        (InputFormat::Parquet, Detected::Text(_)) => {
            return Err(Error::Usage(format!(
                "{} is not a Parquet file, but [input].format = \"parquet\"",
                path.display()
            )))
        }
        (InputFormat::Csv | InputFormat::Ndjson, Detected::Parquet) => {
            return Err(Error::Usage(format!(
                "{} is a Parquet file, but [input].format declares a text format",
                path.display()
            )))
        }
        (InputFormat::Auto, Detected::Text(_)) if looks_like_ndjson(path) => InputFormat::Ndjson,
        (InputFormat::Auto, Detected::Text(_)) => InputFormat::Csv,
        (f, Detected::Text(_)) => f,
    };
    let compression = match detected {
        Detected::Text(c) => c,
        Detected::Parquet => Compression::None,
    };
    Ok(Resolved {
        format,
        compression,
    })
}

/// How `path` is read under `schema` (`[input].format`).
pub fn resolve(path: &Path, schema: &Schema) -> Result<Resolved> {
    resolve_declared(path, schema.input.format)
}

/// The format a file is read in under `schema`.
pub fn resolve_format(path: &Path, schema: &Schema) -> Result<InputFormat> {
    resolve(path, schema).map(|r| r.format)
}

/// Open a text file (CSV or NDJSON) as a [`TextInput`]: its header read (a
/// headerless CSV file takes `declared` as its names) or, for NDJSON, the
/// first record's keys.
fn open_text_input(path: &Path, ndjson: bool, opts: TextOptions<'_>) -> Result<TextInput> {
    if ndjson {
        let columns = json::first_record_keys(path, opts.encoding)?;
        TextInput::open_lines(path, opts.encoding, opts.raw_bytes, columns)
    } else {
        TextInput::open(path, &opts)
    }
}

/// The [`TextOptions`] of `schema`'s `[input]` for `path`.
fn text_options<'a>(
    path: &Path,
    schema: &Schema,
    declared: &'a [String],
    raw_bytes: Arc<AtomicU64>,
) -> TextOptions<'a> {
    let input = &schema.input;
    TextOptions {
        dialect: input.dialect,
        encoding: input.encoding_for(path),
        headerless: (!input.header).then_some(declared),
        raw_bytes,
    }
}

/// Whether a file starts with a UTF-8 byte-order mark.
pub fn starts_with_bom(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 3];
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(n == 3 && head == *b"\xEF\xBB\xBF")
}

/// The column names of an input file as `anonymize` reads them (for NDJSON:
/// the first record's keys plus every declared name).
pub fn input_columns(path: &Path, schema: &Schema) -> Result<Vec<String>> {
    let declared: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    Ok(match resolve_format(path, schema)? {
        InputFormat::Parquet => ParquetInput::open(path)?.columns,
        format => {
            let ndjson = format == InputFormat::Ndjson;
            let opts = text_options(path, schema, &declared, Arc::default());
            let mut cols = open_text_input(path, ndjson, opts)?.columns;
            if ndjson {
                let missing: Vec<String> =
                    declared.into_iter().filter(|d| !cols.contains(d)).collect();
                cols.extend(missing);
            }
            cols
        }
    })
}

/// What [`open_for_plan`] needs besides the path and schema.
pub struct OpenOptions<'a> {
    /// Leave undeclared columns out (with a warning) instead of failing.
    pub drop_undeclared: bool,
    /// Rows per Parquet batch.
    pub batch_rows: usize,
    /// Counts the file bytes consumed (for progress).
    pub raw_bytes: Arc<AtomicU64>,
    /// Operator warnings (names only, never values).
    pub warn: &'a dyn Fn(&str),
}

/// Open one input in its format, check its columns against the schema and
/// plan the decoding of `wanted` (the plan's input columns, in plan order).
/// Undeclared columns dropped under `drop_undeclared` are added to
/// `undeclared`.
pub fn open_for_plan(
    path: &Path,
    schema: &Schema,
    wanted: &[String],
    opts: &OpenOptions<'_>,
    undeclared: &mut Vec<String>,
) -> Result<(Reader, FilePlan)> {
    let declared: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let format = resolve_format(path, schema)?;
    let input = &schema.input;
    let mut plan_cols = |cols: &[String]| {
        check_header(
            path,
            cols,
            schema,
            opts.drop_undeclared,
            undeclared,
            opts.warn,
        )
        .map(|()| projection(cols, wanted))
    };
    match format {
        InputFormat::Parquet => {
            let mut pq = ParquetInput::open(path)?;
            let (projection, positions) = plan_cols(&pq.columns)?;
            let mut numeric_text = Vec::new();
            let mut converters = Vec::with_capacity(wanted.len());
            for name in wanted {
                let fi = pq.columns.iter().position(|c| c == name).unwrap_or(0);
                let t = pq.types.get(fi).cloned().unwrap_or(DataType::Null);
                let column = schema
                    .column(name)
                    .ok_or_else(|| Error::Internal(format!("no column {name:?}")))?;
                parquet_reader::check_type(&t, column).map_err(|message| Error::Header {
                    path: path.to_path_buf(),
                    message,
                })?;
                if matches!(column.action, Action::Tokenize { .. })
                    && parquet_reader::is_numeric_storage(&t)
                {
                    (opts.warn)(&format!(
                        "{}: column {:?} is stored as {t}; it is read as decimal text before \
                         normalization (a leading '+' or '0' the exporter dropped cannot be recovered)",
                        path.display(),
                        column.name
                    ));
                    numeric_text.push(column.name.clone());
                }
                converters.push((column.value_type, column.format.clone()));
            }
            pq.start(&projection, opts.batch_rows)?;
            Ok((
                Reader::Parquet(pq),
                FilePlan {
                    decode: Decode::Parquet {
                        converters,
                        tz: input.timezone,
                    },
                    positions,
                    format: "parquet",
                    numeric_text,
                },
            ))
        }
        InputFormat::Ndjson => {
            let encoding = input.encoding_for(path);
            let columns = json::first_record_keys(path, encoding)?;
            let text = TextInput::open_lines(path, encoding, opts.raw_bytes.clone(), columns)?;
            // A key absent from the first record is null there (NDJSON writers
            // often omit nulls), so every declared name counts as present.
            let mut cols = text.columns.clone();
            cols.extend(
                declared
                    .iter()
                    .filter(|d| !text.columns.contains(d))
                    .cloned(),
            );
            let (projection, positions) = plan_cols(&cols)?;
            // arrow-json decodes by name and, in strict mode, refuses keys its
            // schema lacks: decode the projected names first, then every other
            // declared name (dropped columns), and keep the projected ones.
            let mut all: Vec<String> = projection
                .iter()
                .map(|&i| cols.get(i).cloned().unwrap_or_default())
                .collect();
            for d in &declared {
                if !all.contains(d) {
                    all.push(d.clone());
                }
            }
            Ok((
                Reader::Text(text),
                FilePlan {
                    decode: Decode::Json(
                        JsonPlan::new(&all).ignoring_undeclared(opts.drop_undeclared),
                    ),
                    positions,
                    format: "ndjson",
                    numeric_text: Vec::new(),
                },
            ))
        }
        InputFormat::Csv | InputFormat::Auto => {
            let text_opts = text_options(path, schema, &declared, opts.raw_bytes.clone());
            let text = TextInput::open(path, &text_opts)?;
            let (projection, positions) = plan_cols(&text.columns)?;
            let decode = DecodePlan::new(
                &text.columns,
                projection,
                input.dialect,
                null_regex(&input.null_values),
            );
            Ok((
                Reader::Text(text),
                FilePlan {
                    decode: Decode::Csv(decode),
                    positions,
                    format: "csv",
                    numeric_text: Vec::new(),
                },
            ))
        }
    }
}

impl Reader {
    /// The next unit of up to `want` records of file `file`, or `None` at
    /// the end. `raw_bytes` is advanced for Parquet (text inputs count their
    /// bytes as they are read).
    pub fn next_unit(
        &mut self,
        file: usize,
        want: usize,
        raw_bytes: &AtomicU64,
    ) -> Result<Option<Unit>> {
        match self {
            Reader::Text(input) => input
                .next_chunk(file, want.max(1))
                .map(|c| c.map(Unit::Records)),
            Reader::Parquet(pq) => {
                let first_row = pq.rows_read;
                let before = pq.progress_bytes();
                pq.next_batch().map(|b| {
                    raw_bytes.fetch_add(pq.progress_bytes() - before, Ordering::Relaxed);
                    b.map(|batch| Unit::Batch {
                        file,
                        first_row,
                        batch: batch.slice(0, batch.num_rows().min(want)),
                    })
                })
            }
        }
    }

    /// When a text file ended inside a quoted field: the line where that record starts.
    pub fn unterminated_quote_line(&self) -> Option<u64> {
        match self {
            Reader::Text(input) => input.unterminated_quote_line(),
            Reader::Parquet(_) => None,
        }
    }

    /// Compression name for the summary and manifest (`parquet` for Parquet).
    pub fn compression_name(&self) -> &'static str {
        match self {
            Reader::Text(t) => t.compression.name(),
            Reader::Parquet(_) => "parquet",
        }
    }

    /// Encoding name for the summary and manifest (`(binary)` for Parquet).
    pub fn encoding_name(&self, path: &Path, schema: &Schema) -> &'static str {
        match self {
            Reader::Text(_) => schema.input.encoding_for(path).name(),
            Reader::Parquet(_) => "(binary)",
        }
    }
}

/// How one input file's records become the plan's string columns.
#[derive(Debug)]
pub enum Decode {
    /// CSV chunks, decoded by arrow-csv.
    Csv(DecodePlan),
    /// NDJSON chunks, decoded by arrow-json; the batch has the plan's
    /// projected columns first, in projection order.
    Json(JsonPlan),
    /// Parquet batches (already projected): each plan column's values
    /// rendered as text for its declared type.
    Parquet {
        /// Declared type and format of each plan column.
        converters: Vec<(crate::schema::ValueType, Option<String>)>,
        /// `[input].timezone`, for timestamps without an offset.
        tz: chrono_tz::Tz,
    },
}

/// How one input file's columns map to the plan.
#[derive(Debug)]
pub struct FilePlan {
    /// How units of this file are decoded.
    pub decode: Decode,
    /// For each plan column, its position in the decoded (projected) batch.
    pub positions: Vec<usize>,
    /// Format name for the summary.
    pub format: &'static str,
    /// Tokenized columns stored as numbers in this (Parquet) file.
    pub numeric_text: Vec<String>,
}

/// An open input.
pub enum Reader {
    /// CSV or NDJSON, cut into chunks of records.
    Text(TextInput),
    /// Parquet, read in batches.
    Parquet(ParquetInput),
}

/// One unit of parallel work: records with their provenance (file index,
/// and line or row numbers through [`Unit::line_of`]).
pub enum Unit {
    /// Whole records of a text file.
    Records(Chunk),
    /// Rows of a Parquet file; `first_row` is the 0-based index of the first.
    Batch {
        /// Index of the file among the run's inputs.
        file: usize,
        /// 0-based index of the batch's first row in the file.
        first_row: u64,
        /// The rows (projected columns).
        batch: RecordBatch,
    },
}

/// A unit decoded into the plan's input columns.
pub struct Decoded {
    /// The plan's input columns, in plan order (empty when `fatal`).
    pub columns: Vec<ArrayRef>,
    /// Rows decoded.
    pub rows: usize,
    /// Records left out, with their lines.
    pub bad: Vec<BadRecord>,
    /// A record that stops the run whatever `--max-bad-rows` says.
    pub fatal: Option<BadRecord>,
    /// Chunk record index of each row, when records were left out.
    pub kept: Option<Vec<usize>>,
}

/// Decode one unit into the plan's input columns as text.
pub fn decode_unit(unit: &Unit, fp: &FilePlan) -> Result<Decoded> {
    let decoded = match (unit, &fp.decode) {
        (Unit::Records(chunk), Decode::Csv(d)) => d.decode(chunk),
        (Unit::Records(chunk), Decode::Json(j)) => j.decode(chunk),
        (Unit::Batch { batch, .. }, Decode::Parquet { converters, tz }) => {
            let mut columns = Vec::with_capacity(fp.positions.len());
            for (&p, (value_type, format)) in fp.positions.iter().zip(converters) {
                let text =
                    parquet_reader::to_text(batch.column(p), format.as_deref(), *value_type, *tz)
                        .map_err(|message| Error::ParquetRead {
                        path: PathBuf::from("(batch)"),
                        message,
                    })?;
                columns.push(text as ArrayRef);
            }
            return Ok(Decoded {
                columns,
                rows: batch.num_rows(),
                bad: Vec::new(),
                fatal: None,
                kept: None,
            });
        }
        _ => return Err(Error::Internal("input unit and decoder disagree".into())),
    };
    let rows = decoded.batch.num_rows();
    let columns = if decoded.fatal.is_some() || rows == 0 {
        Vec::new()
    } else {
        fp.positions
            .iter()
            .map(|&p| decoded.batch.column(p).clone())
            .collect()
    };
    Ok(Decoded {
        columns,
        rows,
        bad: decoded.bad,
        fatal: decoded.fatal,
        kept: decoded.kept,
    })
}

impl Unit {
    /// Index of the unit's file among the run's inputs.
    pub fn file(&self) -> usize {
        match self {
            Unit::Records(c) => c.file,
            Unit::Batch { file, .. } => *file,
        }
    }

    /// Records in the unit.
    pub fn records(&self) -> usize {
        match self {
            Unit::Records(c) => c.records,
            Unit::Batch { batch, .. } => batch.num_rows(),
        }
    }

    /// Line (text) or 1-based row (Parquet) of the unit's `record`-th record.
    pub fn line_of(&self, fp: &FilePlan, spans: &mut Option<RecordSpans>, record: usize) -> u64 {
        match self {
            Unit::Records(chunk) => {
                let spans = spans.get_or_insert_with(|| match &fp.decode {
                    Decode::Csv(d) => d.record_spans(chunk),
                    Decode::Json(j) => j.record_spans(chunk),
                    Decode::Parquet { .. } => Vec::new(),
                });
                spans.get(record).map_or(chunk.first_line, |s| s.2)
            }
            Unit::Batch { first_row, .. } => first_row + record as u64 + 1,
        }
    }
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A text dump (CSV or NDJSON, possibly compressed).
    Csv,
    /// A Parquet file (typically a txanon output).
    Parquet,
}

/// Tell a file's kind from its first bytes (compressed text counts as CSV).
pub fn sniff(path: &Path) -> Result<FileKind> {
    Ok(match detect(path)? {
        Detected::Parquet => FileKind::Parquet,
        Detected::Text(_) => FileKind::Csv,
    })
}

/// Whether a Parquet file was written by txanon (its footer has `txanon.version`).
pub fn is_txanon_output(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::ParquetRead {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|k| k.key == "txanon.version")))
}

/// One batch of string columns with the row number (CSV: file line, Parquet:
/// 1-based row index) of each row.
#[derive(Debug)]
pub struct StringBatch {
    /// Column name and values (non-string columns cast to text, nulls kept).
    pub columns: Vec<(String, Arc<StringArray>)>,
    /// 0-based position in the file of each of `columns` (non-text Parquet
    /// columns are left out, and names need not be unique).
    pub positions: Vec<usize>,
    /// Row numbers, one per row.
    pub rows: Vec<u64>,
}

/// How a text (CSV or NDJSON) file is read; a Parquet file ignores it.
#[derive(Debug, Clone, Default)]
pub struct TextFormat {
    /// Text encoding.
    pub encoding: TextEncoding,
    /// Delimiter, quote, escape and comment bytes of a CSV file.
    pub dialect: Dialect,
    /// `None`: a CSV file's first record is its header. `Some`: the file has
    /// no header and these are its column names.
    pub headerless: Option<Vec<String>>,
    /// `Some(true)`: NDJSON, `Some(false)`: CSV, `None`: told by file name.
    pub ndjson: Option<bool>,
    /// Leave malformed records out instead of stopping at the first one
    /// (for a caller that reports them by other means).
    pub skip_bad: bool,
}

impl TextFormat {
    /// UTF-8 (or `encoding`) CSV with a header and the default dialect, or
    /// NDJSON by file name: what the schema-free tools assume.
    pub fn with_encoding(encoding: TextEncoding) -> TextFormat {
        TextFormat {
            encoding,
            ..TextFormat::default()
        }
    }

    /// How `anonymize` reads `path` under `schema` (`[input]`).
    pub fn for_schema(path: &Path, schema: &Schema) -> TextFormat {
        let input = &schema.input;
        TextFormat {
            encoding: input.encoding_for(path),
            dialect: input.dialect,
            headerless: (!input.header)
                .then(|| schema.columns.iter().map(|c| c.name.clone()).collect()),
            ndjson: match input.format {
                InputFormat::Ndjson => Some(true),
                InputFormat::Csv => Some(false),
                _ => None,
            },
            skip_bad: false,
        }
    }
}

/// Column names and batches of a file, read up to `limit` rows, every column
/// as text. Opened as [`open_for_plan`] opens it, without a schema.
pub fn for_each_batch(
    path: &Path,
    limit: Option<u64>,
    format: &TextFormat,
    mut visit: impl FnMut(&StringBatch) -> Result<()>,
) -> Result<Vec<String>> {
    let encoding = format.encoding;
    let declared = match format.ndjson {
        Some(true) => InputFormat::Ndjson,
        Some(false) => InputFormat::Csv,
        None => InputFormat::Auto,
    };
    // A Parquet file is read as Parquet whatever the text format says.
    let resolved = match detect(path)? {
        Detected::Parquet => InputFormat::Parquet,
        Detected::Text(_) => resolve_declared(path, declared)?.format,
    };
    let reader = if resolved == InputFormat::Parquet {
        let mut pq = ParquetInput::open(path)?;
        let all: Vec<usize> = (0..pq.columns.len()).collect();
        pq.start(&all, 8192)?;
        Reader::Parquet(pq)
    } else {
        let opts = TextOptions {
            dialect: format.dialect,
            encoding,
            headerless: format.headerless.as_deref(),
            raw_bytes: Arc::default(),
        };
        Reader::Text(open_text_input(
            path,
            resolved == InputFormat::Ndjson,
            opts,
        )?)
    };
    match reader {
        Reader::Text(mut input) => {
            let ndjson = resolved == InputFormat::Ndjson;
            let names = input.columns.clone();
            // A header that may be a data record is not quoted in errors:
            // its columns are named by position (see `printable_names`).
            let printable = if format.headerless.is_none() {
                crate::detect::printable_names(&names, None)
            } else {
                vec![true; names.len()]
            };
            let column_label = |column: &str| match names.iter().position(|n| n == column) {
                Some(i) if !printable[i] => format!("column #{}", i + 1),
                _ => column.to_string(),
            };
            let csv_plan =
                DecodePlan::new(&names, (0..names.len()).collect(), format.dialect, None);
            let json_plan = JsonPlan::new(&names);
            let decode = |chunk: &Chunk| {
                if ndjson {
                    (json_plan.decode(chunk), json_plan.record_spans(chunk))
                } else {
                    (csv_plan.decode(chunk), csv_plan.record_spans(chunk))
                }
            };
            let mut seen = 0u64;
            while limit.is_none_or(|l| seen < l) {
                let want = limit.map_or(8192, |l| (l - seen).min(8192) as usize);
                let Some(chunk) = input.next_chunk(0, want)? else {
                    break;
                };
                let (decoded, spans) = decode(&chunk);
                let first_bad = if format.skip_bad {
                    None
                } else {
                    decoded.bad.first()
                };
                if let Some(f) = decoded.fatal.as_ref().or(first_bad) {
                    let hint = f.rule == "invalid UTF-8" && encoding == TextEncoding::Utf8;
                    return Err(Error::BadRecord {
                        path: path.to_path_buf(),
                        line: f.line,
                        column: column_label(&f.column),
                        rule: if hint {
                            "invalid UTF-8 (a legacy export? --encoding gb18030 reads GB18030/GBK)"
                                .into()
                        } else {
                            f.rule.clone()
                        },
                    });
                }
                // `kept` maps the batch's rows to the chunk's records when
                // some were left out.
                let rows: Vec<u64> = match &decoded.kept {
                    Some(kept) => kept
                        .iter()
                        .filter_map(|&i| spans.get(i).map(|s| s.2))
                        .collect(),
                    None => spans.iter().map(|s| s.2).collect(),
                };
                seen += rows.len() as u64;
                let positions = (0..names.len()).collect();
                let columns = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let col = decoded.batch.column(i);
                        (
                            n.clone(),
                            to_strings(col)
                                .unwrap_or_else(|| Arc::new(StringArray::new_null(col.len()))),
                        )
                    })
                    .collect();
                visit(&StringBatch {
                    columns,
                    positions,
                    rows,
                })?;
            }
            if let Some(line) = input.unterminated_quote_line() {
                return Err(Error::BadRecord {
                    path: path.to_path_buf(),
                    line,
                    column: "(record)".into(),
                    rule: "unterminated quoted field at end of file".into(),
                });
            }
            Ok(names)
        }
        Reader::Parquet(mut pq) => {
            let names = pq.columns.clone();
            let mut seen = 0u64;
            while let Some(batch) = pq.next_batch()? {
                let mut n = batch.num_rows();
                if let Some(l) = limit {
                    n = n.min((l - seen) as usize);
                }
                let rows: Vec<u64> = (seen + 1..=seen + n as u64).collect();
                let (positions, columns) = batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .enumerate()
                    .filter_map(|(i, (f, c))| {
                        to_strings(&c.slice(0, n)).map(|s| (i, (f.name().clone(), s)))
                    })
                    .unzip();
                visit(&StringBatch {
                    columns,
                    positions,
                    rows,
                })?;
                seen += n as u64;
                if limit.is_some_and(|l| seen >= l) {
                    break;
                }
            }
            Ok(names)
        }
    }
}

/// Text view of a column: strings as they are, integers as decimal text
/// (phone numbers are sometimes stored as INT64), binary values that are
/// UTF-8 as text (older writers store strings as unannotated BYTE_ARRAY),
/// and nested values (struct, list, map) as their display text, field names
/// included, so that no column holding text escapes the detectors; other
/// types (floats, decimals, dates, booleans) are skipped.
pub(crate) fn to_strings(col: &ArrayRef) -> Option<Arc<StringArray>> {
    let textual = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
    };
    let cast = match col.data_type() {
        t if textual(t) => true,
        DataType::Dictionary(_, v) => textual(v),
        DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64 => true,
        DataType::Struct(_)
        | DataType::List(_)
        | DataType::LargeList(_)
        | DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::FixedSizeList(..)
        | DataType::Map(..) => false,
        _ => return None,
    };
    if !cast {
        let options = arrow_cast::display::FormatOptions::default();
        let shown = arrow_cast::display::ArrayFormatter::try_new(col.as_ref(), &options).ok()?;
        let text: StringArray = (0..col.len())
            .map(|i| col.is_valid(i).then(|| shown.value(i).to_string()))
            .collect();
        return Some(Arc::new(text));
    }
    // Binary values that are not UTF-8 become nulls (a safe cast).
    let cast = arrow_cast::cast(col, &DataType::Utf8).ok()?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .map(|s| Arc::new(s.clone()))
}

#[cfg(test)]
mod tests {
    //! Header checks against hand-written expectations: which names are
    //! duplicated, undeclared or missing, when a header may be data, and the
    //! exact wording messages use.
    use super::*;

    fn schema(names: &[&str]) -> Schema {
        let mut text = String::from("[dataset]\nname = \"t\"\nversion = 1\n");
        for n in names {
            text.push_str(&format!("[[columns]]\nname = \"{n}\"\naction = \"keep\"\n"));
        }
        Schema::from_toml(&text, Path::new("t.toml")).unwrap()
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn find(header: &[&str]) -> HeaderProblems {
        HeaderProblems::find(&strings(header), &schema(&["txn_id", "amount", "mobile"]))
    }

    #[test]
    fn a_header_of_the_declared_columns_is_clean() {
        let p = find(&["mobile", "txn_id", "amount"]);
        assert_eq!(
            p,
            HeaderProblems {
                declared_fields: 3,
                ..HeaderProblems::default()
            }
        );
        assert!(p.is_clean());
        let empty = find(&[]);
        assert!(!empty.may_be_data);
        assert_eq!(empty.missing, ["txn_id", "amount", "mobile"]);
    }

    #[test]
    fn each_kind_of_problem_is_found_and_makes_the_header_unclean() {
        let dup = find(&["txn_id", "amount", "mobile", "amount", "amount", "txn_id"]);
        assert_eq!(dup.duplicated, ["amount", "txn_id"]);
        assert_eq!((dup.declared_fields, dup.may_be_data), (6, false));
        assert!(!dup.is_clean());

        let undeclared = find(&["txn_id", "amount", "mobile", "extra", "Mobile"]);
        assert_eq!(
            undeclared.undeclared,
            [
                ("extra".to_string(), None),
                ("Mobile".to_string(), Some("mobile".to_string()))
            ]
        );
        assert!(undeclared.missing.is_empty() && undeclared.duplicated.is_empty());
        assert_eq!(undeclared.declared_fields, 3);
        assert!(!undeclared.is_clean());

        let missing = find(&["txn_id", " amount"]);
        assert_eq!(missing.missing, ["amount", "mobile"]);
        assert_eq!(
            missing.undeclared,
            [(" amount".to_string(), Some("amount".to_string()))]
        );
        let only_missing = find(&["txn_id"]);
        assert!(only_missing.duplicated.is_empty() && only_missing.undeclared.is_empty());
        assert!(!only_missing.is_clean());
    }

    #[test]
    fn fewer_than_half_declared_may_be_data() {
        // (header, declared fields, may be data): exactly half is a header.
        let cases: [(&[&str], usize, bool); 6] = [
            (&["txn_id", "x"], 1, false),
            (&["txn_id", "amount", "x", "y"], 2, false),
            (&["txn_id", "x", "y"], 1, true),
            (&["txn_id", "amount", "x", "y", "z"], 2, true),
            (&["x"], 0, true),
            (&["txn_id", "amount", "mobile", "txn_id", "x"], 4, false),
        ];
        for (header, declared, may_be_data) in cases {
            let p = find(header);
            assert_eq!(
                (p.declared_fields, p.may_be_data),
                (declared, may_be_data),
                "{header:?}"
            );
        }
    }

    #[test]
    fn names_are_quoted_unless_they_or_the_header_may_be_data() {
        const HIDDEN: &str = "(a header field that may be data; not shown)";
        assert_eq!(shown_name("amount"), "\"amount\"");
        assert_eq!(shown_name("13800138000"), HIDDEN);
        let header = find(&["txn_id", "amount", "extra"]);
        assert_eq!(header.shown("extra"), "\"extra\"");
        let data = find(&["T1", "12.50", "extra"]);
        assert_eq!(data.shown("extra"), HIDDEN);
    }

    #[test]
    fn undeclared_names_are_described_with_hints_or_counted_when_hidden() {
        let p = find(&["txn_id", "amount", "mobile", "", "Amount "]);
        assert_eq!(
            p.describe_undeclared(),
            "(unnamed column), \"Amount \" (differs from declared \"amount\" only in case or white space)"
        );
        let none = find(&["a", "b"]);
        assert_eq!(
            none.describe_undeclared(),
            "(all 2 header field(s); none is a declared column, so the first line may be data \
             (set [input].header = false for a headerless file) or this is the wrong file; the \
             fields are not shown)"
        );
        let few = find(&["T1", "txn_id", "12.50"]);
        assert!(
            few.describe_undeclared().starts_with(
                "(2 of the 3 header field(s); fewer than half are declared columns, so"
            ),
            "{}",
            few.describe_undeclared()
        );
        assert_eq!(
            find(&["txn_id"]).describe_missing(),
            "\"amount\", \"mobile\""
        );
    }

    #[test]
    fn at_most_twenty_undeclared_names_are_listed() {
        // 24 declared columns: at least half of every header below.
        let declared: Vec<String> = (0..24).map(|i| format!("c{i}")).collect();
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        let schema = schema(&declared);
        for (extra, tail) in [
            (20, None),
            (21, Some("and 1 more")),
            (23, Some("and 3 more")),
        ] {
            let mut header = strings(&declared);
            header.extend((0..extra).map(|i| format!("u{i}")));
            let text = HeaderProblems::find(&header, &schema).describe_undeclared();
            let parts: Vec<&str> = text.split(", ").collect();
            assert_eq!(parts[..20].first(), Some(&"\"u0\""), "{text}");
            assert_eq!(parts[19], "\"u19\"", "{text}");
            assert_eq!(parts.get(20).copied(), tail, "{text}");
            assert_eq!(parts.len(), 20 + usize::from(tail.is_some()), "{text}");
        }
    }

    type Checked = (std::result::Result<(), String>, Vec<String>);

    /// `check_header` on `header`, its error message, and its warnings;
    /// `out` collects the dropped names.
    fn check_into(header: &[&str], drop: bool, out: &mut Vec<String>) -> Checked {
        let warnings = std::cell::RefCell::new(Vec::new());
        let r = check_header(
            Path::new("in.csv"),
            &strings(header),
            &schema(&["txn_id", "amount", "mobile"]),
            drop,
            out,
            &|w: &str| warnings.borrow_mut().push(w.to_string()),
        );
        let r = r.map_err(|e| match e {
            Error::Header { path, message } => {
                assert_eq!(path, Path::new("in.csv"));
                message
            }
            other => panic!("not a header error: {other}"),
        });
        (r, warnings.into_inner())
    }

    fn check(header: &[&str], drop: bool) -> Checked {
        let mut out = Vec::new();
        let checked = check_into(header, drop, &mut out);
        assert!(out.is_empty() || drop, "{out:?}");
        checked
    }

    #[test]
    fn check_header_refuses_duplicated_undeclared_and_missing_columns() {
        assert_eq!(
            check(&["txn_id", "amount", "mobile"], false),
            (Ok(()), vec![])
        );
        let (r, ..) = check(&["txn_id", "amount", "mobile", "amount"], false);
        assert_eq!(
            r.unwrap_err(),
            "column \"amount\" appears more than once in the header"
        );
        let (r, ..) = check(&["txn_id", "amount", "mobile", "extra"], false);
        assert_eq!(
            r.unwrap_err(),
            "undeclared column(s) \"extra\": declare them in the schema (action = \"drop\" if they \
             must not leave) or pass --drop-undeclared; nothing was written"
        );
        let (r, ..) = check(&["txn_id", "amount"], true);
        assert_eq!(
            r.unwrap_err(),
            "declared column(s) \"mobile\" missing from the input"
        );
        // A header that may be data: reported as such, not as a duplicate,
        // and no field is quoted.
        let (r, ..) = check(&["T1", "T1", "12.50"], false);
        let e = r.unwrap_err();
        assert!(
            e.starts_with("undeclared column(s) (all 3 header field(s)"),
            "{e}"
        );
        assert!(!e.contains("T1"), "{e}");
    }

    #[test]
    fn dropped_undeclared_columns_are_warned_about_and_listed_as_messages_show_them() {
        const HIDDEN: &str = "(a header field that may be data; not shown)";
        let mut out = Vec::new();
        let (r, warnings) = check_into(
            &["txn_id", "amount", "mobile", "extra", "13800138000"],
            true,
            &mut out,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(out, ["extra", HIDDEN]);
        assert_eq!(
            warnings,
            [format!(
                "in.csv: dropping undeclared column(s) \"extra\", {HIDDEN} (--drop-undeclared)"
            )]
        );
        // A second file with the same undeclared column adds no second entry.
        let (r, _) = check_into(
            &["extra", "txn_id", "amount", "mobile", "other"],
            true,
            &mut out,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(out, ["extra", HIDDEN, "other"]);
        let (r, warnings) = check(&["txn_id", "amount", "mobile"], true);
        assert_eq!((r, warnings), (Ok(()), vec![]));
    }

    /// `check`, `scan` and `init` read a file in the encoding they are
    /// told (`--encoding gb18030`), with the default dialect and a header.
    #[test]
    fn the_schema_free_text_format_keeps_its_encoding() {
        use crate::io::source::TextEncoding;
        for encoding in [TextEncoding::Utf8, TextEncoding::Gb18030, TextEncoding::Gbk] {
            let f = TextFormat::with_encoding(encoding);
            assert_eq!(f.encoding, encoding);
            assert_eq!((f.headerless, f.ndjson, f.skip_bad), (None, None, false));
        }
    }

    #[test]
    fn projection_reads_each_wanted_column_once_in_file_order() {
        let cols = strings(&["a", "b", "c", "d"]);
        assert_eq!(
            projection(&cols, &strings(&["d", "b", "d"])),
            (vec![1, 3], vec![1, 0, 1])
        );
        assert_eq!(projection(&cols, &strings(&["a"])), (vec![0], vec![0]));
    }
}
