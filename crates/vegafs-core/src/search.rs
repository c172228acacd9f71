//! `search`: lines matching a regex (or fixed strings) in the selected regular files, with
//! ripgrep's own crates (`grep-regex` compiles the pattern, `grep-searcher` reads each file: line
//! splitting, context, binary detection, UTF-16 BOM transcoding).
//!
//! Each walker thread's visitor holds its own `Searcher` (and its buffer) and a clone of the
//! matcher, opens each regular file from its directory's handle ([`Entry::open_file`]: never a
//! FIFO, socket or device, never through a symlink unless the Selection follows them) and sends
//! what it found down the row channel in one of two shapes:
//!
//! - [`SearchOutput::Rows`]: one [`SearchRow`] per matching or context line (or per file with
//!   `count`, `files_with_matches`, `files_without_match`), for jobs, JSON and the Python API;
//! - [`SearchOutput::Text`]: lines already formatted like `rg -n --with-filename`
//!   (`path:line:text`, `path-line-text` for context, `path:count`, `path`), in chunks of about
//!   64 KiB holding whole files, so that the consumer only writes bytes (formatting rows in
//!   Python costs more than the search itself). A file's lines are never split between chunks.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};

use crate::analyze::{keep_first_errors, record_error};
use crate::control::{CancelToken, Control};
use crate::error::{CoreError, WalkError};
use crate::rows::RowSink;
use crate::selection::{EntryType, Selection};
use crate::walk::{walk, Entry, Visitor};

/// A text chunk is sent once it holds this many bytes (whole files only).
pub const TEXT_CHUNK: usize = 64 * 1024;

/// What is reported per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Every matching line (and context lines).
    #[default]
    Lines,
    /// The number of matching lines of each file with a match (`rg -c`).
    Count,
    /// The path of each file with a match (`rg -l`); a file's search stops at its first match.
    FilesWithMatches,
    /// The path of each searched file without a match (`rg --files-without-match`).
    FilesWithoutMatch,
}

/// How results leave the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchOutput {
    #[default]
    Rows,
    /// Ready lines of text (see the module doc).
    Text,
}

/// The pattern and how to match it; [`SearchOptions::matcher`] compiles it.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// At least one; a line matches when any of them does.
    pub patterns: Vec<String>,
    pub fixed_strings: bool,
    pub ignore_case: bool,
    /// Case-insensitive unless a pattern has an upper-case letter (ignored with `ignore_case`).
    pub smart_case: bool,
    pub word: bool,
    pub whole_line: bool,
    /// Matches may span lines (`\n` in the pattern); files are read whole.
    pub multiline: bool,
    pub before_context: usize,
    pub after_context: usize,
    pub mode: SearchMode,
    /// At most this many matching lines per file.
    pub max_count: Option<u64>,
    /// Text output: each match alone on its line (`rg -o`). Rows always carry the whole line
    /// and the matches' offsets in it.
    pub only_matching: bool,
    /// Search files that have a NUL byte to the end, a NUL ending a line (`rg --binary`, which
    /// `rg -uuu` implies). By default their search stops at the first NUL read (rg's default);
    /// either way they are counted as binary.
    pub binary: bool,
    pub output: SearchOutput,
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

impl SearchOptions {
    /// The compiled pattern, or [`CoreError::InvalidPattern`] (bad syntax, over the size or
    /// nesting limit) before anything is read.
    pub fn matcher(&self) -> Result<RegexMatcher, CoreError> {
        if self.patterns.is_empty() {
            return Err(CoreError::InvalidPattern("no pattern given".into()));
        }
        let mut b = RegexMatcherBuilder::new();
        b.case_insensitive(self.ignore_case)
            .case_smart(self.smart_case && !self.ignore_case)
            .word(self.word)
            .whole_line(self.whole_line)
            .fixed_strings(self.fixed_strings)
            .multi_line(true); // ^ and $ match at line boundaries, as in rg
        if !self.multiline {
            b.line_terminator(Some(b'\n'));
        }
        b.build_many(&self.patterns).map_err(|e| CoreError::InvalidPattern(e.to_string()))
    }

