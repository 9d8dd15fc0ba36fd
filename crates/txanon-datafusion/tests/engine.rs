//! The DataFusion engine against the native pipeline, in process.
//!
//! The Ballista half (scheduler + executors on loopback) is
//! `tests/scaleout.sh` at the repository root.

use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;
use txanon::key::MasterKey;
use txanon::pipeline::{AnonymizeOptions, SilentReporter};
use txanon::schema::Schema;
use txanon_datafusion::engine::{self, Engine, RunOptions};
use txanon_datafusion::plan::{compile, InputLayout};
use txanon_datafusion::udf::{KeyRing, Udfs};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample_schema() -> Schema {
    Schema::load(&repo().join("schemas/transactions.toml")).unwrap()
}

fn key_hex(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_hex(&key_hex(byte)).unwrap()
}

/// Split `data` (header + records) into `n` files at record boundaries,
/// quote-aware, each with the header.
fn split(data: &[u8], n: usize, dir: &Path) -> Vec<PathBuf> {
    let mut records = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, &b) in data.iter().enumerate() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == b'\n' && !quoted {
            records.push(&data[start..=i]);
            start = i + 1;
        }
    }
    if start < data.len() {
        records.push(&data[start..]);
    }
    let (header, body) = records.split_first().unwrap();
    let size = body.len().div_ceil(n);
    body.chunks(size)
        .enumerate()
        .map(|(k, chunk)| {
            let path = dir.join(format!("part-{k:02}.csv"));
            let mut bytes = header.to_vec();
            for r in chunk {
                bytes.extend_from_slice(r);
            }
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn run_df(schema: &Schema, udfs: &Udfs, inputs: Vec<PathBuf>, output: &Path) -> anyhow::Result<()> {
    let opts = RunOptions {
        inputs,
        output: output.to_path_buf(),
        threads: 2,
        drop_undeclared: false,
        batch_rows: 1000,
        row_group_rows: 131072,
        protected: Vec::new(),
        mode: txanon::io::output::DEFAULT_MODE,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(engine::anonymize(
        &Engine::DataFusion,
        schema,
        udfs,
        &opts,
        &|_| {},
    ))
    .map(|_| ())
}

#[test]
fn datafusion_output_is_byte_identical_to_the_native_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(repo().join("data-samples/transactions.csv")).unwrap();
    let parts = split(&data, 3, dir.path());
    let schema = sample_schema();

    let native = dir.path().join("native.parquet");
    let opts = AnonymizeOptions {
        threads: 2,
        ..AnonymizeOptions::new(parts.clone(), native.clone())
    };
    let summary = txanon::pipeline::anonymize(&schema, &key(7), &opts, &SilentReporter).unwrap();
    assert_eq!(summary.rows_written, 3000);

    let df = dir.path().join("df.parquet");
    let udfs = Udfs::new(KeyRing::new(key(7)));
    run_df(&schema, &udfs, parts, &df).unwrap();

    let (a, b) = (std::fs::read(&native).unwrap(), std::fs::read(&df).unwrap());
    assert!(a.len() > 10_000);
    assert!(
        a == b,
        "the DataFusion engine's file differs from the native one"
    );

    // The per-column counters agree with the native summary too.
    let stats = udfs.stats();
    for c in &summary.columns {
        if let Some(st) = stats.get(&c.name) {
            assert_eq!(*st, c.stats, "column {}", c.name);
        }
    }
    assert_eq!(stats.len(), 14);
}

#[test]
fn debug_and_explain_show_the_fingerprint_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(repo().join("data-samples/transactions.csv")).unwrap();
    let parts = split(&data, 150, dir.path())[..1].to_vec();
    let schema = sample_schema();
    let udfs = Udfs::new(KeyRing::new(key(0xab)));
    let fp = key(0xab).fingerprint();
    let debug = format!("{udfs:?} {:?}", udfs.all());
    assert!(debug.contains(&fp), "{debug}");
    assert!(!debug.contains("abababab"), "{debug}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        let layout = InputLayout::check(&schema, &parts, false, &|_| {}).unwrap();
        let ctx = engine::session(&Engine::DataFusion, &udfs, 1, 8192)
            .await
            .unwrap();
        let raw = engine::read_raw(&ctx, &schema, &layout).await.unwrap();
        let (state, input) = raw.into_parts();
        let plan = compile(&schema, &layout, &udfs, udfs.keys().fingerprint(), input).unwrap();
        let df = datafusion::prelude::DataFrame::new(state, plan);
        let batches = df.explain(true, false).unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    });
    assert!(text.contains("txanon_tokenize"), "{text}");
    assert!(text.contains(&fp));
    assert!(!text.contains("abababab"));
    // No raw value from the data either.
    assert!(!text.contains("wanglinhong703"));
}

