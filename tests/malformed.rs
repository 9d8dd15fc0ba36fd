//! Hand-made malformed inputs: a clean exit 0 or 2 naming file and line,
//! never a panic or a hang, and never a field value in the message.

mod common;

use common::*;

fn schema() -> String {
    repo("schemas/transactions.toml").display().to_string()
}

fn anonymize(env: &TestEnv, input: &std::path::Path) -> Run {
    let key = env.key("k.key", TEST_KEY_HEX);
    env.run([
        "anonymize",
        "--schema",
        &schema(),
        "--key-file",
        key.to_str().unwrap(),
        "-q",
        "-o",
        "out.parquet",
        input.to_str().unwrap(),
    ])
}

fn row(mobile: &str) -> String {
    format!("T1,2008-05-31 23:30:00,2088000000000001,A,,{mobile},a@b.cn,addr,addr,1980-07-15,10.00,CNY,M1,web,false,1,")
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let env = TestEnv::new();
    let input = env.write("empty.csv", "");
    anonymize(&env, &input)
        .exit(2)
        .stderr_has("empty.csv: file is empty");
    assert!(!env.path("out.parquet").exists());
}

#[test]
fn header_only_gives_an_empty_typed_file() {
    let env = TestEnv::new();
    let input = env.write("h.csv", format!("\u{feff}{HEADER}\r\n"));
    anonymize(&env, &input).success();
    let (batches, kv) = read_parquet(&env.path("out.parquet"));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(kv.contains(&("txanon.rows".to_string(), "0".to_string())));
}

#[test]
fn nul_bytes_are_data_not_terminators() {
    let env = TestEnv::new();
    let input = env.write(
        "nul.csv",
        format!(
            "{HEADER}\n{}\n{}\n",
            row("138\u{0}0013 8000"),
            row("13800138000")
        ),
    );
    anonymize(&env, &input).success();
    let (batch, _) = read_all(&env.path("out.parquet"));
    let mobile = strings(&batch, "mobile_token");
    assert_eq!(
        mobile[0], None,
        "a phone with a NUL is invalid, not truncated"
    );
    assert!(mobile[1].is_some());
}

#[test]
fn a_hundred_thousand_columns_are_refused_briefly() {
    let env = TestEnv::new();
    let mut header = HEADER.to_string();
    for i in 0..100_000 {
        header.push_str(&format!(",extra{i}"));
    }
    let input = env.write("wide.csv", format!("{header}\n"));
    let run = anonymize(&env, &input);
    // Fewer than half of the header's fields are declared, so the header may
    // be a record of data: its fields are counted, never shown.
    run.exit(2)
        .stderr_has("undeclared column(s) (100000 of the 100017 header field(s)")
        .stderr_has("the fields are not shown")
        .stderr_lacks("extra0")
        .stderr_lacks("extra99999");
    assert!(
        run.stderr.len() < 4096,
        "message stays short: {} bytes",
        run.stderr.len()
    );
}

#[test]
fn ten_million_commas_is_a_bad_record() {
    let env = TestEnv::new();
    let mut text = format!("{HEADER}\n{}\n", row("13800138000"));
    text.push_str(&",".repeat(10_000_000));
    text.push('\n');
    let input = env.write("commas.csv", text);
    anonymize(&env, &input)
        .exit(2)
        .stderr_has("commas.csv:3: (record): wrong field count");
    assert!(!env.path("out.parquet").exists());
}

#[test]
fn a_twenty_megabyte_field_is_carried_or_refused_cleanly() {
    let env = TestEnv::new();
    let big = "x".repeat(20 << 20);
    // In a tokenized column: the address normalizes and tokenizes like any other.
    let text = format!(
        "{HEADER}\nT1,2008-05-31 23:30:00,2088000000000001,A,,13800138000,a@b.cn,\"{big}\",addr,1980-07-15,10.00,CNY,M1,web,false,1,\n"
    );
    let input = env.write("big.csv", text);
    let run = anonymize(&env, &input);
    run.success();
    assert!(run.stderr.len() < 4096);
    let (batch, _) = read_all(&env.path("out.parquet"));
    assert_eq!(
        strings(&batch, "home_address_token")[0]
            .as_ref()
            .map(String::len),
        Some(32)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn key_never_appears_in_the_process_command_line() {
    let env = TestEnv::new();
    let text = std::fs::read_to_string(repo("data-samples/transactions.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let input = env.write("big.csv", format!("{header}\n{}", body.repeat(20)));
    let mut cmd = env.command();
    cmd.env("TXANON_KEY", TEST_KEY_HEX)
        .args([
            "anonymize",
            "--schema",
            &schema(),
            "-q",
            "--threads",
            "1",
            "-o",
            "out.parquet",
            input.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // Read the command line once the process has exec'd.
    let mut cmdline = Vec::new();
    for _ in 0..400 {
        cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("anonymize") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success());
    let text = String::from_utf8_lossy(&cmdline).to_lowercase();
    assert!(text.contains("anonymize"), "read the right process: {text}");
    assert!(!text.contains(TEST_KEY_HEX));
    let out = std::fs::read(env.path("out.parquet")).unwrap();
    let raw = hex::decode(TEST_KEY_HEX).unwrap();
    assert!(
        !out.windows(raw.len()).any(|w| w == raw.as_slice()),
        "raw key bytes in output"
    );
    assert!(!String::from_utf8_lossy(&out)
        .to_uppercase()
        .contains(&TEST_KEY_HEX.to_uppercase()));
}
