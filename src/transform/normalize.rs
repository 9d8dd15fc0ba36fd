//! Normalization v1: the canonical spelling of a value before it is hashed.
//!
//! Two spellings of the same phone number, e-mail address or street address
//! must give the same token, or analysts cannot count customers. Each kind
//! has one function here, specified in `docs/TOKEN-SPEC.md` and pinned by the
//! vectors in `tests/vectors/v1.json`, which a second implementation
//! (`tests/vectors/reference.py`) recomputes.
//!
//! ```
//! use txanon::transform::normalize::{normalize, Kind, Normalized};
//! let cn = Kind::Phone { region: rlibphonenumber::Region::from_code("CN").ok() };
//! assert_eq!(normalize(&cn, "0086-138-0013-8000"), Normalized::Value("+8613800138000".into()));
//! assert_eq!(normalize(&Kind::Email, " Li.Wei@163.COM "), Normalized::Value("li.wei@163.com".into()));
//! assert!(matches!(normalize(&cn, "N/A"), Normalized::Invalid(_)));
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use icu_normalizer::ComposingNormalizerBorrowed;
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, Region};

/// The kinds of identifier a tokenize column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opaque identifier: NFKC and trim only, case kept.
    Id,
    /// E-mail address.
    Email,
    /// Postal address.
    Address,
    /// Phone number; `region` is used for numbers without a country code.
    Phone {
        /// ISO 3166 region for national numbers, if any.
        region: Option<Region>,
    },
}

impl Kind {
    /// The schema spelling of the kind (`as = ...`), also the default namespace.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Id => "id",
            Kind::Email => "email",
            Kind::Address => "address",
            Kind::Phone { .. } => "phone",
        }
    }
}

/// A region code libphonenumber has metadata for (`"CN"`, `"US"`, ...).
pub fn phone_region(code: &str) -> Option<Region> {
    let region = Region::from_code(code).ok()?;
    rlibphonenumber::PHONE_NUMBER_UTIL
        .get_country_code_for_region(region)
        .filter(|&cc| cc > 0)
        .map(|_| region)
}

/// Outcome of normalizing one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalized<'a> {
    /// The canonical spelling.
    Value(Cow<'a, str>),
    /// Nothing left after NFKC and trimming: written as null.
    Empty,
    /// Not a valid value of the kind; the rule that failed (never the value).
    Invalid(&'static str),
}

const NFKC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfkc();

/// Unicode NFKC, then trim white space. ASCII text is already NFKC.
pub fn nfkc_trim(raw: &str) -> Cow<'_, str> {
    if raw.is_ascii() {
        return Cow::Borrowed(raw.trim());
    }
    match NFKC.normalize(raw) {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => {
            let t = s.trim();
            if t.len() == s.len() {
                Cow::Owned(s)
            } else {
                Cow::Owned(t.to_string())
            }
        }
    }
}

/// Normalize `raw` as `kind` (normalization v1).
pub fn normalize<'a>(kind: &Kind, raw: &'a str) -> Normalized<'a> {
    let base = nfkc_trim(raw);
    if base.is_empty() {
        return Normalized::Empty;
    }
    match kind {
        Kind::Id => Normalized::Value(base),
        Kind::Email => email(&base),
        Kind::Address => Normalized::Value(Cow::Owned(address(&base))),
        Kind::Phone { region } => phone(&base, *region),
    }
}

/// Lowercase exactly like `str::to_lowercase`, with a fast path for text made
/// of ASCII and caseless CJK characters (the common case in this data), which
/// needs no case-table lookups.
fn lowercase(s: &str) -> Cow<'_, str> {
    let simple = s.chars().all(|c| c.is_ascii() || is_caseless_cjk(c));
    if !simple {
        return Cow::Owned(s.to_lowercase());
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut out = s.to_string();
        out.make_ascii_lowercase();
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// CJK symbols and punctuation, kana, CJK ideographs (with extensions and
/// compatibility forms) and Hangul syllables: scripts without case.
fn is_caseless_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3000..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0x20000..=0x3134F
    )
}

fn email(base: &str) -> Normalized<'static> {
    let lower = lowercase(base);
    if lower.chars().any(char::is_whitespace) {
        return Normalized::Invalid("email: contains white space");
    }
    let mut parts = lower.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Normalized::Invalid("email: needs exactly one @");
    };
    if local.is_empty() {
        return Normalized::Invalid("email: empty local part");
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Normalized::Invalid("email: domain needs a dot, not at either end");
    }
    if domain.split('.').any(str::is_empty) {
        return Normalized::Invalid("email: domain has an empty label");
    }
    let ascii = if domain.is_ascii() {
        Cow::Borrowed(domain)
    } else {
        match idna::domain_to_ascii(domain) {
            Ok(d) => Cow::Owned(d),
            Err(_) => return Normalized::Invalid("email: domain fails UTS #46 ToASCII"),
        }
    };
    if ascii.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Normalized::Invalid("email: domain label empty or longer than 63");
    }
    let mut out = String::with_capacity(local.len() + 1 + ascii.len());
    out.push_str(local);
    out.push('@');
    out.push_str(&ascii);
    Normalized::Value(Cow::Owned(out))
}

