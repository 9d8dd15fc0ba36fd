//! The risk state of a dataset's earlier generations, read back for an
//! append under `[privacy]`: the quasi-identifier, sensitive and entity
//! columns of every part file the manifest lists, in its order, fed to the
//! run's [`RiskMeter`] before the new rows (see [`RiskMeter::observe_earlier`]).
//!
//! Nothing is kept on disk for it: the figures come from the released
//! columns themselves, so an erasure or an earlier suppression is accounted
//! for exactly as a reader of the dataset sees it. A partition column that
//! is a `[privacy]` column is taken from the part file's directory name
//! (`col=value`, Hive's escaping undone; the default partition is a null).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde_json::Value;

use super::Current;
use crate::error::{Error, Result};
use crate::io::parquet_writer::NULL_PARTITION;
use crate::risk::RiskMeter;

/// Rows per batch read back.
const BATCH_ROWS: usize = 8192;

/// Feed every row of the part files `manifest` lists (`current`'s, or
/// fewer under `--replace-changed`) to `meter` as rows of the generations
/// before the one the append adds. `stop` is asked between
/// batches whether the run was interrupted.
pub fn measure_earlier(
    current: &Current,
    manifest: &Value,
    meter: &mut RiskMeter,
    stop: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let generation = current.generation + 1;
    meter.expect_earlier(generation);
    let wanted = meter.columns();
    let partition = super::partition_by(current);
    let files = manifest
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for entry in &files {
        let rel = entry.get("path").and_then(Value::as_str).ok_or_else(|| {
            Error::Usage(format!(
                "{}: a part file entry without a path",
                current.dir.display()
            ))
        })?;
        let path = current.dir.join(rel);
        let partition_value = match partition.as_deref() {
            Some(col) => Some((col, partition_value(rel, col)?)),
            None => None,
        };
        for_each_batch(&path, rel, &wanted, partition_value, &mut |arrays| {
            stop()?;
            meter.observe_earlier(arrays, generation)
        })?;
    }
    Ok(())
}

fn read_error(path: &Path, e: impl ToString) -> Error {
    Error::ParquetRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Read `wanted` from one part file, batch by batch; the partition column,
/// when wanted and absent from the file, is its directory's value repeated.
fn for_each_batch(
    path: &Path,
    rel: &str,
    wanted: &[String],
    partition: Option<(&str, Option<String>)>,
    f: &mut dyn FnMut(&[ArrayRef]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_error(path, e))?;
    let fields = builder.schema().fields().clone();
    let is_partition = |name: &str| partition.as_ref().is_some_and(|(c, _)| *c == name);
    let mut roots = Vec::new();
    for name in wanted {
        match fields.iter().position(|f| f.name() == name) {
            Some(i) => roots.push(i),
            None if is_partition(name) => {}
            None => {
                return Err(Error::Usage(format!(
                    "part file {rel} has no column {name:?}, which [privacy] measures: the \
                     dataset's risk cannot be read back; nothing was written"
                )))
            }
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_error(path, e))?;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| read_error(path, e))?;
        if batch.num_rows() == 0 {
            continue;
        }
        let arrays =
            wanted
                .iter()
                .map(|name| match (batch.column_by_name(name), &partition) {
                    (Some(a), _) => Ok(a.clone()),
                    (None, Some((c, v))) if c == name => Ok(Arc::new(StringArray::from(
                        vec![v.as_deref(); batch.num_rows()],
                    )) as ArrayRef),
                    (None, _) => Err(Error::Internal(format!(
                        "part file {rel}: column {name:?} missing from a batch"
                    ))),
                })
                .collect::<Result<Vec<ArrayRef>>>()?;
        f(&arrays)?;
    }
    Ok(())
}

/// The value of partition column `col` in a part file's relative path
/// (`[gNNNNN/]col=value/part-*.parquet`, the column name escaped as the
/// writer escapes it), Hive's escaping undone; `None` for the default
/// partition (a null). A path without that directory is an error: reading
/// its rows as nulls would put them in the wrong class.
fn partition_value(rel: &str, col: &str) -> Result<Option<String>> {
    let prefix = format!("{}=", crate::io::parquet_writer::escape_path(col));
    let raw = rel
        .split('/')
        .find_map(|seg| seg.strip_prefix(&prefix))
        .ok_or_else(|| {
            Error::Usage(format!(
                "part file {rel} of a dataset partitioned by {col:?} is not in a \
                 `{prefix}...` directory; the dataset was changed by hand (nothing was written)"
            ))
        })?;
    if raw == NULL_PARTITION {
        return Ok(None);
    }
    Ok(Some(unescape(raw)))
}

/// Undo Hive's `%XX` path escaping (an invalid sequence is kept as written).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_read_from_the_path_with_hive_escaping_undone() {
        let value = |rel: &str, col: &str| partition_value(rel, col).ok().flatten();
        assert_eq!(
            value("g00002/m=2024-05-01/part-00000.parquet", "m").as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(
            value("m=a%3Db%2Fc/part-00000.parquet", "m").as_deref(),
            Some("a=b/c")
        );
        // A column name the writer escapes is looked for escaped.
        assert_eq!(
            value(
                "g00003/period%3Amonth=2024-05-01/part-00000.parquet",
                "period:month"
            )
            .as_deref(),
            Some("2024-05-01")
        );
        assert!(matches!(
            partition_value(&format!("m={NULL_PARTITION}/part-00000.parquet"), "m"),
            Ok(None)
        ));
        // No such directory: an error, not a null.
        assert!(partition_value("part-00000.parquet", "m").is_err());
        assert!(
            partition_value("period:month=2024-05-01/part-00000.parquet", "period:month").is_err()
        );
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%E2%82%AC"), "€");
    }
}
