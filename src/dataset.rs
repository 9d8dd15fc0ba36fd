//! Datasets that grow: a directory output of `anonymize`, the generations
//! `anonymize --append` adds to it, and their verification (`txanon
//! dataset`).
//!
//! ```text
//! DATASET/_manifest.json               the whole dataset as of its newest generation
//! DATASET/[col=v/]part-00000.parquet   generation 1 (a plain `anonymize -o DATASET/`)
//! DATASET/g00002/[col=v/]part-*.parquet, g00002/_generation.json   generation 2, ...
//! DATASET/_manifests/00001.json        every earlier manifest
//! ```
//!
//! An append of generation N+1 writes its part files and the new manifest
//! into `.DATASET.txanon-tmp-PID/gN+1/` beside the dataset (outside any
//! `DATASET/**/*.parquet` glob), fsyncs them, and then:
//!
//! 1. renames that directory to `DATASET/gN+1` (one rename: the commit
//!    point; a glob reader sees the whole generation or none of it);
//! 2. copies the old `_manifest.json` to `_manifests/N.json`;
//! 3. replaces `_manifest.json` with the new one (`gN+1/_generation.json`
//!    holds the same bytes).
//!
//! A kill before 1 leaves the old dataset and a temporary directory that
//! the next run removes; a kill after 1 leaves the new dataset with
//! `_manifest.json` one generation behind: [`open`] then takes the newest
//! `_generation.json` as the dataset's manifest, [`verify`] says so in a
//! note, and the next append finishes steps 2 and 3 first ([`repair`]).
//!
//! An erasure (`txanon erase`, [`crate::erase`]) is a generation without a
//! directory: it replaces the whole dataset directory in one step, with
//! rewritten part files under new names and the erasure's counts in the
//! manifest's `generations`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::output::{commit, commit_subdir, create_dir, process_alive, Staged, TMP_MARKER};
use crate::io::parquet_writer::{GENERATION_MANIFEST, MANIFEST};

pub mod earlier;

/// The directory of earlier manifests inside a dataset.
pub const HISTORY: &str = "_manifests";

/// The directory holding generation `n` (n >= 2) inside a dataset.
pub fn generation_dir(n: u64) -> String {
    format!("g{n:05}")
}

/// A dataset's committed state.
#[derive(Debug, Clone)]
pub struct Current {
    /// The dataset directory.
    pub dir: PathBuf,
    /// The manifest of the newest committed generation.
    pub manifest: Value,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its generation.
    pub generation: u64,
    /// `_manifest.json`'s generation and bytes when it lags one generation
    /// behind (an append stopped after its commit point).
    pub lagging: Option<(u64, Vec<u8>)>,
}

/// The generation a manifest describes (1 for one written before
/// generations were recorded).
pub fn generation_of(manifest: &Value) -> u64 {
    manifest
        .get("generation")
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

fn read_manifest(path: &Path) -> Result<(Value, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Usage(format!(
            "{}: not a txanon manifest (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !value.get("files").is_some_and(Value::is_array) {
        return Err(Error::Usage(format!(
            "{}: not a dataset manifest (no list of part files)",
            path.display()
        )));
    }
    Ok((value, bytes))
}

/// The generation a directory name inside a dataset holds (`g00002` -> 2),
/// or `None` for any other name.
pub fn generation_in_name(name: &str) -> Option<u64> {
    name.strip_prefix('g')
        .filter(|d| d.len() >= 5 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u64>().ok())
}

/// The generation directories (`gNNNNN`) at the top of `dir`, by number.
fn generation_dirs(dir: &Path) -> Result<BTreeMap<u64, PathBuf>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let Some(n) = entry.file_name().to_str().and_then(generation_in_name) else {
            continue;
        };
        found.insert(n, entry.path());
    }
    Ok(found)
}

