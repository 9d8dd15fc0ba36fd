//! Dates and timestamps: parsing declared formats, reading naive values in the
//! dataset's time zone, and truncating to the start of a period.
//!
//! Truncation happens in the dataset's zone (`[input].timezone`): a payment at
//! 23:30 on 31 May in Shanghai belongs to May even though it is 15:30 UTC.
//! Weeks are ISO weeks starting Monday. Day..year give a calendar date (the
//! first day of the period); hour gives the UTC instant the local hour began.
//!
//! ```
//! use txanon::schema::ValueType;
//! use txanon::transform::generalize::{Granularity, TemporalParser, Truncated};
//! let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::Asia::Shanghai);
//! let t = p.parse_timestamp("2008-05-31 23:30:00").unwrap();
//! assert_eq!(t.truncate(Granularity::Month), Truncated::Date(chrono::NaiveDate::from_ymd_opt(2008, 5, 1).unwrap()));
//! ```

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::schema::ValueType;

/// Periods a date or timestamp can be generalized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Start of the local hour (timestamps only).
    Hour,
    /// The local calendar day.
    Day,
    /// Monday of the ISO week.
    Week,
    /// First day of the month.
    Month,
    /// First day of the quarter.
    Quarter,
    /// 1 January.
    Year,
}

impl Granularity {
    /// Parse the schema spelling (`to = "month"`).
    pub fn parse(text: &str) -> Option<Granularity> {
        Some(match text {
            "hour" => Granularity::Hour,
            "day" => Granularity::Day,
            "week" => Granularity::Week,
            "month" => Granularity::Month,
            "quarter" => Granularity::Quarter,
            "year" => Granularity::Year,
            _ => return None,
        })
    }
}

/// Check a strftime pattern has no unknown directives.
pub fn validate_format(format: &str, value_type: ValueType) -> Result<(), String> {
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("{format:?} has an unknown strftime directive"));
    }
    if value_type == ValueType::Date && has_offset(format) {
        return Err("a date format cannot carry a UTC offset".into());
    }
    Ok(())
}

fn has_offset(format: &str) -> bool {
    format.contains("%z")
        || format.contains("%:z")
        || format.contains("%#z")
        || format.contains("%::z")
}

/// A parsed timestamp, placed in the dataset's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTimestamp {
    local: NaiveDateTime,
    utc_micros: i64,
}

/// Result of truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncated {
    /// First day of the period.
    Date(NaiveDate),
    /// UTC microseconds since the epoch (hour granularity).
    Micros(i64),
}

impl LocalTimestamp {
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub fn utc_micros(&self) -> i64 {
        self.utc_micros
    }

    /// Truncate to the start of the period containing this instant, in the zone.
    pub fn truncate(&self, to: Granularity) -> Truncated {
        match to {
            Granularity::Hour => {
                let into_hour = i64::from(self.local.minute()) * 60_000_000
                    + i64::from(self.local.second()) * 1_000_000
                    + i64::from(self.local.nanosecond() / 1000);
                Truncated::Micros(self.utc_micros - into_hour)
            }
            other => Truncated::Date(truncate_date(self.local.date(), other)),
        }
    }
}

/// Truncate a calendar date (hour is treated as day).
pub fn truncate_date(d: NaiveDate, to: Granularity) -> NaiveDate {
    let first = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d);
    match to {
        Granularity::Hour | Granularity::Day => d,
        Granularity::Week => {
            d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()))
        }
        Granularity::Month => first(d.year(), d.month()),
        Granularity::Quarter => first(d.year(), (d.month() - 1) / 3 * 3 + 1),
        Granularity::Year => first(d.year(), 1),
    }
}

/// Days since 1970-01-01 (Arrow Date32).
pub fn date32(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
}

/// Parses one column's date or timestamp values.
#[derive(Debug, Clone)]
pub struct TemporalParser {
    format: Option<String>,
    offset: bool,
    tz: Tz,
}

const ISO_NAIVE: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

impl TemporalParser {
    /// A parser for `value_type` values written in `format` (None = ISO 8601).
    pub fn new(value_type: ValueType, format: Option<&str>, tz: Tz) -> TemporalParser {
        let _ = value_type;
        TemporalParser {
            format: format.map(str::to_string),
            offset: format.is_some_and(has_offset),
            tz,
        }
    }

