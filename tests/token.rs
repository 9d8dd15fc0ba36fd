//! `txanon token`: lookups for key holders.

mod common;

use common::*;

fn schema() -> String {
    repo("schemas/transactions.toml").display().to_string()
}

#[test]
fn tokens_match_the_vectors_and_the_anonymized_output() {
    let env = TestEnv::new();
    let key = repo("data-samples/demo.key");
    let run = env.run([
        "token",
        "--schema",
        &schema(),
        "--column",
        "mobile",
        "--key-file",
        key.to_str().unwrap(),
        "+86 138 0013 8000",
        "0086-138-0013-8000",
        "N/A",
    ]);
    // Invalid values give an empty line and exit 2; the value is not echoed.
    run.exit(2).stderr_has("value 3: invalid").never_says("N/A");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "e81d72bef77ec8d415d8e11cb57457cd",
            "e81d72bef77ec8d415d8e11cb57457cd",
            ""
        ]
    );

    // The sample's first row, through anonymize, gives the same token as `token`.
    env.run([
        "anonymize",
        "--schema",
        &schema(),
        "--key-file",
        key.to_str().unwrap(),
        "-q",
        "-o",
        "out.parquet",
        repo("data-samples/transactions.csv").to_str().unwrap(),
    ])
    .success();
    let (batch, _) = read_all(&env.path("out.parquet"));
    let first_account = "2088185182612729"; // first row of the synthetic sample
    let run = env.run([
        "token",
        "--schema",
        &schema(),
        "--column",
        "account_id",
        "--key-file",
        key.to_str().unwrap(),
        first_account,
    ]);
    run.success();
    assert_eq!(
        Some(run.stdout.trim().to_string()),
        strings(&batch, "account_token")[0]
    );
}

#[test]
fn stdin_mode_and_errors() {
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let mut cmd = env.command();
    cmd.args([
        "token",
        "--schema",
        &schema(),
        "--column",
        "email",
        "--key-file",
        key.to_str().unwrap(),
        "--stdin",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Li.Wei@163.com\n li.wei@163.COM \n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], lines[1]);

    env.run([
        "token",
        "--schema",
        &schema(),
        "--column",
        "amount",
        "--key-file",
        key.to_str().unwrap(),
        "1",
    ])
    .exit(2)
    .stderr_has("only tokenize columns");
    env.run([
        "token",
        "--schema",
        &schema(),
        "--column",
        "nope",
        "--key-file",
        key.to_str().unwrap(),
        "1",
    ])
    .exit(2)
    .stderr_has("not declared");
}
