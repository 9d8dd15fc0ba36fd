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
//! succeeded (see [`crate::io::parquet_writer`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch, StringArray};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::csv::BadRecord;
use crate::io::input::{decode_unit, open_for_plan, FilePlan, OpenOptions, Unit};
use crate::io::output::{check_targets, commit, Staged, Target};
use crate::io::parquet_writer::{
    DatasetSink, ParquetSink, PartInfo, WriterSettings, DEFAULT_ROW_GROUP_ROWS,
};
use crate::key::MasterKey;
use crate::schema::{Action, Schema};
use crate::transform::batch::{BatchPlan, ColumnStats};

/// The label written into every output file. Keyed tokens are pseudonyms.
pub const OUTPUT_LABEL: &str = "pseudonymised personal data";

/// Token spec version written into outputs (docs/TOKEN-SPEC.md). v1.1 pins
/// the e-mail domain's UTS #46 profile; every value valid under v1 and v1.1
/// has the same token under both.
pub const TOKEN_SPEC: &str = "v1.1";

/// Token spec versions whose outputs `check` accepts.
pub const KNOWN_TOKEN_SPECS: [&str; 2] = ["v1", TOKEN_SPEC];

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
    /// Rows per Parquet row group (`None`: `[output].row_group_rows`, else the default).
    pub row_group_rows: Option<usize>,
    /// Write a directory of part files (Hive-partitioned with `partition_by`)
    /// instead of one file.
    pub directory: bool,
    /// Output column whose values name the partitions (`col=value/`).
    pub partition_by: Option<String>,
    /// Also write the manifest here (directory outputs always get `_manifest.json`).
    pub manifest: Option<PathBuf>,
    /// Stop after this many records (all inputs together); `None` reads everything.
    pub max_records: Option<u64>,
    /// Files the run reads besides its inputs, each with what it is (`the
    /// schema`, `the key file`): no output may replace one.
    pub protected: Vec<(&'static str, PathBuf)>,
    /// Permission bits of every file written (see [`WriterSettings::mode`]).
    pub mode: u32,
    /// Also write the release report here (by the caller, after the run):
    /// checked with the other outputs before any input is read, and every
    /// input's SHA-256 is computed for it.
    pub report: Option<PathBuf>,
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
            row_group_rows: None,
            directory: false,
            partition_by: None,
            manifest: None,
            max_records: None,
            protected: Vec::new(),
            mode: crate::io::output::DEFAULT_MODE,
            report: None,
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

impl BadRow {
    /// Whether the record itself is not well-formed (structure or text
    /// encoding), as opposed to a value failing its column's rule.
    pub fn is_malformed(&self) -> bool {
        self.column == "(record)" || self.column == "(chunk)" || self.rule == "invalid UTF-8"
    }
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

/// Per-input counters kept by the writer.
#[derive(Debug, Clone, Copy, Default)]
struct InputCounts {
    rows_read: u64,
    rows_written: u64,
    bad_rows: u64,
}

/// One input of a run, for the summary and the manifest. Contains no values.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// The file.
    pub path: PathBuf,
    /// `csv`, `ndjson` or `parquet`.
    pub format: &'static str,
    /// `none`, `gzip`, `zstd` (text) or `parquet`.
    pub compression: &'static str,
    /// Declared text encoding (text formats).
    pub encoding: &'static str,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file bytes (computed when a manifest is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Records read.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped under `--max-bad-rows`.
    pub bad_rows: u64,
    /// Tokenized columns that this (Parquet) file stores as numbers, read as decimal text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub numeric_text_columns: Vec<String>,
}

/// What a run did; printed at the end (text or `--json`). Contains no values.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// txanon version.
    pub txanon_version: &'static str,
    /// Schema name and version.
    pub schema: String,
    /// Input files, in reading order, with their counts.
    pub inputs: Vec<InputSummary>,
    /// Output file or directory.
    pub output: PathBuf,
    /// Partition column of a directory output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<String>,
    /// Files of a directory output, relative to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PartInfo>,
    /// Records read (excluding headers and blank lines).
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped under `--max-bad-rows`.
    pub bad_rows: u64,
    /// Of `bad_rows`, those not well-formed (`BadRow::is_malformed`).
    pub malformed_rows: u64,
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
    /// Disclosure-risk figures, when the schema declares `[privacy]`.
    pub privacy: Option<crate::risk::PrivacyReport>,
}

/// Where the rows go.
enum Sink {
    File(ParquetSink),
    Dataset(DatasetSink),
}

