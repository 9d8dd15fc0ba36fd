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
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use txanon::io::output::{check_targets, Target};
//!
//! let inputs = [PathBuf::from("dump.csv")];
//! let read = [("the schema", PathBuf::from("schema.toml"))];
//! check_targets(&[Target::file(Path::new("out.parquet"), "output")], &inputs, &read)?;
//! # Ok::<(), txanon::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
            return Err(usage(format!(
                "{what} {} already exists{}; choose a new path or remove it",
                path.display(),
                if meta.is_dir() {
                    " and is not empty"
                } else {
                    " as a file"
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
}
