//! Detectors for personal data in free-standing values.
//!
//! Used by `scan` (schema-free), by `check` (residual PII in outputs,
//! PII-looking content in `keep` columns) and by `init` (proposing actions).
//! Phones are confirmed with the same libphonenumber validation as the
//! normalizer, not a bare regex; ID numbers and card numbers must pass their
//! check digits. Detectors return kinds, never the matched text.
//!
//! ```
//! use txanon::detect::{Detector, PiiKind};
//! let d = Detector::new(Some("CN"));
//! assert!(d.detect("call +86 138 0013 8000 now").contains(PiiKind::Phone));
//! assert!(d.detect("li.wei@163.com").contains(PiiKind::Email));
//! assert!(d.detect("4111 1111 1111 1111").contains(PiiKind::Card));
//! assert!(d.detect("e81d72bef77ec8d415d8e11cb57457cd").is_empty());
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::transform::normalize::{normalize, Kind, Normalized};

/// Kinds of personal data the detectors know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiiKind {
    /// E-mail address.
    Email,
    /// Phone number valid under libphonenumber metadata.
    Phone,
    /// Chinese resident identity number (18 characters, valid check digit).
    IdCard,
    /// Payment card number (13-19 digits, known network prefix, Luhn).
    Card,
    /// IPv4 or IPv6 address.
    Ip,
    /// Street-level postal address: a house number with a street, a flat
    /// or unit number, a UK postcode, or a Chinese road and house number
    /// ([`is_street_address`]). A province, city or country name is not.
    Address,
}

impl PiiKind {
    /// All kinds, in report order.
    pub const ALL: [PiiKind; 6] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::IdCard,
        PiiKind::Card,
        PiiKind::Ip,
        PiiKind::Address,
    ];

    /// Stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::IdCard => "id_card",
            PiiKind::Card => "card",
            PiiKind::Ip => "ip",
            PiiKind::Address => "address",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of [`PiiKind`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    /// True when no kind was found.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True when `kind` was found.
    pub fn contains(self, kind: PiiKind) -> bool {
        self.0 & kind.bit() != 0
    }
    fn insert(&mut self, kind: PiiKind) {
        self.0 |= kind.bit();
    }
}

/// True when a header name looks like a value rather than a name: personal
/// data the detector recognises, or 32 or more hex digits (key material). A
/// headerless dump or the key file given as input puts such text where the
/// header should be; messages and draft schemas must not echo it.
pub fn header_name_may_be_data(name: &str, detector: &Detector) -> bool {
    name.bytes().filter(u8::is_ascii_hexdigit).count() >= 32 || !detector.detect(name).is_empty()
}

/// True when a column name a file brings must not be printed: it looks like
/// a value ([`header_name_may_be_data`], phones read as in China) or is
/// longer than 128 characters. The one rule for every message and report.
pub fn name_may_be_data(name: &str) -> bool {
    name.chars().count() > 128 || header_name_may_be_data(name, &Detector::new(Some("CN")))
}

/// Which of a file's column names a report may print (`true`) and which it
/// names by position instead (`false`).
///
/// `declared` tells the names a schema declares; they are always printable.
/// The other names are printable only when none of them may be data
/// ([`name_may_be_data`]): one field that looks like a value means the
/// "header" is most likely a data record (a headerless export), so its other
/// fields (a name, an address) are data too. With a schema
/// (`declared` is `Some`), a header naming no declared column is treated the
/// same way, as `HeaderProblems` does for `anonymize`.
///
/// ```
/// use txanon::detect::printable_names;
/// let header = ["txn_id".to_string(), "amount".to_string()];
/// assert_eq!(printable_names(&header, None), [true, true]);
/// let record = ["Jane Doe".to_string(), "13979176537".to_string()];
/// assert_eq!(printable_names(&record, None), [false, false]);
/// ```
pub fn printable_names(names: &[String], declared: Option<&dyn Fn(&str) -> bool>) -> Vec<bool> {
    let is_declared = |n: &str| declared.is_some_and(|d| d(n));
    let undeclared = names.iter().filter(|n| !is_declared(n)).count();
    let hide = names.iter().any(|n| !is_declared(n) && name_may_be_data(n))
        || (declared.is_some() && !names.is_empty() && undeclared == names.len());
    names.iter().map(|n| is_declared(n) || !hide).collect()
}

/// Finds personal data in values.
#[derive(Debug, Clone)]
pub struct Detector {
    phone: Kind,
}

