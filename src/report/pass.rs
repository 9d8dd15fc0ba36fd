//! The report's one pass over a release: what `check` checks and what the
//! charts count, reading each Parquet file once, only the columns needed,
//! row groups decoded in parallel (rayon).
//!
//! - Footer checks (Arrow schema, metadata, schema hash, token spec, demo
//!   key): from the footer, as `check` does ([`footer_findings`]).
//! - Over **every row**: token shape of tokenize columns, allow-lists of
//!   derived columns, rows per month, and the `[privacy]` figures. The
//!   risk meter numbers classes and entities in order of first appearance,
//!   so it is fed the row groups in file order on its own thread while the
//!   next ones decode ([`run_ordered`], at most threads + 1 decoded row
//!   groups at once): k, suppressed rows, l and unicity equal `check`'s to
//!   the digit.
//! - Residual personal data in the other columns (kept, masked, banded,
//!   truncated...): the detectors of `check` on a **sample**, the first
//!   rows of every row group in proportion to its size, [`PII_SAMPLE_ROWS`]
//!   in all (every row of a smaller release). The detectors cost about a
//!   microsecond per value (phone parsing), too slow for every row of a
//!   large release in a report; the page says how many rows it scanned and
//!   that `txanon check` scans them all.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::ArrayRef;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::figures::{count_months, month_column, Months};
use super::{Output, NULL_PARTITION};
use crate::check::output::{
    derived_columns, derived_findings, footer_findings, merge_bad_values, output_detector,
    pii_findings, privacy_columns_missing, recomputed_findings, released_columns, tally_bad_values,
    token_shape_findings, BadValues, TokenShape,
};
use crate::check::report::Finding;
use crate::check::{ColumnScan, ScannedColumn};
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::io::input::to_strings;
use crate::pipeline::ordered::{run_ordered, Task};
use crate::risk::{entity_digests, EntityDigest, PrivacyReport, RiskMeter};
use crate::schema::{Action, Schema};

/// Rows of a release the residual-PII detectors examine (spread over its row groups).
pub const PII_SAMPLE_ROWS: u64 = 100_000;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// Distinct values of a derived column whose allow-list verdict a row
/// group remembers (the rest are judged each time they occur).
const MAX_VERDICTS: usize = 4096;

/// What the pass gives.
#[derive(Default)]
pub(super) struct DataPass {
    /// The risk figures over the whole release (every file).
    pub(super) report: Option<PrivacyReport>,
    /// Class sizes in the unit k counts (for the histogram).
    pub(super) class_sizes: Vec<u64>,
    /// The column the month chart counts, its rows per month and its nulls.
    pub(super) months: Option<(String, Months, u64)>,
    /// `check`'s findings (lint, then per file), when the schema is given.
    pub(super) findings: Option<Vec<Finding>>,
    /// How many rows the residual-PII detectors examined, of how many.
    pub(super) pii_rows: (u64, u64),
}

/// The columns of one file the pass reads, by role.
struct Plan<'a> {
    /// `[privacy]` columns in the meter's order.
    risk: Vec<String>,
    /// Whether the last of them is an entity column.
    entity: bool,
    month: Option<String>,
    tokens: Vec<String>,
    derived: Vec<String>,
    /// Columns the detectors scan on the sample.
    pii: Vec<String>,
    shape: Option<TokenShape>,
    detector: Option<&'a Detector>,
    derived_rules: HashMap<&'a str, &'a crate::schema::Derived>,
}

/// What one row group gives.
#[derive(Default)]
struct Group {
    /// Per batch: the `[privacy]` columns, and the entity digests of its rows.
    risk: Vec<(Vec<ArrayRef>, Option<Vec<EntityDigest>>)>,
    months: Months,
    month_nulls: u64,
    tokens: BadValues,
    derived: BadValues,
    pii: BTreeMap<String, ColumnScan>,
    pii_rows: u64,
}

