//! `list_entries(selection, *, batch_size, max_errors, progress=None, cancel=None) -> RowStream`
//!
//! Rows: `{"path": str, "type": str, "size": int, "mtime": int}`; summary: a [`ListSummary`] with
//! the fields of the engine's `ListSummary` (schema_version aside).

use std::ffi::OsString;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::{EntryType, ListOptions, ListRow, Selection};

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, ErrorRow};
use crate::rows::{start_walk, RowStream};
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
    let options = ListOptions { max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::list(selection, options, control, sink),
        row_to_dict,
        ListSummary::new,
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

/// What a finished list saw, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct ListSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    entries: u64,
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    dirs: u64,
    #[pyo3(get)]
    symlinks: u64,
    #[pyo3(get)]
    other: u64,
    #[pyo3(get)]
    file_bytes: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl ListSummary {
    fn new(roots: Vec<OsString>, s: vegafs_core::ListSummary) -> Self {
        ListSummary {
            roots,
            entries: s.entries,
            files: s.files,
            dirs: s.dirs,
            symlinks: s.symlinks,
            other: s.other,
            file_bytes: s.file_bytes,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
