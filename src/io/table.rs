//! Read any supported file (CSV dump or Parquet) as batches of string
//! columns, for the schema-free tools (`scan`, `init`, and `check`'s
//! content checks). The kind of file is told from its content: Parquet files
//! start with the magic bytes `PAR1`; anything else is read as CSV.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::io::csv::{Chunk, CsvInput, DecodePlan, Dialect};
use crate::io::json::JsonPlan;
use crate::io::source::{detect, looks_like_ndjson, Detected, TextEncoding};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A CSV dump (input).
    Csv,
    /// A Parquet file (typically a txanon output).
    Parquet,
}

/// Tell a file's kind from its first bytes (compressed text counts as CSV).
pub fn sniff(path: &Path) -> Result<FileKind> {
    Ok(match detect(path)? {
        Detected::Parquet => FileKind::Parquet,
        Detected::Text(_) => FileKind::Csv,
    })
}

/// Whether a Parquet file was written by txanon (its footer has `txanon.version`).
pub fn is_txanon_output(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::ParquetRead {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|k| k.key == "txanon.version")))
}

/// One batch of string columns with the row number (CSV: file line, Parquet:
/// 1-based row index) of each row.
#[derive(Debug)]
pub struct StringBatch {
    /// Column name and values (non-string columns cast to text, nulls kept).
    pub columns: Vec<(String, Arc<StringArray>)>,
    /// 0-based position in the file of each of `columns` (non-text Parquet
    /// columns are left out, and names need not be unique).
    pub positions: Vec<usize>,
    /// Row numbers, one per row.
    pub rows: Vec<u64>,
}

/// How a text (CSV or NDJSON) file is read; a Parquet file ignores it.
#[derive(Debug, Clone, Default)]
pub struct TextFormat {
    /// Text encoding.
    pub encoding: TextEncoding,
    /// Delimiter, quote, escape and comment bytes of a CSV file.
    pub dialect: Dialect,
    /// `None`: a CSV file's first record is its header. `Some`: the file has
    /// no header and these are its column names.
    pub headerless: Option<Vec<String>>,
    /// `Some(true)`: NDJSON, `Some(false)`: CSV, `None`: told by file name.
    pub ndjson: Option<bool>,
    /// Leave malformed records out instead of stopping at the first one
    /// (for a caller that reports them by other means).
    pub skip_bad: bool,
}

impl TextFormat {
    /// UTF-8 (or `encoding`) CSV with a header and the default dialect, or
    /// NDJSON by file name: what the schema-free tools assume.
    pub fn with_encoding(encoding: TextEncoding) -> TextFormat {
        TextFormat {
            encoding,
            ..TextFormat::default()
        }
    }

    /// How `anonymize` reads `path` under `schema` (`[input]`).
    pub fn for_schema(path: &Path, schema: &crate::schema::Schema) -> TextFormat {
        let input = &schema.input;
        TextFormat {
            encoding: input.encoding_for(path),
            dialect: input.dialect,
            headerless: (!input.header)
                .then(|| schema.columns.iter().map(|c| c.name.clone()).collect()),
            ndjson: match input.format {
                crate::schema::InputFormat::Ndjson => Some(true),
                crate::schema::InputFormat::Csv => Some(false),
                _ => None,
            },
            skip_bad: false,
        }
    }
}

