//! The leak harness: canary values planted in every field of every declared
//! column and in every header position (a headerless file's first record,
//! NDJSON keys, Parquet column names, partition values) must never reach
//! any channel of any command: stdout, stderr, the files a run writes (read
//! back, Parquet values decoded) and the names of the directories and files
//! it creates.
//!
//! The commands, flags and formats are enumerated from the CLI definition
//! (`txanon::cli::Cli` through clap's `CommandFactory`): every argument of
//! every subcommand must be given on the command line by at least one case,
//! and every possible value of an enumerated argument (`--format`,
//! `--engine`) must be used, or the harness fails. A new command, flag or
//! format therefore joins the harness before the suite passes again.
//!
//! Canaries sit only in columns that are tokenized, dropped, masked or
//! generalized; kept columns hold ordinary values, so any canary in any
//! channel is a leak. Positive controls show the detector finds a canary
//! that is released on purpose (a kept column, a directory name, stdout).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::CommandFactory;
use common::*;

/// Every text canary contains this marker (matched case-insensitively).
const MARK: &str = "zqc";

/// Canaries without the marker (numbers, dates, addresses): each must
/// never appear as written.
const NUMERIC: [&str; 10] = [
    "13979176537",
    "13812340077",
    "110105198905144463",
    "6222021234561234",
    "203.0.113.77",
    "198.51.100.23",
    "1987-03-29",
    "1961-11-07",
    "4321.57",
    "8765.43",
];

/// What must never appear in any channel.
fn needles() -> Vec<String> {
    let mut n: Vec<String> = NUMERIC.iter().map(|s| s.to_string()).collect();
    n.push(MARK.to_string());
    // Normalized spellings of the phone canaries.
    n.push("+8613979176537".into());
    n.push("+8613812340077".into());
    n
}

const SCHEMA: &str = r#"
[dataset]
name = "leaks"
version = 1

[[columns]]
name = "id"
action = "keep"

[[columns]]
name = "phone"
action = "tokenize"
as = "phone"
region = "CN"
derive = [{ kind = "phone_region", output = "phone_region" }]

[[columns]]
name = "email"
action = "tokenize"
as = "email"
derive = [{ kind = "email_domain", output = "email_domain" }]

[[columns]]
name = "name"
action = "drop"

[[columns]]
name = "addr"
action = "tokenize"
as = "address"
derive = [{ kind = "address_region", output = "region", values = ["tx"] }]

[[columns]]
name = "id_card"
action = "tokenize"
as = "id"

[[columns]]
name = "card"
action = "mask"
keep_last = 2

[[columns]]
name = "birth"
type = "date"
action = "generalize"
to = "year"

[[columns]]
name = "amount"
type = "decimal(12,2)"
action = "bucket"
width = 1000

[[columns]]
name = "ip"
action = "truncate_ip"

[[columns]]
name = "channel"
action = "keep"
"#;

const HEADER: &str = "id,phone,email,name,addr,id_card,card,birth,amount,ip,channel";

/// Records whose every non-kept field is a canary (valid values, and
/// values that fail their column's rule, which take the invalid paths).
const RECORDS: [&str; 4] = [
    "r1,139 7917 6537,Zqc.Alpha@zqcmail-one.com,Zqc Alpha Name,\"Flat 3B, Zqc Cottage, Zqc Lane\",110105198905144463,6222021234561234,1987-03-29,4321.57,203.0.113.77,web",
    "r2,138 1234 0077,zqcbeta@163.com,Zqc Beta Name,浙江省 杭州市 西湖区 zqc路 12 号,zqc-id-0002,6222021234561234,1961-11-07,8765.43,198.51.100.23,pos",
    "r3,zqc-not-a-phone,zqc-not-an-email,Zqc Gamma,zqcgamma@zqcmail-two.com,zqc-id-0003,zqc-card,zqc-date,zqc-amount,zqc-ip,web",
    "r4,13979176537,zqc.delta@zqcmail-one.janedoezqc,Zqc Delta,\"747 Zqc Dr., Austin, TX 78701\",110105198905144463,zqc1234,1987-03-29,4321.57,203.0.113.77,app",
];

