//! Issue 14 (item 8) and issue 13 (item 4): every command that prints to
//! stdout writes through one writer. A reader that went away (a closed
//! pipe, `txanon ... | head -c1`) is a quiet success: exit 0, nothing on
//! stderr. Any other write error (`> /dev/full`) is exit 2 with a message
//! naming stdout, never a panic and never a success that lost its report.
//! The list of commands comes from the CLI definition: a new command must
//! join one of the lists below or this test fails.

mod common;

use std::process::Stdio;

use clap::CommandFactory;
use common::*;

/// Commands that print nothing on stdout.
const SILENT: &[&str] = &["keygen", "report"];
/// Commands run by the txanon-df binary, which is not part of the core
/// build (its stdout goes through the same writer: crates/txanon-datafusion).
const EXTERNAL: &[&str] = &["sql"];

/// One way to call each command that prints: name, arguments, stdin.
fn printing_commands(env: &TestEnv) -> Vec<(String, Vec<String>, Option<Vec<u8>>)> {
    let key = env.key("k.key", TEST_KEY_HEX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // No warning about a readable key: stderr must stay empty.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = key.display().to_string();
    // The sample release with a budget for every run of this file.
    let spec = std::fs::read_to_string(repo("schemas/aggregate-monthly.toml")).unwrap();
    let aggregate_spec = env
        .write(
            "agg.toml",
            spec.replace("max_epsilon = 3.0", "max_epsilon = 1000.0"),
        )
        .display()
        .to_string();
    let schema = repo("schemas/transactions.toml").display().to_string();
    let input = repo("data-samples/transactions.csv").display().to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut out = vec![
        (
            "anonymize".to_string(),
            s(&[
                "anonymize",
                "-q",
                "--json",
                "--report",
                "report.html",
                "--schema",
                &schema,
                "--key-file",
                &key,
                "-o",
                "out.parquet",
                &input,
            ]),
            None,
        ),
        ("init".into(), s(&["init", &input]), None),
        (
            "privacy-search".into(),
            s(&[
                "privacy-search",
                "--schema",
                &repo("schemas/transactions-search.toml")
                    .display()
                    .to_string(),
                "--key-file",
                &key,
                &input,
            ]),
            None,
        ),
        (
            "token".into(),
            s(&[
                "token",
                "--schema",
                &schema,
                "--key-file",
                &key,
                "--column",
                "mobile",
                "13800138000",
            ]),
            None,
        ),
        (
            "token --stdin".into(),
            s(&[
                "token",
                "--schema",
                &schema,
                "--key-file",
                &key,
                "--column",
                "mobile",
                "--stdin",
            ]),
            Some(b"13800138000\n+86 139 0000 0000\n".to_vec()),
        ),
        (
            "aggregate".into(),
            s(&[
                "aggregate",
                "-q",
                "--json",
                "--schema",
                &repo("schemas/transactions-aggregate.toml")
                    .display()
                    .to_string(),
                "--spec",
                &aggregate_spec,
                "--key-file",
                &key,
                "--new-ledger",
                "-o",
                "agg.parquet",
                &input,
            ]),
            None,
        ),
    ];
    if !env.path("ds").exists() {
        env.run(s(&[
            "anonymize",
            "-q",
            "--schema",
            &schema,
            "--key-file",
            &key,
            "-o",
            "ds/",
            &input,
        ]))
        .success();
    }
    for format in ["text", "json"] {
        out.push((
            format!("dataset --format {format}"),
            s(&["dataset", "--format", format, "ds/"]),
            None,
        ));
    }
    for json in [&[][..], &["--json"][..]] {
        let mut args = s(&["erase", "--schema", &schema, "--key-file", &key]);
        args.extend(s(&["--column", "mobile", "--dry-run"]));
        args.extend(s(json));
        args.extend(s(&["133-5705-1240", "ds/"]));
        out.push((format!("erase --dry-run {json:?}"), args, None));
    }
    for format in ["text", "json", "junit", "github"] {
        out.push((
            format!("check --format {format}"),
            s(&["check", "--schema", &schema, "--format", format, &input]),
            None,
        ));
        out.push((
            format!("scan --format {format}"),
            s(&["scan", "--format", format, &input]),
            None,
        ));
    }
    out
}

fn spawn(env: &TestEnv, args: &[String], stdin: &Option<Vec<u8>>, stdout: Stdio) -> Run {
    // The shell waits a moment before becoming txanon, so a closed pipe is
    // closed before anything is written.
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(env.dir.path())
        .env_remove("TXANON_KEY")
        .arg("-c")
        .arg("sleep 0.2; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_txanon"))
        .args(args)
        .stdin(match stdin {
            Some(bytes) => Stdio::from(std::fs::File::open(env.write("stdin.txt", bytes)).unwrap()),
            None => Stdio::null(),
        })
        .stdout(stdout)
        .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    Run {
        cmd: desc,
        code: out.status.code(),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn issue14_every_printing_command_is_covered() {
    let env = TestEnv::new();
    let tested: Vec<String> = printing_commands(&env)
        .into_iter()
        .map(|(name, _, _)| name.split(' ').next().unwrap().to_string())
        .collect();
    for sub in txanon::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            tested.iter().any(|t| t == name) || SILENT.contains(&name) || EXTERNAL.contains(&name),
            "command {name} is in no list of tests/stdout.rs"
        );
    }
}

