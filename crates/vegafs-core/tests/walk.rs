//! The walker on real temporary trees: paths past PATH_MAX, symlink swaps, `beneath`, ignore
//! files read from handles, file contents opened from the entry, large directories split in
//! chunks, visitors that use rayon themselves.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rayon::prelude::*;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, CWD};
use vegafs_core::walk::{walk, Entry, Visitor};
use vegafs_core::{analyze, AnalyzeOptions, Control, CoreError, EntryType, Selection, WalkError};

const OPTS: AnalyzeOptions =
    AnalyzeOptions { top: 5, max_errors: 100, now: 1_700_000_000, defer_links: false };

fn control(budget: Option<usize>) -> Control {
    Control { fd_budget: budget, ..Control::default() }
}

fn open_dir(dir: &impl rustix::fd::AsFd, name: &str) -> OwnedFd {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    rustix::fs::openat(dir, name, flags, Mode::empty()).unwrap()
}

fn mkdir_at(dir: &OwnedFd, name: &str) -> OwnedFd {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)).unwrap();
    open_dir(dir, name)
}

fn write_at(dir: &OwnedFd, name: &str, len: usize) {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644)).unwrap();
    fs::File::from(fd).write_all(&vec![b'x'; len]).unwrap();
}

fn du_sb(root: &Path) -> Option<u64> {
    let out = Command::new("du").arg("-sb").arg(root).output().ok()?;
    String::from_utf8(out.stdout).ok()?.split_whitespace().next()?.parse().ok()
}

/// Every path the walk reports, entries and completed directories, and the errors.
#[derive(Default)]
struct Collect {
    paths: Vec<PathBuf>,
    completed: Vec<(PathBuf, u64)>,
    errors: Vec<WalkError>,
}

impl Visitor for Collect {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        self.paths.push(entry.path());
        entry.meta.size
    }
    fn dir_complete(&mut self, path: &Path, _depth: usize, weight: u64) {
        self.completed.push((path.to_path_buf(), weight));
    }
    fn error(&mut self, error: WalkError) {
        self.errors.push(error);
    }
}

fn collect(sel: &Selection, control: &Control) -> Collect {
    let parts = walk(sel, control, Collect::default).unwrap();
    parts.into_iter().fold(Collect::default(), |mut all, p| {
        all.paths.extend(p.paths);
        all.completed.extend(p.completed);
        all.errors.extend(p.errors);
        all
    })
}

#[test]
fn a_chain_deeper_than_path_max_is_counted_exactly() {
    let t = tempfile::tempdir().unwrap();
    let mut fd = open_dir(&CWD, t.path().to_str().unwrap());
    let (mut files, mut dirs, mut bytes, mut path) = (0, 1, 0, t.path().to_path_buf());
    for level in 0..200 {
        let name = format!("{level:0>30}");
        fd = mkdir_at(&fd, &name);
        path.push(&name);
        dirs += 1;
        if [10, 100, 199].contains(&level) {
            write_at(&fd, "sibling.txt", 5);
            drop(mkdir_at(&fd, "empty"));
            (files, dirs, bytes) = (files + 1, dirs + 1, bytes + 5);
        }
    }
    write_at(&fd, "bottom.txt", 10);
    (files, bytes) = (files + 1, bytes + 10);
    assert!(path.as_os_str().len() > 6000);
    for budget in [None, Some(4)] {
        let a = analyze(&Selection::new(vec![t.path().into()]), OPTS, &control(budget)).unwrap();
        assert_eq!(a.errors, vec![]);
        assert_eq!((a.files, a.dirs, a.file_bytes), (files, dirs, bytes));
        let largest = a.largest_files.into_sorted();
        assert_eq!(largest[0], (10, path.join("bottom.txt").into_os_string()));
        if let Some(du) = du_sb(t.path()) {
            assert_eq!(a.apparent_bytes, du, "du -sb");
        }
    }
}

