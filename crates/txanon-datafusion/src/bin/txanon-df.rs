//! `txanon-df`: txanon on Apache DataFusion and Ballista.
//!
//! `txanon anonymize --engine datafusion|ballista ...` and `txanon sql ...`
//! run this binary with the same arguments; it can also be run directly.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::DataFrame;
use txanon::cli::{AnonymizeArgs, Engine as EngineArg, KeyArgs};
use txanon::key::MasterKey;
use txanon::messages::Messages;
use txanon::schema::Schema;
use txanon_datafusion::engine::{self, safe_error, Engine, RunOptions};
use txanon_datafusion::plan::{compile, InputLayout};
use txanon_datafusion::spec::ColumnSpec;
use txanon_datafusion::udf::{KeyRing, Udfs};

/// txanon on Apache DataFusion (one machine) or a Ballista cluster.
#[derive(Debug, Parser)]
#[command(name = "txanon-df", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pseudonymise CSV dumps into one Parquet file on DataFusion or Ballista
    /// (same flags and output as `txanon anonymize`).
    Anonymize(AnonymizeArgs),
    /// Run SQL over dumps in a local DataFusion session. Tables: `input` (the
    /// raw dump, all strings, header names) and `anonymized` (the schema's
    /// output). Functions: txanon_keep, txanon_tokenize and
    /// txanon_generalize(value, spec), where spec is a declared column's name
    /// (`txanon_tokenize(mobile, 'mobile')`) or a column spec in JSON.
    Sql(SqlArgs),
    /// Print the logical and physical plan the schema compiles to (what a
    /// Ballista scheduler and executors receive; it holds no key).
    Explain(ExplainArgs),
}

#[derive(Debug, clap::Args)]
struct SqlArgs {
    /// The schema declaring every input column (TOML).
    #[arg(long, value_name = "SCHEMA.toml")]
    schema: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// Release scope mixed into every token (overrides [tokens].context).
    #[arg(long, value_name = "LABEL")]
    context: Option<String>,
    /// Input CSV file (repeat for several; all share one header layout).
    #[arg(long = "input", short = 'i', required = true, value_name = "INPUT.csv")]
    inputs: Vec<PathBuf>,
    /// Leave out input columns the schema does not declare.
    #[arg(long)]
    drop_undeclared: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    format: SqlFormat,
    /// The query.
    query: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SqlFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header.
    Csv,
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The schema declaring every input column (TOML).
    #[arg(long, value_name = "SCHEMA.toml")]
    schema: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// Input CSV files.
    #[arg(required = true, value_name = "INPUT.csv")]
    inputs: Vec<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let quiet = matches!(&cli.command, Command::Anonymize(a) if a.quiet);
    let msg = Messages::new(quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            msg.error(&format!("cannot start the async runtime: {e}"));
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(run(cli, &msg)) {
        Ok(()) => 0,
        // The reader has what it wanted (`| head`): a quiet success.
        Err(e) if txanon::stdout::is_closed(&e) => 0,
        Err(e) => {
            msg.error(&format!("{e:#}"));
            2
        }
    };
    // Ballista client tasks may linger; do not wait for them.
    runtime.shutdown_background();
    std::process::exit(code);
}

async fn run(cli: Cli, msg: &Messages) -> anyhow::Result<()> {
    match cli.command {
        Command::Anonymize(args) => anonymize(&args, msg).await,
        Command::Sql(args) => sql(&args, msg).await,
        Command::Explain(args) => explain(&args, msg).await,
    }
}

/// Load the schema and the key, with the CLI's warnings.
fn load(
    schema: &std::path::Path,
    key: &KeyArgs,
    context: Option<String>,
    msg: &Messages,
) -> anyhow::Result<(Schema, Udfs)> {
    let schema = Schema::load(schema)?.with_context(context);
    let (key, source) = MasterKey::load(key.key_file.as_deref())?;
    if let Some(w) = source.warning() {
        msg.warning(&w);
    }
    if key.is_demo() {
        msg.demo_key_warning();
    }
    // Declared columns by name, so SQL can say txanon_tokenize(mobile, 'mobile').
    let keys = KeyRing::new(key);
    let mut named = std::collections::HashMap::new();
    for c in &schema.columns {
        if let Some(spec) = ColumnSpec::from_column(&schema, c, keys.fingerprint())
            .map_err(|e| anyhow::anyhow!("column {:?}: {e}", c.name))?
        {
            named.insert(c.name.clone(), spec.to_json());
        }
    }
    Ok((schema, Udfs::with_named_columns(keys, named)))
}

async fn anonymize(args: &AnonymizeArgs, msg: &Messages) -> anyhow::Result<()> {
    let engine = match (args.engine, &args.scheduler) {
        (EngineArg::Ballista, Some(s)) => Engine::Ballista {
            scheduler: s.clone(),
        },
        (EngineArg::Ballista, None) => bail!("--engine ballista needs --scheduler df://HOST:PORT"),
        (_, Some(_)) => bail!("--scheduler is only used with --engine ballista"),
        (EngineArg::Datafusion, None) => Engine::DataFusion,
        (EngineArg::Native, None) => bail!(
            "txanon-df runs --engine datafusion or --engine ballista; the native engine is `txanon anonymize`"
        ),
    };
    if args.max_bad_rows > 0 {
        bail!(
            "--max-bad-rows is not supported by the datafusion and ballista engines (they cannot \
             skip a row and name its line); use the native engine"
        );
    }
    let (schema, udfs) = load(&args.schema, &args.key, args.context.clone(), msg)?;
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = RunOptions {
        inputs: txanon::io::source::expand_inputs(&args.inputs)?,
        output: args.output.clone(),
        threads,
        drop_undeclared: args.drop_undeclared,
        batch_rows: usize::try_from(args.batch_rows).unwrap_or(8192),
        row_group_rows: args
            .row_group_rows
            .and_then(|r| usize::try_from(r).ok())
            .or(schema.output.row_group_rows)
            .unwrap_or(txanon::io::parquet_writer::DEFAULT_ROW_GROUP_ROWS),
        protected: txanon::cmd::anonymize::read_files(args),
        mode: args.mode,
    };
    if args.partition_by.is_some()
        || args.manifest.is_some()
        || args.output.as_os_str().to_string_lossy().ends_with('/')
    {
        anyhow::bail!(
            "directory outputs, --partition-by and --manifest are not supported by the \
             datafusion and ballista engines; use the native engine"
        );
    }
    // The engine does not poll for interrupts: the first SIGINT/SIGTERM
    // removes the temporary output and ends the run (exit 130/143).
    msg.stop_on_signal();
    let summary = engine::anonymize(&engine, &schema, &udfs, &opts, &|w| msg.warning(w)).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&summary).context("serializing summary")?;
        txanon::stdout::print(&format!("{json}\n")).with_context(|| {
            format!(
                "{} is complete, but its --json summary could not be printed",
                summary.output.display()
            )
        })?;
    }
    if !args.quiet {
        let mut text = format!(
            "txanon-df ({}): {} v{} → {}\n  rows written {}  |  {} input file(s) in {:.2}s\n  key fingerprint {}\n",
            summary.engine,
            schema.name,
            schema.version,
            summary.output.display(),
            summary.rows_written,
            summary.inputs.len(),
            summary.elapsed_seconds,
            summary.key_fingerprint
        );
        for (column, st) in &summary.columns {
            text.push_str(&format!(
                "  {column}: nulls {}  invalid {}\n",
                st.nulls, st.invalid
            ));
        }
        if !summary.undeclared_dropped.is_empty() {
            text.push_str(&format!(
                "  undeclared columns dropped: {}\n",
                summary.undeclared_dropped.join(", ")
            ));
        }
        msg.block(&text);
    }
    Ok(())
}

