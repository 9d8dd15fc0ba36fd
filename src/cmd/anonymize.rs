//! `txanon anonymize`: flags → resolved run → pipeline → summary.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::cli::{AnonymizeArgs, Engine};
use crate::cmd::config::{self, load_key, KeyUse};
use crate::exit::ExitCode;
use crate::io::source::expand_inputs;
use crate::messages::Messages;
use crate::pipeline::{anonymize, AnonymizeOptions, AppendTo, SkippedInput, Summary};
use crate::schema::Schema;

/// Run `anonymize`.
pub fn run(args: &AnonymizeArgs, msg: &Messages) -> Result<ExitCode> {
    if args.append && args.engine != Engine::Native {
        anyhow::bail!("--append runs on the native engine only");
    }
    if args.append && args.report.is_some() {
        anyhow::bail!(
            "--report describes a whole output; after --append run `txanon report DATASET/`"
        );
    }
    match (args.engine, &args.scheduler) {
        (Engine::Native, None) => {}
        (Engine::Ballista, None) => {
            anyhow::bail!("--engine ballista needs --scheduler df://HOST:PORT")
        }
        (Engine::Native | Engine::Datafusion, Some(_)) => {
            anyhow::bail!("--scheduler is only used with --engine ballista")
        }
        (Engine::Datafusion | Engine::Ballista, _) => {
            // Same flags, run by the DataFusion/Ballista front end.
            return crate::cmd::external::run_df(
                "--engine datafusion/ballista",
                std::env::args_os().skip(1).collect(),
            );
        }
    }
    // Resolve everything that can fail cheaply before touching inputs.
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let key = load_key(args.key.key_file.as_deref(), KeyUse::Tokens, msg)?;
    let threads = config::threads(args.threads);
    let inputs = expand_inputs(&args.inputs)?;
    // A directory output is asked for explicitly (a trailing '/' or
    // --partition-by): `-o existing_dir` is refused rather than filled.
    let directory = directory_output(args);
    let mut opts = AnonymizeOptions {
        threads,
        drop_undeclared: args.drop_undeclared,
        max_bad_rows: args.max_bad_rows,
        batch_rows: usize::try_from(args.batch_rows).unwrap_or(8192),
        row_group_rows: args.row_group_rows.and_then(|r| usize::try_from(r).ok()),
        directory,
        partition_by: args.partition_by.clone(),
        manifest: args.manifest.clone(),
        protected: read_files(args),
        mode: args.mode,
        report: args.report.clone(),
        ..AnonymizeOptions::new(inputs, output_path(&args.output))
    };
    msg.catch_signals();
    let mut skipped = Vec::new();
    // Held until the run ends: an erase of the same dataset waits for it.
    let _lock = if args.append {
        Some(crate::io::output::lock_dataset(&opts.output)?)
    } else {
        None
    };
    if args.append {
        skipped = prepare_append(&schema, &key, &mut opts, args.replace_changed, msg)?;
        if opts.inputs.is_empty() {
            return nothing_to_append(args, &opts, &skipped, msg);
        }
    }
    let mut summary = anonymize(&schema, &key, &opts, msg).map_err(|e| match e {
        // The data is in place: saying "nothing was written" would be false.
        e @ crate::Error::PartlyWritten { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(format!(
            "anonymize failed; nothing was written to {}",
            args.output.display()
        )),
    })?;
    summary.skipped_inputs = skipped;
    if summary.bad_rows > 0 {
        msg.warning(&format!(
            "skipped {} bad record(s) (--max-bad-rows {}); see the summary for their lines",
            summary.bad_rows, args.max_bad_rows
        ));
    }
    if !args.quiet {
        msg.block(&render(&summary));
    }
    if let Some(report) = &args.report {
        crate::report::build(
            &opts.output,
            crate::report::Sources {
                schema: Some(&schema),
                manifest: None,
                run: Some(&summary),
            },
        )
        .and_then(|page| crate::report::render(&page))
        .and_then(|html| crate::report::write(report, &html, args.mode))
        .with_context(|| {
            format!(
                "the output was written, but not the report {}",
                report.display()
            )
        })?;
    }
    // Last: a reader that stops early (a closed stdout) may lose only
    // the summary, never a file.
    if args.json {
        let json = serde_json::to_string_pretty(&summary).context("serializing summary")?;
        crate::stdout::print(&format!("{json}\n")).with_context(|| {
            format!(
                "{} is complete, but its --json summary could not be printed",
                args.output.display()
            )
        })?;
    }
    Ok(ExitCode::Success)
}

/// `--append`: check the dataset at `opts.output` (consistent, and written
/// with this schema, token spec, context and key) before reading any input,
/// then hash the inputs and keep those whose content the dataset does not
/// hold yet, and finish an earlier append that stopped after its commit.
/// Returns the inputs skipped.
fn prepare_append(
    schema: &Schema,
    key: &crate::key::MasterKey,
    opts: &mut AnonymizeOptions,
    replace_changed: bool,
    msg: &Messages,
) -> Result<Vec<SkippedInput>> {
    use crate::dataset::{self, Identity, Plan};
    if schema.privacy.as_ref().is_some_and(|p| p.search.is_some()) {
        anyhow::bail!(crate::pipeline::APPEND_SEARCH);
    }
    let dir = opts.output.clone();
    let verified = dataset::verify(&dir)?;
    if !verified.consistent() {
        anyhow::bail!(
            "cannot append to {}: it does not match its manifest ({} problem(s); \
             `txanon dataset {}` lists them); nothing was read or written",
            dir.display(),
            verified.problems.len(),
            dir.display()
        );
    }
    let mut current = verified.current;
    dataset::check_compatible(
        &current,
        &Identity {
            schema_sha256: &schema.sha256,
            token_spec: crate::pipeline::TOKEN_SPEC,
            token_context: &schema.tokens.context,
            key_fingerprint: &key.fingerprint(),
            partition_by: opts.partition_by.as_deref(),
        },
    )?;
    let recorded = dataset::recorded_inputs(&current);
    let (mut keep, mut sha256, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut replaced = std::collections::BTreeSet::new();
    for path in &opts.inputs {
        let sha = crate::pipeline::manifest::sha256_file(path, msg)?;
        match dataset::plan_input(&recorded, path, &sha, replace_changed)? {
            Plan::Skip { generation } => skipped.push(SkippedInput {
                path: path.clone(),
                generation,
            }),
            Plan::Replace { generation } if !replaced.insert(generation) => {
                anyhow::bail!(
                    "two inputs replace the content of generation {generation} ({}): give one; \
                     nothing was read or written",
                    path.display()
                );
            }
            Plan::Append | Plan::Replace { .. } => {
                keep.push(path.clone());
                sha256.push(sha);
            }
        }
    }
    dataset::repair(&mut current, opts.mode)?;
    let removal = if replaced.is_empty() {
        None
    } else {
        Some(dataset::without_generations(&current.manifest, &replaced)?)
    };
    opts.inputs = keep;
    opts.directory = true;
    opts.partition_by = dataset::partition_by(&current);
    opts.append = Some(AppendTo {
        current,
        sha256,
        removal,
    });
    Ok(skipped)
}

/// Every input of an `--append` is already in the dataset: say so.
fn nothing_to_append(
    args: &AnonymizeArgs,
    opts: &AnonymizeOptions,
    skipped: &[SkippedInput],
    msg: &Messages,
) -> Result<ExitCode> {
    let generation = opts.append.as_ref().map_or(0, |a| a.current.generation);
    if !args.quiet {
        let mut out = format!(
            "txanon {}: nothing to append to {}: all {} input(s) are already in it; it stays at generation {generation}\n",
            env!("CARGO_PKG_VERSION"),
            opts.output.display(),
            skipped.len()
        );
        for s in skipped {
            let _ = writeln!(
                out,
                "  skipped {} (same content as in generation {})",
                s.path.display(),
                s.generation
            );
        }
        msg.block(&out);
    }
    if args.json {
        let json = serde_json::json!({
            "output": opts.output,
            "generation": generation,
            "rows_written": 0,
            "skipped_inputs": skipped,
        });
        crate::stdout::print(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    }
    Ok(ExitCode::Success)
}

/// The files `anonymize` reads besides its inputs, which no output may replace.
pub fn read_files(args: &AnonymizeArgs) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut read = vec![("the schema", args.schema.clone())];
    if let Some(k) = &args.key.key_file {
        read.push(("the key file", k.clone()));
    }
    read
}

/// Whether the output is a directory: asked for explicitly (a trailing '/'
/// or --partition-by).
fn directory_output(args: &AnonymizeArgs) -> bool {
    args.partition_by.is_some() || args.output.as_os_str().to_string_lossy().ends_with('/')
}

/// The output path without a trailing '/' (a directory output is renamed
/// into place by name).
pub fn output_path(p: &std::path::Path) -> std::path::PathBuf {
    let text = p.to_string_lossy();
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() {
        p.to_path_buf()
    } else {
        std::path::PathBuf::from(trimmed)
    }
}

/// The one-screen text summary.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "txanon {}: {} → {}",
        s.txanon_version,
        s.schema,
        s.output.display()
    );
    let _ = writeln!(
        out,
        "  rows read {}  written {}  bad {}  |  {:.1} MiB in {:.2}s ({:.0} rows/s, {:.1} MiB/s, {} thread{})",
        s.rows_read,
        s.rows_written,
        s.bad_rows,
        s.input_bytes as f64 / 1048576.0,
        s.elapsed_seconds,
        s.rows_per_second,
        s.mib_per_second,
        s.threads,
        if s.threads == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "  key fingerprint {}{}",
        s.key_fingerprint,
        if s.demo_key {
            "  (DEMO KEY: protects nothing)"
        } else {
            ""
        }
    );
    let width = s
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "  {:<width$}  {:<10}  {:>8}  {:>8}  output",
        "column", "action", "nulls", "invalid"
    );
    for c in &s.columns {
        let invalid = if c.stats.invalid_tokenized > 0 {
            format!("{}*", c.stats.invalid)
        } else {
            c.stats.invalid.to_string()
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:<10}  {:>8}  {:>8}  {}",
            c.name,
            c.action,
            c.stats.nulls,
            invalid,
            c.output.as_deref().unwrap_or("-")
        );
    }
    if s.columns.iter().any(|c| c.stats.invalid_tokenized > 0) {
        let _ = writeln!(
            out,
            "  * invalid values tokenized under <namespace>.invalid"
        );
    }
    if s.inputs.len() > 1 {
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for i in &s.inputs {
            let kind = match i.compression {
                "none" | "parquet" => i.format.to_string(),
                c => format!("{} ({c})", i.format),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            out,
            "  inputs: {} files: {}",
            s.inputs.len(),
            kinds.join(", ")
        );
    }
    for i in s
        .inputs
        .iter()
        .filter(|i| !i.numeric_text_columns.is_empty())
    {
        let _ = writeln!(
            out,
            "  note: {} stores {} as numbers; read as decimal text (a leading '+' or '0' lost at export cannot be recovered)",
            i.path.display(),
            i.numeric_text_columns.join(", ")
        );
    }
    if let Some(g) = s.generation {
        let _ = writeln!(out, "  appended as generation {g}");
    }
    for r in &s.replaced_inputs {
        let n = |k: &str| r.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "  replaced {} of generation {}: removed its {} part file(s) and {} row(s)",
            r.get("path")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?"),
            n("generation"),
            n("files_removed"),
            n("rows_removed")
        );
    }
    for i in &s.skipped_inputs {
        let _ = writeln!(
            out,
            "  skipped {} (same content as in generation {})",
            i.path.display(),
            i.generation
        );
    }
    if !s.files.is_empty() {
        let _ = writeln!(
            out,
            "  wrote {} part file(s){}",
            s.files.len(),
            s.partition_by
                .as_ref()
                .map_or(String::new(), |p| format!(" partitioned by {p}"))
        );
    }
    if !s.undeclared_dropped.is_empty() {
        let _ = writeln!(
            out,
            "  undeclared columns dropped: {}",
            s.undeclared_dropped.join(", ")
        );
    }
    if let Some(p) = &s.privacy {
        for line in p.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    for b in s.bad_row_list.iter().take(20) {
        let _ = writeln!(out, "  skipped {b}");
    }
    if s.bad_row_list.len() > 20 {
        let _ = writeln!(
            out,
            "  ... {} more skipped records (see --json)",
            s.bad_rows - 20
        );
    }
    out
}
