//! `copy` (planning): every selected file and symlink gets a target under DEST, at its path
//! below its root (a root that is a directory is copied like `cp -a ROOT/. DEST/`; a root that
//! is a file or a symlink lands as `DEST/NAME`), or at the path a [`Template`] makes of it.
//! Nothing on disk changes here; [`crate::copy_file`] applies a plan's copies.
//!
//! Each target is checked: it must stay below DEST (no absolute path, no `..`, no symlinked
//! directory on the way), its names valid ([`Refusal`]'s rules, a `/` allowed between them), not
//! taken by another copy, and not an existing entry, unless that entry is a copy already (a
//! regular file of the source's size and modification time, or a symlink to the same text, as
//! `cp -a` and `rsync -a` leave them): then it is "already copied" and skipped, so a copy that
//! was stopped and started again only does what is left. The missing directories on the way
//! are listed, parents first, to be created.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::analyze::{keep_first_errors, record_error};
use crate::apply::Identity;
use crate::control::Control;
use crate::error::{CoreError, WalkError};
use crate::places::Places;
use crate::plan::{OnConflict, Refusal, Targets, NAME_MAX};
use crate::selection::{EntryType, Selection};
use crate::template::{Template, Vars};
use crate::walk::{walk, Entry, Visitor};

#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub dest: PathBuf,
    /// The target's path below DEST; None: the source's path below its root.
    pub template: Option<String>,
    pub on_conflict: OnConflict,
    pub max_errors: usize,
}

/// Why a copy is refused: the rules of renames, and those of a target that has a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyRefusal {
    Plan(Refusal),
    /// Absolute, `..`, or through a symlinked directory: it would leave DEST.
    LeavesDest,
    /// A FIFO, socket or device.
    Special,
    /// An existing entry on the way to the target is not a directory.
    ParentNotDir(PathBuf),
    /// The target is the source itself.
    IsSource,
}

