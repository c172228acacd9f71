//! The descriptor budget, alone in its test binary: it counts the process's open descriptors.

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, CWD};
use vegafs_core::walk::{walk, Entry, Visitor};
use vegafs_core::{Control, EntryType, Selection, WalkError};

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mkdir_at(dir: &OwnedFd, name: &str) -> OwnedFd {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)).unwrap();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::empty()).unwrap()
}

fn write_at(dir: &OwnedFd, name: &str, len: usize) {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644)).unwrap();
    fs::File::from(fd).write_all(&vec![b'z'; len]).unwrap();
}

/// Counts entries and, at each directory entry, the process's open descriptors.
struct Count {
    files: u64,
    dirs: u64,
    bytes: u64,
    max_fds: Arc<AtomicUsize>,
}

impl Visitor for Count {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        match entry.meta.kind {
            EntryType::File => {
                (self.files, self.bytes) = (self.files + 1, self.bytes + entry.meta.size)
            }
            EntryType::Dir => {
                self.dirs += 1;
                self.max_fds.fetch_max(open_fds(), Ordering::Relaxed);
            }
            _ => {}
        }
        0
    }
    fn error(&mut self, error: WalkError) {
        panic!("{error:?}");
    }
}

/// 300 levels; each has a file, two leaf directories with a file each, and the next level.
#[test]
fn a_300_deep_tree_is_counted_exactly_within_a_tiny_budget() {
    let t = tempfile::tempdir().unwrap();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::openat(CWD, t.path(), flags, Mode::empty()).unwrap();
    let (mut files, mut dirs, mut bytes) = (0u64, 1u64, 0u64);
    for level in 0..300 {
        write_at(&fd, "f", level % 5);
        for leaf in ["x", "y"] {
            write_at(&mkdir_at(&fd, leaf), "g", 3);
        }
        (files, dirs, bytes) = (files + 3, dirs + 2, bytes + (level % 5) as u64 + 6);
        if level < 299 {
            fd = mkdir_at(&fd, &format!("level-{level:03}-with-a-longish-name"));
            dirs += 1;
        }
    }
    drop(fd);
    let threads = rayon::current_num_threads();
    for budget in [Some(8), Some(0), None] {
        let baseline = open_fds();
        let max_fds = Arc::new(AtomicUsize::new(0));
        let control = Control { fd_budget: budget, ..Control::default() };
        let new = || Count { files: 0, dirs: 0, bytes: 0, max_fds: max_fds.clone() };
        let parts = walk(&Selection::new(vec![t.path().into()]), &control, new).unwrap();
        let sum = |f: fn(&Count) -> u64| parts.iter().map(f).sum::<u64>();
        assert_eq!((sum(|c| c.files), sum(|c| c.dirs), sum(|c| c.bytes)), (files, dirs, bytes));
        let extra = max_fds.load(Ordering::Relaxed) - baseline;
        eprintln!("budget {budget:?}: at most {extra} descriptors more than before the walk");
        if let Some(budget) = budget {
            // Kept handles + 2 per running task (+1 per thread counting /proc/self/fd) + the root.
            assert!(extra <= budget + 3 * threads + 1, "{extra} > {budget} + 3 x {threads} + 1");
        }
        assert_eq!(open_fds(), baseline, "every descriptor is closed after the walk");
    }
}
