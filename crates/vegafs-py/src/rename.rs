//! `plan_rename(selection, options, *, temp_tag, progress=None, cancel=None)
//! -> (rows, steps, RenameSummary, identities)`, `check_rename(options)`, and what applying a plan needs:
//! `rename_steps(steps, cancel=None) -> (done, error)`, `sync_parents(paths)`,
//! `identities(paths)`.
//!
//! `options`: a dict with every field of [`RenameArg`]. Rows: dicts `{"from": str, "to": str,
//! "action": "move" | "unchanged" | "refused", "reason": str | None}`, in the plan's order (the
//! numbering order); steps: `(from, to, row)` in the order that runs them safely; the summary: a
//! [`RenameSummary`]; identities: per row, its entry's `(device, inode, stamp)` as the walk saw
//! it (None for a target set aside). Planning changes nothing on disk.

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pyo3::types::{PyDict, PyList};
use vegafs_core::apply::Identity;
use vegafs_core::places::Places;
use vegafs_core::plan::{Action, OnConflict, Plan};
use vegafs_core::rename::{RenameOptions, SortKey};
use vegafs_core::Selection;

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::errors::io_error_tuple;
use crate::errors::{error_rows, to_pyerr, ErrorRow};
use crate::selection::SelectionArg;

/// A plan's step as Python sees it: `(from, to, row)`.
/// Paths as `str` (surrogate escapes for bytes that are not UTF-8): a `pathlib.Path` per path
/// costs more than the rename it names.
pub(crate) type StepTuple = (OsString, OsString, usize);

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct RenameArg {
    pattern: Option<String>,
    template: String,
    sort: String,
    reverse: bool,
    start: i64,
    step: i64,
    on_conflict: String,
    max_errors: usize,
}

impl RenameArg {
    pub(crate) fn options(self) -> PyResult<RenameOptions> {
        let sort = match self.sort.as_str() {
            "name" => SortKey::Name,
            "mtime" => SortKey::Mtime,
            "size" => SortKey::Size,
            "path" => SortKey::Path,
            other => return Err(PyValueError::new_err(format!("unknown sort {other:?}"))),
        };
        let on_conflict = on_conflict(&self.on_conflict)?;
        Ok(RenameOptions {
            pattern: self.pattern,
            template: self.template,
            sort,
            reverse: self.reverse,
            start: self.start,
            step: self.step,
            on_conflict,
            max_errors: self.max_errors,
        })
    }
}

/// The on-conflict policy by its name; ValueError for an unknown one.
pub(crate) fn on_conflict(name: &str) -> PyResult<OnConflict> {
    vegafs_core::moving::on_conflict(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown on_conflict {name:?}")))
}

#[pyfunction]
pub fn check_rename(options: RenameArg) -> PyResult<()> {
    vegafs_core::rename::compile(&options.options()?).map(|_| ()).map_err(to_pyerr)
}

/// `plan_rename`'s answer: rows, steps, summary, and each row's entry's identity.
type RenamePlan<'py> = (Bound<'py, PyList>, Vec<StepTuple>, RenameSummary, Vec<Option<Identity>>);

#[pyfunction]
#[pyo3(signature = (selection, options, *, temp_tag, progress=None, cancel=None))]
pub fn plan_rename<'py>(
    py: Python<'py>,
    selection: SelectionArg,
    options: RenameArg,
    temp_tag: &str,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RenamePlan<'py>> {
    let selection = Selection::try_from(selection)?;
    let options = options.options()?;
    let control = control_of(progress, cancel);
    let (plan, summary, identities) = run_detached(py, &control.cancel, || {
        vegafs_core::rename::plan_rename(&selection, &options, temp_tag, &control)
    })?;
    let steps = plan.steps.iter().map(step_tuple).collect();
    Ok((rows(py, &plan)?, steps, RenameSummary::from(summary), identities))
}

/// An OS error as Python sees it: `(errno, message naming the path)`.
pub(crate) type OsErrorTuple = (i32, String);

/// Where the steps may change names: beneath `beneath` (jobs), anywhere when it is empty.
pub(crate) fn places(beneath: &[PathBuf]) -> PyResult<Places> {
    Places::beneath(beneath).map_err(PyErr::from)
}

/// Runs `steps` (`(from, to)`) in order, never replacing a target, until one fails or `cancel`
/// is set: `(done, None)`, or `(done, (errno, message))` for the step that failed.
#[pyfunction]
#[pyo3(signature = (steps, cancel=None, *, beneath=Vec::new()))]
pub fn rename_steps(
    py: Python<'_>,
    steps: Vec<(PathBuf, PathBuf)>,
    cancel: Option<&CancelToken>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::apply::rename_all(&places, &steps, &token));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Reverses `steps` (`(from, to, identity)`, in the order they ran), last first, each only if
