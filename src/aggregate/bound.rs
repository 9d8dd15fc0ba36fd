//! Contribution bounding, streaming: each entity keeps at most
//! `max_groups_per_entity` groups and, in each, at most `max_rows_per_group`
//! rows. Both are reservoir samples (Vitter's algorithm R) drawn with the
//! operating system's random generator (`getrandom`), so which rows of a
//! heavy entity count is neither the first ones nor predictable.
//!
//! [`Bounder`] keeps every entity's reservoirs in memory: it grows with the
//! distinct (entity, group) pairs, and as a log is not grouped by entity, an
//! entity's reservoirs must stay until the end. [`PartitionedBounder`] is
//! what `txanon aggregate` uses instead, so that memory does not grow with
//! the number of customers: each row becomes one fixed-size record (the
//! entity's [`crate::risk`] digest, 16 bytes, never its text; the group
//! number; the clamped values, 8 bytes each) appended to one of
//! [`PARTITIONS`] unnamed spill files ([`crate::io::spill::Partitions`])
//! chosen from the digest. At the end each partition is read back into a
//! fresh [`Bounder`] with a partition-local entity map, its totals are
//! folded into the per-group totals, and it is dropped before the next one.
//!
//! The figures are the same as one [`Bounder`] over the whole stream: all
//! rows of an entity are in one partition, in stream order, so its
//! reservoirs draw the same uniform samples; totals are sums over entities,
//! folded in 128 bits ([`Folded`]) so that they do not depend on the order
//! of partitions or entities. Sizes: [`PARTITIONS`] = 64 files take 4 MiB
//! of write buffers; a partition holds about 1/64 of the entities (SHA-256
//! digests spread evenly), and one whose file exceeds
//! [`MAX_PARTITION_BYTES`] (16 MiB: about 600,000 rows with one summed
//! column, at most a few tens of MiB of reservoirs) is split again, once,
//! into up to 64 parts by other digest bytes before it is read. So memory
//! stays flat up to about 64 × 64 × 16 MiB = 64 GiB of records (over two
//! billion rows), and grows slowly beyond. The spill is written once and
//! read once (28 bytes a row with one summed column, about a tenth of the
//! input's CSV bytes).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::{Map as HashMap, Set as HashSet};

use crate::error::{Error, Result};
use crate::io::spill::{spill_error, Partitions};

/// Uniform integers from the operating system's random generator, fetched
/// in blocks.
pub struct OsUniform {
    buffer: Vec<u64>,
}

impl OsUniform {
    /// An empty buffer (filled on first use).
    pub fn new() -> OsUniform {
        OsUniform { buffer: Vec::new() }
    }

    fn next_u64(&mut self) -> Result<u64> {
        if let Some(x) = self.buffer.pop() {
            return Ok(x);
        }
        let mut bytes = [0u8; 4096];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Internal(format!("the OS random generator failed: {e}")))?;
        self.buffer = bytes
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        self.next_u64()
    }

    /// A uniform integer in `[0, n)` (`n` > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> Result<u64> {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64()?;
            if x < zone {
                return Ok(x % n);
            }
        }
    }
}

impl Default for OsUniform {
    fn default() -> Self {
        OsUniform::new()
    }
}

/// One entity's rows in one group: how many were seen and the kept values
/// (`values` per kept row, flattened).
#[derive(Debug, Default)]
struct Cell {
    group: u32,
    seen: u64,
    kept: u32,
    values: Vec<i64>,
}

#[derive(Debug, Default)]
struct Entity {
    /// Kept groups (at most `max_groups`).
    cells: Vec<Cell>,
    /// Distinct groups seen (the reservoir's stream length).
    groups_seen: u64,
}

/// The bounded contributions of every entity, fed row by row.
pub struct Bounder {
    max_groups: u32,
    max_rows: u32,
    /// Values per row (one per summed column).
    width: usize,
    entities: Vec<Entity>,
    /// (entity, group) pairs left out of an entity's group reservoir.
    rejected: HashSet<u64>,
    random: OsUniform,
}

/// A kept value that was null (adds nothing to a sum, and is not counted
/// in the denominator of a mean). Clamped values are far from it (bounds are
/// at most 10^15 in magnitude).
pub const NULL: i64 = i64::MIN;

/// True (pre-noise) aggregates of one group after contribution bounding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTotals {
    /// Rows kept.
    pub rows: i64,
    /// Distinct entities with a kept row.
    pub entities: i64,
    /// Sum of each summed column's kept (clamped) values, in minor units.
    pub sums: Vec<i64>,
    /// Per summed column, the kept rows whose value is not null (the
    /// denominator of a mean).
    pub present: Vec<i64>,
}

