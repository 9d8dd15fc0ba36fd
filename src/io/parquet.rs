//! Parquet output: typed, zstd-compressed, with `txanon.*` provenance
//! metadata, written atomically.
//!
//! The file is written under a temporary name beside the target
//! (`.NAME.txanon-tmp-PID`), fsync'd, and renamed over the target only when
//! the whole run succeeded. An error, a panic or an interrupt drops the
//! [`ParquetSink`] without [`ParquetSink::finish`], which removes the
//! temporary file: the target path never holds a partial file.
//!
//! Row groups are cut at a fixed number of rows regardless of how input
//! batches were sized, so the bytes written depend only on the data, the
//! schema and the key, never on thread count or batch size.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// Suffix marking txanon's temporary output files.
pub const TMP_MARKER: &str = ".txanon-tmp-";

/// Removes the temporary file unless committed.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams record batches into a Parquet file that appears only on success.
pub struct ParquetSink {
    target: PathBuf,
    guard: TempGuard,
    writer: Option<ArrowWriter<File>>,
    schema: Arc<ArrowSchema>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_group_rows: usize,
    rows: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("target", &self.target)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// The temporary path used while writing `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output.parquet".into());
    let tmp = format!(".{name}{TMP_MARKER}{}", std::process::id());
    target.with_file_name(tmp)
}

/// Remove temporary files of earlier runs for the same target whose process
/// is gone (killed with SIGKILL, power loss): `.NAME.txanon-tmp-PID` where no
/// process PID exists. Temporary files of live runs are left alone.
pub fn remove_stale_temps(target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}{TMP_MARKER}");
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true // cannot tell: keep the file
    }
}

impl ParquetSink {
    /// Create the temporary file and the writer. `metadata` goes into the footer.
    pub fn create(
        target: &Path,
        schema: Arc<ArrowSchema>,
        metadata: Vec<(String, String)>,
        row_group_rows: usize,
    ) -> Result<ParquetSink> {
        remove_stale_temps(target);
        let tmp = temp_path_for(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        let guard = TempGuard {
            path: tmp,
            armed: true,
        };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_key_value_metadata(Some(
                metadata
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k, v))
                    .collect(),
            ))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| {
            Error::Parquet {
                path: target.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        Ok(ParquetSink {
            target: target.to_path_buf(),
            guard,
            writer: Some(writer),
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            row_group_rows: row_group_rows.max(1),
            rows: 0,
        })
    }

    /// Rows accepted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Queue a batch; full row groups are written as they fill.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        while self.pending_rows >= self.row_group_rows {
            self.flush_rows(self.row_group_rows)?;
        }
        Ok(())
    }

    fn flush_rows(&mut self, n: usize) -> Result<()> {
        let all = arrow_select::concat::concat_batches(&self.schema, &self.pending)
            .map_err(|e| self.parquet_error(e.to_string()))?;
        let head = all.slice(0, n);
        let rest = all.slice(n, all.num_rows() - n);
        let target = self.target.clone();
        let writer = self.writer.as_mut().ok_or_else(|| Error::Parquet {
            path: target.clone(),
            message: "writer already closed".into(),
        })?;
        writer.write(&head).map_err(|e| Error::Parquet {
            path: target.clone(),
            message: e.to_string(),
        })?;
        writer.flush().map_err(|e| Error::Parquet {
            path: target,
            message: e.to_string(),
        })?;
        self.pending_rows = rest.num_rows();
        self.pending = if rest.num_rows() > 0 {
            vec![rest]
        } else {
            Vec::new()
        };
        Ok(())
    }

    fn parquet_error(&self, message: String) -> Error {
        Error::Parquet {
            path: self.target.clone(),
            message,
        }
    }

    /// Write what is pending, add the final metadata, fsync and rename into place.
    pub fn finish(mut self, extra_metadata: Vec<(String, String)>) -> Result<u64> {
        if self.pending_rows > 0 {
            self.flush_rows(self.pending_rows)?;
        }
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| self.parquet_error("writer already closed".into()))?;
        for (k, v) in extra_metadata {
            writer.append_key_value_metadata(KeyValue::new(k, v));
        }
        let file = writer
            .into_inner()
            .map_err(|e| self.parquet_error(e.to_string()))?;
        file.sync_all()
            .map_err(|e| Error::io(&self.guard.path, e))?;
        drop(file);
        std::fs::rename(&self.guard.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.guard.armed = false;
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.rows)
    }
}
