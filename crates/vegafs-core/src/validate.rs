//! `validate`: is each selected file well-formed in its format (JSON, JSON lines, CSV, TSV,
//! UTF-8 text, XML, TOML, YAML, gzip, zstd), and does JSON match a JSON Schema? Streamed in
//! batches through a [`rows`](crate::rows) channel: one row per failure.
//!
//! Files are checked where the walk finds them, one per walker task, on rayon's pool. The
//! format comes from the name's extension ([`Format::of_name`]) unless the caller forces one;
//! a file of no known format is skipped (counted). Each file is opened from its directory's
//! handle ([`Entry::open_file_with_meta`]): never a FIFO, socket or device.
//!
//! Files up to [`WHOLE_FILE`] bytes are read in one piece and parsed from the slice; bigger files
//! are streamed for JSON, JSON lines, CSV, TSV and UTF-8 (measured on 16 MiB of JSON, checked
//! into `IgnoredAny`: 25 ms from a slice, 28 ms through a 64 KiB `BufReader`, so the reader
//! costs little and keeps memory bounded). The XML, TOML and YAML parsers want the whole text: those
//! are read whole up to [`MAX_WHOLE`] bytes (larger ones are a failure that says so). gzip and
//! zstd are decompressed as a stream to the end (gzip's CRC-32 and length, zstd's frame
//! checksums), and when the name without `.gz`/`.zst` has a known extension the decompressed
//! content is validated too, from the stream.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

use crate::analyze::{keep_first_errors, record_error};
use crate::control::{CancelToken, Control};
use crate::error::{CoreError, WalkError};
use crate::rows::RowSink;
use crate::selection::EntryType;
use crate::walk::{walk, Entry, Visitor};
use crate::Selection;

/// Files up to this size are read in one piece and parsed from memory.
pub const WHOLE_FILE: u64 = 16 * 1024 * 1024;
/// XML, TOML and YAML (whose parsers need the whole text) bigger than this are not parsed.
pub const MAX_WHOLE: u64 = 256 * 1024 * 1024;
/// Rows per file at most (schema errors, bad lines of JSON lines); the file fails either way.
pub const MAX_FAILURES_PER_FILE: usize = 20;
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Json,
    Jsonl,
    Csv,
    Tsv,
    Utf8,
    Xml,
    Toml,
    Yaml,
    Gzip,
    Zstd,
}

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Json,
        Format::Jsonl,
        Format::Csv,
        Format::Tsv,
        Format::Utf8,
        Format::Xml,
        Format::Toml,
        Format::Yaml,
        Format::Gzip,
        Format::Zstd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Utf8 => "utf8",
            Format::Xml => "xml",
            Format::Toml => "toml",
            Format::Yaml => "yaml",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
        }
    }

    /// The format a file name says: its extension, in any case. `.txt` is UTF-8 text.
    pub fn of_name(name: &[u8]) -> Option<Format> {
        let dot = name.iter().rposition(|&b| b == b'.')?;
        let ext = name[dot + 1..].to_ascii_lowercase();
        Some(match ext.as_slice() {
            b"json" => Format::Json,
            b"jsonl" | b"ndjson" => Format::Jsonl,
            b"csv" => Format::Csv,
            b"tsv" => Format::Tsv,
            b"txt" => Format::Utf8,
            b"xml" => Format::Xml,
            b"toml" => Format::Toml,
            b"yaml" | b"yml" => Format::Yaml,
            b"gz" => Format::Gzip,
            b"zst" => Format::Zstd,
            _ => return None,
        })
    }

    /// The format of a compressed file's content: its name without `.gz` / `.zst` (a name
    /// without that extension is taken as it is); none for an unknown or compressed one.
    pub fn inner_of(name: &[u8], outer: Format) -> Option<Format> {
        let ext: &[u8] = if outer == Format::Gzip { b".gz" } else { b".zst" };
        let lower = name.to_ascii_lowercase();
        let inner = if lower.ends_with(ext) { &name[..name.len() - ext.len()] } else { name };
        Format::of_name(inner).filter(|f| !matches!(f, Format::Gzip | Format::Zstd))
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {s:?} ({})", names.join(", "))
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A JSON Schema compiled once and shared by every walker thread.
#[derive(Clone)]
pub struct Schema(Arc<jsonschema::Validator>);

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Reads and compiles the schema in `path` (draft 2020-12 unless its `$schema` names
    /// another): an unreadable file is `CoreError::Io`, a malformed one `InvalidSchema`.
    /// Only a regular file is read: a FIFO or a device is refused, never waited on.
    pub fn from_file(path: &Path) -> Result<Schema, CoreError> {
        use rustix::fs::{FileType, Mode, OFlags};
        let io = |e: rustix::io::Errno| CoreError::io(path, io::Error::from(e));
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(io)?;
        if FileType::from_raw_mode(rustix::fs::fstat(&fd).map_err(io)?.st_mode)
            != FileType::RegularFile
        {
            let message = "not a regular file".to_string();
            return Err(CoreError::InvalidSchema { path: path.to_path_buf(), message });
        }
        let mut text = Vec::new();
        File::from(fd).read_to_end(&mut text).map_err(|e| CoreError::io(path, e))?;
        Schema::from_slice(path, &text)
    }

    /// Compiles the schema in `text`; `path` names it in errors.
    pub fn from_slice(path: &Path, text: &[u8]) -> Result<Schema, CoreError> {
        let bad = |message: String| CoreError::InvalidSchema { path: path.to_path_buf(), message };
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&value)
            .map_err(|e| bad(format!("not a valid JSON Schema: {e}")))?;
        Ok(Schema(Arc::new(validator)))
    }
}

