//! `analyze(selection, top, max_errors, now, progress=None, cancel=None, defer_links=False)
//! -> Analysis`

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use pyo3::prelude::*;
use vegafs_core::analyze::{size_bucket_bounds, AGE_BUCKETS};
use vegafs_core::kinds::Kind;
use vegafs_core::{AnalyzeOptions, Selection};

use crate::control::{control_of, CancelToken, Progress};
use crate::detach::run_detached;
use crate::errors::{error_rows, ErrorRow};
use crate::selection::SelectionArg;

#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Python signature, keyword-only
#[pyo3(signature = (selection, *, top, max_errors, now, progress=None, cancel=None, defer_links=false))]
pub fn analyze(
    py: Python<'_>,
    selection: SelectionArg,
    top: usize,
    max_errors: usize,
    now: i64,
    progress: Option<&Progress>,
    cancel: Option<&CancelToken>,
    defer_links: bool,
) -> PyResult<Analysis> {
    let selection = Selection::try_from(selection)?;
    let control = control_of(progress, cancel);
    let options = AnalyzeOptions { top, max_errors, now, defer_links };
    let analysis =
        run_detached(py, &control.cancel, || vegafs_core::analyze(&selection, options, &control))?;
    Ok(Analysis::from(analysis))
}

/// The core's analysis as Python sees it; `_native.pyi` spells out every field. Tables are lists
/// of tuples; the Python engine names their fields. Paths and extensions that are not UTF-8 reach
/// Python as surrogate escapes, like every name.
#[pyclass(frozen, module = "vegafs._native")]
pub struct Analysis {
    #[pyo3(get)]
    files: u64,
    #[pyo3(get)]
    dirs: u64,
    #[pyo3(get)]
    symlinks: u64,
    #[pyo3(get)]
    other: u64,
    #[pyo3(get)]
    apparent_bytes: u64,
    #[pyo3(get)]
    disk_bytes: u64,
    #[pyo3(get)]
    file_bytes: u64,
    #[pyo3(get)]
    repeated_links: u64,
    /// (kind, files, bytes), in `Kind::ALL` order.
    #[pyo3(get)]
    by_kind: Vec<(&'static str, u64, u64)>,
    /// (extension, kind, files, bytes), in no particular order.
    #[pyo3(get)]
    by_extension: Vec<(OsString, &'static str, u64, u64)>,
    /// (files, bytes)
    #[pyo3(get)]
    unlisted_extensions: (u64, u64),
    /// (min_bytes, max_bytes or None, files, bytes) of the buckets holding files.
    #[pyo3(get)]
    size_histogram: Vec<(u64, Option<u64>, u64, u64)>,
    /// (bucket, max_age_s or None, files, bytes) of every bucket.
    #[pyo3(get)]
    age_histogram: Vec<(&'static str, Option<i64>, u64, u64)>,
    /// (uid, files, bytes), in no particular order.
    #[pyo3(get)]
    by_owner: Vec<(u32, u64, u64)>,
    /// (path, bytes), largest first.
    #[pyo3(get)]
    largest_files: Vec<(OsString, u64)>,
    #[pyo3(get)]
    largest_dirs: Vec<(OsString, u64)>,
    /// (path, bytes) of each root directory, in no particular order.
    #[pyo3(get)]
    root_totals: Vec<(OsString, u64)>,
    /// With `defer_links`: (dev, ino, size, disk, uid, mtime, is_file, path, counted_in,
    /// extension, kind) of each multiply-linked entry counted, in no particular order.
    #[pyo3(get)]
    linked: Vec<LinkedRow>,
    #[pyo3(get)]
    error_count: u64,
    #[pyo3(get)]
    errors: Vec<ErrorRow>,
    #[pyo3(get)]
    elapsed_s: f64,
}

type LinkedRow = (u64, u64, u64, u64, u32, i64, bool, OsString, OsString, OsString, &'static str);

fn linked_row(l: vegafs_core::analyze::LinkedFile) -> LinkedRow {
    let ext = l.extension();
    let kind = Kind::of_extension(std::str::from_utf8(&ext).unwrap_or(""));
    let ext = OsStr::from_bytes(&ext).to_os_string();
    (
        l.dev,
        l.ino,
        l.size,
        l.disk,
        l.uid,
        l.mtime,
        l.is_file,
        l.path,
        l.counted_in,
        ext,
        kind.as_str(),
    )
}

impl From<vegafs_core::Analysis> for Analysis {
    fn from(a: vegafs_core::Analysis) -> Self {
        let by_kind =
            Kind::ALL.iter().zip(a.by_kind).map(|(k, c)| (k.as_str(), c.files, c.bytes)).collect();
        let by_extension = a
            .by_extension
            .iter()
            .map(|(ext, (kind, c))| {
                (OsStr::from_bytes(ext).to_os_string(), kind.as_str(), c.files, c.bytes)
            })
            .collect();
        let size_histogram = a
            .size_histogram
            .iter()
            .enumerate()
            .filter(|(_, c)| c.files > 0)
            .map(|(i, c)| {
                let (lo, hi) = size_bucket_bounds(i);
                (lo, hi, c.files, c.bytes)
            })
            .collect();
        let age_histogram = AGE_BUCKETS
            .iter()
            .zip(a.age_histogram)
            .map(|((name, max), c)| (*name, *max, c.files, c.bytes))
            .collect();
        let by_owner = a.by_owner.iter().map(|(uid, c)| (*uid, c.files, c.bytes)).collect();
        let largest = |top: vegafs_core::topn::TopN<OsString>| -> Vec<(OsString, u64)> {
            top.into_sorted().into_iter().map(|(n, p)| (p, n)).collect()
        };
        Analysis {
            files: a.files,
            dirs: a.dirs,
            symlinks: a.symlinks,
            other: a.other,
            apparent_bytes: a.apparent_bytes,
            disk_bytes: a.disk_bytes,
            file_bytes: a.file_bytes,
            repeated_links: a.repeated_links,
            by_kind,
            by_extension,
            unlisted_extensions: (a.unlisted_extensions.files, a.unlisted_extensions.bytes),
            size_histogram,
            age_histogram,
            by_owner,
            largest_files: largest(a.largest_files),
            largest_dirs: largest(a.largest_dirs),
            root_totals: a.root_totals,
            linked: a.linked.into_iter().map(linked_row).collect(),
            error_count: a.error_count,
            errors: error_rows(a.errors),
            elapsed_s: a.elapsed.as_secs_f64(),
        }
    }
}
