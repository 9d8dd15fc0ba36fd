//! Per-value code of the quasi-identifier actions and derived outputs:
//! `bucket`, `mask`, `truncate_ip`, `age`, and `email_domain`,
//! `phone_region`, `address_region`. (`shift` has its own spec module,
//! [`crate::transform::shift`].)
//!
//! Every function returns `None` for a value it cannot handle; the caller
//! counts it and applies the column's `on_invalid` by rule name, never by
//! value.
//!
//! ```
//! use txanon::schema::{MaskSpec, Number};
//! use txanon::transform::rules::{mask, truncate_ip, round_significant};
//! let spec = MaskSpec { keep_first: 0, keep_last: 4, with: '*' };
//! assert_eq!(mask("6222021234561234", &spec), "************1234");
//! assert_eq!(truncate_ip("222.22.209.82", 24, 48).as_deref(), Some("222.22.209.0/24"));
//! assert_eq!(round_significant(Number::Exact(12345), 2), Some(Number::Exact(12000)));
//! ```

// Why this file is over 700 lines: about 410 lines of code; the rest are
// unit tests of each rule at its edges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{Datelike, NaiveDate};

use crate::schema::{BucketRule, Derived, DerivedKind, MaskSpec, Number};

/// The bucket `[lower, upper)` holding `v`; `upper` is `None` for the open
/// last bucket of `breaks`. `None` when `v` is below the first break, on
/// overflow, or for `round` (which is not a bucket).
pub fn bucket(v: Number, rule: &BucketRule) -> Option<(Number, Option<Number>)> {
    match (rule, v) {
        (BucketRule::Width(Number::Exact(w)), Number::Exact(v)) => {
            let lower = v.div_euclid(*w).checked_mul(*w)?;
            Some((
                Number::Exact(lower),
                lower.checked_add(*w).map(Number::Exact),
            ))
        }
        (BucketRule::Width(Number::Float(w)), Number::Float(v)) => {
            let lower = (v / w).floor() * w;
            let upper = lower + w;
            (lower.is_finite() && upper.is_finite())
                .then_some((Number::Float(lower), Some(Number::Float(upper))))
        }
        (BucketRule::Breaks(breaks), v) => {
            let i = breaks.iter().rposition(|b| le(*b, v))?;
            Some((breaks[i], breaks.get(i + 1).copied()))
        }
        _ => None,
    }
}

fn le(a: Number, b: Number) -> bool {
    match (a, b) {
        (Number::Exact(a), Number::Exact(b)) => a <= b,
        (Number::Float(a), Number::Float(b)) => a <= b,
        _ => false,
    }
}

/// Round to `digits` significant digits. Exact numbers (decimals, integers)
/// are rounded half away from zero in their unscaled form, so
/// `decimal(12,2)` 1234.56 with 2 digits becomes 1200.00. Floats are rounded
/// by Rust's `{:e}` formatting of their exact binary value: nearest, with an
/// exact tie (a float such as -2.5) going to the even digit (-2).
pub fn round_significant(v: Number, digits: u32) -> Option<Number> {
    match v {
        Number::Exact(v) => {
            let abs = v.checked_abs()?;
            let len = if abs == 0 { 1 } else { abs.ilog10() + 1 };
            if len <= digits {
                return Some(Number::Exact(v));
            }
            let p = 10i128.checked_pow(len - digits)?;
            let rounded = (abs + p / 2) / p * p;
            Some(Number::Exact(if v < 0 { -rounded } else { rounded }))
        }
        Number::Float(f) => {
            if f == 0.0 {
                return Some(Number::Float(0.0));
            }
            let text = format!("{:.*e}", digits.saturating_sub(1) as usize, f);
            text.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite())
                .map(Number::Float)
        }
    }
}

/// Whether an exact value fits `precision` digits (Parquet DECIMAL bound).
pub fn fits_precision(v: i128, precision: u8) -> bool {
    10i128
        .checked_pow(u32::from(precision))
        .is_some_and(|limit| v.checked_abs().is_some_and(|a| a < limit))
}

