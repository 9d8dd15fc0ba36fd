//! The schema file as written (serde), and its resolution into [`super::Schema`].

// Why this file is long (about 1,100 lines): one serde struct per TOML
// table and the resolution of every key into the model with its error
// message, in schema-file order, so a key's spelling, default and message
// are found together. If it grows, the [privacy] and [output] tables are
// the seam.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{
    Action, AgeAt, AgeSpec, Bands, BucketRule, BucketSpec, Column, ColumnWriteOptions, Derived,
    DerivedKind, EntityKey, InputFormat, InputOptions, Ladder, Level, MaskSpec, Number, OnInvalid,
    OnViolation, OutputCompression, OutputOptions, PrivacyEntity, PrivacyOptions, Schema,
    SearchOptions, ShiftSpec, TokenEncoding, TokenOptions, ValueType,
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
    privacy: Option<RawPrivacy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    min_k: i64,
    #[serde(default = "default_violation")]
    on_violation: String,
    entity: Option<String>,
    #[serde(default)]
    seed: i64,
    #[serde(default = "default_max_points")]
    max_points: i64,
    search: Option<String>,
    max_suppression: Option<f64>,
    max_search_pairs: Option<i64>,
}

/// Default of `[privacy].max_search_pairs`.
pub const DEFAULT_MAX_SEARCH_PAIRS: u64 = 3_000_000;

/// Most levels in one ladder (removal included).
pub const MAX_LEVELS: usize = 16;

/// A key that takes one value, or a list of values: one per ladder level.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// The single value of a key (the first level's when given a list).
fn one<T: Clone>(v: &Option<OneOrMany<T>>) -> Option<T> {
    match v {
        None => None,
        Some(OneOrMany::One(t)) => Some(t.clone()),
        Some(OneOrMany::Many(ts)) => ts.first().cloned(),
    }
}

fn default_violation() -> String {
    "fail".into()
}
fn default_max_points() -> i64 {
    1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerive {
    kind: String,
    output: String,
    all_domains: Option<bool>,
    values: Option<Vec<String>>,
    #[serde(default)]
    quasi: bool,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    removable: bool,
    /// `address_region` only: `"city"` (the default), `"province"`, or the
    /// ladder `["city", "province"]`.
    to: Option<OneOrMany<String>>,
}

/// The address_region levels, finest first.
const REGION_LEVELS: [&str; 2] = ["city", "province"];

impl RawDerive {
    /// The levels `to` lists: none for a single value or no `to`.
    fn ladder(&self) -> Option<&[String]> {
        match &self.to {
            Some(OneOrMany::Many(v)) => Some(v),
            _ => None,
        }
    }

    /// The derived kind at `level` of its ladder (level 0 without one).
    fn kind_at(&self, level: usize, dk: DerivedKind) -> DerivedKind {
        let to = match &self.to {
            Some(OneOrMany::Many(v)) => v.get(level).map(String::as_str),
            Some(OneOrMany::One(v)) => Some(v.as_str()),
            None => None,
        };
        match (dk, to) {
            (DerivedKind::AddressRegion, Some("province")) => DerivedKind::AddressProvince,
            _ => dk,
        }
    }

    /// Check `to`: only for address_region, `"city"` or `"province"`, and a
    /// list is exactly `["city", "province"]`.
    fn check_to(&self) -> Result<(), String> {
        let Some(to) = &self.to else { return Ok(()) };
        if self.kind != "address_region" {
            return Err(format!(
                "derived output {:?}: to applies only to kind = \"address_region\"",
                self.output
            ));
        }
        match to {
            OneOrMany::One(v) if REGION_LEVELS.contains(&v.as_str()) => Ok(()),
            OneOrMany::Many(v) if v.iter().map(String::as_str).eq(REGION_LEVELS) => Ok(()),
            _ => Err(format!(
                "derived output {:?}: to must be \"city\", \"province\" or the ladder \
                 [\"city\", \"province\"] (finest first)",
                self.output
            )),
        }
    }
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

#[derive(Debug, Clone, Deserialize)]
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
    to: Option<OneOrMany<String>>,
    output: Option<String>,
    allow_raw: Option<String>,
    by: Option<String>,
    max_days: Option<i64>,
    width: Option<toml::Value>,
    breaks: Option<Vec<toml::Value>>,
    labels: Option<bool>,
    round: Option<OneOrMany<i64>>,
    keep_first: Option<i64>,
    keep_last: Option<i64>,
    with: Option<String>,
    prefix_v4: Option<OneOrMany<i64>>,
    prefix_v6: Option<OneOrMany<i64>>,
    at: Option<String>,
    at_column: Option<String>,
    top: Option<i64>,
    #[serde(default)]
    quasi: bool,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    removable: bool,
    derive: Option<Vec<RawDerive>>,
}

/// Which actions accept each action-specific key (`on_invalid` is checked per action).
const ACTION_KEYS: [(&str, &[&str]); 19] = [
    ("as", &["tokenize"]),
    ("namespace", &["tokenize"]),
    ("region", &["tokenize"]),
    ("derive", &["tokenize"]),
    ("to", &["generalize"]),
    ("by", &["shift"]),
    ("max_days", &["shift"]),
    ("width", &["bucket"]),
    ("breaks", &["bucket", "age"]),
    ("labels", &["bucket", "age"]),
    ("round", &["bucket"]),
    ("keep_first", &["mask"]),
    ("keep_last", &["mask"]),
    ("with", &["mask"]),
    ("prefix_v4", &["truncate_ip"]),
    ("prefix_v6", &["truncate_ip"]),
    ("at", &["age"]),
    ("at_column", &["age"]),
    ("top", &["age"]),
];

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
        let mut ladders = Vec::new();
        for (i, raw) in self.columns.into_iter().enumerate() {
            let (column, levels) = raw.resolve(i + 1)?;
            ladders.extend(levels);
            if !names.insert(column.name.clone()) {
                return Err(format!("column {:?} is declared twice", column.name));
            }
            if column.action != Action::Drop && !outputs.insert(column.output.clone()) {
                return Err(format!(
                    "column {:?}: output name {:?} is used by another column",
                    column.name, column.output
                ));
            }
            for d in &column.derive {
                if !outputs.insert(d.output.clone()) {
                    return Err(format!(
                        "column {:?}: derived output name {:?} is used by another column",
                        column.name, d.output
                    ));
                }
            }
            columns.push(column);
        }
        if columns.iter().all(|c| c.action == Action::Drop) {
            return Err("every column is dropped: the output would have no columns".into());
        }
        resolve_references(&mut columns)?;
        let privacy = resolve_privacy(self.privacy, &columns, ladders)?;
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
            privacy,
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
                let l = l.unwrap_or(1);
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
            dictionary: self.dictionary,
            bloom_filters: self.bloom_filters.unwrap_or(true),
            columns: overrides,
        })
    }
}