/// its entry is at its target: `(reversed, not_done, error)`.
#[pyfunction]
#[pyo3(signature = (steps, *, beneath=Vec::new()))]
pub fn roll_back(
    py: Python<'_>,
    steps: Vec<vegafs_core::apply::DoneStep>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, usize, Option<OsErrorTuple>)> {
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::apply::roll_back(&places, &steps));
    Ok((outcome.reversed, outcome.not_done, outcome.error.as_ref().map(io_error_tuple)))
}

/// fsyncs the directories holding `paths`; OSError naming the directory otherwise.
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn sync_parents(py: Python<'_>, paths: Vec<PathBuf>, beneath: Vec<PathBuf>) -> PyResult<()> {
    let places = places(&beneath)?;
    py.detach(|| vegafs_core::apply::sync_parents(&places, &paths)).map_err(PyErr::from)
}

/// The identity `(device, inode, stamp)` of each path's entry (a symlink's own), None where
/// there is none (see `vegafs_core::apply::Identity`).
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn identities(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<Option<vegafs_core::apply::Identity>>> {
    let places = places(&beneath)?;
    py.detach(|| {
        paths.iter().map(|p| vegafs_core::apply::identity(&places, p)).collect::<Result<_, _>>()
    })
    .map_err(PyErr::from)
}

/// The size in bytes of each path's entry (a symlink's own), None where there is none.
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn sizes(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<Option<u64>>> {
    let places = places(&beneath)?;
    py.detach(|| {
        paths.iter().map(|p| vegafs_core::apply::size(&places, p)).collect::<Result<_, _>>()
    })
    .map_err(PyErr::from)
}

pub(crate) fn step_tuple(s: &vegafs_core::plan::PlanStep) -> StepTuple {
    (s.from.clone().into_os_string(), s.to.clone().into_os_string(), s.row)
}

pub(crate) fn rows<'py>(py: Python<'py>, plan: &Plan) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for row in &plan.rows {
        let (action, reason) = match &row.action {
            Action::Move => ("move", None),
            Action::Unchanged => ("unchanged", None),
            Action::Refused(r) => ("refused", Some(r.reason())),
        };
        out.append(row_dict(py, &row.from, &row.to, action, reason)?)?;
    }
    Ok(out)
}

/// A plan's row as Python sees it: `{"from", "to", "action", "reason"}`; bytes that are not
/// UTF-8 reach Python as surrogate escapes, like every name.
pub(crate) fn row_dict<'py>(
    py: Python<'py>,
    from: &Path,
    to: &Path,
    action: &str,
    reason: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "from"), from.as_os_str())?;
    d.set_item(intern!(py, "to"), to.as_os_str())?;
    d.set_item(intern!(py, "action"), action)?;
    d.set_item(intern!(py, "reason"), reason)?;
    Ok(d)
}

/// What a rename plan holds, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct RenameSummary {
    #[pyo3(get)]
    matched: u64,
    #[pyo3(get)]
    moves: u64,
    #[pyo3(get)]
    unchanged: u64,
    #[pyo3(get)]
    refused: u64,
    #[pyo3(get)]
    steps: u64,
    #[pyo3(get)]
    ok: bool,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl From<vegafs_core::rename::RenameSummary> for RenameSummary {
    fn from(s: vegafs_core::rename::RenameSummary) -> Self {
        RenameSummary {
            matched: s.matched,
            moves: s.moves,
            unchanged: s.unchanged,
            refused: s.refused,
            steps: s.steps,
            ok: s.ok,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}

/// `plan_moves(moves, on_conflict, temp_tag, same_dir) -> (rows, steps, ok)`: the plan of
/// arbitrary `(from, to)` moves (undo builds its plan with it); rows and steps as for
/// `plan_rename`.
#[pyfunction]
pub fn plan_moves<'py>(
    py: Python<'py>,
    moves: Vec<(PathBuf, PathBuf)>,
    on_conflict: &str,
    temp_tag: &str,
    same_dir: bool,
) -> PyResult<(Bound<'py, PyList>, Vec<StepTuple>, bool)> {
    let on_conflict = crate::rename::on_conflict(on_conflict)?;
    let plan = py.detach(|| vegafs_core::plan::plan_moves(moves, on_conflict, temp_tag, same_dir));
    let steps = plan.steps.iter().map(step_tuple).collect();
    Ok((rows(py, &plan)?, steps, plan.ok))
}
