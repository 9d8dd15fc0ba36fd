//! Staging a new state of a dataset beside it: the unchanged files
//! hard-linked into a temporary tree, new files written and synced, the
//! whole tree fsynced before it is swapped in (`txanon erase`,
//! `anonymize --append --replace-changed`; see [`crate::io::output`] for
//! the swap itself).

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::output::{create_dir, sync_dir};
use crate::io::parquet_writer::MANIFEST;

pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut f = crate::io::output::create_file(path, mode)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Fill `to` (an empty directory) with the tree below `from`: directories
/// made with their modes, every file hard-linked except `skip` (paths
/// relative to the dataset) and `_manifest.json`, symbolic links copied.
pub(crate) fn mirror(from: &Path, to: &Path, rel: &str, skip: &HashSet<&str>) -> Result<()> {
    mirror_tree(from, to, rel, skip, false).map(|_| ())
}

/// [`mirror`], but a directory left with no part file because all of its
/// part files were skipped is left out of `to` altogether (with whatever
/// else it held, such as a replaced generation's `_generation.json`), so
/// no empty generation directory stays behind. A glob walk that listed the
/// old dataset and descends into it after the swap does not fail for that:
/// DuckDB skips an entry that is gone by the time it looks at it, so such
/// a walk reads fewer rows (tests/faults/dataset_kill_loop.py counts these).
pub(crate) fn mirror_pruned(from: &Path, to: &Path, skip: &HashSet<&str>) -> Result<()> {
    mirror_tree(from, to, "", skip, true).map(|_| ())
}

/// The walk of [`mirror`] and [`mirror_pruned`]: returns how many part files
/// (`*.parquet`) it linked and how many it skipped below `from`.
fn mirror_tree(
    from: &Path,
    to: &Path,
    rel: &str,
    skip: &HashSet<&str>,
    prune: bool,
) -> Result<(usize, usize)> {
    let (mut linked, mut skipped) = (0, 0);
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        let here = format!("{rel}{name_text}");
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(|e| Error::io(&src, e))?;
        if kind.is_dir() {
            let meta = entry.metadata().map_err(|e| Error::io(&src, e))?;
            #[cfg(unix)]
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o777
            };
            #[cfg(not(unix))]
            let mode = {
                let _ = meta;
                0o700
            };
            create_dir(&dst, mode)?;
            let (l, k) = mirror_tree(&src, &dst, &format!("{here}/"), skip, prune)?;
            if prune && l == 0 && k > 0 {
                std::fs::remove_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
            }
            linked += l;
            skipped += k;
        } else if kind.is_symlink() {
            #[cfg(unix)]
            {
                let target = std::fs::read_link(&src).map_err(|e| Error::io(&src, e))?;
                std::os::unix::fs::symlink(target, &dst).map_err(|e| Error::io(&dst, e))?;
            }
        } else if kind.is_file() {
            let part_file = name_text.ends_with(".parquet");
            if skip.contains(here.as_str()) {
                skipped += usize::from(part_file);
                continue;
            }
            if rel.is_empty() && name_text == MANIFEST {
                continue;
            }
            linked += usize::from(part_file);
            std::fs::hard_link(&src, &dst).map_err(|e| {
                Error::Usage(format!(
                    "cannot hard-link {} into the staged dataset ({e}): erase and \
                     --replace-changed keep unchanged part files by hard links on the \
                     dataset's file system and do not copy them; nothing was changed",
                    src.display()
                ))
            })?;
        } else {
            return Err(Error::Usage(format!(
                "{} is neither a file nor a directory; refusing to erase from a dataset \
                 holding it (nothing was changed)",
                src.display()
            )));
        }
    }
    Ok((linked, skipped))
}

/// fsync every directory of a staged tree (its files are synced when written).
pub(crate) fn sync_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|k| k.is_dir()) {
                sync_tree(&e.path());
            }
        }
    }
    sync_dir(dir);
}
