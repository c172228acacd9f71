//! verify() on real temporary trees: every status, the manifest's order, the tools' line
//! formats, a FIFO never opened for reading, paths that leave the allowed roots in a job.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::thread;

use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::verify::AlgorithmFrom;
use vegafs_core::{
    verify, Algorithm, Control, CoreError, Status, VerifyOptions, VerifyRow, VerifySummary,
};

const ABC_BLAKE3: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_XXH3: &str = "78af5f94892f3950";

fn options(base: &Path, beneath: &[&Path]) -> VerifyOptions {
    VerifyOptions {
        algorithm: None,
        base: base.to_path_buf(),
        beneath: beneath.iter().map(|p| p.to_path_buf()).collect(),
        max_errors: 100,
    }
}

fn run(
    manifest: &Path,
    options: &VerifyOptions,
) -> (Result<VerifySummary, CoreError>, Vec<VerifyRow>) {
    let control = Control::default();
    let (sink, rx) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
    thread::scope(|s| {
        let call = s.spawn(|| verify(manifest, options, &control, sink));
        let batches: Vec<Vec<VerifyRow>> = rx.collect();
        (call.join().unwrap(), batches.concat())
    })
}

/// (path, status, actual, message) of each row, in order.
fn outcome(rows: &[VerifyRow]) -> Vec<(String, Status, Option<String>, Option<String>)> {
    rows.iter()
        .map(|r| {
            let path = String::from_utf8_lossy(r.path.as_os_str().as_bytes()).into_owned();
            (path, r.status, r.actual.clone(), r.message.clone())
        })
        .collect()
}

#[test]
fn every_status_in_the_manifests_order() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    fs::create_dir_all(base.join("sub")).unwrap();
    fs::write(base.join("abc"), b"abc").unwrap();
    fs::write(base.join("sub/changed"), b"abd").unwrap();
    fs::write(base.join("new\nline"), b"abc").unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, base.join("fifo"), rustix::fs::Mode::RUSR).unwrap();
    let manifest = dir.path().join("sums");
    let text = format!(
        "{ABC_BLAKE3}  sub/changed\r\n\n{ABC_BLAKE3} *abc\n{ABC_BLAKE3}  gone\n{ABC_BLAKE3}  fifo\n\
         {ABC_BLAKE3}  sub\n\\{ABC_BLAKE3}  new\\nline\n{ABC_BLAKE3}  abc/x\n"
    );
    fs::write(&manifest, text).unwrap();
    let (summary, rows) = run(&manifest, &options(&base, &[]));
    let summary = summary.unwrap();
    let changed = blake3::hash(b"abd").to_hex().to_string();
    let no_file = Some("No such file or directory".to_string());
    assert_eq!(
        outcome(&rows),
        vec![
            ("sub/changed".into(), Status::Changed, Some(changed), None),
            ("abc".into(), Status::Ok, None, None),
            ("gone".into(), Status::Missing, None, no_file),
            ("fifo".into(), Status::Unreadable, None, Some("is a FIFO (not read)".into())),
            ("sub".into(), Status::Unreadable, None, Some("is a directory".into())),
            ("new\nline".into(), Status::Ok, None, None),
            ("abc/x".into(), Status::Missing, None, Some("Not a directory".into())),
        ]
    );
    assert!(rows.iter().all(|r| r.expected == ABC_BLAKE3));
    let counts = (summary.files, summary.ok, summary.changed, summary.missing, summary.unreadable);
    assert_eq!(counts, (7, 2, 1, 2, 2));
    assert_eq!((summary.bytes, summary.error_count, summary.errors.len()), (9, 4, 4));
    assert_eq!(
        (summary.algorithm, summary.algorithm_from),
        (Algorithm::Blake3, AlgorithmFrom::Default)
    );
    assert_eq!(summary.hint, None, "some file is ok: no hint");
}

#[test]
fn tagged_lines_choose_the_algorithm_and_a_wrong_one_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("abc"), b"abc").unwrap();
    let manifest = dir.path().join("sums");
    fs::write(&manifest, format!("XXH3 (abc) = {ABC_XXH3}\n")).unwrap();
    let (summary, rows) = run(&manifest, &options(dir.path(), &[]));
    let summary = summary.unwrap();
    assert_eq!((summary.algorithm, summary.algorithm_from), (Algorithm::Xxh3, AlgorithmFrom::Tags));
    assert_eq!(outcome(&rows), vec![("abc".into(), Status::Ok, None, None)]);

    // sha256sum's digests read as b3sum's (64 digits, no tag): all changed, and the hint says so.
    fs::write(&manifest, format!("{ABC_SHA256}  abc\n")).unwrap();
    let (summary, _) = run(&manifest, &options(dir.path(), &[]));
    let summary = summary.unwrap();
    assert_eq!((summary.changed, summary.ok), (1, 0));
    assert_eq!(
        summary.hint.as_deref(),
        Some(
            "every file read differs, but abc matches as sha256: the manifest holds sha256 \
             digests (--algo sha256)"
        )
    );
    let mut sha = options(dir.path(), &[]);
    sha.algorithm = Some(Algorithm::Sha256);
    let (summary, _) = run(&manifest, &sha);
    assert_eq!(summary.unwrap().ok, 1);
}

