//! `txanon report`: the release report of an output file or dataset.

use anyhow::{Context, Result};

use crate::cli::ReportArgs;
use crate::exit::ExitCode;
use crate::io::output::{check_targets, Target};
use crate::messages::Messages;
use crate::report::{build, render, write, Sources};
use crate::schema::Schema;

/// Run `report`.
pub fn run(args: &ReportArgs, _msg: &Messages) -> Result<ExitCode> {
    let schema = args.schema.as_deref().map(Schema::load).transpose()?;
    let target = crate::cmd::anonymize::output_path(&args.release);
    let mut read = Vec::new();
    if let Some(s) = &args.schema {
        read.push(("the schema", s.clone()));
    }
    if let Some(m) = &args.manifest {
        read.push(("the manifest", m.clone()));
    }
    check_targets(
        &[Target::file(&args.output, "report")],
        std::slice::from_ref(&target),
        &read,
    )?;
    if target.is_dir() && args.output.starts_with(&target) {
        anyhow::bail!(
            "report {} is inside the release {}; write it next to the release",
            args.output.display(),
            target.display()
        );
    }
    let page = build(
        &target,
        Sources {
            schema: schema.as_ref(),
            manifest: args.manifest.as_deref(),
            run: None,
        },
    )
    .with_context(|| format!("report of {}", target.display()))?;
    let html = render(&page)?;
    write(&args.output, &html, args.mode)?;
    Ok(ExitCode::Success)
}
