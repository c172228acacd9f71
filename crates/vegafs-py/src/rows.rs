//! `RowStream`: a Python iterator over the row batches of a core call that runs on its own
//! thread. Any operation that streams rows (list, later search, hash, validate...) starts its
//! call with [`start`], giving how to convert one row and the summary; the stream does the rest:
//! waiting without the interpreter lock, Ctrl-C, errors, early close.
//!
//! `__next__` waits for a batch without the GIL, waking every 50 ms to let Python run signal
//! handlers: Ctrl-C cancels the call, closes the stream and raises KeyboardInterrupt. At the end
//! of the rows it joins the call's thread: its error, if any, is raised (once; `summary()` raises
//! it again), otherwise StopIteration and `summary()` gives the summary. `close()` (or dropping the
//! stream) cancels the call, drops the receiver so that blocked senders return at once, and joins
//! the thread without the GIL.

use std::any::Any;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use vegafs_core::rows::{self, Received, RowReceiver, RowSink};
use vegafs_core::{CancelToken, Control, CoreError, Selection};

use crate::control::{control_of, Progress};
use crate::errors::to_pyerr;

const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Converts one row of type `R` (with the GIL).
pub type RowFn<R> = for<'py> fn(Python<'py>, R) -> PyResult<Bound<'py, PyAny>>;
/// Converts the call's summary (with the GIL) to an immutable object: `summary()` hands out
/// that same object every time.
pub type SummaryFn<S> =
    Box<dyn for<'py> FnOnce(Python<'py>, S) -> PyResult<Bound<'py, PyAny>> + Send>;

/// What `RowStream` reads: one running core call, its row and summary types hidden.
trait BatchSource: Send {
    /// Waits up to `timeout` for a batch (without the GIL). At the end of the rows, joins the
    /// call's thread before answering `End`.
    fn wait(&mut self, timeout: Duration) -> Wait;
    /// The batch `wait` got, as a list of rows.
    fn convert<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>>;
    /// After `End`: the summary, or the error the call ended with.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
    /// Cancels the call, drops the receiver, joins the thread (without the GIL). Idempotent.
    fn close(&mut self);
}

enum Wait {
    Ready,
    Timeout,
    End,
}

/// Starts `call` on its own thread with a sink of `batch_size`-row batches; `cancel` must be the
/// token the call's walk uses (the stream cancels it when closed early).
pub fn start<R, S, F>(
    cancel: CancelToken,
    batch_size: usize,
    call: F,
    row: RowFn<R>,
    summary: SummaryFn<S>,
) -> PyResult<RowStream>
where
    R: Send + 'static,
    S: Send + 'static,
    F: FnOnce(RowSink<R>) -> Result<S, CoreError> + Send + 'static,
{
    if batch_size == 0 {
        return Err(PyValueError::new_err("batch_size must be >= 1"));
    }
    let (sink, rx) = rows::channel(batch_size, rows::DEFAULT_CAPACITY, cancel.clone());
    let handle = std::thread::Builder::new()
        .name("vegafs-rows".into())
        .spawn(move || call(sink))
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    let source = CoreCall {
        rx: Some(rx),
        handle: Some(handle),
        cancel: cancel.clone(),
        batch: Vec::new(),
        outcome: None,
        panic: None,
        row,
        summary: Some(summary),
    };
    Ok(RowStream {
        cancel,
        closed: AtomicBool::new(false),
        state: Mutex::new(State::Running(Box::new(source))),
    })
}

/// [`start`] for a call that walks `selection`: its [`Control`] from the caller's `progress` and
/// `cancel`, the token a child of the caller's (closing the stream early cancels the call, never
/// the caller's own token); `summary` makes the Python summary from the roots as given and the
/// call's own.
pub fn start_walk<R, S, T, F, M>(
    selection: Selection,
    batch_size: usize,
    progress: Option<&Progress>,
    cancel: Option<&crate::control::CancelToken>,
    call: F,
    row: RowFn<R>,
    summary: M,
) -> PyResult<RowStream>
where
    R: Send + 'static,
    S: Send + 'static,
    T: pyo3::PyClass + Into<PyClassInitializer<T>>,
    F: FnOnce(&Selection, &Control, RowSink<R>) -> Result<S, CoreError> + Send + 'static,
    M: FnOnce(Vec<OsString>, S) -> T + Send + 'static,
{
    let mut control = control_of(progress, cancel);
    control.cancel = control.cancel.child();
    let roots: Vec<OsString> = selection.roots.iter().map(|r| r.clone().into_os_string()).collect();
    let token = control.cancel.clone();
    start(
        token,
        batch_size,
        move |sink| call(&selection, &control, sink),
        row,
        Box::new(move |py, s| Ok(Bound::new(py, summary(roots, s))?.into_any())),
    )
}

struct CoreCall<R, S> {
    rx: Option<RowReceiver<R>>,
    handle: Option<JoinHandle<Result<S, CoreError>>>,
    cancel: CancelToken,
    batch: Vec<R>,
    outcome: Option<Result<S, CoreError>>,
    panic: Option<Box<dyn Any + Send>>,
    row: RowFn<R>,
    summary: Option<SummaryFn<S>>,
}

impl<R, S> CoreCall<R, S> {
    fn join(&mut self) {
        if let Some(handle) = self.handle.take() {
            match handle.join() {
                Ok(outcome) => self.outcome = Some(outcome),
                Err(panic) => self.panic = Some(panic),
            }
        }
    }
}