/// A directory inside the root and a symlink to a canary directory outside it trade places
/// again and again while the root is walked: the walk never enters the canary.
#[test]
fn a_symlink_swapped_in_mid_walk_is_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let (root, canary) = (t.path().join("root"), t.path().join("canary"));
    fs::create_dir_all(canary.join("CANARY_DIR")).unwrap();
    fs::write(canary.join("CANARY_DIR/CANARY_FILE"), b"no").unwrap();
    for d in 0..20 {
        fs::create_dir_all(root.join(format!("d{d}/sub"))).unwrap();
        fs::write(root.join(format!("d{d}/sub/f")), b"ok").unwrap();
    }
    fs::create_dir_all(root.join("d7/swap/deeper")).unwrap();
    fs::write(root.join("d7/swap/deeper/f"), b"ok").unwrap();
    symlink(&canary, root.join("d7/link")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps, dir) = (stop.clone(), swaps.clone(), root.join("d7"));
        std::thread::spawn(move || {
            let fd = open_dir(&CWD, dir.to_str().unwrap());
            while !stop.load(Ordering::Relaxed) {
                let flags = rustix::fs::RenameFlags::EXCHANGE;
                rustix::fs::renameat_with(&fd, "swap", &fd, "link", flags).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // On a loaded machine the swapper may not have run yet: the walks start once it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while swaps.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "the swapper never ran");
        std::thread::yield_now();
    }
    let mut walks_with_errors = 0;
    for i in 0..50 {
        let budget = if i % 2 == 0 { None } else { Some(0) };
        let c = collect(&Selection::new(vec![root.clone()]), &control(budget));
        walks_with_errors += usize::from(!c.errors.is_empty());
        let all = c.paths.iter().chain(c.completed.iter().map(|(p, _)| p));
        for p in all.chain(c.errors.iter().map(|e| &e.path)) {
            assert!(p.starts_with(&root), "{p:?} is outside the root");
            assert!(!p.to_string_lossy().contains("CANARY"), "the canary was reached: {p:?}");
        }
        assert!(c.paths.len() > 20 * 3, "the rest of the tree is walked");
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!("{walks_with_errors} of 50 walks met the swap mid-way");
}

#[test]
fn beneath_refuses_roots_outside_or_through_a_symlink() {
    let t = tempfile::tempdir().unwrap();
    let allowed = t.path().join("allowed");
    fs::create_dir_all(allowed.join("sub/x")).unwrap();
    fs::write(allowed.join("sub/x/f.txt"), b"12345").unwrap();
    fs::create_dir_all(t.path().join("other")).unwrap();
    symlink(allowed.join("sub"), allowed.join("link")).unwrap();
    symlink(t.path().join("other"), allowed.join("out")).unwrap();
    let run = |root: PathBuf| {
        let mut sel = Selection::new(vec![root]);
        sel.beneath = vec![t.path().join("nothing-here"), allowed.clone()];
        analyze(&sel, OPTS, &Control::default())
    };
    let a = run(allowed.join("sub")).unwrap();
    assert_eq!((a.files, a.dirs, a.file_bytes), (1, 2, 5));
    assert_eq!(run(allowed.clone()).unwrap().files, 1);
    let file = run(allowed.join("sub/x/f.txt")).unwrap();
    assert_eq!((file.files, file.dirs, file.file_bytes), (1, 0, 5));
    for refused in [
        allowed.join("link"),
        allowed.join("link/x"),
        allowed.join("link/x/f.txt"),
        allowed.join("out"),
        t.path().join("other"),
        allowed.join("../other"),
        allowed.join("sub/../../other"),
        PathBuf::from("relative/path"),
    ] {
        match run(refused.clone()) {
            Err(CoreError::NotAllowed { path, reason }) => {
                assert_eq!(path, refused);
                assert!(!reason.is_empty());
            }
            other => panic!("{refused:?} should be refused, got {other:?}"),
        }
    }
    match run(allowed.join("missing")) {
        Err(CoreError::Io { path, source }) => {
            assert_eq!(
                (path, source.kind()),
                (allowed.join("missing"), std::io::ErrorKind::NotFound)
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Without `beneath`, a root that is a symlink is followed (like find -H).
    let followed = analyze(&Selection::new(vec![allowed.join("link")]), OPTS, &Control::default());
    assert_eq!(followed.unwrap().files, 1);
}

#[test]
fn a_bad_ignore_line_is_reported_by_number_and_symlinked_ignore_files_are_not_read() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::write(r.join(".gitignore"), "# comment\n*.log\nsecret-[z-a]\n!keep.log\n").unwrap();
    for f in ["a.log", "keep.log", "b.txt", "sub/c.txt", "sub/d.log"] {
        fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
        fs::write(r.join(f), b"x").unwrap();
    }
    fs::write(r.join("elsewhere"), "*.txt\n").unwrap();
    symlink(r.join("elsewhere"), r.join("sub/.ignore")).unwrap();
    let mut sel = Selection::new(vec![r.into()]);
    sel.ignore_files = true;
    let a = analyze(&sel, OPTS, &Control::default()).unwrap();
    assert_eq!(a.error_count, 1);
    let e = &a.errors[0];
    assert_eq!(e.path, r.join(".gitignore"));
    assert!(e.message.starts_with("line 3: invalid pattern"), "{}", e.message);
    assert!(!e.message.contains("secret"), "the line's text is not echoed: {}", e.message);
    // .gitignore, keep.log, b.txt, elsewhere, sub/c.txt and sub/.ignore (a symlink, not read).
    assert_eq!((a.files, a.symlinks), (5, 1));
}

/// Reads every regular file through its entry's handle; everything else must be refused.
#[derive(Default)]
struct Reader {
    bytes: u64,
    refused: Vec<(PathBuf, std::io::ErrorKind)>,
    errors: Vec<WalkError>,
}

impl Visitor for Reader {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        match entry.open_file() {
            Ok(mut f) => {
                let mut buf = Vec::new();
                self.bytes += f.read_to_end(&mut buf).unwrap() as u64;
            }
            Err(e) => self.refused.push((entry.path(), e.kind())),
        }
        0
    }
    fn error(&mut self, error: WalkError) {
        self.errors.push(error);
    }
}

fn with_timeout<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| panic!("{what}: timed out"))
}

#[test]
fn files_are_read_through_the_entry_and_a_fifo_is_never_opened_for_reading() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().to_path_buf();
    let mut expected = 0;
    for i in 0..30u64 {
        let p = r.join(format!("d{}/f{i}", i % 4));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, vec![b'y'; (i * 37) as usize]).unwrap();
        expected += i * 37;
    }
    let dir = open_dir(&CWD, r.join("d1").to_str().unwrap());
    let fifo = rustix::fs::FileType::Fifo;
    rustix::fs::mknodat(&dir, "fifo", fifo, Mode::from_raw_mode(0o644), 0).unwrap();
    symlink("f1", r.join("d1/link")).unwrap();
    let (root, file_root) = (r.clone(), r.join("d2/f2"));
    let (parts, file_parts) = with_timeout("reading the tree", move || {
        let sel = Selection::new(vec![root]);
        let parts = walk(&sel, &Control::default(), Reader::default).unwrap();
        let file_parts =
            walk(&Selection::new(vec![file_root]), &Control::default(), Reader::default).unwrap();
        (parts, file_parts)
    });
    let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
    assert_eq!(bytes, expected);
    let mut refused: Vec<_> = parts.into_iter().flat_map(|p| p.refused).collect();
    refused.sort();
    let invalid = std::io::ErrorKind::InvalidInput;
    let mut want = vec![(r.join("d1/fifo"), invalid), (r.join("d1/link"), invalid)];
    want.extend(
        [r.clone()]
            .into_iter()
            .chain((0..4).map(|d| r.join(format!("d{d}"))))
            .map(|p| (p, invalid)),
    );
    want.sort();
    assert_eq!(refused, want, "directories, the FIFO and the symlink are refused");
    assert_eq!(file_parts.iter().map(|p| p.bytes).sum::<u64>(), 2 * 37, "a root file is read too");
}

