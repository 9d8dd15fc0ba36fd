//! The `anonymize` run: read → transform → write, streaming and parallel.
//!
//! ```text
//!  reader (this thread)        rayon pool (N threads)           writer thread
//!  chunk records ──permit──▶  decode (arrow-csv) + transform ──▶ reorder by seq ──▶ ParquetSink
//!        ▲                                                               │
//!        └──────────────────────── permit returned ◀─────────────────────┘
//! ```
//! At most `2N + 2` chunks are in flight (read, being transformed, or waiting
//! to be written in order), so memory depends on the batch size and thread
//! count, not on the input size. Chunks are cut at fixed record counts and
//! written in input order, and the writer cuts row groups at fixed row counts,
//! so the output is byte-identical for any `--threads` value.
//!
//! Every input header is checked against the schema before the output file
//! is created (fail closed), and the output appears only when the whole run
//! succeeded (see [`crate::io::parquet`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arrow_array::{BooleanArray, RecordBatch, StringArray};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::csv::{string_column, BadRecord, Chunk, CsvInput, DecodePlan};
use crate::io::parquet::{ParquetSink, DEFAULT_ROW_GROUP_ROWS};
use crate::key::MasterKey;
use crate::schema::{Action, Schema};
use crate::transform::batch::{BatchPlan, ColumnStats};

/// The label written into every output file. Keyed tokens are pseudonyms.
pub const OUTPUT_LABEL: &str = "pseudonymised personal data";

/// Token spec version written into outputs.
pub const TOKEN_SPEC: &str = "v1";

/// Options of one `anonymize` run (already validated by the CLI).
#[derive(Debug, Clone)]
pub struct AnonymizeOptions {
    /// Input CSV files, processed in order.
    pub inputs: Vec<PathBuf>,
    /// Target Parquet file.
    pub output: PathBuf,
    /// Worker threads for decode + transform.
    pub threads: usize,
    /// Drop input columns the schema does not declare instead of failing.
    pub drop_undeclared: bool,
    /// Bad records that may be skipped before the run fails.
    pub max_bad_rows: u64,
    /// Records per chunk (the unit of parallel work).
    pub batch_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Stop after this many records (all inputs together); `None` reads everything.
    pub max_records: Option<u64>,
}

impl AnonymizeOptions {
    /// Defaults for everything but inputs and output.
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> AnonymizeOptions {
        AnonymizeOptions {
            inputs,
            output,
            threads: 1,
            drop_undeclared: false,
            max_bad_rows: 0,
            batch_rows: 8192,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            max_records: None,
        }
    }
}

/// How the library talks back to the binary (which owns stderr).
pub trait Reporter: Sync {
    /// A non-fatal condition worth telling the operator (never a value).
    fn warn(&self, message: &str);
    /// Total input bytes are known.
    fn start(&self, total_bytes: u64);
    /// Input bytes consumed so far.
    fn progress(&self, bytes_done: u64);
    /// `Some(signal)` once the run should stop.
    fn interrupted(&self) -> Option<i32>;
}

/// A reporter that stays silent (tests, library use).
#[derive(Debug, Default)]
pub struct SilentReporter;

impl Reporter for SilentReporter {
    fn warn(&self, _: &str) {}
    fn start(&self, _: u64) {}
    fn progress(&self, _: u64) {}
    fn interrupted(&self) -> Option<i32> {
        None
    }
}

/// A skipped record, for the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRow {
    /// Input file.
    pub file: PathBuf,
    /// Line where the record starts.
    pub line: u64,
    /// Column, or `(record)`.
    pub column: String,
    /// The rule broken.
    pub rule: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.rule
        )
    }
}

/// Per-column part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    /// Input name.
    pub name: String,
    /// Output name (absent when dropped).
    pub output: Option<String>,
    /// Action.
    pub action: &'static str,
    /// Counters (zero for dropped columns).
    #[serde(flatten)]
    pub stats: ColumnStats,
}