impl GroupTotals {
    /// No rows, for `width` summed columns.
    pub fn empty(width: usize) -> GroupTotals {
        GroupTotals {
            sums: vec![0; width],
            present: vec![0; width],
            ..GroupTotals::default()
        }
    }
}

impl Bounder {
    /// A bounder for rows of `width` values each.
    pub fn new(max_groups: u32, max_rows: u32, width: usize) -> Bounder {
        Bounder {
            max_groups,
            max_rows,
            width,
            entities: Vec::new(),
            rejected: HashSet::default(),
            random: OsUniform::new(),
        }
    }

    /// One row of `entity` in `group` with its (already clamped) values
    /// ([`NULL`] for a null).
    pub fn add(&mut self, entity: u32, group: u32, values: &[i64]) -> Result<()> {
        debug_assert_eq!(values.len(), self.width);
        let e = entity as usize;
        if e >= self.entities.len() {
            self.entities.resize_with(e + 1, Entity::default);
        }
        let pair = (u64::from(entity) << 32) | u64::from(group);
        let ent = &mut self.entities[e];
        let slot = match ent.cells.iter().position(|c| c.group == group) {
            Some(i) => i,
            None => {
                if self.rejected.contains(&pair) {
                    return Ok(());
                }
                ent.groups_seen += 1;
                let fresh = Cell {
                    group,
                    ..Cell::default()
                };
                if ent.cells.len() < self.max_groups as usize {
                    ent.cells.push(fresh);
                    ent.cells.len() - 1
                } else {
                    let j = self.random.below(ent.groups_seen)?;
                    if j >= u64::from(self.max_groups) {
                        self.rejected.insert(pair);
                        return Ok(());
                    }
                    let j = j as usize;
                    let evicted = std::mem::replace(&mut ent.cells[j], fresh);
                    self.rejected
                        .insert((u64::from(entity) << 32) | u64::from(evicted.group));
                    j
                }
            }
        };
        let cell = &mut ent.cells[slot];
        cell.seen += 1;
        if cell.kept < self.max_rows {
            cell.kept += 1;
            cell.values.extend_from_slice(values);
        } else {
            let j = self.random.below(cell.seen)?;
            if j < u64::from(self.max_rows) && self.width > 0 {
                let at = j as usize * self.width;
                cell.values[at..at + self.width].copy_from_slice(values);
            }
        }
        Ok(())
    }

    /// The bounded totals per group id (groups without a kept row are absent).
    pub fn totals(&self) -> HashMap<u32, GroupTotals> {
        let mut out = Folded::new(self.width);
        self.fold_into(&mut out);
        out.finish()
    }

