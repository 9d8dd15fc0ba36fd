//! Issue 14: what `anonymize` leaves on disk. The data is complete and in
//! place before the manifest that describes it, a failure before the
//! data's rename leaves neither (a failed manifest rename after it leaves
//! the data and says so), and every file is readable by its owner only unless
//! `--mode` says otherwise.

mod common;

use common::*;

/// Run `txanon ARGS` with the size of any file it writes limited to
/// `limit_kib` KiB (RLIMIT_FSIZE, SIGXFSZ ignored so a write past it fails
/// with EFBIG): a full disk that strikes the larger of two outputs.
#[cfg(unix)]
fn run_with_file_size_limit(env: &TestEnv, limit_kib: u32, args: &[&str]) -> Run {
    run_after(env, &format!("ulimit -f {limit_kib} && trap '' XFSZ"), args)
}

/// `anonymize -q --schema SAMPLE --key-file KEY EXTRA... SAMPLE.csv`.
fn anonymize_args<'a>(key: &'a std::path::Path, extra: &[&'a str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "anonymize".into(),
        "-q".into(),
        "--schema".into(),
        repo("schemas/transactions.toml").display().to_string(),
        "--key-file".into(),
        key.display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(repo("data-samples/transactions.csv").display().to_string());
    a
}

/// Permission bits of every file and directory under `root` (itself included).
#[cfg(unix)]
fn modes(root: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.display().to_string(), meta.permissions().mode() & 0o7777));
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

/// Issue 14, item 8: outputs were created world-readable (0644 under the
/// usual umask) although they hold personal data. Every file written (the
/// Parquet file, part files, `_manifest.json`, the `--manifest` file) is
/// now 0600 and every directory 0700, whatever the umask (even 000);
/// `--mode 0640` gives 0640 and 0750; modes that take the owner's rights
/// away or let others write are refused before anything is written.
#[cfg(unix)]
#[test]
fn issue14_outputs_are_private_unless_mode_says_otherwise() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let run = |umask: &str, extra: &[&str]| {
        let args = anonymize_args(&key, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_after(&env, &format!("umask {umask}"), &args)
    };
    for (umask, mode_flag, file_mode, dir_mode) in [
        ("000", None, 0o600, 0o700),
        ("022", None, 0o600, 0o700),
        ("022", Some("0640"), 0o640, 0o750),
        ("077", Some("640"), 0o640, 0o750),
    ] {
        let mut extra = vec![];
        if let Some(m) = mode_flag {
            extra.extend(["--mode", m]);
        }
        let mut file = extra.clone();
        file.extend(["--manifest", "one.json", "-o", "one.parquet"]);
        run(umask, &file).success();
        let mut dir = extra.clone();
        dir.extend([
            "--manifest",
            "parts.json",
            "--partition-by",
            "created_month",
        ]);
        dir.extend(["-o", "parts"]);
        run(umask, &dir).success();
        let mut seen = modes(&env.path("parts"));
        seen.extend(modes(&env.path("one.parquet")));
        seen.extend(modes(&env.path("one.json")));
        seen.extend(modes(&env.path("parts.json")));
        assert!(
            seen.len() > 10,
            "partitions, part files and manifests: {seen:?}"
        );
        assert!(seen.iter().any(|(p, _)| p.ends_with("_manifest.json")));
        for (path, mode) in &seen {
            let want = if std::path::Path::new(path).is_dir() {
                dir_mode
            } else {
                file_mode
            };
            assert_eq!(
                *mode, want,
                "{path}: umask {umask}, --mode {mode_flag:?}: {mode:o}, want {want:o}"
            );
        }
        for p in ["one.parquet", "one.json", "parts.json"] {
            std::fs::remove_file(env.path(p)).unwrap();
        }
        std::fs::remove_dir_all(env.path("parts")).unwrap();
    }
    for bad in ["0666", "0602", "0400", "0x600", "u+rw"] {
        run("022", &["--mode", bad, "-o", "bad.parquet"]).exit(2);
    }
    assert_eq!(env.files(), vec!["k.key"]);
}

/// Issue 14, item 5: the manifest was written before the Parquet file was
/// complete, so a full disk left a manifest claiming 3000 rows beside no
/// data, with exit 2. Now the data is written first and the two are renamed
/// into place together: a failure leaves neither (single file and
/// directory outputs), and a run with room leaves both, the manifest's row
/// count equal to the file's.
#[cfg(unix)]
#[test]
fn issue14_a_full_disk_leaves_no_manifest_without_its_data() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let args = |extra: &[&'static str]| anonymize_args(&key, extra);
    let before = env.files();
    // The manifest (under 1 KiB) fits in 8 KiB, the Parquet file (~100 KiB) does not.
    for extra in [
        &["--manifest", "m.json", "-o", "out.parquet"][..],
        &["--manifest", "m.json", "-o", "out/"][..],
        &[
            "--manifest",
            "m.json",
            "--partition-by",
            "created_month",
            "-o",
            "parts",
        ][..],
    ] {
        let args = args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_with_file_size_limit(&env, 8, &args)
            .exit(2)
            .stderr_has("File too large");
        assert_eq!(
            env.files(),
            before,
            "{extra:?}: neither data nor manifest nor a temporary file"
        );
    }
    // With room, both appear and agree.
    let ok = args(&["--manifest", "m.json", "-o", "out.parquet"]);
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    run_with_file_size_limit(&env, 1 << 20, &ok).success();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("m.json")).unwrap()).unwrap();
    let (batch, _) = read_all(&env.path("out.parquet"));
    assert_eq!(m["rows"]["written"], batch.num_rows() as u64);
    assert_eq!(batch.num_rows(), 3000);
}

