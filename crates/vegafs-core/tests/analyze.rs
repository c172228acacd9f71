//! analyze() on real temporary trees, compared with exact expected values and with du.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use vegafs_core::analyze::{Counts, MAX_EXTENSIONS};
use vegafs_core::kinds::Kind;
use vegafs_core::{
    analyze, Analysis, AnalyzeOptions, CancelToken, Control, CoreError, EntryType, EntryTypes,
    ErrorKind, Selection,
};

const NOW: i64 = 1_700_000_000;
const OPTS: AnalyzeOptions =
    AnalyzeOptions { top: 5, max_errors: 100, now: NOW, defer_links: false };

fn write(path: &Path, len: usize) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().write_all(&vec![b'x'; len]).unwrap();
}

fn run(sel: &Selection) -> Analysis {
    analyze(sel, OPTS, &Control::default()).unwrap()
}

fn run_on(root: &Path) -> Analysis {
    run(&Selection::new(vec![root.to_path_buf()]))
}

fn du(args: &[&str], root: &Path) -> u64 {
    let out = Command::new("du").args(args).arg(root).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// a/ (1.txt 100 B, 2.rs 2000 B, b/ (3.jpg 5000 B, hard link to 3.jpg)), empty/, link -> a/1.txt,
/// dangling -> nowhere, sparse.bin (10 MiB apparent, 1 byte written), caf\xe9.txt (7 B)
fn sample_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(&r.join("a/1.txt"), 100);
    write(&r.join("a/2.rs"), 2000);
    write(&r.join("a/b/3.jpg"), 5000);
    fs::hard_link(r.join("a/b/3.jpg"), r.join("a/b/3-again.jpg")).unwrap();
    fs::create_dir(r.join("empty")).unwrap();
    symlink("a/1.txt", r.join("link")).unwrap();
    symlink("nowhere", r.join("dangling")).unwrap();
    let sparse = fs::File::create(r.join("sparse.bin")).unwrap();
    (&sparse).write_all(b"s").unwrap();
    sparse.set_len(10 << 20).unwrap();
    write(&r.join(OsStr::from_bytes(b"caf\xe9.txt")), 7);
    t
}

#[test]
fn counts_every_entry_and_counts_bytes_like_du() {
    let t = sample_tree();
    let a = run_on(t.path());
    assert_eq!((a.files, a.dirs, a.symlinks, a.other), (6, 4, 2, 0));
    assert_eq!(a.repeated_links, 1);
    assert_eq!(a.file_bytes, 100 + 2000 + 5000 + (10 << 20) + 7);
    assert_eq!(a.apparent_bytes, du(&["-sb"], t.path()));
    assert_eq!(a.disk_bytes, du(&["-s", "-B1"], t.path()));
    assert!(a.disk_bytes < 1 << 20, "the sparse file's holes take no disk: {}", a.disk_bytes);
    assert_eq!(a.error_count, 0);
}

#[test]
fn tables_by_extension_kind_size_age_and_owner() {
    let t = sample_tree();
    let a = run_on(t.path());
    let ext = |e: &str| a.by_extension.get(e.as_bytes()).map(|(_, c)| (c.files, c.bytes));
    assert_eq!(ext("jpg"), Some((2, 5000)), "two links, bytes once");
    assert_eq!(ext("txt"), Some((2, 107)));
    assert_eq!(ext("bin"), Some((1, 10 << 20)));
    let kinds = Kind::ALL.iter().zip(a.by_kind);
    let names: Vec<_> =
        kinds.filter(|(_, c)| c.files > 0).map(|(k, c)| (k.as_str(), c.files)).collect();
    assert_eq!(names, vec![("text", 2), ("code", 1), ("image", 2), ("binary", 1)]);
    assert_eq!(a.size_histogram.iter().map(|c| c.files).sum::<u64>(), 6);
    assert_eq!(a.size_histogram[vegafs_core::analyze::size_bucket(5000)].files, 2);
    // Every file was written just now, which is in the future of NOW.
    assert_eq!(a.age_histogram[0].files, 6);
    assert_eq!(a.by_owner.values().map(|c| c.files).sum::<u64>(), 6);
}

#[test]
fn largest_files_and_dirs() {
    let t = sample_tree();
    let a = run_on(t.path());
    let files = a.largest_files.clone().into_sorted();
    assert_eq!(files[0], (10 << 20, t.path().join("sparse.bin").into_os_string()));
    assert_eq!(
        files[1],
        (5000, t.path().join("a/b/3-again.jpg").into_os_string()),
        "a hard-linked file is listed by its smallest path, whichever link the walk met first"
    );
    assert_eq!(files.len(), 5);
    let dirs = a.largest_dirs.clone().into_sorted();
    let a_dir = t.path().join("a");
    assert_eq!(
        dirs[0],
        (du(&["-sb"], &a_dir), a_dir.into_os_string()),
        "recursive, own size included"
    );
    assert!(dirs.iter().all(|(_, p)| p != t.path().as_os_str()), "roots are left out");
}