#[test]
fn a_plan_for_another_key_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(repo().join("data-samples/transactions.csv")).unwrap();
    let parts = split(&data, 150, dir.path())[..1].to_vec();
    let schema = sample_schema();
    let client = Udfs::new(KeyRing::new(key(1)));
    let executor = Udfs::new(KeyRing::new(key(2)));
    let out = dir.path().join("out.parquet");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(async {
            let layout = InputLayout::check(&schema, &parts, false, &|_| {})?;
            // The session evaluates with the executor's key; the plan names the client's.
            let ctx = engine::session(&Engine::DataFusion, &executor, 1, 8192).await?;
            let raw = engine::read_raw(&ctx, &schema, &layout).await?;
            let (state, input) = raw.into_parts();
            let plan = compile(
                &schema,
                &layout,
                &executor,
                client.keys().fingerprint(),
                input,
            )?;
            datafusion::prelude::DataFrame::new(state, plan)
                .collect()
                .await
                .map_err(anyhow::Error::from)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("fingerprint mismatch"), "{err}");
    assert!(err.contains(&key(1).fingerprint()));
    assert!(!out.exists());

    let keyless = Udfs::new(KeyRing::keyless());
    let err = rt
        .block_on(async {
            let layout = InputLayout::check(&schema, &parts, false, &|_| {})?;
            let ctx = engine::session(&Engine::DataFusion, &keyless, 1, 8192).await?;
            let raw = engine::read_raw(&ctx, &schema, &layout).await?;
            let (state, input) = raw.into_parts();
            let plan = compile(&schema, &layout, &keyless, "00", input)?;
            datafusion::prelude::DataFrame::new(state, plan)
                .collect()
                .await
                .map_err(anyhow::Error::from)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no txanon key"), "{err}");
}

#[test]
fn an_invalid_value_stops_the_run_naming_column_and_rule_not_value() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read_to_string(repo().join("data-samples/transactions.csv")).unwrap();
    let lines: Vec<&str> = data.lines().take(2).collect();
    // amount is decimal(12,2), on_invalid = "error" by default.
    assert!(lines[1].contains(",64.60,"));
    let bad = lines[1].replacen(",64.60,", ",77.7777,", 1);
    let lines = [lines[0], lines[1], &bad];
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("out.parquet");
    let udfs = Udfs::new(KeyRing::new(key(3)));
    let err = format!(
        "{:#}",
        run_df(&sample_schema(), &udfs, vec![input], &out).unwrap_err()
    );
    assert!(err.contains("\"amount\""), "{err}");
    assert!(err.contains("decimal"), "{err}");
    assert!(!err.contains("77.7777"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("txanon-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn undeclared_columns_stop_the_run_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("extra.csv");
    let data = std::fs::read_to_string(repo().join("data-samples/transactions.csv")).unwrap();
    let mut text = String::new();
    for (i, line) in data.lines().take(3).enumerate() {
        text.push_str(line);
        text.push_str(if i == 0 { ",secret_col\n" } else { ",x\n" });
    }
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out.parquet");
    let err = format!(
        "{:#}",
        run_df(
            &sample_schema(),
            &Udfs::new(KeyRing::new(key(4))),
            vec![input],
            &out
        )
        .unwrap_err()
    );
    assert!(err.contains("undeclared column(s) \"secret_col\""), "{err}");
    assert!(!out.exists());
}

/// Issue 13: a headerless export read with `header = true` makes the first
/// customer's record the "header". Two equal fields there (home and shipping
/// address) are a "duplicated column", which this engine's own copy of the
/// header checks once printed raw. The engine now uses txanon's input layer
/// (`txanon::io::input`), whose messages never quote such a header.
#[test]
fn headerless_export_with_equal_fields_is_not_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("headerless.csv");
    let data = std::fs::read_to_string(repo().join("data-samples/transactions.csv")).unwrap();
    let first = data.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields[7], fields[8], "home and shipping address are equal");
    let text: Vec<&str> = data.lines().skip(1).take(4).collect();
    std::fs::write(&input, text.join("\n") + "\n").unwrap();
    let out = dir.path().join("out.parquet");
    let warnings = std::cell::RefCell::new(Vec::new());
    for drop_undeclared in [false, true] {
        let err = format!(
            "{:#}",
            InputLayout::check(&sample_schema(), &[input.clone()], drop_undeclared, &|m| {
                warnings.borrow_mut().push(m.to_string())
            })
            .unwrap_err()
        );
        let said = format!("{err}\n{}", warnings.borrow().join("\n"));
        assert!(said.contains("may be data"), "{said}");
        for f in fields.iter().filter(|f| {
            !f.is_ascii() || (f.len() >= 6 && f.chars().any(|c| c.is_ascii_digit() || c == '@'))
        }) {
            assert!(!said.contains(f), "{f:?} in {said}");
        }
    }
    let err = format!(
        "{:#}",
        run_df(
            &sample_schema(),
            &Udfs::new(KeyRing::new(key(4))),
            vec![input],
            &out
        )
        .unwrap_err()
    );
    assert!(!err.contains(fields[7]), "{err}");
    assert!(!out.exists());
}

/// Run the `txanon-df` binary in `dir`; its exit code, stdout and stderr.
fn txanon_df(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_txanon-df"))
        .current_dir(dir)
        .env_remove("TXANON_KEY")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 14 (the leak hunt, for this engine): canary values, fresh and
/// distinct, in every column the sample schema tokenizes, drops or
/// generalizes, fed through `txanon-df anonymize` (what `txanon anonymize
/// --engine datafusion` runs) as a headerless export whose first record has
/// two equal fields, beside an undeclared column (a value, and a header name
/// that is data), with bad values, and as valid rows with `--json`; with
/// and without `--drop-undeclared`. No canary reaches stdout or stderr.
#[test]
fn canaries_never_reach_the_engines_stdout_or_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    std::fs::write(&key, key_hex(0x5c) + "\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let header = std::fs::read_to_string(repo().join("data-samples/transactions.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // (canary, the spellings of it that must not appear)
    let canaries: [(&str, &[&str]); 9] = [
        ("2088731946205518", &["2088731946205518"]),
        ("Quillon Vexmoor", &["quillon", "vexmoor"]),
        (
            "44010619770307911X",
            &["44010619770307911x", "440106197703"],
        ),
        ("139-0871-6625", &["13908716625", "0871-6625", "08716625"]),
        (
            "zq.canary4471@vexmoor.example",
            &["zq.canary4471", "canary4471"],
        ),
        (
            "\"88 Quillon Wharf, Flat 7Q, Leeds\"",
            &["quillon wharf", "flat 7q"],
        ),
        ("\"88 Quillon Wharf, Flat 7Q, Leeds\"", &["88 quillon"]),
        ("1971-03-29", &["1971-03-29"]),
        ("198.51.100.77", &["198.51.100.77"]),
    ];
    let fields = |i: usize, amount: &str| -> String {
        let c = |k: usize| canaries[k].0;
        format!(
            "T20090515653{i:05},2009-05-15 17:41:31,{},{},{},{},{},{},{},{},{amount},CNY,M00060635,pos,false,19,{}",
            c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), c(8)
        )
    };
    let record = |i: usize| fields(i, "64.60");
    let write = |name: &str, lines: &[String]| {
        std::fs::write(dir.path().join(name), lines.join("\n") + "\n").unwrap();
    };
    // A headerless export: the first record is read as the header, its two
    // address fields equal.
    write("headerless.csv", &[record(1), record(2), record(3)]);
    // Undeclared columns: one whose name is data, one holding a value.
    write(
        "undeclared.csv",
        &[
            format!("{header},13977317731,notes"),
            format!("{},13977317731,zq-secret-note-9931", record(1)),
        ],
    );
    // A bad decimal (amount, on_invalid = "error") and a bad e-mail.
    let bad_mail = record(2).replace(canaries[4].0, "zq.canary4471@@vexmoor");
    write(
        "bad.csv",
        &[header.clone(), record(1), bad_mail, fields(3, "77.7777")],
    );
    write("good.csv", &[header.clone(), record(1), record(2)]);
    let extra = ["13977317731", "zq-secret-note-9931", "77.7777", "vexmoor"];
    let key = key.to_str().unwrap();
    let schema = repo().join("schemas/transactions.toml");
    let mut ran = 0;
    for (input, ok) in [
        ("headerless.csv", false),
        ("undeclared.csv", false),
        ("bad.csv", false),
        ("good.csv", true),
    ] {
        for flags in [&[][..], &["--drop-undeclared"][..], &["--json"][..]] {
            let _ = std::fs::remove_file(dir.path().join("out.parquet"));
            let mut args = vec![
                "anonymize",
                "--engine",
                "datafusion",
                "--schema",
                schema.to_str().unwrap(),
                "--key-file",
                key,
                "-o",
                "out.parquet",
            ];
            args.extend_from_slice(flags);
            args.push(input);
            let (code, stdout, stderr) = txanon_df(dir.path(), &args);
            let said = format!("{stdout}\n{stderr}").to_lowercase();
            let undeclared_dropped = input == "undeclared.csv" && flags == ["--drop-undeclared"];
            if ok || undeclared_dropped {
                assert_eq!(code, Some(0), "{input} {flags:?}: {stderr}");
            } else {
                assert_eq!(code, Some(2), "{input} {flags:?}: {stderr}");
                assert!(!dir.path().join("out.parquet").exists());
            }
            if flags == ["--json"] && ok {
                assert!(stdout.contains("\"rows_written\": 2"), "{stdout}");
            }
            for spelling in canaries
                .iter()
                .flat_map(|(_, s)| s.iter().copied())
                .chain(extra)
            {
                assert!(
                    !said.contains(spelling),
                    "{input} {flags:?}: {spelling:?} in\n{said}"
                );
            }
            ran += 1;
        }
    }
    assert_eq!(ran, 12);
}

/// Issue 14: the engine does not poll for interrupts, so SIGINT used to
/// end `txanon-df` by default and leave its `.NAME.txanon-tmp-PID` file
/// behind. The first SIGINT or SIGTERM now removes it and exits 128 +
/// signal, with nothing at the target.
#[cfg(unix)]
#[test]
fn an_interrupted_engine_run_leaves_no_file() {
    let data = std::fs::read_to_string(repo().join("data-samples/transactions.csv")).unwrap();
    let (header, body) = data.split_once('\n').unwrap();
    let big = format!("{header}\n{}", body.repeat(100));
    let schema = repo().join("schemas/transactions.toml");
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.csv"), &big).unwrap();
        std::fs::write(dir.path().join("k.key"), key_hex(0x3e) + "\n").unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_txanon-df"))
            .current_dir(dir.path())
            .env_remove("TXANON_KEY")
            .args([
                "anonymize",
                "--engine",
                "datafusion",
                "-q",
                "--threads",
                "1",
            ])
            .args(["--key-file", "k.key", "-o", "out.parquet", "--schema"])
            .arg(&schema)
            .arg("big.csv")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let files = || -> Vec<String> {
            let mut f: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            f.sort();
            f
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !files().iter().any(|f| f.contains(".txanon-tmp-")) {
            assert!(std::time::Instant::now() < deadline, "no temporary output");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert_eq!(files(), ["big.csv", "k.key"], "{signal}: {stderr}");
    }
}
