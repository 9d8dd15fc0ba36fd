//! Schema validation: every rule names the key or column at fault.

use super::*;

fn load(columns: &str) -> std::result::Result<Schema, String> {
    let text = format!("[dataset]\nname = \"t\"\nversion = 1\n{columns}");
    Schema::from_toml(&text, Path::new("t.toml")).map_err(|e| e.to_string())
}

/// Output column names and types.
fn fields(s: &Schema) -> Vec<(String, DataType)> {
    s.output_schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

#[test]
fn minimal_schema_and_defaults() {
    let s = load("[[columns]]\nname = \"a\"\naction = \"keep\"\n").unwrap();
    assert_eq!(s.tokens.bits, 128);
    assert_eq!(s.tokens.encoding, TokenEncoding::Hex);
    assert_eq!(s.input.dialect.delimiter, b',');
    assert_eq!(s.input.timezone, chrono_tz::UTC);
    assert_eq!(s.columns[0].value_type, ValueType::String);
    assert_eq!(s.sha256.len(), 64);
}

#[test]
fn rules_name_what_is_wrong() {
    let cases = [
        ("[[columns]]\nname = \"a\"\n", "has no action"),
        ("[[columns]]\nname = \"a\"\naction = \"keep\"\nbogus = 1\n", "bogus"),
        ("[[columns]]\nname = \"a\"\naction = \"generalize\"\nto = \"month\"\n", "generalize needs type"),
        ("[[columns]]\nname = \"a\"\ntype = \"int\"\naction = \"tokenize\"\n", "tokenize needs type = \"string\""),
        ("[[columns]]\nname = \"a\"\naction = \"tokenize\"\nas = \"email\"\nregion = \"CN\"\n", "region applies only"),
        ("[[columns]]\nname = \"a\"\naction = \"tokenize\"\nas = \"phone\"\nregion = \"XX\"\n", "not a known ISO 3166"),
        ("[[columns]]\nname = \"a\"\ntype = \"date\"\naction = \"generalize\"\nto = \"hour\"\n", "needs type = \"timestamp\""),
        ("[[columns]]\nname = \"a\"\naction = \"keep\"\n[[columns]]\nname = \"a\"\naction = \"drop\"\n", "declared twice"),
        (
            "[[columns]]\nname = \"a\"\naction = \"keep\"\n[[columns]]\nname = \"b\"\naction = \"keep\"\noutput = \"a\"\n",
            "output name \"a\" is used",
        ),
        ("[[columns]]\nname = \"a\"\ntype = \"decimal(40,2)\"\naction = \"keep\"\n", "decimal(P,S)"),
        ("[[columns]]\nname = \"a\"\naction = \"drop\"\n", "every column is dropped"),
        ("[tokens]\nbits = 100\n[[columns]]\nname = \"a\"\naction = \"keep\"\n", "[tokens].bits = 100"),
        ("[input]\ntimezone = \"Mars/Olympus\"\n[[columns]]\nname = \"a\"\naction = \"keep\"\n", "IANA"),
        ("[[columns]]\nname = \"a\"\ntype = \"timestamp\"\nformat = \"%Q\"\naction = \"keep\"\n", "strftime"),
        ("[[columns]]\nname = \"a\"\naction = \"keep\"\nformat = \"%Y\"\n", "format applies only"),
        ("[[columns]]\nname = \"a\"\naction = \"tokenize\"\non_invalid = \"maybe\"\n", "on_invalid"),
    ];
    for (cols, needle) in cases {
        let err = load(cols).expect_err(cols);
        assert!(err.contains(needle), "{cols:?}: {err}");
    }
}

#[test]
fn output_schema_follows_actions() {
    let s = load(
        "[[columns]]\nname = \"t\"\ntype = \"timestamp\"\naction = \"generalize\"\nto = \"hour\"\n\
         [[columns]]\nname = \"d\"\ntype = \"date\"\naction = \"generalize\"\nto = \"year\"\noutput = \"y\"\n\
         [[columns]]\nname = \"x\"\naction = \"drop\"\n\
         [[columns]]\nname = \"m\"\ntype = \"decimal(12,2)\"\naction = \"keep\"\n",
    )
    .unwrap();
    let got = fields(&s);
    assert_eq!(
        got,
        vec![
            ("t".to_string(), timestamp_utc()),
            ("y".to_string(), DataType::Date32),
            ("m".to_string(), DataType::Decimal128(12, 2)),
        ]
    );
}

#[test]
fn quasi_identifier_actions_validate_their_keys() {
    let col = |body: &str| format!("[[columns]]\nname = \"a\"\n{body}\n");
    let cases = [
        (col("type = \"date\"\naction = \"shift\"\nmax_days = 30"), "shift needs by"),
        (col("type = \"date\"\naction = \"shift\"\nby = \"zz\"\nmax_days = 30"), "by = \"zz\" is not a declared column"),
        (col("type = \"date\"\naction = \"shift\"\nby = \"a\"\nmax_days = 30"), "by must name another column"),
        (col("type = \"date\"\naction = \"shift\"\nby = \"b\"\nmax_days = 0"), "max_days = 0"),
        (col("type = \"date\"\naction = \"shift\"\nby = \"b\"\nmax_days = 3") + &col("type = \"date\"\naction = \"keep\"").replace("\"a\"", "\"b\""), "must name a string or int column"),
        (col("action = \"shift\"\nby = \"b\"\nmax_days = 3"), "shift needs type"),
        (col("type = \"date\"\naction = \"shift\"\nby = \"b\"\nmax_days = 4000"), "max_days = 4000"),
        (col("type = \"int\"\naction = \"bucket\""), "exactly one of width, breaks or round"),
        (col("type = \"int\"\naction = \"bucket\"\nwidth = 10\nround = 2"), "exactly one of width"),
        (col("type = \"int\"\naction = \"bucket\"\nwidth = 0"), "width must be greater than 0"),
        (col("type = \"int\"\naction = \"bucket\"\nwidth = 0.5"), "more decimal places than the column's scale 0"),
        (col("type = \"decimal(8,2)\"\naction = \"bucket\"\nbreaks = [0, 0.125]"), "scale 2"),
        (col("type = \"int\"\naction = \"bucket\"\nbreaks = [10, 5]"), "strictly increasing"),
        (col("type = \"int\"\naction = \"bucket\"\nbreaks = [0, \"x\"]"), "finite number"),
        (col("type = \"int\"\naction = \"bucket\"\nround = 2\nlabels = true"), "labels does not apply to round"),
        (col("type = \"int\"\naction = \"bucket\"\nround = 0"), "round = 0"),
        (col("action = \"bucket\"\nwidth = 1"), "bucket needs type"),
        (col("type = \"int\"\naction = \"mask\"\nkeep_last = 4"), "mask needs type = \"string\""),
        (col("action = \"mask\"\nkeep_last = -1"), "keep_last = -1"),
        (col("action = \"mask\"\nwith = \"ab\""), "exactly one printable character"),
        (col("action = \"mask\"\non_invalid = \"null\""), "on_invalid does not apply"),
        (col("action = \"truncate_ip\"\nprefix_v4 = 33"), "prefix_v4 = 33"),
        (col("action = \"truncate_ip\"\nprefix_v6 = 129"), "prefix_v6 = 129"),
        (col("type = \"date\"\naction = \"age\""), "exactly one of at or at_column"),
        (col("type = \"date\"\naction = \"age\"\nat = \"31/12/2010\""), "YYYY-MM-DD"),
        (col("type = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\ntop = 0"), "top = 0"),
        (col("type = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\nlabels = true"), "labels needs breaks"),
        (col("type = \"date\"\naction = \"age\"\nat_column = \"zz\""), "at_column = \"zz\" is not a declared column"),
        (col("type = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\nbreaks = [0, 17.5]"), "breaks"),
        (col("action = \"keep\"\nmax_days = 3"), "max_days applies only to action = \"shift\""),
        (col("action = \"keep\"\nbreaks = [1]"), "breaks applies only to action = \"bucket\" or \"age\""),
        (col("action = \"tokenize\"\nderive = [{ kind = \"email_domain\", output = \"d\" }]"), "does not apply to as = \"id\""),
        (col("action = \"tokenize\"\nas = \"email\"\nderive = [{ kind = \"city\", output = \"d\" }]"), "derive kind \"city\""),
        (col("action = \"tokenize\"\nas = \"email\"\nderive = [{ kind = \"email_domain\", output = \"a\" }]"), "derived output name \"a\" is used"),
        (col("action = \"tokenize\"\nas = \"phone\"\nderive = [{ kind = \"phone_region\", output = \"r\", all_domains = true }]"), "all_domains applies only"),
        (col("action = \"tokenize\"\nas = \"email\"\nderive = [{ kind = \"email_domain\", output = \"d\", all_domains = true }]"), "list the domains to keep in values"),
        (col("action = \"tokenize\"\nas = \"address\"\nderive = [{ kind = \"address_region\", output = \"d\", values = [\" \"] }]"), "values must not be empty"),
        (col("action = \"drop\"\nquasi = true") + &col("action = \"keep\"").replace("\"a\"", "\"b\""), "a dropped column has none"),
        (col("action = \"launder\""), "action = \"launder\" must be keep"),
    ];
    for (cols, needle) in cases {
        let err = load(&cols).expect_err(&cols);
        assert!(err.contains(needle), "{cols:?}: {err}");
    }
}

#[test]
fn privacy_resolves_to_output_names_and_derived_columns_follow_their_source() {
    let s = load(
        "[privacy]\nmin_k = 5\non_violation = \"suppress\"\nentity = \"who_token\"\nseed = 9\n\
         [[columns]]\nname = \"who\"\naction = \"tokenize\"\noutput = \"who_token\"\n\
         [[columns]]\nname = \"addr\"\naction = \"tokenize\"\nas = \"address\"\n\
         derive = [{ kind = \"address_region\", output = \"region\", quasi = true }]\n\
         [[columns]]\nname = \"amount\"\ntype = \"int\"\naction = \"bucket\"\nwidth = 100\nsensitive = true\n\
         [[columns]]\nname = \"born\"\ntype = \"date\"\naction = \"age\"\nat = \"2010-12-31\"\nbreaks = [0, 30]\nlabels = true\nquasi = true\noutput = \"age\"\n",
    )
    .unwrap();
    let p = s.privacy.as_ref().unwrap();
    assert_eq!(p.quasi, vec!["region", "age"]);
    assert_eq!(p.sensitive, vec!["amount"]);
    assert_eq!(p.entity.column(), Some("who_token"));
    assert_eq!((p.min_k, p.seed, p.max_points), (5, 9, 1024));
    assert_eq!(p.on_violation, OnViolation::Suppress);
    let got = fields(&s);
    assert_eq!(
        got,
        vec![
            ("who_token".to_string(), DataType::Utf8),
            ("addr".to_string(), DataType::Utf8),
            ("region".to_string(), DataType::Utf8),
            ("amount".to_string(), DataType::Int64),
            ("age".to_string(), DataType::Utf8),
        ]
    );
}

#[test]
fn toml_errors_do_not_echo_the_file() {
    // Issue 7: the key file passed as --schema must not be echoed back.
    let key = "7d1c0e5a9b3f4e2d8c6a5b4f3e2d1c0b9a8f7e6d5c4b3a29181716151413121f";
    let e = Schema::from_toml(&format!("{key}\n"), Path::new("k.key"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("k.key") && e.contains("line 1, column 65"),
        "{e}"
    );
    assert!(!e.contains(&key[..16]), "{e}");
    // A data line passed as the schema.
    let e = Schema::from_toml("T1,13800138000,li.wei@163.com\n", Path::new("d.csv"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("13800138000") && !e.contains("li.wei"), "{e}");
    // A long quoted value in a type error is not shown; short key names still are.
    let e = Schema::from_toml(
        &format!("[dataset]\nname = \"t\"\nversion = \"{key}\"\n"),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 3") && !e.contains(&key[..16]), "{e}");
    assert_eq!(
        shorten_quoted("unknown field `typo_key`, expected `a`"),
        "unknown field `typo_key`, expected `a`"
    );
    assert_eq!(
        shorten_quoted(&format!("bad \"{key}")),
        "bad \"(long text not shown)"
    );
}