/// Read a dataset's committed state: `_manifest.json`, or the manifest of
/// the generation after it when an append stopped between its commit and
/// the manifest's replacement.
pub fn open(dir: &Path) -> Result<Current> {
    let top = dir.join(MANIFEST);
    if !dir.is_dir() || !top.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a dataset written by txanon (no {MANIFEST} in it)",
            dir.display()
        )));
    }
    let (manifest, bytes) = read_manifest(&top)?;
    let generation = generation_of(&manifest);
    let next = dir
        .join(generation_dir(generation + 1))
        .join(GENERATION_MANIFEST);
    if next.is_file() {
        let (newer, newer_bytes) = read_manifest(&next)?;
        if generation_of(&newer) == generation + 1 {
            return Ok(Current {
                dir: dir.to_path_buf(),
                manifest: newer,
                bytes: newer_bytes,
                generation: generation + 1,
                lagging: Some((generation, bytes)),
            });
        }
    }
    Ok(Current {
        dir: dir.to_path_buf(),
        manifest,
        bytes,
        generation,
        lagging: None,
    })
}

/// Write a file in place through a temporary beside it (atomic replace).
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    commit(vec![Staged::file(path, bytes, mode)?])
}

/// Finish an append that stopped after its commit point: keep the lagging
/// `_manifest.json` under `_manifests/` and put the newest manifest in its
/// place. Does nothing when `_manifest.json` is current.
pub fn repair(current: &mut Current, mode: u32) -> Result<()> {
    let Some((generation, bytes)) = current.lagging.take() else {
        return Ok(());
    };
    keep_in_history(&current.dir, generation, &bytes, mode)?;
    replace_file(&current.dir.join(MANIFEST), &current.bytes, mode)
}

fn keep_in_history(dir: &Path, generation: u64, bytes: &[u8], mode: u32) -> Result<()> {
    let history = dir.join(HISTORY);
    if !history.is_dir() {
        create_dir(&history, mode)?;
    }
    replace_file(&history.join(format!("{generation:05}.json")), bytes, mode)
}

/// Put a staged generation in place (see the module documentation): the
/// generation's directory `sub` inside `staged`, then the history, then
/// `_manifest.json` (`manifest`, the bytes of `sub/_generation.json`).
pub fn commit_generation(
    current: &Current,
    staged: Staged,
    sub: &str,
    manifest: &[u8],
    mode: u32,
) -> Result<()> {
    commit_subdir(staged, sub)?;
    let after = |e: Error| match e {
        Error::Io { error, .. } => Error::PartlyWritten {
            written: current.dir.join(sub),
            failed: current.dir.join(MANIFEST),
            error,
            stale: " (the generation is committed: `txanon dataset` reports it, and the \
                    next append rewrites the manifest)"
                .into(),
        },
        other => other,
    };
    keep_in_history(&current.dir, current.generation, &current.bytes, mode).map_err(after)?;
    replace_file(&current.dir.join(MANIFEST), manifest, mode).map_err(after)
}

/// What the manifest of a dataset must agree with for an append.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// SHA-256 of the schema file.
    pub schema_sha256: &'a str,
    /// Token spec version.
    pub token_spec: &'a str,
    /// The run's token context.
    pub token_context: &'a str,
    /// The key's public fingerprint.
    pub key_fingerprint: &'a str,
    /// `--partition-by`, when given.
    pub partition_by: Option<&'a str>,
}

/// Refuse to append when the dataset was made with another schema, token
/// spec, context, key or partitioning: tokens of one dataset must join.
/// Names the mismatch, never the key.
pub fn check_compatible(current: &Current, want: &Identity<'_>) -> Result<()> {
    let m = &current.manifest;
    let text = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("(none)");
    let dir = current.dir.display();
    let refuse = |what: &str, theirs: &str, ours: &str| {
        Err(Error::Usage(format!(
            "cannot append to {dir}: it was written with {what} {theirs}, this run has {ours}; \
             tokens of one dataset must join (nothing was read or written)"
        )))
    };
    if text("/schema/sha256") != want.schema_sha256 {
        return refuse(
            "a schema of SHA-256",
            text("/schema/sha256"),
            want.schema_sha256,
        );
    }
    if text("/token_spec") != want.token_spec {
        return refuse("token spec", text("/token_spec"), want.token_spec);
    }
    if text("/token_context") != want.token_context {
        return refuse(
            "token context",
            &format!("{:?}", text("/token_context")),
            &format!("{:?}", want.token_context),
        );
    }
    if text("/key_fingerprint") != want.key_fingerprint {
        return refuse(
            "the key of fingerprint",
            text("/key_fingerprint"),
            &format!("a key of fingerprint {}", want.key_fingerprint),
        );
    }
    let partition = m.get("partition_by").and_then(Value::as_str);
    if let Some(p) = want.partition_by {
        if partition != Some(p) {
            return refuse(
                "--partition-by",
                partition.unwrap_or("(none)"),
                &format!("--partition-by {p}"),
            );
        }
    }
    Ok(())
}

