//! `plan_replace(selection, options, *, progress=None, cancel=None) -> (rows, ReplaceSummary)`,
//! `check_replace(options)`, and what applying a plan needs: `replace_files(options, steps,
//! cancel=None, *, beneath=[]) -> (done, error)`, `restore_files(steps, *, beneath=[]) ->
//! (reversed, not_done, error)`, `content_digests(paths, *, beneath=[])`: `beneath`, a job's
//! roots, every file reached beneath them without following a symlink (empty: anywhere).
//!
//! `options`: a dict with every field of [`ReplaceArg`]. Rows: dicts `{"path": str, "target":
//! str, "action": "replace" | "refused", "reason": str | None, "replacements": int, "diff":
//! bytes, "dev", "ino", "stamp", "size": int, "digest": bytes}`, by path. Planning changes
//! nothing on disk.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::path::PathBuf;

use vegafs_core::replace::{ReplaceAction, ReplaceOptions, ReplaceRow, Replacer};
use vegafs_core::rewrite::RewriteStep;
use vegafs_core::Selection;

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::errors::{error_rows, io_error_tuple, to_pyerr, ErrorRow};
use crate::rename::{places, OsErrorTuple};
use crate::selection::SelectionArg;

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct ReplaceArg {
    pattern: String,
    replacement: String,
    fixed_strings: bool,
    ignore_case: bool,
    word_regexp: bool,
    max_errors: usize,
}

impl ReplaceArg {
    fn options(self) -> ReplaceOptions {
        ReplaceOptions {
            pattern: self.pattern,
            replacement: self.replacement,
            fixed_strings: self.fixed_strings,
            ignore_case: self.ignore_case,
            word: self.word_regexp,
            max_errors: self.max_errors,
        }
    }
}

#[pyfunction]
pub fn check_replace(options: ReplaceArg) -> PyResult<()> {
    vegafs_core::replace::check(&options.options()).map_err(to_pyerr)
}

#[pyfunction]
#[pyo3(signature = (selection, options, *, progress=None, cancel=None))]
pub fn plan_replace<'py>(
    py: Python<'py>,
    selection: SelectionArg,
    options: ReplaceArg,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<(Bound<'py, PyList>, ReplaceSummary)> {
    let selection = Selection::try_from(selection)?;
    let options = options.options();
    let control = control_of(progress, cancel);
    let (rows, summary) = run_detached(py, &control.cancel, || {
        vegafs_core::replace::plan_replace(&selection, &options, &control)
    })?;
    Ok((row_dicts(py, &rows)?, ReplaceSummary::from(summary)))
}

fn row_dicts<'py>(py: Python<'py>, rows: &[ReplaceRow]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for row in rows {
        let d = PyDict::new(py);
        let (action, reason) = match &row.action {
            ReplaceAction::Replace => ("replace", None),
            ReplaceAction::Refused(r) => ("refused", Some(r.as_str())),
        };
        // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
        d.set_item(intern!(py, "path"), row.path.as_os_str())?;
        d.set_item(intern!(py, "target"), row.target.as_os_str())?;
        d.set_item(intern!(py, "action"), action)?;
        d.set_item(intern!(py, "reason"), reason)?;
        d.set_item(intern!(py, "replacements"), row.replacements)?;
        d.set_item(intern!(py, "diff"), PyBytes::new(py, &row.diff))?;
        d.set_item(intern!(py, "dev"), row.dev)?;
        d.set_item(intern!(py, "ino"), row.ino)?;
        d.set_item(intern!(py, "stamp"), row.stamp)?;
        d.set_item(intern!(py, "size"), row.size)?;
        d.set_item(intern!(py, "digest"), PyBytes::new(py, &row.digest))?;
        out.append(d)?;
    }
    Ok(out)
}

/// A step as Python gives it: `(path, temp, backup, identity, size, digest, source)`.
type StepArg = (
    PathBuf,
    PathBuf,
    PathBuf,
    vegafs_core::apply::Identity,
    Option<u64>,
    Vec<u8>,
    Option<PathBuf>,
);

/// Writes each step's new content (made by `options`' replacement, or read from its `source`)
/// over its file, after backing the file up, in order, until one fails or `cancel` is set:
/// `(done, None)`, or `(done, (errno, message))` for the step that failed.
#[pyfunction]
#[pyo3(signature = (options, steps, cancel=None, *, beneath=Vec::new()))]
pub fn replace_files(
    py: Python<'_>,
    options: Option<ReplaceArg>,
    steps: Vec<StepArg>,
    cancel: Option<&CancelToken>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let places = places(&beneath)?;
    let replacer = match options {
        Some(o) => Some(Replacer::new(&o.options()).map_err(to_pyerr)?),
        None => None,
    };
    let steps: Vec<RewriteStep> = steps
        .into_iter()
        .map(|(path, temp, backup, identity, size, digest, source)| RewriteStep {
            path,
            temp,
            backup,
            identity,
            size,
            digest,
            source,
        })
        .collect();
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let outcome =
        py.detach(|| vegafs_core::rewrite::rewrite_all(&places, &steps, replacer.as_ref(), &token));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Reverses `steps` (`(path, temp, backup, digest)`, in the order they ran), last first, each
/// only if its file's content hashes to `digest`: `(reversed, not_done, error)`.
#[pyfunction]
#[pyo3(signature = (steps, *, beneath=Vec::new()))]
pub fn restore_files(
    py: Python<'_>,
    steps: Vec<vegafs_core::rewrite::WrittenStep>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, usize, Option<OsErrorTuple>)> {
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::rewrite::restore_all(&places, &steps));
    Ok((outcome.reversed, outcome.not_done, outcome.error.as_ref().map(io_error_tuple)))
}

/// The BLAKE3 of each path's file content (None where there is no regular file).
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn content_digests(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<Option<Vec<u8>>>> {
    let places = places(&beneath)?;
    Ok(py.detach(|| vegafs_core::rewrite::content_digests(&places, &paths))?)
}

/// What a replace plan holds, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct ReplaceSummary {
    #[pyo3(get)]
    files_scanned: u64,
    #[pyo3(get)]
    files_changed: u64,
    #[pyo3(get)]
    replacements: u64,
    #[pyo3(get)]
    refused: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl From<vegafs_core::replace::ReplaceSummary> for ReplaceSummary {
    fn from(s: vegafs_core::replace::ReplaceSummary) -> Self {
        ReplaceSummary {
            files_scanned: s.files_scanned,
            files_changed: s.files_changed,
            replacements: s.replacements,
            refused: s.refused,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
