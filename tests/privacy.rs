//! Quasi-identifier actions and the `[privacy]` gate, through the real binary
//! (issue 6): outputs read back, figures recomputed here independently of
//! `txanon::risk`, bad values never echoed.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use common::*;

fn private_schema() -> String {
    std::fs::read_to_string(repo("schemas/transactions-private.toml")).unwrap()
}

fn sample() -> String {
    repo("data-samples/transactions.csv").display().to_string()
}

fn demo_key() -> String {
    repo("data-samples/demo.key").display().to_string()
}

/// A column as text (nulls as `None`), the way analysts' tools print it.
fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col: &ArrayRef = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name} missing"));
    let cast = arrow_cast::cast(col, &DataType::Utf8).unwrap();
    let s = cast.as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect()
}

/// Distinct non-null `entity` values per class of the quasi-identifier
/// columns, computed here.
fn class_sizes(
    batch: &RecordBatch,
    quasi: &[&str],
    entity: &str,
) -> HashMap<Vec<Option<String>>, u64> {
    let cols: Vec<Vec<Option<String>>> = quasi.iter().map(|q| texts(batch, q)).collect();
    let who = texts(batch, entity);
    let mut people: HashMap<Vec<Option<String>>, HashSet<String>> = HashMap::new();
    for row in 0..batch.num_rows() {
        let key: Vec<Option<String>> = cols.iter().map(|c| c[row].clone()).collect();
        let set = people.entry(key).or_default();
        if let Some(w) = &who[row] {
            set.insert(w.clone());
        }
    }
    people
        .into_iter()
        .map(|(k, set)| (k, set.len() as u64))
        .collect()
}

fn meta<'a>(kv: &'a [(String, String)], key: &str) -> &'a str {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("metadata {key} missing"))
}

/// `anonymize --schema SCHEMA --key-file demo.key EXTRA... -o OUT` on the sample.
fn anonymize_sample(env: &TestEnv, schema: &str, out: &str, extra: &[&str]) -> Run {
    let (key, input) = (demo_key(), sample());
    let mut args = vec!["anonymize", "--schema", schema, "--key-file", &key];
    args.extend_from_slice(extra);
    args.extend(["-o", out, &input]);
    env.run(args)
}

/// `anonymize --schema SCHEMA --key-file k.key EXTRA... -o OUT in.csv`.
fn anonymize_in(env: &TestEnv, schema: &str, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["anonymize", "--schema", schema, "--key-file", "k.key"];
    args.extend_from_slice(extra);
    args.extend(["-o", out, "in.csv"]);
    env.run(args)
}

const QUASI: [&str; 3] = ["home_region", "age_band", "channel"];

