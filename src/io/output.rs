//! Where outputs may go: the checks every command that writes files runs
//! before it reads any input.
//!
//! An output is only ever a new regular file (or a new or empty directory
//! for a directory output), renamed into place when complete. So a target is
//! refused when it is a symbolic link, a device, a FIFO or a socket, when it
//! is a file the run reads (an input, the schema, the key file) under any
//! spelling or hard link, and when two outputs of one run are the same path
//! (or one lies inside the other). Paths are compared by canonical path (the
//! parent directory resolved, so `./x`, `d/../x` and links to directories
//! meet) and, for targets that exist, by device and inode.
//!
//! Outputs are then written under a temporary name beside the target
//! ([`Staged`]) and renamed into place together ([`commit`]): the data
//! first, the manifest describing it last, so no manifest ever claims rows
//! that are not in place. A failure before the data's rename leaves
//! neither; a failed manifest rename after it leaves the complete data
//! and no manifest, and says so.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use txanon::io::output::{check_targets, Target};
//!
//! let inputs = [PathBuf::from("dump.csv")];
//! let read = [("the schema", PathBuf::from("schema.toml"))];
//! check_targets(&[Target::file(Path::new("out.parquet"), "output")], &inputs, &read)?;
//! # Ok::<(), txanon::Error>(())
//! ```

// Why this file is over 700 lines: about 530 lines of code; the rest are
// unit tests of the output-path checks.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Permission bits of outputs unless `--mode` says otherwise: owner read
/// and write only, since the rows are personal data (pseudonymised, not
/// anonymous). Directories of a directory output get `x` where `r` is set.
pub const DEFAULT_MODE: u32 = 0o600;

/// Suffix marking txanon's temporary outputs.
pub const TMP_MARKER: &str = ".txanon-tmp-";

/// One path a run writes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The path as given.
    pub path: &'a Path,
    /// What it is, for messages (`output`, `--manifest`).
    pub what: &'static str,
    /// A directory output (a new or empty directory), not a file.
    pub directory: bool,
}

impl<'a> Target<'a> {
    /// A file output.
    pub fn file(path: &'a Path, what: &'static str) -> Target<'a> {
        Target {
            path,
            what,
            directory: false,
        }
    }

    /// A directory output.
    pub fn directory(path: &'a Path, what: &'static str) -> Target<'a> {
        Target {
            path,
            what,
            directory: true,
        }
    }
}

/// Who a path is, as far as the file system can tell.
#[derive(Debug)]
struct Identity {
    /// The parent directory resolved, joined with the file name.
    canonical: PathBuf,
    /// Device and inode, when the path exists.
    inode: Option<(u64, u64)>,
}

impl Identity {
    fn same(&self, other: &Identity) -> bool {
        self.canonical == other.canonical || (self.inode.is_some() && self.inode == other.inode)
    }
}

