//! `make_dirs(paths, cancel=None, *, exist_ok=False, beneath=[]) -> (done, error)`,
//! `remove_empty_dirs(paths, cancel=None, *, beneath=[]) -> (done, error)`,
//! `dir_states(paths, *, beneath=[]) -> list[str]`: the `mkdir` and `rmdir` steps of the
//! journal; `remove_files(entries, *, beneath=[]) -> list[bool]`: what `ops forget` deletes.
//! Each path changed through its parent opened beneath `beneath` (jobs; empty: anywhere). `error`: `(errno, message naming the path)`; a state: `"missing"`, `"empty"`,
//! `"full"` (a directory with entries) or `"other"` (not a directory; a symlink included).

use pyo3::prelude::*;
use std::path::PathBuf;

use vegafs_core::dirs::DirState;

use crate::control::CancelToken;
use crate::errors::io_error_tuple;
use crate::rename::{places, OsErrorTuple};

/// Creates `paths` in order, until one fails or `cancel` is set; `exist_ok`: a directory
/// already there counts as made.
#[pyfunction]
#[pyo3(signature = (paths, cancel=None, *, exist_ok=false, beneath=Vec::new()))]
pub fn make_dirs(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    cancel: Option<&CancelToken>,
    exist_ok: bool,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::dirs::make_dirs(&places, &paths, &token, exist_ok));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// Removes each of `paths` that is an empty directory, in order (others are left).
#[pyfunction]
#[pyo3(signature = (paths, cancel=None, *, beneath=Vec::new()))]
pub fn remove_empty_dirs(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    cancel: Option<&CancelToken>,
    beneath: Vec<PathBuf>,
) -> PyResult<(usize, Option<OsErrorTuple>)> {
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let places = places(&beneath)?;
    let outcome = py.detach(|| vegafs_core::dirs::remove_empty_dirs(&places, &paths, &token));
    Ok((outcome.done, outcome.error.as_ref().map(io_error_tuple)))
}

/// What is at each path, not following a symlink.
#[pyfunction]
#[pyo3(signature = (paths, *, beneath=Vec::new()))]
pub fn dir_states(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<&'static str>> {
    let places = places(&beneath)?;
    let states = py.detach(|| {
        paths
            .iter()
            .map(|p| vegafs_core::dirs::dir_state(&places, p))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(states
        .into_iter()
        .map(|s| match s {
            DirState::Missing => "missing",
            DirState::Empty => "empty",
            DirState::Full => "full",
            DirState::Other => "other",
        })
        .collect())
}

/// Deletes each `(path, identity)` entry that is still that entry (a file or a symlink, never
/// a directory): whether each was deleted.
#[pyfunction]
#[pyo3(signature = (entries, *, beneath=Vec::new()))]
pub fn remove_files(
    py: Python<'_>,
    entries: Vec<(PathBuf, vegafs_core::apply::Identity)>,
    beneath: Vec<PathBuf>,
) -> PyResult<Vec<bool>> {
    let places = places(&beneath)?;
    py.detach(|| vegafs_core::dirs::remove_files(&places, &entries)).map_err(PyErr::from)
}
