//! Running a schema on DataFusion (one machine) or Ballista (a cluster).
//!
//! Both engines read each input file as a raw string table (DataFusion's
//! CSV reader, which is arrow-csv like the native reader, with
//! `newlines_in_values` so quoted line breaks are read the same way), apply
//! the compiled projection ([`crate::plan::compile`]) and hand the result
//! batches, file by file in path order, to the core's [`ParquetSink`]: the
//! same writer, row-group cuts and provenance metadata as `txanon anonymize`.
//! So the output file is byte-identical to the native run over the same
//! files in the same order.
//!
//! Parallelism is across files: up to `threads` files are in flight at once
//! (each a DataFusion stream, or a Ballista job whose tasks run on the
//! executors), each at most a bounded number of batches ahead of the writer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::{CsvReadOptions, DataFrame};
use futures::StreamExt;
use txanon::io::output::{check_targets, Target};
use txanon::io::parquet_writer::{ParquetSink, WriterSettings};
use txanon::pipeline::provenance;
use txanon::schema::Schema;

use crate::plan::{compile, InputLayout};
use crate::udf::{StatsByColumn, Udfs};

/// Where the plan runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// A local DataFusion session.
    DataFusion,
    /// A Ballista cluster, by scheduler URL (`df://host:port`).
    Ballista {
        /// Scheduler URL.
        scheduler: String,
    },
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Input CSV files.
    pub inputs: Vec<PathBuf>,
    /// Target Parquet file.
    pub output: PathBuf,
    /// Partitions transformed at once (local engine).
    pub threads: usize,
    /// Drop undeclared input columns instead of failing.
    pub drop_undeclared: bool,
    /// Rows per DataFusion batch.
    pub batch_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Files the run reads besides its inputs (schema, key file), each with
    /// what it is: the output may not replace one.
    pub protected: Vec<(&'static str, PathBuf)>,
    /// Permission bits of the output file (`--mode`).
    pub mode: u32,
}

/// What a run did (no values).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// `datafusion` or `ballista`.
    pub engine: &'static str,
    /// Input files in the order read.
    pub inputs: Vec<PathBuf>,
    /// Output file.
    pub output: PathBuf,
    /// Rows written.
    pub rows_written: u64,
    /// Undeclared columns dropped.
    pub undeclared_dropped: Vec<String>,
    /// Per-column counts (local engine only; Ballista's live on the executors).
    pub columns: StatsByColumn,
    /// Wall time.
    pub elapsed_seconds: f64,
    /// Public fingerprint of the key.
    pub key_fingerprint: String,
}

/// A session for `engine` with the UDFs of `udfs` registered.
pub async fn session(
    engine: &Engine,
    udfs: &Udfs,
    threads: usize,
    batch_rows: usize,
) -> anyhow::Result<SessionContext> {
    let tune = |c: SessionConfig| {
        c.with_target_partitions(threads.max(1))
            .with_batch_size(batch_rows.max(1))
            // Keep partitions = files, in path order: no round-robin
            // shuffles and no byte-range splits of a file.
            .with_round_robin_repartition(false)
            .with_repartition_file_scans(false)
    };
    let ctx = match engine {
        Engine::DataFusion => {
            let state = SessionStateBuilder::new()
                .with_config(tune(SessionConfig::new()))
                .with_default_features()
                .build();
            SessionContext::new_with_state(state)
        }
        Engine::Ballista { scheduler } => {
            use ballista::prelude::{SessionConfigExt, SessionContextExt};
            let state = SessionStateBuilder::new()
                .with_config(tune(SessionConfig::new_with_ballista()))
                .with_default_features()
                .build();
            SessionContext::remote_with_state(scheduler, state)
                .await
                .with_context(|| format!("cannot reach the Ballista scheduler at {scheduler}"))?
        }
    };
    for u in udfs.all() {
        ctx.register_udf(u.as_ref().clone());
    }
    Ok(ctx)
}

/// The raw table of `layout` as a DataFrame (columns `c0..cN`, all strings).
pub async fn read_raw(
    ctx: &SessionContext,
    schema: &Schema,
    layout: &InputLayout,
) -> anyhow::Result<DataFrame> {
    let raw = layout.raw_schema();
    let paths: Vec<String> = layout
        .files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let options = CsvReadOptions::new()
        .has_header(schema.input.header)
        .delimiter(schema.input.dialect.delimiter)
        .schema(&raw)
        .file_extension("")
        .newlines_in_values(true);
    ctx.read_csv(paths, options)
        .await
        .context("cannot set up the CSV scan")
}

