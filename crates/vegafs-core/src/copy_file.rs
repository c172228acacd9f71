//! Applying a copy plan: each file written to a temporary hidden name in its target's
//! directory, made like its source (mode, times, extended attributes, and, as root, owner),
//! fsynced, optionally checked against the source's BLAKE3 digest, and only then published
//! under its name with a no-replace rename ([`rename_noreplace`]): a name is never seen
//! half-written, and never replaces an entry that appeared since the plan.
//!
//! The data goes by reflink (`FICLONE`: shared extents, no bytes written) where the file system
//! can, else by `copy_file_range` over the source's data segments only (`SEEK_DATA` /
//! `SEEK_HOLE`: holes stay holes), else by `read`/`write`. A symlink is copied as a symlink.
//!
//! The files of a batch are copied in parallel; [`copy_all`] reports the longest prefix of
//! the batch that completed, removing the copies done after it, so the journal's count is exact.
//! [`remove_copies`] reverses copies, removing a copy only if it still is the file the copy
//! wrote (same size and modification time as the source, and the same content), never anything
//! else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustix::fs::{
    copy_file_range, fchmod, fchown, fgetxattr, flistxattr, fsetxattr, futimens, ioctl_ficlone,
    lgetxattr, llistxattr, lsetxattr, seek, utimensat, AtFlags, Gid, Mode, SeekFrom, Timespec,
    Timestamps, Uid, XattrFlags, CWD,
};

use crate::apply::{rename_noreplace, Identity};
use crate::control::CancelToken;
use crate::places::Places;

/// Linux's limit on an xattr value and on a file's list of xattr names.
const XATTR_MAX: usize = 64 * 1024;

/// One copy to run: the source and its identity as planned (device, inode, mtime in ns), the
/// target, the temporary name it is written to first, and the source's BLAKE3 digest when the
/// copy is to be verified before it is published.
#[derive(Debug, Clone)]
pub struct CopyStep {
    pub from: PathBuf,
    pub to: PathBuf,
    pub temp: PathBuf,
    pub identity: Identity,
    pub digest: Option<[u8; 32]>,
}

/// What [`copy_all`] did: the first `done` steps are published (the later ones not), then the
/// error that stopped the next one, or none (all done, or cancelled).
#[derive(Debug)]
pub struct Copied {
    pub done: usize,
    pub error: Option<io::Error>,
}

/// Threads per core for copies: a copy mostly waits (its fsync, the disk), so more copies in
/// flight than cores keep the disk busy; with one per core, 100,000 small files are bound by
/// the latency of one fsync after another.
const THREADS_PER_CORE: usize = 8;

/// The pool copies run in (built once); None if it cannot be built (the global pool then).
fn io_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores * THREADS_PER_CORE)
            .thread_name(|i| format!("vegafs-copy-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

enum Outcome {
    Done,
    NotRun,
    Failed(io::Error),
}

/// Copies `steps` in parallel until one fails or `cancel` is set.
pub fn copy_all(steps: &[CopyStep], cancel: &CancelToken) -> Copied {
    let stop = AtomicBool::new(false);
    let run = || {
        steps
            .par_iter()
            .map(|step| {
                if cancel.is_cancelled() || stop.load(Ordering::Relaxed) {
                    return Outcome::NotRun;
                }
                match copy_one(step) {
                    Ok(()) => Outcome::Done,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        Outcome::Failed(e)
                    }
                }
            })
            .collect::<Vec<Outcome>>()
    };
    let outcomes = match io_pool() {
        Some(pool) => pool.install(run),
        None => run(),
    };
    let done = outcomes.iter().take_while(|o| matches!(o, Outcome::Done)).count();
    let mut error = None;
    for (step, outcome) in steps.iter().zip(outcomes).skip(done) {
        match outcome {
            // Done out of order: undone, so that what the journal counts is exactly a prefix.
            Outcome::Done => {
                if let Err(e) = remove_if_ours(step) {
                    error.get_or_insert(e);
                }
            }
            Outcome::Failed(e) => {
                error.get_or_insert(e);
            }
            Outcome::NotRun => {}
        }
    }
    Copied { done, error }
}

fn named(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn copy_one(step: &CopyStep) -> io::Result<()> {
    let source = fs::symlink_metadata(&step.from).map_err(|e| named(e, &step.from))?;
    let stamp = source.mtime() * 1_000_000_000 + source.mtime_nsec();
    if (source.dev(), source.ino(), stamp) != step.identity {
        let message = format!("{}: changed since the plan was made", step.from.display());
        return Err(io::Error::other(message));
    }
    let written = if source.file_type().is_symlink() {
        copy_symlink(step, &source)
    } else if source.is_file() {
        copy_regular(step, &source)
    } else {
        Err(io::Error::other(format!("{}: not a file or a symlink", step.from.display())))
    };
    let published = written.and_then(|()| {
        rename_noreplace(&Places::anywhere(), &step.temp, &step.to).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{} -> {}: {e}", step.from.display(), step.to.display()),
            )
        })
    });
    if published.is_err() {
        let _ = fs::remove_file(&step.temp);
    }
    published
}