/// Refuse outputs that are not new regular files (or new or empty
/// directories), that would replace a file the run reads (`inputs`, and
/// `read`: other files read, each with what it is, e.g. `("the key file",
/// path)`), or that collide with each other. Runs before any input is read.
pub fn check_targets(
    targets: &[Target<'_>],
    inputs: &[PathBuf],
    read: &[(&str, PathBuf)],
) -> Result<()> {
    let usage = |m: String| Error::Usage(m);
    let mut seen: Vec<(Target<'_>, Identity)> = Vec::with_capacity(targets.len());
    let read_files: Vec<(&str, Identity)> = inputs
        .iter()
        .map(|p| ("an input", p))
        .chain(read.iter().map(|(what, p)| (*what, p)))
        .filter_map(|(what, p)| existing_identity(p).map(|id| (what, id)))
        .collect();
    for target in targets {
        check_kind(target)?;
        let id = target_identity(target)?;
        let shown = target.path.display();
        if let Some((what, _)) = read_files.iter().find(|(_, r)| id.same(r)) {
            return Err(usage(if *what == "an input" {
                // Wording kept from the first version of this check.
                format!(
                    "{} {shown} is also an input; refusing to overwrite an input",
                    target.what
                )
            } else {
                format!(
                    "{} {shown} is {what}; refusing to overwrite a file the run reads",
                    target.what
                )
            }));
        }
        for (other, other_id) in &seen {
            let inside = |dir: &Target<'_>, dir_id: &Identity, file: &Identity| {
                dir.directory && file.canonical.starts_with(&dir_id.canonical)
            };
            if id.same(other_id) || inside(other, other_id, &id) || inside(target, &id, other_id) {
                return Err(usage(format!(
                    "{} {shown} and {} {} are the same path or one holds the other; \
                     give each output its own path",
                    target.what,
                    other.what,
                    other.path.display()
                )));
            }
        }
        seen.push((*target, id));
    }
    Ok(())
}

/// What is at the target now must be nothing, a regular file (replaced
/// atomically) or, for a directory output, an empty directory.
fn check_kind(target: &Target<'_>) -> Result<()> {
    let usage = |m: String| Error::Usage(m);
    let (path, what) = (target.path, target.what);
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(usage(format!(
            "{what} {} is a symbolic link; refusing to write through it",
            path.display()
        )));
    }
    if let Some(special) = special_kind(&kind) {
        return Err(usage(format!(
            "{what} {} is {special}; outputs are only ever new regular files",
            path.display()
        )));
    }
    if target.directory {
        let empty = meta.is_dir() && std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
        if !empty {
            // A dataset txanon wrote: say how to add to it.
            let dataset = meta.is_dir() && path.join("_manifest.json").is_file();
            return Err(usage(format!(
                "{what} {} already exists{}; choose a new path or remove it{}",
                path.display(),
                if meta.is_dir() {
                    " and is not empty"
                } else {
                    " as a file"
                },
                if dataset {
                    " (or add rows to it as a new generation with --append)"
                } else {
                    ""
                }
            )));
        }
    } else if meta.is_dir() {
        return Err(usage(format!(
            "{what} {} is a directory (end the path with '/' or pass --partition-by \
             to write a directory output)",
            path.display()
        )));
    }
    Ok(())
}

/// The name of a file type that is neither a regular file, a directory nor
/// a symbolic link.
#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

#[cfg(not(unix))]
fn special_kind(kind: &std::fs::FileType) -> Option<&'static str> {
    (!kind.is_file() && !kind.is_dir() && !kind.is_symlink()).then_some("not a regular file")
}

/// The identity of an output path, which need not exist yet (its parent
/// directory must).
fn target_identity(target: &Target<'_>) -> Result<Identity> {
    let path = target.path;
    let name = path
        .file_name()
        .filter(|_| !path.ends_with(".") && !path.ends_with(".."));
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let canonical = match name {
        Some(name) => {
            if !parent.is_dir() {
                return Err(Error::Usage(format!(
                    "{} directory {} does not exist",
                    target.what,
                    parent.display()
                )));
            }
            std::fs::canonicalize(parent)
                .map_err(|e| Error::io(parent, e))?
                .join(name)
        }
        // `.`, `..`, `/`: an existing directory (checked above) or nothing.
        None => std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?,
    };
    Ok(Identity {
        canonical,
        inode: inode(path, false),
    })
}

/// The identity of a file the run reads (links followed), if it exists.
fn existing_identity(path: &Path) -> Option<Identity> {
    Some(Identity {
        canonical: std::fs::canonicalize(path).ok()?,
        inode: inode(path, true),
    })
}

#[cfg(unix)]
fn inode(path: &Path, follow: bool) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    meta.ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn inode(_: &Path, _: bool) -> Option<(u64, u64)> {
    None
}

/// Temporary outputs not yet committed or removed, for
/// [`remove_temporaries_and_exit`].
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temporaries() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic elsewhere while holding it leaves the list itself intact.
    TEMPORARIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// End the process at once (a second interrupt) with exit status `code`,
/// after removing every temporary output of this process that is not
/// committed yet. A commit under way finishes first, so each target holds
/// its whole new output or nothing new; the list stays locked until the
/// process is gone, so no temporary can be created after the removal.
pub fn remove_temporaries_and_exit(code: i32) -> ! {
    let mut list = temporaries();
    for path in list.drain(..) {
        remove_temp(&path);
    }
    // `_exit`: no at-exit hooks racing with the threads still running.
    signal_hook::low_level::exit(code)
}

/// A temporary output (file or directory) beside its target: removed when
/// dropped, or by [`remove_temporaries_and_exit`], unless [`commit`]ted.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
    armed: bool,
}

