//! `init`: draft a schema from a dump, with the evidence for every proposal.
//!
//! Every column is listed with a type guess and a proposed action from what
//! the detectors found: phones → tokenize as phone, e-mails → tokenize as
//! email, address-like text → tokenize as address, account/customer ids →
//! tokenize as id, ID/card numbers, IP addresses and names → drop, timestamps
//! → generalize to month, birth dates → generalize to year, everything else
//! keep. Each column carries a comment with the evidence (hit rates, never
//! values). The draft is meant to be reviewed, and passes `check` against the
//! dump it was made from.

use std::fmt::Write as _;
use std::path::Path;

use crate::check::name_looks_personal;
use crate::detect::{header_name_may_be_data, Detector, PiiKind};
use crate::error::Result;
use crate::io::input::{for_each_batch, TextFormat};
use crate::io::source::TextEncoding;
use crate::schema::ValueType;
use crate::transform::generalize::TemporalParser;
use crate::values::{parse_bool, parse_decimal};

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Debug, Default, Clone)]
struct Evidence {
    values: u64,
    empty: u64,
    int: u64,
    /// Values that look like identifiers rather than quantities (leading zero, > 15 digits).
    id_like_digits: u64,
    decimal: u64,
    max_scale: usize,
    max_int_digits: usize,
    float: u64,
    bool_words: u64,
    date: u64,
    timestamp: u64,
    iso_timestamp: u64,
    hits: [u64; PiiKind::ALL.len()],
    address: u64,
    person_name: u64,
}

fn looks_like_address(v: &str) -> bool {
    const CJK: [char; 8] = ['省', '市', '区', '县', '路', '街', '号', '镇'];
    const WESTERN: [&str; 10] = [
        " st", " street", " ave", " road", " rd", " ln", " lane", " blvd", " dr", " way",
    ];
    let cjk = v.chars().filter(|c| CJK.contains(c)).count() >= 2;
    let lower = v.to_lowercase();
    let western = v.bytes().any(|b| b.is_ascii_digit())
        && WESTERN.iter().any(|w| {
            lower.contains(&format!("{w}."))
                || lower.contains(&format!("{w},"))
                || lower.contains(&format!("{w} "))
                || lower.ends_with(w)
        });
    cjk || western
}

fn looks_like_person_name(v: &str) -> bool {
    let v = v.trim();
    let han = v.chars().count();
    if (2..=4).contains(&han) && v.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        return true;
    }
    let words: Vec<&str> = v.split(' ').collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            cs.next().is_some_and(|c| c.is_ascii_uppercase())
                && cs.all(|c| c.is_ascii_lowercase())
                && w.len() >= 2
        })
}

