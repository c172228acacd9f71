//! `replace` (planning): a regex (or fixed string) replaced in the contents of the selected
//! regular files, with capture groups in the replacement (`$1`, `${name}`, `$$` for a dollar).
//! The matcher is `search`'s ([`SearchOptions::matcher`]): the same syntax, limits and flags.
//! Nothing on disk changes here; [`crate::rewrite`] writes the plan.
//!
//! Files are read whole and replaced as bytes: a file that is not valid UTF-8 is changed where
//! the pattern matches and left byte for byte elsewhere. A file with a NUL byte anywhere is
//! refused as binary (search stops at the first NUL it reads; a replace that rewrites the whole
//! file refuses it outright). Matches never span lines (the pattern cannot match `\n`, as in
//! `search` without `--multiline`), so each change is a set of whole lines, shown as a unified
//! diff with 3 lines of context.

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grep_matcher::{Captures, Matcher};
use grep_regex::RegexMatcher;
use rustc_hash::FxHashMap;

use crate::analyze::{keep_first_errors, record_error};
use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::search::SearchOptions;
use crate::selection::{EntryType, Selection};
use crate::walk::{walk, Entry, Visitor};

/// Lines of context around each change in the diff.
pub const CONTEXT: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct ReplaceOptions {
    pub pattern: String,
    /// `$1`, `${name}` and `$$` are expanded for each match.
    pub replacement: String,
    pub fixed_strings: bool,
    pub ignore_case: bool,
    pub word: bool,
    pub max_errors: usize,
}

/// The compiled pattern and its replacement.
#[derive(Debug, Clone)]
pub struct Replacer {
    matcher: RegexMatcher,
    replacement: Vec<u8>,
    /// The replacement is literal too (fixed strings: no groups, `$` is a dollar).
    literal: bool,
}

/// One match replaced: where it was in the old content and where its replacement is in the new.
struct Edit {
    old: (usize, usize),
    new: (usize, usize),
}

/// A file's new content.
pub struct Replaced {
    pub content: Vec<u8>,
    /// Matches replaced (a replacement equal to its match counts too).
    pub count: u64,
    edits: Vec<Edit>,
}

impl Replacer {
    /// The compiled pattern, or [`CoreError::InvalidPattern`] (syntax, size or nesting limit,
    /// a pattern that could only match a line break) before anything is read.
    pub fn new(options: &ReplaceOptions) -> Result<Self, CoreError> {
        let search = SearchOptions {
            patterns: vec![options.pattern.clone()],
            fixed_strings: options.fixed_strings,
            ignore_case: options.ignore_case,
            word: options.word,
            ..Default::default()
        };
        Ok(Replacer {
            matcher: search.matcher()?,
            replacement: options.replacement.clone().into(),
            literal: options.fixed_strings,
        })
    }

    /// `haystack` with every match replaced; None if nothing matches.
    pub fn replace(&self, haystack: &[u8]) -> io::Result<Option<Replaced>> {
        let m = &self.matcher;
        let mut caps = m.new_captures().map_err(io::Error::other)?;
        let mut content = Vec::new();
        let mut edits = Vec::new();
        let mut last = 0;
        m.captures_iter(haystack, &mut caps, |caps| {
            let Some(found) = caps.get(0) else { return true };
            if content.capacity() == 0 {
                content.reserve(haystack.len() + haystack.len() / 8);
            }
            content.extend_from_slice(&haystack[last..found.start()]);
            let start = content.len();
            if self.literal {
                content.extend_from_slice(&self.replacement);
            } else {
                caps.interpolate(
                    |name| m.capture_index(name),
                    haystack,
                    &self.replacement,
                    &mut content,
                );
            }
            edits.push(Edit { old: (found.start(), found.end()), new: (start, content.len()) });
            last = found.end();
            true
        })
        .map_err(io::Error::other)?;
        if edits.is_empty() {
            return Ok(None);
        }
        content.extend_from_slice(&haystack[last..]);
        Ok(Some(Replaced { content, count: edits.len() as u64, edits }))
    }
}

/// Splits `bytes` into lines, each with its `\n` (the last may have none).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