impl Staged {
    /// Create the temporary output of `target` (`.NAME.txanon-tmp-PID`) with
    /// `make`, after removing temporaries of earlier runs that died. The
    /// path is listed for [`remove_temporaries_and_exit`] before `make`
    /// runs, and `make` runs with the list locked, so an interrupt never
    /// sees the file without the listing.
    pub fn create<T>(target: &Path, make: impl FnOnce(&Path) -> Result<T>) -> Result<(Staged, T)> {
        remove_stale_temps(target);
        let temp = temp_path_for(target);
        let mut list = temporaries();
        list.push(temp.clone());
        let made = make(&temp);
        drop(list);
        let staged = Staged {
            temp,
            target: target.to_path_buf(),
            armed: true,
        };
        // On error `staged` is dropped here, removing what `make` left.
        Ok((staged, made?))
    }

    /// Write `bytes` as a new file (mode `mode` on Unix), fsync'd, staged
    /// for `target`.
    pub fn file(target: &Path, bytes: &[u8], mode: u32) -> Result<Staged> {
        use std::io::Write;
        let (staged, mut f) = Staged::create(target, |temp| create_file(temp, mode))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(target, e))?;
        Ok(staged)
    }

    /// Where the output is being written.
    pub fn temp(&self) -> &Path {
        &self.temp
    }

    /// Where it goes.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.armed {
            remove_temp(&self.temp);
            temporaries().retain(|p| p != &self.temp);
        }
    }
}

/// Rename staged outputs into place, in the order given (data first, the
/// manifest that describes it last), and sync their directories.
///
/// When the first rename fails, nothing is in place (the temporaries are
/// removed) and an earlier file at any target is untouched. When a later
/// one fails (the manifest, after the data), the outputs already renamed
/// stay, complete, and the error is [`Error::PartlyWritten`]: an earlier
/// file at the failed target is removed, since it describes what the new
/// data replaced, and the error says whether that worked.
pub fn commit(staged: Vec<Staged>) -> Result<()> {
    // Held throughout, so a second interrupt waits for the renames.
    let mut list = temporaries();
    let mut done: Option<PathBuf> = None;
    for mut s in staged {
        if let Err(error) = std::fs::rename(&s.temp, &s.target) {
            drop(list);
            let Some(written) = done else {
                return Err(Error::io(&s.target, error));
            };
            let stale = match std::fs::symlink_metadata(&s.target) {
                Ok(m) if m.is_file() => match std::fs::remove_file(&s.target) {
                    Ok(()) => format!(" (the earlier {} is removed)", s.target.display()),
                    Err(e) => format!(
                        " (the earlier {} could not be removed ({e}) and does not describe {})",
                        s.target.display(),
                        written.display()
                    ),
                },
                _ => String::new(),
            };
            return Err(Error::PartlyWritten {
                written,
                failed: s.target.clone(),
                error,
                stale,
            });
        }
        s.armed = false;
        list.retain(|p| p != &s.temp);
        sync_dir(s.target.parent().unwrap_or(Path::new(".")));
        done = Some(s.target.clone());
    }
    Ok(())
}

/// Rename the directory `sub` of a staged output directory into its target
/// directory (`temp/sub` becomes `target/sub`, which must not exist), sync
/// the target, then remove the rest of the staged directory. One rename: a
/// reader of the target sees all of `sub` or none of it.
pub fn commit_subdir(staged: Staged, sub: &str) -> Result<()> {
    let from = staged.temp.join(sub);
    let to = staged.target.join(sub);
    {
        // Held throughout, so a second interrupt waits for the rename.
        let _list = temporaries();
        if std::fs::symlink_metadata(&to).is_ok() {
            return Err(Error::Usage(format!(
                "{} already exists; refusing to replace it",
                to.display()
            )));
        }
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        sync_dir(&staged.target);
    }
    // Dropping `staged` removes what is left of the temporary directory.
    drop(staged);
    Ok(())
}

