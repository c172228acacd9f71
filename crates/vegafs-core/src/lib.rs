//! VegaFS core: a parallel walk over a [`Selection`] and the operations that run on it.
//!
//! Pure Rust, no Python. The `vegafs-py` crate wraps it for the `vegafs._native` module.
//!
//! - [`selection`]: which entries an operation sees (roots, globs, regex, types, ranges...).
//! - [`walk`]: the one parallel walker; handle-relative (no absolute paths, fd budget),
//!   pooled visitors, post-order directory totals.
//! - [`control`]: cancel token and progress counters shared with the caller.
//! - [`rows`]: the bounded channel of row batches operations stream their rows through.
//! - [`analyze`]: directory-tree statistics, mergeable across disjoint subtrees.
//! - [`list`]: one row per selected entry (path, type, size, mtime), streamed.
//! - [`hash`]: a BLAKE3, SHA-256 or XXH3 digest of every selected file, streamed.
//! - [`dupes`]: groups of files of equal content (size, then edges, then content hash).
//! - [`search`]: lines matching a pattern in the selected files (ripgrep's searcher), streamed
//!   as rows or as ready lines of text.
//! - [`pipeline`]: every selected file through a sequence of steps (match, hash, validate),
//!   one walk.
//! - [`across`]: moves across file systems: a copy, then the source removed once verified.
//! - [`apply`]: a plan's renames, never replacing a target; directories fsynced.
//! - [`dirs`]: the directories a plan creates and removes, beneath a job's roots.
//! - [`plan`]: plans of the writing operations: checks, refusals with reasons, a safe order.
//! - [`rename`]: the plan of renaming selected entries in place by a template.
//! - [`moving`]: the plan of moving selected entries to paths a template gives, below a
//!   destination, creating directories.
//! - [`tree_plan`]: plans of moves across directories: the directories to create, and an order
//!   that keeps every path valid when it is used.
//! - [`replace`]: the plan of replacing a regex in the selected files' contents (diffs).
//! - [`rewrite`]: writing files' new contents safely (backup, temporary file, fsync, rename),
//!   reversing it, and telling whether it is done.
//! - [`copy`]: the plan of copying selected files under a destination (paths kept, or made by
//!   a template); [`copy_file`] applies it: temporary name, reflink or sparse-aware copy,
//!   metadata kept, fsync, no-replace publish.
//! - [`template`]: the name templates of the writing operations (`{stem|lower}-{n:03}.{ext}`).
//! - [`validate`]: is each file well-formed JSON, JSON lines, CSV, TSV, UTF-8, XML, TOML, YAML,
//!   gzip or zstd (and does its JSON match a JSON Schema), streamed as one row per failure.
//! - [`kinds`]: the extension -> kind table.
//! - [`verify`]: the files a checksum manifest lists, checked against their digests, streamed.

pub mod across;
pub mod analyze;
pub mod apply;
pub mod control;
pub mod copy;
pub mod copy_file;
pub mod dirs;
pub mod dupes;
pub mod error;
pub mod hash;
pub mod kinds;
pub mod list;
pub mod moving;
pub mod pipeline;
pub mod places;
pub mod plan;
pub mod rename;
pub mod replace;
pub mod rewrite;
pub mod rows;
pub mod search;
pub mod selection;
pub mod template;
pub mod topn;
pub mod tree_plan;
pub mod validate;
pub mod verify;
pub mod walk;

pub use analyze::{analyze, Analysis, AnalyzeOptions};
pub use control::{CancelToken, Control, Progress};
pub use dupes::{
    dupe_files, dupes, dupes_among, DupeFile, DupeGroup, DupesOptions, DupesSummary, StageCount,
};
pub use error::{CoreError, ErrorKind, WalkError};
pub use hash::{hash, Algorithm, HashOptions, HashRow, HashSummary};
pub use list::{list, ListOptions, ListRow, ListSummary};
pub use pipeline::{
    check_steps, pipeline, Keep, PipelineOptions, PipelineRow, PipelineSummary, Step,
};
pub use rows::{RowReceiver, RowSink};
pub use search::{search, SearchMode, SearchOptions, SearchOutput, SearchRow, SearchSummary};
pub use selection::{EntryType, EntryTypes, Selection};
pub use validate::{validate, Format, Schema, ValidateOptions, ValidateRow, ValidateSummary};
pub use verify::{verify, Status, VerifyOptions, VerifyRow, VerifySummary};
