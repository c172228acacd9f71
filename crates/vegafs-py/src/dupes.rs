//! `find_dupes(selection, *, batch_size, max_errors, progress=None, cancel=None) -> RowStream`
//!
//! Rows: `{"hash": str, "size": int, "count": int, "wasted_bytes": int, "paths": [str]}`;
//! summary: a [`DupesSummary`] with the fields of the engine's `DupesSummary` (schema_version
//! aside), each stage as `(groups, files, bytes)`.
//!
//! A sharded job's halves: `dupe_files(selection, ...)` (rows `{"path", "size", "dev", "ino"}`)
//! and `find_dupes_among(selection, files, ...)` over `(path, size, dev, ino)` tuples, both with
//! the summary of `find_dupes`.

use std::ffi::OsString;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vegafs_core::{DupeFile, DupeGroup, DupesOptions, Selection, StageCount};

use crate::control::{CancelToken, Progress};
use crate::errors::{error_rows, ErrorRow};
use crate::rows::{start_walk, RowStream};
use crate::selection::SelectionArg;

#[pyfunction]
#[pyo3(signature = (selection, *, batch_size, max_errors, progress=None, cancel=None))]
pub fn find_dupes(
    selection: SelectionArg,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let options = DupesOptions { max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::dupes(selection, options, control, sink),
        row_to_dict,
        DupesSummary::new,
    )
}

#[pyfunction]
#[pyo3(signature = (selection, *, batch_size, max_errors, progress=None, cancel=None))]
pub fn dupe_files(
    selection: SelectionArg,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let options = DupesOptions { max_errors };
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| vegafs_core::dupe_files(selection, options, control, sink),
        file_to_dict,
        DupesSummary::new,
    )
}

#[pyfunction]
#[pyo3(signature = (selection, files, *, batch_size, max_errors, progress=None, cancel=None))]
pub fn find_dupes_among(
    selection: SelectionArg,
    files: Vec<(OsString, u64, u64, u64)>,
    batch_size: usize,
    max_errors: usize,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
) -> PyResult<RowStream> {
    let selection = Selection::try_from(selection)?;
    let options = DupesOptions { max_errors };
    let files: Vec<DupeFile> = files
        .into_iter()
        .map(|(path, size, dev, ino)| DupeFile { path: path.into(), dev, ino, size })
        .collect();
    start_walk(
        selection,
        batch_size,
        progress,
        cancel,
        move |selection, control, sink| {
            vegafs_core::dupes_among(selection, files, options, control, sink)
        },
        row_to_dict,
        DupesSummary::new,
    )
}

fn file_to_dict(py: Python<'_>, row: DupeFile) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "path"), row.path.into_os_string())?;
    d.set_item(intern!(py, "size"), row.size)?;
    d.set_item(intern!(py, "dev"), row.dev)?;
    d.set_item(intern!(py, "ino"), row.ino)?;
    Ok(d.into_any())
}

fn row_to_dict(py: Python<'_>, row: DupeGroup) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "hash"), row.hash.to_hex().as_str())?;
    d.set_item(intern!(py, "size"), row.size)?;
    d.set_item(intern!(py, "count"), row.count)?;
    d.set_item(intern!(py, "wasted_bytes"), row.wasted_bytes)?;
    // Bytes that are not UTF-8 reach Python as surrogate escapes, like every name.
    let paths: Vec<OsString> = row.paths.into_iter().map(|p| p.into_os_string()).collect();
    d.set_item(intern!(py, "paths"), paths)?;
    Ok(d.into_any())
}

type Stage = (u64, u64, u64);

fn stage(s: StageCount) -> Stage {
    (s.groups, s.files, s.bytes)
}

/// What a finished `find_dupes` saw, as Python sees it; `_native.pyi` spells out every field.
#[pyclass(frozen, module = "vegafs._native")]
pub struct DupesSummary {
    /// The roots as given.
    #[pyo3(get)]
    roots: Vec<OsString>,
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    hard_links: u64,
    #[pyo3(get)]
    by_size: Stage,
    #[pyo3(get)]
    by_edges: Stage,
    #[pyo3(get)]
    by_content: Stage,
    #[pyo3(get)]
    duplicate_groups: u64,
    #[pyo3(get)]
    duplicate_files: u64,
    #[pyo3(get)]
    reclaimable_bytes: u64,
    #[pyo3(get)]
    hashed_bytes: u64,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

impl DupesSummary {
    fn new(roots: Vec<OsString>, s: vegafs_core::DupesSummary) -> Self {
        DupesSummary {
            roots,
            files: s.files,
            bytes: s.bytes,
            hard_links: s.hard_links,
            by_size: stage(s.by_size),
            by_edges: stage(s.by_edges),
            by_content: stage(s.by_content),
            duplicate_groups: s.duplicate_groups,
            duplicate_files: s.duplicate_files,
            reclaimable_bytes: s.reclaimable_bytes,
            hashed_bytes: s.hashed_bytes,
            error_count: s.error_count,
            errors: error_rows(s.errors),
            elapsed_s: s.elapsed.as_secs_f64(),
        }
    }
}