/// Swap a staged directory with its target in one step (Linux
/// `renameat2(RENAME_EXCHANGE)`): the target path then holds the staged
/// tree and the temporary path the earlier one, which is removed. A reader
/// resolving a path below the target sees the whole earlier tree or the
/// whole new one. A kill after the swap leaves the earlier tree under the
/// temporary name, which the next run removes like any dead temporary.
///
/// Refused, with nothing changed, where the file system or the kernel
/// cannot exchange two directories (the error says so): no weaker
/// fallback, since that would not be atomic.
pub fn exchange_dir(staged: Staged) -> Result<()> {
    {
        // Held throughout, so a second interrupt waits for the swap.
        let _list = temporaries();
        exchange(&staged.temp, &staged.target)?;
        sync_dir(
            staged
                .target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        );
    }
    // Dropping `staged` removes the earlier tree, now at the temporary path.
    drop(staged);
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| {
        let error = std::io::Error::from(e);
        match e {
            rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP => {
                Error::Usage(format!(
                    "{}: this file system or kernel cannot exchange two directories in one \
                     step (renameat2 RENAME_EXCHANGE: {error}); refusing to replace the \
                     dataset non-atomically (nothing was changed)",
                    b.display()
                ))
            }
            _ => Error::io(b, error),
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, b: &Path) -> Result<()> {
    Err(Error::Usage(format!(
        "{}: replacing a dataset atomically needs Linux (renameat2 RENAME_EXCHANGE); \
         nothing was changed",
        b.display()
    )))
}

/// An exclusive lock on a dataset held by a run that writes it (`anonymize
/// --append`, `erase`), released when dropped or when the process dies: a
/// lock file `.NAME.txanon-lock` beside the dataset (not inside it, whose
/// directory `erase` replaces; not matched by `NAME/**`).
#[derive(Debug)]
pub struct DatasetLock {
    _file: File,
}

/// Take the writer's lock of the dataset `dir`, or fail at once naming it
/// when another run holds it.
pub fn lock_dataset(dir: &Path) -> Result<DatasetLock> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let path = dir.with_file_name(format!(".{name}.txanon-lock"));
    match try_lock_file(&path)? {
        Some(file) => Ok(DatasetLock { _file: file }),
        None => Err(Error::Usage(format!(
            "{} is being written by another txanon run (an append or an erase \
             holds {}); try again when it has finished (nothing was changed)",
            dir.display(),
            path.display()
        ))),
    }
}

/// Open (creating it with mode 0600 if needed) the lock file `path` and take
/// an exclusive `flock` on it without waiting: `None` when another run
/// holds it. The lock lasts while the returned file is open, and goes with
/// the process however it ends (SIGKILL included); the file itself stays.
/// Off Linux the file is opened but not locked.
pub fn try_lock_file(path: &Path) -> Result<Option<File>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{flock, FlockOperation};
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(Error::io(path, std::io::Error::from(e))),
        }
    }
    Ok(Some(file))
}

/// Create a new file with `mode` (exactly, whatever the umask) on Unix.
pub fn create_file(path: &Path, mode: u32) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// Create a new directory with `mode` plus `x` where `r` is set (exactly,
/// whatever the umask) on Unix.
pub fn create_dir(path: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = mode | ((mode & 0o444) >> 2);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// `--mode`: octal permission bits (`0600`, `640`, `0o640`) that let the
/// owner read and write and do not let others write.
pub fn parse_mode(text: &str) -> std::result::Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777 && !digits.is_empty())
        .ok_or_else(|| format!("{text:?} is not an octal file mode such as 0600 or 0640"))?;
    if mode & 0o600 != 0o600 {
        return Err(format!(
            "{text}: the owner must be able to read and write the output (u+rw)"
        ));
    }
    if mode & 0o002 != 0 {
        return Err(format!(
            "{text}: outputs hold personal data; they are never writable by others"
        ));
    }
    Ok(mode)
}

/// The temporary path used while writing `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output.parquet".into());
    let tmp = format!(".{name}{TMP_MARKER}{}", std::process::id());
    target.with_file_name(tmp)
}

/// Remove temporary files or directories of earlier runs for the same target
/// whose process is gone (killed with SIGKILL, power loss):
/// `.NAME.txanon-tmp-PID` where no process PID exists. Temporary outputs of
/// live runs are left alone.
pub fn remove_stale_temps(target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}{TMP_MARKER}");
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            remove_temp(&entry.path());
        }
    }
}

