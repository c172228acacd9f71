//! Writing files' new contents safely (the `replace` kind of the journal's steps), reversing
//! it, and telling whether it is done.
//!
//! One step: the file at `path`, still the one planned (device, inode, mtime and size), is kept
//! in the journal's backup store (`backup`: a hard link to it where the store is on its file
//! system, else a copy of its bytes), durable before the file changes;
//! its new content is written to a temporary file beside it (`temp`: only its last name is
//! used, a hidden `.vegafs-TAG-N` in the file's directory) with the original's mode, owner and
//! times, made durable, and renamed over it. A reader sees the old content or the new, never a
//! part. The new content comes from the [`Replacer`] run again on the bytes read (or from a
//! file: undo writes a backup back), and its BLAKE3 must be the plan's `digest`, or the step
//! fails "changed since the plan".
//!
//! Every file is reached through its directory as [`Places`] opens it: for a job, beneath the
//! allowed roots without following any symlink, the file itself opened with `O_NOFOLLOW`, the
//! temporary file created and renamed in that directory handle. The backup store (in the data
//! directory) is not beneath the roots and is opened by path.
//!
//! A step is done when the file's content hashes to `digest`; reversing writes the backup
//! back the same way (temporary file, fsync, rename), only over a file whose content still
//! hashes to `digest`, and removes a temporary file left by a crash.

use std::ffi::OsStr;
use std::fs::{self, File, FileTimes};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::apply::{Identity, LastDir, RolledBack};
use crate::control::CancelToken;
use crate::places::Places;
use crate::replace::Replacer;

/// One file to write.
#[derive(Debug, Clone)]
pub struct RewriteStep {
    pub path: PathBuf,
    /// A name beside `path` (only its last name is used: it is made in `path`'s directory).
    pub temp: PathBuf,
    pub backup: PathBuf,
    /// The file as planned: device, inode, mtime in ns.
    pub identity: Identity,
    /// Its size as planned, if known.
    pub size: Option<u64>,
    /// BLAKE3 of the content to write.
    pub digest: Vec<u8>,
    /// Where the new content is, if not made by the replacer (undo: a backup).
    pub source: Option<PathBuf>,
}

/// What [`rewrite_all`] did: the first `done` steps, then the error that stopped the next one
/// (none: all done, or cancelled).
#[derive(Debug)]
pub struct Rewritten {
    pub done: usize,
    pub error: Option<io::Error>,
}

/// Steps one rayon task prepares in turn (keeping their directory open between them).
const CHUNK: usize = 16;

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn stamp(meta: &fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// The last name of `temp`, the temporary file beside a step's file.
fn temp_name(temp: &Path) -> &OsStr {
    temp.file_name().unwrap_or(temp.as_os_str())
}

/// `name` in `dir`, opened to read without following a symlink.
fn open_in(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    Ok(File::from(rustix::fs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty())?))
}

/// Runs `steps` until one fails or `cancel` is set, in three passes:
/// 1. in parallel (rayon), each file is checked, its backup made (linked or copied) and its
///    temporary file written (not yet synced);
/// 2. every file system written to is synced (`syncfs`, once each): the backups, their
///    directory entries and the new contents are durable before any file changes;
/// 3. each file, checked again (device, inode, size, mtime), has its temporary file renamed
///    over it, in order.
///
/// An error or a cancel in pass 1 or 2 removes the temporary files and reports no step done.
/// The directories of the renamed files are fsynced by the caller (the journal, once a batch).
pub fn rewrite_all(
    places: &Places,
    steps: &[RewriteStep],
    replacer: Option<&Replacer>,
    cancel: &CancelToken,
) -> Rewritten {
    let stop = AtomicBool::new(false);
    let prepared: Vec<Option<io::Result<fs::Metadata>>> = steps
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut dir = LastDir::default();
            let mut out = Vec::with_capacity(chunk.len());
            for step in chunk {
                if cancel.is_cancelled() || stop.load(Ordering::Relaxed) {
                    out.push(None);
                    continue;
                }
                let result = prepare(places, &mut dir, step, replacer);
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                out.push(Some(result));
            }
            out
        })
        .flatten()
        .collect();
    let mut failed = None;
    let mut complete = true;
    for result in &prepared {
        match result {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                failed = Some(io::Error::new(e.kind(), e.to_string()));
                break;
            }
            None => complete = false,
        }
    }
    if failed.is_none() && complete {
        failed = sync_systems(places, steps).err();
    }
    if failed.is_some() || !complete {
        let written = steps.iter().zip(&prepared).filter(|(_, p)| matches!(p, Some(Ok(_))));
        remove_temps(places, written.map(|(s, _)| s));
        return Rewritten { done: 0, error: failed };
    }
    let mut dir = LastDir::default();
    for (i, (step, meta)) in steps.iter().zip(&prepared).enumerate() {
        let Some(Ok(meta)) = meta else { unreachable!("every step was prepared") };
        if let Err(e) = commit(places, &mut dir, step, meta) {
            remove_temps(places, &steps[i..]);
            return Rewritten { done: i, error: Some(e) };
        }
    }
    Rewritten { done: steps.len(), error: None }
}

