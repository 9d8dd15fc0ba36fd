//! What a run counts as it goes ([`Tally`]: rows, per-input counts, the
//! bad-row allowance) and what it reports at the end ([`Summary`]). Holds
//! names and counts, never a value.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use serde::Serialize;

use super::chunk::ChunkResult;
use crate::error::{Error, Result};
use crate::io::parquet_writer::PartInfo;
use crate::schema::{Action, Schema};
use crate::transform::batch::{ColumnPlan, ColumnStats};

/// Bad records listed in the summary; the rest are only counted.
const BAD_ROW_LIST_MAX: usize = 1000;

/// A skipped record, for the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRow {
    /// Input file.
    pub file: PathBuf,
    /// Line where the record starts.
    pub line: u64,
    /// Column, or `(record)`.
    pub column: String,
    /// The rule broken.
    pub rule: String,
}

impl BadRow {
    /// Whether the record itself is not well-formed (structure or text
    /// encoding), as opposed to a value failing its column's rule.
    pub fn is_malformed(&self) -> bool {
        self.column == "(record)" || self.column == "(chunk)" || self.rule == "invalid UTF-8"
    }
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.rule
        )
    }
}

/// Per-column part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    /// Input name.
    pub name: String,
    /// Output name (absent when dropped).
    pub output: Option<String>,
    /// Action.
    pub action: &'static str,
    /// Counters (zero for dropped columns).
    #[serde(flatten)]
    pub stats: ColumnStats,
}

/// One input of a run, for the summary and the manifest. Contains no values.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// The file.
    pub path: PathBuf,
    /// `csv`, `ndjson` or `parquet`.
    pub format: &'static str,
    /// `none`, `gzip`, `zstd` (text) or `parquet`.
    pub compression: &'static str,
    /// Declared text encoding (text formats).
    pub encoding: &'static str,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file bytes (computed when a manifest is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Records read.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped under `--max-bad-rows`.
    pub bad_rows: u64,
    /// Tokenized columns that this (Parquet) file stores as numbers, read as decimal text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub numeric_text_columns: Vec<String>,
}

/// What a run did; printed at the end (text or `--json`). Contains no values.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// txanon version.
    pub txanon_version: &'static str,
    /// Schema name and version.
    pub schema: String,
    /// Input files, in reading order, with their counts.
    pub inputs: Vec<InputSummary>,
    /// Output file or directory.
    pub output: PathBuf,
    /// Partition column of a directory output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<String>,
    /// Files of a directory output, relative to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PartInfo>,
    /// Records read (excluding headers and blank lines).
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped under `--max-bad-rows`.
    pub bad_rows: u64,
    /// Of `bad_rows`, those not well-formed (`BadRow::is_malformed`).
    pub malformed_rows: u64,
    /// The first 1000 skipped records.
    pub bad_row_list: Vec<BadRow>,
    /// Undeclared input columns dropped under `--drop-undeclared`.
    pub undeclared_dropped: Vec<String>,
    /// Per-column counts.
    pub columns: Vec<ColumnSummary>,
    /// Input bytes.
    pub input_bytes: u64,
    /// Wall time.
    pub elapsed_seconds: f64,
    /// Rows per second.
    pub rows_per_second: f64,
    /// Input MiB per second.
    pub mib_per_second: f64,
    /// Public fingerprint of the key used.
    pub key_fingerprint: String,
    /// Whether the published demo key was used.
    pub demo_key: bool,
    /// Worker threads.
    pub threads: usize,
    /// Disclosure-risk figures, when the schema declares `[privacy]`.
    pub privacy: Option<crate::risk::PrivacyReport>,
    /// The generation this run added to a dataset (`--append`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Inputs `--append` skipped: their content is already in the dataset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_inputs: Vec<SkippedInput>,
    /// Inputs `--replace-changed` replaced: path, SHA-256 and generation of
    /// the earlier content, part files and rows of it removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced_inputs: Vec<serde_json::Value>,
}

/// An input `--append` did not read again.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedInput {
    /// The path as given.
    pub path: PathBuf,
    /// The generation that added the same content (by SHA-256).
    pub generation: u64,
}

/// Per-input counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Records read.
    pub rows_read: u64,
    /// Rows passed on to be written.
    pub rows_written: u64,
    /// Records skipped.
    pub bad_rows: u64,
}

/// The running counts of a pass, fed one chunk result at a time in input
/// order, and the `--max-bad-rows` policy.
#[derive(Debug)]
pub struct Tally<'a> {
    inputs: &'a [PathBuf],
    max_bad_rows: u64,
    /// Per output column.
    pub stats: Vec<ColumnStats>,
    /// Per input, indexed like `inputs`.
    pub per_input: Vec<InputCounts>,
    /// Records read.
    pub rows_read: u64,
    /// Records skipped.
    pub bad_rows: u64,
    /// Of `bad_rows`, the malformed ones.
    pub malformed_rows: u64,
    /// The first [`BAD_ROW_LIST_MAX`] skipped records.
    pub bad_list: Vec<BadRow>,
}

