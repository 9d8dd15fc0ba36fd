//! The value types a column declares and the parsers of their text
//! spellings (bool, decimal, number), shared by the schema loader (which
//! checks declared bounds and breaks with them) and the transforms (which
//! parse every value with them). Temporal formats are parsed by
//! [`crate::transform::generalize::TemporalParser`], which depends on this
//! module and not on the schema.

use std::sync::Arc;

use arrow_schema::{DataType, TimeUnit};

/// Declared value types of input columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// Exact decimal with precision and scale (Parquet DECIMAL).
    Decimal {
        /// Total number of digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=precision.
        scale: i8,
    },
    /// true/false.
    Bool,
    /// Calendar date.
    Date,
    /// Date and time; naive values are read in `[input].timezone`.
    Timestamp,
}

impl ValueType {
    /// Parse the schema spelling (`"int"`, `"decimal(12,2)"`, ...).
    pub fn parse(text: &str) -> Option<ValueType> {
        let t = text.trim();
        Some(match t {
            "string" => ValueType::String,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "date" => ValueType::Date,
            "timestamp" => ValueType::Timestamp,
            _ => {
                let inner = t.strip_prefix("decimal(")?.strip_suffix(')')?;
                let (p, s) = inner.split_once(',')?;
                let precision: u8 = p.trim().parse().ok()?;
                let scale: i8 = s.trim().parse().ok()?;
                if !(1..=38).contains(&precision) || scale < 0 || scale as u8 > precision {
                    return None;
                }
                ValueType::Decimal { precision, scale }
            }
        })
    }

    /// The Arrow type a `keep` column of this type is written as.
    pub fn arrow_type(self) -> DataType {
        match self {
            ValueType::String => DataType::Utf8,
            ValueType::Int => DataType::Int64,
            ValueType::Float => DataType::Float64,
            ValueType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            ValueType::Bool => DataType::Boolean,
            ValueType::Date => DataType::Date32,
            ValueType::Timestamp => timestamp_utc(),
        }
    }
}

/// The Arrow type used for all timestamps txanon writes: microseconds, UTC.
pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// A number in a column's own domain: exact for `int` and `decimal(P,S)`
/// columns (the unscaled integer at the column's scale), binary for `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Unscaled integer at the column's scale (`12.50` at scale 2 is 1250).
    Exact(i128),
    /// A finite 64-bit float.
    Float(f64),
}

/// Parse the boolean spellings `keep` accepts.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Some(true),
        "false" | "f" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Parse a plain decimal (`-123.45`, no exponent) into an unscaled i128.
