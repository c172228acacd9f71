//! `dupes`: groups of files with equal content, found the way fclones finds them, each stage
//! cutting the candidates of the next:
//!
//! 1. **size**: the walk keeps the regular files of at least `Selection::min_size` bytes (1 when
//!    unset: empty files are all equal and waste nothing) and groups them by size. Paths to one
//!    inode (hard links) are one file: they are counted in `hard_links`, listed with their
//!    inode, never reported as waste. A size shared by fewer than two inodes ends here: such
//!    files are never opened.
//! 2. **edges**: a blake3 hash of the first and the last [`EDGE_BLOCK`] bytes of each inode left;
//!    of the whole file when it is at most [`WHOLE_AT_FIRST`] bytes long (then this hash is the
//!    content's: one open and one read cost less than two opens of a small file).
//! 3. **content**: a blake3 hash of the whole content of the inodes still sharing size and edges.
//!
//! Inodes still sharing size and hash are a [`DupeGroup`], sent through the [`rows`](crate::rows)
//! channel once all are known, largest `wasted_bytes` first, ties by hash.
//!
//! Files are opened again after the walk a directory at a time ([`Reopener`]): the directory
//! from its root's handle, each file by its name in it, never by an absolute path; and read only
//! if they are still the regular file the walk saw: the same
//! (dev, inode) and size. One that vanished, changed or cannot be read is an error (its path,
//! and the kind `vanished`, `changed`, `permission_denied` or `io`) and leaves its group: it is
//! never reported as a duplicate. A hashed inode is opened by the first of its paths that opens.
//!
//! Split in two for a sharded job (files of one size may lie in different shards):
//! [`dupe_files`] is the walk (each shard's), [`dupes_among`] the stages over the files all the
//! walks found (the job's, once); together they give what [`dupes`] gives.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustix::fd::{AsFd, OwnedFd};

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, ErrorKind, WalkError};
use crate::rows::RowSink;
use crate::selection::{EntryType, Selection};
use crate::walk::{reopener, walk, walk_keeping_roots, Entry, Meta, Reopener, Visitor};

/// Bytes hashed at each end of a file by the edges stage.
pub const EDGE_BLOCK: u64 = 4096;
/// Files up to this size are hashed whole by the edges stage.
pub const WHOLE_AT_FIRST: u64 = 64 * 1024;
/// Most files hashed by one task of a stage (they share a directory handle).
const DIR_TASK: usize = 64;
/// Most bytes one task of the content stage reads, but a file is never split: a directory of
/// many large files makes several tasks, so the last task of the stage is never a long one.
const TASK_BYTES: u64 = 4 << 20;
/// Bytes read that a task counts at once (see [`Hasher::add`]).
const COUNT_EVERY: u64 = 1 << 20;
/// Read size of the content stage.
const READ_BUFFER: usize = 128 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct DupesOptions {
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

/// Inodes of equal content. `paths` holds every path to them (hard links too), byte-wise sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DupeGroup {
    /// blake3 of the content.
    pub hash: blake3::Hash,
    pub size: u64,
    /// Distinct inodes (hard links to one inode count once).
    pub count: u64,
    /// `size * (count - 1)`: what keeping one copy would give back.
    pub wasted_bytes: u64,
    pub paths: Vec<PathBuf>,
}

/// Groups of two or more inodes still sharing everything a stage compared, and their inodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCount {
    pub groups: u64,
    /// Distinct inodes in those groups.
    pub files: u64,
    /// Their sizes, each inode once.
    pub bytes: u64,
}

