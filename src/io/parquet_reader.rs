//! Parquet input: streamed in record batches with only the declared columns
//! projected, and each value turned into the text the schema's parsers read.
//!
//! Every transform in txanon works on text (the normalizers and the keyed
//! tokens are defined over text), so typed Parquet values are rendered into
//! the form the column's declared type parses: integers and decimals as
//! decimal text, booleans as `true`/`false`, dates and timestamps in the
//! column's declared `format` (ISO 8601 when none). A PII column that an
//! exporter stored as an integer (a phone as INT64, which has lost its `+`
//! or leading `0`) is rendered as decimal text and the run's summary says so.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDateTime, TimeZone};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};
use crate::schema::{Column, ValueType};

/// One Parquet input file.
pub struct ParquetInput {
    /// The file.
    pub path: PathBuf,
    /// Top-level column names.
    pub columns: Vec<String>,
    /// Arrow type of each top-level column.
    pub types: Vec<DataType>,
    builder: Option<ParquetRecordBatchReaderBuilder<File>>,
    reader: Option<ParquetRecordBatchReader>,
    /// Rows read so far.
    pub rows_read: u64,
    total_rows: u64,
    file_len: u64,
}

impl std::fmt::Debug for ParquetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetInput")
            .field("path", &self.path)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

fn read_error(path: &Path, message: String) -> Error {
    Error::ParquetRead {
        path: path.to_path_buf(),
        message,
    }
}

impl ParquetInput {
    /// Open the file and read its schema.
    pub fn open(path: &Path) -> Result<ParquetInput> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| read_error(path, e.to_string()))?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let (columns, types) = builder
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .unzip();
        Ok(ParquetInput {
            path: path.to_path_buf(),
            columns,
            types,
            builder: Some(builder),
            reader: None,
            rows_read: 0,
            total_rows,
            file_len,
        })
    }

    /// Start reading the top-level columns `projection` (ascending) in
    /// batches of `batch_rows`.
    pub fn start(&mut self, projection: &[usize], batch_rows: usize) -> Result<()> {
        let builder = self
            .builder
            .take()
            .ok_or_else(|| read_error(&self.path, "reader already started".into()))?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), projection.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(|e| read_error(&self.path, e.to_string()))?;
        self.reader = Some(reader);
        Ok(())
    }

    /// File bytes "consumed" so far, in proportion to the rows read (for progress).
    pub fn progress_bytes(&self) -> u64 {
        if self.total_rows == 0 {
            return 0;
        }
        (self.file_len as u128 * self.rows_read.min(self.total_rows) as u128
            / self.total_rows as u128) as u64
    }

    /// The next batch, or `None` at the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        match reader.next() {
            None => Ok(None),
            Some(Ok(batch)) => {
                self.rows_read += batch.num_rows() as u64;
                Ok(Some(batch))
            }
            Some(Err(e)) => Err(read_error(&self.path, e.to_string())),
        }
    }
}

/// Whether a Parquet column of type `t` can feed a column declared as `column`.
/// `Err` says why not (no values involved).
pub fn check_type(t: &DataType, column: &Column) -> std::result::Result<(), String> {
    let textual = is_textual(t);
    let integer = t.is_integer();
    let ok = match column.value_type {
        ValueType::String => textual || integer || t.is_floating() || decimal(t),
        ValueType::Int => textual || integer,
        ValueType::Float | ValueType::Decimal { .. } => {
            textual || integer || t.is_floating() || decimal(t)
        }
        ValueType::Bool => textual || *t == DataType::Boolean,
        ValueType::Date | ValueType::Timestamp => textual || temporal(t),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Parquet type {t} cannot be read as the declared type of column {:?}",
            column.name
        ))
    }
}

/// Whether values of type `t` are stored as numbers (and so have lost any
/// leading `+` or `0` a phone number or id had).
pub fn is_numeric_storage(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || decimal(t)
}

fn is_textual(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_textual(v),
        _ => false,
    }
}

fn decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

