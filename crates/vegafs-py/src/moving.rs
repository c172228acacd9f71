//! `plan_move(selection, options, *, dest, temp_tag, progress=None, cancel=None)
//! -> (rows, steps, mkdirs, RenameSummary, across)` and `plan_tree_moves(moves, on_conflict, temp_tag)
//! -> (rows, steps, mkdirs, ok)`: plans of moves across directories. Rows and steps as for
//! `plan_rename`; `mkdirs`: the directories to create first, parents first; `across`: the rows
//! whose target is on another file system (copied, then removed: `remove_moved`). Planning
//! changes nothing on disk; applying makes the directories, then runs `rename_steps` (and
//! `copy_steps` and `remove_moved` across file systems).

use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::PathBuf;

use vegafs_core::moving::MoveOptions;
use vegafs_core::Selection;

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::rename::{rows, step_tuple, RenameArg, RenameSummary, StepTuple};
use crate::selection::SelectionArg;

type Planned<'py> = (Bound<'py, PyList>, Vec<StepTuple>, Vec<PathBuf>);
/// Rows, steps, directories to create, and the summary (or, for bare moves, whether it may be
/// applied).
type PlannedWith<'py, T> = (Bound<'py, PyList>, Vec<StepTuple>, Vec<PathBuf>, T);
/// A move's plan: rows, steps, directories to create, summary, and the rows moved across file
/// systems.
type MovePlanned<'py> =
    (Bound<'py, PyList>, Vec<StepTuple>, Vec<PathBuf>, RenameSummary, Vec<usize>);

#[pyfunction]
#[pyo3(signature = (selection, options, *, dest, temp_tag, progress=None, cancel=None))]
#[allow(clippy::too_many_arguments)]
pub fn plan_move<'py>(
    py: Python<'py>,
    selection: SelectionArg,
    options: RenameArg,
    dest: Option<PathBuf>,
    temp_tag: &str,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<MovePlanned<'py>> {
    let selection = Selection::try_from(selection)?;
    let options = MoveOptions { rename: options.options()?, dest };
    let control = control_of(progress, cancel);
    let (plan, summary) = run_detached(py, &control.cancel, || {
        vegafs_core::moving::plan_move(&selection, &options, temp_tag, &control)
    })?;
    let (rows, steps, mkdirs) = planned(py, &plan)?;
    Ok((rows, steps, mkdirs, RenameSummary::from(summary), plan.across))
}

/// The plan of arbitrary `(from, to)` moves across directories (property tests, and callers
/// with moves of their own).
#[pyfunction]
pub fn plan_tree_moves<'py>(
    py: Python<'py>,
    moves: Vec<(PathBuf, PathBuf)>,
    on_conflict: &str,
    temp_tag: &str,
) -> PyResult<PlannedWith<'py, bool>> {
    let policy = crate::rename::on_conflict(on_conflict)?;
    let moves = moves.into_iter().map(|(a, b)| (a, b, None)).collect();
    let plan = py.detach(|| vegafs_core::tree_plan::plan_tree_moves(moves, policy, temp_tag));
    let (rows, steps, mkdirs) = planned(py, &plan)?;
    Ok((rows, steps, mkdirs, plan.ok))
}

fn planned<'py>(py: Python<'py>, plan: &vegafs_core::plan::Plan) -> PyResult<Planned<'py>> {
    let steps = plan.steps.iter().map(step_tuple).collect();
    Ok((rows(py, plan)?, steps, plan.mkdirs.clone()))
}
