//! Applying a plan's renames: each with `renameat2(RENAME_NOREPLACE)`, so that a target that
//! appeared since planning (a race, or a planning bug) fails with `EEXIST` and nothing is
//! overwritten; where the file system does not support the flag (`EINVAL`), a non-directory is
//! linked to its new name and then unlinked from its old one, which refuses an existing target
//! just the same. Touched directories are fsynced before a batch is called done.
//!
//! The journal around these calls (what was planned, how far it got) is the Python layer's
//! (`vegafs.journal`); this module only moves names and reports how far it got.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    fstat, linkat, openat, renameat_with, statat, unlinkat, AtFlags, FileType, Mode, OFlags,
    RenameFlags,
};

use crate::control::CancelToken;
use crate::places::{is_refused, Places};

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
                if is_within(dst_dir.as_fd(), (st.st_dev, st.st_ino)).unwrap_or(false) {
                    // EINVAL for its own reason: the plan could not see it (a symlinked path).
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a directory cannot move into itself",
                    ));
                }
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

/// Whether the directory `dir` is the directory `(dev, ino)` or below it: its parents looked up
/// through `..`, up to the root (or 4,096 levels).
fn is_within(dir: BorrowedFd<'_>, (dev, ino): (u64, u64)) -> io::Result<bool> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut here = openat(dir, ".", flags, Mode::empty())?;
    for _ in 0..4096 {
        let st = fstat(&here)?;
        if (st.st_dev, st.st_ino) == (dev, ino) {
            return Ok(true);
        }
        let up = openat(&here, "..", flags, Mode::empty())?;
        let parent = fstat(&up)?;
        if (parent.st_dev, parent.st_ino) == (st.st_dev, st.st_ino) {
            return Ok(false); // the root
        }
        here = up;
    }
    Ok(false)
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

/// What [`rename_all`] did: the first `done` steps, then the error that stopped it, or none (all
/// done, or cancelled: `done < steps.len()` without an error). Steps after the first `done` may
/// have run too (directories renamed in parallel): a rollback looks at each on disk.
#[derive(Debug)]
pub struct Renamed {
    pub done: usize,
    pub error: Option<io::Error>,
}

/// Runs `steps` until one fails or `cancel` is set: in order, or, when every step stays in its
/// directory and the steps go deepest first (as `vegafs rename` journals them), the steps of
/// different directories in parallel, depth after depth, each directory's in order. That keeps
/// every order the plan needs: renames in one directory (chains, cycles) run in order, and an
/// entry renamed at one depth is a directory no step of a later depth goes through.
pub fn rename_all(places: &Places, steps: &[(PathBuf, PathBuf)], cancel: &CancelToken) -> Renamed {
    match by_depth(steps) {
        Some(levels) if levels.iter().any(|dirs| dirs.len() > 1) => {
            rename_by_depth(places, steps, &levels, cancel)
        }
        _ => rename_in_order(places, steps, cancel),
    }
}

fn rename_in_order(places: &Places, steps: &[(PathBuf, PathBuf)], cancel: &CancelToken) -> Renamed {
    let mut dirs = Dirs::default();
    for (i, (from, to)) in steps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Renamed { done: i, error: None };
        }
        if let Err(e) = rename_in(&mut dirs, places, from, to) {
            return Renamed { done: i, error: Some(step_error(e, from, to)) };
        }
    }
    Renamed { done: steps.len(), error: None }
}

fn step_error(e: io::Error, from: &Path, to: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{} -> {}: {e}", from.display(), to.display()))
}

/// The steps' indices by depth (deepest first), then by directory, each in order; None unless
/// every step stays in its directory and no step is deeper than the one before it.
fn by_depth(steps: &[(PathBuf, PathBuf)]) -> Option<Vec<Vec<Vec<usize>>>> {
    let mut levels: Vec<Vec<Vec<usize>>> = Vec::new();
    let mut groups: HashMap<&Path, usize> = HashMap::new();
    let mut depth = usize::MAX;
    for (i, (from, to)) in steps.iter().enumerate() {
        let dir = from.parent()?;
        if to.parent() != Some(dir) {
            return None;
        }
        let d = from.components().count();
        if d > depth {
            return None;
        }
        if d < depth {
            depth = d;
            levels.push(Vec::new());
            groups.clear();
        }
        let level = levels.last_mut()?;
        let group = *groups.entry(dir).or_insert_with(|| {
            level.push(Vec::new());
            level.len() - 1
        });
        level[group].push(i);
    }
    Some(levels)
}

/// [`rename_all`] in parallel (see there); `levels` from [`by_depth`].
fn rename_by_depth(
    places: &Places,
    steps: &[(PathBuf, PathBuf)],
    levels: &[Vec<Vec<usize>>],
    cancel: &CancelToken,
) -> Renamed {
    let done: Vec<AtomicBool> = steps.iter().map(|_| AtomicBool::new(false)).collect();
    let failed: Mutex<Option<io::Error>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    for level in levels {
        level.par_iter().for_each(|group| {
            let mut dirs = Dirs::default();
            for &i in group {
                if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                    return;
                }
                let (from, to) = &steps[i];
                if let Err(e) = rename_in(&mut dirs, places, from, to) {
                    stop.store(true, Ordering::Relaxed);
                    let mut first = failed.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(step_error(e, from, to));
                    return;
                }
                done[i].store(true, Ordering::Relaxed);
            }
        });
        if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
            break;
        }
    }
    let done = done.iter().take_while(|d| d.load(Ordering::Relaxed)).count();
    Renamed { done, error: failed.into_inner().unwrap_or_else(|e| e.into_inner()) }
}