/// Issue 14, item 5, the last step: the data is renamed into place, then
/// the manifest's rename fails (injected with LD_PRELOAD: ENOSPC). The
/// run exits 2 saying the data was written and is complete but the
/// manifest not, leaves no temporary, and removes an earlier manifest at
/// that path (it described the data just replaced); SECURITY.md, "Outputs".
#[cfg(target_os = "linux")]
#[test]
fn issue14_a_failed_manifest_rename_leaves_the_data_and_says_so() {
    let shim_dir = tempfile::tempdir().unwrap();
    let Some(shim) = fail_rename_shim(shim_dir.path()) else {
        return;
    };
    let setup = format!("export LD_PRELOAD={} FAIL_RENAME_TO=m.json", shim.display());
    for (out, earlier) in [
        ("out.parquet", false),
        ("out.parquet", true),
        ("out/", false),
    ] {
        let env = TestEnv::new();
        let key = env.key("k.key", TEST_KEY_HEX);
        if earlier {
            env.write("out.parquet", "an earlier output");
            env.write("m.json", "{\"rows\": {\"written\": 1}}");
        }
        let args = anonymize_args(&key, &["--manifest", "m.json", "-o", out]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_after(&env, &setup, &args);
        let data = out.trim_end_matches('/');
        run.exit(2)
            .stderr_has(&format!(
                "{data} was written and is complete, but not m.json: No space left on device"
            ))
            .stderr_lacks("nothing was written");
        if earlier {
            run.stderr_has("the earlier m.json is removed");
        }
        assert_eq!(env.files(), vec!["k.key", data], "{out}: data only");
        let rows: usize = if out.ends_with('/') {
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(env.path("out/_manifest.json")).unwrap())
                    .unwrap();
            m["rows"]["written"].as_u64().unwrap() as usize
        } else {
            read_all(&env.path(data)).0.num_rows()
        };
        assert_eq!(rows, 3000, "{out}");
    }
}

/// Issue 14, item 6: `--key-file /dev/zero` grew to gigabytes (and aborted
/// under a memory limit); so did `--schema /dev/zero`. Files that are small
/// by nature are read with a bound: a device or an oversized file is an
/// error naming the file and the limit, never its content, within a 1 GiB
/// address-space limit, for every command that reads them.
#[cfg(unix)]
#[test]
fn issue14_key_and_schema_files_are_read_with_a_bound() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    // A key file with a valid key followed by a canary: too big, and the
    // message quotes neither.
    let canary = "CANARYc0ffee";
    let big = env.write(
        "big.key",
        format!("{TEST_KEY_HEX}\n{}", canary.repeat(1000)),
    );
    let schema = repo("schemas/transactions.toml").display().to_string();
    let input = repo("data-samples/transactions.csv").display().to_string();
    let limited = "ulimit -v 1048576";
    for key_file in ["/dev/zero", big.to_str().unwrap()] {
        for args in [
            vec![
                "anonymize",
                "--schema",
                &schema,
                "--key-file",
                key_file,
                "-o",
                "o.parquet",
                &input,
            ],
            vec!["check", "--schema", &schema, "--key-file", key_file, &input],
            vec![
                "token",
                "--schema",
                &schema,
                "--column",
                "mobile",
                "--key-file",
                key_file,
                "13800138000",
            ],
        ] {
            let run = run_after(&env, limited, &args);
            run.exit(2)
                .stderr_has(key_file)
                .stderr_has("larger than 4096 bytes")
                .never_says(canary)
                .never_says(TEST_KEY_HEX);
        }
    }
    let big_schema = env.write("big.toml", "# CANARYc0ffee\n".repeat(400_000));
    for schema_file in ["/dev/zero", big_schema.to_str().unwrap()] {
        let key = key.to_str().unwrap();
        for args in [
            vec![
                "anonymize",
                "--schema",
                schema_file,
                "--key-file",
                key,
                "-o",
                "o.parquet",
                &input,
            ],
            vec!["check", "--schema", schema_file, &input],
            vec![
                "token",
                "--schema",
                schema_file,
                "--column",
                "mobile",
                "--key-file",
                key,
                "1",
            ],
        ] {
            run_after(&env, limited, &args)
                .exit(2)
                .stderr_has(schema_file)
                .stderr_has("larger than 4194304 bytes")
                .never_says(canary);
        }
    }
    assert!(!env.path("o.parquet").exists());
    // `token --stdin` reads one value per line, streamed and bounded: a
    // line without end is an error naming the line.
    let key = key.to_str().unwrap();
    let token = [
        "token",
        "--schema",
        &schema,
        "--column",
        "mobile",
        "--key-file",
        key,
        "--stdin",
    ];
    run_after(&env, &format!("{limited} && exec < /dev/zero"), &token)
        .exit(2)
        .stderr_has("stdin line 1: longer than 1048576 bytes");
}
