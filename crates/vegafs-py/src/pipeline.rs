//! `pipeline(selection, steps, *, batch_size, max_errors, progress=None, cancel=None)
//! -> RowStream` and `check_steps(steps)`.
//!
//! `steps`: a list of dicts with every key of [`StepArg`], `None` where the step has no use for
//! it: `{"step": "match", "options": <search's options dict>, "invert": bool}`, `{"step":
//! "hash", "algorithm": str}`, `{"step": "validate", "format": str | None, "header": bool,
//! "schema": path | None, "keep": "all" | "valid" | "invalid"}`. Rows: `{"path": str, "size":
//! int, "digest": str | None, "valid": bool | None, "problem": str | None}`; summary: a
//! [`PipelineSummary`].

use std::ffi::OsString;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

use vegafs_core::{
    Format, Keep, PipelineOptions, PipelineRow, Schema, Selection, Step, ValidateOptions,
};

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, to_pyerr, ErrorRow};
use crate::rows::{start_walk, RowStream};
use crate::search::SearchArg;
use crate::selection::SelectionArg;

/// One step as the engine sends it: every key present, `None` where the step has no use for it.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct StepArg {
    step: String,
    options: Option<SearchArg>,
    invert: Option<bool>,
    algorithm: Option<String>,
    format: Option<String>,
    header: Option<bool>,
    schema: Option<PathBuf>,
    keep: Option<String>,
}

impl StepArg {
    fn into_step(self) -> PyResult<Step> {
        let missing = |key: &str| {
            PyValueError::new_err(format!("pipeline step {:?} without {key:?}", self.step))
        };
        Ok(match self.step.as_str() {
            "match" => Step::Match {
                options: self.options.ok_or_else(|| missing("options"))?.options(false)?,
                invert: self.invert.unwrap_or(false),
            },
            "hash" => {
                let algorithm = self.algorithm.as_deref().ok_or_else(|| missing("algorithm"))?;
                Step::Hash { algorithm: algorithm.parse().map_err(PyValueError::new_err)? }
            }
            "validate" => {
                let format = match self.format.as_deref() {
                    Some(f) => Some(f.parse::<Format>().map_err(PyValueError::new_err)?),
                    None => None,
                };
                let schema = match &self.schema {
                    Some(path) => Some(Schema::from_file(path).map_err(to_pyerr)?),
                    None => None,
                };
                let keep = match self.keep.as_deref().unwrap_or("all") {
                    "all" => Keep::All,
                    "valid" => Keep::Valid,
                    "invalid" => Keep::Invalid,
                    other => return Err(PyValueError::new_err(format!("unknown keep {other:?}"))),
                };
                let header = self.header.unwrap_or(false);
                let options = ValidateOptions { format, header, schema, max_errors: 0 };
                Step::Validate { options, keep }
            }
            other => return Err(PyValueError::new_err(format!("unknown pipeline step {other:?}"))),
        })
    }
}

fn steps_of(steps: Vec<StepArg>) -> PyResult<Vec<Step>> {
    steps.into_iter().map(StepArg::into_step).collect()
}

#[pyfunction]
pub fn check_steps(steps: Vec<StepArg>) -> PyResult<()> {
    vegafs_core::check_steps(&steps_of(steps)?).map_err(to_pyerr)
}

#[pyfunction]
#[pyo3(signature = (selection, steps, *, batch_size, max_errors, progress=None, cancel=None))]
pub fn pipeline(
    selection: SelectionArg,
    steps: Vec<StepArg>,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let steps = steps_of(steps)?;
    // A bad pattern fails here, before a thread starts or anything is walked.
    vegafs_core::check_steps(&steps).map_err(to_pyerr)?;
    let options = PipelineOptions { max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| {
            vegafs_core::pipeline(selection, &steps, options, control, sink)
        },
        row_to_dict,
        PipelineSummary::new,
    )
}

fn row_to_dict(py: Python<'_>, row: PipelineRow) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    d.set_item(intern!(py, "path"), row.path.as_os_str())?;
    d.set_item(intern!(py, "size"), row.size)?;
    d.set_item(intern!(py, "digest"), row.digest)?;
    d.set_item(intern!(py, "valid"), row.valid)?;
    d.set_item(intern!(py, "problem"), row.problem)?;
    Ok(d.into_any())
}

/// What a finished pipeline did, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct PipelineSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    files: u64,
    /// `(files in, files out)` of each step, in order.
    #[pyo3(get)]
    steps: Vec<(u64, u64)>,
    #[pyo3(get)]
    rows: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl PipelineSummary {
    fn new(roots: Vec<OsString>, s: vegafs_core::PipelineSummary) -> Self {
        PipelineSummary {
            roots,
            files: s.files,
            steps: s.steps,
            rows: s.rows,
            bytes: s.bytes,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