fn csv_text(header: bool) -> String {
    let mut s = String::new();
    if header {
        s.push_str(HEADER);
        s.push('\n');
    }
    for r in RECORDS {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// An undeclared NDJSON key that is data (an e-mail address).
const NDJSON_KEY: &str = "zqc.key@zqcmail-key.com";

/// A Parquet column name that is data (an e-mail address).
const PARQUET_COLUMN: &str = "zqc.column@zqcmail-col.com";

/// The same records as NDJSON, with an undeclared key that is data on the
/// first and on a later line.
fn ndjson_text() -> String {
    let names: Vec<&str> = HEADER.split(',').collect();
    let mut out = String::new();
    for (i, r) in RECORDS.iter().enumerate() {
        let mut rdr = csv_fields(r);
        let mut obj = serde_json::Map::new();
        for (n, v) in names.iter().zip(rdr.drain(..)) {
            obj.insert(n.to_string(), serde_json::Value::String(v));
        }
        if i == 0 || i == 2 {
            obj.insert(
                NDJSON_KEY.to_string(),
                serde_json::Value::String("x".into()),
            );
        }
        out.push_str(&serde_json::Value::Object(obj).to_string());
        out.push('\n');
    }
    out
}

/// Split one CSV record (quotes around fields with commas).
fn csv_fields(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in record.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// A Parquet input: the declared columns as text plus one whose name is a
/// canary.
fn write_parquet_input(path: &Path) {
    let mut names: Vec<String> = HEADER.split(',').map(str::to_string).collect();
    names.push(PARQUET_COLUMN.into());
    let rows: Vec<Vec<String>> = RECORDS
        .iter()
        .map(|r| {
            let mut f = csv_fields(r);
            f.push("x".into());
            f
        })
        .collect();
    let fields: Vec<arrow_schema::Field> = names
        .iter()
        .map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Utf8, true))
        .collect();
    let columns: Vec<arrow_array::ArrayRef> = (0..names.len())
        .map(|i| {
            Arc::new(arrow_array::StringArray::from(
                rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>(),
            )) as arrow_array::ArrayRef
        })
        .collect();
    let batch =
        arrow_array::RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
            .expect("batch");
    let file = std::fs::File::create(path).expect("create parquet input");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("parquet writer");
    w.write(&batch).expect("write parquet input");
    w.close().expect("close parquet input");
}

/// The inputs every case finds in its directory.
const INPUTS: [&str; 5] = [
    "data.csv",
    "headerless.csv",
    "data.ndjson",
    "cols.parquet",
    "out.parquet",
];

/// [`SCHEMA`] with ladders and `[privacy] search = "auto"` (for
/// `privacy-search` and the searching `anonymize`).
fn search_schema() -> String {
    let s = SCHEMA
        .replacen(
            "to = \"year\"",
            "to = [\"month\", \"year\"]\nquasi = true",
            1,
        )
        .replacen(
            "width = 1000",
            "width = [1000, 10000]\nquasi = true\nremovable = true",
            1,
        )
        .replacen(
            "values = [\"tx\"] }",
            "values = [\"tx\"], quasi = true, removable = true }",
            1,
        );
    format!(
        "{s}\n[privacy]\nmin_k = 2\non_violation = \"suppress\"\nentity = \"id_card\"\n\
         search = \"auto\"\nmax_suppression = 0.5\n"
    )
}

/// An aggregate release of [`SCHEMA`]'s rows with public keys.
const AGGREGATE_PUBLIC: &str = r#"
[release]
name = "leaks"
entity = "id_card"
group_by = ["channel", "birth"]
epsilon = 1.0
max_groups_per_entity = 2
max_rows_per_group = 2
[keys]
channel = ["web", "pos", "app"]
birth = ["1961-01-01", "1987-01-01"]
[[measure]]
kind = "count"
[[measure]]
kind = "count_distinct"
"#;

/// One whose groups (regions derived from canary addresses) need partition selection.
const AGGREGATE_SELECTION: &str = r#"
[release]
name = "leaks-selection"
entity = "phone"
group_by = ["region", "email_domain"]
epsilon = 1.0
delta = 1e-6
max_groups_per_entity = 1
max_rows_per_group = 1
[[measure]]
kind = "count"
"#;

fn setup(env: &TestEnv) {
    env.write("s.toml", SCHEMA);
    env.write("search.toml", search_schema());
    env.key("k.key", TEST_KEY_HEX);
    env.write("agg.toml", AGGREGATE_PUBLIC);
    env.write("agg-sel.toml", AGGREGATE_SELECTION);
    env.write(
        "agg-over.toml",
        format!("{AGGREGATE_PUBLIC}\n[budget]\nmax_epsilon = 0.5\n"),
    );
    env.write("data.csv", csv_text(true));
    env.write("headerless.csv", csv_text(false));
    env.write("data.ndjson", ndjson_text());
    env.write("stdin.txt", "139 7917 6537\nzqc-stdin-value\n");
    write_parquet_input(&env.path("cols.parquet"));
    // Released outputs (a file with its manifest, a partitioned dataset),
    // for `check`, `scan` and `report` of outputs.
    env.anonymize(
        &env.path("s.toml"),
        &env.path("k.key"),
        &["--max-bad-rows", "100", "--manifest", "out.manifest.json"],
        "out.parquet",
        &env.path("data.csv"),
    )
    .success();
    env.anonymize(
        &env.path("s.toml"),
        &env.path("k.key"),
        &["--max-bad-rows", "100", "--partition-by", "birth"],
        "outdir/",
        &env.path("data.csv"),
    )
    .success();
}

/// Every path under `dir`, relative, with whether it is a directory.
fn tree(dir: &Path) -> BTreeMap<PathBuf, bool> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            let is_dir = p.is_dir();
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), is_dir);
            if is_dir {
                stack.push(p);
            }
        }
    }
    out
}

