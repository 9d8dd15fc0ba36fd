//! `txanon anonymize`: flags → resolved run → pipeline → summary.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::cli::AnonymizeArgs;
use crate::exit::ExitCode;
use crate::key::MasterKey;
use crate::messages::Messages;
use crate::pipeline::{anonymize, AnonymizeOptions, Summary};
use crate::schema::Schema;

/// Run `anonymize`.
pub fn run(args: &AnonymizeArgs, msg: &Messages) -> Result<ExitCode> {
    // Resolve everything that can fail cheaply before touching inputs.
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let (key, source) = MasterKey::load(args.key.key_file.as_deref())?;
    if let Some(w) = source.warning() {
        msg.warning(&w);
    }
    if key.is_demo() {
        msg.demo_key_warning();
    }
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = AnonymizeOptions {
        threads,
        drop_undeclared: args.drop_undeclared,
        max_bad_rows: args.max_bad_rows,
        batch_rows: usize::try_from(args.batch_rows).unwrap_or(8192),
        row_group_rows: usize::try_from(args.row_group_rows).unwrap_or(131072),
        ..AnonymizeOptions::new(args.inputs.clone(), args.output.clone())
    };
    msg.catch_signals();
    let summary = anonymize(&schema, &key, &opts, msg).with_context(|| {
        format!(
            "anonymize failed; nothing was written to {}",
            args.output.display()
        )
    })?;
    if summary.bad_rows > 0 {
        msg.warning(&format!(
            "skipped {} bad record(s) (--max-bad-rows {}); see the summary for their lines",
            summary.bad_rows, args.max_bad_rows
        ));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&summary).context("serializing summary")?;
        println!("{json}");
    }
    if !args.quiet {
        msg.block(&render(&summary));
    }
    Ok(ExitCode::Success)
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
        "  rows read {}  written {}  bad {}  |  {:.1} MiB in {:.2}s ({:.0} rows/s, {:.1} MiB/s, {} threads)",
        s.rows_read,
        s.rows_written,
        s.bad_rows,
        s.input_bytes as f64 / 1048576.0,
        s.elapsed_seconds,
        s.rows_per_second,
        s.mib_per_second,
        s.threads
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
