//! The plan of `vegafs move`: each selected entry whose name matches a regex goes to the path a
//! [`Template`](crate::template::Template) gives, relative to a destination directory (by
//! default the root it was found under; for a root that is a file, its directory). The path
//! may have directories, which the plan creates. The moves go through
//! [`plan_tree_moves`]; nothing on disk changes here.
//!
//! A rendered path is refused (with its reason) when it is empty, absolute, or has an empty,
//! `.` or `..` component: a target is always below its destination, which a path of plain
//! names cannot leave.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::control::Control;
use crate::error::CoreError;
use crate::plan::{OnConflict, Plan, Refusal};
use crate::rename::{count, select, RenameOptions, RenameSummary};
use crate::selection::Selection;
use crate::tree_plan::plan_tree_moves;

#[derive(Debug, Clone)]
pub struct MoveOptions {
    /// The regex, template, numbering and `on_conflict`, as for a rename.
    pub rename: RenameOptions,
    /// The directory targets are relative to; None: each entry's root.
    pub dest: Option<PathBuf>,
}

/// Plans the moves of the selected entries; `temp_tag` names cycle hops (`.vegafs-TAG-N`).
/// The summary counts as a rename's; the plan's `mkdirs` are the directories to create.
pub fn plan_move(
    selection: &Selection,
    options: &MoveOptions,
    temp_tag: &str,
    control: &Control,
) -> Result<(Plan, RenameSummary), CoreError> {
    let start = Instant::now();
    let selected = select(selection, &options.rename, control)?;
    let spelling = Spelling::of(&selection.roots);
    let moves = (0..selected.found.len())
        .map(|i| {
            let f = &selected.found[i];
            let dest = match &options.dest {
                Some(d) => d.clone(),
                None => root_dir(&selection.roots[f.root], &f.path),
            };
            let rendered = selected.render(i, selection, &options.rename);
            let refusal = check_relative(&rendered).map(Refusal::BadPath);
            let to = spelling.of_target(dest.join(OsStr::from_bytes(&rendered)));
            (f.path.clone(), to, refusal)
        })
        .collect();
    let mut summary = selected.summary;
    let plan = plan_tree_moves(moves, options.rename.on_conflict, temp_tag);
    count(&mut summary, &plan);
    summary.elapsed = start.elapsed();
    Ok((plan, summary))
}

/// Targets spelled as the walk spells the entries: a target below a root, written from
/// `--dest`, is written from that root instead (`--dest .` and the root `d`: `d/f`, not `./d/f`;
/// an absolute `--dest` and a relative root likewise), so that the plan's checks, which compare
/// paths as written, see a target that is another entry's path (a chain, a directory moved into
/// itself) whatever way the command line spelled them. Without touching the disk: a root and a
/// `--dest` that meet only through a symlink are not matched (the moves stay refused as
/// conflicts, or fail when applied, and are rolled back).
struct Spelling<'a> {
    cwd: Option<PathBuf>,
    /// Each root as an absolute path without `.` components, and as given.
    roots: Vec<(PathBuf, &'a Path)>,
}

impl<'a> Spelling<'a> {
    fn of(roots: &'a [PathBuf]) -> Self {
        let cwd = std::env::current_dir().ok();
        let roots = match &cwd {
            Some(cwd) => roots.iter().map(|r| (absolute(cwd, r), r.as_path())).collect(),
            None => Vec::new(),
        };
        Spelling { cwd, roots }
    }

    fn of_target(&self, to: PathBuf) -> PathBuf {
        let Some(cwd) = &self.cwd else { return to };
        let at = absolute(cwd, &to);
        let root = self
            .roots
            .iter()
            .filter(|(abs, _)| at.starts_with(abs))
            .max_by_key(|(abs, _)| abs.components().count());
        match root {
            Some((abs, given)) => match at.strip_prefix(abs) {
                Ok(below) if below.as_os_str().is_empty() => given.to_path_buf(),
                Ok(below) => given.join(below),
                Err(_) => to,
            },
            None => to,
        }
    }
}

/// `path` from `cwd`, its `.` components and repeated slashes dropped (`..` kept).
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    cwd.join(path).components().collect()
}

/// The default destination: the root, or the directory of a root that is the entry itself.
fn root_dir(root: &Path, entry: &Path) -> PathBuf {
    if entry == root {
        root.parent().unwrap_or(Path::new("")).to_path_buf()
    } else {
        root.to_path_buf()
    }
}

/// Why a rendered relative path is not acceptable, if it is not.
pub fn check_relative(path: &[u8]) -> Option<String> {
    if path.is_empty() {
        return Some("invalid path: the template gave an empty path".into());
    }
    if path.contains(&0) {
        return Some("invalid path: a NUL byte in it".into());
    }
    if path.starts_with(b"/") {
        return Some("invalid path: absolute; the template gives a path below --dest".into());
    }
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" => {
                return Some("invalid path: an empty component ('//' or a '/' at the end)".into())
            }
            b"." => return Some("invalid path: a '.' component".into()),
            b".." => {
                return Some("invalid path: a '..' component would leave --dest".into());
            }
            _ => {}
        }
    }
    None
}

/// The on-conflict policy by its name (`fail`, `skip`, `suffix`, `overwrite`).
pub fn on_conflict(name: &str) -> Option<OnConflict> {
    match name {
        "fail" => Some(OnConflict::Fail),
        "skip" => Some(OnConflict::Skip),
        "suffix" => Some(OnConflict::Suffix),
        "overwrite" => Some(OnConflict::Overwrite),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_relative_paths_say_why() {
        assert_eq!(check_relative(b"2024/05/a.jpg"), None);
        assert!(check_relative(b"").unwrap().contains("empty path"));
        assert!(check_relative(b"/etc/x").unwrap().contains("absolute"));
        assert!(check_relative(b"a//b").unwrap().contains("empty component"));
        assert!(check_relative(b"a/").unwrap().contains("empty component"));
        assert!(check_relative(b"./a").unwrap().contains("'.'"));
        assert!(check_relative(b"a/../../b").unwrap().contains("leave --dest"));
    }
}
