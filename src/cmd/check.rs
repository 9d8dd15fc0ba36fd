//! `txanon check`: schema lint + per-file compliance, rendered for CI.

use anyhow::Result;

use crate::check::check_files;
use crate::check::report::Report;
use crate::cli::CheckArgs;
use crate::cmd::config::{load_optional_key, KeyUse};
use crate::exit::ExitCode;
use crate::messages::Messages;
use crate::schema::Schema;

/// Run `check`.
pub fn run(args: &CheckArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?;
    let key = load_optional_key(args.key_file.as_deref(), KeyUse::Verify, msg)?;
    let files = crate::io::source::expand_inputs(&args.files)?;
    let findings = check_files(&schema, &files, key.as_ref(), args.sample)?;
    let report = Report::new("check", findings);
    emit(&report, args.format)
}

/// Print a report on stdout and map it to an exit code.
pub fn emit(report: &Report, format: crate::check::report::Format) -> Result<ExitCode> {
    crate::stdout::print(&report.render(format))?;
    Ok(if report.violations > 0 {
        ExitCode::Violations
    } else {
        ExitCode::Success
    })
}
