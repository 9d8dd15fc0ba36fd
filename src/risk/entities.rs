//! The meter's per-entity state, kept on disk rather than in memory.
//!
//! Entity-k and unicity need, per entity (distinct value of
//! `[privacy].entity`), the classes its rows fall in. A transaction log is
//! not grouped by customer, so [`EntitySpill::push`] writes one 28-byte
//! record per measured row, `(entity digest 16, class u32, row ordinal
//! u64)`, to one of `P` unnamed partition files chosen from the digest
//! ([`Partitions::of_digest`]): all of an entity's rows land in the same
//! partition, in stream order. A record that repeats its partition's
//! previous one (same entity, same class) is skipped.
//!
//! [`EntitySpill::settle`] then works one partition at a time:
//!
//! 1. **Group.** Read the partition, group its records by entity: each
//!    entity's first ordinal (its first row, as the partition is in stream
//!    order) and its sorted distinct classes ("points"). Every class gains
//!    one person per entity with a point in it (distinct entities per class
//!    are sums over partitions: an entity is in one partition only). The
//!    entity's points (sampled down to `max_points`, see the module doc of
//!    [`crate::risk`]) go to an entity file, in first-ordinal order.
//! 2. **Draw.** A k-way merge of the entity files by first ordinal visits the
//!    entities in order of first appearance in the output, the order the
//!    unicity draws are specified in; the SplitMix64 streams of p = 2 and
//!    p = 4 draw each eligible entity's points, written to one query file
//!    per p.
//! 3. **Match** (block nested loop). Entity files are loaded a block at a
//!    time (up to [`BLOCK_BYTES`] of them) with posting lists (class ->
//!    entities of the block); each query file is streamed past the block
//!    and every query counts the block's entities holding all its drawn
//!    points (up to 2, carried in the query record to the next block). After
//!    the last block an entity is unique when its count is 1 (itself).
//!
//! Memory is one partition's records grouped (rows / `P`), one block of
//! entities, per-class counters and `P` write buffers; it does not grow
//! with the number of entities beyond that. Every figure is a sum or a count
//! over entities and the draw order is the order of first appearance, so
//! the figures do not depend on `P`, the block size or the thread count.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{EntityDigest, FastHash, SplitMix64, UnicityFigure, PHI, UNICITY_P};
use crate::error::{Error, Result};
use crate::io::spill::{spill_error, unnamed_file, Partitions};

/// Partitions of the per-row records: 64 write buffers of 64 KiB.
pub(super) const PARTITIONS: usize = 64;

/// Entity-file bytes loaded at once for matching (about twice that in
/// memory with the posting lists).
pub(super) const BLOCK_BYTES: u64 = 8 << 20;

/// Spill files are named by this in errors.
const WHAT: &str = "privacy meter";

/// `(digest 16, class u32, ordinal u64)`.
const RECORD: usize = 28;

/// Mixes an entity's first ordinal into the seed of its point sample.
const SAMPLE_MIX: u64 = 0xd1b5_4a32_d192_ed03;

/// What [`EntitySpill::settle`] found.
#[derive(Debug)]
pub(super) struct Settled {
    /// Distinct entities per class, by class id (exact, not capped).
    pub(super) people: Vec<u64>,
    /// Distinct entities.
    pub(super) entities: u64,
    /// Entities with more than `max_points` distinct points.
    pub(super) sampled: u64,
    /// Unicity for each p of [`UNICITY_P`].
    pub(super) figures: Vec<UnicityFigure>,
}

/// Per-row entity records, partitioned by entity on unnamed files.
pub(super) struct EntitySpill {
    dir: PathBuf,
    parts: Partitions,
    /// Entity-file bytes per matching block.
    block_bytes: u64,
    /// Each partition's previous record (digest, class), to skip repeats.
    last: Vec<Option<([u8; 16], u32)>>,
}

impl std::fmt::Debug for EntitySpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntitySpill")
            .field("partitions", &self.parts.count())
            .field("bytes", &self.parts.bytes())
            .finish()
    }
}

impl EntitySpill {
    /// `count` partitions in `dir` (files are created on first use),
    /// matched `block_bytes` of entity files at a time.
    pub(super) fn new(dir: &Path, count: usize, block_bytes: u64) -> EntitySpill {
        let parts = Partitions::new(dir, count, WHAT);
        EntitySpill {
            dir: dir.to_path_buf(),
            block_bytes,
            last: vec![None; parts.count()],
            parts,
        }
    }

