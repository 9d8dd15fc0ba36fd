//! The `anonymize` run: read → transform → write, streaming and parallel.
//!
//! ```text
//!  reader (this thread)        rayon pool (N threads)           writer thread
//!  chunk records ──permit──▶  decode (arrow-csv) + transform ──▶ reorder by seq ──▶ Sink
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
//!
//! The parts, each in its own module: [`ordered`] (the permit and reorder
//! loop above, a worker panic turned into an error), [`chunk`] (decode and
//! transform one unit), [`summary`] (the tallies, the `--max-bad-rows`
//! policy and the summary), [`sink`] (file, directory, partitioned or null
//! output), [`manifest`] and [`provenance`] (what the output says about
//! itself).

pub mod chunk;
pub mod manifest;
pub mod ordered;
pub mod provenance;
pub mod sink;
pub mod summary;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::input::{open_for_plan, FilePlan, OpenOptions, Reader, Unit};
use crate::io::output::{check_targets, Target};
use crate::io::parquet_writer::{WriterSettings, DEFAULT_ROW_GROUP_ROWS};
use crate::key::MasterKey;
use crate::schema::{Action, Schema};
use crate::transform::batch::BatchPlan;
use chunk::{process_chunk, ChunkResult};
use manifest::{hash_inputs, Manifest};
use ordered::{run_ordered, Task};
use sink::{Finish, Output, Sink};
use summary::{column_summaries, InputCounts, Tally};

pub use provenance::{provenance, KNOWN_TOKEN_SPECS, OUTPUT_LABEL, TOKEN_SPEC};
pub use summary::{BadRow, ColumnSummary, InputSummary, SkippedInput, Summary};

/// Why `--append` refuses `[privacy] search = "auto"`.
pub const APPEND_SEARCH: &str =
    "--append with [privacy] search = \"auto\" is not supported: a new search could choose \
     other generalization levels than the dataset's part files have; nothing was read or written";

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
    /// Add the rows to this existing dataset as a new generation instead of
    /// writing a new output (`--append`; `output` is the dataset).
    pub append: Option<AppendTo>,
}

/// The dataset an `--append` run adds a generation to.
#[derive(Debug, Clone)]
pub struct AppendTo {
    /// Its committed state, checked compatible with the run's schema and key.
    pub current: crate::dataset::Current,
    /// The SHA-256 of each input (computed before, to skip known inputs).
    pub sha256: Vec<String>,
    /// `--replace-changed`: the generations whose rows go with this one.
    pub removal: Option<crate::dataset::Removal>,
}

