//! Plans of the writing operations: which entry goes where, what is refused and why, and the
//! order that makes every rename safe. Planning reads the file system (existence of targets,
//! their inodes) and changes nothing.
//!
//! A plan starts from moves (`from -> to`). Each one is checked; a refused move keeps its
//! reason ([`Refusal`]). With [`OnConflict::Skip`] the refused moves are dropped and the rest
//! checked again (a dropped move's source stays, and may now be in another's way) until
//! nothing changes; with [`OnConflict::Suffix`] a target that is taken gets the first free
//! `stem-N.ext`. The accepted moves are then ordered: children before the directories they are
//! in, and within a directory a move onto a name that another move frees runs after it (chains:
//! `a -> b, b -> c` runs `b -> c` first). A cycle (`a -> b -> a`) is broken by one hop through
//! a temporary name in the same directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Longest name most Linux file systems take, in bytes.
pub const NAME_MAX: usize = 255;

/// What to do with a move whose target is taken (or claimed by another move).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Refuse the whole plan.
    #[default]
    Fail,
    /// Leave those entries where they are.
    Skip,
    /// Give the target the first free name `stem-N.ext` (N from 1).
    Suffix,
    /// Replace an existing target that is not a directory and not in the plan: it is first
    /// moved aside to a hidden name in its directory (`.vegafs-TAG-old-N`), a move of its own
    /// in the plan, so that rollback and undo put it back; `vegafs ops forget` deletes it.
    Overwrite,
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Empty, `.`, `..`, a `/` or a NUL in a name.
    InvalidName,
    /// Over [`NAME_MAX`] bytes.
    NameTooLong,
    /// Several entries onto one target.
    SameTarget,
    /// The target exists and is not itself moving away.
    TargetExists,
    /// A directory into itself or below itself.
    IntoItself,
    /// Only the case changes and the file system ignores case: the target is the entry itself.
    CaseInsensitive,
    /// The target differs from another target or an existing name only by Unicode
    /// normalisation (NFC): some file systems and every user would take them for one name.
    NormalizationTwin,
    /// The entry could not be looked at (it vanished, or permission denied).
    Unreadable(String),
    /// A move's target path is not acceptable (an empty, `.` or `..` component, absolute...):
    /// the reason says which.
    BadPath(String),
    /// The target is on another file system than the entry, and the entry is not a file or a
    /// symlink (those are copied, then removed).
    CrossDevice,
    /// A directory of the target's path exists and is not a directory.
    NotADirectory(PathBuf),
    /// A directory of the target's path is moved by another move (and the entry is not in it).
    MovesToo(PathBuf),
    /// The target is a directory that another move needs created.
    DirectoryNeeded,
    /// The moves wait on each other through their directories: no order runs them.
    Tangled,
}

impl Refusal {
    pub fn reason(&self) -> String {
        match self {
            Refusal::InvalidName => "invalid name (empty, '.', '..', or a '/' or NUL in it)".into(),
            Refusal::NameTooLong => format!("name longer than {NAME_MAX} bytes"),
            Refusal::SameTarget => "several entries onto this target".into(),
            Refusal::TargetExists => "the target exists".into(),
            Refusal::IntoItself => "a directory into itself".into(),
            Refusal::CaseInsensitive => {
                "only the case changes, and this file system ignores case".into()
            }
            Refusal::NormalizationTwin => {
                "the target differs from another name only by Unicode normalisation".into()
            }
            Refusal::Unreadable(e) => e.clone(),
            Refusal::BadPath(why) => why.clone(),
            Refusal::CrossDevice => {
                "another file system (EXDEV): only files and symlinks are moved \
                 across file systems (move a directory's files)"
                    .into()
            }
            Refusal::NotADirectory(p) => format!("{} exists and is not a directory", p.display()),
            Refusal::MovesToo(p) => {
                format!("the directory {} on the target's path moves too", p.display())
            }
            Refusal::DirectoryNeeded => {
                "another move needs this path as a directory to create".into()
            }
            Refusal::Tangled => {
                "the moves wait on each other through their directories: move them in two runs"
                    .into()
            }
        }
    }
}

/// What becomes of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It moves (its target may have been suffixed).
    Move,
    /// Its target is its own path.
    Unchanged,
    /// Refused; with [`OnConflict::Skip`], it stays where it is.
    Refused(Refusal),
}

