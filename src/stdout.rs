//! The one writer to stdout, used by every command that prints there
//! (`anonymize --json`, `check`, `scan`, `init`, `token`, and txanon-df's
//! `sql`, `explain` and `anonymize --json`).
//!
//! - A reader that has gone away (EPIPE: `txanon scan dump.csv | head -c1`)
//!   ends the command quietly: [`Error::ClosedStdout`], which `main` turns
//!   into exit 0 with no message.
//! - Any other write error (ENOSPC from `> /dev/full`, EIO) is
//!   [`Error::Stdout`], exit 2 with a message: a report that never reached
//!   its reader must not pass for one that did.
//!
//! Output is buffered; [`Stdout::flush`] (or [`print`]) is where a write
//! error shows, so every command flushes before it reports success.
//!
//! ```no_run
//! txanon::stdout::print("report\n")?;
//! # Ok::<(), txanon::Error>(())
//! ```

use std::io::Write;

use crate::error::{Error, Result};

/// Buffered stdout whose errors are [`Error::ClosedStdout`] or [`Error::Stdout`].
#[derive(Debug)]
pub struct Stdout {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Stdout {
    /// The process's stdout, buffered.
    pub fn new() -> Stdout {
        Stdout {
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    /// Write `bytes` (buffered).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(classify)
    }

    /// Write `text` and a newline (buffered).
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.write_all(text.as_bytes())?;
        self.write_all(b"\n")
    }

    /// Push everything written so far to the reader.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(classify)
    }
}

/// Write `text` to stdout and flush.
pub fn print(text: &str) -> Result<()> {
    let mut out = Stdout::new();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The error for a failed write to stdout.
pub fn classify(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::ClosedStdout
    } else {
        Error::Stdout(e)
    }
}

/// True when `err` (anywhere in its chain) is a closed stdout: the command
/// ends with exit 0 and no message.
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| matches!(e.downcast_ref::<Error>(), Some(Error::ClosedStdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_a_closed_stdout_and_anything_else_an_error() {
        let closed = classify(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(closed, Error::ClosedStdout));
        assert!(is_closed(&anyhow::Error::new(closed).context("printing")));
        let full = classify(std::io::Error::from_raw_os_error(28));
        assert!(
            full.to_string().contains("cannot write to stdout"),
            "{full}"
        );
        assert!(!is_closed(&anyhow::Error::new(full)));
    }
}
