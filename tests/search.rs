//! `[privacy] search = "auto"` through the real binary (issue 15): the
//! ladder syntax, the choice, fail-closed refusals, and the released file's
//! entity-k recomputed here. `tests/risk/search_bruteforce.py` checks the
//! choice against every node of the lattice independently.

mod common;

use std::collections::{HashMap, HashSet};

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use common::*;

/// A column as text (nulls as `None`), whatever its type.
fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name} missing"));
    let cast = arrow_cast::cast(col, &DataType::Utf8).unwrap();
    let s = cast.as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect()
}

fn demo_key() -> String {
    repo("data-samples/demo.key").display().to_string()
}

fn sample() -> String {
    repo("data-samples/transactions.csv").display().to_string()
}

fn search_schema() -> String {
    std::fs::read_to_string(repo("schemas/transactions-search.toml")).unwrap()
}

fn meta<'a>(kv: &'a [(String, String)], key: &str) -> &'a str {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("metadata {key} missing"))
}

/// Distinct non-null `entity` values per class, computed here.
fn class_sizes(batch: &RecordBatch, quasi: &[&str], entity: &str) -> Vec<u64> {
    let cols: Vec<Vec<Option<String>>> = quasi.iter().map(|q| texts(batch, q)).collect();
    let who = texts(batch, entity);
    let mut people: HashMap<Vec<Option<String>>, HashSet<String>> = HashMap::new();
    for row in 0..batch.num_rows() {
        let key = cols.iter().map(|c| c[row].clone()).collect();
        let set = people.entry(key).or_default();
        if let Some(w) = &who[row] {
            set.insert(w.clone());
        }
    }
    people.values().map(|s| s.len() as u64).collect()
}

/// `region` (kept, quasi, optionally removable) and `n` (bucket ladder),
/// k counted in distinct `acct_token` values.
fn planted_schema(max_suppression: f64, removable: bool) -> String {
    format!(
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [privacy]\nmin_k = 5\non_violation = \"suppress\"\nentity = \"acct_token\"\n\
         search = \"auto\"\nmax_suppression = {max_suppression}\n\
         [[columns]]\nname = \"acct\"\naction = \"tokenize\"\nas = \"id\"\noutput = \"acct_token\"\n\
         [[columns]]\nname = \"region\"\naction = \"keep\"\nquasi = true\nremovable = {removable}\n\
         [[columns]]\nname = \"n\"\ntype = \"int\"\naction = \"bucket\"\nwidth = [5, 50]\nquasi = true\n"
    )
}

fn run_planted(env: &TestEnv, schema: &str, out: &str) -> Run {
    env.run([
        "anonymize",
        "--schema",
        schema,
        "--key-file",
        "k.key",
        "--json",
        "--quiet",
        "-o",
        out,
        "in.csv",
    ])
}