    fn searcher(&self) -> Searcher {
        let mut b = SearcherBuilder::new();
        let lines = self.mode == SearchMode::Lines;
        b.line_number(lines)
            .multi_line(self.multiline)
            .before_context(if lines { self.before_context } else { 0 })
            .after_context(if lines { self.after_context } else { 0 })
            .max_matches(self.max_count)
            .bom_sniffing(true)
            .binary_detection(if self.binary {
                // rg --binary (and so rg -uuu): a NUL ends a line, the search goes on.
                BinaryDetection::convert(b'\0')
            } else {
                BinaryDetection::quit(b'\0')
            });
        b.build()
    }
}

/// Whether a line row is a match or context around one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Match,
    Context,
}

/// One result; which kinds come depends on [`SearchMode`] and [`SearchOutput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchRow {
    Line {
        path: PathBuf,
        kind: LineKind,
        /// 1-based.
        line_number: u64,
        /// Of the line's first byte in the file (in the UTF-8 text for a transcoded file).
        byte_offset: u64,
        /// The line without its terminator.
        line: Vec<u8>,
        /// `[start, end)` byte offsets of each match in `line` (empty for context).
        submatches: Vec<(usize, usize)>,
    },
    Count {
        path: PathBuf,
        count: u64,
    },
    File {
        path: PathBuf,
    },
    /// Formatted lines of whole files ([`SearchOutput::Text`]).
    Text(Vec<u8>),
}

/// What a search saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchSummary {
    /// Regular files opened and searched (binary ones included).
    pub files_searched: u64,
    pub files_matched: u64,
    /// Searched files without a match (binary files that were skipped included).
    pub files_without_match: u64,
    /// Matching lines, at most `max_count` per file.
    pub matched_lines: u64,
    /// Files with a NUL byte in what was read (their search stopped there without `binary`).
    pub binary_files: u64,
    /// st_size of the searched files.
    pub bytes_searched: u64,
    pub error_count: u64,
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl SearchSummary {
    fn merge(&mut self, other: SearchSummary, max_errors: usize) {
        self.files_searched += other.files_searched;
        self.files_matched += other.files_matched;
        self.files_without_match += other.files_without_match;
        self.matched_lines += other.matched_lines;
        self.binary_files += other.binary_files;
        self.bytes_searched += other.bytes_searched;
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, max_errors);
    }
}

/// Checks the pattern (see [`SearchOptions::matcher`]) without searching anything.
pub fn check_pattern(options: &SearchOptions) -> Result<(), CoreError> {
    options.matcher().map(drop)
}

/// Searches the selected regular files; rows go to `rows` (see [`crate::list::list`] for how
/// the channel, cancelling and a dropped receiver behave).
pub fn search(
    selection: &Selection,
    options: &SearchOptions,
    control: &Control,
    rows: RowSink<SearchRow>,
) -> Result<SearchSummary, CoreError> {
    let start = Instant::now();
    let matcher = options.matcher()?;
    let parts = walk(selection, control, || FileSearcher {
        options,
        matcher: matcher.clone(),
        searcher: options.searcher(), // not Sync: one per visitor (visitors are pooled)
        cancel: control.cancel.clone(),
        summary: SearchSummary::default(),
        rows: rows.clone(),
        text: Vec::new(),
    })?;
    drop(rows);
    let mut total = SearchSummary::default();
    for mut part in parts {
        part.send_text(true);
        part.rows.flush();
        total.merge(part.summary, options.max_errors);
    }
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// One walker thread's searcher: the visitor.
struct FileSearcher<'o> {
    options: &'o SearchOptions,
    matcher: RegexMatcher,
    searcher: Searcher,
    cancel: CancelToken,
    summary: SearchSummary,
    rows: RowSink<SearchRow>,
    /// Text output not yet sent: whole files.
    text: Vec<u8>,
}