/// One entry of a plan, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    pub from: PathBuf,
    pub to: PathBuf,
    pub action: Action,
}

/// One rename to run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    pub from: PathBuf,
    pub to: PathBuf,
    /// The row (entry) it moves: several steps move one entry through a temporary name.
    pub row: usize,
}

/// A checked, ordered plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per entry, in the order given.
    pub rows: Vec<PlanRow>,
    /// The renames in the order that runs them safely (cycle hops included).
    pub steps: Vec<PlanStep>,
    /// Whether it may be applied: no refusal, or refusals skipped.
    pub ok: bool,
    /// Directories to create before the moves (moves across directories), parents first.
    pub mkdirs: Vec<PathBuf>,
    /// The rows (files and symlinks) whose target is on another file system: each is copied,
    /// then its source removed ([`across`](crate::across)), instead of renamed.
    pub across: Vec<usize>,
}

impl Plan {
    pub fn refused(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r.action, Action::Refused(_))).count()
    }
}

/// Checks and orders `moves` (`from -> to`, paths as the walk gave them). `temp_tag` makes the
/// temporary names of cycle hops unique to this plan (`.vegafs-TAG-N`). `same_dir`: a target
/// outside its source's directory is an invalid name (renames).
pub fn plan_moves(
    moves: Vec<(PathBuf, PathBuf)>,
    on_conflict: OnConflict,
    temp_tag: &str,
    same_dir: bool,
) -> Plan {
    let mut rows: Vec<PlanRow> = moves
        .into_iter()
        .map(|(from, to)| {
            let action = if from == to { Action::Unchanged } else { Action::Move };
            PlanRow { from, to, action }
        })
        .collect();
    // In parallel: each check looks at the disk.
    rows.par_iter_mut().filter(|r| r.action == Action::Move).for_each(|row| {
        let moved_out = same_dir && row.from.parent() != row.to.parent();
        let refusal =
            if moved_out { Some(Refusal::InvalidName) } else { check_alone(&row.from, &row.to) };
        if let Some(refusal) = refusal {
            row.action = Action::Refused(refusal);
        }
    });
    loop {
        let changed = check_together(&mut rows, on_conflict, temp_tag);
        if !changed || on_conflict == OnConflict::Fail {
            break;
        }
    }
    let refused = rows.iter().any(|r| matches!(r.action, Action::Refused(_)));
    // Skip and Suffix leave the refused entries where they are; Fail and Overwrite (which
    // resolves only existing targets) refuse the plan.
    let ok = !refused || matches!(on_conflict, OnConflict::Skip | OnConflict::Suffix);
    let steps = if ok { order(&rows, temp_tag) } else { Vec::new() };
    Plan { rows, steps, ok, mkdirs: Vec::new(), across: Vec::new() }
}

/// The checks of one move on its own.
pub(crate) fn check_alone(from: &Path, to: &Path) -> Option<Refusal> {
    let name = to.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let raw = to.as_os_str().as_bytes();
    if name.is_empty() || name == b"." || name == b".." || raw.ends_with(b"/") || raw.contains(&0) {
        return Some(Refusal::InvalidName);
    }
    if to.components().any(|c| c.as_os_str().len() > NAME_MAX) {
        return Some(Refusal::NameTooLong);
    }
    if to.starts_with(from) {
        return Some(Refusal::IntoItself);
    }
    // The source is not looked at again: the walk just found it (undo: its identity was just
    // checked). One that vanishes before the apply fails it, and the apply rolls back.
    None
}