/// The text the declared type's parser reads, for every value of `array`.
/// `format` is the column's declared date/timestamp format; `tz` the
/// dataset's zone (timestamps with a zone are shown as local time there).
pub fn to_text(
    array: &ArrayRef,
    format: Option<&str>,
    value_type: ValueType,
    tz: chrono_tz::Tz,
) -> std::result::Result<Arc<StringArray>, String> {
    let t = array.data_type();
    if temporal(t) {
        return temporal_text(array, format, value_type, tz);
    }
    let cast = arrow_cast::cast(array, &DataType::Utf8).map_err(|e| e.to_string())?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .map(|s| Arc::new(s.clone()))
        .ok_or_else(|| "cast to text failed".to_string())
}

/// What a valid date or timestamp outside chrono's range (about ±262,000
/// years) reads as: text no date or timestamp parser accepts, so the value is
/// invalid and follows its column's `on_invalid` (null and counted, or a bad
/// record) instead of becoming a silent null.
pub const OUT_OF_RANGE: &str = "(date or time outside the supported range)";

fn temporal_text(
    array: &ArrayRef,
    format: Option<&str>,
    value_type: ValueType,
    tz: chrono_tz::Tz,
) -> std::result::Result<Arc<StringArray>, String> {
    let date_format = format.unwrap_or("%Y-%m-%d");
    // A naive local time in `tz`, rendered in the declared format; instants
    // keep their offset when the format has none, as RFC 3339.
    let render_naive = |n: NaiveDateTime| -> String {
        if value_type == ValueType::Date {
            n.date().format(date_format).to_string()
        } else {
            match format {
                Some(f) => n.format(f).to_string(),
                None => n.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            }
        }
    };
    let render_instant = |micros: i64| -> Option<String> {
        let utc = DateTime::from_timestamp_micros(micros)?;
        let local = tz.from_utc_datetime(&utc.naive_utc());
        Some(if value_type == ValueType::Date {
            local.date_naive().format(date_format).to_string()
        } else {
            match format {
                Some(f) => local.format(f).to_string(),
                None => local.to_rfc3339(),
            }
        })
    };
    let n = array.len();
    let mut out: Vec<Option<String>> = Vec::with_capacity(n);
    match array.data_type() {
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            for i in 0..n {
                out.push(a.is_valid(i).then(|| {
                    a.value_as_date(i)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map_or_else(|| OUT_OF_RANGE.to_string(), render_naive)
                }));
            }
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            for i in 0..n {
                out.push(a.is_valid(i).then(|| {
                    a.value_as_datetime(i)
                        .map_or_else(|| OUT_OF_RANGE.to_string(), render_naive)
                }));
            }
        }
        DataType::Timestamp(unit, zone) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => timestamps::<TimestampSecondType>(array, 1_000_000, true),
                TimeUnit::Millisecond => timestamps::<TimestampMillisecondType>(array, 1_000, true),
                TimeUnit::Microsecond => timestamps::<TimestampMicrosecondType>(array, 1, true),
                TimeUnit::Nanosecond => timestamps::<TimestampNanosecondType>(array, 1_000, false),
            };
            // `None` with a valid input: out of range (or overflowed).
            for (i, m) in micros.into_iter().enumerate() {
                out.push(array.is_valid(i).then(|| {
                    m.and_then(|m| {
                        if zone.is_some() {
                            render_instant(m)
                        } else {
                            DateTime::from_timestamp_micros(m).map(|d| render_naive(d.naive_utc()))
                        }
                    })
                    .unwrap_or_else(|| OUT_OF_RANGE.to_string())
                }));
            }
        }
        other => return Err(format!("unsupported temporal type {other}")),
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// Values as microseconds: multiplied by `factor`, or (nanoseconds) divided.
fn timestamps<T: arrow_array::types::ArrowPrimitiveType<Native = i64>>(
    array: &ArrayRef,
    factor: i64,
    multiply: bool,
) -> Vec<Option<i64>> {
    let a = array.as_primitive::<T>();
    (0..a.len())
        .map(|i| {
            a.is_valid(i).then(|| a.value(i)).and_then(|v| {
                if multiply {
                    v.checked_mul(factor)
                } else {
                    Some(v.div_euclid(factor))
                }
            })
        })
        .collect()
}
