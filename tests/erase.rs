//! Issue 17, part 2: `txanon erase` removes a customer's rows from a
//! dataset (atomically, rewriting only the part files that held them) or
//! from one Parquet file.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use txanon::key::MasterKey;
use txanon::schema::{Action, Schema};
use txanon::transform::normalize::{normalize, Normalized};
use txanon::transform::tokenize::Tokenizer;

/// The sample's first customer's mobile number, spelled as in the dump.
const PHONE: &str = "133-5705-1240";
/// Values of the sample's first record, which no message may contain.
const CANARIES: [&str; 4] = [
    PHONE,
    "wanglinhong703@163.com",
    "110105198905144463",
    "王琳红",
];

fn schema_path() -> PathBuf {
    repo("schemas/transactions.toml")
}

/// The token `anonymize` writes for `raw` in input column `column`, from
/// the library (normalize + HMAC under the test key).
fn token_of(column: &str, raw: &str) -> Option<String> {
    let schema = Schema::load(&schema_path()).unwrap();
    let key = MasterKey::from_hex(TEST_KEY_HEX).unwrap();
    let c = schema.column(column).unwrap();
    let Action::Tokenize {
        kind, namespace, ..
    } = &c.action
    else {
        panic!("not a token column")
    };
    let t = &schema.tokens;
    let tokenizer = Tokenizer::new(&key, &t.context, namespace, t.bits, t.encoding);
    match normalize(kind, raw) {
        Normalized::Value(v) => Some(tokenizer.token(&v)),
        _ => None,
    }
}

/// The sample's records: (the record's bytes with its line ending, fields).
fn records(text: &str) -> Vec<(String, Vec<String>)> {
    let bytes = text.as_bytes();
    let mut reader = csv_core::Reader::new();
    let (mut out, mut ends) = (vec![0u8; 1 << 16], vec![0usize; 64]);
    let (mut pos, mut start) = (0usize, 0usize);
    let mut found = Vec::new();
    loop {
        let (result, nin, _, nend) = reader.read_record(&bytes[pos..], &mut out, &mut ends);
        pos += nin;
        match result {
            csv_core::ReadRecordResult::Record => {
                let mut fields = Vec::new();
                let mut from = 0;
                for &end in &ends[..nend] {
                    fields.push(String::from_utf8(out[from..end].to_vec()).unwrap());
                    from = end;
                }
                found.push((text[start..pos].to_string(), fields));
                start = pos;
            }
            csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::InputEmpty if pos == bytes.len() => {
                let (result, _, _, nend) = reader.read_record(&[], &mut out, &mut ends);
                if matches!(result, csv_core::ReadRecordResult::Record) && nend > 1 {
                    panic!("last record without a line ending");
                }
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    found
}

/// The sample without the records whose `column` has the token `token`.
fn sample_without(env: &TestEnv, column: &str, token: &str) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    let recs = records(&text);
    let index = recs[0].1.iter().position(|h| h == column).unwrap();
    let mut out = String::new();
    let mut dropped = 0;
    for (i, (raw, fields)) in recs.iter().enumerate() {
        if i > 0 && token_of(column, &fields[index]).as_deref() == Some(token) {
            dropped += 1;
        } else {
            out.push_str(raw);
        }
    }
    (env.write("without.csv", out), dropped)
}

fn anonymize(env: &TestEnv, key: &Path, extra: &[&str], out: &str, input: &Path) {
    env.anonymize(&schema_path(), key, extra, out, input)
        .success();
}

/// A month-partitioned dataset `name` of the sample under the test key.
fn partitioned(env: &TestEnv, name: &str) -> PathBuf {
    let key = env.key("k.key", TEST_KEY_HEX);
    let part = ["--partition-by", "created_month"];
    anonymize(
        env,
        &key,
        &part,
        name,
        &repo("data-samples/transactions.csv"),
    );
    env.path(name)
}

fn erase_args(key: &str, extra: &[&str], target: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "erase".into(),
        "--schema".into(),
        schema_path().display().to_string(),
        "--key-file".into(),
        key.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(target.into());
    args
}

fn erase(env: &TestEnv, extra: &[&str], target: &str) -> Run {
    let run = env.run(erase_args("k.key", extra, target));
    for c in CANARIES {
        run.never_says(c);
    }
    run
}

/// `erase` with `input` on stdin.
fn erase_stdin(env: &TestEnv, key: &str, extra: &[&str], target: &str, input: &str) -> Run {
    let mut cmd = env.command();
    cmd.args(erase_args(key, extra, target))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        cmd: desc,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("_manifest.json")).unwrap()).unwrap()
}

