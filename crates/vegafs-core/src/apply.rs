//! Applying a plan's renames: each with `renameat2(RENAME_NOREPLACE)`, so that a target that
//! appeared since planning (a race, or a planning bug) fails with `EEXIST` and nothing is
//! overwritten; where the file system does not support the flag (`EINVAL`), a non-directory is
//! linked to its new name and then unlinked from its old one, which refuses an existing target
//! just the same. Touched directories are fsynced before a batch is called done.
//!
//! The journal around these calls (what was planned, how far it got) is the Python layer's
//! (`vegafs.journal`); this module only moves names and reports how far it got.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{linkat, renameat_with, statat, unlinkat, AtFlags, FileType, OFlags, RenameFlags};

use crate::control::CancelToken;
use crate::places::Places;

/// Renames `from` to `to`, never replacing an existing `to`; both named in the directories
/// `places` opens.
pub fn rename_noreplace(places: &Places, from: &Path, to: &Path) -> io::Result<()> {
    let mut dirs = Dirs::default();
    rename_in(&mut dirs, places, from, to)
}

pub(crate) fn rename_in(
    dirs: &mut Dirs,
    places: &Places,
    from: &Path,
    to: &Path,
) -> io::Result<()> {
    let (src_dir, src) = dirs.source.open(places, from)?;
    let (dst_dir, dst) = dirs.target.open(places, to)?;
    match renameat_with(src_dir, src, dst_dir, dst, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            // No RENAME_NOREPLACE here: a hard link refuses an existing target too.
            let st = statat(src_dir, src, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this file system cannot rename a directory without the risk of replacing",
                ));
            }
            linkat(src_dir, src, dst_dir, dst, AtFlags::empty())?;
            unlinkat(src_dir, src, AtFlags::empty())?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The directories of the last source and the last target, kept open: steps of a plan mostly
/// stay in one directory, so each is opened once, not once per step.
#[derive(Default)]
pub(crate) struct Dirs {
    pub(crate) source: LastDir,
    pub(crate) target: LastDir,
}

#[derive(Default)]
pub(crate) struct LastDir(Option<(PathBuf, OwnedFd)>, OsString);

impl LastDir {
    /// The directory holding `path` (`O_PATH`, opened by `places`, kept for the next call) and
    /// the last name of `path`.
    pub(crate) fn open(
        &mut self,
        places: &Places,
        path: &Path,
    ) -> io::Result<(&OwnedFd, &OsString)> {
        let dir = path.parent().unwrap_or(Path::new(""));
        if !matches!(&self.0, Some((d, _)) if d == dir) {
            self.0 = None; // not kept if the open below fails
            let (fd, _) = places.parent(path, OFlags::PATH)?;
            self.0 = Some((dir.to_path_buf(), fd));
        }
        // The name as `places` cut it ("d/" names "d"), without a second open.
        self.1 = last_name(path);
        Ok((&self.0.as_ref().expect("opened above").1, &self.1))
    }
}

fn last_name(path: &Path) -> OsString {
    path.file_name().map_or_else(|| path.as_os_str().to_os_string(), |n| n.to_os_string())
}

/// What [`rename_all`] did: the first `done` steps, then the error that stopped it (its step is
/// `done`), or none (all done, or cancelled: `done < steps.len()` without an error).
#[derive(Debug)]
pub struct Renamed {
    pub done: usize,
    pub error: Option<io::Error>,
}

/// Runs `steps` in order until one fails or `cancel` is set.
pub fn rename_all(places: &Places, steps: &[(PathBuf, PathBuf)], cancel: &CancelToken) -> Renamed {
    let mut dirs = Dirs::default();
    for (i, (from, to)) in steps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Renamed { done: i, error: None };
        }
        if let Err(e) = rename_in(&mut dirs, places, from, to) {
            let error =
                io::Error::new(e.kind(), format!("{} -> {}: {e}", from.display(), to.display()));
            return Renamed { done: i, error: Some(error) };
        }
    }
    Renamed { done: steps.len(), error: None }
}