/// One failure of one file. A root file is listed by the path it was given as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateRow {
    pub path: PathBuf,
    /// The format that failed: the content's (`json`) when a compressed file's content does.
    pub format: &'static str,
    /// 1-based, where the parser knows it.
    pub line: Option<u64>,
    /// 1-based, in bytes from the start of the line, where the parser knows it.
    pub column: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Every file is taken as this format; `None`: from its name.
    pub format: Option<Format>,
    /// CSV and TSV: the first record is a header of non-empty, unique names.
    pub header: bool,
    /// Applied to every JSON document (each line of JSON lines).
    pub schema: Option<Schema>,
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

/// Files of one format that passed and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatCount {
    pub ok: u64,
    pub failed: u64,
}

/// What a `validate` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateSummary {
    /// Files validated (passed or failed).
    pub files: u64,
    pub ok: u64,
    pub failed: u64,
    /// Files of no known format (not read).
    pub skipped: u64,
    /// Failure rows sent.
    pub failures: u64,
    /// Bytes read (of the files as stored).
    pub bytes: u64,
    /// Per format (the file's own, `gzip` for `data.json.gz`), in [`Format::ALL`]'s order.
    pub by_format: [FormatCount; 10],
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order.
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl ValidateSummary {
    fn merge(&mut self, other: ValidateSummary, max_errors: usize) {
        self.files += other.files;
        self.ok += other.ok;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.failures += other.failures;
        self.bytes += other.bytes;
        for (mine, theirs) in self.by_format.iter_mut().zip(other.by_format) {
            mine.ok += theirs.ok;
            mine.failed += theirs.failed;
        }
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, max_errors);
    }
}

/// A failure before it has a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub format: Format,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl Failure {
    fn at(format: Format, line: u64, column: u64, message: impl Into<String>) -> Self {
        Failure { format, line: Some(line), column: Some(column), message: message.into() }
    }

    fn whole(format: Format, message: impl Into<String>) -> Self {
        Failure { format, line: None, column: None, message: message.into() }
    }
}

struct Validator {
    summary: ValidateSummary,
    options: ValidateOptions,
    cancel: CancelToken,
    rows: RowSink<ValidateRow>,
    failures: Vec<Failure>,
}