/// Which entry a step moves: device, inode, and a stamp that tells a new entry from the one the
/// plan saw should its inode be reused: the modification time in nanoseconds of anything but a
/// directory (renames do not change it), 0 for a directory (renames inside it do).
pub type Identity = (u64, u64, i64);

/// An [`Identity`] from what a `stat` says (the walk's [`Meta`](crate::walk::Meta), or
/// [`identity`]'s own).
pub fn identity_from(dir: bool, dev: u64, ino: u64, mtime: i64, mtime_nsec: u32) -> Identity {
    (dev, ino, if dir { 0 } else { mtime * 1_000_000_000 + i64::from(mtime_nsec) })
}

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

/// fsyncs the directories that hold these paths (each once, in parallel), so that renames in
/// them survive a power loss once this returns; one that is not there any more, or on a file
/// system that cannot sync directories, is passed over.
pub fn sync_parents(places: &Places, paths: &[PathBuf]) -> io::Result<()> {
    let dirs: BTreeSet<&Path> = paths.iter().map(|p| p.parent().unwrap_or(Path::new(""))).collect();
    dirs.into_par_iter().try_for_each(|dir| sync_dir(places, dir))
}

fn sync_dir(places: &Places, dir: &Path) -> io::Result<()> {
    let entry = dir.join("x"); // the directory is the parent of any name in it
    let fd = match places.parent(&entry, OFlags::RDONLY) {
        Ok((fd, _)) => fd,
        // Removed (a rollback took away a directory a move had made): its removal is synced
        // with its own directory, which is in the list too. Refused (beneath the roots):
        // nothing was changed in it.
        Err(e)
            if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
                || is_refused(&e) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    match rustix::fs::fsync(&fd) {
        // A file system that cannot sync a directory (procfs, sysfs, some FUSE ones) says
        // EINVAL: there is nothing more to make durable (PostgreSQL's fsync_fname takes it
        // so too). Failing there left a rollback, and so every later recovery, stuck.
        Ok(()) | Err(rustix::io::Errno::INVAL) => Ok(()),
        Err(e) => {
            let e = io::Error::from(e);
            Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
        }
    }
}

/// The identity of the entry at `path` (a symlink's own), in its directory as `places` opens
/// it; None where there is none.
#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
pub fn identity(places: &Places, path: &Path) -> io::Result<Option<Identity>> {
    Ok(lstat(places, path)?.map(|st| {
        let dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        identity_from(dir, st.st_dev, st.st_ino, st.st_mtime, st.st_mtime_nsec as u32)
    }))
}

/// The size in bytes of the entry at `path` (a symlink's own), as [`identity`] finds it.
#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
pub fn size(places: &Places, path: &Path) -> io::Result<Option<u64>> {
    Ok(lstat(places, path)?.map(|st| st.st_size as u64))
}

/// What `fstatat` says of the entry at `path`, not following a symlink, in its directory as
/// `places` opens it; None where there is none.
fn lstat(places: &Places, path: &Path) -> io::Result<Option<rustix::fs::Stat>> {
    let (dir, name) = match places.parent(path, OFlags::PATH) {
        Ok(found) => found,
        // Not a directory: something on the path is a file now, so the entry is not there.
        // Refused (beneath the roots): none of the operation's entries can be there.
        Err(e)
            if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
                || is_refused(&e) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    match statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_into_itself_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.join("sub"), dir.path().join("link")).unwrap();
        // Through a symlink, as a plan cannot see it.
        let into = dir.path().join("link").join("d");
        let e = rename_noreplace(&Places::anywhere(), &d, &into).unwrap_err();
        assert_eq!(e.to_string(), "a directory cannot move into itself");
        assert!(d.join("sub").is_dir() && !d.join("sub").join("d").exists());
    }

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
    fn directories_rename_in_parallel_depth_after_depth_each_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| dir.path().join(s);
        for d in ["x", "y"] {
            std::fs::create_dir(p(d)).unwrap();
            std::fs::write(p(&format!("{d}/a")), format!("{d}a")).unwrap();
            std::fs::write(p(&format!("{d}/b")), format!("{d}b")).unwrap();
        }
        // x: a swap through a temporary name (in order); y: a chain (b -> c, then a -> b);
        // then, one depth up, x itself renamed.
        let steps = vec![
            (p("x/a"), p("x/t")),
            (p("y/b"), p("y/c")),
            (p("x/b"), p("x/a")),
            (p("y/a"), p("y/b")),
            (p("x/t"), p("x/b")),
            (p("x"), p("z")),
        ];
        let levels = by_depth(&steps).unwrap();
        assert_eq!(levels, vec![vec![vec![0, 2, 4], vec![1, 3]], vec![vec![5]]]);
        let outcome = rename_all(&Places::anywhere(), &steps, &CancelToken::default());
        assert_eq!((outcome.done, outcome.error.is_none()), (6, true));
        let read = |s: &str| std::fs::read_to_string(p(s)).unwrap();
        assert_eq!([read("z/a"), read("z/b"), read("y/b"), read("y/c")], ["xb", "xa", "ya", "yb"]);
        // Deeper after shallower, or a step out of its directory: in order, not in parallel.
        assert_eq!(by_depth(&[(p("z"), p("x")), (p("z/a"), p("z/c"))]), None);
        assert_eq!(by_depth(&[(p("z/a"), p("y/a"))]), None);
    }

    #[test]
    fn a_path_through_a_file_has_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "f").unwrap();
        assert_eq!(identity(&Places::anywhere(), &file.join("x")).unwrap(), None);
    }
}