/// Fold white space runs to one space, drop a space next to a "sticky"
/// character (non-ASCII, or one of `,.;:#-/`), trim. One pass over the
/// characters with the previous kept character as look-behind, so a huge
/// field costs one output string, not four bytes per character.
fn address(base: &str) -> String {
    let lower = lowercase(base);
    let sticky = |c: char| !c.is_ascii() || matches!(c, ',' | '.' | ';' | ':' | '#' | '-' | '/');
    let mut out = String::with_capacity(lower.len());
    let mut last: Option<char> = None;
    let mut pending_space = false;
    for c in lower.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        // A space between two kept characters survives unless either is sticky;
        // leading and trailing spaces never survive (the trim).
        if pending_space && last.is_some_and(|l| !sticky(l)) && !sticky(c) {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
        last = Some(c);
    }
    out
}

fn phone(base: &str, region: Option<Region>) -> Normalized<'static> {
    let mut digits = String::with_capacity(base.len() + 1);
    let mut plus = false;
    for c in base.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if !plus && digits.is_empty() => plus = true,
            '+' => return Normalized::Invalid("phone: '+' only before the first digit"),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return Normalized::Invalid("phone: character other than digits and separators"),
        }
    }
    if digits.is_empty() {
        return Normalized::Invalid("phone: no digits");
    }
    if !plus && digits.starts_with("00") {
        plus = true;
        digits.drain(..2);
    }
    if plus {
        digits.insert(0, '+');
    } else if region.is_none() {
        return Normalized::Invalid("phone: national number and no region declared");
    }
    // Customers recur, so the libphonenumber result for the cleaned digits is
    // memoised per worker thread (bounded; a pure function, so the output
    // does not depend on what happens to be cached).
    let key = (if plus { None } else { region }, digits);
    let cached = PHONE_CACHE.with(|c| c.borrow().get(&key).cloned());
    let result = cached.unwrap_or_else(|| {
        let result = libphonenumber_e164(&key.1, key.0);
        PHONE_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= PHONE_CACHE_CAP {
                c.clear();
            }
            c.insert(key.clone(), result.clone());
        });
        result
    });
    match result {
        Ok(e164) => Normalized::Value(Cow::Owned(e164.into())),
        Err(rule) => Normalized::Invalid(rule),
    }
}

/// Entries per thread before the phone cache is cleared (a few MiB).
const PHONE_CACHE_CAP: usize = 1 << 15;

type PhoneCache = HashMap<(Option<Region>, String), Result<Box<str>, &'static str>>;

thread_local! {
    static PHONE_CACHE: RefCell<PhoneCache> = RefCell::new(HashMap::new());
}

