//! Issue 14: what `anonymize` leaves on disk. The data is complete and in
//! place before the manifest that describes it, and a failure at any step
//! leaves neither.

mod common;

use common::*;

/// Run `txanon ARGS` with the size of any file it writes limited to
/// `limit_kib` KiB (RLIMIT_FSIZE, SIGXFSZ ignored so a write past it fails
/// with EFBIG): a full disk that strikes the larger of two outputs.
#[cfg(unix)]
fn run_with_file_size_limit(env: &TestEnv, limit_kib: u32, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("bash");
    cmd.current_dir(env.dir.path())
        .env_remove("TXANON_KEY")
        .stdin(std::process::Stdio::null())
        .arg("-c")
        .arg(format!(
            "ulimit -f {limit_kib} && trap '' XFSZ && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_txanon"))
        .args(args);
    run_command(cmd)
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
    let schema = repo("schemas/transactions.toml");
    let input = repo("data-samples/transactions.csv");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "anonymize",
            "-q",
            "--schema",
            schema.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ];
        a.extend(extra);
        a.push(input.to_str().unwrap());
        a
    };
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
        run_with_file_size_limit(&env, 8, &args(extra))
            .exit(2)
            .stderr_has("File too large");
        assert_eq!(
            env.files(),
            before,
            "{extra:?}: neither data nor manifest nor a temporary file"
        );
    }
    // With room, both appear and agree.
    run_with_file_size_limit(
        &env,
        1 << 20,
        &args(&["--manifest", "m.json", "-o", "out.parquet"]),
    )
    .success();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("m.json")).unwrap()).unwrap();
    let (batch, _) = read_all(&env.path("out.parquet"));
    assert_eq!(m["rows"]["written"], batch.num_rows() as u64);
    assert_eq!(batch.num_rows(), 3000);
}