    /// A row of entity `digest` in class `class`, the `ordinal`-th row
    /// measured (ordinals increase along the stream).
    pub(super) fn push(&mut self, digest: &EntityDigest, class: u32, ordinal: u64) -> Result<()> {
        let part = self.parts.of_digest(&digest.0);
        if self.last[part] == Some((digest.0, class)) {
            return Ok(());
        }
        self.last[part] = Some((digest.0, class));
        let mut rec = [0u8; RECORD];
        rec[..16].copy_from_slice(&digest.0);
        rec[16..20].copy_from_slice(&class.to_le_bytes());
        rec[20..].copy_from_slice(&ordinal.to_le_bytes());
        self.parts.push(part, &rec)
    }

    /// People per class, entities and unicity (`classes` classes; the
    /// draws' `seed`; at most `max_points` points per entity).
    pub(super) fn settle(self, classes: usize, seed: u64, max_points: usize) -> Result<Settled> {
        let dir = self.dir;
        let mut people = vec![0u64; classes];
        let (mut entities, mut sampled) = (0u64, 0u64);
        let mut files = Vec::new();
        for file in self.parts.finish()?.into_iter().flatten() {
            let (file, bytes, n, s) = group(file, &dir, &mut people, seed, max_points)?;
            files.push((file, bytes));
            entities += n;
            sampled += s;
        }
        let (eligible, queries) = draw(&mut files, &dir, seed)?;
        let unique = match_blocks(&mut files, queries, classes, self.block_bytes, &dir)?;
        let figures = UNICITY_P
            .iter()
            .zip(eligible.iter().zip(unique))
            .map(|(&p, (&eligible, unique))| UnicityFigure {
                p,
                entities: eligible,
                unique,
                share: if eligible == 0 {
                    0.0
                } else {
                    unique as f64 / eligible as f64
                },
            })
            .collect();
        Ok(Settled {
            people,
            entities,
            sampled,
            figures,
        })
    }
}

/// Fill `buf` from `r`: `false` at a clean end of file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) if at == 0 => return Ok(false),
            Ok(0) => {
                return Err(spill_error(
                    WHAT,
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated record"),
                ))
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(spill_error(WHAT, e)),
        }
    }
    Ok(true)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A file written so far, flushed and rewound for reading.
fn rewound(w: BufWriter<File>) -> Result<File> {
    let mut file = w
        .into_inner()
        .map_err(|e| spill_error(WHAT, e.into_error()))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| spill_error(WHAT, e))?;
    Ok(file)
}

/// Step 1 for one partition: count its entities into `people`, write its
/// entity file `(first ordinal u64, n u32, n sorted points u32)` in order of
/// first ordinal. Returns the file, its size, the entities and the sampled
/// entities.
fn group(
    file: File,
    dir: &Path,
    people: &mut [u64],
    seed: u64,
    max_points: usize,
) -> Result<(File, u64, u64, u64)> {
    let mut index: HashMap<[u8; 16], u32, FastHash> = HashMap::default();
    let mut locals: Vec<(u64, Vec<u32>)> = Vec::new();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut rec = [0u8; RECORD];
    while read_full(&mut r, &mut rec)? {
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&rec[..16]);
        let (class, ordinal) = (u32_at(&rec, 16), u64_at(&rec, 20));
        let i = *index.entry(digest).or_insert_with(|| {
            locals.push((ordinal, Vec::new()));
            (locals.len() - 1) as u32
        });
        locals[i as usize].1.push(class);
    }
    drop(index);
    drop(r);
    let entities = locals.len() as u64;
    let mut sampled = 0u64;
    let mut w = BufWriter::with_capacity(1 << 16, unnamed_file(dir)?);
    let mut bytes = 0u64;
    for (ordinal, mut points) in locals {
        points.sort_unstable();
        points.dedup();
        for &p in &points {
            if let Some(n) = people.get_mut(p as usize) {
                *n += 1;
            }
        }
        if points.len() > max_points {
            sampled += 1;
            sample(&mut points, max_points, seed, ordinal);
        }
        let n = u32::try_from(points.len())
            .map_err(|_| Error::Internal("privacy: too many points".into()))?;
        let mut head = [0u8; 12];
        head[..8].copy_from_slice(&ordinal.to_le_bytes());
        head[8..].copy_from_slice(&n.to_le_bytes());
        w.write_all(&head).map_err(|e| spill_error(WHAT, e))?;
        for p in &points {
            w.write_all(&p.to_le_bytes())
                .map_err(|e| spill_error(WHAT, e))?;
        }
        bytes += 12 + 4 * u64::from(n);
    }
    Ok((rewound(w)?, bytes, entities, sampled))
}

