//! Schema files: the declaration of every input column and what happens to it.
//!
//! A schema is a TOML file (see `schemas/transactions.toml` and the README).
//! [`Schema::load`] parses it strictly (unknown keys are errors that name the
//! key) and resolves it into typed [`Column`]s with one [`Action`] each.
//! [`Schema::output_schema`] gives the Arrow schema that `anonymize` writes,
//! which the later `check` command compares output files against.
//!
//! ```
//! let text = r#"
//! [dataset]
//! name = "demo"
//! version = 1
//! [[columns]]
//! name = "mobile"
//! action = "tokenize"
//! as = "phone"
//! region = "CN"
//! "#;
//! let schema = txanon::schema::Schema::from_toml(text, "demo.toml".as_ref()).unwrap();
//! assert_eq!(schema.columns[0].output, "mobile");
//! ```

mod raw;

use std::path::{Path, PathBuf};

use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::transform::generalize::Granularity;
use crate::transform::normalize::Kind;

pub use crate::values::{timestamp_utc, ValueType};
pub use raw::RawSchema;

/// Token encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEncoding {
    /// Lowercase hexadecimal.
    Hex,
    /// URL-safe base64 without padding.
    Base64Url,
}

/// What to do with a value that fails to parse or normalize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Write null and count it.
    Null,
    /// Treat the record as bad (stops the run unless `--max-bad-rows` allows it).
    Error,
    /// Tokenize the NFKC-trimmed text under `<namespace>.invalid` (tokenize only).
    Token,
}

/// The action declared for a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Pass through, parsed to the declared type.
    Keep {
        /// Unparseable values: `Error` or `Null`.
        on_invalid: OnInvalid,
    },
    /// Not written.
    Drop,
    /// Replaced by a keyed token of its normalized value.
    Tokenize {
        /// Which normalizer applies.
        kind: Kind,
        /// Token namespace; columns sharing it share tokens.
        namespace: String,
        /// Values that fail normalization.
        on_invalid: OnInvalid,
    },
    /// Date/timestamp truncated to the start of its period.
    Generalize {
        /// The period.
        to: Granularity,
        /// Unparseable values: `Error` or `Null`.
        on_invalid: OnInvalid,
    },
    /// Date/timestamp moved by a keyed per-entity offset (shift spec v1).
    Shift(ShiftSpec),
    /// Number replaced by its bucket (lower bound or label) or rounded.
    Bucket(BucketSpec),
    /// Text with all but a fixed part replaced by a mask character.
    Mask(MaskSpec),
    /// IP address truncated to its network prefix.
    TruncateIp {
        /// IPv4 prefix length, 0..=32.
        v4: u8,
        /// IPv6 prefix length, 0..=128.
        v6: u8,
        /// Unparseable addresses: `Error` or `Null`.
        on_invalid: OnInvalid,
    },
    /// Birth date replaced by an age in whole years.
    Age(AgeSpec),
}

impl Action {
    /// Short rule name used in messages and metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Keep { .. } => "keep",
            Action::Drop => "drop",
            Action::Tokenize { .. } => "tokenize",
            Action::Generalize { .. } => "generalize",
            Action::Shift(_) => "shift",
            Action::Bucket(_) => "bucket",
            Action::Mask(_) => "mask",
            Action::TruncateIp { .. } => "truncate_ip",
            Action::Age(_) => "age",
        }
    }
}

/// One declared input column, resolved.
#[derive(Debug, Clone)]
pub struct Column {
    /// Input column name.
    pub name: String,
    /// Declared type of the input values.
    pub value_type: ValueType,
    /// strftime pattern for date/timestamp columns; `None` means ISO 8601.
    pub format: Option<String>,
    /// What happens to the column.
    pub action: Action,
    /// Output column name.
    pub output: String,
    /// A documented reason for keeping PII-looking content raw (used by `check`).
    pub allow_raw: Option<String>,
    /// The output is a quasi-identifier (`quasi = true`), measured by `[privacy]`.
    pub quasi: bool,
    /// The output is a sensitive attribute (`sensitive = true`): l-diversity.
    pub sensitive: bool,
    /// Derived outputs of a tokenize column (`derive = [...]`), written right after it.
    pub derive: Vec<Derived>,
}

