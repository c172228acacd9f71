//! Applying a copy plan: each file written to an unnamed file (`O_TMPFILE`) in its target's
//! directory, made like its source (mode, times, extended attributes, and, as root, owner),
//! optionally checked against the source's BLAKE3 digest, made durable, and only then published
//! under its name by linking it there (`linkat`, which fails with `EEXIST`): a name is never
//! seen half-written, and never replaces an entry that appeared since the plan. An unnamed file
//! needs no temporary name, no rename, and a crash leaves nothing behind (the kernel frees it).
//! A symlink, and a file where the file system cannot make unnamed files (or this process has
//! no file descriptor to spare), goes through a temporary hidden name instead, published with a
//! no-replace rename.
//!
//! Every path is opened through the directory that holds it ([`Places`]): on the command line
//! as the user named it, for a job beneath the allowed roots without following a symlink. The
//! source is opened there (`O_NOFOLLOW`) and checked against the plan's identity on the handle.
//!
//! The data goes by reflink (`FICLONE`: shared extents, no bytes written) where the file system
//! can, else by `copy_file_range` (over the source's data segments only when the file is sparse,
//! `SEEK_DATA` / `SEEK_HOLE`: holes stay holes), else by `read`/`write`. A symlink is copied as
//! a symlink.
//!
//! A batch ([`copy_all`]) goes in three passes, so that it costs one `syncfs` per file system
//! instead of one `fsync` per file: every copy is written (in parallel; unnamed files stay
//! open); the file systems they are on are synced; then they are published (in parallel). It
//! reports the
//! longest prefix of the batch that was published, removing the copies done after it, so the
//! journal's count is exact. [`remove_copies`] reverses copies, removing a copy only if it still
//! is the file the copy wrote (same modification time as the source, and the same content),
//! never anything else.

use std::collections::{BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    copy_file_range, fchmod, fchown, fgetxattr, flistxattr, fsetxattr, fstat, futimens,
    ioctl_ficlone, lgetxattr, linkat, llistxattr, lsetxattr, openat, readlinkat, seek, statat,
    symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, OFlags, SeekFrom, Stat, Timespec,
    Timestamps, Uid, XattrFlags, CWD,
};

use crate::apply::{rename_in, Dirs, Identity};
use crate::control::CancelToken;
use crate::places::Places;

/// Linux's limit on an xattr value and on a file's list of xattr names.
const XATTR_MAX: usize = 64 * 1024;

/// One copy to run: the source and its identity as planned (device, inode, mtime in ns), the
/// target, the temporary name it is written to first where it cannot be an unnamed file, and
/// the source's BLAKE3 digest when the copy is to be verified before it is published.
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

/// Threads per core for copies: a copy of a file not in the page cache mostly waits for the
/// disk to read it, so more copies in flight than cores keep the disk busy. On the 100,000-file
/// benchmark tree (2 cores), cold cache: 6.4 s with 8 per core, 8.5 to 10.7 s with 2; warm,
/// where the copies contend in the kernel instead, 2 per core was 0.3 to 0.7 s faster in two
/// rounds of three (docs/benchmarks.md: "The copy pool's size").
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

enum Outcome<T = ()> {
    Done(T),
    NotRun,
    Failed(io::Error),
}

/// Where the first pass left a copy: an unnamed file, open until it is linked to its name, or
/// the step's temporary name.
enum Written {
    Unnamed(OwnedFd),
    Named,
}

/// Steps one task of the pool takes in a row: consecutive steps mostly share their directories,
/// opened once per run of them ([`Dirs`]).
const CHUNK: usize = 16;

