//! Disclosure-risk measurement over an output stream: k-anonymity counted
//! in people (entity-k), l-diversity and unicity, and the `[privacy]` gate
//! built on them.
//!
//! [`RiskMeter`] is fed the output batches in order (by the `anonymize`
//! writer, or by `check` reading an output file back) and keeps:
//!
//! - one entry per *equivalence class* (distinct combination of the
//!   quasi-identifier values): its row count, its count of distinct
//!   entities (`[privacy].entity` values; counted when settling, reported
//!   up to `max(min_k, K_COUNTED_UP_TO)` = at least 1000 per class, then
//!   as "at least that many"), and per `sensitive` column the set of
//!   distinct values in it.
//! - per row with an entity, a 28-byte record (entity digest, class,
//!   row ordinal) on one of 64 unnamed spill files chosen by the entity
//!   (module `entities`): nothing per entity in memory while rows
//!   stream. [`RiskMeter::settle`] (run by [`RiskMeter::finish`]) reads
//!   one partition at a time to count the distinct entities of every class
//!   and to collect each entity's distinct classes ("points", for unicity;
//!   up to `[privacy].max_points`, default 1024, beyond that a seeded
//!   sample), then measures unicity block by block.
//!
//! So the meter's memory grows with distinct classes (times the distinct
//! sensitive values per class), not with rows or customers: what is per
//! customer is on disk (28 bytes per row, less where a customer's rows
//! repeat a class), and at the end one partition (about 1/64 of the rows)
//! and one block of entities (see `entities`) are in memory at once. The
//! spill files go next to the output (`anonymize`) or into the system's
//! temporary directory (`check`, `report`: it must be disk-backed, a tmpfs
//! holds them in RAM); where `O_TMPFILE` works they have no name, so
//! nothing is left behind on any exit. Still growing, more slowly: the
//! grouping of one partition (about 1/64 of the rows, so it grows with the
//! dump divided by 64), and the unicity matching's I/O, which rereads the
//! query files once per block (quadratic in customers: about 6 GB of page-
//! cache reads at 15M customers).
//!
//! [`RiskMeter::finish`] gives a [`PrivacyReport`]:
//!
//! - `k` (*entity-k*): the fewest **distinct entities** in any class. With
//!   `entity = "account_token"` a class of twenty purchases by one customer
//!   has k = 1; with `entity = "row"` (one row per person, such as a customer
//!   table) every row is its own entity and k counts rows. A row whose
//!   entity is null stays in its class (and in `rows`) but counts as no one:
//!   it can never lift a class to `min_k`, and a class holding only such
//!   rows has k = 0. Counting per class stops at the cap above, so when k
//!   equals `k_counted_up_to` the true k is at least that.
//! - classes with fewer than `min_k` distinct entities, the rows in them, and
//!   their share of rows; `on_violation = "suppress"` removes exactly those
//!   classes' rows.
//! - per sensitive column, `l`: the fewest distinct sensitive values in any
//!   class (values, not people: rows of one entity with one value count once);
//! - unicity (entity column only) for p = 2 and p = 4, counted in entities:
//!   for each entity with at least p distinct
//!   points, p of them are drawn at random; the entity is *unique* when no
//!   other entity has all p points. The figure is the share of such entities
//!   among those with at least p points (the measure of de Montjoye et al.,
//!   "Unique in the Shopping Mall", Science 2015). The draws are exactly:
//!   classes and entities are numbered in order of first appearance in the
//!   output; an entity's points are its distinct class numbers, ascending;
//!   one SplitMix64 stream per p, seeded with
//!   `seed XOR (p * 0x9e3779b97f4a7c15 mod 2^64)`, with `below(n)` the high
//!   64 bits of `next() * n`; entities are visited in order, and for each
//!   eligible one a partial Fisher-Yates shuffle of the indices `0..len`
//!   picks the points (`for i in 0..p: j = i + below(len - i); swap(i, j)`).
//!   `tests/risk/pycanon_check.py` reimplements this and must agree.
//!   An entity with more than `max_points` distinct points keeps a sample
//!   of `max_points` of them: a partial Fisher-Yates shuffle of its sorted
//!   points with its own SplitMix64 stream seeded with
//!   `seed XOR ((r + 1) * 0xd1b54a32d192ed03 mod 2^64)`, where `r` is the
//!   position (from 0) of the entity's first row among the rows measured,
//!   keeping the first `max_points`, sorted (`tests/risk/unicity_vectors.py`
//!   reimplements it; until 572435b the sample was a reservoir over one
//!   stream shared by all entities, which the spilled meter cannot keep).
//!   The sample can miss a point the entity does have, which can only
//!   *raise* unicity (another entity may look like it lacks a point): the
//!   figure errs on the side of more risk.
//!
//! Values are compared as their text (Arrow's cast to UTF-8), so the
//! figures `check` recomputes from a written file equal those measured while
//! writing it. Class keys never leave this module; reports hold counts only.