impl AppendTo {
    /// The manifest this generation builds on: the dataset's, without the
    /// generations `--replace-changed` removes.
    pub fn base(&self) -> &serde_json::Value {
        self.removal
            .as_ref()
            .map_or(&self.current.manifest, |r| &r.base)
    }
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
            append: None,
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

/// Something that sees every transformed batch of a pass, in input order
/// (the privacy search's collector, the aggregate release's accumulator).
pub trait BatchObserver: Send {
    /// Account for one batch of output rows.
    fn observe(&mut self, batch: &arrow_array::RecordBatch) -> Result<()>;
}

impl BatchObserver for crate::risk::search::Collector {
    fn observe(&mut self, batch: &arrow_array::RecordBatch) -> Result<()> {
        crate::risk::search::Collector::observe(self, batch)
    }
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

/// Refuse outputs that are not new regular files or that would replace a
/// file the run reads or another of its outputs (see [`crate::io::output`]).
pub fn check_outputs(opts: &AnonymizeOptions) -> Result<()> {
    let mut targets = Vec::new();
    // An appended dataset exists; its new files get new names (crate::dataset).
    if opts.append.is_none() {
        targets.push(if opts.directory {
            Target::directory(&opts.output, "output")
        } else {
            Target::file(&opts.output, "output")
        });
    }
    if let Some(m) = &opts.manifest {
        targets.push(Target::file(m, "--manifest"));
    }
    if let Some(r) = &opts.report {
        targets.push(Target::file(r, "--report"));
    }
    check_targets(&targets, &opts.inputs, &opts.protected)
}

/// Run `anonymize`: every input through `schema` under `key` into `opts.output`.
pub fn anonymize(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
) -> Result<Summary> {
    let output = if opts.directory {
        Output::Directory {
            path: &opts.output,
            partition_by: opts.partition_by.as_deref(),
            max_file_rows: schema.output.max_file_rows,
            generation: opts.append.as_ref().map(|a| a.current.generation + 1),
        }
    } else {
        Output::File(&opts.output)
    };
    run(schema, key, opts, reporter, output)
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
    run(schema, key, opts, reporter, Output::Null)
}

/// Read, decode and transform every input exactly as `anonymize` would and
/// hand each output batch to `observer`; nothing is written and the
/// `[privacy]` gate is not applied (the caller decides what the rows are
/// for). Used by `aggregate`.
pub fn observe(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    observer: &mut dyn BatchObserver,
) -> Result<Summary> {
    let mut schema = schema.clone();
    schema.privacy = None;
    match run_pass(
        &schema,
        key,
        opts,
        reporter,
        Output::Null,
        None,
        Some(observer),
    )? {
        Pass::Done(summary) => Ok(*summary),
        Pass::Suppress(_) => Err(Error::Internal(
            "a pass without [privacy] asked for suppression".into(),
        )),
    }
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
    output: Output<'_>,
) -> Result<Summary> {
    if opts.append.is_some() && schema.privacy.as_ref().is_some_and(|p| p.search.is_some()) {
        // A new search could choose other levels than the dataset's.
        return Err(Error::Usage(APPEND_SEARCH.into()));
    }
    if schema.privacy.as_ref().is_some_and(|p| p.search.is_some()) {
        let (pinned, suppression) = search(schema, key, opts, reporter, output)?;
        return match run_pass(
            &pinned,
            key,
            opts,
            reporter,
            output,
            Some(suppression),
            None,
        )? {
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
    match run_pass(schema, key, opts, reporter, output, None, None)? {
        Pass::Done(summary) => Ok(*summary),
        Pass::Suppress(classes) => {
            reporter.warn(&format!(
                "privacy: {} class(es) with fewer than [privacy].min_k = {} distinct entities ({}); \
                 suppressing their rows in a second pass over the input",
                classes.len(),
                schema.privacy.as_ref().map_or(0, |p| p.min_k),
                schema.privacy.as_ref().map_or("row", |p| p.entity.name())
            ));
            match run_pass(schema, key, opts, reporter, output, Some(classes), None)? {
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
    output: Output<'_>,
) -> Result<(Schema, crate::risk::Suppression)> {
    let started = Instant::now();
    if output != Output::Null {
        check_outputs(opts)?;
    }
    let expanded = crate::risk::search::expand(schema)?;
    // Spill files go next to the output (see crate::risk::search).
    let spill_dir = crate::io::spill::spill_dir(Some(opts.output.as_path()));
    let mut collector = crate::risk::search::Collector::new(schema, &spill_dir)?;
    let collect: Option<&mut dyn BatchObserver> = Some(&mut collector);
    run_pass(&expanded, key, opts, reporter, Output::Null, None, collect)?;
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
    let collect: Option<&mut dyn BatchObserver> = Some(&mut collector);
    run_pass(&expanded, key, opts, reporter, Output::Null, None, collect)?;
    collector.frontier(opts.threads, &|| reporter.interrupted())
}

/// Every input of a run, opened and its header checked.
struct Inputs {
    readers: Vec<Reader>,
    plans: Vec<FilePlan>,
    /// Undeclared columns dropped under `--drop-undeclared`.
    undeclared: Vec<String>,
    /// File sizes, and their sum.
    sizes: Vec<u64>,
    total_bytes: u64,
}

/// Open every input and check every header before anything is written.
fn open_inputs(
    schema: &Schema,
    plan: &BatchPlan,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    raw_bytes: &Arc<AtomicU64>,
) -> Result<Inputs> {
    let warn = |m: &str| reporter.warn(m);
    let open_opts = OpenOptions {
        drop_undeclared: opts.drop_undeclared,
        batch_rows: opts.batch_rows,
        raw_bytes: raw_bytes.clone(),
        warn: &warn,
    };
    let mut inputs = Inputs {
        readers: Vec::with_capacity(opts.inputs.len()),
        plans: Vec::with_capacity(opts.inputs.len()),
        undeclared: Vec::new(),
        sizes: Vec::with_capacity(opts.inputs.len()),
        total_bytes: 0,
    };
    for path in &opts.inputs {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::Usage(format!(
                "input {} is a directory",
                path.display()
            )));
        }
        inputs.total_bytes += meta.len();
        inputs.sizes.push(meta.len());
        let (reader, fp) = open_for_plan(
            path,
            schema,
            &plan.inputs,
            &open_opts,
            &mut inputs.undeclared,
        )?;
        inputs.readers.push(reader);
        inputs.plans.push(fp);
    }
    Ok(inputs)
}

impl Inputs {
    /// The units of work, file after file, up to `max_records` records in
    /// all; a file that ends inside a quoted field adds that record as bad.
    fn tasks<'a>(
        &'a mut self,
        opts: &'a AnonymizeOptions,
        plan: &'a BatchPlan,
        reporter: &'a dyn Reporter,
        raw_bytes: &'a AtomicU64,
    ) -> impl FnMut() -> Result<Option<Task<Unit, ChunkResult>>> + 'a {
        let mut remaining = opts.max_records;
        let mut file = 0;
        move || {
            while let Some(reader) = self.readers.get_mut(file) {
                if remaining == Some(0) {
                    return Ok(None);
                }
                stop_if_interrupted(reporter)?;
                let want = remaining.map_or(opts.batch_rows, |r| {
                    usize::try_from(r)
                        .unwrap_or(usize::MAX)
                        .min(opts.batch_rows)
                });
                if let Some(unit) = reader.next_unit(file, want, raw_bytes)? {
                    if let Some(r) = remaining.as_mut() {
                        *r = r.saturating_sub(unit.records() as u64);
                    }
                    return Ok(Some(Task::Run(unit)));
                }
                let ended = file;
                file += 1;
                if let Some(line) = reader.unterminated_quote_line() {
                    return Ok(Some(Task::Ready(ChunkResult::unterminated_quote(
                        ended, line, plan,
                    ))));
                }
            }
            Ok(None)
        }
    }

    /// One summary entry per input, with the counts of `per_input`.
    fn summaries(
        &self,
        opts: &AnonymizeOptions,
        schema: &Schema,
        per_input: &[InputCounts],
    ) -> Vec<InputSummary> {
        opts.inputs
            .iter()
            .zip(&self.plans)
            .zip(&self.readers)
            .zip(per_input)
            .zip(&self.sizes)
            .map(|((((path, fp), reader), counts), bytes)| InputSummary {
                path: path.clone(),
                format: fp.format,
                compression: reader.compression_name(),
                encoding: reader.encoding_name(path, schema),
                bytes: *bytes,
                sha256: None,
                rows_read: counts.rows_read,
                rows_written: counts.rows_written,
                bad_rows: counts.bad_rows,
                numeric_text_columns: fp.numeric_text.clone(),
            })
            .collect()
    }
}

/// `Err(Interrupted)` once a signal asked the run to stop.
fn stop_if_interrupted(reporter: &dyn Reporter) -> Result<()> {
    match reporter.interrupted() {
        Some(sig) => Err(Error::Interrupted(sig)),
        None => Ok(()),
    }
}

/// The pool that decodes and transforms chunks (and encodes row groups).
fn worker_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("txanon-worker-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Usage(format!("cannot start {threads} worker threads: {e}")))
}

/// The writer settings of a run: the schema's `[output]`, the footer, the pool.
fn writer_settings(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    pool: &Arc<rayon::ThreadPool>,
) -> WriterSettings {
    WriterSettings {
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
    }
}

fn run_pass(
    schema: &Schema,
    key: &MasterKey,
    opts: &AnonymizeOptions,
    reporter: &dyn Reporter,
    output: Output<'_>,
    suppress: Option<crate::risk::Suppression>,
    mut collector: Option<&mut dyn BatchObserver>,
) -> Result<Pass> {
    let started = Instant::now();
    if opts.inputs.is_empty() {
        return Err(Error::Usage("no input files".into()));
    }
    let writes = output != Output::Null;
    if writes {
        check_outputs(opts)?;
    }
    let plan = BatchPlan::new(schema, key);
    // The meter's per-entity spill goes next to the output (a dry run's
    // to the system's temporary directory).
    let spill_dir = crate::io::spill::spill_dir(writes.then_some(opts.output.as_path()));
    let mut meter = (schema.privacy.as_ref())
        .map(|p| crate::risk::RiskMeter::new(p, suppress).with_spill_dir(&spill_dir));
    // An append's gate measures the whole dataset: the earlier generations'
    // rows first, as released (crate::dataset::earlier).
    if let (Some(m), Some(a)) = (meter.as_mut(), opts.append.as_ref()) {
        crate::dataset::earlier::measure_earlier(&a.current, a.base(), m, &|| {
            stop_if_interrupted(reporter)
        })?;
    }
    let raw_bytes = Arc::new(AtomicU64::new(0));
    let mut inputs = open_inputs(schema, &plan, opts, reporter, &raw_bytes)?;
    stop_if_interrupted(reporter)?;
    reporter.start(inputs.total_bytes);

    let threads = opts.threads.max(1);
    let pool = worker_pool(threads)?;
    let settings = writer_settings(schema, key, opts, &pool);
    let mut sink = Sink::create(output, plan.schema.clone(), &settings)?;
    let mut tally = Tally::new(&opts.inputs, plan.columns.len(), opts.max_bad_rows);
    let file_plans = std::mem::take(&mut inputs.plans);
    run_ordered(
        &pool,
        threads * 2 + 2,
        inputs.tasks(opts, &plan, reporter, &raw_bytes),
        // Units are numbered by their index in `opts.inputs`, which `file_plans` mirrors.
        |unit| process_chunk(&unit, &file_plans[unit.file()], &plan),
        |chunk| {
            stop_if_interrupted(reporter)?;
            let file = chunk.file;
            let batch = tally.add(chunk)?;
            let batch = match meter.as_mut() {
                Some(m) => {
                    let before = batch.num_rows();
                    let kept = m.observe_batch(batch)?;
                    tally.suppressed(file, before.saturating_sub(kept.num_rows()) as u64);
                    kept
                }
                None => batch,
            };
            if let Some(c) = collector.as_deref_mut() {
                c.observe(&batch)?;
            }
            sink.write(batch)?;
            reporter.progress(raw_bytes.load(Ordering::Relaxed));
            Ok(())
        },
    )?;
    stop_if_interrupted(reporter)?;
    inputs.plans = file_plans;
    let mut input_summaries = inputs.summaries(opts, schema, &tally.per_input);
    match &opts.append {
        Some(a) if writes => {
            for (input, sha) in input_summaries.iter_mut().zip(&a.sha256) {
                input.sha256 = Some(sha.clone());
            }
        }
        _ if writes && (opts.directory || opts.manifest.is_some() || opts.report.is_some()) => {
            hash_inputs(&mut input_summaries, reporter)?;
        }
        _ => {}
    }
    let privacy = match meter.as_mut().map(|m| m.verdict(writes)).transpose()? {
        Some(crate::risk::Verdict::Suppress(classes)) => return Ok(Pass::Suppress(classes)),
        Some(crate::risk::Verdict::Release(report)) => Some(*report),
        None => None,
    };
    let columns = column_summaries(schema, &plan.columns, std::mem::take(&mut tally.stats));
    let privacy_metadata = crate::risk::metadata(schema, privacy.as_ref());
    let earlier = opts.append.as_ref().map(|a| &a.current);
    let removal = opts.append.as_ref().and_then(|a| a.removal.as_ref());
    let (rows_written, files) = sink.finish(Finish {
        footer: privacy_metadata.clone(),
        manifest_path: opts.manifest.as_deref(),
        mode: opts.mode,
        append: earlier,
        remove: removal.map_or(&[][..], |r| &r.files[..]),
        manifest: |rows_written, files: &[_]| {
            Manifest {
                schema,
                key,
                inputs: &input_summaries,
                rows_written,
                bad_rows: tally.bad_rows,
                partition_by: opts.partition_by.as_deref(),
                files,
                privacy: &privacy_metadata,
                columns: &columns,
                earlier: opts.append.as_ref().map(AppendTo::base),
                replaced: removal.map_or(&[][..], |r| &r.replaced[..]),
            }
            .to_json()
        },
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Pass::Done(Box::new(Summary {
        txanon_version: env!("CARGO_PKG_VERSION"),
        schema: format!("{} v{}", schema.name, schema.version),
        inputs: input_summaries,
        output: opts.output.clone(),
        partition_by: opts.partition_by.clone(),
        files,
        rows_read: tally.rows_read,
        rows_written,
        bad_rows: tally.bad_rows,
        malformed_rows: tally.malformed_rows,
        bad_row_list: tally.bad_list,
        undeclared_dropped: inputs.undeclared,
        columns,
        input_bytes: inputs.total_bytes,
        elapsed_seconds: elapsed,
        rows_per_second: tally.rows_read as f64 / elapsed.max(1e-9),
        mib_per_second: inputs.total_bytes as f64 / (1024.0 * 1024.0) / elapsed.max(1e-9),
        key_fingerprint: key.fingerprint(),
        demo_key: key.is_demo(),
        threads,
        privacy,
        generation: earlier.map(|c| c.generation + 1),
        skipped_inputs: Vec::new(),
        replaced_inputs: removal.map(|r| r.replaced.clone()).unwrap_or_default(),
    })))
}
