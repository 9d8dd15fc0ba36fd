//! Erasing customers (`txanon erase`): every row whose token in one token
//! column is one of the given tokens is removed from a dataset or from one
//! Parquet file, and only the part files that held such a row are
//! rewritten.
//!
//! **Finding the files.** Every part file's footer is read; a row group
//! whose column statistics (min/max) exclude every token, or whose bloom
//! filter (written for every token column) holds none of them, is skipped
//! without reading its data. Only the token column of the remaining row
//! groups is read, to count the rows that actually match; a file with no
//! match is left as it is (false positives of the bloom filter cost a read,
//! never a rewrite).
//!
//! **Rewriting a file.** Its row groups are read one at a time, the
//! matching rows filtered out, and each group's remaining rows written as
//! one row group (boundaries kept, an emptied group left out) with the
//! writer's own properties: the schema's `[output]` codec, dictionary and
//! bloom filter settings, the same Arrow types and the same footer
//! key-value metadata (`txanon.rows` updated). A file left with no rows is
//! kept as a zero-row part file (its schema still readable, every
//! partition directory still holding a file).
//!
//! **A dataset is replaced as a whole.** Rewriting part files one by one
//! would let a reader see the customer erased in one file and present in
//! another. Instead the new state is built beside the dataset, in
//! `.NAME.txanon-tmp-PID/` (outside any `NAME/**` glob, on the same file
//! system): a hard link of every unchanged file, the rewritten files under
//! new names (`part-00000-e00004.parquet` for generation 4), the earlier
//! manifest kept as `_manifests/NNNNN.json` and the new `_manifest.json`,
//! all fsync'd; then one `renameat2(RENAME_EXCHANGE)` swaps it with the
//! dataset directory (the commit point) and the earlier tree, now under the
//! temporary name, is removed. A kill before the swap leaves the dataset as
//! it was and a temporary tree; a kill after it leaves the erased dataset
//! and the earlier tree under the temporary name. Either temporary is
//! reported by `txanon dataset` and removed by the next append or erase.
//!
//! What a reader can see: a reader that resolves its paths after the swap
//! sees the erased dataset, one that opened every file before it the
//! earlier one. A reader that listed the files before the swap and opens
//! some of them after it finds the unchanged files as they were (the same
//! inodes) and the rewritten ones gone (their old names no longer exist):
//! its query fails rather than mixing the two states. A glob walk (DuckDB's
//! `DATASET/**/*.parquet`) that is under way at the swap can instead miss
//! files without failing: it resolves each directory and file by path, so
//! the directories it reads after the swap are the new tree's, and DuckDB
//! skips an entry it listed that is gone when it looks at it; it then reads
//! fewer rows than either state, never rows of both
//! (`tests/faults/dataset_kill_loop.py` counts such answers). A reader that
//! takes the file list from `_manifest.json` sees the earlier state, the
//! new one, or fails. File systems without
//! hard links or `RENAME_EXCHANGE` (and systems other than Linux) are
//! refused before anything changes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Schema as ArrowSchema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use parquet::file::statistics::Statistics;
use serde::Serialize;
use serde_json::Value;

use crate::dataset::{self, HISTORY};
use crate::error::{Error, Result};
use crate::io::output::{commit, create_dir, exchange_dir, Staged};
use crate::io::parquet_writer::{RowGroupFile, WriterSettings, DEFAULT_ROW_GROUP_ROWS, MANIFEST};
use crate::io::staging::{mirror, sync_tree, write_new};
use crate::key::MasterKey;
use crate::pipeline::provenance::{keys, KNOWN_TOKEN_SPECS};
use crate::pipeline::Reporter;
use crate::schema::{Action, Schema};

/// Footer key of a single file's erasures (a JSON list of counts).
pub const ERASURES_KEY: &str = "txanon.erasures";

/// Rows read per batch.
const BATCH_ROWS: usize = 8192;

