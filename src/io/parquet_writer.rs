//! Parquet output: typed, compressed, with `txanon.*` provenance metadata,
//! written atomically, as one file or as a (Hive-partitioned) directory.
//!
//! A single file is written under a temporary name beside the target
//! (`.NAME.txanon-tmp-PID`), fsync'd, and renamed over the target only when
//! the whole run succeeded. A directory output is built the same way: every
//! part file and the `_manifest.json` are written inside a temporary
//! directory `.NAME.txanon-tmp-PID` beside the target, which is renamed to
//! the target at the end. An error, a panic or an interrupt drops the sink
//! without `finish`, which removes the temporary file or directory: the
//! target path never holds a partial result.
//!
//! Row groups are cut at a fixed number of rows regardless of how input
//! batches were sized, so the bytes written depend only on the data, the
//! schema and the key, never on thread count or batch size. In a partitioned
//! output each partition's rows keep input order; when the rows waiting in
//! all partitions exceed a budget, the partition holding the most is written
//! out as a shorter row group. That choice depends only on the row sequence,
//! so partitioned output is just as reproducible, and memory stays bounded
//! by the budget, not by the number of partitions.

// Why this file is long (about 850 lines of code and 110 of tests): the
// single-file sink and the partitioned dataset sink share `PartFile`, the
// writer properties and the parallel row-group encoding. If it grows,
// partition naming (`partition_keys`, `escape_path`) is the seam.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Schema as ArrowSchema};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::io::output::{commit, create_dir, create_file, sync_dir, Staged};
pub use crate::io::output::{remove_stale_temps, temp_path_for, TMP_MARKER};
use crate::schema::{OutputCompression, OutputOptions};

/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// The manifest's file name inside a directory output.
pub const MANIFEST: &str = "_manifest.json";

/// The manifest's file name inside the directory of an appended generation
/// (the whole dataset's manifest as of that generation).
pub const GENERATION_MANIFEST: &str = "_generation.json";

/// Partitions a directory output may have (each keeps a file open).
pub const MAX_PARTITIONS: usize = 4096;

/// Most rows between two checks of a directory output's memory budget.
pub const BUDGET_CHECK_ROWS: usize = 4096;

/// Values of a column's first row group that decide whether the column is
/// dictionary-encoded (when the schema does not say).
pub const DICTIONARY_SAMPLE: usize = 65_536;

/// Distinct values a token column's bloom filter is sized for, per row group.
pub const BLOOM_MAX_NDV: u64 = 16_384;

/// Hive's name for the partition of null values.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Writer settings that do not depend on the data.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Codec, dictionary, bloom filters and their overrides.
    pub output: OutputOptions,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Output names of token columns (statistics and bloom filters).
    pub token_columns: Vec<String>,
    /// Footer metadata written into every file.
    pub metadata: Vec<(String, String)>,
    /// Worker pool that encodes a row group's columns in parallel; `None`
    /// encodes them on the calling thread. The bytes are the same either way.
    pub pool: Option<Arc<rayon::ThreadPool>>,
    /// Permission bits of every file written (exactly, whatever the umask;
    /// directories also get `x` where `r` is set). Default
    /// [`crate::io::output::DEFAULT_MODE`]: the rows are personal data.
    pub mode: u32,
}

impl WriterSettings {
    /// Parquet writer properties for `schema` (the columns of one file),
    /// given the rows of the file's first row group (`first`): a column
    /// without a declared dictionary setting is dictionary-encoded unless
    /// more than half of its non-null values there are distinct
    /// ([`mostly_distinct`]).
    fn properties(&self, schema: &ArrowSchema, first: &[RecordBatch]) -> WriterProperties {
        let compression = match self.output.compression {
            OutputCompression::Zstd(l) => {
                Compression::ZSTD(ZstdLevel::try_new(l).unwrap_or_default())
            }
            OutputCompression::Snappy => Compression::SNAPPY,
            OutputCompression::Lz4 => Compression::LZ4_RAW,
            OutputCompression::None => Compression::UNCOMPRESSED,
        };
        let mut b = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_key_value_metadata(Some(
                self.metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ));
        for (i, field) in schema.fields().iter().enumerate() {
            let name = field.name();
            let path = ColumnPath::from(name.as_str());
            let overrides = self.output.columns.get(name);
            let dictionary = overrides
                .and_then(|o| o.dictionary)
                .or(self.output.dictionary)
                .unwrap_or_else(|| {
                    let column: Vec<&dyn Array> =
                        first.iter().map(|b| b.column(i).as_ref()).collect();
                    !mostly_distinct(&column)
                });
            b = b.set_column_dictionary_enabled(path.clone(), dictionary);
            if self.token_columns.contains(name) {
                b = b.set_column_statistics_enabled(path.clone(), EnabledStatistics::Page);
                let bloom = overrides
                    .and_then(|o| o.bloom_filter)
                    .unwrap_or(self.output.bloom_filters);
                if bloom {
                    // Sized for up to 16384 distinct tokens per row group (a
                    // 128 Ki-row group of a dump where customers recur ~10
                    // times), then folded down by the writer to what the
                    // values need. The cap bounds the memory each open file
                    // holds (partitioned outputs keep many open); more
                    // distinct values only raise the false-positive rate.
                    b = b
                        .set_column_bloom_filter_enabled(path.clone(), true)
                        .set_column_bloom_filter_fpp(path.clone(), 0.05)
                        .set_column_bloom_filter_max_ndv(
                            path,
                            (self.row_group_rows as u64).min(BLOOM_MAX_NDV),
                        );
                }
            } else if overrides.and_then(|o| o.bloom_filter) == Some(true) {
                b = b.set_column_bloom_filter_enabled(path, true);
            }
        }
        b.build()
    }
}

