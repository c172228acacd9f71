//! Where a writing operation may change names: anywhere (the command line: paths as the user
//! gave them), or only beneath the allowed roots (jobs). Every change goes through the directory
//! that holds the entry, opened here, and the entry's last name in it (`renameat2`, `fstatat`,
//! `fsync` of that directory): for a job that directory is opened beneath an allowed root
//! without following any symlink, as the walker opens what it reads, so a symlink swapped in
//! after planning cannot redirect a change outside the roots.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, CWD};

use crate::error::CoreError;
use crate::selection::Selection;
use crate::verify::plain;
use crate::walk::{open_below, SYMLINK_IN_THE_WAY};

/// Where changes may happen; see the module's comment.
#[derive(Debug, Default)]
pub struct Places {
    /// Jobs: each allowed root and its handle (`O_PATH`). Empty: anywhere.
    allowed: Vec<(PathBuf, OwnedFd)>,
}

const OUTSIDE: &str = "is outside the allowed roots (not changed)";

impl Places {
    /// Anywhere: paths are resolved as given, symlinks in their directories followed.
    pub fn anywhere() -> Self {
        Places::default()
    }

    /// Only beneath `roots` (configuration: trusted, opened as they are); none: anywhere.
    pub fn beneath(roots: &[PathBuf]) -> io::Result<Self> {
        let allowed = roots
            .iter()
            .map(|r| Ok((r.clone(), open_root(r).map_err(|e| named(r, e))?)))
            .collect::<io::Result<_>>()?;
        Ok(Places { allowed })
    }

    /// Where a plan reads what it needs beyond its walk (`{hash}`): beneath the Selection's
    /// allowed roots (`Selection::beneath`, a job's), anywhere when there are none.
    pub fn of_walk(selection: &Selection) -> Result<Self, CoreError> {
        let allowed = selection
            .beneath
            .iter()
            .map(|r| Ok((r.clone(), open_root(r).map_err(|e| CoreError::io(r, e))?)))
            .collect::<Result<_, CoreError>>()?;
        Ok(Places { allowed })
    }

    /// The directory that holds `path`, opened with `flags` (`O_PATH` to name entries in it,
    /// `O_RDONLY` to fsync it), and the last name of `path`.
    pub fn parent(&self, path: &Path, flags: OFlags) -> io::Result<(OwnedFd, OsString)> {
        let flags = flags | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if self.allowed.is_empty() {
            let (dir, name) = split(path);
            let fd = rustix::fs::openat(CWD, dir, flags, Mode::empty())
                .map_err(|e| named(dir, io::Error::from(e)))?;
            return Ok((fd, name.to_os_string()));
        }
        let plain = plain(path);
        let refused = |why: &str| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                Refused(format!("{} {why}", path.display())),
            )
        };
        let Some((root, rel)) = self
            .allowed
            .iter()
            .find_map(|(a, fd)| Some((fd, plain.strip_prefix(a).ok()?.to_path_buf())))
        else {
            return Err(refused(OUTSIDE));
        };
        let (dir, name) = split(&rel);
        if name.is_empty() || name == "." {
            return Err(refused(OUTSIDE)); // the root itself: its name is not ours to change
        }
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        // No O_NOFOLLOW: then a symlink as the last name, like any other, meets
        // RESOLVE_NO_SYMLINKS (ELOOP: refused as a symlink) rather than O_DIRECTORY (ENOTDIR).
        let fd = open_below(root.as_fd(), dir, flags, false).map_err(|e| {
            if e.raw_os_error().is_some() {
                named(path.parent().unwrap_or(path), e)
            } else if e.to_string() == SYMLINK_IN_THE_WAY {
                refused("is reached through a symlink (not followed in a job)")
            } else {
                refused(OUTSIDE)
            }
        })?;
        Ok((fd, name.to_os_string()))
    }
}

/// The error [`Places::parent`] gives for a path a job may not change (outside the roots, or
/// reached through a symlink): nothing was ever changed through it, so a rollback or a check
/// of what is done finds nothing of the operation's there ([`is_refused`]).
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `e` is [`Places::parent`]'s refusal of a path.
pub fn is_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

/// An allowed root (configuration: trusted, opened as it is), as a handle to open beneath.
fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(CWD, root, flags, Mode::empty())?)
}

/// `path`'s directory (`.` for a bare name) and last name.
fn split(path: &Path) -> (&Path, &OsStr) {
    let bytes = path.as_os_str().as_bytes();
    let bytes = match bytes {
        [rest @ .., b'/'] if !rest.is_empty() => rest, // "dir/" names "dir"
        _ => bytes,
    };
    match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => (Path::new("/"), OsStr::from_bytes(&bytes[1..])),
        Some(i) => (Path::new(OsStr::from_bytes(&bytes[..i])), OsStr::from_bytes(&bytes[i + 1..])),
        None => (Path::new("."), OsStr::from_bytes(bytes)),
    }
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_directory_and_name() {
        assert_eq!(split(Path::new("a")), (Path::new("."), OsStr::new("a")));
        assert_eq!(split(Path::new("d/a")), (Path::new("d"), OsStr::new("a")));
        assert_eq!(split(Path::new("/a")), (Path::new("/"), OsStr::new("a")));
        assert_eq!(split(Path::new("/d/e/")), (Path::new("/d"), OsStr::new("e")));
    }

    #[test]
    fn a_job_changes_nothing_outside_its_roots_or_through_a_symlink() {
        let top = tempfile::tempdir().unwrap();
        let (root, out) = (top.path().join("root"), top.path().join("out"));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let (_, name) = places.parent(&root.join("d/x"), OFlags::PATH).unwrap();
        assert_eq!(name, "x");
        for bad in [out.join("x"), root.join("link/x"), root.join("../out/x"), root.clone()] {
            let e = places.parent(&bad, OFlags::PATH).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{bad:?}: {e}");
            assert!(is_refused(&e));
        }
        let anywhere = Places::anywhere();
        assert_eq!(anywhere.parent(&root.join("link/x"), OFlags::PATH).unwrap().1, "x");
    }
}
