//! `verify`: checks the files a checksum manifest lists (`b3sum`, `sha256sum`, `xxhsum -H3`
//! or `vegafs hash --manifest`) against their digests, one row per line, like `b3sum --check`.
//!
//! The manifest is read and parsed whole before any file is opened: a line that is not a
//! checksum line fails the call ([`CoreError::InvalidManifest`], naming its number), so nothing
//! is reported of a manifest that may not say what it was meant to. Files are then hashed in
//! parallel with [`digest_of`] (BLAKE3 splits big files across the cores itself), a window of
//! [`WINDOW`] lines at a time, and their rows are sent in the manifest's order.
//!
//! Each file is `stat`ed before it is opened, and opened `O_NONBLOCK | O_NOCTTY`: a FIFO, socket
//! or device is never opened for reading, a directory is never read. Locally a path is opened
//! as `b3sum --check` opens it (relative to the base, symlinks followed, `..` and absolute paths
//! as they are). With [`VerifyOptions::beneath`] (jobs) the path joined to the base is made
//! plain (`.` and `..` removed by its names, which is what the kernel does when no symlink is
//! followed) and opened beneath the allowed root that holds it with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`: a path outside every allowed root, or through a symlink, is an
//! `unreadable` row and is never looked at.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, ErrorKind, WalkError};
use crate::hash::{digest_of, Algorithm};
use crate::rows::RowSink;
use crate::walk::{open_below, SYMLINK_IN_THE_WAY};

/// Lines hashed in parallel before their rows are sent, in order.
pub const WINDOW: usize = 1024;

/// What a verified file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Its digest is the one listed.
    Ok,
    /// It was read whole and its digest is another.
    Changed,
    /// No such file (or a directory on its path is missing or is a file).
    Missing,
    /// It is there but could not be read: permission, I/O error, not a regular file, outside
    /// the allowed roots, reached through a symlink in a job.
    Unreadable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Unreadable => "unreadable",
        }
    }
}

/// One line of the manifest, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRow {
    /// As the manifest names it (escapes undone), not joined to the base.
    pub path: PathBuf,
    pub status: Status,
    /// Lower-case hexadecimal, as listed.
    pub expected: String,
    /// The digest read, when it differs (`Changed`); `None` otherwise.
    pub actual: Option<String>,
    /// Why the file is `Missing` or `Unreadable`; `None` otherwise.
    pub message: Option<String>,
}

/// Where the algorithm of a run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmFrom {
    /// The caller said it.
    Option,
    /// The lines said it: `XXH3 (NAME) = ...`, `SHA256 (NAME) = ...`, `BLAKE3 (NAME) = ...`.
    Tags,
    /// 64 hex digits with no tag: BLAKE3 (b3sum's) unless told otherwise.
    Default,
}

/// A manifest, parsed: its lines and the one algorithm of their digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
    pub algorithm: Algorithm,
    pub from: AlgorithmFrom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub path: PathBuf,
    /// Lower-case hexadecimal.
    pub digest: String,
}

/// A line that is not a checksum line: its number (from 1; 0: the manifest has none) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const TAGS: [(&str, Algorithm); 3] =
    [("BLAKE3", Algorithm::Blake3), ("SHA256", Algorithm::Sha256), ("XXH3", Algorithm::Xxh3)];

/// Hex digits of a digest of `algorithm`.
pub fn digest_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::Blake3 | Algorithm::Sha256 => 64,
        Algorithm::Xxh3 => 16,
    }
}

