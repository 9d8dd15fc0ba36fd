//! Transforms: what happens to each value between the reader and the writer.
//!
//! - [`normalize`]: canonical spellings of phones, e-mails, addresses and ids (normalization v1).
//! - [`tokenize`]: keyed HMAC-SHA256 tokens (token spec v1).
//! - [`generalize`]: date/timestamp parsing and truncation in the dataset's zone.
//! - [`batch`]: applies a schema's actions to a batch of string columns.

pub mod batch;
pub mod generalize;
pub mod normalize;
pub mod tokenize;
