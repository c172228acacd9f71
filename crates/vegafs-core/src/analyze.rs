//! `analyze`: statistics of a directory tree in one parallel pass.
//!
//! Each pool thread fills its own [`Analysis`]; they are merged at the end. The same merge joins
//! the analyses of disjoint subtrees (sharded jobs). Memory grows with the tree's depth and
//! width in flight, the top-N sizes, the distinct extensions and owners, and the multiply-linked
//! inodes with a path each (the one set that grows with the tree, as in `du`), never with the
//! number of files.
//!
//! A multiply-linked file's bytes count once, in the directories above the first link the walk
//! meets (which link that is depends on the order the threads meet them); its extension, kind and
//! place among the largest files go by its byte-wise smallest path, whatever the order, so that
//! they are the same every run and the same when parts of the tree are analyzed apart and merged
//! ([`AnalyzeOptions::defer_links`], [`Analysis::merge`]).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::collections::hash_map::Entry as HashEntry;

use rustc_hash::FxHashMap;

use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::kinds::{extension_of, Kind, MAX_EXTENSION_LEN};
use crate::selection::{EntryType, Selection};
use crate::topn::TopN;
use crate::walk::{walk, Entry, Visitor};

#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions {
    /// How many largest files and largest directories to keep.
    pub top: usize,
    /// How many errors to list (all are counted).
    pub max_errors: usize,
    /// The reference time for the age histogram, seconds since the epoch.
    pub now: i64,
    /// Leave the multiply-linked files in [`Analysis::linked`], their extension, kind and largest
    /// files not yet credited, so that analyses of parts of one tree (shards) can be merged
    /// first; then [`Analysis::settle_links`]. False: `analyze` settles them itself.
    pub defer_links: bool,
}

/// A non-directory entry with more than one link whose bytes an analysis counted (once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFile {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// st_blocks * 512.
    pub disk: u64,
    pub uid: u32,
    pub mtime: i64,
    /// A regular file (else a symlink or special file: only apparent and disk bytes count).
    pub is_file: bool,
    /// The byte-wise smallest path among its links seen: its extension, kind and place among the
    /// largest files go by it.
    pub path: OsString,
    /// The directory whose total (with those above it) holds its bytes: the first link met's.
    pub counted_in: OsString,
}

impl LinkedFile {
    /// Its lower-cased extension (as in `by_extension`).
    pub fn extension(&self) -> Box<[u8]> {
        let name = Path::new(&self.path).file_name().unwrap_or_default();
        let mut buf = [0u8; MAX_EXTENSION_LEN];
        let len = extension_of(name.as_bytes(), &mut buf);
        buf[..len].into()
    }
}

/// Files and bytes; bytes count each (device, inode) once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub files: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
    fn merge(&mut self, other: Counts) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// Distinct extensions listed. Files with further extensions count in `unlisted_extensions`, so
/// that a tree of temporary files named `x.a8f3b2` cannot grow the table with every file.
pub const MAX_EXTENSIONS: usize = 10_000;

/// Size buckets: 0 holds empty files, bucket `i` holds sizes in `[2^(i-1), 2^i)`.
pub const SIZE_BUCKETS: usize = 65;

/// Age buckets by modification time: (name, upper bound in seconds). A file dated in the future
/// counts as less than a day old.
pub const AGE_BUCKETS: [(&str, Option<i64>); 5] = [
    ("<1d", Some(86_400)),
    ("<1w", Some(7 * 86_400)),
    ("<1mo", Some(30 * 86_400)),
    ("<1y", Some(365 * 86_400)),
    ("older", None),
];

pub fn size_bucket(size: u64) -> usize {
    (u64::BITS - size.leading_zeros()) as usize
}

/// Inclusive lower and exclusive upper bound of a size bucket (`None`: no upper bound).
pub fn size_bucket_bounds(i: usize) -> (u64, Option<u64>) {
    match i {
        0 => (0, Some(1)),
        64 => (1 << 63, None),
        _ => (1 << (i - 1), Some(1 << i)),
    }
}

