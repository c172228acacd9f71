//! `plan_copy(selection, options, *, progress=None, cancel=None) -> (rows, dirs, identities,
//! CopySummary)`,
//! `check_copy(options)`, and what applying a copy plan needs: `copy_steps(steps, cancel=None)
//! -> (done, error)`, `remove_copies(steps, strict) -> (removed, not_ours, error)`,
//! `copies_done(steps)`, `blake3_digests(paths)`.
//!
//! `options`: a dict with every field of [`CopyArg`]. Rows: dicts `{"from": str, "to": str,
//! "action": "copy" | "copied" | "refused", "reason": str | None, "size": int}` in path order;
//! dirs: the directories to create, parents first; identities: the source's `(dev, ino, stamp)` as
//! the walk saw it, of each row to copy, in order. A step: `(from, to, temp, (dev, ino,
//! stamp), digest | None)`. Planning changes nothing on disk.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use vegafs_core::apply::Identity;
use vegafs_core::copy::{CopyAction, CopyOptions, CopyPlan};
use vegafs_core::copy_file::CopyStep;
use vegafs_core::plan::OnConflict;
use vegafs_core::Selection;

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::errors::{error_rows, io_error_tuple, to_pyerr, ErrorRow};
use crate::rename::{places, row_dict};
use crate::selection::SelectionArg;

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct CopyArg {
    dest: PathBuf,
    template: Option<String>,
    on_conflict: String,
    max_errors: usize,
}

impl CopyArg {
    fn options(self) -> PyResult<CopyOptions> {
        let on_conflict = match self.on_conflict.as_str() {
            "fail" => OnConflict::Fail,
            "skip" => OnConflict::Skip,
            "suffix" => OnConflict::Suffix,
            "overwrite" => OnConflict::Overwrite,
            other => return Err(PyValueError::new_err(format!("unknown on_conflict {other:?}"))),
        };
        Ok(CopyOptions {
            dest: self.dest,
            template: self.template,
            on_conflict,
            max_errors: self.max_errors,
        })
    }
}

/// `(errno, message)`.
type OsErrorTuple = (i32, String);

/// A step as Python gives it: `(from, to, temp, identity, digest)`.
pub(crate) type StepArg = (PathBuf, PathBuf, PathBuf, Identity, Option<Vec<u8>>);

pub(crate) fn steps_of(steps: Vec<StepArg>) -> PyResult<Vec<CopyStep>> {
    steps
        .into_iter()
        .map(|(from, to, temp, identity, digest)| {
            let digest =
                match digest {
                    None => None,
                    Some(d) => Some(<[u8; 32]>::try_from(d.as_slice()).map_err(|_| {
                        PyValueError::new_err("a copy's digest is 32 bytes (BLAKE3)")
                    })?),
                };
            Ok(CopyStep { from, to, temp, identity, digest })
        })
        .collect()
}

#[pyfunction]
pub fn check_copy(options: CopyArg) -> PyResult<()> {
    vegafs_core::copy::compile(&options.options()?).map(|_| ()).map_err(to_pyerr)
}

/// `(rows, dirs, identities, summary)`.
type CopyPlanTuple<'py> = (Bound<'py, PyList>, Vec<PathBuf>, Vec<Identity>, CopySummary);

#[pyfunction]
#[pyo3(signature = (selection, options, *, progress=None, cancel=None))]
pub fn plan_copy<'py>(
    py: Python<'py>,
    selection: SelectionArg,
    options: CopyArg,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<CopyPlanTuple<'py>> {
    let selection = Selection::try_from(selection)?;
    let options = options.options()?;
    let control = control_of(progress, cancel);
    let (plan, summary) = run_detached(py, &control.cancel, || {
        vegafs_core::copy::plan_copy(&selection, &options, &control)
    })?;
    let dirs = plan.dirs.clone();
    let copies =
        plan.rows.iter().filter(|r| matches!(r.action, CopyAction::Copy | CopyAction::Overwrite));
    let ids = copies.map(|r| r.identity);
    Ok((rows(py, &plan)?, dirs, ids.collect(), CopySummary::from(summary)))
}

/// Copies `steps` (in parallel), never replacing a target: `(done, None)` when all are done
/// (or cancelled), `(done, (errno, message))` for the first that failed; the first `done` are
/// published, the others not.
#[pyfunction]
#[pyo3(signature = (steps, cancel=None, *, beneath=Vec::new()))]
pub fn copy_steps(
    py: Python<'_>,
    steps: Vec<StepArg>,
    cancel: Option<&CancelToken>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<(i32, String)>)> {
    let steps = steps_of(steps)?;
    let places = places(&beneath)?;
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let outcome = py.detach(|| vegafs_core::copy_file::copy_all(&places, &steps, &token));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Removes, last first, each step's temporary file and its copy if it still is the copy:
/// `(removed, not_ours, error)`; `strict`: a changed copy is an error.
#[pyfunction]
#[pyo3(signature = (steps, strict, *, beneath=Vec::new()))]
pub fn remove_copies(
    py: Python<'_>,
    steps: Vec<StepArg>,
    strict: bool,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, usize, Option<OsErrorTuple>)> {
    let steps = steps_of(steps)?;
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::copy_file::remove_copies(&places, &steps, strict));
    Ok((outcome.removed, outcome.not_ours, outcome.error.as_ref().map(io_error_tuple)))
}

/// Whether each step's target is its copy.
#[pyfunction]
#[pyo3(signature = (steps, *, beneath=Vec::new()))]
pub fn copies_done(
    py: Python<'_>,
    steps: Vec<StepArg>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<bool>> {
    let steps = steps_of(steps)?;
    let places = places(&beneath)?;
    py.detach(|| vegafs_core::copy_file::copies_done(&places, &steps)).map_err(PyErr::from)
}

/// The BLAKE3 digest (32 bytes) of each of `paths`' regular files, None for a symlink or
/// another entry that is not a regular file; OSError naming the path where none is there.
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn blake3_digests<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
    let places = places(&beneath)?;
    let digests = py.detach(|| vegafs_core::copy_file::blake3_all(&places, &paths))?;
    Ok(digests.iter().map(|d| d.as_ref().map(|d| PyBytes::new(py, d))).collect())
}

fn rows<'py>(py: Python<'py>, plan: &CopyPlan) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for row in &plan.rows {
        let (action, reason) = match &row.action {
            CopyAction::Copy => ("copy", None),
            CopyAction::Overwrite => ("overwrite", None),
            CopyAction::Copied => ("copied", None),
            CopyAction::Refused(r) => ("refused", Some(r.reason())),
        };
        let d = row_dict(py, &row.from, &row.to, action, reason)?;
        d.set_item(intern!(py, "size"), row.size)?;
        out.append(d)?;
    }
    Ok(out)
}

/// What a copy plan holds, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct CopySummary {
    #[pyo3(get)]
    matched: u64,
    #[pyo3(get)]
    copies: u64,
    #[pyo3(get)]
    already: u64,
    #[pyo3(get)]
    refused: u64,
    #[pyo3(get)]
    dirs: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    ok: bool,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl From<vegafs_core::copy::CopySummary> for CopySummary {
    fn from(s: vegafs_core::copy::CopySummary) -> Self {
        CopySummary {
            matched: s.matched,
            copies: s.copies,
            already: s.already,
            refused: s.refused,
            dirs: s.dirs,
            bytes: s.bytes,
            ok: s.ok,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
