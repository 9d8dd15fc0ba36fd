//! Real-world inputs and dataset outputs (issue 5): compressed, GB18030,
//! NDJSON and Parquet inputs, dialect options, many inputs in one run,
//! Hive-partitioned directory outputs and the manifest. Every comparison is
//! against anonymizing the same rows from the one plain UTF-8 sample CSV.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema};
use common::{read_all, repo, strings, TestEnv};

const SCHEMA: &str = "schemas/transactions.toml";
const KEY: &str = "data-samples/demo.key";

/// `txanon anonymize --schema SCHEMA --key-file <demo key> ARGS...`
fn anonymize(env: &TestEnv, schema: &Path, args: &[&str]) -> common::Run {
    let mut all: Vec<String> = vec![
        "anonymize".into(),
        "--schema".into(),
        schema.display().to_string(),
        "--key-file".into(),
        repo(KEY).display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    env.run(all)
}

/// The sample as string columns (arrow-csv), split into `parts` slices.
fn sample_parts(parts: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let file = std::fs::File::open(repo("data-samples/transactions.csv")).unwrap();
    let fields: Vec<Field> = common::HEADER
        .split(',')
        .map(|n| Field::new(n, DataType::Utf8, true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_batch_size(100_000)
        .build(file)
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    let n = all.num_rows();
    let step = n.div_ceil(parts);
    let slices = (0..parts)
        .map(|i| all.slice(i * step, step.min(n - i * step)))
        .collect();
    (schema, slices)
}

fn csv_bytes(batch: &RecordBatch, header: bool) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = arrow_csv::WriterBuilder::new()
            .with_header(header)
            .build(&mut out);
        w.write(batch).unwrap();
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The slice as a typed Parquet file: the account id as INT64, the
/// timestamp as UTC instants, the birth date as DATE, the amount as DECIMAL,
/// the refund flag as BOOLEAN, the item count as INT64; the rest as text.
fn typed_parquet(batch: &RecordBatch, path: &Path) {
    let col = |name: &str| -> Vec<Option<String>> { strings(batch, name) };
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for f in batch.schema().fields() {
        let name = f.name().as_str();
        let values = col(name);
        let (field, array): (Field, ArrayRef) = match name {
            "account_id" | "item_count" => (
                Field::new(name, DataType::Int64, true),
                Arc::new(Int64Array::from(
                    values
                        .iter()
                        .map(|v| v.as_deref().map(|s| s.parse::<i64>().unwrap()))
                        .collect::<Vec<_>>(),
                )),
            ),
            "created_at" => (
                Field::new(
                    name,
                    DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        values
                            .iter()
                            .map(|v| {
                                v.as_deref().map(|s| {
                                    let naive = chrono::NaiveDateTime::parse_from_str(
                                        s,
                                        "%Y-%m-%d %H:%M:%S",
                                    )
                                    .unwrap();
                                    // Asia/Shanghai has been UTC+8 without DST since 1991.
                                    (naive - chrono::Duration::hours(8))
                                        .and_utc()
                                        .timestamp_micros()
                                })
                            })
                            .collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            "birth_date" => (
                Field::new(name, DataType::Date32, true),
                Arc::new(Date32Array::from(
                    values
                        .iter()
                        .map(|v| {
                            v.as_deref().map(|s| {
                                let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
                                (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                                    .num_days() as i32
                            })
                        })
                        .collect::<Vec<_>>(),
                )),
            ),
            "amount" => (
                Field::new(name, DataType::Decimal128(12, 2), true),
                Arc::new(
                    Decimal128Array::from(
                        values
                            .iter()
                            .map(|v| {
                                v.as_deref().map(|s| {
                                    let (i, f) = s.split_once('.').unwrap_or((s, "0"));
                                    let f = format!("{f:0<2}");
                                    let sign = if i.starts_with('-') { -1 } else { 1 };
                                    let whole: i128 = i.trim_start_matches('-').parse().unwrap();
                                    sign * (whole * 100 + f[..2].parse::<i128>().unwrap())
                                })
                            })
                            .collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
                ),
            ),
            "is_refund" => (
                Field::new(name, DataType::Boolean, true),
                Arc::new(BooleanArray::from(
                    values
                        .iter()
                        .map(|v| v.as_deref().map(|s| s == "true"))
                        .collect::<Vec<_>>(),
                )),
            ),
            _ => (
                Field::new(name, DataType::Utf8, true),
                Arc::new(StringArray::from(values)),
            ),
        };
        fields.push(field);
        arrays.push(array);
    }
    let typed = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, typed.schema(), None).unwrap();
    w.write(&typed).unwrap();
    w.close().unwrap();
}

/// Rows of a batch as sortable text tuples (every column, in schema order).
fn rows(batch: &RecordBatch) -> Vec<Vec<String>> {
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_cast::cast(c, &DataType::Utf8).unwrap())
        .collect();
    let mut out: Vec<Vec<String>> = (0..batch.num_rows())
        .map(|r| {
            cols.iter()
                .map(|c| {
                    let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                    if s.is_null(r) {
                        "<null>".into()
                    } else {
                        s.value(r).to_string()
                    }
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

fn reference(env: &TestEnv) -> RecordBatch {
    let out = env.path("reference.parquet");
    anonymize(
        env,
        &repo(SCHEMA),
        &[
            "--quiet",
            "-o",
            out.to_str().unwrap(),
            repo("data-samples/transactions.csv").to_str().unwrap(),
        ],
    )
    .success();
    read_all(&out).0
}

/// Every part file of a partitioned directory, with the partition value
/// appended as the last column (text), in path order.
fn read_dataset(dir: &Path, partition: &str) -> (Vec<Vec<String>>, BTreeMap<String, usize>) {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let mut all = Vec::new();
    let mut per_partition = BTreeMap::new();
    for f in files {
        let value = f
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(&format!("{partition}=")))
            .expect("hive directory")
            .to_string();
        let (batch, kv) = read_all(&f);
        assert!(kv.iter().any(|(k, _)| k == "txanon.key.fingerprint"));
        for mut row in rows(&batch) {
            row.push(value.clone());
            all.push(row);
        }
        *per_partition.entry(value).or_insert(0) += batch.num_rows();
    }
    all.sort();
    (all, per_partition)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

/// The reference rows with `created_month` moved to the end (where the
/// dataset reader puts the partition value).
fn reference_rows_partitioned(
    reference: &RecordBatch,
) -> (Vec<Vec<String>>, BTreeMap<String, usize>) {
    let i = reference.schema().index_of("created_month").unwrap();
    let mut cols: Vec<ArrayRef> = reference.columns().to_vec();
    let month = cols.remove(i);
    cols.push(month);
    let mut fields: Vec<Field> = reference
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mf = fields.remove(i);
    fields.push(mf);
    let moved = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let rows = rows(&moved);
    let mut per = BTreeMap::new();
    for r in &rows {
        *per.entry(r.last().unwrap().clone()).or_insert(0) += 1;
    }
    (rows, per)
}

#[test]
fn mixed_directory_into_month_partitions_equals_the_plain_csv_run() {
    let env = TestEnv::new();
    let (_, parts) = sample_parts(5);
    let dumps = env.path("dumps");
    std::fs::create_dir_all(dumps.join("2009")).unwrap();
    // Plain CSV.
    std::fs::write(dumps.join("a.csv"), csv_bytes(&parts[0], true)).unwrap();
    // Multi-member gzip: the header and half the rows, then the other half.
    let half = parts[1].num_rows() / 2;
    let mut gz = gzip(&csv_bytes(&parts[1].slice(0, half), true));
    gz.extend(gzip(&csv_bytes(
        &parts[1].slice(half, parts[1].num_rows() - half),
        false,
    )));
    std::fs::write(dumps.join("b.csv.gz"), gz).unwrap();
    // zstd, in a subdirectory (recursion, path order).
    std::fs::write(
        dumps.join("2009/c.csv.zst"),
        zstd::encode_all(&csv_bytes(&parts[2], true)[..], 3).unwrap(),
    )
    .unwrap();
    // GB18030, named so that the schema's [input.encodings] pattern picks it.
    let text = String::from_utf8(csv_bytes(&parts[3], true)).unwrap();
    let (gb, _, had_errors) = encoding_rs::GB18030.encode(&text);
    assert!(!had_errors);
    assert_ne!(&gb[..], text.as_bytes(), "the sample must exercise GB18030");
    std::fs::write(dumps.join("d-gb18030.csv"), &gb[..]).unwrap();
    // Typed Parquet with the same columns.
    typed_parquet(&parts[4], &dumps.join("e.parquet"));
    // Files a directory walk must skip.
    std::fs::write(dumps.join("_SUCCESS"), b"").unwrap();
    std::fs::write(dumps.join(".hidden.csv"), b"junk").unwrap();

    let schema_text = std::fs::read_to_string(repo(SCHEMA)).unwrap().replace(
        "timezone = \"Asia/Shanghai\"",
        "timezone = \"Asia/Shanghai\"\nencodings = { \"*-gb18030.csv\" = \"gb18030\" }",
    );
    let schema = env.write("schema.toml", schema_text);
    let run = anonymize(
        &env,
        &schema,
        &[
            "--partition-by",
            "created_month",
            "--json",
            "-o",
            "out/",
            "dumps",
        ],
    );
    run.success().stderr_has("stored as Int64");
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let inputs = summary["inputs"].as_array().unwrap();
    let formats: Vec<(&str, &str, &str)> = inputs
        .iter()
        .map(|i| {
            (
                i["format"].as_str().unwrap(),
                i["compression"].as_str().unwrap(),
                i["encoding"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        formats,
        vec![
            ("csv", "zstd", "utf-8"),
            ("csv", "none", "utf-8"),
            ("csv", "gzip", "utf-8"),
            ("csv", "none", "gb18030"),
            ("parquet", "parquet", "(binary)"),
        ],
        "inputs are read recursively in path order: {inputs:?}"
    );
    assert_eq!(
        inputs[4]["numeric_text_columns"],
        serde_json::json!(["account_id"])
    );

    let reference = reference(&env);
    let (want_rows, want_per_month) = reference_rows_partitioned(&reference);
    let (got_rows, got_per_month) = read_dataset(&env.path("out"), "created_month");
    assert_eq!(got_per_month, want_per_month);
    assert_eq!(got_rows.len(), 3000);
    assert!(
        got_rows == want_rows,
        "tokens and values differ from the plain CSV run"
    );

    // The manifest: inputs with size and SHA-256, counts, files; no values.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("out/_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["rows"]["written"], 3000);
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 5);
    for i in manifest["inputs"].as_array().unwrap() {
        let path = env.path(i["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(i["bytes"], bytes.len());
        assert_eq!(
            i["sha256"].as_str().unwrap(),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
        );
    }
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), want_per_month.len());
    let text = String::from_utf8(std::fs::read(env.path("out/_manifest.json")).unwrap()).unwrap();
    let mobiles = strings(&parts[0], "mobile");
    for m in mobiles.iter().flatten().take(50) {
        assert!(!text.contains(m.as_str()), "manifest holds a raw value");
    }
    // Nothing temporary is left beside the output.
    assert!(!env.files().iter().any(|f| f.contains(".txanon-tmp-")));

    // `check` takes the dataset directory: part files lack the partition
    // column (it is in the directory names), which is not a schema violation.
    env.run([
        "check",
        "--schema",
        schema.to_str().unwrap(),
        "--key-file",
        repo(KEY).to_str().unwrap(),
        "out",
    ])
    .exit(1)
    .stdout_has("output.demo-key")
    .never_says("declared output column is missing")
    .never_says("output.schema:");
}

#[test]
fn gzip_and_gb18030_samples_give_the_utf8_tokens() {
    let env = TestEnv::new();
    let reference = reference(&env);
    for (sample, extra) in [
        ("data-samples/transactions.csv.gz", ""),
        (
            "data-samples/transactions-gb18030.csv",
            "encoding = \"gb18030\"\n",
        ),
    ] {
        let schema_text = std::fs::read_to_string(repo(SCHEMA))
            .unwrap()
            .replace("[input]\n", &format!("[input]\n{extra}"));
        let schema = env.write("schema.toml", schema_text);
        let out = env.path("o.parquet");
        let _ = std::fs::remove_file(&out);
        anonymize(
            &env,
            &schema,
            &[
                "--quiet",
                "-o",
                out.to_str().unwrap(),
                repo(sample).to_str().unwrap(),
            ],
        )
        .success();
        let got = read_all(&out).0;
        assert!(got == reference, "{sample} differs from the UTF-8 sample");
    }
}

#[test]
fn partitioned_output_is_byte_identical_across_threads_and_rolls_files() {
    let env = TestEnv::new();
    let schema_text = std::fs::read_to_string(repo(SCHEMA)).unwrap()
        + "\n[output]\nmax_file_rows = 20\nrow_group_rows = 7\ncompression = \"snappy\"\n";
    let schema = env.write("schema.toml", schema_text);
    let mut listings = Vec::new();
    for (threads, batch) in [("1", "64"), ("2", "1000")] {
        let out = format!("out-{threads}/");
        anonymize(
            &env,
            &schema,
            &[
                "--quiet",
                "--partition-by",
                "created_month",
                "-j",
                threads,
                "--batch-rows",
                batch,
                "-o",
                &out,
                repo("data-samples/transactions.csv").to_str().unwrap(),
            ],
        )
        .success();
        let mut files = Vec::new();
        collect(&env.path(&out), &mut files);
        files.sort();
        let listing: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|f| {
                (
                    f.strip_prefix(env.path(&out))
                        .unwrap()
                        .display()
                        .to_string(),
                    std::fs::read(f).unwrap(),
                )
            })
            .collect();
        listings.push(listing);
    }
    assert_eq!(listings[0].len(), listings[1].len());
    for (a, b) in listings[0].iter().zip(&listings[1]) {
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "{} differs between thread counts", a.0);
    }
    // Rolled at 20 rows: some partition has a second part file, none has more than 20 rows.
    assert!(listings[0]
        .iter()
        .any(|(p, _)| p.ends_with("part-00001.parquet")));
    for (p, _) in &listings[0] {
        let dir = env.path("out-1").join(p);
        let (batch, _) = read_all(&dir);
        assert!(batch.num_rows() <= 20, "{p}");
    }
}

/// Regression: each input file's end used to keep one of the reader's
/// in-flight permits, so a run over more files than permits (threads * 2 + 2)
/// stalled forever. Twelve files at -j 1 and -j 2 must finish and equal the
/// single-file run.
#[test]
fn more_input_files_than_inflight_chunks_do_not_stall() {
    let env = TestEnv::new();
    let want = rows(&reference(&env));
    let (_, parts) = sample_parts(12);
    let mut files = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        files.push(env.write(&format!("part-{i:02}.csv"), csv_bytes(part, true)));
    }
    for threads in ["1", "2"] {
        let out = env.path(&format!("many-{threads}.parquet"));
        let mut args = vec![
            "anonymize".to_string(),
            "--schema".into(),
            repo(SCHEMA).display().to_string(),
            "--key-file".into(),
            repo(KEY).display().to_string(),
            "--quiet".into(),
            "-j".into(),
            threads.into(),
            "--batch-rows".into(),
            "100".into(),
            "-o".into(),
            out.display().to_string(),
        ];
        args.extend(files.iter().map(|f| f.display().to_string()));
        env.run_within(120, args).success();
        assert_eq!(rows(&read_all(&out).0), want, "-j {threads}");
    }
}

#[test]
fn dialect_options_and_null_values() {
    let env = TestEnv::new();
    let schema = env.write(
        "s.toml",
        r##"
[dataset]
name = "dialect"
version = 1
[input]
delimiter = ";"
quote = "'"
escape = "\\"
comment = "#"
null_values = ["", "NULL", "\\N"]
[[columns]]
name = "id"
action = "tokenize"
[[columns]]
name = "note"
action = "keep"
"##,
    );
    let input = env.write(
        "in.csv",
        "# exported 2010-01-01\nid;note\n# a comment line\na1;'x;y'\na2;'it\\'s'\na3;NULL\na4;\\N\na5;''\n",
    );
    anonymize(
        &env,
        &schema,
        &["--quiet", "-o", "o.parquet", input.to_str().unwrap()],
    )
    .success();
    let (batch, _) = read_all(&env.path("o.parquet"));
    assert_eq!(batch.num_rows(), 5);
    assert_eq!(
        strings(&batch, "note"),
        vec![Some("x;y".into()), Some("it's".into()), None, None, None]
    );
}

#[test]
fn ndjson_input_gives_the_csv_tokens_and_fails_closed_on_new_keys() {
    let env = TestEnv::new();
    let schema = env.write(
        "s.toml",
        r#"
[dataset]
name = "nd"
version = 1
[[columns]]
name = "mobile"
action = "tokenize"
as = "phone"
region = "CN"
[[columns]]
name = "n"
type = "int"
action = "keep"
[[columns]]
name = "secret"
action = "drop"
"#,
    );
    let csv = env.write(
        "in.csv",
        "mobile,n,secret\n138 0013 8000,1,x\n+8613900139000,2,\n",
    );
    let nd = env.write(
        "in.ndjson",
        "{\"mobile\":\"138 0013 8000\",\"n\":1,\"secret\":\"x\"}\n\n{\"n\":2,\"mobile\":\"+8613900139000\"}\n",
    );
    let args = |out: &str, input: &Path| {
        vec![
            "anonymize".to_string(),
            "--quiet".into(),
            "--schema".into(),
            schema.display().to_string(),
            "--key-file".into(),
            repo(KEY).display().to_string(),
            "-o".into(),
            out.into(),
            input.display().to_string(),
        ]
    };
    env.run(args("csv.parquet", &csv)).success();
    env.run(args("nd.parquet", &nd)).success();
    let a = read_all(&env.path("csv.parquet")).0;
    let b = read_all(&env.path("nd.parquet")).0;
    assert!(a == b);

    // A later record with a key nobody declared: exit 2, no output, neither
    // key nor value named (a key can be data; issue 14 item 3).
    let bad = env.write(
        "bad.ndjson",
        "{\"mobile\":\"13800138000\",\"n\":1}\n{\"mobile\":\"13800138000\",\"n\":2,\"home\":\"CANARY-ROAD-9\"}\n",
    );
    env.run(args("bad.parquet", &bad))
        .exit(2)
        .stderr_has("a key the schema does not declare")
        .never_says("home")
        .stderr_has(":2")
        .never_says("CANARY-ROAD-9");
    assert!(!env.path("bad.parquet").exists());
}

#[test]
fn invalid_gb18030_bytes_are_a_bad_record_with_line_and_column() {
    let env = TestEnv::new();
    let schema = env.write(
        "s.toml",
        r#"
[dataset]
name = "gb"
version = 1
[input]
encoding = "gb18030"
[[columns]]
name = "addr"
action = "tokenize"
as = "address"
[[columns]]
name = "n"
action = "keep"
"#,
    );
    let (good, _, _) = encoding_rs::GB18030.encode("addr,n\n北京市朝阳区,1\n");
    let mut bytes = good.to_vec();
    bytes.extend_from_slice(b"\x81\x30CANARY,2\n"); // a truncated four-byte sequence
    let input = env.write("in.csv", &bytes);
    anonymize(&env, &schema, &["-o", "o.parquet", input.to_str().unwrap()])
        .exit(2)
        .stderr_has("in.csv:3")
        .stderr_has("addr")
        .never_says("CANARY");
    assert!(!env.path("o.parquet").exists());
}

#[test]
fn globs_refused_outputs_and_the_single_file_manifest() {
    let env = TestEnv::new();
    let (_, parts) = sample_parts(2);
    std::fs::create_dir(env.path("d")).unwrap();
    std::fs::write(env.path("d/x1.csv"), csv_bytes(&parts[0], true)).unwrap();
    std::fs::write(env.path("d/x2.csv"), csv_bytes(&parts[1], true)).unwrap();
    let base = |out: &str| {
        vec![
            "anonymize".to_string(),
            "--quiet".into(),
            "--schema".into(),
            repo(SCHEMA).display().to_string(),
            "--key-file".into(),
            repo(KEY).display().to_string(),
            "-o".into(),
            out.into(),
        ]
    };
    let mut args = base("one.parquet");
    args.extend([
        "--manifest".into(),
        "one.manifest.json".into(),
        "d/x*.csv".into(),
    ]);
    env.run(&args).success();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("one.manifest.json")).unwrap()).unwrap();
    let paths: Vec<&str> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["d/x1.csv", "d/x2.csv"]);
    assert_eq!(m["rows"]["written"], 3000);
    assert!(read_all(&env.path("one.parquet")).0 == reference(&env));

    // A pattern that matches nothing, and a non-empty output directory: exit 2.
    let mut args = base("two.parquet");
    args.push("d/nothing*.csv".into());
    env.run(&args).exit(2).stderr_has("matches no files");
    std::fs::create_dir(env.path("full")).unwrap();
    std::fs::write(env.path("full/keep.txt"), b"x").unwrap();
    let mut args = base("full/");
    args.push("d".into());
    env.run(&args).exit(2).stderr_has("not empty");
    assert_eq!(std::fs::read(env.path("full/keep.txt")).unwrap(), b"x");
}

#[test]
fn a_failed_directory_run_leaves_nothing() {
    let env = TestEnv::new();
    let (_, parts) = sample_parts(1);
    let mut bytes = csv_bytes(&parts[0], true);
    bytes.extend_from_slice(b"only,three,fields\n");
    std::fs::write(env.path("in.csv"), bytes).unwrap();
    anonymize(
        &env,
        &repo(SCHEMA),
        &[
            "--quiet",
            "--partition-by",
            "created_month",
            "-o",
            "out/",
            "in.csv",
        ],
    )
    .exit(2)
    .stderr_has("wrong field count");
    assert!(!env.path("out").exists());
    assert_eq!(env.files(), vec!["in.csv".to_string()]);
}

#[test]
fn writer_settings_reach_the_file() {
    let env = TestEnv::new();
    let schema_text = std::fs::read_to_string(repo(SCHEMA)).unwrap()
        + "\n[output]\ncompression = \"snappy\"\n[output.column.email_token]\nbloom_filter = false\ndictionary = false\n";
    let schema = env.write("schema.toml", schema_text);
    anonymize(
        &env,
        &schema,
        &[
            "--quiet",
            "-o",
            "o.parquet",
            repo("data-samples/transactions.csv").to_str().unwrap(),
        ],
    )
    .success();
    let file = std::fs::File::open(env.path("o.parquet")).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    let rg = reader.metadata().row_group(0);
    for c in rg.columns() {
        let name = c.column_path().string();
        assert_eq!(
            c.compression(),
            parquet::basic::Compression::SNAPPY,
            "{name}"
        );
        let is_token = name.ends_with("_token");
        let bloom = c.bloom_filter_offset().is_some();
        assert_eq!(
            bloom,
            is_token && name != "email_token",
            "bloom filter on {name}"
        );
        if is_token {
            assert!(c.statistics().is_some(), "statistics on {name}");
        }
        let dict = c.encodings().any(|e| {
            matches!(
                e,
                parquet::basic::Encoding::RLE_DICTIONARY
                    | parquet::basic::Encoding::PLAIN_DICTIONARY
            )
        });
        if name == "email_token" {
            assert!(!dict, "dictionary disabled on email_token");
        }
    }
}