fn read_error(path: &Path, e: impl ToString) -> Error {
    Error::ParquetRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Run the pass over every file of `out`.
pub(super) fn data_pass(out: &Output, schema: Option<&Schema>) -> Result<DataPass> {
    let privacy = schema.and_then(|s| s.privacy.as_ref());
    let mut meter = privacy.map(|p| RiskMeter::new(p, None));
    let risk: Vec<String> = meter.as_ref().map(RiskMeter::columns).unwrap_or_default();
    let month = if out.partition.is_some() {
        None
    } else {
        month_column(out, schema)
    };
    let detector = schema.map(output_detector);
    let total_rows: u64 = out.rows.iter().sum();
    let mut findings = schema.map(crate::check::lint);
    let mut months = Months::new();
    let mut month_nulls = 0u64;
    let mut pii_rows = 0u64;
    let mut finished: Option<PrivacyReport> = None;
    let one_file = out.files.len() == 1;
    let threads = rayon::current_num_threads().max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("txanon-report-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {threads} worker threads: {e}")))?;
    let inflight = threads + 1;
    for (fi, path) in out.files.iter().enumerate() {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
            .map_err(|e| read_error(path, e))?;
        let names: Vec<String> = meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let has = |n: &str| names.iter().any(|c| c == n);
        let plan = match schema {
            Some(s) => {
                let released = released_columns(s);
                let derived_rules = derived_columns(s);
                let tokens: Vec<String> = names
                    .iter()
                    .filter(|n| {
                        released
                            .get(n.as_str())
                            .is_some_and(|c| matches!(c.action, Action::Tokenize { .. }))
                    })
                    .cloned()
                    .collect();
                let derived: Vec<String> = names
                    .iter()
                    .filter(|n| derived_rules.contains_key(n.as_str()))
                    .cloned()
                    .collect();
                let pii = names
                    .iter()
                    .filter(|n| !tokens.contains(n) && !derived.contains(n))
                    .cloned()
                    .collect();
                Plan {
                    risk: risk.clone(),
                    entity: privacy.is_some_and(|p| p.entity.column().is_some()),
                    month: month.clone(),
                    tokens,
                    derived,
                    pii,
                    shape: Some(TokenShape::of(s)),
                    detector: detector.as_ref(),
                    derived_rules,
                }
            }
            None => Plan {
                risk: Vec::new(),
                entity: false,
                month: month.clone(),
                tokens: Vec::new(),
                derived: Vec::new(),
                pii: Vec::new(),
                shape: None,
                detector: None,
                derived_rules: HashMap::new(),
            },
        };
        // check measures k per file from the file's own columns; the
        // release's figures come from every file (partition values added).
        let missing: Vec<String> = plan.risk.iter().filter(|w| !has(w)).cloned().collect();
        let mut file_meter = match privacy {
            Some(p) if !one_file && missing.is_empty() => Some(RiskMeter::new(p, None)),
            _ => None,
        };
        let groups = meta.metadata().num_row_groups();
        let mut first_row = Vec::with_capacity(groups);
        let mut at = 0u64;
        for rg in meta.metadata().row_groups() {
            first_row.push(at);
            at += u64::try_from(rg.num_rows()).unwrap_or(0);
        }
        let sample_of = |rg: usize| {
            let n = u64::try_from(meta.metadata().row_group(rg).num_rows()).unwrap_or(0);
            sample_rows(n, total_rows, PII_SAMPLE_ROWS)
        };
        let decode = |rg: usize| -> Result<Group> {
            read_group(
                path,
                &meta,
                &plan,
                rg,
                first_row[rg],
                sample_of(rg),
                out,
                fi,
            )
        };
        let mut tokens = BadValues::new();
        let mut derived = BadValues::new();
        let mut pii: BTreeMap<String, ColumnScan> = BTreeMap::new();
        let mut observe = |g: Group| -> Result<()> {
            for (arrays, digests) in &g.risk {
                if let Some(m) = meter.as_mut() {
                    m.observe_digested(arrays, digests.as_deref())?;
                }
                if let Some(m) = file_meter.as_mut() {
                    m.observe_digested(arrays, digests.as_deref())?;
                }
            }
            for (k, n) in g.months {
                *months.entry(k).or_insert(0) += n;
            }
            month_nulls += g.month_nulls;
            merge_bad_values(&mut tokens, g.tokens);
            merge_bad_values(&mut derived, g.derived);
            for (name, scan) in g.pii {
                pii.entry(name).or_default().merge(scan);
            }
            pii_rows += g.pii_rows;
            Ok(())
        };
        // Row groups are decoded on the pool while the meter takes them in
        // file order on its own thread; at most `inflight` decoded groups
        // exist at once (being decoded, waiting for an earlier one, or
        // being fed), so memory does not grow with the file.
        let mut next_group = 0..groups;
        run_ordered(
            &pool,
            inflight,
            || Ok(next_group.next().map(Task::Run)),
            decode,
            &mut observe,
        )?;

        if let (Some(s), Some(found)) = (schema, findings.as_mut()) {
            let shown = path.display().to_string();
            let (header, kv) = footer_findings(s, path, meta.metadata(), meta.schema(), None);
            found.extend(header);
            let released = released_columns(s);
            let is_output = |n: &str| released.contains_key(n);
            let printable = crate::detect::printable_names(&names, Some(&is_output));
            let scans: Vec<ScannedColumn> = names
                .iter()
                .zip(printable)
                .enumerate()
                .filter_map(|(position, (name, printable))| {
                    pii.remove(name).map(|scan| ScannedColumn {
                        position,
                        name: name.clone(),
                        printable,
                        scan,
                    })
                })
                .collect();
            found.extend(pii_findings(s, &scans, &shown));
            if let Some(shape) = plan.shape {
                found.extend(token_shape_findings(shape, tokens, &shown));
            }
            if !plan.derived_rules.is_empty() {
                found.extend(derived_findings(&plan.derived_rules, derived, &shown));
            }
            if privacy.is_some() {
                if !missing.is_empty() {
                    found.push(privacy_columns_missing(&shown, &missing));
                } else if let Some(m) = file_meter.as_mut() {
                    found.extend(recomputed_findings(&m.finish()?, &shown, Some(&kv))?);
                } else if let Some(m) = meter.as_mut() {
                    // One file: its figures are the release's (unicity is
                    // computed once for both).
                    let figures = m.finish()?;
                    found.extend(recomputed_findings(&figures, &shown, Some(&kv))?);
                    finished = Some(figures);
                }
            }
        }
    }
    let report = match (finished, meter.as_mut()) {
        (Some(figures), _) => Some(figures),
        (None, Some(m)) => Some(m.finish()?),
        (None, None) => None,
    };
    Ok(DataPass {
        report,
        class_sizes: meter
            .as_mut()
            .map(RiskMeter::class_sizes)
            .transpose()?
            .unwrap_or_default(),
        months: month.map(|m| (m, months, month_nulls)),
        findings,
        pii_rows: (pii_rows, total_rows),
    })
}