/// Which entry a step moves: device, inode, and a stamp that tells a new entry from the one the
/// plan saw should its inode be reused: the modification time in nanoseconds of anything but a
/// directory (renames do not change it), 0 for a directory (renames inside it do).
pub type Identity = (u64, u64, i64);

/// A step to reverse: `(from, to)` as it was planned, and the [`Identity`] of the entry it
/// moved.
pub type DoneStep = (PathBuf, PathBuf, Identity);

/// What [`roll_back`] did: steps reversed, steps found not done (their entry not at their
/// target), and the error that stopped it (with the index of its step, counted from the end).
#[derive(Debug)]
pub struct RolledBack {
    pub reversed: usize,
    pub not_done: usize,
    pub error: Option<io::Error>,
}

/// Reverses `steps`, last first: each one whose entry (by device and inode) is at its target
/// goes back to its source, never replacing anything; the others are left (never done, or
/// reversed already: a rollback that a crash interrupted runs again safely).
pub fn roll_back(places: &Places, steps: &[DoneStep]) -> RolledBack {
    let mut out = RolledBack { reversed: 0, not_done: 0, error: None };
    let mut dirs = Dirs::default();
    for (from, to, id) in steps.iter().rev() {
        let here = match identity(places, to) {
            Ok(id) => id,
            Err(e) => {
                out.error = Some(io::Error::new(e.kind(), format!("{}: {e}", to.display())));
                return out;
            }
        };
        if here != Some(*id) {
            out.not_done += 1;
            continue;
        }
        if let Err(e) = rename_in(&mut dirs, places, to, from) {
            let message = format!("{} -> {}: {e}", to.display(), from.display());
            out.error = Some(io::Error::new(e.kind(), message));
            return out;
        }
        out.reversed += 1;
    }
    out
}

/// fsyncs the directories that hold these paths (each once), so that renames in them survive a
/// power loss once this returns; one that is not there any more is passed over.
pub fn sync_parents(places: &Places, paths: &[PathBuf]) -> io::Result<()> {
    let dirs: BTreeSet<&Path> = paths.iter().map(|p| p.parent().unwrap_or(Path::new(""))).collect();
    for dir in dirs {
        let entry = dir.join("x"); // the directory is the parent of any name in it
        let fd = match places.parent(&entry, OFlags::RDONLY) {
            Ok((fd, _)) => fd,
            // Removed (a rollback took away a directory a move had made): its removal is synced
            // with its own directory, which is in the list too.
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        rustix::fs::fsync(&fd).map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
        })?;
    }
    Ok(())
}

/// The [`Identity`] of the entry at `path` (not following a symlink); None if there is none
/// (nothing there, or a file where the path needs a directory).
pub fn identity(places: &Places, path: &Path) -> io::Result<Option<Identity>> {
    let (dir, name) = match places.parent(path, OFlags::PATH) {
        Ok(found) => found,
        // Not a directory: something on the path is a file now, so the entry is not there.
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    match statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            Ok(Some((st.st_dev, st.st_ino, 0)))
        }
        Ok(st) => {
            let stamp = st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64;
            Ok(Some((st.st_dev, st.st_ino, stamp)))
        }
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_target_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let steps = vec![(a.clone(), c.clone()), (c.clone(), b.clone())];
        let places = Places::anywhere();
        let outcome = rename_all(&places, &steps, &CancelToken::default());
        assert_eq!(outcome.done, 1);
        assert_eq!(outcome.error.unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "a");
        sync_parents(&places, std::slice::from_ref(&c)).unwrap();
        let id = identity(&places, &c).unwrap().unwrap();
        assert_eq!(identity(&places, &a).unwrap(), None);
        assert_ne!(Some(id), identity(&places, &b).unwrap());
    }

    #[test]
    fn a_path_through_a_file_has_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "f").unwrap();
        assert_eq!(identity(&Places::anywhere(), &file.join("x")).unwrap(), None);
    }
}
