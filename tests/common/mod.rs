//! Test harness: run the real `txanon` binary in a temporary directory.
//!
//! On failure, assertions print the command, exit status, stdout and stderr.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const DEMO_KEY_HEX: &str = "b683ce432590829a796e8802fc42be517504aa6783ecfd1b6c783e44e6420a21";
/// A non-demo test key.
pub const TEST_KEY_HEX: &str = "7d1c0e5a9b3f4e2d8c6a5b4f3e2d1c0b9a8f7e6d5c4b3a29181716151413121f";

/// Path of a file in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One temporary working directory.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

/// The outcome of one run.
pub struct Run {
    pub cmd: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success\n{}", self.describe());
        self
    }

    #[track_caller]
    pub fn exit(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stdout.contains(needle),
            "stdout contains {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stderr.contains(needle),
            "stderr contains {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// Neither stdout nor stderr contains `needle` (case-insensitive).
    #[track_caller]
    pub fn never_says(&self, needle: &str) -> &Run {
        let n = needle.to_lowercase();
        assert!(
            !self.stdout.to_lowercase().contains(&n) && !self.stderr.to_lowercase().contains(&n),
            "output contains {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write test file");
        p
    }

    /// A key file holding `hex`.
    pub fn key(&self, name: &str, hex: &str) -> PathBuf {
        self.write(name, format!("{hex}\n"))
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_txanon"));
        cmd.current_dir(self.dir.path())
            .env_remove("TXANON_KEY")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd)
    }

    /// Like `run`, but a run still going after `secs` seconds is killed and
    /// fails the test (a stalled pipeline must fail, not hang the suite).
    pub fn run_within<I, S>(&self, secs: u64, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out_path = self.dir.path().join(".run_within.stdout");
        let err_path = self.dir.path().join(".run_within.stderr");
        let mut cmd = self.command();
        cmd.args(args)
            .stdout(File::create(&out_path).expect("stdout file"))
            .stderr(File::create(&err_path).expect("stderr file"));
        let desc = format!("{cmd:?}");
        let mut child = cmd.spawn().expect("spawn txanon");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running after {secs} s, killed: {desc}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let run = Run {
            cmd: desc,
            code: status.code(),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out_path);
        let _ = std::fs::remove_file(err_path);
        run
    }

    /// `txanon anonymize --schema SCHEMA --key-file KEY -q EXTRA... -o OUT INPUT`.
    pub fn anonymize(
        &self,
        schema: &Path,
        key: &Path,
        extra: &[&str],
        out: &str,
        input: &Path,
    ) -> Run {
        let mut args: Vec<&OsStr> = vec![
            "anonymize".as_ref(),
            "--schema".as_ref(),
            schema.as_os_str(),
            "--key-file".as_ref(),
            key.as_os_str(),
            "-q".as_ref(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        args.extend(["-o".as_ref(), OsStr::new(out), input.as_os_str()]);
        self.run(args)
    }

    /// Files in the temp dir (to check nothing stray was left).
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read temp dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

pub fn run_command(mut cmd: Command) -> Run {
    let desc = format!("{cmd:?}");
    let out: Output = cmd.output().expect("spawn txanon");
    Run {
        cmd: desc,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Read a Parquet file back: its batches and footer key-value metadata.
pub fn read_parquet(path: &Path) -> (Vec<RecordBatch>, Vec<(String, String)>) {
    let file = File::open(path).expect("open parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet footer");
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let reader = builder.build().expect("parquet reader");
    let batches = reader.collect::<Result<Vec<_>, _>>().expect("read batches");
    (batches, kv)
}

/// One batch with all rows.
pub fn read_all(path: &Path) -> (RecordBatch, Vec<(String, String)>) {
    let (batches, kv) = read_parquet(path);
    let schema = batches
        .first()
        .map(|b| b.schema())
        .expect("at least one batch");
    (
        arrow_select::concat::concat_batches(&schema, &batches).expect("concat"),
        kv,
    )
}

/// String values of a column (None for nulls).
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let arr = col
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap_or_else(|| panic!("{name} is not Utf8"));
    arr.iter().map(|v| v.map(str::to_string)).collect()
}

/// The header of the sample dump.
pub const HEADER: &str = "txn_id,created_at,account_id,customer_name,id_card,mobile,email,home_address,shipping_address,birth_date,amount,currency,merchant_id,channel,is_refund,item_count,ip_address";

/// True under CI (`CI=true`, as GitHub Actions, GitLab and .ci/run set it):
/// there a missing test resource is a failure, not a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The third-party corpora (`$TXANON_CORPORA`, else `../shared/corpora` next
/// to the repository), or `None` after printing why the test is skipped.
/// Under CI a missing corpus fails the test instead: a skip there would be
/// counted as a pass.
pub fn corpora_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("TXANON_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("../shared/corpora"));
    if dir.is_dir() {
        return Some(dir);
    }
    let why = format!(
        "{test}: corpora directory {} not found (set TXANON_CORPORA or check out ../shared/corpora)",
        dir.display()
    );
    if under_ci() {
        panic!("{why}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED: {why}; the test did not run");
    None
}

/// `acct,region,n` rows for the entity-k tests (tests/privacy.rs,
/// tests/search.rs). Region "north": six customers, 10 rows (1-3 each).
/// Region "lonely": one customer's 20 rows (two thirds of the 30),
/// interleaved with the others: a class that must never pass `min_k = 5`.
pub fn planted_csv() -> String {
    let mut csv = String::from("acct,region,n\n");
    for i in 0..32 {
        if i % 3 == 0 && i / 3 < 6 {
            csv.push_str(&format!("1000{},north,{i}\n", i / 3));
        }
        if i < 20 {
            csv.push_str(&format!("9999,lonely,{i}\n"));
        }
        if i % 5 == 1 && i < 20 {
            csv.push_str(&format!("1000{},north,{i}\n", i % 6));
        }
    }
    csv
}

/// Run `txanon ARGS` after the shell commands `setup` (a limit, a umask).
#[cfg(unix)]
pub fn run_after(env: &TestEnv, setup: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("bash");
    cmd.current_dir(env.dir.path())
        .env_remove("TXANON_KEY")
        .stdin(Stdio::null())
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_txanon"))
        .args(args);
    run_command(cmd)
}

/// tests/support/fail_rename.c built as a shared library in `dir` (for
/// LD_PRELOAD), or `None` after saying why the test is skipped (a failure
/// under CI).
#[cfg(target_os = "linux")]
pub fn fail_rename_shim(dir: &Path) -> Option<PathBuf> {
    let lib = dir.join("fail_rename.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(repo("tests/support/fail_rename.c"))
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    if built {
        return Some(lib);
    }
    let why = "no C compiler (cc) to build the rename fault injection";
    assert!(
        !under_ci(),
        "{why}; CI=true, so this is a failure, not a skip"
    );
    eprintln!("SKIPPED: {why}; the test did not run");
    None
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Every `*.parquet` below `dir`, relative, sorted.
pub fn parquet_below(dir: &Path) -> Vec<String> {
    let mut files = files_below(dir);
    files.retain(|f| f.ends_with(".parquet"));
    files
}

/// The rows of a dataset as a sorted multiset of text lines, each with its
/// Hive partition (`col=value` segments of its path), as a glob reader
/// with hive partitioning sees them.
pub fn rows_of(dir: &Path) -> Vec<String> {
    let options = arrow_cast::display::FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for rel in parquet_below(dir) {
        let partition: Vec<&str> = rel.split('/').filter(|s| s.contains('=')).collect();
        let (batches, _) = read_parquet(&dir.join(&rel));
        for b in batches {
            let formatters: Vec<_> = b
                .columns()
                .iter()
                .map(|c| arrow_cast::display::ArrayFormatter::try_new(c, &options).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                let mut line = partition.join("/");
                for f in &formatters {
                    line.push('|');
                    line.push_str(&f.value(i).to_string());
                }
                rows.push(line);
            }
        }
    }
    rows.sort();
    rows
}

/// Every file below `dir` with its bytes, to show that nothing changed.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_below(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// `[privacy]` over one quasi-identifier (`region`), k counted in distinct
/// `acct_token` values; `acct` is tokenized, so the output holds no raw id.
pub fn entity_schema(min_k: u64, on_violation: &str) -> String {
    format!(
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [privacy]\nmin_k = {min_k}\non_violation = \"{on_violation}\"\nentity = \"acct_token\"\n\
         [[columns]]\nname = \"acct\"\naction = \"tokenize\"\nas = \"id\"\nnamespace = \"account\"\noutput = \"acct_token\"\n\
         [[columns]]\nname = \"region\"\naction = \"keep\"\nquasi = true\n\
         [[columns]]\nname = \"n\"\naction = \"keep\"\n"
    )
}