// Why this file is long (about 700 lines of code; the spilled per-entity
// part in risk/entities.rs, tests in risk/tests.rs): the meter (class
// table, l-diversity) and the gate that acts on it share the class table. If it grows, the
// gate's verdict and the metadata it writes are the seam.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow_array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow_schema::DataType;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::schema::{OnViolation, PrivacyEntity, PrivacyOptions};

pub mod chosen;
mod entities;
pub mod search;

/// Distinct entities are counted exactly per class up to
/// `max(min_k, K_COUNTED_UP_TO)`; a class with more is reported at that
/// count (so reports read "at least").
pub const K_COUNTED_UP_TO: u64 = 1000;

/// The p values of the unicity measure.
pub const UNICITY_P: [usize; 2] = [2, 4];

/// The hasher of the meter's maps: foldhash with a fixed seed (class keys
/// are looked up once or twice per row; SipHash's resistance to chosen
/// keys buys nothing here, as the keys are the release's own values and
/// no order of iteration reaches an output).
type FastHash = foldhash::fast::FixedState;

/// Class keys (the quasi-identifier tuples) whose rows a suppressing pass removes.
#[derive(Debug, Clone, Default)]
pub struct Suppression {
    classes: HashSet<Box<[u8]>, FastHash>,
}

impl Suppression {
    /// Number of classes to remove.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether nothing is removed.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

#[derive(Debug, Default)]
struct Class {
    rows: u64,
    /// Distinct entities in the class (entity = "row": its rows), up to the
    /// cap; with an entity column known once the meter is settled.
    people: u64,
    sensitive: Vec<HashSet<Box<str>>>,
    /// Rows of earlier generations of an appended dataset (already
    /// released, never rewritten by the append).
    earlier: u64,
}

/// Streaming accumulator of the risk figures.
#[derive(Debug)]
pub struct RiskMeter {
    opts: PrivacyOptions,
    classes: HashMap<Box<[u8]>, u32, FastHash>,
    stats: Vec<Class>,
    /// The per-row entity records (entity column only; created on the
    /// first such row, consumed by [`RiskMeter::settle`]).
    spill: Option<entities::EntitySpill>,
    /// Where the spill files go.
    spill_dir: PathBuf,
    /// Partitions and matching block of the spill.
    spill_shape: (usize, u64),
    /// Unicity, once settled (entity column only).
    unicity: Option<Unicity>,
    /// Whether [`RiskMeter::settle`] ran: no more rows may be observed.
    settled: bool,
    /// Set while a settle is under way and left set if it failed.
    failed_settle: bool,
    suppress: Option<Suppression>,
    suppressed_rows: u64,
    rows: u64,
    null_entity_rows: u64,
    /// Per-class count limit of distinct entities (see [`K_COUNTED_UP_TO`]).
    cap: u64,
    key: Vec<u8>,
    /// Set while [`RiskMeter::observe_earlier`] feeds rows already in the
    /// dataset an append adds to.
    seeding: bool,
    /// The append's scope, once earlier rows were fed.
    scope: Option<DatasetScope>,
}

/// What the figures of an appended dataset count: every row of the dataset
/// after the append (earlier generations read back from its part files,
/// and this generation's rows), of which only this generation's can be
/// suppressed (earlier part files are never rewritten by an append).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetScope {
    /// `"dataset"`: k, classes, rows and unicity are over the whole dataset.
    pub measured_over: &'static str,
    /// The generation the append adds.
    pub generation: u64,
    /// Rows of generations 1 to `generation - 1` read back and measured.
    pub earlier_rows: u64,
    /// Rows of this generation measured (written).
    pub new_rows: u64,
    /// Rows of earlier generations in classes below `min_k` (an append
    /// cannot remove them: the run fails when this is not 0).
    pub earlier_rows_below_min_k: u64,
    /// Classes holding them.
    pub earlier_classes_below_min_k: u64,
}

