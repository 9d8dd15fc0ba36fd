//! `txanon keygen`.

mod common;

use common::*;

#[test]
fn writes_a_private_64_hex_key_and_never_overwrites() {
    let env = TestEnv::new();
    let run = env.run(["keygen", "-o", "k.key"]);
    run.success().stderr_has("fingerprint");
    let text = std::fs::read_to_string(env.path("k.key")).unwrap();
    let hex = text.trim();
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    run.never_says(hex);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("k.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    env.run(["keygen", "-o", "k.key"])
        .exit(2)
        .stderr_has("never overwritten");
    assert_eq!(std::fs::read_to_string(env.path("k.key")).unwrap(), text);

    env.run(["keygen", "-o", "k2.key"]).success();
    assert_ne!(std::fs::read_to_string(env.path("k2.key")).unwrap(), text);
}

#[test]
fn generated_key_works_for_anonymize() {
    let env = TestEnv::new();
    env.run(["keygen", "-o", "k.key"]).success();
    env.run([
        "anonymize",
        "--schema",
        repo("schemas/transactions.toml").to_str().unwrap(),
        "--key-file",
        "k.key",
        "-q",
        "-o",
        "out.parquet",
        repo("data-samples/transactions.csv").to_str().unwrap(),
    ])
    .success()
    .stderr_lacks("DEMO KEY");
}

#[cfg(unix)]
#[test]
fn key_file_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let args = |k: &str| {
        vec![
            "anonymize".to_string(),
            "--schema".into(),
            repo("schemas/transactions.toml").display().to_string(),
            "--key-file".into(),
            k.to_string(),
            "-q".into(),
            "-o".into(),
            "out.parquet".into(),
            repo("data-samples/transactions.csv").display().to_string(),
        ]
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(args(key.to_str().unwrap()))
        .success()
        .stderr_has("readable by group or others")
        .never_says(TEST_KEY_HEX);
    std::fs::remove_file(env.path("out.parquet")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.run(args(key.to_str().unwrap()))
        .success()
        .stderr_lacks("readable by group");
}

#[test]
fn check_and_token_warn_about_a_readable_key_file_too() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let key = env.key("k.key", TEST_KEY_HEX);
    let schema = repo("schemas/transactions.toml").display().to_string();
    let input = repo("data-samples/transactions.csv").display().to_string();
    let key = key.to_str().unwrap().to_string();
    let check = ["check", "--schema", &schema, "--key-file", &key, &input];
    let token = [
        "token",
        "--schema",
        &schema,
        "--key-file",
        &key,
        "--column",
        "mobile",
        "13800138000",
    ];
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(check)
        .stderr_has("readable by group or others")
        .never_says(TEST_KEY_HEX);
    env.run(token)
        .success()
        .stderr_has("readable by group or others");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.run(check).stderr_lacks("readable by group");
}
