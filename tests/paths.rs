//! Issue 7, promise 4: operator mistakes with paths. An output that is an
//! input under any spelling (`./x`, an absolute path, `d/../x`, a symbolic
//! link either way, a hard link) or that is a symbolic link is refused with
//! exit 2 before anything is written: the input keeps its bytes, a link's
//! target is neither created nor changed, and no temporary file is left.

mod common;

use common::*;

fn anonymize(env: &TestEnv, output: &str, input: &str) -> Run {
    let key = env.path("k.key");
    if !key.exists() {
        env.key("k.key", TEST_KEY_HEX);
    }
    env.run([
        "anonymize",
        "--schema",
        repo("schemas/transactions.toml").to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "-q",
        "-o",
        output,
        input,
    ])
}

#[cfg(unix)]
#[test]
fn an_input_under_any_spelling_is_never_the_output() {
    use std::os::unix::fs::symlink;
    let env = TestEnv::new();
    let sample = std::fs::read(repo("data-samples/transactions.csv")).unwrap();
    let input = env.write("in.csv", &sample);
    std::fs::create_dir(env.path("sub")).unwrap();
    symlink(&input, env.path("link.csv")).unwrap();
    std::fs::hard_link(&input, env.path("hard.csv")).unwrap();
    let abs = input.display().to_string();
    let cases: [(&str, &str, &str); 7] = [
        ("in.csv", "in.csv", "also an input"),
        ("./in.csv", "in.csv", "also an input"),
        (&abs, "in.csv", "also an input"),
        ("sub/../in.csv", "./in.csv", "also an input"),
        ("in.csv", "link.csv", "also an input"),
        ("hard.csv", "in.csv", "also an input"),
        ("link.csv", "in.csv", "symbolic link"),
    ];
    env.key("k.key", TEST_KEY_HEX);
    let before = env.files();
    for (output, input_arg, message) in cases {
        anonymize(&env, output, input_arg)
            .exit(2)
            .stderr_has(message);
        assert_eq!(
            std::fs::read(&input).unwrap(),
            sample,
            "-o {output}: input untouched"
        );
        assert_eq!(
            env.files(),
            before,
            "-o {output}: nothing written, no temp file"
        );
    }
    // The same input listed twice and the output spelled like the second.
    anonymize(&env, "./hard.csv", "in.csv").exit(2);
    assert_eq!(std::fs::read(env.path("hard.csv")).unwrap(), sample);
}

#[cfg(unix)]
#[test]
fn a_symlinked_target_is_refused_and_its_target_left_alone() {
    use std::os::unix::fs::symlink;
    let env = TestEnv::new();
    let sample = repo("data-samples/transactions.csv").display().to_string();
    // To an existing file (which must keep its bytes), to nothing, to a directory.
    let existing = env.write("existing.parquet", b"not to be replaced");
    symlink(&existing, env.path("to-existing.parquet")).unwrap();
    symlink(env.path("absent.parquet"), env.path("dangling.parquet")).unwrap();
    std::fs::create_dir(env.path("d")).unwrap();
    symlink(env.path("d"), env.path("to-dir.parquet")).unwrap();
    env.key("k.key", TEST_KEY_HEX);
    let before = env.files();
    for link in ["to-existing.parquet", "dangling.parquet", "to-dir.parquet"] {
        anonymize(&env, link, &sample)
            .exit(2)
            .stderr_has("symbolic link");
        assert_eq!(env.files(), before, "{link}: nothing written");
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"not to be replaced");
    assert!(!env.path("absent.parquet").exists());
    assert_eq!(std::fs::read_dir(env.path("d")).unwrap().count(), 0);
    // A directory as the output.
    anonymize(&env, "d", &sample)
        .exit(2)
        .stderr_has("is a directory");
    // keygen never writes through a link either.
    env.run(["keygen", "-o", "dangling.parquet"]).exit(2);
    assert!(!env.path("absent.parquet").exists());
    env.run(["keygen", "-o", "to-existing.parquet"]).exit(2);
    assert_eq!(std::fs::read(&existing).unwrap(), b"not to be replaced");
}