impl CopyRefusal {
    pub fn reason(&self) -> String {
        match self {
            CopyRefusal::Plan(r) => r.reason(),
            CopyRefusal::LeavesDest => {
                "the target would leave DEST (an absolute path, '..', or a symlinked directory)"
                    .into()
            }
            CopyRefusal::Special => "a special file (FIFO, socket or device) is not copied".into(),
            CopyRefusal::ParentNotDir(p) => format!("{} is not a directory", p.display()),
            CopyRefusal::IsSource => "the target is the source itself".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyAction {
    Copy,
    /// `OnConflict::Overwrite`: a copy onto a file or symlink that is there (not a copy of the
    /// source, not a directory); applying sets that one aside first (the journal keeps it).
    Overwrite,
    /// The target holds a copy already (same size and mtime, or same link): skipped.
    Copied,
    Refused(CopyRefusal),
}

/// One selected entry and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRow {
    pub from: PathBuf,
    pub to: PathBuf,
    pub action: CopyAction,
    /// Bytes of a regular file (0 for a symlink).
    pub size: u64,
    /// The source as the walk saw it (device, inode, mtime in ns): what applying checks.
    pub identity: Identity,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyPlan {
    /// One per selected entry, in path order.
    pub rows: Vec<CopyRow>,
    /// The directories to create, parents first.
    pub dirs: Vec<PathBuf>,
    pub ok: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySummary {
    pub matched: u64,
    pub copies: u64,
    pub already: u64,
    pub refused: u64,
    pub dirs: u64,
    /// Bytes the copies will write.
    pub bytes: u64,
    pub ok: bool,
    pub error_count: u64,
    pub errors: Vec<WalkError>,
    pub elapsed: Duration,
}

/// A template that does not parse (or names a capture: copy has no regex): before the walk.
pub fn compile(options: &CopyOptions) -> Result<Option<Template>, CoreError> {
    let Some(source) = &options.template else { return Ok(None) };
    let template =
        Template::parse(source).map_err(|e| CoreError::InvalidTemplate(e.to_string()))?;
    template.check_captures(None).map_err(|e| CoreError::InvalidTemplate(e.to_string()))?;
    Ok(Some(template))
}

struct Found {
    path: PathBuf,
    /// Below its root; a root that is not a directory: its name.
    below: PathBuf,
    kind: EntryType,
    size: u64,
    mtime: i64,
    identity: Identity,
}

struct Collector<'a> {
    roots: &'a [PathBuf],
    follow: bool,
    /// DEST, when it is a directory: not walked where a source holds it.
    dest: Option<(u64, u64)>,
    found: Vec<Found>,
    error_count: u64,
    errors: Vec<WalkError>,
    max_errors: usize,
}

impl Visitor for Collector<'_> {
    fn entry(&mut self, entry: &Entry<'_>) -> u64 {
        let m = entry.meta;
        if m.kind == EntryType::Dir {
            return 0; // directories are made as their files need them
        }
        let path = entry.path();
        let below = if entry.depth == 0 {
            PathBuf::from(path.file_name().unwrap_or(path.as_os_str()))
        } else {
            path.strip_prefix(&self.roots[entry.root]).unwrap_or(&path).to_path_buf()
        };
        // A root, or any entry when symlinks are followed, may be a symlink the walk saw
        // through: the identity is the entry's own, as applying (O_NOFOLLOW) finds it.
        let identity = if entry.depth == 0 || self.follow {
            fs::symlink_metadata(&path).map_or((0, 0, 0), |s| {
                (s.dev(), s.ino(), s.mtime() * 1_000_000_000 + s.mtime_nsec())
            })
        } else {
            (m.dev, m.ino, m.mtime * 1_000_000_000 + i64::from(m.mtime_nsec))
        };
        self.found.push(Found {
            path,
            below,
            kind: m.kind,
            size: m.size,
            mtime: m.mtime,
            identity,
        });
        0
    }

    fn error(&mut self, error: WalkError) {
        record_error(&mut self.error_count, &mut self.errors, error, self.max_errors);
    }

    /// A copy never copies its own copies: DEST inside a source is left out of the walk, so
    /// that copying again finds them already copied (where `cp -a` refuses, and the copies of
    /// the copies would nest one level deeper each time).
    fn enters(&mut self, dir: &Entry<'_>) -> bool {
        self.dest != Some((dir.meta.dev, dir.meta.ino))
    }
}

/// Plans the copies of the selected files and symlinks under `options.dest`.
pub fn plan_copy(
    selection: &Selection,
    options: &CopyOptions,
    control: &Control,
) -> Result<(CopyPlan, CopySummary), CoreError> {
    let start = Instant::now();
    let template = compile(options)?;
    let places = Places::of_walk(selection)?;
    let dest = fs::metadata(&options.dest).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()));
    let parts = walk(selection, control, || Collector {
        roots: &selection.roots,
        follow: selection.follow_symlinks,
        dest,
        found: Vec::new(),
        error_count: 0,
        errors: Vec::new(),
        max_errors: options.max_errors,
    })?;
    if control.cancel.is_cancelled() {
        return Err(CoreError::Cancelled);
    }
    let mut summary = CopySummary::default();
    let mut found = Vec::new();
    for part in parts {
        found.extend(part.found);
        summary.error_count += part.error_count;
        summary.errors.extend(part.errors);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let hashes: Vec<Option<String>> = match &template {
        Some(t) if t.needs_hash() => {
            found.par_iter().map(|f| digest(&places, f).ok().flatten()).collect()
        }
        _ => Vec::new(),
    };
    let targets: Vec<Result<PathBuf, CopyRefusal>> = found
        .iter()
        .enumerate()
        .map(|(i, f)| match &template {
            None => Ok(options.dest.join(&f.below)),
            Some(t) => {
                let name = f.path.file_name().map(OsStr::as_bytes).unwrap_or_default();
                let dir = f.path.parent().unwrap_or(Path::new(""));
                let parent = dir.file_name().map(OsStr::as_bytes).unwrap_or_default();
                let vars = Vars {
                    name,
                    parent,
                    path: f.below.as_os_str().as_bytes(),
                    captures: None,
                    counter: 1 + i as i64,
                    mtime: f.mtime,
                    size: f.size,
                    hash: hashes.get(i).and_then(|h| h.as_deref()),
                };
                below_dest(&options.dest, &t.render(&vars))
            }
        })
        .collect();
    keep_first_errors(&mut summary.errors, options.max_errors);
    let plan = check(found, targets, options);
    summary.matched = plan.rows.len() as u64;
    for row in &plan.rows {
        match row.action {
            CopyAction::Copy | CopyAction::Overwrite => {
                summary.copies += 1;
                summary.bytes += row.size;
            }
            CopyAction::Copied => summary.already += 1,
            CopyAction::Refused(_) => summary.refused += 1,
        }
    }
    summary.dirs = plan.dirs.len() as u64;
    summary.ok = plan.ok;
    summary.elapsed = start.elapsed();
    Ok((plan, summary))
}

/// A rendered target as a path below `dest`, or why it is not one.
fn below_dest(dest: &Path, rendered: &[u8]) -> Result<PathBuf, CopyRefusal> {
    let relative = Path::new(OsStr::from_bytes(rendered));
    let invalid = CopyRefusal::Plan(Refusal::InvalidName);
    if rendered.is_empty() || rendered.ends_with(b"/") || rendered.contains(&0) {
        return Err(invalid);
    }
    // Every name between the slashes must be a name: "a//b" and "a/./b" are refused too.
    for part in rendered.split(|&b| b == b'/').skip(usize::from(rendered.starts_with(b"/"))) {
        match part {
            b".." => return Err(CopyRefusal::LeavesDest),
            b"" | b"." => return Err(invalid),
            _ => {}
        }
    }
    if relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
        return Err(CopyRefusal::LeavesDest);
    }
    Ok(dest.join(relative))
}

