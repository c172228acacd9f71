//! dupes() on real temporary trees: the exact groups and stage counts, hard links as one file,
//! files differing only in the middle, empty files and --min-size, a FIFO never opened, a
//! non-UTF-8 name, duplicates below a chain deeper than PATH_MAX, symlinks not followed unless
//! asked, and a directory-handle budget far below the depth.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, CWD};
use vegafs_core::dupes::{EDGE_BLOCK, WHOLE_AT_FIRST};
use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::{
    dupes, Control, CoreError, DupeGroup, DupesOptions, DupesSummary, Selection, StageCount,
};

const OPTS: DupesOptions = DupesOptions { max_errors: 100 };

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// `len` bytes of a pattern set by `seed` (distinct seeds, distinct content).
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Runs dupes() on its own thread, as a consumer would, within a deadline (a FIFO opened for
/// reading would hang it).
fn run_with(sel: Selection, control: Control) -> (Result<DupesSummary, CoreError>, Vec<DupeGroup>) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (sink, rows) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
        let result = thread::scope(|s| {
            let call = s.spawn(|| dupes(&sel, OPTS, &control, sink));
            let groups = rows.collect::<Vec<_>>().concat();
            (call.join().unwrap(), groups)
        });
        tx.send(result).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("dupes timed out")
}

fn run(sel: Selection) -> (DupesSummary, Vec<DupeGroup>) {
    let (summary, groups) = run_with(sel, Control::default());
    (summary.unwrap(), groups)
}

fn group(content: &[u8], count: u64, paths: &[PathBuf]) -> DupeGroup {
    let size = content.len() as u64;
    DupeGroup {
        hash: blake3::hash(content),
        size,
        count,
        wasted_bytes: size * (count - 1),
        paths: paths.to_vec(),
    }
}

fn stage(groups: u64, files: u64, bytes: u64) -> StageCount {
    StageCount { groups, files, bytes }
}

/// a/x1, b/x2, c/x3: 100 KiB alike; a/small1, b/small2: 10 B alike; a/y1, b/y2: 20 KiB alike,
/// with a/y1-link a hard link to a/y1; a/mid1, b/mid2: 80 KiB, the same edges, one byte apart in
/// the middle; a/other1, a/other2: 10 B, other content; e1, e2: empty; a/fifo; a/link -> x1;
/// caf\xe9 (10 B alike small1).
fn tree(root: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (x, small, y) = (bytes(100 * 1024, 1), bytes(10, 2), bytes(20 * 1024, 3));
    for p in ["a/x1", "b/x2", "c/x3"] {
        write(&root.join(p), &x);
    }
    write(&root.join("a/small1"), &small);
    write(&root.join("b/small2"), &small);
    write(&root.join(OsStr::from_bytes(b"caf\xe9")), &small);
    write(&root.join("a/y1"), &y);
    write(&root.join("b/y2"), &y);
    fs::hard_link(root.join("a/y1"), root.join("a/y1-link")).unwrap();
    let mid = bytes(80 * 1024, 4);
    let mut mid2 = mid.clone();
    mid2[40 * 1024] ^= 0xff;
    write(&root.join("a/mid1"), &mid);
    write(&root.join("b/mid2"), &mid2);
    write(&root.join("a/other1"), &bytes(10, 5));
    write(&root.join("a/other2"), &bytes(10, 6));
    write(&root.join("e1"), b"");
    write(&root.join("e2"), b"");
    let dir = rustix::fs::open(root.join("a"), OFlags::DIRECTORY, Mode::empty()).unwrap();
    rustix::fs::mknodat(&dir, "fifo", rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o644), 0)
        .unwrap();
    symlink("x1", root.join("a/link")).unwrap();
    (x, small, y)
}

#[test]
fn groups_are_exact_largest_waste_first_and_hard_links_count_once() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let (x, small, y) = tree(r);
    let (summary, groups) = run(Selection::new(vec![r.to_path_buf()]));
    let p = |s: &str| r.join(s);
    let cafe = r.join(OsStr::from_bytes(b"caf\xe9"));
    assert_eq!(
        groups,
        [
            group(&x, 3, &[p("a/x1"), p("b/x2"), p("c/x3")]),
            group(&y, 2, &[p("a/y1"), p("a/y1-link"), p("b/y2")]),
            group(&small, 3, &[p("a/small1"), p("b/small2"), cafe]),
        ]
    );
    // 15 regular files but e1 and e2: x 3, small 3, y 3 (one a link), mid 2, other 2.
    assert_eq!((summary.files, summary.hard_links), (13, 1));
    assert_eq!(summary.bytes, 3 * 102_400 + 5 * 10 + 3 * 20_480 + 2 * 81_920);
    // Sizes shared: 100 KiB (3 inodes), 10 B (5), 20 KiB (y1, y2), 80 KiB (mid1, mid2).
    assert_eq!(summary.by_size, stage(4, 12, 3 * 102_400 + 5 * 10 + 2 * 20_480 + 2 * 81_920));
    // Files up to 64 KiB are hashed whole: other1 and other2 leave; mid1 and mid2 stay.
    assert_eq!(summary.by_edges, stage(4, 10, 3 * 102_400 + 3 * 10 + 2 * 20_480 + 2 * 81_920));
    assert_eq!(summary.by_content, stage(3, 8, 3 * 102_400 + 3 * 10 + 2 * 20_480));
    assert_eq!((summary.duplicate_groups, summary.duplicate_files), (3, 8));
    assert_eq!(summary.reclaimable_bytes, 2 * 102_400 + 20_480 + 2 * 10);
    const { assert!(20_480 <= WHOLE_AT_FIRST && WHOLE_AT_FIRST < 81_920) };
    let edges = 5 * 10 + 2 * 20_480 + 5 * 2 * EDGE_BLOCK; // small files whole, x and mid the ends
    let content = 3 * 102_400 + 2 * 81_920;
    assert_eq!(summary.hashed_bytes, edges + content);
    assert_eq!((summary.error_count, summary.errors.len()), (0, 0));
}

