//! `search(selection, options, *, text, batch_size, progress=None, cancel=None) -> RowStream`
//! and `check_pattern(options)`.
//!
//! `options` is a dict with every field of [`SearchArg`]. Rows (`text=False`): dicts shaped like
//! the engine's `SearchRow`; with `text=True`: `bytes` objects, each holding whole files' lines
//! already formatted (see `vegafs_core::search`). Summary: [`SearchSummary`].

use std::ffi::OsString;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use vegafs_core::search::{LineKind, SearchMode, SearchOptions, SearchOutput, SearchRow};
use vegafs_core::Selection;

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, to_pyerr, ErrorRow};
use crate::rows::{start_walk, RowStream};
use crate::selection::SelectionArg;

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct SearchArg {
    patterns: Vec<String>,
    fixed_strings: bool,
    ignore_case: bool,
    smart_case: bool,
    word_regexp: bool,
    line_regexp: bool,
    multiline: bool,
    before_context: usize,
    after_context: usize,
    mode: String,
    max_count: Option<u64>,
    only_matching: bool,
    binary: bool,
    max_errors: usize,
}

impl SearchArg {
    pub(crate) fn options(self, text: bool) -> PyResult<SearchOptions> {
        let mode = match self.mode.as_str() {
            "lines" => SearchMode::Lines,
            "count" => SearchMode::Count,
            "files_with_matches" => SearchMode::FilesWithMatches,
            "files_without_match" => SearchMode::FilesWithoutMatch,
            other => return Err(PyValueError::new_err(format!("unknown search mode {other:?}"))),
        };
        Ok(SearchOptions {
            patterns: self.patterns,
            fixed_strings: self.fixed_strings,
            ignore_case: self.ignore_case,
            smart_case: self.smart_case,
            word: self.word_regexp,
            whole_line: self.line_regexp,
            multiline: self.multiline,
            before_context: self.before_context,
            after_context: self.after_context,
            mode,
            max_count: self.max_count,
            only_matching: self.only_matching,
            binary: self.binary,
            output: if text { SearchOutput::Text } else { SearchOutput::Rows },
            max_errors: self.max_errors,
        })
    }
}

#[pyfunction]
pub fn check_pattern(options: SearchArg) -> PyResult<()> {
    vegafs_core::search::check_pattern(&options.options(false)?).map_err(to_pyerr)
}

#[pyfunction]
#[pyo3(signature = (selection, options, *, text, batch_size, progress=None, cancel=None))]
pub fn search(
    selection: SelectionArg,
    options: SearchArg,
    text: bool,
    batch_size: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let options = options.options(text)?;
    // A bad pattern fails here, before a thread starts or anything is walked.
    options.matcher().map_err(to_pyerr)?;
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::search(selection, &options, control, sink),
        row_to_py,
        SearchSummary::new,
    )
}

fn row_to_py(py: Python<'_>, row: SearchRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    match row {
        SearchRow::Text(bytes) => return Ok(PyBytes::new(py, &bytes).into_any()),
        SearchRow::Line { path, kind, line_number, byte_offset, line, submatches } => {
            let kind = match kind {
                LineKind::Match => intern!(py, "match"),
                LineKind::Context => intern!(py, "context"),
            };
            d.set_item(intern!(py, "type"), kind)?;
            d.set_item(intern!(py, "path"), path.as_os_str())?;
            d.set_item(intern!(py, "line_number"), line_number)?;
            d.set_item(intern!(py, "byte_offset"), byte_offset)?;
            // Text as UTF-8, invalid bytes replaced; submatches are offsets in the raw bytes.
            d.set_item(intern!(py, "line"), String::from_utf8_lossy(&line))?;
            let spans: Vec<[usize; 2]> = submatches.into_iter().map(|(s, e)| [s, e]).collect();
            d.set_item(intern!(py, "submatches"), spans)?;
        }
        SearchRow::Count { path, count } => {
            d.set_item(intern!(py, "type"), intern!(py, "count"))?;
            d.set_item(intern!(py, "path"), path.as_os_str())?;
            d.set_item(intern!(py, "count"), count)?;
        }
        SearchRow::File { path } => {
            d.set_item(intern!(py, "type"), intern!(py, "file"))?;
            d.set_item(intern!(py, "path"), path.as_os_str())?;
        }
    }
    Ok(d.into_any())
}

/// What a finished search saw, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct SearchSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    files_searched: u64,
    #[pyo3(get)]
    files_matched: u64,
    #[pyo3(get)]
    files_without_match: u64,
    #[pyo3(get)]
    matched_lines: u64,
    #[pyo3(get)]
    binary_files: u64,
    #[pyo3(get)]
    bytes_searched: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl SearchSummary {
    fn new(roots: Vec<OsString>, s: vegafs_core::SearchSummary) -> Self {
        SearchSummary {
            roots,
            files_searched: s.files_searched,
            files_matched: s.files_matched,
            files_without_match: s.files_without_match,
            matched_lines: s.matched_lines,
            binary_files: s.binary_files,
            bytes_searched: s.bytes_searched,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
