//! `pipeline`: one walk, and every selected regular file passed through a sequence of built-in
//! steps in the walker's own task: a content filter ([`Step::Match`]), a digest ([`Step::Hash`]),
//! well-formedness ([`Step::Validate`], annotating or filtering).
//!
//! A file is opened once (from its directory's handle, as everywhere: never a FIFO, never through
//! a symlink unless the Selection follows them) and rewound between the steps that read it. A
//! filter that drops a file ends its journey: later steps never read it. A file that reaches the
//! end is one [`PipelineRow`] with what each step added. Nothing is walked twice.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grep_regex::RegexMatcher;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::hash::{digest_of, Algorithm};
use crate::rows::RowSink;
use crate::search::SearchOptions;
use crate::selection::EntryType;
use crate::validate::{check_file, Failure, Format, ValidateOptions};
use crate::walk::{walk, Entry, Visitor};
use crate::Selection;

/// One step of a pipeline.
#[derive(Debug, Clone)]
pub enum Step {
    /// Keeps the files with a line matching the pattern (`invert`: without one), as `rg -l`
    /// (`--files-without-match`) decides it: a binary file is searched up to its first NUL.
    /// Only the pattern fields of the options are used.
    Match { options: SearchOptions, invert: bool },
    /// Adds the file's digest to its row.
    Hash { algorithm: Algorithm },
    /// Checks the file as `validate` does (its format from `options.format` or its name) and
    /// adds the outcome to its row; `keep` may then drop it. A file of no known format is not
    /// read: it passes with [`Keep::All`] and is dropped by the others.
    Validate { options: ValidateOptions, keep: Keep },
}

/// Which files a validate step passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    #[default]
    All,
    Valid,
    Invalid,
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Match { .. } => "match",
            Step::Hash { .. } => "hash",
            Step::Validate { .. } => "validate",
        }
    }
}

/// A file that went through every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRow {
    pub path: PathBuf,
    pub size: u64,
    /// From a hash step (the last one, if several).
    pub digest: Option<String>,
    /// From a validate step: whether the file is well-formed (None: not validated, no step or
    /// no known format), and its first failure (`format: line L, column C: message`).
    pub valid: Option<bool>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

/// What a pipeline did: per step, the files that reached it and the files it passed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSummary {
    /// Regular files the walk selected (those that reached the first step).
    pub files: u64,
    /// `(files in, files out)` of each step, in order.
    pub steps: Vec<(u64, u64)>,
    /// Files that went through every step (rows sent).
    pub rows: u64,
    /// Bytes of those files.
    pub bytes: u64,
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order.
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl PipelineSummary {
    fn new(steps: usize) -> Self {
        PipelineSummary { steps: vec![(0, 0); steps], ..Default::default() }
    }

    fn merge(&mut self, other: PipelineSummary, max_errors: usize) {
        self.files += other.files;
        for (mine, theirs) in self.steps.iter_mut().zip(other.steps) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.rows += other.rows;
        self.bytes += other.bytes;
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, max_errors);
    }
}

/// A step ready to run: its pattern compiled once per walker task.
enum Ready {
    Match { matcher: RegexMatcher, searcher: Box<Searcher>, invert: bool },
    Hash { algorithm: Algorithm },
    Validate { options: ValidateOptions, keep: Keep },
}

impl Ready {
    fn new(step: &Step, matchers: &[Option<RegexMatcher>], index: usize) -> Ready {
        match step {
            Step::Match { options, invert } => {
                let matcher = matchers[index].clone().expect("compiled before the walk");
                let searcher = Box::new(
                    SearcherBuilder::new()
                        .line_number(false)
                        .multi_line(options.multiline)
                        .bom_sniffing(true)
                        .binary_detection(BinaryDetection::quit(b'\0'))
                        .build(),
                );
                Ready::Match { matcher, searcher, invert: *invert }
            }
            Step::Hash { algorithm } => Ready::Hash { algorithm: *algorithm },
            Step::Validate { options, keep } => {
                Ready::Validate { options: options.clone(), keep: *keep }
            }
        }
    }
}

struct Runner {
    steps: Vec<Ready>,
    cancel: crate::control::CancelToken,
    failures: Vec<Failure>,
    summary: PipelineSummary,
    options: PipelineOptions,
    rows: RowSink<PipelineRow>,
    buf: Vec<u8>,
}