#[test]
fn a_planted_one_customer_class_never_passes() {
    let env = TestEnv::new();
    env.write("in.csv", planted_csv());
    env.key("k.key", TEST_KEY_HEX);

    // No node can merge the lonely customer (region has no coarser level)
    // and suppressing its 20 of 30 rows exceeds 50 %: exit 2, nothing
    // written, the limit to relax named, no value shown.
    env.write("none.toml", planted_schema(0.5, false));
    run_planted(&env, "none.toml", "none.parquet")
        .exit(2)
        .stderr_has("[privacy].max_suppression = 0.5")
        .stderr_has("raise max_suppression")
        .stderr_has("nothing was written")
        .never_says("lonely")
        .never_says("north")
        .never_says("9999");
    assert!(
        env.files().iter().all(|f| !f.contains("none.parquet")),
        "no output, no temporary file: {:?}",
        env.files()
    );

    // With region removable, removing it is the only passing node.
    env.write("remove.toml", planted_schema(0.5, true));
    let run = run_planted(&env, "remove.toml", "remove.parquet");
    run.success();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let s = &summary["privacy"]["search"];
    assert_eq!(s["levels"][0]["name"], "remove", "{s}");
    assert_eq!(s["suppressed_rows"], 0);
    assert_eq!(s["k"], 7);
    let (out, kv) = read_all(&env.path("remove.parquet"));
    assert_eq!(out.num_rows(), 30);
    assert!(strings(&out, "region").iter().all(Option::is_none));
    assert_eq!(class_sizes(&out, &["region", "n"], "acct_token"), vec![7]);
    assert_eq!(meta(&kv, "txanon.privacy.search.node"), "1,1");
    assert_eq!(meta(&kv, "txanon.privacy.k"), "7");

    // Allowed to suppress 70 %, keeping region costs less (loss 2/3 < 1):
    // the lonely customer's 20 rows go, and every released class holds at
    // least five customers.
    env.write("keep.toml", planted_schema(0.7, true));
    let run = run_planted(&env, "keep.toml", "keep.parquet");
    run.success();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["privacy"]["search"]["suppressed_rows"], 20);
    let (out, _) = read_all(&env.path("keep.parquet"));
    assert_eq!(out.num_rows(), 10);
    assert!(strings(&out, "region")
        .iter()
        .all(|r| r.as_deref() == Some("north")));
    let sizes = class_sizes(&out, &["region", "n"], "acct_token");
    assert!(sizes.iter().all(|&k| k >= 5), "{sizes:?}");
}

#[test]
fn the_sample_search_is_reproducible_and_checked() {
    let env = TestEnv::new();
    env.write("search.toml", search_schema());
    let (key, input) = (demo_key(), sample());
    let mut figures = Vec::new();
    for (threads, out) in [("1", "t1.parquet"), ("2", "t2.parquet")] {
        let run = env.run([
            "anonymize",
            "--schema",
            "search.toml",
            "--key-file",
            &key,
            "--json",
            "--quiet",
            "--threads",
            threads,
            "--batch-rows",
            "257",
            "-o",
            out,
            &input,
        ]);
        run.success();
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let mut s = summary["privacy"]["search"].clone();
        assert!(s["search_seconds"].as_f64().unwrap() >= 0.0);
        s["search_seconds"] = serde_json::Value::Null;
        figures.push(s);
    }
    assert_eq!(figures[0], figures[1], "same choice for any thread count");
    assert_eq!(
        std::fs::read(env.path("t1.parquet")).unwrap(),
        std::fs::read(env.path("t2.parquet")).unwrap(),
        "--threads 1 and 2 give the same bytes"
    );
    let (out, kv) = read_all(&env.path("t1.parquet"));
    let quasi: Vec<&str> = meta(&kv, "txanon.privacy.quasi").split(',').collect();
    assert_eq!(quasi.len(), 5);
    let sizes = class_sizes(&out, &quasi, "account_token");
    assert!(sizes.iter().all(|&k| k >= 5), "{sizes:?}");
    let suppressed: u64 = meta(&kv, "txanon.privacy.search.suppressed_rows")
        .parse()
        .unwrap();
    assert_eq!(out.num_rows() as u64 + suppressed, 3000);
    assert!(suppressed as f64 <= 0.02 * 3000.0);
    assert_eq!(figures[0]["suppressed_rows"], suppressed);
    assert!(meta(&kv, "txanon.privacy.search.nodes_evaluated").ends_with(" of 144"));
    assert!(kv.iter().all(|(k, _)| !k.contains("seconds")));
    // check recomputes entity-k from the file (dates and numbers included);
    // the only violation is the demo key.
    let check = env.run(["check", "--schema", "search.toml", "t1.parquet"]);
    check
        .exit(1)
        .stdout_has("output.demo-key")
        .stdout_has("1 violation(s)");
    assert!(
        !check.stdout.contains("output.privacy.k"),
        "{}",
        check.stdout
    );
}

