//! `[privacy] search = "auto"`: choose one level per quasi-identifier.
//!
//! The lattice has one node per combination of levels (level 0 of every
//! ladder is what the schema declares; a column without levels has only
//! level 0). Choosing takes three steps:
//!
//! 1. **Collect** ([`Collector`]), in one pass over the input with every
//!    level of every ladder computed side by side (see [`expand`]): per
//!    quasi-identifier, each distinct *vector* of its level values gets a
//!    number; per row, the tuple of those numbers plus the entity's 16-byte
//!    digest (as [`ENTITY_WORDS`] numbers: see [`entity_words`]) is one
//!    *pair*, and the pairs are kept with their row counts. At most
//!    `[privacy].max_search_pairs` pairs (default 3,000,000, 50-52 bytes
//!    each with five quasi-identifiers: see [`table`]) are held in memory;
//!    beyond that they are sorted and spilled to unnamed 0600 files next to
//!    the output and merged at the end ([`spill`]).
//! 2. **Evaluate** nodes from the pairs alone (in memory or read back from
//!    the merged spill file), without reading the input again: a node maps
//!    every pair to its class; a class's entities are its distinct non-null
//!    entity digests (with `entity = "row"`, its rows). The pairs are sorted
//!    by digest, so one entity's pairs are adjacent and a class counts an
//!    entity when it differs from the last one the class counted;
//!    classes with fewer than `min_k` entities are suppressed. A node
//!    *passes* when the suppressed rows `S` satisfy
//!    `S <= max_suppression * R` (IEEE double products) with `R` the rows,
//!    and at least one row is left (unless `R = 0`).
//! 3. **Choose** the passing node with the least loss
//!    `loss = (1 - S/R) * H + S/R`, where `H` is the mean of
//!    `level_i / top_i` over the quasi-identifiers with levels (`top_i` their
//!    highest level; a removal level counts as the highest), and 0 when
//!    `R = 0`. Losses are compared exactly (as the integers
//!    `(R - S) * Hn + S * Hd` over the common denominator `R * Hd`); equal
//!    losses go to the smaller level vector in lexicographic order
//!    (quasi-identifiers in output order).
//!
//! Since `loss >= H`, nodes are evaluated in ascending `H` (then
//! lexicographic) order in blocks of [`BLOCK`], and evaluation stops at the
//! first node whose `H` exceeds the best loss found: no later node can do
//! better. No other pruning is applied, so the result does not depend on the
//! ladders being nested (a week is not inside a month). The blocks are
//! evaluated in parallel but reduced in order, so the choice and the count
//! of nodes evaluated do not depend on the thread count.
//!
//! **Memory.** What the search holds, and what each part grows with (never
//! the number of rows as such):
//!
//! - the pairs in memory: at most `max_search_pairs` (above), then on disk;
//! - per quasi-identifier and level, its distinct values as text, and its
//!   distinct vectors of level values (grows with distinct values, such as
//!   the months or amount bands present, not with rows);
//! - nothing per distinct entity: its digest is in its pairs (so the
//!   number of customers costs spill volume, not memory);
//! - while nodes are evaluated, one class table per search thread of at
//!   most `max_search_pairs / 4` classes (at least 64; 33 bytes a class
//!   plus the hash table's slack: about 50 MB at the default; a node whose
//!   product of distinct values is within that limit uses a vector of 16
//!   bytes per possible class instead, no hashing). A node with
//!   more classes (at most its distinct pairs; the finest node, evaluated
//!   first, has the most) is evaluated in parts: its classes are split by a
//!   hash of their number into as many parts as needed (doubled whenever one
//!   part overflows), and the pairs are read once per part. The figures are
//!   sums and minimums over classes, so they do not depend on the split.
//!   When the product of a node's distinct values does not fit in 128 bits
//!   (a lattice far beyond `MAX_NODES` levels of ordinary columns), classes
//!   are numbered through a map that grows with them;
//! - for a merged spill file, a 1 MiB read buffer per thread;
//! - the suppressed classes' keys of the chosen node (at most one per
//!   suppressed row, so bounded by `max_suppression` of the rows).
//!
//! The chosen node is then written in the normal streaming pass, with the
//! rows of its classes below `min_k` suppressed; the risk meter of that pass
//! recomputes entity-k from the written rows and still refuses the release
//! if it falls short. `tests/risk/search_bruteforce.py` enumerates every
//! node independently and must agree with the choice.

// Why this file is long (about 800 lines with its tests): collecting the
// pairs, spilling them and evaluating nodes share the pair encoding; the
// spill (sorted runs, merge) is the seam if it grows.

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::Serialize;

use super::Suppression;
use crate::error::{Error, Result};
use crate::schema::{
    Action, Level, OnInvalid, PrivacyEntity, PrivacyOptions, Schema, SearchOptions,
};

/// Nodes evaluated together (in parallel) before the pruning bound is updated.
pub const BLOCK: usize = 16;

/// Most nodes a lattice may have.
pub const MAX_NODES: u64 = 1_000_000;

/// Entity number of a row whose entity is null: counts as no one.
const NO_ONE: u32 = u32::MAX;

/// Numbers after the vector numbers in a pair's key: the entity.
const ENTITY_WORDS: usize = 4;