/// The first rows of a row group of `group` rows that the sample takes:
/// its share of `budget` (rounded up), every row when the release holds
/// no more than `budget` rows.
fn sample_rows(group: u64, total: u64, budget: u64) -> usize {
    let n = if total <= budget {
        group
    } else {
        (u128::from(group) * u128::from(budget)).div_ceil(u128::from(total)) as u64
    };
    usize::try_from(n.min(group)).unwrap_or(usize::MAX)
}

/// Decode row group `rg` of `path` (its first row is row `first` of the
/// file, 0-based) and do the order-free work on it; the risk columns are
/// returned for the meter.
#[allow(clippy::too_many_arguments)]
fn read_group(
    path: &Path,
    meta: &ArrowReaderMetadata,
    plan: &Plan<'_>,
    rg: usize,
    first: u64,
    sample: usize,
    out: &Output,
    file_index: usize,
) -> Result<Group> {
    let mut g = Group::default();
    let names: Vec<&str> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let roots = |wanted: &dyn Fn(&str) -> bool| -> Vec<usize> {
        names
            .iter()
            .enumerate()
            .filter(|(_, n)| wanted(n))
            .map(|(i, _)| i)
            .collect()
    };
    let full = roots(&|n| {
        plan.risk.iter().any(|c| c == n)
            || plan.month.as_deref() == Some(n)
            || plan.tokens.iter().any(|c| c == n)
            || plan.derived.iter().any(|c| c == n)
    });
    let row_of = |offset: u64| move |i: usize| first + offset + i as u64 + 1;
    if !full.is_empty() || !plan.risk.is_empty() {
        let reader = group_reader(path, meta, rg, full, None)?;
        let mut offset = 0u64;
        let mut verdicts: Vec<HashMap<Box<str>, bool, foldhash::fast::FixedState>> =
            vec![HashMap::default(); plan.derived.len()];
        for batch in reader {
            let batch = batch.map_err(|e| read_error(path, e))?;
            if !plan.risk.is_empty() {
                let arrays = plan
                    .risk
                    .iter()
                    .map(|w| column_or_partition(&batch, w, out, file_index))
                    .collect::<Result<Vec<ArrayRef>>>()?;
                // The entity's SHA-256 here, on the pool, not in the meter's turn.
                let digests = match (plan.entity, arrays.last()) {
                    (true, Some(e)) => Some(entity_digests(e)?),
                    _ => None,
                };
                g.risk.push((arrays, digests));
            }
            if let Some(col) = plan.month.as_deref().and_then(|m| batch.column_by_name(m)) {
                g.month_nulls += count_months(col, &mut g.months);
            }
            for name in &plan.tokens {
                let (Some(shape), Some(values)) =
                    (plan.shape, batch.column_by_name(name).and_then(to_strings))
                else {
                    continue;
                };
                tally_bad_values(&mut g.tokens, name, &values, row_of(offset), |v| {
                    shape.is_bad(v)
                });
            }
            for (name, memo) in plan.derived.iter().zip(&mut verdicts) {
                let (Some(d), Some(values)) = (
                    plan.derived_rules.get(name.as_str()),
                    batch.column_by_name(name).and_then(to_strings),
                ) else {
                    continue;
                };
                // A derived column holds few distinct values: each is
                // judged once per row group (the same verdict every time).
                tally_bad_values(&mut g.derived, name, &values, row_of(offset), |v| {
                    if let Some(&ok) = memo.get(v) {
                        return !ok;
                    }
                    let ok = crate::transform::rules::derived_value_allowed(d, v);
                    if memo.len() < MAX_VERDICTS {
                        memo.insert(v.into(), ok);
                    }
                    !ok
                });
            }
            offset += batch.num_rows() as u64;
        }
    }
    let pii = roots(&|n| plan.pii.iter().any(|c| c == n));
    if let (Some(detector), false, true) = (plan.detector, pii.is_empty(), sample > 0) {
        let reader = group_reader(path, meta, rg, pii, Some(sample))?;
        let mut offset = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| read_error(path, e))?;
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                let Some(values) = to_strings(col) else {
                    continue;
                };
                g.pii.entry(field.name().clone()).or_default().add(
                    detector,
                    &values,
                    row_of(offset),
                );
            }
            offset += batch.num_rows() as u64;
        }
        g.pii_rows = offset;
    }
    Ok(g)
}