impl<R: Send, S: Send> BatchSource for CoreCall<R, S> {
    fn wait(&mut self, timeout: Duration) -> Wait {
        let Some(rx) = &self.rx else { return Wait::End };
        match rx.recv_timeout(timeout) {
            Received::Batch(batch) => {
                self.batch = batch;
                Wait::Ready
            }
            Received::Timeout => Wait::Timeout,
            Received::End => {
                self.rx = None;
                self.join(); // every sink is gone: the call is returning
                Wait::End
            }
        }
    }

    fn convert<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = std::mem::take(&mut self.batch)
            .into_iter()
            .map(|r| (self.row)(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(panic) = self.panic.take() {
            std::panic::resume_unwind(panic);
        }
        match (self.outcome.take(), self.summary.take()) {
            (Some(Ok(summary)), Some(convert)) => convert(py, summary),
            (Some(Err(err)), _) => Err(to_pyerr(err)),
            _ => Err(PyRuntimeError::new_err("the call has no outcome")),
        }
    }

    fn close(&mut self) {
        self.cancel.cancel();
        self.rx = None; // senders blocked on a full channel return now
        self.join();
    }
}

enum State {
    Running(Box<dyn BatchSource>),
    /// A thread is in `__next__` (the source is on its stack).
    Reading,
    Finished(Py<PyAny>),
    /// The call's error, raised once by `__next__`, again by `summary()`.
    Failed(PyErr),
    Closed,
}

/// Batches of rows (lists of dicts) from a running call, then its summary; see `_native.pyi`.
#[pyclass(frozen, module = "vegafs._native")]
pub struct RowStream {
    cancel: CancelToken,
    /// `close()` was called; a thread in `__next__` stops at its next wake-up.
    closed: AtomicBool,
    state: Mutex<State>,
}

impl RowStream {
    /// Held only briefly, never while waiting.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads one batch; returns what to raise or return and the state to leave behind.
    fn read<'py>(
        &self,
        py: Python<'py>,
        mut source: Box<dyn BatchSource>,
    ) -> (PyResult<Option<Bound<'py, PyList>>>, State) {
        loop {
            if self.closed.load(Ordering::Relaxed) {
                py.detach(|| source.close());
                return (Ok(None), State::Closed);
            }
            match py.detach(|| source.wait(SIGNAL_POLL)) {
                Wait::Ready => {
                    return match source.convert(py) {
                        Ok(batch) => (Ok(Some(batch)), State::Running(source)),
                        Err(err) => {
                            py.detach(|| source.close());
                            (Err(err), State::Closed)
                        }
                    };
                }
                Wait::End if self.closed.load(Ordering::Relaxed) => {
                    return (Ok(None), State::Closed);
                }
                Wait::End => {
                    return match source.finish(py) {
                        Ok(summary) => (Ok(None), State::Finished(summary.unbind())),
                        Err(err) => (Err(err.clone_ref(py)), State::Failed(err)),
                    };
                }
                Wait::Timeout => {
                    if let Err(err) = py.check_signals() {
                        py.detach(|| source.close());
                        return (Err(err), State::Closed);
                    }
                }
            }
        }
    }
}

#[pymethods]
impl RowStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let source = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Reading) {
                State::Running(source) => source,
                State::Reading => {
                    return Err(PyRuntimeError::new_err(
                        "this RowStream is already being read by another thread",
                    ));
                }
                other => {
                    *state = other;
                    return Ok(None);
                }
            }
        };
        let (result, next) = self.read(py, source);
        *self.lock() = next;
        result
    }

    /// The call's summary, once every batch has been read.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &*self.lock() {
            State::Finished(summary) => Ok(summary.bind(py).clone()),
            State::Failed(err) => Err(err.clone_ref(py)),
            State::Closed => {
                Err(PyRuntimeError::new_err("the stream was closed before its end: no summary"))
            }
            State::Running(_) | State::Reading => Err(PyRuntimeError::new_err(
                "the stream is not finished: read every batch before asking for the summary",
            )),
        }
    }

    /// Stops the call if it still runs and waits for its thread; later `__next__` calls raise
    /// StopIteration. A finished stream keeps its summary.
    fn close(&self, py: Python<'_>) {
        let running = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Closed) {
                State::Running(source) => Some(source),
                State::Reading => {
                    // The reading thread sees the flag within 50 ms and closes the source.
                    *state = State::Reading;
                    self.closed.store(true, Ordering::Relaxed);
                    self.cancel.cancel();
                    None
                }
                State::Closed => None,
                finished => {
                    *state = finished;
                    None
                }
            }
        };
        if let Some(mut source) = running {
            self.closed.store(true, Ordering::Relaxed);
            py.detach(|| source.close());
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        exc_value: Option<Bound<'_, PyAny>>,
        traceback: Option<Bound<'_, PyAny>>,
    ) {
        let _ = (exc_type, exc_value, traceback); // named for the stubs; closed either way
        self.close(py);
    }
}

impl Drop for RowStream {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let State::Running(mut source) = std::mem::replace(state, State::Closed) {
            // Joined without the GIL when the interpreter can be reached, else with it.
            if Python::try_attach(|py| py.detach(|| source.close())).is_none() {
                source.close();
            }
        }
    }
}
