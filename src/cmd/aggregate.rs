//! `txanon aggregate`: spec + schema → budget check → one pass → noise → files + ledger.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::aggregate::ledger::{self, Entry, Ledger, Start};
use crate::aggregate::manifest::{LedgerTotals, Manifest};
use crate::aggregate::spec::AggregateSpec;
use crate::aggregate::{self as agg, Accumulator, ReleaseReport, RowCounts};
use crate::cli::AggregateArgs;
use crate::cmd::config::{self, KeyUse};
use crate::exit::ExitCode;
use crate::io::output::{check_targets, Target};
use crate::io::source::expand_inputs;
use crate::messages::Messages;
use crate::pipeline::manifest::hash_inputs;
use crate::pipeline::{observe, AnonymizeOptions};
use crate::schema::Schema;

/// Run `aggregate`.
pub fn run(args: &AggregateArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let spec = AggregateSpec::load(&args.spec, &schema)?;
    // Tokens only group rows by entity here and never leave: no demo-key warning.
    let key = config::load_key(args.key.key_file.as_deref(), KeyUse::Verify, msg)?;
    let ledger_path = ledger::default_path(args.ledger.as_deref(), args.key.key_file.as_deref())?;
    let context = schema.tokens.context.clone();
    let inputs = expand_inputs(&args.inputs)?;
    let mut targets = vec![Target::file(&args.output, "output")];
    if let Some(csv) = &args.csv {
        targets.push(Target::file(csv, "--csv"));
    }
    if let Some(m) = &args.manifest {
        targets.push(Target::file(m, "--manifest"));
    }
    let mut protected = vec![
        ("the schema", args.schema.clone()),
        ("the spec", args.spec.clone()),
        ("the ledger", ledger_path.clone()),
    ];
    if let Some(k) = &args.key.key_file {
        protected.push(("the key file", k.clone()));
    }
    check_targets(&targets, &inputs, &protected)?;
    // The budget is checked before reading anything, and again before
    // writing, under the ledger's lock throughout.
    let (epsilon, delta) = agg::planned_spend(&spec);
    let _lock = ledger::LedgerLock::acquire(&ledger_path)?;
    let start = if args.new_ledger {
        Start::New
    } else if key.is_demo() {
        Start::Demo
    } else {
        Start::Existing
    };
    let book = Ledger::open(&ledger_path, &key, start)?;
    book.check(&context, spec.budget, epsilon, delta)?;
    let opts = AnonymizeOptions {
        threads: config::threads(args.threads),
        drop_undeclared: args.drop_undeclared,
        max_bad_rows: args.max_bad_rows,
        ..AnonymizeOptions::new(inputs, args.output.clone())
    };
    msg.catch_signals();
    // Per-entity records spill beside the output, in unnamed files.
    let mut acc = Accumulator::new(&spec, &crate::io::spill::spill_dir(Some(&args.output)));
    let failed = || {
        format!(
            "aggregate failed; nothing was written to {}",
            args.output.display()
        )
    };
    let summary = observe(&schema, &key, &opts, msg, &mut acc).with_context(failed)?;
    let acc = acc.finish().with_context(failed)?;
    if summary.bad_rows > 0 {
        msg.warning(&format!(
            "skipped {} bad record(s) (--max-bad-rows {})",
            summary.bad_rows, args.max_bad_rows
        ));
    }
    let mut release = agg::release(&acc)?;
    release.report.demo_key = key.is_demo();
    if key.is_demo() {
        msg.warning(&format!(
            "this release is made with the published demo key (data-samples/demo.key): anyone \
             can rewrite its privacy-budget ledger {}, so no budget limits it; its footer and \
             --json say demo_key = true. Use a key of your own (txanon keygen) for a release that \
             leaves the company",
            ledger_path.display()
        ));
    }
    // Checked again under the same lock: the figures the manifest states
    // are the ledger's after this release is entered.
    let mut book = Ledger::open(&ledger_path, &key, start)?;
    let budget = book.check(
        &context,
        spec.budget,
        release.report.epsilon,
        release.report.delta,
    )?;
    if budget.is_none() {
        msg.warning(&format!(
            "context {context:?} has no privacy budget ([budget] max_epsilon in the spec): \
             the ledger records this release but limits nothing"
        ));
    }
    let mut inputs = summary.inputs.clone();
    hash_inputs(&mut inputs, msg)?;
    let (before, releases) = book
        .scope(&context)
        .map(|s| (s.spent(), s.releases.len()))
        .unwrap_or_default();
    let manifest = Manifest::new(
        &release.report,
        &args.spec,
        &schema,
        &key,
        &inputs,
        LedgerTotals {
            path: ledger_path.display().to_string(),
            context: context.clone(),
            releases: releases + 1,
            epsilon_spent: before.0 + release.report.epsilon,
            delta_spent: before.1 + release.report.delta,
            max_epsilon: budget.map(|b| b.max_epsilon),
            max_delta: budget.map(|b| b.max_delta),
        },
    )?;
    let files = agg::Files {
        parquet: &args.output,
        csv: args.csv.as_deref(),
        manifest: args.manifest.as_deref(),
        mode: args.mode,
    };
    let staged = agg::write(&release, &manifest, &files)?;
    // Spent before released: a failure after this line leaves the budget
    // spent and no file, never a file the ledger does not know.
    book.record(
        &key,
        &context,
        budget,
        Entry {
            name: spec.name.clone(),
            spec_sha256: spec.sha256.clone(),
            output: args.output.display().to_string(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            epsilon: release.report.epsilon,
            delta: release.report.delta,
        },
        args.mode,
    )
    .with_context(|| {
        format!(
            "the ledger {} could not be written; nothing was released",
            ledger_path.display()
        )
    })?;
    crate::io::output::commit(staged)?;
    if !args.quiet {
        let (spent, _) = book.scope(&context).map(|s| s.spent()).unwrap_or_default();
        msg.block(&render(
            &release.report,
            acc.counts(),
            &ledger_path,
            &context,
            spent,
            budget.map(|b| b.max_epsilon),
        ));
    }
    if args.json {
        let json =
            serde_json::to_string_pretty(&release.report).context("serializing the report")?;
        crate::stdout::print(&format!("{json}\n"))?;
    }
    Ok(ExitCode::Success)
}

/// The summary: figures about the release and counts of rows, never a value.
fn render(
    r: &ReleaseReport,
    counts: RowCounts,
    ledger: &std::path::Path,
    context: &str,
    spent: f64,
    max: Option<f64>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "aggregate {:?}: {} group(s) released, epsilon = {}, delta = {} (differential privacy per {} \
         for the declared bounds: at most {} group(s) per {} and {} row(s) per group)",
        r.name, r.groups, r.epsilon, r.delta, r.entity, r.max_groups_per_entity, r.entity, r.max_rows_per_group
    );
    let _ = writeln!(
        out,
        "  rows read {}, without an entity {}, outside the declared keys {}",
        counts.seen, counts.without_entity, counts.outside_keys
    );
    if let Some(s) = &r.selection {
        let _ = writeln!(
            out,
            "  partition selection: threshold {} entities, scale {:.4}, epsilon {}, delta {:e}",
            s.threshold.unwrap_or(0),
            s.scale,
            s.epsilon,
            s.delta
        );
    }
    for m in &r.measures {
        for x in &m.mechanisms {
            let _ = writeln!(
                out,
                "  {}: {} with discrete Laplace scale {} (sensitivity {} per group, {} in all; unit {}), epsilon {}",
                m.output, x.releases, x.scale, x.sensitivity.per_group, x.sensitivity.total, x.unit, x.epsilon
            );
        }
    }
    let _ = write!(
        out,
        "  ledger {} context {context:?}: epsilon {spent} spent{}",
        ledger.display(),
        max.map_or(String::new(), |m| format!(" of {m}"))
    );
    out
}