/// Keep `max` of an entity's sorted distinct `points`, drawn by a partial
/// Fisher-Yates shuffle with its own SplitMix64 stream seeded with
/// `seed XOR ((first ordinal + 1) * 0xd1b54a32d192ed03 mod 2^64)`:
/// `for i in 0..max: j = i + below(len - i); swap(i, j)`; the first `max`
/// are kept, sorted.
pub(super) fn sample(points: &mut Vec<u32>, max: usize, seed: u64, ordinal: u64) {
    let mut rng = SplitMix64::new(seed ^ ordinal.wrapping_add(1).wrapping_mul(SAMPLE_MIX));
    let len = points.len();
    for i in 0..max.min(len) {
        let j = i + rng.below((len - i) as u64) as usize;
        points.swap(i, j);
    }
    points.truncate(max);
    points.sort_unstable();
}

/// One entity of an entity file: its first ordinal and points; `None` at
/// the end of the file.
fn next_entity(r: &mut impl Read, points: &mut Vec<u32>) -> Result<Option<u64>> {
    let mut head = [0u8; 12];
    if !read_full(r, &mut head)? {
        return Ok(None);
    }
    let n = u32_at(&head, 8) as usize;
    let mut body = vec![0u8; 4 * n];
    if n > 0 && !read_full(r, &mut body)? {
        return Err(spill_error(
            WHAT,
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated entity"),
        ));
    }
    points.clear();
    points.extend(body.chunks_exact(4).map(|c| u32_at(c, 0)));
    Ok(Some(u64_at(&head, 0)))
}

/// A query: the drawn points and how many entities hold them all so far.
struct Queries {
    p: usize,
    file: File,
}