/// What to erase and how.
#[derive(Debug)]
pub struct Request<'a> {
    /// The schema the data was written with.
    pub schema: &'a Schema,
    /// The key (only its fingerprint is compared and shown).
    pub key: &'a MasterKey,
    /// The output column holding the tokens.
    pub column: &'a str,
    /// The tokens whose rows go.
    pub tokens: &'a BTreeSet<String>,
    /// Report what would change, write nothing.
    pub dry_run: bool,
    /// Examines files and encodes rewritten row groups in parallel; the
    /// bytes written do not depend on it.
    pub pool: Arc<rayon::ThreadPool>,
}

/// What examining one part file found.
#[derive(Debug, Clone, Serialize)]
pub struct Examined {
    /// The file (relative to the dataset, or as given).
    pub path: String,
    /// Rows in its footer.
    pub rows: u64,
    /// Row groups in it.
    pub row_groups: usize,
    /// Row groups whose min/max statistics exclude every token.
    pub pruned_by_statistics: usize,
    /// Row groups whose bloom filter holds none of the tokens.
    pub pruned_by_bloom_filter: usize,
    /// Row groups whose token column was read.
    pub row_groups_read: usize,
    /// Rows holding one of the tokens.
    pub matching_rows: u64,
}

/// A file rewritten (or, with `--dry-run`, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    /// Its path before.
    pub path: String,
    /// Its path after (a dataset's part files get a new name).
    pub new_path: String,
    /// Rows before.
    pub rows_before: u64,
    /// Rows after.
    pub rows_after: u64,
}

/// The outcome of an erase (counts and paths only: no value, no token).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The dataset directory or the file.
    pub target: PathBuf,
    /// A dataset (else a single file).
    pub dataset: bool,
    /// Nothing was written.
    pub dry_run: bool,
    /// The token column.
    pub column: String,
    /// Distinct tokens asked for.
    pub tokens: usize,
    /// The dataset's generation before, and after when it changed.
    pub generation_before: Option<u64>,
    /// The generation the erasure was committed as.
    pub generation_after: Option<u64>,
    /// The erasure's number (1 for the first erasure of this dataset or file).
    pub erasure: u64,
    /// Part files whose footer was read.
    pub files_examined: usize,
    /// Files skipped without reading data: every row group excluded by
    /// statistics or bloom filter, at least one by the bloom filter.
    pub files_skipped_by_bloom_filter: usize,
    /// Files skipped by statistics alone.
    pub files_skipped_by_statistics: usize,
    /// Files whose token column was read.
    pub files_read: usize,
    /// Files rewritten (or that would be).
    pub files_rewritten: usize,
    /// Rows removed (or that would be).
    pub rows_removed: u64,
    /// Rows before.
    pub rows_before: u64,
    /// The rewritten files.
    pub rewritten: Vec<Rewritten>,
    /// The data records `[privacy]` figures (measured before this erasure).
    pub privacy_recorded: bool,
}