#[test]
fn each_root_directory_has_its_total_as_a_directory_below_it_would() {
    let t = sample_tree();
    let (a, b, file) = (t.path().join("a"), t.path().join("a/b"), t.path().join("sparse.bin"));
    let mut totals = run(&Selection::new(vec![b.clone(), file])).root_totals;
    totals.sort();
    assert_eq!(totals, vec![(b.clone().into_os_string(), du(&["-sb"], &b))], "files have none");
    let below = run_on(&a).largest_dirs.into_sorted();
    assert_eq!(below, vec![(du(&["-sb"], &b), b.into_os_string())]);
}

#[test]
fn non_utf8_names_are_counted_and_kept_exact() {
    let t = sample_tree();
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.include = vec!["caf*".into()];
    let a = run(&sel);
    assert_eq!(a.files, 1);
    let (size, path) = a.largest_files.into_sorted().remove(0);
    assert_eq!(size, 7);
    assert_eq!(Path::new(&path).file_name().unwrap().as_bytes(), b"caf\xe9.txt");
}

#[test]
fn merge_of_disjoint_subtrees_equals_analysis_of_both() {
    let t = sample_tree();
    let (a, b) = (t.path().join("a"), t.path().join("empty"));
    write(&b.join("x/y.csv"), 300);
    let mut merged = run_on(&a);
    merged.merge(run_on(&b));
    let both = run(&Selection::new(vec![a, b]));
    assert_eq!(
        (merged.files, merged.dirs, merged.apparent_bytes, merged.disk_bytes),
        (both.files, both.dirs, both.apparent_bytes, both.disk_bytes)
    );
    assert_eq!(merged.by_extension, both.by_extension);
    assert_eq!(merged.size_histogram, both.size_histogram);
    assert_eq!(merged.age_histogram, both.age_histogram);
    assert_eq!(merged.by_owner, both.by_owner);
    assert_eq!(merged.largest_files.into_sorted(), both.largest_files.into_sorted());
    assert_eq!(merged.largest_dirs.into_sorted(), both.largest_dirs.into_sorted());
}

/// Parts a, b, c of one tree and links across them: big.dat in a and c, t.log in all three,
/// two links of p.txt within b (beside each other: which one a walk counts decides no total).
fn linked_parts() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(&r.join("a/big.dat"), 9000);
    write(&r.join("a/small.txt"), 10);
    write(&r.join("b/sub/t.log"), 700);
    write(&r.join("b/p.txt"), 300);
    write(&r.join("c/d/e.txt"), 50);
    fs::hard_link(r.join("a/big.dat"), r.join("c/d/big-again.dat")).unwrap();
    fs::hard_link(r.join("b/sub/t.log"), r.join("a/t.log")).unwrap();
    fs::hard_link(r.join("b/sub/t.log"), r.join("c/t.log")).unwrap();
    fs::hard_link(r.join("b/p.txt"), r.join("b/q.txt")).unwrap();
    t
}