impl FileSearcher<'_> {
    fn send_text(&mut self, all: bool) {
        if !self.text.is_empty() && (all || self.text.len() >= TEXT_CHUNK) {
            let chunk = std::mem::replace(&mut self.text, Vec::with_capacity(TEXT_CHUNK));
            self.rows.push(SearchRow::Text(chunk));
        }
    }

    /// Searches one file; its size.
    fn search_file(&mut self, entry: &Entry<'_>) -> io::Result<u64> {
        // The walker did not stat the file (FILE_META): its size comes from the open file.
        let (file, meta) = entry.open_file_with_meta()?;
        let path = entry.path();
        let options = self.options;
        let text = options.output == SearchOutput::Text;
        let mut sink = FileSink {
            options,
            matcher: &self.matcher,
            cancel: &self.cancel,
            path: &path,
            prefix: Vec::new(),
            text: &mut self.text,
            rows: &mut self.rows,
            matched_lines: 0,
            binary: false,
            last_line: 0,
        };
        let text_before = sink.text.len();
        let outcome = self.searcher.search_file(&self.matcher, &file, &mut sink);
        let (matched, binary) = (sink.matched_lines, sink.binary);
        if let Err(e) = outcome {
            self.text.truncate(text_before); // no half file in the output
            return Err(e);
        }
        let s = &mut self.summary;
        s.files_searched += 1;
        s.bytes_searched += meta.size;
        s.matched_lines += matched;
        s.binary_files += u64::from(binary);
        if matched > 0 {
            s.files_matched += 1;
        } else {
            s.files_without_match += 1;
        }
        let report = match options.mode {
            SearchMode::Lines => None,
            SearchMode::Count if matched > 0 => Some(SearchRow::Count { path, count: matched }),
            SearchMode::FilesWithMatches if matched > 0 => Some(SearchRow::File { path }),
            SearchMode::FilesWithoutMatch if matched == 0 => Some(SearchRow::File { path }),
            _ => None,
        };
        match report {
            Some(row) if text => {
                match &row {
                    SearchRow::Count { path, count } => {
                        write_path(&mut self.text, path);
                        self.text.push(b':');
                        write_number(&mut self.text, *count);
                    }
                    SearchRow::File { path } => write_path(&mut self.text, path),
                    _ => unreachable!(),
                }
                self.text.push(b'\n');
            }
            Some(row) => {
                self.rows.push(row);
            }
            None => {}
        }
        if text {
            self.send_text(false);
        }
        Ok(meta.size)
    }
}

impl Visitor for FileSearcher<'_> {
    // One stat per file fewer: `open_file_with_meta` checks the type and gives the size.
    const FILE_META: bool = false;

    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.meta.kind != EntryType::File || self.rows.is_closed() {
            return 0;
        }
        match self.search_file(entry) {
            Ok(size) => size,
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

/// What `grep-searcher` reports for one file goes here.
struct FileSink<'a> {
    options: &'a SearchOptions,
    matcher: &'a RegexMatcher,
    cancel: &'a CancelToken,
    path: &'a Path,
    /// The path as printed, with its separator, once the file has a line to print.
    prefix: Vec<u8>,
    text: &'a mut Vec<u8>,
    rows: &'a mut RowSink<SearchRow>,
    matched_lines: u64,
    binary: bool,
    /// The last line number printed (multi-line matches may repeat lines).
    last_line: u64,
}