/// Syncs (`syncfs`) each file system the steps wrote to, each once: the backup stores' and
/// the files'. Measured faster than an fsync per file (docs/benchmarks.md), even with many in
/// flight.
fn sync_systems(places: &Places, steps: &[RewriteStep]) -> io::Result<()> {
    let mut synced: Vec<u64> = Vec::new();
    let mut stores: Vec<&Path> = Vec::new();
    for step in steps {
        let store = step.backup.parent().unwrap_or(Path::new("."));
        if !stores.contains(&store) {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(CWD, store, flags, Mode::empty())
                .map_err(|e| named(store, e.into()))?;
            sync_once(&mut synced, fd, store)?;
            stores.push(store);
        }
        if !synced.contains(&step.identity.0) {
            sync_once(&mut synced, places.parent(&step.path, OFlags::RDONLY)?.0, &step.path)?;
        }
    }
    Ok(())
}

/// `syncfs` of `fd`'s file system unless `synced` holds its device already.
fn sync_once(synced: &mut Vec<u64>, fd: OwnedFd, what: &Path) -> io::Result<()> {
    let dev = rustix::fs::fstat(&fd).map_err(|e| named(what, e.into()))?.st_dev;
    if !synced.contains(&dev) {
        rustix::fs::syncfs(&fd).map_err(|e| named(what, e.into()))?;
        synced.push(dev);
    }
    Ok(())
}

/// Removes the temporary files of `steps` (those not there are passed over).
fn remove_temps<'a>(places: &Places, steps: impl IntoIterator<Item = &'a RewriteStep>) {
    let mut dir = LastDir::default();
    for step in steps {
        if let Ok((fd, _)) = dir.open(places, &step.path) {
            let _ = rustix::fs::unlinkat(fd, temp_name(&step.temp), AtFlags::empty());
        }
    }
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!("{}: changed since the plan", path.display()))
}

/// Whether `meta` is the file `step` planned (identity, and size if known).
fn same_file(meta: &fs::Metadata, step: &RewriteStep) -> bool {
    let (dev, ino, mtime) = step.identity;
    meta.is_file()
        && (meta.dev(), meta.ino(), stamp(meta)) == (dev, ino, mtime)
        && step.size.is_none_or(|s| s == meta.len())
}

/// Pass 1 of a step: checks the file, writes its backup and its temporary file (unsynced);
/// the file's metadata as read.
fn prepare(
    places: &Places,
    dir: &mut LastDir,
    step: &RewriteStep,
    replacer: Option<&Replacer>,
) -> io::Result<fs::Metadata> {
    let path = &step.path;
    let (fd, name) = dir.open(places, path)?;
    let mut file = match open_in(fd.as_fd(), name) {
        Ok(f) => f,
        // A symlink there now (the plan names the file a symlink leads to, never the link).
        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
            return Err(changed(path))
        }
        Err(e) => return Err(named(path, e)),
    };
    let meta = file.metadata().map_err(|e| named(path, e))?;
    if !same_file(&meta, step) {
        return Err(changed(path));
    }
    let mut old = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut old).map_err(|e| named(path, e))?;
    let new = match (&step.source, replacer) {
        (Some(source), _) => fs::read(source).map_err(|e| named(source, e))?,
        (None, Some(r)) => match r.replace(&old).map_err(|e| named(path, e))? {
            Some(replaced) => replaced.content,
            None => return Err(changed(path)),
        },
        (None, None) => return Err(io::Error::other("no replacement given")),
    };
    if blake3::hash(&new).as_bytes()[..] != step.digest[..] {
        return Err(changed(path));
    }
    back_up(path, fd.as_fd(), name, &meta, &step.backup, &old)?;
    let mode = meta.mode() & 0o7777;
    write_new(
        fd.as_fd(),
        temp_name(&step.temp),
        &new,
        mode,
        Some((meta.uid(), meta.gid())),
        &meta,
        false,
    )
    .map_err(|e| beside(path, &step.temp, e))?;
    Ok(meta)
}