impl Column {
    /// The Arrow type of this column in the output, or `None` when dropped.
    pub fn output_type(&self) -> Option<DataType> {
        match &self.action {
            Action::Drop => None,
            Action::Keep { .. } => Some(self.value_type.arrow_type()),
            Action::Tokenize { .. } => Some(DataType::Utf8),
            Action::Generalize { to, .. } => Some(if *to == Granularity::Hour {
                timestamp_utc()
            } else {
                DataType::Date32
            }),
            Action::Shift(_) => Some(self.value_type.arrow_type()),
            Action::Bucket(b) => Some(if b.labels {
                DataType::Utf8
            } else {
                self.value_type.arrow_type()
            }),
            Action::Mask(_) | Action::TruncateIp { .. } => Some(DataType::Utf8),
            Action::Age(a) => Some(if a.bands.as_ref().is_some_and(|b| b.labels) {
                DataType::Utf8
            } else {
                DataType::Int64
            }),
        }
    }
}

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Per file, from its content: Parquet by its magic bytes, NDJSON when
    /// the name ends in `.ndjson`/`.jsonl` (before any `.gz`/`.zst`), CSV otherwise.
    Auto,
    /// Delimited text.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// Newline-delimited JSON objects.
    Ndjson,
}

impl InputFormat {
    fn parse(text: &str) -> Option<InputFormat> {
        Some(match text.trim() {
            "auto" => InputFormat::Auto,
            "csv" => InputFormat::Csv,
            "parquet" => InputFormat::Parquet,
            "ndjson" | "jsonl" => InputFormat::Ndjson,
            _ => return None,
        })
    }
}

/// `[input]` options.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// File format (`auto` decides per file).
    pub format: InputFormat,
    /// CSV delimiter, quote, escape and comment bytes.
    pub dialect: crate::io::csv::Dialect,
    /// Whether the first CSV record is a header.
    pub header: bool,
    /// Text encoding of CSV and NDJSON files.
    pub encoding: crate::io::source::TextEncoding,
    /// Per-file exceptions: the first file-name pattern that matches decides.
    pub encodings: Vec<(glob::Pattern, crate::io::source::TextEncoding)>,
    /// CSV field values read as null (default: the empty string).
    pub null_values: Vec<String>,
    /// Zone for timestamps without an offset, and for truncation.
    pub timezone: chrono_tz::Tz,
}

impl InputOptions {
    /// The text encoding of `path`: the first `[input.encodings]` pattern
    /// matching its file name, else `[input].encoding`.
    pub fn encoding_for(&self, path: &Path) -> crate::io::source::TextEncoding {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.encodings
            .iter()
            .find(|(p, _)| p.matches(&name))
            .map_or(self.encoding, |(_, e)| *e)
    }
}

/// Parquet compression codecs for the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputCompression {
    /// Zstandard at a level 1..=22.
    Zstd(i32),
    /// Snappy.
    Snappy,
    /// LZ4 (raw).
    Lz4,
    /// Uncompressed.
    None,
}

/// Per-output-column writer overrides (`[output.column.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnWriteOptions {
    /// Dictionary encoding on/off.
    pub dictionary: Option<bool>,
    /// Bloom filter on/off.
    pub bloom_filter: Option<bool>,
}

/// `[output]`: Parquet writer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// Codec.
    pub compression: OutputCompression,
    /// Rows per row group (`--row-group-rows` overrides).
    pub row_group_rows: Option<usize>,
    /// Directory outputs roll to a new part file after this many rows.
    pub max_file_rows: Option<u64>,
    /// Dictionary encoding for all columns; `None`: chosen per column from
    /// the first row group of each file (see `io::parquet_writer`).
    pub dictionary: Option<bool>,
    /// Bloom filters on token columns.
    pub bloom_filters: bool,
    /// Overrides by output column name.
    pub columns: std::collections::BTreeMap<String, ColumnWriteOptions>,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            compression: OutputCompression::Zstd(1),
            row_group_rows: None,
            max_file_rows: None,
            dictionary: None,
            bloom_filters: true,
            columns: Default::default(),
        }
    }
}

