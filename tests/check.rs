//! `txanon check`, `scan` and `init` through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use common::*;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

fn schema() -> String {
    repo("schemas/transactions.toml").display().to_string()
}

fn sample() -> String {
    repo("data-samples/transactions.csv").display().to_string()
}

/// Anonymize the sample with a real (non-demo) key; returns (output, key file).
fn real_output(env: &TestEnv) -> (PathBuf, PathBuf) {
    let key = env.key("real.key", TEST_KEY_HEX);
    env.run([
        "anonymize",
        "--schema",
        &schema(),
        "--key-file",
        key.to_str().unwrap(),
        "-q",
        "-o",
        "out.parquet",
        &sample(),
    ])
    .success();
    (env.path("out.parquet"), key)
}

/// Rewrite a Parquet file with one column replaced, keeping the footer metadata.
fn rewrite(src: &Path, dst: &Path, column: &str, f: impl Fn(&ArrayRef) -> ArrayRef) {
    let (batch, kv) = read_all(src);
    let idx = batch.schema().index_of(column).unwrap();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols[idx] = f(&cols[idx]);
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&cols)
        .map(|(fl, c)| Field::new(fl.name(), c.data_type().clone(), true))
        .collect();
    let new = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(
            kv.into_iter()
                .filter(|(k, _)| k.starts_with("txanon."))
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        ))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dst).unwrap(),
        new.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&new).unwrap();
    w.close().unwrap();
}

#[test]
fn init_draft_passes_check_on_the_same_dump() {
    let env = TestEnv::new();
    let run = env.run(["init", &sample()]);
    run.success();
    let draft = env.write("draft.toml", &run.stdout);
    for (column, expect) in [
        ("mobile", "as = \"phone\""),
        ("email", "as = \"email\""),
        ("home_address", "as = \"address\""),
        ("id_card", "action = \"drop\""),
        ("customer_name", "action = \"drop\""),
        ("ip_address", "action = \"drop\""),
        ("created_at", "to = \"month\""),
        ("amount", "type = \"decimal("),
    ] {
        let block = run
            .stdout
            .split("[[columns]]")
            .find(|b| b.contains(&format!("name = \"{column}\"")))
            .unwrap();
        assert!(block.contains(expect), "{column}: {block}");
    }
    env.run(["check", "--schema", draft.to_str().unwrap(), &sample()])
        .success()
        .stdout_has("0 violation(s)");
    // The draft is also a working schema for anonymize.
    let key = env.key("k.key", TEST_KEY_HEX);
    env.run([
        "anonymize",
        "--schema",
        draft.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "-q",
        "-o",
        "d.parquet",
        &sample(),
    ])
    .success();
}

#[test]
fn clean_input_and_output_pass_in_every_format() {
    let env = TestEnv::new();
    let (out, key) = real_output(&env);
    let args = |fmt: &str| {
        vec![
            "check".to_string(),
            "--schema".into(),
            schema(),
            "--key-file".into(),
            key.display().to_string(),
            "--format".into(),
            fmt.into(),
            sample(),
            out.display().to_string(),
        ]
    };
    env.run(args("text")).success().stdout_has("0 violation(s)");
    let json = env.run(args("json"));
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["violations"], 0);
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["rule"] == "output.pii" && c["status"] == "pass"));
    let junit = env.run(args("junit"));
    junit.success();
    let doc = roxmltree::Document::parse(&junit.stdout).expect("junit parses as XML");
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    env.run(args("github")).success();
}