#[test]
fn ladder_schema_errors_name_the_fix() {
    let env = TestEnv::new();
    env.write("in.csv", planted_csv());
    env.key("k.key", TEST_KEY_HEX);
    let base = planted_schema(0.1, true);
    let cases = [
        (
            base.replace("search = \"auto\"\nmax_suppression = 0.1\n", ""),
            "to choose among them",
        ),
        (
            base.replace("max_suppression = 0.1\n", ""),
            "needs max_suppression",
        ),
        (
            base.replace("on_violation = \"suppress\"", "on_violation = \"fail\""),
            "it needs on_violation",
        ),
        (
            base.replace("max_suppression = 0.1", "max_suppression = 1.5"),
            "must be at least 0 and below 1",
        ),
        (
            base.replace("width = [5, 50]\nquasi = true", "width = [5, 50]"),
            "apply only to quasi = true columns",
        ),
        (
            base.replace("search = \"auto\"", "search = \"best\""),
            "[privacy].search = \"best\"",
        ),
        (
            base.replace(
                "[[columns]]\nname = \"n\"",
                "[[columns]]\nname = \"t\"\ntype = \"timestamp\"\naction = \"generalize\"\n\
                 to = [\"hour\", \"day\"]\nquasi = true\n[[columns]]\nname = \"n\"",
            ),
            "every level of a ladder must write the same type",
        ),
        (
            base.replace(
                "[[columns]]\nname = \"n\"",
                "[[columns]]\nname = \"ip\"\naction = \"truncate_ip\"\n\
                 prefix_v4 = [24, 16]\nprefix_v6 = [48]\nquasi = true\n[[columns]]\nname = \"n\"",
            ),
            "every ladder key lists one value per level",
        ),
        (
            base.replace("width = [5, 50]", "breaks = [[0, 5], 10]"),
            "or a list of such lists",
        ),
    ];
    for (i, (schema, needle)) in cases.iter().enumerate() {
        let name = format!("s{i}.toml");
        env.write(&name, schema);
        run_planted(&env, &name, "o.parquet")
            .exit(2)
            .stderr_has(needle);
        assert!(!env.path("o.parquet").exists());
    }
    // Single-level schemas keep their meaning: the same schema without
    // lists, removable or search loads.
    env.write(
        "plain.toml",
        base.replace("search = \"auto\"\nmax_suppression = 0.1\n", "")
            .replace("min_k = 5", "min_k = 1")
            .replace("removable = true\n", "")
            .replace("width = [5, 50]", "width = 5"),
    );
    run_planted(&env, "plain.toml", "plain.parquet").success();
}