/// What a run did; printed at the end (text or `--json`). Contains no values.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// txanon version.
    pub txanon_version: &'static str,
    /// Schema name and version.
    pub schema: String,
    /// Input files.
    pub inputs: Vec<PathBuf>,
    /// Output file.
    pub output: PathBuf,
    /// Records read (excluding headers and blank lines).
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped under `--max-bad-rows`.
    pub bad_rows: u64,
    /// The first 1000 skipped records.
    pub bad_row_list: Vec<BadRow>,
    /// Undeclared input columns dropped under `--drop-undeclared`.
    pub undeclared_dropped: Vec<String>,
    /// Per-column counts.
    pub columns: Vec<ColumnSummary>,
    /// Input bytes.
    pub input_bytes: u64,
    /// Wall time.
    pub elapsed_seconds: f64,
    /// Rows per second.
    pub rows_per_second: f64,
    /// Input MiB per second.
    pub mib_per_second: f64,
    /// Public fingerprint of the key used.
    pub key_fingerprint: String,
    /// Whether the published demo key was used.
    pub demo_key: bool,
    /// Worker threads.
    pub threads: usize,
}

/// How one input file's columns map to the plan.
#[derive(Debug)]
struct FilePlan {
    decode: DecodePlan,
    /// For each plan column, its position in the decoded (projected) batch.
    positions: Vec<usize>,
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
    /// The header names none of the declared columns: most likely a data
    /// record (a headerless file) or the wrong file (the key file), so its
    /// fields are never quoted in messages.
    pub none_declared: bool,
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
        p.none_declared = !cols.is_empty() && p.undeclared.len() == cols.len();
        p
    }

    /// A header name as it may appear in a message: quoted, unless the header
    /// may be data (see `none_declared`) or the name itself is longer than
    /// 128 characters or looks like personal data or key material.
    pub fn shown(&self, name: &str) -> String {
        use crate::check::detect::{header_name_may_be_data, Detector};
        if self.none_declared
            || name.chars().count() > 128
            || header_name_may_be_data(name, &Detector::new(Some("CN")))
        {
            "(a header field that may be data; not shown)".to_string()
        } else {
            format!("{name:?}")
        }
    }

    /// The undeclared names, described for a message.
    pub fn describe_undeclared(&self) -> String {
        const SHOWN: usize = 20;
        if self.none_declared {
            return format!(
                "(all {} header field(s); none is a declared column, so the first line may be \
                 data (set [input].header = false for a headerless file) or this is the wrong \
                 file; the fields are not shown)",
                self.undeclared.len()
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

/// Check a file's header against the schema and plan its projection.
fn plan_file(
    input: &CsvInput,
    schema: &Schema,
    plan: &BatchPlan,
    drop_undeclared: bool,
    undeclared_out: &mut Vec<String>,
    reporter: &dyn Reporter,
) -> Result<FilePlan> {
    let path = &input.path;
    let header_err = |message: String| Error::Header {
        path: path.clone(),
        message,
    };
    let cols = &input.columns;
    let problems = HeaderProblems::find(cols, schema);
    // A header naming no declared column is reported as such (more telling).
    if let Some(d) = problems
        .duplicated
        .first()
        .filter(|_| !problems.none_declared)
    {
        return Err(header_err(format!(
            "column {} appears more than once in the header",
            problems.shown(d)
        )));
    }
    if !problems.undeclared.is_empty() {
        let described = problems.describe_undeclared();
        if drop_undeclared {
            reporter.warn(&format!(
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
    let file_index = |name: &str| cols.iter().position(|c| c == name).unwrap_or(0);
    let mut projection: Vec<usize> = plan.columns.iter().map(|c| file_index(&c.name)).collect();
    projection.sort_unstable();
    projection.dedup();
    let positions = plan
        .columns
        .iter()
        .map(|c| {
            let fi = file_index(&c.name);
            projection.iter().position(|&p| p == fi).unwrap_or(0)
        })
        .collect();
    Ok(FilePlan {
        decode: DecodePlan::new(cols, projection, schema.input.delimiter),
        positions,
    })
}

/// Refuse outputs that would destroy an input or write through a link.
fn check_output_path(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let usage = |m: String| Error::Usage(m);
    if let Ok(meta) = std::fs::symlink_metadata(output) {
        if meta.file_type().is_symlink() {
            return Err(usage(format!(
                "output {} is a symbolic link; refusing to write through it",
                output.display()
            )));
        }
        if meta.is_dir() {
            return Err(usage(format!("output {} is a directory", output.display())));
        }
        let out_canon = std::fs::canonicalize(output).map_err(|e| Error::io(output, e))?;
        for input in inputs {
            if std::fs::canonicalize(input).is_ok_and(|c| c == out_canon)
                || same_inode(&meta, input)
            {
                return Err(usage(format!(
                    "output {} is also an input; refusing to overwrite an input",
                    output.display()
                )));
            }
        }
    }
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(usage(format!(
            "output directory {} does not exist",
            parent.display()
        )));
    }
    Ok(())
}

/// True when `path` is another name (a hard link) of the file `meta` describes.
#[cfg(unix)]
fn same_inode(meta: &std::fs::Metadata, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &Path) -> bool {
    false
}

/// The footer metadata written before the data.
pub fn provenance(schema: &Schema, key: &MasterKey) -> Vec<(String, String)> {
    vec![
        ("txanon.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("txanon.schema.name".into(), schema.name.clone()),
        ("txanon.schema.version".into(), schema.version.to_string()),
        ("txanon.schema.sha256".into(), schema.sha256.clone()),
        ("txanon.token.spec".into(), TOKEN_SPEC.into()),
        ("txanon.token.context".into(), schema.tokens.context.clone()),
        ("txanon.token.bits".into(), schema.tokens.bits.to_string()),
        (
            "txanon.token.encoding".into(),
            match schema.tokens.encoding {
                crate::schema::TokenEncoding::Hex => "hex".into(),
                crate::schema::TokenEncoding::Base64Url => "base64url".into(),
            },
        ),
        ("txanon.key.fingerprint".into(), key.fingerprint()),
        ("txanon.label".into(), OUTPUT_LABEL.into()),
    ]
}

struct ChunkResult {
    file: usize,
    /// A chunk that could not be decoded safely: stops the run whatever --max-bad-rows says.
    fatal: Option<BadRecord>,
    batch: RecordBatch,
    stats: Vec<ColumnStats>,
    bad: Vec<BadRecord>,
    rows_read: u64,
    bytes: u64,
}

fn process_chunk(chunk: &Chunk, fp: &FilePlan, plan: &BatchPlan) -> Result<ChunkResult> {
    let decoded = fp.decode.decode(chunk);
    if decoded.fatal.is_some() {
        return Ok(ChunkResult {
            file: chunk.file,
            fatal: decoded.fatal,
            batch: RecordBatch::new_empty(plan.schema.clone()),
            stats: vec![ColumnStats::default(); plan.columns.len()],
            bad: Vec::new(),
            rows_read: 0,
            bytes: 0,
        });
    }
    let empty = StringArray::from(Vec::<Option<&str>>::new());
    let inputs: Vec<&StringArray> = fp
        .positions
        .iter()
        .map(|&p| {
            if decoded.batch.num_rows() == 0 {
                &empty
            } else {
                string_column(&decoded.batch, p).unwrap_or(&empty)
            }
        })
        .collect();
    let (arrays, stats, issues) = if decoded.batch.num_rows() == 0 {
        (
            plan.schema
                .fields()
                .iter()
                .map(|f| arrow_array::new_empty_array(f.data_type()))
                .collect(),
            vec![ColumnStats::default(); plan.columns.len()],
            Vec::new(),
        )
    } else {
        plan.transform(&inputs)
    };
    let mut batch =
        RecordBatch::try_new(plan.schema.clone(), arrays).map_err(|e| Error::Parquet {
            path: PathBuf::from("(batch)"),
            message: e.to_string(),
        })?;
    let mut bad = decoded.bad;
    if !issues.is_empty() {
        let spans = fp.decode.record_spans(chunk);
        let mut keep = vec![true; batch.num_rows()];
        // Issues come from `plan.transform` over this batch: `row` is below its
        // row count (the length of `keep` and `kept`), `column` below the plan's.
        for issue in &issues {
            keep[issue.row] = false;
            let record = decoded.kept.as_ref().map_or(issue.row, |k| k[issue.row]);
            bad.push(BadRecord {
                line: spans.get(record).map_or(chunk.first_line, |s| s.2),
                column: plan.columns[issue.column].name.clone(),
                rule: issue.rule.to_string(),
            });
        }
        batch = arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
            .map_err(|e| Error::Parquet {
                path: PathBuf::from("(batch)"),
                message: e.to_string(),
            })?;
        bad.sort_by_key(|b| b.line);
    }
    Ok(ChunkResult {
        file: chunk.file,
        fatal: None,
        batch,
        stats,
        bad,
        rows_read: chunk.records as u64,
        bytes: chunk.data.len() as u64,
    })
}

/// Run `anonymize`: every input through `schema` under `key` into `opts.output`.
pub fn anonymize(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
) -> Result<Summary> {
    run(schema, key, opts, reporter, true)
}

/// Read, decode and transform every input exactly as `anonymize` would, but
/// write nothing (`opts.output` is ignored). Used by `check` to validate a
/// dump against its schema with the same parsers and normalizers.
pub fn dry_run(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
) -> Result<Summary> {
    run(schema, key, opts, reporter, false)
}

fn run(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    write: bool,
) -> Result<Summary> {
    let started = Instant::now();
    if opts.inputs.is_empty() {
        return Err(Error::Usage("no input files".into()));
    }
    if write {
        check_output_path(&opts.output, &opts.inputs)?;
    }
    let plan = BatchPlan::new(schema, key);
    let declared: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();

    // Open every input and check every header before anything is written.
    let mut inputs = Vec::with_capacity(opts.inputs.len());
    let mut file_plans = Vec::with_capacity(opts.inputs.len());
    let mut undeclared = Vec::new();
    let mut total_bytes = 0;
    for path in &opts.inputs {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::Usage(format!(
                "input {} is a directory",
                path.display()
            )));
        }
        total_bytes += meta.len();
        let input = CsvInput::open(path, schema.input.delimiter, schema.input.header, &declared)?;
        file_plans.push(plan_file(
            &input,
            schema,
            &plan,
            opts.drop_undeclared,
            &mut undeclared,
            reporter,
        )?);
        inputs.push(input);
    }
    if let Some(sig) = reporter.interrupted() {
        return Err(Error::Interrupted(sig));
    }
    reporter.start(total_bytes);

    let mut sink = if write {
        Some(ParquetSink::create(
            &opts.output,
            plan.schema.clone(),
            provenance(schema, key),
            opts.row_group_rows,
        )?)
    } else {
        None
    };
    let mut rows_discarded = 0u64;

    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("txanon-worker-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {threads} worker threads: {e}")))?;
    let inflight = threads * 2 + 2;
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<(u64, Result<ChunkResult>)>();
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(inflight);
    for _ in 0..inflight {
        let _ = permit_tx.send(());
    }
    let stop = AtomicBool::new(false);

    let mut stats = vec![ColumnStats::default(); plan.columns.len()];
    let mut rows_read = 0u64;
    let mut bad_rows = 0u64;
    let mut bad_list: Vec<BadRow> = Vec::new();

    // `ChunkResult::file` and `fi` below are indices of `opts.inputs`, which
    // `inputs` and `file_plans` mirror one to one: indexing by them cannot fail.
    let (writer_result, reader_result) = std::thread::scope(|ts| {
        let writer = ts.spawn(|| -> Result<()> {
            let permit_tx = permit_tx;
            let mut pending: BTreeMap<u64, Result<ChunkResult>> = BTreeMap::new();
            let mut next = 0u64;
            let mut bytes_done = 0u64;
            let result = (|| -> Result<()> {
                for (seq, res) in res_rx.iter() {
                    if let Some(sig) = reporter.interrupted() {
                        return Err(Error::Interrupted(sig));
                    }
                    pending.insert(seq, res);
                    while let Some(res) = pending.remove(&next) {
                        let r = res?;
                        if let Some(f) = r.fatal {
                            return Err(Error::BadRecord {
                                path: opts.inputs[r.file].clone(),
                                line: f.line,
                                column: f.column,
                                rule: f.rule,
                            });
                        }
                        rows_read += r.rows_read;
                        bytes_done += r.bytes;
                        for (total, s) in stats.iter_mut().zip(&r.stats) {
                            total.add(s);
                        }
                        for b in r.bad {
                            bad_rows += 1;
                            let row = BadRow {
                                file: opts.inputs[r.file].clone(),
                                line: b.line,
                                column: b.column,
                                rule: b.rule,
                            };
                            if bad_rows > opts.max_bad_rows {
                                return Err(if opts.max_bad_rows == 0 {
                                    Error::BadRecord {
                                        path: row.file,
                                        line: row.line,
                                        column: row.column,
                                        rule: row.rule,
                                    }
                                } else {
                                    Error::TooManyBadRows {
                                        count: bad_rows,
                                        max: opts.max_bad_rows,
                                        first: bad_list
                                            .first()
                                            .map_or_else(|| row.to_string(), |b| b.to_string()),
                                    }
                                });
                            }
                            if bad_list.len() < 1000 {
                                bad_list.push(row);
                            }
                        }
                        match sink.as_mut() {
                            Some(sink) => sink.write(r.batch)?,
                            None => rows_discarded += r.batch.num_rows() as u64,
                        }
                        reporter.progress(bytes_done);
                        next += 1;
                        let _ = permit_tx.send(());
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            result
        });

        let reader_result = pool.in_place_scope(|scope| -> Result<()> {
            let mut seq = 0u64;
            let mut remaining = opts.max_records;
            for (fi, input) in inputs.iter_mut().enumerate() {
                loop {
                    if remaining == Some(0) {
                        return Ok(());
                    }
                    if stop.load(Ordering::SeqCst) || permit_rx.recv().is_err() {
                        return Ok(());
                    }
                    if let Some(sig) = reporter.interrupted() {
                        stop.store(true, Ordering::SeqCst);
                        return Err(Error::Interrupted(sig));
                    }
                    let want = remaining.map_or(opts.batch_rows, |r| {
                        usize::try_from(r)
                            .unwrap_or(usize::MAX)
                            .min(opts.batch_rows)
                    });
                    let chunk = match input.next_chunk(fi, want.max(1)) {
                        Ok(Some(c)) => c,
                        Ok(None) => break,
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            return Err(e);
                        }
                    };
                    if let Some(r) = remaining.as_mut() {
                        *r = r.saturating_sub(chunk.records as u64);
                    }
                    let tx = res_tx.clone();
                    let fp = &file_plans[fi];
                    let plan = &plan;
                    let this = seq;
                    scope.spawn(move |_| {
                        let _ = tx.send((this, process_chunk(&chunk, fp, plan)));
                    });
                    seq += 1;
                }
                if let Some(line) = input.unterminated_quote_line() {
                    if permit_rx.recv().is_err() {
                        return Ok(());
                    }
                    let _ = res_tx.send((
                        seq,
                        Ok(ChunkResult {
                            file: fi,
                            fatal: None,
                            batch: RecordBatch::new_empty(plan.schema.clone()),
                            stats: vec![ColumnStats::default(); plan.columns.len()],
                            bad: vec![BadRecord {
                                line,
                                column: "(record)".into(),
                                rule: "unterminated quoted field at end of file".into(),
                            }],
                            rows_read: 1,
                            bytes: 0,
                        }),
                    ));
                    seq += 1;
                }
            }
            Ok(())
        });
        drop(res_tx);
        let writer_result = writer.join().unwrap_or_else(|_| {
            Err(Error::Usage(
                "internal error: writer thread panicked".into(),
            ))
        });
        (writer_result, reader_result)
    });
    // A writer error is the root cause when both failed (the reader stops because of it).
    writer_result?;
    reader_result?;
    if let Some(sig) = reporter.interrupted() {
        return Err(Error::Interrupted(sig));
    }
    let rows_written = match sink {
        Some(sink) => {
            let rows = sink.rows();
            sink.finish(vec![("txanon.rows".into(), rows.to_string())])?;
            rows
        }
        None => rows_discarded,
    };

    let elapsed = started.elapsed().as_secs_f64();
    let mut plan_stats = plan.columns.iter().zip(stats);
    let columns = schema
        .columns
        .iter()
        .map(|c| {
            let stats = if c.action == Action::Drop {
                ColumnStats::default()
            } else {
                plan_stats.next().map(|(_, s)| s).unwrap_or_default()
            };
            ColumnSummary {
                name: c.name.clone(),
                output: (c.action != Action::Drop).then(|| c.output.clone()),
                action: c.action.name(),
                stats,
            }
        })
        .collect();
    Ok(Summary {
        txanon_version: env!("CARGO_PKG_VERSION"),
        schema: format!("{} v{}", schema.name, schema.version),
        inputs: opts.inputs.clone(),
        output: opts.output.clone(),
        rows_read,
        rows_written,
        bad_rows,
        bad_row_list: bad_list,
        undeclared_dropped: undeclared,
        columns,
        input_bytes: total_bytes,
        elapsed_seconds: elapsed,
        rows_per_second: rows_read as f64 / elapsed.max(1e-9),
        mib_per_second: total_bytes as f64 / (1024.0 * 1024.0) / elapsed.max(1e-9),
        key_fingerprint: key.fingerprint(),
        demo_key: key.is_demo(),
        threads,
    })
}
