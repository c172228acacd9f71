//! `remove_moved(steps, cancel=None, *, beneath=[]) -> (done, error)`,
//! `restore_moved(steps, *, beneath=[]) -> (done, error)`, `moved_done(steps, *, beneath=[])
//! -> list[bool]`: the second step of a move across file systems (its source removed once the
//! copy is verified), its reverse, and whether each is done. Steps as for `copy_steps`:
//! `(from, to, temp, identity, digest)`; `temp`: the name a reverse copies back through.

use pyo3::prelude::*;
use std::path::PathBuf;

use crate::control::CancelToken;
use crate::copy::{steps_of, StepArg};
use crate::errors::io_error_tuple;
use crate::rename::{places, OsErrorTuple};

/// Removes each step's source once its copy is verified and durable, in order.
#[pyfunction]
#[pyo3(signature = (steps, cancel=None, *, beneath=Vec::new()))]
pub fn remove_moved(
    py: Python<'_>,
    steps: Vec<StepArg>,
    cancel: Option<&CancelToken>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let steps = steps_of(steps)?;
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::across::remove_moved(&places, &steps, &token));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Copies each step's target back where its source is gone, last first.
#[pyfunction]
#[pyo3(signature = (steps, *, beneath=Vec::new()))]
pub fn restore_moved(
    py: Python<'_>,
    steps: Vec<StepArg>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let steps = steps_of(steps)?;
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::across::restore_moved(&places, &steps));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Whether each step is done: its source gone, its copy there.
#[pyfunction]
#[pyo3(signature = (steps, *, beneath=Vec::new()))]
pub fn moved_done(
    py: Python<'_>,
    steps: Vec<StepArg>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<bool>> {
    let steps = steps_of(steps)?;
    let places = places(&beneath)?;
    py.detach(|| vegafs_core::across::moved_done(&places, &steps)).map_err(PyErr::from)
}