impl Replaced {
    /// The unified diff of `old` (this content's original) against the new content, headed
    /// `--- a/PATH` / `+++ b/PATH` (`path` as bytes), as `diff -u` and `git diff` write it.
    pub fn diff(&self, old: &[u8], path: &[u8]) -> Vec<u8> {
        let old_lines = lines(old);
        // Where each old line starts; a position at the end of a file ending with `\n` (or
        // empty) belongs to an empty last line that the old side does not have.
        let mut starts: Vec<usize> = Vec::with_capacity(old_lines.len() + 1);
        let mut at = 0;
        for l in &old_lines {
            starts.push(at);
            at += l.len();
        }
        let line_of = |pos: usize| match starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        // Changed old lines: index -> its new text (one line may become several).
        let mut changes: Vec<(usize, Vec<&[u8]>)> = Vec::new();
        let mut e = 0;
        while e < self.edits.len() {
            let i = if self.edits[e].old.0 == old.len() && (old.is_empty() || old.ends_with(b"\n"))
            {
                old_lines.len()
            } else {
                line_of(self.edits[e].old.0)
            };
            let (ls, le) = if i < old_lines.len() {
                (starts[i], starts[i] + old_lines[i].len())
            } else {
                (old.len(), old.len())
            };
            // The new text of the line: from the new offset of its start to that of its end.
            let first = e;
            // The last line takes what matches at the very end too.
            let bound = if i + 1 >= old_lines.len() { usize::MAX } else { le };
            while e < self.edits.len() && self.edits[e].old.0 < bound {
                e += 1;
            }
            let shift =
                |pos: usize, edit: &Edit| edit.new.1 as isize - edit.old.1 as isize + pos as isize;
            let new_start =
                if first == 0 { ls } else { shift(ls, &self.edits[first - 1]) as usize };
            let new_end = shift(le, &self.edits[e - 1]) as usize;
            let new_text = &self.content[new_start..new_end];
            let old_text = if i < old_lines.len() { old_lines[i] } else { &[][..] };
            if new_text != old_text {
                changes.push((i, lines(new_text)));
            }
        }
        let mut out = Vec::new();
        if changes.is_empty() {
            return out;
        }
        out.extend_from_slice(b"--- a/");
        out.extend_from_slice(path);
        out.extend_from_slice(b"\n+++ b/");
        out.extend_from_slice(path);
        out.push(b'\n');
        // Hunks: changes closer than twice the context share one.
        let mut delta: isize = 0; // new lines minus old lines before the hunk
        let mut c = 0;
        while c < changes.len() {
            let mut end = c + 1;
            while end < changes.len() && changes[end].0 - changes[end - 1].0 <= 2 * CONTEXT + 1 {
                end += 1;
            }
            let group = &changes[c..end];
            let first = group[0].0;
            let last = group[group.len() - 1].0;
            let from = first.saturating_sub(CONTEXT);
            let to = (last + 1 + CONTEXT).min(old_lines.len());
            let old_count = to - from;
            let added: isize = group
                .iter()
                .map(|(i, n)| n.len() as isize - isize::from(*i < old_lines.len()))
                .sum();
            let new_count = (old_count as isize + added) as usize;
            out.extend_from_slice(b"@@ -");
            range(&mut out, from + 1, old_count);
            out.extend_from_slice(b" +");
            range(&mut out, (from as isize + 1 + delta) as usize, new_count);
            out.extend_from_slice(b" @@\n");
            let mut line = from;
            let mut g = 0;
            while g < group.len() {
                while line < group[g].0 {
                    diff_line(&mut out, b' ', old_lines[line]);
                    line += 1;
                }
                // A run of adjacent changed lines: all that goes, then all that comes.
                let mut run_end = g + 1;
                while run_end < group.len() && group[run_end].0 == group[run_end - 1].0 + 1 {
                    run_end += 1;
                }
                for (i, _) in &group[g..run_end] {
                    if *i < old_lines.len() {
                        diff_line(&mut out, b'-', old_lines[*i]);
                    }
                }
                for (_, new) in &group[g..run_end] {
                    for l in new {
                        diff_line(&mut out, b'+', l);
                    }
                }
                line = group[run_end - 1].0 + 1;
                g = run_end;
            }
            while line < to {
                diff_line(&mut out, b' ', old_lines[line]);
                line += 1;
            }
            delta += added;
            c = end;
        }
        out
    }
}