impl DatasetScope {
    fn new(generation: u64) -> DatasetScope {
        DatasetScope {
            measured_over: "dataset",
            generation,
            earlier_rows: 0,
            new_rows: 0,
            earlier_rows_below_min_k: 0,
            earlier_classes_below_min_k: 0,
        }
    }
}

/// l-diversity of one sensitive column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LDiversity {
    /// Output column.
    pub column: String,
    /// Fewest distinct values in any class.
    pub l: u64,
    /// Classes with a single distinct value (everyone in them shares it).
    pub classes_with_one_value: u64,
}

/// Unicity for one p.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnicityFigure {
    /// Points drawn per entity.
    pub p: usize,
    /// Entities with at least p distinct points.
    pub entities: u64,
    /// Of those, entities no other entity matches on the drawn points.
    pub unique: u64,
    /// `unique / entities` (0 when there are none).
    pub share: f64,
}

/// Unicity over the entity column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unicity {
    /// The entity column.
    pub entity: String,
    /// Distinct entities seen.
    pub entities: u64,
    /// The seed of the draws.
    pub seed: u64,
    /// Entities whose points were sampled (more than `max_points`).
    pub sampled_entities: u64,
    /// Figures for p = 2 and p = 4.
    pub figures: Vec<UnicityFigure>,
}

/// The measured figures and the gate's verdict. Counts only, never values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrivacyReport {
    /// Quasi-identifier output columns.
    pub quasi: Vec<String>,
    /// `[privacy].min_k`.
    pub min_k: u64,
    /// `[privacy].on_violation`.
    pub on_violation: &'static str,
    /// What k counts: always `"entities"` (distinct values of `entity`, or
    /// rows when `entity = "row"`).
    pub k_counts: &'static str,
    /// `[privacy].entity`: the entity column, or `"row"`.
    pub entity: String,
    /// Rows measured (after any suppression).
    pub rows: u64,
    /// Equivalence classes.
    pub classes: u64,
    /// Fewest distinct entities in any class (0 when there are no rows, or
    /// when a class holds only rows whose entity is null).
    pub k: u64,
    /// Distinct entities are counted up to this many per class: when `k`
    /// equals it, k is at least that. `None` with `entity = "row"` (exact).
    pub k_counted_up_to: Option<u64>,
    /// Rows whose entity is null: they belong to their class but count as
    /// no one, so they can never lift a class to `min_k`.
    pub null_entity_rows: u64,
    /// Classes with fewer than `min_k` distinct entities.
    pub classes_below_min_k: u64,
    /// Rows in classes with fewer than `min_k` distinct entities.
    pub rows_below_min_k: u64,
    /// `rows_below_min_k / rows`.
    pub share_below_min_k: f64,
    /// Rows removed by `on_violation = "suppress"`.
    pub suppressed_rows: u64,
    /// Classes removed by `on_violation = "suppress"`.
    pub suppressed_classes: u64,
    /// l-diversity per sensitive column.
    pub l_diversity: Vec<LDiversity>,
    /// Unicity, when `[privacy].entity` names a column.
    pub unicity: Option<Unicity>,
    /// `k >= min_k` (an empty input passes; a fully suppressed one does not).
    pub passed: bool,
    /// The node `search = "auto"` chose, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<search::Chosen>,
    /// For `anonymize --append`: the figures are over the whole dataset
    /// after the append; `suppressed_rows` and `suppressed_classes` count
    /// this generation's rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetScope>,
}

impl PrivacyReport {
    /// What k counts, for messages: `distinct account_token values`, or
    /// `rows, one per person` with `entity = "row"`.
    pub fn unit(&self) -> String {
        if self.k_counted_up_to.is_some() {
            format!("distinct {} values", self.entity)
        } else {
            "rows, one per person".to_string()
        }
    }

    /// k with its unit: `k = 5 (distinct account_token values)`, or
    /// `k >= 1000 (...)` when every class reached the counting limit.
    pub fn k_figure(&self) -> String {
        match self.k_counted_up_to {
            Some(cap) if self.k >= cap => {
                format!("k >= {} ({}, counted up to {cap})", self.k, self.unit())
            }
            _ => format!("k = {} ({})", self.k, self.unit()),
        }
    }

