//! Transforms: what happens to each value between the reader and the writer.
//!
//! - [`normalize`]: canonical spellings of phones, e-mails, addresses and ids (normalization v1).
//! - [`tokenize`]: keyed HMAC-SHA256 tokens (token spec v1).
//! - [`generalize`]: date/timestamp parsing and truncation in the dataset's zone.
//! - [`shift`]: keyed per-entity date offsets (shift spec v1).
//! - [`privacy`]: per-value code of bucket, mask, truncate_ip, age and derived outputs.
//! - [`batch`]: applies a schema's actions to a batch of string columns.

pub mod batch;
pub mod generalize;
pub mod normalize;
pub mod rules;
pub mod shift;
pub mod tokenize;