#[test]
fn privacy_search_prints_the_frontier_and_writes_nothing() {
    let env = TestEnv::new();
    env.write("in.csv", planted_csv());
    env.key("k.key", TEST_KEY_HEX);
    env.write("keep.toml", planted_schema(0.7, true));
    let run = env.run([
        "privacy-search",
        "--schema",
        "keep.toml",
        "--key-file",
        "k.key",
        "--json",
        "in.csv",
    ]);
    run.success().never_says("lonely").never_says("9999");
    let f: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(f["nodes"], 4);
    assert_eq!(f["rows"], 30);
    // Passing: region kept with the lonely customer's 20 rows suppressed and
    // n at width 50 (at width 5 the north customers spread too thin), and
    // region removed with n at width 50 (7 customers, nothing suppressed).
    assert_eq!(f["passing"], 2);
    let front: Vec<String> = f["frontier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["levels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["level"].to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(front, vec!["0,1", "1,1"]);
    assert_eq!(f["chosen"]["levels"][0]["level"], 0);
    assert_eq!(f["chosen"]["suppressed_rows"], 20);
    // The same node as anonymize chooses.
    let a = run_planted(&env, "keep.toml", "keep.parquet");
    a.success();
    let summary: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(
        summary["privacy"]["search"]["levels"],
        f["chosen"]["levels"]
    );
    assert_eq!(summary["privacy"]["search"]["loss"], f["chosen"]["loss"]);

    // Text form, and exit 1 when no node passes; nothing written either way.
    env.write("none.toml", planted_schema(0.5, false));
    env.run([
        "privacy-search",
        "--schema",
        "none.toml",
        "--key-file",
        "k.key",
        "in.csv",
    ])
    .exit(1)
    .stdout_has("0 of 2 nodes reach min_k = 5 distinct acct_token values")
    .stdout_has("no node passes")
    .never_says("lonely");
    let mut files = env.files();
    files.sort();
    assert_eq!(
        files,
        vec!["in.csv", "k.key", "keep.parquet", "keep.toml", "none.toml"]
    );
}

#[test]
fn a_spilled_search_chooses_and_writes_the_same() {
    let env = TestEnv::new();
    let schema = search_schema();
    env.write("memory.toml", &schema);
    // Fewer in-memory pairs than the sample has (2,994): about 430 runs
    // of 7 pairs, merged on disk.
    env.write(
        "spill.toml",
        schema.replace(
            "max_suppression = 0.02",
            "max_suppression = 0.02\nmax_search_pairs = 7",
        ),
    );
    let (key, input) = (demo_key(), sample());
    let mut outs = Vec::new();
    for (schema, out) in [("memory.toml", "m.parquet"), ("spill.toml", "s.parquet")] {
        let run = env.run([
            "anonymize",
            "--schema",
            schema,
            "--key-file",
            &key,
            "--json",
            "--quiet",
            "-o",
            out,
            &input,
        ]);
        run.success();
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let mut s = summary["privacy"]["search"].clone();
        s["search_seconds"] = serde_json::Value::Null;
        let (batch, kv) = read_all(&env.path(out));
        let kv: Vec<(String, String)> = kv
            .into_iter()
            .filter(|(k, _)| k != "txanon.schema.sha256")
            .collect();
        outs.push((s, batch, kv));
    }
    assert_eq!(outs[0].0, outs[1].0, "same node, loss and counts");
    assert_eq!(outs[0].1, outs[1].1, "same rows");
    assert_eq!(outs[0].2, outs[1].2, "same footer but the schema hash");
    // No spill file is left (their names are removed as they are made).
    assert!(
        env.files().iter().all(|f| !f.contains("txanon-spill")),
        "{:?}",
        env.files()
    );
}

/// Spill files are mode 0600, have no name while the run holds them, and
/// nothing is left after a SIGKILL in the middle of the search.
#[cfg(target_os = "linux")]
#[test]
fn spill_files_are_private_and_nameless_even_under_kill_9() {
    use std::fmt::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let mut csv = String::from("acct,region,n\n");
    for i in 0..400_000u64 {
        let _ = writeln!(csv, "{},r{},{}", i % 50_000, i % 7, (i * 7919) % 1000);
    }
    env.write("in.csv", csv);
    env.key("k.key", TEST_KEY_HEX);
    env.write(
        "s.toml",
        planted_schema(0.5, true).replace(
            "max_suppression = 0.5",
            "max_suppression = 0.5\nmax_search_pairs = 1000",
        ),
    );
    // Under a heavily loaded test machine the poller can be starved for a
    // whole run (a second of CPU): a run that ends before a spill descriptor
    // was seen is tried again, up to three times; a run that fails is never
    // retried.
    let mut seen = None;
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let mut child = env
            .command()
            .args([
                "anonymize",
                "--schema",
                "s.toml",
                "--key-file",
                "k.key",
                "--quiet",
                "-o",
                "out.parquet",
                "in.csv",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let fds = format!("/proc/{}/fd", child.id());
        let root = std::fs::canonicalize(env.path(""))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let started = std::time::Instant::now();
        let mut exited = None;
        while seen.is_none() && started.elapsed() < std::time::Duration::from_secs(120) {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            for e in std::fs::read_dir(&fds).into_iter().flatten().flatten() {
                let Ok(target) = std::fs::read_link(e.path()) else {
                    continue;
                };
                let t = target.to_string_lossy().into_owned();
                // An `O_TMPFILE` spill shows as "DIR/#INODE (deleted)"; the
                // fallback as "DIR/.txanon-spill-PID-N (deleted)".
                if t.starts_with(&root) && t.ends_with(" (deleted)") {
                    let mode = std::fs::metadata(e.path())
                        .map(|m| m.permissions().mode() & 0o777)
                        .unwrap_or(0);
                    seen = Some((t, mode));
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if seen.is_some() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            exited.is_some_and(|s| s.success()),
            "the run ended without spilling: {exited:?}, stderr: {stderr}"
        );
        attempts.push(format!("{exited:?}"));
        let _ = std::fs::remove_file(env.path("out.parquet"));
    }
    let (target, mode) =
        seen.unwrap_or_else(|| panic!("no spill descriptor seen in 3 runs: {attempts:?}"));
    assert!(target.ends_with(" (deleted)"), "{target}");
    assert_eq!(mode, 0o600, "{target}");
    let mut files = env.files();
    files.sort();
    assert_eq!(files, vec!["in.csv", "k.key", "s.toml"]);
}

/// Customers with Chinese addresses in known cities: (account, address,
/// province, city level as txanon writes it). Zhejiang's 5 customers are
/// split over three cities (2 + 2 + 1), Beijing (a municipality: its own
/// province at both levels) holds 5; every customer has 3 rows.
const REGION_CUSTOMERS: [(&str, &str, &str, &str); 10] = [
    (
        "A1",
        "浙江省杭州市西湖区文三路 100 号",
        "浙江省",
        "浙江省杭州市",
    ),
    (
        "A2",
        "浙江省杭州市上城区解放路 8 号",
        "浙江省",
        "浙江省杭州市",
    ),
    (
        "A3",
        "浙江省宁波市海曙区中山西路 2 号",
        "浙江省",
        "浙江省宁波市",
    ),
    (
        "A4",
        "浙江省宁波市江北区人民路 66 号",
        "浙江省",
        "浙江省宁波市",
    ),
    (
        "A5",
        "浙江省温州市鹿城区五马街 9 号",
        "浙江省",
        "浙江省温州市",
    ),
    ("B1", "北京市朝阳区建国路 1 号", "北京市", "北京市"),
    ("B2", "北京市海淀区中关村大街 27 号", "北京市", "北京市"),
    ("B3", "北京市东城区王府井大街 5 号", "北京市", "北京市"),
    ("B4", "北京市西城区金融大街 3 号", "北京市", "北京市"),
    ("B5", "北京市丰台区南三环西路 16 号", "北京市", "北京市"),
];

fn region_csv() -> String {
    let mut csv = String::from("txn,acct,addr\n");
    for (i, (acct, addr, _, _)) in REGION_CUSTOMERS.iter().enumerate() {
        for r in 0..3 {
            csv.push_str(&format!("T{i}{r},{acct},\"{addr}\"\n"));
        }
    }
    csv
}

fn region_schema(privacy: &str, to: &str) -> String {
    format!(
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [privacy]\nmin_k = 5\nentity = \"acct_token\"\n{privacy}\n\
         [[columns]]\nname = \"txn\"\naction = \"keep\"\n\
         [[columns]]\nname = \"acct\"\naction = \"tokenize\"\nas = \"id\"\noutput = \"acct_token\"\n\
         [[columns]]\nname = \"addr\"\naction = \"tokenize\"\nas = \"address\"\noutput = \"addr_token\"\n\
         derive = [{{ kind = \"address_region\", output = \"region\", quasi = true, {to} }}]\n"
    )
}

/// txn -> (province, city level) from the table above, independently of txanon.
fn expected_regions() -> HashMap<String, (&'static str, &'static str)> {
    let mut m = HashMap::new();
    for (i, (_, _, province, city)) in REGION_CUSTOMERS.iter().enumerate() {
        for r in 0..3 {
            m.insert(format!("T{i}{r}"), (*province, *city));
        }
    }
    m
}

#[test]
fn address_region_ladder_raises_cities_to_provinces() {
    let env = TestEnv::new();
    env.write("in.csv", region_csv());
    env.key("k.key", TEST_KEY_HEX);
    let expected = expected_regions();
    let search = "on_violation = \"suppress\"\nsearch = \"auto\"\nmax_suppression = 0.1";

    // Every city of Zhejiang holds fewer than 5 customers: keeping cities
    // suppresses its 15 of 30 rows (over 10 %); the province level merges
    // them into one class of 5 and costs less than removing the column.
    env.write(
        "search.toml",
        region_schema(search, "to = [\"city\", \"province\"], removable = true"),
    );
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = format!("search{threads}.parquet");
        let run = env.run([
            "anonymize",
            "--schema",
            "search.toml",
            "--key-file",
            "k.key",
            "--json",
            "--quiet",
            "--threads",
            threads,
            "-o",
            &out,
            "in.csv",
        ]);
        run.success().never_says("杭州").never_says("文三路");
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let s = &summary["privacy"]["search"];
        assert_eq!(s["levels"][0]["name"], "province", "{s}");
        assert_eq!(s["levels"][0]["level"], 1, "{s}");
        assert_eq!(s["suppressed_rows"], 0, "{s}");
        assert_eq!(s["k"], 5, "{s}");
        outputs.push(std::fs::read(env.path(&out)).unwrap());
    }
    assert_eq!(outputs[0], outputs[1], "same bytes for --threads 1 and 2");
    let (out, kv) = read_all(&env.path("search1.parquet"));
    assert_eq!(out.num_rows(), 30);
    assert_eq!(meta(&kv, "txanon.privacy.search.node"), "1");
    let txns = strings(&out, "txn");
    let regions = strings(&out, "region");
    for (t, r) in txns.iter().zip(&regions) {
        let want = expected[t.as_deref().unwrap()].0;
        assert_eq!(r.as_deref(), Some(want), "row {t:?}");
    }
    let mut sizes = class_sizes(&out, &["region"], "acct_token");
    sizes.sort();
    assert_eq!(sizes, vec![5, 5]);

    let anonymize = |schema: &str, out: &str| {
        env.run([
            "anonymize",
            "--schema",
            schema,
            "--key-file",
            "k.key",
            "--quiet",
            "-o",
            out,
            "in.csv",
        ])
    };

    // The two levels pinned by one value write what the table says, and the
    // pinned province level is the search's output column, value for value.
    for (to, city_level) in [("to = \"city\"", true), ("to = \"province\"", false)] {
        env.write(
            "pinned.toml",
            region_schema("", to).replace("min_k = 5", "min_k = 1"),
        );
        anonymize("pinned.toml", "pinned.parquet").success();
        let (pinned, _) = read_all(&env.path("pinned.parquet"));
        std::fs::remove_file(env.path("pinned.parquet")).unwrap();
        for (t, r) in strings(&pinned, "txn")
            .iter()
            .zip(strings(&pinned, "region"))
        {
            let (province, city) = expected[t.as_deref().unwrap()];
            let want = if city_level { city } else { province };
            assert_eq!(r.as_deref(), Some(want), "{to}, row {t:?}");
        }
        if !city_level {
            assert_eq!(strings(&pinned, "region"), regions);
        }
    }

    // Misdeclared levels are refused with the fix named.
    let not_quasi =
        region_schema(search, "to = [\"city\", \"province\"]").replace("quasi = true, ", "");
    for (schema, needle) in [
        (
            region_schema(search, "to = [\"province\", \"city\"]"),
            "(finest first)",
        ),
        (
            region_schema(search, "to = \"county\""),
            "must be \"city\", \"province\"",
        ),
        (not_quasi, "apply only to quasi = true outputs"),
    ] {
        env.write("bad.toml", schema);
        anonymize("bad.toml", "bad.parquet")
            .exit(2)
            .stderr_has(needle);
        assert!(!env.path("bad.parquet").exists());
    }
}
