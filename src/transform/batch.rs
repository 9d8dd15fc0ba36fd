//! Apply a schema's column actions to one batch of decoded string columns.
//!
//! [`BatchPlan`] is built once per run (namespace keys derived, date formats
//! prepared) and shared by all worker threads; [`BatchPlan::transform`] turns
//! the string columns of one chunk into typed output arrays, counting nulls
//! and invalid values per column and reporting rows whose values broke a
//! rule with `on_invalid = "error"` (by row index and rule, never by value).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::Schema as ArrowSchema;
use serde::Serialize;

use crate::key::MasterKey;
use crate::schema::{
    Action, AgeAt, AgeSpec, BucketSpec, Derived, MaskSpec, OnInvalid, Schema, ShiftSpec, ValueType,
};
use crate::transform::generalize::{date32, Granularity, TemporalParser, Truncated};
use crate::transform::normalize::{nfkc_trim, normalize, Kind, Normalized};
use crate::transform::shift::Shifter;
use crate::transform::tokenize::Tokenizer;
use crate::values::{parse_bool, parse_decimal};

mod qi;

/// Per-column counters, summed over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColumnStats {
    /// Empty input values (written as null).
    pub nulls: u64,
    /// Values that failed to parse or normalize.
    pub invalid: u64,
    /// Of the invalid values, those tokenized under `<namespace>.invalid`.
    pub invalid_tokenized: u64,
}

impl ColumnStats {
    /// Add another chunk's counts.
    pub fn add(&mut self, other: &ColumnStats) {
        self.nulls += other.nulls;
        self.invalid += other.invalid;
        self.invalid_tokenized += other.invalid_tokenized;
    }
}

/// A row whose value broke a rule declared `on_invalid = "error"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// Row index within the batch.
    pub row: usize,
    /// Index of the column in [`BatchPlan::columns`].
    pub column: usize,
    /// The rule, without the value.
    pub rule: &'static str,
}

