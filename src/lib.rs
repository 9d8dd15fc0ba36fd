//! # txanon
//!
//! Turn legacy transaction dumps into pseudonymised, typed Parquet that
//! analysts can count and join on, driven by a declared schema.
//!
//! ```text
//! CSV dump ──arrow-csv──▶ string batches ──rayon──▶ normalize · tokenize · generalize ──▶ Parquet (zstd, txanon.* metadata)
//! ```
//!
//! **Pseudonymisation, not anonymity.** Identifiers become keyed
//! HMAC-SHA256 tokens ([`transform::tokenize`]): the same customer always gets
//! the same token, so whoever holds the key can recompute the token of any
//! guessed phone number. The key is the whole protection.
//!
//! Entry points:
//! - [`schema::Schema::load`]: read and validate a schema file.
//! - [`key::MasterKey::load`]: load the key from a file or `TXANON_KEY`.
//! - [`pipeline::anonymize`]: run a whole dump through a schema into Parquet.
//! - [`check::check_files`], [`check::scan_files`], [`draft::draft_schema`]:
//!   the CI gates and the schema drafter.
//! - [`transform::normalize::normalize`] and [`transform::tokenize::Tokenizer`]:
//!   the token spec, value by value.
//! - [`aggregate`]: differentially private counts and sums (OpenDP noise,
//!   contribution bounds, a privacy-budget ledger), `txanon aggregate`.
//! - [`risk::RiskMeter`]: k-anonymity, l-diversity and unicity of an
//!   output, the measure behind the `[privacy]` release gate.
//!
//! Tokens hide who a customer is, but quasi-identifiers (dates, ages,
//! regions, amounts) can still single them out: the `shift`, `bucket`,
//! `age`, `truncate_ip` and `mask` actions coarsen them, and `[privacy]`
//! measures what is left.
//!
//! ```
//! use txanon::key::MasterKey;
//! use txanon::schema::TokenEncoding;
//! use txanon::transform::normalize::{normalize, Kind, Normalized};
//! use txanon::transform::tokenize::Tokenizer;
//!
//! let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
//! let phones = Tokenizer::new(&key, "", "phone", 128, TokenEncoding::Hex);
//! let cn = Kind::Phone { region: rlibphonenumber::Region::from_code("CN").ok() };
//! let (Normalized::Value(a), Normalized::Value(b)) =
//!     (normalize(&cn, "138 0013 8000"), normalize(&cn, "+86-138-0013-8000")) else { panic!() };
//! assert_eq!(phones.token(&a), phones.token(&b));
//! ```

#![warn(missing_docs)]

pub mod aggregate;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod dataset;
pub mod detect;
pub mod draft;
pub mod erase;
pub mod error;
pub mod exit;
pub mod io;
pub mod key;
pub mod messages;
pub mod pipeline;
pub mod report;
pub mod risk;
pub mod schema;
pub mod stdout;
pub mod transform;
pub mod values;

pub use error::{Error, Result};
