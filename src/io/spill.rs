//! Unnamed scratch files, and per-entity state partitioned onto them.
//!
//! Figures about people (distinct customers per class, per-customer
//! contribution bounds, unicity) need every row of one customer together,
//! and a transaction log is not grouped by customer. Keeping one entry per
//! customer in memory makes memory grow with the number of customers. The
//! way out used here: write a small fixed-size record per row to one of `P`
//! [`Partitions`] chosen from the customer's digest, so all of a customer's
//! rows land in the same partition, then process one partition at a time.
//! Memory is then one partition's state plus `P` write buffers.
//!
//! Spill files are created with mode 0600 without a name (`O_TMPFILE` on
//! Linux; elsewhere, or where the file system lacks it, a hidden name
//! removed at once): they hold no name while data is in them, so nothing is
//! left behind on any exit, SIGKILL included (the space is freed when the
//! process's descriptors close). They hold digests, numbers and measures,
//! never a raw value or a token.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

static SPILLS: AtomicUsize = AtomicUsize::new(0);

/// A spill file's I/O error, named by what the file was for (`what`), never
/// by its content.
pub fn spill_error(what: &str, e: std::io::Error) -> Error {
    Error::Usage(format!("{what}: spill file: {e}"))
}

/// A new file in `dir`, mode 0600, without a name: on Linux opened with
/// `O_TMPFILE`, so it never has one; where the file system does not support
/// that (or off Linux), created under a hidden name that is removed at once
/// (a kill between the two leaves that empty file behind).
pub fn unnamed_file(dir: &Path) -> Result<File> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok(File::from(fd)),
            // Not supported by this kernel or file system: the named way.
            Err(
                rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL,
            ) => {}
            Err(e) => return Err(Error::io(dir, e.into())),
        }
    }
    let n = SPILLS.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".txanon-spill-{}-{n}", std::process::id()));
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

/// Where a command's spill files go: the output's directory when there is
/// one (the user chose that file system for the result, and it is where
/// the space is), else the system's temporary directory.
pub fn spill_dir(output: Option<&Path>) -> PathBuf {
    match output.and_then(Path::parent) {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => std::env::temp_dir(),
    }
}

/// `P` unnamed files written in stream order, a record at a time, each
/// record to the partition its caller picks (for per-entity state: from the
/// entity's digest, see [`Partitions::of_digest`]). Files are created on
/// first use, so a small run opens few.
pub struct Partitions {
    dir: PathBuf,
    what: &'static str,
    writers: Vec<Option<BufWriter<File>>>,
    bytes: u64,
}

/// Write buffer per partition: 64 partitions take 4 MiB.
const BUFFER: usize = 64 << 10;

impl Partitions {
    /// `count` partitions (at least one) in `dir`; `what` names them in
    /// errors ("aggregate", "privacy meter").
    pub fn new(dir: &Path, count: usize, what: &'static str) -> Self {
        Partitions {
            dir: dir.to_path_buf(),
            what,
            writers: (0..count.max(1)).map(|_| None).collect(),
            bytes: 0,
        }
    }

    /// How many partitions there are.
    pub fn count(&self) -> usize {
        self.writers.len()
    }

    /// The partition of an entity's digest: from its first eight bytes, which
    /// are uniformly distributed (SHA-256), so partitions are even.
    pub fn of_digest(&self, digest: &[u8; 16]) -> usize {
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        (u64::from_le_bytes(head) % self.writers.len() as u64) as usize
    }

    /// Append `record` to partition `part` (`part < count()`).
    pub fn push(&mut self, part: usize, record: &[u8]) -> Result<()> {
        let slot = &mut self.writers[part];
        if slot.is_none() {
            *slot = Some(BufWriter::with_capacity(BUFFER, unnamed_file(&self.dir)?));
        }
        if let Some(w) = slot.as_mut() {
            w.write_all(record).map_err(|e| spill_error(self.what, e))?;
        }
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// Bytes written so far, over all partitions.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The partitions' files, flushed and rewound, in partition order
    /// (`None` for a partition that received nothing).
    pub fn finish(self) -> Result<Vec<Option<File>>> {
        let what = self.what;
        self.writers
            .into_iter()
            .map(|w| match w {
                None => Ok(None),
                Some(w) => {
                    let mut file = w
                        .into_inner()
                        .map_err(|e| spill_error(what, e.into_error()))?;
                    file.seek(SeekFrom::Start(0))
                        .map_err(|e| spill_error(what, e))?;
                    Ok(Some(file))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn records_come_back_per_partition_in_stream_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Partitions::new(dir.path(), 3, "test");
        for i in 0u32..30 {
            parts.push((i % 3) as usize, &i.to_le_bytes()).unwrap();
        }
        assert_eq!(parts.bytes(), 120);
        let files = parts.finish().unwrap();
        for (p, file) in files.into_iter().enumerate() {
            let mut bytes = Vec::new();
            file.unwrap().read_to_end(&mut bytes).unwrap();
            let got: Vec<u32> = bytes
                .chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let want: Vec<u32> = (0u32..30).filter(|i| (i % 3) as usize == p).collect();
            assert_eq!(got, want);
        }
        // Nothing named is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_unused_partition_has_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Partitions::new(dir.path(), 4, "test");
        parts.push(2, b"x").unwrap();
        let files = parts.finish().unwrap();
        assert_eq!(
            files.iter().map(Option::is_some).collect::<Vec<_>>(),
            vec![false, false, true, false]
        );
    }

    #[test]
    fn digests_spread_over_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let parts = Partitions::new(dir.path(), 8, "test");
        let mut seen = [0usize; 8];
        for i in 0u64..800 {
            let mut d = [0u8; 16];
            d[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
            seen[parts.of_digest(&d)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