/// The checks of the moves against each other and the disk; refuses (or, with `Skip`, drops)
/// what they find. Whether anything changed (the moves left must then be checked again).
pub(crate) fn check_together(
    rows: &mut Vec<PlanRow>,
    on_conflict: OnConflict,
    temp_tag: &str,
) -> bool {
    let mut changed = false;
    // Sources that move away free their names.
    let leaving: HashSet<PathBuf> =
        rows.iter().filter(|r| r.action == Action::Move).map(|r| r.from.clone()).collect();
    // Several onto one target.
    let mut by_target: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.action == Action::Move) {
        by_target.entry(r.to.clone()).or_default().push(i);
    }
    // Entries that stay put (unchanged, refused) keep their names too.
    let staying: HashSet<PathBuf> =
        rows.iter().filter(|r| r.action != Action::Move).map(|r| r.from.clone()).collect();
    let mut targets = Targets::new(by_target.keys().cloned().collect());
    // Overwrite: targets moved out of the way.
    let mut set_aside: Vec<PlanRow> = Vec::new();
    // What is at each target not freed by another move, looked up in parallel beforehand: a
    // stat each is most of a plan's time.
    let mut on_disk: Vec<Option<io::Result<fs::Metadata>>> = rows
        .par_iter()
        .map(|r| {
            let wanted = r.action == Action::Move && !leaving.contains(&r.to);
            wanted.then(|| fs::symlink_metadata(&r.to))
        })
        .collect();
    for (i, row) in rows.iter_mut().enumerate() {
        if row.action != Action::Move {
            continue;
        }
        let to = row.to.clone();
        let claimants = &by_target[&to];
        // Suffix: of several entries onto a free target, the first keeps it (as copy's).
        let free = leaving.contains(&to)
            || (!staying.contains(&to)
                && matches!(&on_disk[i], Some(Err(e)) if e.kind() == io::ErrorKind::NotFound));
        let keeps = on_conflict == OnConflict::Suffix && claimants[0] == i && free;
        let refusal = if claimants.len() > 1 && !keeps {
            Some(Refusal::SameTarget)
        } else if staying.contains(&to) && !leaving.contains(&to) {
            Some(Refusal::TargetExists)
        } else if leaving.contains(&to) {
            None
        } else {
            match on_disk[i].take().unwrap_or_else(|| fs::symlink_metadata(&to)) {
                Ok(target) => match fs::symlink_metadata(&row.from) {
                    Ok(source) if (source.dev(), source.ino()) == (target.dev(), target.ino()) => {
                        Some(Refusal::CaseInsensitive)
                    }
                    _ if on_conflict == OnConflict::Overwrite && !target.is_dir() => {
                        let n = set_aside.len() + 1;
                        let aside = to.with_file_name(format!(".vegafs-{temp_tag}-old-{n}"));
                        set_aside.push(PlanRow {
                            from: to.clone(),
                            to: aside,
                            action: Action::Move,
                        });
                        changed = true;
                        None
                    }
                    _ => Some(Refusal::TargetExists),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => Some(Refusal::Unreadable(format!("{}: {e}", to.display()))),
            }
        };
        let refusal = refusal.or_else(|| targets.twin(&to, &row.from));
        let Some(refusal) = refusal else { continue };
        changed = true;
        let conflict = matches!(refusal, Refusal::SameTarget | Refusal::TargetExists);
        if on_conflict == OnConflict::Suffix && conflict {
            if let Some(free) = targets.suffix(&to) {
                row.to = free;
                // The other claimants of `to` keep it if they are now alone.
                if let Some(list) = by_target.get_mut(&to) {
                    list.retain(|&j| j != i);
                }
                continue;
            }
        }
        row.action = Action::Refused(refusal);
    }
    if on_conflict == OnConflict::Skip && changed {
        skip_chains(rows);
    }
    // Checked again with the others: their sources now leave, their hidden targets are free.
    rows.extend(set_aside);
    changed
}

/// With `Skip`, an entry left where it is keeps its name, so a move onto it is refused (the
/// target exists), and a move onto that one's name, down the chain: refused here in one pass,
/// where a round of checks each (each looking at every target on disk) made a chain of 5,000
/// renames take 9.7 s to plan.
fn skip_chains(rows: &mut [PlanRow]) {
    let mut onto: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.action == Action::Move) {
        onto.entry(r.to.clone()).or_default().push(i);
    }
    let mut staying: Vec<PathBuf> = rows
        .iter()
        .filter(|r| matches!(r.action, Action::Refused(_)))
        .map(|r| r.from.clone())
        .collect();
    while let Some(from) = staying.pop() {
        for &j in onto.get(&from).into_iter().flatten() {
            if rows[j].action == Action::Move {
                rows[j].action = Action::Refused(Refusal::TargetExists);
                staying.push(rows[j].from.clone());
            }
        }
    }
}