#[test]
fn sample_private_schema_suppresses_exactly_the_small_classes() {
    let env = TestEnv::new();
    // Reference: the same schema with min_k = 1 keeps every row.
    let lenient = private_schema().replace("min_k = 5", "min_k = 1");
    env.write("lenient.toml", &lenient);
    env.write("private.toml", private_schema());
    anonymize_sample(&env, "lenient.toml", "all.parquet", &["--quiet"]).success();
    let run = anonymize_sample(&env, "private.toml", "out.parquet", &["--json", "--quiet"]);
    run.success();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let p = &summary["privacy"];

    let (all, _) = read_all(&env.path("all.parquet"));
    let sizes = class_sizes(&all, &QUASI, "account_token");
    let small: HashSet<&Vec<Option<String>>> = sizes
        .iter()
        .filter(|(_, &n)| n < 5)
        .map(|(k, _)| k)
        .collect();
    let expected_suppressed = {
        let cols: Vec<Vec<Option<String>>> = QUASI.iter().map(|q| texts(&all, q)).collect();
        (0..all.num_rows())
            .filter(|&r| small.contains(&cols.iter().map(|c| c[r].clone()).collect::<Vec<_>>()))
            .count() as u64
    };
    assert!(
        expected_suppressed > 0,
        "the sample must exercise suppression"
    );
    assert_eq!(p["suppressed_rows"], expected_suppressed);
    assert_eq!(p["suppressed_classes"], small.len() as u64);
    assert_eq!(summary["rows_read"], 3000);
    assert_eq!(summary["rows_written"], 3000 - expected_suppressed);
    // Per input, too: suppressed rows are not counted as written.
    let per_input: u64 = summary["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rows_written"].as_u64().unwrap())
        .sum();
    assert_eq!(per_input, 3000 - expected_suppressed);

    let (out, kv) = read_all(&env.path("out.parquet"));
    let out_sizes = class_sizes(&out, &QUASI, "account_token");
    let k_out = *out_sizes.values().min().unwrap();
    assert!(k_out >= 5);
    assert_eq!(p["k"], k_out);
    assert_eq!(meta(&kv, "txanon.privacy.k"), k_out.to_string());
    assert_eq!(meta(&kv, "txanon.privacy.min_k"), "5");
    assert_eq!(meta(&kv, "txanon.privacy.k_counts"), "entities");
    assert_eq!(meta(&kv, "txanon.privacy.entity"), "account_token");
    assert_eq!(p["k_counts"], "entities");
    assert_eq!(p["entity"], "account_token");
    assert_eq!(
        meta(&kv, "txanon.privacy.suppressed_rows"),
        expected_suppressed.to_string()
    );
    assert_eq!(
        meta(&kv, "txanon.privacy.quasi"),
        "home_region,age_band,channel"
    );
    assert_eq!(meta(&kv, "txanon.shift.spec"), "v1");
    assert!(meta(&kv, "txanon.privacy.unicity.p2")
        .parse::<f64>()
        .is_ok());
    assert!(meta(&kv, "txanon.privacy.unicity.p4")
        .parse::<f64>()
        .is_ok());

    // The kept rows are exactly the rows of the other classes, in order.
    let keep_ids: Vec<Option<String>> = {
        let ids = texts(&all, "txn_id");
        let cols: Vec<Vec<Option<String>>> = QUASI.iter().map(|q| texts(&all, q)).collect();
        (0..all.num_rows())
            .filter(|&r| {
                let key: Vec<Option<String>> = cols.iter().map(|c| c[r].clone()).collect();
                !small.contains(&key)
            })
            .map(|r| ids[r].clone())
            .collect()
    };
    assert_eq!(texts(&out, "txn_id"), keep_ids);

    // l-diversity of amount_band, recomputed.
    let bands = texts(&out, "amount_band");
    let cols: Vec<Vec<Option<String>>> = QUASI.iter().map(|q| texts(&out, q)).collect();
    let mut distinct: HashMap<Vec<Option<String>>, HashSet<Option<String>>> = HashMap::new();
    for (r, band) in bands.iter().enumerate() {
        let key: Vec<Option<String>> = cols.iter().map(|c| c[r].clone()).collect();
        distinct.entry(key).or_default().insert(band.clone());
    }
    let l = distinct.values().map(|s| s.len()).min().unwrap();
    assert_eq!(p["l_diversity"][0]["l"], l as u64);
    assert_eq!(meta(&kv, "txanon.privacy.l.amount_band"), l.to_string());

    // The text summary reports the same figures.
    let text = anonymize_sample(&env, "private.toml", "text.parquet", &[]);
    text.success()
        .stderr_has(&format!("suppressed {expected_suppressed} rows"))
        .stderr_has(&format!(
            "k = {k_out} (distinct account_token values) over (home_region, age_band, channel)"
        ))
        .stderr_has("unicity by account_token (seed 2010)");
}