fn age_bucket(now: i64, mtime: i64) -> usize {
    let age = now.saturating_sub(mtime);
    AGE_BUCKETS
        .iter()
        .position(|(_, max)| max.is_none_or(|m| age < m))
        .unwrap_or(AGE_BUCKETS.len() - 1)
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub options: AnalyzeOptions,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub other: u64,
    /// st_size of every entry (directories and symlinks included, as `du -b`), each inode once.
    pub apparent_bytes: u64,
    /// st_blocks * 512 of every entry, each inode once (as `du -B1`).
    pub disk_bytes: u64,
    /// st_size of regular files, each inode once.
    pub file_bytes: u64,
    /// Entries whose inode was already counted (further hard links).
    pub repeated_links: u64,
    /// Lower-cased extension (no dot, empty for none) -> its kind and counts.
    pub by_extension: FxHashMap<Box<[u8]>, (Kind, Counts)>,
    /// Files whose extension did not fit in the table (see [`MAX_EXTENSIONS`]).
    pub unlisted_extensions: Counts,
    /// Indexed by `Kind as usize`, in [`Kind::ALL`] order.
    pub by_kind: [Counts; Kind::ALL.len()],
    pub size_histogram: [Counts; SIZE_BUCKETS],
    pub age_histogram: [Counts; AGE_BUCKETS.len()],
    pub by_owner: FxHashMap<u32, Counts>,
    /// Paths as bytes: ties at the cut go to the byte-wise smallest path.
    pub largest_files: TopN<OsString>,
    pub largest_dirs: TopN<OsString>,
    /// Each root directory's total (the apparent bytes below it, itself included): a job split
    /// into shards adds them to the directories above its roots.
    pub root_totals: Vec<(OsString, u64)>,
    /// With [`AnalyzeOptions::defer_links`]: the multiply-linked entries counted, whose
    /// extension, kind and largest files wait for [`Analysis::settle_links`]. Else empty.
    pub linked: Vec<LinkedFile>,
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order (see [`keep_first_errors`]).
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl Analysis {
    pub fn new(options: AnalyzeOptions) -> Self {
        Analysis {
            options,
            files: 0,
            dirs: 0,
            symlinks: 0,
            other: 0,
            apparent_bytes: 0,
            disk_bytes: 0,
            file_bytes: 0,
            repeated_links: 0,
            by_extension: FxHashMap::default(),
            unlisted_extensions: Counts::default(),
            by_kind: [Counts::default(); Kind::ALL.len()],
            size_histogram: [Counts::default(); SIZE_BUCKETS],
            age_histogram: [Counts::default(); AGE_BUCKETS.len()],
            by_owner: FxHashMap::default(),
            largest_files: TopN::new(options.top),
            largest_dirs: TopN::new(options.top),
            root_totals: Vec::new(),
            linked: Vec::new(),
            error_count: 0,
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Adds `other` into `self`: exact for analyses of disjoint subtrees. An inode in both
    /// sides' [`linked`](Self::linked) counts once: the link with the smaller path is kept, the
    /// other's bytes are taken out (and from its directories listed in `root_totals` and
    /// `largest_dirs`; see [`Analysis::uncount`]).
    pub fn merge(&mut self, other: Analysis) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.other += other.other;
        self.apparent_bytes += other.apparent_bytes;
        self.disk_bytes += other.disk_bytes;
        self.file_bytes += other.file_bytes;
        self.repeated_links += other.repeated_links;
        for (ext, (kind, c)) in other.by_extension {
            self.by_extension.entry(ext).or_insert((kind, Counts::default())).1.merge(c);
        }
        self.unlisted_extensions.merge(other.unlisted_extensions);
        if self.by_extension.len() > MAX_EXTENSIONS {
            self.trim_extensions();
        }
        for (mine, theirs) in self.by_kind.iter_mut().zip(other.by_kind) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.size_histogram.iter_mut().zip(other.size_histogram) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.age_histogram.iter_mut().zip(other.age_histogram) {
            mine.merge(theirs);
        }
        for (uid, c) in other.by_owner {
            self.by_owner.entry(uid).or_default().merge(c);
        }
        self.largest_files.merge(other.largest_files);
        self.largest_dirs.merge(other.largest_dirs);
        self.root_totals.extend(other.root_totals);
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, self.options.max_errors);
        self.elapsed = self.elapsed.max(other.elapsed);
        if !other.linked.is_empty() {
            self.join_links(other.linked);
        }
    }

    fn join_links(&mut self, theirs: Vec<LinkedFile>) {
        let mut index: FxHashMap<(u64, u64), usize> =
            self.linked.iter().enumerate().map(|(i, l)| ((l.dev, l.ino), i)).collect();
        for link in theirs {
            let Some(&i) = index.get(&(link.dev, link.ino)) else {
                index.insert((link.dev, link.ino), self.linked.len());
                self.linked.push(link);
                continue;
            };
            let dropped = if link.path.as_bytes() < self.linked[i].path.as_bytes() {
                std::mem::replace(&mut self.linked[i], link)
            } else {
                link
            };
            self.uncount(&dropped);
        }
    }

    /// Takes out a link counted twice: its bytes, from the summary, the histograms, its owner,
    /// the root totals and the largest directories above it. A directory cut from the list
    /// cannot come back: the list stays exact only where the cut lies above what was taken out.
    fn uncount(&mut self, link: &LinkedFile) {
        self.repeated_links += 1;
        self.apparent_bytes = self.apparent_bytes.saturating_sub(link.size);
        self.disk_bytes = self.disk_bytes.saturating_sub(link.disk);
        if link.is_file {
            self.file_bytes = self.file_bytes.saturating_sub(link.size);
            self.size_histogram[size_bucket(link.size)].bytes -= link.size;
            self.age_histogram[age_bucket(self.options.now, link.mtime)].bytes -= link.size;
            if let Some(c) = self.by_owner.get_mut(&link.uid) {
                c.bytes -= link.size;
            }
        }
        let holds = |dir: &OsString| Path::new(&link.counted_in).starts_with(dir);
        for (dir, total) in &mut self.root_totals {
            if holds(dir) {
                *total -= link.size;
            }
        }
        let dirs = std::mem::replace(&mut self.largest_dirs, TopN::new(self.options.top));
        for (total, dir) in dirs.into_sorted() {
            let total = if holds(&dir) { total - link.size } else { total };
            self.largest_dirs.push(total, dir);
        }
    }

    /// Credits each file of [`linked`](Self::linked) to its extension and kind and offers it to
    /// the largest files, by its smallest path; empties `linked`.
    pub fn settle_links(&mut self) {
        for link in std::mem::take(&mut self.linked) {
            if !link.is_file {
                continue;
            }
            let ext = link.extension();
            match self.by_extension.get_mut(&ext) {
                Some((_, c)) => c.bytes += link.size,
                None => self.unlisted_extensions.bytes += link.size,
            }
            let kind = Kind::of_extension(std::str::from_utf8(&ext).unwrap_or(""));
            self.by_kind[kind as usize].bytes += link.size;
            if self.largest_files.accepts(link.size) {
                self.largest_files.push(link.size, link.path);
            }
        }
    }

    /// Keeps the [`MAX_EXTENSIONS`] extensions with the most bytes; the rest become unlisted.
    fn trim_extensions(&mut self) {
        let mut all: Vec<_> = self.by_extension.drain().collect();
        all.sort_unstable_by(|a, b| b.1 .1.bytes.cmp(&a.1 .1.bytes).then_with(|| a.0.cmp(&b.0)));
        for (_, (_, c)) in all.drain(MAX_EXTENSIONS..) {
            self.unlisted_extensions.merge(c);
        }
        self.by_extension.extend(all);
    }
}

/// Counts `error` and keeps it, trimming the list to the first `cap` now and then rather than
/// keeping it sorted (errors are few, and usually far fewer than the cap): what every visitor's
/// [`Visitor::error`](crate::walk::Visitor::error) does.
pub fn record_error(count: &mut u64, errors: &mut Vec<WalkError>, error: WalkError, cap: usize) {
    *count += 1;
    errors.push(error);
    if errors.len() >= 2 * cap.max(64) {
        keep_first_errors(errors, cap);
    }
}

/// Keeps the first `cap` errors in byte-wise path order, so the list does not depend on which
/// thread met which error first.
pub fn keep_first_errors(errors: &mut Vec<WalkError>, cap: usize) {
    errors.sort_by(|a, b| a.path.as_os_str().as_bytes().cmp(b.path.as_os_str().as_bytes()));
    errors.truncate(cap);
}

/// Each inode with more than one link, so that its bytes count once, with its smallest path.
/// Sharded: pool threads rarely meet on one lock.
#[derive(Default)]
struct LinkSet {
    shards: [Mutex<FxHashMap<(u64, u64), LinkedFile>>; 16],
}

impl LinkSet {
    /// Notes a link of a multiply-linked entry; true the first time its inode is met.
    fn sight(&self, entry: &Entry<'_>) -> bool {
        let m = entry.meta;
        let path = entry.path().into_os_string();
        let shard = &self.shards[(m.ino % 16) as usize];
        let mut seen = shard.lock().unwrap_or_else(|p| p.into_inner());
        match seen.entry((m.dev, m.ino)) {
            HashEntry::Occupied(mut o) => {
                if path.as_bytes() < o.get().path.as_bytes() {
                    o.get_mut().path = path;
                }
                false
            }
            HashEntry::Vacant(v) => {
                v.insert(LinkedFile {
                    dev: m.dev,
                    ino: m.ino,
                    size: m.size,
                    disk: m.blocks * 512,
                    uid: m.uid,
                    mtime: m.mtime,
                    is_file: m.kind == EntryType::File,
                    path,
                    counted_in: entry.parent.as_os_str().to_owned(),
                });
                true
            }
        }
    }

    fn take(&self) -> Vec<LinkedFile> {
        let mut all = Vec::new();
        for shard in &self.shards {
            all.extend(shard.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, l)| l));
        }
        all
    }
}

