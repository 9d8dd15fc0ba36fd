//! The library's error type.
//!
//! Every message is built from file names, line numbers, column names and
//! rule names only. No variant carries a field's raw value or key material, so
//! any error can be shown to an operator or written to a CI log as is.

use std::path::PathBuf;

/// Errors raised by the txanon library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    ///
    /// The I/O error is part of the message, not a `source()`: an error chain
    /// printed with `{:#}` would otherwise repeat it.
    #[error("{path}: {error}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        error: std::io::Error,
    },
    /// The schema file is not valid (unknown key, bad value, inconsistent columns).
    #[error("schema {path}: {message}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong, naming keys and columns, never data values.
        message: String,
    },
    /// The key could not be loaded or is unacceptable.
    #[error("key: {0}")]
    Key(String),
    /// The input's header does not match the schema.
    #[error("{path}: {message}")]
    Header {
        /// The input file.
        path: PathBuf,
        /// What does not match, naming columns.
        message: String,
    },
    /// A record could not be used (malformed CSV, or a value that failed its rule
    /// with `on_invalid = "error"`).
    #[error("{path}:{line}: {column}: {rule}")]
    BadRecord {
        /// The input file.
        path: PathBuf,
        /// 1-based physical line number where the record starts.
        line: u64,
        /// The column involved, or `(record)` when the record as a whole is malformed.
        column: String,
        /// The rule the record broke, without the value.
        rule: String,
    },
    /// More bad records than `--max-bad-rows` allows.
    #[error("{count} bad records exceed --max-bad-rows {max}; first at {first}")]
    TooManyBadRows {
        /// Number of bad records seen so far.
        count: u64,
        /// The allowance.
        max: u64,
        /// `file:line: column: rule` of the first bad record.
        first: String,
    },
    /// A Parquet file could not be read (corrupt, unsupported, not Parquet).
    #[error("reading parquet {path}: {message}")]
    ParquetRead {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// The Parquet writer failed.
    #[error("writing parquet {path}: {message}")]
    Parquet {
        /// The output file.
        path: PathBuf,
        /// The writer's message (it never contains data values).
        message: String,
    },
    /// The output failed the `[privacy]` gate (`on_violation = "fail"`), or
    /// suppression would leave nothing. The message holds counts only.
    #[error("privacy gate: {0}")]
    Privacy(String),
    /// An output was renamed into place, but an output describing it (the
    /// manifest) could not be: the first is complete, the second missing.
    #[error(
        "{written} was written and is complete, but not {failed}: {error}{stale}",
        written = written.display(),
        failed = failed.display()
    )]
    PartlyWritten {
        /// The output in place (the data).
        written: PathBuf,
        /// The output that is not (the manifest).
        failed: PathBuf,
        /// Why its rename failed.
        error: std::io::Error,
        /// What became of an earlier file at `failed` (empty when none).
        stale: String,
    },
    /// The run was interrupted by a signal.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),
    /// A bug in txanon, not in the input or the arguments (a worker that
    /// panicked, a plan that disagrees with itself). Nothing was written.
    #[error("internal error: {0} (please report)")]
    Internal(String),
    /// Arguments that cannot be combined or used.
    #[error("{0}")]
    Usage(String),
    /// The reader of stdout went away (a closed pipe): the command ends
    /// quietly with exit 0 (see [`crate::stdout`]).
    #[error("stdout was closed by its reader")]
    ClosedStdout,
    /// Writing to stdout failed (a full disk, an I/O error): the output
    /// did not reach its reader.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}
