//! Differentially private aggregates (`txanon aggregate`): counts and sums
//! per group of the transformed output, with per-entity contribution bounds
//! and noise from the OpenDP library, so that the aggregate file can leave
//! the company with a formal guarantee the row-level release does not have.
//!
//! ```text
//! inputs ──pipeline::observe (same reader and transform as anonymize)──▶ Accumulator
//!   (entity digest, group number, clamped values: spilled by entity)
//!   ──bound::PartitionedBounder (reservoirs, one partition at a time)──▶ Bounded (true totals)
//!   ──mechanism (OpenDP: partition selection, discrete Laplace)──▶ Release ──▶ Parquet/CSV
//! ```
//!
//! Entry points: [`spec::AggregateSpec::load`], [`Accumulator`] (a
//! [`crate::pipeline::BatchObserver`]), [`Accumulator::finish`],
//! [`Bounded::totals`] (the true, pre-noise figures: library only, the
//! command never prints them), [`release`], [`write`], and the budget
//! [`ledger`].
//!
//! Memory holds the groups (their keys and numbers) and one spill
//! partition's entities at a time, not every entity: see [`bound`].
//!
//! The guarantee: for the declared bounds (`max_groups_per_entity`,
//! `max_rows_per_group`, clamping bounds) the aggregate file is
//! (epsilon, delta)-differentially private with respect to adding or removing
//! all rows of one entity (one token of the entity column). It says nothing
//! about the row-level release made from the same data.

pub mod bound;
pub mod ledger;
pub mod manifest;
pub mod mechanism;
pub mod spec;

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use serde::Serialize;

use crate::error::{Error, Result};
use bound::{GroupTotals, PartitionedBounder};
use mechanism::Sensitivity;
use spec::{AggregateSpec, Clamp, Measure, MeasureKind};

/// Hash map of this module (foldhash, randomly seeded).
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// Hash set of this module.
pub type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use Map as HashMap;

/// Streams output batches into per-group totals, bounded per entity by
/// [`Accumulator::finish`].
pub struct Accumulator {
    groups: Groups,
    /// Per group-by column, its public keys (for membership checks).
    public: Vec<Option<Set<String>>>,
    bounder: PartitionedBounder,
}

/// The groups seen, numbered in stream order, and the row counts.
struct Groups {
    spec: AggregateSpec,
    /// Summed columns (each once), in the order of `GroupTotals::sums`.
    summed: Vec<Clamp>,
    numbers: HashMap<Vec<Box<str>>, u32>,
    keys: Vec<Vec<Box<str>>>,
    counts: RowCounts,
}

/// What happened to the rows read (counts of rows, not of entities: for
/// the operator's summary, never released).
#[derive(Debug, Clone, Copy, Default)]
pub struct RowCounts {
    /// Rows read.
    pub seen: u64,
    /// Rows without an entity token.
    pub without_entity: u64,
    /// Rows with a null group key or one outside a public key list.
    pub outside_keys: u64,
}

/// The bounded true totals of an [`Accumulator`], ready for [`release`].
pub struct Bounded {
    groups: Groups,
    totals: HashMap<u32, GroupTotals>,
}

impl Accumulator {
    /// An empty accumulator for `spec`, spilling per-entity records to
    /// unnamed files in `spill_dir` (see [`crate::io::spill::spill_dir`]).
    pub fn new(spec: &AggregateSpec, spill_dir: &Path) -> Accumulator {
        Accumulator::with_partitions(spec, spill_dir, bound::PARTITIONS)
    }

    /// As [`Accumulator::new`], with `partitions` spill files.
    pub fn with_partitions(
        spec: &AggregateSpec,
        spill_dir: &Path,
        partitions: usize,
    ) -> Accumulator {
        let mut summed: Vec<Clamp> = Vec::new();
        for m in &spec.measures {
            if let MeasureKind::Sum(c) | MeasureKind::Mean(c) = &m.kind {
                if !summed.contains(c) {
                    summed.push(c.clone());
                }
            }
        }
        let width = summed.len();
        Accumulator {
            public: spec
                .group_by
                .iter()
                .map(|g| g.public.as_ref().map(|p| p.iter().cloned().collect()))
                .collect(),
            bounder: PartitionedBounder::new(
                spill_dir,
                partitions,
                spec.max_groups_per_entity,
                spec.max_rows_per_group,
                width,
            ),
            groups: Groups {
                spec: spec.clone(),
                summed,
                numbers: HashMap::default(),
                keys: Vec::new(),
                counts: RowCounts::default(),
            },
        }
    }