impl Outcome {
    /// Nothing examined yet.
    fn new(target: &Path, req: &Request<'_>, erasure: u64, privacy_recorded: bool) -> Outcome {
        Outcome {
            target: target.to_path_buf(),
            dataset: false,
            dry_run: req.dry_run,
            column: req.column.to_string(),
            tokens: req.tokens.len(),
            generation_before: None,
            generation_after: None,
            erasure,
            files_examined: 0,
            files_skipped_by_bloom_filter: 0,
            files_skipped_by_statistics: 0,
            files_read: 0,
            files_rewritten: 0,
            rows_removed: 0,
            rows_before: 0,
            rewritten: Vec::new(),
            privacy_recorded,
        }
    }
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::ParquetRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Whether `token` lies within a column chunk's min/max (true when there
/// are no statistics). Truncated statistics still bound the values.
fn within(stats: Option<&Statistics>, token: &str) -> bool {
    let Some(s) = stats else {
        return true;
    };
    let t = token.as_bytes();
    s.min_bytes_opt().is_none_or(|min| min <= t) && s.max_bytes_opt().is_none_or(|max| t <= max)
}

/// The index of the leaf column `column` (a top-level column).
fn leaf_index(descr: &parquet::schema::types::SchemaDescriptor, column: &str) -> Option<usize> {
    (0..descr.num_columns()).find(|&i| descr.column(i).path().parts() == [column.to_string()])
}

/// Which rows of a token column to keep: those whose token is not in
/// `tokens` (nulls are kept).
fn keep_mask(column: &dyn Array, tokens: &HashSet<&str>) -> Result<BooleanArray> {
    let cast;
    let column = if matches!(column.data_type(), DataType::Utf8) {
        column
    } else {
        cast = arrow_cast::cast(column, &DataType::Utf8)
            .map_err(|e| Error::Internal(format!("token column: {e}")))?;
        cast.as_ref()
    };
    let strings = column.as_string::<i32>();
    Ok(strings
        .iter()
        .map(|v| Some(!v.is_some_and(|t| tokens.contains(t))))
        .collect())
}

/// Examine one part file: prune row groups by statistics and bloom filter,
/// then count the matching rows of the rest.
pub fn examine(
    path: &Path,
    shown: &str,
    column: &str,
    tokens: &BTreeSet<String>,
) -> Result<Examined> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let options = ReadOptionsBuilder::new()
        .with_reader_properties(
            ReaderProperties::builder()
                .set_read_bloom_filter(true)
                .build(),
        )
        .build();
    let reader =
        SerializedFileReader::new_with_options(file, options).map_err(|e| read_err(path, e))?;
    let meta = reader.metadata();
    let descr = meta.file_metadata().schema_descr();
    let Some(leaf) = leaf_index(descr, column) else {
        return Err(Error::Usage(format!(
            "{}: has no column {column:?} (not written with this schema?); nothing was changed",
            path.display()
        )));
    };
    let mut found = Examined {
        path: shown.to_string(),
        rows: u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0),
        row_groups: meta.num_row_groups(),
        pruned_by_statistics: 0,
        pruned_by_bloom_filter: 0,
        row_groups_read: 0,
        matching_rows: 0,
    };
    let mut candidates = Vec::new();
    for rg in 0..meta.num_row_groups() {
        let chunk = meta.row_group(rg).column(leaf);
        let mut left: Vec<&str> = tokens
            .iter()
            .map(String::as_str)
            .filter(|t| within(chunk.statistics(), t))
            .collect();
        if left.is_empty() || chunk.num_values() == 0 {
            found.pruned_by_statistics += 1;
            continue;
        }
        let group = reader.get_row_group(rg).map_err(|e| read_err(path, e))?;
        if let Some(bloom) = group.get_column_bloom_filter(leaf) {
            left.retain(|t| bloom.check(*t));
        }
        if left.is_empty() {
            found.pruned_by_bloom_filter += 1;
            continue;
        }
        candidates.push(rg);
    }
    found.row_groups_read = candidates.len();
    if candidates.is_empty() {
        return Ok(found);
    }
    let wanted: HashSet<&str> = tokens.iter().map(String::as_str).collect();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
    let batches = builder
        .with_projection(mask)
        .with_row_groups(candidates)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_err(path, e))?;
    for batch in batches {
        let batch = batch.map_err(|e| read_err(path, e))?;
        let keep = keep_mask(batch.column(0).as_ref(), &wanted)?;
        found.matching_rows += (batch.num_rows() - keep.true_count()) as u64;
    }
    Ok(found)
}

/// The footer key-value metadata of a file, split around `txanon.rows` as
/// the writer adds it: what comes before (the provenance, written first)
/// and after (privacy figures, erasures), without `ARROW:schema`.
type Footer = (Vec<(String, String)>, Vec<(String, String)>);

fn footer_of(meta: &ArrowReaderMetadata) -> Footer {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut past_rows = false;
    for kv in meta
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
    {
        match kv.key.as_str() {
            "ARROW:schema" => {}
            "txanon.rows" => past_rows = true,
            _ => {
                let v = (kv.key.clone(), kv.value.clone().unwrap_or_default());
                if past_rows {
                    after.push(v);
                } else {
                    before.push(v);
                }
            }
        }
    }
    (before, after)
}

