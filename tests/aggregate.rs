//! `txanon aggregate`: differentially private counts and sums (issue 19).
//!
//! The binary for what a user sees (files, ledger, refusals, messages); the
//! library for the true pre-noise figures (contribution bounding) and for
//! hundreds of releases (the noise distribution), which the command line
//! cannot reach.

mod common;

use std::path::{Path, PathBuf};

use arrow_array::{Array, Decimal128Array, Int64Array, StringArray};
use common::{read_all, repo, TestEnv, TEST_KEY_HEX};
use txanon::aggregate::spec::AggregateSpec;
use txanon::aggregate::{release, Accumulator};
use txanon::key::MasterKey;
use txanon::pipeline::{observe, AnonymizeOptions, SilentReporter};
use txanon::schema::Schema;

const HEADER: &str = "txn_id,created_at,account_id,customer_name,id_card,mobile,email,home_address,shipping_address,birth_date,amount,currency,merchant_id,channel,is_refund,item_count,ip_address";

/// One valid row of the sample's layout.
fn row(n: u64, month: u32, account: u64, channel: &str, amount: &str, items: u32) -> String {
    format!(
        "T{n:016},2009-{month:02}-15 17:41:31,{account},王琳红,110105198905144463,133-5705-1240,\
         a{account}@163.com,北京市 朝阳区 黄河路 210 号,北京市 朝阳区 黄河路 210 号,1989-05-14,\
         {amount},CNY,M{n:08},{channel},false,{items},222.22.209.82"
    )
}

fn csv(rows: &[String]) -> String {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s
}

fn spec_text(group_by: &str, extra: &str, measures: &str) -> String {
    format!(
        "[release]\nname = \"t\"\nentity = \"account_token\"\ngroup_by = {group_by}\n{extra}\n{measures}"
    )
}

const COUNT_AND_SUM: &str =
    "[[measure]]\nkind = \"count\"\n[[measure]]\nkind = \"count_distinct\"\n\
    [[measure]]\nkind = \"sum\"\ncolumn = \"amount\"\nlower = 0\nupper = 100\n";

fn schema() -> Schema {
    Schema::load(&repo("schemas/transactions-aggregate.toml")).unwrap()
}

/// The bounded, pre-noise totals of `data` under `spec` (library only).
fn totals(
    env: &TestEnv,
    data: &str,
    spec: &Path,
) -> Vec<(Vec<String>, txanon::aggregate::bound::GroupTotals)> {
    let schema = schema();
    let spec = AggregateSpec::load(spec, &schema).unwrap();
    let input = env.write("in.csv", data);
    let key = MasterKey::from_hex(TEST_KEY_HEX).unwrap();
    let opts = AnonymizeOptions::new(vec![input], PathBuf::new());
    let mut acc = Accumulator::new(&spec, env.path("").as_path());
    observe(&schema, &key, &opts, &SilentReporter, &mut acc).unwrap();
    acc.finish().unwrap().totals()
}

#[test]
fn one_customer_with_10000_rows_moves_any_count_by_at_most_the_bounds() {
    let env = TestEnv::new();
    let spec = env.write(
        "s.toml",
        spec_text(
            "[\"created_month\", \"channel\"]",
            "epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 3\nmax_rows_per_group = 4",
            COUNT_AND_SUM,
        ),
    );
    let channels = ["web", "pos", "wap", "client"];
    let mut base = Vec::new();
    // 100 light customers, 4 rows each in one group: within the bounds, so
    // their totals do not depend on the reservoirs' draws.
    for i in 0..400u64 {
        let c = i / 4;
        base.push(row(
            i,
            1 + (c % 12) as u32,
            2088000000000000 + c,
            channels[(c % 4) as usize],
            "12.50",
            1,
        ));
    }
    let mut heavy = base.clone();
    for i in 0..10_000u64 {
        // One customer, every month and channel, amounts far above the clamp.
        heavy.push(row(
            10_000 + i,
            1 + (i % 12) as u32,
            2088999999999999,
            channels[(i % 4) as usize],
            "5000.00",
            1,
        ));
    }
    let without = totals(&env, &csv(&base), &spec);
    let with = totals(&env, &csv(&heavy), &spec);
    let find = |t: &[(Vec<String>, _)], k: &Vec<String>| t.iter().position(|(x, _)| x == k);
    let mut changed = 0;
    for (key, w) in &with {
        let before = find(&without, key)
            .map(|i| without[i].1.clone())
            .unwrap_or_default();
        let (dr, de) = (w.rows - before.rows, w.entities - before.entities);
        let ds = w.sums[0] - before.sums.first().copied().unwrap_or(0);
        assert!((0..=4).contains(&dr), "{key:?}: rows moved by {dr}");
        assert!((0..=1).contains(&de), "{key:?}: entities moved by {de}");
        assert!(
            (0..=4 * 10_000).contains(&ds),
            "{key:?}: the sum moved by {ds} cents"
        );
        if dr != 0 || de != 0 || ds != 0 {
            changed += 1;
        }
    }
    assert_eq!(
        changed, 3,
        "the customer touches exactly max_groups_per_entity groups"
    );
    // Nothing within the bounds is lost.
    assert_eq!(without.iter().map(|(_, t)| t.rows).sum::<i64>(), 400);
    assert_eq!(
        without.iter().map(|(_, t)| t.sums[0]).sum::<i64>(),
        400 * 12_50
    );
}