impl Runner {
    /// Runs `entry` through the steps: its row (None: a filter dropped it), or an error.
    fn run(&mut self, entry: &Entry<'_>) -> io::Result<Option<PipelineRow>> {
        let (mut file, meta) = entry.open_file_with_meta()?;
        let mut row = PipelineRow {
            path: entry.path(),
            size: meta.size,
            digest: None,
            valid: None,
            problem: None,
        };
        let mut read = false; // the file's offset is no longer 0: rewind before reading it
        for (i, step) in self.steps.iter_mut().enumerate() {
            self.summary.steps[i].0 += 1;
            match step {
                Ready::Match { matcher, searcher, invert } => {
                    rewind(&mut file, &mut read)?;
                    if has_match(searcher, matcher, &file)? == *invert {
                        return Ok(None);
                    }
                }
                Ready::Hash { algorithm } => {
                    rewind(&mut file, &mut read)?;
                    let (size, digest) =
                        digest_of(&mut file, *algorithm, meta.size, &mut self.buf)?;
                    row.size = size;
                    row.digest = Some(digest);
                }
                Ready::Validate { options, keep } => {
                    let name = entry.name.as_bytes();
                    match options.format.or_else(|| Format::of_name(name)) {
                        // Of no known format: not read; passed on only when all are kept.
                        None if *keep != Keep::All => return Ok(None),
                        None => {}
                        Some(format) => {
                            rewind(&mut file, &mut read)?;
                            self.failures.clear();
                            let f = file.try_clone()?;
                            let (cancel, out) = (&self.cancel, &mut self.failures);
                            check_file(f, meta.size, format, name, options, cancel, out)?;
                            let valid = self.failures.is_empty();
                            row.valid = Some(valid);
                            row.problem = self.failures.first().map(describe);
                            if (*keep == Keep::Valid && !valid) || (*keep == Keep::Invalid && valid)
                            {
                                return Ok(None);
                            }
                        }
                    }
                }
            }
            self.summary.steps[i].1 += 1;
        }
        Ok(Some(row))
    }
}

/// Puts the file's offset back to 0 if a step read it already, and notes that the next one will.
fn rewind(file: &mut File, read: &mut bool) -> io::Result<()> {
    if *read {
        file.seek(SeekFrom::Start(0))?;
    }
    *read = true;
    Ok(())
}

/// A failure in one line: `json: line 3, column 7: expected value`.
fn describe(f: &Failure) -> String {
    match (f.line, f.column) {
        (Some(l), Some(c)) => format!("{}: line {l}, column {c}: {}", f.format, f.message),
        (Some(l), None) => format!("{}: line {l}: {}", f.format, f.message),
        _ => format!("{}: {}", f.format, f.message),
    }
}

/// Whether `file` has a line `matcher` matches; the search stops at the first one.
fn has_match(searcher: &mut Searcher, matcher: &RegexMatcher, file: &File) -> io::Result<bool> {
    let mut found = Found(false);
    searcher.search_file(matcher, file, &mut found)?;
    Ok(found.0)
}

/// A sink that notes the first match and stops the search there.
struct Found(bool);

impl Sink for Found {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, _: &SinkMatch<'_>) -> io::Result<bool> {
        self.0 = true;
        Ok(false)
    }
}

impl Visitor for Runner {
    // `open_file_with_meta` checks the type and gives the size: no stat per file.
    const FILE_META: bool = false;

    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.meta.kind != EntryType::File || self.rows.is_closed() {
            return 0;
        }
        self.summary.files += 1;
        match self.run(entry) {
            Ok(Some(row)) => {
                let size = row.size;
                self.summary.rows += 1;
                self.summary.bytes += size;
                // false: the consumer is gone and the walk's token cancelled; it stops soon.
                self.rows.push(row);
                size
            }
            Ok(None) => 0,
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

/// Checks what can be checked before a walk: every pattern compiles (the step's index named).
pub fn check_steps(steps: &[Step]) -> Result<(), CoreError> {
    compile(steps).map(|_| ())
}

fn compile(steps: &[Step]) -> Result<Vec<Option<RegexMatcher>>, CoreError> {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| match step {
            Step::Match { options, .. } => options
                .matcher()
                .map(Some)
                .map_err(|e| CoreError::InvalidPattern(format!("step {}: {}", i + 1, pattern(e)))),
            Step::Hash { .. } | Step::Validate { .. } => Ok(None),
        })
        .collect()
}

fn pattern(e: CoreError) -> String {
    match e {
        CoreError::InvalidPattern(message) => message,
        other => other.to_string(),
    }
}

/// Runs the selected regular files through `steps` into `rows` and returns the summary once
/// every row is sent. Rows, cancellation and the receiver going away work as for
/// [`crate::list`]. A pattern that does not compile fails before the walk.
pub fn pipeline(
    selection: &Selection,
    steps: &[Step],
    options: PipelineOptions,
    control: &Control,
    rows: RowSink<PipelineRow>,
) -> Result<PipelineSummary, CoreError> {
    let start = Instant::now();
    let matchers = compile(steps)?;
    let parts = walk(selection, control, || Runner {
        steps: steps.iter().enumerate().map(|(i, s)| Ready::new(s, &matchers, i)).collect(),
        cancel: control.cancel.clone(),
        failures: Vec::new(),
        summary: PipelineSummary::new(steps.len()),
        options,
        rows: rows.clone(),
        buf: Vec::new(),
    })?;
    drop(rows);
    let mut total = PipelineSummary::new(steps.len());
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
