//! The one parallel walker every operation uses.
//!
//! Each directory is one rayon task: open it relative to its parent's handle, read it with
//! `getdents64` into a buffer, `statx` each name relative to the directory's descriptor (no path
//! is built for an entry unless a filter or the visitor needs it; a name listed as a regular
//! file is not stat'ed for a visitor that does not need its metadata, see
//! [`Visitor::FILE_META`]), spawn a task per subdirectory. A large directory is split further: its names go out in chunks of [`CHUNK`]
//! names, each stat'ed and visited by its own task sharing the directory's handle, so that one
//! directory of 100,000 files keeps every core busy.
//!
//! Visitors come from a pool: a task takes one (or makes a new one), visits, and puts it back,
//! holding no lock while it visits, so a visitor may itself use rayon (`join`, `par_iter`)
//! without any risk of deadlock. The caller merges the visitors at the end.
//!
//! Visitors may give each entry a weight; the walker adds the weights up per directory and
//! reports each directory's subtree total once its whole subtree is done (post-order), without
//! keeping anything for a directory after it is complete.
//!
//! # Handles, never absolute paths
//!
//! Every directory is opened with `openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)`
//! (without `O_NOFOLLOW` only for a symlink followed on purpose), every entry is stat'ed with
//! `statat(dir, name)`, ignore files and file contents are opened from the directory's handle
//! too. Depth is unlimited (no path is ever longer than a name), and a symlink swapped in for a
//! directory mid-walk is refused by the kernel rather than followed out of the root. Paths in
//! errors and in entries are built from the walk (the names listed), never read back.
//!
//! Roots are opened once, with `O_PATH`: followed when `Selection::beneath` is empty (like
//! `find -H`), else opened beneath their allowed root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` (or name by name with `O_NOFOLLOW` where
//! `openat2` is missing): a symlink in the way is refused, not followed.
//!
//! # The descriptor budget
//!
//! A directory's handle is kept (shared by `Arc`) after its listing only while tasks that need
//! it are queued (its subdirectories still to open, its chunks still to visit), and only within
//! a budget: at most [`default_fd_budget`] handles kept at once, that is a quarter of the soft
//! `RLIMIT_NOFILE` (at least [`FD_BUDGET_FLOOR`], at most [`FD_BUDGET_CEILING`]), or
//! `Control::fd_budget` when set. Above the budget a handle is closed after the listing, and a
//! task that needs it opens it again by walking down from the nearest ancestor whose handle is
//! still kept, name by name with `O_NOFOLLOW` (a root's handle is kept until the walk ends).
//! Besides the kept handles, each running task has at most two descriptors open for a moment
//! (the directory it lists, and one being opened), and each root has one: open descriptors stay
//! below `budget + 2 × running tasks + roots` whatever the tree's shape.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustc_hash::FxHashSet;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, ResolveFlags, Stat, CWD};
use rustix::io::Errno;

use crate::control::Control;
use crate::error::{CoreError, ErrorKind, WalkError};
use crate::selection::{EntryType, Matcher, Selection};

/// Ignore files read in each walked directory when `Selection::ignore_files` is on.
pub const IGNORE_FILES: [&str; 3] = [".gitignore", ".ignore", ".vegafsignore"];

/// Names per task in a large directory.
pub const CHUNK: usize = 2048;
/// The fewest directory handles the walker may keep, whatever `RLIMIT_NOFILE` says.
pub const FD_BUDGET_FLOOR: usize = 32;
/// The most directory handles the walker keeps, however high `RLIMIT_NOFILE` is.
pub const FD_BUDGET_CEILING: usize = 16_384;

const DIR_BUFFER: usize = 32 * 1024;
const CANCEL_CHECK_EVERY: usize = 256;

/// How many directory handles a walk may keep open when `Control::fd_budget` is not set: a
/// quarter of the soft `RLIMIT_NOFILE`, within [`FD_BUDGET_FLOOR`]..=[`FD_BUDGET_CEILING`].
pub fn default_fd_budget() -> usize {
    let rlimit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let soft = rlimit.current.unwrap_or(u64::MAX);
    usize::try_from(soft / 4).unwrap_or(usize::MAX).clamp(FD_BUDGET_FLOOR, FD_BUDGET_CEILING)
}

/// What the walker knows of an entry: one `stat`, kept small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: EntryType,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub uid: u32,
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// The nanoseconds of `mtime`.
    pub mtime_nsec: u32,
}

impl Meta {
    /// A regular file known from the directory listing alone (see [`Visitor::FILE_META`]).
    fn listed_file() -> Self {
        let (dev, ino, nlink, uid, size, blocks, mtime) = (0, 0, 0, 0, 0, 0, 0);
        Meta { kind: EntryType::File, dev, ino, nlink, uid, size, blocks, mtime, mtime_nsec: 0 }
    }

    fn from_stat(st: &Stat) -> Self {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => EntryType::File,
            FileType::Directory => EntryType::Dir,
            FileType::Symlink => EntryType::Symlink,
            _ => EntryType::Other,
        };
        #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
        Meta {
            kind,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            uid: st.st_uid,
            size: st.st_size.max(0) as u64,
            blocks: st.st_blocks as u64,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
        }
    }
}

/// One entry handed to a visitor. A root is depth 0 with an empty `parent` and its whole path as
/// `name`.
#[derive(Debug)]
pub struct Entry<'a> {
    pub parent: &'a Path,
    pub name: &'a OsStr,
    pub meta: &'a Meta,
    pub depth: usize,
    /// Which root of the Selection the entry is below (its index in `Selection::roots`).
    pub root: usize,
    at: At<'a>,
}

