//! list() on real temporary trees: the exact rows (checked against std's lstat) and counts.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::thread;

use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::{
    list, CancelToken, Control, CoreError, EntryType, EntryTypes, ErrorKind, ListOptions, ListRow,
    ListSummary, Selection,
};

const OPTS: ListOptions = ListOptions { max_errors: 100 };

fn write(path: &Path, len: usize) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().write_all(&vec![b'x'; len]).unwrap();
}

/// Runs list() on its own thread and collects the rows here, as a consumer would.
fn run_with(
    sel: &Selection,
    opts: ListOptions,
    control: &Control,
    batch: usize,
) -> (Result<ListSummary, CoreError>, Vec<Vec<ListRow>>) {
    let (sink, rx) = rows::channel(batch, DEFAULT_CAPACITY, control.cancel.clone());
    thread::scope(|s| {
        let call = s.spawn(|| list(sel, opts, control, sink));
        let batches: Vec<_> = rx.collect();
        (call.join().unwrap(), batches)
    })
}

fn run(sel: &Selection) -> (ListSummary, Vec<ListRow>) {
    let (summary, batches) = run_with(sel, OPTS, &Control::default(), 3);
    let mut rows = batches.concat();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    (summary.unwrap(), rows)
}

/// What lstat says of each path, in path order.
fn expected(paths: &[(PathBuf, EntryType)]) -> Vec<ListRow> {
    let mut rows: Vec<_> = paths
        .iter()
        .map(|(path, kind)| {
            let m = fs::symlink_metadata(path).unwrap();
            ListRow { path: path.clone(), kind: *kind, size: m.size(), mtime: m.mtime() }
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows
}

/// a/ (1.txt 100 B, b/ (2.rs 2000 B, 2-again.rs: hard link)), empty/, link -> a/1.txt,
/// caf\xe9.txt (7 B)
fn sample_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(&r.join("a/1.txt"), 100);
    write(&r.join("a/b/2.rs"), 2000);
    fs::hard_link(r.join("a/b/2.rs"), r.join("a/b/2-again.rs")).unwrap();
    fs::create_dir(r.join("empty")).unwrap();
    symlink("a/1.txt", r.join("link")).unwrap();
    write(&r.join(OsStr::from_bytes(b"caf\xe9.txt")), 7);
    t
}

fn sample_entries(r: &Path) -> Vec<(PathBuf, EntryType)> {
    use EntryType::*;
    vec![
        (r.to_path_buf(), Dir),
        (r.join("a"), Dir),
        (r.join("a/1.txt"), File),
        (r.join("a/b"), Dir),
        (r.join("a/b/2.rs"), File),
        (r.join("a/b/2-again.rs"), File),
        (r.join("empty"), Dir),
        (r.join("link"), Symlink),
        (r.join(OsStr::from_bytes(b"caf\xe9.txt")), File),
    ]
}

#[test]
fn one_row_per_entry_root_included() {
    let t = sample_tree();
    let (summary, rows) = run(&Selection::new(vec![t.path().into()]));
    assert_eq!(rows, expected(&sample_entries(t.path())));
    let s = &summary;
    assert_eq!((s.entries, s.files, s.dirs, s.symlinks, s.other), (9, 4, 4, 1, 0));
    assert_eq!(s.file_bytes, 100 + 2000 + 2000 + 7, "each hard link counted");
    assert_eq!((s.error_count, s.errors.len()), (0, 0));
}

#[test]
fn batches_hold_at_most_batch_size_rows() {
    let t = sample_tree();
    let sel = Selection::new(vec![t.path().into()]);
    let (summary, batches) = run_with(&sel, OPTS, &Control::default(), 2);
    assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 2), "{batches:?}");
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 9);
    assert_eq!(summary.unwrap().entries, 9);
}

#[test]
fn types_filter_the_rows_and_the_root() {
    let t = sample_tree();
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.types = EntryTypes::of(&[EntryType::File]);
    let (summary, rows) = run(&sel);
    let files: Vec<_> =
        sample_entries(t.path()).into_iter().filter(|(_, k)| *k == EntryType::File).collect();
    assert_eq!(rows, expected(&files));
    assert_eq!((summary.entries, summary.files, summary.dirs), (4, 4, 0));
}

#[test]
fn a_file_root_is_one_row() {
    let t = sample_tree();
    let file = t.path().join("a/b/2.rs");
    let (summary, rows) = run(&Selection::new(vec![file.clone()]));
    assert_eq!(rows, expected(&[(file, EntryType::File)]));
    assert_eq!((summary.entries, summary.files, summary.file_bytes), (1, 1, 2000));
}

#[test]
fn errors_are_counted_and_the_first_listed_in_path_order() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write(&t.path().join(format!("d{}/f{i:02}", i % 3)), 10);
        symlink(".", t.path().join(format!("d{}/loop{i:02}", i % 3))).unwrap();
    }
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.follow_symlinks = true;
    let (summary, batches) = run_with(&sel, ListOptions { max_errors: 2 }, &Control::default(), 7);
    let summary = summary.unwrap();
    assert_eq!(summary.error_count, 20);
    let errors: Vec<_> = summary.errors.iter().map(|e| (e.path.clone(), e.kind)).collect();
    assert_eq!(
        errors,
        [
            (t.path().join("d0/loop00"), ErrorKind::Loop),
            (t.path().join("d0/loop03"), ErrorKind::Loop)
        ]
    );
    assert_eq!((summary.files, summary.dirs), (20, 4));
    assert_eq!(batches.concat().len(), 24);
}

#[test]
fn missing_root_is_an_error_naming_it_and_no_row() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing");
    let (result, batches) =
        run_with(&Selection::new(vec![missing.clone()]), OPTS, &Control::default(), 10);
    match result {
        Err(CoreError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a NotFound error, got {other:?}"),
    }
    assert!(batches.is_empty());
}

#[test]
fn a_dropped_receiver_ends_the_walk_without_cancelling_the_callers_token() {
    let t = tempfile::tempdir().unwrap();
    for d in 0..20 {
        for f in 0..500 {
            write(&t.path().join(format!("d{d:02}/f{f:03}")), 0);
        }
    }
    let callers = CancelToken::new();
    let control = Control { cancel: callers.child(), ..Control::default() };
    let (sink, rx) = rows::channel(16, 1, control.cancel.clone());
    let sel = Selection::new(vec![t.path().into()]);
    let result = thread::scope(|s| {
        let call = s.spawn(|| list(&sel, OPTS, &control, sink));
        assert_eq!(rx.recv().map(|b| b.len()), Some(16));
        drop(rx);
        call.join().unwrap()
    });
    assert!(matches!(result, Err(CoreError::Cancelled)), "{result:?}");
    assert!(!callers.is_cancelled());
    let (entries, ..) = control.progress.snapshot();
    assert!(entries < 2_000, "the walk stopped early (10,021 in all): {entries} entries listed");
}

#[test]
fn a_cancelled_call_ends_with_cancelled() {
    let t = sample_tree();
    let control = Control::default();
    control.cancel.cancel();
    let (result, _) = run_with(&Selection::new(vec![t.path().into()]), OPTS, &control, 10);
    assert!(matches!(result, Err(CoreError::Cancelled)));
}
