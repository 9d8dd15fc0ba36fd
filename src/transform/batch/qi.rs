//! Column builders of the quasi-identifier actions (`shift`, `bucket`,
//! `mask`, `truncate_ip`, `age`) and of derived outputs. The per-value rules
//! live in [`crate::transform::rules`] and [`crate::transform::shift`].

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, StringArray};
use chrono::NaiveDate;

use super::{ColumnStats, IssueSink};
use crate::schema::{
    AgeAt, AgeSpec, BucketRule, BucketSpec, Derived, MaskSpec, Number, OnInvalid, ShiftSpec,
    ValueType,
};
use crate::transform::generalize::{date32, Granularity, TemporalParser, Truncated};
use crate::transform::normalize::{normalize, Kind, Normalized};
use crate::transform::rules;
use crate::transform::shift::Shifter;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The value at `row`, or `None` when null, blank, or past the array's end.
fn value(input: &StringArray, row: usize) -> Option<&str> {
    if row >= input.len() || input.is_null(row) {
        return None;
    }
    let v = input.value(row);
    (!v.trim().is_empty()).then_some(v)
}

fn temporal_rule(value_type: ValueType) -> &'static str {
    if value_type == ValueType::Date {
        "date: does not match the declared format"
    } else {
        "timestamp: does not match the declared format (or falls in a DST gap)"
    }
}