    /// What happened to the rows read so far.
    pub fn counts(&self) -> RowCounts {
        self.groups.counts
    }

    /// Bound each entity's contribution (one spill partition at a time) and
    /// total the kept rows per group.
    pub fn finish(self) -> Result<Bounded> {
        Ok(Bounded {
            totals: self.bounder.totals()?,
            groups: self.groups,
        })
    }
}

impl Bounded {
    /// The true totals per group key after contribution bounding, before any
    /// noise. For tests and library use; the command never shows them.
    pub fn totals(&self) -> Vec<(Vec<String>, GroupTotals)> {
        let mut out: Vec<_> = (self.totals.iter())
            .map(|(g, t)| (self.groups.key_strings(*g), t.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// What happened to the rows read.
    pub fn counts(&self) -> RowCounts {
        self.groups.counts
    }
}

impl Groups {
    fn key_strings(&self, group: u32) -> Vec<String> {
        self.keys[group as usize]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Internal(format!("aggregate: output column {name:?} is missing")))
}

/// A column's values in minor units (`scale` decimal places), as i64.
fn minor_units(array: &ArrayRef, clamp: &Clamp) -> Result<Vec<Option<i64>>> {
    let lo = i128::from(clamp.lower);
    let hi = i128::from(clamp.upper);
    match array.data_type() {
        DataType::Decimal128(_, s) if *s == clamp.scale => {
            let a = array
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| Error::Internal("decimal column of another type".into()))?;
            Ok(a.iter()
                .map(|v| v.map(|v| v.clamp(lo, hi) as i64))
                .collect())
        }
        DataType::Int64 | DataType::Int32 => {
            let a = arrow_cast::cast(array, &DataType::Int64)
                .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| Error::Internal("int column of another type".into()))?;
            Ok(a.iter()
                .map(|v| v.map(|v| i128::from(v).clamp(lo, hi) as i64))
                .collect())
        }
        DataType::Decimal128(_, s) => Err(Error::Internal(format!(
            "aggregate: column {:?} has {s} decimal place(s) in the output, but the spec's \
             bounds were read for {} (the schema changed after the spec was loaded?)",
            clamp.column, clamp.scale
        ))),
        other => Err(Error::Internal(format!(
            "aggregate: column {:?} is {other} in the output; a sum or mean needs an integer or \
             decimal column",
            clamp.column
        ))),
    }
}

impl crate::pipeline::BatchObserver for Accumulator {
    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        let g = &mut self.groups;
        let entity = column(batch, &g.spec.entity)?;
        let entity = entity
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Internal("aggregate: the entity column is not text".into()))?;
        let options = arrow_cast::display::FormatOptions::default();
        let dims: Vec<ArrayRef> = (g.spec.group_by.iter())
            .map(|d| column(batch, &d.column).cloned())
            .collect::<Result<_>>()?;
        let shown = dims
            .iter()
            .map(|a| arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
        let values: Vec<Vec<Option<i64>>> = (g.summed.iter())
            .map(|c| column(batch, &c.column).and_then(|a| minor_units(a, c)))
            .collect::<Result<_>>()?;
        let mut key: Vec<Box<str>> = Vec::with_capacity(dims.len());
        let mut row_values = vec![0i64; g.summed.len()];
        'rows: for row in 0..batch.num_rows() {
            g.counts.seen += 1;
            let Some(token) = entity.is_valid(row).then(|| entity.value(row)) else {
                g.counts.without_entity += 1;
                continue;
            };
            key.clear();
            for ((d, f), public) in dims.iter().zip(&shown).zip(&self.public) {
                if d.is_null(row) {
                    g.counts.outside_keys += 1;
                    continue 'rows;
                }
                let v = f.value(row).to_string();
                if public.as_ref().is_some_and(|p| !p.contains(&v)) {
                    g.counts.outside_keys += 1;
                    continue 'rows;
                }
                key.push(v.into_boxed_str());
            }
            for (slot, col) in row_values.iter_mut().zip(&values) {
                // A null adds nothing to a sum and is left out of a mean's
                // denominator (the row still counts in `count`).
                *slot = col[row].unwrap_or(bound::NULL);
            }
            let next = g.keys.len() as u32;
            let group = match g.numbers.get(&key) {
                Some(n) => *n,
                None => {
                    g.numbers.insert(key.clone(), next);
                    g.keys.push(key.clone());
                    next
                }
            };
            // The entity is kept as its digest, never as its token.
            let digest = crate::risk::EntityDigest::of(token);
            self.bounder.add(digest.bytes(), group, &row_values)?;
        }
        Ok(())
    }
}