/// Whether more than half of the non-null values of `column` (the parts of
/// one column of a row group) are distinct: such a column is written without
/// a dictionary. A dictionary lives per column chunk (one row group); when
/// most values of the chunk are distinct, the dictionary page holds most of
/// the data and the indices come on top, and past its 1 MiB page limit the
/// writer abandons it for plain encoding anyway, after paying for interning
/// every value up to that point (transaction ids, timestamps, amounts, and
/// tokens of customers who recur across a long history rather than within
/// one row group). BENCHMARKS.md has the measurements behind the rule.
///
/// Counted exactly on the values' bytes (never shown anywhere) of the first
/// [`DICTIONARY_SAMPLE`] non-null values, stopping as soon as the answer is
/// known, so a file pays for at most that many hash-set insertions per
/// column. Types the writer never dictionary-encodes (booleans) and nested
/// types answer `false`, leaving the writer's default.
fn mostly_distinct(column: &[&dyn Array]) -> bool {
    type Set<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;
    let non_null: usize = column.iter().map(|a| a.len() - a.null_count()).sum();
    let sample = non_null.min(DICTIONARY_SAMPLE);
    let limit = sample / 2;
    // Variable-length values by reference, fixed-width ones (at most 16
    // bytes: integers, floats, dates, timestamps, decimal128) as integers.
    let mut bytes: Set<&[u8]> = Set::default();
    let mut fixed: Set<u128> = Set::default();
    let mut seen = 0usize;
    for array in column {
        let values: Box<dyn Iterator<Item = Option<&[u8]>> + '_> = match array.data_type() {
            DataType::Utf8 => Box::new(
                array
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::as_bytes)),
            ),
            DataType::LargeUtf8 => Box::new(
                array
                    .as_string::<i64>()
                    .iter()
                    .map(|v| v.map(str::as_bytes)),
            ),
            DataType::Utf8View => {
                Box::new(array.as_string_view().iter().map(|v| v.map(str::as_bytes)))
            }
            DataType::Binary => Box::new(array.as_binary::<i32>().iter()),
            DataType::LargeBinary => Box::new(array.as_binary::<i64>().iter()),
            DataType::BinaryView => Box::new(array.as_binary_view().iter()),
            DataType::FixedSizeBinary(_) => Box::new(array.as_fixed_size_binary().iter()),
            DataType::Boolean => return false,
            t => {
                let Some(width) = t.primitive_width().filter(|w| (1..=16).contains(w)) else {
                    return false;
                };
                let data = array.to_data();
                let Some(buffer) = data.buffers().first() else {
                    return false;
                };
                let raw = buffer.as_slice();
                for i in (0..array.len()).filter(|&i| array.is_valid(i)) {
                    if seen == sample {
                        return false;
                    }
                    seen += 1;
                    let at = (data.offset() + i) * width;
                    let Some(value) = raw.get(at..at + width) else {
                        return false;
                    };
                    let mut key = [0u8; 16];
                    key[..width].copy_from_slice(value);
                    if fixed.insert(u128::from_le_bytes(key)) && fixed.len() > limit {
                        return true;
                    }
                }
                continue;
            }
        };
        for value in values.flatten() {
            if seen == sample {
                return false;
            }
            seen += 1;
            if bytes.insert(value) && bytes.len() > limit {
                return true;
            }
        }
    }
    false
}

/// One Parquet file being written: rows are queued and cut into row groups
/// of a fixed size.
struct PartFile {
    /// Shown in errors (the final path, not the temporary one).
    shown: PathBuf,
    /// The created file until its first row group is ready: the writer
    /// properties depend on those rows ([`WriterSettings::properties`]).
    file: Option<File>,
    settings: WriterSettings,
    writer: Option<SerializedFileWriter<File>>,
    /// Makes each row group's column writers (the same ones `ArrowWriter`
    /// uses, so the bytes are the same).
    factory: Option<ArrowRowGroupWriterFactory>,
    /// For each Parquet leaf column, the index of its Arrow field.
    roots: Vec<usize>,
    schema: Arc<ArrowSchema>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_group_rows: usize,
    row_groups: usize,
    rows: u64,
}

impl PartFile {
    fn create(
        path: &Path,
        shown: &Path,
        schema: Arc<ArrowSchema>,
        settings: &WriterSettings,
    ) -> Result<PartFile> {
        let file = create_file(path, settings.mode)?;
        Ok(PartFile {
            shown: shown.to_path_buf(),
            file: Some(file),
            settings: settings.clone(),
            writer: None,
            factory: None,
            roots: Vec::new(),
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            row_group_rows: settings.row_group_rows.max(1),
            row_groups: 0,
            rows: 0,
        })
    }

