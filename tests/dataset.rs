//! Issue 17: datasets that grow. `txanon dataset` shows a dataset and
//! verifies its part files against the manifest; `anonymize --append`
//! adds a generation.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Values of the sample's first record, which no message may contain.
const CANARIES: [&str; 4] = [
    "133-5705-1240",
    "wanglinhong703@163.com",
    "110105198905144463",
    "王琳红",
];

fn never_leaks(run: &Run) {
    for c in CANARIES {
        run.never_says(c);
    }
}

/// `anonymize` of `inputs` into `out` with the test key and `extra` flags.
fn anonymize(env: &TestEnv, key: &Path, extra: &[&str], out: &str, inputs: &[PathBuf]) -> Run {
    let schema = repo("schemas/transactions.toml");
    let mut args: Vec<String> = vec![
        "anonymize".into(),
        "-q".into(),
        "--schema".into(),
        schema.display().to_string(),
        "--key-file".into(),
        key.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-o".to_string(), out.to_string()]);
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    env.run(&args)
}

/// A month-partitioned dataset `ds/` of the sample.
fn partitioned(env: &TestEnv) -> PathBuf {
    let key = env.key("k.key", TEST_KEY_HEX);
    let sample = repo("data-samples/transactions.csv");
    anonymize(
        env,
        &key,
        &["--partition-by", "created_month"],
        "ds",
        &[sample],
    )
    .success();
    env.path("ds")
}

fn dataset(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec!["dataset"];
    args.extend(extra);
    args.push("ds/");
    env.run(args)
}

/// The part files listed in `ds/_manifest.json`, in order.
fn listed(env: &TestEnv) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("ds/_manifest.json")).unwrap()).unwrap();
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn issue17_a_fresh_dataset_is_consistent_and_shows_its_manifest() {
    let env = TestEnv::new();
    partitioned(&env);
    let run = dataset(&env, &[]);
    run.success()
        .stdout_has("generation 1, partitioned by created_month")
        .stdout_has("rows read 3000  written 3000  skipped 0")
        .stdout_has("consistent: ")
        .stdout_has("3000 rows, as the manifest lists them");
    never_leaks(&run);
    let run = dataset(&env, &["--format", "json"]);
    run.success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["consistent"], true);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["checked"]["rows"], 3000);
    assert_eq!(v["checked"]["files"], listed(&env).len());
    assert_eq!(v["inputs"].as_array().unwrap().len(), 1);
    assert_eq!(v["inputs"][0]["generation"], 1);
    assert_eq!(v["key_fingerprint"].as_str().unwrap().len(), 16);
    assert!(v["problems"].as_array().unwrap().is_empty());
}

#[test]
fn issue17_a_deleted_truncated_or_extra_part_file_fails_naming_the_file() {
    let env = TestEnv::new();
    let ds = partitioned(&env);
    let parts = listed(&env);
    let (first, second) = (&parts[0], &parts[1]);
    let original = std::fs::read(ds.join(first)).unwrap();

    std::fs::remove_file(ds.join(first)).unwrap();
    let run = dataset(&env, &[]);
    run.exit(1)
        .stdout_has(&format!("INCONSISTENT {first}: listed ("))
        .stdout_has("but missing");
    never_leaks(&run);
    std::fs::write(ds.join(first), &original).unwrap();
    dataset(&env, &[]).success();

    // Truncated: the size differs (and the footer is gone).
    std::fs::write(ds.join(first), &original[..original.len() / 2]).unwrap();
    let run = dataset(&env, &[]);
    run.exit(1).stdout_has(&format!(
        "INCONSISTENT {first}: {} bytes on disk, the manifest records {}",
        original.len() / 2,
        original.len()
    ));
    never_leaks(&run);
    std::fs::write(ds.join(first), &original).unwrap();

    // An extra part file (a copy of a listed one) beside the listed ones.
    std::fs::copy(ds.join(second), ds.join("x.parquet")).unwrap();
    let run = dataset(&env, &["--format", "json"]);
    run.exit(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["consistent"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1);
    assert_eq!(v["problems"][0]["file"], "x.parquet");
    assert!(v["problems"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("not listed in the manifest"));
    never_leaks(&run);
    std::fs::remove_file(ds.join("x.parquet")).unwrap();

    // An unlisted file hidden in a dot-directory is still read by a glob.
    std::fs::create_dir(ds.join(".hidden")).unwrap();
    std::fs::write(ds.join(".hidden/part-00000.parquet"), &original).unwrap();
    let run = dataset(&env, &[]);
    run.exit(1)
        .stdout_has("INCONSISTENT .hidden/part-00000.parquet: not listed in the manifest");
    std::fs::remove_dir_all(ds.join(".hidden")).unwrap();
    dataset(&env, &[]).success();
}

#[test]
fn issue17_dataset_of_something_else_is_a_usage_error() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("ds")).unwrap();
    dataset(&env, &[])
        .exit(2)
        .stderr_has("ds is not a dataset written by txanon (no _manifest.json in it)");
    env.write("ds/_manifest.json", "{\"files\": 3}");
    dataset(&env, &[])
        .exit(2)
        .stderr_has("not a dataset manifest");
}