#[test]
fn the_sample_release_is_typed_with_its_privacy_figures_in_the_footer_and_the_ledger() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let out = env.path("agg.parquet");
    let run = env.run([
        "aggregate",
        "--schema",
        repo("schemas/transactions-aggregate.toml")
            .to_str()
            .unwrap(),
        "--spec",
        repo("schemas/aggregate-monthly.toml").to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--new-ledger",
        "--manifest",
        env.path("agg.manifest.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--csv",
        env.path("agg.csv").to_str().unwrap(),
        "--json",
        repo("data-samples/transactions.csv").to_str().unwrap(),
    ]);
    run.success()
        .stderr_has("epsilon = 1")
        .stderr_has("2856 group(s)");
    let (batch, meta) = read_all(&out);
    // 84 months x 34 provinces, every public group present.
    assert_eq!(batch.num_rows(), 84 * 34);
    assert!(batch
        .column_by_name("customers")
        .unwrap()
        .as_any()
        .is::<Int64Array>());
    let spend = batch.column_by_name("spend").unwrap();
    assert!(spend.as_any().is::<Decimal128Array>());
    let regions = batch.column_by_name("home_region").unwrap();
    let regions = regions.as_any().downcast_ref::<StringArray>().unwrap();
    assert!(regions
        .iter()
        .all(|r| r.is_some_and(|r| r.ends_with('市') || r.ends_with('省') || r.ends_with("区"))));
    let report = meta
        .iter()
        .find(|(k, _)| k == "txanon.aggregate")
        .map(|(_, v)| v)
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    assert_eq!(report["epsilon"], 1.0);
    assert_eq!(report["demo_key"], false);
    assert_eq!(report["delta"], 0.0);
    assert_eq!(report["label"], "differentially private aggregate");
    // customers: 12 groups x 1 entity / 0.5; spend: 12 x 5 x 1000.00 CNY / 0.5 (in cents).
    assert_eq!(report["measures"][0]["mechanisms"][0]["scale"], 24.0);
    assert_eq!(
        report["measures"][1]["mechanisms"][0]["scale"],
        12_000_000.0
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json, report);
    // The manifest: in the footer and in --manifest, the same.
    let manifest = &meta
        .iter()
        .find(|(k, _)| k == "txanon.aggregate.manifest")
        .unwrap()
        .1;
    let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
    let text = std::fs::read_to_string(env.path("agg.manifest.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file, manifest);
    let sha = |p: &Path| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    assert_eq!(
        manifest["inputs"][0]["sha256"],
        sha(&repo("data-samples/transactions.csv"))
    );
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 1);
    assert_eq!(
        manifest["spec"]["sha256"],
        sha(&repo("schemas/aggregate-monthly.toml"))
    );
    assert_eq!(
        manifest["schema"]["sha256"],
        sha(&repo("schemas/transactions-aggregate.toml"))
    );
    assert_eq!(
        manifest["key_fingerprint"],
        MasterKey::from_hex(TEST_KEY_HEX).unwrap().fingerprint()
    );
    assert_eq!(manifest["token_context"], "");
    assert_eq!(manifest["demo_key"], false);
    assert_eq!(manifest["privacy"], report);
    assert_eq!(manifest["ledger"]["releases"], 1);
    assert_eq!(manifest["ledger"]["epsilon_spent"], 1.0);
    assert_eq!(manifest["ledger"]["max_epsilon"], 3.0);
    assert!(manifest["ledger"]["path"]
        .as_str()
        .unwrap()
        .ends_with("k.key.dp-ledger.json"));
    // No group key and no count of rows or bytes (not differentially private).
    for absent in ["北京市", "2009-06-01", "\"rows", "\"bytes"] {
        assert!(!text.contains(absent), "{absent} in the manifest:\n{text}");
    }
    let ledger = std::fs::read_to_string(env.path("k.key.dp-ledger.json")).unwrap();
    assert!(ledger.contains("monthly-customers-and-spend-by-region") && ledger.contains("\"mac\""));
    assert_eq!(
        std::fs::read_to_string(env.path("agg.csv"))
            .unwrap()
            .lines()
            .count(),
        84 * 34 + 1
    );
}

fn channel_spec(env: &TestEnv, budget: &str) -> PathBuf {
    env.write(
        "s.toml",
        spec_text(
            "[\"channel\"]",
            &format!("epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1\n{budget}"),
            "[[measure]]\nkind = \"count_distinct\"\n",
        ),
    )
}

/// 300 customers on the web, 2 at the point of sale.
fn web_and_pos() -> String {
    let mut rows = Vec::new();
    for i in 0..300u64 {
        rows.push(row(i, 3, 2088000000000000 + i, "web", "1.00", 1));
    }
    for i in 0..2u64 {
        rows.push(row(1000 + i, 3, 2088100000000000 + i, "pos", "1.00", 1));
    }
    csv(&rows)
}

/// One release under `k.key`, starting its ledger when there is none yet
/// (the refusal of a missing ledger has its own test).
fn aggregate(env: &TestEnv, spec: &Path, input: &Path, out: &str) -> common::Run {
    let new = !env.path("k.key.dp-ledger.json").exists();
    aggregate_with(env, spec, input, out, new.then_some("--new-ledger"))
}

fn aggregate_with(
    env: &TestEnv,
    spec: &Path,
    input: &Path,
    out: &str,
    flag: Option<&str>,
) -> common::Run {
    aggregate_inputs(env, spec, &[input], out, flag)
}

fn aggregate_inputs(
    env: &TestEnv,
    spec: &Path,
    inputs: &[&Path],
    out: &str,
    flag: Option<&str>,
) -> common::Run {
    let key = env.key("k.key", TEST_KEY_HEX);
    env.run(
        [
            "aggregate",
            "--schema",
            repo("schemas/transactions-aggregate.toml")
                .to_str()
                .unwrap(),
            "--spec",
            spec.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
            "-o",
            env.path(out).to_str().unwrap(),
        ]
        .into_iter()
        .chain(flag)
        .chain(inputs.iter().map(|p| p.to_str().unwrap())),
    )
}

#[test]
fn groups_below_the_selection_threshold_are_absent() {
    let env = TestEnv::new();
    let spec = channel_spec(&env, "");
    let input = env.write("in.csv", web_and_pos());
    aggregate(&env, &spec, &input, "a.parquet")
        .success()
        .stderr_has("partition selection: threshold");
    let (batch, meta) = read_all(&env.path("a.parquet"));
    let channels = batch.column_by_name("channel").unwrap();
    let channels = channels.as_any().downcast_ref::<StringArray>().unwrap();
    // pos (2 customers) is far below the threshold; web (300) far above it.
    assert_eq!(channels.iter().collect::<Vec<_>>(), [Some("web")]);
    let report = &meta
        .iter()
        .find(|(k, _)| k == "txanon.aggregate")
        .unwrap()
        .1;
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    let threshold = report["selection"]["threshold"].as_i64().unwrap();
    assert!(threshold > 2 + 10, "threshold {threshold}");
    let released = batch.column_by_name("entities").unwrap();
    let released = released.as_any().downcast_ref::<Int64Array>().unwrap();
    assert!(released.value(0) >= threshold);
}

#[test]
fn a_release_over_budget_is_refused_and_writes_nothing() {
    let env = TestEnv::new();
    let spec = channel_spec(&env, "[budget]\nmax_epsilon = 1.5\nmax_delta = 1e-5\n");
    let input = env.write("in.csv", web_and_pos());
    aggregate(&env, &spec, &input, "first.parquet").success();
    let ledger = env.path("k.key.dp-ledger.json");
    let before = std::fs::read(&ledger).unwrap();
    aggregate(&env, &spec, &input, "second.parquet")
        .exit(2)
        .stderr_has("only 0.5 of max_epsilon = 1.5 is left")
        .stderr_has("nothing was written");
    assert!(!env.path("second.parquet").exists());
    assert_eq!(
        std::fs::read(&ledger).unwrap(),
        before,
        "the ledger is unchanged"
    );
    assert!(
        !env.files().iter().any(|f| f.contains("txanon-tmp")),
        "{:?}",
        env.files()
    );
}

/// Deleting the ledger must not reset the spent budget: a missing ledger is
/// refused unless `--new-ledger` starts one, which is refused where a
/// ledger exists.
#[test]
fn a_missing_ledger_is_refused_unless_started_and_new_ledger_never_replaces_one() {
    let env = TestEnv::new();
    let spec = channel_spec(&env, "[budget]\nmax_epsilon = 1.5\nmax_delta = 1e-5\n");
    let input = env.write("in.csv", web_and_pos());
    let ledger = env.path("k.key.dp-ledger.json");
    let refused_missing = |run: common::Run, out: &str| {
        run.exit(2)
            .stderr_has("k.key.dp-ledger.json does not exist")
            .stderr_has("--new-ledger")
            .stderr_has("nothing was written");
        assert!(!env.path(out).exists());
        assert!(!ledger.exists(), "no ledger is started silently");
    };
    refused_missing(
        aggregate_with(&env, &spec, &input, "a.parquet", None),
        "a.parquet",
    );
    aggregate_with(&env, &spec, &input, "a.parquet", Some("--new-ledger")).success();
    let before = std::fs::read(&ledger).unwrap();
    // Starting again over an existing ledger would reset it: refused.
    aggregate_with(&env, &spec, &input, "b.parquet", Some("--new-ledger"))
        .exit(2)
        .stderr_has("k.key.dp-ledger.json already exists")
        .stderr_has("drop --new-ledger");
    assert!(!env.path("b.parquet").exists());
    assert_eq!(std::fs::read(&ledger).unwrap(), before);
    // Deleted after a release: the next release is refused, not run
    // against a budget of zero spent.
    std::fs::remove_file(&ledger).unwrap();
    refused_missing(
        aggregate_with(&env, &spec, &input, "c.parquet", None),
        "c.parquet",
    );
}

/// With the published demo key a missing ledger is started (the README's
/// first command works), and the release says it was made with that key.
#[test]
fn a_demo_key_release_starts_its_ledger_and_is_labelled() {
    let env = TestEnv::new();
    let spec = channel_spec(&env, "");
    let input = env.write("in.csv", web_and_pos());
    let demo = repo("data-samples/demo.key");
    let ledger = env.path("demo.ledger.json");
    let run = |out: &str| {
        env.run([
            "aggregate",
            "--schema",
            repo("schemas/transactions-aggregate.toml")
                .to_str()
                .unwrap(),
            "--spec",
            spec.to_str().unwrap(),
            "--key-file",
            demo.to_str().unwrap(),
            "--ledger",
            ledger.to_str().unwrap(),
            "--json",
            "-o",
            env.path(out).to_str().unwrap(),
            input.to_str().unwrap(),
        ])
    };
    let first = run("a.parquet");
    first.success().stderr_has("published demo key");
    assert!(ledger.exists());
    let json: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(json["demo_key"], true);
    let (_, meta) = read_all(&env.path("a.parquet"));
    let report = &meta
        .iter()
        .find(|(k, _)| k == "txanon.aggregate")
        .unwrap()
        .1;
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    assert_eq!(report["demo_key"], true);
    // The second release is entered in the same ledger.
    run("b.parquet").success();
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(text.matches("\"spec_sha256\"").count(), 2, "{text}");
}

#[test]
fn a_ledger_edited_without_the_key_is_refused() {
    let env = TestEnv::new();
    let spec = channel_spec(&env, "[budget]\nmax_epsilon = 1.5\nmax_delta = 1e-5\n");
    let input = env.write("in.csv", web_and_pos());
    aggregate(&env, &spec, &input, "first.parquet").success();
    let ledger = env.path("k.key.dp-ledger.json");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let edited = text.replace("\"max_epsilon\": 1.5", "\"max_epsilon\": 100.0");
    assert_ne!(edited, text);
    std::fs::write(&ledger, edited).unwrap();
    aggregate(&env, &spec, &input, "second.parquet")
        .exit(2)
        .stderr_has("MAC does not match");
    assert!(!env.path("second.parquet").exists());
}

#[test]
fn no_value_from_the_data_reaches_a_message() {
    let env = TestEnv::new();
    let canary_account = "2088777766665555";
    let mut rows = vec![row(1, 3, 2088777766665555, "web", "1.00", 1)];
    // A channel value only one customer has, and a bad amount.
    rows.push(row(2, 3, 2088000000000001, "CANARYCHANNEL", "1.00", 1));
    let spec = channel_spec(&env, "");
    let good = env.write("good.csv", csv(&rows));
    let run = aggregate(&env, &spec, &good, "a.parquet");
    run.success();
    for canary in [canary_account, "CANARYCHANNEL", "2088000000000001"] {
        run.never_says(canary);
    }
    rows.push(row(3, 3, 2088000000000002, "web", "CANARY9.99x", 1));
    let bad = env.write("bad.csv", csv(&rows));
    let run = aggregate(&env, &spec, &bad, "b.parquet");
    run.exit(2);
    for canary in [canary_account, "CANARYCHANNEL", "CANARY9.99x"] {
        run.never_says(canary);
    }
    assert!(!env.path("b.parquet").exists());
}

/// The per-entity records spill to unnamed files in the output's directory
/// (`src/aggregate/bound.rs`): nothing of them is left there after a
/// release, nor after a run that fails once rows have been spilled (the
/// second input has a bad amount; the first was read and spilled before).
#[test]
fn spill_files_leave_nothing_in_the_output_directory() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("out")).unwrap();
    let spec = channel_spec(&env, "");
    let first = env.write("first.csv", web_and_pos());
    aggregate(&env, &spec, &first, "out/a.parquet").success();
    assert_eq!(common::files_below(&env.path("out")), ["a.parquet"]);
    let mut rows = vec![row(1, 3, 2088000000000001, "web", "1.00", 1)];
    rows.push(row(2, 3, 2088000000000002, "web", "9.99x", 1));
    let bad = env.write("bad.csv", csv(&rows));
    aggregate_inputs(&env, &spec, &[&first, &bad], "out/b.parquet", None)
        .exit(2)
        .stderr_has("nothing was written");
    assert_eq!(common::files_below(&env.path("out")), ["a.parquet"]);
}