/// Parses a manifest: lines `DIGEST  NAME` or `DIGEST *NAME` (sha256sum's binary mark), or
/// `TAG (NAME) = DIGEST` (`xxhsum -H3`, `sha256sum --tag`); a line starting with a backslash has
/// `\\`, `\n` and `\r` escapes in its name. Blank lines are skipped, a CR before the newline is
/// dropped (CRLF), digits may be upper case. `algorithm`: what the caller said (`None`: from
/// the tags, else BLAKE3 for 64 digits). Every line must be of the one algorithm, and there
/// must be one.
pub fn parse_manifest(data: &[u8], algorithm: Option<Algorithm>) -> Result<Manifest, ParseError> {
    let mut entries = Vec::new();
    let mut tagged: Option<(Algorithm, usize)> = None;
    let mut untagged: Option<(usize, usize)> = None; // (digits, line)
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let fail = |message: String| ParseError { line: number, message };
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (escaped, line) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (tag, digest, name) = split_line(line).map_err(|m| fail(m.to_string()))?;
        if !digest.iter().all(u8::is_ascii_hexdigit) || digest.is_empty() {
            return Err(fail("the digest is not hexadecimal".into()));
        }
        let name = if escaped { unescape(name).map_err(fail)? } else { name.to_vec() };
        if name.contains(&0) {
            return Err(fail("the name holds a NUL byte".into()));
        }
        match tag {
            Some(tag) => {
                if let Some((first, at)) = tagged {
                    if first != tag {
                        return Err(fail(format!(
                            "{} line, but line {at} is {}: one algorithm per manifest",
                            tag_name(tag),
                            tag_name(first)
                        )));
                    }
                } else {
                    tagged = Some((tag, number));
                }
                if let Some(given) = algorithm.filter(|&a| a != tag) {
                    return Err(fail(format!(
                        "{} line, but the algorithm asked for is {}",
                        tag_name(tag),
                        given.name()
                    )));
                }
                if digest.len() != digest_len(tag) {
                    return Err(fail(format!(
                        "{} digest of {} hex digits ({} expected)",
                        tag_name(tag),
                        digest.len(),
                        digest_len(tag)
                    )));
                }
            }
            None => {
                if let Some((digits, at)) = untagged {
                    if digits != digest.len() {
                        return Err(fail(format!(
                            "a digest of {} hex digits, but line {at} has {digits}: one \
                             algorithm per manifest",
                            digest.len()
                        )));
                    }
                } else {
                    untagged = Some((digest.len(), number));
                }
            }
        }
        let digest = String::from_utf8_lossy(digest).to_ascii_lowercase();
        entries.push(ManifestEntry { path: PathBuf::from(OsStr::from_bytes(&name)), digest });
    }
    if entries.is_empty() {
        return Err(ParseError {
            line: 0,
            message: "no checksum lines (nothing to verify)".into(),
        });
    }
    let (algorithm, from) = match (algorithm, tagged) {
        (Some(a), _) => (a, AlgorithmFrom::Option),
        (None, Some((tag, _))) => (tag, AlgorithmFrom::Tags),
        (None, None) => (Algorithm::Blake3, AlgorithmFrom::Default),
    };
    if let Some((digits, at)) = untagged {
        let want = digest_len(algorithm);
        if let Some((tag, tag_at)) = tagged.filter(|&(_, t)| t > at && digits != want) {
            let message = format!(
                "{} line, but line {at} has {digits} hex digits and no tag: one algorithm per \
                 manifest",
                tag_name(tag)
            );
            return Err(ParseError { line: tag_at, message });
        }
        if digits != want {
            let message = match (digits, from) {
                (16, AlgorithmFrom::Default) => "16 hex digits with no tag: XXH64 (xxhsum's \
                    default) is not supported; XXH3 digits need --algo xxh3 (xxhsum -H3 writes \
                    XXH3 (NAME) = DIGEST)"
                    .to_string(),
                _ => format!(
                    "a digest of {digits} hex digits, but {} digests have {want}",
                    algorithm.name()
                ),
            };
            return Err(ParseError { line: at, message });
        }
    }
    Ok(Manifest { entries, algorithm, from })
}

fn tag_name(algorithm: Algorithm) -> &'static str {
    TAGS.iter().find(|(_, a)| *a == algorithm).map_or("?", |(t, _)| t)
}