#[test]
fn merged_parts_count_an_inode_linked_across_them_once() {
    let t = linked_parts();
    let parts: Vec<PathBuf> = ["a", "b", "c"].iter().map(|p| t.path().join(p)).collect();
    let deferred = AnalyzeOptions { defer_links: true, ..OPTS };
    let part = |p: &PathBuf| {
        analyze(&Selection::new(vec![p.clone()]), deferred, &Control::default()).unwrap()
    };
    let mut merged = part(&parts[2]);
    assert_eq!(merged.linked.len(), 2, "c counted big-again.dat and t.log itself");
    merged.merge(part(&parts[0]));
    merged.merge(part(&parts[1]));
    assert_eq!(merged.linked.len(), 3, "one per inode");
    merged.settle_links();
    let whole = run(&Selection::new(parts.clone()));

    assert_eq!((merged.files, merged.repeated_links), (whole.files, whole.repeated_links));
    assert_eq!((merged.files, merged.repeated_links), (9, 4));
    assert_eq!(merged.file_bytes, 9000 + 10 + 700 + 300 + 50);
    assert_eq!(
        (merged.apparent_bytes, merged.disk_bytes, merged.file_bytes),
        (whole.apparent_bytes, whole.disk_bytes, whole.file_bytes)
    );
    assert_eq!(merged.by_extension, whole.by_extension);
    assert_eq!(merged.by_extension[&b"log"[..]].1, Counts { files: 3, bytes: 700 });
    assert_eq!(merged.by_kind, whole.by_kind);
    assert_eq!(merged.unlisted_extensions, whole.unlisted_extensions);
    assert_eq!(merged.size_histogram, whole.size_histogram);
    assert_eq!(merged.age_histogram, whole.age_histogram);
    assert_eq!(merged.by_owner, whole.by_owner);
    let files = merged.largest_files.into_sorted();
    assert_eq!(files, whole.largest_files.into_sorted());
    assert_eq!(files[0], (9000, parts[0].join("big.dat").into_os_string()));
    assert_eq!(files[1], (700, parts[0].join("t.log").into_os_string()), "its smallest path");

    // Each shared inode's bytes are in the totals of the part holding its smallest path.
    let own = |p: &PathBuf| run_on(p).apparent_bytes;
    let mut totals = merged.root_totals.clone();
    totals.sort();
    let dropped_from_c = 9000 + 700;
    let expected = vec![
        (parts[0].clone().into_os_string(), own(&parts[0])),
        (parts[1].clone().into_os_string(), own(&parts[1]) - 700),
        (parts[2].clone().into_os_string(), own(&parts[2]) - dropped_from_c),
    ];
    assert_eq!(totals, expected);
    assert_eq!(totals.iter().map(|(_, b)| b).sum::<u64>(), merged.apparent_bytes);
    let dirs = merged.largest_dirs.into_sorted();
    let d = parts[2].join("d");
    assert!(dirs.contains(&(du(&["-sb"], &d) - 9000, d.into_os_string())), "{dirs:?}");
    let sub = parts[1].join("sub");
    assert!(dirs.contains(&(du(&["-sb"], &sub) - 700, sub.into_os_string())), "{dirs:?}");
}

#[test]
fn largest_ties_and_the_error_cap_do_not_depend_on_walk_order() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..40 {
        write(&t.path().join(format!("d{}/f{i:02}", i % 7)), 100);
        symlink(".", t.path().join(format!("d{}/loop{i:02}", i % 7))).unwrap();
    }
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.follow_symlinks = true;
    let opts = AnalyzeOptions { top: 2, max_errors: 3, now: NOW, defer_links: false };
    let a = analyze(&sel, opts, &Control::default()).unwrap();
    let names: Vec<_> = a.largest_files.into_sorted().into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        names,
        [t.path().join("d0/f00"), t.path().join("d0/f07")].map(|p| p.into_os_string())
    );
    assert_eq!(a.error_count, 40);
    let errors: Vec<_> = a.errors.iter().map(|e| e.path.clone()).collect();
    assert_eq!(errors, ["d0/loop00", "d0/loop07", "d0/loop14"].map(|p| t.path().join(p)));
}

#[test]
fn extensions_past_the_table_size_are_counted_unlisted() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..MAX_EXTENSIONS + 50 {
        let dir = t.path().join(format!("d{}", i % 10));
        if i < 10 {
            fs::create_dir(&dir).unwrap();
        }
        fs::File::create(dir.join(format!("f.x{i:06}"))).unwrap().write_all(b"ab").unwrap();
    }
    let a = run_on(t.path());
    assert_eq!(a.by_extension.len(), MAX_EXTENSIONS);
    assert_eq!(a.unlisted_extensions.files, 50);
    let listed: u64 = a.by_extension.values().map(|(_, c)| c.files).sum();
    assert_eq!(listed + 50, a.files);
    assert_eq!(a.by_kind[Kind::Other as usize].files, a.files, "kinds stay exact");
}

#[test]
fn symlink_loop_is_reported_once_when_following() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("d/f.txt"), 10);
    symlink("..", t.path().join("d/up")).unwrap();
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.follow_symlinks = true;
    let a = run(&sel);
    assert_eq!(a.error_count, 1);
    assert_eq!(a.errors[0].kind, ErrorKind::Loop);
    assert_eq!(a.errors[0].path, t.path().join("d/up"));
    assert_eq!((a.files, a.dirs), (1, 2));
}

#[test]
fn following_walks_a_directory_reached_twice_only_once() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("real/f.txt"), 10);
    symlink("real", t.path().join("alias")).unwrap();
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.follow_symlinks = true;
    let a = run(&sel);
    assert_eq!((a.files, a.error_count), (1, 0));
    assert_eq!(a.dirs, 3, "root, real and alias are directory entries; one is walked");
}

