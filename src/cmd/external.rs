//! `txanon sql` and `txanon anonymize --engine datafusion|ballista`: run the
//! `txanon-df` binary (crates/txanon-datafusion) with the same arguments,
//! like git or cargo run their external subcommands.
//!
//! DataFusion and Ballista are a large build, so they live in their own
//! workspace member and the core binary never links them. `txanon-df` is
//! looked up next to this executable (both land in the same `target/`
//! directory or install prefix); `TXANON_DF` may name it explicitly.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::exit::ExitCode;

/// File name of the DataFusion/Ballista front end.
pub const DF_BINARY: &str = "txanon-df";

/// Environment variable naming the `txanon-df` executable explicitly.
pub const DF_ENV: &str = "TXANON_DF";

/// Where `txanon-df` is expected.
pub fn df_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(DF_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    Ok(dir.join(format!("{DF_BINARY}{}", std::env::consts::EXE_SUFFIX)))
}

/// Run `txanon-df` with `args` (the command line after the program name)
/// and return its exit code. The key is never an argument, so nothing
/// secret passes through here; `TXANON_KEY` is inherited like any variable.
pub fn run_df(what: &str, args: Vec<OsString>) -> Result<ExitCode> {
    let bin = df_binary()?;
    if !bin.is_file() {
        bail!(
            "{what} runs the {DF_BINARY} binary, which is not at {}: build it with \
             `cargo build --release -p txanon-datafusion` (it lands next to txanon), \
             or set {DF_ENV} to its path",
            bin.display()
        );
    }
    let status = std::process::Command::new(&bin)
        .args(args)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", bin.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::Success,
        Some(1) => ExitCode::Violations,
        Some(c) if c > 128 => ExitCode::Interrupted(c - 128),
        Some(_) => ExitCode::Error,
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                status
                    .signal()
                    .map_or(ExitCode::Error, ExitCode::Interrupted)
            }
            #[cfg(not(unix))]
            {
                ExitCode::Error
            }
        }
    })
}