/// A row whose entity is null. A digest with every bit set (chance 2^-128
/// per entity) would count as no one too: like a digest collision, that can
/// only lower a class's count, never pass a class that should fail.
const NO_ONE_WORDS: [u32; ENTITY_WORDS] = [NO_ONE; ENTITY_WORDS];

/// The key numbers of an entity: its [`super::EntityDigest`] as four
/// big-endian words, so that pairs sort by digest and one entity's pairs are
/// adjacent whatever order they were read in (no numbering by first
/// appearance, which the thread count could change).
fn entity_words(digest: &super::EntityDigest) -> [u32; ENTITY_WORDS] {
    let b = &digest.0;
    std::array::from_fn(|i| {
        u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    })
}

/// Fewest classes an evaluation table may hold before a node's classes
/// are split into parts (see `Lattice::classes_per_table`).
const MIN_CLASSES_PER_TABLE: usize = 64;

/// The part (of `parts`) class `class` is evaluated in: a multiplicative
/// hash of its number. Any fixed split gives the same figures (they are
/// sums and minimums over classes); this one spreads mixed-radix numbers.
fn part_of(class: u128, parts: u64) -> u64 {
    if parts <= 1 {
        return 0;
    }
    let folded = (class as u64) ^ ((class >> 64) as u64);
    (folded.wrapping_mul(PART_MULTIPLIER) >> 32) % parts
}

/// 2^64 / golden ratio (Knuth's multiplicative hashing).
const PART_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Rows, distinct entities and the last entity counted, of one class.
type Sizes = (u64, u32, u32);

/// Class -> [`Sizes`] for one node (or part of one).
///
/// When the node's class numbers are all below the table's limit (the
/// product of its columns' distinct values is small, as for most nodes
/// above the finest), the table is a vector indexed by class number (16
/// bytes a possible class, no hashing); else a hash map (32 bytes a class
/// plus a control byte). A class with no rows is absent.
enum ClassSizes {
    Dense(Vec<Sizes>),
    Sparse(FastMap<u128, Sizes>),
}

impl ClassSizes {
    /// A table for class numbers below `product` holding at most `limit`
    /// classes.
    fn new(product: Option<u128>, limit: usize) -> ClassSizes {
        match product {
            Some(p) if p <= limit as u128 => ClassSizes::Dense(vec![(0, 0, NO_ONE); p as usize]),
            _ => ClassSizes::Sparse(FastMap::default()),
        }
    }

    fn entry(&mut self, class: u128) -> &mut Sizes {
        match self {
            ClassSizes::Dense(v) => &mut v[class as usize],
            ClassSizes::Sparse(m) => m.entry(class).or_insert((0, 0, NO_ONE)),
        }
    }

    /// Classes held, when that can exceed the limit (a dense table cannot).
    fn sparse_len(&self) -> usize {
        match self {
            ClassSizes::Dense(_) => 0,
            ClassSizes::Sparse(m) => m.len(),
        }
    }

    fn get(&self, class: u128) -> Option<&Sizes> {
        match self {
            ClassSizes::Dense(v) => v.get(class as usize).filter(|s| s.0 > 0),
            ClassSizes::Sparse(m) => m.get(&class),
        }
    }

    /// Every class with rows.
    fn values(&self) -> Box<dyn Iterator<Item = &Sizes> + '_> {
        match self {
            ClassSizes::Dense(v) => Box::new(v.iter().filter(|s| s.0 > 0)),
            ClassSizes::Sparse(m) => Box::new(m.values()),
        }
    }
}

pub use super::chosen::{Chosen, ChosenLevel};

/// Name of the extra output holding level `level` of `output` in the
/// collecting pass.
fn level_output(output: &str, level: usize) -> String {
    format!("\u{1f}level{level}\u{1f}{output}")
}

/// Whether a column's action can make a row bad (`on_invalid = "error"`):
/// such a column is transformed in the collecting pass even when nothing
/// reads its output, so that pass drops exactly the rows the writing pass
/// drops.
fn can_reject_rows(action: &Action) -> bool {
    let on_invalid = match action {
        Action::Drop | Action::Mask(_) => return false,
        Action::Keep { on_invalid }
        | Action::Tokenize { on_invalid, .. }
        | Action::Generalize { on_invalid, .. }
        | Action::TruncateIp { on_invalid, .. } => on_invalid,
        Action::Shift(s) => &s.on_invalid,
        Action::Bucket(s) => &s.on_invalid,
        Action::Age(s) => &s.on_invalid,
    };
    *on_invalid == OnInvalid::Error
}

/// The schema of the collecting pass: one extra output per level of every
/// ladder (same input, that level's action or derived kind), and the
/// columns as declared, except that a column the search does not read (not
/// a quasi-identifier, its levels or the entity) is dropped when it cannot
/// make a row bad, and derived outputs nobody reads are left out: that pass
/// writes nothing, so tokenizing, say, the e-mail addresses there would be
/// work thrown away. No `[privacy]`: the pass measures nothing.
pub fn expand(schema: &Schema) -> Result<Schema> {
    let mut out = expand_levels(schema)?;
    let search = search_of(schema)?;
    let mut read: std::collections::HashSet<String> = search
        .ladders
        .iter()
        .flat_map(|l| {
            (0..l.levels.len())
                .map(|i| level_output(&l.output, i))
                .chain([l.output.clone()])
        })
        .collect();
    read.extend(
        (schema.privacy.as_ref())
            .and_then(|p| p.entity.column())
            .map(str::to_string),
    );
    let read = |output: &str| read.contains(output);
    for c in &mut out.columns {
        c.derive.retain(|d| read(&d.output));
        if c.derive.is_empty() && !read(&c.output) && !can_reject_rows(&c.action) {
            c.action = Action::Drop;
        }
    }
    Ok(out)
}