#[test]
fn fail_exits_2_and_writes_nothing() {
    let env = TestEnv::new();
    env.write(
        "fail.toml",
        private_schema().replace("on_violation = \"suppress\"", "on_violation = \"fail\""),
    );
    let run = anonymize_sample(&env, "fail.toml", "out.parquet", &[]);
    run.exit(2)
        .stderr_has(
            "privacy gate: k = 1 (distinct account_token values) is below [privacy].min_k = 5",
        )
        .stderr_has("nothing was written");
    assert_eq!(
        env.files(),
        vec!["fail.toml".to_string()],
        "no output, no temp file"
    );
    // No value of a quasi-identifier is named.
    run.never_says("北京").never_says("[0, 40)");
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let env = TestEnv::new();
    env.write("private.toml", private_schema());
    for (threads, out) in [("1", "t1.parquet"), ("2", "t2.parquet")] {
        anonymize_sample(
            &env,
            "private.toml",
            out,
            &["--quiet", "--threads", threads, "--batch-rows", "257"],
        )
        .success();
    }
    assert_eq!(
        std::fs::read(env.path("t1.parquet")).unwrap(),
        std::fs::read(env.path("t2.parquet")).unwrap()
    );
}

#[test]
fn check_recomputes_k_and_fails_below_min_k() {
    let env = TestEnv::new();
    env.write("private.toml", private_schema());
    env.write(
        "lenient.toml",
        private_schema().replace("min_k = 5", "min_k = 1"),
    );
    anonymize_sample(&env, "lenient.toml", "all.parquet", &["--quiet"]).success();
    anonymize_sample(&env, "private.toml", "ok.parquet", &["--quiet"]).success();
    // Against its own schema the suppressed file passes the privacy checks.
    let finding = |run: &Run, rule: &str| -> serde_json::Value {
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule} finding in {}", run.stdout))
            .clone()
    };
    let ok = env.run([
        "check",
        "--schema",
        "private.toml",
        "--format",
        "json",
        "ok.parquet",
    ]);
    assert_eq!(finding(&ok, "output.privacy.k")["status"], "pass");
    assert_eq!(finding(&ok, "output.privacy.metadata")["status"], "pass");
    // The unsuppressed file, checked against the min_k = 5 schema, fails on k.
    let bad = env.run([
        "check",
        "--schema",
        "private.toml",
        "--format",
        "json",
        "all.parquet",
    ]);
    bad.exit(1);
    let k_finding = finding(&bad, "output.privacy.k");
    assert_eq!(k_finding["status"], "fail", "{k_finding}");
    assert!(k_finding["message"]
        .as_str()
        .unwrap()
        .starts_with("k = 1 (distinct account_token values) over"));
}

#[test]
fn shift_keeps_each_customers_order_and_gaps_and_matches_the_spec() {
    let env = TestEnv::new();
    env.write("private.toml", private_schema());
    anonymize_sample(&env, "private.toml", "out.parquet", &["--quiet"]).success();
    let (out, _) = read_all(&env.path("out.parquet"));
    let shifted = out
        .column_by_name("created_at_shifted")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
        .unwrap()
        .clone();
    let ids = texts(&out, "txn_id");

    // Originals and raw account ids, by txn_id, from a run that keeps them.
    let plain = private_schema()
        .replace(
            "action = \"shift\"\nby = \"account_id\"\nmax_days = 30\noutput = \"created_at_shifted\"",
            "action = \"keep\"\noutput = \"created_at_orig\"",
        )
        .replace(
            "action = \"tokenize\"\nas = \"id\"\nnamespace = \"account\"",
            "action = \"keep\"",
        );
    assert_ne!(plain, private_schema());
    env.write("plain.toml", &plain);
    anonymize_sample(&env, "plain.toml", "plain.parquet", &["--quiet"]).success();
    let (orig, _) = read_all(&env.path("plain.parquet"));
    let orig_ts = orig
        .column_by_name("created_at_orig")
        .expect("kept timestamp")
        .as_any()
        .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
        .unwrap()
        .clone();
    let accounts = texts(&orig, "account_token");
    let original: HashMap<String, (i64, String)> = texts(&orig, "txn_id")
        .into_iter()
        .enumerate()
        .map(|(r, id)| {
            (
                id.unwrap(),
                (orig_ts.value(r), accounts[r].clone().unwrap()),
            )
        })
        .collect();
    assert_eq!(original.len(), out.num_rows());
    let key = txanon::key::MasterKey::load(Some(std::path::Path::new(&demo_key())))
        .unwrap()
        .0;
    let shifter = txanon::transform::shift::Shifter::new(&key, "", 30);
    let mut offsets: BTreeMap<String, i64> = BTreeMap::new();
    for (row, id) in ids.iter().enumerate() {
        let (orig, account) = &original[id.as_ref().unwrap()];
        let delta = shifted.value(row) - orig;
        assert_eq!(delta % 86_400_000_000, 0, "whole days");
        let days = delta / 86_400_000_000;
        assert!((-30..=30).contains(&days));
        // The offset is the spec's, from the account's normalized id.
        assert_eq!(
            days,
            shifter.offset_days(account.trim()),
            "account row {row}"
        );
        // One offset per customer: order and gaps within a customer survive.
        let prev = offsets.entry(account.clone()).or_insert(days);
        assert_eq!(*prev, days);
    }
    let distinct: HashSet<i64> = offsets.values().copied().collect();
    assert!(
        offsets.len() > 200 && distinct.len() > 40,
        "{}",
        distinct.len()
    );
}

