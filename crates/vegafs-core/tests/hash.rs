//! hash() on real temporary trees: digests against published test vectors and the one-shot
//! functions of the hash crates, big files split across cores, what is and is not hashed.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::thread;

use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::{
    hash, Algorithm, Control, CoreError, HashOptions, HashRow, HashSummary, Selection,
};

fn run(sel: &Selection, algorithm: Algorithm) -> (HashSummary, Vec<HashRow>) {
    let control = Control::default();
    let (sink, rx) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
    let opts = HashOptions { algorithm, max_errors: 100 };
    let (summary, batches): (Result<HashSummary, CoreError>, Vec<Vec<HashRow>>) =
        thread::scope(|s| {
            let call = s.spawn(|| hash(sel, opts, &control, sink));
            let batches: Vec<_> = rx.collect();
            (call.join().unwrap(), batches)
        });
    let mut rows = batches.concat();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    (summary.unwrap(), rows)
}

fn digests(rows: &[HashRow], root: &Path) -> Vec<(PathBuf, u64, String)> {
    rows.iter()
        .map(|r| (r.path.strip_prefix(root).unwrap().to_path_buf(), r.size, r.digest.clone()))
        .collect()
}

/// Published vectors: "" and "abc" for each algorithm.
#[test]
fn digests_are_the_published_test_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("abc"), b"abc").unwrap();
    let sel = Selection::new(vec![root.to_path_buf()]);
    let cases = [
        (
            Algorithm::Blake3,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            Algorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (Algorithm::Xxh3, "78af5f94892f3950", "2d06800538d394c2"),
    ];
    for (algorithm, abc, empty) in cases {
        let (summary, rows) = run(&sel, algorithm);
        assert_eq!(
            digests(&rows, root),
            vec![("abc".into(), 3, abc.to_string()), ("empty".into(), 0, empty.to_string())],
            "{algorithm:?}"
        );
        assert_eq!((summary.files, summary.bytes, summary.error_count), (2, 3, 0));
    }
}

/// A file over BIG_FILE is read in big chunks hashed on all cores: the same digest as the
/// one-shot function over the whole content, for each algorithm.
#[test]
fn big_files_hash_as_one_piece() {
    let dir = tempfile::tempdir().unwrap();
    let len = vegafs_core::hash::BIG_FILE as usize * 2 + 12_345;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.path().join("big"), &data).unwrap();
    let sel = Selection::new(vec![dir.path().join("big")]);
    let (_, rows) = run(&sel, Algorithm::Blake3);
    assert_eq!(rows[0].digest, blake3::hash(&data).to_hex().to_string());
    assert_eq!(rows[0].size, len as u64);
    let (_, rows) = run(&sel, Algorithm::Xxh3);
    assert_eq!(rows[0].digest, format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&data)));
}

/// Only regular files are hashed: not a symlink (nor its target twice), not a FIFO (never
/// opened: the walk would hang on it), not a directory.
#[test]
fn only_regular_files_are_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/f"), b"abc").unwrap();
    symlink("sub/f", root.join("link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let (summary, rows) = run(&Selection::new(vec![root.to_path_buf()]), Algorithm::Sha256);
    let paths: Vec<_> = digests(&rows, root).into_iter().map(|r| r.0).collect();
    assert_eq!(paths, vec![PathBuf::from("sub/f")]);
    assert_eq!((summary.files, summary.error_count), (1, 0));
}