const NOT_A_LINE: &str = "not a checksum line (DIGEST  NAME, DIGEST *NAME or TAG (NAME) = DIGEST)";

/// A line's tag (if any), digest and name.
type Parts<'a> = (Option<Algorithm>, &'a [u8], &'a [u8]);

/// (tag, digest, name) of a line without its escape mark.
fn split_line(line: &[u8]) -> Result<Parts<'_>, &'static str> {
    for (tag, algorithm) in TAGS {
        let Some(rest) = line.strip_prefix(tag.as_bytes()).and_then(|r| r.strip_prefix(b" ("))
        else {
            continue;
        };
        // The name may hold ") = ": the digest follows the last one.
        let at = rest
            .windows(4)
            .rposition(|w| w == b") = ")
            .ok_or("a tagged line without \") = DIGEST\"")?;
        let (name, digest) = (&rest[..at], &rest[at + 4..]);
        if name.is_empty() {
            return Err("no file name");
        }
        return Ok((Some(algorithm), digest, name));
    }
    let space = line.iter().position(|&b| b == b' ').ok_or(NOT_A_LINE)?;
    let (digest, rest) = (&line[..space], &line[space + 1..]);
    let name = match rest.first() {
        Some(b' ' | b'*') => &rest[1..],
        _ => return Err(NOT_A_LINE),
    };
    if name.is_empty() {
        return Err("no file name");
    }
    Ok((None, digest, name))
}

fn unescape(name: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => {
                return Err(format!(
                    "unknown escape \"\\{}\" in the name (only \\\\, \\n, \\r)",
                    char::from(other).escape_default()
                ))
            }
            None => return Err("the name ends in a lone backslash".into()),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// `None`: from the manifest's tags, else BLAKE3.
    pub algorithm: Option<Algorithm>,
    /// Relative names are below it (the current directory: `.`).
    pub base: PathBuf,
    /// Allowed roots (jobs): every file, and the manifest, is opened beneath one of them.
    /// Empty: anywhere, as `b3sum --check` opens them.
    pub beneath: Vec<PathBuf>,
    /// How many failures (missing, unreadable) the summary lists (all are counted).
    pub max_errors: usize,
}

/// What a `verify` call found.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySummary {
    pub algorithm: Algorithm,
    pub algorithm_from: AlgorithmFrom,
    /// Lines checked (rows sent).
    pub files: u64,
    pub ok: u64,
    pub changed: u64,
    pub missing: u64,
    pub unreadable: u64,
    /// Bytes read and hashed.
    pub bytes: u64,
    /// `missing + unreadable`.
    pub error_count: u64,
    /// The first `max_errors` of them, in byte-wise path order.
    pub errors: Vec<WalkError>,
    /// Set when every file read differs and the digests may be of another algorithm.
    pub hint: Option<String>,
    pub elapsed: Duration,
}