/// Rewrite `src` into the new file `dest` without the rows whose `column`
/// holds one of `tokens`; `extra` updates the footer entries after
/// `txanon.rows`. Returns the rows kept, the rows removed and the bytes.
fn rewrite(
    src: &Path,
    dest: &Path,
    req: &Request<'_>,
    edit_footer: impl FnOnce(&mut Vec<(String, String)>),
) -> Result<(u64, u64)> {
    let file = File::open(src).map_err(|e| Error::io(src, e))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| read_err(src, e))?;
    // The writer's schema: the file's fields, without the footer's
    // key-value pairs the reader puts into the schema's metadata.
    let schema = Arc::new(ArrowSchema::new(meta.schema().fields().clone()));
    let index = schema.index_of(req.column).map_err(|_| {
        Error::Usage(format!(
            "{}: has no column {:?}; nothing was changed",
            src.display(),
            req.column
        ))
    })?;
    let (before, mut after) = footer_of(&meta);
    edit_footer(&mut after);
    let groups = meta.metadata().row_groups();
    let largest = groups.iter().map(|g| g.num_rows()).max().unwrap_or(0);
    // Bloom filters are sized by the row group size the writer used: the
    // schema's, or the default; never less than a group of this file.
    let row_group_rows = req
        .schema
        .output
        .row_group_rows
        .unwrap_or(DEFAULT_ROW_GROUP_ROWS)
        .max(usize::try_from(largest).unwrap_or(0));
    let settings = WriterSettings {
        output: req.schema.output.clone(),
        row_group_rows,
        token_columns: req
            .schema
            .columns
            .iter()
            .filter(|c| matches!(c.action, Action::Tokenize { .. }))
            .map(|c| c.output.clone())
            .collect(),
        metadata: before,
        pool: Some(req.pool.clone()),
        mode: file_mode(src)?,
    };
    let wanted: HashSet<&str> = req.tokens.iter().map(String::as_str).collect();
    let mut out = RowGroupFile::create(dest, src, schema, &settings)?;
    let mut removed = 0u64;
    for rg in 0..groups.len() {
        let input = file.try_clone().map_err(|e| Error::io(src, e))?;
        let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_row_groups(vec![rg])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| read_err(src, e))?;
        let mut kept: Vec<RecordBatch> = Vec::new();
        for batch in batches {
            let batch = batch.map_err(|e| read_err(src, e))?;
            let keep = keep_mask(batch.column(index).as_ref(), &wanted)?;
            removed += (batch.num_rows() - keep.true_count()) as u64;
            let batch = arrow_select::filter::filter_record_batch(&batch, &keep)
                .map_err(|e| read_err(src, e))?;
            if batch.num_rows() > 0 {
                kept.push(batch);
            }
        }
        out.write_row_group(kept)?;
    }
    let (rows, _bytes) = out.close(&after)?;
    Ok((rows, removed))
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions()
        .mode()
        & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_: &Path) -> Result<u32> {
    Ok(crate::io::output::DEFAULT_MODE)
}

/// Refuse unless the data was written with this schema, a known token
/// spec, this context and this key: other tokens could never match. Names
/// what differs (fingerprints, never the key).
fn check_identity(
    target: &Path,
    recorded: impl Fn(&str) -> Option<String>,
    schema: &Schema,
    key: &MasterKey,
) -> Result<()> {
    let refuse = |what: &str, theirs: &str, ours: &str| {
        Err(Error::Usage(format!(
            "cannot erase from {}: it was written with {what} {theirs}, this run has {ours}; \
             its tokens would never match (nothing was read or changed)",
            target.display()
        )))
    };
    let get = |k: &str| recorded(k).unwrap_or_else(|| "(none)".into());
    let fingerprint = key.fingerprint();
    if get("key_fingerprint") != fingerprint {
        return refuse(
            "the key of fingerprint",
            &get("key_fingerprint"),
            &format!("a key of fingerprint {fingerprint}"),
        );
    }
    if get("schema_sha256") != schema.sha256 {
        return refuse(
            "a schema of SHA-256",
            &get("schema_sha256"),
            &format!("{} ({})", schema.sha256, schema.path.display()),
        );
    }
    if !KNOWN_TOKEN_SPECS.contains(&get("token_spec").as_str()) {
        return refuse(
            "token spec",
            &get("token_spec"),
            crate::pipeline::TOKEN_SPEC,
        );
    }
    if get("token_context") != schema.tokens.context {
        return refuse(
            "token context",
            &format!("{:?}", get("token_context")),
            &format!("{:?} (give --context)", schema.tokens.context),
        );
    }
    Ok(())
}