/// How one output column is made.
#[derive(Debug)]
pub struct ColumnPlan {
    /// Input column name.
    pub name: String,
    /// Output column name.
    pub output: String,
    /// Whether this is a derived output of the column before it.
    pub derived: bool,
    /// Index into [`BatchPlan::inputs`] of the column's own input.
    input: usize,
    op: Op,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per column, built once per run
enum Op {
    Keep {
        value_type: ValueType,
        parser: TemporalParser,
        on_invalid: OnInvalid,
    },
    Tokenize {
        kind: Kind,
        tokenizer: Tokenizer,
        invalid: Option<Tokenizer>,
        on_invalid: OnInvalid,
    },
    Generalize {
        value_type: ValueType,
        parser: TemporalParser,
        to: Granularity,
        on_invalid: OnInvalid,
    },
    Shift {
        value_type: ValueType,
        parser: TemporalParser,
        spec: ShiftSpec,
        /// Index into [`BatchPlan::inputs`] of the entity column.
        by: usize,
        shifter: Shifter,
    },
    Bucket {
        value_type: ValueType,
        spec: BucketSpec,
    },
    Mask(MaskSpec),
    TruncateIp {
        v4: u8,
        v6: u8,
        on_invalid: OnInvalid,
    },
    Age {
        value_type: ValueType,
        parser: TemporalParser,
        spec: AgeSpec,
        /// The `at_column`: input index, type and parser.
        at: Option<(usize, ValueType, TemporalParser)>,
    },
    Derive {
        source: Kind,
        derived: Derived,
    },
    /// A quasi-identifier raised to its removal level: all nulls of its type.
    Null(arrow_schema::DataType),
}

/// The per-run transform: one [`ColumnPlan`] per output column.
#[derive(Debug)]
pub struct BatchPlan {
    /// Output columns in order.
    pub columns: Vec<ColumnPlan>,
    /// The output Arrow schema.
    pub schema: Arc<ArrowSchema>,
    /// Input columns the plan reads, in order of first use; `transform`
    /// takes one string column per entry.
    pub inputs: Vec<String>,
}

impl BatchPlan {
    /// Prepare the transform for `schema` under `key` (context from the schema).
    pub fn new(schema: &Schema, key: &MasterKey) -> BatchPlan {
        let tz = schema.input.timezone;
        let tokens = &schema.tokens;
        let mut inputs: Vec<String> = Vec::new();
        let mut input_of = |name: &str| match inputs.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                inputs.push(name.to_string());
                inputs.len() - 1
            }
        };
        let removed: &[String] = schema.privacy.as_ref().map_or(&[], |p| &p.removed);
        let mut columns = Vec::new();
        for c in &schema.columns {
            if c.action == Action::Drop {
                continue;
            }
            let input = input_of(&c.name);
            let parser = TemporalParser::new(c.value_type, c.format.as_deref(), tz);
            let op = match &c.action {
                Action::Drop => continue,
                Action::Keep { on_invalid } => Op::Keep {
                    value_type: c.value_type,
                    parser,
                    on_invalid: *on_invalid,
                },
                Action::Tokenize {
                    kind,
                    namespace,
                    on_invalid,
                } => Op::Tokenize {
                    kind: *kind,
                    tokenizer: Tokenizer::new(
                        key,
                        &tokens.context,
                        namespace,
                        tokens.bits,
                        tokens.encoding,
                    ),
                    invalid: (*on_invalid == OnInvalid::Token).then(|| {
                        Tokenizer::new(
                            key,
                            &tokens.context,
                            &format!("{namespace}.invalid"),
                            tokens.bits,
                            tokens.encoding,
                        )
                    }),
                    on_invalid: *on_invalid,
                },
                Action::Generalize { to, on_invalid } => Op::Generalize {
                    value_type: c.value_type,
                    parser,
                    to: *to,
                    on_invalid: *on_invalid,
                },
                Action::Shift(spec) => Op::Shift {
                    value_type: c.value_type,
                    parser,
                    by: input_of(&spec.by),
                    shifter: Shifter::new(key, &tokens.context, spec.max_days),
                    spec: spec.clone(),
                },
                Action::Bucket(spec) => Op::Bucket {
                    value_type: c.value_type,
                    spec: spec.clone(),
                },
                Action::Mask(spec) => Op::Mask(spec.clone()),
                Action::TruncateIp { v4, v6, on_invalid } => Op::TruncateIp {
                    v4: *v4,
                    v6: *v6,
                    on_invalid: *on_invalid,
                },
                Action::Age(spec) => Op::Age {
                    value_type: c.value_type,
                    parser,
                    at: match &spec.at {
                        AgeAt::Column(other) => schema.column(other).map(|oc| {
                            (
                                input_of(other),
                                oc.value_type,
                                TemporalParser::new(oc.value_type, oc.format.as_deref(), tz),
                            )
                        }),
                        AgeAt::Date(_) => None,
                    },
                    spec: spec.clone(),
                },
            };
            let op = match c.output_type() {
                Some(t) if removed.contains(&c.output) => Op::Null(t),
                _ => op,
            };
            columns.push(ColumnPlan {
                name: c.name.clone(),
                output: c.output.clone(),
                derived: false,
                input,
                op,
            });
            if let Action::Tokenize { kind, .. } = &c.action {
                for d in &c.derive {
                    columns.push(ColumnPlan {
                        name: c.name.clone(),
                        output: d.output.clone(),
                        derived: true,
                        input,
                        op: if removed.contains(&d.output) {
                            Op::Null(arrow_schema::DataType::Utf8)
                        } else {
                            Op::Derive {
                                source: *kind,
                                derived: d.clone(),
                            }
                        },
                    });
                }
            }
        }
        BatchPlan {
            columns,
            schema: Arc::new(schema.output_schema()),
            inputs,
        }
    }

    /// Transform one batch: `inputs[i]` is the string column named `self.inputs[i]`.
    pub fn transform(
        &self,
        inputs: &[&StringArray],
    ) -> (Vec<ArrayRef>, Vec<ColumnStats>, Vec<RowIssue>) {
        let mut arrays = Vec::with_capacity(self.columns.len());
        let mut stats = Vec::with_capacity(self.columns.len());
        let mut issues = Vec::new();
        let empty = StringArray::from(Vec::<Option<&str>>::new());
        let input_at = |i: usize| inputs.get(i).copied().unwrap_or(&empty);
        for (i, plan) in self.columns.iter().enumerate() {
            let input = input_at(plan.input);
            let mut st = ColumnStats::default();
            let mut sink = IssueSink {
                column: i,
                issues: &mut issues,
            };
            let array = match &plan.op {
                Op::Keep {
                    value_type,
                    parser,
                    on_invalid,
                } => keep(input, *value_type, parser, *on_invalid, &mut st, &mut sink),
                Op::Tokenize {
                    kind,
                    tokenizer,
                    invalid,
                    on_invalid,
                } => tokenize(
                    input,
                    kind,
                    tokenizer,
                    invalid.as_ref(),
                    *on_invalid,
                    &mut st,
                    &mut sink,
                ),
                Op::Generalize {
                    value_type,
                    parser,
                    to,
                    on_invalid,
                } => generalize(
                    input,
                    *value_type,
                    parser,
                    *to,
                    *on_invalid,
                    &mut st,
                    &mut sink,
                ),
                Op::Shift {
                    value_type,
                    parser,
                    spec,
                    by,
                    shifter,
                } => qi::shift(
                    input,
                    input_at(*by),
                    *value_type,
                    parser,
                    spec,
                    shifter,
                    &mut st,
                    &mut sink,
                ),
                Op::Bucket { value_type, spec } => {
                    qi::bucket(input, *value_type, spec, &mut st, &mut sink)
                }
                Op::Mask(spec) => qi::mask(input, spec, &mut st),
                Op::TruncateIp { v4, v6, on_invalid } => {
                    qi::truncate_ip(input, *v4, *v6, *on_invalid, &mut st, &mut sink)
                }
                Op::Age {
                    value_type,
                    parser,
                    spec,
                    at,
                } => qi::age(
                    input,
                    (*value_type, parser),
                    spec,
                    at.as_ref().map(|(i, t, p)| (input_at(*i), *t, p)),
                    &mut st,
                    &mut sink,
                ),
                Op::Derive { source, derived } => qi::derive(input, source, derived, &mut st),
                Op::Null(t) => {
                    st.nulls += input.len() as u64;
                    arrow_array::new_null_array(t, input.len())
                }
            };
            arrays.push(array);
            stats.push(st);
        }
        issues.sort_by_key(|x| (x.row, x.column));
        issues.dedup_by_key(|x| x.row);
        (arrays, stats, issues)
    }
}

