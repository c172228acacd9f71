//! The one way a long core call runs: on its own thread, while this thread waits without the
//! interpreter lock and wakes every 50 ms to let Python handle signals. Ctrl-C (or any signal
//! handler that raises) sets the cancel token; the core stops within a directory or a few hundred
//! entries, and the handler's exception propagates.

use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use vegafs_core::{CancelToken, CoreError};

use crate::errors::to_pyerr;

const SIGNAL_POLL: Duration = Duration::from_millis(50);

pub fn run_detached<T, F>(py: Python<'_>, cancel: &CancelToken, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, CoreError> + Send,
{
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel(1);
        let worker = s.spawn(move || {
            let _ = tx.send(work());
        });
        let mut rx = rx;
        let mut interrupted = None;
        let outcome = loop {
            // The receiver moves in and out: detach() takes only what may cross threads.
            let (received, back) = py.detach(move || (rx.recv_timeout(SIGNAL_POLL), rx));
            rx = back;
            match received {
                Ok(outcome) => break Some(outcome),
                Err(mpsc::RecvTimeoutError::Disconnected) => break None, // the work panicked
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if interrupted.is_none() {
                if let Err(err) = py.check_signals() {
                    cancel.cancel();
                    interrupted = Some(err);
                }
            }
        };
        if let Err(panic) = py.detach(|| worker.join()) {
            std::panic::resume_unwind(panic);
        }
        match (interrupted, outcome) {
            (Some(err), _) => Err(err),
            (None, Some(outcome)) => outcome.map_err(to_pyerr),
            (None, None) => unreachable!("the worker neither answered nor panicked"),
        }
    })
}