    /// The `txanon.privacy.*` footer entries.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut m = vec![
            ("txanon.privacy.quasi".into(), self.quasi.join(",")),
            ("txanon.privacy.min_k".into(), self.min_k.to_string()),
            ("txanon.privacy.k".into(), self.k.to_string()),
            ("txanon.privacy.k_counts".into(), self.k_counts.to_string()),
            ("txanon.privacy.entity".into(), self.entity.clone()),
            ("txanon.privacy.classes".into(), self.classes.to_string()),
            (
                "txanon.privacy.rows_below_min_k".into(),
                self.rows_below_min_k.to_string(),
            ),
            (
                "txanon.privacy.on_violation".into(),
                self.on_violation.to_string(),
            ),
            (
                "txanon.privacy.suppressed_rows".into(),
                self.suppressed_rows.to_string(),
            ),
        ];
        if let Some(cap) = self.k_counted_up_to {
            m.push(("txanon.privacy.k_counted_up_to".into(), cap.to_string()));
            m.push((
                "txanon.privacy.null_entity_rows".into(),
                self.null_entity_rows.to_string(),
            ));
        }
        for l in &self.l_diversity {
            m.push((format!("txanon.privacy.l.{}", l.column), l.l.to_string()));
        }
        if let Some(s) = &self.search {
            m.extend(s.metadata());
        }
        if let Some(d) = &self.dataset {
            m.push((
                "txanon.privacy.measured_over".into(),
                format!("dataset after generation {}", d.generation),
            ));
            m.push((
                "txanon.privacy.earlier_rows".into(),
                d.earlier_rows.to_string(),
            ));
            m.push((
                "txanon.privacy.suppressed_in".into(),
                format!("generation {} only", d.generation),
            ));
        }
        if let Some(u) = &self.unicity {
            m.push(("txanon.privacy.unicity.entity".into(), u.entity.clone()));
            m.push(("txanon.privacy.unicity.seed".into(), u.seed.to_string()));
            for f in &u.figures {
                m.push((
                    format!("txanon.privacy.unicity.p{}", f.p),
                    format!("{:.6}", f.share),
                ));
            }
        }
        m
    }

    /// One line per figure, for the text summary and messages.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "privacy: {} over ({}) in {} classes of {} rows; min_k {} ({}): {}",
            self.k_figure(),
            self.quasi.join(", "),
            self.classes,
            self.rows,
            self.min_k,
            self.on_violation,
            if self.passed { "pass" } else { "FAIL" }
        )];
        out.push(format!(
            "  rows in classes with fewer than {} {}: {} ({:.2}%) in {} classes; suppressed {} rows in {} classes",
            self.min_k,
            self.unit(),
            self.rows_below_min_k,
            self.share_below_min_k * 100.0,
            self.classes_below_min_k,
            self.suppressed_rows,
            self.suppressed_classes
        ));
        if let Some(s) = &self.search {
            out.push(s.line());
        }
        if let Some(d) = &self.dataset {
            out.push(format!(
                "  measured over the whole dataset after generation {}: {} rows of earlier generations + {} of this one; \
                 suppressed rows are this generation's (earlier part files are never rewritten)",
                d.generation, d.earlier_rows, d.new_rows
            ));
        }
        if self.null_entity_rows > 0 {
            out.push(format!(
                "  rows with a null {}: {} (they count as no one)",
                self.entity, self.null_entity_rows
            ));
        }
        for l in &self.l_diversity {
            out.push(format!(
                "  l-diversity of {}: l = {} ({} classes with one value)",
                l.column, l.l, l.classes_with_one_value
            ));
        }
        if let Some(u) = &self.unicity {
            let figures: Vec<String> = u
                .figures
                .iter()
                .map(|f| {
                    format!(
                        "p={}: {:.1}% of {} entities unique",
                        f.p,
                        f.share * 100.0,
                        f.entities
                    )
                })
                .collect();
            out.push(format!(
                "  unicity by {} (seed {}): {}",
                u.entity,
                u.seed,
                figures.join("; ")
            ));
        }
        out
    }
}

