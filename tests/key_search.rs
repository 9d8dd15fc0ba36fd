//! Issue 7, promise 1: the key never leaves. Every subcommand is run with a
//! known key (normal, `--json`, every report format, error and bad-row
//! paths), and stdout, stderr, every file the runs leave, the temporary file
//! of a run killed mid-write and `/proc/PID/cmdline` are searched for the key
//! in lowercase and uppercase hex, standard and URL-safe base64 (with and
//! without padding), and raw bytes, and for each half of it in hex and raw
//! bytes (a truncated leak): zero hits.

mod common;

use base64::Engine;
use common::*;

/// Every spelling of `key` (raw bytes) to look for, with a label.
fn spellings(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex = hex::encode(key);
    let mut out = vec![
        ("hex".to_string(), hex.clone().into_bytes()),
        ("HEX".to_string(), hex.to_uppercase().into_bytes()),
        ("base64".to_string(), STANDARD.encode(key).into_bytes()),
        (
            "base64 no pad".to_string(),
            STANDARD_NO_PAD.encode(key).into_bytes(),
        ),
        ("base64url".to_string(), URL_SAFE.encode(key).into_bytes()),
        (
            "base64url no pad".to_string(),
            URL_SAFE_NO_PAD.encode(key).into_bytes(),
        ),
        ("raw bytes".to_string(), key.to_vec()),
    ];
    for (i, half) in key.chunks(key.len() / 2).enumerate() {
        out.push((format!("half {i} hex"), hex::encode(half).into_bytes()));
        out.push((
            format!("half {i} HEX"),
            hex::encode_upper(half).into_bytes(),
        ));
        out.push((format!("half {i} raw"), half.to_vec()));
    }
    out
}

/// The spellings of `key` found in `hay` (empty when none).
fn hits(hay: &[u8], key: &[u8]) -> Vec<String> {
    spellings(key)
        .into_iter()
        .filter(|(_, needle)| hay.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|(label, _)| label)
        .collect()
}

#[track_caller]
fn assert_clean(what: &str, hay: &[u8], key: &[u8]) {
    let found = hits(hay, key);
    assert!(found.is_empty(), "{what} contains the key as {found:?}");
}

/// The search finds what it is meant to find (a search that cannot fail proves nothing).
#[test]
fn the_search_finds_every_spelling() {
    let key = hex::decode(TEST_KEY_HEX).unwrap();
    for (label, needle) in spellings(&key) {
        let mut hay = b"some text before ".to_vec();
        hay.extend_from_slice(&needle);
        hay.extend_from_slice(b" and after");
        assert!(hits(&hay, &key).contains(&label), "{label}");
    }
    assert!(hits(b"nothing here", &key).is_empty());
}

fn schema() -> String {
    repo("schemas/transactions.toml").display().to_string()
}

fn sample() -> String {
    repo("data-samples/transactions.csv").display().to_string()
}