/// A small CSV exercising every new action, good and bad values side by side.
const ACTIONS_CSV: &str = "\
id,card,amount,price,score,ip,birth,paid_at,email,mobile,addr
c1,6222021234561234,1234,1234.56,0.0123,222.22.209.82,1980-06-15,2010-06-14 10:00:00,Li.Wei@163.COM,138 0013 8000,浙江省 杭州市 西湖区 文三路 123 号
c2,1234,-5,0.05,17.5,2001:db8:abcd:12::1,1920-01-01,2010-06-15 10:00:00,boss@Acme-Widgets.DE,+44 7431 500880,\"1364 CEDAR LN., APT 11B, AUSTIN, TX 78701\"
";

const ACTIONS_SCHEMA: &str = r#"
[dataset]
name = "actions"
version = 1
[[columns]]
name = "id"
action = "keep"
[[columns]]
name = "card"
action = "mask"
keep_last = 4
[[columns]]
name = "amount"
type = "int"
action = "bucket"
width = 100
[[columns]]
name = "price"
type = "decimal(8,2)"
action = "bucket"
breaks = [0, 0.1, 100]
labels = true
[[columns]]
name = "score"
type = "float"
action = "bucket"
round = 2
[[columns]]
name = "ip"
action = "truncate_ip"
[[columns]]
name = "birth"
type = "date"
action = "age"
at_column = "paid_at"
top = 80
breaks = [0, 18, 65]
labels = true
[[columns]]
name = "paid_at"
type = "timestamp"
format = "%Y-%m-%d %H:%M:%S"
action = "age"
at = "2020-01-01"
output = "paid_years_ago"
[[columns]]
name = "email"
action = "tokenize"
as = "email"
derive = [{ kind = "email_domain", output = "domain" }, { kind = "email_domain", output = "domain_all", values = ["acme-widgets.de"] }]
[[columns]]
name = "mobile"
action = "tokenize"
as = "phone"
region = "CN"
derive = [{ kind = "phone_region", output = "mobile_region" }]
[[columns]]
name = "addr"
action = "tokenize"
as = "address"
derive = [{ kind = "address_region", output = "region", values = ["tx"] }]
"#;

