//! `txanon scan`: schema-free personal-data detection.

use anyhow::Result;

use crate::check::report::Report;
use crate::check::scan_files;
use crate::cli::ScanArgs;
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `scan`.
pub fn run(args: &ScanArgs, _msg: &Messages) -> Result<ExitCode> {
    if rlibphonenumber::Region::from_code(&args.region).is_err() {
        anyhow::bail!(
            "--region {:?} is not a known ISO 3166 region code",
            args.region
        );
    }
    let findings = scan_files(&args.files, Some(&args.region), args.sample)?;
    crate::cmd::check::emit(&Report::new("scan", findings), args.format)
}
