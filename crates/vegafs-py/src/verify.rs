//! `verify_files(manifest, *, base, algorithm, beneath, batch_size, max_errors, progress=None,
//! cancel=None) -> RowStream`
//!
//! Rows: `{"path": str, "status": str, "expected": str, "actual": str | None,
//! "message": str | None}`; summary: a [`VerifySummary`] with the fields of the engine's
//! `VerifySummary` (schema_version aside).

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::hash::Algorithm;
use vegafs_core::verify::AlgorithmFrom;
use vegafs_core::{VerifyOptions, VerifyRow};

use crate::control::{control_of, CancelToken, Progress};
use crate::errors::{error_rows, ErrorRow};
use crate::rows::{start, RowStream};

#[pyfunction]
#[pyo3(signature = (manifest, *, base, algorithm, beneath, batch_size, max_errors, progress=None,
    cancel=None))]
#[allow(clippy::too_many_arguments)] // the Python signature, keyword-only
pub fn verify_files(
    manifest: PathBuf,
    base: PathBuf,
    algorithm: Option<&str>,
    beneath: Vec<PathBuf>,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let algorithm: Option<Algorithm> =
        algorithm.map(str::parse).transpose().map_err(PyValueError::new_err)?;
    let options = VerifyOptions { algorithm, base, beneath, max_errors };
    let mut control = control_of(progress, cancel);
    control.cancel = control.cancel.child(); // closing the stream stops this call alone
    let token = control.cancel.clone();
    let shown = manifest.clone().into_os_string();
    start(
        token,
        batch_size,
        move |sink| vegafs_core::verify(&manifest, &options, &control, sink),
        row_to_dict,
        Box::new(move |py, s| Ok(Bound::new(py, VerifySummary::new(shown, s))?.into_any())),
    )
}

fn row_to_dict(py: Python<'_>, row: VerifyRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    d.set_item(intern!(py, "path"), row.path.as_os_str())?;
    d.set_item(intern!(py, "status"), row.status.as_str())?;
    d.set_item(intern!(py, "expected"), row.expected)?;
    d.set_item(intern!(py, "actual"), row.actual)?;
    d.set_item(intern!(py, "message"), row.message)?;
    Ok(d.into_any())
}

/// What a finished verify found, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct VerifySummary {
    /// The manifest as given.
    #[pyo3(get)]
    manifest: OsString,
    #[pyo3(get)]
    algorithm: &'static str,
    /// "option", "tags" or "default".
    #[pyo3(get)]
    algorithm_from: &'static str,
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    ok: u64,
    #[pyo3(get)]
    changed: u64,
    #[pyo3(get)]
    missing: u64,
    #[pyo3(get)]
    unreadable: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    hint: Option<String>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl VerifySummary {
    fn new(manifest: OsString, s: vegafs_core::VerifySummary) -> Self {
        VerifySummary {
            manifest,
            algorithm: s.algorithm.name(),
            algorithm_from: match s.algorithm_from {
                AlgorithmFrom::Option => "option",
                AlgorithmFrom::Tags => "tags",
                AlgorithmFrom::Default => "default",
            },
            files: s.files,
            ok: s.ok,
            changed: s.changed,
            missing: s.missing,
            unreadable: s.unreadable,
            bytes: s.bytes,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            hint: s.hint,
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