/// Draft a schema (TOML text) from `path`, reading up to `sample` records (all by default).
pub fn draft_schema(
    path: &Path,
    region: &str,
    sample: Option<u64>,
    encoding: TextEncoding,
) -> Result<String> {
    let detector = Detector::new(Some(region));
    let date = TemporalParser::new(ValueType::Date, None, chrono_tz::UTC);
    let ts_fixed =
        TemporalParser::new(ValueType::Timestamp, Some(TIMESTAMP_FORMAT), chrono_tz::UTC);
    let ts_iso = TemporalParser::new(ValueType::Timestamp, None, chrono_tz::UTC);
    let mut evidence: Vec<Evidence> = Vec::new();
    let names = for_each_batch(
        path,
        sample,
        &TextFormat::with_encoding(encoding),
        |batch| {
            if evidence.is_empty() {
                evidence = vec![Evidence::default(); batch.columns.len()];
            }
            for ((_, values), ev) in batch.columns.iter().zip(evidence.iter_mut()) {
                for v in values.iter() {
                    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
                        ev.empty += 1;
                        continue;
                    };
                    ev.values += 1;
                    if v.parse::<i64>().is_ok() {
                        ev.int += 1;
                        if (v.len() > 1 && v.starts_with('0')) || v.len() > 15 {
                            ev.id_like_digits += 1;
                        }
                    }
                    if parse_decimal(v, 38, 10).is_some() {
                        ev.decimal += 1;
                        let (int, frac) = v
                            .trim_start_matches(['-', '+'])
                            .split_once('.')
                            .unwrap_or((v, ""));
                        ev.max_scale = ev.max_scale.max(frac.len());
                        ev.max_int_digits = ev.max_int_digits.max(
                            int.trim_start_matches(['-', '+'])
                                .trim_start_matches('0')
                                .len(),
                        );
                    }
                    if v.parse::<f64>().is_ok_and(f64::is_finite) {
                        ev.float += 1;
                    }
                    if parse_bool(v).is_some() && v.parse::<i64>().is_err() {
                        ev.bool_words += 1;
                    }
                    if date.parse_date(v).is_some() {
                        ev.date += 1;
                    }
                    if ts_fixed.parse_timestamp(v).is_some() {
                        ev.timestamp += 1;
                    }
                    if ts_iso.parse_timestamp(v).is_some() {
                        ev.iso_timestamp += 1;
                    }
                    let kinds = detector.detect(v);
                    for (i, k) in PiiKind::ALL.iter().enumerate() {
                        if kinds.contains(*k) {
                            ev.hits[i] += 1;
                        }
                    }
                    if looks_like_address(v) {
                        ev.address += 1;
                    }
                    if looks_like_person_name(v) {
                        ev.person_name += 1;
                    }
                }
            }
            Ok(())
        },
    )?;
    evidence.resize(names.len(), Evidence::default());
    // Column names become schema text: refuse a header that looks like data.
    if let Some(i) = names
        .iter()
        .position(|n| header_name_may_be_data(n, &detector))
    {
        return Err(crate::error::Error::Header {
            path: path.to_path_buf(),
            message: format!(
                "header field {} looks like personal data or key material, not a column name; \
                 is the file headerless or the wrong file? (the field is not shown)",
                i + 1
            ),
        });
    }

    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let rows = evidence.first().map_or(0, |e| e.values + e.empty);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Draft schema written by `txanon init` from {} ({rows} records examined).",
        path.display()
    );
    let _ = writeln!(
        out,
        "# Review every column before use: the proposals come from detectors and column names,"
    );
    let _ = writeln!(
        out,
        "# and the comments give the evidence (rates only, never values).\n"
    );
    let _ = writeln!(out, "[dataset]\nname = {}\nversion = 1\n", toml_str(&stem));
    let _ = writeln!(
        out,
        "[input]\nformat = \"csv\"\ndelimiter = \",\"\nheader = true"
    );
    if encoding != TextEncoding::Utf8 {
        let _ = writeln!(out, "encoding = {}", toml_str(encoding.name()));
    }
    let _ = writeln!(
        out,
        "# Set the zone the export's local times are in.\ntimezone = \"UTC\"\n"
    );
    let _ = writeln!(
        out,
        "[tokens]\ncontext = \"\"\nbits = 128\nencoding = \"hex\""
    );
    for (name, ev) in names.iter().zip(&evidence) {
        let (lines, why) = propose(name, ev, region);
        let _ = writeln!(out, "\n[[columns]]");
        for w in why {
            let _ = writeln!(out, "# {w}");
        }
        let _ = writeln!(out, "name = {}", toml_str(name));
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    Ok(out)
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "0%".into()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / d as f64)
    }
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Schema lines and evidence comments for one column.
fn propose(name: &str, ev: &Evidence, region: &str) -> (Vec<String>, Vec<String>) {
    let n = ev.values;
    let all = |k: u64| n > 0 && k == n;
    let most = |k: u64| n > 0 && k * 2 > n;
    let hit = |k: PiiKind| ev.hits[PiiKind::ALL.iter().position(|x| *x == k).unwrap_or(0)];
    let mut why = vec![format!(
        "{n} non-empty values, {} empty",
        pct(ev.empty, n + ev.empty)
    )];
    let lower = name.to_lowercase();
    let personal_name = name_looks_personal(name);
    let id_named = [
        "account", "customer", "user", "member", "client", "payer", "payee",
    ]
    .iter()
    .any(|w| lower.contains(w))
        && ["id", "no", "num", "number", "code"].iter().any(|w| {
            lower
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|p| p == *w || p.ends_with(w))
        });
    let s = |x: &str| x.to_string();

    // Addresses have their own, wider evidence below (`looks_like_address`).
    let strongest = PiiKind::ALL
        .iter()
        .copied()
        .filter(|k| *k != PiiKind::Address)
        .max_by_key(|k| hit(*k))
        .filter(|k| most(hit(*k)));
    if let Some(kind) = strongest {
        why.push(format!(
            "{} of values detected as {}",
            pct(hit(kind), n),
            kind.name()
        ));
        return match kind {
            PiiKind::Phone => (
                vec![
                    s("action = \"tokenize\""),
                    s("as = \"phone\""),
                    format!("region = {}", toml_str(region)),
                    s("on_invalid = \"null\""),
                ],
                why,
            ),
            PiiKind::Email => (
                vec![
                    s("action = \"tokenize\""),
                    s("as = \"email\""),
                    s("on_invalid = \"null\""),
                ],
                why,
            ),
            PiiKind::IdCard | PiiKind::Card | PiiKind::Ip | PiiKind::Address => {
                why.push(s("a direct identifier with no analytic use: dropped"));
                (vec![s("action = \"drop\"")], why)
            }
        };
    }
    if lower.contains("name") || most(ev.person_name) {
        why.push(format!(
            "{} of values look like person names; column name {}",
            pct(ev.person_name, n),
            if lower.contains("name") {
                "says name"
            } else {
                "does not"
            }
        ));
        return (vec![s("action = \"drop\"")], why);
    }
    if most(ev.address) {
        why.push(format!(
            "{} of values look like postal addresses",
            pct(ev.address, n)
        ));
        return (vec![s("action = \"tokenize\""), s("as = \"address\"")], why);
    }
    if id_named {
        why.push(s("column name suggests a customer identifier: tokenized so analysts can still count and join"));
        return (vec![s("action = \"tokenize\""), s("as = \"id\"")], why);
    }
    if all(ev.timestamp) && !all(ev.date) {
        why.push(format!("all values parse as timestamps ({TIMESTAMP_FORMAT}); exact times re-identify, so month"));
        return (
            vec![
                s("type = \"timestamp\""),
                format!("format = {}", toml_str(TIMESTAMP_FORMAT)),
                s("action = \"generalize\""),
                s("to = \"month\""),
            ],
            why,
        );
    }
    if all(ev.iso_timestamp) && !all(ev.date) {
        why.push(s(
            "all values parse as ISO 8601 timestamps; generalized to month",
        ));
        return (
            vec![
                s("type = \"timestamp\""),
                s("action = \"generalize\""),
                s("to = \"month\""),
            ],
            why,
        );
    }
    if all(ev.date) {
        if personal_name {
            why.push(s(
                "all values are dates and the name suggests a birth date: year only",
            ));
            return (
                vec![
                    s("type = \"date\""),
                    s("format = \"%Y-%m-%d\""),
                    s("action = \"generalize\""),
                    s("to = \"year\""),
                ],
                why,
            );
        }
        why.push(s("all values are dates (%Y-%m-%d)"));
        return (
            vec![
                s("type = \"date\""),
                s("format = \"%Y-%m-%d\""),
                s("action = \"keep\""),
            ],
            why,
        );
    }
    if personal_name {
        why.push(s(
            "column name suggests personal data and nothing safer was detected: dropped",
        ));
        return (vec![s("action = \"drop\"")], why);
    }
    if all(ev.bool_words) {
        why.push(s("all values are true/false words"));
        return (vec![s("type = \"bool\""), s("action = \"keep\"")], why);
    }
    if all(ev.int) && ev.id_like_digits == 0 {
        why.push(s("all values are integers"));
        return (vec![s("type = \"int\""), s("action = \"keep\"")], why);
    }
    if all(ev.decimal) && ev.id_like_digits == 0 && ev.max_scale > 0 {
        let scale = ev.max_scale;
        let precision = (ev.max_int_digits + scale + 2).clamp(scale.max(1), 38);
        why.push(format!(
            "all values are decimals with at most {scale} fractional digits"
        ));
        return (
            vec![
                format!("type = \"decimal({precision},{scale})\""),
                s("action = \"keep\""),
            ],
            why,
        );
    }
    if all(ev.float) && ev.id_like_digits == 0 {
        why.push(s("all values are numbers"));
        return (vec![s("type = \"float\""), s("action = \"keep\"")], why);
    }
    why.push(s("no personal data detected: kept as text"));
    (vec![s("action = \"keep\"")], why)
}