/// The names a plan gives out: its targets, then each free name [`Targets::suffix`] gives, with
/// the two checks made against them, twins and free names.
pub(crate) struct Targets {
    taken: HashSet<PathBuf>,
    twins: Twins,
    suffixes: Suffixes,
}

impl Targets {
    /// `taken`: the plan's targets.
    pub(crate) fn new(taken: HashSet<PathBuf>) -> Self {
        Targets { taken, twins: Twins::default(), suffixes: Suffixes::new() }
    }

    /// A refusal when `to` (moving or copied from `from`) has a Unicode normalisation twin.
    pub(crate) fn twin(&mut self, to: &Path, from: &Path) -> Option<Refusal> {
        self.twins.check(to, from, &self.taken)
    }

    /// The first free `stem-N.ext` next to `to`, from now on a name the plan gives out; None
    /// when the name would grow longer than NAME_MAX first.
    pub(crate) fn suffix(&mut self, to: &Path) -> Option<PathBuf> {
        let free = free_name(to, &self.taken, &mut self.suffixes)?;
        self.twins.take(&free);
        self.taken.insert(free.clone());
        Some(free)
    }
}

/// The twin check of a plan's targets: a target whose name, normalised (NFC), equals that of
/// another target in its directory, or of a name there on disk other than its own and its
/// source's. Indexed by directory and by NFC form, each directory read once, at its first
/// target that can have a twin (not an ASCII name, or one with K, ; or `): checking costs one
/// lookup a name, where comparing with every name of the directory and every target of the
/// plan made a plan of 20,000 such names take 40 s.
#[derive(Default)]
struct Twins {
    /// The plan's targets by directory, gathered at the first name checked.
    targets: Option<HashMap<PathBuf, Vec<Vec<u8>>>>,
    /// Each directory checked: its names by NFC form.
    dirs: HashMap<PathBuf, Forms>,
}

/// A directory's names by their NFC form, each with whether it is on disk (else a target).
type Forms = HashMap<String, Vec<(Vec<u8>, bool)>>;

impl Twins {
    /// A refusal when `to` (moving or copied from `from`) has a twin; `taken`: the plan's
    /// targets (read once, at the first name checked; [`Twins::take`] adds those added since).
    fn check(&mut self, to: &Path, from: &Path, taken: &HashSet<PathBuf>) -> Option<Refusal> {
        let name = to.file_name()?.as_bytes();
        let text = std::str::from_utf8(name).ok()?;
        // Only three characters that are not ASCII have an ASCII NFC form: KELVIN SIGN (K),
        // GREEK QUESTION MARK (;) and GREEK VARIA (`). An ASCII name without K, ; or ` is its
        // own NFC form and no other name has it.
        if text.is_ascii() && !name.iter().any(|b| matches!(b, b'K' | b';' | b'`')) {
            return None;
        }
        let nfc: String = text.nfc().collect();
        let dir = to.parent().unwrap_or(Path::new(""));
        let targets = self.targets.get_or_insert_with(|| {
            let mut targets: HashMap<PathBuf, Vec<Vec<u8>>> = HashMap::new();
            for t in taken {
                if let (Some(parent), Some(name)) = (t.parent(), t.file_name()) {
                    targets.entry(parent.to_path_buf()).or_default().push(name.as_bytes().to_vec());
                }
            }
            targets
        });
        let names = self.dirs.entry(dir.to_path_buf()).or_insert_with(|| {
            let listed = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            let on_disk: Vec<Vec<u8>> = fs::read_dir(listed)
                .map(|d| d.flatten().map(|e| e.file_name().as_bytes().to_vec()).collect())
                .unwrap_or_default();
            let mut names = HashMap::new();
            let planned = targets.get(dir).into_iter().flatten().map(|n| (n.clone(), false));
            for (n, there) in on_disk.into_iter().map(|n| (n, true)).chain(planned) {
                add_form(&mut names, n, there);
            }
            names
        });
        let from_name = from.file_name().map(OsStr::as_bytes).unwrap_or_default();
        let same_dir = from.parent() == to.parent();
        let twin = names.get(&nfc).into_iter().flatten().any(|(other, on_disk)| {
            other.as_slice() != name && !(*on_disk && same_dir && other.as_slice() == from_name)
        });
        twin.then_some(Refusal::NormalizationTwin)
    }

