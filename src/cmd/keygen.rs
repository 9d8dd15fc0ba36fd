//! `txanon keygen -o PATH`: a new random key, mode 0600, never overwriting.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::KeygenArgs;
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `keygen`.
pub fn run(args: &KeygenArgs, msg: &Messages) -> Result<ExitCode> {
    crate::io::output::check_targets(
        &[crate::io::output::Target::file(&args.output, "output")],
        &[],
        &[],
    )?;
    let hex = crate::key::generate_hex()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&args.output).with_context(|| {
        format!(
            "cannot create key file {} (an existing file is never overwritten)",
            args.output.display()
        )
    })?;
    file.write_all(hex.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing key file {}", args.output.display()))?;
    let key = crate::key::MasterKey::from_hex(&hex)?;
    msg.info(&format!(
        "wrote a new key to {} (fingerprint {}). Keep it apart from the data: it is the whole protection.",
        args.output.display(),
        key.fingerprint()
    ));
    Ok(ExitCode::Success)
}
