//! `hash`: a digest of every selected regular file (BLAKE3, SHA-256 or XXH3-64), streamed in
//! batches through a [`rows`](crate::rows) channel, like `b3sum` or `sha256sum` over the tree.
//!
//! Files are hashed where the walk finds them, one per walker task, so a tree of small files
//! keeps every core busy; a big file is also split across the cores by BLAKE3 itself
//! (`update_rayon`, on [`BIG_CHUNK`]-byte reads). Each file is opened relative to its directory's
//! handle ([`Entry::open_file`]): never through a symlink (unless the walk follows them), never a
//! FIFO or a device. Symlinks, directories and other entries are not hashed and not counted.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sha2::Digest as _;

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::rows::RowSink;
use crate::selection::EntryType;
use crate::walk::{walk, Entry, Visitor};
use crate::Selection;

/// Reads of small files, and of every file for SHA-256 and XXH3.
const CHUNK: usize = 256 * 1024;
/// Files at least this big are read in [`BIG_CHUNK`] reads, each hashed by BLAKE3 on all cores.
pub const BIG_FILE: u64 = 4 * 1024 * 1024;
const BIG_CHUNK: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Blake3,
    Sha256,
    /// XXH3, 64-bit (not a cryptographic hash: for finding changes, not tampering).
    Xxh3,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha256 => "sha256",
            Algorithm::Xxh3 => "xxh3",
        }
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blake3" => Ok(Algorithm::Blake3),
            "sha256" => Ok(Algorithm::Sha256),
            "xxh3" => Ok(Algorithm::Xxh3),
            _ => Err(format!("unknown algorithm {s:?} (blake3, sha256, xxh3)")),
        }
    }
}

/// One hashed file. A root file is listed by the path it was given as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashRow {
    pub path: PathBuf,
    /// Bytes read (the size when the file was hashed).
    pub size: u64,
    /// Lower-case hexadecimal.
    pub digest: String,
}

#[derive(Debug, Clone, Copy)]
pub struct HashOptions {
    pub algorithm: Algorithm,
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

/// What a `hash` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashSummary {
    /// Files hashed (rows sent).
    pub files: u64,
    /// Bytes read and hashed.
    pub bytes: u64,
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order.
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl HashSummary {
    fn merge(&mut self, other: HashSummary, max_errors: usize) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, max_errors);
    }
}

struct Hasher {
    summary: HashSummary,
    options: HashOptions,
    rows: RowSink<HashRow>,
    buf: Vec<u8>,
}

impl Visitor for Hasher {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.meta.kind != EntryType::File {
            return 0;
        }
        let read = entry.open_file().and_then(|mut file| {
            digest_of(&mut file, self.options.algorithm, entry.meta.size, &mut self.buf)
        });
        match read {
            Ok((size, digest)) => {
                self.summary.files += 1;
                self.summary.bytes += size;
                // false: the consumer is gone and the walk's token cancelled; it stops soon.
                self.rows.push(HashRow { path: entry.path(), size, digest });
                size
            }
            Err(e) => {
                self.error(WalkError::from_io(entry.path(), &e));
                0
            }
        }
    }

    fn error(&mut self, error: WalkError) {
        let s = &mut self.summary;
        record_error(&mut s.error_count, &mut s.errors, error, self.options.max_errors);
    }
}

/// Reads `file` to its end: (bytes read, hex digest). `size` (from the walk's stat) only picks
/// the read size; what is hashed is what is read.
pub fn digest_of(
    file: &mut impl Read,
    algorithm: Algorithm,
    size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<(u64, String)> {
    let chunk = if algorithm == Algorithm::Blake3 && size >= BIG_FILE { BIG_CHUNK } else { CHUNK };
    buf.resize(chunk, 0);
    let mut total = 0u64;
    let digest: Vec<u8> = match algorithm {
        Algorithm::Blake3 => {
            let mut h = blake3::Hasher::new();
            let parallel = chunk == BIG_CHUNK;
            total += read_all(file, buf, |data| {
                if parallel {
                    h.update_rayon(data);
                } else {
                    h.update(data);
                }
            })?;
            h.finalize().as_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut h = sha2::Sha256::new();
            total += read_all(file, buf, |data| h.update(data))?;
            h.finalize().to_vec()
        }
        Algorithm::Xxh3 => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            total += read_all(file, buf, |data| h.update(data))?;
            h.digest().to_be_bytes().to_vec()
        }
    };
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok((total, hex))
}

/// Feeds every byte of `file` to `consume`, `buf` at a time; the number of bytes read.
fn read_all(
    file: &mut impl Read,
    buf: &mut [u8],
    mut consume: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        consume(&buf[..n]);
        total += n as u64;
    }
}

/// Hashes the selected regular files into `rows` and returns the summary once every row is sent.
/// Rows, cancellation and the receiver going away work as for [`crate::list`].
pub fn hash(
    selection: &Selection,
    options: HashOptions,
    control: &Control,
    rows: RowSink<HashRow>,
) -> Result<HashSummary, CoreError> {
    let start = Instant::now();
    let parts = walk(selection, control, || Hasher {
        summary: HashSummary::default(),
        options,
        rows: rows.clone(),
        buf: Vec::new(),
    })?;
    drop(rows);
    let mut total = HashSummary::default();
    for mut part in parts {
        part.rows.flush();
        total.merge(part.summary, options.max_errors);
    }
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}
