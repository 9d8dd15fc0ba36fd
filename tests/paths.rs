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

/// Everything in the temp dir with its bytes (a FIFO or socket as a marker),
/// to show a refused run changed nothing.
#[cfg(unix)]
fn snapshot(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    use std::os::unix::fs::FileTypeExt;
    env.files()
        .into_iter()
        .map(|name| {
            let meta = std::fs::symlink_metadata(env.path(&name)).unwrap();
            let t = meta.file_type();
            let bytes = if t.is_fifo() {
                b"<fifo>".to_vec()
            } else if t.is_socket() {
                b"<socket>".to_vec()
            } else if t.is_char_device() {
                b"<char device>".to_vec()
            } else if t.is_symlink() {
                b"<symlink>".to_vec()
            } else if t.is_dir() {
                b"<dir>".to_vec()
            } else {
                std::fs::read(env.path(&name)).unwrap()
            };
            (name, bytes)
        })
        .collect()
}

/// Issue 14, item 4: `-o` or `--manifest` naming the key file or the schema
/// (under any spelling, through a link to it, as a hard link) overwrote it
/// and exited 0: the key was lost. `-o` naming a FIFO, a socket or a
/// character device replaced it with a regular file. `--manifest X -o X`
/// left a Parquet file at X while saying nothing was written. Every such
/// target is refused with exit 2 before any input is read, for single-file,
/// directory and partitioned outputs and for keygen, and nothing changes.
#[cfg(unix)]
#[test]
fn issue14_outputs_are_only_ever_new_regular_files() {
    use std::os::unix::fs::symlink;
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let schema = env.write(
        "schema.toml",
        std::fs::read(repo("schemas/transactions.toml")).unwrap(),
    );
    std::fs::create_dir(env.path("sub")).unwrap();
    symlink(&key, env.path("link.key")).unwrap();
    std::fs::hard_link(&key, env.path("hard.key")).unwrap();
    std::fs::hard_link(&schema, env.path("hard.toml")).unwrap();
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let _socket = std::os::unix::net::UnixListener::bind(env.path("sock")).unwrap();
    // A character device needs root (mknod); the same node as /dev/null,
    // inside the temp dir so a failure cannot replace the system's.
    let chardev = std::process::Command::new("mknod")
        .args([env.path("null").to_str().unwrap(), "c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if !chardev {
        eprintln!("not root: the character-device case is skipped");
    }
    let input = repo("data-samples/transactions.csv").display().to_string();
    let abs_key = key.display().to_string();
    let run = |key_arg: &str, extra: &[&str]| {
        let mut args = vec![
            "anonymize",
            "--schema",
            "schema.toml",
            "--key-file",
            key_arg,
            "-q",
        ];
        args.extend(extra);
        args.push(&input);
        env.run(args)
    };
    let mut cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("k.key", vec!["-o", "k.key"], "is the key file"),
        ("k.key", vec!["-o", "./sub/../k.key"], "is the key file"),
        ("k.key", vec!["-o", &abs_key], "is the key file"),
        ("link.key", vec!["-o", "k.key"], "is the key file"),
        ("k.key", vec!["-o", "hard.key"], "is the key file"),
        ("k.key", vec!["-o", "schema.toml"], "is the schema"),
        ("k.key", vec!["-o", "hard.toml"], "is the schema"),
        (
            "k.key",
            vec!["--manifest", "k.key", "-o", "o.parquet"],
            "--manifest k.key is the key file",
        ),
        (
            "k.key",
            vec!["--manifest", "hard.key", "-o", "d/"],
            "--manifest hard.key is the key file",
        ),
        (
            "k.key",
            vec![
                "--manifest",
                "schema.toml",
                "--partition-by",
                "created_month",
                "-o",
                "d",
            ],
            "is the schema",
        ),
        (
            "k.key",
            vec!["--manifest", "x.parquet", "-o", "x.parquet"],
            "same path",
        ),
        (
            "k.key",
            vec!["--manifest", "./x.parquet", "-o", "sub/../x.parquet"],
            "same path",
        ),
        ("k.key", vec!["-o", "fifo"], "is a FIFO"),
        (
            "k.key",
            vec!["--manifest", "fifo", "-o", "o.parquet"],
            "is a FIFO",
        ),
        ("k.key", vec!["-o", "sock"], "is a socket"),
    ];
    if chardev {
        cases.push(("k.key", vec!["-o", "null"], "is a character device"));
        cases.push((
            "k.key",
            vec!["--manifest", "null", "-o", "d/"],
            "is a character device",
        ));
    }
    let before = snapshot(&env);
    for (key_arg, extra, message) in &cases {
        run(key_arg, extra).exit(2).stderr_has(message);
        assert_eq!(
            snapshot(&env),
            before,
            "{extra:?}: nothing written, nothing replaced, no temp file"
        );
    }
    // A manifest inside the directory output it describes.
    std::fs::create_dir(env.path("out")).unwrap();
    run("k.key", &["--manifest", "out/m.json", "-o", "out/"])
        .exit(2)
        .stderr_has("one holds the other");
    assert_eq!(std::fs::read_dir(env.path("out")).unwrap().count(), 0);
    std::fs::remove_dir(env.path("out")).unwrap();
    // keygen: an existing FIFO or device is named for what it is.
    env.run(["keygen", "-o", "fifo"])
        .exit(2)
        .stderr_has("is a FIFO");
    if chardev {
        env.run(["keygen", "-o", "null"])
            .exit(2)
            .stderr_has("is a character device");
    }
    assert_eq!(snapshot(&env), before);
    // The key and schema still work, and a new path is accepted.
    run("k.key", &["--manifest", "m.json", "-o", "o.parquet"]).success();
    assert!(env.path("o.parquet").exists() && env.path("m.json").exists());
}