    /// Parse a date value.
    pub fn parse_date(&self, s: &str) -> Option<NaiveDate> {
        let s = s.trim();
        NaiveDate::parse_from_str(s, self.format.as_deref().unwrap_or("%Y-%m-%d")).ok()
    }

    /// Parse a timestamp; naive values are read in the zone, values with an
    /// offset are converted into it. `None` for unparseable values and for
    /// naive times that do not exist in the zone (a DST gap).
    pub fn parse_timestamp(&self, s: &str) -> Option<LocalTimestamp> {
        let s = s.trim();
        match &self.format {
            Some(f) if self.offset => DateTime::parse_from_str(s, f)
                .ok()
                .map(|dt| self.at_instant(dt.timestamp_micros())),
            Some(f) => NaiveDateTime::parse_from_str(s, f)
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(s, f)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
                .and_then(|n| self.at_local(n)),
            None => {
                if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                    return Some(self.at_instant(dt.timestamp_micros()));
                }
                ISO_NAIVE
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                    .or_else(|| {
                        NaiveDate::parse_from_str(s, "%Y-%m-%d")
                            .ok()
                            .and_then(|d| d.and_hms_opt(0, 0, 0))
                    })
                    .and_then(|n| self.at_local(n))
            }
        }
    }

    fn at_instant(&self, utc_micros: i64) -> LocalTimestamp {
        let local = self
            .tz
            .timestamp_micros(utc_micros)
            .single()
            .map(|dt| dt.naive_local())
            .unwrap_or_default();
        LocalTimestamp { local, utc_micros }
    }

    fn at_local(&self, local: NaiveDateTime) -> Option<LocalTimestamp> {
        // Ambiguous local times (a DST fold) take the earlier instant.
        let dt = self.tz.from_local_datetime(&local).earliest()?;
        Some(LocalTimestamp {
            local,
            utc_micros: dt.timestamp_micros(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn truncates_in_the_dataset_zone() {
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::Asia::Shanghai);
        // 2008-05-31T16:30Z is 2008-06-01 00:30 in Shanghai.
        let t = p.parse_timestamp("2008-05-31T16:30:00Z").unwrap();
        assert_eq!(
            t.truncate(Granularity::Month),
            Truncated::Date(d(2008, 6, 1))
        );
        let t = p.parse_timestamp("2008-05-31 23:30:00").unwrap();
        assert_eq!(
            t.truncate(Granularity::Day),
            Truncated::Date(d(2008, 5, 31))
        );
        // hour: 23:00 Shanghai = 15:00 UTC
        let expect = d(2008, 5, 31)
            .and_hms_opt(15, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(t.truncate(Granularity::Hour), Truncated::Micros(expect));
    }

    #[test]
    fn week_quarter_year() {
        // 2008-05-31 is a Saturday; its ISO week starts Monday 2008-05-26.
        assert_eq!(
            truncate_date(d(2008, 5, 31), Granularity::Week),
            d(2008, 5, 26)
        );
        assert_eq!(
            truncate_date(d(2008, 5, 31), Granularity::Quarter),
            d(2008, 4, 1)
        );
        assert_eq!(
            truncate_date(d(2008, 5, 31), Granularity::Year),
            d(2008, 1, 1)
        );
    }

    #[test]
    fn dst_gap_is_invalid_and_fold_takes_earliest() {
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::America::New_York);
        assert!(p.parse_timestamp("2009-03-08 02:30:00").is_none());
        assert!(p.parse_timestamp("2009-11-01 01:30:00").is_some());
    }

    #[test]
    fn custom_formats() {
        let p = TemporalParser::new(ValueType::Timestamp, Some("%d/%m/%Y %H:%M"), chrono_tz::UTC);
        assert!(p.parse_timestamp("31/05/2008 23:30").is_some());
        assert!(p.parse_timestamp("2008-05-31 23:30").is_none());
        assert!(validate_format("%Y-%Q", ValueType::Date).is_err());
    }

    proptest! {
        #[test]
        fn truncated_period_contains_its_input(days in -20000i64..40000) {
            let date = d(1970, 1, 1) + chrono::Duration::days(days);
            for g in [Granularity::Day, Granularity::Week, Granularity::Month, Granularity::Quarter, Granularity::Year] {
                let start = truncate_date(date, g);
                prop_assert!(start <= date);
                prop_assert_eq!(truncate_date(start, g), start);
                prop_assert!((date - start).num_days() < 366);
            }
        }
    }
}