/// Keeps the file `name` in `dir` (read as `meta`, holding `old`) as `backup`: a hard link to
/// it where the backup store is on its file system (the rename of pass 3 then leaves the
/// original inode, bytes, mode, owner and times, to the store alone: no byte is written), else
/// a copy of its bytes with its times. The link is made by name and checked to be the file
/// read (device and inode), or removed and the step refused.
fn back_up(
    path: &Path,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    meta: &fs::Metadata,
    backup: &Path,
    old: &[u8],
) -> io::Result<()> {
    let failed =
        |e: io::Error| io::Error::new(e.kind(), format!("{}: backing it up: {e}", path.display()));
    let copy = || write_new(CWD, backup.as_os_str(), old, 0o600, None, meta, false);
    if meta.nlink() != 1 {
        // Linked elsewhere since the plan (which refuses such files): that name would still
        // reach the kept inode, so a copy keeps the bytes.
        return copy().map_err(failed);
    }
    match rustix::fs::linkat(dir, name, CWD, backup, AtFlags::empty()) {
        Ok(()) => {
            let linked = rustix::fs::statat(CWD, backup, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| failed(e.into()))?;
            if (linked.st_dev, linked.st_ino) == (meta.dev(), meta.ino()) {
                return Ok(());
            }
            let _ = rustix::fs::unlinkat(CWD, backup, AtFlags::empty());
            Err(changed(path)) // another file put under its name since it was read
        }
        // Another file system, or hard links refused (protected_hardlinks, a file system
        // without them, too many links): a copy, its times kept (a restore gives them back).
        Err(Errno::XDEV | Errno::PERM | Errno::ACCESS | Errno::MLINK | Errno::OPNOTSUPP) => {
            copy().map_err(failed)
        }
        Err(e) => Err(failed(e.into())),
    }
}

fn beside(path: &Path, temp: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{}: writing its new content beside it ({}): {e}", path.display(), temp.display()),
    )
}

/// Pass 3 of a step: the file is still the one planned; its temporary file replaces it.
fn commit(
    places: &Places,
    dir: &mut LastDir,
    step: &RewriteStep,
    planned: &fs::Metadata,
) -> io::Result<()> {
    let path = &step.path;
    let (fd, name) = dir.open(places, path)?;
    let now = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| named(path, e.into()))?;
    let (dev, ino, mtime) = step.identity;
    let now_stamp = now.st_mtime * 1_000_000_000 + now.st_mtime_nsec as i64;
    if (now.st_dev, now.st_ino, now_stamp, now.st_size as u64) != (dev, ino, mtime, planned.len()) {
        return Err(changed(path));
    }
    rustix::fs::renameat(fd, temp_name(&step.temp), fd, name).map_err(|e| named(path, e.into()))
}

/// A new file `name` in `dir` (never an existing one) holding `content`, with `mode`, the owner
/// (where allowed: as root, or our own) and `times`' access and modification times, fsynced
/// if `sync`. On an error it is removed.
fn write_new(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    times: &fs::Metadata,
    sync: bool,
) -> io::Result<()> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let created = rustix::fs::openat(dir, name, flags, Mode::from_bits_truncate(mode & 0o777))?;
    let mut file = File::from(created);
    let written = (|| {
        file.write_all(content)?;
        // Owner and mode set only where the new file has others already (usually it has
        // ours, and a mode the umask left whole): a fstat instead of two inode updates.
        let made = rustix::fs::fstat(&file)?;
        let mut chmod = made.st_mode & 0o7777 != mode;
        if let Some((uid, gid)) = owner.filter(|&o| o != (made.st_uid, made.st_gid)) {
            match std::os::unix::fs::fchown(&file, Some(uid), Some(gid)) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {} // not root
                other => other?,
            }
            chmod = true; // chown clears set-id bits
        }
        if chmod {
            // The umask is not applied here, nor set-id bits dropped.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        let times =
            FileTimes::new().set_accessed(times.accessed()?).set_modified(times.modified()?);
        file.set_times(times)?;
        if sync {
            file.sync_all()
        } else {
            Ok(())
        }
    })();
    if written.is_err() {
        drop(file);
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    written
}

/// The BLAKE3 of the file `name` in `dir` (not following a symlink); None if there is none.
fn digest_in(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let file = match open_in(dir, name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A symlink there now: not the file written.
        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file)?;
    Ok(Some(hasher.finalize().as_bytes().to_vec()))
}