/// Remove a temporary output file or directory (best effort). A link is
/// removed itself, never followed.
fn remove_temp(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        // A writer still running may add a part file meanwhile (the
        // directory is then not empty at the end): try again.
        for _ in 0..10 {
            match std::fs::remove_dir_all(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether process `pid` exists (always true where that cannot be told).
pub fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true // cannot tell: keep the file
    }
}

/// fsync a directory (a rename or new entry in it becomes durable).
pub fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(targets: &[Target<'_>], inputs: &[PathBuf], read: &[(&str, PathBuf)]) -> String {
        match check_targets(targets, inputs, read) {
            Ok(()) => panic!("accepted {targets:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn modes_are_octal_owner_writable_and_never_world_writable() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        for bad in [
            "", "0o", "8", "0x600", "1600", "0400", "0200", "0666", "0602", "-600",
        ] {
            assert!(parse_mode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn outputs_collide_by_path_and_by_containment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let same = dir.path().join(".").join("out");
        let inside = dir.path().join("out").join("m.json");
        let m = refused(
            &[
                Target::file(&out, "output"),
                Target::file(&same, "--manifest"),
            ],
            &[],
            &[],
        );
        assert!(m.contains("same path"), "{m}");
        std::fs::create_dir(&out).unwrap();
        let m = refused(
            &[
                Target::directory(&out, "output"),
                Target::file(&inside, "--manifest"),
            ],
            &[],
            &[],
        );
        assert!(m.contains("one holds the other"), "{m}");
        let other = dir.path().join("m.json");
        check_targets(
            &[
                Target::directory(&out, "output"),
                Target::file(&other, "--manifest"),
            ],
            &[],
            &[],
        )
        .unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_link_to_a_read_file_is_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        std::fs::write(&key, "k").unwrap();
        let link = dir.path().join("other-name");
        std::fs::hard_link(&key, &link).unwrap();
        let m = refused(
            &[Target::file(&link, "output")],
            &[],
            &[("the key file", key.clone())],
        );
        assert!(m.contains("is the key file"), "{m}");
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let m = refused(&[Target::file(&sock, "output")], &[], &[]);
        assert!(m.contains("is a socket"), "{m}");
        let m = refused(
            &[Target::file(Path::new("/dev/null"), "--manifest")],
            &[],
            &[],
        );
        assert!(
            m.contains("--manifest /dev/null is a character device"),
            "{m}"
        );
    }

    #[test]
    fn existing_targets_must_be_what_the_output_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("old.parquet");
        std::fs::write(&file, "old").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("part-0.parquet"), "x").unwrap();
        // Accepted: a new path, an existing regular file (replaced by
        // rename), a new or empty directory for a directory output.
        let new = dir.path().join("new.parquet");
        let new_dir = dir.path().join("new-dir");
        for target in [
            Target::file(&new, "output"),
            Target::file(&file, "output"),
            Target::directory(&empty, "output"),
            Target::directory(&new_dir, "output"),
        ] {
            check_targets(&[target], &[], &[]).unwrap();
        }
        let cases = [
            (
                Target::directory(&full, "output"),
                format!("output {} already exists and is not empty", full.display()),
            ),
            (
                Target::directory(&file, "output"),
                format!("output {} already exists as a file", file.display()),
            ),
            (
                Target::file(&empty, "--manifest"),
                format!("--manifest {} is a directory", empty.display()),
            ),
        ];
        for (target, want) in cases {
            let m = refused(&[target], &[], &[]);
            assert!(m.contains(&want), "{m}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_or_fifo_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.parquet");
        std::fs::write(&real, "x").unwrap();
        let link = dir.path().join("link.parquet");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let m = refused(&[Target::file(&link, "output")], &[], &[]);
        assert!(
            m.contains(&format!("output {} is a symbolic link", link.display())),
            "{m}"
        );
        // A dangling link too: nothing is written through it.
        let dangling = dir.path().join("dangling.parquet");
        std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).unwrap();
        let m = refused(&[Target::file(&dangling, "output")], &[], &[]);
        assert!(m.contains("is a symbolic link"), "{m}");
        let fifo = dir.path().join("f.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let m = refused(&[Target::file(&fifo, "output")], &[], &[]);
        assert!(
            m.contains(&format!("output {} is a FIFO", fifo.display())),
            "{m}"
        );
    }

    #[test]
    fn an_input_or_read_file_is_never_a_target_and_the_message_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "a\n").unwrap();
        let inputs = [input];
        let schema = dir.path().join("s.toml");
        std::fs::write(&schema, "").unwrap();
        let spelled = dir.path().join(".").join("in.csv");
        let m = refused(&[Target::file(&spelled, "output")], &inputs, &[]);
        assert_eq!(
            m,
            format!(
                "output {} is also an input; refusing to overwrite an input",
                spelled.display()
            )
        );
        let m = refused(
            &[Target::file(&schema, "--manifest")],
            &inputs,
            &[("the schema", schema.clone())],
        );
        assert_eq!(
            m,
            format!(
                "--manifest {} is the schema; refusing to overwrite a file the run reads",
                schema.display()
            )
        );
        // A read file that does not exist collides with nothing.
        let absent = dir.path().join("absent.key");
        let out = dir.path().join("out.parquet");
        check_targets(
            &[Target::file(&out, "output")],
            &inputs,
            &[("the key file", absent)],
        )
        .unwrap();
    }

    #[test]
    fn a_target_needs_an_existing_parent_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let target = missing.join("out.parquet");
        let m = refused(&[Target::file(&target, "output")], &[], &[]);
        assert_eq!(
            m,
            format!("output directory {} does not exist", missing.display())
        );
        // `.` and `..` name directories, so a file output there is refused.
        let dot = dir.path().join(".");
        let m = refused(&[Target::file(&dot, "output")], &[], &[]);
        assert!(m.contains("is a directory"), "{m}");
        // `d/.` is `d`: a directory output there holds `d/m.json`.
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        let (d_dot, manifest) = (d.join("."), d.join("m.json"));
        let m = refused(
            &[
                Target::directory(&d_dot, "output"),
                Target::file(&manifest, "--manifest"),
            ],
            &[],
            &[],
        );
        assert!(m.contains("one holds the other"), "{m}");
    }

    /// Whether this process's list of uncommitted temporaries holds `path`
    /// (other tests add their own paths to it meanwhile).
    fn listed(path: &Path) -> bool {
        temporaries().iter().any(|p| p == path)
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn a_staged_file_reaches_its_target_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.json");
        // README: written to `.NAME.txanon-tmp-PID` beside the target.
        let temp = dir
            .path()
            .join(format!(".m.json.txanon-tmp-{}", std::process::id()));
        assert_eq!(temp_path_for(&target), temp);
        let staged = Staged::file(&target, b"{}\n", 0o640).unwrap();
        assert_eq!(staged.temp(), temp);
        assert_eq!(staged.target(), target);
        assert_eq!(std::fs::read(&temp).unwrap(), b"{}\n");
        assert_eq!(mode_of(&temp), 0o640);
        assert!(!target.exists());
        assert!(listed(&temp));
        commit(vec![staged]).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{}\n");
        assert_eq!(mode_of(&target), 0o640);
        assert!(!temp.exists());
        assert!(!listed(&temp));
    }

    #[test]
    fn a_dropped_stage_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let staged = Staged::file(&target, b"data", 0o600).unwrap();
        let temp = staged.temp().to_path_buf();
        assert!(temp.exists() && listed(&temp));
        drop(staged);
        assert!(!temp.exists());
        assert!(!listed(&temp));
        assert!(!target.exists());
        // A failed `make` leaves no temporary either.
        let made = Staged::create(&target, |t| {
            std::fs::create_dir(t).unwrap();
            std::fs::write(t.join("part-0.parquet"), "x").unwrap();
            Err::<(), _>(Error::io(t, std::io::Error::other("disk full")))
        });
        assert!(made.is_err());
        assert!(!temp.exists());
        assert!(!listed(&temp));
    }

    #[test]
    fn a_later_rename_that_fails_removes_the_earlier_file_it_described() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("out.parquet");
        let manifest = dir.path().join("m.json");
        std::fs::write(&manifest, "old manifest").unwrap();
        let a = Staged::file(&data, b"new data", 0o600).unwrap();
        let b = Staged::file(&manifest, b"new manifest", 0o600).unwrap();
        // The manifest's temporary vanishes: its rename fails.
        std::fs::remove_file(b.temp()).unwrap();
        let (a_temp, b_temp) = (a.temp().to_path_buf(), b.temp().to_path_buf());
        match commit(vec![a, b]) {
            Err(Error::PartlyWritten {
                written,
                failed,
                stale,
                ..
            }) => {
                assert_eq!((written, failed), (data.clone(), manifest.clone()));
                assert_eq!(
                    stale,
                    format!(" (the earlier {} is removed)", manifest.display())
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&data).unwrap(), b"new data");
        assert!(!manifest.exists());
        assert!(!listed(&a_temp) && !listed(&b_temp));

        // An earlier directory at the failed target is not a file it removes.
        let sub = dir.path().join("m2.json");
        std::fs::create_dir(&sub).unwrap();
        let c = Staged::file(&dir.path().join("out2.parquet"), b"d", 0o600).unwrap();
        let d = Staged::file(&sub, b"m", 0o600).unwrap();
        std::fs::remove_file(d.temp()).unwrap();
        match commit(vec![c, d]) {
            Err(Error::PartlyWritten { stale, .. }) => assert_eq!(stale, ""),
            other => panic!("{other:?}"),
        }
        assert!(sub.is_dir());

        // The first rename failing puts nothing in place.
        let e = Staged::file(&dir.path().join("out3.parquet"), b"d", 0o600).unwrap();
        let f = Staged::file(&dir.path().join("m3.json"), b"m", 0o600).unwrap();
        std::fs::remove_file(e.temp()).unwrap();
        let f_temp = f.temp().to_path_buf();
        assert!(matches!(commit(vec![e, f]), Err(Error::Io { .. })));
        assert!(!dir.path().join("m3.json").exists());
        assert!(!f_temp.exists());
    }

    #[test]
    fn a_staged_subdirectory_lands_in_its_target_by_one_rename() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ds");
        std::fs::create_dir(&target).unwrap();
        let stage = |name: &str| {
            Staged::create(&target, |t| {
                std::fs::create_dir(t).unwrap();
                std::fs::create_dir(t.join(name)).unwrap();
                std::fs::write(t.join(name).join("part-0.parquet"), name).unwrap();
                std::fs::write(t.join("_left_over"), "x").unwrap();
                Ok(())
            })
            .unwrap()
            .0
        };
        let staged = stage("g00001");
        let temp = staged.temp().to_path_buf();
        commit_subdir(staged, "g00001").unwrap();
        assert_eq!(
            std::fs::read(target.join("g00001").join("part-0.parquet")).unwrap(),
            b"g00001"
        );
        assert!(!temp.exists());
        assert!(!listed(&temp));
        // An existing generation is never replaced; the stage is removed.
        let staged = stage("g00001");
        let m = commit_subdir(staged, "g00001").unwrap_err().to_string();
        assert_eq!(
            m,
            format!(
                "{} already exists; refusing to replace it",
                target.join("g00001").display()
            )
        );
        assert!(!temp.exists());
        assert_eq!(
            std::fs::read_dir(&target).unwrap().count(),
            1,
            "only g00001 in the target"
        );
    }

    #[cfg(unix)]
    #[test]
    fn new_files_and_directories_get_exactly_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        drop(create_file(&f, 0o640).unwrap());
        assert_eq!(mode_of(&f), 0o640);
        assert!(
            create_file(&f, 0o640).is_err(),
            "an existing file is reused"
        );
        // Directories: `x` wherever `r` is set.
        for (mode, want) in [
            (0o600, 0o700),
            (0o640, 0o750),
            (0o644, 0o755),
            (0o700, 0o700),
            (0o750, 0o750),
        ] {
            let d = dir.path().join(format!("d{mode:o}"));
            create_dir(&d, mode).unwrap();
            assert_eq!(mode_of(&d), want, "{mode:o}");
        }
        assert!(create_dir(&dir.path().join("d600"), 0o600).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let at = |rest: &str| dir.path().join(format!(".out.parquet.txanon-tmp-{rest}"));
        // No process has a PID above the kernel's limit (at most 2^22).
        let dead = at("4194399");
        let dead_dir = at("4194398");
        let own = at(&std::process::id().to_string());
        let parent = at(&std::os::unix::process::parent_id().to_string());
        let not_a_pid = at("x1");
        let other_target = dir.path().join(".other.parquet.txanon-tmp-4194399");
        for f in [&dead, &own, &parent, &not_a_pid, &other_target] {
            std::fs::write(f, "x").unwrap();
        }
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join("part-0.parquet"), "x").unwrap();
        remove_stale_temps(&target);
        assert!(!dead.exists());
        assert!(!dead_dir.exists());
        for kept in [&own, &parent, &not_a_pid, &other_target] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }
}