#[test]
fn planted_email_in_a_token_column_is_a_violation() {
    let env = TestEnv::new();
    let (out, key) = real_output(&env);
    let planted = env.path("planted.parquet");
    rewrite(&out, &planted, "email_token", |a| {
        let s = a.as_any().downcast_ref::<StringArray>().unwrap();
        let mut v: Vec<Option<String>> = s.iter().map(|x| x.map(str::to_string)).collect();
        v[41] = Some("planted.leak@example.com".into());
        Arc::new(StringArray::from(v))
    });
    for fmt in ["text", "json", "junit", "github"] {
        let run = env.run([
            "check",
            "--schema",
            &schema(),
            "--key-file",
            key.to_str().unwrap(),
            "--format",
            fmt,
            planted.to_str().unwrap(),
        ]);
        run.exit(1).never_says("planted.leak");
        assert!(
            run.stdout.contains("planted.parquet") && run.stdout.contains("email_token"),
            "{fmt}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("output.pii") && run.stdout.contains("output.token-shape"),
            "{fmt}: {}",
            run.stdout
        );
        if fmt == "junit" {
            roxmltree::Document::parse(&run.stdout).expect("junit parses");
        }
        if fmt == "json" {
            let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            let hit = v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["rule"] == "output.pii")
                .unwrap()
                .clone();
            assert_eq!(hit["column"], "email_token");
            assert_eq!(hit["rows"][0], 42);
        }
    }
    // scan finds it too, schema-free.
    env.run(["scan", planted.to_str().unwrap()])
        .exit(1)
        .stdout_has("email_token")
        .never_says("planted.leak");
    env.run(["scan", out.to_str().unwrap()]).success();
}

#[test]
fn changed_column_type_is_a_violation() {
    let env = TestEnv::new();
    let (out, key) = real_output(&env);
    let retyped = env.path("retyped.parquet");
    rewrite(&out, &retyped, "item_count", |a| {
        let s = a.as_any().downcast_ref::<Int64Array>().unwrap();
        Arc::new(
            s.iter()
                .map(|x| x.map(|v| v as i32))
                .collect::<Int32Array>(),
        )
    });
    env.run(["check", "--schema", &schema(), "--key-file", key.to_str().unwrap(), retyped.to_str().unwrap()])
        .exit(1)
        .stdout_has("retyped.parquet: column \"item_count\": output.schema: type is Int32, the schema produces Int64");
}

#[test]
fn undeclared_column_in_a_dump_is_a_violation() {
    let env = TestEnv::new();
    let input = repo("data-samples/invalid/undeclared_column.csv");
    env.run(["check", "--schema", &schema(), input.to_str().unwrap()])
        .exit(1)
        .stdout_has(
            "undeclared_column.csv: input.header.undeclared: undeclared column(s) \"loyalty_tier\"",
        );
}

#[test]
fn demo_key_and_wrong_key_outputs_are_violations() {
    let env = TestEnv::new();
    let demo = repo("data-samples/demo.key");
    env.run([
        "anonymize",
        "--schema",
        &schema(),
        "--key-file",
        demo.to_str().unwrap(),
        "-q",
        "-o",
        "demo.parquet",
        &sample(),
    ])
    .success();
    env.run(["check", "--schema", &schema(), "demo.parquet"])
        .exit(1)
        .stdout_has("demo.parquet: output.demo-key: made with the published demo key");
    let other = env.key("other.key", &"5a".repeat(32));
    env.run([
        "check",
        "--schema",
        &schema(),
        "--key-file",
        other.to_str().unwrap(),
        "demo.parquet",
    ])
    .exit(1)
    .stdout_has("output.key: key fingerprint does not match");
}

#[test]
fn keep_on_a_personal_column_needs_allow_raw() {
    let env = TestEnv::new();
    let text = std::fs::read_to_string(repo("schemas/transactions.toml")).unwrap();
    let kept = text.replace(
        "name = \"mobile\"\naction = \"tokenize\"\nas = \"phone\"\nregion = \"CN\"\non_invalid = \"null\"\noutput = \"mobile_token\"",
        "name = \"mobile\"\naction = \"keep\"",
    );
    assert_ne!(kept, text);
    let bad = env.write("bad.toml", &kept);
    let run = env.run(["check", "--schema", bad.to_str().unwrap(), &sample()]);
    run.exit(1)
        .stdout_has("column \"mobile\": schema.keep-pii")
        .never_says("13800138000");
    let allowed = env.write(
        "allowed.toml",
        kept.replace(
            "name = \"mobile\"\naction = \"keep\"",
            "name = \"mobile\"\naction = \"keep\"\nallow_raw = \"agreed with DPO, ticket 42\"",
        ),
    );
    env.run(["check", "--schema", allowed.to_str().unwrap(), &sample()])
        .success()
        .stdout_has("allow_raw: agreed with DPO, ticket 42");
}