/// Where an entry can be opened from.
#[derive(Debug, Clone, Copy)]
enum At<'a> {
    /// `name` in the directory `dir`; `follow`: reached through a symlink followed on purpose.
    Dir {
        dir: BorrowedFd<'a>,
        name: &'a CStr,
        follow: bool,
    },
    Root(&'a Root),
}

impl<'a> Entry<'a> {
    pub fn path(&self) -> PathBuf {
        self.parent.join(self.name)
    }

    /// The handle of the directory the entry was listed in (`None` for a root), for the `*at`
    /// calls of an operation; the entry's name in it is [`Entry::name`].
    pub fn dir(&self) -> Option<BorrowedFd<'a>> {
        match self.at {
            At::Dir { dir, .. } => Some(dir),
            At::Root(_) => None,
        }
    }

    /// Opens a regular file for reading, relative to its directory's handle:
    /// `O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC` (without `O_NOFOLLOW` only
    /// when the walk follows symlinks and reached the file through one). Anything but a regular
    /// file is refused (`InvalidInput`) before and after opening: a FIFO or a device is never
    /// read, never waited on. A root file is opened again the way the root was, and refused if
    /// it is no longer the same file. Errors do not name the path: [`Entry::path`] does.
    pub fn open_file(&self) -> io::Result<File> {
        self.open_file_with_meta().map(|(file, _)| file)
    }

    /// [`Entry::open_file`], and the file's metadata as `fstat` gave it.
    pub fn open_file_with_meta(&self) -> io::Result<(File, Meta)> {
        if self.meta.kind != EntryType::File {
            return Err(not_a_file(self.meta.kind));
        }
        let flags =
            OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let fd = match self.at {
            At::Dir { dir, name, follow } => {
                let flags = if follow { flags - OFlags::NOFOLLOW } else { flags };
                rustix::fs::openat(dir, name, flags, Mode::empty())?
            }
            At::Root(root) => root.reopen(flags - OFlags::NOFOLLOW)?,
        };
        let st = rustix::fs::fstat(&fd)?;
        let meta = Meta::from_stat(&st);
        if meta.kind != EntryType::File {
            return Err(not_a_file(meta.kind));
        }
        if let At::Root(root) = self.at {
            if (meta.dev, meta.ino) != (root.dev, root.ino) {
                return Err(io::Error::other("the file was replaced since the walk began"));
            }
        }
        Ok((File::from(fd), meta))
    }
}

fn not_a_file(kind: EntryType) -> io::Error {
    let what = match kind {
        EntryType::Dir => "a directory",
        EntryType::Symlink => "a symlink",
        EntryType::Other => "a socket, FIFO or device",
        EntryType::File => "a regular file",
    };
    io::Error::new(io::ErrorKind::InvalidInput, format!("not a regular file ({what}), not read"))
}