/// More fractional digits than `scale`, or more integer digits than
/// `precision - scale`, is invalid: values are never rounded silently.
pub fn parse_decimal(s: &str, precision: u8, scale: i8) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = usize::try_from(scale).ok()?;
    if frac.len() > scale {
        return None;
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > usize::from(precision) {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac.len()..scale {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

/// Parse a value of a numeric column into its domain (exact or float).
pub fn parse_number(s: &str, value_type: ValueType) -> Option<Number> {
    let s = s.trim();
    match value_type {
        ValueType::Int => s.parse::<i64>().ok().map(|v| Number::Exact(i128::from(v))),
        ValueType::Decimal { precision, scale } => {
            parse_decimal(s, precision, scale).map(Number::Exact)
        }
        ValueType::Float => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_or_invalid() {
        assert_eq!(parse_decimal("1234.5", 12, 2), Some(123450));
        assert_eq!(parse_decimal("-0.01", 12, 2), Some(-1));
        assert_eq!(parse_decimal("007", 3, 0), Some(7));
        assert_eq!(parse_decimal("1.234", 12, 2), None);
        assert_eq!(parse_decimal("1e5", 12, 2), None);
        assert_eq!(parse_decimal("12,34", 12, 2), None);
        assert_eq!(parse_decimal("1000", 5, 2), None);
        assert_eq!(parse_decimal("999.99", 5, 2), Some(99999));
        assert_eq!(parse_decimal(".", 5, 2), None);
    }

    #[test]
    fn decimal_signs_and_edges() {
        let nines = "9".repeat(38);
        let max = 10i128.pow(38) - 1;
        for (text, precision, scale, want) in [
            ("+1.5", 5, 2, Some(150)),
            ("-1.5", 5, 2, Some(-150)),
            (".5", 5, 2, Some(50)),
            ("5.", 5, 2, Some(500)),
            ("-.05", 5, 2, Some(-5)),
            ("0", 1, 0, Some(0)),
            ("-0", 1, 0, Some(0)),
            ("12345", 5, 0, Some(12345)),
            ("123456", 5, 0, None),
            ("1.5", 5, 0, None),
            ("0.99", 2, 2, Some(99)),
            ("1.00", 2, 2, None),
            (nines.as_str(), 38, 0, Some(max)),
            (&format!("-{nines}"), 38, 0, Some(-max)),
            (&format!("1{nines}"), 38, 0, None),
            ("", 5, 2, None),
            ("-", 5, 2, None),
            ("+", 5, 2, None),
            ("--1", 5, 2, None),
            ("1-", 5, 2, None),
            ("1.2.3", 5, 2, None),
            (" 7 ", 3, 0, Some(7)),
        ] {
            assert_eq!(
                parse_decimal(text, precision, scale),
                want,
                "{text:?} {precision} {scale}"
            );
        }
    }

    #[test]
    fn type_spellings_and_decimal_bounds() {
        // The README's spellings; decimal(P,S) within Parquet's DECIMAL
        // rules (precision positive, 0 <= scale <= precision) and Arrow's
        // Decimal128 limit of 38 digits.
        let dec = |precision, scale| Some(ValueType::Decimal { precision, scale });
        for (text, want) in [
            ("string", Some(ValueType::String)),
            ("int", Some(ValueType::Int)),
            (" float ", Some(ValueType::Float)),
            ("bool", Some(ValueType::Bool)),
            ("date", Some(ValueType::Date)),
            ("timestamp", Some(ValueType::Timestamp)),
            ("decimal(12,2)", dec(12, 2)),
            ("decimal( 10 , 0 )", dec(10, 0)),
            ("decimal(1,0)", dec(1, 0)),
            ("decimal(1,1)", dec(1, 1)),
            ("decimal(38,38)", dec(38, 38)),
            ("decimal(38,0)", dec(38, 0)),
            ("decimal(0,0)", None),
            ("decimal(39,2)", None),
            ("decimal(39,0)", None),
            ("decimal(5,6)", None),
            ("decimal(5,-1)", None),
            ("decimal(12)", None),
            ("decimal(12,2", None),
            ("Int", None),
            ("integer", None),
            ("", None),
        ] {
            assert_eq!(ValueType::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn arrow_types_of_the_declared_types() {
        // The README's `keep` table: int -> INT64, float -> DOUBLE,
        // decimal(P,S) -> DECIMAL(P,S), bool -> BOOLEAN, date -> DATE,
        // timestamp -> TIMESTAMP(microseconds, UTC), string as is.
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
        for (t, want) in [
            (ValueType::String, DataType::Utf8),
            (ValueType::Int, DataType::Int64),
            (ValueType::Float, DataType::Float64),
            (
                ValueType::Decimal {
                    precision: 12,
                    scale: 2,
                },
                DataType::Decimal128(12, 2),
            ),
            (ValueType::Bool, DataType::Boolean),
            (ValueType::Date, DataType::Date32),
            (ValueType::Timestamp, utc.clone()),
        ] {
            assert_eq!(t.arrow_type(), want, "{t:?}");
        }
        assert_eq!(timestamp_utc(), utc);
    }

    #[test]
    fn every_bool_spelling() {
        // README: `true/false/1/0/yes/no/t/f/y/n`, any case, trimmed.
        for s in ["true", "t", "1", "yes", "y", "Yes", " Y "] {
            assert_eq!(parse_bool(s), Some(true), "{s:?}");
        }
        for s in ["false", "f", "0", "no", "n", "NO", "\tF"] {
            assert_eq!(parse_bool(s), Some(false), "{s:?}");
        }
        for s in ["", "2", "on", "off", "tru", "yess"] {
            assert_eq!(parse_bool(s), None, "{s:?}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool(" TRUE "), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn numbers_parse_in_their_column_type() {
        let dec = ValueType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(
            parse_number(" 42 ", ValueType::Int),
            Some(Number::Exact(42))
        );
        assert_eq!(parse_number("12.50", dec), Some(Number::Exact(1250)));
        assert_eq!(
            parse_number("-0.5", ValueType::Float),
            Some(Number::Float(-0.5))
        );
        for bad in ["1e400", "NaN", "inf"] {
            assert_eq!(parse_number(bad, ValueType::Float), None, "{bad}");
        }
        assert_eq!(parse_number("4.2", ValueType::Int), None);
        assert_eq!(parse_number("42", ValueType::String), None);
        assert_eq!(parse_number("2020-01-01", ValueType::Date), None);
    }
}