/// [`expand`] before unread columns are dropped.
fn expand_levels(schema: &Schema) -> Result<Schema> {
    let search = search_of(schema)?;
    let mut out = schema.clone();
    out.privacy = None;
    for ladder in &search.ladders {
        for (l, level) in ladder.levels.iter().enumerate() {
            if let Level::Derive(kind) = level {
                // One more derived output of the same column: computed from
                // the same normalized value, no second token.
                let column = out
                    .columns
                    .iter_mut()
                    .find(|c| c.derive.iter().any(|d| d.output == ladder.output))
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "privacy search: no column derives {:?}",
                            ladder.output
                        ))
                    })?;
                let mut d = column
                    .derive
                    .iter()
                    .find(|d| d.output == ladder.output)
                    .cloned()
                    .ok_or_else(|| Error::Internal("privacy search: derived output".into()))?;
                d.kind = *kind;
                d.output = level_output(&ladder.output, l);
                d.quasi = false;
                d.sensitive = false;
                column.derive.push(d);
                continue;
            }
            let Level::Apply(action) = level else {
                continue;
            };
            let source = schema
                .columns
                .iter()
                .find(|c| c.output == ladder.output && c.action != Action::Drop)
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "privacy search: no column writes {:?}",
                        ladder.output
                    ))
                })?;
            let mut c = source.clone();
            c.action = action.clone();
            c.output = level_output(&ladder.output, l);
            c.quasi = false;
            c.sensitive = false;
            c.derive = Vec::new();
            if out.columns.iter().any(|o| o.output == c.output) {
                return Err(Error::Usage(format!(
                    "privacy search: output name {:?} is reserved",
                    c.output
                )));
            }
            out.columns.push(c);
        }
    }
    Ok(out)
}

fn search_of(schema: &Schema) -> Result<&SearchOptions> {
    schema
        .privacy
        .as_ref()
        .and_then(|p| p.search.as_ref())
        .ok_or_else(|| Error::Internal("privacy search: no [privacy] search".into()))
}

/// The distinct values of one quasi-identifier at every level.
#[derive(Debug, Default)]
struct ColumnState {
    /// Per level: the output column read (None: the removal level).
    sources: Vec<Option<String>>,
    /// Per level: text -> code, the code of null if seen, and code -> text
    /// (None = null).
    interned: Vec<FastMap<Box<str>, u32>>,
    null_code: Vec<Option<u32>>,
    texts: Vec<Vec<Option<Box<str>>>>,
    /// Vector of per-level codes -> vector number.
    vectors: FastMap<Box<[u32]>, u32>,
    /// Per level: vector number -> code (empty for the removal level).
    codes: Vec<Vec<u32>>,
}

impl ColumnState {
    fn levels(&self) -> usize {
        self.sources.len()
    }

    /// Distinct codes at `level` (1 for the removal level: everyone is null).
    fn cardinality(&self, level: usize) -> u64 {
        match self.sources[level] {
            None => 1,
            Some(_) => self.texts[level].len().max(1) as u64,
        }
    }

    fn code(&self, level: usize, vector: u32) -> u32 {
        match self.sources[level] {
            None => 0,
            Some(_) => self.codes[level][vector as usize],
        }
    }
}

/// Pairs of (finest quasi-identifier vector, entity) with their rows,
/// gathered by the collecting pass.
#[derive(Debug)]
pub struct Collector {
    opts: PrivacyOptions,
    search: SearchOptions,
    columns: Vec<ColumnState>,
    /// Vector numbers (one per quasi-identifier) then the entity's
    /// [`ENTITY_WORDS`] numbers.
    pairs: table::PairTable,
    /// Sorted runs of pairs written to disk when `pairs` reached
    /// `max_search_pairs` (unnamed files: see [`spill`]).
    runs: Vec<std::fs::File>,
    /// Where spill files are made (the output's directory).
    spill_dir: std::path::PathBuf,
    rows: u64,
    key: Vec<u32>,
    codes: Vec<u32>,
}