/// Text of a number: exact values at `scale` without trailing zeros
/// (`1250` at scale 2 is `12.5`), floats in Rust's shortest form.
pub fn format_number(v: Number, scale: i8) -> String {
    match v {
        Number::Float(f) => format!("{f}"),
        Number::Exact(v) => {
            let scale = u32::try_from(scale).unwrap_or(0);
            if scale == 0 {
                return v.to_string();
            }
            let p = 10i128.pow(scale);
            let (int, frac) = (v.unsigned_abs() / p as u128, v.unsigned_abs() % p as u128);
            let sign = if v < 0 { "-" } else { "" };
            if frac == 0 {
                return format!("{sign}{int}");
            }
            let frac = format!("{frac:0width$}", width = scale as usize);
            format!("{sign}{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// The label of a bucket: `[lo, hi)` or `[lo, inf)`.
pub fn label(lower: Number, upper: Option<Number>, scale: i8) -> String {
    match upper {
        Some(u) => format!(
            "[{}, {})",
            format_number(lower, scale),
            format_number(u, scale)
        ),
        None => format!("[{}, inf)", format_number(lower, scale)),
    }
}

/// Replace all but the first `keep_first` and last `keep_last` characters
/// (Unicode scalar values) with `with`. When nothing would be masked the
/// whole value is masked: a mask never reveals a value in full.
pub fn mask(value: &str, spec: &MaskSpec) -> String {
    let n = value.chars().count();
    if spec.keep_first + spec.keep_last >= n {
        return std::iter::repeat_n(spec.with, n).collect();
    }
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        if i < spec.keep_first || i >= n - spec.keep_last {
            out.push(c);
        } else {
            out.push(spec.with);
        }
    }
    out
}

/// The network of an IP address as `address/prefix`. IPv4-mapped IPv6
/// addresses (`::ffff:a.b.c.d`) are treated as IPv4.
pub fn truncate_ip(value: &str, v4: u8, v6: u8) -> Option<String> {
    let ip: IpAddr = value.trim().parse().ok()?;
    let ip = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        other => other,
    };
    Some(match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4)).unwrap_or(0);
            format!("{}/{v4}", Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(v6)).unwrap_or(0);
            format!("{}/{v6}", Ipv6Addr::from(u128::from(a) & mask))
        }
    })
}

/// Whole years from `birth` to `at`; `None` when `at` is before `birth`.
/// Someone born on 29 February turns a year older on 1 March in other years.
pub fn age_years(birth: NaiveDate, at: NaiveDate) -> Option<i64> {
    if at < birth {
        return None;
    }
    let mut years = i64::from(at.year() - birth.year());
    if (at.month(), at.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    Some(years)
}

/// Free-mail providers whose domain `email_domain` keeps as is: they say
/// nothing about an employer. Lowercase, ASCII (after IDNA).
pub const FREEMAIL: [&str; 40] = [
    "126.com",
    "139.com",
    "163.com",
    "188.com",
    "189.cn",
    "21cn.com",
    "aliyun.com",
    "aol.com",
    "foxmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "live.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "sina.cn",
    "sina.com",
    "sohu.com",
    "tom.com",
    "vip.163.com",
    "vip.qq.com",
    "web.de",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.com.cn",
    "yandex.ru",
];

/// Generic top-level domains a company domain may be generalized to
/// (`*.com`). Country-code TLDs are the ISO 3166 regions libphonenumber
/// knows (plus `uk`, `eu` and [`IDN_CC_TLDS`]); any other TLD is not in the
/// allow-list (a schema declares more in `values`).
const GENERIC_TLDS: [&str; 20] = [
    "aero", "asia", "biz", "cat", "com", "coop", "edu", "gov", "info", "int", "jobs", "mil",
    "mobi", "museum", "name", "net", "org", "post", "pro", "tel",
];

/// Internationalized country-code TLDs of Greater China, in the ASCII
/// (IDNA) form the e-mail normalizer writes: 中国, 中國, 香港, 澳門, 台湾, 台灣.
const IDN_CC_TLDS: [&str; 6] = [
    "xn--fiqs8s",
    "xn--fiqz9s",
    "xn--j6w193g",
    "xn--mix891f",
    "xn--kprw13d",
    "xn--kpry57d",
];

/// Whether `tld` (lowercase, without the dot) is a known top-level domain.
fn known_tld(tld: &str) -> bool {
    GENERIC_TLDS.contains(&tld)
        || IDN_CC_TLDS.contains(&tld)
        || matches!(tld, "uk" | "eu")
        || (tld.len() == 2
            && tld.bytes().all(|b| b.is_ascii_lowercase())
            && crate::transform::normalize::known_phone_region(&tld.to_ascii_uppercase()).is_some())
}

/// The declared value equal to `candidate` ignoring case, in its declared
/// spelling: the first one equal to it after Unicode lowercasing
/// (`str::to_lowercase` on both sides). The candidate is lowercased once per
/// call, and an ASCII declared value is compared without lowercasing it: its
/// lowercase is ASCII, so it can only equal an ASCII lowercase candidate,
/// byte for byte after ASCII case folding. This runs once per released
/// value of a derived column (and per value in `check` and `report`).
fn declared<'a>(d: &'a Derived, candidate: &str) -> Option<&'a str> {
    if d.values.is_empty() {
        return None;
    }
    let lower = candidate.to_lowercase();
    d.values
        .iter()
        .find(|v| {
            if v.is_ascii() {
                lower.is_ascii() && v.eq_ignore_ascii_case(&lower)
            } else {
                v.to_lowercase() == lower
            }
        })
        .map(String::as_str)
}