impl Detector {
    /// `region`: ISO 3166 code for phone numbers written without a country
    /// code (None: only international numbers are recognised).
    pub fn new(region: Option<&str>) -> Detector {
        Detector {
            phone: Kind::Phone {
                region: region.and_then(crate::transform::normalize::known_phone_region),
            },
        }
    }

    /// The kinds found in `value`, whole or in its white-space separated parts.
    pub fn detect(&self, value: &str) -> KindSet {
        let mut found = KindSet::default();
        let v = value.trim();
        if v.is_empty() || v.len() > 4096 {
            return found;
        }
        self.detect_token(v, &mut found);
        if is_street_address(v) {
            found.insert(PiiKind::Address);
        }
        if v.contains(char::is_whitespace) || v.contains([',', ';', '|', '{', '[']) {
            for part in v.split(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        ',' | ';'
                            | '|'
                            | '<'
                            | '>'
                            | '"'
                            | '\''
                            | '('
                            | ')'
                            | '{'
                            | '}'
                            | '['
                            | ']'
                    )
            }) {
                if !part.is_empty() && part.len() < v.len() {
                    self.detect_token(part, &mut found);
                }
            }
            // Phone numbers are often written with spaces: try digit runs with separators.
            if !found.contains(PiiKind::Phone) {
                for run in phone_like_runs(v) {
                    if self.is_phone(run) {
                        found.insert(PiiKind::Phone);
                        break;
                    }
                }
            }
        }
        found
    }

    fn detect_token(&self, t: &str, found: &mut KindSet) {
        if t.contains('@') {
            if matches!(normalize(&Kind::Email, t), Normalized::Value(_)) && t.contains('.') {
                found.insert(PiiKind::Email);
            }
            return;
        }
        let digits = t.bytes().filter(u8::is_ascii_digit).count();
        if digits >= 6 && self.is_phone(t) {
            found.insert(PiiKind::Phone);
        }
        if is_cn_id(t) {
            found.insert(PiiKind::IdCard);
        }
        if is_card(t) {
            found.insert(PiiKind::Card);
        }
        if is_ip(t) {
            found.insert(PiiKind::Ip);
        }
    }

    fn is_phone(&self, t: &str) -> bool {
        // Only spellings a person would write: digits with phone separators,
        // and not a date or a decimal amount (libphonenumber accepts national
        // numbers without their trunk prefix, so `2009-05-15 17` would pass).
        if !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-.()/".contains(&b))
            || is_date_or_amount(t)
            || is_ipv4_or_network(t)
        {
            return false;
        }
        let digits = t.bytes().filter(u8::is_ascii_digit).count();
        (7..=15).contains(&digits) && matches!(normalize(&self.phone, t), Normalized::Value(_))
    }
}

/// `222.22.209.82` or the network `222.22.209.0/24` (what `truncate_ip`
/// writes): IP addresses, not phone numbers.
fn is_ipv4_or_network(t: &str) -> bool {
    let (addr, prefix) = t.split_once('/').unwrap_or((t, "32"));
    addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 32)
}

/// `2009-05-15...`, `2009/5/15`, `15.05.2009` or `12345.67`: not phone numbers.
fn is_date_or_amount(t: &str) -> bool {
    let groups: Vec<&str> = t
        .split(['-', '/', '.', ' '])
        .filter(|g| !g.is_empty())
        .collect();
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    // `groups.len() >= 3` is tested first, so the indexing below is in bounds.
    let date = groups.len() >= 3
        && groups[..3].iter().all(|g| digits(g))
        && ((groups[0].len() == 4 && groups[1].len() <= 2 && groups[2].len() <= 2)
            || (groups[2].len() == 4 && groups[0].len() <= 2 && groups[1].len() <= 2));
    let amount = t.split_once('.').is_some_and(|(i, f)| {
        digits(i) && !i.is_empty() && digits(f) && (1..=2).contains(&f.len())
    });
    date || amount
}