/// Rows of a dataset (as `rows_of` prints them) whose `column` holds `token`.
fn rows_with(dir: &Path, column: &str, token: &str) -> usize {
    let cell = format!("|{token}");
    let (batches, _) = match parquet_below(dir).first() {
        Some(f) => read_parquet(&dir.join(f)),
        None => return 0,
    };
    let index = batches[0].schema().index_of(column).unwrap();
    rows_of(dir)
        .iter()
        .filter(|r| r.split('|').nth(index + 1) == Some(token) && r.contains(&cell))
        .count()
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn issue17_erase_by_phone_removes_exactly_that_customers_rows_and_rewrites_only_their_files() {
    let env = TestEnv::new();
    let ds = partitioned(&env, "ds");
    let token = token_of("mobile", PHONE).unwrap();
    let before_rows = rows_of(&ds);
    let before_files = snapshot(&ds);
    let before_manifest = manifest(&ds);
    let held = rows_with(&ds, "mobile_token", &token);
    assert!(held >= 2, "the customer recurs in the sample ({held} rows)");
    let inodes: BTreeMap<String, u64> = parquet_below(&ds)
        .into_iter()
        .map(|f| (f.clone(), inode(&ds.join(&f))))
        .collect();

    let run = erase(&env, &["--column", "mobile", PHONE], "ds/");
    run.success()
        .stdout_has(&format!("removed {held} of 3000 ({} left)", 3000 - held))
        .stdout_has("part files: 84 examined, ")
        .stdout_has("committed as generation 2 (erasure 1; was generation 1)");
    assert!(!run.stdout.contains(&token), "no token in the summary");

    // Zero rows hold the token; every other row is unchanged.
    assert_eq!(rows_with(&ds, "mobile_token", &token), 0);
    let after_rows = rows_of(&ds);
    let mut expected = before_rows.clone();
    expected.retain(|r| !r.split('|').any(|cell| cell == token));
    assert_eq!(expected.len(), 3000 - held);
    assert_eq!(after_rows, expected, "the other rows as a multiset");

    // Only files that held the customer are rewritten (new names); the
    // others are the same bytes and the same inode.
    let m = manifest(&ds);
    let rewritten: Vec<String> = parquet_below(&ds)
        .into_iter()
        .filter(|f| f.ends_with("-e00002.parquet"))
        .collect();
    assert!(!rewritten.is_empty());
    assert!(rewritten.len() <= held);
    assert_eq!(
        m["generations"][1]["erasure"]["files_rewritten"],
        rewritten.len()
    );
    assert_eq!(m["generations"][1]["erasure"]["rows_removed"], held);
    assert_eq!(m["generations"][1]["erasure"]["column"], "mobile_token");
    assert_eq!(m["rows"]["written"], 3000 - held);
    assert_eq!(m["rows"]["erased"], held);
    assert!(!serde_json::to_string(&m).unwrap().contains(&token));
    run.stdout_has(&format!("{} rewritten", rewritten.len()));
    let after: BTreeMap<String, Vec<u8>> = snapshot(&ds).into_iter().collect();
    for (f, bytes) in &before_files {
        if !f.ends_with(".parquet") {
            continue;
        }
        let renamed = f.replace(".parquet", "-e00002.parquet");
        if after.contains_key(&renamed) {
            assert!(!after.contains_key(f), "{f} replaced, not kept");
        } else {
            assert_eq!(after.get(f), Some(bytes), "{f} unchanged");
            assert_eq!(inode(&ds.join(f)), inodes[f], "{f}: same inode");
        }
    }
    // The earlier manifest is kept; the dataset verifies.
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ds.join("_manifests/00001.json")).unwrap()).unwrap();
    assert_eq!(kept, before_manifest);
    let status = env.run(["dataset", "ds/"]);
    status
        .success()
        .stdout_has("generation 2: erasure 1 by column mobile_token")
        .stdout_has(&format!(
            "consistent: 84 part file(s), {} rows",
            3000 - held
        ));
    // Nothing left beside the dataset but the lock file.
    let beside: Vec<String> = env
        .files()
        .into_iter()
        .filter(|f| f.starts_with(".ds"))
        .collect();
    assert_eq!(beside, [".ds.txanon-lock"]);

    // Each rewritten file is the file anonymize writes for the dump
    // without the customer's records (same settings, bloom filters,
    // footer metadata and types).
    let (without, dropped) = sample_without(&env, "mobile", &token);
    assert_eq!(dropped, held);
    let key = env.path("k.key");
    let part = ["--partition-by", "created_month"];
    anonymize(&env, &key, &part, "fresh", &without);
    for f in &rewritten {
        let original = f.replace("-e00002.parquet", ".parquet");
        assert_eq!(
            std::fs::read(ds.join(f)).unwrap(),
            std::fs::read(env.path("fresh").join(&original)).unwrap(),
            "{f} is what anonymize writes without the customer"
        );
    }
    assert_eq!(rows_of(&env.path("fresh")), after_rows);

    // A second erasure of the same customer finds nothing to do.
    erase(&env, &["--column", "mobile", PHONE], "ds/")
        .success()
        .stdout_has("removed 0 of")
        .stdout_has("nothing was changed");
    assert_eq!(manifest(&ds)["generation"], 2);
}

