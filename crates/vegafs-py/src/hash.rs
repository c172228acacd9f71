//! `hash_files(selection, *, algorithm, batch_size, max_errors, progress=None, cancel=None)
//! -> RowStream`
//!
//! Rows: `{"path": str, "size": int, "digest": str}`; summary: a [`HashSummary`] with the fields
//! of the engine's `HashSummary` (schema_version aside).

use std::ffi::OsString;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::{Algorithm, HashOptions, HashRow, Selection};

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, ErrorRow};
use crate::rows::{start_walk, RowStream};
use crate::selection::SelectionArg;

#[pyfunction]
#[pyo3(signature = (selection, *, algorithm, batch_size, max_errors, progress=None, cancel=None))]
pub fn hash_files(
    selection: SelectionArg,
    algorithm: &str,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let algorithm: Algorithm = algorithm.parse().map_err(PyValueError::new_err)?;
    let selection = Selection::try_from(selection)?;
    let options = HashOptions { algorithm, max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::hash(selection, options, control, sink),
        row_to_dict,
        move |roots, s| HashSummary::new(roots, algorithm, s),
    )
}

fn row_to_dict(py: Python<'_>, row: HashRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    d.set_item(intern!(py, "path"), row.path.as_os_str())?;
    d.set_item(intern!(py, "size"), row.size)?;
    d.set_item(intern!(py, "digest"), row.digest)?;
    Ok(d.into_any())
}

/// What a finished hash saw, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct HashSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    algorithm: &'static str,
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl HashSummary {
    fn new(roots: Vec<OsString>, algorithm: Algorithm, s: vegafs_core::HashSummary) -> Self {
        HashSummary {
            roots,
            algorithm: algorithm.name(),
            files: s.files,
            bytes: s.bytes,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