impl Visitor for Validator {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.meta.kind != EntryType::File {
            return 0;
        }
        let name = Path::new(entry.name).file_name().unwrap_or(entry.name).as_bytes();
        let Some(format) = self.options.format.or_else(|| Format::of_name(name)) else {
            self.summary.skipped += 1;
            return 0;
        };
        self.failures.clear();
        let checked = entry.open_file_with_meta().and_then(|(file, meta)| {
            check_file(
                file,
                meta.size,
                format,
                name,
                &self.options,
                &self.cancel,
                &mut self.failures,
            )
            .map(|()| meta.size)
        });
        if self.cancel.is_cancelled() {
            return 0;
        }
        match checked {
            Ok(size) => {
                let s = &mut self.summary;
                s.files += 1;
                s.bytes += size;
                let count = &mut s.by_format[format.index()];
                if self.failures.is_empty() {
                    s.ok += 1;
                    count.ok += 1;
                } else {
                    s.failed += 1;
                    count.failed += 1;
                    let path = entry.path();
                    for f in self.failures.drain(..) {
                        s.failures += 1;
                        self.rows.push(ValidateRow {
                            path: path.clone(),
                            format: f.format.name(),
                            line: f.line,
                            column: f.column,
                            message: f.message,
                        });
                    }
                }
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

    const FILE_META: bool = false;
}

/// Validates the selected files into `rows` (one per failure) and returns the summary once
/// every row is sent. Rows, cancellation and the receiver going away work as for
/// [`crate::list`].
pub fn validate(
    selection: &Selection,
    options: ValidateOptions,
    control: &Control,
    rows: RowSink<ValidateRow>,
) -> Result<ValidateSummary, CoreError> {
    let start = Instant::now();
    let max_errors = options.max_errors;
    let parts = walk(selection, control, || Validator {
        summary: ValidateSummary::default(),
        options: options.clone(),
        cancel: control.cancel.clone(),
        rows: rows.clone(),
        failures: Vec::new(),
    })?;
    drop(rows);
    let mut total = ValidateSummary::default();
    for mut part in parts {
        part.rows.flush();
        total.merge(part.summary, max_errors);
    }
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Validates one open file of `size` bytes named `name` as `format`, pushing its failures
/// to `out`. An error reading the file itself is returned (the file is then neither passed nor
/// failed); a broken compressed stream is a failure.
pub fn check_file(
    file: File,
    size: u64,
    format: Format,
    name: &[u8],
    options: &ValidateOptions,
    cancel: &CancelToken,
    out: &mut Vec<Failure>,
) -> io::Result<()> {
    let io_error = RefCell::new(None);
    let mut raw = Tracked { inner: file, cancel, io_error: &io_error };
    let result = match format {
        Format::Gzip if size == 0 => {
            out.push(Failure::whole(format, "no gzip member (empty file)"));
            Ok(())
        }
        Format::Gzip | Format::Zstd => check_compressed(&mut raw, format, name, options, out),
        _ if size <= WHOLE_FILE => {
            let mut data = Vec::with_capacity(size as usize + 1);
            raw.read_to_end(&mut data)?;
            check_content(format, Input::Bytes(&data), options, out)
        }
        _ => check_content(format, Input::Stream(&mut raw), options, out),
    };
    if let Some(e) = io_error.into_inner() {
        out.clear();
        return Err(e);
    }
    result
}

/// The file as read: keeps the first error of the file itself (not of a decoder above it),
/// and stops reading once the call is cancelled.
struct Tracked<'a> {
    inner: File,
    cancel: &'a CancelToken,
    io_error: &'a RefCell<Option<io::Error>>,
}

impl Read for Tracked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = if self.cancel.is_cancelled() {
            // Not `Interrupted`: readers retry those, and this one must end the file.
            Err(io::Error::other("cancelled"))
        } else {
            loop {
                match self.inner.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            }
        };
        match result {
            Ok(n) => Ok(n),
            Err(e) => {
                let echo = io::Error::new(e.kind(), e.to_string());
                self.io_error.borrow_mut().get_or_insert(e);
                Err(echo)
            }
        }
    }
}

