//! The schema file as written (serde), and its resolution into [`super::Schema`].

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{
    Action, Column, ColumnWriteOptions, InputFormat, InputOptions, OnInvalid, OutputCompression,
    OutputOptions, Schema, TokenEncoding, TokenOptions, ValueType,
};
use crate::io::csv::Dialect;
use crate::io::source::TextEncoding;
use crate::transform::generalize::Granularity;
use crate::transform::normalize::Kind;

/// The schema file's tables, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    dataset: RawDataset,
    #[serde(default)]
    input: RawInput,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    columns: Vec<RawColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: String,
    version: i64,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    #[serde(default = "default_format")]
    format: String,
    #[serde(default = "default_delimiter")]
    delimiter: String,
    #[serde(default = "default_quote")]
    quote: String,
    escape: Option<String>,
    comment: Option<String>,
    #[serde(default = "default_true")]
    header: bool,
    #[serde(default = "default_text_encoding")]
    encoding: String,
    #[serde(default)]
    encodings: std::collections::BTreeMap<String, String>,
    null_values: Option<Vec<String>>,
    #[serde(default = "default_timezone")]
    timezone: String,
}

impl Default for RawInput {
    fn default() -> Self {
        RawInput {
            format: default_format(),
            delimiter: default_delimiter(),
            quote: default_quote(),
            escape: None,
            comment: None,
            header: true,
            encoding: default_text_encoding(),
            encodings: Default::default(),
            null_values: None,
            timezone: default_timezone(),
        }
    }
}

/// `[output]`: Parquet writer settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    compression: Option<String>,
    compression_level: Option<i64>,
    row_group_rows: Option<i64>,
    max_file_rows: Option<i64>,
    dictionary: Option<bool>,
    bloom_filters: Option<bool>,
    #[serde(default)]
    column: std::collections::BTreeMap<String, RawOutputColumn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutputColumn {
    dictionary: Option<bool>,
    bloom_filter: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    #[serde(default)]
    context: String,
    #[serde(default = "default_bits")]
    bits: i64,
    #[serde(default = "default_encoding")]
    encoding: String,
}