impl Sink {
    fn write(&mut self, batch: RecordBatch) -> Result<()> {
        match self {
            Sink::File(s) => s.write(batch),
            Sink::Dataset(s) => s.write(batch),
        }
    }
}

/// Fill in every input's SHA-256 (a sequential read of each file).
fn hash_inputs(
    mut inputs: Vec<InputSummary>,
    reporter: &dyn Reporter,
) -> Result<Vec<InputSummary>> {
    use sha2::Digest;
    use std::io::Read;
    for input in &mut inputs {
        if let Some(sig) = reporter.interrupted() {
            return Err(Error::Interrupted(sig));
        }
        let mut f = std::fs::File::open(&input.path).map_err(|e| Error::io(&input.path, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&input.path, e)),
            };
            hasher.update(&buf[..n]);
        }
        input.sha256 = Some(hex::encode(hasher.finalize()));
    }
    Ok(inputs)
}

/// The manifest: what went in and what came out, with no values. It holds
/// no time stamps, so the same run gives the same bytes.
fn manifest_json(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    inputs: &[InputSummary],
    (rows_written, bad_rows): (u64, u64),
    files: &[PartInfo],
    (privacy, columns): (&[(String, String)], &[ColumnSummary]),
) -> Result<Vec<u8>> {
    let value = serde_json::json!({
        "txanon_version": env!("CARGO_PKG_VERSION"),
        "label": OUTPUT_LABEL,
        "schema": {
            "name": schema.name,
            "version": schema.version,
            "sha256": schema.sha256,
        },
        "token_spec": TOKEN_SPEC,
        "token_context": schema.tokens.context,
        "key_fingerprint": key.fingerprint(),
        "demo_key": key.is_demo(),
        "inputs": inputs,
        "rows": {
            "read": inputs.iter().map(|i| i.rows_read).sum::<u64>(),
            "written": rows_written,
            "skipped": bad_rows,
        },
        "partition_by": opts.partition_by,
        "files": files,
        "columns": columns,
        "privacy": privacy
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    let mut bytes = serde_json::to_vec_pretty(&value)
        .map_err(|e| Error::Usage(format!("internal error: manifest: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Refuse outputs that are not new regular files or that would replace a
/// file the run reads or another of its outputs (see [`crate::io::output`]).
pub fn check_outputs(opts: &AnonymizeOptions) -> Result<()> {
    let mut targets = vec![if opts.directory {
        Target::directory(&opts.output, "output")
    } else {
        Target::file(&opts.output, "output")
    }];
    if let Some(m) = &opts.manifest {
        targets.push(Target::file(m, "--manifest"));
    }
    if let Some(r) = &opts.report {
        targets.push(Target::file(r, "--report"));
    }
    check_targets(&targets, &opts.inputs, &opts.protected)
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
}

fn process_chunk(unit: &Unit, fp: &FilePlan, plan: &BatchPlan) -> Result<ChunkResult> {
    let decoded = decode_unit(unit, fp)?;
    if decoded.fatal.is_some() {
        return Ok(ChunkResult {
            file: unit.file(),
            fatal: decoded.fatal,
            batch: RecordBatch::new_empty(plan.schema.clone()),
            stats: vec![ColumnStats::default(); plan.columns.len()],
            bad: Vec::new(),
            rows_read: 0,
        });
    }
    let (arrays, stats, issues) = if decoded.rows == 0 {
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
        let inputs: Vec<&StringArray> = decoded
            .columns
            .iter()
            .map(|c| c.as_any().downcast_ref::<StringArray>())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Usage("internal error: decoded column is not text".into()))?;
        plan.transform(&inputs)
    };
    let mut batch =
        RecordBatch::try_new(plan.schema.clone(), arrays).map_err(|e| Error::Parquet {
            path: PathBuf::from("(batch)"),
            message: e.to_string(),
        })?;
    let mut bad = decoded.bad;
    if !issues.is_empty() {
        let mut spans = None;
        let mut keep = vec![true; batch.num_rows()];
        // Issues come from `plan.transform` over this batch: `row` is below its
        // row count (the length of `keep` and `kept`), `column` below the plan's.
        for issue in &issues {
            keep[issue.row] = false;
            let record = decoded.kept.as_ref().map_or(issue.row, |k| k[issue.row]);
            bad.push(BadRecord {
                line: unit.line_of(fp, &mut spans, record),
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
        file: unit.file(),
        fatal: None,
        batch,
        stats,
        bad,
        rows_read: unit.records() as u64,
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

/// Outcome of one pass over the inputs.
enum Pass {
    Done(Box<Summary>),
    /// The `[privacy]` gate asks for a second pass without these classes.
    Suppress(crate::risk::Suppression),
}

fn run(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    write: bool,
) -> Result<Summary> {
    if schema.privacy.as_ref().is_some_and(|p| p.search.is_some()) {
        let (pinned, suppression) = search(schema, key, opts, reporter, write)?;
        return match run_pass(&pinned, key, opts, reporter, write, Some(suppression), None)? {
            Pass::Done(summary) => Ok(*summary),
            Pass::Suppress(_) => Err(Error::Privacy(
                "the chosen generalization did not reach min_k when written; nothing was written"
                    .into(),
            )),
        };
    }
    // `on_violation = "suppress"` needs the class sizes before rows are
    // written: when the first pass finds classes below min_k, its output is
    // discarded (never renamed into place) and a second pass over the inputs
    // writes the rows of the other classes. See crate::risk.
    match run_pass(schema, key, opts, reporter, write, None, None)? {
        Pass::Done(summary) => Ok(*summary),
        Pass::Suppress(classes) => {
            reporter.warn(&format!(
                "privacy: {} class(es) with fewer than [privacy].min_k = {} distinct entities ({}); \
                 suppressing their rows in a second pass over the input",
                classes.len(),
                schema.privacy.as_ref().map_or(0, |p| p.min_k),
                schema.privacy.as_ref().map_or("row", |p| p.entity.name())
            ));
            match run_pass(schema, key, opts, reporter, write, Some(classes), None)? {
                Pass::Done(summary) => Ok(*summary),
                Pass::Suppress(_) => Err(Error::Privacy(
                    "suppression did not converge; nothing was written".into(),
                )),
            }
        }
    }
}

/// `[privacy] search = "auto"`: one pass collecting every level of every
/// ladder (nothing written), then the choice (see [`crate::risk::search`]).
/// Returns the schema with the chosen levels pinned and the classes to
/// suppress.
fn search(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    write: bool,
) -> Result<(Schema, crate::risk::Suppression)> {
    let started = Instant::now();
    if write {
        check_outputs(opts)?;
    }
    let expanded = crate::risk::search::expand(schema)?;
    // Spill files go next to the output (see crate::risk::search).
    let spill_dir = match opts.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut collector = crate::risk::search::Collector::new(schema, &spill_dir)?;
    run_pass(
        &expanded,
        key,
        opts,
        reporter,
        false,
        None,
        Some(&mut collector),
    )?;
    let (mut pinned, suppression, chosen) =
        collector.choose(schema, opts.threads, &|| reporter.interrupted())?;
    if let Some(c) = pinned.privacy.as_mut().and_then(|p| p.chosen.as_mut()) {
        c.search_seconds = started.elapsed().as_secs_f64();
    }
    reporter.warn(&format!(
        "privacy: search chose [{}] ({}), suppressing {} row(s); writing it",
        chosen.vector(),
        chosen.node(),
        chosen.suppressed_rows
    ));
    Ok((pinned, suppression))
}

/// `privacy-search`: the collecting pass of [`search`], then every node
/// evaluated (nothing is written).
pub fn privacy_frontier(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
) -> Result<crate::risk::search::Frontier> {
    let expanded = crate::risk::search::expand(schema)?;
    let mut collector = crate::risk::search::Collector::new(schema, &std::env::temp_dir())?;
    run_pass(
        &expanded,
        key,
        opts,
        reporter,
        false,
        None,
        Some(&mut collector),
    )?;
    collector.frontier(opts.threads, &|| reporter.interrupted())
}

fn run_pass(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    write: bool,
    suppress: Option<crate::risk::Suppression>,
    mut collector: Option<&mut crate::risk::search::Collector>,
) -> Result<Pass> {
    let started = Instant::now();
    if opts.inputs.is_empty() {
        return Err(Error::Usage("no input files".into()));
    }
    if write {
        check_outputs(opts)?;
    }
    let plan = BatchPlan::new(schema, key);
    let mut meter = schema
        .privacy
        .as_ref()
        .map(|p| crate::risk::RiskMeter::new(p, suppress));

    // Open every input and check every header before anything is written.
    let raw_bytes = Arc::new(AtomicU64::new(0));
    let warn = |m: &str| reporter.warn(m);
    let open_opts = OpenOptions {
        drop_undeclared: opts.drop_undeclared,
        batch_rows: opts.batch_rows,
        raw_bytes: raw_bytes.clone(),
        warn: &warn,
    };
    let mut readers = Vec::with_capacity(opts.inputs.len());
    let mut file_plans = Vec::with_capacity(opts.inputs.len());
    let mut undeclared = Vec::new();
    let mut total_bytes = 0;
    let mut input_sizes = Vec::with_capacity(opts.inputs.len());
    for path in &opts.inputs {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::Usage(format!(
                "input {} is a directory",
                path.display()
            )));
        }
        total_bytes += meta.len();
        input_sizes.push(meta.len());
        let (reader, fp) = open_for_plan(path, schema, &plan.inputs, &open_opts, &mut undeclared)?;
        readers.push(reader);
        file_plans.push(fp);
    }
    if let Some(sig) = reporter.interrupted() {
        return Err(Error::Interrupted(sig));
    }
    reporter.start(total_bytes);

    let threads = opts.threads.max(1);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("txanon-worker-{i}"))
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {threads} worker threads: {e}")))?,
    );
    let settings = WriterSettings {
        output: schema.output.clone(),
        row_group_rows: opts
            .row_group_rows
            .or(schema.output.row_group_rows)
            .unwrap_or(DEFAULT_ROW_GROUP_ROWS),
        token_columns: schema
            .columns
            .iter()
            .filter(|c| matches!(c.action, Action::Tokenize { .. }))
            .map(|c| c.output.clone())
            .collect(),
        metadata: provenance(schema, key),
        pool: Some(pool.clone()),
        mode: opts.mode,
    };
    let mut sink = match (write, opts.directory) {
        (false, _) => None,
        (true, false) => Some(Sink::File(ParquetSink::create(
            &opts.output,
            plan.schema.clone(),
            &settings,
        )?)),
        (true, true) => Some(Sink::Dataset(DatasetSink::create(
            &opts.output,
            plan.schema.clone(),
            &settings,
            opts.partition_by.as_deref(),
            schema.output.max_file_rows,
        )?)),
    };
    let mut rows_discarded = 0u64;

    let inflight = threads * 2 + 2;
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<(u64, Result<ChunkResult>)>();
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(inflight);
    for _ in 0..inflight {
        let _ = permit_tx.send(());
    }
    let stop = AtomicBool::new(false);

    let mut stats = vec![ColumnStats::default(); plan.columns.len()];
    let mut per_input = vec![InputCounts::default(); opts.inputs.len()];
    let mut rows_read = 0u64;
    let mut bad_rows = 0u64;
    let mut malformed_rows = 0u64;
    let mut bad_list: Vec<BadRow> = Vec::new();

    // `ChunkResult::file` and `fi` below are indices of `opts.inputs`, which
    // `inputs` and `file_plans` mirror one to one: indexing by them cannot fail.
    let (writer_result, reader_result) = std::thread::scope(|ts| {
        let writer = ts.spawn(|| -> Result<()> {
            let permit_tx = permit_tx;
            let mut pending: BTreeMap<u64, Result<ChunkResult>> = BTreeMap::new();
            let mut next = 0u64;
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
                        let counts = &mut per_input[r.file];
                        counts.rows_read += r.rows_read;
                        counts.bad_rows += r.bad.len() as u64;
                        counts.rows_written += r.batch.num_rows() as u64;
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
                            if row.is_malformed() {
                                malformed_rows += 1;
                            }
                            if bad_list.len() < 1000 {
                                bad_list.push(row);
                            }
                        }
                        let batch = match meter.as_mut() {
                            Some(m) => m.observe_batch(r.batch)?,
                            None => r.batch,
                        };
                        if let Some(c) = collector.as_deref_mut() {
                            c.observe(&batch)?;
                        }
                        match sink.as_mut() {
                            Some(sink) => sink.write(batch)?,
                            None => rows_discarded += batch.num_rows() as u64,
                        }
                        reporter.progress(raw_bytes.load(Ordering::Relaxed));
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
            for (fi, reader) in readers.iter_mut().enumerate() {
                loop {
                    if remaining == Some(0) {
                        return Ok(());
                    }
                    if stop.load(Ordering::SeqCst) {
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
                    let next = reader.next_unit(fi, want, &raw_bytes);
                    let unit = match next {
                        Ok(Some(u)) => u,
                        Ok(None) => break,
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            return Err(e);
                        }
                    };
                    // The permit is taken only for a unit that exists: taken
                    // before the read, the end of every input file would leak
                    // one, and a run over more files than permits would stall.
                    if stop.load(Ordering::SeqCst) || permit_rx.recv().is_err() {
                        return Ok(());
                    }
                    if let Some(r) = remaining.as_mut() {
                        *r = r.saturating_sub(unit.records() as u64);
                    }
                    let tx = res_tx.clone();
                    let fp = &file_plans[fi];
                    let plan = &plan;
                    let this = seq;
                    scope.spawn(move |_| {
                        // A panic in a worker must end the run with an error: a
                        // result that never arrives would leave the writer
                        // waiting for it and the reader waiting for a permit.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            process_chunk(&unit, fp, plan)
                        }))
                        .unwrap_or_else(|_| {
                            Err(Error::Usage(
                                "internal error: a worker thread panicked; nothing was written \
                                 (please report)"
                                    .into(),
                            ))
                        });
                        let _ = tx.send((this, result));
                    });
                    seq += 1;
                }
                let unterminated = reader.unterminated_quote_line();
                if let Some(line) = unterminated {
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
    let inputs: Vec<InputSummary> = opts
        .inputs
        .iter()
        .zip(&file_plans)
        .zip(&readers)
        .zip(per_input)
        .zip(input_sizes)
        .map(|((((path, fp), reader), counts), bytes)| InputSummary {
            path: path.clone(),
            format: fp.format,
            compression: reader.compression_name(),
            encoding: reader.encoding_name(path, schema),
            bytes,
            sha256: None,
            rows_read: counts.rows_read,
            rows_written: counts.rows_written,
            bad_rows: counts.bad_rows,
            numeric_text_columns: fp.numeric_text.clone(),
        })
        .collect();
    let want_manifest =
        write && (opts.directory || opts.manifest.is_some() || opts.report.is_some());
    let inputs = if want_manifest {
        hash_inputs(inputs, reporter)?
    } else {
        inputs
    };
    let privacy = match meter.as_ref().map(|m| m.verdict(write)).transpose()? {
        Some(crate::risk::Verdict::Suppress(classes)) => return Ok(Pass::Suppress(classes)),
        Some(crate::risk::Verdict::Release(report)) => Some(*report),
        None => None,
    };
    let mut plan_stats = plan.columns.iter().zip(stats).peekable();
    let mut columns = Vec::with_capacity(plan.columns.len());
    for c in &schema.columns {
        let stats = if c.action == Action::Drop {
            ColumnStats::default()
        } else {
            plan_stats.next().map(|(_, s)| s).unwrap_or_default()
        };
        columns.push(ColumnSummary {
            name: c.name.clone(),
            output: (c.action != Action::Drop).then(|| c.output.clone()),
            action: c.action.name(),
            stats,
        });
        while let Some((p, s)) = plan_stats.next_if(|(p, _)| p.derived) {
            columns.push(ColumnSummary {
                name: c.name.clone(),
                output: Some(p.output.clone()),
                action: "derive",
                stats: s,
            });
        }
    }
    let privacy_metadata = crate::risk::metadata(schema, privacy.as_ref());
    let manifest = |rows: u64, files: &[PartInfo]| {
        manifest_json(
            schema,
            key,
            opts,
            &inputs,
            (rows, bad_rows),
            files,
            (&privacy_metadata, &columns),
        )
    };
    // The data is closed and fsync'd first, the manifest staged after it,
    // and both renamed into place together, data first: a failure before
    // the data's rename (a full disk) leaves neither, and no manifest ever
    // describes rows that are not in place (io::output::commit).
    let (rows_written, files) = match sink {
        Some(Sink::File(sink)) => {
            let rows = sink.rows();
            let (_, data) = sink.close(privacy_metadata.clone())?;
            let mut staged = vec![data];
            if let Some(m) = &opts.manifest {
                staged.push(Staged::file(m, &manifest(rows, &[])?, opts.mode)?);
            }
            commit(staged)?;
            (rows, Vec::new())
        }
        Some(Sink::Dataset(sink)) => {
            let rows = sink.rows();
            // The dataset's _manifest.json and `--manifest PATH` hold the
            // same bytes: build them once.
            let mut built = None;
            let (files, data) = sink.close(|files| {
                let bytes = manifest(rows, files)?;
                if opts.manifest.is_some() {
                    built = Some(bytes.clone());
                }
                Ok(bytes)
            })?;
            let mut staged = vec![data];
            if let (Some(m), Some(bytes)) = (&opts.manifest, &built) {
                staged.push(Staged::file(m, bytes, opts.mode)?);
            }
            commit(staged)?;
            (rows, files)
        }
        None => (rows_discarded, Vec::new()),
    };

    let elapsed = started.elapsed().as_secs_f64();
    Ok(Pass::Done(Box::new(Summary {
        txanon_version: env!("CARGO_PKG_VERSION"),
        schema: format!("{} v{}", schema.name, schema.version),
        inputs,
        output: opts.output.clone(),
        partition_by: opts.partition_by.clone(),
        files,
        rows_read,
        rows_written,
        bad_rows,
        malformed_rows,
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
        privacy,
    })))
}
