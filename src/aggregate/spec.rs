//! The declaration of an aggregate release: its own TOML file beside the
//! schema (see README "Differentially private aggregates").
//!
//! It is a file of its own, not a schema section, because it changes with
//! each release (epsilon, the groups asked for) while the schema is the
//! reviewed contract of the row-level release and is hashed into every
//! output's provenance: tuning a release would otherwise change the
//! provenance of every pseudonymised file made with the schema.
//!
//! ```toml
//! [release]
//! name = "monthly-customers-by-region"
//! entity = "account_token"              # an output column of the schema (a token)
//! group_by = ["created_month", "home_region"]
//! epsilon = 1.0
//! delta = 1e-6                          # needed when a group_by column has no public keys
//! max_groups_per_entity = 24            # groups one entity may add to
//! max_rows_per_group = 10               # rows one entity may add to one group
//!
//! [budget]
//! max_epsilon = 4.0                     # for the whole --context (the ledger)
//!
//! [keys]                                # public, closed lists of group keys
//! created_month = { months = ["2004-01", "2010-12"] }
//!
//! [[measure]]
//! kind = "count_distinct"               # entities
//! [[measure]]
//! kind = "sum"
//! column = "amount"
//! lower = 0
//! upper = 500
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::schema::Schema;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    release: RawRelease,
    budget: Option<RawBudget>,
    #[serde(default)]
    keys: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "measure")]
    measures: Vec<RawMeasure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    name: String,
    entity: String,
    group_by: Vec<String>,
    epsilon: f64,
    delta: Option<f64>,
    max_groups_per_entity: u32,
    max_rows_per_group: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    max_epsilon: f64,
    max_delta: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    kind: String,
    column: Option<String>,
    lower: Option<f64>,
    upper: Option<f64>,
    output: Option<String>,
}

/// A validated aggregate release declaration.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    /// Where it was read from.
    pub path: PathBuf,
    /// SHA-256 of its bytes (lowercase hex).
    pub sha256: String,
    /// `[release].name`.
    pub name: String,
    /// The entity column (an output column of the schema; a person's token).
    pub entity: String,
    /// The group-by columns (output columns of the schema), in order.
    pub group_by: Vec<GroupBy>,
    /// Total epsilon of the release (split evenly over its parts).
    pub epsilon: f64,
    /// Delta of partition selection (`None` when every key is public).
    pub delta: Option<f64>,
    /// Groups one entity may contribute to (l0 bound).
    pub max_groups_per_entity: u32,
    /// Rows one entity may contribute to one group.
    pub max_rows_per_group: u32,
    /// The context's budget, when declared.
    pub budget: Option<Budget>,
    /// The measures, in output order.
    pub measures: Vec<Measure>,
}

/// A declared privacy budget of a release scope.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Largest total epsilon of all releases in the context.
    pub max_epsilon: f64,
    /// Largest total delta (0 when not declared: no release may spend delta).
    pub max_delta: f64,
}

/// One group-by column.
#[derive(Debug, Clone)]
pub struct GroupBy {
    /// The output column.
    pub column: String,
    /// Its Arrow type in the output.
    pub data_type: DataType,
    /// The public, closed list of its keys (as the output displays them), if declared.
    pub public: Option<Vec<String>>,
}

/// What a measure adds up.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureKind {
    /// Rows.
    Count,
    /// Distinct entities.
    CountDistinct,
    /// Sum of a numeric column clamped to `[lower, upper]` (in minor units).
    Sum(Clamp),
    /// Noisy sum over noisy row count (two mechanisms, each half of its share).
    Mean(Clamp),
}

/// A numeric column and its clamping bounds, in the column's minor units
/// (`decimal(12,2)`: cents).
#[derive(Debug, Clone, PartialEq)]
pub struct Clamp {
    /// The output column.
    pub column: String,
    /// Decimal places of the column (0 for integers).
    pub scale: i8,
    /// Lower bound, in minor units.
    pub lower: i64,
    /// Upper bound, in minor units.
    pub upper: i64,
}

impl Clamp {
    /// The largest absolute value a clamped value can have.
    pub fn magnitude(&self) -> i64 {
        self.lower.saturating_abs().max(self.upper.saturating_abs())
    }
}

/// One measure of the release.
#[derive(Debug, Clone)]
pub struct Measure {
    /// What it adds up.
    pub kind: MeasureKind,
    /// Its output column.
    pub output: String,
}

/// Largest absolute clamping bound, in minor units.
const MAX_BOUND_MINOR: f64 = 1e15;