impl<'a> Tally<'a> {
    /// Nothing counted yet, for `columns` output columns.
    pub fn new(inputs: &'a [PathBuf], columns: usize, max_bad_rows: u64) -> Tally<'a> {
        Tally {
            inputs,
            max_bad_rows,
            stats: vec![ColumnStats::default(); columns],
            per_input: vec![InputCounts::default(); inputs.len()],
            rows_read: 0,
            bad_rows: 0,
            malformed_rows: 0,
            bad_list: Vec::new(),
        }
    }

    /// `rows` rows of input `file`'s last chunk were suppressed by the
    /// privacy gate after [`Tally::add`] counted them as written.
    pub fn suppressed(&mut self, file: usize, rows: u64) {
        if let Some(counts) = self.per_input.get_mut(file) {
            counts.rows_written = counts.rows_written.saturating_sub(rows);
        }
    }

    /// Count one chunk's result and give back its rows to write; an error
    /// when the chunk could not be decoded or its bad records exceed the
    /// allowance (the first bad record itself when none is allowed).
    pub fn add(&mut self, r: ChunkResult) -> Result<RecordBatch> {
        // `r.file` indexes `inputs` (the reader numbers its files that way).
        let file = self.inputs.get(r.file).map_or(Path::new("?"), |p| p);
        if let Some(f) = r.fatal {
            return Err(Error::BadRecord {
                path: file.to_path_buf(),
                line: f.line,
                column: f.column,
                rule: f.rule,
            });
        }
        self.rows_read += r.rows_read;
        if let Some(counts) = self.per_input.get_mut(r.file) {
            counts.rows_read += r.rows_read;
            counts.bad_rows += r.bad.len() as u64;
            counts.rows_written += r.batch.num_rows() as u64;
        }
        for (total, s) in self.stats.iter_mut().zip(&r.stats) {
            total.add(s);
        }
        for b in r.bad {
            self.bad_rows += 1;
            let row = BadRow {
                file: file.to_path_buf(),
                line: b.line,
                column: b.column,
                rule: b.rule,
            };
            if self.bad_rows > self.max_bad_rows {
                return Err(if self.max_bad_rows == 0 {
                    Error::BadRecord {
                        path: row.file,
                        line: row.line,
                        column: row.column,
                        rule: row.rule,
                    }
                } else {
                    Error::TooManyBadRows {
                        count: self.bad_rows,
                        max: self.max_bad_rows,
                        first: self
                            .bad_list
                            .first()
                            .map_or_else(|| row.to_string(), |b| b.to_string()),
                    }
                });
            }
            if row.is_malformed() {
                self.malformed_rows += 1;
            }
            if self.bad_list.len() < BAD_ROW_LIST_MAX {
                self.bad_list.push(row);
            }
        }
        Ok(r.batch)
    }
}

/// One summary entry per schema column (zero counts for a dropped one),
/// each followed by the outputs derived from it, from the per-output-column
/// `stats` of `plan`.
pub fn column_summaries(
    schema: &Schema,
    plan: &[ColumnPlan],
    stats: Vec<ColumnStats>,
) -> Vec<ColumnSummary> {
    let mut plan_stats = plan.iter().zip(stats).peekable();
    let mut columns = Vec::with_capacity(plan.len());
    for c in &schema.columns {
        let stats = if c.action == Action::Drop {
            ColumnStats::default()
        } else {
            plan_stats.next().map(|(_, s)| s).unwrap_or_default()
        };
        columns.push(ColumnSummary {
            name: c.name.clone(),
            output: (c.action != Action::Drop).then(|| c.output.clone()),
            action: c.action.name(),
            stats,
        });
        while let Some((p, s)) = plan_stats.next_if(|(p, _)| p.derived) {
            columns.push(ColumnSummary {
                name: c.name.clone(),
                output: Some(p.output.clone()),
                action: "derive",
                stats: s,
            });
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::csv::BadRecord;
    use crate::key::MasterKey;
    use crate::transform::batch::BatchPlan;
    use arrow_array::StringArray;
    use std::sync::Arc;

    fn batch(rows: usize) -> RecordBatch {
        let values: Vec<&str> = vec!["x"; rows];
        RecordBatch::try_from_iter([(
            "a",
            Arc::new(StringArray::from(values)) as arrow_array::ArrayRef,
        )])
        .unwrap()
    }

    fn bad(line: u64, column: &str) -> BadRecord {
        BadRecord {
            line,
            column: column.into(),
            rule: "not a date".into(),
        }
    }

    fn chunk(file: usize, rows: usize, bad: Vec<BadRecord>) -> ChunkResult {
        ChunkResult {
            file,
            fatal: None,
            rows_read: (rows + bad.len()) as u64,
            batch: batch(rows),
            stats: vec![ColumnStats {
                nulls: 1,
                invalid: bad.len() as u64,
                invalid_tokenized: 0,
            }],
            bad,
        }
    }

    #[test]
    fn counts_add_up_per_input_and_per_column() {
        let inputs = [PathBuf::from("a.csv"), PathBuf::from("b.csv")];
        let mut t = Tally::new(&inputs, 1, 10);
        assert_eq!(t.add(chunk(0, 3, vec![bad(4, "d")])).unwrap().num_rows(), 3);
        t.add(chunk(1, 2, vec![bad(2, "(record)"), bad(9, "d")]))
            .unwrap();
        t.add(chunk(1, 5, Vec::new())).unwrap();
        assert_eq!((t.rows_read, t.bad_rows, t.malformed_rows), (13, 3, 1));
        assert_eq!(
            t.per_input,
            [
                InputCounts {
                    rows_read: 4,
                    rows_written: 3,
                    bad_rows: 1
                },
                InputCounts {
                    rows_read: 9,
                    rows_written: 7,
                    bad_rows: 2
                }
            ]
        );
        assert_eq!((t.stats[0].nulls, t.stats[0].invalid), (3, 3));
        assert_eq!(t.bad_list[1].to_string(), "b.csv:2: (record): not a date");
    }

    #[test]
    fn no_allowance_fails_on_the_first_bad_record_itself() {
        let inputs = [PathBuf::from("a.csv")];
        let mut t = Tally::new(&inputs, 1, 0);
        t.add(chunk(0, 3, Vec::new())).unwrap();
        let err = t.add(chunk(0, 1, vec![bad(7, "d")])).unwrap_err();
        assert_eq!(err.to_string(), "a.csv:7: d: not a date");
    }

    #[test]
    fn past_the_allowance_names_the_first_bad_record() {
        let inputs = [PathBuf::from("a.csv")];
        let mut t = Tally::new(&inputs, 1, 2);
        t.add(chunk(0, 1, vec![bad(3, "d"), bad(5, "d")])).unwrap();
        let err = t.add(chunk(0, 1, vec![bad(8, "d")])).unwrap_err();
        assert!(
            matches!(&err, Error::TooManyBadRows { count: 3, max: 2, first } if first == "a.csv:3: d: not a date"),
            "{err:?}"
        );
    }

    #[test]
    fn a_fatal_chunk_ends_the_run_whatever_the_allowance() {
        let inputs = [PathBuf::from("a.csv")];
        let mut t = Tally::new(&inputs, 1, u64::MAX);
        let mut c = chunk(0, 0, Vec::new());
        c.fatal = Some(bad(12, "(chunk)"));
        let err = t.add(c).unwrap_err();
        assert_eq!(err.to_string(), "a.csv:12: (chunk): not a date");
    }

    #[test]
    fn the_bad_row_list_is_capped_but_the_count_is_not() {
        let inputs = [PathBuf::from("a.csv")];
        let mut t = Tally::new(&inputs, 1, u64::MAX);
        let many = (0..BAD_ROW_LIST_MAX as u64 + 5)
            .map(|l| bad(l, "d"))
            .collect();
        t.add(chunk(0, 0, many)).unwrap();
        assert_eq!(t.bad_rows, BAD_ROW_LIST_MAX as u64 + 5);
        assert_eq!(t.bad_list.len(), BAD_ROW_LIST_MAX);
    }

    #[test]
    fn column_summaries_follow_the_schema_with_dropped_columns_at_zero() {
        let schema = Schema::from_toml(
            "[dataset]\nname = \"c\"\nversion = 1\n\
             [[columns]]\nname = \"a\"\naction = \"keep\"\n\
             [[columns]]\nname = \"b\"\naction = \"drop\"\n\
             [[columns]]\nname = \"c\"\naction = \"keep\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let plan = BatchPlan::new(&schema, &MasterKey::from_hex(&"11".repeat(32)).unwrap());
        let stats = |n| ColumnStats {
            nulls: n,
            invalid: 0,
            invalid_tokenized: 0,
        };
        let columns = column_summaries(&schema, &plan.columns, vec![stats(1), stats(2)]);
        let got: Vec<_> = columns
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.output.as_deref(),
                    c.action,
                    c.stats.nulls,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some("a"), "keep", 1),
                ("b", None, "drop", 0),
                ("c", Some("c"), "keep", 2)
            ]
        );
    }
}