/// What a content check reads: the whole text, or a stream.
enum Input<'a> {
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read),
}

fn check_compressed(
    raw: &mut Tracked<'_>,
    format: Format,
    name: &[u8],
    options: &ValidateOptions,
    out: &mut Vec<Failure>,
) -> io::Result<()> {
    let decoded = BufReader::with_capacity(CHUNK, raw);
    let broken = RefCell::new(None);
    let mut stream: Box<dyn Read> = match format {
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(decoded)),
        _ => Box::new(ZstdFrames::new(decoded)),
    };
    let mut content = Decoded { inner: &mut *stream, broken: &broken };
    let inner = if options.format.is_some() && options.format != Some(format) {
        None
    } else {
        Format::inner_of(name, format)
    };
    let result = match inner {
        Some(inner) => check_content(inner, Input::Stream(&mut content), options, out)
            .and_then(|()| io::copy(&mut content, &mut io::sink()).map(|_| ())),
        None => io::copy(&mut content, &mut io::sink()).map(|_| ()),
    };
    if let Some(message) = broken.into_inner() {
        out.clear();
        out.push(Failure::whole(format, message));
        return Ok(());
    }
    result
}

/// A decoder's output: keeps the first error that is the stream's own (corrupt, truncated).
struct Decoded<'a> {
    inner: &'a mut dyn Read,
    broken: &'a RefCell<Option<String>>,
}

impl Read for Decoded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            let message = match e.kind() {
                io::ErrorKind::UnexpectedEof => "truncated: the stream ends early".to_string(),
                _ => e.to_string(),
            };
            self.broken.borrow_mut().get_or_insert(message);
        })
    }
}

/// Every zstd frame of a stream, each checked against its content checksum when it has one;
/// skippable frames are skipped.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
    frames: u64,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        ZstdFrames {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
            frames: 0,
        }
    }
}

/// ruzstd's errors in the words the gzip ones use (its own say `BadMagicNumber(1651663207)`, or
/// `failed to fill whole buffer` for a cut stream).
fn zstd_error(e: impl fmt::Display) -> io::Error {
    let text = e.to_string();
    let message = if text.contains("failed to fill whole buffer") {
        "truncated: the stream ends early".to_string()
    } else if text.contains("BadMagicNumber") {
        "not a zstd stream (bad magic number)".to_string()
    } else {
        text
    };
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while d.can_collect() == 0 && !d.is_finished() {
                    d.decode_blocks(
                        &mut self.source,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1),
                    )
                    .map_err(zstd_error)?;
                }
                let n = d.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                if let (Some(stored), Some(computed)) =
                    (d.get_checksum_from_data(), d.get_calculated_checksum())
                {
                    if stored != computed {
                        return Err(zstd_error(format!(
                            "frame {}: checksum mismatch (stored {stored:08x}, computed {computed:08x})",
                            self.frames + 1
                        )));
                    }
                }
                self.in_frame = false;
                self.frames += 1;
                continue;
            }
            if self.source.fill_buf()?.is_empty() {
                if self.frames == 0 {
                    return Err(zstd_error("no zstd frame (empty file)"));
                }
                return Ok(0);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                    }
                    self.frames += 1;
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

