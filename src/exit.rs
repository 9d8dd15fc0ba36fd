//! The exit-code table, in one place.

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: success.
    Success,
    /// 1: `check` found violations (reserved).
    Violations,
    /// 2: error (bad arguments, schema, key or input).
    Error,
    /// 128 + signal: interrupted (130 for SIGINT, 143 for SIGTERM).
    Interrupted(i32),
}

impl ExitCode {
    /// The numeric code.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Violations => 1,
            ExitCode::Error => 2,
            ExitCode::Interrupted(sig) => 128 + sig,
        }
    }
}