/// Runs `each` over `steps` on the copy pool, a chunk at a time, each chunk with its own open
/// directories; stops starting steps once one failed or `cancel` is set.
fn par_steps<I: Sync, T: Send>(
    places: &Places,
    steps: &[I],
    cancel: &CancelToken,
    each: impl Fn(&mut Dirs, &Places, &I) -> io::Result<T> + Sync,
) -> Vec<Outcome<T>> {
    let stop = AtomicBool::new(false);
    let run = || {
        steps
            .par_chunks(CHUNK)
            .flat_map_iter(|chunk| {
                let mut dirs = Dirs::default();
                chunk
                    .iter()
                    .map(|step| {
                        if cancel.is_cancelled() || stop.load(Ordering::Relaxed) {
                            return Outcome::NotRun;
                        }
                        match each(&mut dirs, places, step) {
                            Ok(done) => Outcome::Done(done),
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                Outcome::Failed(e)
                            }
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<Outcome<T>>>()
    };
    match io_pool() {
        Some(pool) => pool.install(run),
        None => run(),
    }
}

/// Copies `steps` (in parallel) until one fails or `cancel` is set: all copies written, their
/// file systems synced, then published in order of the batch.
pub fn copy_all(places: &Places, steps: &[CopyStep], cancel: &CancelToken) -> Copied {
    copy_batch(places, steps, cancel, unnamed_budget())
}

/// [`copy_all`], holding at most `unnamed` unnamed files open (the others go through their
/// temporary names).
fn copy_batch(places: &Places, steps: &[CopyStep], cancel: &CancelToken, unnamed: usize) -> Copied {
    let open = AtomicUsize::new(0);
    let budget = (&open, unnamed);
    let written = par_steps(places, steps, cancel, |dirs, places, step| {
        write_copy(dirs, places, step, budget)
    });
    let mut error = None;
    let all = written.iter().all(|o| matches!(o, Outcome::Done(_)));
    if all {
        error = sync_file_systems(places, steps).err();
    }
    if !all || error.is_some() {
        // Nothing published: every temporary file goes (an unnamed one with its descriptor).
        for (step, outcome) in steps.iter().zip(written) {
            match outcome {
                Outcome::Failed(e) => {
                    error.get_or_insert(e);
                }
                Outcome::Done(Written::Named) => {
                    let _ = remove_temp(places, step);
                }
                Outcome::Done(Written::Unnamed(_)) | Outcome::NotRun => {}
            }
        }
        return Copied { done: 0, error };
    }
    let written =
        written.into_iter().filter_map(|o| if let Outcome::Done(w) = o { Some(w) } else { None });
    let ready: Vec<(&CopyStep, Written)> = steps.iter().zip(written).collect();
    let published =
        par_steps(places, &ready, &CancelToken::default(), |dirs, places, (step, written)| {
            publish(dirs, places, step, written).map_err(|e| {
                let message = format!("{} -> {}: {e}", step.from.display(), step.to.display());
                io::Error::new(e.kind(), message)
            })
        });
    drop(ready); // the unnamed files not published are freed here
    let done = published.iter().take_while(|o| matches!(o, Outcome::Done(_))).count();
    for (step, outcome) in steps.iter().zip(published).skip(done) {
        let removed = match outcome {
            // Done out of order: undone, so that what the journal counts is exactly a prefix.
            Outcome::Done(()) => remove_if_ours(places, step).map(|_| ()),
            Outcome::Failed(e) => {
                error.get_or_insert(e);
                remove_temp(places, step)
            }
            Outcome::NotRun => remove_temp(places, step),
        };
        if let Err(e) = removed {
            error.get_or_insert(e);
        }
    }
    Copied { done, error }
}

/// `syncfs` of each file system the steps' targets are on: the temporary files written are
/// durable once this returns.
fn sync_file_systems(places: &Places, steps: &[CopyStep]) -> io::Result<()> {
    let dirs: BTreeSet<&Path> =
        steps.iter().map(|s| s.temp.parent().unwrap_or(Path::new(""))).collect();
    let mut synced = HashSet::new();
    for dir in dirs {
        let (fd, _) = places.parent(&dir.join("x"), OFlags::RDONLY)?;
        let dev = fstat(&fd).map_err(|e| named(e.into(), dir))?.st_dev;
        if synced.insert(dev) {
            rustix::fs::syncfs(&fd).map_err(|e| named(e.into(), dir))?;
        }
    }
    Ok(())
}

fn named(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Flags to read an entry: never through a symlink, never blocking on a FIFO.
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn stamp_of(st: &Stat) -> i64 {
    st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64
}

#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn identity_of(st: &Stat) -> Identity {
    (st.st_dev as u64, st.st_ino as u64, stamp_of(st))
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!("{}: changed since the plan was made", path.display()))
}

/// Pass 1 of a copy: the step's source, as planned, written to an unnamed file in its target's
/// directory or to its temporary name (not yet durable, not yet published). `budget`: the
/// unnamed files this batch holds open, and how many it may.
fn write_copy(
    dirs: &mut Dirs,
    places: &Places,
    step: &CopyStep,
    budget: Budget<'_>,
) -> io::Result<Written> {
    let Dirs { source, target } = dirs;
    let (src_dir, src_name) = source.open(places, &step.from)?;
    let (dst_dir, temp_name) = target.open(places, &step.temp)?;
    match openat(src_dir, src_name, READ, Mode::empty()) {
        Err(rustix::io::Errno::LOOP) => {
            copy_symlink(step, (src_dir.as_fd(), src_name), (dst_dir.as_fd(), temp_name))
                .map(|()| Written::Named)
        }
        Err(e) => Err(named(e.into(), &step.from)),
        Ok(src) => copy_regular(step, &File::from(src), dst_dir.as_fd(), temp_name, budget),
    }
}

/// The unnamed files a batch holds open, and how many it may.
type Budget<'a> = (&'a AtomicUsize, usize);

/// Pass 3 of a copy: its name given, never replacing an entry there.
fn publish(dirs: &mut Dirs, places: &Places, step: &CopyStep, written: &Written) -> io::Result<()> {
    match written {
        Written::Named => rename_in(dirs, places, &step.temp, &step.to),
        Written::Unnamed(fd) => {
            let (dst_dir, name) = dirs.target.open(places, &step.to)?;
            link_unnamed(fd, dst_dir, name)
        }
    }
}

/// Whether `linkat(fd, "", ..., AT_EMPTY_PATH)` was refused (it needs `CAP_DAC_READ_SEARCH`):
/// then the file is linked through `/proc/self/fd`.
static NO_EMPTY_PATH: AtomicBool = AtomicBool::new(false);

/// Gives the unnamed file `fd` the name `name` in `dir`; `EEXIST` if anything is there.
fn link_unnamed(fd: &OwnedFd, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    if !NO_EMPTY_PATH.load(Ordering::Relaxed) {
        match linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::PERM) => {
                NO_EMPTY_PATH.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    linkat(CWD, path.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW).map_err(io::Error::from)
}

/// File descriptors a batch may hold open as unnamed files: the soft limit on open files,
/// raised to the hard limit once, less a reserve for everything else (directories, sources,
/// the database). Past it, copies go through temporary names.
fn unnamed_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit { current: limit.maximum, ..limit };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                limit = getrlimit(Resource::Nofile);
            }
        }
        let soft = limit.current.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        soft.saturating_sub(RESERVED_FDS)
    })
}