/// What the disk says of a directory on the way to a target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Dir,
    Missing,
    Bad,
}

fn check(
    found: Vec<Found>,
    targets: Vec<Result<PathBuf, CopyRefusal>>,
    options: &CopyOptions,
) -> CopyPlan {
    let dest = &options.dest;
    let mut ways: HashMap<PathBuf, (Way, Option<CopyRefusal>)> = HashMap::new();
    let mut claims: HashMap<PathBuf, usize> = HashMap::new();
    for t in targets.iter().flatten() {
        *claims.entry(t.clone()).or_default() += 1;
    }
    let mut given = Targets::new(claims.keys().cloned().collect());
    let mut suffixed: HashSet<PathBuf> = HashSet::new();
    let mut rows = Vec::with_capacity(found.len());
    let dest_way = dest_way(dest, &mut ways); // looked at once, not once per file
    for (f, target) in found.into_iter().zip(targets) {
        let size = if f.kind == EntryType::File { f.size } else { 0 };
        let (to, action) = match target {
            Err(refusal) => (dest.join(&f.below), CopyAction::Refused(refusal)),
            Ok(to) if f.kind == EntryType::Other => (to, CopyAction::Refused(CopyRefusal::Special)),
            Ok(to) => {
                let mut action = check_one(&f, &to, (dest, dest_way), &mut ways, &claims);
                if action == CopyAction::Copy {
                    if let Some(r) = given.twin(&to, &f.path) {
                        action = CopyAction::Refused(CopyRefusal::Plan(r));
                    }
                }
                let conflict = matches!(
                    action,
                    CopyAction::Refused(CopyRefusal::Plan(
                        Refusal::SameTarget | Refusal::TargetExists
                    ))
                );
                // Suffix: the first claimant of a free target keeps it, the others (and any
                // claimant of a taken one) get the first free `stem-N.ext`.
                let first_claim = claims[&to] > 1 && !suffixed.contains(&to) && !exists(&to);
                if options.on_conflict == OnConflict::Suffix && conflict && first_claim {
                    suffixed.insert(to.clone());
                    (to, CopyAction::Copy)
                } else if options.on_conflict == OnConflict::Suffix && conflict {
                    match given.suffix(&to) {
                        Some(free) => (free, CopyAction::Copy),
                        None => (to, action),
                    }
                } else if options.on_conflict == OnConflict::Overwrite
                    && action == CopyAction::Refused(CopyRefusal::Plan(Refusal::TargetExists))
                    && fs::symlink_metadata(&to).is_ok_and(|m| !m.is_dir())
                {
                    (to, CopyAction::Overwrite) // never a directory, nor a target many claim
                } else {
                    (to, action)
                }
            }
        };
        rows.push(CopyRow { from: f.path, to, action, size, identity: f.identity });
    }
    let refused = rows.iter().any(|r| matches!(r.action, CopyAction::Refused(_)));
    // Skip and Suffix leave the refused files; Fail and Overwrite refuse the plan.
    let ok = !refused || matches!(options.on_conflict, OnConflict::Skip | OnConflict::Suffix);
    // The directories the copies need, also when the plan is refused: its preview shows them.
    let mut dirs = BTreeSet::new();
    for row in rows.iter().filter(|r| matches!(r.action, CopyAction::Copy | CopyAction::Overwrite))
    {
        let mut dir = row.to.parent();
        while let Some(d) = dir {
            if ways.get(d).map(|w| w.0) != Some(Way::Missing) || !dirs.insert(d.to_path_buf()) {
                break;
            }
            dir = d.parent();
        }
    }
    // Parents first: by depth, then by path.
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| d.components().count());
    CopyPlan { rows, dirs, ok }
}