fn check_content(
    format: Format,
    input: Input<'_>,
    options: &ValidateOptions,
    out: &mut Vec<Failure>,
) -> io::Result<()> {
    match format {
        Format::Json => check_json(input, options.schema.as_ref(), out),
        Format::Jsonl => check_jsonl(reader_of(input), options.schema.as_ref(), out),
        Format::Csv => check_csv(reader_of(input), Format::Csv, b',', options.header, out),
        Format::Tsv => check_csv(reader_of(input), Format::Tsv, b'\t', options.header, out),
        Format::Utf8 => check_utf8(reader_of(input), Format::Utf8, out).map(|_| ()),
        Format::Xml | Format::Toml | Format::Yaml => {
            let mut owned = Vec::new();
            let data = match input {
                Input::Bytes(data) => data,
                Input::Stream(r) => {
                    r.take(MAX_WHOLE + 1).read_to_end(&mut owned)?;
                    if owned.len() as u64 > MAX_WHOLE {
                        out.push(Failure::whole(
                            format,
                            format!("larger than {} MiB: not parsed", MAX_WHOLE >> 20),
                        ));
                        return Ok(());
                    }
                    &owned
                }
            };
            match format {
                Format::Xml => check_xml(data, out),
                Format::Toml => check_toml(data, out),
                _ => check_yaml(data, out),
            }
            Ok(())
        }
        Format::Gzip | Format::Zstd => unreachable!("compressed content is checked as a stream"),
    }
}

fn reader_of<'a>(input: Input<'a>) -> Box<dyn Read + 'a> {
    match input {
        Input::Bytes(data) => Box::new(data),
        Input::Stream(r) => Box::new(r),
    }
}

/// (line, column), 1-based, of byte `offset` of `data`; the column counts bytes.
pub fn line_col(data: &[u8], offset: usize) -> (u64, u64) {
    let before = &data[..offset.min(data.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    (line, (before.len() - start) as u64 + 1)
}

/// serde_json's message without its " at line L column C" (the row has them).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    }
}

fn json_failure(format: Format, e: &serde_json::Error, line: Option<u64>) -> Failure {
    let message = json_message(e);
    // serde_json says column 0 when it met the error at a line break: the next line's start.
    let column = (e.column() as u64).max(1);
    match line {
        // JSON lines: the line is the file's; serde_json's column is within it.
        Some(line) => Failure::at(format, line, column, message),
        None if e.line() > 0 => Failure::at(format, e.line() as u64, column, message),
        None => Failure::whole(format, message),
    }
}

fn schema_failures(
    schema: &Schema,
    value: &serde_json::Value,
    format: Format,
    line: Option<u64>,
    out: &mut Vec<Failure>,
) {
    for error in schema.0.iter_errors(value) {
        if out.len() >= MAX_FAILURES_PER_FILE {
            return;
        }
        let at = error.instance_path().to_string();
        let at = if at.is_empty() { "/".to_string() } else { at };
        out.push(Failure { format, line, column: None, message: format!("schema: {at}: {error}") });
    }
}

fn check_json(input: Input<'_>, schema: Option<&Schema>, out: &mut Vec<Failure>) -> io::Result<()> {
    let f = Format::Json;
    match (input, schema) {
        (Input::Bytes(data), None) => {
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(data) {
                out.push(json_failure(f, &e, None));
            }
        }
        (Input::Stream(r), None) => {
            match serde_json::from_reader::<_, IgnoredAny>(BufReader::with_capacity(CHUNK, r)) {
                Err(e) if e.is_io() => return Err(e.into()),
                Err(e) => out.push(json_failure(f, &e, None)),
                Ok(_) => {}
            }
        }
        (input, Some(schema)) => {
            let parsed = match input {
                Input::Bytes(data) => serde_json::from_slice::<serde_json::Value>(data),
                Input::Stream(r) => serde_json::from_reader(BufReader::with_capacity(CHUNK, r)),
            };
            match parsed {
                Err(e) if e.is_io() => return Err(e.into()),
                Err(e) => out.push(json_failure(f, &e, None)),
                Ok(value) => schema_failures(schema, &value, f, None, out),
            }
        }
    }
    Ok(())
}

/// JSON lines: every line is one JSON value; empty lines (and lines of white space alone) are
/// allowed and skipped. Each bad line is a row, up to [`MAX_FAILURES_PER_FILE`].
fn check_jsonl(
    input: Box<dyn Read + '_>,
    schema: Option<&Schema>,
    out: &mut Vec<Failure>,
) -> io::Result<()> {
    let f = Format::Jsonl;
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match schema {
            None => {
                if let Err(e) = serde_json::from_slice::<IgnoredAny>(text) {
                    out.push(json_failure(f, &e, Some(number)));
                }
            }
            Some(schema) => match serde_json::from_slice::<serde_json::Value>(text) {
                Err(e) => out.push(json_failure(f, &e, Some(number))),
                Ok(value) => schema_failures(schema, &value, f, Some(number), out),
            },
        }
        if out.len() >= MAX_FAILURES_PER_FILE {
            return Ok(());
        }
    }
}