#[test]
fn every_new_action_writes_the_documented_values() {
    let env = TestEnv::new();
    env.write("in.csv", ACTIONS_CSV);
    env.write("s.toml", ACTIONS_SCHEMA);
    env.key("k.key", TEST_KEY_HEX);
    anonymize_in(&env, "s.toml", "o.parquet", &[]).success();
    let (out, _) = read_all(&env.path("o.parquet"));
    let col = |n: &str| texts(&out, n);
    let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
    assert_eq!(col("card"), s(&["************1234", "****"]));
    assert_eq!(
        out.column_by_name("amount").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(col("amount"), s(&["1200", "-100"]));
    assert_eq!(col("price"), s(&["[100, inf)", "[0, 0.1)"]));
    assert_eq!(
        out.column_by_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(col("score"), s(&["0.012", "18.0"]));
    assert_eq!(col("ip"), s(&["222.22.209.0/24", "2001:db8:abcd::/48"]));
    // 29 the day before the 30th birthday; 90 capped to top = 80.
    assert_eq!(col("birth"), s(&["[18, 65)", "[65, inf)"]));
    assert_eq!(col("paid_years_ago"), s(&["9", "9"]));
    assert_eq!(col("domain"), s(&["163.com", "*.de"]));
    assert_eq!(col("domain_all"), s(&["163.com", "acme-widgets.de"]));
    assert_eq!(col("mobile_region"), s(&["+86 138", "+44"]));
    assert_eq!(col("region"), s(&["浙江省杭州市", "tx"]));
    let names: Vec<String> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "card",
            "amount",
            "price",
            "score",
            "ip",
            "birth",
            "paid_years_ago",
            "email",
            "domain",
            "domain_all",
            "mobile",
            "mobile_region",
            "addr",
            "region"
        ]
    );
}

#[test]
fn bad_values_of_each_new_action_are_named_never_echoed() {
    // (column, type, action keys, canary value, rule fragment)
    let cases = [
        (
            "d",
            "date",
            "action = \"shift\"\nby = \"who\"\nmax_days = 30",
            "CANARY-DATE-5511",
            "date: does not match",
        ),
        (
            "d",
            "int",
            "action = \"bucket\"\nwidth = 10",
            "CANARY-AMT-5512",
            "bucket: not a number",
        ),
        (
            "d",
            "int",
            "action = \"bucket\"\nbreaks = [0, 10]",
            "-99551300",
            "bucket: below the first break",
        ),
        (
            "d",
            "string",
            "action = \"truncate_ip\"",
            "CANARY-IP-5514",
            "truncate_ip: not an IPv4 or IPv6 address",
        ),
        (
            "d",
            "date",
            "action = \"age\"\nat = \"2010-12-31\"",
            "CANARY-BD-5515",
            "date: does not match",
        ),
        (
            "d",
            "date",
            "action = \"age\"\nat = \"2000-01-01\"",
            "2009-05-16",
            "age: birth date after the reference date",
        ),
    ];
    for (col, ty, keys, canary, rule) in cases {
        let env = TestEnv::new();
        env.write("in.csv", format!("who,{col}\nW-CANARY-OK,{canary}\n"));
        env.write(
            "s.toml",
            format!(
                "[dataset]\nname = \"t\"\nversion = 1\n[[columns]]\nname = \"who\"\naction = \"drop\"\n\
                 [[columns]]\nname = \"{col}\"\ntype = \"{ty}\"\n{keys}\n"
            ),
        );
        env.key("k.key", TEST_KEY_HEX);
        let run = anonymize_in(&env, "s.toml", "o.parquet", &[]);
        run.exit(2)
            .stderr_has(&format!("in.csv:2: {col}: {rule}"))
            .never_says(canary)
            .never_says("W-CANARY-OK");
        assert!(!env.path("o.parquet").exists(), "{rule}");
        // With on_invalid = "null" the value is nulled and counted, never passed.
        env.write(
            "n.toml",
            std::fs::read_to_string(env.path("s.toml"))
                .unwrap()
                .replace(
                    &format!("type = \"{ty}\"\n"),
                    &format!("type = \"{ty}\"\non_invalid = \"null\"\n"),
                ),
        );
        let run = anonymize_in(&env, "n.toml", "n.parquet", &["--json"]);
        run.success().never_says(canary);
        let (out, _) = read_all(&env.path("n.parquet"));
        assert_eq!(texts(&out, col), vec![None], "{rule}");
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(summary["columns"][1]["invalid"], 1, "{rule}");
    }
}