struct IssueSink<'a> {
    column: usize,
    issues: &'a mut Vec<RowIssue>,
}

impl IssueSink<'_> {
    /// Count an invalid value; returns true when it must be written as null.
    fn invalid(
        &mut self,
        st: &mut ColumnStats,
        on_invalid: OnInvalid,
        row: usize,
        rule: &'static str,
    ) {
        st.invalid += 1;
        if on_invalid == OnInvalid::Error {
            self.issues.push(RowIssue {
                row,
                column: self.column,
                rule,
            });
        }
    }
}

/// What one distinct raw value becomes; cached per batch because customers
/// recur (the same phone appears on many payments).
#[derive(Clone, Copy)]
enum Outcome {
    /// A token: its byte range in the batch's token arena.
    Token(usize, usize),
    Empty,
    Invalid(&'static str, Option<(usize, usize)>),
}

fn tokenize(
    input: &StringArray,
    kind: &Kind,
    tokenizer: &Tokenizer,
    invalid_tok: Option<&Tokenizer>,
    on_invalid: OnInvalid,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    let len = input.len();
    let mut b = StringBuilder::with_capacity(len, len * tokenizer.token_len());
    // Each distinct value of the batch is normalized and hashed once (a
    // customer's rows often sit close together). The tokens live in one
    // arena string rather than one allocation each; foldhash, seeded per
    // process, keeps the lookups cheap.
    let mut cache: HashMap<&str, Outcome, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(len.min(16_384), foldhash::fast::RandomState::default());
    let mut arena = String::with_capacity(len.min(16_384) * tokenizer.token_len());
    for row in 0..len {
        if input.is_null(row) {
            st.nulls += 1;
            b.append_null();
            continue;
        }
        let raw = input.value(row);
        let outcome = *cache
            .entry(raw)
            .or_insert_with(|| match normalize(kind, raw) {
                Normalized::Value(v) => {
                    let start = arena.len();
                    tokenizer.token_into(&v, &mut arena);
                    Outcome::Token(start, arena.len())
                }
                Normalized::Empty => Outcome::Empty,
                Normalized::Invalid(rule) => Outcome::Invalid(
                    rule,
                    invalid_tok.map(|t| {
                        let start = arena.len();
                        t.token_into(&nfkc_trim(raw), &mut arena);
                        (start, arena.len())
                    }),
                ),
            });
        match outcome {
            // The ranges were cut at the arena's length before and after
            // `token_into` appended to it: char boundaries, in bounds.
            Outcome::Token(start, end) => b.append_value(&arena[start..end]),
            Outcome::Empty => {
                st.nulls += 1;
                b.append_null();
            }
            Outcome::Invalid(rule, token) => {
                sink.invalid(st, on_invalid, row, rule);
                match token {
                    Some((start, end)) => {
                        st.invalid_tokenized += 1;
                        b.append_value(&arena[start..end]);
                    }
                    None => b.append_null(),
                }
            }
        }
    }
    Arc::new(b.finish())
}

fn generalize(
    input: &StringArray,
    value_type: ValueType,
    parser: &TemporalParser,
    to: Granularity,
    on_invalid: OnInvalid,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    let len = input.len();
    let rule = if value_type == ValueType::Date {
        "date: does not match the declared format"
    } else {
        "timestamp: does not match the declared format (or falls in a DST gap)"
    };
    if to == Granularity::Hour {
        let mut b = TimestampMicrosecondBuilder::with_capacity(len).with_timezone("UTC");
        for row in 0..len {
            if input.is_null(row) || input.value(row).trim().is_empty() {
                st.nulls += 1;
                b.append_null();
                continue;
            }
            match parser
                .parse_timestamp(input.value(row))
                .map(|t| t.truncate(to))
            {
                Some(Truncated::Micros(m)) => b.append_value(m),
                _ => {
                    sink.invalid(st, on_invalid, row, rule);
                    b.append_null();
                }
            }
        }
        return Arc::new(b.finish());
    }
    let mut b = Date32Builder::with_capacity(len);
    for row in 0..len {
        if input.is_null(row) || input.value(row).trim().is_empty() {
            st.nulls += 1;
            b.append_null();
            continue;
        }
        let raw = input.value(row);
        let date = if value_type == ValueType::Date {
            parser
                .parse_date(raw)
                .map(|d| crate::transform::generalize::truncate_date(d, to))
        } else {
            parser
                .parse_timestamp(raw)
                .and_then(|t| match t.truncate(to) {
                    Truncated::Date(d) => Some(d),
                    Truncated::Micros(_) => None,
                })
        };
        match date {
            Some(d) => b.append_value(date32(d)),
            None => {
                sink.invalid(st, on_invalid, row, rule);
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

/// Run `parse` over non-empty values, appending results or nulls.
macro_rules! keep_typed {
    ($input:expr, $builder:expr, $st:expr, $sink:expr, $on_invalid:expr, $rule:expr, $parse:expr) => {{
        let input = $input;
        let mut b = $builder;
        for row in 0..input.len() {
            if input.is_null(row) || input.value(row).trim().is_empty() {
                $st.nulls += 1;
                b.append_null();
                continue;
            }
            match $parse(input.value(row)) {
                Some(v) => b.append_value(v),
                None => {
                    $sink.invalid($st, $on_invalid, row, $rule);
                    b.append_null();
                }
            }
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

fn keep(
    input: &StringArray,
    value_type: ValueType,
    parser: &TemporalParser,
    on_invalid: OnInvalid,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    let len = input.len();
    match value_type {
        ValueType::String => {
            st.nulls += input.null_count() as u64;
            Arc::new(input.clone())
        }
        ValueType::Int => keep_typed!(
            input,
            Int64Builder::with_capacity(len),
            st,
            sink,
            on_invalid,
            "int: not a 64-bit integer",
            |s: &str| s.trim().parse::<i64>().ok()
        ),
        ValueType::Float => keep_typed!(
            input,
            Float64Builder::with_capacity(len),
            st,
            sink,
            on_invalid,
            "float: not a number",
            |s: &str| s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
        ),
        ValueType::Bool => keep_typed!(
            input,
            BooleanBuilder::with_capacity(len),
            st,
            sink,
            on_invalid,
            "bool: not one of true/false/1/0/yes/no",
            parse_bool
        ),
        ValueType::Decimal { precision, scale } => {
            let b = Decimal128Builder::with_capacity(len)
                .with_precision_and_scale(precision, scale)
                .unwrap_or_else(|_| Decimal128Builder::with_capacity(len));
            keep_typed!(
                input,
                b,
                st,
                sink,
                on_invalid,
                "decimal: not a decimal within the declared precision and scale",
                |s: &str| parse_decimal(s, precision, scale)
            )
        }
        ValueType::Date => keep_typed!(
            input,
            Date32Builder::with_capacity(len),
            st,
            sink,
            on_invalid,
            "date: does not match the declared format",
            |s: &str| parser.parse_date(s).map(date32)
        ),
        ValueType::Timestamp => keep_typed!(
            input,
            TimestampMicrosecondBuilder::with_capacity(len).with_timezone("UTC"),
            st,
            sink,
            on_invalid,
            "timestamp: does not match the declared format (or falls in a DST gap)",
            |s: &str| parser.parse_timestamp(s).map(|t| t.utc_micros())
        ),
    }
}

#[cfg(test)]
mod tests;