/// P(X = k) of the discrete Laplace distribution with `scale`.
fn discrete_laplace_pmf(k: i64, scale: f64) -> f64 {
    let p = (-1.0 / scale).exp();
    (1.0 - p) / (1.0 + p) * p.powi(k.unsigned_abs() as i32)
}

/// Pearson's chi-square of `noise` against the discrete Laplace(`scale`):
/// bins of width about scale / 2 (`k.div_euclid(width)`), the outer ones
/// open-ended and holding an expected count of at least 20. Returns
/// (statistic, bins).
fn chi_square(noise: &[i64], scale: f64) -> (f64, usize) {
    let n = noise.len() as f64;
    let p = (-1.0 / scale).exp();
    let width = (scale / 2.0).ceil().max(1.0) as i64;
    // P(X >= t) = p^t / (1 + p): the largest m with n P(X >= m w) >= 20.
    let mut m = 1i64;
    while n * p.powi(((m + 1) * width) as i32) / (1.0 + p) >= 20.0 {
        m += 1;
    }
    let bin = |k: i64| (k.div_euclid(width).clamp(-m, m - 1) + m) as usize;
    let nbins = (2 * m) as usize;
    let mut observed = vec![0f64; nbins];
    let mut expected = vec![0f64; nbins];
    for &x in noise {
        observed[bin(x)] += 1.0;
    }
    let reach = (m + 60) * width * 4;
    for k in -reach..=reach {
        expected[bin(k)] += discrete_laplace_pmf(k, scale) * n;
    }
    let stat = observed
        .iter()
        .zip(&expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    (stat, nbins)
}

/// The chi-square quantile at 1 - 1e-6 for `df` degrees of freedom
/// (Wilson-Hilferty, within 1 % of scipy.stats.chi2.isf(1e-6, df) for
/// df >= 5; z = 4.7534 is the normal quantile at 1 - 1e-6).
fn critical(df: usize) -> f64 {
    let d = df as f64;
    let z = 4.7534;
    d * (1.0 - 2.0 / (9.0 * d) + z * (2.0 / (9.0 * d)).sqrt()).powi(3)
}

/// Over 250 releases the noise of a count and of a sum follows the declared
/// discrete Laplace distribution: a chi-square test with a false-failure
/// rate of 1e-6 per measure; the same test rejects a scale 1.5x too large.
#[test]
fn over_250_releases_the_noise_follows_the_declared_distribution() {
    let env = TestEnv::new();
    let spec_path = env.write(
        "s.toml",
        spec_text(
            "[\"channel\"]",
            "epsilon = 1.0\nmax_groups_per_entity = 2\nmax_rows_per_group = 3\n\
             [keys]\nchannel = [\"web\", \"pos\", \"wap\", \"client\", \"none1\", \"none2\", \"none3\", \"none4\"]",
            "[[measure]]\nkind = \"count\"\n[[measure]]\nkind = \"sum\"\ncolumn = \"item_count\"\nlower = 0\nupper = 10\n",
        ),
    );
    let mut rows = Vec::new();
    for i in 0..200u64 {
        rows.push(row(
            i,
            1,
            2088000000000000 + i % 40,
            ["web", "pos"][(i % 2) as usize],
            "1.00",
            (i % 13) as u32,
        ));
    }
    let schema = schema();
    let spec = AggregateSpec::load(&spec_path, &schema).unwrap();
    let input = env.write("in.csv", csv(&rows));
    let key = MasterKey::from_hex(TEST_KEY_HEX).unwrap();
    let opts = AnonymizeOptions::new(vec![input], PathBuf::new());
    let mut acc = Accumulator::new(&spec, env.path("").as_path());
    observe(&schema, &key, &opts, &SilentReporter, &mut acc).unwrap();
    let acc = acc.finish().unwrap();
    let truth = acc.totals();
    let true_of = |channel: &str| {
        truth
            .iter()
            .find(|(k, _)| k[0] == channel)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let (mut counts, mut sums) = (Vec::new(), Vec::new());
    let (mut count_scale, mut sum_scale) = (0.0, 0.0);
    for _ in 0..250 {
        let r = release(&acc).unwrap();
        count_scale = r.report.measures[0].mechanisms[0].scale;
        sum_scale = r.report.measures[1].mechanisms[0].scale;
        let channel = r.batch.column_by_name("channel").unwrap();
        let channel = channel.as_any().downcast_ref::<StringArray>().unwrap();
        let rows = r.batch.column_by_name("rows").unwrap();
        let rows = rows.as_any().downcast_ref::<Int64Array>().unwrap();
        let sum = r.batch.column_by_name("sum_item_count").unwrap();
        let sum = sum.as_any().downcast_ref::<Decimal128Array>().unwrap();
        for i in 0..r.batch.num_rows() {
            let t = true_of(channel.value(i));
            counts.push(rows.value(i) - t.rows);
            sums.push(sum.value(i) as i64 - t.sums.first().copied().unwrap_or(0));
        }
    }
    // Sensitivities: 2 groups x 3 rows (count), x 10 (sum); epsilon 0.5 each.
    assert_eq!(count_scale, 12.0);
    assert_eq!(sum_scale, 120.0);
    assert_eq!(counts.len(), 2000);
    for (name, noise, scale) in [("count", &counts, count_scale), ("sum", &sums, sum_scale)] {
        let (stat, bins) = chi_square(noise, scale);
        let limit = critical(bins - 1);
        assert!(
            stat < limit,
            "{name}: chi-square {stat:.1} over {bins} bins >= {limit:.1}"
        );
        let (wrong, bins) = chi_square(noise, scale * 1.5);
        assert!(
            wrong > critical(bins - 1),
            "{name}: a 1.5x scale was not rejected ({wrong:.1})"
        );
    }
}

/// Public keys are cast to the group-by column's type when the spec is
/// loaded: a key that is not a value of that type (or not written as the
/// output writes it, so that no row could match it) and a `[keys]` entry of
/// the wrong shape are refused before any input is read (the input here does
/// not even exist), naming the spec file, the column and the entry.
#[test]
fn public_keys_that_cannot_be_the_columns_type_are_refused_at_load() {
    let env = TestEnv::new();
    let missing = env.path("never-read.csv");
    let head = "epsilon = 1.0\nmax_groups_per_entity = 1\nmax_rows_per_group = 1\n[keys]\n";
    let cases = [
        (
            "[\"created_month\"]",
            "created_month = [\"2009-01-01\", \"2009-13-01\"]",
            "[keys].created_month entry 2 (\"2009-13-01\") is not a Date32 value",
        ),
        (
            "[\"created_month\"]",
            "created_month = [\"2009-01-01\", \"January\"]",
            "[keys].created_month entry 2",
        ),
        (
            "[\"item_count\"]",
            "item_count = [1, \"2\", \"two\"]",
            "[keys].item_count entry 3 (\"two\") is not a Int64 value",
        ),
        (
            "[\"item_count\"]",
            "item_count = [\"1\", \"02\"]",
            "[keys].item_count entry 2 (\"02\") is written \"2\"",
        ),
        (
            "[\"channel\"]",
            "channel = [\"web\", 1.5]",
            "[keys].channel entry 2: a float is not a key",
        ),
        (
            "[\"channel\"]",
            "channel = \"web\"",
            "[keys].channel must be a list of keys",
        ),
        (
            "[\"channel\"]",
            "channel = { list = [\"web\"] }",
            "[keys].channel must be a list of keys",
        ),
        (
            "[\"channel\"]",
            "channel = { months = [\"2009-01\", \"2009-03\"] }",
            "needs a date column (Date32); channel is Utf8",
        ),
        (
            "[\"created_month\"]",
            "created_month = { months = [\"2009-01\"] }",
            "[keys].created_month must be a list of keys",
        ),
        (
            "[\"channel\"]",
            "channel = []",
            "[keys].channel is an empty list",
        ),
    ];
    for (i, (group_by, keys, message)) in cases.iter().enumerate() {
        let name = format!("keys{i}.toml");
        let spec = env.write(
            &name,
            spec_text(
                group_by,
                &format!("{head}{keys}"),
                "[[measure]]\nkind = \"count\"\n",
            ),
        );
        aggregate(&env, &spec, &missing, "a.parquet")
            .exit(2)
            .stderr_has(&format!("aggregate spec {}", spec.display()))
            .stderr_has(message)
            .stderr_lacks("never-read.csv");
        assert!(!env.path("a.parquet").exists());
        assert!(!env.path("k.key.dp-ledger.json").exists());
    }
    // The same lists, written as the output writes them, are accepted.
    let input = env.write("in.csv", web_and_pos());
    let spec = env.write(
        "good.toml",
        spec_text(
            "[\"created_month\", \"item_count\"]",
            &format!("{head}created_month = [\"2009-03-01\"]\nitem_count = [1, \"2\"]"),
            "[[measure]]\nkind = \"count\"\n",
        ),
    );
    aggregate(&env, &spec, &input, "a.parquet").success();
    assert_eq!(read_all(&env.path("a.parquet")).0.num_rows(), 2);
}

/// A mean is over the rows that have a value: rows whose amount is null are
/// in `count` but not in the mean's denominator (nor its sum). With a large
/// epsilon the noise is a few cents, so the released mean is 10.00, not the
/// 5.00 of counting the null rows.
#[test]
fn a_mean_leaves_rows_with_a_null_value_out_of_its_denominator() {
    let env = TestEnv::new();
    let spec = env.write(
        "s.toml",
        spec_text(
            "[\"channel\"]",
            "epsilon = 3000.0\nmax_groups_per_entity = 1\nmax_rows_per_group = 1\n\
             [keys]\nchannel = [\"web\"]",
            "[[measure]]\nkind = \"count\"\n[[measure]]\nkind = \"mean\"\ncolumn = \"amount\"\n\
             lower = 0\nupper = 100\n",
        ),
    );
    let mut rows = Vec::new();
    for i in 0..200u64 {
        let amount = if i % 2 == 0 { "10.00" } else { "" };
        rows.push(row(i, 3, 2088000000000000 + i, "web", amount, 1));
    }
    let data = csv(&rows);
    let truth = totals(&env, &data, &spec);
    assert_eq!(truth.len(), 1);
    assert_eq!(truth[0].1.rows, 200);
    assert_eq!(truth[0].1.present, [100]);
    assert_eq!(truth[0].1.sums, [100 * 10_00]);
    let input = env.write("in.csv", &data);
    aggregate(&env, &spec, &input, "a.parquet").success();
    let (batch, _) = read_all(&env.path("a.parquet"));
    let count = batch.column_by_name("rows").unwrap();
    let count = count.as_any().downcast_ref::<Int64Array>().unwrap();
    assert!((count.value(0) - 200).abs() <= 2, "{}", count.value(0));
    let mean = batch.column_by_name("mean_amount").unwrap();
    let mean = mean
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    assert!((mean.value(0) - 10.0).abs() < 0.5, "mean {}", mean.value(0));
}

/// Clamping bounds are in the column's units and must fit its decimal
/// places: the refusal says what is wrong and how to fix it.
#[test]
fn clamping_bounds_that_do_not_fit_the_columns_decimal_places_are_explained() {
    let env = TestEnv::new();
    let input = env.write("in.csv", web_and_pos());
    let cases = [
        ("lower = 0\nupper = 0.125", "bound 0.125 has more decimal places than the column (2); write it with at most 2"),
        ("lower = 0\nupper = 1e14", "bound 100000000000000 is 1e16 in the column's minor units (2 decimal place(s)), more than the 1e15 a bound may be"),
        ("lower = 0\nupper = 1e14", "give the column fewer decimal places in the schema"),
    ];
    for (i, (bounds, message)) in cases.iter().enumerate() {
        let spec = env.write(
            &format!("b{i}.toml"),
            spec_text(
                "[\"channel\"]",
                "epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1",
                &format!("[[measure]]\nkind = \"sum\"\ncolumn = \"amount\"\n{bounds}\n"),
            ),
        );
        aggregate(&env, &spec, &input, "a.parquet")
            .exit(2)
            .stderr_has(message);
        assert!(!env.path("a.parquet").exists());
    }
}

#[test]
fn a_declaration_that_cannot_be_released_as_written_is_refused_before_reading() {
    let env = TestEnv::new();
    let input = env.write("in.csv", web_and_pos());
    let cases = [
        // No public list for channel, so partition selection needs a delta.
        (spec_text("[\"channel\"]", "epsilon = 1.0\nmax_groups_per_entity = 1\nmax_rows_per_group = 1", "[[measure]]\nkind = \"count\"\n"), "declare [release].delta"),
        // The entity must be a person's token, not a kept column.
        (spec_text("[\"channel\"]", "epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1", "[[measure]]\nkind = \"count\"\n").replace("entity = \"account_token\"", "entity = \"txn_id\""), "must be a tokenized column"),
        (spec_text("[\"nowhere\"]", "epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1", "[[measure]]\nkind = \"count\"\n"), "not an output column"),
        (spec_text("[\"channel\"]", "epsilon = 1.0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1", "[[measure]]\nkind = \"sum\"\ncolumn = \"amount\"\n"), "needs lower and upper"),
        (spec_text("[\"channel\"]", "epsilon = 0\ndelta = 1e-6\nmax_groups_per_entity = 1\nmax_rows_per_group = 1", "[[measure]]\nkind = \"count\"\n"), "epsilon must be a positive number"),
        (spec_text("[\"channel\"]", "epsilon = 1.0\nmax_groups_per_entity = 1\nmax_rows_per_group = 1\n[keys]\nchannel = [\"web\"]\nbirth_year = [\"1980-01-01\"]", "[[measure]]\nkind = \"count\"\n"), "[keys].birth_year is not a group_by column"),
        // A key listed twice would be released (and noised) twice.
        (spec_text("[\"channel\"]", "epsilon = 1.0\nmax_groups_per_entity = 1\nmax_rows_per_group = 1\n[keys]\nchannel = [\"web\", \"pos\", \"web\"]", "[[measure]]\nkind = \"count\"\n"), "[keys].channel lists one key twice (entries 1 and 3)"),
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let spec = env.write(&format!("bad{i}.toml"), text);
        aggregate(&env, &spec, &input, "a.parquet")
            .exit(2)
            .stderr_has(message);
        assert!(!env.path("a.parquet").exists());
        assert!(
            !env.path("k.key.dp-ledger.json").exists(),
            "nothing is entered in the ledger"
        );
    }
}