impl RiskMeter {
    /// A meter for `opts`; with `suppress`, rows of those classes are
    /// removed by [`RiskMeter::observe`] and counted.
    pub fn new(opts: &PrivacyOptions, suppress: Option<Suppression>) -> RiskMeter {
        RiskMeter {
            opts: opts.clone(),
            classes: HashMap::default(),
            stats: Vec::new(),
            spill: None,
            spill_dir: crate::io::spill::spill_dir(None),
            spill_shape: (entities::PARTITIONS, entities::BLOCK_BYTES),
            unicity: None,
            settled: false,
            failed_settle: false,
            suppress,
            suppressed_rows: 0,
            rows: 0,
            null_entity_rows: 0,
            cap: opts.min_k.max(K_COUNTED_UP_TO),
            key: Vec::new(),
            seeding: false,
            scope: None,
        }
    }

    /// Spill the per-entity state to `dir` (default: the system's
    /// temporary directory); see [`entities`].
    pub fn with_spill_dir(mut self, dir: &Path) -> RiskMeter {
        self.spill_dir = dir.to_path_buf();
        self
    }

    /// Spill to `partitions` partitions and match `block_bytes` of entity
    /// files at a time (the figures do not depend on either).
    #[cfg(test)]
    fn with_spill_shape(mut self, partitions: usize, block_bytes: u64) -> RiskMeter {
        self.spill_shape = (partitions, block_bytes);
        self
    }

    /// Account for rows already in the dataset an append adds generation
    /// `generation` to (read back from its part files): they count in their
    /// classes like any row, are never suppressed (their files are not
    /// rewritten), and mark their classes as holding released rows.
    pub fn observe_earlier(&mut self, arrays: &[ArrayRef], generation: u64) -> Result<()> {
        let suppress = self.suppress.take();
        self.seeding = true;
        let before = self.rows;
        let result = self.observe(arrays);
        self.seeding = false;
        self.suppress = suppress;
        result?;
        let scope = self
            .scope
            .get_or_insert_with(|| DatasetScope::new(generation));
        scope.earlier_rows += self.rows - before;
        Ok(())
    }

    /// Start of an append's new rows: the scope exists even when the
    /// dataset held no row yet.
    pub fn expect_earlier(&mut self, generation: u64) {
        self.scope
            .get_or_insert_with(|| DatasetScope::new(generation));
    }

    /// The output columns [`RiskMeter::observe`] needs, in order: the
    /// quasi-identifiers, the sensitive columns, then the entity if any.
    pub fn columns(&self) -> Vec<String> {
        let mut c = self.opts.quasi.clone();
        c.extend(self.opts.sensitive.iter().cloned());
        c.extend(self.opts.entity.column().map(str::to_string));
        c
    }

    /// Account for one batch; `arrays` are the columns named by
    /// [`RiskMeter::columns`], in that order. Returns the rows to keep when
    /// suppressing (`None`: keep all).
    pub fn observe(&mut self, arrays: &[ArrayRef]) -> Result<Option<BooleanArray>> {
        self.observe_digested(arrays, None)
    }