/// `[tokens]` options.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Release scope mixed into every namespace key.
    pub context: String,
    /// Token length in bits: 96..=256, multiple of 8.
    pub bits: u16,
    /// Text encoding of tokens.
    pub encoding: TokenEncoding,
}

/// A loaded, validated schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the schema file bytes, lowercase hex.
    pub sha256: String,
    /// `[dataset].name`.
    pub name: String,
    /// `[dataset].version`.
    pub version: i64,
    /// `[dataset].description`.
    pub description: Option<String>,
    /// `[input]`.
    pub input: InputOptions,
    /// `[tokens]`.
    pub tokens: TokenOptions,
    /// `[output]`.
    pub output: OutputOptions,
    /// Every declared input column, in output order.
    pub columns: Vec<Column>,
    /// `[privacy]`: the disclosure-risk gate, when quasi-identifiers are declared.
    pub privacy: Option<PrivacyOptions>,
}

/// Largest schema file read (a schema of thousands of columns with
/// comments is well under it; a device such as `/dev/zero` is not).
pub const MAX_SCHEMA_BYTES: usize = 4 << 20;

impl Schema {
    /// Read and validate a schema file.
    pub fn load(path: &Path) -> Result<Schema> {
        let bytes =
            crate::io::read_bounded(path, MAX_SCHEMA_BYTES).map_err(|e| Error::io(path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Schema {
            path: path.to_path_buf(),
            message: "file is not UTF-8".into(),
        })?;
        Schema::from_toml(text, path)
    }

    /// Parse and validate schema text; `path` is used in messages and metadata.
    pub fn from_toml(text: &str, path: &Path) -> Result<Schema> {
        let err = |message: String| Error::Schema {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawSchema = toml::from_str(text).map_err(|e| err(toml_error(text, &e)))?;
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        raw.resolve(path, sha256).map_err(err)
    }

    /// The Arrow schema of the output: declared order minus drops, renamed.
    pub fn output_schema(&self) -> ArrowSchema {
        let mut fields = Vec::new();
        for c in &self.columns {
            if let Some(t) = c.output_type() {
                fields.push(Field::new(&c.output, t, true));
            }
            for d in &c.derive {
                fields.push(Field::new(&d.output, DataType::Utf8, true));
            }
        }
        ArrowSchema::new(fields)
    }

    /// Find a column by input name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The effective token context: `--context` when given, else `[tokens].context`.
    pub fn with_context(mut self, context: Option<String>) -> Schema {
        if let Some(c) = context {
            self.tokens.context = c;
        }
        self
    }
}

pub use spec::{
    AgeAt, AgeSpec, Bands, BucketRule, BucketSpec, Derived, DerivedKind, EntityKey, Ladder, Level,
    MaskSpec, Number, OnViolation, PrivacyEntity, PrivacyOptions, SearchOptions, ShiftSpec,
};

mod spec;

/// A TOML error as `line L, column C: message`, without the source snippet
/// that `toml` prints: when an operator passes the wrong file as the schema
/// (the key file, a dump), the snippet would echo the key or a data line.
/// Quoted fragments longer than a key name are not shown either.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let place = e
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
    format!(
        "TOML parse error at {}{}",
        place.unwrap_or_default(),
        shorten_quoted(e.message().trim())
    )
}

/// Replace `...` and "..." fragments (or an unclosed one) longer than 24 characters.
fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = &rest[open..=open];
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(quote).unwrap_or(rest.len());
        let inner = &rest[..close];
        out.push_str(if inner.chars().count() > 24 {
            "(long text not shown)"
        } else {
            inner
        });
        rest = &rest[close..];
        if let Some(after) = rest.strip_prefix(quote) {
            out.push_str(quote);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