/// Resolve `by` (shift) and `at_column` (age) against the declared columns.
fn resolve_references(columns: &mut [Column]) -> Result<(), String> {
    let lookup: Vec<(String, ValueType, Action)> = columns
        .iter()
        .map(|c| (c.name.clone(), c.value_type, c.action.clone()))
        .collect();
    let find = |n: &str| lookup.iter().find(|(name, _, _)| name == n);
    for c in columns.iter_mut() {
        let name = c.name.clone();
        match &mut c.action {
            Action::Shift(spec) => {
                let (_, ty, action) = find(&spec.by).ok_or_else(|| {
                    format!(
                        "column {name:?}: by = {:?} is not a declared column",
                        spec.by
                    )
                })?;
                if spec.by == name {
                    return Err(format!("column {name:?}: by must name another column"));
                }
                spec.key = match (ty, action) {
                    (ValueType::String, Action::Tokenize { kind, .. }) => EntityKey::Text(*kind),
                    (ValueType::String, _) => EntityKey::Text(Kind::Id),
                    (ValueType::Int, _) => EntityKey::Int,
                    _ => {
                        return Err(format!(
                            "column {name:?}: by = {:?} must name a string or int column",
                            spec.by
                        ))
                    }
                };
            }
            Action::Age(AgeSpec {
                at: AgeAt::Column(other),
                ..
            }) => {
                let (_, ty, _) = find(other).ok_or_else(|| {
                    format!("column {name:?}: at_column = {other:?} is not a declared column")
                })?;
                if !matches!(ty, ValueType::Date | ValueType::Timestamp) {
                    return Err(format!(
                        "column {name:?}: at_column = {other:?} must name a date or timestamp column"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Resolve `[privacy]` and the `quasi`/`sensitive` flags to output names.
fn resolve_privacy(
    raw: Option<RawPrivacy>,
    columns: &[Column],
    ladders: Vec<Ladder>,
) -> Result<Option<PrivacyOptions>, String> {
    let mut quasi = Vec::new();
    let mut sensitive = Vec::new();
    let mut outputs = Vec::new();
    for c in columns {
        if c.action != Action::Drop {
            outputs.push(c.output.clone());
            if c.quasi {
                quasi.push(c.output.clone());
            }
            if c.sensitive {
                sensitive.push(c.output.clone());
            }
        }
        for d in &c.derive {
            outputs.push(d.output.clone());
            if d.quasi {
                quasi.push(d.output.clone());
            }
            if d.sensitive {
                sensitive.push(d.output.clone());
            }
        }
    }
    let Some(raw) = raw else {
        if quasi.is_empty() && sensitive.is_empty() {
            return Ok(None);
        }
        return Err(
            "quasi/sensitive columns are declared but there is no [privacy] table with min_k"
                .into(),
        );
    };
    if quasi.is_empty() {
        return Err("[privacy] needs at least one column marked quasi = true".into());
    }
    if !(1..=1_000_000).contains(&raw.min_k) {
        return Err(format!(
            "[privacy].min_k = {} must be between 1 and 1000000",
            raw.min_k
        ));
    }
    let on_violation = match raw.on_violation.as_str() {
        "fail" => OnViolation::Fail,
        "suppress" => OnViolation::Suppress,
        other => {
            return Err(format!(
                "[privacy].on_violation = {other:?} must be \"fail\" or \"suppress\""
            ))
        }
    };
    let entity = match raw.entity.as_deref() {
        None => {
            return Err(format!(
                "[privacy] needs entity: k counts distinct people, not rows (a class of five \
                 purchases by one customer is one person). Add entity = \"<output column>\" \
                 naming who each row is about (typically the account token, one of: {}), or \
                 entity = \"row\" when every row is a different person",
                outputs.join(", ")
            ))
        }
        Some("row") => {
            if outputs.iter().any(|o| o == "row") {
                return Err(
                    "[privacy].entity = \"row\" is ambiguous: an output column is named \
                     \"row\"; rename that column's output"
                        .into(),
                );
            }
            PrivacyEntity::Row
        }
        Some(e) => {
            if !outputs.iter().any(|o| o == e) {
                return Err(format!(
                    "[privacy].entity = {e:?} is not an output column (name the token column's output, \
                     or \"row\" when every row is a different person)"
                ));
            }
            if quasi.iter().any(|q| q == e) {
                return Err(format!(
                    "[privacy].entity = {e:?} cannot also be a quasi-identifier"
                ));
            }
            PrivacyEntity::Column(e.to_string())
        }
    };
    let seed = u64::try_from(raw.seed)
        .map_err(|_| format!("[privacy].seed = {} must not be negative", raw.seed))?;
    let max_points = usize::try_from(raw.max_points)
        .ok()
        .filter(|m| (4..=1_000_000).contains(m))
        .ok_or_else(|| {
            format!(
                "[privacy].max_points = {} must be between 4 and 1000000",
                raw.max_points
            )
        })?;
    let search = resolve_search(&raw, on_violation, &quasi, ladders)?;
    Ok(Some(PrivacyOptions {
        min_k: raw.min_k as u64,
        on_violation,
        quasi,
        sensitive,
        entity,
        seed,
        max_points,
        search,
        chosen: None,
        removed: Vec::new(),
    }))
}

/// `[privacy] search`, `max_suppression` and the ladders of the quasi-identifiers.
fn resolve_search(
    raw: &RawPrivacy,
    on_violation: OnViolation,
    quasi: &[String],
    mut ladders: Vec<Ladder>,
) -> Result<Option<SearchOptions>, String> {
    match raw.search.as_deref() {
        None => {
            if let Some(l) = ladders.first() {
                return Err(format!(
                    "{:?} declares {} levels but [privacy] has no search = \"auto\" to choose \
                     among them: add it (with max_suppression), or pin one level by writing a \
                     single value (and no removable = true)",
                    l.output,
                    l.levels.len()
                ));
            }
            if raw.max_suppression.is_some() || raw.max_search_pairs.is_some() {
                return Err(
                    "[privacy].max_suppression and max_search_pairs apply only with search = \"auto\""
                        .into(),
                );
            }
            Ok(None)
        }
        Some("auto") => {
            let max_suppression = raw.max_suppression.ok_or_else(|| {
                "[privacy] search = \"auto\" needs max_suppression: the largest share of rows \
                 the chosen generalization may suppress (0 for none, 0.02 for 2 %)"
                    .to_string()
            })?;
            if !(0.0..1.0).contains(&max_suppression) {
                return Err(format!(
                    "[privacy].max_suppression = {max_suppression} must be at least 0 and below 1"
                ));
            }
            if on_violation != OnViolation::Suppress {
                return Err(
                    "[privacy] search = \"auto\" suppresses the rows of the chosen node's classes \
                     below min_k (at most max_suppression of them): it needs on_violation = \"suppress\""
                        .into(),
                );
            }
            let max_pairs = match raw.max_search_pairs {
                None => DEFAULT_MAX_SEARCH_PAIRS,
                Some(n) => u64::try_from(n)
                    .ok()
                    .filter(|n| (1..=1_000_000_000).contains(n))
                    .ok_or_else(|| {
                        format!("[privacy].max_search_pairs = {n} must be between 1 and 1000000000")
                    })?,
            };
            let mut ordered = Vec::with_capacity(quasi.len());
            for q in quasi {
                ordered.push(match ladders.iter().position(|l| &l.output == q) {
                    Some(i) => ladders.swap_remove(i),
                    None => Ladder {
                        output: q.clone(),
                        names: vec!["declared".to_string()],
                        levels: vec![Level::Declared],
                    },
                });
            }
            if ordered.iter().all(|l| l.levels.len() < 2) {
                return Err(
                    "[privacy] search = \"auto\" has nothing to choose: give at least one \
                     quasi-identifier levels (a list of values, or removable = true)"
                        .into(),
                );
            }
            Ok(Some(SearchOptions {
                max_suppression,
                ladders: ordered,
                max_pairs,
            }))
        }
        Some(other) => Err(format!(
            "[privacy].search = {other:?} must be \"auto\" (or absent)"
        )),
    }
}

impl RawColumn {
    /// Names of the action-specific keys present, for the "applies only to" rule.
    fn present_keys(&self) -> Vec<&'static str> {
        let present = [
            self.kind.is_some(),
            self.namespace.is_some(),
            self.region.is_some(),
            self.derive.is_some(),
            self.to.is_some(),
            self.by.is_some(),
            self.max_days.is_some(),
            self.width.is_some(),
            self.breaks.is_some(),
            self.labels.is_some(),
            self.round.is_some(),
            self.keep_first.is_some(),
            self.keep_last.is_some(),
            self.with.is_some(),
            self.prefix_v4.is_some(),
            self.prefix_v6.is_some(),
            self.at.is_some(),
            self.at_column.is_some(),
            self.top.is_some(),
        ];
        ACTION_KEYS
            .iter()
            .zip(present)
            .filter(|(_, p)| *p)
            .map(|((k, _), _)| *k)
            .collect()
    }

    /// The ladder keys given as lists, with their values: `to`, `width`,
    /// `breaks` (a list of lists), `round`, `prefix_v4`, `prefix_v6`.
    fn ladder_keys(&self) -> Result<Vec<(&'static str, Vec<String>)>, String> {
        let mut keys = Vec::new();
        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(OneOrMany::Many(v)) = &self.to {
            keys.push(("to", v.clone()));
        }
        if let Some(toml::Value::Array(v)) = &self.width {
            keys.push(("width", v.iter().map(text).collect()));
        }
        if let Some(b) = &self.breaks {
            let lists = b.iter().filter(|v| v.is_array()).count();
            if lists == b.len() && !b.is_empty() {
                keys.push(("breaks", b.iter().map(text).collect()));
            } else if lists > 0 {
                return Err(
                    "breaks must be one list of numbers, or a list of such lists (one per level)"
                        .into(),
                );
            }
        }
        if let Some(OneOrMany::Many(v)) = &self.round {
            keys.push(("round", v.iter().map(i64::to_string).collect()));
        }
        if let Some(OneOrMany::Many(v)) = &self.prefix_v4 {
            keys.push(("prefix_v4", v.iter().map(i64::to_string).collect()));
        }
        if let Some(OneOrMany::Many(v)) = &self.prefix_v6 {
            keys.push(("prefix_v6", v.iter().map(i64::to_string).collect()));
        }
        Ok(keys)
    }

    /// This column with every ladder key reduced to its value at `level`.
    fn at_level(&self, level: usize) -> RawColumn {
        let mut c = self.clone();
        let pick = |v: &mut Option<OneOrMany<i64>>| {
            if let Some(OneOrMany::Many(vs)) = v {
                *v = vs.get(level).copied().map(OneOrMany::One);
            }
        };
        if let Some(OneOrMany::Many(vs)) = &c.to {
            c.to = vs.get(level).cloned().map(OneOrMany::One);
        }
        if let Some(toml::Value::Array(vs)) = &c.width {
            c.width = vs.get(level).cloned();
        }
        if let Some(b) = &c.breaks {
            if b.iter().all(toml::Value::is_array) {
                c.breaks = b.get(level).and_then(|v| v.as_array().cloned());
            }
        }
        pick(&mut c.round);
        pick(&mut c.prefix_v4);
        pick(&mut c.prefix_v6);
        c
    }

    /// Resolve the column and, when it declares a ladder (a list for one of
    /// its level keys, or `removable = true`), the levels of its output and
    /// of its derived outputs.
    fn resolve(self, index: usize) -> Result<(Column, Vec<Ladder>), String> {
        let keys = self
            .ladder_keys()
            .map_err(|m| format!("column {:?}: {m}", self.name))?;
        let levels = keys.first().map_or(1, |(_, v)| v.len());
        let name = self.name.clone();
        let at = |m: String| format!("column {name:?}: {m}");
        if let Some((key, v)) = keys.iter().find(|(_, v)| v.len() != levels) {
            return Err(at(format!(
                "{key} lists {} levels but {} lists {levels}: every ladder key lists one value per level",
                v.len(),
                keys[0].0
            )));
        }
        if !keys.is_empty() && !(2..MAX_LEVELS).contains(&levels) {
            return Err(at(format!(
                "a ladder lists between 2 and {} levels, not {levels}",
                MAX_LEVELS - 1
            )));
        }
        if (!keys.is_empty() || self.removable) && !self.quasi {
            return Err(at(
                "levels (a list of values, or removable = true) apply only to quasi = true columns"
                    .into(),
            ));
        }
        let mut derived_levels: Vec<(String, bool, Vec<String>)> = Vec::new();
        for d in self.derive.iter().flatten() {
            d.check_to().map_err(&at)?;
            let levels = d.ladder().map(<[String]>::to_vec).unwrap_or_default();
            if (d.removable || !levels.is_empty()) && !d.quasi {
                return Err(at(format!(
                    "derived output {:?}: levels (to = [...], removable = true) apply only to \
                     quasi = true outputs",
                    d.output
                )));
            }
            derived_levels.push((d.output.clone(), d.removable, levels));
        }
        let removable = self.removable;
        let level_columns = if keys.is_empty() {
            Vec::new()
        } else {
            (0..levels)
                .map(|l| self.at_level(l).resolve_level(index))
                .collect::<Result<Vec<Column>, String>>()?
        };
        let column = self.at_level(0).resolve_level(index)?;
        let mut ladders = Vec::new();
        if !level_columns.is_empty() || removable {
            let ty = column.output_type();
            let mut names = Vec::new();
            let mut actions = Vec::new();
            for (l, c) in level_columns.into_iter().enumerate() {
                if c.output_type() != ty {
                    return Err(at(format!(
                        "level {} ({}) writes another type than level 1: every level of a ladder \
                         must write the same type",
                        l + 1,
                        keys.iter()
                            .map(|(k, v)| format!("{k} = {}", v[l]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                names.push(
                    keys.iter()
                        .map(|(k, v)| format!("{k}={}", v[l]))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                actions.push(if l == 0 {
                    Level::Declared
                } else {
                    Level::Apply(c.action)
                });
            }
            if actions.is_empty() {
                names.push("declared".to_string());
                actions.push(Level::Declared);
            }
            if removable {
                names.push("remove".to_string());
                actions.push(Level::Remove);
            }
            ladders.push(Ladder {
                output: column.output.clone(),
                names,
                levels: actions,
            });
        }
        for (output, removable, levels) in derived_levels {
            if !removable && levels.is_empty() {
                continue;
            }
            let mut names = vec![levels.first().map_or("derived", String::as_str).to_string()];
            let mut actions = vec![Level::Declared];
            let declared = column.derive.iter().find(|d| d.output == output);
            let raw = self.derive.iter().flatten().find(|d| d.output == output);
            if let (Some(declared), Some(raw)) = (declared, raw) {
                for (l, name) in levels.iter().enumerate().skip(1) {
                    names.push(name.clone());
                    actions.push(Level::Derive(raw.kind_at(l, declared.kind)));
                }
            }
            if removable {
                names.push("remove".to_string());
                actions.push(Level::Remove);
            }
            ladders.push(Ladder {
                output,
                names,
                levels: actions,
            });
        }
        Ok((column, ladders))
    }

    fn resolve_level(self, index: usize) -> Result<Column, String> {
        let name = self.name.clone();
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
        let action_name = self.action.clone().ok_or_else(|| {
            at("has no action (keep, drop, tokenize, generalize, shift, bucket, mask, truncate_ip or age)".into())
        })?;
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
        for key in self.present_keys() {
            let allowed = ACTION_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&[][..], |(_, a)| *a);
            if !allowed.contains(&action_name.as_str()) {
                let list = allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                return Err(at(format!("{key} applies only to action = {list}")));
            }
        }
        let parse_strict = |v: &Option<String>| -> Result<OnInvalid, String> {
            match v.as_deref() {
                None | Some("error") => Ok(OnInvalid::Error),
                Some("null") => Ok(OnInvalid::Null),
                Some(other) => Err(at(format!(
                    "on_invalid = {other:?} must be \"error\" or \"null\" for this action"
                ))),
            }
        };
        let numeric = matches!(
            value_type,
            ValueType::Int | ValueType::Float | ValueType::Decimal { .. }
        );
        let action = match action_name.as_str() {
            "keep" => Action::Keep {
                on_invalid: parse_strict(&self.on_invalid)?,
            },
            "drop" | "mask" => {
                if self.on_invalid.is_some() {
                    return Err(at(format!(
                        "on_invalid does not apply to action = {action_name:?}"
                    )));
                }
                if action_name == "drop" {
                    Action::Drop
                } else {
                    if value_type != ValueType::String {
                        return Err(at("mask needs type = \"string\"".into()));
                    }
                    let count = |key: &str, v: Option<i64>| -> Result<usize, String> {
                        let v = v.unwrap_or(0);
                        usize::try_from(v)
                            .ok()
                            .filter(|&n| n <= 64)
                            .ok_or_else(|| at(format!("{key} = {v} must be between 0 and 64")))
                    };
                    let keep_first = count("keep_first", self.keep_first)?;
                    let keep_last = count("keep_last", self.keep_last)?;
                    let with = self.with.as_deref().unwrap_or("*");
                    let mut chars = with.chars();
                    let ch = match (chars.next(), chars.next()) {
                        (Some(c), None) if !c.is_control() => c,
                        _ => {
                            return Err(at(
                                "with must be exactly one printable character".into()
                            ))
                        }
                    };
                    Action::Mask(MaskSpec {
                        keep_first,
                        keep_last,
                        with: ch,
                    })
                }
            }
            "tokenize" => {
                if value_type != ValueType::String {
                    return Err(at("tokenize needs type = \"string\"".into()));
                }
                let kind = match self.kind.as_deref() {
                    None | Some("id") => Kind::Id,
                    Some("phone") => {
                        let region = match &self.region {
                            Some(r) => Some(
                                crate::transform::normalize::known_phone_region(r).ok_or_else(|| {
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
                if !matches!(kind, Kind::Phone { .. }) && self.region.is_some() {
                    return Err(at(
                        "region applies only to action = \"tokenize\" with as = \"phone\"".into(),
                    ));
                }
                let namespace = self
                    .namespace
                    .clone()
                    .unwrap_or_else(|| kind.name().to_string());
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
                if !is_temporal {
                    return Err(at(
                        "generalize needs type = \"date\" or \"timestamp\"".into()
                    ));
                }
                let to_text = one(&self.to).ok_or_else(|| {
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
            "shift" => {
                if !is_temporal {
                    return Err(at("shift needs type = \"date\" or \"timestamp\"".into()));
                }
                let by = self
                    .by
                    .clone()
                    .ok_or_else(|| at("shift needs by = \"<entity column>\"".into()))?;
                let max_days = self
                    .max_days
                    .ok_or_else(|| at("shift needs max_days".into()))?;
                let max_days = u32::try_from(max_days)
                    .ok()
                    .filter(|d| (1..=MAX_SHIFT_DAYS).contains(d))
                    .ok_or_else(|| {
                        at(format!(
                            "max_days = {max_days} must be between 1 and {MAX_SHIFT_DAYS}"
                        ))
                    })?;
                Action::Shift(ShiftSpec {
                    by,
                    // Resolved against the `by` column by the schema.
                    key: EntityKey::Text(Kind::Id),
                    max_days,
                    on_invalid: parse_strict(&self.on_invalid)?,
                })
            }
            "bucket" => {
                if !numeric {
                    return Err(at(
                        "bucket needs type = \"int\", \"float\" or \"decimal(P,S)\"".into(),
                    ));
                }
                let scale = match value_type {
                    ValueType::Decimal { scale, .. } => Some(scale),
                    ValueType::Int => Some(0),
                    _ => None,
                };
                let labels = self.labels.unwrap_or(false);
                let rule = match (&self.width, &self.breaks, one(&self.round)) {
                    (Some(w), None, None) => {
                        let w = number(w, scale).map_err(|m| at(format!("width: {m}")))?;
                        if !positive(w) {
                            return Err(at("width must be greater than 0".into()));
                        }
                        BucketRule::Width(w)
                    }
                    (None, Some(b), None) => BucketRule::Breaks(
                        breaks(b, scale).map_err(|m| at(format!("breaks: {m}")))?,
                    ),
                    (None, None, Some(r)) => {
                        if labels {
                            return Err(at("labels does not apply to round".into()));
                        }
                        let r = u32::try_from(r)
                            .ok()
                            .filter(|r| (1..=15).contains(r))
                            .ok_or_else(|| at(format!("round = {r} must be between 1 and 15")))?;
                        BucketRule::Round(r)
                    }
                    _ => {
                        return Err(at(
                            "bucket needs exactly one of width, breaks or round".into()
                        ))
                    }
                };
                Action::Bucket(BucketSpec {
                    rule,
                    labels,
                    on_invalid: parse_strict(&self.on_invalid)?,
                })
            }
            "truncate_ip" => {
                if value_type != ValueType::String {
                    return Err(at("truncate_ip needs type = \"string\"".into()));
                }
                let prefix = |key: &str, v: Option<i64>, default: u8, max: u8| {
                    let v = v.unwrap_or(i64::from(default));
                    u8::try_from(v)
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(|| at(format!("{key} = {v} must be between 0 and {max}")))
                };
                Action::TruncateIp {
                    v4: prefix("prefix_v4", one(&self.prefix_v4), 24, 32)?,
                    v6: prefix("prefix_v6", one(&self.prefix_v6), 48, 128)?,
                    on_invalid: parse_strict(&self.on_invalid)?,
                }
            }
            "age" => {
                if !is_temporal {
                    return Err(at("age needs type = \"date\" or \"timestamp\"".into()));
                }
                let when = match (&self.at, &self.at_column) {
                    (Some(d), None) => AgeAt::Date(
                        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                            at(format!("at = {d:?} must be a date written YYYY-MM-DD"))
                        })?,
                    ),
                    (None, Some(c)) => AgeAt::Column(c.clone()),
                    _ => return Err(at("age needs exactly one of at or at_column".into())),
                };
                let top = match self.top {
                    Some(t) if !(1..=150).contains(&t) => {
                        return Err(at(format!("top = {t} must be between 1 and 150")))
                    }
                    t => t,
                };
                let bands = match &self.breaks {
                    Some(b) => {
                        let parsed = breaks(b, Some(0)).map_err(|m| at(format!("breaks: {m}")))?;
                        let years = parsed
                            .iter()
                            .map(|n| match n {
                                Number::Exact(v) => i64::try_from(*v).ok(),
                                Number::Float(_) => None,
                            })
                            .collect::<Option<Vec<i64>>>()
                            .ok_or_else(|| at("breaks must be whole years".into()))?;
                        Some(Bands {
                            breaks: years,
                            labels: self.labels.unwrap_or(false),
                        })
                    }
                    None if self.labels.is_some() => {
                        return Err(at("labels needs breaks on an age column".into()))
                    }
                    None => None,
                };
                Action::Age(AgeSpec {
                    at: when,
                    top,
                    bands,
                    on_invalid: parse_strict(&self.on_invalid)?,
                })
            }
            other => {
                return Err(at(format!(
                    "action = {other:?} must be keep, drop, tokenize, generalize, shift, bucket, mask, truncate_ip or age"
                )))
            }
        };
        let output = self.output.clone().unwrap_or_else(|| name.clone());
        if output.is_empty() {
            return Err(at("output must not be empty".into()));
        }
        if action == Action::Drop {
            if output != name {
                return Err(at("output is meaningless for a dropped column".into()));
            }
            if self.quasi || self.sensitive {
                return Err(at(
                    "quasi and sensitive describe outputs; a dropped column has none".into(),
                ));
            }
        }
        if self.quasi && self.sensitive {
            return Err(at("a column cannot be both quasi and sensitive".into()));
        }
        let mut derive = Vec::new();
        if let Action::Tokenize { kind, .. } = &action {
            for d in self.derive.unwrap_or_default() {
                let level0 = d.kind_at(0, DerivedKind::AddressRegion);
                let dk = match (d.kind.as_str(), kind) {
                    ("email_domain", Kind::Email) => DerivedKind::EmailDomain,
                    ("phone_region", Kind::Phone { .. }) => DerivedKind::PhoneRegion,
                    ("address_region", Kind::Address) => level0,
                    ("email_domain" | "phone_region" | "address_region", _) => {
                        return Err(at(format!(
                            "derive kind {:?} does not apply to as = {:?}",
                            d.kind,
                            kind.name()
                        )))
                    }
                    (other, _) => {
                        return Err(at(format!(
                            "derive kind {other:?} must be email_domain, phone_region or address_region"
                        )))
                    }
                };
                if d.all_domains.is_some() && d.kind != "email_domain" {
                    return Err(at("all_domains applies only to email_domain".into()));
                }
                if d.all_domains == Some(true) {
                    return Err(at(format!(
                        "derived output {:?}: all_domains = true is no longer supported: a domain \
                         outside a known list can name one person (a personal domain); list the \
                         domains to keep in values = [...]",
                        d.output
                    )));
                }
                let values: Vec<String> = d
                    .values
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v.trim().to_string())
                    .collect();
                if values.iter().any(String::is_empty) {
                    return Err(at(format!(
                        "derived output {:?}: values must not be empty",
                        d.output
                    )));
                }
                if d.output.is_empty() {
                    return Err(at("derive output must not be empty".into()));
                }
                if d.quasi && d.sensitive {
                    return Err(at(format!(
                        "derived output {:?} cannot be both quasi and sensitive",
                        d.output
                    )));
                }
                derive.push(Derived {
                    kind: dk,
                    output: d.output,
                    values,
                    quasi: d.quasi,
                    sensitive: d.sensitive,
                });
            }
        }
        Ok(Column {
            name,
            value_type,
            format: self.format,
            action,
            output,
            allow_raw: self.allow_raw,
            quasi: self.quasi,
            sensitive: self.sensitive,
            derive,
        })
    }
}

/// Largest `max_days` of a shift (ten years).
pub const MAX_SHIFT_DAYS: u32 = 3653;

fn positive(n: Number) -> bool {
    match n {
        Number::Exact(v) => v > 0,
        Number::Float(f) => f > 0.0,
    }
}

/// A TOML number in a column's domain: exact at `scale` (int/decimal) or float.
fn number(v: &toml::Value, scale: Option<i8>) -> Result<Number, String> {
    let text = match v {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) if f.is_finite() => format!("{f}"),
        _ => return Err("must be a finite number".into()),
    };
    match scale {
        None => text
            .parse::<f64>()
            .map(Number::Float)
            .map_err(|_| "must be a finite number".into()),
        Some(scale) => crate::values::parse_decimal(&text, 38, scale)
            .map(Number::Exact)
            .ok_or_else(|| {
                format!("{text} has more decimal places than the column's scale {scale}")
            }),
    }
}

fn breaks(values: &[toml::Value], scale: Option<i8>) -> Result<Vec<Number>, String> {
    if values.is_empty() {
        return Err("needs at least one value".into());
    }
    let parsed = values
        .iter()
        .map(|v| number(v, scale))
        .collect::<Result<Vec<_>, _>>()?;
    let increasing = parsed.windows(2).all(|w| match (w[0], w[1]) {
        (Number::Exact(a), Number::Exact(b)) => a < b,
        (Number::Float(a), Number::Float(b)) => a < b,
        _ => false,
    });
    if !increasing {
        return Err("values must be strictly increasing".into());
    }
    Ok(parsed)
}