impl StageCount {
    fn of<'a, T: 'a>(groups: &'a [Vec<T>], inode: impl Fn(&'a T) -> &'a Inode) -> Self {
        let files = groups.iter().map(|g| g.len() as u64).sum();
        let bytes = groups.iter().flatten().map(|t| inode(t).size).sum();
        StageCount { groups: groups.len() as u64, files, bytes }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DupesSummary {
    /// Regular files the walk kept (paths: each hard link counted).
    pub files: u64,
    /// Their sizes (each path counted).
    pub bytes: u64,
    /// Paths to an inode already counted: `files` minus distinct inodes.
    pub hard_links: u64,
    /// Candidates after each stage.
    pub by_size: StageCount,
    pub by_edges: StageCount,
    pub by_content: StageCount,
    /// The groups reported (`by_content.groups`).
    pub duplicate_groups: u64,
    /// The inodes in them (`by_content.files`).
    pub duplicate_files: u64,
    /// Sum of the groups' `wasted_bytes`.
    pub reclaimable_bytes: u64,
    /// Bytes read to hash.
    pub hashed_bytes: u64,
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order.
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

/// A path the walk kept.
struct FileRec {
    path: PathBuf,
    root: usize,
    dev: u64,
    ino: u64,
    size: u64,
}

/// One inode and every path to it.
#[derive(Debug)]
struct Inode {
    dev: u64,
    ino: u64,
    size: u64,
    /// (root, path), byte-wise sorted.
    paths: Vec<(usize, PathBuf)>,
    /// Where the first path's last name starts: its directory is `paths[0].1[..dir_len]`.
    dir_len: usize,
}

struct Collector {
    min_size: u64,
    max_errors: usize,
    files: Vec<FileRec>,
    error_count: u64,
    errors: Vec<WalkError>,
}

impl Collector {
    /// A walker thread's collector: regular files of at least `min_size` bytes (1 when unset:
    /// empty files are all alike and waste nothing).
    fn new(selection: &Selection, max_errors: usize) -> Self {
        let min_size = selection.min_size.unwrap_or(1);
        Collector { min_size, max_errors, files: Vec::new(), error_count: 0, errors: Vec::new() }
    }
}

impl Visitor for Collector {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        let m: &Meta = entry.meta;
        if m.kind == EntryType::File && m.size >= self.min_size {
            let (root, dev, ino, size) = (entry.root, m.dev, m.ino, m.size);
            self.files.push(FileRec { path: entry.path(), root, dev, ino, size });
        }
        0 // progress bytes count what is hashed, not what is listed
    }

    fn error(&mut self, error: WalkError) {
        record_error(&mut self.error_count, &mut self.errors, error, self.max_errors);
    }
}

/// Finds the groups of duplicate files among the selected ones, sends them to `rows` (largest
/// waste first, ties by hash) and returns the summary once every row is sent. Hashing runs on
/// rayon's pool, one inode per task; `control`'s token is checked between files and between
/// reads. As for [`crate::list`], a dropped receiver cancels `control`'s token and the call
/// returns [`CoreError::Cancelled`].
pub fn dupes(
    selection: &Selection,
    options: DupesOptions,
    control: &Control,
    rows: RowSink<DupeGroup>,
) -> Result<DupesSummary, CoreError> {
    let start = Instant::now();
    let max_errors = options.max_errors;
    let (parts, reopener) =
        walk_keeping_roots(selection, control, || Collector::new(selection, max_errors))?;
    compare(parts, &reopener, options, control, rows).map(|mut summary| {
        summary.elapsed = start.elapsed();
        summary
    })
}

/// A regular file a walk kept: what the size stage and the join of hard links need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DupeFile {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}

/// The walk of [`dupes`] alone: every regular file of at least `min_size` bytes (1 when unset)
/// sent to `rows` as a [`DupeFile`], in no order. The summary counts `files`, `bytes` and the
/// walk's errors; the stages' fields are 0 ([`dupes_among`] fills them).
pub fn dupe_files(
    selection: &Selection,
    options: DupesOptions,
    control: &Control,
    mut rows: RowSink<DupeFile>,
) -> Result<DupesSummary, CoreError> {
    let start = Instant::now();
    let max_errors = options.max_errors;
    let parts = walk(selection, control, || Collector::new(selection, max_errors))?;
    let mut summary = DupesSummary::default();
    'parts: for part in parts {
        summary.error_count += part.error_count;
        summary.errors.extend(part.errors);
        for f in part.files {
            summary.files += 1;
            summary.bytes += f.size;
            if !rows.push(DupeFile { path: f.path, dev: f.dev, ino: f.ino, size: f.size }) {
                break 'parts; // the consumer is gone; the token is cancelled
            }
        }
    }
    keep_first_errors(&mut summary.errors, max_errors);
    rows.flush();
    drop(rows);
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// The stages of [`dupes`] over `files` that [`dupe_files`] walks found below `selection`'s
/// roots (its other rules are not applied again): each file is opened again below the root it
/// lies under, checked against the (dev, inode, size) its walk saw. The summary's `files`,
/// `bytes` and `hard_links` count `files`. A file below none of the roots is refused
/// ([`CoreError::NotAllowed`]): nothing is read outside them.
pub fn dupes_among(
    selection: &Selection,
    files: Vec<DupeFile>,
    options: DupesOptions,
    control: &Control,
    rows: RowSink<DupeGroup>,
) -> Result<DupesSummary, CoreError> {
    let start = Instant::now();
    let reopener = reopener(selection)?;
    let mut recs = Vec::with_capacity(files.len());
    for f in files {
        let Some(root) = reopener.root_of(&f.path) else {
            let reason = "is below none of the roots".to_string();
            return Err(CoreError::NotAllowed { path: f.path, reason });
        };
        recs.push(FileRec { path: f.path, root, dev: f.dev, ino: f.ino, size: f.size });
    }
    let part = Collector {
        min_size: 0,
        max_errors: options.max_errors,
        files: recs,
        error_count: 0,
        errors: Vec::new(),
    };
    compare(vec![part], &reopener, options, control, rows).map(|mut summary| {
        summary.elapsed = start.elapsed();
        summary
    })
}

/// The stages after the walk: groups the files the collectors kept and hashes them.
fn compare(
    parts: Vec<Collector>,
    reopener: &Reopener,
    options: DupesOptions,
    control: &Control,
    mut rows: RowSink<DupeGroup>,
) -> Result<DupesSummary, CoreError> {
    let max_errors = options.max_errors;
    let mut summary = DupesSummary::default();
    let mut files = Vec::with_capacity(parts.iter().map(|p| p.files.len()).sum());
    for part in parts {
        files.extend(part.files);
        summary.error_count += part.error_count;
        summary.errors.extend(part.errors);
    }
    summary.files = files.len() as u64;
    summary.bytes = files.iter().map(|f| f.size).sum();

    let inodes = inodes_of(files);
    summary.hard_links = summary.files - inodes.len() as u64;
    let by_size: Vec<Vec<Inode>> = runs(inodes, |a, b| a.size == b.size);
    summary.by_size = StageCount::of(&by_size, |i| i);

    let hasher = Hasher { reopener, control, hashed: AtomicU64::new(0), errors: Mutex::default() };
    let by_edges = regroup(hasher.stage(by_size, Stage::Edges)?);
    summary.by_edges = StageCount::of(&by_edges, |(_, i)| i);

    // A file of at most WHOLE_AT_FIRST bytes was read whole: its edges hash is its content's.
    let (mut groups, large): (Vec<_>, Vec<_>) =
        by_edges.into_iter().partition(|g| g[0].1.size <= WHOLE_AT_FIRST);
    let large = large.into_par_iter().map(|g| g.into_iter().map(|(_, i)| i).collect()).collect();
    groups.extend(regroup(hasher.stage(large, Stage::Content)?));
    summary.by_content = StageCount::of(&groups, |(_, i)| i);
    summary.hashed_bytes = hasher.hashed.load(Ordering::Relaxed);
    let errors = hasher.errors.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.error_count += errors.len() as u64;
    summary.errors.extend(errors);
    keep_first_errors(&mut summary.errors, max_errors);

    // On every core too: the paths of each group sorted, the inodes' lists freed.
    let mut found: Vec<DupeGroup> = groups.into_par_iter().map(DupeGroup::of).collect();
    found.par_sort_unstable_by(|a, b| {
        b.wasted_bytes.cmp(&a.wasted_bytes).then_with(|| a.hash.as_bytes().cmp(b.hash.as_bytes()))
    });
    summary.duplicate_groups = found.len() as u64;
    summary.duplicate_files = found.iter().map(|g| g.count).sum();
    summary.reclaimable_bytes = found.iter().map(|g| g.wasted_bytes).sum();
    for group in found {
        if !rows.push(group) {
            break; // the consumer is gone; the token is cancelled
        }
    }
    rows.flush();
    drop(rows);
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    Ok(summary)
}

impl DupeGroup {
    fn of(group: Vec<(blake3::Hash, Inode)>) -> Self {
        let (hash, size, count) = (group[0].0, group[0].1.size, group.len() as u64);
        let mut paths: Vec<PathBuf> =
            group.into_iter().flat_map(|(_, i)| i.paths.into_iter().map(|(_, p)| p)).collect();
        paths.sort_unstable_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
        DupeGroup { hash, size, count, wasted_bytes: size * (count - 1), paths }
    }
}

/// The root and directory of an inode's first path: the key that puts the files of a directory
/// together.
fn dir_of(inode: &Inode) -> (usize, &[u8]) {
    let (root, path) = &inode.paths[0];
    (*root, &path.as_os_str().as_bytes()[..inode.dir_len])
}

fn dir_len(path: &std::path::Path) -> usize {
    path.as_os_str().as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0)
}