    /// [`RiskMeter::observe`] with the entity digests of the rows already
    /// computed ([`entity_digests`] of the entity column, the last array).
    pub(crate) fn observe_digested(
        &mut self,
        arrays: &[ArrayRef],
        digests: Option<&[EntityDigest]>,
    ) -> Result<Option<BooleanArray>> {
        if self.settled {
            return Err(Error::Internal(
                "privacy: rows observed after the figures were settled".into(),
            ));
        }
        let texts = arrays
            .iter()
            .map(as_text)
            .collect::<Result<Vec<StringArray>>>()?;
        let nq = self.opts.quasi.len();
        let ns = self.opts.sensitive.len();
        if texts.len() != nq + ns + usize::from(self.opts.entity.column().is_some()) {
            return Err(Error::Internal(
                "privacy: a quasi-identifier, sensitive or entity column is missing".into(),
            ));
        }
        let rows = texts.first().map_or(0, |a| a.len());
        let mut keep = self.suppress.as_ref().map(|_| Vec::with_capacity(rows));
        for row in 0..rows {
            self.key.clear();
            for col in &texts[..nq] {
                push_key(&mut self.key, (!col.is_null(row)).then(|| col.value(row)));
            }
            if let (Some(s), Some(k)) = (&self.suppress, keep.as_mut()) {
                let drop = s.classes.contains(self.key.as_slice());
                k.push(!drop);
                if drop {
                    self.suppressed_rows += 1;
                    continue;
                }
            }
            self.rows += 1;
            let id = match self.classes.get(self.key.as_slice()) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(self.stats.len())
                        .map_err(|_| Error::Usage("privacy: more than 4 billion classes".into()))?;
                    self.classes.insert(self.key.clone().into_boxed_slice(), id);
                    self.stats.push(Class {
                        sensitive: vec![HashSet::new(); ns],
                        ..Class::default()
                    });
                    id
                }
            };
            // Who the row is about: an entity (counted when settling), or
            // no one (null).
            match texts.get(nq + ns) {
                None => {}
                Some(col) if col.is_null(row) => self.null_entity_rows += 1,
                Some(col) => {
                    let digest = match digests.and_then(|d| d.get(row)) {
                        Some(&d) => d,
                        None => EntityDigest::of(col.value(row)),
                    };
                    let (partitions, block) = self.spill_shape;
                    let dir = &self.spill_dir;
                    self.spill
                        .get_or_insert_with(|| entities::EntitySpill::new(dir, partitions, block))
                        .push(&digest, id, self.rows - 1)?;
                }
            }
            let class = &mut self.stats[id as usize];
            class.rows += 1;
            if self.seeding {
                class.earlier += 1;
            }
            if self.opts.entity == PrivacyEntity::Row {
                class.people += 1;
            }
            for (set, col) in class.sensitive.iter_mut().zip(&texts[nq..nq + ns]) {
                let v = if col.is_null(row) { "" } else { col.value(row) };
                if !set.contains(v) {
                    set.insert(v.into());
                }
            }
        }
        Ok(keep.map(BooleanArray::from))
    }

    /// Count the entities of every class and measure unicity from the
    /// spilled per-entity records (see [`entities`]); runs once, after the
    /// last row. [`RiskMeter::finish`], [`RiskMeter::suppression`] and
    /// [`RiskMeter::class_sizes`] call it.
    pub fn settle(&mut self) -> Result<()> {
        if self.settled {
            return match self.failed_settle {
                // A settle that failed half-way left people and unicity
                // unset: never hand those out as figures.
                true => Err(Error::Internal(
                    "privacy: the figures could not be computed (an earlier spill error)".into(),
                )),
                false => Ok(()),
            };
        }
        self.settled = true;
        self.failed_settle = true;
        let Some(entity) = self.opts.entity.column() else {
            self.failed_settle = false;
            return Ok(());
        };
        let (partitions, block) = self.spill_shape;
        let spill = match self.spill.take() {
            Some(s) => s,
            None => entities::EntitySpill::new(&self.spill_dir, partitions, block),
        };
        let settled = spill.settle(self.stats.len(), self.opts.seed, self.opts.max_points)?;
        for (class, people) in self.stats.iter_mut().zip(settled.people) {
            class.people = people.min(self.cap);
        }
        self.unicity = Some(Unicity {
            entity: entity.to_string(),
            entities: settled.entities,
            seed: self.opts.seed,
            sampled_entities: settled.sampled,
            figures: settled.figures,
        });
        self.failed_settle = false;
        Ok(())
    }

    /// Classes with fewer than `min_k` distinct entities, for a suppressing
    /// second pass; an append's classes holding rows of earlier
    /// generations are left out (those rows cannot be removed, see
    /// [`RiskMeter::verdict`]).
    pub fn suppression(&mut self) -> Result<Suppression> {
        self.settle()?;
        Ok(Suppression {
            classes: self
                .classes
                .iter()
                .filter(|(_, &id)| {
                    let c = &self.stats[id as usize];
                    c.people < self.opts.min_k && c.earlier == 0
                })
                .map(|(k, _)| k.clone())
                .collect(),
        })
    }

    /// The size of every class in the unit k counts, in no particular
    /// order (for distributions; class keys never leave this module).
    pub fn class_sizes(&mut self) -> Result<Vec<u64>> {
        self.settle()?;
        Ok(self.stats.iter().map(|c| c.people).collect())
    }

    /// The figures.
    pub fn finish(&mut self) -> Result<PrivacyReport> {
        self.settle()?;
        let min_k = self.opts.min_k;
        let k = self.stats.iter().map(|c| c.people).min().unwrap_or(0);
        let below: Vec<&Class> = self.stats.iter().filter(|c| c.people < min_k).collect();
        let rows_below: u64 = below.iter().map(|c| c.rows).sum();
        let l_diversity = self
            .opts
            .sensitive
            .iter()
            .enumerate()
            .map(|(i, column)| LDiversity {
                column: column.clone(),
                l: self
                    .stats
                    .iter()
                    .map(|c| c.sensitive[i].len() as u64)
                    .min()
                    .unwrap_or(0),
                classes_with_one_value: self
                    .stats
                    .iter()
                    .filter(|c| c.sensitive[i].len() == 1)
                    .count() as u64,
            })
            .collect();
        let unicity = self.unicity.clone();
        Ok(PrivacyReport {
            quasi: self.opts.quasi.clone(),
            min_k,
            on_violation: match self.opts.on_violation {
                OnViolation::Fail => "fail",
                OnViolation::Suppress => "suppress",
            },
            k_counts: "entities",
            entity: self.opts.entity.name().to_string(),
            rows: self.rows,
            classes: self.stats.len() as u64,
            k,
            k_counted_up_to: self.opts.entity.column().map(|_| self.cap),
            null_entity_rows: self.null_entity_rows,
            classes_below_min_k: below.len() as u64,
            rows_below_min_k: rows_below,
            share_below_min_k: if self.rows == 0 {
                0.0
            } else {
                rows_below as f64 / self.rows as f64
            },
            suppressed_rows: self.suppressed_rows,
            suppressed_classes: self.suppress.as_ref().map_or(0, |s| s.len() as u64),
            l_diversity,
            unicity,
            search: self.opts.chosen.clone(),
            dataset: self.scope.as_ref().map(|s| {
                let old: Vec<&Class> = below.iter().filter(|c| c.earlier > 0).copied().collect();
                DatasetScope {
                    new_rows: self.rows - s.earlier_rows,
                    earlier_rows_below_min_k: old.iter().map(|c| c.earlier).sum(),
                    earlier_classes_below_min_k: old.len() as u64,
                    ..s.clone()
                }
            }),
            // An empty input is vacuously k-anonymous; suppressing every row is not a release.
            passed: if self.rows == 0 {
                self.suppressed_rows == 0
            } else {
                k >= min_k
            },
        })
    }
}