/// The text a file shows a reader: its bytes, and for Parquet every value
/// cast to text (pages are compressed, so the bytes alone would hide one).
fn readable_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if bytes.starts_with(b"PAR1") {
        let (batches, kv) = read_parquet(path);
        for (k, v) in kv {
            text.push_str(&format!("\n{k}={v}"));
        }
        for b in batches {
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                text.push_str(&format!("\n{}:", f.name()));
                if let Ok(s) = arrow_cast::cast(c, &arrow_schema::DataType::Utf8) {
                    let s = s
                        .as_any()
                        .downcast_ref::<arrow_array::StringArray>()
                        .expect("utf8")
                        .clone();
                    for v in s.iter().flatten() {
                        text.push_str(v);
                        text.push('\n');
                    }
                }
            }
        }
    }
    text
}

/// Where each needle appears: stdout, stderr, paths created by the run,
/// the contents of files it wrote. Occurrences of `tolerated` are taken out
/// first; the second value tells whether there were any.
fn find_leaks(
    run: &Run,
    dir: &Path,
    before: &BTreeMap<PathBuf, bool>,
    needles: &[String],
    tolerated: Option<&str>,
) -> (Vec<String>, bool) {
    let mut channels: Vec<(String, String)> = vec![
        ("stdout".into(), run.stdout.clone()),
        ("stderr".into(), run.stderr.clone()),
    ];
    for (rel, is_dir) in tree(dir) {
        if before.contains_key(&rel) || rel.ends_with("stdin.txt") {
            // Inputs, schema and key: present before the run (and a run
            // that overwrote one is a separate bug, tested in tests/paths.rs).
            continue;
        }
        channels.push((format!("path {}", rel.display()), rel.display().to_string()));
        if !is_dir {
            channels.push((
                format!("file {}", rel.display()),
                readable_text(&dir.join(&rel)),
            ));
        }
    }
    let mut found = Vec::new();
    let mut seen_tolerated = false;
    for (channel, text) in channels {
        let mut lower = text.to_lowercase();
        if let Some(t) = tolerated {
            let t = t.to_lowercase();
            seen_tolerated |= lower.contains(&t);
            lower = lower.replace(&t, "");
        }
        for n in needles {
            if lower.contains(&n.to_lowercase()) {
                found.push(format!("{n:?} in {channel}"));
            }
        }
    }
    (found, seen_tolerated)
}