/// A reader of the columns `roots` of row group `rg` (its first `limit` rows).
fn group_reader(
    path: &Path,
    meta: &ArrowReaderMetadata,
    rg: usize,
    roots: Vec<usize>,
    limit: Option<usize>,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    // Each reader opens the file: readers on other threads must not share a file position.
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
        .with_row_groups(vec![rg])
        .with_projection(ProjectionMask::roots(meta.parquet_schema(), roots))
        .with_batch_size(BATCH_ROWS);
    if let Some(n) = limit {
        builder = builder.with_limit(n);
    }
    builder.build().map_err(|e| read_error(path, e))
}

/// A column of the batch, or the file's partition value repeated.
fn column_or_partition(
    batch: &arrow_array::RecordBatch,
    name: &str,
    out: &Output,
    file: usize,
) -> Result<ArrayRef> {
    if let Some(a) = batch.column_by_name(name) {
        return Ok(a.clone());
    }
    match &out.partition {
        Some((col, values)) if col == name => {
            let v = values.get(file).map(String::as_str);
            let v = v.filter(|v| *v != NULL_PARTITION);
            Ok(std::sync::Arc::new(arrow_array::StringArray::from(vec![
                v;
                batch.num_rows()
            ])))
        }
        _ => Err(Error::Usage(format!(
            "report: output column {name:?} (a [privacy] column) is missing from the release"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::sample_rows;

    #[test]
    fn the_sample_spreads_over_row_groups_in_proportion() {
        // 5,000,000 rows in groups of 131,072 (the last one smaller).
        let total = 5_000_000u64;
        let groups: Vec<u64> = (0..total.div_ceil(131_072))
            .map(|i| (total - i * 131_072).min(131_072))
            .collect();
        let taken: Vec<usize> = groups
            .iter()
            .map(|&g| sample_rows(g, total, 100_000))
            .collect();
        let sum: usize = taken.iter().sum();
        assert!((100_000..100_000 + groups.len()).contains(&sum), "{sum}");
        assert_eq!(taken[0], 2622);
        assert!(taken.iter().all(|&t| t > 0));
        // A release within the budget is read whole.
        assert_eq!(sample_rows(700, 90_000, 100_000), 700);
        assert_eq!(sample_rows(0, 5_000_000, 100_000), 0);
    }
}
