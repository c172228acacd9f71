//! The Selection: which entries an operation sees. Every operation starts from one; the walker
//! applies it (see `walk`). [`Selection::compile`] checks it and builds the matchers once.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::Regex;

use crate::error::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    /// Sockets, FIFOs, devices.
    Other,
}

impl EntryType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::File => "file",
            EntryType::Dir => "dir",
            EntryType::Symlink => "symlink",
            EntryType::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "file" => EntryType::File,
            "dir" => EntryType::Dir,
            "symlink" => EntryType::Symlink,
            "other" => EntryType::Other,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of entry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTypes(u8);

impl EntryTypes {
    pub const ALL: EntryTypes = EntryTypes(0b1111);

    pub fn of(types: &[EntryType]) -> Self {
        EntryTypes(types.iter().fold(0, |acc, t| acc | t.bit()))
    }
    pub fn contains(self, t: EntryType) -> bool {
        self.0 & t.bit() != 0
    }
}

/// Which entries to visit. Filters other than `exclude`, `hidden`, `ignore_files`, `max_depth`
/// and `one_file_system` apply to the entries reported, never to which directories are walked.
#[derive(Debug, Clone)]
pub struct Selection {
    pub roots: Vec<PathBuf>,
    /// Globs an entry other than a directory must match (any of them). A glob with no `/`
    /// matches the file name; one with a `/` matches the path relative to its root.
    pub include: Vec<String>,
    /// Globs that remove an entry; a matching directory is not walked.
    pub exclude: Vec<String>,
    /// Regex on the whole path's bytes, for entries other than directories.
    pub path_regex: Option<String>,
    /// Entry types reported. Directories are walked whether reported or not.
    pub types: EntryTypes,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// Modification time bounds in seconds since the epoch: `newer_than <= mtime < older_than`.
    pub newer_than: Option<i64>,
    pub older_than: Option<i64>,
    /// Visit names that start with a dot.
    pub hidden: bool,
    /// Honour `.gitignore`, `.ignore` and `.vegafsignore` files found in walked directories.
    pub ignore_files: bool,
    /// Deepest level visited; a root is depth 0, its entries depth 1.
    pub max_depth: Option<usize>,
    /// Do not walk into directories on another device than their root.
    pub one_file_system: bool,
    /// Follow symbolic links; each directory is walked once and loops are reported.
    pub follow_symlinks: bool,
    /// Allowed roots (trusted configuration). Empty: unrestricted, and a root that is a symlink
    /// is followed (like `find -H`). Otherwise every root must lie lexically inside one of them
    /// and is opened beneath it without following any symlink (`openat2` with
    /// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`); else the call fails with
    /// `CoreError::NotAllowed`.
    pub beneath: Vec<PathBuf>,
}

impl Selection {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Selection {
            roots,
            include: Vec::new(),
            exclude: Vec::new(),
            path_regex: None,
            types: EntryTypes::ALL,
            min_size: None,
            max_size: None,
            newer_than: None,
            older_than: None,
            hidden: true,
            ignore_files: false,
            max_depth: None,
            one_file_system: false,
            follow_symlinks: false,
            beneath: Vec::new(),
        }
    }

    pub fn compile(&self) -> Result<Matcher, CoreError> {
        if self.roots.is_empty() {
            return Err(invalid("roots", "at least one root is required".into()));
        }
        if let (Some(lo), Some(hi)) = (self.min_size, self.max_size) {
            if lo > hi {
                return Err(invalid("min_size", format!("{lo} is larger than max_size {hi}")));
            }
        }
        if let (Some(lo), Some(hi)) = (self.newer_than, self.older_than) {
            if lo >= hi {
                return Err(invalid("newer_than", format!("{lo} is not before older_than {hi}")));
            }
        }
        let path_regex = match &self.path_regex {
            Some(re) => Some(Regex::new(re).map_err(|e| invalid("path_regex", e.to_string()))?),
            None => None,
        };
        Ok(Matcher {
            include: Globs::build("include", &self.include)?,
            exclude: Globs::build("exclude", &self.exclude)?,
            path_regex,
        })
    }
}

fn invalid(field: &'static str, message: String) -> CoreError {
    CoreError::InvalidSelection { field, message }
}

/// The compiled globs and regex of a Selection.
#[derive(Debug)]
pub struct Matcher {
    pub include: Globs,
    pub exclude: Globs,
    pub path_regex: Option<Regex>,
}

impl Matcher {
    pub fn regex_matches(&self, path: &Path) -> bool {
        self.path_regex.as_ref().is_none_or(|re| re.is_match(path.as_os_str().as_bytes()))
    }
}

/// Globs split by what they match: the file name, or the path relative to the root.
#[derive(Debug)]
pub struct Globs {
    name: Option<GlobSet>,
    relative: Option<GlobSet>,
}

impl Globs {
    fn build(field: &'static str, globs: &[String]) -> Result<Self, CoreError> {
        let mut name = GlobSetBuilder::new();
        let mut relative = GlobSetBuilder::new();
        let (mut any_name, mut any_relative) = (false, false);
        for g in globs {
            let pattern = g.trim_start_matches("./");
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| invalid(field, format!("{g:?}: {e}")))?;
            if pattern.contains('/') {
                relative.add(glob);
                any_relative = true;
            } else {
                name.add(glob);
                any_name = true;
            }
        }
        let done = |b: GlobSetBuilder, any: bool| -> Result<Option<GlobSet>, CoreError> {
            if !any {
                return Ok(None);
            }
            b.build().map(Some).map_err(|e| invalid(field, e.to_string()))
        };
        Ok(Globs { name: done(name, any_name)?, relative: done(relative, any_relative)? })
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.relative.is_none()
    }

    /// Whether any glob needs the path relative to the root (else the name is enough).
    pub fn needs_relative(&self) -> bool {
        self.relative.is_some()
    }

    pub fn matches(&self, name: &Path, relative: Option<&Path>) -> bool {
        self.name.as_ref().is_some_and(|s| s.is_match(name))
            || match (&self.relative, relative) {
                (Some(s), Some(rel)) => s.is_match(rel),
                _ => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_glob_names_the_field_and_pattern() {
        let mut s = Selection::new(vec![".".into()]);
        s.include = vec!["a[".into()];
        let err = s.compile().unwrap_err().to_string();
        assert!(err.starts_with("invalid include: \"a[\""), "{err}");
    }

    #[test]
    fn bad_regex_and_ranges_are_refused() {
        let mut s = Selection::new(vec![".".into()]);
        s.path_regex = Some("(".into());
        assert!(s.compile().unwrap_err().to_string().starts_with("invalid path_regex"));
        let mut s = Selection::new(vec![".".into()]);
        s.min_size = Some(10);
        s.max_size = Some(9);
        assert!(s.compile().unwrap_err().to_string().starts_with("invalid min_size"));
        assert!(Selection::new(vec![]).compile().is_err());
    }

    #[test]
    fn name_globs_match_the_name_and_slash_globs_the_relative_path() {
        let g = Globs::build("include", &["*.rs".into(), "src/**/*.py".into()]).unwrap();
        assert!(g.matches(Path::new("a.rs"), Some(Path::new("x/a.rs"))));
        assert!(g.matches(Path::new("b.py"), Some(Path::new("src/k/b.py"))));
        assert!(!g.matches(Path::new("b.py"), Some(Path::new("lib/b.py"))));
        assert!(!g.matches(Path::new("b.py"), None));
    }
}