/// A local session with `input` and `anonymized` registered.
async fn local_tables(
    schema: &Schema,
    udfs: &Udfs,
    inputs: &[PathBuf],
    drop_undeclared: bool,
    msg: &Messages,
) -> anyhow::Result<(datafusion::prelude::SessionContext, InputLayout)> {
    let layout = InputLayout::check(schema, inputs, drop_undeclared, &|w| msg.warning(w))?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let ctx = engine::session(&Engine::DataFusion, udfs, threads, 8192).await?;
    let raw = engine::read_raw(&ctx, schema, &layout).await?;
    let named = raw
        .clone()
        .select(layout.named_columns())
        .context("cannot name the input columns")?;
    ctx.register_table("input", named.into_view())?;
    let (state, plan) = raw.into_parts();
    let plan = compile(schema, &layout, udfs, udfs.keys().fingerprint(), plan)?;
    ctx.register_table("anonymized", DataFrame::new(state, plan).into_view())?;
    Ok((ctx, layout))
}

async fn sql(args: &SqlArgs, msg: &Messages) -> anyhow::Result<()> {
    let (schema, udfs) = load(&args.schema, &args.key, args.context.clone(), msg)?;
    let (ctx, _) = local_tables(&schema, &udfs, &args.inputs, args.drop_undeclared, msg).await?;
    let safe =
        |e: datafusion::error::DataFusionError| anyhow::anyhow!("{}", safe_error(&e.to_string()));
    let df = ctx.sql(&args.query).await.map_err(safe)?;
    let batches = df.collect().await.map_err(safe)?;
    let mut out = txanon::stdout::Stdout::new();
    match args.format {
        SqlFormat::Table => {
            let text = pretty_format_batches(&batches).context("formatting the result")?;
            out.line(&text.to_string())?;
        }
        SqlFormat::Csv => {
            // Rendered in memory (the result already is): arrow-csv turns
            // I/O errors into text, and stdout's must keep their kind.
            let mut text = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut text);
                for b in &batches {
                    w.write(b).context("writing CSV")?;
                }
            }
            out.write_all(&text)?;
        }
    }
    out.flush()?;
    Ok(())
}

async fn explain(args: &ExplainArgs, msg: &Messages) -> anyhow::Result<()> {
    let (schema, udfs) = load(&args.schema, &args.key, None, msg)?;
    let (ctx, _) = local_tables(&schema, &udfs, &args.inputs, false, msg).await?;
    let df = ctx
        .sql("EXPLAIN VERBOSE SELECT * FROM anonymized")
        .await
        .map_err(|e| anyhow::anyhow!("{}", safe_error(&e.to_string())))?;
    let batches = df
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{}", safe_error(&e.to_string())))?;
    txanon::stdout::print(&format!("{}\n", pretty_format_batches(&batches)?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// No argument of this binary (enumerated from its clap definition, all
    /// subcommands) can carry the key: only --key-file PATH or TXANON_KEY;
    /// `--key HEX` is refused by every subcommand.
    #[test]
    fn there_is_no_key_flag() {
        let cmd = super::Cli::command();
        txanon::cli::assert_no_key_flag(&cmd);
        let hex = "ab".repeat(32);
        let paths = txanon::cli::subcommand_paths(&cmd);
        assert!(paths.len() >= 3, "{paths:?}");
        for path in paths {
            let mut argv = vec!["txanon-df".to_string()];
            argv.extend(path);
            argv.extend(["--key".to_string(), hex.clone()]);
            let e = <super::Cli as clap::Parser>::try_parse_from(&argv)
                .expect_err(&format!("{argv:?} was accepted"));
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{argv:?}"
            );
        }
    }
}