/// The derived output of a normalized source value, or `None` (written as
/// null and counted as invalid) when it falls outside the output's allow-list.
/// Every kind only ever yields a value of a known finite set:
///
/// - `email_domain`: the domain when it is a free-mail provider
///   ([`FREEMAIL`]) or declared in `values`; otherwise `*.` + its top-level
///   domain when that is a known TLD (generic or ISO 3166 country code) or
///   `*.tld` is declared.
/// - `phone_region`: `+CC` for a country calling code libphonenumber
///   knows, or `+86 1XX` (carrier prefix) for a Chinese mobile number.
/// - `address_region`: for a Chinese address, province and city as they
///   appear in cpca's administrative table; otherwise the address's last
///   comma-separated part without words holding digits, only when declared
///   in `values` (and then in its declared spelling).
pub fn derive_value(d: &Derived, normalized: &str) -> Option<String> {
    let out = match d.kind {
        DerivedKind::EmailDomain => {
            let (_, domain) = normalized.rsplit_once('@')?;
            if let Some(v) = declared(d, domain) {
                Some(v.to_string())
            } else if FREEMAIL.contains(&domain) {
                Some(domain.to_string())
            } else {
                let tld = domain.rsplit('.').next()?;
                let general = format!("*.{tld}");
                match declared(d, &general) {
                    Some(v) => Some(v.to_string()),
                    None => known_tld(tld).then_some(general),
                }
            }
        }
        DerivedKind::PhoneRegion => calling_code(normalized),
        DerivedKind::AddressRegion | DerivedKind::AddressProvince => {
            let province_only = d.kind == DerivedKind::AddressProvince;
            match china_region_at(normalized, province_only) {
                Some(r) => Some(r),
                None => foreign_region(normalized)
                    .and_then(|r| declared(d, &r))
                    .map(str::to_string),
            }
        }
    }?;
    // The outputs above are built to be in the allow-list; the check keeps
    // a future change from releasing anything else.
    derived_value_allowed(d, &out).then_some(out)
}