/// The sample split into `n` files of consecutive records (`day1.csv`, ...).
fn days(env: &TestEnv, n: usize) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let per = lines.len().div_ceil(n);
    lines
        .chunks(per)
        .enumerate()
        .map(|(i, chunk)| {
            env.write(
                &format!("day{}.csv", i + 1),
                format!("{header}\n{}\n", chunk.join("\n")),
            )
        })
        .collect()
}

/// The test key, the sample split into `n` days, and the month-partitioned
/// dataset `ds/` of the first day.
fn first_day_partitioned(env: &TestEnv, n: usize) -> (PathBuf, Vec<PathBuf>) {
    let key = env.key("k.key", TEST_KEY_HEX);
    let days = days(env, n);
    let part = ["--partition-by", "created_month"];
    anonymize(env, &key, &part, "ds", &days[..1]).success();
    (key, days)
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn issue17_appending_days_one_by_one_equals_one_run_over_all() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let days = days(&env, 3);
    let part = ["--partition-by", "created_month"];
    anonymize(&env, &key, &part, "all", &days).success();
    anonymize(&env, &key, &part, "ds", &days[..1]).success();
    for (i, day) in days[1..].iter().enumerate() {
        let run = anonymize(&env, &key, &["--append"], "ds/", std::slice::from_ref(day));
        run.success();
        never_leaks(&run);
        let g = i + 2;
        assert!(env.path(&format!("ds/g{g:05}/_generation.json")).is_file());
        assert!(env
            .path(&format!("ds/_manifests/{:05}.json", g - 1))
            .is_file());
    }
    let all = rows_of(&env.path("all"));
    assert_eq!(all.len(), 3000);
    assert_eq!(rows_of(&env.path("ds")), all, "same multiset of rows");

    let m = manifest(&env.path("ds/_manifest.json"));
    assert_eq!(m["generation"], 3);
    assert_eq!(m["rows"]["written"], 3000);
    let generations: Vec<u64> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(generations, [1, 2, 3]);
    let listed: Vec<String> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, parquet_below(&env.path("ds")));
    assert!(listed
        .iter()
        .any(|p| p.starts_with("g00003/created_month=")));
    assert_eq!(m["generations"].as_array().unwrap().len(), 3);
    assert_eq!(
        std::fs::read(env.path("ds/_manifest.json")).unwrap(),
        std::fs::read(env.path("ds/g00003/_generation.json")).unwrap()
    );
    // The kept manifests are the earlier ones, unchanged.
    assert_eq!(
        manifest(&env.path("ds/_manifests/00001.json"))["generation"],
        1
    );
    assert_eq!(
        manifest(&env.path("ds/_manifests/00002.json"))["generation"],
        2
    );

    let run = dataset(&env, &["--format", "json"]);
    run.success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["consistent"], true);
    assert_eq!(v["checked"]["rows"], 3000);
    let per_generation: u64 = (0..3)
        .map(|g| v["generations"][g]["rows"]["written"].as_u64().unwrap())
        .sum();
    assert_eq!(per_generation, 3000);

    // Re-running an append with files already in the dataset adds nothing.
    let before = snapshot(&env.path("ds"));
    let run = anonymize(&env, &key, &["--append", "--json"], "ds/", &days);
    run.success();
    let s: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["rows_written"], 0);
    assert_eq!(s["generation"], 3);
    assert_eq!(s["skipped_inputs"][1]["generation"], 2);
    assert_eq!(snapshot(&env.path("ds")), before);
    let mut args: Vec<String> = ["anonymize", "--schema"].map(String::from).to_vec();
    args.push(repo("schemas/transactions.toml").display().to_string());
    args.extend([
        "--key-file".into(),
        key.display().to_string(),
        "--append".into(),
    ]);
    args.extend(["-o".into(), "ds/".into(), days[1].display().to_string()]);
    env.run(&args)
        .success()
        .stderr_has("nothing to append to ds: all 1 input(s) are already in it")
        .stderr_has("same content as in generation 2");
    assert_eq!(snapshot(&env.path("ds")), before);
    // A new file next to known ones: only it is read, the others are listed.
    let extra = env.write(
        "day4.csv",
        std::fs::read_to_string(&days[0])
            .unwrap()
            .replace("T20", "X20"),
    );
    let mut inputs = days.clone();
    inputs.push(extra);
    let run = anonymize(&env, &key, &["--append", "--json"], "ds/", &inputs);
    run.success();
    let s: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["generation"], 4);
    assert_eq!(s["inputs"].as_array().unwrap().len(), 1);
    // The same records as day 1 (the ids changed), so as many rows.
    assert_eq!(s["rows_written"], m["generations"][0]["rows"]["written"]);
    assert_eq!(s["skipped_inputs"].as_array().unwrap().len(), 3);
    dataset(&env, &[]).success().stdout_has("generation 4");
}