#[test]
fn min_size_zero_reports_empty_files_and_a_larger_one_skips_small_files() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let (x, _, y) = tree(r);
    let mut sel = Selection::new(vec![r.to_path_buf()]);
    sel.min_size = Some(0);
    let (summary, groups) = run(sel.clone());
    assert_eq!(groups.len(), 4);
    assert_eq!(groups[3], group(b"", 2, &[r.join("e1"), r.join("e2")]));
    assert_eq!(summary.files, 15);
    sel.min_size = Some(11);
    let (summary, groups) = run(sel);
    assert_eq!(groups.iter().map(|g| g.hash).collect::<Vec<_>>(), [x, y].map(|c| blake3::hash(&c)));
    assert_eq!(summary.files, 8); // x 3, y 3 (one a link), mid 2
}

#[test]
fn symlinks_are_followed_only_when_the_selection_says_so() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let (x, _, _) = tree(r);
    let mut sel = Selection::new(vec![r.to_path_buf()]);
    sel.follow_symlinks = true;
    let (_, groups) = run(sel);
    let p = |s: &str| r.join(s);
    // Followed, the link is one more path to x1's inode: listed, not one more copy.
    assert_eq!(groups[0], group(&x, 3, &[p("a/link"), p("a/x1"), p("b/x2"), p("c/x3")]));
}

fn open_dir(dir: &impl rustix::fd::AsFd, name: &str) -> OwnedFd {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    rustix::fs::openat(dir, name, flags, Mode::empty()).unwrap()
}

fn write_at(dir: &OwnedFd, name: &str, content: &[u8]) {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644)).unwrap();
    fs::File::from(fd).write_all(content).unwrap();
}

#[test]
fn duplicates_below_a_chain_deeper_than_path_max_are_found_within_a_tiny_budget() {
    let t = tempfile::tempdir().unwrap();
    let big = bytes(3 * EDGE_BLOCK as usize, 9);
    write(&t.path().join("top"), &big);
    let mut fd = open_dir(&CWD, t.path().to_str().unwrap());
    let mut path = t.path().to_path_buf();
    for level in 0..250 {
        let name = format!("{level:0>40}");
        rustix::fs::mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        fd = open_dir(&fd, &name);
        path.push(&name);
        if level == 120 {
            write_at(&fd, "middle", &big);
        }
    }
    write_at(&fd, "bottom", &big);
    write_at(&fd, "bottom-small", b"tiny");
    write_at(&fd, "bottom-small2", b"tiny");
    assert!(path.as_os_str().len() > 2 * 4096);
    let middle: PathBuf =
        t.path().join((0..=120).map(|l| format!("{l:0>40}")).collect::<PathBuf>()).join("middle");
    for budget in [None, Some(4)] {
        let control = Control { fd_budget: budget, ..Control::default() };
        let (summary, groups) = run_with(Selection::new(vec![t.path().into()]), control);
        let summary = summary.unwrap();
        assert_eq!((summary.error_count, summary.errors.len()), (0, 0), "{:?}", summary.errors);
        assert_eq!(
            groups,
            [
                group(&big, 3, &[path.join("bottom"), middle.clone(), t.path().join("top")]),
                group(b"tiny", 2, &[path.join("bottom-small"), path.join("bottom-small2")]),
            ]
        );
    }
}

#[test]
fn a_root_that_is_a_file_and_a_missing_root() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("a"), b"same");
    write(&t.path().join("b"), b"same");
    let (_, groups) = run(Selection::new(vec![t.path().join("a"), t.path().join("b")]));
    assert_eq!(groups, [group(b"same", 2, &[t.path().join("a"), t.path().join("b")])]);
    let (result, _) = run_with(Selection::new(vec![t.path().join("nope")]), Control::default());
    assert!(matches!(result, Err(CoreError::Io { .. })));
}

#[test]
fn a_cancelled_call_returns_cancelled() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path());
    let control = Control::default();
    control.cancel.cancel();
    let (result, groups) = run_with(Selection::new(vec![t.path().into()]), control);
    assert!(matches!(result, Err(CoreError::Cancelled)));
    assert_eq!(groups, []);
}