/// `start,count` as a hunk header writes it: `start` alone for one line, the line before for
/// none.
fn range(out: &mut Vec<u8>, start: usize, count: usize) {
    let text = match count {
        0 => format!("{},0", start - 1),
        1 => format!("{start}"),
        n => format!("{start},{n}"),
    };
    out.extend_from_slice(text.as_bytes());
}

fn diff_line(out: &mut Vec<u8>, mark: u8, line: &[u8]) {
    out.push(mark);
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
}

/// What the plan does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceAction {
    Replace,
    Refused(String),
}

/// One file of the plan: a file to change (with what applying needs to check it is still the
/// same file) or one refused with its reason.
#[derive(Debug, Clone)]
pub struct ReplaceRow {
    /// As the walk reported it.
    pub path: PathBuf,
    /// The file to write: `path`, or the file a symlink given as a root leads to.
    pub target: PathBuf,
    pub action: ReplaceAction,
    pub replacements: u64,
    pub diff: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
    /// mtime in ns.
    pub stamp: i64,
    pub size: u64,
    /// BLAKE3 of the new content.
    pub digest: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceSummary {
    /// Regular files read.
    pub files_scanned: u64,
    pub files_changed: u64,
    pub replacements: u64,
    /// Files with a match that will not be changed (binary, hard links, the same file twice).
    pub refused: u64,
    pub error_count: u64,
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

/// Checks the pattern without reading anything.
pub fn check(options: &ReplaceOptions) -> Result<(), CoreError> {
    Replacer::new(options).map(drop)
}

struct Planner<'a> {
    replacer: &'a Replacer,
    follow: bool,
    rows: Vec<ReplaceRow>,
    scanned: u64,
    error_count: u64,
    errors: Vec<WalkError>,
    max_errors: usize,
    buf: Vec<u8>,
}

impl Planner<'_> {
    fn plan_file(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        let (mut file, _) = entry.open_file_with_meta()?;
        let meta = file.metadata()?;
        self.buf.clear();
        file.read_to_end(&mut self.buf)?;
        self.scanned += 1;
        let path = entry.path();
        let refuse = |reason: String| ReplaceRow {
            path: path.clone(),
            target: path.clone(),
            action: ReplaceAction::Refused(reason),
            replacements: 0,
            diff: Vec::new(),
            dev: meta.dev(),
            ino: meta.ino(),
            stamp: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            size: meta.len(),
            digest: Vec::new(),
        };
        if memchr::memchr(0, &self.buf).is_some() {
            if self.replacer.matcher.is_match(&self.buf).unwrap_or(false) {
                self.rows.push(refuse("binary file".into()));
            }
            return Ok(());
        }
        let Some(replaced) = self.replacer.replace(&self.buf)? else { return Ok(()) };
        if replaced.content == self.buf {
            return Ok(()); // every match replaced by itself
        }
        if meta.nlink() > 1 {
            let why = format!("{} hard links (writing it anew would split them)", meta.nlink());
            self.rows.push(refuse(why));
            return Ok(());
        }
        // A symlink given as a root (or followed) is kept: its target is written.
        let target = if entry.depth == 0 || self.follow {
            let real = std::fs::canonicalize(&path)?;
            let m = std::fs::metadata(&real)?;
            if (m.dev(), m.ino()) != (meta.dev(), meta.ino()) {
                return Err(io::Error::other("changed while planning"));
            }
            real
        } else {
            path.clone()
        };
        let diff = replaced.diff(&self.buf, path.as_os_str().as_encoded_bytes());
        let mut row = refuse(String::new());
        row.target = target;
        row.action = ReplaceAction::Replace;
        row.replacements = replaced.count;
        row.diff = diff;
        row.digest = blake3::hash(&replaced.content).as_bytes().to_vec();
        self.rows.push(row);
        Ok(())
    }
}

