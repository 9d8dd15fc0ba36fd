//! Contribution bounding, streaming: each entity keeps at most
//! `max_groups_per_entity` groups and, in each, at most `max_rows_per_group`
//! rows. Both are reservoir samples (Vitter's algorithm R) drawn with the
//! operating system's random generator (`getrandom`), so which rows of a
//! heavy entity count is neither the first ones nor predictable.
//!
//! Memory grows with the distinct (entity, group) pairs and the kept values
//! (at most `max_rows_per_group` values of each summed column per pair),
//! never with the rows beyond the bounds: it is bounded by entities × groups,
//! not by the input size.

use super::{Map as HashMap, Set as HashSet};

use crate::error::{Error, Result};

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
        let mut out: HashMap<u32, GroupTotals> = HashMap::default();
        for ent in &self.entities {
            for cell in &ent.cells {
                let t = out
                    .entry(cell.group)
                    .or_insert_with(|| GroupTotals::empty(self.width));
                t.rows += i64::from(cell.kept);
                t.entities += 1;
                if self.width > 0 {
                    for row in cell.values.chunks_exact(self.width) {
                        for ((s, n), v) in t.sums.iter_mut().zip(&mut t.present).zip(row) {
                            if *v != NULL {
                                *s = s.saturating_add(*v);
                                *n += 1;
                            }
                        }
                    }
                }
            }
        }
        out
    }
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