/// The whole stream is UTF-8; the failure names the line and column of the first bad byte (and
/// its offset in the message). Returns whether it passed.
fn check_utf8(mut input: impl Read, format: Format, out: &mut Vec<Failure>) -> io::Result<bool> {
    let mut buf = vec![0u8; CHUNK + 4];
    let mut carry = 0usize; // bytes of an unfinished sequence kept at buf's start
    let mut offset = 0u64; // of buf[0] in the stream
    let mut line = 1u64;
    let mut line_start = 0u64;
    loop {
        let n = match input.read(&mut buf[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let data = &buf[..carry + n];
        let (valid, bad) = match std::str::from_utf8(data) {
            Ok(_) => (data.len(), None),
            Err(e) => (e.valid_up_to(), Some(e.error_len())),
        };
        for i in memchr_all(&data[..valid]) {
            line += 1;
            line_start = offset + i as u64 + 1;
        }
        let at = offset + valid as u64;
        let fail = |what: String| {
            Failure::at(
                format,
                line,
                at - line_start + 1,
                format!("invalid UTF-8: {what} at byte offset {at}"),
            )
        };
        match bad {
            Some(Some(_)) => {
                out.push(fail(format!("byte 0x{:02x}", data[valid])));
                return Ok(false);
            }
            Some(None) if n == 0 => {
                out.push(fail("a sequence cut short by the end of the file".to_string()));
                return Ok(false);
            }
            None if n == 0 => return Ok(true),
            _ => {
                // Keep the unfinished sequence (at most 3 bytes) for the next read.
                let rest = data.len() - valid;
                buf.copy_within(valid..valid + rest, 0);
                offset = at;
                carry = rest;
            }
        }
    }
}

fn memchr_all(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    data.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of `""`.
    QuoteInQuoted,
}

/// RFC 4180: fields separated by `delimiter`, records by CRLF, LF or CR; a field in double
/// quotes may hold delimiters, line breaks and `""`; a quote anywhere else is a failure, as is
/// a quoted field never closed, or a record whose number of fields is not the first record's.
/// With `header`: the first record is a header of non-empty, unique names. The first failure
/// ends the check.
fn check_csv(
    mut input: impl Read,
    format: Format,
    delimiter: u8,
    header: bool,
    out: &mut Vec<Failure>,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut state = CsvState::FieldStart;
    let (mut line, mut line_start, mut offset) = (1u64, 0u64, 0u64);
    let mut after_cr = false;
    let mut fields = 0u64; // of the current record, ended so far
    let mut expected: Option<u64> = None;
    let mut record_line = 1u64;
    let mut quote_at = (1u64, 1u64);
    let mut names: Vec<Vec<u8>> = vec![Vec::new()];
    let mut in_record = false;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for (i, &b) in buf[..n].iter().enumerate() {
            let pos = offset + i as u64;
            let column = pos - line_start + 1;
            if after_cr {
                after_cr = false;
                if b == b'\n' {
                    line_start = pos + 1;
                    continue;
                }
            }
            if !in_record {
                in_record = true;
                record_line = line;
            }
            let collecting = header && expected.is_none();
            let mut end_field = false;
            let mut end_record = false;
            match state {
                CsvState::FieldStart | CsvState::Unquoted => {
                    if b == delimiter {
                        end_field = true;
                    } else if b == b'\n' || b == b'\r' {
                        end_record = true;
                    } else if b == b'"' {
                        if state == CsvState::Unquoted {
                            out.push(Failure::at(
                                format,
                                line,
                                column,
                                "a quote in an unquoted field",
                            ));
                            return Ok(());
                        }
                        state = CsvState::Quoted;
                        quote_at = (line, column);
                    } else {
                        state = CsvState::Unquoted;
                        if collecting {
                            names.last_mut().expect("a field").push(b);
                        }
                    }
                }
                CsvState::Quoted => {
                    if b == b'"' {
                        state = CsvState::QuoteInQuoted;
                    } else if collecting {
                        names.last_mut().expect("a field").push(b);
                    }
                }
                CsvState::QuoteInQuoted => {
                    if b == b'"' {
                        state = CsvState::Quoted;
                        if collecting {
                            names.last_mut().expect("a field").push(b);
                        }
                    } else if b == delimiter {
                        end_field = true;
                    } else if b == b'\n' || b == b'\r' {
                        end_record = true;
                    } else {
                        out.push(Failure::at(
                            format,
                            line,
                            column,
                            "a character after the closing quote of a field",
                        ));
                        return Ok(());
                    }
                }
            }
            if b == b'\n' || b == b'\r' {
                // A line break inside a quoted field is part of it; either way the line ends.
                line += 1;
                line_start = pos + 1;
                after_cr = b == b'\r';
            }
            if end_field {
                fields += 1;
                state = CsvState::FieldStart;
                if collecting {
                    names.push(Vec::new());
                }
            }
            if end_record {
                fields += 1;
                state = CsvState::FieldStart;
                in_record = false;
                if let Some(f) =
                    end_csv_record(format, header, fields, &mut expected, record_line, &names)
                {
                    out.push(f);
                    return Ok(());
                }
                fields = 0;
            }
        }
        offset += n as u64;
    }
    match state {
        CsvState::Quoted => {
            out.push(Failure::at(format, quote_at.0, quote_at.1, "a quoted field is never closed"));
            return Ok(());
        }
        _ if in_record => {
            if let Some(f) =
                end_csv_record(format, header, fields + 1, &mut expected, record_line, &names)
            {
                out.push(f);
                return Ok(());
            }
        }
        _ => {}
    }
    if header && expected.is_none() {
        out.push(Failure::whole(format, "no header: the file is empty"));
    }
    Ok(())
}

fn end_csv_record(
    format: Format,
    header: bool,
    fields: u64,
    expected: &mut Option<u64>,
    line: u64,
    names: &[Vec<u8>],
) -> Option<Failure> {
    match *expected {
        None => {
            *expected = Some(fields);
            if header {
                for (i, name) in names.iter().enumerate() {
                    if name.is_empty() {
                        return Some(Failure::at(
                            format,
                            line,
                            1,
                            format!("header: field {} has no name", i + 1),
                        ));
                    }
                    if let Some(first) = names[..i].iter().position(|n| n == name) {
                        let shown = String::from_utf8_lossy(name);
                        return Some(Failure::at(
                            format,
                            line,
                            1,
                            format!(
                                "header: field {} repeats the name {shown:?} of field {}",
                                i + 1,
                                first + 1
                            ),
                        ));
                    }
                }
            }
            None
        }
        Some(n) if n != fields => Some(Failure::at(
            format,
            line,
            1,
            format!(
                "{fields} field{} where the first record has {n}",
                if fields == 1 { "" } else { "s" }
            ),
        )),
        Some(_) => None,
    }
}

/// Text that the XML, TOML and YAML parsers need as `str`: not UTF-8 is a failure of `format`.
fn text_of(data: &[u8], format: Format, out: &mut Vec<Failure>) -> Option<String> {
    match std::str::from_utf8(data) {
        Ok(text) => Some(text.to_string()),
        Err(_) => {
            let _ = check_utf8(data, format, out);
            None
        }
    }
}

fn check_toml(data: &[u8], out: &mut Vec<Failure>) {
    let f = Format::Toml;
    let Some(text) = text_of(data, f, out) else { return };
    if let Err(e) = text.parse::<toml::Table>() {
        let message = e.message().trim_end().to_string();
        out.push(match e.span() {
            Some(span) => {
                let (line, column) = line_col(data, span.start);
                Failure::at(f, line, column, message)
            }
            None => Failure::whole(f, message),
        });
    }
}

fn check_yaml(data: &[u8], out: &mut Vec<Failure>) {
    let f = Format::Yaml;
    let Some(text) = text_of(data, f, out) else { return };
    let mut parser = yaml_rust2::parser::Parser::new_from_str(&text);
    loop {
        match parser.next_token() {
            Ok((yaml_rust2::parser::Event::StreamEnd, _)) => return,
            Ok(_) => {}
            Err(e) => {
                let m = e.marker();
                let (line, column) = line_col(data, byte_index(&text, m.index()));
                out.push(Failure::at(f, line, column, e.info().to_string()));
                return;
            }
        }
    }
}

/// yaml-rust2's markers count characters: the byte index of character `chars`.
fn byte_index(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map_or(text.len(), |(i, _)| i)
}

/// Well-formed XML: quick-xml's checks (tags, end names matching, attributes, comments), one
/// root element, no text outside it, every element closed, entity references that are the
/// predefined five or character references (any name is accepted with a DOCTYPE, which may
/// declare it). DTDs are not read and nothing is validated against them.
fn check_xml(data: &[u8], out: &mut Vec<Failure>) {
    use quick_xml::events::Event;
    let f = Format::Xml;
    let mut reader = quick_xml::Reader::from_reader(data);
    let config = reader.config_mut();
    config.check_comments = true;
    config.check_end_names = true;
    let mut open: Vec<usize> = Vec::new(); // offsets of the open elements' start tags
    let mut root_seen = false;
    let mut doctype = false;
    let fail = |at: usize, message: String, out: &mut Vec<Failure>| {
        let (line, column) = line_col(data, at);
        out.push(Failure::at(f, line, column, message));
    };
    loop {
        let start = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return fail(reader.error_position() as usize, e.to_string(), out),
        };
        let at_top = open.is_empty();
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if at_top && root_seen {
                    return fail(start, "a second root element".into(), out);
                }
                root_seen = true;
                for attribute in e.attributes() {
                    if let Err(err) = attribute {
                        return fail(start, format!("attribute: {err}"), out);
                    }
                }
                if matches!(event, Event::Start(_)) {
                    open.push(start);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(ref t) if at_top && !t.as_bytes().iter().all(u8::is_ascii_whitespace) => {
                let skip = t.as_bytes().iter().take_while(|b| b.is_ascii_whitespace()).count();
                return fail(start + skip, "text outside the root element".into(), out);
            }
            Event::CData(_) if at_top => {
                return fail(start, "CDATA outside the root element".into(), out);
            }
            Event::GeneralRef(ref r) => {
                if at_top {
                    return fail(start, "a reference outside the root element".into(), out);
                }
                let known = match r.is_char_ref() {
                    true => matches!(r.resolve_char_ref(), Ok(Some(_))),
                    false => matches!(&**r, "lt" | "gt" | "amp" | "apos" | "quot") || doctype,
                };
                if !known {
                    let name: &str = r;
                    return fail(start, format!("unknown entity reference &{name};"), out);
                }
            }
            Event::DocType(_) => doctype = true,
            Event::Eof => {
                if let Some(&at) = open.last() {
                    return fail(at, "an element is never closed".into(), out);
                }
                if !root_seen {
                    out.push(Failure::whole(f, "no root element"));
                }
                return;
            }
            _ => {}
        }
    }
}