#[test]
fn could_not_run_is_exit_2() {
    let env = TestEnv::new();
    let bad = env.write(
        "bad.toml",
        "[dataset]\nname = \"x\"\nversion = 1\nbogus = 1\n",
    );
    env.run(["check", "--schema", bad.to_str().unwrap(), &sample()])
        .exit(2)
        .stderr_has("bogus");
    env.run(["check", "--schema", &schema(), "no-such-file.csv"])
        .exit(2);
    env.run(["scan", "no-such-file.csv"]).exit(2);
    env.run(["init", "no-such-file.csv"]).exit(2);
}

#[test]
fn scan_reports_kinds_rates_and_rows_but_never_values() {
    let env = TestEnv::new();
    let run = env.run(["scan", "--format", "json", &sample()]);
    run.exit(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<(String, String)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            (
                c["column"].as_str().unwrap().to_string(),
                c["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (column, kind) in [
        ("mobile", "phone"),
        ("email", "email"),
        ("id_card", "id_card"),
        ("ip_address", "ip"),
    ] {
        assert!(
            found
                .iter()
                .any(|(c, m)| c == column && m.starts_with(kind)),
            "{column}/{kind}: {found:?}"
        );
    }
    // Canaries never reach the report, in any format.
    let canaries = repo("data-samples/invalid/canaries.csv");
    for fmt in ["text", "json", "junit", "github"] {
        let run = env.run(["scan", "--format", fmt, canaries.to_str().unwrap()]);
        run.exit(1);
        for c in [
            "13912345678",
            "canary",
            "110101199003070011",
            "203.0.113.77",
            "金丝雀",
        ] {
            run.never_says(c);
        }
    }
}

#[test]
fn corpora_never_panic() {
    let Some(dir) = corpora_dir("tests/check.rs::corpora_never_panic") else {
        return;
    };
    let env = TestEnv::new();
    let mut files = Vec::new();
    for sub in [
        "parquet-testing/bad_data",
        "parquet-testing/data",
        "csv-spectrum/csvs",
    ] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    assert!(files.len() >= 30, "{} corpus files", files.len());
    for f in &files {
        let f = f.to_str().unwrap();
        for args in [
            vec!["scan", f],
            vec!["init", f],
            vec!["check", "--schema", &schema(), f],
        ] {
            let run = env.run(&args);
            assert!(
                matches!(run.code, Some(0..=2)),
                "{args:?} exited {:?}\n{}",
                run.code,
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
            if run.code == Some(2) {
                assert!(
                    run.stderr.starts_with("txanon: error: "),
                    "{args:?}: {}",
                    run.stderr
                );
            }
        }
    }
}

/// `scan` and `init` read legacy GB18030 exports with `--encoding`, and see
/// exactly what they see in the UTF-8 version of the same dump; without it
/// the first invalid byte stops them with file, line, column and a hint,
/// never the value.
#[test]
fn scan_and_init_read_legacy_gb18030_with_encoding() {
    let env = TestEnv::new();
    let gb = repo("data-samples/transactions-gb18030.csv");
    let gb = gb.to_str().unwrap();
    let utf8 = sample();

    // The first record's customer name (a non-ASCII value) must not leak.
    let text = std::fs::read_to_string(&utf8).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let name_at = header.iter().position(|h| *h == "customer_name").unwrap();
    let name = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(name_at)
        .unwrap();
    assert!(!name.is_ascii(), "{name:?}");
    let run = env.run(["scan", gb]);
    run.exit(2)
        .stderr_has("transactions-gb18030.csv:2")
        .stderr_has("invalid UTF-8")
        .stderr_has("--encoding gb18030")
        .never_says(name);

    let checks = |args: &[&str], file: &str| -> Vec<serde_json::Value> {
        let run = env.run(args.iter().copied());
        run.exit(1);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let mut checks = v["checks"].as_array().unwrap().clone();
        for c in &mut checks {
            assert!(c["file"].as_str().unwrap().ends_with(file), "{c}");
            c["file"] = serde_json::Value::Null;
        }
        checks
    };
    let from_gb = checks(
        &["scan", "--format", "json", "--encoding", "gb18030", gb],
        "transactions-gb18030.csv",
    );
    let from_utf8 = checks(&["scan", "--format", "json", &utf8], "transactions.csv");
    assert!(from_gb.len() >= 4, "{from_gb:?}");
    assert_eq!(from_gb, from_utf8);

    // init declares the encoding, and its draft passes check on the file.
    let run = env.run(["init", "--encoding", "gb18030", gb]);
    run.success().stdout_has("encoding = \"gb18030\"");
    let utf8_draft = env.run(["init", &utf8]);
    utf8_draft.success();
    assert!(!utf8_draft.stdout.contains("encoding = \"gb18030\""));
    let columns = |draft: &str| draft[draft.find("[[columns]]").unwrap()..].to_string();
    assert_eq!(columns(&run.stdout), columns(&utf8_draft.stdout));
    let draft = env.write("gb.toml", &run.stdout);
    env.run(["check", "--schema", draft.to_str().unwrap(), gb])
        .success()
        .stdout_has("0 violation(s)");

    // Under a schema that declares UTF-8, check reports the malformed records
    // (all of them, not the first 1000) instead of stopping.
    let schema = repo("schemas/transactions.toml");
    let run = env.run([
        "check",
        "--format",
        "json",
        "--schema",
        schema.to_str().unwrap(),
        gb,
    ]);
    run.exit(1).never_says(name);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let records = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "input.records")
        .unwrap();
    assert_eq!(records["status"], "fail");
    let count = records["count"].as_u64().unwrap();
    assert!(count > 1000 && count < 3000, "{records}");
}

/// `check` looks for personal data in `keep` columns of an input the way
/// `anonymize` reads it: with the schema's delimiter and encoding. Read as
/// UTF-8 with commas, a semicolon file was one unknown column (no finding, a
/// silent pass) and a GB18030 file stopped the run.
#[test]
fn keep_pii_scan_of_an_input_uses_the_declared_dialect_and_encoding() {
    let env = TestEnv::new();
    let mut text = String::from("id;contact;note\n");
    for i in 0..40 {
        text.push_str(&format!("a{i};1391234{i:04};北京市朝阳区{i}号\n"));
    }
    for (name, encoding) in [("utf8", "utf-8"), ("gb", "gb18030")] {
        let schema = env.write(
            &format!("{name}.toml"),
            format!(
                r#"
[dataset]
name = "kept"
version = 1
[input]
format = "csv"
delimiter = ";"
encoding = "{encoding}"
[[columns]]
name = "id"
action = "tokenize"
[[columns]]
name = "contact"
action = "keep"
[[columns]]
name = "note"
action = "keep"
"#
            ),
        );
        let bytes = if encoding == "gb18030" {
            encoding_rs::GB18030.encode(&text).0.into_owned()
        } else {
            text.clone().into_bytes()
        };
        let input = env.write(&format!("{name}.csv"), bytes);
        let run = env.run([
            "check",
            "--schema",
            schema.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        // The column's name says nothing: only its values can give it away.
        run.exit(1)
            .stdout_has(&format!(
                "{name}.csv: column \"contact\": schema.keep-pii: action = \"keep\" but its values look like phone"
            ))
            .stdout_has("(40 values, 100.00%)")
            .never_says("13912340007")
            .never_says("朝阳区");
    }
}

/// `check` names the token spec of an output; v1 outputs (made before the
/// e-mail domain profile was pinned) are known, an unknown version is not.
#[test]
fn check_reports_the_token_spec_version() {
    let env = TestEnv::new();
    let (out, key) = real_output(&env);
    let check = |file: &str| {
        env.run([
            "check",
            "--format",
            "json",
            "--schema",
            &schema(),
            "--key-file",
            key.to_str().unwrap(),
            file,
        ])
    };
    check(out.to_str().unwrap())
        .success()
        .stdout_has("tokens made now follow token spec v1.1")
        .stdout_has(r#""message": "token spec v1.1""#);
    let (batch, kv) = read_all(&out);
    for (spec, code, says) in [
        (
            "v1",
            0,
            "token spec v1: e-mail domains checked more loosely",
        ),
        (
            "v0",
            1,
            "txanon.token.spec is not a known token spec version",
        ),
    ] {
        let path = env.path(&format!("{spec}.parquet"));
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(
                kv.iter()
                    .filter(|(k, _)| k.starts_with("txanon."))
                    .map(|(k, v)| {
                        let v = if k == "txanon.token.spec" { spec } else { v };
                        KeyValue::new(k.clone(), v.to_string())
                    })
                    .collect(),
            ))
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            Some(props),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        check(path.to_str().unwrap()).exit(code).stdout_has(says);
    }
}

/// Issue 14: `scan` has no schema, so it cannot know which columns are
/// derived. A released file whose derived region column carries raw text
/// (an English street address, an e-mail, a phone number) is flagged by
/// its detectors, by kind, without quoting the values; the same release
/// with the regions txanon derives (`北京市`, `广东省深圳市`, US states)
/// passes.
#[test]
fn scan_flags_raw_text_in_a_released_region_column() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let private = repo("schemas/transactions-private.toml");
    env.anonymize(&private, &key, &[], "out.parquet", Path::new(&sample()))
        .success();
    env.run(["scan", "out.parquet"])
        .success()
        .stdout_lacks("address found");
    let raw = [
        "Flat 2C, 41 Hollybush Gardens, Norwich NR3 1QX",
        "petra.lindqvist.77@fastpost.example",
        // Valid under libphonenumber (as the phonenumbers package agrees);
        // a number in an unallocated range is not a phone number to it.
        "+44 7400 561238",
    ];
    rewrite(
        &env.path("out.parquet"),
        &env.path("tampered.parquet"),
        "home_region",
        |col| {
            let regions = col.as_any().downcast_ref::<StringArray>().unwrap();
            let values: StringArray = regions
                .iter()
                .enumerate()
                .map(|(i, v)| if i % 10 < 3 { Some(raw[i % 10]) } else { v })
                .collect();
            Arc::new(values)
        },
    );
    let rows = read_all(&env.path("out.parquet")).0.num_rows();
    let run = env.run(["scan", "tampered.parquet"]);
    run.exit(1);
    for (k, kind) in ["address", "email", "phone"].iter().enumerate() {
        let planted = (0..rows).filter(|i| i % 10 == k).count();
        run.stdout_has(&format!(
            "column \"home_region\": pii: {kind} found ({planted} values"
        ));
    }
    for v in raw {
        run.never_says(v);
    }
    run.never_says("hollybush")
        .never_says("lindqvist")
        .never_says("561238");
}

/// Issue 14, attacker's second round: `scan` read only string and integer
/// columns, so personal data in a BYTE_ARRAY column without a UTF-8
/// annotation (as older writers store strings), in a struct (whose field
/// name may itself be data), a list or a map passed as "no personal data
/// found". Each is now scanned as text, and named by kind, not quoted.
#[test]
fn scan_reads_binary_and_nested_columns() {
    use arrow_array::builder::{ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::{BinaryArray, StructArray};
    use arrow_schema::DataType;
    let env = TestEnv::new();
    let n = 4;
    let id: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d"]));
    let blob: ArrayRef = Arc::new(BinaryArray::from(vec![
        b"+44 7400 561238".as_slice(),
        b"\xff\xfe".as_slice(),
        b"x".as_slice(),
        b"Flat 2C, 41 Hollybush Gardens".as_slice(),
    ]));
    let inner: ArrayRef = Arc::new(StringArray::from(vec!["zq.vexnote@fastpost.example"; n]));
    let meta: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("13977317731", DataType::Utf8, true)),
        inner,
    )]));
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for _ in 0..n {
        tags.values().append_value("198.51.100.23");
        tags.append(true);
        map.keys().append_value("ip");
        map.values().append_value("2001:db8::5");
        map.append(true).unwrap();
    }
    let (tags, map): (ArrayRef, ArrayRef) = (Arc::new(tags.finish()), Arc::new(map.finish()));
    let batch = RecordBatch::try_from_iter([
        ("id", id),
        ("blob", blob),
        ("meta", meta),
        ("tags", tags),
        ("attrs", map),
    ])
    .unwrap();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(env.path("kinds.parquet")).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let run = env.run(["scan", "kinds.parquet"]);
    run.exit(1)
        .stdout_has("column \"blob\": pii: phone found (1 values, 33.33%)")
        .stdout_has("column \"blob\": pii: address found (1 values, 33.33%)")
        .stdout_has("column \"meta\": pii: email found (4 values")
        .stdout_has("column \"meta\": pii: phone found (4 values")
        .stdout_has("column \"tags\": pii: ip found (4 values")
        .stdout_has("column \"attrs\": pii: ip found (4 values");
    for raw in [
        "561238",
        "hollybush",
        "vexnote",
        "13977317731",
        "198.51.100",
        "db8",
    ] {
        run.never_says(raw);
    }
}
