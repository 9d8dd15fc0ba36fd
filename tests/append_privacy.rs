//! Issue 17: `anonymize --append` under `[privacy]`. The gate measures the
//! whole dataset after the append (earlier generations read back from
//! their part files), suppresses only new rows, and fails when rows of
//! earlier generations would have to go.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::Array;

use common::*;

/// Raw ids of the test data, which no message may contain.
const CANARIES: [&str; 3] = ["700001", "700104", "700201"];

/// A day of rows: two rows per (region, account number).
fn day(env: &TestEnv, name: &str, rows: &[(&str, u32)]) -> String {
    let mut csv = String::from("acct,region,n\n");
    for (i, (region, acct)) in rows.iter().enumerate() {
        for j in 0..2 {
            csv.push_str(&format!("{},{region},{}\n", 700000 + acct, i * 2 + j));
        }
    }
    env.write(name, csv);
    name.to_string()
}

fn anonymize(env: &TestEnv, schema: &str, extra: &[&str], out: &str, input: &str) -> Run {
    let mut args = vec![
        "anonymize",
        "--schema",
        schema,
        "--key-file",
        "k.key",
        "--json",
        "-q",
    ];
    args.extend(extra);
    args.extend(["-o", out, input]);
    let run = env.run(args);
    for c in CANARIES {
        run.never_says(c);
    }
    run
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap()
}

/// Distinct accounts per region over every part file of `ds/` (the
/// partition directory, when the dataset is partitioned by region, or the
/// column): what a reader recomputes.
fn accounts_per_region(env: &TestEnv) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rel in parquet_below(&env.path("ds")) {
        let (batch, _) = read_all(&env.path("ds").join(&rel));
        let text = |name: &str| -> Vec<Option<String>> {
            let Some(col) = batch.column_by_name(name) else {
                return Vec::new();
            };
            let s = arrow_cast::cast(col, &arrow_schema::DataType::Utf8).unwrap();
            let s = s
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            (0..s.len())
                .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                .collect()
        };
        let accts = text("acct_token");
        let regions = text("region");
        let from_path = rel
            .split('/')
            .find_map(|s| s.strip_prefix("region="))
            .map(str::to_string);
        for (i, a) in accts.into_iter().enumerate() {
            let region = regions
                .get(i)
                .cloned()
                .flatten()
                .or_else(|| from_path.clone())
                .unwrap();
            out.entry(region).or_default().insert(a.unwrap());
        }
    }
    out
}

fn setup(min_k: u64) -> TestEnv {
    let env = TestEnv::new();
    env.key("k.key", TEST_KEY_HEX);
    env.write("fail.toml", entity_schema(min_k, "fail"));
    env.write("suppress.toml", entity_schema(min_k, "suppress"));
    env
}

#[test]
fn issue17_the_gate_counts_earlier_generations_so_a_small_new_class_joins_its_old_one() {
    for partition in [&[][..], &["--partition-by", "region"][..]] {
        for gate in ["fail.toml", "suppress.toml"] {
            let env = setup(3);
            let d1 = day(&env, "d1.csv", &[("north", 1), ("north", 2), ("north", 3)]);
            let d2 = day(&env, "d2.csv", &[("north", 4)]);
            let out = if partition.is_empty() { "ds/" } else { "ds" };
            anonymize(&env, gate, partition, out, &d1).success();
            // Alone, day 2 is one customer in north: k = 1. Over the dataset, 4.
            let run = anonymize(&env, gate, &["--append"], "ds/", &d2);
            run.success();
            let s = json(&run);
            assert_eq!(s["rows_written"], 2, "{partition:?} {gate}");
            let p = &s["privacy"];
            assert_eq!(p["k"], 4, "{p}");
            assert_eq!(p["k_counts"], "entities");
            assert_eq!(p["rows"], 8);
            assert_eq!(p["suppressed_rows"], 0);
            assert_eq!(p["dataset"]["measured_over"], "dataset");
            assert_eq!(p["dataset"]["generation"], 2);
            assert_eq!(p["dataset"]["earlier_rows"], 6);
            assert_eq!(p["dataset"]["new_rows"], 2);
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(env.path("ds/_manifest.json")).unwrap())
                    .unwrap();
            assert_eq!(m["privacy"]["txanon.privacy.k"], "4");
            assert_eq!(
                m["privacy"]["txanon.privacy.measured_over"],
                "dataset after generation 2"
            );
            assert_eq!(m["privacy"]["txanon.privacy.earlier_rows"], "6");
            assert_eq!(
                m["privacy"]["txanon.privacy.suppressed_in"],
                "generation 2 only"
            );
            let classes = accounts_per_region(&env);
            assert_eq!(classes["north"].len(), 4, "recomputed from the files");
            env.run(["dataset", "ds/"]).success();
        }
    }
}