/// Every file under the test directory, read back (outputs, reports, temp files).
fn all_files(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![env.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn the_key_appears_nowhere_across_the_cli_surface() {
    let env = TestEnv::new();
    let key = hex::decode(TEST_KEY_HEX).unwrap();
    let key_file = env.key("k.key", TEST_KEY_HEX);
    let kf = key_file.to_str().unwrap().to_string();
    let (s, input) = (schema(), sample());
    let invalid = |name: &str| {
        repo(&format!("data-samples/invalid/{name}"))
            .display()
            .to_string()
    };
    let canaries = invalid("canaries.csv");
    let mut runs: Vec<Run> = Vec::new();
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let by_file = |list: &[&str]| env.run(args(list));
    let by_env = |list: &[&str]| {
        let mut cmd = env.command();
        cmd.env("TXANON_KEY", TEST_KEY_HEX).args(args(list));
        run_command(cmd)
    };

    // anonymize: text summary, --json, bad rows skipped, and error paths.
    let r = by_file(&[
        "anonymize",
        "--schema",
        &s,
        "--key-file",
        &kf,
        "-o",
        "a.parquet",
        &input,
    ]);
    r.success();
    runs.push(r);
    let r = by_env(&[
        "anonymize",
        "--schema",
        &s,
        "--json",
        "-o",
        "b.parquet",
        &input,
    ]);
    r.success().stdout_has("key_fingerprint");
    runs.push(r);
    let r = by_file(&[
        "anonymize",
        "--schema",
        &s,
        "--key-file",
        &kf,
        "--json",
        "--max-bad-rows",
        "100",
        "-o",
        "c.parquet",
        &canaries,
    ]);
    r.success();
    runs.push(r);
    for bad in [
        "bad_amount.csv",
        "undeclared_column.csv",
        "unterminated_quote.csv",
    ] {
        let r = by_env(&[
            "anonymize",
            "--schema",
            &s,
            "--json",
            "-o",
            "e.parquet",
            &invalid(bad),
        ]);
        r.exit(2);
        runs.push(r);
    }
    let r = by_file(&[
        "anonymize",
        "--schema",
        &s,
        "--key-file",
        &kf,
        "-o",
        "k.key",
        &kf,
    ]);
    r.exit(2);
    runs.push(r);
    let r = by_file(&[
        "anonymize",
        "--schema",
        &s,
        "--key-file",
        &kf,
        "-o",
        "x/y.parquet",
        &input,
    ]);
    r.exit(2);
    runs.push(r);
    // A file holding the key given as the schema or as an input: the loader's
    // messages must not quote it.
    let r = by_file(&[
        "anonymize",
        "--schema",
        &kf,
        "--key-file",
        &kf,
        "-o",
        "f.parquet",
        &input,
    ]);
    r.exit(2);
    runs.push(r);
    let r = by_file(&[
        "anonymize",
        "--schema",
        &s,
        "--key-file",
        &kf,
        "-o",
        "f.parquet",
        &kf,
    ]);
    r.exit(2);
    runs.push(r);
    // check in every format, with the key (fingerprint comparison) from file and env.
    for format in ["text", "json", "junit", "github"] {
        let r = by_file(&[
            "check",
            "--schema",
            &s,
            "--key-file",
            &kf,
            "--format",
            format,
            "a.parquet",
            &input,
        ]);
        r.success();
        runs.push(r);
        let r = by_env(&["check", "--schema", &s, "--format", format, "b.parquet"]);
        r.success();
        runs.push(r);
        let r = by_env(&["scan", "--format", format, "a.parquet", &input]);
        runs.push(r);
    }
    // A key file passed where data is expected.
    runs.push(by_env(&["scan", &kf]));
    runs.push(by_env(&["check", "--schema", &s, &kf]));
    let r = by_env(&["init", &input]);
    r.success();
    runs.push(r);
    runs.push(by_env(&["init", &kf]));
    // token: values as arguments and on stdin, valid and invalid.
    let r = by_file(&[
        "token",
        "--schema",
        &s,
        "--column",
        "mobile",
        "--key-file",
        &kf,
        "13800138000",
        "N/A",
    ]);
    r.exit(2).stdout_has("\n\n"); // a token for the first value, an empty line for the invalid one
    runs.push(r);
    let mut cmd = env.command();
    cmd.env("TXANON_KEY", TEST_KEY_HEX)
        .args(["token", "--schema", &s, "--column", "email", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"li.wei@163.com\nnot an email\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "one invalid value");
    assert_clean("token --stdin stdout", &out.stdout, &key);
    assert_clean("token --stdin stderr", &out.stderr, &key);
    // keygen makes a new key: neither it nor the known key is printed.
    let r = by_env(&["keygen", "-o", "new.key"]);
    r.success();
    let new_key =
        hex::decode(std::fs::read_to_string(env.path("new.key")).unwrap().trim()).unwrap();
    assert_clean("keygen stdout", r.stdout.as_bytes(), &new_key);
    assert_clean("keygen stderr", r.stderr.as_bytes(), &new_key);
    runs.push(r);
    // --help and --version of everything, with the key in the environment.
    for sub in ["anonymize", "check", "scan", "init", "token", "keygen"] {
        runs.push(by_env(&[sub, "--help"]));
    }
    runs.push(by_env(&["--help"]));
    runs.push(by_env(&["--version"]));

    for r in &runs {
        let what = |stream: &str| format!("{stream} of {}", r.cmd.replace(TEST_KEY_HEX, "<KEY>"));
        assert!(
            r.code.is_some_and(|c| c <= 2),
            "no crash: {:?} {}",
            r.code,
            r.cmd
        );
        assert_clean(&what("stdout"), r.stdout.as_bytes(), &key);
        assert_clean(&what("stderr"), r.stderr.as_bytes(), &key);
    }
    assert!(runs.len() > 30, "the surface was run: {}", runs.len());
    // Every file the runs left (outputs; the key file itself excluded).
    let files = all_files(&env);
    assert!(files.iter().any(|(p, _)| p.ends_with("a.parquet")));
    assert!(files.iter().any(|(p, _)| p.ends_with("c.parquet")));
    for (path, bytes) in &files {
        if path.ends_with("k.key") {
            continue;
        }
        assert_clean(path, bytes, &key);
    }
}

/// A run killed mid-write: its temporary file and its command line hold no key.
#[cfg(target_os = "linux")]
#[test]
fn the_key_is_not_in_a_killed_runs_temp_file_or_command_line() {
    let env = TestEnv::new();
    let key = hex::decode(TEST_KEY_HEX).unwrap();
    let text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let input = env.write("big.csv", format!("{header}\n{}", body.repeat(40)));
    for by_env in [false, true] {
        let key_file = env.key("k.key", TEST_KEY_HEX);
        let mut cmd = env.command();
        cmd.args(["anonymize", "--schema", &schema(), "-q", "--threads", "1"])
            .args(["--batch-rows", "1000", "--row-group-rows", "1000"]);
        if by_env {
            cmd.env("TXANON_KEY", TEST_KEY_HEX);
        } else {
            cmd.arg("--key-file").arg(&key_file);
        }
        cmd.args(["-o", "out.parquet", input.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        // Wait until the temp file has data (row groups were flushed), then kill -9.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut cmdline = Vec::new();
        let temp = loop {
            if cmdline.is_empty() || !String::from_utf8_lossy(&cmdline).contains("anonymize") {
                cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            }
            let temp = env
                .files()
                .into_iter()
                .find(|f| f.contains(".txanon-tmp-"))
                .map(|f| env.path(&f));
            if let Some(t) = temp.filter(|t| std::fs::metadata(t).is_ok_and(|m| m.len() > 4096)) {
                break t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no temp file with data appeared"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "run ended before it could be killed"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            String::from_utf8_lossy(&cmdline).contains("anonymize"),
            "read the right process"
        );
        assert_clean("/proc/PID/cmdline", &cmdline, &key);
        let bytes = std::fs::read(&temp).unwrap();
        assert!(bytes.starts_with(b"PAR1"), "a real partial Parquet file");
        assert_clean("temp file of the killed run", &bytes, &key);
        assert!(!env.path("out.parquet").exists());
        std::fs::remove_file(&temp).unwrap();
    }
}