impl Default for RawTokens {
    fn default() -> Self {
        RawTokens {
            context: String::new(),
            bits: default_bits(),
            encoding: default_encoding(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    value_type: String,
    format: Option<String>,
    action: Option<String>,
    #[serde(rename = "as")]
    kind: Option<String>,
    namespace: Option<String>,
    region: Option<String>,
    on_invalid: Option<String>,
    to: Option<String>,
    output: Option<String>,
    allow_raw: Option<String>,
}

fn default_format() -> String {
    "auto".into()
}
fn default_quote() -> String {
    "\"".into()
}
fn default_text_encoding() -> String {
    "utf-8".into()
}
fn default_delimiter() -> String {
    ",".into()
}
fn default_true() -> bool {
    true
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_bits() -> i64 {
    128
}
fn default_encoding() -> String {
    "hex".into()
}
fn default_type() -> String {
    "string".into()
}

impl RawSchema {
    /// Validate every key and cross-column rule; messages name keys and columns.
    pub(super) fn resolve(self, path: &Path, sha256: String) -> Result<Schema, String> {
        if self.dataset.name.trim().is_empty() {
            return Err("[dataset].name must not be empty".into());
        }
        let input = self.input.resolve()?;
        let bits = self.tokens.bits;
        if !(96..=256).contains(&bits) || bits % 8 != 0 {
            return Err(format!(
                "[tokens].bits = {bits} must be a multiple of 8 between 96 and 256"
            ));
        }
        let encoding = match self.tokens.encoding.as_str() {
            "hex" => TokenEncoding::Hex,
            "base64url" => TokenEncoding::Base64Url,
            other => {
                return Err(format!(
                    "[tokens].encoding = {other:?} must be \"hex\" or \"base64url\""
                ))
            }
        };
        if self.columns.is_empty() {
            return Err("no [[columns]] declared".into());
        }
        let mut names = HashSet::new();
        let mut outputs = HashSet::new();
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, raw) in self.columns.into_iter().enumerate() {
            let column = raw.resolve(i + 1)?;
            if !names.insert(column.name.clone()) {
                return Err(format!("column {:?} is declared twice", column.name));
            }
            if column.action != Action::Drop && !outputs.insert(column.output.clone()) {
                return Err(format!(
                    "column {:?}: output name {:?} is used by another column",
                    column.name, column.output
                ));
            }
            columns.push(column);
        }
        if columns.iter().all(|c| c.action == Action::Drop) {
            return Err("every column is dropped: the output would have no columns".into());
        }
        Ok(Schema {
            path: path.to_path_buf(),
            sha256,
            name: self.dataset.name,
            version: self.dataset.version,
            description: self.dataset.description,
            output: self.output.resolve(&columns)?,
            input,
            tokens: TokenOptions {
                context: self.tokens.context,
                bits: bits as u16,
                encoding,
            },
            columns,
        })
    }
}

/// One ASCII byte, or an error naming the key.
fn one_byte(key: &str, value: &str) -> Result<u8, String> {
    match value.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(format!(
            "[input].{key} = {value:?} must be one ASCII character other than a newline"
        )),
    }
}

impl RawInput {
    fn resolve(&self) -> Result<InputOptions, String> {
        let format = InputFormat::parse(&self.format).ok_or_else(|| {
            format!(
                "[input].format = {:?} must be \"auto\", \"csv\", \"parquet\" or \"ndjson\"",
                self.format
            )
        })?;
        let delimiter = one_byte("delimiter", &self.delimiter)?;
        let quote = one_byte("quote", &self.quote)?;
        let escape = self
            .escape
            .as_deref()
            .map(|e| one_byte("escape", e))
            .transpose()?;
        let comment = self
            .comment
            .as_deref()
            .map(|c| one_byte("comment", c))
            .transpose()?;
        let mut used = vec![("delimiter", delimiter), ("quote", quote)];
        used.extend(escape.map(|e| ("escape", e)));
        used.extend(comment.map(|c| ("comment", c)));
        for (i, (a, x)) in used.iter().enumerate() {
            if let Some((b, _)) = used[i + 1..].iter().find(|(_, y)| y == x) {
                return Err(format!("[input].{a} and [input].{b} must differ"));
            }
        }
        let encoding = TextEncoding::parse(&self.encoding).ok_or_else(|| {
            format!(
                "[input].encoding = {:?} must be \"utf-8\", \"gb18030\" or \"gbk\"",
                self.encoding
            )
        })?;
        let mut encodings = Vec::with_capacity(self.encodings.len());
        for (pattern, enc) in &self.encodings {
            let glob = glob::Pattern::new(pattern).map_err(|e| {
                format!("[input.encodings]: {pattern:?} is not a valid file-name pattern: {e}")
            })?;
            let enc = TextEncoding::parse(enc).ok_or_else(|| {
                format!(
                    "[input.encodings]: {pattern:?} = {enc:?} must be \"utf-8\", \"gb18030\" or \"gbk\""
                )
            })?;
            encodings.push((glob, enc));
        }
        let timezone: chrono_tz::Tz = self.timezone.parse().map_err(|_| {
            format!(
                "[input].timezone = {:?} is not an IANA time zone name",
                self.timezone
            )
        })?;
        Ok(InputOptions {
            format,
            dialect: Dialect {
                delimiter,
                quote,
                escape,
                comment,
            },
            header: self.header,
            encoding,
            encodings,
            null_values: self
                .null_values
                .clone()
                .unwrap_or_else(|| vec![String::new()]),
            timezone,
        })
    }
}

impl RawOutput {
    fn resolve(self, columns: &[Column]) -> Result<OutputOptions, String> {
        let level = self.compression_level;
        let compression = match (self.compression.as_deref().unwrap_or("zstd"), level) {
            ("zstd", l) => {
                let l = l.unwrap_or(3);
                if !(1..=22).contains(&l) {
                    return Err(format!(
                        "[output].compression_level = {l} must be 1..=22 for zstd"
                    ));
                }
                OutputCompression::Zstd(l as i32)
            }
            ("snappy", None) => OutputCompression::Snappy,
            ("lz4", None) => OutputCompression::Lz4,
            ("none", None) => OutputCompression::None,
            ("snappy" | "lz4" | "none", Some(_)) => {
                return Err("[output].compression_level applies only to zstd".into())
            }
            (other, _) => {
                return Err(format!(
                    "[output].compression = {other:?} must be \"zstd\", \"snappy\", \"lz4\" or \"none\""
                ))
            }
        };
        let positive = |key: &str, v: Option<i64>| -> Result<Option<usize>, String> {
            match v {
                None => Ok(None),
                Some(n) if n >= 1 => Ok(Some(n as usize)),
                Some(n) => Err(format!("[output].{key} = {n} must be at least 1")),
            }
        };
        let mut overrides = std::collections::BTreeMap::new();
        for (name, c) in self.column {
            let declared = columns
                .iter()
                .any(|col| col.action != Action::Drop && col.output == name);
            if !declared {
                return Err(format!(
                    "[output.column.{name}]: {name:?} is not an output column of this schema"
                ));
            }
            overrides.insert(
                name,
                ColumnWriteOptions {
                    dictionary: c.dictionary,
                    bloom_filter: c.bloom_filter,
                },
            );
        }
        Ok(OutputOptions {
            compression,
            row_group_rows: positive("row_group_rows", self.row_group_rows)?,
            max_file_rows: positive("max_file_rows", self.max_file_rows)?.map(|n| n as u64),
            dictionary: self.dictionary.unwrap_or(true),
            bloom_filters: self.bloom_filters.unwrap_or(true),
            columns: overrides,
        })
    }
}

impl RawColumn {
    fn resolve(self, index: usize) -> Result<Column, String> {
        let name = self.name;
        if name.is_empty() {
            return Err(format!("column #{index}: name must not be empty"));
        }
        let at = |msg: String| format!("column {name:?}: {msg}");
        let value_type = ValueType::parse(&self.value_type).ok_or_else(|| {
            at(format!(
                "type = {:?} is not one of string, int, float, decimal(P,S), bool, date, timestamp",
                self.value_type
            ))
        })?;
        let action_name = self
            .action
            .ok_or_else(|| at("has no action (keep, drop, tokenize or generalize)".into()))?;
        let is_temporal = matches!(value_type, ValueType::Date | ValueType::Timestamp);
        if self.format.is_some() && !is_temporal {
            return Err(at(
                "format applies only to date and timestamp columns".into()
            ));
        }
        if let Some(f) = &self.format {
            crate::transform::generalize::validate_format(f, value_type)
                .map_err(|m| at(format!("format: {m}")))?;
        }
        let only = |key: &str, present: bool, action: &str| -> Result<(), String> {
            if present {
                Err(format!(
                    "column {name:?}: {key} applies only to action = {action:?}"
                ))
            } else {
                Ok(())
            }
        };
        let parse_strict = |v: &Option<String>| -> Result<OnInvalid, String> {
            match v.as_deref() {
                None | Some("error") => Ok(OnInvalid::Error),
                Some("null") => Ok(OnInvalid::Null),
                Some(other) => Err(at(format!(
                    "on_invalid = {other:?} must be \"error\" or \"null\" for this action"
                ))),
            }
        };
        let action = match action_name.as_str() {
            "keep" | "drop" => {
                only("as", self.kind.is_some(), "tokenize")?;
                only("namespace", self.namespace.is_some(), "tokenize")?;
                only("region", self.region.is_some(), "tokenize")?;
                only("to", self.to.is_some(), "generalize")?;
                if action_name == "keep" {
                    Action::Keep {
                        on_invalid: parse_strict(&self.on_invalid)?,
                    }
                } else {
                    only(
                        "on_invalid",
                        self.on_invalid.is_some(),
                        "keep, tokenize or generalize",
                    )?;
                    Action::Drop
                }
            }
            "tokenize" => {
                only("to", self.to.is_some(), "generalize")?;
                if value_type != ValueType::String {
                    return Err(at("tokenize needs type = \"string\"".into()));
                }
                let kind = match self.kind.as_deref() {
                    None | Some("id") => Kind::Id,
                    Some("phone") => {
                        let region = match &self.region {
                            Some(r) => Some(
                                crate::transform::normalize::phone_region(r).ok_or_else(|| {
                                    at(format!(
                                        "region = {r:?} is not a known ISO 3166 region code"
                                    ))
                                })?,
                            ),
                            None => None,
                        };
                        Kind::Phone { region }
                    }
                    Some("email") => Kind::Email,
                    Some("address") => Kind::Address,
                    Some(other) => {
                        return Err(at(format!(
                            "as = {other:?} must be phone, email, address or id"
                        )))
                    }
                };
                if !matches!(kind, Kind::Phone { .. }) {
                    only(
                        "region",
                        self.region.is_some(),
                        "tokenize with as = \"phone\"",
                    )?;
                }
                let namespace = self.namespace.unwrap_or_else(|| kind.name().to_string());
                if namespace.is_empty() || namespace.contains('/') {
                    return Err(at("namespace must be non-empty and contain no '/'".into()));
                }
                let on_invalid = match self.on_invalid.as_deref() {
                    None | Some("null") => OnInvalid::Null,
                    Some("error") => OnInvalid::Error,
                    Some("token") => OnInvalid::Token,
                    Some(other) => {
                        return Err(at(format!(
                            "on_invalid = {other:?} must be \"null\", \"error\" or \"token\""
                        )))
                    }
                };
                Action::Tokenize {
                    kind,
                    namespace,
                    on_invalid,
                }
            }
            "generalize" => {
                only("as", self.kind.is_some(), "tokenize")?;
                only("namespace", self.namespace.is_some(), "tokenize")?;
                only("region", self.region.is_some(), "tokenize")?;
                if !is_temporal {
                    return Err(at(
                        "generalize needs type = \"date\" or \"timestamp\"".into()
                    ));
                }
                let to_text = self.to.ok_or_else(|| {
                    at("generalize needs to = hour|day|week|month|quarter|year".into())
                })?;
                let to = Granularity::parse(&to_text).ok_or_else(|| {
                    at(format!(
                        "to = {to_text:?} must be hour, day, week, month, quarter or year"
                    ))
                })?;
                if to == Granularity::Hour && value_type == ValueType::Date {
                    return Err(at("to = \"hour\" needs type = \"timestamp\"".into()));
                }
                Action::Generalize {
                    to,
                    on_invalid: parse_strict(&self.on_invalid)?,
                }
            }
            other => {
                return Err(at(format!(
                    "action = {other:?} must be keep, drop, tokenize or generalize"
                )))
            }
        };
        let output = self.output.unwrap_or_else(|| name.clone());
        if output.is_empty() {
            return Err(at("output must not be empty".into()));
        }
        if action == Action::Drop && output != name {
            return Err(at("output is meaningless for a dropped column".into()));
        }
        Ok(Column {
            name,
            value_type,
            format: self.format,
            action,
            output,
            allow_raw: self.allow_raw,
        })
    }
}
