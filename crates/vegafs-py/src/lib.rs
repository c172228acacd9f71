//! `vegafs._native`: the Python face of vegafs-core. Converts arguments and results, maps errors,
//! and runs every long call without the interpreter lock (see `detach`). No logic of its own.

mod across;
mod analyze;
mod control;
mod copy;
mod detach;
mod dirs;
mod dupes;
mod errors;
mod hash;
mod list;
mod moving;
mod pipeline;
mod rename;
mod replace;
mod rows;
mod search;
mod selection;
mod validate;
mod verify;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<control::CancelToken>()?;
    m.add_class::<control::Progress>()?;
    m.add_class::<rows::RowStream>()?;
    m.add_class::<analyze::Analysis>()?;
    m.add_class::<list::ListSummary>()?;
    m.add_class::<hash::HashSummary>()?;
    m.add_class::<search::SearchSummary>()?;
    m.add_function(wrap_pyfunction!(analyze::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(selection::check_selection, m)?)?;
    m.add_function(wrap_pyfunction!(list::list_entries, m)?)?;
    m.add_function(wrap_pyfunction!(hash::hash_files, m)?)?;
    m.add_function(wrap_pyfunction!(dupes::find_dupes, m)?)?;
    m.add_function(wrap_pyfunction!(dupes::dupe_files, m)?)?;
    m.add_function(wrap_pyfunction!(dupes::find_dupes_among, m)?)?;
    m.add_class::<dupes::DupesSummary>()?;
    m.add_function(wrap_pyfunction!(search::search, m)?)?;
    m.add_function(wrap_pyfunction!(search::check_pattern, m)?)?;
    m.add_class::<pipeline::PipelineSummary>()?;
    m.add_function(wrap_pyfunction!(pipeline::pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::check_steps, m)?)?;
    m.add_class::<rename::RenameSummary>()?;
    m.add_function(wrap_pyfunction!(rename::plan_rename, m)?)?;
    m.add_function(wrap_pyfunction!(rename::check_rename, m)?)?;
    m.add_function(wrap_pyfunction!(rename::rename_steps, m)?)?;
    m.add_function(wrap_pyfunction!(rename::sync_parents, m)?)?;
    m.add_function(wrap_pyfunction!(rename::roll_back, m)?)?;
    m.add_function(wrap_pyfunction!(rename::plan_moves, m)?)?;
    m.add_function(wrap_pyfunction!(rename::identities, m)?)?;
    m.add_function(wrap_pyfunction!(rename::sizes, m)?)?;
    m.add_function(wrap_pyfunction!(across::remove_moved, m)?)?;
    m.add_function(wrap_pyfunction!(across::restore_moved, m)?)?;
    m.add_function(wrap_pyfunction!(across::moved_done, m)?)?;
    m.add_function(wrap_pyfunction!(dirs::make_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(dirs::remove_empty_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(dirs::dir_states, m)?)?;
    m.add_function(wrap_pyfunction!(dirs::remove_files, m)?)?;
    m.add_function(wrap_pyfunction!(moving::plan_move, m)?)?;
    m.add_function(wrap_pyfunction!(moving::plan_tree_moves, m)?)?;
    m.add_class::<replace::ReplaceSummary>()?;
    m.add_function(wrap_pyfunction!(replace::plan_replace, m)?)?;
    m.add_function(wrap_pyfunction!(replace::check_replace, m)?)?;
    m.add_function(wrap_pyfunction!(replace::replace_files, m)?)?;
    m.add_function(wrap_pyfunction!(replace::restore_files, m)?)?;
    m.add_function(wrap_pyfunction!(replace::content_digests, m)?)?;
    m.add_class::<copy::CopySummary>()?;
    m.add_function(wrap_pyfunction!(copy::plan_copy, m)?)?;
    m.add_function(wrap_pyfunction!(copy::check_copy, m)?)?;
    m.add_function(wrap_pyfunction!(copy::copy_steps, m)?)?;
    m.add_function(wrap_pyfunction!(copy::remove_copies, m)?)?;
    m.add_function(wrap_pyfunction!(copy::copies_done, m)?)?;
    m.add_function(wrap_pyfunction!(copy::blake3_digests, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_files, m)?)?;
    m.add_class::<verify::VerifySummary>()?;
    m.add_function(wrap_pyfunction!(validate::validate_files, m)?)?;
    m.add_function(wrap_pyfunction!(validate::check_schema, m)?)?;
    m.add_class::<validate::ValidateSummary>()?;
    Ok(())
}
