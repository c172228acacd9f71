//! `rename` (planning): every selected entry whose name matches a regex gets a new name in the
//! same directory from a [`Template`]; the moves go through [`plan_moves`]. Nothing on disk
//! changes here.
//!
//! The walk collects the matching entries (below each root, and a root that is not a directory
//! itself); they are numbered in the `sort` order for `{n}`, hashed in parallel when the
//! template has `{hash}`, and rendered.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use regex::bytes::Regex;
use rustix::fs::FileType;

use crate::analyze::{keep_first_errors, record_error};
use crate::apply::{identity_from, Identity};
use crate::control::Control;
use crate::copy_file::open_read;
use crate::error::{CoreError, WalkError};
use crate::hash::{digest_of, Algorithm};
use crate::places::Places;
use crate::plan::{plan_moves, Action, OnConflict, Plan};
use crate::selection::{EntryType, Selection};
use crate::template::{Template, Vars};
use crate::walk::{walk, Entry, Visitor};

/// The order entries are numbered in for `{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By name, then path (byte-wise).
    #[default]
    Name,
    Mtime,
    Size,
    /// By path (byte-wise): the cheapest stable order.
    Path,
}

#[derive(Debug, Clone)]
pub struct RenameOptions {
    /// A regex on the entry's name (bytes); None: every entry. Its captures feed the template.
    pub pattern: Option<String>,
    pub template: String,
    pub sort: SortKey,
    pub reverse: bool,
    /// The counter's first value and step.
    pub start: i64,
    pub step: i64,
    pub on_conflict: OnConflict,
    pub max_errors: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenameSummary {
    /// Entries the Selection reported whose name matched.
    pub matched: u64,
    pub moves: u64,
    pub unchanged: u64,
    pub refused: u64,
    /// Renames to run, cycle hops included.
    pub steps: u64,
    /// Whether the plan may be applied.
    pub ok: bool,
    pub error_count: u64,
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

/// A regex or template that is not valid: before the walk.
pub fn compile(options: &RenameOptions) -> Result<(Option<Regex>, Template), CoreError> {
    let regex = match &options.pattern {
        Some(p) => Some(Regex::new(p).map_err(|e| CoreError::InvalidPattern(e.to_string()))?),
        None => None,
    };
    let template = Template::parse(&options.template)
        .map_err(|e| CoreError::InvalidTemplate(e.to_string()))?;
    template
        .check_captures(regex.as_ref())
        .map_err(|e| CoreError::InvalidTemplate(e.to_string()))?;
    Ok((regex, template))
}

/// A selected entry, as the walk saw it.
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) root: usize,
    kind: EntryType,
    size: u64,
    mtime: i64,
    /// As the walk saw it: the journal's record of the entry a step moves.
    pub(crate) identity: Identity,
}

struct Collector<'a> {
    regex: Option<&'a Regex>,
    found: Vec<Found>,
    error_count: u64,
    errors: Vec<WalkError>,
    max_errors: usize,
}

impl Visitor for Collector<'_> {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.depth == 0 && entry.meta.kind == EntryType::Dir {
            return 0; // a root directory stays; its entries are renamed
        }
        let name = entry.name.as_bytes();
        if self.regex.is_some_and(|r| !r.is_match(name)) {
            return 0;
        }
        let m = entry.meta;
        let path = entry.path();
        self.found.push(Found {
            path,
            root: entry.root,
            kind: m.kind,
            size: m.size,
            mtime: m.mtime,
            identity: identity_from(m.kind == EntryType::Dir, m.dev, m.ino, m.mtime, m.mtime_nsec),
        });
        0
    }

    fn error(&mut self, error: WalkError) {
        record_error(&mut self.error_count, &mut self.errors, error, self.max_errors);
    }
}

/// Plans the renames of the selected entries; `temp_tag` names cycle hops (`.vegafs-TAG-N`).
/// Also the identity of each row's entry as the walk saw it (none for a row the walk did not
/// give: a target `Overwrite` sets aside).
pub fn plan_rename(
    selection: &Selection,
    options: &RenameOptions,
    temp_tag: &str,
    control: &Control,
) -> Result<(Plan, RenameSummary, Vec<Option<Identity>>), CoreError> {
    let start = Instant::now();
    let selected = select(selection, options, control)?;
    let moves: Vec<(PathBuf, PathBuf)> = (0..selected.found.len())
        .map(|i| {
            let f = &selected.found[i];
            let dir = f.path.parent().unwrap_or(Path::new(""));
            let new = selected.render(i, selection, options);
            // A name with a '/' would leave the directory: the plan refuses it (invalid name).
            (f.path.clone(), dir.join(OsStr::from_bytes(&new)))
        })
        .collect();
    let mut summary = selected.summary;
    let plan = plan_moves(moves, options.on_conflict, temp_tag, true);
    count(&mut summary, &plan);
    let mut identities: Vec<_> = selected.found.iter().map(|f| Some(f.identity)).collect();
    identities.resize(plan.rows.len(), None);
    summary.elapsed = start.elapsed();
    Ok((plan, summary, identities))
}

/// The plan's counts into `summary`.
pub(crate) fn count(summary: &mut RenameSummary, plan: &Plan) {
    for row in &plan.rows {
        match row.action {
            Action::Move => summary.moves += 1,
            Action::Unchanged => summary.unchanged += 1,
            Action::Refused(_) => summary.refused += 1,
        }
    }
    summary.steps = plan.steps.len() as u64;
    summary.ok = plan.ok;
}