    /// `to` becomes a target of the plan (given a free name); `taken` holds it too.
    fn take(&mut self, to: &Path) {
        let (Some(dir), Some(name)) = (to.parent(), to.file_name()) else { return };
        if let Some(targets) = &mut self.targets {
            targets.entry(dir.to_path_buf()).or_default().push(name.as_bytes().to_vec());
        }
        if let Some(names) = self.dirs.get_mut(dir) {
            add_form(names, name.as_bytes().to_vec(), false);
        }
    }
}

/// `name` filed under its NFC form (a name that is not UTF-8 has none: it has no twin).
fn add_form(names: &mut Forms, name: Vec<u8>, on_disk: bool) {
    if let Ok(text) = std::str::from_utf8(&name) {
        let form: String = text.nfc().collect();
        names.entry(form).or_default().push((name, on_disk));
    }
}

/// The suffix each target was last given ([`free_name`]).
type Suffixes = HashMap<PathBuf, u32>;

/// The first `stem-N.ext` (N = 1, 2, ...) next to `to` that does not exist and is not taken.
/// `suffixes`: where the search for `to` stopped last (the names before it are taken or on disk,
/// and stay so while a plan is checked), so that many entries onto one name cost one look each,
/// not one per entry before them. No bound but NAME_MAX: 20,000 photos named alike get
/// `-1` to `-19999`.
fn free_name(to: &Path, taken: &HashSet<PathBuf>, suffixes: &mut Suffixes) -> Option<PathBuf> {
    let name = to.file_name()?.as_bytes();
    let (stem, ext) = crate::template::split_ext(name);
    let first = suffixes.get(to).copied().unwrap_or(1);
    for n in first..u32::MAX {
        let mut candidate = stem.to_vec();
        candidate.extend_from_slice(format!("-{n}").as_bytes());
        if !ext.is_empty() {
            candidate.push(b'.');
            candidate.extend_from_slice(ext);
        }
        if candidate.len() > NAME_MAX {
            return None;
        }
        let path = to.with_file_name(OsStr::from_bytes(&candidate));
        if !taken.contains(&path) && fs::symlink_metadata(&path).is_err() {
            suffixes.insert(to.to_path_buf(), n + 1);
            return Some(path);
        }
    }
    suffixes.insert(to.to_path_buf(), u32::MAX);
    None
}

/// The accepted moves in a safe order: deeper sources first (a child is renamed while its
/// directory still has the name the plan knows), and each move after the one that frees its
/// target; a cycle goes through one temporary name.
fn order(rows: &[PlanRow], temp_tag: &str) -> Vec<PlanStep> {
    let mut moves: Vec<(&Path, &Path, usize)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.action == Action::Move)
        .map(|(i, r)| (r.from.as_path(), r.to.as_path(), i))
        .collect();
    moves.sort_by_cached_key(|(from, _, _)| std::cmp::Reverse(from.components().count()));
    let by_source: HashMap<&Path, usize> =
        moves.iter().enumerate().map(|(i, (from, _, _))| (*from, i)).collect();
    let mut done = vec![false; moves.len()];
    let mut steps = Vec::with_capacity(moves.len());
    let mut temps = 0usize;
    for start in 0..moves.len() {
        if done[start] {
            continue;
        }
        // Follow the chain from `start`: each move's target is the source of the next one,
        // which must run first. Stop at a free target or back at a move on the path (a cycle).
        let mut path = vec![start];
        let mut on_path: HashSet<usize> = HashSet::from([start]);
        let mut cycle = false;
        loop {
            let (_, to, _) = moves[*path.last().unwrap()];
            match by_source.get(to) {
                Some(&next) if !done[next] && on_path.contains(&next) => {
                    cycle = true;
                    break;
                }
                Some(&next) if !done[next] => {
                    path.push(next);
                    on_path.insert(next);
                }
                _ => break,
            }
        }
        if cycle {
            // The last move's target is a source on the path: park that source first.
            let (_, to, _) = moves[*path.last().unwrap()];
            let blocker = by_source[to];
            let (from, target, row) = moves[blocker];
            temps += 1;
            let temp = from.with_file_name(format!(".vegafs-{temp_tag}-{temps}"));
            steps.push(PlanStep { from: from.to_path_buf(), to: temp.clone(), row });
            done[blocker] = true;
            for &i in path.iter().rev().filter(|&&i| i != blocker) {
                steps.push(step(moves[i]));
                done[i] = true;
            }
            steps.push(PlanStep { from: temp, to: target.to_path_buf(), row });
        } else {
            for &i in path.iter().rev() {
                steps.push(step(moves[i]));
                done[i] = true;
            }
        }
    }
    steps
}

