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

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::values::ValueType;

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
    tz: Tz,
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

    /// Truncate to the start of the period containing this instant, in the
    /// zone the timestamp was placed in.
    pub fn truncate(&self, to: Granularity) -> Truncated {
        match to {
            Granularity::Hour => Truncated::Micros(self.hour_start()),
            other => Truncated::Date(truncate_date(self.local.date(), other)),
        }
    }

    /// The first instant of the local hour this instant falls in. Offsets can
    /// change inside an hour (Lord Howe moves by 30 minutes), so the hour
    /// start is looked up in the zone rather than computed by subtraction.
    fn hour_start(&self) -> i64 {
        let tz = self.tz;
        let start_local = self
            .local
            .date()
            .and_hms_opt(self.local.hour(), 0, 0)
            .unwrap_or(self.local);
        let candidates = match tz.from_local_datetime(&start_local) {
            LocalResult::Single(a) => vec![a.timestamp_micros()],
            LocalResult::Ambiguous(a, b) => vec![a.timestamp_micros(), b.timestamp_micros()],
            LocalResult::None => Vec::new(),
        };
        // Of the instants showing the hour's start, the latest not after this one.
        if let Some(best) = candidates
            .into_iter()
            .filter(|&c| c <= self.utc_micros)
            .max()
        {
            return best;
        }
        // The hour starts inside a DST gap: the hour begins at the first
        // instant whose local time is in it. Binary search over the two hours
        // before (a gap is shorter than that), in whole seconds.
        let local_at = |micros: i64| {
            tz.timestamp_micros(micros)
                .single()
                .map(|dt| dt.naive_local())
        };
        let (mut lo, mut hi) = (self.utc_micros - 7_200_000_000, self.utc_micros);
        while hi - lo > 1_000_000 {
            let mid = lo + (hi - lo) / 2;
            if local_at(mid).is_some_and(|l| l >= start_local) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        // Transitions fall on whole seconds.
        hi - hi.rem_euclid(1_000_000)
    }
}

/// Truncate a calendar date (hour is treated as day).
pub fn truncate_date(d: NaiveDate, to: Granularity) -> NaiveDate {
    let first = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d);
    match to {
        Granularity::Hour | Granularity::Day => d,
        // Near chrono's lower limit (year -262143, reachable through `%Y`) the
        // Monday may not be representable: the week is clamped to the first
        // representable day, which is still in the same week and not after `d`.
        Granularity::Week => d
            .checked_sub_signed(chrono::Duration::days(i64::from(
                d.weekday().num_days_from_monday(),
            )))
            .unwrap_or(NaiveDate::MIN),
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
    /// The declared format, pre-parsed once (chrono re-parses a format string
    /// on every call otherwise).
    items: Option<Vec<Item<'static>>>,
    offset: bool,
    tz: Tz,
}

const ISO_NAIVE: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

