//! CoreError -> Python exception. I/O errors become OSError with errno and filename, which Python
//! turns into FileNotFoundError, PermissionError, FileExistsError...; the rest map onto the
//! hierarchy in python/vegafs/errors.py. The errors a walk lists (not raised) become
//! [`ErrorRow`] tuples.

use std::ffi::OsString;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use vegafs_core::{CoreError, WalkError};

pyo3::import_exception!(vegafs.errors, SelectionError);
pyo3::import_exception!(vegafs.errors, Cancelled);
pyo3::import_exception!(vegafs.errors, PathNotAllowed);
pyo3::import_exception!(vegafs.errors, PatternError);
pyo3::import_exception!(vegafs.errors, TemplateError);
pyo3::import_exception!(vegafs.errors, ManifestError);
pyo3::import_exception!(vegafs.errors, SchemaError);

pub fn to_pyerr(err: CoreError) -> PyErr {
    match err {
        CoreError::Io { path, source } => {
            let message = source.to_string();
            // "No such file or directory (os error 2)" -> "No such file or directory"
            let strerror = message.split(" (os error").next().unwrap_or(&message).to_string();
            match source.raw_os_error() {
                Some(errno) => PyOSError::new_err((errno, strerror, path.into_os_string())),
                // OSError(None, message, path): `filename` names the path all the same.
                None => PyOSError::new_err((None::<i32>, message, path.into_os_string())),
            }
        }
        CoreError::InvalidSelection { field, message } => SelectionError::new_err((message, field)),
        CoreError::NotAllowed { path, reason } => {
            PathNotAllowed::new_err((path.into_os_string(), reason))
        }
        CoreError::InvalidPattern(message) => PatternError::new_err(message),
        CoreError::InvalidTemplate(message) => TemplateError::new_err(message),
        CoreError::InvalidSchema { path, message } => {
            SchemaError::new_err((path.into_os_string(), message))
        }
        CoreError::Cancelled => Cancelled::new_err("cancelled"),
        CoreError::InvalidManifest { path, line, message } => {
            ManifestError::new_err((path.into_os_string(), line, message))
        }
    }
}

/// A listed walk error as Python sees it: `(path, kind, message)`.
pub type ErrorRow = (OsString, &'static str, String);

pub fn error_rows(errors: Vec<WalkError>) -> Vec<ErrorRow> {
    errors.into_iter().map(|e| (e.path.into_os_string(), e.kind.as_str(), e.message)).collect()
}

/// An I/O error as `(errno, message)` (errno 0 when it has none), for results that carry one.
pub fn io_error_tuple(e: &std::io::Error) -> (i32, String) {
    (e.raw_os_error().unwrap_or(0), e.to_string())
}