/// What DEST is: a directory, missing (its missing ancestors then go into `ways`, to be made),
/// or something else in the way.
fn dest_way(dest: &Path, ways: &mut HashMap<PathBuf, (Way, Option<CopyRefusal>)>) -> Way {
    if dest.is_dir() {
        return Way::Dir;
    }
    if exists(dest) {
        return Way::Bad;
    }
    for dir in dest.ancestors().take_while(|d| !d.as_os_str().is_empty() && !exists(d)) {
        ways.insert(dir.to_path_buf(), (Way::Missing, None));
    }
    Way::Missing
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// The checks of one copy against the disk and the other targets.
fn check_one(
    f: &Found,
    to: &Path,
    (dest, dest_way): (&Path, Way),
    ways: &mut HashMap<PathBuf, (Way, Option<CopyRefusal>)>,
    claims: &HashMap<PathBuf, usize>,
) -> CopyAction {
    let refuse = |r: Refusal| CopyAction::Refused(CopyRefusal::Plan(r));
    if to.strip_prefix(dest).is_ok_and(|b| b.components().any(|c| c.as_os_str().len() > NAME_MAX)) {
        return refuse(Refusal::NameTooLong);
    }
    // The directories between DEST and the target: existing directories (not symlinks, which
    // could lead out of DEST), or missing ones, to be made. DEST itself may be a symlink.
    let mut below: Vec<&Path> = to.ancestors().skip(1).take_while(|a| *a != dest).collect();
    below.reverse();
    let mut missing = match dest_way {
        Way::Bad => return CopyAction::Refused(CopyRefusal::ParentNotDir(dest.to_path_buf())),
        Way::Missing => true,
        Way::Dir => false,
    };
    for dir in below {
        let (way, refusal) =
            ways.entry(dir.to_path_buf()).or_insert_with(|| match fs::symlink_metadata(dir) {
                _ if missing => (Way::Missing, None),
                Ok(m) if m.is_dir() => (Way::Dir, None),
                Ok(m) if m.file_type().is_symlink() => (Way::Bad, Some(CopyRefusal::LeavesDest)),
                Ok(_) => (Way::Bad, Some(CopyRefusal::ParentNotDir(dir.to_path_buf()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => (Way::Missing, None),
                Err(e) => {
                    let message = format!("{}: {e}", dir.display());
                    (Way::Bad, Some(CopyRefusal::Plan(Refusal::Unreadable(message))))
                }
            });
        match way {
            Way::Bad => {
                return CopyAction::Refused(refusal.clone().unwrap_or(CopyRefusal::LeavesDest))
            }
            Way::Missing => missing = true,
            Way::Dir => {}
        }
    }
    if ways.contains_key(to) {
        return refuse(Refusal::SameTarget); // another copy needs a directory here
    }
    if claims.get(to).copied().unwrap_or(0) > 1 {
        return refuse(Refusal::SameTarget);
    }
    if missing {
        return CopyAction::Copy;
    }
    let source = match fs::symlink_metadata(&f.path) {
        Ok(m) => m,
        Err(e) => return refuse(Refusal::Unreadable(format!("{}: {e}", f.path.display()))),
    };
    match fs::symlink_metadata(to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => CopyAction::Copy,
        Err(e) => refuse(Refusal::Unreadable(format!("{}: {e}", to.display()))),
        Ok(target) if (target.dev(), target.ino()) == (source.dev(), source.ino()) => {
            CopyAction::Refused(CopyRefusal::IsSource)
        }
        Ok(target) if is_copy_of(&source, &target, &f.path, to) => CopyAction::Copied,
        Ok(_) => refuse(Refusal::TargetExists),
    }
}

/// Whether `target` looks like a copy of `source`, as `cp -a` and `rsync -a` leave one: a
/// regular file of the same size and modification time (to the nanosecond), or a symlink to
/// the same text.
pub fn is_copy_of(source: &fs::Metadata, target: &fs::Metadata, from: &Path, to: &Path) -> bool {
    if source.is_file() && target.is_file() {
        return source.size() == target.size()
            && (source.mtime(), source.mtime_nsec()) == (target.mtime(), target.mtime_nsec());
    }
    if source.file_type().is_symlink() && target.file_type().is_symlink() {
        return matches!((fs::read_link(from), fs::read_link(to)), (Ok(a), Ok(b)) if a == b);
    }
    false
}

/// The BLAKE3 digest of a regular file for `{hash}` (None for a symlink), read through its
/// directory as `places` opens it: beneath a job's roots, no symlink followed on the way.
fn digest(places: &Places, f: &Found) -> io::Result<Option<String>> {
    if f.kind != EntryType::File {
        return Ok(None);
    }
    let digest = crate::copy_file::blake3_of(places, &f.path)?;
    Ok(Some(digest.iter().map(|b| format!("{b:02x}")).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_read_beneath_the_roots_never_through_a_symlink() {
        let top = tempfile::tempdir().unwrap();
        let (root, out) = (top.path().join("root"), top.path().join("out"));
        fs::create_dir(&root).unwrap();
        fs::create_dir(&out).unwrap();
        fs::write(out.join("f"), "outside").unwrap();
        // `d` was a directory when the walk saw `d/f`; a symlink leading out now.
        std::os::unix::fs::symlink(&out, root.join("d")).unwrap();
        let f = Found {
            path: root.join("d/f"),
            below: PathBuf::from("d/f"),
            kind: EntryType::File,
            size: 7,
            mtime: 0,
            identity: (0, 0, 0),
        };
        let beneath = Places::beneath(std::slice::from_ref(&root)).unwrap();
        let e = digest(&beneath, &f).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            format!("{} is reached through a symlink (not followed in a job)", f.path.display())
        );
        // The command line reads the path as given, as it always did.
        let outside = blake3::hash(b"outside").to_hex().to_string();
        assert_eq!(digest(&Places::anywhere(), &f).unwrap(), Some(outside));
    }

    #[test]
    fn targets_stay_below_dest() {
        let d = Path::new("/d");
        assert_eq!(below_dest(d, b"a/b"), Ok(PathBuf::from("/d/a/b")));
        assert_eq!(below_dest(d, b"../x"), Err(CopyRefusal::LeavesDest));
        assert_eq!(below_dest(d, b"/etc/x"), Err(CopyRefusal::LeavesDest));
        assert_eq!(below_dest(d, b"a/../../x"), Err(CopyRefusal::LeavesDest));
        assert_eq!(below_dest(d, b"a//b"), Err(CopyRefusal::Plan(Refusal::InvalidName)));
        assert_eq!(below_dest(d, b"a/"), Err(CopyRefusal::Plan(Refusal::InvalidName)));
        assert_eq!(below_dest(d, b""), Err(CopyRefusal::Plan(Refusal::InvalidName)));
    }

    #[test]
    fn overwrite_takes_a_file_in_the_way_never_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(dest.join("sub")).unwrap();
        for name in ["a", "b", "c"] {
            fs::write(src.join(name), "new").unwrap();
        }
        fs::write(dest.join("a"), "old a").unwrap();
        std::os::unix::fs::symlink("nowhere", dest.join("b")).unwrap();
        let pairs = [("a", "a"), ("b", "b"), ("c", "sub")];
        let plan_with = |on_conflict| {
            let found = pairs.iter().map(|(name, _)| Found {
                path: src.join(name),
                below: PathBuf::from(name),
                kind: EntryType::File,
                size: 3,
                mtime: 0,
                identity: (0, 0, 0),
            });
            let targets = pairs.iter().map(|(_, to)| Ok(dest.join(to)));
            let options =
                CopyOptions { dest: dest.clone(), template: None, on_conflict, max_errors: 9 };
            let plan = check(found.collect(), targets.collect(), &options);
            (plan.rows.into_iter().map(|r| r.action).collect::<Vec<_>>(), plan.ok)
        };
        let exists = CopyAction::Refused(CopyRefusal::Plan(Refusal::TargetExists));
        let (actions, ok) = plan_with(OnConflict::Overwrite);
        assert_eq!(actions, [CopyAction::Overwrite, CopyAction::Overwrite, exists.clone()]);
        assert!(!ok, "a directory in the way refuses the plan");
        let (actions, ok) = plan_with(OnConflict::Fail);
        assert_eq!((actions, ok), (vec![exists.clone(), exists.clone(), exists], false));
    }
}