/// The BLAKE3 of each path's file (not following a symlink); None where there is none.
pub fn content_digests(places: &Places, paths: &[PathBuf]) -> io::Result<Vec<Option<Vec<u8>>>> {
    let mut dir = LastDir::default();
    paths
        .iter()
        .map(|path| {
            let (fd, name) = match dir.open(places, path) {
                Ok(found) => found,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            digest_in(fd.as_fd(), name).map_err(|e| named(path, e))
        })
        .collect()
}

/// A step to reverse: the file, its temporary name, its backup, and the digest of what the
/// step wrote.
pub type WrittenStep = (PathBuf, PathBuf, PathBuf, Vec<u8>);

/// Reverses `steps`, last first: a temporary file left is removed; a file whose content hashes
/// to the step's digest gets its backup back (temporary file, fsync, rename; its mode and owner
/// kept, the original's times from the backup); the others are left and counted (never done,
/// reversed already, or changed since: not touched).
pub fn restore_all(places: &Places, steps: &[WrittenStep]) -> RolledBack {
    let mut out = RolledBack { reversed: 0, not_done: 0, error: None };
    let mut dir = LastDir::default();
    for (path, temp, backup, digest) in steps.iter().rev() {
        let (fd, name) = match dir.open(places, path) {
            Ok(found) => found,
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                out.not_done += 1; // its directory is gone: nothing of ours is there
                continue;
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        let temp = temp_name(temp);
        match rustix::fs::unlinkat(fd, temp, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => {
                out.error = Some(named(path, e.into()));
                return out;
            }
        }
        match digest_in(fd.as_fd(), name) {
            Ok(Some(d)) if d == *digest => {}
            Ok(_) => {
                out.not_done += 1;
                continue;
            }
            Err(e) => {
                out.error = Some(named(path, e));
                return out;
            }
        }
        if let Err(e) = restore(fd.as_fd(), name, temp, backup) {
            let message = format!("{}: restoring it ({}): {e}", path.display(), backup.display());
            out.error = Some(io::Error::new(e.kind(), message));
            return out;
        }
        out.reversed += 1;
    }
    out
}

fn restore(dir: BorrowedFd<'_>, name: &OsStr, temp: &OsStr, backup: &Path) -> io::Result<()> {
    let original = fs::read(backup)?;
    let times = fs::metadata(backup)?;
    let now = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = now.st_mode & 0o7777;
    write_new(dir, temp, &original, mode, Some((now.st_uid, now.st_gid)), &times, true)?;
    rustix::fs::renameat(dir, temp, dir, name).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, temp, AtFlags::empty());
        e.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replace::ReplaceOptions;

    fn step_for(f: &Path, t: &Path, b: &Path, digest: &[u8]) -> RewriteStep {
        let before = fs::metadata(f).unwrap();
        RewriteStep {
            path: f.to_path_buf(),
            temp: t.to_path_buf(),
            backup: b.to_path_buf(),
            identity: (before.dev(), before.ino(), stamp(&before)),
            size: Some(before.len()),
            digest: digest.to_vec(),
            source: None,
        }
    }

    fn two_to_2() -> Replacer {
        let options =
            ReplaceOptions { pattern: "two".into(), replacement: "2".into(), ..Default::default() };
        Replacer::new(&options).unwrap()
    }

    #[test]
    fn a_file_is_written_backed_up_and_restored() {
        let dir = tempfile::tempdir().unwrap();
        let (f, t, b) = (dir.path().join("f"), dir.path().join(".t"), dir.path().join("b"));
        fs::write(&f, "one two\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fs::metadata(&f).unwrap();
        let r = two_to_2();
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        let step = step_for(&f, &t, &b, &digest);
        let places = Places::anywhere();
        let out =
            rewrite_all(&places, std::slice::from_ref(&step), Some(&r), &CancelToken::default());
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(fs::read(&f).unwrap(), b"one 2\n");
        assert_eq!(fs::read(&b).unwrap(), b"one two\n");
        // On the file's file system, the backup is the original inode, now linked only there.
        let kept = fs::metadata(&b).unwrap();
        assert_eq!((kept.dev(), kept.ino(), kept.nlink()), (before.dev(), before.ino(), 1));
        assert_eq!((kept.mode() & 0o7777, stamp(&kept)), (0o640, stamp(&before)));
        let after = fs::metadata(&f).unwrap();
        assert_eq!(after.mode() & 0o7777, 0o640);
        assert_eq!(stamp(&after), stamp(&before));
        assert_eq!(
            content_digests(&places, std::slice::from_ref(&f)).unwrap(),
            [Some(digest.clone())]
        );
        // Planned against the old file: refused now.
        let again =
            rewrite_all(&places, std::slice::from_ref(&step), Some(&r), &CancelToken::default());
        assert!(again.error.unwrap().to_string().contains("changed since the plan"));
        let back = restore_all(&places, &[(f.clone(), t.clone(), b.clone(), digest.clone())]);
        assert_eq!((back.reversed, back.not_done), (1, 0));
        assert_eq!(fs::read(&f).unwrap(), b"one two\n");
        assert_eq!(stamp(&fs::metadata(&f).unwrap()), stamp(&before));
        let twice = restore_all(&places, &[(f.clone(), t, b, digest)]);
        assert_eq!((twice.reversed, twice.not_done), (0, 1));
    }

    #[test]
    fn modes_the_umask_would_strip_and_set_id_bits_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let r = two_to_2();
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        for (i, mode) in [0o777, 0o666, 0o4711, 0o600].into_iter().enumerate() {
            let f = dir.path().join(format!("f{i}"));
            fs::write(&f, "one two\n").unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
            let (t, b) = (dir.path().join(format!(".t{i}")), dir.path().join(format!("b{i}")));
            let step = step_for(&f, &t, &b, &digest);
            let out = rewrite_all(&Places::anywhere(), &[step], Some(&r), &CancelToken::default());
            assert!(out.error.is_none(), "{:?}", out.error);
            let after = fs::metadata(&f).unwrap();
            assert_eq!((after.mode() & 0o7777, fs::read(&f).unwrap()), (mode, b"one 2\n".to_vec()));
        }
    }

    #[test]
    fn a_backup_on_another_file_system_is_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir_in("/dev/shm").unwrap(); // a tmpfs: another file system
        let (f, t, b) = (dir.path().join("f"), dir.path().join(".t"), store.path().join("b"));
        fs::write(&f, "one two\n").unwrap();
        let before = fs::metadata(&f).unwrap();
        assert_ne!(before.dev(), fs::metadata(store.path()).unwrap().dev());
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        let step = step_for(&f, &t, &b, &digest);
        let places = Places::anywhere();
        let out = rewrite_all(&places, &[step], Some(&two_to_2()), &CancelToken::default());
        assert!(out.error.is_none(), "{:?}", out.error);
        let kept = fs::metadata(&b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"one two\n");
        assert_eq!((kept.mode() & 0o7777, stamp(&kept)), (0o600, stamp(&before)));
        assert_eq!(fs::read(&f).unwrap(), b"one 2\n");
        let back = restore_all(&places, &[(f.clone(), t, b, digest)]);
        assert_eq!((back.reversed, back.not_done), (1, 0));
        assert_eq!(fs::read(&f).unwrap(), b"one two\n");
        assert_eq!(stamp(&fs::metadata(&f).unwrap()), stamp(&before));
    }

    #[test]
    fn a_failing_step_leaves_every_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir(&store).unwrap();
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        let mut steps = Vec::new();
        for i in 0..100 {
            let f = dir.path().join(format!("f{i}"));
            fs::write(&f, "one two\n").unwrap();
            let t = dir.path().join(format!(".t{i}"));
            steps.push(step_for(&f, &t, &store.join(i.to_string()), &digest));
        }
        fs::write(&steps[60].path, "one two!\n").unwrap(); // changed since the plan
        let out =
            rewrite_all(&Places::anywhere(), &steps, Some(&two_to_2()), &CancelToken::default());
        assert_eq!(out.done, 0);
        assert!(out.error.unwrap().to_string().contains("f60: changed since the plan"));
        let mut names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names.len(), 101, "no temporary file left: {names:?}");
        assert!(steps
            .iter()
            .enumerate()
            .all(|(i, s)| i == 60 || fs::read(&s.path).unwrap() == b"one two\n"));
    }

    #[test]
    fn a_job_writes_no_file_outside_its_roots_or_through_a_symlink() {
        let top = tempfile::tempdir().unwrap();
        let (root, out) = (top.path().join("root"), top.path().join("out"));
        fs::create_dir(&root).unwrap();
        fs::create_dir(&out).unwrap();
        fs::write(out.join("f"), "one two\n").unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        std::os::unix::fs::symlink(out.join("f"), root.join("f")).unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        for path in [root.join("link/f"), out.join("f"), root.join("f")] {
            let mut step =
                step_for(&out.join("f"), &out.join(".t"), &top.path().join("b"), &digest);
            step.path = path.clone();
            let done = rewrite_all(&places, &[step], Some(&two_to_2()), &CancelToken::default());
            let e = done.error.unwrap();
            let refused = e.kind() == io::ErrorKind::PermissionDenied;
            assert!(refused || e.to_string().contains("changed since the plan"), "{path:?}: {e}");
        }
        assert_eq!(fs::read(out.join("f")).unwrap(), b"one two\n");
        assert!(!top.path().join("b").exists() && !out.join(".t").exists());
    }
}
