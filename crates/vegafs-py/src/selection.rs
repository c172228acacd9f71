//! The Selection as the Python engine passes it: a dict with every field present.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use vegafs_core::{EntryType, EntryTypes, Selection};

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct SelectionArg {
    roots: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    path_regex: Option<String>,
    types: Vec<String>,
    min_size: Option<u64>,
    max_size: Option<u64>,
    newer_than: Option<i64>,
    older_than: Option<i64>,
    hidden: bool,
    ignore_files: bool,
    max_depth: Option<usize>,
    one_file_system: bool,
    follow_symlinks: bool,
    beneath: Vec<PathBuf>,
}

impl TryFrom<SelectionArg> for Selection {
    type Error = PyErr;

    fn try_from(a: SelectionArg) -> PyResult<Selection> {
        let types = a
            .types
            .iter()
            .map(|t| {
                EntryType::parse(t)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown entry type {t:?}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Selection {
            roots: a.roots,
            include: a.include,
            exclude: a.exclude,
            path_regex: a.path_regex,
            types: EntryTypes::of(&types),
            min_size: a.min_size,
            max_size: a.max_size,
            newer_than: a.newer_than,
            older_than: a.older_than,
            hidden: a.hidden,
            ignore_files: a.ignore_files,
            max_depth: a.max_depth,
            one_file_system: a.one_file_system,
            follow_symlinks: a.follow_symlinks,
            beneath: a.beneath,
        })
    }
}

/// `check_selection(selection)`: raises what a call with this selection would raise before
/// walking (a bad glob or regex, an empty range: `SelectionError` naming the field), without
/// walking. The service checks a job's selection with it when the job is submitted.
#[pyfunction]
pub fn check_selection(selection: SelectionArg) -> PyResult<()> {
    Selection::try_from(selection)?.compile().map(drop).map_err(crate::errors::to_pyerr)
}