/// The calendar date of a date value, or the local date of a timestamp.
fn local_date(parser: &TemporalParser, value_type: ValueType, raw: &str) -> Option<NaiveDate> {
    if value_type == ValueType::Date {
        parser.parse_date(raw)
    } else {
        match parser.parse_timestamp(raw)?.truncate(Granularity::Day) {
            Truncated::Date(d) => Some(d),
            Truncated::Micros(_) => None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn shift(
    input: &StringArray,
    by: &StringArray,
    value_type: ValueType,
    parser: &TemporalParser,
    spec: &ShiftSpec,
    shifter: &Shifter,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    const NO_ENTITY: &str = "shift: the by column has no valid entity value on this row";
    let len = input.len();
    let mut offsets: HashMap<&str, Option<i64>> = HashMap::new();
    let mut offset_at = |row: usize| -> Option<i64> {
        let raw = value(by, row)?;
        *offsets.entry(raw).or_insert_with(|| {
            crate::transform::shift::entity_value(spec.key, raw).map(|e| shifter.offset_days(&e))
        })
    };
    let rule = temporal_rule(value_type);
    if value_type == ValueType::Date {
        let mut b = Date32Builder::with_capacity(len);
        for row in 0..len {
            let Some(raw) = value(input, row) else {
                st.nulls += 1;
                b.append_null();
                continue;
            };
            let Some(d) = parser.parse_date(raw) else {
                sink.invalid(st, spec.on_invalid, row, rule);
                b.append_null();
                continue;
            };
            match offset_at(row).and_then(|o| d.checked_add_signed(chrono::Duration::try_days(o)?))
            {
                Some(s) => b.append_value(date32(s)),
                None => {
                    sink.invalid(st, spec.on_invalid, row, NO_ENTITY);
                    b.append_null();
                }
            }
        }
        return Arc::new(b.finish());
    }
    let mut b = TimestampMicrosecondBuilder::with_capacity(len).with_timezone("UTC");
    for row in 0..len {
        let Some(raw) = value(input, row) else {
            st.nulls += 1;
            b.append_null();
            continue;
        };
        let Some(t) = parser.parse_timestamp(raw) else {
            sink.invalid(st, spec.on_invalid, row, rule);
            b.append_null();
            continue;
        };
        match offset_at(row).and_then(|o| t.utc_micros().checked_add(o * MICROS_PER_DAY)) {
            Some(m) => b.append_value(m),
            None => {
                sink.invalid(st, spec.on_invalid, row, NO_ENTITY);
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

/// Builder of a numeric output in the column's own type, or of labels.
enum NumberOut {
    Int(Int64Builder),
    Decimal(Decimal128Builder, u8),
    Float(Float64Builder),
    Label(StringBuilder, i8),
}

impl NumberOut {
    fn new(value_type: ValueType, labels: bool, len: usize) -> NumberOut {
        let scale = match value_type {
            ValueType::Decimal { scale, .. } => scale,
            _ => 0,
        };
        if labels {
            return NumberOut::Label(StringBuilder::with_capacity(len, len * 12), scale);
        }
        match value_type {
            ValueType::Decimal { precision, scale } => NumberOut::Decimal(
                Decimal128Builder::with_capacity(len)
                    .with_precision_and_scale(precision, scale)
                    .unwrap_or_else(|_| Decimal128Builder::with_capacity(len)),
                precision,
            ),
            ValueType::Float => NumberOut::Float(Float64Builder::with_capacity(len)),
            _ => NumberOut::Int(Int64Builder::with_capacity(len)),
        }
    }

    fn null(&mut self) {
        match self {
            NumberOut::Int(b) => b.append_null(),
            NumberOut::Decimal(b, _) => b.append_null(),
            NumberOut::Float(b) => b.append_null(),
            NumberOut::Label(b, _) => b.append_null(),
        }
    }

    /// Append a typed value or a label; false when it does not fit the type.
    fn push(&mut self, lower: Number, upper: Option<Number>) -> bool {
        match (self, lower) {
            (NumberOut::Label(b, scale), _) => {
                b.append_value(rules::label(lower, upper, *scale));
                true
            }
            (NumberOut::Int(b), Number::Exact(v)) => match i64::try_from(v) {
                Ok(v) => {
                    b.append_value(v);
                    true
                }
                Err(_) => false,
            },
            (NumberOut::Decimal(b, precision), Number::Exact(v)) => {
                let ok = rules::fits_precision(v, *precision);
                if ok {
                    b.append_value(v);
                }
                ok
            }
            (NumberOut::Float(b), Number::Float(f)) => {
                b.append_value(f);
                true
            }
            _ => false,
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            NumberOut::Int(mut b) => Arc::new(b.finish()),
            NumberOut::Decimal(mut b, _) => Arc::new(b.finish()),
            NumberOut::Float(mut b) => Arc::new(b.finish()),
            NumberOut::Label(mut b, _) => Arc::new(b.finish()),
        }
    }
}

pub(super) fn bucket(
    input: &StringArray,
    value_type: ValueType,
    spec: &BucketSpec,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    const NOT_A_NUMBER: &str = "bucket: not a number of the declared type";
    const OUT_OF_RANGE: &str =
        "bucket: below the first break, or the result does not fit the column type";
    let len = input.len();
    let mut out = NumberOut::new(value_type, spec.labels, len);
    for row in 0..len {
        let Some(raw) = value(input, row) else {
            st.nulls += 1;
            out.null();
            continue;
        };
        let Some(n) = crate::values::parse_number(raw, value_type) else {
            sink.invalid(st, spec.on_invalid, row, NOT_A_NUMBER);
            out.null();
            continue;
        };
        let result = match &spec.rule {
            BucketRule::Round(digits) => rules::round_significant(n, *digits).map(|r| (r, None)),
            rule => rules::bucket(n, rule),
        };
        if !result.is_some_and(|(lo, hi)| out.push(lo, hi)) {
            sink.invalid(st, spec.on_invalid, row, OUT_OF_RANGE);
            out.null();
        }
    }
    out.finish()
}

pub(super) fn mask(input: &StringArray, spec: &MaskSpec, st: &mut ColumnStats) -> ArrayRef {
    let len = input.len();
    let mut b = StringBuilder::with_capacity(len, len * 16);
    for row in 0..len {
        match value(input, row) {
            Some(raw) => b.append_value(rules::mask(raw.trim(), spec)),
            None => {
                st.nulls += 1;
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

pub(super) fn truncate_ip(
    input: &StringArray,
    v4: u8,
    v6: u8,
    on_invalid: OnInvalid,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    let len = input.len();
    let mut b = StringBuilder::with_capacity(len, len * 16);
    for row in 0..len {
        let Some(raw) = value(input, row) else {
            st.nulls += 1;
            b.append_null();
            continue;
        };
        match rules::truncate_ip(raw, v4, v6) {
            Some(net) => b.append_value(net),
            None => {
                sink.invalid(
                    st,
                    on_invalid,
                    row,
                    "truncate_ip: not an IPv4 or IPv6 address",
                );
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

pub(super) fn age(
    input: &StringArray,
    (value_type, parser): (ValueType, &TemporalParser),
    spec: &AgeSpec,
    at_column: Option<(&StringArray, ValueType, &TemporalParser)>,
    st: &mut ColumnStats,
    sink: &mut IssueSink<'_>,
) -> ArrayRef {
    const NO_REFERENCE: &str = "age: the at_column value is missing or does not parse";
    const NEGATIVE: &str = "age: birth date after the reference date";
    const BELOW: &str = "age: below the first break";
    let len = input.len();
    let labels = spec.bands.as_ref().is_some_and(|b| b.labels);
    let mut out = NumberOut::new(ValueType::Int, labels, len);
    let rule = temporal_rule(value_type);
    let breaks: Option<Vec<Number>> = spec.bands.as_ref().map(|b| {
        b.breaks
            .iter()
            .map(|&y| Number::Exact(i128::from(y)))
            .collect()
    });
    for row in 0..len {
        let Some(raw) = value(input, row) else {
            st.nulls += 1;
            out.null();
            continue;
        };
        let Some(birth) = local_date(parser, value_type, raw) else {
            sink.invalid(st, spec.on_invalid, row, rule);
            out.null();
            continue;
        };
        let reference = match (&spec.at, at_column) {
            (AgeAt::Date(d), _) => Some(*d),
            (AgeAt::Column(_), Some((col, t, p))) => {
                value(col, row).and_then(|r| local_date(p, t, r))
            }
            (AgeAt::Column(_), None) => None,
        };
        let Some(reference) = reference else {
            sink.invalid(st, spec.on_invalid, row, NO_REFERENCE);
            out.null();
            continue;
        };
        let Some(mut years) = rules::age_years(birth, reference) else {
            sink.invalid(st, spec.on_invalid, row, NEGATIVE);
            out.null();
            continue;
        };
        if let Some(top) = spec.top {
            years = years.min(top);
        }
        let n = Number::Exact(i128::from(years));
        let result = match &breaks {
            Some(b) => rules::bucket(n, &BucketRule::Breaks(b.clone())),
            None => Some((n, None)),
        };
        if !result.is_some_and(|(lo, hi)| out.push(lo, hi)) {
            sink.invalid(st, spec.on_invalid, row, BELOW);
            out.null();
        }
    }
    out.finish()
}

pub(super) fn derive(
    input: &StringArray,
    source: &Kind,
    derived: &Derived,
    st: &mut ColumnStats,
) -> ArrayRef {
    let len = input.len();
    let mut b = StringBuilder::with_capacity(len, len * 8);
    let mut cache: HashMap<&str, Option<Box<str>>> = HashMap::new();
    for row in 0..len {
        let Some(raw) = value(input, row) else {
            st.nulls += 1;
            b.append_null();
            continue;
        };
        let derived = cache.entry(raw).or_insert_with(|| {
            let Normalized::Value(v) = normalize(source, raw) else {
                return None;
            };
            rules::derive_value(derived, &v).map(String::into_boxed_str)
        });
        match derived {
            Some(d) => b.append_value(d),
            None => {
                st.invalid += 1;
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}