impl FileSink<'_> {
    fn submatches(&self, line: &[u8]) -> io::Result<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        self.matcher
            .find_iter(line, |m| {
                if m.start() < m.end() || out.is_empty() {
                    out.push((m.start(), m.end()));
                }
                true
            })
            .map_err(io::Error::other)?;
        Ok(out)
    }

    /// One line of text output: `path:N:line` (`-` instead of `:` for context).
    fn write_line(&mut self, sep: u8, number: u64, line: &[u8]) {
        if self.prefix.is_empty() {
            write_path(&mut self.prefix, self.path);
        }
        let out = &mut *self.text;
        out.extend_from_slice(&self.prefix);
        out.push(sep);
        write_number(out, number);
        out.push(sep);
        out.extend_from_slice(line);
        out.push(b'\n');
    }

    fn line(&mut self, kind: LineKind, number: u64, offset: u64, line: &[u8]) -> io::Result<()> {
        let line = strip_terminator(line);
        let text = self.options.output == SearchOutput::Text;
        match kind {
            LineKind::Context if text => self.write_line(b'-', number, line),
            LineKind::Match if text && self.options.only_matching => {
                for (start, end) in self.submatches(line)? {
                    let m = line[start..end].to_vec();
                    self.write_line(b':', number, &m);
                }
            }
            LineKind::Match if text => self.write_line(b':', number, line),
            _ => {
                let submatches = match kind {
                    LineKind::Match => self.submatches(line)?,
                    LineKind::Context => Vec::new(),
                };
                self.rows.push(SearchRow::Line {
                    path: self.path.to_path_buf(),
                    kind,
                    line_number: number,
                    byte_offset: offset,
                    line: line.to_vec(),
                    submatches,
                });
            }
        }
        Ok(())
    }
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> io::Result<bool> {
        if self.options.mode == SearchMode::Lines {
            // A multi-line match is one match; each of its lines is reported once.
            let mut offset = mat.absolute_byte_offset();
            for (number, line) in (mat.line_number().unwrap_or(0)..).zip(mat.lines()) {
                if number > self.last_line {
                    self.line(LineKind::Match, number, offset, line)?;
                    self.last_line = number;
                }
                offset += line.len() as u64;
            }
        }
        self.matched_lines += 1;
        Ok(match self.options.mode {
            SearchMode::FilesWithMatches | SearchMode::FilesWithoutMatch => false,
            _ => !self.cancel.is_cancelled(),
        })
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> io::Result<bool> {
        let number = context.line_number().unwrap_or(0);
        if *context.kind() != SinkContextKind::Other && number > self.last_line {
            self.line(LineKind::Context, number, context.absolute_byte_offset(), context.bytes())?;
            self.last_line = number;
        }
        Ok(!self.cancel.is_cancelled())
    }

    fn context_break(&mut self, _: &Searcher) -> io::Result<bool> {
        if self.options.output == SearchOutput::Text {
            self.text.extend_from_slice(b"--\n");
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _offset: u64) -> io::Result<bool> {
        self.binary = true;
        Ok(self.options.binary) // quit detection stops here anyway; convert goes on
    }
}

/// `n` in decimal, without an allocation.
fn write_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn strip_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A path as `vegafs.cli.values.show_path` shows it: bytes that are not UTF-8 as `\xNN`,
/// control characters (C0, DEL, C1) escaped (`\n`, `\t`, `\xNN`), so no name rewrites the
/// terminal and every name is shown.
pub fn write_path(out: &mut Vec<u8>, path: &Path) {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.extend_from_slice(b"\\n"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\0'..='\x1f' | '\x7f'..='\u{9f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn paths_are_shown_as_show_path_shows_them() {
        let mut out = Vec::new();
        write_path(&mut out, Path::new(OsStr::from_bytes(b"d/a\xffb\n\t\x1b\xc2\x85\xc3\xa9")));
        assert_eq!(out, b"d/a\\xffb\\n\\t\\x1b\\x85\xc3\xa9");
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        let mut out = Vec::new();
        for n in [0, 7, 10, 1234, u64::MAX] {
            write_number(&mut out, n);
            out.push(b' ');
        }
        assert_eq!(out, b"0 7 10 1234 18446744073709551615 ");
    }

    #[test]
    fn a_regex_over_the_nesting_limit_is_refused() {
        let deep = format!("{}a{}", "(".repeat(300), ")".repeat(300));
        let options = SearchOptions { patterns: vec![deep], ..Default::default() };
        let err = check_pattern(&options).unwrap_err().to_string();
        assert!(err.contains("nest"), "{err}");
    }
}