impl Collector {
    /// A collector for `schema`'s `[privacy]` search; pairs beyond
    /// `max_search_pairs` are spilled to unnamed files in `spill_dir`.
    pub fn new(schema: &Schema, spill_dir: &std::path::Path) -> Result<Collector> {
        let opts = schema
            .privacy
            .clone()
            .ok_or_else(|| Error::Internal("privacy search: no [privacy]".into()))?;
        let search = search_of(schema)?.clone();
        let columns = search
            .ladders
            .iter()
            .map(|ladder| {
                let sources: Vec<Option<String>> = ladder
                    .levels
                    .iter()
                    .enumerate()
                    .map(|(l, level)| match level {
                        Level::Declared => Some(ladder.output.clone()),
                        Level::Apply(_) | Level::Derive(_) => Some(level_output(&ladder.output, l)),
                        Level::Remove => None,
                    })
                    .collect();
                let n = sources.len();
                ColumnState {
                    sources,
                    interned: (0..n).map(|_| FastMap::default()).collect(),
                    null_code: vec![None; n],
                    texts: vec![Vec::new(); n],
                    vectors: FastMap::default(),
                    codes: vec![Vec::new(); n],
                }
            })
            .collect::<Vec<ColumnState>>();
        let columns_len = columns.len();
        let max_pairs = usize::try_from(search.max_pairs).unwrap_or(usize::MAX);
        Ok(Collector {
            opts,
            search,
            columns,
            pairs: table::PairTable::new(columns_len + ENTITY_WORDS, max_pairs),
            runs: Vec::new(),
            spill_dir: spill_dir.to_path_buf(),
            rows: 0,
            key: Vec::new(),
            codes: Vec::new(),
        })
    }

    /// Account for one batch of the collecting pass.
    pub fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        let text = |name: &str| -> Result<StringArray> {
            let a = batch.column_by_name(name).ok_or_else(|| {
                Error::Internal(format!("privacy search: output column {name:?} is missing"))
            })?;
            let cast = arrow_cast::cast(a, &DataType::Utf8).map_err(|e| {
                Error::Usage(format!("privacy search: cannot read a column as text: {e}"))
            })?;
            cast.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| Error::Usage("privacy search: column is not text".into()))
        };
        let levels: Vec<Vec<Option<StringArray>>> = self
            .columns
            .iter()
            .map(|c| {
                c.sources
                    .iter()
                    .map(|s| s.as_deref().map(text).transpose())
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let entity = self.opts.entity.column().map(text).transpose()?;
        for row in 0..batch.num_rows() {
            self.key.clear();
            for (state, arrays) in self.columns.iter_mut().zip(&levels) {
                self.codes.clear();
                for (l, array) in arrays.iter().enumerate() {
                    let Some(array) = array else { continue };
                    let value = (!array.is_null(row)).then(|| array.value(row));
                    let known = match value {
                        Some(v) => state.interned[l].get(v).copied(),
                        None => state.null_code[l],
                    };
                    let code = match known {
                        Some(c) => c,
                        None => {
                            let c = u32::try_from(state.texts[l].len()).map_err(|_| {
                                Error::Usage("privacy search: more than 4 billion values".into())
                            })?;
                            match value {
                                Some(v) => {
                                    state.interned[l].insert(Box::from(v), c);
                                }
                                None => state.null_code[l] = Some(c),
                            }
                            state.texts[l].push(value.map(Box::from));
                            c
                        }
                    };
                    self.codes.push(code);
                }
                let vector = match state.vectors.get(self.codes.as_slice()) {
                    Some(&v) => v,
                    None => {
                        let v = u32::try_from(state.vectors.len()).map_err(|_| {
                            Error::Usage("privacy search: more than 4 billion values".into())
                        })?;
                        state
                            .vectors
                            .insert(self.codes.clone().into_boxed_slice(), v);
                        let mut codes = self.codes.iter();
                        for (l, source) in state.sources.iter().enumerate() {
                            if source.is_some() {
                                state.codes[l].push(codes.next().copied().unwrap_or(0));
                            }
                        }
                        v
                    }
                };
                self.key.push(vector);
            }
            let person = match (&self.opts.entity, &entity) {
                (PrivacyEntity::Row, _) => {
                    // Every row is its own entity: the row's number.
                    let row = u32::try_from(self.rows).map_err(|_| {
                        Error::Usage("privacy search: more than 4 billion rows".into())
                    })?;
                    [row, 0, 0, 0]
                }
                (_, Some(col)) if !col.is_null(row) => {
                    entity_words(&super::EntityDigest::of(col.value(row)))
                }
                _ => NO_ONE_WORDS,
            };
            self.key.extend_from_slice(&person);
            self.rows += 1;
            if !self.pairs.add_existing(&self.key, 1) {
                if self.pairs.len() as u64 >= self.search.max_pairs {
                    let run =
                        spill::write_run(&mut self.pairs, self.columns.len(), &self.spill_dir)?;
                    self.runs.push(run);
                }
                self.pairs.insert_new(&self.key, 1);
            }
        }
        Ok(())
    }

    /// Evaluate the lattice and choose a node: the schema to write it with
    /// (ladders pinned, `chosen` set) and the classes to suppress. Exit 2
    /// (`Error::Privacy`) when no node passes.
    pub fn choose(
        self,
        schema: &Schema,
        threads: usize,
        interrupted: &(dyn Fn() -> Option<i32> + Sync),
    ) -> Result<(Schema, Suppression, Chosen)> {
        let lattice = Lattice::new(self)?;
        let (best, evaluated) = lattice.search(threads, interrupted)?;
        let Some((node, _, result)) = best else {
            return Err(Error::Privacy(lattice.no_node_message()));
        };
        let chosen = lattice.chosen(&node, &result, evaluated);
        let suppression = lattice.suppression(&node)?;
        let mut pinned = schema.clone();
        let search = &lattice.search;
        let mut removed = Vec::new();
        for (ladder, &l) in search.ladders.iter().zip(&node) {
            match &ladder.levels[l] {
                Level::Declared => {}
                Level::Remove => removed.push(ladder.output.clone()),
                Level::Apply(action) => {
                    for c in pinned.columns.iter_mut() {
                        if c.output == ladder.output && c.action != Action::Drop {
                            c.action = action.clone();
                        }
                    }
                }
                Level::Derive(kind) => {
                    for d in pinned.columns.iter_mut().flat_map(|c| c.derive.iter_mut()) {
                        if d.output == ladder.output {
                            d.kind = *kind;
                        }
                    }
                }
            }
        }
        if let Some(p) = pinned.privacy.as_mut() {
            p.search = None;
            p.removed = removed;
            p.chosen = Some(chosen.clone());
        }
        Ok((pinned, suppression, chosen))
    }

    /// Every node with its figures, for `privacy-search`: the passing
    /// nodes no other passing node beats on both height and suppression.
    pub fn frontier(
        self,
        threads: usize,
        interrupted: &(dyn Fn() -> Option<i32> + Sync),
    ) -> Result<Frontier> {
        let lattice = Lattice::new(self)?;
        let nodes = lattice.ordered_nodes();
        let pool = pool(threads)?;
        let mut results = Vec::with_capacity(nodes.len());
        for block in nodes.chunks(BLOCK * 8) {
            if let Some(sig) = interrupted() {
                return Err(Error::Interrupted(sig));
            }
            let r: Vec<NodeResult> = pool.install(|| {
                block
                    .par_iter()
                    .map(|n| lattice.evaluate(n))
                    .collect::<Result<_>>()
            })?;
            results.extend(block.iter().cloned().zip(r));
        }
        let passing: Vec<(Vec<usize>, NodeResult)> = results
            .into_iter()
            .filter(|(_, r)| lattice.passes(r))
            .collect();
        let best = passing
            .iter()
            .min_by(|(a, ra), (b, rb)| {
                (lattice.loss_num(a, ra), a).cmp(&(lattice.loss_num(b, rb), b))
            })
            .map(|(n, r)| lattice.chosen(n, r, lattice.size));
        let mut front: Vec<Chosen> = Vec::new();
        for (node, r) in &passing {
            let h = lattice.height_num(node);
            let dominated = passing.iter().any(|(other, o)| {
                let oh = lattice.height_num(other);
                (oh <= h && o.suppressed <= r.suppressed) && (oh < h || o.suppressed < r.suppressed)
            });
            if !dominated {
                front.push(lattice.chosen(node, r, lattice.size));
            }
        }
        front.sort_by(|a, b| {
            a.height
                .total_cmp(&b.height)
                .then(a.suppressed_rows.cmp(&b.suppressed_rows))
                .then(a.vector().cmp(&b.vector()))
        });
        Ok(Frontier {
            min_k: lattice.opts.min_k,
            entity: lattice.opts.entity.name().to_string(),
            max_suppression: lattice.search.max_suppression,
            chosen: best,
            nodes: lattice.size,
            passing: passing.len() as u64,
            rows: lattice.rows,
            pairs: lattice.pairs.len(),
            frontier: front,
        })
    }
}

