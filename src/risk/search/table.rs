//! The search's distinct pairs in memory: fixed-width keys in one flat
//! vector, their row counts in another, and a hash table of indices.
//!
//! A pair is `width` numbers: one vector number per quasi-identifier, then
//! the entity (its 16-byte digest as four numbers). Kept this way a pair
//! costs `4 * width + 8` bytes plus about 6 bytes of hash table (4-byte
//! index and a control byte at up to 7/8 load): 50-52 bytes with five
//! quasi-identifiers, where a map from boxed keys took about 110 (key
//! pointer, separate allocation, padding).

use std::hash::BuildHasher;

type Hasher = foldhash::fast::FixedState;

/// The order of pairs everywhere (sorting, spilling, merging): by entity
/// (`key[n..]`, the numbers after the `n` vector numbers), then by the
/// vector numbers, so that one entity's pairs are adjacent.
pub(super) fn pair_order(a: &[u32], b: &[u32], n: usize) -> std::cmp::Ordering {
    a[n..].cmp(&b[n..]).then_with(|| a[..n].cmp(&b[..n]))
}

/// Distinct pairs with their rows.
pub(super) struct PairTable {
    width: usize,
    /// Pairs the table is filled to at most before it is spilled: growth
    /// stops there instead of doubling past it.
    max_pairs: usize,
    keys: Vec<u32>,
    rows: Vec<u64>,
    index: hashbrown::HashTable<u32>,
    hasher: Hasher,
}

impl std::fmt::Debug for PairTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairTable")
            .field("width", &self.width)
            .field("pairs", &self.rows.len())
            .finish()
    }
}

impl PairTable {
    /// An empty table of `width`-number keys, to be filled to at most
    /// `max_pairs` pairs between spills.
    pub(super) fn new(width: usize, max_pairs: usize) -> PairTable {
        PairTable {
            width,
            max_pairs: max_pairs.max(1),
            keys: Vec::new(),
            rows: Vec::new(),
            index: hashbrown::HashTable::new(),
            hasher: Hasher::default(),
        }
    }

    /// Numbers per pair.
    pub(super) fn width(&self) -> usize {
        self.width
    }

    /// Distinct pairs held.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no pair is held.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The key of pair `i`.
    pub(super) fn key(&self, i: usize) -> &[u32] {
        &self.keys[i * self.width..(i + 1) * self.width]
    }

    /// The rows of pair `i`.
    pub(super) fn rows(&self, i: usize) -> u64 {
        self.rows[i]
    }

    /// Add `rows` to the pair `key` if held and return true; else return
    /// false and add nothing.
    pub(super) fn add_existing(&mut self, key: &[u32], rows: u64) -> bool {
        let hash = self.hasher.hash_one(key);
        let (w, keys) = (self.width, &self.keys);
        match self.index.find(hash, |&i| {
            &keys[i as usize * w..(i as usize + 1) * w] == key
        }) {
            Some(&i) => {
                self.rows[i as usize] += rows;
                true
            }
            None => false,
        }
    }

    /// Add a pair not held yet (call [`PairTable::add_existing`] first).
    /// Pair numbers are `u32`: a table is spilled long before 4 billion.
    pub(super) fn insert_new(&mut self, key: &[u32], rows: u64) {
        debug_assert_eq!(key.len(), self.width);
        let i = self.rows.len() as u32;
        let hash = self.hasher.hash_one(key);
        self.grow();
        self.keys.extend_from_slice(key);
        self.rows.push(rows);
        let (w, keys, hasher) = (self.width, &self.keys, &self.hasher);
        self.index.insert_unique(hash, i, |&j| {
            hasher.hash_one(&keys[j as usize * w..(j as usize + 1) * w])
        });
    }

