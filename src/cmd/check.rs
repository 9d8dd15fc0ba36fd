//! `txanon check`: schema lint + per-file compliance, rendered for CI.

use anyhow::Result;

use crate::check::check_files;
use crate::check::report::Report;
use crate::cli::CheckArgs;
use crate::exit::ExitCode;
use crate::key::MasterKey;
use crate::messages::Messages;
use crate::schema::Schema;

/// Run `check`.
pub fn run(args: &CheckArgs, _msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?;
    let key = match (&args.key_file, std::env::var_os(crate::key::KEY_ENV)) {
        (Some(path), _) => Some(MasterKey::load(Some(path))?.0),
        (None, Some(_)) => Some(MasterKey::load(None)?.0),
        (None, None) => None,
    };
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