    /// Start the Parquet writer on the created file, with properties chosen
    /// from `first` (the rows of the first row group; none for an empty
    /// file). Does nothing once started.
    fn open(&mut self, first: &[RecordBatch]) -> Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let props = self.settings.properties(&self.schema, first);
        let shown = &self.shown;
        let err = |e: parquet::errors::ParquetError| Error::Parquet {
            path: shown.to_path_buf(),
            message: e.to_string(),
        };
        // `ArrowWriter` sets up the file (magic, Arrow schema in the footer
        // metadata); its lower-level parts then let each row group's columns
        // be encoded on the worker pool.
        let (writer, factory) = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(err)?;
        let descr = writer.schema_descr();
        self.roots = (0..descr.num_columns())
            .map(|k| descr.get_column_root_idx(k))
            .collect();
        self.writer = Some(writer);
        self.factory = Some(factory);
        Ok(())
    }

    fn error(&self, message: String) -> Error {
        Error::Parquet {
            path: self.shown.clone(),
            message,
        }
    }

    fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // The columns are encoded by index against this file's schema.
        if !Arc::ptr_eq(batch.schema_ref(), &self.schema)
            && batch.schema_ref().fields() != self.schema.fields()
        {
            return Err(self.error(
                "internal error: a batch does not match the file's schema (nothing was written; \
                 please report)"
                    .into(),
            ));
        }
        self.rows += batch.num_rows() as u64;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        while self.pending_rows >= self.row_group_rows {
            self.flush_rows(self.row_group_rows)?;
        }
        Ok(())
    }

    /// Write the first `n` queued rows as one row group, in one call, so the
    /// bytes do not depend on how the rows were batched.
    ///
    /// Memory: only those `n` rows are copied (column by column, in
    /// `encode_row_group`), and the queue's references to the batches they
    /// came from are dropped before the columns are encoded (the caller may
    /// still hold the newest one); the rows left over stay slices of their
    /// own batch (at most one input batch). Concatenating the whole queue and
    /// slicing it kept a copy of a whole row group alive until the next flush.
    ///
    /// Speed: with a pool, the row group's columns are encoded in parallel.
    /// Encoded on the writer thread alone, a row group left the other core
    /// idle for its whole encoding time, with every worker waiting for the
    /// writer to take its result (BENCHMARKS.md, run at ff7fe60).
    fn flush_rows(&mut self, n: usize) -> Result<()> {
        let mut head_parts = Vec::new();
        let mut rest = Vec::new();
        let mut need = n;
        for batch in self.pending.drain(..) {
            if need == 0 {
                rest.push(batch);
            } else if batch.num_rows() <= need {
                need -= batch.num_rows();
                head_parts.push(batch);
            } else {
                head_parts.push(batch.slice(0, need));
                rest.push(batch.slice(need, batch.num_rows() - need));
                need = 0;
            }
        }
        self.pending = rest;
        self.pending_rows -= n - need;
        let shown = self.shown.clone();
        let err = |e: parquet::errors::ParquetError| Error::Parquet {
            path: shown.clone(),
            message: e.to_string(),
        };
        self.open(&head_parts)?;
        let writers = self
            .factory
            .as_ref()
            .ok_or_else(|| err(parquet::errors::ParquetError::General("closed".into())))?
            .create_column_writers(self.row_groups)
            .map_err(err)?;
        // The settings' pool, when set, encodes the columns in parallel.
        let chunks = match &self.settings.pool {
            Some(pool) => {
                let roots = &self.roots;
                pool.install(|| encode_row_group(&self.schema, head_parts, writers, roots, true))
            }
            None => encode_row_group(&self.schema, head_parts, writers, &self.roots, false),
        }
        .map_err(err)?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| err(parquet::errors::ParquetError::General("closed".into())))?;
        let mut row_group = writer.next_row_group().map_err(err)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group).map_err(err)?;
        }
        row_group.close().map_err(err)?;
        self.row_groups += 1;
        Ok(())
    }

    /// Write the queued rows as a (short) row group.
    fn flush_pending(&mut self) -> Result<()> {
        if self.pending_rows > 0 {
            self.flush_rows(self.pending_rows)?;
        }
        Ok(())
    }

    /// Flush, add the final metadata and fsync; the rows and the file's size.
    fn close(mut self, extra_metadata: &[(String, String)]) -> Result<(u64, u64)> {
        self.flush_pending()?;
        self.open(&[])?;
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| self.error("writer already closed".into()))?;
        writer
            .append_key_value_metadata(KeyValue::new("txanon.rows".into(), self.rows.to_string()));
        for (k, v) in extra_metadata {
            writer.append_key_value_metadata(KeyValue::new(k.clone(), v.clone()));
        }
        let file = writer.into_inner().map_err(|e| self.error(e.to_string()))?;
        file.sync_all().map_err(|e| Error::io(&self.shown, e))?;
        let bytes = file
            .metadata()
            .map_err(|e| Error::io(&self.shown, e))?
            .len();
        Ok((self.rows, bytes))
    }
}

/// A Parquet file written one given row group at a time, with the same
/// properties, bloom filters and column encoding as every other output:
/// `txanon erase` rewrites a part file with some rows removed and each
/// row group's boundaries kept (a group left empty is not written).
pub struct RowGroupFile {
    part: PartFile,
}

impl std::fmt::Debug for RowGroupFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowGroupFile")
            .field("path", &self.part.shown)
            .finish_non_exhaustive()
    }
}