/// What an operation does with the entries. Visitors come from a pool (see the module doc).
pub trait Visitor: Send {
    /// Called for every selected entry; the returned weight is summed into its directories.
    fn entry(&mut self, entry: &Entry<'_>) -> u64;
    /// Called once per walked directory after its whole subtree, with the subtree's weight
    /// (the directory's own entry included).
    fn dir_complete(&mut self, _path: &Path, _depth: usize, _subtree_weight: u64) {}
    /// An entry that could not be read. The walk goes on.
    fn error(&mut self, error: WalkError);
    /// Whether the walk goes into a directory it would walk (reported already, if directories
    /// are): `false` leaves its subtree out, as an exclude glob does (`copy`: its DEST).
    fn enters(&mut self, _dir: &Entry<'_>) -> bool {
        true
    }
    /// Whether regular files need their metadata (size, times, owner, inode). `false` (search):
    /// a name the directory listing says is a regular file is not `stat`ed, unless a size or
    /// time filter needs it; its [`Entry::meta`] then holds the kind alone (the rest 0), and
    /// [`Entry::open_file_with_meta`] gives the rest from the opened file.
    const FILE_META: bool = true;
}

/// Walk every root of `selection` in parallel; returns the visitors (as many as tasks ever ran
/// at once) for the caller to merge. Roots are opened before anything is walked: a missing or
/// unreadable root is an error naming it, a root refused by `Selection::beneath` is
/// `CoreError::NotAllowed`.
pub fn walk<V, F>(
    selection: &Selection,
    control: &Control,
    new_visitor: F,
) -> Result<Vec<V>, CoreError>
where
    V: Visitor,
    F: Fn() -> V + Sync,
{
    walk_keeping_roots(selection, control, new_visitor).map(|(visitors, _)| visitors)
}

/// [`walk`], and the roots' handles kept open afterwards, for an operation that opens files
/// again once the walk is over (`dupes` hashes only the files whose size another file shares).
pub fn walk_keeping_roots<V, F>(
    selection: &Selection,
    control: &Control,
    new_visitor: F,
) -> Result<(Vec<V>, Reopener), CoreError>
where
    V: Visitor,
    F: Fn() -> V + Sync,
{
    let matcher = selection.compile()?;
    let roots = open_roots(selection)?;
    let walk = Walk {
        sel: selection,
        matcher,
        control,
        new_visitor: &new_visitor,
        pool: Mutex::new(Vec::new()),
        walked: selection.follow_symlinks.then(|| Mutex::new(FxHashSet::default())),
        budget: control.fd_budget.unwrap_or_else(default_fd_budget),
        kept: AtomicUsize::new(0),
    };
    rayon::scope(|scope| {
        for (root, meta) in &roots {
            walk.start_root(root, meta, scope);
        }
    });
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    let visitors = walk.pool.into_inner().unwrap_or_else(|p| p.into_inner());
    let roots = roots.into_iter().map(|(root, _)| root).collect();
    Ok((visitors, Reopener { roots, follow: selection.follow_symlinks }))
}

/// A [`Reopener`] for `selection`'s roots without a walk: for files another walk found below
/// them (a sharded `dupes` hashes in one place the files its shards' walks found). Roots are
/// opened as [`walk`] opens them (below `Selection::beneath`).
pub fn reopener(selection: &Selection) -> Result<Reopener, CoreError> {
    let roots = open_roots(selection)?.into_iter().map(|(root, _)| root).collect();
    Ok(Reopener { roots, follow: selection.follow_symlinks })
}

/// Opens files found by a finished walk again, from their root's handle and never by an
/// absolute path, so that depth is unlimited: the path below the root goes to
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` in pieces of at most [`REOPEN_PIECE`] bytes
/// (each piece's directory opened `O_PATH` from the previous one), or name by name with
/// `O_NOFOLLOW` where the kernel has no `openat2` — the way roots are opened beneath their
/// allowed roots ([`open_beneath`]). A symlink met on the way is refused, unless the Selection
/// follows symlinks (then the pieces are opened with plain `openat`, following them).
#[derive(Debug)]
pub struct Reopener {
    roots: Vec<Root>,
    follow: bool,
}

impl Reopener {
    /// Opens the directory `dir` (as the walk built its path) below root `root`, `O_PATH`, the
    /// way [`Reopener::open_file`] opens files: for [`Reopener::open_file_in`] its files.
    pub fn open_dir(&self, root: usize, dir: &Path) -> io::Result<OwnedFd> {
        let root = self.roots.get(root).ok_or_else(|| io::Error::other("no such root"))?;
        let relative = below(&root.path, dir)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not below its root"))?;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if relative.as_os_str().is_empty() {
            return Ok(rustix::fs::openat(&*root.fd, c".", flags, Mode::empty())?);
        }
        open_below(root.fd.as_fd(), relative, flags, self.follow)
    }

    /// Opens the regular file `name` in `dir` (from [`Reopener::open_dir`]) as
    /// [`Reopener::open_file`] opens it.
    pub fn open_file_in(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<(File, Meta)> {
        let flags =
            OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let flags = if self.follow { flags - OFlags::NOFOLLOW } else { flags };
        let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
        let meta = Meta::from_stat(&rustix::fs::fstat(&fd)?);
        if meta.kind != EntryType::File {
            return Err(not_a_file(meta.kind));
        }
        Ok((File::from(fd), meta))
    }
}

impl Reopener {
    /// The index of the first root `path` lies below (or is), as the walk would have built it.
    pub fn root_of(&self, path: &Path) -> Option<usize> {
        self.roots.iter().position(|root| below(&root.path, path).is_some())
    }
}

/// The longest path (bytes) one re-opening call resolves; deeper paths take several.
pub const REOPEN_PIECE: usize = 2048;

impl Reopener {
    /// Opens the regular file at `path` (as the walk built it: its root as given joined with the
    /// names below) below root `root` for reading, with the flags of [`Entry::open_file`]; anything
    /// but a regular file is refused before it is read. Returns the file and what `fstat` says of
    /// it now: the caller compares it with what the walk saw. Errors do not name the path.
    pub fn open_file(&self, root: usize, path: &Path) -> io::Result<(File, Meta)> {
        let root = self.roots.get(root).ok_or_else(|| io::Error::other("no such root"))?;
        let flags =
            OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let relative = below(&root.path, path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not below its root"))?;
        let fd = if relative.as_os_str().is_empty() {
            root.reopen(flags - OFlags::NOFOLLOW)?
        } else {
            open_below(root.fd.as_fd(), relative, flags, self.follow)?
        };
        let meta = Meta::from_stat(&rustix::fs::fstat(&fd)?);
        if meta.kind != EntryType::File {
            return Err(not_a_file(meta.kind));
        }
        if relative.as_os_str().is_empty() && (meta.dev, meta.ino) != (root.dev, root.ino) {
            return Err(io::Error::other("the file was replaced since the walk began"));
        }
        Ok((File::from(fd), meta))
    }
}

/// `path` without its leading `root` (empty for the root itself): a byte-wise cut where the
/// walk joined names to the root as given, `Path::strip_prefix` otherwise.
fn below<'p>(root: &Path, path: &'p Path) -> Option<&'p Path> {
    let (r, p) = (root.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    match p.strip_prefix(r) {
        Some([]) => Some(Path::new("")),
        Some([b'/', rest @ ..]) if !r.ends_with(b"/") => Some(Path::new(OsStr::from_bytes(rest))),
        Some(rest) if r.ends_with(b"/") => Some(Path::new(OsStr::from_bytes(rest))),
        _ => path.strip_prefix(root).ok(),
    }
}

/// Opens `relative` (plain names) below `base` with `flags` on its last name, resolving at most
/// [`REOPEN_PIECE`] bytes per call (see [`Reopener`]).
pub(crate) fn open_below(
    base: BorrowedFd<'_>,
    relative: &Path,
    flags: OFlags,
    follow: bool,
) -> io::Result<OwnedFd> {
    let open = |base: BorrowedFd<'_>, piece: &Path, flags: OFlags| -> io::Result<OwnedFd> {
        if follow {
            let flags = flags - OFlags::NOFOLLOW;
            return Ok(rustix::fs::openat(base, piece, flags | OFlags::CLOEXEC, Mode::empty())?);
        }
        open_beneath(base, piece, flags).map_err(|r| match r {
            Refusal::Io(e) => e.into(),
            Refusal::NotAllowed(reason) => io::Error::other(reason),
        })
    };
    if relative.as_os_str().len() <= REOPEN_PIECE {
        return open(base, relative, flags); // one call: the common case
    }
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW;
    let mut names = relative.components().peekable();
    let mut dir: Option<OwnedFd> = None;
    let mut piece = PathBuf::new();
    while let Some(name) = names.next() {
        let Component::Normal(name) = name else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain path"));
        };
        piece.push(name);
        let last = names.peek().is_none();
        let full = names.peek().is_some_and(|next| {
            piece.as_os_str().len() + 1 + next.as_os_str().len() > REOPEN_PIECE
        });
        if last || full {
            let at = dir.as_ref().map_or(base, |fd| fd.as_fd());
            let fd = open(at, &piece, if last { flags } else { dir_flags })?;
            if last {
                return Ok(fd);
            }
            dir = Some(fd);
            piece.clear();
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"))
}

/// A root, opened once with `O_PATH`.
#[derive(Debug)]
struct Root {
    path: PathBuf,
    /// Its index in `Selection::roots`.
    index: usize,
    dev: u64,
    ino: u64,
    fd: Arc<OwnedFd>,
    from: RootFrom,
}

#[derive(Debug)]
enum RootFrom {
    /// Opened by its path, following symlinks.
    Path,
    /// Opened beneath an allowed root, following nothing.
    Beneath { allowed: Arc<OwnedFd>, relative: PathBuf },
}

impl Root {
    /// Opens the root again as it was opened first, with `flags`.
    fn reopen(&self, flags: OFlags) -> io::Result<OwnedFd> {
        match &self.from {
            RootFrom::Path => Ok(rustix::fs::openat(CWD, &self.path, flags, Mode::empty())?),
            RootFrom::Beneath { allowed, relative } => {
                open_beneath(allowed.as_fd(), relative, flags).map_err(|r| match r {
                    Refusal::Io(e) => e.into(),
                    Refusal::NotAllowed(reason) => io::Error::other(reason),
                })
            }
        }
    }
}

fn open_roots(sel: &Selection) -> Result<Vec<(Root, Meta)>, CoreError> {
    let mut allowed: Vec<Option<Arc<OwnedFd>>> = vec![None; sel.beneath.len()];
    let mut roots = Vec::with_capacity(sel.roots.len());
    for path in &sel.roots {
        let io_err = |e: Errno| CoreError::io(path, e.into());
        let (fd, from) = if sel.beneath.is_empty() {
            // A root is followed, like `find -H`: `vegafs analyze /data` walks what /data is.
            let fd = rustix::fs::openat(CWD, path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .map_err(io_err)?;
            (fd, RootFrom::Path)
        } else {
            let found = sel.beneath.iter().enumerate().find_map(|(i, a)| {
                let rel = path.strip_prefix(a).ok()?;
                rel.components().all(|c| matches!(c, Component::Normal(_))).then_some((i, rel))
            });
            let Some((i, relative)) = found else {
                let reason = "is outside the allowed roots".to_string();
                return Err(CoreError::NotAllowed { path: path.clone(), reason });
            };
            let base = match &allowed[i] {
                Some(fd) => fd.clone(),
                None => {
                    // An allowed root is configuration: trusted, opened as it is.
                    let a = &sel.beneath[i];
                    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                    let fd = rustix::fs::openat(CWD, a, flags, Mode::empty())
                        .map_err(|e| CoreError::io(a, e.into()))?;
                    allowed[i].insert(Arc::new(fd)).clone()
                }
            };
            let fd = open_beneath(base.as_fd(), relative, OFlags::PATH).map_err(|r| match r {
                Refusal::Io(e) => io_err(e),
                Refusal::NotAllowed(reason) => CoreError::NotAllowed { path: path.clone(), reason },
            })?;
            (fd, RootFrom::Beneath { allowed: base, relative: relative.to_path_buf() })
        };
        let meta = Meta::from_stat(&rustix::fs::fstat(&fd).map_err(io_err)?);
        let root = Root {
            path: path.clone(),
            index: roots.len(),
            dev: meta.dev,
            ino: meta.ino,
            fd: Arc::new(fd),
            from,
        };
        roots.push((root, meta));
    }
    Ok(roots)
}

#[derive(Debug)]
pub(crate) enum Refusal {
    Io(Errno),
    NotAllowed(String),
}

pub(crate) const SYMLINK_IN_THE_WAY: &str =
    "is reached through a symlink (refused: the tree changed)";

/// Opens `relative` (plain names only) beneath `base` without following any symlink:
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or name by name where
/// the kernel has no `openat2`.
fn open_beneath(base: BorrowedFd<'_>, relative: &Path, flags: OFlags) -> Result<OwnedFd, Refusal> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let path = if relative.as_os_str().is_empty() { Path::new(".") } else { relative };
    for _ in 0..4 {
        match rustix::fs::openat2(base, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOSYS) => return open_beneath_by_names(base, relative, flags),
            Err(Errno::AGAIN) => continue, // a rename raced the lookup: try again
            Err(Errno::LOOP) => return Err(Refusal::NotAllowed(SYMLINK_IN_THE_WAY.into())),
            Err(Errno::XDEV) => {
                return Err(Refusal::NotAllowed("leads outside its allowed root".into()))
            }
            Err(e) => return Err(Refusal::Io(e)),
        }
    }
    Err(Refusal::Io(Errno::AGAIN))
}

/// `open_beneath` without `openat2`: one `openat(O_NOFOLLOW)` per name, each checked.
pub(crate) fn open_beneath_by_names(
    base: BorrowedFd<'_>,
    relative: &Path,
    flags: OFlags,
) -> Result<OwnedFd, Refusal> {
    let names: Vec<&OsStr> = relative
        .components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(Refusal::NotAllowed("leads outside its allowed root".into())),
        })
        .collect::<Result<_, _>>()?;
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(base, c".", dir_flags, Mode::empty()).map_err(Refusal::Io)?;
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let f = if last { flags | OFlags::NOFOLLOW | OFlags::CLOEXEC } else { dir_flags };
        cur = match rustix::fs::openat(&cur, *name, f, Mode::empty()) {
            Ok(fd) => fd,
            // O_NOFOLLOW | O_DIRECTORY on a symlink: ENOTDIR; look whether it is one.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                let is_link = rustix::fs::statat(&cur, *name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                return Err(if is_link {
                    Refusal::NotAllowed(SYMLINK_IN_THE_WAY.into())
                } else {
                    Refusal::Io(e)
                });
            }
            Err(e) => return Err(Refusal::Io(e)),
        };
    }
    // O_PATH | O_NOFOLLOW opens a trailing symlink itself.
    let st = rustix::fs::fstat(&cur).map_err(Refusal::Io)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(Refusal::NotAllowed(SYMLINK_IN_THE_WAY.into()));
    }
    Ok(cur)
}

struct Walk<'a, V, F> {
    sel: &'a Selection,
    matcher: Matcher,
    control: &'a Control,
    new_visitor: &'a F,
    /// Visitors not in use. A task takes one (or makes one) and puts it back: no lock is held
    /// while visiting.
    pool: Mutex<Vec<V>>,
    /// (dev, ino) of every directory walked, kept only when following symlinks.
    walked: Option<Mutex<FxHashSet<(u64, u64)>>>,
    /// How many directory handles may be kept (roots aside).
    budget: usize,
    kept: AtomicUsize,
}

/// A directory being walked. Lives until its subtree is complete.
struct DirNode {
    path: PathBuf,
    /// Where this directory's name starts in `path` (a root has none).
    name_at: usize,
    depth: usize,
    root: Arc<RootRef>,
    parent: Option<Arc<DirNode>>,
    id: (u64, u64),
    /// Reached through a symlink followed on purpose: opened without `O_NOFOLLOW`.
    follow: bool,
    /// Ignore rules in force here, deepest first.
    ignores: Option<Arc<IgnoreChain>>,
    /// 1 for this directory's own listing + 1 per chunk task + 1 per subdirectory not yet
    /// complete.
    pending: AtomicUsize,
    weight: AtomicU64,
    /// This directory's handle, kept while `users` > 0 and the budget allows (a root's always).
    handle: Mutex<Option<Arc<OwnedFd>>>,
    /// Tasks, queued or running, that may need `handle`: the listing, its chunks, and the
    /// subdirectories not yet opened.
    users: AtomicUsize,
}

/// What a walk needs of its root.
struct RootRef {
    path: PathBuf,
    index: usize,
    dev: u64,
}

impl DirNode {
    fn name(&self) -> &OsStr {
        OsStr::from_bytes(&self.path.as_os_str().as_bytes()[self.name_at..])
    }

    fn open_flags(&self) -> OFlags {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if self.follow {
            flags
        } else {
            flags | OFlags::NOFOLLOW // the name was a directory when we looked; keep it so
        }
    }
}

impl Drop for DirNode {
    /// Unlinks the chain of parents one by one: a very deep tree must not recurse.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(mut node) = parent.and_then(Arc::into_inner) {
            parent = node.parent.take();
        }
    }
}

struct IgnoreChain {
    rules: Gitignore,
    parent: Option<Arc<IgnoreChain>>,
}

impl IgnoreChain {
    fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let mut cur = Some(self);
        while let Some(chain) = cur {
            let m = chain.rules.matched(path, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
            cur = chain.parent.as_deref();
        }
        false
    }
}

/// Per-task tallies, added to the progress counters once the task is done.
#[derive(Default)]
struct Tally {
    entries: u64,
    /// The weight of the entries that stay with this directory (not those of subdirectories
    /// it will walk: their own nodes carry them).
    weight: u64,
    /// The weight of every entry listed, for progress.
    listed_weight: u64,
    errors: u64,
}

impl<'a, V, F> Walk<'a, V, F>
where
    V: Visitor,
    F: Fn() -> V + Sync,
{
    fn take_visitor(&self) -> V {
        let spare = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        spare.unwrap_or_else(|| (self.new_visitor)())
    }

    fn put_visitor(&self, v: V) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    fn start_root<'s>(&'s self, root: &Root, meta: &Meta, scope: &rayon::Scope<'s>) {
        let mut v = self.take_visitor();
        let at = At::Root(root);
        let path = &root.path;
        let (parent, name, index) = (Path::new(""), path.as_os_str(), root.index);
        let entry = Entry { parent, name, meta, depth: 0, root: index, at };
        if meta.kind != EntryType::Dir {
            if self.reports(&entry, None) {
                let w = v.entry(&entry);
                self.control.progress.add(1, 0, w, 0);
            }
            self.put_visitor(v);
            return;
        }
        let weight = if self.sel.types.contains(EntryType::Dir) { v.entry(&entry) } else { 0 };
        if self.sel.max_depth == Some(0) {
            v.dir_complete(path, 0, weight);
            self.control.progress.add(1, 1, weight, 0);
            self.put_visitor(v);
            return;
        }
        self.put_visitor(v);
        self.control.progress.add(1, 0, weight, 0);
        if let Some(walked) = &self.walked {
            walked.lock().unwrap_or_else(|p| p.into_inner()).insert((meta.dev, meta.ino));
        }
        let node = Arc::new(DirNode {
            path: path.clone(),
            name_at: path.as_os_str().len(),
            depth: 0,
            root: Arc::new(RootRef { path: path.clone(), index: root.index, dev: meta.dev }),
            parent: None,
            id: (meta.dev, meta.ino),
            follow: false,
            ignores: None,
            pending: AtomicUsize::new(1),
            weight: AtomicU64::new(weight),
            handle: Mutex::new(Some(root.fd.clone())),
            users: AtomicUsize::new(1),
        });
        scope.spawn(move |s| self.walk_dir(node, s));
    }

    fn walk_dir<'s>(&'s self, node: Arc<DirNode>, scope: &rayon::Scope<'s>) {
        if self.control.cancel.is_cancelled() {
            return;
        }
        let mut v = self.take_visitor();
        let tally = self.list(&node, &mut v, scope);
        self.control.progress.add(tally.entries, 1, tally.listed_weight, tally.errors);
        node.weight.fetch_add(tally.weight, Ordering::Relaxed);
        complete(node, &mut v);
        self.put_visitor(v);
    }

    /// Reads one directory: visits its entries (or hands them to chunk tasks when there are
    /// many), spawns its subdirectories.
    fn list<'s>(&'s self, node: &Arc<DirNode>, v: &mut V, scope: &rayon::Scope<'s>) -> Tally {
        let mut tally = Tally::default();
        let opened = self.open_dir(node);
        if let Some(parent) = &node.parent {
            self.release(parent); // this task no longer needs its parent's handle
        }
        let fd = match opened {
            Ok(fd) => Arc::new(fd),
            Err(e) => {
                v.error(e);
                tally.errors += 1;
                self.release(node);
                return tally;
            }
        };
        let ignores = if self.sel.ignore_files { self.read_ignores(node, &fd, v) } else { None };
        let ignores = ignores.or_else(|| node.ignores.clone());
        let mut buf = Vec::<u8>::with_capacity(DIR_BUFFER);
        let mut dir = RawDir::new(&*fd, buf.spare_capacity_mut());
        let mut names = Vec::<u8>::new();
        let mut count = 0usize;
        while let Some(item) = dir.next() {
            let raw = match item {
                Ok(raw) => raw,
                Err(e) => {
                    v.error(WalkError::from_errno(node.path.clone(), e));
                    tally.errors += 1;
                    break;
                }
            };
            let name = raw.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            // Each name is kept after one byte: 1 if the listing says it is a regular file.
            names.push(u8::from(raw.file_type() == FileType::RegularFile));
            names.extend_from_slice(name.to_bytes_with_nul());
            count += 1;
            if count == CHUNK {
                if self.control.cancel.is_cancelled() {
                    break;
                }
                // A large directory: these names go to a task of their own.
                self.keep(node, &fd);
                node.users.fetch_add(1, Ordering::Relaxed);
                node.pending.fetch_add(1, Ordering::Relaxed);
                let (node, names, ignores) =
                    (node.clone(), std::mem::take(&mut names), ignores.clone());
                scope.spawn(move |s| self.walk_chunk(node, names, ignores, s));
                count = 0;
            }
        }
        let mut subdirs = Vec::new();
        self.visit_names(node, &fd, &names, ignores.as_ref(), v, &mut subdirs, &mut tally);
        self.spawn_subdirs(node, &fd, subdirs, scope);
        self.release(node);
        tally
    }

    /// Stats and visits a chunk of a large directory's names.
    fn walk_chunk<'s>(
        &'s self,
        node: Arc<DirNode>,
        names: Vec<u8>,
        ignores: Option<Arc<IgnoreChain>>,
        scope: &rayon::Scope<'s>,
    ) {
        if self.control.cancel.is_cancelled() {
            return;
        }
        let mut v = self.take_visitor();
        let mut tally = Tally::default();
        match self.handle(&node) {
            Ok(fd) => {
                let mut subdirs = Vec::new();
                self.visit_names(
                    &node,
                    &fd,
                    &names,
                    ignores.as_ref(),
                    &mut v,
                    &mut subdirs,
                    &mut tally,
                );
                self.spawn_subdirs(&node, &fd, subdirs, scope);
            }
            Err(e) => {
                v.error(e);
                tally.errors += 1;
            }
        }
        self.release(&node);
        self.control.progress.add(tally.entries, 0, tally.listed_weight, tally.errors);
        node.weight.fetch_add(tally.weight, Ordering::Relaxed);
        complete(node, &mut v);
        self.put_visitor(v);
    }

    fn spawn_subdirs<'s>(
        &'s self,
        node: &Arc<DirNode>,
        fd: &Arc<OwnedFd>,
        subdirs: Vec<Arc<DirNode>>,
        scope: &rayon::Scope<'s>,
    ) {
        if subdirs.is_empty() {
            return;
        }
        self.keep(node, fd);
        node.users.fetch_add(subdirs.len(), Ordering::Relaxed);
        node.pending.fetch_add(subdirs.len(), Ordering::Relaxed);
        for child in subdirs {
            scope.spawn(move |s| self.walk_dir(child, s));
        }
    }

    /// Keeps `fd` as `node`'s handle for the tasks about to be spawned, if the budget allows.
    /// Only called by a task that counts among the node's users.
    fn keep(&self, node: &DirNode, fd: &Arc<OwnedFd>) {
        let mut slot = node.handle.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return;
        }
        let budget = self.budget;
        let reserved = self
            .kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < budget).then_some(n + 1));
        if reserved.is_ok() {
            *slot = Some(fd.clone());
        }
    }

    /// One user of `node`'s handle is done with it; the last one closes it (a root's stays).
    fn release(&self, node: &DirNode) {
        if node.users.fetch_sub(1, Ordering::AcqRel) != 1 || node.parent.is_none() {
            return;
        }
        let kept = node.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if kept.is_some() {
            self.kept.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// `node`'s handle: the one kept, or opened again by walking down from the nearest
    /// ancestor whose handle is kept, name by name (a root's handle is always kept).
    fn handle(&self, node: &DirNode) -> Result<Arc<OwnedFd>, WalkError> {
        let mut chain = Vec::new();
        let mut cur = node;
        let mut fd = loop {
            if let Some(fd) = cur.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                break fd.clone();
            }
            chain.push(cur);
            cur = cur.parent.as_deref().expect("a root keeps its handle");
        };
        for n in chain.into_iter().rev() {
            let opened = rustix::fs::openat(&*fd, n.name(), n.open_flags(), Mode::empty());
            fd = Arc::new(opened.map_err(|e| WalkError::from_errno(n.path.clone(), e))?);
        }
        Ok(fd)
    }

    /// Opens `node` for listing, relative to its parent's handle.
    fn open_dir(&self, node: &DirNode) -> Result<OwnedFd, WalkError> {
        let opened = match &node.parent {
            None => {
                let fd = self.handle(node)?; // the root's O_PATH handle
                rustix::fs::openat(&*fd, c".", node.open_flags() - OFlags::NOFOLLOW, Mode::empty())
            }
            Some(parent) => {
                let fd = self.handle(parent)?;
                rustix::fs::openat(&*fd, node.name(), node.open_flags(), Mode::empty())
            }
        };
        opened.map_err(|e| WalkError::from_errno(node.path.clone(), e))
    }

    #[allow(clippy::too_many_arguments)]
    fn visit_names(
        &self,
        node: &Arc<DirNode>,
        fd: &OwnedFd,
        names: &[u8],
        ignores: Option<&Arc<IgnoreChain>>,
        v: &mut V,
        subdirs: &mut Vec<Arc<DirNode>>,
        tally: &mut Tally,
    ) {
        let mut rest = names;
        let mut seen = 0usize;
        while let Some((&listed_file, after)) = rest.split_first() {
            let Ok(name) = CStr::from_bytes_until_nul(after) else { break };
            rest = &after[name.to_bytes_with_nul().len()..];
            seen += 1;
            if seen % CANCEL_CHECK_EVERY == 0 && self.control.cancel.is_cancelled() {
                break;
            }
            tally.entries += 1;
            self.visit_name(node, fd.as_fd(), name, listed_file == 1, ignores, v, subdirs, tally);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn visit_name(
        &self,
        node: &Arc<DirNode>,
        fd: BorrowedFd<'_>,
        name: &CStr,
        listed_file: bool,
        ignores: Option<&Arc<IgnoreChain>>,
        v: &mut V,
        subdirs: &mut Vec<Arc<DirNode>>,
        tally: &mut Tally,
    ) {
        let name_os = OsStr::from_bytes(name.to_bytes());
        if !self.sel.hidden && name.to_bytes().starts_with(b".") {
            return;
        }
        let stat = match listed_file && self.files_unstated() {
            true => Ok(None),
            false => rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).map(Some),
        };
        let mut meta = match stat {
            Ok(Some(st)) => Meta::from_stat(&st),
            Ok(None) => Meta::listed_file(),
            Err(e) => {
                v.error(WalkError::from_errno(node.path.join(name_os), e));
                tally.errors += 1;
                return;
            }
        };
        let via_symlink = self.sel.follow_symlinks && meta.kind == EntryType::Symlink;
        if via_symlink {
            // A dangling link stays a symlink.
            if let Ok(st) = rustix::fs::statat(fd, name, AtFlags::empty()) {
                meta = Meta::from_stat(&st);
            }
        }
        let relative = self.relative_path(node, name_os);
        if !self.matcher.exclude.is_empty()
            && self.matcher.exclude.matches(Path::new(name_os), relative.as_deref())
        {
            return;
        }
        let is_dir = meta.kind == EntryType::Dir;
        if let Some(chain) = ignores {
            if chain.is_ignored(&node.path.join(name_os), is_dir) {
                return;
            }
        }
        let at = At::Dir { dir: fd, name, follow: via_symlink };
        let (depth, root) = (node.depth + 1, node.root.index);
        let entry = Entry { parent: &node.path, name: name_os, meta: &meta, depth, root, at };
        if !is_dir {
            if self.reports(&entry, relative.as_deref()) {
                let w = v.entry(&entry);
                tally.weight += w;
                tally.listed_weight += w;
            }
            return;
        }
        if via_symlink && self.is_ancestor(node, (meta.dev, meta.ino)) {
            let message = "symlink leads back to one of its ancestors".to_string();
            v.error(WalkError { path: entry.path(), kind: ErrorKind::Loop, message });
            tally.errors += 1;
            return;
        }
        let weight = if self.sel.types.contains(EntryType::Dir) { v.entry(&entry) } else { 0 };
        tally.listed_weight += weight;
        if !self.descends(node, &meta) || !v.enters(&entry) {
            tally.weight += weight;
            return;
        }
        let path = entry.path();
        subdirs.push(Arc::new(DirNode {
            name_at: path.as_os_str().len() - name_os.len(),
            path,
            depth: entry.depth,
            root: node.root.clone(),
            parent: Some(node.clone()),
            id: (meta.dev, meta.ino),
            follow: via_symlink,
            ignores: ignores.cloned(),
            pending: AtomicUsize::new(1),
            weight: AtomicU64::new(weight),
            handle: Mutex::new(None),
            users: AtomicUsize::new(1),
        }));
    }

    /// Whether regular files go to the visitor without a `stat` (see [`Visitor::FILE_META`]).
    fn files_unstated(&self) -> bool {
        let sel = self.sel;
        !V::FILE_META
            && sel.min_size.is_none()
            && sel.max_size.is_none()
            && sel.newer_than.is_none()
            && sel.older_than.is_none()
    }

    /// The filters that apply to reported entries other than directories.
    fn reports(&self, entry: &Entry<'_>, relative: Option<&Path>) -> bool {
        let (sel, m) = (self.sel, entry.meta);
        sel.types.contains(m.kind)
            && sel.min_size.is_none_or(|lo| m.size >= lo)
            && sel.max_size.is_none_or(|hi| m.size <= hi)
            && sel.newer_than.is_none_or(|t| m.mtime >= t)
            && sel.older_than.is_none_or(|t| m.mtime < t)
            && (self.matcher.include.is_empty()
                || self.matcher.include.matches(Path::new(entry.name), relative))
            && (self.matcher.path_regex.is_none() || self.matcher.regex_matches(&entry.path()))
    }

    fn relative_path(&self, node: &DirNode, name: &OsStr) -> Option<PathBuf> {
        if !(self.matcher.include.needs_relative() || self.matcher.exclude.needs_relative()) {
            return None;
        }
        let rel = node.path.strip_prefix(&node.root.path).unwrap_or(&node.path);
        Some(rel.join(name))
    }

    fn descends(&self, node: &DirNode, meta: &Meta) -> bool {
        if self.sel.max_depth.is_some_and(|max| node.depth + 1 >= max) {
            return false;
        }
        if self.sel.one_file_system && meta.dev != node.root.dev {
            return false;
        }
        match &self.walked {
            // Following links, a directory reachable by two paths is walked by the first only.
            Some(walked) => {
                walked.lock().unwrap_or_else(|p| p.into_inner()).insert((meta.dev, meta.ino))
            }
            None => true,
        }
    }

    fn is_ancestor(&self, node: &DirNode, id: (u64, u64)) -> bool {
        let mut cur = Some(node);
        while let Some(n) = cur {
            if n.id == id {
                return true;
            }
            cur = n.parent.as_deref();
        }
        false
    }

    /// Reads the ignore files of `node` from its handle: regular files only, never through a
    /// symlink. A line that is not a valid pattern is reported with its line number (not its
    /// text) and skipped; the other lines still apply.
    fn read_ignores(&self, node: &DirNode, fd: &OwnedFd, v: &mut V) -> Option<Arc<IgnoreChain>> {
        let mut builder = GitignoreBuilder::new(&node.path);
        let mut any = false;
        for name in IGNORE_FILES {
            let text = match read_ignore_file(fd.as_fd(), name) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(e) => {
                    v.error(WalkError::from_io(node.path.join(name), &e));
                    continue;
                }
            };
            any = true;
            let path = node.path.join(name);
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let problem = match std::str::from_utf8(line) {
                    Err(_) => "not valid UTF-8".to_string(),
                    Ok(line) => match builder.add_line(Some(path.clone()), line) {
                        Ok(_) => continue,
                        // `err` is the kind of glob error, without the pattern's text.
                        Err(ignore::Error::Glob { err, .. }) => format!("invalid pattern: {err}"),
                        Err(_) => "invalid pattern".to_string(),
                    },
                };
                let message = format!("line {}: {problem}; the line is ignored", i + 1);
                v.error(WalkError { path: path.clone(), kind: ErrorKind::Io, message });
            }
        }
        if !any {
            return None;
        }
        let rules = builder.build().ok()?;
        Some(Arc::new(IgnoreChain { rules, parent: node.ignores.clone() }))
    }
}

/// An ignore file's bytes; `None` when there is none, or it is a symlink or not a regular file.
fn read_ignore_file(dir: BorrowedFd<'_>, name: &str) -> io::Result<Option<Vec<u8>>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    let mut text = Vec::new();
    File::from(fd).read_to_end(&mut text)?;
    Ok(Some(text))
}

/// Marks one more part of `node` done; when it was the last, reports the directory complete and
/// passes its total up to its parent, and so on up the tree.
fn complete<V: Visitor>(node: Arc<DirNode>, v: &mut V) {
    let mut cur = node;
    loop {
        if cur.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let total = cur.weight.load(Ordering::Acquire);
        v.dir_complete(&cur.path, cur.depth, total);
        let Some(parent) = cur.parent.clone() else { return };
        parent.weight.fetch_add(total, Ordering::AcqRel);
        cur = parent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_names_refuses_symlinks_and_opens_plain_paths() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("a", t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("f", t.path().join("a/b/lf")).unwrap();
        let base =
            rustix::fs::open(t.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let open = |rel: &str, flags| open_beneath_by_names(base.as_fd(), Path::new(rel), flags);
        assert!(open("a/b/f", OFlags::PATH).is_ok());
        assert!(open("", OFlags::PATH).is_ok());
        assert!(open("a/b/f", OFlags::RDONLY).is_ok());
        for bad in ["l", "l/b", "l/b/f", "a/b/lf"] {
            for flags in [OFlags::PATH, OFlags::RDONLY] {
                assert!(matches!(open(bad, flags), Err(Refusal::NotAllowed(_))), "{bad} {flags:?}");
            }
        }
        assert!(matches!(open("a/missing", OFlags::PATH), Err(Refusal::Io(Errno::NOENT))));
        assert!(matches!(open("a/../a", OFlags::PATH), Err(Refusal::NotAllowed(_))));
    }
}
