//! `txanon anonymize --engine datafusion|ballista` and `txanon sql` hand
//! over to the txanon-df binary (crates/txanon-datafusion). The core build
//! does not contain it, so these tests pin the hand-over itself: a missing
//! binary is a clear error naming the build command, flags that do not fit
//! the engine are refused, and the arguments (never the key) reach it.
//! The engines themselves are tested by `cargo test -p txanon-datafusion`
//! and `tests/scaleout.sh`.

mod common;

use common::*;

fn anonymize_args(engine: &str) -> Vec<String> {
    vec![
        "anonymize".into(),
        "--engine".into(),
        engine.into(),
        "--schema".into(),
        repo("schemas/transactions.toml").display().to_string(),
        "--key-file".into(),
        repo("data-samples/demo.key").display().to_string(),
        "-o".into(),
        "out.parquet".into(),
        repo("data-samples/transactions.csv").display().to_string(),
    ]
}

#[test]
fn a_missing_txanon_df_names_the_build_command_and_writes_nothing() {
    let env = TestEnv::new();
    for args in [
        anonymize_args("datafusion"),
        vec![
            "sql".into(),
            "--schema".into(),
            "s.toml".into(),
            "SELECT 1".into(),
        ],
    ] {
        let mut cmd = env.command();
        cmd.env("TXANON_DF", env.path("no-such-txanon-df"))
            .args(&args);
        run_command(cmd)
            .exit(2)
            .stderr_has("cargo build --release -p txanon-datafusion")
            .stderr_has("no-such-txanon-df");
    }
    assert!(!env.path("out.parquet").exists());
}

#[test]
fn scheduler_goes_with_ballista_only() {
    let env = TestEnv::new();
    let mut args = anonymize_args("ballista");
    let mut cmd = env.command();
    cmd.env("TXANON_DF", env.path("no-such-txanon-df"))
        .args(&args);
    run_command(cmd)
        .exit(2)
        .stderr_has("--engine ballista needs --scheduler");
    args[2] = "native".into();
    args.extend(["--scheduler".into(), "df://127.0.0.1:50050".into()]);
    env.run(&args)
        .exit(2)
        .stderr_has("--scheduler is only used with --engine ballista");
    assert!(env.files().is_empty(), "{:?}", env.files());
}

#[cfg(unix)]
#[test]
fn arguments_reach_txanon_df_unchanged_and_its_exit_code_comes_back() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    // A stand-in txanon-df that records its arguments and exits 2.
    let fake = env.write(
        "fake-df",
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/args.txt\"\nexit 2\n",
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = anonymize_args("datafusion");
    let mut cmd = env.command();
    cmd.env("TXANON_DF", &fake).args(&args);
    run_command(cmd).exit(2);
    let got = std::fs::read_to_string(env.path("args.txt")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), args);
    let key = std::fs::read_to_string(repo("data-samples/demo.key")).unwrap();
    assert!(!got.contains(key.trim()));
}