    /// Add this bounder's kept rows to `out` (of the same width).
    pub fn fold_into(&self, out: &mut Folded) {
        debug_assert_eq!(out.width, self.width);
        for ent in &self.entities {
            for cell in &ent.cells {
                let t = out.groups.entry(cell.group).or_insert_with(|| Wide {
                    rows: 0,
                    entities: 0,
                    sums: vec![0; self.width],
                    present: vec![0; self.width],
                });
                t.rows += i64::from(cell.kept);
                t.entities += 1;
                if self.width > 0 {
                    for row in cell.values.chunks_exact(self.width) {
                        for ((s, n), v) in t.sums.iter_mut().zip(&mut t.present).zip(row) {
                            if *v != NULL {
                                // At most 2^63 rows of at most 2^63: exact.
                                *s += i128::from(*v);
                                *n += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One group's totals while they are being folded: sums in 128 bits.
#[derive(Debug)]
struct Wide {
    rows: i64,
    entities: i64,
    sums: Vec<i128>,
    present: Vec<i64>,
}

/// Per-group totals folded from one or more bounders (one per partition).
/// Sums are kept exact in 128 bits and saturated to 64 only by
/// [`Folded::finish`], so the result does not depend on the order in which
/// partitions and entities are added (saturating 64-bit additions would,
/// when a sum with negative values crosses a bound).
#[derive(Debug)]
pub struct Folded {
    width: usize,
    groups: HashMap<u32, Wide>,
}

impl Folded {
    /// No groups yet, for rows of `width` values.
    pub fn new(width: usize) -> Folded {
        Folded {
            width,
            groups: HashMap::default(),
        }
    }

    /// The totals per group id, each sum saturated to 64 bits.
    pub fn finish(self) -> HashMap<u32, GroupTotals> {
        let narrow = |s: i128| i64::try_from(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX });
        self.groups
            .into_iter()
            .map(|(g, w)| {
                let t = GroupTotals {
                    rows: w.rows,
                    entities: w.entities,
                    sums: w.sums.into_iter().map(narrow).collect(),
                    present: w.present,
                };
                (g, t)
            })
            .collect()
    }
}

/// Spill files of a [`PartitionedBounder`].
pub const PARTITIONS: usize = 64;

/// A partition file larger than this is split again before it is read.
pub const MAX_PARTITION_BYTES: u64 = 16 << 20;

/// What spill errors name.
const WHAT: &str = "aggregate";

/// Contribution bounding whose memory does not grow with the number of
/// entities: rows are spilled to partitions by entity digest and bounded
/// one partition at a time (see the module documentation).
pub struct PartitionedBounder {
    bounds: Bounds,
    dir: PathBuf,
    parts: Partitions,
    record: Vec<u8>,
    max_partition_bytes: u64,
}

impl PartitionedBounder {
    /// A bounder for rows of `width` values, spilling to `partitions` unnamed
    /// files in `dir`.
    pub fn new(
        dir: &Path,
        partitions: usize,
        max_groups: u32,
        max_rows: u32,
        width: usize,
    ) -> PartitionedBounder {
        PartitionedBounder {
            bounds: Bounds {
                max_groups,
                max_rows,
                width,
            },
            dir: dir.to_path_buf(),
            parts: Partitions::new(dir, partitions, WHAT),
            record: Vec::with_capacity(20 + 8 * width),
            max_partition_bytes: MAX_PARTITION_BYTES,
        }
    }

    /// Split partition files larger than `bytes` again (tests).
    #[cfg(test)]
    fn with_max_partition_bytes(mut self, bytes: u64) -> PartitionedBounder {
        self.max_partition_bytes = bytes;
        self
    }

    /// One row of the entity with `digest` in `group`, with its (already
    /// clamped) values ([`NULL`] for a null).
    pub fn add(&mut self, digest: &[u8; 16], group: u32, values: &[i64]) -> Result<()> {
        debug_assert_eq!(values.len(), self.bounds.width);
        self.record.clear();
        self.record.extend_from_slice(digest);
        self.record.extend_from_slice(&group.to_le_bytes());
        for v in values {
            self.record.extend_from_slice(&v.to_le_bytes());
        }
        let part = self.parts.of_digest(digest);
        self.parts.push(part, &self.record)
    }

    /// The bounded totals per group id (groups without a kept row are
    /// absent): each partition bounded on its own, then folded.
    pub fn totals(self) -> Result<HashMap<u32, GroupTotals>> {
        let bounds = self.bounds;
        let len = bounds.record_len();
        let mut out = Folded::new(bounds.width);
        for file in self.parts.finish()?.into_iter().flatten() {
            let bytes = file.metadata().map_err(|e| spill_error(WHAT, e))?.len();
            if bytes <= self.max_partition_bytes {
                bounds.bound(file, bytes, &mut out)?;
                continue;
            }
            // Too big to bound at once: split by other digest bytes (the
            // first ones chose this partition), once.
            let count = bytes
                .div_ceil(self.max_partition_bytes)
                .min(PARTITIONS as u64);
            let mut sub = Partitions::new(&self.dir, count as usize, WHAT);
            for_each_record(file, bytes, len, |record| {
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&record[8..16]);
                sub.push((u64::from_le_bytes(tail) % count) as usize, record)
            })?;
            for file in sub.finish()?.into_iter().flatten() {
                let bytes = file.metadata().map_err(|e| spill_error(WHAT, e))?.len();
                bounds.bound(file, bytes, &mut out)?;
            }
        }
        Ok(out.finish())
    }
}

/// The contribution bounds and record width of a [`PartitionedBounder`].
#[derive(Debug, Clone, Copy)]
struct Bounds {
    max_groups: u32,
    max_rows: u32,
    width: usize,
}

impl Bounds {
    /// Bytes of one record: digest, group, values.
    fn record_len(&self) -> usize {
        20 + 8 * self.width
    }

    /// Bound the records of one partition file (`bytes` long) with a fresh
    /// [`Bounder`] and add its totals to `out`.
    fn bound(&self, file: File, bytes: u64, out: &mut Folded) -> Result<()> {
        let mut bounder = Bounder::new(self.max_groups, self.max_rows, self.width);
        let mut ids: HashMap<[u8; 16], u32> = HashMap::default();
        let mut values = vec![0i64; self.width];
        for_each_record(file, bytes, self.record_len(), |record| {
            let mut digest = [0u8; 16];
            digest.copy_from_slice(&record[..16]);
            let mut word = [0u8; 4];
            word.copy_from_slice(&record[16..20]);
            let group = u32::from_le_bytes(word);
            for (v, b) in values.iter_mut().zip(record[20..].chunks_exact(8)) {
                let mut word = [0u8; 8];
                word.copy_from_slice(b);
                *v = i64::from_le_bytes(word);
            }
            let next = u32::try_from(ids.len()).map_err(|_| {
                Error::Internal("aggregate: more than 2^32 entities in one partition".into())
            })?;
            let entity = *ids.entry(digest).or_insert(next);
            bounder.add(entity, group, &values)
        })?;
        drop(ids);
        bounder.fold_into(out);
        Ok(())
    }
}

/// Call `each` with every `len`-byte record of a spill file `bytes` long.
fn for_each_record(
    file: File,
    bytes: u64,
    len: usize,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    if !bytes.is_multiple_of(len as u64) {
        return Err(Error::Internal(format!(
            "{WHAT}: a spill file of {bytes} bytes does not hold whole {len}-byte records"
        )));
    }
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut record = vec![0u8; len];
    for _ in 0..bytes / len as u64 {
        reader
            .read_exact(&mut record)
            .map_err(|e| spill_error(WHAT, e))?;
        each(&record)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heavy_entity_adds_at_most_the_bounds() {
        let mut b = Bounder::new(3, 5, 1);
        for i in 0..10_000u32 {
            b.add(7, i % 40, &[100]).unwrap();
        }
        b.add(8, 0, &[1]).unwrap();
        let t = b.totals();
        let from_7: Vec<_> = t
            .iter()
            .filter(|(g, _)| **g != 0 || t[&0].entities == 2)
            .collect();
        assert!(t.len() <= 4);
        let rows_7: i64 = t
            .iter()
            .map(|(g, v)| if *g == 0 { v.rows - 1 } else { v.rows })
            .sum::<i64>()
            .max(0);
        assert!(rows_7 <= 15, "{rows_7}");
        assert!(!from_7.is_empty());
        for v in t.values() {
            assert!(v.rows <= 6 && v.entities <= 2);
        }
    }

    /// Rows of `entities` entities over `groups` groups with values of both
    /// signs and nulls, from a fixed LCG: (digest, dense entity, group, value).
    fn stream(entities: u64, groups: u64, rows: u64) -> Vec<([u8; 16], u32, u32, i64)> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 11
        };
        (0..rows)
            .map(|_| {
                let e = next() % entities;
                let g = (next() % groups) as u32;
                let v = match next() % 10 {
                    0 => NULL,
                    _ => (next() % 2_000_001) as i64 - 1_000_000,
                };
                let d = *crate::risk::EntityDigest::of(&format!("e{e}")).bytes();
                (d, e as u32, g, v)
            })
            .collect()
    }

    #[test]
    fn with_bounds_that_do_not_bind_totals_do_not_depend_on_the_partitions() {
        let mut rows = stream(500, 20, 20_000);
        // Two entities whose sums in one group cross 2^63 on the way in
        // either order: the folded total must still be exactly 0.
        let (a, b) = (
            *crate::risk::EntityDigest::of("plus").bytes(),
            *crate::risk::EntityDigest::of("minus").bytes(),
        );
        for _ in 0..10_000 {
            rows.push((a, 1000, 99, 1_000_000_000_000_000));
            rows.push((b, 1001, 99, -1_000_000_000_000_000));
        }
        let mut plain = Bounder::new(1_000, 100_000, 1);
        for (_, e, g, v) in &rows {
            plain.add(*e, *g, &[*v]).unwrap();
        }
        let want = plain.totals();
        assert_eq!(want[&99].sums, [0]);
        assert_eq!(want[&99].rows, 20_000);
        assert_eq!(want.len(), 21);
        let dir = tempfile::tempdir().unwrap();
        for (p, split) in [(1, u64::MAX), (3, u64::MAX), (64, u64::MAX), (3, 4_000)] {
            let mut b = PartitionedBounder::new(dir.path(), p, 1_000, 100_000, 1)
                .with_max_partition_bytes(split);
            for (d, _, g, v) in &rows {
                b.add(d, *g, &[*v]).unwrap();
            }
            assert_eq!(
                b.totals().unwrap(),
                want,
                "{p} partitions, split at {split}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The digests of one heavy entity and 30 light ones.
    fn heavy_and_light() -> ([u8; 16], Vec<[u8; 16]>) {
        let heavy = *crate::risk::EntityDigest::of("heavy").bytes();
        let light = (0..30)
            .map(|i| *crate::risk::EntityDigest::of(&format!("light{i}")).bytes())
            .collect();
        (heavy, light)
    }

    /// The heavy entity's 5 rows in each of groups 0..40 (values 10^row, so
    /// a sum tells which rows were kept); light entity i's rows in group
    /// 100 + i % 3.
    fn feed_heavy_and_light(b: &mut PartitionedBounder, heavy: &[u8; 16], light: &[[u8; 16]]) {
        for row in 0..5u32 {
            for g in 0..40u32 {
                b.add(heavy, g, &[10i64.pow(row)]).unwrap();
                let l = &light[(g as usize) % light.len()];
                b.add(l, 100 + g % 3, &[1]).unwrap();
            }
        }
    }

    #[test]
    fn a_heavy_entity_keeps_a_uniform_sample_of_its_groups_and_rows_in_a_partition() {
        // One entity with 5 rows in each of 40 groups (values 10^row, so a
        // sum tells which rows were kept), 30 light entities in other
        // groups; bounds 3 groups and 2 rows per group; 3 partitions.
        const TRIALS: usize = 2_000;
        let (heavy, light) = heavy_and_light();
        let dir = tempfile::tempdir().unwrap();
        let mut groups = [0u32; 40];
        let mut rows = [0u32; 5];
        for _ in 0..TRIALS {
            let mut b = PartitionedBounder::new(dir.path(), 3, 3, 2, 1);
            feed_heavy_and_light(&mut b, &heavy, &light);
            let t = b.totals().unwrap();
            let kept: Vec<_> = t.iter().filter(|(g, _)| **g < 40).collect();
            assert_eq!(kept.len(), 3, "groups of the heavy entity");
            for (g, v) in kept {
                assert_eq!((v.rows, v.entities), (2, 1));
                groups[*g as usize] += 1;
                // Two distinct rows: two digits of the sum are 1.
                let mut s = v.sums[0];
                for r in &mut rows {
                    *r += (s % 10) as u32;
                    s /= 10;
                }
            }
            // Light entity i has its 5 or 10 rows in group 100 + i % 3, of
            // which 2 count: 10 entities and 20 rows per group.
            for g in 100..103 {
                assert_eq!((t[&g].rows, t[&g].entities, t[&g].sums[0]), (20, 10, 20));
            }
        }
        // Each group is kept with probability 3/40, each row of a kept
        // group with 2/5. Limits at 5.5 standard deviations (normal
        // approximation): a false failure about once in 10^6 runs over the
        // 45 checks.
        let check = |count: u32, n: f64, p: f64| {
            let sd = (n * p * (1.0 - p)).sqrt();
            assert!(
                (f64::from(count) - n * p).abs() <= 5.5 * sd,
                "{count} of {n} at p = {p}"
            );
        };
        for c in groups {
            check(c, TRIALS as f64, 3.0 / 40.0);
        }
        for c in rows {
            check(c, (TRIALS * 3) as f64, 2.0 / 5.0);
        }
        assert_eq!(rows.iter().sum::<u32>() as usize, TRIALS * 3 * 2);
    }

    #[test]
    fn a_heavy_entity_keeps_its_bounds_when_its_partition_is_split_again() {
        // Partitions over 200 bytes are split again (by other digest bytes):
        // an entity must still land in one place, or its bounds would count
        // once per piece.
        let (heavy, light) = heavy_and_light();
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..50 {
            let mut b =
                PartitionedBounder::new(dir.path(), 2, 3, 2, 1).with_max_partition_bytes(200);
            feed_heavy_and_light(&mut b, &heavy, &light);
            let t = b.totals().unwrap();
            let kept: Vec<_> = t.iter().filter(|(g, _)| **g < 40).collect();
            assert_eq!(kept.len(), 3, "groups of the heavy entity");
            for (_, v) in kept {
                assert_eq!((v.rows, v.entities), (2, 1));
            }
            for g in 100..103 {
                assert_eq!((t[&g].rows, t[&g].entities, t[&g].sums[0]), (20, 10, 20));
            }
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = OsUniform::new();
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7).unwrap();
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