/// Run `schema` over the inputs on `engine` and write `opts.output`.
pub async fn anonymize(
    engine: &Engine,
    schema: &Schema,
    udfs: &Udfs,
    opts: &RunOptions,
    warn: &dyn Fn(&str),
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let Some(key) = udfs.keys().key() else {
        bail!("internal error: the client needs the key ring");
    };
    check_targets(
        &[Target::file(&opts.output, "output")],
        &opts.inputs,
        &opts.protected,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let layout = InputLayout::check(schema, &opts.inputs, opts.drop_undeclared, warn)?;
    let ctx = session(engine, udfs, opts.threads, opts.batch_rows).await?;
    // One plan per input file, run up to `threads` at a time and written in
    // path order: DataFusion's own file grouping (and Ballista's result
    // order) do not follow the paths, and the output must not depend on them.
    let mut plans = Vec::with_capacity(layout.files.len());
    for file in &layout.files {
        let one = InputLayout {
            files: vec![file.clone()],
            ..layout.clone()
        };
        let raw = read_raw(&ctx, schema, &one).await?;
        let (state, input) = raw.into_parts();
        let plan = compile(schema, &one, udfs, udfs.keys().fingerprint(), input)?;
        let physical = DataFrame::new(state, plan)
            .create_physical_plan()
            .await
            .map_err(|e| anyhow::anyhow!("{}", safe_error(&e.to_string())))?;
        plans.push(physical);
    }

    let out_schema = Arc::new(schema.output_schema());
    // The same writer settings as the native engine, so the bytes match.
    let settings = WriterSettings {
        output: schema.output.clone(),
        row_group_rows: opts.row_group_rows,
        token_columns: schema
            .columns
            .iter()
            .filter(|c| matches!(c.action, txanon::schema::Action::Tokenize { .. }))
            .map(|c| c.output.clone())
            .collect(),
        metadata: provenance(schema, key),
        // DataFusion's own threads are busy producing batches; encoding
        // serially here also checks that the bytes do not depend on it.
        pool: None,
        mode: opts.mode,
    };
    let mut sink = ParquetSink::create(&opts.output, out_schema.clone(), &settings)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let write = |sink: &mut ParquetSink, batch: RecordBatch| -> anyhow::Result<()> {
        let batch = RecordBatch::try_new(out_schema.clone(), batch.columns().to_vec())
            .context("internal error: a result batch does not match the output schema")?;
        sink.write(batch).map_err(|e| anyhow::anyhow!("{e}"))
    };
    let task_ctx = ctx.task_ctx();
    let run = ordered_streams(plans, task_ctx, opts.threads, |b| write(&mut sink, b)).await;
    run.with_context(|| {
        format!(
            "anonymize failed; nothing was written to {}",
            opts.output.display()
        )
    })?;
    let rows = sink.rows();
    sink.finish(Vec::new())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(RunSummary {
        engine: match engine {
            Engine::DataFusion => "datafusion",
            Engine::Ballista { .. } => "ballista",
        },
        inputs: layout.files,
        output: opts.output.clone(),
        rows_written: rows,
        undeclared_dropped: layout.undeclared,
        columns: udfs.stats(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        key_fingerprint: udfs.keys().fingerprint().to_string(),
    })
}

/// Batches each partition may run ahead of the writer.
const AHEAD_BATCHES: usize = 16;

/// Execute every plan (each a single stream), up to `window` at once, each in
/// its own task feeding a bounded channel, and hand the batches to `sink` in
/// plan order. Memory is bounded by `window * AHEAD_BATCHES` batches.
async fn ordered_streams(
    plans: Vec<Arc<dyn ExecutionPlan>>,
    task_ctx: Arc<datafusion::execution::TaskContext>,
    window: usize,
    mut sink: impl FnMut(RecordBatch) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    type Item = datafusion::error::Result<RecordBatch>;
    let spawn = |plan: Arc<dyn ExecutionPlan>| {
        let (tx, rx) = tokio::sync::mpsc::channel::<Item>(AHEAD_BATCHES);
        let ctx = task_ctx.clone();
        let handle = tokio::spawn(async move {
            let mut stream = match execute_stream(plan, ctx) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(b) = stream.next().await {
                let stop = b.is_err();
                if tx.send(b).await.is_err() || stop {
                    break;
                }
            }
        });
        (rx, handle)
    };
    let mut pending = plans.into_iter();
    let mut running = std::collections::VecDeque::new();
    for p in pending.by_ref().take(window.max(1)) {
        running.push_back(spawn(p));
    }
    while let Some((mut rx, handle)) = running.pop_front() {
        while let Some(batch) = rx.recv().await {
            let result = batch
                .map_err(|e| anyhow::anyhow!("{}", safe_error(&e.to_string())))
                .and_then(&mut sink);
            if let Err(e) = result {
                handle.abort();
                for (_, h) in running.drain(..) {
                    h.abort();
                }
                return Err(e);
            }
        }
        handle.await.context("a partition task failed")?;
        if let Some(p) = pending.next() {
            running.push_back(spawn(p));
        }
    }
    Ok(())
}

/// DataFusion error text as shown to the operator. Messages the engine's CSV
/// reader or our UDFs make carry no values; anything else is reduced to its
/// first line, and parse errors that could quote a value are replaced.
pub fn safe_error(message: &str) -> String {
    const UNSAFE: [&str; 3] = ["Error while parsing value", "Cannot cast", "Cast error"];
    if UNSAFE.iter().any(|u| message.contains(u)) {
        return "an input value could not be parsed by the CSV reader (message withheld: it may \
                quote a value); run `txanon check` on the inputs to find the line"
            .into();
    }
    message.lines().next().unwrap_or_default().to_string()
}