#[test]
fn a_malformed_line_fails_before_any_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("sums");
    fs::write(&manifest, format!("{ABC_BLAKE3}  abc\n{ABC_BLAKE3}abc\n")).unwrap();
    let (summary, rows) = run(&manifest, &options(dir.path(), &[]));
    match summary {
        Err(CoreError::InvalidManifest { path, line, message }) => {
            assert_eq!((path, line), (manifest.clone(), 2));
            assert_eq!(
                message,
                "not a checksum line (DIGEST  NAME, DIGEST *NAME or TAG (NAME) = DIGEST)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(rows.is_empty());
    let (summary, _) = run(&dir.path().join("none"), &options(dir.path(), &[]));
    assert!(matches!(summary, Err(CoreError::Io { path, .. }) if path == dir.path().join("none")));
}

#[test]
fn a_job_opens_nothing_outside_its_roots_nor_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let base = root.join("data");
    fs::create_dir_all(base.join("d")).unwrap();
    fs::write(base.join("abc"), b"abc").unwrap();
    fs::write(dir.path().join("secret"), b"abc").unwrap();
    symlink("../abc", base.join("d/link")).unwrap();
    symlink(dir.path().join("secret"), base.join("out")).unwrap();
    let manifest = root.join("sums");
    let secret = dir.path().join("secret");
    let lines = [
        "abc".to_string(),
        "d/../abc".into(),
        base.join("abc").display().to_string(),
        "../../secret".into(),
        secret.display().to_string(),
        "d/link".into(),
        "out".into(),
    ];
    let text: String = lines.iter().map(|l| format!("{ABC_BLAKE3}  {l}\n")).collect();
    fs::write(&manifest, text).unwrap();
    let (summary, rows) = run(&manifest, &options(&base, &[&root]));
    let outside = Some("is outside the allowed roots (not opened)".to_string());
    let link = Some("is reached through a symlink (not followed in a job)".to_string());
    let got: Vec<(String, Status, Option<String>)> =
        outcome(&rows).into_iter().map(|(p, s, _, m)| (p, s, m)).collect();
    assert_eq!(
        got,
        vec![
            (lines[0].clone(), Status::Ok, None),
            (lines[1].clone(), Status::Ok, None),
            (lines[2].clone(), Status::Ok, None),
            (lines[3].clone(), Status::Unreadable, outside.clone()),
            (lines[4].clone(), Status::Unreadable, outside),
            (lines[5].clone(), Status::Unreadable, link.clone()),
            (lines[6].clone(), Status::Unreadable, link),
        ]
    );
    assert_eq!(summary.unwrap().ok, 3);
    // Locally the same manifest reads what the tools read: symlinks and `..` followed.
    let (summary, _) = run(&manifest, &options(&base, &[]));
    assert_eq!(summary.unwrap().ok, 7);
    // A manifest outside the roots is refused before anything is read.
    let (summary, _) = run(&dir.path().join("secret"), &options(&base, &[&root]));
    assert!(matches!(summary, Err(CoreError::NotAllowed { .. })), "{summary:?}");
}

#[test]
fn rows_keep_the_manifests_order_across_windows() {
    let dir = tempfile::tempdir().unwrap();
    let n = vegafs_core::verify::WINDOW * 2 + 7;
    let mut text = String::new();
    for i in 0..n {
        let name = format!("f{i}");
        fs::write(dir.path().join(&name), name.as_bytes()).unwrap();
        text += &format!("{}  {name}\n", blake3::hash(name.as_bytes()).to_hex());
    }
    let manifest = dir.path().join("sums");
    fs::write(&manifest, text).unwrap();
    let (summary, rows) = run(&manifest, &options(dir.path(), &[]));
    assert_eq!(summary.unwrap().ok, n as u64);
    let names: Vec<PathBuf> = rows.iter().map(|r| r.path.clone()).collect();
    assert_eq!(names, (0..n).map(|i| PathBuf::from(format!("f{i}"))).collect::<Vec<_>>());
}

#[test]
fn a_cancelled_call_sends_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("abc"), b"abc").unwrap();
    let manifest = dir.path().join("sums");
    fs::write(&manifest, format!("{ABC_BLAKE3}  abc\n")).unwrap();
    let control = Control::default();
    control.cancel.cancel();
    let (sink, rx) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
    let outcome = verify(&manifest, &options(dir.path(), &[]), &control, sink);
    assert!(matches!(outcome, Err(CoreError::Cancelled)), "{outcome:?}");
    assert_eq!(rx.collect::<Vec<_>>().concat(), vec![]);
}

/// A file below a path longer than PATH_MAX (as `vegafs hash` lists it) is read, locally and in
/// a job.
#[test]
fn a_path_longer_than_path_max_is_read() {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    let dir = tempfile::tempdir().unwrap();
    let name = "d".repeat(60);
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    let mut fd = openat(rustix::fs::CWD, dir.path(), flags, Mode::empty()).unwrap();
    for _ in 0..100 {
        mkdirat(&fd, name.as_str(), Mode::RWXU).unwrap();
        fd = openat(&fd, name.as_str(), flags, Mode::empty()).unwrap();
    }
    let file = openat(&fd, "abc", OFlags::WRONLY | OFlags::CREATE, Mode::RUSR).unwrap();
    rustix::io::write(&file, b"abc").unwrap();
    let relative: PathBuf =
        std::iter::repeat_n(name.as_str(), 100).collect::<PathBuf>().join("abc");
    assert!(relative.as_os_str().len() > 4096);
    let manifest = dir.path().join("sums");
    let absolute = dir.path().join(&relative);
    let text =
        format!("{ABC_BLAKE3}  {}\n{ABC_BLAKE3}  {}\n", relative.display(), absolute.display());
    fs::write(&manifest, text).unwrap();
    for beneath in [vec![], vec![dir.path()]] {
        let (summary, rows) = run(&manifest, &options(dir.path(), &beneath));
        assert_eq!(summary.unwrap().ok, 2, "{rows:?}");
    }
}