/// Column names and batches of a file, read up to `limit` rows.
pub fn for_each_batch(
    path: &Path,
    limit: Option<u64>,
    format: &TextFormat,
    mut visit: impl FnMut(&StringBatch) -> Result<()>,
) -> Result<Vec<String>> {
    let encoding = format.encoding;
    match sniff(path)? {
        FileKind::Csv => {
            let ndjson = format.ndjson.unwrap_or_else(|| looks_like_ndjson(path));
            let mut input = if ndjson {
                CsvInput::open_lines(path, encoding, Arc::default())?
            } else {
                CsvInput::open(
                    path,
                    format.dialect,
                    encoding,
                    format.headerless.is_none(),
                    format.headerless.as_deref().unwrap_or_default(),
                    Arc::default(),
                )?
            };
            let names = input.columns.clone();
            // A header that may be a data record is not quoted in errors:
            // its columns are named by position (see `printable_names`).
            let printable = if format.headerless.is_none() {
                crate::check::detect::printable_names(&names, None)
            } else {
                vec![true; names.len()]
            };
            let column_label = |column: &str| match names.iter().position(|n| n == column) {
                Some(i) if !printable[i] => format!("column #{}", i + 1),
                _ => column.to_string(),
            };
            let csv_plan =
                DecodePlan::new(&names, (0..names.len()).collect(), format.dialect, None);
            let json_plan = JsonPlan::new(&names);
            let decode = |chunk: &Chunk| {
                if ndjson {
                    (json_plan.decode(chunk), json_plan.record_spans(chunk))
                } else {
                    (csv_plan.decode(chunk), csv_plan.record_spans(chunk))
                }
            };
            let mut seen = 0u64;
            while limit.is_none_or(|l| seen < l) {
                let want = limit.map_or(8192, |l| (l - seen).min(8192) as usize);
                let Some(chunk) = input.next_chunk(0, want)? else {
                    break;
                };
                let (decoded, spans) = decode(&chunk);
                let first_bad = if format.skip_bad {
                    None
                } else {
                    decoded.bad.first()
                };
                if let Some(f) = decoded.fatal.as_ref().or(first_bad) {
                    let hint = f.rule == "invalid UTF-8" && encoding == TextEncoding::Utf8;
                    return Err(Error::BadRecord {
                        path: path.to_path_buf(),
                        line: f.line,
                        column: column_label(&f.column),
                        rule: if hint {
                            "invalid UTF-8 (a legacy export? --encoding gb18030 reads GB18030/GBK)"
                                .into()
                        } else {
                            f.rule.clone()
                        },
                    });
                }
                // `kept` maps the batch's rows to the chunk's records when
                // some were left out.
                let rows: Vec<u64> = match &decoded.kept {
                    Some(kept) => kept
                        .iter()
                        .filter_map(|&i| spans.get(i).map(|s| s.2))
                        .collect(),
                    None => spans.iter().map(|s| s.2).collect(),
                };
                seen += rows.len() as u64;
                let positions = (0..names.len()).collect();
                let columns = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let col = decoded.batch.column(i);
                        (
                            n.clone(),
                            to_strings(col)
                                .unwrap_or_else(|| Arc::new(StringArray::new_null(col.len()))),
                        )
                    })
                    .collect();
                visit(&StringBatch {
                    columns,
                    positions,
                    rows,
                })?;
            }
            if let Some(line) = input.unterminated_quote_line() {
                return Err(Error::BadRecord {
                    path: path.to_path_buf(),
                    line,
                    column: "(record)".into(),
                    rule: "unterminated quoted field at end of file".into(),
                });
            }
            Ok(names)
        }
        FileKind::Parquet => {
            let perr = |e: parquet::errors::ParquetError| Error::ParquetRead {
                path: path.to_path_buf(),
                message: e.to_string(),
            };
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
            let names: Vec<String> = builder
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let reader = builder.with_batch_size(8192).build().map_err(perr)?;
            let mut seen = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| Error::ParquetRead {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                let mut n = batch.num_rows();
                if let Some(l) = limit {
                    n = n.min((l - seen) as usize);
                }
                let rows: Vec<u64> = (seen + 1..=seen + n as u64).collect();
                let (positions, columns) = batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .enumerate()
                    .filter_map(|(i, (f, c))| {
                        to_strings(&c.slice(0, n)).map(|s| (i, (f.name().clone(), s)))
                    })
                    .unzip();
                visit(&StringBatch {
                    columns,
                    positions,
                    rows,
                })?;
                seen += n as u64;
                if limit.is_some_and(|l| seen >= l) {
                    break;
                }
            }
            Ok(names)
        }
    }
}

/// Text view of a column: strings as they are, integers as decimal text
/// (phone numbers are sometimes stored as INT64); other types are skipped.
fn to_strings(col: &ArrayRef) -> Option<Arc<StringArray>> {
    let textual = match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(
            v.as_ref(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64 => true,
        _ => false,
    };
    if !textual {
        return None;
    }
    let cast = arrow_cast::cast(col, &DataType::Utf8).ok()?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .map(|s| Arc::new(s.clone()))
}
