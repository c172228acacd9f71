//! `validate_files(selection, *, format, header, schema, batch_size, max_errors, progress=None,
//! cancel=None) -> RowStream` and `check_schema(path)`.
//!
//! Rows: `{"path": str, "format": str, "line": int | None, "column": int | None, "message":
//! str}`; summary: a [`ValidateSummary`] with the fields of the engine's `ValidateSummary`
//! (schema_version aside). The schema is read and compiled here, before the walk starts, so a
//! malformed one is raised by the call itself.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::validate::FormatCount;
use vegafs_core::{Format, Schema, Selection, ValidateOptions, ValidateRow};

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, to_pyerr, ErrorRow};
use crate::rows::{start_walk, RowStream};
use crate::selection::SelectionArg;

#[pyfunction]
#[pyo3(signature = (selection, *, format, header, schema, batch_size, max_errors, progress=None, cancel=None))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of one Python call
pub fn validate_files(
    py: Python<'_>,
    selection: SelectionArg,
    format: Option<&str>,
    header: bool,
    schema: Option<PathBuf>,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let format: Option<Format> =
        format.map(str::parse).transpose().map_err(PyValueError::new_err)?;
    let selection = Selection::try_from(selection)?;
    let schema = match schema {
        Some(path) => Some(py.detach(|| Schema::from_file(&path)).map_err(to_pyerr)?),
        None => None,
    };
    let options = ValidateOptions { format, header, schema, max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::validate(selection, options, control, sink),
        row_to_dict,
        ValidateSummary::new,
    )
}

/// Raises what `validate_files` would raise for this schema file (OSError naming it, or
/// `vegafs.errors.SchemaError`), without walking anything.
#[pyfunction]
pub fn check_schema(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    py.detach(|| Schema::from_file(&path)).map(|_| ()).map_err(to_pyerr)
}

fn row_to_dict(py: Python<'_>, row: ValidateRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    d.set_item(intern!(py, "path"), row.path.as_os_str())?;
    d.set_item(intern!(py, "format"), row.format)?;
    d.set_item(intern!(py, "line"), row.line)?;
    d.set_item(intern!(py, "column"), row.column)?;
    d.set_item(intern!(py, "message"), row.message)?;
    Ok(d.into_any())
}

/// What a finished validate saw, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct ValidateSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    ok: u64,
    #[pyo3(get)]
    failed: u64,
    #[pyo3(get)]
    skipped: u64,
    #[pyo3(get)]
    failures: u64,
    #[pyo3(get)]
    bytes: u64,
    /// format -> {"ok": n, "failed": n}, for the formats met.
    #[pyo3(get)]
    by_format: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl ValidateSummary {
    fn new(roots: Vec<OsString>, s: vegafs_core::ValidateSummary) -> Self {
        let by_format = Format::ALL
            .iter()
            .zip(s.by_format)
            .filter(|(_, c)| *c != FormatCount::default())
            .map(|(f, c)| (f.name(), BTreeMap::from([("ok", c.ok), ("failed", c.failed)])))
            .collect();
        ValidateSummary {
            roots,
            files: s.files,
            ok: s.ok,
            failed: s.failed,
            skipped: s.skipped,
            failures: s.failures,
            bytes: s.bytes,
            by_format,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
