//! Third-party CSV edge cases (csv-spectrum, in ../shared/corpora): every file
//! must come out exactly as its reference JSON says, or fail with a clean
//! error naming file, line and rule. Skipped, visibly, when the corpora are
//! absent; a failure instead under CI=true (tests/common/mod.rs::corpora_dir).

mod common;

use common::*;
use std::path::PathBuf;

fn corpora() -> Option<PathBuf> {
    corpora_dir("tests/corpora.rs").map(|d| d.join("csv-spectrum"))
}

fn keep_all_schema(columns: &[String]) -> String {
    let mut s = String::from("[dataset]\nname = \"spectrum\"\nversion = 1\n");
    for c in columns {
        // A JSON string literal is a valid TOML basic string for these names.
        s.push_str(&format!(
            "\n[[columns]]\nname = {}\naction = \"keep\"\n",
            serde_json::to_string(c).unwrap()
        ));
    }
    s
}

#[test]
fn csv_spectrum_files_parse_as_their_reference_json() {
    let Some(dir) = corpora() else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("csvs")).unwrap() {
        let csv = entry.unwrap().path();
        let stem = csv.file_stem().unwrap().to_string_lossy().into_owned();
        let json_path = dir.join("json").join(format!("{stem}.json"));
        let bytes = std::fs::read(&csv).unwrap();
        let header_line = bytes.split(|&b| b == b'\n').next().unwrap();
        let header: Vec<String> = String::from_utf8_lossy(header_line)
            .trim_end_matches('\r')
            .split(',')
            .map(str::to_string)
            .collect();
        let env = TestEnv::new();
        let schema = env.write("s.toml", keep_all_schema(&header));
        let key = env.key("k.key", TEST_KEY_HEX);
        let run = env.run([
            "anonymize",
            "--schema",
            schema.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
            "-q",
            "-o",
            "out.parquet",
            csv.to_str().unwrap(),
        ]);
        if std::str::from_utf8(&bytes).is_err() {
            // location_coordinates.csv is Latin-1: a bad record, never mojibake.
            run.exit(2)
                .stderr_has("invalid UTF-8")
                .stderr_has(&format!("{stem}.csv:2:"));
            assert!(!env.path("out.parquet").exists());
            checked += 1;
            continue;
        }
        run.success();
        // Most reference files are arrays of records; location_coordinates.json is one object.
        let expected: Vec<serde_json::Map<String, serde_json::Value>> =
            match serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap() {
                serde_json::Value::Array(rows) => rows
                    .into_iter()
                    .map(|r| r.as_object().cloned().unwrap())
                    .collect(),
                serde_json::Value::Object(row) => vec![row],
                other => panic!("{stem}: unexpected reference {other}"),
            };
        let (batch, _) = read_all(&env.path("out.parquet"));
        assert_eq!(batch.num_rows(), expected.len(), "{stem}");
        for name in &header {
            // Upstream inconsistency: location_coordinates.csv holds 2095257564,
            // its reference JSON 1234567890. Every other cell is compared.
            if stem == "location_coordinates" && name == "Contact Phone Number" {
                assert_eq!(strings(&batch, name), vec![Some("2095257564".to_string())]);
                continue;
            }
            let got = strings(&batch, name);
            let want: Vec<Option<String>> = expected
                .iter()
                .map(|row| match row.get(name).and_then(|v| v.as_str()) {
                    Some("") | None => None,
                    // This copy of the corpus has LF line ends even in *_crlf.csv;
                    // the reference JSON was written for the CRLF originals.
                    Some(s) if !bytes.contains(&b'\r') => Some(s.replace("\r\n", "\n")),
                    Some(s) => Some(s.to_string()),
                })
                .collect();
            assert_eq!(got, want, "{stem}: column {name}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} corpus files checked");
}
