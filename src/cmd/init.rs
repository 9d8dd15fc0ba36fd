//! `txanon init INPUT > schemas/NEW.toml`: a draft schema on stdout.

use anyhow::Result;

use crate::cli::InitArgs;
use crate::draft::draft_schema;
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `init`.
pub fn run(args: &InitArgs, msg: &Messages) -> Result<ExitCode> {
    let region = crate::cmd::config::region(&args.region)?;
    let text = draft_schema(&args.input, region, args.sample, args.encoding)?;
    crate::stdout::print(&text)?;
    msg.info("draft written: review every column, then `txanon check --schema NEW.toml INPUT`");
    Ok(ExitCode::Success)
}
