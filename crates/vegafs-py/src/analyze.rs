//! `analyze(selection, top, max_errors, now, progress=None, cancel=None) -> dict`

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::analyze::{size_bucket_bounds, AGE_BUCKETS};
use vegafs_core::kinds::Kind;
use vegafs_core::{Analysis, AnalyzeOptions, Selection};

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::selection::SelectionArg;

#[pyfunction]
#[pyo3(signature = (selection, *, top, max_errors, now, progress=None, cancel=None))]
pub fn analyze<'py>(
    py: Python<'py>,
    selection: SelectionArg,
    top: usize,
    max_errors: usize,
    now: i64,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<Bound<'py, PyDict>> {
    let selection = Selection::try_from(selection)?;
    let control = control_of(progress, cancel);
    let options = AnalyzeOptions { top, max_errors, now };
    let analysis =
        run_detached(py, &control.cancel, || vegafs_core::analyze(&selection, options, &control))?;
    to_dict(py, analysis)
}

/// Tables come out as lists of tuples; the Python engine names their fields.
fn to_dict(py: Python<'_>, a: Analysis) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("files", a.files)?;
    d.set_item("dirs", a.dirs)?;
    d.set_item("symlinks", a.symlinks)?;
    d.set_item("other", a.other)?;
    d.set_item("apparent_bytes", a.apparent_bytes)?;
    d.set_item("disk_bytes", a.disk_bytes)?;
    d.set_item("file_bytes", a.file_bytes)?;
    d.set_item("repeated_links", a.repeated_links)?;
    let by_kind: Vec<_> =
        Kind::ALL.iter().zip(a.by_kind).map(|(k, c)| (k.as_str(), c.files, c.bytes)).collect();
    d.set_item("by_kind", by_kind)?;
    let by_extension: Vec<_> = a
        .by_extension
        .iter()
        // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
        .map(|(ext, (kind, c))| (OsStr::from_bytes(ext), kind.as_str(), c.files, c.bytes))
        .collect();
    d.set_item("by_extension", by_extension)?;
    d.set_item("unlisted_extensions", (a.unlisted_extensions.files, a.unlisted_extensions.bytes))?;
    let sizes: Vec<_> = a
        .size_histogram
        .iter()
        .enumerate()
        .filter(|(_, c)| c.files > 0)
        .map(|(i, c)| {
            let (lo, hi) = size_bucket_bounds(i);
            (lo, hi, c.files, c.bytes)
        })
        .collect();
    d.set_item("size_histogram", sizes)?;
    let ages: Vec<_> = AGE_BUCKETS
        .iter()
        .zip(a.age_histogram)
        .map(|((name, max), c)| (*name, *max, c.files, c.bytes))
        .collect();
    d.set_item("age_histogram", ages)?;
    let owners: Vec<_> = a.by_owner.iter().map(|(uid, c)| (*uid, c.files, c.bytes)).collect();
    d.set_item("by_owner", owners)?;
    let files: Vec<_> = a.largest_files.into_sorted().into_iter().map(|(n, p)| (p, n)).collect();
    d.set_item("largest_files", files)?;
    let dirs: Vec<_> = a.largest_dirs.into_sorted().into_iter().map(|(n, p)| (p, n)).collect();
    d.set_item("largest_dirs", dirs)?;
    d.set_item("error_count", a.error_count)?;
    let errors: Vec<_> = a
        .errors
        .into_iter()
        .map(|e| (e.path.into_os_string(), e.kind.as_str(), e.message))
        .collect();
    d.set_item("errors", errors)?;
    d.set_item("elapsed_s", a.elapsed.as_secs_f64())?;
    Ok(d)
}