fn step((from, to, row): (&Path, &Path, usize)) -> PlanStep {
    PlanStep { from: from.to_path_buf(), to: to.to_path_buf(), row }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn simulate(files: &mut HashSet<PathBuf>, steps: &[PlanStep]) {
        for s in steps {
            assert!(files.remove(&s.from), "{:?} is not there", s.from);
            assert!(files.insert(s.to.clone()), "{:?} would be overwritten", s.to);
        }
    }

    #[test]
    fn overwrite_sets_the_target_aside_first_and_never_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "c"] {
            fs::write(d.join(n), n).unwrap();
        }
        fs::create_dir(d.join("dir")).unwrap();
        let moves = vec![(d.join("a"), d.join("b")), (d.join("c"), d.join("dir"))];
        let plan = plan_moves(moves.clone(), OnConflict::Overwrite, "T", true);
        assert!(!plan.ok);
        assert_eq!(plan.rows[1].action, Action::Refused(Refusal::TargetExists));
        let plan = plan_moves(moves[..1].to_vec(), OnConflict::Overwrite, "T", true);
        assert!(plan.ok);
        let aside = d.join(".vegafs-T-old-1");
        assert_eq!(
            plan.rows[1],
            PlanRow { from: d.join("b"), to: aside.clone(), action: Action::Move }
        );
        let steps: Vec<_> =
            plan.steps.iter().map(|s| (s.from.clone(), s.to.clone(), s.row)).collect();
        assert_eq!(steps, vec![(d.join("b"), aside, 1), (d.join("a"), d.join("b"), 0)]);
        let mut files: HashSet<PathBuf> = ["a", "b", "c"].iter().map(|n| d.join(n)).collect();
        simulate(&mut files, &plan.steps);
    }

    #[test]
    fn chains_and_cycles_run_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "c", "x", "y", "z"] {
            fs::write(d.join(n), n).unwrap();
        }
        let moves = vec![
            (d.join("a"), d.join("b")),
            (d.join("b"), d.join("c")),
            (d.join("c"), d.join("d")), // a chain onto a free name
            (d.join("x"), d.join("y")),
            (d.join("y"), d.join("z")),
            (d.join("z"), d.join("x")), // a 3-cycle
        ];
        let plan = plan_moves(moves, OnConflict::Fail, "t", false);
        assert!(plan.ok, "{:?}", plan.rows);
        assert_eq!(plan.steps.len(), 7); // six moves and one hop through a temporary name
        let mut files: HashSet<PathBuf> =
            ["a", "b", "c", "x", "y", "z"].iter().map(|n| d.join(n)).collect();
        simulate(&mut files, &plan.steps);
        let want: HashSet<PathBuf> =
            ["b", "c", "d", "x", "y", "z"].iter().map(|n| d.join(n)).collect();
        assert_eq!(files, want);
    }

    #[test]
    fn conflicts_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "keep", "e1", "e2"] {
            fs::write(d.join(n), n).unwrap();
        }
        let moves = vec![
            (d.join("a"), d.join("keep")),
            (d.join("b"), d.join("")),
            (d.join("e1"), d.join("same")),
            (d.join("e2"), d.join("same")),
            (d.join("keep"), d.join("keep")),
        ];
        let plan = plan_moves(moves, OnConflict::Fail, "t", false);
        assert!(!plan.ok);
        assert!(plan.steps.is_empty());
        let actions: Vec<Action> = plan.rows.iter().map(|r| r.action.clone()).collect();
        assert_eq!(
            actions,
            vec![
                Action::Refused(Refusal::TargetExists),
                Action::Refused(Refusal::InvalidName),
                Action::Refused(Refusal::SameTarget),
                Action::Refused(Refusal::SameTarget),
                Action::Unchanged,
            ]
        );
    }

    #[test]
    fn skip_drops_refused_moves_and_what_they_block() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "taken"] {
            fs::write(d.join(n), n).unwrap();
        }
        // b -> taken is refused, so b stays, so a -> b is refused in turn.
        let moves = vec![(d.join("a"), d.join("b")), (d.join("b"), d.join("taken"))];
        let plan = plan_moves(moves, OnConflict::Skip, "t", false);
        assert!(plan.ok);
        assert!(plan.steps.is_empty());
        assert_eq!(plan.refused(), 2);
    }

    #[test]
    fn suffix_finds_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a.txt", "b.txt", "x.txt", "x-1.txt"] {
            fs::write(d.join(n), n).unwrap();
        }
        let moves = vec![(d.join("a.txt"), d.join("x.txt")), (d.join("b.txt"), d.join("x.txt"))];
        let plan = plan_moves(moves, OnConflict::Suffix, "t", false);
        assert!(plan.ok, "{:?}", plan.rows);
        let targets: Vec<PathBuf> = plan.rows.iter().map(|r| r.to.clone()).collect();
        assert_eq!(targets, vec![d.join("x-2.txt"), d.join("x-3.txt")]);
    }

    #[test]
    fn skip_refuses_a_whole_chain_onto_a_name_that_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "c", "d", "x"] {
            fs::write(d.join(n), n).unwrap();
        }
        // a -> b -> c -> d, and d stays (not in the plan); x -> y is free.
        let moves = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "y")]
            .map(|(f, t)| (d.join(f), d.join(t)))
            .to_vec();
        let plan = plan_moves(moves, OnConflict::Skip, "t", false);
        assert!(plan.ok);
        let actions: Vec<Action> = plan.rows.iter().map(|r| r.action.clone()).collect();
        let exists = Action::Refused(Refusal::TargetExists);
        assert_eq!(actions, vec![exists.clone(), exists.clone(), exists, Action::Move]);
        let steps: Vec<(PathBuf, PathBuf)> =
            plan.steps.iter().map(|s| (s.from.clone(), s.to.clone())).collect();
        assert_eq!(steps, vec![(d.join("x"), d.join("y"))]);
    }

    #[test]
    fn suffix_leaves_a_free_target_to_its_first_claimant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a", "b", "c", "x-2.txt"] {
            fs::write(d.join(n), n).unwrap();
        }
        let moves = ["a", "b", "c"].map(|n| (d.join(n), d.join("x.txt"))).to_vec();
        let plan = plan_moves(moves, OnConflict::Suffix, "t", false);
        assert!(plan.ok, "{:?}", plan.rows);
        let targets: Vec<PathBuf> = plan.rows.iter().map(|r| r.to.clone()).collect();
        assert_eq!(targets, ["x.txt", "x-1.txt", "x-3.txt"].map(|n| d.join(n)));
    }

    #[test]
    fn suffix_has_no_cap_below_name_max() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let n = 10_002;
        let moves: Vec<(PathBuf, PathBuf)> = (0..n)
            .map(|i| {
                let from = d.join(format!("a{i}"));
                fs::write(&from, "").unwrap();
                (from, d.join("x.txt"))
            })
            .collect();
        let plan = plan_moves(moves, OnConflict::Suffix, "t", false);
        assert!(plan.ok);
        assert_eq!(plan.refused(), 0);
        assert_eq!(plan.rows[0].to, d.join("x.txt"));
        assert_eq!(plan.rows[n - 1].to, d.join(format!("x-{}.txt", n - 1)));
    }

    #[test]
    fn unicode_twins_and_names_too_long() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("caf\u{e9}"), "").unwrap(); // NFC
        fs::write(d.join("x"), "").unwrap();
        fs::write(d.join("y"), "").unwrap();
        let moves = vec![
            (d.join("x"), d.join("cafe\u{301}")), // NFD of an existing name
            (d.join("y"), d.join("n".repeat(256))),
        ];
        let plan = plan_moves(moves, OnConflict::Fail, "t", false);
        let actions: Vec<Action> = plan.rows.iter().map(|r| r.action.clone()).collect();
        assert_eq!(
            actions,
            vec![
                Action::Refused(Refusal::NormalizationTwin),
                Action::Refused(Refusal::NameTooLong)
            ]
        );
        assert_eq!(p("a"), p("a"));
    }
}