/// Open files kept for the rest of the process while a batch holds its unnamed files.
const RESERVED_FDS: usize = 512;

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec { tv_sec: st.st_atime as _, tv_nsec: st.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ },
    }
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| rustix::process::geteuid().is_root())
}

/// The path of `name` in the directory `dir` through `/proc/self/fd`: for the calls that have
/// no `*at` form (a symlink's xattrs); the directory is the one opened, whatever its path.
fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut path = OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
    path.push(name);
    PathBuf::from(path)
}

fn copy_symlink(
    step: &CopyStep,
    (src_dir, src_name): (BorrowedFd<'_>, &OsStr),
    (dst_dir, temp_name): (BorrowedFd<'_>, &OsStr),
) -> io::Result<()> {
    let st = statat(src_dir, src_name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| named(e.into(), &step.from))?;
    if identity_of(&st) != step.identity || FileType::from_raw_mode(st.st_mode) != FileType::Symlink
    {
        return Err(changed(&step.from));
    }
    let text =
        readlinkat(src_dir, src_name, Vec::new()).map_err(|e| named(e.into(), &step.from))?;
    symlinkat(text.as_c_str(), dst_dir, temp_name).map_err(|e| named(e.into(), &step.temp))?;
    let made = symlink_like(&st, (src_dir, src_name), (dst_dir, temp_name))
        .map_err(|e| named(e, &step.temp));
    if made.is_err() {
        let _ = unlinkat(dst_dir, temp_name, AtFlags::empty()); // the temporary link made above
    }
    made
}

/// The symlink just made at `temp_name` made like the source's: owner (root only), xattrs,
/// times.
fn symlink_like(
    st: &Stat,
    (src_dir, src_name): (BorrowedFd<'_>, &OsStr),
    (dst_dir, temp_name): (BorrowedFd<'_>, &OsStr),
) -> io::Result<()> {
    if is_root() {
        let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
        rustix::fs::chownat(dst_dir, temp_name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
    }
    let (from, temp) = (proc_path(src_dir, src_name), proc_path(dst_dir, temp_name));
    let size = rustix::fs::llistxattr_query(&from).unwrap_or(0);
    let (mut names, mut value) = (vec![0u8; size], vec![0u8; XATTR_MAX * usize::from(size > 0)]);
    let listed = if size > 0 { llistxattr(&from, &mut names[..]).unwrap_or(0) } else { 0 };
    for name in names[..listed].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Ok(n) = lgetxattr(&from, name, &mut value[..]) {
            // user.* cannot be set on a symlink: what cannot be kept is left.
            let _ = lsetxattr(&temp, name, &value[..n], XattrFlags::empty());
        }
    }
    utimensat(dst_dir, temp_name, &times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

fn copy_regular(
    step: &CopyStep,
    src: &File,
    dst_dir: BorrowedFd<'_>,
    temp_name: &OsStr,
    budget: Budget<'_>,
) -> io::Result<Written> {
    let st = fstat(src).map_err(|e| named(e.into(), &step.from))?;
    if identity_of(&st) != step.identity {
        return Err(changed(&step.from));
    }
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other(format!("{}: not a file or a symlink", step.from.display())));
    }
    let access = if step.digest.is_some() { OFlags::RDWR } else { OFlags::WRONLY };
    let (out, unnamed) = match create_unnamed(dst_dir, access, &st, budget) {
        Some(fd) => (fd, true),
        None => {
            let flags = access | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = openat(dst_dir, temp_name, flags, Mode::from_raw_mode(0o600))
                .map_err(|e| named(e.into(), &step.temp))?;
            (fd, false)
        }
    };
    let out = File::from(out);
    let result = fill(src, &out, &st).and_then(|()| {
        if let Some(want) = step.digest {
            if blake3_of_file(&mut (&out))? != want {
                return Err(io::Error::other("the copy's BLAKE3 digest differs from the source's"));
            }
        }
        Ok(())
    });
    if unnamed {
        result.map_err(|e| named(e, &step.to))?;
        return Ok(Written::Unnamed(OwnedFd::from(out)));
    }
    if let Err(e) = result {
        let _ = unlinkat(dst_dir, temp_name, AtFlags::empty()); // the temporary file made above
        return Err(named(e, &step.temp));
    }
    Ok(Written::Named)
}

/// An unnamed file (`O_TMPFILE`) in `dir`, with the source's permission bits (nobody can open
/// it meanwhile), if the file system makes them and the batch may hold one more open; None:
/// the copy goes through its temporary name.
fn create_unnamed(
    dir: BorrowedFd<'_>,
    access: OFlags,
    st: &Stat,
    (open, most): Budget<'_>,
) -> Option<OwnedFd> {
    if open.fetch_add(1, Ordering::Relaxed) >= most {
        open.fetch_sub(1, Ordering::Relaxed);
        return None;
    }
    let flags = access | OFlags::TMPFILE | OFlags::CLOEXEC;
    match openat(dir, ".", flags, Mode::from_raw_mode(st.st_mode & 0o777)) {
        Ok(fd) => Some(fd),
        // EOPNOTSUPP: not on this file system; EISDIR, EINVAL: a kernel without O_TMPFILE; and
        // whatever else refuses it: the temporary name reports that file system's own error.
        Err(_) => {
            open.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }
}

/// The new file made like the source: data, owner (root only), mode, xattrs, times. Owner and
/// mode are set only where they differ (the file was made with the source's permission bits
/// less the umask, and owned by this process): a `fstat` costs less than a change.
fn fill(src: &File, out: &File, st: &Stat) -> io::Result<()> {
    copy_data(src, out, st)?;
    let made = fstat(out)?;
    if is_root() && (made.st_uid, made.st_gid) != (st.st_uid, st.st_gid) {
        fchown(out, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)))?;
    }
    // After chown, which clears set-user-ID bits (a file whose mode has them never matches).
    let mode = st.st_mode & 0o7777;
    if made.st_mode & 0o7777 != mode {
        fchmod(out, Mode::from_raw_mode(mode))?;
    }
    // Most files have none: one query, no buffers. A file system without xattrs lists none.
    let size = rustix::fs::flistxattr_query(src).unwrap_or(0);
    let (mut names, mut value) = (vec![0u8; size], vec![0u8; XATTR_MAX * usize::from(size > 0)]);
    let listed = if size > 0 { flistxattr(src, &mut names[..])? } else { 0 };
    for name in names[..listed].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let n = fgetxattr(src, name, &mut value[..])?;
        fsetxattr(out, name, &value[..n], XattrFlags::empty())?;
    }
    futimens(out, &times(st))?;
    Ok(())
}

/// The last source device a reflink was refused from (0: none yet): its files are not tried
/// again, which saves a call per file where reflinks do not exist (ext4).
static NO_REFLINK: AtomicU64 = AtomicU64::new(0);

/// The source's bytes into `out`: a reflink, else its bytes; a sparse file's data segments
/// only, holes left as holes.
#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn copy_data(src: &File, out: &File, st: &Stat) -> io::Result<()> {
    let (size, dev) = (st.st_size.max(0) as u64, st.st_dev as u64);
    if size == 0 {
        return Ok(());
    }
    if NO_REFLINK.load(Ordering::Relaxed) != dev {
        if ioctl_ficlone(out, src).is_ok() {
            return Ok(());
        }
        NO_REFLINK.store(dev, Ordering::Relaxed);
    }
    // Fewer blocks than its size: a sparse file (as cp tells it).
    if (st.st_blocks as u64) * 512 >= size {
        return copy_range(src, out, 0, size);
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

/// The entry at `path`, opened for reading in the directory `places` opens (not following a
/// symlink), and what `fstat` says of it.
pub(crate) fn open_read(places: &Places, path: &Path) -> io::Result<(File, Stat)> {
    let (dir, name) = places.parent(path, OFlags::PATH)?;
    let fd: OwnedFd =
        openat(&dir, &name, READ, Mode::empty()).map_err(|e| named(e.into(), path))?;
    let st = fstat(&fd).map_err(|e| named(e.into(), path))?;
    Ok((File::from(fd), st))
}

/// The BLAKE3 digest of the file at `path` (not following a symlink).
pub fn blake3_of(places: &Places, path: &Path) -> io::Result<[u8; 32]> {
    let (file, _) = open_read(places, path)?;
    blake3_of_file(&mut (&file)).map_err(|e| named(e, path))
}

/// What is at `path` (not following a symlink), and its symlink's text; None: nothing there.
fn look(places: &Places, path: &Path) -> io::Result<Option<(Stat, Option<Vec<u8>>)>> {
    let (dir, name) = match places.parent(path, OFlags::PATH) {
        Ok(found) => found,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let st = match statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(named(e.into(), path)),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
        return Ok(Some((st, None)));
    }
    let text = readlinkat(&dir, &name, Vec::new()).map_err(|e| named(e.into(), path))?;
    Ok(Some((st, Some(text.into_bytes()))))
}

/// Whether the entry at `step.to` is the copy this step writes: a symlink to the source's
/// text, or a regular file with the source's modification time (which the copy keeps) and its
/// content (the journaled digest, else the source's bytes). None: nothing there.
pub fn is_ours(places: &Places, step: &CopyStep) -> io::Result<Option<bool>> {
    let Some((target, text)) = look(places, &step.to)? else { return Ok(None) };
    if let Some(text) = text {
        let source = look(places, &step.from).ok().flatten();
        return Ok(Some(matches!(source, Some((_, Some(t))) if t == text)));
    }
    if FileType::from_raw_mode(target.st_mode) != FileType::RegularFile
        || stamp_of(&target) != step.identity.2
    {
        return Ok(Some(false));
    }
    if let Some(want) = step.digest {
        return Ok(Some(blake3_of(places, &step.to)? == want));
    }
    let source = match open_read(places, &step.from) {
        Ok((file, st)) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
            (file, st)
        }
        _ => return Ok(Some(false)), // the source is gone or changed: the copy cannot be told apart
    };
    if source.1.st_size != target.st_size {
        return Ok(Some(false));
    }
    let (copy, _) = open_read(places, &step.to)?;
    Ok(Some(same_bytes(source.0, copy)?))
}

fn same_bytes(mut fa: File, mut fb: File) -> io::Result<bool> {
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

/// Removes `path` (not a directory) if it is there.
fn remove(places: &Places, path: &Path) -> io::Result<()> {
    let (dir, name) = match places.parent(path, OFlags::PATH) {
        Ok(found) => found,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    match unlinkat(&dir, &name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(named(e.into(), path)),
    }
}

fn remove_temp(places: &Places, step: &CopyStep) -> io::Result<()> {
    remove(places, &step.temp)
}

/// Removes the step's temporary file (if any) and its copy, if it is ours: whether a copy was
/// removed.
fn remove_if_ours(places: &Places, step: &CopyStep) -> io::Result<bool> {
    remove_temp(places, step)?;
    if is_ours(places, step)? != Some(true) {
        return Ok(false);
    }
    remove(places, &step.to)?;
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
pub fn remove_copies(places: &Places, steps: &[CopyStep], strict: bool) -> Removed {
    let mut out = Removed { removed: 0, not_ours: 0, error: None };
    for step in steps.iter().rev() {
        if strict && matches!(is_ours(places, step), Ok(Some(false))) {
            out.error = Some(changed(&step.to));
            return out;
        }
        match remove_if_ours(places, step) {
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
pub fn copies_done(places: &Places, steps: &[CopyStep]) -> io::Result<Vec<bool>> {
    steps.par_iter().map(|s| is_ours(places, s).map(|o| o == Some(true))).collect()
}

/// The BLAKE3 digest of each path's regular file, in parallel; None where the entry is a
/// symlink or not a regular file (no symlink followed: what a copy checks of those is their
/// text, not their content). Missing entries are errors naming the path.
pub fn blake3_all(places: &Places, paths: &[PathBuf]) -> io::Result<Vec<Option<[u8; 32]>>> {
    paths.par_iter().map(|p| regular_digest(places, p)).collect()
}

fn regular_digest(places: &Places, path: &Path) -> io::Result<Option<[u8; 32]>> {
    let (dir, name) = places.parent(path, OFlags::PATH)?;
    let fd: OwnedFd = match openat(&dir, &name, READ, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => return Ok(None), // O_NOFOLLOW met a symlink
        Err(e) => return Err(named(e.into(), path)),
    };
    let st = fstat(&fd).map_err(|e| named(e.into(), path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    blake3_of_file(&mut (&File::from(fd))).map(Some).map_err(|e| named(e, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn step_for(from: &Path, to: &Path, n: usize) -> CopyStep {
        let m = fs::symlink_metadata(from).unwrap();
        let identity = (m.dev(), m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec());
        let temp = to.with_file_name(format!(".vegafs-t-{n}"));
        CopyStep { from: from.into(), to: to.into(), temp, identity, digest: None }
    }

    #[test]
    fn copies_keep_holes_modes_and_times_and_never_replace() {
        // Unnamed files, then (none allowed open) temporary names, as where O_TMPFILE is not.
        for unnamed in [usize::MAX, 0] {
            keeps_holes_modes_and_times_and_never_replaces(unnamed);
        }
    }

    fn keeps_holes_modes_and_times_and_never_replaces(unnamed: usize) {
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
        let places = Places::anywhere();
        let outcome = copy_batch(&places, &steps, &CancelToken::default(), unnamed);
        assert_eq!(outcome.done, 2);
        assert_eq!(outcome.error.unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(d.join("taken")).unwrap(), "in the way");
        assert!(!d.join(".vegafs-t-3").exists());
        let (a, b) = (fs::metadata(&sparse).unwrap(), fs::metadata(d.join("copy")).unwrap());
        assert_eq!((b.len(), b.mode() & 0o7777, b.mtime_nsec()), (a.len(), 0o640, a.mtime_nsec()));
        assert!(b.blocks() <= a.blocks(), "{} > {}", b.blocks(), a.blocks());
        assert_eq!(fs::read_link(d.join("link-copy")).unwrap(), Path::new("sparse"));
        let removed = remove_copies(&places, &steps, false);
        assert_eq!((removed.removed, removed.not_ours), (2, 1));
        assert!(!d.join("copy").exists() && fs::symlink_metadata(d.join("link-copy")).is_err());
        assert_eq!(fs::read_to_string(d.join("taken")).unwrap(), "in the way");
    }

    #[test]
    fn an_unnamed_copy_needs_no_temporary_name_and_a_named_one_never_takes_anothers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a"), "data").unwrap();
        fs::set_permissions(d.join("a"), fs::Permissions::from_mode(0o604)).unwrap();
        let step = step_for(&d.join("a"), &d.join("b"), 1);
        fs::write(&step.temp, "someone's").unwrap(); // an entry where the temporary name goes
        let (places, cancel) = (Places::anywhere(), CancelToken::default());
        let named = copy_batch(&places, std::slice::from_ref(&step), &cancel, 0);
        assert_eq!((named.done, named.error.unwrap().kind()), (0, io::ErrorKind::AlreadyExists));
        assert_eq!(fs::read_to_string(&step.temp).unwrap(), "someone's");
        assert!(!d.join("b").exists());
        let unnamed = copy_batch(&places, std::slice::from_ref(&step), &cancel, 1);
        assert_eq!((unnamed.done, unnamed.error.is_none()), (1, true));
        assert_eq!(fs::read_to_string(d.join("b")).unwrap(), "data");
        assert_eq!(fs::metadata(d.join("b")).unwrap().mode() & 0o7777, 0o604);
        assert_eq!(fs::read_to_string(&step.temp).unwrap(), "someone's");
        assert_eq!(fs::read_dir(d).unwrap().count(), 3, "a, b and the other's entry");
    }

    #[test]
    fn digests_are_of_regular_files_only_and_stay_beneath_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let (root, out) = (dir.path().join("root"), dir.path().join("out"));
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(root.join("f"), "bytes").unwrap();
        fs::write(out.join("secret"), "outside").unwrap();
        std::os::unix::fs::symlink("f", root.join("link")).unwrap();
        std::os::unix::fs::symlink(&out, root.join("away")).unwrap();
        let places = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let paths = [root.join("f"), root.join("link")];
        let found = blake3_all(&places, &paths).unwrap();
        assert_eq!(found, vec![Some(*blake3::hash(b"bytes").as_bytes()), None]);
        assert!(blake3_all(&places, &[root.join("away/secret")]).is_err());
        assert!(blake3_all(&places, &[root.join("missing")]).is_err());
    }
}
