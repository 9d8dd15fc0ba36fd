//! # txanon-datafusion
//!
//! txanon's schema-driven transforms on Apache DataFusion, locally or on a
//! Ballista cluster, with tokens byte-identical to `txanon anonymize`.
//!
//! ```text
//! schema.toml ──compile──▶ Projection[txanon_tokenize(c5, '{spec}') AS mobile_token, …]
//!                                 └── CSV scan (all Utf8, one partition per file)
//!        DataFusion (threads) or Ballista executors ──▶ batches in file order ──▶ ParquetSink
//! ```
//!
//! - [`udf`]: `txanon_keep`, `txanon_tokenize`, `txanon_generalize`, which run
//!   the core's [`txanon::transform::batch::BatchPlan`] on Arrow arrays, and
//!   [`udf::KeyRing`], the redacted key holder (fingerprint only in `Debug`).
//! - [`spec`]: the key-free per-column spec a plan carries.
//! - [`plan`]: input header checks and the schema → logical plan compiler.
//! - [`engine`]: sessions (local or Ballista) and the `anonymize` run.
//!
//! The key never travels in a plan: a plan names its key by public
//! fingerprint, every executor loads the key from its own file or
//! environment, and a UDF refuses to compute when the two differ.

#![warn(missing_docs)]

pub mod engine;
pub mod plan;
pub mod spec;
pub mod udf;

/// Set up `log` output on stderr for the cluster binaries (`RUST_LOG`
/// overrides the default `info`). Messages come from Ballista and
/// DataFusion; none of ours carries a value or the key.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}