/// The tokens' column must be a token column of the schema.
fn check_column(req: &Request<'_>) -> Result<()> {
    let ok = req
        .schema
        .columns
        .iter()
        .any(|c| c.output == req.column && matches!(c.action, Action::Tokenize { .. }));
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "{:?} is not a token column of the schema",
            req.column
        )))
    }
}

/// Examine `files` (path on disk, name shown) in parallel, in order.
fn examine_all(req: &Request<'_>, files: &[(PathBuf, String)]) -> Result<Vec<Examined>> {
    use rayon::prelude::*;
    req.pool.install(|| {
        files
            .par_iter()
            .map(|(path, shown)| examine(path, shown, req.column, req.tokens))
            .collect()
    })
}

fn tally(outcome: &mut Outcome, found: &[Examined]) {
    outcome.files_examined = found.len();
    for f in found {
        if f.row_groups_read > 0 {
            outcome.files_read += 1;
        } else if f.pruned_by_bloom_filter > 0 {
            outcome.files_skipped_by_bloom_filter += 1;
        } else {
            outcome.files_skipped_by_statistics += 1;
        }
        if f.matching_rows > 0 {
            outcome.files_rewritten += 1;
            outcome.rows_removed += f.matching_rows;
        }
        outcome.rows_before += f.rows;
    }
}

fn interrupted(reporter: &dyn Reporter) -> Result<()> {
    match reporter.interrupted() {
        Some(sig) => Err(Error::Interrupted(sig)),
        None => Ok(()),
    }
}

/// The erasures a single file's footer records.
fn erasures_in(after: &[(String, String)]) -> Vec<Value> {
    after
        .iter()
        .find(|(k, _)| k == ERASURES_KEY)
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Erase from one Parquet file (not part of a dataset): the replacement is
/// written beside it and renamed over it; its footer's `txanon.erasures`
/// records the erasure (column, rows removed).
pub fn erase_file(path: &Path, req: &Request<'_>, reporter: &dyn Reporter) -> Result<Outcome> {
    check_column(req)?;
    if let Some(ds) = path
        .ancestors()
        .skip(1)
        .find(|d| d.join(MANIFEST).is_file())
    {
        return Err(Error::Usage(format!(
            "{} is a part file of the dataset {}: erase from the dataset, so that its \
             manifest and every reader stay consistent (nothing was changed)",
            path.display(),
            if ds.as_os_str().is_empty() {
                Path::new(".").display()
            } else {
                ds.display()
            }
        )));
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a regular file (a symbolic link or a device); give the file itself",
            path.display()
        )));
    }
    // Two erasures of one file would both rewrite the original: the second
    // rename would bring back the rows the first removed.
    let _lock = crate::io::output::lock_dataset(path)?;
    if !req.dry_run {
        crate::io::output::remove_stale_temps(path);
    }
    let footer = {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let m = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| read_err(path, e))?;
        footer_of(&m)
    };
    let recorded = |k: &str| {
        let key = match k {
            "key_fingerprint" => keys::KEY_FINGERPRINT,
            "schema_sha256" => keys::SCHEMA_SHA256,
            "token_spec" => keys::TOKEN_SPEC,
            "token_context" => keys::TOKEN_CONTEXT,
            _ => return None,
        };
        footer
            .0
            .iter()
            .chain(&footer.1)
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.clone())
    };
    check_identity(path, recorded, req.schema, req.key)?;
    let shown = path.display().to_string();
    let found = vec![examine(path, &shown, req.column, req.tokens)?];
    let earlier = erasures_in(&footer.1);
    let privacy = footer
        .1
        .iter()
        .any(|(k, _)| k.starts_with("txanon.privacy."));
    let mut outcome = Outcome::new(path, req, earlier.len() as u64 + 1, privacy);
    tally(&mut outcome, &found);
    let f = &found[0];
    if f.matching_rows == 0 {
        return Ok(outcome);
    }
    outcome.rewritten.push(Rewritten {
        path: shown.clone(),
        new_path: shown,
        rows_before: f.rows,
        rows_after: f.rows - f.matching_rows,
    });
    if req.dry_run {
        return Ok(outcome);
    }
    interrupted(reporter)?;
    let record = serde_json::json!({
        "erasure": outcome.erasure,
        "column": req.column,
        "rows_removed": f.matching_rows,
    });
    let (staged, (rows, removed)) = Staged::create(path, |temp| {
        rewrite(path, temp, req, |after| {
            let mut list = erasures_in(after);
            list.push(record);
            let text = Value::Array(list).to_string();
            match after.iter_mut().find(|(k, _)| k == ERASURES_KEY) {
                Some(e) => e.1 = text,
                None => after.push((ERASURES_KEY.to_string(), text)),
            }
        })
    })?;
    check_rewrite(path, f, rows, removed)?;
    interrupted(reporter)?;
    commit(vec![staged])?;
    Ok(outcome)
}