#[cfg(unix)]
#[test]
fn issue14_a_closed_stdout_is_a_quiet_success() {
    let env = TestEnv::new();
    for (name, args, stdin) in printing_commands(&env) {
        let run = spawn(&env, &args, &stdin, Stdio::piped());
        assert_eq!(run.code, Some(0), "{name}: exit\n{}", run.stderr);
        assert_eq!(run.stderr, "", "{name}: no message");
        if name == "anonymize" {
            // Only the summary nobody read is lost, never a file.
            assert_eq!(read_all(&env.path("out.parquet")).0.num_rows(), 3000);
            assert!(env.path("report.html").exists());
            std::fs::remove_file(env.path("out.parquet")).unwrap();
            std::fs::remove_file(env.path("report.html")).unwrap();
        }
        if name == "aggregate" {
            // The release is in place: only the report nobody read is lost.
            assert_eq!(read_all(&env.path("agg.parquet")).0.num_rows(), 84 * 34);
            std::fs::remove_file(env.path("agg.parquet")).unwrap();
        }
    }
    // A real `| head -c1` after more output than a pipe holds.
    let (_, mut args, _) = printing_commands(&env).swap_remove(3);
    let values: String = (0..5000).map(|i| format!("1380013{i:04}\n")).collect();
    env.write("many.txt", values);
    args.insert(0, env!("CARGO_BIN_EXE_txanon").to_string());
    let run = run_command({
        let mut cmd = std::process::Command::new("bash");
        cmd.current_dir(env.dir.path())
            .arg("-c")
            .arg("set -o pipefail; \"$@\" < many.txt | head -c1 > /dev/null")
            .arg("bash")
            .args(&args);
        cmd
    });
    run.success();
    assert_eq!(run.stderr, "");
}

#[cfg(unix)]
#[test]
fn issue14_a_failing_stdout_is_an_error_not_a_panic_or_a_success() {
    let env = TestEnv::new();
    for (name, args, stdin) in printing_commands(&env) {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let run = spawn(&env, &args, &stdin, Stdio::from(full));
        run.exit(2)
            .stderr_has("cannot write to stdout: No space left on device")
            .stderr_lacks("panicked");
        if name == "anonymize" {
            // The output itself is complete, and the message says so.
            run.stderr_has("out.parquet is complete");
            assert_eq!(read_all(&env.path("out.parquet")).0.num_rows(), 3000);
            assert!(env.path("report.html").exists());
            std::fs::remove_file(env.path("out.parquet")).unwrap();
            std::fs::remove_file(env.path("report.html")).unwrap();
        }
        if name == "aggregate" {
            // The release is in place: only the report nobody read is lost.
            assert_eq!(read_all(&env.path("agg.parquet")).0.num_rows(), 84 * 34);
            std::fs::remove_file(env.path("agg.parquet")).unwrap();
        }
    }
}