#[test]
fn issue17_erase_by_stdin_by_token_and_by_output_name_agree() {
    let env = TestEnv::new();
    let token = token_of("mobile", PHONE).unwrap();
    for (name, how) in [("a", 0), ("b", 1), ("c", 2)] {
        partitioned(&env, name);
        let target = format!("{name}/");
        let run = match how {
            // Two spellings of one number: one token.
            0 => erase_stdin(
                &env,
                "k.key",
                &["--column", "mobile", "--stdin"],
                &target,
                &format!("{PHONE}\n+86 133 5705 1240\r\n"),
            ),
            1 => erase(&env, &["--column", "mobile", "--token", &token], &target),
            _ => erase(
                &env,
                &["--column", "mobile_token", "--token", &token.to_uppercase()],
                &target,
            ),
        };
        run.success().stdout_has("1 distinct token(s)");
        for c in CANARIES {
            run.never_says(c);
        }
        assert_eq!(rows_with(&env.path(name), "mobile_token", &token), 0);
    }
    assert_eq!(rows_of(&env.path("a")), rows_of(&env.path("b")));
    assert_eq!(snapshot(&env.path("b")), snapshot(&env.path("c")));

    // A token of the wrong shape is refused without echoing it.
    let run = erase(&env, &["--column", "mobile", "--token", "abc123"], "a/");
    run.exit(2)
        .stderr_has("value 1 (argument 1): not a 128-bit hex token")
        .stderr_lacks("abc123");
}

#[test]
fn issue17_dry_run_reports_and_changes_nothing() {
    let env = TestEnv::new();
    let ds = partitioned(&env, "ds");
    let before = snapshot(&ds);
    let files_before = env.files();
    let run = erase(
        &env,
        &["--column", "mobile", "--dry-run", "--json", PHONE],
        "ds",
    );
    run.success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["files_examined"], 84);
    let removed = v["rows_removed"].as_u64().unwrap();
    assert!(removed >= 2);
    let listed = v["rewritten"].as_array().unwrap();
    assert_eq!(v["files_rewritten"], listed.len());
    let per_file: u64 = listed
        .iter()
        .map(|r| r["rows_before"].as_u64().unwrap() - r["rows_after"].as_u64().unwrap())
        .sum();
    assert_eq!(per_file, removed);
    assert_eq!(
        v["files_examined"].as_u64().unwrap(),
        v["files_read"].as_u64().unwrap()
            + v["files_skipped_by_bloom_filter"].as_u64().unwrap()
            + v["files_skipped_by_statistics"].as_u64().unwrap()
    );
    assert!(v["files_skipped_by_bloom_filter"].as_u64().unwrap() > 40);
    assert_eq!(snapshot(&ds), before);
    let mut files_after = env.files();
    files_after.retain(|f| f != ".ds.txanon-lock");
    assert_eq!(files_after, files_before);
}

