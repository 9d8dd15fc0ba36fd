//! The release report (issue 18) through the real binary: the page's figures
//! equal the footer, the manifest and `check --format json` on the same
//! release; no planted canary value, no released value of a kept text column
//! and no token of the file appears in it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

/// Values planted in the input: none may reach the page. The kept columns
/// (txn_id, merchant_id, currency) carry some of them into the release itself.
const CANARIES: [&str; 9] = [
    "TCANARY20090515",
    "Zebulon Canaryfield",
    "110105198905149999",
    "138-0013-9999",
    "canary.bird@163.com",
    "北京市 朝阳区 金丝雀路 77 号",
    "MCANARY9931",
    "XCY",
    "77.66.55.44",
];

/// The sample dump with canary rows (enough of them to survive min_k = 5).
fn sample_with_canaries(env: &TestEnv) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    for i in 0..6 {
        text.push_str(&format!(
            "{}{i},2009-05-15 17:41:31,2088185182619999,{},{},{},{},{},{},1989-05-14,64.60,{},{},pos,false,19,{}\n",
            CANARIES[0], CANARIES[1], CANARIES[2], CANARIES[3], CANARIES[4], CANARIES[5],
            CANARIES[5], CANARIES[7], CANARIES[6], CANARIES[8]
        ));
    }
    env.write("in.csv", text)
}

fn footer(path: &Path) -> Vec<(String, String)> {
    read_parquet(path).1
}

fn meta<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// 1234567 -> "1,234,567", as the page prints counts.
fn grouped(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A tile of the page: `<div class="l">LABEL</div><div class="v">VALUE</div>`.
fn tile<'a>(html: &'a str, label: &str) -> &'a str {
    let start = html
        .find(&format!("<div class=\"l\">{label}</div><div class=\"v\">"))
        .unwrap_or_else(|| panic!("tile {label} missing"));
    let rest = &html[start..];
    let v = rest.find("class=\"v\">").unwrap() + "class=\"v\">".len();
    let end = rest[v..].find("</div>").unwrap();
    &rest[v..v + end]
}

/// Every distinct text value of the release's columns (the part files of a
/// dataset too), split into tokens and other values.
fn released_values(
    files: &[std::path::PathBuf],
    token_columns: &[&str],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut tokens, mut others) = (BTreeSet::new(), BTreeSet::new());
    for f in files {
        let (batch, _) = read_all(f);
        for field in batch.schema().fields() {
            if *field.data_type() != arrow_schema::DataType::Utf8 {
                continue;
            }
            for v in strings(&batch, field.name()).into_iter().flatten() {
                if token_columns.contains(&field.name().as_str()) {
                    tokens.insert(v);
                } else {
                    others.insert(v);
                }
            }
        }
    }
    (tokens, others)
}

fn assert_leaks_nothing(
    html: &str,
    files: &[std::path::PathBuf],
    token_columns: &[&str],
    allowed: &[&str],
) {
    for c in CANARIES {
        assert!(!html.contains(c), "canary {c:?} in the report");
        let escaped = c.replace('&', "&amp;").replace('<', "&lt;");
        assert!(
            !html.contains(&escaped),
            "canary {c:?} (escaped) in the report"
        );
    }
    let (tokens, others) = released_values(files, token_columns);
    assert!(
        tokens.len() > 100,
        "the release must hold tokens to look for"
    );
    for t in &tokens {
        assert!(
            !html.contains(t.as_str()),
            "a token of the file is in the report"
        );
        // Any 12-character piece of a token would do as well.
        assert!(!html.contains(&t[..12]), "a token prefix is in the report");
    }
    // Kept text values (ids, merchants, masked or banded text) are not
    // shown either, except the generalized labels the test allows.
    for v in others.iter().filter(|v| v.chars().count() >= 6) {
        if allowed.contains(&v.as_str()) {
            continue;
        }
        assert!(
            !html.contains(v.as_str()),
            "released value {v:?} in the report"
        );
    }
    // Self-contained: no script, no external resource.
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!html.contains("https://"));
    assert!(html.contains("Content-Security-Policy"));
}

