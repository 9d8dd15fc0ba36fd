#![no_main]
//! The date/timestamp parser and truncation.
//!
//! Input: one selector byte (bit 0 timestamp, bits 1-3 granularity, bits 4-6
//! zone, bit 7 a declared format instead of ISO 8601),
//! then `FORMAT\nVALUE` when a declared format is used, else `VALUE`.
//! Formats go through `validate_format` first, as the schema loader does.
//! Properties: no panic; the truncated period contains the parsed instant
//! and is never finer than asked for (truncating again changes nothing); the
//! start is the period's first day by definition (a Monday, day 1 of the
//! month, of a quarter's first month, 1 January), so an identity function or
//! a wrong boundary fails. The exact expected values are also checked against
//! a table computed by Python's datetime (tests/vectors/date_truncation.csv).

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use txanon::schema::ValueType;
use txanon::transform::generalize::{
    date32, truncate_date, validate_format, Granularity, TemporalParser, Truncated,
};

const ZONES: [Tz; 5] = [
    chrono_tz::Asia::Shanghai,
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Europe::London,
];
const UNITS: [Granularity; 6] = [
    Granularity::Hour,
    Granularity::Day,
    Granularity::Week,
    Granularity::Month,
    Granularity::Quarter,
    Granularity::Year,
];

fn check_date_period(d: NaiveDate, to: Granularity) {
    let t = truncate_date(d, to);
    assert!(t <= d, "period start after the value");
    assert_eq!(truncate_date(t, to), t, "truncation is idempotent");
    let max_days = match to {
        Granularity::Hour | Granularity::Day => 0,
        Granularity::Week => 6,
        Granularity::Month => 30,
        Granularity::Quarter => 91,
        Granularity::Year => 365,
    };
    assert!(
        (d - t).num_days() <= max_days,
        "period longer than its unit"
    );
    // The period start by its definition, not by the code's arithmetic: an
    // identity function passes the checks above but fails these.
    match to {
        Granularity::Hour | Granularity::Day => assert_eq!(t, d, "day changed"),
        Granularity::Week => {
            // Monday, unless the Monday is before chrono's first day.
            if t != NaiveDate::MIN {
                assert_eq!(t.weekday(), Weekday::Mon, "week start not a Monday");
            }
        }
        Granularity::Month => {
            assert_eq!((t.year(), t.month(), t.day()), (d.year(), d.month(), 1));
        }
        Granularity::Quarter => {
            assert_eq!((t.year(), t.day()), (d.year(), 1));
            assert!(
                [1, 4, 7, 10].contains(&t.month()),
                "quarter starts in month {}",
                t.month()
            );
            assert!(d.month() - t.month() < 3, "quarter too far back");
        }
        Granularity::Year => assert_eq!(t.ordinal(), 1, "year start not 1 January"),
    }
    let _ = date32(t);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let value_type = if sel & 1 == 0 {
        ValueType::Date
    } else {
        ValueType::Timestamp
    };
    let to = UNITS[usize::from((sel >> 1) & 7) % UNITS.len()];
    let tz = ZONES[usize::from((sel >> 4) & 7) % ZONES.len()];
    let (format, value) = if sel & 0x80 != 0 {
        match text.split_once('\n') {
            Some((f, v)) => (Some(f), v),
            None => return,
        }
    } else {
        (None, text)
    };
    if let Some(f) = format {
        if validate_format(f, value_type).is_err() {
            return;
        }
    }
    let parser = TemporalParser::new(value_type, format, tz);
    match value_type {
        ValueType::Date => {
            if let Some(d) = parser.parse_date(value) {
                check_date_period(d, to);
            }
        }
        _ => {
            if let Some(ts) = parser.parse_timestamp(value) {
                let Truncated::Date(day) = ts.truncate(Granularity::Day) else {
                    panic!("day truncation gives a date");
                };
                match ts.truncate(to) {
                    Truncated::Micros(start) => {
                        assert_eq!(to, Granularity::Hour);
                        assert!(start <= ts.utc_micros(), "hour starts after the value");
                        assert!(
                            ts.utc_micros() - start < 2 * 3_600_000_000,
                            "hour start too far back"
                        );
                        assert_eq!(start.rem_euclid(1_000_000), 0, "whole seconds");
                    }
                    Truncated::Date(t) => {
                        assert_eq!(t, truncate_date(day, to), "same period as the local day");
                        check_date_period(day, to);
                    }
                }
            }
        }
    }
});
