//! The directories a writing operation creates and removes (`mkdir` and `rmdir` steps of
//! `move`, `copy` and their undo): each made or removed by its last name in its parent, which
//! [`Places`] opens (beneath a job's roots, no symlink followed), with `mkdirat`,
//! `unlinkat(AT_REMOVEDIR)` and `fstatat`. A symlink is never followed: removing one as a
//! directory fails by itself (`ENOTDIR`), and it does not count as a directory.

use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, statat, unlinkat, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::apply::{identity_from, Identity, Renamed};
use crate::control::CancelToken;
use crate::places::{is_refused, Places};

/// What is at a directory step's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    /// Nothing (or a file where the path needs a directory).
    Missing,
    /// An empty directory.
    Empty,
    /// A directory with entries.
    Full,
    /// Something that is not a directory (a symlink included).
    Other,
}

/// Creates each of `paths` in order (mode 0777 less the umask), until one fails or `cancel` is
/// set. `exist_ok`: a directory already there counts as made (anything else there still fails
/// with `EEXIST`).
pub fn make_dirs(
    places: &Places,
    paths: &[PathBuf],
    cancel: &CancelToken,
    exist_ok: bool,
) -> Renamed {
    for (i, path) in paths.iter().enumerate() {
        if cancel.is_cancelled() {
            return Renamed { done: i, error: None };
        }
        let made = places.parent(path, OFlags::PATH).and_then(|(dir, name)| {
            match mkdirat(&dir, &name, Mode::from_raw_mode(0o777)) {
                Err(Errno::EXIST) if exist_ok && state_in(&dir, &name)? != DirState::Other => {
                    Ok(())
                }
                made => made.map_err(io::Error::from),
            }
        });
        if let Err(e) = made {
            return Renamed { done: i, error: Some(named(path, e)) };
        }
    }
    Renamed { done: paths.len(), error: None }
}

/// Removes each of `paths` that is an empty directory, in order, until `cancel` is set or an
/// error stops it; one that is not empty, not a directory or not there is left as it is, which
/// is not an error.
pub fn remove_empty_dirs(places: &Places, paths: &[PathBuf], cancel: &CancelToken) -> Renamed {
    for (i, path) in paths.iter().enumerate() {
        if cancel.is_cancelled() {
            return Renamed { done: i, error: None };
        }
        let removed = match places.parent(path, OFlags::PATH) {
            Ok((dir, name)) => match unlinkat(&dir, &name, AtFlags::REMOVEDIR) {
                // What rmdir answers for a directory that must stay.
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR | Errno::NOENT) => Ok(()),
                removed => removed.map_err(io::Error::from),
            },
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            return Renamed { done: i, error: Some(named(path, e)) };
        }
    }
    Renamed { done: paths.len(), error: None }
}

/// Deletes each entry at its path (a file or a symlink, never a directory) that is still the
/// entry of its identity (device, inode, mtime: [`crate::apply::identity`]), by its name in
/// its parent as `places` opens it, so nothing is deleted through a symlink beneath a job's
/// roots. Whether each was deleted; one not there, another entry, or refused is left, not an
/// error.
pub fn remove_files(places: &Places, entries: &[(PathBuf, Identity)]) -> io::Result<Vec<bool>> {
    entries.iter().map(|(path, id)| remove_file(places, path, *id)).collect()
}

#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn remove_file(places: &Places, path: &Path, id: Identity) -> io::Result<bool> {
    let (dir, name) = match places.parent(path, OFlags::PATH) {
        Ok(found) => found,
        Err(e) if gone(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    let st = match statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(false),
        Err(e) => return Err(named(path, e.into())),
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    let now = identity_from(is_dir, st.st_dev, st.st_ino, st.st_mtime, st.st_mtime_nsec as u32);
    if is_dir || now != id {
        return Ok(false);
    }
    match unlinkat(&dir, &name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(named(path, e.into())),
    }
}

/// What is at `path` (not following a symlink).
pub fn dir_state(places: &Places, path: &Path) -> io::Result<DirState> {
    match places.parent(path, OFlags::PATH) {
        Ok((dir, name)) => state_in(&dir, &name).map_err(|e| named(path, e)),
        Err(e) if gone(&e) => Ok(DirState::Missing),
        Err(e) => Err(e),
    }
}

fn state_in(dir: &rustix::fd::OwnedFd, name: &std::ffi::OsStr) -> io::Result<DirState> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
        Ok(_) => return Ok(DirState::Other),
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(DirState::Missing),
        Err(e) => return Err(e.into()),
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Swapped for something else since the stat.
        Err(Errno::NOENT) => return Ok(DirState::Missing),
        Err(Errno::NOTDIR | Errno::LOOP) => return Ok(DirState::Other),
        Err(e) => return Err(e.into()),
    };
    for entry in rustix::fs::Dir::read_from(&fd)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(DirState::Full);
        }
    }
    Ok(DirState::Empty)
}