/// The figures `check --format json` recomputes from the file: k, and per p
/// (unique, eligible entities) of unicity.
fn check_figures(env: &TestEnv, schema: &str, file: &str) -> (u64, Vec<(u64, u64)>) {
    let run = env.run(["check", "--schema", schema, "--format", "json", file]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("check json");
    let checks = json["checks"].as_array().unwrap();
    let k_msg = checks
        .iter()
        .find(|c| c["rule"] == "output.privacy.k")
        .expect("check measures k")["message"]
        .as_str()
        .unwrap()
        .to_string();
    let k: u64 = k_msg
        .strip_prefix("k = ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("k in {k_msg:?}"));
    let unicity = checks
        .iter()
        .filter(|c| c["rule"] == "output.privacy.unicity")
        .map(|c| {
            let unique = c["count"].as_u64().unwrap();
            let rate = c["rate"].as_f64().unwrap();
            let eligible = if rate > 0.0 {
                (unique as f64 / rate).round() as u64
            } else {
                0
            };
            (unique, eligible)
        })
        .collect();
    (k, unicity)
}

/// Checks `check --format json` runs on `files` and fails: (run, failed).
fn check_counts(env: &TestEnv, schema: &str, files: &[&str]) -> (usize, usize) {
    let mut args = vec!["check", "--schema", schema, "--format", "json"];
    args.extend_from_slice(files);
    let run = env.run(args);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("check json");
    let checks = json["checks"].as_array().unwrap();
    let failed = checks.iter().filter(|c| c["status"] == "fail").count();
    (checks.len(), failed)
}

/// The page's count of checks run and failed.
fn page_counts(html: &str) -> (usize, usize) {
    let number = |after: &str| -> usize {
        let at = html
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in the page"))
            + after.len();
        html[at..]
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number after {after:?}"))
    };
    if html.contains("<span class=\"badge pass\">passes</span>") {
        (number("<span class=\"badge pass\">passes</span> all"), 0)
    } else {
        let failed = number("<span class=\"badge fail\">fails</span>");
        let at = html
            .find("<span class=\"badge fail\">fails</span>")
            .unwrap();
        let of = &html[at..];
        let run = of[of.find(" of ").unwrap() + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap();
        (run, failed)
    }
}

#[test]
fn private_release_report_equals_footer_manifest_and_check() {
    let env = TestEnv::new();
    let input = sample_with_canaries(&env);
    let key = env.key("k.key", TEST_KEY_HEX);
    let schema = repo("schemas/transactions-private.toml");
    env.anonymize(
        &schema,
        &key,
        &["--manifest", "m.json", "--report", "run.html"],
        "out.parquet",
        &input,
    )
    .success();
    let schema_s = schema.display().to_string();
    // The same page from the file afterwards.
    env.run([
        "report",
        "--schema",
        &schema_s,
        "--manifest",
        "m.json",
        "-o",
        "later.html",
        "out.parquet",
    ])
    .success();
    let kv = footer(&env.path("out.parquet"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("m.json")).unwrap()).unwrap();
    let (k, unicity) = check_figures(&env, &schema_s, "out.parquet");
    let (checks_run, checks_failed) = check_counts(&env, &schema_s, &["out.parquet"]);
    assert_eq!(checks_failed, 0);
    assert!(k >= 5);
    assert_eq!(unicity.len(), 2, "check reports unicity for p = 2 and 4");
    for name in ["run.html", "later.html"] {
        let html = std::fs::read_to_string(env.path(name)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(env.path(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name} is readable by others");
        }
        let fp = meta(&kv, "txanon.key.fingerprint").unwrap();
        assert!(
            html.contains(&format!("id=\"fingerprint\">{fp}<")),
            "{name}: fingerprint"
        );
        assert!(
            !html.contains("id=\"demo-key\""),
            "{name}: not the demo key"
        );
        assert!(html.contains("pseudonymised personal data, not anonymous data"));
        assert!(
            html.contains("<span class=\"badge pass\">passes</span> all"),
            "{name}: check passes"
        );
        // The report runs check's checks: as many as check itself.
        assert_eq!(page_counts(&html), (checks_run, 0), "{name}: checks run");
        // A release this small is scanned whole, and the page says so.
        let written = meta(&kv, "txanon.rows").unwrap().parse::<u64>().unwrap();
        assert!(
            html.contains(&format!("on every row ({})", grouped(written))),
            "{name}: what the residual-PII scan read"
        );
        // Row counts: those of the footer and the manifest.
        let written = meta(&kv, "txanon.rows").unwrap().parse::<u64>().unwrap();
        assert_eq!(manifest["rows"]["written"], written);
        assert_eq!(tile(&html, "Written"), grouped(written));
        assert_eq!(
            tile(&html, "Read"),
            grouped(manifest["rows"]["read"].as_u64().unwrap())
        );
        assert_eq!(
            tile(&html, "Skipped"),
            grouped(manifest["rows"]["skipped"].as_u64().unwrap())
        );
        let suppressed: u64 = meta(&kv, "txanon.privacy.suppressed_rows")
            .unwrap()
            .parse()
            .unwrap();
        assert!(suppressed > 0);
        assert_eq!(tile(&html, "Suppressed"), grouped(suppressed));
        assert_eq!(tile(&html, "Suppressed rows"), grouped(suppressed));
        // k in the unit the file declares, equal to check's recomputation.
        let unit = meta(&kv, "txanon.privacy.k_counts").unwrap_or("rows");
        assert_eq!(tile(&html, "k"), format!("{} {unit}", grouped(k)));
        assert_eq!(meta(&kv, "txanon.privacy.k"), Some(k.to_string().as_str()));
        for ((unique, eligible), p) in unicity.iter().zip([2, 4]) {
            let share = format!("{:.1} %", *unique as f64 / *eligible as f64 * 100.0);
            let row = format!(
                "<td class=\"num\">{p}</td><td class=\"num\">{share}</td><td>{} of {} account_token</td>",
                grouped(*unique),
                grouped(*eligible)
            );
            assert!(html.contains(&row), "{name}: unicity p={p} row {row}");
        }
        // Inputs with size and SHA-256 from the manifest.
        let sha = manifest["inputs"][0]["sha256"].as_str().unwrap();
        assert!(html.contains(sha), "{name}: input SHA-256");
        assert!(html.contains(meta(&kv, "txanon.schema.sha256").unwrap()));
        // Every chart is there and draws bars.
        for chart in ["chart-classes", "chart-shape"] {
            let at = html
                .find(&format!("id=\"{chart}\""))
                .unwrap_or_else(|| panic!("{chart}"));
            let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
            assert!(
                svg.matches("<rect class=\"bar").count() >= 3,
                "{chart} has bars"
            );
        }
        // Null and invalid shares from the run (mobile has invalid values).
        assert!(html.contains("class=\"fill warn\""), "an invalid-rate bar");
        assert_leaks_nothing(
            &html,
            &[env.path("out.parquet")],
            &[
                "account_token",
                "mobile_token",
                "email_token",
                "home_address_token",
                "shipping_address_token",
            ],
            &[],
        );
    }
}

#[test]
fn dataset_report_shows_partitions_and_demo_key() {
    let env = TestEnv::new();
    let input = sample_with_canaries(&env);
    let schema = repo("schemas/transactions.toml");
    let demo = repo("data-samples/demo.key");
    env.anonymize(
        &schema,
        &demo,
        &["--partition-by", "created_month", "--report", "ds.html"],
        "ds/",
        &input,
    )
    .success();
    let html = std::fs::read_to_string(env.path("ds.html")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("ds/_manifest.json")).unwrap())
            .unwrap();
    assert!(html.contains("id=\"demo-key\""), "demo key warning");
    assert!(html.contains(manifest["key_fingerprint"].as_str().unwrap()));
    assert_eq!(
        tile(&html, "Written"),
        grouped(manifest["rows"]["written"].as_u64().unwrap())
    );
    // Rows per partition: one bar per month between the first and the last,
    // each partition's rows as the manifest lists them.
    let files: Vec<std::path::PathBuf> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| env.path("ds").join(f["path"].as_str().unwrap()))
        .collect();
    assert!(files.len() > 12);
    let first = manifest["files"][0]["path"].as_str().unwrap();
    let month = &first["created_month=".len()..first.find('/').unwrap() - 3];
    assert!(html.contains(&format!(">{month}<")), "month label {month}");
    assert!(html.contains("Rows per partition of created_month"));
    // One generation: no generations table, no generation column.
    assert!(!html.contains("id=\"generations\""));
    // The standalone command gives the same figures without the run.
    env.run([
        "report",
        "--schema",
        &schema.display().to_string(),
        "-o",
        "later.html",
        "ds",
    ])
    .success();
    let later = std::fs::read_to_string(env.path("later.html")).unwrap();
    // Both pages run check's checks on every part file, with its outcome.
    let schema_s = schema.display().to_string();
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let counts = check_counts(&env, &schema_s, &paths);
    assert!(
        counts.1 >= files.len(),
        "the demo key fails check on every file"
    );
    assert_eq!(page_counts(&html), counts, "anonymize --report");
    assert_eq!(page_counts(&later), counts, "report");
    assert_eq!(tile(&later, "Written"), tile(&html, "Written"));
    assert_eq!(tile(&later, "Read"), tile(&html, "Read"));
    for page in [&html, &later] {
        // Month labels are generalized values of the release: allowed.
        let months: Vec<String> = (1990..2030)
            .flat_map(|y| (1..=12).map(move |m| format!("{y:04}-{m:02}-01")))
            .collect();
        let allowed: Vec<&str> = months.iter().map(String::as_str).collect();
        assert_leaks_nothing(
            page,
            &files,
            &[
                "account_token",
                "mobile_token",
                "email_token",
                "home_address_token",
                "shipping_address_token",
            ],
            &allowed,
        );
    }
}

/// The cells of each body row of the page's table `id`, tags removed.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("table {id} missing"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    text[..text.find("</td>").unwrap()].to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn appended_dataset_report_shows_each_generation() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let schema = repo("schemas/transactions.toml");
    let schema_s = schema.display().to_string();
    // The canary sample in three exports of unequal size (the canaries are
    // in the last), the first of them the dataset, the others appended.
    let text = std::fs::read_to_string(sample_with_canaries(&env)).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let cuts = [0, 1700, 2400, lines.len()];
    let days: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            env.write(
                &format!("day{}.csv", i + 1),
                format!("{header}\n{}\n", lines[cuts[i]..cuts[i + 1]].join("\n")),
            )
        })
        .collect();
    let part = ["--partition-by", "created_month"];
    env.anonymize(&schema, &key, &part, "ds", &days[0])
        .success();
    env.anonymize(&schema, &key, &["--append"], "ds/", &days[1])
        .success();
    env.anonymize(&schema, &key, &["--append"], "ds/", &days[2])
        .success();
    let report = |out: &str| {
        env.run(["report", "--schema", &schema_s, "-o", out, "ds"])
            .success();
        std::fs::read_to_string(env.path(out)).unwrap()
    };
    let html = report("g.html");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("ds/_manifest.json")).unwrap())
            .unwrap();

    // One row per generation: the manifest's counts, and the rows of the
    // part files below its directory read back from their footers.
    let rows = table_rows(&html, "generations");
    assert_eq!(rows.len(), 3);
    let files = manifest["files"].as_array().unwrap();
    let mut all_files = Vec::new();
    let mut total = 0;
    for (g, row) in rows.iter().enumerate() {
        let recorded = &manifest["generations"][g];
        let n = g as u64 + 1;
        let mine: Vec<std::path::PathBuf> = files
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .filter(|p| match n {
                1 => !p.starts_with('g'),
                _ => p.starts_with(&format!("g{n:05}/created_month=")),
            })
            .map(|p| env.path("ds").join(p))
            .collect();
        assert!(!mine.is_empty());
        let in_files: u64 = mine.iter().map(|f| read_all(f).0.num_rows() as u64).sum();
        let count = |p: &str| recorded.pointer(p).and_then(|v| v.as_u64()).unwrap();
        let written = count("/rows/written");
        assert!(written > 0);
        assert_eq!(in_files, written, "generation {n}: rows read back");
        assert_eq!(
            row,
            &vec![
                n.to_string(),
                "1".to_string(),
                mine.len().to_string(),
                grouped(count("/rows/read")),
                grouped(written),
                grouped(count("/rows/skipped")),
                format!("{} in {} file(s)", grouped(in_files), mine.len()),
            ],
            "generation {n}"
        );
        total += written;
        all_files.extend(mine);
    }
    // Each input with the generation that added it.
    let inputs = table_rows(&html, "inputs");
    assert_eq!(inputs.len(), 3);
    for (i, row) in inputs.iter().enumerate() {
        assert!(row[0].ends_with(&format!("day{}.csv", i + 1)));
        assert_eq!(row[1], (i + 1).to_string());
    }
    // The part files of later generations keep their partition: the chart
    // counts every row, and check runs on every part file.
    assert!(html.contains("Rows per partition of created_month"));
    assert_eq!(tile(&html, "Written"), grouped(total));
    let paths: Vec<String> = all_files.iter().map(|f| f.display().to_string()).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(page_counts(&html), check_counts(&env, &schema_s, &paths));
    let months: Vec<String> = (1990..2030)
        .flat_map(|y| (1..=12).map(move |m| format!("{y:04}-{m:02}-01")))
        .collect();
    let allowed: Vec<&str> = months.iter().map(String::as_str).collect();
    let tokens = [
        "account_token",
        "mobile_token",
        "email_token",
        "home_address_token",
        "shipping_address_token",
    ];
    assert_leaks_nothing(&html, &all_files, &tokens, &allowed);

    // An append stopped after its commit point leaves _manifest.json one
    // generation behind: the page reads the newest generation's manifest,
    // as `txanon dataset` does.
    std::fs::copy(
        env.path("ds/_manifests/00002.json"),
        env.path("ds/_manifest.json"),
    )
    .unwrap();
    let lagging = report("lagging.html");
    assert_eq!(table_rows(&lagging, "generations"), rows);
    assert_eq!(tile(&lagging, "Read"), tile(&html, "Read"));
}