/// The rewrite removed what the examination counted (a file changed
/// between the two is an error, and nothing is committed).
fn check_rewrite(path: &Path, f: &Examined, rows: u64, removed: u64) -> Result<()> {
    if removed != f.matching_rows || rows + removed != f.rows {
        return Err(Error::Usage(format!(
            "{} changed while it was being erased from ({} matching rows counted, {} \
             removed); nothing was changed",
            path.display(),
            f.matching_rows,
            removed
        )));
    }
    Ok(())
}

/// The name of a rewritten part file in generation `generation`:
/// `part-00000.parquet` becomes `part-00000-e00004.parquet` (an earlier
/// `-eNNNNN` suffix replaced), in the same directory.
pub fn rewritten_name(rel: &str, generation: u64) -> String {
    let (dir, file) = match rel.rfind('/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => ("", rel),
    };
    let stem = file.strip_suffix(".parquet").unwrap_or(file);
    let stem = match stem.rfind("-e") {
        Some(i) if stem.len() - i - 2 >= 5 && stem[i + 2..].bytes().all(|b| b.is_ascii_digit()) => {
            &stem[..i]
        }
        _ => stem,
    };
    format!("{dir}{stem}-e{generation:05}.parquet")
}

/// The dataset's manifest after an erasure: rewritten part files under
/// their new names with their rows and sizes, the totals lowered, and the
/// erasure recorded as generation `generation` (counts only).
pub fn erased_manifest(
    m: &Value,
    generation: u64,
    erasure: u64,
    column: &str,
    rewritten: &BTreeMap<String, (String, u64, u64)>,
    removed: u64,
) -> Result<Vec<u8>> {
    let mut m = m.clone();
    let bad = |what: &str| Error::Internal(format!("manifest without {what}"));
    let obj = m.as_object_mut().ok_or_else(|| bad("an object"))?;
    let files = obj
        .get_mut("files")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("files"))?;
    for f in files.iter_mut() {
        let Some(path) = f.get("path").and_then(Value::as_str) else {
            continue;
        };
        if let Some((new, rows, bytes)) = rewritten.get(path) {
            if let Some(o) = f.as_object_mut() {
                o.insert("path".into(), new.clone().into());
                o.insert("rows".into(), (*rows).into());
                o.insert("bytes".into(), (*bytes).into());
            }
        }
    }
    let earlier_generations = obj.get("generations").cloned();
    let mut generations = match earlier_generations {
        Some(Value::Array(g)) => g,
        _ => vec![serde_json::json!({
            "generation": 1,
            "inputs": obj.get("inputs").and_then(Value::as_array).map_or(0, Vec::len),
            "files": obj.get("files").and_then(Value::as_array).map_or(0, Vec::len),
            "rows": obj.get("rows").cloned().unwrap_or(Value::Null),
        })],
    };
    generations.push(serde_json::json!({
        "generation": generation,
        "inputs": 0,
        "files": 0,
        "rows": {"read": 0, "written": 0, "skipped": 0},
        "erasure": {
            "number": erasure,
            "column": column,
            "rows_removed": removed,
            "files_rewritten": rewritten.len(),
        },
    }));
    obj.insert("generations".into(), Value::Array(generations));
    obj.insert("generation".into(), generation.into());
    let rows = obj
        .entry("rows")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| bad("a rows object"))?;
    let get = |rows: &serde_json::Map<String, Value>, k: &str| {
        rows.get(k).and_then(Value::as_u64).unwrap_or(0)
    };
    let written = get(rows, "written").saturating_sub(removed);
    let erased = get(rows, "erased") + removed;
    rows.insert("written".into(), written.into());
    rows.insert("erased".into(), erased.into());
    let mut bytes =
        serde_json::to_vec_pretty(&m).map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The erasures a dataset's manifest records.
