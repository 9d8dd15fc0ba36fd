//! The quasi-identifier column builders (src/transform/batch/qi.rs) through
//! [`BatchPlan::transform`], on hand-made string arrays: the values written,
//! and the nulls, invalid values and row issues counted, are written out by
//! hand (shift offsets from tests/vectors/v1.json, computed by
//! tests/vectors/reference.py).

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer};

use super::*;

/// The key of tests/vectors/v1.json's shift cases.
const VECTOR_KEY: &str = "b683ce432590829a796e8802fc42be517504aa6783ecfd1b6c783e44e6420a21";

fn plan(columns: &str) -> BatchPlan {
    let schema = Schema::from_toml(
        &format!("[dataset]\nname = \"t\"\nversion = 1\n{columns}"),
        Path::new("t.toml"),
    )
    .unwrap();
    BatchPlan::new(&schema, &MasterKey::from_hex(VECTOR_KEY).unwrap())
}

/// A string array whose null slots hold `GARBAGE` bytes: Arrow leaves a
/// null slot's content unspecified, so only the validity bitmap may decide.
fn column(values: &[Option<&str>]) -> StringArray {
    const GARBAGE: &str = "6222021234569999";
    let texts: Vec<&str> = values.iter().map(|v| v.unwrap_or(GARBAGE)).collect();
    let offsets = OffsetBuffer::<i32>::from_lengths(texts.iter().map(|t| t.len()));
    let bytes = Buffer::from(texts.concat().into_bytes());
    let nulls = NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<bool>>());
    StringArray::new(offsets, bytes, Some(nulls))
}

/// Transform `inputs` (by input name) and return, per output name, the
/// array and its counters, plus the row issues.
fn run(
    plan: &BatchPlan,
    inputs: &[(&str, &[Option<&str>])],
) -> (HashMap<String, (ArrayRef, ColumnStats)>, Vec<RowIssue>) {
    let arrays: Vec<StringArray> = plan
        .inputs
        .iter()
        .map(|name| {
            let (_, v) = inputs.iter().find(|(n, _)| n == name).unwrap();
            column(v)
        })
        .collect();
    let refs: Vec<&StringArray> = arrays.iter().collect();
    let (out, stats, issues) = plan.transform(&refs);
    let by_name = plan
        .columns
        .iter()
        .zip(out.into_iter().zip(stats))
        .map(|(c, r)| (c.output.clone(), r))
        .collect();
    (by_name, issues)
}

fn texts(a: &ArrayRef) -> Vec<Option<String>> {
    let cast = arrow_cast::cast(a, &arrow_schema::DataType::Utf8).unwrap();
    cast.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn some(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(str::to_string)).collect()
}

fn counts(st: &ColumnStats) -> (u64, u64) {
    (st.nulls, st.invalid)
}