/// The dataset's partition column.
pub fn partition_by(current: &Current) -> Option<String> {
    current
        .manifest
        .get("partition_by")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// An input already in the dataset.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// The path as recorded.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The generation that added it.
    pub generation: u64,
}

/// Every input the manifest records with its SHA-256.
pub fn recorded_inputs(current: &Current) -> Vec<Recorded> {
    let list = current.manifest.get("inputs").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|i| {
            Some(Recorded {
                path: i.get("path")?.as_str()?.to_string(),
                sha256: i.get("sha256")?.as_str()?.to_string(),
                generation: i.get("generation").and_then(Value::as_u64).unwrap_or(1),
            })
        })
        .collect()
}

/// What an append does with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// New content: append it.
    Append,
    /// The same content is in the dataset: skip it.
    Skip {
        /// The generation that added it.
        generation: u64,
    },
    /// Changed content at a recorded path, under `--replace-changed`: the
    /// rows of the generation that added the earlier content go, the new
    /// content is appended (see [`without_generations`]).
    Replace {
        /// The generation that added the earlier content (its only input).
        generation: u64,
    },
}

/// Decide for one input (`path` as given, its SHA-256): content already in
/// the dataset is skipped; other content at a path the dataset recorded is
/// an error (a changed export), named by path and generation, unless
/// `replace` (`--replace-changed`) and the earlier content was the only
/// input of its generation: rows do not record which input they came from,
/// so only a generation of one input can be told apart.
pub fn plan_input(recorded: &[Recorded], path: &Path, sha256: &str, replace: bool) -> Result<Plan> {
    if let Some(r) = recorded.iter().find(|r| r.sha256 == sha256) {
        return Ok(Plan::Skip {
            generation: r.generation,
        });
    }
    let same_path = |r: &Recorded| {
        let old = Path::new(&r.path);
        old == path
            || matches!(
                (std::fs::canonicalize(old), std::fs::canonicalize(path)),
                (Ok(a), Ok(b)) if a == b
            )
    };
    if let Some(r) = recorded.iter().find(|r| same_path(r)) {
        if !replace {
            return Err(Error::Usage(format!(
                "input {} was appended in generation {} with other content (its SHA-256 \
                 changed): refusing to add a changed export again (rows from the earlier \
                 content stay in the dataset; --replace-changed replaces them)",
                path.display(),
                r.generation
            )));
        }
        let others = recorded
            .iter()
            .filter(|o| o.generation == r.generation)
            .count()
            - 1;
        if others > 0 {
            return Err(Error::Usage(format!(
                "input {} was appended in generation {} together with {others} other \
                 input(s): rows do not record their input, so its rows cannot be told apart \
                 from theirs and --replace-changed cannot remove them (it replaces inputs \
                 that were the only input of their generation, as one --append per export \
                 makes them); nothing was read or written (rebuild the dataset from all \
                 inputs)",
                path.display(),
                r.generation
            )));
        }
        return Ok(Plan::Replace {
            generation: r.generation,
        });
    }
    Ok(Plan::Append)
}

/// What `--replace-changed` removes: the part files of the replaced
/// generations, and the manifest the append builds on.
#[derive(Debug, Clone)]
pub struct Removal {
    /// The dataset's manifest without the replaced generations' inputs and
    /// part files (rows written lowered, `rows.replaced` raised).
    pub base: Value,
    /// Their part files, relative to the dataset.
    pub files: Vec<String>,
    /// One entry per replaced input, for the new generation's record:
    /// path, SHA-256 and generation of the earlier content, part files and
    /// rows removed (counts only).
    pub replaced: Vec<Value>,
}