/// Reads the manifest at `manifest` (beneath the allowed roots when there are some), then checks
/// every file it lists into `rows`, in the manifest's order; the summary once every row is sent.
/// A manifest that cannot be read fails with [`CoreError::Io`], one that does not parse with
/// [`CoreError::InvalidManifest`], both before any file is opened; so does a base that cannot
/// be opened.
pub fn verify(
    manifest: &Path,
    options: &VerifyOptions,
    control: &Control,
    rows: RowSink<VerifyRow>,
) -> Result<VerifySummary, CoreError> {
    let start = Instant::now();
    let opener = Opener::new(options)?;
    let data = opener.read_manifest(manifest)?;
    let parsed =
        parse_manifest(&data, options.algorithm).map_err(|e| CoreError::InvalidManifest {
            path: manifest.to_path_buf(),
            line: e.line,
            message: e.message,
        })?;
    drop(data);
    let algorithm = parsed.algorithm;
    let mut summary = VerifySummary {
        algorithm,
        algorithm_from: parsed.from,
        files: 0,
        ok: 0,
        changed: 0,
        missing: 0,
        unreadable: 0,
        bytes: 0,
        error_count: 0,
        errors: Vec::new(),
        hint: None,
        elapsed: Duration::ZERO,
    };
    let mut rows = rows;
    let mut first_changed: Option<usize> = None;
    for (w, window) in parsed.entries.chunks(WINDOW).enumerate() {
        if control.cancel.is_cancelled() {
            break;
        }
        let checked: Vec<Checked> = window
            .par_iter()
            .map_init(Vec::new, |buf, entry| {
                if control.cancel.is_cancelled() {
                    return cancelled(entry); // never sent: the loop stops below
                }
                let done = opener.check(entry, algorithm, buf);
                control.progress.add(1, 0, done.bytes, u64::from(done.error.is_some()));
                done
            })
            .collect();
        if control.cancel.is_cancelled() {
            break;
        }
        for (i, Checked { row, bytes, error }) in checked.into_iter().enumerate() {
            summary.files += 1;
            summary.bytes += bytes;
            match row.status {
                Status::Ok => summary.ok += 1,
                Status::Changed => {
                    summary.changed += 1;
                    first_changed.get_or_insert(w * WINDOW + i);
                }
                Status::Missing => summary.missing += 1,
                Status::Unreadable => summary.unreadable += 1,
            }
            if let Some(kind) = error {
                let message = row.message.clone().unwrap_or_default();
                let error = WalkError { path: row.path.clone(), kind, message };
                let s = &mut summary;
                record_error(&mut s.error_count, &mut s.errors, error, options.max_errors);
            }
            // false: the consumer is gone and the token cancelled; the next window stops.
            rows.push(row);
        }
    }
    rows.flush();
    drop(rows);
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    keep_first_errors(&mut summary.errors, options.max_errors);
    if summary.ok == 0 && summary.changed > 0 && parsed.from != AlgorithmFrom::Tags {
        let entry = &parsed.entries[first_changed.unwrap_or(0)];
        summary.hint = opener.hint(entry, algorithm, parsed.from, summary.changed == summary.files);
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Opens the files of one run: locally as the tools do, or beneath the allowed roots.
struct Opener {
    base: PathBuf,
    /// Locally: the base, opened once (`O_PATH`, symlinks followed).
    base_fd: Option<OwnedFd>,
    /// Jobs: each allowed root and its handle.
    allowed: Vec<(PathBuf, OwnedFd)>,
}

/// Paths longer than this (bytes) are opened in pieces (`PATH_MAX` is 4,096 with its NUL).
const LONG_PATH: usize = 4095;
const OUTSIDE: &str = "is outside the allowed roots (not opened)";
const THROUGH_A_SYMLINK: &str = "is reached through a symlink (not followed in a job)";

impl Opener {
    fn new(options: &VerifyOptions) -> Result<Self, CoreError> {
        let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let open = |p: &Path| {
            rustix::fs::openat(CWD, p, dir, Mode::empty()).map_err(|e| CoreError::io(p, e.into()))
        };
        let mut opener = Opener { base: options.base.clone(), base_fd: None, allowed: Vec::new() };
        if options.beneath.is_empty() {
            opener.base_fd = Some(open(&options.base)?);
            return Ok(opener);
        }
        for a in &options.beneath {
            // An allowed root is configuration: trusted, opened as it is.
            opener.allowed.push((a.clone(), open(a)?));
        }
        if !options.base.is_absolute() {
            let reason = "must be an absolute path for a job".to_string();
            return Err(CoreError::NotAllowed { path: options.base.clone(), reason });
        }
        let base = opener.open(&options.base, dir).map_err(|e| match e {
            Refused::Io(e) => CoreError::io(&options.base, e),
            Refused::NotAllowed(reason) => {
                CoreError::NotAllowed { path: options.base.clone(), reason }
            }
        })?;
        drop(base);
        Ok(opener)
    }

    fn read_manifest(&self, manifest: &Path) -> Result<Vec<u8>, CoreError> {
        let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let io_err = |e: io::Error| CoreError::io(manifest, e);
        let fd = if self.allowed.is_empty() {
            rustix::fs::openat(CWD, manifest, flags, Mode::empty()).map_err(|e| io_err(e.into()))?
        } else {
            self.open(manifest, flags).map_err(|e| match e {
                Refused::Io(e) => io_err(e),
                Refused::NotAllowed(reason) => {
                    CoreError::NotAllowed { path: manifest.to_path_buf(), reason }
                }
            })?
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err(e.into()))?;
        if let Some(what) = not_regular(FileType::from_raw_mode(st.st_mode)) {
            return Err(io_err(io::Error::new(io::ErrorKind::InvalidInput, what)));
        }
        let mut data = Vec::new();
        File::from(fd).read_to_end(&mut data).map_err(io_err)?;
        Ok(data)
    }

    /// Jobs: `path` (absolute) made plain and opened beneath the allowed root that holds it.
    fn open(&self, path: &Path, flags: OFlags) -> Result<OwnedFd, Refused> {
        let plain = plain(path);
        let found = self.allowed.iter().find_map(|(a, fd)| {
            let rel = plain.strip_prefix(a).ok()?;
            Some((fd, rel.to_path_buf()))
        });
        let Some((fd, rel)) = found else {
            return Err(Refused::NotAllowed(OUTSIDE.into()));
        };
        let rel = if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel };
        open_below(fd.as_fd(), &rel, flags | OFlags::NOFOLLOW, false).map_err(|e| {
            if e.kind() == io::ErrorKind::Other && e.to_string() == SYMLINK_IN_THE_WAY {
                Refused::NotAllowed(THROUGH_A_SYMLINK.into())
            } else if e.kind() == io::ErrorKind::Other && e.raw_os_error().is_none() {
                Refused::NotAllowed(OUTSIDE.into())
            } else {
                Refused::Io(e)
            }
        })
    }

    /// One line checked: its row and the bytes read.
    fn check(&self, entry: &ManifestEntry, algorithm: Algorithm, buf: &mut Vec<u8>) -> Checked {
        let row = |status: Status, actual: Option<String>, message: Option<String>| VerifyRow {
            path: entry.path.clone(),
            status,
            expected: entry.digest.clone(),
            actual,
            message,
        };
        let (mut file, size) = match self.open_file(&entry.path) {
            Ok(opened) => opened,
            Err(Refused::NotAllowed(reason)) => {
                let row = row(Status::Unreadable, None, Some(reason));
                return Checked { row, bytes: 0, error: Some(ErrorKind::Io) };
            }
            Err(Refused::Io(e)) => return failed(row, &e),
        };
        match digest_of(&mut file, algorithm, size, buf) {
            Ok((bytes, digest)) if digest == entry.digest => {
                Checked { row: row(Status::Ok, None, None), bytes, error: None }
            }
            Ok((bytes, digest)) => {
                Checked { row: row(Status::Changed, Some(digest), None), bytes, error: None }
            }
            Err(e) => failed(row, &e),
        }
    }

    /// The regular file `path` names, opened for reading, and its size; anything else is
    /// refused after a `stat` and never opened for reading.
    fn open_file(&self, path: &Path) -> Result<(File, u64), Refused> {
        let read = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match &self.base_fd {
            Some(base) => {
                let mut at = if path.is_absolute() { CWD } else { base.as_fd() };
                let mut name = path;
                // Longer than the kernel takes whole (vegafs hash lists such paths): its
                // directory opened piece by piece, symlinks followed as the tools follow them.
                let (root_fd, parent_fd);
                if path.as_os_str().len() > LONG_PATH {
                    let (Some(parent), Some(last)) = (path.parent(), path.file_name()) else {
                        return Err(Refused::Io(io::Error::from(rustix::io::Errno::NAMETOOLONG)));
                    };
                    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                    let io = |e: rustix::io::Errno| Refused::Io(e.into());
                    let (start, parent) = match parent.strip_prefix("/") {
                        Ok(rest) => {
                            root_fd =
                                rustix::fs::openat(CWD, "/", dir, Mode::empty()).map_err(io)?;
                            (root_fd.as_fd(), rest)
                        }
                        Err(_) => (at, parent),
                    };
                    parent_fd = open_below(start, parent, dir, true).map_err(Refused::Io)?;
                    (at, name) = (parent_fd.as_fd(), Path::new(last));
                }
                let st = rustix::fs::statat(at, name, AtFlags::empty())
                    .map_err(|e| Refused::Io(e.into()))?;
                check_regular(FileType::from_raw_mode(st.st_mode))?;
                rustix::fs::openat(at, name, read, Mode::empty())
                    .map_err(|e| Refused::Io(e.into()))?
            }
            None => {
                let full = self.base.join(path);
                let probe = self.open(&full, OFlags::PATH)?;
                let st = rustix::fs::fstat(&probe).map_err(|e| Refused::Io(e.into()))?;
                check_regular(FileType::from_raw_mode(st.st_mode))?;
                self.open(&full, read)?
            }
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Refused::Io(e.into()))?;
        check_regular(FileType::from_raw_mode(st.st_mode))?; // replaced since the stat
        Ok((File::from(fd), st.st_size.max(0) as u64))
    }

    /// Why every file read may differ: the digest of `entry` under the other 64-digit
    /// algorithm, when it matches; else, when every file listed differs (`all_changed`), what
    /// was assumed.
    fn hint(
        &self,
        entry: &ManifestEntry,
        algorithm: Algorithm,
        from: AlgorithmFrom,
        all_changed: bool,
    ) -> Option<String> {
        let other = match algorithm {
            Algorithm::Blake3 => Some(Algorithm::Sha256),
            Algorithm::Sha256 => Some(Algorithm::Blake3),
            Algorithm::Xxh3 => None,
        };
        if let Some(other) = other {
            let mut buf = Vec::new();
            let matches = self
                .open_file(&entry.path)
                .ok()
                .and_then(|(mut file, size)| digest_of(&mut file, other, size, &mut buf).ok());
            if matches.is_some_and(|(_, digest)| digest == entry.digest) {
                return Some(format!(
                    "every file read differs, but {} matches as {}: the manifest holds {} \
                     digests (--algo {})",
                    shown(&entry.path),
                    other.name(),
                    other.name(),
                    other.name()
                ));
            }
        }
        if !all_changed {
            return None;
        }
        Some(match from {
            AlgorithmFrom::Default => format!(
                "every file read differs; digests of 64 hex digits with no tag were taken as \
                 {} (b3sum's): if the manifest is sha256sum's, use --algo sha256",
                algorithm.name()
            ),
            _ => format!(
                "every file read differs: is the manifest of another algorithm than {}?",
                algorithm.name()
            ),
        })
    }
}

enum Refused {
    Io(io::Error),
    NotAllowed(String),
}

/// One line checked: its row, the bytes read, and the kind of error when missing or unreadable.
struct Checked {
    row: VerifyRow,
    bytes: u64,
    error: Option<ErrorKind>,
}

fn cancelled(entry: &ManifestEntry) -> Checked {
    let row = VerifyRow {
        path: entry.path.clone(),
        status: Status::Unreadable,
        expected: entry.digest.clone(),
        actual: None,
        message: Some("cancelled".into()),
    };
    Checked { row, bytes: 0, error: Some(ErrorKind::Io) }
}

fn failed(
    row: impl Fn(Status, Option<String>, Option<String>) -> VerifyRow,
    e: &io::Error,
) -> Checked {
    let missing = e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error());
    let status = if missing { Status::Missing } else { Status::Unreadable };
    let text = e.to_string();
    // "Permission denied (os error 13)" -> "Permission denied", as the tools say it.
    let message = text.split(" (os error").next().unwrap_or(&text).to_string();
    let kind = match e.kind() {
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ if missing => ErrorKind::Vanished,
        _ => ErrorKind::Io,
    };
    Checked { row: row(status, None, Some(message)), bytes: 0, error: Some(kind) }
}

