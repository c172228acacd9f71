//! The one parallel walker every operation uses.
//!
//! Each directory is one rayon task: open it, read it with `getdents64` into a buffer, `statx`
//! each name relative to the directory's descriptor (no path is built for an entry unless a
//! filter or the visitor needs it), spawn a task per subdirectory. Each pool thread owns one
//! visitor (locked once per directory, never contended), so operations accumulate without
//! sharing; the caller merges the visitors at the end.
//!
//! Visitors may give each entry a weight; the walker adds the weights up per directory and
//! reports each directory's subtree total once its whole subtree is done (post-order), without
//! keeping anything for a directory after it is complete.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustc_hash::FxHashSet;
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat, CWD};

use crate::control::Control;
use crate::error::{CoreError, ErrorKind, WalkError};
use crate::selection::{EntryType, Matcher, Selection};

/// Ignore files read in each walked directory when `Selection::ignore_files` is on.
pub const IGNORE_FILES: [&str; 3] = [".gitignore", ".ignore", ".vegafsignore"];

const DIR_BUFFER: usize = 32 * 1024;
const CANCEL_CHECK_EVERY: usize = 256;

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
}

impl Meta {
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
}

impl Entry<'_> {
    pub fn path(&self) -> PathBuf {
        self.parent.join(self.name)
    }
}

/// What an operation does with the entries. One visitor per pool thread.
pub trait Visitor: Send {
    /// Called for every selected entry; the returned weight is summed into its directories.
    fn entry(&mut self, entry: &Entry<'_>) -> u64;
    /// Called once per walked directory after its whole subtree, with the subtree's weight
    /// (the directory's own entry included).
    fn dir_complete(&mut self, _path: &Path, _depth: usize, _subtree_weight: u64) {}
    /// An entry that could not be read. The walk goes on.
    fn error(&mut self, error: WalkError);
}

/// Walk every root of `selection` in parallel; returns the visitors (one per pool thread that
/// took part) for the caller to merge. Roots are checked before anything is walked: a missing or
/// unreadable root is an error naming it.
pub fn walk<V, F>(
    selection: &Selection,
    control: &Control,
    new_visitor: F,
) -> Result<Vec<V>, CoreError>
where
    V: Visitor,
    F: Fn() -> V + Sync,
{
    let matcher = selection.compile()?;
    let mut roots = Vec::with_capacity(selection.roots.len());
    for path in &selection.roots {
        // A root is always followed, like `find -H`: `vegafs analyze /data` walks what /data is.
        let st = rustix::fs::stat(path).map_err(|e| CoreError::io(path, e.into()))?;
        roots.push((path.clone(), Meta::from_stat(&st)));
    }
    let threads = rayon::current_num_threads() + 1;
    let walk = Walk {
        sel: selection,
        matcher,
        control,
        slots: (0..threads).map(|_| Mutex::new(new_visitor())).collect(),
        walked: selection.follow_symlinks.then(|| Mutex::new(FxHashSet::default())),
    };
    rayon::scope(|scope| {
        for (path, meta) in &roots {
            walk.start_root(path, meta, scope);
        }
    });
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    Ok(walk.slots.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect())
}

struct Walk<'a, V> {
    sel: &'a Selection,
    matcher: Matcher,
    control: &'a Control,
    slots: Vec<Mutex<V>>,
    /// (dev, ino) of every directory walked, kept only when following symlinks.
    walked: Option<Mutex<FxHashSet<(u64, u64)>>>,
}

/// A directory being walked. Lives until its subtree is complete.
struct DirNode {
    path: PathBuf,
    depth: usize,
    root: Arc<Root>,
    parent: Option<Arc<DirNode>>,
    id: (u64, u64),
    /// Ignore rules in force here, deepest first.
    ignores: Option<Arc<IgnoreChain>>,
    /// 1 for this directory's own listing + 1 per subdirectory not yet complete.
    pending: AtomicUsize,
    weight: AtomicU64,
}