/// Nothing there: a directory on the path is missing, or is a file now; or the path is refused
/// beneath the roots, so nothing of the operation's is there.
fn gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) || is_refused(e)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    if e.to_string().contains(&*path.to_string_lossy()) {
        return e; // Places named it already
    }
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_made_and_removed_only_when_empty() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let (a, b) = (root.join("a"), root.join("a/b"));
        let cancel = CancelToken::default();
        let made = make_dirs(&places, &[a.clone(), b.clone()], &cancel, false);
        assert_eq!((made.done, made.error.is_none()), (2, true));
        assert_eq!(dir_state(&places, &b).unwrap(), DirState::Empty);
        assert_eq!(dir_state(&places, &a).unwrap(), DirState::Full);
        let again = make_dirs(&places, std::slice::from_ref(&a), &cancel, false);
        assert_eq!(again.error.unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(make_dirs(&places, std::slice::from_ref(&a), &cancel, true).done, 1);
        std::fs::write(b.join("kept"), "x").unwrap();
        let removed = remove_empty_dirs(&places, &[b.clone(), a.clone()], &cancel);
        assert_eq!((removed.done, removed.error.is_none()), (2, true));
        assert!(b.join("kept").exists());
        std::fs::remove_file(b.join("kept")).unwrap();
        remove_empty_dirs(&places, &[b.clone(), a.clone()], &cancel);
        assert_eq!(dir_state(&places, &a).unwrap(), DirState::Missing);
        assert_eq!(dir_state(&places, &b).unwrap(), DirState::Missing);
    }

    #[test]
    fn a_file_is_removed_only_if_it_is_the_one_named_and_never_through_a_symlink() {
        let top = tempfile::tempdir().unwrap();
        let (root, out) = (top.path().join("root"), top.path().join("out"));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir(&out).unwrap();
        let (mine, other) = (root.join("d/mine"), root.join("d/other"));
        std::fs::write(&mine, "x").unwrap();
        std::fs::write(&other, "y").unwrap();
        std::fs::write(out.join("mine"), "outside").unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let id = |p: &Path| crate::apply::identity(&places, p).unwrap().unwrap();
        let (mine_id, other_id) = (id(&mine), id(&other));
        let outside_id = crate::apply::identity(&Places::anywhere(), &out.join("mine")).unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        let entries = [
            (mine.clone(), mine_id),
            (other.clone(), mine_id), // another file there now: kept
            (root.join("link/mine"), outside_id.unwrap()),
            (root.join("d"), id(&root.join("d"))), // a directory: never
        ];
        assert_eq!(remove_files(&places, &entries).unwrap(), [true, false, false, false]);
        assert!(!mine.exists());
        assert_eq!(std::fs::read(&other).unwrap(), b"y");
        assert_eq!(std::fs::read(out.join("mine")).unwrap(), b"outside");
        assert!(root.join("d").is_dir());
        assert_eq!(remove_files(&places, &[(other.clone(), other_id)]).unwrap(), [true]);
    }

    #[test]
    fn a_symlink_in_the_way_is_not_followed_beneath_the_roots() {
        let top = tempfile::tempdir().unwrap();
        let (root, out) = (top.path().join("root"), top.path().join("out"));
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let cancel = CancelToken::default();
        let made = make_dirs(&places, &[root.join("link/new")], &cancel, false);
        assert_eq!(made.error.unwrap().kind(), io::ErrorKind::PermissionDenied);
        assert!(!out.join("new").exists());
        assert_eq!(dir_state(&places, &root.join("link")).unwrap(), DirState::Other);
        // Nothing of ours can be through it: a rollback finds nothing to undo there.
        assert_eq!(dir_state(&places, &root.join("link/new")).unwrap(), DirState::Missing);
        let kept = remove_empty_dirs(&places, &[root.join("link")], &cancel);
        assert!(kept.error.is_none());
        assert!(root.join("link").is_symlink());
        let outside = make_dirs(&places, &[out.join("x")], &cancel, false);
        assert_eq!(outside.error.unwrap().kind(), io::ErrorKind::PermissionDenied);
    }
}
