//! `txanon scan`: schema-free personal-data detection.

use anyhow::Result;

use crate::check::report::Report;
use crate::check::scan_files;
use crate::cli::ScanArgs;
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `scan`.
pub fn run(args: &ScanArgs, _msg: &Messages) -> Result<ExitCode> {
    let region = crate::cmd::config::region(&args.region)?;
    let files = crate::io::source::expand_inputs(&args.files)?;
    let findings = scan_files(&files, Some(region), args.sample, args.encoding)?;
    crate::cmd::check::emit(&Report::new("scan", findings), args.format)
}