/// The manifest without generations `gone` (each the generation of one
/// replaced input): their inputs and part files leave the lists; the
/// earlier generations' entries in `generations` stay as history.
pub fn without_generations(manifest: &Value, gone: &BTreeSet<u64>) -> Result<Removal> {
    let mut base = manifest.clone();
    let bad = |what: &str| Error::Internal(format!("manifest without {what}"));
    let obj = base.as_object_mut().ok_or_else(|| bad("an object"))?;
    let of = |v: &Value| v.get("generation").and_then(Value::as_u64).unwrap_or(1);
    let mut replaced: BTreeMap<u64, Value> = BTreeMap::new();
    if let Some(inputs) = obj.get_mut("inputs").and_then(Value::as_array_mut) {
        inputs.retain(|i| {
            if !gone.contains(&of(i)) {
                return true;
            }
            replaced.insert(
                of(i),
                serde_json::json!({
                    "path": i.get("path").cloned().unwrap_or(Value::Null),
                    "sha256": i.get("sha256").cloned().unwrap_or(Value::Null),
                    "generation": of(i),
                    "files_removed": 0,
                    "rows_removed": 0,
                }),
            );
            false
        });
    }
    let mut files = Vec::new();
    let mut removed_rows = 0u64;
    if let Some(list) = obj.get_mut("files").and_then(Value::as_array_mut) {
        list.retain(|f| {
            let g = of(f);
            if !gone.contains(&g) {
                return true;
            }
            let rows = f.get("rows").and_then(Value::as_u64).unwrap_or(0);
            removed_rows += rows;
            if let Some(path) = f.get("path").and_then(Value::as_str) {
                files.push(path.to_string());
            }
            if let Some(r) = replaced.get_mut(&g).and_then(Value::as_object_mut) {
                for (k, n) in [("files_removed", 1), ("rows_removed", rows)] {
                    let v = r.get(k).and_then(Value::as_u64).unwrap_or(0) + n;
                    r.insert(k.into(), v.into());
                }
            }
            false
        });
    }
    let rows = obj
        .entry("rows")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| bad("a rows object"))?;
    let get = |k: &str| rows.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (written, before) = (get("written").saturating_sub(removed_rows), get("replaced"));
    rows.insert("written".into(), written.into());
    rows.insert("replaced".into(), (before + removed_rows).into());
    Ok(Removal {
        base,
        files,
        replaced: replaced.into_values().collect(),
    })
}

/// Put a staged generation in place while removing the part files of
/// replaced generations (`--replace-changed`), as one step: the rest of the
/// dataset is hard-linked into the staged directory beside the new
/// generation `sub` (the removed files left out), the history and
/// `manifest` are written into it, and the staged tree is swapped with the
/// dataset by renameat2 RENAME_EXCHANGE, as `txanon erase` does. A reader
/// sees the old dataset or the new one; a kill before the swap leaves the
/// old one and a temporary tree, after it the new one and the old tree
/// under the temporary name, removed by the next run.
pub fn commit_replacing(
    current: &Current,
    staged: Staged,
    manifest: &[u8],
    mode: u32,
    removed: &[String],
) -> Result<()> {
    let temp = staged.temp().to_path_buf();
    let skip: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
    crate::io::staging::mirror_pruned(&current.dir, &temp, &skip)?;
    let history = temp.join(HISTORY);
    if !history.is_dir() {
        create_dir(&history, mode)?;
    }
    let kept = history.join(format!("{:05}.json", current.generation));
    if std::fs::symlink_metadata(&kept).is_ok() {
        std::fs::remove_file(&kept).map_err(|e| Error::io(&kept, e))?;
    }
    crate::io::staging::write_new(&kept, &current.bytes, mode & 0o666)?;
    crate::io::staging::write_new(&temp.join(MANIFEST), manifest, mode & 0o666)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir_mode = std::fs::metadata(&current.dir)
            .map_err(|e| Error::io(&current.dir, e))?
            .permissions()
            .mode()
            & 0o777;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(dir_mode))
            .map_err(|e| Error::io(&temp, e))?;
    }
    crate::io::staging::sync_tree(&temp);
    crate::io::output::exchange_dir(staged)
}

/// A finding of [`verify`]: a file and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The file, relative to the dataset.
    pub file: String,
    /// What is wrong (no values).
    pub problem: String,
}