struct Accumulator {
    analysis: Analysis,
    links: Arc<LinkSet>,
}

impl Visitor for Accumulator {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        let m = entry.meta;
        let a = &mut self.analysis;
        match m.kind {
            EntryType::File => a.files += 1,
            EntryType::Dir => a.dirs += 1,
            EntryType::Symlink => a.symlinks += 1,
            EntryType::Other => a.other += 1,
        }
        let linked = m.nlink > 1 && m.kind != EntryType::Dir;
        let first = !linked || self.links.sight(entry);
        let (size, disk) = if first { (m.size, m.blocks * 512) } else { (0, 0) };
        a.repeated_links += u64::from(!first);
        a.apparent_bytes += size;
        a.disk_bytes += disk;
        if m.kind != EntryType::File {
            return size;
        }
        a.file_bytes += size;
        // A linked file's name-dependent credits wait for its smallest path (settle_links).
        let named = if linked { 0 } else { size };
        let mut buf = [0u8; MAX_EXTENSION_LEN];
        let len = extension_of(entry.name.as_bytes(), &mut buf);
        let ext = &buf[..len];
        let kind = match a.by_extension.get_mut(ext) {
            Some((kind, c)) => {
                c.add(named);
                *kind
            }
            None => {
                let kind = Kind::of_extension(std::str::from_utf8(ext).unwrap_or(""));
                if a.by_extension.len() < MAX_EXTENSIONS {
                    a.by_extension.insert(ext.into(), (kind, Counts { files: 1, bytes: named }));
                } else {
                    a.unlisted_extensions.add(named);
                }
                kind
            }
        };
        a.by_kind[kind as usize].add(named);
        a.size_histogram[size_bucket(m.size)].add(size);
        a.age_histogram[age_bucket(a.options.now, m.mtime)].add(size);
        a.by_owner.entry(m.uid).or_default().add(size);
        if !linked && a.largest_files.accepts(m.size) {
            a.largest_files.push(m.size, entry.path().into_os_string());
        }
        size
    }

    fn dir_complete(&mut self, path: &Path, depth: usize, subtree_weight: u64) {
        // Roots are left out: their totals are the summary (and root_totals).
        if depth == 0 {
            self.analysis.root_totals.push((path.as_os_str().to_owned(), subtree_weight));
        } else if self.analysis.largest_dirs.accepts(subtree_weight) {
            self.analysis.largest_dirs.push(subtree_weight, path.as_os_str().to_owned());
        }
    }

    fn error(&mut self, error: WalkError) {
        let a = &mut self.analysis;
        record_error(&mut a.error_count, &mut a.errors, error, a.options.max_errors);
    }
}