    /// Room for one more pair: capacity doubles as a `Vec`'s would, but
    /// never past `max_pairs`, so a table filled to the limit holds about
    /// the limit's bytes rather than up to twice them (50-52 bytes a pair,
    /// not up to 100).
    fn grow(&mut self) {
        let len = self.rows.len();
        if len < self.rows.capacity() {
            return;
        }
        let want = (len * 2).max(1024).min(self.max_pairs).max(len + 1);
        self.rows.reserve_exact(want - len);
        self.keys.reserve_exact((want - len) * self.width);
    }

    /// Pair numbers ordered by [`pair_order`].
    pub(super) fn sorted_order(&self, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| pair_order(self.key(a as usize), self.key(b as usize), n));
        order
    }

    /// Forget every pair, keeping the allocations for the next run.
    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.rows.clear();
        self.index.clear();
    }

    /// The keys and rows, sorted by entity then key, without the hash
    /// table (freed first) and without a second copy of the keys: the
    /// order is applied in place, one cycle of the permutation at a time.
    pub(super) fn into_sorted(self, n: usize) -> (Vec<u32>, Vec<u64>) {
        let order = self.sorted_order(n);
        let PairTable {
            width,
            mut keys,
            mut rows,
            index,
            ..
        } = self;
        drop(index);
        // Position p must receive pair order[p]. Follow each cycle once,
        // marking visited positions in `order` with u32::MAX.
        let mut order = order;
        let mut held = vec![0u32; width];
        for start in 0..order.len() {
            if order[start] == u32::MAX || order[start] as usize == start {
                order[start] = u32::MAX;
                continue;
            }
            held.copy_from_slice(&keys[start * width..(start + 1) * width]);
            let held_rows = rows[start];
            let mut p = start;
            loop {
                let from = order[p] as usize;
                order[p] = u32::MAX;
                if from == start {
                    keys[p * width..(p + 1) * width].copy_from_slice(&held);
                    rows[p] = held_rows;
                    break;
                }
                keys.copy_within(from * width..(from + 1) * width, p * width);
                rows[p] = rows[from];
                p = from;
            }
        }
        (keys, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_filled_to_its_limit_holds_no_more_room_than_the_limit() {
        let mut t = PairTable::new(5, 3_000);
        for i in 0..3_000u32 {
            let key = [i, 1, 2, 3, 4];
            assert!(!t.add_existing(&key, 1));
            t.insert_new(&key, 1);
        }
        assert_eq!(t.len(), 3_000);
        assert!(t.rows.capacity() <= 3_000, "{}", t.rows.capacity());
        assert!(t.keys.capacity() <= 15_000, "{}", t.keys.capacity());
        // Past the limit (the caller spills first; this only must not fail).
        t.insert_new(&[9_999, 0, 0, 0, 0], 2);
        assert_eq!(t.rows(3_000), 2);
        assert!(t.add_existing(&[7, 1, 2, 3, 4], 1));
        assert_eq!(t.rows(7), 2);
    }

    #[test]
    fn sums_rows_and_sorts_in_place_like_a_plain_sort() {
        // Keys of width 3 (two vectors, then the entity), many repeats.
        let mut t = PairTable::new(3, usize::MAX);
        let mut expected: std::collections::BTreeMap<(u32, Vec<u32>), u64> = Default::default();
        let mut x = 12345u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = [
                (x >> 60) as u32,
                (x >> 50) as u32 % 7,
                (x >> 33) as u32 % 90,
            ];
            let rows = 1 + (x >> 20) % 3;
            if !t.add_existing(&key, rows) {
                t.insert_new(&key, rows);
            }
            *expected.entry((key[2], key.to_vec())).or_default() += rows;
        }
        assert_eq!(t.len(), expected.len());
        let (keys, rows) = t.into_sorted(2);
        let got: Vec<(Vec<u32>, u64)> = keys
            .chunks_exact(3)
            .map(<[u32]>::to_vec)
            .zip(rows)
            .collect();
        let want: Vec<(Vec<u32>, u64)> = expected.into_iter().map(|((_, k), r)| (k, r)).collect();
        assert_eq!(got, want);
    }
}