/// What one measure spent and how it was noised (footer metadata, report).
#[derive(Debug, Clone, Serialize)]
pub struct MeasureReport {
    /// Output column.
    pub output: String,
    /// `count`, `count_distinct`, `sum` or `mean`.
    pub kind: &'static str,
    /// Summed column, bounds (in its units) and unit, for sums and means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Clamping bounds, in the column's units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<(String, String)>,
    /// Epsilon this measure spent.
    pub epsilon: f64,
    /// Mechanisms, each with its scale and sensitivity.
    pub mechanisms: Vec<MechanismReport>,
}

/// One OpenDP mechanism of a release.
#[derive(Debug, Clone, Serialize)]
pub struct MechanismReport {
    /// What it releases (`rows`, `entities`, `sum of amount`).
    pub releases: String,
    /// The OpenDP constructor.
    pub opendp: &'static str,
    /// Noise scale (discrete Laplace; standard deviation about scale × √2),
    /// in `unit`s.
    pub scale: f64,
    /// What one unit of the released values, the scale and the sensitivity
    /// is (`1 entity`, `1 row`, `0.01 amount`).
    pub unit: String,
    /// How one entity can change the released values.
    pub sensitivity: Sensitivity,
    /// Epsilon from OpenDP's privacy map.
    pub epsilon: f64,
    /// Delta from OpenDP's privacy map (partition selection only).
    pub delta: f64,
    /// Smallest noisy value released (partition selection only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
}

/// The privacy figures of a release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// `differentially private aggregate`.
    pub label: &'static str,
    /// `[release].name`.
    pub name: String,
    /// The spec file's SHA-256.
    pub spec_sha256: String,
    /// What one unit of privacy is: all rows of one value of this column.
    pub entity: String,
    /// Group-by columns.
    pub group_by: Vec<String>,
    /// Whether the group keys were public lists (no partition selection).
    pub public_keys: bool,
    /// Contribution bounds.
    pub max_groups_per_entity: u32,
    /// Contribution bounds.
    pub max_rows_per_group: u32,
    /// Total epsilon spent (the sum over mechanisms, from OpenDP's maps).
    pub epsilon: f64,
    /// Total delta spent.
    pub delta: f64,
    /// Partition selection, when keys are not public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<MechanismReport>,
    /// Per measure.
    pub measures: Vec<MeasureReport>,
    /// Groups released.
    pub groups: usize,
    /// Made with the published demo key: anyone can rewrite its budget
    /// ledger (the MAC key is public), so the budget limited nothing.
    pub demo_key: bool,
}

/// A noisy release: group keys and one column per measure.
pub struct Release {
    /// The report.
    pub report: ReleaseReport,
    /// The batch to write.
    pub batch: RecordBatch,
}

/// The parts the release epsilon is split into: one per mechanism (a mean
/// is two), plus one for partition selection unless `count_distinct` is
/// released by it.
fn parts(spec: &AggregateSpec) -> u32 {
    let mut n = 0u32;
    let mut distinct = false;
    for m in &spec.measures {
        n += match m.kind {
            MeasureKind::Mean(_) => 2,
            MeasureKind::CountDistinct => {
                distinct = true;
                1
            }
            _ => 1,
        };
    }
    n + u32::from(!spec.all_public() && !distinct)
}

/// The epsilon and delta a release of `spec` will spend (before reading data).
pub fn planned_spend(spec: &AggregateSpec) -> (f64, f64) {
    (spec.epsilon, spec.delta.unwrap_or(0.0))
}

