//! `list_entries(selection, *, batch_size, max_errors, progress=None, cancel=None) -> RowStream`
//!
//! Rows: `{"path": str, "type": str, "size": int, "mtime": int}`; summary: a dict with the fields
//! of the engine's `ListSummary` (schema_version aside).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::{EntryType, ListOptions, ListRow, ListSummary, Selection};

use crate::control::{control_of, CancelToken, Progress};
use crate::rows::{start, RowStream};
use crate::selection::SelectionArg;

#[pyfunction]
#[pyo3(signature = (selection, *, batch_size, max_errors, progress=None, cancel=None))]
pub fn list_entries(
    selection: SelectionArg,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let mut control = control_of(progress, cancel);
    // Closing the stream early cancels this child token, never the caller's own.
    control.cancel = control.cancel.child();
    let roots = selection.roots.clone();
    let options = ListOptions { max_errors };
    let token = control.cancel.clone();
    start(
        token,
        batch_size,
        move |sink| vegafs_core::list(&selection, options, &control, sink),
        row_to_dict,
        Box::new(move |py, summary| summary_to_dict(py, &roots, summary)),
    )
}

fn row_to_dict(py: Python<'_>, row: ListRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    d.set_item(intern!(py, "path"), row.path.as_os_str())?;
    let kind = match row.kind {
        EntryType::File => intern!(py, "file"),
        EntryType::Dir => intern!(py, "dir"),
        EntryType::Symlink => intern!(py, "symlink"),
        EntryType::Other => intern!(py, "other"),
    };
    d.set_item(intern!(py, "type"), kind)?;
    d.set_item(intern!(py, "size"), row.size)?;
    d.set_item(intern!(py, "mtime"), row.mtime)?;
    Ok(d.into_any())
}

fn summary_to_dict<'py>(
    py: Python<'py>,
    roots: &[std::path::PathBuf],
    s: ListSummary,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let roots: Vec<_> = roots.iter().map(|r| r.as_os_str()).collect();
    d.set_item("roots", roots)?;
    d.set_item("entries", s.entries)?;
    d.set_item("files", s.files)?;
    d.set_item("dirs", s.dirs)?;
    d.set_item("symlinks", s.symlinks)?;
    d.set_item("other", s.other)?;
    d.set_item("file_bytes", s.file_bytes)?;
    d.set_item("error_count", s.error_count)?;
    let errors = s
        .errors
        .into_iter()
        .map(|e| {
            let error = PyDict::new(py);
            error.set_item("path", e.path.as_os_str())?;
            error.set_item("kind", e.kind.as_str())?;
            error.set_item("error", e.message)?;
            Ok(error)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("errors", errors)?;
    d.set_item("elapsed_s", s.elapsed.as_secs_f64())?;
    Ok(d)
}