pub fn erasures(m: &Value) -> u64 {
    m.get("generations")
        .and_then(Value::as_array)
        .map_or(0, |g| {
            g.iter().filter(|g| g.get("erasure").is_some()).count() as u64
        })
}

/// Erase from a dataset directory (see the module documentation).
pub fn erase_dataset(dir: &Path, req: &Request<'_>, reporter: &dyn Reporter) -> Result<Outcome> {
    check_column(req)?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::Usage(format!(
            "{} is a symbolic link; give the dataset's real directory (it is replaced as a \
             whole)",
            dir.display()
        )));
    }
    let _lock = crate::io::output::lock_dataset(dir)?;
    // A tree left beside the dataset by a killed append or erase may hold
    // rows an earlier erasure removed: it goes first, whatever this erasure
    // then finds (under the lock, no live run owns one). A dry run changes
    // nothing; `txanon dataset` reports such a tree.
    if !req.dry_run {
        crate::io::output::remove_stale_temps(dir);
    }
    let verified = dataset::verify(dir)?;
    if !verified.consistent() {
        return Err(Error::Usage(format!(
            "cannot erase from {}: it does not match its manifest ({} problem(s); `txanon \
             dataset {}` lists them); nothing was changed",
            dir.display(),
            verified.problems.len(),
            dir.display()
        )));
    }
    let current = verified.current;
    let m = &current.manifest;
    let recorded = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let recorded = |k: &str| match k {
        "schema_sha256" => m
            .pointer("/schema/sha256")
            .and_then(Value::as_str)
            .map(str::to_string),
        other => recorded(other),
    };
    check_identity(dir, recorded, req.schema, req.key)?;
    if m.get("partition_by").and_then(Value::as_str) == Some(req.column) {
        return Err(Error::Usage(format!(
            "{} is partitioned by {:?}: its tokens are directory names, not a column; \
             nothing was changed",
            dir.display(),
            req.column
        )));
    }
    let listed: Vec<(PathBuf, String)> = m
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("path").and_then(Value::as_str))
        .map(|rel| (dir.join(rel), rel.to_string()))
        .collect();
    let found = examine_all(req, &listed)?;
    let generation = current.generation + 1;
    let privacy = m
        .get("privacy")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    let mut outcome = Outcome {
        dataset: true,
        generation_before: Some(current.generation),
        ..Outcome::new(dir, req, erasures(m) + 1, privacy)
    };
    tally(&mut outcome, &found);
    let hit: Vec<&Examined> = found.iter().filter(|f| f.matching_rows > 0).collect();
    for f in &hit {
        outcome.rewritten.push(Rewritten {
            path: f.path.clone(),
            new_path: rewritten_name(&f.path, generation),
            rows_before: f.rows,
            rows_after: f.rows - f.matching_rows,
        });
    }
    if req.dry_run || hit.is_empty() {
        return Ok(outcome);
    }
    interrupted(reporter)?;
    let skip: HashSet<&str> = hit.iter().map(|f| f.path.as_str()).collect();
    let mode = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o777
        }
        #[cfg(not(unix))]
        {
            crate::io::output::DEFAULT_MODE
        }
    };
    let (staged, ()) = Staged::create(dir, |temp| {
        create_dir(temp, mode)?;
        mirror(dir, temp, "", &skip)
    })?;
    let temp = staged.temp().to_path_buf();
    let mut changed = BTreeMap::new();
    for (f, r) in hit.iter().zip(&outcome.rewritten) {
        interrupted(reporter)?;
        let (rows, removed) = rewrite(&dir.join(&f.path), &temp.join(&r.new_path), req, |_| {})?;
        check_rewrite(&dir.join(&f.path), f, rows, removed)?;
        let bytes = std::fs::metadata(temp.join(&r.new_path))
            .map_err(|e| Error::io(temp.join(&r.new_path), e))?
            .len();
        changed.insert(f.path.clone(), (r.new_path.clone(), rows, bytes));
    }
    let manifest = erased_manifest(
        m,
        generation,
        outcome.erasure,
        req.column,
        &changed,
        outcome.rows_removed,
    )?;
    // The earlier manifest (and one an append left lagging) into the history.
    let history = temp.join(HISTORY);
    if !history.is_dir() {
        create_dir(&history, mode)?;
    }
    let mut keep = vec![(current.generation, current.bytes.clone())];
    keep.extend(current.lagging.clone());
    for (g, bytes) in keep {
        let path = history.join(format!("{g:05}.json"));
        if std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        write_new(&path, &bytes, mode & 0o666)?;
    }
    write_new(&temp.join(MANIFEST), &manifest, mode & 0o666)?;
    sync_tree(&temp);
    interrupted(reporter)?;
    exchange_dir(staged)?;
    outcome.generation_after = Some(generation);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_part_files_get_the_erasure_generation_in_their_name() {
        assert_eq!(
            rewritten_name("m=2009-05/part-00000.parquet", 4),
            "m=2009-05/part-00000-e00004.parquet"
        );
        assert_eq!(
            rewritten_name("g00002/part-00001-e00004.parquet", 7),
            "g00002/part-00001-e00007.parquet"
        );
        assert_eq!(
            rewritten_name("part-00000.parquet", 2),
            "part-00000-e00002.parquet"
        );
        // `-e` followed by fewer than five digits is part of the name.
        assert_eq!(rewritten_name("x-e12.parquet", 3), "x-e12-e00003.parquet");
    }

    #[test]
    fn the_manifest_records_the_erasure_as_counts_and_updates_the_parts() {
        let m = serde_json::json!({
            "generation": 2,
            "generations": [{"generation": 1}, {"generation": 2}],
            "rows": {"read": 10, "written": 9, "skipped": 1},
            "files": [
                {"path": "a/part-00000.parquet", "rows": 5, "bytes": 100, "generation": 1},
                {"path": "b/part-00000.parquet", "rows": 4, "bytes": 90, "generation": 2},
            ],
        });
        let mut changed = BTreeMap::new();
        changed.insert(
            "b/part-00000.parquet".to_string(),
            ("b/part-00000-e00003.parquet".to_string(), 1, 70),
        );
        let bytes = erased_manifest(&m, 3, 1, "mobile_token", &changed, 3).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["generation"], 3);
        assert_eq!(v["rows"]["written"], 6);
        assert_eq!(v["rows"]["erased"], 3);
        assert_eq!(v["files"][0]["path"], "a/part-00000.parquet");
        assert_eq!(v["files"][1]["path"], "b/part-00000-e00003.parquet");
        assert_eq!(v["files"][1]["rows"], 1);
        assert_eq!(v["files"][1]["bytes"], 70);
        assert_eq!(v["files"][1]["generation"], 2);
        let e = &v["generations"][2];
        assert_eq!(e["generation"], 3);
        assert_eq!(e["erasure"]["number"], 1);
        assert_eq!(e["erasure"]["rows_removed"], 3);
        assert_eq!(e["erasure"]["files_rewritten"], 1);
        assert_eq!(erasures(&v), 1);
    }
}