struct Root {
    path: PathBuf,
    dev: u64,
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

/// Per-directory tallies, added to the progress counters once the listing is done.
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

impl<'a, V: Visitor> Walk<'a, V> {
    fn visitor(&self) -> MutexGuard<'_, V> {
        let i = rayon::current_thread_index().unwrap_or(self.slots.len() - 1);
        self.slots[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_root<'s>(&'s self, path: &Path, meta: &Meta, scope: &rayon::Scope<'s>) {
        let mut v = self.visitor();
        let entry = Entry { parent: Path::new(""), name: path.as_os_str(), meta, depth: 0 };
        if meta.kind != EntryType::Dir {
            if self.reports(&entry, None) {
                let w = v.entry(&entry);
                self.control.progress.add(1, 0, w, 0);
            }
            return;
        }
        let weight = if self.sel.types.contains(EntryType::Dir) { v.entry(&entry) } else { 0 };
        if self.sel.max_depth == Some(0) {
            v.dir_complete(path, 0, weight);
            self.control.progress.add(1, 1, weight, 0);
            return;
        }
        drop(v);
        self.control.progress.add(1, 0, weight, 0);
        if let Some(walked) = &self.walked {
            walked.lock().unwrap_or_else(|p| p.into_inner()).insert((meta.dev, meta.ino));
        }
        let node = Arc::new(DirNode {
            path: path.to_path_buf(),
            depth: 0,
            root: Arc::new(Root { path: path.to_path_buf(), dev: meta.dev }),
            parent: None,
            id: (meta.dev, meta.ino),
            ignores: None,
            pending: AtomicUsize::new(1),
            weight: AtomicU64::new(weight),
        });
        scope.spawn(move |s| self.walk_dir(node, s));
    }

    fn walk_dir<'s>(&'s self, node: Arc<DirNode>, scope: &rayon::Scope<'s>) {
        if self.control.cancel.is_cancelled() {
            return;
        }
        let mut v = self.visitor();
        let mut subdirs = Vec::new();
        let tally = self.list(&node, &mut *v, &mut subdirs);
        self.control.progress.add(tally.entries, 1, tally.listed_weight, tally.errors);
        node.weight.fetch_add(tally.weight, Ordering::Relaxed);
        node.pending.fetch_add(subdirs.len(), Ordering::Relaxed);
        for child in subdirs {
            scope.spawn(move |s| self.walk_dir(child, s));
        }
        complete(node, &mut *v);
    }

    /// Reads one directory: visits its entries, collects the subdirectories to walk.
    fn list(&self, node: &Arc<DirNode>, v: &mut V, subdirs: &mut Vec<Arc<DirNode>>) -> Tally {
        let mut tally = Tally::default();
        let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if !self.sel.follow_symlinks {
            flags |= OFlags::NOFOLLOW; // the name was a directory when we looked; keep it so
        }
        let fd = match rustix::fs::openat(CWD, &node.path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                v.error(WalkError::from_errno(node.path.clone(), e));
                tally.errors += 1;
                return tally;
            }
        };
        let ignores = if self.sel.ignore_files { self.read_ignores(node, v) } else { None };
        let ignores = ignores.or_else(|| node.ignores.clone());
        let mut buf = Vec::<u8>::with_capacity(DIR_BUFFER);
        let mut dir = RawDir::new(&fd, buf.spare_capacity_mut());
        let mut seen = 0usize;
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
            seen += 1;
            if seen % CANCEL_CHECK_EVERY == 0 && self.control.cancel.is_cancelled() {
                break;
            }
            tally.entries += 1;
            self.visit_name(node, &fd, name, ignores.as_ref(), v, subdirs, &mut tally);
        }
        tally
    }

    #[allow(clippy::too_many_arguments)]
    fn visit_name(
        &self,
        node: &Arc<DirNode>,
        fd: &OwnedFd,
        name: &CStr,
        ignores: Option<&Arc<IgnoreChain>>,
        v: &mut V,
        subdirs: &mut Vec<Arc<DirNode>>,
        tally: &mut Tally,
    ) {
        let name_os = OsStr::from_bytes(name.to_bytes());
        if !self.sel.hidden && name.to_bytes().starts_with(b".") {
            return;
        }
        let mut meta = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Meta::from_stat(&st),
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
        let entry = Entry { parent: &node.path, name: name_os, meta: &meta, depth: node.depth + 1 };
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
        if !self.descends(node, &meta) {
            tally.weight += weight;
            return;
        }
        subdirs.push(Arc::new(DirNode {
            path: entry.path(),
            depth: entry.depth,
            root: node.root.clone(),
            parent: Some(node.clone()),
            id: (meta.dev, meta.ino),
            ignores: ignores.cloned(),
            pending: AtomicUsize::new(1),
            weight: AtomicU64::new(weight),
        }));
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

    fn read_ignores(&self, node: &DirNode, v: &mut V) -> Option<Arc<IgnoreChain>> {
        let mut builder = GitignoreBuilder::new(&node.path);
        let mut any = false;
        for name in IGNORE_FILES {
            let path = node.path.join(name);
            if !path.is_file() {
                continue;
            }
            any = true;
            if let Some(err) = builder.add(&path) {
                let message = format!("ignore file not fully read: {err}");
                v.error(WalkError { path, kind: ErrorKind::Io, message });
            }
        }
        if !any {
            return None;
        }
        let rules = builder.build().ok()?;
        Some(Arc::new(IgnoreChain { rules, parent: node.ignores.clone() }))
    }
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