#[test]
fn mask_bucket_and_truncate_ip_write_values_and_count_nulls() {
    let p = plan(
        "[[columns]]\nname = \"card\"\naction = \"mask\"\nkeep_last = 4\n\
         [[columns]]\nname = \"amount\"\ntype = \"int\"\naction = \"bucket\"\nwidth = 10\non_invalid = \"null\"\n\
         [[columns]]\nname = \"price\"\ntype = \"decimal(8,2)\"\naction = \"bucket\"\nwidth = 10\n\
         [[columns]]\nname = \"score\"\ntype = \"float\"\naction = \"bucket\"\nround = 2\n\
         [[columns]]\nname = \"band\"\ntype = \"int\"\naction = \"bucket\"\nbreaks = [0, 18, 65]\nlabels = true\non_invalid = \"null\"\n\
         [[columns]]\nname = \"ip\"\naction = \"truncate_ip\"\non_invalid = \"null\"\n\
         [[columns]]\nname = \"small\"\ntype = \"decimal(3,0)\"\naction = \"bucket\"\nround = 1\non_invalid = \"null\"\n",
    );
    // Rows: a value, a null slot (with garbage bytes), a blank, a second value.
    let (out, issues) = run(
        &p,
        &[
            (
                "card",
                &[Some(" 6222021234561234 "), None, Some("  "), Some("1234")],
            ),
            ("amount", &[Some("1234"), None, Some(" "), Some("x12")]),
            ("price", &[Some("1234.56"), None, Some(""), Some("-0.01")]),
            ("score", &[Some("0.0123"), None, Some("\t"), Some("17.5")]),
            ("band", &[Some("40"), None, Some(" "), Some("-1")]),
            (
                "ip",
                &[Some("222.22.209.82"), None, Some(" "), Some("999.1.1.1")],
            ),
            ("small", &[Some("999"), None, Some(" "), Some("123")]),
        ],
    );
    assert!(issues.is_empty(), "{issues:?}");
    let col = |n: &str| {
        let (a, st) = &out[n];
        assert_eq!(a.len(), 4, "{n}");
        (texts(a), counts(st))
    };
    assert_eq!(
        col("card"),
        (
            some(&[Some("************1234"), None, None, Some("****")]),
            (2, 0)
        )
    );
    assert_eq!(out["amount"].0.data_type(), &arrow_schema::DataType::Int64);
    assert_eq!(
        out["amount"]
            .0
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()[0],
        1230
    );
    assert_eq!(
        col("amount"),
        (some(&[Some("1230"), None, None, None]), (2, 1))
    );
    assert_eq!(
        col("price"),
        (some(&[Some("1230.00"), None, None, Some("-10.00")]), (2, 0))
    );
    assert_eq!(out["score"].0.data_type(), &arrow_schema::DataType::Float64);
    assert_eq!(
        col("score"),
        (some(&[Some("0.012"), None, None, Some("18.0")]), (2, 0))
    );
    // -1 lies below the first break: null, counted invalid.
    assert_eq!(
        col("band"),
        (some(&[Some("[18, 65)"), None, None, None]), (2, 1))
    );
    // 999 rounds to 1000, four digits: it does not fit decimal(3,0).
    assert_eq!(
        col("small"),
        (some(&[None, None, None, Some("100")]), (2, 1))
    );
    assert_eq!(
        col("ip"),
        (some(&[Some("222.22.209.0/24"), None, None, None]), (2, 1))
    );
}

#[test]
fn shift_moves_dates_and_timestamps_by_the_vector_offset() {
    // tests/vectors/v1.json: id 2088185182612729 under VECTOR_KEY, max_days
    // 30: offset 4 days; 2009-05-15 -> 2009-05-19 and
    // 2009-05-15T09:41:31Z -> 2009-05-19T09:41:31Z.
    let p = plan(
        "[[columns]]\nname = \"who\"\naction = \"tokenize\"\nas = \"id\"\n\
         [[columns]]\nname = \"d\"\ntype = \"date\"\naction = \"shift\"\nby = \"who\"\nmax_days = 30\non_invalid = \"null\"\n\
         [[columns]]\nname = \"t\"\ntype = \"timestamp\"\nformat = \"%Y-%m-%dT%H:%M:%SZ\"\naction = \"shift\"\nby = \"who\"\nmax_days = 30\non_invalid = \"null\"\n",
    );
    let who: &[Option<&str>] = &[
        Some("2088185182612729"),
        Some("2088185182612729"),
        None,
        Some("2088185182612729"),
    ];
    let (out, issues) = run(
        &p,
        &[
            ("who", who),
            (
                "d",
                &[
                    Some("2009-05-15"),
                    None,
                    Some("2009-05-15"),
                    Some("2009-02-30"),
                ],
            ),
            (
                "t",
                &[
                    Some("2009-05-15T09:41:31Z"),
                    None,
                    Some("2009-05-15T09:41:31Z"),
                    Some("2009-05-15 09:41:31"),
                ],
            ),
        ],
    );
    assert!(issues.is_empty(), "{issues:?}");
    let (d, st) = &out["d"];
    // Days since 1970-01-01 of 2009-05-19 (Python's datetime.date).
    let days: Vec<Option<i32>> = d.as_primitive::<Date32Type>().iter().collect();
    assert_eq!(days, [Some(14383), None, None, None]);
    // Row 1 is null; row 2 has no entity and row 3 no valid date: invalid.
    assert_eq!(counts(st), (1, 2));
    let (t, st) = &out["t"];
    let micros: Vec<Option<i64>> = t
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(micros, [Some(1_242_726_091_000_000), None, None, None]);
    assert_eq!(counts(st), (1, 2));
}