impl Visitor for Planner<'_> {
    const FILE_META: bool = false;

    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        if entry.meta.kind != EntryType::File {
            return 0;
        }
        if let Err(e) = self.plan_file(entry) {
            self.error(WalkError::from_io(entry.path(), &e));
        }
        0
    }

    fn error(&mut self, error: WalkError) {
        record_error(&mut self.error_count, &mut self.errors, error, self.max_errors);
    }
}

/// Plans the replacement in the selected regular files: rows of the files to change and of
/// those refused, by path.
pub fn plan_replace(
    selection: &Selection,
    options: &ReplaceOptions,
    control: &Control,
) -> Result<(Vec<ReplaceRow>, ReplaceSummary), CoreError> {
    let start = Instant::now();
    let replacer = Replacer::new(options)?;
    let parts = walk(selection, control, || Planner {
        replacer: &replacer,
        follow: selection.follow_symlinks,
        rows: Vec::new(),
        scanned: 0,
        error_count: 0,
        errors: Vec::new(),
        max_errors: options.max_errors,
        buf: Vec::new(),
    })?;
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    let mut summary = ReplaceSummary::default();
    let mut rows = Vec::new();
    for part in parts {
        rows.extend(part.rows);
        summary.files_scanned += part.scanned;
        summary.error_count += part.error_count;
        summary.errors.extend(part.errors);
    }
    keep_first_errors(&mut summary.errors, options.max_errors);
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    // One file reached twice (a symlink given beside its target): planned once.
    let mut seen: FxHashMap<(u64, u64), PathBuf> = FxHashMap::default();
    for row in &mut rows {
        if row.action != ReplaceAction::Replace {
            continue;
        }
        if let Some(p) = seen.get(&(row.dev, row.ino)) {
            row.action = ReplaceAction::Refused(format!("the same file as {}", p.display()));
            row.diff.clear();
            row.replacements = 0;
        } else {
            seen.insert((row.dev, row.ino), row.path.clone());
        }
    }
    for row in &rows {
        match row.action {
            ReplaceAction::Replace => {
                summary.files_changed += 1;
                summary.replacements += row.replacements;
            }
            ReplaceAction::Refused(_) => summary.refused += 1,
        }
    }
    summary.elapsed = start.elapsed();
    Ok((rows, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(pattern: &str, replacement: &str, text: &str) -> (String, String) {
        let options = ReplaceOptions {
            pattern: pattern.into(),
            replacement: replacement.into(),
            ..Default::default()
        };
        let r = Replacer::new(&options).unwrap().replace(text.as_bytes()).unwrap().unwrap();
        let diff = r.diff(text.as_bytes(), b"f");
        (String::from_utf8(r.content).unwrap(), String::from_utf8(diff).unwrap())
    }

    #[test]
    fn captures_and_names_are_expanded() {
        let (new, _) = replace(r"(\w+)@(?P<host>\w+)", "${host} at $1 $$", "x ann@home y\n");
        assert_eq!(new, "x home at ann $ y\n");
    }

    #[test]
    fn a_diff_has_context_and_joins_close_changes() {
        let text: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        let (_, diff) = replace("^l(2|5|15)$", "L$1", &text);
        assert_eq!(
            diff,
            "--- a/f\n+++ b/f\n@@ -1,8 +1,8 @@\n l1\n-l2\n+L2\n l3\n l4\n-l5\n+L5\n l6\n l7\n l8\n\
             @@ -12,7 +12,7 @@\n l12\n l13\n l14\n-l15\n+L15\n l16\n l17\n l18\n"
        );
    }

    #[test]
    fn a_last_line_without_newline_is_marked() {
        let (new, diff) = replace("b", "B\nC", "a\nb");
        assert_eq!(new, "a\nB\nC");
        assert_eq!(
            diff,
            "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+B\n+C\n\
             \\ No newline at end of file\n"
        );
    }

    #[test]
    fn adjacent_changed_lines_are_one_block() {
        let (_, diff) = replace("x", "y", "x\nx\n");
        assert_eq!(diff, "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x\n-x\n+y\n+y\n");
    }
}