/// `privacy-search`: the passing nodes on the height/suppression frontier.
#[derive(Debug, Clone, Serialize)]
pub struct Frontier {
    /// `[privacy].min_k`.
    pub min_k: u64,
    /// `[privacy].entity`.
    pub entity: String,
    /// `[privacy].max_suppression`.
    pub max_suppression: f64,
    /// The node `anonymize` would choose (least loss), if any passes.
    pub chosen: Option<Chosen>,
    /// Nodes in the lattice (all evaluated).
    pub nodes: u64,
    /// Nodes that pass.
    pub passing: u64,
    /// Rows seen.
    pub rows: u64,
    /// Distinct (entity, finest tuple) pairs.
    pub pairs: u64,
    /// Passing nodes not beaten on both height and suppressed rows, by height.
    pub frontier: Vec<Chosen>,
}

fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("txanon-search-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {threads} search threads: {e}")))
}

mod spill;
mod table;

#[derive(Debug, Clone, Default)]
struct NodeResult {
    suppressed: u64,
    k: u64,
    classes: u64,
}

/// The collected pairs, sorted by entity, ready for evaluation.
struct Lattice {
    opts: PrivacyOptions,
    search: SearchOptions,
    columns: Vec<ColumnState>,
    /// (vector numbers..., entity words) and rows, sorted by entity.
    pairs: spill::Pairs,
    rows: u64,
    size: u64,
    /// Per quasi-identifier: highest level (0 without levels).
    tops: Vec<u64>,
    /// `Hd`: ladders with levels times the lcm of their tops.
    hden: u128,
    lcm: u128,
}

/// Numbers the classes of one node: mixed radix over the level codes when
/// the product of the cardinalities fits in 128 bits, else interned in
/// order of first appearance.
struct Classifier<'a> {
    /// Per quasi-identifier: vector number -> code at the node's level
    /// (None: the removal level, code 0).
    codes: Vec<Option<&'a [u32]>>,
    radix: Option<Vec<u128>>,
    /// The product of the radixes, when it fits.
    product: Option<u128>,
    interned: FastMap<Vec<u32>, u128>,
    /// When the product fits in 64 bits: per quasi-identifier not at its
    /// removal level, its index in the key and, per vector number, its
    /// code times the column's weight in the mixed radix (the product of
    /// the radixes after it). A class is then the sum of one entry per
    /// column: the same number as the mixed-radix fold, without the
    /// multiplications.
    weighted: Option<Vec<(usize, Vec<u64>)>>,
}

