//! Differentially private aggregates (`txanon aggregate`): counts and sums
//! per group of the transformed output, with per-entity contribution bounds
//! and noise from the OpenDP library, so that the aggregate file can leave
//! the company with a formal guarantee the row-level release does not have.
//!
//! ```text
//! inputs ──pipeline::observe (same reader and transform as anonymize)──▶ Accumulator
//!   (entity token, group key, clamped values) ──bound::Bounder (reservoirs)──▶ true totals
//!   ──mechanism (OpenDP: partition selection, discrete Laplace)──▶ Release ──▶ Parquet/CSV
//! ```
//!
//! Entry points: [`spec::AggregateSpec::load`], [`Accumulator`] (a
//! [`crate::pipeline::BatchObserver`]), [`Accumulator::totals`] (the true,
//! pre-noise figures: library only, the command never prints them),
//! [`release`], [`write`], and the budget [`ledger`].
//!
//! The guarantee: for the declared bounds (`max_groups_per_entity`,
//! `max_rows_per_group`, clamping bounds) the aggregate file is
//! (epsilon, delta)-differentially private with respect to adding or removing
//! all rows of one entity (one token of the entity column). It says nothing
//! about the row-level release made from the same data.

pub mod bound;
pub mod ledger;
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
use bound::{Bounder, GroupTotals};
use mechanism::Sensitivity;
use spec::{AggregateSpec, Clamp, MeasureKind};

/// Hash map of this module (foldhash, randomly seeded).
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// Hash set of this module.
pub type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use Map as HashMap;

/// Streams output batches into bounded per-group totals.
pub struct Accumulator {
    spec: AggregateSpec,
    /// Summed columns (each once), in the order of `GroupTotals::sums`.
    summed: Vec<Clamp>,
    entities: HashMap<Box<str>, u32>,
    groups: HashMap<Vec<Box<str>>, u32>,
    keys: Vec<Vec<Box<str>>>,
    /// Per group-by column, its public keys (for membership checks).
    public: Vec<Option<Set<String>>>,
    bounder: Bounder,
    /// Rows read, and rows left out (no entity, a null or undeclared key).
    pub rows_seen: u64,
    /// Rows without an entity token.
    pub rows_without_entity: u64,
    /// Rows with a null group key or one outside a public key list.
    pub rows_outside_keys: u64,
}

impl Accumulator {
    /// An empty accumulator for `spec`.
    pub fn new(spec: &AggregateSpec) -> Accumulator {
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
            bounder: Bounder::new(spec.max_groups_per_entity, spec.max_rows_per_group, width),
            spec: spec.clone(),
            summed,
            entities: HashMap::default(),
            groups: HashMap::default(),
            keys: Vec::new(),
            rows_seen: 0,
            rows_without_entity: 0,
            rows_outside_keys: 0,
        }
    }

    /// The true totals per group key after contribution bounding, before any
    /// noise. For tests and library use; the command never shows them.
    pub fn totals(&self) -> Vec<(Vec<String>, GroupTotals)> {
        let mut out: Vec<_> = self
            .bounder
            .totals()
            .into_iter()
            .map(|(g, t)| (self.key_strings(g), t))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

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
        other => Err(Error::Internal(format!(
            "aggregate: column {:?} is {other}, not a number",
            clamp.column
        ))),
    }
}