#[test]
fn issue17_suppress_removes_only_new_rows_of_new_small_classes() {
    let env = setup(3);
    let d1 = day(&env, "d1.csv", &[("north", 1), ("north", 2), ("north", 3)]);
    let d2 = day(
        &env,
        "d2.csv",
        &[("north", 4), ("east", 101), ("east", 102), ("west", 201)],
    );
    anonymize(&env, "suppress.toml", &[], "ds/", &d1).success();
    anonymize(&env, "fail.toml", &[], "dsf/", &d1).success();
    let before = snapshot(&env.path("dsf"));

    // fail: the new classes east (2 customers) and west (1) are below 3.
    let run = anonymize(&env, "fail.toml", &["--append"], "dsf/", &d2);
    run.exit(2)
        .stderr_has("k = 1 (distinct acct_token values) is below [privacy].min_k = 3")
        .stderr_has("6 row(s) in 2 class(es)");
    assert_eq!(snapshot(&env.path("dsf")), before, "nothing written");

    // suppress: their 6 new rows go, north's new rows stay.
    let run = anonymize(&env, "suppress.toml", &["--append"], "ds/", &d2);
    run.success();
    let s = json(&run);
    assert_eq!(s["rows_read"], 8);
    assert_eq!(s["rows_written"], 2);
    let p = &s["privacy"];
    assert_eq!(p["suppressed_rows"], 6);
    assert_eq!(p["suppressed_classes"], 2);
    assert_eq!(p["k"], 4);
    assert_eq!(p["dataset"]["earlier_rows"], 6);
    assert_eq!(p["dataset"]["new_rows"], 2);
    let classes = accounts_per_region(&env);
    assert_eq!(classes.keys().collect::<Vec<_>>(), ["north"]);
    assert_eq!(classes["north"].len(), 4);
    env.run(["dataset", "ds/"]).success();
}

#[test]
fn issue17_rows_suppressed_earlier_stay_out_and_a_class_can_be_released_later() {
    let env = setup(3);
    // Generation 1: east has one customer, suppressed.
    let d1 = day(
        &env,
        "d1.csv",
        &[("north", 1), ("north", 2), ("north", 3), ("east", 101)],
    );
    let s = json(anonymize(&env, "suppress.toml", &[], "ds/", &d1).success());
    assert_eq!(s["privacy"]["suppressed_rows"], 2);
    // Generation 2: three new east customers reach min_k on their own; the
    // earlier east rows are not read again (their input is not re-read).
    let d2 = day(
        &env,
        "d2.csv",
        &[("east", 102), ("east", 103), ("east", 104)],
    );
    let s = json(anonymize(&env, "suppress.toml", &["--append"], "ds/", &d2).success());
    assert_eq!(s["rows_written"], 6);
    assert_eq!(s["privacy"]["suppressed_rows"], 0);
    assert_eq!(s["privacy"]["k"], 3);
    let classes = accounts_per_region(&env);
    assert_eq!(classes["east"].len(), 3, "account 101 stays suppressed");
    assert_eq!(classes["north"].len(), 3);
    // Appending generation 1's input again adds nothing (same content).
    let s = json(anonymize(&env, "suppress.toml", &["--append"], "ds/", &d1).success());
    assert_eq!(s["rows_written"], 0);
    assert_eq!(accounts_per_region(&env)["east"].len(), 3);
}

#[test]
fn issue17_old_rows_below_min_k_after_an_erasure_fail_the_append_unless_new_rows_lift_them() {
    let env = setup(3);
    let d1 = day(
        &env,
        "d1.csv",
        &[
            ("north", 1),
            ("north", 2),
            ("north", 3),
            ("south", 4),
            ("south", 5),
            ("south", 6),
        ],
    );
    // Erasing one customer leaves north with 2 (released rows below min_k).
    for (gate, ds) in [("fail.toml", "dsf/"), ("suppress.toml", "ds/")] {
        anonymize(&env, gate, &[], ds, &d1).success();
        env.run([
            "erase",
            "--schema",
            gate,
            "--key-file",
            "k.key",
            "--column",
            "acct",
            "700001",
            ds,
        ])
        .success();
    }
    // A day without north: its 4 released rows would stay below min_k and an
    // append cannot remove them: fail in both modes, nothing written.
    let d2 = day(&env, "d2.csv", &[("south", 7)]);
    for (gate, ds) in [("fail.toml", "dsf/"), ("suppress.toml", "ds/")] {
        let before = snapshot(&env.path(ds));
        let run = anonymize(&env, gate, &["--append"], ds, &d2);
        run.exit(2)
            .stderr_has("4 row(s) of earlier generations in 1 class(es) with fewer than [privacy].min_k = 3")
            .stderr_has("cannot suppress them: nothing was written");
        assert_eq!(snapshot(&env.path(ds)), before, "{gate}");
    }
    // A new north customer lifts the class back to 3: the append passes.
    let d3 = day(&env, "d3.csv", &[("north", 8), ("south", 7)]);
    let s = json(anonymize(&env, "suppress.toml", &["--append"], "ds/", &d3).success());
    assert_eq!(s["rows_written"], 4);
    assert_eq!(s["privacy"]["k"], 3);
    assert_eq!(s["privacy"]["dataset"]["earlier_rows"], 10);
    let classes = accounts_per_region(&env);
    assert_eq!(classes["north"].len(), 3);
    assert_eq!(classes["south"].len(), 4);
}

#[test]
fn issue17_append_with_a_search_is_refused_before_anything_is_read() {
    let env = setup(3);
    let d1 = day(&env, "d1.csv", &[("north", 1), ("north", 2), ("north", 3)]);
    anonymize(&env, "suppress.toml", &[], "ds/", &d1).success();
    env.write(
        "search.toml",
        entity_schema(3, "suppress")
            .replace(
                "entity = \"acct_token\"\n",
                "entity = \"acct_token\"\nsearch = \"auto\"\nmax_suppression = 0.5\n",
            )
            .replace("quasi = true\n", "quasi = true\nremovable = true\n"),
    );
    anonymize(&env, "search.toml", &["--append"], "ds/", &d1)
        .exit(2)
        .stderr_has("--append with [privacy] search = \"auto\" is not supported");
}