/// Noise the bounded totals with OpenDP and build the release:
/// choose the released groups ([`select_groups`]), write their keys
/// ([`key_columns`]), noise each measure ([`noise_measure`]) and check that
/// the mechanisms spent no more than declared ([`check_spend`]).
pub fn release(bounded: &Bounded) -> Result<Release> {
    let acc = &bounded.groups;
    let spec = &acc.spec;
    let noiser = Noiser {
        share: spec.epsilon / f64::from(parts(spec)),
        groups: spec.max_groups_per_entity,
        rows: i64::from(spec.max_rows_per_group),
    };
    let totals = &bounded.totals;
    let (groups, selected) = select_groups(acc, totals, &noiser)?;
    let ids: Vec<Option<u32>> = groups
        .iter()
        .map(|k| {
            let boxed: Vec<Box<str>> = k.iter().map(|s| s.clone().into_boxed_str()).collect();
            acc.numbers.get(&boxed).copied()
        })
        .collect();
    let empty = GroupTotals::empty(acc.summed.len());
    let truth: Vec<&GroupTotals> = ids
        .iter()
        .map(|id| id.and_then(|i| totals.get(&i)).unwrap_or(&empty))
        .collect();
    let (mut fields, mut arrays) = key_columns(spec, &groups)?;
    let mut measures = Vec::new();
    for m in &spec.measures {
        let (report, array) = noise_measure(acc, m, &noiser, &ids, &truth, selected.as_ref())?;
        fields.push(Field::new(&m.output, array.data_type().clone(), false));
        arrays.push(array);
        measures.push(report);
    }
    let selection = selected.map(|s| s.report);
    let (epsilon, delta) = check_spend(spec, selection.as_ref(), &measures)?;
    let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)
        .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
    Ok(Release {
        report: ReleaseReport {
            label: "differentially private aggregate",
            name: spec.name.clone(),
            spec_sha256: spec.sha256.clone(),
            entity: spec.entity.clone(),
            group_by: spec.group_by.iter().map(|g| g.column.clone()).collect(),
            public_keys: spec.all_public(),
            max_groups_per_entity: spec.max_groups_per_entity,
            max_rows_per_group: spec.max_rows_per_group,
            epsilon,
            delta,
            selection,
            measures,
            groups: groups.len(),
            demo_key: false,
        },
        batch,
    })
}

/// The discrete Laplace mechanism at one epsilon share, for the release's
/// contribution bounds.
struct Noiser {
    /// Epsilon of each mechanism.
    share: f64,
    /// `max_groups_per_entity`.
    groups: u32,
    /// `max_rows_per_group`.
    rows: i64,
}

impl Noiser {
    /// Noise `values` (one per released group) for sensitivity `sens`.
    fn noisy(
        &self,
        values: Vec<i64>,
        sens: Sensitivity,
        what: String,
        unit: String,
    ) -> Result<(Vec<i64>, MechanismReport)> {
        let scale = mechanism::laplace_scale(self.share, &sens)?;
        let eps = mechanism::laplace_epsilon(scale, &sens)?;
        let out = mechanism::laplace_vector(scale)?
            .invoke(&values)
            .map_err(|e| Error::Internal(format!("Laplace noise failed: {e:?}")))?;
        let report = MechanismReport {
            releases: what,
            opendp: "make_laplace",
            scale,
            unit,
            sensitivity: sens,
            epsilon: eps,
            delta: 0.0,
            threshold: None,
        };
        Ok((out, report))
    }
}

/// Groups chosen by partition selection, and their noisy entity counts.
struct Selected {
    report: MechanismReport,
    kept: HashMap<u32, i64>,
}

/// The released groups, in key order: every combination of the public
/// lists, or the groups partition selection keeps.
fn select_groups(
    acc: &Groups,
    totals: &HashMap<u32, GroupTotals>,
    noiser: &Noiser,
) -> Result<(Vec<Vec<String>>, Option<Selected>)> {
    let spec = &acc.spec;
    if spec.all_public() {
        return Ok((cross_product(spec), None));
    }
    let delta = spec
        .delta
        .ok_or_else(|| Error::Internal("selection without delta".into()))?;
    let sens = Sensitivity::new(noiser.groups, 1)?;
    let scale = mechanism::laplace_scale(noiser.share, &sens)?;
    let threshold = mechanism::selection_threshold(scale, delta, &sens)?;
    let m = mechanism::laplace_threshold(scale, threshold)?;
    let (eps, del) = mechanism::threshold_spend(scale, threshold, &sens)?;
    let input: std::collections::HashMap<u32, i64> =
        totals.iter().map(|(k, t)| (*k, t.entities)).collect();
    let kept = m
        .invoke(&input)
        .map_err(|e| Error::Internal(format!("partition selection failed: {e:?}")))?;
    let report = MechanismReport {
        releases: "entities (partition selection)".into(),
        opendp: "make_laplace_threshold",
        scale,
        unit: "1 entity".into(),
        sensitivity: sens,
        epsilon: eps,
        delta: del,
        threshold: Some(threshold),
    };
    let mut ids: Vec<u32> = kept.keys().copied().collect();
    ids.sort_by(|a, b| acc.keys[*a as usize].cmp(&acc.keys[*b as usize]));
    let groups = ids.into_iter().map(|id| acc.key_strings(id)).collect();
    let kept = kept.into_iter().collect();
    Ok((groups, Some(Selected { report, kept })))
}