/// The selected entries in numbering order, with what rendering their new names needs.
pub(crate) struct Selected {
    pub(crate) found: Vec<Found>,
    hashes: Vec<Option<String>>,
    regex: Option<Regex>,
    template: Template,
    /// `matched` and the errors so far.
    pub(crate) summary: RenameSummary,
}

impl Selected {
    /// The template rendered for the `i`-th entry (the counter counts in this order).
    pub(crate) fn render(
        &self,
        i: usize,
        selection: &Selection,
        options: &RenameOptions,
    ) -> Vec<u8> {
        let f = &self.found[i];
        let name = f.path.file_name().map(OsStr::as_bytes).unwrap_or_default();
        let dir = f.path.parent().unwrap_or(Path::new(""));
        let parent = dir.file_name().map(OsStr::as_bytes).unwrap_or_default();
        let below = f.path.strip_prefix(&selection.roots[f.root]).unwrap_or(&f.path);
        let captures = self.regex.as_ref().and_then(|r| r.captures(name));
        let vars = Vars {
            name,
            parent,
            path: below.as_os_str().as_bytes(),
            captures: captures.as_ref(),
            counter: options.start + options.step * i as i64,
            mtime: f.mtime,
            size: f.size,
            hash: self.hashes.get(i).and_then(|h| h.as_deref()),
        };
        self.template.render(&vars)
    }
}

/// Walks the selection: the entries whose name matches, sorted for `{n}`, hashed when the
/// template needs `{hash}` (an entry that cannot be read is left out and listed).
pub(crate) fn select(
    selection: &Selection,
    options: &RenameOptions,
    control: &Control,
) -> Result<Selected, CoreError> {
    let (regex, template) = compile(options)?;
    let places = Places::of_walk(selection)?;
    let parts = walk(selection, control, || Collector {
        regex: regex.as_ref(),
        found: Vec::new(),
        error_count: 0,
        errors: Vec::new(),
        max_errors: options.max_errors,
    })?;
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    let mut summary = RenameSummary::default();
    let mut found = Vec::new();
    for part in parts {
        found.extend(part.found);
        summary.error_count += part.error_count;
        summary.errors.extend(part.errors);
    }
    sort(&mut found, options.sort, options.reverse);
    let mut hashes: Vec<Option<String>> = Vec::new();
    if template.needs_hash() {
        let read: Vec<io::Result<Option<String>>> =
            found.par_iter().map(|f| digest(&places, f, control)).collect();
        // An entry that cannot be read cannot be named by its digest: it is left out, listed.
        let mut kept = Vec::with_capacity(found.len());
        for (f, r) in found.into_iter().zip(read) {
            match r {
                Ok(h) => {
                    kept.push(f);
                    hashes.push(h);
                }
                Err(e) => {
                    let error = WalkError::from_io(f.path, &e);
                    record_error(
                        &mut summary.error_count,
                        &mut summary.errors,
                        error,
                        options.max_errors,
                    );
                }
            }
        }
        found = kept;
    }
    keep_first_errors(&mut summary.errors, options.max_errors);
    summary.matched = found.len() as u64;
    Ok(Selected { found, hashes, regex, template, summary })
}

fn sort(found: &mut [Found], key: SortKey, reverse: bool) {
    fn name(f: &Found) -> &[u8] {
        f.path.file_name().map(OsStr::as_bytes).unwrap_or_default()
    }
    match key {
        // The names cut once, not at each comparison.
        SortKey::Name => found.sort_by_cached_key(|f| (name(f).to_vec(), f.path.clone())),
        SortKey::Mtime => found.sort_by(|a, b| a.mtime.cmp(&b.mtime).then(a.path.cmp(&b.path))),
        SortKey::Size => found.sort_by(|a, b| a.size.cmp(&b.size).then(a.path.cmp(&b.path))),
        SortKey::Path => found.sort_by(|a, b| a.path.cmp(&b.path)),
    }
    if reverse {
        found.reverse();
    }
}

/// The BLAKE3 digest of a regular file for `{hash}` (None for other entries). Opened through
/// its directory as `places` opens it (beneath a job's roots, no symlink followed on the way),
/// itself without following a symlink and without blocking, so a FIFO swapped in is refused,
/// not waited on.
fn digest(places: &Places, f: &Found, control: &Control) -> io::Result<Option<String>> {
    if f.kind != EntryType::File || control.cancel.is_cancelled() {
        return Ok(None);
    }
    let (mut file, st) = open_read(places, &f.path)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("no longer a regular file"));
    }
    digest_of(&mut file, Algorithm::Blake3, f.size, &mut Vec::new()).map(|(_, d)| Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `root/d/f` as the walk saw it, before `d` was swapped for a symlink leading out.
    fn swapped(top: &Path) -> (PathBuf, Found) {
        let (root, out) = (top.join("root"), top.join("out"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("f"), "outside").unwrap();
        std::os::unix::fs::symlink(&out, root.join("d")).unwrap();
        let found = Found {
            path: root.join("d/f"),
            root: 0,
            kind: EntryType::File,
            size: 7,
            mtime: 0,
            identity: (0, 0, 0),
        };
        (root, found)
    }

    #[test]
    fn a_hash_is_read_beneath_the_roots_never_through_a_symlink() {
        let top = tempfile::tempdir().unwrap();
        let (root, found) = swapped(top.path());
        let control = Control::default();
        let beneath = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let e = digest(&beneath, &found, &control).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            format!(
                "{} is reached through a symlink (not followed in a job)",
                found.path.display()
            )
        );
        // The command line reads the path as given, as it always did.
        let outside = blake3::hash(b"outside").to_hex().to_string();
        assert_eq!(digest(&Places::anywhere(), &found, &control).unwrap(), Some(outside));
    }
}