#[test]
fn issue17_an_append_with_another_key_schema_context_or_partitioning_changes_nothing() {
    let env = TestEnv::new();
    let (key, days) = first_day_partitioned(&env, 2);
    let before = snapshot(&env.path("ds"));
    let other_hex = "42".repeat(32);
    let other = env.key("other.key", &other_hex);
    let run = anonymize(&env, &other, &["--append"], "ds/", &days[1..]);
    run.exit(2)
        .stderr_has("cannot append to ds: it was written with the key of fingerprint")
        .stderr_has("nothing was read or written");
    run.never_says(&other_hex);
    run.never_says(TEST_KEY_HEX);
    assert_eq!(snapshot(&env.path("ds")), before);

    let ctx = anonymize(
        &env,
        &key,
        &["--append", "--context", "q3"],
        "ds/",
        &days[1..],
    );
    ctx.exit(2)
        .stderr_has("token context \"\", this run has \"q3\"");
    let part = anonymize(
        &env,
        &key,
        &["--append", "--partition-by", "channel"],
        "ds/",
        &days[1..],
    );
    part.exit(2)
        .stderr_has("--partition-by created_month, this run has --partition-by channel");

    let schema = std::fs::read_to_string(repo("schemas/transactions.toml")).unwrap();
    let edited = env.write("edited.toml", format!("{schema}\n# edited\n"));
    let args = |s: &Path| -> Vec<String> {
        vec![
            "anonymize".into(),
            "-q".into(),
            "--schema".into(),
            s.display().to_string(),
            "--key-file".into(),
            key.display().to_string(),
            "--append".into(),
            "-o".into(),
            "ds/".into(),
            days[1].display().to_string(),
        ]
    };
    env.run(args(&edited))
        .exit(2)
        .stderr_has("it was written with a schema of SHA-256");
    env.run(args(&repo("schemas/transactions-private.toml")))
        .exit(2)
        .stderr_has("it was written with a schema of SHA-256");
    assert_eq!(snapshot(&env.path("ds")), before);

    // A changed export at a path already appended is refused too.
    std::fs::write(&days[0], std::fs::read_to_string(&days[1]).unwrap()).unwrap();
    let run = anonymize(&env, &key, &["--append"], "ds/", &days[..1]);
    run.exit(2).stderr_has(&format!(
        "input {} was appended in generation 1 with other content",
        days[0].display()
    ));
    never_leaks(&run);
    assert_eq!(snapshot(&env.path("ds")), before);

    // Without --append an existing dataset is refused, with a hint.
    anonymize(&env, &key, &[], "ds/", &days[1..])
        .exit(2)
        .stderr_has("or add rows to it as a new generation with --append");
    assert_eq!(snapshot(&env.path("ds")), before);

    // Not a dataset, or an inconsistent one: refused before any input is read.
    anonymize(&env, &key, &["--append"], "nowhere/", &days[1..])
        .exit(2)
        .stderr_has("nowhere is not a dataset written by txanon");
    let first = listed(&env).remove(0);
    std::fs::remove_file(env.path("ds").join(&first)).unwrap();
    anonymize(&env, &key, &["--append"], "ds/", &days[1..])
        .exit(2)
        .stderr_has("cannot append to ds: it does not match its manifest (1 problem(s)");
}