/// The group key columns, typed as the output columns they come from.
fn key_columns(
    spec: &AggregateSpec,
    groups: &[Vec<String>],
) -> Result<(Vec<Field>, Vec<ArrayRef>)> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, gb) in spec.group_by.iter().enumerate() {
        let text = StringArray::from_iter_values(groups.iter().map(|k| k[i].as_str()));
        let typed = arrow_cast::cast(&text, &gb.data_type)
            .map_err(|e| Error::Internal(format!("aggregate: key column {:?}: {e}", gb.column)))?;
        fields.push(Field::new(&gb.column, gb.data_type.clone(), false));
        arrays.push(typed);
    }
    Ok((fields, arrays))
}

/// One measure's noisy column and its report. `truth[i]` is the bounded
/// total of released group `i` (`ids[i]`: its id, if it has rows).
fn noise_measure(
    acc: &Groups,
    m: &Measure,
    noiser: &Noiser,
    ids: &[Option<u32>],
    truth: &[&GroupTotals],
    selected: Option<&Selected>,
) -> Result<(MeasureReport, ArrayRef)> {
    let (g, r) = (noiser.groups, noiser.rows);
    let report = |kind, clamp: Option<&Clamp>, mechanisms: Vec<MechanismReport>| MeasureReport {
        output: m.output.clone(),
        kind,
        column: clamp.map(|c| c.column.clone()),
        bounds: clamp.map(|c| {
            (
                decimal_text(c.lower, c.scale),
                decimal_text(c.upper, c.scale),
            )
        }),
        epsilon: mechanisms.iter().map(|x| x.epsilon).sum(),
        mechanisms,
    };
    match &m.kind {
        MeasureKind::Count => {
            let (v, rep) = noiser.noisy(
                truth.iter().map(|t| t.rows).collect(),
                Sensitivity::new(g, r)?,
                "rows".into(),
                "1 row".into(),
            )?;
            Ok((
                report("count", None, vec![rep]),
                Arc::new(Int64Array::from(v)),
            ))
        }
        MeasureKind::CountDistinct => {
            let (v, rep) = match selected {
                // Released by partition selection itself (its share).
                Some(sel) => {
                    let v = ids
                        .iter()
                        .map(|i| i.and_then(|i| sel.kept.get(&i).copied()).unwrap_or(0))
                        .collect();
                    let mut rep = sel.report.clone();
                    rep.releases = "entities".into();
                    (v, rep)
                }
                None => noiser.noisy(
                    truth.iter().map(|t| t.entities).collect(),
                    Sensitivity::new(g, 1)?,
                    "entities".into(),
                    "1 entity".into(),
                )?,
            };
            Ok((
                report("count_distinct", None, vec![rep]),
                Arc::new(Int64Array::from(v)),
            ))
        }
        MeasureKind::Sum(c) | MeasureKind::Mean(c) => {
            let at = acc.summed.iter().position(|s| s == c).ok_or_else(|| {
                Error::Internal(format!("no running sum kept for column {:?}", c.column))
            })?;
            let per_group = r
                .checked_mul(c.magnitude())
                .ok_or_else(|| Error::Usage("the clamping bounds overflow 64 bits".into()))?;
            let (sums, rep) = noiser.noisy(
                truth.iter().map(|t| t.sums[at]).collect(),
                Sensitivity::new(g, per_group)?,
                format!("sum of {}", c.column),
                format!("{} {}", decimal_text(1, c.scale), c.column),
            )?;
            if matches!(m.kind, MeasureKind::Sum(_)) {
                let a = Decimal128Array::from_iter_values(sums.into_iter().map(i128::from))
                    .with_precision_and_scale(38, c.scale)
                    .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
                return Ok((report("sum", Some(c), vec![rep]), Arc::new(a)));
            }
            // The mean of the rows with a value (as SQL's AVG): rows whose
            // value is null are not in its denominator.
            let (rows, rep2) = noiser.noisy(
                truth.iter().map(|t| t.present[at]).collect(),
                Sensitivity::new(g, r)?,
                format!("rows with a {} (for the mean)", c.column),
                "1 row".into(),
            )?;
            let unit = 10f64.powi(i32::from(c.scale));
            let (lo, hi) = (c.lower as f64 / unit, c.upper as f64 / unit);
            // Post-processing: a mean outside the bounds is clamped back.
            let means: Vec<f64> = sums
                .iter()
                .zip(&rows)
                .map(|(s, n)| (*s as f64 / unit / (*n).max(1) as f64).clamp(lo, hi))
                .collect();
            Ok((
                report("mean", Some(c), vec![rep, rep2]),
                Arc::new(Float64Array::from(means)),
            ))
        }
    }
}