/// Everything [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The committed state.
    pub current: Current,
    /// Inconsistencies (the dataset fails).
    pub problems: Vec<Problem>,
    /// Conditions that do not make it fail (a manifest one generation
    /// behind, temporaries of a killed run beside it).
    pub notes: Vec<String>,
    /// Part files checked.
    pub files: u64,
    /// Rows in them (from their footers).
    pub rows: u64,
}

impl Verification {
    /// Whether every listed part file is there as recorded and no other is.
    pub fn consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every `*.parquet` below `dir` (hidden directories included, links not
/// followed), relative, with `/` separators.
fn parquet_files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = todo.pop() {
        for entry in std::fs::read_dir(&path).map_err(|e| Error::io(&path, e))? {
            let entry = entry.map_err(|e| Error::io(&path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel}{name}");
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if kind.is_dir() {
                todo.push((entry.path(), format!("{rel}/")));
            } else if name.ends_with(".parquet") {
                found.insert(rel);
            }
        }
    }
    Ok(found)
}

/// A manifest path that stays inside the dataset.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Rows in a Parquet file's footer.
fn footer_rows(path: &Path) -> std::result::Result<u64, String> {
    use parquet::file::reader::FileReader;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = parquet::file::reader::SerializedFileReader::new(file)
        .map_err(|_| "not a readable Parquet file (truncated or damaged footer)".to_string())?;
    Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Check a dataset against its manifest: every listed part file exists with
/// its recorded size and row count (read from its footer), and no other
/// `*.parquet` file is below the directory (a glob reader would read it).
pub fn verify(dir: &Path) -> Result<Verification> {
    let current = open(dir)?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if let Some((g, _)) = &current.lagging {
        notes.push(format!(
            "{MANIFEST} still describes generation {g}: generation {} was committed \
             ({}/{GENERATION_MANIFEST}) by an append that stopped before replacing it; \
             the next append rewrites it",
            current.generation,
            generation_dir(current.generation)
        ));
    }
    for (n, path) in generation_dirs(dir)? {
        let rel = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if n < 2 || n > current.generation {
            problems.push(Problem {
                file: format!("{rel}/"),
                problem: format!(
                    "a generation directory the manifest does not know (it describes \
                     generations 1 to {})",
                    current.generation
                ),
            });
        }
    }
    let on_disk = parquet_files(dir)?;
    let listed = current
        .manifest
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    let (mut files, mut rows, mut recorded_rows) = (0u64, 0u64, 0u64);
    for entry in &listed {
        let Some(rel) = entry.get("path").and_then(Value::as_str) else {
            problems.push(Problem {
                file: MANIFEST.into(),
                problem: "a part file entry without a path".into(),
            });
            continue;
        };
        let problem = |p: String| Problem {
            file: rel.to_string(),
            problem: p,
        };
        if !safe_relative(rel) || !seen.insert(rel.to_string()) {
            problems.push(problem(
                "listed with a path outside the dataset, or twice".into(),
            ));
            continue;
        }
        let want_rows = entry.get("rows").and_then(Value::as_u64).unwrap_or(0);
        recorded_rows += want_rows;
        let path = dir.join(rel);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                problems.push(problem("listed, but not a regular file".into()));
                continue;
            }
            Err(_) => {
                problems.push(problem(format!("listed ({want_rows} rows), but missing")));
                continue;
            }
        };
        files += 1;
        if let Some(want) = entry.get("bytes").and_then(Value::as_u64) {
            if meta.len() != want {
                problems.push(problem(format!(
                    "{} bytes on disk, the manifest records {want} (truncated or rewritten)",
                    meta.len()
                )));
                continue;
            }
        }
        match footer_rows(&path) {
            Ok(n) if n == want_rows => rows += n,
            Ok(n) => problems.push(problem(format!(
                "{n} rows in its footer, the manifest records {want_rows}"
            ))),
            Err(e) => problems.push(problem(e)),
        }
    }
    for extra in on_disk.difference(&seen) {
        problems.push(Problem {
            file: extra.clone(),
            problem: "not listed in the manifest (a reader of DATASET/**/*.parquet \
                      would read it)"
                .into(),
        });
    }
    let written = current
        .manifest
        .pointer("/rows/written")
        .and_then(Value::as_u64);
    if written.is_some_and(|w| w != recorded_rows) {
        problems.push(Problem {
            file: MANIFEST.into(),
            problem: format!(
                "its part files hold {recorded_rows} rows, its total says {}",
                written.unwrap_or(0)
            ),
        });
    }
    notes.extend(temporaries_beside(dir));
    Ok(Verification {
        current,
        problems,
        notes,
        files,
        rows,
    })
}

/// Temporary directories of runs writing (or killed while writing) beside
/// the dataset, described.
fn temporaries_beside(dir: &Path) -> Vec<String> {
    let (Some(name), parent) = (dir.file_name(), dir.parent()) else {
        return Vec::new();
    };
    let parent = parent
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let prefix = format!(".{}{TMP_MARKER}", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut notes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let pid = file.strip_prefix(&prefix)?.parse::<u32>().ok()?;
            let alive = process_alive(pid);
            Some(if alive {
                format!("{file}: an append or erase by process {pid} is being written (not part of the dataset until it commits)")
            } else {
                format!("{file}: left by an append or erase that was killed (not part of the dataset, but after an erasure it may hold the erased rows: remove it, or run the next append or erase, which removes it)")
            })
        })
        .collect();
    notes.sort();
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(manifest: Value) -> Current {
        Current {
            dir: PathBuf::from("ds"),
            bytes: serde_json::to_vec(&manifest).unwrap(),
            generation: generation_of(&manifest),
            manifest,
            lagging: None,
        }
    }

