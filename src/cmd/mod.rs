//! One thin module per subcommand: turn parsed flags into library calls.

pub mod aggregate;
pub mod anonymize;
pub mod check;
pub mod config;
pub mod dataset;
pub mod erase;
pub mod external;
pub mod init;
pub mod keygen;
pub mod privacy_search;
pub mod report;
pub mod scan;
pub mod token;
