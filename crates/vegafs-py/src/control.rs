//! Python handles on the core's cancel token and progress counters.

use std::sync::Arc;

use pyo3::prelude::*;
use vegafs_core::control;

/// Set it from any thread to stop a running call; the call then raises `vegafs.errors.Cancelled`.
#[pyclass(frozen, module = "vegafs._native")]
#[derive(Default)]
pub struct CancelToken(pub control::CancelToken);

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    fn cancel(&self) {
        self.0.cancel();
    }
    #[getter]
    fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Counters a running call bumps; read them from another thread while it runs.
#[pyclass(frozen, module = "vegafs._native")]
#[derive(Default)]
pub struct Progress(pub Arc<control::Progress>);

#[pymethods]
impl Progress {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    /// (entries, dirs, bytes, errors) read together.
    fn snapshot(&self) -> (u64, u64, u64, u64) {
        self.0.snapshot()
    }
    /// Adds to the counters: for work done in Python (a plugin's batches as they finish).
    #[pyo3(signature = (entries=0, dirs=0, bytes=0, errors=0))]
    fn add(&self, entries: u64, dirs: u64, bytes: u64, errors: u64) {
        self.0.add(entries, dirs, bytes, errors);
    }
}

/// The core's `Control` for one call, sharing the caller's token and counters when given.
pub fn control_of(progress: Option<&Progress>, cancel: Option<&CancelToken>) -> control::Control {
    control::Control {
        cancel: cancel.map(|c| c.0.clone()).unwrap_or_default(),
        progress: progress.map(|p| p.0.clone()).unwrap_or_default(),
        fd_budget: None,
    }
}