/// The paths grouped by inode, sorted by size.
fn inodes_of(mut files: Vec<FileRec>) -> Vec<Inode> {
    files.par_sort_unstable_by(|a, b| {
        (a.size, a.dev, a.ino)
            .cmp(&(b.size, b.dev, b.ino))
            .then_with(|| a.path.as_os_str().as_bytes().cmp(b.path.as_os_str().as_bytes()))
    });
    // An inode per path, made on every core; then the paths to one inode (neighbours now)
    // joined into the first, its own paths still byte-wise sorted.
    let mut inodes: Vec<Inode> = files
        .into_par_iter()
        .map(|f| Inode {
            dev: f.dev,
            ino: f.ino,
            size: f.size,
            dir_len: dir_len(&f.path),
            paths: vec![(f.root, f.path)],
        })
        .collect();
    inodes.dedup_by(|next, first| {
        let same = (next.dev, next.ino) == (first.dev, first.ino);
        if same {
            first.paths.append(&mut next.paths);
        }
        same
    });
    inodes
}

/// The runs of two or more neighbours that `same` says belong together.
fn runs<T>(items: Vec<T>, same: impl Fn(&T, &T) -> bool) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut run: Vec<T> = Vec::new();
    for item in items {
        if run.last().is_some_and(|last| !same(last, &item)) {
            let done = std::mem::take(&mut run);
            if done.len() > 1 {
                out.push(done);
            }
        }
        run.push(item);
    }
    if run.len() > 1 {
        out.push(run);
    }
    out
}