fn times(m: &fs::Metadata) -> Timestamps {
    Timestamps {
        last_access: Timespec { tv_sec: m.atime(), tv_nsec: m.atime_nsec() as _ },
        last_modification: Timespec { tv_sec: m.mtime(), tv_nsec: m.mtime_nsec() as _ },
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn copy_symlink(step: &CopyStep, source: &fs::Metadata) -> io::Result<()> {
    let text = fs::read_link(&step.from).map_err(|e| named(e, &step.from))?;
    std::os::unix::fs::symlink(&text, &step.temp).map_err(|e| named(e, &step.temp))?;
    let temp = step.temp.as_path();
    if is_root() {
        let (uid, gid) = (Uid::from_raw(source.uid()), Gid::from_raw(source.gid()));
        rustix::fs::chownat(CWD, temp, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| named(e.into(), temp))?;
    }
    let size = rustix::fs::llistxattr_query(&step.from).unwrap_or(0);
    let (mut names, mut value) = (vec![0u8; size], vec![0u8; XATTR_MAX * usize::from(size > 0)]);
    let listed = if size > 0 { llistxattr(&step.from, &mut names[..]).unwrap_or(0) } else { 0 };
    for name in names[..listed].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Ok(n) = lgetxattr(&step.from, name, &mut value[..]) {
            // user.* cannot be set on a symlink: what cannot be kept is left.
            let _ = lsetxattr(temp, name, &value[..n], XattrFlags::empty());
        }
    }
    utimensat(CWD, temp, &times(source), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| named(e.into(), temp))
}

fn copy_regular(step: &CopyStep, source: &fs::Metadata) -> io::Result<()> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let src = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(&step.from)
        .map_err(|e| named(e, &step.from))?;
    let out = OpenOptions::new()
        .write(true)
        .read(step.digest.is_some())
        .create_new(true)
        .mode(0o600)
        .open(&step.temp)
        .map_err(|e| named(e, &step.temp))?;
    let result = fill(&src, &out, source).and_then(|()| {
        if let Some(want) = step.digest {
            let got = blake3_of_file(&mut (&out))?;
            if got != want {
                return Err(io::Error::other("the copy's BLAKE3 digest differs from the source's"));
            }
        }
        out.sync_all()
    });
    result.map_err(|e| named(e, &step.temp))
}

/// The temporary file made like the source: data, owner (root only), mode, xattrs, times.
fn fill(src: &File, out: &File, source: &fs::Metadata) -> io::Result<()> {
    copy_data(src, out, source.size())?;
    if is_root() {
        fchown(out, Some(Uid::from_raw(source.uid())), Some(Gid::from_raw(source.gid())))?;
    }
    // After chown, which clears set-user-ID bits.
    fchmod(out, Mode::from_raw_mode(source.mode() & 0o7777))?;
    // Most files have none: one query, no buffers. A file system without xattrs lists none.
    let size = rustix::fs::flistxattr_query(src).unwrap_or(0);
    let (mut names, mut value) = (vec![0u8; size], vec![0u8; XATTR_MAX * usize::from(size > 0)]);
    let listed = if size > 0 { flistxattr(src, &mut names[..])? } else { 0 };
    for name in names[..listed].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let n = fgetxattr(src, name, &mut value[..])?;
        fsetxattr(out, name, &value[..n], XattrFlags::empty())?;
    }
    futimens(out, &times(source))?;
    Ok(())
}

