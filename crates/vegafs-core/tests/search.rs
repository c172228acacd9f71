//! search() on real temporary trees: rows, text, the summary's counts, what is never read.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use rustix::fs::{mknodat, FileType, Mode, CWD};
use vegafs_core::rows::{channel, DEFAULT_CAPACITY};
use vegafs_core::search::{LineKind, SearchMode, SearchOutput, SearchRow};
use vegafs_core::{search, CancelToken, Control, SearchOptions, SearchSummary, Selection};

/// a.txt (two matches), sub/b.txt (none), sub/big.txt (size filter), data.bin (NUL first),
/// a FIFO and a symlink to a.txt (neither read).
fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.txt"), b"one needle\ntwo\nneedle three\n").unwrap();
    fs::write(root.join("sub/b.txt"), b"nothing here\n").unwrap();
    fs::write(root.join("sub/big.txt"), "needle\n".repeat(1000)).unwrap();
    fs::write(root.join("data.bin"), b"\0needle\n").unwrap();
    mknodat(CWD, root.join("fifo"), FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
    symlink("a.txt", root.join("link.txt")).unwrap();
}

fn run(sel: &Selection, options: &SearchOptions) -> (Vec<SearchRow>, SearchSummary) {
    let (sink, rx) = channel(16, DEFAULT_CAPACITY, CancelToken::new());
    let (sel, options) = (sel.clone(), options.clone());
    let call = std::thread::spawn(move || search(&sel, &options, &Control::default(), sink));
    let mut rows: Vec<SearchRow> = rx.flatten().collect();
    let summary = call.join().unwrap().unwrap();
    rows.sort_by_key(|r| format!("{r:?}"));
    (rows, summary)
}

fn options(pattern: &str) -> SearchOptions {
    SearchOptions { patterns: vec![pattern.into()], max_errors: 10, ..Default::default() }
}

#[test]
fn rows_are_the_matching_lines_of_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    tree(&root);
    let mut sel = Selection::new(vec![root.clone()]);
    sel.max_size = Some(100); // sub/big.txt is left out: the walker stats files for it
    let (rows, s) = run(&sel, &options("needle"));
    let a = root.join("a.txt");
    assert_eq!(
        rows,
        [
            SearchRow::Line {
                path: a.clone(),
                kind: LineKind::Match,
                line_number: 1,
                byte_offset: 0,
                line: b"one needle".to_vec(),
                submatches: vec![(4, 10)],
            },
            SearchRow::Line {
                path: a,
                kind: LineKind::Match,
                line_number: 3,
                byte_offset: 15,
                line: b"needle three".to_vec(),
                submatches: vec![(0, 6)],
            },
        ]
    );
    assert_eq!((s.files_searched, s.files_matched, s.files_without_match), (3, 1, 2));
    assert_eq!((s.matched_lines, s.binary_files, s.error_count), (2, 1, 0));
    assert_eq!(s.bytes_searched, 28 + 13 + 8);
}

#[test]
fn text_is_formatted_in_the_core_whole_files_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    tree(&root);
    let sel = Selection::new(vec![root.clone()]);
    let mut opts = options("needle");
    opts.output = SearchOutput::Text;
    opts.mode = SearchMode::Count;
    let (rows, s) = run(&sel, &opts);
    let text: Vec<u8> = rows
        .into_iter()
        .flat_map(|r| match r {
            SearchRow::Text(bytes) => bytes,
            other => panic!("not text: {other:?}"),
        })
        .collect();
    let mut lines: Vec<String> =
        String::from_utf8(text).unwrap().lines().map(str::to_string).collect();
    lines.sort();
    let r = root.display();
    assert_eq!(lines, [format!("{r}/a.txt:2"), format!("{r}/sub/big.txt:1000")]);
    assert_eq!(s.bytes_searched, 28 + 13 + 7000 + 8); // sizes from the opened files
}