    #[test]
    fn known_content_is_skipped_and_changed_content_at_a_known_path_refused() {
        let recorded = [Recorded {
            path: "exports/day1.csv".into(),
            sha256: "aa".into(),
            generation: 3,
        }];
        let day1 = Path::new("exports/day1.csv");
        let day2 = Path::new("exports/day2.csv");
        assert_eq!(
            plan_input(&recorded, day2, "aa", false).unwrap(),
            Plan::Skip { generation: 3 }
        );
        assert_eq!(
            plan_input(&recorded, day2, "bb", false).unwrap(),
            Plan::Append
        );
        assert_eq!(
            plan_input(&recorded, day1, "bb", true).unwrap(),
            Plan::Replace { generation: 3 }
        );
        let e = plan_input(&recorded, day1, "bb", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exports/day1.csv was appended in generation 3 with other content"),
            "{e}"
        );
    }

    #[test]
    fn every_identity_field_is_compared_and_named() {
        let c = current(serde_json::json!({
            "files": [],
            "schema": {"sha256": "s1"},
            "token_spec": "v1.1",
            "token_context": "",
            "key_fingerprint": "f1",
            "partition_by": "m",
        }));
        let ok = Identity {
            schema_sha256: "s1",
            token_spec: "v1.1",
            token_context: "",
            key_fingerprint: "f1",
            partition_by: None,
        };
        check_compatible(&c, &ok).unwrap();
        check_compatible(
            &c,
            &Identity {
                partition_by: Some("m"),
                ..ok
            },
        )
        .unwrap();
        for (want, says) in [
            (
                Identity {
                    schema_sha256: "s2",
                    ..ok
                },
                "a schema of SHA-256 s1, this run has s2",
            ),
            (
                Identity {
                    token_spec: "v1",
                    ..ok
                },
                "token spec v1.1, this run has v1",
            ),
            (
                Identity {
                    token_context: "x",
                    ..ok
                },
                "token context \"\", this run has \"x\"",
            ),
            (
                Identity {
                    key_fingerprint: "f2",
                    ..ok
                },
                "the key of fingerprint f1, this run has a key of fingerprint f2",
            ),
            (
                Identity {
                    partition_by: Some("n"),
                    ..ok
                },
                "--partition-by m, this run has --partition-by n",
            ),
        ] {
            let e = check_compatible(&c, &want).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn manifest_paths_stay_inside_the_dataset() {
        assert!(safe_relative("g00002/m=1/part-00000.parquet"));
        for bad in ["", "/etc/passwd", "../x.parquet", "a/../../x", "./x"] {
            assert!(!safe_relative(bad), "{bad}");
        }
        assert_eq!(generation_dir(2), "g00002");
        assert_eq!(generation_dir(123456), "g123456");
    }
}