/// Step 2: merge the entity files by first ordinal and draw, per p, the
/// points of every entity with at least p. Returns the eligible entities per
/// p and the query files (records: p points u32, a count byte).
fn draw(files: &mut [(File, u64)], dir: &Path, seed: u64) -> Result<(Vec<u64>, Vec<Queries>)> {
    let mut readers = Vec::with_capacity(files.len());
    let mut heads: Vec<Vec<u32>> = vec![Vec::new(); files.len()];
    let mut heap = BinaryHeap::new();
    for (i, (file, _)) in files.iter_mut().enumerate() {
        let mut r = BufReader::with_capacity(1 << 16, &*file);
        if let Some(ordinal) = next_entity(&mut r, &mut heads[i])? {
            heap.push(Reverse((ordinal, i)));
        }
        readers.push(r);
    }
    let mut rngs: Vec<SplitMix64> = UNICITY_P
        .iter()
        .map(|&p| SplitMix64::new(seed ^ (p as u64).wrapping_mul(PHI)))
        .collect();
    let mut writers = UNICITY_P
        .iter()
        .map(|_| Ok(BufWriter::with_capacity(1 << 16, unnamed_file(dir)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut eligible = vec![0u64; UNICITY_P.len()];
    let mut scratch = Vec::new();
    let mut record = Vec::new();
    while let Some(Reverse((_, i))) = heap.pop() {
        let points = &heads[i];
        for (k, &p) in UNICITY_P.iter().enumerate() {
            if points.len() < p {
                continue;
            }
            eligible[k] += 1;
            // Partial Fisher-Yates: the first p of a shuffled copy.
            scratch.clear();
            scratch.extend_from_slice(points);
            record.clear();
            for d in 0..p {
                let j = d + rngs[k].below((scratch.len() - d) as u64) as usize;
                scratch.swap(d, j);
                record.extend_from_slice(&scratch[d].to_le_bytes());
            }
            record.push(0);
            writers[k]
                .write_all(&record)
                .map_err(|e| spill_error(WHAT, e))?;
        }
        if let Some(ordinal) = next_entity(&mut readers[i], &mut heads[i])? {
            heap.push(Reverse((ordinal, i)));
        }
    }
    drop(readers);
    let queries = UNICITY_P
        .iter()
        .zip(writers)
        .map(|(&p, w)| {
            Ok(Queries {
                p,
                file: rewound(w)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((eligible, queries))
}

/// A block of entities in memory: their points (flat, `starts` into it) and
/// posting lists (class -> block entities having it, flat).
struct Block {
    starts: Vec<usize>,
    points: Vec<u32>,
    post_starts: Vec<u32>,
    postings: Vec<u32>,
}

impl Block {
    fn load(files: &mut [(File, u64)], classes: usize) -> Result<Block> {
        let (mut starts, mut points) = (vec![0usize], Vec::new());
        let mut one = Vec::new();
        for (file, _) in files.iter_mut() {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| spill_error(WHAT, e))?;
            let mut r = BufReader::with_capacity(1 << 16, &*file);
            while next_entity(&mut r, &mut one)?.is_some() {
                points.extend_from_slice(&one);
                starts.push(points.len());
            }
        }
        let mut post_starts = vec![0u32; classes + 1];
        for &p in &points {
            if let Some(n) = post_starts.get_mut(p as usize + 1) {
                *n += 1;
            }
        }
        for c in 0..classes {
            post_starts[c + 1] += post_starts[c];
        }
        let mut fill = post_starts.clone();
        let mut postings = vec![0u32; points.len()];
        for e in 0..starts.len() - 1 {
            for &p in &points[starts[e]..starts[e + 1]] {
                if let Some(at) = fill.get_mut(p as usize) {
                    postings[*at as usize] = e as u32;
                    *at += 1;
                }
            }
        }
        Ok(Block {
            starts,
            points,
            post_starts,
            postings,
        })
    }

    fn posting(&self, point: u32) -> &[u32] {
        let p = point as usize;
        match (self.post_starts.get(p), self.post_starts.get(p + 1)) {
            (Some(&a), Some(&b)) => &self.postings[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Entities of the block holding every point of `draw`, up to `limit`.
    fn matches(&self, draw: &[u32], limit: u8) -> u8 {
        let Some(&rarest) = draw.iter().min_by_key(|&&pt| self.posting(pt).len()) else {
            return 0;
        };
        let mut n = 0u8;
        for &e in self.posting(rarest) {
            let e = e as usize;
            let pts = &self.points[self.starts[e]..self.starts[e + 1]];
            if draw.iter().all(|pt| pts.binary_search(pt).is_ok()) {
                n += 1;
                if n >= limit {
                    break;
                }
            }
        }
        n
    }
}

/// Step 3: stream each query file past every block of entity files; the
/// unique entities per p.
fn match_blocks(
    files: &mut [(File, u64)],
    mut queries: Vec<Queries>,
    classes: usize,
    block_bytes: u64,
    dir: &Path,
) -> Result<Vec<u64>> {
    // Consecutive entity files up to `block_bytes` (at least one) per block.
    let mut blocks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut at = 0;
    while at < files.len() {
        let (start, mut bytes) = (at, 0u64);
        while at < files.len() && (at == start || bytes + files[at].1 <= block_bytes) {
            bytes += files[at].1;
            at += 1;
        }
        blocks.push(start..at);
    }
    let mut unique = vec![0u64; queries.len()];
    for (b, range) in blocks.iter().enumerate() {
        let block = Block::load(&mut files[range.clone()], classes)?;
        let last = b + 1 == blocks.len();
        use rayon::prelude::*;
        let results = queries
            .par_iter_mut()
            .map(|q| pass_queries(&block, q, last, dir))
            .collect::<Result<Vec<u64>>>()?;
        if last {
            unique = results;
        }
    }
    Ok(unique)
}

/// One query file past one block: rewrites it with the counts updated, or,
/// after the last block, counts the queries matched by exactly one entity.
fn pass_queries(block: &Block, q: &mut Queries, last: bool, dir: &Path) -> Result<u64> {
    q.file
        .seek(SeekFrom::Start(0))
        .map_err(|e| spill_error(WHAT, e))?;
    let mut r = BufReader::with_capacity(1 << 16, &q.file);
    let mut out = if last {
        None
    } else {
        Some(BufWriter::with_capacity(1 << 16, unnamed_file(dir)?))
    };
    let mut rec = vec![0u8; 4 * q.p + 1];
    let mut draw = vec![0u32; q.p];
    let mut unique = 0u64;
    while read_full(&mut r, &mut rec)? {
        let mut count = rec[4 * q.p];
        if count < 2 {
            for (d, pt) in draw.iter_mut().enumerate() {
                *pt = u32_at(&rec, 4 * d);
            }
            count += block.matches(&draw, 2 - count);
        }
        match out.as_mut() {
            Some(w) => {
                rec[4 * q.p] = count;
                w.write_all(&rec).map_err(|e| spill_error(WHAT, e))?;
            }
            None => unique += u64::from(count == 1),
        }
    }
    drop(r);
    if let Some(w) = out {
        q.file = rewound(w)?;
    }
    Ok(unique)
}