#[test]
fn a_shift_without_a_valid_entity_is_never_passed_through() {
    let env = TestEnv::new();
    env.write(
        "in.csv",
        "who,d\n,2009-05-16\nN/A,2009-05-17\n138 0013 8000,2009-05-18\n",
    );
    env.write(
        "s.toml",
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [[columns]]\nname = \"who\"\naction = \"tokenize\"\nas = \"phone\"\nregion = \"CN\"\n\
         [[columns]]\nname = \"d\"\ntype = \"date\"\naction = \"shift\"\nby = \"who\"\nmax_days = 30\non_invalid = \"null\"\n",
    );
    env.key("k.key", TEST_KEY_HEX);
    anonymize_in(&env, "s.toml", "o.parquet", &[])
        .success()
        .never_says("2009-05-1");
    let (out, kv) = read_all(&env.path("o.parquet"));
    let d = texts(&out, "d");
    assert_eq!(&d[..2], &[None, None]);
    let key = txanon::key::MasterKey::from_hex(TEST_KEY_HEX).unwrap();
    let off = txanon::transform::shift::Shifter::new(&key, "", 30).offset_days("+8613800138000");
    let expected =
        chrono::NaiveDate::from_ymd_opt(2009, 5, 18).unwrap() + chrono::Duration::days(off);
    assert_eq!(d[2].as_deref(), Some(expected.to_string().as_str()));
    assert_eq!(meta(&kv, "txanon.shift.spec"), "v1");
    // Without on_invalid = "null" the first such row stops the run.
    env.write(
        "e.toml",
        std::fs::read_to_string(env.path("s.toml"))
            .unwrap()
            .replace("on_invalid = \"null\"\n", ""),
    );
    anonymize_in(&env, "e.toml", "e.parquet", &[])
        .exit(2)
        .stderr_has("in.csv:2: d: shift: the by column has no valid entity value on this row");
}

#[test]
fn privacy_schema_errors_name_the_key() {
    let base =
        "[dataset]\nname = \"t\"\nversion = 1\n[[columns]]\nname = \"a\"\naction = \"keep\"\n";
    let cases = [
        (format!("{base}quasi = true\n"), "no [privacy] table"),
        (
            format!("[privacy]\nmin_k = 5\n{base}"),
            "at least one column marked quasi",
        ),
        (
            format!("[privacy]\nmin_k = 0\n{base}quasi = true\n"),
            "[privacy].min_k = 0",
        ),
        (
            format!("[privacy]\nmin_k = 5\non_violation = \"warn\"\n{base}quasi = true\n"),
            "on_violation",
        ),
        (
            format!("[privacy]\nmin_k = 5\nentity = \"nope\"\n{base}quasi = true\n"),
            "[privacy].entity = \"nope\"",
        ),
        (
            format!("[privacy]\nmin_k = 5\n{base}quasi = true\n"),
            "[privacy] needs entity",
        ),
        (
            format!("{base}quasi = true\nsensitive = true\n[privacy]\nmin_k = 2\n"),
            "both quasi and sensitive",
        ),
    ];
    for (text, needle) in cases {
        let env = TestEnv::new();
        env.write("s.toml", &text);
        env.write("in.csv", "a\nx\n");
        env.key("k.key", TEST_KEY_HEX);
        anonymize_in(&env, "s.toml", "o.parquet", &[])
            .exit(2)
            .stderr_has(needle);
    }
}