impl RowGroupFile {
    /// Create the new file `path` (shown in errors as `shown`).
    /// `settings.row_group_rows` sizes the bloom filters as the writer did;
    /// row groups are cut where [`RowGroupFile::write_row_group`] is called.
    pub fn create(
        path: &Path,
        shown: &Path,
        schema: Arc<ArrowSchema>,
        settings: &WriterSettings,
    ) -> Result<RowGroupFile> {
        Ok(RowGroupFile {
            part: PartFile::create(path, shown, schema, settings)?,
        })
    }

    /// Write `batches` as one row group (none when they hold no rows).
    pub fn write_row_group(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        for b in batches {
            self.part.write(b)?;
        }
        self.part.flush_pending()
    }

    /// Add the footer metadata (`txanon.rows`, then `extra_metadata`) and
    /// fsync; the rows and the file's size.
    pub fn close(self, extra_metadata: &[(String, String)]) -> Result<(u64, u64)> {
        self.part.close(extra_metadata)
    }
}

/// Encode one row group: each column's parts are concatenated into one
/// array and written with one call (page boundaries then depend only on the
/// rows, not on how they were batched), and the columns are encoded
/// independently, in parallel on the current rayon pool when `parallel`.
/// Chunks come back in column order, so the bytes do not depend on the
/// thread count. A column's copy and levels exist only while that column is
/// encoded. `roots[k]` is the field that column writer `k` (a Parquet leaf)
/// belongs to; a nested field has several.
fn encode_row_group(
    schema: &ArrowSchema,
    parts: Vec<RecordBatch>,
    writers: Vec<ArrowColumnWriter>,
    roots: &[usize],
    parallel: bool,
) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    use parquet::errors::ParquetError;
    use rayon::prelude::*;
    let mut fields: Vec<(usize, Vec<ArrowColumnWriter>)> = (0..schema.fields().len())
        .map(|i| (i, Vec::new()))
        .collect();
    if writers.len() != roots.len() {
        return Err(ParquetError::General(
            "column writers do not match the schema".into(),
        ));
    }
    for (writer, &root) in writers.into_iter().zip(roots) {
        fields
            .get_mut(root)
            .ok_or_else(|| ParquetError::General("column writer without a field".into()))?
            .1
            .push(writer);
    }
    let encode = |(i, writers): (usize, Vec<ArrowColumnWriter>)| {
        let arrays: Vec<&dyn Array> = parts.iter().map(|b| b.column(i).as_ref()).collect();
        let column = arrow_select::concat::concat(&arrays)?;
        let leaves = compute_leaves(schema.field(i), &column)?;
        drop(column);
        if leaves.len() != writers.len() {
            return Err(ParquetError::General(
                "column leaves do not match the writers".into(),
            ));
        }
        writers
            .into_iter()
            .zip(leaves)
            .map(|(mut writer, leaf)| {
                writer.write(&leaf)?;
                drop(leaf);
                writer.close()
            })
            .collect::<parquet::errors::Result<Vec<ArrowColumnChunk>>>()
    };
    let chunks: Vec<Vec<ArrowColumnChunk>> = if parallel {
        fields
            .into_par_iter()
            .map(encode)
            .collect::<parquet::errors::Result<_>>()?
    } else {
        fields
            .into_iter()
            .map(encode)
            .collect::<parquet::errors::Result<_>>()?
    };
    Ok(chunks.into_iter().flatten().collect())
}

/// Streams record batches into a Parquet file that appears only on success.
pub struct ParquetSink {
    target: PathBuf,
    staged: Staged,
    part: Option<PartFile>,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ParquetSink {
    /// Create the temporary file and the writer.
    pub fn create(
        target: &Path,
        schema: Arc<ArrowSchema>,
        settings: &WriterSettings,
    ) -> Result<ParquetSink> {
        let (staged, part) = Staged::create(target, |temp| {
            PartFile::create(temp, target, schema, settings)
        })?;
        Ok(ParquetSink {
            target: target.to_path_buf(),
            staged,
            part: Some(part),
        })
    }

    /// Rows accepted so far.
    pub fn rows(&self) -> u64 {
        self.part.as_ref().map_or(0, |p| p.rows)
    }

    /// Queue a batch; full row groups are written as they fill.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        match self.part.as_mut() {
            Some(p) => p.write(batch),
            None => Err(Error::Parquet {
                path: self.target.clone(),
                message: "writer already closed".into(),
            }),
        }
    }

    /// Write what is pending, add the final metadata, fsync and rename into place.
    pub fn finish(self, extra_metadata: Vec<(String, String)>) -> Result<u64> {
        let (rows, staged) = self.close(extra_metadata)?;
        commit(vec![staged])?;
        Ok(rows)
    }

    /// Write what is pending, add the final metadata and fsync, leaving the
    /// file under its temporary name for [`commit`] (with a manifest).
    pub fn close(mut self, extra_metadata: Vec<(String, String)>) -> Result<(u64, Staged)> {
        let part = self.part.take().ok_or_else(|| Error::Parquet {
            path: self.target.clone(),
            message: "writer already closed".into(),
        })?;
        let (rows, _) = part.close(&extra_metadata)?;
        Ok((rows, self.staged))
    }
}