/// Each group split by hash, keeping the parts of two or more inodes.
fn regroup(groups: Vec<Vec<(blake3::Hash, Inode)>>) -> Vec<Vec<(blake3::Hash, Inode)>> {
    groups
        .into_par_iter()
        .flat_map_iter(|mut group| {
            group.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            runs(group, |a, b| a.0 == b.0)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Edges,
    Content,
}

/// Hashes inodes, opening them again below their roots; keeps the errors and counts the bytes.
struct Hasher<'a> {
    reopener: &'a Reopener,
    control: &'a Control,
    hashed: AtomicU64,
    errors: Mutex<Vec<WalkError>>,
}

/// Why an inode has no hash.
enum Failed {
    /// Listed in the errors.
    Error,
    Cancelled,
}

impl Hasher<'_> {
    /// Every inode of `groups` hashed (in parallel), each group keeping those that could be.
    fn stage(
        &self,
        groups: Vec<Vec<Inode>>,
        stage: Stage,
    ) -> Result<Vec<Vec<(blake3::Hash, Inode)>>, CoreError> {
        let n = groups.len();
        let mut flat: Vec<(usize, Inode)> = groups
            .into_iter()
            .enumerate()
            .flat_map(|(g, inodes)| inodes.into_iter().map(move |i| (g, i)))
            .collect();
        // Files of one directory together, a task per directory (or per DIR_TASK of its
        // files, or TASK_BYTES of the content stage): the directory is opened once, each file
        // by its name in it. Sorted on every core: no stage waits on one thread.
        flat.par_sort_unstable_by(|a, b| dir_of(&a.1).cmp(&dir_of(&b.1)));
        let cost = |inode: &Inode| match stage {
            Stage::Edges => 0, // at most WHOLE_AT_FIRST bytes each: DIR_TASK bounds the task
            Stage::Content => inode.size,
        };
        let mut tasks: Vec<(u64, Vec<(usize, Inode)>)> = Vec::new();
        for item in flat {
            let bytes = cost(&item.1);
            match tasks.last_mut() {
                Some((sum, task))
                    if task.len() < DIR_TASK
                        && (*sum == 0 || *sum + bytes <= TASK_BYTES)
                        && dir_of(&task[0].1) == dir_of(&item.1) =>
                {
                    *sum += bytes;
                    task.push(item)
                }
                _ => tasks.push((bytes, vec![item])),
            }
        }
        let hashed: Vec<_> = tasks
            .into_par_iter()
            .flat_map_iter(|(_, task)| {
                let (root, path) = &task[0].1.paths[0];
                let dir = path.parent().and_then(|d| self.reopener.open_dir(*root, d).ok());
                let mut uncounted = Uncounted::default();
                let hashed: Vec<_> = task
                    .into_iter()
                    .map(|(g, mut inode)| {
                        let hash = self.hash(&mut inode, stage, dir.as_ref(), &mut uncounted);
                        (g, hash, inode)
                    })
                    .collect();
                self.count(uncounted.flush());
                hashed
            })
            .collect();
        let mut out: Vec<Vec<(blake3::Hash, Inode)>> = (0..n).map(|_| Vec::new()).collect();
        for (g, hash, inode) in hashed {
            match hash {
                Ok(hash) => out[g].push((hash, inode)),
                Err(Failed::Error) => {}
                Err(Failed::Cancelled) => return Err(CoreError::Cancelled),
            }
        }
        if self.control.cancel.is_cancelled() {
            return Err(CoreError::Cancelled);
        }
        Ok(out)
    }

    /// Hashes `inode` through the first of its paths that opens as the inode the walk saw;
    /// the paths that do not are dropped from it, each an error.
    /// `dir`: the handle of the first path's directory, if it could be opened.
    fn hash(
        &self,
        inode: &mut Inode,
        stage: Stage,
        dir: Option<&OwnedFd>,
        uncounted: &mut Uncounted,
    ) -> Result<blake3::Hash, Failed> {
        if self.control.cancel.is_cancelled() {
            return Err(Failed::Cancelled);
        }
        let mut opened = None;
        let mut failed = Vec::new();
        for (i, (root, path)) in inode.paths.iter().enumerate() {
            let in_dir = dir.filter(|_| i == 0).zip(path.file_name());
            let file = match in_dir {
                Some((dir, name)) => self.reopener.open_file_in(dir.as_fd(), name),
                None => self.reopener.open_file(*root, path),
            };
            match file {
                Ok((file, meta)) if (meta.dev, meta.ino) == (inode.dev, inode.ino) => {
                    if meta.size != inode.size {
                        let message = format!(
                            "changed size since the walk ({} -> {} bytes); not compared",
                            inode.size, meta.size
                        );
                        failed.push(changed(path, message));
                        self.fail(failed);
                        return Err(Failed::Error);
                    }
                    opened = Some((i, file));
                    break;
                }
                Ok(_) => {
                    let message = "is another file than the walk saw; not compared".to_string();
                    failed.push(changed(path, message));
                }
                Err(e) => failed.push(WalkError::from_io(path.clone(), &e)),
            }
        }
        let Some((i, file)) = opened else {
            self.fail(failed);
            return Err(Failed::Error);
        };
        if !failed.is_empty() {
            inode.paths.drain(..i); // the paths before `i` are the ones that failed
            inode.dir_len = dir_len(&inode.paths[0].1);
            self.fail(failed);
        }
        let read = match stage {
            Stage::Edges => self.edges(&file, inode.size, uncounted),
            Stage::Content => self.content(&file, inode.size, uncounted),
        };
        match read {
            Ok(hash) => Ok(hash),
            Err(None) => Err(Failed::Cancelled),
            Err(Some(e)) => {
                let error = if e.kind() == io::ErrorKind::UnexpectedEof {
                    changed(
                        &inode.paths[0].1,
                        "changed size while it was read; not compared".into(),
                    )
                } else {
                    WalkError::from_io(inode.paths[0].1.clone(), &e)
                };
                self.fail(vec![error]);
                Err(Failed::Error)
            }
        }
    }

    fn fail(&self, errors: Vec<WalkError>) {
        if errors.is_empty() {
            return;
        }
        self.control.progress.add(0, 0, 0, errors.len() as u64);
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).extend(errors);
    }

    fn count(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.hashed.fetch_add(bytes, Ordering::Relaxed);
        self.control.progress.add(0, 0, bytes, 0);
    }

    /// Counts `bytes` into `uncounted`, passing them on once they make [`COUNT_EVERY`] bytes:
    /// the progress stays live without two cores touching the shared counters for each small
    /// file.
    fn add(&self, uncounted: &mut Uncounted, bytes: u64) {
        uncounted.0 += bytes;
        if uncounted.0 >= COUNT_EVERY {
            self.count(uncounted.flush());
        }
    }

    /// The first and last [`EDGE_BLOCK`] bytes, or the whole file up to [`WHOLE_AT_FIRST`].
    fn edges(
        &self,
        file: &File,
        size: u64,
        uncounted: &mut Uncounted,
    ) -> Result<blake3::Hash, Option<io::Error>> {
        if size <= WHOLE_AT_FIRST {
            return self.content(file, size, uncounted);
        }
        let mut buf = [0u8; 2 * EDGE_BLOCK as usize];
        let (head, tail) = buf.split_at_mut(EDGE_BLOCK as usize);
        file.read_exact_at(head, 0)?;
        file.read_exact_at(tail, size - EDGE_BLOCK)?;
        self.add(uncounted, 2 * EDGE_BLOCK);
        Ok(blake3::hash(&buf))
    }

    /// The whole content, `size` bytes (as `fstat` said at the open): a file found shorter is an
    /// error; one that grows while it is read is hashed as it was.
    fn content(
        &self,
        file: &File,
        size: u64,
        uncounted: &mut Uncounted,
    ) -> Result<blake3::Hash, Option<io::Error>> {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buf| {
            buf.resize(READ_BUFFER, 0); // once per thread
            self.content_with(file, size, buf, uncounted)
        })
    }

    fn content_with(
        &self,
        file: &File,
        size: u64,
        buf: &mut [u8],
        uncounted: &mut Uncounted,
    ) -> Result<blake3::Hash, Option<io::Error>> {
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        while total < size {
            if self.control.cancel.is_cancelled() {
                return Err(None);
            }
            let want = buf.len().min(usize::try_from(size - total).unwrap_or(usize::MAX));
            let n = read_full_at(file, &mut buf[..want], total)?;
            if n == 0 {
                return Err(Some(io::ErrorKind::UnexpectedEof.into())); // it shrank
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            self.add(uncounted, n as u64);
        }
        Ok(hasher.finalize())
    }
}