/// Largest public key space (the product of the public lists).
pub const MAX_PUBLIC_GROUPS: u64 = 10_000_000;

impl AggregateSpec {
    /// Read `path` and check it against the schema's output columns.
    pub fn load(path: &Path, schema: &Schema) -> Result<AggregateSpec> {
        let bytes = crate::io::read_bounded(path, crate::schema::MAX_SCHEMA_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let err =
            |message: String| Error::Usage(format!("aggregate spec {}: {message}", path.display()));
        let text = std::str::from_utf8(&bytes).map_err(|_| err("file is not UTF-8".into()))?;
        let raw: RawSpec = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        resolve(raw, path, sha256, schema).map_err(err)
    }

    /// True when every group-by column has a public key list (no partition selection).
    pub fn all_public(&self) -> bool {
        self.group_by.iter().all(|g| g.public.is_some())
    }
}

fn resolve(
    raw: RawSpec,
    path: &Path,
    sha256: String,
    schema: &Schema,
) -> std::result::Result<AggregateSpec, String> {
    let output = schema.output_schema();
    let field = |name: &str| -> std::result::Result<DataType, String> {
        output
            .field_with_name(name)
            .map(|f| f.data_type().clone())
            .map_err(|_| format!("{name:?} is not an output column of schema {}", schema.name))
    };
    let r = raw.release;
    if field(&r.entity)? != DataType::Utf8 {
        return Err(format!(
            "entity {:?} must be a text (token) column",
            r.entity
        ));
    }
    if !schema
        .columns
        .iter()
        .any(|c| c.output == r.entity && matches!(c.action, crate::schema::Action::Tokenize { .. }))
    {
        return Err(format!(
            "entity {:?} must be a tokenized column (a person's pseudonym)",
            r.entity
        ));
    }
    if r.group_by.is_empty() {
        return Err("[release].group_by needs at least one column".into());
    }
    if r.max_groups_per_entity == 0 || r.max_rows_per_group == 0 {
        return Err("max_groups_per_entity and max_rows_per_group must be at least 1".into());
    }
    if !(r.epsilon.is_finite() && r.epsilon > 0.0) {
        return Err("[release].epsilon must be a positive number".into());
    }
    let mut keys = raw.keys;
    let mut group_by = Vec::new();
    for column in &r.group_by {
        if column == &r.entity {
            return Err(format!("group_by {column:?} is the entity column"));
        }
        if group_by.iter().any(|g: &GroupBy| &g.column == column) {
            return Err(format!("group_by names {column:?} twice"));
        }
        let data_type = field(column)?;
        let public = match keys.remove(column) {
            None => None,
            Some(value) => Some(public_keys(column, &data_type, value)?),
        };
        // Each listed key is one released group with its own noise: a key
        // listed twice would be released twice, and averaging the copies
        // spends more than the declared epsilon.
        if let Some(list) = &public {
            let mut seen = std::collections::HashMap::new();
            for (i, k) in list.iter().enumerate() {
                if let Some(first) = seen.insert(k, i) {
                    return Err(format!(
                        "[keys].{column} lists one key twice (entries {} and {}): each key is \
                         released once",
                        first + 1,
                        i + 1
                    ));
                }
            }
        }
        group_by.push(GroupBy {
            column: column.clone(),
            data_type,
            public,
        });
    }
    if let Some(extra) = keys.keys().next() {
        return Err(format!("[keys].{extra} is not a group_by column"));
    }
    let product = group_by.iter().try_fold(1u64, |acc, g| {
        acc.checked_mul(g.public.as_ref().map_or(1, |p| p.len() as u64))
    });
    if product.is_none_or(|p| p > MAX_PUBLIC_GROUPS) {
        return Err(format!(
            "the public key lists make more than {MAX_PUBLIC_GROUPS} groups"
        ));
    }
    let all_public = group_by.iter().all(|g| g.public.is_some());
    let delta = match (all_public, r.delta) {
        (true, Some(_)) => {
            return Err(
                "[release].delta is only used when a group_by column has no [keys] list".into(),
            )
        }
        (true, None) => None,
        (false, None) => {
            return Err(format!(
                "group_by column(s) {} have no public [keys] list, so their groups need partition \
                 selection: declare [release].delta (for example 1e-6)",
                group_by
                    .iter()
                    .filter(|g| g.public.is_none())
                    .map(|g| g.column.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        (false, Some(d)) if !(d > 0.0 && d < 1.0) => {
            return Err("[release].delta must be between 0 and 1 (exclusive)".into())
        }
        (false, Some(d)) => Some(d),
    };
    if raw.measures.is_empty() {
        return Err("declare at least one [[measure]]".into());
    }
    let mut measures = Vec::new();
    for m in raw.measures {
        let measure = resolve_measure(m, &field)?;
        if measures
            .iter()
            .any(|o: &Measure| o.output == measure.output)
            || group_by.iter().any(|g| g.column == measure.output)
        {
            return Err(format!(
                "output column {:?} is declared twice",
                measure.output
            ));
        }
        measures.push(measure);
    }
    let budget = match raw.budget {
        None => None,
        Some(b) => {
            if !(b.max_epsilon.is_finite() && b.max_epsilon > 0.0) {
                return Err("[budget].max_epsilon must be a positive number".into());
            }
            let max_delta = b.max_delta.unwrap_or(0.0);
            if !(0.0..1.0).contains(&max_delta) {
                return Err("[budget].max_delta must be in [0, 1)".into());
            }
            Some(Budget {
                max_epsilon: b.max_epsilon,
                max_delta,
            })
        }
    };
    Ok(AggregateSpec {
        path: path.to_path_buf(),
        sha256,
        name: r.name,
        entity: r.entity,
        group_by,
        epsilon: r.epsilon,
        delta,
        max_groups_per_entity: r.max_groups_per_entity,
        max_rows_per_group: r.max_rows_per_group,
        budget,
        measures,
    })
}

fn resolve_measure(
    m: RawMeasure,
    field: &dyn Fn(&str) -> std::result::Result<DataType, String>,
) -> std::result::Result<Measure, String> {
    let clamp = |kind: &str| -> std::result::Result<Clamp, String> {
        let column = m
            .column
            .clone()
            .ok_or_else(|| format!("a {kind} measure needs column = \"...\""))?;
        let scale = match field(&column)? {
            DataType::Decimal128(_, s) if s >= 0 => s,
            DataType::Int64 | DataType::Int32 => 0,
            DataType::Decimal128(_, s) => {
                return Err(format!(
                    "{kind} of {column:?}: the column is a decimal with a negative scale ({s}); \
                     sums need a scale of 0 or more (decimal(P,S) with S >= 0)"
                ))
            }
            other => {
                return Err(format!(
                    "{kind} of {column:?}: the column is {other}; sums need an integer or \
                     decimal column (exact arithmetic in minor units)"
                ))
            }
        };
        let (Some(lower), Some(upper)) = (m.lower, m.upper) else {
            return Err(format!(
                "{kind} of {column:?} needs lower and upper clamping bounds"
            ));
        };
        let unit = 10f64.powi(i32::from(scale));
        let minor = |v: f64| -> std::result::Result<i64, String> {
            if !v.is_finite() {
                return Err(format!(
                    "{kind} of {column:?}: a bound is not a finite number"
                ));
            }
            let x = (v * unit).round();
            if x.abs() > MAX_BOUND_MINOR {
                return Err(format!(
                    "{kind} of {column:?}: bound {v} is {x:e} in the column's minor units \
                     ({scale} decimal place(s)), more than the {MAX_BOUND_MINOR:e} a bound may be \
                     (sums are exact 64-bit integers of minor units): lower the bound, or give \
                     the column fewer decimal places in the schema (decimal(P,S), smaller S)"
                ));
            }
            if (v * unit - x).abs() > 1e-6 * x.abs().max(1.0) {
                return Err(format!(
                    "{kind} of {column:?}: bound {v} has more decimal places than the column \
                     ({scale}); write it with at most {scale}"
                ));
            }
            Ok(x as i64)
        };
        let (lower, upper) = (minor(lower)?, minor(upper)?);
        if lower > upper {
            return Err(format!("{kind} of {column:?}: lower is above upper"));
        }
        Ok(Clamp {
            column,
            scale,
            lower,
            upper,
        })
    };
    let (kind, default) = match m.kind.as_str() {
        "count" => (MeasureKind::Count, "rows".to_string()),
        "count_distinct" => (MeasureKind::CountDistinct, "entities".to_string()),
        "sum" => {
            let c = clamp("sum")?;
            let name = format!("sum_{}", c.column);
            (MeasureKind::Sum(c), name)
        }
        "mean" => {
            let c = clamp("mean")?;
            let name = format!("mean_{}", c.column);
            (MeasureKind::Mean(c), name)
        }
        other => {
            return Err(format!(
                "measure kind {other:?} must be count, count_distinct, sum or mean"
            ))
        }
    };
    if matches!(kind, MeasureKind::Count | MeasureKind::CountDistinct)
        && (m.column.is_some() || m.lower.is_some() || m.upper.is_some())
    {
        return Err(format!("a {} measure takes no column or bounds", m.kind));
    }
    Ok(Measure {
        kind,
        output: m.output.unwrap_or(default),
    })
}

/// The public keys of `column` declared as `value` in `[keys]`: a list of
/// keys, or `{ months = ["YYYY-MM", "YYYY-MM"] }` for a date column. Each
/// key must be a value of the column's type written as the output displays
/// it (`2009-01-01` for a date), or no row would ever match it: refused here,
/// before any input is read, naming the entry (keys are configuration, so
/// the message may quote them).
fn public_keys(
    column: &str,
    data_type: &DataType,
    value: toml::Value,
) -> std::result::Result<Vec<String>, String> {
    let shape = || {
        format!(
            "[keys].{column} must be a list of keys ([\"a\", \"b\"]) or, for a date column, \
             {{ months = [\"YYYY-MM\", \"YYYY-MM\"] }}"
        )
    };
    let list: Vec<String> = match value {
        toml::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                toml::Value::String(s) => Ok(s),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                toml::Value::Datetime(d) => Ok(d.to_string()),
                other => Err(format!(
                    "[keys].{column} entry {}: a {} is not a key (write keys as strings, \
                     integers or booleans)",
                    i + 1,
                    other.type_str()
                )),
            })
            .collect::<std::result::Result<_, _>>()?,
        toml::Value::Table(mut t) => {
            let months = match (t.remove("months"), t.is_empty()) {
                (Some(toml::Value::Array(m)), true) if m.len() == 2 => m,
                _ => return Err(shape()),
            };
            let (Some(from), Some(to)) = (months[0].as_str(), months[1].as_str()) else {
                return Err(shape());
            };
            if !matches!(data_type, DataType::Date32) {
                return Err(format!(
                    "[keys].{column} = {{ months = [...] }} needs a date column (Date32); \
                     {column} is {data_type}: list its keys instead"
                ));
            }
            month_range(from, to).map_err(|e| format!("[keys].{column}: {e}"))?
        }
        _ => return Err(shape()),
    };
    if list.is_empty() {
        return Err(format!("[keys].{column} is an empty list"));
    }
    let text = arrow_array::StringArray::from(list.clone());
    let typed = arrow_cast::cast(&text, data_type).map_err(|e| {
        format!("[keys].{column}: the column's type {data_type} cannot be listed as keys ({e})")
    })?;
    let options = arrow_cast::display::FormatOptions::default();
    let shown = arrow_cast::display::ArrayFormatter::try_new(typed.as_ref(), &options)
        .map_err(|e| format!("[keys].{column}: {e}"))?;
    for (i, key) in list.iter().enumerate() {
        use arrow_array::Array;
        if typed.is_null(i) {
            return Err(format!(
                "[keys].{column} entry {} ({key:?}) is not a {data_type} value, the type of \
                 output column {column}",
                i + 1
            ));
        }
        let canonical = shown.value(i).to_string();
        if &canonical != key {
            return Err(format!(
                "[keys].{column} entry {} ({key:?}) is written {canonical:?} in the output: \
                 write it that way, or no row would match it",
                i + 1
            ));
        }
    }
    Ok(list)
}

/// Every month from `from` to `to` (`YYYY-MM`), as a month column displays
/// them (`YYYY-MM-01`).
fn month_range(from: &str, to: &str) -> std::result::Result<Vec<String>, String> {
    let parse = |s: &str| -> std::result::Result<(i32, u32), String> {
        let bad = || format!("month {s:?} is not YYYY-MM");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(1..=12).contains(&m) || !(1..=9999).contains(&y) {
            return Err(bad());
        }
        Ok((y, m))
    };
    let (mut y, mut m) = parse(from)?;
    let end = parse(to)?;
    if (y, m) > end {
        return Err(format!("months {from:?} to {to:?}: the range is empty"));
    }
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(format!("{y:04}-{m:02}-01"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::month_range;

    #[test]
    fn month_ranges_cover_both_ends_across_years() {
        let r = month_range("2009-11", "2010-02").unwrap();
        assert_eq!(r, ["2009-11-01", "2009-12-01", "2010-01-01", "2010-02-01"]);
        assert!(month_range("2010-02", "2009-11").is_err());
        assert!(month_range("2010-13", "2011-01").is_err());
    }
}
