//! Writing files' new contents safely (the `replace` kind of the journal's steps), reversing
//! it, and telling whether it is done.
//!
//! One step: the file at `path`, still the one planned (device, inode, mtime and size), has its
//! bytes copied into the journal's backup store (`backup`), durable before the file changes;
//! its new content is written to a temporary file beside it (`temp`, a hidden
//! `.vegafs-TAG-N`) with the original's mode, owner and times, synced, and renamed over it
//! (a batch of steps syncs once per file system: [`rewrite_all`]). A reader sees the old
//! content or the new, never a part. The new content comes from the
//! [`Replacer`] run again on the bytes read (or from a file: undo writes a backup back), and its
//! BLAKE3 must be the plan's `digest`, or the step fails "changed since the plan".
//!
//! A step is done when the file's content hashes to `digest`; reversing writes the backup
//! back the same way (temporary file, fsync, rename), only over a file whose content still
//! hashes to `digest`, and removes a temporary file left by a crash.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::apply::{Identity, RolledBack};
use crate::control::CancelToken;
use crate::replace::Replacer;

/// One file to write.
#[derive(Debug, Clone)]
pub struct RewriteStep {
    pub path: PathBuf,
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

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)
}

fn stamp(meta: &fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// Runs `steps` until one fails or `cancel` is set, in three passes so that a batch costs one
/// `syncfs` per file system instead of three fsyncs per file:
/// 1. each file is checked, its backup and its temporary file written (not yet synced);
/// 2. every file system written to is synced (`syncfs`): the backups and the new contents are
///    durable before any file changes;
/// 3. each file, checked again (device, inode, size, mtime), has its temporary file renamed
///    over it, in order.
///
/// An error or a cancel in pass 1 or 2 removes the temporary files and reports no step done.
pub fn rewrite_all(
    steps: &[RewriteStep],
    replacer: Option<&Replacer>,
    cancel: &CancelToken,
) -> Rewritten {
    let mut prepared: Vec<fs::Metadata> = Vec::with_capacity(steps.len());
    // One open file per file system written to, for syncfs.
    let mut systems: Vec<(u64, File)> = Vec::new();
    let mut failed = None;
    for step in steps {
        if cancel.is_cancelled() {
            break;
        }
        match prepare(step, replacer, &mut systems) {
            Ok(meta) => prepared.push(meta),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if failed.is_none() && prepared.len() == steps.len() {
        for (_, file) in &systems {
            if let Err(e) = rustix::fs::syncfs(file) {
                failed = Some(io::Error::other(format!("syncing the file system: {e}")));
                break;
            }
        }
    }
    if failed.is_some() || prepared.len() < steps.len() {
        for step in &steps[..prepared.len()] {
            let _ = fs::remove_file(&step.temp);
        }
        return Rewritten { done: 0, error: failed };
    }
    for (i, (step, meta)) in steps.iter().zip(&prepared).enumerate() {
        if let Err(e) = commit(step, meta) {
            for later in &steps[i..] {
                let _ = fs::remove_file(&later.temp);
            }
            return Rewritten { done: i, error: Some(e) };
        }
    }
    Rewritten { done: steps.len(), error: None }
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!("{}: changed since the plan", path.display()))
}

/// The identity of `meta` as a step records it, and its size.
fn same_file(meta: &fs::Metadata, step: &RewriteStep) -> bool {
    let (dev, ino, mtime) = step.identity;
    meta.is_file()
        && (meta.dev(), meta.ino(), stamp(meta)) == (dev, ino, mtime)
        && step.size.is_none_or(|s| s == meta.len())
}

/// Pass 1 of a step: checks the file, writes its backup and its temporary file (unsynced);
/// the file's metadata as read.
fn prepare(
    step: &RewriteStep,
    replacer: Option<&Replacer>,
    systems: &mut Vec<(u64, File)>,
) -> io::Result<fs::Metadata> {
    let path = &step.path;
    let mut file = open_nofollow(path).map_err(|e| named(path, e))?;
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
    let backup = write_new(&step.backup, &old, 0o600, None, &meta)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: backing it up: {e}", path.display())))?;
    keep_system(systems, backup)?;
    let mode = meta.mode() & 0o7777;
    let temp = write_new(&step.temp, &new, mode, Some((meta.uid(), meta.gid())), &meta)
        .map_err(|e| beside(path, &step.temp, e))?;
    keep_system(systems, temp)?;
    Ok(meta)
}

fn beside(path: &Path, temp: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{}: writing its new content beside it ({}): {e}", path.display(), temp.display()),
    )
}

/// Keeps `file` open if it is the first seen on its file system.
fn keep_system(systems: &mut Vec<(u64, File)>, file: File) -> io::Result<()> {
    let dev = file.metadata()?.dev();
    if !systems.iter().any(|(d, _)| *d == dev) {
        systems.push((dev, file));
    }
    Ok(())
}

/// Pass 3 of a step: the file is still the one planned; its temporary file replaces it.
fn commit(step: &RewriteStep, planned: &fs::Metadata) -> io::Result<()> {
    let now = fs::symlink_metadata(&step.path).map_err(|e| named(&step.path, e))?;
    if !same_file(&now, step) || now.len() != planned.len() {
        return Err(changed(&step.path));
    }
    fs::rename(&step.temp, &step.path).map_err(|e| named(&step.path, e))
}

/// A new file at `path` (never an existing one) holding `content`, with `mode`, the owner
/// (where allowed: as root, or our own) and `times`' access and modification times; not yet
/// synced. On an error it is removed.
fn write_new(
    path: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    times: &fs::Metadata,
) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
        .open(path)?;
    let written = (|| {
        file.write_all(content)?;
        if let Some((uid, gid)) = owner {
            match std::os::unix::fs::fchown(&file, Some(uid), Some(gid)) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {} // not root
                other => other?,
            }
        }
        // After chown, which clears set-id bits; the umask is not applied here either.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        let times =
            FileTimes::new().set_accessed(times.accessed()?).set_modified(times.modified()?);
        file.set_times(times)
    })();
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(file)
}

