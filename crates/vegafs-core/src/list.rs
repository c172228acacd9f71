//! `list`: one row per selected entry (path, type, size, mtime), like `find -printf` or `fd`,
//! streamed in batches through a [`rows`](crate::rows) channel; the call returns a summary.
//!
//! Memory is bounded by the channel (see [`crate::rows`]) and the walk, never by the number of
//! entries: the summary holds counts and at most `max_errors` errors.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::rows::RowSink;
use crate::selection::{EntryType, Selection};
use crate::walk::{walk, Entry, Visitor};

/// One selected entry. A root is listed by the path it was given as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub path: PathBuf,
    pub kind: EntryType,
    /// st_size (of the link itself for a symlink).
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    /// How many errors to list (all are counted).
    pub max_errors: usize,
}

/// What a `list` call saw: one count per row sent, by type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSummary {
    /// Rows: files + dirs + symlinks + other.
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub other: u64,
    /// st_size of the regular files listed, each entry counted (hard links included).
    pub file_bytes: u64,
    pub error_count: u64,
    /// The first `max_errors` errors in byte-wise path order (see [`keep_first_errors`]).
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

impl ListSummary {
    /// Adds `other`'s counts and errors, keeping the first `max_errors` errors.
    pub fn merge(&mut self, other: ListSummary, max_errors: usize) {
        self.entries += other.entries;
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.other += other.other;
        self.file_bytes += other.file_bytes;
        self.error_count += other.error_count;
        self.errors.extend(other.errors);
        keep_first_errors(&mut self.errors, max_errors);
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

struct Lister {
    summary: ListSummary,
    max_errors: usize,
    rows: RowSink<ListRow>,
}

impl Visitor for Lister {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        let m = entry.meta;
        let s = &mut self.summary;
        s.entries += 1;
        match m.kind {
            EntryType::File => s.files += 1,
            EntryType::Dir => s.dirs += 1,
            EntryType::Symlink => s.symlinks += 1,
            EntryType::Other => s.other += 1,
        }
        let file_size = if m.kind == EntryType::File { m.size } else { 0 };
        s.file_bytes += file_size;
        // false: the consumer is gone and the walk's token cancelled; the walk stops soon.
        self.rows.push(ListRow { path: entry.path(), kind: m.kind, size: m.size, mtime: m.mtime });
        file_size
    }

    fn error(&mut self, error: WalkError) {
        let s = &mut self.summary;
        record_error(&mut s.error_count, &mut s.errors, error, self.max_errors);
    }
}

/// Lists the selected entries into `rows` and returns the summary once every row is sent.
///
/// Each pool thread fills its own clone of `rows`; `rows` and its clones are dropped before this
/// returns, so the receiver sees the end of the rows just before the call returns. When the
/// receiver is dropped, the walk stops and the call returns [`CoreError::Cancelled`] (the token
/// of `control` is cancelled: give the call a [`child`](crate::CancelToken::child) token to keep
/// the caller's own token clear).
pub fn list(
    selection: &Selection,
    options: ListOptions,
    control: &Control,
    rows: RowSink<ListRow>,
) -> Result<ListSummary, CoreError> {
    let start = Instant::now();
    let max_errors = options.max_errors;
    let parts = walk(selection, control, || Lister {
        summary: ListSummary::default(),
        max_errors,
        rows: rows.clone(),
    })?;
    drop(rows);
    let mut total = ListSummary::default();
    for mut part in parts {
        part.rows.flush();
        total.merge(part.summary, max_errors);
    }
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled); // cancelled, or the receiver went away at the end
    }
    total.elapsed = start.elapsed();
    Ok(total)
}