#[test]
fn report_without_schema_and_refused_paths() {
    let env = TestEnv::new();
    let input = sample_with_canaries(&env);
    let key = env.key("k.key", TEST_KEY_HEX);
    let schema = repo("schemas/transactions.toml");
    env.anonymize(&schema, &key, &[], "out.parquet", &input)
        .success();
    env.run(["report", "-o", "r.html", "out.parquet"]).success();
    let html = std::fs::read_to_string(env.path("r.html")).unwrap();
    assert!(html.contains("<span class=\"badge notrun\">not run</span>"));
    assert!(html.contains("id=\"chart-shape\""));
    for c in CANARIES {
        assert!(!html.contains(c), "canary {c:?}");
    }
    // The report never replaces the release or a file it reads.
    env.run(["report", "-o", "out.parquet", "out.parquet"])
        .exit(2);
    assert!(!read_parquet(&env.path("out.parquet")).0.is_empty());
    env.anonymize(
        &schema,
        &key,
        &["--report", "o2.parquet"],
        "o2.parquet",
        &input,
    )
    .exit(2)
    .stderr_has("give each output its own path");
    assert!(!env.path("o2.parquet").exists());
    env.anonymize(&schema, &key, &["--report", "in.csv"], "o3.parquet", &input)
        .exit(2);
    assert!(!env.path("o3.parquet").exists());
    // Nor inside a dataset directory, where readers would take it for data.
    env.anonymize(&schema, &key, &["--report", "ds/r.html"], "ds/", &input)
        .exit(2);
    assert!(!env.path("ds").exists());
    env.anonymize(
        &schema,
        &key,
        &["--partition-by", "created_month"],
        "ds/",
        &input,
    )
    .success();
    env.run(["report", "-o", "ds/r.html", "ds"]).exit(2);
    assert!(!env.path("ds/r.html").exists());
    // A file txanon did not write is not a release.
    env.run(["report", "-o", "r2.html", "in.csv"]).exit(2);
    assert!(!env.path("r2.html").exists());
}