#[test]
fn an_age_without_a_reference_date_is_named_never_echoed() {
    let env = TestEnv::new();
    env.write(
        "in.csv",
        "born,paid\n1980-06-15,CANARY-PAID-7781\n1980-06-15,\n1979-01-02,2010-01-01\n",
    );
    env.write(
        "s.toml",
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [[columns]]\nname = \"born\"\ntype = \"date\"\naction = \"age\"\nat_column = \"paid\"\n\
         [[columns]]\nname = \"paid\"\ntype = \"date\"\naction = \"drop\"\n",
    );
    env.key("k.key", TEST_KEY_HEX);
    anonymize_in(&env, "s.toml", "o.parquet", &[])
        .exit(2)
        .stderr_has("in.csv:2: born: age: the at_column value is missing or does not parse")
        .never_says("CANARY-PAID")
        .never_says("1980-06-15");
    anonymize_in(&env, "s.toml", "o.parquet", &["--max-bad-rows", "2"])
        .success()
        .never_says("CANARY-PAID");
    let (out, _) = read_all(&env.path("o.parquet"));
    assert_eq!(texts(&out, "born"), vec![Some("30".to_string())]);
}

#[test]
fn one_customers_twenty_rows_never_pass_min_k_5() {
    let env = TestEnv::new();
    env.write("in.csv", planted_csv());
    env.key("k.key", TEST_KEY_HEX);
    env.write("fail.toml", entity_schema(5, "fail"));
    env.write("suppress.toml", entity_schema(5, "suppress"));
    env.write("lenient.toml", entity_schema(1, "fail"));

    // fail: exit 2, nothing written, the figure counts the one customer.
    anonymize_in(&env, "fail.toml", "f.parquet", &[])
        .exit(2)
        .stderr_has("k = 1 (distinct acct_token values) is below [privacy].min_k = 5")
        .stderr_has("20 row(s) in 1 class(es) with fewer than 5 distinct acct_token values")
        .never_says("lonely")
        .never_says("9999");
    assert!(!env.path("f.parquet").exists());
    assert!(
        env.files().iter().all(|f| !f.contains("f.parquet")),
        "{:?}",
        env.files()
    );

    // suppress: exactly the 20 rows go, whatever the thread count or batch size.
    let (_, input_rows) = {
        let csv = planted_csv();
        let lonely = csv.lines().filter(|l| l.contains(",lonely,")).count();
        (lonely, csv.lines().count() - 1)
    };
    for (threads, out) in [("1", "s1.parquet"), ("2", "s2.parquet")] {
        let run = anonymize_in(
            &env,
            "suppress.toml",
            out,
            &[
                "--json",
                "--quiet",
                "--threads",
                threads,
                "--batch-rows",
                "3",
            ],
        );
        run.success();
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let p = &summary["privacy"];
        assert_eq!(p["suppressed_rows"], 20);
        assert_eq!(p["suppressed_classes"], 1);
        assert_eq!(p["k"], 6);
        assert_eq!(summary["rows_written"], input_rows as u64 - 20);
    }
    assert_eq!(
        std::fs::read(env.path("s1.parquet")).unwrap(),
        std::fs::read(env.path("s2.parquet")).unwrap(),
        "--threads 1 and 2 give the same bytes with suppression"
    );
    let (out, kv) = read_all(&env.path("s1.parquet"));
    assert!(texts(&out, "region")
        .iter()
        .all(|r| r.as_deref() == Some("north")));
    assert_eq!(class_sizes(&out, &["region"], "acct_token").len(), 1);
    assert_eq!(meta(&kv, "txanon.privacy.k"), "6");
    assert_eq!(meta(&kv, "txanon.privacy.k_counts"), "entities");
    assert_eq!(meta(&kv, "txanon.privacy.entity"), "acct_token");
    assert_eq!(meta(&kv, "txanon.privacy.k_counted_up_to"), "1000");
    assert_eq!(meta(&kv, "txanon.privacy.null_entity_rows"), "0");

    // The file written without the gate fails `check` against min_k = 5:
    // check recomputes entity-k from the file itself.
    anonymize_in(&env, "lenient.toml", "all.parquet", &["--quiet"]).success();
    let (all, kv) = read_all(&env.path("all.parquet"));
    assert_eq!(all.num_rows(), input_rows);
    assert_eq!(meta(&kv, "txanon.privacy.k"), "1");
    env.run(["check", "--schema", "suppress.toml", "all.parquet"])
        .exit(1)
        .stdout_has("k = 1 (distinct acct_token values)");
    env.run(["check", "--schema", "suppress.toml", "s1.parquet"])
        .success();

    // The same rows with a footer from before k counted entities (no
    // k_counts, no entity): check says the footer's k is not the schema's.
    let (released, kv) = read_all(&env.path("s1.parquet"));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(
            kv.into_iter()
                .filter(|(k, _)| k != "txanon.privacy.k_counts" && k != "txanon.privacy.entity")
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k, v))
                .collect(),
        ))
        .build();
    let file = std::fs::File::create(env.path("old.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, released.schema(), Some(props)).unwrap();
    w.write(&released).unwrap();
    w.close().unwrap();
    env.run(["check", "--schema", "suppress.toml", "old.parquet"])
        .exit(1)
        .stdout_has("txanon.privacy.k_counts = (absent: k counted rows)");
}

#[test]
fn null_entities_never_lift_a_class() {
    // "north": 4 customers plus 30 rows with no account; "none": only rows
    // with no account. Neither may pass min_k = 5.
    let mut csv = String::from("acct,region,n\n");
    for i in 0..34 {
        if i < 4 {
            csv.push_str(&format!("2000{i},north,{i}\n"));
        } else {
            csv.push_str(&format!(",north,{i}\n"));
        }
        if i < 6 {
            csv.push_str(&format!(",none,{i}\n"));
        }
    }
    let env = TestEnv::new();
    env.write("in.csv", &csv);
    env.key("k.key", TEST_KEY_HEX);
    env.write("fail.toml", entity_schema(5, "fail"));
    env.write("suppress.toml", entity_schema(5, "suppress"));
    env.write("four.toml", entity_schema(4, "suppress"));
    anonymize_in(&env, "fail.toml", "f.parquet", &[])
        .exit(2)
        .stderr_has("k = 0 (distinct acct_token values)");
    assert!(!env.path("f.parquet").exists());
    // Suppression removes both classes: nothing is left, which is not a release.
    anonymize_in(&env, "suppress.toml", "s.parquet", &[]).exit(2);
    assert!(!env.path("s.parquet").exists());
    // min_k = 4: "north" has 4 customers (34 rows) and stays; "none" (k = 0) goes.
    let run = anonymize_in(&env, "four.toml", "o.parquet", &["--json", "--quiet"]);
    run.success();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let p = &summary["privacy"];
    assert_eq!((p["k"].as_u64(), p["rows"].as_u64()), (Some(4), Some(34)));
    assert_eq!(p["null_entity_rows"], 30);
    assert_eq!(
        (
            p["suppressed_rows"].as_u64(),
            p["suppressed_classes"].as_u64()
        ),
        (Some(6), Some(1))
    );
    let (out, kv) = read_all(&env.path("o.parquet"));
    assert_eq!(
        class_sizes(&out, &["region"], "acct_token")
            .values()
            .copied()
            .collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(meta(&kv, "txanon.privacy.null_entity_rows"), "30");
}

#[test]
fn entity_row_counts_rows_for_one_row_per_person_data() {
    let env = TestEnv::new();
    env.write("in.csv", planted_csv());
    env.key("k.key", TEST_KEY_HEX);
    env.write(
        "rows.toml",
        entity_schema(5, "fail").replace("entity = \"acct_token\"", "entity = \"row\""),
    );
    let run = anonymize_in(&env, "rows.toml", "o.parquet", &["--json", "--quiet"]);
    run.success();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["privacy"]["entity"], "row");
    assert!(summary["privacy"]["unicity"].is_null());
    let (_, kv) = read_all(&env.path("o.parquet"));
    assert_eq!(meta(&kv, "txanon.privacy.entity"), "row");
    assert_eq!(meta(&kv, "txanon.privacy.k"), "10");
}