/// What tells two entities apart: the first 16 bytes of the SHA-256 of the
/// entity's text (Arrow's cast to UTF-8, as for class keys), so the entity
/// maps hold 16 bytes per entity whatever the length of its values.
///
/// Two different entities with the same digest would be counted as one.
/// That can only *lower* a class's count of distinct entities, and so k
/// (more suppression, never a pass that should have failed): the error, if
/// it ever happened, is on the safe side. For n distinct entities the
/// chance of any such merge is below n^2 / 2^129 (about 3e-25 for ten
/// million entities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EntityDigest([u8; 16]);

impl EntityDigest {
    /// The digest of one entity value.
    pub(crate) fn of(entity: &str) -> EntityDigest {
        use sha2::{Digest, Sha256};
        let full = Sha256::digest(entity.as_bytes());
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        EntityDigest(d)
    }

    /// The digest's bytes (to pick a partition, or to spill it).
    pub(crate) fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// Append one quasi-identifier value to a class key: `0` for null, else
/// `1`, the length as 8 little-endian bytes, and the UTF-8 text.
fn push_key(key: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => key.push(0),
        Some(v) => {
            key.push(1);
            key.extend_from_slice(&(v.len() as u64).to_le_bytes());
            key.extend_from_slice(v.as_bytes());
        }
    }
}

/// The [`EntityDigest`] of every row of an entity column (a placeholder
/// for a null, which [`RiskMeter::observe_digested`] does not read), so
/// that the hashing can run apart from the meter, on other threads.
pub(crate) fn entity_digests(entity: &ArrayRef) -> Result<Vec<EntityDigest>> {
    let text = as_text(entity)?;
    Ok((0..text.len())
        .map(|row| {
            if text.is_null(row) {
                EntityDigest([0; 16])
            } else {
                EntityDigest::of(text.value(row))
            }
        })
        .collect())
}