/// Whether `value` belongs to the allow-list of derived output `d` (what
/// [`derive_value`] can produce); `check` applies it to released files.
pub fn derived_value_allowed(d: &Derived, value: &str) -> bool {
    if declared(d, value).is_some_and(|v| v == value) {
        return true;
    }
    match d.kind {
        DerivedKind::EmailDomain => {
            FREEMAIL.contains(&value)
                || value
                    .strip_prefix("*.")
                    .is_some_and(|tld| known_tld(tld) && !tld.contains('.'))
        }
        DerivedKind::PhoneRegion => {
            let Some(rest) = value.strip_prefix('+') else {
                return false;
            };
            match rest.split_once(' ') {
                Some(("86", prefix)) => {
                    prefix.len() == 3
                        && prefix.starts_with('1')
                        && prefix.bytes().all(|b| b.is_ascii_digit())
                }
                Some(_) => false,
                None => {
                    rest.len() <= 3
                        && rest.bytes().all(|b| b.is_ascii_digit())
                        && !rest.starts_with('0')
                        && rest.parse::<i32>().is_ok_and(|cc| {
                            rlibphonenumber::PHONE_NUMBER_UTIL
                                .get_region_for_country_code(cc)
                                .is_some()
                        })
                }
            }
        }
        DerivedKind::AddressRegion => {
            let parser = cpca::AddressParser::global();
            parser.provinces().into_iter().any(|p| {
                value.strip_prefix(p.as_str()).is_some_and(|city| {
                    city.is_empty() || parser.cities_of_province(p).into_iter().any(|c| c == city)
                })
            })
        }
        DerivedKind::AddressProvince => cpca::AddressParser::global()
            .provinces()
            .into_iter()
            .any(|p| p == value),
    }
}

/// The country calling code of an E.164 number (`+44`), or `+86 1XX` (the
/// carrier prefix) for a Chinese mobile number.
pub fn calling_code(e164: &str) -> Option<String> {
    let digits = e164.strip_prefix('+')?;
    // Country calling codes are prefix-free (ITU-T E.164), so the first
    // prefix libphonenumber knows is the code.
    let cc_len = (1..=3).find(|&n| {
        digits
            .get(..n)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|cc| {
                rlibphonenumber::PHONE_NUMBER_UTIL
                    .get_region_for_country_code(cc)
                    .is_some()
            })
    })?;
    let (cc, national) = digits.split_at(cc_len);
    if cc == "86" && national.len() == 11 && national.starts_with('1') {
        return Some(format!("+86 {}", &national[..3]));
    }
    Some(format!("+{cc}"))
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// Province and city of a normalized Chinese address, parsed with `cpca`
/// (administrative divisions from its bundled snapshot): `浙江省杭州市`, or
/// `北京市` for a municipality. `None` for an address without CJK text or
/// without a province.
pub fn china_region(normalized: &str) -> Option<String> {
    china_region_at(normalized, false)
}

/// [`china_region`], or with `province_only` the province alone
/// (`浙江省`; a municipality is its own province: `北京市` at both levels).
pub fn china_region_at(normalized: &str, province_only: bool) -> Option<String> {
    if !normalized.chars().any(is_cjk) {
        return None;
    }
    let parsed = cpca::parse(normalized);
    let province = parsed.province?;
    Some(match parsed.city {
        Some(city) if city != province && !province_only => format!("{province}{city}"),
        _ => province,
    })
}