#[test]
fn issue17_a_wrong_key_or_a_bad_value_changes_nothing_and_leaks_nothing() {
    let env = TestEnv::new();
    let ds = partitioned(&env, "ds");
    let before = snapshot(&ds);
    let other = "aa".repeat(32);
    env.key("other.key", &other);
    let ours = MasterKey::from_hex(TEST_KEY_HEX).unwrap().fingerprint();
    let theirs = MasterKey::from_hex(&other).unwrap().fingerprint();
    let run = env.run(erase_args(
        "other.key",
        &["--column", "mobile", PHONE],
        "ds/",
    ));
    run.exit(2)
        .stderr_has(&format!(
            "written with the key of fingerprint {ours}, this run has a key of fingerprint {theirs}"
        ))
        .stderr_has("nothing was read or changed");
    run.never_says(&other)
        .never_says(TEST_KEY_HEX)
        .never_says(PHONE);
    assert_eq!(snapshot(&ds), before);

    // Line 3 of stdin does not normalize: named by line, never shown.
    let canary = "0000-CANARY-98765";
    let run = erase_stdin(
        &env,
        "k.key",
        &["--column", "mobile", "--stdin"],
        "ds/",
        &format!("{PHONE}\n+86 133 5705 1240\n{canary}\n"),
    );
    run.exit(2).stderr_has("stdin line 3: invalid (");
    run.never_says(canary)
        .never_says("CANARY")
        .never_says(PHONE);
    assert_eq!(snapshot(&ds), before);

    // An argument: named by its position.
    let run = erase(&env, &["--column", "email", "a@example.com", canary], "ds/");
    run.exit(2).stderr_has("value 2 (argument 2): invalid (");
    run.never_says(canary);
    assert_eq!(snapshot(&ds), before);

    // A column that has no tokens, and a part file given instead of its dataset.
    erase(&env, &["--column", "amount", "1"], "ds/")
        .exit(2)
        .stderr_has("only tokenize columns have tokens");
    let part = parquet_below(&ds).remove(0);
    erase(&env, &["--column", "mobile", PHONE], &format!("ds/{part}"))
        .exit(2)
        .stderr_has("is a part file of the dataset");
    assert_eq!(snapshot(&ds), before);
}