/// Runs of digits and phone separators at least 7 digits long.
///
/// The slices cannot split a character: a run starts at an ASCII byte and
/// ends at the byte after an ASCII byte (or at the end), both char boundaries.
fn phone_like_runs(v: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let bytes = v.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let phoney = b.is_ascii_digit() || b"+-. ()".contains(&b);
        match (phoney, start) {
            (true, None) if b.is_ascii_digit() || b == b'+' || b == b'(' => start = Some(i),
            (false, Some(s)) => {
                runs.push(v[s..i].trim());
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(v[s..].trim());
    }
    runs.retain(|r| r.bytes().filter(u8::is_ascii_digit).count() >= 7);
    runs
}

/// Words naming a kind of street, after a house number and a street name.
const STREET_WORDS: &[&str] = &[
    "road",
    "rd",
    "street",
    "st",
    "lane",
    "ln",
    "avenue",
    "ave",
    "av",
    "close",
    "drive",
    "dr",
    "way",
    "court",
    "ct",
    "place",
    "pl",
    "boulevard",
    "blvd",
    "terrace",
    "ter",
    "crescent",
    "cres",
    "gardens",
    "gdns",
    "square",
    "sq",
    "parkway",
    "pkwy",
    "highway",
    "hwy",
    "row",
    "mews",
    "grove",
    "walk",
    "wharf",
    "circle",
    "cir",
    "trail",
    "trl",
    "alley",
    "quay",
    "embankment",
    "hill",
    "strasse",
    "straße",
    "weg",
];

/// Words that announce a flat or unit number.
const UNIT_WORDS: &[&str] = &["flat", "apt", "apartment", "suite", "ste", "unit"];

/// Street words written before the street's name (`77 Rue de Rivoli`).
const LEADING_STREET_WORDS: &[&str] = &["rue", "via", "calle", "avenida", "piazza"];

/// True when `v` holds a street-level postal address, in free text or
/// alone: a house number followed within four words by a street word
/// (`12 Orchard Road`, `1364 CEDAR LN.`), a flat or unit word with a number
/// (`Flat 3B`, `Apt #11`), a UK postcode (`BS1 5TR`), or a Chinese road,
/// street or lane with a house number (`黄河路 210 号`, `3 号楼`, `1201 室`).
/// What a derived region keeps (`北京市`, `广东省 深圳市`, `Guangdong`,
/// `England`) has none of these.
///
/// ```
/// use txanon::detect::is_street_address;
/// assert!(is_street_address("Flat 3B, Rose Cottage, Jane Doe"));
/// assert!(is_street_address("deliver to 4 Maple Close, Leeds"));
/// assert!(is_street_address("北京市 朝阳区 黄河路 210 号"));
/// assert!(!is_street_address("广东省 深圳市"));
/// assert!(!is_street_address("2 way adapter"));
/// ```
pub fn is_street_address(v: &str) -> bool {
    static CN: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:路|街|道|巷|弄|胡同|里)\s*\d{1,5}\s*(?:号|號)|\d{1,5}\s*(?:号楼|號樓|号院|单元|單元|栋|棟|幢|室)")
            .ok()
    });
    static UK_POSTCODE: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| {
            regex::Regex::new(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}\b").ok()
        });
    if v.len() > 4096 {
        return false;
    }
    let matches = |re: &std::sync::LazyLock<Option<regex::Regex>>| {
        re.as_ref().is_some_and(|re| re.is_match(v))
    };
    if matches(&CN) || matches(&UK_POSTCODE) {
        return true;
    }
    let words: Vec<String> = v
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '|'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.trim_matches(|c: char| c == '.' || c == ':')
                .to_lowercase()
        })
        .collect();
    let house_number = |w: &str| {
        let w = w.trim_start_matches('#');
        let digits = w.bytes().take_while(u8::is_ascii_digit).count();
        (1..=5).contains(&digits)
            && w.len() - digits <= 1
            && w[digits..].bytes().all(|b| b.is_ascii_alphabetic())
    };
    let name_word = |w: &str| w.chars().all(char::is_alphabetic) && !w.is_empty();
    words.iter().enumerate().any(|(i, w)| {
        if UNIT_WORDS.contains(&w.as_str()) {
            return words.get(i + 1).is_some_and(|n| house_number(n));
        }
        if !house_number(w) {
            return false;
        }
        if words
            .get(i + 1)
            .is_some_and(|s| LEADING_STREET_WORDS.contains(&s.as_str()))
        {
            return words.get(i + 2).is_some_and(|n| name_word(n));
        }
        // A street name of one to three words, then the street word.
        (i + 2..=i + 4).any(|j| {
            words
                .get(j)
                .is_some_and(|s| STREET_WORDS.contains(&s.as_str()))
                && words[i + 1..j].iter().all(|n| name_word(n))
        })
    })
}