/// A column as UTF-8 text (Arrow's cast), as class keys and entities read it.
fn as_text(a: &ArrayRef) -> Result<StringArray> {
    let cast = arrow_cast::cast(a, &DataType::Utf8)
        .map_err(|e| Error::Internal(format!("privacy: cannot read a column as text: {e}")))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::Internal("privacy: column is not text".into()))
}

/// 2^64 / golden ratio, to separate the streams of p = 2 and p = 4.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64 (Steele, Lea, Flood 2014): small, seedable, reproducible.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(PHI);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (widening multiply; bias below n / 2^64).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// What the gate decided after a pass.
#[derive(Debug)]
pub enum Verdict {
    /// Write the output; these are its figures.
    Release(Box<PrivacyReport>),
    /// Classes below `min_k` exist and `on_violation = "suppress"`: run a
    /// second pass that removes them.
    Suppress(Suppression),
}

impl RiskMeter {
    /// Observe an output batch and return it without suppressed rows.
    pub fn observe_batch(
        &mut self,
        batch: arrow_array::RecordBatch,
    ) -> Result<arrow_array::RecordBatch> {
        let arrays = columns_of(&batch, &self.columns())?;
        match self.observe(&arrays)? {
            Some(keep) => arrow_select::filter::filter_record_batch(&batch, &keep)
                .map_err(|e| Error::Internal(format!("privacy: filtering a batch: {e}"))),
            None => Ok(batch),
        }
    }

    /// The gate. With `enforce` false (a dry run) the figures are only reported.
    pub fn verdict(&mut self, enforce: bool) -> Result<Verdict> {
        let report = self.finish()?;
        if !enforce || report.passed {
            return Ok(Verdict::Release(Box::new(report)));
        }
        if let Some(d) = report
            .dataset
            .as_ref()
            .filter(|d| d.earlier_rows_below_min_k > 0)
        {
            return Err(Error::Privacy(format!(
                "after this append the dataset would have {} row(s) of earlier generations in {} class(es) \
                 with fewer than [privacy].min_k = {} {} over ({}) ({} over the whole dataset); an append \
                 never rewrites released part files, so it cannot suppress them: nothing was written \
                 (append more rows of those classes together, `txanon erase` what must go, or rebuild \
                 the dataset from all inputs)",
                d.earlier_rows_below_min_k,
                d.earlier_classes_below_min_k,
                report.min_k,
                report.unit(),
                report.quasi.join(", "),
                report.k_figure(),
            )));
        }
        if self.opts.on_violation == OnViolation::Suppress && self.suppress.is_none() {
            return Ok(Verdict::Suppress(self.suppression()?));
        }
        let why = if report.rows == 0 {
            format!(
                "no rows left to measure ({} suppressed); nothing was written",
                report.suppressed_rows
            )
        } else {
            format!(
                "{} is below [privacy].min_k = {}: {} row(s) in {} class(es) with fewer than {} {} over ({}); \
                 on_violation = \"fail\": nothing was written (coarsen the quasi-identifiers or use \"suppress\")",
                report.k_figure(),
                report.min_k,
                report.rows_below_min_k,
                report.classes_below_min_k,
                report.min_k,
                report.unit(),
                report.quasi.join(", ")
            )
        };
        Err(Error::Privacy(why))
    }
}

/// Footer entries the privacy features add: `txanon.shift.spec` when a
/// column is shifted, and the report's `txanon.privacy.*` figures.
pub fn metadata(
    schema: &crate::schema::Schema,
    report: Option<&PrivacyReport>,
) -> Vec<(String, String)> {
    let mut m = Vec::new();
    if schema
        .columns
        .iter()
        .any(|c| matches!(c.action, crate::schema::Action::Shift(_)))
    {
        m.push((
            "txanon.shift.spec".to_string(),
            crate::transform::shift::SHIFT_SPEC.to_string(),
        ));
    }
    if let Some(r) = report {
        m.extend(r.metadata());
    }
    m
}

/// Arrays for [`RiskMeter::observe`] from a batch, by output name.
pub fn columns_of(batch: &arrow_array::RecordBatch, names: &[String]) -> Result<Vec<ArrayRef>> {
    names
        .iter()
        .map(|n| {
            batch
                .column_by_name(n)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("privacy: output column {n:?} is missing")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
