//! The search's pairs beyond `[privacy].max_search_pairs`, on disk.
//!
//! When the in-memory map of (vector numbers..., entity words) -> rows
//! reaches the limit, it is sorted (by entity, then the vector numbers:
//! [`pair_order`]) and written as a
//! *run* to a spill file, and the map starts empty again. At the end the runs
//! and the last map are merged into one sorted file with equal keys summed,
//! which every node's evaluation then reads sequentially. Memory is then the
//! limit's worth of pairs, plus the per-node class table.
//!
//! Spill files are [`unnamed_file`]s in the output's directory: nothing is
//! left behind on any exit, SIGKILL included.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::table::{pair_order, PairTable};
use crate::error::{Error, Result};
use crate::io::spill::unnamed_file;

fn spill_error(e: std::io::Error) -> Error {
    crate::io::spill::spill_error("privacy search", e)
}

fn write_record(w: &mut impl Write, key: &[u32], rows: u64) -> std::io::Result<()> {
    for k in key {
        w.write_all(&k.to_le_bytes())?;
    }
    w.write_all(&rows.to_le_bytes())
}

/// Write the table's pairs as one sorted run and empty the table; the file
/// is returned rewound.
pub(super) fn write_run(table: &mut PairTable, n: usize, dir: &Path) -> Result<File> {
    let file = unnamed_file(dir)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    for i in table.sorted_order(n) {
        let i = i as usize;
        write_record(&mut w, table.key(i), table.rows(i)).map_err(spill_error)?;
    }
    table.clear();
    let mut file = w.into_inner().map_err(|e| spill_error(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
    Ok(file)
}

fn read_record(r: &mut impl Read, width: usize) -> Result<Option<(Vec<u32>, u64)>> {
    let mut buf = vec![0u8; width * 4 + 8];
    match r.read_exact(&mut buf) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(spill_error(e)),
    }
    Ok(Some(decode(&buf, width)))
}

fn decode(buf: &[u8], width: usize) -> (Vec<u32>, u64) {
    let key = (0..width)
        .map(|i| u32::from_le_bytes([buf[i * 4], buf[i * 4 + 1], buf[i * 4 + 2], buf[i * 4 + 3]]))
        .collect();
    let mut rows = [0u8; 8];
    rows.copy_from_slice(&buf[width * 4..width * 4 + 8]);
    (key, u64::from_le_bytes(rows))
}

/// Fill `buf` from `offset` without moving the file's position (so nodes
/// evaluated in parallel share the file).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "reading spilled pairs back needs a Unix system; raise max_search_pairs",
    ))
}

/// A run's next pair in the merge, ordered by [`pair_order`] then by run
/// (equal keys are summed, so the tie-break only fixes the order of reads).
struct Head {
    key: Vec<u32>,
    rows: u64,
    run: usize,
    n: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        pair_order(&self.key, &other.key, self.n).then(self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

/// The pairs, sorted by entity then vector numbers: in memory, or in one
/// spill file.
pub(super) enum Pairs {
    Memory {
        /// `width` numbers per pair, pairs in order.
        keys: Vec<u32>,
        rows: Vec<u64>,
        width: usize,
    },
    Disk {
        file: File,
        count: u64,
        width: usize,
    },
}

impl Pairs {
    /// The last map plus any runs, merged; `n` vector numbers per pair,
    /// then the entity's.
    pub(super) fn new(
        mut table: PairTable,
        mut runs: Vec<File>,
        n: usize,
        dir: &Path,
    ) -> Result<Pairs> {
        let width = table.width();
        if runs.is_empty() {
            let (keys, rows) = table.into_sorted(n);
            return Ok(Pairs::Memory { keys, rows, width });
        }
        if !table.is_empty() {
            runs.push(write_run(&mut table, n, dir)?);
        }
        drop(table);
        let mut readers: Vec<BufReader<File>> = runs
            .into_iter()
            .map(|f| BufReader::with_capacity(1 << 16, f))
            .collect();
        // Min-heap of each run's next pair.
        let mut heap = BinaryHeap::new();
        for (run, r) in readers.iter_mut().enumerate() {
            if let Some((key, rows)) = read_record(r, width)? {
                heap.push(std::cmp::Reverse(Head { key, rows, run, n }));
            }
        }
        let out = unnamed_file(dir)?;
        let mut w = BufWriter::with_capacity(1 << 20, out);
        let mut current: Option<(Vec<u32>, u64)> = None;
        let mut count = 0u64;
        while let Some(std::cmp::Reverse(Head { key, rows, run, .. })) = heap.pop() {
            if let Some((key, rows)) = read_record(&mut readers[run], width)? {
                heap.push(std::cmp::Reverse(Head { key, rows, run, n }));
            }
            match &mut current {
                Some((k, r)) if *k == key => *r += rows,
                _ => {
                    if let Some((k, r)) = current.take() {
                        write_record(&mut w, &k, r).map_err(spill_error)?;
                        count += 1;
                    }
                    current = Some((key, rows));
                }
            }
        }
        if let Some((k, r)) = current {
            write_record(&mut w, &k, r).map_err(spill_error)?;
            count += 1;
        }
        let file = w.into_inner().map_err(|e| spill_error(e.into_error()))?;
        Ok(Pairs::Disk { file, count, width })
    }

    /// Distinct pairs.
    pub(super) fn len(&self) -> u64 {
        match self {
            Pairs::Memory { rows, .. } => rows.len() as u64,
            Pairs::Disk { count, .. } => *count,
        }
    }

    /// Visit every pair in order (a spill file is read from its start with
    /// positioned reads, so several nodes can be evaluated at once) until
    /// `f` returns false.
    pub(super) fn for_each(&self, mut f: impl FnMut(&[u32], u64) -> bool) -> Result<()> {
        match self {
            Pairs::Memory { keys, rows, width } => {
                for (key, rows) in keys.chunks_exact(*width).zip(rows) {
                    if !f(key, *rows) {
                        break;
                    }
                }
                Ok(())
            }
            Pairs::Disk { file, count, width } => {
                let record = width * 4 + 8;
                let per_read = (1 << 20) / record;
                let mut buf = vec![0u8; per_read * record];
                let mut key = vec![0u32; *width];
                let mut done = 0u64;
                while done < *count {
                    let n = per_read.min((*count - done) as usize);
                    let bytes = &mut buf[..n * record];
                    read_at(file, bytes, done * record as u64).map_err(spill_error)?;
                    for chunk in bytes.chunks_exact(record) {
                        for (k, b) in key.iter_mut().zip(chunk.chunks_exact(4)) {
                            *k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                        let mut r = [0u8; 8];
                        r.copy_from_slice(&chunk[width * 4..]);
                        if !f(&key, u64::from_le_bytes(r)) {
                            return Ok(());
                        }
                    }
                    done += n as u64;
                }
                Ok(())
            }
        }
    }
}