/// The epsilon and delta the mechanisms spent (OpenDP's maps; a
/// count_distinct released by partition selection is counted once), refused
/// when more than declared.
fn check_spend(
    spec: &AggregateSpec,
    selection: Option<&MechanismReport>,
    measures: &[MeasureReport],
) -> Result<(f64, f64)> {
    let mut spent = selection.map_or(0.0, |s| s.epsilon);
    let delta = selection.map_or(0.0, |s| s.delta);
    for m in measures {
        if m.kind != "count_distinct" || selection.is_none() {
            spent += m.epsilon;
        }
    }
    if spent > spec.epsilon * (1.0 + 1e-9) || delta > spec.delta.unwrap_or(0.0) {
        return Err(Error::Internal(format!(
            "the mechanisms spend epsilon {spent}, delta {delta}: more than declared"
        )));
    }
    Ok((spent, delta))
}

fn decimal_text(minor: i64, scale: i8) -> String {
    if scale <= 0 {
        return minor.to_string();
    }
    let unit = 10i64.pow(u32::from(scale.unsigned_abs()));
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    let u = unit.unsigned_abs();
    format!("{sign}{}.{:0w$}", m / u, m % u, w = scale as usize)
}

/// Every combination of the public key lists, in declared order.
fn cross_product(spec: &AggregateSpec) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for g in &spec.group_by {
        let list = g.public.as_deref().unwrap_or(&[]);
        out = out
            .into_iter()
            .flat_map(|prefix| {
                list.iter().map(move |v| {
                    let mut k = prefix.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    out
}

/// Footer metadata key holding the [`ReleaseReport`] as JSON.
pub const METADATA_KEY: &str = "txanon.aggregate";

/// The files a release writes.
pub struct Files<'a> {
    /// The aggregate Parquet file.
    pub parquet: &'a Path,
    /// `--csv`.
    pub csv: Option<&'a Path>,
    /// `--manifest`.
    pub manifest: Option<&'a Path>,
    /// Permission bits.
    pub mode: u32,
}

/// Write the release as Parquet (report and manifest in the footer) and,
/// when asked, CSV and the manifest; all staged, renamed into place by the
/// caller with [`crate::io::output::commit`].
pub fn write(
    rel: &Release,
    manifest: &manifest::Manifest,
    files: &Files<'_>,
) -> Result<Vec<crate::io::output::Staged>> {
    use crate::io::output::{create_file, Staged};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let mode = files.mode;
    let json = serde_json::to_string(&rel.report)
        .map_err(|e| Error::Internal(format!("aggregate report: {e}")))?;
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            KeyValue::new(METADATA_KEY.to_string(), json),
            KeyValue::new(manifest::MANIFEST_KEY.to_string(), manifest.to_json()?),
            KeyValue::new(
                "txanon.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ]))
        .build();
    let (staged, ()) = Staged::create(files.parquet, |temp| {
        let file = create_file(temp, mode)?;
        let mut w = ArrowWriter::try_new(file, rel.batch.schema(), Some(props))
            .map_err(|e| Error::Internal(format!("aggregate parquet: {e}")))?;
        w.write(&rel.batch)
            .map_err(|e| Error::Internal(format!("aggregate parquet: {e}")))?;
        let file = w
            .into_inner()
            .map_err(|e| Error::Internal(format!("aggregate parquet: {e}")))?;
        file.sync_all().map_err(|e| Error::io(temp, e))
    })?;
    let mut out = vec![staged];
    if let Some(path) = files.manifest {
        out.push(Staged::file(path, &manifest.to_pretty_json()?, mode)?);
    }
    if let Some(path) = files.csv {
        let (staged, ()) = Staged::create(path, |temp| {
            let file = create_file(temp, mode)?;
            let mut w = arrow_csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            w.write(&rel.batch)
                .map_err(|e| Error::Internal(format!("aggregate csv: {e}")))?;
            w.into_inner().sync_all().map_err(|e| Error::io(temp, e))
        })?;
        out.push(staged);
    }
    Ok(out)
}