/// Parse and validate with libphonenumber: E.164, or the rule that failed.
fn libphonenumber_e164(digits: &str, region: Option<Region>) -> Result<Box<str>, &'static str> {
    match PhoneNumber::parse(digits, region) {
        Ok(n) if n.is_valid() => Ok(n.format_as(PhoneNumberFormat::E164).into()),
        Ok(_) => Err("phone: not a valid number (libphonenumber)"),
        Err(_) => Err("phone: does not parse as a number (libphonenumber)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cn() -> Kind {
        Kind::Phone {
            region: Region::from_code("CN").ok(),
        }
    }

    fn value(kind: &Kind, raw: &str) -> Option<String> {
        match normalize(kind, raw) {
            Normalized::Value(v) => Some(v.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn spec_phone_examples() {
        for raw in [
            "+86 138 0013 8000",
            "13800138000",
            "0086-138-0013-8000",
            "(+86) 13800138000",
            "１３８００１３８０００",
        ] {
            assert_eq!(
                value(&cn(), raw).as_deref(),
                Some("+8613800138000"),
                "{raw}"
            );
        }
        assert_eq!(
            value(&cn(), "(010) 6552-9988").as_deref(),
            Some("+861065529988")
        );
        assert_eq!(value(&cn(), "N/A"), None);
        assert_eq!(value(&cn(), "12345"), None);
        assert_eq!(normalize(&cn(), "   "), Normalized::Empty);
    }

    #[test]
    fn spec_address_examples() {
        assert_eq!(
            value(&Kind::Address, "浙江省 杭州市 西湖区 文三路 123 号").as_deref(),
            Some("浙江省杭州市西湖区文三路123号")
        );
        assert_eq!(
            value(&Kind::Address, "123  Main St. ,  Springfield, IL 62704").as_deref(),
            Some("123 main st.,springfield,il 62704")
        );
    }

    #[test]
    fn spec_email_examples() {
        assert_eq!(
            value(&Kind::Email, "用户@例子.中国").as_deref(),
            Some("用户@xn--fsqu00a.xn--fiqs8s")
        );
        assert_eq!(value(&Kind::Email, "a@@b.com"), None);
        assert_eq!(value(&Kind::Email, "a@localhost"), None);
        assert_eq!(value(&Kind::Email, "a b@c.com"), None);
        assert_eq!(value(&Kind::Email, "@c.com"), None);
        assert_eq!(value(&Kind::Email, "a@.c.com"), None);
    }

    #[test]
    fn address_space_removal_can_leave_a_decomposed_sequence() {
        // U+00AF MACRON becomes " \u{304}" under NFKC; the space before the
        // combining mark is then removed (non-ASCII neighbour), leaving
        // "e\u{304}", which a second NFKC pass would compose to U+0113.
        assert_eq!(
            value(&Kind::Address, "E\u{AF}").as_deref(),
            Some("e\u{304}")
        );
    }

    #[test]
    fn email_lowercase_can_leave_a_decomposed_sequence() {
        // U+030C after J has no precomposed capital, so NFKC keeps it; after
        // lowercasing, "j\u{30c}" is what a second NFKC pass composes to U+01F0.
        assert_eq!(
            value(&Kind::Email, "J\u{30C}@a.cn").as_deref(),
            Some("j\u{30c}@a.cn")
        );
        assert_eq!(
            value(&Kind::Email, "j\u{30c}@a.cn").as_deref(),
            Some("\u{1f0}@a.cn")
        );
    }

    #[test]
    fn id_keeps_case_and_applies_nfkc() {
        assert_eq!(
            value(&Kind::Id, " ＡＢＣ１２３ ").as_deref(),
            Some("ABC123")
        );
        assert_eq!(value(&Kind::Id, "AbC").as_deref(), Some("AbC"));
    }

    /// The two-pass implementation `address` replaced (issue 7: it held four
    /// bytes per character, and a 100 MB field exhausted a 1 GiB limit).
    fn address_two_pass(base: &str) -> String {
        let lower = lowercase(base);
        let mut folded: Vec<char> = Vec::new();
        let mut in_space = false;
        for c in lower.chars() {
            if c.is_whitespace() {
                if !in_space {
                    folded.push(' ');
                }
                in_space = true;
            } else {
                folded.push(c);
                in_space = false;
            }
        }
        let sticky =
            |c: char| !c.is_ascii() || matches!(c, ',' | '.' | ';' | ':' | '#' | '-' | '/');
        let mut out = String::new();
        for (i, &c) in folded.iter().enumerate() {
            if c == ' ' {
                let left = i.checked_sub(1).map(|j| folded[j]);
                let right = folded.get(i + 1).copied();
                if left.is_some_and(sticky) || right.is_some_and(sticky) {
                    continue;
                }
            }
            out.push(c);
        }
        out.trim().to_string()
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fast_lowercase_equals_std(s in "[a-zA-Z0-9 ,.\u{3000}-\u{30ff}\u{4e00}-\u{4e20}\u{ac00}-\u{ac10}\u{c0}-\u{24f}\u{391}-\u{3c9}]{0,30}") {
                prop_assert_eq!(lowercase(&s).into_owned(), s.to_lowercase());
            }

            #[test]
            fn one_pass_address_equals_the_two_pass_definition(s in "[ a-zA-Z0-9,.;:#/\t\u{3000}\u{a0}\u{4e00}-\u{4e10}\u{c0}-\u{ff}-]{0,40}") {
                let base = nfkc_trim(&s);
                prop_assert_eq!(address(&base), address_two_pass(&base));
            }

            #[test]
            fn normalization_is_idempotent(s in "\\PC{0,40}") {
                for kind in [Kind::Id, Kind::Email, Kind::Address, cn()] {
                    if let Normalized::Value(v) = normalize(&kind, &s) {
                        // Spec v1 property (docs/TOKEN-SPEC.md): lowercasing (email,
                        // address) or removing a space (address) can leave a letter and
                        // a combining mark that NFKC composes on a second pass; only
                        // then is normalization not idempotent, and the second pass is.
                        let again = normalize(&kind, &v);
                        if matches!(kind, Kind::Email | Kind::Address) && !NFKC.is_normalized(&v) {
                            if let Normalized::Value(w) = &again {
                                prop_assert_eq!(normalize(&kind, w), again.clone());
                            }
                            continue;
                        }
                        prop_assert_eq!(again, Normalized::Value(v.clone()));
                    }
                }
            }
        }
    }
}