#[test]
fn a_large_directory_is_split_and_its_totals_stay_exact() {
    let t = tempfile::tempdir().unwrap();
    let big = t.path().join("big");
    fs::create_dir(&big).unwrap();
    let fd = open_dir(&CWD, big.to_str().unwrap());
    let mut bytes = 0;
    for i in 0..10_000usize {
        write_at(&fd, &format!("file-{i:05}"), i % 7);
        bytes += (i % 7) as u64;
    }
    for d in 0..50 {
        let sub = mkdir_at(&fd, &format!("sub-{d:02}"));
        write_at(&sub, "inner", 100);
        bytes += 100;
    }
    for budget in [None, Some(0)] {
        let mut sel = Selection::new(vec![t.path().into()]);
        sel.types = vegafs_core::EntryTypes::of(&[EntryType::File]);
        let c = collect(&sel, &control(budget));
        assert_eq!(c.errors, vec![]);
        assert_eq!(c.paths.len(), 10_050);
        assert_eq!(c.paths.iter().collect::<BTreeSet<_>>().len(), 10_050, "each entry once");
        let mut completed = c.completed.clone();
        completed.sort();
        assert_eq!(completed.len(), 52, "root, big, 50 subs: each completed once");
        assert_eq!(completed[0], (t.path().to_path_buf(), bytes));
        assert_eq!(completed[1], (big.clone(), bytes));
        assert_eq!(completed[2], (big.join("sub-00"), 100));
    }
}

/// A visitor whose `entry` calls into rayon: its tasks may steal walk tasks on the same thread.
#[derive(Default)]
struct Nested {
    files: u64,
    sum: u64,
}

impl Visitor for Nested {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        let (a, b) = rayon::join(
            || (0..64u64).into_par_iter().map(|i| i % 3).sum::<u64>(),
            || entry.name.len() as u64,
        );
        self.sum += a + b - entry.name.len() as u64;
        self.files += u64::from(entry.meta.kind == EntryType::File);
        1
    }
    fn error(&mut self, e: WalkError) {
        panic!("{e:?}");
    }
}

#[test]
fn a_visitor_that_uses_rayon_does_not_deadlock_the_walk() {
    let t = tempfile::tempdir().unwrap();
    for d in 0..300 {
        let dir = t.path().join(format!("a{}/b{d}", d % 17));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..10 {
            fs::write(dir.join(format!("f{f}")), b"").unwrap();
        }
    }
    let root = t.path().to_path_buf();
    let parts = with_timeout("a visitor using rayon", move || {
        walk(&Selection::new(vec![root]), &Control::default(), Nested::default).unwrap()
    });
    let per_entry: u64 = (0..64u64).map(|i| i % 3).sum();
    let entries = 1 + 17 + 300 + 3000;
    assert_eq!(parts.iter().map(|p| p.files).sum::<u64>(), 3000);
    assert_eq!(parts.iter().map(|p| p.sum).sum::<u64>(), entries * per_entry);
}
