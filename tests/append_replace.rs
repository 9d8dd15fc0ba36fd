//! Issue 17: `anonymize --append --replace-changed`. A changed export at a
//! recorded path replaces the rows of the generation that added it (its
//! only input), in one swap of the dataset; other cases stop before
//! anything is read.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Values of the sample's first record, which no message may contain.
const CANARIES: [&str; 3] = ["133-5705-1240", "wanglinhong703@163.com", "王琳红"];

fn anonymize(env: &TestEnv, extra: &[&str], out: &str, inputs: &[PathBuf]) -> Run {
    let schema = repo("schemas/transactions.toml").display().to_string();
    let mut args: Vec<String> = ["anonymize", "-q", "--json", "--schema", &schema]
        .map(String::from)
        .to_vec();
    args.extend(["--key-file".into(), "k.key".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-o".to_string(), out.to_string()]);
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let run = env.run(&args);
    for c in CANARIES {
        run.never_says(c);
    }
    run
}

/// The sample split into `n` files of consecutive records.
fn days(n: usize) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let per = lines.len().div_ceil(n);
    (
        header.to_string(),
        lines.chunks(per).map(|c| c.join("\n")).collect(),
    )
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn issue17_a_changed_export_replaces_its_generation_in_one_swap() {
    let env = TestEnv::new();
    env.key("k.key", TEST_KEY_HEX);
    let (header, chunks) = days(3);
    let write = |name: &str, body: &str| env.write(name, format!("{header}\n{body}\n"));
    let files: Vec<PathBuf> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| write(&format!("day{}.csv", i + 1), c))
        .collect();
    let part = ["--partition-by", "created_month"];
    anonymize(&env, &part, "ds", &files[..1]).success();
    for f in &files[1..] {
        anonymize(&env, &["--append"], "ds/", std::slice::from_ref(f)).success();
    }
    let old_day2_rows = manifest(&env.path("ds/_manifest.json"))["generations"][1]["rows"]
        ["written"]
        .as_u64()
        .unwrap();
    let before = snapshot(&env.path("ds"));

    // Day 2 is exported again with its last 100 records gone and one changed.
    let lines: Vec<&str> = chunks[1].lines().collect();
    let mut kept: Vec<String> = lines[..lines.len() - 100]
        .iter()
        .map(|l| l.to_string())
        .collect();
    kept[0] = kept[0].replacen("T20", "R20", 1);
    write("day2.csv", &kept.join("\n"));

    // Without the flag: refused, nothing changed.
    anonymize(&env, &["--append"], "ds/", &files[1..2])
        .exit(2)
        .stderr_has("was appended in generation 2 with other content")
        .stderr_has("--replace-changed replaces them");
    assert_eq!(snapshot(&env.path("ds")), before);

    let run = anonymize(&env, &["--append", "--replace-changed"], "ds/", &files);
    run.success();
    let s: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["generation"], 4);
    assert_eq!(s["skipped_inputs"].as_array().unwrap().len(), 2);
    let r = &s["replaced_inputs"][0];
    assert_eq!(r["generation"], 2);
    assert_eq!(r["rows_removed"], old_day2_rows);
    assert!(r["files_removed"].as_u64().unwrap() >= 1);
    assert_eq!(s["rows_written"], old_day2_rows - 100);

    // The dataset equals one built from the current exports.
    anonymize(&env, &part, "fresh", &files).success();
    assert_eq!(rows_of(&env.path("ds")), rows_of(&env.path("fresh")));
    assert!(!parquet_below(&env.path("ds"))
        .iter()
        .any(|p| p.starts_with("g00002/")));
    // The replaced generation's directory is gone with its part files, so a
    // reader that listed the old dataset and descends into it after the swap
    // gets an error rather than silently fewer rows.
    assert!(!env.path("ds/g00002").exists());
    let m = manifest(&env.path("ds/_manifest.json"));
    assert_eq!(m["generation"], 4);
    assert_eq!(m["rows"]["written"], 3000 - 100);
    assert_eq!(m["rows"]["replaced"], old_day2_rows);
    assert_eq!(m["generations"][3]["replaced"][0]["generation"], 2);
    let inputs: Vec<u64> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(inputs, [1, 3, 4]);
    assert_eq!(
        manifest(&env.path("ds/_manifests/00003.json"))["generation"],
        3
    );
    env.run(["dataset", "ds/"])
        .success()
        .stdout_has("consistent")
        .stdout_has(&format!(
            "replaced {old_day2_rows} (rows of replaced inputs, removed)"
        ))
        .stdout_has("day2.csv of generation 2: ");
    assert!(!env.files().iter().any(|f| f.contains("txanon-tmp")));

    // The same content again is skipped; generation 1's export can be
    // replaced too (its files are at the top of the dataset).
    let again = anonymize(
        &env,
        &["--append", "--replace-changed"],
        "ds/",
        &files[1..2],
    );
    again.success();
    write(
        "day1.csv",
        &chunks[0].lines().take(50).collect::<Vec<_>>().join("\n"),
    );
    anonymize(&env, &["--append", "--replace-changed"], "ds/", &files[..1]).success();
    anonymize(&env, &part, "fresh2", &files).success();
    assert_eq!(rows_of(&env.path("ds")), rows_of(&env.path("fresh2")));
    env.run(["dataset", "ds/"]).success();
}

#[test]
fn issue17_an_input_that_shared_its_generation_cannot_be_replaced() {
    let env = TestEnv::new();
    env.key("k.key", TEST_KEY_HEX);
    let (header, chunks) = days(2);
    let a = env.write("a.csv", format!("{header}\n{}\n", chunks[0]));
    let b = env.write("b.csv", format!("{header}\n{}\n", chunks[1]));
    anonymize(&env, &[], "ds/", &[a.clone(), b]).success();
    let before = snapshot(&env.path("ds"));
    env.write(
        "a.csv",
        format!("{header}\n{}\n", chunks[0].lines().next().unwrap()),
    );
    anonymize(&env, &["--append", "--replace-changed"], "ds/", &[a])
        .exit(2)
        .stderr_has("was appended in generation 1 together with 1 other input(s)")
        .stderr_has("nothing was read or written");
    assert_eq!(snapshot(&env.path("ds")), before);
    // The flag needs --append.
    env.run([
        "anonymize",
        "--schema",
        &repo("schemas/transactions.toml").display().to_string(),
        "--replace-changed",
        "-o",
        "x/",
        "a.csv",
    ])
    .exit(2)
    .stderr_has("--append");
}