impl crate::pipeline::BatchObserver for Accumulator {
    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        let entity = column(batch, &self.spec.entity)?;
        let entity = entity
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Internal("aggregate: the entity column is not text".into()))?;
        let options = arrow_cast::display::FormatOptions::default();
        let dims: Vec<ArrayRef> = (self.spec.group_by.iter())
            .map(|g| column(batch, &g.column).cloned())
            .collect::<Result<_>>()?;
        let shown = dims
            .iter()
            .map(|a| arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
        let values: Vec<Vec<Option<i64>>> = (self.summed.iter())
            .map(|c| column(batch, &c.column).and_then(|a| minor_units(a, c)))
            .collect::<Result<_>>()?;
        let mut key: Vec<Box<str>> = Vec::with_capacity(dims.len());
        let mut row_values = vec![0i64; self.summed.len()];
        'rows: for row in 0..batch.num_rows() {
            self.rows_seen += 1;
            let Some(token) = entity.is_valid(row).then(|| entity.value(row)) else {
                self.rows_without_entity += 1;
                continue;
            };
            key.clear();
            for ((d, f), public) in dims.iter().zip(&shown).zip(&self.public) {
                if d.is_null(row) {
                    self.rows_outside_keys += 1;
                    continue 'rows;
                }
                let v = f.value(row).to_string();
                if public.as_ref().is_some_and(|p| !p.contains(&v)) {
                    self.rows_outside_keys += 1;
                    continue 'rows;
                }
                key.push(v.into_boxed_str());
            }
            for (slot, col) in row_values.iter_mut().zip(&values) {
                // A null amount adds nothing to a sum (the row still counts).
                *slot = col[row].unwrap_or(0);
            }
            let next = self.entities.len() as u32;
            let e = match self.entities.get(token) {
                Some(e) => *e,
                None => {
                    self.entities.insert(token.into(), next);
                    next
                }
            };
            let next = self.keys.len() as u32;
            let g = match self.groups.get(&key) {
                Some(g) => *g,
                None => {
                    self.groups.insert(key.clone(), next);
                    self.keys.push(key.clone());
                    next
                }
            };
            self.bounder.add(e, g, &row_values)?;
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

/// Noise the bounded totals of `acc` with OpenDP and build the release.
pub fn release(acc: &Accumulator) -> Result<Release> {
    let spec = &acc.spec;
    let share = spec.epsilon / f64::from(parts(spec));
    let g = spec.max_groups_per_entity;
    let r = i64::from(spec.max_rows_per_group);
    let totals = acc.bounder.totals();
    let mut spent = 0.0;
    let mut delta_spent = 0.0;
    // The released groups, and the noisy entity counts of selection.
    let mut selection = None;
    let mut selected_entities: Option<HashMap<u32, i64>> = None;
    let groups: Vec<Vec<String>> = if spec.all_public() {
        cross_product(spec)
    } else {
        let delta = spec
            .delta
            .ok_or_else(|| Error::Internal("selection without delta".into()))?;
        let sens = Sensitivity::new(g, 1)?;
        let scale = mechanism::laplace_scale(share, &sens)?;
        let threshold = mechanism::selection_threshold(scale, delta, &sens)?;
        let m = mechanism::laplace_threshold(scale, threshold)?;
        let (eps, del) = mechanism::threshold_spend(scale, threshold, &sens)?;
        let input: std::collections::HashMap<u32, i64> =
            totals.iter().map(|(k, t)| (*k, t.entities)).collect();
        let kept = m
            .invoke(&input)
            .map_err(|e| Error::Internal(format!("partition selection failed: {e:?}")))?;
        spent += eps;
        delta_spent += del;
        selection = Some(MechanismReport {
            releases: "entities (partition selection)".into(),
            opendp: "make_laplace_threshold",
            scale,
            unit: "1 entity".into(),
            sensitivity: sens,
            epsilon: eps,
            delta: del,
            threshold: Some(threshold),
        });
        let mut ids: Vec<u32> = kept.keys().copied().collect();
        ids.sort_by(|a, b| acc.keys[*a as usize].cmp(&acc.keys[*b as usize]));
        selected_entities = Some(kept.into_iter().collect());
        ids.into_iter().map(|id| acc.key_strings(id)).collect()
    };
    let ids: Vec<Option<u32>> = groups
        .iter()
        .map(|k| {
            let boxed: Vec<Box<str>> = k.iter().map(|s| s.clone().into_boxed_str()).collect();
            acc.groups.get(&boxed).copied()
        })
        .collect();
    let empty = GroupTotals {
        sums: vec![0; acc.summed.len()],
        ..GroupTotals::default()
    };
    let truth = |id: &Option<u32>| id.and_then(|i| totals.get(&i)).unwrap_or(&empty);
    let noisy = |values: Vec<i64>,
                 sens: Sensitivity,
                 what: String,
                 unit: String|
     -> Result<(Vec<i64>, MechanismReport)> {
        let scale = mechanism::laplace_scale(share, &sens)?;
        let eps = mechanism::laplace_epsilon(scale, &sens)?;
        let out = mechanism::laplace_vector(scale)?
            .invoke(&values)
            .map_err(|e| Error::Internal(format!("Laplace noise failed: {e:?}")))?;
        Ok((
            out,
            MechanismReport {
                releases: what,
                opendp: "make_laplace",
                scale,
                unit,
                sensitivity: sens,
                epsilon: eps,
                delta: 0.0,
                threshold: None,
            },
        ))
    };
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, gb) in spec.group_by.iter().enumerate() {
        let text = StringArray::from(
            groups
                .iter()
                .map(|k| Some(k[i].as_str()))
                .collect::<Vec<_>>(),
        );
        let typed = arrow_cast::cast(&text, &gb.data_type)
            .map_err(|e| Error::Internal(format!("aggregate: key column {:?}: {e}", gb.column)))?;
        fields.push(Field::new(&gb.column, gb.data_type.clone(), false));
        arrays.push(typed);
    }
    let mut measures = Vec::new();
    for m in &spec.measures {
        let (kind, column, bounds, array, mechs): (_, _, _, ArrayRef, Vec<MechanismReport>) =
            match &m.kind {
                MeasureKind::Count => {
                    let (v, rep) = noisy(
                        ids.iter().map(|i| truth(i).rows).collect(),
                        Sensitivity::new(g, r)?,
                        "rows".into(),
                        "1 row".into(),
                    )?;
                    (
                        "count",
                        None,
                        None,
                        Arc::new(Int64Array::from(v)),
                        vec![rep],
                    )
                }
                MeasureKind::CountDistinct => match (&selected_entities, &selection) {
                    (Some(kept), Some(sel)) => {
                        // Released by partition selection itself (its share).
                        let v: Vec<i64> = ids
                            .iter()
                            .map(|i| i.and_then(|i| kept.get(&i).copied()).unwrap_or(0))
                            .collect();
                        let mut rep = sel.clone();
                        rep.releases = "entities".into();
                        (
                            "count_distinct",
                            None,
                            None,
                            Arc::new(Int64Array::from(v)),
                            vec![rep],
                        )
                    }
                    _ => {
                        let (v, rep) = noisy(
                            ids.iter().map(|i| truth(i).entities).collect(),
                            Sensitivity::new(g, 1)?,
                            "entities".into(),
                            "1 entity".into(),
                        )?;
                        (
                            "count_distinct",
                            None,
                            None,
                            Arc::new(Int64Array::from(v)),
                            vec![rep],
                        )
                    }
                },
                MeasureKind::Sum(c) | MeasureKind::Mean(c) => {
                    let at = acc.summed.iter().position(|s| s == c).unwrap_or(0);
                    let sens = Sensitivity::new(
                        g,
                        r.checked_mul(c.magnitude()).ok_or_else(|| {
                            Error::Usage("the clamping bounds overflow 64 bits".into())
                        })?,
                    )?;
                    let (sums, rep) = noisy(
                        ids.iter().map(|i| truth(i).sums[at]).collect(),
                        sens,
                        format!("sum of {}", c.column),
                        format!("{} {}", decimal_text(1, c.scale), c.column),
                    )?;
                    let bounds = Some((
                        decimal_text(c.lower, c.scale),
                        decimal_text(c.upper, c.scale),
                    ));
                    if matches!(m.kind, MeasureKind::Sum(_)) {
                        let a = Decimal128Array::from(
                            sums.into_iter().map(i128::from).collect::<Vec<_>>(),
                        )
                        .with_precision_and_scale(38, c.scale)
                        .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
                        (
                            "sum",
                            Some(c.column.clone()),
                            bounds,
                            Arc::new(a),
                            vec![rep],
                        )
                    } else {
                        let (rows, rep2) = noisy(
                            ids.iter().map(|i| truth(i).rows).collect(),
                            Sensitivity::new(g, r)?,
                            "rows (for the mean)".into(),
                            "1 row".into(),
                        )?;
                        let unit = 10f64.powi(i32::from(c.scale));
                        let lo = c.lower as f64 / unit;
                        let hi = c.upper as f64 / unit;
                        // Post-processing: a mean outside the bounds is clamped back.
                        let means: Vec<f64> = sums
                            .iter()
                            .zip(&rows)
                            .map(|(s, n)| (*s as f64 / unit / (*n).max(1) as f64).clamp(lo, hi))
                            .collect();
                        (
                            "mean",
                            Some(c.column.clone()),
                            bounds,
                            Arc::new(Float64Array::from(means)),
                            vec![rep, rep2],
                        )
                    }
                }
            };
        let epsilon: f64 = mechs.iter().map(|x| x.epsilon).sum();
        if kind != "count_distinct" || selection.is_none() {
            spent += epsilon;
        }
        fields.push(Field::new(&m.output, array.data_type().clone(), false));
        arrays.push(array);
        measures.push(MeasureReport {
            output: m.output.clone(),
            kind,
            column,
            bounds,
            epsilon,
            mechanisms: mechs,
        });
    }
    if spent > spec.epsilon * (1.0 + 1e-9) || delta_spent > spec.delta.unwrap_or(0.0) {
        return Err(Error::Internal(format!(
            "the mechanisms spend epsilon {spent}, delta {delta_spent}: more than declared"
        )));
    }
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
            epsilon: spent,
            delta: delta_spent,
            selection,
            measures,
            groups: groups.len(),
            demo_key: false,
        },
        batch,
    })
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

/// Write the release as Parquet (report in the footer) and, when asked, CSV;
/// both staged, renamed into place by the caller with [`crate::io::output::commit`].
pub fn write(
    rel: &Release,
    parquet: &Path,
    csv: Option<&Path>,
    mode: u32,
) -> Result<Vec<crate::io::output::Staged>> {
    use crate::io::output::{create_file, Staged};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let json = serde_json::to_string(&rel.report)
        .map_err(|e| Error::Internal(format!("aggregate report: {e}")))?;
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            KeyValue::new(METADATA_KEY.to_string(), json),
            KeyValue::new(
                "txanon.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ]))
        .build();
    let (staged, ()) = Staged::create(parquet, |temp| {
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
    if let Some(path) = csv {
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