/// One command line of the harness.
struct Case {
    args: Vec<String>,
    /// Data piped to stdin (`token --stdin`).
    stdin: Option<&'static str>,
}

fn case(args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
    }
}

/// Whether the DataFusion engine's binary sits next to txanon.
fn df_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TXANON_DF") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_txanon"));
    let p = exe.with_file_name(format!("txanon-df{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let anon = |extra: &[&str], output: &str, input: &str| {
        let mut a = vec!["anonymize", "--schema", "s.toml", "--key-file", "k.key"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["-o", output, input]);
        case(&a)
    };
    for input in ["data.csv", "headerless.csv", "data.ndjson", "cols.parquet"] {
        out.push(anon(&[], "a.parquet", input));
        out.push(anon(&["--json"], "a.parquet", input));
        out.push(anon(&["-q"], "a.parquet", input));
        out.push(anon(&["--drop-undeclared", "--json"], "a.parquet", input));
        out.push(anon(
            &[
                "--drop-undeclared",
                "--max-bad-rows",
                "100",
                "--manifest",
                "m.json",
                "--mode",
                "0640",
                "--report",
                "r.html",
            ],
            "a.parquet",
            input,
        ));
        out.push(anon(
            &[
                "--drop-undeclared",
                "--max-bad-rows",
                "100",
                "--threads",
                "2",
                "--batch-rows",
                "1",
                "--row-group-rows",
                "1",
                "--context",
                "leaks",
                "--json",
            ],
            "a.parquet",
            input,
        ));
        for partition in ["phone", "birth", "region"] {
            out.push(anon(
                &[
                    "--drop-undeclared",
                    "--max-bad-rows",
                    "100",
                    "--partition-by",
                    partition,
                    "--json",
                ],
                "dir/",
                input,
            ));
        }
        // The DataFusion engine (or, when its binary is not built, the
        // hand-over's error) and Ballista without a reachable scheduler.
        out.push(anon(
            &[
                "--drop-undeclared",
                "--max-bad-rows",
                "100",
                "--engine",
                "datafusion",
            ],
            "df.parquet",
            input,
        ));
        out.push(anon(
            &["--engine", "ballista", "--scheduler", "df://127.0.0.1:9"],
            "b.parquet",
            input,
        ));
        out.push(anon(&["--engine", "native"], "n.parquet", input));
    }
    for file in INPUTS {
        for format in ["text", "json", "junit", "github"] {
            out.push(case(&[
                "check", "--schema", "s.toml", "--format", format, file,
            ]));
            out.push(case(&["scan", "--format", format, file]));
        }
        out.push(case(&[
            "check",
            "--schema",
            "s.toml",
            "--key-file",
            "k.key",
            "--sample",
            "2",
            file,
        ]));
        out.push(case(&["scan", "--sample", "2", "--region", "US", file]));
        out.push(case(&["scan", "--encoding", "gb18030", file]));
        out.push(case(&["init", file]));
        out.push(case(&[
            "init",
            "--region",
            "US",
            "--sample",
            "2",
            "--encoding",
            "gbk",
            file,
        ]));
    }
    for value in [
        "139 7917 6537",
        "zqc-token-value",
        "Zqc.Alpha@zqcmail-one.com",
    ] {
        for column in [
            "phone",
            "email",
            "addr",
            "id_card",
            "name",
            "no-such-column",
        ] {
            out.push(case(&[
                "token",
                "--schema",
                "s.toml",
                "--key-file",
                "k.key",
                "--column",
                column,
                value,
            ]));
        }
    }
    out.push(Case {
        stdin: Some("139 7917 6537\nzqc-stdin-value\n"),
        ..case(&[
            "token",
            "--schema",
            "s.toml",
            "--key-file",
            "k.key",
            "--context",
            "leaks",
            "--column",
            "phone",
            "--stdin",
        ])
    });
    for input in ["data.csv", "data.ndjson", "cols.parquet"] {
        out.push(case(&[
            "privacy-search",
            "--schema",
            "search.toml",
            "--key-file",
            "k.key",
            "--max-bad-rows",
            "100",
            input,
        ]));
        out.push(case(&[
            "privacy-search",
            "--schema",
            "search.toml",
            "--key-file",
            "k.key",
            "--context",
            "leaks",
            "--threads",
            "2",
            "--drop-undeclared",
            "--max-bad-rows",
            "100",
            "--json",
            input,
        ]));
        out.push(case(&[
            "anonymize",
            "--schema",
            "search.toml",
            "--key-file",
            "k.key",
            "--max-bad-rows",
            "100",
            "--json",
            "-o",
            "searched.parquet",
            input,
        ]));
    }
    out.push(case(&["keygen", "-o", "new.key"]));
    for release in INPUTS.iter().copied().chain(["outdir/"]) {
        out.push(case(&["report", "-o", "r.html", release]));
        out.push(case(&[
            "report",
            "--schema",
            "s.toml",
            "--manifest",
            "out.manifest.json",
            "--mode",
            "0640",
            "-o",
            "r.html",
            release,
        ]));
    }
    for format in ["text", "json"] {
        out.push(case(&["dataset", "--format", format, "outdir/"]));
    }
    // Erasing customers: by value (a dataset, a file), by stdin with an
    // invalid line, by a malformed token; dry runs and JSON.
    let erase = |extra: &[&str], target: &str| {
        let mut args = vec!["erase", "--schema", "s.toml", "--key-file", "k.key"];
        args.extend(extra);
        args.push(target);
        case(&args)
    };
    out.push(erase(
        &["--column", "phone", "--threads", "2", "139 7917 6537"],
        "outdir/",
    ));
    out.push(erase(
        &[
            "--column",
            "email",
            "--dry-run",
            "--json",
            "--context",
            "",
            "zqcbeta@163.com",
        ],
        "outdir/",
    ));
    out.push(erase(
        &[
            "--column",
            "email_token",
            "--json",
            "Zqc.Alpha@zqcmail-one.com",
        ],
        "out.parquet",
    ));
    out.push(erase(
        &["--column", "phone", "--token", "zqc-token-value"],
        "outdir/",
    ));
    out.push(Case {
        stdin: Some("139 7917 6537\nzqc-stdin-value\n"),
        ..erase(&["--column", "phone", "--stdin"], "out.parquet")
    });
    // An append of new rows (and of the dataset's own input, skipped).
    for input in ["data.csv", "data.ndjson", "cols.parquet"] {
        out.push(anon(
            &["--append", "--max-bad-rows", "100", "--json"],
            "outdir/",
            input,
        ));
    }
    out.push(anon(
        &["--append", "--replace-changed", "--max-bad-rows", "100"],
        "outdir/",
        "data.csv",
    ));
    for input in ["data.csv", "data.ndjson", "cols.parquet"] {
        for spec in ["agg.toml", "agg-sel.toml", "agg-over.toml"] {
            let mut a = vec!["aggregate", "--schema", "s.toml", "--spec", spec];
            a.extend_from_slice(&["--key-file", "k.key", "--new-ledger"]);
            a.extend_from_slice(&["--max-bad-rows", "100", "--json"]);
            a.extend_from_slice(&["-o", "agg.parquet", "--csv", "agg.csv", input]);
            out.push(case(&a));
        }
        out.push(case(&[
            "aggregate",
            "--schema",
            "s.toml",
            "--spec",
            "agg.toml",
            "--key-file",
            "k.key",
            "--context",
            "leaks",
            "--ledger",
            "budget.json",
            "--new-ledger",
            "--manifest",
            "agg.manifest.json",
            "--threads",
            "2",
            "--drop-undeclared",
            "--max-bad-rows",
            "100",
            "--mode",
            "0640",
            "-q",
            "-o",
            "agg.parquet",
            input,
        ]));
    }
    out.push(case(&[
        "sql",
        "--schema",
        "s.toml",
        "SELECT * FROM leaks",
        "data.csv",
    ]));
    out
}