/// The region part of a normalized address outside China: its last
/// comma-separated part without words that hold digits (`... austin,tx
/// 78701` gives `tx`). Free text: released only when declared.
pub fn foreign_region(normalized: &str) -> Option<String> {
    if normalized.chars().any(is_cjk) {
        return None;
    }
    let last = normalized.rsplit(',').next()?;
    let words: Vec<&str> = last
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn buckets_contain_their_input(v in -1_000_000_000i128..1_000_000_000, w in 1i128..100_000) {
            let (lo, hi) = bucket(Number::Exact(v), &BucketRule::Width(Number::Exact(w))).unwrap();
            let (Number::Exact(lo), Some(Number::Exact(hi))) = (lo, hi) else { panic!() };
            prop_assert!(lo <= v && v < hi && hi - lo == w && lo % w == 0);
            let breaks = vec![Number::Exact(-w), Number::Exact(0), Number::Exact(w)];
            match bucket(Number::Exact(v), &BucketRule::Breaks(breaks)) {
                None => prop_assert!(v < -w),
                Some((Number::Exact(lo), hi)) => {
                    prop_assert!(lo <= v);
                    if let Some(Number::Exact(hi)) = hi { prop_assert!(v < hi) } else { prop_assert!(v >= w) }
                }
                Some(_) => prop_assert!(false),
            }
        }

        #[test]
        fn rounding_keeps_the_leading_digits(v in -1_000_000_000_000i128..1_000_000_000_000, d in 1u32..6) {
            let Some(Number::Exact(r)) = round_significant(Number::Exact(v), d) else { panic!() };
            let len = if v == 0 { 1 } else { v.unsigned_abs().ilog10() + 1 };
            let unit = 10i128.pow(len.saturating_sub(d));
            prop_assert!((r - v).abs() * 2 <= unit, "{} -> {}", v, r);
            prop_assert_eq!(r % unit, 0);
        }

        #[test]
        fn masks_keep_length_and_the_declared_ends(s in "\\PC{0,24}", first in 0usize..4, last in 0usize..6) {
            let spec = MaskSpec { keep_first: first, keep_last: last, with: '*' };
            let m = mask(&s, &spec);
            let n = s.chars().count();
            prop_assert_eq!(m.chars().count(), n);
            if first + last < n {
                let tail: String = s.chars().skip(n - last).collect();
                let head: String = s.chars().take(first).collect();
                prop_assert!(m.ends_with(&tail) && m.starts_with(&head));
                // Every character between the kept ends is the mask character
                // (an identity function keeps both ends and the length too).
                let middle: String = m.chars().skip(first).take(n - first - last).collect();
                prop_assert!(middle.chars().all(|c| c == '*'), "{:?} -> {:?}", s, m);
                let expected = format!("{head}{}{tail}", "*".repeat(n - first - last));
                prop_assert_eq!(m, expected);
            } else {
                prop_assert!(m.chars().all(|c| c == '*'));
            }
        }

        #[test]
        fn ip_networks_contain_their_address(a in any::<u32>(), p in 0u8..=32) {
            let ip = Ipv4Addr::from(a).to_string();
            let net = truncate_ip(&ip, p, 48).unwrap();
            let (addr, prefix) = net.split_once('/').unwrap();
            prop_assert_eq!(prefix.parse::<u8>().unwrap(), p);
            let base = u32::from(addr.parse::<Ipv4Addr>().unwrap());
            let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
            prop_assert_eq!(base, a & mask);
        }
    }

    fn exact(v: i128) -> Number {
        Number::Exact(v)
    }

    #[test]
    fn width_buckets_floor_toward_minus_infinity() {
        let rule = BucketRule::Width(exact(100));
        assert_eq!(
            bucket(exact(250), &rule),
            Some((exact(200), Some(exact(300))))
        );
        assert_eq!(
            bucket(exact(-1), &rule),
            Some((exact(-100), Some(exact(0))))
        );
        assert_eq!(bucket(exact(0), &rule), Some((exact(0), Some(exact(100)))));
        let f = BucketRule::Width(Number::Float(0.5));
        assert_eq!(
            bucket(Number::Float(1.7), &f),
            Some((Number::Float(1.5), Some(Number::Float(2.0))))
        );
    }

    #[test]
    fn breaks_have_an_open_top_and_reject_values_below() {
        let rule = BucketRule::Breaks(vec![exact(0), exact(10), exact(100)]);
        assert_eq!(
            bucket(exact(10), &rule),
            Some((exact(10), Some(exact(100))))
        );
        assert_eq!(bucket(exact(5000), &rule), Some((exact(100), None)));
        assert_eq!(bucket(exact(-1), &rule), None);
        assert_eq!(label(exact(10), Some(exact(100)), 0), "[10, 100)");
        assert_eq!(label(exact(10000), None, 2), "[100, inf)");
        assert_eq!(label(exact(1250), Some(exact(-5)), 2), "[12.5, -0.05)");
    }

    #[test]
    fn rounding_to_significant_digits() {
        assert_eq!(round_significant(exact(12345), 2), Some(exact(12000)));
        assert_eq!(round_significant(exact(-12500), 2), Some(exact(-13000)));
        assert_eq!(round_significant(exact(99), 1), Some(exact(100)));
        assert_eq!(round_significant(exact(7), 3), Some(exact(7)));
        assert_eq!(
            round_significant(Number::Float(0.012345), 2),
            Some(Number::Float(0.012))
        );
    }

    #[test]
    fn masks_never_reveal_a_whole_value() {
        let last4 = MaskSpec {
            keep_first: 0,
            keep_last: 4,
            with: '*',
        };
        assert_eq!(mask("6222021234561234", &last4), "************1234");
        assert_eq!(mask("1234", &last4), "****");
        assert_eq!(mask("王小明", &last4), "***");
        let first1 = MaskSpec {
            keep_first: 1,
            keep_last: 0,
            with: '#',
        };
        assert_eq!(mask("王小明", &first1), "王##");
    }

    #[test]
    fn ip_prefixes() {
        assert_eq!(
            truncate_ip(" 10.1.2.3 ", 16, 48).as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(truncate_ip("10.1.2.3", 0, 48).as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            truncate_ip("10.1.2.3", 32, 48).as_deref(),
            Some("10.1.2.3/32")
        );
        assert_eq!(
            truncate_ip("2001:db8:abcd:12::1", 24, 48).as_deref(),
            Some("2001:db8:abcd::/48")
        );
        assert_eq!(
            truncate_ip("::ffff:1.2.3.4", 24, 48).as_deref(),
            Some("1.2.3.0/24")
        );
        for bad in ["", "1.2.3", "256.1.1.1", "1.2.3.4/24", "host.example"] {
            assert_eq!(truncate_ip(bad, 24, 48), None, "{bad}");
        }
    }

    #[test]
    fn ages_count_whole_years() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(age_years(d(1980, 6, 15), d(2010, 6, 14)), Some(29));
        assert_eq!(age_years(d(1980, 6, 15), d(2010, 6, 15)), Some(30));
        assert_eq!(age_years(d(2000, 2, 29), d(2001, 2, 28)), Some(0));
        assert_eq!(age_years(d(2000, 2, 29), d(2001, 3, 1)), Some(1));
        assert_eq!(age_years(d(2011, 1, 1), d(2010, 12, 31)), None);
        // On the day of birth the age is 0, not unknown.
        assert_eq!(age_years(d(1980, 6, 15), d(1980, 6, 15)), Some(0));
        assert_eq!(age_years(d(1980, 6, 15), d(1980, 6, 16)), Some(0));
        assert_eq!(age_years(d(1980, 6, 15), d(1980, 6, 14)), None);
    }

    #[test]
    fn declared_values_match_as_both_sides_lowercased() {
        let d = |values: &[&str]| Derived {
            kind: DerivedKind::AddressRegion,
            output: "d".into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            quasi: false,
            sensitive: false,
        };
        // Expected: the first v with v.to_lowercase() == candidate.to_lowercase().
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            (&[], "TX", None),
            (&["TX"], "tx", Some("TX")),
            (&["tx", "TX"], "Tx", Some("tx")),
            (&["TX", "tx"], "tX", Some("TX")),
            (&["Texas"], "TX", None),
            // KELVIN SIGN lowercases to ASCII 'k'.
            (&["k"], "\u{212A}", Some("k")),
            (&["\u{212A}"], "K", Some("\u{212A}")),
            (&["Île-de-France"], "ÎLE-DE-FRANCE", Some("Île-de-France")),
            (&["Île-de-France"], "Ile-de-France", None),
            (&["ΣΑΣ"], "σας", Some("ΣΑΣ")),
            (&["ΣΑΣ"], "σασ", None),
            (&["Bayern"], "BAYERN", Some("Bayern")),
            (&["北京"], "北京", Some("北京")),
            (&["ascii"], "ÄSCII", None),
        ];
        for (values, candidate, want) in cases {
            let by_definition = values
                .iter()
                .find(|v| v.to_lowercase() == candidate.to_lowercase())
                .copied();
            assert_eq!(by_definition, *want, "table row {values:?} {candidate}");
            assert_eq!(
                declared(&d(values), candidate),
                *want,
                "{values:?} {candidate}"
            );
        }
    }

    #[test]
    fn derived_outputs() {
        let d = |kind, values: &[&str]| Derived {
            kind,
            output: "d".into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            quasi: false,
            sensitive: false,
        };
        let email = d(DerivedKind::EmailDomain, &[]);
        let email_declared = d(DerivedKind::EmailDomain, &["Acme-Widgets.de"]);
        let phone = d(DerivedKind::PhoneRegion, &[]);
        let addr = d(DerivedKind::AddressRegion, &[]);
        let addr_declared = d(DerivedKind::AddressRegion, &["TX"]);
        let province = d(DerivedKind::AddressProvince, &["TX"]);
        let v = |d: &Derived, s: &str| derive_value(d, s);
        assert_eq!(v(&email, "a@163.com").as_deref(), Some("163.com"));
        assert_eq!(v(&email, "a@acme-widgets.de").as_deref(), Some("*.de"));
        assert_eq!(v(&email, "a@acme.com").as_deref(), Some("*.com"));
        // An unknown TLD is not generalized to itself.
        assert_eq!(v(&email, "a@jane.janedoe"), None);
        assert_eq!(
            v(&email_declared, "a@acme-widgets.de").as_deref(),
            Some("Acme-Widgets.de")
        );
        assert_eq!(v(&phone, "+8613800138000").as_deref(), Some("+86 138"));
        assert_eq!(v(&phone, "+861065529988").as_deref(), Some("+86"));
        assert_eq!(v(&phone, "+447431500880").as_deref(), Some("+44"));
        assert_eq!(v(&phone, "+12015550123").as_deref(), Some("+1"));
        assert_eq!(
            v(&addr, "浙江省杭州市西湖区文三路123号").as_deref(),
            Some("浙江省杭州市")
        );
        assert_eq!(
            v(&addr, "北京市朝阳区黄河路210号").as_deref(),
            Some("北京市")
        );
        // Text outside China is released only when declared.
        let austin = "1364 cedar ln.,apt 11b,austin,tx 78701";
        assert_eq!(v(&addr, austin), None);
        assert_eq!(v(&addr_declared, austin).as_deref(), Some("TX"));
        assert_eq!(v(&addr_declared, "flat 3b,rose cottage,jane doe"), None);
        assert_eq!(v(&addr_declared, "jane.doe@example.com"), None);
        assert_eq!(v(&addr, "12345"), None);
        // The province level: the province alone, a municipality unchanged,
        // declared regions outside China as at the city level.
        assert_eq!(
            v(&province, "浙江省杭州市西湖区文三路123号").as_deref(),
            Some("浙江省")
        );
        assert_eq!(
            v(&province, "北京市朝阳区黄河路210号").as_deref(),
            Some("北京市")
        );
        assert_eq!(v(&province, austin).as_deref(), Some("TX"));
        assert_eq!(v(&province, "12345"), None);
        // The allow-lists as `check` applies them to released values.
        for (d, ok, bad) in [
            (&email, "*.de", "*.janedoe"),
            (&email, "qq.com", "jane-doe.com"),
            (&phone, "+86 138", "+86 13800138000"),
            (&phone, "+44", "+999"),
            (&addr, "浙江省杭州市", "jane doe"),
            (&addr_declared, "TX", "tx 78701"),
            (&province, "浙江省", "浙江省杭州市"),
            (&province, "TX", "jane doe"),
        ] {
            assert!(derived_value_allowed(d, ok), "{ok}");
            assert!(!derived_value_allowed(d, bad), "{bad}");
        }
    }

    #[test]
    fn float_buckets_and_their_limits() {
        let breaks = BucketRule::Breaks(vec![Number::Float(0.0), Number::Float(1.5)]);
        assert_eq!(
            bucket(Number::Float(1.5), &breaks),
            Some((Number::Float(1.5), None))
        );
        assert_eq!(
            bucket(Number::Float(1.25), &breaks),
            Some((Number::Float(0.0), Some(Number::Float(1.5))))
        );
        // A break and a value of different domains never match.
        assert_eq!(bucket(exact(2), &breaks), None);
        // The bucket's upper end would be infinite: no bucket.
        let wide = BucketRule::Width(Number::Float(1e308));
        assert_eq!(bucket(Number::Float(1.7e308), &wide), None);
        // An exact bucket whose upper end overflows is open.
        let ten = BucketRule::Width(exact(10));
        assert_eq!(
            bucket(exact(i128::MAX), &ten),
            Some((exact(i128::MAX - 7), None))
        );
        // Mixed domains and `round` are not buckets.
        assert_eq!(bucket(Number::Float(1.0), &ten), None);
    }

    #[test]
    fn rounding_zero_and_precision_limits() {
        assert_eq!(round_significant(exact(0), 1), Some(exact(0)));
        assert_eq!(
            round_significant(Number::Float(0.0), 2),
            Some(Number::Float(0.0))
        );
        assert_eq!(
            round_significant(Number::Float(-2.6), 1),
            Some(Number::Float(-3.0))
        );
        assert!(fits_precision(99, 2));
        assert!(fits_precision(-99, 2));
        assert!(!fits_precision(100, 2));
        assert!(!fits_precision(-100, 2));
        assert!(!fits_precision(i128::MIN, 38));
        assert_eq!(format_number(exact(0), 2), "0");
        assert_eq!(format_number(exact(-5), 0), "-5");
        assert_eq!(format_number(exact(-250), 2), "-2.5");
        assert_eq!(format_number(exact(105), 2), "1.05");
        assert_eq!(format_number(Number::Float(0.25), 0), "0.25");
    }

    #[test]
    fn derived_allow_lists_at_their_edges() {
        let d = |kind| Derived {
            kind,
            output: "d".into(),
            values: Vec::new(),
            quasi: false,
            sensitive: false,
        };
        let (email, phone, addr) = (
            d(DerivedKind::EmailDomain),
            d(DerivedKind::PhoneRegion),
            d(DerivedKind::AddressRegion),
        );
        // Country codes and IDN country codes are known TLDs; two letters
        // that are no region, three-letter non-generic and upper case not.
        for ok in ["*.cn", "*.uk", "*.eu", "*.xn--fiqs8s", "*.org"] {
            assert!(derived_value_allowed(&email, ok), "{ok}");
        }
        for bad in ["*.zz", "*.xyz", "*.CN", "*.co.uk", "gmail.co"] {
            assert!(!derived_value_allowed(&email, bad), "{bad}");
        }
        assert_eq!(
            derive_value(&email, "a@bank.xn--fiqs8s").as_deref(),
            Some("*.xn--fiqs8s")
        );
        assert_eq!(
            derive_value(&email, "a@bank.co.uk").as_deref(),
            Some("*.uk")
        );
        assert_eq!(derive_value(&email, "no-at-sign"), None);
        for ok in ["+86", "+1", "+44", "+852", "+86 138", "+86 199"] {
            assert!(derived_value_allowed(&phone, ok), "{ok}");
        }
        for bad in [
            "86", "+", "+044", "+1234", "+999", "+86 238", "+86 1a8", "+86 13", "+44 738",
        ] {
            assert!(!derived_value_allowed(&phone, bad), "{bad}");
        }
        assert!(derived_value_allowed(&addr, "浙江省"));
        assert!(!derived_value_allowed(&addr, "浙江省北京市"));
        // A Chinese landline of 11 national digits keeps only +86.
        assert_eq!(calling_code("+8675512345678").as_deref(), Some("+86"));
        assert_eq!(calling_code("+85221234567").as_deref(), Some("+852"));
        assert_eq!(calling_code("8613800138000"), None);
        assert_eq!(
            foreign_region("1364 cedar ln.,austin,tx 78701").as_deref(),
            Some("tx")
        );
        assert_eq!(foreign_region("12345"), None);
        assert_eq!(foreign_region("浙江省杭州市"), None);
        assert_eq!(china_region("austin,tx"), None);
    }
}
