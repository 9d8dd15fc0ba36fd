//! `txanon init INPUT > schemas/NEW.toml`: a draft schema on stdout.

use anyhow::Result;

use crate::cli::InitArgs;
use crate::draft::draft_schema;
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `init`.
pub fn run(args: &InitArgs, msg: &Messages) -> Result<ExitCode> {
    if crate::transform::normalize::known_phone_region(&args.region).is_none() {
        anyhow::bail!(
            "--region {:?} is not a known ISO 3166 region code",
            args.region
        );
    }
    let text = draft_schema(&args.input, &args.region, args.sample, args.encoding)?;
    crate::stdout::print(&text)?;
    msg.info("draft written: review every column, then `txanon check --schema NEW.toml INPUT`");
    Ok(ExitCode::Success)
}