/// Every argument of every subcommand is given by some case, and every
/// possible value of an enumerated argument is used.
#[test]
fn leak_harness_covers_every_command_flag_and_format() {
    let cli = txanon::cli::Cli::command();
    let mut given: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut values: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for c in cases() {
        let mut argv = vec!["txanon".to_string()];
        argv.extend(c.args.iter().cloned());
        let m = txanon::cli::Cli::command()
            .try_get_matches_from(&argv)
            .unwrap_or_else(|e| panic!("harness case does not parse: {argv:?}: {e}"));
        let (name, sub) = m.subcommand().expect("a subcommand");
        let entry = given.entry(name.to_string()).or_default();
        for id in sub.ids() {
            if sub.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine) {
                entry.insert(id.to_string());
                if let Some(raw) = sub.get_raw(id.as_str()) {
                    for v in raw {
                        values
                            .entry((name.to_string(), id.to_string()))
                            .or_default()
                            .insert(v.to_string_lossy().into_owned());
                    }
                }
            }
        }
    }
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        let name = sub.get_name().to_string();
        let Some(got) = given.get(&name) else {
            missing.push(format!("command `{name}` has no case in the leak harness"));
            continue;
        };
        for arg in sub.get_arguments() {
            let id = arg.get_id().to_string();
            if matches!(id.as_str(), "help" | "version") {
                continue;
            }
            if !got.contains(&id) {
                missing.push(format!("`{name}` argument `{id}` is never given"));
                continue;
            }
            if !arg.get_action().takes_values() {
                continue; // a flag: given is covered
            }
            for pv in arg.get_possible_values() {
                if pv.is_hide_set() {
                    continue;
                }
                let used = values
                    .get(&(name.clone(), id.clone()))
                    .is_some_and(|v| v.contains(pv.get_name()));
                if !used {
                    missing.push(format!("`{name} --{id} {}` is never used", pv.get_name()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the leak harness does not cover:\n{}",
        missing.join("\n")
    );
}

/// No canary in any channel of any case.
#[test]
fn no_canary_reaches_any_channel() {
    if df_binary().is_none() {
        eprintln!(
            "note: txanon-df is not built next to txanon: `--engine datafusion` and `sql` \
             are exercised only up to the hand-over's error (cargo build -p txanon-datafusion \
             to run the engine itself)"
        );
    }
    let needles = needles();
    let mut failures = Vec::new();
    // Commands with a case that ran to the end (exit 0 or 1), not only
    // into an early refusal: otherwise the canary check would be vacuous.
    let mut completed = BTreeSet::new();
    // The inputs are made once and copied into each case's directory.
    let template = TestEnv::new();
    setup(&template);
    let files: Vec<(PathBuf, Option<Vec<u8>>)> = tree(template.dir.path())
        .into_iter()
        .map(|(rel, is_dir)| {
            let bytes = (!is_dir)
                .then(|| std::fs::read(template.dir.path().join(&rel)).expect("template file"));
            (rel, bytes)
        })
        .collect();
    for c in cases() {
        let env = TestEnv::new();
        for (rel, bytes) in &files {
            let p = env.dir.path().join(rel);
            match bytes {
                None => std::fs::create_dir_all(&p).expect("template dir"),
                Some(b) => {
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("parent dir");
                    std::fs::write(&p, b).expect("template file");
                }
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = env.path("k.key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod key");
        }
        let before = tree(env.dir.path());
        let mut cmd = env.command();
        cmd.args(&c.args);
        if let Some(stdin) = c.stdin {
            cmd.stdin(std::fs::File::open(env.write("stdin.txt", stdin)).expect("stdin file"));
        }
        let run = run_command(cmd);
        // Any exit but a crash: 0, 1 (violations) or 2 (refused).
        if !matches!(run.code, Some(0..=2)) {
            failures.push(format!("{:?}: exit {:?}\n{}", c.args, run.code, run.stderr));
        }
        if matches!(run.code, Some(0 | 1)) {
            completed.insert(c.args[0].clone());
        }
        let (found, _) = find_leaks(&run, env.dir.path(), &before, &needles, None);
        if !found.is_empty() {
            failures.push(format!(
                "{:?} (exit {:?}):\n  {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                c.args,
                run.code,
                found.join("\n  "),
                run.stdout,
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "leaks:\n{}", failures.join("\n\n"));
    for sub in txanon::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        // `sql` needs the txanon-df binary.
        if name != "sql" || df_binary().is_some() {
            assert!(
                completed.contains(name),
                "no case of `{name}` ran to the end (exit 0 or 1): {completed:?}"
            );
        }
    }
}

/// The detector finds canaries that are released on purpose: a kept column
/// in a compressed Parquet file, a directory name, and stdout.
#[test]
fn leak_detector_finds_a_released_canary() {
    let env = TestEnv::new();
    setup(&env);
    let leaky = SCHEMA.replace(
        "name = \"name\"\naction = \"drop\"",
        "name = \"name\"\naction = \"keep\"\nallow_raw = \"positive control\"",
    );
    assert_ne!(leaky, SCHEMA);
    env.write("leaky.toml", &leaky);
    let before = tree(env.dir.path());
    let run = env.run([
        "anonymize",
        "--schema",
        "leaky.toml",
        "--key-file",
        "k.key",
        "--max-bad-rows",
        "100",
        "--partition-by",
        "name",
        "-q",
        "-o",
        "dir/",
        "data.csv",
    ]);
    run.success();
    let (found, _) = find_leaks(&run, env.dir.path(), &before, &[MARK.to_string()], None);
    assert!(
        found.iter().any(|f| f.contains("in path dir/")),
        "directory names: {found:?}"
    );
    // A file's values: the same kept column, in one compressed file.
    let before = tree(env.dir.path());
    let run = env.run([
        "anonymize",
        "--schema",
        "leaky.toml",
        "--key-file",
        "k.key",
        "--max-bad-rows",
        "100",
        "-q",
        "-o",
        "kept.parquet",
        "data.csv",
    ]);
    run.success();
    let (found, _) = find_leaks(&run, env.dir.path(), &before, &[MARK.to_string()], None);
    assert!(
        found.iter().any(|f| f.contains("in file kept.parquet")),
        "file values: {found:?}"
    );
    // stdout: `init` prints an ordinary header name as written.
    env.write("named.csv", "zqcnotes\nx\n");
    let before = tree(env.dir.path());
    let run = env.run(["init", "named.csv"]);
    let (found, _) = find_leaks(&run, env.dir.path(), &before, &[MARK.to_string()], None);
    assert!(found.iter().any(|f| f.contains("in stdout")), "{found:?}");
}