/// The BLAKE3 of the file at `path` (not following a symlink); None if there is none.
pub fn content_digest(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match open_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None); // a symlink there now: not the file written
        }
        Err(e) => return Err(named(path, e)),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).map_err(|e| named(path, e))?;
    Ok(Some(hasher.finalize().as_bytes().to_vec()))
}

/// A step to reverse: the file, its temporary name, its backup, and the digest of what the
/// step wrote.
pub type WrittenStep = (PathBuf, PathBuf, PathBuf, Vec<u8>);

/// Reverses `steps`, last first: a temporary file left is removed; a file whose content hashes
/// to the step's digest gets its backup back (temporary file, fsync, rename; its mode and owner
/// kept, the original's times from the backup); the others are left and counted (never done,
/// reversed already, or changed since: not touched).
pub fn restore_all(steps: &[WrittenStep]) -> RolledBack {
    let mut out = RolledBack { reversed: 0, not_done: 0, error: None };
    for (path, temp, backup, digest) in steps.iter().rev() {
        match fs::remove_file(temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                out.error = Some(named(temp, e));
                return out;
            }
            _ => {}
        }
        match content_digest(path) {
            Ok(Some(d)) if d == *digest => {}
            Ok(_) => {
                out.not_done += 1;
                continue;
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
        if let Err(e) = restore(path, temp, backup) {
            out.error = Some(e);
            return out;
        }
        out.reversed += 1;
    }
    out
}

fn restore(path: &Path, temp: &Path, backup: &Path) -> io::Result<()> {
    let original = fs::read(backup).map_err(|e| named(backup, e))?;
    let times = fs::metadata(backup).map_err(|e| named(backup, e))?;
    let now = fs::symlink_metadata(path).map_err(|e| named(path, e))?;
    let mode = now.mode() & 0o7777;
    write_new(temp, &original, mode, Some((now.uid(), now.gid())), &times)
        .and_then(|f| f.sync_all().inspect_err(|_| drop(fs::remove_file(temp))))
        .map_err(|e| {
            let message = format!("{}: restoring it ({}): {e}", path.display(), temp.display());
            io::Error::new(e.kind(), message)
        })?;
    fs::rename(temp, path).map_err(|e| {
        let _ = fs::remove_file(temp);
        named(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replace::ReplaceOptions;

    #[test]
    fn a_file_is_written_backed_up_and_restored() {
        let dir = tempfile::tempdir().unwrap();
        let (f, t, b) = (dir.path().join("f"), dir.path().join(".t"), dir.path().join("b"));
        fs::write(&f, "one two\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fs::metadata(&f).unwrap();
        let options =
            ReplaceOptions { pattern: "two".into(), replacement: "2".into(), ..Default::default() };
        let r = Replacer::new(&options).unwrap();
        let digest = blake3::hash(b"one 2\n").as_bytes().to_vec();
        let step = RewriteStep {
            path: f.clone(),
            temp: t.clone(),
            backup: b.clone(),
            identity: (before.dev(), before.ino(), stamp(&before)),
            size: Some(8),
            digest: digest.clone(),
            source: None,
        };
        let out = rewrite_all(std::slice::from_ref(&step), Some(&r), &CancelToken::default());
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(fs::read(&f).unwrap(), b"one 2\n");
        assert_eq!(fs::read(&b).unwrap(), b"one two\n");
        let after = fs::metadata(&f).unwrap();
        assert_eq!(after.mode() & 0o7777, 0o640);
        assert_eq!(stamp(&after), stamp(&before));
        // Planned against the old file: refused now.
        let again = rewrite_all(std::slice::from_ref(&step), Some(&r), &CancelToken::default());
        assert!(again.error.unwrap().to_string().contains("changed since the plan"));
        let back = restore_all(&[(f.clone(), t.clone(), b.clone(), digest.clone())]);
        assert_eq!((back.reversed, back.not_done), (1, 0));
        assert_eq!(fs::read(&f).unwrap(), b"one two\n");
        assert_eq!(stamp(&fs::metadata(&f).unwrap()), stamp(&before));
        let twice = restore_all(&[(f.clone(), t, b, digest)]);
        assert_eq!((twice.reversed, twice.not_done), (0, 1));
    }
}