/// Analyzes the tree(s) selected.
pub fn analyze(
    selection: &Selection,
    options: AnalyzeOptions,
    control: &Control,
) -> Result<Analysis, CoreError> {
    let start = Instant::now();
    let links = Arc::new(LinkSet::default());
    let parts = walk(selection, control, || Accumulator {
        analysis: Analysis::new(options),
        links: links.clone(),
    })?;
    let mut total = Analysis::new(options);
    for part in parts {
        total.merge(part.analysis); // merge keeps the first max_errors errors
    }
    total.linked = links.take();
    if !options.defer_links {
        total.settle_links();
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_buckets_are_powers_of_two() {
        assert_eq!(size_bucket(0), 0);
        assert_eq!(size_bucket(1), 1);
        assert_eq!(size_bucket(1023), 10);
        assert_eq!(size_bucket(1024), 11);
        assert_eq!(size_bucket_bounds(11), (1024, Some(2048)));
        assert_eq!(size_bucket(u64::MAX), 64);
    }

    #[test]
    fn age_buckets() {
        let now = 1_000_000_000;
        assert_eq!(age_bucket(now, now + 50), 0);
        assert_eq!(age_bucket(now, now - 86_399), 0);
        assert_eq!(age_bucket(now, now - 86_400), 1);
        assert_eq!(age_bucket(now, now - 29 * 86_400), 2);
        assert_eq!(age_bucket(now, now - 364 * 86_400), 3);
        assert_eq!(age_bucket(now, 0), 4);
    }
}