/// One partition of a directory output: its part files, one open at a time.
struct Partition {
    /// `col=value` (empty without partitioning).
    dir: String,
    part: Option<PartFile>,
    next_index: usize,
    /// Path relative to the output directory, rows, bytes.
    files: Vec<(String, u64, u64)>,
}

/// Streams record batches into a directory of Parquet files, optionally
/// Hive-partitioned by one output column; the directory appears only on success.
pub struct DatasetSink {
    target: PathBuf,
    staged: Staged,
    settings: WriterSettings,
    /// Schema of the files (the partition column removed).
    file_schema: Arc<ArrowSchema>,
    partition: Option<(usize, String)>,
    max_file_rows: u64,
    partitions: Vec<Partition>,
    index: HashMap<String, usize>,
    /// Rows queued in all partitions together before the largest is flushed.
    pending_budget: usize,
    /// Rows between budget checks.
    check_every: usize,
    rows: u64,
    /// Subdirectory holding every file written, e.g. `g00002/` for a
    /// generation appended to a dataset (empty for a new dataset).
    subdir: String,
}

impl std::fmt::Debug for DatasetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetSink")
            .field("target", &self.target)
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

/// A file written into a directory output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartInfo {
    /// Path relative to the output directory.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl DatasetSink {
    /// Create the temporary directory. `partition_by` names an output column
    /// of `schema`; `max_file_rows` rolls to a new part file.
    pub fn create(
        target: &Path,
        schema: Arc<ArrowSchema>,
        settings: &WriterSettings,
        partition_by: Option<&str>,
        max_file_rows: Option<u64>,
    ) -> Result<DatasetSink> {
        let partition = match partition_by {
            None => None,
            Some(name) => {
                let i = schema.index_of(name).map_err(|_| {
                    Error::Usage(format!(
                        "--partition-by {name:?} is not an output column of the schema"
                    ))
                })?;
                if schema.fields().len() < 2 {
                    return Err(Error::Usage(
                        "--partition-by needs at least one other output column".into(),
                    ));
                }
                if settings.token_columns.iter().any(|t| t == name) {
                    // A token in a path is in every listing, manifest and
                    // message, and stays there after its rows are erased.
                    return Err(Error::Usage(format!(
                        "--partition-by {name:?} is a token column: its tokens would become                          directory names (in every file listing and manifest, and left                          behind when a customer is erased); partition by a generalized                          column such as a month or a region"
                    )));
                }
                Some((i, name.to_string()))
            }
        };
        let file_schema = match &partition {
            Some((i, _)) => {
                let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
                fields.remove(*i);
                Arc::new(ArrowSchema::new_with_metadata(
                    fields,
                    schema.metadata().clone(),
                ))
            }
            None => schema.clone(),
        };
        let (staged, ()) = Staged::create(target, |temp| create_dir(temp, settings.mode))?;
        Ok(DatasetSink {
            target: target.to_path_buf(),
            staged,
            settings: settings.clone(),
            file_schema,
            partition,
            max_file_rows: max_file_rows.unwrap_or(u64::MAX).max(1),
            partitions: Vec::new(),
            index: HashMap::new(),
            pending_budget: settings.row_group_rows.max(1),
            check_every: settings.row_group_rows.clamp(1, BUDGET_CHECK_ROWS),
            rows: 0,
            subdir: String::new(),
        })
    }

    /// Write every file under `dir` (one path segment) inside the output,
    /// and the manifest as `dir/`[`GENERATION_MANIFEST`] instead of
    /// [`MANIFEST`]: a generation appended to a dataset, committed by one
    /// rename of `dir` (see `crate::dataset`).
    pub fn in_subdir(mut self, dir: &str) -> Result<DatasetSink> {
        create_dir(&self.staged.temp().join(dir), self.settings.mode)?;
        self.subdir = format!("{dir}/");
        Ok(self)
    }

    /// Rows accepted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn partition_index(&mut self, key: String) -> Result<usize> {
        if let Some(&i) = self.index.get(&key) {
            return Ok(i);
        }
        if self.partitions.len() >= MAX_PARTITIONS {
            return Err(Error::Usage(format!(
                "more than {MAX_PARTITIONS} partitions: partition by a coarser column \
                 (e.g. a month-generalized date)"
            )));
        }
        let dir = match &self.partition {
            Some((_, name)) => format!("{}={}", escape_path(name), escape_path(&key)),
            None => String::new(),
        };
        // A name the file system refuses would put the value in an I/O
        // error's path: name the column and the rule instead.
        if dir.len() > MAX_DIR_NAME_BYTES {
            let column = self.partition.as_ref().map_or("", |(_, n)| n.as_str());
            return Err(Error::Usage(format!(
                "a value of partition column {column:?} is too long for a directory name \
                 ({MAX_DIR_NAME_BYTES} bytes for `column=value` after escaping; the value is \
                 not shown): partition by a coarser column; nothing was written"
            )));
        }
        let i = self.partitions.len();
        self.partitions.push(Partition {
            dir,
            part: None,
            next_index: 0,
            files: Vec::new(),
        });
        self.index.insert(key, i);
        Ok(i)
    }

    /// Queue a batch, split by partition. The memory budget is checked at
    /// fixed positions of the overall row sequence (every row group's worth
    /// of rows, at most [`BUDGET_CHECK_ROWS`]), so where short row groups are cut does not
    /// depend on how the rows were batched.
    pub fn write(&mut self, mut batch: RecordBatch) -> Result<()> {
        while batch.num_rows() > 0 {
            let every = self.check_every as u64;
            let to_boundary = (every - self.rows % every) as usize;
            let n = to_boundary.min(batch.num_rows());
            let head = batch.slice(0, n);
            batch = batch.slice(n, batch.num_rows() - n);
            self.rows += n as u64;
            self.write_slice(head)?;
            if self.rows.is_multiple_of(every) {
                self.enforce_budget()?;
            }
        }
        Ok(())
    }

    fn write_slice(&mut self, batch: RecordBatch) -> Result<()> {
        match self.partition.clone() {
            None => {
                let i = self.partition_index(String::new())?;
                self.write_to(i, batch)
            }
            Some((col, _)) => {
                let keys = partition_keys(batch.column(col))?;
                // Group row indices by key, in order of first appearance.
                let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
                let mut at: HashMap<&str, usize> = HashMap::new();
                for (row, key) in keys.iter().enumerate() {
                    let g = *at.entry(key.as_str()).or_insert_with(|| {
                        groups.push((key.clone(), Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].1.push(row as u32);
                }
                let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
                columns.remove(col);
                let data = RecordBatch::try_new(self.file_schema.clone(), columns)
                    .map_err(|e| self.error(e.to_string()))?;
                for (key, rows) in groups {
                    let i = self.partition_index(key)?;
                    let part = if rows.len() == data.num_rows() {
                        data.clone()
                    } else {
                        arrow_select::take::take_record_batch(&data, &UInt32Array::from(rows))
                            .map_err(|e| self.error(e.to_string()))?
                    };
                    self.write_to(i, part)?;
                }
                Ok(())
            }
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Parquet {
            path: self.target.clone(),
            message,
        }
    }

    /// Write rows into partition `i`, rolling part files at `max_file_rows`.
    fn write_to(&mut self, i: usize, mut batch: RecordBatch) -> Result<()> {
        while batch.num_rows() > 0 {
            if self.partitions[i].part.is_none() {
                let p = &mut self.partitions[i];
                let name = format!("part-{:05}.parquet", p.next_index);
                p.next_index += 1;
                let rel = if p.dir.is_empty() {
                    format!("{}{name}", self.subdir)
                } else {
                    format!("{}{}/{name}", self.subdir, p.dir)
                };
                let dir = self.staged.temp().join(&self.subdir).join(&p.dir);
                if !dir.is_dir() {
                    create_dir(&dir, self.settings.mode)?;
                }
                let path = self.staged.temp().join(&rel);
                let shown = self.target.join(&rel);
                let part =
                    PartFile::create(&path, &shown, self.file_schema.clone(), &self.settings)?;
                p.files.push((rel, 0, 0));
                p.part = Some(part);
            }
            let p = &mut self.partitions[i];
            let Some(part) = p.part.as_mut() else {
                break;
            };
            let room = (self.max_file_rows - part.rows).min(batch.num_rows() as u64) as usize;
            let head = batch.slice(0, room);
            batch = batch.slice(room, batch.num_rows() - room);
            part.write(head)?;
            if part.rows >= self.max_file_rows {
                if let Some(full) = p.part.take() {
                    let (rows, bytes) = full.close(&[])?;
                    if let Some(last) = p.files.last_mut() {
                        (last.1, last.2) = (rows, bytes);
                    }
                }
            }
        }
        Ok(())
    }

    /// Keep the rows queued across partitions under the budget.
    fn enforce_budget(&mut self) -> Result<()> {
        loop {
            let total: usize = self
                .partitions
                .iter()
                .filter_map(|p| p.part.as_ref())
                .map(|p| p.pending_rows)
                .sum();
            if total <= self.pending_budget {
                return Ok(());
            }
            let largest = self
                .partitions
                .iter_mut()
                .filter_map(|p| p.part.as_mut())
                .max_by_key(|p| p.pending_rows);
            match largest {
                Some(p) => p.flush_pending()?,
                None => return Ok(()),
            }
        }
    }

    /// Close every file, write `manifest` as `_manifest.json`, fsync and
    /// rename the directory into place. Returns the files written.
    pub fn finish(
        self,
        manifest: impl FnOnce(&[PartInfo]) -> Result<Vec<u8>>,
    ) -> Result<Vec<PartInfo>> {
        let (files, staged) = self.close(manifest)?;
        commit(vec![staged])?;
        Ok(files)
    }

    /// Close every file, write `manifest` as `_manifest.json` and fsync,
    /// leaving the directory under its temporary name for [`commit`].
    pub fn close(
        mut self,
        manifest: impl FnOnce(&[PartInfo]) -> Result<Vec<u8>>,
    ) -> Result<(Vec<PartInfo>, Staged)> {
        let mut files = Vec::new();
        for p in &mut self.partitions {
            if let Some(part) = p.part.take() {
                let (rows, bytes) = part.close(&[])?;
                if let Some(last) = p.files.last_mut() {
                    (last.1, last.2) = (rows, bytes);
                }
            }
            files.extend(p.files.iter().map(|(path, rows, bytes)| PartInfo {
                path: path.clone(),
                rows: *rows,
                bytes: *bytes,
            }));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = manifest(&files)?;
        let mpath = if self.subdir.is_empty() {
            self.staged.temp().join(MANIFEST)
        } else {
            self.staged
                .temp()
                .join(&self.subdir)
                .join(GENERATION_MANIFEST)
        };
        let mut f = create_file(&mpath, self.settings.mode)?;
        std::io::Write::write_all(&mut f, &bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&mpath, e))?;
        for p in &self.partitions {
            sync_dir(&self.staged.temp().join(&self.subdir).join(&p.dir));
        }
        if !self.subdir.is_empty() {
            sync_dir(&self.staged.temp().join(&self.subdir));
        }
        sync_dir(self.staged.temp());
        // On commit an existing empty directory at the target is replaced
        // (rename(2) allows that); anything else there was refused before the run.
        Ok((files, self.staged))
    }
}

/// Longest directory name (`column=value`) a partition may have: NAME_MAX
/// of common file systems (ext4, XFS, APFS, NTFS in UTF-16 units).
const MAX_DIR_NAME_BYTES: usize = 255;

/// The partition value of each row, as text: dates as `YYYY-MM-DD`, other
/// types as Arrow casts them, nulls as Hive's default partition name.
fn partition_keys(col: &ArrayRef) -> Result<Vec<String>> {
    let n = col.len();
    if *col.data_type() == DataType::Date32 {
        let a = col.as_primitive::<Date32Type>();
        return Ok((0..n)
            .map(|i| {
                a.is_valid(i)
                    .then(|| a.value_as_date(i))
                    .flatten()
                    .map_or_else(
                        || NULL_PARTITION.to_string(),
                        |d| d.format("%Y-%m-%d").to_string(),
                    )
            })
            .collect());
    }
    let text = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| {
        Error::Usage(format!(
            "cannot partition by a column of type {}: {e}",
            col.data_type()
        ))
    })?;
    let s = text.as_string::<i32>();
    Ok((0..n)
        .map(|i| {
            if s.is_valid(i) {
                s.value(i).to_string()
            } else {
                NULL_PARTITION.to_string()
            }
        })
        .collect())
}

/// Hive-style escaping of a path segment (as Hive and Spark do: `/`, `=`,
/// `%`, control characters and a few others become `%XX`).
pub(crate) fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\x7f'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            )
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        out = out.replace('.', "%2E");
        if out.is_empty() {
            out.push_str(NULL_PARTITION);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_escaping() {
        assert_eq!(escape_path("2007-05-01"), "2007-05-01");
        assert_eq!(escape_path("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_path(".."), "%2E%2E");
        assert_eq!(escape_path(""), NULL_PARTITION);
    }

    /// The bytes of a file do not depend on the pool (parallel or serial
    /// column encoding, any thread count) or on how the rows were batched,
    /// and match what a plain `ArrowWriter` writes for the same row groups.
    #[test]
    fn encoding_is_independent_of_pool_and_batching() {
        use arrow_array::{Int64Array, StringArray};
        use arrow_array::{ListArray, StructArray};
        use arrow_schema::Field;
        let point = arrow_schema::Fields::from(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("label", DataType::Utf8, true),
        ]);
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        // Nested columns (a struct of two leaves, a list) check that column
        // writers are matched to their fields' leaves.
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("token", DataType::Utf8, true),
            Field::new("point", DataType::Struct(point.clone()), true),
            Field::new("amount", DataType::Int64, false),
            Field::new("tags", DataType::List(item.clone()), true),
            Field::new("city", DataType::Utf8, true),
        ]));
        let rows = 10_000usize;
        let token: StringArray = (0..rows)
            .map(|i| (i % 7 != 0).then(|| format!("t{:016x}", (i % 977) * 2_654_435_761)))
            .collect();
        let amount = Int64Array::from_iter_values((0..rows as i64).map(|i| i * 37 % 1000));
        let city: StringArray = (0..rows)
            .map(|i| (i % 5 != 0).then(|| ["上海", "Berlin", "北京"][i % 3]))
            .collect();
        let x = Int64Array::from_iter_values((0..rows as i64).map(|i| i % 13));
        let label: StringArray = (0..rows)
            .map(|i| (i % 3 != 0).then(|| format!("p{}", i % 11)))
            .collect();
        let point = StructArray::new(point, vec![Arc::new(x), Arc::new(label)], None);
        let tags = ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(
            (0..rows).map(|i| (i % 4 != 0).then(|| (0..i % 3).map(move |j| Some((i + j) as i64)))),
        );
        let all = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(token),
                Arc::new(point),
                Arc::new(amount),
                Arc::new(tags),
                Arc::new(city),
            ],
        )
        .unwrap();
        let settings = |pool: Option<Arc<rayon::ThreadPool>>| WriterSettings {
            output: OutputOptions::default(),
            row_group_rows: 3000,
            token_columns: vec!["token".into()],
            metadata: vec![("txanon.test".into(), "1".into())],
            pool,
            mode: crate::io::output::DEFAULT_MODE,
        };
        let write = |pool: Option<Arc<rayon::ThreadPool>>, batch_rows: usize| -> Vec<u8> {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("out.parquet");
            let mut sink = ParquetSink::create(&target, schema.clone(), &settings(pool)).unwrap();
            let mut offset = 0;
            while offset < rows {
                let n = batch_rows.min(rows - offset);
                sink.write(all.slice(offset, n)).unwrap();
                offset += n;
            }
            assert_eq!(sink.finish(Vec::new()).unwrap(), rows as u64);
            std::fs::read(target).unwrap()
        };
        let pool = |n| {
            Some(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .unwrap(),
            ))
        };
        let reference = write(None, rows);
        assert_eq!(write(None, 777), reference);
        assert_eq!(write(pool(1), 1000), reference);
        assert_eq!(write(pool(2), 313), reference);
        assert_eq!(write(pool(4), 4096), reference);

        // A plain ArrowWriter, given the same row groups, writes the same bytes.
        let mut plain = Vec::new();
        let props = settings(None).properties(&schema, &[all.slice(0, 3000)]);
        let mut w = ArrowWriter::try_new(&mut plain, schema.clone(), Some(props)).unwrap();
        for start in (0..rows).step_by(3000) {
            w.write(&all.slice(start, 3000.min(rows - start))).unwrap();
            w.flush().unwrap();
        }
        w.append_key_value_metadata(KeyValue::new("txanon.rows".into(), rows.to_string()));
        w.close().unwrap();
        assert_eq!(plain, reference);
    }

    /// Columns without a declared setting are dictionary-encoded unless
    /// more than half of the first row group's non-null values are distinct,
    /// counted on the values (nulls, slices and fixed-width types included);
    /// declared settings win.
    #[test]
    fn dictionary_follows_the_first_row_group() {
        use arrow_array::{BooleanArray, Decimal128Array, Int64Array, StringArray};
        use arrow_schema::Field;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        // 10 values: 5 distinct is not more than half; 6 is.
        let five: StringArray = (0..10).map(|i| Some(format!("v{}", i % 5))).collect();
        let six: StringArray = (0..10).map(|i| Some(format!("v{}", i % 6))).collect();
        assert!(!mostly_distinct(&[&five]));
        assert!(mostly_distinct(&[&six]));
        // Nulls do not count as values; a slice counts only its own rows.
        let sparse: StringArray = (0..10).map(|i| (i < 4).then(|| format!("u{i}"))).collect();
        assert!(mostly_distinct(&[&sparse]));
        let ints = Int64Array::from_iter_values((0..20).map(|i| if i < 10 { i % 2 } else { i }));
        assert!(!mostly_distinct(&[&ints.slice(0, 10)]));
        assert!(mostly_distinct(&[&ints.slice(10, 10)]));
        assert!(mostly_distinct(&[&ints.slice(5, 10)]));
        // Spread over several parts of one row group.
        assert!(!mostly_distinct(&[&five.slice(0, 5), &five.slice(5, 5)]));
        let dec = Decimal128Array::from_iter_values((0..10).map(|i| i128::from(i) << 70))
            .with_precision_and_scale(38, 2)
            .unwrap();
        assert!(mostly_distinct(&[&dec]));
        let bools = BooleanArray::from((0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        assert!(!mostly_distinct(&[&bools]));
        assert!(!mostly_distinct(&[]));

        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("unique", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("amount", DataType::Int64, false),
            Field::new("forced", DataType::Utf8, false),
        ]));
        let rows = 4000usize;
        let unique: StringArray = (0..rows).map(|i| Some(format!("id{i:08}"))).collect();
        let category: StringArray = (0..rows).map(|i| Some(["web", "app"][i % 2])).collect();
        // Repeats in the first row group (1000 rows), unique after it: the
        // choice is made once per file, from the first row group.
        let amount =
            Int64Array::from_iter_values(
                (0..rows as i64).map(|i| if i < 1000 { i % 3 } else { i }),
            );
        let forced: StringArray = (0..rows).map(|i| Some(format!("f{i}"))).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(unique),
                Arc::new(category),
                Arc::new(amount),
                Arc::new(forced),
            ],
        )
        .unwrap();
        let mut output = OutputOptions::default();
        output.columns.insert(
            "forced".into(),
            crate::schema::ColumnWriteOptions {
                dictionary: Some(true),
                bloom_filter: None,
            },
        );
        let dictionaries = |output: OutputOptions| -> Vec<Vec<bool>> {
            let settings = WriterSettings {
                output,
                row_group_rows: 1000,
                token_columns: Vec::new(),
                metadata: Vec::new(),
                pool: None,
                mode: crate::io::output::DEFAULT_MODE,
            };
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("out.parquet");
            let mut sink = ParquetSink::create(&target, schema.clone(), &settings).unwrap();
            sink.write(batch.clone()).unwrap();
            sink.finish(Vec::new()).unwrap();
            let reader = SerializedFileReader::new(File::open(&target).unwrap()).unwrap();
            let meta = reader.metadata();
            assert_eq!(meta.num_row_groups(), 4);
            (0..4)
                .map(|c| {
                    meta.row_groups()
                        .iter()
                        .map(|g| g.column(c).dictionary_page_offset().is_some())
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            dictionaries(output.clone()),
            vec![vec![false; 4], vec![true; 4], vec![true; 4], vec![true; 4]]
        );
        // `[output] dictionary = false` turns the rule off for every column
        // without its own setting.
        output.dictionary = Some(false);
        assert_eq!(
            dictionaries(output),
            vec![
                vec![false; 4],
                vec![false; 4],
                vec![false; 4],
                vec![true; 4]
            ]
        );
    }
}