/// The source's bytes into `out`: a reflink, else its data segments, holes left as holes.
fn copy_data(src: &File, out: &File, size: u64) -> io::Result<()> {
    if size == 0 || ioctl_ficlone(out, src).is_ok() {
        return Ok(());
    }
    let mut offset = 0u64;
    while offset < size {
        let data = match seek(src, SeekFrom::Data(offset)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break, // only a hole is left
            Err(_) => {
                // No SEEK_DATA here: the whole file, as data.
                copy_range(src, out, offset, size - offset)?;
                break;
            }
        };
        let end = seek(src, SeekFrom::Hole(data)).unwrap_or(size).min(size);
        if end <= data {
            break;
        }
        copy_range(src, out, data, end - data)?;
        offset = end;
    }
    // A hole at the end: the size, without writing it.
    rustix::fs::ftruncate(out, size)?;
    Ok(())
}

/// `len` bytes at `offset` in `src` to the same offset in `out`: `copy_file_range`, else
/// `pread`/`pwrite`.
fn copy_range(src: &File, out: &File, offset: u64, len: u64) -> io::Result<()> {
    let (mut off_in, mut off_out, end) = (offset, offset, offset + len);
    while off_in < end {
        let want = usize::try_from(end - off_in).unwrap_or(usize::MAX).min(1 << 30);
        match copy_file_range(src, Some(&mut off_in), out, Some(&mut off_out), want) {
            Ok(0) => return Ok(()), // the source got shorter
            Ok(_) => {}
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP
                | rustix::io::Errno::INVAL,
            ) => return read_write(src, out, off_in, end),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn read_write(src: &File, out: &File, mut offset: u64, end: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX).min(buf.len());
        let n = src.read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all_at(&buf[..n], offset)?;
        offset += n as u64;
    }
    Ok(())
}

fn blake3_of_file(file: &mut impl ReadAt0) -> io::Result<[u8; 32]> {
    file.rewind_to_start()?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// A file read from its start.
trait ReadAt0: Read {
    fn rewind_to_start(&mut self) -> io::Result<()>;
}

impl ReadAt0 for &File {
    fn rewind_to_start(&mut self) -> io::Result<()> {
        use std::io::Seek;
        self.seek(io::SeekFrom::Start(0)).map(|_| ())
    }
}

/// The BLAKE3 digest of the file at `path` (not following a symlink).
pub fn blake3_of(path: &Path) -> io::Result<[u8; 32]> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(path)
        .map_err(|e| named(e, path))?;
    blake3_of_file(&mut (&file)).map_err(|e| named(e, path))
}

/// Whether the entry at `step.to` is the copy this step writes: a symlink to the source's
/// text, or a regular file with the source's modification time (which the copy keeps) and its
/// content (the journaled digest, else the source's bytes). None: nothing there.
pub fn is_ours(step: &CopyStep) -> io::Result<Option<bool>> {
    let target = match fs::symlink_metadata(&step.to) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(named(e, &step.to)),
    };
    if target.file_type().is_symlink() {
        let same = matches!((fs::read_link(&step.from), fs::read_link(&step.to)),
                            (Ok(a), Ok(b)) if a == b);
        return Ok(Some(same));
    }
    let stamp = target.mtime() * 1_000_000_000 + target.mtime_nsec();
    if !target.is_file() || stamp != step.identity.2 {
        return Ok(Some(false));
    }
    if let Some(want) = step.digest {
        return Ok(Some(blake3_of(&step.to)? == want));
    }
    match fs::symlink_metadata(&step.from) {
        Ok(source) if source.is_file() && source.size() == target.size() => {
            Ok(Some(same_bytes(&step.from, &step.to)?))
        }
        _ => Ok(Some(false)), // the source is gone or changed: the copy cannot be told apart
    }
}

fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) =
        (File::open(a).map_err(|e| named(e, a))?, File::open(b).map_err(|e| named(e, b))?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Removes the step's temporary file (if any) and its copy, if it is ours: whether a copy was
/// removed.
fn remove_if_ours(step: &CopyStep) -> io::Result<bool> {
    match fs::remove_file(&step.temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(named(e, &step.temp)),
        _ => {}
    }
    if is_ours(step)? != Some(true) {
        return Ok(false);
    }
    fs::remove_file(&step.to).map_err(|e| named(e, &step.to))?;
    Ok(true)
}

/// What [`remove_copies`] did.
#[derive(Debug)]
pub struct Removed {
    pub removed: usize,
    /// Steps whose target is not their copy (never done, removed already, or changed since).
    pub not_ours: usize,
    pub error: Option<io::Error>,
}

/// Reverses `steps`, last first: each step's temporary file and its copy (if it is still the
/// copy: [`is_ours`]) are removed; anything else is left. With `strict`, a target that is there
/// but is not the copy stops it with an error (undo: it changed since it was planned).
pub fn remove_copies(steps: &[CopyStep], strict: bool) -> Removed {
    let mut out = Removed { removed: 0, not_ours: 0, error: None };
    for step in steps.iter().rev() {
        if strict && matches!(is_ours(step), Ok(Some(false))) {
            let message = format!("{}: changed since the plan was made", step.to.display());
            out.error = Some(io::Error::other(message));
            return out;
        }
        match remove_if_ours(step) {
            Ok(true) => out.removed += 1,
            Ok(false) => out.not_ours += 1,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
    }
    out
}

/// Whether each step's copy is in place (recovery): its target is its copy ([`is_ours`]).
pub fn copies_done(steps: &[CopyStep]) -> io::Result<Vec<bool>> {
    steps.par_iter().map(|s| is_ours(s).map(|o| o == Some(true))).collect()
}

/// The BLAKE3 digests of `paths`, in parallel.
pub fn blake3_all(paths: &[PathBuf]) -> io::Result<Vec<[u8; 32]>> {
    paths.par_iter().map(|p| blake3_of(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn step_for(from: &Path, to: &Path, n: usize) -> CopyStep {
        let m = fs::symlink_metadata(from).unwrap();
        let identity = (m.dev(), m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec());
        let temp = to.with_file_name(format!(".vegafs-t-{n}"));
        CopyStep { from: from.into(), to: to.into(), temp, identity, digest: None }
    }

    #[test]
    fn copies_keep_holes_modes_and_times_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sparse = d.join("sparse");
        let f = File::create(&sparse).unwrap();
        f.set_len(64 << 20).unwrap();
        (&f).write_all(b"head").unwrap();
        drop(f);
        fs::set_permissions(&sparse, fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(d.join("taken-src"), "x").unwrap();
        fs::write(d.join("taken"), "in the way").unwrap();
        std::os::unix::fs::symlink("sparse", d.join("link")).unwrap();
        let steps = vec![
            step_for(&sparse, &d.join("copy"), 1),
            step_for(&d.join("link"), &d.join("link-copy"), 2),
            step_for(&d.join("taken-src"), &d.join("taken"), 3),
        ];
        let outcome = copy_all(&steps, &CancelToken::default());
        assert_eq!(outcome.done, 2);
        assert_eq!(outcome.error.unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(d.join("taken")).unwrap(), "in the way");
        assert!(!d.join(".vegafs-t-3").exists());
        let (a, b) = (fs::metadata(&sparse).unwrap(), fs::metadata(d.join("copy")).unwrap());
        assert_eq!((b.len(), b.mode() & 0o7777, b.mtime_nsec()), (a.len(), 0o640, a.mtime_nsec()));
        assert!(b.blocks() <= a.blocks(), "{} > {}", b.blocks(), a.blocks());
        assert_eq!(fs::read_link(d.join("link-copy")).unwrap(), Path::new("sparse"));
        let removed = remove_copies(&steps, false);
        assert_eq!((removed.removed, removed.not_ours), (2, 1));
        assert!(!d.join("copy").exists() && fs::symlink_metadata(d.join("link-copy")).is_err());
        assert_eq!(fs::read_to_string(d.join("taken")).unwrap(), "in the way");
    }
}