/// Chinese resident ID: 17 digits and a check character (ISO 7064 MOD 11-2).
pub fn is_cn_id(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

/// Payment card: 13-19 digits (spaces or dashes allowed), a major network's
/// prefix, and a valid Luhn check digit.
pub fn is_card(t: &str) -> bool {
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
    {
        return false;
    }
    let digits: Vec<u8> = t
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    // 13..=19 digits (checked above): the first four exist.
    let p2 = u32::from(digits[0]) * 10 + u32::from(digits[1]);
    let p4 = p2 * 100 + u32::from(digits[2]) * 10 + u32::from(digits[3]);
    let network = digits[0] == 4
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || p2 == 34
        || p2 == 37
        || p2 == 62
        || p2 == 35
        || p2 == 36
        || p4 == 6011
        || p2 == 65;
    if !network {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IPv4 dotted quad or IPv6 address (std's parsers).
pub fn is_ip(t: &str) -> bool {
    (t.contains('.')
        && t.bytes().filter(|&b| b == b'.').count() == 3
        && t.parse::<Ipv4Addr>().is_ok())
        || (t.contains(':')
            && t.bytes().filter(|&b| b == b':').count() >= 2
            && t.parse::<Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cards_ips() {
        assert!(is_cn_id("11010519491231002X"));
        assert!(!is_cn_id("110105194912310021"));
        assert!(is_card("4111111111111111"));
        assert!(is_card("5500-0000-0000-0004"));
        assert!(!is_card("4111111111111112"));
        assert!(
            !is_card("2088185182612729"),
            "account ids are not card numbers"
        );
        assert!(is_ip("203.0.113.77"));
        assert!(is_ip("2001:db8::1"));
        assert!(!is_ip("1.2.3"));
        assert!(!is_ip("2008-05-31 23:30:00"));
    }

    #[test]
    fn phones_need_libphonenumber_validity() {
        let d = Detector::new(Some("CN"));
        assert!(d.detect("13800138000").contains(PiiKind::Phone));
        assert!(d.detect("(010) 6552-9988").contains(PiiKind::Phone));
        assert!(!d.detect("12345678").contains(PiiKind::Phone));
        assert!(!d.detect("1234.50").contains(PiiKind::Phone));
        assert!(!d.detect("2008-05-31").contains(PiiKind::Phone));
        assert!(!d.detect("2009-05-15 17:41:31").contains(PiiKind::Phone));
        assert!(!d.detect("12345.67").contains(PiiKind::Phone));
        assert!(d.detect("送货 138 0013 8000 谢谢").contains(PiiKind::Phone));
    }

    #[test]
    fn street_addresses_in_free_text_but_not_regions() {
        let d = Detector::new(Some("CN"));
        for v in [
            "Flat 3B, Rose Cottage, Jane Doe",
            "Flat 3B, 12 Orchard Road, Bristol BS1 5TR",
            "4 Maple Close, Leeds",
            "Rose Cottage, Leeds LS6 2AB",
            "1364 CEDAR LN., APT 11B, AUSTIN, TX 78701",
            "ring twice at 221B Baker St",
            "Suite 400",
            "Unit #12",
            "北京市 朝阳区 黄河路 210 号 世贸创业园17楼",
            "上海市浦东新区世纪大道100号",
            "深圳市南山区科技园 3 号楼 1201 室",
            "77 Rue de Rivoli, Paris",
        ] {
            assert!(d.detect(v).contains(PiiKind::Address), "{v}");
        }
        for v in [
            "北京市",
            "广东省 深圳市",
            "广东省深圳市南山区",
            "Guangdong",
            "England",
            "United Kingdom",
            "gmail.com",
            "+44",
            "2 way adapter",
            "Street food, 3 items",
            "e81d72bef77ec8d415d8e11cb57457cd",
            "dGhpcyBpcyBhIHRva2VuIEJTMSA1VFI",
            "2009-05-15 17:41:31",
        ] {
            assert!(!d.detect(v).contains(PiiKind::Address), "{v}");
        }
    }

    #[test]
    fn tokens_and_ordinary_values_are_clean() {
        let d = Detector::new(Some("CN"));
        for v in [
            "e81d72bef77ec8d415d8e11cb57457cd",
            "T2009051565317394",
            "CNY",
            "web",
            "64.60",
            "M00060635",
            "2009-05-01",
            "true",
            "19",
        ] {
            assert!(d.detect(v).is_empty(), "{v}");
        }
    }
}