#[test]
fn age_from_a_date_a_timestamp_and_a_reference_column() {
    let p = plan(
        "[[columns]]\nname = \"birth\"\ntype = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\non_invalid = \"null\"\n\
         [[columns]]\nname = \"born_at\"\ntype = \"timestamp\"\nformat = \"%Y-%m-%d %H:%M:%S\"\naction = \"age\"\nat_column = \"paid\"\ntop = 80\non_invalid = \"null\"\n\
         [[columns]]\nname = \"paid\"\ntype = \"date\"\naction = \"keep\"\n\
         [[columns]]\nname = \"banded\"\ntype = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\nbreaks = [18, 65]\nlabels = true\non_invalid = \"null\"\n\
         [[columns]]\nname = \"stamp\"\ntype = \"timestamp\"\naction = \"age\"\nat = \"2010-06-14\"\non_invalid = \"null\"\n",
    );
    let (out, issues) = run(
        &p,
        &[
            // A timestamp without a format (RFC 3339) is dated in [input].timezone
            // (UTC): 23:30 at -05:00 on the 14th is the 15th, so not yet 30 on
            // 2010-06-14; 10:00Z on the 14th is 30.
            (
                "stamp",
                &[
                    Some("1980-06-14T23:30:00-05:00"),
                    None,
                    Some(" "),
                    Some("1980-06-14T10:00:00Z"),
                ],
            ),
            // 30 on 2010-06-15, so 30 at the end of 2010; null; blank; after the reference.
            (
                "birth",
                &[Some("1980-06-15"), None, Some(" "), Some("2011-01-01")],
            ),
            // 29 the day before the 30th birthday; over top = 80; null; no reference.
            (
                "born_at",
                &[
                    Some("1980-06-15 10:00:00"),
                    Some("1900-01-01 00:00:00"),
                    None,
                    Some("1980-06-15 10:00:00"),
                ],
            ),
            (
                "paid",
                &[
                    Some("2010-06-14"),
                    Some("2010-06-14"),
                    Some("2010-06-14"),
                    None,
                ],
            ),
            // 10: below the first break; 30; null; 90.
            (
                "banded",
                &[
                    Some("2000-06-15"),
                    Some("1980-06-15"),
                    None,
                    Some("1920-01-01"),
                ],
            ),
        ],
    );
    assert!(issues.is_empty(), "{issues:?}");
    let col = |n: &str| {
        let (a, st) = &out[n];
        (texts(a), counts(st))
    };
    assert_eq!(
        col("birth"),
        (some(&[Some("30"), None, None, None]), (2, 1))
    );
    assert_eq!(
        col("born_at"),
        (some(&[Some("29"), Some("80"), None, None]), (1, 1))
    );
    assert_eq!(
        col("stamp"),
        (some(&[Some("29"), None, None, Some("30")]), (2, 0))
    );
    assert_eq!(
        col("banded"),
        (
            some(&[None, Some("[18, 65)"), None, Some("[65, inf)")]),
            (1, 1)
        )
    );
}

#[test]
fn bad_temporal_values_name_their_type_in_the_row_issue() {
    let p = plan(
        "[[columns]]\nname = \"d\"\ntype = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\n\
         [[columns]]\nname = \"t\"\ntype = \"timestamp\"\nformat = \"%Y-%m-%d %H:%M:%S\"\naction = \"age\"\nat = \"2010-12-31\"\n",
    );
    let (_, issues) = run(
        &p,
        &[
            ("d", &[Some("2010-02-30"), Some("2001-01-01")]),
            ("t", &[Some("2001-01-01 00:00:00"), Some("2001-01-01")]),
        ],
    );
    let got: Vec<(usize, usize, &str)> = issues.iter().map(|i| (i.row, i.column, i.rule)).collect();
    assert_eq!(
        got,
        [
            (0, 0, "date: does not match the declared format"),
            (
                1,
                1,
                "timestamp: does not match the declared format (or falls in a DST gap)"
            )
        ]
    );
}

#[test]
fn derived_outputs_count_nulls_and_values_that_do_not_normalize() {
    let p = plan(
        "[[columns]]\nname = \"email\"\naction = \"tokenize\"\nas = \"email\"\non_invalid = \"null\"\n\
         derive = [{ kind = \"email_domain\", output = \"domain\" }]\n",
    );
    let (out, _) = run(
        &p,
        &[(
            "email",
            &[
                Some("Li.Wei@163.COM"),
                None,
                Some(" "),
                Some("not an e-mail"),
                Some("boss@Acme-Widgets.DE"),
                Some("not an e-mail"),
            ],
        )],
    );
    let (domain, st) = &out["domain"];
    assert_eq!(
        texts(domain),
        some(&[Some("163.com"), None, None, None, Some("*.de"), None])
    );
    assert_eq!(counts(st), (2, 2));
}