impl<'a> Classifier<'a> {
    fn new(node: &'a [usize], columns: &'a [ColumnState]) -> Classifier<'a> {
        let radix: Vec<u128> = node
            .iter()
            .zip(columns)
            .map(|(&l, c)| u128::from(c.cardinality(l)))
            .collect();
        let product = radix.iter().try_fold(1u128, |acc, &r| acc.checked_mul(r));
        let codes: Vec<Option<&[u32]>> = node
            .iter()
            .zip(columns)
            .map(|(&l, c)| c.sources[l].as_ref().map(|_| c.codes[l].as_slice()))
            .collect();
        let weighted = product.filter(|&p| p <= u128::from(u64::MAX)).map(|_| {
            let mut weight = 1u64;
            let mut tables = Vec::new();
            for (i, (c, &r)) in codes.iter().zip(&radix).enumerate().rev() {
                if let Some(c) = c {
                    tables.push((i, c.iter().map(|&v| u64::from(v) * weight).collect()));
                }
                // Fits: the product of every radix does.
                weight = weight.wrapping_mul(r as u64);
            }
            tables.reverse();
            tables
        });
        Classifier {
            codes,
            radix: product.is_some().then_some(radix),
            product,
            interned: FastMap::default(),
            weighted,
        }
    }

    fn class(&mut self, key: &[u32]) -> u128 {
        if let Some(tables) = &self.weighted {
            // Below the product, so no overflow.
            let class: u64 = tables.iter().map(|(i, t)| t[key[*i] as usize]).sum();
            return u128::from(class);
        }
        let codes = self.codes.iter().zip(key).map(|(c, &v)| match c {
            Some(c) => c[v as usize],
            None => 0,
        });
        match &self.radix {
            Some(radix) => codes
                .zip(radix)
                .fold(0u128, |acc, (v, &r)| acc * r + u128::from(v)),
            None => {
                let codes: Vec<u32> = codes.collect();
                let next = self.interned.len() as u128;
                *self.interned.entry(codes).or_insert(next)
            }
        }
    }
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Lattice {
    fn new(c: Collector) -> Result<Lattice> {
        let n = c.columns.len();
        let pairs = spill::Pairs::new(c.pairs, c.runs, n, &c.spill_dir)?;
        let mut size = 1u64;
        for col in &c.columns {
            size = size.saturating_mul(col.levels() as u64);
        }
        if size > MAX_NODES {
            return Err(Error::Privacy(format!(
                "privacy search: the ladders make {size} nodes, more than {MAX_NODES}; \
                 declare fewer levels; nothing was written"
            )));
        }
        let tops: Vec<u64> = c.columns.iter().map(|s| s.levels() as u64 - 1).collect();
        let lcm = tops
            .iter()
            .filter(|&&t| t > 0)
            .fold(1u128, |acc, &t| acc / gcd(acc, t as u128) * t as u128);
        let ladders = tops.iter().filter(|&&t| t > 0).count() as u128;
        Ok(Lattice {
            opts: c.opts,
            search: c.search,
            columns: c.columns,
            pairs,
            rows: c.rows,
            size,
            tops,
            hden: ladders.max(1) * lcm,
            lcm,
        })
    }

    /// `Hn`: `H = Hn / Hd`.
    fn height_num(&self, node: &[usize]) -> u128 {
        node.iter()
            .zip(&self.tops)
            .filter(|(_, &t)| t > 0)
            .map(|(&l, &t)| l as u128 * (self.lcm / t as u128))
            .sum()
    }

    /// Every node, by ascending height then level vector.
    fn ordered_nodes(&self) -> Vec<Vec<usize>> {
        let mut nodes: Vec<Vec<usize>> = vec![Vec::new()];
        for col in &self.columns {
            nodes = nodes
                .into_iter()
                .flat_map(|n| {
                    (0..col.levels()).map(move |l| {
                        let mut m = n.clone();
                        m.push(l);
                        m
                    })
                })
                .collect();
        }
        nodes.sort_by(|a, b| {
            self.height_num(a)
                .cmp(&self.height_num(b))
                .then_with(|| a.cmp(b))
        });
        nodes
    }

    /// Loss numerator over the common denominator `R * Hd`.
    fn loss_num(&self, node: &[usize], r: &NodeResult) -> u128 {
        let rows = u128::from(self.rows);
        let s = u128::from(r.suppressed);
        (rows - s) * self.height_num(node) + s * self.hden
    }

    fn passes(&self, r: &NodeResult) -> bool {
        if self.rows == 0 {
            return true;
        }
        r.suppressed < self.rows
            && (r.suppressed as f64) <= self.search.max_suppression * (self.rows as f64)
    }

    /// Most classes one evaluation table holds: `max_search_pairs / 4`, at
    /// least [`MIN_CLASSES_PER_TABLE`].
    fn classes_per_table(&self) -> usize {
        usize::try_from(self.search.max_pairs / 4)
            .unwrap_or(usize::MAX)
            .max(MIN_CLASSES_PER_TABLE)
    }

    /// Parts to split `node`'s classes into at first: its distinct classes
    /// are at most the product of its columns' distinct values and at most
    /// the distinct pairs; one part per `classes_per_table` of that bound.
    fn first_parts(&self, node: &[usize]) -> u64 {
        let product = node
            .iter()
            .zip(&self.columns)
            .fold(1u64, |acc, (&l, c)| acc.saturating_mul(c.cardinality(l)));
        let bound = product.min(self.pairs.len());
        bound.div_ceil(self.classes_per_table() as u64).max(1)
    }

    /// Rows and distinct entities per class of `node` in part `part` of
    /// `parts` (see [`part_of`]); `None` when the part holds more than
    /// `classes_per_table` classes (split it further).
    ///
    /// Pairs are sorted by entity digest, so an entity's pairs are
    /// adjacent: each gets a *run number* that grows by one whenever the
    /// digest changes in the stream, and a class counts an entity when its
    /// run number differs from the last one the class counted. Adjacent
    /// pairs of one entity that fall in the same class (sorted by entity,
    /// then by their vector numbers, so at a coarse node many do) are summed
    /// before the class table is touched: the same figures with fewer table
    /// updates.
    fn class_sizes(&self, node: &[usize], part: u64, parts: u64) -> Result<Option<ClassSizes>> {
        let n = self.columns.len();
        let limit = self.classes_per_table();
        let mut classify = Classifier::new(node, &self.columns);
        let dense = if parts == 1 { classify.product } else { None };
        let mut sizes = ClassSizes::new(dense, limit);
        let row_entities = self.opts.entity == PrivacyEntity::Row;
        let mut overflow = false;
        let add = |sizes: &mut ClassSizes, class: u128, e: u32, rows: u64| {
            let entry = sizes.entry(class);
            entry.0 += rows;
            if row_entities {
                // One pair per row (its number is the entity): rows is 1.
                entry.1 = entry
                    .1
                    .saturating_add(u32::try_from(rows).unwrap_or(u32::MAX));
            } else if e != NO_ONE && entry.2 != e {
                // Pairs are sorted by entity: an entity's pairs are adjacent.
                entry.1 += 1;
                entry.2 = e;
            }
            sizes.sparse_len() > limit
        };
        // (class, entity run number, rows) not yet added.
        let mut pending: Option<(u128, u32, u64)> = None;
        // The last entity's words, and its run number (wraps to 0 at the
        // first pair).
        let mut last: Option<[u32; ENTITY_WORDS]> = None;
        let mut run = NO_ONE;
        let mut too_many = false;
        self.pairs.for_each(|key, rows| {
            let words = &key[n..];
            if last.is_none_or(|w| w != words) {
                let mut w = NO_ONE_WORDS;
                w.copy_from_slice(words);
                last = Some(w);
                run = run.wrapping_add(1);
                if run == NO_ONE {
                    too_many = true;
                    return false;
                }
            }
            let class = classify.class(key);
            if part_of(class, parts) != part {
                return true;
            }
            let e = if !row_entities && words == NO_ONE_WORDS {
                NO_ONE
            } else {
                run
            };
            match &mut pending {
                Some((c, pe, r)) if *c == class && *pe == e => *r += rows,
                _ => {
                    if let Some((c, pe, r)) = pending.replace((class, e, rows)) {
                        overflow = add(&mut sizes, c, pe, r);
                    }
                }
            }
            !overflow
        })?;
        if too_many {
            return Err(Error::Usage(
                "privacy search: more than 4 billion entities".into(),
            ));
        }
        if let (false, Some((c, pe, r))) = (overflow, pending) {
            overflow = add(&mut sizes, c, pe, r);
        }
        Ok((!overflow).then_some(sizes))
    }

    /// Visit the class table of every part of `node`'s classes, one part at
    /// a time, splitting into twice as many parts whenever one overflows
    /// (then `start` is called and every part is visited again).
    fn for_each_part(
        &self,
        node: &[usize],
        start: &mut dyn FnMut(),
        visit: &mut dyn FnMut(u64, u64, &ClassSizes) -> Result<()>,
    ) -> Result<()> {
        let mut parts = self.first_parts(node);
        'split: loop {
            start();
            let mut part = 0;
            while part < parts {
                match self.class_sizes(node, part, parts)? {
                    Some(sizes) => visit(part, parts, &sizes)?,
                    None => {
                        parts = parts.saturating_mul(2);
                        continue 'split;
                    }
                }
                part += 1;
            }
            return Ok(());
        }
    }

    fn evaluate(&self, node: &[usize]) -> Result<NodeResult> {
        let min_k = self.opts.min_k;
        let fresh = || NodeResult {
            suppressed: 0,
            k: u64::MAX,
            classes: 0,
        };
        let r = std::cell::RefCell::new(fresh());
        self.for_each_part(
            node,
            &mut || *r.borrow_mut() = fresh(),
            &mut |_, _, sizes| {
                let mut r = r.borrow_mut();
                for &(rows, people, _) in sizes.values() {
                    let people = u64::from(people);
                    if people < min_k {
                        r.suppressed += rows;
                    } else {
                        r.classes += 1;
                        r.k = r.k.min(people);
                    }
                }
                Ok(())
            },
        )?;
        let mut r = r.into_inner();
        if r.classes == 0 {
            r.k = 0;
        }
        Ok(r)
    }

    /// Best passing node `(levels, loss numerator, figures)` and the nodes evaluated.
    #[allow(clippy::type_complexity)]
    fn search(
        &self,
        threads: usize,
        interrupted: &(dyn Fn() -> Option<i32> + Sync),
    ) -> Result<(Option<(Vec<usize>, u128, NodeResult)>, u64)> {
        let nodes = self.ordered_nodes();
        let pool = pool(threads)?;
        let rows = u128::from(self.rows);
        let mut best: Option<(Vec<usize>, u128, NodeResult)> = None;
        let mut evaluated = 0u64;
        let mut at = 0;
        while at < nodes.len() {
            if let Some(sig) = interrupted() {
                return Err(Error::Interrupted(sig));
            }
            let bound = best.as_ref().map(|b| b.1);
            let block: Vec<&Vec<usize>> = nodes[at..]
                .iter()
                .take(BLOCK)
                .take_while(|n| bound.is_none_or(|b| self.height_num(n) * rows <= b))
                .collect();
            if block.is_empty() {
                break;
            }
            at += block.len();
            evaluated += block.len() as u64;
            let results: Vec<NodeResult> = pool.install(|| {
                block
                    .par_iter()
                    .map(|n| self.evaluate(n))
                    .collect::<Result<_>>()
            })?;
            for (node, r) in block.into_iter().zip(results) {
                if !self.passes(&r) {
                    continue;
                }
                let loss = self.loss_num(node, &r);
                let better = match &best {
                    None => true,
                    Some((bn, bl, _)) => (loss, node) < (*bl, bn),
                };
                if better {
                    best = Some((node.clone(), loss, r));
                }
            }
        }
        Ok((best, evaluated))
    }

    fn chosen(&self, node: &[usize], r: &NodeResult, evaluated: u64) -> Chosen {
        let denom = (u128::from(self.rows) * self.hden) as f64;
        let loss = if self.rows == 0 {
            0.0
        } else {
            self.loss_num(node, r) as f64 / denom
        };
        Chosen {
            levels: node
                .iter()
                .zip(&self.search.ladders)
                .zip(&self.tops)
                .map(|((&l, ladder), &top)| ChosenLevel {
                    column: ladder.output.clone(),
                    level: l,
                    top: top as usize,
                    name: ladder.names[l].clone(),
                })
                .collect(),
            loss,
            height: self.height_num(node) as f64 / self.hden as f64,
            k: r.k,
            suppressed_rows: r.suppressed,
            rows: self.rows,
            max_suppression: self.search.max_suppression,
            nodes: self.size,
            nodes_evaluated: evaluated,
            pairs: self.pairs.len(),
            search_seconds: 0.0,
        }
    }

    /// The classes of `node` below `min_k`, as the risk meter's class keys
    /// of the values the writing pass will produce.
    fn suppression(&self, node: &[usize]) -> Result<Suppression> {
        let out = std::cell::RefCell::new(Suppression::default());
        self.for_each_part(
            node,
            &mut || *out.borrow_mut() = Suppression::default(),
            &mut |part, parts, sizes| {
                let mut out = out.borrow_mut();
                let mut classify = Classifier::new(node, &self.columns);
                let mut done: FastMap<u128, ()> = FastMap::default();
                self.pairs.for_each(|key, _| {
                    let class = classify.class(key);
                    if part_of(class, parts) != part {
                        return true;
                    }
                    let Some(&(_, people, _)) = sizes.get(class) else {
                        return true;
                    };
                    if u64::from(people) >= self.opts.min_k || done.insert(class, ()).is_some() {
                        return true;
                    }
                    let mut bytes = Vec::new();
                    for ((&l, c), &v) in node.iter().zip(&self.columns).zip(key.iter()) {
                        let text = match c.sources[l] {
                            None => None,
                            Some(_) => c.texts[l][c.code(l, v) as usize].as_deref(),
                        };
                        super::push_key(&mut bytes, text);
                    }
                    out.classes.insert(bytes.into_boxed_slice());
                    true
                })
            },
        )?;
        Ok(out.into_inner())
    }

    fn no_node_message(&self) -> String {
        let top: Vec<usize> = self.tops.iter().map(|&t| t as usize).collect();
        let r = self.evaluate(&top).unwrap_or_default();
        format!(
            "search: no node of the {}-node lattice reaches [privacy].min_k = {} distinct {} with at most \
             [privacy].max_suppression = {} of the {} rows suppressed (the coarsest node suppresses {} \
             rows, {:.2}%); raise max_suppression, lower min_k, or add coarser levels \
             (or removable = true); nothing was written",
            self.size,
            self.opts.min_k,
            match &self.opts.entity {
                PrivacyEntity::Row => "rows",
                PrivacyEntity::Column(_) => "entities",
            },
            self.search.max_suppression,
            self.rows,
            r.suppressed,
            if self.rows == 0 {
                0.0
            } else {
                r.suppressed as f64 * 100.0 / self.rows as f64
            }
        )
    }
}

#[cfg(test)]
mod tests;