/// Bytes a task read and has not counted yet (see [`Hasher::add`]).
#[derive(Default)]
struct Uncounted(u64);

impl Uncounted {
    fn flush(&mut self) -> u64 {
        std::mem::take(&mut self.0)
    }
}

/// Reads at `offset` until `buf` is full or the file ends; the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> Result<usize, Option<io::Error>> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(n)
}

fn changed(path: &std::path::Path, message: String) -> WalkError {
    WalkError { path: path.to_path_buf(), kind: ErrorKind::Changed, message }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::rows::{self, DEFAULT_CAPACITY};

    /// Two walks of two subtrees (two shards) and the stages over all their files find what one
    /// run over the whole tree finds: copies in both subtrees, and a hard link across them
    /// joined into one inode. A file below none of the roots is refused, never opened.
    #[test]
    fn the_stages_over_several_walks_files_equal_one_run() {
        let t = tempfile::tempdir().unwrap();
        let big = |byte: u8| vec![byte; WHOLE_AT_FIRST as usize + 4 * EDGE_BLOCK as usize];
        let p = |name: &str| t.path().join(name);
        fs::create_dir_all(p("one/deep")).unwrap();
        fs::create_dir_all(p("two")).unwrap();
        fs::write(p("one/small"), b"copy").unwrap();
        fs::write(p("two/small"), b"copy").unwrap();
        fs::write(p("one/deep/big"), big(b'a')).unwrap();
        fs::write(p("two/big"), big(b'a')).unwrap();
        fs::write(p("two/other"), big(b'b')).unwrap();
        fs::hard_link(p("one/small"), p("two/small-link")).unwrap();
        let control = Control::default();
        let options = DupesOptions { max_errors: 100 };
        let run = |sel: &Selection, files: Option<Vec<DupeFile>>| {
            let (sink, rx) = rows::channel(10, DEFAULT_CAPACITY, control.cancel.clone());
            let summary = match files {
                Some(files) => dupes_among(sel, files, options, &control, sink).unwrap(),
                None => dupes(sel, options, &control, sink).unwrap(),
            };
            (summary, rx.collect::<Vec<_>>().concat())
        };
        let mut files = Vec::new();
        for shard in ["one", "two"] {
            let sel = Selection::new(vec![p(shard)]);
            let (sink, rx) = rows::channel(10, DEFAULT_CAPACITY, control.cancel.clone());
            let walked = dupe_files(&sel, options, &control, sink).unwrap();
            let found: Vec<DupeFile> = rx.collect::<Vec<_>>().concat();
            assert_eq!(walked.files, found.len() as u64);
            assert_eq!(walked.by_size, StageCount::default()); // a walk alone compares nothing
            files.extend(found);
        }
        let whole = Selection::new(vec![t.path().to_path_buf()]);
        let (one, one_groups) = run(&whole, None);
        let (among, groups) = run(&whole, Some(files));
        assert_eq!(groups, one_groups);
        assert_eq!(
            groups.iter().map(|g| (g.count, g.paths.clone())).collect::<Vec<_>>(),
            [
                (2, vec![p("one/deep/big"), p("two/big")]),
                (2, vec![p("one/small"), p("two/small"), p("two/small-link")]),
            ]
        );
        assert_eq!(DupesSummary { elapsed: one.elapsed, ..among }, one);
        assert_eq!(one.hard_links, 1);

        let outside = DupeFile { path: PathBuf::from("/elsewhere/x"), dev: 1, ino: 2, size: 4 };
        let (sink, _rx) = rows::channel(10, DEFAULT_CAPACITY, control.cancel.clone());
        let refused = dupes_among(&whole, vec![outside], options, &control, sink);
        assert!(matches!(refused, Err(CoreError::NotAllowed { .. })), "{refused:?}");
    }

    /// Files that vanish, change size, are replaced or change their middle between the walk and
    /// the hashing are errors naming them, never duplicates; the others are still compared.
    #[test]
    fn files_changed_after_the_walk_are_errors_never_duplicates() {
        let t = tempfile::tempdir().unwrap();
        let big = |byte: u8| vec![byte; WHOLE_AT_FIRST as usize + 4 * EDGE_BLOCK as usize];
        for name in ["keep1", "keep2", "gone", "grown", "replaced", "middle"] {
            fs::write(t.path().join(name), big(b'a')).unwrap();
        }
        let sel = Selection::new(vec![t.path().to_path_buf()]);
        let control = Control::default();
        let new = || Collector {
            min_size: 1,
            max_errors: 100,
            files: Vec::new(),
            error_count: 0,
            errors: Vec::new(),
        };
        let (parts, reopener) = walk_keeping_roots(&sel, &control, new).unwrap();
        fs::remove_file(t.path().join("gone")).unwrap();
        fs::write(t.path().join("grown"), [big(b'a'), vec![b'a']].concat()).unwrap();
        // Written beside it, then renamed over it: another inode (a freed one could be reused).
        fs::write(t.path().join("replacement"), big(b'a')).unwrap();
        fs::rename(t.path().join("replacement"), t.path().join("replaced")).unwrap();
        let mut middle = big(b'a');
        middle[EDGE_BLOCK as usize + 7] = b'b';
        fs::write(t.path().join("middle"), middle).unwrap();

        let (sink, rx) = rows::channel(10, DEFAULT_CAPACITY, control.cancel.clone());
        let options = DupesOptions { max_errors: 100 };
        let summary = compare(parts, &reopener, options, &control, sink).unwrap();
        let groups: Vec<DupeGroup> = rx.collect::<Vec<_>>().concat();
        let p = |name: &str| t.path().join(name);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].paths, [p("keep1"), p("keep2")]);
        assert_eq!(groups[0].hash, blake3::hash(&big(b'a')));
        let mut errors: Vec<_> = summary.errors.iter().map(|e| (e.path.clone(), e.kind)).collect();
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            errors,
            [
                (p("gone"), ErrorKind::Vanished),
                (p("grown"), ErrorKind::Changed),
                (p("replaced"), ErrorKind::Changed),
            ]
        );
        assert_eq!(summary.error_count, 3);
        assert_eq!(summary.by_size.files, 6);
        assert_eq!(summary.by_edges.files, 3); // keep1, keep2, middle
        assert_eq!((summary.duplicate_groups, summary.duplicate_files), (1, 2));
    }
}
