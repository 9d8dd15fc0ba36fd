//! Schema validation: every rule names the key or column at fault.

use super::*;

fn load(columns: &str) -> std::result::Result<Schema, String> {
    let text = format!("[dataset]\nname = \"t\"\nversion = 1\n{columns}");
    Schema::from_toml(&text, Path::new("t.toml")).map_err(|e| e.to_string())
}

#[test]
fn minimal_schema_and_defaults() {
    let s = load("[[columns]]\nname = \"a\"\naction = \"keep\"\n").unwrap();
    assert_eq!(s.tokens.bits, 128);
    assert_eq!(s.tokens.encoding, TokenEncoding::Hex);
    assert_eq!(s.input.delimiter, b',');
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
    let out = s.output_schema();
    let got: Vec<(String, DataType)> = out
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
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