#[test]
fn dangling_symlink_stays_a_symlink_when_following() {
    let t = tempfile::tempdir().unwrap();
    symlink("nowhere", t.path().join("dangling")).unwrap();
    let mut sel = Selection::new(vec![t.path().into()]);
    sel.follow_symlinks = true;
    let a = run(&sel);
    assert_eq!((a.symlinks, a.error_count), (1, 0));
}

#[test]
fn filters_select_entries_and_exclude_prunes() {
    let t = sample_tree();
    let root = t.path().to_path_buf();
    let count = |f: &dyn Fn(&mut Selection)| {
        let mut s = Selection::new(vec![root.clone()]);
        f(&mut s);
        let a = run(&s);
        (a.files, a.dirs)
    };
    assert_eq!(count(&|s| s.include = vec!["*.jpg".into()]), (2, 4));
    assert_eq!(count(&|s| s.include = vec!["a/*.rs".into()]), (1, 4));
    assert_eq!(count(&|s| s.exclude = vec!["b".into()]), (4, 3));
    assert_eq!(count(&|s| s.path_regex = Some(r"/a/b/".into())), (2, 4));
    assert_eq!(count(&|s| s.types = EntryTypes::of(&[EntryType::File])), (6, 0));
    assert_eq!(count(&|s| s.min_size = Some(2000)), (4, 4));
    assert_eq!(count(&|s| s.max_size = Some(100)), (2, 4));
    assert_eq!(count(&|s| s.max_depth = Some(1)), (2, 3));
    assert_eq!(count(&|s| s.max_depth = Some(0)), (0, 1), "the root alone");
    assert_eq!(count(&|s| s.older_than = Some(NOW)), (0, 4));
    assert_eq!(count(&|s| s.newer_than = Some(NOW)), (6, 4));
}

#[test]
fn hidden_names_and_ignore_files() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(&r.join(".hidden/x.txt"), 1);
    write(&r.join(".dotfile"), 1);
    write(&r.join("keep.txt"), 1);
    write(&r.join("build/out.o"), 1);
    write(&r.join("sub/skip.log"), 1);
    write(&r.join("sub/keep.log"), 1);
    fs::write(r.join(".gitignore"), "build/\n").unwrap();
    fs::write(r.join("sub/.ignore"), "*.log\n!keep.log\n").unwrap();
    let files = |f: &dyn Fn(&mut Selection)| {
        let mut s = Selection::new(vec![r.into()]);
        f(&mut s);
        run(&s).files
    };
    assert_eq!(files(&|_| {}), 8);
    assert_eq!(files(&|s| s.hidden = false), 4);
    assert_eq!(files(&|s| s.ignore_files = true), 6, "build/ and skip.log ignored");
}

#[test]
fn missing_root_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing");
    let err = analyze(&Selection::new(vec![missing.clone()]), OPTS, &Control::default());
    match err {
        Err(CoreError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a NotFound error, got {other:?}"),
    }
}

#[test]
fn a_cancelled_call_ends_with_cancelled() {
    let t = sample_tree();
    let control = Control { cancel: CancelToken::new(), ..Control::default() };
    control.cancel.cancel();
    let err = analyze(&Selection::new(vec![t.path().into()]), OPTS, &control).unwrap_err();
    assert!(matches!(err, CoreError::Cancelled));
}

#[test]
fn file_root_is_counted_as_a_file() {
    let t = sample_tree();
    let a = run_on(&t.path().join("a/2.rs"));
    assert_eq!((a.files, a.dirs, a.file_bytes), (1, 0, 2000));
}

/// Permission errors need a process without CAP_DAC_OVERRIDE: as root the test runs itself again
/// under `setpriv` with those capabilities dropped.
#[test]
fn unreadable_directory_is_an_error_and_the_walk_goes_on() {
    const INNER: &str = "VEGAFS_TEST_WITHOUT_DAC";
    if std::env::var_os(INNER).is_none() && rustix::process::geteuid().is_root() {
        let out = Command::new("setpriv")
            .args(["--inh-caps=-dac_override,-dac_read_search"])
            .args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "unreadable_directory_is_an_error_and_the_walk_goes_on"])
            .arg("--nocapture")
            .env(INNER, "1")
            .output()
            .expect("setpriv (util-linux) is needed to test permission errors as root");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        // A filter that matched nothing would pass too: the child must have run this test.
        assert!(text.contains("test result: ok. 1 passed"), "the child ran no test:\n{text}");
        return;
    }
    let t = sample_tree();
    let locked: PathBuf = t.path().join("a/b");
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let a = run_on(t.path());
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(a.error_count, 1);
    assert_eq!(a.errors[0].path, locked);
    assert_eq!(a.errors[0].kind, ErrorKind::PermissionDenied);
    assert_eq!((a.files, a.dirs), (4, 4), "the rest is counted");
}
