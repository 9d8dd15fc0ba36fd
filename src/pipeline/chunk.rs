//! One unit of parallel work: decode a chunk of one input and transform it.

use std::path::PathBuf;

use arrow_array::{BooleanArray, RecordBatch, StringArray};

use crate::error::{Error, Result};
use crate::io::csv::BadRecord;
use crate::io::input::{decode_unit, FilePlan, Unit};
use crate::transform::batch::{BatchPlan, ColumnStats};

/// A transformed chunk, with what the run counts about it.
#[derive(Debug)]
pub struct ChunkResult {
    /// Index of the input file.
    pub file: usize,
    /// A chunk that could not be decoded safely: stops the run whatever --max-bad-rows says.
    pub fatal: Option<BadRecord>,
    /// The rows to write.
    pub batch: RecordBatch,
    /// Per output column.
    pub stats: Vec<ColumnStats>,
    /// Records left out, in line order.
    pub bad: Vec<BadRecord>,
    /// Records read.
    pub rows_read: u64,
}

impl ChunkResult {
    /// No rows: only `bad` to count (and `rows_read` records read).
    pub fn empty(file: usize, plan: &BatchPlan, bad: Vec<BadRecord>, rows_read: u64) -> Self {
        ChunkResult {
            file,
            fatal: None,
            batch: RecordBatch::new_empty(plan.schema.clone()),
            stats: vec![ColumnStats::default(); plan.columns.len()],
            bad,
            rows_read,
        }
    }

    /// The record left open at the end of `file` (see
    /// [`crate::io::input::Reader::unterminated_quote_line`]), as one bad record.
    pub fn unterminated_quote(file: usize, line: u64, plan: &BatchPlan) -> Self {
        let bad = BadRecord {
            line,
            column: "(record)".into(),
            rule: "unterminated quoted field at end of file".into(),
        };
        ChunkResult::empty(file, plan, vec![bad], 1)
    }
}

fn batch_error(e: arrow_schema::ArrowError) -> Error {
    Error::Parquet {
        path: PathBuf::from("(batch)"),
        message: e.to_string(),
    }
}

/// Decode `unit` (of the file `fp` plans) and run it through `plan`;
/// records whose values break a rule are left out and listed in `bad`.
pub fn process_chunk(unit: &Unit, fp: &FilePlan, plan: &BatchPlan) -> Result<ChunkResult> {
    let decoded = decode_unit(unit, fp)?;
    if decoded.fatal.is_some() {
        let mut r = ChunkResult::empty(unit.file(), plan, Vec::new(), 0);
        r.fatal = decoded.fatal;
        return Ok(r);
    }
    let (arrays, stats, issues) = if decoded.rows == 0 {
        (
            plan.schema
                .fields()
                .iter()
                .map(|f| arrow_array::new_empty_array(f.data_type()))
                .collect(),
            vec![ColumnStats::default(); plan.columns.len()],
            Vec::new(),
        )
    } else {
        let inputs: Vec<&StringArray> = decoded
            .columns
            .iter()
            .map(|c| c.as_any().downcast_ref::<StringArray>())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Internal("decoded column is not text".into()))?;
        plan.transform(&inputs)
    };
    let mut batch = RecordBatch::try_new(plan.schema.clone(), arrays).map_err(batch_error)?;
    let mut bad = decoded.bad;
    if !issues.is_empty() {
        let mut spans = None;
        let mut keep = vec![true; batch.num_rows()];
        // Issues come from `plan.transform` over this batch: `row` is below its
        // row count (the length of `keep` and `kept`), `column` below the plan's.
        for issue in &issues {
            keep[issue.row] = false;
            let record = decoded.kept.as_ref().map_or(issue.row, |k| k[issue.row]);
            bad.push(BadRecord {
                line: unit.line_of(fp, &mut spans, record),
                column: plan.columns[issue.column].name.clone(),
                rule: issue.rule.to_string(),
            });
        }
        batch = arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
            .map_err(batch_error)?;
        bad.sort_by_key(|b| b.line);
    }
    Ok(ChunkResult {
        file: unit.file(),
        fatal: None,
        batch,
        stats,
        bad,
        rows_read: unit.records() as u64,
    })
}