#[test]
fn issue17_appended_part_files_are_identical_for_any_thread_count() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let days = days(&env, 2);
    for (out, threads) in [("a", "1"), ("b", "3")] {
        anonymize(
            &env,
            &key,
            &["--threads", threads],
            &format!("{out}/"),
            &days[..1],
        )
        .success();
        anonymize(
            &env,
            &key,
            &["--append", "--threads", threads, "--row-group-rows", "100"],
            &format!("{out}/"),
            &days[1..],
        )
        .success();
    }
    let a = snapshot(&env.path("a"));
    assert!(
        a.iter().any(|(p, _)| p == "g00002/part-00000.parquet"),
        "{a:?}"
    );
    assert_eq!(a, snapshot(&env.path("b")));
}

/// A kill after the commit point (simulated: the generation is in place,
/// `_manifest.json` not yet replaced) is reported and then repaired.
#[test]
fn issue17_a_manifest_left_behind_by_a_killed_append_is_reported_and_repaired() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let days = days(&env, 3);
    anonymize(&env, &key, &[], "ds/", &days[..1]).success();
    let gen1 = std::fs::read(env.path("ds/_manifest.json")).unwrap();
    anonymize(&env, &key, &["--append"], "ds/", &days[1..2]).success();
    let gen2 = std::fs::read(env.path("ds/_manifest.json")).unwrap();
    // As after a kill between the generation's rename and the manifest's.
    std::fs::write(env.path("ds/_manifest.json"), &gen1).unwrap();
    std::fs::remove_dir_all(env.path("ds/_manifests")).unwrap();
    let run = dataset(&env, &[]);
    run.success()
        .stdout_has("generation 2")
        .stdout_has("_manifest.json still describes generation 1: generation 2 was committed");
    anonymize(&env, &key, &["--append"], "ds/", &days[2..]).success();
    assert_eq!(
        std::fs::read(env.path("ds/_manifests/00001.json")).unwrap(),
        gen1
    );
    assert_eq!(
        std::fs::read(env.path("ds/_manifests/00002.json")).unwrap(),
        gen2
    );
    let run = dataset(&env, &[]);
    run.success()
        .stdout_has("generation 3")
        .stdout_lacks("note:");
    assert_eq!(rows_of(&env.path("ds")).len(), 3000);
}

/// The last step of an append fails (`_manifest.json`'s rename, injected
/// with LD_PRELOAD: ENOSPC) after the generation's directory is in place:
/// exit 2 saying the generation is committed but not the manifest; the
/// dataset is consistent at the new generation with a note, and the next
/// append writes the manifest first.
#[cfg(target_os = "linux")]
#[test]
fn issue17_a_failed_manifest_rename_after_the_commit_is_finished_by_the_next_append() {
    let shim_dir = tempfile::tempdir().unwrap();
    let Some(shim) = fail_rename_shim(shim_dir.path()) else {
        return;
    };
    let env = TestEnv::new();
    let (key, days) = first_day_partitioned(&env, 3);
    let gen1 = std::fs::read(env.path("ds/_manifest.json")).unwrap();
    let schema = repo("schemas/transactions.toml").display().to_string();
    let (key_arg, day2) = (key.display().to_string(), days[1].display().to_string());
    let args = [
        "anonymize",
        "-q",
        "--schema",
        &schema,
        "--key-file",
        &key_arg,
        "--append",
        "-o",
        "ds/",
        &day2,
    ];
    let setup = format!(
        "export LD_PRELOAD={} FAIL_RENAME_TO=_manifest.json",
        shim.display()
    );
    let run = run_after(&env, &setup, &args);
    run.exit(2)
        .stderr_has("ds/g00002 was written and is complete, but not ds/_manifest.json")
        .stderr_has("the generation is committed")
        .stderr_lacks("nothing was written");
    never_leaks(&run);
    assert_eq!(std::fs::read(env.path("ds/_manifest.json")).unwrap(), gen1);
    assert!(!env.files().iter().any(|f| f.contains("txanon-tmp")));
    dataset(&env, &[])
        .success()
        .stdout_has("generation 2, partitioned by created_month")
        .stdout_has("note: _manifest.json still describes generation 1");
    // The same day again: already in (generation 2), and the manifest is finished.
    anonymize(&env, &key, &["--append"], "ds/", &days[1..2]).success();
    let m = manifest(&env.path("ds/_manifest.json"));
    assert_eq!(m["generation"], 2);
    assert_eq!(
        std::fs::read(env.path("ds/_manifests/00001.json")).unwrap(),
        gen1
    );
    anonymize(&env, &key, &["--append"], "ds/", &days[2..]).success();
    dataset(&env, &[]).success().stdout_lacks("note:");
    assert_eq!(rows_of(&env.path("ds")).len(), 3000);
}