#[test]
fn issue17_erase_from_a_single_file_replaces_it_and_records_the_erasure_in_its_footer() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    anonymize(
        &env,
        &key,
        &[],
        "out.parquet",
        &repo("data-samples/transactions.csv"),
    );
    let out = env.path("out.parquet");
    let token = token_of("mobile", PHONE).unwrap();
    let (before, kv_before) = read_all(&out);
    let held = strings(&before, "mobile_token")
        .iter()
        .filter(|t| t.as_deref() == Some(token.as_str()))
        .count();
    assert!(held >= 2);
    erase(&env, &["--column", "mobile", PHONE], "out.parquet")
        .success()
        .stdout_has(&format!("removed {held} of 3000"))
        .stdout_has("erasure 1 in its footer's txanon.erasures");
    let (after, kv) = read_all(&out);
    assert_eq!(after.num_rows(), 3000 - held);
    assert!(strings(&after, "mobile_token")
        .iter()
        .all(|t| t.as_deref() != Some(token.as_str())));
    assert_eq!(after.schema().fields(), before.schema().fields());
    // The footer: the same provenance, txanon.rows updated, the erasure recorded.
    let get =
        |kv: &[(String, String)], k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    for (k, v) in &kv_before {
        if k != "txanon.rows" {
            assert_eq!(get(&kv, k).as_ref(), Some(v), "{k}");
        }
    }
    assert_eq!(get(&kv, "txanon.rows"), Some((3000 - held).to_string()));
    let erasures: serde_json::Value =
        serde_json::from_str(&get(&kv, "txanon.erasures").unwrap()).unwrap();
    assert_eq!(
        erasures,
        serde_json::json!([{"erasure": 1, "column": "mobile_token", "rows_removed": held}])
    );
    // A second erasure (by e-mail) is numbered 2.
    erase(
        &env,
        &["--column", "email", "wanglinhong703@163.com"],
        "out.parquet",
    )
    .success()
    .stdout_has("erasure 2");
    let (_, kv) = read_all(&out);
    let erasures: serde_json::Value =
        serde_json::from_str(&get(&kv, "txanon.erasures").unwrap()).unwrap();
    assert_eq!(erasures.as_array().unwrap().len(), 2);
    let leftovers: Vec<String> = env
        .files()
        .into_iter()
        .filter(|f| f.contains("txanon-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn issue17_erased_datasets_are_identical_for_any_thread_count_and_append_still_works() {
    let env = TestEnv::new();
    for (name, threads) in [("one", "1"), ("two", "2")] {
        partitioned(&env, name);
        erase(
            &env,
            &["--column", "mobile", "--threads", threads, PHONE],
            &format!("{name}/"),
        )
        .success();
    }
    assert_eq!(snapshot(&env.path("one")), snapshot(&env.path("two")));

    // An append after an erasure: generation 3, and the dataset verifies.
    let day = env.write(
        "day.csv",
        std::fs::read_to_string(repo("data-samples/transactions.csv"))
            .unwrap()
            .replace("\nT", "\nD1T"),
    );
    let key = env.path("k.key");
    env.anonymize(&schema_path(), &key, &["--append"], "one/", &day)
        .success();
    let m = manifest(&env.path("one"));
    assert_eq!(m["generation"], 3);
    let left = 3000 - m["rows"]["erased"].as_u64().unwrap() + 3000;
    assert_eq!(m["rows"]["written"], left);
    env.run(["dataset", "one/"])
        .success()
        .stdout_has(&format!("{left} rows, as the manifest lists them"));
}

#[test]
fn issue17_a_tree_left_by_a_killed_erase_is_reported_and_removed_by_the_next() {
    let env = TestEnv::new();
    let ds = partitioned(&env, "ds");
    // No process has a PID above the kernel's limit (at most 2^22).
    let stale = env.path(".ds.txanon-tmp-4194399");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("_manifest.json"), "{}").unwrap();
    env.run(["dataset", "ds/"])
        .success()
        .stdout_has("left by an append or erase that was killed")
        .stdout_has("may hold the erased rows");
    // A dry run leaves it; a real erasure removes it, also when it finds
    // nothing to erase (the tree of a killed erasure holds the rows that
    // erasure removed, and re-running it finds none).
    erase(&env, &["--column", "mobile", PHONE, "--dry-run"], "ds/").success();
    assert!(stale.exists());
    erase(&env, &["--column", "mobile", "139 0000 0000"], "ds/").success();
    assert!(!stale.exists());
    std::fs::create_dir(&stale).unwrap();
    erase(&env, &["--column", "mobile", PHONE], "ds/").success();
    assert!(!stale.exists());
    assert!(ds.join("_manifest.json").is_file());
}

/// A token column cannot partition a dataset: its tokens would be directory
/// names, in every listing and manifest, and an erased customer's token
/// would stay in the paths. Refused before anything is written.
#[test]
fn issue17_a_token_column_cannot_partition_a_dataset() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    for column in ["account_token", "mobile_token"] {
        let run = env.anonymize(
            &schema_path(),
            &key,
            &["--partition-by", column],
            "ds/",
            &repo("data-samples/transactions.csv"),
        );
        run.exit(2)
            .stderr_has(&format!("--partition-by {column:?} is a token column"));
        for c in CANARIES {
            run.never_says(c);
        }
        assert_eq!(env.files(), vec!["k.key"], "{column}");
    }
    // A generalized column still partitions.
    anonymize(
        &env,
        &key,
        &["--partition-by", "created_month"],
        "ds/",
        &repo("data-samples/transactions.csv"),
    );
}