fn check_regular(kind: FileType) -> Result<(), Refused> {
    match not_regular(kind) {
        None => Ok(()),
        Some(what) => Err(Refused::NotAllowed(what.to_string())),
    }
}

fn not_regular(kind: FileType) -> Option<&'static str> {
    match kind {
        FileType::RegularFile => None,
        FileType::Directory => Some("is a directory"),
        FileType::Fifo => Some("is a FIFO (not read)"),
        FileType::Socket => Some("is a socket (not read)"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("is a device (not read)"),
        // Only a job sees one (O_PATH | O_NOFOLLOW opens a last name that is a symlink).
        FileType::Symlink => Some(THROUGH_A_SYMLINK),
        _ => Some("is not a regular file (not read)"),
    }
}

/// A path as a person should read it (a hint is text): bytes that are not UTF-8 as `\xNN`,
/// control characters escaped.
fn shown(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `path` with `.` and `..` removed by its names (`..` at `/` stays at `/`).
pub(crate) fn plain(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_tool_parse() {
        let d = "a".repeat(64);
        let text = format!(
            "{d}  plain\r\n\n{d} *binary\n\\{d}  new\\nline\\\\back\n  \n{d}  two  spaces \n"
        );
        let m = parse_manifest(text.as_bytes(), None).unwrap();
        let names: Vec<&[u8]> = m.entries.iter().map(|e| e.path.as_os_str().as_bytes()).collect();
        assert_eq!(names, [&b"plain"[..], b"binary", b"new\nline\\back", b"two  spaces "]);
        assert_eq!((m.algorithm, m.from), (Algorithm::Blake3, AlgorithmFrom::Default));
        let x = parse_manifest(
            b"XXH3 (a) = 00112233AABBCCDD\n\\XXH3 (b\\n) = 0011223344556677\n",
            None,
        )
        .unwrap();
        assert_eq!((x.algorithm, x.from), (Algorithm::Xxh3, AlgorithmFrom::Tags));
        assert_eq!(x.entries[0].digest, "00112233aabbccdd");
        assert_eq!(x.entries[1].path, Path::new("b\n"));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let d = "a".repeat(64);
        let err = |text: &str, algo| parse_manifest(text.as_bytes(), algo).unwrap_err();
        assert_eq!(err(&format!("{d}  a\nnonsense\n"), None).line, 2);
        assert_eq!(err(&format!("{d}  a\n{}  b\n", "b".repeat(16)), None).line, 2);
        assert_eq!(err(&format!("\\{d}  a\\tb\n"), None).line, 1);
        assert_eq!(err(&format!("zz{}  a\n", &d[2..]), None).line, 1);
        assert_eq!(err("XXH3 (a) = 0011223344556677\n", Some(Algorithm::Sha256)).line, 1);
        assert_eq!(
            err("\r\n \n", None),
            ParseError { line: 0, message: "no checksum lines (nothing to verify)".into() }
        );
        let e = err("0011223344556677  a\n", None);
        assert!(e.message.contains("XXH64"), "{}", e.message);
        assert_eq!(
            parse_manifest(b"0011223344556677  a\n", Some(Algorithm::Xxh3)).unwrap().entries.len(),
            1
        );
    }

    #[test]
    fn plain_paths_lose_dots() {
        assert_eq!(plain(Path::new("/r/a/../../../etc/./passwd")), Path::new("/etc/passwd"));
        assert_eq!(plain(Path::new("/r/b/../c")), Path::new("/r/c"));
    }
}