fn parse_items(items: &[Item<'static>], s: &str) -> Option<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, items.iter()).ok()?;
    Some(parsed)
}

impl TemporalParser {
    /// A parser for `value_type` values written in `format` (None = ISO 8601).
    /// The format must have passed [`validate_format`].
    pub fn new(value_type: ValueType, format: Option<&str>, tz: Tz) -> TemporalParser {
        let format = format.or(match value_type {
            ValueType::Date => Some("%Y-%m-%d"),
            _ => None,
        });
        TemporalParser {
            items: format.and_then(|f| StrftimeItems::new(f).parse_to_owned().ok()),
            offset: format.is_some_and(has_offset),
            tz,
        }
    }

    /// Parse a date value.
    pub fn parse_date(&self, s: &str) -> Option<NaiveDate> {
        let items = self.items.as_deref()?;
        parse_items(items, s.trim())?.to_naive_date().ok()
    }

    /// Parse a timestamp; naive values are read in the zone, values with an
    /// offset are converted into it. `None` for unparseable values and for
    /// naive times that do not exist in the zone (a DST gap).
    pub fn parse_timestamp(&self, s: &str) -> Option<LocalTimestamp> {
        let s = s.trim();
        match &self.items {
            Some(items) if self.offset => parse_items(items, s)?
                .to_datetime()
                .ok()
                .map(|dt| self.at_instant(dt.timestamp_micros())),
            Some(items) => {
                let parsed = parse_items(items, s)?;
                parsed
                    .to_naive_datetime_with_offset(0)
                    .ok()
                    .or_else(|| parsed.to_naive_date().ok()?.and_hms_opt(0, 0, 0))
                    .and_then(|n| self.at_local(n))
            }
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
        LocalTimestamp {
            local,
            utc_micros,
            tz: self.tz,
        }
    }

    fn at_local(&self, local: NaiveDateTime) -> Option<LocalTimestamp> {
        // Ambiguous local times (a DST fold) take the earlier instant.
        let dt = self.tz.from_local_datetime(&local).earliest()?;
        Some(LocalTimestamp {
            local,
            utc_micros: dt.timestamp_micros(),
            tz: self.tz,
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
    fn the_extreme_dates_chrono_parses_truncate_without_panicking() {
        // Issue 7: `%Y` accepts signed years of any width, so user data can
        // reach the ends of chrono's range.
        let p = TemporalParser::new(ValueType::Date, None, chrono_tz::UTC);
        assert_eq!(p.parse_date("-262143-01-01"), Some(NaiveDate::MIN));
        for text in [
            "-262143-01-01",
            "+262142-12-31",
            "-262144-01-01",
            "+262143-12-31",
        ] {
            if let Some(day) = p.parse_date(text) {
                for to in [
                    Granularity::Day,
                    Granularity::Week,
                    Granularity::Month,
                    Granularity::Quarter,
                    Granularity::Year,
                ] {
                    let t = truncate_date(day, to);
                    assert!(t <= day);
                    let _ = date32(t);
                }
            }
        }
        for day in [NaiveDate::MIN, NaiveDate::MAX] {
            for offset in 0..7 {
                let day = day
                    .checked_add_signed(chrono::Duration::days(offset))
                    .or_else(|| day.checked_sub_signed(chrono::Duration::days(offset)))
                    .unwrap();
                assert!(truncate_date(day, Granularity::Week) <= day);
            }
        }
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
    fn hour_start_when_the_offset_moves_by_half_an_hour() {
        // Lord Howe Island: DST ends 2021-04-04 02:00 +11 -> 01:30 +10:30 (15:00Z),
        // and starts 2021-10-03 02:00 +10:30 -> 02:30 +11 (2021-10-02T15:30Z).
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::Australia::Lord_Howe);
        let z = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
        let t = p.parse_timestamp("2021-04-03T15:15:00Z").unwrap(); // 01:45 +10:30, second pass
        assert_eq!(
            t.truncate(Granularity::Hour),
            Truncated::Micros(z("2021-04-03T14:00:00Z"))
        );
        let t = p.parse_timestamp("2021-10-03 02:45:00").unwrap(); // local hour 02:00 starts in the gap
        assert_eq!(
            t.truncate(Granularity::Hour),
            Truncated::Micros(z("2021-10-02T15:30:00Z"))
        );
        // New York fold: 01:30 EST (second pass) belongs to the hour starting 01:00 EST.
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::America::New_York);
        let t = p.parse_timestamp("2009-11-01T06:30:00Z").unwrap();
        assert_eq!(
            t.truncate(Granularity::Hour),
            Truncated::Micros(z("2009-11-01T06:00:00Z"))
        );
        let t = p.parse_timestamp("2009-11-01T05:30:00Z").unwrap();
        assert_eq!(
            t.truncate(Granularity::Hour),
            Truncated::Micros(z("2009-11-01T05:00:00Z"))
        );
    }

    /// A gap before 1970 whose end is not on the hour: Singapore moved from
    /// +07:00 to +07:20 at 1933-01-01 00:00 local (1932-12-31T17:00Z, from
    /// Python's zoneinfo), so 00:00-00:20 never happened and the hour of
    /// 00:45 began at the transition. (Before 1970 the search bounds are
    /// negative instants.)
    #[test]
    fn hour_start_in_a_gap_before_1970() {
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::Asia::Singapore);
        let z = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
        for value in ["1932-12-31T17:25:00Z", "1933-01-01 00:45:00"] {
            let t = p.parse_timestamp(value).unwrap();
            assert_eq!(t.utc_micros(), z("1932-12-31T17:25:00Z"), "{value}");
            assert_eq!(
                t.truncate(Granularity::Hour),
                Truncated::Micros(z("1932-12-31T17:00:00Z")),
                "{value}"
            );
        }
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

    /// Every row of tests/vectors/date_truncation.csv, computed by Python's
    /// datetime (tests/vectors/date_truncation.py), not by this code: an
    /// identity function, a Sunday week start or a wrong quarter fails here.
    #[test]
    fn truncation_matches_the_python_table() {
        let table = include_str!("../../tests/vectors/date_truncation.csv");
        let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let units = [
            Granularity::Day,
            Granularity::Week,
            Granularity::Month,
            Granularity::Quarter,
            Granularity::Year,
        ];
        let mut rows = 0;
        let mut moved = [0usize; 5];
        for line in table.lines().skip(1) {
            let cells: Vec<NaiveDate> = line.split(',').map(parse).collect();
            assert_eq!(cells.len(), 6, "{line}");
            let date = cells[0];
            for (i, to) in units.into_iter().enumerate() {
                assert_eq!(truncate_date(date, to), cells[i + 1], "{to:?} of {date}");
                moved[i] += usize::from(cells[i + 1] != date);
            }
            // Timestamps truncate through the same function on their local date.
            let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::UTC);
            if let Some(t) = p.parse_timestamp(&format!("{date}T12:34:56Z")) {
                assert_eq!(t.truncate(Granularity::Month), Truncated::Date(cells[3]));
            }
            rows += 1;
        }
        assert!(rows >= 300, "only {rows} rows");
        // The table exercises real truncation for every unit but `day`.
        assert_eq!(moved[0], 0);
        assert!(moved[1..].iter().all(|&n| n > rows / 2), "{moved:?}");
    }

    #[test]
    fn granularity_spellings() {
        let all = [
            ("hour", Granularity::Hour),
            ("day", Granularity::Day),
            ("week", Granularity::Week),
            ("month", Granularity::Month),
            ("quarter", Granularity::Quarter),
            ("year", Granularity::Year),
        ];
        for (text, g) in all {
            assert_eq!(Granularity::parse(text), Some(g), "{text}");
        }
        for bad in ["", "Month", "months", "minute"] {
            assert_eq!(Granularity::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_date_format_cannot_carry_any_spelling_of_an_offset() {
        for offset in ["%z", "%:z", "%#z", "%::z"] {
            let format = format!("%Y-%m-%d {offset}");
            assert_eq!(
                validate_format(&format, ValueType::Date),
                Err("a date format cannot carry a UTC offset".to_string()),
                "{format}"
            );
            let format = format!("%Y-%m-%d %H:%M:%S {offset}");
            assert_eq!(
                validate_format(&format, ValueType::Timestamp),
                Ok(()),
                "{format}"
            );
        }
        assert_eq!(validate_format("%d/%m/%Y", ValueType::Date), Ok(()));
    }

    /// Instants and day numbers from Python's datetime.
    #[test]
    fn instants_and_day_numbers() {
        let p = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::Asia::Shanghai);
        let t = p.parse_timestamp("2008-05-31T16:30:00Z").unwrap();
        assert_eq!(t.utc_micros(), 1_212_251_400_000_000);
        // A naive value is read in the dataset's zone (UTC+8).
        let t = p.parse_timestamp("2008-05-31 16:30:00").unwrap();
        assert_eq!(t.utc_micros(), 1_212_222_600_000_000);
        for (day, n) in [
            (d(1970, 1, 1), 0),
            (d(2008, 5, 31), 14030),
            (d(1969, 12, 31), -1),
            (d(1900, 3, 1), -25508),
        ] {
            assert_eq!(date32(day), n, "{day}");
        }
    }

    #[test]
    fn a_format_with_an_offset_gives_that_instant() {
        let p = TemporalParser::new(
            ValueType::Timestamp,
            Some("%Y-%m-%d %H:%M:%S %z"),
            chrono_tz::Asia::Shanghai,
        );
        let t = p.parse_timestamp("2008-05-31 16:30:00 +0000").unwrap();
        assert_eq!(t.utc_micros(), 1_212_251_400_000_000);
        // 00:30 on 1 June in Shanghai.
        assert_eq!(
            t.truncate(Granularity::Month),
            Truncated::Date(d(2008, 6, 1))
        );
        // A naive custom format reads the value in the zone.
        let p = TemporalParser::new(
            ValueType::Timestamp,
            Some("%d/%m/%Y %H:%M"),
            chrono_tz::Asia::Shanghai,
        );
        let t = p.parse_timestamp("31/05/2008 16:30").unwrap();
        assert_eq!(t.utc_micros(), 1_212_222_600_000_000);
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
