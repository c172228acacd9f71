//! Applying a plan's renames: each with `renameat2(RENAME_NOREPLACE)`, so that a target that
//! appeared since planning (a race, or a planning bug) fails with `EEXIST` and nothing is
//! overwritten; where the file system does not support the flag (`EINVAL`), a non-directory is
//! linked to its new name and then unlinked from its old one, which refuses an existing target
//! just the same. Touched directories are fsynced before a batch is called done.
//!
//! The journal around these calls (what was planned, how far it got) is the Python layer's
//! (`vegafs.journal`); this module only moves names and reports how far it got.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{linkat, renameat_with, unlinkat, AtFlags, RenameFlags, CWD};

use crate::control::CancelToken;

/// Renames `from` to `to`, never replacing an existing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            // No RENAME_NOREPLACE here: a hard link refuses an existing target too.
            if std::fs::symlink_metadata(from)?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this file system cannot rename a directory without the risk of replacing",
                ));
            }
            linkat(CWD, from, CWD, to, AtFlags::empty())?;
            unlinkat(CWD, from, AtFlags::empty())?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// What [`rename_all`] did: the first `done` steps, then the error that stopped it (its step is
/// `done`), or none (all done, or cancelled: `done < steps.len()` without an error).
#[derive(Debug)]
pub struct Renamed {
    pub done: usize,
    pub error: Option<io::Error>,
}

/// Runs `steps` in order until one fails or `cancel` is set.
pub fn rename_all(steps: &[(PathBuf, PathBuf)], cancel: &CancelToken) -> Renamed {
    for (i, (from, to)) in steps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Renamed { done: i, error: None };
        }
        if let Err(e) = rename_noreplace(from, to) {
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
pub fn roll_back(steps: &[DoneStep]) -> RolledBack {
    let mut out = RolledBack { reversed: 0, not_done: 0, error: None };
    for (from, to, id) in steps.iter().rev() {
        let here = match identity(to) {
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
        if let Err(e) = rename_noreplace(to, from) {
            let message = format!("{} -> {}: {e}", to.display(), from.display());
            out.error = Some(io::Error::new(e.kind(), message));
            return out;
        }
        out.reversed += 1;
    }
    out
}

/// fsyncs the directories that hold these paths (each once), so that renames in them survive a
/// power loss once this returns. A directory that is gone (an undo of a copy removes the
/// directories it empties) has nothing to sync: its removal is its parent's, synced with it.
pub fn sync_parents(paths: &[PathBuf]) -> io::Result<()> {
    let dirs: BTreeSet<&Path> = paths
        .iter()
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        })
        .collect();
    for dir in dirs {
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
            Ok(()) => {}
        }
    }
    Ok(())
}

/// The [`Identity`] of the entry at `path` (not following a symlink); None if there is none.
pub fn identity(path: &Path) -> io::Result<Option<Identity>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(Some((m.dev(), m.ino(), 0))),
        Ok(m) => Ok(Some((m.dev(), m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
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
        let outcome = rename_all(&steps, &CancelToken::default());
        assert_eq!(outcome.done, 1);
        assert_eq!(outcome.error.unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "a");
        sync_parents(std::slice::from_ref(&c)).unwrap();
        let id = identity(&c).unwrap().unwrap();
        assert_eq!(identity(&a).unwrap(), None);
        assert_ne!(Some(id), identity(&b).unwrap());
    }
}
