//! One thin module per subcommand: turn parsed flags into library calls.

pub mod anonymize;
pub mod keygen;
pub mod token;
